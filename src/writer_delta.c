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
 *     depth 1), its plain bytes from a bfs_chunkcache shared by the
 *     workers (no copy, one load per base), the delta frame,
 *     kept when bfs_delta_worth;
 *   consumer (calling thread, in order): a new chunk similar to
 *     nothing gets a try on the neighbour base (the previous version's
 *     chunk after the one the chunk before it matched); the chunk's
 *     sketch record; at the file's end the records become the "sk"
 *     blob.
 *
 * Memory: one lookup per file being written or in flight (at most
 * BFS_SKETCH_BLOB_RECS chunks each, about 250 bytes per chunk, plus 32
 * and about 80 bytes per chunk of the previous version), the base
 * cache (WR_BASE_CACHE_BYTES), and the sketch records of the file being
 * consumed (at most 1 MiB).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunkcache.h"
#include "crypt.h"
#include "log.h"
#include "writer_impl.h"

#define WR_BASE_CACHE_BYTES (64u << 20)

/* The previous version of a file: its sketches, and its chunk ids in
 * order with the position of each (first occurrence) for the neighbour
 * base.  Read-only once built. */
struct wr_delta {
	struct bfs_simidx idx;
	uint8_t (*ids)[BFS_HASH_LEN];
	size_t nids;
	struct bfs_hmap pos; /* {id[32] (key), pos u64} */
	unsigned refs;	     /* atomic */
};

struct wr_pos {
	uint8_t id[BFS_HASH_LEN];
	uint64_t pos;
};

/* The base cache: plain bytes of bases in a bfs_chunkcache (hash table,
 * LRU beyond WR_BASE_CACHE_BYTES, single-flight loading, references
 * without copies).  A candidate found to be a delta frame leaves the
 * cache with WR_BASE_IS_DELTA: a worker that waited for it loads it
 * again itself to learn its base (rare: bases are found at file begin
 * among the previous version's chunks, mostly stored whole). */
struct wr_bases {
	struct bfs_chunkcache *cc;
};

#define WR_BASE_IS_DELTA (-EXDEV)

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
		bfs_hmap_fini(&dx->pos);
		free(dx->ids);
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
	rc = bfs_hmap_init(&dx->pos, sizeof(struct wr_pos), BFS_HASH_LEN,
			   prev->nchunks, BFS_HMAP_PREHASHED);
	if (!rc && !(dx->ids = calloc(prev->nchunks, sizeof(*dx->ids))))
		rc = -ENOMEM;
	for (i = 0; i < n && !rc; i++) {
		bfs_sketch_get(&s, data + i * BFS_SKETCH_REC);
		rc = bfs_simidx_add(&dx->idx, prev->chunks[i].hash, &s, NULL);
	}
	for (i = 0; i < prev->nchunks && !rc; i++) {
		struct wr_pos wp = {.pos = i};

		memcpy(wp.id, prev->chunks[i].hash, BFS_HASH_LEN);
		memcpy(dx->ids[i], wp.id, BFS_HASH_LEN);
		rc = bfs_hmap_insert(&dx->pos, &wp, NULL);
		if (rc == -EEXIST) /* a repeated chunk: its first place */
			rc = 0;
	}
	dx->nids = prev->nchunks;
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
	int rc;

	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	rc = bfs_chunkcache_new(WR_BASE_CACHE_BYTES, &(*out)->cc);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

void wr_bases_free(struct wr_bases *c)
{
	if (!c)
		return;
	bfs_chunkcache_free(c->cc);
	free(c);
}

/* Where candidate id is stored (hostile: the index answer must name id,
 * a plausible length and a pack this repository has).  0 or -errno. */
static int base_locate(struct bfs_backup *b, const uint8_t id[BFS_HASH_LEN],
		       struct bfs_chunkref *ref)
{
	int rc = bfs_index_chunk_find(b->idx, id, ref);

	if (rc)
		return rc;
	if (memcmp(ref->hash, id, BFS_HASH_LEN) != 0 || !ref->len ||
	    ref->len > BFS_CHUNK_MAX_LIMIT || !wr_pack_present(b, ref->pack))
		return -ENOENT;
	return 0;
}

/* The plain bytes of the base for candidate id (id itself when stored
 * whole, else the base its delta frame names: depth 1), through the
 * cache.  0 with *out (a cache reference: read bfs_cc_data, release
 * with bfs_chunkcache_release) and base_id set; else -errno (no delta
 * then).  Any thread: the workers, and the consumer for the neighbour
 * base (it completes what it loads before it waits, as they do). */
static int base_get(struct bfs_backup *b, const uint8_t id[BFS_HASH_LEN],
		    uint8_t base_id[BFS_HASH_LEN], struct bfs_cc_entry **out,
		    struct bfs_err *err)
{
	struct bfs_chunkcache *cc = b->bases->cc;
	struct bfs_chunkref ref;
	struct bfs_cc_entry *e = NULL;
	uint8_t cur[BFS_HASH_LEN], next[BFS_HASH_LEN];
	int hop, tries, rc;

	*out = NULL;
	memcpy(cur, id, BFS_HASH_LEN);
	for (hop = 0; hop < 2; hop++) {
		rc = base_locate(b, cur, &ref);
		if (rc)
			return rc;
		/* a waiter that saw WR_BASE_IS_DELTA loads it itself */
		for (tries = 0; tries < 2; tries++) {
			rc = bfs_chunkcache_acquire(cc, cur, ref.len, &e);
			if (rc < 0)
				return rc;
			if (rc == BFS_CC_LOAD)
				break;
			if (rc == BFS_CC_PENDING)
				rc = bfs_chunkcache_wait(cc, e);
			if (rc == 0)
				goto out_hit;
			bfs_chunkcache_release(cc, e);
			e = NULL;
			if (rc != WR_BASE_IS_DELTA)
				return rc;
		}
		if (!e)
			return -ENOENT;
		rc = bfs_repo_read_whole(b->repo, &ref, bfs_cc_data(e), next,
					 err);
		bfs_chunkcache_complete(cc, e, rc > 0 ? WR_BASE_IS_DELTA : rc);
		if (rc == 0)
			goto out_hit;
		bfs_chunkcache_release(cc, e);
		e = NULL;
		if (rc < 0)
			return rc;
		memcpy(cur, next, BFS_HASH_LEN); /* a delta: its base */
	}
	/* a base that is a delta: never used */
	return bfs_err_set(err, -EUCLEAN,
			   "the base of the delta candidate is "
			   "a delta itself");
out_hit:
	memcpy(base_id, cur, BFS_HASH_LEN);
	*out = e;
	return 0;
}

/* Position of chunk id in dx's previous version, or -1. */
static int64_t prev_pos(const struct wr_delta *dx,
			const uint8_t id[BFS_HASH_LEN])
{
	const struct wr_pos *wp = bfs_hmap_find(&dx->pos, id);

	return wp ? (int64_t)wp->pos : -1;
}

/* Encode new chunk j (its plain frame in j->z) as a delta on candidate
 * cand (or cand's base) and keep it in j->z when worth it.  0 (kept or
 * not: j->is_delta says) or -errno (no delta). */
static int try_delta(struct bfs_backup *b, struct job *j,
		     const uint8_t cand[BFS_HASH_LEN], struct bfs_err *err)
{
	uint8_t base_id[BFS_HASH_LEN];
	struct bfs_buf dz = {0};
	struct bfs_cc_entry *base = NULL;
	size_t zlen = 0, plen;
	int rc;

	rc = base_get(b, cand, base_id, &base, err);
	if (rc || !memcmp(base_id, j->hash, BFS_HASH_LEN))
		goto out;
	rc = bfs_repo_delta_encode(b->repo, j->hash, base_id, bfs_cc_data(base),
				   bfs_cc_len(base), j->data, j->len, &dz,
				   &zlen, err);
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
	bfs_buf_free(&dz);
	bfs_chunkcache_release(b->bases->cc, base);
	return rc;
}

void wr_delta_chunk(struct bfs_backup *b, struct job *j)
{
	uint8_t cand[BFS_HASH_LEN];
	struct bfs_err err = {""};
	int rc;

	j->is_delta = false;
	j->nb_pos = -1;
	if (!j->want_sk)
		return;
	bfs_sketch_make(&j->sk, j->data, j->len);
	bfs_sketch_fold(&j->sk);
	if (!j->dx)
		return;
	if (j->result != R_NEW) {
		j->nb_pos = prev_pos(j->dx, j->hash);
		return;
	}
	if (!bfs_simidx_find(&j->dx->idx, &j->sk, cand))
		return;
	rc = try_delta(b, j, cand, &err);
	if (j->is_delta)
		j->nb_pos = prev_pos(j->dx, cand);
	if (rc && rc != -ENOENT)
		bfs_debug("chunk stored whole (no delta: %s)",
			  bfs_err_str(&err, rc));
}

void wr_delta_neighbour(struct bfs_backup *b, struct job *j)
{
	struct bfs_err err = {""};
	int64_t next;
	int rc;

	if (!j->want_sk)
		return;
	if (j->dx != b->nb_dx) {
		b->nb_dx = j->dx;
		b->nb_pos = -1;
	}
	if (j->nb_pos >= 0 || !j->dx || j->result != R_NEW || j->is_delta) {
		b->nb_pos = j->nb_pos;
		return;
	}
	next = b->nb_pos + 1;
	if (b->nb_pos < 0 || (uint64_t)next >= j->dx->nids)
		return;
	b->nb_pos = next;
	rc = try_delta(b, j, j->dx->ids[next], &err);
	if (j->is_delta)
		b->neighbour_deltas++;
	if (rc && rc != -ENOENT)
		bfs_debug("chunk stored whole (no neighbour delta: %s)",
			  bfs_err_str(&err, rc));
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
