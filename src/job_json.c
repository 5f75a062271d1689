/* job_json.c - the job parser's JSON helpers: field paths, messages,
 * key checks (unknown keys with "did you mean", duplicates), strings and
 * string lists, and the password detector that keeps secrets out of job
 * files. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "job_int.h"
#include "schedule.h"
#include "util.h"

int jp_fail(struct bfs_err *err, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!*path)
		return bfs_err_set(err, -EINVAL, "%s", msg);
	return bfs_err_set(err, -EINVAL, "%s: %s", path, msg);
}

void jp_sub(char *out, const char *base, const char *key)
{
	/* paths are short; a cut one still names the start of the path */
	if (snprintf(out, PATH_LEN, "%s%s%s", base, *base ? "." : "", key) < 0)
		out[0] = '\0';
}

void jp_idx(char *out, const char *base, size_t i)
{
	if (snprintf(out, PATH_LEN, "%s[%zu]", base, i) < 0)
		out[0] = '\0';
}

/* A printable, shortened copy of user text that is not a secret (keys,
 * words like "weekly"), for messages. */
void jp_clean(char *out, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 4 < n && i < 40; i++)
		out[i] =
		    (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i] && i + 4 <= n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

/* Optimal string alignment distance (edits incl. transpositions), for
 * "did you mean".  Keys are short; longer ones are not compared. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, c, d[33][33];

	if (la > 32 || lb > 32)
		return 99;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			c = a[i - 1] != b[j - 1];
			d[i][j] =
			    BFS_MIN(BFS_MIN(d[i - 1][j] + 1, d[i][j - 1] + 1),
				    d[i - 1][j - 1] + c);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1])
				d[i][j] = BFS_MIN(d[i][j], d[i - 2][j - 2] + 1);
		}
	}
	return d[la][lb];
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* obj must be an object whose keys are all in allowed, each once. */
int jp_check_keys(const cJSON *obj, const char *path,
		  const char *const *allowed, struct bfs_err *err)
{
	const cJSON *c, *p;
	const char *const *a;
	const char *best;
	char k[48], kp[PATH_LEN];
	size_t dist, bd;

	if (!cJSON_IsObject(obj))
		return jp_fail(err, path, "expected an object");
	for (c = obj->child; c; c = c->next) {
		jp_clean(k, sizeof(k), c->string);
		jp_sub(kp, path, k);
		for (p = obj->child; p != c; p = p->next)
			if (strcmp(p->string, c->string) == 0)
				return jp_fail(err, kp, "duplicate key");
		if (in_list(c->string, allowed))
			continue;
		best = NULL;
		bd = 99;
		for (a = allowed; *a; a++) {
			dist = distance(c->string, *a);
			if (dist < bd) {
				bd = dist;
				best = *a;
			}
		}
		if (best && bd <= 2 && bd < strlen(c->string))
			return jp_fail(err, kp,
				       "unknown key (did you mean %s?)", best);
		return jp_fail(err, kp, "unknown key");
	}
	return 0;
}

bool bfs_job_has_password(const char *s)
{
	static const char *const words[] = {"password", "passwd", "pwd"};
	const char *p, *auth, *at, *q;
	size_t i, end, wl;

	for (p = strstr(s, "://"); p; p = strstr(p + 3, "://")) {
		auth = p + 3;
		end = strcspn(auth, "/?# \t\n");
		at = NULL;
		for (q = auth; q < auth + end; q++)
			if (*q == '@')
				at = q; /* the last '@' ends the userinfo */
		if (at && memchr(auth, ':', (size_t)(at - auth)))
			return true;
	}
	for (p = s; *p; p++) {
		for (i = 0; i < BFS_ARRAY_SIZE(words); i++) {
			wl = strlen(words[i]);
			if (strncasecmp(p, words[i], wl) != 0)
				continue;
			q = p + wl;
			q += strspn(q, " \t");
			if (*q == '=')
				return true;
		}
	}
	return false;
}

int jp_get_string(const cJSON *v, const char *path, int flags, const char **out,
		  struct bfs_err *err)
{
	const unsigned char *s;

	if (!cJSON_IsString(v) || !v->valuestring)
		return jp_fail(err, path, "expected a string");
	s = (const unsigned char *)v->valuestring;
	if ((flags & S_NONEMPTY) && !*s)
		return jp_fail(err, path, "must not be empty");
	if (strlen(v->valuestring) > STR_MAX)
		return jp_fail(err, path, "too long (at most %d bytes)",
			       STR_MAX);
	for (; *s; s++) {
		if (*s >= 0x20 && *s != 0x7f)
			continue;
		if ((flags & S_LINE) ||
		    ((flags & S_TEXT) && *s != '\t' && *s != '\n'))
			return jp_fail(err, path,
				       "contains a control character");
	}
	if ((flags & S_NOPASS) && bfs_job_has_password(v->valuestring))
		return jp_fail(err, path,
			       "contains a password: a job file must not hold "
			       "secrets; put them in the env_file");
	*out = v->valuestring;
	return 0;
}

/* An array of strings into a NULL-terminated list (allocated; strings
 * borrowed).  v NULL: an empty list. */
int jp_get_list(const cJSON *v, const char *path, int flags, const char ***out,
		size_t *n, struct bfs_err *err)
{
	const cJSON *c;
	const char **l;
	char ep[PATH_LEN];
	size_t i = 0, cnt;
	int rc;

	if (v && !cJSON_IsArray(v))
		return jp_fail(err, path, "expected an array of strings");
	cnt = v ? (size_t)cJSON_GetArraySize(v) : 0;
	if (cnt > LIST_MAX)
		return jp_fail(err, path, "too many entries (at most %d)",
			       LIST_MAX);
	l = calloc(cnt + 1, sizeof(*l));
	if (!l)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (c = v ? v->child : NULL; c; c = c->next, i++) {
		jp_idx(ep, path, i);
		rc = jp_get_string(c, ep, flags, &l[i], err);
		if (rc) {
			free(l);
			return rc;
		}
	}
	*out = l;
	*n = cnt;
	return 0;
}

int jp_get_bool(const cJSON *v, const char *path, bool *out,
		struct bfs_err *err)
{
	if (!cJSON_IsBool(v))
		return jp_fail(err, path, "expected true or false");
	*out = cJSON_IsTrue(v);
	return 0;
}

int jp_get_duration(const cJSON *v, const char *path, uint64_t *out,
		    struct bfs_err *err)
{
	const char *s;
	int rc;

	rc = jp_get_string(v, path, S_LINE, &s, err);
	if (rc)
		return rc;
	rc = bfs_duration_parse(s, out, err);
	if (rc)
		return bfs_err_prefix(err, rc, "%s", path);
	return 0;
}
