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
