/* writer_int.h - writer internals shared with the sources (src/source_*.c).
 * Not a public contract.
 */
#ifndef BFS_WRITER_INT_H
#define BFS_WRITER_INT_H

#include "writer.h"

/* The index the backup was begun with (NULL if none), for unchanged-file
 * detection (bfs_index_prev_dir).  It locks itself: call it freely. */
const struct bfs_index *bfs_backup_index(const struct bfs_backup *b);

/* Fill e->user / e->group (malloc'ed) for uid/gid, cached per backup.
 * Names may stay NULL when unknown.  Returns 0 or -ENOMEM. */
int bfs_backup_owner_names(struct bfs_backup *b, struct bfs_entry *e);

/* Backup start time (ns since the epoch); used for synthesised entries. */
int64_t bfs_backup_time_ns(const struct bfs_backup *b);

#endif
