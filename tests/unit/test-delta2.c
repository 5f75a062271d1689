/* test-delta2.c - type-3 blobs (delta frames on several bases, doc/
 * FORMAT.md 18.2) through the repository layer: bfs_repo_delta_encode_n
 * (plain and sealed), bfs_pack_builder_add_delta_n and the index object
 * line it leads to (the bases as an array; hostile lines refused), the
 * locmap's list of bases, bfs_repo_read_chunk / bfs_repo_read_whole /
 * bfs_repo_blob_decode of such a frame, and a second base that is
 * missing, damaged or itself a delta failing with a message naming that
 * base, never other bytes; check --read-data reporting a type-3 entry
 * whose bases disagree with its frame.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "check.h"
#include "delta.h"
#include "locmap.h"
#include "pack.h"
#include "repo.h"
#include "tap.h"
#include "testlib.h"
#include "tree.h"

#define CHUNK 40000

/* a and c whole; m: the first half of a, then the second half of c */
static uint8_t a_plain[CHUNK], c_plain[CHUNK], m_plain[CHUNK];

struct ids {
	uint8_t a[BFS_HASH_LEN], c[BFS_HASH_LEN], m[BFS_HASH_LEN];
	char a_hex[BFS_HASH_HEX + 1], c_hex[BFS_HASH_HEX + 1];
};

static void make_ids(struct bfs_repo *r, struct ids *x)
{
	bfs_repo_blob_id(r, x->a, a_plain, CHUNK);
	bfs_repo_blob_id(r, x->c, c_plain, CHUNK);
	bfs_repo_blob_id(r, x->m, m_plain, CHUNK);
	bfs_hex(x->a_hex, x->a, BFS_HASH_LEN);
	bfs_hex(x->c_hex, x->c, BFS_HASH_LEN);
}

/* put: swap the first two bases of a type-3 entry in the index object
 * (what a hostile or buggy writer might record) */
static bool swap_bases;

/* Put the packs built so far in pb and their index object. */
static int put(struct bfs_repo *r, struct bfs_pack_builder *pb,
	       uint8_t pack[BFS_HASH_LEN], struct bfs_err *err)
{
	struct bfs_idxobj_writer *w = NULL;
	struct bfs_buf out = {0}, idx = {0};
	struct bfs_idx_blob ib[4];
	uint8_t name[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	size_t n = bfs_pack_builder_count(pb);
	int rc;

	rc = bfs_pack_builder_finish(pb, &out, pack);
	if (!rc) {
		bfs_idx_blobs_from_pack(ib, bfs_pack_builder_entries(pb), n,
					bfs_pack_builder_bases(pb));
		bfs_repo_pack_key(key, pack);
		rc = bfs_store_put(r->store, key, out.data, out.len, 0, err);
	}
	for (size_t i = 0; swap_bases && i < n; i++) {
		uint8_t t[BFS_HASH_LEN];

		if (ib[i].type != BFS_BLOB_DELTA2)
			continue;
		memcpy(t, ib[i].bases.id[0], BFS_HASH_LEN);
		memcpy(ib[i].bases.id[0], ib[i].bases.id[1], BFS_HASH_LEN);
		memcpy(ib[i].bases.id[1], t, BFS_HASH_LEN);
	}
	if (!rc)
		rc = bfs_idxobj_writer_new(&w);
	if (!rc)
		rc = bfs_idxobj_writer_pack(w, pack, ib, n);
	if (!rc)
		rc = bfs_idxobj_writer_finish(w, &idx, name, err);
	if (!rc) {
		bfs_locmap_index_key(key, name);
		rc = bfs_store_put(r->store, key, idx.data, idx.len, 0, err);
	}
	bfs_idxobj_writer_free(w);
	bfs_buf_free(&out);
	bfs_buf_free(&idx);
	return rc;
}

/* Add blob id (plain bytes p) to pb whole. */
static int add_whole(struct bfs_repo *r, struct bfs_pack_builder *pb,
		     const uint8_t id[BFS_HASH_LEN], const uint8_t *p,
		     struct bfs_err *err)
{
	struct bfs_buf f = {0};
	int rc;

	rc = bfs_repo_blob_encode(r, id, p, CHUNK, &f, err);
	if (!rc)
		rc = bfs_pack_builder_add(pb, id, f.data, (uint32_t)f.len,
					  CHUNK, NULL);
	bfs_buf_free(&f);
	return rc;
}

/* Add m to pb as a frame on bases (ids b0, b1; plain bytes p0, p1). */
static int add_m(struct bfs_repo *r, struct bfs_pack_builder *pb,
		 const uint8_t *b0, const uint8_t *b1, const uint8_t *p0,
		 const uint8_t *p1, const uint8_t m[BFS_HASH_LEN], size_t *zlen,
		 struct bfs_err *err)
{
	uint8_t bid[2][BFS_HASH_LEN];
	const void *bp[2] = {p0, p1};
	size_t bl[2] = {CHUNK, CHUNK};
	struct bfs_buf f = {0};
	int rc;

	memcpy(bid[0], b0, BFS_HASH_LEN);
	memcpy(bid[1], b1, BFS_HASH_LEN);
	rc = bfs_repo_delta_encode_n(r, m, 2, bid, bp, bl, m_plain, CHUNK, &f,
				     zlen, err);
	if (!rc)
		rc = bfs_pack_builder_add_delta_n(
		    pb, m, 2, (const uint8_t(*)[BFS_HASH_LEN])bid, f.data,
		    (uint32_t)f.len, CHUNK, NULL);
	bfs_buf_free(&f);
	return rc;
}

/* Read blob id through a fresh handle of dir with a locmap: 0 when the
 * bytes are want's, else the error in err. */
static int read_blob(const char *dir, const struct bfs_store_opts *so,
		     const uint8_t id[BFS_HASH_LEN], const uint8_t *want,
		     struct bfs_err *err)
{
	struct bfs_locmap *lm = NULL;
	struct bfs_repo *r = NULL;
	struct bfs_loc loc;
	uint8_t *out = malloc(CHUNK);
	int rc;

	rc = bfs_repo_open(dir, so, &r, err);
	if (!rc)
		rc = bfs_locmap_new(&lm, err);
	if (!rc)
		rc = bfs_locmap_load(lm, r, err);
	if (!rc)
		rc = bfs_repo_set_locate(r, bfs_locmap_locate, lm, NULL, err);
	if (!rc)
		rc = bfs_locmap_find(lm, id, &loc);
	if (!rc)
		rc = bfs_repo_read_chunk(r, &loc.ref, out, err);
	if (!rc && memcmp(out, want, CHUNK))
		rc = bfs_err_set(err, -EBADMSG, "other bytes");
	free(out);
	bfs_repo_close(r);
	bfs_locmap_free(lm);
	return rc;
}

/* The whole round in a repository at dir (so: its password, or NULL). */
static void test_repo(const char *tmp, const char *name,
		      const struct bfs_store_opts *so)
{
	const char *dir = tl_path(tmp, name);
	struct bfs_pack_builder *pb = bfs_pack_builder_new();
	struct bfs_err err = {{0}};
	struct bfs_repo *r = NULL;
	struct bfs_locmap *lm = NULL;
	struct bfs_bases bs;
	struct bfs_loc loc, cl;
	struct bfs_buf pk = {0}, f = {0};
	struct ids x;
	uint8_t pack_ac[BFS_HASH_LEN], pack_m[BFS_HASH_LEN];
	uint8_t got[BFS_HASH_LEN], *out = malloc(CHUNK);
	char key[BFS_KEY_MAX], path[700];
	size_t zlen = 0;
	int rc;

	diag("-- %s repository", so ? "encrypted" : "plain");
	rc = bfs_repo_init(dir, so, &r, &err);
	is_int(rc, 0, "repository (%s)", err.msg);
	if (rc)
		goto out;
	make_ids(r, &x);
	if (so)
		bfs_pack_builder_set_key(pb, r->crypt);

	/* before format 5: refused */
	r->version = BFS_FORMAT_VERSION_TDELTA;
	is_int(add_m(r, pb, x.a, x.c, a_plain, c_plain, x.m, &zlen, &err),
	       -EINVAL, "a version-4 repository refuses two bases");
	r->version = BFS_FORMAT_VERSION_DELTA2;
	is_int(add_m(r, pb, x.a, x.m, a_plain, c_plain, x.m, &zlen, &err),
	       -EINVAL, "a blob on itself is refused");

	ok(add_whole(r, pb, x.a, a_plain, &err) == 0 &&
	       add_whole(r, pb, x.c, c_plain, &err) == 0 &&
	       put(r, pb, pack_ac, &err) == 0,
	   "pack of a and c, whole");
	rc = add_m(r, pb, x.a, x.c, a_plain, c_plain, x.m, &zlen, &err);
	is_int(rc, 0, "m on a and c (%s)", err.msg);
	ok(zlen > 0 && zlen < 2000, "its zstd part is small (%zu bytes)", zlen);
	is_int(put(r, pb, pack_m, &err), 0, "pack of m");

	/* the pack index says type 3 */
	bfs_repo_pack_key(key, pack_m);
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	ok(tl_read_file(path, &pk) > 0, "pack read");
	{
		struct bfs_pack_entry *e = NULL;
		size_t n = 0;

		rc = bfs_pack_parse_index_key(r->crypt, pk.data, pk.len, &e, &n,
					      &err);
		ok(rc == 0 && n == 1 && e[0].type == BFS_BLOB_DELTA2,
		   "pack index with a type-3 entry parses (%s)", err.msg);
		free(e);
	}

	ok(bfs_locmap_new(&lm, &err) == 0 && bfs_locmap_load(lm, r, &err) == 0,
	   "locmap loads the type-3 line (%s)", err.msg);
	ok(bfs_locmap_find(lm, x.m, &loc) == 0 && loc.type == BFS_BLOB_DELTA2,
	   "m located as type 3");
	ok(bfs_locmap_bases(lm, x.m, &bs) == 0 && bs.n == 2 &&
	       !memcmp(bs.id[0], x.a, 32) && !memcmp(bs.id[1], x.c, 32),
	   "locmap records both bases in order");
	ok(bfs_locmap_base(lm, x.m, got) == 0 && !memcmp(got, x.a, 32),
	   "bfs_locmap_base: the first");

	rc = bfs_repo_read_chunk(r, &loc.ref, out, &err);
	ok(rc != 0 && strstr(err.msg, x.a_hex),
	   "no locator: the error names a base");
	ok(bfs_repo_set_locate(r, bfs_locmap_locate, lm, NULL, &err) == 0,
	   "locate set");
	memset(out, 0, CHUNK);
	rc = bfs_repo_read_chunk(r, &loc.ref, out, &err);
	ok(rc == 0 && !memcmp(out, m_plain, CHUNK), "m reads back (%s)",
	   err.msg);
	memset(out, 0, CHUNK);
	ok(bfs_repo_blob_decode(r, x.m, pk.data + loc.ref.offset, loc.ref.clen,
				out, CHUNK, &err) == 0 &&
	       !memcmp(out, m_plain, CHUNK),
	   "bfs_repo_blob_decode decodes it");
	memset(got, 0, sizeof(got));
	is_int(bfs_repo_read_whole(r, &loc.ref, out, got, &err), 1,
	       "read_whole: 1 (a delta)");
	ok(!memcmp(got, x.a, 32), "... with the first base's id");
	bfs_locmap_find(lm, x.c, &cl);
	is_int(bfs_repo_read_whole(r, &cl.ref, out, got, &err), 0,
	       "read_whole of a whole base: 0");
	bfs_repo_set_locate(r, NULL, NULL, NULL, NULL);
	bfs_locmap_free(lm);
	lm = NULL;
	bfs_repo_close(r);
	r = NULL;

	/* the second base damaged on disk: an error naming it */
	bfs_repo_pack_key(key, pack_ac);
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	pk.len = 0;
	ok(tl_read_file(path, &pk) > 0, "pack of the bases read");
	pk.data[cl.ref.offset + cl.ref.clen / 2] ^= 0x55;
	ok(tl_write_file(path, pk.data, pk.len) == 0, "second base damaged");
	err.msg[0] = 0;
	rc = read_blob(dir, so, x.m, m_plain, &err);
	ok(rc != 0 && rc != -EBADMSG && strstr(err.msg, x.c_hex),
	   "damaged second base: an error naming it");
	diag("%s", err.msg);
	pk.data[cl.ref.offset + cl.ref.clen / 2] ^= 0x55;
	ok(tl_write_file(path, pk.data, pk.len) == 0, "repaired");
	ok(read_blob(dir, so, x.m, m_plain, &err) == 0, "m reads again");
	/* the second base gone: -ENOENT naming it */
	ok(unlink(path) == 0, "pack of the bases removed");
	rc = read_blob(dir, so, x.m, m_plain, &err);
	ok(rc != 0 && strstr(err.msg, x.a_hex),
	   "missing bases: an error naming the first (%d)", rc);
	diag("%s", err.msg);
out:
	bfs_buf_free(&pk);
	bfs_buf_free(&f);
	bfs_pack_builder_free(pb);
	bfs_repo_close(r);
	bfs_locmap_free(lm);
	free(out);
}

/* The second base is itself a type-3 delta (depth 2): refused, naming
 * it; the second base missing: -ENOENT naming it. */
static void test_bad_bases(const char *tmp)
{
	const char *dir = tl_path(tmp, "deep");
	struct bfs_pack_builder *pb = bfs_pack_builder_new();
	struct bfs_err err = {{0}};
	struct bfs_repo *r = NULL;
	uint8_t pack[BFS_HASH_LEN], other[BFS_HASH_LEN];
	struct ids x;
	size_t zlen;
	int rc;

	ok(tl_make_repo(tmp, "deep", &r) == 0, "repository (depth 2)");
	if (!r)
		goto out;
	make_ids(r, &x);
	memset(other, 0x42, sizeof(other));
	/* c stored as a two-base delta on a and "other" (never stored) */
	{
		uint8_t bid[2][BFS_HASH_LEN];
		const void *bp[2] = {a_plain, m_plain};
		size_t bl[2] = {CHUNK, CHUNK};
		struct bfs_buf f = {0};

		memcpy(bid[0], x.a, 32);
		memcpy(bid[1], other, 32);
		rc = bfs_repo_delta_encode_n(r, x.c, 2, bid, bp, bl, c_plain,
					     CHUNK, &f, &zlen, &err);
		if (!rc)
			rc = bfs_pack_builder_add_delta_n(
			    pb, x.c, 2, (const uint8_t(*)[BFS_HASH_LEN])bid,
			    f.data, (uint32_t)f.len, CHUNK, NULL);
		bfs_buf_free(&f);
		is_int(rc, 0, "c as a delta on a and a blob never stored");
	}
	ok(add_whole(r, pb, x.a, a_plain, &err) == 0 &&
	       add_m(r, pb, x.a, x.c, a_plain, c_plain, x.m, &zlen, &err) ==
		   0 &&
	       put(r, pb, pack, &err) == 0,
	   "a whole, m on a and c");
	bfs_repo_close(r);
	r = NULL;
	rc = read_blob(dir, NULL, x.m, m_plain, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, x.c_hex) &&
	       strstr(err.msg, "delta base"),
	   "a second base that is a delta: refused naming it");
	diag("%s", err.msg);
	bfs_hex(x.c_hex, other, BFS_HASH_LEN);
	rc = read_blob(dir, NULL, x.c, c_plain, &err);
	ok(rc == -ENOENT && strstr(err.msg, x.c_hex),
	   "a second base in no index object: -ENOENT naming it");
	diag("%s", err.msg);
out:
	bfs_pack_builder_free(pb);
	bfs_repo_close(r);
	(void)dir;
}

static int cap_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		  const struct bfs_idx_blob *blobs, size_t n)
{
	struct bfs_idx_blob *got = arg;

	(void)pack;
	if (n == 1)
		*got = blobs[0];
	return n == 1 ? 0 : -E2BIG;
}

/* An index object of one line whose one blob is a type-3 delta of
 * offset 8, clen, 1000 bytes, sixth element six (printf text with the
 * ids h[1..4]); the parse result, *got the blob. */
static int parse3(char h[5][BFS_HASH_HEX + 1], unsigned clen, const char *six,
		  struct bfs_idx_blob *got, struct bfs_err *err)
{
	char text[1200], sx[600];
	struct bfs_buf z = {0};
	int rc;

	snprintf(sx, sizeof(sx), six, h[1], h[2], h[3], h[4], h[0]);
	snprintf(text, sizeof(text),
		 "{\"pack\":\"%s\",\"blobs\":[[\"%s\",3,8,%u,1000,%s]]}\n",
		 h[4], h[0], clen, sx);
	memset(got, 0, sizeof(*got));
	rc = bfs_zstd_compress(&z, text, strlen(text), 3, err);
	if (!rc)
		rc = bfs_idxobj_parse(z.data, z.len, cap_cb, got, err);
	bfs_buf_free(&z);
	return rc;
}

/* Index object lines of type 3, written and hostile. */
static void test_lines(void)
{
	struct bfs_idx_blob ib[1], got;
	struct bfs_idxobj_writer *w = NULL;
	struct bfs_err err = {{0}};
	struct bfs_buf z = {0};
	uint8_t pack[32], name[32];
	char h[5][BFS_HASH_HEX + 1], text[600];

	for (int i = 0; i < 5; i++) {
		uint8_t id[32];

		memset(id, 0x10 + i, 32);
		bfs_hex(h[i], id, 32);
	}
	memset(pack, 9, 32);
	memset(ib, 0, sizeof(ib));
	memset(ib[0].hash, 0x10, 32);
	ib[0].type = BFS_BLOB_DELTA2;
	ib[0].offset = 8;
	ib[0].clen = 200;
	ib[0].len = 1000;
	ib[0].bases.n = 2;
	memset(ib[0].bases.id[0], 0x11, 32);
	memset(ib[0].bases.id[1], 0x12, 32);
	ok(bfs_idxobj_writer_new(&w) == 0 &&
	       bfs_idxobj_writer_pack(w, pack, ib, 1) == 0 &&
	       bfs_idxobj_writer_finish(w, &z, name, &err) == 0,
	   "a type-3 line written");
	{
		unsigned long long sz = ZSTD_getFrameContentSize(z.data, z.len);
		char *plain = sz < 100000 ? calloc(1, sz + 1) : NULL;

		ok(plain &&
		       bfs_zstd_decompress(plain, sz, z.data, z.len, &err) == 0,
		   "read back");
		snprintf(text, sizeof(text),
			 "[\"%s\",3,8,200,1000,[\"%s\",\"%s\"]]]}\n", h[0],
			 h[1], h[2]);
		ok(plain && strstr(plain, text),
		   "the bases are an array of hex ids, in order");
		free(plain);
	}
	ok(bfs_idxobj_parse(z.data, z.len, cap_cb, &got, &err) == 0 &&
	       got.type == BFS_BLOB_DELTA2 && got.bases.n == 2 &&
	       !memcmp(got.bases.id[1], ib[0].bases.id[1], 32),
	   "... and parse back to the same bases");
	bfs_idxobj_writer_free(w);
	bfs_buf_free(&z);

	is_int(parse3(h, 200, "[\"%s\",\"%s\"]", &got, &err), 0,
	       "two bases parse");
	is_int(parse3(h, 200, "[\"%s\",\"%s\",\"%s\",\"%s\"]", &got, &err), 0,
	       "four bases parse");
	ok(got.bases.n == 4 && got.bases.id[3][0] == 0x14, "... all four");
	is_int(parse3(h, 200, "[\"%s\"]", &got, &err), -EUCLEAN,
	       "one base in an array is refused");
	diag("%s", err.msg);
	is_int(parse3(h, 200, "\"%s\"", &got, &err), -EUCLEAN,
	       "a string (type-2 form) is refused");
	is_int(parse3(h, 200, "[]", &got, &err), -EUCLEAN,
	       "no base is refused");
	is_int(parse3(h, 200, "[\"%s\",\"%s\",\"%s\",\"%s\",\"%5$s\"]", &got,
		      &err),
	       -EUCLEAN, "five bases are refused");
	is_int(parse3(h, 200, "[\"%s\",\"%1$s\"]", &got, &err), -EUCLEAN,
	       "a base twice is refused");
	is_int(parse3(h, 200, "[\"%s\",\"%5$s\"]", &got, &err), -EUCLEAN,
	       "the blob as its own base is refused");
	is_int(parse3(h, 200, "[\"%s\",7]", &got, &err), -EUCLEAN,
	       "a number as base is refused");
	is_int(parse3(h, 200, "[\"%s\",\"%.60s\"]", &got, &err), -EUCLEAN,
	       "a short id is refused");
	is_int(parse3(h, 72, "[\"%s\",\"%s\"]", &got, &err), -EUCLEAN,
	       "a frame too short for its bases is refused");
	is_int(parse3(h, 73, "[\"%s\",\"%s\"]", &got, &err), 0,
	       "... one byte more is not");
}

/* Problems of kind "blob" of a --read-data check of r that name blob
 * id with why in the message; *all the blob problems. */
static int problems(struct bfs_repo *r, const uint8_t id[BFS_HASH_LEN],
		    const char *why, int *all)
{
	struct bfs_check_opts o = {.read_data = true, .jobs = 2};
	struct bfs_check_report rep;
	struct bfs_err err = {""};
	char h[BFS_HASH_HEX + 1];
	int n = 0;

	bfs_hex(h, id, BFS_HASH_LEN);
	*all = 0;
	if (bfs_check(r, &o, &rep, &err)) {
		diag("check: %s", err.msg);
		return -1;
	}
	for (size_t i = 0; i < rep.nproblems; i++) {
		if (strcmp(rep.problems[i].kind, "blob"))
			continue;
		(*all)++;
		diag("%s: %s", rep.problems[i].object, rep.problems[i].message);
		if (strstr(rep.problems[i].object, h) &&
		    strstr(rep.problems[i].message, why))
			n++;
	}
	bfs_check_report_clear(&rep);
	return n;
}

/* check --read-data: a type-3 blob whose index entry names its bases
 * in another order than its frame is reported; the same in the right
 * order is clean. */
static void test_check(const char *tmp)
{
	struct bfs_pack_builder *pb;
	struct bfs_err err = {""};
	struct bfs_repo *r = NULL;
	uint8_t pack[BFS_HASH_LEN];
	struct ids x;
	size_t zlen;
	int all;

	for (int swap = 0; swap < 2; swap++) {
		pb = bfs_pack_builder_new();
		ok(tl_make_repo(tmp, swap ? "ck-swap" : "ck", &r) == 0,
		   "check: repository (%s)", swap ? "bases swapped" : "sound");
		if (!r)
			break;
		make_ids(r, &x);
		ok(add_whole(r, pb, x.a, a_plain, &err) == 0 &&
		       add_whole(r, pb, x.c, c_plain, &err) == 0 &&
		       put(r, pb, pack, &err) == 0,
		   "check: a and c whole");
		swap_bases = swap;
		ok(add_m(r, pb, x.a, x.c, a_plain, c_plain, x.m, &zlen, &err) ==
			   0 &&
		       put(r, pb, pack, &err) == 0,
		   "check: m on a and c");
		swap_bases = false;
		if (swap) {
			is_int(problems(r, x.m, "not the index object's", &all),
			       1,
			       "check --read-data: bases out of order are "
			       "reported");
		} else {
			problems(r, x.m, "", &all);
			is_int(all, 0, "check --read-data: clean");
		}
		bfs_repo_close(r);
		r = NULL;
		bfs_pack_builder_free(pb);
	}
}

int main(void)
{
	const char *tmp = tl_tmpdir("bfs-delta2");
	struct bfs_store_opts so;
	char pw[600];

	if (!tmp)
		return tap_done();
	tl_fill(a_plain, CHUNK, 1);
	tl_fill(c_plain, CHUNK, 2);
	memcpy(m_plain, a_plain, CHUNK / 2);
	memcpy(m_plain + CHUNK / 2, c_plain + CHUNK / 2, CHUNK / 2);
	memset(m_plain + 100, 'x', 40); /* and a row changed */

	test_lines();
	test_repo(tmp, "plain", NULL);
	snprintf(pw, sizeof(pw), "%s", tl_path(tmp, "pw"));
	tl_write_file(pw, "secret-delta2\n", 14);
	memset(&so, 0, sizeof(so));
	so.password_file = pw;
	test_repo(tmp, "sealed", &so);
	test_bad_bases(tmp);
	test_check(tmp);
	tl_rm_rf(tmp);
	return tap_done();
}
