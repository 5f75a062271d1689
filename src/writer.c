/* writer.c - one backup being written (see writer.h).
 *
 * Data flow and threads:
 *
 *   calling thread            worker threads            uploader threads
 *   --------------            --------------            ----------------
 *   file_write: cut chunks -> ring slot (in order) ->   SHA-256, dedup
 *   add/end/...: entry ops -> ring slot (no work)       check, zstd if new
 *   consume oldest slot (in order) <-------------------'
 *     new chunk -> pack builder -> full pack -> upload queue -> store put
 *     (U uploader threads put packs in parallel, in any order; commit
 *     joins them all before the manifest is written)
 *     chunk refs + entries -> manifest writer (or the pending queue while
 *     they reference the still-open pack, whose id is known at finish)
 *
 * Every manifest operation (entry, end of file, cancel, reuse) travels
 * through the ring too, so the manifest order is the order of the calls.
 *
 * Memory bound: ring slots (2 * threads + 2, each one chunk plus its
 * frame), the chunker buffer (2 x max chunk), the open pack plus at most
 * 2U + 1 finished packs (U + 1 queued, U being uploaded), the pending
 * queue (bounded by PENDING_MAX:
 * the open pack is finished early when it would grow beyond), the chunk
 * refs of the file being consumed (spilled to the manifest beyond
 * SPILL_CHUNKS), and two sets that grow with the backup: new chunks
 * (56 bytes each) and paths (24 bytes each, a truncated SHA-256 per path).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pack.h"
#include "writer.h"
#include "writer_int.h"
#include "writer_set.h"

/* uploader threads: default for a local store, for S3, upper bound */
#define UPLOADS_LOCAL 2
#define UPLOADS_S3 4
#define MAX_UPLOADS 16
/* overridable so a test build can exercise the spill paths cheaply */
#ifndef PENDING_MAX
#define PENDING_MAX (32u << 20)
#endif
#ifndef SPILL_CHUNKS
#define SPILL_CHUNKS 65536
#endif
#define MAX_THREADS 64
#define PROGRESS_NS 100000000LL

/* ---- ring, pending queue, packs --------------------------------------- */

enum job_kind { J_CHUNK, J_ENTRY, J_FILE_END, J_CANCEL, J_REUSE };
enum job_result { R_NEW, R_SESSION, R_CATALOG, R_ERR };

struct job {
	int kind;
	bool done;                  /* protected by ring_lock */
	uint8_t *data;              /* J_CHUNK: plain bytes (cap = datacap) */
	size_t len, datacap;
	uint8_t hash[BFS_HASH_LEN];
	int result;                 /* enum job_result */
	struct bfs_chunkref cref;   /* R_CATALOG: where it is */
	struct bfs_buf z;           /* R_NEW: the zstd frame */
	int err;                    /* R_ERR */
	char errmsg[256];
	struct bfs_entry *e;        /* entry ops: owned */
	struct bfs_chunkref *chunks;/* J_REUSE: owned */
	size_t nchunks;
	bool spilled;               /* J_CANCEL: chunks already in manifest */
};

/* A manifest operation waiting for its pack id (or behind one that is). */
struct mop {
	struct bfs_entry *e;        /* entry (owned), or NULL for a chunk */
	int32_t pack_idx;           /* chunk: -1 when ref.pack is final */
	struct bfs_chunkref ref;
};

struct mopvec {
	struct mop *v;
	size_t n, cap;
	size_t bytes;               /* approximate memory held */
};

struct packinfo {
	uint8_t id[BFS_HASH_LEN];
	bool done;
};

struct upload {
	struct bfs_buf data;
	uint8_t id[BFS_HASH_LEN];
};

struct owner_cache {
	uint32_t id;
	char *name;                 /* NULL: unknown */
};

struct bfs_backup {
	struct bfs_repo *repo;      /* borrowed */
	struct bfs_catalog *cat;    /* borrowed */
	char id[129];
	int64_t time_ns;
	int64_t start_mono;
	char *host;
	char **tags;
	struct bfs_buf sources;     /* JSON array text, without the ']' */
	unsigned nsources;

	struct bfs_manifest_writer *mw;
	struct bfs_backup_stats stats;
	bool partial;
	uint64_t reused_files;
	uint64_t bytes_read;

	/* sticky failure: once set every call returns it */
	int failed;
	struct bfs_err fail_err;

	/* worker pool and ring; ring_lock protects head/claim/job.done/stop */
	pthread_t *workers;
	unsigned nworkers;
	bool workers_started;
	pthread_mutex_t ring_lock;
	pthread_cond_t work_cond, done_cond;
	struct job *jobs;
	size_t njobs;
	uint64_t head, claim, tail; /* submitted, claimed, consumed */
	bool stop;

	/* dedup_lock protects `chunks` and every use of `cat` while the
	 * workers run (lock order: ring_lock is never held with it) */
	pthread_mutex_t dedup_lock;
	struct chunkset chunks;
	/* Packs that catalog dedup hits point into, checked against the
	 * store once each: the catalog is a cache and may name packs this
	 * location does not hold (a catalog shared by two copies of one
	 * repository, a pack removed by hand).  Key = pack id, pack_idx =
	 * 1 present / 0 missing.  Protected by dedup_lock. */
	struct chunkset packs_seen;

	/* calling thread only */
	struct pathset paths;
	char *last_parent;          /* parent dir known to exist */
	size_t last_parent_len;
	struct bfs_pack_builder *pb;
	int32_t open_pack;          /* index in packs, -1 if none */
	struct packinfo *packs;
	size_t npacks, packcap;
	struct mopvec pending;      /* waiting for the open pack */
	struct mopvec cur;          /* chunk refs of the file being consumed */
	bool cur_spilled;
	uint64_t cur_bytes;         /* plain bytes of those chunks */

	/* the file being streamed (calling-thread side) */
	bool in_file;
	struct bfs_entry *fe;
	enum bfs_profile profile;
	uint8_t *cbuf;              /* chunker buffer */
	size_t cbuf_cap, cbuf_pos, cbuf_len;
	uint64_t fsize, fchunks;

	/* uploader pool: up_lock protects the queue (upq, up_n, up_first),
	 * up_stop, up_err, up_errmsg (lock order: up_lock is a leaf, never
	 * held with ring_lock or dedup_lock, never across a store call) */
	pthread_t *uploaders;
	unsigned nuploaders;        /* started */
	pthread_mutex_t up_lock;
	pthread_cond_t up_cond;
	struct upload *upq;         /* ring of up_cap = uploaders + 1 packs */
	unsigned up_cap, up_n, up_first;
	bool up_stop;
	int up_err;
	struct bfs_err up_errmsg;

	/* progress */
	bfs_progress_cb progress;
	void *progress_arg;
	int64_t last_progress;
	char *current;              /* owned copy of the last file's path */

	/* owner name caches */
	struct owner_cache *users, *groups;
	size_t nusers, ngroups;
};

/* ---- entries ---------------------------------------------------------- */

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

static void entry_free(struct bfs_entry *e)
{
	if (!e)
		return;
	bfs_entry_clear(e);
	free(e);
}

/* Deep copy of e (strings owned by the copy). */
static struct bfs_entry *entry_dup(const struct bfs_entry *e)
{
	struct bfs_entry *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	*c = *e;
	c->path = c->user = c->group = c->target = c->link = c->error = NULL;
	c->path = dupn(e->path, e->path_len);
	if (!c->path)
		goto fail;
	if (e->user && !(c->user = strdup(e->user)))
		goto fail;
	if (e->group && !(c->group = strdup(e->group)))
		goto fail;
	if (e->target && !(c->target = dupn(e->target, e->target_len)))
		goto fail;
	if (e->link && !(c->link = dupn(e->link, e->link_len)))
		goto fail;
	if (e->error && !(c->error = strdup(e->error)))
		goto fail;
	return c;
fail:
	entry_free(c);
	return NULL;
}

static size_t entry_bytes(const struct bfs_entry *e)
{
	return sizeof(*e) + e->path_len + e->target_len + e->link_len + 64 +
	       (e->error ? strlen(e->error) : 0);
}

/* ---- failure ---------------------------------------------------------- */

static int fail(struct bfs_backup *b, int code, const struct bfs_err *why)
{
	if (!b->failed) {
		b->failed = code < 0 ? code : -EIO;
		snprintf(b->fail_err.msg, sizeof(b->fail_err.msg), "%s",
			 bfs_err_str(why, b->failed));
	}
	return b->failed;
}

static int upload_error(struct bfs_backup *b);

static int failed(struct bfs_backup *b, struct bfs_err *err)
{
	if (!b->failed && !upload_error(b))
		return 0;
	if (err)
		snprintf(err->msg, sizeof(err->msg), "%s", b->fail_err.msg);
	return b->failed;
}

/* Out of memory: fail the backup (sticky) and report it. */
static int nomem(struct bfs_backup *b, struct bfs_err *err)
{
	fail(b, -ENOMEM, NULL);
	return failed(b, err);
}

/* ---- progress --------------------------------------------------------- */

static void progress(struct bfs_backup *b, bool force)
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

/* ---- uploader --------------------------------------------------------- */

static void *uploader_main(void *arg)
{
	struct bfs_backup *b = arg;
	struct upload u;
	char key[BFS_KEY_MAX];
	struct bfs_err err;
	int rc;

	pthread_mutex_lock(&b->up_lock);
	for (;;) {
		while (!b->up_n && !b->up_stop)
			pthread_cond_wait(&b->up_cond, &b->up_lock);
		if (!b->up_n)
			break;
		u = b->upq[b->up_first];
		b->up_first = (b->up_first + 1) % b->up_cap;
		b->up_n--;
		pthread_cond_broadcast(&b->up_cond);
		if (b->up_err) {
			/* keep draining so the producer never blocks */
			bfs_buf_free(&u.data);
			continue;
		}
		pthread_mutex_unlock(&b->up_lock);

		bfs_repo_pack_key(key, u.id);
		err.msg[0] = 0;
		rc = bfs_store_put(b->repo->store, key, u.data.data,
				   u.data.len, 0, &err);
		if (rc == -EEXIST)
			rc = 0;  /* same id = same bytes */
		bfs_buf_free(&u.data);

		pthread_mutex_lock(&b->up_lock);
		/* the first failure wins; the others see up_err and drain */
		if (rc && !b->up_err) {
			b->up_err = rc;
			if (err.msg[0])
				bfs_err_prefix(&err, rc,
					       "cannot upload pack '%s'", key);
			else
				bfs_err_set(&err, rc,
					    "cannot upload pack '%s': %s", key,
					    strerror(-rc));
			b->up_errmsg = err;
		}
		pthread_cond_broadcast(&b->up_cond);
	}
	pthread_mutex_unlock(&b->up_lock);
	return NULL;
}

static int upload_error(struct bfs_backup *b)
{
	int rc;

	pthread_mutex_lock(&b->up_lock);
	rc = b->up_err;
	if (rc)
		fail(b, rc, &b->up_errmsg);
	pthread_mutex_unlock(&b->up_lock);
	return rc;
}

/* Hand a finished pack to the uploaders (ownership of data transferred).
 * Blocks while up_cap packs wait for a free uploader. */
static int upload_enqueue(struct bfs_backup *b, struct bfs_buf *data,
			  const uint8_t id[BFS_HASH_LEN])
{
	int rc;

	pthread_mutex_lock(&b->up_lock);
	while (b->up_n == b->up_cap && !b->up_err)
		pthread_cond_wait(&b->up_cond, &b->up_lock);
	rc = b->up_err;
	if (rc) {
		fail(b, rc, &b->up_errmsg);
		bfs_buf_free(data);
	} else {
		struct upload *u =
			&b->upq[(b->up_first + b->up_n) % b->up_cap];
		u->data = *data;
		memcpy(u->id, id, BFS_HASH_LEN);
		b->up_n++;
		pthread_cond_broadcast(&b->up_cond);
	}
	memset(data, 0, sizeof(*data));
	pthread_mutex_unlock(&b->up_lock);
	return rc;
}

/* Stop the uploaders after the queue drained and every put in flight
 * returned (discard: drop what is still queued); returns the first upload
 * error. */
static int uploader_stop(struct bfs_backup *b, bool discard)
{
	unsigned i;

	if (!b->nuploaders)
		return 0;
	pthread_mutex_lock(&b->up_lock);
	if (discard && !b->up_err) {
		b->up_err = -ECANCELED;
		bfs_err_set(&b->up_errmsg, -ECANCELED, "backup aborted");
	}
	b->up_stop = true;
	pthread_cond_broadcast(&b->up_cond);
	pthread_mutex_unlock(&b->up_lock);
	for (i = 0; i < b->nuploaders; i++)
		pthread_join(b->uploaders[i], NULL);
	b->nuploaders = 0;
	return discard ? 0 : upload_error(b);
}

/* Uploaders when the options leave it open: more for S3, where one PUT
 * stream is far from filling the link (also behind a cache or fault
 * wrapper, which keep the inner store's url). */
static unsigned default_uploads(const struct bfs_store *s)
{
	if (!strcmp(s->ops->name, "s3") ||
	    (s->url && !strncmp(s->url, "s3://", 5)))
		return UPLOADS_S3;
	return UPLOADS_LOCAL;
}

/* ---- workers ---------------------------------------------------------- */

/* Is the pack a catalog hit points into really in the store?  Asked
 * once per pack per backup; the store call runs without the lock (two
 * workers may both ask about one pack: harmless). */
static bool pack_present(struct bfs_backup *b,
			 const uint8_t pack[BFS_HASH_LEN])
{
	struct chunkloc *known, add;
	char key[BFS_KEY_MAX];
	uint64_t size;
	int rc;

	pthread_mutex_lock(&b->dedup_lock);
	known = bfs_chunkset_find(&b->packs_seen, pack);
	rc = known ? known->pack_idx : -1;
	pthread_mutex_unlock(&b->dedup_lock);
	if (rc >= 0)
		return rc == 1;
	bfs_repo_pack_key(key, pack);
	rc = bfs_store_stat(b->repo->store, key, &size, NULL);
	if (rc && rc != -ENOENT)
		return false;   /* unsure: store the chunk again, stay safe */
	if (rc == -ENOENT)
		bfs_warn("pack '%s' is in the catalog but not in the "
			 "repository: storing its chunks again", key);
	memset(&add, 0, sizeof(add));
	memcpy(add.hash, pack, BFS_HASH_LEN);
	add.pack_idx = rc == 0;
	pthread_mutex_lock(&b->dedup_lock);
	if (!bfs_chunkset_find(&b->packs_seen, pack))
		bfs_chunkset_insert(&b->packs_seen, &add);  /* ENOMEM: ask again */
	pthread_mutex_unlock(&b->dedup_lock);
	return rc == 0;
}

static void work_chunk(struct bfs_backup *b, struct job *j)
{
	struct bfs_err err;
	int rc;

	bfs_sha256(j->hash, j->data, j->len);
	pthread_mutex_lock(&b->dedup_lock);
	if (bfs_chunkset_find(&b->chunks, j->hash))
		j->result = R_SESSION;
	else if (b->cat &&
		 bfs_catalog_chunk_lookup(b->cat, j->hash, &j->cref) == 0 &&
		 j->cref.len == j->len)
		j->result = R_CATALOG;
	else
		j->result = R_NEW;
	pthread_mutex_unlock(&b->dedup_lock);
	if (j->result == R_CATALOG && !pack_present(b, j->cref.pack))
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
		snprintf(j->errmsg, sizeof(j->errmsg), "cannot compress chunk: %s",
			 bfs_err_str(&err, rc));
	}
}

static void *worker_main(void *arg)
{
	struct bfs_backup *b = arg;
	struct job *j;

	pthread_mutex_lock(&b->ring_lock);
	for (;;) {
		/* skip ops that need no work (marked done at submit) */
		while (b->claim < b->head && b->jobs[b->claim % b->njobs].done)
			b->claim++;
		if (b->claim == b->head) {
			if (b->stop)
				break;
			pthread_cond_wait(&b->work_cond, &b->ring_lock);
			continue;
		}
		j = &b->jobs[b->claim % b->njobs];
		b->claim++;
		pthread_mutex_unlock(&b->ring_lock);
		work_chunk(b, j);
		pthread_mutex_lock(&b->ring_lock);
		j->done = true;
		pthread_cond_broadcast(&b->done_cond);
	}
	pthread_mutex_unlock(&b->ring_lock);
	return NULL;
}

static void workers_stop(struct bfs_backup *b)
{
	unsigned i;

	if (!b->workers_started)
		return;
	pthread_mutex_lock(&b->ring_lock);
	b->stop = true;
	pthread_cond_broadcast(&b->work_cond);
	pthread_mutex_unlock(&b->ring_lock);
	for (i = 0; i < b->nworkers; i++)
		pthread_join(b->workers[i], NULL);
	b->workers_started = false;
}

/* ---- manifest output -------------------------------------------------- */

static void chunk_resolve(struct bfs_backup *b, struct mop *m)
{
	if (m->pack_idx >= 0) {
		memcpy(m->ref.pack, b->packs[m->pack_idx].id, BFS_HASH_LEN);
		m->pack_idx = -1;
	}
}

static bool mop_ready(struct bfs_backup *b, const struct mop *m)
{
	return m->e || m->pack_idx < 0 || b->packs[m->pack_idx].done;
}

static int mop_write(struct bfs_backup *b, struct mop *m)
{
	struct bfs_err err;
	int rc;

	err.msg[0] = 0;
	if (m->e) {
		rc = bfs_manifest_writer_entry(b->mw, m->e, &err);
		entry_free(m->e);
		m->e = NULL;
	} else {
		chunk_resolve(b, m);
		rc = bfs_manifest_writer_chunk(b->mw, &m->ref, &err);
	}
	if (rc)
		return fail(b, rc, &err);
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
		entry_free(v->v[i].e);
	v->n = 0;
	v->bytes = 0;
}

static void mopvec_free(struct mopvec *v)
{
	mopvec_clear(v);
	free(v->v);
	memset(v, 0, sizeof(*v));
}

static int pending_flush(struct bfs_backup *b)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < b->pending.n && !rc; i++)
		rc = mop_write(b, &b->pending.v[i]);
	mopvec_clear(&b->pending);
	return rc;
}

static int pack_finish(struct bfs_backup *b)
{
	struct bfs_buf out = { 0 };
	int32_t idx = b->open_pack;
	int rc;

	if (idx < 0)
		return 0;
	rc = bfs_pack_builder_finish(b->pb, &out, b->packs[idx].id);
	if (rc) {
		struct bfs_err err;

		bfs_err_set(&err, rc, "cannot finish pack");
		bfs_buf_free(&out);
		return fail(b, rc, &err);
	}
	b->packs[idx].done = true;
	b->open_pack = -1;
	rc = upload_enqueue(b, &out, b->packs[idx].id);
	if (rc)
		return rc;
	return pending_flush(b);
}

/* Write m now if nothing waits before it and its pack is known, else
 * queue it (ownership of m->e transferred either way). */
static int mop_out(struct bfs_backup *b, struct mop *m)
{
	int rc;

	if (!b->pending.n && mop_ready(b, m))
		return mop_write(b, m);
	rc = mopvec_push(&b->pending, m);
	if (rc) {
		entry_free(m->e);
		return fail(b, rc, NULL);
	}
	if (b->pending.bytes > PENDING_MAX && b->open_pack >= 0)
		return pack_finish(b);
	return 0;
}

static int entry_out(struct bfs_backup *b, struct bfs_entry *e)
{
	struct mop m = { .e = e, .pack_idx = -1 };

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
	struct mop m = { .e = NULL };
	struct chunkloc *loc, nl;
	struct bfs_err err;
	bool added = false;
	int rc = 0;

	if (j->result == R_ERR) {
		bfs_err_set(&err, j->err, "%s", j->errmsg);
		return fail(b, j->err, &err);
	}
	memcpy(m.ref.hash, j->hash, BFS_HASH_LEN);
	m.ref.len = (uint32_t)j->len;
	pthread_mutex_lock(&b->dedup_lock);
	loc = bfs_chunkset_find(&b->chunks, j->hash);
	if (loc) {
		m.pack_idx = loc->pack_idx;
		m.ref.offset = loc->offset;
		m.ref.clen = loc->clen;
	} else if (j->result == R_CATALOG) {
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
		rc = -EFAULT;   /* R_SESSION but not in the set: cannot be */
	}
out_unlock:
	pthread_mutex_unlock(&b->dedup_lock);
	if (rc) {
		bfs_err_set(&err, rc, "cannot add chunk to pack");
		return fail(b, rc, &err);
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
		rc = fail(b, rc, NULL);
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
				bfs_warn("'%s' could not be read completely; the backup keeps its first %llu bytes",
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
			struct mop m = { .e = NULL, .pack_idx = -1,
					 .ref = j->chunks[i] };

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
	entry_free(e);
	free(j->chunks);
	j->chunks = NULL;
	j->nchunks = 0;
	if (!rc)
		rc = upload_error(b);
	progress(b, false);
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
	/* entry ops are done at submit and may be consumed before the
	 * workers' claim index passed them; keep claim >= tail so a claim
	 * index always names the job currently in its slot */
	if (b->claim <= b->tail)
		b->claim = b->tail + 1;
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

/* A free slot (consuming the oldest if the ring is full).  The slot is
 * not yet visible to workers: fill it, then submit(). */
static int slot_get(struct bfs_backup *b, struct job **out)
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

static void submit(struct bfs_backup *b, struct job *j, int kind)
{
	j->kind = kind;
	pthread_mutex_lock(&b->ring_lock);
	j->done = kind != J_CHUNK;
	b->head++;
	if (kind == J_CHUNK)
		pthread_cond_signal(&b->work_cond);
	pthread_mutex_unlock(&b->ring_lock);
}

/* Queue an entry op (ownership of e transferred, even on failure). */
static int submit_entry(struct bfs_backup *b, struct bfs_entry *e, int kind,
			struct bfs_chunkref *chunks, size_t n)
{
	struct job *j;
	int rc = slot_get(b, &j);

	if (rc) {
		entry_free(e);
		free(chunks);
		return rc;
	}
	j->e = e;
	j->chunks = chunks;
	j->nchunks = n;
	submit(b, j, kind);
	return 0;
}

/* ---- paths ------------------------------------------------------------ */

static int add_implicit_dir(struct bfs_backup *b, const char *p, size_t n)
{
	struct bfs_entry *e = calloc(1, sizeof(*e));
	int rc;

	if (!e || !(e->path = dupn(p, n))) {
		free(e);
		return fail(b, -ENOMEM, NULL);
	}
	e->path_len = n;
	e->type = BFS_T_DIR;
	e->mode = 0755;
	e->uid = getuid();
	e->gid = getgid();
	e->mtime_ns = b->time_ns;
	bfs_backup_owner_names(b, e);
	rc = bfs_pathset_set(&b->paths, p, n, PK_DIR_IMPLICIT);
	if (rc) {
		entry_free(e);
		return fail(b, rc, NULL);
	}
	return submit_entry(b, e, J_ENTRY, NULL, 0);
}

/* Make sure every ancestor of path exists as a directory. */
static int ensure_parents(struct bfs_backup *b, const char *path, size_t n,
			  struct bfs_err *err)
{
	size_t plen = n, i;
	int kind, rc;
	char *np;

	while (plen && path[plen - 1] != '/')
		plen--;
	if (!plen)
		return 0;
	plen--;   /* parent without the slash */
	if (b->last_parent && b->last_parent_len == plen &&
	    !memcmp(b->last_parent, path, plen))
		return 0;
	for (i = 1; i <= plen; i++) {
		if (i < plen && path[i] != '/')
			continue;
		kind = bfs_pathset_get(&b->paths, path, i);
		if (kind == PK_NONE) {
			rc = add_implicit_dir(b, path, i);
			if (rc)
				return failed(b, err);
		} else if (kind != PK_DIR && kind != PK_DIR_IMPLICIT) {
			return bfs_err_set(err, -ENOTDIR,
					   "cannot add '%s': '%.*s' is not a directory",
					   path, (int)i, path);
		}
	}
	np = dupn(path, plen);
	if (np) {
		free(b->last_parent);
		b->last_parent = np;
		b->last_parent_len = plen;
	}
	return 0;
}

/* Common checks for a new path; returns the kind to record or -errno.
 * *skip is set when the op must be dropped silently. */
static int path_claim(struct bfs_backup *b, const struct bfs_entry *e,
		      bool is_error, bool *skip, struct bfs_err *err)
{
	int kind, rc;

	*skip = false;
	if (!e->path || e->path_len != strlen(e->path) ||
	    !bfs_manifest_path_valid(e->path, e->path_len))
		return bfs_err_set(err, -EINVAL, "invalid path '%s' in backup",
				   e->path ? e->path : "");
	if (e->link) {
		if (e->type != BFS_T_FILE)
			return bfs_err_set(err, -EINVAL,
					   "hardlink '%s' must be a file",
					   e->path);
		if (bfs_pathset_get(&b->paths, e->link, e->link_len) != PK_REG)
			return bfs_err_set(err, -EINVAL,
					   "hardlink '%s' points to '%s', not a file written before",
					   e->path, e->link);
	}
	kind = bfs_pathset_get(&b->paths, e->path, e->path_len);
	if (e->type == BFS_T_DIR) {
		if (kind == PK_DIR) {
			*skip = !is_error;   /* keeps its first metadata */
			if (*skip)
				return 0;
		} else if (kind != PK_NONE && kind != PK_DIR_IMPLICIT &&
			   kind != PK_CANCELLED) {
			return bfs_err_set(err, -EEXIST,
					   "duplicate path '%s' in backup",
					   e->path);
		}
	} else if (kind == PK_CANCEL_EMITTED && is_error) {
		*skip = true;
		return bfs_pathset_set(&b->paths, e->path, e->path_len, PK_OTHER);
	} else if (kind != PK_NONE && kind != PK_CANCELLED) {
		return bfs_err_set(err, -EEXIST, "duplicate path '%s' in backup",
				   e->path);
	}
	rc = ensure_parents(b, e->path, e->path_len, err);
	if (rc)
		return rc;
	if (e->type == BFS_T_DIR)
		kind = PK_DIR;
	else if (e->type == BFS_T_FILE && !e->link && !is_error)
		kind = PK_REG;
	else
		kind = PK_OTHER;
	rc = bfs_pathset_set(&b->paths, e->path, e->path_len, kind);
	if (rc)
		return fail(b, rc, NULL);
	return 0;
}

static int check_type(const struct bfs_entry *e, struct bfs_err *err)
{
	switch (e->type) {
	case BFS_T_FILE: case BFS_T_DIR: case BFS_T_SYMLINK: case BFS_T_FIFO:
	case BFS_T_CHR: case BFS_T_BLK: case BFS_T_SOCK:
		return 0;
	}
	return bfs_err_set(err, -EINVAL, "invalid type %d for '%s'", e->type,
			   e->path ? e->path : "");
}

static int entry_prepare(struct bfs_backup *b, struct bfs_entry *c)
{
	c->mode &= 07777;
	if (c->type == BFS_T_SYMLINK)
		c->size = c->target_len;
	else if (c->type != BFS_T_FILE)
		c->size = 0;
	if ((!c->user || !c->group) && bfs_backup_owner_names(b, c))
		return -ENOMEM;
	return 0;
}

/* ---- public API ------------------------------------------------------- */

static int json_str(struct bfs_buf *o, const char *s)
{
	size_t n = strlen(s), i;
	int rc = bfs_buf_append(o, "\"", 1);

	/* bytes that are not UTF-8 are written as \u00XX (one code point
	 * per byte): lossy but deterministic, so source keys still match */
	for (i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t k;

		if (c == '"' || c == '\\') {
			rc = bfs_buf_printf(o, "\\%c", c);
		} else if (c < 0x20) {
			rc = bfs_buf_printf(o, "\\u%04x", c);
		} else if (c < 0x80) {
			rc = bfs_buf_append(o, &s[i], 1);
		} else {
			k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
			if (k > 1 && i + k <= n && bfs_utf8_valid(&s[i], k)) {
				rc = bfs_buf_append(o, &s[i], k);
				i += k - 1;
			} else {
				rc = bfs_buf_printf(o, "\\u%04x", c);
			}
		}
	}
	return rc ? rc : bfs_buf_append(o, "\"", 1);
}

/* Build the default id from the current UTC time. */
static void default_id(char *out, size_t n, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%d_%H-%M-%S", &tm);
}

static void backup_free(struct bfs_backup *b)
{
	size_t i;

	if (!b)
		return;
	workers_stop(b);
	uploader_stop(b, true);
	for (i = 0; i < b->njobs; i++) {
		free(b->jobs[i].data);
		bfs_buf_free(&b->jobs[i].z);
		entry_free(b->jobs[i].e);
		free(b->jobs[i].chunks);
	}
	free(b->jobs);
	free(b->workers);
	free(b->uploaders);
	free(b->upq);
	bfs_manifest_writer_free(b->mw);
	bfs_pack_builder_free(b->pb);
	free(b->chunks.v);
	free(b->packs_seen.v);
	free(b->paths.v);
	free(b->last_parent);
	free(b->packs);
	mopvec_free(&b->pending);
	mopvec_free(&b->cur);
	entry_free(b->fe);
	free(b->cbuf);
	free(b->current);
	free(b->host);
	if (b->tags) {
		for (i = 0; b->tags[i]; i++)
			free(b->tags[i]);
		free(b->tags);
	}
	bfs_buf_free(&b->sources);
	for (i = 0; i < b->nusers; i++)
		free(b->users[i].name);
	for (i = 0; i < b->ngroups; i++)
		free(b->groups[i].name);
	free(b->users);
	free(b->groups);
	pthread_mutex_destroy(&b->ring_lock);
	pthread_mutex_destroy(&b->dedup_lock);
	pthread_mutex_destroy(&b->up_lock);
	pthread_cond_destroy(&b->work_cond);
	pthread_cond_destroy(&b->done_cond);
	pthread_cond_destroy(&b->up_cond);
	free(b);
}

int bfs_backup_begin(struct bfs_repo *repo, struct bfs_catalog *cat,
		     const struct bfs_backup_opts *opts,
		     struct bfs_backup **out, struct bfs_err *err)
{
	struct bfs_backup_opts none = { 0 };
	struct bfs_backup_info info;
	struct bfs_backup *b;
	char key[BFS_KEY_MAX], host[256];
	uint64_t sz;
	long ncpu;
	size_t i, ntags = 0;
	unsigned nup;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &none;
	b = calloc(1, sizeof(*b));
	if (!b)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&b->ring_lock, NULL);
	pthread_mutex_init(&b->dedup_lock, NULL);
	pthread_mutex_init(&b->up_lock, NULL);
	pthread_cond_init(&b->work_cond, NULL);
	pthread_cond_init(&b->done_cond, NULL);
	pthread_cond_init(&b->up_cond, NULL);
	b->repo = repo;
	b->cat = cat;
	b->open_pack = -1;
	b->time_ns = bfs_now_ns();
	b->start_mono = bfs_mono_ns();
	b->last_progress = b->start_mono;
	b->progress = opts->progress;
	b->progress_arg = opts->progress_arg;

	if (opts->id) {
		if (!bfs_backup_id_valid(opts->id)) {
			rc = bfs_err_set(err, -EINVAL,
					 "invalid backup id '%s' (allowed: A-Z a-z 0-9 . _ -)",
					 opts->id);
			goto out_free;
		}
		snprintf(b->id, sizeof(b->id), "%s", opts->id);
	} else {
		default_id(b->id, sizeof(b->id), b->time_ns);
	}
	rc = bfs_repo_manifest_key(key, b->id);
	if (rc) {
		rc = bfs_err_set(err, rc, "invalid backup id '%s'", b->id);
		goto out_free;
	}
	rc = bfs_store_stat(repo->store, key, &sz, NULL);
	if (rc == 0) {
		rc = bfs_err_set(err, -EEXIST, "backup '%s' already exists",
				 b->id);
		goto out_free;
	}
	if (rc != -ENOENT) {
		struct bfs_err e2 = { { 0 } };

		rc = bfs_store_stat(repo->store, key, &sz, &e2);
		if (rc != -ENOENT) {
			rc = bfs_err_set(err, rc ? rc : -EEXIST,
					 "cannot check backup '%s': %s", b->id,
					 bfs_err_str(&e2, rc));
			goto out_free;
		}
	}
	if (cat) {
		memset(&info, 0, sizeof(info));
		rc = bfs_catalog_find_backup(cat, b->id, &info, NULL);
		bfs_backup_info_clear(&info);
		if (rc == 0) {
			rc = bfs_err_set(err, -EEXIST,
					 "backup '%s' already exists", b->id);
			goto out_free;
		}
	}

	if (opts->host) {
		b->host = strdup(opts->host);
	} else {
		if (gethostname(host, sizeof(host)))
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = 0;
		b->host = strdup(host);
	}
	if (opts->tags)
		while (opts->tags[ntags])
			ntags++;
	b->tags = calloc(ntags + 1, sizeof(*b->tags));
	if (!b->host || !b->tags)
		goto out_nomem;
	for (i = 0; i < ntags; i++)
		if (!(b->tags[i] = strdup(opts->tags[i])))
			goto out_nomem;
	if (bfs_buf_append(&b->sources, "[", 1))
		goto out_nomem;

	rc = bfs_manifest_writer_new(&b->mw, err);
	if (rc)
		goto out_free;
	b->pb = bfs_pack_builder_new();
	if (!b->pb)
		goto out_nomem;

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	b->nworkers = opts->threads ? opts->threads
				    : (ncpu > 0 ? (unsigned)ncpu : 1);
	if (b->nworkers > MAX_THREADS)
		b->nworkers = MAX_THREADS;
	b->njobs = 2 * (size_t)b->nworkers + 2;
	b->jobs = calloc(b->njobs, sizeof(*b->jobs));
	b->workers = calloc(b->nworkers, sizeof(*b->workers));
	if (!b->jobs || !b->workers)
		goto out_nomem;

	nup = opts->uploads ? opts->uploads : default_uploads(repo->store);
	nup = BFS_MIN(nup, MAX_UPLOADS);
	b->up_cap = nup + 1;
	b->upq = calloc(b->up_cap, sizeof(*b->upq));
	b->uploaders = calloc(nup, sizeof(*b->uploaders));
	if (!b->upq || !b->uploaders)
		goto out_nomem;
	for (i = 0; i < nup; i++) {
		rc = -pthread_create(&b->uploaders[i], NULL, uploader_main, b);
		if (rc) {
			rc = bfs_err_set(err, rc, "cannot start upload threads");
			goto out_free;
		}
		b->nuploaders++;
	}
	for (i = 0; i < b->nworkers; i++) {
		rc = -pthread_create(&b->workers[i], NULL, worker_main, b);
		if (rc) {
			b->nworkers = (unsigned)i;
			b->workers_started = i > 0;
			rc = bfs_err_set(err, rc, "cannot start worker threads");
			goto out_free;
		}
	}
	b->workers_started = true;
	*out = b;
	return 0;

out_nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out_free:
	backup_free(b);
	return rc;
}

const char *bfs_backup_id(const struct bfs_backup *b)
{
	return b->id;
}

struct bfs_catalog *bfs_backup_catalog(struct bfs_backup *b)
{
	return b->cat;
}

int64_t bfs_backup_time_ns(const struct bfs_backup *b)
{
	return b->time_ns;
}

void bfs_backup_catalog_lock(struct bfs_backup *b)
{
	pthread_mutex_lock(&b->dedup_lock);
}

void bfs_backup_catalog_unlock(struct bfs_backup *b)
{
	pthread_mutex_unlock(&b->dedup_lock);
}

static int owner_lookup(struct owner_cache **cache, size_t *n, uint32_t id,
			bool group, char **out)
{
	struct owner_cache *nc;
	char buf[4096], *name = NULL;
	size_t i;

	for (i = 0; i < *n; i++) {
		if ((*cache)[i].id == id) {
			name = (*cache)[i].name;
			goto found;
		}
	}
	if (group) {
		struct group gr, *res = NULL;

		if (!getgrgid_r(id, &gr, buf, sizeof(buf), &res) && res)
			name = strdup(res->gr_name);
	} else {
		struct passwd pw, *res = NULL;

		if (!getpwuid_r(id, &pw, buf, sizeof(buf), &res) && res)
			name = strdup(res->pw_name);
	}
	/* the caches stay small (one slot per distinct owner); a linear
	 * scan is fine below a few hundred owners */
	if (*n < 1024) {
		nc = realloc(*cache, (*n + 1) * sizeof(*nc));
		if (nc) {
			*cache = nc;
			nc[*n].id = id;
			nc[*n].name = name;
			(*n)++;
		} else {
			free(name);
			name = NULL;
		}
	} else {
		if (name) {
			*out = name;
			return 0;
		}
	}
found:
	if (name && !(*out = strdup(name)))
		return -ENOMEM;
	return 0;
}

int bfs_backup_owner_names(struct bfs_backup *b, struct bfs_entry *e)
{
	int rc = 0;

	if (!e->user)
		rc = owner_lookup(&b->users, &b->nusers, e->uid, false,
				  &e->user);
	if (!rc && !e->group)
		rc = owner_lookup(&b->groups, &b->ngroups, e->gid, true,
				  &e->group);
	return rc;
}

int bfs_backup_add_source(struct bfs_backup *b, const char *kind,
			  const char *dest, const char *spec,
			  const char *key, struct bfs_err *err)
{
	struct bfs_buf *o = &b->sources;
	int rc;

	if ((rc = failed(b, err)))
		return rc;
	rc = bfs_buf_printf(o, "%s{\"kind\":", b->nsources ? "," : "");
	if (!rc)
		rc = json_str(o, kind ? kind : "");
	if (!rc)
		rc = bfs_buf_printf(o, ",\"dest\":");
	if (!rc)
		rc = json_str(o, dest ? dest : "");
	if (!rc)
		rc = bfs_buf_printf(o, ",\"spec\":");
	if (!rc)
		rc = json_str(o, spec ? spec : "");
	if (!rc)
		rc = bfs_buf_printf(o, ",\"key\":");
	if (!rc)
		rc = json_str(o, key ? key : "");
	if (!rc)
		rc = bfs_buf_append(o, "}", 1);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	b->nsources++;
	return 0;
}

static int add_common(struct bfs_backup *b, const struct bfs_entry *e,
		      const char *why, struct bfs_err *err)
{
	struct bfs_entry *c;
	bool skip;
	int rc;

	if ((rc = failed(b, err)))
		return rc;
	if (b->in_file)
		return bfs_err_set(err, -EBUSY, "file '%s' is still open",
				   b->fe->path);
	if ((rc = check_type(e, err)))
		return rc;
	if (!why && e->type == BFS_T_FILE && !e->link)
		return bfs_err_set(err, -EINVAL,
				   "file '%s' must be streamed or reused",
				   e->path);
	if (e->type == BFS_T_SYMLINK && !e->target && !why)
		return bfs_err_set(err, -EINVAL, "symlink '%s' has no target",
				   e->path);
	rc = path_claim(b, e, why != NULL, &skip, err);
	if (rc || skip)
		return rc;
	c = entry_dup(e);
	if (!c)
		return nomem(b, err);
	if (why) {
		free(c->error);
		c->error = strdup(why);
		free(c->link);
		c->link = NULL;
		c->link_len = 0;
		if (!c->error) {
			entry_free(c);
			return nomem(b, err);
		}
	}
	if (entry_prepare(b, c)) {
		entry_free(c);
		return nomem(b, err);
	}
	if (c->link)   /* a hardlink has its group's size */
		c->size = bfs_pathset_size(&b->paths, c->link, c->link_len);
	rc = submit_entry(b, c, J_ENTRY, NULL, 0);
	return rc ? failed(b, err) : 0;
}

int bfs_backup_add(struct bfs_backup *b, const struct bfs_entry *e,
		   struct bfs_err *err)
{
	return add_common(b, e, NULL, err);
}

int bfs_backup_add_error(struct bfs_backup *b, const struct bfs_entry *e,
			 const char *why, struct bfs_err *err)
{
	return add_common(b, e, why ? why : "unreadable", err);
}

int bfs_backup_file_begin(struct bfs_backup *b, const struct bfs_entry *e,
			  enum bfs_profile profile, struct bfs_err *err)
{
	size_t need;
	bool skip;
	int rc;

	if ((rc = failed(b, err)))
		return rc;
	if (b->in_file)
		return bfs_err_set(err, -EBUSY, "file '%s' is still open",
				   b->fe->path);
	if (e->type != BFS_T_FILE || e->link)
		return bfs_err_set(err, -EINVAL, "'%s' is not a regular file",
				   e->path ? e->path : "");
	if (profile < 0 || profile >= BFS_PROFILE_COUNT)
		return bfs_err_set(err, -EINVAL, "invalid chunker profile");
	rc = path_claim(b, e, false, &skip, err);
	if (rc)
		return rc;
	b->fe = entry_dup(e);
	if (!b->fe || entry_prepare(b, b->fe))
		return nomem(b, err);
	free(b->fe->error);
	b->fe->error = NULL;
	b->profile = profile;
	need = 2 * (size_t)b->repo->chunker[profile].max;
	if (b->cbuf_cap < need) {
		uint8_t *nb = realloc(b->cbuf, need);

		if (!nb)
			return nomem(b, err);
		b->cbuf = nb;
		b->cbuf_cap = need;
	}
	b->cbuf_pos = b->cbuf_len = 0;
	b->fsize = b->fchunks = 0;
	b->in_file = true;
	free(b->current);
	b->current = strdup(b->fe->path);
	return 0;
}

/* Cut chunks out of the buffer: while at least max bytes wait (or all of
 * them at eof). */
static int cut_chunks(struct bfs_backup *b, bool eof)
{
	const struct bfs_chunker_params *p = &b->repo->chunker[b->profile];
	struct job *j;
	size_t avail, n;
	int rc;

	for (;;) {
		avail = b->cbuf_len - b->cbuf_pos;
		if (!avail || (!eof && avail < p->max))
			break;
		n = bfs_chunker_cut(p, b->cbuf + b->cbuf_pos, avail, eof);
		if (!n)
			break;
		rc = slot_get(b, &j);
		if (rc)
			return rc;
		if (j->datacap < n) {
			uint8_t *nd = realloc(j->data, n);

			if (!nd)
				return fail(b, -ENOMEM, NULL);
			j->data = nd;
			j->datacap = n;
		}
		memcpy(j->data, b->cbuf + b->cbuf_pos, n);
		j->len = n;
		b->cbuf_pos += n;
		b->fchunks++;
		submit(b, j, J_CHUNK);
	}
	if (b->cbuf_pos == b->cbuf_len)
		b->cbuf_pos = b->cbuf_len = 0;
	return 0;
}

int bfs_backup_file_write(struct bfs_backup *b, const void *data, size_t n,
			  struct bfs_err *err)
{
	const uint8_t *p = data;
	size_t room;
	int rc;

	if ((rc = failed(b, err)))
		return rc;
	if (!b->in_file)
		return bfs_err_set(err, -EINVAL, "no file is open");
	while (n) {
		room = b->cbuf_cap - b->cbuf_len;
		if (!room) {
			/* fewer than max bytes left at pos: move them down */
			memmove(b->cbuf, b->cbuf + b->cbuf_pos,
				b->cbuf_len - b->cbuf_pos);
			b->cbuf_len -= b->cbuf_pos;
			b->cbuf_pos = 0;
			room = b->cbuf_cap - b->cbuf_len;
		}
		room = BFS_MIN(room, n);
		memcpy(b->cbuf + b->cbuf_len, p, room);
		b->cbuf_len += room;
		p += room;
		n -= room;
		b->fsize += room;
		b->bytes_read += room;
		rc = cut_chunks(b, false);
		if (rc)
			return failed(b, err);
	}
	progress(b, false);
	return 0;
}

int bfs_backup_file_end(struct bfs_backup *b, struct bfs_err *err)
{
	struct bfs_entry *e;
	int rc;

	if ((rc = failed(b, err)))
		return rc;
	if (!b->in_file)
		return bfs_err_set(err, -EINVAL, "no file is open");
	rc = cut_chunks(b, true);
	if (rc)
		return failed(b, err);
	e = b->fe;
	b->fe = NULL;
	b->in_file = false;
	e->size = b->fsize;
	bfs_pathset_set_size(&b->paths, e->path, e->path_len, e->size);
	rc = submit_entry(b, e, J_FILE_END, NULL, 0);
	return rc ? failed(b, err) : 0;
}

void bfs_backup_file_cancel(struct bfs_backup *b)
{
	struct bfs_entry *e;
	bool spilled;

	if (!b || !b->in_file)
		return;
	b->in_file = false;
	b->cbuf_pos = b->cbuf_len = 0;
	e = b->fe;
	b->fe = NULL;
	/* the consumer spills a file's refs into the manifest beyond
	 * SPILL_CHUNKS; then the file cannot vanish: it is kept short,
	 * counted as an error (a following add_error for it is absorbed) */
	spilled = b->fchunks > SPILL_CHUNKS;
	bfs_pathset_set(&b->paths, e->path, e->path_len,
		    spilled ? PK_CANCEL_EMITTED : PK_CANCELLED);
	if (b->failed) {
		entry_free(e);
		return;
	}
	submit_entry(b, e, J_CANCEL, NULL, 0);
}

int bfs_backup_file_fd(struct bfs_backup *b, const struct bfs_entry *e,
		       int fd, enum bfs_profile profile, struct bfs_err *err)
{
	size_t bufsz = 1u << 20;
	uint8_t *buf;
	ssize_t n;
	int rc;

	rc = bfs_backup_file_begin(b, e, profile, err);
	if (rc)
		return rc;
	buf = malloc(bufsz);
	if (!buf) {
		bfs_backup_file_cancel(b);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	for (;;) {
		n = read(fd, buf, bufsz);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			bfs_backup_file_cancel(b);
			bfs_err_set(err, rc, "cannot read '%s': %s", e->path,
				    strerror(-rc));
			goto out_free;
		}
		if (!n)
			break;
		rc = bfs_backup_file_write(b, buf, (size_t)n, err);
		if (rc) {
			bfs_backup_file_cancel(b);
			goto out_free;
		}
	}
	rc = bfs_backup_file_end(b, err);
out_free:
	free(buf);
	return rc;
}

int bfs_backup_file_reuse(struct bfs_backup *b, const struct bfs_entry *e,
			  const struct bfs_chunkref *chunks, size_t n,
			  struct bfs_err *err)
{
	struct bfs_chunkref *copy = NULL;
	struct bfs_entry *c;
	uint64_t total = 0;
	bool skip;
	size_t i;
	int rc;

	if ((rc = failed(b, err)))
		return rc;
	if (b->in_file)
		return bfs_err_set(err, -EBUSY, "file '%s' is still open",
				   b->fe->path);
	if (e->type != BFS_T_FILE || e->link)
		return bfs_err_set(err, -EINVAL, "'%s' is not a regular file",
				   e->path ? e->path : "");
	for (i = 0; i < n; i++)
		total += chunks[i].len;
	if (total != e->size)
		return bfs_err_set(err, -EINVAL,
				   "reused file '%s': chunks hold %llu bytes, size is %llu",
				   e->path, (unsigned long long)total,
				   (unsigned long long)e->size);
	rc = path_claim(b, e, false, &skip, err);
	if (rc)
		return rc;
	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return nomem(b, err);
		memcpy(copy, chunks, n * sizeof(*copy));
	}
	c = entry_dup(e);
	if (!c || entry_prepare(b, c)) {
		entry_free(c);
		free(copy);
		return nomem(b, err);
	}
	free(c->error);
	c->error = NULL;
	bfs_pathset_set_size(&b->paths, c->path, c->path_len, c->size);
	free(b->current);
	b->current = strdup(c->path);
	rc = submit_entry(b, c, J_REUSE, copy, n);
	return rc ? failed(b, err) : 0;
}

static int build_header(struct bfs_backup *b, struct bfs_manifest_header *h)
{
	memset(h, 0, sizeof(*h));
	h->id = b->id;
	h->time_ns = b->time_ns;
	h->host = b->host;
	h->tags = b->tags;
	if (bfs_buf_append(&b->sources, "]", 2))  /* with the NUL */
		return -ENOMEM;
	h->sources_json = (char *)b->sources.data;
	h->stats = b->stats;
	h->partial = b->partial;
	return 0;
}

int bfs_backup_commit(struct bfs_backup *b, struct bfs_backup_stats *stats,
		      bool *partial, struct bfs_err *err)
{
	struct bfs_manifest_header h;
	struct bfs_buf man = { 0 };
	struct bfs_err e2;
	char key[BFS_KEY_MAX];
	int rc;

	if ((rc = failed(b, err)))
		goto out_free;
	if (b->in_file) {
		rc = bfs_err_set(err, -EBUSY, "file '%s' is still open",
				 b->fe->path);
		goto out_free;
	}
	rc = drain(b);
	if (!rc)
		rc = pack_finish(b);
	if (!rc)
		rc = pending_flush(b);
	if (!rc)
		rc = uploader_stop(b, false);
	if (rc) {
		rc = failed(b, err);
		goto out_free;
	}
	workers_stop(b);
	/* the sets are not needed any more: give their memory back before
	 * the manifest and the catalog ingest take theirs */
	free(b->chunks.v);
	memset(&b->chunks, 0, sizeof(b->chunks));
	free(b->packs_seen.v);
	memset(&b->packs_seen, 0, sizeof(b->packs_seen));
	free(b->paths.v);
	memset(&b->paths, 0, sizeof(b->paths));

	b->stats.duration_ns = bfs_mono_ns() - b->start_mono;
	rc = build_header(b, &h);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out_free;
	}
	rc = bfs_manifest_writer_finish(b->mw, &h, &man, err);
	if (rc) {
		bfs_err_prefix(err, rc, "cannot write manifest of backup '%s'",
			       b->id);
		goto out_man;
	}
	bfs_repo_manifest_key(key, b->id);
	rc = bfs_store_put(b->repo->store, key, man.data, man.len,
			   BFS_PUT_EXCL, err);
	if (rc == -EEXIST) {
		rc = bfs_err_set(err, -EEXIST, "backup '%s' already exists",
				 b->id);
		goto out_man;
	}
	if (rc) {
		bfs_err_prefix(err, rc, "cannot store manifest '%s'", key);
		goto out_man;
	}
	if (b->cat) {
		e2.msg[0] = 0;
		rc = bfs_catalog_ingest(b->cat, b->id, man.data, man.len, &e2);
		if (rc)
			/* the backup exists (its manifest is stored); only
			 * the local index lags behind */
			bfs_warn("backup '%s' was written but the catalog could not record it (%s); run `backupfs catalog sync`",
				 b->id, bfs_err_str(&e2, rc));
		rc = 0;
	}
	if (stats)
		*stats = b->stats;
	if (partial)
		*partial = b->partial;
	progress(b, true);
out_man:
	bfs_buf_free(&man);
out_free:
	backup_free(b);
	return rc;
}

void bfs_backup_abort(struct bfs_backup *b)
{
	backup_free(b);
}
