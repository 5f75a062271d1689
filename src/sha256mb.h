/* sha256mb.h - SHA-256 of several buffers at once.
 *
 * bfs_sha256_many hashes n independent buffers; where the CPU lacks
 * SHA-NI but has AVX2, eight at a time in the lanes of one register
 * (AVX-512VL where it has that too; three to four times OpenSSL's
 * one-buffer speed there), else one after another with OpenSSL.  Every
 * path gives the digests bfs_sha256 gives.  HMAC-SHA256 (an encrypted
 * repository's keyed ids) runs in the same lanes.
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

/* Whether bfs_sha256_many uses the lanes in this process (decided at
 * its first call, or here). */
bool bfs_sha256_many_uses_lanes(void);

/* The paths themselves, for tests and benchmarks.  The lanes' instruction
 * sets this CPU and build have (a mask of BFS_SHA256_*); the lanes with
 * one of them (0: the best), -ENOTSUP where it is missing; and the
 * portable one-block code the lanes finish their tails with. */
enum { BFS_SHA256_AVX2 = 1, BFS_SHA256_AVX512 = 2 };
unsigned bfs_sha256_lanes_isas(void);
int bfs_sha256_many_lanes(uint8_t (*out)[BFS_HASH_LEN], const void *const *data,
			  const size_t *len, size_t n, unsigned isa);
/* HMAC-SHA256 (RFC 2104) under key[0..klen) (klen <= 64) of n buffers
 * in the lanes (isa 0: the best): for keyed blob ids (crypt.c), which
 * fall back to OpenSSL.  -ENOTSUP as above, -EINVAL for a longer key.
 * Nothing derived from the key is left on the stack. */
int bfs_hmac_sha256_many_lanes(const uint8_t *key, size_t klen,
			       uint8_t (*out)[BFS_HASH_LEN],
			       const void *const *data, const size_t *len,
			       size_t n, unsigned isa);
void bfs_sha256_many_scalar(uint8_t (*out)[BFS_HASH_LEN],
			    const void *const *data, const size_t *len,
			    size_t n);

#endif
