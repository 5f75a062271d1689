/* pack.c - zstd helpers and pack objects, see pack.h and doc/FORMAT.md. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "chunker.h"
#include "crypt.h"
#include "format.h"
#include "pack.h"

/* ---- zstd helpers ------------------------------------------------------ */

/*
 * One compression and one decompression context per thread, created on
 * first use and freed by the pthread_key destructors when the thread
 * exits.  Worker threads compress millions of chunks: creating a context
 * per call would cost more than compressing a small chunk.  The main
 * thread's contexts live until exit (destructors do not run for it).
 */
static pthread_once_t zstd_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t cctx_key, dctx_key;
static int zstd_key_rc;

static void cctx_destroy(void *p)
{
	ZSTD_freeCCtx(p);
}

static void dctx_destroy(void *p)
{
	ZSTD_freeDCtx(p);
}

static void zstd_key_init(void)
{
	zstd_key_rc = pthread_key_create(&cctx_key, cctx_destroy);
	if (zstd_key_rc)
		return;
	zstd_key_rc = pthread_key_create(&dctx_key, dctx_destroy);
	if (zstd_key_rc)
		pthread_key_delete(cctx_key);
}

static ZSTD_CCtx *thread_cctx(void)
{
	ZSTD_CCtx *c;

	if (pthread_once(&zstd_key_once, zstd_key_init) || zstd_key_rc)
		return NULL;
	c = pthread_getspecific(cctx_key);
	if (c)
		return c;
	c = ZSTD_createCCtx();
	if (c && pthread_setspecific(cctx_key, c)) {
		ZSTD_freeCCtx(c);
		c = NULL;
	}
	return c;
}

static ZSTD_DCtx *thread_dctx(void)
{
	ZSTD_DCtx *d;

	if (pthread_once(&zstd_key_once, zstd_key_init) || zstd_key_rc)
		return NULL;
	d = pthread_getspecific(dctx_key);
	if (d)
		return d;
	d = ZSTD_createDCtx();
	if (d && pthread_setspecific(dctx_key, d)) {
		ZSTD_freeDCtx(d);
		d = NULL;
	}
	return d;
}

/*
 * Compress src[0..n) as one zstd frame (content size recorded, no
 * checksum: chunks are verified by SHA-256) and append it to dst.
 * Returns 0, -ENOMEM, or -EIO if zstd fails.  Thread-safe: uses the
 * calling thread's context.
 */
int bfs_zstd_compress(struct bfs_buf *dst, const void *src, size_t n, int level,
		      struct bfs_err *err)
{
	ZSTD_CCtx *c = thread_cctx();
	size_t bound = ZSTD_compressBound(n), r;
	int rc;

	if (!c)
		return bfs_err_set(err, -ENOMEM, "cannot create zstd context");
	if (ZSTD_isError(bound))
		return bfs_err_set(err, -EINVAL, "zstd: input too large");
	rc = bfs_buf_reserve(dst, bound);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	/* ZSTD_compressCCtx resets the parameters to `level` each call and
	 * records the content size (contentSizeFlag defaults to 1). */
	r = ZSTD_compressCCtx(c, dst->data + dst->len, bound, src, n, level);
	if (ZSTD_isError(r))
		return bfs_err_set(err, -EIO, "zstd compression failed: %s",
				   ZSTD_getErrorName(r));
	dst->len += r;
	return 0;
}

/*
 * Compress src[0..n) as one zstd frame with ref[0..rlen) as raw prefix
 * (ZSTD_CCtx_refPrefix: the frame can only be decoded with the same
 * bytes as prefix), content size recorded, window large enough to reach
 * back over all of the prefix, and append it to dst.  ref is borrowed
 * for the call.  Returns 0, -ENOMEM, -EINVAL (sizes past the format's
 * chunk limit) or -EIO.  Thread-safe: uses the calling thread's
 * context, whose parameters it resets.
 */
int bfs_zstd_compress_ref(struct bfs_buf *dst, const void *src, size_t n,
			  const void *ref, size_t rlen, int level,
			  struct bfs_err *err)
{
	ZSTD_CCtx *c = thread_cctx();
	size_t bound = ZSTD_compressBound(n), r;
	unsigned wlog = 10;
	int rc;

	if (!c)
		return bfs_err_set(err, -ENOMEM, "cannot create zstd context");
	if (n > BFS_CHUNK_MAX_LIMIT ||
	    rlen > (size_t)BFS_DELTA_MAX_BASES * BFS_CHUNK_MAX_LIMIT ||
	    ZSTD_isError(bound))
		return bfs_err_set(err, -EINVAL, "zstd: input too large");
	while (wlog < BFS_MANIFEST_WINDOW_LOG && (1ull << wlog) < n + rlen)
		wlog++;
	rc = bfs_buf_reserve(dst, bound);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	/* reset first: the context may hold another call's parameters */
	r = ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, (int)wlog);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_refPrefix(c, ref, rlen);
	if (!ZSTD_isError(r))
		r = ZSTD_compress2(c, dst->data + dst->len, bound, src, n);
	/* back to plain parameters for bfs_zstd_compress's callers */
	ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
	if (ZSTD_isError(r))
		return bfs_err_set(err, -EIO, "zstd compression failed: %s",
				   ZSTD_getErrorName(r));
	dst->len += r;
	return 0;
}

/*
 * Decompress exactly one zstd frame src[0..srclen) into dst[0..dstlen).
 * The frame must record its content size, that size must be dstlen, and
 * the frame must end exactly at srclen; all of this is checked before
 * anything is decoded (sizes in untrusted input may lie).  Skippable
 * frames are rejected.  Returns 0, -EUCLEAN (corrupt or mismatched) or
 * -ENOMEM.  Thread-safe.
 */
int bfs_zstd_decompress(void *dst, size_t dstlen, const void *src,
			size_t srclen, struct bfs_err *err)
{
	return bfs_zstd_decompress_ref(dst, dstlen, src, srclen, NULL, 0, err);
}

/* The same with ref[0..rlen) as raw prefix (ref NULL: none); see
 * pack.h. */
int bfs_zstd_decompress_ref(void *dst, size_t dstlen, const void *src,
			    size_t srclen, const void *ref, size_t rlen,
			    struct bfs_err *err)
{
	unsigned long long fcs;
	ZSTD_DCtx *d;
	size_t r;

	if (!src || srclen < 4 || bfs_get_le32(src) != ZSTD_MAGICNUMBER)
		return bfs_err_set(err, -EUCLEAN, "not a zstd frame");
	fcs = ZSTD_getFrameContentSize(src, srclen);
	if (fcs == ZSTD_CONTENTSIZE_ERROR)
		return bfs_err_set(err, -EUCLEAN, "corrupt zstd frame header");
	if (fcs == ZSTD_CONTENTSIZE_UNKNOWN)
		return bfs_err_set(err, -EUCLEAN,
				   "zstd frame without content size");
	if (fcs != dstlen)
		return bfs_err_set(err, -EUCLEAN,
				   "zstd frame holds %llu bytes, expected %zu",
				   fcs, dstlen);
	r = ZSTD_findFrameCompressedSize(src, srclen);
	if (ZSTD_isError(r))
		return bfs_err_set(err, -EUCLEAN, "corrupt zstd frame: %s",
				   ZSTD_getErrorName(r));
	if (r != srclen)
		return bfs_err_set(err, -EUCLEAN,
				   "zstd frame is %zu bytes, %zu given", r,
				   srclen);
	d = thread_dctx();
	if (!d)
		return bfs_err_set(err, -ENOMEM, "cannot create zstd context");
	/* A prefix is used by the next frame only (ZSTD_use_once), so it is
	 * set after every check that could return early. */
	if (ref) {
		r = ZSTD_DCtx_refPrefix(d, ref, rlen);
		if (ZSTD_isError(r))
			return bfs_err_set(err, -ENOMEM, "zstd prefix: %s",
					   ZSTD_getErrorName(r));
	}
	r = ZSTD_decompressDCtx(d, dstlen ? dst : NULL, dstlen, src, srclen);
	if (ZSTD_isError(r)) {
		/* A failed frame may leave the context mid-stream. */
		ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
		return bfs_err_set(err, -EUCLEAN, "corrupt zstd frame: %s",
				   ZSTD_getErrorName(r));
	}
	if (r != dstlen)
		return bfs_err_set(
		    err, -EUCLEAN,
		    "zstd frame decoded to %zu bytes, expected %zu", r, dstlen);
	return 0;
}

/* ---- pack builder ------------------------------------------------------ */

struct bfs_pack_builder {
	struct bfs_buf data; /* magic + frames so far */
	struct bfs_pack_entry *entries;
	/* bases[i]: entry i's base ids when it is a delta (else n 0): the
	 * index object records them, and a sealed frame does not show them */
	struct bfs_bases *bases;
	size_t count, cap;
	const struct bfs_crypt *key; /* borrowed; NULL: a plain pack */
};

void bfs_pack_builder_set_key(struct bfs_pack_builder *b,
			      const struct bfs_crypt *key)
{
	b->key = key;
}

/* Returns a new, empty builder, or NULL on ENOMEM.  Free with
 * bfs_pack_builder_free. */
struct bfs_pack_builder *bfs_pack_builder_new(void)
{
	struct bfs_pack_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	if (bfs_buf_append(&b->data, BFS_PACK_MAGIC, BFS_PACK_HEADER)) {
		free(b);
		return NULL;
	}
	return b;
}

/* Frees the builder and an unfinished pack.  NULL ok. */
void bfs_pack_builder_free(struct bfs_pack_builder *b)
{
	if (!b)
		return;
	bfs_buf_free(&b->data);
	free(b->entries);
	free(b->bases);
	free(b);
}

/* Bytes the finished pack would have if finished now. */
static uint64_t finished_size(const struct bfs_pack_builder *b,
			      uint64_t extra_frame, size_t extra_entries)
{
	return (uint64_t)b->data.len + extra_frame +
	       (uint64_t)(b->count + extra_entries) * BFS_PACK_INDEX_ENTRY +
	       (b->key ? BFS_CRYPT_OVERHEAD : 0) + BFS_PACK_FOOTER;
}

/*
 * Append one compressed frame (clen > 0 bytes, decoding to len bytes whose
 * SHA-256 is hash).  *offset (may be NULL) receives the frame's offset in
 * the pack.  The frame is copied.  Returns 0, -EINVAL (clen 0, len over
 * BFS_CHUNK_MAX_LIMIT), -EFBIG (the pack would exceed BFS_PACK_MAX_SIZE,
 * which readers reject: finish this pack first) or -ENOMEM.
 */
int bfs_pack_builder_add(struct bfs_pack_builder *b,
			 const uint8_t hash[BFS_HASH_LEN], const void *frame,
			 uint32_t clen, uint32_t len, uint64_t *offset)
{
	return bfs_pack_builder_add_typed(b, hash, BFS_BLOB_DATA, frame, clen,
					  len, offset);
}

/* nbases ids at bases: 1 for type 2, 2..BFS_DELTA_MAX_BASES distinct
 * ones, none the blob itself, for type 3, 0 otherwise. */
static bool bases_valid(const uint8_t hash[BFS_HASH_LEN], int type,
			size_t nbases, const uint8_t (*bases)[BFS_HASH_LEN],
			uint32_t clen)
{
	size_t i, j;

	if (type != BFS_BLOB_DELTA && type != BFS_BLOB_DELTA2)
		return nbases == 0;
	if (!bases || (type == BFS_BLOB_DELTA && nbases != 1) ||
	    (type == BFS_BLOB_DELTA2 &&
	     (nbases < 2 || nbases > BFS_DELTA_MAX_BASES)))
		return false;
	/* the frame holds the base ids (plain) or more (sealed) */
	if (clen <
	    (type == BFS_BLOB_DELTA ? BFS_HASH_LEN : BFS_DELTA2_HEAD(nbases)) +
		4)
		return false;
	for (i = 0; i < nbases; i++) {
		if (!memcmp(bases[i], hash, BFS_HASH_LEN))
			return false;
		for (j = 0; j < i; j++)
			if (!memcmp(bases[i], bases[j], BFS_HASH_LEN))
				return false;
	}
	return true;
}

static int add_entry(struct bfs_pack_builder *b,
		     const uint8_t hash[BFS_HASH_LEN], int type, size_t nbases,
		     const uint8_t (*bases)[BFS_HASH_LEN], const void *frame,
		     uint32_t clen, uint32_t len, uint64_t *offset)
{
	struct bfs_pack_entry *e;
	int rc;

	if (clen == 0 || len > BFS_CHUNK_MAX_LIMIT ||
	    (type != BFS_BLOB_DATA && type != BFS_BLOB_TREE &&
	     type != BFS_BLOB_DELTA && type != BFS_BLOB_DELTA2) ||
	    !bases_valid(hash, type, nbases, bases, clen))
		return -EINVAL;
	if (finished_size(b, clen, 1) > BFS_PACK_MAX_SIZE)
		return -EFBIG;
	if (b->count == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		struct bfs_bases *nb;

		e = realloc(b->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		b->entries = e;
		nb = realloc(b->bases, cap * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		b->bases = nb;
		b->cap = cap;
	}
	rc = bfs_buf_append(&b->data, frame, clen);
	if (rc)
		return rc;
	e = &b->entries[b->count];
	memset(&b->bases[b->count], 0, sizeof(b->bases[b->count]));
	b->bases[b->count].n = (uint8_t)nbases;
	if (nbases)
		memcpy(b->bases[b->count].id, bases, nbases * BFS_HASH_LEN);
	b->count++;
	memcpy(e->hash, hash, BFS_HASH_LEN);
	e->offset = b->data.len - clen;
	e->clen = clen;
	e->len = len;
	e->type = (uint8_t)type;
	if (offset)
		*offset = e->offset;
	return 0;
}

/* The same for a blob of any type (BFS_BLOB_DATA, BFS_BLOB_TREE, or
 * BFS_BLOB_DELTA / BFS_BLOB_DELTA2: frame is a plain delta frame whose
 * head names the bases; a sealed delta frame needs
 * bfs_pack_builder_add_delta_n: -EINVAL). */
int bfs_pack_builder_add_typed(struct bfs_pack_builder *b,
			       const uint8_t hash[BFS_HASH_LEN], int type,
			       const void *frame, uint32_t clen, uint32_t len,
			       uint64_t *offset)
{
	const uint8_t *f = frame;
	size_t n = 0;

	if (type == BFS_BLOB_DELTA || type == BFS_BLOB_DELTA2) {
		if (b->key || clen < BFS_DELTA2_HEAD(0))
			return -EINVAL;
		/* the head of a plain frame (FORMAT.md 18, 18.2); add_entry
		 * checks the ids and the length */
		if (type == BFS_BLOB_DELTA) {
			n = 1;
		} else {
			if (bfs_get_le32(f) != BFS_DELTA2_MAGIC_LE)
				return -EINVAL;
			n = f[4];
			f += BFS_DELTA2_HEAD(0);
		}
	}
	return add_entry(b, hash, type, n, (const uint8_t(*)[BFS_HASH_LEN])f,
			 frame, clen, len, offset);
}

/* A delta frame (plain or sealed) whose base is base; see pack.h. */
int bfs_pack_builder_add_delta(struct bfs_pack_builder *b,
			       const uint8_t hash[BFS_HASH_LEN],
			       const uint8_t base[BFS_HASH_LEN],
			       const void *frame, uint32_t clen, uint32_t len,
			       uint64_t *offset)
{
	return bfs_pack_builder_add_delta_n(
	    b, hash, 1, (const uint8_t(*)[32])base, frame, clen, len, offset);
}

/* A delta frame on nbases bases; see pack.h. */
int bfs_pack_builder_add_delta_n(struct bfs_pack_builder *b,
				 const uint8_t hash[BFS_HASH_LEN],
				 size_t nbases,
				 const uint8_t (*bases)[BFS_HASH_LEN],
				 const void *frame, uint32_t clen, uint32_t len,
				 uint64_t *offset)
{
	return add_entry(b, hash,
			 nbases == 1 ? BFS_BLOB_DELTA : BFS_BLOB_DELTA2, nbases,
			 bases, frame, clen, len, offset);
}

/* Current size of the frame area plus magic (what finish adds is
 * count * 56 + 56 bytes). */
size_t bfs_pack_builder_size(const struct bfs_pack_builder *b)
{
	return b->data.len;
}

/* Number of frames added since the last finish. */
size_t bfs_pack_builder_count(const struct bfs_pack_builder *b)
{
	return b->count;
}

/*
 * Append the index and the footer, compute the pack id (SHA-256 of the
 * whole object), move the bytes to *out (caller frees out->data; *out is
 * overwritten, not appended to) and reset the builder.  Returns 0 or
 * -ENOMEM (the builder is unchanged then).
 */
int bfs_pack_builder_finish(struct bfs_pack_builder *b, struct bfs_buf *out,
			    uint8_t id[BFS_HASH_LEN])
{
	size_t index_off = b->data.len, i;
	size_t index_len = b->count * BFS_PACK_INDEX_ENTRY;
	size_t stored_len = index_len + (b->key ? BFS_CRYPT_OVERHEAD : 0);
	struct bfs_buf next = {0}, plain = {0}, *ib = &b->data;
	uint8_t *p;
	int rc;

	/* Allocate everything first so that failure changes nothing. */
	rc = bfs_buf_append(&next, BFS_PACK_MAGIC, BFS_PACK_HEADER);
	if (rc)
		return rc;
	rc = bfs_buf_reserve(&b->data, stored_len + BFS_PACK_FOOTER);
	if (!rc && b->key) {
		ib = &plain; /* the index, sealed below */
		rc = bfs_buf_reserve(&plain, index_len + 1);
	}
	if (rc) {
		bfs_buf_free(&next);
		return rc;
	}
	p = ib->data + ib->len;
	for (i = 0; i < b->count; i++, p += BFS_PACK_INDEX_ENTRY) {
		const struct bfs_pack_entry *e = &b->entries[i];

		memcpy(p + BFS_PACK_ENTRY_HASH, e->hash, BFS_HASH_LEN);
		bfs_put_le64(p + BFS_PACK_ENTRY_OFFSET, e->offset);
		bfs_put_le32(p + BFS_PACK_ENTRY_CLEN, e->clen);
		bfs_put_le32(p + BFS_PACK_ENTRY_LEN, e->len);
		p[BFS_PACK_ENTRY_TYPE] = e->type;
		memset(p + BFS_PACK_ENTRY_TYPE + 1, 0,
		       BFS_PACK_INDEX_ENTRY - BFS_PACK_ENTRY_TYPE - 1);
	}
	if (b->key) {
		/* sealed into the reserved room: b->data does not move */
		rc = bfs_crypt_seal(b->key, BFS_AAD_PACK_INDEX,
				    sizeof(BFS_AAD_PACK_INDEX) - 1, plain.data,
				    index_len, &b->data, NULL);
		bfs_buf_free(&plain);
		if (rc) {
			b->data.len = index_off;
			bfs_buf_free(&next);
			return rc;
		}
		memcpy(b->data.data, BFS_PACK_SEALED_MAGIC, BFS_PACK_MAGIC_LEN);
	}
	p = b->data.data + index_off + stored_len;
	bfs_put_le64(p + BFS_PACK_FOOT_INDEX, index_off);
	bfs_put_le32(p + BFS_PACK_FOOT_COUNT, (uint32_t)b->count);
	bfs_put_le32(p + BFS_PACK_FOOT_RESERVED, 0);
	bfs_sha256(p + BFS_PACK_FOOT_SHA256, b->data.data + index_off,
		   stored_len);
	memcpy(p + BFS_PACK_FOOT_MAGIC, BFS_PACK_END_MAGIC, BFS_PACK_MAGIC_LEN);
	b->data.len = index_off + stored_len + BFS_PACK_FOOTER;
	bfs_sha256(id, b->data.data, b->data.len);

	*out = b->data;
	b->data = next;
	b->count = 0;
	return 0;
}

/* ---- pack parser (untrusted input) ------------------------------------- */

/*
 * Validate a whole pack and return its index.  Checks, in order: size
 * bounds, both magics, the footer (reserved 0, count consistent with the
 * index position and the object size), the SHA-256 of the index, and
 * that the entries tile the frame area: the first frame starts right
 * after the magic, each next one where the previous ended, the last ends
 * at the index; every clen > 0 and every len <= BFS_CHUNK_MAX_LIMIT.
 * Frames themselves are not decoded (see bfs_zstd_decompress).
 * On success *entries (malloc'ed, caller frees; NULL when count is 0)
 * and *count are set.  Returns 0, -EUCLEAN with a message, or -ENOMEM.
 * Thread-safe.
 */
int bfs_pack_parse_tail_key(const struct bfs_crypt *key, const uint8_t *head,
			    uint64_t len, const uint8_t *tail, size_t tail_len,
			    struct bfs_pack_entry **entries, size_t *count,
			    uint64_t *need, struct bfs_err *err)
{
	const uint8_t *foot, *p;
	uint8_t sum[BFS_HASH_LEN];
	struct bfs_pack_entry *ents = NULL;
	struct bfs_buf plain = {0};
	uint64_t index_off, index_len, expect, tail_off, over = 0;
	size_t esize;
	uint32_t n, i;
	int rc;

	*entries = NULL;
	*count = 0;
	if (need)
		*need = 0;
	if (len < BFS_PACK_MIN_SIZE)
		return bfs_err_set(err, -EUCLEAN, "pack too short (%llu bytes)",
				   (unsigned long long)len);
	if (len > BFS_PACK_MAX_SIZE)
		return bfs_err_set(err, -EUCLEAN, "pack too large (%llu bytes)",
				   (unsigned long long)len);
	if (!tail || tail_len < BFS_PACK_FOOTER || tail_len > len)
		return bfs_err_set(err, -EINVAL, "pack tail of %zu bytes",
				   tail_len);
	tail_off = len - tail_len;
	foot = tail + tail_len - BFS_PACK_FOOTER;
	if (memcmp(foot + BFS_PACK_FOOT_MAGIC, BFS_PACK_END_MAGIC,
		   BFS_PACK_MAGIC_LEN) != 0)
		return bfs_err_set(err, -EUCLEAN, "bad pack end magic");
	index_off = bfs_get_le64(foot + BFS_PACK_FOOT_INDEX);
	n = bfs_get_le32(foot + BFS_PACK_FOOT_COUNT);
	if (bfs_get_le32(foot + BFS_PACK_FOOT_RESERVED) != 0)
		return bfs_err_set(err, -EUCLEAN,
				   "pack footer: reserved field not zero");
	if (head && memcmp(head, BFS_PACK_MAGIC, BFS_PACK_MAGIC_LEN) == 0)
		esize = BFS_PACK_INDEX_ENTRY;
	else if (head &&
		 memcmp(head, BFS_PACK_SEALED_MAGIC, BFS_PACK_MAGIC_LEN) == 0)
		esize = BFS_PACK_INDEX_ENTRY, over = BFS_CRYPT_OVERHEAD;
	else if (head && memcmp(head, BFS_PACK1_MAGIC, BFS_PACK_MAGIC_LEN) == 0)
		esize = BFS_PACK1_INDEX_ENTRY;
	else if (head)
		return bfs_err_set(err, -EUCLEAN, "bad pack magic");
	else if (index_off <= len - BFS_PACK_FOOTER &&
		 (uint64_t)n * BFS_PACK1_INDEX_ENTRY ==
		     len - BFS_PACK_FOOTER - index_off &&
		 n)
		esize = BFS_PACK1_INDEX_ENTRY; /* the geometry says which */
	else if (index_off <= len - BFS_PACK_FOOTER &&
		 (uint64_t)n * BFS_PACK_INDEX_ENTRY + BFS_CRYPT_OVERHEAD ==
		     len - BFS_PACK_FOOTER - index_off)
		esize = BFS_PACK_INDEX_ENTRY, over = BFS_CRYPT_OVERHEAD;
	else
		esize = BFS_PACK_INDEX_ENTRY;
	if (over && !key)
		return bfs_err_set(err, -EUCLEAN,
				   "pack is sealed (an encrypted repository's) "
				   "and no key was given");
	/* len <= 256 MiB and n < 2^32, so none of this overflows. */
	index_len = (uint64_t)n * esize + over;
	if (n > BFS_PACK_MAX_ENTRIES || index_off < BFS_PACK_HEADER ||
	    index_off > len - BFS_PACK_FOOTER ||
	    index_len != len - BFS_PACK_FOOTER - index_off)
		return bfs_err_set(err, -EUCLEAN,
				   "pack footer: index at %llu with %u entries "
				   "does not fit a %llu-byte pack",
				   (unsigned long long)index_off, n,
				   (unsigned long long)len);
	if (index_off < tail_off) {
		if (need)
			*need = len - index_off;
		return bfs_err_set(err, -ENODATA,
				   "pack index starts before the %zu bytes "
				   "read",
				   tail_len);
	}
	bfs_sha256(sum, tail + (index_off - tail_off), (size_t)index_len);
	if (memcmp(sum, foot + BFS_PACK_FOOT_SHA256, BFS_HASH_LEN) != 0)
		return bfs_err_set(err, -EUCLEAN,
				   "pack index checksum mismatch");
	p = tail + (index_off - tail_off);
	if (over) {
		rc = bfs_crypt_open(key, BFS_AAD_PACK_INDEX,
				    sizeof(BFS_AAD_PACK_INDEX) - 1, p,
				    (size_t)index_len, &plain, err);
		if (rc) {
			bfs_buf_free(&plain);
			return bfs_err_prefix(
			    err, rc == -ENOMEM ? rc : -EBADMSG, "pack index");
		}
		p = plain.data;
	}
	if (n) {
		ents = malloc((size_t)n * sizeof(*ents));
		if (!ents) {
			bfs_buf_free(&plain);
			return bfs_err_set(err, -ENOMEM, "out of memory");
		}
	}
	expect = BFS_PACK_HEADER;
	for (i = 0; i < n; i++, p += esize) {
		struct bfs_pack_entry *e = &ents[i];
		size_t k;

		memcpy(e->hash, p + BFS_PACK_ENTRY_HASH, BFS_HASH_LEN);
		e->offset = bfs_get_le64(p + BFS_PACK_ENTRY_OFFSET);
		e->clen = bfs_get_le32(p + BFS_PACK_ENTRY_CLEN);
		e->len = bfs_get_le32(p + BFS_PACK_ENTRY_LEN);
		e->type = BFS_BLOB_DATA;
		if (esize == BFS_PACK_INDEX_ENTRY) {
			e->type = p[BFS_PACK_ENTRY_TYPE];
			for (k = BFS_PACK_ENTRY_TYPE + 1; k < esize; k++)
				if (p[k])
					break;
			if (k < esize || (e->type != BFS_BLOB_DATA &&
					  e->type != BFS_BLOB_TREE &&
					  e->type != BFS_BLOB_DELTA &&
					  e->type != BFS_BLOB_DELTA2)) {
				bfs_err_set(
				    err, -EUCLEAN,
				    "pack index entry %u: unknown blob "
				    "type %u or reserved bytes not zero",
				    i, e->type);
				goto out_free;
			}
		}
		if (e->offset != expect || e->clen == 0 ||
		    e->clen > index_off - e->offset) {
			bfs_err_set(err, -EUCLEAN,
				    "pack index entry %u: frame at %llu (+%u) "
				    "outside the frame area or not contiguous",
				    i, (unsigned long long)e->offset, e->clen);
			goto out_free;
		}
		if (e->len > BFS_CHUNK_MAX_LIMIT) {
			bfs_err_set(err, -EUCLEAN,
				    "pack index entry %u: chunk length %u over "
				    "the limit",
				    i, e->len);
			goto out_free;
		}
		expect = e->offset + e->clen;
	}
	if (expect != index_off) {
		bfs_err_set(
		    err, -EUCLEAN,
		    "pack frames end at %llu but the index starts at %llu",
		    (unsigned long long)expect, (unsigned long long)index_off);
		goto out_free;
	}
	*entries = ents;
	*count = n;
	bfs_buf_free(&plain);
	return 0;
out_free:
	bfs_buf_free(&plain);
	free(ents);
	return -EUCLEAN;
}

int bfs_pack_parse_tail(const uint8_t *head, uint64_t len, const uint8_t *tail,
			size_t tail_len, struct bfs_pack_entry **entries,
			size_t *count, uint64_t *need, struct bfs_err *err)
{
	return bfs_pack_parse_tail_key(NULL, head, len, tail, tail_len, entries,
				       count, need, err);
}

int bfs_pack_parse_index(const uint8_t *data, size_t len,
			 struct bfs_pack_entry **entries, size_t *count,
			 struct bfs_err *err)
{
	return bfs_pack_parse_index_key(NULL, data, len, entries, count, err);
}

int bfs_pack_parse_index_key(const struct bfs_crypt *key, const uint8_t *data,
			     size_t len, struct bfs_pack_entry **entries,
			     size_t *count, struct bfs_err *err)
{
	*entries = NULL;
	*count = 0;
	if (!data || len < BFS_PACK_MIN_SIZE)
		return bfs_err_set(err, -EUCLEAN, "pack too short (%zu bytes)",
				   len);
	return bfs_pack_parse_tail_key(key, data, len, data, len, entries,
				       count, NULL, err);
}

/* Entries added since the last finish; see pack.h. */
const struct bfs_pack_entry *
bfs_pack_builder_entries(const struct bfs_pack_builder *b)
{
	return b->entries;
}

/* Base ids beside the entries; see pack.h. */
const struct bfs_bases *bfs_pack_builder_bases(const struct bfs_pack_builder *b)
{
	return b->bases;
}
