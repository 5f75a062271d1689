/* conninfo.c - database connection strings (conninfo.h): PostgreSQL URIs
 * and key=value strings read as libpq reads them (fe-connect.c:
 * conninfo_uri_parse_options, conninfo_uri_parse_params,
 * conninfo_uri_decode, conninfo_parse), and mysql:// URIs.
 *
 * What is secret: the values libpq marks as passwords (dispchar "*"):
 * password and sslpassword.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conninfo.h"

const char *const bfs_pg_keywords[] = {
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "requiressl",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslcertmode",
    "sslpassword",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
    NULL,
};

void bfs_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* k[0..n) for a message, if it looks like an option name (letters,
 * digits, '_', '-'; at most 40 bytes); else "" and false: a password
 * in the wrong place ("x postgresql://u:pw@h/db?a=b") is no name. */
static bool shown_key(char out[44], const char *k, size_t n)
{
	size_t i;

	out[0] = '\0';
	if (!n || n > 40)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_' && k[i] != '-')
			return false;
	memcpy(out, k, n);
	out[n] = '\0';
	return true;
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

/* 0 if k[0..klen) is a libpq keyword, else -EINVAL naming the key (never
 * its value: a misspelt "pasword=" holds a password) and a near one. */
static int pg_key_check(const char *k, size_t klen, struct bfs_err *err)
{
	const char *best = NULL;
	char shown[44];
	size_t i, d, bestd = 3;

	for (i = 0; bfs_pg_keywords[i]; i++) {
		if (strlen(bfs_pg_keywords[i]) == klen &&
		    !memcmp(bfs_pg_keywords[i], k, klen))
			return 0;
		d = edit_distance(k, klen, bfs_pg_keywords[i],
				  strlen(bfs_pg_keywords[i]));
		if (d < bestd) {
			bestd = d;
			best = bfs_pg_keywords[i];
		}
	}
	if (!shown_key(shown, k, klen))
		return bfs_err_set(err, -EINVAL,
				   "unknown connection option (neither its "
				   "name, which is no word, nor its value is "
				   "shown: they may hold a secret)");
	return bfs_err_set(err, -EINVAL,
			   "unknown connection option '%s'%s%s%s (its value "
			   "is not shown: it may be a secret)",
			   shown, best ? " (did you mean '" : "",
			   best ? best : "", best ? "'?)" : "");
}

static bool pg_secret_key(const char *k, size_t klen)
{
	return (klen == 8 && !memcmp(k, "password", 8)) ||
	       (klen == 11 && !memcmp(k, "sslpassword", 11));
}

/* Record a secret value v (taken) for key k, at raw span [off, off+len). */
static int pg_secret(struct bfs_pg_conninfo *c, const char *k, char *v,
		     size_t off, size_t len, struct bfs_err *err)
{
	char **slot = k[0] == 's' ? &c->sslpassword : &c->password;

	if (c->nsecrets == BFS_CONNINFO_MAX_SECRETS) {
		bfs_secret_free(v);
		return bfs_err_set(err, -EINVAL,
				   "connection string: more than %d passwords",
				   BFS_CONNINFO_MAX_SECRETS);
	}
	bfs_secret_free(*slot); /* the last one given wins, as in libpq */
	*slot = v;
	c->secrets[c->nsecrets].off = off;
	c->secrets[c->nsecrets++].len = len;
	return 0;
}

/* ---- URIs -------------------------------------------------------------- */

/* libpq's conninfo_uri_decode of s[0..n): leading and trailing spaces
 * dropped, one inside refused, %XX decoded, %00 refused.  *out malloc'ed.
 * what names the part in messages. */
static int uri_decode(const char *s, size_t n, char **out, const char *what,
		      struct bfs_err *err)
{
	const char *e = s + n;
	char *o, *p;
	int h, l, rc = 0;

	*out = NULL;
	while (s < e && *s == ' ')
		s++;
	while (e > s && e[-1] == ' ')
		e--;
	o = malloc((size_t)(e - s) + 1);
	if (!o)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (p = o; s < e;) {
		if (*s == ' ') {
			rc = bfs_err_set(err, -EINVAL,
					 "connection URI: a space inside the "
					 "%s (percent-encode it as %%20)",
					 what);
			break;
		}
		if (*s != '%') {
			*p++ = *s++;
			continue;
		}
		if (e - s < 3 || (h = bfs_hexval((unsigned char)s[1])) < 0 ||
		    (l = bfs_hexval((unsigned char)s[2])) < 0) {
			rc = bfs_err_set(err, -EINVAL,
					 "connection URI: invalid percent-"
					 "encoding in the %s (a '%%' is "
					 "written %%25)",
					 what);
			break;
		}
		if (!h && !l) {
			rc =
			    bfs_err_set(err, -EINVAL,
					"connection URI: %%00 in the %s", what);
			break;
		}
		*p++ = (char)(h << 4 | l);
		s += 3;
	}
	if (rc) {
		explicit_bzero(o, (size_t)(p - o));
		free(o);
		return rc;
	}
	*p = '\0';
	*out = o;
	return 0;
}

/* uri_decode only to check s[0..n). */
static int uri_check(const char *s, size_t n, const char *what,
		     struct bfs_err *err)
{
	char *v;
	int rc = uri_decode(s, n, &v, what, err);

	free(v);
	return rc;
}

static int uri_no_at(const char *s, size_t n, struct bfs_err *err)
{
	if (!memchr(s, '@', n))
		return 0;
	/* libpq ends the user info at the first '@': the rest of a password
	 * holding a raw '@' would be read as the host (and shown) */
	return bfs_err_set(err, -EINVAL,
			   "connection URI: an unencoded '@' after the user "
			   "info (percent-encode '@' in a user name or "
			   "password as %%40, '/' as %%2F)");
}

static int uri_query(const char *s, const char *q, struct bfs_pg_conninfo *c,
		     struct bfs_buf *safe, struct bfs_err *err)
{
	const char *seg, *end, *eq;
	char *k = NULL, *v = NULL, shown[44];
	bool first = true;
	size_t n = 0;
	int rc = 0;

	for (seg = q; *seg; seg = *end ? end + 1 : end) {
		n++;
		end = seg + strcspn(seg, "&");
		eq = memchr(seg, '=', (size_t)(end - seg));
		if (!eq) {
			rc = bfs_err_set(err, -EINVAL,
					 "connection URI: query parameter %zu "
					 "has no '=' (not shown: it may be a "
					 "secret)",
					 n);
			goto out;
		}
		rc = uri_decode(seg, (size_t)(eq - seg), &k,
				"name of a query parameter", err);
		if (rc)
			goto out;
		if (memchr(eq + 1, '=', (size_t)(end - eq - 1))) {
			shown_key(shown, k, strlen(k));
			rc = bfs_err_set(err, -EINVAL,
					 "connection URI: a second '=' in the "
					 "value of query parameter %zu%s%s%s "
					 "(percent-encode '=' as %%3D)",
					 n, shown[0] ? " ('" : "", shown,
					 shown[0] ? "')" : "");
			goto out;
		}
		rc = uri_decode(eq + 1, (size_t)(end - eq - 1), &v,
				"value of a query parameter", err);
		if (rc)
			goto out;
		if (!strcmp(k, "ssl")) {
			/* libpq's one alias, for JDBC: ssl=true */
			if (strcmp(v, "true"))
				rc = bfs_err_set(err, -EINVAL,
						 "connection URI: 'ssl' takes "
						 "only 'true'");
		} else {
			rc = pg_key_check(k, strlen(k), err);
		}
		if (rc)
			goto out;
		if (pg_secret_key(k, strlen(k))) {
			rc = pg_secret(c, k, v, (size_t)(eq + 1 - s),
				       (size_t)(end - eq - 1), err);
			v = NULL;
			if (rc)
				goto out;
		} else {
			if (!strcmp(k, "service"))
				c->service = true;
			if (bfs_buf_append(safe, first ? "?" : "&", 1) ||
			    bfs_buf_append(safe, seg, (size_t)(end - seg))) {
				rc = bfs_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			first = false;
		}
		free(k);
		k = NULL;
		bfs_secret_free(v);
		v = NULL;
	}
out:
	free(k);
	bfs_secret_free(v);
	return rc;
}

static int pg_uri(const char *s, size_t pfx, struct bfs_pg_conninfo *c,
		  struct bfs_buf *safe, struct bfs_err *err)
{
	const char *start = s + pfx, *p, *ue, *at = NULL, *cut = NULL;
	const char *hs, *ps, *ds;
	char *v = NULL;
	size_t i;
	int rc;

	/* libpq: the user info ends at the first '@' before any '/' */
	p = start + strcspn(start, "@/");
	if (*p == '@') {
		at = p;
		ue = start + strcspn(start, ":@");
		if (memchr(start, '?', (size_t)(ue - start)))
			return bfs_err_set(
			    err, -EINVAL,
			    "connection URI: a '?' in the user name "
			    "(percent-encode it as %%3F)");
		rc = uri_check(start, (size_t)(ue - start), "user name", err);
		if (rc)
			return rc;
		if (*ue == ':') {
			cut = ue;
			rc = uri_decode(ue + 1, (size_t)(p - ue - 1), &v,
					"password", err);
			if (rc)
				return rc;
			if (!*v) /* libpq keeps no empty password */
				free(v);
			else if ((rc = pg_secret(c, "password", v,
						 (size_t)(ue + 1 - s),
						 (size_t)(p - ue - 1), err)))
				return rc;
		}
		p++;
	} else {
		p = start;
	}
	/* host[:port][,host[:port]]... as libpq's loop */
	for (;;) {
		if (*p == '[') {
			hs = ++p;
			p += strcspn(p, "]");
			if (!*p || p == hs)
				return bfs_err_set(
				    err, -EINVAL,
				    "connection URI: %s IPv6 address",
				    *p ? "empty" : "unterminated '[' in an");
			p++;
			if (*p && !strchr(":/?,", *p))
				return bfs_err_set(err, -EINVAL,
						   "connection URI: unexpected "
						   "character after ']'");
		} else {
			hs = p;
			p += strcspn(p, ":/?,");
			rc = uri_no_at(hs, (size_t)(p - hs), err);
			if (!rc)
				rc = uri_check(hs, (size_t)(p - hs), "host",
					       err);
			if (rc)
				return rc;
		}
		if (*p == ':') {
			ps = ++p;
			p += strcspn(p, "/?,");
			rc = uri_no_at(ps, (size_t)(p - ps), err);
			if (!rc)
				rc = uri_decode(ps, (size_t)(p - ps), &v,
						"port", err);
			if (rc)
				return rc;
			for (i = 0; v[i]; i++)
				if (!isdigit((unsigned char)v[i]))
					break;
			rc = v[i] ? -EINVAL : 0;
			free(v);
			v = NULL;
			if (rc)
				/* "u:12/ab@h/db": the port is a password's
				 * start, do not show it */
				return bfs_err_set(
				    err, -EINVAL,
				    "connection URI: the port is not a number "
				    "(percent-encode '/' in a password as "
				    "%%2F, '@' as %%40)");
		}
		if (*p != ',')
			break;
		p++;
	}
	if (*p == '/') {
		ds = ++p;
		p += strcspn(p, "?");
		rc = uri_no_at(ds, (size_t)(p - ds), err);
		if (!rc)
			rc = uri_check(ds, (size_t)(p - ds), "database name",
				       err);
		if (!rc && p > ds) {
			free(c->dbname);
			c->dbname = NULL;
			rc = uri_decode(ds, (size_t)(p - ds), &c->dbname,
					"database name", err);
		}
		if (rc)
			return rc;
	}
	/* everything before the query, without ":password" */
	if (cut) {
		if (bfs_buf_append(safe, s, (size_t)(cut - s)) ||
		    bfs_buf_append(safe, at, (size_t)(p - at)))
			return bfs_err_set(err, -ENOMEM, "out of memory");
	} else if (bfs_buf_append(safe, s, (size_t)(p - s))) {
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	if (*p == '?')
		return uri_query(s, p + 1, c, safe, err);
	return 0;
}

/* ---- key = value ------------------------------------------------------- */

static int pg_kv(const char *s, struct bfs_pg_conninfo *c, struct bfs_buf *safe,
		 struct bfs_err *err)
{
	const char *cp = s, *k, *vs;
	struct bfs_buf val = {0};
	size_t klen, i, words = 0;
	bool first = true;
	char *v;
	int rc = 0;

	for (;;) {
		while (isspace((unsigned char)*cp))
			cp++;
		if (!*cp)
			break;
		words++;
		k = cp;
		while (*cp && *cp != '=' && !isspace((unsigned char)*cp))
			cp++;
		klen = (size_t)(cp - k);
		while (isspace((unsigned char)*cp))
			cp++;
		if (*cp != '=') {
			/* not shown: "password = se cret" makes "cret" a word
			 */
			rc = bfs_err_set(err, -EINVAL,
					 "invalid connection string: word %zu "
					 "is not followed by '=' (expected "
					 "key=value; quote values with spaces "
					 "as key='a b')",
					 words);
			goto out;
		}
		rc = pg_key_check(k, klen, err);
		if (rc)
			goto out;
		cp++;
		while (isspace((unsigned char)*cp))
			cp++;
		vs = cp;
		val.len = 0;
		if (*cp != '\'') {
			while (*cp && !isspace((unsigned char)*cp)) {
				if (*cp == '\\' && !*++cp)
					break;
				if (bfs_buf_append(&val, cp++, 1))
					goto nomem;
			}
		} else {
			for (cp++;; cp++) {
				if (*cp == '\\' && cp[1])
					cp++;
				else if (*cp == '\'')
					break;
				if (!*cp) {
					rc = bfs_err_set(
					    err, -EINVAL,
					    "invalid connection string: "
					    "unterminated quoted value");
					goto out;
				}
				if (bfs_buf_append(&val, cp, 1))
					goto nomem;
			}
			cp++;
		}
		if (pg_secret_key(k, klen)) {
			v = malloc(val.len + 1);
			if (!v)
				goto nomem;
			if (val.len)
				memcpy(v, val.data, val.len);
			v[val.len] = '\0';
			rc = pg_secret(c, k, v, (size_t)(vs - s),
				       (size_t)(cp - vs), err);
			if (rc)
				goto out;
			continue;
		}
		if (klen == 7 && !memcmp(k, "service", 7))
			c->service = true;
		if (klen == 6 && !memcmp(k, "dbname", 6)) {
			free(c->dbname); /* the last one wins, as in libpq */
			c->dbname = strndup(
			    val.data ? (const char *)val.data : "", val.len);
			if (!c->dbname)
				goto nomem;
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
	if (val.data)
		explicit_bzero(val.data, val.cap);
	bfs_buf_free(&val);
	return rc;
}

/* ---- PostgreSQL -------------------------------------------------------- */

static size_t pg_uri_prefix(const char *s)
{
	if (!strncmp(s, "postgresql://", 13))
		return 13;
	if (!strncmp(s, "postgres://", 11))
		return 11;
	return 0;
}

void bfs_pg_conninfo_clear(struct bfs_pg_conninfo *c)
{
	if (!c)
		return;
	free(c->safe);
	free(c->dbname);
	bfs_secret_free(c->password);
	bfs_secret_free(c->sslpassword);
	memset(c, 0, sizeof(*c));
}

int bfs_pg_conninfo_parse(const char *s, struct bfs_pg_conninfo *out,
			  struct bfs_err *err)
{
	struct bfs_buf safe = {0};
	size_t pfx;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return bfs_err_set(err, -EINVAL, "empty connection string");
	pfx = pg_uri_prefix(s);
	if (pfx) {
		rc = pg_uri(s, pfx, out, &safe, err);
	} else if (strchr(s, '=')) {
		rc = pg_kv(s, out, &safe, err);
	} else if (strstr(s, "://")) {
		/* libpq would take it for a database name, password and all */
		rc = bfs_err_set(err, -EINVAL,
				 "not a PostgreSQL connection URI: those start "
				 "with postgresql:// or postgres://");
	} else {
		out->dbname = strdup(s);
		rc = !out->dbname || bfs_buf_append(&safe, s, strlen(s))
			 ? bfs_err_set(err, -ENOMEM, "out of memory")
			 : 0;
	}
	if (!rc && bfs_buf_append(&safe, "", 1))
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	if (rc) {
		bfs_buf_free(&safe);
		bfs_pg_conninfo_clear(out);
		return rc;
	}
	out->safe = (char *)safe.data;
	return 0;
}

size_t bfs_pg_conninfo_scrub(char *s)
{
	struct bfs_pg_conninfo c;
	size_t n = 0, i;

	if (!s)
		return 0;
	if (bfs_pg_conninfo_parse(s, &c, NULL)) {
		n = strlen(s);
		memset(s, 'x', n);
		return n;
	}
	for (i = 0; i < c.nsecrets; i++) {
		memset(s + c.secrets[i].off, 'x', c.secrets[i].len);
		n += c.secrets[i].len;
	}
	bfs_pg_conninfo_clear(&c);
	return n;
}

/* ---- MySQL ------------------------------------------------------------- */

void bfs_mysql_uri_clear(struct bfs_mysql_uri *u)
{
	if (!u)
		return;
	free(u->user);
	bfs_secret_free(u->password);
	free(u->host);
	free(u->db);
	free(u->socket);
	memset(u, 0, sizeof(*u));
}

/* Percent-decode s[0..n) (RFC 3986; no space rules) into *out. */
static int pct_decode(const char *s, size_t n, char **out, const char *what,
		      struct bfs_err *err)
{
	char *o = malloc(n + 1);
	size_t i, k = 0;
	int h, l;

	*out = NULL;
	if (!o)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			o[k++] = s[i];
			continue;
		}
		if (n - i < 3)
			goto bad;
		h = bfs_hexval((unsigned char)s[i + 1]);
		l = bfs_hexval((unsigned char)s[i + 2]);
		if (h < 0 || l < 0 || (!h && !l))
			goto bad;
		o[k++] = (char)(h << 4 | l);
		i += 2;
	}
	o[k] = '\0';
	*out = o;
	return 0;
bad:
	explicit_bzero(o, k);
	free(o);
	return bfs_err_set(err, -EINVAL,
			   "mysql URI: invalid percent-encoding in the %s (a "
			   "'%%' is written %%25)",
			   what);
}

static int my_query(const char *q, struct bfs_mysql_uri *out,
		    struct bfs_err *err)
{
	const char *c, *amp, *eq;
	char shown[44];
	int rc;

	for (c = q; *c; c = *amp ? amp + 1 : amp) {
		amp = c + strcspn(c, "&");
		eq = memchr(c, '=', (size_t)(amp - c));
		if (eq && eq - c == 6 && !strncmp(c, "socket", 6)) {
			free(out->socket);
			rc = pct_decode(eq + 1, (size_t)(amp - eq - 1),
					&out->socket, "socket", err);
			if (rc)
				return rc;
		} else if (amp > c) {
			/* name the key, never the value (a misspelt key may
			 * hold a password) */
			shown_key(shown, c,
				  eq ? (size_t)(eq - c) : (size_t)(amp - c));
			return bfs_err_set(
			    err, -EINVAL,
			    "mysql URI: unknown query parameter"
			    "%s%s%s (only 'socket' is understood; "
			    "its value is not shown: it may be "
			    "a secret)",
			    shown[0] ? " '" : "", shown, shown[0] ? "'" : "");
		}
	}
	return 0;
}

static const char my_hint[] =
    " (percent-encode '@', '/', '?', ':' and '%' in a user name or "
    "password: %40 %2F %3F %3A %25)";

int bfs_mysql_uri_parse(const char *s, struct bfs_mysql_uri *out,
			struct bfs_err *err)
{
	const char *p, *auth_end, *at = NULL, *c, *colon, *hs, *q;
	unsigned long port;
	char *end;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return bfs_err_set(err, -EINVAL, "empty mysql database");
	if (strncmp(s, "mysql://", 8) && strncmp(s, "mariadb://", 10)) {
		/* never shown: a mistyped URI ("mysql:/u:pw@h/db") lands
		 * here */
		if (strchr(s, '/') || strchr(s, '@') || s[0] == '-')
			return bfs_err_set(err, -EINVAL,
					   "invalid mysql database name: a URI "
					   "starts with mysql:// or "
					   "mariadb://, a name has no '/' or "
					   "'@' and does not start with '-'");
		out->db = strdup(s);
		return out->db ? 0 : bfs_err_set(err, -ENOMEM, "out of memory");
	}
	p = strstr(s, "://") + 3;
	auth_end = p + strcspn(p, "/?");
	for (c = p; c < auth_end; c++)
		if (*c == '@')
			at = c; /* the last '@' of the authority */
	hs = p;
	if (at) {
		colon = memchr(p, ':', (size_t)(at - p));
		rc = pct_decode(p,
				colon ? (size_t)(colon - p) : (size_t)(at - p),
				&out->user, "user name", err);
		if (rc)
			goto fail;
		if (colon) {
			rc = pct_decode(colon + 1, (size_t)(at - colon - 1),
					&out->password, "password", err);
			if (rc)
				goto fail;
			out->secret.off = (size_t)(colon + 1 - s);
			out->secret.len = (size_t)(at - colon - 1);
		}
		hs = at + 1;
	}
	if (*hs == '[') { /* [ipv6]:port */
		const char *rb = memchr(hs, ']', (size_t)(auth_end - hs));

		if (!rb)
			goto bad_uri;
		out->host = strndup(hs + 1, (size_t)(rb - hs - 1));
		if (!out->host)
			goto nomem;
		if (rb + 1 < auth_end && rb[1] != ':')
			goto bad_uri;
		colon = rb + 1 < auth_end ? rb + 1 : NULL;
	} else {
		colon = memchr(hs, ':', (size_t)(auth_end - hs));
		if (colon ? colon > hs : auth_end > hs) {
			rc = pct_decode(hs,
					colon ? (size_t)(colon - hs)
					      : (size_t)(auth_end - hs),
					&out->host, "host", err);
			if (rc)
				goto fail;
		}
	}
	if (colon && colon + 1 < auth_end) {
		/* digits only: "u:12/ab@h" would otherwise show its port */
		if (strspn(colon + 1, "0123456789") !=
		    (size_t)(auth_end - colon - 1))
			goto bad_uri;
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || end != auth_end || !port || port > 65535)
			goto bad_uri;
		out->port = (unsigned)port;
	}
	if (*auth_end == '/') {
		q = strchr(auth_end, '?');
		c = auth_end + 1;
		rc = pct_decode(c, q ? (size_t)(q - c) : strlen(c), &out->db,
				"database name", err);
		if (rc)
			goto fail;
		if (strchr(out->db, '@'))
			goto bad_uri; /* a password's '@' not encoded */
	} else {
		q = *auth_end == '?' ? auth_end : NULL;
	}
	if (q) {
		rc = my_query(q + 1, out, err);
		if (rc)
			goto fail;
	}
	if (!out->db || !*out->db || out->db[0] == '-' ||
	    strchr(out->db, '/')) {
		bfs_mysql_uri_clear(out);
		return bfs_err_set(err, -EINVAL,
				   "mysql URI without a valid database name%s",
				   my_hint);
	}
	return 0;
nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
fail:
	bfs_mysql_uri_clear(out);
	return rc;
bad_uri:
	bfs_mysql_uri_clear(out);
	/* the URI may hold a password: do not echo it */
	return bfs_err_set(err, -EINVAL, "invalid mysql URI%s", my_hint);
}

size_t bfs_mysql_uri_scrub(char *s)
{
	struct bfs_mysql_uri u;
	size_t n;

	if (!s)
		return 0;
	if (bfs_mysql_uri_parse(s, &u, NULL)) {
		n = strlen(s);
		memset(s, 'x', n);
		return n;
	}
	n = u.secret.len;
	memset(s + u.secret.off, 'x', n);
	bfs_mysql_uri_clear(&u);
	return n;
}
