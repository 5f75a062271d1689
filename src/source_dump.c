/* source_dump.c - sources that stream one file: --command, --stdin,
 * --pg-dump, --mysql-dump; plus the source dispatcher and argument
 * parsing shared by all sources.
 *
 * Children are started with posix_spawnp, stdout to a pipe that is read
 * in 1 MiB pieces straight into the chunker (nothing is buffered whole),
 * stderr passes through.  A child that exits non-zero or dies from a
 * signal fails the source; if the writer fails first, the child is killed
 * and reaped.
 *
 * Secrets: a PostgreSQL password (URI or "password=" keyword) reaches
 * pg_dump as PGPASSWORD in the child's environment; MySQL credentials go
 * to a 0600 option file passed as --defaults-extra-file and removed
 * afterwards.  Neither is ever on a command line or in a message.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "source_int.h"
#include "writer_int.h"

extern char **environ;

#define READ_BUF (1u << 20)

/* ---- argument parsing -------------------------------------------------- */

int bfs_source_split(const char *arg, const char *deflt, char **dest,
		     const char **rest, struct bfs_err *err)
{
	const char *eq = arg ? strchr(arg, '=') : NULL;

	*dest = NULL;
	if (!arg || !*arg)
		return bfs_err_set(err, -EINVAL, "missing source argument");
	if (eq && eq > arg && bfs_manifest_path_valid(arg, (size_t)(eq - arg))) {
		*dest = strndup(arg, (size_t)(eq - arg));
		*rest = eq + 1;
	} else {
		*dest = strdup(deflt);
		*rest = arg;
	}
	if (!*dest)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	if (!**rest) {
		free(*dest);
		*dest = NULL;
		return bfs_err_set(err, -EINVAL, "missing path in '%s'", arg);
	}
	return 0;
}

static int hexdig(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into a new string.  NULL on ENOMEM or a bad
 * escape (*bad set). */
static char *pct_decode(const char *s, size_t n, bool *bad)
{
	char *o = malloc(n + 1);
	size_t i, k = 0;

	*bad = false;
	if (!o)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int h, l;

			if (i + 2 >= n) {
				*bad = true;
				free(o);
				return NULL;
			}
			h = hexdig((unsigned char)s[i + 1]);
			l = hexdig((unsigned char)s[i + 2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0)) {
				*bad = true;
				free(o);
				return NULL;
			}
			o[k++] = (char)(h << 4 | l);
			i += 2;
		} else {
			o[k++] = s[i];
		}
	}
	o[k] = 0;
	return o;
}

static bool is_uri(const char *s, const char **after)
{
	static const char *const schemes[] = { "postgresql://",
					       "postgres://" };
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(schemes); i++) {
		if (!strncmp(s, schemes[i], strlen(schemes[i]))) {
			*after = s + strlen(schemes[i]);
			return true;
		}
	}
	return false;
}

/* Remove "password=..." from a URI query string (q points after '?'). */
static int uri_query_strip(const char *q, struct bfs_buf *safe,
			   char **password, struct bfs_err *err)
{
	const char *c = q, *end, *eq;
	bool first = true, bad;

	while (*c) {
		end = strchr(c, '&');
		if (!end)
			end = c + strlen(c);
		eq = memchr(c, '=', (size_t)(end - c));
		if (eq && eq - c == 8 && !strncmp(c, "password", 8)) {
			free(*password);
			*password = pct_decode(eq + 1, (size_t)(end - eq - 1),
					       &bad);
			if (!*password)
				return bfs_err_set(err, bad ? -EINVAL : -ENOMEM,
						   "invalid password escape in connection URI");
		} else if (end > c) {
			if (bfs_buf_append(safe, first ? "?" : "&", 1) ||
			    bfs_buf_append(safe, c, (size_t)(end - c)))
				return bfs_err_set(err, -ENOMEM,
						   "out of memory");
			first = false;
		}
		c = *end ? end + 1 : end;
	}
	return 0;
}

static int pg_uri_split(const char *s, const char *after,
			struct bfs_buf *safe, char **password,
			struct bfs_err *err)
{
	const char *auth_end, *at = NULL, *c, *q, *colon;
	bool bad;

	/* authority ends at the first '/', '?' (or the end) */
	auth_end = after + strcspn(after, "/?");
	for (c = after; c < auth_end; c++)
		if (*c == '@')
			at = c;   /* last '@' of the authority */
	if (bfs_buf_append(safe, s, (size_t)(after - s)))
		goto nomem;
	if (at) {
		colon = memchr(after, ':', (size_t)(at - after));
		if (colon) {
			*password = pct_decode(colon + 1,
					       (size_t)(at - colon - 1), &bad);
			if (!*password)
				return bfs_err_set(err, bad ? -EINVAL : -ENOMEM,
						   "invalid password escape in connection URI");
			if (bfs_buf_append(safe, after,
					   (size_t)(colon - after)))
				goto nomem;
		} else if (bfs_buf_append(safe, after, (size_t)(at - after))) {
			goto nomem;
		}
		if (bfs_buf_append(safe, at, (size_t)(auth_end - at)))
			goto nomem;
	} else if (bfs_buf_append(safe, after, (size_t)(auth_end - after))) {
		goto nomem;
	}
	q = strchr(auth_end, '?');
	if (bfs_buf_append(safe, auth_end,
			   q ? (size_t)(q - auth_end) : strlen(auth_end)))
		goto nomem;
	if (q)
		return uri_query_strip(q + 1, safe, password, err);
	return 0;
nomem:
	return bfs_err_set(err, -ENOMEM, "out of memory");
}

/* key = value conninfo: values bare (backslash escapes) or single-quoted
 * (\' and \\ escapes).  The safe form re-quotes every value. */
static int pg_kv_split(const char *s, struct bfs_buf *safe, char **password,
		       struct bfs_err *err)
{
	const char *c = s, *k;
	struct bfs_buf val = { 0 };
	size_t klen, i;
	bool first = true;
	int rc = 0;

	for (;;) {
		while (isspace((unsigned char)*c))
			c++;
		if (!*c)
			break;
		k = c;
		while (*c && *c != '=' && !isspace((unsigned char)*c))
			c++;
		klen = (size_t)(c - k);
		while (isspace((unsigned char)*c))
			c++;
		if (*c != '=' || !klen) {
			rc = bfs_err_set(err, -EINVAL,
					 "invalid connection string: expected key=value");
			goto out;
		}
		c++;
		while (isspace((unsigned char)*c))
			c++;
		val.len = 0;
		if (*c == '\'') {
			c++;
			while (*c && *c != '\'') {
				if (*c == '\\' && c[1])
					c++;
				if (bfs_buf_append(&val, c, 1))
					goto nomem;
				c++;
			}
			if (*c != '\'') {
				rc = bfs_err_set(err, -EINVAL,
						 "invalid connection string: unterminated quote");
				goto out;
			}
			c++;
		} else {
			while (*c && !isspace((unsigned char)*c)) {
				if (*c == '\\' && c[1])
					c++;
				if (bfs_buf_append(&val, c, 1))
					goto nomem;
				c++;
			}
		}
		if (klen == 8 && !strncmp(k, "password", 8)) {
			free(*password);
			*password = strndup(val.len ? (char *)val.data : "",
					    val.len);
			if (!*password)
				goto nomem;
			continue;
		}
		if ((!first && bfs_buf_append(safe, " ", 1)) ||
		    bfs_buf_append(safe, k, klen) ||
		    bfs_buf_append(safe, "='", 2))
			goto nomem;
		for (i = 0; i < val.len; i++) {
			if ((val.data[i] == '\'' || val.data[i] == '\\') &&
			    bfs_buf_append(safe, "\\", 1))
				goto nomem;
			if (bfs_buf_append(safe, &val.data[i], 1))
				goto nomem;
		}
		if (bfs_buf_append(safe, "'", 1))
			goto nomem;
		first = false;
	}
	goto out;
nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out:
	bfs_buf_free(&val);
	return rc;
}

int bfs_pg_conninfo_split(const char *conninfo, char **safe, char **password,
			  struct bfs_err *err)
{
	struct bfs_buf o = { 0 };
	const char *after;
	int rc;

	*safe = NULL;
	*password = NULL;
	if (!conninfo || !*conninfo)
		return bfs_err_set(err, -EINVAL, "empty connection string");
	if (is_uri(conninfo, &after))
		rc = pg_uri_split(conninfo, after, &o, password, err);
	else if (strchr(conninfo, '='))
		rc = pg_kv_split(conninfo, &o, password, err);
	else
		rc = bfs_buf_append(&o, conninfo, strlen(conninfo)) ?
		     bfs_err_set(err, -ENOMEM, "out of memory") : 0;
	if (!rc && bfs_buf_append(&o, "", 1))
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	if (rc) {
		bfs_buf_free(&o);
		free(*password);
		*password = NULL;
		return rc;
	}
	*safe = (char *)o.data;
	return 0;
}

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
					   "invalid mysql database name '%s'", s);
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
		out->user = pct_decode(p, colon ? (size_t)(colon - p)
						: (size_t)(at - p), &bad);
		if (!out->user)
			goto fail;
		if (colon) {
			out->password = pct_decode(colon + 1,
						   (size_t)(at - colon - 1),
						   &bad);
			if (!out->password)
				goto fail;
		}
		hs = at + 1;
	}
	he = auth_end;
	if (*hs == '[') {   /* [ipv6]:port */
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
			out->host = pct_decode(hs, colon ? (size_t)(colon - hs)
							 : (size_t)(auth_end - hs),
					       &bad);
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
		out->db = pct_decode(c, q ? (size_t)(q - c) : strlen(c), &bad);
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
				out->socket = pct_decode(eq + 1,
							 (size_t)(amp - eq - 1),
							 &bad);
				if (!out->socket)
					goto fail;
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

/* ---- destinations ------------------------------------------------------ */

static const char *const pg_keywords[] = {
	"host", "hostaddr", "port", "dbname", "user", "password",
	"passfile", "connect_timeout", "client_encoding", "options",
	"application_name", "fallback_application_name", "keepalives",
	"sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl",
	"requiressl", "service", "target_session_attrs", "gssencmode",
	"channel_binding", "load_balance_hosts", "sslpassword",
	"require_auth", "krbsrvname",
};

/* [NAME=]X for dumps: NAME is [A-Za-z0-9._/-]+, a valid path, and not a
 * libpq keyword (so "dbname=x" stays a conninfo). */
static void dump_name(const char *arg, char **name, const char **rest)
{
	const char *eq = strchr(arg, '=');
	size_t n, i;

	*name = NULL;
	*rest = arg;
	if (!eq || eq == arg)
		return;
	n = (size_t)(eq - arg);
	if (strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789._/-") < n ||
	    !bfs_manifest_path_valid(arg, n))
		return;
	for (i = 0; i < BFS_ARRAY_SIZE(pg_keywords); i++)
		if (strlen(pg_keywords[i]) == n &&
		    !strncmp(arg, pg_keywords[i], n))
			return;
	*name = strndup(arg, n);
	if (*name)
		*rest = eq + 1;
}

static int sql_dest(const char *name, char **dest, struct bfs_err *err)
{
	size_t n = strlen(name);

	*dest = malloc(n + 5);
	if (!*dest)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	memcpy(*dest, name, n);
	memcpy(*dest + n, ".sql", 5);
	if (!bfs_manifest_path_valid(*dest, n + 4)) {
		free(*dest);
		*dest = NULL;
		return bfs_err_set(err, -EINVAL, "invalid dump name '%s'",
				   name);
	}
	return 0;
}

int bfs_source_dest(const struct bfs_source *s, char **dest,
		    struct bfs_err *err)
{
	struct bfs_mysql_uri u;
	const char *rest, *eq;
	char *name = NULL;
	int rc;

	*dest = NULL;
	if (!s->arg || !*s->arg)
		return bfs_err_set(err, -EINVAL, "missing source argument");
	switch (s->kind) {
	case BFS_SRC_FILES:
	case BFS_SRC_ARCHIVE:
		return bfs_source_split(s->arg, "files", dest, &rest, err);
	case BFS_SRC_COMMAND:
		eq = strchr(s->arg, '=');
		if (!eq || eq == s->arg || !eq[1] ||
		    !bfs_manifest_path_valid(s->arg, (size_t)(eq - s->arg)))
			return bfs_err_set(err, -EINVAL,
					   "--command needs PATH=COMMAND, got '%s'",
					   s->arg);
		*dest = strndup(s->arg, (size_t)(eq - s->arg));
		break;
	case BFS_SRC_STDIN:
		if (!bfs_manifest_path_valid(s->arg, strlen(s->arg)))
			return bfs_err_set(err, -EINVAL,
					   "invalid path '%s' for --stdin",
					   s->arg);
		*dest = strdup(s->arg);
		break;
	case BFS_SRC_PG_DUMP:
		dump_name(s->arg, &name, &rest);
		if (!*rest)
			rc = bfs_err_set(err, -EINVAL,
					 "--pg-dump needs a connection string");
		else
			rc = sql_dest(name ? name : "database", dest, err);
		free(name);
		return rc;
	case BFS_SRC_MYSQL_DUMP:
		dump_name(s->arg, &name, &rest);
		rc = bfs_mysql_uri_parse(rest, &u, err);
		if (!rc)
			rc = sql_dest(name ? name : u.db, dest, err);
		bfs_mysql_uri_clear(&u);
		free(name);
		return rc;
	default:
		return bfs_err_set(err, -EINVAL, "unknown source kind");
	}
	return *dest ? 0 : bfs_err_set(err, -ENOMEM, "out of memory");
}

/* ---- streaming a child ------------------------------------------------- */

static void dump_entry(struct bfs_backup *b, struct bfs_entry *e, char *path)
{
	memset(e, 0, sizeof(*e));
	e->path = path;
	e->path_len = strlen(path);
	e->type = BFS_T_FILE;
	e->mode = 0644;
	e->uid = getuid();
	e->gid = getgid();
	e->mtime_ns = bfs_now_ns();
}

/* Stream fd into the backup as e.  Closes fd.  pid > 0: the child to reap
 * (killed if the writer fails); desc names it in messages. */
static int stream_fd(struct bfs_backup *b, struct bfs_entry *e, int fd,
		     pid_t pid, const char *desc, struct bfs_err *err)
{
	uint8_t *buf = malloc(READ_BUF);
	int rc, status, rerr = 0;
	ssize_t n = 0;

	if (!buf) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_kill;
	}
	rc = bfs_backup_file_begin(b, e, BFS_PROFILE_DUMP, err);
	if (rc)
		goto out_kill;
	for (;;) {
		n = read(fd, buf, READ_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rerr = -errno;
			break;
		}
		if (!n)
			break;
		rc = bfs_backup_file_write(b, buf, (size_t)n, err);
		if (rc) {
			bfs_backup_file_cancel(b);
			goto out_kill;
		}
	}
	close(fd);
	fd = -1;
	if (pid > 0) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		pid = 0;
		if (WIFSIGNALED(status)) {
			bfs_backup_file_cancel(b);
			rc = bfs_err_set(err, -EIO, "%s was killed by signal %d",
					 desc, WTERMSIG(status));
			goto out_free;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status)) {
			bfs_backup_file_cancel(b);
			rc = bfs_err_set(err, -EIO, "%s exited with status %d",
					 desc, WEXITSTATUS(status));
			goto out_free;
		}
	}
	if (rerr) {
		bfs_backup_file_cancel(b);
		rc = bfs_err_set(err, rerr, "cannot read output of %s: %s",
				 desc, strerror(-rerr));
		goto out_free;
	}
	rc = bfs_backup_file_end(b, err);
	goto out_free;
out_kill:
	if (pid > 0) {
		kill(pid, SIGTERM);
		if (fd >= 0)
			close(fd);
		fd = -1;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
out_free:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* Start argv with stdout to a pipe.  envp NULL: inherit. */
static int spawn(char *const argv[], char *const envp[], pid_t *pid,
		 int *outfd, const char *desc, struct bfs_err *err)
{
	posix_spawn_file_actions_t fa;
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC))
		return bfs_err_set(err, -errno, "cannot start %s: %s", desc,
				   strerror(errno));
	rc = posix_spawn_file_actions_init(&fa);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	if (!rc)
		rc = posix_spawnp(pid, argv[0], &fa, NULL, argv,
				  envp ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc) {
		close(p[0]);
		return bfs_err_set(err, -rc, "cannot start %s: %s", desc,
				   strerror(rc));
	}
	*outfd = p[0];
	return 0;
}

static int run_child(struct bfs_backup *b, char *path, char *const argv[],
		     char *const envp[], const char *desc, struct bfs_err *err)
{
	struct bfs_entry e;
	pid_t pid;
	int fd = -1, rc;

	rc = spawn(argv, envp, &pid, &fd, desc, err);
	if (rc)
		return rc;
	dump_entry(b, &e, path);
	return stream_fd(b, &e, fd, pid, desc, err);
}

static int add_src(struct bfs_backup *b, const char *kind, const char *dest,
		   const char *spec, struct bfs_err *err)
{
	struct bfs_buf key = { 0 };
	int rc;

	if (bfs_buf_printf(&key, "%s:%s:%s", kind, dest, spec) ||
	    bfs_buf_append(&key, "", 1))
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	else
		rc = bfs_backup_add_source(b, kind, dest, spec,
					   (char *)key.data, err);
	bfs_buf_free(&key);
	return rc;
}

static int run_command(struct bfs_backup *b, const struct bfs_source *s,
		       struct bfs_err *err)
{
	char *dest = NULL, *argv[4], *desc = NULL;
	const char *cmd;
	int rc;

	rc = bfs_source_dest(s, &dest, err);
	if (rc)
		return rc;
	cmd = strchr(s->arg, '=') + 1;
	rc = add_src(b, "command", dest, cmd, err);
	if (rc)
		goto out;
	if (asprintf(&desc, "command '%s'", cmd) < 0) {
		desc = NULL;
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	argv[0] = (char *)"sh";
	argv[1] = (char *)"-c";
	argv[2] = (char *)cmd;
	argv[3] = NULL;
	rc = run_child(b, dest, argv, NULL, desc, err);
out:
	free(desc);
	free(dest);
	return rc;
}

static int run_stdin(struct bfs_backup *b, const struct bfs_source *s,
		     struct bfs_err *err)
{
	struct bfs_entry e;
	char *dest = NULL;
	int fd, rc;

	rc = bfs_source_dest(s, &dest, err);
	if (rc)
		return rc;
	rc = add_src(b, "stdin", dest, "-", err);
	if (!rc) {
		fd = dup(0);
		if (fd < 0)
			rc = bfs_err_set(err, -errno, "cannot read stdin: %s",
					 strerror(errno));
		else {
			dump_entry(b, &e, dest);
			rc = stream_fd(b, &e, fd, 0, "stdin", err);
		}
	}
	free(dest);
	return rc;
}

/* A copy of environ with NAME=value set (replacing any). */
static char **env_with(const char *name, const char *value)
{
	size_t n = 0, k = 0, nl = strlen(name), i;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], name, nl) || environ[i][nl] != '=')
			env[k++] = environ[i];
	if (asprintf(&env[k], "%s=%s", name, value) < 0) {
		free(env);
		return NULL;
	}
	return env;
}

static void env_free(char **env)
{
	size_t i;

	if (!env)
		return;
	for (i = 0; env[i + 1]; i++)
		;
	/* only the last one is ours */
	explicit_bzero(env[i], strlen(env[i]));
	free(env[i]);
	free(env);
}

static int run_pg(struct bfs_backup *b, const struct bfs_source *s,
		  struct bfs_err *err)
{
	char *dest = NULL, *name = NULL, *safe = NULL, *pw = NULL;
	char *dbarg = NULL, *desc = NULL, **env = NULL, *argv[4];
	const char *rest;
	int rc;

	rc = bfs_source_dest(s, &dest, err);
	if (rc)
		return rc;
	dump_name(s->arg, &name, &rest);
	rc = bfs_pg_conninfo_split(rest, &safe, &pw, err);
	if (rc)
		goto out;
	rc = add_src(b, "pg-dump", dest, safe, err);
	if (rc)
		goto out;
	if (asprintf(&dbarg, "--dbname=%s", safe) < 0 ||
	    asprintf(&desc, "pg_dump of '%s'", safe) < 0) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (pw && !(env = env_with("PGPASSWORD", pw))) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	argv[0] = (char *)"pg_dump";
	argv[1] = (char *)"--no-password";
	argv[2] = dbarg;
	argv[3] = NULL;
	rc = run_child(b, dest, argv, env, desc, err);
out:
	env_free(env);
	if (pw)
		explicit_bzero(pw, strlen(pw));
	free(pw);
	free(safe);
	free(dbarg);
	free(desc);
	free(name);
	free(dest);
	return rc;
}

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH"), *c, *end;
	char buf[4096];

	if (!path)
		path = "/usr/bin:/bin";
	for (c = path; *c; c = *end ? end + 1 : end) {
		end = strchr(c, ':');
		if (!end)
			end = c + strlen(c);
		if (end == c)
			continue;
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - c), c, prog);
		if (!access(buf, X_OK))
			return true;
	}
	return false;
}

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
	fd = mkstemp(p);   /* mode 0600 */
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
	rc = bfs_source_dest(s, &dest, err);
	if (rc)
		return rc;
	dump_name(s->arg, &name, &rest);
	rc = bfs_mysql_uri_parse(rest, &u, err);
	if (rc)
		goto out;
	if (s->ignore_tables)
		while (s->ignore_tables[nign])
			nign++;
	{
		/* spec without credentials: [host[:port]/]db */
		struct bfs_buf spec = { 0 };

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
		rc = add_src(b, "mysql-dump", dest, (char *)spec.data, err);
		bfs_buf_free(&spec);
		if (rc)
			goto out;
	}
	prog = in_path("mysqldump") || !in_path("mariadb-dump") ?
	       "mysqldump" : "mariadb-dump";
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
	rc = run_child(b, dest, argv, NULL, desc, err);
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

int bfs_source_run(struct bfs_backup *b, const struct bfs_source *s,
		   struct bfs_err *err)
{
	switch (s->kind) {
	case BFS_SRC_FILES:
		return bfs_source_files_run(b, s, err);
	case BFS_SRC_ARCHIVE:
		return bfs_source_archive_run(b, s, err);
	case BFS_SRC_COMMAND:
		return run_command(b, s, err);
	case BFS_SRC_STDIN:
		return run_stdin(b, s, err);
	case BFS_SRC_PG_DUMP:
		return run_pg(b, s, err);
	case BFS_SRC_MYSQL_DUMP:
		return run_mysql(b, s, err);
	}
	return bfs_err_set(err, -EINVAL, "unknown source kind %d", s->kind);
}
