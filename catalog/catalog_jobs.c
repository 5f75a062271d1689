/* catalog_jobs.c - the jobs of a catalog, for the mount's /jobs/NAME/:
 * a job is listed while it has a backup in the catalog; its number
 * (jobs.id, AUTOINCREMENT, rows never deleted) stays the same in one
 * catalog file, so the mount's inode numbers for /jobs/NAME and
 * /jobs/NAME/latest do too (fuse/mount.h).  Everything read back is
 * checked: a catalog file is hostile until then. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "catalog/catalog_int.h"

/* A row (id, name) -> *out, checked. */
static int fill_job(struct bfs_catalog *c, sqlite3_stmt *st,
		    struct bfs_cat_job *out, struct bfs_err *err)
{
	const unsigned char *t = sqlite3_column_text(st, 1);
	int64_t id = sqlite3_column_int64(st, 0);

	if (id < 1 || id > BFS_CAT_JOB_MAX || !t ||
	    !bfs_format_job_name_valid((const char *)t))
		return bfs_err_set(err, -EUCLEAN,
				   "catalog '%s': a bad row in jobs (id "
				   "%lld; run 'backupfs catalog rebuild')",
				   c->path, (long long)id);
	out->id = id;
	snprintf(out->name, sizeof(out->name), "%s", (const char *)t);
	return 0;
}

/* See catalog.h. */
int bfs_catalog_jobs(struct bfs_catalog *c,
		     int (*cb)(void *arg, const struct bfs_cat_job *j),
		     void *arg, struct bfs_err *err)
{
	struct bfs_cat_job j;
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_JOB_LIST, &st, err);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = fill_job(c, st, &j, err);
		if (!rc)
			rc = cb(arg, &j);
		if (rc)
			goto out_put;
	}
	rc = rc == SQLITE_DONE ? 0 : cat_sqlerr(c, rc, err, "cannot list jobs");
out_put:
	cat_stmt_put(c, ST_JOB_LIST, st);
	return rc;
}

/* See catalog.h. */
int bfs_catalog_job_find(struct bfs_catalog *c, const char *name, int64_t id,
			 struct bfs_cat_job *out, struct bfs_err *err)
{
	enum cat_st sid = name ? ST_JOB_BY_NAME : ST_JOB_BY_ID;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	if (name && !bfs_format_job_name_valid(name))
		return bfs_err_set(err, -ENOENT, "no job '%.100s'", name);
	rc = cat_stmt_get(c, sid, &st, err);
	if (rc)
		return rc;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = fill_job(c, st, out, err);
	else if (rc == SQLITE_DONE)
		rc = name ? bfs_err_set(err, -ENOENT,
					"no backup of job '%s' in the catalog",
					name)
			  : bfs_err_set(err, -ENOENT,
					"no backup of job number %lld in the "
					"catalog",
					(long long)id);
	else
		rc = cat_sqlerr(c, rc, err, "cannot find a job");
	cat_stmt_put(c, sid, st);
	return rc;
}

/* See catalog.h. */
int bfs_catalog_job_latest(struct bfs_catalog *c, const char *name,
			   struct bfs_backup_info *out, struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cat_stmt_get(c, ST_JOB_LATEST, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = cat_fill_backup(c, st, out, err);
	else if (rc == SQLITE_DONE)
		rc = bfs_err_set(err, -ENOENT,
				 "no backup of job '%.100s' in the catalog",
				 name);
	else
		rc = cat_sqlerr(c, rc, err, "cannot find a backup");
	cat_stmt_put(c, ST_JOB_LATEST, st);
	return rc;
}
