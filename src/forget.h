/* forget.h - `backupfs forget` and `backupfs delete`: decide which backups
 * to remove (named ones, or what a retention policy does not keep, per
 * group), then remove them: their manifests, nothing else (prune frees
 * the packs).
 *
 *   struct bfs_forget_set s = {0};
 *   bfs_forget_set_add(&s, id, time_ns, host, tags_json, header_json, err);
 *   ...                                  (every backup of the repository)
 *   bfs_forget_plan(&s, &opts, &plan, err);        (pure: no I/O)
 *   bfs_forget_plan_json(&s, plan, &text);         (restic's JSON shape)
 *   bfs_forget_apply(repo, lock, &s, plan, cb, arg, &n, err);
 *   bfs_forget_plan_free(plan);
 *   bfs_forget_set_fini(&s);
 *
 * The policy is src/retention.h's (restic's rules); grouping and the
 * --tag filter are done here.  Thread safety: none needed; the functions
 * touch only their arguments (and the C library's zone, see
 * retention.h).
 */
#ifndef BFS_FORGET_H
#define BFS_FORGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo.h"
#include "retention.h"
#include "util.h"

struct bfs_lock;

/* --group-by keys (an OR of these; 0: one group for everything). */
enum {
	BFS_FORGET_BY_HOST = 1,
	BFS_FORGET_BY_SOURCES = 2, /* the set of source destinations */
	BFS_FORGET_BY_TAGS = 4,
	BFS_FORGET_BY_JOB = 8, /* the job that made it (none is a group) */
};
#define BFS_FORGET_BY_DEFAULT BFS_FORGET_BY_SOURCES

/* Parse --group-by: a comma list of host, sources (or restic's name
 * paths), tags, job; "" for none.  0, or -EINVAL naming the bad word. */
int bfs_forget_parse_group_by(const char *s, unsigned *out,
			      struct bfs_err *err);

/* One backup as forget sees it (everything owned by the set). */
struct bfs_forget_backup {
	char *id;
	int64_t time_ns;
	char *host;
	char *job;   /* the header's "job" (a valid job name), or NULL */
	char **tags; /* as recorded, NULL-terminated */
	size_t ntags;
	char **sources; /* the destinations (header sources[].dest),
			   sorted, unique, NULL-terminated */
	size_t nsources;
};

/* The backups of a repository.  Zero-initialise; bfs_forget_set_fini
 * frees. */
struct bfs_forget_set {
	struct bfs_forget_backup *v;
	size_t n, cap;
};

/* Add a backup.  tags_json (a JSON array of strings) and header_json (the
 * manifest's header line, for its "sources" and "job") are untrusted
 * text, as a catalog hands them out: each may be NULL; what is not a
 * string is skipped; a header that does not parse gives no sources and
 * no job, a "job" that is not a valid job name gives no job.  All arguments
 * are copied.  0 or -ENOMEM. */
int bfs_forget_set_add(struct bfs_forget_set *s, const char *id,
		       int64_t time_ns, const char *host, const char *tags_json,
		       const char *header_json, struct bfs_err *err);
void bfs_forget_set_fini(struct bfs_forget_set *s); /* NULL ok */

struct bfs_forget_opts {
	/* Either ids (named backups; "latest" is the newest backup) ... */
	const char *const *ids;
	size_t nids;
	/* ... or a policy (ids must then be 0), applied per group to the
	 * backups that pass the tag filter. */
	const struct bfs_ret_policy *policy;
	const struct bfs_ret_taglist *tags; /* --tag filter (restic's) */
	size_t ntags;
	const char *job;   /* --job filter: only that job's backups, NULL:
			    * all (policy mode only, like the tag filter) */
	unsigned group_by; /* BFS_FORGET_BY_* */
	int64_t now_ns;	   /* for --keep-within* */
};

/* One group: its members (indexes into the set), newest first, and
 * for each whether it is removed and why it is kept. */
struct bfs_forget_group {
	size_t *members;
	size_t n;
	bool *remove;		    /* [n] */
	char ***reasons;	    /* [n]: the retention reasons (restic's
				       strings), borrowed from res; NULL in id
				       mode */
	size_t *nreasons;	    /* [n] */
	struct bfs_ret_result *res; /* NULL in id mode */
};

struct bfs_forget_plan {
	struct bfs_forget_group *groups;
	size_t ngroups;
	unsigned group_by; /* what the groups are keyed by */
	size_t nkeep, nremove;
};

/* Decide.  Id mode: every named backup is removed (one group); an id
 * that is not in the set is -ENOENT "no backup 'ID' in the repository"
 * and nothing is planned.  Policy mode: the backups that pass the tag
 * filter (and the job filter) are grouped and the policy applied to each group
 * (the retention engine's refusals, -EINVAL, apply to the whole plan).  Ties in
 * time are ordered by id.  *out owned by the caller (bfs_forget_plan_free).  0,
 * -ENOENT, -EINVAL or -ENOMEM. */
int bfs_forget_plan(const struct bfs_forget_set *s,
		    const struct bfs_forget_opts *o,
		    struct bfs_forget_plan **out, struct bfs_err *err);
void bfs_forget_plan_free(struct bfs_forget_plan *p); /* NULL ok */

/* The plan as `restic forget --json` prints it: an array of groups
 * {"tags","host","paths","keep":[S],"remove":[S],"reasons":[{"snapshot":
 * S,"matches":[...]}]} with S = {"time" (RFC 3339, local), "tags",
 * "hostname", "paths", "id", "short_id"}; "paths" are our sources; a
 * group's tags/host/paths are null/""/null unless grouped by them; a
 * group has "job" (the name, or null) only when grouped by job.
 * *out: malloc'ed text.  0 or -ENOMEM. */
int bfs_forget_plan_json(const struct bfs_forget_set *s,
			 const struct bfs_forget_plan *p, char **out);

/* Remove the manifests of the plan's removals from r.  lock (borrowed,
 * may be NULL; the caller holds it, shared) is checked before the first
 * deletion and every 10 s after: a lost lock stops the removal
 * (-ENOLCK).  A manifest already gone counts as removed.  cb (may be
 * NULL) is called after each removal with the backup's id.  *removed
 * (may be NULL) gets the number removed, also on failure.  0 or -errno
 * naming the manifest. */
int bfs_forget_apply(struct bfs_repo *r, struct bfs_lock *lock,
		     const struct bfs_forget_set *s,
		     const struct bfs_forget_plan *p,
		     void (*cb)(void *arg, const char *id), void *arg,
		     size_t *removed, struct bfs_err *err);

#endif
