/* catalog_compact.c - rewrite the catalog so that the newest backup's rows
 * lie together (bfs_catalog_compact, catalog.h).
 *
 * Why: ingest appends.  Backup 1's trees, runs and entries fill the file
 * in walk order; backup k adds the runs and trees of what it changed at
 * the end, and its unchanged directories stay where backup 1 put them.
 * After 100 backups a random stat of the newest one reads pages from
 * every part of the file (a cold stat 1.2x, its p90 2-3x backup 1's,
 * doc/PERFORMANCE.md).  Compaction writes a new file in which trees and
 * runs are numbered again in the order of a walk of the backups, newest
 * first (a tree or run keeps the number of its first visit), and every
 * table and index is written in key order: the newest backup's directories
 * and entries come first and together, as in a catalog of one backup,
 * then what only older backups use.
 *
 * What stays: backup ids and pres (so every inode number, (backup id <<
 * 40) | pre), names, every row's content, the schema, the repository id,
 * the AUTOINCREMENT counters of backups and jobs, and the file id
 * (meta.file_id names that numbering: a reader may reopen the new file
 * and keep every inode number it handed out).  What changes: tree and
 * run ids (internal to the file, never kept outside a connection) and
 * the generation (bumped), and the file's inode.
 *
 * How it stays safe: every connection holds a shared lock on PATH-lock
 * (flock, cat_lock_take) for its life; compaction takes it exclusive, not
 * waiting, so it runs only when no other connection of any process has the
 * catalog open (a mount holds it for as long as it is mounted: compaction
 * waits for a moment without one), and new connections wait while it
 * runs.  A process that takes no lock (an older backupfs, the sqlite3
 * shell) shows by its lock on the -shm file (shm_holder), before the build
 * and again before the rename.  The new file is built beside the old one
 * (PATH-compact, 0600), checked (every table's row count, every tree and
 * run a row names present), synced, and renamed over PATH after the old file's
 * WAL is checkpointed and its -wal and -shm removed, so no connection can ever
 * pair the new file with the old WAL.  A crash before the rename leaves the old
 * file whole and a stale PATH-compact, removed by the next compaction; after
 * it, the new file.  The memory is SQLite's page cache (bounded) and its
 * temporary tables on disk (temp_store FILE): no list grows with the
 * catalog. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog_int.h"
#include "src/log.h"
#include "src/util.h"

/* A compaction is due (BFS_COMPACT_IF_DUE) when the runs added since the
 * last one (since the file was made or rebuilt, if none) reach a quarter
 * of the runs it kept, and at least this many (a run is ~8 entries: 16,384
 * runs are ~130,000 entries, tens of MiB of catalog).  Tests lower the
 * minimum with BFS_CATALOG_COMPACT_MIN. */
#define COMPACT_SHARE 4
#define COMPACT_MIN_RUNS 16384

/* The catalog's tables, their columns in order, and how a row's tree and
 * run ids are mapped (m: the temporary tables tmap and rmap, old -> seq). */
static const char sql_maps[] = "CREATE TEMP TABLE tmap(seq INTEGER PRIMARY KEY,"
			       " old INTEGER NOT NULL UNIQUE);"
			       "CREATE TEMP TABLE rmap(seq INTEGER PRIMARY KEY,"
			       " old INTEGER NOT NULL UNIQUE);";

/* The copy, table by table, each in the key order of its new file (so
 * that SQLite appends every b-tree page after the last). */
static const char *const sql_copy[] = {
    "INSERT INTO main.index_objects(id, name)"
    " SELECT id, name FROM o.index_objects ORDER BY id",
    "INSERT INTO main.chunk_loc(hash, pack, pack_off, clen, len, type, idx)"
    " SELECT hash, pack, pack_off, clen, len, type, idx FROM o.chunk_loc"
    " ORDER BY hash",
    "INSERT INTO main.trees(id, parts, n, count, nsub, error)"
    " SELECT m.seq, t.parts, t.n, t.count, t.nsub, t.error"
    " FROM temp.tmap m JOIN o.trees t ON t.id = m.old ORDER BY m.seq",
    "INSERT INTO main.runs(id, hash, n)"
    " SELECT m.seq, r.hash, r.n FROM temp.rmap m JOIN o.runs r"
    " ON r.id = m.old ORDER BY m.seq",
    "INSERT INTO main.tree_runs(tree, slot0, pre0, run, name0)"
    " SELECT tm.seq, r.slot0, r.pre0, rm.seq, r.name0 FROM temp.tmap tm"
    " JOIN o.tree_runs r ON r.tree = tm.old"
    " JOIN temp.rmap rm ON rm.old = r.run ORDER BY tm.seq, r.slot0",
    /* every child tree is numbered (the walk numbers what entries
     * name; check_copy refuses names of missing trees) */
    "INSERT INTO main.entries(run, idx, pre, name, type, mode, uid, gid,"
    " user, grp, mtime_ns, ctime_ns, ino, size, rdev, target, link, nl,"
    " error, sparse, nchunks, child, count, chunks, dt, sk, sa)"
    " SELECT rm.seq, e.idx, e.pre, e.name, e.type, e.mode, e.uid, e.gid,"
    " e.user, e.grp, e.mtime_ns, e.ctime_ns, e.ino, e.size, e.rdev,"
    " e.target, e.link, e.nl, e.error, e.sparse, e.nchunks,"
    " CASE WHEN e.child IS NULL THEN NULL"
    " ELSE (SELECT seq FROM temp.tmap WHERE old = e.child)"
    " END, e.count, e.chunks, e.dt, e.sk, e.sa"
    " FROM temp.rmap rm JOIN o.entries e ON e.run = rm.old"
    " ORDER BY rm.seq, e.idx",
    "INSERT INTO main.chunk_pieces(run, idx, seq, refs)"
    " SELECT rm.seq, p.idx, p.seq, p.refs FROM temp.rmap rm"
    " JOIN o.chunk_pieces p ON p.run = rm.old"
    " ORDER BY rm.seq, p.idx, p.seq",
    "INSERT INTO main.backups(id, name, time_ns, host, tags_json,"
    " header_json, partial, root_tree, count, root_uid, root_gid,"
    " n_entries, n_files, n_dirs, bytes, chunks, new_chunks, new_bytes,"
    " stored_bytes, errors, duration_ns, manifest_size, ingested_ns, job)"
    " SELECT b.id, b.name, b.time_ns, b.host, b.tags_json, b.header_json,"
    " b.partial, m.seq, b.count, b.root_uid, b.root_gid, b.n_entries,"
    " b.n_files, b.n_dirs, b.bytes, b.chunks, b.new_chunks, b.new_bytes,"
    " b.stored_bytes, b.errors, b.duration_ns, b.manifest_size,"
    " b.ingested_ns, b.job FROM o.backups b"
    " JOIN temp.tmap m ON m.old = b.root_tree ORDER BY b.id",
    "INSERT INTO main.backup_sources(key, backup)"
    " SELECT key, backup FROM o.backup_sources ORDER BY key, backup",
    "INSERT INTO main.jobs(id, name) SELECT id, name FROM o.jobs ORDER BY id",
    /* meta as it was, file_id too; generation and layout_runs are set
     * after */
    "INSERT INTO main.meta(key, value) SELECT key, value FROM o.meta",
    /* the AUTOINCREMENT counters: backups and jobs keep theirs (an id is
     * never reused in a file, and these are the ids the inodes carry);
     * trees continue after the last one numbered here */
    "DELETE FROM main.sqlite_sequence",
    "INSERT INTO main.sqlite_sequence(name, seq)"
    " SELECT name, seq FROM o.sqlite_sequence WHERE name <> 'trees'",
    "INSERT INTO main.sqlite_sequence(name, seq)"
    " SELECT 'trees', coalesce(max(seq), 0) FROM temp.tmap",
};

/* Row counts that must be equal in the old and the new file. */
static const char *const count_tables[] = {
    "index_objects",  "chunk_loc", "trees",	   "runs",
    "tree_runs",      "entries",   "chunk_pieces", "backups",
    "backup_sources", "jobs",	   "meta",
};

/* ---- the lock file ------------------------------------------------------ */

/* The pid of the process that holds PATH-lock exclusive is written in
 * it (a decimal number and a newline; emptied when it lets go), for the
 * messages of those who wait.  Best effort: a reader opened the file
 * read-only, a waiter may read it before it is written. */
static void lock_note_pid(int fd, pid_t pid)
{
	char s[32];
	int n = pid ? snprintf(s, sizeof(s), "%ld\n", (long)pid) : 0;

	if (ftruncate(fd, 0) == 0 && n > 0 && pwrite(fd, s, (size_t)n, 0) != n)
		(void)!ftruncate(fd, 0);
}

/* The pid noted in the lock file, or 0.  What is read is only printed:
 * anything but a plain positive number is 0. */
static pid_t lock_read_pid(int fd)
{
	char s[32], *end;
	ssize_t n = pread(fd, s, sizeof(s) - 1, 0);
	long v;

	if (n <= 0)
		return 0;
	s[n] = '\0';
	v = strtol(s, &end, 10);
	if (end == s || (*end && *end != '\n') || v <= 0 || v > INT32_MAX)
		return 0;
	return (pid_t)v;
}

void cat_lock_release(int fd)
{
	if (fd < 0)
		return;
	lock_note_pid(fd, 0);
	close(fd);
}

int cat_lock_take(const char *path, bool create, bool exclusive, int *fd_out,
		  struct bfs_err *err)
{
	char lp[4096];
	struct stat st;
	const char *knob;
	int64_t t0, next;
	long note_ms;
	int fd, rc;

	*fd_out = -1;
	if ((size_t)snprintf(lp, sizeof(lp), "%s-lock", path) >= sizeof(lp))
		return bfs_err_set(err, -ENAMETOOLONG,
				   "catalog path too long: '%s'", path);
	fd = open(lp,
		  (create ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC |
		      O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
		  0600);
	if (fd < 0) {
		rc = -errno;
		/* a reader of a catalog no writer of this version opened
		 * yet, or of another user's: nothing can compact it under
		 * the reader without creating the lock file first */
		if (!create && (rc == -ENOENT || rc == -EACCES))
			return 0;
		return bfs_err_set(err, rc,
				   "cannot open the catalog's lock file"
				   " '%s': %s",
				   lp, strerror(-rc));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return bfs_err_set(err, -EUCLEAN,
				   "the catalog's lock file '%s' is not a"
				   " regular file",
				   lp);
	}
	if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) {
		if (exclusive)
			lock_note_pid(fd, getpid());
		*fd_out = fd;
		return 0;
	}
	rc = -errno;
	if (rc != -EWOULDBLOCK || exclusive) {
		close(fd);
		if (rc == -EWOULDBLOCK)
			return -EBUSY;
		return bfs_err_set(err, rc, "cannot lock '%s': %s", lp,
				   strerror(-rc));
	}
	/* only a compaction holds it exclusive, for seconds to a minute
	 * (a process that hung would hold it until it is stopped: say who
	 * it is, and again every minute; tests: BFS_CATALOG_WAIT_NOTE_MS) */
	knob = getenv("BFS_CATALOG_WAIT_NOTE_MS");
	note_ms = knob ? strtol(knob, NULL, 10) : 0;
	if (note_ms <= 0 || note_ms > 3600000)
		note_ms = 60000;
	t0 = bfs_mono_ns();
	for (next = t0;;) {
		int64_t now = bfs_mono_ns();

		if (now >= next) {
			pid_t who = lock_read_pid(fd);
			char by[48] = "another process";

			if (who > 0)
				snprintf(by, sizeof(by), "process %ld",
					 (long)who);
			if (next == t0)
				bfs_warn(
				    "catalog '%s' is being compacted by %s:"
				    " waiting for it",
				    path, by);
			else
				bfs_warn("catalog '%s': still waiting for %s"
					 " to finish compacting it (%lld s)",
					 path, by,
					 (long long)((now - t0) / 1000000000));
			next = now + (int64_t)note_ms * 1000000;
		}
		if (flock(fd, LOCK_SH | LOCK_NB) == 0)
			break;
		rc = -errno;
		if (rc != -EWOULDBLOCK && rc != -EINTR) {
			close(fd);
			return bfs_err_set(err, rc, "cannot lock '%s': %s", lp,
					   strerror(-rc));
		}
		usleep(CAT_LOCK_POLL_MS * 1000);
	}
	*fd_out = fd;
	return 0;
}

/* Does another process have the catalog at path open?  Every SQLite
 * connection to a WAL database holds a read lock on byte 128 of its -shm
 * file (the unix VFS's "dead man switch", UNIX_SHM_DMS) for as long as it
 * is open, whatever program it is (an older backupfs that takes no
 * PATH-lock, the sqlite3 shell); F_GETLK reports other processes' locks
 * only.  0 (none, or no -shm), -EBUSY with the holder's pid in *pid. */
static int shm_holder(const char *path, pid_t *pid)
{
	struct flock fl = {.l_type = F_WRLCK,
			   .l_whence = SEEK_SET,
			   .l_start = 128,
			   .l_len = 1};
	char shm[4200];
	int fd, rc = 0;

	*pid = 0;
	snprintf(shm, sizeof(shm), "%s-shm", path);
	fd = open(shm, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return 0;
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
		*pid = fl.l_pid;
		rc = -EBUSY;
	}
	close(fd); /* this process holds no lock on the -shm (see caller) */
	return rc;
}

static int busy_err(const char *path, pid_t pid, struct bfs_err *err)
{
	if (pid > 0)
		return bfs_err_set(
		    err, -EBUSY,
		    "catalog '%s' is open in another process"
		    " (pid %ld: a mount, a backup?): not compacted"
		    " now",
		    path, (long)pid);
	return bfs_err_set(err, -EBUSY,
			   "catalog '%s' is open in another process (a mount,"
			   " a backup): not compacted now",
			   path);
}

/* ---- helpers ------------------------------------------------------------ */

static int db_err(sqlite3 *db, int rc, const char *path, const char *what,
		  struct bfs_err *err)
{
	int e;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		e = -EBUSY;
		break;
	case SQLITE_NOMEM:
		e = -ENOMEM;
		break;
	case SQLITE_FULL:
		e = -ENOSPC;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		e = -EUCLEAN;
		break;
	default:
		e = -EIO;
	}
	return bfs_err_set(err, e, "compacting catalog '%s': %s: %s", path,
			   what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static int db_exec(sqlite3 *db, const char *sql, const char *path,
		   const char *what, struct bfs_err *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_err(db, rc, path, what, err);
}

/* One integer from sql with ?1 bound to a (when a != INT64_MIN); NULL or
 * no row gives 0. */
static int db_int(sqlite3 *db, const char *sql, int64_t a, int64_t *v,
		  const char *path, struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*v = 0;
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_err(db, rc, path, "cannot prepare a query", err);
	if (a != INT64_MIN)
		sqlite3_bind_int64(st, 1, a);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = db_err(db, rc, path, "cannot read", err);
	}
	sqlite3_finalize(st);
	return rc;
}

static void remove_side_files(const char *base)
{
	static const char *const sfx[] = {"", "-journal", "-wal", "-shm"};
	char p[4200];

	for (size_t i = 0; i < BFS_ARRAY_SIZE(sfx); i++) {
		snprintf(p, sizeof(p), "%s%s", base, sfx[i]);
		unlink(p);
	}
}

static int fsync_path(const char *path, bool dir, struct bfs_err *err)
{
	int fd =
	    open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
	int rc = 0;

	if (fd < 0 || fsync(fd) < 0)
		rc = bfs_err_set(err, -errno, "cannot sync '%s': %s", path,
				 strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- the walk: tree and run numbers ------------------------------------- */

/* Number the trees: for each backup, newest first, its root and then, in
 * the order they were numbered (breadth first), the subdirectories of every
 * tree numbered so far that no earlier walk numbered; then every other tree
 * (none, in a sound catalog).  Then the runs, in the order of their trees
 * and slots, then any other run. */
static int number(sqlite3 *db, const char *path, struct bfs_err *err)
{
	sqlite3_stmt *roots = NULL, *add = NULL, *next = NULL, *kids = NULL;
	int64_t done = 0, old;
	int rc;

	rc = sqlite3_prepare_v2(db,
				"SELECT root_tree FROM o.backups"
				" ORDER BY time_ns DESC, name DESC",
				-1, &roots, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(
		    db, "INSERT OR IGNORE INTO temp.tmap(old) VALUES(?1)", -1,
		    &add, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db,
					"SELECT seq, old FROM temp.tmap"
					" WHERE seq > ?1 ORDER BY seq LIMIT 1",
					-1, &next, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(
		    db,
		    "INSERT OR IGNORE INTO temp.tmap(old)"
		    " SELECT e.child FROM o.tree_runs r JOIN o.entries e"
		    " ON e.run = r.run WHERE r.tree = ?1"
		    " AND e.child IS NOT NULL ORDER BY r.slot0, e.idx",
		    -1, &kids, NULL);
	if (rc != SQLITE_OK) {
		rc = db_err(db, rc, path, "cannot prepare the walk", err);
		goto out;
	}
	while ((rc = sqlite3_step(roots)) == SQLITE_ROW) {
		sqlite3_bind_int64(add, 1, sqlite3_column_int64(roots, 0));
		rc = sqlite3_step(add);
		sqlite3_reset(add);
		if (rc != SQLITE_DONE)
			break;
		/* every tree numbered and not yet walked, in order */
		for (;;) {
			sqlite3_bind_int64(next, 1, done);
			rc = sqlite3_step(next);
			if (rc != SQLITE_ROW) {
				sqlite3_reset(next);
				break;
			}
			done = sqlite3_column_int64(next, 0);
			old = sqlite3_column_int64(next, 1);
			sqlite3_reset(next);
			sqlite3_bind_int64(kids, 1, old);
			rc = sqlite3_step(kids);
			sqlite3_reset(kids);
			if (rc != SQLITE_DONE)
				break;
		}
		if (rc != SQLITE_DONE)
			break;
	}
	if (rc != SQLITE_DONE) {
		rc = db_err(db, rc, path, "cannot walk the backups", err);
		goto out;
	}
	rc = db_exec(db,
		     "INSERT OR IGNORE INTO temp.tmap(old)"
		     " SELECT id FROM o.trees ORDER BY id;"
		     "INSERT OR IGNORE INTO temp.rmap(old)"
		     " SELECT r.run FROM temp.tmap m JOIN o.tree_runs r"
		     " ON r.tree = m.old ORDER BY m.seq, r.slot0;"
		     "INSERT OR IGNORE INTO temp.rmap(old)"
		     " SELECT id FROM o.runs ORDER BY id",
		     path, "cannot number the trees and runs", err);
out:
	sqlite3_finalize(roots);
	sqlite3_finalize(add);
	sqlite3_finalize(next);
	sqlite3_finalize(kids);
	return rc;
}

/* ---- the new file -------------------------------------------------------- */

/* The CREATE INDEX statements of the schema, dropped before the copy and
 * made again after it (each index then written in one sorted pass, its
 * pages together).  *sqls: a NUL-separated list, freed by the caller. */
static int take_indexes(sqlite3 *db, const char *path, struct bfs_buf *sqls,
			struct bfs_err *err)
{
	sqlite3_stmt *st;
	struct bfs_buf drop = {0};
	int rc;

	rc = sqlite3_prepare_v2(db,
				"SELECT name, sql FROM main.sqlite_schema"
				" WHERE type = 'index' AND sql IS NOT NULL"
				" ORDER BY rowid",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_err(db, rc, path, "cannot read the schema", err);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *sql = (const char *)sqlite3_column_text(st, 1);

		if (!name || !sql ||
		    bfs_buf_append(sqls, sql, strlen(sql) + 1) ||
		    bfs_buf_printf(&drop, "DROP INDEX main.\"%s\";", name)) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		bfs_buf_free(&drop);
		return db_err(db, rc, path, "cannot read the schema", err);
	}
	rc = bfs_buf_append(&drop, "", 1)
		 ? bfs_err_set(err, -ENOMEM, "out of memory")
		 : db_exec(db, (const char *)drop.data, path,
			   "cannot drop an index", err);
	bfs_buf_free(&drop);
	return rc;
}

static int make_indexes(sqlite3 *db, const struct bfs_buf *sqls,
			const char *path, struct bfs_err *err)
{
	size_t off = 0;
	int rc = 0;

	while (!rc && off < sqls->len) {
		const char *sql = (const char *)sqls->data + off;

		rc = db_exec(db, sql, path, "cannot create an index", err);
		off += strlen(sql) + 1;
	}
	return rc;
}

/* Every table's row count equal in o and main, and no directory entry
 * whose tree went unmapped. */
static int check_copy(sqlite3 *db, const char *path, struct bfs_err *err)
{
	char sql[256];
	int64_t a, b;
	int rc;

	for (size_t i = 0; i < BFS_ARRAY_SIZE(count_tables); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM o.%s",
			 count_tables[i]);
		rc = db_int(db, sql, INT64_MIN, &a, path, err);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM main.%s",
			 count_tables[i]);
		if (!rc)
			rc = db_int(db, sql, INT64_MIN, &b, path, err);
		if (rc)
			return rc;
		if (a != b)
			return bfs_err_set(err, -EUCLEAN,
					   "compacting catalog '%s': table %s"
					   " has %lld rows in the old file and"
					   " %lld in the new one: the old file"
					   " is kept",
					   path, count_tables[i], (long long)a,
					   (long long)b);
	}
	/* the walk numbered every tree a directory entry names and every
	 * run a tree_runs row names: more than the file has is a name of
	 * something missing (a row per tree, run, entry copied: counts
	 * equal above) */
	rc = db_int(db,
		    "SELECT (SELECT count(*) FROM temp.tmap)"
		    " - (SELECT count(*) FROM o.trees)",
		    INT64_MIN, &a, path, err);
	if (!rc)
		rc = db_int(db,
			    "SELECT (SELECT count(*) FROM temp.rmap)"
			    " - (SELECT count(*) FROM o.runs)",
			    INT64_MIN, &b, path, err);
	if (!rc && (a || b))
		rc = bfs_err_set(err, -EUCLEAN,
				 "compacting catalog '%s': %lld directory"
				 " entries name a tree and %lld directories a"
				 " run the catalog does not have (damaged:"
				 " 'backupfs catalog rebuild' makes it again"
				 " from the repository): the old file is kept",
				 path, (long long)a, (long long)b);
	return rc;
}

/* Build the compacted copy of old (closed by the caller, locked
 * exclusively) at tmp.  Returns 0 or -errno; tmp is removed on failure by
 * the caller. */
static int build(const char *old, const char *tmp, int64_t *runs_out,
		 struct bfs_err *err)
{
	struct bfs_buf idx = {0};
	char sql[512];
	sqlite3 *db = NULL;
	int64_t page_size, gen, stat1;
	char *q;
	int rc;

	rc = cat_private_file(tmp, err);
	if (rc)
		return rc;
	rc = sqlite3_open_v2(tmp, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = db_err(db, rc, tmp, "cannot open", err);
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	q = sqlite3_mprintf("ATTACH %Q AS o", old);
	if (!q) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = db_exec(db, q, old, "cannot attach", err);
	sqlite3_free(q);
	if (rc)
		goto out;
	rc = db_int(db, "PRAGMA o.page_size", INT64_MIN, &page_size, old, err);
	if (rc)
		goto out;
	/* nothing to roll back into: a crash leaves a file the next
	 * compaction removes; temporary tables on disk; small caches, read
	 * with pread: the copy appends and CREATE INDEX sorts within the
	 * main cache (spilling to temporary files), so a bigger one buys
	 * little and costs RSS (16 MiB: a 60 MiB peak for a 253 MiB catalog,
	 * 4 MiB: 28 MiB, the same time) */
	snprintf(sql, sizeof(sql),
		 "PRAGMA main.page_size = %lld; PRAGMA main.journal_mode = OFF;"
		 " PRAGMA main.synchronous = OFF; PRAGMA temp_store = FILE;"
		 " PRAGMA main.cache_size = -4096; PRAGMA o.cache_size = -2048;"
		 " PRAGMA temp.cache_size = -2048; PRAGMA o.mmap_size = 0;"
		 " PRAGMA main.mmap_size = 0",
		 (long long)page_size);
	rc = db_exec(db, sql, tmp, "cannot configure", err);
	if (rc)
		goto out;
	rc =
	    db_exec(db, cat_schema_sql(), tmp, "cannot create the schema", err);
	if (!rc)
		rc = take_indexes(db, tmp, &idx, err);
	if (!rc)
		rc = db_exec(db, sql_maps, tmp, "cannot create the maps", err);
	if (!rc)
		rc = db_exec(db, "BEGIN", tmp, "cannot begin", err);
	if (rc)
		goto out;
	rc = number(db, old, err);
	for (size_t i = 0; !rc && i < BFS_ARRAY_SIZE(sql_copy); i++)
		rc = db_exec(db, sql_copy[i], old, "cannot copy", err);
	if (!rc)
		rc = check_copy(db, old, err);
	if (rc)
		goto out;
	rc = db_int(db, "SELECT value FROM o.meta WHERE key = 'generation'",
		    INT64_MIN, &gen, old, err);
	if (!rc)
		rc = db_int(db, "SELECT count(*) FROM temp.rmap", INT64_MIN,
			    runs_out, old, err);
	if (rc)
		goto out;
	snprintf(sql, sizeof(sql),
		 "INSERT OR REPLACE INTO main.meta(key, value)"
		 " VALUES('generation', %lld), ('layout_runs', %lld);"
		 " PRAGMA main.user_version = %d",
		 (long long)gen + 1, (long long)*runs_out, CAT_SCHEMA_VERSION);
	rc = db_exec(db, sql, tmp, "cannot set the file's identity", err);
	if (!rc)
		rc = db_exec(db, "COMMIT", tmp, "cannot commit", err);
	if (rc)
		goto out;
	rc = make_indexes(db, &idx, tmp, err);
	if (rc)
		goto out;
	/* the planner's statistics, as the old file had them */
	rc = db_int(db,
		    "SELECT count(*) FROM o.sqlite_schema"
		    " WHERE name = 'sqlite_stat1'",
		    INT64_MIN, &stat1, old, err);
	if (!rc && stat1)
		rc = db_exec(db,
			     "ANALYZE main.sqlite_schema;"
			     " DELETE FROM main.sqlite_stat1;"
			     " INSERT INTO main.sqlite_stat1(tbl, idx, stat)"
			     " SELECT tbl, idx, stat FROM o.sqlite_stat1",
			     tmp, "cannot copy the statistics", err);
	if (!rc)
		rc = db_exec(db, "DETACH o; PRAGMA main.journal_mode = WAL",
			     tmp, "cannot switch to WAL", err);
out:
	bfs_buf_free(&idx);
	if (db && sqlite3_close(db) != SQLITE_OK && !rc)
		rc = bfs_err_set(err, -EIO, "cannot close '%s'", tmp);
	if (!rc)
		rc = fsync_path(tmp, false, err);
	return rc;
}

/* ---- the command ----------------------------------------------------------
 */

/* Is a compaction due?  When the runs added since the last one
 * (max(runs.id) - meta.layout_runs, the runs it kept; a catalog never
 * compacted, or rebuilt, counts from 0) reach a quarter of those kept and
 * the minimum.  Reads only. */
static int due(struct bfs_catalog *c, bool *yes, struct bfs_err *err)
{
	int64_t base = 0, max = 0, min = COMPACT_MIN_RUNS;
	const char *knob = getenv("BFS_CATALOG_COMPACT_MIN");
	char *end;
	int rc;

	*yes = false;
	if (knob) {
		long long v = strtoll(knob, &end, 10);

		if (end != knob && !*end && v >= 0)
			min = v;
	}
	rc = db_int(c->db, "SELECT max(id) FROM runs", INT64_MIN, &max, c->path,
		    err);
	if (rc)
		return rc;
	rc = cat_meta_get_int(c, "layout_runs", &base, err);
	if (rc == -ENOENT) {
		base = 0;
		rc = 0;
	}
	if (rc)
		return rc;
	*yes = max - base >= min && max - base >= base / COMPACT_SHARE;
	return 0;
}

int bfs_catalog_compact_due(struct bfs_catalog *c, bool *yes,
			    struct bfs_err *err)
{
	return due(c, yes, err);
}

/* Tests: hold the lock this long between the build and the rename
 * (BFS_CATALOG_COMPACT_PAUSE_MS), to start a reader or kill the process
 * there. */
static void pause_for_tests(void)
{
	const char *knob = getenv("BFS_CATALOG_COMPACT_PAUSE_MS");
	long ms = knob ? strtol(knob, NULL, 10) : 0;

	if (ms > 0 && ms <= 600000)
		usleep((useconds_t)ms * 1000);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int bfs_catalog_compact(const char *path, const char *repo_id, unsigned flags,
			struct bfs_compact_stats *stats, struct bfs_err *err)
{
	struct bfs_catalog *c = NULL;
	char tmp[4096], side[4200], *dir = NULL, *slash;
	int64_t t0 = bfs_mono_ns(), runs = 0, busy = 0;
	int lock = -1, rc;
	pid_t holder;
	bool yes = true;

	memset(stats, 0, sizeof(*stats));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s-compact", path) >=
	    sizeof(tmp))
		return bfs_err_set(err, -ENAMETOOLONG,
				   "catalog path too long: '%s'", path);
	rc = cat_lock_take(path, true, true, &lock, err);
	if (rc == -EBUSY)
		return busy_err(path, 0, err);
	if (rc)
		return rc;
	/* nothing of this process has it open either (the caller closed
	 * its connections: their flocks would have failed the above), so
	 * closing the -shm descriptor drops no lock of ours */
	if (shm_holder(path, &holder) == -EBUSY) {
		rc = busy_err(path, holder, err);
		goto out;
	}
	rc = cat_open_locked(path, repo_id, &c, err);
	if (rc)
		goto out;
	if (flags & BFS_COMPACT_IF_DUE)
		rc = due(c, &yes, err);
	if (rc || !yes)
		goto out;
	/* the old file whole: its WAL in it, so that removing the -wal
	 * below loses nothing */
	rc = db_int(c->db, "PRAGMA wal_checkpoint(TRUNCATE)", INT64_MIN, &busy,
		    path, err);
	if (!rc && busy)
		rc = bfs_err_set(err, -EBUSY,
				 "catalog '%s': its WAL could not be"
				 " checkpointed (busy): not compacted now",
				 path);
	if (rc)
		goto out;
	stats->bytes_before = file_size(path);
	remove_side_files(tmp);
	rc = build(path, tmp, &runs, err);
	if (rc) {
		remove_side_files(tmp);
		goto out;
	}
	bfs_catalog_close(c);
	c = NULL;
	pause_for_tests();
	/* a process that takes no PATH-lock may have opened it meanwhile */
	if (shm_holder(path, &holder) == -EBUSY) {
		rc = busy_err(path, holder, err);
		remove_side_files(tmp);
		goto out;
	}
	/* no connection is open anywhere (the lock): the old file's -wal
	 * (checkpointed, empty) and -shm go first, so that nothing pairs
	 * them with the new file */
	snprintf(side, sizeof(side), "%s-wal", path);
	if (unlink(side) < 0 && errno != ENOENT)
		rc = bfs_err_set(err, -errno, "cannot remove '%s': %s", side,
				 strerror(errno));
	snprintf(side, sizeof(side), "%s-shm", path);
	if (!rc && unlink(side) < 0 && errno != ENOENT)
		rc = bfs_err_set(err, -errno, "cannot remove '%s': %s", side,
				 strerror(errno));
	if (!rc && rename(tmp, path) < 0)
		rc = bfs_err_set(err, -errno, "cannot rename '%s' to '%s': %s",
				 tmp, path, strerror(errno));
	if (rc) {
		remove_side_files(tmp);
		goto out;
	}
	dir = strdup(path);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = '\0';
		fsync_path(slash == dir ? "/" : dir, true, err);
	} else if (dir) {
		fsync_path(".", true, err);
	}
	err->msg[0] = '\0';
	stats->done = true;
	stats->runs = (uint64_t)runs;
	stats->bytes_after = file_size(path);
out:
	bfs_catalog_close(c);
	cat_lock_release(lock);
	free(dir);
	stats->ns = bfs_mono_ns() - t0;
	return rc;
}
