/* dumpmap_sect.c - the sections of a dump (dumpmap_int.h): the ranges
 * and tables found so far, pg_dump's "-- Name: X; Type: T" headers and
 * the class of each section from its first statement, mysqldump's
 * "-- Table structure for table" headers and its banner.  Called by the
 * lexer (dumpmap.c), never calls back into it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dumpmap_int.h"

void dm_set_bad(struct bfs_dumpscan *s, const char *why)
{
	if (s->bad)
		return;
	s->bad = true;
	snprintf(s->why, sizeof(s->why), "%s (line %llu)", why,
		 (unsigned long long)s->nlines + 1);
}

/* ---- ranges and tables -------------------------------------------------- */

static void name_key(uint8_t key[BFS_HASH_LEN], const char *schema,
		     const char *name)
{
	size_t a = strlen(schema), b = strlen(name);
	char buf[2 * BFS_DUMPMAP_MAX_NAME + 2];

	memcpy(buf, schema, a);
	buf[a] = 0;
	memcpy(buf + a + 1, name, b);
	bfs_sha256(key, buf, a + 1 + b);
}

/* The index of table schema.name, added when new and add is set; -1 when
 * unknown (or on failure, which marks the scan bad). */
long dm_table_index(struct bfs_dumpscan *s, const char *schema,
		    const char *name, bool add)
{
	struct seqown k, *rec;
	void *slot;
	bool added;

	name_key(k.key, schema, name);
	if (!add) {
		rec = bfs_hmap_find(&s->tables, k.key);
		return rec ? (long)rec->table : -1;
	}
	if (bfs_hmap_get(&s->tables, k.key, &slot, &added)) {
		dm_set_bad(s, "out of memory");
		return -1;
	}
	rec = slot;
	if (added) {
		if (s->out.ntables >= BFS_DUMPMAP_MAX_TABLES ||
		    dm_vec_table(&s->out, schema, name)) {
			bfs_hmap_remove(&s->tables, k.key);
			dm_set_bad(s, "too many tables");
			return -1;
		}
		rec->table = (uint32_t)(s->out.ntables - 1);
	}
	return rec->table;
}

/* Close the open range at off and open one of class cls (-1: undecided). */
void dm_range_switch(struct bfs_dumpscan *s, uint64_t off, int cls,
		     uint32_t table)
{
	if (off < s->rng_off)
		off = s->rng_off;
	if (off > s->rng_off) {
		int c = s->rng_cls;

		if (c < 0) /* no statement: a comment-only section */
			c = s->seen_table ? BFS_DC_AFTER : BFS_DC_BEFORE;
		if (s->out.nranges >= BFS_DUMPMAP_MAX_RANGES)
			dm_set_bad(s, "too many sections");
		else if (dm_vec_range(&s->out, s->rng_off, off - s->rng_off,
				      (uint32_t)c, s->rng_table))
			dm_set_bad(s, "out of memory");
	}
	s->rng_off = off;
	s->rng_cls = cls;
	s->rng_table = table;
	s->stmt_count = 0;
}

/* ---- pg_dump sections -----------------------------------------------------
 */

static bool type_is(const struct bfs_dumpscan *s, const char *t)
{
	return !strcmp(s->sec_type, t);
}

static const char *const pg_after_types[] = {
    "VIEW",
    "MATERIALIZED VIEW",
    "MATERIALIZED VIEW DATA",
    "FK CONSTRAINT",
    "TRIGGER",
    "EVENT TRIGGER",
    "RULE",
    "POLICY",
    "ROW SECURITY",
    "ACL",
    "DEFAULT ACL",
    "TABLE ATTACH",
    "INDEX ATTACH",
    "PUBLICATION",
    "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA",
    "SUBSCRIPTION",
    "STATISTICS",
    "SECURITY LABEL",
    "LARGE OBJECT",
    "BLOB",
    "BLOBS",
    NULL,
};

/* Classify the open pg_dump section from its first statement (head). */
void dm_pg_classify(struct bfs_dumpscan *s)
{
	struct dm_qname q, q2;
	const char *h = s->head, *e = s->head + s->head_n;
	long t = -1;
	int cls = -1;
	size_t i;

	for (i = 0; pg_after_types[i]; i++)
		if (type_is(s, pg_after_types[i]))
			cls = BFS_DC_AFTER;
	if (cls >= 0)
		goto out;
	if (type_is(s, "TABLE")) {
		if (dm_pg_create_table(h, e, &q) == 0)
			t = dm_table_index(s, q.part[0], q.part[1], true);
		if (t >= 0)
			s->seen_table = true;
	} else if (type_is(s, "TABLE DATA")) {
		if (dm_pg_after_words(h, e, "COPY", &q) == 0 ||
		    dm_pg_after_words(h, e, "INSERT INTO", &q) == 0)
			t = dm_table_index(s, q.part[0], q.part[1], false);
		if (t < 0)
			cls = BFS_DC_AFTER;
	} else if (type_is(s, "CONSTRAINT") || type_is(s, "DEFAULT") ||
		   type_is(s, "CHECK CONSTRAINT")) {
		if (dm_pg_alter_table(h, e, &q) == 0)
			t = dm_table_index(s, q.part[0], q.part[1], false);
	} else if (type_is(s, "INDEX")) {
		if (dm_pg_create_index(h, e, &q) == 0)
			t = dm_table_index(s, q.part[0], q.part[1], false);
	} else if (type_is(s, "SEQUENCE")) {
		/* an identity column's sequence is made by ALTER TABLE */
		if (dm_pg_alter_table(h, e, &q) == 0) {
			t = dm_table_index(s, q.part[0], q.part[1], false);
			if (t >= 0 && dm_pg_identity_seq(h, e, &q2) == 0)
				dm_seq_own(&s->seqs, &q2, (uint32_t)t);
		} else {
			cls = BFS_DC_BEFORE;
		}
	} else if (type_is(s, "SEQUENCE OWNED BY")) {
		if (dm_pg_owned_by(h, e, &q, &q2) == 0) {
			t = dm_table_index(s, q2.part[0], q2.part[1], false);
			if (t >= 0)
				dm_seq_own(&s->seqs, &q, (uint32_t)t);
		}
	} else if (type_is(s, "SEQUENCE SET")) {
		if (dm_pg_setval(h, e, &q) == 0)
			t = dm_seq_owner(&s->seqs, &q);
		if (t < 0)
			cls = BFS_DC_BEFORE;
	}
	if (cls < 0 && t < 0)
		cls = s->seen_table ? BFS_DC_AFTER : BFS_DC_BEFORE;
out:
	if (t >= 0)
		s->rng_cls = BFS_DC_TABLE, s->rng_table = (uint32_t)t;
	else
		s->rng_cls = cls;
}

/* A pg_dump header line ("-- Name: ..." / "-- Data for Name: ..."):
 * start a section at the "--" line above it. */
bool dm_pg_header(struct bfs_dumpscan *s, const char *l, size_t n)
{
	const char *t, *end;
	size_t tl;

	if (n == 36 && !memcmp(l, "-- PostgreSQL database dump complete", 36)) {
		dm_range_switch(s, s->pending ? s->pend_off : s->line_off,
				BFS_DC_POST, 0);
		return true;
	}
	if (!(n > 9 && !memcmp(l, "-- Name: ", 9)) &&
	    !(n > 18 && !memcmp(l, "-- Data for Name: ", 18)))
		return false;
	t = dm_memmem(l, n, "; Type: ", 8);
	if (!t)
		return false;
	t += 8;
	end = dm_memmem(t, (size_t)(l + n - t), "; ", 2);
	tl = (size_t)((end ? end : l + n) - t);
	if (s->rng_cls == BFS_DC_POST)
		dm_set_bad(s, "a section after the end of the dump");
	dm_range_switch(s, s->pending ? s->pend_off : s->line_off, -1, 0);
	if (tl >= sizeof(s->sec_type))
		tl = sizeof(s->sec_type) - 1;
	memcpy(s->sec_type, t, tl);
	s->sec_type[tl] = 0;
	return true;
}

/* ---- mysqldump sections ----------------------------------------------------
 */

bool dm_my_header(struct bfs_dumpscan *s, const char *l, size_t n)
{
	static const struct {
		const char *p;
		int cls; /* -2: table definition, -3: table data */
	} hs[] = {
	    {"-- Table structure for table ", -2},
	    {"-- Dumping data for table ", -3},
	    {"-- Temporary table structure for view ", BFS_DC_AFTER},
	    {"-- Temporary view structure for view ", BFS_DC_AFTER},
	    {"-- Final view structure for view ", BFS_DC_AFTER},
	    {"-- Dumping events for database ", BFS_DC_AFTER},
	    {"-- Dumping routines for database ", BFS_DC_AFTER},
	    {"-- Current Database: ", BFS_DC_BEFORE},
	};
	char name[BFS_DUMPMAP_MAX_NAME + 1];
	uint64_t at = s->pending ? s->pend_off : s->line_off;
	size_t i, pl;
	long t;

	for (i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		pl = strlen(hs[i].p);
		if (n > pl && !memcmp(l, hs[i].p, pl))
			break;
	}
	if (i == sizeof(hs) / sizeof(hs[0]))
		return false;
	s->in_trail = false;
	if (hs[i].cls >= 0) {
		if (hs[i].cls == BFS_DC_BEFORE) {
			if (dm_my_backticked(l + pl, n - pl, name) == 0)
				memcpy(s->schema, name, strlen(name) + 1);
			if (s->seen_table)
				dm_set_bad(s, "a second database after tables");
		}
		dm_range_switch(s, at, hs[i].cls, 0);
		return true;
	}
	if (dm_my_backticked(l + pl, n - pl, name)) {
		dm_set_bad(s, "cannot read the table name of a header");
		return true;
	}
	t = dm_table_index(s, s->schema, name, hs[i].cls == -2);
	if (t < 0) {
		dm_range_switch(s, at, BFS_DC_AFTER, 0);
		return true;
	}
	s->seen_table = true;
	dm_range_switch(s, at, BFS_DC_TABLE, (uint32_t)t);
	return true;
}

/* "-- Host: h    Database: db" in the mysqldump banner names the schema. */
void dm_my_banner(struct bfs_dumpscan *s, const char *l, size_t n)
{
	const char *d = dm_memmem(l, n, "Database: ", 10);
	size_t dl;

	if (!d || s->schema[0])
		return;
	d += 10;
	dl = (size_t)(l + n - d);
	while (dl && (d[dl - 1] == ' ' || d[dl - 1] == '\r'))
		dl--;
	if (dl && dl <= BFS_DUMPMAP_MAX_NAME && !memchr(d, 0, dl)) {
		memcpy(s->schema, d, dl);
		s->schema[dl] = 0;
	}
}
