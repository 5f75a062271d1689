/* writer_pipe.c - the writer's pipeline (see writer_impl.h): the ring of
 * ops, chunk jobs on the worker pool, the in-order consumer that adds new
 * chunks to the open pack and hands entries and chunk ids to the tree
 * spool (writer_tree.c).  Packs, uploads and failures: writer_pack.c.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "writer_impl.h"

#define PROGRESS_NS 100000000LL

/* ---- entries ---------------------------------------------------------- */

char *wr_dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

void wr_entry_free(struct bfs_entry *e)
{
	if (!e)
		return;
	bfs_entry_clear(e);
	free(e);
}

struct bfs_entry *wr_entry_dup(const struct bfs_entry *e)
{
	struct bfs_entry *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	*c = *e;
	c->path = c->user = c->group = c->target = c->link = c->error = NULL;
	c->path = wr_dupn(e->path, e->path_len);
	if (!c->path)
		goto fail;
	if (e->user && !(c->user = strdup(e->user)))
		goto fail;
	if (e->group && !(c->group = strdup(e->group)))
		goto fail;
	if (e->target && !(c->target = wr_dupn(e->target, e->target_len)))
		goto fail;
	if (e->link && !(c->link = wr_dupn(e->link, e->link_len)))
		goto fail;
	if (e->error && !(c->error = strdup(e->error)))
		goto fail;
	return c;
fail:
	wr_entry_free(c);
	return NULL;
}

static size_t entry_bytes(const struct bfs_entry *e)
{
	return sizeof(*e) + e->path_len + e->target_len + e->link_len + 64 +
	       (e->error ? strlen(e->error) : 0);
}

/* ---- progress --------------------------------------------------------- */

void wr_progress(struct bfs_backup *b, bool force)
{
	struct bfs_progress p;
	int64_t now;

	if (!b->progress)
		return;
	now = bfs_mono_ns();
	if (!force && now - b->last_progress < PROGRESS_NS)
		return;
	b->last_progress = now;
	memset(&p, 0, sizeof(p));
	p.files = b->stats.entries;
	p.bytes = b->bytes_read;
	p.size = b->stats.bytes;
	p.new_bytes = b->stats.new_bytes;
	p.stored_bytes = b->stats.stored_bytes;
	p.reused_files = b->reused_files;
	p.errors = b->stats.errors;
	p.elapsed_ns = now - b->start_mono;
	p.current = b->current;
	b->progress(b->progress_arg, &p);
}

/* ---- workers ---------------------------------------------------------- */

static void work_chunk(struct bfs_backup *b, struct job *j)
{
	struct bfs_err err;
	bool session;
	int rc;

	bfs_repo_blob_id(b->repo, j->hash, j->data, j->len);
	pthread_mutex_lock(&b->dedup_lock);
	session = bfs_chunkset_find(&b->chunks, j->hash) != NULL;
	j->gen = b->flush_gen;
	pthread_mutex_unlock(&b->dedup_lock);
	if (session)
		j->result = R_SESSION;
	else if (bfs_index_chunk_find(b->idx, j->hash, &j->cref) == 0 &&
		 j->cref.len == j->len)
		j->result = R_INDEX;
	else
		j->result = R_NEW;
	if (j->result == R_INDEX && !wr_pack_present(b, j->cref.pack))
		j->result = R_NEW;
	if (j->result != R_NEW) {
		wr_delta_chunk(b, j); /* its sketch */
		return;
	}
	j->z.len = 0;
	err.msg[0] = 0;
	rc = bfs_repo_blob_encode(b->repo, j->hash, j->data, j->len, &j->z,
				  &err);
	if (rc) {
		j->result = R_ERR;
		j->err = rc;
		snprintf(j->errmsg, sizeof(j->errmsg),
			 "cannot compress chunk: %s", bfs_err_str(&err, rc));
		return;
	}
	wr_delta_chunk(b, j);
}

/* A job of the worker pool: one chunk; the consumer waits for `done`. */
static void chunk_job(void *arg, void *tls)
{
	struct job *j = arg;
	struct bfs_backup *b = j->b;

	(void)tls;
	work_chunk(b, j);
	pthread_mutex_lock(&b->ring_lock);
	j->done = true;
	pthread_cond_broadcast(&b->done_cond);
	pthread_mutex_unlock(&b->ring_lock);
}

int wr_pipe_start(struct bfs_backup *b, unsigned nworkers, unsigned nup,
		  struct bfs_err *err)
{
	struct bfs_pool_config wc = {
	    .threads = nworkers,
	    /* never more chunk jobs in flight than ring slots, so
	     * submitting never blocks */
	    .queue = b->njobs,
	    .name = "bfs-chunk",
	};
	struct bfs_pool_config uc = {
	    .threads = nup,
	    .queue = (size_t)nup + 1,
	    .name = "bfs-upload",
	};
	size_t i;
	int rc;

	for (i = 0; i < b->njobs; i++)
		b->jobs[i].b = b;
	rc = bfs_pool_create(&uc, &b->uploaders);
	if (rc)
		return bfs_err_set(err, rc, "cannot start upload threads");
	rc = bfs_pool_create(&wc, &b->workers);
	if (rc)
		return bfs_err_set(err, rc, "cannot start worker threads");
	return 0;
}

void wr_pipe_stop(struct bfs_backup *b)
{
	/* queued chunk jobs still run (their slots stay allocated until
	 * the backup is freed); queued uploads see up_err and drop */
	bfs_pool_destroy(b->workers);
	b->workers = NULL;
	if (b->uploaders) {
		pthread_mutex_lock(&b->up_lock);
		if (!b->up_err) {
			b->up_err = -ECANCELED;
			bfs_err_set(&b->up_errmsg, -ECANCELED,
				    "backup aborted");
		}
		pthread_mutex_unlock(&b->up_lock);
	}
	bfs_pool_destroy(b->uploaders);
	b->uploaders = NULL;
}

/* ---- manifest output -------------------------------------------------- */

static void chunk_resolve(struct bfs_backup *b, struct mop *m)
{
	if (m->pack_idx >= 0) {
		memcpy(m->ref.pack, b->packs[m->pack_idx].id, BFS_HASH_LEN);
		m->pack_idx = -1;
	}
}

static int mop_write(struct bfs_backup *b, struct mop *m)
{
	struct bfs_err err;
	int rc;

	err.msg[0] = 0;
	if (m->e && m->sealed) {
		rc = wt_sealed_entry(b, m->e, m->sealed, &err);
		wr_entry_free(m->e);
		wt_sealed_free(m->sealed);
		m->e = NULL;
		m->sealed = NULL;
	} else if (m->e) {
		rc = wt_entry(b, m->e, &err);
		wr_entry_free(m->e);
		m->e = NULL;
	} else {
		chunk_resolve(b, m);
		rc = wt_chunk(b, &m->ref, &err);
	}
	if (rc)
		return wr_fail(b, rc, &err);
	return 0;
}

static int mopvec_push(struct mopvec *v, const struct mop *m)
{
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 256;
		struct mop *nv = realloc(v->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = ncap;
	}
	v->v[v->n++] = *m;
	v->bytes += sizeof(*m) + (m->e ? entry_bytes(m->e) : 0);
	return 0;
}

static void mopvec_clear(struct mopvec *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		wr_entry_free(v->v[i].e);
	v->n = 0;
	v->bytes = 0;
}

/* Write m to the tree spool (ownership of m->e transferred).  Tree
 * lines name chunks by id and length only, so nothing waits for a pack
 * id. */
static int mop_out(struct bfs_backup *b, struct mop *m)
{
	return mop_write(b, m);
}

static int entry_out(struct bfs_backup *b, struct bfs_entry *e)
{
	struct mop m = {.e = e, .pack_idx = -1};

	b->stats.entries++;
	if (e->type == BFS_T_DIR)
		b->stats.dirs++;
	if (e->type == BFS_T_FILE) {
		b->stats.files++;
		if (!e->link)
			b->stats.bytes += e->size;
	}
	if (e->error) {
		b->stats.errors++;
		b->partial = true;
	}
	return mop_out(b, &m);
}

static int cur_spill(struct bfs_backup *b)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < b->cur.n && !rc; i++)
		rc = mop_out(b, &b->cur.v[i]);
	b->cur.n = 0;
	b->cur.bytes = 0;
	return rc;
}
/* ---- consuming results in order --------------------------------------- */

/* The dump map of the file ending at j, stored as a tree blob; its id is
 * put in the file's tree line by wt_entry. */
static int store_dt(struct bfs_backup *b, struct job *j)
{
	struct bfs_err err;
	int rc;

	err.msg[0] = 0;
	rc = wr_store_blob(b, BFS_BLOB_TREE, j->dt.data, j->dt.len, b->wt.dt,
			   &err);
	if (rc)
		return wr_fail(b, rc, &err);
	b->wt.has_dt = true;
	return 0;
}

static int consume_chunk(struct bfs_backup *b, struct job *j)
{
	struct mop m = {.e = NULL};
	struct chunkloc *loc, nl;
	struct bfs_err err;
	bool added = false;
	int rc = 0;

	if (j->result == R_ERR) {
		bfs_err_set(&err, j->err, "%s", j->errmsg);
		return wr_fail(b, j->err, &err);
	}
	memcpy(m.ref.hash, j->hash, BFS_HASH_LEN);
	m.ref.len = (uint32_t)j->len;
	/* The set was emptied since the worker looked (wr_index_flush, on
	 * this thread: flush_gen needs no lock here): a chunk it called new
	 * may be in the index now (written by an earlier job), one it found
	 * in the set is. */
	if (j->result == R_NEW && j->gen != b->flush_gen &&
	    bfs_index_chunk_find(b->idx, j->hash, &j->cref) == 0 &&
	    j->cref.len == j->len && wr_pack_present(b, j->cref.pack))
		j->result = R_INDEX;
	wr_delta_neighbour(b, j);
	pthread_mutex_lock(&b->dedup_lock);
	loc = bfs_chunkset_find(&b->chunks, j->hash);
	if (loc) {
		m.pack_idx = loc->pack_idx;
		m.ref.offset = loc->offset;
		m.ref.clen = loc->clen;
	} else if (j->result == R_INDEX) {
		m.ref = j->cref;
		m.pack_idx = -1;
	} else if (j->result == R_SESSION && j->gen != b->flush_gen) {
		/* stored by this backup and named by an index object since:
		 * tree lines need only its id and length */
		m.pack_idx = -1;
	} else if (j->result == R_NEW) {
		rc = wr_pack_open(b);
		if (rc)
			goto out_unlock;
		if (j->is_delta && j->two_bases) {
			uint8_t bb[2][BFS_HASH_LEN];

			memcpy(bb[0], j->base, BFS_HASH_LEN);
			memcpy(bb[1], j->base2, BFS_HASH_LEN);
			rc = bfs_pack_builder_add_delta_n(
			    b->pb, j->hash, 2,
			    (const uint8_t(*)[BFS_HASH_LEN])bb, j->z.data,
			    (uint32_t)j->z.len, (uint32_t)j->len,
			    &m.ref.offset);
		} else if (j->is_delta)
			rc = bfs_pack_builder_add_delta(
			    b->pb, j->hash, j->base, j->z.data,
			    (uint32_t)j->z.len, (uint32_t)j->len,
			    &m.ref.offset);
		else
			rc = bfs_pack_builder_add(
			    b->pb, j->hash, j->z.data, (uint32_t)j->z.len,
			    (uint32_t)j->len, &m.ref.offset);
		if (rc)
			goto out_unlock;
		m.ref.clen = (uint32_t)j->z.len;
		m.pack_idx = b->open_pack;
		memcpy(nl.hash, j->hash, BFS_HASH_LEN);
		nl.offset = m.ref.offset;
		nl.pack_idx = m.pack_idx;
		nl.clen = m.ref.clen;
		nl.len = m.ref.len;
		rc = bfs_chunkset_insert(&b->chunks, &nl);
		if (rc)
			goto out_unlock;
		added = true;
	} else {
		rc = -EFAULT; /* R_SESSION but not in the set: cannot be */
	}
out_unlock:
	pthread_mutex_unlock(&b->dedup_lock);
	if (rc) {
		bfs_err_set(&err, rc, "cannot add chunk to pack");
		return wr_fail(b, rc, &err);
	}

	b->stats.chunks++;
	b->cur_bytes += j->len;
	if (added) {
		b->stats.new_chunks++;
		b->stats.new_bytes += j->len;
		b->stats.stored_bytes += j->z.len;
		if (j->is_delta) {
			b->delta_chunks++;
			b->delta_bytes += j->len;
			b->two_base_deltas += j->two_bases;
		}
	}
	if (wr_delta_consume(b, j))
		return wr_fail(b, -ENOMEM, NULL);
	if (!b->cur_spilled && b->cur.n == SPILL_CHUNKS) {
		rc = cur_spill(b);
		b->cur_spilled = true;
		if (rc)
			return rc;
	}
	if (b->cur_spilled)
		rc = mop_out(b, &m);
	else if ((rc = mopvec_push(&b->cur, &m)))
		rc = wr_fail(b, rc, NULL);
	if (rc)
		return rc;
	if (added && bfs_pack_builder_size(b->pb) >= b->repo->pack_target)
		return wr_pack_finish(b);
	return 0;
}

static int consume_job(struct bfs_backup *b, struct job *j)
{
	struct bfs_entry *e = j->e;
	size_t i;
	int rc = 0;

	j->e = NULL;
	switch (j->kind) {
	case J_CHUNK:
		rc = consume_chunk(b, j);
		wr_delta_unref(j->dx);
		j->dx = NULL;
		break;
	case J_ENTRY:
		rc = entry_out(b, e);
		e = NULL;
		break;
	case J_TREE: {
		struct mop m = {.e = e, .sealed = j->sealed, .pack_idx = -1};
		const struct bfs_tree_stats *ts = &j->sealed->st;

		b->stats.entries += 1 + j->sealed->count;
		b->stats.dirs += 1 + ts->dirs;
		b->stats.files += ts->files;
		b->stats.bytes += ts->bytes;
		b->stats.chunks += ts->chunks;
		b->reused_files += ts->files;
		j->sealed = NULL;
		e = NULL;
		rc = mop_out(b, &m);
		break;
	}
	case J_FILE_END:
		rc = cur_spill(b);
		if (!rc && j->dt.len)
			rc = store_dt(b, j);
		if (!rc)
			rc = wr_delta_file_end(b);
		b->cur_spilled = false;
		b->cur_bytes = 0;
		if (!rc) {
			rc = entry_out(b, e);
			e = NULL;
		}
		break;
	case J_CANCEL:
		if (b->cur_spilled) {
			/* its chunks are in the manifest already and a
			 * manifest entry cannot carry both chunks and an
			 * error: keep what was read as a short file, count
			 * it as an error and mark the backup partial */
			rc = cur_spill(b);
			if (!rc) {
				e->size = b->cur_bytes;
				bfs_warn(
				    "'%s' could not be read completely; the "
				    "backup keeps its first %llu bytes",
				    e->path, (unsigned long long)e->size);
				b->stats.errors++;
				b->partial = true;
				rc = entry_out(b, e);
				e = NULL;
			}
		}
		mopvec_clear(&b->cur);
		b->skrec.len = 0;
		b->sarec.len = 0;
		b->cur_spilled = false;
		b->cur_bytes = 0;
		break;
	case J_REUSE:
		for (i = 0; i < j->nchunks && !rc; i++) {
			struct mop m = {
			    .e = NULL, .pack_idx = -1, .ref = j->chunks[i]};

			b->stats.chunks++;
			rc = mop_out(b, &m);
		}
		if (!rc) {
			b->reused_files++;
			if (j->dt.len == BFS_HASH_LEN) {
				memcpy(b->wt.dt, j->dt.data, BFS_HASH_LEN);
				b->wt.has_dt = true;
			}
			if (j->has_sk) {
				memcpy(b->wt.sk, j->reuse_sk, BFS_HASH_LEN);
				b->wt.has_sk = true;
			}
			if (j->has_sa) {
				memcpy(b->wt.sa, j->reuse_sa, BFS_HASH_LEN);
				b->wt.has_sa = true;
			}
			rc = entry_out(b, e);
			e = NULL;
		}
		break;
	}
	wr_entry_free(e);
	bfs_buf_free(&j->dt);
	j->has_sk = j->has_sa = false;
	free(j->chunks);
	j->chunks = NULL;
	j->nchunks = 0;
	if (!rc)
		rc = wr_upload_error(b);
	wr_progress(b, false);
	return rc;
}

/* Wait for the oldest job and consume it. */
static int consume_one(struct bfs_backup *b)
{
	struct job *j = &b->jobs[b->tail % b->njobs];
	int rc;

	pthread_mutex_lock(&b->ring_lock);
	while (!j->done)
		pthread_cond_wait(&b->done_cond, &b->ring_lock);
	pthread_mutex_unlock(&b->ring_lock);
	rc = consume_job(b, j);
	b->tail++;
	return rc;
}

static int drain(struct bfs_backup *b)
{
	int rc = 0;

	while (b->tail < b->head)
		if ((rc = consume_one(b)))
			break;
	return rc;
}

int wr_slot_get(struct bfs_backup *b, struct job **out)
{
	int rc;

	if (b->head - b->tail == b->njobs) {
		rc = consume_one(b);
		if (rc)
			return rc;
	}
	*out = &b->jobs[b->head % b->njobs];
	return 0;
}

int wr_submit_chunk(struct bfs_backup *b, struct job *j)
{
	int rc;

	j->kind = J_CHUNK;
	j->done = false; /* published to the worker by the pool's lock */
	rc = bfs_pool_submit(b->workers, chunk_job, j);
	if (rc)
		return wr_fail(b, rc, NULL);
	b->head++;
	return 0;
}

int wr_submit_entry(struct bfs_backup *b, struct bfs_entry *e, int kind,
		    struct bfs_chunkref *chunks, size_t n)
{
	struct job *j;
	int rc = wr_slot_get(b, &j);

	if (rc) {
		wr_entry_free(e);
		free(chunks);
		return rc;
	}
	j->e = e;
	j->chunks = chunks;
	j->nchunks = n;
	j->kind = kind;
	j->done = true; /* nothing to do: only this thread reads it */
	b->head++;
	return 0;
}

int wr_submit_file_end(struct bfs_backup *b, struct bfs_entry *e, int kind,
		       struct bfs_chunkref *chunks, size_t n,
		       struct bfs_buf *dt)
{
	struct job *j;
	int rc = wr_slot_get(b, &j);

	if (rc) {
		wr_entry_free(e);
		free(chunks);
		bfs_buf_free(dt);
		return rc;
	}
	j->e = e;
	j->chunks = chunks;
	j->nchunks = n;
	j->dt = *dt;
	memset(dt, 0, sizeof(*dt));
	j->kind = kind;
	j->done = true;
	b->head++;
	return 0;
}

int wr_submit_tree(struct bfs_backup *b, struct bfs_entry *e,
		   struct wt_sealed *t)
{
	struct job *j;
	int rc = wr_slot_get(b, &j);

	if (rc) {
		wr_entry_free(e);
		wt_sealed_free(t);
		return rc;
	}
	j->e = e;
	j->sealed = t;
	j->kind = J_TREE;
	j->done = true;
	b->head++;
	return 0;
}

int wr_pipe_drain(struct bfs_backup *b)
{
	return drain(b);
}

int wr_pipe_finish(struct bfs_backup *b)
{
	int rc = drain(b);

	if (!rc)
		rc = wr_pack_finish(b);
	if (!rc)
		rc = wr_uploads_wait(b);
	if (rc)
		return rc;
	bfs_pool_destroy(b->workers);
	b->workers = NULL;
	bfs_pool_destroy(b->uploaders);
	b->uploaders = NULL;
	return 0;
}

void wr_pipe_free(struct bfs_backup *b)
{
	size_t i;

	wr_pipe_stop(b);
	for (i = 0; b->jobs && i < b->njobs; i++) {
		free(b->jobs[i].data);
		bfs_buf_free(&b->jobs[i].z);
		wr_entry_free(b->jobs[i].e);
		bfs_buf_free(&b->jobs[i].dt);
		wr_delta_unref(b->jobs[i].dx);
		free(b->jobs[i].chunks);
		wt_sealed_free(b->jobs[i].sealed);
	}
	free(b->jobs);
	b->jobs = NULL;
	b->njobs = 0;
	mopvec_clear(&b->cur);
	free(b->cur.v);
	free(b->packs);
	bfs_pack_builder_free(b->pb);
}
