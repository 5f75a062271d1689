/* test-catalog.c - the format-2 catalog against backups written by hand
 * (catrepo.c: tree blobs, an index object and a manifest) into a real
 * local repository: sharing of trees between backups, inode numbers and
 * their stability, the queries, the index ops, and hostile trees. */
/* automake: SOURCES tests/unit/catrepo.c tests/unit/catrepo.h */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog/catalog.h"
#include "src/format.h"
#include "src/index.h"
#include "src/repo.h"
#include "src/store.h"
#include "src/util.h"
#include "tests/unit/catrepo.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

#define T0 1700000000000000000LL
#define SRC_KEY "files:files:/srv/app"
#define SOURCES "[{\"key\":\"" SRC_KEY "\"}]"
#define D BFS_T_DIR
#define INO(b, pre) (((int64_t)(b) << 40) | (pre))
#define ERR(rc) ((rc) ? bfs_err_str(&err, (rc)) : "")

static struct bfs_repo *repo;
static struct bfs_catalog *cat;
static struct bfs_err err;
static const char *catpath;

/* b1:  a/{f1, f2 (empty), sub/{x}}, e/, h1 + h2 (hardlink), m/ (one part
 * per line), s -> a/f1, z (5000 chunks: two list blobs).  Pre-order
 * numbers: a 1, a/f1 2, a/f2 3, a/sub 4, a/sub/x 5, e 6, h1 7, h2 8, m 9,
 * m/m1..m3 10..12, s 13, z 14. */
static const struct cr_node sub1[] = {{.name = "x", .nchunks = 1, .seed = 10}};
static const struct cr_node sub2[] = {
    {.name = "x", .nchunks = 1, .seed = 10},
    {.name = "y", .nchunks = 3, .seed = 11},
};
static const struct cr_node a1[] = {
    {.name = "f1", .nchunks = 2, .seed = 1},
    {.name = "f2"},
    {.name = "sub", .type = D, .kids = sub1, .nkids = 1},
};
static const struct cr_node a2[] = {
    {.name = "f1", .nchunks = 2, .seed = 1},
    {.name = "f2"},
    {.name = "sub", .type = D, .kids = sub2, .nkids = 2},
};
static const struct cr_node m1[] = {
    {.name = "m1", .nchunks = 1, .seed = 20},
    {.name = "m2", .nchunks = 1, .seed = 21},
    {.name = "m3", .nchunks = 1, .seed = 22},
};
#define TOP(A)                                                                 \
	{.name = "a", .type = D, .kids = A, .nkids = 3},                       \
	    {.name = "e", .type = D},                                          \
	    {.name = "h1", .nchunks = 1, .seed = 30, .nl = 2},                 \
	    {.name = "h2", .link = "h1"},                                      \
	    {.name = "m", .type = D, .kids = m1, .nkids = 3, .split = true},   \
	    {.name = "s", .type = BFS_T_SYMLINK, .target = "a/f1"},            \
	{                                                                      \
		.name = "z", .nchunks = 5000, .seed = 40                       \
	}
static const struct cr_node top1[] = {TOP(a1)};
static const struct cr_node top2[] = {TOP(a2)};

static struct bfs_catalog_counts counts(void)
{
	struct bfs_catalog_counts n;

	if (bfs_catalog_counts(cat, &n, &err))
		diag("counts: %s", err.msg);
	return n;
}

static int64_t id_of(const char *backup, const char *path)
{
	struct bfs_backup_info bi;
	struct bfs_cat_entry e;
	int64_t id = -1;

	memset(&e, 0, sizeof(e));
	if (bfs_catalog_find_backup(cat, backup, &bi, NULL) == 0 &&
	    bfs_catalog_lookup_path(cat, bi.root, path, &e, NULL) == 0)
		id = e.id;
	bfs_backup_info_clear(&bi);
	bfs_cat_entry_clear(&e);
	return id;
}

static int sync_rc(struct bfs_sync_stats *ss)
{
	memset(&err, 0, sizeof(err));
	return bfs_catalog_sync(cat, repo, ss, &err);
}

static bool has_backup(const char *name)
{
	struct bfs_backup_info bi;
	int rc = bfs_catalog_find_backup(cat, name, &bi, NULL);

	bfs_backup_info_clear(&bi);
	return rc == 0;
}

static void del_manifest(const char *name)
{
	char key[BFS_KEY_MAX];

	bfs_repo_manifest_key(key, name);
	bfs_store_del(repo->store, key, NULL);
}

struct names {
	char buf[256];
	int64_t last;
	bool rising;
	int n;
};

static int names_cb(void *arg, const struct bfs_cat_entry *e)
{
	struct names *x = arg;

	if (e->id <= x->last)
		x->rising = false;
	x->last = e->id;
	x->n++;
	snprintf(x->buf + strlen(x->buf), sizeof(x->buf) - strlen(x->buf),
		 "%s%s", x->n > 1 ? " " : "", e->e.path);
	return 0;
}

/* What a stat of each entry shows, one line each (attrs_cb); users
 * counts the entries that came with a user name. */
struct attrs {
	char buf[2048];
	int users;
};

static int attrs_cb(void *arg, const struct bfs_cat_entry *e)
{
	struct attrs *x = arg;
	size_t n = strlen(x->buf);

	snprintf(x->buf + n, sizeof(x->buf) - n,
		 "%s %lld %d %o %u %u %lld %lld %llu %zu %llu %u %lld %d\n",
		 e->e.path, (long long)e->id, e->e.type, e->e.mode, e->e.uid,
		 e->e.gid, (long long)e->e.mtime_ns, (long long)e->e.ctime_ns,
		 (unsigned long long)e->e.size, e->e.target_len,
		 (unsigned long long)e->e.rdev, e->nlink, (long long)e->link_id,
		 e->has_dt);
	if (e->e.user || e->e.group)
		x->users++;
	return 0;
}

static void test_one_backup(void)
{
	struct bfs_sync_stats ss;
	struct bfs_catalog_counts n;
	struct bfs_cat_entry e, g;
	struct bfs_chunkref *ch = NULL;
	struct bfs_backup_info bi;
	struct names nm = {.rising = true};
	uint8_t want[BFS_HASH_LEN];
	size_t nch = 0;
	int rc;

	rc =
	    cr_write(repo, "b1", T0, SOURCES, top1, BFS_ARRAY_SIZE(top1), NULL);
	if (!rc)
		rc = sync_rc(&ss);
	ok(rc == 0 && ss.added == 1, "sync ingests a backup (%s)", ERR(rc));
	n = counts();
	is_int(n.trees, 5, "  5 trees: root, a, a/sub, e (empty), m");
	is_int(n.entries, 14, "  14 entries");
	is_int(n.index_objects, 1, "  its index object");

	memset(&bi, 0, sizeof(bi));
	rc = bfs_catalog_find_backup(cat, "b1", &bi, &err);
	ok(rc == 0 && bi.root == INO(1, 0) && !strcmp(bi.host, "testhost"),
	   "backup b1: root id 1 << 40, header kept");
	bfs_backup_info_clear(&bi);

	is_int(id_of("b1", "a/sub/x"), INO(1, 5), "a/sub/x has pre 5");
	is_int(id_of("b1", "z"), INO(1, 14), "z has pre 14");
	is_int(id_of("b1", "m/m2"), INO(1, 11), "m/m2 has pre 11 (parts)");

	/* a fresh connection: no cache, get walks down from the root */
	{
		struct bfs_catalog *c2 = NULL;

		memset(&e, 0, sizeof(e));
		rc = bfs_catalog_open(catpath, repo->id, true, &c2, &err);
		if (!rc)
			rc = bfs_catalog_get(c2, INO(1, 11), &e, &err);
		ok(rc == 0 && !strcmp(e.e.path, "m2") && e.parent == INO(1, 9),
		   "get on a fresh connection: m/m2 (%s)", ERR(rc));
		bfs_cat_entry_clear(&e);
		bfs_catalog_close(c2);
	}
	memset(&e, 0, sizeof(e));
	rc = bfs_catalog_get(cat, INO(1, 5), &e, &err);
	ok(rc == 0 && !strcmp(e.e.path, "x") && e.parent == INO(1, 4) &&
	       e.e.size == CR_CHUNK && e.backup == 1,
	   "get a/sub/x: name, parent, size (%s)", ERR(rc));
	bfs_cat_entry_clear(&e);
	/* x's position is cached now; its row changed under it by
	 * another connection (as a run id reused after a drop would) is
	 * never read through the cache */
	{
		sqlite3 *db = NULL;
		int src = sqlite3_open(catpath, &db);

		if (src == SQLITE_OK)
			src = sqlite3_exec(db,
					   "UPDATE entries SET pre = pre + 1"
					   " WHERE name = X'78'",
					   NULL, NULL, NULL);
		rc = bfs_catalog_get(cat, INO(1, 5), &e, &err);
		ok(src == SQLITE_OK && rc == -ENOENT,
		   "a cached position whose row moved: not used (%s)", ERR(rc));
		bfs_cat_entry_clear(&e);
		if (src == SQLITE_OK)
			src = sqlite3_exec(db,
					   "UPDATE entries SET pre = pre - 1"
					   " WHERE name = X'78'",
					   NULL, NULL, NULL);
		sqlite3_close(db);
		rc = bfs_catalog_get(cat, INO(1, 5), &e, &err);
		ok(src == SQLITE_OK && rc == 0 && !strcmp(e.e.path, "x"),
		   "  moved back: found again (%s)", ERR(rc));
		bfs_cat_entry_clear(&e);
		rc = bfs_catalog_get(cat, INO(1, 5), &e, &err);
		ok(rc == 0 && !strcmp(e.e.path, "x") && e.parent == INO(1, 4),
		   "  and through the cache (%s)", ERR(rc));
		bfs_cat_entry_clear(&e);
	}
	rc = bfs_catalog_get(cat, INO(1, 15), &e, &err);
	is_int(rc, -ENOENT, "get past the last entry: ENOENT");
	rc = bfs_catalog_get(cat, INO(9, 1), &e, &err);
	is_int(rc, -ENOENT, "get in an unknown backup: ENOENT");
	rc = bfs_catalog_get(cat, INO(1, 0), &e, &err);
	ok(rc == 0 && e.e.type == BFS_T_DIR && e.nlink == 5 && !e.parent,
	   "the root: a directory, nlink 2 + 3 subdirectories");
	bfs_cat_entry_clear(&e);
	rc = bfs_catalog_get(cat, INO(1, 1), &e, &err);
	ok(rc == 0 && e.nlink == 3, "a: nlink 3");
	bfs_cat_entry_clear(&e);

	rc = bfs_catalog_readdir(cat, INO(1, 0), 0, 0, names_cb, &nm, &err);
	ok(rc == 0 && !strcmp(nm.buf, "a e h1 h2 m s z") && nm.rising,
	   "readdir of the root: names in order, ids rising (%s)", nm.buf);
	memset(&nm, 0, sizeof(nm));
	nm.rising = true;
	rc = bfs_catalog_readdir(cat, INO(1, 0), INO(1, 7), 2, names_cb, &nm,
				 &err);
	is_str(nm.buf, "h2 m", "readdir after h1, 2 of them");
	memset(&nm, 0, sizeof(nm));
	rc = bfs_catalog_readdir(cat, INO(1, 9), 0, 0, names_cb, &nm, &err);
	is_str(nm.buf, "m1 m2 m3", "readdir of a tree of three parts");
	{
		struct attrs full = {"", 0}, lean = {"", 0};

		rc = bfs_catalog_readdir(cat, INO(1, 0), 0, 0, attrs_cb, &full,
					 &err);
		if (rc == 0)
			rc = bfs_catalog_readdir_attrs(cat, INO(1, 0), 0, 0,
						       attrs_cb, &lean, &err);
		ok(rc == 0 && full.buf[0] && !strcmp(full.buf, lean.buf),
		   "readdir_attrs of the root: the same ids and attributes "
		   "(%s)",
		   ERR(rc));
		ok(full.users > 0 && lean.users == 0,
		   "  without the user and group names (%d, %d)", full.users,
		   lean.users);
	}

	memset(&e, 0, sizeof(e));
	rc = bfs_catalog_lookup(cat, INO(1, 0), "h2", 2, &e, &err);
	ok(rc == 0 && e.link_id == INO(1, 7) && e.nlink == 2,
	   "a hardlink: link_id of its group's first entry, nlink 2");
	bfs_cat_entry_clear(&e);
	memset(&g, 0, sizeof(g));
	rc = bfs_catalog_lookup(cat, INO(1, 0), "h1", 2, &g, &err);
	ok(rc == 0 && g.link_id == 0 && g.nlink == 2,
	   "  the first entry: nlink 2");
	bfs_cat_entry_clear(&g);
	rc = bfs_catalog_lookup(cat, INO(1, 0), "nope", 4, &e, &err);
	is_int(rc, -ENOENT, "lookup of a missing name: ENOENT");
	rc = bfs_catalog_lookup_path(cat, INO(1, 0), "s/x", &e, &err);
	is_int(rc, -ENOTDIR, "a path through a symlink: ENOTDIR");

	rc = bfs_catalog_chunks(cat, INO(1, 2), &ch, &nch, &err);
	cr_chunk_id(want, 1, 1);
	ok(rc == 0 && nch == 2 && !memcmp(ch[1].hash, want, BFS_HASH_LEN) &&
	       ch[1].len == CR_CHUNK && ch[1].offset == 108,
	   "chunks of a/f1, located by the index object (%s)", ERR(rc));
	free(ch);
	rc = bfs_catalog_chunks(cat, INO(1, 14), &ch, &nch, &err);
	cr_chunk_id(want, 40, 4999);
	ok(rc == 0 && nch == 5000 && !memcmp(ch[4999].hash, want, BFS_HASH_LEN),
	   "chunks of z: 5000, from two list blobs (%s)", ERR(rc));
	free(ch);
	rc = bfs_catalog_chunks(cat, INO(1, 8), &ch, &nch, &err);
	cr_chunk_id(want, 30, 0);
	ok(rc == 0 && nch == 1 && !memcmp(ch[0].hash, want, BFS_HASH_LEN),
	   "chunks of the hardlink h2 are h1's (%s)", ERR(rc));
	free(ch);
	rc = bfs_catalog_chunks(cat, INO(1, 3), &ch, &nch, &err);
	ok(rc == 0 && nch == 0 && !ch, "an empty file has no chunks");
	rc = bfs_catalog_chunks(cat, INO(1, 1), &ch, &nch, &err);
	is_int(rc, -EINVAL, "a directory has no chunk list");
}

static void test_sharing(void)
{
	struct bfs_sync_stats ss;
	struct bfs_catalog_counts before, n;
	struct bfs_cat_entry e;
	static const char *const paths[] = {"a/sub/y", "z", "m/m2", "h2", "e"};
	int64_t ids[BFS_ARRAY_SIZE(paths)];
	bool same = true;
	size_t i;
	int rc;

	before = counts();
	rc = cr_write(repo, "b2", T0 + 1000, SOURCES, top2,
		      BFS_ARRAY_SIZE(top2), NULL);
	if (!rc)
		rc = sync_rc(&ss);
	ok(rc == 0 && ss.added == 1 && ss.unchanged == 1,
	   "b2 (one file added in a/sub) ingested (%s)", ERR(rc));
	n = counts();
	is_int(n.trees - before.trees, 3, "  only 3 new trees: a/sub, a, root");
	is_int(n.entries - before.entries, 12,
	       "  only their 12 entries (2 + 3 + 7)");
	is_int(id_of("b2", "a/sub/y"), INO(2, 6), "a/sub/y of b2 has pre 6");
	is_int(id_of("b2", "z"), INO(2, 15), "z of b2 has pre 15");
	is_int(id_of("b1", "z"), INO(1, 14), "z of b1 still has pre 14");

	for (i = 0; i < BFS_ARRAY_SIZE(paths); i++)
		ids[i] = id_of("b2", paths[i]);
	rc = sync_rc(&ss);
	ok(rc == 0 && ss.unchanged == 2 && !ss.added,
	   "a second sync changes nothing");
	for (i = 0; i < BFS_ARRAY_SIZE(paths); i++)
		same &= ids[i] > 0 && id_of("b2", paths[i]) == ids[i];
	ok(same, "  the ids of b2 are the same");

	del_manifest("b1");
	rc = sync_rc(&ss);
	ok(rc == 0 && ss.removed == 1, "b1's manifest deleted: dropped");
	n = counts();
	is_int(n.trees, before.trees, "  its 3 own trees went with it");
	is_int(n.entries, 15, "  b2's 15 entries stay");
	same = true;
	for (i = 0; i < BFS_ARRAY_SIZE(paths); i++)
		same &= id_of("b2", paths[i]) == ids[i];
	ok(same, "  the ids of b2 are the same");
	memset(&e, 0, sizeof(e));
	rc = bfs_catalog_get(cat, ids[2], &e, &err);
	ok(rc == 0 && !strcmp(e.e.path, "m2"), "  get of an old id: m2");
	bfs_cat_entry_clear(&e);
	rc = bfs_catalog_get(cat, INO(1, 5), &e, &err);
	is_int(rc, -ENOENT, "  an id of b1: ENOENT");
}

static int count_one(void *arg, const struct bfs_cat_entry *e)
{
	(void)e;
	++*(int *)arg;
	return 0;
}

/* readdir of path in backup id: the number of entries, or <0 (err). */
static int list_n(const char *id, const char *path)
{
	struct bfs_backup_info bi;
	struct bfs_cat_entry e;
	int n = 0, rc;

	memset(&e, 0, sizeof(e));
	memset(&err, 0, sizeof(err));
	rc = bfs_catalog_find_backup(cat, id, &bi, &err);
	if (!rc)
		rc = bfs_catalog_lookup_path(cat, bi.root, path, &e, &err);
	if (!rc)
		rc = bfs_catalog_readdir(cat, e.id, 0, 0, count_one, &n, &err);
	bfs_backup_info_clear(&bi);
	bfs_cat_entry_clear(&e);
	return rc ? rc : n;
}

/* A backup with one damaged directory (dir: its path, "" = the root): it
 * is ingested, listing that directory is -EIO naming msg (never a shorter
 * listing), the others list, and a clean backup synced with it is in. */
static void damaged(const char *id, const struct cr_node *kids, size_t n,
		    const char *dir, const char *msg, const char *what)
{
	struct bfs_sync_stats ss;
	int rc;

	rc = cr_write(repo, id, T0 + 5000, SOURCES, kids, n, NULL);
	if (rc) {
		ok(0, "%s: cannot write it", what);
		return;
	}
	rc = sync_rc(&ss);
	ok(rc == 0 && has_backup(id), "%s: the backup is in (%s)", what,
	   ERR(rc));
	rc = list_n(id, dir);
	ok(rc == -EIO && strstr(err.msg, msg),
	   "  listing '/%s' is EIO, saying why (%s)", dir, err.msg);
	if (*dir)
		ok(list_n(id, "") > 0, "  its root lists");
	del_manifest(id);
	sync_rc(&ss);
}

static void test_hostile(void)
{
	static const struct cr_node q[] = {{.name = "q1", .nchunks = 1}};
	static const struct cr_node hidden[] = {
	    {.name = "q", .type = D, .kids = q, .nkids = 1, .hide = true}};
	static const struct cr_node liar[] = {
	    {.name = "q", .type = D, .kids = q, .nkids = 1, .count_lie = 1}};
	static const struct cr_node liar2[] = {{.name = "m",
						.type = D,
						.kids = m1,
						.nkids = 3,
						.split = true,
						.count_lie = -1}};
	static const struct cr_node ba[] = {{.name = "b"}, {.name = "a"}};
	static const struct cr_node unsorted_parts[] = {
	    {.name = "u", .type = D, .kids = ba, .nkids = 2, .split = true}};
	static const struct cr_node unsorted[] = {
	    {.name = "u", .type = D, .kids = ba, .nkids = 2}};
	static const struct cr_node aa[] = {{.name = "a"}, {.name = "a"}};
	static const struct cr_node twice[] = {
	    {.name = "u", .type = D, .kids = aa, .nkids = 2, .split = true}};
	static const struct cr_node fat[] = {
	    {.name = "f", .nchunks = 2, .seed = 5, .size_lie = 1}};
	static const struct cr_node fatdir[] = {
	    {.name = "w", .type = D, .kids = fat, .nkids = 1}};
	struct bfs_sync_stats ss;
	int rc;

	/* a good one next to the bad one is still ingested */
	rc = cr_write(repo, "b4", T0 + 4000, SOURCES, top2,
		      BFS_ARRAY_SIZE(top2), NULL);
	ok(rc == 0, "b4: the same tree as b2");
	damaged("b3", hidden, 1, "q", "is in no index object",
		"a tree part in no index object");
	ok(has_backup("b4"), "  b4, synced with it, is in");
	/* a count that lies contradicts the manifest's count of the whole
	 * backup first: the root is the damaged directory */
	damaged("b5", liar, 1, "", "count", "a directory whose count lies");
	damaged("b5b", liar2, 1, "", "count",
		"a count that lies about a tree the catalog has");
	is_int(list_n("b2", "m"), 3,
	       "  the honest backup with that tree still lists it");
	damaged("b6", unsorted_parts, 1, "u", "sorted",
		"names out of order across parts");
	damaged("b6b", twice, 1, "u", "sorted", "a name twice across parts");
	damaged("b7", unsorted, 1, "u", "b7", "names out of order in a part");
	damaged("b8", fatdir, 1, "w", "size", "a file whose size lies");
	rc = sync_rc(&ss);
	is_int(rc, 0, "then sync is clean again (%s)", ERR(rc));
}

static void test_index_ops(void)
{
	static const struct cr_node kids[] = {
	    {.name = "new", .nchunks = 2, .seed = 77}};
	struct bfs_index *idx = NULL;
	struct bfs_index_dir d = {0};
	struct bfs_chunkref ref;
	struct cr_out out = {0};
	uint8_t want[BFS_HASH_LEN];
	int rc;

	rc = bfs_catalog_index_new(cat, repo, &idx);
	ok(rc == 0, "an index over the catalog");
	if (rc)
		return;
	rc = bfs_index_prev_dir(idx, SRC_KEY, "a", &d);
	cr_chunk_id(want, 1, 0);
	ok(rc == 0 && d.n == 3 && !strcmp(d.v[0].e.path, "f1") &&
	       d.v[0].nchunks == 2 &&
	       !memcmp(d.v[0].chunks[0].hash, want, BFS_HASH_LEN) &&
	       !strcmp(d.v[2].e.path, "sub") && d.v[2].e.type == BFS_T_DIR,
	   "prev_dir a: f1 (2 chunks), f2, sub");
	bfs_index_dir_clear(&d);
	rc = bfs_index_prev_dir(idx, SRC_KEY, "", &d);
	ok(rc == 0 && d.n == 7 && !strcmp(d.v[3].e.path, "h2") &&
	       d.v[3].e.link && !d.v[3].nchunks,
	   "prev_dir of the root: 7 children, a hardlink without chunks");
	bfs_index_dir_clear(&d);
	/* in walk order and out of it (the index keeps the chain it found) */
	{
		static const char *const walk[] = {
		    "a", "a/sub", "m", "a/sub", "e", "a", "a/sub"};
		static const size_t want_n[] = {3, 2, 3, 2, 0, 3, 2};
		bool all = true;
		size_t i;

		for (i = 0; i < BFS_ARRAY_SIZE(walk); i++) {
			rc = bfs_index_prev_dir(idx, SRC_KEY, walk[i], &d);
			if (rc || d.n != want_n[i]) {
				diag("prev_dir %s: %d, %zu children", walk[i],
				     rc, d.n);
				all = false;
			}
			bfs_index_dir_clear(&d);
		}
		ok(all, "prev_dir down, across and up the tree");
	}
	rc = bfs_index_prev_dir(idx, SRC_KEY, "a/sub/x", &d);
	is_int(rc, -ENOENT, "prev_dir of a file below the chain: ENOENT");
	rc = bfs_index_prev_dir(idx, SRC_KEY, "a/nope", &d);
	is_int(rc, -ENOENT, "prev_dir of a missing directory: ENOENT");
	rc = bfs_index_prev_dir(idx, SRC_KEY, "z", &d);
	is_int(rc, -ENOENT, "prev_dir of a file: ENOENT");
	rc = bfs_index_prev_dir(idx, "other", "", &d);
	is_int(rc, -ENOENT, "prev_dir of an unknown source: ENOENT");
	cr_chunk_id(want, 40, 4999);
	rc = bfs_index_chunk_find(idx, want, &ref);
	ok(rc == 0 && ref.len == CR_CHUNK, "chunk_find of a data chunk");

	rc = cr_write(repo, "b9", T0 + 9000, SOURCES, kids, 1, &out);
	if (!rc)
		rc = bfs_index_record(idx, "b9", out.manifest.data,
				      out.manifest.len, out.idxname,
				      out.idx.data, out.idx.len, &err);
	ok(rc == 0 && bfs_index_has_backup(idx, "b9"),
	   "record: index object then manifest (%s)", ERR(rc));
	cr_chunk_id(want, 77, 1);
	rc = bfs_index_chunk_find(idx, want, &ref);
	ok(rc == 0, "  its chunks are found");
	rc = bfs_index_prev_dir(idx, SRC_KEY, "", &d);
	ok(rc == 0 && d.n == 1 && !strcmp(d.v[0].e.path, "new"),
	   "  prev_dir now answers from it");
	bfs_index_dir_clear(&d);
	/* and in the store, as the writer does */
	{
		char key[BFS_KEY_MAX];

		bfs_repo_manifest_key(key, "b9");
		rc = bfs_store_put(repo->store, key, out.manifest.data,
				   out.manifest.len, 0, &err);
		snprintf(key, sizeof(key), "%s%s", BFS_KEY_INDEX, out.idxname);
		if (!rc)
			rc = bfs_store_put(repo->store, key, out.idx.data,
					   out.idx.len, 0, &err);
		ok(rc == 0, "  stored too");
	}
	cr_out_clear(&out);
	bfs_index_free(idx);
}

/* A tree as deep as the format allows: ingested, and the deepest entry
 * found by its id from a fresh connection (one query per level). */
static void test_deep(void)
{
	enum { DEPTH = BFS_TREE_MAX_DEPTH };
	struct cr_node *v = calloc(DEPTH + 1, sizeof(*v));
	struct bfs_catalog *c2 = NULL;
	struct bfs_sync_stats ss;
	struct bfs_backup_info bi;
	struct bfs_cat_entry e;
	int64_t b = 0;
	int i, rc;

	if (!v) {
		ok(0, "memory");
		return;
	}
	for (i = 0; i < DEPTH; i++) {
		v[i].name = "d";
		v[i].type = D;
		v[i].kids = &v[i + 1];
		v[i].nkids = 1;
	}
	v[DEPTH].name = "leaf";
	v[DEPTH].nchunks = 1;
	rc = cr_write(repo, "deep", T0 + 7000, NULL, v, 1, NULL);
	if (!rc)
		rc = sync_rc(&ss);
	ok(rc == 0 && ss.added == 1, "a tree %d directories deep (%s)", DEPTH,
	   ERR(rc));
	memset(&bi, 0, sizeof(bi));
	if (bfs_catalog_find_backup(cat, "deep", &bi, NULL) == 0)
		b = bi.rowid;
	bfs_backup_info_clear(&bi);
	memset(&e, 0, sizeof(e));
	rc = bfs_catalog_open(catpath, repo->id, true, &c2, &err);
	if (!rc)
		rc = bfs_catalog_get(c2, INO(b, DEPTH + 1), &e, &err);
	ok(rc == 0 && e.e.path && !strcmp(e.e.path, "leaf") &&
	       e.parent == INO(b, DEPTH),
	   "  its leaf, pre %d, by id (%s)", DEPTH + 1, ERR(rc));
	bfs_cat_entry_clear(&e);
	bfs_catalog_close(c2);
	free(v);
}

static void test_rebuild(void)
{
	struct bfs_sync_stats ss;
	struct bfs_catalog_counts before = counts(), n;
	int64_t old = id_of("b2", "z");
	int rc;

	memset(&err, 0, sizeof(err));
	rc = bfs_catalog_rebuild(cat, repo, &ss, &err);
	n = counts();
	ok(rc == 0 && n.trees == before.trees && n.entries == before.entries &&
	       n.backups == before.backups,
	   "rebuild: the same rows (trees %lld/%lld, entries %lld/%lld: %s)",
	   (long long)n.trees, (long long)before.trees, (long long)n.entries,
	   (long long)before.entries, ERR(rc));
	ok(id_of("b2", "z") > old, "  new ids: backup ids are never reused");
}

/* A catalog of schema version 1 (as the format-1 backupfs left it) is a
 * cache of this repository: dropped and recreated at open. */
static void test_old_schema(const char *tmp)
{
	const char *path = tl_path(tmp, "v1.db");
	struct bfs_catalog *c = NULL;
	struct bfs_sync_stats ss;
	sqlite3 *db = NULL;
	char sql[512];
	int rc;

	snprintf(sql, sizeof(sql),
		 "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
		 " INSERT INTO meta VALUES('repo_id', '%s');"
		 " CREATE TABLE entries(id INTEGER PRIMARY KEY, backup);"
		 " CREATE TABLE chunk_loc(hash BLOB PRIMARY KEY);"
		 " PRAGMA user_version = 1",
		 repo->id);
	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	ok(rc == SQLITE_OK, "a catalog of schema version 1");
	rc = bfs_catalog_open(path, repo->id, true, &c, &err);
	is_int(rc, -EPROTO, "  read-only: refused, saying why (%s)", ERR(rc));
	rc = bfs_catalog_open(path, "someotherrepo", false, &c, &err);
	is_int(rc, -EINVAL, "  another repository's: refused (%s)", ERR(rc));
	rc = bfs_catalog_open(path, repo->id, false, &c, &err);
	if (!rc)
		rc = bfs_catalog_sync(c, repo, &ss, &err);
	ok(rc == 0 && ss.added >= 3, "  writable: rebuilt and synced (%s)",
	   ERR(rc));
	bfs_catalog_close(c);
}

/* The chunk list of entry id of catalog c is refs (seed, 0..n) in
 * order. */
static bool list_is(struct bfs_catalog *c, int64_t id, unsigned seed,
		    unsigned n)
{
	struct bfs_chunkref *ch = NULL;
	uint8_t want[BFS_HASH_LEN];
	size_t nch = 0, i;
	bool good;
	int rc;

	rc = bfs_catalog_chunks(c, id, &ch, &nch, &err);
	good = rc == 0 && nch == n;
	for (i = 0; good && i < n; i++) {
		cr_chunk_id(want, seed, (unsigned)i);
		good = !memcmp(ch[i].hash, want, BFS_HASH_LEN) &&
		       ch[i].len == CR_CHUNK;
	}
	if (rc)
		diag("chunks of %lld: %s", (long long)id, ERR(rc));
	free(ch);
	return good;
}

/* The first column of the first row of a query on the catalog file, -1
 * on an error. */
static int64_t query_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* -errno of bfs_catalog_chunks on entry id (the list freed). */
static int chunks_rc(struct bfs_catalog *c, int64_t id)
{
	struct bfs_chunkref *ch = NULL;
	size_t n = 0;
	int rc;

	rc = bfs_catalog_chunks(c, id, &ch, &n, &err);
	free(ch);
	return rc;
}

/* Change the catalog file behind the catalog's back: SQLITE_OK when
 * some row changed. */
static int poke(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc == SQLITE_OK && !sqlite3_changes(db))
		rc = SQLITE_NOTFOUND;
	sqlite3_close(db);
	return rc;
}

#define HUGE_RUN                                                               \
	"(SELECT run FROM tree_runs WHERE tree = (SELECT root_tree FROM"       \
	" backups WHERE name = 'huge'))"

/* A chunk list longer than SQLite takes in one value (issue 13 item 6)
 * is stored in pieces (chunk_pieces) and read back whole, in order, by
 * both readers (bfs_catalog_chunks and the index's prev_dir); a missing,
 * reordered or cut piece is a damaged list, never a short file.
 * SQLite's length limit is lowered (BFS_CATALOG_LENGTH_LIMIT 4000: pieces
 * of 55 refs) to meet it with 200 chunks instead of 28 M. */
static void test_long_list(const char *tmp)
{
	static const struct cr_node fits[] = {
	    {.name = "fits", .nchunks = 55, .seed = 91}};
	static const struct cr_node big[] = {
	    {.name = "huge", .nchunks = 200, .seed = 92}};
	static const struct cr_node liar[] = {
	    {.name = "liar", .nchunks = 5000, .seed = 93, .size_lie = 1}};
	const char *path = tl_path(tmp, "small.db");
	struct bfs_catalog *c = NULL;
	struct bfs_index *idx = NULL;
	struct bfs_index_dir d = {0};
	struct bfs_backup_info bi;
	struct bfs_sync_stats ss;
	struct bfs_cat_entry e;
	uint8_t want[BFS_HASH_LEN];
	int64_t huge = 0, fit = 0, z = 0;
	char *dbpath = strdup(path);
	int rc;

	rc = cr_write(repo, "fits", T0 + 100, NULL, fits, 1, NULL);
	if (!rc)
		rc = cr_write(repo, "huge", T0 + 20000, SOURCES, big, 1, NULL);
	if (!rc)
		rc = cr_write(repo, "liar", T0 + 102, NULL, liar, 1, NULL);
	ok(rc == 0, "backups with 55 and 200 chunks in one file, and 5000 "
		    "chunks whose size lies");
	setenv("BFS_CATALOG_LENGTH_LIMIT", "4000", 1); /* 111 refs */
	rc = bfs_catalog_open(dbpath, repo->id, false, &c, &err);
	unsetenv("BFS_CATALOG_LENGTH_LIMIT");
	memset(&err, 0, sizeof(err));
	if (!rc)
		rc = bfs_catalog_sync(c, repo, &ss, &err);
	ok(rc == 0 && ss.added >= 2,
	   "lists over SQLite's length limit are ingested (%s)", ERR(rc));
	memset(&bi, 0, sizeof(bi));
	memset(&e, 0, sizeof(e));
	rc = bfs_catalog_find_backup(c, "huge", &bi, &err);
	if (!rc)
		rc = bfs_catalog_lookup_path(c, bi.root, "huge", &e, &err);
	huge = rc ? 0 : e.id;
	bfs_cat_entry_clear(&e);
	bfs_backup_info_clear(&bi);
	rc = bfs_catalog_find_backup(c, "fits", &bi, &err);
	if (!rc)
		rc = bfs_catalog_lookup_path(c, bi.root, "fits", &e, &err);
	fit = rc ? 0 : e.id;
	bfs_cat_entry_clear(&e);
	bfs_backup_info_clear(&bi);
	rc = bfs_catalog_find_backup(c, "b2", &bi, &err);
	if (!rc)
		rc = bfs_catalog_lookup_path(c, bi.root, "z", &e, &err);
	z = rc ? 0 : e.id;
	bfs_cat_entry_clear(&e);
	bfs_backup_info_clear(&bi);
	ok(query_int(dbpath, "SELECT count(*) FROM chunk_pieces p WHERE NOT"
			     " EXISTS(SELECT 1 FROM entries e WHERE e.run ="
			     " p.run AND e.idx = p.idx)") == 0,
	   "  the liar's tree is damaged, and its pieces are gone");
	ok(huge && list_is(c, huge, 92, 200),
	   "  200 chunks (4 pieces) read back in order");
	ok(fit && list_is(c, fit, 91, 55),
	   "  55 chunks (exactly one piece) read back");
	ok(z && list_is(c, z, 40, 5000),
	   "  5000 chunks from two list blobs (91 pieces) read back");
	ok(query_int(dbpath,
		     "SELECT count(*) FROM entries WHERE name ="
		     " CAST('fits' AS BLOB) AND chunks IS NOT NULL") == 1 &&
	       query_int(dbpath, "SELECT count(*) FROM chunk_pieces"
				 " WHERE run = " HUGE_RUN) == 4,
	   "  one piece stays in the entry's row, a longer list in pieces");

	rc = bfs_catalog_index_new(c, repo, &idx);
	if (!rc)
		rc = bfs_index_prev_dir(idx, SRC_KEY, "", &d);
	cr_chunk_id(want, 92, 199);
	ok(rc == 0 && d.n == 1 && d.v[0].nchunks == 200 &&
	       !memcmp(d.v[0].chunks[199].hash, want, BFS_HASH_LEN),
	   "  prev_dir hands the writer the whole list (%s)", ERR(rc));
	bfs_index_dir_clear(&d);
	bfs_index_free(idx);

	/* hostile: a piece gone, pieces out of order, a cut piece */
	ok(poke(dbpath, "UPDATE chunk_pieces SET seq = 9 WHERE seq = 2 AND"
			" idx = 0 AND run = " HUGE_RUN) == SQLITE_OK,
	   "a piece of huge's list renumbered");
	rc = chunks_rc(c, huge);
	ok(rc == -EUCLEAN && strstr(err.msg, "damaged chunk list"),
	   "  a gap in the pieces: a damaged list (%s)", ERR(rc));
	ok(poke(dbpath, "UPDATE chunk_pieces SET seq = 2 WHERE seq = 9 AND "
			"run = " HUGE_RUN ";"
			" UPDATE chunk_pieces SET refs = substr(refs, 1, 36)"
			" WHERE seq = 4 AND run = " HUGE_RUN) == SQLITE_OK,
	   "the last piece cut to one ref");
	rc = chunks_rc(c, huge);
	ok(rc == -EUCLEAN && strstr(err.msg, "damaged chunk list"),
	   "  a short list: damaged, never a short file (%s)", ERR(rc));
	ok(poke(dbpath, "DELETE FROM chunk_pieces WHERE run = " HUGE_RUN) ==
	       SQLITE_OK,
	   "all its pieces deleted");
	rc = chunks_rc(c, huge);
	ok(rc == -EUCLEAN && strstr(err.msg, "damaged chunk list"),
	   "  no pieces at all: damaged (%s)", ERR(rc));

	/* a drop takes the pieces along */
	rc = bfs_catalog_drop(c, "huge", &err);
	if (!rc)
		rc = bfs_catalog_drop(c, "fits", &err);
	ok(rc == 0, "huge and fits dropped (%s)", ERR(rc));
	bfs_catalog_close(c);
	ok(query_int(dbpath, "SELECT count(*) FROM chunk_pieces p WHERE NOT"
			     " EXISTS(SELECT 1 FROM entries e WHERE e.run ="
			     " p.run AND e.idx = p.idx)") == 0 &&
	       query_int(dbpath, "SELECT count(*) FROM chunk_pieces") > 0,
	   "  no piece is left without its entry (z's stay)");
	free(dbpath);
}

int main(void)
{
	const char *tmp = tl_tmpdir("bfs-cat");
	int rc;

	rc = tl_make_repo(tmp, "repo", &repo);
	catpath = strdup(tl_path(tmp, "catalog.db"));
	if (!rc)
		rc = bfs_catalog_open(catpath, repo->id, false, &cat, &err);
	ok(rc == 0, "a repository and a catalog (%s)", ERR(rc));
	if (rc)
		return tap_done();
	test_one_backup();
	test_sharing();
	test_hostile();
	test_index_ops();
	test_deep();
	/* the rest with a backup's bounded memory, smaller still: rows
	 * read and written through a page cache of 64 KiB, no mapping */
	rc = bfs_catalog_bound_memory(cat, 64, 0, &err);
	ok(rc == 0, "a page cache of 64 KiB and no mapping (%s)", ERR(rc));
	test_rebuild();
	test_old_schema(tmp);
	test_long_list(tmp);
	bfs_catalog_close(cat);
	bfs_repo_close(repo);
	free((char *)catpath);
	return tap_done();
}
