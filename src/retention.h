/* retention.h - which backups a `forget` policy keeps: restic's rules,
 * exactly (restic internal/data/snapshot_policy.go, cmd_forget.go, as of
 * restic 0.18/0.19; doc/RETENTION.md lists the rules and the few places
 * where a caller has to do what restic's command does).
 *
 * A pure engine: no repository, no I/O.  The caller lists the backups of
 * one group (bfs_ret_group partitions a repository's backups by a key the
 * caller builds), applies the policy to each group and gets, per backup,
 * keep or remove and every reason it is kept ("daily snapshot", "within
 * 30d", "has tags [a, b]", "oldest monthly snapshot", ... the strings of
 * restic's JSON `reasons[].matches`).
 *
 *   struct bfs_ret_policy p;
 *   bfs_ret_policy_init(&p);
 *   bfs_ret_policy_parse_option(&p, "--keep-daily", "7", err);
 *   bfs_ret_policy_parse_option(&p, "--keep-within", "1y2m", err);
 *   bfs_ret_apply(&p, items, n, bfs_now_ns(), &res, err);
 *   for (k = 0; k < res->n; k++) { i = res->order[k]; res->d[i].keep ... }
 *   bfs_ret_result_free(res);
 *   bfs_ret_policy_fini(&p);
 *
 * Buckets (hour, day, ISO week, month, year) are taken from each backup's
 * time in local time (TZ).  Thread safety: functions touch only their
 * arguments; they read the C library's zone, so TZ must not change
 * meanwhile.
 */
#ifndef BFS_RETENTION_H
#define BFS_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bfs_err;

/* restic's Duration: a calendar amount, not a number of seconds.  "1y2m"
 * is 1 year and 2 months, subtracted from the newest backup's local wall
 * clock with Go's AddDate normalisation (2026-03-31 minus 1m is
 * 2026-03-03), then the hours as absolute time.  All fields >= 0. */
struct bfs_ret_duration {
	int years, months, days, hours;
};

/* One --keep-tag value: a backup matches if it has every tag in it
 * (restic's TagList; "a,b" is [a b]). */
struct bfs_ret_taglist {
	char **tags; /* owned */
	size_t ntags;
};

/* The bucket rules, in restic's evaluation (and reason) order. */
enum bfs_ret_bucket {
	BFS_RET_HOURLY,
	BFS_RET_DAILY,
	BFS_RET_WEEKLY,
	BFS_RET_MONTHLY,
	BFS_RET_YEARLY,
	BFS_RET_NBUCKETS
};

/* A policy.  Counts: 0 = rule off, N > 0 = that many, -1 = unlimited.
 * Initialise with bfs_ret_policy_init (all off), release with
 * bfs_ret_policy_fini.  Fields may be set directly. */
struct bfs_ret_policy {
	int last;			/* --keep-last */
	int count[BFS_RET_NBUCKETS];	/* --keep-hourly.. */
	struct bfs_ret_duration within; /* --keep-within */
	struct bfs_ret_duration within_bucket[BFS_RET_NBUCKETS];
	/* --keep-within-hourly.. */
	struct bfs_ret_taglist *keep_tags; /* --keep-tag, owned */
	size_t nkeep_tags;
	/* --unsafe-allow-remove-all: an empty policy removes every backup
	 * instead of being refused.  restic also requires a backup filter
	 * (--tag, --host, --path) with it; that check is the caller's. */
	bool allow_remove_all;
};

void bfs_ret_policy_init(struct bfs_ret_policy *p);
/* Free the tag lists; p is left as after init.  NULL is a no-op. */
void bfs_ret_policy_fini(struct bfs_ret_policy *p);

/* True when no rule is set (counts 0, durations zero, no keep-tag):
 * restic's ExpirePolicy.Empty(). */
bool bfs_ret_policy_empty(const struct bfs_ret_policy *p);

/* restic's "Applying Policy: ..." text (ExpirePolicy.String()), appended
 * to out: "keep 7 daily, 4 weekly snapshots, daily snapshots within 30d
 * and all snapshots with tags [[a, b]] and all snapshots within 1y of the
 * newest", "keep all daily snapshots", or "remove" for an empty policy.
 * Returns 0 or -ENOMEM. */
struct bfs_buf;
int bfs_ret_policy_describe(const struct bfs_ret_policy *p,
			    struct bfs_buf *out);

/* Set one rule from a command-line or job-file option.  name is the
 * option with or without the leading "--": keep-last, keep-hourly,
 * keep-daily, keep-weekly, keep-monthly, keep-yearly (value: N >= 0,
 * "unlimited" or "-1"), keep-within, keep-within-hourly, -daily,
 * -weekly, -monthly, -yearly (value: a duration, see below), keep-tag
 * (value: "tag[,tag...]", may be given many times; each adds a list),
 * unsafe-allow-remove-all (value NULL, "true" or "false").  A later
 * option replaces an earlier one of the same name, except keep-tag.
 * Returns 0, -EINVAL (err says which option and what is wrong; p
 * unchanged), -ENOENT (not a policy option: the caller may try its own)
 * or -ENOMEM. */
int bfs_ret_policy_parse_option(struct bfs_ret_policy *p, const char *name,
				const char *value, struct bfs_err *err);

/* Parse a duration as restic does: blanks around are ignored, then one
 * or more NUMBER UNIT pairs, UNIT one of y m d h ("2y5m7d3h"; a unit given
 * twice keeps the later number, as in restic).  Negative numbers are
 * refused (restic's forget refuses them too).  Returns 0, -EINVAL or
 * -ERANGE (a number over INT_MAX), err naming the position. */
int bfs_ret_duration_parse(const char *s, struct bfs_ret_duration *d,
			   struct bfs_err *err);

/* restic's Duration.String(): "1y2m", "30d", "" for zero.  buf needs 64
 * bytes. */
void bfs_ret_duration_format(const struct bfs_ret_duration *d, char *buf,
			     size_t size);

static inline bool bfs_ret_duration_zero(const struct bfs_ret_duration *d)
{
	return !d->years && !d->months && !d->days && !d->hours;
}

/* Split "a, b,c" into a tag list as restic does (split on commas, blanks
 * around each tag trimmed, empty tags kept: "" is the list [""], which
 * matches backups without tags).  Returns 0 or -ENOMEM. */
int bfs_ret_taglist_parse(const char *s, struct bfs_ret_taglist *out);
void bfs_ret_taglist_fini(struct bfs_ret_taglist *l);

/* A backup as the policy sees it.  All pointers borrowed. */
struct bfs_ret_item {
	const char *id;
	int64_t time_ns; /* UTC, ns since the epoch */
	const char *const *tags;
	size_t ntags;
};

/* restic's Snapshot.HasTags: the item has every tag of l; an empty tag
 * in l matches an item without tags. */
bool bfs_ret_has_tags(const struct bfs_ret_item *it,
		      const struct bfs_ret_taglist *l);

/* restic's HasTagList, the --tag filter: true if nl == 0 or the item
 * has all tags of at least one list. */
bool bfs_ret_has_taglist(const struct bfs_ret_item *it,
			 const struct bfs_ret_taglist *lists, size_t nl);

/* The decision for one item. */
struct bfs_ret_decision {
	bool keep;
	char **matches;	 /* the reasons, restic's order and strings */
	size_t nmatches; /* 0 when removed */
};

/* The result of bfs_ret_apply.  Owned by the caller
 * (bfs_ret_result_free). */
struct bfs_ret_result {
	size_t n;
	size_t *order;		    /* item indexes, newest first; ties
				       in the caller's order */
	struct bfs_ret_decision *d; /* indexed like the items */
	size_t nkeep;
};

/* Apply policy p to the n backups of one group.  items may be in any
 * order: they are stably sorted newest first (restic sorts the same way;
 * backups with equal times keep the order given, so pass a deterministic
 * one, e.g. by id).  now_ns is the current time: --keep-within* count
 * from the newest backup that is older than now (restic ignores backups
 * in the future there).
 * Refusals, both as restic's forget:
 *  - an empty policy without allow_remove_all: -EINVAL, "no policy was
 *    specified, no backups will be removed";
 *  - a non-empty policy that would keep none of n > 0 backups: -EINVAL,
 *    "refusing to delete the last backup of the group".
 * With allow_remove_all, an empty policy removes all.  n == 0 gives an
 * empty result.  Returns 0 (*out set), -EINVAL (also for a count below
 * -1 or a negative duration) or -ENOMEM. */
int bfs_ret_apply(const struct bfs_ret_policy *p,
		  const struct bfs_ret_item *items, size_t n, int64_t now_ns,
		  struct bfs_ret_result **out, struct bfs_err *err);

void bfs_ret_result_free(struct bfs_ret_result *r); /* NULL ok */

/* Partition n backups into groups by a key string the caller builds
 * (from --group-by: host, sources, tags).  group[i] receives the group
 * number of item i; groups are numbered 0.. in order of first
 * appearance; *ngroups their count.  keys borrowed; equal strings, equal
 * group.  Returns 0 or -ENOMEM. */
int bfs_ret_group(const char *const *keys, size_t n, size_t *group,
		  size_t *ngroups, struct bfs_err *err);

#endif
