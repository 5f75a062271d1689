/* pool.c - the one thread pool (see pool.h).
 *
 * A ring of cfg->queue job slots protected by one mutex; three condition
 * variables: `job` (a job was queued or shutdown began: workers wait on
 * it), `space` (a slot was freed: blocking submitters wait on it) and
 * `idle` (the pool may have become idle: bfs_pool_wait waits on it).
 */
#define _GNU_SOURCE
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pool_job {
	bfs_pool_fn fn;
	void *arg;
};

struct bfs_pool {
	pthread_mutex_t mu;
	pthread_cond_t job, space, idle;
	/* protected by mu: */
	struct pool_job *ring;
	size_t cap, head, len; /* queued jobs: ring[head .. head+len) */
	unsigned busy;	       /* workers running a job */
	unsigned started;      /* workers whose thread_init finished */
	unsigned failed;       /* workers whose thread_init failed */
	bool stopping;
	/* immutable after create: */
	struct bfs_pool_config cfg;
	char name[16];
	pthread_t *th;
	unsigned nth; /* threads created */
};

static void *worker_main(void *p_)
{
	struct bfs_pool *p = p_;
	void *tls = NULL;

	if (p->name[0])
		pthread_setname_np(pthread_self(), p->name);
	if (p->cfg.thread_init) {
		tls = p->cfg.thread_init(p->cfg.ctx);
		if (!tls) {
			pthread_mutex_lock(&p->mu);
			p->failed++;
			pthread_cond_broadcast(&p->idle);
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
	}
	pthread_mutex_lock(&p->mu);
	p->started++;
	pthread_cond_broadcast(&p->idle);
	for (;;) {
		struct pool_job j;

		while (p->len == 0 && !p->stopping)
			pthread_cond_wait(&p->job, &p->mu);
		if (p->len == 0)
			break; /* stopping and drained */
		j = p->ring[p->head];
		p->head = (p->head + 1) % p->cap;
		p->len--;
		p->busy++;
		pthread_cond_signal(&p->space);
		pthread_mutex_unlock(&p->mu);

		j.fn(j.arg, tls);

		pthread_mutex_lock(&p->mu);
		p->busy--;
		if (p->busy == 0 && p->len == 0)
			pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->mu);
	if (p->cfg.thread_fini)
		p->cfg.thread_fini(tls, p->cfg.ctx);
	return NULL;
}

/* Stop and join the first p->nth workers; free everything. */
static void pool_free(struct bfs_pool *p)
{
	unsigned i;

	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->job);
	pthread_cond_broadcast(&p->space);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->space);
	pthread_cond_destroy(&p->job);
	pthread_mutex_destroy(&p->mu);
	free(p->th);
	free(p->ring);
	free(p);
}

int bfs_pool_create(const struct bfs_pool_config *cfg, struct bfs_pool **out)
{
	struct bfs_pool *p;
	unsigned i;
	int rc = 0;

	*out = NULL;
	if (!cfg || cfg->threads < 1 || cfg->threads > 1024 || cfg->queue < 1 ||
	    cfg->queue > ((size_t)1 << 24))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	p->cfg.name = NULL;
	if (cfg->name)
		snprintf(p->name, sizeof(p->name), "%.10s", cfg->name);
	p->cap = cfg->queue;
	p->ring = calloc(p->cap, sizeof(*p->ring));
	p->th = calloc(cfg->threads, sizeof(*p->th));
	if (!p->ring || !p->th) {
		free(p->ring);
		free(p->th);
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->job, NULL);
	pthread_cond_init(&p->space, NULL);
	pthread_cond_init(&p->idle, NULL);
	for (i = 0; i < cfg->threads; i++) {
		rc = -pthread_create(&p->th[i], NULL, worker_main, p);
		if (rc)
			goto out_free;
		p->nth++;
	}
	if (cfg->thread_init) {
		/* Wait for every thread_init, so a failure is reported here. */
		pthread_mutex_lock(&p->mu);
		while (p->started + p->failed < p->nth)
			pthread_cond_wait(&p->idle, &p->mu);
		if (p->failed)
			rc = -ENOMEM;
		pthread_mutex_unlock(&p->mu);
		if (rc)
			goto out_free;
	}
	*out = p;
	return 0;

out_free:
	pool_free(p);
	return rc;
}

static int submit(struct bfs_pool *p, bfs_pool_fn fn, void *arg, bool block)
{
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	while (p->len == p->cap && !p->stopping && block)
		pthread_cond_wait(&p->space, &p->mu);
	if (p->stopping) {
		rc = -ESHUTDOWN;
	} else if (p->len == p->cap) {
		rc = -EAGAIN;
	} else {
		p->ring[(p->head + p->len) % p->cap] =
		    (struct pool_job){.fn = fn, .arg = arg};
		p->len++;
		pthread_cond_signal(&p->job);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int bfs_pool_submit(struct bfs_pool *p, bfs_pool_fn fn, void *arg)
{
	return submit(p, fn, arg, true);
}

int bfs_pool_trysubmit(struct bfs_pool *p, bfs_pool_fn fn, void *arg)
{
	return submit(p, fn, arg, false);
}

void bfs_pool_wait(struct bfs_pool *p)
{
	pthread_mutex_lock(&p->mu);
	while (p->len > 0 || p->busy > 0)
		pthread_cond_wait(&p->idle, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

size_t bfs_pool_pending(struct bfs_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->mu);
	n = p->len + p->busy;
	pthread_mutex_unlock(&p->mu);
	return n;
}

unsigned bfs_pool_threads(const struct bfs_pool *p)
{
	return p->nth;
}

void bfs_pool_destroy(struct bfs_pool *p)
{
	if (!p)
		return;
	/* Workers drain the queue before they see `stopping` with an empty
	 * ring, so every job queued before destroy runs. */
	pool_free(p);
}
