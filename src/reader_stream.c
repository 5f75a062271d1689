/* reader_stream.c - a whole chunk list, in order, to a callback (see
 * reader.h).  Used by cat and restore.
 *
 * The list is cut into runs (bfs_reader_plan_runs).  A list of several
 * runs is fetched ahead by the reader's pool: STREAM_SLOTS runs are in
 * flight or ready at most, each in a slot buffer; the calling thread
 * delivers them in order and refills the slot it freed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reader_int.h"

#define RUN_MAX_BYTES (16u << 20) /* plain bytes per request */
#define RUN_MAX_CHUNKS 64
#define PAR_RUN_BYTES (8u << 20) /* per request when fetched ahead */
#define STREAM_SLOTS 6
#define BUF_ROUND ((size_t)1 << 20) /* slot buffers grow by MiBs */

/* Fetch one run into *buf (grown as needed); outs[i] point into it. */
static int fetch_run(struct bfs_reader *r, const struct bfs_chunkref *refs,
		     const struct bfs_run *run, uint8_t **buf, size_t *cap,
		     uint8_t **outs, struct bfs_err *err)
{
	size_t k, total = 0;

	if (run->bytes > *cap || !*buf) {
		/* Nothing in the old buffer is kept: free and allocate
		 * rather than realloc, which would copy it (6 % of a day-2
		 * cat's CPU); a large run is rounded up so that the next,
		 * slightly larger one fits too (a small file's is not: a
		 * restore of many would map and unmap a MiB for each). */
		size_t want =
		    run->bytes > BUF_ROUND
			? (run->bytes + BUF_ROUND - 1) & ~(BUF_ROUND - 1)
			: BFS_MAX(run->bytes, (uint64_t)1);

		free(*buf);
		*buf = malloc(want);
		*cap = *buf ? want : 0;
		if (!*buf)
			return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	for (k = 0; k < run->n; k++) {
		outs[k] = *buf + total;
		total += refs[run->first + k].len;
	}
	return bfs_reader_read_chunks(r, &refs[run->first], run->n, outs, err);
}

static int deliver(const struct bfs_chunkref *refs, const struct bfs_run *run,
		   uint8_t **outs, uint64_t *off, bfs_reader_cb cb, void *arg)
{
	size_t k;
	int rc;

	for (k = 0; k < run->n; k++) {
		uint32_t len = refs[run->first + k].len;

		if (len) {
			rc = cb(arg, *off, outs[k], len);
			if (rc)
				return rc;
		}
		*off += len;
	}
	return 0;
}

struct stream;

struct sslot {
	struct stream *s;
	uint8_t *buf;
	size_t cap;
	uint8_t *outs[RUN_MAX_CHUNKS];
	size_t run;
	bool ready; /* under s->lock */
	int rc;
	struct bfs_err err;
};

struct stream {
	pthread_mutex_t lock; /* protects ready flags and busy */
	pthread_cond_t cond;  /* a slot became ready */
	struct bfs_reader *r;
	const struct bfs_chunkref *refs;
	const struct bfs_run *runs;
	unsigned busy; /* jobs submitted and not finished */
	struct sslot slots[STREAM_SLOTS];
};

static void slot_main(void *arg, void *tls)
{
	struct sslot *sl = arg;
	struct stream *s = sl->s;
	int rc;

	(void)tls;
	sl->err.msg[0] = '\0';
	rc = fetch_run(s->r, s->refs, &s->runs[sl->run], &sl->buf, &sl->cap,
		       sl->outs, &sl->err);
	pthread_mutex_lock(&s->lock);
	sl->rc = rc;
	sl->ready = true;
	s->busy--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* Start run i in its slot (in the pool, or here if it cannot queue). */
static void slot_start(struct stream *s, struct bfs_pool *p, size_t i)
{
	struct sslot *sl = &s->slots[i % STREAM_SLOTS];

	pthread_mutex_lock(&s->lock);
	sl->run = i;
	sl->ready = false;
	s->busy++;
	pthread_mutex_unlock(&s->lock);
	if (bfs_pool_submit(p, slot_main, sl) < 0)
		slot_main(sl, NULL);
}

static int stream_parallel(struct stream *s, struct bfs_pool *p, size_t nr,
			   bfs_reader_cb cb, void *arg, struct bfs_err *err)
{
	uint64_t off = 0;
	size_t i;
	int rc = 0;

	for (i = 0; i < nr && i < STREAM_SLOTS; i++)
		slot_start(s, p, i);
	for (i = 0; i < nr; i++) {
		struct sslot *sl = &s->slots[i % STREAM_SLOTS];

		pthread_mutex_lock(&s->lock);
		while (!(sl->ready && sl->run == i))
			pthread_cond_wait(&s->cond, &s->lock);
		pthread_mutex_unlock(&s->lock);
		if (sl->rc < 0) {
			rc = sl->rc;
			if (err)
				*err = sl->err;
			break;
		}
		rc = deliver(s->refs, &s->runs[i], sl->outs, &off, cb, arg);
		if (rc)
			break;
		if (i + STREAM_SLOTS < nr)
			slot_start(s, p, i + STREAM_SLOTS);
	}
	/* The slots are ours again only when no job uses them. */
	pthread_mutex_lock(&s->lock);
	while (s->busy)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int bfs_reader_read_into(struct bfs_reader *r, const struct bfs_chunkref *refs,
			 size_t n, uint8_t *dst, uint64_t size,
			 struct bfs_err *err)
{
	uint8_t *outs[RUN_MAX_CHUNKS];
	struct bfs_run *runs = NULL;
	uint64_t total = 0, off = 0;
	size_t nr = 0, i, k;
	int rc;

	for (i = 0; i < n; i++)
		total += refs[i].len;
	if (total != size)
		return bfs_err_set(err, -EUCLEAN,
				   "chunk list of %" PRIu64
				   " bytes for %" PRIu64 " bytes of content",
				   total, size);
	rc = bfs_reader_plan_runs(refs, n, RUN_MAX_BYTES, RUN_MAX_CHUNKS, &runs,
				  &nr, err);
	if (rc < 0)
		return rc;
	for (i = 0; i < nr && rc == 0; i++) {
		const struct bfs_run *run = &runs[i];

		for (k = 0; k < run->n; k++) {
			outs[k] = dst + off;
			off += refs[run->first + k].len;
		}
		rc = bfs_reader_read_chunks(r, &refs[run->first], run->n, outs,
					    err);
	}
	free(runs);
	return rc;
}

int bfs_reader_stream(struct bfs_reader *r, const struct bfs_chunkref *refs,
		      size_t n, bfs_reader_cb cb, void *arg,
		      struct bfs_err *err)
{
	uint8_t *outs[RUN_MAX_CHUNKS];
	struct bfs_run *runs = NULL;
	struct bfs_pool *p = NULL;
	uint8_t *buf = NULL;
	size_t nr = 0, cap = 0, i;
	uint64_t off = 0, total = 0;
	int rc;

	for (i = 0; i < n; i++)
		total += refs[i].len;
	rc = bfs_reader_plan_runs(
	    refs, n, total > RUN_MAX_BYTES ? PAR_RUN_BYTES : RUN_MAX_BYTES,
	    RUN_MAX_CHUNKS, &runs, &nr, err);
	if (rc < 0)
		return rc;
	if (nr > 1)
		p = bfs_reader_pool(r);
	if (p) {
		struct stream *s = calloc(1, sizeof(*s));

		if (!s) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			goto out_free;
		}
		pthread_mutex_init(&s->lock, NULL);
		pthread_cond_init(&s->cond, NULL);
		s->r = r;
		s->refs = refs;
		s->runs = runs;
		for (i = 0; i < STREAM_SLOTS; i++)
			s->slots[i].s = s;
		rc = stream_parallel(s, p, nr, cb, arg, err);
		for (i = 0; i < STREAM_SLOTS; i++)
			free(s->slots[i].buf);
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		goto out_free;
	}
	for (i = 0; i < nr && rc == 0; i++) {
		rc = fetch_run(r, refs, &runs[i], &buf, &cap, outs, err);
		if (rc == 0)
			rc = deliver(refs, &runs[i], outs, &off, cb, arg);
	}
out_free:
	free(buf);
	free(runs);
	return rc;
}
