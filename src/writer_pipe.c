/* writer_pipe.c - the writer's pipeline (see writer_impl.h): the ring of
 * ops, chunk jobs on the worker pool, the in-order consumer, packs, the
 * manifest output and pack uploads on the uploader pool.
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

static int upload_error(struct bfs_backup *b);

int wr_failed(struct bfs_backup *b, struct bfs_err *err)
{
	if (!b->failed && !upload_error(b))
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
	p.new_bytes = b->stats.new_bytes;
	p.stored_bytes = b->stats.stored_bytes;
	p.reused_files = b->reused_files;
	p.errors = b->stats.errors;
	p.elapsed_ns = now - b->start_mono;
	p.current = b->current;
	b->progress(b->progress_arg, &p);
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

static int upload_error(struct bfs_backup *b)
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
	int rc = upload_error(b);

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
static int uploads_wait(struct bfs_backup *b)
{
	bfs_pool_wait(b->uploaders);
	return upload_error(b);
}

/* ---- workers ---------------------------------------------------------- */

/* Is the pack an index hit points into really in the repository?  Asked
 * once per pack per backup; the index call runs without the lock (two
 * workers may both ask about one pack: harmless). */
static bool pack_present(struct bfs_backup *b, const uint8_t pack[BFS_HASH_LEN])
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

static void work_chunk(struct bfs_backup *b, struct job *j)
{
	struct bfs_err err;
	bool session;
	int rc;

	bfs_sha256(j->hash, j->data, j->len);
	pthread_mutex_lock(&b->dedup_lock);
	session = bfs_chunkset_find(&b->chunks, j->hash) != NULL;
	pthread_mutex_unlock(&b->dedup_lock);
	if (session)
		j->result = R_SESSION;
	else if (bfs_index_chunk_find(b->idx, j->hash, &j->cref) == 0 &&
		 j->cref.len == j->len)
		j->result = R_INDEX;
	else
		j->result = R_NEW;
	if (j->result == R_INDEX && !pack_present(b, j->cref.pack))
		j->result = R_NEW;
	if (j->result != R_NEW)
		return;
	j->z.len = 0;
	err.msg[0] = 0;
	rc = bfs_zstd_compress(&j->z, j->data, j->len, b->repo->zstd_level,
			       &err);
	if (rc) {
		j->result = R_ERR;
		j->err = rc;
		snprintf(j->errmsg, sizeof(j->errmsg),
			 "cannot compress chunk: %s", bfs_err_str(&err, rc));
	}
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
	if (m->e) {
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

static int pack_finish(struct bfs_backup *b)
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
	for (size_t i = 0; i < n; i++) {
		const struct bfs_pack_entry *pe =
		    &bfs_pack_builder_entries(b->pb)[i];

		memcpy(ib[i].hash, pe->hash, BFS_HASH_LEN);
		ib[i].type = pe->type;
		ib[i].offset = pe->offset;
		ib[i].clen = pe->clen;
		ib[i].len = pe->len;
	}
	rc = bfs_idxobj_writer_pack(b->idxw, b->packs[idx].id, ib, n);
	free(ib);
	if (rc) {
		bfs_buf_free(&out);
		return wr_fail(b, rc, NULL);
	}
	b->packs[idx].done = true;
	b->open_pack = -1;
	return upload_enqueue(b, &out, b->packs[idx].id);
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
	pthread_mutex_lock(&b->dedup_lock);
	loc = bfs_chunkset_find(&b->chunks, j->hash);
	if (loc) {
		m.pack_idx = loc->pack_idx;
		m.ref.offset = loc->offset;
		m.ref.clen = loc->clen;
	} else if (j->result == R_INDEX) {
		m.ref = j->cref;
		m.pack_idx = -1;
	} else if (j->result == R_NEW) {
		if (b->open_pack < 0) {
			if (b->npacks == b->packcap) {
				size_t nc = b->packcap ? b->packcap * 2 : 64;
				struct packinfo *np =
				    realloc(b->packs, nc * sizeof(*np));

				if (!np) {
					rc = -ENOMEM;
					goto out_unlock;
				}
				b->packs = np;
				b->packcap = nc;
			}
			memset(&b->packs[b->npacks], 0, sizeof(b->packs[0]));
			b->open_pack = (int32_t)b->npacks++;
		}
		rc = bfs_pack_builder_add(b->pb, j->hash, j->z.data,
					  (uint32_t)j->z.len, (uint32_t)j->len,
					  &m.ref.offset);
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
	}
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
		return pack_finish(b);
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
		break;
	case J_ENTRY:
		rc = entry_out(b, e);
		e = NULL;
		break;
	case J_FILE_END:
		rc = cur_spill(b);
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
			rc = entry_out(b, e);
			e = NULL;
		}
		break;
	}
	wr_entry_free(e);
	free(j->chunks);
	j->chunks = NULL;
	j->nchunks = 0;
	if (!rc)
		rc = upload_error(b);
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

int wr_pipe_drain(struct bfs_backup *b)
{
	return drain(b);
}

/* Open a pack in the builder if none is open.  Under dedup_lock. */
static int pack_open(struct bfs_backup *b)
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
	struct bfs_chunkref cref;
	struct chunkloc nl = {0};
	struct bfs_buf z = {0};
	bool known;
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	bfs_sha256(id, data, len);
	pthread_mutex_lock(&b->dedup_lock);
	known = bfs_chunkset_find(&b->chunks, id) != NULL;
	pthread_mutex_unlock(&b->dedup_lock);
	if (!known && bfs_index_chunk_find(b->idx, id, &cref) == 0 &&
	    cref.len == len && pack_present(b, cref.pack))
		known = true;
	if (known)
		return 0;
	rc = bfs_zstd_compress(&z, data, len, b->repo->zstd_level, err);
	if (rc)
		return wr_fail(b, rc, err);
	pthread_mutex_lock(&b->dedup_lock);
	rc = pack_open(b);
	if (!rc)
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
		return pack_finish(b);
	return 0;
}

int wr_pipe_finish(struct bfs_backup *b)
{
	int rc = drain(b);

	if (!rc)
		rc = pack_finish(b);
	if (!rc)
		rc = uploads_wait(b);
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
		free(b->jobs[i].chunks);
	}
	free(b->jobs);
	b->jobs = NULL;
	b->njobs = 0;
	mopvec_clear(&b->cur);
	free(b->cur.v);
	free(b->packs);
	bfs_pack_builder_free(b->pb);
}
