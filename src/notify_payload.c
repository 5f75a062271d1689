/* notify_payload.c - the bodies of the chat and ping channels: Teams
 * MessageCard or Adaptive Card, Slack-compatible {"text"}, and the
 * healthchecks-style ping URL and body.  All built from the redacted
 * summary in the context (see notify_int.h, doc/NOTIFY.md). */
#include "config.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify_int.h"

#define PING_BODY_MAX (100 * 1000) /* healthchecks.io keeps 100 kB */
#define SLACK_ERR_MAX 3000

bool notify_teams_classic(const char *url)
{
	char origin[256];
	const char *host, *end;
	size_t n;

	bfs_url_origin(url, origin, sizeof(origin));
	host = strstr(origin, "://");
	if (!host)
		return false;
	host += 3;
	end = strchr(host, ':');
	n = end ? (size_t)(end - host) : strlen(host);
	return (n >= 19 &&
		!strncmp(host + n - 19, ".webhook.office.com", 19)) ||
	       (n == 18 && !strncmp(host, "outlook.office.com", 18));
}

/* Facts shared by both Teams flavours: name/value pairs, kn key name. */
static int teams_facts(const struct notify_ctx *c, cJSON *arr, const char *kn)
{
	const struct bfs_run_summary *s = &c->s;
	char dur[48], start[48], add[64], warn[32];
	const char *facts[9][2];
	size_t n = 0;

	notify_fmt_duration(dur, sizeof(dur), s->duration_ns);
	notify_fmt_time(start, sizeof(start), s->start_ns);
	bfs_fmt_bytes(add, sizeof(add), s->bytes_added);
	snprintf(warn, sizeof(warn), "%zu", s->nwarnings);
	facts[n][0] = "Host", facts[n++][1] = s->host;
	facts[n][0] = "Job", facts[n++][1] = s->job;
	facts[n][0] = "Status", facts[n++][1] = bfs_run_status_name(s->status);
	facts[n][0] = "Backup id";
	facts[n++][1] = s->backup_id ? s->backup_id : "-";
	facts[n][0] = "Started", facts[n++][1] = start;
	facts[n][0] = "Duration", facts[n++][1] = dur;
	facts[n][0] = "Bytes added", facts[n++][1] = add;
	if (s->nwarnings)
		facts[n][0] = "Warnings", facts[n++][1] = warn;
	if (s->error)
		facts[n][0] = "Error", facts[n++][1] = s->error;
	for (size_t i = 0; i < n; i++) {
		cJSON *f = cJSON_CreateObject();

		if (!f || !cJSON_AddItemToArray(arr, f) ||
		    !cJSON_AddStringToObject(f, kn, facts[i][0]) ||
		    !cJSON_AddStringToObject(f, "value", facts[i][1]))
			return -ENOMEM;
	}
	return 0;
}

static const char *const teams_colour[] = {"2EB886", "F2A900", "D63333"};
static const char *const adaptive_style[] = {"good", "warning", "attention"};
static const char *const adaptive_colour[] = {"Good", "Warning", "Attention"};

static cJSON *teams_messagecard(const struct notify_ctx *c, const char *title)
{
	cJSON *root = cJSON_CreateObject(), *secs, *sec, *facts;
	unsigned st = (unsigned)c->s.status > 2 ? 2 : (unsigned)c->s.status;

	if (!root || !cJSON_AddStringToObject(root, "@type", "MessageCard") ||
	    !cJSON_AddStringToObject(root, "@context",
				     "https://schema.org/extensions") ||
	    !cJSON_AddStringToObject(root, "themeColor", teams_colour[st]) ||
	    !cJSON_AddStringToObject(root, "summary", title) ||
	    !cJSON_AddStringToObject(root, "title", title) ||
	    !(secs = cJSON_AddArrayToObject(root, "sections")) ||
	    !(sec = cJSON_CreateObject()) || !cJSON_AddItemToArray(secs, sec) ||
	    !(facts = cJSON_AddArrayToObject(sec, "facts")) ||
	    teams_facts(c, facts, "name") < 0)
		goto out_nomem;
	return root;
out_nomem:
	cJSON_Delete(root);
	return NULL;
}

static cJSON *teams_adaptive(const struct notify_ctx *c, const char *title)
{
	unsigned st = (unsigned)c->s.status > 2 ? 2 : (unsigned)c->s.status;
	cJSON *root = cJSON_CreateObject(), *atts, *att, *card, *body, *box;
	cJSON *items, *tb, *fs, *facts, *ms;

	if (!root || !cJSON_AddStringToObject(root, "type", "message") ||
	    !(atts = cJSON_AddArrayToObject(root, "attachments")) ||
	    !(att = cJSON_CreateObject()) || !cJSON_AddItemToArray(atts, att) ||
	    !cJSON_AddStringToObject(
		att, "contentType",
		"application/vnd.microsoft.card.adaptive") ||
	    !cJSON_AddNullToObject(att, "contentUrl") ||
	    !(card = cJSON_AddObjectToObject(att, "content")) ||
	    !cJSON_AddStringToObject(
		card, "$schema",
		"http://adaptivecards.io/schemas/adaptive-card.json") ||
	    !cJSON_AddStringToObject(card, "type", "AdaptiveCard") ||
	    !cJSON_AddStringToObject(card, "version", "1.4") ||
	    !(ms = cJSON_AddObjectToObject(card, "msteams")) ||
	    !cJSON_AddStringToObject(ms, "width", "Full") ||
	    !(body = cJSON_AddArrayToObject(card, "body")) ||
	    !(box = cJSON_CreateObject()) || !cJSON_AddItemToArray(body, box) ||
	    !cJSON_AddStringToObject(box, "type", "Container") ||
	    !cJSON_AddStringToObject(box, "style", adaptive_style[st]) ||
	    !(items = cJSON_AddArrayToObject(box, "items")) ||
	    !(tb = cJSON_CreateObject()) || !cJSON_AddItemToArray(items, tb) ||
	    !cJSON_AddStringToObject(tb, "type", "TextBlock") ||
	    !cJSON_AddStringToObject(tb, "text", title) ||
	    !cJSON_AddStringToObject(tb, "weight", "Bolder") ||
	    !cJSON_AddStringToObject(tb, "size", "Medium") ||
	    !cJSON_AddStringToObject(tb, "color", adaptive_colour[st]) ||
	    !cJSON_AddTrueToObject(tb, "wrap") ||
	    !(fs = cJSON_CreateObject()) || !cJSON_AddItemToArray(body, fs) ||
	    !cJSON_AddStringToObject(fs, "type", "FactSet") ||
	    !(facts = cJSON_AddArrayToObject(fs, "facts")) ||
	    teams_facts(c, facts, "title") < 0)
		goto out_nomem;
	return root;
out_nomem:
	cJSON_Delete(root);
	return NULL;
}

char *notify_teams_payload(const struct notify_ctx *c,
			   const struct bfs_notify_channel *ch)
{
	enum bfs_teams_format f = ch->teams_format;
	char title[512];
	cJSON *root;
	char *out;

	snprintf(title, sizeof(title), "backupfs: %s %s", c->s.job,
		 notify_verb(c->s.status));
	if (f == BFS_TEAMS_AUTO)
		f = notify_teams_classic(ch->url) ? BFS_TEAMS_MESSAGECARD
						  : BFS_TEAMS_ADAPTIVE;
	root = f == BFS_TEAMS_MESSAGECARD ? teams_messagecard(c, title)
					  : teams_adaptive(c, title);
	if (!root)
		return NULL;
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}

char *notify_slack_payload(const struct notify_ctx *c)
{
	const struct bfs_run_summary *s = &c->s;
	struct bfs_buf b = {0};
	char dur[48], add[32];
	cJSON *root = NULL;
	char *out = NULL;

	notify_fmt_duration(dur, sizeof(dur), s->duration_ns);
	bfs_fmt_bytes(add, sizeof(add), s->bytes_added);
	if (bfs_buf_printf(&b,
			   "backupfs: %s %s on %s (backup %s, %s, %s "
			   "added)",
			   s->job, notify_verb(s->status), s->host,
			   s->backup_id ? s->backup_id : "-", dur, add) < 0)
		goto out_free;
	for (size_t i = 0; i < s->nwarnings; i++)
		if (bfs_buf_printf(&b, "\nwarning: %s", s->warnings[i]) < 0)
			goto out_free;
	if (s->error &&
	    bfs_buf_printf(&b, "\n```\n%.*s\n```", SLACK_ERR_MAX, s->error) < 0)
		goto out_free;
	if (bfs_buf_append(&b, "", 1) < 0)
		goto out_free;
	root = cJSON_CreateObject();
	if (root && cJSON_AddStringToObject(root, "text", (char *)b.data))
		out = cJSON_PrintUnformatted(root);
out_free:
	cJSON_Delete(root);
	bfs_buf_free(&b);
	return out;
}

/* URL with "/start" or "/fail" inserted before any query string. */
char *notify_ping_url(const char *url, const char *suffix)
{
	const char *q = strchr(url, '?');
	size_t n = q ? (size_t)(q - url) : strlen(url);
	struct bfs_buf b = {0};

	while (n > 0 && url[n - 1] == '/')
		n--;
	if (bfs_buf_append(&b, url, n) < 0 ||
	    bfs_buf_printf(&b, "%s%s", suffix, q ? q : "") < 0) {
		bfs_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

char *notify_ping_body(const struct notify_ctx *c)
{
	struct bfs_buf b = {0};
	const char *tail = c->s.log_tail;
	size_t n;

	if (c->s.status != BFS_RUN_FAILED) {
		if (notify_text(c, &b, false) < 0 ||
		    bfs_buf_append(&b, "", 1) < 0)
			goto out_nomem;
		return (char *)b.data;
	}
	if (c->s.error && bfs_buf_printf(&b, "error: %s\n\n", c->s.error) < 0)
		goto out_nomem;
	n = tail ? strlen(tail) : 0;
	if (n > PING_BODY_MAX) /* keep the end: the failure is there */
		tail += n - PING_BODY_MAX, n = PING_BODY_MAX;
	if (bfs_buf_append(&b, tail ? tail : "", n) < 0 ||
	    bfs_buf_append(&b, "", 1) < 0)
		goto out_nomem;
	return (char *)b.data;
out_nomem:
	bfs_buf_free(&b);
	return NULL;
}
