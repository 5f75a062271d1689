/* writer_pack.c - the bottom of the writer: its sticky failure, packs
 * (opening, finishing, recording each in the backup's index object),
 * pack uploads on the uploader pool, and storing a blob from the calling
 * thread (tree parts, chunk lists).  writer_pipe.c and writer_tree.c both
 * call down into it; it calls neither.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "writer_impl.h"

/* ---- failure ---------------------------------------------------------- */

int wr_fail(struct bfs_backup *b, int code, const struct bfs_err *why)
{
	if (!b->failed) {
		b->failed = code < 0 ? code : -EIO;
		snprintf(b->fail_err.msg, sizeof(b->fail_err.msg), "%s",
			 bfs_err_str(why, b->failed));
	}
	return b->failed;
}

int wr_failed(struct bfs_backup *b, struct bfs_err *err)
{
	if (!b->failed && !wr_upload_error(b))
		return 0;
	if (err)
		snprintf(err->msg, sizeof(err->msg), "%s", b->fail_err.msg);
	return b->failed;
}

int wr_nomem(struct bfs_backup *b, struct bfs_err *err)
{
	wr_fail(b, -ENOMEM, NULL);
	return wr_failed(b, err);
}

/* ---- uploads ---------------------------------------------------------- */

/* One finished pack on its way to the store (a job of the upload pool). */
struct upload {
	struct bfs_backup *b;
	struct bfs_buf data;
	uint8_t id[BFS_HASH_LEN];
};

static void upload_job(void *arg, void *tls)
{
	struct upload *u = arg;
	struct bfs_backup *b = u->b;
	char key[BFS_KEY_MAX];
	struct bfs_err err;
	int rc;

	(void)tls;
	pthread_mutex_lock(&b->up_lock);
	rc = b->up_err;
	pthread_mutex_unlock(&b->up_lock);
	if (rc)
		goto out_free; /* drain: the producer must never block */

	bfs_repo_pack_key(key, u->id);
	err.msg[0] = 0;
	rc = bfs_store_put(b->repo->store, key, u->data.data, u->data.len, 0,
			   &err);
	if (rc == -EEXIST)
		rc = 0; /* same id = same bytes */
	pthread_mutex_lock(&b->up_lock);
	/* the first failure wins; the others see up_err and drain */
	if (rc && !b->up_err) {
		b->up_err = rc;
		if (err.msg[0])
			bfs_err_prefix(&err, rc, "cannot upload pack '%s'",
				       key);
		else
			bfs_err_set(&err, rc, "cannot upload pack '%s': %s",
				    key, strerror(-rc));
		b->up_errmsg = err;
	}
	pthread_mutex_unlock(&b->up_lock);
out_free:
	bfs_buf_free(&u->data);
	free(u);
}

int wr_upload_error(struct bfs_backup *b)
{
	int rc;

	pthread_mutex_lock(&b->up_lock);
	rc = b->up_err;
	if (rc)
		wr_fail(b, rc, &b->up_errmsg);
	pthread_mutex_unlock(&b->up_lock);
	return rc;
}

/* Hand a finished pack to the uploaders (ownership of data transferred).
 * Blocks while U + 1 packs wait for a free uploader. */
static int upload_enqueue(struct bfs_backup *b, struct bfs_buf *data,
			  const uint8_t id[BFS_HASH_LEN])
{
	struct upload *u;
	int rc = wr_upload_error(b);

	if (rc)
		goto out_free;
	u = malloc(sizeof(*u));
	if (!u) {
		rc = wr_fail(b, -ENOMEM, NULL);
		goto out_free;
	}
	u->b = b;
	u->data = *data;
	memcpy(u->id, id, BFS_HASH_LEN);
	memset(data, 0, sizeof(*data));
	rc = bfs_pool_submit(b->uploaders, upload_job, u);
	if (rc) {
		bfs_buf_free(&u->data);
		free(u);
		return wr_fail(b, rc, NULL);
	}
	return 0;
out_free:
	bfs_buf_free(data);
	return rc;
}

/* Wait until every pack handed over is stored; the first upload error. */
int wr_uploads_wait(struct bfs_backup *b)
{
	bfs_pool_wait(b->uploaders);
	return wr_upload_error(b);
}

/* ---- packs ------------------------------------------------------------ */

/* Is the pack an index hit points into really in the repository?  Asked
 * once per pack per backup; the index call runs without the lock (two
 * workers may both ask about one pack: harmless). */
bool wr_pack_present(struct bfs_backup *b, const uint8_t pack[BFS_HASH_LEN])
{
	char key[BFS_KEY_MAX];
	int rc;

	pthread_mutex_lock(&b->dedup_lock);
	rc = bfs_packset_get(&b->packs_seen, pack);
	pthread_mutex_unlock(&b->dedup_lock);
	if (rc >= 0)
		return rc == 1;
	rc = bfs_index_pack_present(b->idx, pack);
	if (rc < 0)
		return false; /* unsure: store the chunk again, stay safe */
	if (rc == 0) {
		bfs_repo_pack_key(key, pack);
		bfs_warn("pack '%s' is in the catalog but not in the "
			 "repository: storing its chunks again",
			 key);
	}
	pthread_mutex_lock(&b->dedup_lock);
	bfs_packset_put(&b->packs_seen, pack, rc == 1); /* ENOMEM: ask again */
	pthread_mutex_unlock(&b->dedup_lock);
	return rc == 1;
}

int wr_pack_finish(struct bfs_backup *b)
{
	struct bfs_buf out = {0};
	int32_t idx = b->open_pack;
	int rc;

	size_t n = bfs_pack_builder_count(b->pb);
	struct bfs_idx_blob *ib;

	if (idx < 0)
		return 0;
	rc = bfs_pack_builder_finish(b->pb, &out, b->packs[idx].id);
	if (rc) {
		struct bfs_err err;

		bfs_err_set(&err, rc, "cannot finish pack");
		bfs_buf_free(&out);
		return wr_fail(b, rc, &err);
	}
	/* the entries of the pack just finished stay readable */
	ib = malloc((n ? n : 1) * sizeof(*ib));
	if (!ib) {
		bfs_buf_free(&out);
		return wr_fail(b, -ENOMEM, NULL);
	}
	bfs_idx_blobs_from_pack(ib, bfs_pack_builder_entries(b->pb), n,
				bfs_pack_builder_bases(b->pb));
	rc = bfs_idxobj_writer_pack(b->idxw, b->packs[idx].id, ib, n);
	free(ib);
	if (rc) {
		bfs_buf_free(&out);
		return wr_fail(b, rc, NULL);
	}
	b->packs[idx].done = true;
	b->open_pack = -1;
	rc = upload_enqueue(b, &out, b->packs[idx].id);
	if (!rc && bfs_idxobj_writer_bytes(b->idxw) >= b->idx_flush_bytes)
		rc = wr_index_flush(b);
	return rc;
}

int wr_index_store(struct bfs_backup *b, struct bfs_buf *obj,
		   char hex[BFS_HASH_HEX + 1], struct bfs_err *err)
{
	uint8_t name[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	int rc;

	rc = bfs_idxobj_writer_finish(b->idxw, obj, name, err);
	if (rc)
		return rc;
	bfs_hex(hex, name, BFS_HASH_LEN);
	snprintf(key, sizeof(key), "%s%s", BFS_KEY_INDEX, hex);
	rc = bfs_store_put(b->repo->store, key, obj->data, obj->len,
			   BFS_PUT_EXCL, err);
	if (rc == -EEXIST)
		rc = 0; /* the same bytes: the same object */
	if (rc)
		return bfs_err_prefix(err, rc, "cannot store index '%s'", key);
	b->idx_objects++;
	return 0;
}

int wr_index_flush(struct bfs_backup *b)
{
	char hex[BFS_HASH_HEX + 1];
	struct bfs_buf obj = {0};
	struct bfs_err err;
	int rc;

	if (!bfs_idxobj_writer_packs(b->idxw))
		return 0;
	rc = wr_uploads_wait(b);
	if (rc)
		return rc;
	err.msg[0] = 0;
	rc = wr_index_store(b, &obj, hex, &err);
	if (rc) {
		bfs_buf_free(&obj);
		return wr_fail(b, rc, &err);
	}
	/* Without an index that takes it (no catalog, or it failed), the
	 * set keeps every blob: the backup stays right, only bigger. */
	err.msg[0] = 0;
	rc = bfs_index_add_index(b->idx, hex, obj.data, obj.len, &err);
	bfs_buf_free(&obj);
	if (rc == -EOPNOTSUPP)
		return 0;
	if (rc) {
		bfs_warn("index object '%s%s' stored but not taken by the "
			 "catalog (%s): this backup keeps its blobs in memory",
			 BFS_KEY_INDEX, hex, bfs_err_str(&err, rc));
		return 0;
	}
	pthread_mutex_lock(&b->dedup_lock);
	bfs_hmap_clear(&b->chunks.m);
	b->flush_gen++;
	pthread_mutex_unlock(&b->dedup_lock);
	return 0;
}

/* Open a pack in the builder if none is open.  Under dedup_lock. */
int wr_pack_open(struct bfs_backup *b)
{
	if (b->open_pack >= 0)
		return 0;
	if (b->npacks == b->packcap) {
		size_t nc = b->packcap ? b->packcap * 2 : 64;
		struct packinfo *np = realloc(b->packs, nc * sizeof(*np));

		if (!np)
			return -ENOMEM;
		b->packs = np;
		b->packcap = nc;
	}
	memset(&b->packs[b->npacks], 0, sizeof(b->packs[0]));
	b->open_pack = (int32_t)b->npacks++;
	return 0;
}

int wr_store_blob(struct bfs_backup *b, int type, const void *data, size_t len,
		  uint8_t id[BFS_HASH_LEN], struct bfs_err *err)
{
	return wr_store_blob_on(b, type, data, len, id, NULL, NULL, err);
}

/* A delta whose zstd part is at most 1/TDELTA_SURE of the plain bytes is
 * kept without compressing the plain bytes to compare: bfs_delta_worth
 * would only refuse it when the plain frame were smaller than 2/16 of the
 * plain bytes, and tree parts (ids in hex, names, numbers) seldom
 * compress 8 times; when one does, the delta kept is still small.  The
 * parts of a changed directory are deltas of a few % of their size, and
 * this saves compressing them twice (issue 8, backup 2 in CPU time). */
#define TDELTA_SURE 16

/* The frame of a new tree blob id (data[0..len)) into *z (empty on
 * entry): a delta frame on the base base_fn gives when it is worth it
 * (bfs_delta_worth against the whole frame, which is only compressed when
 * the delta is not clearly smaller): 1, z holds it and base_id its base;
 * else 0, z holds the whole frame; or -errno when the whole frame cannot
 * be made (err set).  A failed delta only means no delta.  Calling
 * thread. */
static int tree_frame(struct bfs_backup *b, const uint8_t id[BFS_HASH_LEN],
		      const void *data, size_t len, wr_base_fn base_fn,
		      void *arg, struct bfs_buf *z,
		      uint8_t base_id[BFS_HASH_LEN], struct bfs_err *err)
{
	struct bfs_buf d = {0};
	struct bfs_err derr = {""};
	uint8_t *base = NULL;
	size_t blen = 0, zlen = 0;
	bool have_d = false;
	int rc;

	if (base_fn(arg, base_id, &base, &blen) == 0 &&
	    bfs_repo_delta_encode(b->repo, id, base_id, base, blen, data, len,
				  &d, &zlen, &derr) == 0)
		have_d = true;
	free(base);
	if (!have_d || (uint64_t)zlen * TDELTA_SURE > len) {
		rc = bfs_repo_blob_encode(b->repo, id, data, len, z, err);
		if (rc)
			goto out_free;
		if (!have_d || !bfs_delta_worth(zlen, z->len)) {
			rc = 0;
			goto out_free;
		}
		bfs_buf_free(z);
	}
	*z = d;
	d.data = NULL;
	b->tdelta_parts++;
	b->tdelta_bytes += z->len;
	rc = 1;
out_free:
	bfs_buf_free(&d);
	return rc;
}

int wr_store_blob_on(struct bfs_backup *b, int type, const void *data,
		     size_t len, uint8_t id[BFS_HASH_LEN], wr_base_fn base_fn,
		     void *arg, struct bfs_err *err)
{
	uint8_t base[BFS_HASH_LEN];
	struct bfs_chunkref cref;
	struct chunkloc nl = {0};
	struct bfs_buf z = {0};
	bool known, delta = false;
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	bfs_repo_blob_id(b->repo, id, data, len);
	pthread_mutex_lock(&b->dedup_lock);
	known = bfs_chunkset_find(&b->chunks, id) != NULL;
	pthread_mutex_unlock(&b->dedup_lock);
	if (!known && bfs_index_chunk_find(b->idx, id, &cref) == 0 &&
	    cref.len == len && wr_pack_present(b, cref.pack))
		known = true;
	if (known)
		return 0;
	if (base_fn && type == BFS_BLOB_TREE) {
		rc = tree_frame(b, id, data, len, base_fn, arg, &z, base, err);
		delta = rc == 1;
	} else {
		rc = bfs_repo_blob_encode(b->repo, id, data, len, &z, err);
	}
	if (rc < 0)
		return wr_fail(b, rc, err);
	pthread_mutex_lock(&b->dedup_lock);
	rc = wr_pack_open(b);
	if (!rc && delta)
		rc = bfs_pack_builder_add_delta(b->pb, id, base, z.data,
						(uint32_t)z.len, (uint32_t)len,
						&nl.offset);
	else if (!rc)
		rc = bfs_pack_builder_add_typed(b->pb, id, type, z.data,
						(uint32_t)z.len, (uint32_t)len,
						&nl.offset);
	if (!rc) {
		memcpy(nl.hash, id, BFS_HASH_LEN);
		nl.pack_idx = b->open_pack;
		nl.clen = (uint32_t)z.len;
		nl.len = (uint32_t)len;
		rc = bfs_chunkset_insert(&b->chunks, &nl);
	}
	pthread_mutex_unlock(&b->dedup_lock);
	if (!rc) {
		b->stats.stored_bytes += z.len;
	}
	bfs_buf_free(&z);
	if (rc) {
		bfs_err_set(err, rc, "cannot add a tree blob to a pack");
		return wr_fail(b, rc, err);
	}
	if (bfs_pack_builder_size(b->pb) >= b->repo->pack_target)
		return wr_pack_finish(b);
	return 0;
}

/* ---- sealed directories ------------------------------------------------ */

void wt_sealed_free(struct wt_sealed *t)
{
	if (t) {
		free(t->parts);
		free(t);
	}
}
