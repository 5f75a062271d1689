/* schedule.h - when a job runs: durations, cron expressions and "every
 * DURATION" schedules, the next run time in local time, the conversion to
 * systemd timer settings, and the scheduler's pure decision function.
 *
 * Nothing here sleeps, reads a clock or touches a file: every function
 * takes the times it needs, so the scheduler can be tested with a fake
 * clock.  doc/JOBS.md describes the syntax for users.
 *
 * Thread safety: a parsed schedule is immutable and may be shared.  Local
 * time comes from localtime_r(3); glibc reads TZ once, so a program that
 * changes TZ must call tzset() before the next call (the tests do).
 */
#ifndef BFS_SCHEDULE_H
#define BFS_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct bfs_err;

/* The largest duration accepted anywhere: 3650 days. */
#define BFS_DURATION_MAX (3650ULL * 86400)

/* Parse a duration: one or more NUMBER UNIT pairs, no blanks, units s, m,
 * h, d ("90s", "10m", "1h30m", "2d").  *secs gets the total in seconds.
 * Returns 0, or -EINVAL with a message that quotes s (durations are never
 * secrets): "\"10x\": unknown unit (use s, m, h, d)". */
int bfs_duration_parse(const char *s, uint64_t *secs, struct bfs_err *err);

/* Format secs as the parser reads it ("1h30m", "0s") into buf (>= 32
 * bytes).  bfs_duration_parse(buf) gives secs back. */
void bfs_duration_format(uint64_t secs, char *buf, size_t n);

/* A parsed schedule (opaque, immutable). */
struct bfs_schedule;

/* Parse a schedule:
 *  - "every DURATION" (DURATION >= 1s), or
 *  - a 5-field cron expression "MIN HOUR DOM MONTH DOW" with *, lists,
 *    ranges, steps (*\/N, A-B/N, A/N), month names jan-dec, day names
 *    sun-sat (0 and 7 are Sunday), or one of @hourly, @daily, @midnight,
 *    @weekly, @monthly, @yearly, @annually.
 * *out is allocated; free with bfs_schedule_free.  Returns 0, -ENOMEM, or
 * -EINVAL with a message naming the field and item ("hour: \"25\": out of
 * range (0-23)"), also for expressions that can never match ("0 0 30 2 *").
 */
int bfs_schedule_parse(const char *text, struct bfs_schedule **out,
		       struct bfs_err *err);

/* Release a schedule.  NULL is a no-op. */
void bfs_schedule_free(struct bfs_schedule *s);

/* The text the schedule was parsed from (borrowed from s). */
const char *bfs_schedule_text(const struct bfs_schedule *s);

/* The interval of an "every" schedule in seconds, 0 for a cron one. */
uint64_t bfs_schedule_interval(const struct bfs_schedule *s);

/* The next run strictly after `after`:
 *  - every: after + interval (pass the last run, or the start-up time if
 *    the job never ran);
 *  - cron: the first local wall-clock time (seconds :00) > after that
 *    matches, in the zone of TZ.  Day of month and day of week follow
 *    Vixie cron: when both fields are restricted (neither starts with
 *    '*') a day matching either runs; otherwise both must match.
 *    DST: a wall time that does not exist (spring forward) runs at the
 *    first instant after the gap; a wall time that occurs twice (fall
 *    back) runs once, at its first occurrence.
 * Returns 0, -ERANGE if the answer does not fit time_t, -ENOENT if
 * nothing matches within 400 years (cannot happen for a parsed schedule).
 */
int bfs_schedule_next(const struct bfs_schedule *s, time_t after, time_t *next);

/* The systemd timer setting for s, for `backupfs job enable`:
 *  - cron: *key = "OnCalendar" and buf the calendar event, e.g.
 *    "15 5 * * *" -> "*-*-* 05:15:00",
 *    "*\/15 * * * 1-5" -> "Mon..Fri *-*-* *:00/15:00";
 *  - every: *key = "OnUnitActiveSec" and buf the time span ("6h",
 *    "1h 30min").  The unit also needs OnActiveSec= (or OnBootSec=) to
 *    start the first interval.
 * Returns 0, -ENOSPC if buf (>= 128 bytes is enough) is too small, or
 * -EINVAL with a message for a cron expression systemd cannot express
 * exactly (both day of month and day of week restricted: cron's "either"
 * rule).  *key is borrowed static text. */
int bfs_schedule_to_systemd(const struct bfs_schedule *s, const char **key,
			    char *buf, size_t n, struct bfs_err *err);

/* The scheduler's decision, one entry per job.  The caller fills the
 * inputs; bfs_schedule_plan fills due and next. */
struct bfs_sched_entry {
	/* in */
	const struct bfs_schedule *schedule; /* borrowed; NULL: never runs */
	bool has_last;	 /* the state file knows a last run */
	time_t last_run; /* when that run started */
	bool catch_up;	 /* run once at start-up if a run was missed */
	bool running;	 /* a run is in progress: never due */
	/* out */
	bool due;    /* start it now */
	time_t next; /* when it is due (<= now if due); unset if
			the schedule is NULL or running */
};

/* Decide which jobs are due at `now` and when to wake up next.  For each
 * entry with a schedule that is not running:
 *  - the slot is the next run after the last run, or after start-up
 *    (`started`) if the job never ran: bfs_schedule_next(last_run), or
 *    (started - 1) for a cron schedule that never ran, so a slot at the
 *    very second of start-up counts; started + interval for "every";
 *  - a slot <= now is due.  A slot that fell while the scheduler was not
 *    running (slot < started) is due only with catch_up; without it the
 *    job waits for the first slot at or after start-up.  However many
 *    slots were missed or overrun, one run is due.
 * *wake gets the earliest next of the entries considered (now if any is
 * due), or -1 if none has a schedule.  Returns the number of due entries,
 * or a negative errno from bfs_schedule_next.  Pure: no clock, no I/O. */
int bfs_schedule_plan(struct bfs_sched_entry *e, size_t n, time_t now,
		      time_t started, time_t *wake);

#endif
