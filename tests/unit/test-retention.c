/* test-retention.c - the forget policy engine and the time parser, on
 * hand-checked cases: every rule, bucket edges (midnight, ISO week 53 /
 * week 1, DST in Europe/Berlin), ties, unlimited, calendar durations,
 * keep-tag, the refusals and the parsers' errors.  The same engine is
 * compared with restic itself by tests/e2e/t0400-retention-restic.sh. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/retention.h"
#include "src/timefmt.h"
#include "src/util.h"
#include "tap.h"

#define NS 1000000000LL

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* An item list built from "ID TIME [tag,tag]" specs. */
struct fixture {
	struct bfs_ret_item it[32];
	struct bfs_ret_taglist tags[32];
	size_t n;
};

static void fx_add(struct fixture *f, const char *id, const char *time,
		   const char *tags)
{
	struct bfs_ret_item *it = &f->it[f->n];
	struct bfs_err err = {""};
	int rc;

	memset(it, 0, sizeof(*it));
	memset(&f->tags[f->n], 0, sizeof(f->tags[f->n]));
	it->id = id;
	rc = bfs_time_parse(time, &it->time_ns, &err);
	if (rc)
		printf("# fixture time %s: %s\n", time, err.msg);
	if (tags && bfs_ret_taglist_parse(tags, &f->tags[f->n]) == 0) {
		it->tags = (const char *const *)f->tags[f->n].tags;
		it->ntags = f->tags[f->n].ntags;
	}
	f->n++;
}

static void fx_free(struct fixture *f)
{
	for (size_t i = 0; i < f->n; i++)
		bfs_ret_taglist_fini(&f->tags[i]);
	f->n = 0;
}

/* Apply and describe what is kept, newest first:
 * "A[daily snapshot,monthly snapshot] C[...]", or "ERR <code>: msg". */
static char *run(const struct bfs_ret_policy *p, struct fixture *f, int64_t now)
{
	static char out[4096];
	struct bfs_ret_result *r;
	struct bfs_err err = {""};
	struct bfs_buf b = {0};
	int rc = bfs_ret_apply(p, f->it, f->n, now, &r, &err);

	if (rc) {
		snprintf(out, sizeof(out), "ERR %d: %s", rc, err.msg);
		return out;
	}
	for (size_t k = 0; k < r->n; k++) {
		const struct bfs_ret_decision *d = &r->d[r->order[k]];

		if (!d->keep)
			continue;
		bfs_buf_printf(&b, "%s%s[", b.len ? " " : "",
			       f->it[r->order[k]].id);
		for (size_t j = 0; j < d->nmatches; j++)
			bfs_buf_printf(&b, "%s%s", j ? "," : "", d->matches[j]);
		bfs_buf_printf(&b, "]");
	}
	snprintf(out, sizeof(out), "%s", b.len ? (char *)b.data : "");
	bfs_buf_free(&b);
	bfs_ret_result_free(r);
	return out;
}

/* Policy from "opt value opt value ..." (values without blanks). */
static void pol(struct bfs_ret_policy *p, const char *spec)
{
	char buf[512], *save = NULL, *name, *val;
	struct bfs_err err = {""};

	bfs_ret_policy_fini(p);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (name = strtok_r(buf, " ", &save); name;
	     name = strtok_r(NULL, " ", &save)) {
		val = strcmp(name, "--unsafe-allow-remove-all") == 0
			  ? NULL
			  : strtok_r(NULL, " ", &save);
		if (bfs_ret_policy_parse_option(p, name, val, &err))
			printf("# policy %s: %s\n", spec, err.msg);
	}
}

static const int64_t NOW = 4000000000LL * NS; /* 2096, after all */

static void test_counts(void)
{
	struct bfs_ret_policy p;
	struct fixture f = {.n = 0};

	bfs_ret_policy_init(&p);
	set_tz("UTC");

	fx_add(&f, "A", "2026-01-03T10:00:00Z", NULL);
	fx_add(&f, "B", "2026-01-03T09:00:00Z", NULL);
	fx_add(&f, "C", "2026-01-02T10:00:00Z", NULL);
	fx_add(&f, "D", "2026-01-02T09:00:00Z", NULL);
	pol(&p, "--keep-last 2");
	is_str(run(&p, &f, NOW), "A[last snapshot] B[last snapshot]",
	       "keep-last 2 keeps the two newest");
	pol(&p, "--keep-last 10");
	is_str(run(&p, &f, NOW),
	       "A[last snapshot] B[last snapshot] "
	       "C[last snapshot] D[last snapshot]",
	       "keep-last beyond the count keeps all, never 'oldest'");
	pol(&p, "--keep-daily 5");
	is_str(run(&p, &f, NOW),
	       "A[daily snapshot] C[daily snapshot] "
	       "D[oldest daily snapshot]",
	       "daily: newest per day; counts left keep the oldest too");
	pol(&p, "--keep-daily 2");
	is_str(run(&p, &f, NOW), "A[daily snapshot] C[daily snapshot]",
	       "daily 2: counts used up, the oldest goes");
	pol(&p, "--keep-daily unlimited");
	is_str(run(&p, &f, NOW),
	       "A[daily snapshot] C[daily snapshot] "
	       "D[oldest daily snapshot]",
	       "daily unlimited");
	pol(&p, "--keep-daily -1 --keep-last 1");
	is_str(run(&p, &f, NOW),
	       "A[last snapshot,daily snapshot] "
	       "C[daily snapshot] D[oldest daily snapshot]",
	       "-1 is unlimited; reasons in restic's order");
	fx_free(&f);

	/* Midnight: the day changes at 00:00:00 sharp. */
	fx_add(&f, "A", "2026-01-02T00:00:00Z", NULL);
	fx_add(&f, "B", "2026-01-01T23:59:59.999999999Z", NULL);
	fx_add(&f, "C", "2026-01-01T00:00:00Z", NULL);
	fx_add(&f, "D", "2025-12-31T23:59:59Z", NULL);
	fx_add(&f, "E", "2025-12-31T00:00:00Z", NULL);
	pol(&p, "--keep-daily 3");
	is_str(run(&p, &f, NOW),
	       "A[daily snapshot] B[daily snapshot] "
	       "D[daily snapshot]",
	       "daily buckets split at midnight");
	pol(&p, "--keep-hourly 3");
	is_str(run(&p, &f, NOW),
	       "A[hourly snapshot] B[hourly snapshot] "
	       "C[hourly snapshot]",
	       "hourly buckets");
	pol(&p, "--keep-yearly 5");
	is_str(run(&p, &f, NOW),
	       "A[yearly snapshot] D[yearly snapshot] "
	       "E[oldest yearly snapshot]",
	       "yearly buckets split at new year");
	pol(&p, "--keep-monthly 1 --keep-yearly 2");
	is_str(run(&p, &f, NOW),
	       "A[monthly snapshot,yearly snapshot] "
	       "D[yearly snapshot]",
	       "monthly and yearly together");
	fx_free(&f);

	/* ISO weeks: 2020 has 53; 2020-W53 runs Mon 2020-12-28 .. Sun
	 * 2021-01-03, so the bucket spans the new year. */
	fx_add(&f, "A", "2021-01-04T00:00:00Z", NULL); /* 2021-W01 */
	fx_add(&f, "B", "2021-01-03T23:00:00Z", NULL); /* 2020-W53 */
	fx_add(&f, "C", "2020-12-28T00:00:00Z", NULL); /* 2020-W53 */
	fx_add(&f, "D", "2020-12-27T12:00:00Z", NULL); /* 2020-W52 */
	fx_add(&f, "E", "2020-12-21T12:00:00Z", NULL); /* 2020-W52 */
	pol(&p, "--keep-weekly 3");
	is_str(run(&p, &f, NOW),
	       "A[weekly snapshot] B[weekly snapshot] "
	       "D[weekly snapshot]",
	       "ISO week 53 spans the year boundary");
	fx_free(&f);
	/* 2026-01-01 is a Thursday: 2026-W01 starts Mon 2025-12-29. */
	fx_add(&f, "A", "2026-01-04T20:00:00Z", NULL);
	fx_add(&f, "B", "2025-12-29T01:00:00Z", NULL);
	fx_add(&f, "C", "2025-12-28T23:00:00Z", NULL); /* 2025-W52 */
	fx_add(&f, "D", "2025-12-28T01:00:00Z", NULL);
	is_str(run(&p, &f, NOW),
	       "A[weekly snapshot] C[weekly snapshot] "
	       "D[oldest weekly snapshot]",
	       "ISO week 1 starts in December");
	fx_free(&f);

	/* Ties: equal times keep the caller's order (restic: stable sort). */
	fx_add(&f, "X", "2026-05-05T05:05:05Z", NULL);
	fx_add(&f, "Y", "2026-05-05T05:05:05Z", NULL);
	fx_add(&f, "Z", "2026-05-04T05:05:05Z", NULL);
	pol(&p, "--keep-last 1");
	is_str(run(&p, &f, NOW), "X[last snapshot]", "tie: first given wins");
	f.it[0].id = "Y";
	f.it[1].id = "X";
	is_str(run(&p, &f, NOW), "Y[last snapshot]", "tie: order decides");
	pol(&p, "--keep-daily 1");
	is_str(run(&p, &f, NOW), "Y[daily snapshot]", "tie in a bucket");
	fx_free(&f);

	/* Unsorted input gives the same answer as sorted input. */
	fx_add(&f, "C", "2026-01-02T10:00:00Z", NULL);
	fx_add(&f, "A", "2026-01-03T10:00:00Z", NULL);
	fx_add(&f, "D", "2026-01-02T09:00:00Z", NULL);
	fx_add(&f, "B", "2026-01-03T09:00:00Z", NULL);
	pol(&p, "--keep-daily 5");
	is_str(run(&p, &f, NOW),
	       "A[daily snapshot] C[daily snapshot] "
	       "D[oldest daily snapshot]",
	       "input order does not matter");
	fx_free(&f);
	bfs_ret_policy_fini(&p);
}

static void test_dst(void)
{
	struct bfs_ret_policy p;
	struct fixture f = {.n = 0};

	bfs_ret_policy_init(&p);
	set_tz("Europe/Berlin");
	/* 2026-10-25: 02:00-03:00 local happens twice (CEST, then CET).
	 * Both 02:30s are one hourly bucket in local time. */
	fx_add(&f, "A", "2026-10-25T02:10:00Z", NULL); /* 03:10 CET */
	fx_add(&f, "B", "2026-10-25T01:30:00Z", NULL); /* 02:30 CET */
	fx_add(&f, "C", "2026-10-25T00:30:00Z", NULL); /* 02:30 CEST */
	fx_add(&f, "D", "2026-10-25T00:10:00Z", NULL); /* 02:10 CEST */
	pol(&p, "--keep-hourly 2");
	is_str(run(&p, &f, NOW), "A[hourly snapshot] B[hourly snapshot]",
	       "Berlin: the repeated hour is one bucket");
	set_tz("UTC");
	is_str(run(&p, &f, NOW), "A[hourly snapshot] B[hourly snapshot]",
	       "UTC: hours 02 and 01");
	pol(&p, "--keep-hourly 3");
	is_str(run(&p, &f, NOW),
	       "A[hourly snapshot] B[hourly snapshot] "
	       "C[hourly snapshot]",
	       "UTC: three distinct hours");
	set_tz("Europe/Berlin");
	is_str(run(&p, &f, NOW),
	       "A[hourly snapshot] B[hourly snapshot] "
	       "D[oldest hourly snapshot]",
	       "Berlin: same hour, oldest kept as such");
	fx_free(&f);

	/* Days split at local midnight: 22:30Z in summer is 00:30 CEST. */
	fx_add(&f, "A", "2026-06-30T22:30:00Z", NULL);
	fx_add(&f, "B", "2026-06-30T21:30:00Z", NULL);
	fx_add(&f, "C", "2026-06-30T01:00:00Z", NULL);
	pol(&p, "--keep-daily 2");
	is_str(run(&p, &f, NOW), "A[daily snapshot] B[daily snapshot]",
	       "Berlin: 22:30Z is the next day");
	set_tz("UTC");
	is_str(run(&p, &f, NOW), "A[daily snapshot] C[oldest daily snapshot]",
	       "UTC: all three on one day");
	set_tz("Europe/Berlin");
	fx_free(&f);

	/* keep-within counts calendar days in local time: from 12:00 CEST
	 * on the spring day, 1d back is 12:00 CET, 23 hours earlier. */
	fx_add(&f, "A", "2026-03-29T10:00:00Z", NULL);
	fx_add(&f, "B", "2026-03-28T11:00:01Z", NULL);
	fx_add(&f, "C", "2026-03-28T11:00:00Z", NULL);
	fx_add(&f, "D", "2026-03-28T10:30:00Z", NULL);
	pol(&p, "--keep-within 1d");
	is_str(run(&p, &f, NOW), "A[within 1d] B[within 1d]",
	       "Berlin: 1d across the DST change is 23 h, bound excluded");
	pol(&p, "--keep-within 24h");
	is_str(run(&p, &f, NOW),
	       "A[within 24h] B[within 24h] C[within 24h] "
	       "D[within 24h]",
	       "hours are absolute");
	fx_free(&f);
	set_tz("UTC");
	bfs_ret_policy_fini(&p);
}

static void test_within(void)
{
	struct bfs_ret_policy p;
	struct fixture f = {.n = 0};
	struct bfs_ret_duration d;

	bfs_ret_policy_init(&p);
	set_tz("UTC");
	/* 2026-03-31 minus 1 month is "2026-02-31", normalised to 03-03. */
	fx_add(&f, "A", "2026-03-31T12:00:00Z", NULL);
	fx_add(&f, "B", "2026-03-03T12:00:01Z", NULL);
	fx_add(&f, "C", "2026-03-03T12:00:00Z", NULL);
	fx_add(&f, "D", "2026-03-02T00:00:00Z", NULL);
	pol(&p, "--keep-within 1m");
	is_str(run(&p, &f, NOW), "A[within 1m] B[within 1m]",
	       "1m: Go's AddDate normalisation, bound excluded");
	fx_free(&f);

	/* 2024-02-29 minus 1y is "2023-02-29", i.e. 2023-03-01. */
	fx_add(&f, "A", "2024-02-29T00:00:00Z", NULL);
	fx_add(&f, "B", "2023-03-01T00:00:01Z", NULL);
	fx_add(&f, "C", "2023-02-28T23:00:00Z", NULL);
	pol(&p, "--keep-within 1y");
	is_str(run(&p, &f, NOW), "A[within 1y] B[within 1y]",
	       "1y from a leap day");
	fx_free(&f);

	/* 2026-11-20T05:15 minus 2y5m7d then 3h: 2024-06-13T02:15. */
	fx_add(&f, "A", "2026-11-20T05:15:00Z", NULL);
	fx_add(&f, "B", "2024-06-13T02:15:00.000000001Z", NULL);
	fx_add(&f, "C", "2024-06-13T02:15:00Z", NULL);
	pol(&p, "--keep-within 2y5m7d3h");
	is_str(run(&p, &f, NOW), "A[within 2y5m7d3h] B[within 2y5m7d3h]",
	       "2y5m7d3h, to the nanosecond");
	pol(&p, "--keep-within 3h5m2y7d");
	is_str(run(&p, &f, NOW), "A[within 2y5m7d3h] B[within 2y5m7d3h]",
	       "units in any order, printed as restic does");

	/* The newest backup in the future is ignored for the bound. */
	fx_add(&f, "F", "2090-01-01T00:00:00Z", NULL);
	pol(&p, "--keep-within 1h");
	is_str(run(&p, &f, 3000000000LL * NS), "F[within 1h] A[within 1h]",
	       "future backup: bound from the newest past one");
	is_str(run(&p, &f, 0),
	       "F[within 1h] A[within 1h] B[within 1h] "
	       "C[within 1h]",
	       "all in the future: everything is within");
	fx_free(&f);

	/* Within-bucket rules. */
	fx_add(&f, "A", "2026-01-05T10:00:00Z", NULL);
	fx_add(&f, "B", "2026-01-05T09:00:00Z", NULL);
	fx_add(&f, "C", "2026-01-03T10:00:00Z", NULL);
	fx_add(&f, "D", "2026-01-02T10:00:01Z", NULL);
	fx_add(&f, "E", "2026-01-02T09:00:00Z", NULL);
	pol(&p, "--keep-within-daily 3d");
	is_str(run(&p, &f, NOW),
	       "A[daily within 3d] C[daily within 3d] "
	       "D[daily within 3d]",
	       "keep-within-daily");
	pol(&p, "--keep-within-daily 4d");
	is_str(run(&p, &f, NOW),
	       "A[daily within 4d] C[daily within 4d] "
	       "D[daily within 4d] E[oldest daily within 4d]",
	       "keep-within-daily keeps the oldest, marked");
	pol(&p, "--keep-within-hourly 1d --keep-within-yearly 1y "
		"--keep-within-monthly 5d --keep-within-weekly 1m");
	is_str(run(&p, &f, NOW),
	       "A[hourly within 1d,weekly within 1m,"
	       "monthly within 5d,yearly within 1y] B[hourly within 1d] "
	       "C[weekly within 1m] E[oldest weekly within 1m,oldest monthly "
	       "within 5d,oldest yearly within 1y]",
	       "within-bucket rules in restic's order");
	fx_free(&f);

	is_int(bfs_ret_duration_parse("1y2m", &d, NULL), 0, "parse 1y2m");
	ok(d.years == 1 && d.months == 2 && !d.days && !d.hours, "1y2m");
	is_int(bfs_ret_duration_parse(" 30d ", &d, NULL), 0, "blanks");
	ok(d.days == 30 && !d.years, "30d");
	is_int(bfs_ret_duration_parse("1d2d", &d, NULL), 0, "unit twice");
	is_int(d.days, 2, "the later number wins, as in restic");
	is_int(bfs_ret_duration_parse("", &d, NULL), 0, "empty is zero");
	ok(bfs_ret_duration_zero(&d), "zero");
	bfs_ret_policy_fini(&p);
}

static void test_tags_and_refusals(void)
{
	struct bfs_ret_policy p;
	struct fixture f = {.n = 0};
	struct bfs_ret_result *r = NULL;
	struct bfs_err err = {""};
	struct bfs_ret_taglist l[2];

	bfs_ret_policy_init(&p);
	set_tz("UTC");
	fx_add(&f, "A", "2026-01-05T00:00:00Z", "t");
	fx_add(&f, "B", "2026-01-04T00:00:00Z", "a,b,t");
	fx_add(&f, "C", "2026-01-03T00:00:00Z", "a");
	fx_add(&f, "D", "2026-01-02T00:00:00Z", "c");
	fx_add(&f, "E", "2026-01-01T00:00:00Z", NULL);
	pol(&p, "--keep-tag a,b --keep-tag c");
	is_str(run(&p, &f, NOW), "B[has tags [a, b]] D[has tags [c]]",
	       "keep-tag: all tags of a list, any list");
	pol(&p, "--keep-tag a --keep-tag a,b --keep-last 1");
	is_str(run(&p, &f, NOW),
	       "A[last snapshot] B[has tags [a],has tags "
	       "[a, b]] C[has tags [a]]",
	       "one reason per matching list");
	pol(&p, "--keep-tag ,");
	is_str(run(&p, &f, NOW), "E[has tags [, ]]",
	       "an empty tag matches untagged backups");

	ok(bfs_ret_taglist_parse(" a , b", &l[0]) == 0 && l[0].ntags == 2 &&
	       strcmp(l[0].tags[0], "a") == 0 && strcmp(l[0].tags[1], "b") == 0,
	   "taglist: split and trimmed");
	ok(bfs_ret_taglist_parse("c", &l[1]) == 0, "taglist c");
	ok(bfs_ret_has_tags(&f.it[1], &l[0]), "has_tags");
	ok(!bfs_ret_has_tags(&f.it[2], &l[0]), "has_tags needs all");
	ok(bfs_ret_has_taglist(&f.it[3], l, 2), "has_taglist: any list");
	ok(!bfs_ret_has_taglist(&f.it[0], l, 2), "has_taglist: none");
	ok(bfs_ret_has_taglist(&f.it[0], l, 0), "no list: everything");
	bfs_ret_taglist_fini(&l[0]);
	bfs_ret_taglist_fini(&l[1]);

	/* Refusals. */
	pol(&p, "");
	ok(bfs_ret_policy_empty(&p), "empty policy");
	is_int(bfs_ret_apply(&p, f.it, f.n, NOW, &r, &err), -EINVAL,
	       "empty policy refused");
	ok(r == NULL && strstr(err.msg, "no policy was specified"),
	   "message: %s", err.msg);
	pol(&p, "--keep-last 0 --keep-daily 0 --keep-within 0d");
	ok(bfs_ret_policy_empty(&p), "zeros are an empty policy (restic)");
	pol(&p, "--unsafe-allow-remove-all");
	ok(bfs_ret_apply(&p, f.it, f.n, NOW, &r, &err) == 0 && r &&
	       r->nkeep == 0 && !r->d[0].keep,
	   "allowed: everything removed");
	bfs_ret_result_free(r);
	r = NULL;
	pol(&p, "--keep-tag zzz");
	is_int(bfs_ret_apply(&p, f.it, f.n, NOW, &r, &err), -EINVAL,
	       "a policy that keeps nothing is refused");
	ok(strstr(err.msg, "refusing to delete the last backup") != NULL,
	   "message: %s", err.msg);
	pol(&p, "--keep-tag zzz --unsafe-allow-remove-all");
	is_int(bfs_ret_apply(&p, f.it, f.n, NOW, &r, &err), -EINVAL,
	       "...even with allow_remove_all, as restic");
	ok(bfs_ret_apply(&p, f.it, 0, NOW, &r, &err) == 0 && r->n == 0,
	   "no backups: empty result");
	bfs_ret_result_free(r);
	r = NULL;
	pol(&p, "--keep-last 1");
	p.count[BFS_RET_DAILY] = -2;
	is_int(bfs_ret_apply(&p, f.it, f.n, NOW, &r, &err), -EINVAL,
	       "count below -1 refused");
	pol(&p, "--keep-last 1");
	p.within.days = -1;
	is_int(bfs_ret_apply(&p, f.it, f.n, NOW, &r, &err), -EINVAL,
	       "negative duration refused");
	fx_free(&f);
	bfs_ret_policy_fini(&p);
}

static void test_parse_errors(void)
{
	struct bfs_ret_policy p;
	struct bfs_ret_duration d;
	struct bfs_err err = {""};
	char buf[64];
	static const struct {
		const char *opt, *val, *msg;
	} bad[] = {
	    {"--keep-daily", "-2", "negative count"},
	    {"--keep-daily", "abc", "position 1 is 'a'"},
	    {"--keep-daily", "7x", "position 2 is 'x'"},
	    {"--keep-daily", "", "needs a count"},
	    {"--keep-daily", "-", "digits expected after the sign"},
	    {"--keep-daily", NULL, "needs a count"},
	    {"--keep-last", "99999999999", "too large"},
	    {"--keep-within", "5", "no unit found after number 5"},
	    {"--keep-within", "5x", "invalid unit 'x' at position 2"},
	    {"--keep-within", "d", "no number found at position 1"},
	    {"--keep-within", "-1d", "negative number"},
	    {"--keep-within-daily", "1d 2h",
	     "no number found at "
	     "position 3"},
	    {"--keep-within", "99999999999d", "too large"},
	    {"--unsafe-allow-remove-all", "maybe", "not true or false"},
	    {"--keep-tag", NULL, "needs tag"},
	};

	bfs_ret_policy_init(&p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = bfs_ret_policy_parse_option(&p, bad[i].opt, bad[i].val,
						     &err);

		ok(rc == -EINVAL && strstr(err.msg, bad[i].msg) &&
		       strstr(err.msg, bad[i].opt + 2),
		   "%s %s: %s", bad[i].opt, bad[i].val ? bad[i].val : "(none)",
		   err.msg);
	}
	ok(bfs_ret_policy_empty(&p), "failed options change nothing");
	is_int(bfs_ret_policy_parse_option(&p, "--keep-dayly", "7", &err),
	       -ENOENT, "unknown option: -ENOENT");
	is_int(bfs_ret_policy_parse_option(&p, "keep-weekly", "+4", &err), 0,
	       "without dashes, with a plus");
	is_int(p.count[BFS_RET_WEEKLY], 4, "weekly 4");
	is_int(bfs_ret_policy_parse_option(&p, "--keep-within-monthly", "1y6m",
					   &err),
	       0, "within-monthly");
	ok(p.within_bucket[BFS_RET_MONTHLY].years == 1 &&
	       p.within_bucket[BFS_RET_MONTHLY].months == 6,
	   "1y6m stored");
	is_int(
	    bfs_ret_policy_parse_option(&p, "--keep-yearly", "unlimited", &err),
	    0, "unlimited");
	is_int(p.count[BFS_RET_YEARLY], -1, "unlimited is -1");
	bfs_ret_policy_fini(&p);
	ok(bfs_ret_policy_empty(&p), "fini resets");

	{
		static const char *const desc[][2] = {
		    {"--keep-daily 7 --keep-weekly 4",
		     "keep 7 daily, 4 weekly snapshots"},
		    {"--keep-last -1 --keep-within-daily 30d --keep-tag a,b "
		     "--keep-tag c --keep-within 1y",
		     "keep all latest snapshots, daily snapshots within "
		     "30d and all snapshots with tags [[a, b] [c]] and all "
		     "snapshots within 1y of the newest"},
		    {"--keep-within 2d",
		     "keep all snapshots within 2d of the newest"},
		    {"--keep-within-hourly 1h --keep-yearly 1",
		     "keep 1 yearly snapshots, hourly snapshots within 1h"},
		    {"", "remove"},
		};

		for (size_t i = 0; i < sizeof(desc) / sizeof(desc[0]); i++) {
			struct bfs_buf b = {0};

			pol(&p, desc[i][0]);
			ok(bfs_ret_policy_describe(&p, &b) == 0, "describe");
			is_str(b.len ? (char *)b.data : "", desc[i][1],
			       "describe '%s'", desc[i][0]);
			bfs_buf_free(&b);
		}
		bfs_ret_policy_fini(&p);
	}

	d = (struct bfs_ret_duration){2, 5, 7, 3};
	bfs_ret_duration_format(&d, buf, sizeof(buf));
	is_str(buf, "2y5m7d3h", "format 2y5m7d3h");
	d = (struct bfs_ret_duration){0, 0, 30, 0};
	bfs_ret_duration_format(&d, buf, sizeof(buf));
	is_str(buf, "30d", "format 30d");
}

static void test_timefmt(void)
{
	struct bfs_err err = {""};
	int64_t ns = 0;
	char buf[BFS_TIME_STRLEN];
	static const struct {
		const char *s, *msg;
		int rc;
	} bad[] = {
	    {"garbage", "position 1: expected a 4-digit year", -EINVAL},
	    {"2026-11-20T05:15Z",
	     "position 17: expected ':' after the "
	     "minutes, found 'Z'",
	     -EINVAL},
	    {"2026-13-01T00:00:00Z",
	     "position 6: month 13 is out of "
	     "range",
	     -EINVAL},
	    {"2026-02-29T00:00:00Z",
	     "position 9: day 29 is out of range "
	     "(1-28)",
	     -EINVAL},
	    {"2026-11-20T24:00:00Z", "hour 24", -EINVAL},
	    {"2026-11-20T05:15:60Z", "second 60", -EINVAL},
	    {"2026-11-20T05:15:00+1:00",
	     "position 22: expected a 2-digit "
	     "offset hour, found ':'",
	     -EINVAL},
	    {"2026-11-20T05:15:00+01:60", "offset minute 60", -EINVAL},
	    {"2026-11-20T05:15:00Z ", "position 21: expected the end", -EINVAL},
	    {"2026-11-20T05:15:00.Z", "digits after the decimal point",
	     -EINVAL},
	    {"2026/11/20 05:15:00", "'-' after the year", -EINVAL},
	    {"", "found the end", -EINVAL},
	    {"2300-01-01T00:00:00Z", "outside", -ERANGE},
	};

	set_tz("UTC");
	is_int(bfs_time_parse("2026-11-20T05:15:00Z", &ns, &err), 0, "Z");
	is_int(ns, 1795151700LL * NS, "Z value");
	is_int(bfs_time_parse("2026-11-20t05:15:00z", &ns, &err), 0, "t z");
	is_int(ns, 1795151700LL * NS, "lowercase value");
	is_int(bfs_time_parse("2026-11-20T06:15:00+01:00", &ns, &err), 0,
	       "+01:00");
	is_int(ns, 1795151700LL * NS, "+01:00 value");
	is_int(bfs_time_parse("2026-11-20T01:45:00-03:30", &ns, &err), 0,
	       "-03:30");
	is_int(ns, 1795151700LL * NS, "-03:30 value");
	is_int(bfs_time_parse("2026-11-20T05:15:00.5Z", &ns, &err), 0,
	       "fraction");
	is_int(ns, 1795151700LL * NS + 500000000, "fraction value");
	is_int(bfs_time_parse("2026-11-20T05:15:00.1234567891Z", &ns, &err), 0,
	       "10 fraction digits");
	is_int(ns, 1795151700LL * NS + 123456789, "cut to ns");
	is_int(bfs_time_parse("2024-02-29 00:00:00", &ns, &err), 0, "leap");
	is_int(ns, 1709164800LL * NS, "local = UTC under TZ=UTC");
	is_int(bfs_time_parse("1969-12-31T23:59:59.5Z", &ns, &err), 0,
	       "before 1970");
	is_int(ns, -500000000LL, "before 1970 value");

	set_tz("Europe/Berlin");
	is_int(bfs_time_parse("2026-11-20 06:15:00", &ns, &err), 0, "local");
	is_int(ns, 1795151700LL * NS, "local Berlin, CET");
	is_int(bfs_time_parse("2026-03-29 02:30:00", &ns, &err), 0, "gap");
	is_int(ns, 1774747800LL * NS, "gap: 02:30 is 03:30 CEST (as Go)");
	is_int(bfs_time_parse("2026-10-25 02:30:00", &ns, &err), 0, "overlap");
	is_int(ns, 1792891800LL * NS, "overlap: the CET one (as Go)");
	ok(bfs_time_format(1795151700LL * NS, false, buf, sizeof(buf)) == 0,
	   "format local");
	is_str(buf, "2026-11-20T06:15:00+01:00", "local with offset");
	bfs_time_format(1782000000LL * NS + 120000000, false, buf, sizeof(buf));
	is_str(buf, "2026-06-21T02:00:00.12+02:00", "summer, fraction");
	bfs_time_format(1795151700LL * NS, true, buf, sizeof(buf));
	is_str(buf, "2026-11-20T05:15:00Z", "utc");
	set_tz("UTC");
	bfs_time_format(-1, false, buf, sizeof(buf));
	is_str(buf, "1969-12-31T23:59:59.999999999Z", "local UTC prints Z");
	is_int(bfs_time_format(0, true, buf, 10), -EINVAL, "small buffer");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = bfs_time_parse(bad[i].s, &ns, &err);

		ok(rc == bad[i].rc && strstr(err.msg, bad[i].msg),
		   "reject \"%s\": %s", bad[i].s, err.msg);
	}
}

static void test_group(void)
{
	const char *keys[] = {"h|/a", "h|/b", "h|/a", "x", "h|/b", ""};
	size_t g[6], n = 0;

	is_int(bfs_ret_group(keys, 6, g, &n, NULL), 0, "group");
	is_int(n, 4, "four groups");
	ok(g[0] == 0 && g[1] == 1 && g[2] == 0 && g[3] == 2 && g[4] == 1 &&
	       g[5] == 3,
	   "numbered by first appearance");
	is_int(bfs_ret_group(keys, 0, g, &n, NULL), 0, "no keys");
	is_int(n, 0, "no groups");
}

int main(void)
{
	test_counts();
	test_dst();
	test_within();
	test_tags_and_refusals();
	test_parse_errors();
	test_timefmt();
	test_group();
	return tap_done();
}
