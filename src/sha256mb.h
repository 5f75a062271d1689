/* sha256mb.h - SHA-256 of several buffers at once.
 *
 * bfs_sha256_many hashes n independent buffers: where the CPU has
 * SHA-NI, two at a time with their rounds interleaved (about twice
 * OpenSSL's one-buffer speed); where it lacks SHA-NI but has AVX2,
 * eight at a time in the lanes of one register (AVX-512VL where it has
 * that too; three to four times OpenSSL's one-buffer speed there); else
 * one after another with OpenSSL.  Every path gives the digests
 * bfs_sha256 gives.  HMAC-SHA256 (an encrypted repository's keyed ids)
 * runs on the same paths.
 * Thread-safe.
 */
#ifndef BFS_SHA256MB_H
#define BFS_SHA256MB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* out[i] = SHA-256 of data[i][0..len[i]) for i < n. */
void bfs_sha256_many(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
		     const size_t *len, size_t n);

/* The path bfs_sha256_many takes in this process, decided at the first
 * call of any of these (a timing against OpenSSL): one of BFS_SHA256_*,
 * or 0 for OpenSSL, one buffer after another. */
unsigned bfs_sha256_many_isa(void);
/* A path's name for logs: "SHA-NI pairs", "AVX-512VL lanes", "AVX2
 * lanes" or (0) "OpenSSL". */
const char *bfs_sha256_isa_name(unsigned isa);
/* How many buffers a caller should gather to hash together: 1 (OpenSSL
 * gains nothing), 2 (SHA-NI) or 16 (the AVX lanes: two per lane, so a
 * lane whose buffer ends early takes another). */
size_t bfs_sha256_many_batch(void);
/* Whether bfs_sha256_many of n buffers takes its own path: from two
 * buffers on with SHA-NI, three with the AVX lanes. */
bool bfs_sha256_many_pays(size_t n);
#ifdef BFS_FAULT_INJECTION
/* Test builds: take path isa (0: OpenSSL) from now on, if this CPU has
 * it; -ENOTSUP otherwise. */
int bfs_sha256_many_test_use(unsigned isa);
#endif

/* The paths themselves, for tests and benchmarks.  The instruction sets
 * this CPU and build have for them (a mask of BFS_SHA256_*; SHA-NI only
 * where OPENSSL_ia32cap does not mask it for OpenSSL); the path with one
 * of them (0: the best, SHA-NI first), -ENOTSUP where it is missing;
 * and the portable one-block code the AVX lanes finish their tails
 * with. */
enum { BFS_SHA256_AVX2 = 1, BFS_SHA256_AVX512 = 2, BFS_SHA256_SHANI = 4 };
unsigned bfs_sha256_lanes_isas(void);
/* The same for a given value of OPENSSL_ia32cap (NULL: unset), which
 * bfs_sha256_lanes_isas reads once, at its first call. */
unsigned bfs_sha256_isas_for(const char *ia32cap);
int bfs_sha256_many_lanes(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
			  const size_t *len, size_t n, unsigned isa);
/* HMAC-SHA256 (RFC 2104) under key[0..klen) (klen <= 64) of n buffers
 * on one of these paths (isa 0: the best): for keyed blob ids
 * (crypt.c), which fall back to OpenSSL.  -ENOTSUP as above, -EINVAL
 * for a longer key.  Nothing derived from the key is left on the
 * stack. */
int bfs_hmac_sha256_many_lanes(const uint8_t *key, size_t klen,
			       uint8_t (*out)[BFS_HASH_LEN],
			       const void *const *data, const size_t *len,
			       size_t n, unsigned isa);
void bfs_sha256_many_scalar(uint8_t (*out)[BFS_HASH_LEN],
			    const void *const *data, const size_t *len,
			    size_t n);

#endif
