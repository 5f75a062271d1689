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

/* The tables of ignore_table_data that are in db (DB.TABLE): *n of them
 * (names point into the list). */
static size_t data_ignored(const struct bfs_source *s, const char *db,
			   const char *out[], size_t max)
{
	const char *const *t;
	size_t l = strlen(db), n = 0;

	for (t = s->ignore_table_data; t && *t && n < max; t++)
		if (!strncmp(*t, db, l) && (*t)[l] == '.' && (*t)[l + 1])
			out[n++] = *t + l + 1;
	return n;
}

/* The main dump: everything but --ignore-table and the tables whose
 * data is ignored, with the user's options. */
static int main_argv(const struct bfs_source *s, const char *prog,
		     const char *optarg, const char *db, struct src_argv *a)
{
	const char *const *t;
	int rc;

	rc = src_argv_add(a, (char *)prog, false);
	if (!rc && optarg) /* must be mysqldump's first option */
		rc = src_argv_add(a, (char *)optarg, false);
	rc = rc ? rc : src_argv_add(a, (char *)"--single-transaction", false);
	rc = rc ? rc : src_argv_add(a, (char *)"--routines", false);
	rc = rc ? rc : src_argv_add(a, (char *)"--triggers", false);
	rc = rc ? rc : src_argv_add(a, (char *)"--events", false);
	rc = rc ? rc : src_argv_add(a, (char *)"--hex-blob", false);
	for (t = s->ignore_tables; !rc && t && *t; t++)
		rc = src_argv_addf(a, "--ignore-table=%s", *t);
	for (t = s->ignore_table_data; !rc && t && *t; t++)
		rc = src_argv_addf(a, "--ignore-table=%s", *t);
	for (t = s->dump_opts; !rc && t && *t; t++)
		rc = src_argv_add(a, (char *)*t, false);
	return rc ? rc : src_argv_add(a, (char *)db, false);
}

/* The tables whose data is ignored, schema (and triggers) only, appended
 * to the same stream: the file stays one loadable dump. */
static int nodata_argv(const char *prog, const char *optarg, const char *db,
		       const char *tables[], size_t n, struct src_argv *a)
{
	int rc;

	rc = src_argv_add(a, (char *)prog, false);
	if (!rc && optarg)
		rc = src_argv_add(a, (char *)optarg, false);
	rc = rc ? rc : src_argv_add(a, (char *)"--single-transaction", false);
	rc = rc ? rc : src_argv_add(a, (char *)"--no-data", false);
	rc = rc ? rc : src_argv_add(a, (char *)"--skip-dump-date", false);
	rc = rc ? rc : src_argv_add(a, (char *)db, false);
	for (size_t i = 0; !rc && i < n; i++)
		rc = src_argv_add(a, (char *)tables[i], false);
	return rc;
}

static int run_mysql(struct bfs_backup *b, const struct bfs_source *s,
		     struct bfs_err *err)
{
	struct bfs_mysql_uri u;
	struct src_argv ma = {0}, na = {0};
	struct src_child c[2];
	char *dest = NULL, *name = NULL, *optarg = NULL, *desc = NULL;
	const char *rest, *prog, **nodata = NULL;
	const char *const *o;
	size_t nnd = 0, n;
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
	prog = src_in_path("mysqldump") || !src_in_path("mariadb-dump")
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
	for (n = 0; s->ignore_table_data && s->ignore_table_data[n]; n++)
		;
	nodata = calloc(n + 1, sizeof(*nodata));
	if (!nodata)
		goto nomem;
	nnd = data_ignored(s, u.db, nodata, n);
	if (main_argv(s, prog, optarg, u.db, &ma) ||
	    (nnd && nodata_argv(prog, optarg, u.db, nodata, nnd, &na)))
		goto nomem;
	c[0].argv = ma.v;
	c[1].argv = na.v;
	c[0].envp = c[1].envp = NULL;
	c[0].keep_fd = c[1].keep_fd = ofd;
	rc = src_run_children(b, dest, c, nnd ? 2 : 1, s->dump_mode,
			      s->dump_timeout, desc, err);
	goto out;
nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out:
	if (ofd >= 0)
		close(ofd);
	src_argv_free(&ma);
	src_argv_free(&na);
	free(nodata);
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
