/* restore.c - see restore.h.
 *
 * The restore works relative to directory file descriptors (openat,
 * mkdirat, ...) so that trees deeper than PATH_MAX restore; it holds one
 * descriptor per directory level being restored.  Directory listings come
 * from the catalog a page at a time (catalog_iter.h), copied out before
 * anything else touches the catalog (no nested statements).  File
 * contents come from the read engine (reader.h); small files of a page
 * are fetched ahead (restore_prefetch.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "restore_int.h"

#define PF_MAX_FILE (4u << 20) /* larger files are not prefetched */

static char *memdup0(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* Try to restore a hardlink member as a link to the group's first
 * restored member.  1 done, 0 not possible (restore content), -errno. */
static int restore_link(struct rctx *x, int dirfd,
			const struct bfs_cat_entry *ce, int64_t key)
{
	const char *first = rst_link_get(x, key);
	char tmp[32];
	int tries, rc;

	if (!first)
		return 0;
	for (tries = 0; tries < 100; tries++) {
		rst_tmp_name(tmp);
		if (linkat(x->rootfd, first, dirfd, tmp, 0) == 0)
			break;
		if (errno != EEXIST)
			return 0; /* e.g. ENAMETOOLONG: copy instead */
	}
	if (tries == 100)
		return 0;
	rc = rst_place(x, dirfd, tmp, ce->e.path);
	if (rc < 0)
		return rc;
	x->st.hardlinks++;
	return 1;
}

/* Per-entry failures (content that cannot be read from the repository)
 * are counted and reported; the restore goes on.  Returns 0 or a fatal
 * -errno. */
static int entry_failed(struct rctx *x, int rc)
{
	rst_warn(x, "cannot restore: %s", bfs_err_str(x->err, rc));
	x->err->msg[0] = '\0';
	x->st.failed++;
	return 0;
}

static int restore_file(struct rctx *x, int dirfd,
			const struct bfs_cat_entry *ce, struct pf_item *it)
{
	int64_t key = ce->link_id ? ce->link_id : ce->id;
	struct bfs_chunkref *refs = NULL;
	struct file_out o = {x, -1, 0};
	uint64_t size;
	size_t n = 0;
	char tmp[32];
	int rc;

	/* Trees are sorted by name, so a member of a hardlink group may
	 * come before the group's first entry: whichever is restored first
	 * gets the content, the others link to it. */
	if (ce->link_id || ce->nlink > 1) {
		rc = restore_link(x, dirfd, ce, key);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	if (it) {
		/* prefetched: the chunk list was read and checked already */
		const uint8_t *data;

		rc = pf_get(x->pf, it, &data, &size, x->err);
		if (rc < 0) {
			bfs_err_prefix(x->err, rc, "cannot read '%s'",
				       rst_rel_path(x));
			return entry_failed(x, rc);
		}
		o.fd = rst_open_tmp(x, dirfd, tmp);
		if (o.fd < 0)
			return o.fd;
		rc = rst_file_write(&o, 0, data, size);
		if (rc < 0) {
			rc = rst_fs_error(x, o.werr ? o.werr : rc, "write");
			goto out_unlink;
		}
		goto out_written;
	}
	/* A damaged chunk list or link (EUCLEAN, EINVAL) spoils this entry
	 * only; other catalog errors stop the restore. */
	rc = rst_entry_size(x->cat, ce, &size, x->err);
	if (rc == 0)
		rc = bfs_catalog_chunks(x->cat, ce->id, &refs, &n, x->err);
	if (rc == -EUCLEAN || rc == -EINVAL || rc == -ENOENT)
		return entry_failed(x, rc);
	if (rc < 0)
		return rc;
	rc = rst_check_chunk_sum(refs, n, size, rst_cur_path(x), x->err);
	if (rc < 0) {
		rc = entry_failed(x, rc);
		goto out_free;
	}
	o.fd = rst_open_tmp(x, dirfd, tmp);
	if (o.fd < 0) {
		rc = o.fd;
		goto out_free;
	}
	rc = bfs_reader_stream(x->reader, refs, n, rst_file_write, &o, x->err);
	if (rc < 0) {
		if (o.werr) {
			rc = rst_fs_error(x, o.werr, "write");
		} else {
			bfs_err_prefix(x->err, rc, "cannot read '%s'",
				       rst_rel_path(x));
			rc = entry_failed(x, rc);
		}
		goto out_unlink;
	}
out_written:
	if (ftruncate(o.fd, (off_t)size) < 0) {
		rc = rst_fs_error(x, -errno, "write");
		goto out_unlink;
	}
	rc = rst_meta_fd(x, o.fd, &ce->e);
	if (rc < 0)
		goto out_unlink;
	rc = close(o.fd);
	o.fd = -1;
	if (rc < 0) {
		rc = rst_fs_error(x, -errno, "write");
		goto out_unlink;
	}
	rc = rst_place(x, dirfd, tmp, ce->e.path);
	if (rc < 0)
		goto out_free;
	x->st.files++;
	x->prog.files++;
	if ((ce->link_id || ce->nlink > 1) &&
	    rst_link_put(x, key, rst_rel_path(x)) < 0)
		rc = bfs_err_set(x->err, -ENOMEM, "out of memory");
	goto out_free;
out_unlink:
	if (o.fd >= 0)
		close(o.fd);
	unlinkat(dirfd, tmp, 0);
out_free:
	free(refs);
	return rc;
}

static int restore_special(struct rctx *x, int dirfd,
			   const struct bfs_cat_entry *ce)
{
	const struct bfs_entry *e = &ce->e;
	char tmp[32];
	int tries, rc = -EEXIST;
	mode_t fmt;

	switch (e->type) {
	case BFS_T_FIFO:
		fmt = S_IFIFO;
		break;
	case BFS_T_SOCK:
		fmt = S_IFSOCK;
		break;
	case BFS_T_CHR:
		fmt = S_IFCHR;
		break;
	default:
		fmt = S_IFBLK;
		break;
	}
	for (tries = 0; tries < 100 && rc == -EEXIST; tries++) {
		rst_tmp_name(tmp);
		if (e->type == BFS_T_SYMLINK)
			rc = symlinkat(e->target ? e->target : "", dirfd, tmp);
		else
			rc = mknodat(dirfd, tmp, fmt | 0600, (dev_t)e->rdev);
		rc = rc < 0 ? -errno : 0;
	}
	if (rc < 0)
		return rst_fs_error(x, rc, "create");
	rc = rst_meta_at(x, dirfd, tmp, e, e->type != BFS_T_SYMLINK);
	if (rc < 0) {
		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	rc = rst_place(x, dirfd, tmp, e->path);
	if (rc < 0)
		return rc;
	if (e->type == BFS_T_SYMLINK)
		x->st.symlinks++;
	else
		x->st.specials++;
	return 0;
}

static int restore_children(struct rctx *x, int dirfd, int64_t dir);

static int restore_dir(struct rctx *x, int dirfd,
		       const struct bfs_cat_entry *ce)
{
	const char *name = ce->e.path;
	struct stat st;
	int fd, rc;

	if (mkdirat(dirfd, name, 0700) < 0) {
		if (errno != EEXIST)
			return rst_fs_error(x, -errno, "create directory");
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return rst_fs_error(x, -errno, "stat");
		if (!S_ISDIR(st.st_mode)) {
			if (!x->o.force)
				return rst_conflict(x);
			if (unlinkat(dirfd, name, 0) < 0 ||
			    mkdirat(dirfd, name, 0700) < 0)
				return rst_fs_error(x, -errno, "replace");
		}
	}
	fd = openat(dirfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rst_fs_error(x, -errno, "open directory");
	/* An existing directory (an earlier restore of a read-only one) must
	 * be writable for us while we fill it; its mode is set at the end. */
	if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
		fchmod(fd, (st.st_mode & 07777) | 0700);
	rc = restore_children(x, fd, ce->id);
	if (rc == 0)
		rc = rst_meta_fd(x, fd, &ce->e);
	close(fd);
	if (rc == 0)
		x->st.dirs++;
	return rc;
}

static int restore_entry(struct rctx *x, int dirfd,
			 const struct bfs_cat_entry *ce, struct pf_item *it)
{
	uint64_t failed = x->st.failed;
	size_t len = x->path.len;
	int rc;

	if (!rst_name_ok(ce))
		return bfs_err_set(x->err, -EUCLEAN,
				   "bad entry name in the catalog below '%s'",
				   rst_cur_path(x));
	rc = rst_path_push(&x->path, ce->e.path, ce->e.path_len);
	if (rc < 0)
		return bfs_err_set(x->err, rc, "out of memory");
	/* A hardlink to an entry that was unreadable has no content of
	 * its own: a failure, as the mount's EIO, not a skip or an empty
	 * file (issue 13 item 9). */
	rc = rst_link_unreadable(x->cat, ce, x->err);
	if (rc == -EIO) {
		rc = entry_failed(x, rc);
		goto out_pop;
	}
	if (rc < 0)
		goto out_pop;
	if (ce->e.error) {
		rst_warn(x, "skipped: unreadable at backup time: %s",
			 ce->e.error);
		x->st.skipped++;
		goto out_pop;
	}
	switch (ce->e.type) {
	case BFS_T_DIR:
		rc = restore_dir(x, dirfd, ce);
		break;
	case BFS_T_FILE:
		rc = restore_file(x, dirfd, ce, it);
		break;
	case BFS_T_CHR:
	case BFS_T_BLK:
		if (!x->o.devices) {
			rst_warn(x, "skipped: device nodes need root");
			x->st.skipped++;
			break;
		}
		/* fall through */
	case BFS_T_SYMLINK:
	case BFS_T_FIFO:
	case BFS_T_SOCK:
		rc = restore_special(x, dirfd, ce);
		break;
	default:
		rst_warn(x, "skipped: unknown type '%c'", ce->e.type);
		x->st.skipped++;
		break;
	}
	if (rc == 0 && x->st.failed == failed) {
		x->st.entries++;
		x->prog.entries++;
		rst_progress(x, false);
	}
out_pop:
	rst_path_pop(&x->path, len);
	return rc;
}

/* Queue the small regular files of a page for prefetching; map[i] is the
 * item of page entry i or NULL (then restore_file reads it itself, and
 * reports any catalog problem). */
static void queue_page(struct rctx *x, const struct bfs_cat_entry *items,
		       size_t n, struct pf_item **map)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct bfs_cat_entry *ce = &items[i];
		struct bfs_chunkref *refs = NULL;
		uint64_t sum = 0;
		size_t k, nr = 0;

		map[i] = NULL;
		/* hardlink groups are not prefetched: any member may end up
		 * a link to one restored before (restore_file) */
		if (ce->e.type != BFS_T_FILE || ce->e.error || ce->link_id ||
		    ce->nlink > 1 || ce->e.size > PF_MAX_FILE ||
		    ce->nchunks == 0)
			continue;
		if (bfs_catalog_chunks(x->cat, ce->id, &refs, &nr, NULL) < 0)
			continue;
		for (k = 0; k < nr; k++)
			sum += refs[k].len;
		if (sum != ce->e.size) {
			free(refs);
			continue;
		}
		map[i] = pf_add(x->pf, refs, nr, sum);
	}
}

static int restore_children(struct rctx *x, int dirfd, int64_t dir)
{
	struct bfs_catalog_iter it;
	const struct bfs_cat_entry *items;
	struct pf_item **map;
	size_t i, n;
	int rc;

	map = calloc(RESTORE_PAGE, sizeof(*map));
	if (!map)
		return bfs_err_set(x->err, -ENOMEM, "out of memory");
	bfs_catalog_iter_init(&it, x->cat, dir, 0, RESTORE_PAGE);
	while ((rc = bfs_catalog_iter_page(&it, &items, &n, x->err)) == 0 &&
	       n) {
		queue_page(x, items, n, map);
		for (i = 0; i < n; i++) {
			rc = restore_entry(x, dirfd, &items[i], map[i]);
			pf_put(x->pf, map[i]);
			map[i] = NULL;
			if (rc < 0)
				break;
		}
		/* on error: release what is still queued or in flight */
		for (; i < n; i++) {
			pf_put(x->pf, map[i]);
			map[i] = NULL;
		}
		if (rc < 0)
			break;
	}
	bfs_catalog_iter_fini(&it);
	free(map);
	return rc;
}

/* ---- conflict check (before anything is written) ------------------------ */

static int check_children(struct rctx *x, int dirfd, int64_t dir);

static int check_entry(struct rctx *x, int dirfd,
		       const struct bfs_cat_entry *ce)
{
	size_t len = x->path.len;
	struct stat st;
	int fd, rc = 0;

	if (!rst_name_ok(ce))
		return bfs_err_set(x->err, -EUCLEAN,
				   "bad entry name in the catalog below '%s'",
				   rst_cur_path(x));
	if (ce->e.error ||
	    ((ce->e.type == BFS_T_CHR || ce->e.type == BFS_T_BLK) &&
	     !x->o.devices))
		return 0; /* will be skipped */
	rc = rst_path_push(&x->path, ce->e.path, ce->e.path_len);
	if (rc < 0)
		return bfs_err_set(x->err, rc, "out of memory");
	if (fstatat(dirfd, ce->e.path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			rc = rst_fs_error(x, -errno, "stat");
		goto out_pop;
	}
	if (ce->e.type != BFS_T_DIR || !S_ISDIR(st.st_mode)) {
		rc = rst_conflict(x);
		goto out_pop;
	}
	fd = openat(dirfd, ce->e.path,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = rst_fs_error(x, -errno, "open directory");
		goto out_pop;
	}
	rc = check_children(x, fd, ce->id);
	close(fd);
out_pop:
	rst_path_pop(&x->path, len);
	return rc;
}

static int check_children(struct rctx *x, int dirfd, int64_t dir)
{
	struct bfs_catalog_iter it;
	const struct bfs_cat_entry *ce;
	int rc;

	bfs_catalog_iter_init(&it, x->cat, dir, 0, RESTORE_PAGE);
	while ((rc = bfs_catalog_iter_next(&it, &ce, x->err)) == 1) {
		rc = check_entry(x, dirfd, ce);
		if (rc < 0)
			break;
	}
	bfs_catalog_iter_fini(&it);
	return rc;
}

/* ---- entry point -------------------------------------------------------- */

/* mkdir -p target itself (bfs_mkdir_parents stops before the last
 * component). */
static int make_target(const char *target)
{
	size_t n = strlen(target);
	char *p;
	int rc = 0;

	p = malloc(n + 3);
	if (!p)
		return -ENOMEM;
	memcpy(p, target, n);
	memcpy(p + n, "/x", 3);
	rc = bfs_mkdir_parents(p, 0755);
	free(p);
	return rc;
}

/* A parent of the path to restore exists in the target as something else
 * than a directory (a symlink, which restore never follows, or a file).
 * --force replaces entries, never the parents of what is restored, so
 * the message must not suggest it (issue 13 item 12). */
static int parent_in_the_way(struct rctx *x, int dirfd, const char *name)
{
	struct stat st;
	bool link = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode);

	return bfs_err_set(
	    x->err, -ENOTDIR,
	    "'%s' is %s, not a directory: restore never follows symbolic "
	    "links or replaces the parents of what it restores, even with "
	    "--force; move it away, or restore into an empty directory "
	    "(--target) and copy from there",
	    rst_cur_path(x), link ? "a symbolic link" : "a file");
}

/* Open (creating as needed) the directories of path's parent inside
 * rootfd; leaves x->path at "TARGET/parent". Returns a new fd or -errno. */
static int open_parents(struct rctx *x, const char *path)
{
	const char *p = path, *slash;
	int fd, nfd, rc;

	fd = dup(x->rootfd);
	if (fd < 0)
		return rst_fs_error(x, -errno, "open directory");
	while ((slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		char *name = memdup0(p, n);

		if (!name || rst_path_push(&x->path, p, n) < 0) {
			free(name);
			close(fd);
			return bfs_err_set(x->err, -ENOMEM, "out of memory");
		}
		if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST) {
			rc = rst_fs_error(x, -errno, "create directory");
			goto out_close;
		}
		nfd = openat(fd, name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			rc = errno == ENOTDIR || errno == ELOOP
				 ? parent_in_the_way(x, fd, name)
				 : rst_fs_error(x, -errno, "open directory");
			goto out_close;
		}
		free(name);
		close(fd);
		fd = nfd;
		p = slash + 1;
		continue;
	out_close:
		free(name);
		close(fd);
		return rc;
	}
	return fd;
}

/* as_target for a non-directory: target names the file itself, unless it
 * is an existing directory (then the file goes into it under its own
 * name, as cp does).  *dir (malloc'ed, or NULL to keep target) gets the
 * directory the file goes into; ce is renamed (its e.path is the name
 * restore_entry creates).  0 or -ENOMEM. */
static int as_target_file(struct bfs_cat_entry *ce, const char *target,
			  char **dir)
{
	const char *slash;
	char *name;
	struct stat st;
	size_t tlen = strlen(target);

	*dir = NULL;
	while (tlen > 1 && target[tlen - 1] == '/')
		tlen--;
	if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	slash = memrchr(target, '/', tlen);
	if (slash)
		*dir = memdup0(target,
			       slash == target ? 1 : (size_t)(slash - target));
	else
		*dir = strdup(".");
	name = slash ? memdup0(slash + 1, tlen - (size_t)(slash + 1 - target))
		     : memdup0(target, tlen);
	if (!*dir || !name) {
		free(*dir);
		*dir = NULL;
		free(name);
		return -ENOMEM;
	}
	free(ce->e.path);
	ce->e.path = name;
	ce->e.path_len = strlen(name);
	return 0;
}

int bfs_restore(struct bfs_repo *repo, struct bfs_catalog *cat, int64_t root,
		const char *path, const char *target,
		const struct bfs_restore_opts *opts,
		struct bfs_restore_stats *stats, struct bfs_err *err)
{
	struct bfs_err local_err;
	struct bfs_cat_entry ce;
	struct rctx x;
	struct bfs_reader_config rcfg = {.relocate = rst_relocate,
					 .relocate_arg = &x.reloc};
	int parentfd = -1, rc;
	size_t tlen;
	char *as_dir = NULL;

	memset(&x, 0, sizeof(x));
	memset(&ce, 0, sizeof(ce));
	x.repo = repo;
	x.cat = cat;
	if (opts)
		x.o = *opts;
	x.err = err ? err : &local_err;
	x.err->msg[0] = '\0';
	x.rootfd = -1;
	x.start_ns = x.last_ns = bfs_mono_ns();
	x.prog.total_bytes = x.o.total_bytes;
	if (!path)
		path = "";

	if (rst_links_init(&x) < 0 || rst_reloc_init(&x.reloc, repo, cat) < 0 ||
	    bfs_reader_create(repo, NULL, &rcfg, &x.reader) < 0 ||
	    pf_create(x.reader, &x.pf) < 0) {
		rc = bfs_err_set(x.err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = bfs_catalog_lookup_path(cat, root, path, &ce, x.err);
	if (rc < 0)
		goto out;
	if (path[0] && x.o.as_target && ce.e.type != BFS_T_DIR) {
		rc = as_target_file(&ce, target, &as_dir);
		if (rc < 0) {
			rc = bfs_err_set(x.err, rc, "out of memory");
			goto out;
		}
		if (as_dir)
			target = as_dir;
	}
	/* the path buffer starts as "TARGET/" (without a doubled '/') */
	tlen = strlen(target);
	while (tlen > 1 && target[tlen - 1] == '/')
		tlen--;
	if (bfs_buf_append(&x.path, target, tlen) < 0 ||
	    (target[tlen - 1] != '/' && bfs_buf_append(&x.path, "/", 1) < 0) ||
	    bfs_buf_reserve(&x.path, 1) < 0) {
		rc = bfs_err_set(x.err, -ENOMEM, "out of memory");
		goto out;
	}
	x.base = x.path.len;
	x.path.data[x.path.len] = '\0';

	rc = make_target(target);
	if (rc < 0) {
		rc = bfs_err_set(x.err, rc, "cannot create directory '%s': %s",
				 target, strerror(-rc));
		goto out;
	}
	x.rootfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x.rootfd < 0) {
		rc =
		    bfs_err_set(x.err, -errno, "cannot open directory '%s': %s",
				target, strerror(errno));
		goto out;
	}
	/* x.path holds "TARGET/" + the parents of path from here on, the
	 * restore pushes the entry's own name.  With as_target: nothing
	 * (a directory's children go straight into target) or, for a
	 * non-directory, target is its parent (see as_target_file). */
	if (path[0] && x.o.as_target) {
		bool dir = ce.e.type == BFS_T_DIR;
		struct stat st;

		parentfd = dup(x.rootfd);
		if (parentfd < 0) {
			rc = rst_fs_error(&x, -errno, "open directory");
			goto out;
		}
		if (!x.o.force) {
			rc = dir ? check_children(&x, parentfd, ce.id)
				 : check_entry(&x, parentfd, &ce);
			if (rc < 0)
				goto out;
		}
		/* target must be writable while it is filled; its mode is
		 * the directory's at the end */
		if (dir && fstat(parentfd, &st) == 0 &&
		    (st.st_mode & 0700) != 0700)
			fchmod(parentfd, (st.st_mode & 07777) | 0700);
		if (dir) {
			rc = restore_children(&x, parentfd, ce.id);
			if (rc == 0)
				rc = rst_meta_fd(&x, parentfd, &ce.e);
		} else {
			rc = restore_entry(&x, parentfd, &ce, NULL);
		}
		goto done;
	}
	if (path[0]) {
		parentfd = open_parents(&x, path);
		if (parentfd < 0) {
			rc = parentfd;
			goto out;
		}
	}

	if (!x.o.force) {
		if (path[0])
			rc = check_entry(&x, parentfd, &ce);
		else
			rc = check_children(&x, x.rootfd, ce.id);
		if (rc < 0)
			goto out;
	}
	if (path[0])
		rc = restore_entry(&x, parentfd, &ce, NULL);
	else
		rc = restore_children(&x, x.rootfd, ce.id);
done:
	if (rc == 0 && x.st.failed)
		rc = bfs_err_set(x.err, -EIO, "%llu %s could not be restored",
				 (unsigned long long)x.st.failed,
				 x.st.failed == 1 ? "entry" : "entries");
	rst_progress(&x, true);
out:
	x.st.duration_ns = bfs_mono_ns() - x.start_ns;
	if (stats)
		*stats = x.st;
	if (parentfd >= 0)
		close(parentfd);
	if (x.rootfd >= 0)
		close(x.rootfd);
	pf_destroy(x.pf);
	bfs_reader_destroy(x.reader);
	rst_reloc_fini(&x.reloc);
	rst_links_fini(&x);
	bfs_buf_free(&x.path);
	bfs_cat_entry_clear(&ce);
	free(as_dir);
	return rc;
}
