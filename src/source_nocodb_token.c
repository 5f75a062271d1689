/* source_nocodb_token.c - --nocodb-token-file: the API token from a file
 * that only its owner can read (the rules of job env files). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source.h"

#define TOKEN_MAX 4096

int bfs_nocodb_read_token(const char *path, char **token, struct bfs_err *err)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd, rc = 0;

	*token = NULL;
	/* O_NONBLOCK: a FIFO must not hang us; it is refused below */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return bfs_err_set(err, -errno, "token file '%s': %s", path,
				   strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = bfs_err_set(err, -errno, "token file '%s': %s", path,
				 strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bfs_err_set(err, -EPERM,
				 "token file '%s': not a regular file", path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		rc =
		    bfs_err_set(err, -EPERM,
				"token file '%s': owned by uid %u, not by the "
				"user running backupfs (uid %u); it holds a "
				"secret (chown it)",
				path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out;
	}
	if (st.st_mode & 077) {
		rc = bfs_err_set(err, -EPERM,
				 "token file '%s': mode %04o lets other users "
				 "read the token; it must be 0600 (chmod 600 "
				 "'%s')",
				 path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	buf = malloc(TOKEN_MAX + 1);
	if (!buf) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	n = bfs_read_full(fd, buf, TOKEN_MAX + 1);
	if (n < 0) {
		rc = bfs_err_set(err, (int)n, "token file '%s': %s", path,
				 strerror((int)-n));
		goto out;
	}
	if (n > TOKEN_MAX) {
		rc = bfs_err_set(err, -EFBIG,
				 "token file '%s': too large (over 4 KiB)",
				 path);
		goto out;
	}
	while (n && strchr(" \t\r\n", buf[n - 1]))
		n--;
	buf[n] = '\0';
	if (!n || memchr(buf, '\n', (size_t)n) || strlen(buf) != (size_t)n) {
		rc = bfs_err_set(err, -EINVAL,
				 "token file '%s': expected one line holding "
				 "the token",
				 path);
		goto out;
	}
	*token = buf;
	buf = NULL;
out:
	if (buf) {
		explicit_bzero(buf, TOKEN_MAX + 1);
		free(buf);
	}
	close(fd);
	return rc;
}

int bfs_nocodb_token(const char *path, char **token, struct bfs_err *err)
{
	const char *env = getenv("NOCODB_API_TOKEN");

	*token = NULL;
	if (path)
		return bfs_nocodb_read_token(path, token, err);
	if (!env || !*env)
		return bfs_err_set(err, -ENOKEY,
				   "no NocoDB API token: set NOCODB_API_TOKEN "
				   "or give --nocodb-token-file FILE");
	*token = strdup(env);
	return *token ? 0 : bfs_err_set(err, -ENOMEM, "out of memory");
}
