/* sha256mb.c - SHA-256 of several buffers at once (see sha256mb.h).
 *
 * Every chunk a read returns is checked against its id, and that check
 * is a quarter of a cold read's CPU.  The chunks of a pack range are
 * independent, so they are hashed together:
 *
 * - With SHA-NI, two at a time, their rounds interleaved (below): the
 *   rounds of one buffer wait on the instruction's latency, another
 *   buffer's fill the wait.  3,000-3,400 MB/s against 1,550-1,800 MB/s
 *   of OpenSSL's one-buffer code, on one core of the Zen 4 bench
 *   machine.
 * - Without SHA-NI, OpenSSL's SHA-256 runs at a quarter to a third of
 *   that (about 540 MB/s there, SHA-NI masked with OPENSSL_ia32cap).
 *   Eight at a time then, one per 32-bit lane of a 256-bit register
 *   (the multi-buffer method of Intel's ISA-L; Gueron and Krasnov,
 *   2012): 1,580 MB/s with AVX2, 2,400 MB/s with AVX-512VL's rotate and
 *   three-input logic (about half the instructions a round).
 *
 * Lanes run in step over whole 64-byte blocks: when the shortest lane
 * runs out, its last blocks (the tail and the padding) are finished
 * alone, and the lane takes the next buffer.  An AVX lane with nothing
 * left hashes a dummy block that nobody reads.
 *
 * Which path runs is chosen once per process (bfs_sha256_many): the
 * best one the CPU has when a short timing finds it clearly faster than
 * OpenSSL's one-buffer SHA-256, else OpenSSL.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "sha256mb.h"
#include "util.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MB_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* One block into h (FIPS 180-4, 6.2.2); finishes a lane's tail only. */
static void compress1(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
	int t;

	for (t = 0; t < 16; t++)
		w[t] = get_be32(p + 4 * t);
	for (t = 16; t < 64; t++)
		w[t] =
		    (ROR(w[t - 2], 17) ^ ROR(w[t - 2], 19) ^ (w[t - 2] >> 10)) +
		    w[t - 7] +
		    (ROR(w[t - 15], 7) ^ ROR(w[t - 15], 18) ^
		     (w[t - 15] >> 3)) +
		    w[t - 16];
	a = h[0], b = h[1], c = h[2], d = h[3];
	e = h[4], f = h[5], g = h[6], hh = h[7];
	for (t = 0; t < 64; t++) {
		t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
		     ((e & f) ^ (~e & g)) + K[t] + w[t];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
		     ((a & b) ^ (a & c) ^ (b & c));
		hh = g, g = f, f = e, e = d + t1;
		d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d;
	h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

/* nblk whole blocks at p into h, one after another */
typedef void (*blocks_fn)(uint32_t h[8], const uint8_t *p, size_t nblk);

static void blocks1(uint32_t h[8], const uint8_t *p, size_t nblk)
{
	for (; nblk; nblk--, p += 64)
		compress1(h, p);
}

/* Finish a hash whose first nblk whole blocks of data are in h, after
 * prefix bytes (a multiple of 64) hashed before data: the rest of
 * data[0..len) and the padding, with blocks, then the digest into out. */
static void finish_with(uint32_t h[8], uint64_t prefix, const uint8_t *data,
			size_t len, size_t nblk, uint8_t out[BFS_HASH_LEN],
			blocks_fn blocks)
{
	uint64_t total = prefix + len;
	uint8_t last[128];
	size_t done = nblk * 64, rest = len - done, n;
	int i;

	if (rest >= 64) {
		blocks(h, data + done, rest / 64);
		done += rest / 64 * 64;
		rest %= 64;
	}
	memset(last, 0, sizeof(last));
	memcpy(last, data + done, rest);
	last[rest] = 0x80;
	n = rest + 9 <= 64 ? 64 : 128;
	put_be32(last + n - 8, (uint32_t)(total >> 29));
	put_be32(last + n - 4, (uint32_t)(total << 3));
	blocks(h, last, n / 64);
	for (i = 0; i < 8; i++)
		put_be32(out + 4 * i, h[i]);
}

static void finish1(uint32_t h[8], uint64_t prefix, const uint8_t *data,
		    size_t len, size_t nblk, uint8_t out[BFS_HASH_LEN])
{
	finish_with(h, prefix, data, len, nblk, out, blocks1);
}

#ifdef MB_X86
#define MB_TARGET __attribute__((target("avx2")))
#define LANES 8

MB_TARGET static inline __m256i ror8(__m256i x, int n)
{
	return _mm256_or_si256(_mm256_srli_epi32(x, n),
			       _mm256_slli_epi32(x, 32 - n));
}

/* Word t of every lane's block: 8 rows of 8 words transposed, byte
 * order swapped. */
MB_TARGET static void load8(__m256i w[8], const uint8_t *const p[LANES],
			    size_t at)
{
	const __m256i bswap = _mm256_setr_epi8(
	    3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7,
	    6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
	__m256i r[8], s[8], u[8];
	int i;

	for (i = 0; i < 8; i++)
		r[i] = _mm256_loadu_si256((const __m256i *)(p[i] + at));
	for (i = 0; i < 8; i += 2) {
		s[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
		s[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
	}
	for (i = 0; i < 8; i += 4) {
		u[i] = _mm256_unpacklo_epi64(s[i], s[i + 2]);
		u[i + 1] = _mm256_unpackhi_epi64(s[i], s[i + 2]);
		u[i + 2] = _mm256_unpacklo_epi64(s[i + 1], s[i + 3]);
		u[i + 3] = _mm256_unpackhi_epi64(s[i + 1], s[i + 3]);
	}
	/* u[0..3]: words 0,1,2,3 (lanes 0-3 low half, 4-7... of rows 0-3) */
	for (i = 0; i < 4; i++) {
		w[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
		w[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
	}
	for (i = 0; i < 8; i++)
		w[i] = _mm256_shuffle_epi8(w[i], bswap);
}

/* compress8 (AVX2) and compress8_512 (AVX-512VL, with its rotate and
 * three-input logic: about half the instructions a round): the same
 * rounds, from sha256mb_lanes.h. */
#define LANES_NAME compress8
#define LANES_TARGET MB_TARGET
#define LANES_ROR(x, n) ror8(x, n)
#define LANES_XOR3(x, y, z) _mm256_xor_si256(_mm256_xor_si256(x, y), z)
#define LANES_CH(e, f, g)                                                      \
	_mm256_xor_si256(_mm256_and_si256(e, f), _mm256_andnot_si256(e, g))
#define LANES_MAJ(a, b, c)                                                     \
	_mm256_or_si256(_mm256_and_si256(a, b),                                \
			_mm256_and_si256(c, _mm256_or_si256(a, b)))
#include "sha256mb_lanes.h"

#define MB_TARGET_512 __attribute__((target("avx2,avx512f,avx512vl")))
#define LANES_NAME compress8_512
#define LANES_TARGET MB_TARGET_512
#define LANES_ROR(x, n) _mm256_ror_epi32(x, n)
#define LANES_XOR3(x, y, z) _mm256_ternarylogic_epi32(x, y, z, 0x96)
#define LANES_CH(e, f, g) _mm256_ternarylogic_epi32(e, f, g, 0xca)
#define LANES_MAJ(a, b, c) _mm256_ternarylogic_epi32(a, b, c, 0xe8)
#include "sha256mb_lanes.h"

typedef void (*compress_fn)(__m256i st[8], const uint8_t *const q[LANES],
			    const size_t step[LANES], size_t nblk);

/* The lanes over data[0..n), whatever the CPU (the caller checked). */
MB_TARGET static void many_lanes(uint8_t (*out)[BFS_HASH_LEN],
				 const void *const *data, const size_t *len,
				 size_t n, const uint32_t init[8],
				 uint64_t prefix, compress_fn compress)
{
	static const uint8_t dummy[64];
	const uint8_t *q[LANES];
	uint32_t hs[8][LANES], h1[8];
	size_t step[LANES], left[LANES], who[LANES], next = 0, m;
	__m256i st[8];
	int i, j, live;

	for (i = 0; i < LANES; i++) {
		q[i] = dummy;
		step[i] = 0;
		left[i] = 0;
		who[i] = SIZE_MAX;
	}
	for (j = 0; j < 8; j++)
		for (i = 0; i < LANES; i++)
			hs[j][i] = init[j];
	for (;;) {
		/* fill the idle lanes; a buffer of under one block is done
		 * by the scalar code at once */
		for (i = 0; i < LANES; i++) {
			while (who[i] == SIZE_MAX && next < n) {
				size_t k = next++;

				if (len[k] < 64) {
					memcpy(h1, init, sizeof(h1));
					finish1(h1, prefix, data[k], len[k], 0,
						out[k]);
					continue;
				}
				who[i] = k;
				q[i] = data[k];
				step[i] = 64;
				left[i] = len[k] / 64;
				for (j = 0; j < 8; j++)
					hs[j][i] = init[j];
			}
		}
		m = SIZE_MAX;
		live = 0;
		for (i = 0; i < LANES; i++)
			if (who[i] != SIZE_MAX) {
				live++;
				m = BFS_MIN(m, left[i]);
			}
		if (!live)
			break;
		for (j = 0; j < 8; j++)
			st[j] = _mm256_loadu_si256((const __m256i *)hs[j]);
		compress(st, q, step, m);
		for (j = 0; j < 8; j++)
			_mm256_storeu_si256((__m256i *)hs[j], st[j]);
		for (i = 0; i < LANES; i++) {
			size_t k = who[i];

			if (k == SIZE_MAX)
				continue;
			left[i] -= m;
			q[i] += m * 64;
			if (left[i])
				continue;
			for (j = 0; j < 8; j++)
				h1[j] = hs[j][i];
			finish1(h1, prefix, data[k], len[k], len[k] / 64,
				out[k]);
			who[i] = SIZE_MAX;
			q[i] = dummy;
			step[i] = 0;
		}
	}
	/* states of a keyed hash (HMAC's inner) are the key's to keep */
	OPENSSL_cleanse(hs, sizeof(hs));
	OPENSSL_cleanse(h1, sizeof(h1));
}

/* ---- SHA-NI, two buffers at once ---------------------------------------
 *
 * SHA256RNDS2 does two rounds, but the next two need its result: one
 * buffer's 32 of them a block form a chain of the instruction's latency.
 * On the Zen 4 bench machine that latency is twice its issue interval,
 * so a second buffer's rounds, interleaved, fill the gaps: 3,000-3,400
 * MB/s where OpenSSL's one-buffer SHA-NI code gives 1,550-1,800 (a third
 * and fourth buffer add 6 % more).  The state lives in the ABEF/CDGH
 * order the instructions use (Intel's SHA extensions paper, 2013).  */
#define NI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

NI_TARGET static inline void ni_load(const uint32_t h[8], __m128i *abef,
				     __m128i *cdgh)
{
	__m128i dcba = _mm_loadu_si128((const __m128i *)h);
	__m128i hgfe = _mm_loadu_si128((const __m128i *)(h + 4));

	dcba = _mm_shuffle_epi32(dcba, 0xB1); /* CDAB */
	hgfe = _mm_shuffle_epi32(hgfe, 0x1B); /* EFGH */
	*abef = _mm_alignr_epi8(dcba, hgfe, 8);
	*cdgh = _mm_blend_epi16(hgfe, dcba, 0xF0);
}

NI_TARGET static inline void ni_store(uint32_t h[8], __m128i abef, __m128i cdgh)
{
	__m128i feba = _mm_shuffle_epi32(abef, 0x1B);

	cdgh = _mm_shuffle_epi32(cdgh, 0xB1); /* DCHG */
	_mm_storeu_si128((__m128i *)h, _mm_blend_epi16(feba, cdgh, 0xF0));
	_mm_storeu_si128((__m128i *)(h + 4), _mm_alignr_epi8(cdgh, feba, 8));
}

/* Rounds 4g..4g+3 of the block at p into (abef, cdgh); m[4] holds the
 * last 16 message words (m[g & 3]: words 4g..4g+3 once made). */
#define NI_ROUNDS4(abef, cdgh, m, p, g)                                        \
	do {                                                                   \
		__m128i t_;                                                    \
		if ((g) < 4)                                                   \
			m[(g)] = _mm_shuffle_epi8(                             \
			    _mm_loadu_si128(                                   \
				(const __m128i *)((p) + 16 * (g))),            \
			    bswap);                                            \
		else                                                           \
			m[(g)&3] = _mm_sha256msg2_epu32(                       \
			    _mm_add_epi32(                                     \
				_mm_sha256msg1_epu32(m[(g)&3],                 \
						     m[((g) + 1) & 3]),        \
				_mm_alignr_epi8(m[((g) + 3) & 3],              \
						m[((g) + 2) & 3], 4)),         \
			    m[((g) + 3) & 3]);                                 \
		t_ = _mm_add_epi32(                                            \
		    m[(g)&3], _mm_loadu_si128((const __m128i *)&K[4 * (g)]));  \
		cdgh = _mm_sha256rnds2_epu32(cdgh, abef, t_);                  \
		abef = _mm_sha256rnds2_epu32(abef, cdgh,                       \
					     _mm_shuffle_epi32(t_, 0x0E));     \
	} while (0)

/* nblk blocks at p into h (the tails, and a buffer left alone) */
NI_TARGET static void ni_blocks1(uint32_t h[8], const uint8_t *p, size_t nblk)
{
	const __m128i bswap =
	    _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i a, b, sa, sb, m[4];
	int g;

	ni_load(h, &a, &b);
	for (; nblk; nblk--, p += 64) {
		sa = a, sb = b;
#pragma GCC unroll 16
		for (g = 0; g < 16; g++)
			NI_ROUNDS4(a, b, m, p, g);
		a = _mm_add_epi32(a, sa), b = _mm_add_epi32(b, sb);
	}
	ni_store(h, a, b);
}

/* nblk blocks of each of two buffers, p0 into h0 and p1 into h1 */
NI_TARGET static void ni_blocks2(uint32_t h0[8], uint32_t h1[8],
				 const uint8_t *p0, const uint8_t *p1,
				 size_t nblk)
{
	const __m128i bswap =
	    _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i a, b, c, d, sa, sb, sc, sd, m[4], n[4];
	int g;

	ni_load(h0, &a, &b);
	ni_load(h1, &c, &d);
	for (; nblk; nblk--, p0 += 64, p1 += 64) {
		sa = a, sb = b, sc = c, sd = d;
#pragma GCC unroll 16
		for (g = 0; g < 16; g++) {
			NI_ROUNDS4(a, b, m, p0, g);
			NI_ROUNDS4(c, d, n, p1, g);
		}
		a = _mm_add_epi32(a, sa), b = _mm_add_epi32(b, sb);
		c = _mm_add_epi32(c, sc), d = _mm_add_epi32(d, sd);
	}
	ni_store(h0, a, b);
	ni_store(h1, c, d);
}

/* data[0..n) two at a time, from state init after prefix bytes; a lane
 * whose buffer ends takes the next, so buffers of unequal lengths keep
 * both busy. */
static void many_ni(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
		    const size_t *len, size_t n, const uint32_t init[8],
		    uint64_t prefix)
{
	uint32_t h[2][8];
	const uint8_t *q[2];
	size_t left[2], who[2] = {SIZE_MAX, SIZE_MAX}, next = 0, m, k;
	size_t order[16], no = 0, t;
	int i;

	/* longest first (up to 16 of them): the buffer left alone at the
	 * end, hashed at one lane's speed, is then a short one */
	if (n <= 16) {
		for (k = 0; k < n; k++) {
			for (t = no; t > 0 && len[order[t - 1]] < len[k]; t--)
				order[t] = order[t - 1];
			order[t] = k;
			no++;
		}
	}
	for (;;) {
		for (i = 0; i < 2; i++) {
			while (who[i] == SIZE_MAX && next < n) {
				k = no ? order[next] : next;
				next++;
				memcpy(h[i], init, sizeof(h[i]));
				if (len[k] < 64) {
					finish_with(h[i], prefix, data[k],
						    len[k], 0, out[k],
						    ni_blocks1);
					continue;
				}
				who[i] = k;
				q[i] = data[k];
				left[i] = len[k] / 64;
			}
		}
		if (who[0] == SIZE_MAX && who[1] == SIZE_MAX)
			break;
		if (who[0] != SIZE_MAX && who[1] != SIZE_MAX) {
			m = BFS_MIN(left[0], left[1]);
			ni_blocks2(h[0], h[1], q[0], q[1], m);
		} else {
			/* one buffer left: the rest of it alone */
			i = who[0] == SIZE_MAX;
			m = left[i];
			ni_blocks1(h[i], q[i], m);
		}
		for (i = 0; i < 2; i++) {
			if (who[i] == SIZE_MAX)
				continue;
			left[i] -= m;
			q[i] += m * 64;
			if (left[i])
				continue;
			k = who[i];
			finish_with(h[i], prefix, data[k], len[k], len[k] / 64,
				    out[k], ni_blocks1);
			who[i] = SIZE_MAX;
		}
	}
	/* states of a keyed hash (HMAC's inner) are the key's to keep */
	OPENSSL_cleanse(h, sizeof(h));
}

/* CPUID leaves 1 (ECX:EDX) and 7 (ECX:EBX), as OpenSSL keeps them;
 * read once (CPUID traps to the hypervisor in a VM: 7 us here). */
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static uint64_t cpu_leaf1, cpu_leaf7;

static void cpu_read(void)
{
	unsigned a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d))
		cpu_leaf1 = (uint64_t)c << 32 | d;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
		cpu_leaf7 = (uint64_t)c << 32 | b;
}

/* Whether OpenSSL may use SHA-NI here: the CPU has it (and SSSE3 and
 * SSE4.1, which the code above needs too), and ia32cap (the value of
 * OPENSSL_ia32cap, or NULL) does not mask it.  That variable is read as
 * OpenSSL reads it ("[~]LEAF1[:[~]LEAF7]", a '~' clearing the bits
 * given, a plain value keeping only its own), so a run with SHA-NI
 * masked for OpenSSL has it masked here too. */
static bool shani_usable(const char *ia32cap)
{
	uint64_t leaf1, leaf7, v;
	const char *s;

	pthread_once(&cpu_once, cpu_read);
	leaf1 = cpu_leaf1;
	leaf7 = cpu_leaf7;
	if (ia32cap) {
		s = ia32cap + (*ia32cap == '~');
		v = strtoull(s, NULL, 0);
		if (*s != ':' && *s)
			leaf1 = *ia32cap == '~' ? leaf1 & ~v : (leaf1 & v);
		s = strchr(ia32cap, ':');
		if (s) {
			s++;
			v = strtoull(s + (*s == '~'), NULL, 0);
			leaf7 = *s == '~' ? leaf7 & ~v : (leaf7 & v);
		}
	}
	return (leaf7 >> 29 & 1) &&		       /* SHA */
	       (leaf1 >> 41 & 1) && (leaf1 >> 51 & 1); /* SSSE3, SSE4.1 */
}
#endif /* MB_X86 */

/* One buffer after another with OpenSSL. */
static void many_one(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
		     const size_t *len, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		bfs_sha256(out[i], data[i], len[i]);
}

void bfs_sha256_many_scalar(uint8_t (*out)[BFS_HASH_LEN],
			    const void *const *data, const size_t *len,
			    size_t n)
{
	size_t i;
	uint32_t h[8];

	for (i = 0; i < n; i++) {
		memcpy(h, H0, sizeof(h));
		finish1(h, 0, data[i], len[i], 0, out[i]);
	}
}

unsigned bfs_sha256_isas_for(const char *ia32cap)
{
	unsigned isas = 0;

#ifdef MB_X86
	if (__builtin_cpu_supports("avx2"))
		isas |= BFS_SHA256_AVX2;
	if (__builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512vl"))
		isas |= BFS_SHA256_AVX512;
	if (shani_usable(ia32cap))
		isas |= BFS_SHA256_SHANI;
#else
	(void)ia32cap;
#endif
	return isas;
}

static pthread_once_t isas_once = PTHREAD_ONCE_INIT;
static unsigned isas_here;

static void isas_read(void)
{
	isas_here = bfs_sha256_isas_for(getenv("OPENSSL_ia32cap"));
}

unsigned bfs_sha256_lanes_isas(void)
{
	pthread_once(&isas_once, isas_read);
	return isas_here;
}

/* The best of the isas in have: SHA-NI, then AVX-512VL, then AVX2. */
static unsigned best_isa(unsigned have)
{
	return have & BFS_SHA256_SHANI	  ? BFS_SHA256_SHANI
	       : have & BFS_SHA256_AVX512 ? BFS_SHA256_AVX512
					  : BFS_SHA256_AVX2;
}

/* The lanes with isa (0: the best), from state init after prefix bytes
 * (a multiple of 64); -ENOTSUP where isa is missing. */
static int lanes_run(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
		     const size_t *len, size_t n, unsigned isa,
		     const uint32_t init[8], uint64_t prefix)
{
	unsigned have = bfs_sha256_lanes_isas();

	if (!isa)
		isa = best_isa(have);
	if (!(have & isa) ||
	    (isa != BFS_SHA256_AVX2 && isa != BFS_SHA256_AVX512 &&
	     isa != BFS_SHA256_SHANI))
		return -ENOTSUP;
#ifdef MB_X86
	if (isa == BFS_SHA256_SHANI)
		many_ni(out, data, len, n, init, prefix);
	else
		many_lanes(out, data, len, n, init, prefix,
			   isa == BFS_SHA256_AVX512 ? compress8_512
						    : compress8);
	return 0;
#else
	(void)out, (void)data, (void)len, (void)n, (void)init, (void)prefix;
	return -ENOTSUP;
#endif
}

int bfs_sha256_many_lanes(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
			  const size_t *len, size_t n, unsigned isa)
{
	return lanes_run(out, data, len, n, isa, H0, 0);
}

/* HMAC (RFC 2104) with a key of one block or less: the inner hash in the
 * lanes from the state after the key's inner pad, the outer one here. */
int bfs_hmac_sha256_many_lanes(const uint8_t *key, size_t klen,
			       uint8_t (*out)[BFS_HASH_LEN],
			       const void *const *data, const size_t *len,
			       size_t n, unsigned isa)
{
	uint8_t pad[64], inner[BFS_HASH_LEN];
	uint32_t ist[8], ost[8], h[8];
	size_t i;
	int rc;

	if (klen > sizeof(pad))
		return -EINVAL;
	memset(pad, 0x36, sizeof(pad));
	for (i = 0; i < klen; i++)
		pad[i] ^= key[i];
	memcpy(ist, H0, sizeof(ist));
	compress1(ist, pad);
	memset(pad, 0x5c, sizeof(pad));
	for (i = 0; i < klen; i++)
		pad[i] ^= key[i];
	memcpy(ost, H0, sizeof(ost));
	compress1(ost, pad);
	rc = lanes_run(out, data, len, n, isa, ist, 64);
	for (i = 0; !rc && i < n; i++) {
		memcpy(inner, out[i], sizeof(inner));
		memcpy(h, ost, sizeof(h));
		finish1(h, 64, inner, sizeof(inner), 0, out[i]);
	}
	/* what the key made: no copy of it outlives the call */
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(ist, sizeof(ist));
	OPENSSL_cleanse(ost, sizeof(ost));
	OPENSSL_cleanse(h, sizeof(h));
	OPENSSL_cleanse(inner, sizeof(inner));
	return rc;
}

static pthread_once_t pick_once = PTHREAD_ONCE_INIT;
static unsigned pick_isa; /* 0: OpenSSL, one buffer after another */

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Time OpenSSL and the best path the CPU has on 8 buffers of 16 KiB,
 * best of three, and take that path only when it is clearly faster, so
 * that the choice does not flip with a noisy timing: a fifth faster for
 * SHA-NI's pairs, half again as fast for the AVX lanes, which want a
 * whole group of chunks decoded before they are checked (more of them
 * out of the cache by then). */
static void pick(void)
{
	enum { NB = 8, BL = 16384 };
	uint8_t(*out)[BFS_HASH_LEN];
	const void *data[NB];
	size_t len[NB];
	uint8_t *buf;
	unsigned have = bfs_sha256_lanes_isas(), isa;
	double one = 1e9, lanes = 1e9, t;
	int i, r;

	if (!have)
		return;
	isa = best_isa(have);
#ifdef BFS_FAULT_INJECTION
	{
		/* test builds, whatever the timing: "lanes", the best AVX
		 * lanes; "shani", SHA-NI's pairs; "openssl" */
		const char *v = getenv("BACKUPFS_TEST_SHA256");
		unsigned avx = have & (BFS_SHA256_AVX2 | BFS_SHA256_AVX512);

		if (v && !strcmp(v, "lanes")) {
			pick_isa = avx ? best_isa(avx) : 0;
			return;
		}
		if (v && !strcmp(v, "shani")) {
			pick_isa = have & BFS_SHA256_SHANI;
			return;
		}
		if (v && !strcmp(v, "openssl"))
			return;
	}
#endif
	buf = calloc(NB, BL);
	out = calloc(NB, BFS_HASH_LEN);
	if (!buf || !out)
		goto out;
	for (i = 0; i < NB; i++) {
		buf[i * BL] = (uint8_t)i;
		data[i] = buf + (size_t)i * BL;
		len[i] = BL;
	}
	for (r = 0; r < 3; r++) {
		t = now_s();
		many_one(out, data, len, NB);
		one = BFS_MIN(one, now_s() - t);
		t = now_s();
		(void)bfs_sha256_many_lanes(out, data, len, NB, isa);
		lanes = BFS_MIN(lanes, now_s() - t);
	}
	if (lanes * (isa == BFS_SHA256_SHANI ? 1.2 : 1.5) < one)
		pick_isa = isa;
out:
	free(buf);
	free(out);
}

unsigned bfs_sha256_many_isa(void)
{
	pthread_once(&pick_once, pick);
	return pick_isa;
}

#ifdef BFS_FAULT_INJECTION
int bfs_sha256_many_test_use(unsigned isa)
{
	pthread_once(&pick_once, pick);
	if (isa && (isa & (isa - 1) || !(bfs_sha256_lanes_isas() & isa)))
		return -ENOTSUP;
	pick_isa = isa;
	return 0;
}
#endif

const char *bfs_sha256_isa_name(unsigned isa)
{
	switch (isa) {
	case BFS_SHA256_SHANI:
		return "SHA-NI pairs";
	case BFS_SHA256_AVX512:
		return "AVX-512VL lanes";
	case BFS_SHA256_AVX2:
		return "AVX2 lanes";
	default:
		return "OpenSSL";
	}
}

size_t bfs_sha256_many_batch(void)
{
	unsigned isa = bfs_sha256_many_isa();

	return !isa ? 1 : isa == BFS_SHA256_SHANI ? 2 : 16;
}

bool bfs_sha256_many_pays(size_t n)
{
	unsigned isa = bfs_sha256_many_isa();

	/* SHA-NI gains from two buffers on; one or two fill too few of
	 * the AVX lanes */
	return isa && n >= (isa == BFS_SHA256_SHANI ? 2u : 3u);
}

void bfs_sha256_many(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
		     const size_t *len, size_t n)
{
	if (bfs_sha256_many_pays(n) &&
	    bfs_sha256_many_lanes(out, data, len, n, bfs_sha256_many_isa()) ==
		0)
		return;
	many_one(out, data, len, n);
}
