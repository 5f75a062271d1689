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
 * Format 5 (b->sa_on): the sketch's pass also yields the chunk's
 * anchors; file begin reads the previous version's "sa" blob too, into
 * an anchor index (anchor -> the last chunk of the previous version
 * whose record holds it); a new chunk's second base is the chunk of the
 * previous version with the most of its anchors (ties: the earliest),
 * other than the first base (the sketch's; without one, the chunk with
 * the most anchors is the first and the next one the second).  Both
 * bases whole (depth 1), the frame's prefix in the previous version's
 * order; kept when smaller than the one-base frame and under the keep
 * rule.  The consumer appends each chunk's anchor record; at the file's
 * end they become the "sa" blob.
 *
 * Memory: one lookup per file being written or in flight (at most
 * BFS_SKETCH_BLOB_RECS chunks each, about 250 bytes per chunk, plus 32
 * and about 80 bytes per chunk of the previous version, and with
 * anchors at most BFS_ANCHOR_REC_N entries of about 12 bytes per chunk),
 * the base cache (WR_BASE_CACHE_BYTES), and the sketch and anchor
 * records of the file being consumed (at most 1 MiB each).
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
 * base; with has_anc its anchors.  Read-only once built. */
struct wr_delta {
	struct bfs_simidx idx;
	uint8_t (*ids)[BFS_HASH_LEN];
	size_t nids;
	struct bfs_hmap pos; /* {id[32] (key), pos u64} */
	struct bfs_hmap anc; /* {anchor u32 (key), pos u32}: the last one */
	bool has_anc;
	unsigned refs; /* atomic */
};

struct wr_anchor {
	uint32_t key;
	uint32_t pos;
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
		bfs_hmap_fini(&dx->anc);
		free(dx->ids);
		free(dx);
	}
}

/* ---- file begin: the previous version's sketches ------------------- */

/* The plain bytes of tree blob id (a sketch or anchor blob of prev,
 * at most BFS_TREE_PART_MAX bytes): 0 with *data (malloc'd) and *len,
 * or -errno. */
static int read_blob(struct bfs_backup *b, const uint8_t id[BFS_HASH_LEN],
		     const char *what, uint8_t **data, size_t *len,
		     struct bfs_err *err)
{
	struct bfs_chunkref ref;
	int rc;

	*data = NULL;
	rc = bfs_index_chunk_find(b->idx, id, &ref);
	if (!rc && (ref.len > BFS_TREE_PART_MAX ||
		    memcmp(ref.hash, id, BFS_HASH_LEN) != 0))
		rc = bfs_err_set(err, -EUCLEAN, "%s located badly", what);
	if (!rc && !(*data = malloc(ref.len ? ref.len : 1)))
		rc = -ENOMEM;
	if (!rc)
		rc = bfs_repo_read_chunk(b->repo, &ref, *data, err);
	if (rc) {
		free(*data);
		*data = NULL;
		return rc;
	}
	*len = ref.len;
	return 0;
}

/* Read the "sa" blob of prev into dx's anchor index.  Any failure but
 * -ENOMEM only means no second bases for this file (logged at debug
 * level). */
static int load_anchors(struct bfs_backup *b, const struct bfs_index_prev *prev,
			const char *path, struct wr_delta *dx)
{
	struct bfs_err err = {""};
	uint32_t v[BFS_ANCHOR_REC_N];
	uint8_t *data = NULL;
	size_t i, n = 0, len = 0;
	unsigned k, m;
	int rc;

	rc = read_blob(b, prev->sa, "anchor blob", &data, &len, &err);
	if (!rc)
		rc = bfs_anchor_blob_check(data, len, prev->nchunks, &n, &err);
	for (i = 0; i < n && !rc; i++) {
		m = bfs_anchors_get(v, data + i * BFS_ANCHOR_REC);
		for (k = 0; k < m && !rc; k++) {
			struct wr_anchor *ap;
			bool added;

			rc =
			    bfs_hmap_get(&dx->anc, &v[k], (void **)&ap, &added);
			if (!rc)
				ap->pos = (uint32_t)i; /* the last one */
		}
	}
	if (!rc)
		dx->has_anc = n > 0;
	else if (rc != -ENOMEM)
		bfs_debug("'%s': no second delta bases: %s", path,
			  bfs_err_str(&err, rc));
	free(data);
	return rc == -ENOMEM ? rc : 0;
}

/* Read the "sk" blob of prev (the previous version of the file) into a
 * new lookup, and with b->sa_on its "sa" blob.  Any failure only means
 * no deltas for this file: logged at debug level, *out NULL. */
static int load_prev(struct bfs_backup *b, const struct bfs_index_prev *prev,
		     const char *path, struct wr_delta **out)
{
	struct bfs_sketch s;
	struct bfs_err err = {""};
	struct wr_delta *dx = NULL;
	uint8_t *data = NULL;
	size_t i, n, len = 0;
	int rc;

	*out = NULL;
	rc = read_blob(b, prev->sk, "sketch blob", &data, &len, &err);
	if (!rc)
		rc = bfs_sketch_blob_check(data, len, prev->nchunks, &n, &err);
	if (!rc && !(dx = calloc(1, sizeof(*dx))))
		rc = -ENOMEM;
	if (rc)
		goto out;
	bfs_simidx_init(&dx->idx);
	/* cannot fail without a capacity hint */
	bfs_hmap_init(&dx->anc, sizeof(struct wr_anchor), sizeof(uint32_t), 0,
		      0);
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
	if (!rc && b->sa_on && prev->has_sa)
		rc = load_anchors(b, prev, path, dx);
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

/* Look for name among d's entries; if it is there, load its sketches
 * (when it has any) into b->fdx.  1 found, 0 not there, -errno. */
static int prev_version(struct bfs_backup *b, const struct bfs_index_dir *d,
			const char *name, size_t nlen, const char *path)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct bfs_index_prev *p = &d->v[i];

		if (p->e.path_len != nlen || memcmp(p->e.path, name, nlen) != 0)
			continue;
		if (p->has_sk && p->nchunks) {
			int rc = load_prev(b, p, path, &b->fdx);

			if (rc)
				return rc;
		}
		return 1;
	}
	return 0;
}

int wr_delta_file_begin(struct bfs_backup *b, const struct bfs_entry *e,
			enum bfs_profile profile)
{
	struct bfs_index_dir d = {0};
	const char *slash, *name;
	char *dir = NULL;
	size_t nlen;
	int rc = 0;

	wr_delta_unref(b->fdx);
	b->fdx = NULL;
	b->fsk = b->sk_on && wr_wants_map(e, profile);
	if (!b->fsk || !b->delta_on || !b->idx || !b->src_key)
		return 0;
	slash = memrchr(e->path, '/', e->path_len);
	name = slash ? slash + 1 : e->path;
	nlen = e->path_len - (size_t)(name - e->path);
	dir = strndup(e->path, slash ? (size_t)(slash - e->path) : 0);
	if (!dir)
		return -ENOMEM;
	if (bfs_index_prev_dir(b->idx, b->src_key, dir, &d) == 0)
		rc = prev_version(b, &d, name, nlen, e->path);
	bfs_index_dir_clear(&d);
	/* No earlier version in this source's last backup: a dump that is
	 * its source's whole output (a --stdin, --command or --pg-dump
	 * destination) takes its bases from the newest backup with that
	 * destination in any source (this job's first), so that switching
	 * --stdin to --pg-dump, or a connection string that changed, does
	 * not store the next dump whole.  Bases are picked by content, so a
	 * dump of another database there only finds none. */
	if (rc == 0 && b->src_dest && strlen(b->src_dest) == e->path_len &&
	    memcmp(b->src_dest, e->path, e->path_len) == 0 &&
	    bfs_index_prev_dest_dir(b->idx, b->src_dest, b->job, dir, &d) == 0)
		rc = prev_version(b, &d, name, nlen, e->path);
	bfs_index_dir_clear(&d);
	free(dir);
	return rc < 0 ? rc : 0;
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

/* The position in dx's previous version of the chunk holding the most
 * of j's anchors (each occurrence in j one vote; ties: the earliest),
 * leaving out chunks of id skip (may be NULL) and j itself; -1 when no
 * anchor matches. */
static int64_t anchor_vote(const struct wr_delta *dx, const struct job *j,
			   const uint8_t *skip)
{
	uint32_t pos[BFS_ANCHOR_MAX];
	unsigned i, k, n = 0, run, best_run = 0;
	int64_t best = -1;

	for (i = 0; i < j->an.n; i++) {
		const struct wr_anchor *ap =
		    bfs_hmap_find(&dx->anc, &j->an.v[i]);

		if (!ap || ap->pos >= dx->nids ||
		    (skip && !memcmp(dx->ids[ap->pos], skip, BFS_HASH_LEN)) ||
		    !memcmp(dx->ids[ap->pos], j->hash, BFS_HASH_LEN))
			continue;
		pos[n++] = ap->pos;
	}
	/* the most frequent (n <= BFS_ANCHOR_MAX: quadratic is fine) */
	for (i = 0; i < n; i++) {
		for (run = 0, k = 0; k < n; k++)
			run += pos[k] == pos[i];
		if (run > best_run ||
		    (run == best_run && (int64_t)pos[i] < best)) {
			best_run = run;
			best = pos[i];
		}
	}
	return best;
}

/* Encode new chunk j on two bases, the previous version's chunks at
 * positions p1 and p2 (each whole, or its base: depth 1), the prefix in
 * position order; keep the frame in j->z when it is smaller than what
 * j->z holds (a plain frame of plen bytes' zstd part, or a one-base
 * delta) and worth it against the plain frame.  0 (kept or not) or
 * -errno. */
static int try_two(struct bfs_backup *b, struct job *j, int64_t p1, int64_t p2,
		   size_t plen, struct bfs_err *err)
{
	const struct wr_delta *dx = j->dx;
	uint8_t ids[2][BFS_HASH_LEN];
	struct bfs_cc_entry *e[2] = {NULL, NULL};
	const void *bases[2];
	size_t blens[2], zlen = 0;
	struct bfs_buf dz = {0};
	int64_t t;
	int rc, i;

	if (p2 < p1) {
		t = p1;
		p1 = p2;
		p2 = t;
	}
	rc = base_get(b, dx->ids[p1], ids[0], &e[0], err);
	if (!rc)
		rc = base_get(b, dx->ids[p2], ids[1], &e[1], err);
	/* two distinct whole bases, neither the chunk itself */
	if (rc || !memcmp(ids[0], ids[1], BFS_HASH_LEN) ||
	    !memcmp(ids[0], j->hash, BFS_HASH_LEN) ||
	    !memcmp(ids[1], j->hash, BFS_HASH_LEN))
		goto out;
	for (i = 0; i < 2; i++) {
		bases[i] = bfs_cc_data(e[i]);
		blens[i] = bfs_cc_len(e[i]);
	}
	rc = bfs_repo_delta_encode_n(b->repo, j->hash, 2,
				     (const uint8_t(*)[BFS_HASH_LEN])ids, bases,
				     blens, j->data, j->len, &dz, &zlen, err);
	if (rc)
		goto out;
	if (!bfs_delta_worth(zlen, plen) || dz.len >= j->z.len)
		goto out;
	bfs_buf_free(&j->z);
	j->z = dz;
	memset(&dz, 0, sizeof(dz));
	memcpy(j->base, ids[0], BFS_HASH_LEN);
	memcpy(j->base2, ids[1], BFS_HASH_LEN);
	j->is_delta = j->two_bases = true;
out:
	bfs_buf_free(&dz);
	bfs_chunkcache_release(b->bases->cc, e[0]);
	bfs_chunkcache_release(b->bases->cc, e[1]);
	return rc;
}

void wr_delta_chunk(struct bfs_backup *b, struct job *j)
{
	uint8_t cand[BFS_HASH_LEN];
	struct bfs_err err = {""};
	int64_t p1 = -1, p2;
	size_t plen;
	bool found;
	int rc = 0;

	j->is_delta = j->two_bases = false;
	j->nb_pos = -1;
	if (!j->want_sk)
		return;
	if (b->sa_on) {
		bfs_sketch_make_anchors(&j->sk, &j->an, j->data, j->len);
	} else {
		bfs_sketch_make(&j->sk, j->data, j->len);
		j->an.n = 0;
	}
	bfs_sketch_fold(&j->sk);
	if (!j->dx)
		return;
	if (j->result != R_NEW) {
		j->nb_pos = prev_pos(j->dx, j->hash);
		return;
	}
	plen = j->z.len - (b->repo->crypt ? BFS_CRYPT_OVERHEAD : 0);
	found = bfs_simidx_find(&j->dx->idx, &j->sk, cand);
	if (found) {
		rc = try_delta(b, j, cand, &err);
		p1 = prev_pos(j->dx, cand);
	}
	if (rc && rc != -ENOENT)
		bfs_debug("chunk stored whole (no delta: %s)",
			  bfs_err_str(&err, rc));
	if (j->dx->has_anc && (!found || p1 >= 0)) {
		/* the second base; without a sketch base, the chunk with
		 * the most anchors is the first */
		if (!found) {
			p1 = anchor_vote(j->dx, j, NULL);
			if (p1 >= 0 && try_delta(b, j, j->dx->ids[p1], &err))
				p1 = -1;
		}
		p2 = p1 >= 0 ? anchor_vote(j->dx, j, j->dx->ids[p1]) : -1;
		rc = p2 >= 0 ? try_two(b, j, p1, p2, plen, &err) : 0;
		if (rc && rc != -ENOENT)
			bfs_debug("chunk kept on one base (no second: %s)",
				  bfs_err_str(&err, rc));
	}
	if (j->is_delta && p1 >= 0)
		j->nb_pos = p1;
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

/* ---- consumer: the "sk" and "sa" blobs -------------------------------- */

int wr_delta_consume(struct bfs_backup *b, const struct job *j)
{
	uint8_t rec[BFS_SKETCH_REC], arec[BFS_ANCHOR_REC];
	int rc;

	if (!j->want_sk ||
	    b->skrec.len >= BFS_SKETCH_BLOB_RECS * BFS_SKETCH_REC)
		return 0;
	bfs_sketch_put(rec, &j->sk);
	rc = bfs_buf_append(&b->skrec, rec, sizeof(rec));
	/* one anchor record per sketch record: the same chunks */
	if (!rc && b->sa_on) {
		bfs_anchors_put(arec, &j->an);
		rc = bfs_buf_append(&b->sarec, arec, sizeof(arec));
	}
	return rc;
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
	if (b->sarec.len) {
		rc = wr_store_blob(b, BFS_BLOB_TREE, b->sarec.data,
				   b->sarec.len, b->wt.sa, &err);
		if (rc)
			return wr_fail(b, rc, &err);
		b->wt.has_sa = true;
	}
	b->skrec.len = b->sarec.len = 0;
	return 0;
}
