/* restore_prefetch.c - small files fetched ahead (see restore_int.h).
 *
 * Restoring many small files would wait for one store request per file
 * (a round trip each on S3).  The files of a directory page are queued
 * when the page is read; PF_THREADS workers of a bfs_pool fetch them
 * ahead, in order, within PF_BUDGET bytes, while the restore thread
 * writes.  The restore thread never waits for an item nobody has started:
 * it takes it and fetches it itself (so nested directories cannot
 * deadlock on the budget).  A worker that finds the budget spent waits
 * until it frees up or the restore thread takes its item.
 *
 * Items are reference-counted (the restore thread and a queued job each
 * hold one), so a job that starts after its item was used and put finds
 * it still allocated and returns.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "restore_int.h"

#define PF_THREADS 4
#define PF_QUEUE 4096
#define PF_BUDGET (32u << 20)

enum { PF_QUEUED, PF_FETCHING, PF_DONE, PF_MINE };

struct pf_item {
	struct bfs_chunkref *refs; /* owned */
	size_t n;
	uint64_t size;
	uint8_t *data;	/* size bytes once fetched */
	int state;	/* PF_*, under pf->lock */
	bool by_worker; /* counts in pf->inflight */
	unsigned nref;	/* under pf->lock */
	int rc;
	struct bfs_err err;
	struct prefetch *pf;
};

struct prefetch {
	pthread_mutex_t lock; /* protects states, nref, inflight */
	pthread_cond_t cond;  /* a state or the budget changed */
	uint64_t inflight;    /* bytes fetched by workers, not yet
				 put */
	bool stop;
	struct bfs_reader *reader;
	struct bfs_pool *pool; /* started with the first item */
	bool pool_failed;
};

int pf_create(struct bfs_reader *reader, struct prefetch **out)
{
	struct prefetch *pf = calloc(1, sizeof(*pf));

	*out = NULL;
	if (!pf)
		return -ENOMEM;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->cond, NULL);
	pf->reader = reader;
	*out = pf;
	return 0;
}

void pf_destroy(struct prefetch *pf)
{
	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	pf->stop = true;
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	bfs_pool_destroy(pf->pool); /* queued jobs see stop and return */
	pthread_cond_destroy(&pf->cond);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
}

/* Fetch an item's content (any thread; no lock held). */
static void pf_fetch(struct prefetch *pf, struct pf_item *it)
{
	it->err.msg[0] = '\0';
	it->data = malloc(it->size ? it->size : 1);
	if (!it->data) {
		it->rc = bfs_err_set(&it->err, -ENOMEM, "out of memory");
		return;
	}
	it->rc = bfs_reader_read_into(pf->reader, it->refs, it->n, it->data,
				      it->size, &it->err);
}

/* Drop a reference; under pf->lock. */
static void item_unref(struct pf_item *it)
{
	if (--it->nref)
		return;
	free(it->data);
	free(it->refs);
	free(it);
}

static void pf_job(void *arg, void *tls)
{
	struct pf_item *it = arg;
	struct prefetch *pf = it->pf;

	(void)tls;
	pthread_mutex_lock(&pf->lock);
	while (!pf->stop && it->state == PF_QUEUED && pf->inflight &&
	       pf->inflight + it->size > PF_BUDGET)
		pthread_cond_wait(&pf->cond, &pf->lock);
	if (pf->stop || it->state != PF_QUEUED)
		goto out_unref;
	it->state = PF_FETCHING;
	it->by_worker = true;
	pf->inflight += it->size;
	pthread_mutex_unlock(&pf->lock);
	pf_fetch(pf, it);
	pthread_mutex_lock(&pf->lock);
	it->state = PF_DONE;
	pthread_cond_broadcast(&pf->cond);
out_unref:
	item_unref(it);
	pthread_mutex_unlock(&pf->lock);
}

struct pf_item *pf_add(struct prefetch *pf, struct bfs_chunkref *refs, size_t n,
		       uint64_t size)
{
	struct pf_item *it;

	pthread_mutex_lock(&pf->lock);
	if (!pf->pool && !pf->pool_failed) {
		struct bfs_pool_config pc = {
		    .threads = PF_THREADS,
		    .queue = PF_QUEUE,
		    .name = "bfs-pf",
		};

		if (bfs_pool_create(&pc, &pf->pool) < 0)
			pf->pool_failed = true;
	}
	pthread_mutex_unlock(&pf->lock);
	if (!pf->pool)
		goto out_free;
	it = calloc(1, sizeof(*it));
	if (!it)
		goto out_free;
	it->refs = refs;
	it->n = n;
	it->size = size;
	it->state = PF_QUEUED;
	it->nref = 2;
	it->pf = pf;
	if (bfs_pool_trysubmit(pf->pool, pf_job, it) < 0)
		it->nref = 1; /* not queued: the restore thread fetches */
	return it;
out_free:
	free(refs);
	return NULL;
}

int pf_get(struct prefetch *pf, struct pf_item *it, const uint8_t **data,
	   uint64_t *size, struct bfs_err *err)
{
	bool mine = false;

	pthread_mutex_lock(&pf->lock);
	if (it->state == PF_QUEUED) {
		it->state = PF_MINE;
		mine = true;
		pthread_cond_broadcast(&pf->cond); /* its job may wait */
	}
	while (it->state == PF_FETCHING)
		pthread_cond_wait(&pf->cond, &pf->lock);
	pthread_mutex_unlock(&pf->lock);
	if (mine)
		pf_fetch(pf, it);
	*data = it->data;
	*size = it->size;
	if (it->rc < 0 && err)
		*err = it->err;
	return it->rc;
}

void pf_put(struct prefetch *pf, struct pf_item *it)
{
	if (!it)
		return;
	pthread_mutex_lock(&pf->lock);
	if (it->state == PF_QUEUED) {
		it->state = PF_MINE; /* never fetched: its job returns */
		pthread_cond_broadcast(&pf->cond);
	}
	while (it->state == PF_FETCHING)
		pthread_cond_wait(&pf->cond, &pf->lock);
	if (it->by_worker) {
		pf->inflight -= it->size;
		it->by_worker = false;
		pthread_cond_broadcast(&pf->cond);
	}
	/* A job still queued only looks at the state: free the rest now. */
	free(it->data);
	it->data = NULL;
	free(it->refs);
	it->refs = NULL;
	item_unref(it);
	pthread_mutex_unlock(&pf->lock);
}
