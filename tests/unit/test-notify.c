/* test-notify.c - run summary JSON, levels, redaction, and every channel
 * against real receivers on loopback started here: an HTTP receiver thread
 * (records method, path, headers, body; can answer 500 for the first N
 * requests) and an SMTP sink thread (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT,
 * DATA, QUIT; no STARTTLS).  stderr (the log) is captured to a file and
 * searched for secrets at the end. */
/* automake: SOURCES tests/unit/notify-sinks.c tests/unit/notify-sinks.h */
#include "config.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "notify_int.h"
#include "tests/unit/notify-sinks.h"
#include "tests/unit/tap.h"

/* ------------------------------------------------------------- fixtures */

static struct httpd H;
static struct smtpd S;
static char logpath[] = "/tmp/test-notify-log.XXXXXX";

static const char *const env_table[][2] = {
    {"SMTP_USER", "mailer"},
    {"SMTP_PASSWORD", "smtp-pa55word-XYZ"},
    {"MAIL_PW", "other-mail-pass-777"},
};

static const char *test_getenv(void *ctx, const char *name)
{
	(void)ctx;
	for (size_t i = 0; i < BFS_ARRAY_SIZE(env_table); i++)
		if (!strcmp(env_table[i][0], name))
			return env_table[i][1];
	return NULL;
}

/* Secrets the payloads might carry; the URL token and the SMTP password
 * are not in the list: notify must find those itself. */
static const char *const secrets[] = {
    "db-pass-Secr3t!", "S3SECRETKEY0123456789abcdef", "app \"quoted\" secret"};
#define TOKEN "TOKEN-abcdef0123456789"
#define SIG "SIGTOKEN0123456789abcdef"

static const char *const warnings[] = {
    "table 'log' skipped",
    "password db-pass-Secr3t! in a warning",
};

static struct bfs_run_summary summary(enum bfs_run_status st)
{
	struct bfs_run_summary s = {
	    .job = "nocodb",
	    .backup_id = "2026-11-25T051500Z-ab12",
	    .status = st,
	    .start_ns = 1795583700LL * 1000000000LL, /* 2026-11-25 05:15 */
	    .duration_ns = 12345LL * 1000000LL,
	    .bytes_read = 5000000000ULL,
	    .bytes_added = 1048576,
	    .files = 42,
	    .warnings = warnings,
	    .nwarnings = 2,
	    .error = st == BFS_RUN_FAILED
			 ? "pg_dump: connection to postgresql://nocodb:"
			   "db-pass-Secr3t!@db failed"
			 : NULL,
	    .log_tail = "line one\n"
			"S3 key S3SECRETKEY0123456789abcdef used\n"
			"encoded db-pass-Secr3t%21 here\n"
			".\n"
			".hidden dot line\n"
			"after the dot\n"
			"json app \"quoted\" secret end\n"
			"hook " TOKEN " and smtp-pa55word-XYZ\n",
	    .host = "backup-host-1",
	};
	return s;
}

static struct bfs_notify_opts opts(void)
{
	struct bfs_notify_opts o = {
	    .tries = 3,
	    .backoff_ms = 10,
	    .connect_timeout_ms = 2000,
	    .timeout_ms = 5000,
	    .secrets = secrets,
	    .nsecrets = BFS_ARRAY_SIZE(secrets),
	    .getenv_fn = test_getenv,
	};
	return o;
}

static char url_buf[16][256];
static int url_n;

static const char *url(const char *fmt_path)
{
	char *u = url_buf[url_n++ % 16];

	snprintf(u, 256, "http://127.0.0.1:%d%s", H.port, fmt_path);
	return u;
}

/* Does text hold secret in one of the forms a leak takes: raw,
 * percent-encoded, JSON-escaped, or base64 at any byte alignment?  Built
 * on curl, cJSON and plain strstr, not on the redactor under test. */
static bool leaks(const char *text, const char *secret)
{
	size_t n = strlen(secret);
	cJSON *js = cJSON_CreateString(secret);
	char *esc = curl_easy_escape(NULL, secret, (int)n);
	char *json = js ? cJSON_PrintUnformatted(js) : NULL;
	bool leak = strstr(text, secret) || (esc && strstr(text, esc));

	if (json) {
		json[strlen(json) - 1] = '\0'; /* drop the quotes */
		leak = leak || strstr(text, json + 1);
	}
	for (size_t pad = 0; pad < 3 && !leak; pad++) {
		char in[256] = "", *b64 = NULL;

		memcpy(in + pad, secret, n);
		bfs_b64_encode((uint8_t *)in, n + pad, &b64);
		/* the middle is independent of the neighbours */
		b64[(n + pad) * 4 / 3 - 2] = '\0';
		leak = strstr(text, b64 + 2 * (pad > 0) + (pad > 1)) != NULL;
		free(b64);
	}
	curl_free(esc);
	free(json);
	cJSON_Delete(js);
	return leak;
}

/* [3] is the SMTP password of the email channel under test. */
static const char *all_secrets[] = {"db-pass-Secr3t!",
				    "S3SECRETKEY0123456789abcdef",
				    "app \"quoted\" secret",
				    "smtp-pa55word-XYZ",
				    TOKEN,
				    SIG};

/* Check a captured text against every secret; count the failures. */
static int leak_check(const char *what, const char *text, bool token_ok)
{
	int bad = 0;

	for (size_t i = 0; text && i < BFS_ARRAY_SIZE(all_secrets); i++) {
		if (token_ok && (!strcmp(all_secrets[i], TOKEN) ||
				 !strcmp(all_secrets[i], SIG)))
			continue;
		if (leaks(text, all_secrets[i])) {
			diag("secret %zu leaks in %s", i, what);
			bad++;
		}
	}
	return bad;
}

static int leak_check_http(void)
{
	int bad = 0;

	pthread_mutex_lock(&H.mu);
	for (int i = 0; i < H.n; i++) {
		/* The path is the URL itself: the token belongs there. */
		bad += leak_check("request path", H.reqs[i].path, true);
		bad += leak_check("request headers", H.reqs[i].headers, false);
		bad += leak_check("request body", H.reqs[i].body, false);
	}
	pthread_mutex_unlock(&H.mu);
	return bad;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(it) ? it->valuedouble : -1;
}

/* ------------------------------------------------------------- cases */

static void test_summary_json(void)
{
	struct bfs_run_summary s = summary(BFS_RUN_FAILED);
	struct bfs_run_summary bad = {0};
	const cJSON *w;
	char *js = NULL;
	cJSON *j;

	is_int(bfs_run_summary_json(&s, false, &js, NULL), 0, "summary json");
	j = cJSON_Parse(js);
	ok(j && cJSON_IsObject(j), "summary json parses");
	is_int(jnum(j, "version"), 1, "version 1");
	is_str(jstr(j, "job"), "nocodb", "job");
	is_str(jstr(j, "backup_id"), "2026-11-25T051500Z-ab12", "backup_id");
	is_str(jstr(j, "status"), "failed", "status");
	is_str(jstr(j, "host"), "backup-host-1", "host");
	is_str(jstr(j, "start"), "2026-11-25T05:15:00Z", "start rfc 3339");
	ok(jnum(j, "start_unix") == 1795583700.0, "start_unix");
	ok(jnum(j, "duration_seconds") == 12.345, "duration_seconds");
	ok(jnum(j, "bytes_read") == 5000000000.0, "bytes_read > 2^32");
	is_int(jnum(j, "bytes_added"), 1048576, "bytes_added");
	is_int(jnum(j, "files"), 42, "files");
	w = cJSON_GetObjectItemCaseSensitive(j, "warnings");
	ok(cJSON_IsArray(w) && cJSON_GetArraySize(w) == 2 &&
	       !strcmp(cJSON_GetArrayItem(w, 0)->valuestring,
		       "table 'log' skipped"),
	   "warnings array");
	ok(jstr(j, "error") && strstr(jstr(j, "error"), "pg_dump"), "error");
	ok(jstr(j, "log_tail") && strstr(jstr(j, "log_tail"), "after the dot"),
	   "log_tail");
	cJSON_Delete(j);
	free(js);

	s = summary(BFS_RUN_OK);
	s.backup_id = NULL;
	bfs_run_summary_json(&s, true, &js, NULL);
	j = cJSON_Parse(js);
	ok(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "backup_id")) &&
	       cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "error")),
	   "missing strings are null");
	is_str(jstr(j, "status"), "ok", "status ok");
	ok(js && strchr(js, '\n') != NULL, "pretty form has lines");
	cJSON_Delete(j);
	free(js);
	is_int(bfs_run_summary_json(&bad, false, &js, NULL), -EINVAL,
	       "summary without job refused");
}

static void test_levels(void)
{
	enum bfs_notify_level l;
	enum bfs_notify_type t;
	enum bfs_teams_format f;

	ok(!bfs_notify_wanted(BFS_NOTIFY_ERRORS, BFS_RUN_OK) &&
	       !bfs_notify_wanted(BFS_NOTIFY_ERRORS, BFS_RUN_WARNING) &&
	       bfs_notify_wanted(BFS_NOTIFY_ERRORS, BFS_RUN_FAILED),
	   "level errors: failed only");
	ok(!bfs_notify_wanted(BFS_NOTIFY_WARNINGS, BFS_RUN_OK) &&
	       bfs_notify_wanted(BFS_NOTIFY_WARNINGS, BFS_RUN_WARNING) &&
	       bfs_notify_wanted(BFS_NOTIFY_WARNINGS, BFS_RUN_FAILED),
	   "level warnings: warning and failed");
	ok(bfs_notify_wanted(BFS_NOTIFY_ALL, BFS_RUN_OK) &&
	       bfs_notify_wanted(BFS_NOTIFY_ALL, BFS_RUN_WARNING) &&
	       bfs_notify_wanted(BFS_NOTIFY_ALL, BFS_RUN_FAILED),
	   "level all: every run");
	ok(bfs_notify_level_parse("warnings", &l) == 0 &&
	       l == BFS_NOTIFY_WARNINGS,
	   "parse level");
	is_int(bfs_notify_level_parse("error", &l), -EINVAL, "bad level");
	ok(bfs_notify_type_parse("ping", &t) == 0 && t == BFS_NOTIFY_PING,
	   "parse type");
	is_int(bfs_notify_type_parse("sms", &t), -EINVAL, "bad type");
	ok(bfs_teams_format_parse("adaptive", &f) == 0 &&
	       f == BFS_TEAMS_ADAPTIVE,
	   "parse teams format");
	is_str(bfs_notify_level_name(BFS_NOTIFY_ALL), "all", "level name");
	ok(notify_teams_classic(
	       "https://acme.webhook.office.com/webhookb2/x") &&
	       notify_teams_classic("https://outlook.office.com/webhook/x"),
	   "teams auto: connector hosts take a MessageCard");
	ok(!notify_teams_classic("https://prod-12.westeurope.logic.azure.com"
				 ":443/workflows/x") &&
	       !notify_teams_classic(
		   "https://evilwebhook.office.com.example/x") &&
	       !notify_teams_classic("http://127.0.0.1:8080/teams"),
	   "teams auto: other hosts take the Adaptive Card");
}

static void test_check(void)
{
	const char *to[] = {"ops@example.net", "x@y\r\nBcc: evil@z"};
	struct bfs_notify_channel ch = {.type = BFS_NOTIFY_WEBHOOK};
	struct bfs_err err;

	is_int(bfs_notify_channel_check(&ch, 0, &err), -EINVAL, "no url");
	ok(strstr(err.msg, "notify[0].url") != NULL, "names the field: %s",
	   err.msg);
	ch.url = "ftp://h/x";
	is_int(bfs_notify_channel_check(&ch, 1, &err), -EINVAL, "ftp url");
	ch.url = "https://hooks.example.net/hooks/" TOKEN;
	is_int(bfs_notify_channel_check(&ch, 1, &err), 0, "https url ok");
	ch = (struct bfs_notify_channel){.type = BFS_NOTIFY_EMAIL,
					 .from = "b@example.net",
					 .to = to,
					 .nto = 1,
					 .smtp = "smtp://mail.example.net:587"};
	is_int(bfs_notify_channel_check(&ch, 3, &err), 0, "email ok");
	ch.nto = 2;
	is_int(bfs_notify_channel_check(&ch, 3, &err), -EINVAL,
	       "header injection in to refused");
	ok(strstr(err.msg, "notify[3].to[1]") != NULL, "names to[1]: %s",
	   err.msg);
	ch.nto = 1;
	ch.smtp = "http://mail.example.net";
	is_int(bfs_notify_channel_check(&ch, 3, &err), -EINVAL,
	       "smtp must be smtp:// or smtps://");
	ch.smtp = "smtps://mail.example.net";
	ch.from = NULL;
	is_int(bfs_notify_channel_check(&ch, 3, &err), -EINVAL, "no from");
	ok(strstr(err.msg, "notify[3].from") != NULL, "names from");
}

static void test_redact(void)
{
	const char *sec[] = {"hunter2-secret", "a\"b\\c-secret", "abc", NULL};
	struct bfs_redactor *r = bfs_redactor_new(sec, 4);
	char *b64 = NULL, *out;
	char origin[128];
	const char *in;

	out = bfs_redact(r, "pw=hunter2-secret end");
	is_str(out, "pw=*** end", "raw secret");
	free(out);
	out = bfs_redact(r, "q=a%22b%5Cc-secret&x");
	is_str(out, "q=***&x", "url-encoded secret");
	free(out);
	out = bfs_redact(r, "{\"k\":\"a\\\"b\\\\c-secret\"}");
	is_str(out, "{\"k\":\"***\"}", "json-escaped secret");
	free(out);
	out = bfs_redact(r, "abc stays: too short to be a secret");
	is_str(out, "abc stays: too short to be a secret", "short ignored");
	free(out);
	/* base64 at each alignment, as in "Authorization: Basic ..." */
	for (int pad = 0; pad < 3; pad++) {
		char plain[64];

		snprintf(plain, sizeof(plain), "%.*suser:hunter2-secret", pad,
			 "xy");
		bfs_b64_encode((const uint8_t *)plain, strlen(plain), &b64);
		out = bfs_redact(r, b64);
		ok(out && strstr(out, "***") && !leaks(out, "hunter2-secret"),
		   "base64 form, alignment %d: %s", pad, out);
		free(out);
		free(b64);
	}
	bfs_redactor_free(r);
	out = bfs_redact(NULL, "plain db-pass-Secr3t!");
	is_str(out, "plain db-pass-Secr3t!", "NULL redactor copies");
	free(out);

	bfs_url_origin("https://u:pw@hooks.example.net:8443/p/" TOKEN "?a=b",
		       origin, sizeof(origin));
	is_str(origin, "https://hooks.example.net:8443", "url origin");
	in = "not a url";
	bfs_url_origin(in, origin, sizeof(origin));
	is_str(origin, "(bad url)", "bad url origin");
}

static struct bfs_notify_channel chan(enum bfs_notify_type t,
				      enum bfs_notify_level l, const char *u)
{
	struct bfs_notify_channel c = {.type = t, .level = l, .url = u};
	return c;
}

static const char *mail_to[] = {"ops@example.net", "dba@example.net"};

static struct bfs_notify_channel mail_chan(enum bfs_notify_level l)
{
	static char smtp[64];
	struct bfs_notify_channel c = {.type = BFS_NOTIFY_EMAIL,
				       .level = l,
				       .to = mail_to,
				       .nto = 2,
				       .from = "backupfs@example.net"};

	snprintf(smtp, sizeof(smtp), "smtp://127.0.0.1:%d", S.port);
	c.smtp = smtp;
	return c;
}

static const cJSON *fact(const cJSON *facts, const char *kn, const char *n)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, facts) if (jstr(f, kn) &&
					 !strcmp(jstr(f, kn), n)) return f;
	return NULL;
}

static void test_ok_run(void)
{
	struct bfs_run_summary s = summary(BFS_RUN_OK);
	struct bfs_notify_opts o = opts();
	struct bfs_notify_channel chs[7];
	int res[7], rc;
	struct req *r;
	cJSON *j;
	const cJSON *facts;

	http_reset(&H, 0, 0);
	smtp_reset(&S, "PLAIN LOGIN");
	chs[0] = chan(BFS_NOTIFY_WEBHOOK, BFS_NOTIFY_ALL, url("/hook/" TOKEN));
	chs[1] = chan(BFS_NOTIFY_TEAMS, BFS_NOTIFY_ALL, url("/teams"));
	chs[1].teams_format = BFS_TEAMS_MESSAGECARD;
	chs[2] = chan(BFS_NOTIFY_SLACK, BFS_NOTIFY_ALL, url("/slack"));
	chs[3] = chan(BFS_NOTIFY_PING, BFS_NOTIFY_ALL, url("/ping/uuid-1/"));
	chs[4] = mail_chan(BFS_NOTIFY_ALL);
	chs[5] = chan(BFS_NOTIFY_WEBHOOK, BFS_NOTIFY_ERRORS, url("/errors"));
	chs[6] = chan(BFS_NOTIFY_SLACK, BFS_NOTIFY_WARNINGS, url("/warns"));
	rc = bfs_notify_send(chs, 7, &s, &o, res);
	is_int(rc, 0, "ok run: no channel failed");
	ok(res[0] == 0 && res[1] == 0 && res[2] == 0 && res[3] == 0 &&
	       res[4] == 0,
	   "ok run: five channels sent");
	ok(res[5] == BFS_NOTIFY_SKIPPED && res[6] == BFS_NOTIFY_SKIPPED,
	   "ok run: level errors and warnings skipped");
	is_int(H.n, 4, "four http requests");
	is_int(http_count(&H, "/errors") + http_count(&H, "/warns"), 0,
	       "nothing sent to errors/warnings channels");

	r = http_find(&H, "/hook/");
	ok(r && !strcmp(r->method, "POST"), "webhook POST");
	ok(r && strstr(r->headers, "Content-Type: application/json"),
	   "webhook content type");
	j = r ? cJSON_Parse(r->body) : NULL;
	is_str(jstr(j, "job"), "nocodb", "webhook payload job");
	is_str(jstr(j, "status"), "ok", "webhook payload status");
	is_int(jnum(j, "bytes_added"), 1048576, "webhook bytes_added");
	ok(jstr(j, "log_tail") && strstr(jstr(j, "log_tail"), "S3 key *** "),
	   "webhook log tail redacted");
	cJSON_Delete(j);

	r = http_find(&H, "/teams");
	j = r ? cJSON_Parse(r->body) : NULL;
	is_str(jstr(j, "@type"), "MessageCard", "teams MessageCard");
	is_str(jstr(j, "themeColor"), "2EB886", "teams green for ok");
	is_str(jstr(j, "title"), "backupfs: nocodb succeeded", "teams title");
	facts = cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sections"), 0), "facts");
	is_str(jstr(fact(facts, "name", "Host"), "value"), "backup-host-1",
	       "teams fact host");
	is_str(jstr(fact(facts, "name", "Backup id"), "value"),
	       "2026-11-25T051500Z-ab12", "teams fact backup id");
	is_str(jstr(fact(facts, "name", "Duration"), "value"), "12.3 s",
	       "teams fact duration");
	is_str(jstr(fact(facts, "name", "Bytes added"), "value"), "1.0 MiB",
	       "teams fact bytes added");
	ok(fact(facts, "name", "Error") == NULL, "no error fact when ok");
	cJSON_Delete(j);

	r = http_find(&H, "/slack");
	j = r ? cJSON_Parse(r->body) : NULL;
	ok(j && cJSON_GetArraySize(j) == 1 && jstr(j, "text") &&
	       !strncmp(jstr(j, "text"),
			"backupfs: nocodb succeeded on "
			"backup-host-1",
			40),
	   "slack {\"text\"} only");
	ok(jstr(j, "text") &&
	       strstr(jstr(j, "text"), "warning: table 'log' skipped"),
	   "slack lists warnings");
	cJSON_Delete(j);

	r = http_find(&H, "/ping/uuid-1");
	ok(r && !strcmp(r->path, "/ping/uuid-1") && !strcmp(r->method, "POST"),
	   "ping success: plain url, POST");
	ok(r && strstr(r->body, "Status:      ok"), "ping body summary");

	is_int(S.msgs, 1, "one mail");
	is_str(S.from, "<backupfs@example.net>", "envelope from");
	ok(S.nrcpt == 2 && !strcmp(S.rcpt[0], "<ops@example.net>") &&
	       !strcmp(S.rcpt[1], "<dba@example.net>"),
	   "envelope rcpt");
	is_str(S.user, "mailer", "smtp auth user from env");
	is_str(S.pass, "smtp-pa55word-XYZ", "smtp auth password from env");
	ok(S.msg.data && strstr((char *)S.msg.data,
				"Subject: backupfs: nocodb succeeded\r\n"),
	   "mail subject");
	ok(leak_check_http() == 0, "ok run: no secret in http requests");
	ok(leak_check("mail", (char *)S.raw.data, false) == 0,
	   "ok run: no secret in mail");
}

static void test_failed_run(void)
{
	struct bfs_run_summary s = summary(BFS_RUN_FAILED);
	struct bfs_notify_opts o = opts();
	struct bfs_notify_channel chs[6];
	const char *m, *body;
	int res[6];
	struct req *r;
	cJSON *j;
	const cJSON *facts, *box;

	http_reset(&H, 0, 0);
	smtp_reset(&S, "LOGIN");
	chs[0] =
	    chan(BFS_NOTIFY_WEBHOOK, BFS_NOTIFY_ERRORS, url("/hook/" TOKEN));
	chs[1] = chan(BFS_NOTIFY_TEAMS, BFS_NOTIFY_ERRORS, url("/teams"));
	chs[1].teams_format = BFS_TEAMS_MESSAGECARD;
	/* A Workflows-like URL: the token is a query value. */
	chs[2] = chan(BFS_NOTIFY_TEAMS, BFS_NOTIFY_WARNINGS,
		      url("/flow/invoke?api-version=2016-06-01&sig=" SIG));
	chs[3] = chan(BFS_NOTIFY_SLACK, BFS_NOTIFY_ERRORS, url("/slack"));
	chs[4] = chan(BFS_NOTIFY_PING, BFS_NOTIFY_ERRORS,
		      url("/ping/uuid-2?create=1"));
	chs[5] = mail_chan(BFS_NOTIFY_ERRORS);
	chs[5].password_env = "MAIL_PW";
	all_secrets[3] = "other-mail-pass-777";
	s.log_tail = "line one\n.\n.hidden dot line\nafter the dot\n"
		     "hook " TOKEN " and other-mail-pass-777\n"
		     "sig " SIG "\n";
	is_int(bfs_notify_send(chs, 6, &s, &o, res), 0,
	       "failed run: every channel delivered");
	ok(res[0] == 0 && res[1] == 0 && res[2] == 0 && res[3] == 0 &&
	       res[4] == 0 && res[5] == 0,
	   "failed run: all six sent");

	r = http_find(&H, "/hook/");
	j = r ? cJSON_Parse(r->body) : NULL;
	is_str(jstr(j, "status"), "failed", "webhook status failed");
	ok(jstr(j, "error") && strstr(jstr(j, "error"), "nocodb:***@db"),
	   "webhook error redacted: %s",
	   jstr(j, "error") ? jstr(j, "error") : "-");
	cJSON_Delete(j);

	r = http_find(&H, "/teams");
	j = r ? cJSON_Parse(r->body) : NULL;
	is_str(jstr(j, "themeColor"), "D63333", "teams red for failed");
	is_str(jstr(j, "title"), "backupfs: nocodb failed", "teams title");
	facts = cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sections"), 0), "facts");
	ok(jstr(fact(facts, "name", "Error"), "value") &&
	       strstr(jstr(fact(facts, "name", "Error"), "value"), "pg_dump"),
	   "teams error fact");
	cJSON_Delete(j);

	/* Loopback is no office.com host: auto picks the Adaptive Card. */
	r = http_find(&H, "/flow");
	j = r ? cJSON_Parse(r->body) : NULL;
	is_str(jstr(j, "type"), "message", "adaptive envelope type");
	box = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "attachments"), 0);
	is_str(jstr(box, "contentType"),
	       "application/vnd.microsoft.card.adaptive", "adaptive type");
	box = cJSON_GetObjectItem(box, "content");
	is_str(jstr(box, "type"), "AdaptiveCard", "adaptive card");
	box = cJSON_GetObjectItem(box, "body");
	is_str(jstr(cJSON_GetArrayItem(box, 0), "style"), "attention",
	       "adaptive container style attention");
	facts = cJSON_GetObjectItem(cJSON_GetArrayItem(box, 1), "facts");
	is_str(jstr(fact(facts, "title", "Host"), "value"), "backup-host-1",
	       "adaptive fact host");
	cJSON_Delete(j);

	r = http_find(&H, "/slack");
	j = r ? cJSON_Parse(r->body) : NULL;
	ok(jstr(j, "text") && strstr(jstr(j, "text"), "nocodb failed") &&
	       strstr(jstr(j, "text"), "```\npg_dump: connection"),
	   "slack text with the error");
	cJSON_Delete(j);

	r = http_find(&H, "/ping/uuid-2");
	is_str(r ? r->path : NULL, "/ping/uuid-2/fail?create=1",
	       "ping /fail before the query");
	body = r ? r->body : "";
	ok(strstr(body, "error: pg_dump") && strstr(body, "after the dot\n"),
	   "ping fail body: error and log tail");

	m = (const char *)S.msg.data;
	ok(m && strstr(m, "Subject: backupfs: nocodb failed\r\n"),
	   "mail subject failed");
	ok(m && strstr(m, "From: backupfs <backupfs@example.net>\r\n"),
	   "mail From");
	ok(m && strstr(m, "To: <ops@example.net>,\r\n <dba@example.net>\r\n"),
	   "mail To");
	ok(m && strstr(m, "\r\nDate: ") == NULL && !strncmp(m, "Date: ", 6) &&
	       strstr(m, " +0000\r\n"),
	   "mail Date first, RFC 5322 zone");
	ok(m && strstr(m, "Message-ID: <") && strstr(m, "@example.net>\r\n"),
	   "mail Message-ID");
	ok(m && strstr(m, "MIME-Version: 1.0\r\n") &&
	       strstr(m, "Content-Type: text/plain; charset=utf-8\r\n"),
	   "mail MIME headers");
	ok(m && strstr(m, "\r\n\r\nbackupfs job \"nocodb\" failed on "
			  "backup-host-1.\r\n"),
	   "mail body first line");
	ok(m && strstr(m, "Error: pg_dump: connection to postgresql://nocodb:"
			  "***@db failed\r\n"),
	   "mail error line redacted");
	ok(m && strstr(m, "\r\n.\r\n.hidden dot line\r\nafter the dot\r\n"),
	   "lone dot and dot line arrive whole (no truncation)");
	ok(S.raw.data &&
	       strstr((char *)S.raw.data, "\r\n..\r\n..hidden dot line\r\n"),
	   "curl dot-stuffed them on the wire");
	is_str(S.mech, "LOGIN", "auth login when only LOGIN is offered");
	is_str(S.pass, "other-mail-pass-777", "password from password_env");
	ok(leak_check_http() == 0, "failed run: no secret in http requests");
	ok(leak_check("mail", (char *)S.raw.data, false) == 0,
	   "failed run: no secret in mail");
	all_secrets[3] = "smtp-pa55word-XYZ";
}

static void test_start_and_warning(void)
{
	struct bfs_run_summary s = summary(BFS_RUN_WARNING);
	struct bfs_notify_opts o = opts();
	struct bfs_notify_channel chs[3];
	int res[3];
	struct req *r;
	cJSON *j;

	http_reset(&H, 0, 0);
	chs[0] = chan(BFS_NOTIFY_PING, BFS_NOTIFY_ALL, url("/ping/a"));
	chs[1] = chan(BFS_NOTIFY_PING, BFS_NOTIFY_ERRORS, url("/ping/b"));
	chs[2] = chan(BFS_NOTIFY_WEBHOOK, BFS_NOTIFY_ALL, url("/hook/x"));
	is_int(bfs_notify_start(chs, 3, &s, &o, res), 0, "start sent");
	ok(res[0] == 0 && res[1] == BFS_NOTIFY_SKIPPED &&
	       res[2] == BFS_NOTIFY_SKIPPED,
	   "start: only ping at level all");
	r = http_find(&H, "/ping/a");
	ok(r && !strcmp(r->path, "/ping/a/start") && !strcmp(r->method, "GET"),
	   "ping GET /start");
	is_int(H.n, 1, "one start request");

	http_reset(&H, 0, 0);
	chs[1].level = BFS_NOTIFY_WARNINGS;
	chs[1].type = BFS_NOTIFY_TEAMS;
	chs[1].teams_format = BFS_TEAMS_MESSAGECARD;
	chs[1].url = url("/teams");
	is_int(bfs_notify_send(chs, 3, &s, &o, res), 0, "warning run sent");
	r = http_find(&H, "/teams");
	j = r ? cJSON_Parse(r->body) : NULL;
	is_str(jstr(j, "themeColor"), "F2A900", "teams orange for warning");
	is_str(jstr(j, "title"), "backupfs: nocodb succeeded with warnings",
	       "teams warning title");
	cJSON_Delete(j);
	r = http_find(&H, "/ping/a");
	is_str(r ? r->path : NULL, "/ping/a", "warning run pings success");
}

static void test_retries(void)
{
	struct bfs_run_summary s = summary(BFS_RUN_FAILED);
	struct bfs_notify_opts o = opts();
	struct bfs_notify_channel ch =
	    chan(BFS_NOTIFY_WEBHOOK, BFS_NOTIFY_ALL, url("/r/" TOKEN));
	int64_t t0;
	char dead[64];
	int res;

	http_reset(&H, 2, 500);
	is_int(bfs_notify_send(&ch, 1, &s, &o, &res), 0,
	       "two 500s then 200: delivered");
	is_int(res, 0, "result sent");
	is_int(H.n, 3, "three requests");

	http_reset(&H, 10, 503);
	is_int(bfs_notify_send(&ch, 1, &s, &o, &res), 1,
	       "always 503: one channel failed");
	ok(res < 0, "result negative (%d)", res);
	is_int(H.n, 3, "gave up after three tries");

	http_reset(&H, 10, 404);
	bfs_notify_send(&ch, 1, &s, &o, &res);
	is_int(H.n, 1, "a 404 is not retried");

	http_reset(&H, 10, 302);
	bfs_notify_send(&ch, 1, &s, &o, &res);
	ok(res < 0 && H.n == 1, "a redirect is neither followed nor retried");

	/* A summary without a job name still sends, as "-". */
	{
		struct bfs_run_summary anon = s;
		struct req *r;

		anon.job = NULL;
		http_reset(&H, 0, 0);
		bfs_notify_send(&ch, 1, &anon, &o, &res);
		r = http_find(&H, "/r/");
		ok(res == 0 && r && strstr(r->body, "\"job\":\"-\""),
		   "summary without a job name");
	}

	o.tries = 5;
	http_reset(&H, 4, 429);
	is_int(bfs_notify_send(&ch, 1, &s, &o, &res), 0,
	       "429 is retried (5 tries)");
	is_int(H.n, 5, "five requests");

	/* Connection refused: quick failure, never a hang. */
	o.tries = 3;
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/dead/" TOKEN,
		 dead_port());
	ch.url = dead;
	t0 = bfs_mono_ns();
	is_int(bfs_notify_send(&ch, 1, &s, &o, &res), 1,
	       "dead receiver counted as failed");
	is_int(res, -ECONNREFUSED, "dead receiver: -ECONNREFUSED");
	ok(bfs_mono_ns() - t0 < 3000000000LL, "dead receiver: no hang");

	/* A receiver that never answers: the total timeout ends each try. */
	{
		int port, mfd = mute_listener(&port);

		snprintf(dead, sizeof(dead), "http://127.0.0.1:%d/mute", port);
		ch.url = dead;
		o.tries = 2;
		o.timeout_ms = 300;
		t0 = bfs_mono_ns();
		bfs_notify_send(&ch, 1, &s, &o, &res);
		is_int(res, -ETIMEDOUT, "mute receiver: -ETIMEDOUT");
		ok(bfs_mono_ns() - t0 < 2000000000LL,
		   "mute receiver: bounded by the timeout (2 x 300 ms)");
		close(mfd);
		o = opts();
	}

	ch = mail_chan(BFS_NOTIFY_ALL);
	snprintf(dead, sizeof(dead), "smtp://127.0.0.1:%d", dead_port());
	ch.smtp = dead;
	is_int(bfs_notify_send(&ch, 1, &s, &o, &res), 1, "dead smtp failed");
	ok(res < 0, "dead smtp result negative");
}

static void test_subject_encoding(void)
{
	struct bfs_run_summary s = summary(BFS_RUN_OK);
	struct bfs_notify_opts o = opts();
	struct bfs_notify_channel ch = mail_chan(BFS_NOTIFY_ALL);
	const char *m;
	int res;

	smtp_reset(&S, "PLAIN");
	s.job = "sauvegarde-\xc3\xa9t\xc3\xa9";
	bfs_notify_send(&ch, 1, &s, &o, &res);
	m = (const char *)S.msg.data;
	ok(res == 0 && m && strstr(m, "Subject: =?UTF-8?B?"),
	   "non-ascii subject encoded (RFC 2047)");
	is_str(S.mech, "PLAIN", "auth plain");
	is_str(S.user, "mailer", "auth plain user");
	is_str(S.pass, "smtp-pa55word-XYZ", "auth plain password");
}

static void test_log_secrets(FILE *log)
{
	char buf[65536];
	size_t n;

	fflush(stderr);
	rewind(log);
	n = fread(buf, 1, sizeof(buf) - 1, log);
	buf[n] = '\0';
	ok(n > 0 && strstr(buf, "cannot send webhook to "
				"'http://127.0.0.1:"),
	   "failures were logged");
	ok(strstr(buf, "/dead/") == NULL && strstr(buf, "/r/") == NULL,
	   "urls logged without their path");
	is_int(leak_check("log", buf, false), 0, "no secret in any log line");
	if (tap_failed)
		diag("log:\n%s", buf);
}

int main(void)
{
	FILE *log;
	int fd, saved_stderr = dup(2);

	/* No proxy may stand between us and loopback. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fd = mkstemp(logpath);
	log = fd >= 0 ? fdopen(fd, "w+") : NULL;
	if (!log || dup2(fd, 2) < 0) {
		perror("log capture");
		return 1;
	}
	unlink(logpath);
	bfs_log_setup(false, LOG_DEBUG);
	http_start(&H);
	smtp_start(&S, "PLAIN LOGIN");

	test_summary_json();
	test_levels();
	test_check();
	test_redact();
	test_ok_run();
	test_failed_run();
	test_start_and_warning();
	test_retries();
	test_subject_encoding();
	test_log_secrets(log);

	http_stop(&H);
	smtp_stop(&S);
	fclose(log);
	/* Sanitizer reports must reach the real stderr. */
	dup2(saved_stderr, 2);
	close(saved_stderr);
	curl_global_cleanup();
	return tap_done();
}
