/* source_pgdump.c - --pg-dump [NAME=]CONNINFO: pg_dump's output as
 * NAME.sql (default database.sql).
 *
 * Secrets: a password (URI or "password=" keyword) is cut out of the
 * conninfo and reaches pg_dump as PGPASSWORD in the child's environment,
 * never on a command line or in a message.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source_int.h"

/* ---- connection strings ------------------------------------------------ */

static bool is_uri(const char *s, const char **after)
{
	static const char *const schemes[] = {"postgresql://", "postgres://"};
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(schemes); i++) {
		if (!strncmp(s, schemes[i], strlen(schemes[i]))) {
			*after = s + strlen(schemes[i]);
			return true;
		}
	}
	return false;
}

/* Levenshtein distance of two short strings, capped at 3. */
static size_t edit_distance(const char *a, size_t an, const char *b, size_t bn)
{
	size_t row[64], i, j, prev, cur;

	if (an >= 63 || bn >= 63)
		return 3;
	for (j = 0; j <= bn; j++)
		row[j] = j;
	for (i = 1; i <= an; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= bn; j++) {
			cur = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (cur + 1 < row[j])
				row[j] = cur + 1;
			prev = cur;
		}
	}
	return row[bn] < 3 ? row[bn] : 3;
}

/* A key outside libpq's list (src_pg_keywords) is refused before anything
 * runs, naming the key and never its value: a misspelt "pasword=" would
 * otherwise carry a password into messages and onto pg_dump's command
 * line.  0 if k[0..klen) is a libpq keyword (or "ssl" in a URI), else -EINVAL
 * with a message that names the key (printable bytes only, cut at 40)
 * and a near keyword, never the value. */
static int pg_key_check(const char *k, size_t klen, bool uri,
			struct bfs_err *err)
{
	const char *best = NULL;
	char shown[44];
	size_t i, d, bestd = 3;

	if (uri && klen == 3 && !memcmp(k, "ssl", 3))
		return 0;
	for (i = 0; src_pg_keywords[i]; i++) {
		if (strlen(src_pg_keywords[i]) == klen &&
		    !memcmp(src_pg_keywords[i], k, klen))
			return 0;
		d = edit_distance(k, klen, src_pg_keywords[i],
				  strlen(src_pg_keywords[i]));
		if (d < bestd) {
			bestd = d;
			best = src_pg_keywords[i];
		}
	}
	for (i = 0; i < klen && i < 40; i++)
		shown[i] = isprint((unsigned char)k[i]) ? k[i] : '?';
	shown[i] = '\0';
	return bfs_err_set(err, -EINVAL,
			   "unknown connection option '%s'%s%s%s (its value "
			   "is not shown: it may be a secret)",
			   shown, best ? " (did you mean '" : "",
			   best ? best : "", best ? "'?)" : "");
}

/* Remove "password=..." from a URI query string (q points after '?'). */
static int uri_query_strip(const char *q, struct bfs_buf *safe, char **password,
			   struct bfs_err *err)
{
	const char *c = q, *end, *eq;
	bool first = true, bad;

	while (*c) {
		end = strchr(c, '&');
		if (!end)
			end = c + strlen(c);
		eq = memchr(c, '=', (size_t)(end - c));
		if (end > c &&
		    pg_key_check(c, eq ? (size_t)(eq - c) : (size_t)(end - c),
				 true, err))
			return -EINVAL;
		if (eq && eq - c == 8 && !strncmp(c, "password", 8)) {
			free(*password);
			*password = src_pct_decode(
			    eq + 1, (size_t)(end - eq - 1), &bad);
			if (!*password)
				return bfs_err_set(err, bad ? -EINVAL : -ENOMEM,
						   "invalid password escape in "
						   "connection URI");
		} else if (end > c) {
			if (bfs_buf_append(safe, first ? "?" : "&", 1) ||
			    bfs_buf_append(safe, c, (size_t)(end - c)))
				return bfs_err_set(err, -ENOMEM,
						   "out of memory");
			first = false;
		}
		c = *end ? end + 1 : end;
	}
	return 0;
}

static int pg_uri_split(const char *s, const char *after, struct bfs_buf *safe,
			char **password, struct bfs_err *err)
{
	const char *auth_end, *at = NULL, *c, *q, *colon;
	bool bad;

	/* authority ends at the first '/', '?' (or the end) */
	auth_end = after + strcspn(after, "/?");
	for (c = after; c < auth_end; c++)
		if (*c == '@')
			at = c; /* last '@' of the authority */
	if (bfs_buf_append(safe, s, (size_t)(after - s)))
		goto nomem;
	if (at) {
		colon = memchr(after, ':', (size_t)(at - after));
		if (colon) {
			*password = src_pct_decode(
			    colon + 1, (size_t)(at - colon - 1), &bad);
			if (!*password)
				return bfs_err_set(err, bad ? -EINVAL : -ENOMEM,
						   "invalid password escape in "
						   "connection URI");
			if (bfs_buf_append(safe, after,
					   (size_t)(colon - after)))
				goto nomem;
		} else if (bfs_buf_append(safe, after, (size_t)(at - after))) {
			goto nomem;
		}
		if (bfs_buf_append(safe, at, (size_t)(auth_end - at)))
			goto nomem;
	} else if (bfs_buf_append(safe, after, (size_t)(auth_end - after))) {
		goto nomem;
	}
	q = strchr(auth_end, '?');
	if (bfs_buf_append(safe, auth_end,
			   q ? (size_t)(q - auth_end) : strlen(auth_end)))
		goto nomem;
	if (q)
		return uri_query_strip(q + 1, safe, password, err);
	return 0;
nomem:
	return bfs_err_set(err, -ENOMEM, "out of memory");
}

/* key = value conninfo: values bare (backslash escapes) or single-quoted
 * (\' and \\ escapes).  The safe form re-quotes every value. */
static int pg_kv_split(const char *s, struct bfs_buf *safe, char **password,
		       struct bfs_err *err)
{
	const char *c = s, *k;
	struct bfs_buf val = {0};
	size_t klen, i;
	bool first = true;
	int rc = 0;

	for (;;) {
		while (isspace((unsigned char)*c))
			c++;
		if (!*c)
			break;
		k = c;
		while (*c && *c != '=' && !isspace((unsigned char)*c))
			c++;
		klen = (size_t)(c - k);
		while (isspace((unsigned char)*c))
			c++;
		if (*c != '=' || !klen) {
			rc = bfs_err_set(
			    err, -EINVAL,
			    "invalid connection string: expected key=value");
			goto out;
		}
		rc = pg_key_check(k, klen, false, err);
		if (rc)
			goto out;
		c++;
		while (isspace((unsigned char)*c))
			c++;
		val.len = 0;
		if (*c == '\'') {
			c++;
			while (*c && *c != '\'') {
				if (*c == '\\' && c[1])
					c++;
				if (bfs_buf_append(&val, c, 1))
					goto nomem;
				c++;
			}
			if (*c != '\'') {
				rc = bfs_err_set(err, -EINVAL,
						 "invalid connection string: "
						 "unterminated quote");
				goto out;
			}
			c++;
		} else {
			while (*c && !isspace((unsigned char)*c)) {
				if (*c == '\\' && c[1])
					c++;
				if (bfs_buf_append(&val, c, 1))
					goto nomem;
				c++;
			}
		}
		if (klen == 8 && !strncmp(k, "password", 8)) {
			free(*password);
			*password =
			    strndup(val.len ? (char *)val.data : "", val.len);
			if (!*password)
				goto nomem;
			continue;
		}
		if ((!first && bfs_buf_append(safe, " ", 1)) ||
		    bfs_buf_append(safe, k, klen) ||
		    bfs_buf_append(safe, "='", 2))
			goto nomem;
		for (i = 0; i < val.len; i++) {
			if ((val.data[i] == '\'' || val.data[i] == '\\') &&
			    bfs_buf_append(safe, "\\", 1))
				goto nomem;
			if (bfs_buf_append(safe, &val.data[i], 1))
				goto nomem;
		}
		if (bfs_buf_append(safe, "'", 1))
			goto nomem;
		first = false;
	}
	goto out;
nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out:
	bfs_buf_free(&val);
	return rc;
}

int bfs_pg_conninfo_split(const char *conninfo, char **safe, char **password,
			  struct bfs_err *err)
{
	struct bfs_buf o = {0};
	const char *after;
	int rc;

	*safe = NULL;
	*password = NULL;
	if (!conninfo || !*conninfo)
		return bfs_err_set(err, -EINVAL, "empty connection string");
	if (is_uri(conninfo, &after))
		rc = pg_uri_split(conninfo, after, &o, password, err);
	else if (strchr(conninfo, '='))
		rc = pg_kv_split(conninfo, &o, password, err);
	else
		rc = bfs_buf_append(&o, conninfo, strlen(conninfo))
			 ? bfs_err_set(err, -ENOMEM, "out of memory")
			 : 0;
	if (!rc && bfs_buf_append(&o, "", 1))
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	if (rc) {
		bfs_buf_free(&o);
		free(*password);
		*password = NULL;
		return rc;
	}
	*safe = (char *)o.data;
	return 0;
}

/* ---- running pg_dump --------------------------------------------------- */

static int pg_dest(const struct bfs_source *s, char **dest, struct bfs_err *err)
{
	const char *rest;
	char *name = NULL;
	int rc;

	src_dump_name(s->arg, &name, &rest);
	if (!*rest) {
		rc = bfs_err_set(err, -EINVAL,
				 "--pg-dump needs a connection string");
	} else {
		char *safe = NULL, *pw = NULL;

		/* the connection string is checked before anything runs */
		rc = bfs_pg_conninfo_split(rest, &safe, &pw, err);
		if (pw)
			explicit_bzero(pw, strlen(pw));
		free(pw);
		free(safe);
		if (!rc)
			rc = src_sql_dest(name ? name : "database", dest, err);
	}
	free(name);
	return rc;
}

static int run_pg(struct bfs_backup *b, const struct bfs_source *s,
		  struct bfs_err *err)
{
	char *dest = NULL, *name = NULL, *safe = NULL, *pw = NULL;
	char *dbarg = NULL, *desc = NULL, **env = NULL, *argv[4];
	const char *rest;
	int rc;

	rc = pg_dest(s, &dest, err);
	if (rc)
		return rc;
	src_dump_name(s->arg, &name, &rest);
	rc = bfs_pg_conninfo_split(rest, &safe, &pw, err);
	if (rc)
		goto out;
	rc = src_add(b, "pg-dump", dest, safe, err);
	if (rc)
		goto out;
	if (asprintf(&dbarg, "--dbname=%s", safe) < 0 ||
	    asprintf(&desc, "pg_dump of '%s'", safe) < 0) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (pw && !(env = src_env_with("PGPASSWORD", pw))) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	argv[0] = (char *)"pg_dump";
	argv[1] = (char *)"--no-password";
	argv[2] = dbarg;
	argv[3] = NULL;
	rc = src_run_child(b, dest, argv, env, desc, err);
out:
	src_env_free(env);
	if (pw)
		explicit_bzero(pw, strlen(pw));
	free(pw);
	free(safe);
	free(dbarg);
	free(desc);
	free(name);
	free(dest);
	return rc;
}

const struct bfs_source_type bfs_source_type_pgdump = {
    .kind = BFS_SRC_PG_DUMP,
    .name = "pg-dump",
    .dest = pg_dest,
    .run = run_pg,
};
