/* s3_util.c - encoding, XML scanning and error mapping for the S3 store
 * (see s3_util.h).  Everything here treats server answers as untrusted:
 * every scan is bounded by the body length, never by a NUL. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_util.h"

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	       c == '~';
}

int bfs_s3_uri_encode(struct bfs_buf *b, const char *s, size_t n,
		      bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	int rc;

	rc = bfs_buf_reserve(b, 3 * n + 1);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unreserved(c) || (keep_slash && c == '/')) {
			b->data[b->len++] = c;
		} else {
			b->data[b->len++] = '%';
			b->data[b->len++] = hex[c >> 4];
			b->data[b->len++] = hex[c & 15];
		}
	}
	b->data[b->len] = '\0';
	return 0;
}

struct enc_param {
	char *name;
	char *value;
};

static int cmp_param(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s)
{
	struct bfs_buf b = {0};

	if (bfs_s3_uri_encode(&b, s ? s : "", s ? strlen(s) : 0, false)) {
		bfs_buf_free(&b);
		return NULL;
	}
	if (!b.data)
		return strdup("");
	return (char *)b.data;
}

int bfs_s3_query_build(struct bfs_buf *b, struct bfs_s3_param *params, size_t n)
{
	struct enc_param *enc;
	size_t i;
	int rc = 0;

	enc = calloc(n ? n : 1, sizeof(*enc));
	if (!enc)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		enc[i].name = encode_dup(params[i].name);
		enc[i].value = encode_dup(params[i].value);
		if (!enc[i].name || !enc[i].value) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	/* Percent-encoding preserves the byte order of unreserved
	 * characters but not of the rest, so sort the encoded forms: that is
	 * what the signer compares. */
	qsort(enc, n, sizeof(*enc), cmp_param);
	for (i = 0; i < n && !rc; i++)
		rc = bfs_buf_printf(b, "%s%s=%s", i ? "&" : "", enc[i].name,
				    enc[i].value);
	if (!rc) {
		/* Always a C string, even without parameters. */
		rc = bfs_buf_reserve(b, 1);
		if (!rc)
			b->data[b->len] = '\0';
	}
out_free:
	for (i = 0; i < n; i++) {
		free(enc[i].name);
		free(enc[i].value);
	}
	free(enc);
	return rc;
}

/* Find "<tag" followed by '>', '/' or whitespace at or after *pos.
 * Returns the index of '<' or n if none. */
static size_t find_open(const char *xml, size_t n, size_t pos, const char *tag,
			size_t tlen)
{
	while (pos + 1 + tlen < n) {
		const char *lt = memchr(xml + pos, '<', n - pos);
		size_t i;
		char c;

		if (!lt)
			return n;
		i = (size_t)(lt - xml);
		if (i + 1 + tlen >= n)
			return n;
		c = xml[i + 1 + tlen];
		if (memcmp(xml + i + 1, tag, tlen) == 0 &&
		    (c == '>' || c == '/' || c == ' ' || c == '\t' ||
		     c == '\r' || c == '\n'))
			return i;
		pos = i + 1;
	}
	return n;
}

int bfs_s3_xml_span(const char *xml, size_t n, size_t *pos, const char *tag,
		    size_t *start, size_t *end)
{
	size_t tlen = strlen(tag), i, gt, j;

	if (*pos >= n)
		return 0;
	i = find_open(xml, n, *pos, tag, tlen);
	if (i >= n)
		return 0;
	/* End of the opening tag. */
	for (gt = i + 1 + tlen; gt < n && xml[gt] != '>'; gt++)
		if (xml[gt] == '<')
			return -EPROTO;
	if (gt >= n)
		return -EPROTO;
	if (xml[gt - 1] == '/') { /* <tag/> */
		*start = *end = gt + 1;
		*pos = gt + 1;
		return 1;
	}
	/* The closing tag: "</tag>".  Elements we look for do not nest in
	 * themselves in S3 answers, so the first one closes it. */
	for (j = gt + 1; j + 3 + tlen <= n; j++) {
		if (xml[j] == '<' && xml[j + 1] == '/' &&
		    memcmp(xml + j + 2, tag, tlen) == 0 &&
		    xml[j + 2 + tlen] == '>') {
			*start = gt + 1;
			*end = j;
			*pos = j + 3 + tlen;
			return 1;
		}
	}
	return -EPROTO;
}

static int put_utf8(char *out, size_t *o, uint32_t cp)
{
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -EPROTO;
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xc0 | cp >> 6);
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xe0 | cp >> 12);
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (char)(0xf0 | cp >> 18);
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	}
	return 0;
}

int bfs_s3_xml_unescape(const char *s, size_t n, char **out)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {
	    {"amp", '&'},  {"lt", '<'},	   {"gt", '>'},
	    {"quot", '"'}, {"apos", '\''},
	};
	size_t i = 0, o = 0;
	char *r;
	int rc = -EPROTO;

	*out = NULL;
	/* Decoded text is never longer than the source. */
	r = malloc(n + 1);
	if (!r)
		return -ENOMEM;
	while (i < n) {
		const char *semi;
		size_t elen, k;

		if (s[i] == '\0' || s[i] == '<')
			goto out_free;
		if (s[i] != '&') {
			r[o++] = s[i++];
			continue;
		}
		semi = memchr(s + i, ';', BFS_MIN(n - i, (size_t)12));
		if (!semi)
			goto out_free;
		elen = (size_t)(semi - (s + i)) - 1; /* between & and ; */
		if (elen >= 2 && s[i + 1] == '#') {
			uint64_t cp = 0;
			bool hex = s[i + 2] == 'x' || s[i + 2] == 'X';
			size_t d = hex ? 3 : 2, nd = 0;

			for (k = i + d; k < i + 1 + elen; k++, nd++) {
				char c = s[k];
				unsigned v;

				if (c >= '0' && c <= '9')
					v = (unsigned)(c - '0');
				else if (hex && c >= 'a' && c <= 'f')
					v = (unsigned)(c - 'a' + 10);
				else if (hex && c >= 'A' && c <= 'F')
					v = (unsigned)(c - 'A' + 10);
				else
					goto out_free;
				cp = cp * (hex ? 16 : 10) + v;
				if (cp > 0x10ffff)
					goto out_free;
			}
			/* A 4-byte UTF-8 sequence is at most as long as
			 * the shortest entity that can produce it. */
			if (!nd || put_utf8(r, &o, (uint32_t)cp))
				goto out_free;
		} else {
			for (k = 0; k < BFS_ARRAY_SIZE(named); k++)
				if (strlen(named[k].name) == elen &&
				    memcmp(s + i + 1, named[k].name, elen) == 0)
					break;
			if (k == BFS_ARRAY_SIZE(named))
				goto out_free;
			r[o++] = named[k].c;
		}
		i += elen + 2;
	}
	r[o] = '\0';
	*out = r;
	return 0;
out_free:
	free(r);
	return rc;
}

int bfs_s3_xml_next(const char *xml, size_t n, size_t *pos, const char *tag,
		    char **out)
{
	size_t start, end;
	int rc;

	*out = NULL;
	rc = bfs_s3_xml_span(xml, n, pos, tag, &start, &end);
	if (rc <= 0)
		return rc;
	rc = bfs_s3_xml_unescape(xml + start, end - start, out);
	return rc ? rc : 1;
}

static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

void bfs_s3_list_page_clear(struct bfs_s3_list_page *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		free(p->items[i].key);
	free(p->items);
	free(p->next_token);
	memset(p, 0, sizeof(*p));
}

int bfs_s3_parse_list(const char *xml, size_t n, struct bfs_s3_list_page *out,
		      struct bfs_err *err)
{
	size_t pos = 0, cap = 0, start, end, p2;
	char *text = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (find_open(xml, n, 0, "ListBucketResult", 16) >= n) {
		rc = bfs_err_set(err, -EPROTO,
				 "S3 list answer has no <ListBucketResult>");
		goto out_clear;
	}
	while ((rc = bfs_s3_xml_span(xml, n, &pos, "Contents", &start, &end)) ==
	       1) {
		struct bfs_s3_list_item it = {0};

		p2 = 0;
		rc = bfs_s3_xml_next(xml + start, end - start, &p2, "Key",
				     &it.key);
		if (rc != 1 || !*it.key) {
			free(it.key);
			rc = bfs_err_set(
			    err, -EPROTO,
			    "S3 list answer: <Contents> without a valid <Key>");
			goto out_clear;
		}
		p2 = 0;
		rc = bfs_s3_xml_next(xml + start, end - start, &p2, "Size",
				     &text);
		if (rc != 1 || parse_u64(text, &it.size)) {
			rc = bfs_err_set(
			    err, -EPROTO,
			    "S3 list answer: bad <Size> for key '%s'", it.key);
			free(it.key);
			goto out_clear;
		}
		free(text);
		text = NULL;
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct bfs_s3_list_item *ni;

			ni = realloc(out->items, ncap * sizeof(*ni));
			if (!ni) {
				free(it.key);
				rc = -ENOMEM;
				goto out_clear;
			}
			out->items = ni;
			cap = ncap;
		}
		out->items[out->n++] = it;
	}
	if (rc < 0) {
		rc =
		    bfs_err_set(err, rc, "S3 list answer: unclosed <Contents>");
		goto out_clear;
	}
	/* IsTruncated and NextContinuationToken follow or precede the
	 * Contents; search the whole body (escaped text has no '<'). */
	pos = 0;
	rc = bfs_s3_xml_next(xml, n, &pos, "IsTruncated", &text);
	if (rc < 0) {
		rc = bfs_err_set(err, rc, "S3 list answer: bad <IsTruncated>");
		goto out_clear;
	}
	out->truncated = rc == 1 && strcmp(text, "true") == 0;
	free(text);
	text = NULL;
	pos = 0;
	rc = bfs_s3_xml_next(xml, n, &pos, "NextContinuationToken",
			     &out->next_token);
	if (rc < 0) {
		rc = bfs_err_set(err, rc,
				 "S3 list answer: bad <NextContinuationToken>");
		goto out_clear;
	}
	if (out->truncated && (!out->next_token || !*out->next_token)) {
		rc = bfs_err_set(err, -EPROTO,
				 "S3 list answer is truncated but has no "
				 "continuation token");
		goto out_clear;
	}
	return 0;
out_clear:
	free(text);
	bfs_s3_list_page_clear(out);
	return rc == -ENOMEM ? rc : (rc < 0 ? rc : -EPROTO);
}

void bfs_s3_error_clear(struct bfs_s3_error *e)
{
	if (!e)
		return;
	free(e->code);
	free(e->message);
	free(e->region);
	memset(e, 0, sizeof(*e));
}

int bfs_s3_parse_error(const char *xml, size_t n, struct bfs_s3_error *out)
{
	static const char *const tags[] = {"Code", "Message", "Region"};
	char **slots[] = {&out->code, &out->message, &out->region};
	size_t i, pos;

	memset(out, 0, sizeof(*out));
	if (!xml || !n)
		return 0;
	for (i = 0; i < BFS_ARRAY_SIZE(tags); i++) {
		pos = 0;
		if (bfs_s3_xml_next(xml, n, &pos, tags[i], slots[i]) ==
		    -ENOMEM) {
			bfs_s3_error_clear(out);
			return -ENOMEM;
		}
	}
	/* Keep messages printable: a hostile body must not put control
	 * characters on a terminal, and must not be huge. */
	for (i = 0; i < BFS_ARRAY_SIZE(slots); i++) {
		char *s = *slots[i];

		if (!s)
			continue;
		for (; *s; s++)
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				*s = ' ';
		if (strlen(*slots[i]) > 300)
			(*slots[i])[300] = '\0';
	}
	return 0;
}

static bool code_is(const struct bfs_s3_error *e, const char *c)
{
	return e && e->code && strcmp(e->code, c) == 0;
}

int bfs_s3_map_error(long status, const struct bfs_s3_error *e,
		     const char *what, const char *bucket, const char *region,
		     bool *retry, struct bfs_err *err)
{
	const char *code = e && e->code ? e->code : NULL;
	const char *msg = e && e->message ? e->message : NULL;
	char detail[512];

	*retry = false;
	if (code)
		snprintf(detail, sizeof(detail), "%s%s%s", code,
			 msg ? ": " : "", msg ? msg : "");
	else
		snprintf(detail, sizeof(detail), "HTTP %ld", status);

	if (status >= 500 || status == 429 || code_is(e, "SlowDown") ||
	    code_is(e, "RequestTimeout") || code_is(e, "InternalError") ||
	    code_is(e, "ServiceUnavailable")) {
		*retry = true;
		return bfs_err_set(err, -EIO, "%s: S3 answered %ld (%s)", what,
				   status, detail);
	}
	if (code_is(e, "NoSuchBucket"))
		return bfs_err_set(err, -ENOENT, "bucket '%s' does not exist",
				   bucket);
	if (status == 404)
		return bfs_err_set(err, -ENOENT, "%s: no such object (%s)",
				   what, code ? code : "404 Not Found");
	if (code_is(e, "InvalidAccessKeyId") ||
	    code_is(e, "SignatureDoesNotMatch") || code_is(e, "InvalidToken") ||
	    code_is(e, "ExpiredToken") || code_is(e, "TokenRefreshRequired"))
		return bfs_err_set(
		    err, -EACCES,
		    "S3 rejected the credentials (%s): check "
		    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY%s",
		    code, strstr(code, "Token") ? "/AWS_SESSION_TOKEN" : "");
	if (code_is(e, "AuthorizationHeaderMalformed") ||
	    code_is(e, "PermanentRedirect") || status == 301 ||
	    code_is(e, "IllegalLocationConstraintException")) {
		if (e && e->region)
			return bfs_err_set(err, -EINVAL,
					   "wrong region '%s' for bucket '%s': "
					   "it is in '%s' (use --s3-region or "
					   "AWS_REGION) (%s)",
					   region, bucket, e->region, detail);
		return bfs_err_set(err, -EINVAL,
				   "wrong region '%s' or endpoint for bucket "
				   "'%s' (use --s3-region/AWS_REGION or "
				   "--s3-endpoint) (%s)",
				   region, bucket, detail);
	}
	if (status == 403)
		return bfs_err_set(err, -EACCES,
				   "%s: S3 denied access (%s); check the "
				   "credentials and the bucket policy",
				   what, detail);
	if (status == 412 || code_is(e, "PreconditionFailed"))
		return bfs_err_set(err, -EEXIST, "%s: object already exists",
				   what);
	if (status == 416 || code_is(e, "InvalidRange"))
		return bfs_err_set(err, -EINVAL, "%s: range past the end (%s)",
				   what, detail);
	if (code_is(e, "BucketAlreadyExists"))
		return bfs_err_set(
		    err, -EEXIST,
		    "bucket name '%s' is taken by another account", bucket);
	return bfs_err_set(err, -EIO, "%s: S3 answered %ld (%s)", what, status,
			   detail);
}

uint64_t bfs_s3_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms)
{
	uint64_t ceil = cap_ms, r = 0;

	if (attempt < 32 && base_ms <= (cap_ms >> attempt))
		ceil = base_ms << attempt;
	if (bfs_random(&r, sizeof(r)))
		r = (uint64_t)bfs_mono_ns();
	return ceil ? r % (ceil + 1) : 0;
}

int bfs_s3_parse_content_range(const char *s, uint64_t *start, uint64_t *end,
			       uint64_t *total)
{
	char buf[96];
	char *dash, *slash;

	if (!s || strncmp(s, "bytes ", 6) != 0 || strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s + 6);
	dash = strchr(buf, '-');
	slash = strchr(buf, '/');
	if (!dash || !slash || slash < dash)
		return -EINVAL;
	*dash = *slash = '\0';
	if (parse_u64(buf, start) || parse_u64(dash + 1, end) || *end < *start)
		return -EINVAL;
	if (strcmp(slash + 1, "*") == 0)
		*total = UINT64_MAX;
	else if (parse_u64(slash + 1, total) || *end >= *total)
		return -EINVAL;
	return 0;
}

bool bfs_s3_bucket_valid(const char *b)
{
	size_t n = strlen(b), i;

	if (n < 1 || n > 255)
		return false;
	for (i = 0; i < n; i++)
		if (!unreserved((unsigned char)b[i]) || b[i] == '~')
			return false;
	return true;
}

int bfs_s3_build_urls(const char *endpoint, const char *bucket, bool path_style,
		      char **obj_base, char **bucket_url, struct bfs_err *err)
{
	struct bfs_buf b = {0};
	const char *scheme_end, *host;
	size_t elen = strlen(endpoint);
	int rc;

	*obj_base = *bucket_url = NULL;
	while (elen && endpoint[elen - 1] == '/')
		elen--;
	scheme_end = strstr(endpoint, "://");
	if (!scheme_end || (size_t)(scheme_end - endpoint) + 3 >= elen ||
	    (strncmp(endpoint, "http://", 7) &&
	     strncmp(endpoint, "https://", 8)))
		return bfs_err_set(err, -EINVAL,
				   "invalid S3 endpoint '%s' (want "
				   "http://HOST[:PORT] or https://...)",
				   endpoint);
	host = scheme_end + 3;
	if (path_style)
		rc = bfs_buf_printf(&b, "%.*s/%s", (int)elen, endpoint, bucket);
	else
		rc = bfs_buf_printf(&b, "%.*s%s.%.*s", (int)(host - endpoint),
				    endpoint, bucket,
				    (int)(endpoint + elen - host), host);
	if (rc)
		return rc;
	*obj_base = (char *)b.data;
	/* The bucket itself: "/bucket" path-style, "/" virtual-host. */
	b = (struct bfs_buf){0};
	rc = bfs_buf_printf(&b, "%s%s", *obj_base, path_style ? "" : "/");
	if (rc) {
		free(*obj_base);
		*obj_base = NULL;
		return rc;
	}
	*bucket_url = (char *)b.data;
	return 0;
}
