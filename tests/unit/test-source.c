/* test-source.c - argument parsing of the sources: PostgreSQL conninfo
 * splitting (no password left in the safe string), MySQL URIs, and the
 * destination paths the sources land at. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"
#include "tap.h"

static void pg(const char *in, const char *want_safe, const char *want_pw)
{
	struct bfs_err err = {{0}};
	char *safe = NULL, *pw = NULL;
	int rc = bfs_pg_conninfo_split(in, &safe, &pw, &err);

	is_int(rc, 0, "pg split '%s' (%s)", in, err.msg);
	is_str(safe, want_safe, "safe conninfo of '%s'", in);
	if (want_pw)
		is_str(pw, want_pw, "password of '%s'", in);
	else
		ok(pw == NULL, "no password in '%s'", in);
	if (want_pw && safe)
		ok(!strstr(safe, "password") && !strstr(safe, want_pw),
		   "password removed from '%s'", safe);
	free(safe);
	free(pw);
}

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

int main(void)
{
	struct bfs_mysql_uri u;
	struct bfs_err err = {{0}};
	char *safe = NULL, *pw = NULL;
	int rc;

	/* URIs */
	pg("postgresql://alice:p%40ss%3Aw%2F0rd@db.example:5432/"
	   "shop?sslmode=require",
	   "postgresql://alice@db.example:5432/shop?sslmode=require",
	   "p@ss:w/0rd");
	pg("postgres://db.example/shop", "postgres://db.example/shop", NULL);
	pg("postgresql://bob@h/db", "postgresql://bob@h/db", NULL);
	pg("postgresql://bob:x@h/db?password=s%26cret&application_name=bfs",
	   "postgresql://bob@h/db?application_name=bfs", "s&cret");
	pg("postgresql:///db?host=%2Fvar%2Frun%2Fpostgresql&password=pw",
	   "postgresql:///db?host=%2Fvar%2Frun%2Fpostgresql", "pw");
	pg("postgresql://u:a@b@h/db", "postgresql://u@h/db", "a@b");
	/* key=value */
	pg("host=localhost dbname='my db' password='se\\'cr et' user=bob",
	   "host='localhost' dbname='my db' user='bob'", "se'cr et");
	pg("dbname=app password=plain", "dbname='app'", "plain");
	pg("host = h port=5433", "host='h' port='5433'", NULL);
	/* plain database name */
	pg("mydb", "mydb", NULL);

	rc = bfs_pg_conninfo_split("host='unterminated password=x", &safe, &pw,
				   &err);
	is_int(rc, -EINVAL, "unterminated quote rejected");
	ok(!safe && !pw, "nothing returned on error");
	rc = bfs_pg_conninfo_split("postgresql://u:%zz@h/db", &safe, &pw, &err);
	is_int(rc, -EINVAL, "bad percent escape rejected");
	ok(!strstr(err.msg, "%zz"), "message does not echo the password");
	/* a misspelt key: refused, named, its value never shown */
	rc = bfs_pg_conninfo_split("host=h pasword=Sekr1t dbname=d", &safe, &pw,
				   &err);
	is_int(rc, -EINVAL, "unknown key=value keyword rejected");
	ok(strstr(err.msg, "'pasword'") && strstr(err.msg, "'password'") &&
	       !strstr(err.msg, "Sekr1t"),
	   "names the key and a near keyword, not the value: %s", err.msg);
	ok(!safe && !pw, "nothing returned");
	rc = bfs_pg_conninfo_split("postgresql://u@h/db?pasword=Sekr1t", &safe,
				   &pw, &err);
	is_int(rc, -EINVAL, "unknown URI query parameter rejected");
	ok(strstr(err.msg, "'pasword'") && !strstr(err.msg, "Sekr1t"),
	   "URI: names the key, not the value: %s", err.msg);
	rc = bfs_pg_conninfo_split("host=h xq\001z=1", &safe, &pw, &err);
	ok(rc == -EINVAL && !strchr(err.msg, '\001'),
	   "a control byte in the key is not printed");
	pg("postgresql://u@h/db?sslmode=require&ssl=true&application_name=x",
	   "postgresql://u@h/db?sslmode=require&ssl=true&application_name=x",
	   NULL);
	pg("host=h sslrootcert=/r.crt target_session_attrs=any "
	   "load_balance_hosts=random",
	   "host='h' sslrootcert='/r.crt' target_session_attrs='any' "
	   "load_balance_hosts='random'",
	   NULL);

	/* MySQL */
	rc = bfs_mysql_uri_parse("mysql://root:p%40ss%25w@db.example:3307/shop",
				 &u, &err);
	is_int(rc, 0, "mysql uri parsed (%s)", err.msg);
	is_str(u.user, "root", "mysql user");
	is_str(u.password, "p@ss%w", "mysql password percent-decoded");
	is_str(u.host, "db.example", "mysql host");
	is_int(u.port, 3307, "mysql port");
	is_str(u.db, "shop", "mysql db");
	ok(u.socket == NULL, "no socket");
	bfs_mysql_uri_clear(&u);

	rc = bfs_mysql_uri_parse("mysql://app@localhost/"
				 "my%20db?socket=%2Frun%2Fmysqld%2Fmysqld.sock",
				 &u, &err);
	is_int(rc, 0, "mysql uri with socket (%s)", err.msg);
	is_str(u.user, "app", "user without password");
	ok(u.password == NULL, "no password");
	is_str(u.db, "my db", "db percent-decoded");
	is_str(u.socket, "/run/mysqld/mysqld.sock", "socket decoded");
	is_int(u.port, 0, "no port");
	bfs_mysql_uri_clear(&u);

	rc = bfs_mysql_uri_parse("mysql://[::1]:3306/x", &u, &err);
	is_int(rc, 0, "ipv6 host");
	is_str(u.host, "::1", "ipv6 host text");
	is_int(u.port, 3306, "ipv6 port");
	bfs_mysql_uri_clear(&u);

	rc = bfs_mysql_uri_parse("shop_2", &u, &err);
	is_int(rc, 0, "bare database name");
	is_str(u.db, "shop_2", "bare db");
	ok(!u.user && !u.host && !u.password, "bare: no other fields");
	bfs_mysql_uri_clear(&u);

	rc = bfs_mysql_uri_parse("mysql://u:secret@h/", &u, &err);
	is_int(rc, -EINVAL, "uri without database rejected");
	ok(!strstr(err.msg, "secret"), "message does not echo the password");
	rc = bfs_mysql_uri_parse("mysql://h:99999/db", &u, &err);
	is_int(rc, -EINVAL, "bad port rejected");
	rc = bfs_mysql_uri_parse("mysql://u@h/db?pasword=Sekr1t", &u, &err);
	is_int(rc, -EINVAL, "mysql: unknown query parameter rejected");
	ok(strstr(err.msg, "'pasword'") && !strstr(err.msg, "Sekr1t"),
	   "mysql: names the key, not the value: %s", err.msg);

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
