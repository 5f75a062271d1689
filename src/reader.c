/* reader.c - random access through the chunk cache (see reader.h).
 *
 * A read binary-searches the chunks covering its range and takes them
 * from the shared chunk cache.  Missing chunks are fetched with one
 * bfs_repo_read_chunks call per run (bfs_reader_plan_runs); a foreground
 * read hands every run but its first to the pool, so several cores verify
 * and decompress, and takes back the runs the pool has not started.
 * Sequential readers get readahead jobs in the same pool, dropped when
 * its queue is full.  Streaming is in reader_stream.c.
 *
 * Lock order: rfile->lock is a leaf; r->lock only guards the pool's
 * creation; the cache's lock is taken by the cache functions only.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"
#include "reader_int.h"
#include "sha256mb.h"
#include "store.h"

#define RA_MAX_QUEUED 64       /* pool queue; readahead beyond is dropped */
#define RA_START (512u << 10)  /* first readahead window */
#define RUN_BYTES (256u << 10) /* foreground: chunks per repo request */
#define SEQ_SLACK (1u << 20)   /* async reads arrive a little out of order */
/* How far behind the furthest byte read a request of a stream may still
 * arrive: the kernel keeps up to max_background (12 by default) async
 * readahead requests of up to 1 MiB in flight, answered by several FUSE
 * threads, so one may come several MiB late. */
#define SEQ_LAG (16u << 20)
#define MAX_DELEGATED 16

/* An open file.  chunks/starts are immutable after open. */
struct bfs_rfile {
	struct bfs_reader *r;
	struct bfs_chunkref *chunks;
	size_t n;
	uint64_t *starts;	/* n + 1: starts[i] = offset of chunk i */
	uint64_t size;		/* recorded size */
	uint64_t covered;	/* starts[n] */
	pthread_mutex_t lock;	/* protects next_off, ra */
	uint64_t next_off;	/* where the last read ended; for a stream
				   (ra.win > 0), the furthest end read */
	struct bfs_ra_state ra; /* readahead window */
	atomic_bool logged;	/* bfs_rfile_first_error answered */
};

/* A job for the pool.  Readahead: chunks to bring into the cache (ents
 * NULL).  Delegated load: a foreground read's entries it acquired with
 * BFS_CC_LOAD (ents set); whoever claims it first (a worker or the reader
 * itself) loads and completes them; the reader and the queue each hold a
 * reference (nref). */
struct rd_job {
	struct bfs_reader *r;
	size_t n;
	struct bfs_cc_entry **ents;
	atomic_int nref;
	atomic_bool claimed;
	struct bfs_chunkref refs[];
};

unsigned bfs_reader_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	/* All cores decode; two more overlap a remote store's latency. */
	if (n < 2)
		n = 2;
	return (unsigned)BFS_MIN(n + 2, 16);
}

int bfs_reader_create(struct bfs_repo *repo, struct bfs_chunkcache *cache,
		      const struct bfs_reader_config *cfg,
		      struct bfs_reader **out)
{
	struct bfs_reader *r;
	bool remote;

	*out = NULL;
	if (!repo)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->repo = repo;
	r->cache = cache;
	if (cfg)
		r->cfg = *cfg;
	if (!r->cfg.threads)
		r->cfg.threads = bfs_reader_default_threads();
	/* A remote store gets fewer, larger requests (per-request cost
	 * dominates there); locally, smaller jobs spread decoding sooner,
	 * unless a job's chunks are checked together on the AVX lanes of
	 * sha256mb.h (no SHA-NI), which they must fill (SHA-NI's pairs
	 * need only two). */
	remote = bfs_store_is_remote(repo->store);
	if (!r->cfg.ra_chunks)
		r->cfg.ra_chunks = remote ? 1024 : 256;
	if (!r->cfg.ra_job_max)
		r->cfg.ra_job_max = remote ? BFS_RA_JOB_REMOTE
				    : bfs_sha256_many_batch() > 2
					? BFS_RA_JOB_LANES
					: BFS_RA_JOB_LOCAL;
	pthread_mutex_init(&r->lock, NULL);
	atomic_init(&r->stopping, false);
	*out = r;
	return 0;
}

struct bfs_pool *bfs_reader_pool(struct bfs_reader *r)
{
	struct bfs_pool *p;

	pthread_mutex_lock(&r->lock);
	if (!r->pool && !r->pool_failed && !atomic_load(&r->stopping)) {
		struct bfs_pool_config pc = {
		    .threads = r->cfg.threads,
		    .queue = RA_MAX_QUEUED,
		    .name = "bfs-read",
		};

		if (bfs_pool_create(&pc, &r->pool) < 0)
			r->pool_failed = true; /* callers work alone */
	}
	p = r->pool;
	pthread_mutex_unlock(&r->lock);
	return p;
}

int bfs_reader_start(struct bfs_reader *r)
{
	return bfs_reader_pool(r) ? 0 : -ENOMEM;
}

void bfs_reader_destroy(struct bfs_reader *r)
{
	if (!r)
		return;
	/* Queued jobs still run, but see `stopping` and return at once. */
	atomic_store(&r->stopping, true);
	bfs_pool_destroy(r->pool);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ---- the run planner ---------------------------------------------------- */

static bool chunk_adjacent(const struct bfs_chunkref *a,
			   const struct bfs_chunkref *b)
{
	return memcmp(a->pack, b->pack, BFS_HASH_LEN) == 0 &&
	       b->offset == a->offset + a->clen;
}

int bfs_reader_check_lengths(const struct bfs_chunkref *refs, size_t n,
			     struct bfs_err *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (refs[i].len > BFS_READER_MAX_CHUNK) {
			char hex[BFS_HASH_HEX + 1];

			bfs_hex(hex, refs[i].hash, BFS_HASH_LEN);
			return bfs_err_set(
			    err, -EUCLEAN,
			    "chunk %s has an implausible length %u", hex,
			    refs[i].len);
		}
	}
	return 0;
}

int bfs_reader_plan_runs(const struct bfs_chunkref *refs, size_t n,
			 uint64_t max_bytes, size_t max_chunks,
			 struct bfs_run **out, size_t *nruns,
			 struct bfs_err *err)
{
	struct bfs_run *v;
	size_t i, j, k = 0;
	int rc;

	*out = NULL;
	*nruns = 0;
	rc = bfs_reader_check_lengths(refs, n, err);
	if (rc < 0)
		return rc;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i = j) {
		uint64_t total = refs[i].len;

		for (j = i + 1; j < n && j - i < max_chunks &&
				chunk_adjacent(&refs[j - 1], &refs[j]) &&
				total + refs[j].len <= max_bytes;
		     j++)
			total += refs[j].len;
		v[k].first = i;
		v[k].n = j - i;
		v[k].bytes = total;
		k++;
	}
	*out = v;
	*nruns = k;
	return 0;
}

/* ---- reading, and chunks whose pack vanished ---------------------------- */

/* The pack of refs[0..n) is gone: relocate each chunk and read it where
 * it is now. */
static int read_relocated(struct bfs_reader *r, const struct bfs_chunkref *refs,
			  size_t n, uint8_t **outs, struct bfs_err *err)
{
	char hex[BFS_HASH_HEX + 1], key[BFS_KEY_MAX];
	struct bfs_chunkref now;
	size_t i;
	int rc = 0;

	for (i = 0; i < n && !rc; i++) {
		bfs_hex(hex, refs[i].hash, BFS_HASH_LEN);
		bfs_repo_pack_key(key, refs[i].pack);
		rc = r->cfg.relocate(r->cfg.relocate_arg, refs[i].hash,
				     refs[i].pack, &now, err);
		if (rc == -ENOMEM)
			return bfs_err_set(err, rc, "out of memory");
		if (rc)
			return bfs_err_set(err, -EIO,
					   "chunk %s: its pack '%s' is gone "
					   "and no index object names it "
					   "elsewhere (%s)",
					   hex, key, strerror(-rc));
		if (now.len != refs[i].len ||
		    memcmp(now.hash, refs[i].hash, BFS_HASH_LEN))
			return bfs_err_set(err, -EIO,
					   "chunk %s: relocated with another "
					   "length (%u, not %u)",
					   hex, now.len, refs[i].len);
		rc = bfs_repo_read_chunk(r->repo, &now, outs[i], err);
		if (rc) {
			bfs_err_prefix(err, -EIO,
				       "chunk %s (its pack '%s' is gone; "
				       "relocated)",
				       hex, key);
			rc = -EIO;
		}
	}
	return rc;
}

/* Chunks of a request verified so far (a pack may vanish between two
 * ranges of one request: those already handed out are not read again). */
struct each_ctx {
	bfs_repo_chunk_done done;
	void *arg;
	bool *seen;
};

static void each_done(void *arg, size_t idx)
{
	struct each_ctx *c = arg;

	c->seen[idx] = true;
	if (c->done)
		c->done(c->arg, idx);
}

int bfs_reader_read_chunks_each(struct bfs_reader *r,
				const struct bfs_chunkref *refs, size_t n,
				uint8_t **outs, bfs_repo_chunk_done done,
				void *arg, struct bfs_err *err)
{
	struct each_ctx c = {done, arg, NULL};
	size_t i;
	int rc;

	if (n == 1) {
		rc = bfs_repo_read_chunk(r->repo, refs, outs[0], err);
		if (rc == -ENOENT && r->cfg.relocate)
			rc = read_relocated(r, refs, 1, outs, err);
		return rc;
	}
	c.seen = calloc(n, sizeof(*c.seen));
	if (!c.seen)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = bfs_repo_read_chunks_each(r->repo, refs, n, outs, each_done, &c,
				       err);
	/* Never write into a buffer already handed out: relocate only the
	 * chunks not verified yet. */
	if (rc == -ENOENT && r->cfg.relocate) {
		rc = 0;
		for (i = 0; i < n && !rc; i++) {
			if (c.seen[i])
				continue;
			rc = read_relocated(r, &refs[i], 1, &outs[i], err);
			if (rc == 0 && done)
				done(arg, i);
		}
	}
	free(c.seen);
	return rc;
}

int bfs_reader_read_chunks(struct bfs_reader *r,
			   const struct bfs_chunkref *refs, size_t n,
			   uint8_t **outs, struct bfs_err *err)
{
	return bfs_reader_read_chunks_each(r, refs, n, outs, NULL, NULL, err);
}

/* ---- fetching into the cache ------------------------------------------- */

/* Another thread's load of *ent failed (that thread reports nothing when
 * it is a pool worker): load the chunk once more ourselves, so that a
 * transient error heals and a lasting one comes with a message naming
 * the pack.  On success *ent is replaced and *rc cleared. */
static void refetch(struct bfs_reader *r, const struct bfs_chunkref *ref,
		    struct bfs_cc_entry **ent, int *rc, struct bfs_err *err)
{
	struct bfs_cc_entry *again = NULL;
	int st, lrc;

	st = bfs_chunkcache_acquire(r->cache, ref->hash, ref->len, &again);
	if (st == BFS_CC_LOAD) {
		uint8_t *o = bfs_cc_data(again);

		lrc = bfs_reader_read_chunks(r, ref, 1, &o, err);
		bfs_chunkcache_complete(r->cache, again, lrc);
	} else if (st == BFS_CC_PENDING) {
		lrc = bfs_chunkcache_wait(r->cache, again);
		if (lrc < 0)
			bfs_err_set(err, lrc, "chunk failed to load: %s",
				    strerror(-lrc));
	} else {
		lrc = st; /* a hit (0) or -ENOMEM */
	}
	if (lrc == 0) {
		bfs_chunkcache_release(r->cache, *ent);
		*ent = again;
		*rc = 0;
		return;
	}
	bfs_chunkcache_release(r->cache, again);
}

/* A run being loaded: which entries are completed already. */
struct run_load {
	struct bfs_chunkcache *cache;
	struct bfs_cc_entry **ents;
	bool *done;
};

/* One chunk of a run is verified: readers waiting for it go on while the
 * rest of the run decodes. */
static void run_chunk_done(void *arg, size_t idx)
{
	struct run_load *l = arg;

	bfs_chunkcache_complete(l->cache, l->ents[idx], 0);
	l->done[idx] = true;
}

/* Load run refs[0..n) into ents[0..n) (all acquired with BFS_CC_LOAD) and
 * complete them, each as soon as it is verified.  Returns the
 * repository's result. */
static int load_run(struct bfs_reader *r, const struct bfs_chunkref *refs,
		    struct bfs_cc_entry **ents, size_t n, struct bfs_err *err)
{
	struct run_load l = {r->cache, ents, NULL};
	uint8_t *one, **outs = &one;
	bool one_done = false;
	size_t k;
	int rc = -ENOMEM;

	l.done = &one_done;
	if (n > 1) {
		outs = calloc(n, sizeof(*outs));
		l.done = calloc(n, sizeof(*l.done));
	}
	if (outs && l.done) {
		for (k = 0; k < n; k++)
			outs[k] = bfs_cc_data(ents[k]);
		rc = bfs_reader_read_chunks_each(r, refs, n, outs,
						 run_chunk_done, &l, err);
	} else {
		bfs_err_set(err, rc, "out of memory");
	}
	for (k = 0; k < n; k++)
		if (!l.done || !l.done[k])
			bfs_chunkcache_complete(r->cache, ents[k], rc);
	if (n > 1) {
		free(outs);
		free(l.done);
	}
	return rc;
}

static void job_put(struct rd_job *j)
{
	if (atomic_fetch_sub(&j->nref, 1) == 1)
		free(j);
}

static void delegated_main(void *arg, void *tls)
{
	struct rd_job *j = arg;

	(void)tls;
	if (!atomic_exchange(&j->claimed, true)) {
		if (atomic_load(&j->r->stopping)) {
			size_t k;

			/* Never leave an entry loading forever. */
			for (k = 0; k < j->n; k++)
				bfs_chunkcache_complete(j->r->cache, j->ents[k],
							-EIO);
		} else {
			load_run(j->r, j->refs, j->ents, j->n, NULL);
		}
	}
	job_put(j);
}

/* Hand a run to the pool.  NULL if it could not be queued (the caller
 * loads it). */
static struct rd_job *delegate(struct bfs_reader *r,
			       const struct bfs_chunkref *refs,
			       struct bfs_cc_entry **ents, size_t n)
{
	struct bfs_pool *p = bfs_reader_pool(r);
	struct rd_job *j;

	if (!p)
		return NULL;
	j = malloc(sizeof(*j) + n * (sizeof(j->refs[0]) + sizeof(*j->ents)));
	if (!j)
		return NULL;
	j->r = r;
	j->n = n;
	j->ents = (struct bfs_cc_entry **)(void *)(j->refs + n);
	atomic_init(&j->nref, 2);
	atomic_init(&j->claimed, false);
	memcpy(j->refs, refs, n * sizeof(*refs));
	memcpy(j->ents, ents, n * sizeof(*ents));
	if (bfs_pool_trysubmit(p, delegated_main, j) < 0) {
		free(j);
		return NULL;
	}
	return j;
}

/* Bring refs[0..n) into the cache: ents[i] gets a reference (or NULL).
 * Missing chunks are fetched in runs (bfs_reader_plan_runs over the
 * chunks this call loads, at most run_bytes each); a foreground read
 * (!no_wait) hands all runs but the first to the pool and takes back any
 * the pool has not started.  Chunks other threads are loading are waited
 * for unless no_wait.  Returns 0 or the first error; *bad is the index
 * of a failed chunk. */
static int fetch(struct bfs_reader *r, const struct bfs_chunkref *refs,
		 size_t n, struct bfs_cc_entry **ents, uint64_t run_bytes,
		 bool no_wait, size_t *bad, struct bfs_err *err)
{
	int *state;
	size_t *idx = NULL, i, k, nl = 0, nr = 0, nd = 0;
	struct bfs_chunkref *lrefs = NULL;
	struct bfs_cc_entry **lents = NULL;
	struct bfs_run *runs = NULL;
	struct rd_job *jobs[MAX_DELEGATED];
	int rc = 0;

	*bad = 0;
	state = calloc(n, sizeof(*state));
	idx = calloc(n, sizeof(*idx));
	lrefs = calloc(n, sizeof(*lrefs));
	lents = calloc(n, sizeof(*lents));
	if (!state || !idx || !lrefs || !lents) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		for (i = 0; i < n; i++)
			ents[i] = NULL;
		goto out_free;
	}
	for (i = 0; i < n; i++) {
		state[i] = bfs_chunkcache_acquire(r->cache, refs[i].hash,
						  refs[i].len, &ents[i]);
		if (state[i] < 0 && !rc) {
			rc = bfs_err_set(err, state[i], "out of memory");
			*bad = i;
		}
		if (state[i] == BFS_CC_LOAD) {
			idx[nl] = i;
			lrefs[nl] = refs[i];
			lents[nl++] = ents[i];
		}
	}
	if (nl && bfs_reader_plan_runs(lrefs, nl, run_bytes, SIZE_MAX, &runs,
				       &nr, NULL) < 0) {
		/* Lengths were checked at open; only -ENOMEM is left. */
		nr = 1;
		runs = NULL;
	}
	/* Our loads first, then wait for others'. */
	for (k = 0; k < nr; k++) {
		size_t first = runs ? runs[k].first : 0;
		size_t cnt = runs ? runs[k].n : 1;
		struct bfs_err lerr = {""};
		int lrc;

		if (!runs) {
			/* No plan: one chunk at a time. */
			for (first = 0; first < nl; first++) {
				lrc = load_run(r, &lrefs[first], &lents[first],
					       1, &lerr);
				if (lrc < 0 && !rc) {
					rc = lrc;
					*bad = idx[first];
					if (err)
						*err = lerr;
				}
			}
			break;
		}
		if (!no_wait && k > 0 && nd < MAX_DELEGATED) {
			jobs[nd] =
			    delegate(r, &lrefs[first], &lents[first], cnt);
			if (jobs[nd]) {
				nd++;
				/* Waited for below like any chunk another
				 * thread loads. */
				for (i = first; i < first + cnt; i++)
					state[idx[i]] = BFS_CC_PENDING;
				continue;
			}
		}
		lrc = load_run(r, &lrefs[first], &lents[first], cnt, &lerr);
		if (lrc < 0 && !rc) {
			rc = lrc;
			*bad = idx[first];
			if (err)
				*err = lerr;
		}
	}
	/* Take back what the pool has not started. */
	for (i = 0; i < nd; i++) {
		if (!atomic_exchange(&jobs[i]->claimed, true))
			load_run(r, jobs[i]->refs, jobs[i]->ents, jobs[i]->n,
				 NULL);
		job_put(jobs[i]);
	}
	for (i = 0; i < n && !no_wait; i++) {
		int wrc;

		if (state[i] != BFS_CC_PENDING)
			continue;
		wrc = bfs_chunkcache_wait(r->cache, ents[i]);
		if (wrc < 0 && !rc) {
			rc = wrc;
			*bad = i;
			refetch(r, &refs[i], &ents[i], &rc, err);
		}
	}
out_free:
	free(runs);
	free(lents);
	free(lrefs);
	free(idx);
	free(state);
	return rc;
}

static void release_all(struct bfs_reader *r, struct bfs_cc_entry **ents,
			size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		bfs_chunkcache_release(r->cache, ents[i]);
}

/* ---- readahead ----------------------------------------------------------

 * A sequential reader keeps a window of chunks queued ahead of it, cut
 * into jobs of about bfs_reader_ra_job_bytes(window) each.  A job is one
 * store request (its chunks lie back to back in one pack: multi-MiB
 * ranges for a remote store) and is decoded by one worker; the window
 * holds several jobs, so every core decodes.  The window starts small
 * and doubles as the reader goes on (like the kernel's readahead), so
 * that one read does not start a large prefetch. */

uint64_t bfs_reader_ra_job_bytes(uint64_t win, uint64_t job_max)
{
	return BFS_MAX(BFS_MIN(win / BFS_RA_JOBS, job_max),
		       (uint64_t)BFS_RA_JOB_MIN);
}

/* The end of the job that starts at chunk from, within [from, to): it
 * takes chunks while they fit in job bytes, its first always. */
static size_t job_end(const uint64_t *starts, size_t from, size_t to,
		      uint64_t job)
{
	size_t end = from + 1;

	while (end < to && starts[end + 1] - starts[from] <= job)
		end++;
	return end;
}

/* The end of the last whole job of chunks [from, end) of n: a job is
 * whole when the chunk after it would not fit, or at the file's end.  A
 * remainder shorter than a job is left for the next top-up, where it
 * starts a whole job: queued now it would be a request of its own, and
 * a remote store pays per request (on s3rver a top-up of a job and a bit
 * made every other request a small one).  end when no job is whole (the
 * window holds less than one: queue it anyway). */
static size_t whole_jobs(const uint64_t *starts, size_t n, size_t from,
			 size_t end, uint64_t job)
{
	size_t k = from, j0, cut = from;

	if (end >= n)
		return end;
	while (k < end) {
		j0 = k;
		k = job_end(starts, j0, end, job);
		if (k < end || starts[k + 1] - starts[j0] > job)
			cut = k;
	}
	return cut > from ? cut : end;
}

void bfs_reader_ra_plan(const uint64_t *starts, size_t n, size_t first,
			const struct bfs_ra_limits *lim,
			struct bfs_ra_state *st, size_t *from, size_t *to)
{
	uint64_t max_bytes = lim->max_bytes;
	size_t max_chunks = lim->max_chunks;
	uint64_t ahead, job;
	size_t end;

	*from = *to = 0;
	if (!max_bytes || first >= n)
		return;
	if (st->next < first)
		st->next = first;
	if (!st->win)
		st->win = BFS_MIN(RA_START, max_bytes);
	ahead = starts[st->next] - starts[first];
	job = bfs_reader_ra_job_bytes(st->win, lim->job_max);
	/* Top up when a whole job fits in the window again: the pool always
	 * has the next jobs queued, and no job is cut small. */
	if (st->next >= n || ahead + job > st->win)
		return;
	end = st->next;
	while (end < n && end - first < max_chunks &&
	       starts[end + 1] - starts[first] <= st->win)
		end++;
	if (end == st->next && st->next == first)
		end = first + 1; /* a chunk larger than the window */
	end = whole_jobs(starts, n, st->next, end, job);
	*from = st->next;
	*to = end;
	st->next = end;
	st->win = BFS_MIN(st->win * 2, max_bytes);
}

static void ra_main(void *arg, void *tls)
{
	struct rd_job *j = arg;
	struct bfs_cc_entry **ents;
	size_t bad;

	(void)tls;
	if (atomic_load(&j->r->stopping))
		goto out_free;
	ents = calloc(j->n, sizeof(*ents));
	if (ents) {
		/* One request for the whole job; errors are for the reader
		 * to report. */
		fetch(j->r, j->refs, j->n, ents, UINT64_MAX, true, &bad, NULL);
		release_all(j->r, ents, j->n);
		free(ents);
	}
out_free:
	free(j);
}

/* Queue chunks [from, to) of f, split into jobs of about job_bytes. */
static void ra_queue(struct bfs_rfile *f, size_t from, size_t to,
		     uint64_t job_bytes)
{
	struct bfs_pool *p = bfs_reader_pool(f->r);

	while (p && from < to) {
		size_t end = job_end(f->starts, from, to, job_bytes);
		struct rd_job *j;

		j = malloc(sizeof(*j) + (end - from) * sizeof(j->refs[0]));
		if (!j)
			return;
		j->r = f->r;
		j->n = end - from;
		j->ents = NULL;
		memcpy(j->refs, &f->chunks[from], j->n * sizeof(j->refs[0]));
		if (bfs_pool_trysubmit(p, ra_main, j) < 0) {
			free(j);
			return;
		}
		from = end;
	}
}

/* Sequential detection and the readahead window for a read that covers
 * chunks up to last.  True if the read continues a sequential one. */
static bool maybe_readahead(struct bfs_rfile *f, uint64_t off, size_t size,
			    size_t last)
{
	const struct bfs_reader_config *c = &f->r->cfg;
	size_t from = 0, to = 0;
	uint64_t job = 0;
	bool seq;

	pthread_mutex_lock(&f->lock);
	seq = off + SEQ_SLACK >= f->next_off && off <= f->next_off + SEQ_SLACK;
	/* A stream's request that arrives after later ones (the kernel's
	 * async readahead, answered by several threads) is still part of
	 * the stream: it neither restarts the window nor moves next_off
	 * back (which would make the next request look random too). */
	if (!seq && f->ra.win && off < f->next_off &&
	    off + SEQ_LAG >= f->next_off)
		seq = true;
	if (off + size > f->next_off || !seq)
		f->next_off = off + size;
	if (!seq) {
		/* A random reader: no readahead until it reads on. */
		f->ra.win = 0;
		f->ra.next = 0;
	} else {
		/* The job size of the window the chunks are queued in. */
		struct bfs_ra_limits lim = {c->ra_bytes, c->ra_chunks,
					    c->ra_job_max};

		job = bfs_reader_ra_job_bytes(f->ra.win ? f->ra.win : RA_START,
					      c->ra_job_max);
		bfs_reader_ra_plan(f->starts, f->n, last + 1, &lim, &f->ra,
				   &from, &to);
	}
	pthread_mutex_unlock(&f->lock);
	if (to > from)
		ra_queue(f, from, to, job);
	return seq;
}

/* ---- files -------------------------------------------------------------- */

int bfs_reader_open(struct bfs_reader *r, const struct bfs_chunkref *refs,
		    size_t n, uint64_t size, struct bfs_rfile **out,
		    struct bfs_err *err)
{
	struct bfs_rfile *f;
	size_t i;
	int rc;

	*out = NULL;
	if (!r->cache)
		return bfs_err_set(err, -EINVAL, "reader has no chunk cache");
	rc = bfs_reader_check_lengths(refs, n, err);
	if (rc < 0)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	f->r = r;
	f->n = n;
	f->size = size;
	f->chunks = malloc((n ? n : 1) * sizeof(*f->chunks));
	f->starts = malloc((n + 1) * sizeof(*f->starts));
	if (!f->chunks || !f->starts) {
		free(f->chunks);
		free(f->starts);
		free(f);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	if (n)
		memcpy(f->chunks, refs, n * sizeof(*refs));
	f->starts[0] = 0;
	for (i = 0; i < n; i++)
		f->starts[i + 1] = f->starts[i] + f->chunks[i].len;
	f->covered = f->starts[n];
	pthread_mutex_init(&f->lock, NULL);
	atomic_init(&f->logged, false);
	*out = f;
	return 0;
}

void bfs_rfile_close(struct bfs_rfile *f)
{
	if (!f)
		return;
	free(f->chunks);
	free(f->starts);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

uint64_t bfs_rfile_size(const struct bfs_rfile *f)
{
	return f->size;
}

uint64_t bfs_rfile_covered(const struct bfs_rfile *f)
{
	return f->covered;
}

bool bfs_rfile_first_error(struct bfs_rfile *f)
{
	return !atomic_exchange(&f->logged, true);
}

/* First chunk whose range contains off (off < f->covered). */
static size_t chunk_at(const struct bfs_rfile *f, uint64_t off)
{
	size_t lo = 0, hi = f->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->starts[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

ssize_t bfs_rfile_view(struct bfs_rfile *f, uint64_t off, size_t len,
		       struct bfs_rview *v, struct bfs_err *err)
{
	struct bfs_reader *r = f->r;
	struct bfs_cc_entry **ents;
	size_t first, last, n, bad, i;
	uint64_t end;
	bool seq;
	int rc;

	memset(v, 0, sizeof(*v));
	if (off >= f->size || len == 0)
		return 0;
	end = off + len < off ? f->size : BFS_MIN(f->size, off + len);
	if (end > f->covered)
		return bfs_err_set(
		    err, -EIO, "the chunk list has no chunks for these bytes");
	first = chunk_at(f, off);
	last = chunk_at(f, end - 1);
	n = last - first + 1;
	seq = maybe_readahead(f, off, (size_t)(end - off), last);

	ents = calloc(n, sizeof(*ents));
	v->iov = calloc(n, sizeof(*v->iov));
	if (!ents || !v->iov) {
		free(ents);
		free(v->iov);
		v->iov = NULL;
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	rc = fetch(r, &f->chunks[first], n, ents, RUN_BYTES, false, &bad, err);
	if (rc < 0) {
		const struct bfs_chunkref *c = &f->chunks[first + bad];
		char pack[BFS_KEY_MAX], hash[BFS_HASH_HEX + 1];

		bfs_repo_pack_key(pack, c->pack);
		bfs_hex(hash, c->hash, BFS_HASH_LEN);
		bfs_err_prefix(err, rc, "chunk %.16s in pack '%s'", hash, pack);
		release_all(r, ents, n);
		free(ents);
		free(v->iov);
		v->iov = NULL;
		return rc;
	}
	for (i = 0; i < n; i++) {
		size_t c = first + i;
		uint64_t cs = BFS_MAX(off, f->starts[c]);
		uint64_t ce = BFS_MIN(end, f->starts[c + 1]);

		v->iov[i].iov_base = bfs_cc_data(ents[i]) + (cs - f->starts[c]);
		v->iov[i].iov_len = (size_t)(ce - cs);
	}
	v->n = n;
	v->r = r;
	v->ents = ents;
	v->nents = n;
	/* A sequential reader is done with every chunk it read to the end:
	 * drop them behind it (chunkcache.h) rather than let a stream push
	 * everything else out of the cache. */
	if (seq)
		v->behind = end == f->starts[last + 1] ? n : n - 1;
	v->bytes = (size_t)(end - off);
	return (ssize_t)v->bytes;
}

void bfs_rview_release(struct bfs_rview *v)
{
	size_t i;

	for (i = 0; v->ents && i < v->nents; i++) {
		if (i < v->behind)
			bfs_chunkcache_release_behind(v->r->cache, v->ents[i]);
		else
			bfs_chunkcache_release(v->r->cache, v->ents[i]);
	}
	free(v->ents);
	free(v->iov);
	memset(v, 0, sizeof(*v));
}

ssize_t bfs_rfile_read(struct bfs_rfile *f, void *buf, size_t len, uint64_t off,
		       struct bfs_err *err)
{
	struct bfs_rview v;
	ssize_t got;
	size_t i, at = 0;

	got = bfs_rfile_view(f, off, len, &v, err);
	if (got <= 0)
		return got;
	for (i = 0; i < v.n; i++) {
		memcpy((uint8_t *)buf + at, v.iov[i].iov_base,
		       v.iov[i].iov_len);
		at += v.iov[i].iov_len;
	}
	bfs_rview_release(&v);
	return got;
}

void bfs_reader_resync_wait(int64_t *last_ns)
{
	int64_t wait = *last_ns + 1000000000 - bfs_mono_ns();
	struct timespec ts;

	if (*last_ns && wait > 0) {
		ts.tv_sec = 0;
		ts.tv_nsec = (long)wait;
		nanosleep(&ts, NULL);
	}
	*last_ns = bfs_mono_ns();
}
