/* import.c - run an import plan into a backup (import.h): files copied,
 * compressed dumps and JSON decompressed through libarchive's "raw"
 * format (streamed, no temporary file), records split into JSON lines,
 * archives unpacked by the archive source.  ARCHIVE_* codes of the
 * decompression are translated here only. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <cJSON.h>
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

/* The figures of one table of bases/ (bases/BASE/TABLE), for `show`: the
 * shape the NocoDB source records ("tables" of its source). */
struct table {
	char *dir; /* bases/BASE/TABLE */
	uint64_t records, attachments, bytes;
};

struct run {
	struct bfs_backup *b;
	struct table *t;
	size_t n, cap;
	uint64_t written; /* bytes of the records file being written */
};

/* The table that path (records.jsonl or attachments/...) belongs to, or
 * NULL when it is not bases/BASE/TABLE/<rest>; *rest after TABLE/. */
static struct table *table_of(struct run *r, const char *path,
			      const char **rest, int *rc)
{
	const char *p = path, *end;
	struct table *t;
	size_t i, len;

	*rc = 0;
	if (strncmp(p, "bases/", 6))
		return NULL;
	end = strchr(p + 6, '/');
	end = end ? strchr(end + 1, '/') : NULL;
	if (!end)
		return NULL;
	len = (size_t)(end - p);
	*rest = end + 1;
	for (i = 0; i < r->n; i++)
		if (strlen(r->t[i].dir) == len && !memcmp(r->t[i].dir, p, len))
			return &r->t[i];
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;

		t = realloc(r->t, cap * sizeof(*t));
		if (!t)
			goto nomem;
		r->t = t;
		r->cap = cap;
	}
	t = &r->t[r->n];
	memset(t, 0, sizeof(*t));
	t->dir = strndup(p, len);
	if (!t->dir)
		goto nomem;
	r->n++;
	return t;
nomem:
	*rc = -ENOMEM;
	return NULL;
}

/* Count a file the import wrote at path (size bytes; records: the lines
 * of a records.jsonl). */
static int count_file(struct run *r, const char *path, uint64_t size,
		      uint64_t records, bool is_records, struct bfs_err *err)
{
	const char *rest = NULL;
	struct table *t;
	int rc;

	t = table_of(r, path, &rest, &rc);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	if (!t)
		return 0;
	if (is_records && !strcmp(rest, "records.jsonl")) {
		t->records += records;
		t->bytes += size;
	} else if (!strncmp(rest, "attachments/", 12)) {
		t->attachments++;
		t->bytes += size;
	}
	return 0;
}

/* "tables": [{base, table, path, records, attachments, bytes}] on the
 * import source, as the NocoDB source records them (show prints them). */
static int add_tables(struct run *r, struct bfs_err *err)
{
	cJSON *arr, *o;
	char *text = NULL, *slash;
	size_t i;
	int rc = -ENOMEM;

	if (!r->n)
		return 0;
	arr = cJSON_CreateArray();
	for (i = 0; arr && i < r->n; i++) {
		struct table *t = &r->t[i];

		slash = strchr(t->dir + 6, '/');
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(arr, o))
			goto out;
		*slash = '\0';
		if (!cJSON_AddStringToObject(o, "base", t->dir + 6) ||
		    !cJSON_AddStringToObject(o, "table", slash + 1)) {
			*slash = '/';
			goto out;
		}
		*slash = '/';
		if (!cJSON_AddStringToObject(o, "path", t->dir) ||
		    !cJSON_AddNumberToObject(o, "records",
					     (double)t->records) ||
		    !cJSON_AddNumberToObject(o, "attachments",
					     (double)t->attachments) ||
		    !cJSON_AddNumberToObject(o, "bytes", (double)t->bytes))
			goto out;
	}
	text = arr ? cJSON_PrintUnformatted(arr) : NULL;
	if (text)
		rc = bfs_backup_source_detail(r->b, "tables", text, err);
out:
	if (rc == -ENOMEM)
		rc = bfs_err_set(err, rc, "out of memory");
	cJSON_free(text);
	cJSON_Delete(arr);
	return rc;
}

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

static int copy_file(struct run *r, const char *path, char *dest,
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
	rc = bfs_backup_file_fd(r->b, &e, fd, BFS_PROFILE_FILES, err);
	close(fd);
	if (rc)
		return bfs_err_prefix(err, rc, "'%s'", path);
	return count_file(r, dest, (uint64_t)st.st_size, 0, false, err);
}

static int write_backup(void *arg, const void *data, size_t n,
			struct bfs_err *err)
{
	struct run *r = arg;

	r->written += n;
	return bfs_backup_file_write(r->b, data, n, err);
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

static int decompress(struct run *r, const char *path, char *dest, int filter,
		      bool records, struct bfs_err *err)
{
	struct bfs_backup *b = r->b;
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
	    (records && bfs_jsplit_new(write_backup, r, &js) < 0)) {
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
	r->written = 0;
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
	if (!rc && js)
		rc = count_file(r, dest, r->written, bfs_jsplit_records(js),
				true, err);
out:
	if (open)
		bfs_backup_file_cancel(b);
	bfs_jsplit_free(js);
	if (a)
		archive_read_free(a);
	free(buf);
	return rc;
}

static int run_item(struct run *r, const struct bfs_import_plan *p,
		    const struct bfs_import_item *it, const char *path,
		    struct bfs_err *err)
{
	struct bfs_backup *b = r->b;
	struct bfs_entry e;
	int rc;

	switch (it->op) {
	case BFS_IMP_DIR:
		rc = lstat_entry(path, &e, it->dest, err);
		return rc ? rc : bfs_backup_add(b, &e, err);
	case BFS_IMP_COPY:
		return copy_file(r, path, it->dest, err);
	case BFS_IMP_SYMLINK:
		return add_symlink(b, path, it->dest, err);
	case BFS_IMP_DECOMPRESS:
	case BFS_IMP_RECORDS:
		return decompress(r, path, it->dest, it->filter,
				  it->op == BFS_IMP_RECORDS, err);
	case BFS_IMP_UNPACK:
		return bfs_source_archive(b, it->dest, path, true, err);
	}
	return bfs_err_set(err, -EINVAL, "'%s/%s': unknown import step", p->dir,
			   it->src);
}

/* Run the items of p that are (unpack) or are not (!unpack) archives. */
static int run_items(struct run *r, const struct bfs_import_plan *p,
		     bool unpack, struct bfs_err *err)
{
	struct bfs_buf path = {0};
	size_t i;
	int rc = 0;

	for (i = 0; i < p->n && !rc; i++) {
		if ((p->items[i].op == BFS_IMP_UNPACK) != unpack)
			continue;
		path.len = 0;
		if (bfs_buf_printf(&path, "%s/%s", p->dir, p->items[i].src) ||
		    bfs_buf_append(&path, "", 1)) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		rc = run_item(r, p, &p->items[i], (const char *)path.data, err);
	}
	bfs_buf_free(&path);
	return rc;
}

int bfs_import_run(struct bfs_backup *b, const struct bfs_import_plan *p,
		   struct bfs_err *err)
{
	struct run r = {.b = b};
	struct bfs_buf key = {0};
	char *real = realpath(p->dir, NULL);
	size_t i;
	int rc;

	/* the archives first, each its own source; then the import source
	 * with everything else and, last, its figures (a detail goes to the
	 * source added last) */
	rc = run_items(&r, p, true, err);
	if (rc)
		goto out;
	rc = bfs_buf_printf(&key, "import:%s", real ? real : p->dir);
	if (!rc)
		rc = bfs_buf_append(&key, "", 1);
	if (rc) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = bfs_backup_add_source(b, "import", NULL, p->dir,
				   (const char *)key.data, err);
	if (!rc)
		rc = run_items(&r, p, false, err);
	if (!rc)
		rc = add_tables(&r, err);
out:
	for (i = 0; i < r.n; i++)
		free(r.t[i].dir);
	free(r.t);
	bfs_buf_free(&key);
	free(real);
	return rc;
}
