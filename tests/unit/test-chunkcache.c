/* test-chunkcache.c - the mount's shared chunk LRU: byte bound, eviction
 * order, refcount pinning, failed loads, concurrent single-flight. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "src/chunkcache.h"
#include "tap.h"

static void key(uint8_t h[BFS_HASH_LEN], unsigned n)
{
	bfs_sha256(h, &n, sizeof(n));
}

/* Acquire key n as a new entry, fill it with byte n, complete, release. */
static int put(struct bfs_chunkcache *cc, unsigned n, uint32_t len)
{
	struct bfs_cc_entry *e;
	uint8_t h[BFS_HASH_LEN];
	int rc;

	key(h, n);
	rc = bfs_chunkcache_acquire(cc, h, len, &e);
	if (rc == BFS_CC_LOAD) {
		memset(bfs_cc_data(e), (int)(n & 0xff), len);
		bfs_chunkcache_complete(cc, e, 0);
	}
	bfs_chunkcache_release(cc, e);
	return rc;
}

static bool present(struct bfs_chunkcache *cc, unsigned n, uint32_t len)
{
	struct bfs_cc_entry *e;
	uint8_t h[BFS_HASH_LEN];
	int rc;

	key(h, n);
	rc = bfs_chunkcache_lookup(cc, h, len, &e);
	bfs_chunkcache_release(cc, e);
	return rc == BFS_CC_HIT;
}

/* Many entries: the table grows, evictions remove from it (hmap
 * backward-shift deletes), and lookups still find exactly the recent
 * ones; the same hash with another length is another chunk. */
static void test_many(void)
{
	struct bfs_chunkcache *cc;
	struct bfs_cc_stats st;
	unsigned i, found = 0, stale = 0;

	bfs_chunkcache_new(16 * 5000, &cc);
	for (i = 0; i < 20000; i++)
		put(cc, i, 16);
	for (i = 0; i < 20000; i++) {
		if (present(cc, i, 16)) {
			if (i < 15000)
				stale++;
			found++;
		}
	}
	bfs_chunkcache_stats(cc, &st);
	is_int(found, 5000, "many: the 5000 most recent entries are found");
	is_int(stale, 0, "many: no evicted entry is found");
	is_int(st.entries, 5000, "many: entry count");
	ok(!present(cc, 19999, 17), "many: another length is another chunk");
	is_int(put(cc, 19999, 17), BFS_CC_LOAD, "many: and loads on its own");
	ok(present(cc, 19999, 16) && present(cc, 19999, 17),
	   "many: both lengths cached");
	bfs_chunkcache_free(cc);
}

static void test_bound_and_order(void)
{
	struct bfs_chunkcache *cc;
	struct bfs_cc_stats st;
	unsigned i;
	bool bounded = true;

	ok(bfs_chunkcache_new(0, &cc) == -EINVAL, "zero bound refused");
	ok(bfs_chunkcache_new(4000, &cc) == 0, "new cache of 4000 bytes");
	is_int(put(cc, 1, 1000), BFS_CC_LOAD, "first acquire loads");
	is_int(put(cc, 1, 1000), BFS_CC_HIT, "second acquire hits");
	put(cc, 2, 1000);
	put(cc, 3, 1000);
	put(cc, 4, 1000);
	/* Touch 1 so 2 becomes the least recently used. */
	ok(present(cc, 1, 1000), "1 still cached");
	put(cc, 5, 1000);
	ok(!present(cc, 2, 1000), "least recently used (2) evicted");
	ok(present(cc, 1, 1000) && present(cc, 3, 1000) &&
	       present(cc, 4, 1000) && present(cc, 5, 1000),
	   "the other four stay");
	ok(!present(cc, 1, 999), "same hash, other length: a different key");
	for (i = 10; i < 200; i++) {
		put(cc, i, 300 + i);
		bfs_chunkcache_stats(cc, &st);
		if (st.bytes > 4000)
			bounded = false;
	}
	ok(bounded, "byte bound respected over 190 inserts");
	bfs_chunkcache_stats(cc, &st);
	ok(st.evictions > 150, "evictions counted (%llu)",
	   (unsigned long long)st.evictions);
	ok(present(cc, 199, 499), "newest entry present");
	bfs_chunkcache_free(cc);
}

static void test_pinning(void)
{
	struct bfs_chunkcache *cc;
	struct bfs_cc_entry *pinned, *e;
	struct bfs_cc_stats st;
	uint8_t h[BFS_HASH_LEN];
	unsigned i;
	bool intact = true;

	bfs_chunkcache_new(3000, &cc);
	key(h, 100);
	is_int(bfs_chunkcache_acquire(cc, h, 1000, &pinned), BFS_CC_LOAD,
	       "pinned entry loads");
	memset(bfs_cc_data(pinned), 0xab, 1000);
	bfs_chunkcache_complete(cc, pinned, 0);
	for (i = 0; i < 50; i++)
		put(cc, 200 + i, 1000);
	for (i = 0; i < 1000; i++)
		if (bfs_cc_data(pinned)[i] != 0xab)
			intact = false;
	ok(intact, "pinned entry survives 50 inserts with its bytes");
	is_int(bfs_chunkcache_lookup(cc, h, 1000, &e), BFS_CC_HIT,
	       "pinned entry still found");
	ok(e == pinned, "same entry");
	bfs_chunkcache_release(cc, e);
	bfs_chunkcache_stats(cc, &st);
	ok(st.bytes <= 3000, "bound holds with a pin (%llu)",
	   (unsigned long long)st.bytes);

	/* Over-commit: pins beyond the bound are allowed, trimmed on release.
	 */
	{
		struct bfs_cc_entry *p[5];

		for (i = 0; i < 5; i++) {
			key(h, 300 + i);
			bfs_chunkcache_acquire(cc, h, 1000, &p[i]);
			bfs_chunkcache_complete(cc, p[i], 0);
		}
		bfs_chunkcache_stats(cc, &st);
		ok(st.bytes >= 6000, "pins may exceed the bound (%llu)",
		   (unsigned long long)st.bytes);
		for (i = 0; i < 5; i++)
			bfs_chunkcache_release(cc, p[i]);
		bfs_chunkcache_release(cc, pinned);
		bfs_chunkcache_stats(cc, &st);
		ok(st.bytes <= 3000,
		   "trimmed back under the bound on release "
		   "(%llu)",
		   (unsigned long long)st.bytes);
		ok(present(cc, 304, 1000), "most recently released kept");
		ok(!present(cc, 300, 1000), "earliest released evicted");
	}
	bfs_chunkcache_free(cc);
}

/* Acquire key n (filled with byte n) and release it behind a reader. */
static void put_behind(struct bfs_chunkcache *cc, unsigned n, uint32_t len)
{
	struct bfs_cc_entry *e;
	uint8_t h[BFS_HASH_LEN];

	key(h, n);
	if (bfs_chunkcache_acquire(cc, h, len, &e) == BFS_CC_LOAD) {
		memset(bfs_cc_data(e), (int)(n & 0xff), len);
		bfs_chunkcache_complete(cc, e, 0);
	}
	bfs_chunkcache_release_behind(cc, e);
}

/* Drop-behind: entries a sequential reader is done with go first, at
 * most BFS_CC_BEHIND_MAX bytes of them stay, and taking one again makes
 * it an ordinary entry. */
static void test_behind(void)
{
	const uint32_t len = 64 << 10;
	const unsigned keep = BFS_CC_BEHIND_MAX / len;
	struct bfs_chunkcache *cc;
	struct bfs_cc_stats st;
	unsigned i, kept = 0, wrong = 0;

	bfs_chunkcache_new(4 * BFS_CC_BEHIND_MAX, &cc);
	put(cc, 1, len); /* an ordinary entry, released before the stream */
	for (i = 0; i < 4 * keep; i++)
		put_behind(cc, 1000 + i, len);
	bfs_chunkcache_stats(cc, &st);
	ok(st.bytes <= BFS_CC_BEHIND_MAX + len,
	   "behind: a stream of 4x the bound keeps %llu bytes",
	   (unsigned long long)st.bytes);
	ok(present(cc, 1, len), "behind: the ordinary entry stays");
	for (i = 0; i < 4 * keep; i++) {
		bool p = present(cc, 1000 + i, len);

		kept += p;
		/* only the most recent ones (present() re-took those,
		 * making them ordinary entries) */
		if (p && i < 3 * keep)
			wrong++;
	}
	is_int(kept, keep, "behind: the last %u stay", keep);
	is_int(wrong, 0, "behind: older ones are evicted");
	/* The cache full of ordinary entries: behind ones go before any. */
	for (i = 0; i < 3 * keep; i++)
		put(cc, 5000 + i, len);
	put_behind(cc, 9000, len);
	put(cc, 9001, len);
	ok(!present(cc, 9000, len), "behind: evicted before older entries");
	ok(present(cc, 5000, len), "behind: the oldest ordinary one stays");
	bfs_chunkcache_free(cc);
}

/* Drop-behind with requests finishing out of order: the request that read
 * a chunk to its end releases it behind while the one that read only its
 * start still holds it and lets go last, the ordinary way.  The chunk is
 * still behind the stream: the stream must not fill the cache. */
static void test_behind_out_of_order(void)
{
	const uint32_t len = 64 << 10;
	const unsigned keep = BFS_CC_BEHIND_MAX / len;
	struct bfs_chunkcache *cc;
	struct bfs_cc_entry *a, *b;
	struct bfs_cc_stats st;
	uint8_t h[BFS_HASH_LEN];
	unsigned i;

	bfs_chunkcache_new(4 * BFS_CC_BEHIND_MAX, &cc);
	put(cc, 1, len);
	for (i = 0; i < 4 * keep; i++) {
		key(h, 2000 + i);
		if (bfs_chunkcache_acquire(cc, h, len, &a) == BFS_CC_LOAD) {
			memset(bfs_cc_data(a), 1, len);
			bfs_chunkcache_complete(cc, a, 0);
		}
		bfs_chunkcache_acquire(cc, h, len, &b);
		bfs_chunkcache_release_behind(cc, b); /* read to its end */
		bfs_chunkcache_release(cc, a);	      /* its start, later */
	}
	bfs_chunkcache_stats(cc, &st);
	ok(st.bytes <= BFS_CC_BEHIND_MAX + len,
	   "behind, out of order: a stream of 4x the bound keeps %llu bytes",
	   (unsigned long long)st.bytes);
	ok(present(cc, 1, len), "behind, out of order: the ordinary entry "
				"stays");
	/* Taken again after it was listed, and released the ordinary way:
	 * an ordinary entry (the mark does not outlive the listing). */
	ok(present(cc, 2000 + 4 * keep - 1, len),
	   "behind, out of order: the last one is kept");
	for (i = 0; i < 3 * keep; i++)
		put_behind(cc, 7000 + i, len);
	ok(present(cc, 2000 + 4 * keep - 1, len),
	   "behind, out of order: taken again, it is an ordinary entry");
	bfs_chunkcache_free(cc);
}

static void test_failure(void)
{
	struct bfs_chunkcache *cc;
	struct bfs_cc_entry *a, *b;
	uint8_t h[BFS_HASH_LEN];

	bfs_chunkcache_new(10000, &cc);
	key(h, 7);
	is_int(bfs_chunkcache_acquire(cc, h, 100, &a), BFS_CC_LOAD, "load");
	is_int(bfs_chunkcache_acquire(cc, h, 100, &b), BFS_CC_PENDING,
	       "second is pending");
	bfs_chunkcache_complete(cc, a, -EBADMSG);
	is_int(bfs_chunkcache_wait(cc, b), -EBADMSG, "waiter gets the error");
	bfs_chunkcache_release(cc, a);
	bfs_chunkcache_release(cc, b);
	ok(!present(cc, 7, 100), "failed entry not cached");
	is_int(put(cc, 7, 100), BFS_CC_LOAD, "next acquire loads again");
	ok(present(cc, 7, 100), "then cached");
	bfs_chunkcache_free(cc);
}

/* Concurrent single-flight: 8 threads ask for the same 16 keys. */
struct sf {
	struct bfs_chunkcache *cc;
	atomic_int loads;
	atomic_int bad;
};

static void *sf_thread(void *arg)
{
	struct sf *s = arg;
	unsigned k, i;

	for (k = 0; k < 16; k++) {
		struct bfs_cc_entry *e;
		uint8_t h[BFS_HASH_LEN];
		int rc;

		key(h, 1000 + k);
		rc = bfs_chunkcache_acquire(s->cc, h, 4096, &e);
		if (rc == BFS_CC_LOAD) {
			atomic_fetch_add(&s->loads, 1);
			usleep(20000); /* a slow fetch: others must wait */
			memset(bfs_cc_data(e), (int)k, 4096);
			bfs_chunkcache_complete(s->cc, e, 0);
		} else if (rc == BFS_CC_PENDING) {
			rc = bfs_chunkcache_wait(s->cc, e);
		}
		if (rc < 0) {
			atomic_fetch_add(&s->bad, 1);
		} else {
			for (i = 0; i < 4096; i++)
				if (bfs_cc_data(e)[i] != (uint8_t)k) {
					atomic_fetch_add(&s->bad, 1);
					break;
				}
		}
		bfs_chunkcache_release(s->cc, e);
	}
	return NULL;
}

static void test_single_flight(void)
{
	struct sf s = {0};
	pthread_t t[8];
	struct bfs_cc_stats st;
	unsigned i;

	bfs_chunkcache_new(1 << 20, &s.cc);
	for (i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, sf_thread, &s);
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	is_int(atomic_load(&s.loads), 16, "each key loaded exactly once");
	is_int(atomic_load(&s.bad), 0, "every thread saw the right bytes");
	bfs_chunkcache_stats(s.cc, &st);
	is_int(st.misses, 16, "16 misses");
	is_int(st.hits + st.waits, 16 * 7, "the rest hit or waited");
	/* loads take 20 ms: threads that waited slept at least once */
	ok(st.waits == 0 || st.wakeups >= 1,
	   "wakeups counted (%llu waits, "
	   "%llu wakeups)",
	   (unsigned long long)st.waits, (unsigned long long)st.wakeups);
	bfs_chunkcache_free(s.cc);
}

/* A load's end wakes the readers waiting on that entry, not every
 * waiting reader: 12 readers each wait on another loading entry, the
 * loads end one by one.  Woken by every end, they would wake 12 + 11 +
 * ... + 1 = 78 times; woken by their own (and by an entry sharing its
 * condition), about 12 + 66/16 (all twelve on one condition: 16^-11). */
#define HERD_N 12
struct herd {
	struct bfs_chunkcache *cc;
	unsigned k;
	atomic_int bad;
};

static void *herd_thread(void *arg)
{
	struct herd *h = arg;
	struct bfs_cc_entry *e;
	uint8_t hash[BFS_HASH_LEN];

	key(hash, 2000 + h->k);
	if (bfs_chunkcache_acquire(h->cc, hash, 4096, &e) != BFS_CC_PENDING ||
	    bfs_chunkcache_wait(h->cc, e) != 0 ||
	    bfs_cc_data(e)[0] != (uint8_t)h->k)
		atomic_fetch_add(&h->bad, 1);
	bfs_chunkcache_release(h->cc, e);
	return NULL;
}

static void test_no_herd(void)
{
	struct bfs_chunkcache *cc;
	struct bfs_cc_entry *e[HERD_N];
	struct herd h[HERD_N];
	pthread_t t[HERD_N];
	struct bfs_cc_stats st;
	uint8_t hash[BFS_HASH_LEN];
	unsigned i, tries, bad = 0, loads = 0;

	bfs_chunkcache_new(1 << 20, &cc);
	for (i = 0; i < HERD_N; i++) {
		key(hash, 2000 + i);
		loads += bfs_chunkcache_acquire(cc, hash, 4096, &e[i]) ==
			 BFS_CC_LOAD;
	}
	is_int(loads, HERD_N, "%d loads started", HERD_N);
	for (i = 0; i < HERD_N; i++) {
		h[i] = (struct herd){.cc = cc, .k = i};
		pthread_create(&t[i], NULL, herd_thread, &h[i]);
	}
	/* every reader has found its entry loading (10 s at most: a
	 * reader that did not fails below); give them time to sleep on it */
	for (tries = 0; tries < 10000; tries++) {
		usleep(1000);
		bfs_chunkcache_stats(cc, &st);
		if (st.waits >= HERD_N)
			break;
	}
	usleep(100000);
	for (i = 0; i < HERD_N; i++) {
		memset(bfs_cc_data(e[i]), (int)i, 4096);
		bfs_chunkcache_complete(cc, e[i], 0);
		bfs_chunkcache_release(cc, e[i]);
		usleep(10000); /* woken readers go back to sleep */
	}
	for (i = 0; i < HERD_N; i++) {
		pthread_join(t[i], NULL);
		bad += (unsigned)atomic_load(&h[i].bad);
	}
	is_int(bad, 0, "each reader got its own entry's bytes");
	bfs_chunkcache_stats(cc, &st);
	ok(st.wakeups >= 1 && st.wakeups < HERD_N * (HERD_N + 1) / 2,
	   "readers woke %llu times for %d loads, not once per load each",
	   (unsigned long long)st.wakeups, HERD_N);
	bfs_chunkcache_free(cc);
}

/* Stress: many threads, small cache, random keys: no crash, bytes right. */
struct stress {
	struct bfs_chunkcache *cc;
	unsigned seed;
	atomic_int *bad;
};

static void *stress_thread(void *arg)
{
	struct stress *s = arg;
	unsigned i, seed = s->seed;

	for (i = 0; i < 20000; i++) {
		struct bfs_cc_entry *e;
		uint8_t h[BFS_HASH_LEN];
		unsigned k = (unsigned)rand_r(&seed) % 64;
		uint32_t len = 512 + k * 8;
		int rc;

		key(h, k);
		rc = bfs_chunkcache_acquire(s->cc, h, len, &e);
		if (rc == BFS_CC_LOAD) {
			memset(bfs_cc_data(e), (int)k, len);
			bfs_chunkcache_complete(s->cc, e, 0);
		} else if (rc == BFS_CC_PENDING) {
			rc = bfs_chunkcache_wait(s->cc, e);
		}
		if (rc >= 0 && (bfs_cc_data(e)[0] != (uint8_t)k ||
				bfs_cc_data(e)[len - 1] != (uint8_t)k))
			atomic_fetch_add(s->bad, 1);
		bfs_chunkcache_release(s->cc, e);
	}
	return NULL;
}

static void test_stress(void)
{
	struct bfs_chunkcache *cc;
	struct stress s[4];
	pthread_t t[4];
	atomic_int bad = 0;
	struct bfs_cc_stats st;
	unsigned i;

	bfs_chunkcache_new(8192, &cc);
	for (i = 0; i < 4; i++) {
		s[i].cc = cc;
		s[i].seed = i + 1;
		s[i].bad = &bad;
		pthread_create(&t[i], NULL, stress_thread, &s[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	is_int(atomic_load(&bad), 0, "stress: contents always right");
	bfs_chunkcache_stats(cc, &st);
	ok(st.bytes <= 8192, "stress: bound holds at rest (%llu)",
	   (unsigned long long)st.bytes);
	ok(st.peak_bytes <= 8192 + 4 * 1100,
	   "stress: peak within bound + pinned (%llu)",
	   (unsigned long long)st.peak_bytes);
	bfs_chunkcache_free(cc);
}

int main(void)
{
	test_bound_and_order();
	test_many();
	test_pinning();
	test_behind();
	test_behind_out_of_order();
	test_failure();
	test_single_flight();
	test_no_herd();
	test_stress();
	return tap_done();
}
