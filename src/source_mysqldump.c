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

static int run_mysql(struct bfs_backup *b, const struct bfs_source *s,
		     struct bfs_err *err)
{
	struct bfs_mysql_uri u;
	char *dest = NULL, *name = NULL, *optarg = NULL;
	char *desc = NULL, **argv = NULL, **ign = NULL;
	const char *rest, *prog;
	size_t n = 0, nign = 0, i, k = 0;
	int rc, ofd = -1;

	memset(&u, 0, sizeof(u));
	rc = mysql_dest(s, &dest, err);
	if (rc)
		return rc;
	src_dump_name(s->arg, &name, &rest);
	rc = bfs_mysql_uri_parse(rest, &u, err);
	if (rc)
		goto out;
	if (s->ignore_tables)
		while (s->ignore_tables[nign])
			nign++;
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
		/* must be mysqldump's first option */
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
	n = 8 + nign;
	argv = calloc(n + 1, sizeof(*argv));
	ign = calloc(nign + 1, sizeof(*ign));
	if (!argv || !ign)
		goto nomem;
	argv[k++] = (char *)prog;
	if (optarg)
		argv[k++] = optarg;
	argv[k++] = (char *)"--single-transaction";
	argv[k++] = (char *)"--routines";
	argv[k++] = (char *)"--triggers";
	argv[k++] = (char *)"--events";
	argv[k++] = (char *)"--hex-blob";
	for (i = 0; i < nign; i++) {
		if (asprintf(&ign[i], "--ignore-table=%s",
			     s->ignore_tables[i]) < 0) {
			ign[i] = NULL;
			goto nomem;
		}
		argv[k++] = ign[i];
	}
	argv[k++] = u.db;
	argv[k] = NULL;
	rc = src_run_child(b, dest, argv, NULL, ofd, s->dump_mode, desc, err);
	goto out;
nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out:
	if (ofd >= 0)
		close(ofd);
	if (ign)
		for (i = 0; i < nign; i++)
			free(ign[i]);
	free(ign);
	free(argv);
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
