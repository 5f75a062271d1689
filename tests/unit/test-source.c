/* test-source.c - argument parsing of the sources: PostgreSQL conninfo
 * strings are scrubbed after [NAME=] (the parsers: test-conninfo.c), and
 * the destination paths the sources land at. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"
#include "tap.h"

static void dest(enum bfs_source_kind k, const char *arg, const char *want)
{
	struct bfs_source s = {.kind = k, .arg = arg};
	struct bfs_err err = {{0}};
	char *d = NULL;
	int rc = bfs_source_dest(&s, &d, &err);

	if (want) {
		is_int(rc, 0, "dest of '%s' (%s)", arg, err.msg);
		is_str(d, want, "dest of '%s'", arg);
	} else {
		is_int(rc, -EINVAL, "dest of '%s' is a usage error", arg);
		ok(err.msg[0] != 0, "with a message: %s", err.msg);
	}
	free(d);
}

static void scrub(enum bfs_source_kind k, const char *arg, const char *want)
{
	char *buf = strdup(arg);

	bfs_source_scrub(k, buf);
	is_str(buf, want, "scrubbed '%s'", arg);
	free(buf);
}

static void dump_mode(void)
{
	/* the default mode of dumps is 0600: checked end to end in t0022 */
	struct bfs_source s = {.kind = BFS_SRC_COMMAND, .arg = "x=true"};

	is_int((int)s.dump_mode, 0, "dump_mode 0 means the default");
}

int main(void)
{
	scrub(BFS_SRC_PG_DUMP, "main=postgresql://u:pw@h/db",
	      "main=postgresql://u:xx@h/db");
	scrub(BFS_SRC_PG_DUMP, "dbname=d password=pw", "dbname=d password=xx");
	scrub(BFS_SRC_MYSQL_DUMP, "crm=mysql://u:pw@h/crm",
	      "crm=mysql://u:xx@h/crm");
	scrub(BFS_SRC_FILES, "a=/srv/pw", "a=/srv/pw");
	dump_mode();

	/* destinations */
	dest(BFS_SRC_FILES, "/srv/app", "files");
	dest(BFS_SRC_FILES, "uploads=/srv/app/uploads", "uploads");
	dest(BFS_SRC_FILES, "data/a=/srv", "data/a");
	dest(BFS_SRC_FILES, "/odd=name", "files");
	dest(BFS_SRC_FILES, "x=", NULL);
	dest(BFS_SRC_ARCHIVE, "old=/tmp/a.tar.gz", "old");
	dest(BFS_SRC_COMMAND, "dump/redis.rdb=redis-cli --rdb -",
	     "dump/redis.rdb");
	dest(BFS_SRC_COMMAND, "echo hi", NULL);
	dest(BFS_SRC_COMMAND, "../x=echo", NULL);
	dest(BFS_SRC_STDIN, "in.bin", "in.bin");
	dest(BFS_SRC_STDIN, "/abs", NULL);
	dest(BFS_SRC_PG_DUMP, "postgresql://u:pw@h/app", "database.sql");
	dest(BFS_SRC_PG_DUMP, "app=postgresql://u:pw@h/app?sslmode=x",
	     "app.sql");
	dest(BFS_SRC_PG_DUMP, "dbname=app user=x", "database.sql");
	/* a conninfo starting with any libpq keyword is not NAME=... */
	dest(BFS_SRC_PG_DUMP, "keepalives_idle=5 dbname=app", "database.sql");
	dest(BFS_SRC_PG_DUMP, "tcp_user_timeout=9 host=h", "database.sql");
	dest(BFS_SRC_PG_DUMP, "main=dbname=app", "main.sql");
	dest(BFS_SRC_MYSQL_DUMP, "mysql://u:pw@h/shop", "shop.sql");
	dest(BFS_SRC_MYSQL_DUMP, "crm", "crm.sql");
	dest(BFS_SRC_MYSQL_DUMP, "db/crm=crm", "db/crm.sql");
	dest(BFS_SRC_MYSQL_DUMP, "mysql://u:pw@h/", NULL);
	return tap_done();
}
