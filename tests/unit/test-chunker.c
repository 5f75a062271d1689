/* test-chunker.c - FastCDC cut points: the reference algorithm of
 * doc/FORMAT.md, determinism, streaming, bounds, resync, eof. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/chunker.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

/* One deterministic stream for the whole test (reproducible failures). */
static struct tl_rng rng = {0x9e3779b97f4a7c15ull};

/* ---- the reference, written from doc/FORMAT.md ---- */

static uint64_t ref_gear[256];

static void ref_init(void)
{
	uint64_t state = 0x6266732d67656172ull; /* "bfs-gear" */

	for (int i = 0; i < 256; i++) {
		uint64_t z;

		state += 0x9e3779b97f4a7c15ull;
		z = state;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		ref_gear[i] = z ^ (z >> 31);
	}
}

static size_t ref_cut(const struct bfs_chunker_params *p, const uint8_t *b,
		      size_t n, int eof)
{
	unsigned bits = 0;
	uint64_t h = 0, ms, ml;
	size_t i;

	while ((1u << (bits + 1)) <= p->avg)
		bits++;
	ms = ~(~0ull >> (bits + 2));
	ml = ~(~0ull >> (bits - 2));
	for (i = p->min; i < n && i < p->max; i++) {
		h = (h << 1) + ref_gear[b[i]];
		if (!(h & (i < p->avg ? ms : ml)))
			return i + 1;
	}
	if (n >= p->max)
		return p->max;
	return eof ? n : 0;
}

/* Cut a whole buffer; lens receives chunk lengths.  Returns the count. */
static size_t cut_all(const struct bfs_chunker_params *p, const uint8_t *b,
		      size_t n, size_t *lens, size_t maxlens, int ref)
{
	size_t off = 0, k = 0;

	while (off < n && k < maxlens) {
		size_t c = ref ? ref_cut(p, b + off, n - off, 1)
			       : bfs_chunker_cut(p, b + off, n - off, true);

		if (c == 0 || c > n - off)
			return 0;
		lens[k++] = c;
		off += c;
	}
	return k;
}

/* Like a streaming writer: a window from the current chunk start, fed in
 * random-sized reads; cut is asked again after each read. */
static size_t cut_streaming(const struct bfs_chunker_params *p,
			    const uint8_t *src, size_t n, size_t *lens,
			    size_t maxlens, size_t maxread)
{
	uint8_t *win = malloc(p->max * 2 + maxread);
	size_t have = 0, pos = 0, k = 0;

	while (k < maxlens) {
		bool eof = pos == n;
		size_t c = bfs_chunker_cut(p, win, have, eof);

		if (c == 0) {
			size_t r;

			if (eof)
				break;
			r = 1 + (size_t)(tl_rand(&rng) % maxread);
			if (r > n - pos)
				r = n - pos;
			memcpy(win + have, src + pos, r);
			have += r;
			pos += r;
			continue;
		}
		lens[k++] = c;
		memmove(win, win + c, have - c);
		have -= c;
	}
	free(win);
	return k;
}

static void test_params(void)
{
	struct bfs_chunker_params p;

	p = (struct bfs_chunker_params){8192, 32768, 262144};
	ok(bfs_chunker_params_valid(&p), "dump profile valid");
	p = (struct bfs_chunker_params){262144, 1048576, 4194304};
	ok(bfs_chunker_params_valid(&p), "files profile valid");
	p = (struct bfs_chunker_params){1024, 1024, 1024};
	ok(bfs_chunker_params_valid(&p), "min = avg = max = 1024 valid");
	p = (struct bfs_chunker_params){1024, 16u << 20, 16u << 20};
	ok(bfs_chunker_params_valid(&p), "avg = max = 16 MiB valid");
	p = (struct bfs_chunker_params){8192, 30000, 262144};
	ok(!bfs_chunker_params_valid(&p), "avg not a power of two");
	p = (struct bfs_chunker_params){512, 2048, 8192};
	ok(!bfs_chunker_params_valid(&p), "min below limit");
	p = (struct bfs_chunker_params){8192, 1u << 24, (1u << 24) + 1};
	ok(!bfs_chunker_params_valid(&p), "max above limit");
	p = (struct bfs_chunker_params){65536, 32768, 262144};
	ok(!bfs_chunker_params_valid(&p), "min > avg");
	p = (struct bfs_chunker_params){8192, 32768, 16384};
	ok(!bfs_chunker_params_valid(&p), "avg > max");
	p = (struct bfs_chunker_params){0, 0, 0};
	ok(!bfs_chunker_params_valid(&p), "zeros");
	ok(!bfs_chunker_params_valid(NULL), "NULL");
}

static void test_eof(void)
{
	struct bfs_chunker_params p = {1024, 4096, 16384};
	uint8_t *b = calloc(1, 40000);
	size_t c;

	is_int(bfs_chunker_cut(&p, b, 0, false), 0, "n=0 -> 0");
	is_int(bfs_chunker_cut(&p, b, 0, true), 0, "n=0 eof -> 0");
	is_int(bfs_chunker_cut(&p, b, 1, true), 1, "n=1 eof -> 1");
	is_int(bfs_chunker_cut(&p, b, 1, false), 0, "n=1 -> need more");
	is_int(bfs_chunker_cut(&p, b, 1024, false), 0, "n=min -> need more");
	is_int(bfs_chunker_cut(&p, b, 1024, true), 1024, "n=min eof -> n");
	/* Zeros: the gear hash settles on a constant that never cuts with
	 * these masks, so the cut is at max. */
	is_int(ref_cut(&p, b, 40000, 0), 16384, "zeros: reference cuts at max");
	is_int(bfs_chunker_cut(&p, b, 16383, false), 0, "zeros n=max-1 -> 0");
	is_int(bfs_chunker_cut(&p, b, 16383, true), 16383,
	       "zeros n=max-1 eof -> n");
	is_int(bfs_chunker_cut(&p, b, 16384, false), 16384,
	       "zeros n=max -> max");
	is_int(bfs_chunker_cut(&p, b, 40000, false), 16384,
	       "zeros n>max -> max");
	is_int(bfs_chunker_cut(&p, b, 40000, true), 16384,
	       "zeros n>max eof -> max");
	/* min = max: always max bytes, or what is left at eof */
	p = (struct bfs_chunker_params){1024, 1024, 1024};
	is_int(bfs_chunker_cut(&p, b, 5000, false), 1024, "min=max -> max");
	is_int(bfs_chunker_cut(&p, b, 1023, false), 0, "min=max, n<max -> 0");
	is_int(bfs_chunker_cut(&p, b, 1023, true), 1023, "min=max eof -> n");
	/* random data: a cut found with little data stays the same with more */
	p = (struct bfs_chunker_params){1024, 4096, 16384};
	tl_fill_random(&rng, b, 40000);
	c = bfs_chunker_cut(&p, b, 40000, false);
	ok(c > 1024 && c <= 16384, "random: cut %zu in (min, max]", c);
	is_int(bfs_chunker_cut(&p, b, c, false), c,
	       "same cut with exactly c bytes");
	is_int(bfs_chunker_cut(&p, b, c - 1, false), 0,
	       "c-1 bytes -> need more");
	is_int(bfs_chunker_cut(&p, b, c - 1, true), c - 1,
	       "c-1 bytes eof -> n");
	free(b);
}

static void test_profile(const struct bfs_chunker_params *p, size_t n)
{
	uint8_t *b = malloc(n + 4096);
	size_t maxl = n / p->min + 2;
	size_t *l1 = malloc(maxl * sizeof(*l1)),
	       *l2 = malloc(maxl * sizeof(*l2));
	size_t *l3 = malloc(maxl * sizeof(*l3));
	size_t k1, k2, k3, bad = 0, diff = 0;
	double mean;

	diag("profile min %u avg %u max %u, %zu MiB", p->min, p->avg, p->max,
	     n >> 20);
	tl_fill_random(&rng, b, n);
	k1 = cut_all(p, b, n, l1, maxl, 0);
	k2 = cut_all(p, b, n, l2, maxl, 1);
	ok(k1 > 0 && k1 == k2 && memcmp(l1, l2, k1 * sizeof(*l1)) == 0,
	   "same cut points as the documented reference (%zu chunks)", k1);
	k2 = cut_all(p, b, n, l2, maxl, 0);
	ok(k1 == k2 && memcmp(l1, l2, k1 * sizeof(*l1)) == 0,
	   "deterministic: same input twice");
	k3 = cut_streaming(p, b, n, l3, maxl, p->max / 3 + 1);
	ok(k1 == k3 && memcmp(l1, l3, k1 * sizeof(*l1)) == 0,
	   "streaming with random reads gives the same cut points");
	/* (cut rescans from the chunk start: reads much smaller than max
	 * cost quadratic time, hence max / 16 here) */
	k3 = cut_streaming(p, b, n, l3, maxl, p->max / 16);
	ok(k1 == k3 && memcmp(l1, l3, k1 * sizeof(*l1)) == 0,
	   "streaming with small reads gives the same cut points");
	for (size_t i = 0; i + 1 < k1; i++)
		if (l1[i] < p->min || l1[i] > p->max)
			bad++;
	is_int(bad, 0, "every chunk but the last within [min, max]");
	ok(l1[k1 - 1] >= 1 && l1[k1 - 1] <= p->max, "last chunk in [1, max]");
	mean = (double)n / (double)k1;
	diag("mean chunk %.0f (avg %u)", mean, p->avg);
	ok(mean > p->avg * 0.7 && mean < p->avg * 1.3,
	   "mean %.0f within 30%% of avg", mean);

	/* Insert 100 bytes at the start: after a few chunks the cut points
	 * resynchronise and every later chunk is the same. */
	memmove(b + 100, b, n);
	tl_fill_random(&rng, b, 100);
	k2 = cut_all(p, b, n + 100, l2, maxl, 0);
	{
		/* compare the sets of cut positions (in original coords) */
		size_t i = 0, j = 0, oi = 0, oj = 0;
		size_t first_common = 0;

		while (i < k1 && j < k2) {
			size_t ci = oi + l1[i], cj = oj + l2[j] - 100;

			if (oj + l2[j] <= 100) {
				oj += l2[j++];
				continue;
			}
			if (ci == cj) {
				if (!first_common)
					first_common = j + 1;
				oi = ci;
				oj += l2[j];
				i++;
				j++;
			} else if (ci < cj) {
				oi = ci;
				i++;
				if (first_common)
					diff++;
			} else {
				oj += l2[j++];
				if (first_common)
					diff++;
			}
		}
		diag("insert: first shared cut after new chunk %zu, %zu "
		     "differences after it",
		     first_common, diff);
		ok(first_common > 0 && first_common <= 3,
		   "cut points resync within 3 chunks");
		is_int(diff, 0, "all later chunks identical");
	}
	free(b);
	free(l1);
	free(l2);
	free(l3);
}

static void test_speed(void)
{
	struct bfs_chunker_params p = {8192, 32768, 262144};
	size_t n = 128u << 20, off = 0;
	uint8_t *b = malloc(n);
	struct timespec t0, t1;
	double s;

	tl_fill_random(&rng, b, n);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (off < n)
		off += bfs_chunker_cut(&p, b + off, n - off, true);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* informational: sanitizer and valgrind builds are much slower */
	diag("chunker speed: %.2f GB/s (dump profile, 128 MiB random)",
	     (double)n / s / 1e9);
	ok(off == n, "speed run covered the input");
	free(b);
}

int main(void)
{
	struct bfs_chunker_params dump = {8192, 32768, 262144};
	struct bfs_chunker_params files = {262144, 1048576, 4194304};
	struct bfs_chunker_params tiny = {1024, 4096, 16384};

	ref_init();
	test_params();
	test_eof();
	test_profile(&tiny, 8u << 20);
	test_profile(&dump, 32u << 20);
	test_profile(&files, 96u << 20);
	test_speed();
	return tap_done();
}
