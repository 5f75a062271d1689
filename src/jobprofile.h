/* jobprofile.h - app profiles: job files pre-filled from each app's backup
 * guide, for `backupfs job new --profile APP NAME` (doc/apps/APP.md).
 *
 *   char *text;
 *   if (bfs_job_profile_render("seatable", "seatable", 0, &text, &err) == 0)
 *           ... write text; free(text);
 *
 * A profile's hosts, paths and repository are placeholders, <UPPER_CASE>
 * in angle brackets ("<DB_HOST>", "<SEATABLE_DIR>"): the job parser
 * refuses a file that still holds one, naming them (job.h), so
 * `backupfs job check` says what is left to fill in.  Secrets are never
 * in a profile: they go in the env_file the profile names.
 *
 * Thread safety: the profiles are constant; everything here is
 * reentrant.
 */
#ifndef BFS_JOBPROFILE_H
#define BFS_JOBPROFILE_H

#include <stddef.h>

struct bfs_err;

struct bfs_job_profile {
	const char *name;    /* "nocodb", "seatable", ... */
	const char *summary; /* one line: what the job backs up */
	const char *secrets; /* what goes in the env_file, e.g.
				"PGPASSWORD, NOCODB_API_TOKEN" */
};

/* Render flags. */
enum {
	/* dolt: `dolt backup sync-url` into a staging directory in a pre
	 * hook (dolt is on PATH) instead of stopping the server and copying
	 * its data directory */
	BFS_PROFILE_DOLT_SYNC = 1,
};

/* The profiles, in the order `job new --list-profiles` prints them; *n
 * gets their number.  Static storage. */
const struct bfs_job_profile *bfs_job_profiles(size_t *n);

/* The profile called name, or NULL. */
const struct bfs_job_profile *bfs_job_profile_find(const char *name);

/* The job file text of profile `profile` for a job called `job`
 * (bfs_job_name_valid), *out malloc'ed (the caller frees).  flags:
 * BFS_PROFILE_*.  0, -ENOENT (no such profile: message lists them),
 * -EINVAL (an invalid job name) or -ENOMEM. */
int bfs_job_profile_render(const char *profile, const char *job, int flags,
			   char **out, struct bfs_err *err);

#endif
