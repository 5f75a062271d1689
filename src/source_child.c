/* source_child.c - plumbing for the sources that stream one file from a
 * child process or a descriptor (command, stdin, pg_dump, mysqldump).
 *
 * Children are started with posix_spawnp, stdout to a pipe that is read
 * in 1 MiB pieces straight into the chunker (nothing is buffered whole),
 * stderr passes through.  A child that exits non-zero or dies from a
 * signal fails the source; if the writer fails first, the child is killed
 * and reaped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "source_int.h"

extern char **environ;

#define READ_BUF (1u << 20)

void src_dump_entry(struct bfs_backup *b, struct bfs_entry *e, char *path)
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
int src_stream_fd(struct bfs_backup *b, struct bfs_entry *e, int fd, pid_t pid,
		  const char *desc, struct bfs_err *err)
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
			rc =
			    bfs_err_set(err, -EIO, "%s was killed by signal %d",
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
static int spawn(char *const argv[], char *const envp[], pid_t *pid, int *outfd,
		 const char *desc, struct bfs_err *err)
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

int src_run_child(struct bfs_backup *b, char *path, char *const argv[],
		  char *const envp[], const char *desc, struct bfs_err *err)
{
	struct bfs_entry e;
	pid_t pid;
	int fd = -1, rc;

	rc = spawn(argv, envp, &pid, &fd, desc, err);
	if (rc)
		return rc;
	src_dump_entry(b, &e, path);
	return src_stream_fd(b, &e, fd, pid, desc, err);
}

int src_add(struct bfs_backup *b, const char *kind, const char *dest,
	    const char *spec, struct bfs_err *err)
{
	struct bfs_buf key = {0};
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

/* A copy of environ with NAME=value set (replacing any). */
char **src_env_with(const char *name, const char *value)
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

void src_env_free(char **env)
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

bool src_in_path(const char *prog)
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
