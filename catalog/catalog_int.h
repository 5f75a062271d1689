/* catalog_int.h - internals shared by the catalog's source files.
 * Only catalog/ includes this (and sqlite3.h).
 *
 * Files:
 *   catalog.c         open/close, schema, SQLite error translation, the
 *                     prepared-statement cache, default path
 *   catalog_query.c   read side: inode resolution, entries, backups
 *   catalog_chunks.c  chunk lists (whole or in pieces), dedup lookups
 *   catalog_ingest.c  one format-2 manifest -> backup row + new trees
 *   catalog_runs.c    runs: a directory's entries in content-defined
 *                     pieces shared between its versions
 *   catalog_sync.c    sync with the repository (index objects, then
 *                     manifests), rebuild, drop (and tree collection)
 *   catalog_index.c   the index operations of src/index.h
 *   catalog_jobs.c    jobs: the mount's /jobs/NAME/ (numbers, latest)
 *   catalog_file.c    the file: identity (file_id), check, removal
 *   catalog_compact.c compaction (the newest backup's rows first), the
 *                     lock file
 */
#ifndef BFS_CATALOG_INT_H
#define BFS_CATALOG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "catalog/catalog.h"

#define CAT_SCHEMA_VERSION 9
/* Writers wait this long for another process's write transaction (an
 * ingest of a large manifest can take seconds). */
#define CAT_BUSY_TIMEOUT_MS 30000
#define CAT_LOCK_POLL_MS 50 /* a wait for a compaction checks this often */

/* Inode numbers (doc/FORMAT.md 6.4): ino = backup rowid << 40 | pre. */
#define CAT_INO_SHIFT 40
#define CAT_PRE_MASK ((INT64_C(1) << CAT_INO_SHIFT) - 1)
#define CAT_BACKUP_MAX (INT64_C(1) << 23) /* rowids stay below */

/* A file's chunk list is stored in the entry's row while it holds at
 * most this many refs (BFS_BLOBREF_BLOB bytes each: 288 KiB), else in
 * chunk_pieces rows of this many refs each.  Lowered on a connection
 * whose SQLite length limit is smaller (cat_piece_refs). */
#define CAT_PIECE_REFS 8192

/* The per-connection cache of resolved inodes (direct-mapped). */
#define CAT_ICACHE_SLOTS 4096

/* Where an inode lives.  tree == 0: a backup's root directory. */
struct cat_pos {
	int64_t ino;	/* 0: empty cache slot */
	int64_t tree;	/* trees.id holding the entry, 0 for a root */
	int64_t slot;	/* its slot there */
	int64_t dirpre; /* absolute pre of the containing directory */
	int64_t parent; /* parent ino, 0 for a root */
	int64_t child;	/* directories: trees.id of the content, else 0 */
	int64_t run;	/* its row: entries (run, idx), pre relative to */
	int64_t idx;	/* the run (0 for a root) */
	int64_t rpre;
};

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
	ST_BACKUP_ROOT,
	ST_BACKUP_INSERT,
	ST_BACKUP_SET_ROOT,
	ST_BACKUP_DELETE,
	ST_BACKUP_USES_TREE,
	ST_SOURCE_INSERT,
	ST_SOURCE_DELETE,
	ST_PREV_SOURCE,
	ST_PREV_DEST,
	ST_ENTRY_AT,
	ST_ENTRY_RUN_AT,
	ST_ENTRY_PRE,
	ST_ENTRY_NAME,
	ST_ENTRY_READDIR,
	ST_ENTRY_READDIR_ATTRS,
	ST_ENTRY_READDIR_CHUNKS,
	ST_ENTRY_CHUNKS,
	ST_ENTRY_INSERT,
	ST_ENTRY_SUBDIRS,
	ST_ENTRY_PARENT,
	ST_ENTRY_REFERS,
	ST_ENTRY_DELETE_RUN,
	ST_PIECE_INSERT,
	ST_PIECE_READ,
	ST_PIECE_DELETE_RUN,
	ST_TREE_FIND,
	ST_TREE_INSERT,
	ST_TREE_FINISH,
	ST_TREE_PENDING,
	ST_TREE_ERROR,
	ST_ENTRY_SLOT_OF,
	ST_TREE_DAMAGED,
	ST_TREE_GET,
	ST_TREE_DELETE,
	ST_RUN_FIND,
	ST_RUN_ROWS,
	ST_RUN_INSERT,
	ST_RUN_USED,
	ST_RUN_DELETE,
	ST_TREE_RUNS_INSERT,
	ST_TREE_RUNS_OF,
	ST_TREE_RUNS_DELETE,
	ST_CHUNK_INSERT,
	ST_CHUNK_LOOKUP,
	ST_CHUNK_DELETE_IDX,
	ST_JOB_INSERT,
	ST_JOB_LIST,
	ST_JOB_BY_NAME,
	ST_JOB_BY_ID,
	ST_JOB_LATEST,
	ST_IDX_NAMES,
	ST_IDX_INSERT,
	ST_IDX_DELETE,
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
	struct bfs_buf pieces;		/* cat_children: a long list */
	size_t piece_refs;		/* refs per piece, see CAT_PIECE_REFS */
	/* ino -> position, CAT_ICACHE_SLOTS slots or NULL until first
	 * use.  Tree ids are never reused (AUTOINCREMENT) and a tree never
	 * changes once ingested, so a slot can only go stale by naming a
	 * tree that was dropped: its queries then find nothing. */
	struct cat_pos *icache;
	/* a shared flock on PATH-lock for the connection's life, -1 if
	 * none (cat_lock_take) */
	int lock_fd;
};

/* The shared-mapping VFS (catalog_vfs.c), registered by cat_vfs_init
 * (once per process; SQLITE_OK or why not) under CAT_VFS_NAME, never the
 * default.  cat_vfs_drop_pages takes every shared mapping's pages out of
 * the process (MADV_DONTNEED; thread-safe, readers refault) and returns
 * the bytes mapped; cat_vfs_mapped_bytes returns them alone. */
#define CAT_VFS_NAME "bfs-shared"
int cat_vfs_init(void);
uint64_t cat_vfs_drop_pages(void);
uint64_t cat_vfs_mapped_bytes(void);

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
/* Same, with up to two integer parameters bound (?1 = a, ?2 = b). */
int cat_exec_ids(struct bfs_catalog *c, enum cat_st id, int64_t a, int64_t b,
		 struct bfs_err *err, const char *what);

/* A row of BACKUP_COLS (catalog.c) -> *b (strings allocated; clear with
 * bfs_backup_info_clear); checks what it copies.  0, -ENOMEM, -EUCLEAN
 * (a bad job name, message set).  catalog_query.c. */
int cat_fill_backup(struct bfs_catalog *c, sqlite3_stmt *st,
		    struct bfs_backup_info *b, struct bfs_err *err);

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

/* Position of ino, and its entry when out != NULL (cleared first; clear
 * with bfs_cat_entry_clear), hardlinks resolved when links is set.
 * -ENOENT "no entry N in the catalog", -EIO for a damaged directory on
 * the way.  catalog_query.c. */
int cat_resolve(struct bfs_catalog *c, int64_t ino, struct cat_pos *pos,
		struct bfs_cat_entry *out, bool links, struct bfs_err *err);
/* -ENOENT with "no entry INO in the catalog". */
int cat_no_entry(struct bfs_err *err, int64_t ino);

/* The chunk list of entry idx of run (entries' primary key), nchunks refs,
 * whose row holds blob/len (its "chunks" column; NULL/0 when the list is in
 * pieces): *refs points at the whole list, packed BFS_BLOBREF_BLOB bytes per
 * ref, either into the row (valid until its statement steps) or into buf
 * (caller's, reused).  Every length and the pieces' order are checked.
 * 0, -EUCLEAN "catalog 'PATH': entry ID has a damaged chunk list",
 * -ENOMEM, SQLite errors.  catalog_chunks.c. */
int cat_entry_refs(struct bfs_catalog *c, int64_t run, int64_t idx, int64_t id,
		   uint64_t nchunks, const void *blob, size_t len,
		   struct bfs_buf *buf, const uint8_t **refs,
		   struct bfs_err *err);
/* The same list handed to cb one piece at a time (refs borrowed during
 * the call, n refs of BFS_BLOBREF_BLOB bytes), in order, so that nothing
 * holds the whole packed list; the checks run as the pieces come (cb may
 * have seen the first pieces of a list found damaged later).  cb returns
 * 0 or -errno (returned). */
typedef int (*cat_refs_cb)(void *arg, const uint8_t *refs, size_t n);
int cat_entry_refs_each(struct bfs_catalog *c, int64_t run, int64_t idx,
			int64_t id, uint64_t nchunks, const void *blob,
			size_t len, cat_refs_cb cb, void *arg,
			struct bfs_err *err);

/* Forget every cached inode position (after a drop or a rebuild on this
 * connection). */
void cat_icache_clear(struct bfs_catalog *c);

/* Ingest one index object (compressed bytes, borrowed) named name (64
 * hex) in its own transaction: its row in index_objects and one
 * chunk_loc row per blob it lists that has none yet.  existing > 0:
 * the object is known with that id already, only fill missing locations
 * (after another index object vanished).  0, -EEXIST (known already),
 * -EUCLEAN (corrupt, message names index/NAME), SQLite errors. */
int cat_ingest_index(struct bfs_catalog *c, const char *name, const void *data,
		     size_t len, int64_t existing, struct bfs_err *err);

/* The children of directory dir (an ino) in slot order, each with its
 * chunk refs (36-byte records, borrowed during the call; NULL/0 when the
 * entry has none); for a directory also its tree's part ids (nparts x 32
 * bytes, borrowed; NULL when its tree is damaged or not filled yet) and
 * its subtree count.  Hardlinks are not resolved (link_id 0).  cb may
 * take the strings of e->e (setting the pointers it takes to NULL): what
 * is left is freed after it.  cb returns non-zero to stop (returned).
 * -ENOTDIR when dir is no directory. */
typedef int (*cat_child_cb)(void *arg, struct bfs_cat_entry *e,
			    const uint8_t *refs, size_t nrefs,
			    const uint8_t *parts, size_t nparts,
			    uint64_t count);
int cat_children(struct bfs_catalog *c, int64_t dir, cat_child_cb cb, void *arg,
		 struct bfs_err *err);

/* The catalog's lock file, PATH-lock (catalog_compact.c): every
 * connection holds it shared for its life (cat_open), a compaction
 * exclusive.  create: open it read-write, creating it (writers); else
 * read-only, and a missing or unreadable one is no lock (*fd -1, 0).
 * Shared waits for a compaction to end (saying so, with the compacting
 * process's pid, which an exclusive holder notes in the file, and again
 * every minute); exclusive does not wait: -EBUSY while any other
 * connection holds it.  *fd: the locked descriptor, to close with the
 * connection (an exclusive one with cat_lock_release).  0 / -errno. */
int cat_lock_take(const char *path, bool create, bool exclusive, int *fd,
		  struct bfs_err *err);
/* Let go of an exclusive lock taken by cat_lock_take: empty the noted
 * pid, close.  -1 ok. */
void cat_lock_release(int fd);
/* Open path read-write without taking the lock (the caller holds it
 * exclusive: catalog_compact.c). */
int cat_open_locked(const char *path, const char *repo_id,
		    struct bfs_catalog **out, struct bfs_err *err);
/* The schema's SQL (catalog.c), to create a file's tables and indexes. */
const char *cat_schema_sql(void);
/* Make path a 0600 regular file (created if missing), group and other
 * bits taken off an older one of ours and its -wal and -shm. */
int cat_private_file(const char *path, struct bfs_err *err);

#endif
