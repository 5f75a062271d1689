/* migrate.c - format 1 -> format 2, in place (see migrate.h).
 *
 * Blob locations come from a bfs_locmap over the index objects, loaded
 * once after step 1 and grown by every converted backup's index object
 * (the writer records it through the struct bfs_index below), so a tree
 * part shared by two backups is stored once.
 *
 * Verification compares the old and the new entries by a digest of each
 * (SHA-256 over the fields in a fixed binary form), kept in a map keyed
 * by the first 16 bytes of the SHA-256 of the path: ~56 bytes per entry.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "format.h"
#include "hmap.h"
#include "lock.h"
#include "locmap.h"
#include "log.h"
#include "manifest.h"
#include "migrate.h"
#include "pack.h"
#include "repo.h"
#include "tree.h"
#include "writer.h"

struct mig {
	struct bfs_repo *r;
	const struct bfs_migrate_opts *o;
	struct bfs_migrate_stats *st;
	struct bfs_locmap *lm;
	struct bfs_index lmidx; /* the locmap's ops ... */
	struct bfs_index idx;	/* ... wrapped: record counts the bytes */
	uint64_t idx_bytes;	/* of index objects the writer recorded */
	struct bfs_lock *lock;	/* exclusive, ours */
};

static void event(struct mig *m, enum bfs_migrate_event ev, const char *id,
		  uint64_t n, uint64_t bytes)
{
	if (m->o->progress)
		m->o->progress(m->o->progress_arg, ev, id, n, bytes);
}

/* ---- the index the writer uses --------------------------------------- */

static int mi_chunk_find(void *ctx, const uint8_t hash[BFS_HASH_LEN],
			 struct bfs_chunkref *out)
{
	struct mig *m = ctx;

	return m->lmidx.ops->chunk_find(m->lmidx.ctx, hash, out);
}

static int mi_pack_present(void *ctx, const uint8_t pack[BFS_HASH_LEN])
{
	struct mig *m = ctx;

	return m->lmidx.ops->pack_present(m->lmidx.ctx, pack);
}

static int mi_prev_dir(void *ctx, const char *source_key, const char *dirpath,
		       struct bfs_index_dir *out)
{
	(void)ctx;
	(void)source_key;
	(void)dirpath;
	(void)out;
	return -ENOENT;
}

static int mi_record(void *ctx, const char *id, const void *manifest,
		     size_t len, const char *idxname, const void *idxobj,
		     size_t idxlen, struct bfs_err *err)
{
	struct mig *m = ctx;

	if (idxobj)
		m->idx_bytes += idxlen; /* the writer's thread, at commit */
	return m->lmidx.ops->record(m->lmidx.ctx, id, manifest, len, idxname,
				    idxobj, idxlen, err);
}

static bool mi_has_backup(void *ctx, const char *id)
{
	(void)ctx;
	(void)id;
	return false;
}

static const struct bfs_index_ops mig_index_ops = {
    .name = "migrate",
    .chunk_find = mi_chunk_find,
    .pack_present = mi_pack_present,
    .prev_dir = mi_prev_dir,
    .record = mi_record,
    .has_backup = mi_has_backup,
    .destroy = NULL,
};

/* ---- listing ------------------------------------------------------------ */

struct pack_list {
	uint8_t (*v)[BFS_HASH_LEN];
	size_t n, cap;
};

static int list_packs_grow(struct pack_list *l)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 256;
		uint8_t(*nv)[BFS_HASH_LEN] = realloc(l->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	return 0;
}

static int list_packs_add(struct pack_list *l, const uint8_t id[BFS_HASH_LEN])
{
	if (list_packs_grow(l))
		return -ENOMEM;
	memcpy(l->v[l->n++], id, BFS_HASH_LEN);
	return 0;
}

static int list_packs_cb(void *arg, const char *key, uint64_t size)
{
	struct pack_list *l = arg;

	(void)size;
	if (list_packs_grow(l))
		return -ENOMEM;
	if (bfs_key_parse(key, l->v[l->n], NULL) == BFS_KEY_IS_PACK)
		l->n++;
	return 0;
}

/* Keys "migrate/<backup id>": the ids. */
static int list_saved_cb(void *arg, const char *key, uint64_t size)
{
	const char *id = key + strlen(BFS_MIGRATE_KEY);

	(void)size;
	if (strncmp(key, BFS_MIGRATE_KEY, strlen(BFS_MIGRATE_KEY)) != 0 ||
	    !bfs_backup_id_valid(id))
		return 0;
	return bfs_strv_add(arg, id);
}

static int list_names(struct mig *m, const char *prefix, bfs_list_cb cb,
		      struct bfs_strv *out, struct bfs_err *err)
{
	int rc = bfs_store_list(m->r->store, prefix, cb, out, err);

	if (rc == -ENOMEM)
		return bfs_err_set(err, rc, "out of memory");
	if (rc)
		return bfs_err_prefix(err, rc, "cannot list '%s' of '%s'",
				      prefix, m->r->store->url);
	bfs_strv_sort(out);
	return 0;
}

static int get_obj(struct mig *m, const char *key, struct bfs_buf *out,
		   struct bfs_err *err)
{
	int64_t got;

	out->len = 0;
	got = bfs_store_get(m->r->store, key, 0, UINT64_MAX, out, err);
	if (got < 0)
		return bfs_err_prefix(err, (int)got, "cannot read '%s'", key);
	return 0;
}

/* ---- step 1: index objects for the packs -------------------------------- */

static int flush_index(struct mig *m, struct bfs_idxobj_writer **w,
		       struct bfs_err *err)
{
	struct bfs_buf b = {0};
	uint8_t name[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	size_t npacks = bfs_idxobj_writer_packs(*w);
	int rc;

	if (!npacks)
		return 0;
	rc = bfs_idxobj_writer_finish(*w, &b, name, err);
	bfs_idxobj_writer_free(*w); /* spent */
	*w = NULL;
	if (rc)
		goto out_free;
	bfs_locmap_index_key(key, name);
	rc = bfs_store_put(m->r->store, key, b.data, b.len, BFS_PUT_EXCL, err);
	if (rc == -EEXIST)
		rc = 0; /* the same bytes: the same object */
	if (rc) {
		bfs_err_prefix(err, rc, "cannot store index object '%s'", key);
		goto out_free;
	}
	rc = bfs_locmap_add(m->lm, name, b.data, b.len, err);
	if (rc)
		goto out_free;
	m->st->index_written++;
	m->st->packs_indexed += npacks;
	m->st->bytes_added += b.len;
	event(m, BFS_MIGRATE_INDEX, NULL, npacks, b.len);
out_free:
	bfs_buf_free(&b);
	return rc;
}

/* Read pack id (whole, verified) and add its entries to w. */
static int index_pack(struct mig *m, struct bfs_idxobj_writer *w,
		      const uint8_t id[BFS_HASH_LEN], struct bfs_err *err)
{
	struct bfs_pack_entry *ents = NULL;
	struct bfs_idx_blob *blobs = NULL;
	struct bfs_buf b = {0};
	uint8_t h[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	size_t n = 0, i;
	int64_t got;
	int rc;

	bfs_repo_pack_key(key, id);
	got = bfs_store_get(m->r->store, key, 0, UINT64_MAX, &b, err);
	if (got < 0) {
		rc =
		    bfs_err_prefix(err, (int)got, "cannot read pack '%s'", key);
		goto out_free;
	}
	bfs_sha256(h, b.data, b.len);
	if (memcmp(h, id, BFS_HASH_LEN) != 0) {
		rc = bfs_err_set(err, -EBADMSG,
				 "pack '%s' is damaged: its bytes do not hash "
				 "to its id",
				 key);
		goto out_free;
	}
	rc = bfs_pack_parse_index(b.data, b.len, &ents, &n, err);
	if (rc) {
		bfs_err_prefix(err, rc, "pack '%s'", key);
		goto out_free;
	}
	blobs = calloc(n ? n : 1, sizeof(*blobs));
	if (!blobs) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	for (i = 0; i < n; i++) {
		memcpy(blobs[i].hash, ents[i].hash, BFS_HASH_LEN);
		blobs[i].type = ents[i].type;
		blobs[i].offset = ents[i].offset;
		blobs[i].clen = ents[i].clen;
		blobs[i].len = ents[i].len;
	}
	rc = bfs_idxobj_writer_pack(w, id, blobs, n);
	if (rc)
		rc = bfs_err_set(err, rc, "pack '%s': cannot index it", key);
out_free:
	free(blobs);
	free(ents);
	bfs_buf_free(&b);
	return rc;
}

/* The packs a format-1 manifest names (its chunk refs), in order of first
 * use, each once, into *l.  A version-2 manifest names none. */
static int manifest_packs(struct mig *m, const char *id, struct pack_list *l,
			  struct bfs_err *err)
{
	struct bfs_manifest_reader *r = NULL;
	const struct bfs_chunkref *ch;
	struct bfs_hmap seen;
	struct bfs_entry e;
	struct bfs_buf b = {0};
	char key[BFS_KEY_MAX];
	size_t n;
	int rc;

	l->n = 0;
	if (bfs_hmap_init(&seen, BFS_HASH_LEN, BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	bfs_repo_manifest_key(key, id);
	rc = get_obj(m, key, &b, err);
	if (!rc)
		rc = bfs_manifest_reader_new(b.data, b.len, &r, err);
	if (rc)
		goto out;
	if (bfs_manifest_reader_version(r, NULL, NULL, NULL) != 1)
		goto out;
	while ((rc = bfs_manifest_reader_next(r, &e, &ch, &n, err)) == 1) {
		for (size_t i = 0; i < n && !rc; i++) {
			rc = bfs_hmap_insert(&seen, ch[i].pack, NULL);
			if (rc == -EEXIST) {
				rc = 0;
				continue;
			}
			if (!rc)
				rc = list_packs_add(l, ch[i].pack);
			if (rc)
				rc = bfs_err_set(err, rc, "out of memory");
		}
		if (rc)
			break;
	}
	if (rc < 0)
		bfs_err_prefix(err, rc, "manifest '%s'", id);
out:
	bfs_manifest_reader_free(r);
	bfs_buf_free(&b);
	bfs_hmap_fini(&seen);
	return rc < 0 ? rc : 0;
}

/* Index the packs of l that no index object names yet, into w, flushing
 * every BFS_MIGRATE_PACKS_PER_INDEX packs. */
static int index_list(struct mig *m, struct bfs_idxobj_writer **w,
		      const struct pack_list *l, struct bfs_err *err)
{
	int rc = 0;

	for (size_t i = 0; !rc && i < l->n; i++) {
		/* packs of l are distinct, and w is flushed (into the
		 * locmap) before another list comes */
		if (bfs_locmap_has_pack(m->lm, l->v[i], NULL))
			continue;
		if (!*w && bfs_idxobj_writer_new(w))
			return bfs_err_set(err, -ENOMEM, "out of memory");
		rc = index_pack(m, *w, l->v[i], err);
		if (!rc &&
		    bfs_idxobj_writer_packs(*w) >= BFS_MIGRATE_PACKS_PER_INDEX)
			rc = flush_index(m, w, err);
	}
	return rc;
}

/* Step 1: one index object per backup, naming the packs that backup was
 * the first to use (as a format-2 writer would have written), oldest
 * backup first; then one for the packs no manifest names.  So a later
 * copy of one backup transfers the packs of that backup, not those of
 * an arbitrary group. */
static int index_packs(struct mig *m, const struct bfs_strv *ids,
		       struct bfs_err *err)
{
	struct bfs_idxobj_writer *w = NULL;
	struct pack_list l = {0};
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < ids->n; i++) {
		rc = manifest_packs(m, ids->v[i], &l, err);
		/* a manifest that cannot be read now: its packs go with the
		 * unnamed ones below, and step 2 reports it by name */
		if (rc && rc != -ENOMEM) {
			rc = 0;
			continue;
		}
		if (!rc)
			rc = index_list(m, &w, &l, err);
		if (!rc && w)
			rc = flush_index(m, &w, err);
	}
	if (!rc) {
		l.n = 0;
		rc = bfs_store_list(m->r->store, BFS_KEY_PACKS, list_packs_cb,
				    &l, err);
		if (rc == -ENOMEM)
			rc = bfs_err_set(err, rc, "out of memory");
		else if (rc)
			bfs_err_prefix(err, rc, "cannot list the packs of '%s'",
				       m->r->store->url);
	}
	if (!rc)
		rc = index_list(m, &w, &l, err);
	if (!rc && w)
		rc = flush_index(m, &w, err);
	bfs_idxobj_writer_free(w);
	free(l.v);
	return rc;
}

/* ---- entries and their digests -------------------------------------------
 */

#define NO_USER BFS_DIGEST_NO_USER
#define NO_GROUP BFS_DIGEST_NO_GROUP

/* What is expected of one path: the digest of its entry (the last line
 * of it for a directory listed twice), how many lines of it are still to
 * come while writing, whether the new trees had it. */
struct exp_rec {
	uint8_t key[16];
	uint8_t digest[BFS_HASH_LEN];
	uint32_t left;
	uint8_t flags; /* NO_USER, NO_GROUP: names the writer may add */
	uint8_t seen;
};

static void path_key(uint8_t key[16], const char *path, size_t len)
{
	uint8_t h[BFS_HASH_LEN];

	bfs_sha256(h, path, len);
	memcpy(key, h, 16);
}

static int dig_chunk(struct bfs_buf *b, const uint8_t hash[BFS_HASH_LEN],
		     uint32_t len)
{
	uint64_t v = len;

	return bfs_buf_append(b, hash, BFS_HASH_LEN) ||
		       bfs_buf_append(b, &v, sizeof(v))
		   ? -ENOMEM
		   : 0;
}

/* ---- step 2: one backup ------------------------------------------------- */

struct conv {
	struct mig *m;
	const char *id;
	struct bfs_hmap exp; /* struct exp_rec by path key */
	uint64_t nseen;
	struct bfs_buf dig;
	struct bfs_blobref *refs;
	size_t ref_cap;
	char why[1024]; /* the first difference verify found */
};

/* Pass 1 over the format-1 manifest: what each path must look like. */
static int expect(struct conv *c, const struct bfs_buf *m1, struct bfs_err *err)
{
	struct bfs_manifest_reader *rd = NULL;
	const struct bfs_chunkref *ch;
	struct exp_rec *rec;
	struct bfs_entry e;
	uint8_t key[16];
	size_t nch, i;
	bool added;
	int rc;

	rc = bfs_manifest_reader_new(m1->data, m1->len, &rd, err);
	memset(&e, 0, sizeof(e));
	while (!rc &&
	       (rc = bfs_manifest_reader_next(rd, &e, &ch, &nch, err)) == 1) {
		rc = 0;
		path_key(key, e.path, e.path_len);
		if (bfs_hmap_get(&c->exp, key, (void **)&rec, &added)) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		if (!added && e.type != BFS_T_DIR) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "'%s' is listed twice (and is not a "
					 "directory)",
					 e.path);
			break;
		}
		rec->left++;
		rec->flags = (e.user ? 0 : NO_USER) | (e.group ? 0 : NO_GROUP);
		rc = bfs_entry_digest_fields(&c->dig, &e, e.path, e.path_len,
					     rec->flags);
		for (i = 0; !rc && i < nch; i++)
			rc = dig_chunk(&c->dig, ch[i].hash, ch[i].len);
		if (rc) {
			rc = bfs_err_set(err, rc, "out of memory");
			break;
		}
		bfs_sha256(rec->digest, c->dig.data, c->dig.len);
	}
	bfs_manifest_reader_free(rd);
	return rc;
}

/* Pass 2: the entries into the writer. */
static int feed(struct conv *c, struct bfs_backup *b, const struct bfs_buf *m1,
		struct bfs_err *err)
{
	struct bfs_manifest_reader *rd = NULL;
	const struct bfs_chunkref *ch;
	struct exp_rec *rec;
	struct bfs_entry e;
	uint8_t key[16];
	size_t nch, i;
	int rc;

	rc = bfs_manifest_reader_new(m1->data, m1->len, &rd, err);
	memset(&e, 0, sizeof(e));
	while (!rc &&
	       (rc = bfs_manifest_reader_next(rd, &e, &ch, &nch, err)) == 1) {
		rc = 0;
		path_key(key, e.path, e.path_len);
		rec = bfs_hmap_find(&c->exp, key);
		if (!rec || !rec->left) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "format-1 manifest changed while "
					 "being read");
			break;
		}
		/* a directory listed twice: its last line counts (the
		 * children in between get an implicit parent first) */
		if (--rec->left)
			continue;
		if (e.error) {
			rc = bfs_backup_add_error(b, &e, e.error, err);
		} else if (e.type == BFS_T_FILE && !e.link) {
			if (nch > c->ref_cap) {
				struct bfs_blobref *nv =
				    realloc(c->refs, nch * sizeof(*nv));

				if (!nv) {
					rc = bfs_err_set(err, -ENOMEM,
							 "out of memory");
					break;
				}
				c->refs = nv;
				c->ref_cap = nch;
			}
			for (i = 0; i < nch; i++) {
				memcpy(c->refs[i].hash, ch[i].hash,
				       BFS_HASH_LEN);
				c->refs[i].len = ch[i].len;
			}
			rc = bfs_backup_file_reuse(b, &e, c->refs, nch, err);
		} else {
			rc = bfs_backup_add(b, &e, err);
		}
		if (rc)
			bfs_err_prefix(err, rc, "'%s'", e.path);
	}
	bfs_manifest_reader_free(rd);
	return rc;
}

/* The walk of the new trees: every entry must be expected, alike. */
static int verify_cb(void *arg, const struct bfs_tree_entry *te,
		     const char *path, const struct bfs_blobref *chunks,
		     size_t nchunks)
{
	struct conv *c = arg;
	struct exp_rec *rec;
	struct bfs_loc loc;
	uint8_t key[16], d[BFS_HASH_LEN];
	size_t n = strlen(path), i;
	int rc;

	path_key(key, path, n);
	rec = bfs_hmap_find(&c->exp, key);
	if (!rec || rec->seen) {
		snprintf(c->why, sizeof(c->why),
			 "'%s' is %s in the converted trees", path,
			 rec ? "twice" : "new");
		return -EUCLEAN;
	}
	rc = bfs_entry_digest_fields(&c->dig, &te->e, path, n, rec->flags);
	for (i = 0; !rc && i < nchunks; i++)
		rc = dig_chunk(&c->dig, chunks[i].hash, chunks[i].len);
	if (rc)
		return rc;
	bfs_sha256(d, c->dig.data, c->dig.len);
	if (memcmp(d, rec->digest, BFS_HASH_LEN) != 0) {
		snprintf(c->why, sizeof(c->why),
			 "'%s' differs in the converted trees", path);
		return -EUCLEAN;
	}
	for (i = 0; i < nchunks; i++) {
		if (bfs_locmap_find(c->m->lm, chunks[i].hash, &loc) ||
		    loc.type != BFS_BLOB_DATA) {
			char hex[BFS_HASH_HEX + 1];

			bfs_hex(hex, chunks[i].hash, BFS_HASH_LEN);
			snprintf(c->why, sizeof(c->why),
				 "chunk %s of '%s' is in no index object", hex,
				 path);
			return -ENOENT;
		}
	}
	rec->seen = 1;
	c->nseen++;
	return 0;
}

/* Compare the format-2 manifest m2 (compressed) with c->exp. */
static int verify(struct conv *c, const struct bfs_buf *m2, uint64_t *entries,
		  struct bfs_err *err)
{
	struct bfs_manifest2 man = {0};
	uint64_t count = 0;
	int rc;

	c->nseen = 0;
	rc = bfs_manifest2_parse(m2->data, m2->len, &man, err);
	if (!rc && strcmp(man.h.id, c->id) != 0)
		rc = bfs_err_set(err, -EUCLEAN, "the manifest says id '%s'",
				 man.h.id);
	if (!rc)
		rc = bfs_locmap_walk(c->m->lm, c->m->r,
				     (const uint8_t(*)[BFS_HASH_LEN])man.root,
				     man.nroot, verify_cb, c, &count, err);
	if (rc && c->why[0])
		bfs_err_set(err, rc, "%s", c->why);
	if (!rc && (count != man.count || c->nseen != bfs_hmap_count(&c->exp)))
		rc = bfs_err_set(err, -EUCLEAN,
				 "the converted trees hold %" PRIu64
				 " entries (manifest: %" PRIu64
				 "), format 1 had %zu",
				 count, man.count, bfs_hmap_count(&c->exp));
	*entries = count;
	bfs_manifest2_clear(&man);
	return rc;
}

/* Write backup id again with the writer, from its format-1 manifest m1
 * (pass 1 done). */
static int rewrite(struct conv *c, const struct bfs_manifest_header *h,
		   const struct bfs_buf *m1, struct bfs_err *err)
{
	struct mig *m = c->m;
	struct bfs_backup_opts bo = {
	    .id = c->id,
	    .tags = (const char *const *)h->tags,
	    .host = h->host,
	    .job = h->job,
	    .threads = m->o->threads,
	    .time_ns = h->time_ns ? h->time_ns : 1,
	    .replace = true,
	    .lock = m->lock,
	};
	struct bfs_backup_stats bst = {0};
	struct bfs_backup *b = NULL;
	bool partial;
	int rc;

	rc = bfs_backup_begin(m->r, &m->idx, &bo, &b, err);
	if (!rc && h->sources_json)
		rc = bfs_backup_set_sources(b, h->sources_json, err);
	if (!rc)
		rc = feed(c, b, m1, err);
	if (rc) {
		bfs_backup_abort(b);
		return rc;
	}
	m->idx_bytes = 0;
	rc = bfs_backup_commit(b, &bst, &partial, err);
	if (!rc)
		m->st->bytes_added += bst.stored_bytes + m->idx_bytes;
	return rc;
}

/* One manifest of the repository. */
static int convert(struct mig *m, const char *id, struct bfs_err *err)
{
	struct conv c = {.m = m, .id = id};
	struct bfs_manifest_reader *rd = NULL;
	struct bfs_buf cur = {0}, m1 = {0};
	char key[BFS_KEY_MAX], skey[BFS_KEY_MAX];
	uint64_t size, entries = 0;
	bool resumed = false;
	int rc, version;

	bfs_repo_manifest_key(key, id);
	snprintf(skey, sizeof(skey), "%s%s", BFS_MIGRATE_KEY, id);
	rc = bfs_hmap_init(&c.exp, sizeof(struct exp_rec), 16, 0,
			   BFS_HMAP_PREHASHED);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	rc = get_obj(m, key, &cur, err);
	if (!rc)
		rc = bfs_manifest_reader_new(cur.data, cur.len, &rd, err);
	if (rc)
		goto out_free;
	version = bfs_manifest_reader_version(rd, NULL, NULL, NULL);
	if (version != BFS_FORMAT_VERSION_1) {
		/* converted: verified unless a run stopped in between */
		rc = bfs_store_stat(m->r->store, skey, &size, NULL);
		if (rc == -ENOENT) {
			rc = 0;
			m->st->backups_skipped++;
			event(m, BFS_MIGRATE_SKIP, id, 0, 0);
			goto out_free;
		}
		rc = get_obj(m, skey, &m1, err);
		if (rc)
			goto out_free;
		resumed = true;
	} else {
		/* keep the old bytes until the new trees are verified */
		rc = bfs_buf_append(&m1, cur.data, cur.len);
		if (rc) {
			rc = bfs_err_set(err, rc, "out of memory");
			goto out_free;
		}
		rc = bfs_store_put(m->r->store, skey, m1.data, m1.len, 0, err);
		if (rc) {
			bfs_err_prefix(err, rc, "cannot save '%s'", key);
			goto out_free;
		}
	}
	rc = expect(&c, &m1, err);
	if (rc) {
		bfs_err_prefix(err, rc, "format-1 manifest");
		if (resumed)
			goto out_free; /* keep it: the manifest is unverified */
		goto out_saved;
	}
	if (!resumed) {
		bfs_manifest_reader_free(rd);
		rd = NULL;
		rc = bfs_manifest_reader_new(m1.data, m1.len, &rd, err);
		if (!rc)
			rc = rewrite(&c, bfs_manifest_reader_header(rd), &m1,
				     err);
		if (rc)
			goto out_saved;
	}
	rc = get_obj(m, key, &cur, err);
	if (!rc)
		rc = verify(&c, &cur, &entries, err);
	if (rc) {
		struct bfs_err e2 = {{0}};
		int rc2;

		/* the original goes back; the new trees stay as garbage */
		rc2 = bfs_store_put(m->r->store, key, m1.data, m1.len, 0, &e2);
		if (rc2) {
			bfs_err_prefix(err, rc,
				       "the converted backup does not match "
				       "the original, which could not be put "
				       "back (%s): it is saved as '%s'",
				       bfs_err_str(&e2, rc2), skey);
			goto out_free; /* keep the saved copy */
		}
		bfs_err_prefix(err, rc,
			       "the converted backup does not match the "
			       "original, which was put back");
		goto out_saved;
	}
	if (resumed) {
		m->st->backups_verified++;
		event(m, BFS_MIGRATE_VERIFIED, id, entries, 0);
	} else {
		m->st->backups_converted++;
		event(m, BFS_MIGRATE_BACKUP, id, entries, 0);
	}
out_saved:
	/* the saved copy goes once manifests/<id> is either verified or the
	 * original again */
	{
		struct bfs_err e2 = {{0}};
		int rc2 = bfs_store_del(m->r->store, skey, &e2);

		if (rc2 && rc2 != -ENOENT && !rc)
			rc = bfs_err_set(err, rc2, "cannot delete '%s': %s",
					 skey, bfs_err_str(&e2, rc2));
	}
out_free:
	if (rc)
		bfs_err_prefix(err, rc, "backup '%s'", id);
	bfs_manifest_reader_free(rd);
	bfs_hmap_fini(&c.exp);
	bfs_buf_free(&c.dig);
	free(c.refs);
	bfs_buf_free(&cur);
	bfs_buf_free(&m1);
	return rc;
}

/* ---- step 3: config ------------------------------------------------------ */

static int write_config(struct mig *m, struct bfs_err *err)
{
	struct bfs_buf b = {0}, out = {0};
	cJSON *root = NULL, *v;
	char *text = NULL;
	int rc;

	rc = get_obj(m, BFS_KEY_CONFIG, &b, err);
	if (rc)
		return rc;
	if (b.len > BFS_CONFIG_MAX || memchr(b.data, 0, b.len) ||
	    bfs_buf_append(&b, "", 1)) {
		rc = bfs_err_set(err, -EUCLEAN, "config: unreadable");
		goto out_free;
	}
	root = cJSON_Parse((const char *)b.data);
	v = root ? cJSON_GetObjectItemCaseSensitive(root, "version") : NULL;
	/* the version we opened with: anything else means another writer */
	if (!cJSON_IsNumber(v) || v->valuedouble != m->r->version) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "config: not a format-%d config any more",
				 m->r->version);
		goto out_free;
	}
	if (!cJSON_ReplaceItemInObjectCaseSensitive(
		root, "version", cJSON_CreateNumber(BFS_FORMAT_VERSION)) ||
	    !(text = cJSON_PrintUnformatted(root)) ||
	    bfs_buf_printf(&out, "%s\n", text)) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	rc = bfs_store_put(m->r->store, BFS_KEY_CONFIG, out.data, out.len, 0,
			   err);
	if (rc) {
		bfs_err_prefix(err, rc, "cannot write the config");
		goto out_free;
	}
	m->st->config_put = true;
	/* verified: the store gives back what was put (else a rerun sees
	 * whichever config is there and starts again from it) */
	rc = get_obj(m, BFS_KEY_CONFIG, &b, err);
	if (!rc && (b.len != out.len || memcmp(b.data, out.data, b.len)))
		rc = bfs_err_set(err, -EIO,
				 "config: read back after the put, it is not "
				 "what was written (%zu bytes, %zu written)",
				 b.len, out.len);
	if (!rc)
		event(m, BFS_MIGRATE_CONFIG, NULL, BFS_FORMAT_VERSION, 0);
out_free:
	free(text);
	cJSON_Delete(root);
	bfs_buf_free(&b);
	bfs_buf_free(&out);
	return rc;
}

/* ---- versions 2, 3 and 4 -> 5 -------------------------------------------- */

/* The last step of a migration: refuse while a manifest saved under
 * migrate/ is left (why says what it is), check that our exclusive lock
 * still holds, then write the config of the current version. */
static int finish_config(struct mig *m, const char *why, struct bfs_err *err)
{
	struct bfs_strv saved = {0};
	int rc;

	rc = list_names(m, BFS_MIGRATE_KEY, list_saved_cb, &saved, err);
	if (!rc && saved.n)
		rc = bfs_err_set(err, -EUCLEAN,
				 "'%s%s' is a saved manifest of %s: put it "
				 "back as 'manifests/%s' or delete it, then "
				 "run migrate again",
				 BFS_MIGRATE_KEY, saved.v[0], why, saved.v[0]);
	if (!rc)
		rc = bfs_lock_check(m->lock, err);
	if (!rc)
		rc = write_config(m, err);
	bfs_strv_free(&saved);
	return rc;
}

/* Version 3 only adds what a version-3 writer may put into a repository
 * (data delta frames, FORMAT.md section 18), version 4 what a version-4
 * writer may (tree parts as delta frames, section 18.1) and version 5
 * what a version-5 writer may (data chunks as delta frames on several
 * bases, section 18.2); every object of version 2, 3 or 4 is valid
 * version 5.  So the upgrade from any of them is the config alone (one
 * put: the steps between are the same put), written once the repository
 * is known to be a finished version 2, 3 or 4: no saved manifest of an
 * interrupted 1 -> 2 run is left, and our exclusive lock still holds (no
 * writer of the old version is at work).  write_config refuses a config
 * whose version is no longer the one opened, so a rerun after a crash
 * either finds the old config (and writes it again) or the new one (and
 * does nothing). */
static int migrate_config(struct mig *m, struct bfs_err *err)
{
	return finish_config(m, "an interrupted migration", err);
}

/* ---- all of it ------------------------------------------------------------
 */

int bfs_migrate(const char *url, const struct bfs_store_opts *sopts,
		const struct bfs_migrate_opts *opts,
		struct bfs_migrate_stats *stats, struct bfs_err *err)
{
	static const struct bfs_migrate_opts defaults = {0};
	struct bfs_migrate_stats st = {0};
	struct bfs_strv names = {0};
	struct mig m = {.o = opts ? opts : &defaults, .st = &st};
	size_t i;
	int rc;

	bfs_repo_accept_format1(true);
	rc = bfs_repo_open(url, sopts, &m.r, err);
	bfs_repo_accept_format1(false);
	if (rc)
		goto out;
	st.from_version = m.r->version;
	if (m.r->version == BFS_FORMAT_VERSION) {
		st.already = true;
		goto out;
	}
	/* exclusive: nothing else may write while manifests are replaced
	 * and index objects written, or while the config changes */
	rc = bfs_lock_take(m.r, BFS_LOCK_EXCLUSIVE, "migrate",
			   m.o->lock_wait_ns, &m.lock, err);
	if (rc)
		goto out;
	if (m.r->version == BFS_FORMAT_VERSION_2 ||
	    m.r->version == BFS_FORMAT_VERSION_3 ||
	    m.r->version == BFS_FORMAT_VERSION_4) {
		rc = migrate_config(&m, err);
		goto out;
	}
	rc = bfs_locmap_new(&m.lm, err);
	if (!rc)
		rc = bfs_locmap_load(m.lm, m.r, err);
	if (rc)
		goto out;
	bfs_locmap_index(m.lm, &m.lmidx);
	m.idx.ops = &mig_index_ops;
	m.idx.ctx = &m;

	rc = bfs_repo_list_backups(m.r->store, &names, err);
	if (!rc)
		rc = index_packs(&m, &names, err);
	for (i = 0; !rc && i < names.n; i++)
		rc = convert(&m, names.v[i], err);
	if (!rc)
		rc = finish_config(&m, "a backup that is gone", err);
out:
	if (stats)
		*stats = st;
	bfs_strv_free(&names);
	bfs_locmap_free(m.lm);
	bfs_lock_release(m.lock);
	bfs_repo_close(m.r);
	return rc;
}
