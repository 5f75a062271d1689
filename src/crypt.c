/* crypt.c - master keys, AES-256-GCM sealing, keyed blob ids and key
 * objects (see crypt.h and doc/FORMAT.md, "Encryption").
 *
 * A key object (JSON, one line):
 *   {"backupfs":"key","version":1,"created":"2026-11-26T06:00:00Z",
 *    "label":"root@db1","kdf":"scrypt","n":65536,"r":8,"p":1,
 *    "salt":"<base64, 32 bytes>","nonce":"<base64, 12 bytes>",
 *    "wrapped":"<base64, 64 + 16 bytes>"}
 * wrapped = AES-256-GCM(scrypt(password, salt, n, r, p, 32 bytes), nonce,
 * AAD "backupfs key") of the 64 master bytes: AEAD key || id key.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#include <openssl/core_names.h>
#define HAVE_EVP_MAC 1
#endif

#include "crypt.h"
#include "sha256mb.h"

#define MASTER_LEN (2 * BFS_CRYPT_KEY)
#define SALT_LEN 32

/* Idle contexts, each with the key set once (AES key schedule, HMAC
 * inner and outer pads), taken by one thread for one operation and put
 * back: the hot path neither fetches an algorithm nor sets a key. */
struct ctx_stack {
	void **v;
	size_t n, cap;
};

struct bfs_crypt {
	uint8_t aead[BFS_CRYPT_KEY]; /* seals blobs, objects, pack indexes */
	uint8_t id[BFS_CRYPT_KEY];   /* HMAC key of blob ids */
	pthread_mutex_t lock;	     /* protects ciphers and macs */
	struct ctx_stack ciphers;    /* EVP_CIPHER_CTX, AES-256-GCM, aead */
	struct ctx_stack macs;	     /* EVP_MAC_CTX, HMAC-SHA256, id */
	/* the KEK of the key object k was unwrapped from (kek_set) */
	uint8_t kek[BFS_CRYPT_KEY];
	bool kek_set;
};

void bfs_kdf_default(struct bfs_kdf_params *p)
{
	const char *t = getenv("BACKUPFS_TEST_KDF");

	p->n = t && !strcmp(t, "fast") ? (1u << 10) : (1u << 16);
	p->r = 8;
	p->p = 1;
}

bool bfs_kdf_valid(const struct bfs_kdf_params *p)
{
	/* powers of two from 2^10 (tests) to 2^22, at most 1 GiB of
	 * memory (128 r N): a hostile key object must not exhaust it */
	return p->n >= (1u << 10) && p->n <= (1u << 22) &&
	       (p->n & (p->n - 1)) == 0 && p->r >= 1 && p->r <= 32 &&
	       p->p >= 1 && p->p <= 16 && 128ull * p->r * p->n <= (1ull << 30);
}

int bfs_scrypt(const void *pass, size_t plen, const uint8_t *salt, size_t slen,
	       const struct bfs_kdf_params *p, uint8_t *out, size_t outlen)
{
	uint64_t mem;

	if (p->n < 2 || (p->n & (p->n - 1)) || p->r < 1 || p->r > 32 ||
	    p->p < 1 || p->p > 16 || p->n > (1u << 22))
		return -EINVAL;
	mem = 128ull * p->r * (p->n + p->p) + (1u << 20);
	if (!EVP_PBE_scrypt(pass, plen, salt, slen, p->n, p->r, p->p, mem, out,
			    outlen))
		return -ENOMEM;
	return 0;
}

/* ---- AES-256-GCM -------------------------------------------------------- */

/* A GCM context with key set (encryption direction), or NULL. */
static EVP_CIPHER_CTX *gcm_new(const uint8_t key[BFS_CRYPT_KEY])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL,
				     1) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* One GCM operation on a keyed ctx: nonce, aad, in[0..n) to out (may be
 * in: in place), tag out (enc) or checked (dec).  0, -EIO (libcrypto
 * failed), -EBADMSG (the tag does not match). */
static int gcm_run(EVP_CIPHER_CTX *ctx, int enc, const uint8_t *nonce,
		   const void *aad, size_t aadlen, const uint8_t *in,
		   uint8_t *out, size_t n, uint8_t *tag)
{
	int len;

	if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, enc) != 1 ||
	    (aadlen &&
	     EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1) ||
	    (n && EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1))
		return -EIO;
	if (!enc) {
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
					BFS_CRYPT_TAG, tag) != 1)
			return -EIO;
		return EVP_CipherFinal_ex(ctx, out + n, &len) == 1 ? 0
								   : -EBADMSG;
	}
	if (EVP_CipherFinal_ex(ctx, out + n, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BFS_CRYPT_TAG,
				tag) != 1)
		return -EIO;
	return 0;
}

/* Seal buf->data[start + NONCE .. buf->len) in place: a fresh nonce
 * into the NONCE bytes at start, the tag appended. */
static int seal_in_place(EVP_CIPHER_CTX *ctx, const void *aad, size_t aadlen,
			 struct bfs_buf *buf, size_t start, struct bfs_err *err)
{
	uint8_t *p;
	size_t n;
	int rc;

	if (start > buf->len || buf->len - start < BFS_CRYPT_NONCE)
		return bfs_err_set(err, -EINVAL, "no room for the nonce");
	n = buf->len - start - BFS_CRYPT_NONCE;
	if (n > INT32_MAX || aadlen > INT32_MAX)
		return bfs_err_set(err, -EFBIG, "cannot seal %zu bytes", n);
	rc = bfs_buf_reserve(buf, BFS_CRYPT_TAG);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	p = buf->data + start;
	rc = bfs_random(p, BFS_CRYPT_NONCE);
	if (rc)
		return bfs_err_set(err, rc, "cannot get random bytes: %s",
				   strerror(-rc));
	rc = gcm_run(ctx, 1, p, aad, aadlen, p + BFS_CRYPT_NONCE,
		     p + BFS_CRYPT_NONCE, n, p + BFS_CRYPT_NONCE + n);
	if (rc)
		return bfs_err_set(err, rc, "AES-256-GCM encryption failed");
	buf->len += BFS_CRYPT_TAG;
	return 0;
}

/* Append nonce || seal(plain) || tag to out. */
static int seal_append(EVP_CIPHER_CTX *ctx, const void *aad, size_t aadlen,
		       const void *plain, size_t n, struct bfs_buf *out,
		       struct bfs_err *err)
{
	size_t start = out->len;
	int rc;

	if (n > INT32_MAX)
		return bfs_err_set(err, -EFBIG, "cannot seal %zu bytes", n);
	rc = bfs_buf_reserve(out, n + BFS_CRYPT_OVERHEAD);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	if (n)
		memcpy(out->data + start + BFS_CRYPT_NONCE, plain, n);
	out->len += BFS_CRYPT_NONCE + n;
	rc = seal_in_place(ctx, aad, aadlen, out, start, err);
	if (rc)
		out->len = start;
	return rc;
}

/* Open sealed[0..n), appending the plain bytes to out. */
static int open_append(EVP_CIPHER_CTX *ctx, const void *aad, size_t aadlen,
		       const void *sealed, size_t n, struct bfs_buf *out,
		       struct bfs_err *err)
{
	const uint8_t *s = sealed;
	uint8_t tag[BFS_CRYPT_TAG];
	size_t clen;
	int rc;

	if (n < BFS_CRYPT_OVERHEAD)
		return bfs_err_set(err, -EUCLEAN,
				   "sealed bytes too short (%zu)", n);
	clen = n - BFS_CRYPT_OVERHEAD;
	if (clen > INT32_MAX || aadlen > INT32_MAX)
		return bfs_err_set(err, -EFBIG, "cannot open %zu bytes", n);
	rc = bfs_buf_reserve(out, clen + 1);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	memcpy(tag, s + BFS_CRYPT_NONCE + clen, BFS_CRYPT_TAG);
	rc = gcm_run(ctx, 0, s, aad, aadlen, s + BFS_CRYPT_NONCE,
		     out->data + out->len, clen, tag);
	if (rc == -EBADMSG) {
		/* never hand out the unauthenticated bytes */
		OPENSSL_cleanse(out->data + out->len, clen);
		return bfs_err_set(err, rc, "authentication failed");
	}
	if (rc)
		return bfs_err_set(err, rc, "AES-256-GCM decryption failed");
	out->len += clen;
	return 0;
}

int bfs_aead_seal(const uint8_t key[BFS_CRYPT_KEY], const void *aad,
		  size_t aadlen, const void *plain, size_t n,
		  struct bfs_buf *out, struct bfs_err *err)
{
	EVP_CIPHER_CTX *ctx = gcm_new(key);
	int rc;

	if (!ctx)
		return bfs_err_set(err, -ENOMEM, "cannot set up AES-256-GCM");
	rc = seal_append(ctx, aad, aadlen, plain, n, out, err);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int bfs_aead_open(const uint8_t key[BFS_CRYPT_KEY], const void *aad,
		  size_t aadlen, const void *sealed, size_t n,
		  struct bfs_buf *out, struct bfs_err *err)
{
	EVP_CIPHER_CTX *ctx = gcm_new(key);
	int rc;

	if (!ctx)
		return bfs_err_set(err, -ENOMEM, "cannot set up AES-256-GCM");
	rc = open_append(ctx, aad, aadlen, sealed, n, out, err);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* ---- master keys and their idle contexts ------------------------------- */

static void *stack_pop(struct bfs_crypt *k, struct ctx_stack *s)
{
	void *p = NULL;

	pthread_mutex_lock(&k->lock);
	if (s->n)
		p = s->v[--s->n];
	pthread_mutex_unlock(&k->lock);
	return p;
}

/* Put p back; false when there is no room (the caller frees it). */
static bool stack_push(struct bfs_crypt *k, struct ctx_stack *s, void *p)
{
	void **v;
	bool ok = true;

	pthread_mutex_lock(&k->lock);
	if (s->n == s->cap) {
		v = realloc(s->v, (s->cap ? 2 * s->cap : 8) * sizeof(*v));
		if (v) {
			s->v = v;
			s->cap = s->cap ? 2 * s->cap : 8;
		}
	}
	if (s->n < s->cap)
		s->v[s->n++] = p;
	else
		ok = false;
	pthread_mutex_unlock(&k->lock);
	return ok;
}

/* Zeroed keys with a working lock, or NULL. */
static struct bfs_crypt *crypt_alloc(void)
{
	struct bfs_crypt *k = calloc(1, sizeof(*k));

	if (k && pthread_mutex_init(&k->lock, NULL)) {
		free(k);
		k = NULL;
	}
	return k;
}

int bfs_crypt_new(struct bfs_crypt **out)
{
	struct bfs_crypt *k = crypt_alloc();
	int rc;

	*out = NULL;
	if (!k)
		return -ENOMEM;
	rc = bfs_random(k->aead, sizeof(k->aead));
	if (!rc)
		rc = bfs_random(k->id, sizeof(k->id));
	if (rc) {
		bfs_crypt_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

static void mac_free(void *p)
{
#ifdef HAVE_EVP_MAC
	EVP_MAC_CTX_free(p);
#else
	(void)p;
#endif
}

void bfs_crypt_free(struct bfs_crypt *k)
{
	size_t i;

	if (!k)
		return;
	/* libcrypto wipes a context's key material when it frees it */
	for (i = 0; i < k->ciphers.n; i++)
		EVP_CIPHER_CTX_free(k->ciphers.v[i]);
	for (i = 0; i < k->macs.n; i++)
		mac_free(k->macs.v[i]);
	free(k->ciphers.v);
	free(k->macs.v);
	pthread_mutex_destroy(&k->lock);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

bool bfs_crypt_equal(const struct bfs_crypt *a, const struct bfs_crypt *b)
{
	return a && b && CRYPTO_memcmp(a->aead, b->aead, BFS_CRYPT_KEY) == 0 &&
	       CRYPTO_memcmp(a->id, b->id, BFS_CRYPT_KEY) == 0;
}

/* An idle keyed GCM context of k (made when none is idle), or NULL. */
static EVP_CIPHER_CTX *cipher_take(const struct bfs_crypt *kc)
{
	struct bfs_crypt *k = (struct bfs_crypt *)kc; /* the lock only */
	EVP_CIPHER_CTX *ctx = stack_pop(k, &k->ciphers);

	return ctx ? ctx : gcm_new(k->aead);
}

static void cipher_give(const struct bfs_crypt *kc, EVP_CIPHER_CTX *ctx)
{
	struct bfs_crypt *k = (struct bfs_crypt *)kc;

	if (!stack_push(k, &k->ciphers, ctx))
		EVP_CIPHER_CTX_free(ctx);
}

int bfs_crypt_seal(const struct bfs_crypt *k, const void *aad, size_t aadlen,
		   const void *plain, size_t n, struct bfs_buf *out,
		   struct bfs_err *err)
{
	EVP_CIPHER_CTX *ctx = cipher_take(k);
	int rc;

	if (!ctx)
		return bfs_err_set(err, -ENOMEM, "cannot set up AES-256-GCM");
	rc = seal_append(ctx, aad, aadlen, plain, n, out, err);
	cipher_give(k, ctx);
	return rc;
}

int bfs_crypt_seal_in_place(const struct bfs_crypt *k, const void *aad,
			    size_t aadlen, struct bfs_buf *buf, size_t start,
			    struct bfs_err *err)
{
	EVP_CIPHER_CTX *ctx = cipher_take(k);
	int rc;

	if (!ctx)
		return bfs_err_set(err, -ENOMEM, "cannot set up AES-256-GCM");
	rc = seal_in_place(ctx, aad, aadlen, buf, start, err);
	cipher_give(k, ctx);
	return rc;
}

int bfs_crypt_open(const struct bfs_crypt *k, const void *aad, size_t aadlen,
		   const void *sealed, size_t n, struct bfs_buf *out,
		   struct bfs_err *err)
{
	EVP_CIPHER_CTX *ctx = cipher_take(k);
	int rc;

	if (!ctx)
		return bfs_err_set(err, -ENOMEM, "cannot set up AES-256-GCM");
	rc = open_append(ctx, aad, aadlen, sealed, n, out, err);
	cipher_give(k, ctx);
	return rc;
}

void bfs_crypt_blob_aad(uint8_t *aad, const uint8_t id[BFS_HASH_LEN])
{
	memcpy(aad, BFS_AAD_BLOB, sizeof(BFS_AAD_BLOB) - 1);
	memcpy(aad + sizeof(BFS_AAD_BLOB) - 1, id, BFS_HASH_LEN);
}

#ifdef HAVE_EVP_MAC
/* An HMAC-SHA256 context keyed with the id key, or NULL. */
static EVP_MAC_CTX *mac_new(const struct bfs_crypt *k)
{
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(
				   OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
			       OSSL_PARAM_construct_end()};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;

	EVP_MAC_free(mac); /* the context holds its own reference */
	if (ctx && EVP_MAC_init(ctx, k->id, BFS_CRYPT_KEY, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* HMAC with an idle keyed context: reinitialised with the key it holds
 * (NULL key: the pads are not computed again). */
static bool mac_run(const struct bfs_crypt *kc, uint8_t out[BFS_HASH_LEN],
		    const void *data, size_t n)
{
	struct bfs_crypt *k = (struct bfs_crypt *)kc; /* the lock only */
	EVP_MAC_CTX *ctx = stack_pop(k, &k->macs);
	size_t len = 0;
	bool ok;

	if (!ctx)
		ctx = mac_new(k);
	if (!ctx)
		return false;
	ok = EVP_MAC_init(ctx, NULL, 0, NULL) == 1 &&
	     EVP_MAC_update(ctx, data, n) == 1 &&
	     EVP_MAC_final(ctx, out, &len, BFS_HASH_LEN) == 1 &&
	     len == BFS_HASH_LEN;
	if (!ok || !stack_push(k, &k->macs, ctx))
		EVP_MAC_CTX_free(ctx);
	return ok;
}
#else
static bool mac_run(const struct bfs_crypt *k, uint8_t out[BFS_HASH_LEN],
		    const void *data, size_t n)
{
	(void)k, (void)out, (void)data, (void)n;
	return false; /* libcrypto 1.1: HMAC() below, no fetch to save */
}
#endif

void bfs_crypt_blob_id(const struct bfs_crypt *k, uint8_t out[BFS_HASH_LEN],
		       const void *data, size_t n)
{
	unsigned int len = BFS_HASH_LEN;

	if (mac_run(k, out, data, n))
		return;
	/* cannot fail with SHA-256 and a valid key (as bfs_sha256) */
	if (!HMAC(EVP_sha256(), k->id, BFS_CRYPT_KEY, data, n, out, &len))
		memset(out, 0, BFS_HASH_LEN);
}

void bfs_crypt_blob_id_many(const struct bfs_crypt *k,
			    uint8_t (*out)[BFS_HASH_LEN],
			    const void *const *data, const size_t *len,
			    size_t n)
{
	size_t i;

	if (bfs_sha256_many_pays(n) &&
	    bfs_hmac_sha256_many_lanes(k->id, sizeof(k->id), out, data, len, n,
				       bfs_sha256_many_isa()) == 0)
		return;
	for (i = 0; i < n; i++)
		bfs_crypt_blob_id(k, out[i], data[i], len[i]);
}

/* ---- key objects ------------------------------------------------------ */

static int add_b64(cJSON *o, const char *name, const uint8_t *p, size_t n)
{
	char *s = NULL;
	int rc = bfs_b64_encode(p, n, &s);

	if (!rc && !cJSON_AddStringToObject(o, name, s))
		rc = -ENOMEM;
	free(s);
	return rc;
}

int bfs_crypt_wrap(const struct bfs_crypt *k, const void *pass, size_t plen,
		   const struct bfs_kdf_params *p, const char *label,
		   struct bfs_buf *out, uint8_t name[BFS_HASH_LEN],
		   struct bfs_err *err)
{
	struct bfs_kdf_params def;
	uint8_t salt[SALT_LEN], kek[BFS_CRYPT_KEY], master[MASTER_LEN];
	struct bfs_buf w = {0};
	char created[32];
	cJSON *o = NULL;
	char *text = NULL;
	struct tm tm;
	time_t now;
	int rc;

	if (!p) {
		bfs_kdf_default(&def);
		p = &def;
	}
	out->len = 0;
	rc = bfs_random(salt, sizeof(salt));
	if (rc)
		return bfs_err_set(err, rc, "cannot get random bytes");
	rc = bfs_scrypt(pass, plen, salt, sizeof(salt), p, kek, sizeof(kek));
	if (rc) {
		bfs_err_set(err, rc, "scrypt failed");
		goto out;
	}
	memcpy(master, k->aead, BFS_CRYPT_KEY);
	memcpy(master + BFS_CRYPT_KEY, k->id, BFS_CRYPT_KEY);
	rc = bfs_aead_seal(kek, BFS_AAD_KEY, sizeof(BFS_AAD_KEY) - 1, master,
			   sizeof(master), &w, err);
	if (rc)
		goto out;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	rc = -ENOMEM;
	o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "backupfs", "key") ||
	    !cJSON_AddNumberToObject(o, "version", 1) ||
	    !cJSON_AddStringToObject(o, "created", created) ||
	    !cJSON_AddStringToObject(o, "label", label ? label : "") ||
	    !cJSON_AddStringToObject(o, "kdf", "scrypt") ||
	    !cJSON_AddNumberToObject(o, "n", (double)p->n) ||
	    !cJSON_AddNumberToObject(o, "r", p->r) ||
	    !cJSON_AddNumberToObject(o, "p", p->p) ||
	    add_b64(o, "salt", salt, sizeof(salt)) ||
	    add_b64(o, "nonce", w.data, BFS_CRYPT_NONCE) ||
	    add_b64(o, "wrapped", w.data + BFS_CRYPT_NONCE,
		    w.len - BFS_CRYPT_NONCE))
		goto out_nomem;
	text = cJSON_PrintUnformatted(o);
	if (!text || bfs_buf_printf(out, "%s\n", text))
		goto out_nomem;
	if (out->len > BFS_KEY_OBJECT_MAX) {
		rc = bfs_err_set(err, -ENAMETOOLONG,
				 "key object too large "
				 "(label too long?)");
		goto out;
	}
	bfs_sha256(name, out->data, out->len);
	rc = 0;
	goto out;
out_nomem:
	bfs_err_set(err, rc, "out of memory");
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(master, sizeof(master));
	free(text);
	cJSON_Delete(o);
	bfs_buf_free(&w);
	return rc;
}

/* A base64 member of exactly want bytes, decoded into out. */
static bool get_b64(const cJSON *o, const char *name, uint8_t *out, size_t want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	uint8_t *d = NULL;
	size_t n = 0;
	bool ok;

	if (!cJSON_IsString(v) || bfs_b64_decode(v->valuestring, &d, &n))
		return false;
	ok = n == want;
	if (ok)
		memcpy(out, d, n);
	free(d);
	return ok;
}

static bool get_num(const cJSON *o, const char *name, uint64_t max,
		    uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
	    v->valuedouble < 0 || v->valuedouble > (double)max ||
	    v->valuedouble != floor(v->valuedouble))
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

/* What a key object holds once parsed. */
struct key_parts {
	uint8_t salt[SALT_LEN];
	uint8_t sealed[BFS_CRYPT_NONCE + MASTER_LEN + BFS_CRYPT_TAG];
};

/* Parse key object obj[0..n) (untrusted) into info and kp: -EUCLEAN
 * (err says what is wrong), -ENOMEM, 0. */
static int key_parse(const void *obj, size_t n, struct bfs_key_info *info,
		     struct key_parts *kp, struct bfs_err *err)
{
	const cJSON *v;
	cJSON *o = NULL;
	const char *nl;
	char *text, dup[256];
	uint64_t x;
	int rc = -EUCLEAN;

	memset(info, 0, sizeof(*info));
	if (n == 0 || n > BFS_KEY_OBJECT_MAX)
		return bfs_err_set(err, -EUCLEAN,
				   "bad key object: %zu bytes (1 to %d)", n,
				   BFS_KEY_OBJECT_MAX);
	if (memchr(obj, '\0', n))
		return bfs_err_set(err, -EUCLEAN,
				   "bad key object: a NUL byte in it");
	nl = memchr(obj, '\n', n);
	if (nl && nl != (const char *)obj + n - 1)
		return bfs_err_set(err, -EUCLEAN,
				   "bad key object: more than one line");
	text = malloc(n + 1);
	if (!text)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	memcpy(text, obj, n);
	text[n] = '\0';
	o = cJSON_ParseWithOpts(text, NULL, false);
	free(text);
#define BAD(why)                                                               \
	do {                                                                   \
		rc = bfs_err_set(err, -EUCLEAN, "bad key object: %s", why);    \
		goto out;                                                      \
	} while (0)
	if (!cJSON_IsObject(o))
		BAD("not a JSON object");
	if (bfs_json_duplicate_key(o, dup, sizeof(dup))) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "bad key object: duplicate key \"%s\"", dup);
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "backupfs");
	if (!cJSON_IsString(v) || strcmp(v->valuestring, "key"))
		BAD("\"backupfs\" is not \"key\"");
	if (!get_num(o, "version", 1, &x) || x != 1)
		BAD("unknown version");
	v = cJSON_GetObjectItemCaseSensitive(o, "kdf");
	if (!cJSON_IsString(v) || strcmp(v->valuestring, "scrypt"))
		BAD("unknown kdf");
	if (!get_num(o, "n", 1u << 22, &info->kdf.n) ||
	    !get_num(o, "r", 32, &x) || !(info->kdf.r = (uint32_t)x, 1) ||
	    !get_num(o, "p", 16, &x) || !(info->kdf.p = (uint32_t)x, 1) ||
	    !bfs_kdf_valid(&info->kdf))
		BAD("scrypt parameters out of range");
	v = cJSON_GetObjectItemCaseSensitive(o, "created");
	if (cJSON_IsString(v))
		snprintf(info->created, sizeof(info->created), "%s",
			 v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(o, "label");
	if (cJSON_IsString(v))
		snprintf(info->label, sizeof(info->label), "%s",
			 v->valuestring);
	if (!get_b64(o, "salt", kp->salt, sizeof(kp->salt)) ||
	    !get_b64(o, "nonce", kp->sealed, BFS_CRYPT_NONCE) ||
	    !get_b64(o, "wrapped", kp->sealed + BFS_CRYPT_NONCE,
		     sizeof(kp->sealed) - BFS_CRYPT_NONCE))
		BAD("salt, nonce or wrapped keys missing or of a wrong size");
#undef BAD
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

/* Open the wrapped master keys of kp with kek into k (keys only). */
static int key_open(const struct key_parts *kp, const uint8_t *kek,
		    struct bfs_crypt *k, struct bfs_err *err)
{
	struct bfs_buf plain = {0};
	int rc;

	rc = bfs_aead_open(kek, BFS_AAD_KEY, sizeof(BFS_AAD_KEY) - 1,
			   kp->sealed, sizeof(kp->sealed), &plain, err);
	if (!rc && plain.len != MASTER_LEN)
		rc = bfs_err_set(err, -EUCLEAN, "wrapped keys of a wrong size");
	if (!rc) {
		memcpy(k->aead, plain.data, BFS_CRYPT_KEY);
		memcpy(k->id, plain.data + BFS_CRYPT_KEY, BFS_CRYPT_KEY);
	}
	if (plain.data)
		OPENSSL_cleanse(plain.data, plain.cap);
	bfs_buf_free(&plain);
	return rc;
}

int bfs_crypt_unwrap(const void *obj, size_t n, const void *pass, size_t plen,
		     struct bfs_key_info *info, struct bfs_crypt **out,
		     struct bfs_err *err)
{
	struct key_parts kp;
	struct bfs_crypt *k = NULL;
	uint8_t kek[BFS_CRYPT_KEY];
	int rc;

	if (out)
		*out = NULL;
	rc = key_parse(obj, n, info, &kp, err);
	if (rc || !pass || !out)
		return rc;
	rc = bfs_scrypt(pass, plen, kp.salt, sizeof(kp.salt), &info->kdf, kek,
			sizeof(kek));
	if (rc) {
		bfs_err_set(err, rc, "scrypt failed");
		goto out;
	}
	k = crypt_alloc();
	if (!k) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = key_open(&kp, kek, k, err);
	if (rc == -EBADMSG)
		rc = bfs_err_set(err, -EACCES, "the password does not match");
	if (rc)
		goto out;
	/* kept to prove later that this object still opens to these keys
	 * (check); worth nothing without the object's salt */
	memcpy(k->kek, kek, sizeof(kek));
	k->kek_set = true;
	*out = k;
	k = NULL;
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(&kp, sizeof(kp));
	bfs_crypt_free(k);
	return rc;
}

int bfs_crypt_check_wrap(const struct bfs_crypt *k, const void *obj, size_t n,
			 struct bfs_err *err)
{
	struct bfs_key_info info;
	struct key_parts kp;
	struct bfs_crypt *got;
	int rc;

	rc = key_parse(obj, n, &info, &kp, err);
	if (rc || !k->kek_set)
		return rc ? rc : -ENOKEY;
	got = crypt_alloc();
	if (!got)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = key_open(&kp, k->kek, got, err);
	if (rc == -EBADMSG)
		rc = bfs_err_set(err, rc,
				 "its wrapped keys do not open with the "
				 "password this repository was opened with");
	else if (!rc && !bfs_crypt_equal(k, got))
		rc = bfs_err_set(err, -ESTALE,
				 "it opens to other master keys than the "
				 "ones in use");
	OPENSSL_cleanse(&kp, sizeof(kp));
	bfs_crypt_free(got);
	return rc;
}
