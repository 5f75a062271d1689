/* test-writer-tree.c - the trees the writer makes (format 2), checked at
 * the format level: every backup is read back by walking its manifest,
 * index objects and tree parts with the tree.h parser, without the
 * catalog.  Covers entries given out of order (sorted at commit),
 * implicit parents, unchanged directories that cost nothing in the next
 * backup, a change deep down that costs one part per level, files with
 * chunk-list blobs, hardlink groups, and the depth limit.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/hmap.h"
#include "src/index.h"
#include "src/repo.h"
#include "src/tree.h"
#include "src/writer.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

static const char *tmp;

/* ---- blob locations from index objects (also the test's index) ------- */

struct loc {
	uint8_t hash[BFS_HASH_LEN];
	uint8_t pack[BFS_HASH_LEN];
	uint64_t offset;
	uint32_t clen, len;
	int type;
};

struct locs {
	struct bfs_index idx;
	struct bfs_hmap m;
	unsigned new_trees; /* tree blobs in the last recorded index object */
};

static int loc_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		  const struct bfs_idx_blob *b, size_t n)
{
	struct locs *l = arg;

	for (size_t i = 0; i < n; i++) {
		struct loc r = {.offset = b[i].offset,
				.clen = b[i].clen,
				.len = b[i].len,
				.type = b[i].type};

		memcpy(r.hash, b[i].hash, BFS_HASH_LEN);
		memcpy(r.pack, pack, BFS_HASH_LEN);
		bfs_hmap_insert(&l->m, &r, NULL);
		l->new_trees += b[i].type == BFS_BLOB_TREE;
	}
	return 0;
}

static int li_find(void *ctx, const uint8_t hash[BFS_HASH_LEN],
		   struct bfs_chunkref *out)
{
	struct locs *l = ctx;
	struct loc *r = bfs_hmap_find(&l->m, hash);

	if (!r)
		return -ENOENT;
	memcpy(out->hash, r->hash, BFS_HASH_LEN);
	memcpy(out->pack, r->pack, BFS_HASH_LEN);
	out->offset = r->offset;
	out->clen = r->clen;
	out->len = r->len;
	return 0;
}

static int li_present(void *ctx, const uint8_t pack[BFS_HASH_LEN])
{
	(void)ctx;
	(void)pack;
	return 1;
}

static int li_prev_dir(void *ctx, const char *key, const char *dir,
		       struct bfs_index_dir *out)
{
	(void)ctx;
	(void)key;
	(void)dir;
	(void)out;
	return -ENOENT;
}

static int li_record(void *ctx, const char *id, const void *man, size_t len,
		     const char *idxname, const void *idxobj, size_t idxlen,
		     struct bfs_err *err)
{
	struct locs *l = ctx;

	(void)id;
	(void)man;
	(void)len;
	(void)idxname;
	l->new_trees = 0;
	return idxobj ? bfs_idxobj_parse(idxobj, idxlen, loc_cb, l, err) : 0;
}

static bool li_has(void *ctx, const char *id)
{
	(void)ctx;
	(void)id;
	return false;
}

static const struct bfs_index_ops li_ops = {
    .name = "test",
    .chunk_find = li_find,
    .pack_present = li_present,
    .prev_dir = li_prev_dir,
    .record = li_record,
    .has_backup = li_has,
};

static void locs_init(struct locs *l)
{
	memset(l, 0, sizeof(*l));
	bfs_hmap_init(&l->m, sizeof(struct loc), BFS_HASH_LEN, 0,
		      BFS_HMAP_PREHASHED);
	l->idx.ops = &li_ops;
	l->idx.ctx = l;
}

/* ---- reading a backup back ----------------------------------------------
 */

static int read_blob(struct bfs_repo *r, struct locs *l,
		     const uint8_t id[BFS_HASH_LEN], struct bfs_buf *out)
{
	struct bfs_chunkref c;
	struct bfs_err err = {{0}};
	int rc = li_find(l, id, &c);

	if (rc)
		return rc;
	out->len = 0;
	if (bfs_buf_reserve(out, c.len + 1))
		return -ENOMEM;
	rc = bfs_repo_read_chunk(r, &c, out->data, &err);
	if (rc)
		diag("read blob: %s", err.msg);
	out->len = c.len;
	return rc;
}

/* Append "path type mode size [nl] [h]\n" for every entry below parts (in
 * tree order) to out; content of files is checked against *want when it
 * names the path.  Returns the number of entries or <0. */
struct want {
	const char *path;
	const uint8_t *data;
	size_t len;
	int ok;
};

static long walk(struct bfs_repo *r, struct locs *l,
		 const uint8_t (*parts)[BFS_HASH_LEN], size_t nparts,
		 const char *prefix, struct bfs_buf *out, struct want *w)
{
	struct bfs_buf b = {0}, fb = {0};
	long total = 0;

	for (size_t i = 0; i < nparts; i++) {
		struct bfs_tree_part *p;
		struct bfs_tree_entry te;
		struct bfs_err err = {{0}};
		int rc = read_blob(r, l, parts[i], &b);

		if (rc || bfs_tree_part_open(b.data, b.len, &p, &err))
			return -EIO;
		while ((rc = bfs_tree_part_next(p, &te, &err)) > 0) {
			char path[4096];
			long sub;

			snprintf(path, sizeof(path), "%s%s%.*s", prefix,
				 *prefix ? "/" : "", (int)te.e.path_len,
				 te.e.path);
			bfs_buf_printf(out, "%s %c %o %llu", path, te.e.type,
				       te.e.mode,
				       (unsigned long long)te.e.size);
			if (te.nl)
				bfs_buf_printf(out, " nl=%u", te.nl);
			if (te.e.link)
				bfs_buf_printf(out, " h=%s", te.e.link);
			if (te.nlists)
				bfs_buf_printf(out, " lists=%zu", te.nlists);
			bfs_buf_append(out, "\n", 1);
			total++;
			if (w && !strcmp(path, w->path)) {
				/* reassemble the content */
				struct bfs_buf lb = {0}, cb = {0};

				fb.len = 0;
				for (size_t k = 0; k < te.nchunks; k++) {
					read_blob(r, l, te.chunks[k].hash, &cb);
					bfs_buf_append(&fb, cb.data, cb.len);
				}
				for (size_t k = 0; k < te.nlists; k++) {
					struct bfs_blobref *refs = NULL;
					size_t nr = 0;

					read_blob(r, l, te.lists[k], &lb);
					bfs_tree_list_parse(lb.data, lb.len,
							    &refs, &nr, &err);
					for (size_t q = 0; q < nr; q++) {
						read_blob(r, l, refs[q].hash,
							  &cb);
						bfs_buf_append(&fb, cb.data,
							       cb.len);
					}
					free(refs);
				}
				w->ok = fb.len == w->len &&
					!memcmp(fb.data, w->data, w->len);
				bfs_buf_free(&lb);
				bfs_buf_free(&cb);
			}
			if (te.e.type == BFS_T_DIR) {
				/* copy: te is borrowed from p */
				size_t np = te.nparts;
				uint8_t(*cp)[BFS_HASH_LEN] =
				    malloc((np ? np : 1) * BFS_HASH_LEN);
				uint64_t count = te.count;

				memcpy(cp, te.parts, np * BFS_HASH_LEN);
				sub = walk(r, l,
					   (const uint8_t(*)[BFS_HASH_LEN])cp,
					   np, path, out, w);
				free(cp);
				if (sub < 0 || (uint64_t)sub != count) {
					diag("%s: count %llu, holds %ld", path,
					     (unsigned long long)count, sub);
					bfs_tree_part_free(p);
					return -EUCLEAN;
				}
				total += sub;
			}
		}
		bfs_tree_part_free(p);
		if (rc < 0) {
			diag("walk: %s", err.msg);
			return rc;
		}
	}
	bfs_buf_free(&b);
	bfs_buf_free(&fb);
	return total;
}

/* The listing of backup id ("" on failure); *root gets its root parts. */
static char *listing(struct bfs_repo *r, struct locs *l, const char *id,
		     struct bfs_manifest2 *m, struct want *w)
{
	char key[BFS_KEY_MAX];
	struct bfs_buf man = {0}, out = {0};
	struct bfs_err err = {{0}};
	long n;

	snprintf(key, sizeof(key), "manifests/%s", id);
	{
		char path[4096];

		snprintf(path, sizeof(path), "%s/repo/%s", tmp, key);
		if (tl_read_file(path, &man) < 0)
			return strdup("");
	}
	if (bfs_manifest2_parse(man.data, man.len, m, &err)) {
		diag("manifest %s: %s", id, err.msg);
		bfs_buf_free(&man);
		return strdup("");
	}
	n = walk(r, l, (const uint8_t(*)[BFS_HASH_LEN])m->root, m->nroot, "",
		 &out, w);
	if (n < 0 || (uint64_t)n != m->count)
		diag("%s: walk %ld, count %llu", id, n,
		     (unsigned long long)m->count);
	bfs_buf_append(&out, "", 1);
	bfs_buf_free(&man);
	return (char *)out.data;
}

/* ---- tests ----------------------------------------------------------------
 */

static int add(struct bfs_backup *b, const char *path, int type, uint32_t mode)
{
	struct bfs_entry e = tl_entry(path, type);
	struct bfs_err err = {{0}};

	e.mode = mode;
	if (type == BFS_T_SYMLINK) {
		e.target = "x";
		e.target_len = 1;
	}
	return bfs_backup_add(b, &e, &err);
}

static int put(struct bfs_backup *b, const char *path, const void *d, size_t n)
{
	struct bfs_entry e = tl_entry(path, BFS_T_FILE);
	struct bfs_err err = {{0}};
	int rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_DUMP, &err);

	if (!rc && n)
		rc = bfs_backup_file_write(b, d, n, &err);
	if (!rc)
		rc = bfs_backup_file_end(b, &err);
	if (rc)
		diag("put %s: %s", path, err.msg);
	return rc;
}

static int commit(struct bfs_backup *b, struct bfs_backup_stats *st)
{
	struct bfs_err err = {{0}};
	int rc = bfs_backup_commit(b, st, NULL, &err);

	if (rc)
		diag("commit: %s", err.msg);
	return rc;
}

static void test_order(struct bfs_repo *r, const char *id)
{
	struct bfs_backup_opts o = {.id = id, .time_ns = 1000000000};
	struct bfs_backup *b = NULL;
	struct bfs_manifest2 m;
	struct bfs_err err = {{0}};
	struct locs l;
	char *got;
	int rc;

	locs_init(&l);
	rc = bfs_backup_begin(r, &l.idx, &o, &b, &err);
	is_int(rc, 0, "begin (%s)", err.msg);
	/* out of order: implicit parents first, real metadata later */
	ok(!put(b, "b/x", "bx", 2), "b/x (b implicit)");
	ok(!put(b, "a/y", "ay", 2), "a/y (a implicit)");
	ok(!add(b, "a", BFS_T_DIR, 0700), "a given later, mode 0700");
	ok(!add(b, "c", BFS_T_SYMLINK, 0777), "symlink c");
	ok(!put(b, "a/b/z", "", 0), "empty a/b/z");
	ok(!put(b, "b/w", "bw", 2), "b/w after a/b/z");
	is_int(commit(b, NULL), 0, "commit out of order");
	got = listing(r, &l, id, &m, NULL);
	is_str(got,
	       "a d 700 0\n"
	       "a/b d 755 0\n"
	       "a/b/z f 640 0\n"
	       "a/y f 640 2\n"
	       "b d 755 0\n"
	       "b/w f 640 2\n"
	       "b/x f 640 2\n"
	       "c l 777 1\n",
	       "sorted trees, later metadata of a directory wins");
	is_int((int)m.count, 8, "manifest count");
	ok(m.h.time_ns == 1000000000, "opts.time_ns is the backup's time");
	bfs_manifest2_clear(&m);
	free(got);
	bfs_hmap_fini(&l.m);
}

static void test_reuse(struct bfs_repo *r)
{
	/* one time for all three: implicit directories carry the backup's
	 * time, and must not differ for the trees to be the same */
	struct bfs_backup_opts o = {.time_ns = 2000000000};
	struct bfs_backup_stats st;
	struct bfs_manifest2 m1, m2, m3;
	struct bfs_backup *b = NULL;
	struct bfs_err err = {{0}};
	char path[64], body[64];
	char *l1, *l3;
	struct locs l;
	int i;

	locs_init(&l);
	for (int round = 0; round < 3; round++) {
		o.id = round == 0 ? "r1" : round == 1 ? "r2" : "r3";
		if (bfs_backup_begin(r, &l.idx, &o, &b, &err)) {
			ok(0, "begin %s: %s", o.id, err.msg);
			return;
		}
		for (i = 0; i < 600; i++) {
			snprintf(path, sizeof(path), "d%d/e%d/f%03d", i / 200,
				 i % 2, i);
			snprintf(body, sizeof(body), "file %d %s", i,
				 round == 2 && i == 333 ? "changed" : "");
			put(b, path, body, strlen(body));
		}
		commit(b, &st);
		if (round == 1)
			is_int((int)l.new_trees, 0,
			       "the same tree again: no new tree blob");
		if (round == 1)
			ok(st.new_chunks == 0, "and no new chunk");
		if (round == 2)
			/* d1/e1 -> d1 -> root: one part each (small dirs) */
			is_int((int)l.new_trees, 3,
			       "one changed file three levels down: three new "
			       "tree parts");
	}
	l1 = listing(r, &l, "r1", &m1, NULL);
	free(listing(r, &l, "r2", &m2, NULL));
	l3 = listing(r, &l, "r3", &m3, NULL);
	ok(m1.nroot == m2.nroot &&
	       !memcmp(m1.root, m2.root, m1.nroot * BFS_HASH_LEN),
	   "unchanged backup: same root");
	ok(memcmp(m1.root, m3.root, BFS_HASH_LEN), "changed backup: new root");
	is_int((int)m1.count, 600 + 3 + 6, "count: 600 files, 9 dirs");
	ok(strlen(l1) > 1000 && strlen(l1) + 1 == strlen(l3) && strcmp(l1, l3),
	   "listings differ, in the changed file's size only");
	free(l1);
	free(l3);
	bfs_manifest2_clear(&m1);
	bfs_manifest2_clear(&m2);
	bfs_manifest2_clear(&m3);
	bfs_hmap_fini(&l.m);
}

/* A file of more than 4096 chunks (1 KiB chunks), and a hardlink. */
static void test_lists_links(struct bfs_repo *r)
{
	size_t n = 4097 * 1024 + 100;
	uint8_t *d = malloc(n);
	struct bfs_backup_opts o = {.id = "lists"};
	struct bfs_backup *b = NULL;
	struct bfs_manifest2 m;
	struct bfs_err err = {{0}};
	struct bfs_entry e = tl_entry("big/link", BFS_T_FILE);
	struct want w = {.path = "big/data", .data = d, .len = n};
	struct locs l;
	char *got;

	tl_fill(d, n, 99);
	locs_init(&l);
	bfs_backup_begin(r, &l.idx, &o, &b, &err);
	put(b, "big/data", d, n);
	e.link = "big/data";
	e.link_len = 8;
	is_int(bfs_backup_add(b, &e, &err), 0, "hardlink (%s)", err.msg);
	is_int(commit(b, NULL), 0, "commit a 4098-chunk file");
	got = listing(r, &l, "lists", &m, &w);
	ok(strstr(got, "big/data f 640 4195428 nl=2 lists=2\n") != NULL,
	   "two chunk-list blobs, hardlink group of two");
	ok(strstr(got, "big/link f 640 4195428 h=big/data\n") != NULL,
	   "the hardlink entry");
	ok(w.ok, "the big file reassembled from its lists, byte for byte");
	free(got);
	bfs_manifest2_clear(&m);
	bfs_hmap_fini(&l.m);
	free(d);
}

static void test_depth(struct bfs_repo *r)
{
	struct bfs_backup_opts o = {.id = "deep"};
	struct bfs_backup *b = NULL;
	struct bfs_err err = {{0}};
	struct bfs_buf p = {0};
	int rc;

	bfs_backup_begin(r, NULL, &o, &b, &err);
	for (int i = 0; i < 1100; i++)
		bfs_buf_append(&p, i ? "/d" : "d", i ? 2 : 1);
	bfs_buf_append(&p, "", 1);
	put(b, (char *)p.data, "x", 1);
	rc = bfs_backup_commit(b, NULL, NULL, &err);
	is_int(rc, -ELOOP, "1100 levels refused at commit (%s)", err.msg);
	bfs_buf_free(&p);
}

int main(void)
{
	struct bfs_repo *r = NULL;
	char cfg[4096];
	struct bfs_buf c = {0};
	char *s;

	tmp = tl_tmpdir("bfs-test-wtree");
	if (tl_make_repo(tmp, "repo", &r))
		return 1;
	bfs_repo_close(r);
	/* 1 KiB dump chunks, so that a file of 4 MiB has 4096+ chunks */
	snprintf(cfg, sizeof(cfg), "%s/repo/config", tmp);
	tl_read_file(cfg, &c);
	bfs_buf_append(&c, "", 1);
	s = strstr((char *)c.data, "\"dump\":{");
	if (s) {
		char *end = strchr(s, '}');
		struct bfs_buf n = {0};

		bfs_buf_append(&n, c.data, (size_t)(s - (char *)c.data));
		bfs_buf_printf(&n, "\"dump\":{\"min\":1024,\"avg\":1024,"
				   "\"max\":1024");
		bfs_buf_append(&n, end, strlen(end));
		tl_write_file(cfg, n.data, n.len);
		bfs_buf_free(&n);
	}
	bfs_buf_free(&c);
	if (bfs_repo_open(tl_path(tmp, "repo"), NULL, &r, NULL)) {
		ok(0, "reopen the repository with small chunks");
		return tap_done();
	}
	test_order(r, "order");
	/* again with a sort budget of 4 KiB: many runs, merged */
	setenv("BFS_TREE_SORT_BYTES", "4096", 1);
	test_order(r, "order-runs");
	unsetenv("BFS_TREE_SORT_BYTES");
	test_reuse(r);
	test_lists_links(r);
	test_depth(r);
	bfs_repo_close(r);
	tl_rm_rf(tmp);
	return tap_done();
}
