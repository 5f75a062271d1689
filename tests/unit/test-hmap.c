/* test-hmap.c - the hash table, checked against a brute-force model
 * through random inserts, lookups and removals (so backward-shift
 * deletion is exercised on long probe runs), plus the API edges. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/hmap.h"
#include "tap.h"

struct rec {
	uint32_t key;
	uint32_t pad;
	uint64_t val;
};

#define KEYS 4096

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(void)
{
	static bool present[KEYS];
	static uint64_t model[KEYS];
	struct bfs_hmap m;
	struct rec r, *p;
	size_t it, n, i;
	int bad = 0, rc;
	bool added;

	is_int(bfs_hmap_init(&m, sizeof(struct rec), 4, 0, 0), 0, "init");
	ok(bfs_hmap_find(&m, &(uint32_t){7}) == NULL, "find in empty map");
	is_int(bfs_hmap_remove(&m, &(uint32_t){7}), -ENOENT,
	       "remove from empty map");

	/* 200k random operations on 4096 keys against a model */
	for (i = 0; i < 200000; i++) {
		uint32_t k = (uint32_t)(next_rand() % KEYS);
		unsigned op = (unsigned)(next_rand() % 3);

		if (op == 0) {
			memset(&r, 0, sizeof(r));
			r.key = k;
			r.val = next_rand();
			rc = bfs_hmap_insert(&m, &r, (void **)&p);
			if (present[k]) {
				bad += rc != -EEXIST || p->val != model[k];
			} else {
				bad += rc != 0 || p->val != r.val;
				present[k] = true;
				model[k] = r.val;
			}
		} else if (op == 1) {
			rc = bfs_hmap_remove(&m, &k);
			bad += rc != (present[k] ? 0 : -ENOENT);
			present[k] = false;
		} else {
			p = bfs_hmap_find(&m, &k);
			bad += present[k] ? (!p || p->val != model[k]) : !!p;
		}
	}
	is_int(bad, 0, "200k random insert/remove/find agree with the model");
	for (i = 0, n = 0, bad = 0; i < KEYS; i++) {
		uint32_t k = (uint32_t)i;

		n += present[i];
		p = bfs_hmap_find(&m, &k);
		bad += present[i] ? (!p || p->val != model[i]) : !!p;
	}
	is_int(bad, 0, "every key present or absent as in the model");
	is_int(bfs_hmap_count(&m), n, "count matches the model");
	for (it = 0, i = 0; (p = bfs_hmap_next(&m, &it));)
		i++;
	is_int(i, n, "iteration visits each record once");

	/* get: find or add zeroed */
	{
		uint32_t k = KEYS + 5;

		rc = bfs_hmap_get(&m, &k, (void **)&p, &added);
		ok(rc == 0 && added && p->key == k && p->val == 0,
		   "get adds a zeroed record with the key");
		p->val = 42;
		rc = bfs_hmap_get(&m, &k, (void **)&p, &added);
		ok(rc == 0 && !added && p->val == 42, "get finds it again");
	}
	bfs_hmap_clear(&m);
	is_int(bfs_hmap_count(&m), 0, "clear empties");
	ok(bfs_hmap_find(&m, &(uint32_t){KEYS + 5}) == NULL,
	   "clear forgets records");
	bfs_hmap_fini(&m);

	/* prehashed 32-byte keys (SHA-256 style), presized */
	{
		uint8_t key[40];
		struct bfs_hmap h;

		is_int(bfs_hmap_init(&h, 40, 32, 100000, BFS_HMAP_PREHASHED), 0,
		       "init prehashed, presized for 100000");
		size_t cap0 = h.cap;
		for (i = 0, bad = 0; i < 100000; i++) {
			memset(key, 0, sizeof(key));
			for (size_t j = 0; j < 32; j += 8) {
				uint64_t v = next_rand();
				memcpy(key + j, &v, 8);
			}
			memcpy(key + 32, &i, sizeof(i) < 8 ? sizeof(i) : 8);
			bad += bfs_hmap_insert(&h, key, NULL) != 0;
		}
		is_int(bad, 0, "100000 inserts");
		is_int(h.cap, cap0, "presized map did not grow");
		bfs_hmap_fini(&h);
		is_int(bfs_hmap_init(&h, 40, 4, 0, BFS_HMAP_PREHASHED), -EINVAL,
		       "prehashed needs an 8-byte key");
		is_int(bfs_hmap_init(&h, 8, 9, 0, 0), -EINVAL,
		       "key longer than the record is -EINVAL");
	}
	ok(bfs_hash64("abc", 3) != bfs_hash64("abd", 3) &&
	       bfs_hash64("abc", 3) == bfs_hash64("abc", 3) &&
	       bfs_hash64("", 0) != bfs_hash64("\0", 1),
	   "bfs_hash64 is deterministic and length-aware");
	return tap_done();
}
