/* source_nocodb_http.c - requests to a NocoDB server over libcurl: GETs,
 * JSON POST/PATCH and file uploads (the restore),
 * JSON bodies (bounded) and streamed downloads, 3 tries with backoff on
 * transport errors, 5xx and 429.  The API token goes only to the NocoDB
 * base URL, as the xc-token header; it is never put in a message.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "source_nocodb.h"

#define TRIES 3
#define JSON_MAX (256u << 20) /* a page of 1000 records stays far below */
#define ERRBODY 200	      /* bytes of an error body quoted */

struct nc_http {
	CURL *h;
	char *base;
	char *shown; /* base for messages: no password (bfs_url_shown) */
	size_t base_len;
	char *token_hdr; /* "xc-token: ..." */
	struct curl_slist *hdrs;
};

int nc_http_new(const char *url, const char *token, struct nc_http **out,
		struct bfs_err *err)
{
	struct nc_http *c = calloc(1, sizeof(*c));
	struct curl_slist *l;

	*out = NULL;
	if (!c)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	c->base = strdup(url);
	c->shown = bfs_url_shown(url);
	if (!c->base || !c->shown ||
	    asprintf(&c->token_hdr, "xc-token: %s", token) < 0) {
		c->token_hdr = NULL;
		goto nomem;
	}
	c->base_len = strlen(c->base);
	while (c->base_len && c->base[c->base_len - 1] == '/')
		c->base[--c->base_len] = '\0';
	l = curl_slist_append(NULL, c->token_hdr);
	if (!l)
		goto nomem;
	c->hdrs = l;
	l = curl_slist_append(c->hdrs, "Accept: application/json");
	if (!l)
		goto nomem;
	c->h = curl_easy_init();
	if (!c->h)
		goto nomem;
	*out = c;
	return 0;
nomem:
	nc_http_free(c);
	return bfs_err_set(err, -ENOMEM, "out of memory");
}

void nc_http_free(struct nc_http *c)
{
	if (!c)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	if (c->token_hdr) {
		explicit_bzero(c->token_hdr, strlen(c->token_hdr));
		free(c->token_hdr);
	}
	free(c->base);
	free(c->shown);
	free(c);
}

const char *nc_http_base(const struct nc_http *c)
{
	return c->base;
}

const char *nc_http_shown(const struct nc_http *c)
{
	return c->shown;
}

struct req {
	CURL *h;
	long status; /* known once the first body byte arrives */
	nc_sink_fn sink;
	void *arg;
	int sink_rc;
	char ebody[ERRBODY + 1]; /* the start of a non-2xx body */
	size_t elen;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct req *r = arg;
	size_t len = size * n;

	if (!r->status)
		curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->status < 200 || r->status > 299) {
		size_t k = BFS_MIN(len, ERRBODY - r->elen);

		memcpy(r->ebody + r->elen, p, k);
		r->elen += k;
		r->ebody[r->elen] = '\0';
		return len;
	}
	r->sink_rc = r->sink(r->arg, p, len);
	return r->sink_rc ? 0 : len;
}

/* The start of an error body, made printable, for a message. */
static void clean_body(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void backoff(int try)
{
	struct timespec ts = {0, 0};
	const char *ms = getenv("BFS_NOCODB_RETRY_MS");
	long base = ms ? strtol(ms, NULL, 10) : 500;

	base *= 1L << (try - 1); /* 0.5 s, 1 s */
	ts.tv_sec = base / 1000;
	ts.tv_nsec = (base % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* What a request sends: nothing (GET), JSON text, or one file as the
 * multipart field "file". */
struct nc_send {
	const char *method; /* NULL: GET */
	const char *json;   /* body, or NULL */
	const char *file;   /* local path of the file to upload, or NULL */
	const char *fname;  /* its file name in the form */
};

bool nc_url_ours(const struct nc_http *c, const char *url)
{
	return !strncmp(url, c->base, c->base_len) &&
	       (url[c->base_len] == '/' || !url[c->base_len]);
}

static int request(struct nc_http *c, const char *url,
		   const struct nc_send *snd, nc_sink_fn sink,
		   void (*restart)(void *arg), void *arg, long *status,
		   const char *what, struct bfs_err *err)
{
	bool ours = nc_url_ours(c, url);
	char cerr[CURL_ERROR_SIZE];
	struct curl_slist *hdrs = c->hdrs, *jh = NULL;
	curl_mime *mime = NULL;
	struct req r;
	CURLcode cc = CURLE_OK;
	int try, rc = -EIO;

	*status = 0;
	if (snd && snd->json) {
		jh = curl_slist_append(c->hdrs, "Content-Type: "
						"application/json");
		/* appended to c->hdrs' list: unlink it again at the end */
		if (!jh)
			return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	for (try = 1; try <= TRIES; try++) {
		if (try > 1)
			backoff(try - 1);
		if (restart)
			restart(arg);
		memset(&r, 0, sizeof(r));
		r.h = c->h;
		r.sink = sink;
		r.arg = arg;
		cerr[0] = '\0';
		curl_easy_reset(c->h);
		curl_easy_setopt(c->h, CURLOPT_URL, url);
		curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &r);
		curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, cerr);
		curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 30L);
		/* a stalled server: under 1 KiB/s for 120 s */
		curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_TIME, 120L);
		curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
		if (snd && snd->method)
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST,
					 snd->method);
		if (snd && snd->json)
			curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, snd->json);
		if (snd && snd->file) {
			curl_mimepart *part;

			curl_mime_free(mime);
			mime = curl_mime_init(c->h);
			part = mime ? curl_mime_addpart(mime) : NULL;
			if (!part || curl_mime_name(part, "file") ||
			    curl_mime_filedata(part, snd->file) ||
			    curl_mime_filename(part, snd->fname) ||
			    curl_mime_type(part, "application/octet-stream")) {
				rc = bfs_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			curl_easy_setopt(c->h, CURLOPT_MIMEPOST, mime);
		}
		/* redirects are not followed: the token must not travel */
		if (ours)
			curl_easy_setopt(c->h, CURLOPT_HTTPHEADER,
					 jh ? jh : hdrs);
		cc = curl_easy_perform(c->h);
		if (r.sink_rc) {
			rc = r.sink_rc;
			goto out;
		}
		if (cc != CURLE_OK) {
			if (try < TRIES)
				continue;
			rc = bfs_err_set(
			    err, -EIO,
			    "%s: cannot reach NocoDB at %s: %s "
			    "(%d tries)",
			    what, c->shown,
			    cerr[0] ? cerr : curl_easy_strerror(cc), TRIES);
			goto out;
		}
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &r.status);
		*status = r.status;
		clean_body(r.ebody);
		if (r.status >= 200 && r.status <= 299) {
			rc = 0;
			goto out;
		}
		/* the token went to NocoDB only: another server's 401 or
		 * 403 (an expired signed URL) is its answer for this one
		 * object, like a 404 */
		if ((r.status == 401 || r.status == 403) && ours) {
			rc = bfs_err_set(err, -EACCES,
					 "%s: NocoDB at %s refused the API "
					 "token (HTTP %ld: %s); check "
					 "NOCODB_API_TOKEN or "
					 "--nocodb-token-file",
					 what, c->shown, r.status, r.ebody);
			goto out;
		}
		if ((r.status >= 500 || r.status == 429) && try < TRIES)
			continue;
		rc = bfs_err_set(err, r.status >= 500 ? -EIO : -ENOENT,
				 "%s: %s answered HTTP %ld%s: %s", what,
				 ours ? "NocoDB" : "the server", r.status,
				 r.status >= 500 ? " (3 tries)" : "", r.ebody);
		goto out;
	}
out:
	curl_mime_free(mime);
	if (jh) {
		/* jh is c->hdrs with one node appended: cut it off */
		struct curl_slist *l = c->hdrs;

		while (l->next && l->next->next)
			l = l->next;
		curl_slist_free_all(l->next);
		l->next = NULL;
	}
	return rc;
}

int nc_get_stream(struct nc_http *c, const char *url, nc_sink_fn sink,
		  void (*restart)(void *arg), void *arg, long *status,
		  const char *what, struct bfs_err *err)
{
	return request(c, url, NULL, sink, restart, arg, status, what, err);
}

static int json_sink(void *arg, const void *data, size_t n)
{
	struct bfs_buf *b = arg;

	if (b->len + n > JSON_MAX)
		return -EFBIG;
	return bfs_buf_append(b, data, n) ? -ENOMEM : 0;
}

static void json_restart(void *arg)
{
	((struct bfs_buf *)arg)->len = 0;
}

/* A request to base + path whose answer is JSON (an object when obj). */
static int json_call(struct nc_http *c, const char *path,
		     const struct nc_send *snd, bool obj, cJSON **out,
		     struct bfs_buf *raw, const char *what, struct bfs_err *err)
{
	struct bfs_buf body = {0};
	char *url = NULL;
	long status;
	int rc;

	*out = NULL;
	if (asprintf(&url, "%s%s", c->base, path) < 0)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = request(c, url, snd, json_sink, json_restart, &body, &status, what,
		     err);
	if (rc == -EFBIG)
		rc = bfs_err_set(err, rc, "%s: answer over %u MiB", what,
				 JSON_MAX >> 20);
	else if (rc == -ENOMEM)
		rc = bfs_err_set(err, rc, "out of memory");
	if (rc)
		goto out;
	*out = cJSON_ParseWithLength((const char *)body.data, body.len);
	if (!*out || (obj && !cJSON_IsObject(*out))) {
		cJSON_Delete(*out);
		*out = NULL;
		rc = bfs_err_set(err, -EPROTO, "%s: NocoDB's answer is not %s",
				 what, obj ? "a JSON object" : "JSON");
	}
out:
	free(url);
	if (!rc && raw) {
		*raw = body; /* handed over */
		memset(&body, 0, sizeof(body));
	}
	bfs_buf_free(&body);
	return rc;
}

int nc_get_json(struct nc_http *c, const char *path, cJSON **out,
		const char *what, struct bfs_err *err)
{
	return json_call(c, path, NULL, true, out, NULL, what, err);
}

int nc_get_json_raw(struct nc_http *c, const char *path, cJSON **out,
		    struct bfs_buf *raw, const char *what, struct bfs_err *err)
{
	return json_call(c, path, NULL, true, out, raw, what, err);
}

int nc_send_json(struct nc_http *c, const char *method, const char *path,
		 const char *body, cJSON **out, const char *what,
		 struct bfs_err *err)
{
	struct nc_send snd = {.method = method, .json = body};

	return json_call(c, path, &snd, false, out, NULL, what, err);
}

int nc_upload(struct nc_http *c, const char *path, const char *file,
	      const char *fname, cJSON **out, const char *what,
	      struct bfs_err *err)
{
	struct nc_send snd = {.method = "POST", .file = file, .fname = fname};

	return json_call(c, path, &snd, false, out, NULL, what, err);
}
