/* restore_fs.c - the file system side of a restore: messages, temp
 * names, moving objects into place, metadata, sparse writes, and the
 * hardlink map.  See restore_int.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "restore_int.h"

#define SPARSE_BLOCK 4096
#define PROGRESS_NS 100000000LL /* 10 per second */

const char *rst_cur_path(const struct rctx *x)
{
	return (const char *)x->path.data;
}

const char *rst_rel_path(const struct rctx *x)
{
	return x->path.len > x->base ? rst_cur_path(x) + x->base : "";
}

void rst_progress(struct rctx *x, bool force)
{
	int64_t now;

	if (!x->o.progress)
		return;
	now = bfs_mono_ns();
	if (!force && now - x->last_ns < PROGRESS_NS)
		return;
	x->last_ns = now;
	x->prog.elapsed_ns = now - x->start_ns;
	x->prog.current = rst_rel_path(x);
	x->o.progress(x->o.arg, &x->prog);
}

void rst_warn(struct rctx *x, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!x->o.warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->o.warn(x->o.arg, rst_cur_path(x), msg);
}

/* A name for a new object in dirfd, unique enough to be created with
 * O_EXCL / mknod / symlink (those fail with EEXIST, and we retry). */
void rst_tmp_name(char out[32])
{
	uint32_t r = 0;

	if (bfs_random(&r, sizeof(r)) < 0)
		r = (uint32_t)bfs_mono_ns() ^ (uint32_t)getpid();
	snprintf(out, 32, ".bfs-restore.%08x", r);
}

int rst_fs_error(struct rctx *x, int code, const char *what)
{
	return bfs_err_set(x->err, code, "cannot %s '%s': %s", what,
			   rst_cur_path(x), strerror(-code));
}

int rst_conflict(struct rctx *x)
{
	return bfs_err_set(x->err, -EEXIST,
			   "'%s' already exists (use --force to overwrite)",
			   rst_cur_path(x));
}

/* Move the object created as tmp into place as name.  Without force an
 * existing name is never replaced. */
int rst_place(struct rctx *x, int dirfd, const char *tmp, const char *name)
{
	int rc = 0;

	if (!x->o.force) {
		if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOSYS) {
			/* file system without RENAME_NOREPLACE */
			if (linkat(dirfd, tmp, dirfd, name, 0) == 0) {
				unlinkat(dirfd, tmp, 0);
				return 0;
			}
		}
		rc = errno == EEXIST ? rst_conflict(x)
				     : rst_fs_error(x, -errno, "create");
		goto out_unlink;
	}
	if (renameat(dirfd, tmp, dirfd, name) == 0) {
		/* renaming a link onto the same inode is a no-op that
		 * leaves tmp behind */
		unlinkat(dirfd, tmp, 0);
		return 0;
	}
	if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) {
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 &&
		    renameat(dirfd, tmp, dirfd, name) == 0)
			return 0;
	}
	rc = rst_fs_error(x, -errno, "replace");
out_unlink:
	unlinkat(dirfd, tmp, 0);
	return rc;
}

static void set_times(struct timespec ts[2], int64_t mtime_ns)
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = mtime_ns / 1000000000;
	ts[1].tv_nsec = mtime_ns % 1000000000;
	if (ts[1].tv_nsec < 0) {
		ts[1].tv_nsec += 1000000000;
		ts[1].tv_sec--;
	}
}

/* The mode bits to set for e: setuid and setgid only when the owner is
 * restored too (root, or --same-owner), as GNU tar does: a setuid file
 * that now belongs to the restoring user would run as that user (issue 13
 * item 11).  The sticky bit stays. */
static mode_t meta_mode(const struct rctx *x, const struct bfs_entry *e)
{
	mode_t m = e->mode & 07777;

	return x->o.owners ? m : m & ~(mode_t)(S_ISUID | S_ISGID);
}

/* Owner, then mode (chown clears setuid/setgid), then mtime, on an open
 * file or directory. */
int rst_meta_fd(struct rctx *x, int fd, const struct bfs_entry *e)
{
	struct timespec ts[2];

	if (x->o.owners && fchown(fd, e->uid, e->gid) < 0)
		rst_warn(x, "cannot set owner %u:%u: %s", e->uid, e->gid,
			 strerror(errno));
	if (fchmod(fd, meta_mode(x, e)) < 0)
		return rst_fs_error(x, -errno, "set the mode of");
	set_times(ts, e->mtime_ns);
	if (futimens(fd, ts) < 0)
		return rst_fs_error(x, -errno, "set the time of");
	return 0;
}

/* The same for an object we cannot open (symlink, fifo, device). */
int rst_meta_at(struct rctx *x, int dirfd, const char *name,
		const struct bfs_entry *e, bool chmod_ok)
{
	struct timespec ts[2];

	if (x->o.owners &&
	    fchownat(dirfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		rst_warn(x, "cannot set owner %u:%u: %s", e->uid, e->gid,
			 strerror(errno));
	if (chmod_ok && fchmodat(dirfd, name, meta_mode(x, e), 0) < 0)
		return rst_fs_error(x, -errno, "set the mode of");
	set_times(ts, e->mtime_ns);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return rst_fs_error(x, -errno, "set the time of");
	return 0;
}

static int pwrite_full(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Write data at off, leaving holes for all-zero 4 KiB blocks (aligned to
 * the file's blocks); the file's final size is set by ftruncate. */
int rst_file_write(void *arg, uint64_t off, const uint8_t *data, size_t n)
{
	struct file_out *o = arg;
	size_t i = 0;
	int rc;

	while (i < n) {
		size_t blk =
		    BFS_MIN(SPARSE_BLOCK - (off + i) % SPARSE_BLOCK, n - i);
		size_t j;

		if (all_zero(data + i, blk)) {
			i += blk;
			continue;
		}
		for (j = i + blk; j < n;) {
			size_t b2 = BFS_MIN(SPARSE_BLOCK, n - j);

			if (all_zero(data + j, b2))
				break;
			j += b2;
		}
		rc = pwrite_full(o->fd, data + i, j - i, off + i);
		if (rc < 0) {
			o->werr = rc;
			return rc;
		}
		i = j;
	}
	o->x->prog.bytes += n;
	o->x->st.bytes += n;
	rst_progress(o->x, false);
	return 0;
}

int rst_open_tmp(struct rctx *x, int dirfd, char tmp[32])
{
	int fd, tries;

	for (tries = 0; tries < 100; tries++) {
		rst_tmp_name(tmp);
		fd = openat(
		    dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return rst_fs_error(x, -errno, "create a file for");
	return fd;
}

/* Entry names come from untrusted manifests: refuse anything that would
 * escape the directory it is created in. */
bool rst_name_ok(const struct bfs_cat_entry *ce)
{
	const char *p = ce->e.path;
	size_t n = ce->e.path_len;

	if (!p || n == 0 || n > 255 || memchr(p, '/', n) || strlen(p) != n)
		return false;
	return !(n == 1 && p[0] == '.') &&
	       !(n == 2 && p[0] == '.' && p[1] == '.');
}

/* ---- hardlink map ------------------------------------------------------- */

int rst_links_init(struct rctx *x)
{
	return bfs_hmap_init(&x->links, sizeof(struct link_rec),
			     sizeof(int64_t), 0, 0);
}

const char *rst_link_get(struct rctx *x, int64_t key)
{
	const struct link_rec *r = bfs_hmap_find(&x->links, &key);

	return r ? r->path : NULL;
}

/* The first member restored stays the group's link target. */
int rst_link_put(struct rctx *x, int64_t key, const char *path)
{
	struct link_rec *r;
	bool added;
	int rc;

	rc = bfs_hmap_get(&x->links, &key, (void **)&r, &added);
	if (rc < 0)
		return rc;
	if (!added)
		return 0;
	r->path = strdup(path);
	if (!r->path) {
		bfs_hmap_remove(&x->links, &key);
		return -ENOMEM;
	}
	return 0;
}

void rst_links_fini(struct rctx *x)
{
	struct link_rec *r;
	size_t it = 0;

	while ((r = bfs_hmap_next(&x->links, &it)))
		free(r->path);
	bfs_hmap_fini(&x->links);
}
