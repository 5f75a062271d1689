/* catalog_iter.h - the one paged walk over a directory's children.
 *
 * Children come from bfs_catalog_readdir a page at a time, in slot (name)
 * order, in which ids increase, and are deep-copied out of the statement
 * before they are handed out: the caller may use the same catalog
 * connection (lookups,
 * chunk lists, a nested iterator for a subdirectory) between calls.
 * Memory: one page of entries.
 *
 *   struct bfs_catalog_iter it;
 *   const struct bfs_cat_entry *e;
 *   bfs_catalog_iter_init(&it, cat, dir, 0, 1024);
 *   while ((rc = bfs_catalog_iter_next(&it, &e, err)) == 1)
 *           use(e);
 *   bfs_catalog_iter_fini(&it);
 *
 * Thread safety: an iterator belongs to one thread, as its catalog
 * connection does.
 */
#ifndef BFS_CATALOG_ITER_H
#define BFS_CATALOG_ITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"

struct bfs_catalog_iter {
	struct bfs_catalog *cat; /* borrowed */
	int64_t dir;
	int64_t after; /* last id of the last page read */
	unsigned page_size;
	struct bfs_cat_entry *page; /* page_size slots, n filled */
	size_t n, pos;
	bool eof; /* the last page was short */
	int rc;	  /* set by the page callback */
};

/* Start a walk over the children of directory entry dir with ids >
 * after (0: from the start; a readdir offset otherwise), page_size
 * entries per catalog query (0: 1024).  Allocates nothing yet. */
void bfs_catalog_iter_init(struct bfs_catalog_iter *it, struct bfs_catalog *cat,
			   int64_t dir, int64_t after, unsigned page_size);

/* The next child: 1 and *e (valid until the next call or fini), 0 at the
 * end, or -errno (catalog error, -ENOMEM) with err set. */
int bfs_catalog_iter_next(struct bfs_catalog_iter *it,
			  const struct bfs_cat_entry **e, struct bfs_err *err);

/* The next whole page: *items[0..*n) (valid until the next call or fini;
 * *n == 0 at the end).  Entries handed out by iter_next before are not
 * repeated; a page is shorter than page_size only at the end.  0 or
 * -errno. */
int bfs_catalog_iter_page(struct bfs_catalog_iter *it,
			  const struct bfs_cat_entry **items, size_t *n,
			  struct bfs_err *err);

/* Free the page.  The iterator may be initialised again.  */
void bfs_catalog_iter_fini(struct bfs_catalog_iter *it);

/* Deep copy of an entry (strings duplicated).  0 / -ENOMEM (dst then
 * cleared).  Free dst with bfs_cat_entry_clear. */
int bfs_cat_entry_copy(struct bfs_cat_entry *dst,
		       const struct bfs_cat_entry *src);

#endif
