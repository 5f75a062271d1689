/* notify_redact.c - the secret redactor and URL origins (see notify.h).
 *
 * A secret can leak in more spellings than its own: percent-encoded in a
 * URL or form, JSON-escaped inside a payload, base64 inside an
 * Authorization header or an AUTH exchange echoed in a log.  Each secret
 * therefore becomes a handful of patterns; bfs_redact() replaces the
 * longest matching pattern at each position by "***".
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

#define MIN_SECRET 4 /* shorter values are not redacted (see notify.h) */

struct pattern {
	char *s;
	size_t len;
};

struct bfs_redactor {
	struct pattern *pats;
	size_t n, cap;
};

struct bfs_redactor *bfs_redactor_new(const char *const *secrets, size_t n)
{
	struct bfs_redactor *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (bfs_redactor_add(r, secrets[i]) < 0) {
			bfs_redactor_free(r);
			return NULL;
		}
	}
	return r;
}

void bfs_redactor_free(struct bfs_redactor *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->pats[i].s);
	free(r->pats);
	free(r);
}

/* Insert p (taking ownership) keeping pats sorted by length, longest
 * first; drops duplicates and too-short patterns. */
static int add_pattern(struct bfs_redactor *r, char *p, size_t len)
{
	size_t i;

	if (len < MIN_SECRET) {
		free(p);
		return 0;
	}
	for (i = 0; i < r->n; i++) {
		if (r->pats[i].len == len && !memcmp(r->pats[i].s, p, len)) {
			free(p);
			return 0;
		}
	}
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 16;
		struct pattern *np = realloc(r->pats, ncap * sizeof(*np));

		if (!np) {
			free(p);
			return -ENOMEM;
		}
		r->pats = np;
		r->cap = ncap;
	}
	for (i = r->n; i > 0 && r->pats[i - 1].len < len; i--)
		r->pats[i] = r->pats[i - 1];
	r->pats[i].s = p;
	r->pats[i].len = len;
	r->n++;
	return 0;
}

static int add_copy(struct bfs_redactor *r, const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p, s, len);
	p[len] = '\0';
	return add_pattern(r, p, len);
}

/* Percent-encode everything but RFC 3986 unreserved characters. */
static int add_urlencoded(struct bfs_redactor *r, const char *s, bool upper)
{
	const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t n = strlen(s), j = 0;
	char *p = malloc(3 * n + 1);

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			p[j++] = (char)c;
		} else {
			p[j++] = '%';
			p[j++] = hex[c >> 4];
			p[j++] = hex[c & 15];
		}
	}
	p[j] = '\0';
	return add_pattern(r, p, j);
}

/* The JSON string escaping cJSON applies. */
static int add_json_escaped(struct bfs_redactor *r, const char *s)
{
	size_t n = strlen(s), j = 0;
	char *p = malloc(6 * n + 1);

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"':
			p[j++] = '\\';
			p[j++] = '"';
			break;
		case '\\':
			p[j++] = '\\';
			p[j++] = '\\';
			break;
		case '\b':
			p[j++] = '\\';
			p[j++] = 'b';
			break;
		case '\f':
			p[j++] = '\\';
			p[j++] = 'f';
			break;
		case '\n':
			p[j++] = '\\';
			p[j++] = 'n';
			break;
		case '\r':
			p[j++] = '\\';
			p[j++] = 'r';
			break;
		case '\t':
			p[j++] = '\\';
			p[j++] = 't';
			break;
		default:
			if (c < 0x20) {
				snprintf(p + j, 7, "\\u%04x", c);
				j += 6;
			} else {
				p[j++] = (char)c;
			}
		}
	}
	p[j] = '\0';
	return add_pattern(r, p, j);
}

/* Base64 of the secret at each of the three byte alignments it can have
 * inside a longer encoded text: the characters that depend on secret bits
 * only.  Characters k with 6k >= 8*pad and 6k + 6 <= 8*(pad + n). */
static int add_base64(struct bfs_redactor *r, const char *s)
{
	size_t n = strlen(s);
	int rc = 0;

	for (size_t pad = 0; pad < 3 && rc == 0; pad++) {
		uint8_t *in = malloc(n + pad);
		char *enc = NULL;
		size_t first, last;

		if (!in)
			return -ENOMEM;
		memset(in, 0, pad);
		memcpy(in + pad, s, n);
		rc = bfs_b64_encode(in, n + pad, &enc);
		free(in);
		if (rc < 0)
			return rc;
		first = (8 * pad + 5) / 6;
		last = (8 * (pad + n) - 6) / 6; /* inclusive; n >= MIN_SECRET */
		if (last >= first)
			rc = add_copy(r, enc + first, last - first + 1);
		free(enc);
	}
	return rc;
}

int bfs_redactor_add(struct bfs_redactor *r, const char *secret)
{
	int rc;

	if (!secret || strlen(secret) < MIN_SECRET)
		return 0;
	rc = add_copy(r, secret, strlen(secret));
	if (rc == 0)
		rc = add_urlencoded(r, secret, true);
	if (rc == 0)
		rc = add_urlencoded(r, secret, false);
	if (rc == 0)
		rc = add_json_escaped(r, secret);
	if (rc == 0)
		rc = add_base64(r, secret);
	return rc;
}

char *bfs_redact(const struct bfs_redactor *r, const char *s)
{
	struct bfs_buf b = {0};
	size_t n, i = 0, plain = 0;

	if (!s)
		return NULL;
	n = strlen(s);
	if (bfs_buf_reserve(&b, n + 1) < 0)
		return NULL;
	while (r && i < n) {
		size_t k;

		for (k = 0; k < r->n; k++) {
			const struct pattern *p = &r->pats[k];

			if (p->len <= n - i && s[i] == p->s[0] &&
			    !memcmp(s + i, p->s, p->len))
				break;
		}
		if (k == r->n) {
			i++;
			continue;
		}
		if (bfs_buf_append(&b, s + plain, i - plain) < 0 ||
		    bfs_buf_append(&b, "***", 3) < 0)
			goto out_nomem;
		i += r->pats[k].len;
		plain = i;
	}
	if (bfs_buf_append(&b, s + plain, n - plain) < 0 ||
	    bfs_buf_append(&b, "", 1) < 0)
		goto out_nomem;
	return (char *)b.data;
out_nomem:
	bfs_buf_free(&b);
	return NULL;
}

void bfs_url_origin(const char *url, char *out, size_t outsz)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;

	if (!u || !url ||
	    curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0)) {
		snprintf(out, outsz, "(bad url)");
		goto out_free;
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	snprintf(out, outsz, "%s://%s%s%s", scheme, host, port ? ":" : "",
		 port ? port : "");
out_free:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}
