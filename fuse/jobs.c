/* jobs.c - the mount's /jobs/ tree: one directory per job that has a
 * backup in the catalog (the manifests' "job"), holding one symlink,
 * latest -> ../../<the job's newest backup>.  An ad-hoc backup (no job)
 * never moves a job's latest; /latest stays the repository's newest.
 * Inode numbers: fuse/mount.h (the job's number in the catalog file).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse/mount_int.h"
#include "src/log.h"

#define JOB_INO_MAX (BFS_INO_JOB_BASE + 2 * (uint64_t)BFS_CAT_JOB_MAX + 1)

bool mnt_jobs_ino(fuse_ino_t ino)
{
	return ino == BFS_INO_JOBS ||
	       (ino >= BFS_INO_JOB_BASE + 2 && ino <= JOB_INO_MAX);
}

bool mnt_jobs_is_link(fuse_ino_t ino)
{
	return ino != BFS_INO_JOBS && mnt_jobs_ino(ino) &&
	       (ino - BFS_INO_JOB_BASE) % 2 == 1;
}

static int64_t job_of(fuse_ino_t ino)
{
	return (int64_t)((ino - BFS_INO_JOB_BASE) / 2);
}

static fuse_ino_t dir_ino(int64_t job)
{
	return BFS_INO_JOB_BASE + 2 * (fuse_ino_t)job;
}

/* /jobs/NAME/latest of job j: attributes and (when buf) the target. */
static int link_stat(struct bfs_mount *m, struct bfs_catalog *cat,
		     const struct bfs_cat_job *j, struct stat *st, char *buf,
		     size_t n)
{
	struct bfs_backup_info b;
	struct bfs_err err = {""};
	char target[sizeof(b.name) + 8];
	int rc;

	rc = bfs_catalog_job_latest(cat, j->name, &b, &err);
	if (rc < 0) {
		if (rc != -ENOENT)
			bfs_err_log("catalog: %s", bfs_err_str(&err, rc));
		return rc;
	}
	snprintf(target, sizeof(target), "../../%s", b.name);
	mnt_symlink_stat(m, dir_ino(j->id) + 1, target, b.time_ns, st);
	if (buf)
		snprintf(buf, n, "%s", target);
	bfs_backup_info_clear(&b);
	return 0;
}

/* The job of a /jobs/NAME[/latest] inode, if it has a backup. */
static int find_job(struct bfs_catalog *cat, fuse_ino_t ino,
		    struct bfs_cat_job *j)
{
	struct bfs_err err = {""};
	int rc;

	rc = bfs_catalog_job_find(cat, NULL, job_of(ino), j, &err);
	if (rc < 0 && rc != -ENOENT)
		bfs_err_log("catalog: %s", bfs_err_str(&err, rc));
	return rc;
}

int mnt_jobs_stat(struct bfs_mount *m, struct bfs_catalog *cat, fuse_ino_t ino,
		  struct stat *st)
{
	struct bfs_cat_job j;
	int rc;

	if (ino == BFS_INO_JOBS) {
		mnt_dir_stat(m, ino, st);
		return 0;
	}
	rc = find_job(cat, ino, &j);
	if (rc < 0)
		return rc;
	if (mnt_jobs_is_link(ino))
		return link_stat(m, cat, &j, st, NULL, 0);
	mnt_dir_stat(m, ino, st);
	return 0;
}

int mnt_jobs_lookup(struct bfs_mount *m, struct bfs_catalog *cat,
		    fuse_ino_t parent, const char *name, struct stat *st)
{
	struct bfs_cat_job j;
	struct bfs_err err = {""};
	int rc;

	if (parent == FUSE_ROOT_ID) {
		if (strcmp(name, "jobs") != 0)
			return -ENOENT;
		mnt_dir_stat(m, BFS_INO_JOBS, st);
		return 0;
	}
	if (parent == BFS_INO_JOBS) {
		rc = bfs_catalog_job_find(cat, name, 0, &j, &err);
		if (rc < 0) {
			if (rc != -ENOENT)
				bfs_err_log("catalog: %s",
					    bfs_err_str(&err, rc));
			return rc;
		}
		mnt_dir_stat(m, dir_ino(j.id), st);
		return 0;
	}
	if (mnt_jobs_is_link(parent))
		return -ENOTDIR;
	rc = find_job(cat, parent, &j);
	if (rc < 0)
		return rc;
	if (strcmp(name, "latest") != 0)
		return -ENOENT;
	return link_stat(m, cat, &j, st, NULL, 0);
}

int mnt_jobs_readlink(struct bfs_mount *m, struct bfs_catalog *cat,
		      fuse_ino_t ino, char *buf, size_t n)
{
	struct bfs_cat_job j;
	struct stat st;
	int rc;

	if (!mnt_jobs_is_link(ino))
		return -EINVAL;
	rc = find_job(cat, ino, &j);
	if (rc < 0)
		return rc;
	return link_stat(m, cat, &j, &st, buf, n);
}

struct list_arg {
	struct bfs_mount *m;
	int (*push)(void *arg, const char *name, const struct stat *st);
	void *arg;
};

static int list_cb(void *arg, const struct bfs_cat_job *j)
{
	struct list_arg *a = arg;
	struct stat st;

	mnt_dir_stat(a->m, dir_ino(j->id), &st);
	return a->push(a->arg, j->name, &st);
}

int mnt_jobs_list(struct bfs_mount *m, struct bfs_catalog *cat, fuse_ino_t ino,
		  fuse_ino_t *parent,
		  int (*push)(void *arg, const char *name,
			      const struct stat *st),
		  void *arg)
{
	struct list_arg a = {m, push, arg};
	struct bfs_err err = {""};
	struct bfs_cat_job j;
	struct stat st;
	int rc;

	if (ino == BFS_INO_JOBS) {
		*parent = FUSE_ROOT_ID;
		rc = bfs_catalog_jobs(cat, list_cb, &a, &err);
		if (rc < 0 && err.msg[0])
			bfs_err_log("catalog: %s", bfs_err_str(&err, rc));
		return rc;
	}
	if (mnt_jobs_is_link(ino))
		return -ENOTDIR;
	rc = find_job(cat, ino, &j);
	if (rc < 0)
		return rc;
	*parent = BFS_INO_JOBS;
	rc = link_stat(m, cat, &j, &st, NULL, 0);
	if (rc == -ENOENT)
		return 0; /* the last backup went meanwhile: empty */
	return rc < 0 ? rc : push(arg, "latest", &st);
}

static int any_cb(void *arg, const struct bfs_cat_job *j)
{
	(void)arg;
	(void)j;
	return 1;
}

bool mnt_jobs_any(struct bfs_catalog *cat)
{
	return bfs_catalog_jobs(cat, any_cb, NULL, NULL) == 1;
}

static int inval_cb(void *arg, const struct bfs_cat_job *j)
{
	struct bfs_mount *m = arg;

	fuse_lowlevel_notify_inval_entry(m->se, BFS_INO_JOBS, j->name,
					 strlen(j->name));
	fuse_lowlevel_notify_inval_entry(m->se, dir_ino(j->id), "latest", 6);
	fuse_lowlevel_notify_inval_inode(m->se, dir_ino(j->id) + 1, 0, 0);
	fuse_lowlevel_notify_inval_inode(m->se, dir_ino(j->id), 0, 0);
	return 0;
}

void mnt_jobs_invalidate(struct bfs_mount *m, struct bfs_catalog *cat)
{
	bfs_catalog_jobs(cat, inval_cb, m, NULL);
	fuse_lowlevel_notify_inval_inode(m->se, BFS_INO_JOBS, 0, 0);
}
