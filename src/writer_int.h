/* writer_int.h - writer internals shared with the sources (src/source_*.c).
 * Not a public contract.
 */
#ifndef BFS_WRITER_INT_H
#define BFS_WRITER_INT_H

#include "writer.h"

/* The catalog connection of a backup is also used by the writer's worker
 * threads (dedup lookups).  A source that queries the catalog while the
 * backup is running (unchanged-file detection) must hold this lock around
 * every bfs_catalog_* call on bfs_backup_catalog(b).  Not recursive. */
void bfs_backup_catalog_lock(struct bfs_backup *b);
void bfs_backup_catalog_unlock(struct bfs_backup *b);

/* Fill e->user / e->group (malloc'ed) for uid/gid, cached per backup.
 * Names may stay NULL when unknown.  Returns 0 or -ENOMEM. */
int bfs_backup_owner_names(struct bfs_backup *b, struct bfs_entry *e);

/* Backup start time (ns since the epoch); used for synthesised entries. */
int64_t bfs_backup_time_ns(const struct bfs_backup *b);

#endif
