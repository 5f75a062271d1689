/* ops.c - the metadata side of the FUSE driver: lookup, getattr,
 * readlink, directories, statfs, and EROFS for every write-type op.
 * Everything is answered from the catalog (one connection per thread). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "catalog/catalog.h"
#include "fuse/mount_int.h"
#include "src/log.h"

static struct bfs_mount *mnt_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static int64_t ino_to_id(fuse_ino_t ino)
{
	return (int64_t)ino - BFS_INO_BASE;
}

static fuse_ino_t id_to_ino(int64_t id)
{
	return (fuse_ino_t)id + BFS_INO_BASE;
}

/* /latest: the newest backup's name.  -ENOENT when there is none. */
static int latest_stat(struct bfs_mount *m, struct bfs_catalog *cat,
		       struct stat *st, char *name, size_t n)
{
	struct bfs_backup_info b;
	int rc;

	memset(&b, 0, sizeof(b));
	rc = bfs_catalog_find_backup(cat, "latest", &b, NULL);
	if (rc < 0)
		return rc;
	mnt_symlink_stat(m, BFS_INO_LATEST, b.name, b.time_ns, st);
	if (name)
		snprintf(name, n, "%s", b.name);
	bfs_backup_info_clear(&b);
	return 0;
}

/* Load the entry for a (non-root, non-latest) inode: follows a hardlink
 * to the entry carrying the data so every link reports the same inode. */
static int get_entry(struct bfs_catalog *cat, int64_t id,
		     struct bfs_cat_entry *e)
{
	struct bfs_err err = {""};
	int rc;

	rc = bfs_catalog_get(cat, id, e, &err);
	if (rc == 0 && e->link_id && e->link_id != e->id) {
		struct bfs_cat_entry t = {0};

		rc = bfs_catalog_get(cat, e->link_id, &t, &err);
		if (rc == 0) {
			bfs_cat_entry_clear(e);
			*e = t;
		}
	}
	if (rc < 0 && rc != -ENOENT)
		bfs_err_log("catalog: cannot get entry %lld: %s", (long long)id,
			    bfs_err_str(&err, rc));
	return rc;
}

static int attr_of(struct bfs_mount *m, struct bfs_catalog *cat, fuse_ino_t ino,
		   struct stat *st, double *timeout)
{
	struct bfs_cat_entry e = {0};
	int rc;

	if (ino == FUSE_ROOT_ID) {
		mnt_dir_stat(m, FUSE_ROOT_ID, st);
		*timeout = TIMEOUT_ROOT;
		return 0;
	}
	if (ino == BFS_INO_LATEST) {
		*timeout = TIMEOUT_ROOT;
		return latest_stat(m, cat, st, NULL, 0);
	}
	if (mnt_jobs_ino(ino)) {
		*timeout = TIMEOUT_ROOT;
		return mnt_jobs_stat(m, cat, ino, st);
	}
	*timeout = TIMEOUT_BACKUP;
	if (mnt_dt_ino(ino))
		return mnt_dt_stat(m, cat, ino, st);
	rc = get_entry(cat, ino_to_id(ino), &e);
	if (rc < 0)
		return rc;
	mnt_fill_stat(st, &e);
	bfs_cat_entry_clear(&e);
	return 0;
}

/* ---- lookup / getattr / readlink --------------------------------------- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct bfs_mount *m = mnt_of(req);
	MNT_CAT_SCOPE(m, cat);
	struct fuse_entry_param ep;
	struct bfs_cat_entry e = {0};
	struct bfs_err err = {""};
	int rc;

	if (!cat) {
		fuse_reply_err(req, EIO);
		return;
	}
	memset(&ep, 0, sizeof(ep));
	if (parent == FUSE_ROOT_ID) {
		struct bfs_backup_info b;

		ep.entry_timeout = ep.attr_timeout = TIMEOUT_ROOT;
		if (strcmp(name, "latest") == 0) {
			rc = latest_stat(m, cat, &ep.attr, NULL, 0);
			if (rc < 0) {
				fuse_reply_err(req, mnt_errno(rc));
				return;
			}
			ep.ino = BFS_INO_LATEST;
			fuse_reply_entry(req, &ep);
			return;
		}
		if (strcmp(name, "jobs") == 0 && mnt_jobs_any(cat)) {
			mnt_jobs_lookup(m, cat, parent, name, &ep.attr);
			ep.ino = BFS_INO_JOBS;
			fuse_reply_entry(req, &ep);
			return;
		}
		if (!bfs_backup_id_valid(name)) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		memset(&b, 0, sizeof(b));
		rc = bfs_catalog_find_backup(cat, name, &b, &err);
		if (rc < 0) {
			if (rc != -ENOENT)
				bfs_err_log("catalog: %s",
					    bfs_err_str(&err, rc));
			fuse_reply_err(req, mnt_errno(rc));
			return;
		}
		rc = get_entry(cat, b.root, &e);
		bfs_backup_info_clear(&b);
		if (rc < 0) {
			fuse_reply_err(req, mnt_errno(rc));
			return;
		}
		mnt_fill_stat(&ep.attr, &e);
		ep.ino = ep.attr.st_ino;
		/* The name may go away; the attributes never change. */
		ep.attr_timeout = TIMEOUT_BACKUP;
		bfs_cat_entry_clear(&e);
		fuse_reply_entry(req, &ep);
		return;
	}
	if (parent == BFS_INO_LATEST) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (mnt_jobs_ino(parent)) {
		/* changes with every sync: short timeouts, no negative
		 * entries */
		rc = mnt_jobs_lookup(m, cat, parent, name, &ep.attr);
		if (rc < 0) {
			fuse_reply_err(req, rc == -ENOTDIR ? ENOTDIR
							   : mnt_errno(rc));
			return;
		}
		ep.ino = ep.attr.st_ino;
		ep.entry_timeout = ep.attr_timeout = TIMEOUT_ROOT;
		fuse_reply_entry(req, &ep);
		return;
	}
	if (mnt_dt_ino(parent))
		rc = mnt_dt_lookup(m, cat, parent, name, &ep.attr);
	else
		rc = bfs_catalog_lookup(cat, ino_to_id(parent), name,
					strlen(name), &e, &err);
	if (rc == -ENOENT && !mnt_dt_ino(parent))
		rc = mnt_dt_lookup_dir(cat, ino_to_id(parent), name, &ep.attr);
	if (rc == 0 && ep.attr.st_ino) { /* a view: NAME.d or below */
		ep.ino = ep.attr.st_ino;
		ep.entry_timeout = ep.attr_timeout = TIMEOUT_BACKUP;
		fuse_reply_entry(req, &ep);
		return;
	}
	if (rc == -ENOENT) {
		/* Negative entry, cached as long as the backup lives. */
		ep.ino = 0;
		ep.entry_timeout = TIMEOUT_BACKUP;
		fuse_reply_entry(req, &ep);
		return;
	}
	if (rc < 0) {
		if (!mnt_dt_ino(parent))
			bfs_err_log("catalog: lookup of '%s' failed: %s", name,
				    bfs_err_str(&err, rc));
		fuse_reply_err(req, rc == -ENOTDIR ? ENOTDIR : mnt_errno(rc));
		return;
	}
	if (e.link_id && e.link_id != e.id) {
		int64_t id = e.link_id;

		bfs_cat_entry_clear(&e);
		rc = get_entry(cat, id, &e);
		if (rc < 0) {
			fuse_reply_err(req, EIO);
			return;
		}
	}
	mnt_fill_stat(&ep.attr, &e);
	ep.ino = ep.attr.st_ino;
	ep.entry_timeout = ep.attr_timeout = TIMEOUT_BACKUP;
	bfs_cat_entry_clear(&e);
	fuse_reply_entry(req, &ep);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct bfs_mount *m = mnt_of(req);
	MNT_CAT_SCOPE(m, cat);
	struct stat st;
	double timeout;
	int rc;

	if (!cat) {
		fuse_reply_err(req, EIO);
		return;
	}
	rc = attr_of(m, cat, ino, &st, &timeout);
	if (rc < 0)
		fuse_reply_err(req, mnt_errno(rc));
	else
		fuse_reply_attr(req, &st, timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct bfs_mount *m = mnt_of(req);
	MNT_CAT_SCOPE(m, cat);
	struct bfs_cat_entry e = {0};
	char name[256];
	struct stat st;
	int rc;

	if (!cat) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (ino == BFS_INO_LATEST) {
		rc = latest_stat(m, cat, &st, name, sizeof(name));
		if (rc < 0)
			fuse_reply_err(req, mnt_errno(rc));
		else
			fuse_reply_readlink(req, name);
		return;
	}
	if (ino == FUSE_ROOT_ID || mnt_dt_ino(ino)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (mnt_jobs_ino(ino)) {
		rc = mnt_jobs_readlink(m, cat, ino, name, sizeof(name));
		if (rc < 0)
			fuse_reply_err(req,
				       rc == -EINVAL ? EINVAL : mnt_errno(rc));
		else
			fuse_reply_readlink(req, name);
		return;
	}
	rc = get_entry(cat, ino_to_id(ino), &e);
	if (rc < 0) {
		fuse_reply_err(req, mnt_errno(rc));
		return;
	}
	if (e.e.type != BFS_T_SYMLINK || !e.e.target)
		fuse_reply_err(req, EINVAL);
	else
		fuse_reply_readlink(req, e.e.target);
	bfs_cat_entry_clear(&e);
}

/* ---- directories ------------------------------------------------------- */

/* One directory entry, with its attributes (for readdirplus). */
struct drec {
	int64_t id; /* catalog id, or the position in a snapshot */
	struct stat st;
	size_t name;  /* offset of its NUL-terminated name in dirh.names */
	ssize_t view; /* a dump with a NAME.d view (dtview.c): the index of
			 the view's attributes in dirh.vst, else -1 */
};

/* An open directory.  Children are read from the catalog in batches
 * ordered by id (= name order); the batch covers ids (after, last] completely,
 * and everything after `after` when eof.  The root snapshots its backup list at
 * opendir (ids 1..n are positions).  The arrays are kept from one batch to
 * the next, so a directory of many batches reuses warm memory. */
struct dirh {
	struct mnt_handle h;  /* first: on the mount's ring while open */
	pthread_mutex_t lock; /* readdir on one handle may run concurrently */
	int64_t dir;	      /* catalog id; 0 for the root */
	fuse_ino_t self, parent;
	struct drec *v;
	size_t n, cap;
	struct bfs_buf names; /* the batch's names, one after the other */
	struct stat *vst;     /* the NAME.d views' attributes */
	size_t nv, capv;
	int64_t after;
	bool eof;
	bool root;
};

#define DIR_BATCH 2048

static void dirh_clear(struct dirh *d)
{
	d->n = 0;
	d->nv = 0;
	d->names.len = 0;
}

static void dirh_free(struct dirh *d)
{
	free(d->v);
	free(d->vst);
	bfs_buf_free(&d->names);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static void dirh_free_handle(struct bfs_mount *m, struct mnt_handle *h)
{
	(void)m;
	dirh_free((struct dirh *)(void *)h);
}

static const char *drec_name(const struct dirh *d, const struct drec *r)
{
	return (const char *)d->names.data + r->name;
}

/* A new record for child id named name, its attributes left for the
 * caller to fill in place; NULL when out of memory. */
static struct drec *dirh_add(struct dirh *d, int64_t id, const char *name,
			     size_t name_len)
{
	size_t off = d->names.len;
	struct drec *r;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct drec *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		d->v = v;
		d->cap = cap;
	}
	if (bfs_buf_reserve(&d->names, name_len + 1) < 0)
		return NULL;
	memcpy(d->names.data + off, name, name_len);
	d->names.data[off + name_len] = '\0';
	d->names.len = off + name_len + 1;
	r = &d->v[d->n++];
	r->name = off;
	r->id = id;
	r->view = -1;
	return r;
}

static int dirh_push(struct dirh *d, int64_t id, const char *name,
		     size_t name_len, const struct stat *st)
{
	struct drec *r = dirh_add(d, id, name, name_len);

	if (!r)
		return -ENOMEM;
	r->st = *st;
	return 0;
}

/* Give the last record pushed a NAME.d view with attributes *st. */
static int dirh_push_view(struct dirh *d, const struct stat *st)
{
	if (d->nv == d->capv) {
		size_t cap = d->capv ? d->capv * 2 : 16;
		struct stat *v = realloc(d->vst, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->vst = v;
		d->capv = cap;
	}
	d->vst[d->nv] = *st;
	d->v[d->n - 1].view = (ssize_t)d->nv++;
	return 0;
}

/* The attributes readdirplus shows for e: a hardlink shows the data
 * entry's attributes and inode. */
static void child_stat(struct bfs_catalog *cat, const struct bfs_cat_entry *e,
		       struct stat *st)
{
	if (e->link_id && e->link_id != e->id) {
		struct bfs_cat_entry t = {0};

		if (bfs_catalog_get(cat, e->link_id, &t, NULL) == 0) {
			mnt_fill_stat(st, &t);
			bfs_cat_entry_clear(&t);
			return;
		}
	}
	mnt_fill_stat(st, e);
}

struct batch_arg {
	struct dirh *d;
	struct bfs_catalog *cat;
	size_t rows;
};

/* bfs_catalog_readdir's callback: one child into the batch, taken
 * straight from the catalog's row (no copy of the whole entry). */
static int batch_cb(void *arg, const struct bfs_cat_entry *e)
{
	struct batch_arg *a = arg;
	struct dirh *d = a->d;
	struct drec *r;
	struct stat st;

	a->rows++;
	r = dirh_add(d, e->id, e->e.path ? e->e.path : "",
		     e->e.path ? e->e.path_len : 0);
	if (!r)
		return -ENOMEM;
	/* filled in place: a struct stat just written field by field and
	 * copied at once is read back with 16-byte loads the CPU cannot
	 * forward from the 8-byte stores (a stall per entry: 6.8 % of the
	 * daemon's samples in a find, doc/PERFORMANCE.md) */
	child_stat(a->cat, e, &r->st);
	if (mnt_dt_child(a->cat, d->dir, e, &st))
		return dirh_push_view(d, &st);
	return 0;
}

/* Load the batch of children with ids > after (one catalog page), into
 * d; nothing logged.  0 or -errno (err says why). */
static int load_rows(struct dirh *d, struct bfs_catalog *cat, int64_t after,
		     struct bfs_err *err)
{
	struct batch_arg a = {d, cat, 0};
	int rc;

	dirh_clear(d);
	d->after = after;
	d->eof = false;
	rc = bfs_catalog_readdir_attrs(cat, d->dir, after, DIR_BATCH, batch_cb,
				       &a, err);
	if (rc < 0) {
		if (rc == -ENOMEM && !err->msg[0])
			bfs_err_set(err, rc, "out of memory");
		dirh_clear(d);
		return rc;
	}
	d->eof = a.rows < DIR_BATCH;
	return 0;
}

/* load_rows, and a failure logged. */
static int load_batch(struct dirh *d, struct bfs_catalog *cat, int64_t after)
{
	struct bfs_err err = {""};
	int rc = load_rows(d, cat, after, &err);

	if (rc < 0)
		bfs_err_log("catalog: cannot list directory %lld: %s",
			    (long long)d->dir, bfs_err_str(&err, rc));
	return rc;
}

/* ---- listing prefetch ----------------------------------------------------
 * find (fts) reads a directory whole and then opens its subdirectories in
 * listing order, so it opens directories in pre order, and while it works
 * through a listing (the kernel making an inode per readdirplus entry,
 * fts its entries) the daemon waits for its next request.  A worker thread
 * loads, on its own catalog connection, the first batch of the directories
 * that come next in pre order, at most PF_SLOTS ahead, into slots that
 * the first readdir of an open directory takes (doc/PERFORMANCE.md, "cold
 * find with listing prefetch").
 *
 * The walk: a stack of levels, each the subdirectories of one listed
 * directory (from its first batch), in order; the next directory is the
 * top level's next one, and a directory's listing, once loaded, pushes
 * its subdirectories on top.  A first readdir of a directory that no slot
 * holds and that is not the walk's next one resets the walk to that
 * directory's subdirectories (another order, another tree, a second
 * reader): the slots are freed and what is being loaded is thrown away.
 * So the work ahead is at most PF_SLOTS batches per reset, nothing runs
 * when no directory is read, and the memory is PF_SLOTS batches and the
 * walk's ids (PF_DEPTH levels of at most DIR_BATCH ids).
 *
 * A batch is served only if the catalog's generation (bumped by every
 * ingest, drop and rebuild, in the same transaction) is the one read
 * before it was loaded: a sync or a backup in between makes it stale, and
 * the readdir loads its batch afresh.  Off with BFS_MOUNT_PREFETCH=0. */

#define PF_SLOTS 2
#define PF_DEPTH 64

enum pf_state { PF_FREE, PF_LOADING, PF_READY };

struct pf_slot {
	enum pf_state state;
	int64_t gen;	/* the catalog's generation before the load */
	struct dirh *d; /* d->dir: the directory; the batch after 0 */
};

struct pf_level {
	int64_t *ids; /* subdirectories, in listing order */
	size_t n, next;
};

struct mnt_pf {
	pthread_mutex_t lock;
	pthread_cond_t work; /* the worker: something to load, or stop */
	pthread_cond_t done; /* readers: a load finished */
	pthread_t th;
	bool stop;
	unsigned busy;	/* readers loading the walk's directory themselves */
	uint64_t epoch; /* bumped by every reset of the walk */
	struct pf_level lv[PF_DEPTH];
	size_t depth;
	struct pf_slot slot[PF_SLOTS];
	/* counters, for the unmount's log line */
	uint64_t loaded, used, waited, dropped, stale, resets;
};

/* The ids of d's subdirectories (a catalog directory's batch): a malloc'ed
 * array in *ids, their count returned; 0 (and *ids NULL) if none or out of
 * memory. */
static size_t dirh_subdirs(const struct dirh *d, int64_t **ids)
{
	size_t i, n = 0;
	int64_t *v;

	*ids = NULL;
	for (i = 0; i < d->n; i++)
		n += S_ISDIR(d->v[i].st.st_mode);
	if (!n)
		return 0;
	v = malloc(n * sizeof(*v));
	if (!v)
		return 0;
	n = 0;
	for (i = 0; i < d->n; i++)
		if (S_ISDIR(d->v[i].st.st_mode))
			v[n++] = d->v[i].id;
	*ids = v;
	return n;
}

/* Push a level (ids taken over) on the walk; the deepest PF_DEPTH
 * levels are kept.  Under pf->lock. */
static void pf_push(struct mnt_pf *pf, int64_t *ids, size_t n)
{
	if (!n) {
		free(ids);
		return;
	}
	if (pf->depth == PF_DEPTH) {
		free(pf->lv[0].ids);
		memmove(&pf->lv[0], &pf->lv[1],
			(PF_DEPTH - 1) * sizeof(pf->lv[0]));
		pf->depth--;
	}
	pf->lv[pf->depth].ids = ids;
	pf->lv[pf->depth].n = n;
	pf->lv[pf->depth].next = 0;
	pf->depth++;
}

/* The walk's next directory, 0 if none; pop: take it.  Under pf->lock. */
static int64_t pf_next(struct mnt_pf *pf, bool pop)
{
	while (pf->depth) {
		struct pf_level *l = &pf->lv[pf->depth - 1];

		if (l->next < l->n)
			return pop ? l->ids[l->next++] : l->ids[l->next];
		free(l->ids);
		pf->depth--;
	}
	return 0;
}

/* Empty the walk and free the ready slots (no reader holds them); a load
 * under way is thrown away when it ends (epoch).  Under pf->lock. */
static void pf_reset(struct mnt_pf *pf)
{
	size_t i;

	while (pf->depth)
		free(pf->lv[--pf->depth].ids);
	for (i = 0; i < PF_SLOTS; i++) {
		struct pf_slot *s = &pf->slot[i];

		if (s->state != PF_READY)
			continue;
		dirh_free(s->d);
		s->d = NULL;
		s->state = PF_FREE;
		pf->dropped++;
	}
	pf->epoch++;
}

static struct pf_slot *pf_free_slot(struct mnt_pf *pf)
{
	size_t i;

	for (i = 0; i < PF_SLOTS; i++)
		if (pf->slot[i].state == PF_FREE)
			return &pf->slot[i];
	return NULL;
}

static void *pf_main(void *arg)
{
	struct bfs_mount *m = arg;
	struct mnt_pf *pf = m->pf;

	pthread_setname_np(pthread_self(), "bfs-prefetch");
	pthread_mutex_lock(&pf->lock);
	while (!pf->stop) {
		struct bfs_err err = {""};
		struct bfs_catalog *cat;
		struct pf_slot *s = pf_free_slot(pf);
		struct dirh *d;
		int64_t dir, gen = -1, *ids = NULL;
		uint64_t epoch;
		size_t n = 0;
		int rc = -ENOMEM;

		if (pf->busy || !s || !(dir = pf_next(pf, false))) {
			pthread_cond_wait(&pf->work, &pf->lock);
			continue;
		}
		d = calloc(1, sizeof(*d));
		if (!d) {
			pf_reset(pf);
			continue;
		}
		pthread_mutex_init(&d->lock, NULL);
		d->dir = dir;
		d->after = -1;
		pf_next(pf, true);
		s->d = d;
		s->state = PF_LOADING;
		epoch = pf->epoch;
		pthread_mutex_unlock(&pf->lock);

		cat = mnt_cat_get(m);
		if (cat && bfs_catalog_generation(cat, &gen) == 0)
			rc = load_rows(d, cat, 0, &err);
		mnt_cat_put(m);
		if (rc == 0)
			n = dirh_subdirs(d, &ids);

		pthread_mutex_lock(&pf->lock);
		if (rc < 0 || pf->stop || epoch != pf->epoch) {
			/* failed (the reader will load it and say why), or
			 * the walk went elsewhere meanwhile */
			free(ids);
			dirh_free(d);
			s->d = NULL;
			s->state = PF_FREE;
			pf->dropped++;
		} else {
			s->gen = gen;
			s->state = PF_READY;
			pf->loaded++;
			pf_push(pf, ids, n);
		}
		pthread_cond_broadcast(&pf->done);
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

int mnt_pf_start(struct bfs_mount *m)
{
	struct mnt_pf *pf;
	const char *knob = getenv("BFS_MOUNT_PREFETCH");
	int rc;

	if (knob && strcmp(knob, "0") == 0)
		return 0;
	pf = calloc(1, sizeof(*pf));
	if (!pf)
		return -ENOMEM;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->work, NULL);
	pthread_cond_init(&pf->done, NULL);
	m->pf = pf;
	rc = pthread_create(&pf->th, NULL, pf_main, m);
	if (rc) {
		m->pf = NULL;
		pthread_cond_destroy(&pf->done);
		pthread_cond_destroy(&pf->work);
		pthread_mutex_destroy(&pf->lock);
		free(pf);
		return -rc;
	}
	return 0;
}

void mnt_pf_stop(struct bfs_mount *m)
{
	struct mnt_pf *pf = m->pf;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	pf->stop = true;
	pthread_cond_broadcast(&pf->work);
	pthread_mutex_unlock(&pf->lock);
	pthread_join(pf->th, NULL);
	m->pf = NULL;
	pf_reset(pf); /* the worker is gone: no slot is loading */
	bfs_info("listing prefetch: %llu loaded, %llu used, %llu waited for, "
		 "%llu dropped, %llu stale, %llu walks",
		 (unsigned long long)pf->loaded, (unsigned long long)pf->used,
		 (unsigned long long)pf->waited,
		 (unsigned long long)pf->dropped, (unsigned long long)pf->stale,
		 (unsigned long long)pf->resets);
	pthread_cond_destroy(&pf->done);
	pthread_cond_destroy(&pf->work);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
}

/* Move the batch of s into d (whose own arrays s takes, to be freed). */
static void dirh_swap_batch(struct dirh *d, struct dirh *s)
{
	struct dirh t = *d;

	d->v = s->v;
	d->n = s->n;
	d->cap = s->cap;
	d->names = s->names;
	d->vst = s->vst;
	d->nv = s->nv;
	d->capv = s->capv;
	d->after = s->after;
	d->eof = s->eof;
	s->v = t.v;
	s->n = t.n;
	s->cap = t.cap;
	s->names = t.names;
	s->vst = t.vst;
	s->nv = t.nv;
	s->capv = t.capv;
}

/* The first batch (after 0) of catalog directory d into d: from a slot
 * if one holds it (waiting for a load under way), else read through cat
 * here and the walk told.  0 or -errno (logged). */
static int pf_first_batch(struct bfs_mount *m, struct dirh *d,
			  struct bfs_catalog *cat)
{
	struct mnt_pf *pf = m->pf;
	struct dirh *got = NULL;
	int64_t gen, got_gen = 0, *ids = NULL;
	uint64_t epoch;
	size_t i, n;
	int rc;

	if (!pf)
		return load_batch(d, cat, 0);
	pthread_mutex_lock(&pf->lock);
	for (i = 0; i < PF_SLOTS;) {
		struct pf_slot *s = &pf->slot[i];

		if (s->state == PF_FREE || s->d->dir != d->dir) {
			i++;
			continue;
		}
		if (s->state == PF_LOADING) {
			pf->waited++;
			pthread_cond_wait(&pf->done, &pf->lock);
			i = 0; /* the slots may have changed */
			continue;
		}
		got = s->d;
		got_gen = s->gen;
		s->d = NULL;
		s->state = PF_FREE;
		pthread_cond_signal(&pf->work);
		break;
	}
	if (!got) {
		/* not loaded ahead: the walk's next one, or another walk */
		if (pf_next(pf, false) == d->dir) {
			pf_next(pf, true);
		} else {
			pf_reset(pf);
			pf->resets++;
		}
		pf->busy++;
	}
	epoch = pf->epoch;
	pthread_mutex_unlock(&pf->lock);

	if (got) {
		if (bfs_catalog_generation(cat, &gen) == 0 && gen == got_gen) {
			dirh_swap_batch(d, got);
			dirh_free(got);
			pthread_mutex_lock(&pf->lock);
			pf->used++;
			pthread_mutex_unlock(&pf->lock);
			return 0;
		}
		/* the catalog changed since: the walk with it */
		dirh_free(got);
		rc = load_batch(d, cat, 0);
		pthread_mutex_lock(&pf->lock);
		pf->stale++;
		pf->resets++;
		pf_reset(pf);
		if (rc == 0) {
			n = dirh_subdirs(d, &ids);
			pf_push(pf, ids, n);
			pthread_cond_signal(&pf->work);
		}
		pthread_mutex_unlock(&pf->lock);
		return rc;
	}
	rc = load_batch(d, cat, 0);
	n = rc == 0 ? dirh_subdirs(d, &ids) : 0;
	pthread_mutex_lock(&pf->lock);
	pf->busy--;
	if (epoch == pf->epoch)
		pf_push(pf, ids, n);
	else
		free(ids);
	pthread_cond_signal(&pf->work);
	pthread_mutex_unlock(&pf->lock);
	return rc;
}

struct root_arg {
	struct dirh *d;
	struct bfs_catalog *cat;
	bool jobs; /* /jobs is shown */
	int rc;
};

static int root_cb(void *arg, const struct bfs_backup_info *b)
{
	struct root_arg *a = arg;
	struct bfs_cat_entry e = {0};
	struct stat st;

	if (a->jobs && strcmp(b->name, "jobs") == 0)
		return 0; /* a backup id the /jobs directory hides */
	if (get_entry(a->cat, b->root, &e) < 0)
		return 0; /* dropped meanwhile */
	mnt_fill_stat(&st, &e);
	bfs_cat_entry_clear(&e);
	a->rc = dirh_push(a->d, (int64_t)a->d->n + 1, b->name, strlen(b->name),
			  &st);
	return a->rc;
}

/* mnt_jobs_list's push: one child of a snapshot directory. */
static int push_cb(void *arg, const char *name, const struct stat *st)
{
	struct dirh *d = arg;

	return dirh_push(d, (int64_t)d->n + 1, name, strlen(name), st);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct bfs_mount *m = mnt_of(req);
	MNT_CAT_SCOPE(m, cat);
	struct bfs_cat_entry e = {0};
	struct dirh *d;
	int rc;

	if (!cat) {
		fuse_reply_err(req, EIO);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->self = ino;
	if (ino == FUSE_ROOT_ID) {
		struct root_arg a = {d, cat, mnt_jobs_any(cat), 0};
		struct bfs_err err = {""};
		struct stat st;

		d->root = true;
		d->parent = FUSE_ROOT_ID;
		rc = bfs_catalog_list(cat, root_cb, &a, &err);
		if (a.rc < 0)
			rc = a.rc;
		if (rc < 0) {
			bfs_err_log("catalog: cannot list backups: %s",
				    bfs_err_str(&err, rc));
			goto out_err;
		}
		if (latest_stat(m, cat, &st, NULL, 0) == 0 &&
		    dirh_push(d, (int64_t)d->n + 1, "latest", 6, &st) < 0) {
			rc = -ENOMEM;
			goto out_err;
		}
		mnt_jobs_lookup(m, cat, FUSE_ROOT_ID, "jobs", &st);
		if (a.jobs &&
		    dirh_push(d, (int64_t)d->n + 1, "jobs", 4, &st) < 0) {
			rc = -ENOMEM;
			goto out_err;
		}
		d->eof = true;
	} else if (ino == BFS_INO_LATEST) {
		rc = -ENOTDIR;
		goto out_err;
	} else if (mnt_jobs_ino(ino) || mnt_dt_ino(ino)) {
		/* a snapshot, like the root's */
		d->root = true;
		rc = mnt_dt_ino(ino)
			 ? mnt_dt_list(m, cat, ino, &d->parent, push_cb, d)
			 : mnt_jobs_list(m, cat, ino, &d->parent, push_cb, d);
		if (rc < 0)
			goto out_err;
		d->eof = true;
	} else {
		rc = get_entry(cat, ino_to_id(ino), &e);
		if (rc < 0)
			goto out_err;
		if (e.e.type != BFS_T_DIR) {
			bfs_cat_entry_clear(&e);
			rc = -ENOTDIR;
			goto out_err;
		}
		d->dir = e.id;
		d->parent = e.parent ? id_to_ino(e.parent) : FUSE_ROOT_ID;
		d->after = -1; /* nothing loaded yet */
		bfs_cat_entry_clear(&e);
		/* Immutable: let the kernel cache the listing. */
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	mnt_reply_open(m, req, fi, &d->h, dirh_free_handle);
	return;

out_err:
	dirh_free(d);
	fuse_reply_err(req, rc == -ENOTDIR ? ENOTDIR : mnt_errno(rc));
}

/* Index of the first record with id > after in the loaded batch, or
 * d->n if the batch has none. */
static size_t batch_pos(const struct dirh *d, int64_t after)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->v[mid].id <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Readdirplus and the attributes it carries.  The kernel (with
 * READDIRPLUS_AUTO) asks for the first page of every listing with
 * readdirplus, and for a later page only when something looked up a child
 * of the directory since its last readdir (`ls -l`, `stat`).  Every entry
 * of a readdirplus page carries its attributes.  Giving them for the first
 * 64 entries only (the others with node id 0: name and type) saved a cold
 * `find` over 1M entries a third of its system time (the kernel's inodes
 * and dentries for entries find never stats), but made a cold `ls -lR` of
 * 1,000-entry directories 3x slower (a lookup per entry past 64): the
 * listing that `ls -l` and file managers make wins (doc/PERFORMANCE.md). */

/* Add one entry to buf (size bytes, used taken): the bytes it took, 0
 * when it does not fit.  plus: a readdirplus entry, with attributes. */
static size_t dir_add(fuse_req_t req, char *buf, size_t size, size_t used,
		      bool plus, const char *name, const struct stat *st,
		      off_t next, double entry_timeout, double attr_timeout)
{
	struct fuse_entry_param ep;
	size_t need;

	if (plus) {
		memset(&ep, 0, sizeof(ep));
		ep.attr = *st;
		ep.ino = st->st_ino;
		ep.entry_timeout = entry_timeout;
		ep.attr_timeout = attr_timeout;
		need = fuse_add_direntry_plus(req, buf + used, size - used,
					      name, &ep, next);
	} else {
		need = fuse_add_direntry(req, buf + used, size - used, name, st,
					 next);
	}
	return need > size - used ? 0 : need;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct bfs_mount *m = mnt_of(req);
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	MNT_CAT_SCOPE(m, cat);
	char *buf;
	size_t used = 0, need;
	int64_t after, skip = 0;
	int rc = 0;

	if (!cat) {
		fuse_reply_err(req, EIO);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&d->lock);
	/* Offsets: 1 after ".", 2 after "..".  A snapshot (the root,
	 * /jobs, NAME.d): position + 2 after a child.  A backup's directory:
	 * 2 * pre + 2 after the child numbered pre (its id's low 40 bits,
	 * FORMAT.md 6.4), 2 * pre + 3 after that child's NAME.d view. */
	if (off < 1) {
		struct fuse_entry_param ep = {.ino = 0};

		ep.attr.st_ino = d->self;
		ep.attr.st_mode = S_IFDIR;
		need = plus ? fuse_add_direntry_plus(req, buf + used,
						     size - used, ".", &ep, 1)
			    : fuse_add_direntry(req, buf + used, size - used,
						".", &ep.attr, 1);
		if (need > size - used)
			goto out_reply;
		used += need;
		off = 1;
	}
	if (off < 2) {
		struct fuse_entry_param ep = {.ino = 0};

		ep.attr.st_ino = d->parent;
		ep.attr.st_mode = S_IFDIR;
		need = plus ? fuse_add_direntry_plus(req, buf + used,
						     size - used, "..", &ep, 2)
			    : fuse_add_direntry(req, buf + used, size - used,
						"..", &ep.attr, 2);
		if (need > size - used)
			goto out_reply;
		used += need;
		off = 2;
	}
	after = (int64_t)off - 2;
	if (!d->root && after > 0) {
		after =
		    (d->dir & ~MNT_PRE_MASK) | ((after >> 1) & MNT_PRE_MASK);
		if (!(off & 1)) {
			skip = after; /* its view may be next */
			after--;
		}
	}
	for (;;) {
		size_t i;

		if (!d->root &&
		    !(d->after >= 0 && d->after <= after &&
		      (d->eof || (d->n && after < d->v[d->n - 1].id)))) {
			/* the first batch may have been loaded ahead */
			rc = after == 0 && d->after < 0
				 ? pf_first_batch(m, d, cat)
				 : load_batch(d, cat, after);
			if (rc < 0)
				break;
		}
		i = batch_pos(d, after);
		if (i == d->n) {
			if (d->eof || d->root)
				break;
			/* Batch exhausted, more in the catalog. */
			d->after = -1;
			continue;
		}
		for (; i < d->n; i++) {
			struct drec *r = &d->v[i];
			off_t pos =
			    d->root ? r->id : 2 * (r->id & MNT_PRE_MASK);
			char vname[256];

			if (r->id != skip) {
				need = dir_add(
				    req, buf, size, used, plus, drec_name(d, r),
				    &r->st, pos + 2,
				    d->root ? TIMEOUT_ROOT : TIMEOUT_BACKUP,
				    d->root &&
					    (r->st.st_ino == BFS_INO_LATEST ||
					     mnt_jobs_ino(r->st.st_ino))
					? TIMEOUT_ROOT
					: TIMEOUT_BACKUP);
				if (!need)
					goto out_reply;
				used += need;
			}
			if (r->view >= 0) {
				snprintf(vname, sizeof(vname), "%s.d",
					 drec_name(d, r));
				need = dir_add(req, buf, size, used, plus,
					       vname, &d->vst[r->view], pos + 3,
					       TIMEOUT_BACKUP, TIMEOUT_BACKUP);
				if (!need)
					goto out_reply;
				used += need;
			}
			after = r->id;
		}
		if (d->eof || d->root)
			break;
	}
out_reply:
	pthread_mutex_unlock(&d->lock);
	if (rc < 0 && used == 0)
		fuse_reply_err(req, mnt_errno(rc));
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;

	if (d) {
		mnt_handle_del(fuse_req_userdata(req), &d->h);
		dirh_free(d);
	}
	fuse_reply_err(req, 0);
}

/* ---- misc ------------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct bfs_mount *m = userdata;

	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
		conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
	conn->time_gran = 1;
	mnt_after_init(m);
	if (m->o.ready && !atomic_exchange(&m->ready_sent, true))
		m->o.ready(m->o.ready_arg);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* No getxattr/listxattr ops on purpose: libfuse answers ENOSYS once and
 * the kernel then answers EOPNOTSUPP itself, so `ls -l` and `cp -a` do not
 * pay a round trip per file for ACL and SELinux lookups. */

/* ---- read-only: every write-type op is EROFS --------------------------- */

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	fuse_reply_err(req, EROFS);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			       struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			       off_t off_out, struct fuse_file_info *fi_out,
			       size_t len, int flags)
{
	fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops bfs_mount_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .open = mnt_open,
    .read = mnt_read,
    .release = mnt_release,
    .statfs = op_statfs,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .write = op_write,
    .create = op_create,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
    .fallocate = op_fallocate,
    .copy_file_range = op_copy_file_range,
};
