/* pack.h - pack objects: many chunks, each an independent zstd frame,
 * followed by an index trailer so a pack can be re-indexed on its own.
 *
 *   "BFSPACK2"                       8-byte magic
 *   frame 0 | frame 1 | ...          zstd frames, back to back
 *   index: count x 56 bytes          hash[32] offset u64 clen u32 len u32
 *                                    type u8 reserved[7] (0)
 *   footer: 56 bytes                 index_offset u64, count u32,
 *                                    reserved u32 (0), index_sha256[32],
 *                                    "BFSPEND1"
 * All integers little-endian.  Pack id = SHA-256 of the whole object.
 * Format-1 packs ("BFSPACK1", 48-byte entries without a type, all data)
 * are still parsed.  A pack of an encrypted repository ("BFSPACKS") has
 * sealed frames and its index sealed (nonce || 56 N bytes || tag; the
 * footer's hash covers those sealed bytes): the parsers need the key
 * (NULL: such a pack is -EUCLEAN).
 */
#ifndef BFS_PACK_H
#define BFS_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "format.h" /* BFS_PACK_*: magics, sizes, limits */
#include "util.h"

struct bfs_crypt;

/* zstd helpers.  Compress src into dst (appended) as one frame with the
 * content size recorded.  Thread-safe (own context per call or per
 * thread). */
int bfs_zstd_compress(struct bfs_buf *dst, const void *src, size_t n, int level,
		      struct bfs_err *err);
/* Decompress exactly one frame of srclen bytes into dst, which holds
 * exactly dstlen bytes; any other decoded length, trailing bytes or a
 * corrupt frame is -EUCLEAN. */
int bfs_zstd_decompress(void *dst, size_t dstlen, const void *src,
			size_t srclen, struct bfs_err *err);
/* The same two with ref[0..rlen) (borrowed for the call; at most
 * BFS_DELTA_MAX_BASES * BFS_CHUNK_MAX_LIMIT bytes: the bases of a
 * multi-base frame) as raw prefix, for delta frames (FORMAT.md section
 * 18): a frame compressed with a
 * prefix decodes only with the same prefix; with other bytes it fails
 * (-EUCLEAN) or decodes to other bytes, which the caller's hash check
 * catches.  decompress_ref with ref NULL is bfs_zstd_decompress.
 * Thread-safe. */
int bfs_zstd_compress_ref(struct bfs_buf *dst, const void *src, size_t n,
			  const void *ref, size_t rlen, int level,
			  struct bfs_err *err);
int bfs_zstd_decompress_ref(void *dst, size_t dstlen, const void *src,
			    size_t srclen, const void *ref, size_t rlen,
			    struct bfs_err *err);

struct bfs_pack_entry {
	uint8_t hash[BFS_HASH_LEN];
	uint64_t offset;
	uint32_t clen;
	uint32_t len;
	uint8_t type; /* BFS_BLOB_* */
};

/* Builds one pack in memory.  Not thread-safe: one builder per thread. */
struct bfs_pack_builder;
struct bfs_pack_builder *bfs_pack_builder_new(void);	/* NULL on ENOMEM */
void bfs_pack_builder_free(struct bfs_pack_builder *b); /* NULL ok */
/* Append one already-compressed frame.  *offset receives its offset. */
int bfs_pack_builder_add(struct bfs_pack_builder *b,
			 const uint8_t hash[BFS_HASH_LEN], const void *frame,
			 uint32_t clen, uint32_t len, uint64_t *offset);
int bfs_pack_builder_add_typed(struct bfs_pack_builder *b,
			       const uint8_t hash[BFS_HASH_LEN], int type,
			       const void *frame, uint32_t clen, uint32_t len,
			       uint64_t *offset);
/* Append a delta frame (type BFS_BLOB_DELTA; frame plain or sealed, as
 * every frame of b) whose base blob is base.  The base is kept beside
 * the entry (bfs_pack_builder_bases) for the index object: the 56-byte
 * pack index entry has no room for it, and the first bytes of a sealed
 * frame are cipher text.  Errors as bfs_pack_builder_add. */
int bfs_pack_builder_add_delta(struct bfs_pack_builder *b,
			       const uint8_t hash[BFS_HASH_LEN],
			       const uint8_t base[BFS_HASH_LEN],
			       const void *frame, uint32_t clen, uint32_t len,
			       uint64_t *offset);
/* Append a delta frame on nbases bases (bases[0..nbases), in the
 * frame's order): type BFS_BLOB_DELTA when nbases is 1 (as
 * bfs_pack_builder_add_delta), else BFS_BLOB_DELTA2 (2 to
 * BFS_DELTA_MAX_BASES distinct ids, none hash itself: -EINVAL).  The
 * bases are kept beside the entry as for add_delta.  Errors as
 * bfs_pack_builder_add. */
int bfs_pack_builder_add_delta_n(struct bfs_pack_builder *b,
				 const uint8_t hash[BFS_HASH_LEN],
				 size_t nbases,
				 const uint8_t (*bases)[BFS_HASH_LEN],
				 const void *frame, uint32_t clen, uint32_t len,
				 uint64_t *offset);
/* The entries added since the last finish (borrowed, valid until the
 * next add; a finish keeps them readable until then). */
const struct bfs_pack_entry *
bfs_pack_builder_entries(const struct bfs_pack_builder *b);
/* The bases of each of those entries (n 0 for a blob that is not a
 * delta, 1 for type 2, 2.. for type 3); borrowed, valid as long as the
 * entries. */
const struct bfs_bases *
bfs_pack_builder_bases(const struct bfs_pack_builder *b);
size_t bfs_pack_builder_size(const struct bfs_pack_builder *b);
size_t bfs_pack_builder_count(const struct bfs_pack_builder *b);
/* Write index + footer and compute the id.  Hands the finished bytes to
 * *out (ownership transferred: caller frees out->data) and resets the
 * builder for the next pack. */
int bfs_pack_builder_finish(struct bfs_pack_builder *b, struct bfs_buf *out,
			    uint8_t id[BFS_HASH_LEN]);
/* Make the packs of b sealed (encrypted repository, doc/FORMAT.md
 * "Encryption"): magic BFSPACKS, the index sealed with key (borrowed,
 * must outlive b; NULL: plain packs).  The frames added must already be
 * sealed (bfs_repo_blob_encode). */
void bfs_pack_builder_set_key(struct bfs_pack_builder *b,
			      const struct bfs_crypt *key);

/* Parse and validate a whole pack (untrusted): magic, footer, index hash,
 * every entry inside the frame area, no overlap.  On success *entries
 * (malloc'ed, caller frees) and *count are set.  -EUCLEAN on any defect,
 * with a message saying which. */
int bfs_pack_parse_index(const uint8_t *data, size_t len,
			 struct bfs_pack_entry **entries, size_t *count,
			 struct bfs_err *err);
/* The same with the key of an encrypted repository (NULL: as above),
 * which opens a sealed index; -EBADMSG when it fails authentication. */
int bfs_pack_parse_index_key(const struct bfs_crypt *key, const uint8_t *data,
			     size_t len, struct bfs_pack_entry **entries,
			     size_t *count, struct bfs_err *err);

/* Parse and validate a pack's index from its last tail_len bytes (tail,
 * untrusted) without the rest: for check, which reads only the index
 * region of a pack.  len is the pack's size; head its first 8 bytes, or
 * NULL when not read (the entry size, format 1 or 2, then follows from
 * the footer's geometry).  The checks of bfs_pack_parse_index that need
 * only these bytes.  -ENODATA when the index starts before the tail:
 * *need (may be NULL) gets the tail length that covers it.  Else as
 * bfs_pack_parse_index.  Thread-safe. */
int bfs_pack_parse_tail(const uint8_t *head, uint64_t len, const uint8_t *tail,
			size_t tail_len, struct bfs_pack_entry **entries,
			size_t *count, uint64_t *need, struct bfs_err *err);
int bfs_pack_parse_tail_key(const struct bfs_crypt *key, const uint8_t *head,
			    uint64_t len, const uint8_t *tail, size_t tail_len,
			    struct bfs_pack_entry **entries, size_t *count,
			    uint64_t *need, struct bfs_err *err);

#endif
