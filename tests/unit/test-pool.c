/* test-pool.c - the thread pool: every job runs once, ordering of wait,
 * bounded queue (blocking and non-blocking submit), per-thread state,
 * destroy drains the queue, bad configurations. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "src/pool.h"
#include "tap.h"

static atomic_int ran;
static atomic_int runs[1000];

static void count_job(void *arg, void *tls)
{
	(void)tls;
	atomic_fetch_add(&runs[(size_t)arg], 1);
	atomic_fetch_add(&ran, 1);
}

/* A gate that jobs block on until the test opens it. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;

static atomic_int entered;

static void gated_job(void *arg, void *tls)
{
	(void)arg;
	(void)tls;
	atomic_fetch_add(&entered, 1);
	pthread_mutex_lock(&gate_mu);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	atomic_fetch_add(&ran, 1);
}

static void open_gate(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static atomic_int inits, finis;

static void *tls_init(void *ctx)
{
	int *v = malloc(sizeof(*v));

	if (v)
		*v = 1000 + atomic_fetch_add(&inits, 1);
	(void)ctx;
	return v;
}

static void tls_fini(void *tls, void *ctx)
{
	(void)ctx;
	free(tls);
	atomic_fetch_add(&finis, 1);
}

static atomic_int tls_ok;

static void tls_job(void *arg, void *tls)
{
	(void)arg;
	if (tls && *(int *)tls >= 1000)
		atomic_fetch_add(&tls_ok, 1);
}

static void *failing_init(void *ctx)
{
	(void)ctx;
	return NULL;
}

int main(void)
{
	struct bfs_pool *p = NULL;
	struct bfs_pool_config cfg = {.threads = 4, .queue = 8, .name = "test"};
	int i, rc, bad = 0;

	/* 1000 jobs through 4 threads and a queue of 8 */
	is_int(bfs_pool_create(&cfg, &p), 0, "create 4 threads, queue 8");
	is_int(bfs_pool_threads(p), 4, "4 threads");
	for (i = 0; i < 1000; i++)
		if (bfs_pool_submit(p, count_job, (void *)(size_t)i))
			bad++;
	bfs_pool_wait(p);
	is_int(bad, 0, "every blocking submit accepted");
	is_int(atomic_load(&ran), 1000, "wait returns after all 1000 jobs");
	for (i = 0, bad = 0; i < 1000; i++)
		bad += atomic_load(&runs[i]) != 1;
	is_int(bad, 0, "each job ran exactly once");
	is_int(bfs_pool_pending(p), 0, "nothing pending after wait");
	bfs_pool_destroy(p);

	/* bounded queue: 2 threads stuck, queue of 3 fills, trysubmit
	 * says EAGAIN, destroy runs everything queued */
	atomic_store(&ran, 0);
	cfg.threads = 2;
	cfg.queue = 3;
	is_int(bfs_pool_create(&cfg, &p), 0, "create 2 threads, queue 3");
	for (i = 0; i < 2; i++)
		bfs_pool_submit(p, gated_job, NULL);
	/* wait until both workers took their job off the queue */
	for (i = 0; i < 5000 && atomic_load(&entered) != 2; i++)
		usleep(1000);
	for (i = 0, bad = 0; i < 3; i++)
		bad += bfs_pool_trysubmit(p, gated_job, NULL) != 0;
	is_int(bad, 0, "three trysubmits fill the queue");
	rc = bfs_pool_trysubmit(p, gated_job, NULL);
	is_int(rc, -EAGAIN, "trysubmit on a full queue is -EAGAIN");
	is_int(bfs_pool_pending(p), 5, "2 running + 3 queued pending");
	is_int(atomic_load(&ran), 0, "nothing finished while gated");
	open_gate();
	bfs_pool_destroy(p);
	is_int(atomic_load(&ran), 5, "destroy ran every queued job");

	/* per-thread state */
	cfg.threads = 3;
	cfg.queue = 4;
	cfg.thread_init = tls_init;
	cfg.thread_fini = tls_fini;
	is_int(bfs_pool_create(&cfg, &p), 0, "create with thread_init");
	is_int(atomic_load(&inits), 3, "thread_init ran once per thread");
	for (i = 0; i < 100; i++)
		bfs_pool_submit(p, tls_job, NULL);
	bfs_pool_wait(p);
	is_int(atomic_load(&tls_ok), 100, "every job saw its thread's state");
	bfs_pool_destroy(p);
	is_int(atomic_load(&finis), 3, "thread_fini ran once per thread");

	/* failures */
	cfg.thread_init = failing_init;
	cfg.thread_fini = NULL;
	p = (void *)1;
	is_int(bfs_pool_create(&cfg, &p), -ENOMEM,
	       "failing thread_init fails create");
	ok(p == NULL, "no pool on failure");
	cfg.thread_init = NULL;
	cfg.threads = 0;
	is_int(bfs_pool_create(&cfg, &p), -EINVAL, "0 threads is -EINVAL");
	cfg.threads = 1;
	cfg.queue = 0;
	is_int(bfs_pool_create(&cfg, &p), -EINVAL, "queue 0 is -EINVAL");
	bfs_pool_destroy(NULL);
	ok(1, "destroy(NULL) is a no-op");
	return tap_done();
}
