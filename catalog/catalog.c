/* catalog.c - opening the catalog: schema, SQLite error translation,
 * the prepared-statement cache, the default location.
 *
 * The catalog is a cache: everything in it can be rebuilt from the
 * repository's manifests (bfs_catalog_rebuild).  Layout (version 1):
 *
 *   meta(key, value)            repo_id, next_entry_id, generation
 *   backups(id, name UNIQUE, time_ns, host, tags_json, header_json,
 *           partial, root, n_entries .. duration_ns, manifest_size,
 *           ingested_ns)
 *   backup_sources(key, backup) the header's sources[].key, for
 *                               bfs_catalog_prev_source
 *   entries(id, backup, parent, name BLOB, type, mode, uid, gid, user,
 *           grp, mtime_ns, ctime_ns, ino, size, rdev, target BLOB,
 *           link_id, nlink, error, sparse, nchunks, chunks BLOB)
 *   chunk_loc(hash PRIMARY KEY, pack, pack_off, clen, len) WITHOUT ROWID
 *
 * Choices worth knowing:
 *  - Entry ids come from meta.next_entry_id, never from max(id)+1, so an
 *    id (a FUSE inode number) is never reused, not even after a drop or a
 *    rebuild of the same catalog file.  One backup's ids are contiguous.
 *  - Names, targets, user/group and error texts are BLOBs: any bytes
 *    round-trip, nothing is interpreted as UTF-8.
 *  - chunks is the last column: reading the others never walks its
 *    overflow pages (a file of 3000 chunks has a 240 KB blob).
 *  - (parent, name) is a partial UNIQUE index (roots, parent 0, are left
 *    out: every root is named ""), so a manifest listing a path twice
 *    fails its ingest instead of producing two entries with one name.
 *    Lookups say "AND parent <> 0" so the planner may use it.
 *  - (parent) alone indexes (parent, id): readdir pages by id.
 *  - chunk_loc is a cache of where chunks are stored.  Dropping a backup
 *    leaves its rows (the packs stay until a prune); a future prune must
 *    delete the rows of the packs it removes, or rebuild the catalog.
 *  - meta.generation is bumped by every ingest, drop and rebuild.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog_int.h"

static const char cat_schema[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE backups("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " time_ns INTEGER NOT NULL,"
    " host TEXT NOT NULL,"
    " tags_json TEXT NOT NULL,"
    " header_json TEXT NOT NULL,"
    " partial INTEGER NOT NULL,"
    " root INTEGER NOT NULL,"
    " n_entries INTEGER NOT NULL, n_files INTEGER NOT NULL,"
    " n_dirs INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " chunks INTEGER NOT NULL, new_chunks INTEGER NOT NULL,"
    " new_bytes INTEGER NOT NULL, stored_bytes INTEGER NOT NULL,"
    " errors INTEGER NOT NULL, duration_ns INTEGER NOT NULL,"
    " manifest_size INTEGER NOT NULL,"
    " ingested_ns INTEGER NOT NULL);"
    "CREATE INDEX backups_time ON backups(time_ns, name);"
    "CREATE TABLE backup_sources(key TEXT NOT NULL,"
    " backup INTEGER NOT NULL, PRIMARY KEY(key, backup)) WITHOUT ROWID;"
    "CREATE INDEX backup_sources_backup ON backup_sources(backup);"
    "CREATE TABLE entries("
    " id INTEGER PRIMARY KEY,"
    " backup INTEGER NOT NULL,"
    " parent INTEGER NOT NULL,"
    " name BLOB NOT NULL,"
    " type INTEGER NOT NULL,"
    " mode INTEGER NOT NULL,"
    " uid INTEGER NOT NULL,"
    " gid INTEGER NOT NULL,"
    " user BLOB,"
    " grp BLOB,"
    " mtime_ns INTEGER NOT NULL,"
    " ctime_ns INTEGER NOT NULL,"
    " ino INTEGER NOT NULL,"
    " size INTEGER NOT NULL,"
    " rdev INTEGER NOT NULL,"
    " target BLOB,"
    " link_id INTEGER NOT NULL,"
    " nlink INTEGER NOT NULL,"
    " error BLOB,"
    " sparse INTEGER NOT NULL,"
    " nchunks INTEGER NOT NULL,"
    " chunks BLOB);"
    "CREATE UNIQUE INDEX entries_parent_name ON entries(parent, name)"
    " WHERE parent <> 0;"
    "CREATE INDEX entries_parent ON entries(parent);"
    "CREATE INDEX entries_backup ON entries(backup);"
    "CREATE TABLE chunk_loc(hash BLOB PRIMARY KEY, pack BLOB NOT NULL,"
    " pack_off INTEGER NOT NULL, clen INTEGER NOT NULL,"
    " len INTEGER NOT NULL) WITHOUT ROWID;";

#define BACKUP_COLS                                                            \
	"id, name, time_ns, host, tags_json, header_json, partial, root, "     \
	"n_entries, n_files, n_dirs, bytes, chunks, new_chunks, new_bytes, "   \
	"stored_bytes, errors, duration_ns"
#define ENTRY_COLS                                                             \
	"id, backup, parent, name, type, mode, uid, gid, user, grp, "          \
	"mtime_ns, ctime_ns, ino, size, rdev, target, link_id, nlink, "        \
	"error, sparse, nchunks"

static const char *const cat_sql[CAT_ST_COUNT] = {
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT OR REPLACE INTO meta(key, value)"
		    " VALUES(?1, ?2)",
    [ST_BACKUP_LIST] =
	"SELECT " BACKUP_COLS " FROM backups ORDER BY time_ns, name",
    [ST_BACKUP_FIND] = "SELECT " BACKUP_COLS " FROM backups WHERE name = ?1",
    [ST_BACKUP_LATEST] = "SELECT " BACKUP_COLS " FROM backups"
			 " ORDER BY time_ns DESC, name DESC LIMIT 1",
    [ST_BACKUP_NAMES] = "SELECT name FROM backups",
    [ST_BACKUP_ID] = "SELECT id FROM backups WHERE name = ?1",
    [ST_BACKUP_INSERT] =
	"INSERT INTO backups(name, time_ns, host, tags_json,"
	" header_json, partial, root, n_entries, n_files, n_dirs,"
	" bytes, chunks, new_chunks, new_bytes, stored_bytes, errors,"
	" duration_ns, manifest_size, ingested_ns) VALUES(?1, ?2, ?3,"
	" ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
	" ?17, ?18, ?19)",
    [ST_BACKUP_DELETE] = "DELETE FROM backups WHERE id = ?1",
    [ST_SOURCE_INSERT] = "INSERT OR IGNORE INTO backup_sources(key, backup)"
			 " VALUES(?1, ?2)",
    [ST_SOURCE_DELETE] = "DELETE FROM backup_sources WHERE backup = ?1",
    [ST_PREV_SOURCE] = "SELECT b.root FROM backup_sources s"
		       " JOIN backups b ON b.id = s.backup"
		       " WHERE s.key = ?1"
		       " ORDER BY b.time_ns DESC, b.name DESC LIMIT 1",
    [ST_ENTRY_GET] = "SELECT " ENTRY_COLS " FROM entries WHERE id = ?1",
    [ST_ENTRY_LOOKUP] = "SELECT " ENTRY_COLS " FROM entries"
			" WHERE parent = ?1 AND name = ?2"
			" AND parent <> 0",
    [ST_ENTRY_READDIR] =
	"SELECT " ENTRY_COLS " FROM entries INDEXED BY entries_parent"
	" WHERE parent = ?1 AND id > ?2"
	" ORDER BY id LIMIT ?3",
    [ST_ENTRY_CHUNKS] = "SELECT type, link_id, nchunks, chunks"
			" FROM entries WHERE id = ?1",
    [ST_ENTRY_INSERT] =
	"INSERT INTO entries(id, backup, parent, name, type, mode, uid,"
	" gid, user, grp, mtime_ns, ctime_ns, ino, size, rdev, target,"
	" link_id, nlink, error, sparse, nchunks, chunks) VALUES(?1,"
	" ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
	" ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
    [ST_ENTRY_UPDATE_DIR] =
	"UPDATE entries SET mode = ?2, uid = ?3, gid = ?4, user = ?5,"
	" grp = ?6, mtime_ns = ?7, ctime_ns = ?8, ino = ?9,"
	" error = ?10 WHERE id = ?1",
    [ST_ENTRY_NLINK_SET] = "UPDATE entries SET nlink = ?2 WHERE id = ?1",
    [ST_ENTRY_NLINK_INC] = "UPDATE entries SET nlink = nlink + 1"
			   " WHERE id = ?1",
    [ST_ENTRY_NLINK_COPY] = "UPDATE entries SET nlink = (SELECT t.nlink"
			    " FROM entries t WHERE t.id = ?2)"
			    " WHERE id = ?1",
    [ST_ENTRY_DELETE_BACKUP] = "DELETE FROM entries WHERE backup = ?1",
    [ST_ENTRY_MAX_ID] = "SELECT max(id) FROM entries",
    [ST_CHUNK_INSERT] = "INSERT OR IGNORE INTO chunk_loc(hash, pack,"
			" pack_off, clen, len) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_CHUNK_LOOKUP] = "SELECT pack, pack_off, clen, len FROM chunk_loc"
			" WHERE hash = ?1",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

int cat_sqlerr(struct bfs_catalog *c, int rc, struct bfs_err *err,
	       const char *what)
{
	const char *msg;
	int code;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		code = -EBUSY;
		break;
	case SQLITE_NOMEM:
		code = -ENOMEM;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		code = -EUCLEAN;
		break;
	case SQLITE_CANTOPEN:
		code = c->db && sqlite3_system_errno(c->db) == ENOENT ? -ENOENT
								      : -EACCES;
		break;
	case SQLITE_FULL:
		code = -ENOSPC;
		break;
	case SQLITE_READONLY:
		code = -EROFS;
		break;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		code = -EACCES;
		break;
	case SQLITE_CONSTRAINT:
		code = -EEXIST;
		break;
	default:
		code = -EIO;
		break;
	}
	/* errmsg describes the most recent failure on this connection; for
	 * a code with no connection behind it use the generic text. */
	msg = c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
	return bfs_err_set(err, code, "catalog '%s': %s: %s", c->path, what,
			   msg);
}

int cat_stmt_get(struct bfs_catalog *c, enum cat_st id, sqlite3_stmt **out,
		 struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (c->st[id] && !c->st_busy[id]) {
		c->st_busy[id] = true;
		*out = c->st[id];
		return 0;
	}
	rc = sqlite3_prepare_v3(c->db, cat_sql[id], -1,
				SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK)
		return cat_sqlerr(c, rc, err, "cannot prepare a statement");
	if (!c->st[id]) {
		c->st[id] = st;
		c->st_busy[id] = true;
	}
	*out = st;
	return 0;
}

void cat_stmt_put(struct bfs_catalog *c, enum cat_st id, sqlite3_stmt *st)
{
	if (!st)
		return;
	if (st != c->st[id]) {
		sqlite3_finalize(st);
		return;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	c->st_busy[id] = false;
}

int cat_exec_st(struct bfs_catalog *c, enum cat_st id, struct bfs_err *err,
		const char *what)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, id, &st, err);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	rc = rc == SQLITE_DONE ? 0 : cat_sqlerr(c, rc, err, what);
	cat_stmt_put(c, id, st);
	return rc;
}

int cat_begin(struct bfs_catalog *c, struct bfs_err *err)
{
	return cat_exec_st(c, ST_BEGIN, err, "cannot begin a transaction");
}

int cat_commit(struct bfs_catalog *c, struct bfs_err *err)
{
	return cat_exec_st(c, ST_COMMIT, err, "cannot commit");
}

void cat_rollback(struct bfs_catalog *c)
{
	/* Some errors (SQLITE_FULL, IOERR, NOMEM) roll back by themselves;
	 * then there is nothing left to end. */
	if (!sqlite3_get_autocommit(c->db))
		cat_exec_st(c, ST_ROLLBACK, NULL, "cannot roll back");
}

int cat_bind_bytes(sqlite3_stmt *st, int col, const void *p, size_t n)
{
	if (!p)
		p = "";
	return sqlite3_bind_blob64(st, col, p, n, SQLITE_STATIC);
}

int cat_check_writable(struct bfs_catalog *c, struct bfs_err *err)
{
	if (c->readonly)
		return bfs_err_set(err, -EROFS,
				   "catalog '%s' is open read-only", c->path);
	return 0;
}

int cat_meta_get_int(struct bfs_catalog *c, const char *key, int64_t *v,
		     struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_META_GET, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = bfs_err_set(err, -ENOENT, "catalog '%s': no meta '%s'",
				 c->path, key);
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot read meta");
	}
	cat_stmt_put(c, ST_META_GET, st);
	return rc;
}

int cat_meta_set_int(struct bfs_catalog *c, const char *key, int64_t v,
		     struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_META_SET, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	rc = sqlite3_step(st);
	rc =
	    rc == SQLITE_DONE ? 0 : cat_sqlerr(c, rc, err, "cannot write meta");
	cat_stmt_put(c, ST_META_SET, st);
	return rc;
}

int cat_bump_generation(struct bfs_catalog *c, struct bfs_err *err)
{
	int64_t g = 0;
	int rc;

	rc = cat_meta_get_int(c, "generation", &g, err);
	if (rc && rc != -ENOENT)
		return rc;
	return cat_meta_set_int(c, "generation", g + 1, err);
}

/* Run SQL text once (pragmas, schema). */
static int cat_exec(struct bfs_catalog *c, const char *sql, struct bfs_err *err,
		    const char *what)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : cat_sqlerr(c, rc, err, what);
}

/* A one-row, one-column integer query run once (PRAGMA user_version). */
static int cat_query_int(struct bfs_catalog *c, const char *sql, int64_t *v,
			 struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return cat_sqlerr(c, rc, err, "cannot read the schema");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		*v = 0;
		rc = 0;
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot read the schema");
	}
	sqlite3_finalize(st);
	return rc;
}

/* Create the schema in a fresh database; another process may be doing
 * the same right now, so decide under the write lock. */
static int cat_create_schema(struct bfs_catalog *c, struct bfs_err *err)
{
	char sql[256];
	int64_t v, ntables;
	int rc;

	rc = cat_begin(c, err);
	if (rc)
		return rc;
	rc = cat_query_int(c, "PRAGMA user_version", &v, err);
	if (rc || v != 0)
		goto out_end;
	rc = cat_query_int(c, "SELECT count(*) FROM sqlite_schema", &ntables,
			   err);
	if (rc)
		goto out_end;
	if (ntables) {
		rc = bfs_err_set(err, -EINVAL,
				 "'%s' is not a backupfs catalog (an SQLite"
				 " database with other tables)",
				 c->path);
		goto out_end;
	}
	rc = cat_exec(c, cat_schema, err, "cannot create the schema");
	if (rc)
		goto out_end;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO meta(key, value) VALUES('repo_id', '%s'),"
		 " ('next_entry_id', 1), ('generation', 0)",
		 c->repo_id);
	rc = cat_exec(c, sql, err, "cannot initialise the catalog");
	if (rc)
		goto out_end;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		 CAT_SCHEMA_VERSION);
	rc = cat_exec(c, sql, err, "cannot set the schema version");
	if (rc)
		goto out_end;
	return cat_commit(c, err);
out_end:
	cat_rollback(c);
	return rc;
}

static int cat_check_repo(struct bfs_catalog *c, struct bfs_err *err)
{
	sqlite3_stmt *st;
	const unsigned char *v;
	int rc;

	rc = cat_stmt_get(c, ST_META_GET, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, "repo_id", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		v = sqlite3_column_text(st, 0);
		if (!v)
			rc = -ENOMEM;
		else if (strcmp((const char *)v, c->repo_id) != 0)
			rc = bfs_err_set(err, -EINVAL,
					 "catalog '%s' belongs to repository"
					 " %.100s, not %s",
					 c->path, (const char *)v, c->repo_id);
		else
			rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "catalog '%s' has no repository id", c->path);
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot read meta");
	}
	cat_stmt_put(c, ST_META_GET, st);
	return rc;
}

static bool cat_id_valid(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > 64)
		return false;
	for (i = 0; i < n; i++) {
		char ch = id[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

/* Open or create the catalog at path for repository repo_id.  See
 * catalog.h.  Errors: -EINVAL (bad repo id, another repository's catalog,
 * not a catalog), -EPROTO (schema newer than this program), -ENOENT
 * (readonly and missing), -EUCLEAN (not a database), others from SQLite.
 * *out owned by the caller (bfs_catalog_close).  The connection must be
 * used by one thread at a time. */
int bfs_catalog_open(const char *path, const char *repo_id, bool readonly,
		     struct bfs_catalog **out, struct bfs_err *err)
{
	struct bfs_catalog *c;
	int64_t v;
	int flags, rc;

	*out = NULL;
	if (!cat_id_valid(repo_id))
		return bfs_err_set(err, -EINVAL, "invalid repository id '%s'",
				   repo_id);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	if (!c->path) {
		rc = -ENOMEM;
		goto out_free;
	}
	snprintf(c->repo_id, sizeof(c->repo_id), "%s", repo_id);
	c->readonly = readonly;
	flags = SQLITE_OPEN_NOMUTEX |
		(readonly ? SQLITE_OPEN_READONLY
			  : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	rc = sqlite3_open_v2(path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		rc = cat_sqlerr(c, rc, err, "cannot open");
		goto out_free;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, CAT_BUSY_TIMEOUT_MS);
	rc = cat_exec(c,
		      "PRAGMA synchronous = NORMAL;"
		      " PRAGMA cache_size = -32768;"
		      " PRAGMA temp_store = MEMORY",
		      err, "cannot configure");
	if (rc)
		goto out_free;
	if (!readonly) {
		/* Switching a new database to WAL needs an exclusive lock and
		 * SQLite may answer SQLITE_BUSY at once, without the busy
		 * handler, when another process is creating the same catalog
		 * (a mount and a backup started together): retry within the
		 * busy timeout. */
		int64_t deadline =
		    bfs_mono_ns() + (int64_t)CAT_BUSY_TIMEOUT_MS * 1000000;

		for (;;) {
			rc = cat_exec(c, "PRAGMA journal_mode = WAL", err,
				      "cannot switch to WAL mode");
			if (rc != -EBUSY || bfs_mono_ns() > deadline)
				break;
			usleep(20000);
		}
		if (rc)
			goto out_free;
	}
	rc = cat_query_int(c, "PRAGMA user_version", &v, err);
	if (rc)
		goto out_free;
	if (v == 0) {
		if (readonly) {
			rc = bfs_err_set(err, -ENOENT,
					 "catalog '%s' is empty (never"
					 " synced)",
					 path);
			goto out_free;
		}
		rc = cat_create_schema(c, err);
		if (rc)
			goto out_free;
		rc = cat_query_int(c, "PRAGMA user_version", &v, err);
		if (rc)
			goto out_free;
	}
	if (v != CAT_SCHEMA_VERSION) {
		rc = bfs_err_set(err, -EPROTO,
				 "catalog '%s' has schema version %lld, this"
				 " backupfs reads version %d (remove the file"
				 " to rebuild it)",
				 path, (long long)v, CAT_SCHEMA_VERSION);
		goto out_free;
	}
	rc = cat_check_repo(c, err);
	if (rc)
		goto out_free;
	*out = c;
	return 0;
out_free:
	bfs_catalog_close(c);
	return rc;
}

/* Close the connection and free c.  NULL is a no-op. */
void bfs_catalog_close(struct bfs_catalog *c)
{
	int i;

	if (!c)
		return;
	for (i = 0; i < CAT_ST_COUNT; i++)
		sqlite3_finalize(c->st[i]);
	if (c->db) {
		/* Keep the planner's statistics fresh; cheap when nothing
		 * changed.  Never wait for another writer to do it. */
		if (!c->readonly) {
			sqlite3_busy_timeout(c->db, 0);
			sqlite3_exec(c->db, "PRAGMA optimize", NULL, NULL,
				     NULL);
		}
		sqlite3_close(c->db);
	}
	bfs_buf_free(&c->scratch);
	free(c->path);
	free(c);
}

/* $XDG_CACHE_HOME/backupfs/<repo id>.db, or $HOME/.cache/backupfs/...
 * (relative XDG_CACHE_HOME is ignored, as the XDG spec says).  Creates the
 * directory (0700).  *out malloc'ed, owned by the caller.  -EINVAL bad
 * id, -ENOENT neither variable set, -errno from mkdir. */
int bfs_catalog_default_path(const char *repo_id, char **out,
			     struct bfs_err *err)
{
	const char *base, *sub;
	char *p;
	size_t n;
	int rc;

	*out = NULL;
	if (!cat_id_valid(repo_id))
		return bfs_err_set(err, -EINVAL, "invalid repository id '%s'",
				   repo_id);
	base = getenv("XDG_CACHE_HOME");
	sub = "backupfs";
	if (!base || base[0] != '/') {
		base = getenv("HOME");
		sub = ".cache/backupfs";
	}
	if (!base || base[0] != '/')
		return bfs_err_set(err, -ENOENT,
				   "no cache directory for the catalog: set"
				   " XDG_CACHE_HOME or HOME, or pass"
				   " --catalog");
	n = strlen(base) + strlen(sub) + strlen(repo_id) + 8;
	p = malloc(n);
	if (!p)
		return -ENOMEM;
	snprintf(p, n, "%s/%s/%s.db", base, sub, repo_id);
	rc = bfs_mkdir_parents(p, 0700);
	if (rc) {
		bfs_err_set(err, rc, "cannot create the directory of '%s': %s",
			    p, strerror(-rc));
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}
