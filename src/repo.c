/* repo.c - a repository: a store plus its validated `config`; object keys;
 * chunk reads with verification.
 *
 * The config object (written once by init, doc/FORMAT.md):
 *   {"backupfs":"repository","version":5,"id":"<64 hex>",
 *    "created":"2026-11-22T02:50:00Z",
 *    "chunker":{"dump":{"min":..,"avg":..,"max":..},
 *               "files":{"min":..,"avg":..,"max":..}},
 *    "compression":{"algorithm":"zstd","level":3},"pack_size":16777216}
 * It is untrusted input on open: size-capped and every field checked.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <zstd.h>

#include "crypt.h"
#include "crypt_pass.h"
#include "delta.h"
#include "format.h"
#include "pack.h"
#include "repo.h"
#include "repo_key.h"
#include "sha256mb.h"

/* read_chunks: fetch across gaps up to this size rather than issue a
 * second request; never fetch more than GROUP_MAX in one request. */
#define COALESCE_GAP (64u << 10)
#define GROUP_MAX (32u << 20)
/* Pack ranges are read into the thread's scratch buffer (util.h), kept
 * up to this capacity: a readahead job's range (1 MiB plain locally, 4
 * MiB where ids are checked on sha256mb's AVX lanes, 8 MiB plain on S3)
 * fits, a restore's 16 MiB runs are freed. */
#define FETCH_KEEP (8u << 20)
/* read_chunks where sha256mb has a path of its own: chunks decoded
 * before their ids (SHA-256, or HMAC-SHA256 in an encrypted repository)
 * are checked together, bfs_sha256_many_batch() at a time (at most
 * this): two with SHA-NI; sixteen on the AVX lanes, which keep eight
 * lanes busy while chunks of unequal size finish. */
#define CHECK_BATCH 16

static const char *const profile_names[BFS_PROFILE_COUNT] = {
    [BFS_PROFILE_DUMP] = "dump",
    [BFS_PROFILE_FILES] = "files",
};

static const struct bfs_chunker_params default_chunker[BFS_PROFILE_COUNT] = {
    [BFS_PROFILE_DUMP] = {BFS_DEFAULT_DUMP_MIN, BFS_DEFAULT_DUMP_AVG,
			  BFS_DEFAULT_DUMP_MAX},
    [BFS_PROFILE_FILES] = {BFS_DEFAULT_FILES_MIN, BFS_DEFAULT_FILES_AVG,
			   BFS_DEFAULT_FILES_MAX},
};

/* ---- config ---------------------------------------------------------- */

/* An integer-valued JSON number in [min, max]. */
static bool get_uint(const cJSON *obj, const char *name, uint64_t min,
		     uint64_t max, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (!isfinite(d) || d < (double)min || d > (double)max || d != floor(d))
		return false;
	*out = (uint64_t)d;
	return true;
}

/* Parse and validate config text into r (id, version, chunker, zstd,
 * pack size).  url is for messages only. */
/* Set by migrate only (bfs_repo_accept_format1). */
static bool accept_format1;

void bfs_repo_accept_format1(bool on)
{
	accept_format1 = on;
}

static int parse_config(struct bfs_repo *r, const uint8_t *data, size_t len,
			const char *url, struct bfs_err *err)
{
	const cJSON *v, *chunker, *comp;
	cJSON *root;
	char *text;
	uint64_t u;
	int rc = 0, p;

	if (len == 0) /* data may be NULL: no memchr */
		return bfs_err_set(err, -EUCLEAN,
				   "corrupt repository config at '%s': the "
				   "config is empty",
				   url);
	if (memchr(data, '\0', len))
		return bfs_err_set(
		    err, -EUCLEAN,
		    "corrupt repository config at '%s': NUL byte", url);
	text = malloc(len + 1);
	if (!text)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	memcpy(text, data, len);
	text[len] = '\0';
	root = cJSON_ParseWithOpts(text, NULL, true);
	free(text);
	if (!root || !cJSON_IsObject(root)) {
		rc = bfs_err_set(
		    err, -EUCLEAN,
		    "corrupt repository config at '%s': not a JSON object",
		    url);
		goto out_free_json;
	}

	{
		char dup[256];

		if (bfs_json_duplicate_key(root, dup, sizeof(dup))) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "corrupt repository config at '%s': "
					 "key '%s' twice",
					 url, dup);
			goto out_free_json;
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "backupfs");
	if (!cJSON_IsString(v) ||
	    strcmp(v->valuestring, BFS_CONFIG_MAGIC) != 0) {
		rc = bfs_err_set(err, -EPROTO,
				 "unknown repository format at '%s' (config is "
				 "not a backupfs repository config)",
				 url);
		goto out_free_json;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsNumber(v)) {
		rc = bfs_err_set(
		    err, -EUCLEAN,
		    "corrupt repository config at '%s': no version", url);
		goto out_free_json;
	}
	if (v->valuedouble == BFS_FORMAT_VERSION_1 && !accept_format1) {
		rc = bfs_err_set(err, -EPROTO,
				 "repository '%s' has format version 1: run "
				 "'backupfs migrate -r %s' once to convert it "
				 "to version %d",
				 url, url, BFS_FORMAT_VERSION);
		goto out_free_json;
	}
	if (v->valuedouble != BFS_FORMAT_VERSION &&
	    v->valuedouble != BFS_FORMAT_VERSION_4 &&
	    v->valuedouble != BFS_FORMAT_VERSION_3 &&
	    v->valuedouble != BFS_FORMAT_VERSION_2 &&
	    v->valuedouble != BFS_FORMAT_VERSION_1) {
		rc = bfs_err_set(
		    err, -EPROTO,
		    "unsupported repository format version %.15g at '%s'",
		    v->valuedouble, url);
		goto out_free_json;
	}
	r->version = (int)v->valuedouble;

#define BAD(...)                                                               \
	do {                                                                   \
		rc = bfs_err_set(                                              \
		    err, -EUCLEAN,                                             \
		    "corrupt repository config at '%s': " __VA_ARGS__);        \
		goto out_free_json;                                            \
	} while (0)

	v = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (!cJSON_IsString(v) || !bfs_hex64_valid(v->valuestring))
		BAD("id is not 64 lowercase hex digits", url);
	memcpy(r->id, v->valuestring, BFS_HASH_HEX + 1);

	v = cJSON_GetObjectItemCaseSensitive(root, "created");
	if (!cJSON_IsString(v) || strlen(v->valuestring) > 64)
		BAD("created is not a time stamp", url);

	chunker = cJSON_GetObjectItemCaseSensitive(root, "chunker");
	if (!cJSON_IsObject(chunker))
		BAD("no chunker parameters", url);
	for (p = 0; p < BFS_PROFILE_COUNT; p++) {
		const cJSON *prof =
		    cJSON_GetObjectItemCaseSensitive(chunker, profile_names[p]);
		struct bfs_chunker_params *cp = &r->chunker[p];
		uint64_t mn, avg, mx;

		if (!cJSON_IsObject(prof) ||
		    !get_uint(prof, "min", 0, UINT32_MAX, &mn) ||
		    !get_uint(prof, "avg", 0, UINT32_MAX, &avg) ||
		    !get_uint(prof, "max", 0, UINT32_MAX, &mx))
			BAD("chunker.%s needs integer min, avg, max", url,
			    profile_names[p]);
		cp->min = (uint32_t)mn;
		cp->avg = (uint32_t)avg;
		cp->max = (uint32_t)mx;
		if (!bfs_chunker_params_valid(cp))
			BAD("invalid chunker.%s parameters (min %u avg %u max "
			    "%u)",
			    url, profile_names[p], cp->min, cp->avg, cp->max);
	}

	comp = cJSON_GetObjectItemCaseSensitive(root, "compression");
	if (!cJSON_IsObject(comp))
		BAD("no compression parameters", url);
	v = cJSON_GetObjectItemCaseSensitive(comp, "algorithm");
	if (!cJSON_IsString(v) || strcmp(v->valuestring, "zstd") != 0)
		BAD("compression algorithm is not zstd", url);
	if (!get_uint(comp, "level", BFS_ZSTD_LEVEL_MIN, BFS_ZSTD_LEVEL_MAX,
		      &u))
		BAD("compression level is not an integer in %d..%d", url,
		    BFS_ZSTD_LEVEL_MIN, BFS_ZSTD_LEVEL_MAX);
	r->zstd_level = (int)u;

	if (!get_uint(root, "pack_size", BFS_PACK_SIZE_MIN, BFS_PACK_SIZE_MAX,
		      &u))
		BAD("pack_size is not an integer in %llu..%llu", url,
		    BFS_PACK_SIZE_MIN, BFS_PACK_SIZE_MAX);
	r->pack_target = u;

	/* Encryption is chosen at init; the version says it, so that a
	 * reader that does not know it refuses the repository. */
	v = cJSON_GetObjectItemCaseSensitive(root, "encryption");
	if (v && r->version < BFS_FORMAT_VERSION_CRYPT)
		BAD("\"encryption\" in a version %d config (it needs "
		    "version %d)",
		    url, r->version, BFS_FORMAT_VERSION_CRYPT);
	if (v) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(v, "aead");
		const cJSON *i = cJSON_GetObjectItemCaseSensitive(v, "id");
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(v, "kdf");

		if (!cJSON_IsObject(v) || !cJSON_IsString(a) ||
		    strcmp(a->valuestring, "aes-256-gcm") ||
		    !cJSON_IsString(i) ||
		    strcmp(i->valuestring, "hmac-sha256") ||
		    !cJSON_IsString(k) || strcmp(k->valuestring, "scrypt"))
			BAD("unknown encryption (this release knows aead "
			    "aes-256-gcm, id hmac-sha256, kdf scrypt)",
			    url);
		r->encrypted = true;
	}
#undef BAD

out_free_json:
	cJSON_Delete(root);
	return rc;
}

/* Render a config with defaults and a fresh random id. */
static int build_config(struct bfs_buf *out, bool encrypted,
			struct bfs_err *err)
{
	uint8_t rnd[BFS_HASH_LEN];
	char id[BFS_HASH_HEX + 1], created[32];
	cJSON *root, *chunker, *prof, *comp, *enc;
	struct tm tm;
	time_t now;
	char *text = NULL;
	int rc, p;

	rc = bfs_random(rnd, sizeof(rnd));
	if (rc)
		return bfs_err_set(err, rc, "cannot get random bytes: %s",
				   strerror(-rc));
	bfs_hex(id, rnd, sizeof(rnd));
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);

	root = cJSON_CreateObject();
	if (!root)
		goto out_nomem;
	/* Key order as documented in doc/FORMAT.md. */
	if (!cJSON_AddStringToObject(root, "backupfs", BFS_CONFIG_MAGIC) ||
	    !cJSON_AddNumberToObject(root, "version", BFS_FORMAT_VERSION) ||
	    !cJSON_AddStringToObject(root, "id", id) ||
	    !cJSON_AddStringToObject(root, "created", created))
		goto out_nomem;
	chunker = cJSON_AddObjectToObject(root, "chunker");
	if (!chunker)
		goto out_nomem;
	for (p = 0; p < BFS_PROFILE_COUNT; p++) {
		prof = cJSON_AddObjectToObject(chunker, profile_names[p]);
		if (!prof ||
		    !cJSON_AddNumberToObject(prof, "min",
					     default_chunker[p].min) ||
		    !cJSON_AddNumberToObject(prof, "avg",
					     default_chunker[p].avg) ||
		    !cJSON_AddNumberToObject(prof, "max",
					     default_chunker[p].max))
			goto out_nomem;
	}
	comp = cJSON_AddObjectToObject(root, "compression");
	if (!comp || !cJSON_AddStringToObject(comp, "algorithm", "zstd") ||
	    !cJSON_AddNumberToObject(comp, "level", BFS_DEFAULT_ZSTD_LEVEL) ||
	    !cJSON_AddNumberToObject(root, "pack_size",
				     (double)BFS_DEFAULT_PACK_SIZE))
		goto out_nomem;
	if (encrypted) {
		enc = cJSON_AddObjectToObject(root, "encryption");
		if (!enc ||
		    !cJSON_AddStringToObject(enc, "aead", "aes-256-gcm") ||
		    !cJSON_AddStringToObject(enc, "id", "hmac-sha256") ||
		    !cJSON_AddStringToObject(enc, "kdf", "scrypt"))
			goto out_nomem;
	}
	text = cJSON_PrintUnformatted(root);
	if (!text)
		goto out_nomem;
	rc = bfs_buf_printf(out, "%s\n", text);
	if (rc)
		goto out_nomem;
	goto out_free;

out_nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out_free:
	free(text);
	cJSON_Delete(root);
	return rc;
}

/* Init: create the store location, refuse an existing repository, write
 * config with BFS_PUT_EXCL (so two racing inits cannot both win).  sopts
 * may be NULL; create is forced on.  *out owned by the caller
 * (bfs_repo_close).  0 / -EEXIST / -errno from the store. */
int bfs_repo_init(const char *url, const struct bfs_store_opts *sopts,
		  struct bfs_repo **out, struct bfs_err *err)
{
	struct bfs_store_opts opts = {.s3_path_style = -1};
	struct bfs_buf cfg = {0};
	struct bfs_repo *r;
	bool encrypted;
	uint64_t size;
	int rc;

	*out = NULL;
	if (sopts)
		opts = *sopts;
	opts.create = true;
	r = calloc(1, sizeof(*r));
	if (!r)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = bfs_store_open(url, &opts, &r->store, err);
	if (rc)
		goto out_free_repo;
	rc = bfs_store_stat(r->store, BFS_KEY_CONFIG, &size, err);
	if (rc == 0) {
		rc = bfs_err_set(err, -EEXIST,
				 "a repository already exists at '%s'", url);
		goto out_free_repo;
	}
	if (rc != -ENOENT) {
		bfs_err_prefix(err, rc, "cannot check for a repository at '%s'",
			       url);
		goto out_free_repo;
	}
	encrypted = bfs_password_given(opts.password_file,
				       opts.password_command, BFS_PASSWORD_ENV);
	rc = build_config(&cfg, encrypted, err);
	if (rc)
		goto out_free_repo;
	if (encrypted) {
		/* the key object first: a crash leaves no config that no
		 * key opens */
		rc = bfs_repo_key_create(r, &opts, url, err);
		if (rc)
			goto out_free_cfg;
	}
	rc = bfs_store_put(r->store, BFS_KEY_CONFIG, cfg.data, cfg.len,
			   BFS_PUT_EXCL, err);
	if (rc == -EEXIST) {
		bfs_err_set(err, rc, "a repository already exists at '%s'",
			    url);
		goto out_free_cfg;
	}
	if (rc) {
		bfs_err_prefix(err, rc, "cannot write the config of '%s'", url);
		goto out_free_cfg;
	}
	/* Parse what we wrote: one code path fills struct bfs_repo. */
	rc = parse_config(r, cfg.data, cfg.len, url, err);
	if (!rc && r->crypt)
		rc = bfs_store_crypt_wrap(r->store, r->crypt, &r->store, err);
	if (rc)
		goto out_free_cfg;
	bfs_buf_free(&cfg);
	if (err)
		err->msg[0] = '\0'; /* drop the text of the expected ENOENT */
	*out = r;
	return 0;

out_free_cfg:
	bfs_buf_free(&cfg);
out_free_repo:
	bfs_repo_close(r);
	return rc;
}

/* Open: read config (at most 64 KiB) and validate it.  sopts may be NULL
 * (create is ignored: opening never creates).  *out owned by the caller
 * (bfs_repo_close).  -ENOENT no repository, -EPROTO unknown format or
 * version, -EUCLEAN corrupt config, -errno from the store. */
int bfs_repo_open(const char *url, const struct bfs_store_opts *sopts,
		  struct bfs_repo **out, struct bfs_err *err)
{
	struct bfs_store_opts opts = {.s3_path_style = -1};
	struct bfs_buf cfg = {0};
	struct bfs_repo *r;
	uint64_t size;
	int64_t got;
	int rc;

	*out = NULL;
	if (sopts)
		opts = *sopts;
	opts.create = false;
	r = calloc(1, sizeof(*r));
	if (!r)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = bfs_store_open(url, &opts, &r->store, err);
	if (rc == -ENOENT) {
		bfs_err_prefix(err, rc, "no backupfs repository at '%s'", url);
		goto out_free_repo;
	}
	if (rc)
		goto out_free_repo;
	rc = bfs_store_stat(r->store, BFS_KEY_CONFIG, &size, err);
	if (rc == -ENOENT) {
		bfs_err_set(err, rc, "no backupfs repository at '%s'", url);
		goto out_free_repo;
	}
	if (rc) {
		bfs_err_prefix(err, rc, "cannot read the config of '%s'", url);
		goto out_free_repo;
	}
	if (size > BFS_CONFIG_MAX) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "corrupt repository config at '%s': %llu "
				 "bytes (at most %u)",
				 url, (unsigned long long)size, BFS_CONFIG_MAX);
		goto out_free_repo;
	}
	got = bfs_store_get(r->store, BFS_KEY_CONFIG, 0, size, &cfg, err);
	if (got < 0) {
		rc = (int)got;
		if (rc == -ENOENT)
			bfs_err_set(err, rc, "no backupfs repository at '%s'",
				    url);
		else
			bfs_err_prefix(err, rc,
				       "cannot read the config of '%s'", url);
		goto out_free_cfg;
	}
	rc = parse_config(r, cfg.data, cfg.len, url, err);
	if (!rc && r->encrypted)
		rc = bfs_repo_key_unlock(r, &opts, url, err);
	if (!rc && r->crypt)
		rc = bfs_store_crypt_wrap(r->store, r->crypt, &r->store, err);
	if (rc)
		goto out_free_cfg;
	bfs_buf_free(&cfg);
	*out = r;
	return 0;

out_free_cfg:
	bfs_buf_free(&cfg);
out_free_repo:
	bfs_repo_close(r);
	return rc;
}

/* ---- delta bases ----------------------------------------------------- */

/* A base's plain bytes, shared by reference (no copy in or out of the
 * cache): held by the cache while in a slot and by each decode using it;
 * freed by the last put.  id, ref, data and len never change once made;
 * refs and verified are under the cache's lock. */
struct base_ent {
	uint8_t id[BFS_HASH_LEN];
	struct bfs_chunkref ref; /* where it was read (names its pack) */
	uint8_t *data;
	size_t len;
	unsigned refs;
	bool verified; /* its bytes were checked against id */
};

struct bfs_repo_bases {
	bfs_repo_locate_fn fn;
	void *arg;
	void (*free_arg)(void *);
	bool by_output;	      /* bfs_repo_set_bases_by_output */
	pthread_mutex_t lock; /* slot, next, the entries' refs and verified */
	struct base_ent *slot[BFS_REPO_BASE_CACHE]; /* NULL: empty */
	size_t next; /* slot replaced on the next insert */
};

/* A locator for one read, instead of the repository's (the catalog
 * ingest locates bases through its own connection). */
struct locate_via {
	bfs_repo_locate_fn fn;
	void *arg;
};

static void base_ent_free(struct base_ent *e)
{
	if (e) {
		free(e->data);
		free(e);
	}
}

static void bases_free(struct bfs_repo_bases *b)
{
	size_t i;

	if (!b)
		return;
	if (b->free_arg)
		b->free_arg(b->arg);
	/* no decode runs any more: the cache holds the last references */
	for (i = 0; i < BFS_REPO_BASE_CACHE; i++)
		base_ent_free(b->slot[i]);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* See repo.h.  Not thread-safe (before reads start). */
int bfs_repo_set_locate(struct bfs_repo *r, bfs_repo_locate_fn fn, void *arg,
			void (*free_arg)(void *), struct bfs_err *err)
{
	struct bfs_repo_bases *b = r->bases;

	if (!b && !fn)
		return 0;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b || pthread_mutex_init(&b->lock, NULL)) {
			free(b);
			if (free_arg)
				free_arg(arg);
			return bfs_err_set(err, -ENOMEM, "out of memory");
		}
		r->bases = b;
	}
	if (b->free_arg)
		b->free_arg(b->arg);
	b->fn = fn;
	b->arg = arg;
	b->free_arg = free_arg;
	b->by_output = false; /* a new reader opts in again */
	return 0;
}

/* See repo.h.  Not thread-safe (before reads start). */
void bfs_repo_set_bases_by_output(struct bfs_repo *r, bool on)
{
	if (r->bases)
		r->bases->by_output = on;
}

/* Close r and its store.  NULL ok.  No other thread may still use r. */
void bfs_repo_close(struct bfs_repo *r)
{
	if (!r)
		return;
	bfs_store_free(r->store); /* before the keys it borrows */
	bfs_crypt_free(r->crypt);
	bases_free(r->bases);
	free(r);
}

/* ---- blobs ------------------------------------------------------------- */

void bfs_repo_blob_id(const struct bfs_repo *r, uint8_t id[BFS_HASH_LEN],
		      const void *data, size_t len)
{
	if (r->crypt)
		bfs_crypt_blob_id(r->crypt, id, data, len);
	else
		bfs_sha256(id, data, len);
}

/* See repo.h.  Thread-safe. */
void bfs_repo_blob_id_many(const struct bfs_repo *r,
			   uint8_t (*ids)[BFS_HASH_LEN],
			   const void *const *data, const size_t *len, size_t n)
{
	if (r->crypt)
		bfs_crypt_blob_id_many(r->crypt, ids, data, len, n);
	else
		bfs_sha256_many(ids, data, len, n);
}

int bfs_repo_blob_encode(const struct bfs_repo *r,
			 const uint8_t id[BFS_HASH_LEN], const void *data,
			 size_t len, struct bfs_buf *out, struct bfs_err *err)
{
	uint8_t aad[BFS_AAD_BLOB_LEN];
	size_t start = out->len;
	int rc;

	if (!r->crypt)
		return bfs_zstd_compress(out, data, len, r->zstd_level, err);
	/* compressed behind room for the nonce, then sealed where it is:
	 * one buffer, no copy (room for the tag reserved up front) */
	rc = bfs_buf_reserve(out, BFS_CRYPT_OVERHEAD + ZSTD_compressBound(len));
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	out->len += BFS_CRYPT_NONCE;
	rc = bfs_zstd_compress(out, data, len, r->zstd_level, err);
	if (!rc) {
		bfs_crypt_blob_aad(aad, id);
		rc = bfs_crypt_seal_in_place(r->crypt, aad, sizeof(aad), out,
					     start, err);
	}
	if (rc)
		out->len = start;
	return rc;
}

/* See repo.h.  Thread-safe. */
int bfs_repo_delta_encode(const struct bfs_repo *r,
			  const uint8_t id[BFS_HASH_LEN],
			  const uint8_t base_id[BFS_HASH_LEN], const void *base,
			  size_t blen, const void *data, size_t len,
			  struct bfs_buf *out, size_t *zlen,
			  struct bfs_err *err)
{
	uint8_t aad[BFS_AAD_BLOB_LEN];
	struct bfs_buf z = {0};
	int rc;

	rc = bfs_delta_encode(r->crypt ? &z : out, base_id, base, blen, data,
			      len, r->zstd_level, err);
	if (rc)
		goto out_free;
	*zlen = (r->crypt ? z.len : out->len) - BFS_HASH_LEN;
	if (r->crypt) {
		bfs_crypt_blob_aad(aad, id);
		rc = bfs_crypt_seal(r->crypt, aad, sizeof(aad), z.data, z.len,
				    out, err);
	}
out_free:
	bfs_buf_free(&z);
	return rc;
}

/* See repo.h.  Thread-safe. */
int bfs_repo_delta_encode_n(const struct bfs_repo *r,
			    const uint8_t id[BFS_HASH_LEN], size_t nbases,
			    const uint8_t (*base_ids)[BFS_HASH_LEN],
			    const void *const *bases, const size_t *blens,
			    const void *data, size_t len, struct bfs_buf *out,
			    size_t *zlen, struct bfs_err *err)
{
	uint8_t aad[BFS_AAD_BLOB_LEN];
	struct bfs_buf z = {0};
	size_t i;
	int rc;

	if (nbases == 1)
		return bfs_repo_delta_encode(r, id, base_ids[0], bases[0],
					     blens[0], data, len, out, zlen,
					     err);
	if (r->version < BFS_FORMAT_VERSION_DELTA2)
		return bfs_err_set(err, -EINVAL,
				   "a version-%d repository has no delta "
				   "frames on several bases",
				   r->version);
	for (i = 0; i < nbases && i < BFS_DELTA_MAX_BASES; i++)
		if (!memcmp(base_ids[i], id, BFS_HASH_LEN))
			return bfs_err_set(err, -EINVAL,
					   "a blob cannot be its own delta "
					   "base");
	rc = bfs_delta_encode_n(r->crypt ? &z : out, nbases, base_ids, bases,
				blens, data, len, r->zstd_level, err);
	if (rc)
		goto out_free;
	*zlen = (r->crypt ? z.len : out->len) - BFS_DELTA2_HEAD(nbases);
	if (r->crypt) {
		bfs_crypt_blob_aad(aad, id);
		rc = bfs_crypt_seal(r->crypt, aad, sizeof(aad), z.data, z.len,
				    out, err);
	}
out_free:
	bfs_buf_free(&z);
	return rc;
}

/* How a frame is read (the how argument below): */
#define RD_PLAIN_ONLY 1u /* a whole frame only (a delta base) */
#define RD_NO_ID                                                               \
	2u /* plain bytes not checked against the id: a                        \
	      delta base read by output (see base_get) */
/* Plain bytes of either kind of frame not checked here: the caller
 * checks them with others at once (read_chunks), and reads a chunk that
 * fails again without it, for the error that names what is damaged. */
#define RD_DEFER_ID 4u

static int blob_decode(struct bfs_repo *r, const uint8_t id[BFS_HASH_LEN],
		       const void *frame, size_t flen, void *out, size_t len,
		       unsigned how, uint8_t *delta_base,
		       const struct locate_via *via, struct bfs_bases *fb,
		       struct bfs_err *err);

int bfs_repo_blob_decode(struct bfs_repo *r, const uint8_t id[BFS_HASH_LEN],
			 const void *frame, size_t flen, void *out, size_t len,
			 struct bfs_err *err)
{
	return blob_decode(r, id, frame, flen, out, len, 0, NULL, NULL, NULL,
			   err);
}

/* See repo.h.  Thread-safe. */
int bfs_repo_blob_decode_bases(struct bfs_repo *r,
			       const uint8_t id[BFS_HASH_LEN],
			       const void *frame, size_t flen, void *out,
			       size_t len, struct bfs_bases *bases,
			       struct bfs_err *err)
{
	return blob_decode(r, id, frame, flen, out, len, 0, NULL, NULL, bases,
			   err);
}

/* See repo.h.  Thread-safe. */
int bfs_repo_blob_decode_unchecked(struct bfs_repo *r,
				   const uint8_t id[BFS_HASH_LEN],
				   const void *frame, size_t flen, void *out,
				   size_t len, struct bfs_bases *bases,
				   struct bfs_err *err)
{
	return blob_decode(r, id, frame, flen, out, len, RD_DEFER_ID, NULL,
			   NULL, bases, err);
}

bool bfs_repo_same_keys(const struct bfs_repo *a, const struct bfs_repo *b)
{
	if (!a->crypt || !b->crypt)
		return !a->crypt && !b->crypt && !a->encrypted && !b->encrypted;
	return bfs_crypt_equal(a->crypt, b->crypt);
}

/* ---- chunk references ------------------------------------------------ */

/* Serialise c to the 80-byte catalog blob (see repo.h).  Thread-safe. */
void bfs_chunkref_pack(uint8_t out[BFS_CHUNKREF_BLOB],
		       const struct bfs_chunkref *c)
{
	memcpy(out, c->hash, BFS_HASH_LEN);
	memcpy(out + 32, c->pack, BFS_HASH_LEN);
	bfs_put_le64(out + 64, c->offset);
	bfs_put_le32(out + 72, c->clen);
	bfs_put_le32(out + 76, c->len);
}

/* Inverse of bfs_chunkref_pack.  No validation (done on read). */
void bfs_chunkref_unpack(struct bfs_chunkref *c,
			 const uint8_t in[BFS_CHUNKREF_BLOB])
{
	memcpy(c->hash, in, BFS_HASH_LEN);
	memcpy(c->pack, in + 32, BFS_HASH_LEN);
	c->offset = bfs_get_le64(in + 64);
	c->clen = bfs_get_le32(in + 72);
	c->len = bfs_get_le32(in + 76);
}

/* ---- chunk reads ----------------------------------------------------- */

/* Refs come from manifests and the catalog: untrusted.  Check lengths
 * before anything is allocated or fetched. */
static int check_ref(const struct bfs_chunkref *c, const char *key,
		     struct bfs_err *err)
{
	char h[13];

	bfs_hex(h, c->hash, 6);
	if (c->len > BFS_CHUNK_MAX_LIMIT || c->clen == 0 ||
	    c->clen > BFS_CHUNK_CLEN_MAX || c->offset > BFS_PACK_MAX_SIZE ||
	    c->clen > BFS_PACK_MAX_SIZE - c->offset)
		return bfs_err_set(
		    err, -EUCLEAN,
		    "chunk %s in pack '%s' has an invalid location (offset "
		    "%llu, %u bytes compressed, %u plain)",
		    h, key, (unsigned long long)c->offset, c->clen, c->len);
	return 0;
}

static int read_chunk(struct bfs_repo *r, const struct bfs_chunkref *c,
		      uint8_t *out, unsigned how, uint8_t *delta_base,
		      const struct locate_via *via, struct bfs_err *err);

/* Drop a reference to e (NULL ok); the last one frees it.  b: the cache
 * e may be shared through (NULL: e was never shared). */
static void base_put(struct bfs_repo_bases *b, struct base_ent *e)
{
	bool last = true;

	if (!e)
		return;
	if (b) {
		pthread_mutex_lock(&b->lock);
		last = --e->refs == 0;
		pthread_mutex_unlock(&b->lock);
	}
	if (last)
		base_ent_free(e);
}

/* Check the bytes of base e (held by the caller) against its id: 0 and
 * e marked verified, or -EUCLEAN with a message naming the base and its
 * pack, e dropped from the cache (the caller's reference stays). */
static int base_verify(struct bfs_repo *r, struct base_ent *e,
		       struct bfs_err *err)
{
	struct bfs_repo_bases *b = r->bases;
	char h[BFS_HASH_HEX + 1], h12[13], key[BFS_KEY_MAX];
	uint8_t hash[BFS_HASH_LEN];
	size_t i;
	bool good;

	bfs_repo_blob_id(r, hash, e->data, e->len);
	good = !memcmp(hash, e->id, BFS_HASH_LEN);
	if (b) {
		pthread_mutex_lock(&b->lock);
		if (good)
			e->verified = true;
		for (i = 0; !good && i < BFS_REPO_BASE_CACHE; i++)
			if (b->slot[i] == e) {
				b->slot[i] = NULL;
				e->refs--; /* the caller's keeps it */
			}
		pthread_mutex_unlock(&b->lock);
	}
	if (good)
		return 0;
	bfs_hex(h, e->id, BFS_HASH_LEN);
	bfs_hex(h12, e->id, 6);
	bfs_repo_pack_key(key, e->ref.pack);
	return bfs_err_set(err, -EUCLEAN,
			   "delta base %s: chunk %s in pack '%s' %s", h, h12,
			   key,
			   r->crypt ? "fails authentication (damaged, or not "
				      "sealed with this repository's key)"
				    : "fails its checksum");
}

/* The plain bytes of base id, by reference (*out; base_put when done):
 * from the cache, else located, read (depth 1: a whole frame only) and
 * cached.  A base read for a caller that opted in with
 * bfs_repo_set_bases_by_output is not checked against its id here (the
 * delta's output is, decode_delta); every other caller gets verified
 * bytes only, a cached base read unverified is checked first.  The
 * message names the base. */
static int base_get(struct bfs_repo *r, const uint8_t id[BFS_HASH_LEN],
		    const struct locate_via *via, struct base_ent **out,
		    struct bfs_err *err)
{
	struct bfs_repo_bases *b = r->bases;
	bfs_repo_locate_fn fn = via ? via->fn : b ? b->fn : NULL;
	void *arg = via ? via->arg : b ? b->arg : NULL;
	bool by_output = b && b->by_output, verified = false;
	struct base_ent *e = NULL, *dead = NULL;
	struct bfs_chunkref ref;
	char h[BFS_HASH_HEX + 1];
	size_t i;
	int rc;

	*out = NULL;
	bfs_hex(h, id, BFS_HASH_LEN);
	if (!fn)
		return bfs_err_set(err, -EUCLEAN,
				   "delta base %s: no blob index to locate it",
				   h);
	if (b) {
		pthread_mutex_lock(&b->lock);
		for (i = 0; i < BFS_REPO_BASE_CACHE; i++)
			if (b->slot[i] &&
			    !memcmp(b->slot[i]->id, id, BFS_HASH_LEN)) {
				e = b->slot[i];
				e->refs++;
				verified = e->verified;
				break;
			}
		pthread_mutex_unlock(&b->lock);
	}
	if (e) {
		rc = verified || by_output ? 0 : base_verify(r, e, err);
		if (rc)
			base_put(b, e);
		else
			*out = e;
		return rc;
	}
	rc = fn(arg, id, &ref);
	if (rc == -ENOENT)
		return bfs_err_set(err, -ENOENT,
				   "delta base %s is missing (no index object "
				   "names it)",
				   h);
	if (rc)
		return bfs_err_set(err, rc, "delta base %s: cannot locate it",
				   h);
	if (memcmp(ref.hash, id, BFS_HASH_LEN) != 0)
		return bfs_err_set(err, -EUCLEAN,
				   "delta base %s: located as another blob", h);
	e = calloc(1, sizeof(*e));
	if (e)
		e->data = malloc(ref.len ? ref.len : 1);
	if (!e || !e->data) {
		free(e);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	rc = read_chunk(r, &ref, e->data,
			RD_PLAIN_ONLY | (by_output ? RD_NO_ID : 0), NULL, NULL,
			err);
	if (rc) {
		base_ent_free(e);
		return bfs_err_prefix(err, rc, "delta base %s", h);
	}
	memcpy(e->id, id, BFS_HASH_LEN);
	e->ref = ref;
	e->len = ref.len;
	e->refs = 1;
	e->verified = !by_output;
	*out = e;
	if (!b)
		return 0;

	pthread_mutex_lock(&b->lock);
	for (i = 0; i < BFS_REPO_BASE_CACHE; i++)
		if (b->slot[i] && !memcmp(b->slot[i]->id, id, BFS_HASH_LEN))
			break; /* another decode cached it meanwhile */
	if (i == BFS_REPO_BASE_CACHE) {
		dead = b->slot[b->next];
		if (dead && --dead->refs != 0)
			dead = NULL; /* a decode still holds it */
		b->slot[b->next] = e;
		e->refs++;
		b->next = (b->next + 1) % BFS_REPO_BASE_CACHE;
	}
	pthread_mutex_unlock(&b->lock);
	base_ent_free(dead);
	return 0;
}

/* Decode the plain delta frame frame[0..flen) of blob id (either kind;
 * multi: the magic of a multi-base frame counts) into out with its
 * bases' plain bytes and check the bytes against id (defer: not, the
 * caller checks, RD_DEFER_ID); *fb (may be NULL) gets its bases once the
 * head is read.  When the decode fails or the
 * bytes do not match, a base read unchecked (by output) is checked: a
 * damaged one is what the error names.  0 or -errno with a message
 * naming a base that cannot be had; -EBADMSG: the bytes do not match
 * and the bases verify (the frame is damaged). */
static int decode_delta(struct bfs_repo *r, const uint8_t id[BFS_HASH_LEN],
			const void *frame, size_t flen, void *out, size_t len,
			bool multi, bool defer, const struct locate_via *via,
			struct bfs_bases *fb, struct bfs_err *err)
{
	struct base_ent *ent[BFS_DELTA_MAX_BASES] = {NULL};
	const void *base[BFS_DELTA_MAX_BASES] = {NULL};
	size_t blen[BFS_DELTA_MAX_BASES] = {0}, zoff, i;
	uint8_t hash[BFS_HASH_LEN];
	struct bfs_bases b;
	bool verified;
	int rc, rc2;

	rc = bfs_delta_frame_bases(frame, flen, multi, &b, &zoff, err);
	if (!rc && fb)
		*fb = b;
	for (i = 0; !rc && i < b.n; i++) {
		if (!memcmp(b.id[i], id, BFS_HASH_LEN)) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "delta frame names itself as its "
					 "base");
			break;
		}
		rc = base_get(r, b.id[i], via, &ent[i], err);
		/* the base failed its check, not this frame: keep the
		 * message that names the base (a caller sets its own on
		 * -EBADMSG) */
		if (rc == -EBADMSG)
			rc = -EUCLEAN;
		if (!rc) {
			base[i] = ent[i]->data;
			blen[i] = ent[i]->len;
		}
	}
	if (rc)
		goto out_put;
	rc = bfs_delta_decode_n(out, len, frame, flen, multi, b.n, base, blen,
				err);
	if (!rc && !defer) {
		bfs_repo_blob_id(r, hash, out, len);
		if (memcmp(hash, id, BFS_HASH_LEN) != 0)
			rc = bfs_err_set(err, -EBADMSG,
					 "plain bytes do not match the id");
	}
	/* the output is the check: blame a damaged base read unchecked
	 * before the frame */
	for (i = 0; rc && i < b.n; i++) {
		if (r->bases)
			pthread_mutex_lock(&r->bases->lock);
		verified = ent[i]->verified;
		if (r->bases)
			pthread_mutex_unlock(&r->bases->lock);
		/* sets err (may be NULL) only when the base is damaged */
		rc2 = verified ? 0 : base_verify(r, ent[i], err);
		if (rc2) {
			rc = rc2;
			break;
		}
	}
out_put:
	for (i = 0; i < BFS_DELTA_MAX_BASES; i++)
		base_put(r->bases, ent[i]);
	return rc;
}

/* The one decoder of a stored frame: unseal (encrypted repository),
 * then a zstd frame, or (not RD_PLAIN_ONLY) a delta frame decoded with
 * its bases' plain bytes (doc/FORMAT.md section 18); verify the id
 * (RD_NO_ID: not for a whole frame, a delta base read by output).
 * RD_PLAIN_ONLY with delta_base: a delta frame returns 1 with its base
 * id there (out untouched).
 * -EBADMSG: authentication or id mismatch; -EUCLEAN: a corrupt frame;
 * a base that cannot be had: its error, with a message naming it. */
static int blob_decode(struct bfs_repo *r, const uint8_t id[BFS_HASH_LEN],
		       const void *frame, size_t flen, void *out, size_t len,
		       unsigned how, uint8_t *delta_base,
		       const struct locate_via *via, struct bfs_bases *fb,
		       struct bfs_err *err)
{
	uint8_t aad[BFS_AAD_BLOB_LEN], hash[BFS_HASH_LEN];
	bool multi = r->version >= BFS_FORMAT_VERSION_DELTA2;
	struct bfs_buf z = {0};
	struct bfs_err e2;
	struct bfs_bases b;
	size_t zoff;
	int rc;

	if (fb)
		memset(fb, 0, sizeof(*fb));
	if (r->crypt) {
		bfs_crypt_blob_aad(aad, id);
		rc = bfs_crypt_open(r->crypt, aad, sizeof(aad), frame, flen, &z,
				    err);
		if (rc) {
			bfs_buf_free(&z);
			if (rc == -EBADMSG || rc == -EUCLEAN)
				return bfs_err_set(
				    err, -EBADMSG,
				    "fails authentication (damaged, or not "
				    "sealed with this repository's key)");
			return rc;
		}
		frame = z.data;
		flen = z.len;
	}
	if (flen >= 4 && bfs_get_le32(frame) == ZSTD_MAGICNUMBER) {
		rc = bfs_zstd_decompress(out, len, frame, flen, err);
		if (!rc && !(how & (RD_NO_ID | RD_DEFER_ID))) {
			bfs_repo_blob_id(r, hash, out, len);
			if (memcmp(hash, id, BFS_HASH_LEN) != 0)
				rc = bfs_err_set(err, -EBADMSG,
						 "plain bytes do not match "
						 "the id");
		}
	} else if ((how & RD_PLAIN_ONLY) && delta_base) {
		/* a multi-base frame: its first base (depth 1) */
		rc = bfs_delta_frame_bases(frame, flen, multi, &b, &zoff, err);
		if (!rc)
			memcpy(delta_base, b.id[0], BFS_HASH_LEN);
		bfs_buf_free(&z);
		return rc ? -EUCLEAN : 1;
	} else if (how & RD_PLAIN_ONLY) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "a delta frame where a whole one must be (a "
				 "delta base)");
	} else {
		/* the id is checked there */
		rc = decode_delta(r, id, frame, flen, out, len, multi,
				  how & RD_DEFER_ID, via, fb, err);
		/* a type-2 frame an older writer made on a base whose id
		 * starts with "BFD2" (1 in 2^32; FORMAT.md 18.2), in a
		 * repository migrated to version 5: read as it was meant,
		 * taken only when its bytes match the id */
		if (rc && multi && bfs_get_le32(frame) == BFS_DELTA2_MAGIC_LE &&
		    !decode_delta(r, id, frame, flen, out, len, false, false,
				  via, &b, &e2)) {
			rc = 0;
			if (fb)
				*fb = b;
		}
	}
	bfs_buf_free(&z);
	return rc == -EINVAL ? -EUCLEAN : rc;
}

/* Decode frame (c->clen bytes) into out and verify the id (RD_NO_ID:
 * not, a delta base read by output). */
static int decode_chunk(struct bfs_repo *r, const struct bfs_chunkref *c,
			const uint8_t *frame, uint8_t *out, const char *key,
			unsigned how, uint8_t *delta_base,
			const struct locate_via *via, struct bfs_err *err)
{
	struct bfs_bases fb;
	char h[13];
	int rc;

	bfs_hex(h, c->hash, 6);
	rc = blob_decode(r, c->hash, frame, c->clen, out, c->len, how,
			 delta_base, via, &fb, err);
	if (rc > 0)
		return rc;
	if (rc == -EBADMSG)
		return bfs_err_set(
		    err, rc, "chunk %s in pack '%s' %s%s", h, key,
		    r->crypt ? "fails authentication (damaged, "
			       "or not sealed with this "
			       "repository's key)"
			     : "fails its checksum",
		    fb.n && !r->crypt ? " (a delta frame whose bases verify: "
					"the frame is damaged)"
				      : "");
	if (rc == -EUCLEAN)
		return bfs_err_prefix(
		    err, -EUCLEAN, "chunk %s in pack '%s' is corrupt", h, key);
	if (rc)
		return bfs_err_prefix(
		    err, rc, "cannot decompress chunk %s in pack '%s'", h, key);
	return 0;
}

/* Fetch [off, off+len) of the pack at key into buf, mapping errors. */
static int fetch_range(struct bfs_repo *r, const char *key, uint64_t off,
		       uint64_t len, struct bfs_buf *buf, struct bfs_err *err)
{
	int64_t got;

	got = bfs_store_get(r->store, key, off, len, buf, err);
	if (got == -ENOENT)
		return bfs_err_set(err, -ENOENT, "pack '%s' is missing", key);
	if (got == -EINVAL)
		return bfs_err_set(
		    err, -EUCLEAN,
		    "range %llu+%llu lies past the end of pack '%s'",
		    (unsigned long long)off, (unsigned long long)len, key);
	if (got < 0)
		return bfs_err_prefix(err, (int)got, "cannot read pack '%s'",
				      key);
	if ((uint64_t)got != len)
		return bfs_err_set(
		    err, -EUCLEAN,
		    "short read of pack '%s': %lld of %llu bytes", key,
		    (long long)got, (unsigned long long)len);
	return 0;
}

static int read_chunk(struct bfs_repo *r, const struct bfs_chunkref *c,
		      uint8_t *out, unsigned how, uint8_t *delta_base,
		      const struct locate_via *via, struct bfs_err *err)
{
	struct bfs_buf buf;
	char key[BFS_KEY_MAX];
	int rc;

	bfs_repo_pack_key(key, c->pack);
	rc = check_ref(c, key, err);
	if (rc)
		return rc;
	bfs_scratch_take(&buf);
	rc = fetch_range(r, key, c->offset, c->clen, &buf, err);
	if (rc)
		goto out_give;
	rc = decode_chunk(r, c, buf.data, out, key, how, delta_base, via, err);
out_give:
	bfs_scratch_give(&buf, FETCH_KEEP);
	return rc;
}

/* See repo.h.  Thread-safe. */
int bfs_repo_decode(struct bfs_repo *r, const struct bfs_chunkref *c,
		    const uint8_t *frame, uint8_t *out, struct bfs_err *err)
{
	char key[BFS_KEY_MAX];

	bfs_repo_pack_key(key, c->pack);
	return decode_chunk(r, c, frame, out, key, 0, NULL, NULL, err);
}

/* See repo.h.  out holds c->len bytes.  Thread-safe. */
int bfs_repo_read_chunk(struct bfs_repo *r, const struct bfs_chunkref *c,
			uint8_t *out, struct bfs_err *err)
{
	return read_chunk(r, c, out, 0, NULL, NULL, err);
}

/* See repo.h.  Thread-safe when fn is. */
int bfs_repo_read_chunk_via(struct bfs_repo *r, const struct bfs_chunkref *c,
			    uint8_t *out, bfs_repo_locate_fn fn, void *arg,
			    struct bfs_err *err)
{
	struct locate_via via = {.fn = fn, .arg = arg};

	return read_chunk(r, c, out, 0, NULL, &via, err);
}

/* See repo.h.  Thread-safe. */
int bfs_repo_read_whole(struct bfs_repo *r, const struct bfs_chunkref *c,
			uint8_t *out, uint8_t base_id[BFS_HASH_LEN],
			struct bfs_err *err)
{
	return read_chunk(r, c, out, RD_PLAIN_ONLY, base_id, NULL, err);
}

struct ref_pos {
	uint64_t offset;
	size_t idx;
};

static int cmp_ref_pos(const void *a, const void *b)
{
	const struct ref_pos *x = a, *y = b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Check the plain bytes of n chunks decoded with RD_DEFER_ID (at[i]
 * names each; its frame lies at frames + offset - start) against their
 * ids, all at once (sha256mb.h).  A chunk that does not match is decoded
 * again with its check, which sets the error naming what is damaged (a
 * base, the frame) or, for a frame only the checked decode reads right
 * (FORMAT.md 18.2), gives the right bytes. */
static int check_batch(struct bfs_repo *r, const struct bfs_chunkref *refs,
		       const struct ref_pos *at, size_t n, uint8_t **outs,
		       const uint8_t *frames, uint64_t start, const char *key,
		       struct bfs_err *err)
{
	uint8_t sums[CHECK_BATCH][BFS_HASH_LEN];
	const void *data[CHECK_BATCH];
	size_t len[CHECK_BATCH], i;
	int rc;

	for (i = 0; i < n; i++) {
		data[i] = outs[at[i].idx];
		len[i] = refs[at[i].idx].len;
	}
	bfs_repo_blob_id_many(r, sums, data, len, n);
	for (i = 0; i < n; i++) {
		const struct bfs_chunkref *c = &refs[at[i].idx];

		if (!memcmp(sums[i], c->hash, BFS_HASH_LEN))
			continue;
		rc = decode_chunk(r, c, frames + (c->offset - start),
				  outs[at[i].idx], key, 0, NULL, NULL, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* See repo.h.  Sorts the refs by offset and fetches each run of adjacent
 * (or nearly adjacent: gaps up to 64 KiB) frames with one get, at most
 * 32 MiB per request.  Thread-safe. */
int bfs_repo_read_chunks(struct bfs_repo *r, const struct bfs_chunkref *refs,
			 size_t n, uint8_t **outs, struct bfs_err *err)
{
	return bfs_repo_read_chunks_each(r, refs, n, outs, NULL, NULL, err);
}

int bfs_repo_read_chunks_each(struct bfs_repo *r,
			      const struct bfs_chunkref *refs, size_t n,
			      uint8_t **outs, bfs_repo_chunk_done done,
			      void *arg, struct bfs_err *err)
{
	struct bfs_buf buf;
	struct ref_pos *pos;
	char key[BFS_KEY_MAX];
	size_t i, j, k, kend, m, d, nb;
	bool batch;
	int rc = 0, rc2;

	if (n == 0)
		return 0;
	bfs_repo_pack_key(key, refs[0].pack);
	for (i = 0; i < n; i++) {
		if (memcmp(refs[i].pack, refs[0].pack, BFS_HASH_LEN) != 0)
			return bfs_err_set(err, -EINVAL,
					   "bfs_repo_read_chunks: chunks of "
					   "more than one pack");
		rc = check_ref(&refs[i], key, err);
		if (rc)
			return rc;
	}
	if (n > SIZE_MAX / sizeof(*pos))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	pos = malloc(n * sizeof(*pos));
	if (!pos)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		pos[i].offset = refs[i].offset;
		pos[i].idx = i;
	}
	qsort(pos, n, sizeof(*pos), cmp_ref_pos);

	bfs_scratch_take(&buf);
	nb = BFS_MIN(bfs_sha256_many_batch(), (size_t)CHECK_BATCH);
	for (i = 0; i < n; i = j) {
		uint64_t start = pos[i].offset;
		uint64_t end = start + refs[pos[i].idx].clen;

		/* Grow the run while the next frame starts within the gap
		 * (or overlaps: the same chunk twice in one file). */
		for (j = i + 1; j < n; j++) {
			const struct bfs_chunkref *c = &refs[pos[j].idx];
			uint64_t cend = c->offset + c->clen;

			if (c->offset > end + COALESCE_GAP ||
			    BFS_MAX(end, cend) - start > GROUP_MAX)
				break;
			end = BFS_MAX(end, cend);
		}
		buf.len = 0;
		rc = fetch_range(r, key, start, end - start, &buf, err);
		if (rc)
			goto out_free;
		batch = bfs_sha256_many_pays(j - i);
		for (k = i; k < j; k = kend) {
			kend = batch ? BFS_MIN(j, k + nb) : k + 1;
			/* a lone chunk left over joins the batch before it
			 * (a lane that ends first takes it): alone it
			 * would be hashed at one buffer's speed */
			if (batch && j - kend == 1 && kend - k < CHECK_BATCH)
				kend = j;
			for (m = k; m < kend; m++) {
				const struct bfs_chunkref *c =
				    &refs[pos[m].idx];

				rc = decode_chunk(
				    r, c, buf.data + (c->offset - start),
				    outs[pos[m].idx], key,
				    batch ? RD_DEFER_ID : 0, NULL, NULL, err);
				if (rc)
					break;
			}
			/* [k, m) decoded (m: a chunk that failed, or kend);
			 * with a batch, checked now.  Those before a chunk
			 * that failed are still good; its error stands. */
			if (batch && m > k) {
				rc2 = check_batch(r, refs, pos + k, m - k, outs,
						  buf.data, start, key,
						  rc ? NULL : err);
				if (rc2) {
					rc = rc ? rc : rc2;
					goto out_free;
				}
			}
			for (d = k; done && d < m; d++)
				done(arg, pos[d].idx);
			if (rc)
				goto out_free;
		}
	}
out_free:
	bfs_scratch_give(&buf, FETCH_KEEP);
	free(pos);
	return rc;
}

static int list_backups_cb(void *arg, const char *key, uint64_t size)
{
	const char *name;

	(void)size;
	if (bfs_key_parse(key, NULL, &name) != BFS_KEY_IS_MANIFEST)
		return 0;
	return bfs_strv_add(arg, name);
}

int bfs_repo_list_backups(struct bfs_store *st, struct bfs_strv *out,
			  struct bfs_err *err)
{
	int rc =
	    bfs_store_list(st, BFS_KEY_MANIFESTS, list_backups_cb, out, err);

	if (rc == -ENOMEM)
		return bfs_err_set(err, rc, "out of memory");
	if (rc)
		return bfs_err_prefix(
		    err, rc, "cannot list the backups of '%s'", st->url);
	bfs_strv_sort(out);
	return 0;
}
