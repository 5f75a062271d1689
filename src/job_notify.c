/* job_notify.c - the "notify" channels of a job file: type, level and the
 * fields each type needs, validated; the raw object is kept for the notify
 * module.  URLs and addresses are never echoed in messages. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "job_int.h"
#include "util.h"

static const char *const types[] = {"webhook", "teams", "slack",
				    "email",   "ping",	NULL};
static const char *const levels[] = {"errors", "warnings", "all", NULL};
static const char *const teams_formats[] = {"auto", "messagecard", "adaptive",
					    NULL};

/* Every key a channel may have; which type takes which is checked after. */
static const char *const all_keys[] = {
    "type", "level", "url",	 "format",	 "to",
    "from", "smtp",  "user_env", "password_env", NULL};

static int word(const char *s, const char *const *list)
{
	int i;

	for (i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return i;
	return -1;
}

/* scheme://host...: scheme one of schemes (case-insensitive), a host, no
 * blanks, no password in the userinfo. */
static int check_url(const char *u, const char *path,
		     const char *const *schemes, const char *what,
		     struct bfs_err *err)
{
	const char *rest = NULL;
	size_t i, n;

	for (i = 0; schemes[i]; i++) {
		n = strlen(schemes[i]);
		if (strncasecmp(u, schemes[i], n) == 0) {
			rest = u + n;
			break;
		}
	}
	if (!rest)
		return jp_fail(err, path, "expected %s", what);
	if (!*rest || *rest == '/' || *rest == '?' || *rest == '#')
		return jp_fail(err, path, "the URL has no host");
	if (strpbrk(u, " \t"))
		return jp_fail(err, path, "the URL contains a blank");
	if (bfs_job_has_password(u))
		return jp_fail(err, path,
			       "contains a password: a job file must not hold "
			       "secrets; put credentials in the env_file");
	return 0;
}

/* A bare address: local@domain, printable, no blanks or header syntax. */
static bool address_valid(const char *a)
{
	const char *at = strchr(a, '@');
	const unsigned char *p;

	if (!at || at == a || !at[1] || strchr(at + 1, '@') || strlen(a) > 254)
		return false;
	for (p = (const unsigned char *)a; *p; p++)
		if (*p <= ' ' || *p == 0x7f || strchr("<>,;:\"()[]\\", *p))
			return false;
	return true;
}

static bool env_name_valid(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* Keys allowed for a type, beside type and level. */
static bool key_fits(const char *key, enum bfs_job_notify_type t)
{
	if (!strcmp(key, "type") || !strcmp(key, "level"))
		return true;
	if (!strcmp(key, "url"))
		return t != BFS_JOB_NOTIFY_EMAIL;
	if (!strcmp(key, "format"))
		return t == BFS_JOB_NOTIFY_TEAMS;
	return t == BFS_JOB_NOTIFY_EMAIL; /* to from smtp *_env */
}

static int parse_channel(const cJSON *o, const char *path,
			 struct bfs_job_notify *ch, struct bfs_err *err)
{
	const cJSON *v, *c;
	const char *s;
	char p[PATH_LEN], ep[PATH_LEN], w[48];
	size_t i;
	int rc, k;

	rc = jp_check_keys(o, path, all_keys, err);
	if (rc)
		return rc;
	ch->raw = o;
	jp_sub(p, path, "type");
	v = cJSON_GetObjectItemCaseSensitive(o, "type");
	if (!v)
		return jp_fail(
		    err, p, "missing (webhook, teams, slack, email or ping)");
	rc = jp_get_string(v, p, S_LINE, &s, err);
	if (rc)
		return rc;
	k = word(s, types);
	if (k < 0) {
		jp_clean(w, sizeof(w), s);
		return jp_fail(err, p,
			       "\"%s\": unknown channel type (use webhook, "
			       "teams, slack, email or ping)",
			       w);
	}
	ch->type = (enum bfs_job_notify_type)k;
	ch->type_name = types[k];
	for (c = o->child; c; c = c->next) {
		if (key_fits(c->string, ch->type))
			continue;
		jp_sub(p, path, c->string);
		return jp_fail(err, p, "not an option of a %s channel",
			       ch->type_name);
	}

	ch->level = ch->type == BFS_JOB_NOTIFY_PING ? BFS_JOB_LEVEL_ALL
						    : BFS_JOB_LEVEL_ERRORS;
	v = cJSON_GetObjectItemCaseSensitive(o, "level");
	if (v) {
		jp_sub(p, path, "level");
		rc = jp_get_string(v, p, S_LINE, &s, err);
		if (rc)
			return rc;
		k = word(s, levels);
		if (k < 0) {
			jp_clean(w, sizeof(w), s);
			return jp_fail(
			    err, p, "\"%s\": expected errors, warnings or all",
			    w);
		}
		ch->level = (enum bfs_job_notify_level)k;
	}

	if (ch->type != BFS_JOB_NOTIFY_EMAIL) {
		static const char *const http[] = {"http://", "https://", NULL};

		jp_sub(p, path, "url");
		v = cJSON_GetObjectItemCaseSensitive(o, "url");
		if (!v)
			return jp_fail(err, p, "missing");
		rc = jp_get_string(v, p, S_NONEMPTY | S_LINE, &ch->url, err);
		if (!rc)
			rc = check_url(ch->url, p, http,
				       "an http:// or https:// URL", err);
		if (rc)
			return rc;
		v = cJSON_GetObjectItemCaseSensitive(o, "format");
		if (v) {
			jp_sub(p, path, "format");
			rc = jp_get_string(v, p, S_LINE, &ch->format, err);
			if (rc)
				return rc;
			if (word(ch->format, teams_formats) < 0) {
				jp_clean(w, sizeof(w), ch->format);
				return jp_fail(err, p,
					       "\"%s\": expected auto, "
					       "messagecard or adaptive",
					       w);
			}
		}
		return 0;
	}

	/* email */
	jp_sub(p, path, "to");
	v = cJSON_GetObjectItemCaseSensitive(o, "to");
	if (!v)
		return jp_fail(err, p, "missing (a list of addresses)");
	rc = jp_get_list(v, p, S_NONEMPTY | S_LINE, &ch->to, &ch->nto, err);
	if (rc)
		return rc;
	if (ch->nto == 0)
		return jp_fail(err, p, "empty (at least one address)");
	for (i = 0; i < ch->nto; i++) {
		jp_idx(ep, p, i);
		if (!address_valid(ch->to[i]))
			return jp_fail(
			    err, ep,
			    "expected an address like ops@example.net");
	}
	jp_sub(p, path, "from");
	v = cJSON_GetObjectItemCaseSensitive(o, "from");
	if (!v)
		return jp_fail(err, p, "missing (the sender address)");
	rc = jp_get_string(v, p, S_NONEMPTY | S_LINE, &ch->from, err);
	if (rc)
		return rc;
	if (!address_valid(ch->from))
		return jp_fail(err, p,
			       "expected an address like backupfs@example.net");
	jp_sub(p, path, "smtp");
	v = cJSON_GetObjectItemCaseSensitive(o, "smtp");
	if (!v)
		return jp_fail(err, p,
			       "missing (smtp://HOST:587 or smtps://HOST:465)");
	rc = jp_get_string(v, p, S_NONEMPTY | S_LINE, &ch->smtp, err);
	if (!rc) {
		static const char *const smtp[] = {"smtp://", "smtps://", NULL};

		rc = check_url(ch->smtp, p, smtp, "an smtp:// or smtps:// URL",
			       err);
	}
	if (rc)
		return rc;
	for (k = 0; k < 2; k++) {
		const char *key = k ? "password_env" : "user_env";
		const char **dst = k ? &ch->password_env : &ch->user_env;

		v = cJSON_GetObjectItemCaseSensitive(o, key);
		if (!v)
			continue;
		jp_sub(p, path, key);
		rc = jp_get_string(v, p, S_LINE, dst, err);
		if (rc)
			return rc;
		if (!env_name_valid(*dst))
			return jp_fail(err, p,
				       "expected an environment variable name "
				       "(A-Z, 0-9, _)");
	}
	return 0;
}

int jp_parse_notify(const cJSON *v, struct bfs_job *job, struct bfs_err *err)
{
	const cJSON *c;
	char p[PATH_LEN];
	size_t i = 0, cnt;
	int rc;

	if (!v)
		return 0;
	if (!cJSON_IsArray(v))
		return jp_fail(err, "notify", "expected an array of objects");
	cnt = (size_t)cJSON_GetArraySize(v);
	if (cnt > LIST_MAX)
		return jp_fail(err, "notify", "too many entries (at most %d)",
			       LIST_MAX);
	job->notify = calloc(cnt ? cnt : 1, sizeof(*job->notify));
	if (!job->notify)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (c = v->child; c; c = c->next, i++) {
		jp_idx(p, "notify", i);
		job->nnotify = i + 1; /* so bfs_job_free releases it */
		rc = parse_channel(c, p, &job->notify[i], err);
		if (rc)
			return rc;
	}
	return 0;
}
