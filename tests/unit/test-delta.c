/* test-delta.c - resemblance sketches (the algorithm of doc/FORMAT.md
 * section 18, written again here from the text), similar and dissimilar
 * chunks, delta frames (encode, decode, damaged base, damaged frame),
 * frames on two to four bases (format 5: the head, the order of the
 * bases, damaged ones, the limits), the depth-1 rule of the base lookup,
 * a frame made by `zstd --patch-from` (tests/corpus/delta/good-delta)
 * decoding as a delta frame; anchors (the rule of FORMAT.md section 18
 * written again here), their "sa" record and the anchor blob check. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/chunker.h"
#include "src/delta.h"
#include "src/pack.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

/* ---- the reference, from doc/FORMAT.md section 18 ---- */

static uint64_t ref_mix(uint64_t *st)
{
	uint64_t z;

	*st += 0x9e3779b97f4a7c15ull;
	z = *st;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool ref_sketch(const uint8_t *p, size_t n, uint64_t sf[4])
{
	const uint64_t *gear = bfs_chunker_gear();
	uint64_t mul[12], add[12], f[12] = {0}, h = 0,
				   st = 0x6266732d736b7463ull;
	size_t i, samples = 0;

	for (i = 0; i < 12; i++) {
		mul[i] = ref_mix(&st) | 1;
		add[i] = ref_mix(&st);
	}
	for (i = 0; i < n; i++) {
		h = (h << 1) + gear[p[i]];
		if (i >= 63 && h >> 59 == 0) {
			samples++;
			for (int k = 0; k < 12; k++)
				if (mul[k] * h + add[k] > f[k])
					f[k] = mul[k] * h + add[k];
		}
	}
	if (samples < 16)
		return false;
	for (int j = 0; j < 4; j++) {
		st = f[3 * j];
		st = ref_mix(&st) ^ f[3 * j + 1];
		st = ref_mix(&st) ^ f[3 * j + 2];
		sf[j] = ref_mix(&st);
	}
	return true;
}

/* The anchors of p[0..n) as doc/FORMAT.md section 18 defines them. */
static unsigned ref_anchors(const uint8_t *p, size_t n, uint32_t *out,
			    unsigned max)
{
	const uint64_t *gear = bfs_chunker_gear();
	uint64_t h = 0;
	unsigned k = 0;

	for (size_t i = 0; i < n && k < max; i++) {
		h = (h << 1) + gear[p[i]];
		if (i >= 63 && h >> 51 == 0 && (uint32_t)(h >> 16) != 0)
			out[k++] = (uint32_t)(h >> 16);
	}
	return k;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Anchors of the same values in two sets (each set's repeats once). */
static unsigned shared(const struct bfs_anchors *a, const struct bfs_anchors *b)
{
	unsigned i, j, n = 0;

	for (i = 0; i < a->n; i++) {
		bool dup = false, in = false;

		for (j = 0; j < i; j++)
			dup |= a->v[j] == a->v[i];
		for (j = 0; j < b->n; j++)
			in |= b->v[j] == a->v[i];
		n += !dup && in;
	}
	return n;
}

static void test_anchors(const uint8_t *a, const uint8_t *b, const uint8_t *c,
			 size_t n)
{
	static struct bfs_anchors aa, ab, ac, ax;
	uint32_t ref[BFS_ANCHOR_MAX], sorted[BFS_ANCHOR_MAX], got[4];
	uint8_t rec[2 * BFS_ANCHOR_REC];
	struct bfs_sketch s1, s2;
	struct bfs_err err = {""};
	unsigned k, m, i;
	size_t nrec = 0;
	uint8_t *big;

	bfs_anchors_make(&aa, a, n);
	k = ref_anchors(a, n, ref, BFS_ANCHOR_MAX);
	ok(aa.n >= 4 && aa.n == k && !memcmp(aa.v, ref, k * sizeof(ref[0])),
	   "a 64 KiB chunk's anchors (%u) are those FORMAT.md describes", aa.n);
	bfs_sketch_make_anchors(&s1, &ax, a, n);
	bfs_sketch_make(&s2, a, n);
	ok(!memcmp(&s1, &s2, sizeof(s1)) && ax.n == aa.n &&
	       !memcmp(ax.v, aa.v, aa.n * sizeof(aa.v[0])),
	   "the one-pass sketch and anchors equal the separate ones");
	bfs_anchors_make(&ab, b, n);
	bfs_anchors_make(&ac, c, n);
	ok(shared(&aa, &ab) >= 1,
	   "a chunk with 2%% of its rows changed "
	   "shares anchors (%u of %u)",
	   shared(&aa, &ab), aa.n);
	is_int(shared(&aa, &ac), 0, "other rows share no anchor");

	/* the record: the 4 smallest distinct values, ascending */
	bfs_anchors_put(rec, &aa);
	memcpy(sorted, aa.v, aa.n * sizeof(sorted[0]));
	qsort(sorted, aa.n, sizeof(sorted[0]), cmp_u32);
	for (i = 1, m = 1; i < aa.n; i++)
		if (sorted[i] != sorted[m - 1])
			sorted[m++] = sorted[i];
	for (i = 0, k = 1; i < 4; i++)
		k &= bfs_get_le32(rec + 4 * i) == (i < m ? sorted[i] : 0);
	ok(k, "a record keeps the 4 smallest distinct anchors, ascending");
	m = bfs_anchors_get(got, rec);
	ok(m == 4 && got[0] == sorted[0] && got[3] == sorted[3],
	   "... and reads back");
	ax.n = 3;
	ax.v[0] = 7;
	ax.v[1] = 5;
	ax.v[2] = 7;
	bfs_anchors_put(rec, &ax);
	ok(bfs_get_le32(rec) == 5 && bfs_get_le32(rec + 4) == 7 &&
	       bfs_get_le32(rec + 8) == 0 && bfs_get_le32(rec + 12) == 0,
	   "2 distinct anchors: 5, 7, then zeros");
	is_int((int)bfs_anchors_get(got, rec), 2, "... read as 2");
	/* hostile record: zeros first, repeats */
	bfs_put_le32(rec, 0);
	bfs_put_le32(rec + 4, 9);
	bfs_put_le32(rec + 8, 9);
	bfs_put_le32(rec + 12, 3);
	m = bfs_anchors_get(got, rec);
	ok(m == 2 && got[0] == 9 && got[1] == 3,
	   "a record with a zero and a repeat reads as its 2 values");
	memset(rec, 0, BFS_ANCHOR_REC);
	is_int((int)bfs_anchors_get(got, rec), 0, "a zero record: none");

	/* a chunk with more anchors than kept in memory */
	big = malloc(8u << 20);
	if (big) {
		struct tl_rng r = {77};

		for (i = 0; i < (8u << 20) / 8; i++) {
			uint64_t v = tl_rand(&r);

			memcpy(big + 8 * (size_t)i, &v, 8);
		}
		bfs_anchors_make(&ax, big, 8u << 20);
		k = ref_anchors(big, 8u << 20, ref, BFS_ANCHOR_MAX);
		ok(ax.n == BFS_ANCHOR_MAX && k == BFS_ANCHOR_MAX &&
		       !memcmp(ax.v, ref, sizeof(ref)),
		   "an 8 MiB chunk keeps its first %d anchors", BFS_ANCHOR_MAX);
		free(big);
	}

	/* the "sa" blob check */
	bfs_anchors_put(rec, &aa);
	bfs_anchors_put(rec + BFS_ANCHOR_REC, &ab);
	is_int(bfs_anchor_blob_check(rec, sizeof(rec), 2, &nrec, &err), 0,
	       "an anchor blob of 2 records for 2 chunks");
	is_int((int)nrec, 2, "... holds 2");
	is_int(bfs_anchor_blob_check(rec, sizeof(rec) - 1, 2, &nrec, &err),
	       -EUCLEAN, "a partial anchor record is refused");
	ok(strstr(err.msg, "anchor blob") != NULL, "... named: %s", err.msg);
	is_int(bfs_anchor_blob_check(rec, sizeof(rec), 1, &nrec, &err),
	       -EUCLEAN, "more anchor records than chunks are refused");
	is_int(bfs_anchor_blob_check(rec, 0, 0, &nrec, &err), 0,
	       "an empty anchor blob is well formed");
	is_int(bfs_anchor_blob_check(
		   NULL, (size_t)(BFS_ANCHOR_BLOB_RECS + 1) * BFS_ANCHOR_REC,
		   UINT64_MAX, &nrec, &err),
	       -EUCLEAN, "more than %d anchor records are refused",
	       BFS_ANCHOR_BLOB_RECS);
}

/* A dump-like chunk: n bytes of INSERT lines, row values from seed; every
 * line whose number is a multiple of `every` (0: none) is changed. */
static size_t dump_text(uint8_t *out, size_t n, uint64_t seed, unsigned every)
{
	struct tl_rng r = {seed};
	size_t len = 0;
	unsigned line = 0;

	while (len < n) {
		char l[128];
		uint64_t v = tl_rand(&r);
		int k;

		line++;
		k = snprintf(l, sizeof(l),
			     "INSERT INTO orders VALUES (%u, %llu, 'customer "
			     "%llu', %s);\n",
			     line, (unsigned long long)(v % 1000000),
			     (unsigned long long)(v >> 40),
			     every && line % every == 0 ? "'shipped'"
							: "'pending'");
		if ((size_t)k > n - len)
			k = (int)(n - len);
		memcpy(out + len, l, (size_t)k);
		len += (size_t)k;
	}
	return len;
}

int main(void)
{
	enum { N = 65536 };
	uint8_t *a = malloc(N), *b = malloc(N), *c = malloc(N),
		*out = malloc(N), *bad = malloc(N);
	uint8_t ida[BFS_HASH_LEN], idb[BFS_HASH_LEN], idc[BFS_HASH_LEN],
	    got[BFS_HASH_LEN];
	struct bfs_sketch sa, sa2, sb, sc, ss;
	struct bfs_buf plain = {0}, d = {0};
	struct bfs_err err = {""};
	struct bfs_simidx x;
	uint64_t ref[4];
	int rc;

	dump_text(a, N, 1, 0);
	dump_text(b, N, 1, 50); /* 2% of the lines of a changed */
	dump_text(c, N, 2, 0);	/* other rows */
	bfs_sha256(ida, a, N);
	bfs_sha256(idb, b, N);
	bfs_sha256(idc, c, N);

	/* ---- sketches */
	bfs_sketch_make(&sa, a, N);
	bfs_sketch_make(&sa2, a, N);
	ok(sa.valid, "a 64 KiB chunk has a sketch");
	ok(!memcmp(&sa, &sa2, sizeof(sa)), "the sketch is deterministic");
	ok(ref_sketch(a, N, ref) && !memcmp(ref, sa.sf, sizeof(ref)),
	   "it is the sketch FORMAT.md describes");
	bfs_sketch_make(&sb, b, N);
	bfs_sketch_make(&sc, c, N);
	ok(bfs_sketch_match(&sa, &sb) >= 1,
	   "a chunk with 2%% of its lines changed is similar (%u of 4 "
	   "super-features)",
	   bfs_sketch_match(&sa, &sb));
	is_int(bfs_sketch_match(&sa, &sc), 0, "other rows are not similar");
	bfs_sketch_make(&ss, a, 200);
	ok(!ss.valid, "a 200-byte chunk has no sketch");
	is_int(bfs_sketch_match(&ss, &ss), 0, "... and resembles nothing");

	/* ---- delta frames */
	rc = bfs_zstd_compress(&plain, b, N, 3, &err);
	is_int(rc, 0, "plain frame of b");
	rc = bfs_delta_encode(&d, ida, a, N, b, N, 3, &err);
	is_int(rc, 0, "delta frame of b on a");
	ok(!memcmp(d.data, ida, BFS_HASH_LEN), "the frame starts with a's id");
	ok(bfs_delta_worth(d.len - BFS_HASH_LEN, plain.len),
	   "the delta (%zu bytes) is worth keeping against %zu plain",
	   d.len - BFS_HASH_LEN, plain.len);
	rc = bfs_delta_base(d.data, d.len, got, &err);
	ok(!rc && !memcmp(got, ida, BFS_HASH_LEN), "bfs_delta_base reads it");
	memset(out, 0, N);
	rc = bfs_delta_decode(out, N, d.data, d.len, a, N, &err);
	ok(!rc && !memcmp(out, b, N), "decoded with a: b's bytes (%s)",
	   err.msg);
	/* the thread's context forgets the prefix: a plain frame decodes */
	rc = bfs_zstd_decompress(out, N, plain.data, plain.len, &err);
	ok(!rc && !memcmp(out, b, N), "a plain frame decodes after it");

	/* a damaged base: an error or other bytes, never b's */
	memcpy(bad, a, N);
	bad[N / 2] ^= 0x55;
	bad[100] ^= 0x01;
	rc = bfs_delta_decode(out, N, d.data, d.len, bad, N, &err);
	bfs_sha256(got, out, N);
	ok(rc || memcmp(got, idb, BFS_HASH_LEN),
	   "with a damaged base the id check fails (rc %d)", rc);
	rc = bfs_delta_decode(out, N, d.data, d.len, a, N - 1, &err);
	bfs_sha256(got, out, N);
	ok(rc || memcmp(got, idb, BFS_HASH_LEN), "... or a short one");
	rc = bfs_delta_decode(out, N, d.data, d.len - 1, a, N, &err);
	is_int(rc, -EUCLEAN, "a truncated frame is corrupt");
	rc = bfs_delta_decode(out, N, d.data, 20, a, N, &err);
	is_int(rc, -EUCLEAN, "a frame shorter than a base id is corrupt");
	rc = bfs_delta_decode(out, N - 1, d.data, d.len, a, N, &err);
	is_int(rc, -EUCLEAN, "a wrong plain length is corrupt");

	/* dissimilar data: the delta is not worth it */
	d.len = 0;
	rc = bfs_delta_encode(&d, idc, c, N, b, N, 3, &err);
	ok(!rc && !bfs_delta_worth(d.len - BFS_HASH_LEN, plain.len),
	   "a delta on other rows is not kept (%zu against %zu)",
	   d.len - BFS_HASH_LEN, plain.len);

	/* a frame the zstd CLI made (--patch-from uses the same raw prefix),
	 * tests/corpus/delta/good-delta: another encoder, same format */
	{
		const char *top = getenv("top_srcdir");
		char path[4096];
		struct bfs_buf f = {0};
		size_t bl, pl;

		snprintf(path, sizeof(path), "%s/tests/corpus/delta/good-delta",
			 top ? top : "..");
		rc = tl_read_file(path, &f) < 4 ? -1 : 0;
		bl = rc ? 0 : (size_t)f.data[0] | (size_t)f.data[1] << 8;
		pl = rc ? 0 : (size_t)f.data[2] | (size_t)f.data[3] << 8;
		if (!rc && 4 + bl <= f.len && pl <= N) {
			bfs_sha256(got, f.data + 4, bl);
			rc =
			    memcmp(got, f.data + 4 + bl, BFS_HASH_LEN) ? -2 : 0;
			err.msg[0] = '\0';
			if (!rc)
				rc = bfs_delta_decode(out, pl, f.data + 4 + bl,
						      f.len - 4 - bl,
						      f.data + 4, bl, &err);
		}
		is_int(rc, 0, "a delta frame of zstd --patch-from decodes (%s)",
		       err.msg);
		ok(!rc && memmem(out, pl, "changed 17'", 11) &&
		       !memmem(out, pl, "row 17'", 7),
		   "... to the changed rows");
		bfs_buf_free(&f);
	}

	/* ---- frames on two bases (FORMAT.md 18.2): a chunk whose first
	 * half is a's and second half c's (rows that moved) */
	{
		uint8_t ids[BFS_DELTA_MAX_BASES + 1][BFS_HASH_LEN];
		const void *bp[BFS_DELTA_MAX_BASES + 1] = {a, c, a, c, a};
		size_t bl[BFS_DELTA_MAX_BASES + 1] = {N, N, N, N, N}, zoff;
		struct bfs_buf one = {0}, two = {0};
		struct bfs_bases bs;
		uint8_t *m = malloc(N), *fr;

		memcpy(m, a, N / 2);
		memcpy(m + N / 2, c + N / 2, N / 2);
		memcpy(ids[0], ida, BFS_HASH_LEN);
		memcpy(ids[1], idc, BFS_HASH_LEN);
		for (int i = 2; i <= BFS_DELTA_MAX_BASES; i++)
			memset(ids[i], i, BFS_HASH_LEN);
		rc = bfs_delta_encode_n(&one, 1, ids, bp, bl, m, N, 3, &err);
		is_int(rc, 0, "encode_n with one base");
		ok(one.len > BFS_HASH_LEN &&
		       !memcmp(one.data, ida, BFS_HASH_LEN),
		   "... is a type-2 frame (base id first)");
		rc = bfs_delta_encode_n(&two, 2, ids, bp, bl, m, N, 3, &err);
		is_int(rc, 0, "encode_n with two bases (%s)", err.msg);
		ok(two.len > BFS_DELTA2_HEAD(2) &&
		       !memcmp(two.data, "BFD2\2", 5) &&
		       !memcmp(two.data + 5, ida, BFS_HASH_LEN) &&
		       !memcmp(two.data + 37, idc, BFS_HASH_LEN) &&
		       bfs_get_le32(two.data + 69) == 0xFD2FB528u,
		   "\"BFD2\", 2, a's id, c's id, then a zstd frame");
		ok((two.len - BFS_DELTA2_HEAD(2)) * 3 < one.len - BFS_HASH_LEN,
		   "two bases: %zu bytes, one base: %zu",
		   two.len - BFS_DELTA2_HEAD(2), one.len - BFS_HASH_LEN);
		rc = bfs_delta_frame_bases(two.data, two.len, true, &bs, &zoff,
					   &err);
		ok(!rc && bs.n == 2 && zoff == 69 &&
		       !memcmp(bs.id[0], ida, 32) && !memcmp(bs.id[1], idc, 32),
		   "frame_bases reads both");
		rc = bfs_delta_frame_bases(two.data, two.len, false, &bs, &zoff,
					   &err);
		ok(!rc && bs.n == 1 && zoff == 32 &&
		       !memcmp(bs.id[0], two.data, 32),
		   "before format 5 the same bytes are a type-2 frame");
		rc = bfs_delta_frame_bases(one.data, one.len, true, &bs, &zoff,
					   &err);
		ok(!rc && bs.n == 1 && !memcmp(bs.id[0], ida, 32),
		   "frame_bases reads a type-2 frame");
		memset(out, 0, N);
		rc = bfs_delta_decode_n(out, N, two.data, two.len, true, 2, bp,
					bl, &err);
		ok(!rc && !memcmp(out, m, N), "decode_n: the chunk (%s)",
		   err.msg);
		rc = bfs_delta_decode_n(out, N, one.data, one.len, true, 1, bp,
					bl, &err);
		ok(!rc && !memcmp(out, m, N), "decode_n of the one-base frame");
		is_int(bfs_delta_decode_n(out, N, two.data, two.len, true, 1,
					  bp, bl, &err),
		       -EINVAL, "decode_n with too few bases");
		{
			const void *sw[2] = {c, a};

			rc = bfs_delta_decode_n(out, N, two.data, two.len, true,
						2, sw, bl, &err);
			ok(rc || memcmp(out, m, N) != 0,
			   "bases in the other order: not the chunk");
		}
		{
			const void *dm[2] = {a, bad};

			memcpy(bad, c, N);
			bad[N - 100] ^= 0x20;
			rc = bfs_delta_decode_n(out, N, two.data, two.len, true,
						2, dm, bl, &err);
			ok(rc || memcmp(out, m, N) != 0,
			   "a damaged second base: not the chunk (rc %d)", rc);
		}
		fr = malloc(two.len);
		memcpy(fr, two.data, two.len);
		fr[4] = 1;
		is_int(
		    bfs_delta_frame_bases(fr, two.len, true, &bs, &zoff, &err),
		    -EUCLEAN, "n 1 after the magic is corrupt");
		fr[4] = 5;
		is_int(
		    bfs_delta_frame_bases(fr, two.len, true, &bs, &zoff, &err),
		    -EUCLEAN, "n 5 is corrupt");
		fr[4] = 2;
		memcpy(fr + 37, fr + 5, BFS_HASH_LEN);
		is_int(
		    bfs_delta_frame_bases(fr, two.len, true, &bs, &zoff, &err),
		    -EUCLEAN, "a base named twice is corrupt");
		is_int(
		    bfs_delta_frame_bases(two.data, 72, true, &bs, &zoff, &err),
		    -EUCLEAN, "a frame ending in its base list is corrupt");
		is_int(
		    bfs_delta_frame_bases(two.data, 4, true, &bs, &zoff, &err),
		    -EUCLEAN, "the magic alone is corrupt");
		is_int(bfs_delta_decode_n(out, N, two.data, two.len - 1, true,
					  2, bp, bl, &err),
		       -EUCLEAN, "a truncated two-base frame is corrupt");
		free(fr);

		two.len = 0;
		rc = bfs_delta_encode_n(&two, 4, ids, bp, bl, m, N, 3, &err);
		is_int(rc, 0, "four bases");
		rc = bfs_delta_decode_n(out, N, two.data, two.len, true, 4, bp,
					bl, &err);
		ok(!rc && !memcmp(out, m, N), "... decode");
		is_int(bfs_delta_encode_n(&two, 5, ids, bp, bl, m, N, 3, &err),
		       -EINVAL, "five bases are refused");
		is_int(bfs_delta_encode_n(&two, 0, ids, bp, bl, m, N, 3, &err),
		       -EINVAL, "no base is refused");
		memcpy(ids[1], ida, BFS_HASH_LEN);
		is_int(bfs_delta_encode_n(&two, 2, ids, bp, bl, m, N, 3, &err),
		       -EINVAL, "a base twice is refused");
		memcpy(ids[0], "BFD2", 4);
		ok(!bfs_delta_base_ok(ids[0]),
		   "an id starting with BFD2 is no single base");
		is_int(bfs_delta_encode_n(&two, 1, ids, bp, bl, m, N, 3, &err),
		       -EINVAL, "... encode_n refuses it");
		memcpy(ids[1], idc, BFS_HASH_LEN);
		is_int(bfs_delta_encode_n(&two, 2, ids, bp, bl, m, N, 3, &err),
		       0, "... but it may be one of several");
		bfs_put_le32(ids[0], 0xFD2FB528u);
		ok(!bfs_delta_base_ok(ids[0]) && bfs_delta_base_ok(ida),
		   "nor one starting with the zstd magic");
		bfs_buf_free(&one);
		bfs_buf_free(&two);
		free(m);
	}

	/* a two-base frame whose zstd part the zstd CLI made
	 * (tests/corpus/delta/good-delta2: --patch-from the two bases
	 * concatenated): "BFD2", 2, the ids, the frame */
	{
		const char *top = getenv("top_srcdir");
		char path[4096];
		struct bfs_buf f = {0};
		struct bfs_bases bs;
		size_t bl, pl, zoff, half[2];
		const void *hp[2];

		snprintf(path, sizeof(path),
			 "%s/tests/corpus/delta/good-delta2", top ? top : "..");
		rc = tl_read_file(path, &f) < 4 ? -1 : 0;
		bl = rc ? 0 : (size_t)f.data[0] | (size_t)f.data[1] << 8;
		pl = rc ? 0 : (size_t)f.data[2] | (size_t)f.data[3] << 8;
		err.msg[0] = '\0';
		if (!rc && 4 + bl <= f.len && pl <= N && bl % 2 == 0) {
			hp[0] = f.data + 4;
			hp[1] = f.data + 4 + bl / 2;
			half[0] = half[1] = bl / 2;
			rc = bfs_delta_frame_bases(f.data + 4 + bl,
						   f.len - 4 - bl, true, &bs,
						   &zoff, &err);
			bfs_sha256(got, hp[1], bl / 2);
			if (!rc && (bs.n != 2 || memcmp(bs.id[1], got, 32)))
				rc = -2;
			if (!rc)
				rc = bfs_delta_decode_n(
				    out, pl, f.data + 4 + bl, f.len - 4 - bl,
				    true, 2, hp, half, &err);
		} else {
			rc = -1;
		}
		is_int(rc, 0, "a two-base frame of zstd --patch-from (%s)",
		       err.msg);
		ok(!rc && memmem(out, pl, "changed 17'", 11),
		   "... decodes to the changed rows");
		bfs_buf_free(&f);
	}

	/* ---- the lookup, depth 1 */
	bfs_simidx_init(&x);
	ok(!bfs_simidx_find(&x, &sb, got), "empty index: no base");
	is_int(bfs_simidx_add(&x, ida, &sa, NULL), 0, "a recorded whole");
	ok(bfs_simidx_find(&x, &sb, got) && !memcmp(got, ida, BFS_HASH_LEN),
	   "b finds a");
	is_int(bfs_simidx_add(&x, idb, &sb, ida), 0,
	       "b recorded, a delta on a");
	{
		uint8_t *e = malloc(N);
		struct bfs_sketch se;

		dump_text(e, N, 1, 49); /* like b and a */
		bfs_sketch_make(&se, e, N);
		ok(bfs_simidx_find(&x, &se, got) &&
		       !memcmp(got, ida, BFS_HASH_LEN),
		   "a chunk like b gets a, b's base, never b (depth 1)");
		free(e);
	}
	ok(!bfs_simidx_find(&x, &sc, got), "other rows find nothing");
	bfs_simidx_fini(&x);

	/* ---- "sk" records: 32 bits per super-feature, folded sketches
	 * still find each other; the blob check */
	{
		uint8_t rec[2 * BFS_SKETCH_REC];
		struct bfs_sketch fa, fb, r0, r1;
		size_t nrec = 0;

		fa = sa;
		fb = sb;
		bfs_sketch_fold(&fa);
		bfs_sketch_fold(&fb);
		ok(fa.valid && (uint32_t)sa.sf[0] == fa.sf[0] &&
		       fa.sf[0] >> 32 == 0,
		   "fold keeps the low 32 bits");
		bfs_sketch_put(rec, &fa);
		ss.valid = false;
		bfs_sketch_put(rec + BFS_SKETCH_REC, &ss);
		bfs_sketch_get(&r0, rec);
		bfs_sketch_get(&r1, rec + BFS_SKETCH_REC);
		ok(r0.valid && !memcmp(r0.sf, fa.sf, sizeof(fa.sf)),
		   "a record round-trips");
		ok(!r1.valid, "a zero record is no sketch");
		ok(bfs_sketch_match(&fb, &r0) == bfs_sketch_match(&sb, &sa),
		   "folded sketches match as the full ones do");
		is_int(bfs_sketch_blob_check(rec, sizeof(rec), 2, &nrec, &err),
		       0, "a blob of 2 records for 2 chunks");
		is_int((int)nrec, 2, "... holds 2");
		is_int(
		    bfs_sketch_blob_check(rec, sizeof(rec) - 1, 2, &nrec, &err),
		    -EUCLEAN, "a partial record is refused");
		is_int(bfs_sketch_blob_check(rec, sizeof(rec), 1, &nrec, &err),
		       -EUCLEAN, "more records than chunks are refused");
	}

	test_anchors(a, b, c, N);

	bfs_buf_free(&plain);
	bfs_buf_free(&d);
	free(a);
	free(b);
	free(c);
	free(out);
	free(bad);
	return tap_done();
}
