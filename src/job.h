/* job.h - job files: parse and validate a JSON job (doc/JOBS.md) into a
 * plain struct, and load the job's env_file.
 *
 *   struct bfs_job *job;
 *   if (bfs_job_load("/etc/backupfs/jobs/nocodb.json", &job, &err) < 0)
 *           ... err.msg: "FILE: sources[2].exclude[0]: expected a string"
 *   for (i = 0; i < job->nsources; i++)
 *           bfs_source_run(b, &job->sources[i].src, &err);
 *   bfs_job_free(job);
 *
 * Validation is strict and stops at the first error, whose message starts
 * with the exact field path (`retention.keep_daily`, `sources[2].exclude[0]`,
 * `notify[1].level`).  Unknown keys and duplicate keys are errors.  Values
 * that may be secrets (source strings, URLs, hook commands, env values)
 * are never echoed; strings that carry a password (a URI with user:pass@
 * or a `password=` setting) are refused: secrets belong in the env_file.
 *
 * Thread safety: a parsed job is immutable; it may be read from several
 * threads.  bfs_job_env_apply changes the process environment (setenv):
 * call it in a child process or before starting threads.
 */
#ifndef BFS_JOB_H
#define BFS_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

struct bfs_err;
struct bfs_schedule;
struct cJSON;

#define BFS_JOB_NAME_MAX 64
#define BFS_JOB_FILE_MAX (1 << 20)	 /* job files larger are refused */
#define BFS_JOB_HOOK_TIMEOUT_DEFAULT 600 /* hooks.timeout: 10m */

/* One entry of "sources".  src is what bfs_source_run takes: kind, arg
 * (the kind key's string), excludes (files/archive "exclude") and
 * ignore_tables (mysql_dump "ignore_table"); both lists are
 * NULL-terminated and never NULL.  Everything is borrowed from the job. */
struct bfs_job_source {
	struct bfs_source src;
	const char *kind_name; /* the JSON key: "pg_dump", "files", ... */
	char *dest;	       /* where it lands in the backup (owned by
				  the job, from bfs_source_dest) */
	/* a nocodb source: src.nocodb points here; token NULL (the source
	 * reads NOCODB_API_TOKEN, e.g. from the env_file); bases borrowed
	 * from the job */
	struct bfs_nocodb_opts nocodb;
};

struct bfs_job_hooks {
	/* NULL-terminated lists of shell commands, never NULL */
	const char **pre, **post, **on_failure, **on_success;
	size_t npre, npost, non_failure, non_success;
	uint64_t timeout; /* seconds, per command; default 10m */
};

enum bfs_job_prune {
	BFS_JOB_PRUNE_ALWAYS, /* after every forget (the default) */
	BFS_JOB_PRUNE_NEVER,
	BFS_JOB_PRUNE_DAILY, /* at most once per calendar day */
	BFS_JOB_PRUNE_WEEKLY,
	BFS_JOB_PRUNE_MONTHLY,
	BFS_JOB_PRUNE_SCHEDULE, /* prune_schedule says when */
};

/* "retention": the forget policy.  Counts are 0 when the rule is off. */
struct bfs_job_retention {
	bool set; /* the key was present */
	unsigned keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,
	    keep_yearly;
	const char *keep_within; /* forget's --keep-within text (units y, m
				    = months, d, h), or NULL */
	const char **keep_tag;	 /* NULL-terminated, never NULL */
	size_t nkeep_tag;
	enum bfs_job_prune prune;
	struct bfs_schedule *prune_schedule; /* owned; PRUNE_SCHEDULE only */
};

enum bfs_job_verify_mode {
	BFS_JOB_VERIFY_NONE,
	BFS_JOB_VERIFY_SUBSET, /* check --read-data-subset SUBSET */
	BFS_JOB_VERIFY_ALL,    /* check --read-data */
};

enum bfs_job_notify_type {
	BFS_JOB_NOTIFY_WEBHOOK,
	BFS_JOB_NOTIFY_TEAMS,
	BFS_JOB_NOTIFY_SLACK,
	BFS_JOB_NOTIFY_EMAIL,
	BFS_JOB_NOTIFY_PING,
};

enum bfs_job_notify_level {
	BFS_JOB_LEVEL_ERRORS,	/* failed runs */
	BFS_JOB_LEVEL_WARNINGS, /* failed and warning runs */
	BFS_JOB_LEVEL_ALL,	/* every run */
};

/* One "notify" channel, validated: the generic fields are filled; the
 * channel's raw JSON object stays available as `raw` (borrowed from the
 * job) for the notify module.  Unused fields are NULL / 0. */
struct bfs_job_notify {
	enum bfs_job_notify_type type;
	const char *type_name;		 /* "webhook", "teams", ... */
	enum bfs_job_notify_level level; /* default: errors, ping: all */
	const char *url;    /* webhook, teams, slack, ping: http(s) */
	const char *format; /* teams: "auto", "messagecard",
			       "adaptive", or NULL */
	const char **to;    /* email: NULL-terminated, nto >= 1 */
	size_t nto;
	const char *from;	  /* email: sender address */
	const char *smtp;	  /* email: smtp:// or smtps:// URL */
	const char *user_env;	  /* email: env names of the SMTP login, */
	const char *password_env; /* or NULL (notify picks its default) */
	const struct cJSON *raw;  /* the channel's object */
};

/* A parsed job.  Read-only for callers.  Strings point into `root`, the
 * parsed document, which the job owns; everything lives until
 * bfs_job_free.  Absent optional keys: NULL, 0, empty lists (never NULL
 * lists), defaults as doc/JOBS.md says. */
struct bfs_job {
	const char *name; /* [A-Za-z0-9._-], 1..64, no leading . - */
	const char *repository;
	const char *env_file; /* absolute path, or NULL */
	const char **tags;    /* NULL-terminated */
	size_t ntags;
	struct bfs_job_source *sources; /* nsources >= 1, in order */
	size_t nsources;
	struct bfs_job_hooks hooks;
	struct bfs_job_retention retention;
	const char **copy_to; /* NULL-terminated repository URLs/paths */
	size_t ncopy_to;
	bool delete_local_after_copy;
	enum bfs_job_verify_mode verify;
	const char *verify_subset;     /* "5%", "1/10", "500M" (SUBSET mode) */
	struct bfs_schedule *schedule; /* owned; NULL: runs only by hand */
	bool catch_up;		       /* default true */
	bool delta; /* similarity deltas for dumps; default true */
	struct bfs_job_notify *notify;
	size_t nnotify;
	struct cJSON *root; /* owned */
};

/* Parse and validate a job from text[0..len) (need not be
 * NUL-terminated).  *out is allocated; free with bfs_job_free.  Returns 0,
 * -ENOMEM, or -EINVAL with err set to "FIELD: problem" (or "line L, column
 * C: invalid JSON").  Does not touch the file system: the env_file and the
 * repository are not opened here. */
int bfs_job_parse(const char *text, size_t len, struct bfs_job **out,
		  struct bfs_err *err);

/* Read the job file at path (at most BFS_JOB_FILE_MAX bytes) and parse it.
 * Messages are prefixed with "PATH: ".  Returns 0 or -errno (-ENOENT,
 * -EFBIG, -EINVAL, ...). */
int bfs_job_load(const char *path, struct bfs_job **out, struct bfs_err *err);

/* Release a job.  NULL is a no-op. */
void bfs_job_free(struct bfs_job *job);

/* True if name is a valid job name: 1..64 of [A-Za-z0-9._-], not starting
 * with '.' or '-'. */
bool bfs_job_name_valid(const char *name);

/* True if s carries a password: a URI "scheme://user:password@host" or a
 * "password=" setting (any case, e.g. PGPASSWORD=, --password=). */
bool bfs_job_has_password(const char *s);

/* ---- env_file ---------------------------------------------------------- */

struct bfs_job_env_var {
	char *key;
	char *value; /* a secret: never print it */
};

/* The variables of an env_file, in file order; a key given twice keeps
 * the later value (in its first position). */
struct bfs_job_env {
	struct bfs_job_env_var *vars;
	size_t n;
};

/* Load an env_file.  Refuses (-EPERM) a file that is not a regular file
 * owned by the effective user with no group/other permission bits (0600
 * or stricter), and (-EFBIG) one over 64 KiB.  Lines: KEY=VALUE, with an
 * optional "export " prefix; blank lines and lines starting with '#' are
 * skipped; KEY is [A-Za-z_][A-Za-z0-9_]*; VALUE is the rest of the line
 * (trailing blanks removed) or a quoted string: '...' literal, "..." with
 * \" \\ \n \t \$ escapes.  Nothing may follow the closing quote but
 * blanks or a # comment.  Errors name the path and line, never the value.
 * *out is allocated; free with bfs_job_env_free. */
int bfs_job_load_env(const char *path, struct bfs_job_env **out,
		     struct bfs_err *err);

/* The value of key, or NULL.  Borrowed from e. */
const char *bfs_job_env_get(const struct bfs_job_env *e, const char *key);

/* setenv() every variable (overwriting).  Not thread-safe: call it in
 * the child that runs the job, or before threads start.  Returns 0 or
 * -errno. */
int bfs_job_env_apply(const struct bfs_job_env *e, struct bfs_err *err);

/* Wipe the values and release.  NULL is a no-op. */
void bfs_job_env_free(struct bfs_job_env *e);

#endif
