/* store_s3.c - a store in an S3-compatible bucket (AWS S3, MinIO, s3rver).
 *
 * Location "s3://bucket/prefix": key K is the object "prefix/K" (or "K"
 * without a prefix).  Requests are signed by libcurl (CURLOPT_AWS_SIGV4);
 * what curl does not do for S3 we do here: x-amz-content-sha256, keys
 * URI-encoded the SigV4 way and canonical (sorted, encoded) query strings,
 * because curl signs the path and query exactly as given.
 *
 * Credentials come from the standard environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); the secret lives only in this
 * struct and curl's handle, never in a URL, a log line or a message.
 *
 * Every request goes through s3_call(): transient failures (5xx, 429,
 * SlowDown, connection resets, timeouts, truncated bodies) are retried
 * with exponential backoff and full jitter (100 ms base, 5 s cap) within a
 * total budget (60 s, BACKUPFS_S3_RETRY_SECONDS overrides); everything
 * else is mapped once, in bfs_s3_map_error() (s3_util.c).
 *
 * put() is one PUT: S3 makes it all-or-nothing.  BFS_PUT_EXCL is HEAD then
 * PUT with "If-None-Match: *" (honoured by AWS S3 since 2024 and recent
 * MinIO; some servers, s3rver included, ignore it), so it is best-effort:
 * two writers racing on one key may both succeed.  Objects are immutable
 * and identical for identical keys (packs, manifests), so that is benign
 * except for `config` at init, where the race needs two concurrent inits.
 *
 * Thread safety: the store is immutable after open except the pool of curl
 * easy handles (free list under pool_lock).  Each request takes a handle
 * from the pool (or makes one) and gives it back, so concurrent readers
 * each use their own connection and keep-alive works across requests.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "log.h"
#include "s3_util.h"
#include "store.h"
#include "store_s3_int.h"

/* ---- keys ------------------------------------------------------------- */

/* prefix + "/" + key, malloc'ed; NULL on ENOMEM. */
static char *full_key(struct s3_store *s, const char *key)
{
	size_t n = strlen(s->prefix) + 1 + strlen(key) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s%s%s", s->prefix, *s->prefix ? "/" : "", key);
	return p;
}

static int check_key(const char *key, struct bfs_err *err)
{
	const char *p;

	if (!key || !*key || *key == '/' || strlen(key) > 900)
		return bfs_err_set(err, -EINVAL, "invalid object key '%s'",
				   key ? key : "(null)");
	for (p = key; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return bfs_err_set(err, -EINVAL,
					   "invalid object key '%s'", key);
	return 0;
}

/* ---- ops -------------------------------------------------------------- */

static int s3_stat(struct bfs_store *bs, const char *key, uint64_t *size,
		   struct bfs_err *err)
{
	struct s3_store *s = to_s3(bs);
	struct s3_req r = {0};
	char what[BFS_KEY_MAX_S3];
	char *fk;
	int rc;

	rc = check_key(key, err);
	if (rc)
		return rc;
	fk = full_key(s, key);
	if (!fk)
		return -ENOMEM;
	snprintf(what, sizeof(what), "HEAD '%s' in %s", key, bs->url);
	r.method = "HEAD";
	r.key = fk;
	r.what = what;
	rc = s3_call(s, &r, err);
	if (!rc && !r.have_length)
		rc = bfs_err_set(err, -EPROTO, "%s: no Content-Length", what);
	if (!rc && size)
		*size = r.length;
	free(fk);
	return rc;
}

static int64_t s3_get(struct bfs_store *bs, const char *key, uint64_t off,
		      uint64_t len, struct bfs_buf *out, struct bfs_err *err)
{
	struct s3_store *s = to_s3(bs);
	struct s3_req r = {0};
	char what[BFS_KEY_MAX_S3];
	char *fk;
	int rc;

	rc = check_key(key, err);
	if (rc)
		return rc;
	if (len == 0) {
		/* Nothing to read, but a missing key is still -ENOENT. */
		uint64_t size;

		rc = s3_stat(bs, key, &size, err);
		if (rc)
			return rc;
		if (off > size)
			return bfs_err_set(err, -EINVAL,
					   "read of '%s' past its end", key);
		return 0;
	}
	if (len != UINT64_MAX && off > UINT64_MAX - len)
		return bfs_err_set(err, -EINVAL, "bad range for '%s'", key);
	fk = full_key(s, key);
	if (!fk)
		return -ENOMEM;
	snprintf(what, sizeof(what), "GET '%s' in %s", key, bs->url);
	r.method = "GET";
	r.key = fk;
	r.what = what;
	r.out = out;
	r.ranged = off != 0 || len != UINT64_MAX;
	r.off = off;
	r.end = len == UINT64_MAX ? UINT64_MAX : off + len;
	rc = s3_call(s, &r, err);
	if (rc == -EINVAL && len == UINT64_MAX && r.status == 416)
		rc = 0; /* reading to the end from the end: 0 bytes */
	free(fk);
	return rc ? rc : (int64_t)(out->len - r.out_start);
}

static int s3_put(struct bfs_store *bs, const char *key, const void *data,
		  size_t len, int flags, struct bfs_err *err)
{
	struct s3_store *s = to_s3(bs);
	struct s3_req r = {0};
	char what[BFS_KEY_MAX_S3];
	char *fk;
	int rc;

	rc = check_key(key, err);
	if (rc)
		return rc;
	if (flags & BFS_PUT_EXCL) {
		rc = s3_stat(bs, key, NULL, err);
		if (rc == 0)
			return bfs_err_set(err, -EEXIST,
					   "object '%s' already exists in %s",
					   key, bs->url);
		if (rc != -ENOENT)
			return rc;
	}
	fk = full_key(s, key);
	if (!fk)
		return -ENOMEM;
	snprintf(what, sizeof(what), "PUT '%s' in %s", key, bs->url);
	r.method = "PUT";
	r.key = fk;
	r.what = what;
	r.body = data ? data : "";
	r.body_len = len;
	r.extra_header = flags & BFS_PUT_EXCL ? "If-None-Match: *" : NULL;
	rc = s3_call(s, &r, err);
	if (rc && (flags & BFS_PUT_EXCL) &&
	    (r.status == 501 || r.status == 400) && rc != -EEXIST) {
		/* A server that does not know conditional writes: the HEAD
		 * above is all we can do. */
		r.extra_header = NULL;
		rc = s3_call(s, &r, err);
	}
	if (rc == -EEXIST)
		rc = bfs_err_set(err, -EEXIST,
				 "object '%s' already exists in %s", key,
				 bs->url);
	free(fk);
	return rc;
}

static int s3_del(struct bfs_store *bs, const char *key, struct bfs_err *err)
{
	struct s3_store *s = to_s3(bs);
	struct s3_req r = {0};
	char what[BFS_KEY_MAX_S3];
	char *fk;
	int rc;

	/* S3 answers 204 for a missing key too; the contract wants ENOENT. */
	rc = s3_stat(bs, key, NULL, err);
	if (rc)
		return rc;
	fk = full_key(s, key);
	if (!fk)
		return -ENOMEM;
	snprintf(what, sizeof(what), "DELETE '%s' in %s", key, bs->url);
	r.method = "DELETE";
	r.key = fk;
	r.what = what;
	rc = s3_call(s, &r, err);
	free(fk);
	return rc;
}

/* One ListObjectsV2 page of keys under full prefix fp.  *page filled. */
static int list_page(struct s3_store *s, const char *fp, const char *token,
		     unsigned max_keys, struct bfs_s3_list_page *page,
		     struct bfs_err *err)
{
	struct bfs_s3_param params[4];
	struct bfs_buf q = {0}, body = {0};
	struct s3_req r = {0};
	char what[BFS_KEY_MAX_S3], mk[16];
	size_t np = 0;
	int rc;

	snprintf(mk, sizeof(mk), "%u", max_keys);
	params[np++] = (struct bfs_s3_param){"list-type", "2"};
	params[np++] = (struct bfs_s3_param){"max-keys", mk};
	params[np++] = (struct bfs_s3_param){"prefix", fp};
	if (token)
		params[np++] =
		    (struct bfs_s3_param){"continuation-token", token};
	rc = bfs_s3_query_build(&q, params, np);
	if (rc)
		goto out_free;
	snprintf(what, sizeof(what), "LIST '%s' in s3://%s", fp, s->bucket);
	r.method = "GET";
	r.query = (const char *)q.data;
	r.what = what;
	r.out = &body;
	r.end = UINT64_MAX;
	rc = s3_call(s, &r, err);
	if (rc)
		goto out_free;
	rc = bfs_s3_parse_list((const char *)body.data, body.len, page, err);
	if (rc)
		bfs_err_prefix(err, rc, "%s", what);
out_free:
	bfs_buf_free(&q);
	bfs_buf_free(&body);
	return rc;
}

static int s3_list(struct bfs_store *bs, const char *prefix, bfs_list_cb cb,
		   void *arg, struct bfs_err *err)
{
	struct s3_store *s = to_s3(bs);
	struct bfs_s3_list_page page = {0};
	char *fp, *token = NULL;
	size_t strip = *s->prefix ? strlen(s->prefix) + 1 : 0, i;
	int rc;

	fp = full_key(s, prefix ? prefix : "");
	if (!fp)
		return -ENOMEM;
	for (;;) {
		rc = list_page(s, fp, token, 1000, &page, err);
		if (rc)
			break;
		for (i = 0; i < page.n && !rc; i++) {
			const char *k = page.items[i].key;

			/* Only keys under our prefix (a hostile or buggy
			 * server could answer with others). */
			if (strncmp(k, fp, strlen(fp)) != 0 ||
			    strlen(k) <= strip)
				continue;
			rc = cb(arg, k + strip, page.items[i].size);
		}
		free(token);
		token = page.truncated ? page.next_token : NULL;
		page.next_token = NULL;
		bfs_s3_list_page_clear(&page);
		if (rc || !token)
			break;
	}
	free(token);
	free(fp);
	return rc;
}

static void s3_destroy(struct bfs_store *bs)
{
	struct s3_store *s = to_s3(bs);
	size_t i;

	for (i = 0; i < s->npool; i++)
		curl_easy_cleanup(s->pool[i]);
	pthread_mutex_destroy(&s->pool_lock);
	if (s->secret_key) {
		explicit_bzero(s->secret_key, strlen(s->secret_key));
		free(s->secret_key);
	}
	if (s->session_token) {
		explicit_bzero(s->session_token, strlen(s->session_token));
		free(s->session_token);
	}
	free(s->access_key);
	free(s->bucket);
	free(s->prefix);
	free(s->region);
	free(s->obj_base);
	free(s->bucket_url);
	free(bs->url);
	free(s);
}

static const struct bfs_store_ops s3_ops = {
    .name = "s3",
    .get = s3_get,
    .put = s3_put,
    .list = s3_list,
    .del = s3_del,
    .stat = s3_stat,
    .destroy = s3_destroy,
};

/* ---- open ------------------------------------------------------------- */

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Split "s3://bucket/pre/fix/" into bucket and prefix ("pre/fix"). */
static int parse_url(struct s3_store *s, const char *url, struct bfs_err *err)
{
	const char *p = url + 5, *slash;
	size_t plen;

	slash = strchr(p, '/');
	s->bucket = slash ? strndup(p, (size_t)(slash - p)) : strdup(p);
	if (!s->bucket)
		return -ENOMEM;
	if (!bfs_s3_bucket_valid(s->bucket))
		return bfs_err_set(err, -EINVAL,
				   "invalid bucket name '%s' in '%s'",
				   s->bucket, url);
	p = slash ? slash + 1 : "";
	while (*p == '/')
		p++;
	plen = strlen(p);
	while (plen && p[plen - 1] == '/')
		plen--;
	s->prefix = strndup(p, plen);
	if (!s->prefix)
		return -ENOMEM;
	if (strstr(s->prefix, "//") ||
	    check_key(*s->prefix ? s->prefix : "x", NULL))
		return bfs_err_set(err, -EINVAL, "invalid prefix in '%s'", url);
	return 0;
}

/* Probe the bucket with a one-key listing: a missing bucket, wrong
 * credentials or a wrong region show up here, once, with a clear message.
 * With create, a missing bucket is created. */
static int probe_bucket(struct s3_store *s, bool create, struct bfs_err *err)
{
	struct bfs_s3_list_page page = {0};
	struct bfs_err e = {{0}};
	struct s3_req r = {0};
	char body[512], what[300];
	int rc;

	rc = list_page(s, s->prefix, NULL, 1, &page, &e);
	bfs_s3_list_page_clear(&page);
	if (rc != -ENOENT || !create) {
		if (rc && err)
			*err = e;
		return rc;
	}
	snprintf(what, sizeof(what), "create bucket '%s'", s->bucket);
	r.method = "PUT";
	r.what = what;
	r.content_type = "application/xml";
	if (strcmp(s->region, "us-east-1") != 0) {
		snprintf(body, sizeof(body),
			 "<CreateBucketConfiguration "
			 "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			 "<LocationConstraint>%s</LocationConstraint>"
			 "</CreateBucketConfiguration>",
			 s->region);
		r.body = body;
		r.body_len = strlen(body);
	} else {
		r.body = "";
		r.body_len = 0;
	}
	rc = s3_call(s, &r, &e);
	if (rc == 0 ||
	    (r.status == 409 && strstr(e.msg, "BucketAlreadyOwnedByYou"))) {
		bfs_info("created bucket '%s'", s->bucket);
		return 0;
	}
	if (err)
		*err = e;
	return rc;
}

/* Open the S3 store for url ("s3://bucket[/prefix]"), see store.h.  Reads
 * the AWS_* environment; checks the bucket with one request (creating it
 * when opts->create).  *out owned by the caller (bfs_store_free). */
int bfs_store_s3_open(const char *url, const struct bfs_store_opts *opts,
		      struct bfs_store **out, struct bfs_err *err)
{
	struct s3_store *s;
	const char *endpoint, *region, *ak, *sk, *tok, *rs;
	char defep[300];
	bool path_style;
	double secs = S3_RETRY_SECONDS_DEFAULT;
	int rc;

	*out = NULL;
	if (!url || strncmp(url, "s3://", 5) != 0)
		return bfs_err_set(err, -EINVAL, "not an S3 location: '%s'",
				   url ? url : "");
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &s3_ops;
	pthread_mutex_init(&s->pool_lock, NULL);
	s->base.url = strdup(url);
	if (!s->base.url) {
		rc = -ENOMEM;
		goto out_destroy;
	}
	rc = parse_url(s, url, err);
	if (rc)
		goto out_destroy;

	ak = env_nonempty("AWS_ACCESS_KEY_ID");
	sk = env_nonempty("AWS_SECRET_ACCESS_KEY");
	tok = env_nonempty("AWS_SESSION_TOKEN");
	if (!ak || !sk) {
		rc = bfs_err_set(err, -EINVAL,
				 "no S3 credentials for '%s': set "
				 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
				 url);
		goto out_destroy;
	}
	s->access_key = strdup(ak);
	s->secret_key = strdup(sk);
	s->session_token = tok ? strdup(tok) : NULL;
	region = opts && opts->s3_region && *opts->s3_region
		     ? opts->s3_region
		     : env_nonempty("AWS_REGION");
	if (!region)
		region = env_nonempty("AWS_DEFAULT_REGION");
	s->region = strdup(region ? region : "us-east-1");
	if (!s->access_key || !s->secret_key || (tok && !s->session_token) ||
	    !s->region) {
		rc = -ENOMEM;
		goto out_destroy;
	}
	if (!bfs_s3_bucket_valid(s->region) || strlen(s->region) > 64) {
		rc = bfs_err_set(err, -EINVAL, "invalid S3 region '%s'",
				 s->region);
		goto out_destroy;
	}
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->region);

	endpoint = opts && opts->s3_endpoint && *opts->s3_endpoint
		       ? opts->s3_endpoint
		       : env_nonempty("AWS_ENDPOINT_URL_S3");
	if (!endpoint)
		endpoint = env_nonempty("AWS_ENDPOINT_URL");
	path_style = endpoint != NULL;
	if (opts && opts->s3_path_style >= 0)
		path_style = opts->s3_path_style == 1;
	if (!endpoint) {
		snprintf(defep, sizeof(defep), "https://s3.%s.amazonaws.com",
			 s->region);
		endpoint = defep;
	}
	/* Dotted bucket names do not fit a TLS wildcard certificate. */
	if (!path_style && strchr(s->bucket, '.') &&
	    strncmp(endpoint, "https://", 8) == 0)
		bfs_warn(
		    "bucket '%s' has dots: virtual-host addressing over "
		    "https may fail certificate checks (try --s3-path-style)",
		    s->bucket);
	rc = bfs_s3_build_urls(endpoint, s->bucket, path_style, &s->obj_base,
			       &s->bucket_url, err);
	if (rc)
		goto out_destroy;

	rs = env_nonempty("BACKUPFS_S3_RETRY_SECONDS");
	if (rs) {
		char *e;
		double v = strtod(rs, &e);

		if (*e || v < 0 || v > 86400) {
			rc = bfs_err_set(
			    err, -EINVAL,
			    "invalid BACKUPFS_S3_RETRY_SECONDS '%s'", rs);
			goto out_destroy;
		}
		secs = v;
	}
	s->retry_ns = (int64_t)(secs * 1e9);

	rc = probe_bucket(s, opts && opts->create, err);
	if (rc)
		goto out_destroy;
	bfs_debug("s3 store '%s': endpoint %s, %s-style, region %s", url,
		  endpoint, path_style ? "path" : "virtual-host", s->region);
	*out = &s->base;
	return 0;
out_destroy:
	if (rc == -ENOMEM && err && !err->msg[0])
		bfs_err_set(err, rc, "out of memory opening '%s'", url);
	s3_destroy(&s->base);
	return rc;
}
