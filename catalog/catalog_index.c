/* catalog_index.c - the index operations (src/index.h) over the SQLite
 * catalog, for the backup writer and the sources.
 *
 * One catalog connection serves the writer's worker threads and the
 * calling thread, so every operation holds `lock` around its catalog
 * calls.  The root of the previous backup of a source is remembered for
 * the last source key (or destination, prev_dest_dir) asked about (a
 * source asks for many directories in a row); recording a manifest
 * forgets it.
 *
 * prev_dir keeps the chain of directories it found last (path -> id,
 * from the root down): a writer asks for directories in walk order, so a
 * directory's parent is usually on the chain and the call costs one
 * lookup for its name plus one query for all its children.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "src/index.h"

struct cat_index {
	struct bfs_index idx;	 /* idx.ctx == this */
	struct bfs_catalog *cat; /* borrowed */
	struct bfs_repo *repo;	 /* borrowed */
	pthread_mutex_t lock;	 /* protects cat and the fields below */
	char *key;		 /* last source key asked about, owned, */
	bool by_dest;		 /* or destination (prev_dest_dir) */
	char *job;		 /* and its job there, owned (NULL: none) */
	int64_t root;		 /* its previous root; 0: none */
	struct chain {		 /* directories below root, each the */
		char *path;	 /* parent of the next; paths owned */
		int64_t id;
	} * chain;
	size_t nchain, capchain;
};

static void chain_cut(struct cat_index *x, size_t n)
{
	while (x->nchain > n)
		free(x->chain[--x->nchain].path);
}

/* Is dir a prefix directory of path (equal, or followed by '/')? */
static bool is_under(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	return !strncmp(dir, path, n) && (path[n] == '\0' || path[n] == '/');
}

/* The id of directory dirpath below root: from the deepest directory of
 * the chain that holds it, one lookup per remaining component, each
 * found directory appended to the chain.  -ENOENT when a component is
 * missing or not a directory. */
static int chain_find(struct cat_index *x, int64_t root, const char *dirpath,
		      int64_t *id)
{
	struct bfs_cat_entry ce;
	const char *p, *slash;
	int64_t cur = root;
	char *copy;
	size_t n;
	int rc;

	while (x->nchain && !is_under(x->chain[x->nchain - 1].path, dirpath))
		chain_cut(x, x->nchain - 1);
	p = dirpath;
	if (x->nchain) {
		cur = x->chain[x->nchain - 1].id;
		p += strlen(x->chain[x->nchain - 1].path);
	}
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		rc = bfs_catalog_lookup(x->cat, cur, p, n, &ce, NULL);
		if (!rc && ce.e.type != BFS_T_DIR)
			rc = -ENOENT;
		cur = ce.id;
		bfs_cat_entry_clear(&ce);
		if (rc)
			return rc;
		p += n;
		if (x->nchain == x->capchain) {
			size_t cap = x->capchain ? x->capchain * 2 : 16;
			struct chain *v = realloc(x->chain, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			x->chain = v;
			x->capchain = cap;
		}
		copy = strndup(dirpath, (size_t)(p - dirpath));
		if (!copy)
			return -ENOMEM;
		x->chain[x->nchain].path = copy;
		x->chain[x->nchain++].id = cur;
	}
	*id = cur;
	return 0;
}

static int ci_chunk_find(void *ctx, const uint8_t hash[BFS_HASH_LEN],
			 struct bfs_chunkref *out)
{
	struct cat_index *x = ctx;
	int rc;

	pthread_mutex_lock(&x->lock);
	rc = bfs_catalog_chunk_lookup(x->cat, hash, out);
	pthread_mutex_unlock(&x->lock);
	return rc;
}

/* Asked of the store, not of the catalog: the catalog is what may be
 * wrong.  No lock: the store is thread-safe. */
static int ci_pack_present(void *ctx, const uint8_t pack[BFS_HASH_LEN])
{
	struct cat_index *x = ctx;
	char key[BFS_KEY_MAX];
	uint64_t size;
	int rc;

	bfs_repo_pack_key(key, pack);
	rc = bfs_store_stat(x->repo->store, key, &size, NULL);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : 1;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Root of the newest backup of source key text, or with a source of
 * destination text (job's first) when by_dest (0: none), with the
 * lock. */
static int prev_root(struct cat_index *x, const char *text, bool by_dest,
		     const char *job, int64_t *root)
{
	char *k, *j = NULL;
	int rc;

	if (x->key && x->by_dest == by_dest && !strcmp(x->key, text) &&
	    same_str(x->job, job)) {
		*root = x->root;
		return 0;
	}
	k = strdup(text);
	if (job)
		j = strdup(job);
	if (!k || (job && !j)) {
		free(k);
		free(j);
		return -ENOMEM;
	}
	rc = by_dest ? bfs_catalog_prev_dest(x->cat, text, job, root, NULL)
		     : bfs_catalog_prev_source(x->cat, text, root, NULL);
	if (rc)
		*root = 0;
	chain_cut(x, 0);
	free(x->key);
	free(x->job);
	x->key = k;
	x->job = j;
	x->by_dest = by_dest;
	x->root = *root;
	return 0;
}

struct prev_fill {
	struct bfs_index_dir *d;
	size_t cap;
};

static int prev_child(void *arg, struct bfs_cat_entry *e, const uint8_t *refs,
		      size_t nrefs, const uint8_t *parts, size_t nparts,
		      uint64_t count)
{
	struct prev_fill *f = arg;
	struct bfs_index_prev *p;
	size_t i;

	if (f->d->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 64;
		struct bfs_index_prev *nv =
		    realloc(f->d->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		f->d->v = nv;
		f->cap = ncap;
	}
	p = &f->d->v[f->d->n];
	memset(p, 0, sizeof(*p));
	p->e = e->e; /* the strings move to p */
	memset(&e->e, 0, sizeof(e->e));
	if (nrefs && p->e.type == BFS_T_FILE && !p->e.error && !p->e.link) {
		p->chunks = calloc(nrefs, sizeof(*p->chunks));
		if (!p->chunks) {
			bfs_entry_clear(&p->e);
			return -ENOMEM;
		}
		for (i = 0; i < nrefs; i++)
			bfs_blobref_unpack(&p->chunks[i],
					   refs + i * BFS_BLOBREF_BLOB);
		p->nchunks = nrefs;
		p->has_dt = e->has_dt;
		memcpy(p->dt, e->dt, BFS_HASH_LEN);
		p->has_sk = e->has_sk;
		memcpy(p->sk, e->sk, BFS_HASH_LEN);
		p->has_sa = e->has_sa;
		memcpy(p->sa, e->sa, BFS_HASH_LEN);
	}
	if (p->e.type == BFS_T_DIR && parts) {
		p->parts = malloc((nparts ? nparts : 1) * BFS_HASH_LEN);
		if (!p->parts) {
			bfs_index_prev_free(p);
			return -ENOMEM;
		}
		memcpy(p->parts, parts, nparts * BFS_HASH_LEN);
		p->nparts = nparts;
		p->count = count;
		p->has_tree = true;
	}
	f->d->n++;
	return 0;
}

static int prev_dir_of(struct cat_index *x, const char *text, bool by_dest,
		       const char *job, const char *dirpath,
		       struct bfs_index_dir *out)
{
	struct prev_fill f = {.d = out};
	int64_t root, dir = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&x->lock);
	rc = prev_root(x, text, by_dest, job, &root);
	if (!rc && !root)
		rc = -ENOENT;
	if (!rc)
		rc = chain_find(x, root, dirpath, &dir);
	if (!rc)
		rc = cat_children(x->cat, dir, prev_child, &f, NULL);
	pthread_mutex_unlock(&x->lock);
	if (rc)
		bfs_index_dir_clear(out);
	return rc;
}

static int ci_prev_dir(void *ctx, const char *source_key, const char *dirpath,
		       struct bfs_index_dir *out)
{
	return prev_dir_of(ctx, source_key, false, NULL, dirpath, out);
}

static int ci_prev_dest_dir(void *ctx, const char *dest, const char *job,
			    const char *dirpath, struct bfs_index_dir *out)
{
	return prev_dir_of(ctx, dest, true, job, dirpath, out);
}

static int ci_record(void *ctx, const char *id, const void *manifest,
		     size_t len, const char *idxname, const void *idxobj,
		     size_t idxlen, struct bfs_err *err)
{
	struct cat_index *x = ctx;
	int rc = 0;

	pthread_mutex_lock(&x->lock);
	/* The index object first: the manifest's trees are found through
	 * the locations it gives. */
	if (idxobj) {
		rc = bfs_catalog_ingest_index(x->cat, idxname, idxobj, idxlen,
					      err);
		if (rc == -EEXIST)
			rc = 0;
	}
	if (!rc && manifest) /* none: the backup is not published yet */
		rc =
		    bfs_catalog_ingest(x->cat, x->repo, id, manifest, len, err);
	free(x->key);
	free(x->job);
	x->key = NULL;
	x->job = NULL;
	chain_cut(x, 0);
	pthread_mutex_unlock(&x->lock);
	return rc;
}

/* An index object the writer stored mid-backup: its blobs go to the
 * catalog now, so that the writer can forget them (its memory stays
 * flat in the number of files). */
static int ci_add_index(void *ctx, const char *idxname, const void *idxobj,
			size_t idxlen, struct bfs_err *err)
{
	struct cat_index *x = ctx;
	int rc;

	pthread_mutex_lock(&x->lock);
	rc = bfs_catalog_ingest_index(x->cat, idxname, idxobj, idxlen, err);
	pthread_mutex_unlock(&x->lock);
	return rc == -EEXIST ? 0 : rc;
}

static bool ci_has_backup(void *ctx, const char *id)
{
	struct cat_index *x = ctx;
	struct bfs_backup_info info;
	int rc;

	memset(&info, 0, sizeof(info));
	pthread_mutex_lock(&x->lock);
	rc = bfs_catalog_find_backup(x->cat, id, &info, NULL);
	pthread_mutex_unlock(&x->lock);
	bfs_backup_info_clear(&info);
	return rc == 0;
}

static void ci_destroy(void *ctx)
{
	struct cat_index *x = ctx;

	pthread_mutex_destroy(&x->lock);
	chain_cut(x, 0);
	free(x->chain);
	free(x->key);
	free(x->job);
	free(x);
}

static const struct bfs_index_ops catalog_index_ops = {
    .name = "catalog",
    .chunk_find = ci_chunk_find,
    .pack_present = ci_pack_present,
    .prev_dir = ci_prev_dir,
    .prev_dest_dir = ci_prev_dest_dir,
    .record = ci_record,
    .add_index = ci_add_index,
    .has_backup = ci_has_backup,
    .destroy = ci_destroy,
};

int bfs_catalog_index_new(struct bfs_catalog *cat, struct bfs_repo *repo,
			  struct bfs_index **out)
{
	struct cat_index *x;

	*out = NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	pthread_mutex_init(&x->lock, NULL);
	x->cat = cat;
	x->repo = repo;
	x->idx.ops = &catalog_index_ops;
	x->idx.ctx = x;
	*out = &x->idx;
	return 0;
}
