/* reach.h - which blobs the backups of a repository reach: a walk of
 * manifests' trees (tree parts, chunk-list blobs, file chunks) over the
 * blob locations of a bfs_locmap, for prune's live set.
 *
 * One struct bfs_reach walks any number of backups; a tree blob (part or
 * chunk list) visited once is skipped, with everything below it, when a
 * later backup reaches it again, so backups that share most of their
 * trees cost little more than one.  Memory: one 32-byte id per tree blob
 * visited, plus the stack of parts still to read.
 *
 * Everything read is untrusted: tree parts are read through
 * bfs_repo_read_chunk (hash verified) and parsed by tree.h; a blob of the
 * wrong type is -EUCLEAN.
 *
 * Thread safety: one walker per thread; the locmap and repository may be
 * shared (they lock for themselves).
 */
#ifndef BFS_REACH_H
#define BFS_REACH_H

#include <stddef.h>
#include <stdint.h>

#include "locmap.h"
#include "repo.h"
#include "util.h"

struct bfs_reach;

/* Called for every blob reached: each tree blob once per walker (when it
 * is first visited, before it is read), each data chunk once per
 * reference in a newly visited tree or list (so possibly many times).
 * loc is borrowed for the call.  Return 0 or -errno (stops the walk). */
typedef int (*bfs_reach_cb)(void *arg, const struct bfs_loc *loc);

/* A walker over m and r (both borrowed, must outlive it) calling cb.
 * 0 or -ENOMEM. */
int bfs_reach_new(struct bfs_locmap *m, struct bfs_repo *r, bfs_reach_cb cb,
		  void *arg, struct bfs_reach **out, struct bfs_err *err);
void bfs_reach_free(struct bfs_reach *w); /* NULL ok */

/* Walk the trees below root[0..nroot) (manifest m of backup name; the
 * name is borrowed for the call and only used in messages).  0,
 * -ENOENT (a blob no index object names: "backup 'X' needs tree blob
 * H, which no index object names"), -EUCLEAN (a corrupt tree part or
 * list, a blob of the wrong type), -EBADMSG (a blob whose bytes do not
 * match its id), store errors, or cb's error. */
int bfs_reach_backup(struct bfs_reach *w, const char *name,
		     const uint8_t (*root)[BFS_HASH_LEN], size_t nroot,
		     struct bfs_err *err);

/* Tree blobs visited so far. */
size_t bfs_reach_trees(const struct bfs_reach *w);

#endif
