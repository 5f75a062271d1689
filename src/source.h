/* source.h - what a backup reads from: directory trees, archives, command
 * output, stdin, pg_dump and mysqldump.  Each source writes entries
 * through writer.h.  source.c dispatches over a table of source kinds,
 * one file each (source_int.h says how to add one).
 */
#ifndef BFS_SOURCE_H
#define BFS_SOURCE_H

#include "writer.h"

enum bfs_source_kind {
	BFS_SRC_FILES,	    /* --files [DEST=]PATH */
	BFS_SRC_ARCHIVE,    /* --archive [DEST=]FILE */
	BFS_SRC_COMMAND,    /* --command PATH=CMD */
	BFS_SRC_STDIN,	    /* --stdin PATH */
	BFS_SRC_PG_DUMP,    /* --pg-dump [NAME=]CONNINFO */
	BFS_SRC_MYSQL_DUMP, /* --mysql-dump [NAME=]URI|DATABASE */
};

struct bfs_source {
	enum bfs_source_kind kind;
	const char *arg; /* the option's argument, as given (borrowed) */
	/* --exclude patterns (exclude.h), NULL-terminated; NULL for none */
	const char *const *excludes;
	/* NULL, or one counter per exclude: the source adds the number of
	 * entries each pattern matched (so the caller can warn about
	 * patterns that matched nothing) */
	uint64_t *exclude_hits;
	/* --files: NULL, or absolute paths (NULL-terminated) never backed
	 * up when met below the source's root: the repository, the catalog,
	 * the cache.  Each one met is skipped with a warning naming it. */
	const char *const *skip_paths;
	const char *const *ignore_tables; /* --ignore-table DB.TABLE (mysql) */
	/* dumps, --command, --stdin: the permission bits the file is
	 * recorded with; 0 means 0600 (a dump is the database's content,
	 * private unless asked).  Ignored by --files and --archive, whose
	 * entries keep their real modes. */
	unsigned dump_mode;
};

/* Parse/validate a source argument without running it (for usage errors
 * before anything is written): fills *dest (malloc'ed) with the path the
 * source lands at.  -EINVAL with a message on bad syntax. */
int bfs_source_dest(const struct bfs_source *s, char **dest,
		    struct bfs_err *err);

/* Run one source into b.  Unreadable files inside a tree or archive are
 * recorded with bfs_backup_add_error and do not fail the source; a dump
 * or command that exits non-zero, a missing top-level path or an
 * unreadable archive fails it (-EIO/-ENOENT/..., message naming the
 * command and its exit status). */
int bfs_source_run(struct bfs_backup *b, const struct bfs_source *s,
		   struct bfs_err *err);

/* Overwrite in place every secret in the argument of a source of this
 * kind (the password of a --pg-dump or --mysql-dump connection string,
 * after its [NAME=]; conninfo.h), for the process's own argv.  Other
 * kinds are left alone.  Returns the number of bytes overwritten. */
size_t bfs_source_scrub(enum bfs_source_kind kind, char *arg);

#endif
