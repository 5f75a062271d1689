/* test-catalog-vfs.c - the shared-mapping VFS (catalog/catalog_vfs.c):
 * read-only connections through it read what the default VFS reads, share
 * ONE mapping of the file (its size, not one per connection), read pages
 * past it after the file grew (mapped in place while other pointers are
 * out; past the reservation through xRead while a fetched page is out,
 * mapped afresh once none is), keep reading right after their pages were
 * dropped (MADV_DONTNEED), and unmap when the last one closes.  A plain
 * SQLite database in WAL mode, as the catalog is; the module's internal
 * header for the VFS's name and its counters. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "catalog/catalog_int.h"
#include "tap.h"
#include "testlib.h"

#define ROWS 3000
#define VLEN 1000
#define BIG_ROWS 80000 /* 80 MiB more: past the reservation */

/* rows [from, to) of t: k, a blob of VLEN bytes that depends on k */
static int fill(sqlite3 *db, int from, int to)
{
	sqlite3_stmt *st = NULL;
	unsigned char v[VLEN];
	int rc;

	rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?)", -1,
					&st, NULL);
	for (int k = from; rc == SQLITE_OK && k < to; k++) {
		for (int i = 0; i < VLEN; i++)
			v[i] = (unsigned char)(k * 31 + i * 7);
		sqlite3_bind_int(st, 1, k);
		sqlite3_bind_blob(st, 2, v, VLEN, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	/* the rows into the database file itself, which grows */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
				  NULL, NULL);
	return rc;
}

/* A checksum of every row of t read through db (FNV-1a over k and v), or
 * 0 on error; *rows: how many. */
static uint64_t sum(sqlite3 *db, int *rows)
{
	sqlite3_stmt *st = NULL;
	uint64_t h = 1469598103934665603ull;
	int rc;

	*rows = 0;
	if (sqlite3_prepare_v2(db, "SELECT k, v FROM t ORDER BY k", -1, &st,
			       NULL) != SQLITE_OK)
		return 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_blob(st, 1);
		int n = sqlite3_column_bytes(st, 1);
		int64_t k = sqlite3_column_int64(st, 0);

		for (int i = 0; i < 8; i++)
			h = (h ^ (uint8_t)(k >> (8 * i))) * 1099511628211ull;
		for (int i = 0; i < n; i++)
			h = (h ^ v[i]) * 1099511628211ull;
		(*rows)++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? h : 0;
}

static sqlite3 *open_ro(const char *path, const char *vfs)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, vfs) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_exec(db, "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL);
	return db;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int main(void)
{
	const char *tmp = tl_tmpdir("bfs-catvfs");
	const char *path = tl_path(tmp, "t.db");
	sqlite3 *w = NULL, *plain, *r1, *r2, *r0;
	sqlite3_stmt *held = NULL, *held2 = NULL;
	uint64_t want, size;
	int rows, rc;

	is_int(cat_vfs_init(), SQLITE_OK, "the VFS registers");
	is_int(cat_vfs_init(), SQLITE_OK, "  and once only");
	ok(sqlite3_vfs_find(NULL) != sqlite3_vfs_find(CAT_VFS_NAME),
	   "  not as the default VFS");

	rc = sqlite3_open(path, &w);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(w,
				  "PRAGMA journal_mode = WAL;"
				  " CREATE TABLE t (k INTEGER PRIMARY KEY,"
				  " v BLOB)",
				  NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = fill(w, 0, ROWS);
	is_int(rc, SQLITE_OK, "a WAL database of %d rows", ROWS);

	plain = open_ro(path, NULL);
	r1 = open_ro(path, CAT_VFS_NAME);
	r2 = open_ro(path, CAT_VFS_NAME);
	ok(plain && r1 && r2, "two read-only connections through the VFS");
	want = sum(plain, &rows);
	is_int(rows, ROWS, "  the default VFS reads %d rows", ROWS);
	is_int(sum(r1, &rows), want, "  the first reads the same rows");
	is_int(sum(r2, &rows), want, "  the second too");
	size = file_size(path);
	is_int(cat_vfs_mapped_bytes(), size,
	       "  one mapping of the file's %llu bytes for both",
	       (unsigned long long)size);

	/* the file grows (no reader holds a snapshot: the checkpoint writes
	 * it all into the file), then r1 holds fetched pages (a statement
	 * in the middle of its rows: its cursor's pages), and r2 reads the
	 * pages past the mapping: mapped in place, r1's pointers stay */
	is_int(fill(w, ROWS, 2 * ROWS), SQLITE_OK, "the file grows by %d rows",
	       ROWS);
	ok(file_size(path) > size, "  to %llu bytes",
	   (unsigned long long)file_size(path));
	rc = sqlite3_prepare_v2(r1, "SELECT count(*) FROM t", -1, &held, NULL);
	if (rc == SQLITE_OK)
		rc =
		    sqlite3_step(held) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
	is_int(rc, SQLITE_OK,
	       "a statement of the first connection holds pages");
	want = sum(plain, &rows);
	is_int(rows, 2 * ROWS, "  the default VFS reads them");
	is_int(sum(r2, &rows), want, "  the second reads them too");
	size = file_size(path);
	is_int(cat_vfs_mapped_bytes(), size,
	       "  through the mapping, grown in place to %llu bytes",
	       (unsigned long long)size);
	is_int(sqlite3_column_int(held, 0), 2 * ROWS,
	       "  the first's statement held its pages meanwhile");
	sqlite3_finalize(held);
	is_int(sum(r1, &rows), want, "  and the first reads them");

	/* past the reservation (twice the file and 64 MiB) while a pointer
	 * is out: xRead, then mapped afresh once none is */
	rc = sqlite3_prepare_v2(r1, "SELECT count(*) FROM t", -1, &held, NULL);
	if (rc == SQLITE_OK)
		rc =
		    sqlite3_step(held) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
	is_int(rc, SQLITE_OK,
	       "a statement of the first connection holds pages");
	is_int(fill(w, 2 * ROWS, 2 * ROWS + BIG_ROWS), SQLITE_OK,
	       "the file grows past the reservation");
	want = sum(plain, &rows);
	is_int(rows, 2 * ROWS + BIG_ROWS, "  the default VFS reads %d rows",
	       rows);
	rc = sqlite3_prepare_v2(r2, "SELECT count(*) FROM t", -1, &held2, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(held2) == SQLITE_ROW ? SQLITE_OK
						       : SQLITE_ERROR;
	is_int(rc, SQLITE_OK, "  the second holds pages and counts them");
	is_int(sqlite3_column_int(held2, 0), 2 * ROWS + BIG_ROWS,
	       "  through xRead past the mapping");
	is_int(cat_vfs_mapped_bytes(), size,
	       "  the mapping stays while a pointer into it is out");
	sqlite3_finalize(held);
	sqlite3_finalize(held2);
	size = file_size(path);
	is_int(cat_vfs_mapped_bytes(), size,
	       "  mapped afresh, %llu bytes, once none is",
	       (unsigned long long)size);
	is_int(sum(r2, &rows), want, "  the second reads them");
	is_int(sum(r1, &rows), want, "  and the first");

	ok(cat_vfs_drop_pages() == size, "the pages dropped");
	is_int(sum(r1, &rows), want, "  the first reads the same rows after");
	is_int(sum(r2, &rows), want, "  the second too");

	/* no mmap limit: nothing fetched, every page through xRead */
	r0 = NULL;
	if (sqlite3_open_v2(path, &r0, SQLITE_OPEN_READONLY, CAT_VFS_NAME) ==
	    SQLITE_OK)
		sqlite3_exec(r0, "PRAGMA mmap_size = 0", NULL, NULL, NULL);
	is_int(sum(r0, &rows), want,
	       "a connection with mmap_size 0 reads them");

	sqlite3_close(r0);
	sqlite3_close(r1);
	ok(cat_vfs_mapped_bytes() == size, "one connection closed: mapped");
	sqlite3_close(r2);
	is_int(cat_vfs_mapped_bytes(), 0, "  the last closed: unmapped");

	/* writable connections through it are the unix VFS's alone */
	r1 = NULL;
	rc = sqlite3_open_v2(path, &r1, SQLITE_OPEN_READWRITE, CAT_VFS_NAME);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(r1, "INSERT INTO t VALUES (-1, x'00')", NULL,
				  NULL, NULL);
	is_int(rc, SQLITE_OK, "a writable connection through it writes");
	is_int(cat_vfs_mapped_bytes(), 0, "  without the shared mapping");
	sqlite3_close(r1);
	sqlite3_close(plain);
	sqlite3_close(w);
	return tap_done();
}
