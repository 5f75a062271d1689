/* conninfo.h - database connection strings: PostgreSQL URIs and key=value
 * conninfo strings parsed as libpq parses them, and the mysql:// URIs of
 * --mysql-dump.  The parsers find every secret a string holds (a
 * password, an sslpassword), where it sits in the input (to overwrite it
 * in place in the process's own argv) and a form of the string without
 * any (what is recorded in a backup and handed to the dump tools).
 *
 * Nothing here prints, and no error message quotes a value: a misspelt key
 * or a malformed URI may carry a password.  Keys are named (printable
 * bytes only), values never.
 *
 * Thread safety: no global state; every function is reentrant.
 */
#ifndef BFS_CONNINFO_H
#define BFS_CONNINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* libpq's connection keywords (PostgreSQL 17), NULL-terminated. */
extern const char *const bfs_pg_keywords[];

/* A byte range of the input string. */
struct bfs_span {
	size_t off, len;
};

/* At most this many secret values in one string (more is -EINVAL). */
#define BFS_CONNINFO_MAX_SECRETS 16

/* A parsed PostgreSQL connection string. */
struct bfs_pg_conninfo {
	/* The input without its secrets, malloc'ed: a URI keeps its form
	 * (":password" and the secret query parameters cut out), a key=value
	 * string is rebuilt with every value quoted, a bare database name is
	 * copied.  libpq reads it as the input minus the secrets. */
	char *safe;
	/* The values libpq would use (the last one given wins), decoded,
	 * malloc'ed, or NULL when absent. */
	char *password, *sslpassword;
	bool service; /* a service= parameter is given */
	/* The database name given (URI path, dbname=, or a bare name),
	 * decoded, malloc'ed; NULL when absent (libpq then uses PGDATABASE
	 * or the user name).  Not a secret. */
	char *dbname;
	/* Where each secret value sits in the input (raw bytes, quotes and
	 * escapes included). */
	struct bfs_span secrets[BFS_CONNINFO_MAX_SECRETS];
	size_t nsecrets;
};

/* Parse a --pg-dump connection string as libpq does:
 *  - "postgresql://" or "postgres://": a URI (libpq's
 *    conninfo_uri_parse_options: the user info ends at the first '@'
 *    before any '/', so "postgresql://u:pa?ss@h/db" has the password
 *    "pa?ss"; percent-decoding; leading and trailing spaces of a
 *    component dropped, inner ones refused; query keys decoded, "ssl=true"
 *    allowed);
 *  - else, with a '=': key = value pairs (bare values end at white space,
 *    backslash escapes the next byte; '...' quoted values, \' and \\);
 *  - else a database name.
 * Every key must be a libpq keyword (bfs_pg_keywords).  Stricter than
 * libpq where its reading would put part of a password elsewhere: a raw
 * '@' after the user info, a '?' in the user name, a port that is not
 * digits are refused (percent-encode them).
 * out is filled on success (bfs_pg_conninfo_clear frees it) and zeroed on
 * failure.  0, -EINVAL with a message that names no value, -ENOMEM. */
int bfs_pg_conninfo_parse(const char *s, struct bfs_pg_conninfo *out,
			  struct bfs_err *err);
/* Wipe the secrets and free everything of c; c is zeroed.  NULL ok. */
void bfs_pg_conninfo_clear(struct bfs_pg_conninfo *c);

/* A parsed mysql://user:password@host:port/db?socket=PATH (or
 * mariadb://; every part optional except db) or a bare database name.
 * Fields malloc'ed or NULL; port 0 if absent. */
struct bfs_mysql_uri {
	char *user, *password, *host, *db, *socket;
	unsigned port;
	struct bfs_span secret; /* the raw password; len 0 when none */
};
/* Parse s (RFC 3986: the user info ends at the last '@' of the
 * authority, which ends at the first '/' or '?'; '@', '/', '?', ':' and
 * '%' in a user name or password are percent-encoded).  0, -EINVAL (no
 * value in the message), -ENOMEM; out is zeroed on failure. */
int bfs_mysql_uri_parse(const char *s, struct bfs_mysql_uri *out,
			struct bfs_err *err);
/* Wipe the password and free every field; u is zeroed.  NULL ok. */
void bfs_mysql_uri_clear(struct bfs_mysql_uri *u);

/* Overwrite every secret value of s in place with 'x' (s is a pg
 * connection string, or a mysql URI), as mysql(1) does with -pPASSWORD,
 * so that /proc/PID/cmdline stops showing it.  A string that does not
 * parse is overwritten whole: which part of it is secret is not known.
 * Returns the number of bytes overwritten. */
size_t bfs_pg_conninfo_scrub(char *s);
size_t bfs_mysql_uri_scrub(char *s);

/* Wipe and free a secret string.  NULL ok. */
void bfs_secret_free(char *s);

#endif
