/* store_s3_req.c - one S3 request: the pool of curl easy handles, the
 * signed request (headers, ranges, bodies), and s3_call's retry loop with
 * exponential backoff and full jitter.  See store_s3.c for the store. */
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

/* ---- handle pool ------------------------------------------------------ */

static CURL *pool_get(struct s3_store *s)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s->pool_lock);
	if (s->npool)
		h = s->pool[--s->npool];
	pthread_mutex_unlock(&s->pool_lock);
	if (h)
		curl_easy_reset(h); /* keeps the connection cache */
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
			bfs_buf_reserve(r->out,
					(size_t)BFS_MIN(v, 1ull << 30) + 1);
	} else if (strncasecmp(line, "content-range:", 14) == 0) {
		const char *v = line + 14;

		while (*v == ' ')
			v++;
		r->have_range =
		    bfs_s3_parse_content_range(v, &r->cr_start, &r->cr_end,
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
		size_t room = S3_ERRBODY_MAX -
			      BFS_MIN(r->errbody.len, (size_t)S3_ERRBODY_MAX);

		if (room && bfs_buf_append(&r->errbody, p, BFS_MIN(room, len)))
			return 0;
		return len;
	}
	if (!r->body_started) {
		r->body_started = true;
		r->body_pos =
		    r->status == 206 && r->have_range ? r->cr_start : 0;
	}
	/* Keep the part of [body_pos, body_pos + len) inside [off, end). */
	lo = BFS_MAX(r->body_pos, r->off);
	hi = r->body_pos + len;
	if (r->end != UINT64_MAX)
		hi = BFS_MIN(hi, r->end);
	if (hi > lo &&
	    bfs_buf_append(r->out, p + (lo - r->body_pos), (size_t)(hi - lo)))
		return 0; /* ENOMEM: abort the transfer */
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
	struct bfs_buf b = {0};
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
			hdrs = add_header(hdrs, &fail,
					  "Range: bytes=%" PRIu64 "-", r->off);
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
				  r->content_type ? r->content_type
						  : "application/octet-stream");
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
			return 0; /* nothing to compare with */
		return got == (total > r->off ? total - r->off : 0) ? 0
								    : -EAGAIN;
	}
	if (got == r->end - r->off)
		return 0;
	if (total != UINT64_MAX && r->end > total)
		return -EINVAL;
	return -EAGAIN;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000),
			      (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Perform r with retries.  0 on a 2xx answer (for GETs: with the body
 * checked), else -errno with the message in err. */
int s3_call(struct s3_store *s, struct s3_req *r, struct bfs_err *err)
{
	char errbuf[CURL_ERROR_SIZE];
	struct bfs_err last = {{0}};
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
				rc = bfs_err_set(
				    err, -EINVAL,
				    "%s: range %" PRIu64 "-%" PRIu64
				    " is past the end of the object (%" PRIu64
				    " bytes)",
				    r->what, r->off, r->end, total);
				goto out_free;
			}
			last_timeout = false;
			retry = true;
			rc = bfs_err_set(
			    &last, -EIO,
			    "%s: truncated body (%zu bytes of %" PRIu64 ")",
			    r->what, r->out->len - r->out_start,
			    (r->end != UINT64_MAX ? r->end : total) - r->off);
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
			rc = bfs_err_set(
			    err, last_timeout ? -ETIMEDOUT : -EIO,
			    "%s; gave up after %u attempts in %.1f s", last.msg,
			    attempt + 1, (double)(bfs_mono_ns() - t0) / 1e9);
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
