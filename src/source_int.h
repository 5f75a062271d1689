/* source_int.h - shared by src/source_*.c; not a public contract. */
#ifndef BFS_SOURCE_INT_H
#define BFS_SOURCE_INT_H

#include "source.h"

/* Split "[DEST=]REST": DEST is taken when the text before the first '='
 * is a valid backup path (manifest rules; no leading '/', no "." or ".."
 * components).  *dest is malloc'ed (deflt when absent), *rest points into
 * arg.  -EINVAL / -ENOMEM. */
int bfs_source_split(const char *arg, const char *deflt, char **dest,
		     const char **rest, struct bfs_err *err);

/* --files and --archive (source_files.c, source_archive.c). */
int bfs_source_files_run(struct bfs_backup *b, const struct bfs_source *s,
			 struct bfs_err *err);
int bfs_source_archive_run(struct bfs_backup *b, const struct bfs_source *s,
			   struct bfs_err *err);

#endif
