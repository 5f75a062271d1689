/* schedule.c - durations, cron and "every" schedules, next run times in
 * local time, systemd timer settings, the scheduler's decision. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"
#include "util.h"

struct bfs_schedule {
	char *text;
	uint64_t interval;	 /* every: seconds; 0 for cron */
	uint64_t minutes;	 /* bit i: minute i (0-59) */
	uint32_t hours;		 /* bit i: hour i (0-23) */
	uint32_t doms;		 /* bit i: day of month i (1-31) */
	uint16_t months;	 /* bit i: month i (1-12) */
	uint8_t dows;		 /* bit i: weekday i (0-6, 0 = Sunday) */
	bool dom_star, dow_star; /* the field started with '*' (Vixie) */
};

/* ---- durations --------------------------------------------------------- */

/* Quote a user string for a message: at most 40 bytes, control bytes and
 * quotes replaced, so a message stays one readable line. */
static void quote(char *out, size_t n, const char *s)
{
	size_t i, o = 0;

	if (n < 8) {
		out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (i = 0; s[i] && o + 5 < n && i < 40; i++)
		out[o++] =
		    (s[i] < 0x20 || s[i] == 0x7f || s[i] == '"') ? '?' : s[i];
	if (s[i] && o + 5 < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
}

int bfs_duration_parse(const char *s, uint64_t *secs, struct bfs_err *err)
{
	uint64_t total = 0, v, mult;
	const char *p = s;
	char q[64];

	quote(q, sizeof(q), s);
	if (!*p)
		return bfs_err_set(err, -EINVAL,
				   "empty duration (e.g. 90s, 10m, 1h30m, 2d)");
	while (*p) {
		if (!isdigit((unsigned char)*p)) {
			char c = isprint((unsigned char)*p) ? *p : '?';

			return bfs_err_set(err, -EINVAL,
					   "%s: expected a number at '%c' "
					   "(e.g. 90s, 10m, 1h30m, 2d)",
					   q, c);
		}
		for (v = 0; isdigit((unsigned char)*p); p++) {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > BFS_DURATION_MAX)
				return bfs_err_set(
				    err, -EINVAL,
				    "%s: too long (at most 3650d)", q);
		}
		switch (*p) {
		case 's':
			mult = 1;
			break;
		case 'm':
			mult = 60;
			break;
		case 'h':
			mult = 3600;
			break;
		case 'd':
			mult = 86400;
			break;
		case '\0':
			return bfs_err_set(err, -EINVAL,
					   "%s: missing unit (use s, m, h, d)",
					   q);
		default:
			return bfs_err_set(err, -EINVAL,
					   "%s: unknown unit (use s, m, h, d)",
					   q);
		}
		p++;
		total += v * mult; /* v, total <= 3650d: no overflow */
		if (total > BFS_DURATION_MAX)
			return bfs_err_set(err, -EINVAL,
					   "%s: too long (at most 3650d)", q);
	}
	*secs = total;
	return 0;
}

void bfs_duration_format(uint64_t secs, char *buf, size_t n)
{
	static const struct {
		char unit;
		uint64_t mult;
	} u[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	size_t i, o = 0;

	if (!n)
		return;
	buf[0] = '\0';
	if (secs == 0) {
		snprintf(buf, n, "0s");
		return;
	}
	for (i = 0; i < BFS_ARRAY_SIZE(u) && o < n; i++) {
		if (secs < u[i].mult)
			continue;
		o += (size_t)snprintf(buf + o, n - o, "%llu%c",
				      (unsigned long long)(secs / u[i].mult),
				      u[i].unit);
		secs %= u[i].mult;
	}
}

/* ---- cron parsing ------------------------------------------------------ */

struct field {
	const char *name;
	unsigned lo, hi;
	const char *const *names; /* names[i] is value lo + i, or NULL */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may",
					  "jun", "jul", "aug", "sep", "oct",
					  "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed",
					"thu", "fri", "sat", NULL};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL},	      {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day of week", 0, 7, dow_names},
};

/* One value of field f at *p (a number or a name); advances *p. */
static int parse_value(const struct field *f, const char **p, unsigned *v,
		       const char *item, struct bfs_err *err)
{
	const char *s = *p;
	unsigned long n = 0;
	char q[64];
	size_t i;

	quote(q, sizeof(q), item);
	if (isdigit((unsigned char)*s)) {
		for (; isdigit((unsigned char)*s); s++) {
			n = n * 10 + (unsigned long)(*s - '0');
			if (n > 1000)
				break;
		}
		if (n < f->lo || n > f->hi)
			return bfs_err_set(
			    err, -EINVAL, "%s: %s: %lu is out of range (%u-%u)",
			    f->name, q, n, f->lo, f->hi);
		*v = (unsigned)n;
		*p = s;
		return 0;
	}
	for (i = 0; f->names && f->names[i]; i++) {
		if (strncasecmp(s, f->names[i], 3) == 0 &&
		    !isalpha((unsigned char)s[3])) {
			*v = f->lo + (unsigned)i;
			*p = s + 3;
			return 0;
		}
	}
	if (f->names)
		return bfs_err_set(err, -EINVAL,
				   "%s: %s: expected a number or a %s name",
				   f->name, q,
				   f->names == month_names ? "month (jan-dec)"
							   : "day (sun-sat)");
	return bfs_err_set(err, -EINVAL, "%s: %s: expected a number", f->name,
			   q);
}

/* One comma-separated item: *, *\/S, A, A-B, A-B/S, A/S.  Sets bits. */
static int parse_item(const struct field *f, const char *item, uint64_t *bits,
		      struct bfs_err *err)
{
	const char *p = item;
	unsigned a, b, step = 1, v;
	char q[64];
	int rc;

	quote(q, sizeof(q), item);
	if (*p == '*') {
		a = f->lo;
		b = f->hi == 7 ? 6 : f->hi; /* '*' in day of week: 0-6 */
		p++;
	} else {
		rc = parse_value(f, &p, &a, item, err);
		if (rc)
			return rc;
		b = a;
		if (*p == '-') {
			p++;
			rc = parse_value(f, &p, &b, item, err);
			if (rc)
				return rc;
			if (b < a)
				return bfs_err_set(
				    err, -EINVAL,
				    "%s: %s: range goes backwards", f->name, q);
		} else if (*p == '/') {
			b = f->hi == 7 ? 6 : f->hi; /* A/S: A to the end */
		}
	}
	if (*p == '/') {
		unsigned long n = 0;

		p++;
		if (!isdigit((unsigned char)*p))
			return bfs_err_set(
			    err, -EINVAL,
			    "%s: %s: expected a step number after '/'", f->name,
			    q);
		for (; isdigit((unsigned char)*p); p++) {
			n = n * 10 + (unsigned long)(*p - '0');
			if (n > 1000)
				break;
		}
		if (n == 0 || n > f->hi - f->lo + 1)
			return bfs_err_set(err, -EINVAL,
					   "%s: %s: step must be 1-%u", f->name,
					   q, f->hi - f->lo + 1);
		step = (unsigned)n;
	}
	if (*p)
		return bfs_err_set(err, -EINVAL, "%s: %s: unexpected '%c'",
				   f->name, q,
				   isprint((unsigned char)*p) ? *p : '?');
	for (v = a; v <= b; v += step)
		*bits |= 1ULL << (v == 7 && f->hi == 7 ? 0 : v);
	return 0;
}

static int parse_field(const struct field *f, const char *text, uint64_t *bits,
		       struct bfs_err *err)
{
	char item[64];
	const char *p = text, *comma;
	size_t len;
	int rc;

	*bits = 0;
	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0)
			return bfs_err_set(err, -EINVAL, "%s: empty list item",
					   f->name);
		if (len >= sizeof(item))
			return bfs_err_set(err, -EINVAL, "%s: item too long",
					   f->name);
		memcpy(item, p, len);
		item[len] = '\0';
		rc = parse_item(f, item, bits, err);
		if (rc)
			return rc;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

static bool leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned mdays(long y, unsigned m)
{
	static const unsigned d[] = {31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31};

	return m == 2 && leap(y) ? 29 : d[m - 1];
}

static const char *const month_full[] = {
    "January", "February", "March",	"April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December"};

/* A day-of-month/month combination that exists (Feb 29 counts). */
static int check_reachable(const struct bfs_schedule *s, struct bfs_err *err)
{
	unsigned m, d, last = 0;

	if (!s->dom_star && !s->dow_star)
		return 0; /* either field matches: every week has a day */
	for (m = 1; m <= 12; m++) {
		if (!(s->months & (1u << m)))
			continue;
		last = m;
		for (d = 1; d <= mdays(2000, m); d++)
			if (s->doms & (1u << d))
				return 0;
	}
	return bfs_err_set(err, -EINVAL,
			   "day of month: never matches (%s has no such day)",
			   last ? month_full[last - 1] : "no month");
}

static const struct {
	const char *name, *cron;
} macros[] = {
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static int parse_cron(struct bfs_schedule *s, const char *text,
		      struct bfs_err *err)
{
	char buf[256], *f[6];
	uint64_t bits[5];
	size_t nf = 0, i;
	char *p;
	int rc;

	for (i = 0; i < BFS_ARRAY_SIZE(macros); i++)
		if (strcmp(text, macros[i].name) == 0)
			text = macros[i].cron;
	if (text[0] == '@')
		return bfs_err_set(err, -EINVAL,
				   "unknown macro (use @hourly, @daily, "
				   "@weekly, @monthly, @yearly)");
	if (strlen(text) >= sizeof(buf))
		return bfs_err_set(err, -EINVAL, "too long");
	memcpy(buf, text, strlen(text) + 1);
	for (p = buf; *p;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		if (nf < BFS_ARRAY_SIZE(f))
			f[nf] = p;
		nf++;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	if (nf != 5)
		return bfs_err_set(
		    err, -EINVAL,
		    "expected 5 fields (minute hour day-of-month month "
		    "day-of-week) or \"every DURATION\", got %zu",
		    nf);
	for (i = 0; i < 5; i++) {
		rc = parse_field(&fields[i], f[i], &bits[i], err);
		if (rc)
			return rc;
	}
	s->minutes = bits[0];
	s->hours = (uint32_t)bits[1];
	s->doms = (uint32_t)bits[2];
	s->months = (uint16_t)bits[3];
	s->dows = (uint8_t)bits[4];
	s->dom_star = f[2][0] == '*';
	s->dow_star = f[4][0] == '*';
	return check_reachable(s, err);
}

int bfs_schedule_parse(const char *text, struct bfs_schedule **out,
		       struct bfs_err *err)
{
	struct bfs_schedule *s;
	const char *p;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	s->text = strdup(text);
	if (!s->text) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	p = text + strspn(text, " \t");
	if (!*p) {
		rc = bfs_err_set(err, -EINVAL,
				 "empty schedule (a cron expression like \"15 "
				 "5 * * *\" or \"every 6h\")");
		goto out_free;
	}
	if (strncmp(p, "every", 5) == 0 && (p[5] == ' ' || !p[5])) {
		p += 5 + strspn(p + 5, " \t");
		rc = bfs_duration_parse(p, &s->interval, err);
		if (rc) {
			bfs_err_prefix(err, rc, "every");
			goto out_free;
		}
		if (s->interval == 0) {
			rc = bfs_err_set(
			    err, -EINVAL,
			    "every: the interval must be at least 1s");
			goto out_free;
		}
	} else {
		rc = parse_cron(s, p, err);
		if (rc)
			goto out_free;
	}
	*out = s;
	return 0;
out_free:
	bfs_schedule_free(s);
	return rc;
}

void bfs_schedule_free(struct bfs_schedule *s)
{
	if (!s)
		return;
	free(s->text);
	free(s);
}

const char *bfs_schedule_text(const struct bfs_schedule *s)
{
	return s->text;
}

uint64_t bfs_schedule_interval(const struct bfs_schedule *s)
{
	return s->interval;
}

/* ---- next run ---------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The local wall clock of t as seconds on a UTC-like axis, and the UTC
 * offset in force at t. */
static int local_key(time_t t, int64_t *key, long *off)
{
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return -ERANGE;
	*key = days_from_civil((int64_t)tm.tm_year + 1900,
			       (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday) *
		   86400 +
	       tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	if (off)
		*off = tm.tm_gmtoff;
	return 0;
}

/* The instant of local wall time u (on the local_key axis): the first
 * occurrence if it repeats, the end of the gap if it does not exist. */
static int wall_to_time(int64_t u, time_t *t)
{
	long offs[3], lo_off, hi_off;
	int64_t key;
	time_t cand, best = 0, lo, hi, mid;
	bool found = false;
	int i, rc;

	for (i = 0; i < 3; i++) {
		rc = local_key((time_t)(u + (i - 1) * 86400), &key, &offs[i]);
		if (rc)
			return rc;
	}
	lo_off = hi_off = offs[0];
	for (i = 0; i < 3; i++) {
		cand = (time_t)(u - offs[i]);
		lo_off = BFS_MIN(lo_off, offs[i]);
		hi_off = BFS_MAX(hi_off, offs[i]);
		rc = local_key(cand, &key, NULL);
		if (rc)
			return rc;
		if (key == u && (!found || cand < best)) {
			best = cand;
			found = true;
		}
	}
	if (found) {
		*t = best;
		return 0;
	}
	/* In a gap: the first instant whose wall clock is past u. */
	lo = (time_t)(u - hi_off);
	hi = (time_t)(u - lo_off);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		rc = local_key(mid, &key, NULL);
		if (rc)
			return rc;
		if (key >= u)
			hi = mid;
		else
			lo = mid + 1;
	}
	*t = hi;
	return 0;
}

static bool day_matches(const struct bfs_schedule *s, unsigned m, unsigned d,
			unsigned dow)
{
	bool dm = s->doms & (1u << d), wm = s->dows & (1u << dow);

	if (!(s->months & (1u << m)))
		return false;
	if (s->dom_star || s->dow_star)
		return dm && wm;
	return dm || wm;
}

int bfs_schedule_next(const struct bfs_schedule *s, time_t after, time_t *next)
{
	int64_t key, day, y;
	unsigned m, d, h, mi;
	struct tm tm;
	time_t t;
	long n;
	int rc;

	if (s->interval) {
		if (after > (time_t)(INT64_MAX - (int64_t)s->interval))
			return -ERANGE;
		*next = after + (time_t)s->interval;
		return 0;
	}
	if (!localtime_r(&after, &tm))
		return -ERANGE;
	y = (int64_t)tm.tm_year + 1900;
	m = (unsigned)tm.tm_mon + 1;
	d = (unsigned)tm.tm_mday;
	/* Walk the local calendar day by day; a parsed schedule matches at
	 * least once in 400 years (the Gregorian cycle). */
	for (n = 0; n < 400L * 366; n++) {
		day = days_from_civil(y, m, d);
		/* 1970-01-01 was a Thursday */
		if (day_matches(s, m, d, (unsigned)(((day % 7) + 11) % 7))) {
			for (h = 0; h < 24; h++) {
				if (!(s->hours & (1u << h)))
					continue;
				for (mi = 0; mi < 60; mi++) {
					if (!(s->minutes & (1ULL << mi)))
						continue;
					key = day * 86400 + h * 3600 + mi * 60;
					rc = wall_to_time(key, &t);
					if (rc)
						return rc;
					if (t > after) {
						*next = t;
						return 0;
					}
				}
			}
		}
		if (++d > mdays((long)y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	return -ENOENT;
}

/* ---- systemd ----------------------------------------------------------- */

/* Append a numeric calendar component from a bitmask: "*", "A/S" (an
 * arithmetic run to the end), or a list of values and "A..B" ranges. */
static void cal_component(struct bfs_buf *b, uint64_t bits, unsigned lo,
			  unsigned hi, int width)
{
	uint64_t all = 0, prog;
	unsigned first, step, v, w;
	bool sep = false;

	for (v = lo; v <= hi; v++)
		all |= 1ULL << v;
	if (bits == all) {
		bfs_buf_printf(b, "*");
		return;
	}
	for (first = lo; !(bits & (1ULL << first)); first++)
		;
	/* A/S: first, first + S, ... up to hi, at least two values */
	for (step = 1; first + step <= hi; step++) {
		prog = 0;
		for (v = first; v <= hi; v += step)
			prog |= 1ULL << v;
		if (prog == bits) {
			bfs_buf_printf(b, "%0*u/%u", width, first, step);
			return;
		}
	}
	for (v = first; v <= hi; v++) {
		if (!(bits & (1ULL << v)))
			continue;
		for (w = v; w + 1 <= hi && (bits & (1ULL << (w + 1))); w++)
			;
		bfs_buf_printf(b, "%s", sep ? "," : "");
		sep = true;
		if (w == v)
			bfs_buf_printf(b, "%0*u", width, v);
		else if (w == v + 1)
			bfs_buf_printf(b, "%0*u,%0*u", width, v, width, w);
		else
			bfs_buf_printf(b, "%0*u..%0*u", width, v, width, w);
		v = w;
	}
}

static void cal_weekdays(struct bfs_buf *b, uint8_t dows)
{
	static const char *const names[] = {"Mon", "Tue", "Wed", "Thu",
					    "Fri", "Sat", "Sun"};
	unsigned bits = 0, v, w;
	bool first = true;

	/* systemd orders the week Mon..Sun: Sunday moves to position 6 */
	for (v = 0; v < 7; v++)
		if (dows & (1u << v))
			bits |= 1u << (v == 0 ? 6 : v - 1);
	for (v = 0; v < 7; v++) {
		if (!(bits & (1u << v)))
			continue;
		for (w = v; w + 1 < 7 && (bits & (1u << (w + 1))); w++)
			;
		bfs_buf_printf(b, "%s", first ? "" : ",");
		first = false;
		if (w == v)
			bfs_buf_printf(b, "%s", names[v]);
		else if (w == v + 1)
			bfs_buf_printf(b, "%s,%s", names[v], names[w]);
		else
			bfs_buf_printf(b, "%s..%s", names[v], names[w]);
		v = w;
	}
	bfs_buf_printf(b, " ");
}

static void timespan(struct bfs_buf *b, uint64_t secs)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} u[] = {{"d", 86400}, {"h", 3600}, {"min", 60}, {"s", 1}};
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(u); i++) {
		if (secs < u[i].mult)
			continue;
		bfs_buf_printf(b, "%s%llu%s", b->len ? " " : "",
			       (unsigned long long)(secs / u[i].mult),
			       u[i].unit);
		secs %= u[i].mult;
	}
}

int bfs_schedule_to_systemd(const struct bfs_schedule *s, const char **key,
			    char *buf, size_t n, struct bfs_err *err)
{
	struct bfs_buf b = {0};
	bool all_doms, all_dows;
	uint32_t doms;
	uint8_t dows;
	int rc = 0;

	if (s->interval) {
		*key = "OnUnitActiveSec";
		timespan(&b, s->interval);
	} else {
		*key = "OnCalendar";
		all_doms = s->doms == 0xfffffffeu;
		all_dows = s->dows == 0x7f;
		if (!s->dom_star && !s->dow_star) {
			/* Vixie: a day matching either field runs */
			if (!all_doms && !all_dows)
				return bfs_err_set(
				    err, -EINVAL,
				    "\"%s\": day of month and day of week are "
				    "both restricted, so cron runs on days "
				    "matching either; systemd's OnCalendar= "
				    "needs both (use \"*\" in one of them, or "
				    "two timers)",
				    s->text);
			doms = 0xfffffffeu; /* either covers every day */
			dows = 0x7f;
		} else {
			doms = s->doms; /* both must match */
			dows = s->dows;
		}
		if (dows != 0x7f)
			cal_weekdays(&b, dows);
		bfs_buf_printf(&b, "*-");
		cal_component(&b, s->months, 1, 12, 2);
		bfs_buf_printf(&b, "-");
		cal_component(&b, doms, 1, 31, 2);
		bfs_buf_printf(&b, " ");
		cal_component(&b, s->hours, 0, 23, 2);
		bfs_buf_printf(&b, ":");
		cal_component(&b, s->minutes, 0, 59, 2);
		bfs_buf_printf(&b, ":00");
	}
	if (!b.data) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	} else if (b.len >= n) {
		rc = bfs_err_set(err, -ENOSPC, "calendar string too long");
	} else {
		memcpy(buf, b.data, b.len);
		buf[b.len] = '\0';
	}
	bfs_buf_free(&b);
	return rc;
}

/* ---- the scheduler's decision ------------------------------------------ */

int bfs_schedule_plan(struct bfs_sched_entry *e, size_t n, time_t now,
		      time_t started, time_t *wake)
{
	time_t slot, w = -1;
	size_t i;
	int due = 0, rc;

	for (i = 0; i < n; i++) {
		e[i].due = false;
		if (!e[i].schedule || e[i].running)
			continue;
		if (e[i].has_last)
			rc = bfs_schedule_next(e[i].schedule, e[i].last_run,
					       &slot);
		else if (e[i].schedule->interval)
			rc = bfs_schedule_next(e[i].schedule, started, &slot);
		else
			rc = bfs_schedule_next(e[i].schedule, started - 1,
					       &slot);
		if (rc)
			return rc;
		if (slot < started && !e[i].catch_up) {
			/* missed while down: wait for the next slot at or
			 * after start-up (every: on the last run's grid) */
			uint64_t iv = e[i].schedule->interval;

			if (iv)
				slot += (time_t)(((uint64_t)(started - slot) +
						  iv - 1) /
						 iv * iv);
			else
				rc = bfs_schedule_next(e[i].schedule,
						       started - 1, &slot);
			if (rc)
				return rc;
		}
		e[i].next = slot;
		if (slot <= now) {
			e[i].due = true;
			due++;
		}
		if (w < 0 || slot < w)
			w = slot;
	}
	if (due)
		w = now;
	*wake = w;
	return due;
}
