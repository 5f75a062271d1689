/* check.c - `backupfs check` (check.h): subsets, the listings, the index
 * objects and the packs; check_walk.c walks the manifests, check_report.c
 * keeps the problems.
 *
 * Order, so that a backup finishing meanwhile cannot look damaged: list
 * manifests/ first, then packs/, then index/ (a writer puts its packs,
 * then its index object, then its manifest: whatever a listed manifest
 * needs is in the later listings).  Each pack is checked by a job on a
 * bfs_pool while the index objects are read; the walk starts once every
 * job is done, so it knows every damaged blob when it meets it.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "check_int.h"
#include "format.h"
#include "pack.h"
#include "pool.h"
#include "sha256mb.h"
#include "tree.h"

/* ---- subsets -------------------------------------------------------------
 */

static uint64_t id_bucket(const uint8_t id[BFS_HASH_LEN])
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < 8; i++)
		x = (x << 8) | id[i];
	return x;
}

bool bfs_check_selects(const struct bfs_check_opts *o,
		       const uint8_t id[BFS_HASH_LEN])
{
	uint64_t x = id_bucket(id);

	if (o->subset_n)
		return x % o->subset_n == o->subset_k - 1;
	if (o->subset_pct > 0) {
		if (o->subset_pct >= 100)
			return true;
		/* x / 2^64 < pct / 100, in long double: 64-bit exact */
		return (long double)x < (long double)o->subset_pct / 100.0L *
					    18446744073709551616.0L;
	}
	return true;
}

int bfs_check_parse_subset(const char *s, struct bfs_check_opts *o)
{
	unsigned long long k, n;
	char *end;
	double pct;

	if (!s || !*s)
		return -EINVAL;
	if (s[strlen(s) - 1] == '%') {
		errno = 0;
		pct = strtod(s, &end);
		if (errno || end != s + strlen(s) - 1 || end == s ||
		    !(pct > 0) || pct > 100 || !isfinite(pct) ||
		    (*s < '0' || *s > '9'))
			return -EINVAL;
		o->subset_pct = pct;
		o->subset_k = o->subset_n = 0;
		return 0;
	}
	if (*s < '1' || *s > '9')
		return -EINVAL;
	errno = 0;
	k = strtoull(s, &end, 10);
	if (errno || *end != '/' || end[1] < '1' || end[1] > '9')
		return -EINVAL;
	n = strtoull(end + 1, &end, 10);
	if (errno || *end || k < 1 || k > n || n > UINT32_MAX)
		return -EINVAL;
	o->subset_k = (unsigned)k;
	o->subset_n = (unsigned)n;
	o->subset_pct = 0;
	return 0;
}

/* ---- packs ---------------------------------------------------------------
 */

struct pack_job {
	struct check *c;
	uint8_t id[BFS_HASH_LEN];
	uint8_t index_name[BFS_HASH_LEN];
	uint64_t size;
	bool read;
	struct bfs_idx_blob *blobs; /* owned: the index object's entries */
	size_t n;
};

/* Every blob of j that the locations point into this pack is broken by
 * problem p. */
static void job_all_bad(struct pack_job *j, int p)
{
	struct bfs_loc loc;
	size_t i;

	for (i = 0; i < j->n; i++)
		if (!bfs_locmap_find(j->c->m, j->blobs[i].hash, &loc) &&
		    !memcmp(loc.ref.pack, j->id, BFS_HASH_LEN))
			ck_bad_set(j->c, j->blobs[i].hash, p);
}

static void job_failed(struct pack_job *j, const char *key, int rc,
		       const char *what)
{
	int p =
	    ck_problem(j->c, ck_is_damage(rc) ? "pack" : "io", key, "%s", what);

	if (p >= 0)
		job_all_bad(j, p);
}

/* The pack's own index agrees with the index object's entries? */
static bool job_agrees(const struct pack_job *j, const struct bfs_pack_entry *e,
		       size_t n, char *why, size_t whysz)
{
	char hex[BFS_HASH_HEX + 1], ih[BFS_HASH_HEX + 1];
	size_t i;

	bfs_hex(ih, j->index_name, BFS_HASH_LEN);
	if (n != j->n) {
		snprintf(why, whysz,
			 "its index holds %zu blobs, index object %s says %zu",
			 n, ih, j->n);
		return false;
	}
	for (i = 0; i < n; i++) {
		const struct bfs_idx_blob *b = &j->blobs[i];

		if (memcmp(e[i].hash, b->hash, BFS_HASH_LEN) ||
		    e[i].offset != b->offset || e[i].clen != b->clen ||
		    e[i].len != b->len || e[i].type != b->type) {
			bfs_hex(hex, b->hash, BFS_HASH_LEN);
			snprintf(why, whysz,
				 "its index entry %zu disagrees with index "
				 "object %s (blob %s)",
				 i, ih, hex);
			return false;
		}
	}
	return true;
}

/* Only the index region: the footer and the entries, in one range get
 * sized by the index object's entry count (again if that was wrong). */
static int job_read_index(struct pack_job *j, const char *key,
			  struct bfs_buf *b, struct bfs_pack_entry **ents,
			  size_t *n, struct bfs_err *err)
{
	uint64_t tail = (uint64_t)j->n * BFS_PACK_INDEX_ENTRY + BFS_PACK_FOOTER;
	uint64_t need = 0;
	int64_t got;
	int rc, tries;

	for (tries = 0; tries < 2; tries++) {
		if (tail > j->size)
			tail = j->size;
		b->len = 0;
		got = bfs_store_get(j->c->r->store, key, j->size - tail, tail,
				    b, err);
		if (got < 0)
			return (int)got;
		if ((uint64_t)got != tail)
			return bfs_err_set(
			    err, -EUCLEAN, "short read: %lld of %llu bytes",
			    (long long)got, (unsigned long long)tail);
		rc = bfs_pack_parse_tail_key(j->c->r->crypt, NULL, j->size,
					     b->data, b->len, ents, n, &need,
					     err);
		if (rc != -ENODATA || need <= tail)
			return rc;
		tail = need;
	}
	return rc;
}

/* check --read-data where sha256mb uses its lanes: blobs of a pack
 * decoded before they are checked together, at most this many and
 * this many plain bytes (a blob larger is a group of its own). */
#define CK_GROUP 16
#define CK_GROUP_BYTES (4u << 20)

/* A worker's buffers, kept from one pack to the next: a pack (16 MiB)
 * is above the mmap threshold, so a fresh buffer per pack would cost a
 * page fault per 4 KiB read (measured: a third of check --read-data);
 * plain holds a group of blobs. */
struct ck_tls {
	struct bfs_buf pack;
	uint8_t *plain;
	size_t cap;
};

static void *tls_init(void *ctx)
{
	(void)ctx;
	return calloc(1, sizeof(struct ck_tls));
}

static void tls_fini(void *tls, void *ctx)
{
	struct ck_tls *t = tls;

	(void)ctx;
	bfs_buf_free(&t->pack);
	free(t->plain);
	free(t);
}

/* Blob ref (in the pack at key) fails to decode: a problem, and its
 * place when it is the located copy. */
static void blob_damaged(struct check *c, const struct bfs_chunkref *ref,
			 const char *key, const char *msg)
{
	char hex[BFS_HASH_HEX + 1];
	struct bfs_loc loc;
	int p;

	bfs_hex(hex, ref->hash, BFS_HASH_LEN);
	p = ck_problem(c, "blob", hex,
		       "damaged in pack '%s' at offset %" PRIu64 ": %s", key,
		       ref->offset, msg);
	if (p >= 0 && !bfs_locmap_find(c->m, ref->hash, &loc) &&
	    !memcmp(loc.ref.pack, ref->pack, BFS_HASH_LEN))
		ck_bad_set(c, ref->hash, p);
}

/* A delta's base could not be read (an I/O error, not damage: the
 * delta may be sound): a problem of kind "io"; else blob_damaged. */
static void blob_failed(struct check *c, const struct bfs_chunkref *ref,
			const char *key, int rc, const char *msg)
{
	char hex[BFS_HASH_HEX + 1];

	if (ck_is_damage(rc)) {
		blob_damaged(c, ref, key, msg);
		return;
	}
	bfs_hex(hex, ref->hash, BFS_HASH_LEN);
	ck_problem(c, "io", key, "blob %s at offset %" PRIu64 ": %s", hex,
		   ref->offset, msg);
}

/* Decode delta ref again once every index object is loaded (its base
 * may be named by one not loaded yet).  0 or -ENOMEM. */
static int defer(struct check *c, const struct bfs_chunkref *ref)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (c->nlater == c->later_cap) {
		size_t nc = c->later_cap ? 2 * c->later_cap : 64;
		void *nv = realloc(c->later, nc * sizeof(*c->later));

		if (nv) {
			c->later = nv;
			c->later_cap = nc;
		}
	}
	if (c->nlater < c->later_cap)
		c->later[c->nlater++] = *ref;
	else
		rc = -ENOMEM;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* The deferred deltas (main thread, the pool done). */
static void check_later(struct check *c)
{
	struct bfs_err err = {""};
	char key[BFS_KEY_MAX];
	uint8_t *out = NULL;
	size_t i;
	int rc;

	for (i = 0; i < c->nlater && !c->fatal; i++) {
		const struct bfs_chunkref *ref = &c->later[i];
		uint8_t *np = realloc(out, ref->len ? ref->len : 1);

		if (!np) {
			ck_fail(c, -ENOMEM, "out of memory");
			break;
		}
		out = np;
		rc = bfs_repo_read_chunk(c->r, ref, out, &err);
		if (rc) {
			bfs_repo_pack_key(key, ref->pack);
			blob_failed(c, ref, key, rc, err.msg);
		}
	}
	free(out);
}

/* Does the frame (its bases fb: n 0 whole) disagree with index entry e
 * (a type-3 entry on a one-base frame, a whole entry on a delta frame,
 * other bases)?  true with a message in err. */
static bool frame_mismatch(const struct bfs_idx_blob *e,
			   const struct bfs_bases *fb, struct bfs_err *err)
{
	size_t want = e->type == BFS_BLOB_DELTA || e->type == BFS_BLOB_DELTA2
			  ? e->bases.n
			  : 0;
	char hex[BFS_HASH_HEX + 1];
	size_t i;

	if (fb->n != want) {
		bfs_err_set(err, -EUCLEAN,
			    "the index object says type %d (%zu base%s), the "
			    "frame names %u",
			    e->type, want, want == 1 ? "" : "s", fb->n);
		return true;
	}
	for (i = 0; i < want; i++)
		if (memcmp(fb->id[i], e->bases.id[i], BFS_HASH_LEN)) {
			bfs_hex(hex, fb->id[i], BFS_HASH_LEN);
			bfs_err_set(err, -EUCLEAN,
				    "its frame names base %zu %s, not the "
				    "index object's",
				    i + 1, hex);
			return true;
		}
	return false;
}

/* The outcome rc (err its message, fb the frame's bases) of decoding
 * blob e of j's pack at key: counted in *bad and reported unless sound,
 * or deferred (a delta whose base is named by an index object not loaded
 * yet). */
static void blob_outcome(struct pack_job *j, const char *key,
			 const struct bfs_idx_blob *e,
			 const struct bfs_bases *fb, int rc,
			 struct bfs_err *err, size_t *bad)
{
	struct bfs_chunkref ref;

	/* the frame's kind and bases are the index object's */
	if (rc != -EBADMSG && (fb->n || !rc) && frame_mismatch(e, fb, err))
		rc = -EUCLEAN;
	if (!rc)
		return;
	memcpy(ref.hash, e->hash, BFS_HASH_LEN);
	memcpy(ref.pack, j->id, BFS_HASH_LEN);
	ref.offset = e->offset;
	ref.clen = e->clen;
	ref.len = e->len;
	if (rc == -ENOENT &&
	    (e->type == BFS_BLOB_DELTA || e->type == BFS_BLOB_DELTA2) &&
	    defer(j->c, &ref) == 0)
		return;
	(*bad)++;
	blob_failed(j->c, &ref, key, rc, err->msg);
}

/* Decode every blob of j's pack (read whole into b; a delta through its
 * base) and check it against its id.  Where sha256mb has a path of its
 * own, groups of blobs (bfs_sha256_many_batch: two with SHA-NI, up to
 * CK_GROUP on the AVX lanes; CK_GROUP_BYTES plain at most) are decoded
 * first and checked together (bfs_repo_blob_id_many); one that does not
 * match is decoded again with its own check, for the message.  The
 * number of blobs found bad. */
static size_t job_read_blobs(struct pack_job *j, const char *key,
			     const struct bfs_buf *b, struct ck_tls *t)
{
	struct bfs_err err = {""};
	struct bfs_bases fb[CK_GROUP];
	uint8_t sums[CK_GROUP][BFS_HASH_LEN];
	const void *data[CK_GROUP];
	size_t lens[CK_GROUP], ok[CK_GROUP];
	size_t i, k, end, at, nok, bad = 0;
	uint64_t plain = 0, total;
	size_t group = BFS_MIN(bfs_sha256_many_batch(), (size_t)CK_GROUP);
	bool together;
	int rc;

	for (i = 0; i < j->n; i = end) {
		/* one blob, or a group checked together */
		total = j->blobs[i].len;
		for (end = i + 1; end < j->n && end - i < group &&
				  total + j->blobs[end].len <= CK_GROUP_BYTES;
		     end++)
			total += j->blobs[end].len;
		together = bfs_sha256_many_pays(end - i);
		if (total > t->cap) {
			uint8_t *np = realloc(t->plain, total);

			if (!np) {
				ck_fail(j->c, -ENOMEM, "out of memory");
				break;
			}
			t->plain = np;
			t->cap = total;
		}
		nok = 0;
		for (k = i, at = 0; k < end; at += j->blobs[k].len, k++) {
			const struct bfs_idx_blob *e = &j->blobs[k];

			if (together)
				rc = bfs_repo_blob_decode_unchecked(
				    j->c->r, e->hash, b->data + e->offset,
				    e->clen, t->plain + at, e->len, &fb[k - i],
				    &err);
			else
				rc = bfs_repo_blob_decode_bases(
				    j->c->r, e->hash, b->data + e->offset,
				    e->clen, t->plain + at, e->len, &fb[k - i],
				    &err);
			plain += e->len;
			if (rc || !together) {
				blob_outcome(j, key, e, &fb[k - i], rc, &err,
					     &bad);
				continue;
			}
			ok[nok] = k;
			data[nok] = t->plain + at;
			lens[nok++] = e->len;
		}
		if (!nok)
			continue;
		bfs_repo_blob_id_many(j->c->r, sums, data, lens, nok);
		for (k = 0; k < nok; k++) {
			const struct bfs_idx_blob *e = &j->blobs[ok[k]];
			uint8_t *out = (uint8_t *)data[k];

			rc = 0;
			if (memcmp(sums[k], e->hash, BFS_HASH_LEN))
				rc = bfs_repo_blob_decode_bases(
				    j->c->r, e->hash, b->data + e->offset,
				    e->clen, out, e->len, &fb[ok[k] - i], &err);
			blob_outcome(j, key, e, &fb[ok[k] - i], rc, &err, &bad);
		}
	}
	pthread_mutex_lock(&j->c->lock);
	j->c->rep->blobs_read += i;
	j->c->rep->plain_read += plain;
	pthread_mutex_unlock(&j->c->lock);
	return bad;
}

static void pack_job(void *arg, void *tls)
{
	struct pack_job *j = arg;
	struct bfs_err err = {""};
	struct bfs_pack_entry *ents = NULL;
	struct ck_tls *t = tls;
	struct bfs_buf b = {0};
	char key[BFS_KEY_MAX], why[512];
	int64_t got;
	size_t n = 0;
	int rc;

	bfs_key_pack(key, j->id);
	if (!j->read) {
		rc = job_read_index(j, key, &b, &ents, &n, &err);
		if (rc) {
			job_failed(j, key, rc, err.msg);
			goto out;
		}
	} else {
		b = t->pack; /* the worker's buffer, lent until out */
		b.len = 0;
		got =
		    bfs_store_get(j->c->r->store, key, 0, UINT64_MAX, &b, &err);
		if (got < 0) {
			job_failed(j, key, (int)got, err.msg);
			goto out;
		}
		pthread_mutex_lock(&j->c->lock);
		j->c->rep->packs_read++;
		j->c->rep->bytes_read += b.len;
		pthread_mutex_unlock(&j->c->lock);
		if (b.len != j->size) {
			snprintf(why, sizeof(why),
				 "read %zu bytes, listed as %" PRIu64, b.len,
				 j->size);
			job_failed(j, key, -EUCLEAN, why);
			goto out;
		}
		rc = bfs_pack_parse_index_key(j->c->r->crypt, b.data, b.len,
					      &ents, &n, &err);
		if (rc) {
			job_failed(j, key, rc, err.msg);
			goto out;
		}
	}
	if (!job_agrees(j, ents, n, why, sizeof(why))) {
		job_failed(j, key, -EUCLEAN, why);
		goto out;
	}
	/* Not the SHA-256 of the whole pack (a third of the time): with a
	 * valid index, the magic checked and every frame decoding to bytes
	 * that hash to their id, every byte that can be served is right
	 * (a bit flip that zstd ignores changes no plain byte). */
	if (j->read)
		job_read_blobs(j, key, &b, t);
out:
	free(ents);
	if (j->read)
		t->pack = b;
	else
		bfs_buf_free(&b);
	free(j->blobs);
	free(j);
}

/* ---- listings ------------------------------------------------------------
 */

static int list_pack_cb(void *arg, const char *key, uint64_t size)
{
	struct check *c = arg;
	struct ck_pack *p;
	uint8_t id[BFS_HASH_LEN];
	bool added;
	int rc;

	if (bfs_key_parse(key, id, NULL) != BFS_KEY_IS_PACK)
		return 0;
	rc = bfs_hmap_get(&c->packs, id, (void **)&p, &added);
	if (rc)
		return rc;
	p->listed = 1;
	p->size = size;
	return 0;
}

static int list_manifest_cb(void *arg, const char *key, uint64_t size)
{
	const char *name;

	(void)size;
	if (bfs_key_parse(key, NULL, &name) != BFS_KEY_IS_MANIFEST)
		return 0;
	return bfs_strv_add(arg, name);
}

static int list_index_cb(void *arg, const char *key, uint64_t size)
{
	(void)size;
	if (strncmp(key, BFS_KEY_INDEX, strlen(BFS_KEY_INDEX)) ||
	    !bfs_hex64_valid(key + strlen(BFS_KEY_INDEX)))
		return 0;
	return bfs_strv_add(arg, key + strlen(BFS_KEY_INDEX));
}

/* ---- index objects -------------------------------------------------------
 */

struct idx_ctx {
	struct check *c;
	struct bfs_pool *pool;
	const uint8_t *name;
	const char *key;
};

/* One pack line of an index object that parsed: queue its pack's job. */
static int idx_pack_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		       const struct bfs_idx_blob *blobs, size_t n)
{
	struct idx_ctx *x = arg;
	struct check *c = x->c;
	struct pack_job *j;
	struct ck_pack *p;
	struct bfs_loc loc;
	char key[BFS_KEY_MAX];
	uint64_t end, need;
	bool added;
	size_t i;
	int rc, pi;

	rc = bfs_hmap_get(&c->packs, pack, (void **)&p, &added);
	if (rc)
		return ck_fail(c, rc, "out of memory");
	bfs_key_pack(key, pack);
	if (p->named) {
		/* named again: the objects must agree where it matters */
		for (i = 0; i < n; i++)
			if (!bfs_locmap_find(c->m, blobs[i].hash, &loc) &&
			    !memcmp(loc.ref.pack, pack, BFS_HASH_LEN) &&
			    (loc.ref.offset != blobs[i].offset ||
			     loc.ref.clen != blobs[i].clen ||
			     loc.ref.len != blobs[i].len ||
			     loc.type != blobs[i].type))
				break;
		if (i < n && ck_problem(c, "index", x->key,
					"disagrees with an earlier index "
					"object about pack '%s'",
					key) < 0)
			return c->fatal;
		return 0;
	}
	p->named = 1;
	c->rep->packs++;
	for (end = 0, i = 0; i < n; i++)
		end += blobs[i].clen;
	pthread_mutex_lock(&c->lock);
	c->blob_clen += end;
	pthread_mutex_unlock(&c->lock);
	if (!p->listed) {
		pi = ck_problem(c, "pack", key,
				"missing (named by index object '%s')", x->key);
		goto out_all_bad;
	}
	end = n ? blobs[n - 1].offset + blobs[n - 1].clen : BFS_PACK_HEADER;
	need = end + (uint64_t)n * BFS_PACK1_INDEX_ENTRY + BFS_PACK_FOOTER;
	if (p->size < need) {
		pi = ck_problem(c, "pack", key,
				"truncated: %" PRIu64 " bytes, its blobs in "
				"index object '%s' need at least %" PRIu64,
				p->size, x->key, need);
		goto out_all_bad;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->blobs = malloc((n ? n : 1) * sizeof(*blobs)))) {
		free(j);
		return ck_fail(c, -ENOMEM, "out of memory");
	}
	j->c = c;
	memcpy(j->id, pack, BFS_HASH_LEN);
	memcpy(j->index_name, x->name, BFS_HASH_LEN);
	j->size = p->size;
	j->read = c->o->read_data && bfs_check_selects(c->o, pack);
	if (n)
		memcpy(j->blobs, blobs, n * sizeof(*blobs));
	j->n = n;
	rc = bfs_pool_submit(x->pool, pack_job, j);
	if (rc) {
		free(j->blobs);
		free(j);
		return ck_fail(c, rc, "cannot queue a pack check");
	}
	return 0;
out_all_bad:
	if (pi < 0)
		return c->fatal;
	for (i = 0; i < n; i++)
		if (!bfs_locmap_find(c->m, blobs[i].hash, &loc) &&
		    !memcmp(loc.ref.pack, pack, BFS_HASH_LEN) &&
		    ck_bad_set(c, blobs[i].hash, pi))
			return c->fatal;
	return 0;
}

struct lost_ctx {
	struct check *c;
	int problem;
};

/* A pack line of a damaged index object: its blobs are lost to it. */
static int lost_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		   const struct bfs_idx_blob *blobs, size_t n)
{
	struct lost_ctx *l = arg;
	struct ck_bad rec;
	size_t i;
	int rc;

	(void)pack;
	rec.problem = (uint32_t)l->problem;
	for (i = 0; i < n; i++) {
		memcpy(rec.key, blobs[i].hash, BFS_HASH_LEN);
		rc = bfs_hmap_insert(&l->c->lost, &rec, NULL);
		if (rc && rc != -EEXIST)
			return ck_fail(l->c, rc, "out of memory");
	}
	return 0;
}

/* Index object hex: load it into the map, then check its packs. */
static int check_index(struct check *c, struct bfs_pool *pool, const char *hex,
		       struct bfs_buf *b)
{
	struct bfs_err err = {""};
	uint8_t name[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	struct idx_ctx x = {.c = c, .pool = pool, .name = name, .key = key};
	int64_t got;
	int rc;

	snprintf(key, sizeof(key), "%s%s", BFS_KEY_INDEX, hex);
	if (bfs_unhex(name, hex, BFS_HASH_LEN))
		return 0;
	b->len = 0;
	got = bfs_store_get(c->r->store, key, 0, UINT64_MAX, b, &err);
	if (got < 0) {
		if (ck_problem(c, ck_is_damage((int)got) ? "index" : "io", key,
			       "%s", err.msg) < 0)
			return c->fatal;
		return 0;
	}
	rc = bfs_locmap_add(c->m, name, b->data, b->len, &err);
	if (rc == -ENOMEM)
		return ck_fail(c, rc, "out of memory");
	if (rc) {
		/* the locations it gave before the defect stay in the map;
		 * its packs are not checked: they are garbage or named by
		 * another object */
		struct lost_ctx l = {.c = c};

		l.problem = ck_problem(c, "index", key, "%s", err.msg);
		if (l.problem < 0)
			return c->fatal;
		/* what it names as far as it parses: the blobs it hides */
		bfs_idxobj_parse(b->data, b->len, lost_cb, &l, NULL);
		return c->fatal;
	}
	rc = bfs_idxobj_parse(b->data, b->len, idx_pack_cb, &x, &err);
	if (rc && !c->fatal)
		ck_fail(c, rc, err.msg);
	return c->fatal;
}

static void progress(struct check *c, const char *what)
{
	if (c->o->progress)
		c->o->progress(c->o->progress_arg, what);
}

/* One worker per CPU, 2..8: a worker is CPU-bound with --read-data
 * (decompress, hash), and more workers than CPUs only add their 16 MiB
 * buffers' page faults (measured on 2 CPUs: 4 workers ran at 0.6x of
 * cat, 2 at 0.95x). */
static unsigned default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 2 : n > 8 ? 8 : (unsigned)n;
}

static int check_indexes(struct check *c, struct bfs_strv *idx)
{
	struct bfs_pool_config pc = {.name = "check"};
	struct bfs_pool *pool = NULL;
	struct bfs_buf b = {0};
	size_t i;
	int rc;

	pc.threads = c->o->jobs ? c->o->jobs : default_jobs();
	pc.thread_init = tls_init;
	pc.thread_fini = tls_fini;
	pc.queue = pc.threads;
	rc = bfs_pool_create(&pc, &pool);
	if (rc)
		return ck_fail(c, rc, "cannot start the check threads");
	for (i = 0; i < idx->n && !c->fatal; i++)
		check_index(c, pool, idx->v[i], &b);
	bfs_pool_wait(pool);
	bfs_pool_destroy(pool);
	check_later(c);
	bfs_buf_free(&b);
	return c->fatal;
}

static int kind_rank(const char *kind)
{
	static const char *const order[] = {"key",  "index",	"pack", "blob",
					    "tree", "manifest", "io"};
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(order); i++)
		if (strcmp(kind, order[i]) == 0)
			return (int)i;
	return (int)i;
}

static int cmp_problem(const void *a, const void *b)
{
	const struct bfs_check_problem *x = a, *y = b;
	int d = kind_rank(x->kind) - kind_rank(y->kind);

	if (!d) /* "(more)" after the blobs it follows */
		d = (x->object[0] == '(') - (y->object[0] == '(');
	return d ? d : strcmp(x->object, y->object);
}

/* ---- the whole check -----------------------------------------------------
 */

static void garbage(struct check *c)
{
	struct bfs_check_report *rep = c->rep;
	const struct ck_pack *p;
	size_t it = 0;

	while ((p = bfs_hmap_next(&c->packs, &it)))
		if (p->listed && !p->named) {
			rep->garbage_packs++;
			rep->garbage_pack_bytes += p->size;
		}
	rep->blobs = bfs_locmap_nblobs(c->m);
	rep->garbage_blobs = rep->blobs - rep->referenced;
	rep->garbage_blob_bytes =
	    c->blob_clen > c->ref_clen ? c->blob_clen - c->ref_clen : 0;
}

int bfs_check(struct bfs_repo *r, const struct bfs_check_opts *o,
	      struct bfs_check_report *rep, struct bfs_err *err)
{
	struct check c = {.r = r, .o = o, .rep = rep};
	struct bfs_strv man = {0}, idx = {0};
	int rc;

	memset(rep, 0, sizeof(*rep));
	c.max_paths = o->max_paths ? o->max_paths : BFS_CHECK_MAX_PATHS;
	pthread_mutex_init(&c.lock, NULL);
	rc = bfs_locmap_new(&c.m, err);
	if (!rc)
		rc = bfs_repo_set_locate(r, bfs_locmap_locate, c.m, NULL, err);
	if (rc)
		goto out;
	if (bfs_hmap_init(&c.packs, sizeof(struct ck_pack), BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED) ||
	    bfs_hmap_init(&c.bad, sizeof(struct ck_bad), BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED) ||
	    bfs_hmap_init(&c.whole, sizeof(struct ck_whole), BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED) ||
	    bfs_hmap_init(&c.lost, sizeof(struct ck_bad), BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED)) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	progress(&c, "listing the repository");
	rc = bfs_store_list(r->store, BFS_KEY_MANIFESTS, list_manifest_cb, &man,
			    err);
	if (!rc)
		rc = bfs_store_list(r->store, BFS_KEY_PACKS, list_pack_cb, &c,
				    err);
	if (!rc)
		rc = bfs_store_list(r->store, BFS_KEY_INDEX, list_index_cb,
				    &idx, err);
	if (rc) {
		if (rc == -ENOMEM)
			bfs_err_set(err, rc, "out of memory");
		else
			bfs_err_prefix(err, rc, "cannot list '%s'",
				       r->store->url);
		goto out;
	}
	bfs_strv_sort(&man);
	bfs_strv_sort(&idx);
	rep->index_objects = idx.n;
	rep->backups = man.n;
	progress(&c, "checking key objects");
	rc = ck_check_keys(&c);
	if (rc)
		goto out_fatal;
	progress(&c, o->read_data ? "checking index objects and reading packs"
				  : "checking index objects and packs");
	rc = check_indexes(&c, &idx);
	if (!rc) {
		progress(&c, "checking backups");
		rc = ck_walk_manifests(&c, man.v, man.n);
	}
out_fatal:
	if (rc || c.fatal) {
		if (!c.fatal)
			c.fatal = rc;
		rc = bfs_err_set(err, c.fatal, "%s",
				 c.fatal_err.msg[0] ? c.fatal_err.msg
						    : "check failed");
		goto out;
	}
	garbage(&c);
out:
	bfs_repo_set_locate(r, NULL, NULL, NULL, NULL);
	/* the jobs found theirs in any order: a report that reads the same
	 * every time (nothing maps to problem numbers any more) */
	if (rep->nproblems > 1)
		qsort(rep->problems, rep->nproblems, sizeof(*rep->problems),
		      cmp_problem);
	bfs_strv_free(&man);
	bfs_strv_free(&idx);
	bfs_hmap_fini(&c.packs);
	bfs_hmap_fini(&c.bad);
	bfs_hmap_fini(&c.whole);
	bfs_hmap_fini(&c.lost);
	free(c.later);
	free(c.last_seq);
	bfs_locmap_free(c.m);
	pthread_mutex_destroy(&c.lock);
	return rc;
}
