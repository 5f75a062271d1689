/* reader.h - the one read engine: file contents from chunk lists.
 *
 * A reader serves two kinds of callers over one repository:
 *
 *  - random access (the mount): bfs_reader_open() takes a file's chunk
 *    list, bfs_rfile_view()/bfs_rfile_read() read any range.  Chunks come
 *    from the shared chunk cache; a missing chunk is loaded once however
 *    many threads ask for it (single-flight); missing chunks of one pack
 *    are fetched in runs (one store request per run); a sequential reader
 *    gets readahead, within a byte budget, by the reader's thread pool.
 *
 *  - streaming (cat, restore): bfs_reader_stream() hands a whole chunk
 *    list, in order, to a callback; chunks lying back to back in one pack
 *    are fetched in one request, and long lists are fetched ahead by the
 *    pool.  Streaming does not use the cache.
 *
 * The reader knows nothing of the catalog: callers pass the chunk list
 * (struct bfs_chunkref array) they got from the catalog or a manifest.
 * Chunk lists are untrusted: lengths are checked before use.  Every chunk
 * is verified by its SHA-256 (bfs_repo_read_chunk(s)) before its bytes are
 * used; a failure is an error, never wrong bytes.  The reader prints and
 * logs nothing: errors come back as -errno plus a message naming the
 * chunk and its pack.
 *
 * Thread safety: everything may be called from any thread; one rfile may
 * be read by several threads at once.  create/destroy belong to one owner;
 * every rfile must be closed before bfs_reader_destroy.
 */
#ifndef BFS_READER_H
#define BFS_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "chunkcache.h"
#include "repo.h"
#include "util.h"

/* Largest plain chunk accepted from a chunk list (doc/FORMAT.md). */
#ifndef BFS_READER_MAX_CHUNK
#define BFS_READER_MAX_CHUNK (16u << 20)
#endif

/* Where does blob hash live now that pack gone (where the caller found
 * it) has vanished, or failed to give the blob (prune deleted or
 * repacked it, or the pack of the delta base it needs)?  0 and *out (a
 * location the caller reads once more: after a resync it may be the same
 * pack, when what moved was the delta's base), or -ENOENT (nowhere) /
 * -errno.  Called from any thread, without reader locks held. */
typedef int (*bfs_relocate_fn)(void *arg, const uint8_t hash[BFS_HASH_LEN],
			       const uint8_t gone[BFS_HASH_LEN],
			       struct bfs_chunkref *out, struct bfs_err *err);

struct bfs_reader_config {
	unsigned threads;    /* pool workers (readahead, runs fetched in
				parallel, streaming ahead); 0 =
				bfs_reader_default_threads() */
	uint64_t ra_bytes;   /* readahead window at most, per file;
				0 = no readahead */
	unsigned ra_chunks;  /* readahead: chunks ahead at most (0 = 256,
				1024 for a remote store) */
	uint64_t ra_job_max; /* readahead: bytes per job (one store
				request) at most; 0 = BFS_RA_JOB_LOCAL,
				BFS_RA_JOB_LANES where ids are checked
				on sha256mb's AVX lanes, BFS_RA_JOB_REMOTE
				for a remote store (bfs_store_is_remote) */
	/* Finding a chunk whose pack vanished (bfs_relocate_fn).  NULL: a
	 * vanished pack is an error (-ENOENT).  The reader then reads the
	 * chunk at *out (verified by its hash as always) and, if that
	 * fails too, returns -EIO naming the chunk.  The rfile's list is
	 * not changed: the next read of a chunk of the same pack asks
	 * again. */
	bfs_relocate_fn relocate;
	void *relocate_arg;
};

/* Pool workers by default: the online cores plus two (so that a remote
 * store's latency overlaps decoding), at least 4, at most 16. */
unsigned bfs_reader_default_threads(void);

/* For relocate hooks: at most one resync of the index objects a second
 * (a damaged pack would ask for one per chunk).  Sleeps out the rest of
 * the second since *last_ns (0: never), then stamps it.  The caller
 * serialises calls on one *last_ns (its relocation lock). */
void bfs_reader_resync_wait(int64_t *last_ns);

struct bfs_reader;
struct bfs_rfile;

/* Create a reader over repo (borrowed) and cache (borrowed; may be NULL
 * for a reader that only streams).  cfg may be NULL (defaults, no
 * readahead).  The pool starts on first use.  *out owned by the caller
 * (bfs_reader_destroy).  0 / -ENOMEM / -EINVAL. */
int bfs_reader_create(struct bfs_repo *repo, struct bfs_chunkcache *cache,
		      const struct bfs_reader_config *cfg,
		      struct bfs_reader **out);

/* Start the pool now rather than on first use (the mount does, so that a
 * failure shows at start-up).  0 or -ENOMEM. */
int bfs_reader_start(struct bfs_reader *r);

/* Stop the pool (queued readahead is dropped) and free the reader.  No
 * rfile may be open and no call running.  NULL is a no-op. */
void bfs_reader_destroy(struct bfs_reader *r);

/* ---- random access (needs a cache) ----------------------------------- */

/* Open a file made of refs[0..n) (copied) whose recorded size is size.
 * Reads past the bytes the chunks cover fail with -EIO.  Errors:
 * -EINVAL (no cache), -EUCLEAN (a chunk longer than
 * BFS_READER_MAX_CHUNK), -ENOMEM.  *out closed with bfs_rfile_close. */
int bfs_reader_open(struct bfs_reader *r, const struct bfs_chunkref *refs,
		    size_t n, uint64_t size, struct bfs_rfile **out,
		    struct bfs_err *err);

void bfs_rfile_close(struct bfs_rfile *f); /* NULL ok */

uint64_t bfs_rfile_size(const struct bfs_rfile *f);    /* recorded size */
uint64_t bfs_rfile_covered(const struct bfs_rfile *f); /* sum of lengths */

/* Pinned pieces of a range, straight from the cache (no copy).  iov[0..n)
 * stays valid until bfs_rview_release, which does not need the rfile
 * (the mount replies, and the kernel may close the file, before the
 * view is released). */
struct bfs_rview {
	struct iovec *iov;
	size_t n;
	size_t bytes;	      /* sum of the iov lengths */
	struct bfs_reader *r; /* private */
	struct bfs_cc_entry **ents;
	size_t nents;
	size_t behind; /* ents[0..behind) read to their end, sequentially */
};

/* Pin [off, off + len) clipped to the recorded size into *v.  Returns the
 * bytes pinned (0 at or past the end), or -EIO (bytes not covered by the
 * chunk list), -ENOENT / -EUCLEAN / -EBADMSG / -EIO ... from the
 * repository (err names the chunk and the pack), -ENOMEM.  On error
 * nothing is pinned.  Counts the read for sequential detection. */
ssize_t bfs_rfile_view(struct bfs_rfile *f, uint64_t off, size_t len,
		       struct bfs_rview *v, struct bfs_err *err);
void bfs_rview_release(struct bfs_rview *v); /* unpin; v zeroed */

/* Copy [off, off + len) (clipped to the size) into buf.  Returns the
 * bytes copied or the errors of bfs_rfile_view. */
ssize_t bfs_rfile_read(struct bfs_rfile *f, void *buf, size_t len, uint64_t off,
		       struct bfs_err *err);

/* True exactly once per file: the first caller to see an error gets to
 * log it (one log line per file, not per read). */
bool bfs_rfile_first_error(struct bfs_rfile *f);

/* ---- streaming ---------------------------------------------------------- */

/* Receives a file's plain bytes in order: data[0..n) at file offset off.
 * Return 0 to continue or non-zero to stop (that value is returned). */
typedef int (*bfs_reader_cb)(void *arg, uint64_t off, const uint8_t *data,
			     size_t n);

/* Hand the verified plain bytes of refs[0..n) (borrowed) to cb, in order,
 * from the calling thread.  Chunks back to back in one pack are fetched
 * in one request (at most 16 MiB); for lists over 16 MiB the pool fetches
 * up to 6 requests of 8 MiB ahead.  Returns 0, cb's value, or the
 * repository's error (-ENOENT missing pack, -EUCLEAN corrupt, -EBADMSG
 * checksum, -EIO ...) with err naming the chunk and pack.  Must not be
 * called from a job of the reader's own pool. */
int bfs_reader_stream(struct bfs_reader *r, const struct bfs_chunkref *refs,
		      size_t n, bfs_reader_cb cb, void *arg,
		      struct bfs_err *err);

/* Read the verified plain bytes of refs[0..n) (borrowed) into dst, which
 * holds size bytes, from the calling thread, fetching back-to-back chunks
 * of one pack in one request and decompressing straight into dst (no
 * intermediate buffer: restore's prefetch of small files uses it).  The
 * chunk lengths must add up to size exactly (-EUCLEAN otherwise).  Same
 * errors as bfs_reader_stream; on error dst is not trusted. */
int bfs_reader_read_into(struct bfs_reader *r, const struct bfs_chunkref *refs,
			 size_t n, uint8_t *dst, uint64_t size,
			 struct bfs_err *err);

/* ---- the run planner (shared with copy and tests) ----------------------- */

/* A run: refs[first .. first + n) fetched in one bfs_repo_read_chunks. */
struct bfs_run {
	size_t first, n;
	uint64_t bytes; /* plain bytes */
};

/* Cut refs[0..n) into runs of consecutive chunks that lie back to back
 * in one pack, each at most max_bytes plain bytes and max_chunks chunks
 * (a single larger chunk is a run of its own).  Checks every length
 * against BFS_READER_MAX_CHUNK (-EUCLEAN, err names the chunk).  *out
 * malloc'ed (free), *nruns its length.  0 / -EUCLEAN / -ENOMEM. */
int bfs_reader_plan_runs(const struct bfs_chunkref *refs, size_t n,
			 uint64_t max_bytes, size_t max_chunks,
			 struct bfs_run **out, size_t *nruns,
			 struct bfs_err *err);

/* ---- the readahead planner (shared with tests) ----------------------------
 */

/* Readahead jobs: the window is cut into about BFS_RA_JOBS jobs of
 * BFS_RA_JOB_MIN plain bytes up to the reader's ra_job_max; each is one
 * store request decoded by one pool worker. */
#define BFS_RA_JOBS 4
#define BFS_RA_JOB_MIN (256u << 10)
#define BFS_RA_JOB_LOCAL (1u << 20) /* ra_job_max default */
/* locally where chunk ids are checked on sha256mb's AVX lanes: 16
 * chunks of the dump profile fill them (1 MiB jobs held four, half the
 * lanes) */
#define BFS_RA_JOB_LANES (4u << 20)
#define BFS_RA_JOB_REMOTE (8u << 20) /* for S3: fewer, larger requests */

/* Bytes per readahead job for a window of win bytes: win / BFS_RA_JOBS
 * within [BFS_RA_JOB_MIN, max(job_max, BFS_RA_JOB_MIN)]. */
uint64_t bfs_reader_ra_job_bytes(uint64_t win, uint64_t job_max);

/* One file's readahead window (zeroed: none yet). */
struct bfs_ra_state {
	size_t next;  /* first chunk not queued yet */
	uint64_t win; /* current window, bytes; 0 = not started */
};

/* Plan readahead for a sequential read that ends before chunk first, in a
 * file whose chunk i covers [starts[i], starts[i + 1]) (starts has n + 1
 * entries).  Sets [*from, *to) to the chunks to queue now (empty: none):
 * they follow what is already queued, end within win bytes of first and
 * within max_chunks chunks of it, and are queued only when at least one
 * job (bfs_reader_ra_job_bytes(win, job_max)) fits.  Each time chunks are
 * queued the window doubles, up to max_bytes (0: no readahead).  A chunk
 * larger than the window is queued alone.  Pure; the caller serialises
 * calls on one *st. */
struct bfs_ra_limits {
	uint64_t max_bytes;
	size_t max_chunks;
	uint64_t job_max;
};

void bfs_reader_ra_plan(const uint64_t *starts, size_t n, size_t first,
			const struct bfs_ra_limits *lim,
			struct bfs_ra_state *st, size_t *from, size_t *to);

#endif
