/* test-delta-output.c - delta bases read by output
 * (bfs_repo_set_bases_by_output, the read path's opt-in): a delta reads
 * back its bytes with its base unchecked; a base damaged before it is
 * read is caught through the delta's output and named, with the message
 * a verified read gives, and dropped from the cache (repaired, it reads
 * again); a base damaged on disk after the cache has it is served from
 * the cache; a damaged delta frame on a good base is named as the
 * damaged one; a base cached unchecked, damaged where the delta does not
 * look, is never handed to a caller that wants verified bases (opt-in
 * off: the error names it); read_chunks gives the same errors; and
 * several threads decoding deltas on more bases than the cache holds get
 * their bytes (entries evicted while a decode holds them: refcounts).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delta.h"
#include "locmap.h"
#include "pack.h"
#include "repo.h"
#include "tap.h"
#include "testlib.h"
#include "tree.h"

#define CHUNK 40000
#define NB 12 /* bases in the thread test: more than BFS_REPO_BASE_CACHE */
#define NTHREAD 4

struct blob {
	uint8_t id[BFS_HASH_LEN];
	uint8_t plain[CHUNK];
	struct bfs_buf frame;
	int type;
	uint64_t off; /* in its pack */
};

static struct blob base, d1, d2, bad;
static char base_hex[BFS_HASH_HEX + 1];

/* A pack of the frames of bl[0..n) and its index object; *key the
 * pack's key. */
static int put_pack(struct bfs_repo *r, struct blob **bl, size_t n,
		    char key[BFS_KEY_MAX])
{
	struct bfs_pack_builder *pb = bfs_pack_builder_new();
	struct bfs_idxobj_writer *w = NULL;
	struct bfs_buf out = {0}, idx = {0};
	struct bfs_idx_blob *ib = calloc(n, sizeof(*ib));
	struct bfs_err err = {{0}};
	uint8_t pack[BFS_HASH_LEN], name[BFS_HASH_LEN];
	char ikey[BFS_KEY_MAX];
	size_t i;
	int rc = ib ? 0 : -ENOMEM;

	for (i = 0; !rc && i < n; i++)
		rc = bfs_pack_builder_add_typed(
		    pb, bl[i]->id, bl[i]->type, bl[i]->frame.data,
		    (uint32_t)bl[i]->frame.len, CHUNK, &bl[i]->off);
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
		bfs_locmap_index_key(ikey, name);
		rc = bfs_store_put(r->store, ikey, idx.data, idx.len, 0, &err);
	}
	if (rc)
		diag("put_pack: %d %s", rc, err.msg);
	bfs_idxobj_writer_free(w);
	bfs_pack_builder_free(pb);
	bfs_buf_free(&out);
	bfs_buf_free(&idx);
	free(ib);
	return rc;
}

/* A whole blob of plain (random: zstd stores it as one raw block, so a
 * byte of the plain bytes is a byte of the frame, and a flipped one
 * still decodes, to other bytes). */
static int make_whole(struct blob *b)
{
	struct bfs_err err = {{0}};

	bfs_sha256(b->id, b->plain, CHUNK);
	b->type = BFS_BLOB_DATA;
	return bfs_zstd_compress(&b->frame, b->plain, CHUNK, 3, &err);
}

/* A delta blob of b->plain on base; id: of idplain (a frame that does
 * not decode to its id when idplain is not b->plain). */
static int make_delta(struct blob *b, const struct blob *on,
		      const uint8_t *idplain)
{
	struct bfs_err err = {{0}};

	bfs_sha256(b->id, idplain, CHUNK);
	b->type = BFS_BLOB_DELTA;
	return bfs_delta_encode(&b->frame, on->id, on->plain, CHUNK, b->plain,
				CHUNK, 3, &err);
}

struct handle {
	struct bfs_repo *r;
	struct bfs_locmap *m;
};

static int open_handle(const char *dir, bool by_output, struct handle *h)
{
	struct bfs_err err = {{0}};
	int rc;

	memset(h, 0, sizeof(*h));
	rc = bfs_repo_open(dir, NULL, &h->r, &err);
	if (!rc)
		rc = bfs_locmap_new(&h->m, &err);
	if (!rc)
		rc = bfs_locmap_load(h->m, h->r, &err);
	if (!rc)
		rc = bfs_repo_set_locate(h->r, bfs_locmap_locate, h->m, NULL,
					 &err);
	if (!rc)
		bfs_repo_set_bases_by_output(h->r, by_output);
	if (rc)
		diag("open_handle: %s", err.msg);
	return rc;
}

static void close_handle(struct handle *h)
{
	bfs_repo_close(h->r);
	bfs_locmap_free(h->m);
}

/* Read blob b through h: 0 with its bytes compared (-EBADMSG "other
 * bytes" when they differ), or the error in err. */
static int read_blob(struct handle *h, const struct blob *b,
		     struct bfs_err *err)
{
	uint8_t *out = malloc(CHUNK);
	struct bfs_loc loc;
	int rc;

	rc = out ? bfs_locmap_find(h->m, b->id, &loc) : -ENOMEM;
	if (!rc)
		rc = bfs_repo_read_chunk(h->r, &loc.ref, out, err);
	if (!rc && memcmp(out, b->plain, CHUNK))
		rc = bfs_err_set(err, -EBADMSG, "other bytes");
	free(out);
	return rc;
}

/* Flip (or flip back) plain byte at of whole blob b in its pack file. */
static int flip(const char *path, const struct blob *b, size_t at)
{
	struct bfs_buf pk = {0};
	size_t pos = b->off + (b->frame.len - CHUNK) + at;
	int rc = -EIO;

	if (tl_read_file(path, &pk) > 0 && pos < pk.len) {
		pk.data[pos] ^= 0x55;
		rc = tl_write_file(path, pk.data, pk.len);
	}
	bfs_buf_free(&pk);
	return rc;
}

static void test_damage(const char *tmp)
{
	const char *dir = tl_path(tmp, "r1");
	struct blob *bl[2] = {&base, NULL};
	struct bfs_err err = {{0}}, err2 = {{0}};
	char bkey[BFS_KEY_MAX], dkey[BFS_KEY_MAX], path[700], d1h[13];
	struct bfs_repo *r = NULL;
	struct handle h;
	int rc;

	bfs_hex(d1h, d1.id, 6);
	ok(tl_make_repo(tmp, "r1", &r) == 0, "repository");
	ok(put_pack(r, bl, 1, bkey) == 0, "pack of the base");
	bl[0] = &d1;
	bl[1] = &d2;
	ok(put_pack(r, bl, 2, dkey) == 0, "pack of two deltas on it");
	bfs_repo_close(r);
	snprintf(path, sizeof(path), "%s/%s", dir, bkey);

	/* good, then damaged on disk once cached: served from the cache */
	ok(open_handle(dir, true, &h) == 0, "a handle reading by output");
	rc = read_blob(&h, &d1, &err);
	ok(rc == 0, "a delta reads back its bytes (%s)", rc ? err.msg : "");
	ok(flip(path, &base, 5000) == 0, "the base damaged on disk");
	rc = read_blob(&h, &d2, &err);
	ok(rc == 0, "damaged after the cache had it: still its bytes (%s)",
	   rc ? err.msg : "");
	close_handle(&h);

	/* damaged before it is read: the output check catches it, and the
	 * message is the one a verified read gives */
	ok(open_handle(dir, false, &h) == 0, "a handle verifying bases");
	rc = read_blob(&h, &d1, &err2);
	ok(rc == -EUCLEAN && strstr(err2.msg, base_hex),
	   "verified bases: the error names the base");
	diag("%s", err2.msg);
	close_handle(&h);
	ok(open_handle(dir, true, &h) == 0, "a handle reading by output");
	rc = read_blob(&h, &d1, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, base_hex) &&
	       strstr(err.msg, "fails its checksum") && strstr(err.msg, d1h),
	   "by output: -EUCLEAN naming the delta and its base");
	diag("%s", err.msg);
	is_str(err.msg, err2.msg, "the same message as a verified read");
	{
		/* a readahead worker reads without a message */
		struct bfs_loc l1;
		uint8_t *out = malloc(CHUNK);

		bfs_locmap_find(h.m, d1.id, &l1);
		is_int(bfs_repo_read_chunk(h.r, &l1.ref, out, NULL), -EUCLEAN,
		       "the same without a message (err NULL)");
		free(out);
	}
	ok(flip(path, &base, 5000) == 0, "the base repaired");
	rc = read_blob(&h, &d1, &err);
	ok(rc == 0, "the damaged base was not kept in the cache (%s)",
	   rc ? err.msg : "");

	/* read_chunks gives the same error */
	ok(flip(path, &base, 2000) == 0, "the base damaged again");
	close_handle(&h);
	ok(open_handle(dir, true, &h) == 0, "a new handle reading by output");
	{
		struct bfs_loc l1, l2;
		struct bfs_chunkref refs[2];
		uint8_t *outs[2] = {malloc(CHUNK), malloc(CHUNK)};

		bfs_locmap_find(h.m, d1.id, &l1);
		bfs_locmap_find(h.m, d2.id, &l2);
		refs[0] = l1.ref;
		refs[1] = l2.ref;
		rc = bfs_repo_read_chunks(h.r, refs, 2, outs, &err);
		ok(rc == -EUCLEAN && strstr(err.msg, base_hex),
		   "read_chunks: the error names the base");
		free(outs[0]);
		free(outs[1]);
	}
	ok(flip(path, &base, 2000) == 0, "the base repaired");
	close_handle(&h);

	/* damaged where d2 does not look: by output d2 reads (its bytes
	 * are checked) and the base is cached unchecked; a caller that
	 * wants verified bases must not get it from the cache */
	ok(flip(path, &base, CHUNK - 100) == 0,
	   "the base damaged in its second half");
	ok(open_handle(dir, true, &h) == 0, "a handle reading by output");
	rc = read_blob(&h, &d2, &err);
	ok(rc == 0, "d2 (on the first half only) reads by output (%s)",
	   rc ? err.msg : "");
	bfs_repo_set_bases_by_output(h.r, false);
	rc = read_blob(&h, &d2, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, base_hex),
	   "opt-in off: the cached unchecked base is checked, and named");
	diag("%s", err.msg);
	ok(flip(path, &base, CHUNK - 100) == 0, "the base repaired");
	rc = read_blob(&h, &d2, &err);
	ok(rc == 0, "... and read again from disk, verified (%s)",
	   rc ? err.msg : "");
	close_handle(&h);
}

static void test_bad_frame(const char *tmp)
{
	const char *dir = tl_path(tmp, "r2");
	struct blob *bl[1] = {&base};
	struct bfs_err err = {{0}};
	char key[BFS_KEY_MAX], bh[13];
	struct bfs_repo *r = NULL;
	struct handle h;
	int rc, i;

	bfs_hex(bh, bad.id, 6);
	ok(tl_make_repo(tmp, "r2", &r) == 0, "repository 2");
	ok(put_pack(r, bl, 1, key) == 0, "pack of the base");
	bl[0] = &bad;
	ok(put_pack(r, bl, 1, key) == 0,
	   "pack of a delta frame that decodes to other bytes than its id's");
	bfs_repo_close(r);
	for (i = 0; i < 2; i++) {
		ok(open_handle(dir, i == 0, &h) == 0, "a handle (%s)",
		   i == 0 ? "by output" : "verified bases");
		rc = read_blob(&h, &bad, &err);
		ok(rc == -EBADMSG && strstr(err.msg, bh) &&
		       strstr(err.msg, "the frame is damaged") &&
		       !strstr(err.msg, base_hex),
		   "a damaged delta frame on a good base: -EBADMSG naming "
		   "the chunk and the frame");
		diag("%s", err.msg);
		close_handle(&h);
	}
}

static struct blob tb[NB], td[NB];

struct worker {
	struct handle *h;
	unsigned seed;
	int bad;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct bfs_err err = {{0}};
	size_t k;

	for (k = 0; k < 6 * NB; k++) {
		size_t i = (k * 7 + w->seed) % NB;

		if (read_blob(w->h, &td[i], &err)) {
			diag("thread %u: %s", w->seed, err.msg);
			w->bad++;
		}
	}
	return NULL;
}

static void test_threads(const char *tmp)
{
	const char *dir = tl_path(tmp, "r3");
	struct blob *bl[NB];
	struct worker w[NTHREAD];
	pthread_t t[NTHREAD];
	char key[BFS_KEY_MAX];
	struct bfs_repo *r = NULL;
	struct handle h;
	int i, j, nbad = 0;

	for (i = 0; i < NB; i++) {
		tl_fill(tb[i].plain, CHUNK, 100 + (uint64_t)i);
		make_whole(&tb[i]);
		memcpy(td[i].plain, tb[i].plain, CHUNK);
		memset(td[i].plain + 500 * i, 'z', 200);
		make_delta(&td[i], &tb[i], td[i].plain);
	}
	ok(tl_make_repo(tmp, "r3", &r) == 0, "repository 3");
	for (i = 0; i < NB; i++)
		bl[i] = &tb[i];
	ok(put_pack(r, bl, NB, key) == 0, "pack of %d bases", NB);
	for (i = 0; i < NB; i++)
		bl[i] = &td[i];
	ok(put_pack(r, bl, NB, key) == 0, "pack of %d deltas", NB);
	bfs_repo_close(r);
	for (j = 0; j < 2; j++) {
		ok(open_handle(dir, j == 0, &h) == 0, "a handle (%s)",
		   j == 0 ? "by output" : "verified bases");
		for (i = 0; i < NTHREAD; i++) {
			w[i] = (struct worker){.h = &h, .seed = (unsigned)i};
			pthread_create(&t[i], NULL, work, &w[i]);
		}
		for (i = 0; i < NTHREAD; i++) {
			pthread_join(t[i], NULL);
			nbad += w[i].bad;
		}
		ok(nbad == 0,
		   "%d threads decoding deltas on %d bases (cache "
		   "of %d): every read its bytes",
		   NTHREAD, NB, BFS_REPO_BASE_CACHE);
		close_handle(&h);
	}
	for (i = 0; i < NB; i++) {
		bfs_buf_free(&tb[i].frame);
		bfs_buf_free(&td[i].frame);
	}
}

int main(void)
{
	const char *tmp = tl_tmpdir("bfs-delta-output");

	if (!tmp)
		return tap_done();
	tl_fill(base.plain, CHUNK, 1);
	make_whole(&base);
	ok(base.frame.len > CHUNK && base.frame.len < CHUNK + 32,
	   "the base is one raw block (%zu bytes)", base.frame.len);
	bfs_hex(base_hex, base.id, BFS_HASH_LEN);
	/* d1: on all of the base; d2: its first half, then new bytes */
	memcpy(d1.plain, base.plain, CHUNK);
	memset(d1.plain + 1000, 'x', 300);
	memset(d1.plain + 30000, 'y', 50);
	memcpy(d2.plain, base.plain, CHUNK / 2);
	tl_fill(d2.plain + CHUNK / 2, CHUNK / 2, 2);
	ok(make_delta(&d1, &base, d1.plain) == 0 &&
	       make_delta(&d2, &base, d2.plain) == 0,
	   "two delta frames");
	/* bad: d1's bytes with one more changed, stored under the id of
	 * d1's bytes with yet another change (no other blob's id) */
	memcpy(bad.plain, d1.plain, CHUNK);
	bad.plain[20000] ^= 1;
	{
		uint8_t idp[CHUNK];

		memcpy(idp, bad.plain, CHUNK);
		idp[20001] ^= 1;
		ok(make_delta(&bad, &base, idp) == 0, "a damaged delta frame");
	}
	test_damage(tmp);
	test_bad_frame(tmp);
	test_threads(tmp);
	bfs_buf_free(&base.frame);
	bfs_buf_free(&d1.frame);
	bfs_buf_free(&d2.frame);
	bfs_buf_free(&bad.frame);
	tl_rm_rf(tmp);
	return tap_done();
}
