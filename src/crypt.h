/* crypt.h - encryption at rest (doc/FORMAT.md, "Encryption"): the master
 * keys of an encrypted repository, AES-256-GCM sealing, keyed blob ids
 * and the key objects (`keys/<64 hex>`) that wrap the master keys under a
 * password with scrypt.  libcrypto (EVP) does the work; AES-NI is used
 * when the CPU has it.
 *
 * Sealed bytes are nonce (12, random) || ciphertext || tag (16).  The AAD
 * names what the bytes are (a blob id, an object key), so that sealed
 * bytes moved to another place fail to open.
 *
 * Thread safety: the keys of a struct bfs_crypt are read-only after it
 * is made; every function may be called from several threads at once.
 * It keeps idle libcrypto contexts with its keys set (one per thread
 * that used it at the same time, under a lock), so that sealing,
 * opening and blob ids neither fetch an algorithm nor set a key per
 * call; they are freed with it.
 */
#ifndef BFS_CRYPT_H
#define BFS_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define BFS_CRYPT_NONCE 12
#define BFS_CRYPT_TAG 16
#define BFS_CRYPT_OVERHEAD (BFS_CRYPT_NONCE + BFS_CRYPT_TAG) /* 28 */
#define BFS_CRYPT_KEY 32
#define BFS_KEY_KEYS "keys/" /* keys/<64 hex>: key objects */
#define BFS_KEY_OBJECT_MAX 4096

/* AAD prefixes (the ASCII bytes, no NUL). */
#define BFS_AAD_BLOB "backupfs blob "		 /* + 32-byte blob id */
#define BFS_AAD_OBJECT "backupfs object "	 /* + the object's key */
#define BFS_AAD_PACK_INDEX "backupfs pack index" /* a sealed pack index */
#define BFS_AAD_KEY "backupfs key"		 /* the wrapped master keys */

/* The master keys of a repository (opaque). */
struct bfs_crypt;

/* scrypt parameters of a key object. */
struct bfs_kdf_params {
	uint64_t n; /* CPU/memory cost, a power of two */
	uint32_t r, p;
};

/* The parameters new key objects get: N 2^16, r 8, p 1 (64 MiB, about
 * 0.2 s on a current CPU, 1 s on a slow shared one), or N 2^10 when
 * $BACKUPFS_TEST_KDF is "fast" (tests only; the key object records what
 * was used). */
void bfs_kdf_default(struct bfs_kdf_params *p);

/* Whether p is within the bounds a key object may carry (FORMAT 19: N a
 * power of two from 2^10 to 2^22, r 1..32, p 1..16, 128 r N at most
 * 1 GiB). */
bool bfs_kdf_valid(const struct bfs_kdf_params *p);

/* scrypt (RFC 7914) of pass with salt into out[0..outlen).  0, -EINVAL
 * (parameters out of range), -ENOMEM. */
int bfs_scrypt(const void *pass, size_t plen, const uint8_t *salt, size_t slen,
	       const struct bfs_kdf_params *p, uint8_t *out, size_t outlen);

/* AES-256-GCM with a raw 32-byte key: seal plain[0..n) with a fresh
 * random nonce, appending nonce || ciphertext || tag to out.  0 or
 * -errno (err says why). */
int bfs_aead_seal(const uint8_t key[BFS_CRYPT_KEY], const void *aad,
		  size_t aadlen, const void *plain, size_t n,
		  struct bfs_buf *out, struct bfs_err *err);
/* Open sealed[0..n), appending the plain bytes to out.  -EBADMSG when
 * the tag does not match (wrong key, other AAD, any changed byte);
 * -EUCLEAN when n is shorter than the overhead. */
int bfs_aead_open(const uint8_t key[BFS_CRYPT_KEY], const void *aad,
		  size_t aadlen, const void *sealed, size_t n,
		  struct bfs_buf *out, struct bfs_err *err);

/* New random master keys.  *out owned by the caller (bfs_crypt_free). */
int bfs_crypt_new(struct bfs_crypt **out);
void bfs_crypt_free(struct bfs_crypt *k); /* NULL ok; wipes the keys */
/* Same master keys (so blob ids and sealed bytes are interchangeable). */
bool bfs_crypt_equal(const struct bfs_crypt *a, const struct bfs_crypt *b);

/* Seal / open with the repository's AEAD key (see bfs_aead_*). */
int bfs_crypt_seal(const struct bfs_crypt *k, const void *aad, size_t aadlen,
		   const void *plain, size_t n, struct bfs_buf *out,
		   struct bfs_err *err);
/* Seal in place, for a caller that wrote the plain bytes where the
 * sealed ones go: buf->data[start .. start + BFS_CRYPT_NONCE) is room
 * for the nonce, the plain bytes follow up to buf->len; they are
 * encrypted where they are and the tag is appended (buf->len grows by
 * BFS_CRYPT_TAG).  0 or -errno (err says why; the bytes are then
 * undefined). */
int bfs_crypt_seal_in_place(const struct bfs_crypt *k, const void *aad,
			    size_t aadlen, struct bfs_buf *buf, size_t start,
			    struct bfs_err *err);
int bfs_crypt_open(const struct bfs_crypt *k, const void *aad, size_t aadlen,
		   const void *sealed, size_t n, struct bfs_buf *out,
		   struct bfs_err *err);
/* AAD of a blob: BFS_AAD_BLOB || id; aad must hold BFS_AAD_BLOB_LEN. */
#define BFS_AAD_BLOB_LEN (sizeof(BFS_AAD_BLOB) - 1 + BFS_HASH_LEN)
void bfs_crypt_blob_aad(uint8_t *aad, const uint8_t id[BFS_HASH_LEN]);

/* Keyed blob id: HMAC-SHA256(id key, data). */
void bfs_crypt_blob_id(const struct bfs_crypt *k, uint8_t out[BFS_HASH_LEN],
		       const void *data, size_t n);
/* The keyed ids of n buffers: on sha256mb's own path where it takes one
 * (bfs_sha256_many_pays), else one by one as bfs_crypt_blob_id. */
void bfs_crypt_blob_id_many(const struct bfs_crypt *k,
			    uint8_t (*out)[BFS_HASH_LEN],
			    const void *const *data, const size_t *len,
			    size_t n);

/* A key object (JSON, BFS_KEY_OBJECT_MAX bytes at most) wrapping k under
 * pass with parameters p (NULL: bfs_kdf_default) and a label
 * ("user@host", may be NULL), into out (replaced).  *name gets its name
 * (SHA-256 of the bytes).  0 or -errno. */
int bfs_crypt_wrap(const struct bfs_crypt *k, const void *pass, size_t plen,
		   const struct bfs_kdf_params *p, const char *label,
		   struct bfs_buf *out, uint8_t name[BFS_HASH_LEN],
		   struct bfs_err *err);

/* What a key object says in clear (for `key list`). */
struct bfs_key_info {
	struct bfs_kdf_params kdf;
	char created[32];
	char label[128];
};

/* Parse a key object (untrusted) into info; with pass non-NULL also
 * unwrap it into *out (caller frees).  -EUCLEAN malformed (err says
 * what), -EACCES the password does not open it, -ENOMEM. */
int bfs_crypt_unwrap(const void *obj, size_t n, const void *pass, size_t plen,
		     struct bfs_key_info *info, struct bfs_crypt **out,
		     struct bfs_err *err);

/* Check key object obj[0..n) (untrusted) against k, which
 * bfs_crypt_unwrap made from a key object: it parses (as
 * bfs_crypt_unwrap) and its wrapped keys open, with the key derived
 * from the password then (the object's own salt), to k's master keys.
 * 0 yes; -EUCLEAN malformed; -EBADMSG it does not open with that key
 * (another object, or a changed byte); -ESTALE it opens to other master
 * keys; -ENOKEY k was not unwrapped (made by bfs_crypt_new); -ENOMEM.
 * err says what is wrong. */
int bfs_crypt_check_wrap(const struct bfs_crypt *k, const void *obj, size_t n,
			 struct bfs_err *err);

#endif
