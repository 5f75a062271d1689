/* job_env.c - a job's env_file: the secrets a job needs (PGPASSWORD,
 * AWS_SECRET_ACCESS_KEY, SMTP_PASSWORD...), refused unless private to the
 * running user.  Values are secrets: no message ever contains one. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "util.h"

#define ENV_FILE_MAX (64 * 1024)

static void wipe(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void bfs_job_env_free(struct bfs_job_env *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->n; i++) {
		free(e->vars[i].key);
		wipe(e->vars[i].value);
	}
	free(e->vars);
	free(e);
}

const char *bfs_job_env_get(const struct bfs_job_env *e, const char *key)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->vars[i].key, key) == 0)
			return e->vars[i].value;
	return NULL;
}

int bfs_job_env_apply(const struct bfs_job_env *e, struct bfs_err *err)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (setenv(e->vars[i].key, e->vars[i].value, 1) < 0)
			return bfs_err_set(err, -errno, "cannot set %s: %s",
					   e->vars[i].key, strerror(errno));
	return 0;
}

/* Set key (key and value are taken over, even on failure). */
static int env_set(struct bfs_job_env *e, char *key, char *value)
{
	struct bfs_job_env_var *nv;
	size_t i;

	for (i = 0; i < e->n; i++) {
		if (strcmp(e->vars[i].key, key) == 0) {
			free(key);
			wipe(e->vars[i].value);
			e->vars[i].value = value;
			return 0;
		}
	}
	nv = realloc(e->vars, (e->n + 1) * sizeof(*nv));
	if (!nv) {
		free(key);
		wipe(value);
		return -ENOMEM;
	}
	e->vars = nv;
	e->vars[e->n].key = key;
	e->vars[e->n].value = value;
	e->n++;
	return 0;
}

/* Parse the value at p (the rest of one line, NUL-terminated) into a new
 * string.  Returns 0, -ENOMEM, or -EINVAL with *why set. */
static int parse_value(const char *p, char **out, const char **why)
{
	size_t n = strlen(p), o = 0;
	char q, *v;

	v = malloc(n + 1);
	if (!v)
		return -ENOMEM;
	if (*p == '\'' || *p == '"') {
		q = *p++;
		for (; *p && *p != q; p++) {
			if (q == '"' && *p == '\\' && p[1]) {
				p++;
				switch (*p) {
				case 'n':
					v[o++] = '\n';
					break;
				case 't':
					v[o++] = '\t';
					break;
				case '"':
				case '\\':
				case '$':
				case '`':
					v[o++] = *p;
					break;
				default: /* unknown escape: kept as written */
					v[o++] = '\\';
					v[o++] = *p;
				}
				continue;
			}
			v[o++] = *p;
		}
		if (*p != q) {
			*why = "unterminated quote";
			goto out_bad;
		}
		p++;
		p += strspn(p, " \t");
		if (*p && *p != '#') {
			*why = "text after the closing quote";
			goto out_bad;
		}
	} else {
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		memcpy(v, p, n);
		o = n;
	}
	v[o] = '\0';
	*out = v;
	return 0;
out_bad:
	v[o] = '\0';
	wipe(v);
	return -EINVAL;
}

static int parse_env(char *text, const char *path, struct bfs_job_env *e,
		     struct bfs_err *err)
{
	char *line = text, *next, *p, *key, *value;
	const char *why;
	size_t lineno = 0, klen;
	int rc;

	for (; line; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		klen = strlen(line);
		if (klen && line[klen - 1] == '\r')
			line[klen - 1] = '\0';
		p = line + strspn(line, " \t");
		if (!*p || *p == '#')
			continue;
		if (strncmp(p, "export", 6) == 0 &&
		    (p[6] == ' ' || p[6] == '\t'))
			p += 6 + strspn(p + 6, " \t");
		if (!isalpha((unsigned char)*p) && *p != '_')
			return bfs_err_set(
			    err, -EINVAL,
			    "env_file '%s' line %zu: expected KEY=VALUE", path,
			    lineno);
		klen = 0;
		while (isalnum((unsigned char)p[klen]) || p[klen] == '_')
			klen++;
		if (p[klen] != '=')
			return bfs_err_set(
			    err, -EINVAL,
			    "env_file '%s' line %zu: expected KEY=VALUE (KEY: "
			    "letters, digits, _)",
			    path, lineno);
		key = strndup(p, klen);
		if (!key)
			return bfs_err_set(err, -ENOMEM, "out of memory");
		rc = parse_value(p + klen + 1, &value, &why);
		if (rc == -EINVAL) {
			rc = bfs_err_set(err, rc,
					 "env_file '%s' line %zu: %s: %s", path,
					 lineno, key, why);
			free(key);
			return rc;
		}
		if (!rc)
			rc = env_set(e, key, value);
		else
			free(key);
		if (rc)
			return bfs_err_set(err, rc, "out of memory");
	}
	return 0;
}

int bfs_job_load_env(const char *path, struct bfs_job_env **out,
		     struct bfs_err *err)
{
	struct bfs_job_env *e = NULL;
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;
	int fd, rc;

	*out = NULL;
	/* O_NONBLOCK: a FIFO must not hang us; it is refused below */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return bfs_err_set(err, -errno, "env_file '%s': %s", path,
				   strerror(errno));
	/* checked on the open file, so a swapped path cannot slip by */
	if (fstat(fd, &st) < 0) {
		rc = bfs_err_set(err, -errno, "env_file '%s': %s", path,
				 strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bfs_err_set(err, -EPERM,
				 "env_file '%s': not a regular file", path);
		goto out_close;
	}
	if (st.st_uid != geteuid()) {
		rc = bfs_err_set(
		    err, -EPERM,
		    "env_file '%s': owned by uid %u, not by the user running "
		    "backupfs (uid %u); it holds secrets (chown it)",
		    path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out_close;
	}
	if (st.st_mode & 077) {
		rc = bfs_err_set(
		    err, -EPERM,
		    "env_file '%s': mode %04o lets other users read secrets; "
		    "it must be 0600 (chmod 600 '%s')",
		    path, (unsigned)(st.st_mode & 07777), path);
		goto out_close;
	}
	if (st.st_size > ENV_FILE_MAX) {
		rc =
		    bfs_err_set(err, -EFBIG,
				"env_file '%s': too large (over 64 KiB)", path);
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 2);
	e = calloc(1, sizeof(*e));
	if (!buf || !e) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	n = bfs_read_full(fd, buf, (size_t)st.st_size + 1);
	if (n < 0) {
		rc = bfs_err_set(err, (int)n, "env_file '%s': %s", path,
				 strerror((int)-n));
		goto out_free;
	}
	if (n > st.st_size) {
		rc = bfs_err_set(err, -EAGAIN,
				 "env_file '%s': changed while read", path);
		goto out_free;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', (size_t)n)) {
		rc = bfs_err_set(err, -EINVAL,
				 "env_file '%s': contains a NUL byte", path);
		goto out_free;
	}
	rc = parse_env(buf, path, e, err);
	if (rc)
		goto out_free;
	*out = e;
	e = NULL;
out_free:
	if (buf)
		explicit_bzero(buf, (size_t)(n > 0 ? n : 0));
	free(buf);
	bfs_job_env_free(e);
out_close:
	close(fd);
	return rc;
}
