/* store_local.c - a store in a local directory.
 *
 * Key "packs/ab/<id>" is the file ROOT/packs/ab/<id>.  Keys are checked
 * before use: no leading '/', no empty, "." or ".." component, no control
 * characters, components short enough to leave room for the temp suffix.
 *
 * put() writes "<final>.tmp.<pid>.<16 hex>" in the final directory,
 * fsyncs it, renames it over the final name (renameat2(RENAME_NOREPLACE),
 * or link()+unlink() where the filesystem lacks it, for BFS_PUT_EXCL) and
 * fsyncs the directory.  A crash at any point leaves either no object or
 * the whole object under the key, plus at worst a stray temp file, which
 * list() never reports (a later prune may remove them).
 *
 * Modes: objects and directories get the permission bits derived from the
 * repository's root directory at open (FORMAT.md "Permissions of a local
 * repository"): a root whose group may read and search it (init --group:
 * 02750) gives directories 0750 (setgid kept) and files 0640, any other
 * root gives 0700 and 0600.  Others never get a bit.  The bits are set
 * with fchmod()/chmod() after creation, so the umask cannot widen or
 * narrow them.
 *
 * Thread safety: the store holds no mutable state after open; every op
 * may run concurrently.  Objects are immutable, so concurrent readers and
 * writers of different keys never interfere, and two writers of the same
 * key each produce a complete object.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

/* A new repository root: private, or shared read-only with a group. */
#define LOCAL_ROOT_PRIVATE 0700
#define LOCAL_ROOT_SHARED (S_ISGID | 0750)
/* Leaves room for ".tmp.<pid>.<16 hex>" within NAME_MAX. */
#define LOCAL_COMPONENT_MAX 200
#define LOCAL_KEY_MAX 1024
/* Objects live at most a few levels deep; this bounds list() recursion
 * (and loops through symlinked directories). */
#define LOCAL_LIST_DEPTH 16

struct local_store {
	struct bfs_store base;
	char *root;	  /* absolute, no trailing '/' (unless it is "/") */
	mode_t dir_mode;  /* of directories put() creates (see the top) */
	mode_t file_mode; /* of objects */
};

static struct local_store *to_local(struct bfs_store *s)
{
	return (struct local_store *)s;
}

/* True for names put() uses for its temp files: ".tmp.<digits>.<16 hex>"
 * at the end. */
static bool is_temp_name(const char *name)
{
	const char *p = NULL, *q = name;
	size_t i;

	while ((q = strstr(q, ".tmp.")) != NULL)
		p = q++;
	if (!p)
		return false;
	p += 5;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != '.')
		return false;
	for (i = 0; i < 16; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return p[16] == '\0';
}

/* Check the components of s[0..n).  If allow_partial_last, the last
 * component may be empty (a list prefix like "manifests/" or ""). */
static bool components_valid(const char *s, size_t n, bool allow_partial_last)
{
	size_t i = 0;

	if (n > LOCAL_KEY_MAX)
		return false;
	if (n && s[0] == '/')
		return false;
	while (i <= n) {
		size_t j = i;
		bool last;

		while (j < n && s[j] != '/')
			j++;
		last = j == n;
		if (j - i == 0 && !(last && allow_partial_last))
			return false;
		if (j - i > LOCAL_COMPONENT_MAX)
			return false;
		if ((j - i == 1 && s[i] == '.') ||
		    (j - i == 2 && s[i] == '.' && s[i + 1] == '.'))
			return false;
		for (size_t k = i; k < j; k++)
			if ((unsigned char)s[k] < 0x20 || s[k] == 0x7f)
				return false;
		i = j + 1;
	}
	return true;
}

static int check_key(const char *key, struct bfs_err *err)
{
	const char *last;

	if (!key || !components_valid(key, strlen(key), false))
		return bfs_err_set(err, -EINVAL, "invalid object key '%s'",
				   key ? key : "(null)");
	last = strrchr(key, '/');
	if (is_temp_name(last ? last + 1 : key))
		return bfs_err_set(err, -EINVAL,
				   "invalid object key '%s' (temp file name)",
				   key);
	return 0;
}

/* ROOT/key, malloc'ed; NULL on ENOMEM. */
static char *path_of(struct local_store *ls, const char *key)
{
	size_t n = strlen(ls->root) + 1 + strlen(key) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", strcmp(ls->root, "/") ? ls->root : "",
			 key);
	return p;
}

/* fsync the directory dir; filesystems that cannot (EINVAL) are fine. */
static int fsync_dir(const char *dir)
{
	int fd, rc = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = -errno;
	close(fd);
	return rc;
}

/* fsync the directory that holds path. */
static int fsync_parent(const char *path)
{
	char *dir = strdup(path), *slash;
	int rc;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	rc = fsync_dir(slash ? dir : ".");
	free(dir);
	return rc;
}

/* Create the directories of path below the store root (not the last
 * component), each ls->dir_mode, and fsync the parent of every directory
 * created so that the new entries survive a crash. */
static int make_parents(struct local_store *ls, const char *path)
{
	char *p = strdup(path), *s;
	size_t rootlen = strcmp(ls->root, "/") ? strlen(ls->root) : 0;
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (s = p + rootlen + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0700) == 0) {
			rc = chmod(p, ls->dir_mode) < 0 ? -errno : 0;
			if (!rc)
				rc = fsync_parent(p);
		} else if (errno != EEXIST) {
			rc = -errno;
		}
		*s = '/';
		if (rc)
			break;
	}
	free(p);
	return rc;
}

static int64_t local_get(struct bfs_store *s, const char *key, uint64_t off,
			 uint64_t len, struct bfs_buf *out, struct bfs_err *err)
{
	struct local_store *ls = to_local(s);
	struct stat st;
	uint64_t size, n;
	char *path;
	ssize_t got;
	int64_t rc;
	int fd;

	rc = check_key(key, err);
	if (rc)
		return rc;
	path = path_of(ls, key);
	if (!path)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	/* O_NONBLOCK: a FIFO in place of an object must not hang the
	 * reader; regular files ignore the flag. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT || rc == -ENOTDIR)
			rc = bfs_err_set(err, -ENOENT,
					 "object '%s' not found ('%s')", key,
					 path);
		else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
			/* A socket cannot be opened at all (ENXIO). */
			rc = bfs_err_set(err, -EUCLEAN,
					 "object '%s' ('%s') is a %s, not a "
					 "regular file: remove or replace it",
					 key, path,
					 bfs_file_type_name(st.st_mode));
		else
			bfs_err_set(err, rc, "cannot open '%s' ('%s'): %s", key,
				    path, strerror((int)-rc));
		goto out_free;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		bfs_err_set(err, rc, "cannot stat '%s' ('%s'): %s", key, path,
			    strerror((int)-rc));
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		/* A directory is not an object (S3 would say 404 too). */
		rc = bfs_err_set(err, -ENOENT,
				 "object '%s' not found ('%s' is not a file)",
				 key, path);
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "object '%s' ('%s') is a %s, not a regular "
				 "file: remove or replace it",
				 key, path, bfs_file_type_name(st.st_mode));
		goto out_close;
	}
	size = (uint64_t)st.st_size;
	if (off > size || (len != UINT64_MAX && len > size - off)) {
		rc = bfs_err_set(
		    err, -EINVAL,
		    "range %llu+%llu is past the end of '%s' (%llu bytes)",
		    (unsigned long long)off, (unsigned long long)len, key,
		    (unsigned long long)size);
		goto out_close;
	}
	n = len == UINT64_MAX ? size - off : len;
	if (n > SIZE_MAX / 2 || n > INT64_MAX) {
		rc = bfs_err_set(err, -ENOMEM, "object '%s' is too large", key);
		goto out_close;
	}
	rc = bfs_buf_reserve(out, (size_t)n);
	if (rc) {
		bfs_err_set(err, rc, "out of memory reading '%s'", key);
		goto out_close;
	}
	/* n == 0: an empty object, and out->data may still be NULL */
	got =
	    n ? bfs_pread_full(fd, out->data + out->len, (size_t)n, (off_t)off)
	      : 0;
	if (got < 0) {
		rc = got;
		bfs_err_set(err, rc, "cannot read '%s' ('%s'): %s", key, path,
			    strerror((int)-rc));
		goto out_close;
	}
	if ((uint64_t)got != n) {
		/* Objects are immutable: a shrinking file is damage. */
		rc = bfs_err_set(err, -EIO,
				 "short read of '%s' ('%s'): %zd of %llu bytes",
				 key, path, got, (unsigned long long)n);
		goto out_close;
	}
	out->len += (size_t)got;
	rc = got;
out_close:
	close(fd);
out_free:
	free(path);
	return rc;
}

static int local_put(struct bfs_store *s, const char *key, const void *data,
		     size_t len, int flags, struct bfs_err *err)
{
	struct local_store *ls = to_local(s);
	char *path, *tmp = NULL, hex[17];
	uint8_t rnd[8];
	size_t tmplen;
	int fd, rc;

	rc = check_key(key, err);
	if (rc)
		return rc;
	path = path_of(ls, key);
	if (!path)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = make_parents(ls, path);
	if (rc) {
		bfs_err_set(err, rc,
			    "cannot create the directory for '%s' ('%s'): %s",
			    key, path, strerror(-rc));
		goto out_free;
	}
	rc = bfs_random(rnd, sizeof(rnd));
	if (rc) {
		bfs_err_set(err, rc, "cannot get random bytes: %s",
			    strerror(-rc));
		goto out_free;
	}
	bfs_hex(hex, rnd, sizeof(rnd));
	tmplen = strlen(path) + 64;
	tmp = malloc(tmplen);
	if (!tmp) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	snprintf(tmp, tmplen, "%s.tmp.%ld.%s", path, (long)getpid(), hex);

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		bfs_err_set(err, rc, "cannot create '%s': %s", tmp,
			    strerror(-rc));
		goto out_free;
	}
	/* The umask must neither widen nor narrow the mode. */
	rc = fchmod(fd, ls->file_mode) < 0 ? -errno : 0;
	if (rc == 0)
		rc = bfs_write_full(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc) {
		bfs_err_set(err, rc, "cannot write '%s': %s", tmp,
			    strerror(-rc));
		goto out_unlink;
	}

	if (flags & BFS_PUT_EXCL) {
		/* Never replace an existing object: RENAME_NOREPLACE, or
		 * link() which fails on an existing name, then drop tmp. */
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path,
			      RENAME_NOREPLACE) == 0) {
			rc = 0;
		} else if (errno == EINVAL || errno == ENOSYS ||
			   errno == ENOTSUP) {
			rc = link(tmp, path) < 0 ? -errno : 0;
		} else {
			rc = -errno;
		}
		if (rc == -EEXIST) {
			bfs_err_set(err, rc,
				    "object '%s' already exists ('%s')", key,
				    path);
			goto out_unlink;
		}
	} else {
		rc = rename(tmp, path) < 0 ? -errno : 0;
	}
	if (rc) {
		bfs_err_set(err, rc, "cannot rename '%s' to '%s': %s", tmp,
			    path, strerror(-rc));
		goto out_unlink;
	}
	/* After a successful link() tmp still exists; harmless if not. */
	unlink(tmp);
	rc = fsync_parent(path);
	if (rc)
		bfs_err_set(err, rc, "cannot sync the directory of '%s': %s",
			    path, strerror(-rc));
	goto out_free;

out_unlink:
	unlink(tmp);
out_free:
	free(tmp);
	free(path);
	return rc;
}

struct walk {
	bfs_list_cb cb;
	void *arg;
	const char *prefix;
	size_t plen;
	char key[LOCAL_KEY_MAX + LOCAL_COMPONENT_MAX + 2];
	struct bfs_err *err;
};

/* Walk the directory dfd (ownership taken) whose keys start with
 * w->key[0..keylen). */
static int walk_dir(struct walk *w, int dfd, size_t keylen, int depth)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = fdopendir(dfd);
	if (!d) {
		rc = -errno;
		close(dfd);
		return bfs_err_set(w->err, rc, "cannot list '%.*s': %s",
				   (int)keylen, w->key, strerror(-rc));
	}
	for (;;) {
		const char *name;
		struct stat st;
		size_t nlen, klen;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				rc = -errno;
				bfs_err_set(w->err, rc,
					    "cannot list '%.*s': %s",
					    (int)keylen, w->key, strerror(-rc));
			}
			break;
		}
		name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, "..") ||
		    is_temp_name(name))
			continue;
		nlen = strlen(name);
		if (keylen + nlen + 2 > sizeof(w->key))
			continue; /* cannot be a key put() accepts */
		memcpy(w->key + keylen, name, nlen);
		klen = keylen + nlen;
		w->key[klen] = '\0';
		if (fstatat(dirfd(d), name, &st, 0) < 0) {
			if (errno == ENOENT)
				continue; /* deleted while we walk */
			rc = -errno;
			bfs_err_set(w->err, rc, "cannot stat '%s': %s", w->key,
				    strerror(-rc));
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			/* A FIFO, socket or device is listed too (size 0),
			 * so that whoever reads it learns it is damage from
			 * get()/stat() instead of missing the object. */
			if (klen < w->plen ||
			    memcmp(w->key, w->prefix, w->plen) != 0)
				continue;
			rc = w->cb(w->arg, w->key,
				   S_ISREG(st.st_mode) ? (uint64_t)st.st_size
						       : 0);
			if (rc)
				break;
		} else if (depth < LOCAL_LIST_DEPTH) {
			int sub;

			w->key[klen] = '/';
			w->key[klen + 1] = '\0';
			/* Descend only where keys can still match. */
			if (memcmp(w->key, w->prefix,
				   BFS_MIN(klen + 1, w->plen)) != 0)
				continue;
			sub = openat(dirfd(d), name,
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub < 0) {
				if (errno == ENOENT)
					continue;
				rc = -errno;
				bfs_err_set(w->err, rc, "cannot open '%s': %s",
					    w->key, strerror(-rc));
				break;
			}
			rc = walk_dir(w, sub, klen + 1, depth + 1);
			if (rc)
				break;
		}
	}
	closedir(d);
	return rc;
}

static int local_list(struct bfs_store *s, const char *prefix, bfs_list_cb cb,
		      void *arg, struct bfs_err *err)
{
	struct local_store *ls = to_local(s);
	struct walk *w;
	const char *slash;
	size_t dlen;
	char *dir;
	int dfd, rc;

	if (!prefix)
		prefix = "";
	if (!components_valid(prefix, strlen(prefix), true))
		return bfs_err_set(err, -EINVAL, "invalid list prefix '%s'",
				   prefix);
	slash = strrchr(prefix, '/');
	dlen = slash ? (size_t)(slash - prefix) + 1 : 0; /* keeps the '/' */

	w = calloc(1, sizeof(*w));
	if (!w)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	w->cb = cb;
	w->arg = arg;
	w->prefix = prefix;
	w->plen = strlen(prefix);
	w->err = err;
	memcpy(w->key, prefix, dlen);
	w->key[dlen] = '\0';

	dir = path_of(ls, w->key);
	if (!dir) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		if (rc == -ENOENT || rc == -ENOTDIR)
			rc = 0; /* nothing stored under it yet */
		else
			bfs_err_set(err, rc, "cannot list '%s': %s", dir,
				    strerror(-rc));
		goto out_free_dir;
	}
	rc = walk_dir(w, dfd, dlen, 0);
out_free_dir:
	free(dir);
out_free:
	free(w);
	return rc;
}

static int local_del(struct bfs_store *s, const char *key, struct bfs_err *err)
{
	struct local_store *ls = to_local(s);
	char *path;
	int rc;

	rc = check_key(key, err);
	if (rc)
		return rc;
	path = path_of(ls, key);
	if (!path)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = unlink(path) < 0 ? -errno : 0;
	if (rc == -ENOENT || rc == -ENOTDIR)
		rc = bfs_err_set(err, -ENOENT, "object '%s' not found ('%s')",
				 key, path);
	else if (rc)
		bfs_err_set(err, rc, "cannot delete '%s' ('%s'): %s", key, path,
			    strerror(-rc));
	free(path);
	return rc;
}

static int local_stat(struct bfs_store *s, const char *key, uint64_t *size,
		      struct bfs_err *err)
{
	struct local_store *ls = to_local(s);
	struct stat st;
	char *path;
	int rc;

	rc = check_key(key, err);
	if (rc)
		return rc;
	path = path_of(ls, key);
	if (!path)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = stat(path, &st) < 0 ? -errno : 0;
	if (rc == 0 && S_ISDIR(st.st_mode))
		rc = -ENOENT;
	if (rc == 0 && !S_ISREG(st.st_mode))
		rc = bfs_err_set(err, -EUCLEAN,
				 "object '%s' ('%s') is a %s, not a regular "
				 "file: remove or replace it",
				 key, path, bfs_file_type_name(st.st_mode));
	else if (rc == -ENOENT || rc == -ENOTDIR)
		rc = bfs_err_set(err, -ENOENT, "object '%s' not found ('%s')",
				 key, path);
	else if (rc)
		bfs_err_set(err, rc, "cannot stat '%s' ('%s'): %s", key, path,
			    strerror(-rc));
	else
		*size = (uint64_t)st.st_size;
	free(path);
	return rc;
}

static void local_destroy(struct bfs_store *s)
{
	struct local_store *ls = to_local(s);

	free(ls->root);
	free(ls->base.url);
	free(ls);
}

static const struct bfs_store_ops local_ops = {
    .name = "local",
    .get = local_get,
    .put = local_put,
    .list = local_list,
    .del = local_del,
    .stat = local_stat,
    .destroy = local_destroy,
};

/* mkdir -p path (every component, including the last): the parents with
 * 0755 (less the umask, as mkdir -p), the last 0700.  *made: the last
 * component was created now. */
static int mkdir_all(const char *path, bool *made)
{
	char *p = strdup(path), *s;
	int rc = 0;

	*made = false;
	if (!p)
		return -ENOMEM;
	for (s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, c ? 0755 : 0700) == 0) {
				*made = !c;
			} else if (errno != EEXIST) {
				rc = -errno;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

/* The group named (or numbered) by name into *gid: 0 or -ENOENT. */
static int group_id(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[16384], *end;
	unsigned long n;

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res) {
		*gid = res->gr_gid;
		return 0;
	}
	errno = 0;
	n = strtoul(name, &end, 10);
	if (*name >= '0' && *name <= '9' && !*end && !errno && n < (gid_t)-1) {
		*gid = (gid_t)n;
		return 0;
	}
	return -ENOENT;
}

/* Give a new repository root its mode: 0700, or with group: that group
 * and 02750 (setgid, so that what is created below keeps the group). */
static int set_root_mode(const char *root, const char *group,
			 struct bfs_err *err)
{
	gid_t gid;
	int rc;

	if (!group) {
		if (chmod(root, LOCAL_ROOT_PRIVATE) < 0)
			goto out_errno;
		return 0;
	}
	rc = group_id(group, &gid);
	if (rc)
		return bfs_err_set(err, rc, "no group '%s' on this system",
				   group);
	if (chown(root, (uid_t)-1, gid) < 0) {
		rc = -errno;
		return bfs_err_set(err, rc,
				   "cannot give '%s' to group '%s': %s%s", root,
				   group, strerror(-rc),
				   rc == -EPERM ? " (you must be a member of "
						  "the group, or root)"
						: "");
	}
	if (chmod(root, LOCAL_ROOT_SHARED) < 0)
		goto out_errno;
	return 0;
out_errno:
	rc = -errno;
	return bfs_err_set(err, rc, "cannot set the mode of '%s': %s", root,
			   strerror(-rc));
}

/* Open the directory path as a store.  create: make it (mkdir -p) if
 * missing, and give a root that holds no 'config' yet (a new repository)
 * the mode 0700, or, with group (name or number; NULL: private), that
 * group and 02750; otherwise the directory must exist (-ENOENT,
 * "repository directory 'PATH' does not exist").  The modes of what put()
 * creates derive from the root's mode (see the top of this file).  The
 * root is resolved to an absolute path now, so a later chdir (daemonising)
 * does not move the store.  *out is owned by the caller (bfs_store_free).
 * Thread-safe. */
int bfs_store_local_open_group(const char *path, bool create, const char *group,
			       struct bfs_store **out, struct bfs_err *err)
{
	struct local_store *ls;
	struct stat st;
	char *clean, *root;
	size_t n;
	int rc;

	*out = NULL;
	if (!path || !*path)
		return bfs_err_set(err, -EINVAL, "empty repository path");
	if (group && !create)
		return bfs_err_set(err, -EINVAL,
				   "a group is given only to a new repository");
	clean = strdup(path);
	if (!clean)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	n = strlen(clean);
	while (n > 1 && clean[n - 1] == '/')
		clean[--n] = '\0';

	if (create) {
		bool made;
		char *cfg;

		rc = mkdir_all(clean, &made);
		if (rc) {
			bfs_err_set(
			    err, rc,
			    "cannot create repository directory '%s': %s",
			    clean, strerror(-rc));
			goto out_free_clean;
		}
		/* a file there: refused below, and its mode left alone */
		if (stat(clean, &st) == 0 && !S_ISDIR(st.st_mode)) {
			rc = bfs_err_set(err, -ENOTDIR,
					 "'%s' is not a directory", clean);
			goto out_free_clean;
		}
		n = strlen(clean) + 8;
		cfg = malloc(n);
		if (!cfg) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			goto out_free_clean;
		}
		snprintf(cfg, n, "%s/config", clean);
		/* Not yet a repository (init, copy to a new place): set the
		 * mode; an existing repository keeps its own. */
		if (made || lstat(cfg, &st) < 0) {
			rc = set_root_mode(clean, group, err);
			/* Someone else's existing directory that we may write
			 * into (group-writable): leave its mode to its owner,
			 * say so, and go on; a --group must take effect. */
			if (rc == -EPERM && !made && !group) {
				bfs_warn("cannot make '%s' private (it is not "
					 "yours): its mode stays as it is",
					 clean);
				rc = 0;
				if (err)
					err->msg[0] = '\0';
			}
		} else if (group)
			rc = bfs_err_set(err, -EEXIST,
					 "'%s' already holds a repository",
					 clean);
		free(cfg);
		if (rc)
			goto out_free_clean;
	}
	if (stat(clean, &st) < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			bfs_err_set(err, rc,
				    "repository directory '%s' does not exist",
				    clean);
		else
			bfs_err_set(
			    err, rc,
			    "cannot access repository directory '%s': %s",
			    clean, strerror(-rc));
		goto out_free_clean;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = bfs_err_set(err, -ENOTDIR, "'%s' is not a directory",
				 clean);
		goto out_free_clean;
	}
	root = realpath(clean, NULL);
	if (!root) {
		rc = -errno;
		bfs_err_set(err, rc, "cannot resolve '%s': %s", clean,
			    strerror(-rc));
		goto out_free_clean;
	}
	ls = calloc(1, sizeof(*ls));
	if (!ls) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		free(root);
		goto out_free_clean;
	}
	ls->base.ops = &local_ops;
	ls->base.url = clean;
	ls->root = root;
	if ((st.st_mode & (S_IRGRP | S_IXGRP)) == (S_IRGRP | S_IXGRP)) {
		ls->dir_mode = 0750 | (st.st_mode & S_ISGID);
		ls->file_mode = 0640;
	} else {
		ls->dir_mode = 0700;
		ls->file_mode = 0600;
	}
	*out = &ls->base;
	return 0;

out_free_clean:
	free(clean);
	return rc;
}

/* bfs_store_local_open_group without a group (see there). */
int bfs_store_local_open(const char *path, bool create, struct bfs_store **out,
			 struct bfs_err *err)
{
	return bfs_store_local_open_group(path, create, NULL, out, err);
}
