/* test-tree.c - format 2's tree lines, tree parts, the part cutter,
 * chunk-list blobs, manifests that name a root tree, and index objects:
 * round trips, determinism, and hostile input rejected with a reason.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/pack.h"
#include "src/tree.h"
#include "src/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

static struct bfs_tree_entry te_file(const char *name, uint64_t size,
				     struct bfs_blobref *refs, size_t n)
{
	struct bfs_tree_entry te = {.e = tl_entry(name, BFS_T_FILE)};

	te.e.size = size;
	te.chunks = refs;
	te.nchunks = n;
	return te;
}

/* Parse one part; return the number of entries or a negative error. */
static int parse_all(const struct bfs_buf *b, struct bfs_tree_entry *last,
		     struct bfs_err *err)
{
	struct bfs_tree_part *p;
	struct bfs_tree_entry te;
	int rc, n = 0;

	rc = bfs_tree_part_open(b->data, b->len, &p, err);
	if (rc)
		return rc;
	while ((rc = bfs_tree_part_next(p, &te, err)) > 0) {
		n++;
		if (last) {
			if (n > 1)
				free(last->e.path);
			*last = te;
			last->e.path = strndup(te.e.path, te.e.path_len);
		}
	}
	bfs_tree_part_free(p);
	return rc < 0 ? rc : n;
}

static void test_lines(void)
{
	struct bfs_blobref refs[3];
	uint8_t parts[2][BFS_HASH_LEN];
	struct bfs_tree_entry te, got;
	struct bfs_buf b = {0};
	struct bfs_err err = {{0}};
	int rc;

	for (int i = 0; i < 3; i++) {
		memset(refs[i].hash, 0x11 * (i + 1), BFS_HASH_LEN);
		refs[i].len = 100 + i;
	}
	memset(parts[0], 0xaa, BFS_HASH_LEN);
	memset(parts[1], 0xbb, BFS_HASH_LEN);

	te = te_file("a.txt", 303, refs, 3);
	te.nl = 2;
	is_int(bfs_tree_line(&b, &te, &err), 0, "file line");
	te = (struct bfs_tree_entry){.e = tl_entry("dir", BFS_T_DIR)};
	te.parts = (const uint8_t(*)[BFS_HASH_LEN])parts;
	te.nparts = 2;
	te.count = 7;
	is_int(bfs_tree_line(&b, &te, &err), 0, "dir line");
	te = (struct bfs_tree_entry){.e = tl_entry("link", BFS_T_SYMLINK)};
	te.e.target = "a.txt";
	te.e.target_len = 5;
	te.e.mtime_ns = -1234567890123456789ll; /* before 1970 */
	te.e.ctime_ns = INT64_MIN + 1;
	is_int(bfs_tree_line(&b, &te, &err), 0, "symlink line");
	te = te_file("z\xff", 0, NULL, 0);
	te.e.link = "x/a.txt";
	te.e.link_len = 7;
	is_int(bfs_tree_line(&b, &te, &err), 0, "hardlink, non-UTF-8 name");
	ok(strstr((char *)b.data, "\"nb\":") != NULL, "non-UTF-8 name as nb");

	memset(&got, 0, sizeof(got));
	rc = parse_all(&b, &got, &err);
	is_int(rc, 4, "four entries back (%s)", err.msg);
	is_int((int)got.e.path_len, 2, "base64 name decoded");
	free(got.e.path);

	/* a directory's tree and count survive the round trip */
	{
		struct bfs_tree_part *p;

		bfs_tree_part_open(b.data, b.len, &p, &err);
		bfs_tree_part_next(p, &te, &err);
		is_int((int)te.nchunks, 3, "file: three refs");
		is_int((int)te.nl, 2, "file: nl");
		is_int((int)te.chunks[2].len, 102, "file: ref length");
		bfs_tree_part_next(p, &te, &err);
		is_int((int)te.nparts, 2, "dir: two parts");
		is_int((int)te.count, 7, "dir: count");
		ok(!memcmp(te.parts[1], parts[1], BFS_HASH_LEN),
		   "dir: part id");
		bfs_tree_part_next(p, &te, &err);
		ok(te.e.mtime_ns == -1234567890123456789ll &&
		       te.e.ctime_ns == INT64_MIN + 1,
		   "negative times round trip");
		bfs_tree_part_free(p);
	}

	/* what a writer must refuse */
	b.len = 0;
	te = te_file("bad", 999, refs, 3);
	is_int(bfs_tree_line(&b, &te, &err), -EINVAL,
	       "size and chunks disagree: refused");
	te = te_file("a/b", 303, refs, 3);
	is_int(bfs_tree_line(&b, &te, &err), -EINVAL, "slash in a name");
	te = te_file("..", 303, refs, 3);
	is_int(bfs_tree_line(&b, &te, &err), -EINVAL, "'..' as a name");
	bfs_buf_free(&b);
}

static int rejects(const char *text, const char *what)
{
	struct bfs_buf b = {0};
	struct bfs_err err = {{0}};
	int rc;

	bfs_buf_append(&b, text, strlen(text));
	rc = parse_all(&b, NULL, &err);
	ok(rc == -EUCLEAN && err.msg[0], "rejected: %s (%s)", what, err.msg);
	bfs_buf_free(&b);
	return rc;
}

#define H64 "1111111111111111111111111111111111111111111111111111111111111111"
#define F(n)                                                                   \
	"{\"n\":\"" n                                                          \
	"\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,\"s\":0}\n"

static void test_hostile(void)
{
	rejects(F("b") F("a"), "names out of order");
	rejects(F("a") F("a"), "a name twice");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":5,\"c\":[[\"" H64 "\",4]]}\n",
		"chunks that do not add up to the size");
	rejects("{\"n\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":1,"
		"\"tree\":[],\"count\":3}\n",
		"a count without a tree");
	rejects(
	    "{\"n\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":1}\n",
	    "a directory without its tree");
	rejects("{\"n\":\"f\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":0,\"tree\":[]}\n",
		"a tree on a file");
	rejects("{\"n\":\"../x\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,"
		"\"mt\":1,\"s\":0}\n",
		"a name with a slash");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":1,\"c\":[[\"" H64 "\",1]],\"c\":[]}\n",
		"a duplicate key");
	rejects("{\"n\":\"a\",\"t\":\"f\"", "no final newline");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":1,\"c\":[[\"" H64 "\",1]],\"h\":\"x\"}\n",
		"chunks on a hardlink");
}

/* bfs_tree_part_skip: the lines stepped over are not parsed (a bad one
 * is not seen), the next line parsed is the one after them and must sort
 * after the name given for the last one; too many lines is -EUCLEAN. */
static void test_skip(void)
{
	const char *text = F("a") "not json\n" F("c") F("d");
	struct bfs_tree_part *p = NULL;
	struct bfs_tree_entry te;
	struct bfs_err err = {""};

	is_int(bfs_tree_part_open(text, strlen(text), &p, &err), 0, "opens");
	is_int(bfs_tree_part_next(p, &te, &err), 1, "line 1 parsed");
	is_int(bfs_tree_part_skip(p, 2, "c", 1, &err), 0,
	       "lines 2 and 3 stepped over, the bad one too");
	is_int(bfs_tree_part_next(p, &te, &err), 1, "line 4 parsed");
	ok(te.e.path_len == 1 && te.e.path[0] == 'd', "  it is 'd'");
	is_int(bfs_tree_part_next(p, &te, &err), 0, "then the end");
	is_int(bfs_tree_part_skip(p, 1, "e", 1, &err), -EUCLEAN,
	       "stepping past the end is -EUCLEAN");
	bfs_tree_part_free(p);

	p = NULL;
	is_int(bfs_tree_part_open(text, strlen(text), &p, &err), 0, "opens");
	is_int(bfs_tree_part_skip(p, 3, "e", 1, &err), 0, "3 lines skipped");
	is_int(bfs_tree_part_next(p, &te, &err), -EUCLEAN,
	       "a next line sorting before the last skipped name is refused");
	bfs_tree_part_free(p);
}

/* "sk", a file's sketch blob (FORMAT.md section 18): round trip with
 * "dt", only on regular files, 64 lower-case hex. */
static void test_sk(void)
{
	uint8_t sk[BFS_HASH_LEN], dt[BFS_HASH_LEN];
	struct bfs_tree_entry te, got;
	struct bfs_buf b = {0};
	struct bfs_err err = {{0}};

	memset(sk, 0xa7, sizeof(sk));
	memset(dt, 0x5c, sizeof(dt));
	te = te_file("db.sql", 0, NULL, 0);
	te.sk = sk;
	te.dt = dt;
	is_int(bfs_tree_line(&b, &te, &err), 0, "file line with \"sk\"");
	memset(&got, 0, sizeof(got));
	{
		struct bfs_tree_part *p = NULL;

		is_int(bfs_tree_part_open(b.data, b.len, &p, &err), 0, "opens");
		is_int(p ? bfs_tree_part_next(p, &got, &err) : -1, 1, "parses");
		ok(got.sk && memcmp(got.sk, sk, BFS_HASH_LEN) == 0 && got.dt &&
		       memcmp(got.dt, dt, BFS_HASH_LEN) == 0,
		   "\"sk\" and \"dt\" round-trip side by side");
		bfs_tree_part_free(p);
	}
	b.len = 0;
	te = (struct bfs_tree_entry){.e = tl_entry("d", BFS_T_DIR)};
	te.sk = sk;
	is_int(bfs_tree_line(&b, &te, &err), -EINVAL,
	       "\"sk\" on a directory is not written");
	bfs_buf_free(&b);
	rejects("{\"n\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":1,"
		"\"tree\":[],\"count\":0,\"sk\":\"" H64 "\"}\n",
		"\"sk\" on a directory");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":0,\"sk\":\"" H64 "\",\"h\":\"x\"}\n",
		"\"sk\" on a hardlink");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":0,\"sk\":\"XY" H64 "\"}\n",
		"\"sk\" of 66 characters");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":0,\"sk\":1}\n",
		"\"sk\" not a string");
}

/* "sa", a file's anchor blob (FORMAT.md section 18): round trip with
 * "sk" and "dt", written after "sk", only on regular files, 64 hex. */
static void test_sa(void)
{
	uint8_t sk[BFS_HASH_LEN], sa[BFS_HASH_LEN], dt[BFS_HASH_LEN];
	struct bfs_tree_entry te, got;
	struct bfs_buf b = {0};
	struct bfs_err err = {{0}};
	struct bfs_tree_part *p = NULL;
	const char *needle = ",\"sk\":\"a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7"
			     "a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7\",\"sa\":\"3e3e";

	memset(sk, 0xa7, sizeof(sk));
	memset(sa, 0x3e, sizeof(sa));
	memset(dt, 0x5c, sizeof(dt));
	te = te_file("db.sql", 0, NULL, 0);
	te.sk = sk;
	te.sa = sa;
	te.dt = dt;
	is_int(bfs_tree_line(&b, &te, &err), 0, "file line with \"sa\"");
	ok(b.len && memmem(b.data, b.len, needle, strlen(needle)) != NULL,
	   "\"sa\" follows \"sk\"");
	memset(&got, 0, sizeof(got));
	is_int(bfs_tree_part_open(b.data, b.len, &p, &err), 0, "opens");
	is_int(p ? bfs_tree_part_next(p, &got, &err) : -1, 1, "parses");
	ok(got.sa && memcmp(got.sa, sa, BFS_HASH_LEN) == 0 && got.sk &&
	       memcmp(got.sk, sk, BFS_HASH_LEN) == 0 && got.dt,
	   "\"sa\", \"sk\" and \"dt\" round-trip side by side");
	bfs_tree_part_free(p);
	b.len = 0;
	te = (struct bfs_tree_entry){.e = tl_entry("d", BFS_T_DIR)};
	te.sa = sa;
	is_int(bfs_tree_line(&b, &te, &err), -EINVAL,
	       "\"sa\" on a directory is not written");
	bfs_buf_free(&b);
	rejects("{\"n\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":1,"
		"\"tree\":[],\"count\":0,\"sa\":\"" H64 "\"}\n",
		"\"sa\" on a directory");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":0,\"sa\":\"" H64 "\",\"h\":\"x\"}\n",
		"\"sa\" on a hardlink");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":0,\"sa\":\"" H64 "0\"}\n",
		"\"sa\" of 65 characters");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":0,\"sa\":[]}\n",
		"\"sa\" not a string");
}

/* "dt", a file's dump map: round trip, only on regular files, 64
 * lower-case hex; a key a reader does not know is ignored. */
static void test_dt(void)
{
	uint8_t dt[BFS_HASH_LEN];
	struct bfs_tree_entry te, got;
	struct bfs_buf b = {0};
	struct bfs_err err = {{0}};
	char hex[BFS_HASH_HEX + 1];

	memset(dt, 0x5c, sizeof(dt));
	bfs_hex(hex, dt, BFS_HASH_LEN);
	te = te_file("db.sql", 0, NULL, 0);
	te.dt = dt;
	is_int(bfs_tree_line(&b, &te, &err), 0, "file line with \"dt\"");
	ok(memmem(b.data, b.len, hex, BFS_HASH_HEX) != NULL,
	   "the line names the map by its hex id");
	{
		struct bfs_tree_part *p = NULL;

		is_int(bfs_tree_part_open(b.data, b.len, &p, &err), 0, "opens");
		is_int(p ? bfs_tree_part_next(p, &got, &err) : -1, 1, "parses");
		ok(got.dt && memcmp(got.dt, dt, BFS_HASH_LEN) == 0,
		   "\"dt\" round-trips");
		bfs_tree_part_free(p);
	}
	b.len = 0;
	te = te_file("plain", 0, NULL, 0);
	is_int(bfs_tree_line(&b, &te, &err), 0, "file line without");
	memset(&got, 0, sizeof(got));
	is_int(parse_all(&b, &got, &err), 1, "parses");
	ok(got.dt == NULL, "no \"dt\": NULL");
	free(got.e.path);
	b.len = 0;
	te = (struct bfs_tree_entry){.e = tl_entry("d", BFS_T_DIR)};
	te.dt = dt;
	is_int(bfs_tree_line(&b, &te, &err), -EINVAL,
	       "\"dt\" on a directory is not written");
	bfs_buf_free(&b);
	rejects("{\"n\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":1,"
		"\"tree\":[],\"count\":0,\"dt\":\"" H64 "\"}\n",
		"\"dt\" on a directory");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":0,\"dt\":\"" H64 "\",\"h\":\"x\"}\n",
		"\"dt\" on a hardlink");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":0,\"dt\":\"AB" H64 "\"}\n",
		"\"dt\" of 66 characters");
	rejects("{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":1,"
		"\"s\":0,\"dt\":[\"" H64 "\"]}\n",
		"\"dt\" not a string");
	b = (struct bfs_buf){0};
	bfs_buf_append(&b,
		       "{\"n\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,"
		       "\"mt\":1,\"s\":0,\"zz\":{\"new\":1}}\n",
		       66);
	is_int(parse_all(&b, NULL, &err), 1,
	       "a key this reader does not know is ignored");
	bfs_buf_free(&b);
}

/* Parts of a directory of n generated lines, with line k changed. */
struct parts {
	uint8_t id[64][BFS_HASH_LEN];
	size_t n;
	size_t bytes;
};

static int part_cb(void *arg, const void *data, size_t len, struct bfs_err *err)
{
	struct parts *p = arg;

	(void)err;
	if (p->n == 64)
		return -E2BIG;
	bfs_sha256(p->id[p->n++], data, len);
	p->bytes += len;
	return 0;
}

static void cut(struct parts *p, int n, int changed)
{
	struct bfs_tree_cutter c;
	struct bfs_err err = {{0}};
	char line[200];

	memset(p, 0, sizeof(*p));
	bfs_tree_cutter_init(&c, part_cb, p);
	for (int i = 0; i < n; i++) {
		int len = snprintf(line, sizeof(line),
				   "{\"n\":\"file-%06d\",\"t\":\"f\",\"m\":420,"
				   "\"u\":0,\"g\":0,\"mt\":%d,\"s\":0}\n",
				   i, i == changed ? 42 : 1);
		bfs_tree_cutter_line(&c, line, (size_t)len, &err);
	}
	bfs_tree_cutter_end(&c, &err);
	bfs_tree_cutter_free(&c);
}

static void test_cutter(void)
{
	struct parts a, b, c;
	size_t same = 0;

	cut(&a, 20000, -1);
	cut(&b, 20000, -1);
	ok(a.n > 4 && a.n < 64, "20000 lines cut into %zu parts", a.n);
	ok(a.n == b.n && !memcmp(a.id, b.id, a.n * BFS_HASH_LEN),
	   "the same directory gives the same parts");
	cut(&c, 20000, 10000);
	for (size_t i = 0; i < c.n; i++)
		for (size_t j = 0; j < a.n; j++)
			if (!memcmp(c.id[i], a.id[j], BFS_HASH_LEN)) {
				same++;
				break;
			}
	ok(c.n - same <= 2, "one changed line changes %zu of %zu parts",
	   c.n - same, c.n);
}

static void test_lists(void)
{
	struct bfs_blobref refs[5], *back = NULL;
	struct bfs_buf b = {0};
	struct bfs_err err = {{0}};
	size_t n = 0;

	for (int i = 0; i < 5; i++) {
		memset(refs[i].hash, i + 1, BFS_HASH_LEN);
		refs[i].len = 1000 * (i + 1);
	}
	is_int(bfs_tree_list_encode(&b, refs, 5), 0, "list blob encoded");
	is_int(bfs_tree_list_parse(b.data, b.len, &back, &n, &err), 0,
	       "list blob parsed");
	ok(n == 5 && back && !memcmp(back, refs, sizeof(refs)),
	   "list blob round trip");
	free(back);
	is_int(bfs_tree_list_parse("[[\"zz\",1]]", 10, &back, &n, &err),
	       -EUCLEAN, "bad id in a list blob (%s)", err.msg);
	bfs_buf_free(&b);
}

static void test_manifest(void)
{
	struct bfs_manifest_header h = {0};
	char *tags[] = {"daily", NULL};
	uint8_t root[2][BFS_HASH_LEN];
	struct bfs_manifest2 m;
	struct bfs_buf b = {0};
	struct bfs_err err = {{0}};

	memset(root[0], 0x01, BFS_HASH_LEN);
	memset(root[1], 0x02, BFS_HASH_LEN);
	h.id = "2026-11-25_12-00-00";
	h.time_ns = 1764072000000000000ll;
	h.host = "box";
	h.tags = tags;
	h.sources_json = "[{\"kind\":\"files\"}]";
	h.stats.entries = 9;
	is_int(bfs_manifest2_encode(
		   &b, &h, (const uint8_t(*)[BFS_HASH_LEN])root, 2, 9, &err),
	       0, "manifest 2 encoded");
	is_int(bfs_manifest2_parse(b.data, b.len, &m, &err), 0,
	       "manifest 2 parsed (%s)", err.msg);
	ok(m.nroot == 2 && !memcmp(m.root[1], root[1], BFS_HASH_LEN),
	   "root parts back");
	is_int((int)m.count, 9, "count back");
	is_str(m.h.id, h.id, "id back");
	is_str(m.h.tags[0], "daily", "tag back");
	ok(m.header_line && strstr(m.header_line, "\"version\":2"),
	   "header line kept, version 2");
	bfs_manifest2_clear(&m);
	is_int(bfs_manifest2_parse(b.data, b.len - 3, &m, &err), -EUCLEAN,
	       "truncated manifest (%s)", err.msg);
	bfs_buf_free(&b);
}

struct idxcount {
	size_t packs, blobs;
	uint8_t first[BFS_HASH_LEN];
};

static int idx_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		  const struct bfs_idx_blob *blobs, size_t n)
{
	struct idxcount *c = arg;

	if (!c->packs++)
		memcpy(c->first, pack, BFS_HASH_LEN);
	c->blobs += n;
	return blobs[0].type == BFS_BLOB_TREE ? 0 : -EINVAL;
}

static void test_idxobj(void)
{
	struct bfs_idxobj_writer *w;
	struct bfs_idx_blob bl[2] = {
	    {.type = BFS_BLOB_TREE, .offset = 8, .clen = 10, .len = 30},
	    {.type = BFS_BLOB_DATA, .offset = 18, .clen = 5, .len = 5}};
	uint8_t pack[BFS_HASH_LEN], name[BFS_HASH_LEN], sum[BFS_HASH_LEN];
	struct idxcount c = {0};
	struct bfs_buf b = {0};
	struct bfs_err err = {{0}};

	memset(pack, 0x5a, sizeof(pack));
	memset(bl[0].hash, 1, BFS_HASH_LEN);
	memset(bl[1].hash, 2, BFS_HASH_LEN);
	bfs_idxobj_writer_new(&w);
	is_int(bfs_idxobj_writer_pack(w, pack, bl, 2), 0, "pack line");
	is_int(bfs_idxobj_writer_finish(w, &b, name, &err), 0, "finished");
	bfs_sha256(sum, b.data, b.len);
	ok(!memcmp(sum, name, BFS_HASH_LEN), "named by its hash");
	is_int(bfs_idxobj_parse(b.data, b.len, idx_cb, &c, &err), 0,
	       "parsed (%s)", err.msg);
	ok(c.packs == 1 && c.blobs == 2 && !memcmp(c.first, pack, 32),
	   "one pack, two blobs back");
	bfs_idxobj_writer_free(w);
	bfs_buf_free(&b);

	/* blobs that do not tile the pack */
	bl[1].offset = 20;
	bfs_idxobj_writer_new(&w);
	bfs_idxobj_writer_pack(w, pack, bl, 2);
	bfs_idxobj_writer_finish(w, &b, name, &err);
	c.packs = 0;
	is_int(bfs_idxobj_parse(b.data, b.len, idx_cb, &c, &err), -EUCLEAN,
	       "a gap between blobs (%s)", err.msg);
	bfs_idxobj_writer_free(w);
	bfs_buf_free(&b);
}

/* Every known-bad input of tests/corpus/tree-bad (first byte: 0 tree
 * part, 1 list, 2 manifest, 3 index object, as fuzz-tree.c) is refused. */
static int no_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		 const struct bfs_idx_blob *b, size_t n)
{
	(void)arg;
	(void)pack;
	(void)b;
	(void)n;
	return 0;
}

static void test_corpus(void)
{
	const char *top = getenv("top_srcdir");
	char dir[4096], path[8192];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/corpus/tree-bad", top ? top : ".");
	d = opendir(dir);
	if (!ok(d != NULL, "corpus %s", dir))
		return;
	while ((de = readdir(d))) {
		struct bfs_buf b = {0};
		struct bfs_err err = {{0}};
		struct bfs_manifest2 m;
		struct bfs_blobref *refs = NULL;
		size_t n = 0;
		int rc = 0;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (tl_read_file(path, &b) < 1)
			continue;
		switch (b.data[0] & 3) {
		case 0: {
			struct bfs_buf t = {0};

			bfs_buf_append(&t, b.data + 1, b.len - 1);
			rc = parse_all(&t, NULL, &err) < 0 ? -EUCLEAN : 0;
			bfs_buf_free(&t);
			break;
		}
		case 1:
			rc = bfs_tree_list_parse(b.data + 1, b.len - 1, &refs,
						 &n, &err);
			free(refs);
			break;
		case 2:
			rc = bfs_manifest2_parse(b.data + 1, b.len - 1, &m,
						 &err);
			if (rc == 0)
				bfs_manifest2_clear(&m);
			if (rc) /* also as a compressed manifest */
			{
				struct bfs_buf z = {0};

				bfs_zstd_compress(&z, b.data + 1, b.len - 1, 1,
						  NULL);
				rc = bfs_manifest2_parse(z.data, z.len, &m,
							 &err);
				if (rc == 0)
					bfs_manifest2_clear(&m);
				bfs_buf_free(&z);
			}
			break;
		default:
			rc = bfs_idxobj_parse(b.data + 1, b.len - 1, no_cb,
					      NULL, &err);
		}
		ok(rc < 0, "corpus: %s refused (%s)", de->d_name, err.msg);
		bfs_buf_free(&b);
	}
	closedir(d);
}

int main(void)
{
	test_lines();
	test_hostile();
	test_skip();
	test_dt();
	test_sk();
	test_sa();
	test_cutter();
	test_lists();
	test_manifest();
	test_idxobj();
	test_corpus();
	return tap_done();
}
