/* source_mysqldump.c - --mysql-dump [NAME=]URI|DATABASE: mysqldump's (or
 * mariadb-dump's) output as NAME.sql (default DATABASE.sql).
 *
 * Secrets: credentials go to a 0600 option file passed as
 * --defaults-extra-file and removed afterwards, never on a command line or
 * in a message.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source_int.h"

/* ---- URIs -------------------------------------------------------------- */

void bfs_mysql_uri_clear(struct bfs_mysql_uri *u)
{
	if (!u)
		return;
	free(u->user);
	free(u->password);
	free(u->host);
	free(u->db);
	free(u->socket);
	memset(u, 0, sizeof(*u));
}

int bfs_mysql_uri_parse(const char *s, struct bfs_mysql_uri *out,
			struct bfs_err *err)
{
	const char *p, *auth_end, *at = NULL, *c, *colon, *hs, *he, *q;
	bool bad = false;
	unsigned long port;
	char *end;

	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return bfs_err_set(err, -EINVAL, "empty mysql database");
	if (strncmp(s, "mysql://", 8) && strncmp(s, "mariadb://", 10)) {
		if (strchr(s, '/') || s[0] == '-')
			return bfs_err_set(err, -EINVAL,
					   "invalid mysql database name '%s'",
					   s);
		out->db = strdup(s);
		return out->db ? 0 : bfs_err_set(err, -ENOMEM, "out of memory");
	}
	p = strstr(s, "://") + 3;
	auth_end = p + strcspn(p, "/?");
	for (c = p; c < auth_end; c++)
		if (*c == '@')
			at = c;
	hs = p;
	if (at) {
		colon = memchr(p, ':', (size_t)(at - p));
		out->user = src_pct_decode(
		    p, colon ? (size_t)(colon - p) : (size_t)(at - p), &bad);
		if (!out->user)
			goto fail;
		if (colon) {
			out->password = src_pct_decode(
			    colon + 1, (size_t)(at - colon - 1), &bad);
			if (!out->password)
				goto fail;
		}
		hs = at + 1;
	}
	he = auth_end;
	if (*hs == '[') { /* [ipv6]:port */
		const char *rb = memchr(hs, ']', (size_t)(auth_end - hs));

		if (!rb)
			goto bad_uri;
		out->host = strndup(hs + 1, (size_t)(rb - hs - 1));
		if (!out->host)
			goto nomem;
		colon = rb + 1 < auth_end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(hs, ':', (size_t)(auth_end - hs));
		if (colon ? colon > hs : auth_end > hs) {
			size_t hn = colon ? (size_t)(colon - hs)
					  : (size_t)(auth_end - hs);

			out->host = src_pct_decode(hs, hn, &bad);
			if (!out->host)
				goto fail;
		}
	}
	if (colon && colon + 1 < he) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || end != he || !port || port > 65535)
			goto bad_uri;
		out->port = (unsigned)port;
	}
	if (*auth_end == '/') {
		q = strchr(auth_end, '?');
		c = auth_end + 1;
		out->db =
		    src_pct_decode(c, q ? (size_t)(q - c) : strlen(c), &bad);
		if (!out->db)
			goto fail;
	} else {
		q = *auth_end == '?' ? auth_end : NULL;
	}
	if (q) {
		for (c = q + 1; *c;) {
			const char *amp = strchr(c, '&'), *eq;

			if (!amp)
				amp = c + strlen(c);
			eq = memchr(c, '=', (size_t)(amp - c));
			if (eq && eq - c == 6 && !strncmp(c, "socket", 6)) {
				free(out->socket);
				out->socket = src_pct_decode(
				    eq + 1, (size_t)(amp - eq - 1), &bad);
				if (!out->socket)
					goto fail;
			} else if (amp > c) {
				/* name the key, never the value (a misspelt
				 * key may hold a password) */
				size_t kl = eq ? (size_t)(eq - c)
					       : (size_t)(amp - c),
				       i;
				char shown[44];

				for (i = 0; i < kl && i < 40; i++)
					shown[i] = isprint((unsigned char)c[i])
						       ? c[i]
						       : '?';
				shown[i] = '\0';
				bfs_mysql_uri_clear(out);
				return bfs_err_set(
				    err, -EINVAL,
				    "mysql URI: unknown query parameter '%s' "
				    "(only 'socket' is understood; its value "
				    "is not shown: it may be a secret)",
				    shown);
			}
			c = *amp ? amp + 1 : amp;
		}
	}
	if (!out->db || !*out->db || out->db[0] == '-' ||
	    strchr(out->db, '/')) {
		bfs_mysql_uri_clear(out);
		return bfs_err_set(err, -EINVAL,
				   "mysql URI without a valid database name");
	}
	return 0;
fail:
	if (bad)
		goto bad_uri;
nomem:
	bfs_mysql_uri_clear(out);
	return bfs_err_set(err, -ENOMEM, "out of memory");
bad_uri:
	bfs_mysql_uri_clear(out);
	/* the URI may hold a password: do not echo it */
	return bfs_err_set(err, -EINVAL, "invalid mysql URI");
}

/* ---- running mysqldump ------------------------------------------------- */

/* Write one option-file value, double-quoted with backslash escapes. */
static int opt_write(FILE *f, const char *key, const char *v)
{
	fprintf(f, "%s=\"", key);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	return fputs("\"\n", f) < 0 ? -EIO : 0;
}

static int mysql_optfile(const struct bfs_mysql_uri *u, char **path,
			 struct bfs_err *err)
{
	const char *tmp = getenv("TMPDIR");
	char *p = NULL;
	FILE *f;
	int fd, rc = 0;

	*path = NULL;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (asprintf(&p, "%s/backupfs-my-XXXXXX", tmp) < 0)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	fd = mkstemp(p); /* mode 0600 */
	if (fd < 0) {
		rc = bfs_err_set(err, -errno,
				 "cannot create mysql option file in '%s': %s",
				 tmp, strerror(errno));
		free(p);
		return rc;
	}
	fchmod(fd, 0600);
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		close(fd);
		goto out_unlink;
	}
	fputs("[client]\n", f);
	if (u->user)
		rc |= opt_write(f, "user", u->user);
	if (u->password)
		rc |= opt_write(f, "password", u->password);
	if (u->host)
		rc |= opt_write(f, "host", u->host);
	if (u->port)
		fprintf(f, "port=%u\n", u->port);
	if (u->socket)
		rc |= opt_write(f, "socket", u->socket);
	if (fclose(f) || rc)
		rc = -EIO;
out_unlink:
	if (rc) {
		unlink(p);
		free(p);
		return bfs_err_set(err, rc, "cannot write mysql option file");
	}
	*path = p;
	return 0;
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
	char *dest = NULL, *name = NULL, *opt = NULL, *optarg = NULL;
	char *desc = NULL, **argv = NULL, **ign = NULL;
	const char *rest, *prog;
	size_t n = 0, nign = 0, i, k = 0;
	int rc;

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
		rc = mysql_optfile(&u, &opt, err);
		if (rc)
			goto out;
		if (asprintf(&optarg, "--defaults-extra-file=%s", opt) < 0) {
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
	rc = src_run_child(b, dest, argv, NULL, desc, err);
	goto out;
nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out:
	if (opt) {
		unlink(opt);
		free(opt);
	}
	if (ign)
		for (i = 0; i < nign; i++)
			free(ign[i]);
	free(ign);
	free(argv);
	free(optarg);
	free(desc);
	free(name);
	free(dest);
	if (u.password)
		explicit_bzero(u.password, strlen(u.password));
	bfs_mysql_uri_clear(&u);
	return rc;
}

const struct bfs_source_type bfs_source_type_mysqldump = {
    .kind = BFS_SRC_MYSQL_DUMP,
    .name = "mysql-dump",
    .dest = mysql_dest,
    .run = run_mysql,
};
