/* manifest.c - streaming writer and strict reader of manifests:
 * zstd-compressed JSON Lines, see manifest.h and doc/FORMAT.md.
 *
 * Numbers: cJSON keeps numbers as doubles, which cannot hold every int64
 * (nanosecond timestamps are ~1.8e18 > 2^53).  We write integers
 * ourselves and, when reading, a pre-pass over each line records the text
 * of every number token in document order; after cJSON has parsed the
 * line, a pre-order walk of the tree (which is document order) stores in
 * each number node's valueint the index of its token, and integer fields
 * are read from that text with a strict scanner.  The same pre-pass
 * rejects what cJSON would let through: invalid UTF-8, raw control
 * characters in strings, and \u0000.
 */
#include "config.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "chunker.h"
#include "manifest.h"
#include "pack.h"


/* ---- shared helpers ---------------------------------------------------- */

static bool type_valid(int t)
{
	switch (t) {
	case BFS_T_FILE: case BFS_T_DIR: case BFS_T_SYMLINK: case BFS_T_FIFO:
	case BFS_T_CHR: case BFS_T_BLK: case BFS_T_SOCK:
		return true;
	default:
		return false;
	}
}


/*
 * True if p[0..n) is a path as manifests carry it: non-empty, relative,
 * components separated by single '/', none empty, "." or "..", no NUL.
 * Thread-safe.
 */
bool bfs_manifest_path_valid(const char *p, size_t n)
{
	size_t i, start = 0;

	if (!p || n == 0)
		return false;
	for (i = 0; i <= n; i++) {
		size_t clen;

		if (i < n && p[i] == '\0')
			return false;
		if (i < n && p[i] != '/')
			continue;
		clen = i - start;
		if (clen == 0)
			return false;
		if (clen == 1 && p[start] == '.')
			return false;
		if (clen == 2 && p[start] == '.' && p[start + 1] == '.')
			return false;
		start = i + 1;
	}
	return true;
}

/* Frees the strings of an entry the caller filled (not one returned by a
 * reader, whose strings are borrowed) and zeroes it.  NULL ok. */
void bfs_entry_clear(struct bfs_entry *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->user);
	free(e->group);
	free(e->target);
	free(e->link);
	free(e->error);
	memset(e, 0, sizeof(*e));
}

/* Frees what a header owns and zeroes it.  NULL ok.  Do not call it on
 * the reader's header (borrowed). */
void bfs_manifest_header_clear(struct bfs_manifest_header *h)
{
	if (!h)
		return;
	free(h->id);
	free(h->host);
	if (h->tags) {
		for (char **t = h->tags; *t; t++)
			free(*t);
		free(h->tags);
	}
	free(h->sources_json);
	memset(h, 0, sizeof(*h));
}

/* ---- JSON output -------------------------------------------------------- */

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
static int jstr(struct bfs_buf *b, const char *str, size_t n)
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
			b->data[b->len++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
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

/* ,"key":"string" (lossy, see jstr) */
static int jkey_str(struct bfs_buf *b, const char *key, const char *s,
		    size_t n)
{
	int rc = bfs_buf_printf(b, ",\"%s\":", key);

	return rc ? rc : jstr(b, s, n);
}

/* ,"key":"..." or ,"keyb":"<base64>" when s is not valid UTF-8. */
static int jkey_bytes(struct bfs_buf *b, const char *key, const char *keyb,
		      const char *s, size_t n)
{
	char *enc;
	int rc;

	if (bfs_utf8_valid(s, n))
		return jkey_str(b, key, s, n);
	rc = bfs_b64_encode((const uint8_t *)s, n, &enc);
	if (rc)
		return rc;
	rc = bfs_buf_printf(b, ",\"%s\":\"%s\"", keyb, enc);
	free(enc);
	return rc;
}

/* ---- line scanner (shared by writer checks and reader) ----------------- */

struct span {
	size_t off, len;
};

struct jscan {
	struct span *nums;      /* number tokens, document order */
	size_t nnums, capnums;
	struct span *top;       /* values of the top-level object's members */
	size_t ntop, captop;
};

static void jscan_free(struct jscan *j)
{
	free(j->nums);
	free(j->top);
}

static int span_push(struct span **a, size_t *n, size_t *cap, size_t off,
		     size_t len)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct span *p = realloc(*a, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*a = p;
		*cap = c;
	}
	(*a)[*n].off = off;
	(*a)[*n].len = len;
	(*n)++;
	return 0;
}

static bool is_numch(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
	       c == 'e' || c == 'E';
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Pre-pass over one line of JSON text s[0..n): valid UTF-8 without NUL,
 * strings without raw control characters or \u0000, and records the
 * number tokens and the top-level member value spans.  It does not check
 * the grammar (cJSON does).  Returns 0, -EUCLEAN with *why set, -ENOMEM.
 */
static int jscan_run(struct jscan *j, const char *s, size_t n,
		     const char **why)
{
	size_t i = 0, vstart = 0;
	int depth = 0, rc;
	bool in_value = false;

	j->nnums = j->ntop = 0;
	if (!bfs_utf8_valid(s, n)) {
		*why = "not valid UTF-8";
		return -EUCLEAN;
	}
	while (i < n) {
		char c = s[i];

		if (c == '"') {
			for (i++; i < n && s[i] != '"'; i++) {
				if ((unsigned char)s[i] < 0x20) {
					*why = "control character in a string";
					return -EUCLEAN;
				}
				if (s[i] != '\\')
					continue;
				if (n - i > 5 && s[i + 1] == 'u' &&
				    memcmp(s + i + 2, "0000", 4) == 0) {
					*why = "\\u0000 in a string";
					return -EUCLEAN;
				}
				i++;  /* skip the escaped character */
			}
			if (i >= n) {
				*why = "unterminated string";
				return -EUCLEAN;
			}
			i++;
			continue;
		}
		if (c == '-' || (c >= '0' && c <= '9')) {
			size_t st = i;

			while (i < n && is_numch(s[i]))
				i++;
			rc = span_push(&j->nums, &j->nnums, &j->capnums, st,
				       i - st);
			if (rc)
				return rc;
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']' || (c == ',' && depth == 1)) {
			if (depth == 1 && in_value) {
				size_t e = i;

				while (e > vstart && is_ws(s[e - 1]))
					e--;
				rc = span_push(&j->top, &j->ntop, &j->captop,
					       vstart, e - vstart);
				if (rc)
					return rc;
				in_value = false;
			}
			if (c != ',')
				depth--;
		} else if (c == ':' && depth == 1) {
			vstart = i + 1;
			while (vstart < n && is_ws(s[vstart]))
				vstart++;
			in_value = true;
		}
		i++;
	}
	return 0;
}

/* Store in each number node the index of its token (pre-order walk =
 * document order).  valueint is otherwise unused by us: cJSON fills it
 * with a saturated copy of the double.  Returns false on a mismatch. */
static bool number_index(cJSON *it, size_t *k, size_t nnums)
{
	for (; it; it = it->next) {
		if (cJSON_IsNumber(it)) {
			if (*k >= nnums || *k > INT32_MAX)
				return false;
			it->valueint = (int)(*k)++;
		}
		if (it->child && !number_index(it->child, k, nnums))
			return false;
	}
	return true;
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
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*mag = v;
	return true;
}

/* ---- writer ------------------------------------------------------------ */

struct bfs_manifest_writer {
	FILE *spool;              /* unlinked temp file: compressed entries */
	ZSTD_CCtx *zc;            /* streaming, one frame for all entries */
	struct bfs_buf line;      /* the line being built */
	struct bfs_buf zout;      /* compressed output staging */
	uint64_t entries, chunks; /* for the end line */
	size_t line_chunks;       /* chunks in the open "c" line */
	uint64_t file_chunks;     /* chunks given for the next entry */
	uint64_t file_bytes;      /* their plain bytes */
	int failed;               /* sticky error (-errno), or 1 when spent */
};

/*
 * Create a writer.  The spool is created in $TMPDIR (default /tmp) and
 * unlinked at once.  Returns 0 with *out set, -ENOMEM or -errno from
 * mkstemp.
 */
int bfs_manifest_writer_new(struct bfs_manifest_writer **out,
			    struct bfs_err *err)
{
	struct bfs_manifest_writer *w;
	const char *dir = getenv("TMPDIR");
	struct bfs_buf tmpl = { 0 };
	int fd, rc;

	*out = NULL;
	if (!dir || !*dir)
		dir = "/tmp";
	w = calloc(1, sizeof(*w));
	if (!w)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = bfs_buf_printf(&tmpl, "%s/backupfs-manifest-XXXXXX", dir);
	if (rc) {
		bfs_err_set(err, rc, "out of memory");
		goto out_free;
	}
	fd = mkostemp((char *)tmpl.data, O_CLOEXEC);
	if (fd < 0) {
		rc = bfs_err_set(err, -errno,
				 "cannot create manifest spool in '%s': %s",
				 dir, strerror(errno));
		goto out_free;
	}
	unlink((char *)tmpl.data);
	w->spool = fdopen(fd, "w+");
	if (!w->spool) {
		rc = bfs_err_set(err, -errno, "cannot open manifest spool: %s",
				 strerror(errno));
		close(fd);
		goto out_free;
	}
	w->zc = ZSTD_createCCtx();
	if (!w->zc ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel,
						BFS_MANIFEST_ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag,
						1))) {
		rc = bfs_err_set(err, -ENOMEM, "cannot create zstd context");
		goto out_free;
	}
	bfs_buf_free(&tmpl);
	*out = w;
	return 0;
out_free:
	bfs_buf_free(&tmpl);
	bfs_manifest_writer_free(w);
	return rc;
}

/* Frees the writer and its spool (an unfinished manifest is dropped).
 * NULL ok. */
void bfs_manifest_writer_free(struct bfs_manifest_writer *w)
{
	if (!w)
		return;
	if (w->spool)
		fclose(w->spool);
	ZSTD_freeCCtx(w->zc);
	bfs_buf_free(&w->line);
	bfs_buf_free(&w->zout);
	free(w);
}

/* Compress (and with end, finish the frame of) w->line into the spool,
 * then empty the line. */
static int spool_line(struct bfs_manifest_writer *w, bool end,
		      struct bfs_err *err)
{
	ZSTD_inBuffer in = { w->line.data, w->line.len, 0 };
	size_t outsz = ZSTD_CStreamOutSize(), r;
	int rc;

	if (w->line.len > BFS_MANIFEST_MAX_LINE + 1)
		return bfs_err_set(err, -ENAMETOOLONG,
				   "manifest line of %zu bytes over the limit",
				   w->line.len);
	rc = bfs_buf_reserve(&w->zout, outsz);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	do {
		ZSTD_outBuffer o = { w->zout.data, outsz, 0 };

		r = ZSTD_compressStream2(w->zc, &o, &in,
					 end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(r))
			return bfs_err_set(err, -EIO,
					   "manifest compression failed: %s",
					   ZSTD_getErrorName(r));
		if (o.pos && fwrite(o.dst, 1, o.pos, w->spool) != o.pos)
			return bfs_err_set(err, -EIO,
					   "cannot write manifest spool: %s",
					   strerror(errno));
	} while (in.pos < in.size || (end && r != 0));
	w->line.len = 0;
	return 0;
}

static int writer_check(struct bfs_manifest_writer *w, struct bfs_err *err)
{
	if (w->failed > 0)
		return bfs_err_set(err, -EINVAL, "manifest writer already finished");
	if (w->failed < 0)
		return bfs_err_set(err, w->failed, "manifest writer failed earlier");
	return 0;
}

static int close_chunk_line(struct bfs_manifest_writer *w,
			    struct bfs_err *err)
{
	int rc;

	if (!w->line_chunks)
		return 0;
	rc = bfs_buf_append(&w->line, "]}\n", 3);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	w->line_chunks = 0;
	return spool_line(w, false, err);
}

/*
 * Add one chunk of the next file entry (call in file order, before
 * bfs_manifest_writer_entry).  c is copied.  Returns 0, -EINVAL (clen 0,
 * len 0 or over BFS_CHUNK_MAX_LIMIT, offset inside the pack magic) or an
 * I/O error of the spool; any error but -EINVAL spoils the writer.
 */
int bfs_manifest_writer_chunk(struct bfs_manifest_writer *w,
			      const struct bfs_chunkref *c,
			      struct bfs_err *err)
{
	char hash[BFS_HASH_HEX + 1], pack[BFS_HASH_HEX + 1];
	int rc = writer_check(w, err);

	if (rc)
		return rc;
	if (c->clen == 0 || c->len == 0 || c->len > BFS_CHUNK_MAX_LIMIT ||
	    c->offset < BFS_PACK_HEADER ||
	    c->offset > BFS_PACK_MAX_SIZE - c->clen)
		return bfs_err_set(err, -EINVAL,
				   "invalid chunk reference (offset %" PRIu64
				   ", clen %u, len %u)",
				   c->offset, c->clen, c->len);
	bfs_hex(hash, c->hash, BFS_HASH_LEN);
	bfs_hex(pack, c->pack, BFS_HASH_LEN);
	rc = bfs_buf_printf(&w->line, "%s[\"%s\",\"%s\",%" PRIu64 ",%u,%u]",
			    w->line_chunks ? "," : "{\"c\":[", hash, pack,
			    c->offset, c->clen, c->len);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out_fail;
	}
	w->line_chunks++;
	w->file_chunks++;
	w->file_bytes += c->len;
	w->chunks++;
	if (w->line_chunks == BFS_MANIFEST_CHUNKS_PER_LINE) {
		rc = close_chunk_line(w, err);
		if (rc)
			goto out_fail;
	}
	return 0;
out_fail:
	w->failed = rc;
	return rc;
}

/* Checks an entry against the rules the reader enforces.  -EINVAL. */
static int entry_check(const struct bfs_manifest_writer *w,
		       const struct bfs_entry *e, struct bfs_err *err)
{
	const char *p = e->path ? e->path : "";

	if (!e->path || !bfs_manifest_path_valid(e->path, e->path_len))
		return bfs_err_set(err, -EINVAL, "invalid entry path '%.*s'",
				   (int)BFS_MIN(e->path_len, 300), p);
	if (!type_valid(e->type))
		return bfs_err_set(err, -EINVAL, "'%s': invalid entry type %d",
				   p, e->type);
	if (e->mode & ~BFS_MODE_MASK)
		return bfs_err_set(err, -EINVAL, "'%s': invalid mode %o", p,
				   e->mode);
	if (e->type == BFS_T_SYMLINK && (e->target || !e->link) &&
	    (!e->target || e->target_len == 0 || e->target_len > BFS_SYMLINK_TARGET_MAX ||
	     memchr(e->target, 0, e->target_len)))
		return bfs_err_set(err, -EINVAL,
				   "'%s': symlink without a valid target", p);
	if (e->link && (e->type == BFS_T_DIR ||
			!bfs_manifest_path_valid(e->link, e->link_len)))
		return bfs_err_set(err, -EINVAL, "'%s': invalid hardlink", p);
	if (w->file_chunks) {
		/* a file that failed mid-read keeps what was read */
		if (e->type != BFS_T_FILE || e->link)
			return bfs_err_set(err, -EINVAL,
					   "'%s': chunks given for an entry that has no content",
					   p);
	}
	if (e->type == BFS_T_FILE && !e->link && !e->error &&
	    w->file_bytes != e->size)
		return bfs_err_set(err, -EINVAL,
				   "'%s': chunks hold %" PRIu64
				   " bytes but the size is %" PRIu64,
				   p, w->file_bytes, e->size);
	return 0;
}

/*
 * Write one entry line, after the chunks given for it (files only).
 * Strings in e are borrowed.  e->size of a symlink is written as
 * e->target_len.  Returns 0, -EINVAL (the entry breaks a rule of
 * doc/FORMAT.md), -ENAMETOOLONG (line over BFS_MANIFEST_MAX_LINE), or an
 * I/O / memory error.  After -EINVAL/-ENAMETOOLONG for an entry without
 * chunks the writer stays usable (skip the entry); any other failure
 * spoils it (every later call fails).
 */
int bfs_manifest_writer_entry(struct bfs_manifest_writer *w,
			      const struct bfs_entry *e, struct bfs_err *err)
{
	struct bfs_buf *b = &w->line;
	char t[2] = { (char)e->type, 0 };
	int rc = writer_check(w, err);

	if (rc)
		return rc;
	rc = entry_check(w, e, err);
	if (rc) {
		/* chunk lines may be in the spool already: they would
		 * belong to the next entry, so the writer is spoilt */
		if (w->file_chunks)
			w->failed = rc;
		return rc;
	}
	rc = close_chunk_line(w, err);
	if (rc)
		goto out_fail;

	rc = bfs_buf_append(b, "{", 1);
	if (!rc)
		rc = jkey_bytes(b, "p", "pb", e->path, e->path_len);
	/* jkey_* start with ",": drop the one after "{" */
	if (!rc) {
		memmove(b->data + 1, b->data + 2, b->len - 2);
		b->len--;
		rc = bfs_buf_printf(b,
				    ",\"t\":\"%s\",\"m\":%u,\"u\":%u,\"g\":%u",
				    t, e->mode, e->uid, e->gid);
	}
	if (!rc && e->user)
		rc = jkey_str(b, "un", e->user, strlen(e->user));
	if (!rc && e->group)
		rc = jkey_str(b, "gn", e->group, strlen(e->group));
	if (!rc)
		rc = bfs_buf_printf(b, ",\"mt\":%" PRId64, e->mtime_ns);
	if (!rc && e->ctime_ns)
		rc = bfs_buf_printf(b, ",\"ct\":%" PRId64, e->ctime_ns);
	if (!rc && e->ino)
		rc = bfs_buf_printf(b, ",\"i\":%" PRIu64, e->ino);
	if (!rc && e->type == BFS_T_SYMLINK && e->target)
		rc = bfs_buf_printf(b, ",\"s\":%zu", e->target_len);
	else if (!rc && (e->type == BFS_T_FILE || e->size))
		rc = bfs_buf_printf(b, ",\"s\":%" PRIu64, e->size);
	if (!rc && e->type == BFS_T_SYMLINK && e->target)
		rc = jkey_bytes(b, "l", "lb", e->target, e->target_len);
	if (!rc && (e->type == BFS_T_CHR || e->type == BFS_T_BLK))
		rc = bfs_buf_printf(b, ",\"r\":%" PRIu64, e->rdev);
	if (!rc && e->link)
		rc = jkey_bytes(b, "h", "hb", e->link, e->link_len);
	if (!rc && e->sparse)
		rc = bfs_buf_append(b, ",\"sp\":true", 10);
	if (!rc && e->error)
		rc = jkey_str(b, "err", e->error, strlen(e->error));
	if (!rc)
		rc = bfs_buf_append(b, "}\n", 2);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out_fail;
	}
	if (b->len > BFS_MANIFEST_MAX_LINE + 1) {
		b->len = 0;
		rc = bfs_err_set(err, -ENAMETOOLONG,
				 "'%.300s': manifest line too long", e->path);
		if (w->file_chunks)
			goto out_fail;
		return rc;
	}
	rc = spool_line(w, false, err);
	if (rc)
		goto out_fail;
	w->entries++;
	w->file_chunks = w->file_bytes = 0;
	return 0;
out_fail:
	w->failed = rc;
	return rc;
}

/* RFC 3339 UTC with nanoseconds: 2026-11-22T02:50:00.123456789Z */
static int fmt_time(struct bfs_buf *b, int64_t ns)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	time_t t;
	struct tm tm;

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	return bfs_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ",
			      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			      tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

/* Validates sources_json (a JSON array, checked like a manifest line) and
 * appends it with CR/LF/TAB turned into spaces (only possible between
 * tokens once the scan passed), so it stays one line. */
static int put_sources(struct bfs_buf *b, const char *src,
		       struct bfs_err *err)
{
	struct jscan j = { 0 };
	const char *why = "";
	const char *end = NULL;
	size_t n = strlen(src), start;
	cJSON *root;
	int rc;

	rc = jscan_run(&j, src, n, &why);
	jscan_free(&j);
	if (rc == -ENOMEM)
		return bfs_err_set(err, rc, "out of memory");
	if (rc)
		return bfs_err_set(err, -EINVAL, "sources: %s", why);
	root = cJSON_ParseWithLengthOpts(src, n, &end, false);
	if (!root || !cJSON_IsArray(root)) {
		cJSON_Delete(root);
		return bfs_err_set(err, -EINVAL, "sources is not a JSON array");
	}
	cJSON_Delete(root);
	/* nothing but whitespace may follow the array */
	for (const char *p = end; p && p < src + n; p++)
		if (!is_ws(*p))
			return bfs_err_set(err, -EINVAL,
					   "sources: garbage after the array");
	start = b->len;
	rc = bfs_buf_append(b, src, n);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	for (size_t i = start; i < b->len; i++)
		if (b->data[i] == '\n' || b->data[i] == '\r' ||
		    b->data[i] == '\t')
			b->data[i] = ' ';
	return 0;
}

static int header_line(struct bfs_buf *b, const struct bfs_manifest_header *h,
		       struct bfs_err *err)
{
	const struct bfs_backup_stats *s = &h->stats;
	int rc;

	if (!h->id || !bfs_backup_id_valid(h->id))
		return bfs_err_set(err, -EINVAL, "invalid backup id '%s'",
				   h->id ? h->id : "(null)");
	rc = bfs_buf_printf(b, "{\"backupfs\":\"manifest\",\"version\":1");
	if (!rc)
		rc = jkey_str(b, "id", h->id, strlen(h->id));
	if (!rc)
		rc = bfs_buf_append(b, ",\"time\":\"", 9);
	if (!rc)
		rc = fmt_time(b, h->time_ns);
	if (!rc)
		rc = bfs_buf_printf(b, "\",\"time_ns\":%" PRId64, h->time_ns);
	if (!rc)
		rc = jkey_str(b, "host", h->host ? h->host : "",
			      h->host ? strlen(h->host) : 0);
	if (!rc)
		rc = bfs_buf_append(b, ",\"tags\":[", 9);
	for (size_t i = 0; !rc && h->tags && h->tags[i]; i++) {
		if (i)
			rc = bfs_buf_append(b, ",", 1);
		if (!rc)
			rc = jstr(b, h->tags[i], strlen(h->tags[i]));
	}
	if (!rc)
		rc = bfs_buf_append(b, "],\"sources\":", 12);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	if (h->sources_json) {
		rc = put_sources(b, h->sources_json, err);
		if (rc)
			return rc;
	} else {
		rc = bfs_buf_append(b, "[]", 2);
	}
	if (!rc)
		rc = bfs_buf_printf(b,
				    ",\"partial\":%s,\"stats\":{\"entries\":%" PRIu64
				    ",\"files\":%" PRIu64 ",\"dirs\":%" PRIu64
				    ",\"bytes\":%" PRIu64 ",\"chunks\":%" PRIu64
				    ",\"new_chunks\":%" PRIu64
				    ",\"new_bytes\":%" PRIu64
				    ",\"stored_bytes\":%" PRIu64
				    ",\"errors\":%" PRIu64
				    ",\"duration_ns\":%" PRId64 "}}\n",
				    h->partial ? "true" : "false", s->entries,
				    s->files, s->dirs, s->bytes, s->chunks,
				    s->new_chunks, s->new_bytes,
				    s->stored_bytes, s->errors, s->duration_ns);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	if (b->len > BFS_MANIFEST_MAX_LINE + 1)
		return bfs_err_set(err, -ENAMETOOLONG,
				   "manifest header line too long");
	return 0;
}

/*
 * Finish the manifest: the header line compressed as its own zstd frame,
 * then the spooled frame holding the entries and the end line.  *out is
 * overwritten with the bytes (caller frees out->data).  The header's
 * strings are borrowed.  Returns 0, -EINVAL (invalid header, or chunks
 * given without a file entry after them), -ENAMETOOLONG, -ENOMEM, -EIO.
 * The writer is spent afterwards, whatever the result (free it).
 */
int bfs_manifest_writer_finish(struct bfs_manifest_writer *w,
			       const struct bfs_manifest_header *h,
			       struct bfs_buf *out, struct bfs_err *err)
{
	struct bfs_buf res = { 0 }, hl = { 0 };
	size_t bound, r;
	long spool_len;
	int rc = writer_check(w, err);

	if (rc)
		return rc;
	w->failed = 1;
	if (w->file_chunks) {
		rc = bfs_err_set(err, -EINVAL,
				 "manifest ends with chunks but no file entry");
		goto out;
	}
	rc = header_line(&hl, h, err);
	if (rc)
		goto out;
	rc = bfs_buf_printf(&w->line,
			    "{\"end\":{\"entries\":%" PRIu64 ",\"chunks\":%" PRIu64
			    "}}\n", w->entries, w->chunks);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	rc = spool_line(w, true, err);
	if (rc)
		goto out;
	if (fflush(w->spool) != 0 || (spool_len = ftell(w->spool)) < 0) {
		rc = bfs_err_set(err, -EIO, "cannot write manifest spool: %s",
				 strerror(errno));
		goto out;
	}

	/* header frame */
	bound = ZSTD_compressBound(hl.len);
	rc = bfs_buf_reserve(&res, bound + (size_t)spool_len);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	ZSTD_CCtx_reset(w->zc, ZSTD_reset_session_only);
	r = ZSTD_compress2(w->zc, res.data, bound, hl.data, hl.len);
	if (ZSTD_isError(r)) {
		rc = bfs_err_set(err, -EIO, "manifest compression failed: %s",
				 ZSTD_getErrorName(r));
		goto out;
	}
	res.len = r;

	/* the spooled frame */
	rewind(w->spool);
	if (fread(res.data + res.len, 1, (size_t)spool_len, w->spool) !=
	    (size_t)spool_len) {
		rc = bfs_err_set(err, -EIO, "cannot read manifest spool: %s",
				 ferror(w->spool) ? strerror(errno)
						  : "short read");
		goto out;
	}
	res.len += (size_t)spool_len;
	*out = res;
	memset(&res, 0, sizeof(res));
out:
	bfs_buf_free(&res);
	bfs_buf_free(&hl);
	return rc;
}

/* ---- reader ------------------------------------------------------------ */

#define READ_CHUNK (128u << 10)

struct bfs_manifest_reader {
	ZSTD_DCtx *dz;
	ZSTD_inBuffer in;          /* the compressed manifest (borrowed) */
	size_t zret;               /* last ZSTD_decompressStream result:
				      0 = at a frame boundary */
	uint64_t total;            /* decompressed bytes so far */
	char *buf;                 /* decompressed window */
	size_t cap, start, end;    /* unread text is buf[start..end) */
	uint64_t lineno;           /* number of the last line returned */
	struct jscan scan;         /* of the current line */
	char *line;                /* current line, NUL-terminated */
	size_t line_len;

	struct bfs_manifest_header hdr;

	/* the current entry: tree and decoded strings, freed on next call */
	cJSON *ent_root;
	char *dec[3];              /* base64-decoded path, target, link */
	struct bfs_chunkref *chunks;
	size_t nchunks, capchunks;

	uint64_t entries, total_chunks;
	bool done;                 /* end line verified */
	int failed;                /* sticky error */
	struct bfs_err ferr;       /* its message */
};

static int rfail(struct bfs_manifest_reader *r, struct bfs_err *err, int code,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Record a sticky error "manifest line N: ..." and copy it to err. */
static int rfail(struct bfs_manifest_reader *r, struct bfs_err *err, int code,
		 const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code > 0)
		code = -code;
	if (r->lineno)
		bfs_err_set(&r->ferr, code, "manifest line %" PRIu64 ": %s",
			    r->lineno, msg);
	else
		bfs_err_set(&r->ferr, code, "manifest: %s", msg);
	r->failed = code;
	if (err)
		*err = r->ferr;
	return code;
}

/*
 * Next line into r->line (NUL replaces the '\n').  Returns 1, 0 at a
 * clean end of the input (every frame complete, no partial line), or
 * <0 (recorded with rfail).
 */
static int next_line(struct bfs_manifest_reader *r, struct bfs_err *err)
{
	for (;;) {
		char *nl = r->start < r->end
				   ? memchr(r->buf + r->start, '\n',
					    r->end - r->start)
				   : NULL;
		ZSTD_outBuffer o;
		size_t ret;

		if (nl) {
			r->line = r->buf + r->start;
			r->line_len = (size_t)(nl - r->line);
			*nl = '\0';
			r->start += r->line_len + 1;
			r->lineno++;
			if (r->line_len > BFS_MANIFEST_MAX_LINE)
				return rfail(r, err, -EUCLEAN,
					     "line longer than %u bytes",
					     BFS_MANIFEST_MAX_LINE);
			return 1;
		}
		if (r->end - r->start > BFS_MANIFEST_MAX_LINE) {
			r->lineno++;
			return rfail(r, err, -EUCLEAN,
				     "line longer than %u bytes",
				     BFS_MANIFEST_MAX_LINE);
		}
		if (r->in.pos == r->in.size && r->zret == 0) {
			if (r->start < r->end) {
				r->lineno++;
				return rfail(r, err, -EUCLEAN,
					     "truncated manifest (last line has no newline)");
			}
			return 0;
		}
		/* make room: compact, then grow up to the line cap */
		if (r->start) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->cap - r->end < READ_CHUNK) {
			size_t ncap = r->cap * 2;
			char *p;

			if (ncap < r->end + READ_CHUNK)
				ncap = r->end + READ_CHUNK;
			p = realloc(r->buf, ncap + 1);
			if (!p)
				return rfail(r, err, -ENOMEM, "out of memory");
			r->buf = p;
			r->cap = ncap;
		}
		o.dst = r->buf + r->end;
		o.size = r->cap - r->end;
		o.pos = 0;
		/* called even when all input is consumed: zstd may still
		 * hold output of the current frame */
		ret = ZSTD_decompressStream(r->dz, &o, &r->in);
		if (ZSTD_isError(ret))
			return rfail(r, err, -EUCLEAN,
				     "corrupt zstd stream: %s",
				     ZSTD_getErrorName(ret));
		r->zret = ret;
		r->end += o.pos;
		r->total += o.pos;
		if (r->total > BFS_MANIFEST_MAX_SIZE)
			return rfail(r, err, -EUCLEAN,
				     "manifest larger than %llu bytes",
				     (unsigned long long)BFS_MANIFEST_MAX_SIZE);
		if (o.pos == 0 && r->in.pos == r->in.size && ret != 0)
			return rfail(r, err, -EUCLEAN,
				     "truncated manifest (zstd stream ends early)");
	}
}

/* Parse r->line into a cJSON tree (caller deletes).  NULL after rfail. */
static cJSON *parse_line(struct bfs_manifest_reader *r, struct bfs_err *err)
{
	const char *why = "", *end = NULL;
	size_t k = 0;
	cJSON *root;
	int rc;

	rc = jscan_run(&r->scan, r->line, r->line_len, &why);
	if (rc == -ENOMEM) {
		rfail(r, err, rc, "out of memory");
		return NULL;
	}
	if (rc) {
		rfail(r, err, rc, "bad JSON: %s", why);
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(r->line, r->line_len, &end, false);
	if (!root) {
		rfail(r, err, -EUCLEAN, "bad JSON near byte %zu",
		      end && end >= r->line ? (size_t)(end - r->line) : 0);
		return NULL;
	}
	if (end != r->line + r->line_len || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		rfail(r, err, -EUCLEAN, "bad JSON: not one object");
		return NULL;
	}
	if (!number_index(root, &k, r->scan.nnums) || k != r->scan.nnums) {
		cJSON_Delete(root);
		rfail(r, err, -EUCLEAN, "bad JSON: unexpected number tokens");
		return NULL;
	}
	return root;
}

/* Integer fields read from the token text. */
static bool get_u64(const struct bfs_manifest_reader *r, const cJSON *it,
		    uint64_t max, uint64_t *out)
{
	const struct span *sp;
	uint64_t v;
	bool neg;

	if (!cJSON_IsNumber(it) || it->valueint < 0 ||
	    (size_t)it->valueint >= r->scan.nnums)
		return false;
	sp = &r->scan.nums[it->valueint];
	if (!scan_int(r->line + sp->off, sp->len, &neg, &v))
		return false;
	if ((neg && v) || v > max)
		return false;
	*out = v;
	return true;
}

static bool get_i64(const struct bfs_manifest_reader *r, const cJSON *it,
		    int64_t *out)
{
	const struct span *sp;
	uint64_t v;
	bool neg;

	if (!cJSON_IsNumber(it) || it->valueint < 0 ||
	    (size_t)it->valueint >= r->scan.nnums)
		return false;
	sp = &r->scan.nums[it->valueint];
	if (!scan_int(r->line + sp->off, sp->len, &neg, &v))
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

/* Look up members by name; a known key given twice is an error.  keys is
 * NULL-terminated; slots[i] receives the member for keys[i] or NULL.
 * Returns the duplicated key or NULL.  Unknown keys are ignored (readers
 * of version 1 skip keys added later). */
static const char *get_members(const cJSON *obj, const char *const *keys,
			       const cJSON **slots)
{
	size_t i;

	for (i = 0; keys[i]; i++)
		slots[i] = NULL;
	for (const cJSON *it = obj->child; it; it = it->next) {
		for (i = 0; keys[i]; i++) {
			if (!it->string || strcmp(it->string, keys[i]) != 0)
				continue;
			if (slots[i])
				return keys[i];
			slots[i] = it;
			break;
		}
	}
	return NULL;
}

static char *dup_string(const cJSON *it)
{
	return cJSON_IsString(it) && it->valuestring ? strdup(it->valuestring)
						      : NULL;
}

static int parse_header(struct bfs_manifest_reader *r, struct bfs_err *err)
{
	static const char *const keys[] = {
		"backupfs", "version", "id", "time", "time_ns", "host",
		"tags", "sources", "partial", "stats", NULL
	};
	static const char *const skeys[] = {
		"entries", "files", "dirs", "bytes", "chunks", "new_chunks",
		"new_bytes", "stored_bytes", "errors", "duration_ns", NULL
	};
	const cJSON *m[BFS_ARRAY_SIZE(keys)], *s[BFS_ARRAY_SIZE(skeys)];
	struct bfs_manifest_header *h = &r->hdr;
	uint64_t *stat[] = {
		&h->stats.entries, &h->stats.files, &h->stats.dirs,
		&h->stats.bytes, &h->stats.chunks, &h->stats.new_chunks,
		&h->stats.new_bytes, &h->stats.stored_bytes, &h->stats.errors,
	};
	const char *dup;
	uint64_t ver;
	size_t ntags, i, idx;
	const cJSON *it;
	cJSON *root;
	int rc;

	rc = next_line(r, err);
	if (rc == 0)
		return rfail(r, err, -EUCLEAN, "empty manifest");
	if (rc < 0)
		return rc;
	root = parse_line(r, err);
	if (!root)
		return r->failed;
	rc = -EUCLEAN;
	dup = get_members(root, keys, m);
	if (dup) {
		rfail(r, err, rc, "duplicate key \"%s\"", dup);
		goto out;
	}
	if (!cJSON_IsString(m[0]) || strcmp(m[0]->valuestring, "manifest")) {
		rfail(r, err, rc, "not a backupfs manifest");
		goto out;
	}
	if (!get_u64(r, m[1], UINT32_MAX, &ver)) {
		rfail(r, err, rc, "bad \"version\"");
		goto out;
	}
	if (ver != BFS_FORMAT_VERSION) {
		rc = -EPROTO;
		rfail(r, err, rc, "unsupported manifest version %" PRIu64, ver);
		goto out;
	}
	if (!cJSON_IsString(m[2]) || !bfs_backup_id_valid(m[2]->valuestring)) {
		rfail(r, err, rc, "bad \"id\"");
		goto out;
	}
	if (!cJSON_IsString(m[3]) || strlen(m[3]->valuestring) > 64) {
		rfail(r, err, rc, "bad \"time\"");
		goto out;
	}
	if (!get_i64(r, m[4], &h->time_ns)) {
		rfail(r, err, rc, "bad \"time_ns\"");
		goto out;
	}
	if (!cJSON_IsString(m[5])) {
		rfail(r, err, rc, "bad \"host\"");
		goto out;
	}
	if (!cJSON_IsArray(m[6])) {
		rfail(r, err, rc, "bad \"tags\"");
		goto out;
	}
	if (!cJSON_IsArray(m[7])) {
		rfail(r, err, rc, "bad \"sources\"");
		goto out;
	}
	if (!cJSON_IsBool(m[8])) {
		rfail(r, err, rc, "bad \"partial\"");
		goto out;
	}
	if (!cJSON_IsObject(m[9]) || (dup = get_members(m[9], skeys, s))) {
		rfail(r, err, rc, "bad \"stats\"");
		goto out;
	}
	for (i = 0; i < BFS_ARRAY_SIZE(stat); i++) {
		if (!get_u64(r, s[i], UINT64_MAX, stat[i])) {
			rfail(r, err, rc, "bad \"stats\".\"%s\"", skeys[i]);
			goto out;
		}
	}
	if (!get_i64(r, s[9], &h->stats.duration_ns)) {
		rfail(r, err, rc, "bad \"stats\".\"duration_ns\"");
		goto out;
	}
	h->partial = cJSON_IsTrue(m[8]);

	rc = -ENOMEM;
	h->id = dup_string(m[2]);
	h->host = dup_string(m[5]);
	ntags = (size_t)cJSON_GetArraySize(m[6]);
	h->tags = calloc(ntags + 1, sizeof(*h->tags));
	if (!h->id || !h->host || !h->tags) {
		rfail(r, err, rc, "out of memory");
		goto out;
	}
	i = 0;
	cJSON_ArrayForEach(it, m[6]) {
		if (!cJSON_IsString(it)) {
			rc = rfail(r, err, -EUCLEAN, "bad \"tags\"");
			goto out;
		}
		h->tags[i] = dup_string(it);
		if (!h->tags[i++]) {
			rfail(r, err, rc, "out of memory");
			goto out;
		}
	}
	/* sources: the raw text of the value, found by member position */
	idx = 0;
	for (it = root->child; it && it != m[7]; it = it->next)
		idx++;
	if (idx >= r->scan.ntop) {
		rc = rfail(r, err, -EUCLEAN, "bad \"sources\"");
		goto out;
	}
	h->sources_json = strndup(r->line + r->scan.top[idx].off,
				  r->scan.top[idx].len);
	if (!h->sources_json) {
		rfail(r, err, rc, "out of memory");
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

/*
 * Open a manifest for reading: sets up the decompressor and parses and
 * validates the header line.  data is borrowed until _free.  Returns 0
 * with *out set, -EUCLEAN (corrupt, with the line number), -EPROTO
 * (unsupported version) or -ENOMEM.  A reader is not thread-safe; several
 * readers may run in parallel.
 */
int bfs_manifest_reader_new(const void *data, size_t len,
			    struct bfs_manifest_reader **out,
			    struct bfs_err *err)
{
	struct bfs_manifest_reader *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	r->in.src = data;
	r->in.size = data ? len : 0;
	r->dz = ZSTD_createDCtx();
	if (!r->dz) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	/* cap the window a hostile frame can ask for (the writer uses
	 * level 3: 2 MiB at most) */
	ZSTD_DCtx_setParameter(r->dz, ZSTD_d_windowLogMax,
			       BFS_MANIFEST_WINDOW_LOG);
	if (r->in.size == 0) {
		rc = bfs_err_set(err, -EUCLEAN, "manifest: empty manifest");
		goto out_free;
	}
	/* force the first decompress call */
	r->zret = 1;
	rc = parse_header(r, err);
	if (rc)
		goto out_free;
	*out = r;
	return 0;
out_free:
	bfs_manifest_reader_free(r);
	return rc;
}

static void clear_current(struct bfs_manifest_reader *r)
{
	cJSON_Delete(r->ent_root);
	r->ent_root = NULL;
	for (size_t i = 0; i < BFS_ARRAY_SIZE(r->dec); i++) {
		free(r->dec[i]);
		r->dec[i] = NULL;
	}
	r->nchunks = 0;
}

/* Frees the reader and everything it lent out (header, entries, chunk
 * arrays).  NULL ok.  The manifest bytes stay the caller's. */
void bfs_manifest_reader_free(struct bfs_manifest_reader *r)
{
	if (!r)
		return;
	clear_current(r);
	ZSTD_freeDCtx(r->dz);
	free(r->buf);
	jscan_free(&r->scan);
	bfs_manifest_header_clear(&r->hdr);
	free(r->chunks);
	free(r);
}

/* The header parsed by _new; borrowed, valid until _free.  Do not pass
 * it to bfs_manifest_header_clear. */
const struct bfs_manifest_header *
bfs_manifest_reader_header(const struct bfs_manifest_reader *r)
{
	return &r->hdr;
}

static bool hex64(const cJSON *it, uint8_t out[BFS_HASH_LEN])
{
	const char *s;

	if (!cJSON_IsString(it))
		return false;
	s = it->valuestring;
	for (size_t i = 0; i < BFS_HASH_HEX; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[BFS_HASH_HEX] == '\0' && bfs_unhex(out, s, BFS_HASH_LEN) == 0;
}

/* A "c" line: append its chunks to r->chunks. */
static int parse_chunks(struct bfs_manifest_reader *r, const cJSON *c,
			struct bfs_err *err)
{
	const cJSON *a;
	size_t n = 0;

	if (!cJSON_IsArray(c) || !c->child)
		return rfail(r, err, -EUCLEAN, "bad \"c\": not a non-empty array");
	cJSON_ArrayForEach(a, c) {
		const cJSON *f[5];
		struct bfs_chunkref *ref;
		uint64_t v[3];
		size_t k = 0;

		if (++n > BFS_MANIFEST_CHUNKS_PER_LINE)
			return rfail(r, err, -EUCLEAN,
				     "more than %d chunks in one line",
				     BFS_MANIFEST_CHUNKS_PER_LINE);
		if (!cJSON_IsArray(a))
			return rfail(r, err, -EUCLEAN, "chunk %zu: not an array", n);
		for (const cJSON *x = a->child; x; x = x->next) {
			if (k == 5)
				return rfail(r, err, -EUCLEAN,
					     "chunk %zu: more than 5 fields", n);
			f[k++] = x;
		}
		if (k != 5)
			return rfail(r, err, -EUCLEAN,
				     "chunk %zu: fewer than 5 fields", n);
		if (r->nchunks == r->capchunks) {
			size_t cap = r->capchunks ? r->capchunks * 2 : 256;
			struct bfs_chunkref *p;

			if (cap > SIZE_MAX / sizeof(*p))
				return rfail(r, err, -ENOMEM, "out of memory");
			p = realloc(r->chunks, cap * sizeof(*p));
			if (!p)
				return rfail(r, err, -ENOMEM, "out of memory");
			r->chunks = p;
			r->capchunks = cap;
		}
		ref = &r->chunks[r->nchunks];
		if (!hex64(f[0], ref->hash))
			return rfail(r, err, -EUCLEAN, "chunk %zu: bad hash", n);
		if (!hex64(f[1], ref->pack))
			return rfail(r, err, -EUCLEAN, "chunk %zu: bad pack id", n);
		if (!get_u64(r, f[2], BFS_PACK_MAX_SIZE, &v[0]) ||
		    !get_u64(r, f[3], BFS_PACK_MAX_SIZE, &v[1]) ||
		    !get_u64(r, f[4], BFS_CHUNK_MAX_LIMIT, &v[2]) ||
		    v[0] < BFS_PACK_HEADER || v[1] == 0 || v[2] == 0 ||
		    v[0] + v[1] > BFS_PACK_MAX_SIZE)
			return rfail(r, err, -EUCLEAN,
				     "chunk %zu: bad offset or length", n);
		ref->offset = v[0];
		ref->clen = (uint32_t)v[1];
		ref->len = (uint32_t)v[2];
		r->nchunks++;
		r->total_chunks++;
	}
	return 0;
}

/* A string or a base64 field (exactly one of key/keyb).  Sets *s and *n
 * (borrowed from the tree or r->dec[slot]).  Returns 0 when absent
 * (*s NULL), 1 when set, <0 after rfail. */
static int get_bytes(struct bfs_manifest_reader *r, const cJSON *plain,
		     const cJSON *b64, int slot, const char *key,
		     char **s, size_t *n, struct bfs_err *err)
{
	uint8_t *dec;
	size_t dlen;
	int rc;

	*s = NULL;
	*n = 0;
	if (plain && b64)
		return rfail(r, err, -EUCLEAN, "both \"%s\" and \"%sb\"", key,
			     key);
	if (plain) {
		if (!cJSON_IsString(plain))
			return rfail(r, err, -EUCLEAN, "bad \"%s\"", key);
		*s = plain->valuestring;
		*n = strlen(*s);
		return 1;
	}
	if (!b64)
		return 0;
	if (!cJSON_IsString(b64))
		return rfail(r, err, -EUCLEAN, "bad \"%sb\"", key);
	rc = bfs_b64_decode(b64->valuestring, &dec, &dlen);
	if (rc == -ENOMEM)
		return rfail(r, err, rc, "out of memory");
	if (rc)
		return rfail(r, err, -EUCLEAN, "bad base64 in \"%sb\"", key);
	if (memchr(dec, 0, dlen)) {
		free(dec);
		return rfail(r, err, -EUCLEAN, "NUL byte in \"%sb\"", key);
	}
	r->dec[slot] = (char *)dec;
	*s = (char *)dec;
	*n = dlen;
	return 1;
}

enum {
	K_P, K_PB, K_T, K_M, K_U, K_G, K_UN, K_GN, K_MT, K_CT, K_I, K_S,
	K_L, K_LB, K_R, K_H, K_HB, K_SP, K_ERR, K_NKEYS
};

/* An entry line: fill *e from r->ent_root and check it against the
 * chunks collected for it. */
static int parse_entry(struct bfs_manifest_reader *r, struct bfs_entry *e,
		       const cJSON *const *m, struct bfs_err *err)
{
	uint64_t v, sum = 0;
	const char *p;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = get_bytes(r, m[K_P], m[K_PB], 0, "p", &e->path, &e->path_len,
		       err);
	if (rc < 0)
		return rc;
	if (rc == 0 || !bfs_manifest_path_valid(e->path, e->path_len))
		return rfail(r, err, -EUCLEAN, "bad path");
	p = e->path;
	if (!cJSON_IsString(m[K_T]) || strlen(m[K_T]->valuestring) != 1 ||
	    !type_valid(m[K_T]->valuestring[0]))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"t\"", p);
	e->type = m[K_T]->valuestring[0];
	if (!get_u64(r, m[K_M], BFS_MODE_MASK, &v))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"m\"", p);
	e->mode = (uint32_t)v;
	if (!get_u64(r, m[K_U], UINT32_MAX, &v))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"u\"", p);
	e->uid = (uint32_t)v;
	if (!get_u64(r, m[K_G], UINT32_MAX, &v))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"g\"", p);
	e->gid = (uint32_t)v;
	if ((m[K_UN] && !cJSON_IsString(m[K_UN])) ||
	    (m[K_GN] && !cJSON_IsString(m[K_GN])))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"un\"/\"gn\"", p);
	e->user = m[K_UN] ? m[K_UN]->valuestring : NULL;
	e->group = m[K_GN] ? m[K_GN]->valuestring : NULL;
	if (!get_i64(r, m[K_MT], &e->mtime_ns))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"mt\"", p);
	if (m[K_CT] && !get_i64(r, m[K_CT], &e->ctime_ns))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"ct\"", p);
	if (m[K_I] && !get_u64(r, m[K_I], UINT64_MAX, &e->ino))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"i\"", p);
	if (m[K_S] && !get_u64(r, m[K_S], INT64_MAX, &e->size))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"s\"", p);
	if (m[K_SP] && !cJSON_IsBool(m[K_SP]))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"sp\"", p);
	e->sparse = cJSON_IsTrue(m[K_SP]);
	if (m[K_ERR] && !cJSON_IsString(m[K_ERR]))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"err\"", p);
	e->error = m[K_ERR] ? m[K_ERR]->valuestring : NULL;

	rc = get_bytes(r, m[K_H], m[K_HB], 2, "h", &e->link, &e->link_len,
		       err);
	if (rc < 0)
		return rc;
	if (rc && (e->type == BFS_T_DIR ||
		   !bfs_manifest_path_valid(e->link, e->link_len)))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad hardlink \"h\"", p);

	rc = get_bytes(r, m[K_L], m[K_LB], 1, "l", &e->target,
		       &e->target_len, err);
	if (rc < 0)
		return rc;
	if (e->type == BFS_T_SYMLINK) {
		/* a hardlink to a symlink may omit the target */
		if ((!rc && !e->link) ||
		    (rc && (e->target_len == 0 || e->target_len > BFS_SYMLINK_TARGET_MAX)))
			return rfail(r, err, -EUCLEAN,
				     "'%.300s': symlink without a valid target", p);
		if (rc && m[K_S] && e->size != e->target_len)
			return rfail(r, err, -EUCLEAN,
				     "'%.300s': symlink size is not the target length",
				     p);
		if (rc)
			e->size = e->target_len;
	} else if (rc) {
		return rfail(r, err, -EUCLEAN,
			     "'%.300s': \"l\" on an entry that is not a symlink", p);
	}

	if (m[K_R]) {
		if (e->type != BFS_T_CHR && e->type != BFS_T_BLK)
			return rfail(r, err, -EUCLEAN,
				     "'%.300s': \"r\" on an entry that is not a device",
				     p);
		if (!get_u64(r, m[K_R], UINT64_MAX, &e->rdev))
			return rfail(r, err, -EUCLEAN, "'%.300s': bad \"r\"", p);
	}

	if (e->type == BFS_T_FILE && !m[K_S])
		return rfail(r, err, -EUCLEAN, "'%.300s': file without \"s\"", p);
	/* a file with "err" may keep the chunks read before the failure */
	if (r->nchunks && (e->type != BFS_T_FILE || e->link))
		return rfail(r, err, -EUCLEAN,
			     "'%.300s': chunks before an entry without content",
			     p);
	if (e->type == BFS_T_FILE && !e->link && !e->error) {
		for (size_t i = 0; i < r->nchunks; i++)
			sum += r->chunks[i].len;
		if (sum != e->size)
			return rfail(r, err, -EUCLEAN,
				     "'%.300s': chunks hold %" PRIu64
				     " bytes, size is %" PRIu64, p, sum,
				     e->size);
	}
	return 0;
}

/*
 * Next entry; see manifest.h.  After an error every further call returns
 * the same error.  Not thread-safe (one reader per thread).
 */
int bfs_manifest_reader_next(struct bfs_manifest_reader *r,
			     struct bfs_entry *e,
			     const struct bfs_chunkref **chunks,
			     size_t *nchunks, struct bfs_err *err)
{
	static const char *const keys[] = {
		"p", "pb", "t", "m", "u", "g", "un", "gn", "mt", "ct", "i",
		"s", "l", "lb", "r", "h", "hb", "sp", "err", NULL
	};
	static const char *const lkeys[] = { "c", "end", NULL };
	static const char *const ekeys[] = { "entries", "chunks", NULL };
	const cJSON *m[K_NKEYS + 1], *lk[3], *ek[3];
	const char *dup;
	cJSON *root;
	int rc;

	memset(e, 0, sizeof(*e));
	*chunks = NULL;
	*nchunks = 0;
	if (r->failed) {
		if (err)
			*err = r->ferr;
		return r->failed;
	}
	if (r->done)
		return 0;
	clear_current(r);
	for (;;) {
		rc = next_line(r, err);
		if (rc == 0)
			return rfail(r, err, -EUCLEAN,
				     "truncated manifest (no end line)");
		if (rc < 0)
			return rc;
		root = parse_line(r, err);
		if (!root)
			return r->failed;
		if ((dup = get_members(root, lkeys, lk)) ||
		    (dup = get_members(root, keys, m))) {
			cJSON_Delete(root);
			return rfail(r, err, -EUCLEAN, "duplicate key \"%s\"",
				     dup);
		}
		if ((lk[0] != NULL) + (lk[1] != NULL) +
			    (m[K_P] || m[K_PB]) != 1) {
			cJSON_Delete(root);
			return rfail(r, err, -EUCLEAN,
				     "not a chunk, entry or end line");
		}
		if (lk[0]) {
			rc = parse_chunks(r, lk[0], err);
			cJSON_Delete(root);
			if (rc)
				return rc;
			continue;
		}
		if (lk[1])
			break;
		r->ent_root = root;
		rc = parse_entry(r, e, m, err);
		if (rc) {
			memset(e, 0, sizeof(*e));
			return rc;
		}
		r->entries++;
		*chunks = r->nchunks ? r->chunks : NULL;
		*nchunks = r->nchunks;
		return 1;
	}

	/* the end line */
	{
		uint64_t ne, nc;

		if (r->nchunks) {
			cJSON_Delete(root);
			return rfail(r, err, -EUCLEAN,
				     "chunks before the end line");
		}
		if (!cJSON_IsObject(lk[1]) ||
		    get_members(lk[1], ekeys, ek) ||
		    !get_u64(r, ek[0], UINT64_MAX, &ne) ||
		    !get_u64(r, ek[1], UINT64_MAX, &nc)) {
			cJSON_Delete(root);
			return rfail(r, err, -EUCLEAN, "bad end line");
		}
		cJSON_Delete(root);
		if (ne != r->entries || nc != r->total_chunks)
			return rfail(r, err, -EUCLEAN,
				     "end line counts %" PRIu64 " entries and %"
				     PRIu64 " chunks, found %" PRIu64 " and %"
				     PRIu64, ne, nc, r->entries,
				     r->total_chunks);
	}
	rc = next_line(r, err);
	if (rc > 0)
		return rfail(r, err, -EUCLEAN, "data after the end line");
	if (rc < 0)
		return rc;
	r->done = true;
	return 0;
}
