/* catalog_int.h - internals shared by the catalog's source files.
 * Only catalog/ includes this (and sqlite3.h).
 *
 * Files:
 *   catalog.c         open/close, schema, SQLite error translation, the
 *                     prepared-statement cache, default path
 *   catalog_query.c   read side: backups, entries, chunks, dedup lookups
 *   catalog_ingest.c  one manifest -> rows (the hot path of sync)
 *   catalog_sync.c    sync with the repository, rebuild, drop
 */
#ifndef BFS_CATALOG_INT_H
#define BFS_CATALOG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "catalog/catalog.h"

#define CAT_SCHEMA_VERSION 1
/* Writers wait this long for another process's write transaction (an
 * ingest of a large manifest can take seconds). */
#define CAT_BUSY_TIMEOUT_MS 30000

/* Every statement the catalog runs more than once, prepared lazily on
 * first use and kept for the connection's lifetime.  SQL text is in
 * catalog.c (cat_sql[]). */
enum cat_st {
	ST_META_GET,
	ST_META_SET,
	ST_BACKUP_LIST,
	ST_BACKUP_FIND,
	ST_BACKUP_LATEST,
	ST_BACKUP_NAMES,
	ST_BACKUP_ID,
	ST_BACKUP_INSERT,
	ST_BACKUP_DELETE,
	ST_SOURCE_INSERT,
	ST_SOURCE_DELETE,
	ST_PREV_SOURCE,
	ST_ENTRY_GET,
	ST_ENTRY_LOOKUP,
	ST_ENTRY_READDIR,
	ST_ENTRY_CHUNKS,
	ST_ENTRY_INSERT,
	ST_ENTRY_UPDATE_DIR,
	ST_ENTRY_NLINK_SET,
	ST_ENTRY_NLINK_INC,
	ST_ENTRY_NLINK_COPY,
	ST_ENTRY_DELETE_BACKUP,
	ST_ENTRY_MAX_ID,
	ST_CHUNK_INSERT,
	ST_CHUNK_LOOKUP,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	CAT_ST_COUNT
};

/* One SQLite connection.  Not thread-safe: one per thread (opened with
 * SQLITE_OPEN_NOMUTEX). */
struct bfs_catalog {
	sqlite3 *db;
	char *path; /* owned, for messages */
	char repo_id[65];
	bool readonly;
	sqlite3_stmt *st[CAT_ST_COUNT]; /* cache; NULL until first use */
	bool st_busy[CAT_ST_COUNT];	/* handed out, not yet released */
	struct bfs_buf scratch;		/* ingest: chunk blob */
};

/* The one place SQLite result codes become -errno: SQLITE_BUSY/LOCKED ->
 * -EBUSY, NOMEM -> -ENOMEM, CORRUPT/NOTADB -> -EUCLEAN, CANTOPEN ->
 * -ENOENT or -EACCES, FULL -> -ENOSPC, READONLY -> -EROFS, PERM/AUTH ->
 * -EACCES, CONSTRAINT -> -EEXIST, anything else -> -EIO.  The message is
 * "catalog 'PATH': WHAT: sqlite3_errmsg".  Returns the -errno. */
int cat_sqlerr(struct bfs_catalog *c, int rc, struct bfs_err *err,
	       const char *what);

/* A prepared statement from the cache, reset and unbound.  If the cached
 * one is in use (a callback re-entered the catalog, e.g. a recursive
 * readdir), a private one is prepared instead.  Hand it back with
 * cat_stmt_put.  0 / -errno. */
int cat_stmt_get(struct bfs_catalog *c, enum cat_st id, sqlite3_stmt **out,
		 struct bfs_err *err);
void cat_stmt_put(struct bfs_catalog *c, enum cat_st id, sqlite3_stmt *st);

/* Run a statement that returns no rows (or ignore them).  0 / -errno. */
int cat_exec_st(struct bfs_catalog *c, enum cat_st id, struct bfs_err *err,
		const char *what);

/* Transactions: BEGIN IMMEDIATE (the write lock up front, so concurrent
 * writers wait in busy_timeout rather than fail on upgrade), COMMIT,
 * ROLLBACK (best effort, never fails). */
int cat_begin(struct bfs_catalog *c, struct bfs_err *err);
int cat_commit(struct bfs_catalog *c, struct bfs_err *err);
void cat_rollback(struct bfs_catalog *c);

/* meta table: integer values.  get: -ENOENT if absent. */
int cat_meta_get_int(struct bfs_catalog *c, const char *key, int64_t *v,
		     struct bfs_err *err);
int cat_meta_set_int(struct bfs_catalog *c, const char *key, int64_t v,
		     struct bfs_err *err);
/* Bump the change counter read by bfs_catalog_generation (inside the
 * caller's write transaction). */
int cat_bump_generation(struct bfs_catalog *c, struct bfs_err *err);

/* Bind a byte string as a BLOB; NULL p with n == 0 binds a zero-length
 * blob (never SQL NULL).  Borrowed until the statement is reset. */
int cat_bind_bytes(sqlite3_stmt *st, int col, const void *p, size_t n);

/* Refuse writes on a read-only catalog: -EROFS. */
int cat_check_writable(struct bfs_catalog *c, struct bfs_err *err);

#endif
