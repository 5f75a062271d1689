/* test-jobprofile.c - app profiles (`job new --profile`): every profile
 * renders, is refused while it holds placeholders (naming them), and
 * parses once they are filled; the placeholder scan; the dump options of
 * a job source and how `backupfs run` passes them on. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/job.h"
#include "src/jobprofile.h"
#include "src/run.h"
#include "src/util.h"
#include "tests/unit/tap.h"

/* text with every <NAME> replaced: *_DIR by /srv/name, *_URL by an
 * http URL, REPOSITORY by a path, the rest by a lower-case word.
 * malloc'ed. */
static char *fill(const char *text)
{
	struct bfs_buf b = {0};
	const char *p = text, *e;
	char v[128];
	size_t i, l;

	while ((p = strchr(text, '<')) && (e = strchr(p, '>'))) {
		bfs_buf_append(&b, text, (size_t)(p - text));
		l = (size_t)(e - p - 1);
		if (l > 5 && !strncmp(e - 4, "_DIR", 4)) {
			snprintf(v, sizeof(v), "/srv/%.*s", (int)l, p + 1);
		} else if (l > 5 && !strncmp(e - 4, "_URL", 4)) {
			snprintf(v, sizeof(v), "http://127.0.0.1:8080");
		} else if (!strncmp(p, "<REPOSITORY>", 12)) {
			snprintf(v, sizeof(v), "/srv/backups/app");
		} else {
			snprintf(v, sizeof(v), "%.*s", (int)l, p + 1);
		}
		for (i = 0; v[i]; i++)
			v[i] = (char)tolower((unsigned char)v[i]);
		bfs_buf_append(&b, v, strlen(v));
		text = e + 1;
	}
	bfs_buf_append(&b, text, strlen(text) + 1);
	return (char *)b.data;
}

static void one_profile(const char *name, int flags)
{
	struct bfs_err err = {""};
	struct bfs_job *j = NULL;
	char *text = NULL, *filled;
	int rc;

	rc = bfs_job_profile_render(name, "app-1", flags, &text, &err);
	is_int(rc, 0, "%s (flags %d): renders", name, flags);
	if (rc)
		return;
	ok(strstr(text, "\"name\": \"app-1\"") &&
	       strstr(text, "/etc/backupfs/app-1.env") &&
	       !strstr(text, "@NAME@"),
	   "%s: the job name is filled in", name);
	rc = bfs_job_parse(text, strlen(text), &j, &err);
	is_int(rc, -EINVAL, "%s: refused with its placeholders", name);
	ok(!strncmp(err.msg, "replace <REPOSITORY>", 20) &&
	       strstr(err.msg, "(first at repository)"),
	   "%s: the message names them: %s", name, err.msg);
	bfs_job_free(j);
	j = NULL;
	filled = fill(text);
	err.msg[0] = '\0';
	rc = bfs_job_parse(filled, strlen(filled), &j, &err);
	is_int(rc, 0, "%s: parses once they are filled", name);
	if (rc)
		diag("%s\n%s", err.msg, filled);
	if (!rc) {
		is_str(j->name, "app-1", "%s: name", name);
		ok(j->nsources >= 1 && j->schedule && j->retention.set,
		   "%s: sources, schedule, retention", name);
	}
	bfs_job_free(j);
	free(filled);
	free(text);
}

static void test_profiles(void)
{
	const struct bfs_job_profile *p;
	struct bfs_err err = {""};
	char *text = (char *)"x";
	size_t n, i;

	p = bfs_job_profiles(&n);
	is_int(n, 5, "five profiles");
	for (i = 0; i < n; i++) {
		ok(bfs_job_profile_find(p[i].name) == &p[i], "find %s",
		   p[i].name);
		one_profile(p[i].name, 0);
	}
	one_profile("dolt", BFS_PROFILE_DOLT_SYNC);
	is_int(bfs_job_profile_render("wordpress", "x", 0, &text, &err),
	       -ENOENT, "an unknown profile");
	ok(text == NULL, "  *out is NULL");
	is_str(err.msg,
	       "unknown profile 'wordpress' (nocodb, seatable, mattermost, "
	       "pydio-cells, dolt)",
	       "  the message lists the profiles");
	is_int(bfs_job_profile_render("nocodb", "../x", 0, &text, &err),
	       -EINVAL, "an invalid job name");
}

/* The seatable profile holds the guide's list of log tables, passed on
 * to `backupfs backup` after the dtable_db dump. */
static void test_seatable(void)
{
	struct bfs_err err = {""};
	struct bfs_strv a = {0};
	struct bfs_job *j = NULL;
	const struct bfs_source *s;
	char *text = NULL, *filled = NULL, *joined = NULL;
	struct bfs_buf b = {0};
	size_t i;

	if (bfs_job_profile_render("seatable", "st", 0, &text, &err) ||
	    !(filled = fill(text)) ||
	    bfs_job_parse(filled, strlen(filled), &j, &err)) {
		ok(0, "seatable parses: %s", err.msg);
		goto out;
	}
	is_int(j->nsources, 5, "seatable: 3 dumps, the data dir, .env");
	s = &j->sources[2].src;
	is_int(s->kind, BFS_SRC_MYSQL_DUMP, "source 2 is a mysql dump");
	for (i = 0; s->ignore_table_data && s->ignore_table_data[i]; i++)
		;
	is_int(i, 6, "dtable_db: six log tables, schema only");
	is_str(s->ignore_table_data[4], "dtable_db.operation_log",
	       "  operation_log among them");
	is_int(s->dump_timeout, 7200, "dump_timeout 2h");
	is_str(j->sources[4].dest, "compose/.env", ".env lands at compose/");
	ok(bfs_run_backup_argv(j, "/bin/bfs", &a) == 0, "backup argv");
	for (i = 0; i < a.n; i++)
		bfs_buf_printf(&b, "%s%s", i ? " " : "", a.v[i]);
	bfs_buf_append(&b, "", 1);
	joined = (char *)b.data;
	ok(joined && strstr(joined, "dtable_db --ignore-table-data "
				    "dtable_db.activities --ignore-table-data "
				    "dtable_db.delete_operation_log"),
	   "run passes ignore_table_data after its dump");
	ok(joined && strstr(joined, "--ignore-table-data "
				    "dtable_db.session_log --dump-timeout "
				    "7200s --files"),
	   "and the timeout, before the next source: %s", joined);
out:
	bfs_strv_free(&a);
	bfs_job_free(j);
	free(joined);
	free(filled);
	free(text);
}

static int parse_err(const char *text, char *msg, size_t n)
{
	struct bfs_err err = {""};
	struct bfs_job *j = NULL;
	int rc = bfs_job_parse(text, strlen(text), &j, &err);

	snprintf(msg, n, "%s", err.msg);
	bfs_job_free(j);
	return rc;
}

#define JOB(src, extra)                                                        \
	"{\"name\": \"a\", \"repository\": \"/r\", \"sources\": [" src         \
	"]" extra "}"

static void test_placeholders(void)
{
	char m[512];

	is_int(parse_err(JOB("{\"files\": \"/x\"}",
			     ", \"hooks\": {\"pre\": [\"stop <SVC> <B_2> "
			     "<SVC>\"]}"),
			 m, sizeof(m)),
	       -EINVAL, "a placeholder in a hook");
	is_str(m,
	       "replace <SVC>, <B_2> in this file (first at hooks.pre[0]): "
	       "placeholders left by `backupfs job new --profile`",
	       "  each named once, with where the first is");
	is_int(parse_err(JOB("{\"files\": \"/x\"}",
			     ", \"hooks\": {\"pre\": [\"cat <in >out; a<b> "
			     "<1A>\"]}"),
			 m, sizeof(m)),
	       0, "lower case, digits first, unclosed: not placeholders");
}

static void test_dump_keys(void)
{
	char m[512];

	is_int(parse_err(JOB("{\"pg_dump\": \"db\", \"ignore_table_data\": "
			     "[\"db.public.t\"], \"dump_opts\": "
			     "[\"--no-owner\"], \"dump_timeout\": \"30m\", "
			     "\"pg_dumpall_globals\": true}",
			     ""),
			 m, sizeof(m)),
	       0, "pg_dump with every dump option");
	is_int(parse_err(JOB("{\"pg_dump\": \"db\", \"dump_opts\": "
			     "[\"--no-owner\", \"--jobs=4\"]}",
			     ""),
			 m, sizeof(m)),
	       -EINVAL, "dump_opts: a refused option");
	is_str(m,
	       "sources[0].dump_opts[1]: --pg-dump-opt '--jobs' is refused: "
	       "parallel dumps need the directory format",
	       "  the message names the entry and the option");
	is_int(parse_err(JOB("{\"mysql_dump\": \"db\", "
			     "\"pg_dumpall_globals\": true}",
			     ""),
			 m, sizeof(m)),
	       -EINVAL, "pg_dumpall_globals on a mysql_dump");
	is_str(m,
	       "sources[0].pg_dumpall_globals: not an option of a mysql_dump "
	       "source (only pg_dump takes it)",
	       "  refused");
	is_int(
	    parse_err(JOB("{\"files\": \"/x\", \"dump_timeout\": \"1m\"}", ""),
		      m, sizeof(m)),
	    -EINVAL, "dump_timeout on files");
	is_int(parse_err(JOB("{\"mysql_dump\": \"db\", \"ignore_table_data\": "
			     "[\"t\"]}",
			     ""),
			 m, sizeof(m)),
	       -EINVAL, "ignore_table_data without DB.");
	is_str(m, "sources[0].ignore_table_data[0]: expected DB.TABLE",
	       "  refused");
	is_int(parse_err(
		   JOB("{\"pg_dump\": \"db\", \"dump_timeout\": \"0s\"}", ""),
		   m, sizeof(m)),
	       -EINVAL, "dump_timeout 0s");
}

int main(void)
{
	test_profiles();
	test_seatable();
	test_placeholders();
	test_dump_keys();
	return tap_done();
}
