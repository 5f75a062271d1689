/* run.h - run one job: the backup, its hooks, retention, copies, verify,
 * the state directory and the notifications (`backupfs run`, the
 * scheduler).  doc/JOBS.md "Running a job" describes the order of the
 * steps and how each outcome maps to ok / warning / failed.
 *
 * The work itself is done by child processes of the same binary
 * (`backup`, `copy`, `forget`, `prune`, `check`), so a crash or a leak in
 * one step cannot take the runner down, and each step's output lands in
 * the run log (STATE/jobs/NAME/run.log) as the command prints it.
 *
 * The pieces under the runner (argument lists, the environment of the
 * children, the prune rule, the notify channels, the hook runner) are
 * exported for the unit tests and for `status`.
 *
 * Thread safety: bfs_run_job forks and waits for its children (it reaps
 * only the pids it started); run it from one thread.  The other functions
 * are reentrant.
 */
#ifndef BFS_RUN_H
#define BFS_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "job.h"
#include "notify.h"
#include "util.h"

struct bfs_err;

struct bfs_run_opts {
	const char *self;      /* the backupfs binary the steps exec; NULL:
				  /proc/self/exe */
	const char *state_dir; /* required */
	bool dry_run;	       /* print the plan to stdout, run nothing */
	unsigned kill_grace_s; /* hook timeout: KILL this long after TERM;
				  0 means 5 */
	bool quiet;	       /* no progress lines on stderr */
};

/* What one run did.  Strings are owned (bfs_run_result_clear). */
struct bfs_run_result {
	char *job; /* NULL when the job file could not be read */
	enum bfs_run_status status;
	char *json;	 /* the redacted summary (one pretty JSON object) */
	char *backup_id; /* NULL when none was written */
	char *error;	 /* redacted error text of a failed run */
	int signal;	 /* SIGTERM/SIGINT that interrupted the run, or 0 */
	uint64_t bytes_added;
	double duration_s;
};

void bfs_run_result_clear(struct bfs_run_result *r);

/* Run the job file at path with o.  SIGTERM and SIGINT are caught while
 * it runs: the running step (and a pre or on_* hook) gets SIGTERM, the
 * rest is skipped but the post hooks still run (an app is never left
 * stopped), the run is recorded as failed ("interrupted") and notified;
 * then the previous handlers are restored and res->signal tells the
 * caller which signal to honour.  Returns 0 when the job ran (whatever
 * its result: see res->status), or -errno when it could not run at all:
 * the job file is missing or invalid (err says why; nothing recorded,
 * nobody notified).  A job that is already running is a failed run
 * ("already running"), notified but not recorded: the running one owns
 * the state files. */
int bfs_run_job(const char *path, const struct bfs_run_opts *o,
		struct bfs_run_result *res, struct bfs_err *err);

/* --- The pieces (run_plan.c) --- */

/* argv for `SELF backup -r REPO --job NAME [--tag T]... --json` and the
 * job's sources in order, each followed by its options (--exclude,
 * --ignore-table, --nocodb-base, --no-nocodb-records, ...).  0, -ENOMEM,
 * or -EINVAL for a source kind a job cannot hold. */
int bfs_run_backup_argv(const struct bfs_job *job, const char *self,
			struct bfs_strv *a);

/* argv for `SELF forget -r REPO --job NAME --keep-...` from
 * job->retention (which must be set).  0 or -ENOMEM. */
int bfs_run_forget_argv(const struct bfs_job *job, const char *self,
			struct bfs_strv *a);

/* True if a prune is due after a forget at `now`, given the last prune
 * (0: never) and the job's retention.prune rule: always; never; daily,
 * weekly (ISO week), monthly: when `last` lies in an earlier local
 * calendar day / week / month; a schedule: when its next slot after
 * `last` is <= now. */
bool bfs_run_prune_due(const struct bfs_job_retention *r, time_t last,
		       time_t now);

/* Parse the stdout of `backup --json`: id, partial, stats.files,
 * stats.bytes (bytes read), stats.stored_bytes (bytes the repository
 * grew by: "bytes added") and the unreadable entries as warnings
 * ("unreadable: PATH: WHY", at most 100, then "... and N more").  The
 * text is the output of a child: checked, never trusted.  *id and
 * (*warnings)[i] are allocated.  0, -EINVAL (not the expected object,
 * err says what), -ENOMEM. */
int bfs_run_parse_backup_json(const char *text, char **id, bool *partial,
			      uint64_t *files, uint64_t *bytes_read,
			      uint64_t *bytes_added, char ***warnings,
			      size_t *nwarnings, struct bfs_err *err);

/* The environment of the children: base (NULL-terminated, e.g. environ)
 * with the env_file's variables (may be NULL) and the nextra "KEY=VALUE"
 * strings of extra put over it (later ones win).  *out is an allocated
 * NULL-terminated array of allocated strings: bfs_envp_free. */
int bfs_envp_build(char *const *base, const struct bfs_job_env *env,
		   const char *const *extra, size_t nextra, char ***out);
void bfs_envp_free(char **envp);

/* The job's notify channels as the notify module takes them.  *out is
 * allocated (free(); strings stay borrowed from job).  0, -ENOMEM. */
int bfs_run_channels(const struct bfs_job *job,
		     struct bfs_notify_channel **out);

/* The secrets a run must never show: every env_file value and the
 * values of the well-known secret variables of envp (AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, PGPASSWORD, MYSQL_PWD, SMTP_PASSWORD and each email
 * channel's password_env).  *out is allocated (free(); the strings are
 * borrowed from env and envp).  0, -ENOMEM. */
int bfs_run_secrets(const struct bfs_job *job, const struct bfs_job_env *env,
		    char *const *envp, const char ***out, size_t *n);

/* --- Child processes (run_exec.c) --- */

/* Run argv[0] (a path; execve) with envp.  Its stdout goes to out (a
 * grown buffer, when not NULL, at most 16 MiB kept) or to log_fd, stderr
 * to log_fd; stdin is /dev/null unless keep_stdin.  With own_group the
 * child leads its own process group, and on timeout (timeout_s > 0) the
 * group gets SIGTERM, then SIGKILL after kill_grace_s.  *status gets the
 * wait status; *timed_out whether the timeout struck.  Returns 0 once
 * the child was reaped, or -errno (fork, pipe, exec failure: exit 127
 * in the child). */
struct bfs_buf;
struct bfs_child_opts {
	int log_fd;
	struct bfs_buf *out;
	bool keep_stdin, own_group;
	uint64_t timeout_s;
	unsigned kill_grace_s;
	/* NULL, or a flag (set by a signal handler): once it is non-zero
	 * the child (its group with own_group) gets SIGTERM, once */
	const volatile sig_atomic_t *stop;
};
int bfs_run_child(char *const *argv, char *const *envp,
		  const struct bfs_child_opts *co, int *status, bool *timed_out,
		  struct bfs_err *err);

#endif
