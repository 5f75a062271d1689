/* test-jobunit.c - the timer drop-in of `backupfs job enable`
 * (src/jobunit.h): cron and every schedules, catch_up, the randomized
 * delay bound, refusals (no schedule, cron's either-day rule, a short
 * buffer) and the timer name. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "src/job.h"
#include "src/jobunit.h"
#include "src/util.h"
#include "tests/unit/tap.h"

static struct bfs_job *job(const char *extra)
{
	char text[1024];
	struct bfs_job *j = NULL;
	struct bfs_err err = {""};
	int rc;

	snprintf(text, sizeof(text),
		 "{\"name\": \"app\", \"repository\": \"/srv/b\", "
		 "\"sources\": [{\"files\": \"/srv/app\"}]%s}",
		 extra);
	rc = bfs_job_parse(text, strlen(text), &j, &err);
	if (rc)
		printf("# parse: %s\n", err.msg);
	return j;
}

/* bfs_job_timer_dropin for a job with the `extra` keys (-99: no job). */
static int dropin(const char *extra, char *buf, size_t n, struct bfs_err *err)
{
	struct bfs_job *j = job(extra);
	int rc;

	if (!j)
		return -99;
	rc =
	    bfs_job_timer_dropin(j, "/etc/backupfs/jobs/app.json", buf, n, err);
	bfs_job_free(j);
	return rc;
}

static void test_cron(void)
{
	struct bfs_err err = {""};
	char buf[2048];

	is_int(dropin(", \"schedule\": \"15 5 * * *\"", buf, sizeof(buf), &err),
	       0, "cron schedule: drop-in written");
	ok(strstr(buf, "[Timer]\n") != NULL, "has a [Timer] section");
	ok(strstr(buf, "\nOnCalendar=\nOnCalendar=*-*-* 05:15:00\n") != NULL,
	   "resets the template's OnCalendar=, then the calendar event");
	ok(strstr(buf, "\nPersistent=true\n") != NULL,
	   "catch_up (default true) is Persistent=true");
	ok(strstr(buf, "\nRandomizedDelaySec=30s\n") != NULL,
	   "a cron job is delayed by up to 30s");
	ok(strstr(buf, "OnUnitActiveSec") == NULL, "no interval for cron");
	ok(strstr(buf, "app.json") != NULL && strstr(buf, "15 5 * * *"),
	   "the header names the job file and the schedule");

	is_int(dropin(", \"schedule\": \"*/15 * * * 1-5\", \"catch_up\": "
		      "false",
		      buf, sizeof(buf), &err),
	       0, "weekday schedule without catch_up");
	ok(strstr(buf, "\nOnCalendar=Mon..Fri *-*-* *:00/15:00\n") != NULL,
	   "weekday calendar event");
	ok(strstr(buf, "\nPersistent=false\n") != NULL,
	   "catch_up false is Persistent=false");
}

static void test_every(void)
{
	struct bfs_err err = {""};
	char buf[2048];

	is_int(dropin(", \"schedule\": \"every 6h\"", buf, sizeof(buf), &err),
	       0, "every 6h: drop-in written");
	ok(strstr(buf, "\nOnCalendar=\nOnActiveSec=6h\nOnUnitActiveSec=6h\n") !=
	       NULL,
	   "OnCalendar= reset, OnActiveSec= and OnUnitActiveSec= the interval");
	ok(strstr(buf, "\nRandomizedDelaySec=30s\n") != NULL,
	   "a long interval keeps the 30s delay");
	is_int(dropin(", \"schedule\": \"every 2m\"", buf, sizeof(buf), &err),
	       0, "every 2m");
	ok(strstr(buf, "\nRandomizedDelaySec=12s\n") != NULL,
	   "the delay is at most a tenth of the interval (12s of 2m)");
	is_int(dropin(", \"schedule\": \"every 5s\"", buf, sizeof(buf), &err),
	       0, "every 5s");
	ok(strstr(buf, "\nRandomizedDelaySec=0s\n") != NULL,
	   "no delay for a 5s interval");
}

static void test_refusals(void)
{
	struct bfs_err err = {""};
	char buf[2048];

	is_int(dropin("", buf, sizeof(buf), &err), -EINVAL,
	       "a job without schedule is refused");
	ok(strncmp(err.msg, "schedule: ", 10) == 0 &&
	       strstr(err.msg, "backupfs run app"),
	   "the message names the field and the way to run it: %s", err.msg);
	err.msg[0] = '\0';
	is_int(dropin(", \"schedule\": \"0 9 13 * 5\"", buf, sizeof(buf), &err),
	       -EINVAL, "day of month and day of week both restricted");
	ok(strncmp(err.msg, "schedule: ", 10) == 0,
	   "the message starts with the field: %s", err.msg);
	is_int(dropin(", \"schedule\": \"15 5 * * *\"", buf, 64, &err), -ENOSPC,
	       "a short buffer is -ENOSPC");
}

static void test_names(void)
{
	struct bfs_err err = {""};
	char buf[128];

	is_int(bfs_job_timer_name("nocodb", buf, sizeof(buf), &err), 0,
	       "valid name");
	is_str(buf, "backupfs-job@nocodb.timer", "the timer's name");
	is_int(bfs_job_timer_name("../x", buf, sizeof(buf), &err), -EINVAL,
	       "a path is no job name");
	is_int(bfs_job_timer_name("-x", buf, sizeof(buf), &err), -EINVAL,
	       "a leading '-' is refused");
	is_int(bfs_job_timer_name("nocodb", buf, 10, &err), -ENAMETOOLONG,
	       "short buffer");
}

int main(void)
{
	test_cron();
	test_every();
	test_refusals();
	test_names();
	return tap_done();
}
