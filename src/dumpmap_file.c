/* dumpmap_file.c - the map as built (dm_vec), its stored form (the JSON
 * of a "dt" blob, checked on read) and the files of database.sql.d/ that
 * it describes (dumpmap.h). */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpmap_int.h"

#define DT_VERSION 1
#define FILE_NAME_MAX 255

/* ---- building ----------------------------------------------------------- */

int dm_vec_table(struct dm_vec *v, const char *schema, const char *name)
{
	struct bfs_dump_table *t;

	if (v->ntables == v->tcap) {
		size_t nc = v->tcap ? v->tcap * 2 : 16;

		t = realloc(v->tables, nc * sizeof(*t));
		if (!t)
			return -ENOMEM;
		v->tables = t;
		v->tcap = nc;
	}
	t = &v->tables[v->ntables];
	memset(t, 0, sizeof(*t));
	t->schema = strdup(schema);
	t->name = strdup(name);
	if (!t->schema || !t->name) {
		free(t->schema);
		free(t->name);
		return -ENOMEM;
	}
	v->ntables++;
	return 0;
}

int dm_vec_range(struct dm_vec *v, uint64_t off, uint64_t len, uint32_t cls,
		 uint32_t table)
{
	struct bfs_dump_range *r;

	if (cls != BFS_DC_TABLE)
		table = 0;
	if (v->nranges) {
		r = &v->ranges[v->nranges - 1];
		if (r->cls == cls && r->table == table &&
		    r->off + r->len == off) {
			r->len += len;
			return 0;
		}
	}
	if (v->nranges == v->rcap) {
		size_t nc = v->rcap ? v->rcap * 2 : 64;

		r = realloc(v->ranges, nc * sizeof(*r));
		if (!r)
			return -ENOMEM;
		v->ranges = r;
		v->rcap = nc;
	}
	r = &v->ranges[v->nranges++];
	r->off = off;
	r->len = len;
	r->cls = cls;
	r->table = table;
	return 0;
}

static void tables_free(struct bfs_dump_table *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(t[i].schema);
		free(t[i].name);
		free(t[i].file);
	}
	free(t);
}

void dm_vec_free(struct dm_vec *v)
{
	tables_free(v->tables, v->ntables);
	free(v->ranges);
	memset(v, 0, sizeof(*v));
}

void bfs_dumpmap_free(struct bfs_dumpmap *m)
{
	if (!m)
		return;
	tables_free(m->tables, m->ntables);
	free(m->ranges);
	free(m);
}

/* Append name to out with '%', '/', '.', '~', control bytes (and a
 * leading '_' when lead is set) as %XX: injective, and never "." or "..". */
static int name_enc(struct bfs_buf *out, const char *name, bool lead)
{
	const unsigned char *p;
	int rc = 0;

	for (p = (const unsigned char *)name; *p && !rc; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '%' || *p == '/' ||
		    *p == '.' || *p == '~' || (lead && *p == '_'))
			rc = bfs_buf_printf(out, "%%%02X", *p);
		else
			rc = bfs_buf_append(out, p, 1);
		lead = false;
	}
	return rc;
}

/* The file name of table i: "schema.table.sql" (see name_enc), or
 * "table.sql" when the dump names no schema; a name over 255 bytes is cut
 * (at a character boundary) and ends in "~INDEX.sql". */
static int file_name(const struct bfs_dump_table *t, size_t i, char **out)
{
	struct bfs_buf b = {0};
	char suf[32];
	size_t cut;
	int rc;

	rc = t->schema[0] ? name_enc(&b, t->schema, false) : 0;
	if (!rc && t->schema[0])
		rc = bfs_buf_append(&b, ".", 1);
	if (!rc)
		rc = name_enc(&b, t->name, !t->schema[0]);
	if (!rc && b.len + 4 > FILE_NAME_MAX) {
		snprintf(suf, sizeof(suf), "~%zu", i);
		cut = FILE_NAME_MAX - 4 - strlen(suf);
		while (cut && (((unsigned char)b.data[cut] & 0xc0) == 0x80 ||
			       (cut >= 1 && b.data[cut - 1] == '%') ||
			       (cut >= 2 && b.data[cut - 2] == '%')))
			cut--;
		b.len = cut;
		rc = bfs_buf_append(&b, suf, strlen(suf));
	}
	if (!rc)
		rc = bfs_buf_append(&b, ".sql", 5); /* with the NUL */
	if (rc) {
		bfs_buf_free(&b);
		return rc;
	}
	*out = (char *)b.data;
	return 0;
}

static int map_files(struct bfs_dumpmap *m)
{
	size_t i;
	int rc;

	for (i = 0; i < m->ntables; i++) {
		rc = file_name(&m->tables[i], i, &m->tables[i].file);
		if (rc)
			return rc;
	}
	return 0;
}

/* Drop the tables of v that no range is of: a header the next one took
 * over at once (the stored form, and the mount, want bytes in every
 * table file), renumbering the ranges' tables.  One pass over each
 * (a map holds up to 100,000 tables and 1,000,000 ranges).  0 or
 * -ENOMEM. */
static int drop_empty_tables(struct dm_vec *v)
{
	uint32_t *to;
	size_t i, k = 0;

	if (!v->ntables)
		return 0;
	to = malloc(v->ntables * sizeof(*to));
	if (!to)
		return -ENOMEM;
	for (i = 0; i < v->ntables; i++)
		to[i] = UINT32_MAX;
	for (i = 0; i < v->nranges; i++)
		if (v->ranges[i].cls == BFS_DC_TABLE &&
		    v->ranges[i].table < v->ntables)
			to[v->ranges[i].table] = 0;
	for (i = 0; i < v->ntables; i++) {
		if (to[i] == UINT32_MAX) {
			free(v->tables[i].schema);
			free(v->tables[i].name);
			free(v->tables[i].file);
			continue;
		}
		to[i] = (uint32_t)k;
		v->tables[k++] = v->tables[i];
	}
	for (i = 0; i < v->nranges; i++)
		if (v->ranges[i].cls == BFS_DC_TABLE &&
		    v->ranges[i].table < v->ntables)
			v->ranges[i].table = to[v->ranges[i].table];
	v->ntables = k;
	free(to);
	return 0;
}

int dm_vec_finish(struct dm_vec *v, int kind, uint64_t size,
		  struct bfs_dumpmap **out, struct bfs_err *err)
{
	struct bfs_dumpmap *m = calloc(1, sizeof(*m));

	if (!m || drop_empty_tables(v)) {
		free(m);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	m->kind = kind;
	m->size = size;
	m->tables = v->tables;
	m->ntables = v->ntables;
	m->ranges = v->ranges;
	m->nranges = v->nranges;
	memset(v, 0, sizeof(*v));
	if (map_files(m)) {
		bfs_dumpmap_free(m);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	*out = m;
	return 0;
}

/* ---- stored form ----------------------------------------------------------
 */

int bfs_dumpmap_encode(const struct bfs_dumpmap *m, struct bfs_buf *out)
{
	size_t i;
	int rc;

	rc = bfs_buf_printf(out,
			    "{\"v\":%d,\"kind\":\"%s\",\"size\":%llu,"
			    "\"tables\":[",
			    DT_VERSION, m->kind == BFS_DUMP_PG ? "pg" : "mysql",
			    (unsigned long long)m->size);
	for (i = 0; i < m->ntables && !rc; i++) {
		cJSON *a = cJSON_CreateArray();
		char *s = NULL;

		if (a &&
		    cJSON_AddItemToArray(
			a, cJSON_CreateString(m->tables[i].schema)) &&
		    cJSON_AddItemToArray(a,
					 cJSON_CreateString(m->tables[i].name)))
			s = cJSON_PrintUnformatted(a);
		cJSON_Delete(a);
		if (!s)
			return -ENOMEM;
		rc = bfs_buf_printf(out, "%s%s", i ? "," : "", s);
		cJSON_free(s);
	}
	if (!rc)
		rc = bfs_buf_printf(out, "],\"r\":[");
	for (i = 0; i < m->nranges && !rc; i++) {
		const struct bfs_dump_range *r = &m->ranges[i];

		if (r->cls == BFS_DC_TABLE)
			rc = bfs_buf_printf(out, "%s[2,%u,%llu]", i ? "," : "",
					    r->table,
					    (unsigned long long)r->len);
		else
			rc = bfs_buf_printf(out, "%s[%u,%llu]", i ? "," : "",
					    r->cls, (unsigned long long)r->len);
	}
	if (!rc)
		rc = bfs_buf_printf(out, "]}\n");
	return rc;
}

/* A JSON number that is an integer in [0, max]. */
static bool uint_of(const cJSON *j, double max, uint64_t *v)
{
	double d;

	if (!cJSON_IsNumber(j))
		return false;
	d = j->valuedouble;
	if (!(d >= 0 && d <= max) || (double)(uint64_t)d != d)
		return false;
	*v = (uint64_t)d;
	return true;
}

static bool name_ok(const cJSON *j, bool empty_ok)
{
	size_t n;

	if (!cJSON_IsString(j) || !j->valuestring)
		return false;
	n = strlen(j->valuestring);
	return (n || empty_ok) && n <= BFS_DUMPMAP_MAX_NAME;
}

static int parse_json(const cJSON *root, uint64_t file_size,
		      struct bfs_dumpmap *m, struct bfs_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(root, "kind");
	const cJSON *sz = cJSON_GetObjectItemCaseSensitive(root, "size");
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "tables");
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "r");
	const cJSON *it;
	uint64_t x, off = 0, cls, tab, len;
	size_t i;

	if (!cJSON_IsNumber(v) || v->valuedouble != DT_VERSION)
		return bfs_err_set(err, -EUCLEAN, "unknown version");
	if (!cJSON_IsString(k) || !k->valuestring ||
	    (strcmp(k->valuestring, "pg") && strcmp(k->valuestring, "mysql")))
		return bfs_err_set(err, -EUCLEAN, "unknown kind");
	m->kind = strcmp(k->valuestring, "pg") ? BFS_DUMP_MYSQL : BFS_DUMP_PG;
	if (!uint_of(sz, 9007199254740992.0, &x) || x != file_size)
		return bfs_err_set(err, -EUCLEAN,
				   "size is not the file's size (%llu)",
				   (unsigned long long)file_size);
	m->size = x;
	if (!cJSON_IsArray(ts) || !cJSON_IsArray(rs) ||
	    cJSON_GetArraySize(ts) > BFS_DUMPMAP_MAX_TABLES ||
	    cJSON_GetArraySize(rs) > BFS_DUMPMAP_MAX_RANGES)
		return bfs_err_set(err, -EUCLEAN,
				   "tables or ranges missing or too many");
	m->tables =
	    calloc((size_t)cJSON_GetArraySize(ts) + 1, sizeof(*m->tables));
	m->ranges =
	    calloc((size_t)cJSON_GetArraySize(rs) + 1, sizeof(*m->ranges));
	if (!m->tables || !m->ranges)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(it, ts)
	{
		struct bfs_dump_table *t = &m->tables[m->ntables];

		if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2 ||
		    !name_ok(it->child, true) ||
		    !name_ok(it->child->next, false))
			return bfs_err_set(err, -EUCLEAN, "table %zu is bad",
					   m->ntables);
		t->schema = strdup(it->child->valuestring);
		t->name = strdup(it->child->next->valuestring);
		m->ntables++;
		if (!t->schema || !t->name)
			return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	cJSON_ArrayForEach(it, rs)
	{
		struct bfs_dump_range *r = &m->ranges[m->nranges];
		int n = cJSON_IsArray(it) ? cJSON_GetArraySize(it) : 0;

		tab = 0;
		if (!(n == 2 || n == 3) || !uint_of(it->child, 4, &cls) ||
		    (n == 3) != (cls == BFS_DC_TABLE) ||
		    (n == 3 &&
		     !uint_of(it->child->next, (double)m->ntables - 1, &tab)) ||
		    !uint_of(n == 3 ? it->child->next->next : it->child->next,
			     (double)(file_size - off), &len) ||
		    !len)
			return bfs_err_set(err, -EUCLEAN, "range %zu is bad",
					   m->nranges);
		r->off = off;
		r->len = len;
		r->cls = (uint32_t)cls;
		r->table = (uint32_t)tab;
		off += len;
		m->nranges++;
	}
	if (off != file_size)
		return bfs_err_set(
		    err, -EUCLEAN, "ranges cover %llu of %llu bytes",
		    (unsigned long long)off, (unsigned long long)file_size);
	for (i = 0; i < m->ntables; i++) {
		size_t j;

		for (j = 0; j < m->nranges; j++)
			if (m->ranges[j].cls == BFS_DC_TABLE &&
			    m->ranges[j].table == i)
				break;
		if (j == m->nranges)
			return bfs_err_set(err, -EUCLEAN,
					   "table %zu has no range", i);
	}
	return 0;
}

/* Whether two tables share a file name (sorted copy of the names). */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int names_unique(const struct bfs_dumpmap *m, struct bfs_err *err)
{
	char **v = malloc((m->ntables + 1) * sizeof(*v));
	size_t i;
	int rc = 0;

	if (!v)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < m->ntables; i++)
		v[i] = m->tables[i].file;
	qsort(v, m->ntables, sizeof(*v), cmp_str);
	for (i = 1; i < m->ntables && !rc; i++)
		if (!strcmp(v[i - 1], v[i]))
			rc = bfs_err_set(err, -EUCLEAN,
					 "two tables make the file name %s",
					 v[i]);
	free(v);
	return rc;
}

int bfs_dumpmap_parse(const void *data, size_t len, uint64_t file_size,
		      struct bfs_dumpmap **out, struct bfs_err *err)
{
	struct bfs_dumpmap *m = calloc(1, sizeof(*m));
	cJSON *root = NULL;
	int rc;

	*out = NULL;
	if (!m)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	root = cJSON_ParseWithLength(data, len);
	if (!root || !cJSON_IsObject(root)) {
		rc = bfs_err_set(err, -EUCLEAN, "not a JSON object");
		goto out;
	}
	rc = parse_json(root, file_size, m, err);
	if (!rc && map_files(m))
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	if (!rc)
		rc = names_unique(m, err);
out:
	cJSON_Delete(root);
	if (rc) {
		bfs_err_prefix(err, rc, "dump map");
		bfs_dumpmap_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* ---- files ------------------------------------------------------------------
 */

const char *bfs_dumpmap_file_name(const struct bfs_dumpmap *m, size_t i)
{
	if (i == 0)
		return "_before.sql";
	if (i <= m->ntables)
		return m->tables[i - 1].file;
	return "_after.sql";
}

ssize_t bfs_dumpmap_file_find(const struct bfs_dumpmap *m, const char *name)
{
	size_t i;

	for (i = 0; i < bfs_dumpmap_nfiles(m); i++)
		if (!strcmp(bfs_dumpmap_file_name(m, i), name))
			return (ssize_t)i;
	return -ENOENT;
}

bool bfs_dumpmap_in_file(const struct bfs_dumpmap *m, size_t i,
			 const struct bfs_dump_range *r)
{
	switch (r->cls) {
	case BFS_DC_PRE:
	case BFS_DC_POST:
		return true;
	case BFS_DC_BEFORE:
		return i == 0;
	case BFS_DC_AFTER:
		return i == m->ntables + 1;
	case BFS_DC_TABLE:
		return i >= 1 && i <= m->ntables && r->table == i - 1;
	}
	return false;
}

uint64_t bfs_dumpmap_file_size(const struct bfs_dumpmap *m, size_t i)
{
	uint64_t n = 0;
	size_t j;

	for (j = 0; j < m->nranges; j++)
		if (bfs_dumpmap_in_file(m, i, &m->ranges[j]))
			n += m->ranges[j].len;
	return n;
}

int bfs_dumpmap_file_locate(const struct bfs_dumpmap *m, size_t i, uint64_t off,
			    uint64_t *dump_off, uint64_t *n)
{
	size_t j;

	for (j = 0; j < m->nranges; j++) {
		const struct bfs_dump_range *r = &m->ranges[j];

		if (!bfs_dumpmap_in_file(m, i, r))
			continue;
		if (off < r->len) {
			*dump_off = r->off + off;
			*n = r->len - off;
			return 0;
		}
		off -= r->len;
	}
	*n = 0;
	return -ENXIO;
}
