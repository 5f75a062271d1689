/* import.c - run an import plan into a backup (import.h): files copied,
 * compressed dumps and JSON decompressed through libarchive's "raw"
 * format (streamed, no temporary file), records split into JSON lines,
 * archives unpacked by the archive source.  ARCHIVE_* codes of the
 * decompression are translated here only. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import.h"
#include "jsonsplit.h"
#include "source.h"
#include "writer.h"

#define READ_BUF (1u << 20)

static const char *filter_name(int f)
{
	switch (f) {
	case ARCHIVE_FILTER_GZIP:
		return "gzip";
	case ARCHIVE_FILTER_ZSTD:
		return "zstd";
	case ARCHIVE_FILTER_XZ:
		return "xz";
	case ARCHIVE_FILTER_BZIP2:
		return "bzip2";
	}
	return "plain";
}

static int lstat_entry(const char *path, struct bfs_entry *e, char *dest,
		       struct bfs_err *err)
{
	struct stat st;

	if (lstat(path, &st))
		return bfs_err_set(err, -errno, "cannot stat '%s': %s", path,
				   strerror(errno));
	memset(e, 0, sizeof(*e));
	bfs_source_stat_entry(e, &st);
	e->ino = 0; /* not a --files source: no change detection */
	e->ctime_ns = 0;
	e->path = dest;
	e->path_len = strlen(dest);
	return 0;
}

static int add_symlink(struct bfs_backup *b, const char *path, char *dest,
		       struct bfs_err *err)
{
	struct bfs_entry e;
	char *target = NULL;
	ssize_t n;
	int rc;

	rc = lstat_entry(path, &e, dest, err);
	if (rc)
		return rc;
	target = malloc(e.size + 1);
	if (!target)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	n = readlink(path, target, e.size + 1);
	if (n < 0 || (uint64_t)n > e.size) {
		rc = bfs_err_set(err, n < 0 ? -errno : -EIO,
				 "cannot read symlink '%s': %s", path,
				 n < 0 ? strerror(errno) : "it changed");
		goto out;
	}
	target[n] = '\0';
	e.target = target;
	e.target_len = (size_t)n;
	e.size = (uint64_t)n;
	rc = bfs_backup_add(b, &e, err);
out:
	free(target);
	return rc;
}

static int copy_file(struct bfs_backup *b, const char *path, char *dest,
		     struct bfs_err *err)
{
	struct bfs_entry e;
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return bfs_err_set(err, -errno, "cannot open '%s': %s", path,
				   strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = bfs_err_set(err, -EIO, "'%s' is no longer a file", path);
		close(fd);
		return rc;
	}
	memset(&e, 0, sizeof(e));
	bfs_source_stat_entry(&e, &st);
	e.ino = 0;
	e.ctime_ns = 0;
	e.path = dest;
	e.path_len = strlen(dest);
	rc = bfs_backup_file_fd(b, &e, fd, BFS_PROFILE_FILES, err);
	close(fd);
	if (rc)
		rc = bfs_err_prefix(err, rc, "'%s'", path);
	return rc;
}

static int write_backup(void *arg, const void *data, size_t n,
			struct bfs_err *err)
{
	return bfs_backup_file_write(arg, data, n, err);
}

static int arch_fail(struct archive *a, const char *path, struct bfs_err *err)
{
	const char *m = archive_error_string(a);

	return bfs_err_set(err, -EUCLEAN, "'%s': %s", path,
			   m ? m : "cannot decompress");
}

/* Decompress path into the file being written (through js when not
 * NULL).  filter: what the name promises (ARCHIVE_FILTER_NONE: any). */
static int stream(struct bfs_backup *b, struct archive *a, const char *path,
		  int filter, struct bfs_jsplit *js, uint8_t *buf,
		  struct bfs_err *err)
{
	struct archive_entry *ae;
	la_ssize_t n;
	int r, rc;

	r = archive_read_next_header(a, &ae);
	if (r == ARCHIVE_EOF)
		return 0; /* an empty file */
	if (r < ARCHIVE_WARN)
		return arch_fail(a, path, err);
	if (filter != ARCHIVE_FILTER_NONE &&
	    archive_filter_code(a, 0) != filter)
		return bfs_err_set(err, -EUCLEAN, "'%s': not %s data", path,
				   filter_name(filter));
	for (;;) {
		n = archive_read_data(a, buf, READ_BUF);
		if (n == 0)
			return 0;
		if (n == ARCHIVE_WARN || n == ARCHIVE_RETRY)
			continue;
		if (n < 0)
			return arch_fail(a, path, err);
		rc = js ? bfs_jsplit_feed(js, buf, (size_t)n, err)
			: bfs_backup_file_write(b, buf, (size_t)n, err);
		if (rc && js && rc == -EUCLEAN)
			return bfs_err_prefix(err, rc, "'%s' (decompressed)",
					      path);
		if (rc)
			return rc;
	}
}

static int decompress(struct bfs_backup *b, const char *path, char *dest,
		      int filter, bool records, struct bfs_err *err)
{
	struct archive *a = NULL;
	struct bfs_jsplit *js = NULL;
	struct bfs_entry e;
	uint8_t *buf = NULL;
	bool open = false;
	int rc;

	rc = lstat_entry(path, &e, dest, err);
	if (rc)
		return rc;
	a = archive_read_new();
	buf = malloc(READ_BUF);
	if (!a || !buf ||
	    (records && bfs_jsplit_new(write_backup, b, &js) < 0)) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, path, READ_BUF) != ARCHIVE_OK) {
		rc = arch_fail(a, path, err);
		goto out;
	}
	/* a dump compresses well and is read as a dump later: the dump
	 * profile; records are small lines, likewise */
	rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_DUMP, err);
	if (rc)
		goto out;
	open = true;
	rc = stream(b, a, path, filter, js, buf, err);
	if (!rc && js) {
		rc = bfs_jsplit_finish(js, err);
		if (rc == -EUCLEAN)
			rc = bfs_err_prefix(err, rc, "'%s' (decompressed)",
					    path);
	}
	if (!rc) {
		open = false;
		rc = bfs_backup_file_end(b, err);
	}
out:
	if (open)
		bfs_backup_file_cancel(b);
	bfs_jsplit_free(js);
	if (a)
		archive_read_free(a);
	free(buf);
	return rc;
}

static int run_item(struct bfs_backup *b, const struct bfs_import_plan *p,
		    const struct bfs_import_item *it, const char *path,
		    struct bfs_err *err)
{
	struct bfs_entry e;
	int rc;

	switch (it->op) {
	case BFS_IMP_DIR:
		rc = lstat_entry(path, &e, it->dest, err);
		return rc ? rc : bfs_backup_add(b, &e, err);
	case BFS_IMP_COPY:
		return copy_file(b, path, it->dest, err);
	case BFS_IMP_SYMLINK:
		return add_symlink(b, path, it->dest, err);
	case BFS_IMP_DECOMPRESS:
	case BFS_IMP_RECORDS:
		return decompress(b, path, it->dest, it->filter,
				  it->op == BFS_IMP_RECORDS, err);
	case BFS_IMP_UNPACK:
		return bfs_source_archive(b, it->dest, path, true, err);
	}
	return bfs_err_set(err, -EINVAL, "'%s/%s': unknown import step",
			   p->dir, it->src);
}

int bfs_import_run(struct bfs_backup *b, const struct bfs_import_plan *p,
		   struct bfs_err *err)
{
	struct bfs_buf path = {0}, key = {0};
	char *real = realpath(p->dir, NULL);
	size_t i;
	int rc;

	rc = bfs_buf_printf(&key, "import:%s", real ? real : p->dir);
	if (!rc)
		rc = bfs_buf_append(&key, "", 1);
	if (rc) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = bfs_backup_add_source(b, "import", NULL, p->dir,
				   (const char *)key.data, err);
	for (i = 0; i < p->n && !rc; i++) {
		path.len = 0;
		if (bfs_buf_printf(&path, "%s/%s", p->dir, p->items[i].src) ||
		    bfs_buf_append(&path, "", 1)) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		rc = run_item(b, p, &p->items[i], (const char *)path.data,
			      err);
	}
out:
	bfs_buf_free(&path);
	bfs_buf_free(&key);
	free(real);
	return rc;
}
