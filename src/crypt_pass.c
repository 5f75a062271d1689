/* crypt_pass.c - where a repository password comes from: a file (its
 * first line), a command run by `sh -c` (the first line of its output),
 * or the environment.  Never from argv.  See crypt_pass.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "crypt_pass.h"

#define PASS_MAX 4096

/* Keep the first line of b (without \r\n); the rest is wiped. */
static int first_line(struct bfs_buf *b, const char *what, struct bfs_err *err)
{
	uint8_t *nl = b->len ? memchr(b->data, '\n', b->len) : NULL;
	size_t n = nl ? (size_t)(nl - b->data) : b->len;

	if (n && b->data[n - 1] == '\r')
		n--;
	if (n < b->len)
		OPENSSL_cleanse(b->data + n, b->len - n);
	b->len = n;
	if (n == 0)
		return bfs_err_set(err, -EINVAL,
				   "the password from %s is empty", what);
	if (memchr(b->data, '\0', n))
		return bfs_err_set(err, -EINVAL,
				   "the password from %s holds a NUL byte",
				   what);
	return 0;
}

/* Read fd to the end (at most PASS_MAX bytes) into b. */
static int read_all(int fd, struct bfs_buf *b)
{
	for (;;) {
		ssize_t got;
		int rc = bfs_buf_reserve(b, 512);

		if (rc)
			return rc;
		got = read(fd, b->data + b->len, 512);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return 0;
		b->len += (size_t)got;
		if (b->len > PASS_MAX)
			return -EFBIG;
	}
}

static int from_file(const char *path, struct bfs_buf *b, struct bfs_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), rc;

	if (fd < 0)
		return bfs_err_set(err, -errno,
				   "cannot read the password file '%s': %s",
				   path, strerror(errno));
	rc = read_all(fd, b);
	close(fd);
	if (rc)
		return bfs_err_set(err, rc,
				   "cannot read the password file '%s': %s",
				   path, strerror(-rc));
	return first_line(b, "the password file", err);
}

static int from_command(const char *cmd, struct bfs_buf *b, struct bfs_err *err)
{
	int fds[2], status = 0, rc;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC))
		return bfs_err_set(err, -errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(fds[0]);
		close(fds[1]);
		return bfs_err_set(err, rc, "fork: %s", strerror(-rc));
	}
	if (pid == 0) {
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	rc = read_all(fds[0], b);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc)
		return bfs_err_set(err, rc,
				   "cannot read the output of the password "
				   "command: %s",
				   strerror(-rc));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return bfs_err_set(err, -EINVAL,
				   "the password command failed (exit status "
				   "%d)",
				   WIFEXITED(status) ? WEXITSTATUS(status)
						     : -1);
	return first_line(b, "the password command", err);
}

int bfs_password_read(const char *file, const char *command,
		      const char *env_prefix, struct bfs_buf *out,
		      struct bfs_err *err)
{
	char name[64];
	const char *v;
	int rc;

	bfs_password_free(out);
	if (!file && !command) {
		snprintf(name, sizeof(name), "%s_FILE", env_prefix);
		file = getenv(name);
		if (file && !*file)
			file = NULL;
	}
	if (!file && !command) {
		snprintf(name, sizeof(name), "%s_COMMAND", env_prefix);
		command = getenv(name);
		if (command && !*command)
			command = NULL;
	}
	if (file)
		rc = from_file(file, out, err);
	else if (command)
		rc = from_command(command, out, err);
	else if ((v = getenv(env_prefix)) && *v) {
		rc = bfs_buf_append(out, v, strlen(v));
		if (rc)
			rc = bfs_err_set(err, rc, "out of memory");
		else
			rc = first_line(out, env_prefix, err);
	} else {
		return 0;
	}
	if (rc)
		bfs_password_free(out);
	return rc ? rc : 1;
}

void bfs_password_free(struct bfs_buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->cap);
	bfs_buf_free(b);
}

bool bfs_password_given(const char *file, const char *command,
			const char *env_prefix)
{
	static const char *const sfx[] = {"_FILE", "_COMMAND", ""};
	char name[64];
	const char *v;
	size_t i;

	if (file || command)
		return true;
	for (i = 0; i < BFS_ARRAY_SIZE(sfx); i++) {
		snprintf(name, sizeof(name), "%s%s", env_prefix, sfx[i]);
		v = getenv(name);
		if (v && *v)
			return true;
	}
	return false;
}
