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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypt.h"

#define MASTER_LEN (2 * BFS_CRYPT_KEY)
#define SALT_LEN 32

struct bfs_crypt {
	uint8_t aead[BFS_CRYPT_KEY]; /* seals blobs, objects, pack indexes */
	uint8_t id[BFS_CRYPT_KEY];   /* HMAC key of blob ids */
};

void bfs_kdf_default(struct bfs_kdf_params *p)
{
	const char *t = getenv("BACKUPFS_TEST_KDF");

	p->n = t && !strcmp(t, "fast") ? (1u << 10) : (1u << 16);
	p->r = 8;
	p->p = 1;
}

static bool kdf_valid(const struct bfs_kdf_params *p)
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

int bfs_aead_seal(const uint8_t key[BFS_CRYPT_KEY], const void *aad,
		  size_t aadlen, const void *plain, size_t n,
		  struct bfs_buf *out, struct bfs_err *err)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t *p;
	int len, rc;

	if (n > INT32_MAX || aadlen > INT32_MAX)
		return bfs_err_set(err, -EFBIG, "cannot seal %zu bytes", n);
	rc = bfs_buf_reserve(out, n + BFS_CRYPT_OVERHEAD);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	p = out->data + out->len;
	rc = bfs_random(p, BFS_CRYPT_NONCE);
	if (rc)
		return bfs_err_set(err, rc, "cannot get random bytes: %s",
				   strerror(-rc));
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = -EIO;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, p) != 1 ||
	    (aadlen &&
	     EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1) ||
	    EVP_EncryptUpdate(ctx, p + BFS_CRYPT_NONCE, &len, plain, (int)n) !=
		1 ||
	    EVP_EncryptFinal_ex(ctx, p + BFS_CRYPT_NONCE + n, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BFS_CRYPT_TAG,
				p + BFS_CRYPT_NONCE + n) != 1) {
		bfs_err_set(err, rc, "AES-256-GCM encryption failed");
		goto out;
	}
	out->len += n + BFS_CRYPT_OVERHEAD;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int bfs_aead_open(const uint8_t key[BFS_CRYPT_KEY], const void *aad,
		  size_t aadlen, const void *sealed, size_t n,
		  struct bfs_buf *out, struct bfs_err *err)
{
	const uint8_t *s = sealed;
	EVP_CIPHER_CTX *ctx;
	size_t clen;
	uint8_t tag[BFS_CRYPT_TAG];
	int len, rc;

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
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = -EIO;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, s) != 1 ||
	    (aadlen &&
	     EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1) ||
	    EVP_DecryptUpdate(ctx, out->data + out->len, &len,
			      s + BFS_CRYPT_NONCE, (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BFS_CRYPT_TAG,
				tag) != 1) {
		bfs_err_set(err, rc, "AES-256-GCM decryption failed");
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, out->data + out->len + clen, &len) != 1) {
		/* never hand out the unauthenticated bytes */
		OPENSSL_cleanse(out->data + out->len, clen);
		rc = bfs_err_set(err, -EBADMSG, "authentication failed");
		goto out;
	}
	out->len += clen;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int bfs_crypt_new(struct bfs_crypt **out)
{
	struct bfs_crypt *k = calloc(1, sizeof(*k));
	int rc;

	*out = NULL;
	if (!k)
		return -ENOMEM;
	rc = bfs_random(k, sizeof(*k));
	if (rc) {
		bfs_crypt_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

void bfs_crypt_free(struct bfs_crypt *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

bool bfs_crypt_equal(const struct bfs_crypt *a, const struct bfs_crypt *b)
{
	return a && b && CRYPTO_memcmp(a, b, sizeof(*a)) == 0;
}

int bfs_crypt_seal(const struct bfs_crypt *k, const void *aad, size_t aadlen,
		   const void *plain, size_t n, struct bfs_buf *out,
		   struct bfs_err *err)
{
	return bfs_aead_seal(k->aead, aad, aadlen, plain, n, out, err);
}

int bfs_crypt_open(const struct bfs_crypt *k, const void *aad, size_t aadlen,
		   const void *sealed, size_t n, struct bfs_buf *out,
		   struct bfs_err *err)
{
	return bfs_aead_open(k->aead, aad, aadlen, sealed, n, out, err);
}

void bfs_crypt_blob_aad(uint8_t *aad, const uint8_t id[BFS_HASH_LEN])
{
	memcpy(aad, BFS_AAD_BLOB, sizeof(BFS_AAD_BLOB) - 1);
	memcpy(aad + sizeof(BFS_AAD_BLOB) - 1, id, BFS_HASH_LEN);
}

void bfs_crypt_blob_id(const struct bfs_crypt *k, uint8_t out[BFS_HASH_LEN],
		       const void *data, size_t n)
{
	unsigned int len = BFS_HASH_LEN;

	/* cannot fail with SHA-256 and a valid key (as bfs_sha256) */
	if (!HMAC(EVP_sha256(), k->id, BFS_CRYPT_KEY, data, n, out, &len))
		memset(out, 0, BFS_HASH_LEN);
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

int bfs_crypt_unwrap(const void *obj, size_t n, const void *pass, size_t plen,
		     struct bfs_key_info *info, struct bfs_crypt **out,
		     struct bfs_err *err)
{
	uint8_t salt[SALT_LEN], kek[BFS_CRYPT_KEY];
	uint8_t sealed[BFS_CRYPT_NONCE + MASTER_LEN + BFS_CRYPT_TAG];
	struct bfs_buf plain = {0};
	struct bfs_crypt *k = NULL;
	const cJSON *v;
	cJSON *o = NULL;
	char *text;
	uint64_t x;
	int rc = -EUCLEAN;

	if (out)
		*out = NULL;
	memset(info, 0, sizeof(*info));
	if (n == 0 || n > BFS_KEY_OBJECT_MAX || memchr(obj, '\0', n))
		return bfs_err_set(err, -EUCLEAN, "not a key object (size)");
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
	    !kdf_valid(&info->kdf))
		BAD("scrypt parameters out of range");
	v = cJSON_GetObjectItemCaseSensitive(o, "created");
	if (cJSON_IsString(v))
		snprintf(info->created, sizeof(info->created), "%s",
			 v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(o, "label");
	if (cJSON_IsString(v))
		snprintf(info->label, sizeof(info->label), "%s",
			 v->valuestring);
	if (!get_b64(o, "salt", salt, sizeof(salt)) ||
	    !get_b64(o, "nonce", sealed, BFS_CRYPT_NONCE) ||
	    !get_b64(o, "wrapped", sealed + BFS_CRYPT_NONCE,
		     sizeof(sealed) - BFS_CRYPT_NONCE))
		BAD("salt, nonce or wrapped keys missing or of a wrong size");
#undef BAD
	rc = 0;
	if (!pass || !out)
		goto out;
	rc = bfs_scrypt(pass, plen, salt, sizeof(salt), &info->kdf, kek,
			sizeof(kek));
	if (rc) {
		bfs_err_set(err, rc, "scrypt failed");
		goto out;
	}
	rc = bfs_aead_open(kek, BFS_AAD_KEY, sizeof(BFS_AAD_KEY) - 1, sealed,
			   sizeof(sealed), &plain, err);
	if (rc == -EBADMSG) {
		rc = bfs_err_set(err, -EACCES, "the password does not match");
		goto out;
	}
	if (rc)
		goto out;
	k = calloc(1, sizeof(*k));
	if (!k) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(k->aead, plain.data, BFS_CRYPT_KEY);
	memcpy(k->id, plain.data + BFS_CRYPT_KEY, BFS_CRYPT_KEY);
	*out = k;
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	if (plain.data)
		OPENSSL_cleanse(plain.data, plain.len);
	bfs_buf_free(&plain);
	cJSON_Delete(o);
	return rc;
}
