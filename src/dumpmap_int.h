/* dumpmap_int.h - internals shared by dumpmap.c (the scanner),
 * dumpmap_sql.c (names in SQL text) and dumpmap_file.c (the map, its
 * stored form and the files of database.sql.d/). */
#ifndef BFS_DUMPMAP_INT_H
#define BFS_DUMPMAP_INT_H

#include "dumpmap.h"
#include "hmap.h"

/* The map being built. */
struct dm_vec {
	struct bfs_dump_range *ranges;
	size_t nranges, rcap;
	struct bfs_dump_table *tables;
	size_t ntables, tcap;
};
/* Append a table (copies the names) / a range (merged with the last one
 * when adjacent and of the same class and table).  0 or -ENOMEM. */
int dm_vec_table(struct dm_vec *v, const char *schema, const char *name);
int dm_vec_range(struct dm_vec *v, uint64_t off, uint64_t len, uint32_t cls,
		 uint32_t table);
/* Move v into a new map (file names made), v emptied. */
int dm_vec_finish(struct dm_vec *v, int kind, uint64_t size,
		  struct bfs_dumpmap **out, struct bfs_err *err);
void dm_vec_free(struct dm_vec *v);

/* ---- the scanner's state (dumpmap.c; its sections: dumpmap_sect.c) */

#define HEAD_KEEP 1024
#define TAIL_KEEP 16

enum lex {
	L_NORMAL,
	L_SQ,	   /* '...' ('' doubles) */
	L_SQE,	   /* '...' with backslash escapes (E'' / MySQL) */
	L_SQE_BS,  /* after a backslash in L_SQE */
	L_DQ,	   /* "..." identifier (pg) */
	L_DQE,	   /* "..." string with backslash escapes (MySQL) */
	L_DQE_BS,  /* after a backslash in L_DQE */
	L_BT,	   /* `...` (MySQL) */
	L_DASH,	   /* saw '-' */
	L_SLASH,   /* saw '/' */
	L_LINECMT, /* to the end of the line */
	L_BLOCK,   /* block comment */
	L_BLOCK_STAR,
	L_BLOCK_SLASH,
	L_DOPEN,  /* pg: collecting a $tag$ opener */
	L_DOLLAR, /* inside $tag$ ... */
	L_DCLOSE, /* matching a closing $tag$ */
	L_META,	  /* a client command line: to the end of the line */
};

struct seqown {
	uint8_t key[BFS_HASH_LEN]; /* sha256 of "schema\0name" */
	uint32_t table;
};

struct bfs_dumpscan {
	int kind; /* 0 until known */
	bool bad; /* not a dump this module maps */
	char why[200];
	uint64_t off; /* bytes consumed */
	uint64_t nlines;

	/* the current line */
	uint64_t line_off, line_len;
	char line[HEAD_KEEP];
	size_t line_n;
	bool line_boundary; /* started outside any statement and string */
	bool pending;	    /* a "--" line opened a possible header block */
	uint64_t pend_off;

	/* lexer */
	int lex;
	char prev, prev2; /* last two SQL bytes (for E'' and $tag$) */
	char dtag[64];	  /* dollar-quote tag */
	size_t dtag_n, dmatch;
	int depth; /* pg block comments nest */
	bool copy, copy_next;
	char delim[16]; /* MySQL DELIMITER */
	size_t delim_n, delim_match;

	/* the current statement */
	bool in_stmt, stmt_this_line;
	uint64_t stmt_line_off;
	char head[HEAD_KEEP];
	size_t head_n;
	char tail[TAIL_KEEP]; /* ring: the statement's last bytes */
	uint64_t tail_n;      /* bytes ever added to the ring */
	uint64_t stmt_count;  /* statements in the open range */

	/* the open range */
	uint64_t rng_off;
	int rng_cls; /* -1 undecided (pg: until its first statement) */
	uint32_t rng_table;
	char sec_type[48]; /* pg: the header's Type */
	bool seen_table;
	uint64_t trail_off; /* MySQL: start of the trailing @OLD_ run */
	bool in_trail;
	char schema[BFS_DUMPMAP_MAX_NAME + 1]; /* MySQL: current database */

	struct dm_vec out;	/* ranges and tables so far */
	struct bfs_hmap tables; /* struct seqown by table key */
	struct bfs_hmap seqs;	/* sequence -> owning table */
};

/* Mark the scan as not a dump to map (the first reason is kept). */
void dm_set_bad(struct bfs_dumpscan *s, const char *why);
/* The index of table schema.name, added when new and add is set; -1 when
 * unknown (or on failure, which marks the scan bad). */
long dm_table_index(struct bfs_dumpscan *s, const char *schema,
		    const char *name, bool add);
/* Close the open range at off and open one of class cls (-1: undecided,
 * pg_dump: classified at its first statement's end). */
void dm_range_switch(struct bfs_dumpscan *s, uint64_t off, int cls,
		     uint32_t table);
/* pg_dump: class the open section from its first statement (s->head). */
void dm_pg_classify(struct bfs_dumpscan *s);
/* A header comment line l[0..n) at a statement boundary: starts a
 * section and returns true, or false when it is no header. */
bool dm_pg_header(struct bfs_dumpscan *s, const char *l, size_t n);
bool dm_my_header(struct bfs_dumpscan *s, const char *l, size_t n);
/* mysqldump's banner "-- Host: h    Database: db" names the schema. */
void dm_my_banner(struct bfs_dumpscan *s, const char *l, size_t n);

/* A qualified name, unquoted: part[0..n), each NUL-terminated. */
struct dm_qname {
	char part[3][BFS_DUMPMAP_MAX_NAME + 1];
	int n;
};

const char *dm_memmem(const char *h, size_t hn, const char *n, size_t nn);

/* PostgreSQL statements (h..e, the head of a statement): each fills q
 * with a two-part name schema.table (0), or -EINVAL. */
int dm_pg_create_table(const char *h, const char *e, struct dm_qname *q);
/* words (e.g. "COPY", "INSERT INTO") then the table name */
int dm_pg_after_words(const char *h, const char *e, const char *words,
		      struct dm_qname *q);
int dm_pg_alter_table(const char *h, const char *e, struct dm_qname *q);
int dm_pg_create_index(const char *h, const char *e, struct dm_qname *q);
/* "... SEQUENCE NAME schema.seq ..." of an identity column */
int dm_pg_identity_seq(const char *h, const char *e, struct dm_qname *q);
/* "ALTER SEQUENCE seq OWNED BY schema.table.column": seq and table */
int dm_pg_owned_by(const char *h, const char *e, struct dm_qname *seq,
		   struct dm_qname *table);
/* "SELECT pg_catalog.setval('schema.seq', ...)": the sequence */
int dm_pg_setval(const char *h, const char *e, struct dm_qname *q);

/* MySQL: the first `name` in p[0..n) (backticks undoubled) into
 * name[BFS_DUMPMAP_MAX_NAME + 1]; -EINVAL. */
int dm_my_backticked(const char *p, size_t n, char *name);

/* Sequence owners (a map of struct { key[32]; uint32 table }). */
void dm_seq_own(struct bfs_hmap *m, const struct dm_qname *seq, uint32_t table);
long dm_seq_owner(const struct bfs_hmap *m, const struct dm_qname *seq);

#endif
