/* fuzz-delta.c - libFuzzer target: the delta frame decoder (a frame read
 * from a pack is untrusted: bfs_delta_base, bfs_delta_decode, and for
 * frames on several bases bfs_delta_frame_bases, bfs_delta_decode_n, the
 * base bytes split into as many pieces as the frame names) and the
 * sketch and base lookup on arbitrary bytes (delta.h).
 *
 * Input: blen u16, len u16 (little-endian), then blen bytes of base
 * (fewer if the input is shorter), then the delta frame.  Oracles: a
 * decode that succeeds fills exactly len bytes (ASan: the buffer is len
 * bytes) and gives the same bytes when run again; a success never
 * follows a frame shorter than a base id; the sketch of the same bytes
 * is the same twice; the lookup finds a chunk recorded with that sketch;
 * the whole input as an "sk" blob (bfs_sketch_blob_check, then every
 * record read back and written again to the same bytes); anchors and
 * the whole input as an "sa" blob (anchor_oracles).
 * Built by scripts/fuzz; replayed by tests/unit/test-fuzz-delta. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/delta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Anchors: the one-pass and the separate computation agree; the whole
 * input as an "sa" blob of a file of nchunks chunks: when the check
 * passes, every record reads as at most 4 distinct non-zero values, and
 * those written again read back the same. */
static void anchor_oracles(const uint8_t *data, size_t size, size_t nchunks)
{
	static struct bfs_anchors a1, a2;
	uint32_t v[BFS_ANCHOR_REC_N], w[BFS_ANCHOR_REC_N];
	uint8_t rec[BFS_ANCHOR_REC];
	struct bfs_sketch s;
	struct bfs_err err;
	size_t n, i;
	unsigned m, k, j;

	bfs_anchors_make(&a1, data, size);
	bfs_sketch_make_anchors(&s, &a2, data, size);
	if (a1.n != a2.n || a1.n > BFS_ANCHOR_MAX ||
	    memcmp(a1.v, a2.v, a1.n * sizeof(a1.v[0])) != 0)
		abort();
	if (bfs_anchor_blob_check(data, size, nchunks, &n, &err) != 0)
		return;
	if (n * BFS_ANCHOR_REC != size || n > nchunks)
		abort();
	for (i = 0; i < n; i++) {
		m = bfs_anchors_get(v, data + i * BFS_ANCHOR_REC);
		if (m > BFS_ANCHOR_REC_N)
			abort();
		for (k = 0; k < m; k++)
			for (j = 0; j < k; j++)
				if (!v[k] || v[j] == v[k])
					abort();
		a1.n = m;
		memcpy(a1.v, v, m * sizeof(v[0]));
		bfs_anchors_put(rec, &a1);
		if (bfs_anchors_get(w, rec) != m)
			abort();
		for (k = 0; k < m; k++) {
			for (j = 0; j < m && w[j] != v[k]; j++)
				;
			if (j == m)
				abort(); /* the same set */
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t id[BFS_HASH_LEN], got[BFS_HASH_LEN];
	struct bfs_sketch s1, s2;
	struct bfs_simidx x;
	const uint8_t *base, *frame;
	uint8_t *out, *out2;
	size_t blen, len, flen;
	struct bfs_err err;
	int rc, rc2;

	if (size < 4)
		return 0;
	blen = (size_t)data[0] | (size_t)data[1] << 8;
	len = (size_t)data[2] | (size_t)data[3] << 8;
	base = data + 4;
	if (blen > size - 4)
		blen = size - 4;
	frame = base + blen;
	flen = size - 4 - blen;
	out = malloc(len ? len : 1);
	out2 = malloc(len ? len : 1);
	if (!out || !out2)
		goto out;
	rc = bfs_delta_decode(out, len, frame, flen, base, blen, &err);
	if (rc == 0) {
		if (flen < BFS_HASH_LEN + 4)
			abort();
		rc2 =
		    bfs_delta_decode(out2, len, frame, flen, base, blen, &err);
		if (rc2 != 0 || memcmp(out, out2, len) != 0)
			abort(); /* decoding is a function of its input */
	}
	/* the head of a stored frame, either kind (multi-base frames of
	 * format 5 or not): what it names is within the frame, distinct,
	 * and a decode with the base split into as many pieces is a
	 * function of its input */
	for (int multi = 0; multi < 2; multi++) {
		const void *bp[BFS_DELTA_MAX_BASES];
		size_t bl[BFS_DELTA_MAX_BASES], zoff = 0, k, j;
		struct bfs_bases b;

		if (bfs_delta_frame_bases(frame, flen, multi, &b, &zoff, &err))
			continue;
		if (b.n < 1 || b.n > BFS_DELTA_MAX_BASES || zoff + 4 > flen ||
		    (b.n > 1) != (multi && flen >= 4 &&
				  !memcmp(frame, BFS_DELTA2_MAGIC, 4)) ||
		    zoff != (b.n == 1 ? BFS_HASH_LEN : BFS_DELTA2_HEAD(b.n)))
			abort();
		for (k = 0; k < b.n; k++)
			for (j = 0; j < k; j++)
				if (b.n > 1 &&
				    !memcmp(b.id[k], b.id[j], BFS_HASH_LEN))
					abort();
		for (k = 0; k < b.n; k++) {
			bp[k] = base + k * (blen / b.n);
			bl[k] =
			    k + 1 < b.n ? blen / b.n : blen - k * (blen / b.n);
		}
		rc = bfs_delta_decode_n(out, len, frame, flen, multi, b.n, bp,
					bl, &err);
		if (rc == 0) {
			rc2 = bfs_delta_decode_n(out2, len, frame, flen, multi,
						 b.n, bp, bl, &err);
			if (rc2 != 0 || memcmp(out, out2, len) != 0)
				abort();
		}
		if (bfs_delta_decode_n(out2, len, frame, flen, multi, b.n + 1,
				       bp, bl, &err) != -EINVAL)
			abort(); /* the count must be the frame's */
	}
	bfs_sketch_make(&s1, data, size);
	bfs_sketch_make(&s2, data, size);
	if (memcmp(&s1, &s2, sizeof(s1)) != 0)
		abort();
	bfs_sha256(id, data, size);
	bfs_simidx_init(&x);
	if (bfs_simidx_add(&x, id, &s1, NULL) == 0 && s1.valid &&
	    (!bfs_simidx_find(&x, &s1, got) || memcmp(got, id, BFS_HASH_LEN)))
		abort();
	bfs_simidx_fini(&x);
	if (bfs_sketch_blob_check(data, size, len, &flen, &err) == 0) {
		uint8_t rec[BFS_SKETCH_REC];
		size_t i;

		if (flen * BFS_SKETCH_REC != size || flen > len)
			abort();
		for (i = 0; i < flen; i++) {
			const uint8_t *r = data + i * BFS_SKETCH_REC;

			bfs_sketch_get(&s1, r);
			bfs_sketch_put(rec, &s1);
			if (memcmp(rec, r, BFS_SKETCH_REC) != 0)
				abort(); /* a record is its 4 values */
		}
	}
	anchor_oracles(data, size, len);
out:
	free(out);
	free(out2);
	return 0;
}
