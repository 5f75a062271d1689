/* delta.h - similarity deltas (format 3, doc/FORMAT.md section 18):
 * resemblance sketches of chunks, delta frames, and the lookup that
 * picks a base for a new chunk.
 *
 * A sketch is BFS_SKETCH_SF super-features of a chunk's plain bytes.
 * Two chunks that share any one super-feature are "similar": likely to
 * share most of their bytes, so the second compresses well with the
 * first as zstd raw prefix.  The algorithm (N-transform super-features
 * over a sampled gear hash, Broder 1997 / Shilane et al. 2012):
 *
 *   h = 0; for each byte b of the chunk: h = (h << 1) + gear[b]
 *     (mod 2^64; the gear table of the chunker, FORMAT.md section 3),
 *     so h depends on the last 64 bytes only;
 *   position sampled when h >> (64 - BFS_SKETCH_SAMPLE_BITS) == 0 and
 *     at least 64 bytes were hashed;
 *   feature i (0..BFS_SKETCH_FEATURES-1) = max over sampled positions of
 *     (mul[i] * h + add[i]) mod 2^64;
 *   super-feature j = mix of features 3j, 3j+1, 3j+2 (bfs_sketch_make).
 * mul[i] (odd) and add[i] are successive splitmix64 outputs seeded with
 * BFS_SKETCH_SEED.  A chunk with fewer than BFS_SKETCH_MIN_SAMPLES
 * sampled positions has no sketch (too short to resemble reliably).
 *
 * A delta frame is the 32-byte raw id of its base blob followed by one
 * zstd frame of the chunk compressed with the base's plain bytes as raw
 * prefix.  Decode depth is 1: a base is never itself a delta.
 */
#ifndef BFS_DELTA_H
#define BFS_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "hmap.h"
#include "util.h"

#define BFS_SKETCH_FEATURES 12
#define BFS_SKETCH_SF 4		 /* super-features of 3 features each */
#define BFS_SKETCH_SAMPLE_BITS 5 /* 1 position in 32 is sampled */
#define BFS_SKETCH_MIN_SAMPLES 16
#define BFS_SKETCH_SEED 0x6266732d736b7463ull /* "bfs-sktc" */
/* A delta frame is kept when its zstd part is at most this share (in
 * percent) of the chunk's plain zstd frame; else the chunk is stored
 * whole and becomes a base for later chunks. */
#define BFS_DELTA_KEEP_PCT 50

struct bfs_sketch {
	uint64_t sf[BFS_SKETCH_SF];
	bool valid; /* false: too few samples, never similar */
};

/* ---- the "sk" blob (FORMAT.md section 18) ---------------------------
 * A file's sketches, one record of BFS_SKETCH_REC bytes per chunk in
 * chunk order: the low 32 bits of each super-feature, little-endian
 * (all zero: no sketch).  A tree blob, so at most BFS_SKETCH_BLOB_RECS
 * records: chunks past that have none.  Sketches compared with one read
 * from such a record are folded first (bfs_sketch_fold). */
#define BFS_SKETCH_REC (4 * BFS_SKETCH_SF)
#define BFS_SKETCH_BLOB_RECS 65536 /* 1 MiB: BFS_TREE_PART_MAX */

/* Reduce s to what a record keeps (32 bits per super-feature). */
void bfs_sketch_fold(struct bfs_sketch *s);
/* Write / read one record.  get: a record of zero bytes is a sketch
 * that is not valid. */
void bfs_sketch_put(uint8_t rec[BFS_SKETCH_REC], const struct bfs_sketch *s);
void bfs_sketch_get(struct bfs_sketch *s, const uint8_t rec[BFS_SKETCH_REC]);
/* Check an "sk" blob's plain bytes (untrusted) of a file of nchunks
 * chunks: a whole number of records, at most one per chunk and at most
 * BFS_SKETCH_BLOB_RECS.  0 and *nrecs, or -EUCLEAN with a message. */
int bfs_sketch_blob_check(const void *data, size_t len, uint64_t nchunks,
			  size_t *nrecs, struct bfs_err *err);

/* ---- anchors and the "sa" blob (FORMAT.md section 18) --------------
 * The anchors of a chunk: at each position where the sketch's gear hash
 * h (after at least 64 bytes) has its top BFS_ANCHOR_BITS bits zero (one
 * position in 8192, about 4 per 32 KiB), the 32-bit value
 * (h >> 16) mod 2^32; a value of 0 is not an anchor (it is the record's
 * empty slot).  Two chunks that share anchors share the 64 bytes before
 * each: the writer finds a second delta base among the previous version's
 * chunks by the anchors they have in common with a new chunk.
 *
 * A chunk keeps in memory its first BFS_ANCHOR_MAX anchors in order (all
 * of them below 2 MiB); its stored record keeps BFS_ANCHOR_REC_N of
 * those: the smallest distinct values, in ascending order, zero-filled
 * (a bottom-k choice: which anchors a record keeps does not depend on
 * where in the chunk the edits fell). */
#define BFS_ANCHOR_BITS 13
#define BFS_ANCHOR_MAX 256
#define BFS_ANCHOR_REC_N 4
#define BFS_ANCHOR_REC (4 * BFS_ANCHOR_REC_N)
#define BFS_ANCHOR_BLOB_RECS BFS_SKETCH_BLOB_RECS

struct bfs_anchors {
	uint32_t v[BFS_ANCHOR_MAX]; /* in chunk order, duplicates kept */
	unsigned n;
};

/* bfs_sketch_make and the anchors of data[0..n) in the same pass (a
 * may be NULL).  Deterministic across machines.  Thread-safe. */
void bfs_sketch_make_anchors(struct bfs_sketch *s, struct bfs_anchors *a,
			     const void *data, size_t n);
/* The anchors of data[0..n) alone. */
void bfs_anchors_make(struct bfs_anchors *a, const void *data, size_t n);
/* Write one record of a's anchors (the rule above). */
void bfs_anchors_put(uint8_t rec[BFS_ANCHOR_REC], const struct bfs_anchors *a);
/* Read one record (untrusted: any bytes): its non-zero values into
 * out[], their number returned (0..BFS_ANCHOR_REC_N).  Zeros and
 * repeats are skipped, wherever they are. */
unsigned bfs_anchors_get(uint32_t out[BFS_ANCHOR_REC_N],
			 const uint8_t rec[BFS_ANCHOR_REC]);
/* Check an "sa" blob's plain bytes (untrusted) of a file of nchunks
 * chunks: a whole number of BFS_ANCHOR_REC-byte records, at most one per
 * chunk and at most BFS_ANCHOR_BLOB_RECS.  0 and *nrecs, or -EUCLEAN with
 * a message. */
int bfs_anchor_blob_check(const void *data, size_t len, uint64_t nchunks,
			  size_t *nrecs, struct bfs_err *err);

/* Compute the sketch of data[0..n).  Deterministic across machines.
 * Thread-safe. */
void bfs_sketch_make(struct bfs_sketch *s, const void *data, size_t n);

/* Number of super-features two sketches share (0 when either is not
 * valid). */
unsigned bfs_sketch_match(const struct bfs_sketch *a,
			  const struct bfs_sketch *b);

/* Encode a delta frame into out (appended): base_id, then data[0..n)
 * compressed at level with base[0..blen) as raw prefix.  Borrowed
 * pointers.  0, -ENOMEM, -EINVAL, -EIO (zstd).  Thread-safe. */
int bfs_delta_encode(struct bfs_buf *out, const uint8_t base_id[BFS_HASH_LEN],
		     const void *base, size_t blen, const void *data, size_t n,
		     int level, struct bfs_err *err);

/* The base id of the delta frame frame[0..flen): 0, or -EUCLEAN when
 * flen is too short to hold one. */
int bfs_delta_base(const void *frame, size_t flen,
		   uint8_t base_id[BFS_HASH_LEN], struct bfs_err *err);

/* Decode the delta frame frame[0..flen) into out, which holds exactly
 * len bytes, with base[0..blen) (the plain bytes of the blob the frame
 * names, already verified by the caller) as prefix.  The checks of
 * bfs_zstd_decompress apply to the zstd part.  The caller verifies the
 * decoded bytes against the chunk id: with a wrong base the frame may
 * decode to wrong bytes.  0, -EUCLEAN (corrupt frame), -ENOMEM.
 * Thread-safe. */
int bfs_delta_decode(void *out, size_t len, const void *frame, size_t flen,
		     const void *base, size_t blen, struct bfs_err *err);

/* ---- delta frames on several bases (FORMAT.md 18.2; format 5) -------
 * "BFD2", one byte n (2..BFS_DELTA_MAX_BASES), n raw base ids (distinct),
 * then one zstd frame of the chunk with the concatenation of the bases'
 * plain bytes, in that order, as raw prefix.  A reader tells the three
 * kinds of stored frame apart by their first four bytes: the zstd magic
 * (whole), BFS_DELTA2_MAGIC (several bases, format 5 only), anything
 * else (a type-2 frame, base id first). */

/* May id be the single base of a type-2 frame?  Not when it starts with
 * the zstd magic or BFS_DELTA2_MAGIC (a reader would take the frame for
 * another kind; 2 in 2^32 blobs). */
bool bfs_delta_base_ok(const uint8_t id[BFS_HASH_LEN]);

/* Encode a delta frame on nbases bases into out (appended): nbases 1 is
 * bfs_delta_encode (a type-2 frame), 2..BFS_DELTA_MAX_BASES a multi-base
 * frame with base_ids[i] the id of bases[i][0..blens[i]).  Borrowed
 * pointers.  0, -ENOMEM, -EINVAL (nbases out of range, a base id twice,
 * a single base !bfs_delta_base_ok, a base or the chunk past
 * BFS_CHUNK_MAX_LIMIT), -EIO (zstd).  Thread-safe. */
int bfs_delta_encode_n(struct bfs_buf *out, size_t nbases,
		       const uint8_t (*base_ids)[BFS_HASH_LEN],
		       const void *const *bases, const size_t *blens,
		       const void *data, size_t n, int level,
		       struct bfs_err *err);

/* Parse the head of a stored delta frame frame[0..flen) (plain,
 * untrusted): its bases into *b (b->n 1 for a type-2 frame) and into
 * *zoff the offset of its zstd part.  multi: the repository's version
 * has multi-base frames (>= BFS_FORMAT_VERSION_DELTA2); without it a
 * frame starting with BFS_DELTA2_MAGIC is a type-2 frame, as its writer
 * meant.  0, or -EUCLEAN with a message: too short, n out of range, a
 * base id twice. */
int bfs_delta_frame_bases(const void *frame, size_t flen, bool multi,
			  struct bfs_bases *b, size_t *zoff,
			  struct bfs_err *err);

/* Decode the delta frame frame[0..flen) (either kind; multi as for
 * bfs_delta_frame_bases) into out (exactly len bytes) with bases[i]
 * [0..blens[i]) the plain bytes of the frame's i-th base (nbases of
 * them: as many as the frame names, already verified by the caller).
 * As bfs_delta_decode otherwise; -EINVAL when nbases is not the frame's
 * count or a base is past BFS_CHUNK_MAX_LIMIT.  Thread-safe. */
int bfs_delta_decode_n(void *out, size_t len, const void *frame, size_t flen,
		       bool multi, size_t nbases, const void *const *bases,
		       const size_t *blens, struct bfs_err *err);

/* True when a delta of dclen bytes (its zstd part) is worth keeping
 * against a plain zstd frame of pclen bytes (BFS_DELTA_KEEP_PCT). */
static inline bool bfs_delta_worth(size_t dclen, size_t pclen)
{
	return (uint64_t)dclen * 100 <= (uint64_t)pclen * BFS_DELTA_KEEP_PCT;
}

/* ---- the base lookup ------------------------------------------------ */

/* Chunks known as candidate bases, keyed by super-feature.  Each chunk
 * is recorded with its base when it is stored as a delta, so that a
 * lookup follows the depth-1 rule: when the most similar chunk is itself
 * a delta, its base is returned.  Not thread-safe: the owner locks. */
struct bfs_simidx {
	struct bfs_hmap sf;    /* {sf u64 (key), slot u32}: newest first */
	struct bfs_hmap chunk; /* {id[32] (key), base[32], has_base} */
};

void bfs_simidx_init(struct bfs_simidx *x);
void bfs_simidx_fini(struct bfs_simidx *x); /* x may be reused after init */

/* Record chunk id with sketch s; base is NULL for a chunk stored whole,
 * else the base its delta frame names.  A chunk recorded twice keeps its
 * first record.  0 or -ENOMEM. */
int bfs_simidx_add(struct bfs_simidx *x, const uint8_t id[BFS_HASH_LEN],
		   const struct bfs_sketch *s, const uint8_t *base);

/* The base to use for a new chunk of sketch s: the chunk sharing the
 * most super-features with it (ties: the lowest super-feature index
 * wins), or that chunk's base when it is a delta.  true and *base_id
 * set, or false when nothing is similar. */
bool bfs_simidx_find(const struct bfs_simidx *x, const struct bfs_sketch *s,
		     uint8_t base_id[BFS_HASH_LEN]);

#endif
