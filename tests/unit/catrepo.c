/* catrepo.c - see catrepo.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "src/format.h"
#include "src/pack.h"
#include "src/store.h"
#include "src/tree.h"
#include "tests/unit/catrepo.h"
#include "tests/unit/tap.h"

#define MTIME 1700000000123456789LL

struct blobs {
	struct bfs_idx_blob *v;
	size_t n, cap;
};

struct cw {
	struct bfs_pack_builder *pb;
	struct blobs tree, data;
	struct bfs_err err;
};

/* The ids of one directory's parts. */
struct parts {
	uint8_t (*v)[BFS_HASH_LEN];
	size_t n;
	struct cw *w;
	bool hide;
};

void cr_chunk_id(uint8_t out[BFS_HASH_LEN], unsigned seed, unsigned i)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "chunk:%u:%u", seed, i);

	bfs_sha256(out, buf, (size_t)n);
}

static int blobs_add(struct blobs *b, const struct bfs_idx_blob *x)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (!memcmp(b->v[i].hash, x->hash, BFS_HASH_LEN))
			return 0;
	/* made-up data blobs lie end to end, as index objects want */
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct bfs_idx_blob *v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n] = *x;
	if (x->type == BFS_BLOB_DATA)
		b->v[b->n].offset = BFS_PACK_HEADER + b->n * (uint64_t)x->clen;
	b->n++;
	return 0;
}

/* A tree blob into the pack and the index object; with hide, nowhere
 * (index objects list a pack's blobs end to end, no gaps). */
static int put_blob(struct cw *w, const void *data, size_t len, bool hide,
		    uint8_t id[BFS_HASH_LEN])
{
	struct bfs_idx_blob x = {.type = BFS_BLOB_TREE};
	size_t cap = ZSTD_compressBound(len);
	void *frame = malloc(cap);
	size_t clen;
	int rc;

	if (!frame)
		return -ENOMEM;
	bfs_sha256(id, data, len);
	for (size_t i = 0; i < w->tree.n; i++)
		hide |= !memcmp(w->tree.v[i].hash, id, BFS_HASH_LEN);
	if (hide) { /* or in the pack already */
		free(frame);
		return 0;
	}
	clen = ZSTD_compress(frame, cap, data, len, 3);
	if (ZSTD_isError(clen)) {
		free(frame);
		return -EIO;
	}
	rc = bfs_pack_builder_add_typed(w->pb, id, BFS_BLOB_TREE, frame,
					(uint32_t)clen, (uint32_t)len,
					&x.offset);
	free(frame);
	if (rc)
		return rc;
	memcpy(x.hash, id, BFS_HASH_LEN);
	x.clen = (uint32_t)clen;
	x.len = (uint32_t)len;
	return blobs_add(&w->tree, &x);
}

static int part_cb(void *arg, const void *data, size_t len, struct bfs_err *err)
{
	struct parts *p = arg;
	uint8_t(*v)[BFS_HASH_LEN] = realloc(p->v, (p->n + 1) * sizeof(*v));

	(void)err;
	if (!v)
		return -ENOMEM;
	p->v = v;
	return put_blob(p->w, data, len, p->hide, p->v[p->n++]);
}

static int emit_dir(struct cw *w, const struct cr_node *kids, size_t n,
		    bool split, bool hide, struct parts *out, uint64_t *count);

/* tree.c refuses to write a size its chunks do not add up to: change
 * "s":SIZE in the line text afterwards. */
static int lie_size(struct bfs_buf *line, uint64_t size, int64_t lie)
{
	char from[32], to[32], *p;
	struct bfs_buf nb = {0};
	size_t fl;
	int rc;

	snprintf(from, sizeof(from), "\"s\":%llu", (unsigned long long)size);
	snprintf(to, sizeof(to), "\"s\":%llu",
		 (unsigned long long)((int64_t)size + lie));
	fl = strlen(from);
	p = memmem(line->data, line->len, from, fl);
	if (!p)
		return -EINVAL;
	rc = bfs_buf_append(&nb, line->data,
			    (size_t)((uint8_t *)p - line->data));
	if (!rc)
		rc = bfs_buf_append(&nb, to, strlen(to));
	if (!rc)
		rc = bfs_buf_append(
		    &nb, p + fl,
		    line->len - (size_t)((uint8_t *)p - line->data) - fl);
	if (!rc) {
		bfs_buf_free(line);
		*line = nb;
	} else {
		bfs_buf_free(&nb);
	}
	return rc;
}

static int emit_line(struct cw *w, const struct cr_node *k, size_t slot,
		     struct bfs_buf *line, uint64_t *count)
{
	struct bfs_tree_entry te;
	struct bfs_idx_blob x = {.type = BFS_BLOB_DATA};
	struct bfs_blobref *refs = NULL;
	uint8_t(*lists)[BFS_HASH_LEN] = NULL;
	struct parts sub = {.w = w};
	struct bfs_buf lb = {0};
	uint64_t subcount = 0;
	unsigned i;
	int rc = 0;

	if (k->raw) {
		rc = bfs_buf_append(line, k->raw, strlen(k->raw));
		if (!rc)
			rc = bfs_buf_append(line, "\n", 1);
		return rc;
	}
	memset(&te, 0, sizeof(te));
	te.e.path = (char *)k->name;
	te.e.path_len = strlen(k->name);
	te.e.type = k->type ? k->type : BFS_T_FILE;
	te.e.mode = te.e.type == BFS_T_DIR ? 0755 : 0644;
	te.e.uid = 1000;
	te.e.gid = 100;
	te.e.user = (char *)"alice";
	te.e.group = (char *)"staff";
	te.e.mtime_ns = MTIME;
	te.e.ino = 42 + slot;
	te.nl = k->nl;
	if (k->link) {
		te.e.link = (char *)k->link;
		te.e.link_len = strlen(k->link);
	}
	if (k->err) {
		te.e.error = (char *)k->err;
		te.e.size = k->size;
	}
	if (k->target) {
		te.e.target = (char *)k->target;
		te.e.target_len = strlen(k->target);
		te.e.size = te.e.target_len;
	}
	if (te.e.type == BFS_T_DIR) {
		sub.hide = k->hide;
		rc = emit_dir(w, k->kids, k->nkids, k->split, k->hide, &sub,
			      &subcount);
		if (rc)
			goto out;
		te.parts = (const uint8_t(*)[BFS_HASH_LEN])sub.v;
		te.nparts = sub.n;
		te.count = (uint64_t)((int64_t)subcount + k->count_lie);
		*count += subcount;
	}
	if (k->nrefs) {
		te.chunks = k->refs;
		te.nchunks = k->nrefs;
		for (i = 0; i < k->nrefs; i++)
			te.e.size += k->refs[i].len;
	}
	if (k->nchunks) {
		refs = calloc(k->nchunks, sizeof(*refs));
		if (!refs) {
			rc = -ENOMEM;
			goto out;
		}
		for (i = 0; i < k->nchunks; i++) {
			cr_chunk_id(refs[i].hash, k->seed, i);
			refs[i].len = CR_CHUNK;
			memcpy(x.hash, refs[i].hash, BFS_HASH_LEN);
			x.clen = 100;
			x.len = CR_CHUNK;
			rc = blobs_add(&w->data, &x);
			if (rc)
				goto out;
		}
		te.e.size = (uint64_t)k->nchunks * CR_CHUNK;
		if (k->nchunks <= BFS_TREE_INLINE_REFS) {
			te.chunks = refs;
			te.nchunks = k->nchunks;
		} else {
			size_t nl = (k->nchunks + BFS_TREE_INLINE_REFS - 1) /
				    BFS_TREE_INLINE_REFS;

			lists = calloc(nl, sizeof(*lists));
			if (!lists) {
				rc = -ENOMEM;
				goto out;
			}
			for (i = 0; i < nl; i++) {
				size_t at = (size_t)i * BFS_TREE_INLINE_REFS;
				size_t m = BFS_MIN(BFS_TREE_INLINE_REFS,
						   k->nchunks - at);

				rc = bfs_tree_list_encode(&lb, refs + at, m);
				if (!rc)
					rc = put_blob(w, lb.data, lb.len, false,
						      lists[i]);
				if (rc)
					goto out;
			}
			te.lists = (const uint8_t(*)[BFS_HASH_LEN])lists;
			te.nlists = nl;
		}
	}
	rc = bfs_tree_line(line, &te, &w->err);
	if (rc)
		diag("tree line '%s': %s", k->name, w->err.msg);
	if (!rc && k->size_lie)
		rc = lie_size(line, te.e.size, k->size_lie);
out:
	bfs_buf_free(&lb);
	free(lists);
	free(refs);
	free(sub.v);
	return rc;
}

static int emit_dir(struct cw *w, const struct cr_node *kids, size_t n,
		    bool split, bool hide, struct parts *out, uint64_t *count)
{
	struct bfs_tree_cutter cut;
	struct bfs_buf line = {0};
	size_t i;
	int rc = 0;

	out->w = w;
	out->hide = hide;
	bfs_tree_cutter_init(&cut, part_cb, out);
	for (i = 0; !rc && i < n; i++) {
		line.len = 0;
		*count += 1;
		rc = emit_line(w, &kids[i], i, &line, count);
		if (rc)
			break;
		if (split)
			rc = part_cb(out, line.data, line.len, &w->err);
		else
			rc = bfs_tree_cutter_line(&cut, line.data, line.len,
						  &w->err);
	}
	if (!rc)
		rc = bfs_tree_cutter_end(&cut, &w->err);
	bfs_tree_cutter_free(&cut);
	bfs_buf_free(&line);
	return rc;
}

void cr_out_clear(struct cr_out *o)
{
	bfs_buf_free(&o->manifest);
	bfs_buf_free(&o->idx);
	memset(o, 0, sizeof(*o));
}

int cr_write(struct bfs_repo *r, const char *id, int64_t t, const char *sources,
	     const struct cr_node *kids, size_t n, struct cr_out *keep)
{
	static char *tags[] = {"daily", NULL};
	struct cw w = {0};
	struct parts root = {0};
	struct bfs_idxobj_writer *iw = NULL;
	struct bfs_manifest_header h;
	struct bfs_buf pack = {0}, idx = {0}, man = {0};
	uint8_t pid[BFS_HASH_LEN], iname[BFS_HASH_LEN], dpack[BFS_HASH_LEN];
	char key[BFS_KEY_MAX], hex[BFS_HASH_HEX + 1];
	uint64_t count = 0;
	int rc;

	w.pb = bfs_pack_builder_new();
	if (!w.pb)
		return -ENOMEM;
	rc = emit_dir(&w, kids, n, false, false, &root, &count);
	if (!rc)
		rc = bfs_pack_builder_finish(w.pb, &pack, pid);
	if (!rc) {
		bfs_repo_pack_key(key, pid);
		rc = bfs_store_put(r->store, key, pack.data, pack.len, 0,
				   &w.err);
	}
	if (!rc)
		rc = bfs_idxobj_writer_new(&iw);
	if (!rc && w.tree.n)
		rc = bfs_idxobj_writer_pack(iw, pid, w.tree.v, w.tree.n);
	if (!rc && w.data.n) {
		snprintf(key, sizeof(key), "datapack:%s", id);
		bfs_sha256(dpack, key, strlen(key));
		rc = bfs_idxobj_writer_pack(iw, dpack, w.data.v, w.data.n);
	}
	if (!rc) {
		rc = bfs_idxobj_writer_finish(iw, &idx, iname, &w.err);
	}
	bfs_hex(hex, iname, BFS_HASH_LEN);
	if (!rc && !keep) {
		snprintf(key, sizeof(key), "%s%s", BFS_KEY_INDEX, hex);
		rc = bfs_store_put(r->store, key, idx.data, idx.len, 0, &w.err);
	}
	if (!rc) {
		memset(&h, 0, sizeof(h));
		h.id = (char *)id;
		h.time_ns = t;
		h.host = (char *)"testhost";
		h.tags = tags;
		h.sources_json = (char *)sources;
		h.stats.entries = count;
		rc = bfs_manifest2_encode(
		    &man, &h, (const uint8_t(*)[BFS_HASH_LEN])root.v, root.n,
		    count, &w.err);
	}
	if (!rc && !keep) {
		bfs_repo_manifest_key(key, id);
		rc = bfs_store_put(r->store, key, man.data, man.len, 0, &w.err);
	}
	if (!rc && keep) {
		keep->manifest = man;
		keep->idx = idx;
		memset(&man, 0, sizeof(man));
		memset(&idx, 0, sizeof(idx));
		memcpy(keep->idxname, hex, sizeof(hex));
	}
	if (rc)
		diag("cr_write %s: %s", id, bfs_err_str(&w.err, rc));
	bfs_idxobj_writer_free(iw);
	bfs_pack_builder_free(w.pb);
	bfs_buf_free(&pack);
	bfs_buf_free(&idx);
	bfs_buf_free(&man);
	free(w.tree.v);
	free(w.data.v);
	free(root.v);
	return rc;
}
