/* source_common.c - argument rules shared by the sources (source_int.h):
 * "[DEST=]REST" splitting, percent-decoding for connection URIs, and the
 * names under which dumps land.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "source_int.h"

/* ---- argument parsing -------------------------------------------------- */

int bfs_source_split(const char *arg, const char *deflt, char **dest,
		     const char **rest, struct bfs_err *err)
{
	const char *eq = arg ? strchr(arg, '=') : NULL;

	*dest = NULL;
	if (!arg || !*arg)
		return bfs_err_set(err, -EINVAL, "missing source argument");
	if (eq && eq > arg &&
	    bfs_manifest_path_valid(arg, (size_t)(eq - arg))) {
		*dest = strndup(arg, (size_t)(eq - arg));
		*rest = eq + 1;
	} else {
		*dest = strdup(deflt);
		*rest = arg;
	}
	if (!*dest)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	if (!**rest) {
		free(*dest);
		*dest = NULL;
		return bfs_err_set(err, -EINVAL, "missing path in '%s'", arg);
	}
	return 0;
}

static int hexdig(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into a new string.  NULL on ENOMEM or a bad
 * escape (*bad set). */
char *src_pct_decode(const char *s, size_t n, bool *bad)
{
	char *o = malloc(n + 1);
	size_t i, k = 0;

	*bad = false;
	if (!o)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int h, l;

			if (i + 2 >= n) {
				*bad = true;
				free(o);
				return NULL;
			}
			h = hexdig((unsigned char)s[i + 1]);
			l = hexdig((unsigned char)s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0)) {
				*bad = true;
				free(o);
				return NULL;
			}
			o[k++] = (char)(h << 4 | l);
			i += 2;
		} else {
			o[k++] = s[i];
		}
	}
	o[k] = 0;
	return o;
}

/* libpq's connection keywords (PostgreSQL 17; URI query parameters take
 * the same names, plus "ssl"): what a --pg-dump conninfo may hold, and
 * what [NAME=] may not be. */
const char *const src_pg_keywords[] = {
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

/* [NAME=]X for dumps: NAME is [A-Za-z0-9._/-]+, a valid path, and not a
 * libpq keyword (so "dbname=x" stays a conninfo). */
void src_dump_name(const char *arg, char **name, const char **rest)
{
	const char *eq = strchr(arg, '=');
	size_t n, i;

	*name = NULL;
	*rest = arg;
	if (!eq || eq == arg)
		return;
	n = (size_t)(eq - arg);
	if (strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789._/-") < n ||
	    !bfs_manifest_path_valid(arg, n))
		return;
	for (i = 0; src_pg_keywords[i]; i++)
		if (strlen(src_pg_keywords[i]) == n &&
		    !strncmp(arg, src_pg_keywords[i], n))
			return;
	*name = strndup(arg, n);
	if (*name)
		*rest = eq + 1;
}

int src_sql_dest(const char *name, char **dest, struct bfs_err *err)
{
	size_t n = strlen(name);

	*dest = malloc(n + 5);
	if (!*dest)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	memcpy(*dest, name, n);
	memcpy(*dest + n, ".sql", 5);
	if (!bfs_manifest_path_valid(*dest, n + 4)) {
		free(*dest);
		*dest = NULL;
		return bfs_err_set(err, -EINVAL, "invalid dump name '%s'",
				   name);
	}
	return 0;
}
