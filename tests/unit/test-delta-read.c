/* test-delta-read.c - the readers of type-2 (delta) blobs, with delta
 * frames built by hand (bfs_delta_encode): index objects carry the base
 * as sixth element (written, parsed, hostile lines refused), packs
 * accept type 2, the locmap records the base, bfs_repo_read_chunk and
 * bfs_repo_read_chunks decode a delta through its base (located by the
 * locmap, cached), and a base that cannot be located, is damaged or is
 * itself a delta fails with a message naming it, never other bytes;
 * check --read-data decodes a delta whose base another index object
 * names, and reports one whose base is missing, naming the base.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "delta.h"
#include "locmap.h"
#include "pack.h"
#include "repo.h"
#include "sha256mb.h"
#include "tap.h"
#include "testlib.h"
#include "tree.h"

#define CHUNK 40000

static uint8_t base_plain[CHUNK], delta_plain[CHUNK];
static uint8_t base_id[BFS_HASH_LEN], delta_id[BFS_HASH_LEN];
static char base_hex[BFS_HASH_HEX + 1];

struct cap {
	struct bfs_idx_blob b[4];
	size_t n;
};

static int cap_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		  const struct bfs_idx_blob *blobs, size_t n)
{
	struct cap *c = arg;

	(void)pack;
	for (size_t i = 0; i < n && c->n < 4; i++)
		c->b[c->n++] = blobs[i];
	return 0;
}

/* An index object of one line, text given; parse result. */
static int parse_line(const char *text, struct cap *c, struct bfs_err *err)
{
	struct bfs_buf z = {0};
	int rc;

	memset(c, 0, sizeof(*c));
	rc = bfs_zstd_compress(&z, text, strlen(text), 3, err);
	if (!rc)
		rc = bfs_idxobj_parse(z.data, z.len, cap_cb, c, err);
	bfs_buf_free(&z);
	return rc;
}

/* A pack of the base (whole) then the delta, when whole_base; else of
 * the delta alone.  Its index object is put too.  *pack the pack id. */
static int put_pack(struct bfs_repo *r, bool with_base, const uint8_t *dbase,
		    uint8_t pack[BFS_HASH_LEN])
{
	struct bfs_pack_builder *pb = bfs_pack_builder_new();
	struct bfs_idxobj_writer *w = NULL;
	struct bfs_buf f = {0}, out = {0}, idx = {0};
	struct bfs_idx_blob ib[2];
	struct bfs_err err = {{0}};
	uint8_t name[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	size_t n;
	int rc = 0;

	if (with_base) {
		rc = bfs_zstd_compress(&f, base_plain, CHUNK, 3, &err);
		if (!rc)
			rc = bfs_pack_builder_add(pb, base_id, f.data,
						  (uint32_t)f.len, CHUNK, NULL);
	}
	f.len = 0;
	if (!rc)
		rc = bfs_delta_encode(&f, dbase, base_plain, CHUNK, delta_plain,
				      CHUNK, 3, &err);
	if (!rc)
		rc = bfs_pack_builder_add_typed(pb, delta_id, BFS_BLOB_DELTA,
						f.data, (uint32_t)f.len, CHUNK,
						NULL);
	n = bfs_pack_builder_count(pb);
	if (!rc)
		rc = bfs_pack_builder_finish(pb, &out, pack);
	if (!rc) {
		bfs_idx_blobs_from_pack(ib, bfs_pack_builder_entries(pb), n,
					bfs_pack_builder_bases(pb));
		bfs_repo_pack_key(key, pack);
		rc = bfs_store_put(r->store, key, out.data, out.len, 0, &err);
	}
	if (!rc)
		rc = bfs_idxobj_writer_new(&w);
	if (!rc)
		rc = bfs_idxobj_writer_pack(w, pack, ib, n);
	if (!rc)
		rc = bfs_idxobj_writer_finish(w, &idx, name, &err);
	if (!rc) {
		bfs_locmap_index_key(key, name);
		rc = bfs_store_put(r->store, key, idx.data, idx.len, 0, &err);
	}
	if (rc)
		diag("put_pack: %d %s", rc, err.msg);
	bfs_idxobj_writer_free(w);
	bfs_pack_builder_free(pb);
	bfs_buf_free(&f);
	bfs_buf_free(&out);
	bfs_buf_free(&idx);
	return rc;
}

static void test_index_lines(void)
{
	char text[600], dh[BFS_HASH_HEX + 1];
	struct bfs_err err = {{0}};
	struct cap c;

	bfs_hex(dh, delta_id, BFS_HASH_LEN);
	snprintf(text, sizeof(text),
		 "{\"pack\":\"%s\",\"blobs\":[[\"%s\",0,8,100,200],"
		 "[\"%s\",2,108,50,200,\"%s\"]]}\n",
		 dh, base_hex, dh, base_hex);
	ok(parse_line(text, &c, &err) == 0 && c.n == 2, "type 2 line parses");
	ok(c.b[1].type == BFS_BLOB_DELTA && c.b[1].bases.n == 1 &&
	       !memcmp(c.b[1].bases.id[0], base_id, BFS_HASH_LEN),
	   "sixth element is the base");

	snprintf(text, sizeof(text),
		 "{\"pack\":\"%s\",\"blobs\":[[\"%s\",2,8,50,200]]}\n", dh, dh);
	ok(parse_line(text, &c, &err) == -EUCLEAN, "type 2 without a base");
	snprintf(text, sizeof(text),
		 "{\"pack\":\"%s\",\"blobs\":[[\"%s\",2,8,50,200,\"%s\"]]}\n",
		 dh, dh, dh);
	ok(parse_line(text, &c, &err) == -EUCLEAN, "a delta of itself");
	snprintf(text, sizeof(text),
		 "{\"pack\":\"%s\",\"blobs\":[[\"%s\",0,8,50,200,\"%s\"]]}\n",
		 dh, dh, base_hex);
	ok(parse_line(text, &c, &err) == -EUCLEAN, "six elements on type 0");
	snprintf(text, sizeof(text),
		 "{\"pack\":\"%s\",\"blobs\":[[\"%s\",2,8,20,200,\"%s\"]]}\n",
		 dh, dh, base_hex);
	ok(parse_line(text, &c, &err) == -EUCLEAN,
	   "type 2 too short for a base id");
	snprintf(text, sizeof(text),
		 "{\"pack\":\"%s\",\"blobs\":[[\"%s\",3,8,50,200]]}\n", dh, dh);
	ok(parse_line(text, &c, &err) == -EUCLEAN,
	   "type 3 without its bases refused");
}

/* Read the delta through r (a new repository handle over dir) with a
 * locmap; 0 and the bytes compared, or the error in err. */
static int read_delta(const char *dir, bool locate, struct bfs_err *err)
{
	struct bfs_locmap *m = NULL;
	struct bfs_repo *r = NULL;
	struct bfs_loc loc;
	uint8_t *out = malloc(CHUNK);
	int rc;

	rc = bfs_repo_open(dir, NULL, &r, err);
	if (!rc)
		rc = bfs_locmap_new(&m, err);
	if (!rc)
		rc = bfs_locmap_load(m, r, err);
	if (!rc && locate)
		rc = bfs_repo_set_locate(r, bfs_locmap_locate, m, NULL, err);
	if (!rc)
		rc = bfs_locmap_find(m, delta_id, &loc);
	if (!rc)
		rc = bfs_repo_read_chunk(r, &loc.ref, out, err);
	if (!rc && memcmp(out, delta_plain, CHUNK))
		rc = bfs_err_set(err, -EBADMSG, "other bytes");
	free(out);
	bfs_repo_close(r);
	bfs_locmap_free(m);
	return rc;
}

static void test_read(const char *tmp)
{
	struct bfs_err err = {{0}};
	const char *dir = tl_path(tmp, "r1");
	struct bfs_repo *r = NULL;
	struct bfs_locmap *m = NULL;
	struct bfs_chunkref refs[2];
	struct bfs_loc loc;
	uint8_t pack[BFS_HASH_LEN], got[BFS_HASH_LEN];
	uint8_t *outs[2] = {malloc(CHUNK), malloc(CHUNK)};
	struct bfs_buf pk = {0};
	char key[BFS_KEY_MAX], path[600];
	int rc;

	ok(tl_make_repo(tmp, "r1", &r) == 0, "repository");
	ok(put_pack(r, true, base_id, pack) == 0, "pack with base and delta");
	ok(bfs_locmap_new(&m, &err) == 0 && bfs_locmap_load(m, r, &err) == 0,
	   "locmap loads the type-2 line");
	ok(bfs_locmap_find(m, delta_id, &loc) == 0 &&
	       loc.type == BFS_BLOB_DELTA,
	   "delta located as type 2");
	ok(bfs_locmap_base(m, delta_id, got) == 0 &&
	       !memcmp(got, base_id, BFS_HASH_LEN),
	   "locmap records the base");
	ok(bfs_locmap_base(m, base_id, got) == -ENOENT, "a whole blob: none");

	/* the pack index accepts type 2 */
	bfs_repo_pack_key(key, pack);
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	ok(tl_read_file(path, &pk) > 0, "pack read");
	{
		struct bfs_pack_entry *e = NULL;
		size_t n = 0;

		ok(bfs_pack_parse_index(pk.data, pk.len, &e, &n, &err) == 0 &&
		       n == 2 && e[1].type == BFS_BLOB_DELTA,
		   "pack index with a type-2 entry parses");
		free(e);
	}

	rc = bfs_repo_read_chunk(r, &loc.ref, outs[0], &err);
	ok(rc != 0 && strstr(err.msg, base_hex),
	   "no locate: the error names the base");
	diag("%s", err.msg);
	err.msg[0] = 0;
	ok(bfs_repo_set_locate(r, bfs_locmap_locate, m, NULL, &err) == 0,
	   "locate set");
	rc = bfs_repo_read_chunk(r, &loc.ref, outs[0], &err);
	ok(rc == 0 && !memcmp(outs[0], delta_plain, CHUNK),
	   "delta reads back its bytes");
	if (rc)
		diag("%s", err.msg);
	refs[0] = loc.ref;
	bfs_locmap_find(m, base_id, &loc);
	refs[1] = loc.ref;
	memset(outs[0], 0, CHUNK);
	rc = bfs_repo_read_chunks(r, refs, 2, outs, &err);
	ok(rc == 0 && !memcmp(outs[0], delta_plain, CHUNK) &&
	       !memcmp(outs[1], base_plain, CHUNK),
	   "read_chunks: delta and base in one run");
	/* decode of an already fetched frame: the one decoder */
	ok(bfs_repo_decode(r, &refs[0], pk.data + refs[0].offset, outs[0],
			   &err) == 0 &&
	       !memcmp(outs[0], delta_plain, CHUNK),
	   "bfs_repo_decode decodes a delta frame");

	/* a damaged base: a byte of its frame flipped on disk */
	pk.data[refs[1].offset + refs[1].clen / 2] ^= 0x55;
	ok(tl_write_file(path, pk.data, pk.len) == 0, "base damaged");
	ok(read_delta(dir, true, &err) != 0 && strstr(err.msg, base_hex),
	   "damaged base: error names the base");
	diag("%s", err.msg);
	bfs_repo_set_locate(r, NULL, NULL, NULL, NULL);
	bfs_locmap_free(m);
	bfs_repo_close(r);
	bfs_buf_free(&pk);
	free(outs[0]);
	free(outs[1]);
}

/* Where chunk ids are checked on the lanes (sha256mb.h; forced in test
 * builds by main), a run of three or more chunks is decoded first and
 * checked at once.  A delta whose base is damaged, its base read
 * unchecked (by output, as the mount and cat read), decodes to other
 * bytes there: the run must fail naming the base, as a lone read does,
 * and never hand out the bytes. */
static void test_read_lanes(const char *tmp)
{
	struct bfs_err err = {{0}};
	const char *dir = tl_path(tmp, "rlanes");
	struct bfs_repo *r = NULL;
	struct bfs_locmap *m = NULL;
	struct bfs_chunkref refs[3];
	struct bfs_loc loc;
	struct bfs_buf pk = {0};
	uint8_t pack[BFS_HASH_LEN], *outs[3];
	char key[BFS_KEY_MAX], path[600];
	int rc, i, pass;

	if (!bfs_sha256_many_isa()) {
		skip(3, "chunk ids are not checked on lanes here (no AVX2, "
			"or not a test build)");
		return;
	}
	for (i = 0; i < 3; i++)
		outs[i] = calloc(1, CHUNK);
	ok(tl_make_repo(tmp, "rlanes", &r) == 0 &&
	       put_pack(r, true, base_id, pack) == 0,
	   "repository with a base and a delta");
	bfs_repo_pack_key(key, pack);
	snprintf(path, sizeof(path), "%s/%s", dir, key);
	bfs_repo_close(r);
	r = NULL;
	for (pass = 0; pass < 2; pass++) {
		/* pass 1: the base damaged on disk (a fresh handle: no base
		 * cached) */
		rc = bfs_repo_open(dir, NULL, &r, &err);
		if (!rc)
			rc = bfs_locmap_new(&m, &err);
		if (!rc)
			rc = bfs_locmap_load(m, r, &err);
		if (!rc)
			rc = bfs_repo_set_locate(r, bfs_locmap_locate, m, NULL,
						 &err);
		if (!rc) {
			bfs_repo_set_bases_by_output(r, true);
			rc = bfs_locmap_find(m, delta_id, &loc);
		}
		/* the delta three times: a file may hold a chunk again */
		for (i = 0; i < 3; i++) {
			refs[i] = loc.ref;
			memset(outs[i], 0, CHUNK);
		}
		err.msg[0] = 0;
		if (!rc)
			rc = bfs_repo_read_chunks(r, refs, 3, outs, &err);
		if (pass == 0) {
			ok(rc == 0 && !memcmp(outs[0], delta_plain, CHUNK) &&
			       !memcmp(outs[2], delta_plain, CHUNK),
			   "a run of three deltas, checked on the lanes: "
			   "its bytes");
		} else {
			ok(rc != 0 && strstr(err.msg, base_hex) &&
			       strstr(err.msg, "delta base"),
			   "the base damaged: the run fails naming the base");
			diag("%s", err.msg);
		}
		bfs_repo_set_locate(r, NULL, NULL, NULL, NULL);
		bfs_locmap_free(m);
		m = NULL;
		bfs_repo_close(r);
		r = NULL;
		if (pass == 0) {
			pk.len = 0;
			rc = tl_read_file(path, &pk) > 0 ? 0 : -1;
			/* the base is the pack's first frame */
			if (!rc)
				pk.data[BFS_PACK_HEADER + 100] ^= 0x55;
			if (!rc)
				rc = tl_write_file(path, pk.data, pk.len);
			if (rc)
				diag("cannot damage the base in %s", path);
		}
	}
	bfs_buf_free(&pk);
	for (i = 0; i < 3; i++)
		free(outs[i]);
}

static void test_missing_base(const char *tmp)
{
	struct bfs_err err = {{0}};
	struct bfs_repo *r = NULL;
	uint8_t pack[BFS_HASH_LEN];

	ok(tl_make_repo(tmp, "r2", &r) == 0, "repository 2");
	ok(put_pack(r, false, base_id, pack) == 0, "delta without its base");
	bfs_repo_close(r);
	ok(read_delta(tl_path(tmp, "r2"), true, &err) == -ENOENT &&
	       strstr(err.msg, base_hex),
	   "missing base: -ENOENT naming the base");
	diag("%s", err.msg);
	ok(read_delta(tl_path(tmp, "r2"), false, &err) != 0 &&
	       strstr(err.msg, base_hex),
	   "no locator: error naming the base");
}

static void test_base_is_delta(const char *tmp)
{
	struct bfs_err err = {{0}};
	struct bfs_repo *r = NULL;
	uint8_t pack[BFS_HASH_LEN], other[BFS_HASH_LEN];
	uint8_t save[BFS_HASH_LEN];

	/* r3: blob "delta" stored as a delta of base; then a second delta
	 * (same id, so the locmap keeps the first) would be a no-op: make
	 * the base itself a delta frame instead (depth 2, refused). */
	ok(tl_make_repo(tmp, "r3", &r) == 0, "repository 3");
	memcpy(save, delta_id, BFS_HASH_LEN);
	memset(other, 7, BFS_HASH_LEN);
	/* blob base_id stored as a delta of other */
	memcpy(delta_id, base_id, BFS_HASH_LEN);
	{
		uint8_t keep[CHUNK];

		memcpy(keep, delta_plain, CHUNK);
		memcpy(delta_plain, base_plain, CHUNK);
		ok(put_pack(r, false, other, pack) == 0, "base as a delta");
		memcpy(delta_plain, keep, CHUNK);
	}
	memcpy(delta_id, save, BFS_HASH_LEN);
	ok(put_pack(r, false, base_id, pack) == 0, "delta of it");
	bfs_repo_close(r);
	ok(read_delta(tl_path(tmp, "r3"), true, &err) == -EUCLEAN &&
	       strstr(err.msg, base_hex) && strstr(err.msg, "delta base"),
	   "depth 2 refused naming the base");
	diag("%s", err.msg);
}

/* A pack of the base alone (and its index object). */
static int put_base(struct bfs_repo *r)
{
	struct bfs_pack_builder *pb = bfs_pack_builder_new();
	struct bfs_idxobj_writer *w = NULL;
	struct bfs_buf f = {0}, out = {0}, idx = {0};
	struct bfs_idx_blob ib[1];
	struct bfs_err err = {{0}};
	uint8_t pack[BFS_HASH_LEN], name[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	int rc;

	rc = bfs_zstd_compress(&f, base_plain, CHUNK, 3, &err);
	if (!rc)
		rc = bfs_pack_builder_add(pb, base_id, f.data, (uint32_t)f.len,
					  CHUNK, NULL);
	if (!rc)
		rc = bfs_pack_builder_finish(pb, &out, pack);
	if (!rc) {
		bfs_idx_blobs_from_pack(ib, bfs_pack_builder_entries(pb), 1,
					bfs_pack_builder_bases(pb));
		bfs_repo_pack_key(key, pack);
		rc = bfs_store_put(r->store, key, out.data, out.len, 0, &err);
	}
	if (!rc)
		rc = bfs_idxobj_writer_new(&w);
	if (!rc)
		rc = bfs_idxobj_writer_pack(w, pack, ib, 1);
	if (!rc)
		rc = bfs_idxobj_writer_finish(w, &idx, name, &err);
	if (!rc) {
		bfs_locmap_index_key(key, name);
		rc = bfs_store_put(r->store, key, idx.data, idx.len, 0, &err);
	}
	bfs_idxobj_writer_free(w);
	bfs_pack_builder_free(pb);
	bfs_buf_free(&f);
	bfs_buf_free(&out);
	bfs_buf_free(&idx);
	return rc;
}

/* Problems of kind "blob" in a --read-data check of r; *named set when
 * one names the delta and mentions the base. */
static int blob_problems(struct bfs_repo *r, bool *named)
{
	struct bfs_check_opts o = {.read_data = true, .jobs = 2};
	struct bfs_check_report rep;
	struct bfs_err err = {{0}};
	char dh[BFS_HASH_HEX + 1];
	int n = 0;

	bfs_hex(dh, delta_id, BFS_HASH_LEN);
	*named = false;
	if (bfs_check(r, &o, &rep, &err)) {
		diag("check: %s", err.msg);
		return -1;
	}
	for (size_t i = 0; i < rep.nproblems; i++) {
		if (strcmp(rep.problems[i].kind, "blob"))
			continue;
		n++;
		diag("%s: %s", rep.problems[i].object, rep.problems[i].message);
		if (!strcmp(rep.problems[i].object, dh) &&
		    strstr(rep.problems[i].message, base_hex))
			*named = true;
	}
	ok(rep.blobs_read >= 1, "check read the blobs");
	bfs_check_report_clear(&rep);
	return n;
}

/* check --read-data: the delta (its base in another index object) reads
 * clean; with its base damaged, the delta is reported naming the base. */
static void test_check(const char *tmp)
{
	struct bfs_repo *r = NULL;
	uint8_t pack[BFS_HASH_LEN];
	bool named;

	ok(tl_make_repo(tmp, "r4", &r) == 0, "repository 4");
	ok(put_pack(r, false, base_id, pack) == 0 && put_base(r) == 0,
	   "delta and base in two packs and index objects");
	ok(blob_problems(r, &named) == 0, "check --read-data: no blob damaged");
	bfs_repo_close(r);
	ok(tl_make_repo(tmp, "r5", &r) == 0, "repository 5");
	ok(put_pack(r, false, base_id, pack) == 0, "delta alone");
	ok(blob_problems(r, &named) == 1 && named,
	   "check: a delta whose base is missing names the base");
	bfs_repo_close(r);
}

int main(void)
{
	const char *tmp;

	/* test builds: runs of chunks checked on the lanes (where the CPU
	 * has them), as on a CPU without SHA-NI; shorter runs, which the
	 * other cases read, are checked one by one as before */
	setenv("BACKUPFS_TEST_SHA256", "lanes", 1);
	tmp = tl_tmpdir("bfs-delta-read");
	if (!tmp)
		return tap_done();
	tl_fill(base_plain, CHUNK, 1);
	memcpy(delta_plain, base_plain, CHUNK);
	memset(delta_plain + 1000, 'x', 300); /* a few rows changed */
	memset(delta_plain + 30000, 'y', 50);
	bfs_sha256(base_id, base_plain, CHUNK);
	bfs_sha256(delta_id, delta_plain, CHUNK);
	bfs_hex(base_hex, base_id, BFS_HASH_LEN);

	test_index_lines();
	test_read(tmp);
	test_missing_base(tmp);
	test_base_is_delta(tmp);
	test_read_lanes(tmp);
	test_check(tmp);
	tl_rm_rf(tmp);
	return tap_done();
}
