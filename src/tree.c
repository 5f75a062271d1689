/* tree.c - tree lines, tree parts, chunk-list blobs and the part cutter
 * of format 2.  See tree.h and doc/FORMAT.md section 6.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "manifest_int.h"
#include "tree.h"

void bfs_blobref_pack(uint8_t out[BFS_BLOBREF_BLOB],
		      const struct bfs_blobref *r)
{
	memcpy(out, r->hash, BFS_HASH_LEN);
	bfs_put_le32(out + BFS_HASH_LEN, r->len);
}

void bfs_blobref_unpack(struct bfs_blobref *r,
			const uint8_t in[BFS_BLOBREF_BLOB])
{
	memcpy(r->hash, in, BFS_HASH_LEN);
	r->len = bfs_get_le32(in + BFS_HASH_LEN);
}

int bfs_tree_name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

/* One valid path component: 1..BFS_NAME_MAX bytes, no '/', no NUL, not
 * "." or "..". */
static bool name_valid(const char *s, size_t n)
{
	if (!s || n == 0 || n > BFS_NAME_MAX || memchr(s, '/', n) ||
	    memchr(s, 0, n))
		return false;
	return !(n == 1 && s[0] == '.') && !(n == 2 && !memcmp(s, "..", 2));
}

/* ---- writing lines ------------------------------------------------------ */

/* Id h as a JSON string: no printf, a tree line holds one per chunk. */
static int put_hex(struct bfs_buf *b, const uint8_t h[BFS_HASH_LEN])
{
	int rc = bfs_buf_reserve(b, BFS_HASH_HEX + 3);

	if (rc)
		return rc;
	b->data[b->len] = '"';
	bfs_hex((char *)b->data + b->len + 1, h, BFS_HASH_LEN);
	b->data[b->len + 1 + BFS_HASH_HEX] = '"';
	b->len += BFS_HASH_HEX + 2;
	return 0;
}

/* ",<v>]" */
static int put_len_close(struct bfs_buf *b, uint32_t v)
{
	char tmp[12];
	size_t n = 0;

	tmp[sizeof(tmp) - 1 - n++] = ']';
	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	tmp[sizeof(tmp) - 1 - n++] = ',';
	return bfs_buf_append(b, tmp + sizeof(tmp) - n, n);
}

static int put_ids(struct bfs_buf *b, const char *key,
		   const uint8_t (*ids)[BFS_HASH_LEN], size_t n)
{
	int rc = bfs_buf_printf(b, ",\"%s\":[", key);

	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = bfs_buf_append(b, ",", 1);
		if (!rc)
			rc = put_hex(b, ids[i]);
	}
	return rc ? rc : bfs_buf_append(b, "]", 1);
}

static int put_refs(struct bfs_buf *b, const struct bfs_blobref *refs, size_t n)
{
	int rc = bfs_buf_append(b, "[", 1);

	for (size_t i = 0; i < n && !rc; i++) {
		rc = bfs_buf_append(b, i ? ",[" : "[", i ? 2 : 1);
		if (!rc)
			rc = put_hex(b, refs[i].hash);
		if (!rc)
			rc = put_len_close(b, refs[i].len);
	}
	return rc ? rc : bfs_buf_append(b, "]", 1);
}

static int line_check(const struct bfs_tree_entry *te, struct bfs_err *err)
{
	const struct bfs_entry *e = &te->e;
	bool file = e->type == BFS_T_FILE, dir = e->type == BFS_T_DIR;
	uint64_t sum = 0;

	if (!name_valid(e->path, e->path_len))
		return bfs_err_set(err, -EINVAL, "invalid name '%.300s'",
				   e->path ? e->path : "");
	if (!bfs_manifest_type_valid(e->type))
		return bfs_err_set(err, -EINVAL, "'%s': invalid type %d",
				   e->path, e->type);
	if ((te->nchunks || te->nlists) && (!file || e->link))
		return bfs_err_set(err, -EINVAL,
				   "'%s': content on an entry without any",
				   e->path);
	if (te->nchunks && te->nlists)
		return bfs_err_set(err, -EINVAL, "'%s': both \"c\" and \"cl\"",
				   e->path);
	if (te->nchunks > BFS_TREE_INLINE_REFS)
		return bfs_err_set(err, -EINVAL, "'%s': %zu inline refs",
				   e->path, te->nchunks);
	if (te->dt && (!file || e->link))
		return bfs_err_set(err, -EINVAL, "'%s': \"dt\" on a non-file",
				   e->path);
	if (te->sk && (!file || e->link))
		return bfs_err_set(err, -EINVAL, "'%s': \"sk\" on a non-file",
				   e->path);
	if (te->sa && (!file || e->link))
		return bfs_err_set(err, -EINVAL, "'%s': \"sa\" on a non-file",
				   e->path);
	if ((te->nparts || te->count) && !dir)
		return bfs_err_set(err, -EINVAL, "'%s': a tree on a non-dir",
				   e->path);
	if (e->link && (dir || !bfs_manifest_path_valid(e->link, e->link_len)))
		return bfs_err_set(err, -EINVAL, "'%s': bad hardlink", e->path);
	if (file && !e->link && !e->error && !te->nlists) {
		for (size_t i = 0; i < te->nchunks; i++)
			sum += te->chunks[i].len;
		if (sum != e->size)
			return bfs_err_set(err, -EINVAL,
					   "'%s': chunks hold %" PRIu64
					   " bytes, size is %" PRIu64,
					   e->path, sum, e->size);
	}
	return 0;
}

const struct bfs_tree_key bfs_tree_keys[BFS_TREE_NKEYS] = {
    {"dt", BFS_TKEY_BLOB, offsetof(struct bfs_tree_entry, dt)},
};

int bfs_tree_line(struct bfs_buf *out, const struct bfs_tree_entry *te,
		  struct bfs_err *err)
{
	const struct bfs_entry *e = &te->e;
	size_t start = out->len;
	int rc = line_check(te, err);

	if (rc)
		return rc;
	rc = bfs_buf_append(out, "{", 1);
	if (!rc)
		rc = bfs_manifest_entry_keys(out, e, "n", "nb");
	if (!rc && te->nl)
		rc = bfs_buf_printf(out, ",\"nl\":%" PRIu32, te->nl);
	if (!rc && te->nchunks) {
		rc = bfs_buf_append(out, ",\"c\":", 5);
		if (!rc)
			rc = put_refs(out, te->chunks, te->nchunks);
	}
	if (!rc && te->nlists)
		rc = put_ids(out, "cl", te->lists, te->nlists);
	if (!rc && te->dt) {
		char hex[BFS_HASH_HEX + 1];

		bfs_hex(hex, te->dt, BFS_HASH_LEN);
		rc = bfs_buf_printf(out, ",\"dt\":\"%s\"", hex);
	}
	if (!rc && te->sk) {
		char hex[BFS_HASH_HEX + 1];

		bfs_hex(hex, te->sk, BFS_HASH_LEN);
		rc = bfs_buf_printf(out, ",\"sk\":\"%s\"", hex);
	}
	if (!rc && te->sa) {
		char hex[BFS_HASH_HEX + 1];

		bfs_hex(hex, te->sa, BFS_HASH_LEN);
		rc = bfs_buf_printf(out, ",\"sa\":\"%s\"", hex);
	}
	if (!rc && e->type == BFS_T_DIR) {
		rc = put_ids(out, "tree", te->parts, te->nparts);
		if (!rc)
			rc = bfs_buf_printf(out, ",\"count\":%" PRIu64,
					    te->count);
	}
	if (!rc)
		rc = bfs_buf_append(out, "}\n", 2);
	if (rc) {
		out->len = start;
		return bfs_err_set(err, rc, "out of memory");
	}
	if (out->len - start > BFS_TREE_MAX_LINE) {
		out->len = start;
		return bfs_err_set(err, -ENAMETOOLONG,
				   "'%.300s': tree line longer than %u bytes",
				   e->path, BFS_TREE_MAX_LINE);
	}
	return 0;
}

/* ---- reading parts ------------------------------------------------------ */

enum {
	K_N,
	K_NB,
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
	K_CL,
	K_TREE,
	K_COUNT,
	K_NL,
	K_DT,
	K_SK,
	K_SA,
	K_NKEYS
};

struct bfs_tree_part {
	char *text; /* a private copy (the JSON parser decodes in place) */
	size_t len, pos;
	uint64_t lineno;
	struct bfs_jdoc doc;
	char *dec[3]; /* base64-decoded name, target, link */
	struct bfs_blobref *refs;
	size_t refcap;
	uint8_t (*ids)[BFS_HASH_LEN];
	size_t idcap;
	char *prev;		  /* previous name in this part */
	size_t prevlen;		  /* (copy: the line buffer is reused) */
	uint8_t dt[BFS_HASH_LEN]; /* the current line's "dt" */
	uint8_t sk[BFS_HASH_LEN]; /* the current line's "sk" */
	uint8_t sa[BFS_HASH_LEN]; /* the current line's "sa" */
};

int bfs_tree_part_open(const void *data, size_t len, struct bfs_tree_part **out,
		       struct bfs_err *err)
{
	struct bfs_tree_part *p;

	*out = NULL;
	if (len > BFS_TREE_PART_MAX)
		return bfs_err_set(err, -EUCLEAN,
				   "tree part of %zu bytes (limit %u)", len,
				   BFS_TREE_PART_MAX);
	if (len && ((const char *)data)[len - 1] != '\n')
		return bfs_err_set(err, -EUCLEAN,
				   "tree part does not end with a newline");
	p = calloc(1, sizeof(*p));
	if (!p || !(p->text = malloc(len + 1))) {
		free(p);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(p->text, data, len);
	p->text[len] = 0;
	p->len = len;
	*out = p;
	return 0;
}

static void clear_current(struct bfs_tree_part *p)
{
	for (size_t i = 0; i < BFS_ARRAY_SIZE(p->dec); i++) {
		free(p->dec[i]);
		p->dec[i] = NULL;
	}
}

void bfs_tree_part_free(struct bfs_tree_part *p)
{
	if (!p)
		return;
	clear_current(p);
	bfs_jdoc_free(&p->doc);
	free(p->text);
	free(p->refs);
	free(p->ids);
	free(p->prev);
	free(p);
}

__attribute__((format(printf, 4, 5))) static int pfail(struct bfs_tree_part *p,
						       struct bfs_err *err,
						       int code,
						       const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return bfs_err_set(err, code, "tree line %" PRIu64 ": %s", p->lineno,
			   msg);
}

static const char *jstr(const struct bfs_tree_part *p,
			const struct bfs_jnode *x)
{
	return bfs_jstr(&p->doc, x);
}

static bool is_str(const struct bfs_jnode *x)
{
	return x && x->type == BFS_J_STR;
}

static bool hexid(const struct bfs_tree_part *p, const struct bfs_jnode *x,
		  uint8_t out[BFS_HASH_LEN])
{
	const char *s;

	if (!is_str(x) || x->len != BFS_HASH_HEX)
		return false;
	s = jstr(p, x);
	for (size_t i = 0; i < BFS_HASH_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return bfs_unhex(out, s, BFS_HASH_LEN) == 0;
}

/* key or keyb: 1 with the bytes in *s, *n; 0 when absent; <0 on error. */
static int get_bytes(struct bfs_tree_part *p, const struct bfs_jnode *plain,
		     const struct bfs_jnode *b64, int slot, const char *key,
		     char **s, size_t *n, struct bfs_err *err)
{
	uint8_t *dec;
	size_t dlen;
	int rc;

	*s = NULL;
	*n = 0;
	if (plain && b64)
		return pfail(p, err, -EUCLEAN, "both \"%s\" and \"%sb\"", key,
			     key);
	if (plain) {
		if (!is_str(plain))
			return pfail(p, err, -EUCLEAN, "bad \"%s\"", key);
		*s = (char *)jstr(p, plain);
		*n = plain->len;
		return 1;
	}
	if (!b64)
		return 0;
	if (!is_str(b64))
		return pfail(p, err, -EUCLEAN, "bad \"%sb\"", key);
	rc = bfs_b64_decode(jstr(p, b64), &dec, &dlen);
	if (rc == -ENOMEM)
		return pfail(p, err, rc, "out of memory");
	if (rc)
		return pfail(p, err, -EUCLEAN, "bad base64 in \"%sb\"", key);
	if (memchr(dec, 0, dlen)) {
		free(dec);
		return pfail(p, err, -EUCLEAN, "NUL byte in \"%sb\"", key);
	}
	p->dec[slot] = (char *)dec;
	*s = (char *)dec;
	*n = dlen;
	return 1;
}

static bool get_u64(const struct bfs_tree_part *p, const struct bfs_jnode *x,
		    uint64_t max, uint64_t *v)
{
	return x && bfs_jdoc_u64(&p->doc, x, max, v);
}

/* An array of hex ids into p->ids. */
static int get_ids(struct bfs_tree_part *p, const struct bfs_jnode *a,
		   const char *key, size_t *n, bool allow_empty,
		   struct bfs_err *err)
{
	const struct bfs_jnode *x;
	size_t k = 0;

	if (!a || a->type != BFS_J_ARR || (!a->child && !allow_empty))
		return pfail(p, err, -EUCLEAN, "bad \"%s\"", key);
	for (x = bfs_jdoc_node(&p->doc, a->child); x;
	     x = bfs_jdoc_node(&p->doc, x->next), k++) {
		if (k == p->idcap) {
			size_t nc = p->idcap ? p->idcap * 2 : 16;
			void *nv = realloc(p->ids, nc * sizeof(*p->ids));

			if (!nv)
				return pfail(p, err, -ENOMEM, "out of memory");
			p->ids = nv;
			p->idcap = nc;
		}
		if (!hexid(p, x, p->ids[k]))
			return pfail(p, err, -EUCLEAN, "bad id in \"%s\"", key);
	}
	*n = k;
	return 0;
}

/* [["hex",len],...] into p->refs; *sum gets the total length. */
static int get_refs(struct bfs_tree_part *p, const struct bfs_jnode *a,
		    size_t max, size_t *n, uint64_t *sum, struct bfs_err *err)
{
	const struct bfs_jnode *x, *h, *l;
	uint64_t v;
	size_t k = 0;

	*sum = 0;
	if (!a || a->type != BFS_J_ARR || !a->child)
		return pfail(p, err, -EUCLEAN, "bad chunk list");
	for (x = bfs_jdoc_node(&p->doc, a->child); x;
	     x = bfs_jdoc_node(&p->doc, x->next), k++) {
		if (k == max)
			return pfail(p, err, -EUCLEAN,
				     "more than %zu refs in a chunk list", max);
		if (k == p->refcap) {
			size_t nc = p->refcap ? p->refcap * 2 : 64;
			void *nv = realloc(p->refs, nc * sizeof(*p->refs));

			if (!nv)
				return pfail(p, err, -ENOMEM, "out of memory");
			p->refs = nv;
			p->refcap = nc;
		}
		h = x->type == BFS_J_ARR ? bfs_jdoc_node(&p->doc, x->child)
					 : NULL;
		l = h ? bfs_jdoc_node(&p->doc, h->next) : NULL;
		if (!l || l->next || !hexid(p, h, p->refs[k].hash) ||
		    !get_u64(p, l, BFS_CHUNK_MAX_LIMIT, &v) || v == 0)
			return pfail(p, err, -EUCLEAN,
				     "bad ref %zu in a chunk list", k);
		p->refs[k].len = (uint32_t)v;
		*sum += v;
	}
	*n = k;
	return 0;
}

static int parse_entry(struct bfs_tree_part *p, struct bfs_tree_entry *te,
		       const struct bfs_jnode *const *m, struct bfs_err *err)
{
	struct bfs_entry *e = &te->e;
	uint64_t v, sum = 0;
	const char *n;
	bool file, dir;
	int rc;

	rc = get_bytes(p, m[K_N], m[K_NB], 0, "n", &e->path, &e->path_len, err);
	if (rc < 0)
		return rc;
	if (rc && e->path_len > BFS_NAME_MAX)
		return pfail(p, err, -EUCLEAN,
			     "name of %zu bytes (at most %d): '%.40s...'",
			     e->path_len, BFS_NAME_MAX, e->path);
	if (rc == 0 || !name_valid(e->path, e->path_len))
		return pfail(p, err, -EUCLEAN, "bad name");
	n = e->path;
	if (!is_str(m[K_T]) || m[K_T]->len != 1 ||
	    !bfs_manifest_type_valid(jstr(p, m[K_T])[0]))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"t\"", n);
	e->type = jstr(p, m[K_T])[0];
	file = e->type == BFS_T_FILE;
	dir = e->type == BFS_T_DIR;
	if (!get_u64(p, m[K_M], BFS_MODE_MASK, &v))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"m\"", n);
	e->mode = (uint32_t)v;
	if (!get_u64(p, m[K_U], UINT32_MAX, &v))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"u\"", n);
	e->uid = (uint32_t)v;
	if (!get_u64(p, m[K_G], UINT32_MAX, &v))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"g\"", n);
	e->gid = (uint32_t)v;
	if ((m[K_UN] && !is_str(m[K_UN])) || (m[K_GN] && !is_str(m[K_GN])))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"un\"/\"gn\"",
			     n);
	e->user = m[K_UN] ? (char *)jstr(p, m[K_UN]) : NULL;
	e->group = m[K_GN] ? (char *)jstr(p, m[K_GN]) : NULL;
	if (!m[K_MT] || !bfs_jdoc_i64(&p->doc, m[K_MT], &e->mtime_ns))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"mt\"", n);
	if (m[K_CT] && !bfs_jdoc_i64(&p->doc, m[K_CT], &e->ctime_ns))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"ct\"", n);
	if (m[K_I] && !get_u64(p, m[K_I], UINT64_MAX, &e->ino))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"i\"", n);
	if (m[K_S] && !get_u64(p, m[K_S], INT64_MAX, &e->size))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"s\"", n);
	if (m[K_SP] && m[K_SP]->type != BFS_J_TRUE &&
	    m[K_SP]->type != BFS_J_FALSE)
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"sp\"", n);
	e->sparse = m[K_SP] && m[K_SP]->type == BFS_J_TRUE;
	if (m[K_ERR] && !is_str(m[K_ERR]))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad \"err\"", n);
	e->error = m[K_ERR] ? (char *)jstr(p, m[K_ERR]) : NULL;

	rc = get_bytes(p, m[K_H], m[K_HB], 2, "h", &e->link, &e->link_len, err);
	if (rc < 0)
		return rc;
	if (rc && (dir || !bfs_manifest_path_valid(e->link, e->link_len)))
		return pfail(p, err, -EUCLEAN, "'%.300s': bad hardlink \"h\"",
			     n);
	rc = get_bytes(p, m[K_L], m[K_LB], 1, "l", &e->target, &e->target_len,
		       err);
	if (rc < 0)
		return rc;
	if (e->type == BFS_T_SYMLINK) {
		if (rc && e->target_len > BFS_SYMLINK_TARGET_MAX)
			return pfail(p, err, -EUCLEAN,
				     "'%.300s': symlink target of %zu bytes "
				     "(at most %d)",
				     n, e->target_len, BFS_SYMLINK_TARGET_MAX);
		if ((!rc && !e->link) || (rc && e->target_len == 0))
			return pfail(p, err, -EUCLEAN,
				     "'%.300s': symlink without a valid target",
				     n);
		if (rc && m[K_S] && e->size != e->target_len)
			return pfail(
			    p, err, -EUCLEAN,
			    "'%.300s': symlink size is not the target length",
			    n);
		if (rc)
			e->size = e->target_len;
	} else if (rc) {
		return pfail(
		    p, err, -EUCLEAN,
		    "'%.300s': \"l\" on an entry that is not a symlink", n);
	}
	if (m[K_R]) {
		if (e->type != BFS_T_CHR && e->type != BFS_T_BLK)
			return pfail(p, err, -EUCLEAN,
				     "'%.300s': \"r\" on a non-device", n);
		if (!get_u64(p, m[K_R], UINT64_MAX, &e->rdev))
			return pfail(p, err, -EUCLEAN, "'%.300s': bad \"r\"",
				     n);
	}
	if (file && !m[K_S])
		return pfail(p, err, -EUCLEAN, "'%.300s': file without \"s\"",
			     n);
	if (m[K_NL]) {
		if (!file || e->link || !get_u64(p, m[K_NL], UINT32_MAX, &v) ||
		    v < 2)
			return pfail(p, err, -EUCLEAN, "'%.300s': bad \"nl\"",
				     n);
		te->nl = (uint32_t)v;
	}

	/* content */
	if ((m[K_C] || m[K_CL]) && (!file || e->link))
		return pfail(p, err, -EUCLEAN,
			     "'%.300s': chunks on an entry without content", n);
	if (m[K_C] && m[K_CL])
		return pfail(p, err, -EUCLEAN,
			     "'%.300s': both \"c\" and \"cl\"", n);
	if (m[K_C]) {
		rc = get_refs(p, m[K_C], BFS_TREE_INLINE_REFS, &te->nchunks,
			      &sum, err);
		if (rc)
			return rc;
		te->chunks = p->refs;
	}
	if (m[K_CL]) {
		rc = get_ids(p, m[K_CL], "cl", &te->nlists, false, err);
		if (rc)
			return rc;
		te->lists = (const uint8_t(*)[BFS_HASH_LEN])p->ids;
		/* a list of lists holds more than one inline line would */
		if ((uint64_t)te->nlists * BFS_CHUNK_MAX_LIMIT *
			BFS_TREE_INLINE_REFS <
		    e->size)
			return pfail(p, err, -EUCLEAN,
				     "'%.300s': \"cl\" too short for \"s\"", n);
	}
	if (file && !e->link && !e->error && !m[K_CL] && sum != e->size)
		return pfail(p, err, -EUCLEAN,
			     "'%.300s': chunks hold %" PRIu64
			     " bytes, size is %" PRIu64,
			     n, sum, e->size);
	if (m[K_DT]) {
		if (!file || e->link || !hexid(p, m[K_DT], p->dt))
			return pfail(p, err, -EUCLEAN, "'%.300s': bad \"dt\"",
				     n);
		te->dt = p->dt;
	}
	if (m[K_SK]) {
		if (!file || e->link || !hexid(p, m[K_SK], p->sk))
			return pfail(p, err, -EUCLEAN, "'%.300s': bad \"sk\"",
				     n);
		te->sk = p->sk;
	}
	if (m[K_SA]) {
		if (!file || e->link || !hexid(p, m[K_SA], p->sa))
			return pfail(p, err, -EUCLEAN, "'%.300s': bad \"sa\"",
				     n);
		te->sa = p->sa;
	}
	if (dir) {
		if (!m[K_COUNT] || !m[K_TREE])
			return pfail(p, err, -EUCLEAN,
				     "'%.300s': directory without \"tree\" "
				     "and \"count\"",
				     n);
		rc = get_ids(p, m[K_TREE], "tree", &te->nparts, true, err);
		if (rc)
			return rc;
		te->parts = (const uint8_t(*)[BFS_HASH_LEN])p->ids;
		if (!get_u64(p, m[K_COUNT], (1ull << 40) - 1, &te->count) ||
		    (te->nparts == 0) != (te->count == 0))
			return pfail(p, err, -EUCLEAN,
				     "'%.300s': bad \"count\"", n);
	} else if (m[K_TREE] || m[K_COUNT]) {
		return pfail(p, err, -EUCLEAN,
			     "'%.300s': \"tree\" on a non-directory", n);
	}
	return 0;
}

int bfs_tree_part_next(struct bfs_tree_part *p, struct bfs_tree_entry *te,
		       struct bfs_err *err)
{
	static const char *const keys[] = {
	    "n",  "nb",	  "t",	   "m",	 "u",  "g",  "un", "gn", "mt",	"ct",
	    "i",  "s",	  "l",	   "lb", "r",  "h",  "hb", "sp", "err", "c",
	    "cl", "tree", "count", "nl", "dt", "sk", "sa", NULL};
	const struct bfs_jnode *m[K_NKEYS + 1];
	const char *why = "", *dup;
	size_t end = 0, at = 0, linelen;
	char *line, *nl;
	int rc;

	memset(te, 0, sizeof(*te));
	clear_current(p);
	if (p->pos >= p->len)
		return 0;
	line = p->text + p->pos;
	nl = memchr(line, '\n', p->len - p->pos);
	linelen = (size_t)(nl - line); /* the part ends with '\n' */
	*nl = 0;
	p->pos += linelen + 1;
	p->lineno++;
	rc = bfs_jdoc_parse(&p->doc, line, linelen, &end, &why, &at);
	if (rc == -ENOMEM)
		return pfail(p, err, rc, "out of memory");
	if (rc)
		return pfail(p, err, -EUCLEAN, "bad JSON: %s near byte %zu",
			     why, at);
	if (end != linelen || p->doc.v[0].type != BFS_J_OBJ)
		return pfail(p, err, -EUCLEAN, "bad JSON: not one object");
	dup = bfs_jdoc_members(&p->doc, &p->doc.v[0], keys, m);
	if (dup)
		return pfail(p, err, -EUCLEAN, "duplicate key \"%s\"", dup);
	rc = parse_entry(p, te, m, err);
	if (rc) {
		memset(te, 0, sizeof(*te));
		return rc;
	}
	if (p->prev && bfs_tree_name_cmp(p->prev, p->prevlen, te->e.path,
					 te->e.path_len) >= 0) {
		memset(te, 0, sizeof(*te));
		return pfail(p, err, -EUCLEAN,
			     "names not sorted or not unique");
	}
	free(p->prev);
	p->prev = malloc(te->e.path_len ? te->e.path_len : 1);
	if (!p->prev)
		return pfail(p, err, -ENOMEM, "out of memory");
	memcpy(p->prev, te->e.path, te->e.path_len);
	p->prevlen = te->e.path_len;
	return 1;
}

int bfs_tree_part_skip(struct bfs_tree_part *p, size_t n, const char *last,
		       size_t lastlen, struct bfs_err *err)
{
	char *nl;

	clear_current(p);
	for (; n; n--) {
		if (p->pos >= p->len)
			return pfail(p, err, -EUCLEAN,
				     "fewer lines than known");
		nl = memchr(p->text + p->pos, '\n', p->len - p->pos);
		p->pos =
		    (size_t)(nl - p->text) + 1; /* the part ends with '\n' */
		p->lineno++;
	}
	free(p->prev);
	p->prev = malloc(lastlen ? lastlen : 1);
	if (!p->prev)
		return pfail(p, err, -ENOMEM, "out of memory");
	memcpy(p->prev, last, lastlen);
	p->prevlen = lastlen;
	return 0;
}

/* ---- chunk-list blobs ----------------------------------------------------
 */

int bfs_tree_list_encode(struct bfs_buf *out, const struct bfs_blobref *refs,
			 size_t n)
{
	if (n == 0 || n > BFS_TREE_INLINE_REFS)
		return -EINVAL;
	out->len = 0;
	return put_refs(out, refs, n);
}

int bfs_tree_list_parse(const void *data, size_t len, struct bfs_blobref **refs,
			size_t *n, struct bfs_err *err)
{
	struct bfs_tree_part p = {0};
	const char *why = "";
	size_t end = 0, at = 0;
	uint64_t sum;
	int rc;

	*refs = NULL;
	*n = 0;
	if (len > BFS_TREE_PART_MAX)
		return bfs_err_set(err, -EUCLEAN, "chunk list of %zu bytes",
				   len);
	p.text = malloc(len + 1);
	if (!p.text)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	memcpy(p.text, data, len);
	p.text[len] = 0;
	p.lineno = 1;
	rc = bfs_jdoc_parse(&p.doc, p.text, len, &end, &why, &at);
	if (rc == -ENOMEM) {
		rc = bfs_err_set(err, rc, "out of memory");
	} else if (rc || end != len) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "chunk list: bad JSON: %s near byte %zu", why,
				 at);
	} else {
		rc = get_refs(&p, &p.doc.v[0], BFS_TREE_INLINE_REFS, n, &sum,
			      err);
	}
	if (!rc) {
		*refs = p.refs;
		p.refs = NULL;
	}
	bfs_jdoc_free(&p.doc);
	free(p.text);
	free(p.refs);
	free(p.ids);
	return rc;
}

/* ---- the cutter ----------------------------------------------------------
 */

static uint64_t fnv1a64(const uint8_t *s, size_t n);

uint64_t bfs_tree_line_hash(const void *line, size_t len)
{
	return fnv1a64(line, len);
}

static uint64_t fnv1a64(const uint8_t *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void bfs_tree_cutter_init(struct bfs_tree_cutter *c, bfs_tree_part_cb cb,
			  void *arg)
{
	memset(c, 0, sizeof(*c));
	c->cb = cb;
	c->arg = arg;
}

static int emit(struct bfs_tree_cutter *c, struct bfs_err *err)
{
	int rc;

	if (!c->part.len)
		return 0;
	rc = c->cb(c->arg, c->part.data, c->part.len, err);
	c->part.len = 0;
	c->parts++;
	return rc;
}

int bfs_tree_cutter_line(struct bfs_tree_cutter *c, const void *line,
			 size_t len, struct bfs_err *err)
{
	int rc;

	if (len == 0 || len > BFS_TREE_MAX_LINE ||
	    ((const char *)line)[len - 1] != '\n')
		return bfs_err_set(err, -EINVAL, "bad tree line");
	if (c->part.len + len > BFS_TREE_PART_MAX) {
		rc = emit(c, err);
		if (rc)
			return rc;
	}
	rc = bfs_buf_append(&c->part, line, len);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	if (c->part.len >= BFS_TREE_PART_MIN &&
	    (fnv1a64(line, len - 1) & BFS_TREE_CUT_MASK) == 0)
		return emit(c, err);
	return 0;
}

int bfs_tree_cutter_end(struct bfs_tree_cutter *c, struct bfs_err *err)
{
	return emit(c, err);
}

void bfs_tree_cutter_free(struct bfs_tree_cutter *c)
{
	bfs_buf_free(&c->part);
}
