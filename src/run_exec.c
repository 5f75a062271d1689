/* run_exec.c - start one child of a job run (a hook or a step), capture
 * its output, enforce the hook timeout on its whole process group
 * (src/run.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "util.h"

#define OUT_MAX (16u << 20)
#define TICK_MS 20

/* In the child: wire fds and exec.  Only async-signal-safe calls. */
static void child(char *const *argv, char *const *envp,
		  const struct bfs_child_opts *co, int out_w)
{
	int nul;

	if (co->own_group)
		setpgid(0, 0);
	/* the runner may ignore these; a hook must see the defaults */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	if (!co->keep_stdin) {
		nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0)
			_exit(127);
		if (nul > 2)
			close(nul);
	}
	if (dup2(out_w >= 0 ? out_w : co->log_fd, 1) < 0 ||
	    dup2(co->log_fd, 2) < 0)
		_exit(127);
	execve(argv[0], argv, envp);
	_exit(127);
}

/* Read what is there from fd into out (beyond OUT_MAX: dropped).
 * Returns false at EOF or error. */
static bool drain(int fd, struct bfs_buf *out)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	if (out->len + (size_t)n <= OUT_MAX)
		bfs_buf_append(out, buf, (size_t)n);
	return true;
}

int bfs_run_child(char *const *argv, char *const *envp,
		  const struct bfs_child_opts *co, int *status, bool *timed_out,
		  struct bfs_err *err)
{
	int64_t start = bfs_mono_ns(), term_at = 0;
	unsigned grace = co->kill_grace_s ? co->kill_grace_s : 5;
	int pipefd[2] = {-1, -1}, rc = 0;
	bool reaped = false;
	pid_t pid, w;

	*timed_out = false;
	*status = 0;
	if (co->out && pipe2(pipefd, O_CLOEXEC) < 0)
		return bfs_err_set(err, -errno, "cannot create a pipe: %s",
				   strerror(errno));
	pid = fork();
	if (pid < 0) {
		rc = bfs_err_set(err, -errno, "cannot fork: %s",
				 strerror(errno));
		goto out_close;
	}
	if (pid == 0)
		child(argv, envp, co, pipefd[1]);
	if (co->own_group)
		setpgid(pid, pid); /* also here: no race with kill(-pid) */
	if (pipefd[1] >= 0) {
		close(pipefd[1]);
		pipefd[1] = -1;
	}
	while (!reaped) {
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		int64_t now;

		if (pipefd[0] >= 0 && poll(&pfd, 1, TICK_MS) > 0 &&
		    !drain(pipefd[0], co->out)) {
			close(pipefd[0]);
			pipefd[0] = -1;
		} else if (pipefd[0] < 0) {
			struct timespec ts = {0, TICK_MS * 1000000L};

			nanosleep(&ts, NULL);
		}
		/* reap only once stdout is at EOF, so nothing is lost */
		if (pipefd[0] < 0 || !co->out) {
			w = waitpid(pid, status, WNOHANG);
			if (w == pid) {
				reaped = true;
				break;
			}
			if (w < 0 && errno != EINTR) {
				rc = bfs_err_set(err, -errno, "waitpid: %s",
						 strerror(errno));
				goto out_close;
			}
		}
		if (!co->timeout_s)
			continue;
		now = bfs_mono_ns();
		if (!term_at &&
		    now - start >= (int64_t)co->timeout_s * 1000000000LL) {
			*timed_out = true;
			kill(co->own_group ? -pid : pid, SIGTERM);
			term_at = now;
		} else if (term_at &&
			   now - term_at >= (int64_t)grace * 1000000000LL) {
			kill(co->own_group ? -pid : pid, SIGKILL);
			term_at = INT64_MAX / 2; /* once */
			if (pipefd[0] >= 0) {
				/* a grandchild may hold the pipe: stop
				 * reading, the pid is what we wait for */
				close(pipefd[0]);
				pipefd[0] = -1;
			}
		}
	}
out_close:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	return rc;
}
