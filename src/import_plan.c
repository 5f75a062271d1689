/* import_plan.c - walk a seed backup folder into an import plan: the id,
 * the time and where each file goes (import.h). */
#include "config.h"

#include <archive.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h" /* BFS_NAME_MAX */
#include "import.h"
#include "log.h"
#include "manifest.h"

#define WALK_DEPTH 64

struct suffix {
	const char *s;
	int filter;
};

static const struct suffix comp_suffixes[] = {
    {".gz", ARCHIVE_FILTER_GZIP},
    {".zst", ARCHIVE_FILTER_ZSTD},
    {".xz", ARCHIVE_FILTER_XZ},
    {".bz2", ARCHIVE_FILTER_BZIP2},
};

static const char *const archive_suffixes[] = {
    ".tar.gz", ".tar.zst", ".tar.xz", ".tar.bz2", ".tgz",
    ".tzst",   ".txz",	   ".tbz2",   ".tbz",	  ".tar",
};

struct walk {
	struct bfs_import_plan *p;
	size_t cap;
	struct bfs_import_meta meta;
	bool has_meta;
};

const char *bfs_import_op_name(enum bfs_import_op op)
{
	static const char *const names[] = {"dir",	  "copy",    "symlink",
					    "decompress", "records", "unpack"};

	return (unsigned)op < BFS_ARRAY_SIZE(names) ? names[op] : "?";
}

void bfs_import_plan_free(struct bfs_import_plan *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->items[i].src);
		free(p->items[i].dest);
	}
	free(p->items);
	free(p->dir);
	free(p->id);
	free(p->host);
	free(p);
}

static bool ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n > k && !memcmp(s + n - k, suf, k);
}

/* The compression suffix s[0..n) ends with, or NULL. */
static const struct suffix *comp_suffix(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(comp_suffixes); i++)
		if (ends_with(s, n, comp_suffixes[i].s))
			return &comp_suffixes[i];
	return NULL;
}

/* What a regular file named name at rel becomes: *op, the length of the
 * name's part kept (*keep), what is appended to it (*add), the filter
 * its name promises (*filter). */
static void classify(const char *rel, const char *name, enum bfs_import_op *op,
		     size_t *keep, const char **add, int *filter)
{
	size_t n = strlen(name), base = n, i;
	const struct suffix *c = comp_suffix(name, n);
	bool in_bases = !strncmp(rel, "bases/", 6);

	*op = BFS_IMP_COPY;
	*keep = n;
	*add = "";
	*filter = ARCHIVE_FILTER_NONE;
	if (c) {
		base = n - strlen(c->s);
		*filter = c->filter;
	}
	if (in_bases && base == 12 && !memcmp(name, "records.json", 12)) {
		*op = BFS_IMP_RECORDS;
		*keep = 7;
		*add = ".jsonl";
		return;
	}
	for (i = 0; i < BFS_ARRAY_SIZE(archive_suffixes); i++)
		if (ends_with(name, n, archive_suffixes[i])) {
			*op = BFS_IMP_UNPACK;
			*keep = n - strlen(archive_suffixes[i]);
			return;
		}
	if (c && (ends_with(name, base, ".sql") ||
		  (in_bases && (ends_with(name, base, ".json") ||
				ends_with(name, base, ".jsonl"))))) {
		*op = BFS_IMP_DECOMPRESS;
		*keep = base;
	}
}

static int add_item(struct walk *w, enum bfs_import_op op, const char *src,
		    char *dest, int filter, struct bfs_err *err)
{
	struct bfs_import_plan *p = w->p;
	struct bfs_import_item *it;

	if (!bfs_manifest_path_valid(dest, strlen(dest))) {
		free(dest);
		return bfs_err_set(err, -EINVAL,
				   "'%s': not a name a backup can hold", src);
	}
	if (p->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;

		it = realloc(p->items, cap * sizeof(*it));
		if (!it)
			goto out_nomem;
		p->items = it;
		w->cap = cap;
	}
	it = &p->items[p->n];
	it->op = op;
	it->filter = filter;
	it->dest = dest;
	it->src = strdup(src);
	if (!it->src)
		goto out_nomem;
	p->n++;
	return 0;
out_nomem:
	free(dest);
	return bfs_err_set(err, -ENOMEM, "out of memory");
}

static int read_meta(struct walk *w, int dfd, const char *dir,
		     const struct stat *st, struct bfs_err *err)
{
	struct bfs_buf b = {0};
	ssize_t n;
	int fd, rc;

	if ((uint64_t)st->st_size > BFS_IMPORT_META_MAX)
		return bfs_err_set(err, -EUCLEAN,
				   "'%s/manifest.json': %lld bytes, more than "
				   "a manifest.json may have (%u)",
				   dir, (long long)st->st_size,
				   BFS_IMPORT_META_MAX);
	fd = openat(dfd, "manifest.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return bfs_err_set(err, -errno,
				   "cannot open '%s/manifest.json'"
				   ": %s",
				   dir, strerror(errno));
	rc = bfs_buf_reserve(&b, BFS_IMPORT_META_MAX + 1);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	n = bfs_read_full(fd, b.data, BFS_IMPORT_META_MAX + 1);
	if (n < 0) {
		rc = bfs_err_set(err, (int)n,
				 "cannot read '%s/manifest.json'"
				 ": %s",
				 dir, strerror((int)-n));
		goto out;
	}
	rc = bfs_import_meta_parse((const char *)b.data, (size_t)n, &w->meta,
				   err);
	if (rc)
		rc = bfs_err_prefix(err, rc, "'%s/manifest.json'", dir);
	else
		w->has_meta = true;
out:
	close(fd);
	bfs_buf_free(&b);
	return rc;
}

/* rel: the directory's path in the folder ("" for the top); dfd is
 * closed here. */
static int walk_dir(struct walk *w, int dfd, const char *rel, int depth,
		    struct bfs_err *err)
{
	DIR *d = fdopendir(dfd);
	struct bfs_strv names = {0};
	struct bfs_buf path = {0}, dest = {0};
	struct dirent *de;
	struct stat st;
	size_t i, keep;
	const char *add;
	enum bfs_import_op op;
	int filter, rc = 0, cfd;

	if (!d) {
		rc = bfs_err_set(err, -errno, "cannot read '%s/%s': %s",
				 w->p->dir, rel, strerror(errno));
		close(dfd);
		return rc;
	}
	if (depth > WALK_DEPTH) {
		rc = bfs_err_set(err, -ELOOP,
				 "'%s/%s': more than %d levels "
				 "of directories",
				 w->p->dir, rel, WALK_DEPTH);
		goto out;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (bfs_strv_add(&names, de->d_name)) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	if (errno) {
		rc = bfs_err_set(err, -errno, "cannot read '%s/%s': %s",
				 w->p->dir, rel, strerror(errno));
		goto out;
	}
	bfs_strv_sort(&names);
	for (i = 0; i < names.n && !rc; i++) {
		const char *name = names.v[i];

		path.len = 0;
		rc =
		    bfs_buf_printf(&path, "%s%s%s", rel, *rel ? "/" : "", name);
		if (rc || bfs_buf_append(&path, "", 1)) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
			rc = bfs_err_set(err, -errno, "cannot stat '%s/%s': %s",
					 w->p->dir, (char *)path.data,
					 strerror(errno));
			break;
		}
		if (strlen(name) > BFS_NAME_MAX) {
			rc = bfs_err_set(err, -ENAMETOOLONG,
					 "'%s/%s': a name longer than %d bytes",
					 w->p->dir, (char *)path.data,
					 BFS_NAME_MAX);
			break;
		}
		if (!*rel && !strcmp(name, "manifest.json") &&
		    S_ISREG(st.st_mode)) {
			rc = read_meta(w, dfd, w->p->dir, &st, err);
			if (rc)
				break;
		}
		op = S_ISDIR(st.st_mode)   ? BFS_IMP_DIR
		     : S_ISLNK(st.st_mode) ? BFS_IMP_SYMLINK
					   : BFS_IMP_COPY;
		keep = strlen(name);
		add = "";
		filter = ARCHIVE_FILTER_NONE;
		if (S_ISREG(st.st_mode))
			classify((char *)path.data, name, &op, &keep, &add,
				 &filter);
		else if (op == BFS_IMP_COPY) {
			bfs_warn("import: skipping '%s/%s' (not a file, "
				 "directory or symlink)",
				 w->p->dir, (char *)path.data);
			continue;
		}
		if (keep == 0) { /* ".tar.gz": nothing left for a name */
			op = BFS_IMP_COPY;
			keep = strlen(name);
			add = "";
		}
		dest.len = 0;
		rc = bfs_buf_printf(&dest, "%s%s%.*s%s", rel, *rel ? "/" : "",
				    (int)keep, name, add);
		if (rc || bfs_buf_append(&dest, "", 1)) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		rc = add_item(w, op, (char *)path.data, (char *)dest.data,
			      filter, err);
		dest.data = NULL;
		dest.len = dest.cap = 0;
		if (rc || op != BFS_IMP_DIR)
			continue;
		cfd = openat(dfd, name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			rc = bfs_err_set(err, -errno, "cannot open '%s/%s': %s",
					 w->p->dir, (char *)path.data,
					 strerror(errno));
			break;
		}
		rc = walk_dir(w, cfd, (char *)path.data, depth + 1, err);
	}
out:
	closedir(d);
	bfs_strv_free(&names);
	bfs_buf_free(&path);
	bfs_buf_free(&dest);
	return rc;
}

static int cmp_dest(const void *a, const void *b)
{
	const struct bfs_import_item *x =
	    *(const struct bfs_import_item *const *)a;
	const struct bfs_import_item *y =
	    *(const struct bfs_import_item *const *)b;

	return strcmp(x->dest, y->dest);
}

/* Two entries that land on one path, or an entry inside an unpacked
 * archive's directory: -EEXIST naming both. */
static int check_clashes(const struct bfs_import_plan *p, struct bfs_err *err)
{
	const struct bfs_import_item **v;
	size_t i, k, n;
	int rc = 0;

	v = malloc((p->n ? p->n : 1) * sizeof(*v));
	if (!v)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < p->n; i++)
		v[i] = &p->items[i];
	qsort(v, p->n, sizeof(*v), cmp_dest);
	for (i = 0; i < p->n && !rc; i++) {
		if (i + 1 < p->n && !strcmp(v[i]->dest, v[i + 1]->dest)) {
			rc = bfs_err_set(err, -EEXIST,
					 "'%s/%s' and '%s/%s' would both be "
					 "'%s'",
					 p->dir, v[i]->src, p->dir,
					 v[i + 1]->src, v[i]->dest);
			break;
		}
		if (v[i]->op != BFS_IMP_UNPACK)
			continue;
		/* the first dest after "D/" in order, if any below D/ */
		n = strlen(v[i]->dest);
		for (k = i + 1; k < p->n; k++) {
			int c = strncmp(v[k]->dest, v[i]->dest, n);

			if (c > 0)
				break;
			if (c == 0 && v[k]->dest[n] == '/') {
				rc = bfs_err_set(
				    err, -EEXIST,
				    "'%s/%s' would land inside '%s', where "
				    "'%s/%s' is unpacked",
				    p->dir, v[k]->src, v[i]->dest, p->dir,
				    v[i]->src);
				break;
			}
		}
	}
	free(v);
	return rc;
}

/* The folder's own name (no trailing '/'), for its time and id. */
static char *folder_name(const char *dir)
{
	char *real = realpath(dir, NULL), *s, *name;

	if (!real)
		return NULL;
	s = strrchr(real, '/');
	name = strdup(s && s[1] ? s + 1 : real);
	free(real);
	return name;
}

static int choose_id_time(struct walk *w, const struct stat *st,
			  struct bfs_err *err)
{
	struct bfs_import_plan *p = w->p;
	char *name = folder_name(p->dir), buf[64];
	int64_t ns = 0;
	bool name_time = name && bfs_import_time_from_name(name, &ns);
	time_t t;
	struct tm tm;

	if (w->meta.time_ns) {
		p->time_ns = w->meta.time_ns;
		p->time_from = "manifest.json";
	} else if (name_time) {
		p->time_ns = ns;
		p->time_from = "folder name";
	} else {
		p->time_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 +
			     st->st_mtim.tv_nsec;
		p->time_from = "folder mtime";
	}
	if (w->meta.id && bfs_backup_id_valid(w->meta.id)) {
		p->id = strdup(w->meta.id);
		p->id_from = "manifest.json";
	} else {
		if (w->meta.id)
			bfs_warn(
			    "import: '%s/manifest.json': id '%s' is not "
			    "a valid backup id ([A-Za-z0-9._-], at most "
			    "128): not used",
			    p->dir,
			    bfs_term_quote_to(buf, sizeof(buf), w->meta.id));
		if (name_time && bfs_backup_id_valid(name)) {
			p->id = strdup(name);
			p->id_from = "folder name";
		} else {
			t = (time_t)(p->time_ns / 1000000000);
			gmtime_r(&t, &tm);
			strftime(buf, sizeof(buf), "%Y-%m-%d_%H-%M-%S", &tm);
			p->id = strdup(buf);
			p->id_from = "time";
		}
	}
	free(name);
	if (!p->id)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	p->host = w->meta.host;
	w->meta.host = NULL;
	return 0;
}

int bfs_import_plan(const char *dir, struct bfs_import_plan **out,
		    struct bfs_err *err)
{
	struct walk w = {0};
	struct stat st;
	int fd, rc;

	*out = NULL;
	w.p = calloc(1, sizeof(*w.p));
	if (!w.p || !(w.p->dir = strdup(dir))) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = bfs_err_set(err, -errno, "cannot open folder '%s': %s",
				 dir, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st)) {
		rc = bfs_err_set(err, -errno, "cannot stat '%s': %s", dir,
				 strerror(errno));
		close(fd);
		goto out;
	}
	rc = walk_dir(&w, fd, "", 0, err);
	if (!rc)
		rc = check_clashes(w.p, err);
	if (!rc)
		rc = choose_id_time(&w, &st, err);
	if (!rc) {
		*out = w.p;
		w.p = NULL;
	}
out:
	bfs_import_meta_clear(&w.meta);
	bfs_import_plan_free(w.p);
	return rc;
}
