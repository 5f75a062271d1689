/* locmap.c - blob locations from index objects, in memory (locmap.h).
 *
 * Three tables: the index objects (names by ordinal, and name ->
 * ordinal), the packs (ids by ordinal, and id -> ordinals of the pack
 * and of the first index object naming it) and the blobs (id -> pack
 * ordinal and the rest of the location).  All under one lock.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "hmap.h"
#include "locmap.h"
#include "tree.h"

struct name_rec {
	uint8_t name[BFS_HASH_LEN];
	uint32_t ord;
};

struct pack_rec {
	uint8_t id[BFS_HASH_LEN];
	uint32_t ord;
	uint32_t index_ord;
};

struct blob_rec {
	uint8_t hash[BFS_HASH_LEN];
	uint64_t offset;
	uint32_t pack_ord;
	uint32_t clen, len;
	uint8_t type;
	uint8_t marked; /* bfs_locmap_mark (fits the padding) */
};

struct base_rec {
	uint8_t id[BFS_HASH_LEN]; /* key */
	struct bfs_bases bases;
};

struct bfs_locmap {
	pthread_mutex_t lock; /* protects everything below */
	struct bfs_hmap names, packs, blobs;
	struct bfs_hmap bases;		 /* struct base_rec: delta blobs only */
	uint8_t (*name_v)[BFS_HASH_LEN]; /* index objects by ordinal */
	size_t nnames, name_cap;
	struct pack_rec *pack_v; /* packs by ordinal */
	size_t npacks, pack_cap;
};

int bfs_locmap_new(struct bfs_locmap **out, struct bfs_err *err)
{
	struct bfs_locmap *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	if (bfs_hmap_init(&m->names, sizeof(struct name_rec), BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED) ||
	    bfs_hmap_init(&m->packs, sizeof(struct pack_rec), BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED) ||
	    bfs_hmap_init(&m->blobs, sizeof(struct blob_rec), BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED) ||
	    bfs_hmap_init(&m->bases, sizeof(struct base_rec), BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED)) {
		bfs_hmap_fini(&m->names);
		bfs_hmap_fini(&m->packs);
		bfs_hmap_fini(&m->blobs);
		free(m);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

void bfs_locmap_free(struct bfs_locmap *m)
{
	if (!m)
		return;
	bfs_hmap_fini(&m->names);
	bfs_hmap_fini(&m->packs);
	bfs_hmap_fini(&m->blobs);
	bfs_hmap_fini(&m->bases);
	free(m->name_v);
	free(m->pack_v);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void bfs_locmap_index_key(char *key, const uint8_t name[BFS_HASH_LEN])
{
	char hex[BFS_HASH_HEX + 1];

	bfs_hex(hex, name, BFS_HASH_LEN);
	snprintf(key, BFS_KEY_MAX, "%s%s", BFS_KEY_INDEX, hex);
}

/* ---- adding (lock held) ------------------------------------------------ */

struct add_ctx {
	struct bfs_locmap *m;
	uint32_t index_ord;
};

/* One pack line of an index object. */
static int add_pack_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		       const struct bfs_idx_blob *blobs, size_t n)
{
	struct add_ctx *a = arg;
	struct bfs_locmap *m = a->m;
	struct pack_rec pr, *p;
	struct blob_rec br;
	size_t i;
	int rc;

	memcpy(pr.id, pack, BFS_HASH_LEN);
	pr.ord = (uint32_t)m->npacks;
	pr.index_ord = a->index_ord;
	rc = bfs_hmap_insert(&m->packs, &pr, (void **)&p);
	if (rc == -EEXIST)
		return 0; /* named by an earlier object already */
	if (rc)
		return rc;
	if (m->npacks == m->pack_cap) {
		size_t nc = m->pack_cap ? 2 * m->pack_cap : 256;
		struct pack_rec *nv = realloc(m->pack_v, nc * sizeof(*nv));

		if (!nv) {
			bfs_hmap_remove(&m->packs, pack);
			return -ENOMEM;
		}
		m->pack_v = nv;
		m->pack_cap = nc;
	}
	m->pack_v[m->npacks++] = pr;
	for (i = 0; i < n; i++) {
		memset(&br, 0, sizeof(br));
		memcpy(br.hash, blobs[i].hash, BFS_HASH_LEN);
		br.offset = blobs[i].offset;
		br.pack_ord = pr.ord;
		br.clen = blobs[i].clen;
		br.len = blobs[i].len;
		br.type = (uint8_t)blobs[i].type;
		rc = bfs_hmap_insert(&m->blobs, &br, NULL);
		if (rc == -EEXIST)
			continue;
		if (rc)
			return rc;
		if (br.type == BFS_BLOB_DELTA || br.type == BFS_BLOB_DELTA2) {
			struct base_rec rec;

			memset(&rec, 0, sizeof(rec));
			memcpy(rec.id, br.hash, BFS_HASH_LEN);
			rec.bases = blobs[i].bases;
			rc = bfs_hmap_insert(&m->bases, &rec, NULL);
			if (rc && rc != -EEXIST)
				return rc;
		}
	}
	return 0;
}

static int add_locked(struct bfs_locmap *m, const uint8_t name[BFS_HASH_LEN],
		      const void *data, size_t len, struct bfs_err *err)
{
	struct add_ctx a = {.m = m};
	struct name_rec nr;
	uint8_t h[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	int rc;

	if (bfs_hmap_find(&m->names, name))
		return 0;
	bfs_locmap_index_key(key, name);
	bfs_sha256(h, data, len);
	if (memcmp(h, name, BFS_HASH_LEN) != 0)
		return bfs_err_set(err, -EBADMSG,
				   "index object '%s' is damaged: its bytes do "
				   "not hash to its name",
				   key);
	if (m->nnames >= UINT32_MAX || m->npacks >= UINT32_MAX)
		return bfs_err_set(err, -EOVERFLOW, "too many index objects");
	if (m->nnames == m->name_cap) {
		size_t nc = m->name_cap ? 2 * m->name_cap : 64;
		uint8_t(*nv)[BFS_HASH_LEN] =
		    realloc(m->name_v, nc * sizeof(*nv));

		if (!nv)
			return bfs_err_set(err, -ENOMEM, "out of memory");
		m->name_v = nv;
		m->name_cap = nc;
	}
	a.index_ord = (uint32_t)m->nnames;
	rc = bfs_idxobj_parse(data, len, add_pack_cb, &a, err);
	if (rc == -ENOMEM)
		return bfs_err_set(err, rc, "out of memory");
	if (rc)
		/* the packs and blobs added so far stay: their locations
		 * are right even if the rest of the object is not */
		return bfs_err_prefix(err, rc, "index object '%s'", key);
	memcpy(nr.name, name, BFS_HASH_LEN);
	nr.ord = a.index_ord;
	rc = bfs_hmap_insert(&m->names, &nr, NULL);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	memcpy(m->name_v[m->nnames++], name, BFS_HASH_LEN);
	return 0;
}

int bfs_locmap_add(struct bfs_locmap *m, const uint8_t name[BFS_HASH_LEN],
		   const void *data, size_t len, struct bfs_err *err)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = add_locked(m, name, data, len, err);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- loading ----------------------------------------------------------- */

struct name_list {
	uint8_t (*v)[BFS_HASH_LEN];
	size_t n, cap;
};

static int list_index_cb(void *arg, const char *key, uint64_t size)
{
	struct name_list *l = arg;
	const char *hex = key + strlen(BFS_KEY_INDEX);

	(void)size;
	if (strncmp(key, BFS_KEY_INDEX, strlen(BFS_KEY_INDEX)) != 0 ||
	    !bfs_hex64_valid(hex))
		return 0;
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 64;
		uint8_t(*nv)[BFS_HASH_LEN] = realloc(l->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	if (bfs_unhex(l->v[l->n], hex, BFS_HASH_LEN))
		return 0;
	l->n++;
	return 0;
}

int bfs_locmap_load(struct bfs_locmap *m, struct bfs_repo *r,
		    struct bfs_err *err)
{
	struct name_list l = {0};
	struct bfs_buf b = {0};
	char key[BFS_KEY_MAX];
	int64_t got;
	size_t i;
	int rc;

	rc = bfs_store_list(r->store, BFS_KEY_INDEX, list_index_cb, &l, err);
	if (rc == -ENOMEM)
		rc = bfs_err_set(err, rc, "out of memory");
	else if (rc)
		bfs_err_prefix(err, rc, "cannot list the index objects of '%s'",
			       r->store->url);
	for (i = 0; !rc && i < l.n; i++) {
		if (bfs_locmap_has_index(m, l.v[i]))
			continue;
		bfs_locmap_index_key(key, l.v[i]);
		b.len = 0;
		got = bfs_store_get(r->store, key, 0, UINT64_MAX, &b, err);
		if (got < 0) {
			rc = bfs_err_prefix(err, (int)got,
					    "cannot read index object '%s' of "
					    "'%s'",
					    key, r->store->url);
			break;
		}
		rc = bfs_locmap_add(m, l.v[i], b.data, b.len, err);
	}
	bfs_buf_free(&b);
	free(l.v);
	return rc;
}

/* ---- lookups ------------------------------------------------------------ */

int bfs_locmap_find(struct bfs_locmap *m, const uint8_t hash[BFS_HASH_LEN],
		    struct bfs_loc *out)
{
	const struct blob_rec *b;
	const struct pack_rec *p;
	int rc = -ENOENT;

	pthread_mutex_lock(&m->lock);
	b = bfs_hmap_find(&m->blobs, hash);
	if (b) {
		p = &m->pack_v[b->pack_ord];
		memset(out, 0, sizeof(*out));
		memcpy(out->ref.hash, b->hash, BFS_HASH_LEN);
		memcpy(out->ref.pack, p->id, BFS_HASH_LEN);
		out->ref.offset = b->offset;
		out->ref.clen = b->clen;
		out->ref.len = b->len;
		out->type = b->type;
		out->pack_ord = b->pack_ord;
		out->index_ord = p->index_ord;
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int bfs_locmap_bases(struct bfs_locmap *m, const uint8_t id[BFS_HASH_LEN],
		     struct bfs_bases *out)
{
	const struct base_rec *rec;
	int rc = -ENOENT;

	pthread_mutex_lock(&m->lock);
	rec = bfs_hmap_find(&m->bases, id);
	if (rec) {
		*out = rec->bases;
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int bfs_locmap_base(struct bfs_locmap *m, const uint8_t id[BFS_HASH_LEN],
		    uint8_t base[BFS_HASH_LEN])
{
	struct bfs_bases b;
	int rc;

	rc = bfs_locmap_bases(m, id, &b);
	if (!rc)
		memcpy(base, b.id[0], BFS_HASH_LEN);
	return rc;
}

int bfs_locmap_locate(void *arg, const uint8_t id[BFS_HASH_LEN],
		      struct bfs_chunkref *out)
{
	struct bfs_loc loc;
	int rc;

	rc = bfs_locmap_find(arg, id, &loc);
	if (!rc)
		*out = loc.ref;
	return rc;
}

int bfs_locmap_mark(struct bfs_locmap *m, const uint8_t hash[BFS_HASH_LEN],
		    bool *was)
{
	struct blob_rec *b;
	int rc = -ENOENT;

	pthread_mutex_lock(&m->lock);
	b = bfs_hmap_find(&m->blobs, hash);
	if (b) {
		if (was)
			*was = b->marked != 0;
		b->marked = 1;
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

bool bfs_locmap_has_pack(struct bfs_locmap *m, const uint8_t pack[BFS_HASH_LEN],
			 size_t *index_ord)
{
	const struct pack_rec *p;

	pthread_mutex_lock(&m->lock);
	p = bfs_hmap_find(&m->packs, pack);
	if (p && index_ord)
		*index_ord = p->index_ord;
	pthread_mutex_unlock(&m->lock);
	return p != NULL;
}

bool bfs_locmap_has_index(struct bfs_locmap *m,
			  const uint8_t name[BFS_HASH_LEN])
{
	bool has;

	pthread_mutex_lock(&m->lock);
	has = bfs_hmap_find(&m->names, name) != NULL;
	pthread_mutex_unlock(&m->lock);
	return has;
}

size_t bfs_locmap_npacks(struct bfs_locmap *m)
{
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = m->npacks;
	pthread_mutex_unlock(&m->lock);
	return n;
}

size_t bfs_locmap_nindex(struct bfs_locmap *m)
{
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = m->nnames;
	pthread_mutex_unlock(&m->lock);
	return n;
}

size_t bfs_locmap_nblobs(struct bfs_locmap *m)
{
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = bfs_hmap_count(&m->blobs);
	pthread_mutex_unlock(&m->lock);
	return n;
}

void bfs_locmap_pack(struct bfs_locmap *m, size_t i, uint8_t pack[BFS_HASH_LEN],
		     size_t *index_ord)
{
	pthread_mutex_lock(&m->lock);
	memcpy(pack, m->pack_v[i].id, BFS_HASH_LEN);
	if (index_ord)
		*index_ord = m->pack_v[i].index_ord;
	pthread_mutex_unlock(&m->lock);
}

void bfs_locmap_index_name(struct bfs_locmap *m, size_t i,
			   uint8_t name[BFS_HASH_LEN])
{
	pthread_mutex_lock(&m->lock);
	memcpy(name, m->name_v[i], BFS_HASH_LEN);
	pthread_mutex_unlock(&m->lock);
}

/* ---- as a struct bfs_index ---------------------------------------------- */

static int lm_chunk_find(void *ctx, const uint8_t hash[BFS_HASH_LEN],
			 struct bfs_chunkref *out)
{
	struct bfs_loc loc;
	int rc = bfs_locmap_find(ctx, hash, &loc);

	if (!rc)
		*out = loc.ref;
	return rc;
}

static int lm_pack_present(void *ctx, const uint8_t pack[BFS_HASH_LEN])
{
	return bfs_locmap_has_pack(ctx, pack, NULL) ? 1 : 0;
}

static int lm_prev_dir(void *ctx, const char *source_key, const char *dirpath,
		       struct bfs_index_dir *out)
{
	(void)ctx;
	(void)source_key;
	(void)dirpath;
	(void)out;
	return -ENOENT;
}

static int lm_record(void *ctx, const char *id, const void *manifest,
		     size_t len, const char *idxname, const void *idxobj,
		     size_t idxlen, struct bfs_err *err)
{
	uint8_t name[BFS_HASH_LEN];

	(void)id;
	(void)manifest;
	(void)len;
	if (!idxname || !idxobj)
		return 0;
	if (bfs_unhex(name, idxname, BFS_HASH_LEN))
		return bfs_err_set(err, -EINVAL, "bad index object name '%s'",
				   idxname);
	return bfs_locmap_add(ctx, name, idxobj, idxlen, err);
}

static bool lm_has_backup(void *ctx, const char *id)
{
	(void)ctx;
	(void)id;
	return false;
}

static const struct bfs_index_ops locmap_index_ops = {
    .name = "locmap",
    .chunk_find = lm_chunk_find,
    .pack_present = lm_pack_present,
    .prev_dir = lm_prev_dir,
    .record = lm_record,
    .has_backup = lm_has_backup,
    .destroy = NULL,
};

void bfs_locmap_index(struct bfs_locmap *m, struct bfs_index *out)
{
	out->ops = &locmap_index_ops;
	out->ctx = m;
}

/* ---- walking a backup's trees -------------------------------------------- */

struct lwalk {
	struct bfs_locmap *m;
	struct bfs_repo *r;
	bfs_locmap_walk_cb cb;
	void *arg;
	struct bfs_buf path; /* of the entry at hand, NUL-terminated */
	struct bfs_blobref *chunks;
	size_t nchunks, chunk_cap;
};

/* Read tree blob id into out (replacing its content). */
static int lw_read(struct lwalk *w, const uint8_t id[BFS_HASH_LEN],
		   struct bfs_buf *out, struct bfs_err *err)
{
	char hex[BFS_HASH_HEX + 1];
	struct bfs_loc loc;
	int rc;

	bfs_hex(hex, id, BFS_HASH_LEN);
	if (bfs_locmap_find(w->m, id, &loc))
		return bfs_err_set(err, -ENOENT,
				   "tree blob %s is in no index object", hex);
	if ((loc.type != BFS_BLOB_TREE && loc.type != BFS_BLOB_DELTA) ||
	    loc.ref.len > BFS_TREE_PART_MAX)
		return bfs_err_set(err, -EUCLEAN,
				   "blob %s is not a tree blob (type %d, %u "
				   "bytes)",
				   hex, loc.type, loc.ref.len);
	out->len = 0;
	if (bfs_buf_reserve(out, (size_t)loc.ref.len + 1))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = bfs_repo_read_chunk(w->r, &loc.ref, out->data, err);
	if (rc)
		return bfs_err_prefix(err, rc, "tree blob %s", hex);
	out->len = loc.ref.len;
	return 0;
}

/* The chunks of te into w->chunks (expanding list blobs). */
static int lw_chunks(struct lwalk *w, const struct bfs_tree_entry *te,
		     struct bfs_err *err)
{
	struct bfs_blobref *refs = NULL;
	struct bfs_buf b = {0};
	size_t i, n = 0;
	int rc = 0;

	w->nchunks = 0;
	for (i = 0; i < te->nlists && !rc; i++) {
		rc = lw_read(w, te->lists[i], &b, err);
		if (!rc)
			rc = bfs_tree_list_parse(b.data, b.len, &refs, &n, err);
		if (!rc && w->nchunks + n > w->chunk_cap) {
			size_t nc = BFS_MAX(2 * w->chunk_cap, w->nchunks + n);
			struct bfs_blobref *nv =
			    realloc(w->chunks, nc * sizeof(*nv));

			if (!nv)
				rc = bfs_err_set(err, -ENOMEM, "out of memory");
			else {
				w->chunks = nv;
				w->chunk_cap = nc;
			}
		}
		if (!rc) {
			memcpy(w->chunks + w->nchunks, refs, n * sizeof(*refs));
			w->nchunks += n;
		}
		free(refs);
		refs = NULL;
	}
	bfs_buf_free(&b);
	return rc;
}

static int lw_dir(struct lwalk *w, const uint8_t (*parts)[BFS_HASH_LEN],
		  size_t nparts, unsigned depth, uint64_t *count,
		  struct bfs_err *err)
{
	struct bfs_tree_part *p = NULL;
	struct bfs_tree_entry te;
	struct bfs_buf plain = {0}, prev = {0};
	uint8_t(*sub)[BFS_HASH_LEN] = NULL;
	size_t base = w->path.len, i;
	bool first = true;
	uint64_t n;
	int rc = 0;

	if (depth > BFS_TREE_MAX_DEPTH)
		return bfs_err_set(err, -EUCLEAN,
				   "'%s': trees nested deeper than %u",
				   (char *)w->path.data, BFS_TREE_MAX_DEPTH);
	for (i = 0; i < nparts && !rc; i++) {
		rc = lw_read(w, parts[i], &plain, err);
		if (!rc)
			rc = bfs_tree_part_open(plain.data, plain.len, &p, err);
		while (!rc && (rc = bfs_tree_part_next(p, &te, err)) == 1) {
			const struct bfs_blobref *ch = te.chunks;
			size_t nch = te.nchunks;

			rc = 0;
			if (!first &&
			    bfs_tree_name_cmp((char *)prev.data, prev.len,
					      te.e.path, te.e.path_len) >= 0) {
				rc = bfs_err_set(err, -EUCLEAN,
						 "'%s': names not sorted "
						 "across tree parts",
						 (char *)w->path.data);
				break;
			}
			first = false;
			prev.len = 0;
			w->path.len = base;
			if (bfs_buf_append(&prev, te.e.path, te.e.path_len) ||
			    (base && bfs_buf_append(&w->path, "/", 1)) ||
			    bfs_buf_append(&w->path, te.e.path,
					   te.e.path_len + 1)) {
				rc = bfs_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			w->path.len--; /* the NUL stays behind the end */
			if (te.nlists) {
				rc = lw_chunks(w, &te, err);
				ch = w->chunks;
				nch = w->nchunks;
			}
			if (!rc)
				rc = w->cb(w->arg, &te, (char *)w->path.data,
					   ch, nch);
			(*count)++;
			if (rc || te.e.type != BFS_T_DIR)
				continue;
			/* te's arrays live in plain, which the recursion
			 * does not touch; copy them anyway to be plain */
			sub =
			    malloc((te.nparts ? te.nparts : 1) * sizeof(*sub));
			if (!sub) {
				rc = bfs_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			if (te.nparts) /* an empty directory has none */
				memcpy(sub, te.parts, te.nparts * sizeof(*sub));
			n = 0;
			rc = lw_dir(w, (const uint8_t(*)[BFS_HASH_LEN])sub,
				    te.nparts, depth + 1, &n, err);
			free(sub);
			sub = NULL;
			if (!rc && n != te.count)
				rc = bfs_err_set(err, -EUCLEAN,
						 "directory '%s' has %" PRIu64
						 " entries below it, its count "
						 "says %" PRIu64,
						 (char *)w->path.data, n,
						 te.count);
			*count += n;
		}
		bfs_tree_part_free(p);
		p = NULL;
	}
	w->path.len = base;
	if (w->path.data)
		w->path.data[base] = 0;
	bfs_buf_free(&plain);
	bfs_buf_free(&prev);
	return rc;
}

int bfs_locmap_walk(struct bfs_locmap *m, struct bfs_repo *r,
		    const uint8_t (*root)[BFS_HASH_LEN], size_t nroot,
		    bfs_locmap_walk_cb cb, void *arg, uint64_t *count,
		    struct bfs_err *err)
{
	struct lwalk w = {.m = m, .r = r, .cb = cb, .arg = arg};
	uint64_t n = 0;
	int rc;

	if (bfs_buf_append(&w.path, "", 1))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	w.path.len = 0;
	rc = lw_dir(&w, root, nroot, 0, &n, err);
	if (count)
		*count = n;
	bfs_buf_free(&w.path);
	free(w.chunks);
	return rc;
}
