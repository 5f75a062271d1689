/* test-writer-set.c - the writer's path set (writer_set.h): in tree order
 * it answers like a set of every path while holding only the ancestors
 * of the greatest path and what it was asked to keep; going full keeps
 * the kinds it knew. */
#include <stdio.h>
#include <string.h>

#include "src/writer_set.h"
#include "tap.h"

static int get(struct pathset *s, const char *p)
{
	return bfs_pathset_get(s, p, strlen(p));
}

static int set(struct pathset *s, const char *p, int kind)
{
	return bfs_pathset_set(s, p, strlen(p), kind);
}

static bool in_order(struct pathset *s, const char *p)
{
	return bfs_pathset_in_order(s, p, strlen(p));
}

int main(void)
{
	struct pathset s;
	char p[64], q[64];
	int bad = 0;

	ok(bfs_path_tree_cmp("a/b", 3, "a-b", 3) < 0, "'/' sorts first");
	ok(bfs_path_tree_cmp("a", 1, "a/b", 3) < 0, "a parent first");
	ok(bfs_path_tree_cmp("ab", 2, "a/b", 3) > 0, "a longer name later");

	is_int(bfs_pathset_init(&s), 0, "init");
	ok(in_order(&s, "z"), "empty: anything in order");
	is_int(set(&s, "top", PK_DIR_IMPLICIT), 0, "implicit top");
	is_int(set(&s, "top/d", PK_DIR), 0, "top/d");
	/* 10 directories of 1,000 files, in tree order */
	for (int d = 0; d < 10; d++) {
		snprintf(p, sizeof(p), "top/d/%02d", d);
		bad |= set(&s, p, PK_DIR);
		for (int f = 0; f < 1000; f++) {
			snprintf(q, sizeof(q), "%s/f%04d", p, f);
			bad |= set(&s, q, PK_REG);
			if (f == 500 && d == 3)
				bad |= bfs_pathset_keep(&s, q, strlen(q));
			bad |= get(&s, q) != PK_REG;
			bad |= get(&s, p) != PK_DIR;
			bad |= get(&s, "top") != PK_DIR_IMPLICIT;
		}
	}
	ok(!bad, "10,000 paths in order, each and its ancestors known");
	ok(bfs_hmap_count(&s.m) <= 2,
	   "the map holds the implicit dir and the kept file only (%zu)",
	   bfs_hmap_count(&s.m));
	is_int(get(&s, "top/d/03/f0500"), PK_REG, "a kept file, out of order");
	bfs_pathset_set_size(&s, "top/d/03/f0500", 14, 77);
	is_int((int)bfs_pathset_size(&s, "top/d/03/f0500", 14), 77,
	       "  its size");
	is_int(get(&s, "top/d/10"), PK_NONE, "a path after max is new");
	ok(in_order(&s, "top/d/10"), "  and in order");
	ok(in_order(&s, "top/d/09"), "max's parent in order");
	ok(in_order(&s, "top/d/09/f0999"), "max in order");
	ok(!in_order(&s, "top/d/09/f0998"), "a sibling before max: not");
	ok(!in_order(&s, "top/d/00"), "a directory left: not");
	ok(!in_order(&s, "a"), "a path before everything: not");

	/* cancelled max, then sealed directory; a set out of order lands in
	 * the map */
	is_int(set(&s, "top/d/09/f0999", PK_CANCELLED), 0, "cancel max");
	is_int(get(&s, "top/d/09/f0999"), PK_CANCELLED, "  known");
	is_int(set(&s, "top/e", PK_DIR_SEALED), 0, "a sealed dir");
	is_int(get(&s, "top/e"), PK_DIR_SEALED, "  known");
	is_int(get(&s, "top"), PK_DIR_IMPLICIT, "  the common ancestor kept");
	is_int(get(&s, "top/d"), PK_NONE, "  the directory left forgotten");

	/* a path out of order, read back with its ancestors */
	ok(!in_order(&s, "top/d/05/f0005"), "out of order");
	bad |= bfs_pathset_add_absent(&s, "top/d", 5, PK_DIR);
	bad |= bfs_pathset_add_absent(&s, "top/d/05", 8, PK_DIR);
	bad |= bfs_pathset_add_absent(&s, "top/d/05/f0005", 14, PK_OTHER);
	is_int(bfs_pathset_scanned(&s, "top/d/05/f0005", 14), 0, "  scanned");
	ok(!bad && in_order(&s, "top/d/05/f0005"), "  then in order");
	is_int(get(&s, "top/d/05/f0005"), PK_OTHER, "  its kind");
	is_int(get(&s, "top/d/05"), PK_DIR, "  its parent's");
	ok(!in_order(&s, "top/d/05/f0006"), "  its sibling still not");
	is_int(get(&s, "top/e"), PK_DIR_SEALED, "  max unchanged");

	/* going full: the spool's paths added where absent, then the chain */
	for (int d = 0; d < 10; d++) {
		snprintf(p, sizeof(p), "top/d/%02d", d);
		bad |= bfs_pathset_add_absent(&s, p, strlen(p), PK_DIR);
		for (int f = 0; f < 1000; f++) {
			snprintf(q, sizeof(q), "%s/f%04d", p, f);
			bad |=
			    bfs_pathset_add_absent(&s, q, strlen(q), PK_OTHER);
		}
	}
	bad |= bfs_pathset_add_absent(&s, "top/d", 5, PK_DIR);
	bad |= bfs_pathset_add_absent(&s, "top/e", 5, PK_DIR);
	ok(!bad, "every path added");
	is_int(bfs_pathset_go_full(&s), 0, "go full");
	is_int(get(&s, "top/e"), PK_DIR_SEALED, "  the chain's kind wins");
	is_int(get(&s, "top"), PK_DIR_IMPLICIT, "  implicit stays implicit");
	is_int(get(&s, "top/d/03/f0500"), PK_REG, "  a kept file stays");
	is_int(get(&s, "top/d/00/f0000"), PK_OTHER, "  a forgotten path known");
	ok(in_order(&s, "a"), "  everything is in order now");
	is_int(set(&s, "a", PK_DIR), 0, "  set out of order");
	is_int(get(&s, "a"), PK_DIR, "  and known");
	bfs_pathset_fini(&s);
	bfs_pathset_fini(&s);
	ok(1, "fini twice");
	return tap_done();
}
