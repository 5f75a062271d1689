/* notify.h - tell someone how a run went: the run summary, its JSON form,
 * and the notification channels (webhook, teams, slack, email, ping).
 *
 * The caller (the job runner) fills a struct bfs_run_summary and a list of
 * struct bfs_notify_channel (from the job file's "notify" array), then calls
 * bfs_notify_start() when a run begins and bfs_notify_send() when it ends.
 * A channel that fails is retried, then logged; it never changes the run's
 * result: the per-channel results are for logs and tests only.
 *
 * Secrets: every payload and every log line goes through the redactor,
 * which replaces each secret of opts->secrets (and their URL-encoded, JSON-
 * escaped and base64 forms) by "***".  The SMTP password and the path and
 * query of every channel URL (webhook tokens) are added to that list
 * automatically.  URLs are logged as scheme://host[:port] only.
 *
 * All structs here are plain data with borrowed pointers: nothing is freed
 * by this module unless a function says it allocates.
 *
 * Thread safety: every function is reentrant (no global state besides
 * src/log.h).  libcurl must have been initialised by the program
 * (curl_global_init) before the first send.
 *
 * doc/NOTIFY.md documents the payloads, levels, retries and secrets.
 */
#ifndef BFS_NOTIFY_H
#define BFS_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum bfs_run_status {
	BFS_RUN_OK = 0,
	BFS_RUN_WARNING = 1,
	BFS_RUN_FAILED = 2,
};

/* What one run did.  All strings are borrowed, UTF-8, may be NULL (then
 * null in the JSON, "-" in texts).  Numbers are plain counts. */
struct bfs_run_summary {
	const char *job;       /* job name */
	const char *backup_id; /* NULL when no backup was written */
	enum bfs_run_status status;
	int64_t start_ns;    /* wall clock, ns since the epoch */
	int64_t duration_ns; /* >= 0 */
	uint64_t bytes_read;
	uint64_t bytes_added;
	uint64_t files;
	const char *const *warnings; /* nwarnings strings */
	size_t nwarnings;
	const char *error;    /* error text of a failed run */
	const char *log_tail; /* last lines of the run log */
	const char *host;     /* host name; NULL: gethostname() */
};

/* "ok", "warning", "failed".  Never NULL. */
const char *bfs_run_status_name(enum bfs_run_status st);

/* Build the JSON form of s (doc/NOTIFY.md "Run summary"): one object,
 * keys in a fixed order, pretty-printed if pretty, else one line.  No
 * redaction is done here (bfs_notify_send redacts what it sends).
 * *out is allocated (free()).  Returns 0, -ENOMEM, or -EINVAL (s->job is
 * NULL). */
int bfs_run_summary_json(const struct bfs_run_summary *s, bool pretty,
			 char **out, struct bfs_err *err);

enum bfs_notify_type {
	BFS_NOTIFY_WEBHOOK,
	BFS_NOTIFY_TEAMS,
	BFS_NOTIFY_SLACK,
	BFS_NOTIFY_EMAIL,
	BFS_NOTIFY_PING,
};

/* Which runs a channel hears about (the seed's ALERT_LEVEL). */
enum bfs_notify_level {
	BFS_NOTIFY_ERRORS,   /* failed runs only */
	BFS_NOTIFY_WARNINGS, /* failed and warning runs */
	BFS_NOTIFY_ALL,	     /* every run */
};

/* Teams card flavour.  AUTO: MessageCard for classic connector hosts
 * (*.webhook.office.com, outlook.office.com), the Adaptive Card envelope
 * for everything else (Power Automate / Workflows URLs). */
enum bfs_teams_format {
	BFS_TEAMS_AUTO,
	BFS_TEAMS_MESSAGECARD,
	BFS_TEAMS_ADAPTIVE,
};

/* One channel, as the job file's "notify" entry describes it.  Strings are
 * borrowed.  Fields a type does not use are ignored. */
struct bfs_notify_channel {
	enum bfs_notify_type type;
	enum bfs_notify_level level;
	const char *url; /* webhook, teams, slack, ping: http(s) */
	enum bfs_teams_format teams_format;
	/* email */
	const char *const *to; /* nto recipient addresses */
	size_t nto;
	const char *from;	  /* sender address */
	const char *smtp;	  /* smtp://host[:port] or smtps://... */
	const char *user_env;	  /* env name of the SMTP user (SMTP_USER) */
	const char *password_env; /* env name of the password (SMTP_PASSWORD) */
};

/* Parse the job file's words.  Return 0 or -EINVAL. */
int bfs_notify_type_parse(const char *s, enum bfs_notify_type *out);
int bfs_notify_level_parse(const char *s, enum bfs_notify_level *out);
int bfs_teams_format_parse(const char *s, enum bfs_teams_format *out);
const char *bfs_notify_type_name(enum bfs_notify_type t);
const char *bfs_notify_level_name(enum bfs_notify_level l);

/* Check that ch has what its type needs (url with an http/https scheme and
 * a host; email: from, at least one to, smtp/smtps url; addresses without
 * control characters or angle brackets).  idx names the entry in the
 * message ("notify[2].smtp: ...").  Never echoes a URL's path or query.
 * Returns 0 or -EINVAL with err set. */
int bfs_notify_channel_check(const struct bfs_notify_channel *ch, size_t idx,
			     struct bfs_err *err);

/* True if a run with status st is sent to a channel of level l. */
bool bfs_notify_wanted(enum bfs_notify_level l, enum bfs_run_status st);

/* Looks up an environment variable for the SMTP credentials: the job's env
 * file first, then the process environment.  Returns a borrowed string or
 * NULL. */
typedef const char *(*bfs_notify_getenv_fn)(void *ctx, const char *name);

struct bfs_notify_opts {
	unsigned tries;		    /* attempts per channel; 0 means 3 */
	unsigned backoff_ms;	    /* delay before try 2, doubled after;
				       0 means 1000 (1 s, 2 s) */
	long connect_timeout_ms;    /* 0 means 10000 */
	long timeout_ms;	    /* whole transfer; 0 means 30000 */
	const char *const *secrets; /* nsecrets values never to show */
	size_t nsecrets;
	bfs_notify_getenv_fn getenv_fn; /* NULL: getenv(3) */
	void *getenv_ctx;
};

/* Per-channel outcome, results[i] for chs[i]. */
enum {
	BFS_NOTIFY_SENT = 0,	/* delivered (2xx / 250) */
	BFS_NOTIFY_SKIPPED = 1, /* level or event does not concern it */
	/* < 0: -errno, failed after all tries (logged) */
};

/* A run begins: ping channels of level "all" get URL/start (GET).  Other
 * channels are skipped.  s needs job (and host) only.  results (may be
 * NULL) gets nchs entries.  Returns the number of channels that failed
 * (>= 0) or -ENOMEM; callers log it at most, never fail the run on it. */
int bfs_notify_start(const struct bfs_notify_channel *chs, size_t nchs,
		     const struct bfs_run_summary *s,
		     const struct bfs_notify_opts *opts, int *results);

/* A run ended: each channel whose level wants s->status gets its payload:
 * webhook the JSON summary, teams a card, slack {"text":...}, email a
 * plain-text mail, ping URL (ok/warning) or URL/fail with the log tail.
 * Channels are tried in order, each up to opts->tries times.  Returns as
 * bfs_notify_start. */
int bfs_notify_send(const struct bfs_notify_channel *chs, size_t nchs,
		    const struct bfs_run_summary *s,
		    const struct bfs_notify_opts *opts, int *results);

/* --- Redaction (exported for the run log and the tests) --- */

/* A set of secret patterns: each secret (>= 4 bytes; shorter ones are not
 * secrets worth the damage of replacing them everywhere) plus its
 * URL-encoded, JSON-escaped and base64 forms. */
struct bfs_redactor;

/* Create a redactor over the n secrets (copied; NULL entries skipped).
 * Returns NULL on -ENOMEM. */
struct bfs_redactor *bfs_redactor_new(const char *const *secrets, size_t n);
/* Add one secret (copied).  0 or -ENOMEM. */
int bfs_redactor_add(struct bfs_redactor *r, const char *secret);
/* Return a copy of s with every pattern replaced by "***" (allocated; NULL
 * s gives NULL, NULL on -ENOMEM).  Longest patterns are matched first. */
char *bfs_redact(const struct bfs_redactor *r, const char *s);
void bfs_redactor_free(struct bfs_redactor *r); /* NULL ok */

/* Write "scheme://host[:port]" of url into out (never the user info, path
 * or query); "(bad url)" if it cannot be parsed. */
void bfs_url_origin(const char *url, char *out, size_t outsz);

#endif
