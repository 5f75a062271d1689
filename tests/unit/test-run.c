/* test-run.c - the pieces of a job run without the steps: the argument
 * lists of backup and forget, the prune rule per calendar bucket and
 * schedule, the parser of `backup --json` against hostile output, the
 * children's environment, the notify channels, the secrets list, and the
 * child runner (exit status, stdout capture, a timeout that kills the
 * process group). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/job.h"
#include "src/run.h"
#include "src/schedule.h"
#include "src/util.h"
#include "tests/unit/tap.h"

static const char job_text[] =
    "{\"name\": \"app\", \"repository\": \"/r\", \"tags\": [\"a\", \"b\"],"
    " \"sources\": ["
    "  {\"files\": \"d=/srv/d\", \"exclude\": [\"*.tmp\", \"cache\"]},"
    "  {\"pg_dump\": \"db=postgresql://u@h/db\"},"
    "  {\"mysql_dump\": \"m=mysql://u@h/m\", \"ignore_table\": [\"m.log\"]},"
    "  {\"command\": \"x.txt=echo hi\"},"
    "  {\"nocodb\": \"http://nc:8080\", \"nocodb_base\": [\"Sales\"],"
    "   \"nocodb_attachments\": false}],"
    " \"retention\": {\"keep_last\": 3, \"keep_daily\": 7,"
    "   \"keep_within\": \"1y6m\", \"keep_tag\": [\"keep\"],"
    "   \"prune\": \"weekly\"},"
    " \"notify\": ["
    "  {\"type\": \"teams\", \"url\": \"https://t.example/x\","
    "   \"format\": \"messagecard\", \"level\": \"warnings\"},"
    "  {\"type\": \"email\", \"to\": [\"a@b.c\"], \"from\": \"f@b.c\","
    "   \"smtp\": \"smtp://m:25\", \"password_env\": \"MAILPW\"},"
    "  {\"type\": \"ping\", \"url\": \"https://p.example/u\"}]}";

static char *join(const struct bfs_strv *a)
{
	struct bfs_buf b = {0};

	for (size_t i = 0; i < a->n; i++)
		bfs_buf_printf(&b, "%s%s", i ? " " : "", a->v[i]);
	bfs_buf_append(&b, "", 1);
	return (char *)b.data;
}

static void test_argv(const struct bfs_job *job)
{
	struct bfs_strv a = {0};
	char *s;

	ok(bfs_run_backup_argv(job, "/bin/bfs", &a) == 0, "backup argv");
	s = join(&a);
	is_str(s,
	       "/bin/bfs backup -r /r --job app --tag a --tag b --json "
	       "--files d=/srv/d --exclude *.tmp --exclude cache "
	       "--pg-dump db=postgresql://u@h/db "
	       "--mysql-dump m=mysql://u@h/m --ignore-table m.log "
	       "--command x.txt=echo hi "
	       "--nocodb http://nc:8080 --nocodb-base Sales "
	       "--no-nocodb-attachments",
	       "backup argv: sources in order, each with its options");
	ok(a.v[a.n] == NULL, "argv is NULL-terminated");
	free(s);
	bfs_strv_free(&a);
	ok(bfs_run_forget_argv(job, "b", &a) == 0, "forget argv");
	s = join(&a);
	is_str(s,
	       "b forget -r /r --job app --keep-last 3 --keep-daily 7 "
	       "--keep-within 1y6m --keep-tag keep",
	       "forget argv: the rules that are on");
	free(s);
	bfs_strv_free(&a);
}

static time_t local(int y, int mo, int d, int h)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_isdst = -1};

	return mktime(&tm);
}

static void test_prune(void)
{
	struct bfs_job_retention r = {.set = true};
	struct bfs_err err;
	time_t mon = local(2026, 11, 23, 3), sun = local(2026, 11, 29, 23),
	       nmon = local(2026, 11, 30, 1);

	setenv("TZ", "UTC", 1);
	tzset();
	r.prune = BFS_JOB_PRUNE_ALWAYS;
	ok(bfs_run_prune_due(&r, mon, mon + 1), "always: due");
	r.prune = BFS_JOB_PRUNE_NEVER;
	ok(!bfs_run_prune_due(&r, 0, mon), "never: never due");
	r.prune = BFS_JOB_PRUNE_DAILY;
	ok(bfs_run_prune_due(&r, 0, mon), "daily: due when never pruned");
	ok(!bfs_run_prune_due(&r, mon, mon + 3600 * 20),
	   "daily: not again the same day");
	ok(bfs_run_prune_due(&r, mon, mon + 3600 * 21), "daily: the next day");
	r.prune = BFS_JOB_PRUNE_WEEKLY;
	ok(!bfs_run_prune_due(&r, mon, sun), "weekly: not within the ISO week");
	ok(bfs_run_prune_due(&r, sun, nmon), "weekly: Monday is a new week");
	r.prune = BFS_JOB_PRUNE_MONTHLY;
	ok(!bfs_run_prune_due(&r, local(2026, 11, 1, 0), nmon),
	   "monthly: not within the month");
	ok(bfs_run_prune_due(&r, nmon, local(2026, 12, 1, 0)),
	   "monthly: a new month");
	ok(!bfs_run_prune_due(&r, nmon + 10, nmon), "a last prune in the "
						    "future is not due");
	r.prune = BFS_JOB_PRUNE_SCHEDULE;
	if (bfs_schedule_parse("0 3 * * 0", &r.prune_schedule, &err) == 0) {
		ok(!bfs_run_prune_due(&r, local(2026, 11, 29, 3),
				      local(2026, 12, 5, 12)),
		   "schedule: not before the next slot");
		ok(bfs_run_prune_due(&r, local(2026, 11, 29, 3),
				     local(2026, 12, 6, 3)),
		   "schedule: at the next slot");
		bfs_schedule_free(r.prune_schedule);
	} else {
		ok(0, "parse a schedule: %s", err.msg);
	}
}

static void test_backup_json(void)
{
	struct bfs_err err = {{0}};
	uint64_t files = 0, rd = 0, add = 0;
	char *id = NULL, **w = NULL;
	bool partial = true;
	size_t nw = 9;
	struct bfs_buf big = {0};
	int rc;

	rc = bfs_run_parse_backup_json(
	    "{\"id\": \"2026-11-26_05-15-00\", \"partial\": false, \"stats\": "
	    "{\"files\": 3, \"bytes\": 1000, \"stored_bytes\": 200}, "
	    "\"unreadable\": []}",
	    &id, &partial, &files, &rd, &add, &w, &nw, &err);
	ok(rc == 0 && strcmp(id, "2026-11-26_05-15-00") == 0 && !partial &&
	       files == 3 && rd == 1000 && add == 200 && nw == 0,
	   "backup --json parsed: %s", rc ? err.msg : "");
	free(id);
	free(w);

	rc = bfs_run_parse_backup_json(
	    "{\"id\": \"b1\", \"partial\": true, \"stats\": {\"files\": 1, "
	    "\"bytes\": 1, \"stored_bytes\": 1}, \"unreadable\": [{\"path\": "
	    "\"d/secret.key\", \"error\": \"Permission denied\"}]}",
	    &id, &partial, &files, &rd, &add, &w, &nw, &err);
	ok(rc == 0 && partial && nw == 1 &&
	       strcmp(w[0], "unreadable: d/secret.key: Permission denied") == 0,
	   "partial: the unreadable entries become warnings");
	free(id);
	free(w[0]);
	free(w);

	bfs_buf_printf(&big, "{\"id\": \"b\", \"partial\": true, \"stats\": "
			     "{\"files\": 1, \"bytes\": 1, \"stored_bytes\": "
			     "1}, \"unreadable\": [");
	for (int i = 0; i < 250; i++)
		bfs_buf_printf(&big, "%s{\"path\": \"f%d\", \"error\": \"x\"}",
			       i ? "," : "", i);
	bfs_buf_printf(&big, "]}");
	bfs_buf_append(&big, "", 1);
	rc = bfs_run_parse_backup_json((char *)big.data, &id, &partial, &files,
				       &rd, &add, &w, &nw, &err);
	ok(rc == 0 && nw == 101 &&
	       strcmp(w[100], "... and 150 more unreadable entries") == 0,
	   "250 unreadable entries: 100 warnings and a count");
	for (size_t i = 0; rc == 0 && i < nw; i++)
		free(w[i]);
	free(w);
	free(id);
	bfs_buf_free(&big);

	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"id\": \"../x\", \"partial\": false, \"stats\": {\"files\": 1, "
	    "\"bytes\": 1, \"stored_bytes\": 1}}",
	    "{\"id\": \"b\", \"partial\": \"no\", \"stats\": {\"files\": 1, "
	    "\"bytes\": 1, \"stored_bytes\": 1}}",
	    "{\"id\": \"b\", \"partial\": false, \"stats\": {\"files\": -1, "
	    "\"bytes\": 1, \"stored_bytes\": 1}}",
	    "{\"id\": \"b\", \"partial\": false}",
	    "{\"id\": 5, \"partial\": false, \"stats\": {}}",
	};
	for (size_t i = 0; i < BFS_ARRAY_SIZE(bad); i++) {
		rc = bfs_run_parse_backup_json(bad[i], &id, &partial, &files,
					       &rd, &add, &w, &nw, &err);
		ok(rc == -EINVAL && !id && !w &&
		       strstr(err.msg, "backup "
				       "--json"),
		   "hostile backup --json %zu refused: %s", i, err.msg);
	}
}

static void test_env(const struct bfs_job *job)
{
	struct bfs_job_env_var vars[] = {{"PGPASSWORD", "pg-secret"},
					 {"HOME", "/override"}};
	struct bfs_job_env env = {vars, 2};
	char *base[] = {"HOME=/root",
			"PATH=/bin",
			"MAILPW=mail-secret",
			"AWS_SECRET_ACCESS_KEY=aws-secret",
			"junk",
			NULL};
	const char *extra[] = {"BACKUPFS_JOB=app", "PATH=/x"};
	const char **sec = NULL;
	char **envp = NULL;
	size_t n, i;
	struct bfs_buf all = {0};

	ok(bfs_envp_build(base, &env, extra, 2, &envp) == 0, "envp built");
	for (i = 0; envp && envp[i]; i++)
		bfs_buf_printf(&all, "%s;", envp[i]);
	bfs_buf_append(&all, "", 1);
	is_str((char *)all.data,
	       "HOME=/override;PATH=/x;MAILPW=mail-secret;"
	       "AWS_SECRET_ACCESS_KEY=aws-secret;PGPASSWORD=pg-secret;"
	       "BACKUPFS_JOB=app;",
	       "envp: env_file over environ, extras last, junk dropped");
	bfs_buf_free(&all);
	ok(bfs_run_secrets(job, &env, envp, &sec, &n) == 0, "secrets");
	for (i = 0; i < n; i++)
		bfs_buf_printf(&all, "%s;", sec[i]);
	bfs_buf_append(&all, "", 1);
	is_str((char *)all.data,
	       "pg-secret;/override;aws-secret;pg-secret;mail-secret;",
	       "secrets: env_file values, known variables, password_env");
	bfs_buf_free(&all);
	free(sec);
	bfs_envp_free(envp);
}

static void test_channels(const struct bfs_job *job)
{
	struct bfs_notify_channel *c = NULL;

	ok(bfs_run_channels(job, &c) == 0, "channels");
	ok(c[0].type == BFS_NOTIFY_TEAMS && c[0].level == BFS_NOTIFY_WARNINGS &&
	       c[0].teams_format == BFS_TEAMS_MESSAGECARD &&
	       strcmp(c[0].url, "https://t.example/x") == 0,
	   "teams channel mapped");
	ok(c[1].type == BFS_NOTIFY_EMAIL && c[1].level == BFS_NOTIFY_ERRORS &&
	       c[1].nto == 1 && strcmp(c[1].to[0], "a@b.c") == 0 &&
	       strcmp(c[1].password_env, "MAILPW") == 0,
	   "email channel mapped (default level errors)");
	ok(c[2].type == BFS_NOTIFY_PING && c[2].level == BFS_NOTIFY_ALL,
	   "ping channel mapped (default level all)");
	free(c);
}

static void test_child(void)
{
	char *argv_ok[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3",
			   NULL};
	char *argv_hang[] = {"/bin/sh", "-c", "sleep 30 & echo $! >&2; wait",
			     NULL};
	char *envp[] = {"A=1", NULL};
	struct bfs_buf out = {0};
	struct bfs_child_opts co = {.out = &out};
	struct bfs_err err = {{0}};
	char logp[] = "/tmp/bfs-run-log-XXXXXX", buf[64] = "";
	int fd = mkstemp(logp), st, rc;
	bool to;
	int64_t t0;

	co.log_fd = fd;
	rc = bfs_run_child(argv_ok, envp, &co, &st, &to, &err);
	bfs_buf_append(&out, "", 1);
	ok(rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3 && !to,
	   "child: exit status");
	is_str((char *)out.data, "out\n", "child: stdout captured");
	pread(fd, buf, sizeof(buf) - 1, 0);
	is_str(buf, "err\n", "child: stderr to the log");
	bfs_buf_free(&out);

	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		perror("truncate");
	co.out = NULL;
	co.own_group = true;
	co.timeout_s = 1;
	co.kill_grace_s = 1;
	t0 = bfs_mono_ns();
	rc = bfs_run_child(argv_hang, envp, &co, &st, &to, &err);
	ok(rc == 0 && to && bfs_mono_ns() - t0 < 5000000000LL,
	   "child: the timeout struck");
	memset(buf, 0, sizeof(buf));
	pread(fd, buf, sizeof(buf) - 1, 0);
	{
		pid_t gc = (pid_t)atoi(buf);
		int i;

		for (i = 0; i < 100 && gc > 0 && kill(gc, 0) == 0; i++) {
			char path[64], s[512] = "";
			FILE *f;

			/* a zombie waiting for a reaper is dead enough */
			snprintf(path, sizeof(path), "/proc/%d/stat", gc);
			f = fopen(path, "r");
			if (f) {
				fgets(s, sizeof(s), f);
				fclose(f);
			}
			if (strstr(s, ") Z "))
				break;
			usleep(20000);
		}
		ok(gc > 0 && i < 100,
		   "child: the group's background process was killed too");
	}
	close(fd);
	unlink(logp);
}

int main(void)
{
	struct bfs_job *job = NULL;
	struct bfs_err err = {{0}};

	if (bfs_job_parse(job_text, strlen(job_text), &job, &err) < 0) {
		printf("Bail out! job: %s\n", err.msg);
		return 1;
	}
	test_argv(job);
	test_prune();
	test_backup_json();
	test_env(job);
	test_channels(job);
	test_child();
	bfs_job_free(job);
	return tap_done();
}
