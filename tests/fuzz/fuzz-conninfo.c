/* fuzz-conninfo.c - libFuzzer target: the connection-string parsers of
 * conninfo.h.  The input is parsed as a PostgreSQL conninfo (URI,
 * key=value or a name) and as a mysql:// URI, with and without a
 * "postgresql://" / "mysql://" prefix.  Checked: every secret span lies
 * inside the input; the safe form parses again and holds no secret (the
 * password libpq would read is gone) but the same database name; scrubbing
 * keeps the length and overwrites every secret span; a failed parse returns
 * nothing.  The input also goes through the dump option allow-lists
 * (bfs_dump_opt_check), which must answer 0 or -EINVAL.
 * Built by scripts/fuzz (target "conninfo"). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/conninfo.h"
#include "src/source.h"
#include "src/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pg(const char *s)
{
	struct bfs_pg_conninfo c, again;
	struct bfs_err err;
	size_t i, n = strlen(s);
	char *buf;

	if (bfs_pg_conninfo_parse(s, &c, &err) == 0) {
		for (i = 0; i < c.nsecrets; i++)
			if (c.secrets[i].off > n ||
			    c.secrets[i].len > n - c.secrets[i].off)
				abort();
		if (c.safe[0] &&
		    bfs_pg_conninfo_parse(c.safe, &again, &err) == 0) {
			if (again.password || again.sslpassword)
				abort();
			/* the safe form names the same database */
			if (!c.dbname != !again.dbname ||
			    (c.dbname && strcmp(c.dbname, again.dbname)))
				abort();
			bfs_pg_conninfo_clear(&again);
		}
		buf = strdup(s);
		if (buf) {
			bfs_pg_conninfo_scrub(buf);
			if (strlen(buf) != n)
				abort();
			for (i = 0; i < c.nsecrets; i++)
				if (strspn(buf + c.secrets[i].off, "x") <
				    c.secrets[i].len)
					abort();
			free(buf);
		}
		bfs_pg_conninfo_clear(&c);
	} else if (c.safe || c.password || c.sslpassword || c.nsecrets ||
		   c.dbname) {
		abort(); /* out is zeroed on failure */
	}
}

static void check_my(const char *s)
{
	struct bfs_mysql_uri u;
	struct bfs_err err;
	size_t n = strlen(s);
	char *buf;

	if (bfs_mysql_uri_parse(s, &u, &err) == 0) {
		if (u.secret.off > n || u.secret.len > n - u.secret.off)
			abort();
		buf = strdup(s);
		if (buf) {
			bfs_mysql_uri_scrub(buf);
			if (strlen(buf) != n ||
			    strspn(buf + u.secret.off, "x") < u.secret.len)
				abort();
			free(buf);
		}
		bfs_mysql_uri_clear(&u);
	}
}

static void check_opt(const char *s)
{
	struct bfs_err err;
	int a = bfs_dump_opt_check(BFS_SRC_PG_DUMP, s, &err);
	int b = bfs_dump_opt_check(BFS_SRC_MYSQL_DUMP, s, &err);

	if ((a && a != -EINVAL) || (b && b != -EINVAL))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 16);
	size_t i, k = 0;

	if (!s)
		return 0;
	/* a C string: NULs dropped (argv cannot hold them) */
	for (i = 0; i < size; i++)
		if (data[i])
			s[k++] = (char)data[i];
	s[k] = '\0';
	check_pg(s);
	check_my(s);
	check_opt(s);
	memmove(s + 13, s, k + 1);
	memcpy(s, "postgresql://", 13);
	check_pg(s);
	memcpy(s + 5, "mysql://", 8);
	check_my(s + 5);
	free(s);
	return 0;
}
