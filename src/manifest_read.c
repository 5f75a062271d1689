/* manifest_read.c - the strict, streaming manifest reader (untrusted
 * input): zstd stream -> lines capped at BFS_MANIFEST_MAX_LINE -> one
 * JSON pass per line (manifest_json.c) -> entries checked against
 * doc/FORMAT.md.  See manifest.h.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "format.h"
#include "manifest_int.h"
#include "pack.h"
#include "zlines.h"

struct bfs_manifest_reader {
	struct bfs_zlines z; /* the lines of the zstd stream */
	struct bfs_jdoc doc; /* of the current line */

	struct bfs_manifest_header hdr;
	char *hdr_line; /* line 1 as stored, NUL-terminated */
	size_t hdr_len;

	/* the current entry's decoded strings, freed on the next call (the
	 * others point into the line buffer) */
	char *dec[3]; /* base64-decoded path, target, link */
	struct bfs_chunkref *chunks;
	size_t nchunks, capchunks;

	uint64_t entries, total_chunks;
	int version;		       /* 1 or 2 */
	uint8_t (*root)[BFS_HASH_LEN]; /* version 2: root tree parts */
	size_t nroot;
	uint64_t count;	     /* version 2: entries below the root */
	bool done;	     /* end line verified */
	int failed;	     /* sticky error */
	struct bfs_err ferr; /* its message */
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
	if (r->z.lineno)
		bfs_err_set(&r->ferr, code, "manifest line %" PRIu64 ": %s",
			    r->z.lineno, msg);
	else
		bfs_err_set(&r->ferr, code, "manifest: %s", msg);
	r->failed = code;
	if (err)
		*err = r->ferr;
	return code;
}

/*
 * Next line into r->z.line (NUL replaces the '\n').  Returns 1, 0 at a
 * clean end of the input (every frame complete, no partial line), or
 * <0 (recorded as rfail does).
 */
static int next_line(struct bfs_manifest_reader *r, struct bfs_err *err)
{
	int rc = bfs_zlines_next(&r->z, &r->ferr);

	if (rc < 0) {
		r->failed = rc;
		if (err)
			*err = r->ferr;
	}
	return rc;
}

/* Parse r->z.line into r->doc; its root must be one object filling the
 * whole line.  0 or <0 after rfail. */
static int parse_line(struct bfs_manifest_reader *r, struct bfs_err *err)
{
	const char *why = "";
	size_t end = 0, at = 0;
	int rc;

	rc = bfs_jdoc_parse(&r->doc, r->z.line, r->z.line_len, &end, &why, &at);
	if (rc == -ENOMEM)
		return rfail(r, err, rc, "out of memory");
	if (rc)
		return rfail(r, err, rc, "bad JSON: %s near byte %zu", why, at);
	if (end != r->z.line_len || r->doc.v[0].type != BFS_J_OBJ)
		return rfail(r, err, -EUCLEAN, "bad JSON: not one object");
	return 0;
}

/* Shorthands over r->doc. */
static bool get_u64(const struct bfs_manifest_reader *r,
		    const struct bfs_jnode *it, uint64_t max, uint64_t *out)
{
	return bfs_jdoc_u64(&r->doc, it, max, out);
}

static bool get_i64(const struct bfs_manifest_reader *r,
		    const struct bfs_jnode *it, int64_t *out)
{
	return bfs_jdoc_i64(&r->doc, it, out);
}

static bool is_str(const struct bfs_jnode *it)
{
	return it && it->type == BFS_J_STR;
}

static bool is_bool(const struct bfs_jnode *it)
{
	return it && (it->type == BFS_J_TRUE || it->type == BFS_J_FALSE);
}

static bool is_true(const struct bfs_jnode *it)
{
	return it && it->type == BFS_J_TRUE;
}

static const char *str(const struct bfs_manifest_reader *r,
		       const struct bfs_jnode *it)
{
	return bfs_jstr(&r->doc, it);
}

static const struct bfs_jnode *child(const struct bfs_manifest_reader *r,
				     const struct bfs_jnode *it)
{
	return bfs_jdoc_node(&r->doc, it->child);
}

static const struct bfs_jnode *next(const struct bfs_manifest_reader *r,
				    const struct bfs_jnode *it)
{
	return bfs_jdoc_node(&r->doc, it->next);
}

static const char *members(const struct bfs_manifest_reader *r,
			   const struct bfs_jnode *obj, const char *const *keys,
			   const struct bfs_jnode **slots)
{
	return bfs_jdoc_members(&r->doc, obj, keys, slots);
}

static char *dup_string(const struct bfs_manifest_reader *r,
			const struct bfs_jnode *it)
{
	return is_str(it) ? strndup(str(r, it), it->len) : NULL;
}

static bool hex64(const struct bfs_manifest_reader *r,
		  const struct bfs_jnode *it, uint8_t out[BFS_HASH_LEN]);

static int parse_header(struct bfs_manifest_reader *r, struct bfs_err *err)
{
	static const char *const keys[] = {
	    "backupfs", "version", "id",    "time", "time_ns", "host", "tags",
	    "sources",	"partial", "stats", "root", "count",   "job",  NULL};
	static const char *const skeys[] = {
	    "entries", "files",	      "dirs",	   "bytes",
	    "chunks",  "new_chunks",  "new_bytes", "stored_bytes",
	    "errors",  "duration_ns", NULL};
	const struct bfs_jnode *m[BFS_ARRAY_SIZE(keys)];
	const struct bfs_jnode *s[BFS_ARRAY_SIZE(skeys)];
	struct bfs_manifest_header *h = &r->hdr;
	uint64_t *stat[] = {
	    &h->stats.entries,	 &h->stats.files,	 &h->stats.dirs,
	    &h->stats.bytes,	 &h->stats.chunks,	 &h->stats.new_chunks,
	    &h->stats.new_bytes, &h->stats.stored_bytes, &h->stats.errors,
	};
	const struct bfs_jnode *it;
	const char *dup;
	uint64_t ver;
	size_t ntags, i;
	int rc;

	rc = next_line(r, err);
	if (rc == 0)
		return rfail(r, err, -EUCLEAN, "empty manifest");
	if (rc < 0)
		return rc;
	/* kept as stored: the parse below decodes strings in place */
	r->hdr_line = malloc(r->z.line_len + 1);
	if (!r->hdr_line)
		return rfail(r, err, -ENOMEM, "out of memory");
	memcpy(r->hdr_line, r->z.line, r->z.line_len + 1);
	r->hdr_len = r->z.line_len;
	rc = parse_line(r, err);
	if (rc)
		return rc;
	rc = -EUCLEAN;
	dup = members(r, &r->doc.v[0], keys, m);
	if (dup)
		return rfail(r, err, rc, "duplicate key \"%s\"", dup);
	if (!is_str(m[0]) || strcmp(str(r, m[0]), BFS_MANIFEST_MAGIC))
		return rfail(r, err, rc, "not a backupfs manifest");
	if (!get_u64(r, m[1], UINT32_MAX, &ver))
		return rfail(r, err, rc, "bad \"version\"");
	if (ver != BFS_MANIFEST_VERSION && ver != BFS_FORMAT_VERSION_1)
		return rfail(r, err, -EPROTO,
			     "unsupported manifest version %" PRIu64, ver);
	r->version = (int)ver;
	if ((ver == BFS_FORMAT_VERSION_1) != (!m[10] && !m[11]))
		return rfail(r, err, rc,
			     "\"root\" and \"count\" are for version 2 only, "
			     "and required there");
	if (ver != BFS_FORMAT_VERSION_1) {
		size_t k = 0;

		if (!m[10] || !m[11] || m[10]->type != BFS_J_ARR ||
		    !get_u64(r, m[11], (1ull << 40) - 1, &r->count))
			return rfail(r, err, rc, "bad \"root\" or \"count\"");
		for (it = child(r, m[10]); it; it = next(r, it))
			k++;
		r->root = calloc(k ? k : 1, sizeof(*r->root));
		if (!r->root)
			return rfail(r, err, -ENOMEM, "out of memory");
		for (it = child(r, m[10]); it; it = next(r, it))
			if (!hex64(r, it, r->root[r->nroot++]))
				return rfail(r, err, rc, "bad id in \"root\"");
		if ((r->nroot == 0) != (r->count == 0))
			return rfail(r, err, rc,
				     "\"root\" and \"count\" disagree");
	}
	if (!is_str(m[2]) || !bfs_backup_id_valid(str(r, m[2])))
		return rfail(r, err, rc, "bad \"id\"");
	if (!is_str(m[3]) || m[3]->len > 64)
		return rfail(r, err, rc, "bad \"time\"");
	if (!get_i64(r, m[4], &h->time_ns))
		return rfail(r, err, rc, "bad \"time_ns\"");
	if (!is_str(m[5]))
		return rfail(r, err, rc, "bad \"host\"");
	if (m[12] && (!is_str(m[12]) || strlen(str(r, m[12])) != m[12]->len ||
		      !bfs_format_job_name_valid(str(r, m[12]))))
		return rfail(r, err, rc, "bad \"job\"");
	if (!m[6] || m[6]->type != BFS_J_ARR)
		return rfail(r, err, rc, "bad \"tags\"");
	if (!m[7] || m[7]->type != BFS_J_ARR)
		return rfail(r, err, rc, "bad \"sources\"");
	if (!is_bool(m[8]))
		return rfail(r, err, rc, "bad \"partial\"");
	if (!m[9] || m[9]->type != BFS_J_OBJ || members(r, m[9], skeys, s))
		return rfail(r, err, rc, "bad \"stats\"");
	for (i = 0; i < BFS_ARRAY_SIZE(stat); i++)
		if (!get_u64(r, s[i], UINT64_MAX, stat[i]))
			return rfail(r, err, rc, "bad \"stats\".\"%s\"",
				     skeys[i]);
	if (!get_i64(r, s[9], &h->stats.duration_ns))
		return rfail(r, err, rc, "bad \"stats\".\"duration_ns\"");
	h->partial = is_true(m[8]);

	ntags = 0;
	for (it = child(r, m[6]); it; it = next(r, it)) {
		if (!is_str(it))
			return rfail(r, err, rc, "bad \"tags\"");
		ntags++;
	}
	h->id = dup_string(r, m[2]);
	h->host = dup_string(r, m[5]);
	if (m[12] && !(h->job = dup_string(r, m[12])))
		return rfail(r, err, -ENOMEM, "out of memory");
	h->tags = calloc(ntags + 1, sizeof(*h->tags));
	/* sources: the raw text of the value, kept verbatim */
	h->sources_json = strndup(r->hdr_line + m[7]->off, m[7]->len);
	if (!h->id || !h->host || !h->tags || !h->sources_json)
		return rfail(r, err, -ENOMEM, "out of memory");
	i = 0;
	for (it = child(r, m[6]); it; it = next(r, it)) {
		h->tags[i] = dup_string(r, it);
		if (!h->tags[i++])
			return rfail(r, err, -ENOMEM, "out of memory");
	}
	return 0;
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
	rc = bfs_zlines_init(&r->z, data, len, "manifest",
			     BFS_MANIFEST_MAX_LINE, BFS_MANIFEST_MAX_SIZE, err);
	if (rc)
		goto out_free;
	if (!data || len == 0) {
		rc = bfs_err_set(err, -EUCLEAN, "manifest: empty manifest");
		goto out_free;
	}
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
	bfs_zlines_fini(&r->z);
	bfs_jdoc_free(&r->doc);
	bfs_manifest_header_clear(&r->hdr);
	free(r->hdr_line);
	free(r->chunks);
	free(r->root);
	free(r);
}

/* 1 or 2; for 2, the root parts and the count (borrowed until _free). */
int bfs_manifest_reader_version(const struct bfs_manifest_reader *r,
				const uint8_t (**root)[BFS_HASH_LEN],
				size_t *nroot, uint64_t *count)
{
	if (root)
		*root = (const uint8_t(*)[BFS_HASH_LEN])r->root;
	if (nroot)
		*nroot = r->nroot;
	if (count)
		*count = r->count;
	return r->version;
}

/* The header parsed by _new; borrowed, valid until _free.  Do not pass
 * it to bfs_manifest_header_clear. */
const struct bfs_manifest_header *
bfs_manifest_reader_header(const struct bfs_manifest_reader *r)
{
	return &r->hdr;
}

/* Line 1 as stored (without '\n', NUL-terminated); *len (may be NULL)
 * receives its length.  Borrowed, valid until _free. */
const char *bfs_manifest_reader_header_line(const struct bfs_manifest_reader *r,
					    size_t *len)
{
	if (len)
		*len = r->hdr_len;
	return r->hdr_line;
}

static int unhex_lower(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* 64 lowercase hex digits into out. */
static bool hex64(const struct bfs_manifest_reader *r,
		  const struct bfs_jnode *it, uint8_t out[BFS_HASH_LEN])
{
	const char *s;

	if (!is_str(it) || it->len != BFS_HASH_HEX)
		return false;
	s = str(r, it);
	for (size_t i = 0; i < BFS_HASH_LEN; i++) {
		int hi = unhex_lower(s[2 * i]), lo = unhex_lower(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* A "c" line: append its chunks to r->chunks. */
static int parse_chunks(struct bfs_manifest_reader *r,
			const struct bfs_jnode *c, struct bfs_err *err)
{
	const struct bfs_jnode *a;
	size_t n = 0;

	if (c->type != BFS_J_ARR || !c->child)
		return rfail(r, err, -EUCLEAN,
			     "bad \"c\": not a non-empty array");
	for (a = child(r, c); a; a = next(r, a)) {
		const struct bfs_jnode *f[5];
		struct bfs_chunkref *ref;
		uint64_t v[3];
		size_t k = 0;

		if (++n > BFS_MANIFEST_CHUNKS_PER_LINE)
			return rfail(r, err, -EUCLEAN,
				     "more than %d chunks in one line",
				     BFS_MANIFEST_CHUNKS_PER_LINE);
		if (a->type != BFS_J_ARR)
			return rfail(r, err, -EUCLEAN,
				     "chunk %zu: not an array", n);
		for (const struct bfs_jnode *x = child(r, a); x;
		     x = next(r, x)) {
			if (k == 5)
				return rfail(r, err, -EUCLEAN,
					     "chunk %zu: more than 5 fields",
					     n);
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
		if (!hex64(r, f[0], ref->hash))
			return rfail(r, err, -EUCLEAN, "chunk %zu: bad hash",
				     n);
		if (!hex64(r, f[1], ref->pack))
			return rfail(r, err, -EUCLEAN, "chunk %zu: bad pack id",
				     n);
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
 * (borrowed from the line or r->dec[slot]).  Returns 0 when absent
 * (*s NULL), 1 when set, <0 after rfail. */
static int get_bytes(struct bfs_manifest_reader *r,
		     const struct bfs_jnode *plain, const struct bfs_jnode *b64,
		     int slot, const char *key, char **s, size_t *n,
		     struct bfs_err *err)
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
		if (!is_str(plain))
			return rfail(r, err, -EUCLEAN, "bad \"%s\"", key);
		*s = (char *)str(r, plain);
		*n = plain->len;
		return 1;
	}
	if (!b64)
		return 0;
	if (!is_str(b64))
		return rfail(r, err, -EUCLEAN, "bad \"%sb\"", key);
	rc = bfs_b64_decode(str(r, b64), &dec, &dlen);
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

/* Known keys of the lines after the header, in one table: entry keys,
 * then the chunk and end line keys. */
enum {
	K_P,
	K_PB,
	K_T,
	K_M,
	K_U,
	K_G,
	K_UN,
	K_GN,
	K_MT,
	K_CT,
	K_I,
	K_S,
	K_L,
	K_LB,
	K_R,
	K_H,
	K_HB,
	K_SP,
	K_ERR,
	K_C,
	K_END,
	K_NKEYS
};

/* An entry line: fill *e from the members m and check it against the
 * chunks collected for it. */
static int parse_entry(struct bfs_manifest_reader *r, struct bfs_entry *e,
		       const struct bfs_jnode *const *m, struct bfs_err *err)
{
	uint64_t v, sum = 0;
	const char *p;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = get_bytes(r, m[K_P], m[K_PB], 0, "p", &e->path, &e->path_len, err);
	if (rc < 0)
		return rc;
	if (rc == 0 || !bfs_manifest_path_valid(e->path, e->path_len))
		return rfail(r, err, -EUCLEAN, "bad path");
	p = e->path;
	if (!is_str(m[K_T]) || m[K_T]->len != 1 ||
	    !bfs_manifest_type_valid(str(r, m[K_T])[0]))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"t\"", p);
	e->type = str(r, m[K_T])[0];
	if (!get_u64(r, m[K_M], BFS_MODE_MASK, &v))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"m\"", p);
	e->mode = (uint32_t)v;
	if (!get_u64(r, m[K_U], UINT32_MAX, &v))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"u\"", p);
	e->uid = (uint32_t)v;
	if (!get_u64(r, m[K_G], UINT32_MAX, &v))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"g\"", p);
	e->gid = (uint32_t)v;
	if ((m[K_UN] && !is_str(m[K_UN])) || (m[K_GN] && !is_str(m[K_GN])))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"un\"/\"gn\"",
			     p);
	e->user = m[K_UN] ? (char *)str(r, m[K_UN]) : NULL;
	e->group = m[K_GN] ? (char *)str(r, m[K_GN]) : NULL;
	if (!get_i64(r, m[K_MT], &e->mtime_ns))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"mt\"", p);
	if (m[K_CT] && !get_i64(r, m[K_CT], &e->ctime_ns))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"ct\"", p);
	if (m[K_I] && !get_u64(r, m[K_I], UINT64_MAX, &e->ino))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"i\"", p);
	if (m[K_S] && !get_u64(r, m[K_S], INT64_MAX, &e->size))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"s\"", p);
	if (m[K_SP] && !is_bool(m[K_SP]))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"sp\"", p);
	e->sparse = is_true(m[K_SP]);
	if (m[K_ERR] && !is_str(m[K_ERR]))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad \"err\"", p);
	e->error = m[K_ERR] ? (char *)str(r, m[K_ERR]) : NULL;

	rc = get_bytes(r, m[K_H], m[K_HB], 2, "h", &e->link, &e->link_len, err);
	if (rc < 0)
		return rc;
	if (rc && (e->type == BFS_T_DIR ||
		   !bfs_manifest_path_valid(e->link, e->link_len)))
		return rfail(r, err, -EUCLEAN, "'%.300s': bad hardlink \"h\"",
			     p);

	rc = get_bytes(r, m[K_L], m[K_LB], 1, "l", &e->target, &e->target_len,
		       err);
	if (rc < 0)
		return rc;
	if (e->type == BFS_T_SYMLINK) {
		/* a hardlink to a symlink may omit the target */
		if ((!rc && !e->link) ||
		    (rc && (e->target_len == 0 ||
			    e->target_len > BFS_SYMLINK_TARGET_MAX)))
			return rfail(r, err, -EUCLEAN,
				     "'%.300s': symlink without a valid target",
				     p);
		if (rc && m[K_S] && e->size != e->target_len)
			return rfail(
			    r, err, -EUCLEAN,
			    "'%.300s': symlink size is not the target length",
			    p);
		if (rc)
			e->size = e->target_len;
	} else if (rc) {
		return rfail(
		    r, err, -EUCLEAN,
		    "'%.300s': \"l\" on an entry that is not a symlink", p);
	}

	if (m[K_R]) {
		if (e->type != BFS_T_CHR && e->type != BFS_T_BLK)
			return rfail(
			    r, err, -EUCLEAN,
			    "'%.300s': \"r\" on an entry that is not a device",
			    p);
		if (!get_u64(r, m[K_R], UINT64_MAX, &e->rdev))
			return rfail(r, err, -EUCLEAN, "'%.300s': bad \"r\"",
				     p);
	}

	if (e->type == BFS_T_FILE && !m[K_S])
		return rfail(r, err, -EUCLEAN, "'%.300s': file without \"s\"",
			     p);
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
				     " bytes, size is %" PRIu64,
				     p, sum, e->size);
	}
	return 0;
}

/* The end line {"end":{"entries":N,"chunks":M}}: counts must match. */
static int parse_end(struct bfs_manifest_reader *r, const struct bfs_jnode *end,
		     struct bfs_err *err)
{
	static const char *const ekeys[] = {"entries", "chunks", NULL};
	const struct bfs_jnode *ek[3];
	uint64_t ne, nc;

	if (r->version != BFS_FORMAT_VERSION_1) {
		/* {"end":{"entries":N}}, N == "count", nothing before */
		if (r->entries || r->nchunks || end->type != BFS_J_OBJ ||
		    members(r, end, ekeys, ek) || ek[1] ||
		    !get_u64(r, ek[0], UINT64_MAX, &ne) || ne != r->count)
			return rfail(r, err, -EUCLEAN, "bad end line");
		return 0;
	}
	if (r->nchunks)
		return rfail(r, err, -EUCLEAN, "chunks before the end line");
	if (end->type != BFS_J_OBJ || members(r, end, ekeys, ek) ||
	    !get_u64(r, ek[0], UINT64_MAX, &ne) ||
	    !get_u64(r, ek[1], UINT64_MAX, &nc))
		return rfail(r, err, -EUCLEAN, "bad end line");
	if (ne != r->entries || nc != r->total_chunks)
		return rfail(r, err, -EUCLEAN,
			     "end line counts %" PRIu64 " entries and %" PRIu64
			     " chunks, found %" PRIu64 " and %" PRIu64,
			     ne, nc, r->entries, r->total_chunks);
	return 0;
}

/*
 * Next entry; see manifest.h.  After an error every further call returns
 * the same error.  Not thread-safe (one reader per thread).
 */
int bfs_manifest_reader_next(struct bfs_manifest_reader *r, struct bfs_entry *e,
			     const struct bfs_chunkref **chunks,
			     size_t *nchunks, struct bfs_err *err)
{
	static const char *const keys[] = {
	    "p", "pb", "t",  "m", "u", "g",  "un", "gn",  "mt", "ct",  "i",
	    "s", "l",  "lb", "r", "h", "hb", "sp", "err", "c",	"end", NULL};
	const struct bfs_jnode *m[K_NKEYS + 1];
	const char *dup;
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
		rc = parse_line(r, err);
		if (rc)
			return rc;
		dup = members(r, &r->doc.v[0], keys, m);
		if (dup)
			return rfail(r, err, -EUCLEAN, "duplicate key \"%s\"",
				     dup);
		if ((m[K_C] != NULL) + (m[K_END] != NULL) +
			(m[K_P] || m[K_PB]) !=
		    1)
			return rfail(r, err, -EUCLEAN,
				     "not a chunk, entry or end line");
		if (m[K_C]) {
			rc = parse_chunks(r, m[K_C], err);
			if (rc)
				return rc;
			continue;
		}
		if (m[K_END])
			break;
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
	rc = parse_end(r, m[K_END], err);
	if (rc)
		return rc;
	rc = next_line(r, err);
	if (rc > 0)
		return rfail(r, err, -EUCLEAN, "data after the end line");
	if (rc < 0)
		return rc;
	r->done = true;
	return 0;
}
