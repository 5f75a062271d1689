/* source_pgdump.c - --pg-dump [NAME=]CONNINFO: pg_dump's output as
 * NAME.sql (default database.sql).
 *
 * Secrets (conninfo.h): the connection string is parsed as libpq parses
 * it; pg_dump gets it without its secrets, and they reach pg_dump only
 * through its environment: the password as PGPASSWORD, an sslpassword
 * (libpq reads it from no variable) in a service file on a memfd,
 * PGSERVICEFILE=/dev/fd/N PGSERVICE=backupfs.  Nothing is written to
 * disk, and nothing secret is on a command line, in a message or in the
 * backup.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conninfo.h"
#include "source_int.h"

static int pg_dest(const struct bfs_source *s, char **dest, struct bfs_err *err)
{
	struct bfs_pg_conninfo ci;
	const char *rest;
	char *name = NULL;
	int rc;

	src_dump_name(s->arg, &name, &rest);
	if (!*rest) {
		rc = bfs_err_set(err, -EINVAL,
				 "--pg-dump needs a connection string");
	} else {
		/* the connection string is checked before anything runs */
		rc = bfs_pg_conninfo_parse(rest, &ci, err);
		if (!rc && ci.sslpassword && ci.service)
			rc = bfs_err_set(
			    err, -EINVAL,
			    "sslpassword cannot be combined with service= "
			    "(backupfs hands sslpassword to pg_dump in a "
			    "service of its own): put it in your service's "
			    "section of the service file");
		bfs_pg_conninfo_clear(&ci);
		if (!rc)
			rc = src_sql_dest(name ? name : "database", dest, err);
	}
	free(name);
	return rc;
}

/* A service file holding sslpassword, on a memfd (*fd).  libpq's service
 * file reader drops trailing white space and reads no escapes. */
static int ssl_service(const char *sslpw, int *fd, struct bfs_err *err)
{
	struct bfs_buf f = {0};
	size_t n = strlen(sslpw);
	int rc;

	if (strchr(sslpw, '\n') || strchr(sslpw, '\r') ||
	    (n && (sslpw[n - 1] == ' ' || sslpw[n - 1] == '\t' ||
		   sslpw[n - 1] == '\v' || sslpw[n - 1] == '\f')))
		return bfs_err_set(err, -EINVAL,
				   "an sslpassword with a line break or "
				   "trailing white space cannot be handed to "
				   "pg_dump (libpq's service file drops them)");
	if (bfs_buf_printf(&f, "[backupfs]\nsslpassword=%s\n", sslpw))
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	else
		rc = src_secret_fd("backupfs-pg-service", f.data, f.len, fd,
				   err);
	if (f.data)
		explicit_bzero(f.data, f.cap);
	bfs_buf_free(&f);
	return rc;
}

/* pg_dump's arguments: the connection, the tables of ignore_table_data
 * that are in dbname (DB.PATTERN), the extra options. */
static int pg_argv(const struct bfs_source *s, const struct bfs_pg_conninfo *ci,
		   struct src_argv *a)
{
	const char *const *t;
	size_t l;
	int rc;

	rc = src_argv_add(a, (char *)"pg_dump", false);
	rc = rc ? rc : src_argv_add(a, (char *)"--no-password", false);
	rc = rc ? rc : src_argv_addf(a, "--dbname=%s", ci->safe);
	for (t = s->ignore_table_data; !rc && t && *t; t++) {
		l = ci->dbname ? strlen(ci->dbname) : 0;
		if (l && !strncmp(*t, ci->dbname, l) && (*t)[l] == '.')
			rc = src_argv_addf(a, "--exclude-table-data=%s",
					   *t + l + 1);
	}
	for (t = s->dump_opts; !rc && t && *t; t++)
		rc = src_argv_add(a, (char *)*t, false);
	return rc;
}

static int run_pg(struct bfs_backup *b, const struct bfs_source *s,
		  struct bfs_err *err)
{
	struct bfs_pg_conninfo ci;
	struct src_argv pa = {0}, ga = {0};
	struct src_child child;
	char *dest = NULL, *name = NULL, *desc = NULL, *gdest = NULL;
	char *svcfile = NULL, **env = NULL;
	const char *names[3], *values[3], *rest;
	const char *const *o;
	size_t nenv = 0;
	int rc, sfd = -1;

	memset(&ci, 0, sizeof(ci));
	rc = pg_dest(s, &dest, err);
	if (rc)
		return rc;
	src_dump_name(s->arg, &name, &rest);
	rc = bfs_pg_conninfo_parse(rest, &ci, err);
	if (rc)
		goto out;
	for (o = s->dump_opts; o && *o; o++) {
		rc = bfs_dump_opt_check(BFS_SRC_PG_DUMP, *o, err);
		if (rc)
			goto out;
	}
	rc = src_add(b, "pg-dump", dest, ci.safe, err);
	if (rc)
		goto out;
	if (asprintf(&desc, "pg_dump of '%s'", ci.safe) < 0) {
		desc = NULL;
		goto nomem;
	}
	if (ci.password) {
		names[nenv] = "PGPASSWORD";
		values[nenv++] = ci.password;
	}
	if (ci.sslpassword) {
		rc = ssl_service(ci.sslpassword, &sfd, err);
		if (rc)
			goto out;
		if (asprintf(&svcfile, "/dev/fd/%d", SRC_CHILD_FD(sfd)) < 0)
			goto nomem;
		names[nenv] = "PGSERVICEFILE";
		values[nenv++] = svcfile;
		names[nenv] = "PGSERVICE";
		values[nenv++] = "backupfs";
	}
	if (nenv && !(env = src_env_with(names, values, nenv)))
		goto nomem;
	if (pg_argv(s, &ci, &pa))
		goto nomem;
	child.argv = pa.v;
	child.envp = env;
	child.keep_fd = sfd;
	rc = src_run_children(b, dest, &child, 1, s->dump_mode, s->dump_timeout,
			      desc, err);
	if (rc || s->pg_globals == BFS_PG_GLOBALS_NONE)
		goto out;
	/* roles and tablespaces: pg_dumpall ignores the database name */
	free(desc);
	if (asprintf(&desc, "pg_dumpall --globals-only of '%s'", ci.safe) < 0) {
		desc = NULL;
		goto nomem;
	}
	if (bfs_pg_globals_dest(dest, &gdest) ||
	    src_argv_add(&ga, (char *)"pg_dumpall", false) ||
	    src_argv_add(&ga, (char *)"--globals-only", false) ||
	    src_argv_add(&ga, (char *)"--no-password", false) ||
	    (s->pg_globals != BFS_PG_GLOBALS_PASSWORDS &&
	     src_argv_add(&ga, (char *)"--no-role-passwords", false)) ||
	    src_argv_addf(&ga, "--dbname=%s", ci.safe))
		goto nomem;
	child.argv = ga.v;
	rc = src_run_children(b, gdest, &child, 1, s->dump_mode,
			      s->dump_timeout, desc, err);
	goto out;
nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out:
	if (sfd >= 0)
		close(sfd);
	src_env_free(env, nenv);
	bfs_pg_conninfo_clear(&ci);
	src_argv_free(&pa);
	src_argv_free(&ga);
	free(svcfile);
	free(gdest);
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
