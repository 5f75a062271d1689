/* run.c - run one job (src/run.h; the order of the steps and their
 * outcomes are in doc/JOBS.md "Running a job").
 *
 * The steps are child processes: hooks by /bin/sh -c in their own process
 * group, the backup, copy, forget, prune and check by this same binary.
 * Everything they print goes to the run log; the runner adds its own
 * timestamped lines.  The run log is the raw truth and is 0600 in a 0700
 * directory; what leaves the host (notifications) or the state files
 * (summaries) is redacted. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobstate.h"
#include "log.h"
#include "run.h"
#include "util.h"

extern char **environ;

/* Set by the SIGTERM/SIGINT handler bfs_run_job installs while it runs
 * (a signal handler can only reach a global; one job runs at a time per
 * process, as the reaping of children requires anyway). */
static volatile sig_atomic_t run_stop;

static void on_signal(int sig)
{
	run_stop = sig;
}

#define TAIL_BYTES 4096
#define TAIL_LINES 20

struct run {
	const struct bfs_run_opts *o;
	const char *self;
	struct bfs_job *job;
	struct bfs_job_env *env;
	char **envp; /* environ + env_file: the steps' environment */
	int log_fd;
	char log_path[PATH_MAX];
	struct bfs_redactor *red;
	const char **secrets;
	size_t nsecrets;
	struct bfs_notify_channel *chs;
	struct bfs_notify_opts no; /* secrets, env_file lookup */
	/* outcome */
	enum bfs_run_status status;
	char *backup_id;
	uint64_t files, bytes_read, bytes_added;
	char **warnings;
	size_t nwarnings;
	char *error;	     /* the first error */
	char last_line[512]; /* the last line the last step printed */
	bool interrupted;    /* "interrupted" was recorded */
	int64_t start_ns, mono0;
};

void bfs_run_result_clear(struct bfs_run_result *r)
{
	free(r->job);
	free(r->json);
	free(r->backup_id);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

/* A line into the run log ("2026-11-26 05:15:00 text"), and to stderr
 * unless quiet. */
__attribute__((format(printf, 2, 3))) static void rlog(struct run *r,
						       const char *fmt, ...)
{
	struct bfs_buf b = {0};
	time_t now = time(NULL);
	struct tm tm;
	char ts[32] = "";
	va_list ap;
	char *msg;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (localtime_r(&now, &tm))
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	if (r->red) {
		char *red = bfs_redact(r->red, msg);

		if (red) {
			free(msg);
			msg = red;
		}
	}
	if (r->log_fd >= 0 && !bfs_buf_printf(&b, "%s backupfs: %s\n", ts, msg))
		bfs_write_full(r->log_fd, b.data, b.len);
	if (!r->o->quiet)
		fprintf(stderr, "backupfs run: %s: %s\n", r->job->name, msg);
	bfs_buf_free(&b);
	free(msg);
}

/* Worsen the run's status to st; the first error text is kept. */
__attribute__((format(printf, 3, 4))) static void
set_status(struct run *r, enum bfs_run_status st, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg)
		rlog(r, "%s", msg);
	if (st == BFS_RUN_FAILED && !r->error) {
		r->error = msg;
		msg = NULL;
	} else if (st == BFS_RUN_WARNING && msg) {
		char **w =
		    realloc(r->warnings, (r->nwarnings + 1) * sizeof(*w));

		if (w) {
			r->warnings = w;
			w[r->nwarnings++] = msg;
			msg = NULL;
		}
	}
	if (st > r->status)
		r->status = st;
	free(msg);
}

/* True once SIGTERM/SIGINT arrived; the first call fails the run with
 * "interrupted". */
static bool interrupted(struct run *r)
{
	if (!run_stop)
		return false;
	if (!r->interrupted) {
		r->interrupted = true;
		set_status(r, BFS_RUN_FAILED, "interrupted by %s",
			   run_stop == SIGINT ? "SIGINT" : "SIGTERM");
	}
	return true;
}

/* Redact one line (NULs kept: each segment between them separately)
 * into out.  Returns 1 if anything was replaced, 0 if not, -ENOMEM. */
static int redact_line(const struct bfs_redactor *red, const char *line,
		       size_t len, struct bfs_buf *out)
{
	size_t i = 0;
	int changed = 0;

	while (i <= len) {
		size_t seg = strnlen(line + i, len - i);
		char *copy = strndup(line + i, seg), *red_seg;

		red_seg = copy ? bfs_redact(red, copy) : NULL;
		if (!red_seg) {
			free(copy);
			return -ENOMEM;
		}
		changed |= strcmp(copy, red_seg) != 0;
		if (bfs_buf_append(out, red_seg, strlen(red_seg)) ||
		    (i + seg < len && bfs_buf_append(out, "", 1))) {
			free(copy);
			free(red_seg);
			return -ENOMEM;
		}
		free(copy);
		free(red_seg);
		i += seg + 1;
	}
	return changed;
}

/* After every child: the run log with each secret replaced, so that no
 * log keeps one (a hook may echo its environment; a dump tool's error may
 * quote a connection string).  The log is rewritten to a temp file and
 * renamed over run.log only when something was replaced; the log fd is
 * then reopened (a daemon a hook started keeps writing to the old,
 * unlinked file).  Failures are logged on stderr and leave the log as it
 * is. */
static void scrub_log(struct run *r)
{
	char tmp[PATH_MAX + 8];
	struct bfs_buf out = {0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *in;
	int changed = 0, rc = 0, fd = -1;

	if (!r->red || !r->nsecrets || r->log_fd < 0)
		return;
	in = fopen(r->log_path, "re");
	if (!in)
		return;
	while (rc >= 0 && (n = getline(&line, &cap, in)) > 0) {
		rc = redact_line(r->red, line, (size_t)n, &out);
		if (rc > 0)
			changed = 1;
	}
	fclose(in);
	free(line);
	if (rc < 0 || !changed)
		goto out;
	snprintf(tmp, sizeof(tmp), "%s.tmp", r->log_path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0 || bfs_write_full(fd, out.data, out.len) < 0 ||
	    rename(tmp, r->log_path) < 0) {
		fprintf(stderr,
			"backupfs run: %s: cannot rewrite the run log '%s' "
			"without its secrets: %s\n",
			r->job->name, r->log_path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	close(r->log_fd);
	r->log_fd = fd;
	fd = -1;
	if (fcntl(r->log_fd, F_SETFL, O_APPEND) < 0 ||
	    lseek(r->log_fd, 0, SEEK_END) < 0)
		fprintf(stderr, "backupfs run: %s: run log: %s\n", r->job->name,
			strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	bfs_buf_free(&out);
}

/* The last non-empty line the run log holds (for error texts), or "". */
static void last_log_line(struct run *r, char *buf, size_t n)
{
	char tail[1024], *p;
	ssize_t got;
	size_t len;
	off_t end;
	int fd;

	buf[0] = '\0';
	fd = open(r->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		end = 0;
	got = bfs_pread_full(
	    fd, tail, sizeof(tail) - 1,
	    end > (off_t)sizeof(tail) - 1 ? end - (off_t)sizeof(tail) + 1 : 0);
	close(fd);
	if (got <= 0)
		return;
	tail[got] = '\0';
	while (got > 0 && (tail[got - 1] == '\n' || tail[got - 1] == ' '))
		tail[--got] = '\0';
	p = strrchr(tail, '\n') ? strrchr(tail, '\n') + 1 : tail;
	len = strlen(p) < n - 1 ? strlen(p) : n - 1;
	memcpy(buf, p, len);
	buf[len] = '\0';
}

/* The last lines of the run log, allocated (NULL if unreadable). */
static char *log_tail(struct run *r)
{
	char *buf = malloc(TAIL_BYTES + 1), *p;
	ssize_t got;
	off_t end;
	int fd, lines = 0;

	if (!buf)
		return NULL;
	fd = open(r->log_path, O_RDONLY | O_CLOEXEC);
	end = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
	got = end < 0 ? -1
		      : bfs_pread_full(fd, buf, TAIL_BYTES,
				       end > TAIL_BYTES ? end - TAIL_BYTES : 0);
	if (fd >= 0)
		close(fd);
	if (got < 0) {
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	for (size_t i = 0; i < (size_t)got; i++)
		if (!buf[i])
			buf[i] = ' ';
	p = buf + got;
	while (p > buf && (p[-1] != '\n' || ++lines <= TAIL_LINES))
		p--;
	memmove(buf, p, strlen(p) + 1);
	return buf;
}

/* The environment of a hook: the steps' plus BACKUPFS_*. */
static char **hook_env(struct run *r, const char *status)
{
	struct bfs_buf a = {0}, b = {0}, c = {0};
	char **envp = NULL;

	if (!bfs_buf_printf(&a, "BACKUPFS_JOB=%s", r->job->name) &&
	    !bfs_buf_printf(&b, "BACKUPFS_BACKUP_ID=%s",
			    r->backup_id ? r->backup_id : "") &&
	    !bfs_buf_printf(&c, "BACKUPFS_STATUS=%s", status) &&
	    !bfs_buf_append(&a, "", 1) && !bfs_buf_append(&b, "", 1) &&
	    !bfs_buf_append(&c, "", 1)) {
		const char *extra[] = {(char *)a.data, (char *)b.data,
				       (char *)c.data};

		bfs_envp_build(r->envp, NULL, extra, 3, &envp);
	}
	bfs_buf_free(&a);
	bfs_buf_free(&b);
	bfs_buf_free(&c);
	return envp;
}

static void describe(int status, bool timed_out, uint64_t timeout, char *buf,
		     size_t n)
{
	if (timed_out)
		snprintf(buf, n, "timed out after %llus",
			 (unsigned long long)timeout);
	else if (WIFEXITED(status))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, n, "wait status %d", status);
}

/* Run the hooks of one phase in order.  stop_at_failure: the first
 * failure ends the phase (pre).  Returns true if all succeeded; *started
 * (may be NULL) tells whether any command was started. */
static bool run_hooks(struct run *r, const char *phase, const char **cmds,
		      size_t n, bool stop_at_failure, const char *status,
		      enum bfs_run_status on_fail, bool *started)
{
	struct bfs_child_opts co = {.log_fd = r->log_fd,
				    .own_group = true,
				    .timeout_s = r->job->hooks.timeout,
				    .kill_grace_s = r->o->kill_grace_s,
				    /* post restarts the app: never cut it */
				    .stop = strcmp(phase, "post") ? &run_stop
								  : NULL};
	char **envp = n ? hook_env(r, status) : NULL;
	bool all_ok = true;
	char what[64];

	if (started)
		*started = false;
	if (n && !envp) {
		set_status(r, on_fail, "hooks.%s: out of memory", phase);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char *argv[] = {"/bin/sh", "-c", (char *)cmds[i], NULL};
		struct bfs_err err = {{0}};
		int64_t t0 = bfs_mono_ns();
		bool timed_out;
		int st, rc;

		if (co.stop && interrupted(r))
			break;
		rlog(r, "hooks.%s[%zu]: started", phase, i);
		if (started)
			*started = true;
		rc = bfs_run_child(argv, envp, &co, &st, &timed_out, &err);
		scrub_log(r);
		co.log_fd = r->log_fd;
		if (co.stop)
			interrupted(r); /* the reason comes first */
		if (rc < 0) {
			set_status(r, on_fail, "hooks.%s[%zu]: %s", phase, i,
				   bfs_err_str(&err, rc));
			all_ok = false;
		} else if (timed_out || !WIFEXITED(st) || WEXITSTATUS(st)) {
			describe(st, timed_out, co.timeout_s, what,
				 sizeof(what));
			set_status(r, on_fail, "hooks.%s[%zu] failed: %s",
				   phase, i, what);
			all_ok = false;
		} else {
			rlog(r, "hooks.%s[%zu]: ok (%.1f s)", phase, i,
			     (double)(bfs_mono_ns() - t0) / 1e9);
		}
		if (!all_ok && stop_at_failure)
			break;
	}
	bfs_envp_free(envp);
	return all_ok;
}

/* Run one step (this binary).  Returns its exit code, or -1 when it
 * could not run or died of a signal (logged).  A SIGTERM or SIGINT of
 * the run reaches the step as SIGTERM (a service manager signals the
 * run alone): a backup, copy or prune stopped so leaves nothing half
 * made, and the post hooks run at once instead of after it. */
static int run_step(struct run *r, const char *name, char **argv,
		    struct bfs_buf *out)
{
	struct bfs_child_opts co = {.log_fd = r->log_fd,
				    .out = out,
				    .keep_stdin = out != NULL,
				    .stop = &run_stop};
	struct bfs_err err = {{0}};
	int64_t t0 = bfs_mono_ns();
	bool timed_out;
	char what[64];
	int st, rc;

	if (interrupted(r)) {
		snprintf(r->last_line, sizeof(r->last_line), "skipped");
		rlog(r, "%s: skipped (interrupted)", name);
		return -1;
	}
	rlog(r, "%s: started", name);
	rc = bfs_run_child(argv, r->envp, &co, &st, &timed_out, &err);
	scrub_log(r);
	interrupted(r); /* the reason comes first */
	if (rc < 0) {
		snprintf(r->last_line, sizeof(r->last_line), "%s",
			 bfs_err_str(&err, rc));
		rlog(r, "%s: %s", name, r->last_line);
		return -1;
	}
	last_log_line(r, r->last_line, sizeof(r->last_line));
	describe(st, false, 0, what, sizeof(what));
	rlog(r, "%s: %s (%.1f s)", name, what,
	     (double)(bfs_mono_ns() - t0) / 1e9);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void do_backup(struct run *r)
{
	struct bfs_strv a = {0};
	struct bfs_buf out = {0};
	struct bfs_err err = {{0}};
	char **w = NULL;
	bool partial = false;
	size_t nw = 0;
	int code;

	if (bfs_run_backup_argv(r->job, r->self, &a) < 0) {
		set_status(r, BFS_RUN_FAILED, "backup: out of memory");
		goto out;
	}
	code = run_step(r, "backup", a.v, &out);
	if (code != 0 && code != 3) {
		set_status(r, BFS_RUN_FAILED, "backup failed%s: %s",
			   code < 0 ? " (did not finish)" : "", r->last_line);
		goto out;
	}
	if (bfs_buf_append(&out, "", 1) ||
	    bfs_run_parse_backup_json((char *)out.data, &r->backup_id, &partial,
				      &r->files, &r->bytes_read,
				      &r->bytes_added, &w, &nw, &err) < 0) {
		set_status(r, BFS_RUN_FAILED, "backup: %s",
			   bfs_err_str(&err, -EINVAL));
		goto out;
	}
	rlog(r, "backup: wrote '%s'", r->backup_id);
	for (size_t i = 0; i < nw; i++) {
		set_status(r, BFS_RUN_WARNING, "%s", w[i]);
		free(w[i]);
	}
	free(w);
	if (code == 3 && nw == 0)
		set_status(r, BFS_RUN_WARNING, "the backup is partial");
out:
	bfs_buf_free(&out);
	bfs_strv_free(&a);
}

/* Run SELF CMD ARGS... (NULL-terminated) as step name; false if it
 * failed (then the run failed). */
static bool simple_step(struct run *r, const char *name, ...)
{
	struct bfs_strv a = {0};
	const char *s;
	va_list ap;
	int rc = bfs_strv_add(&a, r->self), code;

	va_start(ap, name);
	while (!rc && (s = va_arg(ap, const char *)))
		rc = bfs_strv_add(&a, s);
	va_end(ap);
	if (rc) {
		set_status(r, BFS_RUN_FAILED, "%s: out of memory", name);
		bfs_strv_free(&a);
		return false;
	}
	code = run_step(r, name, a.v, NULL);
	if (code != 0)
		set_status(r, BFS_RUN_FAILED, "%s failed: %s", name,
			   r->last_line);
	bfs_strv_free(&a);
	return code == 0;
}

static void do_retention(struct run *r)
{
	struct bfs_strv a = {0};
	struct bfs_err err = {{0}};
	time_t last = 0, now;
	int code;

	if (bfs_run_forget_argv(r->job, r->self, &a) < 0) {
		set_status(r, BFS_RUN_FAILED, "forget: out of memory");
		goto out;
	}
	code = run_step(r, "forget", a.v, NULL);
	if (code != 0) {
		set_status(r, BFS_RUN_FAILED, "forget failed: %s",
			   r->last_line);
		goto out;
	}
	if (bfs_jobstate_last_prune(r->o->state_dir, r->job->name, &last,
				    &err) < 0)
		rlog(r, "%s (pruning as if never pruned)", err.msg);
	now = time(NULL);
	if (!bfs_run_prune_due(&r->job->retention, last, now)) {
		rlog(r, "prune: not due (retention.prune)");
		goto out;
	}
	if (simple_step(r, "prune", "prune", "-r", r->job->repository, NULL) &&
	    bfs_jobstate_set_last_prune(r->o->state_dir, r->job->name, now,
					&err) < 0)
		rlog(r, "%s", err.msg);
out:
	bfs_strv_free(&a);
}

/* After a backup was written: copies, retention, verify. */
static void after_backup(struct run *r)
{
	const struct bfs_job *j = r->job;
	bool copies_ok = true;
	char name[32];

	for (size_t i = 0; i < j->ncopy_to; i++) {
		snprintf(name, sizeof(name), "copy_to[%zu]", i);
		copies_ok &=
		    simple_step(r, name, "copy", "--from", j->repository,
				"--to", j->copy_to[i], r->backup_id, NULL);
	}
	if (j->delete_local_after_copy && j->ncopy_to) {
		if (copies_ok)
			simple_step(r, "delete_local_after_copy", "forget",
				    "-r", j->repository, r->backup_id, NULL);
		else
			rlog(r, "delete_local_after_copy: skipped, a copy "
				"failed: the backup stays in the repository");
	}
	/* never remove local backups while the offsite copy lags behind */
	if (j->retention.set && !copies_ok)
		rlog(r, "retention: skipped, a copy failed");
	else if (j->retention.set)
		do_retention(r);
	if (j->verify == BFS_JOB_VERIFY_SUBSET)
		simple_step(r, "verify", "check", "-r", j->repository,
			    "--read-data-subset", j->verify_subset, NULL);
	else if (j->verify == BFS_JOB_VERIFY_ALL)
		simple_step(r, "verify", "check", "-r", j->repository,
			    "--read-data", NULL);
}

static void print_plan(struct run *r)
{
	const struct bfs_job *j = r->job;
	struct bfs_strv a = {0};

	printf("job %s:\n", j->name);
	for (size_t i = 0; i < j->hooks.npre; i++)
		printf("  hooks.pre[%zu]: %s\n", i, j->hooks.pre[i]);
	if (!bfs_run_backup_argv(j, "backupfs", &a)) {
		printf("  run:");
		for (size_t i = 0; i < a.n; i++)
			printf(" '%s'", a.v[i]);
		printf("\n");
	}
	bfs_strv_free(&a);
	for (size_t i = 0; i < j->ncopy_to; i++)
		printf("  copy_to[%zu]: backupfs copy --from '%s' --to '%s' "
		       "ID\n",
		       i, j->repository, j->copy_to[i]);
	if (j->delete_local_after_copy)
		printf("  then: backupfs forget -r '%s' ID\n", j->repository);
	if (j->retention.set && !bfs_run_forget_argv(j, "backupfs", &a)) {
		printf("  run:");
		for (size_t i = 0; i < a.n; i++)
			printf(" '%s'", a.v[i]);
		printf("\n  then prune when due (retention.prune)\n");
	}
	bfs_strv_free(&a);
	if (j->verify != BFS_JOB_VERIFY_NONE)
		printf("  verify: backupfs check -r '%s' %s%s\n", j->repository,
		       j->verify == BFS_JOB_VERIFY_ALL ? "--read-data"
						       : "--read-data-subset ",
		       j->verify == BFS_JOB_VERIFY_ALL ? "" : j->verify_subset);
	for (size_t i = 0; i < j->hooks.npost; i++)
		printf("  hooks.post[%zu]: %s\n", i, j->hooks.post[i]);
	printf("  notify: %zu channel(s)\n", j->nnotify);
}

/* Build the summary, redact it, record it (unless !record), notify. */
static int finish(struct run *r, bool record, struct bfs_run_result *res)
{
	struct bfs_run_summary s = {0};
	struct bfs_err err = {{0}};
	char *tail = log_tail(r), *rtail = NULL, *rerr = NULL;
	char **rw = calloc(r->nwarnings + 1, sizeof(*rw)), host[256] = "";
	int rc = -ENOMEM, nfail;

	if (!rw)
		goto out;
	rtail = r->red ? bfs_redact(r->red, tail) : tail ? strdup(tail) : NULL;
	rerr = r->red	  ? bfs_redact(r->red, r->error)
	       : r->error ? strdup(r->error)
			  : NULL;
	for (size_t i = 0; i < r->nwarnings; i++)
		rw[i] = r->red ? bfs_redact(r->red, r->warnings[i])
			       : strdup(r->warnings[i]);
	if (gethostname(host, sizeof(host) - 1) == 0)
		s.host = host;
	s.job = r->job->name;
	s.backup_id = r->backup_id;
	s.status = r->status;
	s.start_ns = r->start_ns;
	s.duration_ns = bfs_mono_ns() - r->mono0;
	s.bytes_read = r->bytes_read;
	s.bytes_added = r->bytes_added;
	s.files = r->files;
	s.warnings = (const char *const *)rw;
	s.nwarnings = r->nwarnings;
	s.error = rerr;
	s.log_tail = rtail;
	rlog(r, "finished: %s (%.1f s)%s%s", bfs_run_status_name(r->status),
	     (double)s.duration_ns / 1e9, rerr ? ": " : "", rerr ? rerr : "");
	if (record && bfs_jobstate_record(r->o->state_dir, &s, &err) < 0)
		rlog(r, "cannot record the run: %s", err.msg);
	nfail = bfs_notify_send(r->chs, r->chs ? r->job->nnotify : 0, &s,
				&r->no, NULL);
	if (nfail > 0)
		rlog(r, "%d notification channel(s) failed (see the log)",
		     nfail);
	rc = bfs_run_summary_json(&s, true, &res->json, &err);
	if (rc)
		goto out;
	res->status = r->status;
	res->duration_s = (double)s.duration_ns / 1e9;
	res->bytes_added = r->bytes_added;
	if ((r->backup_id && !(res->backup_id = strdup(r->backup_id))) ||
	    (rerr && !(res->error = strdup(rerr))))
		rc = -ENOMEM;
out:
	for (size_t i = 0; rw && i < r->nwarnings; i++)
		free(rw[i]);
	free(rw);
	free(tail);
	free(rtail);
	free(rerr);
	return rc;
}

static void run_free(struct run *r)
{
	if (r->log_fd >= 0)
		close(r->log_fd);
	bfs_redactor_free(r->red);
	free(r->secrets);
	free(r->chs);
	bfs_envp_free(r->envp);
	bfs_job_env_free(r->env);
	bfs_job_free(r->job);
	free(r->backup_id);
	for (size_t i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	free(r->error);
}

static const char *env_lookup(void *ctx, const char *name)
{
	struct run *r = ctx;
	size_t kl = strlen(name);

	for (char **p = r->envp; p && *p; p++)
		if (strncmp(*p, name, kl) == 0 && (*p)[kl] == '=')
			return *p + kl + 1;
	return NULL;
}

/* Environment, secrets, redactor, channels.  false: the run failed. */
static bool prepare(struct run *r)
{
	struct bfs_err err = {{0}};
	int rc;

	if (r->job->env_file) {
		rc = bfs_job_load_env(r->job->env_file, &r->env, &err);
		if (rc < 0) {
			set_status(r, BFS_RUN_FAILED, "%s",
				   bfs_err_str(&err, rc));
			/* still build what notify needs below */
		}
	}
	if (bfs_envp_build(environ, r->env, NULL, 0, &r->envp) < 0 ||
	    bfs_run_secrets(r->job, r->env, r->envp, &r->secrets,
			    &r->nsecrets) < 0 ||
	    !(r->red = bfs_redactor_new(r->secrets, r->nsecrets)) ||
	    bfs_run_channels(r->job, &r->chs) < 0) {
		set_status(r, BFS_RUN_FAILED, "out of memory");
		return false;
	}
	r->no.secrets = r->secrets;
	r->no.nsecrets = r->nsecrets;
	r->no.getenv_fn = env_lookup;
	r->no.getenv_ctx = r;
	return r->status != BFS_RUN_FAILED;
}

int bfs_run_job(const char *path, const struct bfs_run_opts *o,
		struct bfs_run_result *res, struct bfs_err *err)
{
	struct run r = {.o = o, .log_fd = -1};
	struct bfs_run_summary s0 = {0};
	char dir[PATH_MAX];
	struct sigaction sa = {0}, old_term, old_int;
	bool record = true, pre_ok, pre_started, handlers = false;
	int lock = -1, rc;

	memset(res, 0, sizeof(*res));
	run_stop = 0;
	r.self = o->self ? o->self : "/proc/self/exe";
	r.start_ns = bfs_now_ns();
	r.mono0 = bfs_mono_ns();
	rc = bfs_job_load(path, &r.job, err);
	if (rc < 0)
		return rc;
	if (!(res->job = strdup(r.job->name))) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (o->dry_run) {
		print_plan(&r);
		res->status = BFS_RUN_OK;
		goto out;
	}
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	handlers = true;
	lock = bfs_jobstate_lock(o->state_dir, r.job->name, err);
	if (lock < 0) {
		/* the running one owns run.log and the state files */
		record = false;
		set_status(&r, BFS_RUN_FAILED, "%s", err->msg);
		prepare(&r);
		goto out_finish;
	}
	rc = bfs_jobstate_path(o->state_dir, r.job->name, true, dir,
			       sizeof(dir), err);
	if (!rc && snprintf(r.log_path, sizeof(r.log_path), "%s/run.log",
			    dir) >= (int)sizeof(r.log_path))
		rc = -ENAMETOOLONG;
	if (!rc) {
		r.log_fd = open(r.log_path,
				O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
				    O_CLOEXEC | O_NOFOLLOW,
				0600);
		if (r.log_fd < 0)
			rc = -errno;
	}
	if (rc) {
		set_status(&r, BFS_RUN_FAILED,
			   "cannot open the run log '%s': %s", r.log_path,
			   strerror(-rc));
		prepare(&r);
		goto out_finish;
	}
	rlog(&r, "job '%s' started (pid %d)", r.job->name, (int)getpid());
	if (!prepare(&r))
		goto out_finish;
	s0.job = r.job->name;
	s0.start_ns = r.start_ns;
	if (bfs_notify_start(r.chs, r.job->nnotify, &s0, &r.no, NULL) > 0)
		rlog(&r, "a start ping failed");

	pre_ok = run_hooks(&r, "pre", r.job->hooks.pre, r.job->hooks.npre, true,
			   "running", BFS_RUN_FAILED, &pre_started);
	if (pre_ok)
		do_backup(&r);
	else
		rlog(&r, "the backup is skipped: a pre hook failed or the run "
			 "was interrupted");
	/* post: right after the backup, so that the app is down for the
	 * backup only (copies, retention and verify do not need it down);
	 * once pre succeeded, and also after a pre that failed half way:
	 * restarting an app is harmless, leaving it down is not */
	if (pre_ok || pre_started)
		run_hooks(&r, "post", r.job->hooks.post, r.job->hooks.npost,
			  false, bfs_run_status_name(r.status), BFS_RUN_FAILED,
			  NULL);
	if (r.backup_id && r.status != BFS_RUN_FAILED)
		after_backup(&r);
	if (r.status == BFS_RUN_FAILED)
		run_hooks(&r, "on_failure", r.job->hooks.on_failure,
			  r.job->hooks.non_failure, false, "failed",
			  BFS_RUN_FAILED, NULL);
	else
		run_hooks(&r, "on_success", r.job->hooks.on_success,
			  r.job->hooks.non_success, false,
			  bfs_run_status_name(r.status), BFS_RUN_WARNING, NULL);
out_finish:
	rc = finish(&r, record, res);
	if (rc < 0)
		bfs_err_set(err, rc, "job '%s': cannot build the summary",
			    r.job->name);
out:
	if (lock >= 0)
		close(lock);
	if (handlers) {
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGINT, &old_int, NULL);
		res->signal = run_stop;
	}
	run_free(&r);
	return rc;
}
