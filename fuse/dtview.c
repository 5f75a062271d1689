/* dtview.c - the mount's NAME.d/ directories: a dump's per-table view
 * (doc/FORMAT.md "Dump maps").  Next to a regular file whose entry has a
 * dump map, NAME.d/ lists _before.sql, one file per table and
 * _after.sql; each is cut from the dump's chunks through the mount's read
 * engine (src/restore.h bfs_dumpview_read, shared with `cat`).  The map
 * blob is read and checked (bfs_dumpview_load) once per dump and kept in
 * a bounded cache; a map that cannot be read makes NAME.d/ fail with EIO
 * and a log line naming the blob, retried after DT_RETRY_NS.
 *
 * Inode numbers: mount_int.h, MNT_DT_*.  A name of the backup's own wins
 * over a view: no view is shown for NAME when the directory holds an
 * entry NAME.d.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "fuse/mount_int.h"
#include "src/dumpmap.h"
#include "src/log.h"
#include "src/restore.h"

#define MNT_DT_CACHE_MAPS 32
#define MNT_DT_CACHE_BYTES (64u << 20)
#define DT_RETRY_NS (INT64_C(10) * 1000000000) /* a failed map */
#define DT_NAME_MAX 255

/* One dump's map, or the failure to read it.  refs and used are
 * protected by the cache's lock; map is immutable once inserted. */
struct dt_map {
	int64_t id;		 /* catalog id of the entry with the data */
	struct bfs_dumpmap *map; /* NULL: failed with rc at failed_ns */
	int rc;
	int64_t failed_ns;
	size_t cost;   /* bytes, roughly */
	unsigned refs; /* callers and open files using map */
	uint64_t used; /* LRU clock */
	bool cached;   /* still in the cache's table */
};

struct mnt_dtcache {
	pthread_mutex_t lock; /* a leaf: nothing else is taken under it */
	struct dt_map *v[MNT_DT_CACHE_MAPS];
	size_t n;
	size_t bytes;
	uint64_t clock;
};

int mnt_dt_cache_new(struct mnt_dtcache **out)
{
	struct mnt_dtcache *c = calloc(1, sizeof(*c));

	*out = c;
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

static void dm_free(struct dt_map *dm)
{
	if (!dm)
		return;
	bfs_dumpmap_free(dm->map);
	free(dm);
}

void mnt_dt_cache_free(struct mnt_dtcache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		dm_free(c->v[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static size_t map_cost(const struct bfs_dumpmap *m)
{
	size_t cost = sizeof(*m) + m->nranges * sizeof(m->ranges[0]), i;

	for (i = 0; i < m->ntables; i++)
		cost += sizeof(m->tables[0]) + strlen(m->tables[i].schema) +
			strlen(m->tables[i].name) + strlen(m->tables[i].file) +
			3;
	return cost;
}

/* Drop entry i from the table (caller holds the lock); freed now unless
 * someone still uses it (then by the last dt_put). */
static void cache_drop(struct mnt_dtcache *c, size_t i)
{
	struct dt_map *dm = c->v[i];

	c->bytes -= dm->cost;
	c->v[i] = c->v[--c->n];
	dm->cached = false;
	if (!dm->refs)
		dm_free(dm);
}

/* Make room for one more entry of cost bytes: drop the least recently
 * used, skipping none (an entry in use is only unlinked). */
static void cache_evict(struct mnt_dtcache *c, size_t cost)
{
	while (c->n && (c->n == MNT_DT_CACHE_MAPS ||
			c->bytes + cost > MNT_DT_CACHE_BYTES)) {
		size_t i, lru = 0;

		for (i = 1; i < c->n; i++)
			if (c->v[i]->used < c->v[lru]->used)
				lru = i;
		cache_drop(c, lru);
	}
}

static void dt_put(struct mnt_dtcache *c, struct dt_map *dm)
{
	bool last;

	if (!dm)
		return;
	pthread_mutex_lock(&c->lock);
	last = --dm->refs == 0 && !dm->cached;
	pthread_mutex_unlock(&c->lock);
	if (last)
		dm_free(dm);
}

/* The map of dump entry data (own_id: the entry the view belongs to, for
 * messages).  *out holds a reference (dt_put).  -EIO when the map cannot
 * be read (logged once per DT_RETRY_NS, naming the blob), -ENOMEM. */
static int dt_get(struct bfs_mount *m, struct bfs_catalog *cat, int64_t own_id,
		  const struct bfs_cat_entry *data, struct dt_map **out)
{
	struct mnt_dtcache *c = m->dt;
	struct bfs_err err = {""};
	struct bfs_dumpmap *map = NULL;
	struct dt_map *dm = NULL;
	char hex[BFS_HASH_HEX + 1], path[1024];
	int64_t now = bfs_mono_ns();
	size_t i;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n; i++)
		if (c->v[i]->id == data->id)
			break;
	if (i < c->n) {
		dm = c->v[i];
		if (dm->map) {
			dm->refs++;
			dm->used = ++c->clock;
			*out = dm;
		} else if (now - dm->failed_ns < DT_RETRY_NS) {
			dm = NULL;
			rc = -EIO;
			pthread_mutex_unlock(&c->lock);
			return rc;
		} else {
			cache_drop(c, i); /* retry */
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (*out)
		return 0;

	/* Read and check it outside the lock (two threads may both read
	 * the same map; the second insert keeps the first). */
	rc = bfs_dumpview_load(m->repo, cat, data, mnt_relocate, m, &map, &err);
	if (rc == -ENOMEM)
		return rc;
	dm = calloc(1, sizeof(*dm));
	if (!dm) {
		bfs_dumpmap_free(map);
		return -ENOMEM;
	}
	dm->id = data->id;
	dm->map = map;
	if (rc) {
		bfs_hex(hex, data->dt, BFS_HASH_LEN);
		mnt_entry_path(cat, own_id, path, sizeof(path));
		bfs_err_log("cannot list '%s.d': dump map %s: %s", path, hex,
			    bfs_err_str(&err, rc));
		dm->rc = rc;
		dm->failed_ns = now;
	} else {
		dm->cost = map_cost(map);
	}
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n; i++)
		if (c->v[i]->id == dm->id)
			break;
	if (i < c->n && c->v[i]->map) {
		dm_free(dm); /* another thread was quicker */
		dm = c->v[i];
	} else {
		if (i < c->n)
			cache_drop(c, i);
		cache_evict(c, dm->cost);
		dm->cached = true;
		c->v[c->n++] = dm;
		c->bytes += dm->cost;
	}
	dm->used = ++c->clock;
	if (dm->map) {
		dm->refs++;
		*out = dm;
	}
	pthread_mutex_unlock(&c->lock);
	return *out ? 0 : -EIO;
}

/* ---- inode numbers ------------------------------------------------------
 */

bool mnt_dt_ino(fuse_ino_t ino)
{
	return (ino & MNT_DT_BIT) != 0;
}

/* The view inode of slot of the dump entry id; false if it has none. */
static bool dt_ino(int64_t id, uint64_t slot, fuse_ino_t *ino)
{
	uint64_t b = (uint64_t)id >> 40, pre = (uint64_t)id & MNT_PRE_MASK;

	if (id <= 0 || b >= UINT64_C(1) << MNT_DT_BACKUP_BITS ||
	    pre >= UINT64_C(1) << MNT_DT_PRE_BITS ||
	    slot >= UINT64_C(1) << MNT_DT_SLOT_BITS)
		return false;
	*ino = MNT_DT_BIT | b << (MNT_DT_PRE_BITS + MNT_DT_SLOT_BITS) |
	       pre << MNT_DT_SLOT_BITS | slot;
	return true;
}

static int64_t ino_id(fuse_ino_t ino)
{
	uint64_t v = ino & ~MNT_DT_BIT;
	uint64_t pre =
	    (v >> MNT_DT_SLOT_BITS) & ((UINT64_C(1) << MNT_DT_PRE_BITS) - 1);

	return (int64_t)((v >> (MNT_DT_PRE_BITS + MNT_DT_SLOT_BITS)) << 40 |
			 pre);
}

static size_t ino_slot(fuse_ino_t ino)
{
	return (size_t)(ino & ((UINT64_C(1) << MNT_DT_SLOT_BITS) - 1));
}

/* ---- the dump behind a view ---------------------------------------------
 */

/* The dump entry own and the entry carrying its data (*data; a copy of
 * own's when it is no hardlink), which has a map.  -ENOENT otherwise. */
static int dump_data(struct bfs_catalog *cat, const struct bfs_cat_entry *own,
		     struct bfs_cat_entry *data)
{
	struct bfs_err err = {""};
	int rc = 0;

	memset(data, 0, sizeof(*data));
	if (own->link_id && own->link_id != own->id) {
		rc = bfs_catalog_get(cat, own->link_id, data, &err);
		if (rc < 0 && rc != -ENOENT)
			bfs_err_log("catalog: cannot get entry %lld: %s",
				    (long long)own->link_id,
				    bfs_err_str(&err, rc));
		if (rc < 0)
			return rc;
	} else {
		*data = *own; /* a shallow copy: see dump_data_clear */
	}
	if (data->e.type != BFS_T_FILE || !data->has_dt)
		rc = -ENOENT;
	return rc;
}

static void dump_data_clear(const struct bfs_cat_entry *own,
			    struct bfs_cat_entry *data)
{
	if (own->link_id && own->link_id != own->id)
		bfs_cat_entry_clear(data);
	memset(data, 0, sizeof(*data));
}

/* The view of inode ino: its dump's own entry and the data entry. */
static int dump_of(struct bfs_catalog *cat, fuse_ino_t ino,
		   struct bfs_cat_entry *own, struct bfs_cat_entry *data)
{
	struct bfs_err err = {""};
	fuse_ino_t check;
	int rc;

	memset(own, 0, sizeof(*own));
	memset(data, 0, sizeof(*data));
	if (!dt_ino(ino_id(ino), ino_slot(ino), &check) || check != ino)
		return -ENOENT;
	rc = bfs_catalog_get(cat, ino_id(ino), own, &err);
	if (rc < 0) {
		if (rc != -ENOENT)
			bfs_err_log("catalog: cannot get entry %lld: %s",
				    (long long)ino_id(ino),
				    bfs_err_str(&err, rc));
		return rc;
	}
	rc = dump_data(cat, own, data);
	if (rc < 0)
		bfs_cat_entry_clear(own);
	return rc;
}

static void dump_clear(struct bfs_cat_entry *own, struct bfs_cat_entry *data)
{
	dump_data_clear(own, data);
	bfs_cat_entry_clear(own);
}

/* Attributes of view file `file` (-1 the directory) of dump data. */
static void view_stat(const struct bfs_cat_entry *data,
		      const struct bfs_dumpmap *map, ssize_t file,
		      fuse_ino_t ino, struct stat *st)
{
	struct bfs_cat_entry a;

	bfs_dumpview_attr(data, map, file, &a);
	mnt_fill_stat(st, &a);
	st->st_ino = ino;
}

bool mnt_dt_child(struct bfs_catalog *cat, int64_t dir,
		  const struct bfs_cat_entry *e, struct stat *st)
{
	struct bfs_cat_entry data, real;
	char name[DT_NAME_MAX + 1];
	fuse_ino_t ino;
	bool ok;

	/* called for every child a listing loads: the early answer for a
	 * file without a map zeroes nothing (real is zeroed below; zeroing
	 * it here was 3 % of the daemon's samples in a cold find) */
	if (e->e.type != BFS_T_FILE || !e->e.path ||
	    (!e->has_dt && !e->link_id) || !dt_ino(e->id, 0, &ino))
		return false;
	if (e->e.path_len + 2 > DT_NAME_MAX)
		return false;
	if (dump_data(cat, e, &data) < 0) {
		dump_data_clear(e, &data);
		return false;
	}
	memcpy(name, e->e.path, e->e.path_len);
	memcpy(name + e->e.path_len, ".d", 3);
	/* a name of the backup's own wins */
	memset(&real, 0, sizeof(real));
	ok = bfs_catalog_lookup(cat, dir, name, e->e.path_len + 2, &real,
				NULL) == -ENOENT;
	bfs_cat_entry_clear(&real);
	if (ok)
		view_stat(&data, NULL, -1, ino, st);
	dump_data_clear(e, &data);
	return ok;
}

int mnt_dt_lookup_dir(struct bfs_catalog *cat, int64_t dir, const char *name,
		      struct stat *st)
{
	struct bfs_cat_entry own = {0};
	size_t n = strlen(name);
	int rc;

	if (n < 3 || memcmp(name + n - 2, ".d", 2))
		return -ENOENT;
	rc = bfs_catalog_lookup(cat, dir, name, n - 2, &own, NULL);
	if (rc == 0 && !mnt_dt_child(cat, dir, &own, st))
		rc = -ENOENT;
	bfs_cat_entry_clear(&own);
	return rc < 0 ? -ENOENT : 0;
}

int mnt_dt_stat(struct bfs_mount *m, struct bfs_catalog *cat, fuse_ino_t ino,
		struct stat *st)
{
	struct bfs_cat_entry own, data;
	struct dt_map *dm = NULL;
	size_t slot = ino_slot(ino);
	int rc;

	rc = dump_of(cat, ino, &own, &data);
	if (rc < 0)
		return rc;
	if (slot == 0) {
		view_stat(&data, NULL, -1, ino, st);
		goto out;
	}
	rc = dt_get(m, cat, own.id, &data, &dm);
	if (rc < 0)
		goto out;
	if (slot - 1 >= bfs_dumpmap_nfiles(dm->map))
		rc = -ENOENT;
	else
		view_stat(&data, dm->map, (ssize_t)slot - 1, ino, st);
	dt_put(m->dt, dm);
out:
	dump_clear(&own, &data);
	return rc;
}

int mnt_dt_lookup(struct bfs_mount *m, struct bfs_catalog *cat,
		  fuse_ino_t parent, const char *name, struct stat *st)
{
	struct bfs_cat_entry own, data;
	struct dt_map *dm = NULL;
	fuse_ino_t ino;
	ssize_t fi;
	int rc;

	if (ino_slot(parent) != 0)
		return -ENOTDIR;
	rc = dump_of(cat, parent, &own, &data);
	if (rc < 0)
		return rc;
	rc = dt_get(m, cat, own.id, &data, &dm);
	if (rc < 0)
		goto out;
	fi = bfs_dumpmap_file_find(dm->map, name);
	if (fi < 0 || !dt_ino(own.id, (uint64_t)fi + 1, &ino))
		rc = -ENOENT;
	else
		view_stat(&data, dm->map, fi, ino, st);
	dt_put(m->dt, dm);
out:
	dump_clear(&own, &data);
	return rc;
}

int mnt_dt_list(struct bfs_mount *m, struct bfs_catalog *cat, fuse_ino_t ino,
		fuse_ino_t *parent,
		int (*push)(void *arg, const char *name, const struct stat *st),
		void *arg)
{
	struct bfs_cat_entry own, data;
	struct dt_map *dm = NULL;
	struct stat st;
	fuse_ino_t fino;
	size_t i;
	int rc;

	if (ino_slot(ino) != 0)
		return -ENOTDIR;
	rc = dump_of(cat, ino, &own, &data);
	if (rc < 0)
		return rc;
	*parent = (fuse_ino_t)own.parent + BFS_INO_BASE;
	rc = dt_get(m, cat, own.id, &data, &dm);
	for (i = 0; rc == 0 && i < bfs_dumpmap_nfiles(dm->map); i++) {
		if (!dt_ino(own.id, i + 1, &fino))
			break; /* cannot happen: the map's limits */
		view_stat(&data, dm->map, (ssize_t)i, fino, &st);
		rc = push(arg, bfs_dumpmap_file_name(dm->map, i), &st);
	}
	dt_put(m->dt, dm);
	dump_clear(&own, &data);
	return rc;
}

/* ---- contents -----------------------------------------------------------
 */

/* An open view file: the whole dump open in the read engine, cut by the
 * map. */
struct dt_fh {
	struct mnt_handle h; /* first: on the mount's ring while open */
	int64_t own;	     /* the dump's entry (messages) */
	struct dt_map *dm;
	size_t file;
	struct bfs_rfile *rf;
};

static void fh_free(struct bfs_mount *m, struct dt_fh *f)
{
	if (!f)
		return;
	bfs_rfile_close(f->rf);
	dt_put(m->dt, f->dm);
	free(f);
}

static void fh_free_handle(struct bfs_mount *m, struct mnt_handle *h)
{
	fh_free(m, (struct dt_fh *)(void *)h);
}

void mnt_dt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bfs_mount *m = fuse_req_userdata(req);
	MNT_CAT_SCOPE(m, cat);
	struct bfs_cat_entry own, data;
	struct bfs_chunkref *chunks = NULL;
	struct bfs_err err = {""};
	struct dt_fh *f = NULL;
	char path[1024];
	size_t n = 0;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!cat) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (ino_slot(ino) == 0) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	rc = dump_of(cat, ino, &own, &data);
	if (rc < 0) {
		fuse_reply_err(req, mnt_errno(rc));
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		rc = -ENOMEM;
		goto out;
	}
	f->own = own.id;
	f->file = ino_slot(ino) - 1;
	if (data.e.error) {
		mnt_entry_path(cat, own.id, path, sizeof(path));
		bfs_warn("cannot open '%s.d': the dump was unreadable at "
			 "backup time: %s",
			 path, data.e.error);
		rc = -EIO;
		goto out;
	}
	rc = dt_get(m, cat, own.id, &data, &f->dm);
	if (rc < 0)
		goto out;
	if (f->file >= bfs_dumpmap_nfiles(f->dm->map)) {
		rc = -ENOENT;
		goto out;
	}
	rc = bfs_catalog_chunks(cat, data.id, &chunks, &n, &err);
	if (rc == 0)
		rc = bfs_reader_open(m->reader, chunks, n, data.e.size, &f->rf,
				     &err);
	free(chunks);
	if (rc < 0 && rc != -ENOMEM) {
		mnt_entry_path(cat, own.id, path, sizeof(path));
		bfs_err_log("cannot open '%s.d/%s': chunk list: %s", path,
			    bfs_dumpmap_file_name(f->dm->map, f->file),
			    bfs_err_str(&err, rc));
		rc = -EIO;
	}
out:
	dump_clear(&own, &data);
	if (rc < 0) {
		fh_free(m, f);
		fuse_reply_err(req, mnt_errno(rc));
		return;
	}
	fi->keep_cache = 1; /* contents never change */
	mnt_reply_open(m, req, fi, &f->h, fh_free_handle);
}

void mnt_dt_read(fuse_req_t req, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct bfs_mount *m = fuse_req_userdata(req);
	struct dt_fh *f = (struct dt_fh *)(uintptr_t)fi->fh;
	struct bfs_catalog *cat;
	struct bfs_err err = {""};
	char path[1024];
	ssize_t got;
	char *buf;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	got = bfs_dumpview_read(f->rf, f->dm->map, f->file, buf, size,
				(uint64_t)off, &err);
	if (got < 0) {
		/* one line per open file: the engine's message names the
		 * chunk and its pack */
		if (got != -ENOMEM && bfs_rfile_first_error(f->rf)) {
			cat = mnt_cat_get(m);
			path[0] = '\0';
			if (cat)
				mnt_entry_path(cat, f->own, path, sizeof(path));
			mnt_cat_put(m);
			bfs_err_log("cannot read '%s.d/%s' at %llu: %s", path,
				    bfs_dumpmap_file_name(f->dm->map, f->file),
				    (unsigned long long)off,
				    bfs_err_str(&err, (int)got));
		}
		fuse_reply_err(req, got == -ENOMEM ? ENOMEM : EIO);
	} else {
		fuse_reply_buf(req, buf, (size_t)got);
	}
	free(buf);
}

void mnt_dt_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct bfs_mount *m = fuse_req_userdata(req);
	struct dt_fh *f = (struct dt_fh *)(uintptr_t)fi->fh;

	mnt_handle_del(m, &f->h);
	fh_free(m, f);
	fuse_reply_err(req, 0);
}
