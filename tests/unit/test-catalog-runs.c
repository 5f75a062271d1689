/* test-catalog-runs.c - how a tree part is cut into catalog runs
 * (catalog/catalog_runs.c cat_run_plan_part): the runs cover every line
 * once, in order; each run is named by the SHA-256 of its bytes; a run
 * ends at the first line from its CAT_RUN_MIN-th on whose hash has the
 * CAT_RUN_MASK bits zero, else after CAT_RUN_MAX lines, else at the end
 * of the part; bytes after the last '\n' are left out.  And what the cut
 * is for: one changed line of a 1,000-line directory rewrites ~10 lines
 * of runs on average (a plain 1-in-8 cut rewrites ~15: a long run is
 * likelier to hold the line), and a line inserted at the front leaves
 * the later runs as they were. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_runs.h"
#include "tap.h"
#include "tree.h"
#include "util.h"

#define NLINES 1000
#define LINE_MAX_LEN 64

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A part of n tree-like lines; line i's text has a version v[i]. */
static size_t make_part(char *buf, size_t cap, const unsigned *v, size_t n,
			size_t *start)
{
	size_t len = 0, i;
	int w;

	for (i = 0; i < n; i++) {
		start[i] = len;
		w = snprintf(buf + len, cap - len,
			     "f%06zu\tsize=%u\tmtime=%u\n", i, v[i] * 7919u,
			     v[i]);
		if (w < 0 || (size_t)w >= cap - len)
			abort();
		len += (size_t)w;
	}
	start[n] = len;
	return len;
}

static int eligible(const char *buf, const size_t *start, size_t i)
{
	return (bfs_tree_line_hash(buf + start[i],
				   start[i + 1] - start[i] - 1) &
		CAT_RUN_MASK) == 0;
}

/* Lines rewritten when part b replaces part a: the lines of b's runs
 * whose hash is not among a's. */
static size_t rewritten(const struct cat_run_plan *a,
			const struct cat_run_plan *b)
{
	size_t i, j, n = 0;

	for (j = 0; j < b->n; j++) {
		for (i = 0; i < a->n; i++)
			if (!memcmp(a->v[i].hash, b->v[j].hash, BFS_HASH_LEN))
				break;
		if (i == a->n)
			n += b->v[j].lines;
	}
	return n;
}

int main(void)
{
	static char buf[(NLINES + 1) * LINE_MAX_LEN], buf2[sizeof(buf)];
	static unsigned v[NLINES + 1];
	static size_t start[NLINES + 2], start2[NLINES + 2];
	struct cat_run_plan p = {0}, q = {0};
	uint8_t h[BFS_HASH_LEN];
	size_t len, len2, i, k, line, bad_cover = 0, bad_cut = 0, bad_hash = 0,
				      total = 0, nruns = 0, sum = 0;
	int round;

	for (i = 0; i < NLINES; i++)
		v[i] = (unsigned)(next_rand() % 100000);
	len = make_part(buf, sizeof(buf), v, NLINES, start);

	ok(cat_run_plan_part(&p, buf, len) == 0, "a 1,000-line part is cut");
	line = 0;
	for (k = 0; k < p.n; k++) {
		size_t n = p.v[k].lines, last = line + n - 1, j;
		int final = k + 1 == p.n;

		if (n == 0 || n > CAT_RUN_MAX || last >= NLINES) {
			bad_cover++;
			break;
		}
		bfs_sha256(h, buf + start[line], start[last + 1] - start[line]);
		if (memcmp(h, p.v[k].hash, BFS_HASH_LEN))
			bad_hash++;
		/* no earlier line of the run could end it */
		for (j = line + CAT_RUN_MIN - 1; j < last; j++)
			if (eligible(buf, start, j))
				bad_cut++;
		/* it ends where the rule says */
		if (!final && n < CAT_RUN_MAX &&
		    (n < CAT_RUN_MIN || !eligible(buf, start, last)))
			bad_cut++;
		line += n;
	}
	ok(!bad_cover && line == NLINES,
	   "the runs cover the %d lines once, in order (%zu runs)", NLINES,
	   p.n);
	ok(!bad_hash, "each run is named by the SHA-256 of its lines' bytes");
	ok(!bad_cut,
	   "each run ends at its first line from the %d-th on with the mask "
	   "bits zero, else after %d lines, else at the part's end",
	   CAT_RUN_MIN, CAT_RUN_MAX);

	/* the mean length, over 100 parts */
	for (round = 0; round < 100; round++) {
		for (i = 0; i < NLINES; i++)
			v[i] = (unsigned)(next_rand() % 100000);
		len2 = make_part(buf2, sizeof(buf2), v, NLINES, start2);
		if (cat_run_plan_part(&q, buf2, len2))
			abort();
		nruns += q.n;
		total += NLINES;
	}
	ok(total >= 6 * nruns && total <= 10 * nruns,
	   "runs are ~8 lines on average (%.2f)", (double)total / nruns);

	/* one changed line: the lines of the runs that change */
	for (round = 0; round < 400; round++) {
		for (i = 0; i < NLINES; i++)
			v[i] = (unsigned)(next_rand() % 100000);
		len = make_part(buf, sizeof(buf), v, NLINES, start);
		if (cat_run_plan_part(&p, buf, len))
			abort();
		v[next_rand() % NLINES] += 1;
		len2 = make_part(buf2, sizeof(buf2), v, NLINES, start2);
		if (cat_run_plan_part(&q, buf2, len2))
			abort();
		sum += rewritten(&p, &q);
	}
	ok(sum <= 400 * 11,
	   "one changed line rewrites %.2f lines of runs on average (at most "
	   "11; a plain 1-in-8 cut: ~15)",
	   (double)sum / 400);

	/* a line inserted at the front: the runs after it resynchronise */
	for (i = 0; i < NLINES; i++)
		v[i] = (unsigned)(next_rand() % 100000);
	len = make_part(buf, sizeof(buf), v, NLINES, start);
	if (cat_run_plan_part(&p, buf, len))
		abort();
	len2 = (size_t)snprintf(buf2, sizeof(buf2), "a-new-file\tsize=1\n");
	memcpy(buf2 + len2, buf, len);
	if (cat_run_plan_part(&q, buf2, len2 + len))
		abort();
	k = rewritten(&p, &q);
	ok(k <= 3 * CAT_RUN_MAX,
	   "a line inserted at the front rewrites %zu lines of %d", k,
	   NLINES + 1);

	/* edges */
	ok(cat_run_plan_part(&q, "", 0) == 0 && q.n == 0,
	   "an empty part has no runs");
	ok(cat_run_plan_part(&q, "a\nb\nno newline", 15) == 0 &&
	       (q.n == 0 || (q.n == 1 && q.v[0].lines <= 2)),
	   "bytes after the last newline are left out");
	memset(buf2, 'x', 40 * 2);
	for (i = 0; i < 40; i++)
		buf2[2 * i + 1] = '\n';
	ok(cat_run_plan_part(&q, buf2, 80) == 0 && q.n >= 2 &&
	       q.v[0].lines <= CAT_RUN_MAX,
	   "40 identical lines: cut at %d at the latest", CAT_RUN_MAX);

	cat_run_plan_free(&p);
	cat_run_plan_free(&q);
	return tap_done();
}
