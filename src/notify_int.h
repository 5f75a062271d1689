/* notify_int.h - what notify.c shares with notify_smtp.c.  Not a public
 * interface. */
#ifndef BFS_NOTIFY_INT_H
#define BFS_NOTIFY_INT_H

#include "notify.h"

/* One send: resolved options, the redactor, and the summary with every
 * string already redacted (owned copies). */
struct notify_ctx {
	unsigned tries;
	unsigned backoff_ms;
	long connect_timeout_ms;
	long timeout_ms;
	const struct bfs_notify_opts *opts; /* borrowed, may be NULL */
	struct bfs_redactor *red;
	struct bfs_run_summary s; /* redacted copy */
	char *own[8];		  /* strings of s we allocated */
	char **warn_own;	  /* s.warnings, allocated */
	char host[256];
};

/* The outcome of one attempt. */
struct notify_try {
	int rc;	       /* 0 or -errno */
	bool retry;    /* worth another try (network error, 5xx, 429) */
	char msg[512]; /* why it failed (may hold server text: redact) */
};

/* Look up an env name via opts->getenv_fn or getenv(3). */
const char *notify_getenv(const struct notify_ctx *c, const char *name);

/* Log at level after redacting the formatted line. */
void notify_log(const struct notify_ctx *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "ok" -> "succeeded", "warning" -> "succeeded with warnings", ... */
const char *notify_verb(enum bfs_run_status st);
/* "1h 2m 3s", "4.2 s". */
void notify_fmt_duration(char *out, size_t outsz, int64_t ns);
/* "2026-11-25 17:45:21 UTC". */
void notify_fmt_time(char *out, size_t outsz, int64_t ns);

/* Append the plain-text report (summary, warnings, error; the log tail if
 * with_tail) to b, lines ended by "\n".  0 or -ENOMEM. */
int notify_text(const struct notify_ctx *c, struct bfs_buf *b, bool with_tail);

/* Payloads, allocated (free()), NULL on -ENOMEM.  Teams: the card for
 * ch's format (AUTO resolved by host); Slack: {"text": ...}; ping: the
 * URL with suffix ("/start", "/fail", "") put before any query, and the
 * POST body (summary text, or error and log tail of a failed run). */
char *notify_teams_payload(const struct notify_ctx *c,
			   const struct bfs_notify_channel *ch);
/* True for classic Office 365 connector hosts (*.webhook.office.com,
 * outlook.office.com), which take a MessageCard. */
bool notify_teams_classic(const char *url);
char *notify_slack_payload(const struct notify_ctx *c);
char *notify_ping_url(const char *url, const char *suffix);
char *notify_ping_body(const struct notify_ctx *c);

/* Build the RFC 5322 message of an email channel (CRLF lines).  Exported
 * for the unit test's header checks.  0, -ENOMEM, -EINVAL. */
int notify_email_message(const struct notify_ctx *c,
			 const struct bfs_notify_channel *ch,
			 struct bfs_buf *out);
/* One attempt to send the email of ch. */
void notify_email_try(const struct notify_ctx *c,
		      const struct bfs_notify_channel *ch,
		      struct notify_try *t);

#endif
