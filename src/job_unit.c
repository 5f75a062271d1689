/* job_unit.c - the timer drop-in of `backupfs job enable` (jobunit.h). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "job.h"
#include "jobunit.h"
#include "schedule.h"
#include "util.h"

/* Append to buf at *off; -ENOSPC when it does not fit. */
static int put(char *buf, size_t n, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int put(char *buf, size_t n, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*off >= n)
		return -ENOSPC;
	va_start(ap, fmt);
	w = vsnprintf(buf + *off, n - *off, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= n - *off)
		return -ENOSPC;
	*off += (size_t)w;
	return 0;
}

int bfs_job_timer_name(const char *name, char *buf, size_t n,
		       struct bfs_err *err)
{
	int w;

	if (!bfs_job_name_valid(name))
		return bfs_err_set(err, EINVAL,
				   "invalid job name (1 to 64 of A-Z a-z 0-9 "
				   ". _ -, not starting with . or -)");
	w = snprintf(buf, n, "backupfs-job@%s.timer", name);
	if (w < 0 || (size_t)w >= n)
		return bfs_err_set(err, ENAMETOOLONG, "timer name too long");
	return 0;
}

int bfs_job_timer_dropin(const struct bfs_job *job, const char *source,
			 char *buf, size_t n, struct bfs_err *err)
{
	char value[256], span[32];
	const char *key;
	uint64_t every, delay = 30;
	size_t off = 0;
	int rc;

	if (!job->schedule)
		return bfs_err_set(err, EINVAL,
				   "schedule: the job has none (it runs only "
				   "by hand: backupfs run %s)",
				   job->name);
	rc = bfs_schedule_to_systemd(job->schedule, &key, value, sizeof(value),
				     err);
	if (rc == -EINVAL)
		return bfs_err_prefix(err, rc, "schedule");
	if (rc)
		return bfs_err_set(err, rc, "schedule: cannot convert \"%s\"",
				   bfs_schedule_text(job->schedule));
	every = bfs_schedule_interval(job->schedule);
	if (every && every / 10 < delay)
		delay = every / 10;
	rc = put(buf, n, &off,
		 "# Written by `backupfs job enable %s` from the schedule "
		 "\"%s\"\n# of %s.  Edit the job and enable it again rather "
		 "than this file.\n[Timer]\n# the template's default goes\n"
		 "OnCalendar=\n",
		 job->name, bfs_schedule_text(job->schedule), source);
	if (!rc && every)
		/* OnUnitActiveSec= counts from the last run; OnActiveSec=
		 * starts the first interval when the timer starts. */
		rc = put(buf, n, &off, "OnActiveSec=%s\nOnUnitActiveSec=%s\n",
			 value, value);
	else if (!rc)
		rc = put(buf, n, &off, "%s=%s\n", key, value);
	if (!rc)
		rc = put(buf, n, &off, "Persistent=%s\n",
			 job->catch_up ? "true" : "false");
	if (!rc) {
		bfs_duration_format(delay, span, sizeof(span));
		rc = put(buf, n, &off, "RandomizedDelaySec=%s\n", span);
	}
	if (rc)
		return bfs_err_set(err, rc, "timer drop-in too long");
	return 0;
}
