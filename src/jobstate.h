/* jobstate.h - where job files and their run state live: the jobs
 * directory, the state directory, one job's last run and last success,
 * and the per-job run lock that keeps a job from running twice at once.
 *
 * The state directory is never needed to restore anything: it holds run
 * summaries, run logs and timestamps for `status`, the scheduler and the
 * prune schedule.  Layout (doc/JOBS.md "State directory"):
 *
 *   STATE/                          0700
 *   STATE/jobs/NAME/                0700
 *   STATE/jobs/NAME/last.json       summary of the last finished run
 *   STATE/jobs/NAME/last-ok.json    summary of the last run that did not fail
 *   STATE/jobs/NAME/runs.jsonl      one summary per line, newest last,
 *                                   trimmed to the last 1000 runs
 *   STATE/jobs/NAME/run.log         log of the last (or running) run
 *   STATE/jobs/NAME/last-prune      decimal epoch seconds of the last prune
 *   STATE/jobs/NAME/lock            flock(2)ed while the job runs
 *
 * A summary is the JSON object of bfs_run_summary_json (src/notify.h,
 * doc/NOTIFY.md); read back are job, backup_id, status, start_unix,
 * duration_seconds, bytes_read, bytes_added, files, warnings, error.  Files are
 * written to a temp name and renamed, 0600.  Everything read back is
 * checked: a corrupt or foreign file is reported, never trusted.
 *
 * Thread safety: no global state; functions are reentrant.
 */
#ifndef BFS_JOBSTATE_H
#define BFS_JOBSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "notify.h"

struct bfs_err;

/* The jobs directory: override if not NULL, else $BACKUPFS_JOBS_DIR, else
 * /etc/backupfs/jobs for root (euid 0), else
 * $XDG_CONFIG_HOME/backupfs/jobs (default ~/.config/backupfs/jobs).
 * Written to buf (PATH_MAX is enough).  0, -ENAMETOOLONG, or -ENOENT when
 * neither XDG_CONFIG_HOME nor HOME is set (err says so). */
int bfs_jobs_dir(const char *override, char *buf, size_t n,
		 struct bfs_err *err);

/* The state directory: override, else $BACKUPFS_STATE_DIR, else
 * /var/lib/backupfs for root, else $XDG_STATE_HOME/backupfs (default
 * ~/.local/state/backupfs).  Does not create it.  As bfs_jobs_dir. */
int bfs_state_dir(const char *override, char *buf, size_t n,
		  struct bfs_err *err);

/* Resolve a job argument: an argument with a '/' or ending in ".json" is
 * a path (used as is); anything else is a job NAME, found as
 * JOBS_DIR/NAME.json (NAME must be bfs_job_name_valid).  Written to
 * path.  0, -EINVAL (bad name), -ENAMETOOLONG. */
int bfs_job_resolve(const char *arg, const char *jobs_dir, char *path, size_t n,
		    struct bfs_err *err);

/* The job files of jobs_dir: every NAME.json whose name does not start
 * with '.', sorted by NAME, into out (which must be zeroed): file names,
 * ".json" included; the job's own "name" key is what names the job.
 * 0, -ENOMEM, or -errno when the directory cannot be read (err names
 * it).  Used by the scheduler, `job list` and `status`. */
struct bfs_strv;
int bfs_jobs_list(const char *jobs_dir, struct bfs_strv *out,
		  struct bfs_err *err);

/* STATE/jobs/NAME, created (0700, with STATE) if create.  0 or -errno. */
int bfs_jobstate_path(const char *state_dir, const char *job, bool create,
		      char *buf, size_t n, struct bfs_err *err);

/* One run as read back from last.json / last-ok.json / runs.jsonl. */
struct bfs_jobstate_run {
	char job[65];
	char backup_id[96]; /* "" when no backup was written */
	enum bfs_run_status status;
	time_t start; /* epoch seconds */
	double duration_s;
	uint64_t bytes_read, bytes_added, files;
	size_t nwarnings;
	char error[512]; /* "" when none; already redacted */
};

/* Record a finished run: write last.json, last-ok.json unless it failed,
 * and append to runs.jsonl.  s is redacted by the caller.  0 or -errno. */
int bfs_jobstate_record(const char *state_dir, const struct bfs_run_summary *s,
			struct bfs_err *err);

/* Read the last run (last.json) and the last successful run (last-ok.json)
 * of a job; either pointer may be NULL.  *has_last / *has_ok tell whether
 * the file existed.  A file that does not parse is an error (-EUCLEAN)
 * naming it.  0 or -errno. */
int bfs_jobstate_last(const char *state_dir, const char *job,
		      struct bfs_jobstate_run *last, bool *has_last,
		      struct bfs_jobstate_run *ok, bool *has_ok,
		      struct bfs_err *err);

/* last-prune: read (0 and *when = 0 when absent) and write. */
int bfs_jobstate_last_prune(const char *state_dir, const char *job,
			    time_t *when, struct bfs_err *err);
int bfs_jobstate_set_last_prune(const char *state_dir, const char *job,
				time_t when, struct bfs_err *err);

/* Take the job's run lock (flock LOCK_EX|LOCK_NB on STATE/jobs/NAME/lock).
 * Returns the held fd (>= 0; close it to release), -EBUSY if the job is
 * running elsewhere (err names the job), or -errno.  The fd is
 * O_CLOEXEC. */
int bfs_jobstate_lock(const char *state_dir, const char *job,
		      struct bfs_err *err);

/* True if the job is running now (its lock is held by someone). */
bool bfs_jobstate_running(const char *state_dir, const char *job);

#endif
