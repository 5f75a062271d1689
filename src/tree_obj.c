/* tree_obj.c - the small objects of format 2: manifests that name a root
 * tree, and index objects (where each blob lives).  See tree.h and
 * doc/FORMAT.md sections 5 and 7.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "manifest_int.h"
#include "pack.h"
#include "tree.h"
#include "zlines.h"

/* ---- manifests ----------------------------------------------------------
 */

int bfs_manifest2_encode(struct bfs_buf *out,
			 const struct bfs_manifest_header *h,
			 const uint8_t (*root)[BFS_HASH_LEN], size_t nroot,
			 uint64_t count, struct bfs_err *err)
{
	struct bfs_buf text = {0};
	int rc;

	out->len = 0;
	rc = bfs_manifest_header_json(&text, h, BFS_MANIFEST_VERSION, root,
				      nroot, count, err);
	if (rc)
		goto out;
	if (text.len > BFS_MANIFEST_MAX_LINE + 1) {
		rc = bfs_err_set(err, -ENAMETOOLONG,
				 "manifest header line too long");
		goto out;
	}
	rc = bfs_buf_printf(&text, "{\"end\":{\"entries\":%" PRIu64 "}}\n",
			    count);
	if (!rc)
		rc = bfs_zstd_compress(out, text.data, text.len,
				       BFS_MANIFEST_ZSTD_LEVEL, err);
	else
		rc = bfs_err_set(err, rc, "out of memory");
out:
	bfs_buf_free(&text);
	return rc;
}

int bfs_manifest2_parse(const void *data, size_t len, struct bfs_manifest2 *m,
			struct bfs_err *err)
{
	const uint8_t(*root)[BFS_HASH_LEN];
	const struct bfs_manifest_header *h;
	struct bfs_manifest_reader *r;
	const struct bfs_chunkref *ch;
	const char *line;
	struct bfs_entry e;
	size_t nch, i;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = bfs_manifest_reader_new(data, len, &r, err);
	if (rc)
		return rc;
	if (bfs_manifest_reader_version(r, &root, &m->nroot, &m->count) !=
	    BFS_MANIFEST_VERSION) {
		rc = bfs_err_set(err, -EPROTO,
				 "format 1 manifest: run 'backupfs migrate'");
		goto out;
	}
	rc = bfs_manifest_reader_next(r, &e, &ch, &nch, err);
	if (rc > 0)
		rc = bfs_err_set(err, -EUCLEAN,
				 "entries in a version 2 "
				 "manifest");
	if (rc)
		goto out;
	h = bfs_manifest_reader_header(r);
	line = bfs_manifest_reader_header_line(r, &m->header_len);
	m->header_line = strndup(line, m->header_len);
	m->root = malloc((m->nroot ? m->nroot : 1) * sizeof(*m->root));
	m->h.id = strdup(h->id);
	m->h.host = strdup(h->host);
	m->h.job = h->job ? strdup(h->job) : NULL;
	m->h.sources_json = h->sources_json ? strdup(h->sources_json) : NULL;
	for (i = 0; h->tags[i]; i++)
		;
	m->h.tags = calloc(i + 1, sizeof(*m->h.tags));
	if (!m->header_line || !m->root || !m->h.id || !m->h.host ||
	    (h->job && !m->h.job) || !m->h.tags ||
	    (h->sources_json && !m->h.sources_json)) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; h->tags[i]; i++)
		if (!(m->h.tags[i] = strdup(h->tags[i]))) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	memcpy(m->root, root, m->nroot * sizeof(*m->root));
	m->h.time_ns = h->time_ns;
	m->h.stats = h->stats;
	m->h.partial = h->partial;
out:
	bfs_manifest_reader_free(r);
	if (rc)
		bfs_manifest2_clear(m);
	return rc;
}

void bfs_manifest2_clear(struct bfs_manifest2 *m)
{
	bfs_manifest_header_clear(&m->h);
	free(m->header_line);
	free(m->root);
	memset(m, 0, sizeof(*m));
}

/* ---- index objects -------------------------------------------------------
 */

struct bfs_idxobj_writer {
	struct bfs_buf text; /* the JSON lines (compressed at finish) */
	size_t packs;
};

int bfs_idxobj_writer_new(struct bfs_idxobj_writer **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void bfs_idxobj_writer_free(struct bfs_idxobj_writer *w)
{
	if (!w)
		return;
	bfs_buf_free(&w->text);
	free(w);
}

void bfs_idx_blobs_from_pack(struct bfs_idx_blob *out,
			     const struct bfs_pack_entry *e, size_t n,
			     const struct bfs_bases *bases)
{
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		memcpy(out[i].hash, e[i].hash, BFS_HASH_LEN);
		out[i].type = e[i].type;
		out[i].offset = e[i].offset;
		out[i].clen = e[i].clen;
		out[i].len = e[i].len;
		if (e[i].type == BFS_BLOB_DELTA || e[i].type == BFS_BLOB_DELTA2)
			out[i].bases = bases[i];
	}
}

int bfs_idxobj_writer_pack(struct bfs_idxobj_writer *w,
			   const uint8_t pack[BFS_HASH_LEN],
			   const struct bfs_idx_blob *blobs, size_t n)
{
	char hex[BFS_HASH_HEX + 1];
	size_t start = w->text.len;
	int rc;

	bfs_hex(hex, pack, BFS_HASH_LEN);
	rc = bfs_buf_printf(&w->text, "{\"pack\":\"%s\",\"blobs\":[", hex);
	for (size_t i = 0; i < n && !rc; i++) {
		bfs_hex(hex, blobs[i].hash, BFS_HASH_LEN);
		rc = bfs_buf_printf(
		    &w->text, "%s[\"%s\",%d,%" PRIu64 ",%" PRIu32 ",%" PRIu32,
		    i ? "," : "", hex, blobs[i].type, blobs[i].offset,
		    blobs[i].clen, blobs[i].len);
		if (!rc && blobs[i].type == BFS_BLOB_DELTA) {
			bfs_hex(hex, blobs[i].bases.id[0], BFS_HASH_LEN);
			rc = bfs_buf_printf(&w->text, ",\"%s\"", hex);
		}
		/* type 3: the bases as an array, in frame order */
		for (size_t j = 0; !rc && blobs[i].type == BFS_BLOB_DELTA2 &&
				   j < blobs[i].bases.n;
		     j++) {
			bfs_hex(hex, blobs[i].bases.id[j], BFS_HASH_LEN);
			rc = bfs_buf_printf(&w->text, "%s\"%s\"",
					    j ? "," : ",[", hex);
		}
		if (!rc && blobs[i].type == BFS_BLOB_DELTA2)
			rc = bfs_buf_append(&w->text, "]", 1);
		if (!rc)
			rc = bfs_buf_append(&w->text, "]", 1);
	}
	if (!rc)
		rc = bfs_buf_append(&w->text, "]}\n", 3);
	if (rc) {
		w->text.len = start;
		return rc;
	}
	w->packs++;
	return 0;
}

size_t bfs_idxobj_writer_packs(const struct bfs_idxobj_writer *w)
{
	return w->packs;
}

size_t bfs_idxobj_writer_bytes(const struct bfs_idxobj_writer *w)
{
	return w->text.len;
}

int bfs_idxobj_writer_finish(struct bfs_idxobj_writer *w, struct bfs_buf *out,
			     uint8_t name[BFS_HASH_LEN], struct bfs_err *err)
{
	int rc;

	out->len = 0;
	rc = bfs_zstd_compress(out, w->text.data, w->text.len,
			       BFS_MANIFEST_ZSTD_LEVEL, err);
	if (rc)
		return rc;
	bfs_sha256(name, out->data, out->len);
	bfs_buf_free(&w->text);
	w->packs = 0;
	return 0;
}

/* One base id of an index object's delta blob (node s, a 64-hex string)
 * appended to b: not the blob itself (hash), not one b holds already.
 * 0 or -EUCLEAN. */
static int idx_base(struct bfs_jdoc *d, const struct bfs_jnode *s,
		    struct bfs_bases *b, const uint8_t hash[BFS_HASH_LEN])
{
	uint8_t *id = b->id[b->n];
	size_t j;

	if (s->type != BFS_J_STR || s->len != BFS_HASH_HEX ||
	    bfs_unhex(id, bfs_jstr(d, s), BFS_HASH_LEN) ||
	    !memcmp(id, hash, BFS_HASH_LEN))
		return -EUCLEAN;
	for (j = 0; j < b->n; j++)
		if (!memcmp(id, b->id[j], BFS_HASH_LEN))
			return -EUCLEAN;
	b->n++;
	return 0;
}

/* One pack line of an index object. */
static int idx_line(struct bfs_jdoc *d, char *line, size_t len,
		    struct bfs_idx_blob **bv, size_t *bcap, size_t *n,
		    uint8_t pack[BFS_HASH_LEN], const char **why)
{
	static const char *const keys[] = {"pack", "blobs", NULL};
	const struct bfs_jnode *m[3], *x, *x2, *f[6];
	size_t end = 0, at = 0, k = 0, i;
	const char *jwhy = "";
	uint64_t v[4], expect = BFS_PACK_HEADER;
	int rc;

	*why = "bad JSON";
	rc = bfs_jdoc_parse(d, line, len, &end, &jwhy, &at);
	if (rc)
		return rc == -ENOMEM ? rc : -EUCLEAN;
	if (end != len || d->v[0].type != BFS_J_OBJ ||
	    bfs_jdoc_members(d, &d->v[0], keys, m) || !m[0] ||
	    m[0]->type != BFS_J_STR || m[0]->len != BFS_HASH_HEX ||
	    bfs_unhex(pack, bfs_jstr(d, m[0]), BFS_HASH_LEN) || !m[1] ||
	    m[1]->type != BFS_J_ARR) {
		*why = "bad \"pack\" or \"blobs\"";
		return -EUCLEAN;
	}
	for (x = bfs_jdoc_node(d, m[1]->child); x;
	     x = bfs_jdoc_node(d, x->next), k++) {
		if (k == *bcap) {
			size_t nc = *bcap ? *bcap * 2 : 256;
			void *nv = realloc(*bv, nc * sizeof(**bv));

			if (!nv)
				return -ENOMEM;
			*bv = nv;
			*bcap = nc;
		}
		f[0] = x->type == BFS_J_ARR ? bfs_jdoc_node(d, x->child) : NULL;
		for (i = 1; i < 6; i++)
			f[i] =
			    f[i - 1] ? bfs_jdoc_node(d, f[i - 1]->next) : NULL;
		*why = "bad blob";
		if (!f[4] || (f[5] && f[5]->next) || f[0]->type != BFS_J_STR ||
		    f[0]->len != BFS_HASH_HEX ||
		    bfs_unhex((*bv)[k].hash, bfs_jstr(d, f[0]), BFS_HASH_LEN))
			return -EUCLEAN;
		for (i = 0; i < 4; i++)
			if (!bfs_jdoc_u64(d, f[i + 1], BFS_PACK_MAX_SIZE,
					  &v[i]))
				return -EUCLEAN;
		memset(&(*bv)[k].bases, 0, sizeof((*bv)[k].bases));
		if (v[0] == BFS_BLOB_DELTA) {
			/* sixth element: the base id, never the blob itself */
			*why = "delta blob without a valid base id";
			if (!f[5] ||
			    idx_base(d, f[5], &(*bv)[k].bases, (*bv)[k].hash) ||
			    v[2] < BFS_HASH_LEN + 4)
				return -EUCLEAN;
		} else if (v[0] == BFS_BLOB_DELTA2) {
			/* sixth element: 2..4 distinct base ids */
			*why = "type-3 delta blob without a valid list of 2 "
			       "to 4 distinct base ids";
			if (!f[5] || f[5]->type != BFS_J_ARR)
				return -EUCLEAN;
			for (x2 = bfs_jdoc_node(d, f[5]->child); x2;
			     x2 = bfs_jdoc_node(d, x2->next))
				if ((*bv)[k].bases.n == BFS_DELTA_MAX_BASES ||
				    idx_base(d, x2, &(*bv)[k].bases,
					     (*bv)[k].hash))
					return -EUCLEAN;
			if ((*bv)[k].bases.n < 2 ||
			    v[2] < BFS_DELTA2_HEAD((*bv)[k].bases.n) + 4)
				return -EUCLEAN;
		} else if (f[5]) {
			*why = "bad blob (six elements, not a delta)";
			return -EUCLEAN;
		}
		if ((v[0] != BFS_BLOB_DATA && v[0] != BFS_BLOB_TREE &&
		     v[0] != BFS_BLOB_DELTA && v[0] != BFS_BLOB_DELTA2) ||
		    v[1] != expect || v[2] == 0 || v[2] > BFS_CHUNK_CLEN_MAX ||
		    v[3] == 0 || v[3] > BFS_CHUNK_MAX_LIMIT ||
		    v[1] + v[2] > BFS_PACK_MAX_SIZE) {
			*why = "blob with a bad type, offset or length";
			return -EUCLEAN;
		}
		expect = v[1] + v[2];
		(*bv)[k].type = (int)v[0];
		(*bv)[k].offset = v[1];
		(*bv)[k].clen = (uint32_t)v[2];
		(*bv)[k].len = (uint32_t)v[3];
	}
	*n = k;
	return 0;
}

/* Streamed (zlines.h): memory is the longest line (one pack's blobs,
 * at most BFS_IDXOBJ_MAX_LINE), never the size the frame claims; lines
 * before a defect have reached cb when it is found. */
int bfs_idxobj_parse(const void *data, size_t len, bfs_idxobj_cb cb, void *arg,
		     struct bfs_err *err)
{
	unsigned long long size = ZSTD_getFrameContentSize(data, len);
	struct bfs_idx_blob *bv = NULL;
	struct bfs_jdoc d = {0};
	struct bfs_zlines z;
	uint8_t pack[BFS_HASH_LEN];
	size_t bcap = 0, n, flen;
	const char *why = "";
	int rc;

	if (size == ZSTD_CONTENTSIZE_ERROR ||
	    size == ZSTD_CONTENTSIZE_UNKNOWN || size > BFS_MANIFEST_MAX_SIZE)
		return bfs_err_set(err, -EUCLEAN,
				   "index object: not one zstd frame of a "
				   "known size");
	/* one frame, nothing after it (what bfs_zstd_decompress checks) */
	if (len < 4 || bfs_get_le32(data) != ZSTD_MAGICNUMBER)
		return bfs_err_set(err, -EUCLEAN, "not a zstd frame");
	flen = ZSTD_findFrameCompressedSize(data, len);
	if (ZSTD_isError(flen))
		return bfs_err_set(err, -EUCLEAN, "corrupt zstd frame: %s",
				   ZSTD_getErrorName(flen));
	if (flen != len)
		return bfs_err_set(err, -EUCLEAN,
				   "zstd frame is %zu bytes, %zu given", flen,
				   len);
	rc = bfs_zlines_init(&z, data, len, "index object", BFS_IDXOBJ_MAX_LINE,
			     BFS_MANIFEST_MAX_SIZE, err);
	if (rc)
		goto out;
	while ((rc = bfs_zlines_next(&z, err)) == 1) {
		rc = idx_line(&d, z.line, z.line_len, &bv, &bcap, &n, pack,
			      &why);
		if (rc == -ENOMEM) {
			rc = bfs_err_set(err, rc, "out of memory");
			goto out;
		}
		if (rc) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "index object line %" PRIu64 ": %s",
					 z.lineno, why);
			goto out;
		}
		rc = cb(arg, pack, bv, n);
		if (rc)
			goto out;
	}
	/* zstd checks the content size at the end of the frame; this says
	 * it again, in the words of the old whole-frame decode */
	if (rc == 0 && z.total != size)
		rc = bfs_err_set(err, -EUCLEAN,
				 "zstd frame decoded to %" PRIu64
				 " bytes, expected %llu",
				 z.total, size);
out:
	bfs_zlines_fini(&z);
	bfs_jdoc_free(&d);
	free(bv);
	return rc;
}
