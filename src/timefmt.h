/* timefmt.h - RFC 3339 times for `backupfs backup --time TIME` and for
 * JSON output, plus the calendar arithmetic the retention policy needs
 * (src/retention.c), done the way Go's time package does it so that
 * backupfs agrees with restic to the second.
 *
 * Times are int64 nanoseconds since the Unix epoch (UTC), which covers
 * 1677-09-21 .. 2262-04-11; anything outside is -ERANGE.  "Local" means
 * the zone of the TZ environment variable, read through localtime_r(3)
 * (tzset is called by the C library as needed).
 *
 * Thread safety: every function is reentrant, but the C library's zone
 * state follows TZ, so do not change TZ while another thread calls these.
 */
#ifndef BFS_TIMEFMT_H
#define BFS_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bfs_err;

/* Room for any string bfs_time_format writes, NUL included. */
#define BFS_TIME_STRLEN 40

/* Parse a backup time.  Accepted forms (nothing else, no surrounding
 * blanks):
 *   2026-11-20T05:15:00Z            RFC 3339, UTC ('t', 'z' also taken)
 *   2026-11-20T05:15:00+01:00       RFC 3339 with an offset (-HH:MM too)
 *   2026-11-20T05:15:00.123456789Z  fractional seconds, 1 or more digits
 *                                   (digits past the 9th are dropped)
 *   2026-11-20 05:15:00             local time (TZ), as restic's --time;
 *   2026-11-20T05:15:00             also local time; a fraction is allowed
 * A local time that does not exist or exists twice (a DST change) is
 * resolved exactly as Go's time.Date and so as restic: with W the wall
 * clock read as if it were UTC, the result is W - off(W - off(W)), off()
 * being the local UTC offset at an instant (in Europe/Berlin 02:30 on the
 * spring day becomes 03:30 CEST, and 02:30 on the autumn day the second,
 * CET one).  Ranges are checked (month 1-12, day within the month, leap
 * years, hour 0-23, minute 0-59, second 0-59, offset up to 23:59).
 * On success *ns is set.  Returns 0, -EINVAL (err names the position and
 * what was expected there) or -ERANGE (outside the int64 nanosecond
 * range). */
int bfs_time_parse(const char *s, int64_t *ns, struct bfs_err *err);

/* Format ns as RFC 3339 with nanoseconds, trailing zeros of the fraction
 * and the fraction itself dropped when zero (Go's time.RFC3339Nano).
 * utc: "…Z"; otherwise local time with its offset ("+01:00", or "Z" when
 * the local offset is zero, as Go prints it).  buf needs
 * BFS_TIME_STRLEN bytes.  Returns 0, -EINVAL (size too small) or -ERANGE
 * (the C library cannot convert the time). */
int bfs_time_format(int64_t ns, bool utc, char *buf, size_t size);

/* Days from 1970-01-01 to the given proleptic Gregorian date (month 1-12,
 * day 1-31; not range-checked). */
int64_t bfs_time_days_from_civil(int64_t year, int month, int day);

/* The Unix time (seconds) of a local wall-clock time, exactly as Go's
 * time.Date(year, month, day, hour, min, sec, 0, loc) computes it:
 * month and day may be out of range and are normalised (month 13 is
 * January of the next year, day 0 the last day of the previous month);
 * then the wall clock is converted with the rule described at
 * bfs_time_parse.  utc: use UTC instead of the local zone.
 * Returns 0 or -ERANGE (the C library cannot convert). */
int bfs_time_from_wall(int64_t year, int64_t month, int64_t day, int hour,
		       int min, int sec, bool utc, int64_t *out);

/* Split a Unix time (seconds) into local (or UTC) calendar fields via
 * localtime_r/gmtime_r.  Returns 0 or -ERANGE. */
struct tm;
int bfs_time_split(int64_t sec, bool utc, struct tm *tm);

/* Floor division of a nanosecond time into seconds and [0, 1e9) ns. */
static inline void bfs_time_sec_nsec(int64_t ns, int64_t *sec, int32_t *nsec)
{
	int64_t s = ns / 1000000000, r = ns % 1000000000;

	if (r < 0) {
		r += 1000000000;
		s--;
	}
	*sec = s;
	*nsec = (int32_t)r;
}

#endif
