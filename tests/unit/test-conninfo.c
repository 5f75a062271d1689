/* test-conninfo.c - connection strings (conninfo.h): a table of
 * PostgreSQL URIs and key=value strings with what libpq makes of them
 * (the password, the sslpassword, the rest), the refusals where libpq's
 * reading would put part of a password in another field, messages that
 * never show a value, scrubbing in place, and mysql:// URIs. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/conninfo.h"
#include "tap.h"

struct pg_case {
	const char *in;
	const char *safe; /* NULL: refused (-EINVAL) */
	const char *password, *sslpassword;
	const char *scrubbed; /* the input after bfs_pg_conninfo_scrub */
};

static const struct pg_case pg_cases[] = {
    /* libpq's documented URI examples */
    {"postgresql://", "postgresql://", NULL, NULL, "postgresql://"},
    {"postgresql://localhost:5433", "postgresql://localhost:5433", NULL, NULL,
     "postgresql://localhost:5433"},
    {"postgresql://user:secret@localhost", "postgresql://user@localhost",
     "secret", NULL, "postgresql://user:xxxxxx@localhost"},
    {"postgresql://other@localhost/otherdb?connect_timeout=10&"
     "application_name=myapp",
     "postgresql://other@localhost/otherdb?connect_timeout=10&"
     "application_name=myapp",
     NULL, NULL, NULL},
    {"postgresql://host1:123,host2:456/somedb?target_session_attrs=any",
     "postgresql://host1:123,host2:456/somedb?target_session_attrs=any", NULL,
     NULL, NULL},
    {"postgresql:///mydb?host=localhost&port=5433",
     "postgresql:///mydb?host=localhost&port=5433", NULL, NULL, NULL},
    {"postgresql://[2001:db8::1234]/database",
     "postgresql://[2001:db8::1234]/database", NULL, NULL, NULL},
    {"postgresql://%2Fvar%2Flib%2Fpostgresql/dbname",
     "postgresql://%2Fvar%2Flib%2Fpostgresql/dbname", NULL, NULL, NULL},
    /* issue 13: libpq ends the user info at the first '@' before a '/',
     * so '?' and '#' are a password's own */
    {"postgresql://u:pa?ss@h/db", "postgresql://u@h/db", "pa?ss", NULL,
     "postgresql://u:xxxxx@h/db"},
    {"postgresql://u:p#w@h/db", "postgresql://u@h/db", "p#w", NULL,
     "postgresql://u:xxx@h/db"},
    {"postgres://u:a?b#c&d=e@h", "postgres://u@h", "a?b#c&d=e", NULL, NULL},
    {"postgresql://alice:p%40ss%3Aw%2F0rd@db.example:5432/shop?sslmode=require",
     "postgresql://alice@db.example:5432/shop?sslmode=require", "p@ss:w/0rd",
     NULL, NULL},
    {"postgresql://u:x:y@h/db", "postgresql://u@h/db", "x:y", NULL, NULL},
    {"postgresql://:pw@h/db", "postgresql://@h/db", "pw", NULL, NULL},
    {"postgresql://u:@h/db", "postgresql://u@h/db", NULL, NULL, NULL},
    {"postgresql://u:%20lead@h/db", "postgresql://u@h/db", " lead", NULL, NULL},
    {"postgresql://u: pw @h/db", "postgresql://u@h/db", "pw", NULL, NULL},
    {"postgresql://u:%C3%A9t%C3%A9@h/db", "postgresql://u@h/db", "été", NULL,
     NULL},
    {"postgresql://u:pw@[::1]:5432/db", "postgresql://u@[::1]:5432/db", "pw",
     NULL, NULL},
    {"postgresql://u:pw@h1:5432,h2:5433/db",
     "postgresql://u@h1:5432,h2:5433/db", "pw", NULL, NULL},
    /* query parameters: keys decoded, the last value wins */
    {"postgresql://u@h/db?password=s3c", "postgresql://u@h/db", "s3c", NULL,
     "postgresql://u@h/db?password=xxx"},
    {"postgresql://bob:x@h/db?password=s%26cret&application_name=bfs",
     "postgresql://bob@h/db?application_name=bfs", "s&cret", NULL,
     "postgresql://bob:x@h/db?password=xxxxxxxx&application_name=bfs"},
    {"postgresql://u@h/db?sslmode=require&sslpassword=k3y&application_name=a",
     "postgresql://u@h/db?sslmode=require&application_name=a", NULL, "k3y",
     "postgresql://u@h/db?sslmode=require&sslpassword=xxx&application_name=a"},
    {"postgresql://u:one@h/db?password=two", "postgresql://u@h/db", "two", NULL,
     "postgresql://u:xxx@h/db?password=xxx"},
    {"postgresql://u@h/db?pass%77ord=zz", "postgresql://u@h/db", "zz", NULL,
     "postgresql://u@h/db?pass%77ord=xx"},
    {"postgresql:///db?host=%2Fvar%2Frun%2Fpostgresql&password=pw",
     "postgresql:///db?host=%2Fvar%2Frun%2Fpostgresql", "pw", NULL, NULL},
    {"postgresql://u@h/db?ssl=true&sslmode=require",
     "postgresql://u@h/db?ssl=true&sslmode=require", NULL, NULL, NULL},
    {"postgresql://u@h/db?a=1&", NULL, NULL, NULL, NULL}, /* unknown key */
    {"postgresql://u@h/db?sslmode=disable&",
     "postgresql://u@h/db?sslmode=disable", NULL, NULL, NULL},
    {"postgresql://u@h/db?password=", "postgresql://u@h/db", "", NULL, NULL},
    /* refused: libpq would read part of a password as something else */
    {"postgresql://u:p@ss@h/db", NULL, NULL, NULL, "xxxxxxxxxxxxxxxxxxxxxxxx"},
    {"postgresql://u:12/ab@h/db", NULL, NULL, NULL, NULL},
    {"postgresql://u:pa/ss@h/db", NULL, NULL, NULL, NULL},
    {"postgresql://h?password=x@y", NULL, NULL, NULL, NULL},
    {"postgresql://u:p w@h/db", NULL, NULL, NULL, NULL},
    {"postgresql://u:p%zz@h/db", NULL, NULL, NULL, NULL},
    {"postgresql://u:p%00@h/db", NULL, NULL, NULL, NULL},
    {"postgresql://u:p%4@h/db", NULL, NULL, NULL, NULL},
    {"postgresql://u@h/db?password", NULL, NULL, NULL, NULL},
    {"postgresql://u@h/db?password=a=b", NULL, NULL, NULL, NULL},
    {"postgresql://u@h/db?ssl=false", NULL, NULL, NULL, NULL},
    {"postgresql://u@h/db?&sslmode=require", NULL, NULL, NULL, NULL},
    {"postgresql://[::1/db", NULL, NULL, NULL, NULL},
    {"postgresql://[]/db", NULL, NULL, NULL, NULL},
    {"postgresql://[::1]x/db", NULL, NULL, NULL, NULL},
    {" postgresql://u:pw@h/db", NULL, NULL, NULL, NULL},
    {"POSTGRESQL://u:pw@h/db", NULL, NULL, NULL, NULL},
    /* key = value, as libpq's conninfo_parse */
    {"host=localhost port=5432 dbname=mydb connect_timeout=10",
     "host='localhost' port='5432' dbname='mydb' connect_timeout='10'", NULL,
     NULL, NULL},
    {"host=localhost dbname='my db' password='se\\'cr et' user=bob",
     "host='localhost' dbname='my db' user='bob'", "se'cr et", NULL,
     "host=localhost dbname='my db' password=xxxxxxxxxxx user=bob"},
    {"dbname=app password=plain", "dbname='app'", "plain", NULL,
     "dbname=app password=xxxxx"},
    {"host = h port=5433", "host='h' port='5433'", NULL, NULL, NULL},
    {"password = 'a b' dbname=d", "dbname='d'", "a b", NULL,
     "password = xxxxx dbname=d"},
    {"password=a\\ b", "", "a b", NULL, NULL},
    {"password=abc\\", "", "abc", NULL, NULL},
    {"password=se'cret", "", "se'cret", NULL, NULL},
    {"password=#x?y@z dbname=d", "dbname='d'", "#x?y@z", NULL, NULL},
    {"password=", "", "", NULL, NULL},
    {"password='' dbname=d", "dbname='d'", "", NULL, NULL},
    {"  password=q  ", "", "q", NULL, "  password=x  "},
    {"password=one password=two", "", "two", NULL, "password=xxx password=xxx"},
    {"sslpassword=k dbname=d sslkey=/k.pem", "dbname='d' sslkey='/k.pem'", NULL,
     "k",
     "sslpassword=x dbname=d "
     "sslkey=/k.pem"},
    {"password='\\\\\\'' host=h", "host='h'", "\\'", NULL, NULL},
    {"dbname='it''s'", NULL, NULL, NULL, NULL}, /* "s'" after the value */
    {"dbname=a\\'b", "dbname='a\\'b'", NULL, NULL, NULL},
    {"host=h sslrootcert=/r.crt target_session_attrs=any "
     "load_balance_hosts=random",
     "host='h' sslrootcert='/r.crt' target_session_attrs='any' "
     "load_balance_hosts='random'",
     NULL, NULL, NULL},
    {"keepalives_idle=5 dbname=app", "keepalives_idle='5' dbname='app'", NULL,
     NULL, NULL},
    /* refused key=value strings */
    {"host='unterminated password=x", NULL, NULL, NULL, NULL},
    {"password='x\\", NULL, NULL, NULL, NULL},
    {"dbname=d password", NULL, NULL, NULL, NULL},
    {"=x", NULL, NULL, NULL, NULL},
    {"host=h pasword=Sekr1t dbname=d", NULL, NULL, NULL, NULL},
    /* a database name */
    {"mydb", "mydb", NULL, NULL, "mydb"},
    {"my db", "my db", NULL, NULL, NULL},
};

static void pg_case(const struct pg_case *c)
{
	struct bfs_pg_conninfo ci;
	struct bfs_err err = {{0}};
	char *buf;
	size_t i;
	int rc = bfs_pg_conninfo_parse(c->in, &ci, &err);

	if (!c->safe) {
		is_int(rc, -EINVAL, "refused: '%s' (%s)", c->in, err.msg);
		ok(!ci.safe && !ci.password && !ci.sslpassword && !ci.nsecrets,
		   "nothing returned for '%s'", c->in);
	} else {
		is_int(rc, 0, "parsed: '%s' (%s)", c->in, err.msg);
		is_str(ci.safe, c->safe, "safe form of '%s'", c->in);
		if (c->password)
			is_str(ci.password, c->password, "password of '%s'",
			       c->in);
		else
			ok(!ci.password, "no password in '%s'", c->in);
		if (c->sslpassword)
			is_str(ci.sslpassword, c->sslpassword,
			       "sslpassword of '%s'", c->in);
		else
			ok(!ci.sslpassword, "no sslpassword in '%s'", c->in);
		for (i = 0; i < ci.nsecrets; i++)
			ok(ci.secrets[i].off + ci.secrets[i].len <=
			       strlen(c->in),
			   "secret %zu of '%s' is inside the input", i, c->in);
		/* the safe form means the same to libpq, without secrets */
		if (ci.safe && (c->password || c->sslpassword)) {
			struct bfs_pg_conninfo again;

			is_int(bfs_pg_conninfo_parse(ci.safe, &again, &err),
			       ci.safe[0] ? 0 : -EINVAL,
			       "the safe form of '%s' parses", c->in);
			ok(!again.password && !again.sslpassword,
			   "and holds no secret");
			bfs_pg_conninfo_clear(&again);
		}
	}
	/* a value is never in a message */
	if (rc && c->password)
		ok(!strstr(err.msg, c->password), "message without value");
	bfs_pg_conninfo_clear(&ci);
	ok(!ci.safe && !ci.password && !ci.nsecrets, "clear zeroes");

	buf = strdup(c->in);
	bfs_pg_conninfo_scrub(buf);
	if (c->scrubbed)
		is_str(buf, c->scrubbed, "scrubbed '%s'", c->in);
	if (c->password && c->password[0])
		ok(!strstr(buf, c->password), "no password left in '%s'", buf);
	if (!c->safe)
		ok(strspn(buf, "x") == strlen(buf),
		   "a refused string is scrubbed whole: '%s'", buf);
	free(buf);
}

static void pg_messages(void)
{
	struct bfs_pg_conninfo ci;
	struct bfs_err err = {{0}};
	int rc;

	rc = bfs_pg_conninfo_parse("host=h pasword=Sekr1t dbname=d", &ci, &err);
	is_int(rc, -EINVAL, "unknown key=value keyword rejected");
	ok(strstr(err.msg, "'pasword'") && strstr(err.msg, "'password'") &&
	       !strstr(err.msg, "Sekr1t"),
	   "names the key and a near keyword, not the value: %s", err.msg);
	rc = bfs_pg_conninfo_parse("postgresql://u@h/db?pasword=Sekr1t", &ci,
				   &err);
	is_int(rc, -EINVAL, "unknown URI query parameter rejected");
	ok(strstr(err.msg, "'pasword'") && !strstr(err.msg, "Sekr1t"),
	   "URI: names the key, not the value: %s", err.msg);
	rc = bfs_pg_conninfo_parse("host=h xq\001z=1", &ci, &err);
	ok(rc == -EINVAL && !strchr(err.msg, '\001') && !strstr(err.msg, "xq"),
	   "a key that is no word is not shown: %s", err.msg);
	rc = bfs_pg_conninfo_parse(" postgresql://u:Sekr1t@h/db?sslmode=x", &ci,
				   &err);
	ok(rc == -EINVAL && !strstr(err.msg, "Sekr1t"),
	   "a URI read as key=value does not show its key: %s", err.msg);
	rc = bfs_pg_conninfo_parse("dbname=d password Sekr1t", &ci, &err);
	ok(rc == -EINVAL && !strstr(err.msg, "Sekr1t") &&
	       !strstr(err.msg, "password"),
	   "a word without '=' is not shown: %s", err.msg);
	rc = bfs_pg_conninfo_parse("postgresql://u:p@Sekr1t@h/db", &ci, &err);
	ok(rc == -EINVAL && !strstr(err.msg, "Sekr1t") &&
	       strstr(err.msg, "%40"),
	   "a raw '@': the hint, not the value: %s", err.msg);
	rc = bfs_pg_conninfo_parse("postgresql://u:12/Sekr1t@h/db", &ci, &err);
	ok(rc == -EINVAL && !strstr(err.msg, "Sekr1t") &&
	       !strstr(err.msg, "12"),
	   "a password read as a port is not shown: %s", err.msg);
	rc = bfs_pg_conninfo_parse("postgresql://u:Sek%zzr1t@h/db", &ci, &err);
	ok(rc == -EINVAL && !strstr(err.msg, "Sek"),
	   "a bad escape is not shown: %s", err.msg);
}

static void my_cases(void)
{
	struct bfs_mysql_uri u;
	struct bfs_err err = {{0}};
	char buf[128];
	int rc;

	rc = bfs_mysql_uri_parse("mysql://root:p%40ss%25w@db.example:3307/shop",
				 &u, &err);
	is_int(rc, 0, "mysql uri parsed (%s)", err.msg);
	is_str(u.user, "root", "mysql user");
	is_str(u.password, "p@ss%w", "mysql password percent-decoded");
	is_str(u.host, "db.example", "mysql host");
	is_int(u.port, 3307, "mysql port");
	is_str(u.db, "shop", "mysql db");
	ok(u.socket == NULL, "no socket");
	ok(u.secret.off == 13 && u.secret.len == 10, "password span");
	bfs_mysql_uri_clear(&u);

	rc = bfs_mysql_uri_parse("mariadb://u:p#w%3F%2F%3A@h/db", &u, &err);
	is_int(rc, 0, "mariadb:// with '#' (%s)", err.msg);
	is_str(u.password, "p#w?/:", "'#' is the password's own");
	bfs_mysql_uri_clear(&u);

	rc = bfs_mysql_uri_parse("mysql://app@localhost/"
				 "my%20db?socket=%2Frun%2Fmysqld%2Fmysqld.sock",
				 &u, &err);
	is_int(rc, 0, "mysql uri with socket (%s)", err.msg);
	is_str(u.user, "app", "user without password");
	ok(u.password == NULL && u.secret.len == 0, "no password");
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
	rc = bfs_mysql_uri_parse("mysql://u:pa?Sekr1t@h/db", &u, &err);
	ok(rc == -EINVAL && !strstr(err.msg, "Sekr1t") &&
	       strstr(err.msg, "%3F"),
	   "raw '?' in a password: refused with the hint: %s", err.msg);
	rc = bfs_mysql_uri_parse("mysql://u:12/Sekr1t@h/db", &u, &err);
	ok(rc == -EINVAL && !strstr(err.msg, "Sekr1t"),
	   "raw '/' in a password: refused: %s", err.msg);
	rc = bfs_mysql_uri_parse("mysql://u:%zzSekr1t@h/db", &u, &err);
	ok(rc == -EINVAL && !strstr(err.msg, "Sekr1t"),
	   "bad escape: refused: %s", err.msg);
	rc = bfs_mysql_uri_parse("mysql:/u:Sekr1t@h/db", &u, &err);
	ok(rc == -EINVAL && !strstr(err.msg, "Sekr1t"),
	   "a mistyped URI is not shown as a database name: %s", err.msg);
	rc = bfs_mysql_uri_parse("mysql://u@h/db?pasword=Sekr1t", &u, &err);
	is_int(rc, -EINVAL, "mysql: unknown query parameter rejected");
	ok(strstr(err.msg, "'pasword'") && !strstr(err.msg, "Sekr1t"),
	   "mysql: names the key, not the value: %s", err.msg);

	strcpy(buf, "mysql://root:pa%3Fss@h:3306/db");
	is_int((int)bfs_mysql_uri_scrub(buf), 7, "mysql scrub: 7 bytes");
	is_str(buf, "mysql://root:xxxxxxx@h:3306/db", "mysql scrubbed");
	strcpy(buf, "mysql://root:pa?ss@h/db");
	bfs_mysql_uri_scrub(buf);
	is_str(buf, "xxxxxxxxxxxxxxxxxxxxxxx", "a refused mysql URI: whole");
	strcpy(buf, "shop");
	is_int((int)bfs_mysql_uri_scrub(buf), 0, "a name: nothing to scrub");
}

/* The database name libpq would connect to, as given. */
static void pg_dbnames(void)
{
	static const struct {
		const char *in, *db;
	} c[] = {
	    {"postgresql://u:pw@h:5432/my%20db?sslmode=require", "my db"},
	    {"postgresql://h", NULL},
	    {"postgresql://h/", NULL},
	    {"host=h dbname=first dbname='sec ond'", "sec ond"},
	    {"appdb", "appdb"},
	};
	struct bfs_pg_conninfo ci;
	struct bfs_err err = {""};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (bfs_pg_conninfo_parse(c[i].in, &ci, &err)) {
			ok(0, "dbname of case %zu: %s", i, err.msg);
			continue;
		}
		if (c[i].db)
			is_str(ci.dbname, c[i].db, "dbname of case %zu", i);
		else
			ok(ci.dbname == NULL, "no dbname in case %zu", i);
		bfs_pg_conninfo_clear(&ci);
	}
}

int main(void)
{
	size_t i;

	pg_dbnames();

	for (i = 0; i < sizeof(pg_cases) / sizeof(pg_cases[0]); i++)
		pg_case(&pg_cases[i]);
	pg_messages();
	my_cases();
	return tap_done();
}
