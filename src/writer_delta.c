/* writer_delta.c - similarity deltas in the writer (doc/FORMAT.md
 * section 18): the sketches of a dump file's chunks (its "sk" blob), the
 * base lookup among the previous version of the same path, and the
 * delta encoding of a new chunk on the worker threads.
 *
 *   file begin (calling thread): the previous version of the path
 *     (bfs_index_prev_dir), its "sk" blob read and put in a struct
 *     wr_delta (a bfs_simidx, read-only from then on, reference-counted:
 *     chunk jobs of this file hold it while later files begin);
 *   worker: the chunk's sketch; for a new chunk the most similar chunk
 *     of the previous version (or that chunk's base when it is a delta:
 *     depth 1), its plain bytes from a bounded cache, the delta frame,
 *     kept when bfs_delta_worth;
 *   consumer (calling thread, in order): the chunk's sketch record;
 *     at the file's end the records become the "sk" blob.
 *
 * Memory: one lookup per file being written or in flight (at most
 * BFS_SKETCH_BLOB_RECS chunks each, about 250 bytes per chunk), the base
 * cache (WR_BASE_CACHE_BYTES), and the sketch records of the file being
 * consumed (at most 1 MiB).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypt.h"
#include "log.h"
#include "writer_impl.h"

#define WR_BASE_CACHE_BYTES (64u << 20)

struct wr_delta {
	struct bfs_simidx idx;
	unsigned refs; /* atomic */
};

struct wr_base {
	uint8_t id[BFS_HASH_LEN];
	uint8_t *data;
	size_t len;
	uint64_t used; /* tick of the last use: the lowest goes first */
};

/* The base cache: plain bytes of bases, least recently used evicted
 * beyond WR_BASE_CACHE_BYTES.  lock is a leaf (never held across a
 * store or index call). */
struct wr_bases {
	pthread_mutex_t lock;
	struct wr_base *v;
	size_t n, cap, bytes;
	uint64_t tick;
};

struct wr_delta *wr_delta_ref(struct wr_delta *dx)
{
	if (dx)
		__atomic_add_fetch(&dx->refs, 1, __ATOMIC_RELAXED);
	return dx;
}

void wr_delta_unref(struct wr_delta *dx)
{
	if (dx && __atomic_sub_fetch(&dx->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		bfs_simidx_fini(&dx->idx);
		free(dx);
	}
}

/* ---- file begin: the previous version's sketches ------------------- */

/* Read the "sk" blob of prev (the previous version of the file) into a
 * new lookup.  Any failure only means no deltas for this file: logged at
 * debug level, *out NULL. */
static int load_prev(struct bfs_backup *b, const struct bfs_index_prev *prev,
		     const char *path, struct wr_delta **out)
{
	struct bfs_chunkref ref;
	struct bfs_sketch s;
	struct bfs_err err = {""};
	struct wr_delta *dx = NULL;
	uint8_t *data = NULL;
	size_t i, n;
	int rc;

	*out = NULL;
	rc = bfs_index_chunk_find(b->idx, prev->sk, &ref);
	if (!rc && (ref.len > BFS_TREE_PART_MAX ||
		    memcmp(ref.hash, prev->sk, BFS_HASH_LEN) != 0))
		rc = bfs_err_set(&err, -EUCLEAN, "sketch blob located badly");
	if (!rc && !(data = malloc(ref.len ? ref.len : 1)))
		rc = -ENOMEM;
	if (!rc)
		rc = bfs_repo_read_chunk(b->repo, &ref, data, &err);
	if (!rc)
		rc = bfs_sketch_blob_check(data, ref.len, prev->nchunks, &n,
					   &err);
	if (!rc && !(dx = calloc(1, sizeof(*dx))))
		rc = -ENOMEM;
	if (rc)
		goto out;
	bfs_simidx_init(&dx->idx);
	dx->refs = 1;
	for (i = 0; i < n && !rc; i++) {
		bfs_sketch_get(&s, data + i * BFS_SKETCH_REC);
		rc = bfs_simidx_add(&dx->idx, prev->chunks[i].hash, &s, NULL);
	}
	if (!rc) {
		*out = dx;
		dx = NULL;
	}
out:
	if (rc == -ENOMEM)
		bfs_warn("'%s': no similarity deltas (out of memory)", path);
	else if (rc)
		bfs_debug("'%s': no similarity deltas: %s", path,
			  bfs_err_str(&err, rc));
	wr_delta_unref(dx);
	free(data);
	return rc == -ENOMEM ? rc : 0;
}

int wr_delta_file_begin(struct bfs_backup *b, const struct bfs_entry *e,
			enum bfs_profile profile)
{
	struct bfs_index_dir d = {0};
	const char *slash, *name;
	char *dir = NULL;
	size_t i, nlen;
	int rc = 0;

	wr_delta_unref(b->fdx);
	b->fdx = NULL;
	b->fsk = b->delta_on && wr_wants_map(e, profile);
	if (!b->fsk || !b->idx || !b->src_key)
		return 0;
	slash = memrchr(e->path, '/', e->path_len);
	name = slash ? slash + 1 : e->path;
	nlen = e->path_len - (size_t)(name - e->path);
	dir = strndup(e->path, slash ? (size_t)(slash - e->path) : 0);
	if (!dir)
		return -ENOMEM;
	if (bfs_index_prev_dir(b->idx, b->src_key, dir, &d) == 0) {
		for (i = 0; i < d.n; i++) {
			const struct bfs_index_prev *p = &d.v[i];

			if (p->e.path_len != nlen ||
			    memcmp(p->e.path, name, nlen) != 0)
				continue;
			if (p->has_sk && p->nchunks)
				rc = load_prev(b, p, e->path, &b->fdx);
			break;
		}
	}
	bfs_index_dir_clear(&d);
	free(dir);
	return rc;
}

/* ---- workers: bases and delta frames -------------------------------- */

int wr_bases_new(struct wr_bases **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	pthread_mutex_init(&(*out)->lock, NULL);
	return 0;
}

void wr_bases_free(struct wr_bases *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		free(c->v[i].data);
	free(c->v);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* A copy of cached base id into *data (malloc'ed); false when absent or
 * out of memory. */
static bool cache_get(struct wr_bases *c, const uint8_t id[BFS_HASH_LEN],
		      uint8_t **data, size_t *len)
{
	bool hit = false;
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n; i++) {
		if (memcmp(c->v[i].id, id, BFS_HASH_LEN) != 0)
			continue;
		*data = malloc(c->v[i].len ? c->v[i].len : 1);
		if (*data) {
			memcpy(*data, c->v[i].data, c->v[i].len);
			*len = c->v[i].len;
			c->v[i].used = ++c->tick;
			hit = true;
		}
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

/* Keep a copy of base id (best effort: nothing on ENOMEM). */
static void cache_put(struct wr_bases *c, const uint8_t id[BFS_HASH_LEN],
		      const uint8_t *data, size_t len)
{
	struct wr_base *nv;
	uint8_t *copy;
	size_t i, lru;

	if (len > WR_BASE_CACHE_BYTES / 4 || !(copy = malloc(len ? len : 1)))
		return;
	memcpy(copy, data, len);
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n; i++)
		if (!memcmp(c->v[i].id, id, BFS_HASH_LEN))
			goto out_dup; /* another worker was first */
	while (c->n && c->bytes + len > WR_BASE_CACHE_BYTES) {
		for (lru = 0, i = 1; i < c->n; i++)
			if (c->v[i].used < c->v[lru].used)
				lru = i;
		c->bytes -= c->v[lru].len;
		free(c->v[lru].data);
		c->v[lru] = c->v[--c->n];
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;

		nv = realloc(c->v, ncap * sizeof(*nv));
		if (!nv)
			goto out_dup;
		c->v = nv;
		c->cap = ncap;
	}
	memcpy(c->v[c->n].id, id, BFS_HASH_LEN);
	c->v[c->n].data = copy;
	c->v[c->n].len = len;
	c->v[c->n].used = ++c->tick;
	c->n++;
	c->bytes += len;
	copy = NULL;
out_dup:
	pthread_mutex_unlock(&c->lock);
	free(copy);
}

/* The plain bytes of the base for candidate id (id itself when stored
 * whole, else the base its delta frame names: depth 1), through the
 * cache.  0 with *data (malloc'ed), *len and base_id set; else -errno
 * (no delta then). */
static int base_get(struct bfs_backup *b, const uint8_t id[BFS_HASH_LEN],
		    uint8_t base_id[BFS_HASH_LEN], uint8_t **data, size_t *len,
		    struct bfs_err *err)
{
	struct bfs_chunkref ref;
	uint8_t cur[BFS_HASH_LEN], next[BFS_HASH_LEN];
	uint8_t *p;
	int hop, rc;

	memcpy(cur, id, BFS_HASH_LEN);
	for (hop = 0; hop < 2; hop++) {
		if (cache_get(b->bases, cur, data, len)) {
			memcpy(base_id, cur, BFS_HASH_LEN);
			return 0;
		}
		rc = bfs_index_chunk_find(b->idx, cur, &ref);
		if (rc)
			return rc;
		if (memcmp(ref.hash, cur, BFS_HASH_LEN) != 0 ||
		    ref.len > BFS_CHUNK_MAX_LIMIT ||
		    !wr_pack_present(b, ref.pack))
			return -ENOENT;
		p = malloc(ref.len ? ref.len : 1);
		if (!p)
			return -ENOMEM;
		rc = bfs_repo_read_whole(b->repo, &ref, p, next, err);
		if (rc == 0) {
			cache_put(b->bases, cur, p, ref.len);
			memcpy(base_id, cur, BFS_HASH_LEN);
			*data = p;
			*len = ref.len;
			return 0;
		}
		free(p);
		if (rc < 0)
			return rc;
		memcpy(cur, next, BFS_HASH_LEN); /* a delta: its base */
	}
	return -EUCLEAN; /* a base that is a delta: never used */
}

void wr_delta_chunk(struct bfs_backup *b, struct job *j)
{
	uint8_t cand[BFS_HASH_LEN], base_id[BFS_HASH_LEN];
	struct bfs_buf dz = {0};
	struct bfs_err err = {""};
	uint8_t *base = NULL;
	size_t blen = 0, zlen = 0, plen;
	int rc;

	j->is_delta = false;
	if (!j->want_sk)
		return;
	bfs_sketch_make(&j->sk, j->data, j->len);
	bfs_sketch_fold(&j->sk);
	if (j->result != R_NEW || !j->dx ||
	    !bfs_simidx_find(&j->dx->idx, &j->sk, cand))
		return;
	rc = base_get(b, cand, base_id, &base, &blen, &err);
	if (rc || !memcmp(base_id, j->hash, BFS_HASH_LEN))
		goto out;
	rc = bfs_repo_delta_encode(b->repo, j->hash, base_id, base, blen,
				   j->data, j->len, &dz, &zlen, &err);
	if (rc)
		goto out;
	plen = j->z.len - (b->repo->crypt ? BFS_CRYPT_OVERHEAD : 0);
	if (!bfs_delta_worth(zlen, plen) || dz.len >= j->z.len)
		goto out;
	bfs_buf_free(&j->z);
	j->z = dz;
	memset(&dz, 0, sizeof(dz));
	memcpy(j->base, base_id, BFS_HASH_LEN);
	j->is_delta = true;
out:
	if (rc && rc != -ENOENT)
		bfs_debug("chunk stored whole (no delta: %s)",
			  bfs_err_str(&err, rc));
	bfs_buf_free(&dz);
	free(base);
}

/* ---- consumer: the "sk" blob ------------------------------------------ */

int wr_delta_consume(struct bfs_backup *b, const struct job *j)
{
	uint8_t rec[BFS_SKETCH_REC];

	if (!j->want_sk ||
	    b->skrec.len >= BFS_SKETCH_BLOB_RECS * BFS_SKETCH_REC)
		return 0;
	bfs_sketch_put(rec, &j->sk);
	return bfs_buf_append(&b->skrec, rec, sizeof(rec));
}

int wr_delta_file_end(struct bfs_backup *b)
{
	struct bfs_err err = {""};
	int rc = 0;

	if (b->skrec.len) {
		rc = wr_store_blob(b, BFS_BLOB_TREE, b->skrec.data,
				   b->skrec.len, b->wt.sk, &err);
		if (rc)
			return wr_fail(b, rc, &err);
		b->wt.has_sk = true;
	}
	b->skrec.len = 0;
	return 0;
}
