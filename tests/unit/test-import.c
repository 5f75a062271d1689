/* test-import.c - the rules of `backupfs import` (src/import.h): times in
 * folder names, seed manifest.json parsing (keys, types, units, limits),
 * and plans of folders made here: what each file becomes, where the id
 * and time come from, and clashes refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "src/import.h"
#include "src/timefmt.h"
#include "tap.h"

#define T(s) ((int64_t)(s)*1000000000)

/* 2026-11-20T05:15:00Z */
#define T0 T(1795151700)

struct name_case {
	const char *name;
	bool ok;
	int64_t ns;
};

static const struct name_case names[] = {
    {"2026-11-20_05-15-00", true, T0},
    {"2026-11-20T05:15:00Z", true, T0},
    {"2026-11-20 05:15:00", true, T0},
    {"nocodb-backup-2026-11-20_05-15-00", true, T0},
    {"20261120T051500Z", true, T0},
    {"20261120_051500", true, T0},
    {"20261120-051500.1", true, T0},
    {"2026-11-20", true, T0 - T(5 * 3600 + 15 * 60)},
    {"backup_20261120", true, T0 - T(5 * 3600 + 15 * 60)},
    {"2026-11-20_extra", true, T0 - T(5 * 3600 + 15 * 60)},
    {"2024-02-29_00-00-00", true, T(1709164800)},
    {"2023-02-29_00-00-00", false, 0},
    {"2026-13-01", false, 0},
    {"2026-11-20_25-00-00", false, 0},
    {"2026-11-20_05-15", false, 0},
    {"2026-11-20_05-15-00123", false, 0},
    {"202611201", false, 0},
    {"backup", false, 0},
    {"v2-2026-11-20", false, 0}, /* a digit before the time */
    {"", false, 0},
    {"2026", false, 0},
    {"2026-11-2", false, 0},
};

struct meta_case {
	const char *json;
	int rc;
	const char *id, *host, *msg;
	int64_t ns;
};

static const struct meta_case metas[] = {
    {"{\"id\":\"a1\",\"timestamp\":\"2026-11-20T05:15:00Z\",\"host\":\"h\"}", 0,
     "a1", "h", NULL, T0},
    {"{\"backup_id\":\"b\",\"created_at\":\"2026-11-20T06:15:00+01:00\"}", 0,
     "b", NULL, NULL, T0},
    {"{\"backupId\":42,\"time\":1795151700}", 0, "42", NULL, NULL, T0},
    {"{\"date\":1795151700000}", 0, NULL, NULL, NULL, T0},
    {"{\"startedAt\":\"2026-11-20_05-15-00\",\"hostname\":\"x\"}", 0, NULL, "x",
     NULL, T0},
    {"{\"other\":[1,2,3]}", 0, NULL, NULL, NULL, 0},
    {"{\"time\":0}", 0, NULL, NULL, NULL, 1},
    {"[]", -EUCLEAN, NULL, NULL, "not a JSON object", 0},
    {"{\"id\":", -EUCLEAN, NULL, NULL, "not valid JSON", 0},
    {"", -EUCLEAN, NULL, NULL, "not valid JSON", 0},
    {"{\"id\":true}", -EUCLEAN, NULL, NULL, "\"id\" is a boolean", 0},
    {"{\"host\":{}}", -EUCLEAN, NULL, NULL, "\"host\" is an object", 0},
    {"{\"timestamp\":[1]}", -EUCLEAN, NULL, NULL, "\"timestamp\" is an array",
     0},
    {"{\"time\":\"yesterday\"}", -EUCLEAN, NULL, NULL, "\"time\": not a time",
     0},
    {"{\"time\":-5}", -EUCLEAN, NULL, NULL, "not a Unix time", 0},
    {"{\"time\":1e300}", -EUCLEAN, NULL, NULL, "not a Unix time", 0},
    {"{\"time\":99999999999}", -EUCLEAN, NULL, NULL, "past the year 2262", 0},
    {"{\"time\":17975151700000}", -EUCLEAN, NULL, NULL, "past the year 2262",
     0},
};

static char top[] = "/tmp/test-import-XXXXXX";

static void put(const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void mk(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	mkdir(p, 0755);
}

static const struct bfs_import_item *find(const struct bfs_import_plan *p,
					  const char *src)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (!strcmp(p->items[i].src, src))
			return &p->items[i];
	return NULL;
}

static void expect(const struct bfs_import_plan *p, const char *src,
		   enum bfs_import_op op, const char *dest)
{
	const struct bfs_import_item *it = find(p, src);

	ok(it && it->op == op && !strcmp(it->dest, dest), "%s -> %s %s", src,
	   bfs_import_op_name(op), dest);
}

static int plan(const char *rel, struct bfs_import_plan **p, char *msg)
{
	struct bfs_err err = {""};
	char d[512];
	int rc;

	snprintf(d, sizeof(d), "%s/%s", top, rel);
	rc = bfs_import_plan(d, p, &err);
	strcpy(msg, err.msg);
	return rc;
}

int main(void)
{
	struct bfs_import_plan *p = NULL;
	struct bfs_import_meta m;
	struct bfs_err err = {""};
	struct timeval tv[2] = {{1700000000, 0}, {1700000000, 0}};
	char msg[256], path[512], *big;
	int64_t ns;
	size_t i;
	int rc;

	for (i = 0; i < BFS_ARRAY_SIZE(names); i++) {
		const struct name_case *c = &names[i];
		bool r;

		ns = -1;
		r = bfs_import_time_from_name(c->name, &ns);
		if (!ok(r == c->ok && (!r || ns == c->ns), "name '%s': %s",
			c->name, c->ok ? "a time" : "no time"))
			diag("got %d, %lld", r, (long long)ns);
	}
	for (i = 0; i < BFS_ARRAY_SIZE(metas); i++) {
		const struct meta_case *c = &metas[i];

		err.msg[0] = '\0';
		rc = bfs_import_meta_parse(c->json, strlen(c->json), &m, &err);
		if (!ok(rc == c->rc, "meta %zu: %d", i, c->rc))
			diag("got %d: %s", rc, err.msg);
		if (c->rc) {
			if (!ok(strstr(err.msg, c->msg) != NULL,
				"meta %zu: says '%s'", i, c->msg))
				diag("got '%s'", err.msg);
			continue;
		}
		ok((!c->id && !m.id) || (c->id && m.id && !strcmp(c->id, m.id)),
		   "meta %zu: id", i);
		ok((!c->host && !m.host) ||
		       (c->host && m.host && !strcmp(c->host, m.host)),
		   "meta %zu: host", i);
		is_int(m.time_ns, c->ns, "meta %zu: time", i);
		bfs_import_meta_clear(&m);
	}
	big = malloc(BFS_IMPORT_META_MAX + 2);
	memset(big, ' ', BFS_IMPORT_META_MAX + 1);
	big[0] = '{';
	big[BFS_IMPORT_META_MAX] = '}';
	rc = bfs_import_meta_parse(big, BFS_IMPORT_META_MAX + 1, &m, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "more than"),
	   "a manifest over 1 MiB is refused: %s", err.msg);
	rc = bfs_import_meta_parse(big, BFS_IMPORT_META_MAX, &m, &err);
	ok(rc == -EUCLEAN, "1 MiB of '{' and blanks is no object");
	free(big);

	if (!mkdtemp(top))
		return ok(0, "mkdtemp") ? 1 : tap_done();
	/* the NocoDB container layout */
	mk("2026-11-20_05-15-00");
	mk("2026-11-20_05-15-00/bases");
	mk("2026-11-20_05-15-00/bases/B");
	mk("2026-11-20_05-15-00/bases/B/T");
	put("2026-11-20_05-15-00/database.sql.gz", "x");
	put("2026-11-20_05-15-00/nocodb-data.tar.gz", "x");
	put("2026-11-20_05-15-00/bases/B/T/records.json.gz", "x");
	put("2026-11-20_05-15-00/bases/B/T/schema.json", "x");
	put("2026-11-20_05-15-00/bases/B/meta.json.zst", "x");
	put("2026-11-20_05-15-00/notes.txt.gz", "x");
	put("2026-11-20_05-15-00/db2.sql.xz", "x");
	put("2026-11-20_05-15-00/old.tgz", "x");
	put("2026-11-20_05-15-00/.tar.gz", "x");
	put("2026-11-20_05-15-00/records.json.gz", "x");
	rc = plan("2026-11-20_05-15-00", &p, msg);
	is_int(rc, 0, "plan of a seed folder: %s", msg);
	if (!rc) {
		is_str(p->id, "2026-11-20_05-15-00", "id from the folder name");
		is_str(p->id_from, "folder name", "said so");
		is_int(p->time_ns, T0, "time from the folder name");
		expect(p, "database.sql.gz", BFS_IMP_DECOMPRESS,
		       "database.sql");
		expect(p, "db2.sql.xz", BFS_IMP_DECOMPRESS, "db2.sql");
		expect(p, "nocodb-data.tar.gz", BFS_IMP_UNPACK, "nocodb-data");
		expect(p, "old.tgz", BFS_IMP_UNPACK, "old");
		expect(p, ".tar.gz", BFS_IMP_COPY, ".tar.gz");
		expect(p, "notes.txt.gz", BFS_IMP_COPY, "notes.txt.gz");
		expect(p, "records.json.gz", BFS_IMP_COPY, "records.json.gz");
		expect(p, "bases/B/T/records.json.gz", BFS_IMP_RECORDS,
		       "bases/B/T/records.jsonl");
		expect(p, "bases/B/T/schema.json", BFS_IMP_COPY,
		       "bases/B/T/schema.json");
		expect(p, "bases/B/meta.json.zst", BFS_IMP_DECOMPRESS,
		       "bases/B/meta.json");
		expect(p, "bases/B", BFS_IMP_DIR, "bases/B");
		ok(find(p, "bases") < find(p, "bases/B") &&
		       find(p, "bases/B") < find(p, "bases/B/T/schema.json"),
		   "parents before children");
	}
	bfs_import_plan_free(p);
	p = NULL;

	/* manifest.json wins; a bad id in it falls back */
	put("2026-11-20_05-15-00/manifest.json",
	    "{\"id\":\"seed-1\",\"timestamp\":1700000000}");
	rc = plan("2026-11-20_05-15-00", &p, msg);
	ok(!rc && !strcmp(p->id, "seed-1") && p->time_ns == T(1700000000) &&
	       !strcmp(p->time_from, "manifest.json"),
	   "id and time from manifest.json");
	bfs_import_plan_free(p);
	p = NULL;
	put("2026-11-20_05-15-00/manifest.json",
	    "{\"id\":\"a/b\",\"timestamp\":1700000000}");
	rc = plan("2026-11-20_05-15-00", &p, msg);
	ok(!rc && !strcmp(p->id, "2026-11-20_05-15-00"),
	   "an invalid id falls back to the folder name");
	bfs_import_plan_free(p);
	p = NULL;
	put("2026-11-20_05-15-00/manifest.json", "{\"timestamp\":true}");
	rc = plan("2026-11-20_05-15-00", &p, msg);
	ok(rc == -EUCLEAN && strstr(msg, "manifest.json") &&
	       strstr(msg, "\"timestamp\" is a boolean"),
	   "a wrong type fails naming the file: %s", msg);
	bfs_import_plan_free(p);
	p = NULL;

	/* no time in the name: the mtime, and an id made from it */
	mk("plain");
	put("plain/a.txt", "x");
	snprintf(path, sizeof(path), "%s/plain", top);
	utimes(path, tv);
	rc = plan("plain", &p, msg);
	ok(!rc && p->time_ns == T(1700000000) &&
	       !strcmp(p->id, "2023-11-14_22-13-20") &&
	       !strcmp(p->id_from, "time") &&
	       !strcmp(p->time_from, "folder mtime"),
	   "time from the mtime, id from the time");
	bfs_import_plan_free(p);
	p = NULL;

	/* clashes */
	mk("clash1");
	put("clash1/db.sql", "x");
	put("clash1/db.sql.gz", "x");
	rc = plan("clash1", &p, msg);
	ok(rc == -EEXIST && strstr(msg, "would both be 'db.sql'"),
	   "two files on one path: %s", msg);
	mk("clash2");
	mk("clash2/data");
	put("clash2/data/x", "x");
	put("clash2/data.tar.gz", "x");
	rc = plan("clash2", &p, msg);
	ok(rc == -EEXIST && strstr(msg, "would both be 'data'"),
	   "an archive and a directory of its name: %s", msg);
	mk("clash3");
	mk("clash3/data");
	mk("clash3/data-1");
	put("clash3/data/x", "x");
	put("clash3/data.tar", "x");
	rc = plan("clash3", &p, msg);
	ok(rc == -EEXIST, "a file inside an unpacked archive's path: %s", msg);
	rc = plan("missing", &p, msg);
	ok(rc == -ENOENT && strstr(msg, "missing"), "a missing folder: %s",
	   msg);

	snprintf(path, sizeof(path), "rm -rf '%s'", top);
	if (system(path))
		diag("cannot remove %s", top);
	return tap_done();
}
