/* timefmt.c - RFC 3339 parsing and formatting, Go-compatible calendar
 * arithmetic.  See timefmt.h. */
#include "timefmt.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

int64_t bfs_time_days_from_civil(int64_t year, int month, int day)
{
	int64_t y = year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

int bfs_time_split(int64_t sec, bool utc, struct tm *tm)
{
	time_t t = (time_t)sec;

	if ((int64_t)t != sec)
		return -ERANGE;
	if (utc ? !gmtime_r(&t, tm) : !localtime_r(&t, tm))
		return -ERANGE;
	return 0;
}

/* The local zone's UTC offset (seconds east) at instant sec. */
static int local_offset(int64_t sec, long *off)
{
	struct tm tm;
	int rc = bfs_time_split(sec, false, &tm);

	if (rc == 0)
		*off = tm.tm_gmtoff;
	return rc;
}

int bfs_time_from_wall(int64_t year, int64_t month, int64_t day, int hour,
		       int min, int sec, bool utc, int64_t *out)
{
	int64_t m0, q, days, wall, utc1;
	long off1, off2;
	int rc;

	/* Far beyond anything an int64 nanosecond time can hold. */
	if (year < -1000000 || year > 1000000 || month < -12000000 ||
	    month > 12000000 || day < -400000000 || day > 400000000)
		return -ERANGE;
	m0 = month - 1;
	q = m0 >= 0 ? m0 / 12 : -((11 - m0) / 12); /* floor(m0 / 12) */
	year += q;
	m0 -= q * 12;
	days = bfs_time_days_from_civil(year, (int)m0 + 1, 1) + day - 1;
	wall = days * 86400 + (int64_t)hour * 3600 + (int64_t)min * 60 + sec;
	if (utc) {
		*out = wall;
		return 0;
	}
	/* Go's Date: look the offset up at the wall clock read as UTC, and
	 * if the instant that gives lies in another zone period, use that
	 * period's offset.  Both cases reduce to off(W - off(W)). */
	rc = local_offset(wall, &off1);
	if (rc)
		return rc;
	utc1 = wall - off1;
	rc = local_offset(utc1, &off2);
	if (rc)
		return rc;
	*out = wall - off2;
	return 0;
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Parser state: the input and a cursor, for precise messages. */
struct tp {
	const char *s;
	size_t pos;
	struct bfs_err *err;
};

static int tp_fail(struct tp *p, const char *what)
{
	char found[24];
	unsigned char c = (unsigned char)p->s[p->pos];

	if (c == '\0')
		snprintf(found, sizeof(found), "the end");
	else if (c >= 0x21 && c < 0x7f)
		snprintf(found, sizeof(found), "'%c'", c);
	else
		snprintf(found, sizeof(found), "byte 0x%02x", c);
	return bfs_err_set(p->err, -EINVAL,
			   "time \"%.64s\": at position %zu: expected %s, "
			   "found %s (use 2026-11-20T05:15:00Z, an offset "
			   "such as +01:00, or local 2026-11-20 05:15:00)",
			   p->s, p->pos + 1, what, found);
}

/* Exactly n decimal digits. */
static int tp_digits(struct tp *p, int n, const char *what, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = p->s[p->pos];

		if (c < '0' || c > '9')
			return tp_fail(p, what);
		v = v * 10 + (c - '0');
		p->pos++;
	}
	*out = v;
	return 0;
}

static int tp_char(struct tp *p, const char *set, const char *what)
{
	char c = p->s[p->pos];

	if (c == '\0' || !strchr(set, c))
		return tp_fail(p, what);
	p->pos++;
	return 0;
}

static int tp_range(struct tp *p, size_t at, int v, int lo, int hi,
		    const char *field)
{
	if (v >= lo && v <= hi)
		return 0;
	return bfs_err_set(p->err, -EINVAL,
			   "time \"%.64s\": at position %zu: %s %d is out of "
			   "range (%d-%d)",
			   p->s, at + 1, field, v, lo, hi);
}

int bfs_time_parse(const char *s, int64_t *ns, struct bfs_err *err)
{
	struct tp p = {.s = s ? s : "", .pos = 0, .err = err};
	int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
	int oh = 0, om = 0, sign = 0;
	int32_t frac = 0;
	size_t at_mon, at_day, at_hour, at_min, at_sec, at_oh = 0, at_om = 0;
	int64_t secs, out;
	int rc;

	if ((rc = tp_digits(&p, 4, "a 4-digit year", &year)) ||
	    (rc = tp_char(&p, "-", "'-' after the year")))
		return rc;
	at_mon = p.pos;
	if ((rc = tp_digits(&p, 2, "a 2-digit month", &mon)) ||
	    (rc = tp_char(&p, "-", "'-' after the month")))
		return rc;
	at_day = p.pos;
	if ((rc = tp_digits(&p, 2, "a 2-digit day", &day)) ||
	    (rc = tp_char(&p, "Tt ", "'T' or a space after the date")))
		return rc;
	at_hour = p.pos;
	if ((rc = tp_digits(&p, 2, "a 2-digit hour", &hour)) ||
	    (rc = tp_char(&p, ":", "':' after the hour")))
		return rc;
	at_min = p.pos;
	if ((rc = tp_digits(&p, 2, "2-digit minutes", &min)) ||
	    (rc = tp_char(&p, ":", "':' after the minutes")))
		return rc;
	at_sec = p.pos;
	if ((rc = tp_digits(&p, 2, "2-digit seconds", &sec)))
		return rc;
	if (s[p.pos] == '.' || s[p.pos] == ',') {
		int ndig = 0;

		p.pos++;
		while (s[p.pos] >= '0' && s[p.pos] <= '9') {
			if (ndig < 9)
				frac = frac * 10 + (s[p.pos] - '0');
			ndig++;
			p.pos++;
		}
		if (ndig == 0)
			return tp_fail(&p, "digits after the decimal point");
		for (; ndig < 9; ndig++)
			frac *= 10;
	}
	if (s[p.pos] == 'Z' || s[p.pos] == 'z') {
		sign = 1;
		p.pos++;
	} else if (s[p.pos] == '+' || s[p.pos] == '-') {
		sign = s[p.pos] == '+' ? 1 : -1;
		p.pos++;
		at_oh = p.pos;
		if ((rc = tp_digits(&p, 2, "a 2-digit offset hour", &oh)) ||
		    (rc = tp_char(&p, ":", "':' in the offset (+HH:MM)")))
			return rc;
		at_om = p.pos;
		if ((rc = tp_digits(&p, 2, "2-digit offset minutes", &om)))
			return rc;
	}
	if (s[p.pos] != '\0')
		return tp_fail(&p,
			       sign ? "the end"
				    : "the end, 'Z', an offset or a fraction");

	if ((rc = tp_range(&p, at_mon, mon, 1, 12, "month")) ||
	    (rc = tp_range(&p, at_day, day, 1, days_in_month(year, mon),
			   "day")) ||
	    (rc = tp_range(&p, at_hour, hour, 0, 23, "hour")) ||
	    (rc = tp_range(&p, at_min, min, 0, 59, "minute")) ||
	    (rc = tp_range(&p, at_sec, sec, 0, 59, "second")))
		return rc;
	if (sign && at_oh &&
	    ((rc = tp_range(&p, at_oh, oh, 0, 23, "offset hour")) ||
	     (rc = tp_range(&p, at_om, om, 0, 59, "offset minute"))))
		return rc;

	if (sign) {
		secs = bfs_time_days_from_civil(year, mon, day) * 86400 +
		       hour * 3600 + min * 60 + sec -
		       sign * (oh * 3600 + om * 60);
	} else {
		rc = bfs_time_from_wall(year, mon, day, hour, min, sec, false,
					&secs);
		if (rc)
			return bfs_err_set(err, rc,
					   "time \"%.64s\": cannot "
					   "convert the local time",
					   s);
	}
	if (__builtin_mul_overflow(secs, (int64_t)1000000000, &out) ||
	    __builtin_add_overflow(out, (int64_t)frac, &out))
		return bfs_err_set(err, -ERANGE,
				   "time \"%.64s\" is outside "
				   "1677-09-21..2262-04-11",
				   s);
	*ns = out;
	return 0;
}

int bfs_time_format(int64_t ns, bool utc, char *buf, size_t size)
{
	int64_t sec;
	int32_t nsec;
	struct tm tm;
	char frac[16] = "", zone[24] = "Z";
	long off;
	int rc, n;

	if (size < BFS_TIME_STRLEN)
		return -EINVAL;
	bfs_time_sec_nsec(ns, &sec, &nsec);
	rc = bfs_time_split(sec, utc, &tm);
	if (rc)
		return rc;
	if (nsec) {
		int len;

		snprintf(frac, sizeof(frac), ".%09d", (int)nsec);
		len = (int)strlen(frac);
		while (frac[len - 1] == '0')
			frac[--len] = '\0';
	}
	off = utc ? 0 : tm.tm_gmtoff;
	if (off) {
		int a = (int)((off < 0 ? -off : off) % 86400);

		snprintf(zone, sizeof(zone), "%c%02d:%02d", off < 0 ? '-' : '+',
			 a / 3600, a / 60 % 60);
	}
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%s%s",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, frac, zone);
	return n > 0 && (size_t)n < size ? 0 : -ERANGE;
}
