/* jobunit.h - the systemd side of a job: the timer drop-in that
 * `backupfs job enable` writes for backupfs-job@NAME.timer, and where it
 * goes.  Pure text: nothing here touches the file system or runs
 * systemctl (src/cli/cmd_job.c does).  doc/JOBS.md "systemd" describes
 * the units.
 *
 * Thread safety: no state; reentrant.
 */
#ifndef BFS_JOBUNIT_H
#define BFS_JOBUNIT_H

#include <stddef.h>

struct bfs_err;
struct bfs_job;

/* The drop-in's directory below the root ("/" on a live system) and its
 * file name. */
#define BFS_JOB_UNIT_DIR "/etc/systemd/system"
#define BFS_JOB_DROPIN_NAME "schedule.conf"

/* Write the text of backupfs-job@NAME.timer.d/schedule.conf for job into
 * buf (n >= 1024 is enough):
 *  - a cron schedule: OnCalendar= (reset) and OnCalendar=EVENT from
 *    bfs_schedule_to_systemd, Persistent= from catch_up;
 *  - every DURATION: OnCalendar= (reset, the template's daily default
 *    goes), OnActiveSec= and OnUnitActiveSec= the interval;
 *  - RandomizedDelaySec= at most 30s, and at most a tenth of an "every"
 *    interval.
 * source names the job file in the header comment (a path, never a
 * secret).  Returns 0, -EINVAL (no schedule, or one systemd cannot
 * express: err says which and why, prefixed "schedule: "), -ENOSPC. */
int bfs_job_timer_dropin(const struct bfs_job *job, const char *source,
			 char *buf, size_t n, struct bfs_err *err);

/* "backupfs-job@NAME.timer" into buf.  0, or -EINVAL for a name that is
 * not bfs_job_name_valid, -ENAMETOOLONG. */
int bfs_job_timer_name(const char *name, char *buf, size_t n,
		       struct bfs_err *err);

#endif
