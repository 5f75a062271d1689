/* delta.c - resemblance sketches, delta frames and the base lookup
 * (delta.h; doc/FORMAT.md section 18). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "chunker.h"
#include "delta.h"
#include "format.h"
#include "pack.h"

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z;

	*state += 0x9e3779b97f4a7c15ull;
	z = *state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The transforms: mul[i] odd, add[i]; derived, not stored, so that the
 * seed in delta.h is the whole definition.  Cheap (24 splitmix64 steps). */
static void transforms(uint64_t mul[BFS_SKETCH_FEATURES],
		       uint64_t add[BFS_SKETCH_FEATURES])
{
	uint64_t st = BFS_SKETCH_SEED;
	int i;

	for (i = 0; i < BFS_SKETCH_FEATURES; i++) {
		mul[i] = splitmix64(&st) | 1;
		add[i] = splitmix64(&st);
	}
}

void bfs_sketch_make(struct bfs_sketch *s, const void *data, size_t n)
{
	bfs_sketch_make_anchors(s, NULL, data, n);
}

void bfs_sketch_make_anchors(struct bfs_sketch *s, struct bfs_anchors *a,
			     const void *data, size_t n)
{
	const uint64_t *gear = bfs_chunker_gear();
	const uint8_t *p = data;
	uint64_t mul[BFS_SKETCH_FEATURES], add[BFS_SKETCH_FEATURES];
	uint64_t feat[BFS_SKETCH_FEATURES] = {0};
	uint64_t h = 0;
	size_t i, samples = 0;
	int k, j;

	transforms(mul, add);
	memset(s, 0, sizeof(*s));
	if (a)
		a->n = 0;
	for (i = 0; i < n; i++) {
		h = (h << 1) + gear[p[i]];
		/* the top bits depend on the last 64 bytes: a window */
		if (i < 63 || (h >> (64 - BFS_SKETCH_SAMPLE_BITS)) != 0)
			continue;
		samples++;
		/* an anchor's position is a sampled one (13 >= 5 bits) */
		if (a && !(h >> (64 - BFS_ANCHOR_BITS)) &&
		    (uint32_t)(h >> 16) && a->n < BFS_ANCHOR_MAX)
			a->v[a->n++] = (uint32_t)(h >> 16);
		for (k = 0; k < BFS_SKETCH_FEATURES; k++) {
			uint64_t f = mul[k] * h + add[k];

			if (f > feat[k])
				feat[k] = f;
		}
	}
	if (samples < BFS_SKETCH_MIN_SAMPLES)
		return;
	for (j = 0; j < BFS_SKETCH_SF; j++) {
		uint64_t st = feat[3 * j];

		/* one splitmix64 step per feature folded in: a fixed,
		 * well-mixed function of the three */
		st = splitmix64(&st) ^ feat[3 * j + 1];
		st = splitmix64(&st) ^ feat[3 * j + 2];
		s->sf[j] = splitmix64(&st);
	}
	s->valid = true;
}

unsigned bfs_sketch_match(const struct bfs_sketch *a,
			  const struct bfs_sketch *b)
{
	unsigned j, n = 0;

	if (!a->valid || !b->valid)
		return 0;
	for (j = 0; j < BFS_SKETCH_SF; j++)
		n += a->sf[j] == b->sf[j];
	return n;
}

void bfs_sketch_fold(struct bfs_sketch *s)
{
	uint64_t any = 0;
	int j;

	for (j = 0; j < BFS_SKETCH_SF; j++)
		any |= s->sf[j] = (uint32_t)s->sf[j];
	/* all zero is the record of "no sketch" (one in 2^128) */
	if (!any)
		s->valid = false;
}

void bfs_sketch_put(uint8_t rec[BFS_SKETCH_REC], const struct bfs_sketch *s)
{
	int j;

	for (j = 0; j < BFS_SKETCH_SF; j++)
		bfs_put_le32(rec + 4 * j, s->valid ? (uint32_t)s->sf[j] : 0);
}

void bfs_sketch_get(struct bfs_sketch *s, const uint8_t rec[BFS_SKETCH_REC])
{
	int j;

	memset(s, 0, sizeof(*s));
	for (j = 0; j < BFS_SKETCH_SF; j++)
		s->sf[j] = bfs_get_le32(rec + 4 * j);
	s->valid = true;
	bfs_sketch_fold(s);
}

int bfs_sketch_blob_check(const void *data, size_t len, uint64_t nchunks,
			  size_t *nrecs, struct bfs_err *err)
{
	size_t n = len / BFS_SKETCH_REC;

	(void)data; /* any record bytes are valid */
	if (len % BFS_SKETCH_REC)
		return bfs_err_set(err, -EUCLEAN,
				   "sketch blob of %zu bytes is not a whole "
				   "number of %d-byte records",
				   len, BFS_SKETCH_REC);
	if (n > BFS_SKETCH_BLOB_RECS || n > nchunks)
		return bfs_err_set(err, -EUCLEAN,
				   "sketch blob has %zu records for a file of "
				   "%llu chunks (at most %d)",
				   n, (unsigned long long)nchunks,
				   BFS_SKETCH_BLOB_RECS);
	*nrecs = n;
	return 0;
}

void bfs_anchors_make(struct bfs_anchors *a, const void *data, size_t n)
{
	const uint64_t *gear = bfs_chunker_gear();
	const uint8_t *p = data;
	uint64_t h = 0;
	size_t i;

	a->n = 0;
	for (i = 0; i < n && a->n < BFS_ANCHOR_MAX; i++) {
		h = (h << 1) + gear[p[i]];
		if (i >= 63 && !(h >> (64 - BFS_ANCHOR_BITS)) &&
		    (uint32_t)(h >> 16))
			a->v[a->n++] = (uint32_t)(h >> 16);
	}
}

void bfs_anchors_put(uint8_t rec[BFS_ANCHOR_REC], const struct bfs_anchors *a)
{
	uint32_t keep[BFS_ANCHOR_REC_N] = {0};
	unsigned i, k, m = 0;

	/* the BFS_ANCHOR_REC_N smallest distinct values, ascending: an
	 * insertion into a sorted array of at most 4 */
	for (i = 0; i < a->n && i < BFS_ANCHOR_MAX; i++) {
		uint32_t v = a->v[i];

		for (k = 0; k < m && keep[k] < v; k++)
			;
		if (k == BFS_ANCHOR_REC_N || (k < m && keep[k] == v))
			continue;
		if (m < BFS_ANCHOR_REC_N)
			m++;
		memmove(&keep[k + 1], &keep[k], (m - 1 - k) * sizeof(keep[0]));
		keep[k] = v;
	}
	for (k = 0; k < BFS_ANCHOR_REC_N; k++)
		bfs_put_le32(rec + 4 * k, keep[k]);
}

unsigned bfs_anchors_get(uint32_t out[BFS_ANCHOR_REC_N],
			 const uint8_t rec[BFS_ANCHOR_REC])
{
	unsigned k, i, m = 0;

	for (k = 0; k < BFS_ANCHOR_REC_N; k++) {
		uint32_t v = bfs_get_le32(rec + 4 * k);

		for (i = 0; i < m && out[i] != v; i++)
			;
		if (v && i == m)
			out[m++] = v;
	}
	return m;
}

int bfs_anchor_blob_check(const void *data, size_t len, uint64_t nchunks,
			  size_t *nrecs, struct bfs_err *err)
{
	size_t n = len / BFS_ANCHOR_REC;

	(void)data; /* any record bytes are valid */
	if (len % BFS_ANCHOR_REC)
		return bfs_err_set(err, -EUCLEAN,
				   "anchor blob of %zu bytes is not a whole "
				   "number of %d-byte records",
				   len, BFS_ANCHOR_REC);
	if (n > BFS_ANCHOR_BLOB_RECS || n > nchunks)
		return bfs_err_set(err, -EUCLEAN,
				   "anchor blob has %zu records for a file of "
				   "%llu chunks (at most %d)",
				   n, (unsigned long long)nchunks,
				   BFS_ANCHOR_BLOB_RECS);
	*nrecs = n;
	return 0;
}

int bfs_delta_encode(struct bfs_buf *out, const uint8_t base_id[BFS_HASH_LEN],
		     const void *base, size_t blen, const void *data, size_t n,
		     int level, struct bfs_err *err)
{
	size_t start = out->len;
	int rc;

	/* A reader tells a delta frame from a zstd frame by its first four
	 * bytes (FORMAT.md section 18): such a base is not usable. */
	if (!bfs_delta_base_ok(base_id))
		return bfs_err_set(err, -EINVAL,
				   "a blob whose id starts with the zstd magic "
				   "or \"" BFS_DELTA2_MAGIC "\" cannot be the "
				   "base of a one-base delta frame");
	if (blen > BFS_CHUNK_MAX_LIMIT)
		return bfs_err_set(err, -EINVAL, "delta base too large");
	rc = bfs_buf_append(out, base_id, BFS_HASH_LEN);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	rc = bfs_zstd_compress_ref(out, data, n, base, blen, level, err);
	if (rc)
		out->len = start;
	return rc;
}

int bfs_delta_base(const void *frame, size_t flen,
		   uint8_t base_id[BFS_HASH_LEN], struct bfs_err *err)
{
	/* base id, then at least a zstd magic */
	if (!frame || flen < BFS_HASH_LEN + 4)
		return bfs_err_set(err, -EUCLEAN,
				   "delta frame of %zu bytes is too short",
				   flen);
	memcpy(base_id, frame, BFS_HASH_LEN);
	return 0;
}

int bfs_delta_decode(void *out, size_t len, const void *frame, size_t flen,
		     const void *base, size_t blen, struct bfs_err *err)
{
	uint8_t id[BFS_HASH_LEN];
	int rc;

	rc = bfs_delta_base(frame, flen, id, err);
	if (rc)
		return rc;
	if (!base || blen > BFS_CHUNK_MAX_LIMIT)
		return bfs_err_set(err, -EINVAL, "delta frame without base");
	return bfs_zstd_decompress_ref(out, len,
				       (const uint8_t *)frame + BFS_HASH_LEN,
				       flen - BFS_HASH_LEN, base, blen, err);
}

bool bfs_delta_base_ok(const uint8_t id[BFS_HASH_LEN])
{
	uint32_t m = bfs_get_le32(id);

	return m != ZSTD_MAGICNUMBER && m != BFS_DELTA2_MAGIC_LE;
}

/* The concatenation of bases[0..nbases) into one malloc'ed buffer (the
 * zstd prefix).  0 or -EINVAL / -ENOMEM with a message. */
static int concat_bases(size_t nbases, const void *const *bases,
			const size_t *blens, uint8_t **out, size_t *len,
			struct bfs_err *err)
{
	size_t i, total = 0;
	uint8_t *p;

	for (i = 0; i < nbases; i++) {
		if (!bases[i] || blens[i] > BFS_CHUNK_MAX_LIMIT)
			return bfs_err_set(err, -EINVAL,
					   "delta base %zu missing or too "
					   "large",
					   i + 1);
		total += blens[i];
	}
	p = malloc(total ? total : 1);
	if (!p)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	*out = p;
	*len = total;
	for (i = 0; i < nbases; i++) {
		memcpy(p, bases[i], blens[i]);
		p += blens[i];
	}
	return 0;
}

int bfs_delta_encode_n(struct bfs_buf *out, size_t nbases,
		       const uint8_t (*base_ids)[BFS_HASH_LEN],
		       const void *const *bases, const size_t *blens,
		       const void *data, size_t n, int level,
		       struct bfs_err *err)
{
	size_t start = out->len, plen = 0, i, j;
	uint8_t *prefix = NULL, nb = (uint8_t)nbases;
	int rc;

	if (nbases == 1)
		return bfs_delta_encode(out, base_ids[0], bases[0], blens[0],
					data, n, level, err);
	if (nbases < 2 || nbases > BFS_DELTA_MAX_BASES)
		return bfs_err_set(err, -EINVAL,
				   "a delta frame has 1 to %d bases, not %zu",
				   BFS_DELTA_MAX_BASES, nbases);
	for (i = 0; i < nbases; i++)
		for (j = 0; j < i; j++)
			if (!memcmp(base_ids[i], base_ids[j], BFS_HASH_LEN))
				return bfs_err_set(err, -EINVAL,
						   "delta base %zu named twice",
						   j + 1);
	rc = concat_bases(nbases, bases, blens, &prefix, &plen, err);
	if (rc)
		return rc;
	if (bfs_buf_append(out, BFS_DELTA2_MAGIC, 4) ||
	    bfs_buf_append(out, &nb, 1) ||
	    bfs_buf_append(out, base_ids, nbases * BFS_HASH_LEN)) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = bfs_zstd_compress_ref(out, data, n, prefix, plen, level, err);
out:
	if (rc)
		out->len = start;
	free(prefix);
	return rc;
}

int bfs_delta_frame_bases(const void *frame, size_t flen, bool multi,
			  struct bfs_bases *b, size_t *zoff,
			  struct bfs_err *err)
{
	const uint8_t *p = frame;
	size_t n, i, j;

	memset(b, 0, sizeof(*b));
	if (!frame || flen < 4 || !multi ||
	    bfs_get_le32(p) != BFS_DELTA2_MAGIC_LE) {
		if (bfs_delta_base(frame, flen, b->id[0], err))
			return -EUCLEAN;
		b->n = 1;
		*zoff = BFS_HASH_LEN;
		return 0;
	}
	if (flen < BFS_DELTA2_HEAD(0))
		return bfs_err_set(err, -EUCLEAN,
				   "multi-base delta frame of %zu bytes is "
				   "too short",
				   flen);
	n = p[4];
	if (n < 2 || n > BFS_DELTA_MAX_BASES)
		return bfs_err_set(err, -EUCLEAN,
				   "multi-base delta frame names %zu bases "
				   "(2 to %d)",
				   n, BFS_DELTA_MAX_BASES);
	/* the bases, then at least a zstd magic */
	if (flen < BFS_DELTA2_HEAD(n) + 4)
		return bfs_err_set(err, -EUCLEAN,
				   "multi-base delta frame of %zu bytes is "
				   "too short for %zu bases",
				   flen, n);
	for (i = 0; i < n; i++) {
		memcpy(b->id[i], p + BFS_DELTA2_HEAD(i), BFS_HASH_LEN);
		for (j = 0; j < i; j++)
			if (!memcmp(b->id[i], b->id[j], BFS_HASH_LEN)) {
				memset(b, 0, sizeof(*b));
				return bfs_err_set(err, -EUCLEAN,
						   "multi-base delta frame "
						   "names base %zu twice",
						   j + 1);
			}
	}
	b->n = (uint8_t)n;
	*zoff = BFS_DELTA2_HEAD(n);
	return 0;
}

int bfs_delta_decode_n(void *out, size_t len, const void *frame, size_t flen,
		       bool multi, size_t nbases, const void *const *bases,
		       const size_t *blens, struct bfs_err *err)
{
	struct bfs_bases b;
	uint8_t *prefix = NULL;
	size_t zoff, plen = 0;
	int rc;

	rc = bfs_delta_frame_bases(frame, flen, multi, &b, &zoff, err);
	if (rc)
		return rc;
	if (nbases != b.n)
		return bfs_err_set(err, -EINVAL,
				   "delta frame has %u bases, %zu given", b.n,
				   nbases);
	if (b.n == 1)
		return bfs_delta_decode(out, len, frame, flen, bases[0],
					blens[0], err);
	rc = concat_bases(nbases, bases, blens, &prefix, &plen, err);
	if (rc)
		return rc;
	rc = bfs_zstd_decompress_ref(out, len, (const uint8_t *)frame + zoff,
				     flen - zoff, prefix, plen, err);
	free(prefix);
	return rc;
}

/* ---- the base lookup ------------------------------------------------ */

struct sf_rec {
	uint64_t sf;  /* key ... */
	uint32_t pos; /* ... with the super-feature's index */
	uint8_t id[BFS_HASH_LEN];
};
#define SF_KEY (sizeof(uint64_t) + sizeof(uint32_t))

struct chunk_rec {
	uint8_t id[BFS_HASH_LEN]; /* key */
	uint8_t base[BFS_HASH_LEN];
	bool has_base;
};

void bfs_simidx_init(struct bfs_simidx *x)
{
	memset(x, 0, sizeof(*x));
	/* cannot fail without a capacity hint */
	bfs_hmap_init(&x->sf, sizeof(struct sf_rec), SF_KEY, 0, 0);
	bfs_hmap_init(&x->chunk, sizeof(struct chunk_rec), BFS_HASH_LEN, 0,
		      BFS_HMAP_PREHASHED);
}

void bfs_simidx_fini(struct bfs_simidx *x)
{
	bfs_hmap_fini(&x->sf);
	bfs_hmap_fini(&x->chunk);
}

int bfs_simidx_add(struct bfs_simidx *x, const uint8_t id[BFS_HASH_LEN],
		   const struct bfs_sketch *s, const uint8_t *base)
{
	struct chunk_rec c, *cp;
	struct sf_rec r, *rp;
	bool added;
	int rc, j;

	if (!s->valid)
		return 0;
	memset(&c, 0, sizeof(c));
	memcpy(c.id, id, BFS_HASH_LEN);
	if (base) {
		memcpy(c.base, base, BFS_HASH_LEN);
		c.has_base = true;
	}
	rc = bfs_hmap_insert(&x->chunk, &c, (void **)&cp);
	if (rc == -EEXIST)
		return 0;
	if (rc)
		return rc;
	for (j = 0; j < BFS_SKETCH_SF; j++) {
		memset(&r, 0, sizeof(r));
		r.sf = s->sf[j];
		r.pos = (uint32_t)j;
		rc = bfs_hmap_get(&x->sf, &r, (void **)&rp, &added);
		if (rc)
			return rc;
		/* the newest chunk wins: the next version of a file is most
		 * like the latest one */
		memcpy(rp->id, id, BFS_HASH_LEN);
	}
	return 0;
}

bool bfs_simidx_find(const struct bfs_simidx *x, const struct bfs_sketch *s,
		     uint8_t base_id[BFS_HASH_LEN])
{
	const uint8_t *cand[BFS_SKETCH_SF];
	unsigned votes[BFS_SKETCH_SF] = {0};
	const struct chunk_rec *c;
	const struct sf_rec *rp;
	struct sf_rec r;
	int j, k, n = 0, best = -1;

	if (!s->valid)
		return false;
	for (j = 0; j < BFS_SKETCH_SF; j++) {
		memset(&r, 0, sizeof(r));
		r.sf = s->sf[j];
		r.pos = (uint32_t)j;
		rp = bfs_hmap_find(&x->sf, &r);
		if (!rp)
			continue;
		for (k = 0; k < n; k++)
			if (!memcmp(cand[k], rp->id, BFS_HASH_LEN))
				break;
		if (k == n)
			cand[n++] = rp->id;
		votes[k]++;
	}
	for (k = 0; k < n; k++)
		if (best < 0 || votes[k] > votes[best])
			best = k;
	if (best < 0)
		return false;
	c = bfs_hmap_find(&x->chunk, cand[best]);
	if (!c)
		return false;
	/* depth 1: a delta's own base, never the delta */
	memcpy(base_id, c->has_base ? c->base : c->id, BFS_HASH_LEN);
	return true;
}
