/* cmd_scheduler.c - `backupfs scheduler`: the foreground scheduler for
 * containers and hosts without systemd.  It loads the job files of the
 * jobs directory, asks bfs_schedule_plan (src/schedule.h) which are due,
 * and starts each due job as a child `backupfs run` (this same binary,
 * /proc/self/exe), at most one child per job.  Signals arrive through a
 * signalfd: SIGCHLD reaps, SIGHUP reloads the job files, SIGTERM/SIGINT
 * stop it (running children get --stop-timeout to finish, then SIGTERM).
 *
 * Single-threaded; all state hangs off struct sched. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "src/job.h"
#include "src/jobstate.h"
#include "src/log.h"
#include "src/schedule.h"

struct sched_args {
	const char *jobs, *state, *stop_timeout;
	bool once;
};

/* One job of the jobs directory, or a removed job whose run is still
 * going (job NULL). */
struct sjob {
	char *name;	     /* owned; the job's "name" */
	char *path;	     /* owned; its file */
	struct bfs_job *job; /* owned; NULL: removed, waiting for its child */
	pid_t pid;	     /* our running child, 0: none */
	struct timespec t0;  /* CLOCK_MONOTONIC at the child's start */
	bool spawned;	     /* we started it at least once */
	time_t spawned_at;   /* wall clock of our last start */
	bool keep;	     /* seen by the current reload */
	bool warned_state;   /* its state error was logged */
};

struct sched {
	struct sjob *v;
	size_t n, cap;
	char jobs_dir[PATH_MAX], state_dir[PATH_MAX];
	time_t started;	  /* wall clock at start-up (bfs_schedule_plan) */
	sigset_t oldmask; /* restored in the children */
	int sfd;	  /* signalfd: CHLD HUP TERM INT */
	bool once;	  /* --once: start what is due, wait, exit */
	uint64_t stop_timeout;
};

static double mono_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static size_t nrunning(const struct sched *s)
{
	size_t i, k = 0;

	for (i = 0; i < s->n; i++)
		k += s->v[i].pid > 0;
	return k;
}

static struct sjob *find(struct sched *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return &s->v[i];
	return NULL;
}

static void sjob_clear(struct sjob *j)
{
	free(j->name);
	free(j->path);
	bfs_job_free(j->job);
	memset(j, 0, sizeof(*j));
}

/* Take a loaded job into s: replace the entry of the same name (its
 * child and start times stay), or append one.  job is transferred. */
static int adopt(struct sched *s, const char *path, struct bfs_job *job)
{
	struct sjob *j = find(s, job->name), *nv;
	char *p = strdup(path);

	if (!p)
		goto out_nomem;
	if (j) {
		if (j->keep) { /* two files, one name: the first wins */
			bfs_log(LOG_ERR,
				"scheduler: skipping '%s': job name '%s' is "
				"already used by '%s'",
				path, job->name, j->path);
			free(p);
			bfs_job_free(job);
			return 0;
		}
		free(j->path);
		bfs_job_free(j->job);
		j->path = p;
		j->job = job;
		j->keep = true;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;

		nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			goto out_nomem;
		s->v = nv;
		s->cap = cap;
	}
	j = &s->v[s->n];
	memset(j, 0, sizeof(*j));
	j->name = strdup(job->name);
	if (!j->name)
		goto out_nomem;
	j->path = p;
	j->job = job;
	j->keep = true;
	s->n++;
	return 0;
out_nomem:
	free(p);
	bfs_job_free(job);
	return -ENOMEM;
}

/* (Re)load the job files.  A file that does not load is logged and
 * skipped; a job that disappeared is dropped, unless its child still
 * runs (then it stays, unscheduled, until it is reaped).  Returns 0, or
 * -errno when the directory cannot be read (the jobs stay as they were). */
static int load_jobs(struct sched *s, bool log_each)
{
	struct bfs_err err = {""};
	struct bfs_strv names = {0};
	char path[PATH_MAX];
	size_t i, k, loaded = 0;
	int rc;

	rc = bfs_jobs_list(s->jobs_dir, &names, &err);
	if (rc) {
		bfs_log(LOG_ERR, "scheduler: %s", bfs_err_str(&err, rc));
		return rc;
	}
	for (i = 0; i < s->n; i++)
		s->v[i].keep = false;
	for (i = 0; i < names.n; i++) {
		struct bfs_job *job = NULL;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", s->jobs_dir,
				     names.v[i]) >= sizeof(path))
			continue;
		err.msg[0] = '\0';
		rc = bfs_job_load(path, &job, &err);
		if (rc) {
			bfs_log(LOG_ERR, "scheduler: skipping %s",
				bfs_err_str(&err, rc));
			continue;
		}
		rc = adopt(s, path, job);
		if (rc)
			goto out;
		loaded++;
	}
	/* drop what was not seen; a removed job's child keeps its entry */
	for (i = k = 0; i < s->n; i++) {
		struct sjob *j = &s->v[i];

		if (!j->keep && j->job) {
			bfs_log(LOG_NOTICE, "scheduler: job '%s' removed%s",
				j->name,
				j->pid ? " (its running run goes on)" : "");
			bfs_job_free(j->job);
			j->job = NULL;
		}
		if (!j->job && !j->pid) {
			sjob_clear(j);
			continue;
		}
		if (k != i)
			s->v[k] = *j;
		k++;
	}
	s->n = k;
	if (log_each)
		for (i = 0; i < s->n; i++)
			if (s->v[i].job)
				bfs_log(LOG_NOTICE,
					"scheduler: job '%s' (%s): %s",
					s->v[i].name, s->v[i].path,
					s->v[i].job->schedule
					    ? bfs_schedule_text(
						  s->v[i].job->schedule)
					    : "no schedule, runs only by "
					      "hand");
	bfs_log(LOG_NOTICE, "scheduler: %zu job%s loaded from '%s'", loaded,
		loaded == 1 ? "" : "s", s->jobs_dir);
	rc = 0;
out:
	bfs_strv_free(&names);
	return rc;
}

/* Start `backupfs run --jobs DIR --state-dir DIR FILE` for j. */
static void spawn(struct sched *s, struct sjob *j, time_t now)
{
	char *argv[] = {"backupfs",    "run",	     "--jobs", s->jobs_dir,
			"--state-dir", s->state_dir, j->path,  NULL};
	pid_t pid;
	int fd;

	pid = fork();
	if (pid < 0) {
		bfs_log(LOG_ERR, "scheduler: cannot start job '%s': fork: %s",
			j->name, strerror(errno));
		/* counts as a start: retry at the next slot, not in a loop */
		j->spawned = true;
		j->spawned_at = now;
		return;
	}
	if (pid == 0) {
		/* own process group: a ^C at the terminal reaches only the
		 * scheduler, which decides what its children get */
		setpgid(0, 0);
		sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
		signal(SIGPIPE, SIG_DFL);
		fd = open("/dev/null", O_RDONLY);
		if (fd > 0) {
			dup2(fd, 0);
			close(fd);
		}
		execv("/proc/self/exe", argv);
		fprintf(stderr,
			"backupfs: scheduler: cannot run "
			"/proc/self/exe: %s\n",
			strerror(errno));
		_exit(127);
	}
	j->pid = pid;
	j->spawned = true;
	j->spawned_at = now;
	clock_gettime(CLOCK_MONOTONIC, &j->t0);
	bfs_log(LOG_NOTICE, "scheduler: started job '%s', pid %ld", j->name,
		(long)pid);
}

/* Reap every finished child and log its end. */
static void reap(struct sched *s)
{
	char how[64];
	pid_t pid;
	size_t i;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < s->n && s->v[i].pid != pid; i++)
			;
		if (i == s->n)
			continue;
		if (WIFEXITED(st))
			snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(st));
		else if (WIFSIGNALED(st))
			snprintf(how, sizeof(how), "killed by signal %d",
				 WTERMSIG(st));
		else
			snprintf(how, sizeof(how), "status %d", st);
		bfs_log(LOG_NOTICE,
			"scheduler: job '%s' ended, pid %ld, %s, %.1fs",
			s->v[i].name, (long)pid, how, mono_since(&s->v[i].t0));
		s->v[i].pid = 0;
	}
}

/* Plan and start what is due.  Returns the wall-clock second of the next
 * wake-up, or -1 when no job has a schedule. */
static time_t tick(struct sched *s)
{
	struct bfs_sched_entry *e;
	struct bfs_jobstate_run last;
	struct bfs_err err = {""};
	time_t now = time(NULL), wake = -1;
	bool has_last, busy = false;
	size_t i;
	int rc;

	e = calloc(s->n ? s->n : 1, sizeof(*e));
	if (!e) {
		bfs_log(LOG_ERR, "scheduler: out of memory");
		return now + 1;
	}
	for (i = 0; i < s->n; i++) {
		struct sjob *j = &s->v[i];

		if (!j->job || !j->job->schedule)
			continue;
		e[i].schedule = j->job->schedule;
		e[i].catch_up = j->job->catch_up;
		/* a manual `backupfs run` holds the job's lock */
		e[i].running =
		    j->pid > 0 || bfs_jobstate_running(s->state_dir, j->name);
		busy |= e[i].running && !j->pid;
		err.msg[0] = '\0';
		rc = bfs_jobstate_last(s->state_dir, j->name, &last, &has_last,
				       NULL, NULL, &err);
		if (rc && !j->warned_state) {
			bfs_log(LOG_WARNING,
				"scheduler: job '%s': %s (taken as never run)",
				j->name, bfs_err_str(&err, rc));
			j->warned_state = true;
		}
		if (!rc)
			j->warned_state = false;
		if (!rc && has_last) {
			e[i].has_last = true;
			e[i].last_run = last.start;
		}
		/* our own start counts even when the run wrote no state
		 * (it failed early): never restart a job in a loop */
		if (j->spawned &&
		    (!e[i].has_last || e[i].last_run < j->spawned_at)) {
			e[i].has_last = true;
			e[i].last_run = j->spawned_at;
		}
	}
	rc = bfs_schedule_plan(e, s->n, now, s->started, &wake);
	if (rc < 0) {
		bfs_log(LOG_ERR, "scheduler: cannot plan: %s", strerror(-rc));
		wake = now + 60;
	}
	for (i = 0; rc > 0 && i < s->n; i++)
		if (e[i].due)
			spawn(s, &s->v[i], now);
	if (rc > 0) /* what just started is planned again from its start */
		wake = now + 1;
	/* a run by hand: look again soon after it ends */
	if (busy && (wake < 0 || wake > now + 5))
		wake = now + 5;
	free(e);
	return wake;
}

/* Wait for a signal up to timeout_ms (-1: forever) and handle it.
 * Returns the signal number read, or 0 on timeout. */
static int wait_signal(struct sched *s, int timeout_ms)
{
	struct signalfd_siginfo si;
	struct pollfd p = {.fd = s->sfd, .events = POLLIN};
	ssize_t r;
	int rc;

	rc = poll(&p, 1, timeout_ms);
	if (rc <= 0)
		return 0;
	r = read(s->sfd, &si, sizeof(si));
	if (r != (ssize_t)sizeof(si))
		return 0;
	if (si.ssi_signo == SIGCHLD)
		reap(s);
	return (int)si.ssi_signo;
}

static void kill_children(struct sched *s, int sig)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].pid > 0) {
			bfs_log(LOG_NOTICE,
				"scheduler: sending %s to job '%s', pid %ld",
				sig == SIGKILL ? "SIGKILL" : "SIGTERM",
				s->v[i].name, (long)s->v[i].pid);
			/* SIGTERM to the run alone: it stops its hooks and
			 * dumps itself and still runs the post hooks;
			 * SIGKILL to all it started */
			if (sig != SIGKILL || kill(-s->v[i].pid, sig) != 0)
				kill(s->v[i].pid, sig);
		}
}

/* Wait until no child runs or `secs` passed.  A SIGTERM/SIGINT meanwhile
 * ends the wait early when stop_on_signal.  True if all ended. */
static bool wait_children(struct sched *s, double secs, bool stop_on_signal)
{
	struct timespec t0;
	double left;
	int sig;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	reap(s);
	while (nrunning(s)) {
		left = secs - mono_since(&t0);
		if (left <= 0)
			return false;
		sig = wait_signal(s, (int)(left * 1000) + 1);
		if (stop_on_signal && (sig == SIGTERM || sig == SIGINT))
			return false;
	}
	return true;
}

/* The pids of our children that are not runs: processes a run left
 * behind (hooks in their own process groups), reparented to us as the
 * subreaper.  Up to max; returns how many. */
static size_t leftovers(struct sched *s, pid_t *out, size_t max)
{
	char path[64];
	size_t k = 0, i;
	long pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/children",
		 (long)getpid());
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (k < max && fscanf(f, "%ld", &pid) == 1) {
		for (i = 0; i < s->n && s->v[i].pid != (pid_t)pid; i++)
			;
		if (i == s->n)
			out[k++] = (pid_t)pid;
	}
	fclose(f);
	return k;
}

/* Stop what ended runs left behind: SIGTERM to each leftover and its
 * process group, up to 5 s for them to go, then SIGKILL. */
static void stop_leftovers(struct sched *s)
{
	struct timespec t0;
	pid_t v[256];
	size_t n, i;
	int round, sig;

	for (round = 0; round < 2; round++) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		n = leftovers(s, v, BFS_ARRAY_SIZE(v));
		if (!n)
			return;
		sig = round ? SIGKILL : SIGTERM;
		bfs_log(LOG_WARNING,
			"scheduler: sending %s to %zu process%s left behind "
			"by ended runs (pid %ld%s)",
			round ? "SIGKILL" : "SIGTERM", n, n == 1 ? "" : "es",
			(long)v[0], n > 1 ? ", ..." : "");
		for (i = 0; i < n; i++) {
			kill(-v[i], sig); /* a hook leads its own group */
			kill(v[i], sig);
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (mono_since(&t0) < 5) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			if (!leftovers(s, v, 1))
				return;
			usleep(50000);
		}
	}
}

/* Shutdown: children get stop_timeout to finish, then SIGTERM and 30 s,
 * then SIGKILL.  A second SIGTERM/SIGINT skips the waiting. */
static void stop(struct sched *s)
{
	char span[32];

	if (!nrunning(s))
		goto out;
	bfs_duration_format(s->stop_timeout, span, sizeof(span));
	bfs_log(LOG_NOTICE,
		"scheduler: waiting up to %s for %zu running job%s "
		"(SIGTERM again to stop them now)",
		span, nrunning(s), nrunning(s) == 1 ? "" : "s");
	if (wait_children(s, (double)s->stop_timeout, true))
		goto out;
	kill_children(s, SIGTERM);
	if (wait_children(s, 30, false))
		goto out;
	kill_children(s, SIGKILL);
	wait_children(s, 5, false);
out:
	stop_leftovers(s);
}

static int setup_signals(struct sched *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, &s->oldmask) != 0)
		return -errno;
	s->sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (s->sfd < 0)
		return -errno;
	/* what a run leaves behind (a hook still running when the run was
	 * killed) becomes our child: reaped, and stopped at shutdown */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return 0;
}

static int run_scheduler(struct cli_ctx *ctx)
{
	const struct sched_args *a = ctx->args;
	struct sched s = {.sfd = -1, .once = a->once, .stop_timeout = 60};
	struct bfs_err err = {""};
	time_t wake, now;
	int rc, sig, level = LOG_NOTICE;
	size_t i;

	if (ctx->c.quiet)
		level = LOG_ERR;
	else if (ctx->c.verbose)
		level = ctx->c.verbose > 1 ? LOG_DEBUG : LOG_INFO;
	bfs_log_setup(false, level);
	if (a->stop_timeout) {
		rc = bfs_duration_parse(a->stop_timeout, &s.stop_timeout, &err);
		if (rc)
			return cli_usage_error(&cmd_scheduler,
					       "--stop-timeout: %s", err.msg);
	}
	rc = bfs_jobs_dir(a->jobs, s.jobs_dir, sizeof(s.jobs_dir), &err);
	if (!rc)
		rc = bfs_state_dir(a->state, s.state_dir, sizeof(s.state_dir),
				   &err);
	if (rc) {
		cli_error("scheduler", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	rc = setup_signals(&s);
	if (rc) {
		cli_error("scheduler", "cannot set up signals: %s",
			  strerror(-rc));
		rc = EXIT_ERR;
		goto out;
	}
	s.started = time(NULL);
	if (load_jobs(&s, true) < 0) {
		rc = EXIT_ERR;
		goto out;
	}
	bfs_log(LOG_NOTICE, "scheduler: state in '%s'", s.state_dir);
	for (;;) {
		wake = tick(&s);
		if (s.once)
			break;
		now = time(NULL);
		/* at most a minute: a clock set forward is seen soon */
		if (wake < 0 || wake > now + 60)
			wake = now + 60;
		sig =
		    wait_signal(&s, wake <= now ? 0 : (int)(wake - now) * 1000);
		if (sig == SIGHUP) {
			bfs_log(LOG_NOTICE, "scheduler: SIGHUP: reloading");
			load_jobs(&s, true);
		} else if (sig == SIGTERM || sig == SIGINT) {
			bfs_log(LOG_NOTICE, "scheduler: %s: stopping",
				sig == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		}
	}
	if (s.once && nrunning(&s)) {
		/* --once: the started runs finish; a signal stops them */
		while (nrunning(&s)) {
			sig = wait_signal(&s, -1);
			if (sig == SIGTERM || sig == SIGINT)
				break;
		}
	}
	stop(&s);
	bfs_log(LOG_NOTICE, "scheduler: stopped");
	rc = EXIT_OK;
out:
	if (s.sfd >= 0)
		close(s.sfd);
	for (i = 0; i < s.n; i++)
		sjob_clear(&s.v[i]);
	free(s.v);
	sigprocmask(SIG_SETMASK, &s.oldmask, NULL);
	return rc;
}

static const struct cli_opt sched_opts[] = {
    CLI_STRING(0, "jobs", "DIR", struct sched_args, jobs,
	       "the jobs directory: every DIR/*.json is a job (default: "
	       "$BACKUPFS_JOBS_DIR, /etc/backupfs/jobs for root, else "
	       "$XDG_CONFIG_HOME/backupfs/jobs, ~/.config/backupfs/jobs)"),
    CLI_STRING(0, "state-dir", "DIR", struct sched_args, state,
	       "where runs record their state (default: $BACKUPFS_STATE_DIR, "
	       "/var/lib/backupfs for root, else $XDG_STATE_HOME/backupfs, "
	       "~/.local/state/backupfs)"),
    CLI_STRING(0, "stop-timeout", "DURATION", struct sched_args, stop_timeout,
	       "on SIGTERM or SIGINT, how long running jobs may go on "
	       "before they get SIGTERM (default 60s)"),
    CLI_FLAG(0, "once", struct sched_args, once,
	     "start the jobs due now (catch-up included), wait for them "
	     "and exit"),
    CLI_END};

const struct bfs_cmd cmd_scheduler = {
    .name = "scheduler",
    .run = run_scheduler,
    .summary = "run the jobs on their schedules (foreground)",
    .synopsis = "backupfs scheduler [--jobs DIR] [--state-dir DIR] "
		"[--stop-timeout DURATION] [--once]",
    .description =
	"Stays in the foreground and runs each job of the jobs directory\n"
	"on its \"schedule\" (a cron expression or \"every DURATION\",\n"
	"doc/JOBS.md), for containers and hosts without systemd.  Each run\n"
	"is a child `backupfs run --jobs DIR --state-dir DIR FILE`; a job\n"
	"never runs twice at once (nor while a `backupfs run` by hand holds\n"
	"its lock).  A scheduled time missed while the scheduler was not\n"
	"running is run once at start-up when the job's catch_up is true\n"
	"(the default).  A job file that does not load is logged and\n"
	"skipped; the others run.  One line per run start and end (job,\n"
	"pid, exit status, duration) goes to standard error.",
    .opts = sched_opts,
    .notes = "Signals: SIGHUP reloads the job files (a removed job is\n"
	     "dropped, a changed schedule takes effect, a running run is left\n"
	     "alone).  SIGTERM or SIGINT stops starting runs and waits up to\n"
	     "--stop-timeout for running ones, then sends them SIGTERM (a run\n"
	     "then kills its hooks and still runs its post hooks), waits 30s\n"
	     "more, then SIGKILLs; a second SIGTERM or SIGINT skips the\n"
	     "waiting.  The scheduler then exits 0.\n"
	     "Each run gets /dev/null as standard input and shares the\n"
	     "scheduler's standard output and error.",
    .examples = "  backupfs scheduler --jobs /etc/backupfs/jobs\n"
		"  docker run ... backupfs scheduler --stop-timeout 10m",
    .exit_codes = "0 stopped by a signal (or --once done), 1 error (the "
		  "jobs directory cannot be read), 2 usage error.",
    .max_args = 0,
    .args_size = sizeof(struct sched_args),
};
