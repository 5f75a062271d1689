/* catalog_runs.h - runs of entries shared between versions of a
 * directory (catalog_runs.c explains).  Only catalog/ includes this. */
#ifndef BFS_CATALOG_RUNS_H
#define BFS_CATALOG_RUNS_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog_int.h"

/* A run ends after a line whose hash has these bits zero once it has
 * CAT_RUN_MIN lines (CAT_RUN_MIN - 1 + 4 = 8 lines on average), after
 * CAT_RUN_MAX lines, or at the end of a tree part.  The minimum keeps
 * the lengths even: a changed line lands in a run of ~10 lines on
 * average instead of the ~15 of a plain 1-in-8 cut (a long run is more
 * likely to hold a given line).  Changing any of them changes every
 * run's bytes (the catalog is a cache: bump CAT_SCHEMA_VERSION with
 * them). */
#define CAT_RUN_MASK UINT64_C(0x3)
#define CAT_RUN_MIN 5
#define CAT_RUN_MAX 32

/* One run of a tree part: its number of lines and the SHA-256 of their
 * bytes. */
struct cat_run_span {
	uint32_t lines;
	uint8_t hash[BFS_HASH_LEN];
};
struct cat_run_plan {
	struct cat_run_span *v;
	size_t n, cap;
};

/* Cut the plain bytes of one tree part (untrusted: lines up to a '\n';
 * bytes after the last '\n' are left out, the part parser refuses them)
 * into runs, replacing p's contents.  0 or -ENOMEM. */
int cat_run_plan_part(struct cat_run_plan *p, const void *data, size_t len);
void cat_run_plan_free(struct cat_run_plan *p);

/* The runs row of span s: an existing one (*fresh false; -EUCLEAN when
 * its line count disagrees: the catalog is damaged) or a new empty one
 * for the caller to fill (*fresh true).  *id set.  Inside the caller's
 * transaction. */
int cat_run_get(struct bfs_catalog *c, const struct cat_run_span *s,
		int64_t *id, bool *fresh, struct bfs_err *err);
/* Append run to directory tree: its first entry is slot slot0, relative
 * pre pre0, named name0[0..nlen). */
int cat_tree_run_add(struct bfs_catalog *c, int64_t tree, int64_t slot0,
		     int64_t pre0, int64_t run, const char *name0, size_t nlen,
		     struct bfs_err *err);

/* Growable list of row ids. */
struct cat_ids {
	int64_t *v;
	size_t n, cap;
};
/* Take tree's runs off it, and delete the runs no other tree uses any
 * more (entries, chunk pieces, row); the subdirectory trees their
 * entries named are appended to children (may be NULL) for the caller
 * to collect.  Inside the caller's transaction. */
int cat_tree_runs_drop(struct bfs_catalog *c, int64_t tree,
		       struct cat_ids *children, struct bfs_err *err);
/* Delete every run with an id above snap (a fill that failed). */
int cat_runs_drop_since(struct bfs_catalog *c, int64_t snap,
			struct bfs_err *err);
/* The highest id so far in table ("runs", "trees": a literal of the
 * caller's, never input), 0 if none. */
int cat_max_id(struct bfs_catalog *c, const char *table, int64_t *out,
	       struct bfs_err *err);

/* The rows of a directory, as a listing reads them, must chain: slots
 * 0, 1, ... and relative pres from 1 on, each the previous one's plus 1
 * plus its subtree, up to the tree's own n and count.  A tree_runs row
 * missing or lying, or a run without all its entries, would otherwise
 * make a listing shorter or shifted; it is a damaged catalog instead:
 * -EUCLEAN "catalog 'PATH': directory DIR is damaged in the catalog
 * (run 'backupfs catalog rebuild')".  slot: the next slot expected; pre:
 * the next relative pre expected, -1 when not known (a later page). */
struct cat_chain {
	int64_t slot;
	int64_t pre;
};
/* One row (its slot, relative pre and subtree count) of directory dir. */
int cat_chain_row(struct bfs_catalog *c, struct cat_chain *ch, int64_t slot,
		  int64_t pre, int64_t count, int64_t dir, struct bfs_err *err);
/* At the end of a listing: as many slots (and, when whole, i.e. listed
 * from the start, entries) as tree says it has. */
int cat_chain_end(struct bfs_catalog *c, const struct cat_chain *ch,
		  int64_t tree, bool whole, int64_t dir, struct bfs_err *err);

#endif
