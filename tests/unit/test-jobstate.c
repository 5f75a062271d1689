/* test-jobstate.c - the state directory: directory defaults, job name
 * resolution, recording and reading back runs, runs.jsonl trimming,
 * corrupt files reported, last-prune, and the run lock (two opens of the
 * lock file conflict within one process too, as flock(2) locks belong to
 * the open file description). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/jobstate.h"
#include "src/notify.h"
#include "src/util.h"
#include "tests/unit/tap.h"

static char top[] = "/tmp/bfs-jobstate-XXXXXX";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int c, n = 0;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void test_dirs(void)
{
	struct bfs_err err = {{0}};
	char buf[PATH_MAX];

	ok(bfs_state_dir("/x/state", buf, sizeof(buf), &err) == 0 &&
	       strcmp(buf, "/x/state") == 0,
	   "state dir: the override wins");
	setenv("BACKUPFS_STATE_DIR", "/env/state", 1);
	ok(bfs_state_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	       strcmp(buf, "/env/state") == 0,
	   "state dir: $BACKUPFS_STATE_DIR next");
	unsetenv("BACKUPFS_STATE_DIR");
	setenv("BACKUPFS_JOBS_DIR", "/env/jobs", 1);
	ok(bfs_jobs_dir(NULL, buf, sizeof(buf), &err) == 0 &&
	       strcmp(buf, "/env/jobs") == 0,
	   "jobs dir: $BACKUPFS_JOBS_DIR");
	unsetenv("BACKUPFS_JOBS_DIR");
	if (geteuid() == 0) {
		ok(bfs_state_dir(NULL, buf, sizeof(buf), &err) == 0 &&
		       strcmp(buf, "/var/lib/backupfs") == 0,
		   "state dir: /var/lib/backupfs for root");
		ok(bfs_jobs_dir(NULL, buf, sizeof(buf), &err) == 0 &&
		       strcmp(buf, "/etc/backupfs/jobs") == 0,
		   "jobs dir: /etc/backupfs/jobs for root");
	} else {
		setenv("XDG_STATE_HOME", "/xdg/st", 1);
		ok(bfs_state_dir(NULL, buf, sizeof(buf), &err) == 0 &&
		       strcmp(buf, "/xdg/st/backupfs") == 0,
		   "state dir: $XDG_STATE_HOME/backupfs");
		unsetenv("XDG_CONFIG_HOME");
		setenv("HOME", "/home/u", 1);
		ok(bfs_jobs_dir(NULL, buf, sizeof(buf), &err) == 0 &&
		       strcmp(buf, "/home/u/.config/backupfs/jobs") == 0,
		   "jobs dir: ~/.config/backupfs/jobs");
	}
}

static void test_resolve(void)
{
	struct bfs_err err = {{0}};
	char buf[PATH_MAX];

	ok(bfs_job_resolve("nocodb", "/j", buf, sizeof(buf), &err) == 0 &&
	       strcmp(buf, "/j/nocodb.json") == 0,
	   "resolve: a name is JOBS_DIR/NAME.json");
	ok(bfs_job_resolve("./a.json", "/j", buf, sizeof(buf), &err) == 0 &&
	       strcmp(buf, "./a.json") == 0,
	   "resolve: a path is used as is");
	ok(bfs_job_resolve("x.json", "/j", buf, sizeof(buf), &err) == 0 &&
	       strcmp(buf, "x.json") == 0,
	   "resolve: NAME.json is a path");
	ok(bfs_job_resolve("-rf", "/j", buf, sizeof(buf), &err) == -EINVAL &&
	       strstr(err.msg, "'-rf' is not a job name"),
	   "resolve: a bad name is refused: %s", err.msg);
	ok(bfs_job_resolve("a", "/j", buf, 8, &err) == -ENAMETOOLONG,
	   "resolve: too long for the buffer");
}

static void test_record(void)
{
	struct bfs_err err = {{0}};
	struct bfs_jobstate_run last, okr;
	struct bfs_run_summary s = {0};
	const char *warn[] = {"file 'a' unreadable"};
	char state[256], path[PATH_MAX];
	bool has_last = true, has_ok = true;
	struct stat st;
	int rc;

	snprintf(state, sizeof(state), "%s/state", top);
	rc = bfs_jobstate_last(state, "app", &last, &has_last, &okr, &has_ok,
			       &err);
	ok(rc == 0 && !has_last && !has_ok,
	   "last: nothing recorded yet is not an error (%d)", rc);

	s.job = "app";
	s.backup_id = "20260101T000000Z-abcd";
	s.status = BFS_RUN_OK;
	s.start_ns = 1767225600LL * 1000000000;
	s.duration_ns = 2500000000LL;
	s.bytes_read = 1000;
	s.bytes_added = 300;
	s.files = 7;
	s.log_tail = "tail";
	rc = bfs_jobstate_record(state, &s, &err);
	ok(rc == 0, "record an ok run: %s", rc ? err.msg : "");
	ok(stat(state, &st) == 0 && (st.st_mode & 07777) == 0700,
	   "the state directory is created 0700");
	snprintf(path, sizeof(path), "%s/jobs/app/last.json", state);
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600,
	   "last.json is 0600");
	rc = bfs_jobstate_last(state, "app", &last, &has_last, &okr, &has_ok,
			       &err);
	ok(rc == 0 && has_last && has_ok, "read back last and last-ok");
	ok(strcmp(last.job, "app") == 0 &&
	       strcmp(last.backup_id, s.backup_id) == 0 &&
	       last.status == BFS_RUN_OK && last.start == 1767225600 &&
	       last.duration_s > 2.49 && last.duration_s < 2.51 &&
	       last.bytes_read == 1000 && last.bytes_added == 300 &&
	       last.files == 7 && last.nwarnings == 0 && !last.error[0],
	   "every field read back");

	s.status = BFS_RUN_FAILED;
	s.backup_id = NULL;
	s.error = "pg_dump exited with status 1";
	s.start_ns += 3600LL * 1000000000;
	rc = bfs_jobstate_record(state, &s, &err);
	rc =
	    rc ? rc
	       : bfs_jobstate_last(state, "app", &last, NULL, &okr, NULL, &err);
	ok(rc == 0 && last.status == BFS_RUN_FAILED && !last.backup_id[0] &&
	       strcmp(last.error, s.error) == 0,
	   "a failed run is the last run");
	ok(okr.status == BFS_RUN_OK && okr.start == 1767225600,
	   "a failed run leaves last-ok.json alone");

	s.status = BFS_RUN_WARNING;
	s.error = NULL;
	s.warnings = warn;
	s.nwarnings = 1;
	s.backup_id = "b2";
	rc = bfs_jobstate_record(state, &s, &err);
	rc =
	    rc ? rc
	       : bfs_jobstate_last(state, "app", &last, NULL, &okr, NULL, &err);
	ok(rc == 0 && okr.status == BFS_RUN_WARNING && okr.nwarnings == 1,
	   "a warning run counts as a success (last-ok.json)");
	snprintf(path, sizeof(path), "%s/jobs/app/runs.jsonl", state);
	is_int(count_lines(path), 3, "runs.jsonl has one line per run");

	/* runs.jsonl keeps the last 1000 */
	{
		FILE *f = fopen(path, "a");

		for (int i = 0; i < 1200; i++)
			fprintf(f, "{\"job\":\"app\",\"n\":%d}\n", i);
		fclose(f);
	}
	rc = bfs_jobstate_record(state, &s, &err);
	is_int(count_lines(path), 1000, "runs.jsonl is trimmed to 1000");

	/* a job name that is a path is refused */
	s.job = "../x";
	ok(bfs_jobstate_record(state, &s, &err) == -EINVAL,
	   "record: a bad job name is refused");
}

static void test_corrupt(void)
{
	struct bfs_err err = {{0}};
	struct bfs_jobstate_run last;
	char state[256], path[PATH_MAX];
	bool has;
	int rc;

	snprintf(state, sizeof(state), "%s/state", top);
	snprintf(path, sizeof(path), "%s/jobs/app/last.json", state);
	write_file(path, "{\"job\":\"app\",\"status\":\"ok\"");
	rc = bfs_jobstate_last(state, "app", &last, &has, NULL, NULL, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "last.json") &&
	       strstr(err.msg, "corrupt"),
	   "truncated last.json: %s", err.msg);
	write_file(path, "{\"job\":\"other\",\"status\":\"ok\"}");
	rc = bfs_jobstate_last(state, "app", &last, &has, NULL, NULL, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "\"job\""),
	   "another job's summary: %s", err.msg);
	write_file(path, "{\"job\":\"app\",\"backup_id\":\"../../etc\","
			 "\"status\":\"ok\"}");
	rc = bfs_jobstate_last(state, "app", &last, &has, NULL, NULL, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "backup_id"),
	   "a hostile backup id: %s", err.msg);
	write_file(path, "{\"job\":\"app\",\"status\":\"ok\",\"start_unix\":"
			 "-5,\"duration_seconds\":1,\"bytes_read\":0,"
			 "\"bytes_added\":0,\"files\":0}");
	rc = bfs_jobstate_last(state, "app", &last, &has, NULL, NULL, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "start_unix"),
	   "a negative time: %s", err.msg);
	write_file(path, "{\"job\":\"app\",\"status\":\"great\"}");
	rc = bfs_jobstate_last(state, "app", &last, &has, NULL, NULL, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "status"), "an unknown status: %s",
	   err.msg);
}

static void test_prune(void)
{
	struct bfs_err err = {{0}};
	char state[256], path[PATH_MAX];
	time_t when = 1;
	int rc;

	snprintf(state, sizeof(state), "%s/state", top);
	rc = bfs_jobstate_last_prune(state, "p", &when, &err);
	ok(rc == 0 && when == 0, "last-prune: absent is 0");
	rc = bfs_jobstate_set_last_prune(state, "p", 1767225600, &err);
	rc = rc ? rc : bfs_jobstate_last_prune(state, "p", &when, &err);
	ok(rc == 0 && when == 1767225600, "last-prune: written, read back");
	snprintf(path, sizeof(path), "%s/jobs/p/last-prune", state);
	write_file(path, "12x\n");
	rc = bfs_jobstate_last_prune(state, "p", &when, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "last-prune"),
	   "last-prune: garbage is corrupt: %s", err.msg);
	write_file(path, "-1\n");
	rc = bfs_jobstate_last_prune(state, "p", &when, &err);
	ok(rc == -EUCLEAN, "last-prune: a negative time is corrupt");
}

static void test_lock(void)
{
	struct bfs_err err = {{0}};
	char state[256];
	int fd, fd2;

	snprintf(state, sizeof(state), "%s/state", top);
	ok(!bfs_jobstate_running(state, "l"), "not running before the lock");
	fd = bfs_jobstate_lock(state, "l", &err);
	ok(fd >= 0, "lock taken: %s", fd < 0 ? err.msg : "");
	ok(bfs_jobstate_running(state, "l"), "running while locked");
	fd2 = bfs_jobstate_lock(state, "l", &err);
	ok(fd2 == -EBUSY && strstr(err.msg, "'l' is already running"),
	   "a second lock is -EBUSY: %s", err.msg);
	ok((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "the lock fd is CLOEXEC");
	close(fd);
	ok(!bfs_jobstate_running(state, "l"), "not running after close");
	fd = bfs_jobstate_lock(state, "l", &err);
	ok(fd >= 0, "lock taken again after release");
	close(fd);
}

int main(void)
{
	char cmd[PATH_MAX + 16];

	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return 1;
	}
	test_dirs();
	test_resolve();
	test_record();
	test_corrupt();
	test_prune();
	test_lock();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", top);
	return tap_done();
}
