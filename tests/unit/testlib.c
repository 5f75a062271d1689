/* testlib.c - helpers shared by the unit tests; see testlib.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/repo.h"
#include "src/store.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

#define TL_MAX_TMPDIRS 16

/* Scratch directories made so far, removed at exit. */
static char *tl_dirs[TL_MAX_TMPDIRS];
static int tl_ndirs;

static void tl_bail(const char *what, const char *path, int code)
{
	printf("Bail out! %s '%s': %s\n", what, path, strerror(code));
	fflush(stdout);
	exit(1);
}

static void tl_cleanup(void)
{
	int i;

	for (i = 0; i < tl_ndirs; i++) {
		if (getenv("BFS_KEEP"))
			printf("# BFS_KEEP set: kept %s\n", tl_dirs[i]);
		else
			tl_rm_rf(tl_dirs[i]);
		free(tl_dirs[i]);
	}
	tl_ndirs = 0;
}

const char *tl_tmpdir(const char *name)
{
	char *dir;

	if (tl_ndirs == TL_MAX_TMPDIRS)
		tl_bail("too many scratch directories", name, EMFILE);
	if (asprintf(&dir, "/tmp/%s.XXXXXX", name) < 0)
		tl_bail("out of memory for", name, ENOMEM);
	if (!mkdtemp(dir))
		tl_bail("cannot create scratch directory", dir, errno);
	if (tl_ndirs == 0)
		atexit(tl_cleanup);
	tl_dirs[tl_ndirs++] = dir;
	return dir;
}

const char *tl_path(const char *dir, const char *rel)
{
	static char bufs[8][4096];
	static unsigned n;
	char *p = bufs[n++ % 8];

	if ((size_t)snprintf(p, sizeof(bufs[0]), "%s/%s", dir, rel) >=
	    sizeof(bufs[0]))
		tl_bail("path too long", rel, ENAMETOOLONG);
	return p;
}

int tl_rm_rf(const char *path)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	/* a read-only directory from a test of permissions */
	chmod(path, 0700);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		char *sub;
		int r;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (asprintf(&sub, "%s/%s", path, de->d_name) < 0) {
			rc = -ENOMEM;
			break;
		}
		r = tl_rm_rf(sub);
		if (r && !rc)
			rc = r;
		free(sub);
	}
	closedir(d);
	if (rmdir(path) < 0 && !rc)
		rc = -errno;
	return rc;
}

int tl_write_file(const char *path, const void *data, size_t len)
{
	int fd, rc;

	rc = bfs_mkdir_parents(path, 0755);
	if (rc)
		return rc;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = bfs_write_full(fd, data, len);
	if (close(fd) < 0 && !rc)
		rc = -errno;
	return rc;
}

ssize_t tl_read_file(const char *path, struct bfs_buf *out)
{
	char tmp[65536];
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((n = read(fd, tmp, sizeof(tmp))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			total = -errno;
			break;
		}
		if (bfs_buf_append(out, tmp, (size_t)n)) {
			total = -ENOMEM;
			break;
		}
		total += n;
	}
	close(fd);
	return total;
}

int tl_count_files(const char *dir)
{
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		const char *sub;
		int r;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		sub = tl_path(dir, de->d_name);
		if (lstat(sub, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			r = tl_count_files(sub);
			if (r < 0) {
				n = r;
				break;
			}
			n += r;
		} else if (S_ISREG(st.st_mode) &&
			   strncmp(de->d_name, ".tmp.", 5) != 0) {
			n++;
		}
	}
	closedir(d);
	return n;
}

uint64_t tl_rand(struct tl_rng *r)
{
	uint64_t x = r->state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return r->state = x;
}

void tl_fill_random(struct tl_rng *r, void *p, size_t n)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t v = tl_rand(r);

		memcpy(b + i, &v, 8);
	}
	for (; i < n; i++)
		b[i] = (uint8_t)(tl_rand(r) >> 24);
}

void tl_fill(void *p, size_t n, uint64_t seed)
{
	struct tl_rng r = {seed * 0x9e3779b97f4a7c15ull + 1};

	tl_fill_random(&r, p, n);
}

struct bfs_entry tl_entry(const char *path, int type)
{
	struct bfs_entry e;

	memset(&e, 0, sizeof(e));
	e.path = (char *)path;
	e.path_len = strlen(path);
	e.type = type;
	e.mode = type == BFS_T_DIR ? 0750 : 0640;
	e.uid = getuid();
	e.gid = getgid();
	e.mtime_ns = 1700000000123456789LL;
	return e;
}

int tl_make_repo(const char *dir, const char *name, struct bfs_repo **out)
{
	struct bfs_err err = {""};
	int rc;

	rc = bfs_repo_init(tl_path(dir, name), NULL, out, &err);
	if (rc)
		diag("cannot create a repository in %s/%s: %s", dir, name,
		     bfs_err_str(&err, rc));
	return rc;
}
