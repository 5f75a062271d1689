/* retention.c - restic's forget policy, rule for rule.  See retention.h
 * and doc/RETENTION.md.  The comments name the restic code each part
 * mirrors (internal/data/snapshot_policy.go: ApplyPolicy). */
#include "retention.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hmap.h"
#include "timefmt.h"
#include "util.h"

void bfs_ret_policy_init(struct bfs_ret_policy *p)
{
	memset(p, 0, sizeof(*p));
}

void bfs_ret_taglist_fini(struct bfs_ret_taglist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->ntags; i++)
		free(l->tags[i]);
	free(l->tags);
	l->tags = NULL;
	l->ntags = 0;
}

void bfs_ret_policy_fini(struct bfs_ret_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nkeep_tags; i++)
		bfs_ret_taglist_fini(&p->keep_tags[i]);
	free(p->keep_tags);
	bfs_ret_policy_init(p);
}

bool bfs_ret_policy_empty(const struct bfs_ret_policy *p)
{
	if (p->nkeep_tags || p->last || !bfs_ret_duration_zero(&p->within))
		return false;
	for (int b = 0; b < BFS_RET_NBUCKETS; b++)
		if (p->count[b] || !bfs_ret_duration_zero(&p->within_bucket[b]))
			return false;
	return true;
}

/* ---------------------------------------------------------- parsing */

/* restic's ForgetPolicyCount.Set plus the -1 its engine understands. */
static int parse_count(const char *opt, const char *v, int *out,
		       struct bfs_err *err)
{
	const char *q = v;
	long long n = 0;
	bool neg = false;

	if (!v || !*v)
		return bfs_err_set(err, -EINVAL,
				   "option --%s needs a count "
				   "(N >= 0 or \"unlimited\")",
				   opt);
	if (strcmp(v, "unlimited") == 0) {
		*out = -1;
		return 0;
	}
	if (*q == '+' || *q == '-')
		neg = *q++ == '-';
	if (!*q)
		goto bad;
	for (; *q; q++) {
		if (*q < '0' || *q > '9')
			goto bad;
		n = n * 10 + (*q - '0');
		if (n > INT_MAX)
			return bfs_err_set(err, -EINVAL,
					   "option --%s: count "
					   "\"%.32s\" is too large (at most "
					   "%d)",
					   opt, v, INT_MAX);
	}
	if (neg && n != 0 && n != 1)
		return bfs_err_set(err, -EINVAL,
				   "option --%s: negative count "
				   "\"%.32s\" (only -1 or \"unlimited\", which "
				   "mean no limit)",
				   opt, v);
	*out = neg ? -(int)n : (int)n;
	return 0;
bad:
	if (!*q)
		return bfs_err_set(err, -EINVAL,
				   "option --%s: \"%.32s\" is "
				   "not a count: digits expected after the "
				   "sign",
				   opt, v);
	return bfs_err_set(err, -EINVAL,
			   "option --%s: \"%.32s\" is not a "
			   "count: position %zu is '%c' (expected N >= 0 or "
			   "\"unlimited\")",
			   opt, v, (size_t)(q - v) + 1,
			   isprint((unsigned char)*q) ? *q : '?');
}

int bfs_ret_duration_parse(const char *s, struct bfs_ret_duration *d,
			   struct bfs_err *err)
{
	struct bfs_ret_duration r = {0};
	const char *start, *end, *q;

	if (!s)
		s = "";
	/* restic: strings.TrimSpace, then NUMBER UNIT pairs. */
	start = s;
	while (isspace((unsigned char)*start))
		start++;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	q = start;
	while (q < end) {
		long long num = 0;
		bool neg = false;
		const char *digits;

		if (*q == '-') {
			neg = true;
			q++;
		}
		digits = q;
		while (q < end && *q >= '0' && *q <= '9') {
			num = num * 10 + (*q - '0');
			if (num > INT_MAX)
				return bfs_err_set(err, -ERANGE,
						   "duration "
						   "\"%.64s\": number at "
						   "position %zu is too large",
						   s, (size_t)(digits - s) + 1);
			q++;
		}
		if (q == digits)
			return bfs_err_set(err, -EINVAL,
					   "duration \"%.64s\": "
					   "no number found at position %zu "
					   "(expected e.g. 30d, 1y2m, "
					   "2y5m7d3h)",
					   s, (size_t)(q - s) + 1);
		if (neg && num)
			return bfs_err_set(err, -EINVAL,
					   "duration \"%.64s\": "
					   "negative number at position %zu "
					   "is not allowed",
					   s, (size_t)(digits - s));
		if (q == end)
			return bfs_err_set(err, -EINVAL,
					   "duration \"%.64s\": "
					   "no unit found after number %lld "
					   "(use y, m, d or h)",
					   s, num);
		switch (*q) {
		case 'y':
			r.years = (int)num;
			break;
		case 'm':
			r.months = (int)num;
			break;
		case 'd':
			r.days = (int)num;
			break;
		case 'h':
			r.hours = (int)num;
			break;
		default:
			return bfs_err_set(
			    err, -EINVAL,
			    "duration \"%.64s\": "
			    "invalid unit '%c' at position %zu "
			    "after number %lld (use y, m, d or "
			    "h)",
			    s, isprint((unsigned char)*q) ? *q : '?',
			    (size_t)(q - s) + 1, num);
		}
		q++;
	}
	*d = r;
	return 0;
}

void bfs_ret_duration_format(const struct bfs_ret_duration *d, char *buf,
			     size_t size)
{
	size_t len = 0;
	const struct {
		int v;
		char unit;
	} parts[4] = {
	    {d->years, 'y'}, {d->months, 'm'}, {d->days, 'd'}, {d->hours, 'h'}};

	if (!size)
		return;
	buf[0] = '\0';
	for (int i = 0; i < 4; i++) {
		int n;

		if (!parts[i].v || len >= size)
			continue;
		n = snprintf(buf + len, size - len, "%d%c", parts[i].v,
			     parts[i].unit);
		if (n > 0)
			len += (size_t)n;
	}
}

int bfs_ret_taglist_parse(const char *s, struct bfs_ret_taglist *out)
{
	struct bfs_ret_taglist l = {0};
	const char *p = s ? s : "";
	size_t n = 1;
	int rc = -ENOMEM;

	for (const char *c = p; *c; c++)
		n += *c == ',';
	l.tags = calloc(n, sizeof(*l.tags));
	if (!l.tags)
		goto out;
	for (;;) {
		const char *comma = strchr(p, ','), *b = p, *e;

		e = comma ? comma : p + strlen(p);
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		l.tags[l.ntags] = strndup(b, (size_t)(e - b));
		if (!l.tags[l.ntags])
			goto out;
		l.ntags++;
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = l;
	return 0;
out:
	bfs_ret_taglist_fini(&l);
	return rc;
}

static const char *const bucket_names[BFS_RET_NBUCKETS] = {
    "hourly", "daily", "weekly", "monthly", "yearly"};

static int parse_bool(const char *opt, const char *v, bool *out,
		      struct bfs_err *err)
{
	if (!v || strcmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
	    strcmp(v, "yes") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
		 strcmp(v, "no") == 0)
		*out = false;
	else
		return bfs_err_set(err, -EINVAL,
				   "option --%s: \"%.32s\" is "
				   "not true or false",
				   opt, v);
	return 0;
}

int bfs_ret_policy_parse_option(struct bfs_ret_policy *p, const char *name,
				const char *value, struct bfs_err *err)
{
	const char *opt = name ? name : "";
	struct bfs_ret_taglist l, *grown;
	int rc;

	if (strncmp(opt, "--", 2) == 0)
		opt += 2;
	if (strcmp(opt, "keep-last") == 0)
		return parse_count(opt, value, &p->last, err);
	if (strcmp(opt, "keep-within") == 0) {
		rc = bfs_ret_duration_parse(value, &p->within, err);
		return rc ? bfs_err_prefix(err, -EINVAL, "option --%s", opt)
			  : 0;
	}
	if (strcmp(opt, "keep-tag") == 0) {
		if (!value)
			return bfs_err_set(err, -EINVAL,
					   "option --keep-tag "
					   "needs tag[,tag...]");
		if (bfs_ret_taglist_parse(value, &l))
			return -ENOMEM;
		grown =
		    realloc(p->keep_tags, (p->nkeep_tags + 1) * sizeof(*grown));
		if (!grown) {
			bfs_ret_taglist_fini(&l);
			return -ENOMEM;
		}
		p->keep_tags = grown;
		p->keep_tags[p->nkeep_tags++] = l;
		return 0;
	}
	if (strcmp(opt, "unsafe-allow-remove-all") == 0)
		return parse_bool(opt, value, &p->allow_remove_all, err);
	for (int b = 0; b < BFS_RET_NBUCKETS; b++) {
		const char *rest;

		if (strncmp(opt, "keep-", 5) == 0 &&
		    strcmp(opt + 5, bucket_names[b]) == 0)
			return parse_count(opt, value, &p->count[b], err);
		if (strncmp(opt, "keep-within-", 12) != 0)
			continue;
		rest = opt + 12;
		if (strcmp(rest, bucket_names[b]) != 0)
			continue;
		rc = bfs_ret_duration_parse(value, &p->within_bucket[b], err);
		return rc ? bfs_err_prefix(err, -EINVAL, "option --%s", opt)
			  : 0;
	}
	return bfs_err_set(err, -ENOENT,
			   "\"%.64s\" is not a retention "
			   "option",
			   name ? name : "");
}

int bfs_ret_policy_describe(const struct bfs_ret_policy *p, struct bfs_buf *out)
{
	static const char *const what[1 + BFS_RET_NBUCKETS] = {
	    "latest", "hourly", "daily", "weekly", "monthly", "yearly"};
	char dur[64];
	size_t start = out->len;
	bool any = false;
	int rc = bfs_buf_printf(out, "keep ");

	for (int i = 0; rc == 0 && i < 1 + BFS_RET_NBUCKETS; i++) {
		int c = i ? p->count[i - 1] : p->last;

		if (c > 0)
			rc = bfs_buf_printf(out, "%s%d %s", any ? ", " : "", c,
					    what[i]);
		else if (c == -1)
			rc = bfs_buf_printf(out, "%sall %s", any ? ", " : "",
					    what[i]);
		any |= c > 0 || c == -1;
	}
	if (rc == 0 && any)
		rc = bfs_buf_printf(out, " snapshots");
	for (int b = 0; rc == 0 && b < BFS_RET_NBUCKETS; b++) {
		if (bfs_ret_duration_zero(&p->within_bucket[b]))
			continue;
		bfs_ret_duration_format(&p->within_bucket[b], dur, sizeof(dur));
		rc = bfs_buf_printf(out, "%s%s snapshots within %s",
				    any ? ", " : "", bucket_names[b], dur);
		any = true;
	}
	if (rc == 0 && p->nkeep_tags) {
		rc = bfs_buf_printf(out, "%sall snapshots with tags [",
				    any ? " and " : "");
		for (size_t l = 0; rc == 0 && l < p->nkeep_tags; l++) {
			rc = bfs_buf_printf(out, "%s[", l ? " " : "");
			for (size_t t = 0; rc == 0 && t < p->keep_tags[l].ntags;
			     t++)
				rc = bfs_buf_printf(out, "%s%s", t ? ", " : "",
						    p->keep_tags[l].tags[t]);
			if (rc == 0)
				rc = bfs_buf_printf(out, "]");
		}
		if (rc == 0)
			rc = bfs_buf_printf(out, "]");
		any = true;
	}
	if (rc == 0 && !bfs_ret_duration_zero(&p->within)) {
		bfs_ret_duration_format(&p->within, dur, sizeof(dur));
		rc = bfs_buf_printf(out,
				    "%sall snapshots within %s of the "
				    "newest",
				    any ? " and " : "", dur);
		any = true;
	}
	if (rc == 0 && !any) {
		out->len = start;
		rc = bfs_buf_printf(out, "remove");
	}
	return rc;
}

/* ------------------------------------------------------------ tags */

static bool item_has_tag(const struct bfs_ret_item *it, const char *tag)
{
	for (size_t i = 0; i < it->ntags; i++)
		if (strcmp(it->tags[i], tag) == 0)
			return true;
	return false;
}

bool bfs_ret_has_tags(const struct bfs_ret_item *it,
		      const struct bfs_ret_taglist *l)
{
	for (size_t i = 0; i < l->ntags; i++) {
		if (l->tags[i][0] == '\0' && it->ntags == 0)
			return true;
		if (!item_has_tag(it, l->tags[i]))
			return false;
	}
	return true;
}

bool bfs_ret_has_taglist(const struct bfs_ret_item *it,
			 const struct bfs_ret_taglist *lists, size_t nl)
{
	if (nl == 0)
		return true;
	for (size_t i = 0; i < nl; i++)
		if (bfs_ret_has_tags(it, &lists[i]))
			return true;
	return false;
}

/* ------------------------------------------------------------ apply */

/* A point in time as Go compares them. */
struct tpoint {
	int64_t sec;
	int32_t nsec;
};

static bool tp_after(struct tpoint a, struct tpoint b)
{
	return a.sec > b.sec || (a.sec == b.sec && a.nsec > b.nsec);
}

/* A within boundary: every time after it is "within".  all: no newest
 * backup before now, so restic measures from Go's zero time (year 1)
 * and every representable time is after the boundary. */
struct bound {
	bool all;
	struct tpoint t;
};

/* restic: latest.AddDate(-Y, -M, -D).Add(-H hours), in local time. */
static int within_bound(const struct bfs_ret_duration *d, bool have_latest,
			struct tpoint latest, struct bound *out)
{
	struct tm tm;
	int64_t sec;
	int rc;

	out->all = !have_latest;
	if (!have_latest)
		return 0;
	rc = bfs_time_split(latest.sec, false, &tm);
	if (rc)
		return rc;
	rc = bfs_time_from_wall((int64_t)tm.tm_year + 1900 - d->years,
				(int64_t)tm.tm_mon + 1 - d->months,
				(int64_t)tm.tm_mday - d->days, tm.tm_hour,
				tm.tm_min, tm.tm_sec, false, &sec);
	if (rc)
		return rc;
	out->t.sec = sec - (int64_t)d->hours * 3600;
	out->t.nsec = latest.nsec;
	return 0;
}

static bool in_bound(const struct bound *b, struct tpoint t)
{
	return b->all || tp_after(t, b->t);
}

/* Go's Time.ISOWeek as year * 100 + week. */
static int64_t iso_year_week(const struct tm *tm)
{
	int64_t year = (int64_t)tm->tm_year + 1900;
	int wd = (tm->tm_wday + 6) % 7;	    /* Monday 0 */
	int64_t thu = tm->tm_yday - wd + 3; /* this week's Thursday */
	int64_t len;

	if (thu < 0) {
		year--;
		len = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
			  ? 366
			  : 365;
		thu += len;
	} else {
		len = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
			  ? 366
			  : 365;
		if (thu >= len) {
			thu -= len;
			year++;
		}
	}
	return year * 100 + thu / 7 + 1;
}

/* restic's ymdh, ymd, yw, ym, y. */
static int64_t bucket_value(int b, const struct tm *tm)
{
	int64_t y = (int64_t)tm->tm_year + 1900, m = tm->tm_mon + 1;

	switch (b) {
	case BFS_RET_HOURLY:
		return y * 1000000 + m * 10000 + tm->tm_mday * 100 +
		       tm->tm_hour;
	case BFS_RET_DAILY:
		return y * 10000 + m * 100 + tm->tm_mday;
	case BFS_RET_WEEKLY:
		return iso_year_week(tm);
	case BFS_RET_MONTHLY:
		return y * 100 + m;
	default:
		return y;
	}
}

struct sort_ent {
	int64_t t;
	size_t i;
};

static int cmp_newest_first(const void *a, const void *b)
{
	const struct sort_ent *x = a, *y = b;

	if (x->t != y->t)
		return x->t > y->t ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Append a reason string (printf) to d. */
__attribute__((format(printf, 2, 3))) static int
add_match(struct bfs_ret_decision *d, const char *fmt, ...)
{
	char buf[1200], **grown;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	grown = realloc(d->matches, (d->nmatches + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	d->matches = grown;
	d->matches[d->nmatches] = strdup(buf);
	if (!d->matches[d->nmatches])
		return -ENOMEM;
	d->nmatches++;
	d->keep = true;
	return 0;
}

/* "has tags [a, b]": Go's TagList.String(). */
static int add_tag_match(struct bfs_ret_decision *d,
			 const struct bfs_ret_taglist *l)
{
	struct bfs_buf b = {0};
	int rc = bfs_buf_printf(&b, "has tags [");

	for (size_t i = 0; rc == 0 && i < l->ntags; i++)
		rc = bfs_buf_printf(&b, "%s%s", i ? ", " : "", l->tags[i]);
	if (rc == 0)
		rc = bfs_buf_printf(&b, "]");
	if (rc == 0)
		rc = add_match(d, "%s", (const char *)b.data);
	bfs_buf_free(&b);
	return rc;
}

void bfs_ret_result_free(struct bfs_ret_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->d && i < r->n; i++) {
		for (size_t j = 0; j < r->d[i].nmatches; j++)
			free(r->d[i].matches[j]);
		free(r->d[i].matches);
	}
	free(r->d);
	free(r->order);
	free(r);
}

static int check_policy(const struct bfs_ret_policy *p, struct bfs_err *err)
{
	const struct bfs_ret_duration *d[1 + BFS_RET_NBUCKETS];

	if (p->last < -1)
		return bfs_err_set(err, -EINVAL,
				   "keep-last is %d: negative "
				   "values other than -1 are not allowed",
				   p->last);
	for (int b = 0; b < BFS_RET_NBUCKETS; b++) {
		if (p->count[b] < -1)
			return bfs_err_set(err, -EINVAL,
					   "keep-%s is %d: "
					   "negative values other than -1 are "
					   "not allowed",
					   bucket_names[b], p->count[b]);
		d[1 + b] = &p->within_bucket[b];
	}
	d[0] = &p->within;
	for (int i = 0; i < 1 + BFS_RET_NBUCKETS; i++)
		if (d[i]->years < 0 || d[i]->months < 0 || d[i]->days < 0 ||
		    d[i]->hours < 0)
			return bfs_err_set(err, -EINVAL,
					   "durations containing "
					   "negative values are not allowed "
					   "for keep-within*");
	return 0;
}

/* State of one counting rule: restic's buckets[i]. */
struct rule {
	int count;
	int64_t last;
};

int bfs_ret_apply(const struct bfs_ret_policy *p,
		  const struct bfs_ret_item *items, size_t n, int64_t now_ns,
		  struct bfs_ret_result **out, struct bfs_err *err)
{
	struct bfs_ret_result *r = NULL;
	struct sort_ent *ents = NULL;
	struct bound wb, wbb[BFS_RET_NBUCKETS];
	struct rule last, rules[BFS_RET_NBUCKETS],
	    within_rules[BFS_RET_NBUCKETS];
	char wstr[64], wbstr[BFS_RET_NBUCKETS][64];
	struct tpoint latest = {0, 0};
	int64_t latest_ns = 0;
	bool have_latest = false, empty;
	int rc;

	*out = NULL;
	rc = check_policy(p, err);
	if (rc)
		return rc;
	empty = bfs_ret_policy_empty(p);
	if (empty && !p->allow_remove_all)
		return bfs_err_set(err, -EINVAL,
				   "no policy was specified, no "
				   "backups will be removed");
	rc = -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		goto out_fail;
	r->n = n;
	r->order = calloc(n ? n : 1, sizeof(*r->order));
	r->d = calloc(n ? n : 1, sizeof(*r->d));
	ents = calloc(n ? n : 1, sizeof(*ents));
	if (!r->order || !r->d || !ents)
		goto out_fail;

	/* sort.Stable(list), newest first. */
	for (size_t i = 0; i < n; i++) {
		ents[i].t = items[i].time_ns;
		ents[i].i = i;
	}
	qsort(ents, n, sizeof(*ents), cmp_newest_first);
	for (size_t k = 0; k < n; k++)
		r->order[k] = ents[k].i;

	/* findLatestTimestamp: the newest time that is before now. */
	for (size_t i = 0; i < n; i++) {
		if (items[i].time_ns < now_ns &&
		    (!have_latest || items[i].time_ns > latest_ns)) {
			latest_ns = items[i].time_ns;
			have_latest = true;
		}
	}
	if (have_latest)
		bfs_time_sec_nsec(latest_ns, &latest.sec, &latest.nsec);
	rc = within_bound(&p->within, have_latest, latest, &wb);
	for (int b = 0; rc == 0 && b < BFS_RET_NBUCKETS; b++)
		rc = within_bound(&p->within_bucket[b], have_latest, latest,
				  &wbb[b]);
	if (rc) {
		bfs_err_set(err, rc,
			    "cannot compute the keep-within limit "
			    "in local time");
		goto out_fail;
	}
	bfs_ret_duration_format(&p->within, wstr, sizeof(wstr));
	last = (struct rule){p->last, -1};
	for (int b = 0; b < BFS_RET_NBUCKETS; b++) {
		rules[b] = (struct rule){p->count[b], -1};
		within_rules[b] = (struct rule){0, -1};
		bfs_ret_duration_format(&p->within_bucket[b], wbstr[b],
					sizeof(wbstr[b]));
	}

	for (size_t nr = 0; nr < n; nr++) {
		size_t i = r->order[nr];
		const struct bfs_ret_item *cur = &items[i];
		struct bfs_ret_decision *d = &r->d[i];
		bool oldest_pos = nr == n - 1;
		struct tpoint t;
		struct tm tm;

		bfs_time_sec_nsec(cur->time_ns, &t.sec, &t.nsec);
		rc = bfs_time_split(t.sec, false, &tm);
		if (rc) {
			bfs_err_set(err, rc,
				    "backup \"%.128s\": its time "
				    "cannot be converted to local time",
				    cur->id ? cur->id : "?");
			goto out_fail;
		}
		/* Tags are not counted. */
		for (size_t l = 0; l < p->nkeep_tags; l++)
			if (bfs_ret_has_tags(cur, &p->keep_tags[l]) &&
			    (rc = add_tag_match(d, &p->keep_tags[l])))
				goto out_fail;
		if (!bfs_ret_duration_zero(&p->within) && in_bound(&wb, t) &&
		    (rc = add_match(d, "within %s", wstr)))
			goto out_fail;

		/* Counting rules.  A new bucket value is kept while counts
		 * are left; the oldest backup is kept too if counts are
		 * left, marked "oldest" when its bucket was seen already. */
		for (int b = -1; b < BFS_RET_NBUCKETS; b++) {
			struct rule *ru = b < 0 ? &last : &rules[b];
			int64_t val =
			    b < 0 ? (int64_t)nr : bucket_value(b, &tm);
			bool oldest;

			if (!(ru->count > 0 || ru->count == -1))
				continue;
			if (val == ru->last && !oldest_pos)
				continue;
			oldest = val == ru->last && oldest_pos;
			ru->last = val;
			if (ru->count > 0)
				ru->count--;
			rc = b < 0 ? add_match(d, "%slast snapshot",
					       oldest ? "oldest " : "")
				   : add_match(d, "%s%s snapshot",
					       oldest ? "oldest " : "",
					       bucket_names[b]);
			if (rc)
				goto out_fail;
		}
		/* Within-bucket rules: like the above, no counts. */
		for (int b = 0; b < BFS_RET_NBUCKETS; b++) {
			struct rule *ru = &within_rules[b];
			int64_t val;
			bool oldest;

			if (bfs_ret_duration_zero(&p->within_bucket[b]) ||
			    !in_bound(&wbb[b], t))
				continue;
			val = bucket_value(b, &tm);
			if (val == ru->last && !oldest_pos)
				continue;
			oldest = val == ru->last && oldest_pos;
			ru->last = val;
			rc = add_match(d, "%s%s within %s",
				       oldest ? "oldest " : "", bucket_names[b],
				       wbstr[b]);
			if (rc)
				goto out_fail;
		}
		if (d->keep)
			r->nkeep++;
	}
	if (!empty && n > 0 && r->nkeep == 0) {
		rc = bfs_err_set(err, -EINVAL,
				 "refusing to delete the last "
				 "backup of the group: the policy keeps none "
				 "of its %zu backups",
				 n);
		goto out_fail;
	}
	free(ents);
	*out = r;
	return 0;
out_fail:
	if (rc == -ENOMEM)
		bfs_err_set(err, rc,
			    "out of memory applying the retention "
			    "policy");
	free(ents);
	bfs_ret_result_free(r);
	return rc;
}

/* ------------------------------------------------------------ groups */

struct group_rec {
	uint8_t digest[16]; /* key: SHA-256 of the key string, cut */
	size_t group;
	size_t first; /* an item with this key, to rule out a
			 digest collision */
};

int bfs_ret_group(const char *const *keys, size_t n, size_t *group,
		  size_t *ngroups, struct bfs_err *err)
{
	struct bfs_hmap m;
	size_t next = 0;
	int rc;

	rc = bfs_hmap_init(&m, sizeof(struct group_rec), 16, n, 0);
	if (rc)
		return bfs_err_set(err, rc, "cannot group backups");
	for (size_t i = 0; i < n; i++) {
		uint8_t h[BFS_HASH_LEN];
		struct group_rec *g;
		bool added;

		bfs_sha256(h, keys[i], strlen(keys[i]));
		rc = bfs_hmap_get(&m, h, (void **)&g, &added);
		if (rc) {
			bfs_err_set(err, rc, "out of memory grouping backups");
			goto out_fini;
		}
		if (added) {
			g->group = next++;
			g->first = i;
		} else if (strcmp(keys[g->first], keys[i]) != 0) {
			rc = bfs_err_set(err, -EIO,
					 "group keys \"%.64s\" and "
					 "\"%.64s\" share a digest",
					 keys[g->first], keys[i]);
			goto out_fini;
		}
		group[i] = g->group;
	}
	*ngroups = next;
out_fini:
	bfs_hmap_fini(&m);
	return rc;
}
