/* copy.c - copy backups between repositories (see copy.h).
 *
 * Per backup: parse its manifest, walk its trees from the root parts
 * (tree parts, list blobs, file chunks: src/reach.c), locating every blob
 * through the source's index objects (a bfs_locmap, loaded once); a blob no
 * index object names stops the backup before anything is written.  Then the
 * packs named by the index objects it needs (in parallel, each verified
 * against its id), those index objects, and the manifest last.  The packs
 * and index objects of the target are listed once, up front, and grow as
 * things are copied, and tree blobs walked for one backup are not walked
 * again for the next, so later backups sharing packs or trees copy
 * nothing twice.
 *
 * Threads: bfs_copy runs a bfs_pool of `jobs` workers per backup for the
 * pack transfers.  copy_state.lock protects the first error, the counters
 * and the progress callback; the pack sets, the location map and the walk
 * are only touched by the calling thread, between batches.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copy.h"
#include "copy_rewrite.h"
#include "crypt.h"
#include "format.h"
#include "hmap.h"
#include "lock.h"
#include "locmap.h"
#include "log.h"
#include "manifest.h"
#include "pool.h"
#include "reach.h"
#include "tree.h"

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

static int key_names_cb(void *arg, const char *key, uint64_t size)
{
	(void)size;
	return bfs_strv_add(arg, key);
}

/* Copy the key objects (keys/) of src into the store st. */
static int copy_keys(struct bfs_repo *src, struct bfs_store *st,
		     struct bfs_err *err)
{
	struct bfs_strv keys = {0};
	struct bfs_buf b = {0};
	int64_t got;
	size_t i;
	int rc;

	rc = bfs_store_list(src->store, BFS_KEY_KEYS, key_names_cb, &keys, err);
	for (i = 0; !rc && i < keys.n; i++) {
		b.len = 0;
		got = bfs_store_get(src->store, keys.v[i], 0, UINT64_MAX, &b,
				    err);
		if (got < 0)
			rc = (int)got;
		else if (b.len > BFS_KEY_OBJECT_MAX)
			rc = bfs_err_set(err, -EUCLEAN,
					 "key object '%s' is too large",
					 keys.v[i]);
		else
			rc =
			    bfs_store_put(st, keys.v[i], b.data, b.len, 0, err);
	}
	if (rc)
		bfs_err_prefix(err, rc, "cannot copy the keys of '%s'",
			       src->store->url);
	bfs_buf_free(&b);
	bfs_strv_free(&keys);
	return rc;
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
	/* First as it is: a repository there is opened; a location that
	 * holds anything else is refused (as init refuses it without
	 * --force) before it is made a repository, or its mode touched. */
	o.create = false;
	rc = bfs_store_open(url, &o, &st, err);
	if (rc == 0) {
		bool any = false;

		rc = bfs_store_stat(st, BFS_KEY_CONFIG, &size, err);
		if (rc == 0)
			goto out_open;
		if (rc != -ENOENT) {
			bfs_err_prefix(err, rc,
				       "cannot read the config of '%s'", url);
			goto out_store;
		}
		rc = bfs_store_holds_any(st, &any, err);
		if (rc)
			goto out_store;
		if (any) {
			rc = bfs_err_set(err, -EEXIST,
					 "'%s' is not empty and is not a "
					 "backupfs repository: copy to a new "
					 "or empty location, or to a "
					 "repository made there with "
					 "'backupfs init --force'",
					 url);
			goto out_store;
		}
		bfs_store_free(st);
		st = NULL;
	} else if (rc != -ENOENT) {
		return rc;
	}
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
	/* No repository there: make it a twin of the source.  A password
	 * given for the target (sopts->target_password) opens an existing
	 * encrypted repository; a twin would silently be plain, or share
	 * the source's keys and passwords instead. */
	if (sopts && sopts->target_password) {
		rc = bfs_err_set(err, -ENOENT,
				 "'%s' holds no repository, and a password "
				 "for the target only opens an existing "
				 "encrypted one: create it first with "
				 "'backupfs init --password-file FILE %s'",
				 url, url);
		goto out_store;
	}
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
	if (src->crypt) {
		/* the twin shares the master keys, so that packs copy byte
		 * for byte; its key objects before its config */
		rc = copy_keys(src, st, err);
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

/* What one backup needs: every blob its trees reach (src/reach.c walks
 * them, across backups, so a tree shared with an earlier backup of this
 * copy is not walked again) marks its pack and the index object naming
 * it. */
struct need {
	struct bfs_hmap packs; /* pack ids */
	bool *index;	       /* by index ordinal */
	bool deltas;	       /* a delta blob is among them */
	bool tree_deltas;      /* ... a tree part (FORMAT.md 18.1) */
	bool multi_deltas;     /* ... a frame on several bases (18.2) */
	struct bfs_locmap *lm; /* the source's, to find bases */
};

struct copy_state {
	struct bfs_repo *src, *dst;
	const struct bfs_copy_opts *opts;
	struct pack_item *todo; /* packs to copy (id, source size) */
	size_t ntodo;
	/* only the calling thread uses these, between batches */
	struct bfs_locmap *lm;	   /* the source's index objects */
	struct bfs_reach *reach;   /* walks trees, each once per copy */
	struct need need;	   /* of the backup being copied */
	const char *walked;	   /* its name */
	struct bfs_hmap dst_index; /* names of the target's index objects */
	struct bfs_xcopy *xcopy;   /* ids differ: backups are written again */

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

/* ---- what a backup needs ------------------------------------------------ */

static int need_cb(void *arg, const struct bfs_loc *loc)
{
	struct need *nd = arg;
	int rc;

	nd->index[loc->index_ord] = true;
	if (loc->type == BFS_BLOB_DELTA2)
		/* reach reports each of its bases, whose packs come too */
		nd->deltas = nd->multi_deltas = true;
	if (loc->type == BFS_BLOB_DELTA) {
		uint8_t base[BFS_HASH_LEN];
		struct bfs_loc bl;

		nd->deltas = true;
		/* reach checked the base: a tree blob makes a tree part */
		if (!bfs_locmap_base(nd->lm, loc->ref.hash, base) &&
		    !bfs_locmap_find(nd->lm, base, &bl) &&
		    bl.type == BFS_BLOB_TREE)
			nd->tree_deltas = true;
	}
	rc = bfs_hmap_insert(&nd->packs, loc->ref.pack, NULL);
	return rc == -EEXIST ? 0 : rc;
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
	struct bfs_manifest2 man = {0};
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
	if (!bfs_repo_same_keys(src, dst)) {
		/* written again: its own bytes; the same backup id */
		rc = bfs_manifest2_parse(t.data, t.len, &man, err);
		if (!rc && strcmp(man.h.id, name) != 0)
			rc = -EUCLEAN;
		if (rc) {
			bfs_err_set(err, rc,
				    "not deleting backup '%s' from the "
				    "source: the target's manifest is not "
				    "that backup",
				    name);
			goto out_free;
		}
	} else if (t.len != m->len || memcmp(t.data, m->data, m->len) != 0) {
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
	bfs_manifest2_clear(&man);
	bfs_buf_free(&t);
	return rc;
}

/* list() callback for "index/": names of index objects into a set. */
static int list_index_cb(void *arg, const char *key, uint64_t size)
{
	const char *hex = key + strlen(BFS_KEY_INDEX);
	uint8_t name[BFS_HASH_LEN];
	int rc;

	(void)size;
	if (strncmp(key, BFS_KEY_INDEX, strlen(BFS_KEY_INDEX)) != 0 ||
	    !bfs_hex64_valid(hex) || bfs_unhex(name, hex, BFS_HASH_LEN))
		return 0;
	rc = bfs_hmap_insert(arg, name, NULL);
	return rc == -EEXIST ? 0 : rc;
}

/* Copy index object name from the source to the target, verified. */
static int copy_index(struct copy_state *cs, const uint8_t name[BFS_HASH_LEN],
		      uint64_t *bytes, struct bfs_err *err)
{
	struct bfs_buf b = {0};
	uint8_t h[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	int64_t got;
	int rc;

	bfs_locmap_index_key(key, name);
	got = bfs_store_get(cs->src->store, key, 0, UINT64_MAX, &b, err);
	if (got < 0) {
		rc = bfs_err_prefix(err, (int)got,
				    "cannot read index object '%s' of '%s'",
				    key, cs->src->store->url);
		goto out_free;
	}
	bfs_sha256(h, b.data, b.len);
	if (memcmp(h, name, BFS_HASH_LEN) != 0) {
		rc = bfs_err_set(err, -EBADMSG,
				 "index object '%s' of '%s' is damaged: its "
				 "bytes do not hash to its name",
				 key, cs->src->store->url);
		goto out_free;
	}
	rc = bfs_store_put(cs->dst->store, key, b.data, b.len, 0, err);
	if (rc) {
		bfs_err_prefix(err, rc,
			       "cannot write index object '%s' to '%s'", key,
			       cs->dst->store->url);
		goto out_free;
	}
	*bytes = b.len;
out_free:
	bfs_buf_free(&b);
	return rc;
}

/* The packs to transfer for a walked backup: every pack named by an index
 * object the backup needs (so that what the target's index objects say
 * is true), unless the target holds it with the same size.  Fills
 * cs->todo / cs->ntodo. */
static int plan_packs(struct copy_state *cs, const struct need *nd,
		      struct pack_set *src_packs, struct pack_set *dst_packs,
		      struct bfs_copy_stats *st, struct bfs_err *err)
{
	uint8_t id[BFS_HASH_LEN];
	char pk[BFS_KEY_MAX];
	size_t i, n = bfs_locmap_npacks(cs->lm), io;

	cs->ntodo = 0;
	cs->todo = calloc(n ? n : 1, sizeof(*cs->todo));
	if (!cs->todo)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		struct pack_item *s, *d;
		bool needed;

		bfs_locmap_pack(cs->lm, i, id, &io);
		if (!nd->index[io])
			continue;
		needed = bfs_hmap_find(&nd->packs, id) != NULL;
		s = pack_set_find(src_packs, id);
		d = pack_set_find(dst_packs, id);
		bfs_repo_pack_key(pk, id);
		if (!s && needed)
			return bfs_err_set(err, -ENOENT,
					   "backup '%s' needs pack '%s', which "
					   "'%s' does not have",
					   cs->walked, pk, cs->src->store->url);
		if (!s) {
			bfs_warn("pack '%s' is named by an index object of "
				 "'%s' but missing there: not copied",
				 pk, cs->src->store->url);
			continue;
		}
		if (d && d->size == s->size) {
			st->packs_present++;
			continue;
		}
		if (d)
			bfs_warn("pack '%s' has %" PRIu64
				 " bytes in the target and %" PRIu64
				 " in the source: copying it again",
				 pk, d->size, s->size);
		cs->todo[cs->ntodo++] = *s;
	}
	return 0;
}

/* After the transfers: the target has cs->todo now. */
static int note_copied(struct copy_state *cs, struct pack_set *dst_packs)
{
	size_t i;
	int rc;

	/* sizes first (lookups need the set sorted), then the new ids
	 * (one sort on the next lookup) */
	for (i = 0; i < cs->ntodo; i++) {
		struct pack_item *d = pack_set_find(dst_packs, cs->todo[i].id);

		if (d) {
			d->size = cs->todo[i].size;
			cs->todo[i].size = UINT64_MAX; /* done */
		}
	}
	for (i = 0; i < cs->ntodo; i++)
		if (cs->todo[i].size != UINT64_MAX &&
		    (rc = pack_set_add(dst_packs, cs->todo[i].id,
				       cs->todo[i].size)))
			return rc;
	return 0;
}

/* Load the source's index objects (once per copy). */
static int load_source(struct copy_state *cs, struct bfs_err *err)
{
	int rc;

	if (cs->lm)
		return 0;
	rc = bfs_locmap_new(&cs->lm, err);
	if (!rc)
		rc = bfs_locmap_load(cs->lm, cs->src, err);
	/* a rewrite (copy_rewrite.c) decodes delta frames: their bases are
	 * located through the same index objects (unset at the end) */
	if (!rc)
		rc = bfs_repo_set_locate(cs->src, bfs_locmap_locate, cs->lm,
					 NULL, err);
	if (!rc)
		rc = bfs_reach_new(cs->lm, cs->src, need_cb, &cs->need,
				   &cs->reach, err);
	return rc;
}

/* Blob ids differ: write backup name (manifest man) again in the target
 * (copy_rewrite.c), which checks it before the call returns. */
static int rewrite_backup(struct copy_state *cs, const char *name,
			  const struct bfs_manifest2 *man,
			  struct bfs_copy_stats *st, struct bfs_err *err)
{
	const struct bfs_copy_opts *o = cs->opts;
	uint64_t stored = 0;
	int rc = 0;

	if (strcmp(man->h.id, name) != 0)
		return bfs_err_set(err, -EUCLEAN,
				   "backup '%s' of '%s': its manifest says id "
				   "'%s'",
				   name, cs->src->store->url, man->h.id);
	if (!cs->xcopy)
		rc = bfs_xcopy_new(cs->src, cs->lm, cs->dst, o->lock, o->verify,
				   0, &cs->xcopy, err);
	if (rc)
		return rc;
	progress(o, BFS_COPY_REWRITE_START, name, 0);
	rc = bfs_xcopy_backup(cs->xcopy, man, &stored, err);
	if (rc)
		return bfs_err_prefix(err, rc, "backup '%s' not copied to '%s'",
				      name, cs->dst->store->url);
	st->bytes_copied += stored;
	st->backups_copied++;
	st->backups_rewritten++;
	if (o->progress)
		o->progress(o->progress_arg, BFS_COPY_REWRITE_DONE, name, NULL,
			    0, stored);
	return 0;
}

static int copy_backup(struct copy_state *cs, const char *name, bool in_target,
		       struct pack_set *src_packs, struct pack_set *dst_packs,
		       struct bfs_copy_stats *st, struct bfs_err *err)
{
	const struct bfs_copy_opts *o = cs->opts;
	struct need *nd = &cs->need;
	struct bfs_manifest2 man = {0};
	struct bfs_buf m = {0};
	char key[BFS_KEY_MAX];
	uint8_t iname[BFS_HASH_LEN];
	size_t i, nindex;
	uint64_t bytes = 0;
	int64_t got;
	int rc;

	rc = bfs_repo_manifest_key(key, name);
	if (rc)
		return bfs_err_set(err, rc, "invalid backup id '%s'", name);
	rc = bfs_hmap_init(&nd->packs, BFS_HASH_LEN, BFS_HASH_LEN, 0,
			   BFS_HMAP_PREHASHED);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
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
	rc = bfs_manifest2_parse(m.data, m.len, &man, err);
	if (rc) {
		bfs_err_prefix(err, rc, "backup '%s' of '%s'", name,
			       cs->src->store->url);
		goto out_free;
	}
	rc = load_source(cs, err);
	if (rc)
		goto out_free;
	if (!bfs_repo_same_keys(cs->src, cs->dst)) {
		rc = rewrite_backup(cs, name, &man, st, err);
		if (rc)
			goto out_free;
		goto out_delete;
	}
	nindex = bfs_locmap_nindex(cs->lm);
	nd->deltas = nd->tree_deltas = nd->multi_deltas = false;
	nd->lm = cs->lm;
	nd->index = calloc(nindex ? nindex : 1, sizeof(*nd->index));
	if (!nd->index) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	/* Everything is located before anything is written. */
	cs->walked = name;
	rc = bfs_reach_backup(cs->reach, name,
			      (const uint8_t(*)[BFS_HASH_LEN])man.root,
			      man.nroot, err);
	if (rc)
		bfs_err_prefix(err, rc, "'%s'", cs->src->store->url);
	else if (nd->deltas && cs->dst->version < 3)
		/* format 2 has no delta frames (FORMAT.md section 18) */
		rc = bfs_err_set(err, -EPROTO,
				 "backup '%s' holds delta frames, which the "
				 "format-2 repository '%s' cannot hold: run "
				 "'backupfs migrate' on it first",
				 name, cs->dst->store->url);
	else if (nd->tree_deltas &&
		 cs->dst->version < BFS_FORMAT_VERSION_TDELTA)
		/* nor has format 3 tree parts as delta frames (18.1) */
		rc = bfs_err_set(err, -EPROTO,
				 "backup '%s' holds tree parts as delta "
				 "frames, which the format-%d repository "
				 "'%s' cannot hold: run 'backupfs migrate' "
				 "on it first",
				 name, cs->dst->version, cs->dst->store->url);
	else if (nd->multi_deltas &&
		 cs->dst->version < BFS_FORMAT_VERSION_DELTA2)
		/* nor has format 4 delta frames on several bases (18.2) */
		rc = bfs_err_set(err, -EPROTO,
				 "backup '%s' holds delta frames on several "
				 "bases, which the format-%d repository '%s' "
				 "cannot hold: run 'backupfs migrate' on it "
				 "first",
				 name, cs->dst->version, cs->dst->store->url);
	else
		rc = plan_packs(cs, nd, src_packs, dst_packs, st, err);
	if (rc)
		goto out_free;
	progress(o, BFS_COPY_BACKUP_START, name, bfs_hmap_count(&nd->packs));
	cs->backup = name;
	cs->packs = cs->bytes = 0;
	rc = copy_packs(
	    cs, o->jobs ? BFS_MIN(o->jobs, COPY_JOBS_MAX) : COPY_JOBS_DEFAULT,
	    err);
	st->packs_copied += cs->packs;
	st->bytes_copied += cs->bytes;
	if (!rc && (rc = note_copied(cs, dst_packs)))
		rc = bfs_err_set(err, rc, "out of memory");
	if (rc)
		goto out_free;
	/* Then the index objects naming those packs. */
	for (i = 0; i < nindex; i++) {
		if (!nd->index[i])
			continue;
		bfs_locmap_index_name(cs->lm, i, iname);
		if (bfs_hmap_find(&cs->dst_index, iname))
			continue;
		rc = copy_index(cs, iname, &bytes, err);
		if (rc)
			goto out_free;
		rc = bfs_hmap_insert(&cs->dst_index, iname, NULL);
		if (rc) {
			rc = bfs_err_set(err, rc, "out of memory");
			goto out_free;
		}
		st->index_copied++;
		st->bytes_copied += bytes;
	}
	/* Manifest last: only now does the backup exist in the target
	 * (and only while our lock keeps prune away). */
	if (cs->opts->lock) {
		rc = bfs_lock_check(cs->opts->lock, err);
		if (rc) {
			bfs_err_prefix(err, rc,
				       "backup '%s' not copied to "
				       "'%s'",
				       name, cs->dst->store->url);
			goto out_free;
		}
	}
	rc = bfs_store_put(cs->dst->store, key, m.data, m.len, 0, err);
	if (rc) {
		bfs_err_prefix(err, rc, "cannot write backup '%s' to '%s'",
			       name, cs->dst->store->url);
		goto out_free;
	}
	st->bytes_copied += m.len;
	st->backups_copied++;
	progress(o, BFS_COPY_BACKUP_DONE, name, cs->ntodo);
out_delete:
	if (o->delete_source) {
		rc = o->src_lock ? bfs_lock_check(o->src_lock, err) : 0;
		if (rc) {
			bfs_err_prefix(err, rc,
				       "not deleting backup '%s' from the "
				       "source",
				       name);
			goto out_free;
		}
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
	bfs_hmap_fini(&nd->packs);
	free(nd->index);
	nd->index = NULL;
	bfs_manifest2_clear(&man);
	bfs_buf_free(&m);
	return rc;
}

int bfs_copy(struct bfs_repo *src, struct bfs_repo *dst,
	     const struct bfs_copy_opts *opts, struct bfs_copy_stats *stats,
	     struct bfs_err *err)
{
	static const struct bfs_copy_opts defaults = {0};
	struct copy_state cs = {0};
	struct bfs_strv src_names = {0}, dst_names = {0};
	struct pack_set src_packs = {0}, dst_packs = {0};
	struct bfs_copy_stats st = {0};
	size_t i;
	int rc;

	if (!opts)
		opts = &defaults;
	if (bfs_repo_same_keys(src, dst) &&
	    memcmp(src->chunker, dst->chunker, sizeof(src->chunker)) != 0)
		bfs_warn(
		    "'%s' and '%s' chunk data differently: backups written "
		    "to the target will not deduplicate against copied ones",
		    src->store->url, dst->store->url);
	cs.src = src;
	cs.dst = dst;
	cs.opts = opts;
	pthread_mutex_init(&cs.lock, NULL);
	if (bfs_hmap_init(&cs.dst_index, BFS_HASH_LEN, BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED)) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	rc = bfs_repo_list_backups(src->store, &src_names, err);
	if (!rc)
		rc = bfs_repo_list_backups(dst->store, &dst_names, err);
	if (!rc)
		rc = list_packs(src->store, &src_packs, err);
	if (!rc)
		rc = list_packs(dst->store, &dst_packs, err);
	if (!rc) {
		rc = bfs_store_list(dst->store, BFS_KEY_INDEX, list_index_cb,
				    &cs.dst_index, err);
		if (rc == -ENOMEM)
			bfs_err_set(err, rc, "out of memory");
		else if (rc)
			bfs_err_prefix(err, rc,
				       "cannot list the index objects of '%s'",
				       dst->store->url);
	}
	if (rc)
		goto out_free;

	if (opts->nids) {
		for (i = 0; i < opts->nids; i++) {
			if (!bfs_strv_has(&src_names, opts->ids[i])) {
				rc = bfs_err_set(err, -ENOENT,
						 "no backup '%s' in '%s'",
						 opts->ids[i], src->store->url);
				goto out_free;
			}
		}
		for (i = 0; i < opts->nids && !rc; i++)
			rc = copy_backup(&cs, opts->ids[i],
					 bfs_strv_has(&dst_names, opts->ids[i]),
					 &src_packs, &dst_packs, &st, err);
	} else {
		for (i = 0; i < src_names.n && !rc; i++) {
			bool present = bfs_strv_has(&dst_names, src_names.v[i]);

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
	bfs_xcopy_free(cs.xcopy);
	if (cs.lm)
		bfs_repo_set_locate(cs.src, NULL, NULL, NULL, NULL);
	bfs_locmap_free(cs.lm);
	bfs_reach_free(cs.reach);
	bfs_hmap_fini(&cs.dst_index);
	bfs_strv_free(&src_names);
	bfs_strv_free(&dst_names);
	pack_set_free(&src_packs);
	pack_set_free(&dst_packs);
	return rc;
}
