/* test-catalog.c - the SQLite catalog against manifests written by the
 * real manifest writer into a real local repository. */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "src/manifest.h"
#include "src/repo.h"
#include "src/store.h"
#include "src/util.h"
#include "tests/unit/tap.h"

#define MTIME 1700000000123456789LL
#define SRC_KEY "files:files:/srv/app"
/* the error text for a test label, only when there is an error */
#define ERR(rc) ((rc) ? bfs_err_str(&err, (rc)) : "")

static char tmpdir[64];
static struct bfs_repo *repo;

static void mkref(struct bfs_chunkref *c, unsigned seed, unsigned i)
{
	char buf[64];
	int n;

	n = snprintf(buf, sizeof(buf), "chunk:%u:%u", seed, i);
	bfs_sha256(c->hash, buf, (size_t)n);
	n = snprintf(buf, sizeof(buf), "pack:%u", seed);
	bfs_sha256(c->pack, buf, (size_t)n);
	c->offset = 8 + (uint64_t)i * 4096 + seed; /* past the pack magic */
	c->clen = 100 + i;
	c->len = 4096;
}

struct ent {
	const char *path;
	size_t path_len; /* 0: strlen */
	int type;
	uint32_t mode;
	const char *target; /* symlink */
	const char *link;   /* hardlink */
	unsigned seed, nchunks;
};

static int w_entry(struct bfs_manifest_writer *w, const struct ent *x)
{
	struct bfs_entry e;
	struct bfs_chunkref c;
	struct bfs_err err = {""};
	unsigned i;
	int rc;

	memset(&e, 0, sizeof(e));
	e.path = (char *)x->path;
	e.path_len = x->path_len ? x->path_len : strlen(x->path);
	e.type = x->type;
	e.mode = x->mode;
	e.uid = 1000;
	e.gid = 100;
	e.user = (char *)"alice";
	e.group = (char *)"staff";
	e.mtime_ns = MTIME;
	e.ino = 42;
	if (x->target) {
		e.target = (char *)x->target;
		e.target_len = strlen(x->target);
		e.size = e.target_len;
	}
	if (x->link) {
		e.link = (char *)x->link;
		e.link_len = strlen(x->link);
	}
	for (i = 0; i < x->nchunks; i++) {
		mkref(&c, x->seed, i);
		rc = bfs_manifest_writer_chunk(w, &c, &err);
		if (rc) {
			diag("writer_chunk: %s", bfs_err_str(&err, rc));
			return rc;
		}
		e.size += c.len;
	}
	rc = bfs_manifest_writer_entry(w, &e, &err);
	if (rc)
		diag("writer_entry '%s': %s", x->path, bfs_err_str(&err, rc));
	return rc;
}

/* Finish w into a manifest for backup id; put it under key (NULL: the
 * normal manifests/<id>), or return the bytes in *out if out != NULL. */
static int w_finish(struct bfs_manifest_writer *w, const char *id,
		    int64_t time_ns, const char *sources, const char *key,
		    struct bfs_buf *out)
{
	static char *tags[] = {"daily", "tést", NULL};
	struct bfs_manifest_header h;
	struct bfs_buf b = {0};
	struct bfs_err err = {""};
	char k[BFS_KEY_MAX];
	int rc;

	memset(&h, 0, sizeof(h));
	h.id = (char *)id;
	h.time_ns = time_ns;
	h.host = (char *)"testhost";
	h.tags = tags;
	h.sources_json = (char *)sources;
	h.stats.entries = 7;
	h.stats.bytes = 12345;
	rc = bfs_manifest_writer_finish(w, &h, &b, &err);
	bfs_manifest_writer_free(w);
	if (rc) {
		diag("writer_finish: %s", bfs_err_str(&err, rc));
		return rc;
	}
	if (out) {
		*out = b;
		return 0;
	}
	if (!key) {
		bfs_repo_manifest_key(k, id);
		key = k;
	}
	rc = bfs_store_put(repo->store, key, b.data, b.len, 0, &err);
	if (rc)
		diag("put '%s': %s", key, bfs_err_str(&err, rc));
	bfs_buf_free(&b);
	return rc;
}

static int put_manifest(const char *id, int64_t time_ns, const char *sources,
			const struct ent *ents, size_t n)
{
	struct bfs_manifest_writer *w;
	struct bfs_err err = {""};
	size_t i;
	int rc;

	rc = bfs_manifest_writer_new(&w, &err);
	if (rc) {
		diag("writer_new: %s", bfs_err_str(&err, rc));
		return rc;
	}
	for (i = 0; i < n; i++) {
		rc = w_entry(w, &ents[i]);
		if (rc) {
			bfs_manifest_writer_free(w);
			return rc;
		}
	}
	return w_finish(w, id, time_ns, sources, NULL, NULL);
}

/* A dir of many files: "many/f%05d" */
static int put_big(const char *id, int64_t time_ns, unsigned nfiles)
{
	struct bfs_manifest_writer *w;
	struct ent d = {.path = "many", .type = BFS_T_DIR, .mode = 0755};
	char p[32];
	unsigned i;
	int rc;

	if (bfs_manifest_writer_new(&w, NULL))
		return -1;
	rc = w_entry(w, &d);
	for (i = 0; !rc && i < nfiles; i++) {
		struct ent f = {.path = p,
				.type = BFS_T_FILE,
				.mode = 0644,
				.seed = 7000 + i,
				.nchunks = 1};

		snprintf(p, sizeof(p), "many/f%05u", i);
		rc = w_entry(w, &f);
	}
	if (rc) {
		bfs_manifest_writer_free(w);
		return rc;
	}
	return w_finish(w, id, time_ns, NULL, NULL, NULL);
}

static const char bad_name[] = "files/bad-\xff\xfe-\x80name";

static const struct ent b1_ents[] = {
    {.path = "files", .type = BFS_T_DIR, .mode = 0750},
    {.path = "files/a.txt",
     .type = BFS_T_FILE,
     .mode = 0640,
     .seed = 1,
     .nchunks = 2},
    {.path = "files/ln",
     .type = BFS_T_SYMLINK,
     .mode = 0777,
     .target = "a.txt"},
    {.path = "files/sub", .type = BFS_T_DIR, .mode = 0700},
    {.path = "files/sub/empty", .type = BFS_T_FILE, .mode = 0600},
    {.path = bad_name,
     .type = BFS_T_FILE,
     .mode = 0644,
     .seed = 2,
     .nchunks = 1},
    {.path = "files/hl",
     .type = BFS_T_FILE,
     .mode = 0600,
     .link = "files/a.txt"},
    {.path = "files/sub/hl2",
     .type = BFS_T_FILE,
     .mode = 0640,
     .link = "files/a.txt"},
    {.path = "database.sql",
     .type = BFS_T_FILE,
     .mode = 0600,
     .seed = 3,
     .nchunks = 3000},
    {.path = "conf", .type = BFS_T_DIR, .mode = 0755},
    /* the writer repeats a directory when an implicit one gets its
     * real metadata: the last line wins */
    {.path = "conf", .type = BFS_T_DIR, .mode = 0711},
    {.path = "conf/x", .type = BFS_T_FIFO, .mode = 0600},
};

static const struct ent small_ents[] = {
    {.path = "files", .type = BFS_T_DIR, .mode = 0755},
    {.path = "files/a.txt",
     .type = BFS_T_FILE,
     .mode = 0644,
     .seed = 1,
     .nchunks = 2},
};

/* ---- callbacks ---------------------------------------------------------- */

struct names_acc {
	char buf[512];
};

static int list_names(void *arg, const struct bfs_backup_info *b)
{
	struct names_acc *a = arg;
	size_t n = strlen(a->buf);

	snprintf(a->buf + n, sizeof(a->buf) - n, "%s%s", n ? "," : "", b->name);
	return 0;
}

static int list_stop(void *arg, const struct bfs_backup_info *b)
{
	(*(int *)arg)++;
	return 7;
}

struct page {
	int64_t last;
	unsigned n, total, bad_order, dup, unknown;
	unsigned char *seen;
};

static int page_cb(void *arg, const struct bfs_cat_entry *e)
{
	struct page *p = arg;
	unsigned k;

	if (e->id <= p->last)
		p->bad_order++;
	p->last = e->id;
	p->n++;
	p->total++;
	if (e->e.path_len != 6 || sscanf(e->e.path, "f%05u", &k) != 1 ||
	    k >= 10000) {
		p->unknown++;
		return 0;
	}
	if (p->seen[k]++)
		p->dup++;
	return 0;
}

struct dirlist {
	unsigned n;
	bool saw_bad;
	int64_t ids[32];
};

static int dir_cb(void *arg, const struct bfs_cat_entry *e)
{
	struct dirlist *d = arg;

	if (d->n < 32)
		d->ids[d->n] = e->id;
	d->n++;
	if (e->e.path_len == strlen(bad_name) - 6 &&
	    memcmp(e->e.path, bad_name + 6, e->e.path_len) == 0)
		d->saw_bad = true;
	return 0;
}

/* Recursive walk: readdir called again from inside its own callback, on
 * the same connection. */
struct walk {
	struct bfs_catalog *c;
	unsigned n, depth_max, depth;
	int rc;
};

static int walk_cb(void *arg, const struct bfs_cat_entry *e)
{
	struct walk *w = arg;
	int rc;

	w->n++;
	if (e->e.type != BFS_T_DIR)
		return 0;
	w->depth++;
	if (w->depth > w->depth_max)
		w->depth_max = w->depth;
	rc = bfs_catalog_readdir(w->c, e->id, 0, 0, walk_cb, w, NULL);
	w->depth--;
	if (rc)
		w->rc = rc;
	return rc;
}

static int stop_cb(void *arg, const struct bfs_cat_entry *e)
{
	(*(unsigned *)arg)++;
	return 5;
}

/* ---- tests -------------------------------------------------------------- */

static void test_open_errors(const char *path)
{
	struct bfs_catalog *c = NULL;
	struct bfs_err err = {""};
	char other[65], missing[128];
	int rc;

	memset(other, 'e', 64);
	other[64] = '\0';
	rc = bfs_catalog_open(path, other, false, &c, &err);
	is_int(rc, -EINVAL, "catalog of another repository is refused");
	ok(strstr(err.msg, "belongs to repository") &&
	       strstr(err.msg, repo->id) && strstr(err.msg, other),
	   "message names both repositories: %s", err.msg);
	ok(c == NULL, "no handle on failure");

	rc = bfs_catalog_open(path, "bad/id", false, &c, &err);
	is_int(rc, -EINVAL, "invalid repository id refused");

	snprintf(missing, sizeof(missing), "%s/text.db", tmpdir);
	{
		FILE *f = fopen(missing, "w");

		if (f) {
			fputs("this is not a database, but long enough to"
			      " look like a header of one..................."
			      "...............................\n",
			      f);
			fclose(f);
		}
	}
	rc = bfs_catalog_open(missing, repo->id, false, &c, &err);
	is_int(rc, -EUCLEAN, "a file that is not a database: -EUCLEAN");
	ok(strstr(err.msg, "text.db") != NULL, "message names it: %s", err.msg);

	snprintf(missing, sizeof(missing), "%s/none.db", tmpdir);
	rc = bfs_catalog_open(missing, repo->id, true, &c, &err);
	is_int(rc, -ENOENT, "readonly open of a missing catalog: -ENOENT");
}

static void test_default_path(void)
{
	char xdg[128], want[256];
	char *p = NULL;
	struct stat sb;
	int rc;

	snprintf(xdg, sizeof(xdg), "%s/xdg", tmpdir);
	setenv("XDG_CACHE_HOME", xdg, 1);
	rc = bfs_catalog_default_path(repo->id, &p, NULL);
	snprintf(want, sizeof(want), "%s/backupfs/%s.db", xdg, repo->id);
	is_int(rc, 0, "default path");
	is_str(p, want, "default path under XDG_CACHE_HOME");
	snprintf(want, sizeof(want), "%s/backupfs", xdg);
	ok(stat(want, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	       (sb.st_mode & 0777) == 0700,
	   "cache directory created 0700");
	free(p);

	unsetenv("XDG_CACHE_HOME");
	snprintf(xdg, sizeof(xdg), "%s/home", tmpdir);
	setenv("HOME", xdg, 1);
	rc = bfs_catalog_default_path(repo->id, &p, NULL);
	snprintf(want, sizeof(want), "%s/.cache/backupfs/%s.db", xdg, repo->id);
	is_int(rc, 0, "default path from HOME");
	is_str(p, want, "default path under ~/.cache");
	free(p);
}

static void test_entries(struct bfs_catalog *c)
{
	struct bfs_backup_info b;
	struct bfs_cat_entry e, f, a, hl, root;
	struct bfs_chunkref *refs = NULL, *refs2 = NULL, want;
	struct dirlist dl = {0};
	struct bfs_err err = {""};
	size_t n = 0, n2 = 0, i;
	unsigned stops = 0;
	int rc, bad = 0;

	rc = bfs_catalog_find_backup(c, "b1", &b, &err);
	is_int(rc, 0, "find b1");
	if (rc)
		return;
	is_str(b.host, "testhost", "host");
	is_int(b.time_ns, 100, "time");
	ok(b.tags_json && strstr(b.tags_json, "daily") &&
	       strstr(b.tags_json, "tést"),
	   "tags_json: %s", b.tags_json);
	ok(b.header_json && strstr(b.header_json, "\"b1\"") &&
	       b.header_json[0] == '{',
	   "header_json is line 1: %.80s", b.header_json);
	is_int(b.stats.bytes, 12345, "stats from the header");
	ok(!b.partial, "not partial");

	rc = bfs_catalog_get(c, b.root, &root, &err);
	is_int(rc, 0, "get root");
	is_int(root.e.type, BFS_T_DIR, "root is a dir");
	is_int(root.parent, 0, "root parent 0");
	is_int(root.e.path_len, 0, "root name empty");
	is_int(root.e.mode, 0755, "root mode");
	is_int(root.e.uid, 1000, "root owner from the first top-level entry");
	is_int(root.nlink, 4, "root nlink = 2 + files, conf");
	is_int(root.backup, b.rowid, "root belongs to the backup");
	bfs_cat_entry_clear(&root);

	rc = bfs_catalog_lookup(c, b.root, "files", 5, &f, &err);
	is_int(rc, 0, "lookup files");
	is_int(f.e.type, BFS_T_DIR, "files is a dir");
	is_int(f.e.mode, 0750, "files mode");
	is_int(f.nlink, 3, "files nlink = 2 + sub");
	is_str(f.e.user, "alice", "user name");
	is_str(f.e.group, "staff", "group name");
	is_int(f.e.mtime_ns, MTIME, "mtime ns");

	rc = bfs_catalog_lookup_path(c, b.root, "files/a.txt", &a, &err);
	is_int(rc, 0, "lookup_path files/a.txt");
	is_str(a.e.path, "a.txt", "path holds the name only");
	is_int(a.parent, f.id, "parent id");
	is_int(a.e.size, 2 * 4096, "size");
	is_int(a.nchunks, 2, "nchunks");
	is_int(a.nlink, 3, "hardlinked file nlink 3");
	is_int(a.link_id, 0, "data entry has no link_id");
	is_int(a.e.ino, 42, "ino");

	rc = bfs_catalog_lookup_path(c, b.root, "/files//hl", &hl, &err);
	is_int(rc, 0, "lookup_path with extra slashes");
	is_int(hl.link_id, a.id, "hardlink link_id = data entry");
	is_int(hl.nlink, 3, "hardlink nlink = its target's");
	is_int(hl.e.mode, 0640, "hardlink mode copied");
	is_int(hl.e.size, a.e.size, "hardlink size copied");
	is_int(hl.nchunks, 0, "hardlink carries no chunks");
	rc = bfs_catalog_chunks(c, hl.id, &refs, &n, &err);
	is_int(rc, 0, "chunks through a hardlink");
	is_int(n, 2, "2 chunks via the link");
	mkref(&want, 1, 1);
	ok(n == 2 && memcmp(&refs[1], &want, sizeof(want)) == 0,
	   "chunk ref via link round-trips");
	free(refs);
	refs = NULL;
	bfs_cat_entry_clear(&hl);

	rc = bfs_catalog_lookup_path(c, b.root, "files/ln", &e, &err);
	is_int(rc, 0, "symlink");
	ok(e.e.type == BFS_T_SYMLINK && e.e.target && e.e.target_len == 5 &&
	       strcmp(e.e.target, "a.txt") == 0,
	   "symlink target");
	rc = bfs_catalog_chunks(c, e.id, &refs, &n, &err);
	is_int(rc, -EINVAL, "chunks of a symlink: -EINVAL");
	bfs_cat_entry_clear(&e);

	rc = bfs_catalog_lookup_path(c, b.root, "files/a.txt/x", &e, &err);
	is_int(rc, -ENOTDIR, "path through a file: -ENOTDIR");
	rc = bfs_catalog_lookup_path(c, b.root, "files/nope", &e, &err);
	is_int(rc, -ENOENT, "missing path: -ENOENT");
	ok(strstr(err.msg, "files/nope") != NULL, "message names the path");
	rc = bfs_catalog_lookup_path(c, b.root, "", &e, &err);
	ok(rc == 0 && e.id == b.root, "empty path is the root");
	bfs_cat_entry_clear(&e);

	/* non-UTF-8 name */
	rc = bfs_catalog_lookup(c, f.id, bad_name + 6, strlen(bad_name) - 6, &e,
				&err);
	is_int(rc, 0, "lookup a non-UTF-8 name");
	ok(rc == 0 && e.e.path_len == strlen(bad_name) - 6 &&
	       memcmp(e.e.path, bad_name + 6, e.e.path_len) == 0 &&
	       e.e.path[e.e.path_len] == '\0',
	   "non-UTF-8 name round-trips");
	bfs_cat_entry_clear(&e);
	rc = bfs_catalog_lookup(c, f.id, "bad-", 4, &e, &err);
	is_int(rc, -ENOENT, "a prefix of a name is not a match");

	rc = bfs_catalog_readdir(c, f.id, 0, 0, dir_cb, &dl, &err);
	is_int(rc, 0, "readdir files");
	is_int(dl.n, 5, "files has 5 children");
	ok(dl.saw_bad, "readdir returns the non-UTF-8 name");
	for (i = 1; i < dl.n && i < 32; i++)
		if (dl.ids[i] <= dl.ids[i - 1])
			bad++;
	is_int(bad, 0, "readdir in id order");
	rc = bfs_catalog_readdir(c, f.id, 0, 0, stop_cb, &stops, &err);
	ok(rc == 5 && stops == 1, "readdir callback stops the walk");
	{
		struct walk w = {.c = c};

		rc = bfs_catalog_readdir(c, b.root, 0, 0, walk_cb, &w, &err);
		ok(rc == 0 && w.rc == 0, "recursive readdir on one connection");
		is_int(w.n, 11, "recursive walk sees every entry once");
		is_int(w.depth_max, 2, "recursive walk goes two levels deep");
	}

	/* directory listed twice: last metadata wins, one row */
	rc = bfs_catalog_lookup_path(c, b.root, "conf", &e, &err);
	is_int(rc, 0, "dir listed twice");
	is_int(e.e.mode, 0711, "second line's metadata wins");
	memset(&dl, 0, sizeof(dl));
	bfs_catalog_readdir(c, b.root, 0, 0, dir_cb, &dl, &err);
	is_int(dl.n, 3, "root: files, database.sql, conf (no duplicate)");
	bfs_cat_entry_clear(&e);

	/* 3000 chunks */
	rc = bfs_catalog_lookup_path(c, b.root, "database.sql", &e, &err);
	is_int(rc, 0, "database.sql");
	is_int(e.nchunks, 3000, "3000 chunks recorded");
	rc = bfs_catalog_chunks(c, e.id, &refs2, &n2, &err);
	is_int(rc, 0, "chunks of database.sql");
	is_int(n2, 3000, "3000 chunks read back");
	for (i = 0, bad = 0; i < n2; i++) {
		mkref(&want, 3, (unsigned)i);
		if (memcmp(&refs2[i], &want, sizeof(want)) != 0)
			bad++;
	}
	is_int(bad, 0, "every chunk ref round-trips in order");
	free(refs2);
	bfs_cat_entry_clear(&e);

	rc = bfs_catalog_lookup_path(c, b.root, "files/sub/empty", &e, &err);
	is_int(rc, 0, "empty file");
	rc = bfs_catalog_chunks(c, e.id, &refs, &n, &err);
	ok(rc == 0 && n == 0 && refs == NULL, "empty file: no chunks");
	bfs_cat_entry_clear(&e);

	/* dedup map */
	mkref(&want, 3, 1234);
	{
		struct bfs_chunkref got;
		uint8_t h[BFS_HASH_LEN];

		memset(&got, 0, sizeof(got));
		rc = bfs_catalog_chunk_lookup(c, want.hash, &got);
		is_int(rc, 0, "chunk_lookup finds a hash");
		ok(memcmp(&got, &want, sizeof(want)) == 0,
		   "chunk_lookup location");
		memset(h, 0xab, sizeof(h));
		rc = bfs_catalog_chunk_lookup(c, h, &got);
		is_int(rc, -ENOENT, "unknown hash: -ENOENT");
	}

	rc = bfs_catalog_get(c, 1LL << 50, &e, &err);
	is_int(rc, -ENOENT, "get of a missing id");

	bfs_cat_entry_clear(&a);
	bfs_cat_entry_clear(&f);
	bfs_backup_info_clear(&b);
}

static void test_bigdir(struct bfs_catalog *c)
{
	struct bfs_backup_info b;
	struct bfs_cat_entry d;
	struct page p = {0};
	int rc, pages = 0;

	rc = bfs_catalog_find_backup(c, "big", &b, NULL);
	is_int(rc, 0, "find big");
	rc = bfs_catalog_lookup(c, b.root, "many", 4, &d, NULL);
	is_int(rc, 0, "lookup many");
	p.seen = calloc(10000, 1);
	do {
		p.n = 0;
		rc = bfs_catalog_readdir(c, d.id, p.last, 100, page_cb, &p,
					 NULL);
		if (rc)
			break;
		pages++;
	} while (p.n == 100 && pages < 1000);
	is_int(rc, 0, "paged readdir");
	is_int(p.total, 10000, "10k entries seen");
	is_int(pages, 101, "100 full pages and an empty one");
	is_int(p.dup, 0, "each seen once");
	is_int(p.bad_order, 0, "in id order");
	is_int(p.unknown, 0, "no stray names");
	free(p.seen);
	bfs_cat_entry_clear(&d);
	bfs_backup_info_clear(&b);
}

/* CPU time of this process: the test machine may be busy. */
static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void test_timing(struct bfs_catalog *c)
{
	struct bfs_manifest_writer *w;
	struct bfs_backup_info b;
	struct bfs_cat_entry e;
	struct bfs_buf m = {0};
	struct bfs_err err = {""};
	char p[32];
	unsigned i, j;
	int64_t t0, t1, c0, c1;
	int rc = 0;

	if (bfs_manifest_writer_new(&w, NULL)) {
		ok(0, "writer for 100k");
		return;
	}
	t0 = bfs_mono_ns();
	for (i = 0; !rc && i < 100; i++) {
		struct ent d = {.path = p, .type = BFS_T_DIR, .mode = 0755};

		snprintf(p, sizeof(p), "d%03u", i);
		rc = w_entry(w, &d);
		for (j = 0; !rc && j < 1000; j++) {
			struct ent f = {.path = p,
					.type = BFS_T_FILE,
					.mode = 0644,
					.seed = 100000 + i * 1000 + j,
					.nchunks = 1};

			snprintf(p, sizeof(p), "d%03u/file-%04u", i, j);
			rc = w_entry(w, &f);
		}
	}
	if (rc) {
		bfs_manifest_writer_free(w);
		ok(0, "write 100k manifest");
		return;
	}
	rc = w_finish(w, "hundredk", 5, NULL, NULL, &m);
	t1 = bfs_mono_ns();
	is_int(rc, 0, "100k-entry manifest written");
	diag("writing the 100,100-entry manifest: %.2f s, %zu bytes",
	     (t1 - t0) / 1e9, m.len);
	t0 = bfs_mono_ns();
	c0 = cpu_ns();
	rc = bfs_catalog_ingest(c, "hundredk", m.data, m.len, &err);
	c1 = cpu_ns();
	t1 = bfs_mono_ns();
	is_int(rc, 0, "ingest 100k entries: %s", ERR(rc));
	diag("ingest of 100,100 entries (100,000 chunks): %.2f s wall,"
	     " %.2f s cpu (%.0f entries/s of cpu)",
	     (t1 - t0) / 1e9, (c1 - c0) / 1e9, 100100 / ((c1 - c0) / 1e9));
	/* cpu, not wall: other jobs may keep the disk busy */
	ok(c1 - c0 < 20000000000LL, "ingest 100k under 20 s of cpu");
	rc = bfs_catalog_ingest(c, "hundredk", m.data, m.len, &err);
	is_int(rc, -EEXIST, "second ingest of the same backup: -EEXIST");
	rc = bfs_catalog_find_backup(c, "hundredk", &b, &err);
	is_int(rc, 0, "find hundredk");
	rc = bfs_catalog_lookup_path(c, b.root, "d099/file-0999", &e, &err);
	is_int(rc, 0, "last entry is there");
	bfs_cat_entry_clear(&e);
	t0 = bfs_mono_ns();
	rc = bfs_catalog_drop(c, "hundredk", &err);
	t1 = bfs_mono_ns();
	is_int(rc, 0, "drop 100k");
	diag("drop of 100,100 entries: %.2f s", (t1 - t0) / 1e9);
	rc = bfs_catalog_get(c, b.root, &e, &err);
	is_int(rc, -ENOENT, "dropped entries are gone");
	rc = bfs_catalog_drop(c, "hundredk", &err);
	is_int(rc, -ENOENT, "drop of a missing backup: -ENOENT");
	bfs_backup_info_clear(&b);
	bfs_buf_free(&m);
}

static void test_corrupt(struct bfs_catalog *c)
{
	static const struct ent orphan[] = {
	    {.path = "files", .type = BFS_T_DIR, .mode = 0755},
	    {.path = "nodir/x", .type = BFS_T_FILE, .mode = 0644},
	};
	static const struct ent badlink[] = {
	    {.path = "files", .type = BFS_T_DIR, .mode = 0755},
	    {.path = "files/hl",
	     .type = BFS_T_FILE,
	     .mode = 0644,
	     .link = "files/nothere"},
	};
	struct bfs_sync_stats s;
	struct bfs_backup_info b;
	struct bfs_err err = {""};
	int rc;

	rc = bfs_store_put(repo->store, "manifests/bad1", "garbage!", 8, 0,
			   NULL);
	is_int(rc, 0, "put a garbage manifest");
	if (put_manifest("bad2", 300, NULL, orphan, 2))
		diag("writer refused an orphan entry; skipping that case");
	put_manifest("bad3", 300, NULL, badlink, 2);
	rc = put_manifest("b4", 400, NULL, small_ents, 2);
	is_int(rc, 0, "put b4");

	rc = bfs_catalog_sync(c, repo, &s, &err);
	is_int(rc, -EUCLEAN, "sync reports a corrupt manifest");
	ok(strstr(err.msg, "manifests/bad1") != NULL,
	   "message names the first bad manifest: %s", err.msg);
	is_int(s.added, 1, "the good one was added");
	rc = bfs_catalog_find_backup(c, "b4", &b, NULL);
	is_int(rc, 0, "b4 ingested despite the bad ones");
	bfs_backup_info_clear(&b);
	rc = bfs_catalog_find_backup(c, "bad2", &b, NULL);
	is_int(rc, -ENOENT, "a corrupt manifest leaves nothing behind");

	/* the individual reasons */
	{
		struct bfs_buf m = {0};
		int64_t n;

		n = bfs_store_get(repo->store, "manifests/bad2", 0, UINT64_MAX,
				  &m, NULL);
		if (n > 0) {
			rc = bfs_catalog_ingest(c, "bad2", m.data, m.len, &err);
			is_int(rc, -EUCLEAN, "orphan entry: -EUCLEAN");
			ok(strstr(err.msg, "manifests/bad2") &&
			       strstr(err.msg, "nodir/x"),
			   "message names manifest and path: %s", err.msg);
		}
		bfs_buf_free(&m);
		n = bfs_store_get(repo->store, "manifests/bad3", 0, UINT64_MAX,
				  &m, NULL);
		if (n > 0) {
			rc = bfs_catalog_ingest(c, "bad3", m.data, m.len, &err);
			is_int(rc, -EUCLEAN, "hardlink to nothing: -EUCLEAN");
			ok(strstr(err.msg, "files/hl") != NULL,
			   "message names the link: %s", err.msg);
			rc = bfs_catalog_ingest(c, "bad4", m.data, m.len, &err);
			is_int(rc, -EUCLEAN, "header id differs from name");
		}
		bfs_buf_free(&m);
	}
	bfs_store_del(repo->store, "manifests/bad1", NULL);
	bfs_store_del(repo->store, "manifests/bad2", NULL);
	bfs_store_del(repo->store, "manifests/bad3", NULL);
	rc = bfs_catalog_sync(c, repo, &s, &err);
	is_int(rc, 0, "sync clean again: %s", ERR(rc));
}

static int race_sync(const char *path)
{
	struct bfs_catalog *c;
	struct bfs_sync_stats s;
	struct bfs_err err = {""};
	int rc;

	rc = bfs_catalog_open(path, repo->id, false, &c, &err);
	if (!rc)
		rc = bfs_catalog_sync(c, repo, &s, &err);
	if (rc)
		fprintf(stderr, "race: %s\n", bfs_err_str(&err, rc));
	bfs_catalog_close(c);
	return rc;
}

static void test_race(void)
{
	char path[128];
	struct names_acc a = {""};
	struct bfs_catalog *c;
	pid_t pid;
	int rc, st = -1;

	snprintf(path, sizeof(path), "%s/race.db", tmpdir);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(race_sync(path) ? 1 : 0);
	rc = race_sync(path);
	waitpid(pid, &st, 0);
	is_int(rc, 0, "racing sync (parent) succeeds");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "racing sync (child) succeeds");
	rc = bfs_catalog_open(path, repo->id, true, &c, NULL);
	is_int(rc, 0, "open raced catalog read-only");
	if (rc)
		return;
	bfs_catalog_list(c, list_names, &a, NULL);
	is_str(a.buf, "big,b1,b3,b4", "raced catalog lists each backup once");
	rc = bfs_catalog_drop(c, "b1", NULL);
	is_int(rc, -EROFS, "read-only catalog refuses writes");
	bfs_catalog_close(c);
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	return remove(p);
}

int main(void)
{
	struct bfs_catalog *c = NULL, *c2 = NULL;
	struct bfs_backup_info b;
	struct bfs_sync_stats s;
	struct bfs_err err = {""};
	struct names_acc a = {""}, a2 = {""};
	char path[128], url[128];
	int64_t gen0 = -1, gen1 = -1, gen2 = -1, root2 = 0, root;
	int rc, stops = 0;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bfs-test-catalog-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	snprintf(url, sizeof(url), "%s/repo", tmpdir);
	rc = bfs_repo_init(url, NULL, &repo, &err);
	is_int(rc, 0, "repo init: %s", ERR(rc));
	if (rc)
		return tap_done();
	snprintf(path, sizeof(path), "%s/cat.db", tmpdir);

	rc = bfs_catalog_open(path, repo->id, false, &c, &err);
	is_int(rc, 0, "open a new catalog: %s", ERR(rc));
	if (rc)
		return tap_done();
	rc = bfs_catalog_generation(c, &gen0);
	is_int(rc, 0, "generation");
	rc = bfs_catalog_find_backup(c, "latest", &b, &err);
	is_int(rc, -ENOENT, "latest of an empty catalog: -ENOENT");

	rc = put_manifest("b1", 100,
			  "[{\"kind\":\"files\",\"key\":\"" SRC_KEY
			  "\"},{\"kind\":\"pg-dump\"}]",
			  b1_ents, BFS_ARRAY_SIZE(b1_ents));
	is_int(rc, 0, "put b1");
	rc = put_manifest("b2", 200,
			  "[{\"kind\":\"files\",\"key\":\"" SRC_KEY "\"}]",
			  small_ents, 2);
	is_int(rc, 0, "put b2");
	rc = put_manifest("b3", 200,
			  "[{\"kind\":\"files\",\"key\":"
			  "\"other\"}]",
			  small_ents, 2);
	is_int(rc, 0, "put b3");
	rc = put_big("big", 10, 10000);
	is_int(rc, 0, "put big (10k-entry dir)");
	if (rc)
		return tap_done();

	rc = bfs_catalog_sync(c, repo, &s, &err);
	is_int(rc, 0, "sync: %s", ERR(rc));
	ok(s.added == 4 && s.removed == 0 && s.unchanged == 0,
	   "sync added 4 (%u/%u/%u)", s.added, s.removed, s.unchanged);
	rc = bfs_catalog_sync(c, repo, &s, &err);
	ok(rc == 0 && s.added == 0 && s.unchanged == 4,
	   "second sync changes nothing");
	bfs_catalog_generation(c, &gen1);
	ok(gen1 != gen0, "generation changed by sync");

	bfs_catalog_list(c, list_names, &a, NULL);
	is_str(a.buf, "big,b1,b2,b3", "list oldest first (time, name)");
	rc = bfs_catalog_list(c, list_stop, &stops, NULL);
	ok(rc == 7 && stops == 1, "list callback stops the walk");
	rc = bfs_catalog_find_backup(c, "latest", &b, &err);
	ok(rc == 0 && strcmp(b.name, "b3") == 0,
	   "latest = newest time, then name");
	bfs_backup_info_clear(&b);
	rc = bfs_catalog_find_backup(c, "nope", &b, &err);
	is_int(rc, -ENOENT, "find of a missing backup");
	ok(strstr(err.msg, "'nope'") != NULL, "message: %s", err.msg);

	rc = bfs_catalog_prev_source(c, SRC_KEY, &root, &err);
	bfs_catalog_find_backup(c, "b2", &b, NULL);
	ok(rc == 0 && root == b.root, "prev_source = newest with the key");
	root2 = b.root;
	bfs_backup_info_clear(&b);
	rc = bfs_catalog_prev_source(c, "no-such-key", &root, &err);
	is_int(rc, -ENOENT, "prev_source of an unknown key");

	test_entries(c);
	test_bigdir(c);

	/* a second connection sees the data */
	rc = bfs_catalog_open(path, repo->id, false, &c2, &err);
	is_int(rc, 0, "second connection");
	if (!rc) {
		struct bfs_cat_entry e;

		rc = bfs_catalog_find_backup(c2, "b1", &b, &err);
		is_int(rc, 0, "second connection finds b1");
		rc = bfs_catalog_lookup_path(c2, b.root, "files/sub/hl2", &e,
					     &err);
		ok(rc == 0 && e.link_id != 0, "second connection looks up");
		bfs_cat_entry_clear(&e);
		bfs_backup_info_clear(&b);
	}

	/* a vanished manifest is dropped */
	rc = bfs_store_del(repo->store, "manifests/b2", &err);
	is_int(rc, 0, "delete manifest b2");
	rc = bfs_catalog_sync(c, repo, &s, &err);
	ok(rc == 0 && s.removed == 1 && s.added == 0,
	   "sync drops the vanished backup");
	rc = bfs_catalog_find_backup(c2, "b2", &b, &err);
	is_int(rc, -ENOENT, "b2 gone (seen by the other connection)");
	{
		struct bfs_cat_entry e;

		rc = bfs_catalog_get(c, root2, &e, &err);
		is_int(rc, -ENOENT, "b2's entries gone");
	}
	bfs_catalog_generation(c2, &gen2);
	ok(gen2 != gen1, "generation changed by the drop");

	test_timing(c);
	test_corrupt(c);

	/* rebuild gives the same listing */
	memset(&a, 0, sizeof(a));
	bfs_catalog_list(c, list_names, &a, NULL);
	rc = bfs_catalog_rebuild(c, repo, &s, &err);
	is_int(rc, 0, "rebuild: %s", ERR(rc));
	is_int(s.added, 4, "rebuild ingests every manifest");
	bfs_catalog_list(c2, list_names, &a2, NULL);
	is_str(a2.buf, a.buf, "same listing after rebuild");
	bfs_catalog_find_backup(c, "b1", &b, NULL);
	{
		struct bfs_cat_entry e;

		rc = bfs_catalog_lookup_path(c, b.root, "database.sql", &e,
					     &err);
		ok(rc == 0 && e.nchunks == 3000, "rebuilt entries readable");
		bfs_cat_entry_clear(&e);
	}
	bfs_backup_info_clear(&b);

	bfs_catalog_close(c2);
	bfs_catalog_close(c);
	test_open_errors(path);
	test_race();
	test_default_path();

	bfs_repo_close(repo);
	if (!getenv("KEEP_TMP") &&
	    nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0)
		diag("cannot remove %s", tmpdir);
	return tap_done();
}
