/* source_dumpopt.c - the allow-lists of extra pg_dump and mysqldump
 * options (--pg-dump-opt, --mysql-dump-opt, job "dump_opts").
 *
 * backupfs streams a dump's standard output into the backup as one plain
 * SQL file of one database, and hands the connection and its secrets to
 * the dump program itself (conninfo.h).  An extra option may change what
 * is dumped and how the SQL is written, but nothing that breaks those
 * promises: another output format or file, parallel jobs (need a
 * directory), compression (defeats deduplication), other databases, a
 * connection or a password on a command line.  Options are long ones,
 * one argument each: "--name" or "--name=value".
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source_int.h"

enum { NOARG, ARG };

struct opt {
	const char *name; /* without "--" */
	int arg;
};

/* pg_dump 15 options that keep a plain SQL stream of one database. */
static const struct opt pg_allowed[] = {
    {"data-only", NOARG},
    {"schema-only", NOARG},
    {"clean", NOARG},
    {"if-exists", NOARG},
    {"create", NOARG},
    {"encoding", ARG},
    {"schema", ARG},
    {"exclude-schema", ARG},
    {"table", ARG},
    {"exclude-table", ARG},
    {"exclude-table-data", ARG},
    {"extension", ARG},
    {"no-owner", NOARG},
    {"no-privileges", NOARG},
    {"no-acl", NOARG},
    {"no-comments", NOARG},
    {"no-publications", NOARG},
    {"no-subscriptions", NOARG},
    {"no-security-labels", NOARG},
    {"no-tablespaces", NOARG},
    {"no-table-access-method", NOARG},
    {"no-toast-compression", NOARG},
    {"no-unlogged-table-data", NOARG},
    {"no-blobs", NOARG},
    {"blobs", NOARG},
    {"large-objects", NOARG},
    {"no-large-objects", NOARG},
    {"inserts", NOARG},
    {"column-inserts", NOARG},
    {"rows-per-insert", ARG},
    {"on-conflict-do-nothing", NOARG},
    {"quote-all-identifiers", NOARG},
    {"disable-triggers", NOARG},
    {"disable-dollar-quoting", NOARG},
    {"enable-row-security", NOARG},
    {"load-via-partition-root", NOARG},
    {"include-foreign-data", ARG},
    {"section", ARG},
    {"strict-names", NOARG},
    {"lock-wait-timeout", ARG},
    {"serializable-deferrable", NOARG},
    {"snapshot", ARG},
    {"superuser", ARG},
    {"use-set-session-authorization", NOARG},
    {"role", ARG},
    {"verbose", NOARG},
};

/* mysqldump / mariadb-dump options that keep a plain SQL stream of the
 * one database on standard output. */
static const struct opt my_allowed[] = {
    {"add-drop-table", NOARG},
    {"skip-add-drop-table", NOARG},
    {"add-drop-trigger", NOARG},
    {"add-locks", NOARG},
    {"skip-add-locks", NOARG},
    {"complete-insert", NOARG},
    {"compact", NOARG},
    {"comments", NOARG},
    {"skip-comments", NOARG},
    {"create-options", NOARG},
    {"skip-create-options", NOARG},
    {"default-character-set", ARG},
    {"extended-insert", NOARG},
    {"skip-extended-insert", NOARG},
    {"insert-ignore", NOARG},
    {"replace", NOARG},
    {"no-create-info", NOARG},
    {"no-data", NOARG},
    {"no-tablespaces", NOARG},
    {"order-by-primary", NOARG},
    {"quick", NOARG},
    {"quote-names", NOARG},
    {"skip-quote-names", NOARG},
    {"routines", NOARG},
    {"skip-routines", NOARG},
    {"triggers", NOARG},
    {"skip-triggers", NOARG},
    {"events", NOARG},
    {"skip-events", NOARG},
    {"set-charset", NOARG},
    {"skip-set-charset", NOARG},
    {"tz-utc", NOARG},
    {"skip-tz-utc", NOARG},
    {"dump-date", NOARG},
    {"skip-dump-date", NOARG},
    {"disable-keys", NOARG},
    {"skip-disable-keys", NOARG},
    {"where", ARG},
    {"ignore-table", ARG},
    {"max-allowed-packet", ARG},
    {"net-buffer-length", ARG},
    {"compress", NOARG}, /* the client-server protocol, not the output */
    {"column-statistics", ARG},
    {"set-gtid-purged", ARG},
    {"hex-blob", NOARG},
    {"verbose", NOARG},
};

/* Refused with a reason (both programs). */
static const struct {
	const char *name;
	const char *why;
} refused[] = {
    {"format", "backupfs stores the plain SQL stream (deduplicated and "
	       "mountable); other formats are not streamable SQL"},
    {"file", "the dump goes to standard output, into the backup"},
    {"result-file", "the dump goes to standard output, into the backup"},
    {"tab", "writes files on the database host instead of SQL on "
	    "standard output"},
    {"xml", "the dump must stay SQL"},
    {"jobs", "parallel dumps need the directory format"},
    {"compress", "compressed output defeats deduplication; the repository "
		 "compresses"},
    {"password", "secrets never go on a command line: use the environment "
		 "or the env_file"},
    {"no-password", "set by backupfs"},
    {"dbname", "give the database in the source's connection string"},
    {"host", "give it in the source's connection string"},
    {"port", "give it in the source's connection string"},
    {"username", "give it in the source's connection string"},
    {"user", "give it in the source's connection string"},
    {"socket", "give it in the source's connection string"},
    {"protocol", "give it in the source's connection string"},
    {"defaults-file", "backupfs hands the connection to the dump program"},
    {"defaults-extra-file",
     "backupfs hands the connection to the dump program"},
    {"no-defaults", "backupfs hands the connection to the dump program"},
    {"login-path", "backupfs hands the connection to the dump program"},
    {"databases", "one database per dump source"},
    {"all-databases", "one database per dump source"},
    {"single-transaction", "set by backupfs"},
    {"lock-all-tables", "conflicts with the consistent snapshot backupfs "
			"takes (--single-transaction)"},
    {"lock-tables", "conflicts with the consistent snapshot backupfs "
		    "takes (--single-transaction)"},
    {"log-error", "writes a file"},
    {"debug", "writes a trace file"},
    {"help", "not a dump"},
    {"version", "not a dump"},
};

static const struct opt *find(const struct opt *t, size_t n, const char *name,
			      size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(t[i].name) == len && !strncmp(t[i].name, name, len))
			return &t[i];
	return NULL;
}

int bfs_dump_opt_check(enum bfs_source_kind kind, const char *opt,
		       struct bfs_err *err)
{
	const char *flag =
	    kind == BFS_SRC_PG_DUMP ? "--pg-dump-opt" : "--mysql-dump-opt";
	const char *prog = kind == BFS_SRC_PG_DUMP ? "pg_dump" : "mysqldump";
	const struct opt *o;
	const char *name, *eq;
	size_t len, i;

	if (kind != BFS_SRC_PG_DUMP && kind != BFS_SRC_MYSQL_DUMP)
		return bfs_err_set(err, -EINVAL,
				   "dump options go with pg_dump and "
				   "mysql_dump sources only");
	if (strncmp(opt, "--", 2) || !opt[2] || opt[2] == '=') {
		/* no value in the message: "-pSECRET" must not be echoed */
		return bfs_err_set(err, -EINVAL,
				   "%s: only long options are accepted "
				   "(--name or --name=value, one per %s)",
				   flag, flag);
	}
	name = opt + 2;
	eq = strchr(name, '=');
	len = eq ? (size_t)(eq - name) : strlen(name);
	for (i = 0; i < BFS_ARRAY_SIZE(refused); i++) {
		if (strlen(refused[i].name) != len ||
		    strncmp(refused[i].name, name, len))
			continue;
		/* mysqldump's --compress is the wire protocol's */
		if (kind == BFS_SRC_MYSQL_DUMP && !eq &&
		    !strcmp(refused[i].name, "compress"))
			break;
		return bfs_err_set(err, -EINVAL, "%s '--%.*s' is refused: %s",
				   flag, (int)len, name, refused[i].why);
	}
	if (strcasestr(opt, "password") || strcasestr(opt, "passwd"))
		return bfs_err_set(err, -EINVAL,
				   "%s '--%.*s': contains a password; secrets "
				   "never go on a command line",
				   flag, (int)len, name);
	if (kind == BFS_SRC_PG_DUMP)
		o = find(pg_allowed, BFS_ARRAY_SIZE(pg_allowed), name, len);
	else
		o = find(my_allowed, BFS_ARRAY_SIZE(my_allowed), name, len);
	if (!o)
		return bfs_err_set(err, -EINVAL,
				   "%s '--%.*s' is not on the list of %s "
				   "options that are safe with a streamed "
				   "plain dump (doc/JOBS.md lists them)",
				   flag, (int)len, name, prog);
	if (o->arg == ARG && (!eq || !eq[1]))
		return bfs_err_set(err, -EINVAL,
				   "%s '--%.*s' needs a value: --%.*s=VALUE "
				   "in one argument",
				   flag, (int)len, name, (int)len, name);
	if (o->arg == NOARG && eq)
		return bfs_err_set(err, -EINVAL, "%s '--%.*s' takes no value",
				   flag, (int)len, name);
	return 0;
}

int bfs_pg_globals_dest(const char *dest, char **out)
{
	size_t n = strlen(dest);
	const char *slash = strrchr(dest, '/');
	const char *base = slash ? slash + 1 : dest;

	if (!strcmp(base, "database.sql"))
		return asprintf(out, "%.*sglobals.sql", (int)(base - dest),
				dest) < 0
			   ? -ENOMEM
			   : 0;
	if (n > 4 && !strcmp(dest + n - 4, ".sql"))
		n -= 4;
	return asprintf(out, "%.*s.globals.sql", (int)n, dest) < 0 ? -ENOMEM
								   : 0;
}
