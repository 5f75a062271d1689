/* notify.c - run summary JSON, levels, channel checks, the HTTP client and
 * the dispatch with retries.  The Teams/Slack/ping payloads live in
 * notify_payload.c, email in notify_smtp.c, the redactor in
 * notify_redact.c.  See notify.h and doc/NOTIFY.md.
 */
#include "config.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "notify_int.h"

static const char *const type_names[] = {"webhook", "teams", "slack", "email",
					 "ping"};
static const char *const level_names[] = {"errors", "warnings", "all"};
static const char *const teams_names[] = {"auto", "messagecard", "adaptive"};

static int parse_word(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -EINVAL;
}

int bfs_notify_type_parse(const char *s, enum bfs_notify_type *out)
{
	int i = parse_word(s, type_names, BFS_ARRAY_SIZE(type_names));

	if (i < 0)
		return i;
	*out = (enum bfs_notify_type)i;
	return 0;
}

int bfs_notify_level_parse(const char *s, enum bfs_notify_level *out)
{
	int i = parse_word(s, level_names, BFS_ARRAY_SIZE(level_names));

	if (i < 0)
		return i;
	*out = (enum bfs_notify_level)i;
	return 0;
}

int bfs_teams_format_parse(const char *s, enum bfs_teams_format *out)
{
	int i = parse_word(s, teams_names, BFS_ARRAY_SIZE(teams_names));

	if (i < 0)
		return i;
	*out = (enum bfs_teams_format)i;
	return 0;
}

const char *bfs_notify_type_name(enum bfs_notify_type t)
{
	return (unsigned)t < BFS_ARRAY_SIZE(type_names) ? type_names[t] : "?";
}

const char *bfs_notify_level_name(enum bfs_notify_level l)
{
	return (unsigned)l < BFS_ARRAY_SIZE(level_names) ? level_names[l] : "?";
}

const char *bfs_run_status_name(enum bfs_run_status st)
{
	switch (st) {
	case BFS_RUN_OK:
		return "ok";
	case BFS_RUN_WARNING:
		return "warning";
	default:
		return "failed";
	}
}

const char *notify_verb(enum bfs_run_status st)
{
	switch (st) {
	case BFS_RUN_OK:
		return "succeeded";
	case BFS_RUN_WARNING:
		return "succeeded with warnings";
	default:
		return "failed";
	}
}

bool bfs_notify_wanted(enum bfs_notify_level l, enum bfs_run_status st)
{
	switch (l) {
	case BFS_NOTIFY_ALL:
		return true;
	case BFS_NOTIFY_WARNINGS:
		return st != BFS_RUN_OK;
	default:
		return st == BFS_RUN_FAILED;
	}
}

/* --- Formatting helpers --- */

void notify_fmt_duration(char *out, size_t outsz, int64_t ns)
{
	int64_t s = ns < 0 ? 0 : ns / 1000000000;

	if (s < 60)
		snprintf(out, outsz, "%.1f s", (ns < 0 ? 0 : ns) / 1e9);
	else if (s < 3600)
		snprintf(out, outsz, "%dm %ds", (int)(s / 60), (int)(s % 60));
	else
		snprintf(out, outsz, "%lldh %dm %ds", (long long)(s / 3600),
			 (int)(s / 60 % 60), (int)(s % 60));
}

static void fmt_utc(char *out, size_t outsz, int64_t ns, const char *fmt)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, outsz, fmt, &tm))
		snprintf(out, outsz, "?");
}

void notify_fmt_time(char *out, size_t outsz, int64_t ns)
{
	fmt_utc(out, outsz, ns, "%Y-%m-%d %H:%M:%S UTC");
}

/* --- The run summary as JSON --- */

static cJSON *str_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

int bfs_run_summary_json(const struct bfs_run_summary *s, bool pretty,
			 char **out, struct bfs_err *err)
{
	cJSON *root = NULL, *w;
	char start[32];
	int rc = -ENOMEM;

	*out = NULL;
	if (!s->job)
		return bfs_err_set(err, -EINVAL, "run summary without a job");
	fmt_utc(start, sizeof(start), s->start_ns, "%Y-%m-%dT%H:%M:%SZ");
	root = cJSON_CreateObject();
	if (!root || !cJSON_AddNumberToObject(root, "version", 1) ||
	    !cJSON_AddItemToObject(root, "job", str_or_null(s->job)) ||
	    !cJSON_AddItemToObject(root, "backup_id",
				   str_or_null(s->backup_id)) ||
	    !cJSON_AddStringToObject(root, "status",
				     bfs_run_status_name(s->status)) ||
	    !cJSON_AddItemToObject(root, "host", str_or_null(s->host)) ||
	    !cJSON_AddStringToObject(root, "start", start) ||
	    !cJSON_AddNumberToObject(root, "start_unix",
				     (double)(s->start_ns / 1000000000)) ||
	    !cJSON_AddNumberToObject(root, "duration_seconds",
				     (double)(s->duration_ns / 1000000) /
					 1000.0) ||
	    !cJSON_AddNumberToObject(root, "bytes_read",
				     (double)s->bytes_read) ||
	    !cJSON_AddNumberToObject(root, "bytes_added",
				     (double)s->bytes_added) ||
	    !cJSON_AddNumberToObject(root, "files", (double)s->files) ||
	    !(w = cJSON_AddArrayToObject(root, "warnings")))
		goto out_free;
	for (size_t i = 0; i < s->nwarnings; i++) {
		cJSON *it =
		    cJSON_CreateString(s->warnings[i] ? s->warnings[i] : "");

		if (!it || !cJSON_AddItemToArray(w, it)) {
			cJSON_Delete(it);
			goto out_free;
		}
	}
	if (!cJSON_AddItemToObject(root, "error", str_or_null(s->error)) ||
	    !cJSON_AddItemToObject(root, "log_tail", str_or_null(s->log_tail)))
		goto out_free;
	*out = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
	rc = *out ? 0 : -ENOMEM;
out_free:
	cJSON_Delete(root);
	if (rc < 0)
		bfs_err_set(err, rc, "cannot build the run summary json");
	return rc;
}

/* --- Channel checks --- */

static bool addr_ok(const char *a)
{
	if (!a || !*a || strlen(a) > 254 || !strchr(a, '@'))
		return false;
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' ||
		    *p == ',' || *p == '"' || *p == '\\')
			return false;
	return true;
}

/* 0 if url parses with one of the schemes (NULL-terminated) and a host. */
static int url_ok(const char *url, const char *const *schemes)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = -EINVAL;

	if (!u || !url)
		goto out;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) || !*host)
		goto out;
	for (size_t i = 0; schemes[i]; i++)
		if (!strcmp(scheme, schemes[i]))
			rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

int bfs_notify_channel_check(const struct bfs_notify_channel *ch, size_t idx,
			     struct bfs_err *err)
{
	static const char *const http[] = {"http", "https", NULL};
	static const char *const smtp[] = {"smtp", "smtps", NULL};

	if ((unsigned)ch->type > BFS_NOTIFY_PING)
		return bfs_err_set(err, -EINVAL, "notify[%zu].type: unknown",
				   idx);
	if ((unsigned)ch->level > BFS_NOTIFY_ALL)
		return bfs_err_set(err, -EINVAL, "notify[%zu].level: unknown",
				   idx);
	if ((unsigned)ch->teams_format > BFS_TEAMS_ADAPTIVE)
		return bfs_err_set(err, -EINVAL, "notify[%zu].format: unknown",
				   idx);
	if (ch->type != BFS_NOTIFY_EMAIL) {
		if (!ch->url)
			return bfs_err_set(err, -EINVAL,
					   "notify[%zu].url: missing", idx);
		if (url_ok(ch->url, http) < 0)
			return bfs_err_set(err, -EINVAL,
					   "notify[%zu].url: not an http:// or "
					   "https:// url with a host",
					   idx);
		return 0;
	}
	if (!addr_ok(ch->from))
		return bfs_err_set(err, -EINVAL,
				   "notify[%zu].from: missing or not a plain "
				   "address (user@domain)",
				   idx);
	if (ch->nto == 0)
		return bfs_err_set(err, -EINVAL, "notify[%zu].to: no recipient",
				   idx);
	for (size_t i = 0; i < ch->nto; i++)
		if (!addr_ok(ch->to[i]))
			return bfs_err_set(err, -EINVAL,
					   "notify[%zu].to[%zu]: not a plain "
					   "address (user@domain)",
					   idx, i);
	if (!ch->smtp || url_ok(ch->smtp, smtp) < 0)
		return bfs_err_set(
		    err, -EINVAL,
		    "notify[%zu].smtp: missing or not an smtp:// "
		    "or smtps:// url with a host",
		    idx);
	return 0;
}

/* --- Context: redactor and redacted summary --- */

const char *notify_getenv(const struct notify_ctx *c, const char *name)
{
	if (c->opts && c->opts->getenv_fn)
		return c->opts->getenv_fn(c->opts->getenv_ctx, name);
	return getenv(name);
}

void notify_log(const struct notify_ctx *c, int level, const char *fmt, ...)
{
	char line[2048];
	char *clean;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	clean = bfs_redact(c->red, line);
	/* Without memory for the copy, say less rather than leak. */
	bfs_log(level, "%s", clean ? clean : "notify: (message dropped)");
	free(clean);
}

/* Every part of a channel URL that may be a token: user, password, the
 * path and query as wholes (when >= 8 bytes: "/api" is no token), each
 * path segment and query value of 16 bytes or more. */
static int add_url_secrets(struct bfs_redactor *r, const char *url)
{
	static const CURLUPart parts[] = {CURLUPART_USER, CURLUPART_PASSWORD,
					  CURLUPART_PATH, CURLUPART_QUERY};
	CURLU *u = curl_url();
	int rc = 0;

	if (!u)
		return -ENOMEM;
	if (!url ||
	    curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME))
		goto out;
	for (size_t i = 0; i < BFS_ARRAY_SIZE(parts) && rc == 0; i++) {
		bool whole = parts[i] == CURLUPART_USER ||
			     parts[i] == CURLUPART_PASSWORD;
		const char *sep = parts[i] == CURLUPART_PATH ? "/" : "&";
		char *v = NULL, *seg, *save = NULL, *eq;

		if (curl_url_get(u, parts[i], &v, 0) || !v)
			continue;
		if (whole || strlen(v) >= 8)
			rc = bfs_redactor_add(r, v);
		if (whole)
			goto next;
		for (seg = strtok_r(v, sep, &save); seg && rc == 0;
		     seg = strtok_r(NULL, sep, &save)) {
			eq = parts[i] == CURLUPART_QUERY ? strchr(seg, '=')
							 : NULL;
			if (eq)
				seg = eq + 1;
			if (strlen(seg) >= 16)
				rc = bfs_redactor_add(r, seg);
		}
	next:
		curl_free(v);
	}
out:
	curl_url_cleanup(u);
	return rc;
}

static char *own_redacted(struct notify_ctx *c, size_t slot, const char *s)
{
	if (!s)
		return NULL;
	c->own[slot] = bfs_redact(c->red, s);
	return c->own[slot];
}

static void ctx_free(struct notify_ctx *c)
{
	for (size_t i = 0; i < BFS_ARRAY_SIZE(c->own); i++)
		free(c->own[i]);
	for (size_t i = 0; c->warn_own && i < c->s.nwarnings; i++)
		free(c->warn_own[i]);
	free(c->warn_own);
	bfs_redactor_free(c->red);
}

static int ctx_init(struct notify_ctx *c, const struct bfs_notify_channel *chs,
		    size_t nchs, const struct bfs_run_summary *s,
		    const struct bfs_notify_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->opts = o;
	c->tries = o && o->tries ? o->tries : 3;
	c->backoff_ms = o && o->backoff_ms ? o->backoff_ms : 1000;
	c->connect_timeout_ms =
	    o && o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
	c->timeout_ms = o && o->timeout_ms ? o->timeout_ms : 30000;
	c->red = bfs_redactor_new(o ? o->secrets : NULL, o ? o->nsecrets : 0);
	if (!c->red)
		return -ENOMEM;
	for (size_t i = 0; i < nchs; i++) {
		const struct bfs_notify_channel *ch = &chs[i];
		const char *pw;

		if (add_url_secrets(c->red, ch->url) < 0 ||
		    add_url_secrets(c->red, ch->smtp) < 0)
			return -ENOMEM;
		if (ch->type != BFS_NOTIFY_EMAIL)
			continue;
		pw = notify_getenv(c, ch->password_env ? ch->password_env
						       : "SMTP_PASSWORD");
		if (bfs_redactor_add(c->red, pw) < 0)
			return -ENOMEM;
	}
	if (s->host) {
		snprintf(c->host, sizeof(c->host), "%s", s->host);
	} else if (gethostname(c->host, sizeof(c->host) - 1) < 0) {
		snprintf(c->host, sizeof(c->host), "localhost");
	}
	c->s = *s;
	c->s.host = own_redacted(c, 0, c->host);
	c->s.job = own_redacted(c, 1, s->job ? s->job : "-");
	c->s.backup_id = own_redacted(c, 2, s->backup_id);
	c->s.error = own_redacted(c, 3, s->error);
	c->s.log_tail = own_redacted(c, 4, s->log_tail);
	if (!c->s.job || (s->backup_id && !c->s.backup_id) ||
	    (s->error && !c->s.error) || (s->log_tail && !c->s.log_tail) ||
	    !c->s.host)
		return -ENOMEM;
	c->s.warnings = NULL;
	c->s.nwarnings = 0;
	if (s->nwarnings) {
		c->warn_own = calloc(s->nwarnings, sizeof(*c->warn_own));
		if (!c->warn_own)
			return -ENOMEM;
		for (size_t i = 0; i < s->nwarnings; i++) {
			c->warn_own[i] = bfs_redact(
			    c->red, s->warnings[i] ? s->warnings[i] : "");
			c->s.nwarnings = i + 1;
			if (!c->warn_own[i])
				return -ENOMEM;
		}
		c->s.warnings = (const char *const *)c->warn_own;
	}
	return 0;
}

/* --- Plain text (email body, slack, ping) --- */

int notify_text(const struct notify_ctx *c, struct bfs_buf *b, bool with_tail)
{
	const struct bfs_run_summary *s = &c->s;
	char dur[48], start[48], rd[32], add[32];
	int rc;

	notify_fmt_duration(dur, sizeof(dur), s->duration_ns);
	notify_fmt_time(start, sizeof(start), s->start_ns);
	bfs_fmt_bytes(rd, sizeof(rd), s->bytes_read);
	bfs_fmt_bytes(add, sizeof(add), s->bytes_added);
	rc = bfs_buf_printf(b,
			    "backupfs job \"%s\" %s on %s.\n\n"
			    "Job:         %s\n"
			    "Status:      %s\n"
			    "Host:        %s\n"
			    "Backup id:   %s\n"
			    "Started:     %s\n"
			    "Duration:    %s\n"
			    "Bytes read:  %s (%llu)\n"
			    "Bytes added: %s (%llu)\n"
			    "Files:       %llu\n",
			    s->job, notify_verb(s->status), s->host, s->job,
			    bfs_run_status_name(s->status), s->host,
			    s->backup_id ? s->backup_id : "-", start, dur, rd,
			    (unsigned long long)s->bytes_read, add,
			    (unsigned long long)s->bytes_added,
			    (unsigned long long)s->files);
	if (rc == 0 && s->error)
		rc = bfs_buf_printf(b, "\nError: %s\n", s->error);
	if (rc == 0 && s->nwarnings)
		rc = bfs_buf_printf(b, "\nWarnings:\n");
	for (size_t i = 0; rc == 0 && i < s->nwarnings; i++)
		rc = bfs_buf_printf(b, "  - %s\n", s->warnings[i]);
	if (rc == 0 && with_tail && s->log_tail && *s->log_tail) {
		size_t n = strlen(s->log_tail);

		rc = bfs_buf_printf(b, "\nLog tail:\n%s%s", s->log_tail,
				    s->log_tail[n - 1] == '\n' ? "" : "\n");
	}
	return rc;
}

/* --- HTTP --- */

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

/* One HTTP request: GET if body is NULL, else POST of body. */
static void http_try(const struct notify_ctx *c, const char *url,
		     const char *ctype, const char *body, struct notify_try *t)
{
	char errbuf[CURL_ERROR_SIZE] = "", hdr[128];
	struct curl_slist *hdrs = NULL, *nh;
	long status = 0;
	CURLcode cc;
	CURL *h;

	t->rc = -ENOMEM;
	t->retry = false;
	snprintf(t->msg, sizeof(t->msg), "out of memory");
	h = curl_easy_init();
	if (!h)
		return;
	snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
	if (!(nh = curl_slist_append(hdrs, "Expect:")))
		goto out_free;
	hdrs = nh;
	if (body && !(nh = curl_slist_append(hdrs, hdr)))
		goto out_free;
	hdrs = nh;
	curl_easy_setopt(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "backupfs/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)strlen(body));
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		t->rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
			: cc == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
						       : -EIO;
		/* TLS and URL errors will not heal by retrying. */
		t->retry = cc != CURLE_PEER_FAILED_VERIFICATION &&
			   cc != CURLE_URL_MALFORMAT &&
			   cc != CURLE_UNSUPPORTED_PROTOCOL;
		snprintf(t->msg, sizeof(t->msg), "%s",
			 *errbuf ? errbuf : curl_easy_strerror(cc));
		goto out_free;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		t->rc = -EIO;
		t->retry = status >= 500 || status == 408 || status == 429;
		snprintf(t->msg, sizeof(t->msg), "answered HTTP %ld", status);
		goto out_free;
	}
	t->rc = 0;
	t->msg[0] = '\0';
out_free:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
}

/* --- Dispatch and retries --- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Deliver one channel with retries.  start: the run-begins event. */
static int deliver(const struct notify_ctx *c,
		   const struct bfs_notify_channel *ch, size_t idx, bool start)
{
	const char *ctype = "application/json";
	char origin[256], *url = NULL, *body = NULL, *clean = NULL;
	struct notify_try t = {.rc = -ENOMEM};
	struct bfs_err err = {""};
	unsigned delay = c->backoff_ms;

	bfs_url_origin(ch->type == BFS_NOTIFY_EMAIL ? ch->smtp : ch->url,
		       origin, sizeof(origin));
	/* Addresses end up in mail headers: never send unchecked ones. */
	if (bfs_notify_channel_check(ch, idx, &err) < 0) {
		t.rc = -EINVAL;
		snprintf(t.msg, sizeof(t.msg), "%s", err.msg);
		goto out_free;
	}
	switch (ch->type) {
	case BFS_NOTIFY_WEBHOOK:
		bfs_run_summary_json(&c->s, false, &body, NULL);
		break;
	case BFS_NOTIFY_TEAMS:
		body = notify_teams_payload(c, ch);
		break;
	case BFS_NOTIFY_SLACK:
		body = notify_slack_payload(c);
		break;
	case BFS_NOTIFY_PING:
		ctype = "text/plain; charset=utf-8";
		url = notify_ping_url(ch->url, start ? "/start"
					       : c->s.status == BFS_RUN_FAILED
						   ? "/fail"
						   : "");
		if (!url)
			goto out_free;
		if (!start && !(body = notify_ping_body(c)))
			goto out_free;
		break;
	case BFS_NOTIFY_EMAIL:
		break;
	}
	if (ch->type != BFS_NOTIFY_EMAIL && ch->type != BFS_NOTIFY_PING &&
	    !body)
		goto out_free;
	/* Defence in depth: the parts were redacted, the whole is too. */
	if (body) {
		if (!(clean = bfs_redact(c->red, body)))
			goto out_free;
		free(body);
		body = clean;
	}
	for (unsigned i = 1; i <= c->tries; i++) {
		if (ch->type == BFS_NOTIFY_EMAIL)
			notify_email_try(c, ch, &t);
		else
			http_try(c, url ? url : ch->url, ctype, body, &t);
		if (t.rc == 0) {
			notify_log(c, LOG_INFO, "notify[%zu]: %s '%s' sent%s",
				   idx, bfs_notify_type_name(ch->type), origin,
				   start ? " (start)" : "");
			break;
		}
		if (!t.retry || i == c->tries)
			break;
		notify_log(c, LOG_DEBUG, "notify[%zu]: %s '%s' try %u: %s", idx,
			   bfs_notify_type_name(ch->type), origin, i, t.msg);
		sleep_ms(delay);
		delay *= 2;
	}
out_free:
	if (t.rc < 0)
		notify_log(c, LOG_WARNING,
			   "notify[%zu]: cannot send %s to '%s'"
			   ": %s",
			   idx, bfs_notify_type_name(ch->type), origin,
			   t.rc == -ENOMEM && !t.msg[0] ? "out of memory"
							: t.msg);
	free(url);
	free(body);
	return t.rc;
}

static int notify_all(const struct bfs_notify_channel *chs, size_t nchs,
		      const struct bfs_run_summary *s,
		      const struct bfs_notify_opts *opts, int *results,
		      bool start)
{
	struct notify_ctx c;
	int rc, failed = 0;

	rc = ctx_init(&c, chs, nchs, s, opts);
	if (rc < 0) {
		ctx_free(&c);
		return rc;
	}
	for (size_t i = 0; i < nchs; i++) {
		const struct bfs_notify_channel *ch = &chs[i];
		bool want = start ? ch->type == BFS_NOTIFY_PING &&
					ch->level == BFS_NOTIFY_ALL
				  : bfs_notify_wanted(ch->level, s->status);

		rc = BFS_NOTIFY_SKIPPED;
		if (want)
			rc = deliver(&c, ch, i, start);
		if (rc < 0)
			failed++;
		if (results)
			results[i] = rc;
	}
	ctx_free(&c);
	return failed;
}

int bfs_notify_start(const struct bfs_notify_channel *chs, size_t nchs,
		     const struct bfs_run_summary *s,
		     const struct bfs_notify_opts *opts, int *results)
{
	return notify_all(chs, nchs, s, opts, results, true);
}

int bfs_notify_send(const struct bfs_notify_channel *chs, size_t nchs,
		    const struct bfs_run_summary *s,
		    const struct bfs_notify_opts *opts, int *results)
{
	return notify_all(chs, nchs, s, opts, results, false);
}
