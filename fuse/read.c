/* read.c - file contents: open loads the chunk list once per handle, read
 * binary-searches the chunks covering the range and takes them from the
 * shared chunk cache, fetching missing ones with one bfs_repo_read_chunks
 * call per run of chunks in the same pack.  Sequential readers get
 * readahead by a small worker pool, bounded in bytes. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "fuse/mount_int.h"
#include "src/log.h"

#define RA_MAX_QUEUED 64          /* jobs waiting; more are dropped */
#define RA_JOB_BYTES (1u << 20)   /* one job brings ~1 MiB */
#define RA_START (512u << 10)     /* first readahead window */
#define RUN_BYTES (256u << 10)    /* chunks completed per repo request */
#define SEQ_SLACK (1u << 20)      /* async reads arrive a little out of order */

/* An open file.  chunks/starts are immutable after open. */
struct fh {
	int64_t id;                  /* entry carrying the data */
	struct bfs_chunkref *chunks;
	size_t n;
	uint64_t *starts;            /* n + 1: starts[i] = offset of chunk i */
	uint64_t size;               /* recorded size */
	uint64_t covered;            /* starts[n] */
	pthread_mutex_t lock;        /* protects next_off, ra_next, ra_win */
	uint64_t next_off;           /* where the last read ended */
	size_t ra_next;              /* first chunk not queued for readahead */
	uint64_t ra_win;             /* current readahead window, bytes */
	atomic_bool logged;          /* an error was logged for this handle */
};

static void fh_free(struct fh *f)
{
	if (!f)
		return;
	free(f->chunks);
	free(f->starts);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void mnt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bfs_mount *m = fuse_req_userdata(req);
	struct bfs_catalog *cat = mnt_cat(m);
	struct bfs_cat_entry e = { 0 };
	struct bfs_err err = { "" };
	struct fh *f = NULL;
	int64_t id;
	size_t i;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!cat) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (ino == BFS_INO_LATEST) {
		fuse_reply_err(req, ELOOP);
		return;
	}
	id = (int64_t)ino - BFS_INO_BASE;
	rc = bfs_catalog_get(cat, id, &e, &err);
	if (rc == 0 && e.link_id && e.link_id != e.id) {
		id = e.link_id;
		bfs_cat_entry_clear(&e);
		rc = bfs_catalog_get(cat, id, &e, &err);
	}
	if (rc < 0) {
		if (rc != -ENOENT)
			bfs_err_log("catalog: cannot get entry %lld: %s",
				    (long long)id, bfs_err_str(&err, rc));
		fuse_reply_err(req, mnt_errno(rc));
		return;
	}
	if (e.e.type == BFS_T_DIR) {
		rc = -EISDIR;
		goto out_err;
	}
	if (e.e.type != BFS_T_FILE) {
		rc = -EINVAL;
		goto out_err;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		rc = -ENOMEM;
		goto out_err;
	}
	pthread_mutex_init(&f->lock, NULL);
	f->id = id;
	f->size = e.e.size;
	if (e.e.error) {
		char path[1024];

		mnt_entry_path(cat, id, path, sizeof(path));
		bfs_warn("cannot open '%s': it was unreadable at backup time: "
			 "%s", path, e.e.error);
		rc = -EIO;
		goto out_err;
	}
	rc = bfs_catalog_chunks(cat, id, &f->chunks, &f->n, &err);
	if (rc < 0) {
		char path[1024];

		mnt_entry_path(cat, id, path, sizeof(path));
		bfs_err_log("cannot open '%s': chunk list: %s", path,
			    bfs_err_str(&err, rc));
		rc = -EIO;
		goto out_err;
	}
	f->starts = malloc((f->n + 1) * sizeof(*f->starts));
	if (!f->starts) {
		rc = -ENOMEM;
		goto out_err;
	}
	f->starts[0] = 0;
	for (i = 0; i < f->n; i++)
		f->starts[i + 1] = f->starts[i] + f->chunks[i].len;
	f->covered = f->starts[f->n];
	if (f->covered != f->size) {
		char path[1024];

		/* Reads past the covered bytes fail with EIO below. */
		mnt_entry_path(cat, id, path, sizeof(path));
		bfs_err_log("'%s': chunks cover %llu bytes but the size is "
			    "%llu", path, (unsigned long long)f->covered,
			    (unsigned long long)f->size);
	}
	bfs_cat_entry_clear(&e);
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 1;      /* contents never change */
	fuse_reply_open(req, fi);
	return;

out_err:
	bfs_cat_entry_clear(&e);
	fh_free(f);
	fuse_reply_err(req, rc == -EISDIR ? EISDIR : rc == -EINVAL ? EINVAL
						   : mnt_errno(rc));
}

void mnt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fh_free((struct fh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* ---- fetching --------------------------------------------------------- */

/* Another thread's load of *ent failed (that thread logs nothing when it
 * is a readahead worker): load the chunk once more ourselves, so that a
 * transient error heals and a lasting one comes with a message naming
 * the pack.  On success *ent is replaced and *rc cleared. */
static void refetch(struct bfs_mount *m, const struct bfs_chunkref *ref,
		    struct bfs_cc_entry **ent, int *rc, struct bfs_err *err)
{
	struct bfs_cc_entry *again = NULL;
	int st, r;

	st = bfs_chunkcache_acquire(m->cache, ref->hash, ref->len, &again);
	if (st == BFS_CC_LOAD) {
		uint8_t *o = bfs_cc_data(again);

		r = bfs_repo_read_chunks(m->repo, ref, 1, &o, err);
		bfs_chunkcache_complete(m->cache, again, r);
	} else if (st == BFS_CC_PENDING) {
		r = bfs_chunkcache_wait(m->cache, again);
		if (r < 0)
			bfs_err_set(err, r, "chunk failed to load: %s",
				    strerror(-r));
	} else {
		r = st;    /* a hit (0) or -ENOMEM */
	}
	if (r == 0) {
		bfs_chunkcache_release(m->cache, *ent);
		*ent = again;
		*rc = 0;
		return;
	}
	bfs_chunkcache_release(m->cache, again);
}

/* Load refs[from..to) whose state is BFS_CC_LOAD (one pack) and complete
 * their entries.  Returns the repository's result. */
static int load_run(struct bfs_mount *m, const struct bfs_chunkref *refs,
		    struct bfs_cc_entry **ents, const int *state, size_t from,
		    size_t to, struct bfs_chunkref *run, uint8_t **outs,
		    struct bfs_err *err)
{
	size_t k = 0, r;
	int rc;

	for (r = from; r < to; r++) {
		if (state[r] != BFS_CC_LOAD)
			continue;
		run[k] = refs[r];
		outs[k] = bfs_cc_data(ents[r]);
		k++;
	}
	rc = bfs_repo_read_chunks(m->repo, run, k, outs, err);
	for (r = from; r < to; r++)
		if (state[r] == BFS_CC_LOAD)
			bfs_chunkcache_complete(m->cache, ents[r], rc);
	return rc;
}

static void job_put(struct ra_job *j)
{
	if (atomic_fetch_sub(&j->nref, 1) == 1)
		free(j);
}

/* Load a delegated job's entries (the caller claimed it). */
static void run_owned(struct bfs_mount *m, struct ra_job *j)
{
	uint8_t **outs = calloc(j->n, sizeof(*outs));
	size_t i;
	int rc = -ENOMEM;

	if (outs) {
		for (i = 0; i < j->n; i++)
			outs[i] = bfs_cc_data(j->ents[i]);
		rc = bfs_repo_read_chunks(m->repo, j->refs, j->n, outs, NULL);
		free(outs);
	}
	for (i = 0; i < j->n; i++)
		bfs_chunkcache_complete(m->cache, j->ents[i], rc);
}

/* Hand run [from, to) of a foreground read to the pool (front of the
 * queue).  NULL if it could not be queued (the caller loads it). */
static struct ra_job *delegate(struct bfs_mount *m,
			       const struct bfs_chunkref *refs,
			       struct bfs_cc_entry **ents, const int *state,
			       size_t from, size_t to)
{
	struct ra_job *j;
	size_t k = 0, r;

	for (r = from; r < to; r++)
		k += state[r] == BFS_CC_LOAD;
	j = malloc(sizeof(*j) + k * (sizeof(j->refs[0]) + sizeof(*j->ents)));
	if (!j)
		return NULL;
	j->next = NULL;
	j->n = k;
	j->ents = (struct bfs_cc_entry **)(void *)(j->refs + k);
	atomic_init(&j->nref, 2);
	atomic_init(&j->claimed, false);
	for (r = from, k = 0; r < to; r++) {
		if (state[r] != BFS_CC_LOAD)
			continue;
		j->refs[k] = refs[r];
		j->ents[k++] = ents[r];
	}
	pthread_mutex_lock(&m->ra.lock);
	if (m->ra.stop || !m->ra.nth) {
		pthread_mutex_unlock(&m->ra.lock);
		free(j);
		return NULL;
	}
	j->next = m->ra.head;
	m->ra.head = j;
	if (!m->ra.tail)
		m->ra.tail = j;
	m->ra.queued++;
	pthread_cond_signal(&m->ra.cond);
	pthread_mutex_unlock(&m->ra.lock);
	return j;
}

#define MAX_DELEGATED 16

/* Bring refs[0..n) into the cache: ents[i] gets a reference (or NULL).
 * Missing chunks are fetched in runs of consecutive chunks of one pack
 * (at most RUN_BYTES each); a foreground read (!no_wait) hands all runs
 * but the first to the worker pool, so both cores decompress and verify,
 * and takes back any a busy pool has not started.  Chunks other threads
 * are loading are waited for unless no_wait.  Returns 0 or the first
 * error; *bad is the index of a failed chunk. */
static int fetch(struct bfs_mount *m, const struct bfs_chunkref *refs,
		 size_t n, struct bfs_cc_entry **ents, bool no_wait,
		 size_t *bad, struct bfs_err *err)
{
	int *state;
	size_t i, j, nd = 0;
	int rc = 0;
	struct bfs_chunkref *run = NULL;
	uint8_t **outs = NULL;
	struct ra_job *jobs[MAX_DELEGATED];
	size_t jfrom[MAX_DELEGATED], jto[MAX_DELEGATED];
	bool first = true;

	*bad = 0;
	state = calloc(n, sizeof(*state));
	run = calloc(n, sizeof(*run));
	outs = calloc(n, sizeof(*outs));
	if (!state || !run || !outs) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		for (i = 0; i < n; i++)
			ents[i] = NULL;
		goto out_free;
	}
	for (i = 0; i < n; i++) {
		state[i] = bfs_chunkcache_acquire(m->cache, refs[i].hash,
						  refs[i].len, &ents[i]);
		if (state[i] < 0 && !rc) {
			rc = bfs_err_set(err, state[i], "out of memory");
			*bad = i;
		}
	}
	/* Our loads first (runs of one pack), then wait for others'. */
	for (i = 0; i < n; i = j) {
		uint64_t bytes;
		size_t k = 0;
		int lrc;
		struct bfs_err lerr = { "" };

		if (state[i] != BFS_CC_LOAD) {
			j = i + 1;
			continue;
		}
		for (j = i, bytes = 0; j < n; j++) {
			if (state[j] != BFS_CC_LOAD)
				continue;
			/* Bounded runs: waiters get their chunks sooner. */
			if (memcmp(refs[j].pack, refs[i].pack, BFS_HASH_LEN) ||
			    (k && bytes + refs[j].len > RUN_BYTES))
				break;
			bytes += refs[j].len;
			k++;
		}
		if (!no_wait && !first && nd < MAX_DELEGATED) {
			jobs[nd] = delegate(m, refs, ents, state, i, j);
			if (jobs[nd]) {
				jfrom[nd] = i;
				jto[nd++] = j;
				continue;
			}
		}
		first = false;
		lrc = load_run(m, refs, ents, state, i, j, run, outs, &lerr);
		if (lrc < 0 && !rc) {
			rc = lrc;
			*bad = i;
			if (err)
				*err = lerr;
		}
	}
	/* Take back what the pool has not started; the rest is waited for
	 * below like any chunk another thread loads. */
	for (i = 0; i < nd; i++) {
		size_t r;

		if (!atomic_exchange(&jobs[i]->claimed, true))
			run_owned(m, jobs[i]);
		job_put(jobs[i]);
		for (r = jfrom[i]; r < jto[i]; r++)
			if (state[r] == BFS_CC_LOAD)
				state[r] = BFS_CC_PENDING;
	}
	for (i = 0; i < n; i++) {
		int wrc;

		if (state[i] != BFS_CC_PENDING)
			continue;
		if (no_wait)
			continue;
		wrc = bfs_chunkcache_wait(m->cache, ents[i]);
		if (wrc < 0 && !rc) {
			rc = wrc;
			*bad = i;
			refetch(m, &refs[i], &ents[i], &rc, err);
		}
	}
out_free:
	free(state);
	free(run);
	free(outs);
	return rc;
}

static void release_all(struct bfs_mount *m, struct bfs_cc_entry **ents,
			size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		bfs_chunkcache_release(m->cache, ents[i]);
}

/* ---- readahead pool --------------------------------------------------- */

static void *ra_main(void *arg)
{
	struct bfs_mount *m = arg;

	pthread_mutex_lock(&m->ra.lock);
	for (;;) {
		struct ra_job *j;
		struct bfs_cc_entry **ents;
		size_t bad;

		while (!m->ra.stop && !m->ra.head)
			pthread_cond_wait(&m->ra.cond, &m->ra.lock);
		if (m->ra.stop)
			break;
		j = m->ra.head;
		m->ra.head = j->next;
		if (!m->ra.head)
			m->ra.tail = NULL;
		m->ra.queued--;
		pthread_mutex_unlock(&m->ra.lock);

		if (j->ents) {
			if (!atomic_exchange(&j->claimed, true))
				run_owned(m, j);
			job_put(j);
			pthread_mutex_lock(&m->ra.lock);
			continue;
		}
		ents = calloc(j->n, sizeof(*ents));
		if (ents) {
			/* Errors are for the reader to report. */
			fetch(m, j->refs, j->n, ents, true, &bad, NULL);
			release_all(m, ents, j->n);
			free(ents);
		}
		free(j);
		pthread_mutex_lock(&m->ra.lock);
	}
	pthread_mutex_unlock(&m->ra.lock);
	return NULL;
}

int mnt_ra_start(struct bfs_mount *m, unsigned nthreads)
{
	unsigned i;
	int rc;

	m->ra.th = calloc(nthreads, sizeof(*m->ra.th));
	if (!m->ra.th)
		return -ENOMEM;
	for (i = 0; i < nthreads; i++) {
		rc = pthread_create(&m->ra.th[i], NULL, ra_main, m);
		if (rc) {
			mnt_ra_stop(m);
			return -rc;
		}
		m->ra.nth++;
	}
	return 0;
}

void mnt_ra_stop(struct bfs_mount *m)
{
	unsigned i;
	struct ra_job *j, *next;

	pthread_mutex_lock(&m->ra.lock);
	m->ra.stop = true;
	pthread_cond_broadcast(&m->ra.cond);
	pthread_mutex_unlock(&m->ra.lock);
	for (i = 0; i < m->ra.nth; i++)
		pthread_join(m->ra.th[i], NULL);
	m->ra.nth = 0;
	free(m->ra.th);
	m->ra.th = NULL;
	for (j = m->ra.head; j; j = next) {
		next = j->next;
		if (j->ents) {
			/* No reader is left when the pool stops; still, never
			 * leave an entry loading forever. */
			if (!atomic_exchange(&j->claimed, true)) {
				size_t k;

				for (k = 0; k < j->n; k++)
					bfs_chunkcache_complete(m->cache,
								j->ents[k],
								-EIO);
			}
			job_put(j);
		} else {
			free(j);
		}
	}
	m->ra.head = m->ra.tail = NULL;
	m->ra.queued = 0;
}

/* Queue chunks [from, to) of f, split into jobs of about RA_JOB_BYTES. */
static void ra_queue(struct bfs_mount *m, const struct fh *f, size_t from,
		     size_t to)
{
	while (from < to) {
		size_t end = from;
		uint64_t bytes = 0;
		struct ra_job *j;

		while (end < to && (end == from || bytes < RA_JOB_BYTES))
			bytes += f->chunks[end++].len;
		j = malloc(sizeof(*j) + (end - from) * sizeof(j->refs[0]));
		if (!j)
			return;
		j->next = NULL;
		j->n = end - from;
		j->ents = NULL;
		atomic_init(&j->nref, 1);
		atomic_init(&j->claimed, false);
		memcpy(j->refs, &f->chunks[from], j->n * sizeof(j->refs[0]));
		pthread_mutex_lock(&m->ra.lock);
		if (m->ra.stop || m->ra.queued >= RA_MAX_QUEUED) {
			pthread_mutex_unlock(&m->ra.lock);
			free(j);
			return;
		}
		if (m->ra.tail)
			m->ra.tail->next = j;
		else
			m->ra.head = j;
		m->ra.tail = j;
		m->ra.queued++;
		pthread_cond_signal(&m->ra.cond);
		pthread_mutex_unlock(&m->ra.lock);
		from = end;
	}
}

/* Sequential detection and the readahead window for a read that covers
 * chunks up to last. */
static void maybe_readahead(struct bfs_mount *m, struct fh *f, uint64_t off,
			    size_t size, size_t last)
{
	size_t from = 0, to = 0;
	bool seq;

	pthread_mutex_lock(&f->lock);
	seq = off + SEQ_SLACK >= f->next_off && off <= f->next_off + SEQ_SLACK;
	if (off + size > f->next_off || !seq)
		f->next_off = off + size;
	if (!seq) {
		/* A random reader: no readahead until it reads on. */
		f->ra_win = 0;
		f->ra_next = 0;
	} else if (m->ra_bytes && last + 1 < f->n) {
		size_t first = last + 1;
		uint64_t ahead;

		if (f->ra_next < first)
			f->ra_next = first;
		if (!f->ra_win)
			f->ra_win = BFS_MIN(RA_START, m->ra_bytes);
		ahead = f->starts[f->ra_next] - f->starts[first];
		/* Top up when less than half the window is queued; the
		 * window doubles each time (like the kernel's readahead),
		 * so one 1 MiB read does not start a 32 MiB prefetch. */
		if (ahead < f->ra_win / 2) {
			from = f->ra_next;
			to = from;
			while (to < f->n && to - first < m->ra_chunks &&
			       f->starts[to + 1] - f->starts[first] <=
				       f->ra_win)
				to++;
			f->ra_next = to;
			f->ra_win = BFS_MIN(f->ra_win * 2, m->ra_bytes);
		}
	}
	pthread_mutex_unlock(&f->lock);
	if (to > from)
		ra_queue(m, f, from, to);
}

/* First chunk whose range contains off (off < f->covered). */
static size_t chunk_at(const struct fh *f, uint64_t off)
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

static void log_read_error(struct bfs_mount *m, struct fh *f,
			   const struct bfs_chunkref *c, int rc,
			   const struct bfs_err *err)
{
	struct bfs_catalog *cat;
	char path[1024], pack[BFS_KEY_MAX], hash[BFS_HASH_HEX + 1];

	if (atomic_exchange(&f->logged, true))
		return;
	cat = mnt_cat(m);
	if (cat)
		mnt_entry_path(cat, f->id, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "entry %lld", (long long)f->id);
	bfs_repo_pack_key(pack, c->pack);
	bfs_hex(hash, c->hash, BFS_HASH_LEN);
	bfs_err_log("cannot read '%s' (chunk %.16s in pack '%s'): %s", path,
		    hash, pack, bfs_err_str(err, rc));
}

void mnt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct bfs_mount *m = fuse_req_userdata(req);
	struct fh *f = (struct fh *)(uintptr_t)fi->fh;
	struct bfs_cc_entry **ents = NULL;
	struct bfs_err err = { "" };
	uint64_t uoff = (uint64_t)off, end;
	size_t first, last, n, bad, i;
	struct iovec *iov;
	int rc;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (uoff >= f->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	end = BFS_MIN(f->size, uoff + size);
	if (end > f->covered) {
		if (!atomic_exchange(&f->logged, true)) {
			struct bfs_catalog *cat = mnt_cat(m);
			char path[1024] = "?";

			if (cat)
				mnt_entry_path(cat, f->id, path, sizeof(path));
			bfs_err_log("cannot read '%s' at %llu: the catalog "
				    "has no chunks for these bytes", path,
				    (unsigned long long)uoff);
		}
		fuse_reply_err(req, EIO);
		return;
	}
	first = chunk_at(f, uoff);
	last = chunk_at(f, end - 1);
	n = last - first + 1;
	maybe_readahead(m, f, uoff, (size_t)(end - uoff), last);

	ents = calloc(n, sizeof(*ents));
	if (!ents) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = fetch(m, &f->chunks[first], n, ents, false, &bad, &err);
	if (rc < 0) {
		log_read_error(m, f, &f->chunks[first + bad], rc, &err);
		fuse_reply_err(req, rc == -ENOMEM ? ENOMEM : EIO);
		goto out_release;
	}
	if (n == 1) {
		/* One chunk: reply straight from the cached buffer. */
		fuse_reply_buf(req,
			       (const char *)bfs_cc_data(ents[0]) +
				       (uoff - f->starts[first]),
			       (size_t)(end - uoff));
		goto out_release;
	}
	/* Several chunks: writev straight from the cached buffers. */
	iov = calloc(n, sizeof(*iov));
	if (!iov) {
		fuse_reply_err(req, ENOMEM);
		goto out_release;
	}
	for (i = 0; i < n; i++) {
		size_t c = first + i;
		uint64_t cs = BFS_MAX(uoff, f->starts[c]);
		uint64_t ce = BFS_MIN(end, f->starts[c + 1]);

		iov[i].iov_base = bfs_cc_data(ents[i]) + (cs - f->starts[c]);
		iov[i].iov_len = (size_t)(ce - cs);
	}
	fuse_reply_iov(req, iov, (int)n);
	free(iov);
out_release:
	release_all(m, ents, n);
	free(ents);
}
