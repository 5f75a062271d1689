/* util.c - see util.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/sha.h>

#include "format.h" /* BFS_BACKUP_ID_MAX */
#include "util.h"

int bfs_err_set(struct bfs_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (code > 0)
		code = -code;
	if (!err)
		return code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int bfs_err_prefix(struct bfs_err *err, int code, const char *fmt, ...)
{
	char prefix[512], old[sizeof(err->msg)];
	va_list ap;

	if (code > 0)
		code = -code;
	if (!err)
		return code;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	/* Precision-bounded so the compiler can see nothing overflows. */
	snprintf(err->msg, sizeof(err->msg), "%.500s: %.500s", prefix,
		 old[0] ? old : strerror(-code));
	return code;
}

const char *bfs_err_str(const struct bfs_err *err, int code)
{
	if (err && err->msg[0])
		return err->msg;
	return strerror(code < 0 ? -code : code);
}

int bfs_buf_reserve(struct bfs_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len - 1)
		return -ENOMEM;
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int bfs_buf_append(struct bfs_buf *b, const void *p, size_t n)
{
	int rc;

	if (n == 0)
		return 0;
	rc = bfs_buf_reserve(b, n);
	if (rc)
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int bfs_buf_printf(struct bfs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	rc = bfs_buf_reserve(b, (size_t)n + 1);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void bfs_buf_free(struct bfs_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* The key's value is a malloc'ed struct bfs_buf (NULL: none kept). */
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static pthread_key_t scratch_key;
static int scratch_key_rc;

static void scratch_destroy(void *p)
{
	bfs_buf_free(p);
	free(p);
}

static void scratch_key_init(void)
{
	scratch_key_rc = pthread_key_create(&scratch_key, scratch_destroy);
}

void bfs_scratch_take(struct bfs_buf *b)
{
	struct bfs_buf *kept;

	*b = (struct bfs_buf){0};
	if (pthread_once(&scratch_once, scratch_key_init) || scratch_key_rc)
		return;
	kept = pthread_getspecific(scratch_key);
	if (!kept || !kept->data)
		return;
	*b = *kept;
	b->len = 0;
	*kept = (struct bfs_buf){0}; /* taken: a nested take gets its own */
}

void bfs_scratch_give(struct bfs_buf *b, size_t keep_max)
{
	struct bfs_buf *kept = NULL;

	if (b->data && b->cap <= keep_max &&
	    !pthread_once(&scratch_once, scratch_key_init) && !scratch_key_rc) {
		kept = pthread_getspecific(scratch_key);
		if (!kept) {
			kept = calloc(1, sizeof(*kept));
			if (kept && pthread_setspecific(scratch_key, kept)) {
				free(kept);
				kept = NULL;
			}
		}
	}
	if (kept && !kept->data) {
		*kept = *b;
		*b = (struct bfs_buf){0};
		return;
	}
	bfs_buf_free(b);
}

int bfs_strv_add(struct bfs_strv *l, const char *s)
{
	char *d;

	if (l->n + 2 > l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 32;
		char **nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	d = strdup(s);
	if (!d)
		return -ENOMEM;
	l->v[l->n++] = d;
	l->v[l->n] = NULL;
	return 0;
}

static int strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void bfs_strv_sort(struct bfs_strv *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), strv_cmp);
}

bool bfs_strv_has(const struct bfs_strv *l, const char *s)
{
	return l->n && bsearch(&s, l->v, l->n, sizeof(*l->v), strv_cmp);
}

void bfs_strv_free(struct bfs_strv *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void bfs_hex(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int bfs_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bfs_unhex(uint8_t *out, const char *in, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi = bfs_hexval(in[2 * i]), lo;

		if (hi < 0)
			return -EINVAL;
		lo = bfs_hexval(in[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int bfs_b64_encode(const uint8_t *in, size_t n, char **out)
{
	size_t olen = (n + 2) / 3 * 4, i, j = 0;
	char *o;

	if (n > SIZE_MAX / 2)
		return -ENOMEM;
	o = malloc(olen + 1);
	if (!o)
		return -ENOMEM;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];
		o[j++] = b64chars[v >> 18];
		o[j++] = b64chars[(v >> 12) & 63];
		o[j++] = b64chars[(v >> 6) & 63];
		o[j++] = b64chars[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		o[j++] = b64chars[v >> 18];
		o[j++] = b64chars[(v >> 12) & 63];
		o[j++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		o[j++] = '=';
	}
	o[j] = '\0';
	*out = o;
	return 0;
}

static int b64val(char c)
{
	const char *p;

	if (!c)
		return -1;
	p = strchr(b64chars, c);
	return p ? (int)(p - b64chars) : -1;
}

int bfs_b64_decode(const char *in, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(in), i, j = 0;
	uint8_t *o;

	if (n % 4)
		return -EINVAL;
	o = malloc(n / 4 * 3 + 1);
	if (!o)
		return -ENOMEM;
	for (i = 0; i < n; i += 4) {
		int a = b64val(in[i]), b = b64val(in[i + 1]);
		int c = in[i + 2] == '=' ? -2 : b64val(in[i + 2]);
		int d = in[i + 3] == '=' ? -2 : b64val(in[i + 3]);
		bool last = i + 4 == n;

		if (a < 0 || b < 0 || c == -1 || d == -1 ||
		    (c == -2 && d != -2) || ((c == -2 || d == -2) && !last))
			goto bad;
		o[j++] = (uint8_t)(a << 2 | b >> 4);
		if (c >= 0)
			o[j++] = (uint8_t)((b & 15) << 4 | c >> 2);
		if (d >= 0)
			o[j++] = (uint8_t)((c & 3) << 6 | d);
	}
	o[j] = 0;
	*out = o;
	*outlen = j;
	return 0;
bad:
	free(o);
	return -EINVAL;
}

void bfs_sha256(uint8_t out[BFS_HASH_LEN], const void *data, size_t n)
{
	SHA256(data, n, out);
}

/* Length of the UTF-8 sequence at s[0..n) and its code point, or 0 if
 * it is not a valid (shortest-form, non-surrogate) sequence. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cpo)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80) {
		*cpo = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpo = cp;
	return len;
}

/* Code points a terminal may act on: C0, DEL, C1, bidi overrides. */
static bool term_active(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The escape of one unsafe unit into e (>= 8 bytes): cp when len > 0,
 * else the single invalid byte b.  Returns its length. */
static int term_escape(char *e, uint32_t cp, size_t len, unsigned char b)
{
	static const char named[] = "\a\b\t\n\v\f\r\033";
	static const char letter[] = "abtnvfre";
	const char *p;

	if (len == 0)
		return snprintf(e, 8, "\\x%02x", b);
	if (cp > 0 && cp < 0x20 &&
	    (p = memchr(named, (int)cp, sizeof(named) - 1)))
		return snprintf(e, 8, "\\%c", letter[p - named]);
	if (cp < 0x80)
		return snprintf(e, 8, "\\x%02x", (unsigned)cp);
	return snprintf(e, 8, "\\u%04x", (unsigned)cp);
}

bool bfs_term_safe(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, len;
	uint32_t cp;

	while (i < n) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			i++;
			continue;
		}
		len = utf8_next(s + i, n - i, &cp);
		if (len == 0 || term_active(cp))
			return false;
		i += len;
	}
	return true;
}

int bfs_term_quote(struct bfs_buf *out, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0, len;
	uint32_t cp;
	char e[8];
	int rc;

	/* room for the plain case and the NUL in one go */
	rc = bfs_buf_reserve(out, n + 1);
	if (rc)
		return rc;
	while (i < n) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			i++;
			continue;
		}
		len = utf8_next(s + i, n - i, &cp);
		if (len && !term_active(cp)) {
			i += len;
			continue;
		}
		rc = bfs_buf_append(out, s + run, i - run);
		if (rc)
			return rc;
		rc = bfs_buf_append(out, e,
				    (size_t)term_escape(e, cp, len, s[i]));
		if (rc)
			return rc;
		i += len ? len : 1;
		run = i;
	}
	rc = bfs_buf_append(out, s + run, n - run);
	if (rc == 0)
		rc = bfs_buf_reserve(out, 1);
	if (rc == 0)
		out->data[out->len] = '\0';
	return rc;
}

char *bfs_term_quote_to(char *out, size_t outsz, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, o = 0, n = strlen(str), len;
	uint32_t cp;
	char e[8];
	int k;

	while (i < n) {
		len = utf8_next(s + i, n - i, &cp);
		if (len && !term_active(cp)) {
			if (o + len >= outsz)
				break;
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
			continue;
		}
		k = term_escape(e, cp, len, s[i]);
		if (o + (size_t)k >= outsz)
			break;
		memcpy(out + o, e, (size_t)k);
		o += (size_t)k;
		i += len ? len : 1;
	}
	out[o] = '\0';
	return out;
}

bool bfs_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, len;
	uint32_t cp;

	while (i < n) {
		if (s[i] == 0)
			return false;
		len = utf8_next(s + i, n - i, &cp);
		if (!len)
			return false;
		i += len;
	}
	return true;
}

int64_t bfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bfs_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bfs_fmt_bytes(char *out, size_t outsz, uint64_t n)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < BFS_ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outsz, "%llu B", (unsigned long long)n);
	else
		snprintf(out, outsz, "%.1f %s", v, units[u]);
}

int bfs_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	unsigned shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'b' || *end == 'B'))
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

bool bfs_backup_id_valid(const char *id)
{
	size_t n, i;

	if (!id)
		return false;
	n = strlen(id);
	if (n == 0 || n > BFS_BACKUP_ID_MAX || strcmp(id, ".") == 0 ||
	    strcmp(id, "..") == 0 || strcmp(id, "latest") == 0)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

int bfs_write_full(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t bfs_read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

ssize_t bfs_pread_full(int fd, void *buf, size_t n, off_t off)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, p + got, n - got, off + (off_t)got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

const char *bfs_file_type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "regular file";
	case S_IFDIR:
		return "directory";
	case S_IFIFO:
		return "FIFO";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "character device";
	case S_IFBLK:
		return "block device";
	case S_IFLNK:
		return "symbolic link";
	default:
		return "file of unknown type";
	}
}

int bfs_mkdir_parents(const char *path, mode_t mode)
{
	char *p = strdup(path), *s;
	int rc = 0;

	if (!p)
		return -ENOMEM;
	s = strrchr(p, '/');
	if (!s || s == p)
		goto out;
	*s = '\0';
	for (s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				rc = -errno;
				goto out;
			}
			*s = c;
			if (!c)
				break;
		}
	}
out:
	free(p);
	return rc;
}

int bfs_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

bool bfs_in_path(const char *prog)
{
	const char *path = getenv("PATH"), *c, *end;
	char buf[4096];

	if (!path)
		path = "/usr/bin:/bin";
	for (c = path; *c; c = *end ? end + 1 : end) {
		end = strchr(c, ':');
		if (!end)
			end = c + strlen(c);
		if (end == c)
			continue;
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - c), c, prog);
		if (!access(buf, X_OK))
			return true;
	}
	return false;
}

/* ---- JSON -------------------------------------------------------------- */

static bool dup_key(const cJSON *o, char *dup, size_t dupsz, int depth)
{
	const cJSON *a, *b;

	if (depth > 64 || (!cJSON_IsObject(o) && !cJSON_IsArray(o)))
		return false;
	for (a = o->child; a; a = a->next) {
		if (cJSON_IsObject(o) && a->string)
			for (b = a->next; b; b = b->next)
				if (b->string &&
				    !strcmp(a->string, b->string)) {
					snprintf(dup, dupsz, "%s", a->string);
					return true;
				}
		if (dup_key(a, dup, dupsz, depth + 1)) {
			if (cJSON_IsObject(o) && a->string) {
				char inner[256];

				snprintf(inner, sizeof(inner), "%s", dup);
				snprintf(dup, dupsz, "%.120s.%.120s", a->string,
					 inner);
			}
			return true;
		}
	}
	return false;
}

bool bfs_json_duplicate_key(const cJSON *o, char *dup, size_t dupsz)
{
	return dup_key(o, dup, dupsz, 0);
}

char *bfs_url_shown(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *at = NULL, *colon;
	char *out;

	if (!auth)
		return strdup(url);
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (!colon)
		return strdup(url);
	if (asprintf(&out, "%.*s***%s", (int)(colon + 1 - url), url, at) < 0)
		return NULL;
	return out;
}
