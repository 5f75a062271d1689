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

#define S3_POOL_MAX 64
#define S3_BACKOFF_BASE_MS 100
#define S3_BACKOFF_CAP_MS 5000
#define S3_RETRY_SECONDS_DEFAULT 60.0
#define S3_ERRBODY_MAX (64 * 1024)
#define BFS_KEY_MAX_S3 1200
#define S3_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_store {
	struct bfs_store base;
	char *bucket;
	char *prefix;          /* "" or "a/b": no leading/trailing '/' */
	char *region;
	char *obj_base;        /* URL before "/<encoded key>", no trailing '/' */
	char *bucket_url;      /* URL of the bucket itself (list, create) */
	char *access_key;
	char *secret_key;      /* never logged; zeroed on destroy */
	char *session_token;   /* may be NULL */
	char sigv4[128];       /* "aws:amz:REGION:s3" */
	int64_t retry_ns;      /* total retry budget per request */

	pthread_mutex_t pool_lock;     /* protects pool[] and npool */
	CURL *pool[S3_POOL_MAX];
	size_t npool;
};

static struct s3_store *to_s3(struct bfs_store *s)
{
	return (struct s3_store *)s;
}

/* ---- handle pool ------------------------------------------------------ */

static CURL *pool_get(struct s3_store *s)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s->pool_lock);
	if (s->npool)
		h = s->pool[--s->npool];
	pthread_mutex_unlock(&s->pool_lock);
	if (h)
		curl_easy_reset(h);    /* keeps the connection cache */
	else
		h = curl_easy_init();
	return h;
}

static void pool_put(struct s3_store *s, CURL *h, bool broken)
{
	if (!h)
		return;
	pthread_mutex_lock(&s->pool_lock);
	if (!broken && s->npool < S3_POOL_MAX) {
		s->pool[s->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- one request ------------------------------------------------------ */

struct s3_req {
	/* in */
	const char *method;        /* GET PUT HEAD DELETE */
	const char *key;           /* full object key, or NULL: the bucket */
	const char *query;         /* canonical query, or NULL */
	const void *body;          /* PUT body */
	size_t body_len;
	const char *content_type;  /* PUT */
	const char *extra_header;  /* e.g. "If-None-Match: *", or NULL */
	const char *what;          /* for messages: "GET 'packs/..'" */
	/* GET: the wanted range of the object [off, end), end UINT64_MAX for
	 * "to the end".  Body bytes outside it are dropped: servers that
	 * ignore or widen a Range (s3rver with bytes=0-0) still give us
	 * exactly what was asked. */
	bool ranged;
	uint64_t off, end;
	struct bfs_buf *out;       /* GET body sink (appended), or NULL */

	/* out */
	long status;
	bool have_length;
	uint64_t length;           /* Content-Length of the answer */
	bool have_range;
	uint64_t cr_start, cr_end, cr_total;   /* Content-Range */

	/* transfer state, reset each attempt */
	size_t out_start;          /* out->len before the attempt */
	size_t body_read;          /* PUT: bytes handed to curl */
	bool body_started;
	uint64_t body_pos;         /* object offset of the next GET byte */
	struct bfs_buf errbody;
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct s3_req *r = arg;
	size_t len = size * n;
	char line[256];
	size_t l = BFS_MIN(len, sizeof(line) - 1);

	memcpy(line, p, l);
	line[l] = '\0';
	while (l && (line[l - 1] == '\r' || line[l - 1] == '\n'))
		line[--l] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = strchr(line, ' ');

		/* A new status line (after 100 Continue) starts over. */
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->have_length = r->have_range = false;
	} else if (strncasecmp(line, "content-length:", 15) == 0) {
		char *e;
		unsigned long long v = strtoull(line + 15, &e, 10);

		r->have_length = e != line + 15;
		r->length = v;
		/* One allocation for a whole-object GET (bounded: the
		 * header is untrusted; the body still grows as needed). */
		if (r->have_length && r->out && r->status >= 200 &&
		    r->status < 300 && r->end == UINT64_MAX)
			bfs_buf_reserve(r->out, (size_t)BFS_MIN(v, 1ull << 30) + 1);
	} else if (strncasecmp(line, "content-range:", 14) == 0) {
		const char *v = line + 14;

		while (*v == ' ')
			v++;
		r->have_range = bfs_s3_parse_content_range(v, &r->cr_start,
							   &r->cr_end,
							   &r->cr_total) == 0;
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct s3_req *r = arg;
	size_t len = size * n;
	uint64_t lo, hi;

	if (r->status < 200 || r->status >= 300 || !r->out) {
		/* Error bodies (and bodies nobody wants) are kept only up to
		 * a bound: enough for <Code>/<Message>. */
		size_t room = S3_ERRBODY_MAX - BFS_MIN(r->errbody.len,
						       (size_t)S3_ERRBODY_MAX);

		if (room && bfs_buf_append(&r->errbody, p, BFS_MIN(room, len)))
			return 0;
		return len;
	}
	if (!r->body_started) {
		r->body_started = true;
		r->body_pos = r->status == 206 && r->have_range ?
			r->cr_start : 0;
	}
	/* Keep the part of [body_pos, body_pos + len) inside [off, end). */
	lo = BFS_MAX(r->body_pos, r->off);
	hi = r->body_pos + len;
	if (r->end != UINT64_MAX)
		hi = BFS_MIN(hi, r->end);
	if (hi > lo &&
	    bfs_buf_append(r->out, p + (lo - r->body_pos), (size_t)(hi - lo)))
		return 0;   /* ENOMEM: abort the transfer */
	r->body_pos += len;
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct s3_req *r = arg;
	size_t want = BFS_MIN(size * n, r->body_len - r->body_read);

	memcpy(buf, (const char *)r->body + r->body_read, want);
	r->body_read += want;
	return want;
}

static int on_seek(void *arg, curl_off_t off, int origin)
{
	struct s3_req *r = arg;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->body_read = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* Transport errors worth another try: the server or the network may
 * recover.  The rest (bad URL, no memory, TLS verification) will not. */
static bool curl_transient(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SEND_FAIL_REWIND:
	case CURLE_AGAIN:
	case CURLE_WEIRD_SERVER_REPLY:
		return true;
	default:
		return false;
	}
}

static char *object_url(struct s3_store *s, const char *key, const char *query)
{
	struct bfs_buf b = { 0 };
	int rc;

	if (key) {
		rc = bfs_buf_printf(&b, "%s/", s->obj_base);
		if (!rc)
			rc = bfs_s3_uri_encode(&b, key, strlen(key), true);
	} else {
		rc = bfs_buf_printf(&b, "%s", s->bucket_url);
	}
	if (!rc && query && *query)
		rc = bfs_buf_printf(&b, "?%s", query);
	if (rc) {
		bfs_buf_free(&b);
		return NULL;
	}
	return (char *)b.data;
}

static struct curl_slist *add_header(struct curl_slist *l, bool *fail,
				     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static struct curl_slist *add_header(struct curl_slist *l, bool *fail,
				     const char *fmt, ...)
{
	char line[512];
	struct curl_slist *n;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line)) {
		*fail = true;
		return l;
	}
	n = curl_slist_append(l, line);
	if (!n)
		*fail = true;
	return n ? n : l;
}

/* One attempt.  Returns the CURLcode; r->status etc. filled. */
static CURLcode s3_attempt(struct s3_store *s, CURL *h, struct s3_req *r,
			   const char *url, char *errbuf)
{
	struct curl_slist *hdrs = NULL;
	char sha[BFS_HASH_HEX + 1];
	bool fail = false;
	CURLcode c;

	r->status = 0;
	r->have_length = r->have_range = false;
	r->body_read = 0;
	r->body_started = false;
	r->errbody.len = 0;
	if (r->out)
		r->out->len = r->out_start;
	errbuf[0] = '\0';

	if (r->body) {
		uint8_t d[BFS_HASH_LEN];

		bfs_sha256(d, r->body, r->body_len);
		bfs_hex(sha, d, BFS_HASH_LEN);
	} else {
		snprintf(sha, sizeof(sha), "%s", S3_EMPTY_SHA256);
	}
	/* curl signs the headers we give; it does not add this one. */
	hdrs = add_header(hdrs, &fail, "x-amz-content-sha256: %s", sha);
	if (s->session_token)
		hdrs = add_header(hdrs, &fail, "x-amz-security-token: %s",
				  s->session_token);
	if (r->ranged) {
		if (r->end == UINT64_MAX)
			hdrs = add_header(hdrs, &fail, "Range: bytes=%" PRIu64 "-",
					  r->off);
		else if (r->off == 0 && r->end == 1)
			/* s3rver answers bytes=0-0 with the whole object;
			 * ask for two bytes and keep one (on_body). */
			hdrs = add_header(hdrs, &fail, "Range: bytes=0-1");
		else
			hdrs = add_header(hdrs, &fail,
					  "Range: bytes=%" PRIu64 "-%" PRIu64,
					  r->off, r->end - 1);
	}
	if (r->body || strcmp(r->method, "PUT") == 0)
		hdrs = add_header(hdrs, &fail, "Content-Type: %s",
				  r->content_type ? r->content_type :
				  "application/octet-stream");
	if (r->extra_header)
		hdrs = add_header(hdrs, &fail, "%s", r->extra_header);
	if (fail) {
		curl_slist_free_all(hdrs);
		return CURLE_OUT_OF_MEMORY;
	}

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "backupfs/" PACKAGE_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	/* A stalled transfer (under 1 KiB/s for 30 s) is a timeout. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Larger buffers: packs are megabytes. */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->access_key);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret_key);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)r->body_len);
		/* No 100-continue round trip: the body is in memory. */
		curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	c = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	if (c == CURLE_OK && r->status == 0) {
		long st = 0;

		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
		r->status = st;
	}
	return c;
}

/* Check a 2xx GET answer against the wanted range.  0 if the body is
 * what was asked; -EAGAIN if it is short (truncated: retry); -EINVAL if
 * the range lies past the end of the object. */
static int check_get_body(struct s3_req *r, uint64_t *total_out)
{
	uint64_t got = r->out->len - r->out_start, total = UINT64_MAX;

	if (r->status == 206 && r->have_range)
		total = r->cr_total;
	else if (r->status == 200 && r->have_length)
		total = r->length;
	*total_out = total;
	if (r->end == UINT64_MAX) {
		if (total == UINT64_MAX)
			return 0;    /* nothing to compare with */
		return got == (total > r->off ? total - r->off : 0) ?
			0 : -EAGAIN;
	}
	if (got == r->end - r->off)
		return 0;
	if (total != UINT64_MAX && r->end > total)
		return -EINVAL;
	return -EAGAIN;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Perform r with retries.  0 on a 2xx answer (for GETs: with the body
 * checked), else -errno with the message in err. */
static int s3_call(struct s3_store *s, struct s3_req *r, struct bfs_err *err)
{
	char errbuf[CURL_ERROR_SIZE];
	struct bfs_err last = { { 0 } };
	int64_t t0 = bfs_mono_ns();
	unsigned attempt = 0;
	bool last_timeout = false;
	char *url;
	int rc;

	url = object_url(s, r->key, r->query);
	if (!url)
		return bfs_err_set(err, -ENOMEM, "%s: out of memory", r->what);
	if (r->out)
		r->out_start = r->out->len;
	memset(&r->errbody, 0, sizeof(r->errbody));
	if (r->out && r->end != UINT64_MAX && r->end - r->off < (1u << 30)) {
		rc = bfs_buf_reserve(r->out, (size_t)(r->end - r->off) + 1);
		if (rc) {
			rc = bfs_err_set(err, rc, "%s: out of memory", r->what);
			goto out_free;
		}
	}
	for (;;) {
		CURL *h = pool_get(s);
		CURLcode c;
		bool retry = false;
		uint64_t delay, total;

		if (!h) {
			rc = bfs_err_set(err, -ENOMEM,
					 "%s: cannot create a curl handle",
					 r->what);
			goto out_free;
		}
		c = s3_attempt(s, h, r, url, errbuf);
		pool_put(s, h, c != CURLE_OK);
		if (c != CURLE_OK) {
			last_timeout = c == CURLE_OPERATION_TIMEDOUT;
			retry = curl_transient(c);
			rc = bfs_err_set(&last, -EIO, "%s: %s%s%s", r->what,
					 curl_easy_strerror(c),
					 errbuf[0] ? ": " : "", errbuf);
			if (c == CURLE_OUT_OF_MEMORY)
				rc = -ENOMEM;
		} else if (r->status >= 200 && r->status < 300) {
			if (bfs_log_level() >= LOG_DEBUG)
				bfs_debug("s3: %s -> %ld (%.1f ms)", r->what,
					  r->status,
					  (double)(bfs_mono_ns() - t0) / 1e6);
			if (!(r->out && strcmp(r->method, "GET") == 0)) {
				rc = 0;
				goto out_free;
			}
			rc = check_get_body(r, &total);
			if (rc == 0)
				goto out_free;
			if (rc == -EINVAL) {
				rc = bfs_err_set(err, -EINVAL,
						 "%s: range %" PRIu64 "-%" PRIu64
						 " is past the end of the object (%"
						 PRIu64 " bytes)", r->what,
						 r->off, r->end, total);
				goto out_free;
			}
			last_timeout = false;
			retry = true;
			rc = bfs_err_set(&last, -EIO,
					 "%s: truncated body (%zu bytes of %"
					 PRIu64 ")", r->what,
					 r->out->len - r->out_start,
					 (r->end != UINT64_MAX ? r->end :
					  total) - r->off);
		} else {
			struct bfs_s3_error e;

			last_timeout = false;
			if (bfs_s3_parse_error((const char *)r->errbody.data,
					       r->errbody.len, &e)) {
				rc = bfs_err_set(err, -ENOMEM,
						 "%s: out of memory", r->what);
				goto out_free;
			}
			rc = bfs_s3_map_error(r->status, &e, r->what, s->bucket,
					      s->region, &retry, &last);
			bfs_s3_error_clear(&e);
		}
		if (!retry) {
			if (err)
				*err = last;
			goto out_free;
		}
		delay = bfs_s3_backoff_ms(attempt, S3_BACKOFF_BASE_MS,
					  S3_BACKOFF_CAP_MS);
		if (bfs_mono_ns() - t0 + (int64_t)delay * 1000000 >
		    s->retry_ns) {
			rc = bfs_err_set(err, last_timeout ? -ETIMEDOUT : -EIO,
					 "%s; gave up after %u attempts in %.1f s",
					 last.msg, attempt + 1,
					 (double)(bfs_mono_ns() - t0) / 1e9);
			goto out_free;
		}
		attempt++;
		bfs_info("retrying (attempt %u) after: %s", attempt + 1,
			 last.msg);
		sleep_ms(delay);
	}
out_free:
	if (rc && r->out)
		r->out->len = r->out_start;
	bfs_buf_free(&r->errbody);
	free(url);
	return rc;
}

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
	struct s3_req r = { 0 };
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
	struct s3_req r = { 0 };
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
		rc = 0;     /* reading to the end from the end: 0 bytes */
	free(fk);
	return rc ? rc : (int64_t)(out->len - r.out_start);
}

static int s3_put(struct bfs_store *bs, const char *key, const void *data,
		  size_t len, int flags, struct bfs_err *err)
{
	struct s3_store *s = to_s3(bs);
	struct s3_req r = { 0 };
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
		rc = bfs_err_set(err, -EEXIST, "object '%s' already exists in %s",
				 key, bs->url);
	free(fk);
	return rc;
}

static int s3_del(struct bfs_store *bs, const char *key, struct bfs_err *err)
{
	struct s3_store *s = to_s3(bs);
	struct s3_req r = { 0 };
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
	struct bfs_buf q = { 0 }, body = { 0 };
	struct s3_req r = { 0 };
	char what[BFS_KEY_MAX_S3], mk[16];
	size_t np = 0;
	int rc;

	snprintf(mk, sizeof(mk), "%u", max_keys);
	params[np++] = (struct bfs_s3_param){ "list-type", "2" };
	params[np++] = (struct bfs_s3_param){ "max-keys", mk };
	params[np++] = (struct bfs_s3_param){ "prefix", fp };
	if (token)
		params[np++] = (struct bfs_s3_param){ "continuation-token",
						      token };
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
	struct bfs_s3_list_page page = { 0 };
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
	if (strstr(s->prefix, "//") || check_key(*s->prefix ? s->prefix : "x",
						 NULL))
		return bfs_err_set(err, -EINVAL, "invalid prefix in '%s'", url);
	return 0;
}

/* Probe the bucket with a one-key listing: a missing bucket, wrong
 * credentials or a wrong region show up here, once, with a clear message.
 * With create, a missing bucket is created. */
static int probe_bucket(struct s3_store *s, bool create, struct bfs_err *err)
{
	struct bfs_s3_list_page page = { 0 };
	struct bfs_err e = { { 0 } };
	struct s3_req r = { 0 };
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
			 "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			 "<LocationConstraint>%s</LocationConstraint>"
			 "</CreateBucketConfiguration>", s->region);
		r.body = body;
		r.body_len = strlen(body);
	} else {
		r.body = "";
		r.body_len = 0;
	}
	rc = s3_call(s, &r, &e);
	if (rc == 0 || (r.status == 409 && strstr(e.msg, "BucketAlreadyOwnedByYou"))) {
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
				 "no S3 credentials for '%s': set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
				 url);
		goto out_destroy;
	}
	s->access_key = strdup(ak);
	s->secret_key = strdup(sk);
	s->session_token = tok ? strdup(tok) : NULL;
	region = opts && opts->s3_region && *opts->s3_region ?
		opts->s3_region : env_nonempty("AWS_REGION");
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

	endpoint = opts && opts->s3_endpoint && *opts->s3_endpoint ?
		opts->s3_endpoint : env_nonempty("AWS_ENDPOINT_URL_S3");
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
		bfs_warn("bucket '%s' has dots: virtual-host addressing over "
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
			rc = bfs_err_set(err, -EINVAL,
					 "invalid BACKUPFS_S3_RETRY_SECONDS '%s'",
					 rs);
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
