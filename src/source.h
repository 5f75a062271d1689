/* source.h - what a backup reads from: directory trees, archives, command
 * output, stdin, pg_dump and mysqldump.  Each source writes entries
 * through writer.h.  source.c dispatches over a table of source kinds,
 * one file each (source_int.h says how to add one).
 */
#ifndef BFS_SOURCE_H
#define BFS_SOURCE_H

#include <stdbool.h>

#include "writer.h"

enum bfs_source_kind {
	BFS_SRC_FILES,	    /* --files [DEST=]PATH */
	BFS_SRC_ARCHIVE,    /* --archive [DEST=]FILE */
	BFS_SRC_COMMAND,    /* --command PATH=CMD */
	BFS_SRC_STDIN,	    /* --stdin PATH */
	BFS_SRC_PG_DUMP,    /* --pg-dump [NAME=]CONNINFO */
	BFS_SRC_MYSQL_DUMP, /* --mysql-dump [NAME=]URI|DATABASE */
	BFS_SRC_NOCODB,	    /* --nocodb [DEST=]URL */
};

/* What --nocodb exports (source_nocodb.c; doc/NOCODB.md). */
struct bfs_nocodb_opts {
	const char *token; /* the API token (xc-token); NULL: the source
			    * reads NOCODB_API_TOKEN (job files) */
	bool records;	   /* records.jsonl of every table */
	bool attachments;  /* attachments/ of every table */
	/* NULL-terminated base titles to export; NULL or empty: all */
	const char *const *bases;
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
	/* Dumps (NULL-terminated lists; NULL for none).  ignore_table_data:
	 * --ignore-table-data DB.TABLE, tables dumped with their schema but
	 * without rows; entries whose DB is not the dumped database are
	 * left alone.  pg: TABLE is a pg_dump pattern (public.audit_log),
	 * mysql: a table name.  dump_opts: extra pg_dump / mysqldump
	 * options, each passing bfs_dump_opt_check for the source's kind. */
	const char *const *ignore_table_data;
	const char *const *dump_opts;
	/* pg_dump: also pg_dumpall --globals-only (roles, tablespaces) at
	 * globals.sql (NAME.globals.sql for a NAME= dump); role passwords
	 * only with BFS_PG_GLOBALS_PASSWORDS */
	enum bfs_pg_globals {
		BFS_PG_GLOBALS_NONE,
		BFS_PG_GLOBALS,		  /* --no-role-passwords */
		BFS_PG_GLOBALS_PASSWORDS, /* role password hashes too */
	} pg_globals;
	/* dumps: seconds the dump (all of its processes) may take, then it
	 * is killed and the source fails; 0: no limit */
	uint64_t dump_timeout;
	/* --nocodb: NULL means the defaults (all bases, records and
	 * attachments) with the token from NOCODB_API_TOKEN */
	const struct bfs_nocodb_opts *nocodb;
	/* dumps, --command, --stdin: the permission bits the file is
	 * recorded with; 0 means 0600 (a dump is the database's content,
	 * private unless asked).  Ignored by --files and --archive, whose
	 * entries keep their real modes. */
	unsigned dump_mode;
};

/* Read a NocoDB API token from path (*token malloc'ed, trailing
 * whitespace dropped; wipe it with explicit_bzero before free).  The
 * file must be a regular file owned by the user, mode 0600 or
 * stricter, at most 4 KiB, as env files.  -errno with a message. */
int bfs_nocodb_read_token(const char *path, char **token, struct bfs_err *err);
/* The token: from path (bfs_nocodb_read_token) when not NULL, else
 * from NOCODB_API_TOKEN (copied); -ENOKEY when neither gives one. */
int bfs_nocodb_token(const char *path, char **token, struct bfs_err *err);

/* Parse/validate a source argument without running it (for usage errors
 * before anything is written): fills *dest (malloc'ed) with the path the
 * source lands at.  -EINVAL with a message on bad syntax. */
int bfs_source_dest(const struct bfs_source *s, char **dest,
		    struct bfs_err *err);

/* Check one extra option for pg_dump (kind BFS_SRC_PG_DUMP) or mysqldump
 * (BFS_SRC_MYSQL_DUMP), as the user gave it (one argument: "--name" or
 * "--name=value"), against an allow-list of options that keep the
 * dump a plain SQL stream on standard output of the one database the
 * source names: output files and formats, parallel jobs, compression,
 * connection settings and passwords are refused.  0, or -EINVAL with a
 * message naming the option and why (the value is not echoed: it may
 * be a secret). */
int bfs_dump_opt_check(enum bfs_source_kind kind, const char *opt,
		       struct bfs_err *err);

/* The path pg_dumpall --globals-only lands at for a pg_dump source with
 * this dest ("database.sql" -> "globals.sql", "x/NAME.sql" ->
 * "x/NAME.globals.sql"); *out malloc'ed.  0 or -ENOMEM. */
int bfs_pg_globals_dest(const char *dest, char **out);

/* Run one source into b.  Unreadable files inside a tree or archive are
 * recorded with bfs_backup_add_error and do not fail the source; a dump
 * or command that exits non-zero, a missing top-level path or an
 * unreadable archive fails it (-EIO/-ENOENT/..., message naming the
 * command and its exit status). */
int bfs_source_run(struct bfs_backup *b, const struct bfs_source *s,
		   struct bfs_err *err);

/* Fill e's type, mode, owner ids, times, inode, size (files), sparse
 * hint and rdev from st (e's path and names are left alone). */
struct stat;
void bfs_source_stat_entry(struct bfs_entry *e, const struct stat *st);

/* Unpack the archive at file (tar, tar.gz, zip, ... as --archive) into b
 * under dest, recording a source of kind "archive".  strict: an entry
 * with an absolute name or a ".." component fails with -EUCLEAN (message
 * naming the archive and the entry) instead of being skipped with a
 * warning (the import's rule: a hostile archive is not half taken).
 * 0 or -errno as bfs_source_run. */
int bfs_source_archive(struct bfs_backup *b, const char *dest, const char *file,
		       bool strict, struct bfs_err *err);

/* Overwrite in place every secret in the argument of a source of this
 * kind (the password of a --pg-dump or --mysql-dump connection string,
 * after its [NAME=]; conninfo.h), for the process's own argv.  Other
 * kinds are left alone.  Returns the number of bytes overwritten. */
size_t bfs_source_scrub(enum bfs_source_kind kind, char *arg);

#endif
