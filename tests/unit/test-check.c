/* test-check.c - the subsets of check --read-data-subset: parsing, and
 * that K/N over N runs selects every pack exactly once.  (The check
 * itself is tested end to end by tests/e2e/t0460-check.sh and
 * t0461-check-s3.sh, on real repositories.) */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "src/check.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

static void test_parse(void)
{
	static const char *bad[] = {
	    "",	  "0/3",  "4/3", "1/0", "1/", "/3",  "a/b",   "1/3x",
	    "0%", "101%", "-5%", "%",	"x%", "1.5", "2/3/4", "1/99999999999"};
	struct bfs_check_opts o;
	size_t i;

	memset(&o, 0, sizeof(o));
	is_int(bfs_check_parse_subset("2/7", &o), 0, "2/7 parsed");
	ok(o.subset_k == 2 && o.subset_n == 7 && o.subset_pct == 0,
	   "... K 2, N 7");
	is_int(bfs_check_parse_subset("2.5%", &o), 0, "2.5%% parsed");
	ok(o.subset_pct == 2.5 && o.subset_n == 0, "... 2.5, K/N cleared");
	is_int(bfs_check_parse_subset("100%", &o), 0, "100%% parsed");
	for (i = 0; i < BFS_ARRAY_SIZE(bad); i++)
		is_int(bfs_check_parse_subset(bad[i], &o), -EINVAL,
		       "'%s' refused", bad[i]);
}

static void test_select(void)
{
	static struct tl_rng rng = {0x5eed5eed12345678ull};
	struct bfs_check_opts o;
	uint8_t id[BFS_HASH_LEN];
	unsigned counts[7] = {0};
	size_t i, twice = 0, never = 0, pct = 0, all = 0;
	unsigned k, hits;

	for (i = 0; i < 2000; i++) {
		for (k = 0; k < BFS_HASH_LEN; k++)
			id[k] = (uint8_t)tl_rand(&rng);
		memset(&o, 0, sizeof(o));
		all += bfs_check_selects(&o, id);
		hits = 0;
		for (k = 1; k <= 7; k++) {
			o.subset_k = k;
			o.subset_n = 7;
			if (bfs_check_selects(&o, id)) {
				hits++;
				counts[k - 1]++;
			}
		}
		twice += hits > 1;
		never += hits == 0;
		memset(&o, 0, sizeof(o));
		o.subset_pct = 10;
		pct += bfs_check_selects(&o, id);
	}
	is_int(all, 2000, "no subset: every pack");
	is_int(never, 0, "1/7..7/7: no pack left out");
	is_int(twice, 0, "... none read twice");
	for (k = 0; k < 7; k++)
		ok(counts[k] > 200 && counts[k] < 380,
		   "bucket %u holds about a seventh (%u)", k + 1, counts[k]);
	ok(pct > 140 && pct < 260, "10%% selects about 200 of 2000 (%zu)", pct);
	/* The bucket is the id's first 8 bytes, big-endian. */
	memset(id, 0, sizeof(id));
	id[7] = 9; /* 9 mod 4 = 1: bucket 2 */
	memset(&o, 0, sizeof(o));
	o.subset_k = 2;
	o.subset_n = 4;
	ok(bfs_check_selects(&o, id), "id 00..09.. is in bucket 2 of 4");
	o.subset_k = 1;
	ok(!bfs_check_selects(&o, id), "... not in bucket 1");
	memset(&o, 0, sizeof(o));
	o.subset_pct = 50;
	id[0] = 0x7f;
	ok(bfs_check_selects(&o, id), "50%%: an id below 0x80.. is in");
	id[0] = 0x80;
	ok(!bfs_check_selects(&o, id), "50%%: 0x80.. is out");
}

int main(void)
{
	test_parse();
	test_select();
	return tap_done();
}
