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
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "source_int.h"

extern char **environ;

#define READ_BUF (1u << 20)

void src_dump_entry(struct bfs_backup *b, struct bfs_entry *e, char *path,
		    unsigned mode)
{
	memset(e, 0, sizeof(*e));
	e->path = path;
	e->path_len = strlen(path);
	e->type = BFS_T_FILE;
	/* a dump is the database's content: private unless asked */
	e->mode = mode ? mode & 07777 : BFS_DUMP_MODE;
	e->uid = getuid();
	e->gid = getgid();
	e->mtime_ns = bfs_now_ns();
}

/* How long a child that outlived its deadline gets after SIGTERM before
 * SIGKILL. */
#define KILL_GRACE_MS 5000

/* End pid: SIGTERM, then SIGKILL after KILL_GRACE_MS; reaped. */
static void kill_child(pid_t pid)
{
	int status, waited = 0;
	pid_t r;

	kill(pid, SIGTERM);
	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return;
		if (waited >= KILL_GRACE_MS)
			break;
		usleep(50 * 1000);
		waited += 50;
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* Copy fd into the open file of b until EOF, then reap pid (> 0) and
 * check how it ended.  deadline: bfs_mono_ns() time after which the
 * child is killed (0: none).  Closes fd; the child is always reaped.  On
 * failure the caller cancels the file. */
static int pump(struct bfs_backup *b, int fd, pid_t pid, int64_t deadline,
		uint64_t timeout_s, const char *desc, struct bfs_err *err)
{
	uint8_t *buf = malloc(READ_BUF);
	int rc = 0, status, rerr = 0;
	ssize_t n;

	if (!buf) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_kill;
	}
	for (;;) {
		if (deadline) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			int64_t left = deadline - bfs_mono_ns();
			int pr = left <= 0
				     ? 0
				     : poll(&pfd, 1, (int)(left / 1000000 + 1));

			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0) {
				rc = bfs_err_set(err, -ETIMEDOUT,
						 "%s did not finish within "
						 "the dump timeout (%llus): "
						 "killed",
						 desc,
						 (unsigned long long)timeout_s);
				goto out_kill;
			}
		}
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
		if (rc)
			goto out_kill;
	}
	close(fd);
	fd = -1;
	if (pid > 0) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		pid = 0;
		if (WIFSIGNALED(status)) {
			rc =
			    bfs_err_set(err, -EIO, "%s was killed by signal %d",
					desc, WTERMSIG(status));
			goto out_free;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status)) {
			rc = bfs_err_set(err, -EIO, "%s exited with status %d",
					 desc, WEXITSTATUS(status));
			goto out_free;
		}
	}
	if (rerr)
		rc = bfs_err_set(err, rerr, "cannot read output of %s: %s",
				 desc, strerror(-rerr));
	goto out_free;
out_kill:
	if (fd >= 0)
		close(fd);
	fd = -1;
	if (pid > 0)
		kill_child(pid);
out_free:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

/* Stream fd into the backup as e.  Closes fd.  pid > 0: the child to reap
 * (killed if the writer fails); desc names it in messages. */
int src_stream_fd(struct bfs_backup *b, struct bfs_entry *e, int fd, pid_t pid,
		  const char *desc, struct bfs_err *err)
{
	int rc = bfs_backup_file_begin(b, e, BFS_PROFILE_DUMP, err);

	if (rc) {
		close(fd);
		if (pid > 0)
			kill_child(pid);
		return rc;
	}
	rc = pump(b, fd, pid, 0, 0, desc, err);
	if (rc)
		bfs_backup_file_cancel(b);
	else
		rc = bfs_backup_file_end(b, err);
	return rc;
}

/* Start argv with stdout to a pipe.  envp NULL: inherit.  keep_fd >= 0:
 * given to the child as SRC_CHILD_FD(keep_fd), without FD_CLOEXEC there
 * (the parent's stays close-on-exec, so no other child inherits it). */
static int spawn(char *const argv[], char *const envp[], int keep_fd,
		 pid_t *pid, int *outfd, const char *desc, struct bfs_err *err)
{
	posix_spawn_file_actions_t fa;
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC))
		return bfs_err_set(err, -errno, "cannot start %s: %s", desc,
				   strerror(errno));
	rc = posix_spawn_file_actions_init(&fa);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	/* after stdout: SRC_CHILD_FD(keep_fd) may be p[1]'s number */
	if (!rc && keep_fd >= 0)
		rc = posix_spawn_file_actions_adddup2(&fa, keep_fd,
						      SRC_CHILD_FD(keep_fd));
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
		  char *const envp[], int keep_fd, unsigned mode,
		  const char *desc, struct bfs_err *err)
{
	struct src_child c = {.argv = argv, .envp = envp, .keep_fd = keep_fd};

	return src_run_children(b, path, &c, 1, mode, 0, desc, err);
}

int src_run_children(struct bfs_backup *b, char *path,
		     const struct src_child *c, size_t n, unsigned mode,
		     uint64_t timeout_s, const char *desc, struct bfs_err *err)
{
	int64_t deadline = 0;
	struct bfs_entry e;
	size_t i;
	pid_t pid = 0;
	int fd = -1, rc;

	if (timeout_s)
		deadline =
		    bfs_mono_ns() +
		    (int64_t)(timeout_s > 315360000 ? 315360000 : timeout_s) *
			1000000000;
	src_dump_entry(b, &e, path, mode);
	rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_DUMP, err);
	if (rc)
		return rc;
	for (i = 0; i < n && !rc; i++) {
		rc = spawn(c[i].argv, c[i].envp, c[i].keep_fd, &pid, &fd, desc,
			   err);
		if (!rc)
			rc = pump(b, fd, pid, deadline, timeout_s, desc, err);
	}
	if (rc)
		bfs_backup_file_cancel(b);
	else
		rc = bfs_backup_file_end(b, err);
	return rc;
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

char **src_env_with(const char *const names[], const char *const values[],
		    size_t n)
{
	size_t ne = 0, k = 0, i, j, nl;
	char **env;

	while (environ[ne])
		ne++;
	env = calloc(ne + n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < ne; i++) {
		for (j = 0; j < n; j++) {
			nl = strlen(names[j]);
			if (!strncmp(environ[i], names[j], nl) &&
			    environ[i][nl] == '=')
				break;
		}
		if (j == n)
			env[k++] = environ[i];
	}
	/* ours go last, where src_env_free finds them */
	for (j = 0; j < n; j++) {
		if (asprintf(&env[k + j], "%s=%s", names[j], values[j]) < 0) {
			env[k + j] = NULL;
			src_env_free(env, j);
			return NULL;
		}
	}
	return env;
}

void src_env_free(char **env, size_t n)
{
	size_t k = 0, j;

	if (!env)
		return;
	while (env[k])
		k++;
	for (j = 0; j < n && j < k; j++) {
		char *v = env[k - 1 - j];

		explicit_bzero(v, strlen(v));
		free(v);
	}
	free(env);
}

int src_secret_fd(const char *name, const void *data, size_t len, int *fd,
		  struct bfs_err *err)
{
	const char *tmp;
	int f, rc;

	*fd = -1;
	f = memfd_create(name, MFD_CLOEXEC);
	if (f < 0 && errno == ENOSYS) {
		/* no memfd (kernel < 3.17): an unnamed file, never linked,
		 * gone with its last descriptor even after SIGKILL */
		tmp = getenv("TMPDIR");
		f = open(tmp && *tmp ? tmp : "/tmp",
			 O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	}
	if (f < 0)
		return bfs_err_set(err, -errno,
				   "cannot create an in-memory file for a "
				   "password: %s",
				   strerror(errno));
	if (f < 3) {
		/* the child's copy must not land on stdin/out/err */
		int g = fcntl(f, F_DUPFD_CLOEXEC, 3);

		rc = g < 0 ? -errno : 0;
		close(f);
		f = g;
		if (rc)
			return bfs_err_set(err, rc, "cannot duplicate: %s",
					   strerror(-rc));
	}
	/* 0600: mysql ignores a world-writable option file */
	rc = fchmod(f, 0600) ? -errno : bfs_write_full(f, data, len);
	if (rc) {
		close(f);
		return bfs_err_set(err, rc,
				   "cannot write an in-memory file for a "
				   "password: %s",
				   strerror(-rc));
	}
	*fd = f;
	return 0;
}

int src_argv_add(struct src_argv *a, char *s, bool owned)
{
	if (!s)
		return -ENOMEM;
	if (a->n + 2 > a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 16;
		char **nv = realloc(a->v, nc * sizeof(*nv));
		char **no = nv ? realloc(a->owned, nc * sizeof(*no)) : NULL;

		if (nv)
			a->v = nv;
		if (!no) {
			if (owned)
				free(s);
			return -ENOMEM;
		}
		a->owned = no;
		a->cap = nc;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
	if (owned)
		a->owned[a->nowned++] = s;
	return 0;
}

int src_argv_addf(struct src_argv *a, const char *fmt, const char *v)
{
	char *s;

	if (asprintf(&s, fmt, v) < 0)
		return -ENOMEM;
	return src_argv_add(a, s, true);
}

void src_argv_free(struct src_argv *a)
{
	for (size_t i = 0; i < a->nowned; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->v);
}
