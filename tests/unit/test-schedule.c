/* test-schedule.c - durations, cron parsing, next run times (month ends,
 * leap years, the DOM/DOW rule, DST in Europe/Berlin), systemd
 * conversion (cross-checked with systemd-analyze when present), and the
 * scheduler's decision with a fake clock. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/schedule.h"
#include "src/util.h"
#include "tests/unit/tap.h"

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* "YYYY-MM-DD HH:MM:SS +HHMM" -> instant */
static time_t at(const char *s)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, se, off;
	char sign;

	if (sscanf(s, "%d-%d-%d %d:%d:%d %c%d", &y, &mo, &d, &h, &mi, &se,
		   &sign, &off) != 8) {
		printf("# bad time '%s'\n", s);
		exit(99);
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	off = (off / 100) * 3600 + (off % 100) * 60;
	return timegm(&tm) - (sign == '-' ? -off : off);
}

/* instant -> local "YYYY-MM-DD HH:MM:SS +HHMM" */
static const char *fmt(time_t t, char *buf, size_t n)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%d %H:%M:%S %z", &tm);
	return buf;
}

static void next_is(const char *expr, const char *after, const char *want)
{
	struct bfs_schedule *s = NULL;
	struct bfs_err err = {""};
	char got[64] = "(error)";
	time_t t = 0;
	int rc;

	rc = bfs_schedule_parse(expr, &s, &err);
	if (rc == 0)
		rc = bfs_schedule_next(s, at(after), &t);
	if (rc == 0)
		fmt(t, got, sizeof(got));
	else
		diag("rc %d: %s", rc, err.msg);
	is_str(got, want, "'%s' after %s", expr, after);
	bfs_schedule_free(s);
}

static void parse_err(const char *expr, const char *want)
{
	struct bfs_schedule *s = NULL;
	struct bfs_err err = {""};
	int rc = bfs_schedule_parse(expr, &s, &err);

	ok(rc == -EINVAL && s == NULL, "'%s' refused", expr);
	is_str(err.msg, want, "'%s': message", expr);
	bfs_schedule_free(s);
}

static void dur_ok(const char *s, uint64_t want)
{
	struct bfs_err err = {""};
	uint64_t v = 0;
	char back[32];

	is_int(bfs_duration_parse(s, &v, &err), 0, "duration '%s' parses", s);
	is_int(v, want, "duration '%s' = %llu s", s, (unsigned long long)want);
	bfs_duration_format(v, back, sizeof(back));
	v = 0;
	bfs_duration_parse(back, &v, NULL);
	is_int(v, want, "duration '%s' formats as '%s' and back", s, back);
}

static void dur_err(const char *s, const char *want)
{
	struct bfs_err err = {""};
	uint64_t v = 0;

	is_int(bfs_duration_parse(s, &v, &err), -EINVAL, "duration '%s' bad",
	       s);
	is_str(err.msg, want, "duration '%s': message", s);
}

static void test_durations(void)
{
	dur_ok("90s", 90);
	dur_ok("10m", 600);
	dur_ok("1h30m", 5400);
	dur_ok("2d", 172800);
	dur_ok("1d2h3m4s", 93784);
	dur_ok("0s", 0);
	dur_ok("3650d", 3650ULL * 86400);
	dur_err("10x", "\"10x\": unknown unit (use s, m, h, d)");
	dur_err("10", "\"10\": missing unit (use s, m, h, d)");
	dur_err("", "empty duration (e.g. 90s, 10m, 1h30m, 2d)");
	dur_err("h",
		"\"h\": expected a number at 'h' (e.g. 90s, 10m, 1h30m, 2d)");
	dur_err("1 h", "\"1 h\": unknown unit (use s, m, h, d)");
	dur_err("3651d", "\"3651d\": too long (at most 3650d)");
	dur_err("99999999999999999999s",
		"\"99999999999999999999s\": too long (at most 3650d)");
	dur_err(
	    "1d-1h",
	    "\"1d-1h\": expected a number at '-' (e.g. 90s, 10m, 1h30m, 2d)");
}

static void test_parse_errors(void)
{
	parse_err("", "empty schedule (a cron expression like \"15 5 * * *\" "
		      "or \"every 6h\")");
	parse_err("15 5 * *",
		  "expected 5 fields (minute hour day-of-month month "
		  "day-of-week) or \"every DURATION\", got 4");
	parse_err("0 0 * * * *",
		  "expected 5 fields (minute hour day-of-month month "
		  "day-of-week) or \"every DURATION\", got 6");
	parse_err("60 * * * *", "minute: \"60\": 60 is out of range (0-59)");
	parse_err("0 25 * * *", "hour: \"25\": 25 is out of range (0-23)");
	parse_err("0 0 0 * *", "day of month: \"0\": 0 is out of range (1-31)");
	parse_err("0 0 * 13 *", "month: \"13\": 13 is out of range (1-12)");
	parse_err("0 0 * * 8", "day of week: \"8\": 8 is out of range (0-7)");
	parse_err(
	    "0 0 * foo *",
	    "month: \"foo\": expected a number or a month (jan-dec) name");
	parse_err("0 0 * * funday", "day of week: \"funday\": expected a "
				    "number or a day (sun-sat) name");
	parse_err("5-1 * * * *", "minute: \"5-1\": range goes backwards");
	parse_err("*/0 * * * *", "minute: \"*/0\": step must be 1-60");
	parse_err("*/ * * * *",
		  "minute: \"*/\": expected a step number after '/'");
	parse_err("1,,2 * * * *", "minute: empty list item");
	parse_err("1x * * * *", "minute: \"1x\": unexpected 'x'");
	parse_err("0 0 30 2 *",
		  "day of month: never matches (February has no such day)");
	parse_err("0 0 31 4,6 *",
		  "day of month: never matches (June has no such day)");
	parse_err("every", "every: empty duration (e.g. 90s, 10m, 1h30m, 2d)");
	parse_err("every 6", "every: \"6\": missing unit (use s, m, h, d)");
	parse_err("every 0s", "every: the interval must be at least 1s");
	parse_err(
	    "@reboot",
	    "unknown macro (use @hourly, @daily, @weekly, @monthly, @yearly)");
}

static void test_cron_next(void)
{
	set_tz("UTC");
	next_is("15 5 * * *", "2026-11-25 17:00:00 +0000",
		"2026-11-26 05:15:00 +0000");
	next_is("15 5 * * *", "2026-11-25 05:14:59 +0000",
		"2026-11-25 05:15:00 +0000");
	next_is("15 5 * * *", "2026-11-25 05:15:00 +0000",
		"2026-11-26 05:15:00 +0000");
	next_is("@daily", "2026-12-31 23:59:59 +0000",
		"2027-01-01 00:00:00 +0000");
	next_is("@hourly", "2026-12-31 23:00:00 +0000",
		"2027-01-01 00:00:00 +0000");
	next_is("0 0 1 * *", "2026-01-31 12:00:00 +0000",
		"2026-02-01 00:00:00 +0000");
	/* month ends */
	next_is("0 12 31 * *", "2026-01-31 13:00:00 +0000",
		"2026-03-31 12:00:00 +0000");
	next_is("0 12 31 * *", "2026-05-31 12:00:00 +0000",
		"2026-07-31 12:00:00 +0000");
	next_is("0 0 30 * *", "2026-01-30 00:00:00 +0000",
		"2026-03-30 00:00:00 +0000");
	next_is("59 23 31 12 *", "2026-12-31 23:59:00 +0000",
		"2027-12-31 23:59:00 +0000");
	/* leap years: 2028 is one, 2100 is not, 2000 was */
	next_is("0 0 29 2 *", "2026-03-01 00:00:00 +0000",
		"2028-02-29 00:00:00 +0000");
	next_is("0 0 29 2 *", "2096-02-29 00:00:00 +0000",
		"2104-02-29 00:00:00 +0000");
	next_is("0 0 29 2 *", "1999-06-01 00:00:00 +0000",
		"2000-02-29 00:00:00 +0000");
	next_is("0 0 28 2 *", "2028-02-28 00:00:00 +0000",
		"2029-02-28 00:00:00 +0000");
	next_is("0 0 1 3 *", "2028-02-28 10:00:00 +0000",
		"2028-03-01 00:00:00 +0000");
	/* DOM and DOW both restricted: either matches (Vixie) */
	next_is("0 9 13 * 5", "2026-11-25 10:00:00 +0000",
		"2026-11-27 09:00:00 +0000");
	next_is("0 9 13 * 5", "2026-12-12 10:00:00 +0000",
		"2026-12-13 09:00:00 +0000");
	next_is("0 9 13 * 5", "2026-12-13 10:00:00 +0000",
		"2026-12-18 09:00:00 +0000");
	/* one starts with '*': both must match (Vixie's DOM_STAR) */
	next_is("0 9 */2 * 5", "2026-11-25 10:00:00 +0000",
		"2026-11-27 09:00:00 +0000");
	next_is("0 9 */2 * 5", "2026-11-27 10:00:00 +0000",
		"2026-12-11 09:00:00 +0000");
	next_is("0 9 13 * *", "2026-11-25 10:00:00 +0000",
		"2026-12-13 09:00:00 +0000");
	next_is("0 9 * * 5", "2026-11-25 10:00:00 +0000",
		"2026-11-27 09:00:00 +0000");
	/* the 29th falling on a Sunday in February: 2032, then 2060 */
	next_is("0 0 29 2 */7", "2028-03-01 00:00:00 +0000",
		"2032-02-29 00:00:00 +0000");
	next_is("0 0 29 2 */7", "2032-03-01 00:00:00 +0000",
		"2060-02-29 00:00:00 +0000");
	/* weekdays, names, 7 = Sunday, steps */
	next_is("*/15 * * * 1-5", "2026-11-27 23:50:00 +0000",
		"2026-11-30 00:00:00 +0000");
	next_is("*/15 * * * mon-fri", "2026-11-25 10:14:59 +0000",
		"2026-11-25 10:15:00 +0000");
	next_is("30 6 * jan,jul mon-fri", "2026-11-25 00:00:00 +0000",
		"2027-01-01 06:30:00 +0000");
	next_is("30 6 * JAN,Jul Mon-Fri", "2027-01-01 06:30:00 +0000",
		"2027-01-04 06:30:00 +0000");
	next_is("0 0 * * 7", "2026-11-25 00:00:00 +0000",
		"2026-11-29 00:00:00 +0000");
	next_is("0 0 * * 0", "2026-11-25 00:00:00 +0000",
		"2026-11-29 00:00:00 +0000");
	next_is("0 0 * * 5-7", "2026-11-28 12:00:00 +0000",
		"2026-11-29 00:00:00 +0000");
	next_is("0 8-18/5 * * *", "2026-11-25 13:00:00 +0000",
		"2026-11-25 18:00:00 +0000");
	next_is("0 8-18/5 * * *", "2026-11-25 18:00:00 +0000",
		"2026-11-26 08:00:00 +0000");
	next_is("5/20 * * * *", "2026-11-25 10:45:00 +0000",
		"2026-11-25 11:05:00 +0000");
	next_is("0,30 * * * *", "2026-11-25 10:00:00 +0000",
		"2026-11-25 10:30:00 +0000");
	next_is("* * * * *", "2026-11-25 10:00:30 +0000",
		"2026-11-25 10:01:00 +0000");
	next_is("  15   5 * *  * ", "2026-11-25 17:00:00 +0000",
		"2026-11-26 05:15:00 +0000");
	next_is("@yearly", "2026-11-25 00:00:00 +0000",
		"2027-01-01 00:00:00 +0000");
	next_is("@weekly", "2026-11-25 00:00:00 +0000",
		"2026-11-29 00:00:00 +0000");
	next_is("@monthly", "2026-11-25 00:00:00 +0000",
		"2026-12-01 00:00:00 +0000");
	/* a non-UTC zone without DST */
	set_tz("Asia/Kolkata");
	next_is("15 5 * * *", "2026-11-25 00:00:00 +0000",
		"2026-11-26 05:15:00 +0530");
	set_tz("UTC");
}

static void test_dst(void)
{
	set_tz("Europe/Berlin");
	/* spring forward 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not
	 * exist; it runs at the end of the gap, once */
	next_is("30 2 * * *", "2026-03-29 00:00:00 +0100",
		"2026-03-29 03:00:00 +0200");
	next_is("30 2 * * *", "2026-03-29 03:00:00 +0200",
		"2026-03-30 02:30:00 +0200");
	next_is("*/30 * * * *", "2026-03-29 01:45:00 +0100",
		"2026-03-29 03:00:00 +0200");
	next_is("*/30 * * * *", "2026-03-29 03:00:00 +0200",
		"2026-03-29 03:30:00 +0200");
	next_is("15 5 * * *", "2026-03-28 12:00:00 +0100",
		"2026-03-29 05:15:00 +0200");
	/* fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice
	 * and runs at the first */
	next_is("30 2 * * *", "2026-10-25 00:00:00 +0200",
		"2026-10-25 02:30:00 +0200");
	next_is("30 2 * * *", "2026-10-25 02:30:00 +0200",
		"2026-10-26 02:30:00 +0100");
	next_is("30 2 * * *", "2026-10-25 02:10:00 +0100",
		"2026-10-26 02:30:00 +0100");
	next_is("0 * * * *", "2026-10-25 01:00:00 +0200",
		"2026-10-25 02:00:00 +0200");
	next_is("0 * * * *", "2026-10-25 02:00:00 +0200",
		"2026-10-25 03:00:00 +0100");
	next_is("15 5 * * *", "2026-10-24 12:00:00 +0200",
		"2026-10-25 05:15:00 +0100");
	set_tz("UTC");
}

static void test_every(void)
{
	struct bfs_schedule *s = NULL;
	time_t t = 0;

	is_int(bfs_schedule_parse("every 6h", &s, NULL), 0, "every 6h parses");
	is_int(bfs_schedule_interval(s), 21600, "interval 6h");
	is_int(bfs_schedule_next(s, 1000, &t), 0, "next");
	is_int(t, 1000 + 21600, "every 6h: last + 6h");
	is_str(bfs_schedule_text(s), "every 6h", "text kept");
	bfs_schedule_free(s);
	is_int(bfs_schedule_parse("every 2s", &s, NULL), 0, "every 2s parses");
	bfs_schedule_next(s, 5, &t);
	is_int(t, 7, "every 2s: last + 2");
	bfs_schedule_free(s);
	is_int(bfs_schedule_parse("every 1h30m", &s, NULL), 0,
	       "every 1h30m parses");
	is_int(bfs_schedule_interval(s), 5400, "interval 1h30m");
	bfs_schedule_free(s);
	s = NULL;
	is_int(bfs_schedule_parse("15 5 * * *", &s, NULL), 0, "cron parses");
	is_int(bfs_schedule_interval(s), 0, "cron: interval 0");
	bfs_schedule_free(s);
	bfs_schedule_free(NULL);
}

static void sd_is(const char *expr, const char *key, const char *want)
{
	struct bfs_schedule *s = NULL;
	struct bfs_err err = {""};
	const char *k = "(none)";
	char buf[128] = "";
	int rc;

	rc = bfs_schedule_parse(expr, &s, &err);
	if (!rc)
		rc = bfs_schedule_to_systemd(s, &k, buf, sizeof(buf), &err);
	if (rc)
		diag("rc %d: %s", rc, err.msg);
	is_str(k, key, "'%s': key", expr);
	is_str(buf, want, "'%s': systemd form", expr);
	bfs_schedule_free(s);
}

static const char *const sd_cases[][3] = {
    {"15 5 * * *", "OnCalendar", "*-*-* 05:15:00"},
    {"*/15 * * * 1-5", "OnCalendar", "Mon..Fri *-*-* *:00/15:00"},
    {"0 0 1 * *", "OnCalendar", "*-*-01 00:00:00"},
    {"0 0 29 2 *", "OnCalendar", "*-02-29 00:00:00"},
    {"30 6 * jan,jul mon-fri", "OnCalendar", "Mon..Fri *-01/6-* 06:30:00"},
    {"0 0 1 2,5,7 *", "OnCalendar", "*-02,05,07-01 00:00:00"},
    {"0 8-18/5 * * *", "OnCalendar", "*-*-* 08,13,18:00:00"},
    {"0 */2 * * *", "OnCalendar", "*-*-* 00/2:00:00"},
    {"5/20 * * * *", "OnCalendar", "*-*-* *:05/20:00"},
    {"0 0 * * 0", "OnCalendar", "Sun *-*-* 00:00:00"},
    {"0 0 * * 6,7", "OnCalendar", "Sat,Sun *-*-* 00:00:00"},
    {"0 0 * * 1,3,5", "OnCalendar", "Mon,Wed,Fri *-*-* 00:00:00"},
    {"0 0 * * 0-6", "OnCalendar", "*-*-* 00:00:00"},
    {"0 9 1-31 * 5", "OnCalendar", "*-*-* 09:00:00"},
    {"0 9 13 * 0-7", "OnCalendar", "*-*-* 09:00:00"},
    {"0 9 */2 * 5", "OnCalendar", "Fri *-*-01/2 09:00:00"},
    {"0 0 1-10,20 * *", "OnCalendar", "*-*-01..10,20 00:00:00"},
    {"1,2,3,7 0 * 3-5 *", "OnCalendar", "*-03..05-* 00:01..03,07:00"},
    {"@weekly", "OnCalendar", "Sun *-*-* 00:00:00"},
    {"every 6h", "OnUnitActiveSec", "6h"},
    {"every 90m", "OnUnitActiveSec", "1h 30min"},
    {"every 1d1s", "OnUnitActiveSec", "1d 1s"},
    {"every 2s", "OnUnitActiveSec", "2s"},
};

/* systemd-analyze calendar --base-time: its next elapses must be ours. */
static void sd_crosscheck(const char *expr, const char *cal)
{
	struct bfs_schedule *s = NULL;
	char cmd[512], line[256], want[64], got[64];
	time_t base = 1795000000, t = base; /* 2026-11-18 11:06:40 UTC */
	int n = 0, same = 0;
	FILE *p;

	bfs_schedule_parse(expr, &s, NULL);
	snprintf(cmd, sizeof(cmd),
		 "TZ=UTC systemd-analyze calendar --iterations=6 "
		 "--base-time=@%lld '%s' 2>&1",
		 (long long)base, cal);
	p = popen(cmd, "r");
	while (p && fgets(line, sizeof(line), p)) {
		char *c = strstr(line, "elapse: ");

		if (!c)
			c = strstr(line, "Iter. #");
		if (!c || !(c = strchr(c, ':')))
			continue;
		/* "Wed 2026-11-18 11:15:00 UTC" */
		if (sscanf(c + 2, "%*s %63[0-9-] %63[0-9:]", want, got) != 2)
			continue;
		snprintf(line, sizeof(line), "%s %s +0000", want, got);
		bfs_schedule_next(s, t, &t);
		fmt(t, got, sizeof(got));
		n++;
		if (strcmp(got, line) == 0)
			same++;
		else
			diag("'%s' #%d: systemd %s, ours %s", expr, n, line,
			     got);
	}
	ok(p && pclose(p) == 0 && n == 6 && same == 6,
	   "systemd-analyze agrees on 6 runs of '%s' ('%s')", expr, cal);
	bfs_schedule_free(s);
}

static void test_systemd(void)
{
	struct bfs_schedule *s = NULL;
	struct bfs_err err = {""};
	const char *k;
	char buf[128], small[8];
	size_t i;

	set_tz("UTC");
	for (i = 0; i < BFS_ARRAY_SIZE(sd_cases); i++)
		sd_is(sd_cases[i][0], sd_cases[i][1], sd_cases[i][2]);
	bfs_schedule_parse("0 9 13 * 5", &s, NULL);
	is_int(bfs_schedule_to_systemd(s, &k, buf, sizeof(buf), &err), -EINVAL,
	       "DOM and DOW both restricted: not expressible");
	is_str(
	    err.msg,
	    "\"0 9 13 * 5\": day of month and day of week are both restricted, "
	    "so cron runs on days matching either; systemd's OnCalendar= needs "
	    "both (use \"*\" in one of them, or two timers)",
	    "message explains why");
	bfs_schedule_free(s);
	bfs_schedule_parse("15 5 * * *", &s, NULL);
	is_int(bfs_schedule_to_systemd(s, &k, small, sizeof(small), NULL),
	       -ENOSPC, "small buffer: -ENOSPC");
	bfs_schedule_free(s);

	if (system("systemd-analyze --version >/dev/null 2>&1") != 0) {
		diag("systemd-analyze not found: cross-check skipped");
		return;
	}
	for (i = 0; i < BFS_ARRAY_SIZE(sd_cases); i++)
		if (strcmp(sd_cases[i][1], "OnCalendar") == 0)
			sd_crosscheck(sd_cases[i][0], sd_cases[i][2]);
	for (i = 0; i < BFS_ARRAY_SIZE(sd_cases); i++) {
		char cmd[256];

		if (strcmp(sd_cases[i][1], "OnUnitActiveSec") != 0)
			continue;
		bfs_schedule_parse(sd_cases[i][0], &s, NULL);
		snprintf(cmd, sizeof(cmd),
			 "test \"$(systemd-analyze timespan '%s' | sed -n 's/^ "
			 "*μs: //p')\" = %llu000000",
			 sd_cases[i][2],
			 (unsigned long long)bfs_schedule_interval(s));
		is_int(system(cmd), 0, "systemd-analyze timespan '%s' is %llus",
		       sd_cases[i][2],
		       (unsigned long long)bfs_schedule_interval(s));
		bfs_schedule_free(s);
	}
}

static void test_plan(void)
{
	struct bfs_schedule *daily, *every, *every2;
	struct bfs_sched_entry e[4];
	time_t started = at("2026-11-25 10:00:00 +0000"), now, wake = 0;
	char b[64];
	int n;

	set_tz("UTC");
	bfs_schedule_parse("15 5 * * *", &daily, NULL);
	bfs_schedule_parse("every 6h", &every, NULL);
	bfs_schedule_parse("every 2s", &every2, NULL);

	/* never run: cron waits for its slot, every for start + interval */
	memset(e, 0, sizeof(e));
	e[0].schedule = daily;
	e[1].schedule = every;
	e[2].schedule = NULL;
	now = started;
	n = bfs_schedule_plan(e, 3, now, started, &wake);
	is_int(n, 0, "fresh start: nothing due");
	is_str(fmt(e[0].next, b, sizeof(b)), "2026-11-26 05:15:00 +0000",
	       "cron next: tomorrow 05:15");
	is_int(e[1].next, started + 21600, "every next: start + 6h");
	ok(!e[2].due, "no schedule: never due");
	is_int(wake, started + 21600, "wake at the earliest next");

	now = at("2026-11-26 05:15:00 +0000");
	n = bfs_schedule_plan(e, 3, now, started, &wake);
	is_int(n, 2, "both due at 05:15 the next day");
	ok(e[0].due && e[1].due, "cron and every due");
	is_int(wake, now, "wake now when something is due");

	/* a job is running: not due, and not woken for */
	e[0].running = true;
	n = bfs_schedule_plan(e, 2, now, started, &wake);
	is_int(n, 1, "running job is not due");
	ok(!e[0].due && e[1].due, "only the idle one");
	e[0].running = false;

	/* the slot of the very second of start-up counts */
	n = bfs_schedule_plan(e, 1, at("2026-11-26 05:15:00 +0000"),
			      at("2026-11-26 05:15:00 +0000"), &wake);
	is_int(n, 1, "started at 05:15:00: the 05:15 run is due");

	/* ran at 05:15 today: next is tomorrow */
	e[0].has_last = true;
	e[0].last_run = at("2026-11-26 05:15:03 +0000");
	now = at("2026-11-26 05:20:00 +0000");
	n = bfs_schedule_plan(e, 1, now, started, &wake);
	is_int(n, 0, "just ran: not due");
	is_str(fmt(wake, b, sizeof(b)), "2026-11-27 05:15:00 +0000",
	       "wake tomorrow at 05:15");

	/* host down over two slots: catch_up runs once at start-up */
	e[0].last_run = at("2026-11-20 05:15:00 +0000");
	e[0].catch_up = true;
	n = bfs_schedule_plan(e, 1, started, started, &wake);
	is_int(n, 1, "missed runs: catch_up makes one due");
	is_int(wake, started, "wake now");
	e[0].catch_up = false;
	n = bfs_schedule_plan(e, 1, started, started, &wake);
	is_int(n, 0, "missed runs without catch_up: not due");
	is_str(fmt(e[0].next, b, sizeof(b)), "2026-11-26 05:15:00 +0000",
	       "without catch_up: the next slot after start-up");

	/* every: anchored on the last run; missed without catch_up stays
	 * on the grid */
	memset(e, 0, sizeof(e));
	e[0].schedule = every;
	e[0].has_last = true;
	e[0].last_run = started - 3600;
	n = bfs_schedule_plan(e, 1, started, started, &wake);
	is_int(n, 0, "every 6h, ran 1h ago: not due");
	is_int(e[0].next, started + 5 * 3600, "next in 5h");
	e[0].last_run = started - 13 * 3600;
	n = bfs_schedule_plan(e, 1, started, started, &wake);
	is_int(n, 0, "every 6h, last 13h ago, no catch_up: not due");
	is_int(e[0].next, started + 5 * 3600, "next on the grid: +18h");
	e[0].catch_up = true;
	n = bfs_schedule_plan(e, 1, started, started, &wake);
	is_int(n, 1, "with catch_up: due now");

	/* a fake clock driving "every 2s" for 10 s: 5 runs, never twice at
	 * once, no sleeping */
	memset(e, 0, sizeof(e));
	e[0].schedule = every2;
	{
		int runs = 0;
		time_t t;

		for (t = started; t <= started + 10; t++) {
			if (bfs_schedule_plan(e, 1, t, started, &wake) == 1) {
				runs++;
				e[0].has_last = true;
				e[0].last_run = t;
			}
			ok(wake > t || e[0].due, "t+%lld: wake %lld is ahead",
			   (long long)(t - started),
			   (long long)(wake - started));
		}
		is_int(runs, 5, "every 2s over 10 s: 5 runs");
	}

	/* several entries: the wake-up is the earliest */
	memset(e, 0, sizeof(e));
	e[0].schedule = daily;
	e[1].schedule = every2;
	e[2].schedule = every;
	n = bfs_schedule_plan(e, 3, started, started, &wake);
	is_int(wake, started + 2, "earliest of three");

	bfs_schedule_free(daily);
	bfs_schedule_free(every);
	bfs_schedule_free(every2);
}

int main(void)
{
	test_durations();
	test_parse_errors();
	test_cron_next();
	test_dst();
	test_every();
	test_systemd();
	test_plan();
	return tap_done();
}
