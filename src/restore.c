/* restore.c - see restore.h.
 *
 * The restore works relative to directory file descriptors (openat,
 * mkdirat, ...) so that trees deeper than PATH_MAX restore; it holds one
 * descriptor per directory level being restored.  Directory listings come
 * from the catalog a page at a time, and a page is copied out before
 * anything else touches the catalog (no nested statements).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "restore.h"

#define PAGE_ENTRIES 1024
#define BATCH_BYTES (16u << 20)    /* plain bytes per multi-chunk request */
#define BATCH_CHUNKS 64
#define SPARSE_BLOCK 4096
#define PROGRESS_NS 100000000LL   /* 10 per second */

/* ---- reading chunk lists ---------------------------------------------- */

static bool chunk_adjacent(const struct bfs_chunkref *a,
			   const struct bfs_chunkref *b)
{
	return memcmp(a->pack, b->pack, BFS_HASH_LEN) == 0 &&
	       b->offset == a->offset + a->clen;
}

/* Chunks [first, first + n) are fetched in one request. */
struct batch {
	size_t first, n;
	size_t bytes;
};

/* Group the chunk list into batches of chunks lying back to back in one
 * pack, at most max_bytes each (a single larger chunk is a batch of its
 * own).  Checks every length (chunk lists are untrusted).  *out
 * malloc'ed. */
static int plan_batches(const struct bfs_chunkref *refs, size_t n,
			size_t max_bytes, struct batch **out, size_t *nb,
			struct bfs_err *err)
{
	struct batch *v;
	size_t i = 0, j, k = 0;

	*out = NULL;
	*nb = 0;
	for (i = 0; i < n; i++) {
		if (refs[i].len > BFS_RESTORE_MAX_CHUNK) {
			char hex[BFS_HASH_HEX + 1];

			bfs_hex(hex, refs[i].hash, BFS_HASH_LEN);
			return bfs_err_set(err, -EUCLEAN,
					   "chunk %s has an implausible length %u",
					   hex, refs[i].len);
		}
	}
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i = j) {
		size_t total = refs[i].len;

		for (j = i + 1; j < n && j - i < BATCH_CHUNKS &&
				chunk_adjacent(&refs[j - 1], &refs[j]) &&
				total + refs[j].len <= max_bytes;
		     j++)
			total += refs[j].len;
		v[k].first = i;
		v[k].n = j - i;
		v[k].bytes = total;
		k++;
	}
	*out = v;
	*nb = k;
	return 0;
}

/* Fetch one batch into *buf (grown as needed); outs[i] point into it. */
static int fetch_batch(struct bfs_repo *repo, const struct bfs_chunkref *refs,
		       const struct batch *bt, uint8_t **buf, size_t *cap,
		       uint8_t **outs, struct bfs_err *err)
{
	size_t k, total = 0;

	if (bt->bytes > *cap || !*buf) {
		uint8_t *nb = realloc(*buf, bt->bytes ? bt->bytes : 1);

		if (!nb)
			return bfs_err_set(err, -ENOMEM, "out of memory");
		*buf = nb;
		*cap = bt->bytes;
	}
	for (k = 0; k < bt->n; k++) {
		outs[k] = *buf + total;
		total += refs[bt->first + k].len;
	}
	if (bt->n == 1)
		return bfs_repo_read_chunk(repo, &refs[bt->first], *buf, err);
	return bfs_repo_read_chunks(repo, &refs[bt->first], bt->n, outs, err);
}

static int deliver(const struct bfs_chunkref *refs, const struct batch *bt,
		   uint8_t **outs, uint64_t *off, bfs_data_cb cb, void *arg)
{
	size_t k;
	int rc;

	for (k = 0; k < bt->n; k++) {
		uint32_t len = refs[bt->first + k].len;

		if (len) {
			rc = cb(arg, *off, outs[k], len);
			if (rc)
				return rc;
		}
		*off += len;
	}
	return 0;
}

/* Read-ahead for files of several batches: worker threads fetch (and
 * verify and decompress) the next batches while the caller's callback
 * consumes the current one in order.  Memory: READ_SLOTS batch buffers.
 * Returns 0, the first error in file order, or 1 if no thread could be
 * started (nothing was delivered). */
#define READ_THREADS 4
#define READ_SLOTS 6
#define PAR_BATCH_BYTES (8u << 20)

struct slot {
	uint8_t *buf;
	size_t cap;
	uint8_t *outs[BATCH_CHUNKS];
	size_t batch;
	int state;                /* 0 free, 1 fetching, 2 ready */
	int rc;
	struct bfs_err err;
};

struct reader {
	pthread_mutex_t lock;     /* protects everything below */
	pthread_cond_t cond;
	struct bfs_repo *repo;
	const struct bfs_chunkref *refs;
	const struct batch *bt;
	size_t nb;
	size_t next;              /* next batch to claim */
	size_t consumed;          /* batches delivered; their slots are free */
	bool stop;
	struct slot slots[READ_SLOTS];
};

static void *reader_worker(void *arg)
{
	struct reader *r = arg;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		struct slot *s;
		size_t i;
		int rc;

		while (!r->stop && r->next < r->nb &&
		       r->next >= r->consumed + READ_SLOTS)
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop || r->next >= r->nb)
			break;
		i = r->next++;
		s = &r->slots[i % READ_SLOTS];
		s->batch = i;
		s->state = 1;
		s->err.msg[0] = '\0';
		pthread_mutex_unlock(&r->lock);
		rc = fetch_batch(r->repo, r->refs, &r->bt[i], &s->buf, &s->cap,
				 s->outs, &s->err);
		pthread_mutex_lock(&r->lock);
		s->rc = rc;
		s->state = 2;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

static int read_parallel(struct bfs_repo *repo,
			 const struct bfs_chunkref *refs,
			 const struct batch *bt, size_t nb, bfs_data_cb cb,
			 void *arg, struct bfs_err *err)
{
	pthread_t th[READ_THREADS];
	struct reader *r;
	size_t nth = 0, i, want = BFS_MIN((size_t)READ_THREADS, nb);
	uint64_t off = 0;
	int rc = 0;

	r = calloc(1, sizeof(*r));
	if (!r)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->repo = repo;
	r->refs = refs;
	r->bt = bt;
	r->nb = nb;
	for (nth = 0; nth < want; nth++)
		if (pthread_create(&th[nth], NULL, reader_worker, r) != 0)
			break;
	if (nth == 0) {
		rc = 1;   /* no threads: the caller reads in its own */
		goto out_free;
	}
	for (i = 0; i < nb; i++) {
		struct slot *s = &r->slots[i % READ_SLOTS];

		pthread_mutex_lock(&r->lock);
		while (!(s->state == 2 && s->batch == i))
			pthread_cond_wait(&r->cond, &r->lock);
		pthread_mutex_unlock(&r->lock);
		if (s->rc < 0) {
			rc = s->rc;
			if (err)
				*err = s->err;
			break;
		}
		rc = deliver(refs, &bt[i], s->outs, &off, cb, arg);
		if (rc)
			break;
		pthread_mutex_lock(&r->lock);
		s->state = 0;
		r->consumed++;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
	}
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
out_free:
	for (i = 0; i < READ_SLOTS; i++)
		free(r->slots[i].buf);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
	return rc;
}

int bfs_read_chunk_list(struct bfs_repo *repo,
			const struct bfs_chunkref *refs, size_t n,
			bfs_data_cb cb, void *arg, struct bfs_err *err)
{
	uint8_t *outs[BATCH_CHUNKS];
	struct batch *bt = NULL;
	uint8_t *buf = NULL;
	size_t nb = 0, cap = 0, i;
	uint64_t off = 0, total = 0;
	int rc;

	for (i = 0; i < n; i++)
		total += refs[i].len;
	rc = plan_batches(refs, n,
			  total > BATCH_BYTES ? PAR_BATCH_BYTES : BATCH_BYTES,
			  &bt, &nb, err);
	if (rc < 0)
		return rc;
	if (nb > 1) {
		rc = read_parallel(repo, refs, bt, nb, cb, arg, err);
		if (rc != 1)
			goto out_free;
		rc = 0;
	}
	for (i = 0; i < nb && rc == 0; i++) {
		rc = fetch_batch(repo, refs, &bt[i], &buf, &cap, outs, err);
		if (rc == 0)
			rc = deliver(refs, &bt[i], outs, &off, cb, arg);
	}
out_free:
	free(buf);
	free(bt);
	return rc;
}

/* Sum of the chunk lengths must be the file's size, else the manifest
 * (or catalog) is inconsistent and restoring would produce wrong bytes. */
static int check_chunk_sum(const struct bfs_chunkref *refs, size_t n,
			   uint64_t size, const char *name, struct bfs_err *err)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += refs[i].len;
	if (sum != size)
		return bfs_err_set(err, -EUCLEAN,
				   "chunks of '%s' add up to %llu bytes, not its size %llu",
				   name, (unsigned long long)sum,
				   (unsigned long long)size);
	return 0;
}

/* A hardlink member may carry no size of its own; the group's data entry
 * has it. */
static int entry_size(struct bfs_catalog *cat, const struct bfs_cat_entry *ce,
		      uint64_t *size, struct bfs_err *err)
{
	struct bfs_cat_entry data;
	int rc;

	*size = ce->e.size;
	if (!ce->link_id || ce->e.size)
		return 0;
	memset(&data, 0, sizeof(data));
	rc = bfs_catalog_get(cat, ce->link_id, &data, err);
	if (rc < 0)
		return rc;
	*size = data.e.size;
	bfs_cat_entry_clear(&data);
	return 0;
}

/* ---- cat ---------------------------------------------------------------- */

struct cat_out {
	int fd;
	int werr;
};

static int cat_write(void *arg, uint64_t off, const uint8_t *data, size_t n)
{
	struct cat_out *o = arg;
	int rc = bfs_write_full(o->fd, data, n);

	if (rc < 0)
		o->werr = rc;
	return rc;
}

int bfs_restore_cat_fd(struct bfs_repo *repo, struct bfs_catalog *cat,
		       int64_t id, int fd, struct bfs_err *err)
{
	struct bfs_cat_entry ce;
	struct bfs_chunkref *refs = NULL;
	struct cat_out o = { fd, 0 };
	uint64_t size;
	size_t n = 0;
	int rc;

	memset(&ce, 0, sizeof(ce));
	rc = bfs_catalog_get(cat, id, &ce, err);
	if (rc < 0)
		return rc;
	if (ce.e.type == BFS_T_DIR) {
		rc = bfs_err_set(err, -EISDIR, "is a directory");
		goto out_clear;
	}
	if (ce.e.type != BFS_T_FILE) {
		rc = bfs_err_set(err, -EINVAL, "is not a regular file");
		goto out_clear;
	}
	if (ce.e.error) {
		rc = bfs_err_set(err, -ENODATA,
				 "was unreadable at backup time: %s",
				 ce.e.error);
		goto out_clear;
	}
	rc = entry_size(cat, &ce, &size, err);
	if (rc < 0)
		goto out_clear;
	rc = bfs_catalog_chunks(cat, id, &refs, &n, err);
	if (rc < 0)
		goto out_clear;
	rc = check_chunk_sum(refs, n, size, ce.e.path ? ce.e.path : "", err);
	if (rc < 0)
		goto out_free;
	rc = bfs_read_chunk_list(repo, refs, n, cat_write, &o, err);
	if (rc < 0 && o.werr)
		rc = bfs_err_set(err, o.werr, "cannot write output: %s",
				 strerror(-o.werr));
out_free:
	free(refs);
out_clear:
	bfs_cat_entry_clear(&ce);
	return rc;
}

/* ---- directory pages ----------------------------------------------------- */

static char *memdup0(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* Deep copy of a borrowed catalog entry.  0 / -ENOMEM (dst cleared). */
static int cat_entry_copy(struct bfs_cat_entry *dst,
			  const struct bfs_cat_entry *src)
{
	const struct bfs_entry *s = &src->e;
	struct bfs_entry *d = &dst->e;

	*dst = *src;
	d->path = d->user = d->group = d->target = d->link = d->error = NULL;
	if (s->path && !(d->path = memdup0(s->path, s->path_len)))
		goto out_nomem;
	if (s->user && !(d->user = strdup(s->user)))
		goto out_nomem;
	if (s->group && !(d->group = strdup(s->group)))
		goto out_nomem;
	if (s->target && !(d->target = memdup0(s->target, s->target_len)))
		goto out_nomem;
	if (s->link && !(d->link = memdup0(s->link, s->link_len)))
		goto out_nomem;
	if (s->error && !(d->error = strdup(s->error)))
		goto out_nomem;
	if (!s->path)
		d->path_len = 0;
	return 0;
out_nomem:
	bfs_cat_entry_clear(dst);
	return -ENOMEM;
}

struct page {
	struct bfs_cat_entry *items;
	size_t n;
	int rc;
};

static int page_add(void *arg, const struct bfs_cat_entry *e)
{
	struct page *pg = arg;

	if (cat_entry_copy(&pg->items[pg->n], e) < 0) {
		pg->rc = -ENOMEM;
		return -ENOMEM;
	}
	pg->n++;
	return pg->n >= PAGE_ENTRIES ? 1 : 0;
}

static void page_clear(struct page *pg)
{
	size_t i;

	for (i = 0; i < pg->n; i++)
		bfs_cat_entry_clear(&pg->items[i]);
	pg->n = 0;
	pg->rc = 0;
}

/* Next page of dir's children after id *after.  0 (pg->n == 0 at the
 * end) or -errno. */
static int page_next(struct bfs_catalog *cat, int64_t dir, int64_t *after,
		     struct page *pg, struct bfs_err *err)
{
	int rc;

	page_clear(pg);
	if (!pg->items) {
		pg->items = calloc(PAGE_ENTRIES, sizeof(*pg->items));
		if (!pg->items)
			return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	rc = bfs_catalog_readdir(cat, dir, *after, PAGE_ENTRIES, page_add, pg,
				 err);
	if (pg->rc)
		return bfs_err_set(err, pg->rc, "out of memory");
	if (rc < 0)
		return rc;
	if (pg->n)
		*after = pg->items[pg->n - 1].id;
	return 0;
}

static void page_free(struct page *pg)
{
	page_clear(pg);
	free(pg->items);
	pg->items = NULL;
}

struct children {
	struct bfs_cat_entry *v;
	size_t n, cap;
	int rc;
};

static int children_add(void *arg, const struct bfs_cat_entry *e)
{
	struct children *c = arg;

	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct bfs_cat_entry *nv = realloc(c->v, ncap * sizeof(*nv));

		if (!nv) {
			c->rc = -ENOMEM;
			return -ENOMEM;
		}
		c->v = nv;
		c->cap = ncap;
	}
	if (cat_entry_copy(&c->v[c->n], e) < 0) {
		c->rc = -ENOMEM;
		return -ENOMEM;
	}
	c->n++;
	return 0;
}

int bfs_tree_children(struct bfs_catalog *cat, int64_t dir,
		      struct bfs_cat_entry **out, size_t *n,
		      struct bfs_err *err)
{
	struct children c = { NULL, 0, 0, 0 };
	int rc;

	rc = bfs_catalog_readdir(cat, dir, 0, 0, children_add, &c, err);
	if (c.rc)
		rc = bfs_err_set(err, c.rc, "out of memory");
	if (rc < 0) {
		bfs_tree_children_free(c.v, c.n);
		*out = NULL;
		*n = 0;
		return rc;
	}
	*out = c.v;
	*n = c.n;
	return 0;
}

void bfs_tree_children_free(struct bfs_cat_entry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		bfs_cat_entry_clear(&v[i]);
	free(v);
}

/* Entry names come from untrusted manifests: refuse anything that would
 * escape the directory it is created in. */
static bool name_ok(const struct bfs_cat_entry *ce)
{
	const char *p = ce->e.path;
	size_t n = ce->e.path_len;

	if (!p || n == 0 || n > 255 || memchr(p, '/', n) ||
	    strlen(p) != n)
		return false;
	return !(n == 1 && p[0] == '.') &&
	       !(n == 2 && p[0] == '.' && p[1] == '.');
}

/* ---- path buffer -------------------------------------------------------- */

static int path_push(struct bfs_buf *b, const char *name, size_t n)
{
	int rc;

	if (b->len && b->data[b->len - 1] != '/' &&
	    (rc = bfs_buf_append(b, "/", 1)) < 0)
		return rc;
	if ((rc = bfs_buf_reserve(b, n + 1)) < 0)
		return rc;
	memcpy(b->data + b->len, name, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static void path_pop(struct bfs_buf *b, size_t len)
{
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
}

/* ---- walk --------------------------------------------------------------- */

struct walk {
	struct bfs_catalog *cat;
	bfs_walk_cb cb;
	void *arg;
	struct bfs_buf path;
	struct bfs_err *err;
};

static int walk_dir(struct walk *w, int64_t dir)
{
	struct page pg = { 0 };
	int64_t after = 0;
	size_t i, base = w->path.len;
	int rc;

	for (;;) {
		rc = page_next(w->cat, dir, &after, &pg, w->err);
		if (rc < 0 || pg.n == 0)
			break;
		for (i = 0; i < pg.n; i++) {
			struct bfs_cat_entry *ce = &pg.items[i];

			rc = path_push(&w->path, ce->e.path ? ce->e.path : "",
				       ce->e.path_len);
			if (rc < 0) {
				bfs_err_set(w->err, rc, "out of memory");
				goto out_free;
			}
			rc = w->cb(w->arg, (const char *)w->path.data,
				   w->path.len, ce);
			if (rc == 0 && ce->e.type == BFS_T_DIR)
				rc = walk_dir(w, ce->id);
			else if (rc == 1)
				rc = 0;
			path_pop(&w->path, base);
			if (rc)
				goto out_free;
		}
		if (pg.n < PAGE_ENTRIES)
			break;
	}
out_free:
	page_free(&pg);
	return rc;
}

int bfs_tree_walk(struct bfs_catalog *cat, int64_t dir, bfs_walk_cb cb,
		  void *arg, struct bfs_err *err)
{
	struct walk w = { cat, cb, arg, { 0 }, err };
	int rc;

	rc = bfs_buf_reserve(&w.path, 256);
	if (rc < 0)
		return bfs_err_set(err, rc, "out of memory");
	w.path.data[0] = '\0';
	rc = walk_dir(&w, dir);
	bfs_buf_free(&w.path);
	return rc;
}

/* ---- restore ------------------------------------------------------------ */

/* Hardlink groups: data entry id -> path (relative to the target root) of
 * the first member restored.  Open addressing, grows at 50 % load. */
struct link_map {
	int64_t *keys;
	char **paths;
	size_t cap, n;
};

static size_t link_slot(const struct link_map *m, int64_t key)
{
	uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 17) & (m->cap - 1);

	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static const char *link_get(const struct link_map *m, int64_t key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = link_slot(m, key);
	return m->keys[i] ? m->paths[i] : NULL;
}

static int link_put(struct link_map *m, int64_t key, const char *path)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct link_map nm = { 0 };

		nm.cap = m->cap ? m->cap * 2 : 64;
		nm.keys = calloc(nm.cap, sizeof(*nm.keys));
		nm.paths = calloc(nm.cap, sizeof(*nm.paths));
		if (!nm.keys || !nm.paths) {
			free(nm.keys);
			free(nm.paths);
			return -ENOMEM;
		}
		for (i = 0; i < m->cap; i++) {
			if (m->keys[i]) {
				size_t s = link_slot(&nm, m->keys[i]);

				nm.keys[s] = m->keys[i];
				nm.paths[s] = m->paths[i];
			}
		}
		nm.n = m->n;
		free(m->keys);
		free(m->paths);
		*m = nm;
	}
	i = link_slot(m, key);
	if (m->keys[i])
		return 0;
	m->paths[i] = strdup(path);
	if (!m->paths[i])
		return -ENOMEM;
	m->keys[i] = key;
	m->n++;
	return 0;
}

static void link_map_free(struct link_map *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		free(m->paths[i]);
	free(m->keys);
	free(m->paths);
	memset(m, 0, sizeof(*m));
}

/* ---- prefetch of small files -------------------------------------------- */

/* Restoring many small files would wait for one store request per file
 * (a round trip each on S3).  The files of a directory page are queued
 * when the page is read; PF_THREADS workers fetch them ahead, in order,
 * within PF_BUDGET bytes, while the restore thread writes.  The restore
 * thread never waits for an item nobody has started: it takes it from
 * the queue and fetches it itself (so nested directories cannot
 * deadlock on the budget). */
#define PF_THREADS 4
#define PF_BUDGET (32u << 20)
#define PF_MAX_FILE (4u << 20)

struct pf_item {
	struct pf_item *prev, *next;   /* queue links, under pf.lock */
	struct bfs_chunkref *refs;     /* owned */
	size_t n;
	uint64_t size;
	uint8_t *data;                 /* size bytes once done */
	int state;                     /* PF_* */
	bool by_worker;                /* counts in pf.inflight */
	int rc;
	struct bfs_err err;
};
enum { PF_QUEUED, PF_FETCHING, PF_DONE, PF_MINE };

struct prefetch {
	pthread_mutex_t lock;          /* protects the queue, states, inflight */
	pthread_cond_t cond;
	struct pf_item *head, *tail;
	uint64_t inflight;             /* bytes fetched by workers, not yet
					  released */
	bool stop;
	pthread_t th[PF_THREADS];
	size_t nth;
	bool started;
	struct bfs_repo *repo;
};

struct mem_out {
	uint8_t *data;
	uint64_t size;
};

static int mem_write(void *arg, uint64_t off, const uint8_t *data, size_t n)
{
	struct mem_out *m = arg;

	if (off > m->size || n > m->size - off)
		return -EUCLEAN;
	memcpy(m->data + off, data, n);
	return 0;
}

/* Fetch an item's content (any thread; no lock held). */
static void pf_fetch(struct bfs_repo *repo, struct pf_item *it)
{
	struct mem_out m;

	it->err.msg[0] = '\0';
	it->data = malloc(it->size ? it->size : 1);
	if (!it->data) {
		it->rc = bfs_err_set(&it->err, -ENOMEM, "out of memory");
		return;
	}
	m.data = it->data;
	m.size = it->size;
	it->rc = bfs_read_chunk_list(repo, it->refs, it->n, mem_write, &m,
				     &it->err);
}

static void pf_unlink(struct prefetch *pf, struct pf_item *it)
{
	if (it->prev)
		it->prev->next = it->next;
	else
		pf->head = it->next;
	if (it->next)
		it->next->prev = it->prev;
	else
		pf->tail = it->prev;
	it->prev = it->next = NULL;
}

static void *pf_worker(void *arg)
{
	struct prefetch *pf = arg;

	pthread_mutex_lock(&pf->lock);
	for (;;) {
		struct pf_item *it = pf->head;

		if (pf->stop)
			break;
		if (!it || (pf->inflight && pf->inflight + it->size > PF_BUDGET)) {
			pthread_cond_wait(&pf->cond, &pf->lock);
			continue;
		}
		pf_unlink(pf, it);
		it->state = PF_FETCHING;
		it->by_worker = true;
		pf->inflight += it->size;
		pthread_mutex_unlock(&pf->lock);
		pf_fetch(pf->repo, it);
		pthread_mutex_lock(&pf->lock);
		it->state = PF_DONE;
		pthread_cond_broadcast(&pf->cond);
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

static void pf_enqueue(struct prefetch *pf, struct pf_item *it)
{
	pthread_mutex_lock(&pf->lock);
	if (!pf->started) {
		pf->started = true;
		for (pf->nth = 0; pf->nth < PF_THREADS; pf->nth++)
			if (pthread_create(&pf->th[pf->nth], NULL, pf_worker,
					   pf) != 0)
				break;
	}
	it->state = PF_QUEUED;
	it->prev = pf->tail;
	it->next = NULL;
	if (pf->tail)
		pf->tail->next = it;
	else
		pf->head = it;
	pf->tail = it;
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
}

/* Make the item ours: dequeue it (fetch = true: and fetch it here) or
 * wait for the worker fetching it. */
static void pf_take(struct prefetch *pf, struct pf_item *it, bool fetch)
{
	bool mine = false;

	pthread_mutex_lock(&pf->lock);
	if (it->state == PF_QUEUED) {
		pf_unlink(pf, it);
		it->state = PF_MINE;
		mine = true;
	}
	while (it->state == PF_FETCHING)
		pthread_cond_wait(&pf->cond, &pf->lock);
	pthread_mutex_unlock(&pf->lock);
	if (mine && fetch)
		pf_fetch(pf->repo, it);
}

/* Done with the item (used or not): free its content and budget. */
static void pf_release(struct prefetch *pf, struct pf_item *it)
{
	pf_take(pf, it, false);
	free(it->data);
	it->data = NULL;
	free(it->refs);
	it->refs = NULL;
	pthread_mutex_lock(&pf->lock);
	if (it->by_worker) {
		pf->inflight -= it->size;
		it->by_worker = false;
		pthread_cond_broadcast(&pf->cond);
	}
	it->state = PF_MINE;
	pthread_mutex_unlock(&pf->lock);
}

static void pf_stop(struct prefetch *pf)
{
	size_t i;

	pthread_mutex_lock(&pf->lock);
	pf->stop = true;
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	for (i = 0; i < pf->nth; i++)
		pthread_join(pf->th[i], NULL);
	pf->nth = 0;
}

struct rctx {
	struct bfs_repo *repo;
	struct bfs_catalog *cat;
	struct bfs_restore_opts o;
	struct bfs_restore_stats st;
	struct bfs_err *err;
	int rootfd;
	/* "TARGET/rel/path": messages use all of it, hardlinks the part
	 * after base (relative to rootfd). */
	struct bfs_buf path;
	size_t base;
	struct link_map links;
	struct bfs_restore_progress prog;
	int64_t start_ns, last_ns;
	struct prefetch pf;
};

static const char *cur_path(const struct rctx *x)
{
	return (const char *)x->path.data;
}

static const char *rel_path(const struct rctx *x)
{
	return x->path.len > x->base ? cur_path(x) + x->base : "";
}

static void progress(struct rctx *x, bool force)
{
	int64_t now;

	if (!x->o.progress)
		return;
	now = bfs_mono_ns();
	if (!force && now - x->last_ns < PROGRESS_NS)
		return;
	x->last_ns = now;
	x->prog.elapsed_ns = now - x->start_ns;
	x->prog.current = rel_path(x);
	x->o.progress(x->o.arg, &x->prog);
}

static void warn(struct rctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void warn(struct rctx *x, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!x->o.warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->o.warn(x->o.arg, cur_path(x), msg);
}

/* A name for a new object in dirfd, unique enough to be created with
 * O_EXCL / mknod / symlink (those fail with EEXIST, and we retry). */
static void tmp_name(char out[32])
{
	uint32_t r = 0;

	if (bfs_random(&r, sizeof(r)) < 0)
		r = (uint32_t)bfs_mono_ns() ^ (uint32_t)getpid();
	snprintf(out, 32, ".bfs-restore.%08x", r);
}

static int fs_error(struct rctx *x, int code, const char *what)
{
	return bfs_err_set(x->err, code, "cannot %s '%s': %s", what,
			   cur_path(x), strerror(-code));
}

static int conflict(struct rctx *x)
{
	return bfs_err_set(x->err, -EEXIST,
			   "'%s' already exists (use --force to overwrite)",
			   cur_path(x));
}

/* Move the object created as tmp into place as name.  Without force an
 * existing name is never replaced. */
static int place(struct rctx *x, int dirfd, const char *tmp,
		 const char *name)
{
	int rc = 0;

	if (!x->o.force) {
		if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOSYS) {
			/* file system without RENAME_NOREPLACE */
			if (linkat(dirfd, tmp, dirfd, name, 0) == 0) {
				unlinkat(dirfd, tmp, 0);
				return 0;
			}
		}
		rc = errno == EEXIST ? conflict(x) :
				       fs_error(x, -errno, "create");
		goto out_unlink;
	}
	if (renameat(dirfd, tmp, dirfd, name) == 0) {
		/* renaming a link onto the same inode is a no-op that
		 * leaves tmp behind */
		unlinkat(dirfd, tmp, 0);
		return 0;
	}
	if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) {
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 &&
		    renameat(dirfd, tmp, dirfd, name) == 0)
			return 0;
	}
	rc = fs_error(x, -errno, "replace");
out_unlink:
	unlinkat(dirfd, tmp, 0);
	return rc;
}

static void set_times(struct timespec ts[2], int64_t mtime_ns)
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = mtime_ns / 1000000000;
	ts[1].tv_nsec = mtime_ns % 1000000000;
	if (ts[1].tv_nsec < 0) {
		ts[1].tv_nsec += 1000000000;
		ts[1].tv_sec--;
	}
}

/* Owner, then mode (chown clears setuid/setgid), then mtime, on an open
 * file or directory. */
static int meta_fd(struct rctx *x, int fd, const struct bfs_entry *e)
{
	struct timespec ts[2];

	if (x->o.owners && fchown(fd, e->uid, e->gid) < 0)
		warn(x, "cannot set owner %u:%u: %s", e->uid, e->gid,
		     strerror(errno));
	if (fchmod(fd, e->mode & 07777) < 0)
		return fs_error(x, -errno, "set the mode of");
	set_times(ts, e->mtime_ns);
	if (futimens(fd, ts) < 0)
		return fs_error(x, -errno, "set the time of");
	return 0;
}

/* The same for an object we cannot open (symlink, fifo, device). */
static int meta_at(struct rctx *x, int dirfd, const char *name,
		   const struct bfs_entry *e, bool chmod_ok)
{
	struct timespec ts[2];

	if (x->o.owners &&
	    fchownat(dirfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
		warn(x, "cannot set owner %u:%u: %s", e->uid, e->gid,
		     strerror(errno));
	if (chmod_ok && fchmodat(dirfd, name, e->mode & 07777, 0) < 0)
		return fs_error(x, -errno, "set the mode of");
	set_times(ts, e->mtime_ns);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return fs_error(x, -errno, "set the time of");
	return 0;
}

static int pwrite_full(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

struct file_out {
	struct rctx *x;
	int fd;
	int werr;
};

/* Write data at off, leaving holes for all-zero 4 KiB blocks (aligned to
 * the file's blocks); the file's final size is set by ftruncate. */
static int file_write(void *arg, uint64_t off, const uint8_t *data, size_t n)
{
	struct file_out *o = arg;
	size_t i = 0;
	int rc;

	while (i < n) {
		size_t blk = BFS_MIN(SPARSE_BLOCK - (off + i) % SPARSE_BLOCK,
				     n - i);
		size_t j;

		if (all_zero(data + i, blk)) {
			i += blk;
			continue;
		}
		for (j = i + blk; j < n;) {
			size_t b2 = BFS_MIN(SPARSE_BLOCK, n - j);

			if (all_zero(data + j, b2))
				break;
			j += b2;
		}
		rc = pwrite_full(o->fd, data + i, j - i, off + i);
		if (rc < 0) {
			o->werr = rc;
			return rc;
		}
		i = j;
	}
	o->x->prog.bytes += n;
	o->x->st.bytes += n;
	progress(o->x, false);
	return 0;
}

static int open_tmp(struct rctx *x, int dirfd, char tmp[32])
{
	int fd, tries;

	for (tries = 0; tries < 100; tries++) {
		tmp_name(tmp);
		fd = openat(dirfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return fs_error(x, -errno, "create a file for");
	return fd;
}

/* Try to restore a hardlink member as a link to the group's first
 * restored member.  1 done, 0 not possible (restore content), -errno. */
static int restore_link(struct rctx *x, int dirfd,
			const struct bfs_cat_entry *ce, int64_t key)
{
	const char *first = link_get(&x->links, key);
	char tmp[32];
	int tries, rc;

	if (!first)
		return 0;
	for (tries = 0; tries < 100; tries++) {
		tmp_name(tmp);
		if (linkat(x->rootfd, first, dirfd, tmp, 0) == 0)
			break;
		if (errno != EEXIST)
			return 0;   /* e.g. ENAMETOOLONG: copy instead */
	}
	if (tries == 100)
		return 0;
	rc = place(x, dirfd, tmp, ce->e.path);
	if (rc < 0)
		return rc;
	x->st.hardlinks++;
	return 1;
}

/* Per-entry failures (content that cannot be read from the repository)
 * are counted and reported; the restore goes on.  Returns 0 or a fatal
 * -errno. */
static int entry_failed(struct rctx *x, int rc)
{
	warn(x, "cannot restore: %s", bfs_err_str(x->err, rc));
	x->err->msg[0] = '\0';
	x->st.failed++;
	return 0;
}

static int restore_file(struct rctx *x, int dirfd,
			const struct bfs_cat_entry *ce, struct pf_item *it)
{
	int64_t key = ce->link_id ? ce->link_id : ce->id;
	struct bfs_chunkref *refs = NULL;
	struct file_out o = { x, -1, 0 };
	uint64_t size;
	size_t n = 0;
	char tmp[32];
	int rc;

	if (ce->link_id) {
		rc = restore_link(x, dirfd, ce, key);
		if (rc)
			return rc < 0 ? rc : 0;
	}
	if (it) {
		/* prefetched: the chunk list was read and checked already */
		size = it->size;
		pf_take(&x->pf, it, true);
		if (it->rc < 0) {
			*x->err = it->err;
			bfs_err_prefix(x->err, it->rc, "cannot read '%s'",
				       rel_path(x));
			return entry_failed(x, it->rc);
		}
		o.fd = open_tmp(x, dirfd, tmp);
		if (o.fd < 0)
			return o.fd;
		rc = file_write(&o, 0, it->data, it->size);
		if (rc < 0) {
			rc = fs_error(x, o.werr ? o.werr : rc, "write");
			goto out_unlink;
		}
		goto out_written;
	}
	/* A damaged chunk list or link (EUCLEAN, EINVAL) spoils this entry
	 * only; other catalog errors stop the restore. */
	rc = entry_size(x->cat, ce, &size, x->err);
	if (rc == 0)
		rc = bfs_catalog_chunks(x->cat, ce->id, &refs, &n, x->err);
	if (rc == -EUCLEAN || rc == -EINVAL || rc == -ENOENT)
		return entry_failed(x, rc);
	if (rc < 0)
		return rc;
	rc = check_chunk_sum(refs, n, size, cur_path(x), x->err);
	if (rc < 0) {
		rc = entry_failed(x, rc);
		goto out_free;
	}
	o.fd = open_tmp(x, dirfd, tmp);
	if (o.fd < 0) {
		rc = o.fd;
		goto out_free;
	}
	rc = bfs_read_chunk_list(x->repo, refs, n, file_write, &o, x->err);
	if (rc < 0) {
		if (o.werr) {
			rc = fs_error(x, o.werr, "write");
		} else {
			bfs_err_prefix(x->err, rc, "cannot read '%s'",
				       rel_path(x));
			rc = entry_failed(x, rc);
		}
		goto out_unlink;
	}
out_written:
	if (ftruncate(o.fd, (off_t)size) < 0) {
		rc = fs_error(x, -errno, "write");
		goto out_unlink;
	}
	rc = meta_fd(x, o.fd, &ce->e);
	if (rc < 0)
		goto out_unlink;
	rc = close(o.fd);
	o.fd = -1;
	if (rc < 0) {
		rc = fs_error(x, -errno, "write");
		goto out_unlink;
	}
	rc = place(x, dirfd, tmp, ce->e.path);
	if (rc < 0)
		goto out_free;
	x->st.files++;
	x->prog.files++;
	if ((ce->link_id || ce->nlink > 1) &&
	    link_put(&x->links, key, rel_path(x)) < 0)
		rc = bfs_err_set(x->err, -ENOMEM, "out of memory");
	goto out_free;
out_unlink:
	if (o.fd >= 0)
		close(o.fd);
	unlinkat(dirfd, tmp, 0);
out_free:
	free(refs);
	return rc;
}

static int restore_special(struct rctx *x, int dirfd,
			   const struct bfs_cat_entry *ce)
{
	const struct bfs_entry *e = &ce->e;
	char tmp[32];
	int tries, rc = -EEXIST;
	mode_t fmt;

	switch (e->type) {
	case BFS_T_FIFO: fmt = S_IFIFO; break;
	case BFS_T_SOCK: fmt = S_IFSOCK; break;
	case BFS_T_CHR: fmt = S_IFCHR; break;
	default: fmt = S_IFBLK; break;
	}
	for (tries = 0; tries < 100 && rc == -EEXIST; tries++) {
		tmp_name(tmp);
		if (e->type == BFS_T_SYMLINK)
			rc = symlinkat(e->target ? e->target : "", dirfd, tmp);
		else
			rc = mknodat(dirfd, tmp, fmt | 0600, (dev_t)e->rdev);
		rc = rc < 0 ? -errno : 0;
	}
	if (rc < 0)
		return fs_error(x, rc, "create");
	rc = meta_at(x, dirfd, tmp, e, e->type != BFS_T_SYMLINK);
	if (rc < 0) {
		unlinkat(dirfd, tmp, 0);
		return rc;
	}
	rc = place(x, dirfd, tmp, e->path);
	if (rc < 0)
		return rc;
	if (e->type == BFS_T_SYMLINK)
		x->st.symlinks++;
	else
		x->st.specials++;
	return 0;
}

static int restore_children(struct rctx *x, int dirfd, int64_t dir);

static int restore_dir(struct rctx *x, int dirfd,
		       const struct bfs_cat_entry *ce)
{
	const char *name = ce->e.path;
	struct stat st;
	int fd, rc;

	if (mkdirat(dirfd, name, 0700) < 0) {
		if (errno != EEXIST)
			return fs_error(x, -errno, "create directory");
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return fs_error(x, -errno, "stat");
		if (!S_ISDIR(st.st_mode)) {
			if (!x->o.force)
				return conflict(x);
			if (unlinkat(dirfd, name, 0) < 0 ||
			    mkdirat(dirfd, name, 0700) < 0)
				return fs_error(x, -errno, "replace");
		}
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				 O_CLOEXEC);
	if (fd < 0)
		return fs_error(x, -errno, "open directory");
	/* An existing directory (an earlier restore of a read-only one) must
	 * be writable for us while we fill it; its mode is set at the end. */
	if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
		fchmod(fd, (st.st_mode & 07777) | 0700);
	rc = restore_children(x, fd, ce->id);
	if (rc == 0)
		rc = meta_fd(x, fd, &ce->e);
	close(fd);
	if (rc == 0)
		x->st.dirs++;
	return rc;
}

static int restore_entry(struct rctx *x, int dirfd,
			 const struct bfs_cat_entry *ce, struct pf_item *it)
{
	uint64_t failed = x->st.failed;
	size_t len = x->path.len;
	int rc;

	if (!name_ok(ce))
		return bfs_err_set(x->err, -EUCLEAN,
				   "bad entry name in the catalog below '%s'",
				   cur_path(x));
	rc = path_push(&x->path, ce->e.path, ce->e.path_len);
	if (rc < 0)
		return bfs_err_set(x->err, rc, "out of memory");
	if (ce->e.error) {
		warn(x, "skipped: unreadable at backup time: %s", ce->e.error);
		x->st.skipped++;
		goto out_pop;
	}
	switch (ce->e.type) {
	case BFS_T_DIR:
		rc = restore_dir(x, dirfd, ce);
		break;
	case BFS_T_FILE:
		rc = restore_file(x, dirfd, ce, it);
		break;
	case BFS_T_CHR:
	case BFS_T_BLK:
		if (!x->o.devices) {
			warn(x, "skipped: device nodes need root");
			x->st.skipped++;
			break;
		}
		/* fall through */
	case BFS_T_SYMLINK:
	case BFS_T_FIFO:
	case BFS_T_SOCK:
		rc = restore_special(x, dirfd, ce);
		break;
	default:
		warn(x, "skipped: unknown type '%c'", ce->e.type);
		x->st.skipped++;
		break;
	}
	if (rc == 0 && x->st.failed == failed) {
		x->st.entries++;
		x->prog.entries++;
		progress(x, false);
	}
out_pop:
	path_pop(&x->path, len);
	return rc;
}

/* Queue the small regular files of a page for prefetching; items[i] is
 * the item of page entry i or NULL (then restore_file reads it itself,
 * and reports any catalog problem). */
static void queue_page(struct rctx *x, const struct page *pg,
		       struct pf_item *items, struct pf_item **map)
{
	size_t i;

	for (i = 0; i < pg->n; i++) {
		const struct bfs_cat_entry *ce = &pg->items[i];
		struct pf_item *it = &items[i];
		uint64_t sum = 0;
		size_t k;

		map[i] = NULL;
		if (ce->e.type != BFS_T_FILE || ce->e.error || ce->link_id ||
		    ce->e.size > PF_MAX_FILE || ce->nchunks == 0)
			continue;
		memset(it, 0, sizeof(*it));
		if (bfs_catalog_chunks(x->cat, ce->id, &it->refs, &it->n,
				       NULL) < 0)
			continue;
		for (k = 0; k < it->n; k++)
			sum += it->refs[k].len;
		if (sum != ce->e.size) {
			free(it->refs);
			it->refs = NULL;
			continue;
		}
		it->size = sum;
		map[i] = it;
		pf_enqueue(&x->pf, it);
	}
}

static int restore_children(struct rctx *x, int dirfd, int64_t dir)
{
	struct pf_item *items = NULL, **map = NULL;
	struct page pg = { 0 };
	int64_t after = 0;
	size_t i;
	int rc;

	items = calloc(PAGE_ENTRIES, sizeof(*items));
	map = calloc(PAGE_ENTRIES, sizeof(*map));
	if (!items || !map) {
		rc = bfs_err_set(x->err, -ENOMEM, "out of memory");
		goto out_free;
	}
	for (;;) {
		rc = page_next(x->cat, dir, &after, &pg, x->err);
		if (rc < 0 || pg.n == 0)
			break;
		queue_page(x, &pg, items, map);
		for (i = 0; i < pg.n; i++) {
			rc = restore_entry(x, dirfd, &pg.items[i], map[i]);
			if (map[i])
				pf_release(&x->pf, map[i]);
			map[i] = NULL;
			if (rc < 0)
				break;
		}
		/* on error: release what is still queued or in flight */
		for (; i < pg.n; i++) {
			if (map[i])
				pf_release(&x->pf, map[i]);
			map[i] = NULL;
		}
		if (rc < 0 || pg.n < PAGE_ENTRIES)
			break;
	}
out_free:
	page_free(&pg);
	free(items);
	free(map);
	return rc;
}

/* ---- conflict check (before anything is written) ------------------------ */

static int check_children(struct rctx *x, int dirfd, int64_t dir);

static int check_entry(struct rctx *x, int dirfd,
		       const struct bfs_cat_entry *ce)
{
	size_t len = x->path.len;
	struct stat st;
	int fd, rc = 0;

	if (!name_ok(ce))
		return bfs_err_set(x->err, -EUCLEAN,
				   "bad entry name in the catalog below '%s'",
				   cur_path(x));
	if (ce->e.error || ((ce->e.type == BFS_T_CHR ||
			     ce->e.type == BFS_T_BLK) && !x->o.devices))
		return 0;   /* will be skipped */
	rc = path_push(&x->path, ce->e.path, ce->e.path_len);
	if (rc < 0)
		return bfs_err_set(x->err, rc, "out of memory");
	if (fstatat(dirfd, ce->e.path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			rc = fs_error(x, -errno, "stat");
		goto out_pop;
	}
	if (ce->e.type != BFS_T_DIR || !S_ISDIR(st.st_mode)) {
		rc = conflict(x);
		goto out_pop;
	}
	fd = openat(dirfd, ce->e.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					       O_CLOEXEC);
	if (fd < 0) {
		rc = fs_error(x, -errno, "open directory");
		goto out_pop;
	}
	rc = check_children(x, fd, ce->id);
	close(fd);
out_pop:
	path_pop(&x->path, len);
	return rc;
}

static int check_children(struct rctx *x, int dirfd, int64_t dir)
{
	struct page pg = { 0 };
	int64_t after = 0;
	size_t i;
	int rc;

	for (;;) {
		rc = page_next(x->cat, dir, &after, &pg, x->err);
		if (rc < 0 || pg.n == 0)
			break;
		for (i = 0; i < pg.n; i++) {
			rc = check_entry(x, dirfd, &pg.items[i]);
			if (rc < 0)
				goto out_free;
		}
		if (pg.n < PAGE_ENTRIES)
			break;
	}
out_free:
	page_free(&pg);
	return rc;
}

/* ---- entry point -------------------------------------------------------- */

/* mkdir -p target itself (bfs_mkdir_parents stops before the last
 * component). */
static int make_target(const char *target)
{
	size_t n = strlen(target);
	char *p;
	int rc = 0;

	p = malloc(n + 3);
	if (!p)
		return -ENOMEM;
	memcpy(p, target, n);
	memcpy(p + n, "/x", 3);
	rc = bfs_mkdir_parents(p, 0755);
	free(p);
	return rc;
}

/* Open (creating as needed) the directories of path's parent inside
 * rootfd; leaves x->path at "TARGET/parent". Returns a new fd or -errno. */
static int open_parents(struct rctx *x, const char *path)
{
	const char *p = path, *slash;
	int fd, nfd, rc;

	fd = dup(x->rootfd);
	if (fd < 0)
		return fs_error(x, -errno, "open directory");
	while ((slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		char *name = memdup0(p, n);

		if (!name || path_push(&x->path, p, n) < 0) {
			free(name);
			close(fd);
			return bfs_err_set(x->err, -ENOMEM, "out of memory");
		}
		if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST) {
			rc = fs_error(x, -errno, "create directory");
			goto out_close;
		}
		nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					       O_CLOEXEC);
		if (nfd < 0) {
			rc = errno == ENOTDIR || errno == ELOOP ?
				     conflict(x) :
				     fs_error(x, -errno, "open directory");
			goto out_close;
		}
		free(name);
		close(fd);
		fd = nfd;
		p = slash + 1;
		continue;
out_close:
		free(name);
		close(fd);
		return rc;
	}
	return fd;
}

int bfs_restore(struct bfs_repo *repo, struct bfs_catalog *cat, int64_t root,
		const char *path, const char *target,
		const struct bfs_restore_opts *opts,
		struct bfs_restore_stats *stats, struct bfs_err *err)
{
	struct bfs_err local_err;
	struct bfs_cat_entry ce;
	struct rctx x;
	int parentfd = -1, rc;
	size_t tlen;

	memset(&x, 0, sizeof(x));
	memset(&ce, 0, sizeof(ce));
	x.repo = repo;
	x.cat = cat;
	if (opts)
		x.o = *opts;
	x.err = err ? err : &local_err;
	x.err->msg[0] = '\0';
	x.rootfd = -1;
	x.start_ns = x.last_ns = bfs_mono_ns();
	pthread_mutex_init(&x.pf.lock, NULL);
	pthread_cond_init(&x.pf.cond, NULL);
	x.pf.repo = repo;
	x.prog.total_bytes = x.o.total_bytes;
	if (!path)
		path = "";

	rc = bfs_catalog_lookup_path(cat, root, path, &ce, x.err);
	if (rc < 0)
		goto out;
	/* the path buffer starts as "TARGET/" (without a doubled '/') */
	tlen = strlen(target);
	while (tlen > 1 && target[tlen - 1] == '/')
		tlen--;
	if (bfs_buf_append(&x.path, target, tlen) < 0 ||
	    (target[tlen - 1] != '/' && bfs_buf_append(&x.path, "/", 1) < 0) ||
	    bfs_buf_reserve(&x.path, 1) < 0) {
		rc = bfs_err_set(x.err, -ENOMEM, "out of memory");
		goto out;
	}
	x.base = x.path.len;
	x.path.data[x.path.len] = '\0';

	rc = make_target(target);
	if (rc < 0) {
		rc = bfs_err_set(x.err, rc, "cannot create directory '%s': %s",
				 target, strerror(-rc));
		goto out;
	}
	x.rootfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (x.rootfd < 0) {
		rc = bfs_err_set(x.err, -errno, "cannot open directory '%s': %s",
				 target, strerror(errno));
		goto out;
	}
	/* x.path holds "TARGET/" + the parents of path from here on, the
	 * restore pushes the entry's own name. */
	if (path[0]) {
		parentfd = open_parents(&x, path);
		if (parentfd < 0) {
			rc = parentfd;
			goto out;
		}
	}

	if (!x.o.force) {
		if (path[0])
			rc = check_entry(&x, parentfd, &ce);
		else
			rc = check_children(&x, x.rootfd, ce.id);
		if (rc < 0)
			goto out;
	}
	if (path[0])
		rc = restore_entry(&x, parentfd, &ce, NULL);
	else
		rc = restore_children(&x, x.rootfd, ce.id);
	if (rc == 0 && x.st.failed)
		rc = bfs_err_set(x.err, -EIO,
				 "%llu entries could not be restored",
				 (unsigned long long)x.st.failed);
	progress(&x, true);
out:
	x.st.duration_ns = bfs_mono_ns() - x.start_ns;
	if (stats)
		*stats = x.st;
	if (parentfd >= 0)
		close(parentfd);
	if (x.rootfd >= 0)
		close(x.rootfd);
	pf_stop(&x.pf);
	pthread_cond_destroy(&x.pf.cond);
	pthread_mutex_destroy(&x.pf.lock);
	link_map_free(&x.links);
	bfs_buf_free(&x.path);
	bfs_cat_entry_clear(&ce);
	return rc;
}
