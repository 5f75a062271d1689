/* test-sha256mb: SHA-256 of several buffers at once (src/sha256mb.c).
 * Every path (portable, AVX2 and AVX-512VL lanes, SHA-NI's pairs, where
 * the CPU has them) gives OpenSSL's digests for every length class
 * (under a block, the padding's edges at 55/56/63/64 bytes, whole
 * blocks, lengths that end lanes at different times) and any number of
 * buffers; HMAC-SHA256 on each path gives OpenSSL's HMAC for keys up to
 * a block; OPENSSL_ia32cap masking SHA-NI for OpenSSL masks it here too.
 * And bfs_repo_read_chunks, checking a run's chunks together (in
 * batches of 16 on the AVX lanes, of 2 with SHA-NI), returns the right
 * bytes, reports a damaged chunk with the message the one-at-a-time
 * check gives, and hands out (done) only chunks that were checked.  The
 * repository part takes each path in turn (test builds:
 * BACKUPFS_TEST_SHA256, bfs_sha256_many_test_use) and skips one the CPU
 * lacks.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "format.h"
#include "pack.h"
#include "repo.h"
#include "sha256mb.h"
#include "store.h"
#include "tap.h"
#include "testlib.h"

#define MAXN 40

/* when set, what the paths under test give is HMAC-SHA256 under it */
static const uint8_t *g_key;
static size_t g_klen;

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	return p;
}

typedef void (*many_fn)(uint8_t (*)[BFS_HASH_LEN], const void *const *,
			const size_t *, size_t);

static void avx2_or_fail(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
			 const size_t *len, size_t n)
{
	if (bfs_sha256_many_lanes(out, data, len, n, BFS_SHA256_AVX2) != 0)
		memset(out, 0, n * BFS_HASH_LEN);
}

static void avx512_or_fail(uint8_t (*out)[BFS_HASH_LEN],
			   const void *const *data, const size_t *len, size_t n)
{
	if (bfs_sha256_many_lanes(out, data, len, n, BFS_SHA256_AVX512) != 0)
		memset(out, 0, n * BFS_HASH_LEN);
}

static void shani_or_fail(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
			  const size_t *len, size_t n)
{
	if (bfs_sha256_many_lanes(out, data, len, n, BFS_SHA256_SHANI) != 0)
		memset(out, 0, n * BFS_HASH_LEN);
}

/* trials rounds of up to MAXN buffers of lengths drawn from the classes
 * above; 1 when every digest equals OpenSSL's. */
static int agrees(many_fn fn, int trials, uint64_t seed)
{
	static const size_t edge[] = {0,   1,	55,  56,   57,	  63,
				      64,  65,	119, 120,  127,	  128,
				      129, 191, 192, 4096, 65535, 65536};
	struct tl_rng rng = {seed};
	uint8_t(*want)[BFS_HASH_LEN] = calloc(MAXN, BFS_HASH_LEN);
	uint8_t(*got)[BFS_HASH_LEN] = calloc(MAXN, BFS_HASH_LEN);
	uint8_t *buf[MAXN] = {NULL};
	const void *data[MAXN];
	size_t len[MAXN], n, i;
	int t, good = 1;

	if (!want || !got)
		good = 0;
	for (t = 0; good && t < trials; t++) {
		n = 1 + tl_rand(&rng) % MAXN;
		for (i = 0; i < n; i++) {
			uint64_t c = tl_rand(&rng) % 4;

			len[i] = c == 0	  ? edge[tl_rand(&rng) % 18]
				 : c == 1 ? tl_rand(&rng) % 300
				 : c == 2 ? tl_rand(&rng) % 20000
					  : tl_rand(&rng) % 400000;
			buf[i] = xmalloc(len[i]);
			tl_fill_random(&rng, buf[i], len[i]);
			data[i] = buf[i];
			if (g_key) {
				unsigned int hl = BFS_HASH_LEN;

				HMAC(EVP_sha256(), g_key, (int)g_klen, buf[i],
				     len[i], want[i], &hl);
			} else {
				bfs_sha256(want[i], buf[i], len[i]);
			}
		}
		memset(got, 0xa5, MAXN * BFS_HASH_LEN);
		fn(got, data, len, n);
		for (i = 0; i < n; i++) {
			if (memcmp(got[i], want[i], BFS_HASH_LEN)) {
				diag("trial %d: buffer %zu of %zu (%zu bytes) "
				     "differs",
				     t, i, n, len[i]);
				good = 0;
			}
			free(buf[i]);
			buf[i] = NULL;
		}
	}
	free(want);
	free(got);
	return good;
}

/* the path under test by hmac_or_fail */
static unsigned g_isa;

static void hmac_or_fail(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
			 const size_t *len, size_t n)
{
	if (bfs_hmac_sha256_many_lanes(g_key, g_klen, out, data, len, n,
				       g_isa) != 0)
		memset(out, 0, n * BFS_HASH_LEN);
}

/* HMAC on each path against OpenSSL's HMAC, for keys of 0, 1, 32 (the
 * id key's length) and 64 bytes; a longer key is refused. */
static void test_hmac(void)
{
	static const size_t klens[] = {0, 1, 32, 64};
	uint8_t key[65], o[1][BFS_HASH_LEN];
	const void *d[1] = {key};
	size_t l[1] = {1}, i;
	unsigned isa;
	int good;

	tl_fill(key, sizeof(key), 99);
	for (isa = BFS_SHA256_AVX2; isa <= BFS_SHA256_SHANI; isa <<= 1) {
		if (!(bfs_sha256_lanes_isas() & isa)) {
			skip(1, "no %s on this CPU or build",
			     bfs_sha256_isa_name(isa));
			continue;
		}
		good = 1;
		g_isa = isa;
		for (i = 0; i < 4; i++) {
			g_key = key;
			g_klen = klens[i];
			if (!agrees(hmac_or_fail, 60, 20 + i))
				good = 0;
		}
		g_key = NULL;
		ok(good, "HMAC on the %s: OpenSSL's HMAC-SHA256",
		   bfs_sha256_isa_name(isa));
	}
	is_int(bfs_hmac_sha256_many_lanes(key, 65, o, d, l, 1, 0), -EINVAL,
	       "a key longer than a block is refused");
}

static void test_digests(void)
{
	ok(agrees(bfs_sha256_many_scalar, 200, 11),
	   "portable code: OpenSSL's digests");
	ok(agrees(bfs_sha256_many, 200, 12),
	   "bfs_sha256_many (%s): OpenSSL's digests",
	   bfs_sha256_isa_name(bfs_sha256_many_isa()));
	if (bfs_sha256_lanes_isas() & BFS_SHA256_AVX2)
		ok(agrees(avx2_or_fail, 400, 13),
		   "AVX2 lanes: OpenSSL's digests");
	else
		skip(1, "no AVX2 on this CPU or build");
	if (bfs_sha256_lanes_isas() & BFS_SHA256_AVX512)
		ok(agrees(avx512_or_fail, 400, 14),
		   "AVX-512VL lanes: OpenSSL's digests");
	else
		skip(1, "no AVX-512VL on this CPU or build");
	if (bfs_sha256_lanes_isas() & BFS_SHA256_SHANI)
		ok(agrees(shani_or_fail, 400, 15),
		   "SHA-NI pairs: OpenSSL's digests");
	else
		skip(1, "no SHA-NI on this CPU or build");
}

/* OPENSSL_ia32cap as OpenSSL reads it: SHA-NI (leaf 7 EBX bit 29)
 * masked with '~', or a plain value without that bit, takes SHA-NI out
 * of the paths (bfs_sha256_isas_for); masking other bits leaves it.
 * Where the CPU has no SHA-NI, it is never there. */
static void test_ia32cap(void)
{
	static const struct {
		const char *v;
		int has;
	} cases[] = {
	    {":~0x20000000", 0},
	    {"~0x0:~0x20000000", 0},
	    {":0x0", 0},
	    {"~0x200000000000000:~0x20000000", 0},
	    {":~0x10000000", 1},
	    {"~0x0", 1},
	    {":0x20000000", 1},
	    {"~0x20000000", 1},
	    {"~0x20000000000", 0} /* SSSE3 (leaf 1 ECX bit 9) */,
	};
	bool cpu = bfs_sha256_lanes_isas() & BFS_SHA256_SHANI;
	int good = 1;
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(cases); i++) {
		bool has = bfs_sha256_isas_for(cases[i].v) & BFS_SHA256_SHANI;

		if (has != (cpu && cases[i].has)) {
			diag("OPENSSL_ia32cap=%s: SHA-NI %s", cases[i].v,
			     has ? "in use" : "masked");
			good = 0;
		}
	}
	ok(good && cpu == !!(bfs_sha256_isas_for(NULL) & BFS_SHA256_SHANI),
	   "OPENSSL_ia32cap masks SHA-NI as it does for OpenSSL (%s)",
	   cpu ? "this CPU has it" : "this CPU lacks it");
}

#define NCH 20

struct seen {
	int n;
	size_t idx[NCH];
};

static void on_done(void *arg, size_t idx)
{
	struct seen *s = arg;

	if (s->n < NCH)
		s->idx[s->n] = idx;
	s->n++;
}

/* A pack of NCH chunks (lengths varied) stored in r; refs and plain
 * filled.  0 or -1. */
static int make_pack(struct bfs_repo *r, struct bfs_chunkref *refs,
		     uint8_t **plain, char *key)
{
	struct bfs_err err = {""};
	struct bfs_buf pack = {0};
	uint8_t pid[BFS_HASH_LEN];
	int i, rc = 0;

	bfs_buf_append(&pack, BFS_PACK_MAGIC, BFS_PACK_HEADER);
	for (i = 0; i < NCH && !rc; i++) {
		size_t off = pack.len, n = 1000 + (size_t)i * 7919 % 90000;

		plain[i] = xmalloc(n);
		tl_fill(plain[i], n, (uint64_t)i + 1);
		/* half of them compressible */
		if (i % 2)
			memset(plain[i], 'x', n / 2);
		rc = bfs_zstd_compress(&pack, plain[i], n, 3, &err);
		bfs_sha256(refs[i].hash, plain[i], n);
		refs[i].offset = off;
		refs[i].clen = (uint32_t)(pack.len - off);
		refs[i].len = (uint32_t)n;
	}
	bfs_sha256(pid, pack.data, pack.len);
	for (i = 0; i < NCH; i++)
		memcpy(refs[i].pack, pid, BFS_HASH_LEN);
	bfs_repo_pack_key(key, pid);
	if (!rc)
		rc = bfs_store_put(r->store, key, pack.data, pack.len,
				   BFS_PUT_EXCL, &err);
	bfs_buf_free(&pack);
	if (rc)
		diag("make_pack: %s", err.msg);
	return rc ? -1 : 0;
}

/* read_chunks on path isa (test builds), in batches of nb: the
 * batch that holds a bad chunk hands out nothing, those before it
 * everything. */
static void test_read_chunks(const char *tmp, unsigned isa)
{
	struct bfs_chunkref refs[NCH], bad[NCH];
	struct bfs_err err = {""};
	struct bfs_repo *r = NULL;
	uint8_t *plain[NCH] = {NULL}, *outs[NCH];
	char key[BFS_KEY_MAX], want[700], h[13], name[64];
	struct seen s;
	int i, rc, good, nb;

#ifdef BFS_FAULT_INJECTION
	if (bfs_sha256_many_test_use(isa) != 0) {
		skip(9, "no %s on this CPU or build", bfs_sha256_isa_name(isa));
		return;
	}
#else
	skip(9, "not a test build: the path cannot be chosen");
	return;
#endif
	nb = (int)bfs_sha256_many_batch();
	is_int(nb, isa == BFS_SHA256_SHANI ? 2 : 16,
	       "the %s check batches of %d chunks", bfs_sha256_isa_name(isa),
	       nb);
	snprintf(name, sizeof(name), "repo-%u", isa);
	if (tl_make_repo(tmp, name, &r) || make_pack(r, refs, plain, key)) {
		ok(0, "a repository with a pack of %d chunks", NCH);
		bfs_repo_close(r);
		return;
	}
	for (i = 0; i < NCH; i++)
		outs[i] = xmalloc(refs[i].len);

	memset(&s, 0, sizeof(s));
	rc = bfs_repo_read_chunks_each(r, refs, NCH, outs, on_done, &s, &err);
	is_int(rc, 0, "read_chunks of %d chunks, checked on the %s: %s", NCH,
	       bfs_sha256_isa_name(isa), rc ? err.msg : "");
	good = s.n == NCH;
	for (i = 0; i < NCH; i++)
		if (memcmp(outs[i], plain[i], refs[i].len))
			good = 0;
	ok(good, "every chunk right and handed out (%d)", s.n);

	/* chunk 5 expected with another id: its batch fails with the
	 * message of the one-at-a-time check, none of it handed out */
	memcpy(bad, refs, sizeof(bad));
	bad[5].hash[0] ^= 1;
	memset(&s, 0, sizeof(s));
	err.msg[0] = '\0';
	rc = bfs_repo_read_chunks_each(r, bad, NCH, outs, on_done, &s, &err);
	is_int(rc, -EBADMSG, "a chunk that does not match its id: -EBADMSG");
	bfs_hex(h, bad[5].hash, 6);
	snprintf(want, sizeof(want), "chunk %s in pack '%s' fails its checksum",
		 h, key);
	is_str(err.msg, want, "the message names the chunk and the pack");
	is_int(s.n, 5 / nb * nb,
	       "nothing of the failed batch handed out, the batches before it "
	       "all");

	/* the same at chunk 17 */
	memcpy(bad, refs, sizeof(bad));
	bad[17].hash[31] ^= 0x80;
	memset(&s, 0, sizeof(s));
	rc = bfs_repo_read_chunks_each(r, bad, NCH, outs, on_done, &s, &err);
	ok(rc == -EBADMSG && s.n == 17 / nb * nb,
	   "a mismatch at chunk 17: the batches before it stay good "
	   "(rc %d, %d handed out)",
	   rc, s.n);

	/* a frame that does not decode (its length cut) at chunk 18: those
	 * checked before it in its batch are handed out, its error stands */
	memcpy(bad, refs, sizeof(bad));
	bad[18].clen -= 3;
	memset(&s, 0, sizeof(s));
	err.msg[0] = '\0';
	rc = bfs_repo_read_chunks_each(r, bad, NCH, outs, on_done, &s, &err);
	ok(rc < 0 && strstr(err.msg, "chunk ") != NULL,
	   "a frame that does not decode fails: %s", err.msg);
	ok(s.n == 18 && s.idx[16] == 16 && s.idx[17] == 17,
	   "the chunks before it are checked and handed out (%d)", s.n);
	good = 1;
	for (i = 0; i < 18; i++)
		if (memcmp(outs[i], plain[i], refs[i].len))
			good = 0;
	ok(good, "and they hold the right bytes");

	for (i = 0; i < NCH; i++) {
		free(outs[i]);
		free(plain[i]);
	}
	bfs_repo_close(r);
}

int main(void)
{
	const char *tmp = tl_tmpdir("test-sha256mb");
	unsigned avx;

	/* test builds: bfs_sha256_many on the best AVX lanes */
	setenv("BACKUPFS_TEST_SHA256", "lanes", 1);
	test_digests();
	test_hmac();
	test_ia32cap();
	avx = bfs_sha256_lanes_isas() & BFS_SHA256_AVX512 ? BFS_SHA256_AVX512
							  : BFS_SHA256_AVX2;
	test_read_chunks(tmp, avx);
	test_read_chunks(tmp, BFS_SHA256_SHANI);
	return tap_done();
}
