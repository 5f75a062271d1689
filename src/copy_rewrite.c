/* copy_rewrite.c - copy a backup by writing it again (see copy_rewrite.h).
 *
 * Expected entries are kept like migrate's: a digest of each entry's
 * fields (bfs_entry_digest_fields), and with verify a SHA-256 of a
 * file's content, in a map keyed by the first 16 bytes of the SHA-256 of
 * the path (~90 bytes per entry), and the target's id of each blob a
 * key of bfs_tree_keys names (32 bytes per key).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "copy_rewrite.h"
#include "format.h"
#include "hmap.h"
#include "lock.h"
#include "manifest.h"
#include "writer.h"

_Static_assert(BFS_TREE_NKEYS <= 8, "struct xrec's keys is one byte");

struct xrec {
	uint8_t key[16];
	uint8_t digest[BFS_HASH_LEN];  /* of the fields */
	uint8_t content[BFS_HASH_LEN]; /* files, with verify */
	/* the target's id of the blob of bfs_tree_keys[i], if bit i of
	 * keys is set */
	uint8_t key_id[BFS_TREE_NKEYS][BFS_HASH_LEN];
	uint8_t flags; /* BFS_DIGEST_*: names the writer adds */
	uint8_t keys;
	uint8_t seen;
};

/* Where a source's entries land and how its files were chunked. */
struct xsrc {
	char *dest;
	size_t len;
	enum bfs_profile profile;
};

struct bfs_xcopy {
	struct bfs_repo *src, *dst;
	struct bfs_locmap *src_lm, *dst_lm;
	struct bfs_index idx; /* over dst_lm */
	struct bfs_lock *lock;
	bool verify;
	unsigned threads;
	/* per backup */
	struct bfs_backup *b;
	struct bfs_hmap exp;
	struct xsrc *srcs;
	size_t nsrcs;
	uint64_t nseen;
	struct bfs_buf dig;
	uint8_t *chunk; /* one chunk's plain bytes */
	size_t chunk_cap;
	EVP_MD_CTX *md;
	struct bfs_buf held; /* the manifest, until it is checked */
	struct bfs_err cerr; /* a walk callback's error */
};

int bfs_xcopy_new(struct bfs_repo *src, struct bfs_locmap *src_lm,
		  struct bfs_repo *dst, struct bfs_lock *lock, bool verify,
		  unsigned threads, struct bfs_xcopy **out, struct bfs_err *err)
{
	struct bfs_xcopy *x = calloc(1, sizeof(*x));
	int rc;

	*out = NULL;
	if (!x)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	x->src = src;
	x->dst = dst;
	x->src_lm = src_lm;
	x->lock = lock;
	x->verify = verify;
	x->threads = threads;
	x->md = EVP_MD_CTX_new();
	if (!x->md) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	rc = bfs_locmap_new(&x->dst_lm, err);
	if (!rc)
		rc = bfs_locmap_load(x->dst_lm, dst, err);
	if (rc)
		goto out_free;
	bfs_locmap_index(x->dst_lm, &x->idx);
	*out = x;
	return 0;
out_free:
	bfs_xcopy_free(x);
	return rc;
}

static void free_srcs(struct bfs_xcopy *x)
{
	size_t i;

	for (i = 0; i < x->nsrcs; i++)
		free(x->srcs[i].dest);
	free(x->srcs);
	x->srcs = NULL;
	x->nsrcs = 0;
}

void bfs_xcopy_free(struct bfs_xcopy *x)
{
	if (!x)
		return;
	free_srcs(x);
	bfs_locmap_free(x->dst_lm);
	bfs_buf_free(&x->dig);
	free(x->chunk);
	bfs_buf_free(&x->held);
	EVP_MD_CTX_free(x->md);
	free(x);
}

/* The sources of the header (untrusted JSON): "dest" and "kind" of each;
 * files and archives were chunked with the files profile, the rest
 * (dumps, commands, stdin) with the dump profile. */
static int parse_sources(struct bfs_xcopy *x, const char *json,
			 struct bfs_err *err)
{
	cJSON *a = json ? cJSON_Parse(json) : NULL, *s;
	int rc = 0, n;

	free_srcs(x);
	if (!a || !cJSON_IsArray(a))
		goto out_free; /* none: every file gets the files profile */
	n = cJSON_GetArraySize(a);
	x->srcs = calloc(n ? (size_t)n : 1, sizeof(*x->srcs));
	if (!x->srcs) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	cJSON_ArrayForEach(s, a)
	{
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(s, "dest");
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(s, "kind");
		struct xsrc *o = &x->srcs[x->nsrcs];

		if (!cJSON_IsString(d) || !cJSON_IsString(k))
			continue;
		o->dest = strdup(d->valuestring);
		if (!o->dest) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			goto out_free;
		}
		o->len = strlen(o->dest);
		while (o->len && o->dest[o->len - 1] == '/')
			o->len--;
		o->profile = strcmp(k->valuestring, "files") == 0 ||
				     strcmp(k->valuestring, "archive") == 0
				 ? BFS_PROFILE_FILES
				 : BFS_PROFILE_DUMP;
		x->nsrcs++;
	}
out_free:
	cJSON_Delete(a);
	return rc;
}

/* The profile of path: that of the source with the longest dest that is
 * path or a parent of it. */
static enum bfs_profile profile_of(const struct bfs_xcopy *x, const char *path)
{
	enum bfs_profile p = BFS_PROFILE_FILES;
	size_t i, best = 0;
	bool found = false;

	for (i = 0; i < x->nsrcs; i++) {
		const struct xsrc *s = &x->srcs[i];

		if (strncmp(path, s->dest, s->len) != 0 ||
		    (path[s->len] && path[s->len] != '/' && s->len))
			continue;
		if (!found || s->len >= best) {
			best = s->len;
			p = s->profile;
			found = true;
		}
	}
	return p;
}

static void path_key(uint8_t key[16], const char *path, size_t len)
{
	uint8_t h[BFS_HASH_LEN];

	bfs_sha256(h, path, len);
	memcpy(key, h, 16);
}

static int chunk_room(struct bfs_xcopy *x, uint32_t len)
{
	uint8_t *nv;

	if (len <= x->chunk_cap)
		return 0;
	nv = realloc(x->chunk, len);
	if (!nv)
		return -ENOMEM;
	x->chunk = nv;
	x->chunk_cap = len;
	return 0;
}

/* Read the chunks of one file from repository r (located through lm)
 * one at a time: each into the writer (b != NULL) and, with verify, into
 * the content hash (*content).  *total gets the sum of their lengths. */
static int stream_chunks(struct bfs_xcopy *x, struct bfs_repo *r,
			 struct bfs_locmap *lm, const char *path,
			 const struct bfs_blobref *chunks, size_t n,
			 struct bfs_backup *b, uint8_t content[BFS_HASH_LEN],
			 uint64_t *total, struct bfs_err *err)
{
	struct bfs_loc loc;
	unsigned hl = BFS_HASH_LEN;
	size_t i;
	int rc = 0;

	*total = 0;
	if (x->verify && EVP_DigestInit_ex(x->md, EVP_sha256(), NULL) != 1)
		return bfs_err_set(err, -ENOMEM, "cannot start SHA-256");
	for (i = 0; i < n; i++) {
		/* a file's chunk: stored whole or as a delta */
		if (bfs_locmap_find(lm, chunks[i].hash, &loc) ||
		    (loc.type != BFS_BLOB_DATA && loc.type != BFS_BLOB_DELTA &&
		     loc.type != BFS_BLOB_DELTA2)) {
			char hex[BFS_HASH_HEX + 1];

			bfs_hex(hex, chunks[i].hash, BFS_HASH_LEN);
			return bfs_err_set(err, -ENOENT,
					   "'%s': chunk %s is in no index "
					   "object of '%s'",
					   path, hex, r->store->url);
		}
		if (loc.ref.len != chunks[i].len)
			return bfs_err_set(err, -EUCLEAN,
					   "'%s': chunk %zu has %" PRIu32
					   " bytes, its index object says "
					   "%" PRIu32,
					   path, i, chunks[i].len, loc.ref.len);
		if (chunk_room(x, loc.ref.len))
			return bfs_err_set(err, -ENOMEM, "out of memory");
		rc = bfs_repo_read_chunk(r, &loc.ref, x->chunk, err);
		if (rc)
			return bfs_err_prefix(err, rc, "'%s'", path);
		if (b &&
		    (rc = bfs_backup_file_write(b, x->chunk, loc.ref.len, err)))
			return rc;
		if (x->verify &&
		    EVP_DigestUpdate(x->md, x->chunk, loc.ref.len) != 1)
			return bfs_err_set(err, -ENOMEM, "SHA-256 failed");
		*total += loc.ref.len;
	}
	if (x->verify && EVP_DigestFinal_ex(x->md, content, &hl) != 1)
		return bfs_err_set(err, -ENOMEM, "SHA-256 failed");
	return 0;
}

/* Read blob id of type tree (what key names for path) from repository r
 * (located through lm) into x->chunk; *len gets its length. */
static int read_key_blob(struct bfs_xcopy *x, struct bfs_repo *r,
			 struct bfs_locmap *lm, const uint8_t *id,
			 const char *key, const char *path, uint32_t *len,
			 struct bfs_err *err)
{
	char hex[BFS_HASH_HEX + 1];
	struct bfs_loc loc;
	int rc;

	bfs_hex(hex, id, BFS_HASH_LEN);
	if (bfs_locmap_find(lm, id, &loc))
		return bfs_err_set(err, -ENOENT,
				   "'%s': its \"%s\" blob %s is in no index "
				   "object of '%s'",
				   path, key, hex, r->store->url);
	if (loc.type != BFS_BLOB_TREE || !loc.ref.len ||
	    loc.ref.len > BFS_TREE_PART_MAX)
		return bfs_err_set(err, -EUCLEAN,
				   "'%s': its \"%s\" blob %s is no tree blob "
				   "of 1..%u bytes in the index of '%s'",
				   path, key, hex, BFS_TREE_PART_MAX,
				   r->store->url);
	if (chunk_room(x, loc.ref.len))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = bfs_repo_read_chunk(r, &loc.ref, x->chunk, err);
	if (rc)
		return bfs_err_prefix(err, rc, "'%s': its \"%s\" blob", path,
				      key);
	*len = loc.ref.len;
	return 0;
}

/* The blobs the keys of te name (a dump map, ...), read from the source
 * and handed to the writer for the file being streamed: their plain
 * bytes are kept, their ids are the target's (noted in rec).  A key the
 * source lacks is handed over as none: the target gets no blob the
 * source has not (a .sql file of a backup older than dump maps). */
static int carry_keys(struct bfs_xcopy *x, const struct bfs_tree_entry *te,
		      const char *path, struct xrec *rec, struct bfs_err *err)
{
	const struct bfs_tree_key *k;
	const uint8_t *id;
	uint32_t len;
	size_t i;
	int rc;

	for (i = 0; i < BFS_TREE_NKEYS; i++) {
		k = &bfs_tree_keys[i];
		if (!(k->flags & BFS_TKEY_BLOB))
			continue;
		id = bfs_tree_key_blob(te, k);
		if (!id) {
			rc = bfs_backup_file_keep_blob(x->b, k->name, NULL, 0,
						       err);
			if (rc)
				return rc;
			continue;
		}
		rc = read_key_blob(x, x->src, x->src_lm, id, k->name, path,
				   &len, err);
		if (!rc)
			rc = bfs_backup_file_keep_blob(x->b, k->name, x->chunk,
						       len, err);
		if (rc)
			return rc;
		bfs_repo_blob_id(x->dst, rec->key_id[i], x->chunk, len);
		rec->keys |= (uint8_t)(1u << i);
	}
	return 0;
}

/* The blobs the keys of te (an entry of the written trees) name must be
 * those rec expects, in the target's index; with verify, each is read
 * back (its id checked). */
static int check_keys(struct bfs_xcopy *x, const struct bfs_tree_entry *te,
		      const char *path, const struct xrec *rec,
		      struct bfs_err *err)
{
	const struct bfs_tree_key *k;
	const uint8_t *id;
	struct bfs_loc loc;
	uint32_t len;
	bool want;
	size_t i;

	for (i = 0; i < BFS_TREE_NKEYS; i++) {
		k = &bfs_tree_keys[i];
		id = bfs_tree_key_blob(te, k);
		want = rec->keys & (1u << i);
		if (!id && !want)
			continue;
		if (!id || !want)
			return bfs_err_set(err, -EUCLEAN,
					   "'%s': \"%s\" is %s in the written "
					   "trees",
					   path, k->name,
					   id ? "new" : "missing");
		if (memcmp(id, rec->key_id[i], BFS_HASH_LEN) != 0)
			return bfs_err_set(err, -EUCLEAN,
					   "'%s': \"%s\" names another blob "
					   "in the written trees",
					   path, k->name);
		if (x->verify) {
			int rc = read_key_blob(x, x->dst, x->dst_lm, id,
					       k->name, path, &len, err);

			if (rc)
				return rc;
		} else if (bfs_locmap_find(x->dst_lm, id, &loc) ||
			   loc.type != BFS_BLOB_TREE) {
			return bfs_err_set(err, -ENOENT,
					   "'%s': its \"%s\" blob is in no "
					   "index object of the target",
					   path, k->name);
		}
	}
	return 0;
}

/* The entry te at path, with its full path, into the writer. */
static int feed_cb(void *arg, const struct bfs_tree_entry *te, const char *path,
		   const struct bfs_blobref *chunks, size_t nchunks)
{
	struct bfs_xcopy *x = arg;
	struct bfs_err *err = &x->cerr;
	struct bfs_entry e = te->e;
	struct xrec *rec;
	uint8_t key[16];
	uint64_t total;
	bool added;
	int rc;

	e.path = (char *)path;
	e.path_len = strlen(path);
	path_key(key, e.path, e.path_len);
	if (bfs_hmap_get(&x->exp, key, (void **)&rec, &added))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	if (!added)
		return bfs_err_set(err, -EUCLEAN, "'%s' is listed twice", path);
	rec->flags = (e.user ? 0 : BFS_DIGEST_NO_USER) |
		     (e.group ? 0 : BFS_DIGEST_NO_GROUP);
	if (bfs_entry_digest_fields(&x->dig, &e, e.path, e.path_len,
				    rec->flags))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	bfs_sha256(rec->digest, x->dig.data, x->dig.len);
	if (e.error)
		rc = bfs_backup_add_error(x->b, &e, e.error, err);
	else if (e.type != BFS_T_FILE || e.link)
		rc = bfs_backup_add(x->b, &e, err);
	else {
		rc = bfs_backup_file_begin(x->b, &e, profile_of(x, path), err);
		if (rc)
			return bfs_err_prefix(err, rc, "'%s'", path);
		rc = carry_keys(x, te, path, rec, err);
		if (!rc)
			rc = stream_chunks(x, x->src, x->src_lm, path, chunks,
					   nchunks, x->b, rec->content, &total,
					   err);
		if (!rc && total != e.size)
			rc = bfs_err_set(err, -EUCLEAN,
					 "'%s': its chunks hold %" PRIu64
					 " bytes, its entry says %" PRIu64,
					 path, total, e.size);
		if (rc) {
			bfs_backup_file_cancel(x->b);
			return rc;
		}
		rc = bfs_backup_file_end(x->b, err);
	}
	if (rc)
		bfs_err_prefix(err, rc, "'%s'", path);
	return rc;
}

/* The walk of the new trees: every entry must be expected, alike. */
static int check_cb(void *arg, const struct bfs_tree_entry *te,
		    const char *path, const struct bfs_blobref *chunks,
		    size_t nchunks)
{
	struct bfs_xcopy *x = arg;
	struct bfs_err *err = &x->cerr;
	uint8_t key[16], d[BFS_HASH_LEN], content[BFS_HASH_LEN];
	size_t n = strlen(path);
	struct xrec *rec;
	uint64_t total;
	int rc;

	path_key(key, path, n);
	rec = bfs_hmap_find(&x->exp, key);
	if (!rec || rec->seen)
		return bfs_err_set(err, -EUCLEAN,
				   "'%s' is %s in the written trees", path,
				   rec ? "twice" : "new");
	if (bfs_entry_digest_fields(&x->dig, &te->e, path, n, rec->flags))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	bfs_sha256(d, x->dig.data, x->dig.len);
	if (memcmp(d, rec->digest, BFS_HASH_LEN) != 0)
		return bfs_err_set(err, -EUCLEAN,
				   "'%s' differs in the written trees", path);
	rc = check_keys(x, te, path, rec, err);
	if (rc)
		return rc;
	if (te->e.type == BFS_T_FILE && !te->e.link && !te->e.error) {
		if (x->verify) {
			rc = stream_chunks(x, x->dst, x->dst_lm, path, chunks,
					   nchunks, NULL, content, &total, err);
		} else {
			/* lengths, and every chunk located in the target */
			struct bfs_loc loc;
			size_t i;

			rc = 0;
			total = 0;
			for (i = 0; i < nchunks && !rc; i++) {
				if (bfs_locmap_find(x->dst_lm, chunks[i].hash,
						    &loc) ||
				    (loc.type != BFS_BLOB_DATA &&
				     loc.type != BFS_BLOB_DELTA &&
				     loc.type != BFS_BLOB_DELTA2) ||
				    loc.ref.len != chunks[i].len)
					rc = bfs_err_set(
					    err, -ENOENT,
					    "'%s': chunk %zu is in no index "
					    "object of the target",
					    path, i);
				total += chunks[i].len;
			}
		}
		if (rc)
			return rc;
		if (total != te->e.size)
			return bfs_err_set(err, -EUCLEAN,
					   "'%s' holds %" PRIu64
					   " bytes in the written trees, "
					   "%" PRIu64 " in the source",
					   path, total, te->e.size);
		if (x->verify && memcmp(content, rec->content, BFS_HASH_LEN))
			return bfs_err_set(err, -EUCLEAN,
					   "'%s': the written content differs "
					   "from the source's",
					   path);
	}
	rec->seen = 1;
	x->nseen++;
	return 0;
}

/* Walk cb over the trees below roots, with the walk's own errors in err
 * and the callback's (kept in x->cerr) copied there. */
static int walk(struct bfs_xcopy *x, struct bfs_locmap *lm, struct bfs_repo *r,
		const uint8_t (*root)[BFS_HASH_LEN], size_t nroot,
		bfs_locmap_walk_cb cb, uint64_t *count, struct bfs_err *err)
{
	struct bfs_err *cerr = &x->cerr;
	int rc;

	cerr->msg[0] = '\0';
	rc = bfs_locmap_walk(lm, r, root, nroot, cb, x, count, err);
	if (rc && cerr->msg[0])
		bfs_err_set(err, rc, "%s", cerr->msg);
	return rc;
}

/* Parse the manifest the writer made (held back, not yet stored) and
 * compare the trees it names, read back from the target, with the
 * source's. */
static int check(struct bfs_xcopy *x, const struct bfs_manifest2 *src_man,
		 struct bfs_err *err)
{
	struct bfs_manifest2 man = {0};
	uint64_t count = 0;
	int rc;

	rc = bfs_manifest2_parse(x->held.data, x->held.len, &man, err);
	if (!rc && strcmp(man.h.id, src_man->h.id) != 0)
		rc = bfs_err_set(err, -EUCLEAN, "the manifest says id '%s'",
				 man.h.id);
	if (!rc && (man.h.time_ns != src_man->h.time_ns ||
		    strcmp(man.h.host ? man.h.host : "",
			   src_man->h.host ? src_man->h.host : "") != 0))
		rc = bfs_err_set(err, -EUCLEAN,
				 "the written header differs (time or host)");
	x->nseen = 0;
	/* the written tree parts may be delta frames (version 4): their
	 * bases are located through the target's index, which holds what
	 * was just written (unset before the target is used otherwise) */
	if (!rc)
		rc = bfs_repo_set_locate(x->dst, bfs_locmap_locate, x->dst_lm,
					 NULL, err);
	if (!rc)
		rc = walk(x, x->dst_lm, x->dst,
			  (const uint8_t(*)[BFS_HASH_LEN])man.root, man.nroot,
			  check_cb, &count, err);
	bfs_repo_set_locate(x->dst, NULL, NULL, NULL, NULL);
	if (!rc && (count != man.count || x->nseen != bfs_hmap_count(&x->exp)))
		rc = bfs_err_set(err, -EUCLEAN,
				 "the written trees hold %" PRIu64
				 " entries (manifest: %" PRIu64
				 "), the source %zu",
				 count, man.count, bfs_hmap_count(&x->exp));
	bfs_manifest2_clear(&man);
	return rc;
}

/* Store the checked manifest: only now is the backup visible.  Checks
 * the lock first (prune may have run meanwhile). */
static int publish(struct bfs_xcopy *x, const char *key, const char *id,
		   struct bfs_err *err)
{
	int rc = 0;

	if (x->lock)
		rc = bfs_lock_check(x->lock, err);
	if (rc)
		return bfs_err_prefix(err, rc, "backup '%s' not written", id);
	rc = bfs_store_put(x->dst->store, key, x->held.data, x->held.len,
			   BFS_PUT_EXCL, err);
	if (rc == -EEXIST)
		return bfs_err_set(err, rc, "backup '%s' already exists", id);
	if (rc)
		return bfs_err_prefix(err, rc, "cannot store manifest '%s'",
				      key);
	return 0;
}

int bfs_xcopy_backup(struct bfs_xcopy *x, const struct bfs_manifest2 *man,
		     uint64_t *stored, struct bfs_err *err)
{
	const struct bfs_manifest_header *h = &man->h;
	struct bfs_backup_opts bo = {
	    .id = h->id,
	    .tags = (const char *const *)h->tags,
	    .host = h->host,
	    .job = h->job,
	    .threads = x->threads,
	    .time_ns = h->time_ns ? h->time_ns : 1,
	    .held = &x->held,
	};
	struct bfs_backup_stats bst = {0};
	char key[BFS_KEY_MAX];
	bool partial;
	int rc;

	if (stored)
		*stored = 0;
	rc = bfs_repo_manifest_key(key, h->id);
	if (rc)
		return bfs_err_set(err, rc, "invalid backup id '%s'", h->id);
	rc = bfs_hmap_init(&x->exp, sizeof(struct xrec), 16, 0,
			   BFS_HMAP_PREHASHED);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	rc = parse_sources(x, h->sources_json, err);
	if (!rc)
		rc = bfs_backup_begin(x->dst, &x->idx, &bo, &x->b, err);
	if (rc)
		goto out_free;
	if (h->sources_json)
		rc = bfs_backup_set_sources(x->b, h->sources_json, err);
	if (!rc)
		rc = walk(x, x->src_lm, x->src,
			  (const uint8_t(*)[BFS_HASH_LEN])man->root, man->nroot,
			  feed_cb, NULL, err);
	if (rc) {
		bfs_backup_abort(x->b);
		x->b = NULL;
		goto out_free;
	}
	rc = bfs_backup_commit(x->b, &bst, &partial, err);
	x->b = NULL;
	if (rc)
		goto out_free;
	if (stored)
		*stored = bst.stored_bytes;
	rc = check(x, man, err);
	if (rc)
		bfs_err_prefix(err, rc,
			       "the written backup differs from the source "
			       "(it was not published)");
	else
		rc = publish(x, key, h->id, err);
out_free:
	bfs_buf_free(&x->held);
	bfs_hmap_fini(&x->exp);
	return rc;
}
