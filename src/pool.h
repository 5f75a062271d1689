/* pool.h - the one thread pool: N worker threads draining a bounded FIFO
 * of jobs.  Every background thread of backupfs that does "the same thing
 * to many items" (writer workers and uploaders, read engine fetches and
 * readahead, restore, copy) is a bfs_pool.
 *
 *   struct bfs_pool *p;
 *   struct bfs_pool_config cfg = { .threads = 4, .queue = 8 };
 *   bfs_pool_create(&cfg, &p);
 *   bfs_pool_submit(p, job_fn, job_arg);     // blocks while the queue is full
 *   bfs_pool_wait(p);                        // all submitted jobs are done
 *   bfs_pool_destroy(p);                     // runs what is queued, joins
 *
 * Jobs report their results themselves (through their arg); the pool only
 * runs them.  Per-thread state (a ZSTD_CCtx, a store handle) comes from
 * thread_init, which runs once in each worker before its first job; its
 * result is passed to every job that worker runs and to thread_fini when
 * the worker exits.
 *
 * Thread safety: submit, trysubmit and wait may be called from any thread,
 * including from a job (a job must not wait on its own pool: deadlock).
 * create and destroy belong to one owner.
 */
#ifndef BFS_POOL_H
#define BFS_POOL_H

#include <stddef.h>

/* A job: arg as submitted, tls as returned by thread_init (NULL if none). */
typedef void (*bfs_pool_fn)(void *arg, void *tls);

struct bfs_pool_config {
	unsigned threads; /* >= 1 */
	size_t queue;	  /* jobs waiting (not running) at most; >= 1 */
	const char *name; /* thread name prefix (pthread_setname_np,
			     at most 10 chars kept), NULL ok */
	/* Optional per-thread state.  thread_init returns NULL on failure:
	 * that worker then exits and bfs_pool_create fails with -ENOMEM
	 * (if it happens during create).  ctx is passed through. */
	void *(*thread_init)(void *ctx);
	void (*thread_fini)(void *tls, void *ctx);
	void *ctx;
};

struct bfs_pool;

/* Start cfg->threads workers.  0, -EINVAL (bad config), -ENOMEM, or the
 * -errno of pthread_create.  On failure nothing is left running. */
int bfs_pool_create(const struct bfs_pool_config *cfg, struct bfs_pool **out);

/* Queue fn(arg).  Blocks while the queue is full.  Returns 0, or
 * -ESHUTDOWN once bfs_pool_destroy has begun (fn is then not run). */
int bfs_pool_submit(struct bfs_pool *p, bfs_pool_fn fn, void *arg);

/* Like bfs_pool_submit but never blocks: -EAGAIN when the queue is full
 * (used by readahead, which drops work rather than wait). */
int bfs_pool_trysubmit(struct bfs_pool *p, bfs_pool_fn fn, void *arg);

/* Block until every job submitted before the call has finished (the
 * queue is empty and no worker is busy). */
void bfs_pool_wait(struct bfs_pool *p);

/* Jobs queued but not started, and jobs running (a snapshot). */
size_t bfs_pool_pending(struct bfs_pool *p);

unsigned bfs_pool_threads(const struct bfs_pool *p);

/* Run every queued job, stop the workers, join them and free the pool.
 * Submits racing with destroy get -ESHUTDOWN.  NULL is a no-op. */
void bfs_pool_destroy(struct bfs_pool *p);

#endif
