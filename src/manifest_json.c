/* manifest_json.c - the JSON pieces of manifests: string output for the
 * writer, and the reader's one-pass parser.
 *
 * The parser replaces "hand pre-scan + cJSON": one pass over a line
 * checks the grammar, UTF-8, control characters and \u0000, decodes the
 * strings in place and records every value in a flat node array that is
 * reused from line to line (no allocation per value).  Numbers keep their
 * token text, so 64-bit integers are read exactly (a double cannot hold
 * nanosecond times).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "manifest_int.h"

/* ---- output ---------------------------------------------------------------
 */

/* Length of the UTF-8 sequence at s[0..n) if it is valid, else 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;

	if (s[0] < 0x80)
		return s[0] ? 1 : 0;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4;
	else
		return 0;
	if (len > n || !bfs_utf8_valid((const char *)s, len))
		return 0;
	return len;
}

/*
 * Append s[0..n) as a JSON string.  Control characters are escaped; a
 * byte that does not start a valid UTF-8 sequence (and NUL) becomes
 * U+FFFD, so the output is always valid JSON (callers that need the
 * bytes exactly check bfs_utf8_valid first and use base64 otherwise).
 */
int bfs_json_str(struct bfs_buf *b, const char *str, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	int rc;

	/* worst case: every byte becomes \u00XX (6 bytes) */
	if (n > (SIZE_MAX - 2) / 6)
		return -ENOMEM;
	rc = bfs_buf_reserve(b, n * 6 + 2);
	if (rc)
		return rc;
	b->data[b->len++] = '"';
	while (i < n) {
		unsigned char c = s[i];
		size_t k;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			b->data[b->len++] = c;
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			b->data[b->len++] = '\\';
			b->data[b->len++] = c;
			i++;
			continue;
		}
		if (c == '\n' || c == '\t' || c == '\r') {
			b->data[b->len++] = '\\';
			b->data[b->len++] = c == '\n'	? 'n'
					    : c == '\t' ? 't'
							: 'r';
			i++;
			continue;
		}
		if (c < 0x20 && c != 0) {
			memcpy(b->data + b->len, "\\u00", 4);
			b->data[b->len + 4] = hexd[c >> 4];
			b->data[b->len + 5] = hexd[c & 15];
			b->len += 6;
			i++;
			continue;
		}
		k = utf8_seq(s + i, n - i);
		if (k == 0) {
			/* U+FFFD, 3 bytes: fits in the 6 reserved */
			memcpy(b->data + b->len, "\xef\xbf\xbd", 3);
			b->len += 3;
			i++;
			continue;
		}
		memcpy(b->data + b->len, s + i, k);
		b->len += k;
		i += k;
	}
	b->data[b->len++] = '"';
	return 0;
}

int bfs_json_key(struct bfs_buf *b, const char *key, size_t klen, size_t extra)
{
	int rc = bfs_buf_reserve(b, klen + 4 + extra);

	if (rc)
		return rc;
	b->data[b->len++] = ',';
	b->data[b->len++] = '"';
	memcpy(b->data + b->len, key, klen);
	b->len += klen;
	b->data[b->len++] = '"';
	b->data[b->len++] = ':';
	return 0;
}

int bfs_json_key_str(struct bfs_buf *b, const char *key, const char *s,
		     size_t n)
{
	int rc = bfs_json_key(b, key, strlen(key), 0);

	return rc ? rc : bfs_json_str(b, s, n);
}

int bfs_json_key_bytes(struct bfs_buf *b, const char *key, const char *keyb,
		       const char *s, size_t n)
{
	char *enc;
	int rc;

	if (bfs_utf8_valid(s, n))
		return bfs_json_key_str(b, key, s, n);
	rc = bfs_b64_encode((const uint8_t *)s, n, &enc);
	if (rc)
		return rc;
	rc = bfs_buf_printf(b, ",\"%s\":\"%s\"", keyb, enc);
	free(enc);
	return rc;
}

/* ---- input ------------------------------------------------------------- */

/* Parser state of one line. */
struct jp {
	struct bfs_jdoc *d;
	char *s;
	size_t n, i;
	const char *why;
};

void bfs_jdoc_free(struct bfs_jdoc *d)
{
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static int fail(struct jp *p, const char *why)
{
	p->why = why;
	return -EUCLEAN;
}

static void skip_ws(struct jp *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
			       p->s[p->i] == '\r' || p->s[p->i] == '\n'))
		p->i++;
}

/* A new node (index) or -ENOMEM. */
static int64_t new_node(struct jp *p, uint8_t type)
{
	struct bfs_jdoc *d = p->d;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		struct bfs_jnode *v;

		if (cap > UINT32_MAX || cap > SIZE_MAX / sizeof(*v))
			return -ENOMEM;
		v = realloc(d->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	memset(&d->v[d->n], 0, sizeof(d->v[d->n]));
	d->v[d->n].type = type;
	return (int64_t)d->n++;
}

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int k = 0; k < 4; k++) {
		char c = s[k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Encode cp as UTF-8 at out; returns the length. */
static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One escape at s[i] == '\\': decode it to s[*o..]; advance i past it. */
static int unescape(struct jp *p, size_t *o)
{
	char *s = p->s;
	uint32_t cp, lo;
	char c;

	if (p->n - p->i < 2)
		return fail(p, "unterminated string");
	c = s[p->i + 1];
	p->i += 2;
	switch (c) {
	case '"':
	case '\\':
	case '/':
		s[(*o)++] = c;
		return 0;
	case 'b':
		s[(*o)++] = '\b';
		return 0;
	case 'f':
		s[(*o)++] = '\f';
		return 0;
	case 'n':
		s[(*o)++] = '\n';
		return 0;
	case 'r':
		s[(*o)++] = '\r';
		return 0;
	case 't':
		s[(*o)++] = '\t';
		return 0;
	case 'u':
		break;
	default:
		return fail(p, "bad escape in a string");
	}
	if (p->n - p->i < 4 || hex4(s + p->i, &cp))
		return fail(p, "bad \\u escape");
	p->i += 4;
	if (cp == 0)
		return fail(p, "\\u0000 in a string");
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(p, "lone surrogate in a string");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (p->n - p->i < 6 || s[p->i] != '\\' || s[p->i + 1] != 'u' ||
		    hex4(s + p->i + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return fail(p, "lone surrogate in a string");
		p->i += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	/* the escape is 6 or 12 bytes, its UTF-8 at most 4: room enough */
	*o += put_utf8(s + *o, cp);
	return 0;
}

/* A string at s[i] == '"': decoded in place, NUL-terminated.  *off and
 * *len receive the decoded bytes. */
static int parse_string(struct jp *p, uint32_t *off, uint32_t *len)
{
	const unsigned char *u = (const unsigned char *)p->s;
	size_t o, start;
	int rc;

	p->i++;
	start = o = p->i;
	for (;;) {
		size_t run = p->i;

		/* the common case: plain ASCII, no copy while nothing was
		 * unescaped yet */
		while (p->i < p->n && u[p->i] >= 0x20 && u[p->i] < 0x80 &&
		       u[p->i] != '"' && u[p->i] != '\\')
			p->i++;
		if (o != run)
			memmove(p->s + o, p->s + run, p->i - run);
		o += p->i - run;
		if (p->i >= p->n)
			return fail(p, "unterminated string");
		if (u[p->i] == '"')
			break;
		if (u[p->i] == '\\') {
			rc = unescape(p, &o);
			if (rc)
				return rc;
			continue;
		}
		if (u[p->i] < 0x20)
			return fail(p, "control character in a string");
		/* non-ASCII: one valid UTF-8 sequence */
		{
			size_t k = utf8_seq(u + p->i, p->n - p->i);

			if (!k)
				return fail(p, "not valid UTF-8");
			if (o != p->i)
				memmove(p->s + o, p->s + p->i, k);
			o += k;
			p->i += k;
		}
	}
	p->s[o] = '\0'; /* o <= i: at most the closing quote */
	p->i++;
	*off = (uint32_t)start;
	*len = (uint32_t)(o - start);
	return 0;
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A number token, RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(struct jp *p, uint32_t *off, uint32_t *len)
{
	const char *s = p->s;
	size_t i = p->i, n = p->n;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n || !digit(s[i]))
		return fail(p, "bad number");
	if (s[i] == '0') {
		i++;
	} else {
		while (i < n && digit(s[i]))
			i++;
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !digit(s[i]))
			return fail(p, "bad number");
		while (i < n && digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !digit(s[i]))
			return fail(p, "bad number");
		while (i < n && digit(s[i]))
			i++;
	}
	/* "0123", "1-2": a token must end where a number can */
	if (i < n && (digit(s[i]) || s[i] == '-' || s[i] == '+' ||
		      s[i] == '.' || s[i] == 'e' || s[i] == 'E'))
		return fail(p, "bad number");
	*off = (uint32_t)p->i;
	*len = (uint32_t)(i - p->i);
	p->i = i;
	return 0;
}

static int parse_value(struct jp *p, int depth, uint32_t *out);

/* An array or object at s[i]; node x already created. */
static int parse_container(struct jp *p, int depth, uint32_t x, bool obj)
{
	char close = obj ? '}' : ']';
	uint32_t last = 0, kid;
	int rc;

	if (depth >= BFS_MANIFEST_MAX_DEPTH)
		return fail(p, "nested too deeply");
	p->d->v[x].off = (uint32_t)p->i;
	p->i++;
	skip_ws(p);
	if (p->i < p->n && p->s[p->i] == close)
		goto out_close;
	for (;;) {
		uint32_t koff = 0, klen = 0;

		if (obj) {
			skip_ws(p);
			if (p->i >= p->n || p->s[p->i] != '"')
				return fail(p, "expected a member name");
			rc = parse_string(p, &koff, &klen);
			if (rc)
				return rc;
			skip_ws(p);
			if (p->i >= p->n || p->s[p->i] != ':')
				return fail(p, "expected ':'");
			p->i++;
		}
		rc = parse_value(p, depth + 1, &kid);
		if (rc)
			return rc;
		p->d->v[kid].key = koff;
		p->d->v[kid].klen = klen;
		if (last)
			p->d->v[last].next = kid;
		else
			p->d->v[x].child = kid;
		last = kid;
		skip_ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == close)
			break;
		return fail(p, obj ? "expected ',' or '}'"
				   : "expected ',' or ']'");
	}
out_close:
	p->i++;
	p->d->v[x].len = (uint32_t)(p->i - p->d->v[x].off);
	return 0;
}

static int parse_value(struct jp *p, int depth, uint32_t *out)
{
	int64_t x;
	char c;
	int rc;

	skip_ws(p);
	if (p->i >= p->n)
		return fail(p, "unexpected end of line");
	c = p->s[p->i];
	switch (c) {
	case '{':
		x = new_node(p, BFS_J_OBJ);
		break;
	case '[':
		x = new_node(p, BFS_J_ARR);
		break;
	case '"':
		x = new_node(p, BFS_J_STR);
		break;
	case 't':
		x = new_node(p, BFS_J_TRUE);
		break;
	case 'f':
		x = new_node(p, BFS_J_FALSE);
		break;
	case 'n':
		x = new_node(p, BFS_J_NULL);
		break;
	default:
		if (c != '-' && !digit(c))
			return fail(p, "unexpected character");
		x = new_node(p, BFS_J_NUM);
		break;
	}
	if (x < 0)
		return (int)x;
	*out = (uint32_t)x;
	switch (c) {
	case '{':
	case '[':
		return parse_container(p, depth, (uint32_t)x, c == '{');
	case '"':
		return parse_string(p, &p->d->v[x].off, &p->d->v[x].len);
	case 't':
	case 'f':
	case 'n': {
		const char *w = c == 't' ? "true" : c == 'f' ? "false" : "null";
		size_t wl = strlen(w);

		if (p->n - p->i < wl || memcmp(p->s + p->i, w, wl) != 0)
			return fail(p, "unexpected character");
		p->d->v[x].off = (uint32_t)p->i;
		p->d->v[x].len = (uint32_t)wl;
		p->i += wl;
		return 0;
	}
	default:
		rc = parse_number(p, &p->d->v[x].off, &p->d->v[x].len);
		return rc;
	}
}

int bfs_jdoc_parse(struct bfs_jdoc *d, char *s, size_t n, size_t *end,
		   const char **why, size_t *at)
{
	struct jp p = {.d = d, .s = s, .n = n, .i = 0, .why = ""};
	uint32_t root;
	int rc;

	d->n = 0;
	d->s = s;
	*why = "";
	*at = 0;
	if (n > UINT32_MAX - 1) {
		*why = "line too long";
		return -EUCLEAN;
	}
	/* node 0 is the root: 0 can then mean "no sibling / child" */
	rc = parse_value(&p, 0, &root);
	if (rc == -EUCLEAN) {
		*why = p.why;
		*at = p.i;
	}
	if (!rc)
		*end = p.i;
	return rc;
}

const char *bfs_jdoc_members(const struct bfs_jdoc *d,
			     const struct bfs_jnode *obj,
			     const char *const *keys,
			     const struct bfs_jnode **slots)
{
	const struct bfs_jnode *it;
	size_t i;

	for (i = 0; keys[i]; i++)
		slots[i] = NULL;
	for (it = bfs_jdoc_node(d, obj->child); it;
	     it = bfs_jdoc_node(d, it->next)) {
		const char *name = d->s + it->key;

		for (i = 0; keys[i]; i++) {
			if (name[0] != keys[i][0] || strcmp(name, keys[i]) != 0)
				continue;
			if (slots[i])
				return keys[i];
			slots[i] = it;
			break;
		}
	}
	return NULL;
}

/* Parse an integer token strictly: -?(0|[1-9][0-9]*).  Returns false on
 * anything else or overflow of the 64-bit magnitude. */
static bool scan_int(const char *s, size_t n, bool *neg, uint64_t *mag)
{
	size_t i = 0;
	uint64_t v = 0;

	*neg = false;
	if (n && s[0] == '-') {
		*neg = true;
		i++;
	}
	if (i >= n || (s[i] == '0' && n - i > 1))
		return false;
	for (; i < n; i++) {
		unsigned dg = (unsigned)(s[i] - '0');

		if (dg > 9 || v > (UINT64_MAX - dg) / 10)
			return false;
		v = v * 10 + dg;
	}
	*mag = v;
	return true;
}

bool bfs_jdoc_u64(const struct bfs_jdoc *d, const struct bfs_jnode *x,
		  uint64_t max, uint64_t *out)
{
	uint64_t v;
	bool neg;

	if (!x || x->type != BFS_J_NUM ||
	    !scan_int(d->s + x->off, x->len, &neg, &v))
		return false;
	if ((neg && v) || v > max)
		return false;
	*out = v;
	return true;
}

bool bfs_jdoc_i64(const struct bfs_jdoc *d, const struct bfs_jnode *x,
		  int64_t *out)
{
	uint64_t v;
	bool neg;

	if (!x || x->type != BFS_J_NUM ||
	    !scan_int(d->s + x->off, x->len, &neg, &v))
		return false;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = v ? -(int64_t)(v - 1) - 1 : 0;
	} else {
		if (v > INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}
