/* copy.c - copy backups between repositories (see copy.h).
 *
 * Order per backup: packs first (in parallel, each verified against its
 * id), manifest last.  The packs of both repositories are listed once, up
 * front; the target's set grows as packs are copied, so later backups
 * sharing packs copy nothing twice.
 *
 * Threads: bfs_copy runs a bfs_pool of `jobs` workers per backup for the
 * pack transfers.  copy_state.lock protects the first error, the counters
 * and the progress callback;
 * the pack sets are only touched by the calling thread, between batches.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copy.h"
#include "format.h"
#include "log.h"
#include "manifest.h"
#include "pool.h"

#define COPY_JOBS_DEFAULT 4
#define COPY_JOBS_MAX 32

/* ---- sets of packs and names ------------------------------------------ */

struct pack_item {
	uint8_t id[BFS_HASH_LEN];
	uint64_t size;
};

struct pack_set {
	struct pack_item *v;
	size_t n, cap;
	bool sorted;
};

static int pack_cmp(const void *a, const void *b)
{
	return memcmp(a, b, BFS_HASH_LEN);
}

static int pack_set_add(struct pack_set *s, const uint8_t id[BFS_HASH_LEN],
			uint64_t size)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 256;
		struct pack_item *nv = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	memcpy(s->v[s->n].id, id, BFS_HASH_LEN);
	s->v[s->n].size = size;
	s->n++;
	s->sorted = false;
	return 0;
}

/* Sort and drop duplicate ids (keeps the first size seen). */
static void pack_set_sort(struct pack_set *s)
{
	size_t i, o = 0;

	if (s->sorted)
		return;
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), pack_cmp);
	for (i = 0; i < s->n; i++)
		if (!o || memcmp(s->v[o - 1].id, s->v[i].id, BFS_HASH_LEN))
			s->v[o++] = s->v[i];
	s->n = o;
	s->sorted = true;
}

static struct pack_item *pack_set_find(struct pack_set *s,
				       const uint8_t id[BFS_HASH_LEN])
{
	pack_set_sort(s);
	if (!s->n)
		return NULL;
	return bsearch(id, s->v, s->n, sizeof(*s->v), pack_cmp);
}

static void pack_set_free(struct pack_set *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* list() callback for "packs/": keys "packs/xx/<64 hex>" only. */
static int list_packs_cb(void *arg, const char *key, uint64_t size)
{
	struct pack_set *s = arg;
	uint8_t id[BFS_HASH_LEN];

	if (bfs_key_parse(key, id, NULL) != BFS_KEY_IS_PACK)
		return 0;
	return pack_set_add(s, id, size);
}

struct name_set {
	char **v;
	size_t n, cap;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_names_cb(void *arg, const char *key, uint64_t size)
{
	struct name_set *s = arg;
	const char *name;

	(void)size;
	if (bfs_key_parse(key, NULL, &name) != BFS_KEY_IS_MANIFEST)
		return 0;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		char **nv = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n] = strdup(name);
	if (!s->v[s->n])
		return -ENOMEM;
	s->n++;
	return 0;
}

static bool name_set_has(const struct name_set *s, const char *name)
{
	return s->n &&
	       bsearch(&name, s->v, s->n, sizeof(*s->v), name_cmp) != NULL;
}

static void name_set_free(struct name_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int list_names(struct bfs_store *st, struct name_set *out,
		      struct bfs_err *err)
{
	int rc = bfs_store_list(st, BFS_KEY_MANIFESTS, list_names_cb, out, err);

	if (rc == -ENOMEM)
		bfs_err_set(err, rc, "out of memory");
	else if (rc)
		bfs_err_prefix(err, rc, "cannot list the backups of '%s'",
			       st->url);
	if (!rc && out->n)
		qsort(out->v, out->n, sizeof(*out->v), name_cmp);
	return rc;
}

static int list_packs(struct bfs_store *st, struct pack_set *out,
		      struct bfs_err *err)
{
	int rc = bfs_store_list(st, BFS_KEY_PACKS, list_packs_cb, out, err);

	if (rc == -ENOMEM)
		bfs_err_set(err, rc, "out of memory");
	else if (rc)
		bfs_err_prefix(err, rc, "cannot list the packs of '%s'",
			       st->url);
	if (!rc)
		pack_set_sort(out);
	return rc;
}

/* ---- target ----------------------------------------------------------- */

/* Replace the repository id in config text cfg (the one occurrence of
 * old_id) with a fresh random one; everything else stays byte for byte. */
static int new_repo_id(struct bfs_buf *cfg, const char *old_id,
		       struct bfs_err *err)
{
	uint8_t rnd[BFS_HASH_LEN];
	char hex[BFS_HASH_HEX + 1];
	uint8_t *p, *hit = NULL;
	size_t n = strlen(old_id), left;
	int rc, count = 0;

	for (p = cfg->data, left = cfg->len; left >= n;) {
		uint8_t *q = memmem(p, left, old_id, n);

		if (!q)
			break;
		hit = q;
		count++;
		left -= (size_t)(q - p) + n;
		p = q + n;
	}
	if (count != 1 || n != BFS_HASH_HEX)
		return bfs_err_set(err, -EUCLEAN,
				   "cannot derive a config from the source's: "
				   "its id appears %d times",
				   count);
	rc = bfs_random(rnd, sizeof(rnd));
	if (rc)
		return bfs_err_set(err, rc, "cannot get random bytes");
	bfs_hex(hex, rnd, sizeof(rnd));
	memcpy(hit, hex, BFS_HASH_HEX);
	return 0;
}

int bfs_copy_open_target(struct bfs_repo *src, const char *url,
			 const struct bfs_store_opts *sopts, bool same_id,
			 struct bfs_repo **out, bool *created,
			 struct bfs_err *err)
{
	struct bfs_store_opts o = {.s3_path_style = -1};
	struct bfs_store *st = NULL;
	struct bfs_buf cfg = {0};
	uint64_t size;
	int64_t got;
	int rc;

	*out = NULL;
	*created = false;
	if (sopts)
		o = *sopts;
	o.create = true;
	rc = bfs_store_open(url, &o, &st, err);
	if (rc)
		return rc;
	rc = bfs_store_stat(st, BFS_KEY_CONFIG, &size, err);
	if (rc == 0)
		goto out_open;
	if (rc != -ENOENT) {
		bfs_err_prefix(err, rc, "cannot read the config of '%s'", url);
		goto out_store;
	}
	/* No repository there: make it a twin of the source. */
	got =
	    bfs_store_get(src->store, BFS_KEY_CONFIG, 0, UINT64_MAX, &cfg, err);
	if (got < 0) {
		rc = bfs_err_prefix(err, (int)got,
				    "cannot read the config of '%s'",
				    src->store->url);
		goto out_store;
	}
	if (cfg.len > BFS_CONFIG_MAX) {
		rc = bfs_err_set(err, -EUCLEAN, "config of '%s' is too large",
				 src->store->url);
		goto out_store;
	}
	if (!same_id) {
		rc = new_repo_id(&cfg, src->id, err);
		if (rc)
			goto out_store;
	}
	rc = bfs_store_put(st, BFS_KEY_CONFIG, cfg.data, cfg.len, BFS_PUT_EXCL,
			   err);
	if (rc && rc != -EEXIST) {
		bfs_err_prefix(err, rc, "cannot write the config of '%s'", url);
		goto out_store;
	}
	*created = rc == 0;
out_open:
	bfs_store_free(st);
	st = NULL;
	rc = bfs_repo_open(url, sopts, out, err);
out_store:
	bfs_store_free(st);
	bfs_buf_free(&cfg);
	return rc;
}

/* ---- pack transfers --------------------------------------------------- */

struct copy_state {
	struct bfs_repo *src, *dst;
	const struct bfs_copy_opts *opts;
	struct pack_item *todo; /* packs to copy (id, source size) */
	size_t ntodo;

	pthread_mutex_t lock; /* protects everything below */
	int rc;
	struct bfs_err err;
	uint64_t packs, bytes;
	const char *backup; /* for progress */
};

static int copy_one_pack(struct copy_state *cs, const struct pack_item *p,
			 struct bfs_err *err)
{
	char key[BFS_KEY_MAX];
	uint8_t h[BFS_HASH_LEN];
	struct bfs_buf b = {0};
	int64_t got;
	int rc;

	bfs_repo_pack_key(key, p->id);
	got = bfs_store_get(cs->src->store, key, 0, UINT64_MAX, &b, err);
	if (got < 0) {
		rc = bfs_err_prefix(err, (int)got,
				    "cannot read pack '%s' of '%s'", key,
				    cs->src->store->url);
		goto out_free;
	}
	if ((uint64_t)b.len != p->size) {
		rc = bfs_err_set(
		    err, -EUCLEAN,
		    "pack '%s' of '%s': read %zu bytes, listed as %" PRIu64,
		    key, cs->src->store->url, b.len, p->size);
		goto out_free;
	}
	bfs_sha256(h, b.data, b.len);
	if (memcmp(h, p->id, BFS_HASH_LEN) != 0) {
		rc = bfs_err_set(err, -EBADMSG,
				 "pack '%s' of '%s' is damaged: its bytes do "
				 "not hash to its id",
				 key, cs->src->store->url);
		goto out_free;
	}
	rc = bfs_store_put(cs->dst->store, key, b.data, b.len, 0, err);
	if (rc) {
		bfs_err_prefix(err, rc, "cannot write pack '%s' to '%s'", key,
			       cs->dst->store->url);
		goto out_free;
	}
	pthread_mutex_lock(&cs->lock);
	cs->packs++;
	cs->bytes += b.len;
	if (cs->opts->progress)
		cs->opts->progress(cs->opts->progress_arg, BFS_COPY_PACK,
				   cs->backup, key, cs->packs, b.len);
	pthread_mutex_unlock(&cs->lock);
out_free:
	bfs_buf_free(&b);
	return rc;
}

struct pack_job {
	struct copy_state *cs;
	const struct pack_item *p;
};

/* One pack, in a pool worker.  After the first error the remaining jobs
 * return at once. */
static void pack_job_main(void *arg, void *tls)
{
	struct pack_job *j = arg;
	struct copy_state *cs = j->cs;
	struct bfs_err err = {{0}};
	bool skip;
	int rc;

	(void)tls;
	pthread_mutex_lock(&cs->lock);
	skip = cs->rc != 0;
	pthread_mutex_unlock(&cs->lock);
	if (skip)
		return;
	rc = copy_one_pack(cs, j->p, &err);
	if (rc) {
		pthread_mutex_lock(&cs->lock);
		if (!cs->rc) {
			cs->rc = rc;
			cs->err = err;
		}
		pthread_mutex_unlock(&cs->lock);
	}
}

/* Copy cs->todo with up to jobs threads (a bfs_pool).  0 or the first
 * error. */
static int copy_packs(struct copy_state *cs, unsigned jobs, struct bfs_err *err)
{
	struct bfs_pool_config pc = {.queue = 0, .name = "bfs-copy"};
	struct bfs_pool *pool = NULL;
	struct pack_job *v = NULL;
	size_t i;

	cs->rc = 0;
	if (!cs->ntodo)
		return 0;
	v = calloc(cs->ntodo, sizeof(*v));
	if (!v)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	pc.threads = jobs < cs->ntodo ? jobs : (unsigned)cs->ntodo;
	pc.queue = 2 * (size_t)pc.threads;
	if (bfs_pool_create(&pc, &pool) < 0)
		pool = NULL; /* no threads: do it here */
	for (i = 0; i < cs->ntodo; i++) {
		v[i].cs = cs;
		v[i].p = &cs->todo[i];
		if (!pool || bfs_pool_submit(pool, pack_job_main, &v[i]) < 0)
			pack_job_main(&v[i], NULL);
		pthread_mutex_lock(&cs->lock);
		if (cs->rc) {
			pthread_mutex_unlock(&cs->lock);
			break;
		}
		pthread_mutex_unlock(&cs->lock);
	}
	bfs_pool_destroy(pool); /* runs what is queued (they skip), joins */
	free(v);
	if (cs->rc && err)
		*err = cs->err;
	return cs->rc;
}

/* ---- one backup ------------------------------------------------------- */

/* The packs referenced by a manifest, into *packs (sorted, unique). */
static int manifest_packs(const char *name, const struct bfs_buf *m,
			  struct pack_set *packs, struct bfs_err *err)
{
	struct bfs_manifest_reader *rd = NULL;
	const struct bfs_chunkref *chunks;
	struct bfs_entry e;
	size_t nchunks, i;
	int rc;

	rc = bfs_manifest_reader_new(m->data, m->len, &rd, err);
	if (rc)
		goto out_err;
	memset(&e, 0, sizeof(e));
	while ((rc = bfs_manifest_reader_next(rd, &e, &chunks, &nchunks,
					      err)) == 1) {
		for (i = 0; i < nchunks; i++) {
			/* Consecutive chunks mostly share a pack. */
			if (packs->n && !memcmp(packs->v[packs->n - 1].id,
						chunks[i].pack, BFS_HASH_LEN))
				continue;
			rc = pack_set_add(packs, chunks[i].pack, 0);
			if (rc)
				goto out_err;
		}
		if (packs->n > 65536 && !packs->sorted)
			pack_set_sort(packs);
	}
	if (rc == 0)
		pack_set_sort(packs);
out_err:
	if (rc < 0)
		bfs_err_prefix(err, rc,
			       "cannot read the manifest of backup '%s'", name);
	bfs_manifest_reader_free(rd);
	return rc < 0 ? rc : 0;
}

static void progress(const struct bfs_copy_opts *o, enum bfs_copy_event ev,
		     const char *id, uint64_t n)
{
	if (o->progress)
		o->progress(o->progress_arg, ev, id, NULL, n, 0);
}

/* Delete backup name's manifest in the source, after checking the target
 * holds the same bytes. */
static int delete_source(struct bfs_repo *src, struct bfs_repo *dst,
			 const char *name, const char *key,
			 const struct bfs_buf *m, struct bfs_err *err)
{
	struct bfs_buf t = {0};
	int64_t got;
	int rc;

	got = bfs_store_get(dst->store, key, 0, UINT64_MAX, &t, err);
	if (got < 0) {
		rc = bfs_err_prefix(err, (int)got,
				    "not deleting backup '%s' from the source: "
				    "cannot read it back from '%s'",
				    name, dst->store->url);
		goto out_free;
	}
	if (t.len != m->len || memcmp(t.data, m->data, m->len) != 0) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "not deleting backup '%s' from the source: "
				 "the target's manifest differs",
				 name);
		goto out_free;
	}
	rc = bfs_store_del(src->store, key, err);
	if (rc == -ENOENT)
		rc = 0;
	if (rc)
		bfs_err_prefix(err, rc, "cannot delete backup '%s' from '%s'",
			       name, src->store->url);
out_free:
	bfs_buf_free(&t);
	return rc;
}

static int copy_backup(struct copy_state *cs, const char *name, bool in_target,
		       struct pack_set *src_packs, struct pack_set *dst_packs,
		       struct bfs_copy_stats *st, struct bfs_err *err)
{
	const struct bfs_copy_opts *o = cs->opts;
	struct pack_set need = {0};
	struct bfs_buf m = {0};
	char key[BFS_KEY_MAX];
	size_t i, ntodo = 0;
	int64_t got;
	int rc;

	rc = bfs_repo_manifest_key(key, name);
	if (rc)
		return bfs_err_set(err, rc, "invalid backup id '%s'", name);
	got = bfs_store_get(cs->src->store, key, 0, UINT64_MAX, &m, err);
	if (got < 0) {
		rc = bfs_err_prefix(err, (int)got,
				    "cannot read backup '%s' of '%s'", name,
				    cs->src->store->url);
		goto out_free;
	}
	if (in_target) {
		st->backups_skipped++;
		progress(o, BFS_COPY_BACKUP_SKIP, name, 0);
		goto out_delete;
	}
	rc = manifest_packs(name, &m, &need, err);
	if (rc)
		goto out_free;
	progress(o, BFS_COPY_BACKUP_START, name, need.n);
	cs->todo = calloc(need.n ? need.n : 1, sizeof(*cs->todo));
	if (!cs->todo) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (i = 0; i < need.n; i++) {
		struct pack_item *s = pack_set_find(src_packs, need.v[i].id);
		struct pack_item *d = pack_set_find(dst_packs, need.v[i].id);
		char pk[BFS_KEY_MAX];

		if (!s) {
			bfs_repo_pack_key(pk, need.v[i].id);
			rc = bfs_err_set(err, -ENOENT,
					 "backup '%s' needs pack '%s', which "
					 "'%s' does not have",
					 name, pk, cs->src->store->url);
			goto out_free;
		}
		if (d && d->size == s->size) {
			st->packs_present++;
			continue;
		}
		if (d)
			bfs_warn("pack of %" PRIu64
				 " bytes in the target has %" PRIu64
				 " bytes in the source: copying it again",
				 d->size, s->size);
		cs->todo[ntodo++] = *s;
	}
	cs->ntodo = ntodo;
	cs->backup = name;
	cs->packs = cs->bytes = 0;
	rc = copy_packs(
	    cs, o->jobs ? BFS_MIN(o->jobs, COPY_JOBS_MAX) : COPY_JOBS_DEFAULT,
	    err);
	st->packs_copied += cs->packs;
	st->bytes_copied += cs->bytes;
	if (rc)
		goto out_free;
	/* Record what the target has now: sizes first (lookups need the
	 * set sorted), then the new ids (one sort on the next lookup). */
	for (i = 0; i < ntodo; i++) {
		struct pack_item *d = pack_set_find(dst_packs, cs->todo[i].id);

		if (d) {
			d->size = cs->todo[i].size;
			cs->todo[i].size = UINT64_MAX; /* done */
		}
	}
	for (i = 0; i < ntodo; i++)
		if (cs->todo[i].size != UINT64_MAX &&
		    (rc = pack_set_add(dst_packs, cs->todo[i].id,
				       cs->todo[i].size)))
			goto out_free;
	/* Manifest last: only now does the backup exist in the target. */
	rc = bfs_store_put(cs->dst->store, key, m.data, m.len, 0, err);
	if (rc) {
		bfs_err_prefix(err, rc, "cannot write backup '%s' to '%s'",
			       name, cs->dst->store->url);
		goto out_free;
	}
	st->bytes_copied += m.len;
	st->backups_copied++;
	progress(o, BFS_COPY_BACKUP_DONE, name, ntodo);
out_delete:
	if (o->delete_source) {
		rc = delete_source(cs->src, cs->dst, name, key, &m, err);
		if (rc)
			goto out_free;
		st->sources_deleted++;
		progress(o, BFS_COPY_SOURCE_DELETED, name, 0);
	}
out_free:
	free(cs->todo);
	cs->todo = NULL;
	cs->ntodo = 0;
	pack_set_free(&need);
	bfs_buf_free(&m);
	return rc;
}

int bfs_copy(struct bfs_repo *src, struct bfs_repo *dst,
	     const struct bfs_copy_opts *opts, struct bfs_copy_stats *stats,
	     struct bfs_err *err)
{
	static const struct bfs_copy_opts defaults = {0};
	struct copy_state cs = {0};
	struct name_set src_names = {0}, dst_names = {0};
	struct pack_set src_packs = {0}, dst_packs = {0};
	struct bfs_copy_stats st = {0};
	size_t i;
	int rc;

	if (!opts)
		opts = &defaults;
	if (memcmp(src->chunker, dst->chunker, sizeof(src->chunker)) != 0)
		bfs_warn(
		    "'%s' and '%s' chunk data differently: backups written "
		    "to the target will not deduplicate against copied ones",
		    src->store->url, dst->store->url);
	cs.src = src;
	cs.dst = dst;
	cs.opts = opts;
	pthread_mutex_init(&cs.lock, NULL);
	rc = list_names(src->store, &src_names, err);
	if (!rc)
		rc = list_names(dst->store, &dst_names, err);
	if (!rc)
		rc = list_packs(src->store, &src_packs, err);
	if (!rc)
		rc = list_packs(dst->store, &dst_packs, err);
	if (rc)
		goto out_free;

	if (opts->nids) {
		for (i = 0; i < opts->nids; i++) {
			if (!name_set_has(&src_names, opts->ids[i])) {
				rc = bfs_err_set(err, -ENOENT,
						 "no backup '%s' in '%s'",
						 opts->ids[i], src->store->url);
				goto out_free;
			}
		}
		for (i = 0; i < opts->nids && !rc; i++)
			rc = copy_backup(&cs, opts->ids[i],
					 name_set_has(&dst_names, opts->ids[i]),
					 &src_packs, &dst_packs, &st, err);
	} else {
		for (i = 0; i < src_names.n && !rc; i++) {
			bool present = name_set_has(&dst_names, src_names.v[i]);

			/* Without --delete-source, backups already in the
			 * target need nothing: not even a read. */
			if (present && !opts->delete_source) {
				st.backups_skipped++;
				continue;
			}
			rc = copy_backup(&cs, src_names.v[i], present,
					 &src_packs, &dst_packs, &st, err);
		}
	}
out_free:
	if (stats)
		*stats = st;
	pthread_mutex_destroy(&cs.lock);
	name_set_free(&src_names);
	name_set_free(&dst_names);
	pack_set_free(&src_packs);
	pack_set_free(&dst_packs);
	return rc;
}
