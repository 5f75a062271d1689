/* source_mysqldump.c - --mysql-dump [NAME=]URI|DATABASE: mysqldump's (or
 * mariadb-dump's) output as NAME.sql (default DATABASE.sql).
 *
 * Secrets: the credentials go to an option file on a memfd, handed to
 * mysqldump as --defaults-extra-file=/dev/fd/N (its first option).  Only
 * mysqldump inherits the descriptor; the file is never on a disk, so an
 * interrupted backup (SIGINT, SIGTERM, SIGKILL) leaves nothing behind.
 * Nothing secret is on a command line, in a message or in the backup.
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

/* ---- running mysqldump ------------------------------------------------- */

/* One option-file value, double-quoted: mysys's option file reader drops
 * the quotes (keeping the white space inside), reads \" \\ \n \r \t
 * escapes, and sees no '#' comment inside quotes. */
static int opt_put(struct bfs_buf *f, const char *key, const char *v)
{
	int rc = bfs_buf_printf(f, "%s=\"", key);

	for (; *v && !rc; v++) {
		switch (*v) {
		case '"':
		case '\\':
			rc = bfs_buf_printf(f, "\\%c", *v);
			break;
		case '\n':
			rc = bfs_buf_append(f, "\\n", 2);
			break;
		case '\r':
			rc = bfs_buf_append(f, "\\r", 2);
			break;
		case '\t':
			rc = bfs_buf_append(f, "\\t", 2);
			break;
		default:
			rc = bfs_buf_append(f, v, 1);
		}
	}
	return rc ? rc : bfs_buf_append(f, "\"\n", 2);
}

/* The [client] option file of u, on a memfd (*fd). */
static int mysql_optfile(const struct bfs_mysql_uri *u, int *fd,
			 struct bfs_err *err)
{
	struct bfs_buf f = {0};
	int rc;

	rc = bfs_buf_append(&f, "[client]\n", 9);
	if (!rc && u->user)
		rc = opt_put(&f, "user", u->user);
	if (!rc && u->password)
		rc = opt_put(&f, "password", u->password);
	if (!rc && u->host)
		rc = opt_put(&f, "host", u->host);
	if (!rc && u->port)
		rc = bfs_buf_printf(&f, "port=%u\n", u->port);
	if (!rc && u->socket)
		rc = opt_put(&f, "socket", u->socket);
	if (rc)
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	else
		rc = src_secret_fd("backupfs-my-cnf", f.data, f.len, fd, err);
	if (f.data)
		explicit_bzero(f.data, f.cap);
	bfs_buf_free(&f);
	return rc;
}

static int mysql_dest(const struct bfs_source *s, char **dest,
		      struct bfs_err *err)
{
	struct bfs_mysql_uri u;
	const char *rest;
	char *name = NULL;
	int rc;

	src_dump_name(s->arg, &name, &rest);
	rc = bfs_mysql_uri_parse(rest, &u, err);
	if (!rc)
		rc = src_sql_dest(name ? name : u.db, dest, err);
	bfs_mysql_uri_clear(&u);
	free(name);
	return rc;
}

/* Does ignore_table_data name a table of db (DB.TABLE)? */
static bool data_ignored(const struct bfs_source *s, const char *db)
{
	const char *const *t;
	size_t l = strlen(db);

	for (t = s->ignore_table_data; t && *t; t++)
		if (!strncmp(*t, db, l) && (*t)[l] == '.' && (*t)[l + 1])
			return true;
	return false;
}

/* The parts of a dump (see dump_argv). */
enum part {
	P_ALL,	    /* everything, in one transaction */
	P_SCHEMA,   /* tables, views, routines, events; no triggers */
	P_DATA,	    /* rows, but not those of ignore_table_data */
	P_TRIGGERS, /* triggers only, after the rows as mysqldump puts them */
};

/* One mysqldump run.  With ignore_table_data the dump is three runs into
 * one stream: schema of every table, rows but those ignored, then
 * triggers (so that loading the rows fires none).  mysqldump skips a
 * name given to --ignore-table that does not exist, so a table listed
 * for an app version that lacks it is no error. */
static int dump_argv(const struct bfs_source *s, enum part part,
		     const char *prog, const char *optarg, const char *db,
		     struct src_argv *a)
{
	static const char *const flags[][5] = {
	    [P_ALL] = {"--routines", "--triggers", "--events", "--hex-blob"},
	    [P_SCHEMA] = {"--no-data", "--skip-triggers", "--routines",
			  "--events"},
	    [P_DATA] = {"--no-create-info", "--skip-triggers", "--hex-blob"},
	    [P_TRIGGERS] = {"--no-data", "--no-create-info", "--triggers"},
	};
	const char *const *t;
	int rc;

	rc = src_argv_add(a, (char *)prog, false);
	if (!rc && optarg) /* must be mysqldump's first option */
		rc = src_argv_add(a, (char *)optarg, false);
	rc = rc ? rc : src_argv_add(a, (char *)"--single-transaction", false);
	for (t = flags[part]; !rc && *t; t++)
		rc = src_argv_add(a, (char *)*t, false);
	for (t = s->ignore_tables; !rc && t && *t; t++)
		rc = src_argv_addf(a, "--ignore-table=%s", *t);
	for (t = s->ignore_table_data; part == P_DATA && !rc && t && *t; t++)
		rc = src_argv_addf(a, "--ignore-table=%s", *t);
	for (t = s->dump_opts; !rc && t && *t; t++)
		rc = src_argv_add(a, (char *)*t, false);
	return rc ? rc : src_argv_add(a, (char *)db, false);
}

static int run_mysql(struct bfs_backup *b, const struct bfs_source *s,
		     struct bfs_err *err)
{
	struct bfs_mysql_uri u;
	struct src_argv av[3] = {{0}};
	struct src_child c[3];
	char *dest = NULL, *name = NULL, *optarg = NULL, *desc = NULL;
	const char *rest, *prog;
	const char *const *o;
	size_t np, i;
	int rc, ofd = -1;

	memset(&u, 0, sizeof(u));
	rc = mysql_dest(s, &dest, err);
	if (rc)
		return rc;
	src_dump_name(s->arg, &name, &rest);
	rc = bfs_mysql_uri_parse(rest, &u, err);
	if (rc)
		goto out;
	for (o = s->dump_opts; o && *o; o++) {
		rc = bfs_dump_opt_check(BFS_SRC_MYSQL_DUMP, *o, err);
		if (rc)
			goto out;
	}
	{
		/* spec without credentials: [host[:port]/]db */
		struct bfs_buf spec = {0};

		if (u.host)
			bfs_buf_printf(&spec, "%s%s", u.host,
				       u.port ? "" : "/");
		if (u.port)
			bfs_buf_printf(&spec, ":%u/", u.port);
		bfs_buf_printf(&spec, "%s", u.db);
		if (bfs_buf_append(&spec, "", 1)) {
			bfs_buf_free(&spec);
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		rc = src_add(b, "mysql-dump", dest, (char *)spec.data, err);
		bfs_buf_free(&spec);
		if (rc)
			goto out;
	}
	prog = bfs_in_path("mysqldump") || !bfs_in_path("mariadb-dump")
		   ? "mysqldump"
		   : "mariadb-dump";
	if (u.user || u.password || u.host || u.port || u.socket) {
		rc = mysql_optfile(&u, &ofd, err);
		if (rc)
			goto out;
		if (asprintf(&optarg, "--defaults-extra-file=/dev/fd/%d",
			     SRC_CHILD_FD(ofd)) < 0) {
			optarg = NULL;
			goto nomem;
		}
	}
	if (asprintf(&desc, "%s of '%s'", prog, u.db) < 0) {
		desc = NULL;
		goto nomem;
	}
	if (!data_ignored(s, u.db)) {
		np = 1;
		if (dump_argv(s, P_ALL, prog, optarg, u.db, &av[0]))
			goto nomem;
	} else {
		np = 3;
		for (i = 0; i < np; i++)
			if (dump_argv(s, (enum part)(P_SCHEMA + i), prog,
				      optarg, u.db, &av[i]))
				goto nomem;
	}
	for (i = 0; i < np; i++) {
		c[i].argv = av[i].v;
		c[i].envp = NULL;
		c[i].keep_fd = ofd;
	}
	rc = src_run_children(b, dest, c, np, s->dump_mode, s->dump_timeout,
			      desc, err);
	goto out;
nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out:
	if (ofd >= 0)
		close(ofd);
	for (i = 0; i < 3; i++)
		src_argv_free(&av[i]);
	free(optarg);
	free(desc);
	free(name);
	free(dest);
	bfs_mysql_uri_clear(&u);
	return rc;
}

const struct bfs_source_type bfs_source_type_mysqldump = {
    .kind = BFS_SRC_MYSQL_DUMP,
    .name = "mysql-dump",
    .dest = mysql_dest,
    .run = run_mysql,
};
