/* The shared-mapping VFS: one read-only mapping of a catalog file per
 * process, for the mount's connections (one per FUSE thread).
 *
 * SQLite's unix VFS maps the file once per connection: a page read by four
 * connections is resident four times, and dropping one connection's pages
 * waits for that connection's next statement.  This shim wraps the unix VFS
 * and delegates every method to it, except for a main database opened
 * read-only: there xFetch hands out pointers into ONE MAP_SHARED PROT_READ
 * mapping of the file, shared by every connection of the process that
 * opened the same (device, inode), and the connection's mmap limit
 * (SQLITE_FCNTL_MMAP_SIZE) is kept here, so the unix VFS never maps.  A
 * page the mapping does not cover (past the limit, past the file's size
 * when it was mapped) gets *pp = NULL: SQLite then reads it with xRead.
 *
 * The registry of mappings is process-wide by design (one mapping per
 * file for the whole process), as SQLite's VFS list is: map_lock guards
 * the list and each map's refs; map->lock guards the mapping and out.
 *
 * The shim opens a descriptor of its own per file (to map it) and never
 * closes it: closing any descriptor of a file drops the process's POSIX
 * locks on it, which SQLite's unix VFS holds for every connection.
 *
 * Growth: the mount's catalog sync appends pages while connections read,
 * and a reader's cursor always holds pages of the mapping (the root of
 * the b-tree it walks), so a mapping that moved only when no pointer is
 * out would seldom move.  Instead the map reserves address space past
 * the file (PROT_NONE, no memory: twice its size and 64 MiB more) and a
 * fetch past the mapped size that the file now covers (fstat) maps the
 * new range in place (MAP_FIXED over the reservation, right after the
 * pages mapped already): no mapped page moves, no pointer dangles.  A
 * file past its reservation is mapped afresh (a new reservation) only
 * when no fetched pointer is out: at the xUnfetch that gives the last one
 * back (pending); until then its new pages go through xRead.  Nothing is
 * handed out past the size fstat saw.
 * Nothing truncates a catalog (no VACUUM, no auto_vacuum; a bad catalog is
 * unlinked and created anew, catalog_file.c): the file only grows. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalog/catalog_int.h"

/* One mapping of one file.  refs: the files open on it (map_lock); at 0
 * the file is unmapped, the map and its descriptor stay (map_get).
 * resv/resv_len: the address space reserved, NULL none; len: the bytes of
 * the file mapped at its start (the file's size when last mapped), 0
 * none; out: pointers handed out by xFetch and not yet given back;
 * pending: the file outgrew the reservation while out > 0, map it
 * afresh once out is 0.  resv, resv_len, len, out, pending: under lock. */
struct vfs_map {
	struct vfs_map *next; /* maps, map_lock */
	dev_t dev;
	ino_t ino;
	int fd; /* owned, read-only, never closed (map_get) */
	unsigned refs;
	pthread_mutex_t lock;
	uint8_t *resv;
	size_t resv_len;
	size_t len;
	uint64_t out;
	bool pending;
};

/* An open file: the unix VFS's file follows (real).  map: the shared
 * mapping of a read-only main database, NULL for any other file; limit:
 * the connection's mmap limit (SQLITE_FCNTL_MMAP_SIZE), 0: no fetch. */
struct vfs_file {
	sqlite3_file base;
	sqlite3_file *real;
	struct vfs_map *map;
	sqlite3_int64 limit;
};

static sqlite3_vfs *unix_vfs;
static sqlite3_vfs shared_vfs;
static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;
static int vfs_rc = SQLITE_ERROR;
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vfs_map *maps;

#define REAL(p) (((struct vfs_file *)(p))->real)

/* ---- the map registry --------------------------------------------------- */

static size_t page_up(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

/* Map what m's file holds past m->len, in place if the reservation holds
 * it, else (out == 0 only) in a new reservation.  Under m->lock.  On any
 * failure nothing changes: those pages go through xRead. */
static void map_grow(struct vfs_map *m)
{
	struct stat st;
	size_t size, from, resv_len;
	void *a;

	if (fstat(m->fd, &st) < 0 || st.st_size <= 0 ||
	    (uint64_t)st.st_size > SIZE_MAX / 4 || (size_t)st.st_size <= m->len)
		return;
	size = (size_t)st.st_size;
	if (m->resv && page_up(size) <= m->resv_len) {
		/* the pages after those mapped (the last one mapped, past
		 * the old end of the file, shows what was written there
		 * since: it is the page cache's page) */
		from = page_up(m->len);
		if (size > from && mmap(m->resv + from, size - from, PROT_READ,
					MAP_SHARED | MAP_FIXED, m->fd,
					(off_t)from) == MAP_FAILED) {
			/* a failed MAP_FIXED may have left a hole another
			 * mapping can take: never map over that range again
			 * (its address space stays lost, nothing else) */
			m->resv_len = from;
			return;
		}
		m->len = size;
		return;
	}
	if (m->out) {
		m->pending = true;
		return;
	}
	m->pending = false;
	resv_len = page_up(2 * size + (64u << 20));
	a = mmap(NULL, resv_len, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a == MAP_FAILED)
		return;
	if (mmap(a, size, PROT_READ, MAP_SHARED | MAP_FIXED, m->fd, 0) ==
	    MAP_FAILED) {
		munmap(a, resv_len);
		return;
	}
	if (m->resv)
		munmap(m->resv, m->resv_len);
	m->resv = a;
	m->resv_len = resv_len;
	m->len = size;
}

static struct vfs_map *map_find(dev_t dev, ino_t ino)
{
	struct vfs_map *m;

	for (m = maps; m; m = m->next)
		if (m->dev == dev && m->ino == ino)
			break;
	return m;
}

/* A reference to the map of the regular file at path, NULL if none can
 * be had.  A map and its descriptor stay for the process's life, even
 * unused (until bfs_catalog_shared_release, called with no connection
 * open): closing ANY descriptor of a file drops every POSIX lock the
 * process holds on it, SQLite's unix VFS locks included (those of the
 * other connections to the same catalog: a writer elsewhere could then
 * checkpoint and remove the WAL under their feet).  For the same reason
 * a descriptor opened here is never closed, even if it turns out to be
 * of no use (a path replaced between stat and open). */
static struct vfs_map *map_get(const char *path)
{
	struct vfs_map *m = NULL;
	struct stat st;
	int fd;

	pthread_mutex_lock(&map_lock);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	m = map_find(st.st_dev, st.st_ino);
	if (m)
		goto out_ref;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    map_find(st.st_dev, st.st_ino))
		goto out; /* fd kept open, see above */
	m = calloc(1, sizeof(*m));
	if (!m)
		goto out; /* fd kept open */
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->fd = fd;
	pthread_mutex_init(&m->lock, NULL);
	m->next = maps;
	maps = m;
out_ref:
	m->refs++;
out:
	pthread_mutex_unlock(&map_lock);
	return m;
}

/* Drop a reference; the last one unmaps (SQLite gave back every pointer
 * before closing its files).  The descriptor stays (map_get). */
static void map_put(struct vfs_map *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&map_lock);
	if (!--m->refs) {
		pthread_mutex_lock(&m->lock);
		if (m->resv)
			munmap(m->resv, m->resv_len);
		m->resv = NULL;
		m->resv_len = m->len = 0;
		m->pending = false;
		pthread_mutex_unlock(&m->lock);
	}
	pthread_mutex_unlock(&map_lock);
}

void bfs_catalog_shared_release(void)
{
	struct vfs_map **pp, *m;

	pthread_mutex_lock(&map_lock);
	for (pp = &maps; (m = *pp);) {
		if (m->refs) {
			pp = &m->next;
			continue;
		}
		*pp = m->next;
		close(m->fd); /* unmapped at refs 0 (map_put) */
		pthread_mutex_destroy(&m->lock);
		free(m);
	}
	pthread_mutex_unlock(&map_lock);
}

uint64_t cat_vfs_drop_pages(void)
{
	uint64_t n = 0;

	pthread_mutex_lock(&map_lock);
	for (struct vfs_map *m = maps; m; m = m->next) {
		/* a read-only shared file mapping: the pages leave this
		 * process, not the page cache; a reader's next access faults
		 * them in again; the mapping and its pointers stay */
		pthread_mutex_lock(&m->lock);
		if (m->len &&
		    madvise(m->resv, page_up(m->len), MADV_DONTNEED) == 0)
			n += m->len;
		pthread_mutex_unlock(&m->lock);
	}
	pthread_mutex_unlock(&map_lock);
	return n;
}

uint64_t cat_vfs_mapped_bytes(void)
{
	uint64_t n = 0;

	pthread_mutex_lock(&map_lock);
	for (struct vfs_map *m = maps; m; m = m->next) {
		pthread_mutex_lock(&m->lock);
		n += m->len;
		pthread_mutex_unlock(&m->lock);
	}
	pthread_mutex_unlock(&map_lock);
	return n;
}

/* ---- io methods: delegated, but for fetch and the mmap limit ------------- */

static int vf_close(sqlite3_file *p)
{
	struct vfs_file *f = (struct vfs_file *)p;
	int rc = f->real->pMethods->xClose(f->real);

	map_put(f->map);
	f->map = NULL;
	return rc;
}

static int vf_read(sqlite3_file *p, void *buf, int n, sqlite3_int64 off)
{
	return REAL(p)->pMethods->xRead(REAL(p), buf, n, off);
}

static int vf_write(sqlite3_file *p, const void *buf, int n, sqlite3_int64 off)
{
	return REAL(p)->pMethods->xWrite(REAL(p), buf, n, off);
}

static int vf_truncate(sqlite3_file *p, sqlite3_int64 size)
{
	return REAL(p)->pMethods->xTruncate(REAL(p), size);
}

static int vf_sync(sqlite3_file *p, int flags)
{
	return REAL(p)->pMethods->xSync(REAL(p), flags);
}

static int vf_file_size(sqlite3_file *p, sqlite3_int64 *size)
{
	return REAL(p)->pMethods->xFileSize(REAL(p), size);
}

static int vf_lock(sqlite3_file *p, int lock)
{
	return REAL(p)->pMethods->xLock(REAL(p), lock);
}

static int vf_unlock(sqlite3_file *p, int lock)
{
	return REAL(p)->pMethods->xUnlock(REAL(p), lock);
}

static int vf_check_reserved(sqlite3_file *p, int *out)
{
	return REAL(p)->pMethods->xCheckReservedLock(REAL(p), out);
}

static int vf_file_control(sqlite3_file *p, int op, void *arg)
{
	struct vfs_file *f = (struct vfs_file *)p;

	if (op == SQLITE_FCNTL_MMAP_SIZE && f->map) {
		/* ours: the unix VFS keeps its limit (0 in our open) and
		 * never maps; the old limit goes back, as unix does */
		sqlite3_int64 v = *(sqlite3_int64 *)arg;

		*(sqlite3_int64 *)arg = f->limit;
		if (v >= 0)
			f->limit = v;
		return SQLITE_OK;
	}
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int vf_sector_size(sqlite3_file *p)
{
	return REAL(p)->pMethods->xSectorSize(REAL(p));
}

static int vf_device_chars(sqlite3_file *p)
{
	return REAL(p)->pMethods->xDeviceCharacteristics(REAL(p));
}

static int vf_shm_map(sqlite3_file *p, int pg, int pgsz, int extend,
		      void volatile **pp)
{
	return REAL(p)->pMethods->xShmMap(REAL(p), pg, pgsz, extend, pp);
}

static int vf_shm_lock(sqlite3_file *p, int off, int n, int flags)
{
	return REAL(p)->pMethods->xShmLock(REAL(p), off, n, flags);
}

static void vf_shm_barrier(sqlite3_file *p)
{
	REAL(p)->pMethods->xShmBarrier(REAL(p));
}

static int vf_shm_unmap(sqlite3_file *p, int del)
{
	return REAL(p)->pMethods->xShmUnmap(REAL(p), del);
}

/* A pointer to n bytes at off in the shared mapping, or *pp = NULL
 * (SQLite then reads the page with xRead).  Past the mapping: map what
 * the file holds now (map_grow). */
static int vf_fetch(sqlite3_file *p, sqlite3_int64 off, int n, void **pp)
{
	struct vfs_file *f = (struct vfs_file *)p;
	struct vfs_map *m = f->map;
	uint64_t end = (uint64_t)off + (uint64_t)n;

	*pp = NULL;
	if (!m)
		return REAL(p)->pMethods->xFetch(REAL(p), off, n, pp);
	if (off < 0 || n <= 0 || f->limit <= 0 || end > (uint64_t)f->limit)
		return SQLITE_OK;
	pthread_mutex_lock(&m->lock);
	if (end > m->len)
		map_grow(m);
	if (end <= m->len) {
		*pp = m->resv + off;
		m->out++;
	}
	pthread_mutex_unlock(&m->lock);
	return SQLITE_OK;
}

/* p == NULL: SQLite wants this file's mapping gone (it saw the database
 * change); the shared one stays for the others and grows at a fetch past
 * it (map_grow).  Else give one pointer back. */
static int vf_unfetch(sqlite3_file *p, sqlite3_int64 off, void *ptr)
{
	struct vfs_file *f = (struct vfs_file *)p;
	struct vfs_map *m = f->map;

	if (!m)
		return REAL(p)->pMethods->xUnfetch(REAL(p), off, ptr);
	if (ptr) {
		pthread_mutex_lock(&m->lock);
		if (!--m->out && m->pending)
			map_grow(m);
		pthread_mutex_unlock(&m->lock);
	}
	return SQLITE_OK;
}

static const sqlite3_io_methods vf_methods = {
    .iVersion = 3,
    .xClose = vf_close,
    .xRead = vf_read,
    .xWrite = vf_write,
    .xTruncate = vf_truncate,
    .xSync = vf_sync,
    .xFileSize = vf_file_size,
    .xLock = vf_lock,
    .xUnlock = vf_unlock,
    .xCheckReservedLock = vf_check_reserved,
    .xFileControl = vf_file_control,
    .xSectorSize = vf_sector_size,
    .xDeviceCharacteristics = vf_device_chars,
    .xShmMap = vf_shm_map,
    .xShmLock = vf_shm_lock,
    .xShmBarrier = vf_shm_barrier,
    .xShmUnmap = vf_shm_unmap,
    .xFetch = vf_fetch,
    .xUnfetch = vf_unfetch,
};

/* ---- vfs methods -------------------------------------------------------- */

/* A read-only main database gets the shared map of its file: taken before
 * the unix VFS opens it, kept if the path names the same file after that
 * open (else it was replaced meanwhile, and this file is the unix VFS's
 * alone, its mapping included). */
static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p,
		    int flags, int *out_flags)
{
	struct vfs_file *f = (struct vfs_file *)p;
	struct vfs_map *m = NULL;
	struct stat st;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	if (name && (flags & SQLITE_OPEN_MAIN_DB) &&
	    (flags & SQLITE_OPEN_READONLY))
		m = map_get(name);
	rc = unix_vfs->xOpen(unix_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK || !f->real->pMethods) {
		map_put(m);
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		p->pMethods = NULL;
		return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
	}
	if (m && (stat(name, &st) < 0 || st.st_dev != m->dev ||
		  st.st_ino != m->ino)) {
		map_put(m);
		m = NULL;
	}
	f->map = m;
	p->pMethods = &vf_methods;
	return SQLITE_OK;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return unix_vfs->xDelete(unix_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *res)
{
	(void)vfs;
	return unix_vfs->xAccess(unix_vfs, name, flags, res);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n,
			     char *out)
{
	(void)vfs;
	return unix_vfs->xFullPathname(unix_vfs, name, n, out);
}

static void *vfs_dlopen(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return unix_vfs->xDlOpen(unix_vfs, name);
}

static void vfs_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	unix_vfs->xDlError(unix_vfs, n, msg);
}

static void (*vfs_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return unix_vfs->xDlSym(unix_vfs, h, sym);
}

static void vfs_dlclose(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	unix_vfs->xDlClose(unix_vfs, h);
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return unix_vfs->xRandomness(unix_vfs, n, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return unix_vfs->xSleep(unix_vfs, us);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return unix_vfs->xCurrentTime(unix_vfs, out);
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return unix_vfs->xGetLastError(unix_vfs, n, out);
}

static int vfs_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return unix_vfs->xCurrentTimeInt64(unix_vfs, out);
}

static void vfs_register(void)
{
	unix_vfs = sqlite3_vfs_find("unix");
	if (!unix_vfs || unix_vfs->iVersion < 2 || !unix_vfs->xCurrentTimeInt64)
		return;
	shared_vfs = (sqlite3_vfs){
	    .iVersion = 2,
	    .szOsFile = (int)sizeof(struct vfs_file) + unix_vfs->szOsFile,
	    .mxPathname = unix_vfs->mxPathname,
	    .zName = CAT_VFS_NAME,
	    .xOpen = vfs_open,
	    .xDelete = vfs_delete,
	    .xAccess = vfs_access,
	    .xFullPathname = vfs_full_pathname,
	    .xDlOpen = vfs_dlopen,
	    .xDlError = vfs_dlerror,
	    .xDlSym = vfs_dlsym,
	    .xDlClose = vfs_dlclose,
	    .xRandomness = vfs_randomness,
	    .xSleep = vfs_sleep,
	    .xCurrentTime = vfs_current_time,
	    .xGetLastError = vfs_last_error,
	    .xCurrentTimeInt64 = vfs_current_time64,
	};
	vfs_rc = sqlite3_vfs_register(&shared_vfs, 0);
}

int cat_vfs_init(void)
{
	pthread_once(&vfs_once, vfs_register);
	return vfs_rc;
}
