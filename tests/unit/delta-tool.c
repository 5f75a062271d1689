/* delta-tool.c - what similarity deltas (delta.h) would store for two
 * days of one dump, for scripts/bench-delta and the chunk-size choice:
 *
 *   delta-tool AVG DAY1 DAY2
 *
 * Chunks both files with the dump profile's shape at average AVG (min
 * AVG/4, max 8 AVG, as the 32 KiB default), stores day 1 as plain zstd
 * frames (level 3), then each chunk of day 2 that day 1 does not hold:
 * as a delta frame on the base the lookup finds among the chunks seen so
 * far (depth 1), kept when worth it (BFS_DELTA_KEEP_PCT), else plain.
 * Then reads day 2 back from those frames (every chunk decoded and
 * checked against its id, bases decoded as the reader would) and day 1.
 * Prints one JSON object: bytes and chunk counts of both days, day-1
 * stored bytes, day-2 new bytes as plain frames and with deltas, the
 * number of deltas, read speeds in MB/s.  Exit 0, or 1 with a message.
 *
 * It also models a delta frame with TWO bases, which the format does not
 * have (one base per frame, FORMAT.md section 18), to size what one would
 * buy ("two_bases_*" keys): each new chunk of day 2 against day 1 only,
 * as one frame of the sketch's base (or, without one, the day-1 chunk
 * sharing the most anchors with it) + the day-1 chunk sharing the most
 * anchors with it besides that one, in day-1 order as the prefix,
 * kept under the same rule; "one_base_*" is the same pass with the
 * sketch's base alone.  Anchors: the gear hash's values where its top
 * ANCHOR_BITS bits are zero (1 position in 8192, ~4 per 32 KiB chunk),
 * 32 bits of each kept, as a stored per-chunk record of 16 bytes could.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/chunker.h"
#include "src/delta.h"
#include "src/hmap.h"
#include "src/pack.h"

struct blob {
	uint8_t id[BFS_HASH_LEN]; /* key */
	const uint8_t *plain;	  /* in the mapped file */
	uint32_t len;
	size_t frame; /* offset in the frame store */
	uint32_t flen;
	bool delta;
};

struct day {
	const uint8_t *data;
	size_t len;
	size_t nchunks;
	struct bfs_buf ids; /* the chunk ids in order */
};

#define ANCHOR_BITS 13
#define ANCHOR_MAX 256 /* per chunk: 8 MiB max chunk / 8192, x 1/4 */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int map_file(const char *path, struct day *d)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "delta-tool: cannot open '%s'\n", path);
		return -1;
	}
	d->len = (size_t)st.st_size;
	d->data = d->len ? mmap(NULL, d->len, PROT_READ, MAP_PRIVATE, fd, 0)
			 : (const uint8_t *)"";
	close(fd);
	return d->data == MAP_FAILED ? -1 : 0;
}

/* Store the chunks of d that m does not hold yet; deltas when x is not
 * NULL.  Adds to *plain the plain frames' bytes of the new chunks and to
 * *stored what was stored. */
static int store_day(const struct bfs_chunker_params *p, struct day *d,
		     struct bfs_hmap *m, struct bfs_simidx *x, bool deltas,
		     struct bfs_buf *fs, uint64_t *plain, uint64_t *stored,
		     uint64_t *ndelta)
{
	struct bfs_buf z = {0}, dz = {0};
	struct bfs_err err = {""};
	size_t off = 0, n;
	int rc = 0;

	while (!rc && off < d->len) {
		struct blob b = {0}, *bp, *base;
		struct bfs_sketch sk;
		uint8_t bid[BFS_HASH_LEN];

		n = bfs_chunker_cut(p, d->data + off, d->len - off, true);
		bfs_sha256(b.id, d->data + off, n);
		b.plain = d->data + off;
		b.len = (uint32_t)n;
		off += n;
		d->nchunks++;
		if (bfs_buf_append(&d->ids, b.id, BFS_HASH_LEN))
			return -ENOMEM;
		if (bfs_hmap_find(m, b.id))
			continue;
		z.len = 0;
		rc = bfs_zstd_compress(&z, b.plain, n, 3, &err);
		if (rc)
			break;
		*plain += z.len;
		bfs_sketch_make(&sk, b.plain, n);
		b.frame = fs->len;
		dz.len = 0;
		if (deltas && bfs_simidx_find(x, &sk, bid) &&
		    (base = bfs_hmap_find(m, bid))) {
			rc = bfs_delta_encode(&dz, bid, base->plain, base->len,
					      b.plain, n, 3, &err);
			if (rc)
				break;
		}
		if (dz.len && bfs_delta_worth(dz.len - BFS_HASH_LEN, z.len)) {
			b.delta = true;
			rc = bfs_buf_append(fs, dz.data, dz.len);
			b.flen = (uint32_t)dz.len;
			if (!rc)
				rc = bfs_simidx_add(x, b.id, &sk, bid);
			(*ndelta)++;
		} else {
			rc = bfs_buf_append(fs, z.data, z.len);
			b.flen = (uint32_t)z.len;
			if (!rc)
				rc = bfs_simidx_add(x, b.id, &sk, NULL);
		}
		*stored += b.flen;
		if (!rc)
			rc = bfs_hmap_insert(m, &b, (void **)&bp);
	}
	if (rc)
		fprintf(stderr, "delta-tool: %s\n", bfs_err_str(&err, rc));
	bfs_buf_free(&z);
	bfs_buf_free(&dz);
	return rc;
}

/* Decode every chunk of d from the frame store, checking ids; MB/s. */
static double read_day(const struct day *d, const struct bfs_hmap *m,
		       const struct bfs_buf *fs)
{
	uint8_t *out = malloc(BFS_CHUNK_MAX_LIMIT),
		*bout = malloc(BFS_CHUNK_MAX_LIMIT), id[BFS_HASH_LEN];
	struct bfs_err err = {""};
	double t0 = now();
	size_t i;
	int rc = 0;

	for (i = 0; !rc && out && bout && i < d->nchunks; i++) {
		const struct blob *b =
		    bfs_hmap_find(m, d->ids.data + i * BFS_HASH_LEN);
		const struct blob *base;

		if (!b->delta) {
			rc = bfs_zstd_decompress(
			    out, b->len, fs->data + b->frame, b->flen, &err);
		} else {
			base = bfs_hmap_find(m, fs->data + b->frame);
			rc = base ? bfs_zstd_decompress(bout, base->len,
							fs->data + base->frame,
							base->flen, &err)
				  : -ENOENT;
			if (!rc)
				rc = bfs_delta_decode(
				    out, b->len, fs->data + b->frame, b->flen,
				    bout, base->len, &err);
		}
		if (!rc) {
			bfs_sha256(id, out, b->len);
			rc = memcmp(id, b->id, BFS_HASH_LEN) ? -EBADMSG : 0;
		}
	}
	free(out);
	free(bout);
	if (rc) {
		fprintf(stderr, "delta-tool: read back failed: %d %s\n", rc,
			err.msg);
		return -1;
	}
	return d->len / 1e6 / (now() - t0);
}

/* anchors of one chunk: 32-bit keys of the sampled gear hash values */
static size_t anchors(const uint8_t *p, size_t n, uint32_t *out)
{
	const uint64_t *gear = bfs_chunker_gear();
	uint64_t h = 0;
	size_t i, k = 0;

	for (i = 0; i < n && k < ANCHOR_MAX; i++) {
		h = (h << 1) + gear[p[i]];
		if (i >= 63 && !(h >> (64 - ANCHOR_BITS)))
			out[k++] = (uint32_t)(h >> 16);
	}
	return k;
}

struct anchor {
	uint32_t key;	/* key */
	uint32_t chunk; /* day-1 chunk index; the last one with the key */
};

struct model {
	uint64_t one, two, two_n; /* bytes stored; frames with two bases */
};

/* The day-1 chunk other than skip with the most anchors in common with
 * (p, n), or -1. */
static long best_voted(const struct bfs_hmap *ax, const uint8_t *p, size_t n,
		       long skip)
{
	uint32_t a[ANCHOR_MAX], v[ANCHOR_MAX];
	size_t k = anchors(p, n, a), nv = 0, i, j, run, best_run = 0;
	long best = -1;

	for (i = 0; i < k; i++) {
		const struct anchor *e = bfs_hmap_find(ax, &a[i]);

		if (e && (long)e->chunk != skip)
			v[nv++] = e->chunk;
	}
	/* the most frequent value (nv <= 256: quadratic is fine) */
	for (i = 0; i < nv; i++) {
		for (run = 0, j = 0; j < nv; j++)
			run += v[j] == v[i];
		if (run > best_run || (run == best_run && v[i] < best)) {
			best_run = run;
			best = v[i];
		}
	}
	return best;
}

struct c1rec {
	uint8_t id[BFS_HASH_LEN]; /* key */
	uint32_t idx;		  /* in day 1's chunk order */
};

/* The two-base model of the header comment: day 1 in d1 (its chunk ids
 * in d1->ids, their blobs in m, their sketches in x), day 2 chunked
 * again; each distinct new chunk counted once. */
static int model_two_bases(const struct bfs_chunker_params *p,
			   const struct day *d1, const struct day *d2,
			   const struct bfs_hmap *m, const struct bfs_simidx *x,
			   struct model *r)
{
	const struct blob **c1 =
	    calloc(d1->nchunks ? d1->nchunks : 1, sizeof(*c1));
	struct bfs_buf z = {0}, dz = {0}, pre = {0};
	struct bfs_err err = {""};
	struct bfs_hmap ax, ix;
	uint32_t a[ANCHOR_MAX];
	size_t off = 0, n, i, k;
	int rc = c1 ? 0 : -ENOMEM;

	bfs_hmap_init(&ax, sizeof(struct anchor), sizeof(uint32_t), 0, 0);
	bfs_hmap_init(&ix, sizeof(struct c1rec), BFS_HASH_LEN, 0,
		      BFS_HMAP_PREHASHED);
	for (i = 0; !rc && i < d1->nchunks; i++) {
		struct c1rec cr = {.idx = (uint32_t)i}, *crp;

		memcpy(cr.id, d1->ids.data + i * BFS_HASH_LEN, BFS_HASH_LEN);
		c1[i] = bfs_hmap_find(m, cr.id);
		/* a chunk seen before in day 1 keeps its first index */
		rc = bfs_hmap_insert(&ix, &cr, (void **)&crp);
		if (rc == -EEXIST)
			rc = 0;
		k = anchors(c1[i]->plain, c1[i]->len, a);
		while (!rc && k--) {
			struct anchor *ep;
			bool added;

			rc = bfs_hmap_get(&ax, &a[k], (void **)&ep, &added);
			if (!rc)
				ep->chunk = (uint32_t)i;
		}
	}
	while (!rc && off < d2->len) {
		const uint8_t *c = d2->data + off;
		const struct c1rec *sr = NULL;
		struct c1rec nr = {.idx = UINT32_MAX}, *nrp;
		struct bfs_sketch sk;
		uint8_t bid[BFS_HASH_LEN];
		size_t one, two;
		long s = -1, v, lo, hi;

		n = bfs_chunker_cut(p, c, d2->len - off, true);
		off += n;
		bfs_sha256(nr.id, c, n);
		if (bfs_hmap_find(&ix, nr.id))
			continue; /* in day 1, or seen before in day 2 */
		rc = bfs_hmap_insert(&ix, &nr, (void **)&nrp);
		z.len = 0;
		if (!rc)
			rc = bfs_zstd_compress(&z, c, n, 3, &err);
		if (rc)
			break;
		one = two = z.len;
		bfs_sketch_make(&sk, c, n);
		if (bfs_simidx_find(x, &sk, bid))
			sr = bfs_hmap_find(&ix, bid);
		if (sr && sr->idx != UINT32_MAX) {
			s = sr->idx;
			dz.len = 0;
			rc = bfs_delta_encode(&dz, bid, c1[s]->plain,
					      c1[s]->len, c, n, 3, &err);
			if (rc)
				break;
			if (bfs_delta_worth(dz.len - BFS_HASH_LEN, z.len))
				one = two = dz.len;
		}
		v = best_voted(&ax, c, n, s);
		if (s < 0 && v >= 0)
			s = best_voted(&ax, c, n, v); /* two by anchors */
		if (v >= 0) {
			lo = s >= 0 && s < v ? s : v;
			hi = lo == v ? s : v;
			pre.len = 0;
			rc = bfs_buf_append(&pre, c1[lo]->plain, c1[lo]->len);
			if (!rc && hi >= 0)
				rc = bfs_buf_append(&pre, c1[hi]->plain,
						    c1[hi]->len);
			dz.len = 0;
			if (!rc)
				rc = bfs_delta_encode(&dz, c1[v]->id, pre.data,
						      pre.len, c, n, 3, &err);
			if (rc)
				break;
			/* a second id and a count byte when there are two */
			k = dz.len + (s >= 0 ? 1 + BFS_HASH_LEN : 0);
			if (k < two &&
			    bfs_delta_worth(dz.len - BFS_HASH_LEN, z.len)) {
				two = k;
				r->two_n += s >= 0;
			}
		}
		r->one += one;
		r->two += two;
	}
	if (rc)
		fprintf(stderr, "delta-tool: model: %s\n",
			bfs_err_str(&err, rc));
	bfs_hmap_fini(&ax);
	bfs_hmap_fini(&ix);
	bfs_buf_free(&z);
	bfs_buf_free(&dz);
	bfs_buf_free(&pre);
	free(c1);
	return rc;
}

int main(int argc, char **argv)
{
	struct bfs_chunker_params p;
	struct day d1 = {0}, d2 = {0};
	struct bfs_hmap m;
	struct bfs_simidx x;
	struct bfs_buf fs = {0};
	uint64_t p1 = 0, s1 = 0, p2 = 0, s2 = 0, nd = 0, nd1 = 0;
	struct model mo = {0};
	unsigned long avg;
	double r1, r2;

	if (argc != 4 || (avg = strtoul(argv[1], NULL, 0)) < 4096) {
		fprintf(stderr, "usage: delta-tool AVG DAY1 DAY2\n");
		return 1;
	}
	p.avg = (uint32_t)avg;
	p.min = p.avg / 4;
	p.max = p.avg * 8;
	if (!bfs_chunker_params_valid(&p) || map_file(argv[2], &d1) ||
	    map_file(argv[3], &d2))
		return 1;
	bfs_hmap_init(&m, sizeof(struct blob), BFS_HASH_LEN, 0,
		      BFS_HMAP_PREHASHED);
	bfs_simidx_init(&x);
	/* day 1 whole, as a first backup: no earlier version to delta on */
	if (store_day(&p, &d1, &m, &x, false, &fs, &p1, &s1, &nd1) ||
	    model_two_bases(&p, &d1, &d2, &m, &x, &mo) ||
	    store_day(&p, &d2, &m, &x, true, &fs, &p2, &s2, &nd))
		return 1;
	r1 = read_day(&d1, &m, &fs);
	r2 = read_day(&d2, &m, &fs);
	if (r1 < 0 || r2 < 0)
		return 1;
	printf("{\"avg\":%lu,\"day1_bytes\":%zu,\"day1_chunks\":%zu,"
	       "\"day1_stored\":%llu,\"day2_bytes\":%zu,\"day2_chunks\":%zu,"
	       "\"day2_new_plain\":%llu,\"day2_new_delta\":%llu,"
	       "\"day2_deltas\":%llu,\"read_day1_mbs\":%.0f,"
	       "\"read_day2_mbs\":%.0f,\"one_base_new\":%llu,"
	       "\"two_bases_new\":%llu,\"two_bases_frames\":%llu}\n",
	       avg, d1.len, d1.nchunks, (unsigned long long)s1, d2.len,
	       d2.nchunks, (unsigned long long)p2, (unsigned long long)s2,
	       (unsigned long long)nd, r1, r2, (unsigned long long)mo.one,
	       (unsigned long long)mo.two, (unsigned long long)mo.two_n);
	bfs_simidx_fini(&x);
	bfs_hmap_fini(&m);
	bfs_buf_free(&fs);
	bfs_buf_free(&d1.ids);
	bfs_buf_free(&d2.ids);
	return 0;
}
