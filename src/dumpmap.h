/* dumpmap.h - the structure of a plain SQL dump (a PostgreSQL plain
 * pg_dump or a mysqldump / mariadb-dump), found while the dump streams by:
 * which byte ranges are the preamble, each table (definition, data, its
 * own indexes, primary key, unique constraints, column defaults), what
 * must load before the tables and what after them (views, foreign keys,
 * triggers, grants, ...), and the trailer.  doc/FORMAT.md, section
 * "Dump maps", describes the stored form (tree key "dt").
 *
 * The scanner is a pure, bounded state machine: feed it the bytes in any
 * pieces, it never holds more than a fixed head of the current line and
 * statement, and never looks back.  Ranges cover the whole dump, in
 * order, without gaps.
 */
#ifndef BFS_DUMPMAP_H
#define BFS_DUMPMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum bfs_dump_kind {
	BFS_DUMP_PG = 1,    /* pg_dump plain format */
	BFS_DUMP_MYSQL = 2, /* mysqldump / mariadb-dump */
};

/* What a range of the dump is for. */
enum bfs_dump_class {
	BFS_DC_PRE = 0,	   /* preamble: SET lines, guards; every file */
	BFS_DC_BEFORE = 1, /* _before.sql: what the tables need */
	BFS_DC_TABLE = 2,  /* one table's file */
	BFS_DC_AFTER = 3,  /* _after.sql: views, FKs, triggers, grants */
	BFS_DC_POST = 4,   /* trailer (restores settings); every file */
};

struct bfs_dump_range {
	uint64_t off, len;
	uint32_t cls;	/* enum bfs_dump_class */
	uint32_t table; /* BFS_DC_TABLE: index into tables */
};

struct bfs_dump_table {
	char *schema; /* "" when the dump does not say (owned) */
	char *name;   /* owned, NUL-free, non-empty */
	char *file;   /* file name in database.sql.d/ (owned) */
};

struct bfs_dumpmap {
	int kind; /* enum bfs_dump_kind */
	uint64_t size;
	struct bfs_dump_table *tables;
	size_t ntables;
	struct bfs_dump_range *ranges;
	size_t nranges;
};

/* Limits a stored map is checked against (a dump beyond them is stored
 * without a map). */
#define BFS_DUMPMAP_MAX_TABLES 100000
#define BFS_DUMPMAP_MAX_RANGES 1000000
#define BFS_DUMPMAP_MAX_NAME 1024

/* ---- scanning ----------------------------------------------------------
 */

struct bfs_dumpscan;

/* A new scanner (*out owned by the caller, free with bfs_dumpscan_free).
 * 0 or -ENOMEM.  A scanner is used by one thread at a time. */
int bfs_dumpscan_new(struct bfs_dumpscan **out);
void bfs_dumpscan_free(struct bfs_dumpscan *s); /* NULL ok */

/* Feed the next len bytes of the dump.  Never fails: a dump that stops
 * looking like one is remembered and reported by _finish. */
void bfs_dumpscan_feed(struct bfs_dumpscan *s, const void *data, size_t len);

/* False once the scanner knows the input is not a dump it can map (the
 * caller may stop feeding). */
bool bfs_dumpscan_ok(const struct bfs_dumpscan *s);

/* End of the dump: *out is the map (owned by the caller).  -ENOTSUP with
 * a message saying why when the bytes are not a dump this module maps
 * (not a pg_dump/mysqldump, an unterminated COPY or string, limits).
 * -ENOMEM.  The scanner can only be freed afterwards. */
int bfs_dumpscan_finish(struct bfs_dumpscan *s, struct bfs_dumpmap **out,
			struct bfs_err *err);

void bfs_dumpmap_free(struct bfs_dumpmap *m); /* NULL ok */

/* ---- stored form ---------------------------------------------------------
 */

/* The map as the JSON of a "dt" blob (doc/FORMAT.md), appended to out. */
int bfs_dumpmap_encode(const struct bfs_dumpmap *m, struct bfs_buf *out);

/* Parse and check a "dt" blob (untrusted) for a file of file_size bytes:
 * ranges cover [0, file_size) in order, classes and table indexes valid,
 * every table has a range, names valid and file names unique.  *out owned
 * by the caller.  -EUCLEAN with a message naming what is wrong, -ENOMEM. */
int bfs_dumpmap_parse(const void *data, size_t len, uint64_t file_size,
		      struct bfs_dumpmap **out, struct bfs_err *err);

/* ---- the files of database.sql.d/ ----------------------------------------
 */

/* Files are numbered 0 (_before.sql), 1..ntables (tables, in map order),
 * ntables + 1 (_after.sql). */
static inline size_t bfs_dumpmap_nfiles(const struct bfs_dumpmap *m)
{
	return m->ntables + 2;
}

/* The name of file i (borrowed from m). */
const char *bfs_dumpmap_file_name(const struct bfs_dumpmap *m, size_t i);

/* The index of the file named name, or -ENOENT. */
ssize_t bfs_dumpmap_file_find(const struct bfs_dumpmap *m, const char *name);

/* Whether range r is part of file i. */
bool bfs_dumpmap_in_file(const struct bfs_dumpmap *m, size_t i,
			 const struct bfs_dump_range *r);

/* The size of file i in bytes. */
uint64_t bfs_dumpmap_file_size(const struct bfs_dumpmap *m, size_t i);

/* Map a byte offset of file i to the dump: the dump offset and how many
 * bytes are contiguous there.  -ENXIO (*n = 0) at or past the end. */
int bfs_dumpmap_file_locate(const struct bfs_dumpmap *m, size_t i, uint64_t off,
			    uint64_t *dump_off, uint64_t *n);

#endif
