/* catalog.c - opening the catalog: schema, SQLite error translation,
 * the prepared-statement cache, the default location.
 *
 * The catalog is a cache: everything in it can be rebuilt from the
 * repository's index objects and manifests (bfs_catalog_rebuild).
 * Layout (schema version 6, format 2 and 3 repositories):
 *
 *   meta(key, value)            repo_id, generation
 *   index_objects(id, name)     the index/ objects ingested
 *   chunk_loc(hash, pack, pack_off, clen, len, type, idx)
 *                               where every blob is, from index objects
 *   trees(id, parts, n, count, nsub, error)  -- unique (parts, count)
 *                               one row per distinct directory content,
 *                               named by its parts (n x 32 bytes)
 *   runs(id, hash, n)           a few consecutive entries of a directory,
 *                               named by the SHA-256 of their tree lines
 *   tree_runs(tree, slot0, pre0, run, name0)
 *                               a tree's runs in order
 *   entries(run, idx, pre, name, ... chunks)
 *                               the entries of a run, in name order
 *   chunk_pieces(run, idx, seq, refs)
 *                               a long chunk list, in pieces
 *   backups(id, name, ..., root_tree, count, root_uid, root_gid, stats)
 *   backup_sources(key, backup) the header's sources[].key
 *
 * Choices worth knowing:
 *  - Entries belong to runs, runs to trees, not to backups: a tree shared
 *    by a hundred backups is stored once, and a run shared by a hundred
 *    versions of a directory too (catalog_runs.c: a directory with one
 *    file changed adds one run of ~8 entries and a tree_runs row per
 *    run).  A backup is its root tree.
 *  - The mount's inode of an entry is (backup id << 40) | pre, pre being
 *    the entry's pre-order number in its backup; entries store pre
 *    relative to their run, tree_runs the run's relative to the
 *    directory, so that runs and trees are position-free.
 *    catalog_query.c turns an inode back into a row.
 *  - backups and trees are AUTOINCREMENT: an id is never reused in one
 *    catalog file, so an inode number or a cached tree id never comes to
 *    mean something else.
 *  - trees.n < 0 marks a tree whose entries are still being ingested
 *    (only ever inside an ingest's transaction); trees.count then holds
 *    the count its parent claimed, checked when it is filled.
 *  - Names, targets, user/group and error texts are BLOBs: any bytes
 *    round-trip, nothing is interpreted as UTF-8.
 *  - chunks (nchunks x 36 bytes: hash, len) is the last column: reading
 *    the others never walks its overflow pages.  A list of more than
 *    CAT_PIECE_REFS refs leaves it NULL and is stored in chunk_pieces
 *    rows of CAT_PIECE_REFS refs (seq 1, 2, ...), so no row comes near
 *    SQLite's length limit and an ingest never holds a whole list.
 *  - entries(child) (partial: directories) lets a drop find which trees
 *    nothing refers to any more, without walking the live ones.
 *  - chunk_loc is filled from index objects only; a vanished index
 *    object takes its rows along (and the others are re-read for blobs
 *    they also list).
 *  - meta.generation is bumped by every ingest, drop, rebuild and
 *    compaction; meta.layout_runs is the number of runs the last
 *    compaction kept (catalog_compact.c: when the next one is due).
 *  - Every connection holds a shared flock on PATH-lock, which a
 *    compaction takes exclusive to replace the file (catalog_compact.c).
 *  - An older schema is dropped and recreated at open (the catalog is a
 *    cache); the next sync refills it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog_int.h"
#include "src/log.h"
#include "src/store.h"
#include "src/tree.h"

static const char cat_schema[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE index_objects(id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE chunk_loc(hash BLOB PRIMARY KEY, pack BLOB NOT NULL,"
    " pack_off INTEGER NOT NULL, clen INTEGER NOT NULL,"
    " len INTEGER NOT NULL, type INTEGER NOT NULL,"
    " idx INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX chunk_loc_idx ON chunk_loc(idx);"
    "CREATE TABLE trees("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " parts BLOB NOT NULL,"
    " n INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " nsub INTEGER NOT NULL,"
    " error TEXT," /* damaged in the repository: why (no entries) */
    /* a tree is its parts and the count its parent claims: a parent
     * that lies about a count gets a row of its own (damaged), and
     * never spoils the row of an honest backup with the same parts */
    " UNIQUE(parts, count));"
    "CREATE INDEX trees_pending ON trees(id) WHERE n < 0;"
    /* a run: a few consecutive entries of a directory, cut where the
     * content says (catalog_runs.c), named by the SHA-256 of their tree
     * lines; shared by every version of a directory that has them */
    "CREATE TABLE runs("
    " id INTEGER PRIMARY KEY,"
    " hash BLOB NOT NULL UNIQUE,"
    " n INTEGER NOT NULL);"
    /* a tree is its runs in order: run of slots slot0.. with pres
     * pre0.. (relative to the directory), first name name0 */
    "CREATE TABLE tree_runs("
    " tree INTEGER NOT NULL,"
    " slot0 INTEGER NOT NULL,"
    " pre0 INTEGER NOT NULL,"
    " run INTEGER NOT NULL,"
    " name0 BLOB NOT NULL,"
    " PRIMARY KEY(tree, slot0)) WITHOUT ROWID;"
    /* covering for the walk by pre and the lookup by name: the run is
     * found in the index alone (slot0, of the primary key, is in both) */
    "CREATE INDEX tree_runs_pre ON tree_runs(tree, pre0, run);"
    "CREATE INDEX tree_runs_name ON tree_runs(tree, name0, run, pre0);"
    "CREATE INDEX tree_runs_run ON tree_runs(run);"
    /* the entries of a run: idx 0.., pre relative to the run's first
     * entry (0); a run is at most CAT_RUN_MAX rows, so finding a name
     * or a pre in one scans a few rows of its primary key */
    "CREATE TABLE entries("
    " run INTEGER NOT NULL,"
    " idx INTEGER NOT NULL,"
    " pre INTEGER NOT NULL,"
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
    " link BLOB,"
    " nl INTEGER NOT NULL,"
    " error BLOB,"
    " sparse INTEGER NOT NULL,"
    " nchunks INTEGER NOT NULL,"
    " child INTEGER,"
    " count INTEGER NOT NULL,"
    " chunks BLOB,"
    " dt BLOB," /* a file's dump map blob id (tree key "dt") */
    " sk BLOB," /* a file's sketch blob id (tree key "sk") */
    " sa BLOB," /* a file's anchor blob id (tree key "sa") */
    " PRIMARY KEY(run, idx)) WITHOUT ROWID;"
    "CREATE INDEX entries_child ON entries(child) WHERE child IS NOT NULL;"
    /* a chunk list longer than one piece (entries.chunks NULL, nchunks
     * > 0): its refs in order, seq 1, 2, ... (doc/ARCHITECTURE.md, "The
     * catalog") */
    "CREATE TABLE chunk_pieces("
    " run INTEGER NOT NULL,"
    " idx INTEGER NOT NULL,"
    " seq INTEGER NOT NULL,"
    " refs BLOB NOT NULL,"
    " PRIMARY KEY(run, idx, seq)) WITHOUT ROWID;"
    "CREATE TABLE backups("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " time_ns INTEGER NOT NULL,"
    " host TEXT NOT NULL,"
    " tags_json TEXT NOT NULL,"
    " header_json TEXT NOT NULL,"
    " partial INTEGER NOT NULL,"
    " root_tree INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " root_uid INTEGER NOT NULL, root_gid INTEGER NOT NULL,"
    " n_entries INTEGER NOT NULL, n_files INTEGER NOT NULL,"
    " n_dirs INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " chunks INTEGER NOT NULL, new_chunks INTEGER NOT NULL,"
    " new_bytes INTEGER NOT NULL, stored_bytes INTEGER NOT NULL,"
    " errors INTEGER NOT NULL, duration_ns INTEGER NOT NULL,"
    " manifest_size INTEGER NOT NULL,"
    " ingested_ns INTEGER NOT NULL,"
    " job TEXT);" /* the manifest's "job", NULL: not made by a job */
    "CREATE INDEX backups_time ON backups(time_ns, name);"
    "CREATE INDEX backups_job ON backups(job, time_ns, name)"
    " WHERE job IS NOT NULL;"
    "CREATE INDEX backups_root ON backups(root_tree);"
    "CREATE TABLE backup_sources(key TEXT NOT NULL,"
    " backup INTEGER NOT NULL, PRIMARY KEY(key, backup)) WITHOUT ROWID;"
    "CREATE INDEX backup_sources_backup ON backup_sources(backup);"
    /* the mount's number of a job (/jobs/NAME); rows are never deleted,
     * so a name keeps its number in this file */
    "CREATE TABLE jobs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE);";

#define BACKUP_COLS                                                            \
	"id, name, time_ns, host, tags_json, header_json, partial, "           \
	"root_tree, "                                                          \
	"n_entries, n_files, n_dirs, bytes, chunks, new_chunks, new_bytes, "   \
	"stored_bytes, errors, duration_ns, job"
/* Columns of an entry as catalog_query.c's fill_entry reads them, with
 * the subdirectory count of a directory's tree (its nlink): slot and pre
 * relative to the directory, from the run's place in it (r: a tree_runs
 * row, e: an entry of its run), then the entry's primary key (run, idx)
 * and its pre relative to its run, which a cached position keeps. */
#define ENTRY_COLS_AT(SLOT, PRE, RUN)                                          \
	SLOT                                                                   \
	    ", " PRE ", e.name, e.type, e.mode, e.uid, e.gid, e.user, "        \
	    "e.grp, e.mtime_ns, e.ctime_ns, e.ino, e.size, e.rdev, e.target, " \
	    "e.link, e.nl, e.error, e.sparse, e.nchunks, e.child, e.count, "   \
	    "t.nsub, e.dt, e.sk, e.sa, " RUN ", e.idx, e.pre"
#define ENTRY_COLS ENTRY_COLS_AT("r.slot0 + e.idx", "r.pre0 + e.pre", "r.run")
/* ENTRY_COLS with NULL for what a stat does not show (user and group
 * names, source inode, error, sparse, chunk count, sketch): SQLite skips
 * decoding them and fill_entry copies no strings for them. */
#define ENTRY_COLS_ATTRS                                                       \
	"r.slot0 + e.idx, r.pre0 + e.pre, e.name, e.type, e.mode, e.uid, "     \
	"e.gid, NULL, NULL, e.mtime_ns, e.ctime_ns, NULL, e.size, e.rdev, "    \
	"e.target, e.link, e.nl, NULL, NULL, NULL, e.child, e.count, "         \
	"t.nsub, e.dt, NULL, NULL, r.run, e.idx, e.pre"
#define ENTRY_JOIN " LEFT JOIN trees t ON t.id = e.child"
/* r: the one run of tree ?1 holding slot ?2 (the last one starting at or
 * before it), pre ?2 or name ?2, found by a scalar subquery (evaluated
 * once, one index seek) and then an equality seek: no temporary table
 * for a LIMIT 1 subquery in FROM. */
#define RUN_AT_SLOT                                                            \
	" r.tree = ?1 AND r.slot0 = (SELECT max(slot0) FROM tree_runs"         \
	" WHERE tree = ?1 AND slot0 <= ?2)"
#define RUN_AT_PRE                                                             \
	" r.tree = ?1 AND r.pre0 = (SELECT max(pre0) FROM tree_runs"           \
	" WHERE tree = ?1 AND pre0 <= ?2)"
#define RUN_AT_NAME                                                            \
	" r.tree = ?1 AND r.name0 = (SELECT max(name0) FROM tree_runs"         \
	" WHERE tree = ?1 AND name0 <= ?2)"
/* In run r, the entry with the largest pre <= relative pre ?2 (pre rises
 * with idx: a backward scan of the run's primary key, stopping at the
 * first). */
#define IDX_AT_PRE                                                             \
	" (SELECT idx FROM entries WHERE run = r.run AND pre <= ?2 - r.pre0"   \
	" ORDER BY idx DESC LIMIT 1)"

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
    [ST_BACKUP_ID] = "SELECT id, root_tree FROM backups WHERE name = ?1",
    [ST_BACKUP_ROOT] = "SELECT b.root_tree, b.root_uid, b.root_gid,"
		       " b.time_ns, t.nsub FROM backups b"
		       " LEFT JOIN trees t ON t.id = b.root_tree"
		       " WHERE b.id = ?1",
    [ST_BACKUP_INSERT] =
	"INSERT INTO backups(name, time_ns, host, tags_json,"
	" header_json, partial, root_tree, count, root_uid, root_gid,"
	" n_entries, n_files, n_dirs, bytes, chunks, new_chunks,"
	" new_bytes, stored_bytes, errors, duration_ns, manifest_size,"
	" ingested_ns, job) VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, 0, 0,"
	" ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    [ST_BACKUP_SET_ROOT] = "UPDATE backups SET root_tree = ?2,"
			   " root_uid = ?3, root_gid = ?4 WHERE id = ?1",
    [ST_BACKUP_DELETE] = "DELETE FROM backups WHERE id = ?1",
    [ST_BACKUP_USES_TREE] = "SELECT 1 FROM backups WHERE root_tree = ?1"
			    " LIMIT 1",
    [ST_SOURCE_INSERT] = "INSERT OR IGNORE INTO backup_sources(key, backup)"
			 " VALUES(?1, ?2)",
    [ST_SOURCE_DELETE] = "DELETE FROM backup_sources WHERE backup = ?1",
    [ST_PREV_SOURCE] = "SELECT b.id FROM backup_sources s"
		       " JOIN backups b ON b.id = s.backup"
		       " WHERE s.key = ?1"
		       " ORDER BY b.time_ns DESC, b.name DESC LIMIT 1",
    /* a key is KIND:DEST:SPEC and a kind has no ':', so what follows the
     * first ':' starts with DEST':'; job ?2's backups first
     * (bfs_catalog_prev_dest) */
    [ST_PREV_DEST] = "SELECT b.id FROM backup_sources s"
		     " JOIN backups b ON b.id = s.backup"
		     " WHERE substr(s.key, instr(s.key, ':') + 1,"
		     " length(?1) + 1) = ?1 || ':'"
		     " ORDER BY b.job IS ?2 DESC, b.time_ns DESC, b.name DESC"
		     " LIMIT 1",
    [ST_ENTRY_AT] = "SELECT " ENTRY_COLS " FROM tree_runs r JOIN entries e"
		    " ON e.run = r.run AND e.idx = ?2 - r.slot0" ENTRY_JOIN
		    " WHERE" RUN_AT_SLOT,
    /* an entry by its primary key (a position the connection cached),
     * with its slot ?3 and directory-relative pre ?4 as cached, if its
     * run-relative pre is still ?5 */
    [ST_ENTRY_RUN_AT] = "SELECT " ENTRY_COLS_AT(
	"?3", "?4", "e.run") " FROM entries e" ENTRY_JOIN
			     " WHERE e.run = ?1 AND e.idx = ?2 AND e.pre = ?5",
    [ST_ENTRY_PRE] = "SELECT " ENTRY_COLS " FROM tree_runs r JOIN entries e"
		     " ON e.run = r.run AND e.idx =" IDX_AT_PRE ENTRY_JOIN
		     " WHERE" RUN_AT_PRE,
    [ST_ENTRY_NAME] =
	"SELECT " ENTRY_COLS " FROM tree_runs r JOIN entries e"
	" ON e.run = r.run AND e.name = ?2" ENTRY_JOIN " WHERE" RUN_AT_NAME,
    /* in slot order, which is pre order: the tree's runs in order from
     * the one holding slot ?2 + 1, each run's entries by its primary
     * key */
    [ST_ENTRY_READDIR] =
	"SELECT " ENTRY_COLS " FROM tree_runs r"
	" JOIN entries e ON e.run = r.run" ENTRY_JOIN " WHERE r.tree = ?1"
	" AND r.slot0 >= coalesce((SELECT slot0 FROM tree_runs"
	" WHERE tree = ?1 AND slot0 <= ?2 + 1 ORDER BY slot0 DESC LIMIT 1),"
	" 0) AND r.slot0 + e.idx > ?2 ORDER BY r.slot0, e.idx LIMIT ?3",
    [ST_ENTRY_READDIR_ATTRS] =
	"SELECT " ENTRY_COLS_ATTRS " FROM tree_runs r"
	" JOIN entries e ON e.run = r.run" ENTRY_JOIN " WHERE r.tree = ?1"
	" AND r.slot0 >= coalesce((SELECT slot0 FROM tree_runs"
	" WHERE tree = ?1 AND slot0 <= ?2 + 1 ORDER BY slot0 DESC LIMIT 1),"
	" 0) AND r.slot0 + e.idx > ?2 ORDER BY r.slot0, e.idx LIMIT ?3",
    [ST_ENTRY_SLOT_OF] = "SELECT r.slot0 + e.idx FROM tree_runs r JOIN"
			 " entries e ON e.run = r.run AND e.idx =" IDX_AT_PRE
			 " WHERE" RUN_AT_PRE,
    [ST_ENTRY_READDIR_CHUNKS] =
	"SELECT " ENTRY_COLS ", e.chunks,"
	" CASE WHEN t.error IS NULL AND t.n >= 0 THEN t.parts END"
	" FROM tree_runs r JOIN entries e ON e.run = r.run" ENTRY_JOIN
	" WHERE r.tree = ?1 ORDER BY r.slot0, e.idx",
    [ST_ENTRY_CHUNKS] = "SELECT e.nchunks, e.chunks, r.run, e.idx FROM"
			" tree_runs r JOIN entries e ON e.run = r.run"
			" AND e.idx = ?2 - r.slot0 WHERE" RUN_AT_SLOT,
    [ST_ENTRY_INSERT] =
	"INSERT INTO entries(run, idx, pre, name, type, mode, uid,"
	" gid, user, grp, mtime_ns, ctime_ns, ino, size, rdev, target,"
	" link, nl, error, sparse, nchunks, child, count, chunks, dt, sk,"
	" sa)"
	" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	" ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25,"
	" ?26, ?27)",
    [ST_ENTRY_SUBDIRS] =
	"SELECT child FROM entries WHERE run = ?1 AND child IS NOT NULL",
    [ST_ENTRY_PARENT] =
	"SELECT r.tree, e.name FROM entries e"
	" JOIN tree_runs r ON r.run = e.run WHERE e.child = ?1 LIMIT 1",
    [ST_ENTRY_REFERS] = "SELECT 1 FROM entries WHERE child = ?1 LIMIT 1",
    [ST_ENTRY_DELETE_RUN] = "DELETE FROM entries WHERE run = ?1",
    [ST_PIECE_INSERT] = "INSERT INTO chunk_pieces(run, idx, seq, refs)"
			" VALUES(?1, ?2, ?3, ?4)",
    [ST_PIECE_READ] =
	"SELECT seq, refs FROM chunk_pieces WHERE run = ?1 AND idx = ?2"
	" ORDER BY seq",
    [ST_PIECE_DELETE_RUN] = "DELETE FROM chunk_pieces WHERE run = ?1",
    [ST_TREE_FIND] = "SELECT id, n, count FROM trees WHERE parts = ?1"
		     " AND count = ?2",
    [ST_TREE_INSERT] = "INSERT INTO trees(parts, n, count, nsub)"
		       " VALUES(?1, ?2, ?3, 0)",
    [ST_TREE_FINISH] = "UPDATE trees SET n = ?2, count = ?3, nsub = ?4"
		       " WHERE id = ?1",
    [ST_TREE_ERROR] = "SELECT error FROM trees WHERE id = ?1",
    [ST_TREE_DAMAGED] = "UPDATE trees SET n = 0, count = ?2, nsub = 0,"
			" error = ?3 WHERE id = ?1",
    [ST_TREE_PENDING] = "SELECT id, parts, count FROM trees"
			" INDEXED BY trees_pending WHERE n < 0"
			" ORDER BY id LIMIT 1",
    [ST_TREE_GET] = "SELECT n, count, nsub, parts FROM trees WHERE id = ?1",
    [ST_TREE_DELETE] = "DELETE FROM trees WHERE id = ?1",
    [ST_RUN_FIND] = "SELECT id, n FROM runs WHERE hash = ?1",
    [ST_RUN_INSERT] = "INSERT INTO runs(hash, n) VALUES(?1, ?2)",
    [ST_RUN_ROWS] =
	"SELECT name, type, count FROM entries WHERE run = ?1 ORDER BY idx",
    [ST_RUN_USED] = "SELECT 1 FROM tree_runs WHERE run = ?1 LIMIT 1",
    [ST_RUN_DELETE] = "DELETE FROM runs WHERE id = ?1",
    [ST_TREE_RUNS_INSERT] = "INSERT INTO tree_runs(tree, slot0, pre0, run,"
			    " name0) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_TREE_RUNS_OF] = "SELECT run FROM tree_runs WHERE tree = ?1",
    [ST_TREE_RUNS_DELETE] = "DELETE FROM tree_runs WHERE tree = ?1",
    [ST_CHUNK_INSERT] = "INSERT OR IGNORE INTO chunk_loc(hash, pack,"
			" pack_off, clen, len, type, idx)"
			" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_CHUNK_LOOKUP] = "SELECT pack, pack_off, clen, len, type"
			" FROM chunk_loc WHERE hash = ?1",
    [ST_CHUNK_DELETE_IDX] = "DELETE FROM chunk_loc WHERE idx = ?1",
#define JOB_HAS_BACKUP                                                         \
	" AND EXISTS(SELECT 1 FROM backups b WHERE b.job = j.name)"
    [ST_JOB_INSERT] = "INSERT OR IGNORE INTO jobs(name) VALUES(?1)",
    [ST_JOB_LIST] = "SELECT j.id, j.name FROM jobs j WHERE 1" JOB_HAS_BACKUP
		    " ORDER BY j.name",
    [ST_JOB_BY_NAME] =
	"SELECT j.id, j.name FROM jobs j WHERE j.name = ?1" JOB_HAS_BACKUP,
    [ST_JOB_BY_ID] =
	"SELECT j.id, j.name FROM jobs j WHERE j.id = ?1" JOB_HAS_BACKUP,
    [ST_JOB_LATEST] = "SELECT " BACKUP_COLS " FROM backups WHERE job = ?1"
		      " ORDER BY time_ns DESC, name DESC LIMIT 1",
    [ST_IDX_NAMES] = "SELECT id, name FROM index_objects",
    [ST_IDX_INSERT] = "INSERT INTO index_objects(name) VALUES(?1)",
    [ST_IDX_DELETE] = "DELETE FROM index_objects WHERE id = ?1",
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
	if (code == -EUCLEAN)
		return bfs_err_set(err, code,
				   "catalog '%s': %s: %s (the file is damaged: "
				   "'backupfs catalog rebuild' replaces it)",
				   c->path, what, msg);
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

int cat_exec_ids(struct bfs_catalog *c, enum cat_st id, int64_t a, int64_t b,
		 struct bfs_err *err, const char *what)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, id, &st, err);
	if (rc)
		return rc;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	rc = rc == SQLITE_DONE ? 0 : cat_sqlerr(c, rc, err, what);
	cat_stmt_put(c, id, st);
	return rc;
}

void cat_icache_clear(struct bfs_catalog *c)
{
	if (c->icache)
		memset(c->icache, 0, CAT_ICACHE_SLOTS * sizeof(*c->icache));
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

/* The tables of older schema versions, dropped when one is found. */
static const char cat_drop_old[] = "DROP TABLE IF EXISTS jobs;"
				   " DROP TABLE IF EXISTS tree_runs;"
				   " DROP TABLE IF EXISTS runs;"
				   " DROP TABLE IF EXISTS chunk_pieces;"
				   " DROP TABLE IF EXISTS trees;"
				   " DROP TABLE IF EXISTS index_objects;"
				   " DROP TABLE IF EXISTS entries;"
				   " DROP TABLE IF EXISTS backup_sources;"
				   " DROP TABLE IF EXISTS backups;"
				   " DROP TABLE IF EXISTS chunk_loc;"
				   " DROP TABLE IF EXISTS meta";

/* Create the schema in a fresh database, or replace an older schema (a
 * cache: the next sync refills it); another process may be doing the
 * same right now, so decide under the write lock. */
static int cat_create_schema(struct bfs_catalog *c, struct bfs_err *err)
{
	char sql[384], fid[BFS_CAT_FILE_ID_LEN + 1];
	uint8_t rnd[BFS_CAT_FILE_ID_LEN / 2];
	int64_t v, ntables;
	int rc;

	/* the file's identity: made once, when the file gets its schema */
	rc = bfs_random(rnd, sizeof(rnd));
	if (rc)
		return bfs_err_set(err, rc, "cannot get random bytes: %s",
				   strerror(-rc));
	bfs_hex(fid, rnd, sizeof(rnd));
	rc = cat_begin(c, err);
	if (rc)
		return rc;
	rc = cat_query_int(c, "PRAGMA user_version", &v, err);
	if (rc || v >= CAT_SCHEMA_VERSION)
		goto out_end;
	if (v > 0) {
		rc = cat_exec(c, cat_drop_old, err,
			      "cannot drop the old schema");
		if (rc)
			goto out_end;
	}
	rc = cat_query_int(c,
			   "SELECT count(*) FROM sqlite_schema"
			   " WHERE name NOT LIKE 'sqlite_%'",
			   &ntables, err);
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
		 " ('generation', 0), ('file_id', '%s')",
		 c->repo_id, fid);
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
	if (!rc && !sqlite3_get_autocommit(c->db))
		return cat_commit(c, err);
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

/* The catalog holds every file name and, through its chunk lists, the way
 * to every file's content: make path (and its -wal and -shm, which SQLite
 * creates with the mode of the database) a 0600 regular file before
 * SQLite creates it, and take group and other bits off an older one of
 * ours.  0 or -errno with the message in err. */
int cat_private_file(const char *path, struct bfs_err *err)
{
	static const char *const sfx[] = {"-wal", "-shm"};
	struct stat st;
	char side[4096];
	int fd, rc = 0;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
		  0600);
	if (fd < 0) {
		rc = -errno;
		return bfs_err_set(err, rc, "cannot open catalog '%s': %s",
				   path, strerror(-rc));
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		bfs_err_set(err, rc, "cannot stat catalog '%s': %s", path,
			    strerror(-rc));
	} else if (!S_ISREG(st.st_mode)) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "catalog '%s' is a %s, not a regular file",
				 path, bfs_file_type_name(st.st_mode));
	} else if ((st.st_mode & 077) && st.st_uid == geteuid()) {
		fchmod(fd, st.st_mode & 0700);
		for (size_t i = 0; i < BFS_ARRAY_SIZE(sfx); i++) {
			snprintf(side, sizeof(side), "%s%s", path, sfx[i]);
			if (lstat(side, &st) == 0 && S_ISREG(st.st_mode) &&
			    st.st_uid == geteuid())
				chmod(side, st.st_mode & 0700);
		}
	}
	close(fd);
	return rc;
}

/* Open or create the catalog at path for repository repo_id.  See
 * catalog.h.  Errors: -EINVAL (bad repo id, another repository's catalog,
 * not a catalog), -EPROTO (schema newer than this program), -ENOENT
 * (readonly and missing), -EUCLEAN (not a database), others from SQLite.
 * *out owned by the caller (bfs_catalog_close).  The connection must be
 * used by one thread at a time. */
static int cat_open(const char *path, const char *repo_id, bool readonly,
		    const char *vfs, bool lock, struct bfs_catalog **out,
		    struct bfs_err *err)
{
	struct bfs_catalog *c;
	const char *knob;
	char *end;
	int64_t v;
	int flags, rc;

	*out = NULL;
	if (!cat_id_valid(repo_id))
		return bfs_err_set(err, -EINVAL, "invalid repository id '%s'",
				   repo_id);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->lock_fd = -1;
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
	if (!readonly) {
		rc = cat_private_file(path, err);
		if (rc)
			goto out_free;
	}
	/* held until the connection is closed: no compaction replaces the
	 * file under it (catalog_compact.c) */
	if (lock) {
		rc = cat_lock_take(path, !readonly, false, &c->lock_fd, err);
		if (rc)
			goto out_free;
	}
	rc = sqlite3_open_v2(path, &c->db, flags, vfs);
	if (rc != SQLITE_OK) {
		rc = cat_sqlerr(c, rc, err, "cannot open");
		goto out_free;
	}
	sqlite3_extended_result_codes(c->db, 1);
	/* tests: a small length limit, to meet the too-long chunk list
	 * of a file without writing one of hundreds of GB */
	knob = getenv("BFS_CATALOG_LENGTH_LIMIT");
	if (knob) {
		long lim = strtol(knob, &end, 10);

		if (end != knob && !*end && lim > 0 && lim <= INT32_MAX)
			sqlite3_limit(c->db, SQLITE_LIMIT_LENGTH, (int)lim);
	}
	/* a piece of a chunk list stays well below the length limit, so
	 * the longest list the format allows is stored (in pieces) */
	c->piece_refs =
	    BFS_MIN((size_t)CAT_PIECE_REFS,
		    (size_t)sqlite3_limit(c->db, SQLITE_LIMIT_LENGTH, -1) / 2 /
			BFS_BLOBREF_BLOB);
	if (!c->piece_refs)
		c->piece_refs = 1;
	sqlite3_busy_timeout(c->db, CAT_BUSY_TIMEOUT_MS);
	/* Pages read through a mapping of the file, not pread into the
	 * page cache of each connection: a cold listing of a directory
	 * whose runs come from many backups (scattered over the file) cost
	 * 1.7x main's CPU in pread copies, 0.8x with the mapping
	 * (doc/PERFORMANCE.md).  Safe here: SQLite remaps when another
	 * connection changes the file's size, and nothing else truncates a
	 * catalog (catalog_file.c unlinks a bad one, the mapping keeps the
	 * old inode).  The mapped pages count in the process's RSS: a backup
	 * drops the mapping (bfs_catalog_bound_memory), the mount reads
	 * through one shared mapping and bounds what of it stays resident
	 * (bfs_catalog_open_shared, bfs_catalog_shared_drop, fuse/mount.c). */
	rc = cat_exec(c,
		      "PRAGMA synchronous = NORMAL;"
		      " PRAGMA cache_size = -32768;"
		      " PRAGMA temp_store = MEMORY;"
		      " PRAGMA mmap_size = 268435456",
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
	} else if (v < CAT_SCHEMA_VERSION && !readonly) {
		/* An older catalog of this repository: a cache, rebuilt
		 * from scratch (never another repository's file). */
		rc = cat_check_repo(c, err);
		if (rc)
			goto out_free;
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
				 " backupfs reads version %d (open it writable"
				 " to rebuild it, or remove the file)",
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

int bfs_catalog_open(const char *path, const char *repo_id, bool readonly,
		     struct bfs_catalog **out, struct bfs_err *err)
{
	return cat_open(path, repo_id, readonly, NULL, true, out, err);
}

int cat_open_locked(const char *path, const char *repo_id,
		    struct bfs_catalog **out, struct bfs_err *err)
{
	return cat_open(path, repo_id, false, NULL, false, out, err);
}

const char *cat_schema_sql(void)
{
	return cat_schema;
}

int bfs_catalog_open_shared(const char *path, const char *repo_id,
			    struct bfs_catalog **out, struct bfs_err *err)
{
	*out = NULL;
	if (cat_vfs_init() != SQLITE_OK)
		return bfs_err_set(err, -EIO,
				   "cannot register the catalog's shared"
				   " mapping VFS");
	return cat_open(path, repo_id, true, CAT_VFS_NAME, true, out, err);
}

uint64_t bfs_catalog_shared_drop(void)
{
	return cat_vfs_drop_pages();
}

/* Close the connection and free c.  NULL is a no-op. */
const char *bfs_catalog_path(const struct bfs_catalog *c)
{
	return c->path;
}

int bfs_catalog_bound_memory(struct bfs_catalog *c, unsigned cache_kib,
			     uint64_t map_bytes, struct bfs_err *err)
{
	char sql[128];

	snprintf(sql, sizeof(sql),
		 "PRAGMA cache_size = -%u; PRAGMA mmap_size = %llu",
		 cache_kib ? cache_kib : 1, (unsigned long long)map_bytes);
	return cat_exec(c, sql, err, "cannot bound the catalog's memory");
}

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
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	bfs_buf_free(&c->scratch);
	bfs_buf_free(&c->pieces);
	free(c->icache);
	free(c->path);
	free(c);
}

/* The repository's location, canonical: an S3 URL as given, a local
 * path resolved (realpath), so that two spellings of one directory share
 * a catalog and a copy elsewhere (rsync) gets its own. */
static void cat_location(const struct bfs_repo *r, char *out, size_t n)
{
	const char *url = r->store && r->store->url ? r->store->url : "";
	char *real;

	if (strncmp(url, "s3://", 5) == 0) {
		snprintf(out, n, "%s", url);
		return;
	}
	if (strncmp(url, "file://", 7) == 0)
		url += 7;
	real = realpath(url, NULL);
	snprintf(out, n, "%s", real ? real : url);
	free(real);
}

/* A catalog under the name of releases before catalogs were keyed by
 * location, <dir>/<repo id>.db (with its -wal and -shm), is a stale
 * cache nothing reads any more: removed when it is a regular file of
 * ours, so that it does not keep the repository's names on disk. */
static void cat_remove_legacy(const char *dir, const char *repo_id)
{
	static const char *const sfx[] = {".db", ".db-wal", ".db-shm"};
	char p[4200];
	struct stat st;
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(sfx); i++) {
		snprintf(p, sizeof(p), "%s/%s%s", dir, repo_id, sfx[i]);
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_uid == geteuid() && unlink(p) == 0 && i == 0)
			bfs_info("removed the catalog under its old name '%s'",
				 p);
	}
}

/* $XDG_CACHE_HOME/backupfs/<repo id>-<location key>.db, or
 * $HOME/.cache/backupfs/... (relative XDG_CACHE_HOME is ignored, as the
 * XDG spec says); the location key is 16 hex digits of the SHA-256 of
 * the canonical location (cat_location).  Creates the directory (0700)
 * and removes a catalog of this repository under its old name
 * (cat_remove_legacy).  *out malloc'ed, owned by the caller.  -EINVAL
 * bad id, -ENOENT neither variable set, -errno from mkdir. */
int bfs_catalog_default_path(const struct bfs_repo *r, char **out,
			     struct bfs_err *err)
{
	const char *repo_id = r->id;
	char loc[4200], key[BFS_HASH_HEX + 1];
	uint8_t h[BFS_HASH_LEN];

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
	cat_location(r, loc, sizeof(loc));
	bfs_sha256(h, loc, strlen(loc));
	bfs_hex(key, h, BFS_HASH_LEN);
	n = strlen(base) + strlen(sub) + strlen(repo_id) + 32;
	p = malloc(n);
	if (!p)
		return -ENOMEM;
	snprintf(p, n, "%s/%s/%s-%.16s.db", base, sub, repo_id, key);
	rc = bfs_mkdir_parents(p, 0700);
	if (rc) {
		bfs_err_set(err, rc, "cannot create the directory of '%s': %s",
			    p, strerror(-rc));
		free(p);
		return rc;
	}
	/* .../backupfs is ours: an older backupfs made it 0755. */
	{
		char *slash = strrchr(p, '/');
		struct stat st;

		*slash = '\0';
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
		    (st.st_mode & 077) && st.st_uid == geteuid())
			chmod(p, 0700);
		cat_remove_legacy(p, repo_id);
		*slash = '/';
	}
	*out = p;
	return 0;
}
