/* test-dumpopt.c - the allow-lists of extra pg_dump / mysqldump options
 * (bfs_dump_opt_check): what passes, what is refused and why, values
 * never echoed; where pg_dumpall's globals land. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/source.h"
#include "src/util.h"
#include "tests/unit/tap.h"

static void pass(enum bfs_source_kind k, const char *opt)
{
	struct bfs_err err = {""};
	int rc = bfs_dump_opt_check(k, opt, &err);

	is_int(rc, 0, "%s: %s passes", k == BFS_SRC_PG_DUMP ? "pg" : "my", opt);
	if (rc)
		diag("%s", err.msg);
}

static void refuse(enum bfs_source_kind k, const char *opt, const char *msg)
{
	struct bfs_err err = {""};
	int rc = bfs_dump_opt_check(k, opt, &err);

	is_int(rc, -EINVAL, "%s: %s is refused",
	       k == BFS_SRC_PG_DUMP ? "pg" : "my", opt);
	is_str(err.msg, msg, "  with the message");
}

int main(void)
{
	const enum bfs_source_kind pg = BFS_SRC_PG_DUMP,
				   my = BFS_SRC_MYSQL_DUMP;
	struct bfs_err err = {""};
	char *d = NULL;

	pass(pg, "--no-owner");
	pass(pg, "--exclude-table-data=public.audit_log");
	pass(pg, "--schema=public");
	pass(pg, "--lock-wait-timeout=10s");
	refuse(pg, "-Fc",
	       "--pg-dump-opt: only long options are accepted (--name or "
	       "--name=value, one per --pg-dump-opt)");
	refuse(pg, "--format=custom",
	       "--pg-dump-opt '--format' is refused: backupfs stores the plain "
	       "SQL stream (deduplicated and mountable); other formats are not "
	       "streamable SQL");
	refuse(pg, "--file=/tmp/x",
	       "--pg-dump-opt '--file' is refused: the dump goes to standard "
	       "output, into the backup");
	refuse(pg, "--jobs=4",
	       "--pg-dump-opt '--jobs' is refused: parallel dumps need the "
	       "directory format");
	refuse(pg, "--compress=9",
	       "--pg-dump-opt '--compress' is refused: compressed output "
	       "defeats deduplication; the repository compresses");
	refuse(pg, "--password",
	       "--pg-dump-opt '--password' is refused: secrets never go on a "
	       "command line: use the environment or the env_file");
	refuse(pg, "--host=db",
	       "--pg-dump-opt '--host' is refused: give it in the source's "
	       "connection string");
	refuse(pg, "--frobnicate",
	       "--pg-dump-opt '--frobnicate' is not on the list of pg_dump "
	       "options that are safe with a streamed plain dump (doc/JOBS.md "
	       "lists them)");
	refuse(pg, "--schema",
	       "--pg-dump-opt '--schema' needs a value: --schema=VALUE in one "
	       "argument");
	refuse(pg, "--schema=",
	       "--pg-dump-opt '--schema' needs a value: --schema=VALUE in one "
	       "argument");
	refuse(pg, "--no-owner=yes",
	       "--pg-dump-opt '--no-owner' takes no value");
	refuse(pg, "--role=the-password-is-Zz9",
	       "--pg-dump-opt '--role': contains a password; secrets never go "
	       "on a command line");
	refuse(pg, "--",
	       "--pg-dump-opt: only long options are accepted "
	       "(--name or --name=value, one per --pg-dump-opt)");
	refuse(pg, "--routines",
	       "--pg-dump-opt '--routines' is not on the list of pg_dump "
	       "options that are safe with a streamed plain dump (doc/JOBS.md "
	       "lists them)");

	pass(my, "--compress");
	pass(my, "--skip-dump-date");
	pass(my, "--where=id > 10");
	pass(my, "--default-character-set=utf8mb4");
	refuse(my, "--tab=/tmp",
	       "--mysql-dump-opt '--tab' is refused: writes files on the "
	       "database host instead of SQL on standard output");
	refuse(my, "--result-file=x",
	       "--mysql-dump-opt '--result-file' is refused: the dump goes to "
	       "standard output, into the backup");
	refuse(my, "--all-databases",
	       "--mysql-dump-opt '--all-databases' is refused: one database "
	       "per dump source");
	refuse(my, "--defaults-file=/root/.my.cnf",
	       "--mysql-dump-opt '--defaults-file' is refused: backupfs hands "
	       "the connection to the dump program");
	refuse(
	    my, "--lock-tables",
	    "--mysql-dump-opt '--lock-tables' is refused: conflicts with the "
	    "consistent snapshot backupfs takes (--single-transaction)");
	refuse(my, "--xml",
	       "--mysql-dump-opt '--xml' is refused: the dump "
	       "must stay SQL");
	refuse(my, "-pSecret9",
	       "--mysql-dump-opt: only long options are accepted (--name or "
	       "--name=value, one per --mysql-dump-opt)");
	is_int(bfs_dump_opt_check(BFS_SRC_FILES, "--x", &err), -EINVAL,
	       "a files source takes no dump option");

	ok(!bfs_pg_globals_dest("database.sql", &d) &&
	       !strcmp(d, "globals.sql"),
	   "database.sql -> globals.sql");
	free(d);
	ok(!bfs_pg_globals_dest("other.sql", &d) &&
	       !strcmp(d, "other.globals.sql"),
	   "other.sql -> other.globals.sql");
	free(d);
	ok(!bfs_pg_globals_dest("db/database.sql", &d) &&
	       !strcmp(d, "db/globals.sql"),
	   "db/database.sql -> db/globals.sql");
	free(d);
	return tap_done();
}
