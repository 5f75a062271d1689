/* test-job.c - job files: the full example, one test per error
 * class with its exact message, secrets never echoed, env_file loading
 * with real files (mode and owner checks; the tests run as root and chown
 * to nobody). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "src/job.h"
#include "src/schedule.h"
#include "src/util.h"
#include "tests/unit/tap.h"

/* The example of issue 10, verbatim. */
static const char example[] =
    "{\n"
    "  \"name\": \"nocodb\",\n"
    "  \"repository\": \"/srv/backups/nocodb\",\n"
    "  \"env_file\": \"/etc/backupfs/nocodb.env\",\n"
    "  \"tags\": [\"daily\"],\n"
    "  \"sources\": [\n"
    "    {\"pg_dump\": \"database=postgresql://nocodb@db:5432/nocodb\"},\n"
    "    {\"mysql_dump\": \"dtable_db=mysql://seatable@db/dtable_db\", "
    "\"ignore_table\": [\"dtable_db.operation_log\"]},\n"
    "    {\"files\": \"nocodb-data=/srv/nocodb/data\", \"exclude\": "
    "[\"cache\", \"*.tmp\"]},\n"
    "    {\"command\": \"globals.sql=pg_dumpall --globals-only\"},\n"
    "    {\"archive\": \"old=/srv/export.tar.gz\"}\n"
    "  ],\n"
    "  \"hooks\": {\"pre\": [\"systemctl stop nocodb\"], \"post\": "
    "[\"systemctl start nocodb\"],\n"
    "            \"on_failure\": [], \"on_success\": [], \"timeout\": "
    "\"10m\"},\n"
    "  \"retention\": {\"keep_last\": 3, \"keep_daily\": 7, \"keep_weekly\": "
    "4, \"keep_monthly\": 6, \"prune\": \"weekly\"},\n"
    "  \"copy_to\": [\"s3://acme-backups/nocodb\"],\n"
    "  \"verify\": {\"read_data_subset\": \"5%\"},\n"
    "  \"schedule\": \"15 5 * * *\",\n"
    "  \"notify\": [\n"
    "    {\"type\": \"webhook\", \"url\": "
    "\"https://hooks.example.net/backup\", \"level\": \"all\"},\n"
    "    {\"type\": \"teams\", \"url\": "
    "\"https://example.webhook.office.com/...\", \"level\": \"errors\"},\n"
    "    {\"type\": \"slack\", \"url\": "
    "\"https://chat.example.net/hooks/...\", \"level\": \"warnings\"},\n"
    "    {\"type\": \"email\", \"to\": [\"ops@example.net\"], \"from\": "
    "\"backupfs@example.net\",\n"
    "     \"smtp\": \"smtp://mail.example.net:587\", \"level\": \"errors\"},\n"
    "    {\"type\": \"ping\", \"url\": \"https://hc.example.net/ping/UUID\", "
    "\"level\": \"all\"}\n"
    "  ]\n"
    "}\n";

static void test_example(void)
{
	struct bfs_err err = {""};
	struct bfs_job *j = NULL;
	const struct bfs_job_source *s;
	int rc;

	rc = bfs_job_parse(example, strlen(example), &j, &err);
	is_int(rc, 0, "the issue's example parses");
	if (rc) {
		diag("%s", err.msg);
		return;
	}
	is_str(j->name, "nocodb", "name");
	is_str(j->repository, "/srv/backups/nocodb", "repository");
	is_str(j->env_file, "/etc/backupfs/nocodb.env", "env_file");
	ok(j->ntags == 1 && strcmp(j->tags[0], "daily") == 0 && !j->tags[1],
	   "tags");
	is_int(j->nsources, 5, "5 sources");
	s = j->sources;
	ok(s[0].src.kind == BFS_SRC_PG_DUMP &&
	       strcmp(s[0].kind_name, "pg_dump") == 0 &&
	       strcmp(s[0].src.arg,
		      "database=postgresql://nocodb@db:5432/nocodb") == 0,
	   "sources[0] is pg_dump with its string");
	is_str(s[0].dest, "database.sql", "pg_dump lands on database.sql");
	ok(s[1].src.kind == BFS_SRC_MYSQL_DUMP &&
	       strcmp(s[1].src.ignore_tables[0], "dtable_db.operation_log") ==
		   0 &&
	       !s[1].src.ignore_tables[1] && !s[1].src.excludes[0],
	   "sources[1] mysql_dump with ignore_table");
	is_str(s[1].dest, "dtable_db.sql", "mysql_dump dest");
	ok(s[2].src.kind == BFS_SRC_FILES &&
	       strcmp(s[2].src.excludes[0], "cache") == 0 &&
	       strcmp(s[2].src.excludes[1], "*.tmp") == 0 &&
	       !s[2].src.excludes[2],
	   "sources[2] files with exclude");
	is_str(s[2].dest, "nocodb-data", "files dest");
	ok(s[3].src.kind == BFS_SRC_COMMAND, "sources[3] command");
	is_str(s[3].dest, "globals.sql", "command dest");
	ok(s[4].src.kind == BFS_SRC_ARCHIVE, "sources[4] archive");
	is_str(s[4].dest, "old", "archive dest");
	ok(j->hooks.npre == 1 &&
	       strcmp(j->hooks.pre[0], "systemctl stop nocodb") == 0 &&
	       j->hooks.npost == 1 && j->hooks.non_failure == 0 &&
	       j->hooks.on_failure && !j->hooks.on_failure[0] &&
	       j->hooks.non_success == 0,
	   "hooks");
	is_int(j->hooks.timeout, 600, "hooks.timeout 10m");
	ok(j->retention.set && j->retention.keep_last == 3 &&
	       j->retention.keep_daily == 7 && j->retention.keep_weekly == 4 &&
	       j->retention.keep_monthly == 6 &&
	       j->retention.keep_hourly == 0 && j->retention.keep_yearly == 0 &&
	       !j->retention.keep_within && j->retention.nkeep_tag == 0,
	   "retention counts");
	is_int(j->retention.prune, BFS_JOB_PRUNE_WEEKLY, "prune weekly");
	ok(j->ncopy_to == 1 &&
	       strcmp(j->copy_to[0], "s3://acme-backups/nocodb") == 0,
	   "copy_to");
	ok(!j->delete_local_after_copy, "delete_local_after_copy default");
	is_int(j->verify, BFS_JOB_VERIFY_SUBSET, "verify subset");
	is_str(j->verify_subset, "5%", "verify 5%%");
	ok(j->schedule &&
	       strcmp(bfs_schedule_text(j->schedule), "15 5 * * *") == 0,
	   "schedule parsed");
	ok(j->catch_up, "catch_up defaults to true");
	is_int(j->nnotify, 5, "5 channels");
	if (j->nnotify == 5) {
		const struct bfs_job_notify *n = j->notify;

		ok(n[0].type == BFS_JOB_NOTIFY_WEBHOOK &&
		       n[0].level == BFS_JOB_LEVEL_ALL &&
		       strcmp(n[0].url, "https://hooks.example.net/backup") ==
			   0,
		   "webhook");
		ok(n[1].type == BFS_JOB_NOTIFY_TEAMS &&
		       n[1].level == BFS_JOB_LEVEL_ERRORS && !n[1].format,
		   "teams");
		ok(n[2].type == BFS_JOB_NOTIFY_SLACK &&
		       n[2].level == BFS_JOB_LEVEL_WARNINGS,
		   "slack");
		ok(n[3].type == BFS_JOB_NOTIFY_EMAIL && n[3].nto == 1 &&
		       strcmp(n[3].to[0], "ops@example.net") == 0 &&
		       strcmp(n[3].from, "backupfs@example.net") == 0 &&
		       strcmp(n[3].smtp, "smtp://mail.example.net:587") == 0 &&
		       !n[3].url,
		   "email");
		ok(n[4].type == BFS_JOB_NOTIFY_PING &&
		       strcmp(n[4].type_name, "ping") == 0,
		   "ping");
		ok(n[3].raw && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
				   n[3].raw, "smtp")),
		   "raw channel object kept");
	}
	bfs_job_free(j);
	bfs_job_free(NULL);
}

/* A minimal valid job with `extra` spliced in after the sources. */
static char *doc(const char *sources, const char *extra)
{
	struct bfs_buf b = {0};

	bfs_buf_printf(&b,
		       "{\"name\": \"app\", \"repository\": \"/srv/b\", "
		       "\"sources\": %s%s%s}",
		       sources ? sources : "[{\"files\": \"/srv/app\"}]",
		       extra && *extra ? ", " : "", extra ? extra : "");
	bfs_buf_append(&b, "", 1);
	return (char *)b.data;
}

/* Parse text and expect -EINVAL (or code) with exactly msg. */
static void bad_text(const char *text, int code, const char *msg)
{
	struct bfs_err err = {""};
	struct bfs_job *j = (struct bfs_job *)1;
	int rc = bfs_job_parse(text, strlen(text), &j, &err);

	is_int(rc, code, "refused: %s", msg);
	ok(j == NULL, "no job on error");
	is_str(err.msg, msg, "message");
}

static void bad(const char *sources, const char *extra, const char *msg)
{
	char *t = doc(sources, extra);

	bad_text(t, -EINVAL, msg);
	free(t);
}

/* Same, and the message must not contain secret. */
static void bad_secret(const char *sources, const char *extra, const char *msg,
		       const char *secret)
{
	char *t = doc(sources, extra);
	struct bfs_err err = {""};
	struct bfs_job *j = NULL;

	is_int(bfs_job_parse(t, strlen(t), &j, &err), -EINVAL, "refused: %s",
	       msg);
	is_str(err.msg, msg, "message");
	ok(!strstr(err.msg, secret), "the secret is not in the message");
	bfs_job_free(j);
	free(t);
}

static struct bfs_job *good(const char *sources, const char *extra)
{
	struct bfs_err err = {""};
	struct bfs_job *j = NULL;
	char *t = doc(sources, extra);

	if (bfs_job_parse(t, strlen(t), &j, &err) != 0)
		diag("unexpected error: %s", err.msg);
	free(t);
	return j;
}

static void test_syntax(void)
{
	/* cJSON reports where it gave up: just past the '}' here */
	bad_text("{\"name\": \"x\",}", -EINVAL,
		 "line 1, column 15: invalid JSON");
	bad_text("{\n  \"name\": \"x\"\n  \"repository\": 1}", -EINVAL,
		 "line 3, column 3: invalid JSON");
	bad_text("[]", -EINVAL, "expected a JSON object at the top");
	bad_text("{\"name\": \"\xff\"}", -EINVAL,
		 "not valid UTF-8 text (or contains a NUL byte)");
	bad_text("{} {}", -EINVAL, "line 1, column 4: invalid JSON");
}

static void test_keys(void)
{
	bad(NULL, "\"schedul\": \"@daily\"",
	    "schedul: unknown key (did you mean schedule?)");
	bad(NULL, "\"retention\": {\"keep_dayly\": 7}",
	    "retention.keep_dayly: unknown key (did you mean keep_daily?)");
	bad(NULL, "\"hooks\": {\"pre\": [], \"tiemout\": \"1m\"}",
	    "hooks.tiemout: unknown key (did you mean timeout?)");
	bad(NULL, "\"frobnicate\": true", "frobnicate: unknown key");
	bad(NULL, "\"name\": \"other\"", "name: duplicate key");
	bad(NULL, "\"retention\": {\"keep_last\": 1, \"keep_last\": 2}",
	    "retention.keep_last: duplicate key");
	bad("[{\"files\": \"/a\", \"exclude\": [], \"exclude\": []}]", NULL,
	    "sources[0].exclude: duplicate key");
	bad("[{\"file\": \"/a\"}]", NULL,
	    "sources[0].file: unknown key (did you mean files?)");
	bad_text("{\"repository\": \"/r\", \"sources\": []}", -EINVAL,
		 "name: missing");
	bad_text("{\"name\": \"a\", \"sources\": []}", -EINVAL,
		 "repository: missing");
}

static void test_types(void)
{
	bad("[{\"files\": \"/a\"}, {\"files\": \"b=/b\"}, {\"files\": "
	    "\"c=/c\", \"exclude\": [7]}]",
	    NULL, "sources[2].exclude[0]: expected a string");
	bad(NULL, "\"tags\": \"daily\"", "tags: expected an array of strings");
	bad(NULL, "\"tags\": [\"\"]", "tags[0]: must not be empty");
	bad(NULL, "\"hooks\": [\"a\"]", "hooks: expected an object");
	bad(NULL, "\"hooks\": {\"timeout\": \"10x\"}",
	    "hooks.timeout: \"10x\": unknown unit (use s, m, h, d)");
	bad(NULL, "\"hooks\": {\"timeout\": 600}",
	    "hooks.timeout: expected a string");
	bad(NULL, "\"hooks\": {\"timeout\": \"0s\"}",
	    "hooks.timeout: must be at least 1s");
	bad(NULL, "\"retention\": {\"keep_daily\": 1.5}",
	    "retention.keep_daily: expected an integer");
	bad(NULL, "\"retention\": {\"keep_daily\": -1}",
	    "retention.keep_daily: must be >= 0");
	bad(NULL, "\"retention\": {\"keep_daily\": 1e12}",
	    "retention.keep_daily: must be at most 1000000");
	bad(NULL, "\"retention\": {\"keep_daily\": \"7\"}",
	    "retention.keep_daily: expected an integer");
	bad(NULL, "\"catch_up\": \"yes\"", "catch_up: expected true or false");
	bad_text("{\"name\": \"a/b\"}", -EINVAL,
		 "name: expected 1-64 of A-Z a-z 0-9 . _ - (not starting with "
		 ". or -)");
	bad_text("{\"name\": \"-x\"}", -EINVAL,
		 "name: expected 1-64 of A-Z a-z 0-9 . _ - (not starting with "
		 ". or -)");
	bad_text("{\"name\": "
		 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaa\"}",
		 -EINVAL,
		 "name: expected 1-64 of A-Z a-z 0-9 . _ - (not starting with "
		 ". or -)");
	bad_text("{\"name\": 5}", -EINVAL, "name: expected a string");
	bad_text("{\"name\": \"a\", \"repository\": \"/r\\u0007\"}", -EINVAL,
		 "repository: contains a control character");
	bad(NULL, "\"env_file\": \"relative.env\"",
	    "env_file: expected an absolute path");
}

static void test_sources(void)
{
	bad("{}", NULL, "sources: expected an array of objects");
	bad("[]", NULL, "sources: empty (at least one source)");
	bad_text("{\"name\": \"a\", \"repository\": \"/r\"}", -EINVAL,
		 "sources: missing (at least one source)");
	bad("[\"files=/a\"]", NULL, "sources[0]: expected an object");
	bad("[{\"nocodb\": \"x\"}]", NULL,
	    "sources[0].nocodb: expected [DEST=]http(s)://HOST:PORT");
	bad("[{\"files\": \"/a\", \"nocodb_base\": [\"B\"]}]", NULL,
	    "sources[0].nocodb_base: not an option of a files source (only "
	    "nocodb takes it)");
	bad("[{\"nocodb\": \"http://n:8080\", \"nocodb_records\": 1}]", NULL,
	    "sources[0].nocodb_records: expected true or false");
	bad("[{\"exclude\": [\"x\"]}]", NULL,
	    "sources[0]: no source kind: give one of pg_dump, mysql_dump, "
	    "files, command, archive, stdin, nocodb");
	{
		struct bfs_job *j = good(
		    "[{\"nocodb\": \"http://nocodb:8080\", \"nocodb_base\": "
		    "[\"Sales\", \"CRM\"], \"nocodb_attachments\": false}, "
		    "{\"nocodb\": \"b2=https://other\"}]",
		    NULL);
		const struct bfs_job_source *s = j ? j->sources : NULL;

		ok(s && s[0].src.kind == BFS_SRC_NOCODB &&
		       s[0].src.nocodb == &s[0].nocodb && !s[0].nocodb.token &&
		       s[0].nocodb.records && !s[0].nocodb.attachments &&
		       !strcmp(s[0].nocodb.bases[1], "CRM") &&
		       !s[0].nocodb.bases[2],
		   "a nocodb source with its options");
		ok(s && !strcmp(s[0].dest, "bases") &&
		       !strcmp(s[1].dest, "b2") && s[1].nocodb.attachments,
		   "nocodb lands at bases (or DEST)");
		bfs_job_free(j);
	}
	bad("[{\"files\": \"/a\", \"archive\": \"/b.tar\"}]", NULL,
	    "sources[0]: both files and archive: give one source kind per "
	    "object");
	bad("[{\"pg_dump\": \"app\", \"exclude\": [\"x\"]}]", NULL,
	    "sources[0].exclude: not an option of a pg_dump source (only files "
	    "and archive take it)");
	bad("[{\"files\": \"/a\", \"ignore_table\": [\"x.y\"]}]", NULL,
	    "sources[0].ignore_table: not an option of a files source (only "
	    "mysql_dump takes it)");
	bad("[{\"mysql_dump\": \"app\", \"ignore_table\": [\"a.b\", "
	    "\"sessions\"]}]",
	    NULL, "sources[0].ignore_table[1]: expected DB.TABLE");
	bad("[{\"files\": \"/a\"}, {\"files\": \"/b\"}]", NULL,
	    "sources[1]: lands on 'files' like sources[0]: give one of them a "
	    "NAME= or DEST=");
	bad("[{\"stdin\": \"a.sql\"}, {\"stdin\": \"b.sql\"}]", NULL,
	    "sources[1]: only one stdin source per job");
	bad("[{\"command\": \"pg_dumpall\"}]", NULL,
	    "sources[0].command: expected PATH=COMMAND (PATH: where its output "
	    "lands)");
	bad("[{\"files\": \"\"}]", NULL, "sources[0].files: must not be empty");
	bad("[{\"pg_dump\": 5}]", NULL,
	    "sources[0].pg_dump: expected a string");
}

static void test_secrets(void)
{
	bad_secret(
	    "[{\"pg_dump\": \"postgresql://u:s3cr3tpw@h/db\"}]", NULL,
	    "sources[0].pg_dump: contains a password: a job file must not hold "
	    "secrets; put PGPASSWORD in the env_file or use a .pgpass file",
	    "s3cr3tpw");
	bad_secret(
	    "[{\"pg_dump\": \"host=db password=hunter22 dbname=x\"}]", NULL,
	    "sources[0].pg_dump: contains a password: a job file must not hold "
	    "secrets; put PGPASSWORD in the env_file or use a .pgpass file",
	    "hunter22");
	/* libpq's reading: '?' is the password's own (issue 13) */
	bad_secret(
	    "[{\"pg_dump\": \"postgresql://u:pa?s3cr3tq@h/db\"}]", NULL,
	    "sources[0].pg_dump: contains a password: a job file must not hold "
	    "secrets; put PGPASSWORD in the env_file or use a .pgpass file",
	    "s3cr3tq");
	bad_secret(
	    "[{\"mysql_dump\": \"x=mysql://root:t0psecret@db/app\"}]", NULL,
	    "sources[0].mysql_dump: contains a password: a job file must not "
	    "hold secrets; put MYSQL_PWD in the env_file or use an option file",
	    "t0psecret");
	bad_secret("[{\"command\": \"a.sql=PGPASSWORD=zzsecret pg_dumpall\"}]",
		   NULL,
		   "sources[0].command: contains a password: a job file must "
		   "not hold secrets; put them in the env_file",
		   "zzsecret");
	bad_secret(
	    NULL,
	    "\"hooks\": {\"pre\": [\"mysql --password=qqsecret -e 'FLUSH'\"]}",
	    "hooks.pre[0]: contains a password: a job file must not hold "
	    "secrets; put them in the env_file",
	    "qqsecret");
	bad_secret(
	    NULL, "\"copy_to\": [\"s3://AKIAX:wJalrXsecret@s3.example.net/b\"]",
	    "copy_to[0]: contains a password: a job file must not hold "
	    "secrets; put them in the env_file",
	    "wJalrXsecret");
	bad_secret(
	    NULL,
	    "\"notify\": [{\"type\": \"email\", \"to\": [\"a@b.c\"], \"from\": "
	    "\"x@b.c\", \"smtp\": \"smtp://user:mailsecret@mail.b.c\"}]",
	    "notify[0].smtp: contains a password: a job file must not hold "
	    "secrets; put credentials in the env_file",
	    "mailsecret");
	bad_secret(NULL,
		   "\"notify\": [{\"type\": \"webhook\", \"url\": "
		   "\"ftp://hooks.example.net/tokenXYZ\"}]",
		   "notify[0].url: expected an http:// or https:// URL",
		   "tokenXYZ");
	ok(bfs_job_has_password("postgresql://u:p@h/db"), "uri password");
	ok(!bfs_job_has_password("postgresql://u@h:5432/db"),
	   "port is not a password");
	ok(!bfs_job_has_password("database=postgresql://nocodb@db:5432/nocodb"),
	   "the example's pg_dump is clean");
	ok(bfs_job_has_password("dbname=x PASSWORD = y"), "password = y");
	ok(bfs_job_has_password("MYSQL_PWD=x mysqldump"), "MYSQL_PWD=");
	ok(!bfs_job_has_password("/srv/passwords/file"),
	   "a path with 'password'");
	ok(!bfs_job_has_password("https://h/x?a=b@c:d"), "'@' after the path");
}

static void test_sections(void)
{
	struct bfs_job *j;

	bad(NULL, "\"retention\": {\"prune\": \"weekly\"}",
	    "retention: no keep_* rule: this would forget every backup (give "
	    "keep_last, keep_daily, ...)");
	bad(NULL, "\"retention\": {\"keep_last\": 0}",
	    "retention: no keep_* rule: this would forget every backup (give "
	    "keep_last, keep_daily, ...)");
	bad(NULL,
	    "\"retention\": {\"keep_last\": 1, \"prune\": \"fortnightly\"}",
	    "retention.prune: \"fortnightly\": expected always, never, daily, "
	    "weekly, monthly or a schedule (expected 5 fields (minute hour "
	    "day-of-month month day-of-week) or \"every DURATION\", got 1)");
	bad(NULL, "\"retention\": {\"keep_within\": \"30x\"}",
	    "retention.keep_within: \"30x\": expected a duration like 1y6m, "
	    "30d or 12h (units y, m = months, d, h)");
	bad(NULL, "\"retention\": {\"keep_tag\": [1]}",
	    "retention.keep_tag[0]: expected a string");
	j = good(NULL, "\"retention\": {\"keep_within\": \"1y6m\", "
		       "\"keep_tag\": [\"keep\"], \"prune\": \"0 3 * * 0\"}");
	ok(j && j->retention.prune == BFS_JOB_PRUNE_SCHEDULE &&
	       j->retention.prune_schedule &&
	       strcmp(j->retention.keep_within, "1y6m") == 0 &&
	       j->retention.nkeep_tag == 1,
	   "retention with keep_within, keep_tag, a prune schedule");
	bfs_job_free(j);
	j = good(NULL, NULL);
	ok(j && !j->retention.set &&
	       j->retention.prune == BFS_JOB_PRUNE_ALWAYS && !j->schedule &&
	       j->catch_up && j->nnotify == 0 &&
	       j->hooks.timeout == BFS_JOB_HOOK_TIMEOUT_DEFAULT &&
	       j->ncopy_to == 0 && j->verify == BFS_JOB_VERIFY_NONE &&
	       j->hooks.pre && !j->hooks.pre[0],
	   "defaults of a minimal job");
	bfs_job_free(j);

	bad(NULL, "\"schedule\": \"15 25 * * *\"",
	    "schedule: hour: \"25\": 25 is out of range (0-23)");
	bad(NULL, "\"schedule\": \"every 6\"",
	    "schedule: every: \"6\": missing unit (use s, m, h, d)");
	j = good(NULL, "\"schedule\": \"every 2s\", \"catch_up\": false");
	ok(j && bfs_schedule_interval(j->schedule) == 2 && !j->catch_up,
	   "every 2s, catch_up false");
	bfs_job_free(j);

	bad(NULL,
	    "\"verify\": {\"read_data_subset\": \"5%\", \"read_data\": true}",
	    "verify: give read_data_subset or read_data, not both");
	bad(NULL, "\"verify\": {}",
	    "verify: empty (give read_data_subset or read_data)");
	bad(NULL, "\"verify\": {\"read_data_subset\": \"150%\"}",
	    "verify.read_data_subset: \"150%\": expected a percentage (5%), a "
	    "fraction (1/10) or a size (500M)");
	bad(NULL, "\"verify\": {\"read_data_subset\": \"3/2\"}",
	    "verify.read_data_subset: \"3/2\": expected a percentage (5%), a "
	    "fraction (1/10) or a size (500M)");
	j = good(NULL, "\"verify\": {\"read_data_subset\": \"1/10\"}");
	ok(j && j->verify == BFS_JOB_VERIFY_SUBSET, "subset 1/10");
	bfs_job_free(j);
	j = good(NULL, "\"verify\": {\"read_data_subset\": \"500M\"}");
	ok(j && j->verify == BFS_JOB_VERIFY_SUBSET, "subset 500M");
	bfs_job_free(j);
	j = good(NULL, "\"verify\": {\"read_data\": true}");
	ok(j && j->verify == BFS_JOB_VERIFY_ALL, "read_data");
	bfs_job_free(j);

	bad(NULL, "\"delete_local_after_copy\": true",
	    "delete_local_after_copy: needs copy_to (nothing would keep the "
	    "backups)");
	bad(NULL, "\"copy_to\": [\"/srv/b\"]",
	    "copy_to[0]: same as repository");
	j = good(
	    NULL,
	    "\"copy_to\": [\"s3://x/y\"], \"delete_local_after_copy\": true");
	ok(j && j->delete_local_after_copy,
	   "delete_local_after_copy with copy_to");
	bfs_job_free(j);
}

static void test_notify(void)
{
	struct bfs_job *j;

	bad(NULL, "\"notify\": {}", "notify: expected an array of objects");
	bad(NULL, "\"notify\": [{\"url\": \"https://h/x\"}]",
	    "notify[0].type: missing (webhook, teams, slack, email or ping)");
	bad(NULL, "\"notify\": [{\"type\": \"sms\"}]",
	    "notify[0].type: \"sms\": unknown channel type (use webhook, "
	    "teams, slack, email or ping)");
	bad(NULL,
	    "\"notify\": [{\"type\": \"slack\", \"url\": \"https://h/x\", "
	    "\"level\": \"debug\"}]",
	    "notify[0].level: \"debug\": expected errors, warnings or all");
	bad(NULL, "\"notify\": [{\"type\": \"slack\"}]",
	    "notify[0].url: missing");
	bad(NULL,
	    "\"notify\": [{\"type\": \"webhook\", \"url\": \"https://h/x\", "
	    "\"to\": [\"a@b\"]}]",
	    "notify[0].to: not an option of a webhook channel");
	bad(NULL,
	    "\"notify\": [{\"type\": \"webhook\", \"url\": \"https://h/x\", "
	    "\"lvl\": \"all\"}]",
	    "notify[0].lvl: unknown key (did you mean level?)");
	bad(NULL, "\"notify\": [{\"type\": \"ping\", \"url\": \"https:///x\"}]",
	    "notify[0].url: the URL has no host");
	bad(NULL,
	    "\"notify\": [{\"type\": \"email\", \"to\": [\"ops@example.net\", "
	    "\"not-an-address\"], \"from\": \"a@b\", \"smtp\": \"smtp://m\"}]",
	    "notify[0].to[1]: expected an address like ops@example.net");
	bad(NULL,
	    "\"notify\": [{\"type\": \"email\", \"to\": [], \"from\": \"a@b\", "
	    "\"smtp\": \"smtp://m\"}]",
	    "notify[0].to: empty (at least one address)");
	bad(NULL,
	    "\"notify\": [{\"type\": \"email\", \"to\": [\"a@b\"], \"from\": "
	    "\"a@b\\r\\nBcc: x@y\", \"smtp\": \"smtp://m\"}]",
	    "notify[0].from: contains a control character");
	bad(NULL,
	    "\"notify\": [{\"type\": \"email\", \"to\": [\"a@b\"], \"from\": "
	    "\"a@b\", \"smtp\": \"http://m\"}]",
	    "notify[0].smtp: expected an smtp:// or smtps:// URL");
	bad(NULL,
	    "\"notify\": [{\"type\": \"email\", \"to\": [\"a@b\"], \"from\": "
	    "\"a@b\"}]",
	    "notify[0].smtp: missing (smtp://HOST:587 or smtps://HOST:465)");
	bad(NULL,
	    "\"notify\": [{\"type\": \"email\", \"to\": [\"a@b\"], \"from\": "
	    "\"a@b\", \"smtp\": \"smtps://m\", \"password_env\": \"1X\"}]",
	    "notify[0].password_env: expected an environment variable name "
	    "(A-Z, 0-9, _)");
	bad(NULL,
	    "\"notify\": [{\"type\": \"teams\", \"url\": \"https://h/x\", "
	    "\"format\": \"html\"}]",
	    "notify[0].format: \"html\": expected auto, messagecard or "
	    "adaptive");
	j = good(
	    NULL,
	    "\"notify\": [{\"type\": \"ping\", \"url\": \"https://hc/p/1\"}, "
	    "{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:8080/x\"}, "
	    "{\"type\": \"email\", \"to\": [\"a@b\"], \"from\": \"c@d\", "
	    "\"smtp\": \"smtps://m:465\", \"user_env\": \"SMTP_USER\", "
	    "\"password_env\": \"SMTP_PASSWORD\"}, {\"type\": \"teams\", "
	    "\"url\": \"https://t/x\", \"format\": \"adaptive\"}]");
	ok(j && j->nnotify == 4 && j->notify[0].level == BFS_JOB_LEVEL_ALL &&
	       j->notify[1].level == BFS_JOB_LEVEL_ERRORS &&
	       strcmp(j->notify[2].password_env, "SMTP_PASSWORD") == 0 &&
	       strcmp(j->notify[3].format, "adaptive") == 0,
	   "level defaults (ping: all, others: errors), optional keys");
	bfs_job_free(j);
}

static char tmpdir[] = "/tmp/test-job.XXXXXX";

static char *write_file(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	chmod(path, mode);
	return path;
}

static void test_load(void)
{
	struct bfs_err err = {""};
	struct bfs_job *j = NULL;
	char want[512], *p;

	p = write_file("job.json", example, 0644);
	is_int(bfs_job_load(p, &j, &err), 0, "bfs_job_load reads a file");
	ok(j && strcmp(j->name, "nocodb") == 0, "loaded job");
	bfs_job_free(j);
	p = write_file(
	    "bad.json",
	    "{\n\"name\": \"x\", \"repository\": \"/r\",\n\"sources\": "
	    "[{\"stdin\": \"a\"}],\n\"schedule\": \"61 * * * *\"}",
	    0644);
	is_int(bfs_job_load(p, &j, &err), -EINVAL, "bad file refused");
	snprintf(want, sizeof(want),
		 "%s: schedule: minute: \"61\": 61 is out of range (0-59)", p);
	is_str(err.msg, want, "message names the file and the field");
	snprintf(want, sizeof(want), "%s/missing.json", tmpdir);
	is_int(bfs_job_load(want, &j, &err), -ENOENT, "missing file: -ENOENT");
	is_int(bfs_job_load(tmpdir, &j, &err), -EINVAL, "directory refused");
	snprintf(want, sizeof(want), "%s/fifo.json", tmpdir);
	if (mkfifo(want, 0600) == 0)
		is_int(bfs_job_load(want, &j, &err), -EINVAL,
		       "a FIFO is refused without blocking");
}

static void test_env(void)
{
	struct bfs_err err = {""};
	struct bfs_job_env *e = NULL;
	char want[512], *p;
	int rc;

	p = write_file("ok.env",
		       "# secrets for the nocodb job\r\n"
		       "\n"
		       "PGPASSWORD=pg secret # not a comment\n"
		       "  export AWS_SECRET_ACCESS_KEY='a#b\"c'  # comment\n"
		       "SMTP_PASSWORD=\"q\\\"uo\\\\te\\n$x\"\n"
		       "EMPTY=\n"
		       "_X1=first\n"
		       "_X1=second\n"
		       "TRAIL=v   \n",
		       0600);
	rc = bfs_job_load_env(p, &e, &err);
	is_int(rc, 0, "0600 env_file owned by us loads");
	if (rc)
		diag("%s", err.msg);
	if (e) {
		is_int(e->n, 6, "6 variables (a repeated key once)");
		is_str(bfs_job_env_get(e, "PGPASSWORD"),
		       "pg secret # not a comment",
		       "unquoted: rest of the line");
		is_str(bfs_job_env_get(e, "AWS_SECRET_ACCESS_KEY"), "a#b\"c",
		       "export prefix, single quotes literal, comment after");
		is_str(bfs_job_env_get(e, "SMTP_PASSWORD"), "q\"uo\\te\n$x",
		       "double quotes with escapes");
		is_str(bfs_job_env_get(e, "EMPTY"), "", "empty value");
		is_str(bfs_job_env_get(e, "_X1"), "second", "later value wins");
		is_str(bfs_job_env_get(e, "TRAIL"), "v", "trailing blanks cut");
		ok(bfs_job_env_get(e, "NOPE") == NULL, "unknown key: NULL");
		is_int(bfs_job_env_apply(e, &err), 0, "apply");
		is_str(getenv("SMTP_PASSWORD"), "q\"uo\\te\n$x",
		       "applied to the environment");
	}
	bfs_job_env_free(e);
	bfs_job_env_free(NULL);

	p = write_file("group.env", "PGPASSWORD=grpsecret\n", 0640);
	is_int(bfs_job_load_env(p, &e, &err), -EPERM, "0640 refused");
	snprintf(want, sizeof(want),
		 "env_file '%s': mode 0640 lets other users read secrets; it "
		 "must be 0600 (chmod 600 '%s')",
		 p, p);
	is_str(err.msg, want, "mode message");
	ok(e == NULL, "nothing loaded");
	p = write_file("world.env", "PGPASSWORD=wsecret\n", 0604);
	is_int(bfs_job_load_env(p, &e, &err), -EPERM, "0604 refused");
	p = write_file("ro.env", "PGPASSWORD=rosecret\n", 0400);
	is_int(bfs_job_load_env(p, &e, &err), 0, "0400 is fine");
	bfs_job_env_free(e);

	p = write_file("nobody.env", "PGPASSWORD=nbsecret\n", 0600);
	if (geteuid() != 0) {
		diag("not root: chown to nobody skipped");
	} else if (chown(p, 65534, 65534) != 0) {
		ok(0, "chown to nobody");
	} else {
		is_int(bfs_job_load_env(p, &e, &err), -EPERM,
		       "owned by nobody: refused");
		snprintf(
		    want, sizeof(want),
		    "env_file '%s': owned by uid 65534, not by the user "
		    "running backupfs (uid 0); it holds secrets (chown it)",
		    p);
		is_str(err.msg, want, "owner message");
	}

	p = write_file("badline.env", "A=1\nthis is not=valid secretvalue\n",
		       0600);
	is_int(bfs_job_load_env(p, &e, &err), -EINVAL, "bad line refused");
	snprintf(want, sizeof(want),
		 "env_file '%s' line 2: expected KEY=VALUE (KEY: letters, "
		 "digits, _)",
		 p);
	is_str(err.msg, want, "bad line message names the line");
	ok(!strstr(err.msg, "secretvalue"), "and not the value");
	p = write_file("quote.env", "A=1\n\nB=\"unterminated qsecret\n", 0600);
	is_int(bfs_job_load_env(p, &e, &err), -EINVAL, "unterminated quote");
	snprintf(want, sizeof(want),
		 "env_file '%s' line 3: B: unterminated quote", p);
	is_str(err.msg, want, "quote message names line and key");
	ok(!strstr(err.msg, "qsecret"), "and not the value");
	p = write_file("after.env", "B='x' y\n", 0600);
	is_int(bfs_job_load_env(p, &e, &err), -EINVAL, "text after a quote");
	p = write_file("nokey.env", "=value\n", 0600);
	is_int(bfs_job_load_env(p, &e, &err), -EINVAL, "no key");
	is_int(bfs_job_load_env(tmpdir, &e, &err), -EPERM,
	       "a directory is refused");
	snprintf(want, sizeof(want), "%s/fifo.env", tmpdir);
	if (mkfifo(want, 0600) == 0)
		is_int(bfs_job_load_env(want, &e, &err), -EPERM,
		       "a FIFO is refused without blocking");
	snprintf(want, sizeof(want), "%s/none.env", tmpdir);
	is_int(bfs_job_load_env(want, &e, &err), -ENOENT, "missing: -ENOENT");
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	test_example();
	test_syntax();
	test_keys();
	test_types();
	test_sources();
	test_secrets();
	test_sections();
	test_notify();
	test_load();
	test_env();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmpdir);
	}
	return tap_done();
}
