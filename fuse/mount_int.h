/* mount_int.h - state shared by the files of the FUSE driver.  Private to
 * fuse/.
 *
 * Lock order: names_lock is a leaf (nothing else is taken while holding
 * it); the chunk cache and the read engine take their own locks only
 * inside their functions.
 */
#ifndef BFS_FUSE_MOUNT_INT_H
#define BFS_FUSE_MOUNT_INT_H

#define FUSE_USE_VERSION 35

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "catalog/catalog.h"
#include "fuse/mount.h"
#include "src/chunkcache.h"
#include "src/reader.h"
#include "src/repo.h"

#define TIMEOUT_BACKUP 3600.0 /* inside a backup: immutable */
#define TIMEOUT_ROOT 1.0      /* the root and /latest change */

struct bfs_mount;

/* The catalog pages the mount keeps mapped: past MNT_MAP_BUDGET bytes of
 * file-backed RSS over the floor (what the mount held after the last
 * drop, at first the program and its libraries), the one mapping shared
 * by every connection drops its pages (mount.c, map_bound).  Checked
 * every MNT_MAP_CHECK requests of the mount.  BFS_MOUNT_MAP_BUDGET
 * (bytes) sets another budget, for the tests. */
#define MNT_MAP_BUDGET (64ull << 20)
#define MNT_MAP_CHECK 16
/* The mount's connections read the catalog through one mapping of the
 * whole file, shared (bfs_catalog_open_shared: pages past the file's size
 * when it was mapped, until it is mapped again, are read with pread), the
 * map bound above keeping what stays resident, and keep a small page
 * cache each: SQLite reads a page past the mapping into that
 * connection's cache (the heap).  With the catalog's defaults (a 256 MiB
 * mapping and a 32 MiB cache per connection) a mount of a catalog past
 * 256 MiB (100 backups of 1M files: 473 MiB) peaked at 248 MiB over one
 * find against 76 MiB with 1 backup, as a cache filled per FUSE thread
 * would (t0811 shows it on a small catalog with nothing mapped: +11 MiB
 * of heap with 32 MiB caches, +1.8 MiB with these).  BFS_MOUNT_CAT_MAP
 * (bytes) sets another mapping limit, for the tests (0: nothing mapped,
 * every page through pread). */
#define MNT_CAT_MAP (1ull << 40)
#define MNT_CAT_CACHE_KIB 512

/* A mount compacts its catalog itself (mount.c, compact_round) once the
 * catalog is due (bfs_catalog_compact_due) and no request used the
 * catalog for this long (ms); BFS_MOUNT_COMPACT_IDLE_MS sets another
 * (tests; 0: never).  After a compaction that could not run (another
 * process has the catalog open, or it failed) the mount tries again once
 * the catalog's generation changed or after a delay that starts at
 * MNT_COMPACT_RETRY_FIRST_MS (a backup that just ingested its manifest
 * may still have the catalog open for a moment) and doubles with every
 * miss in a row up to MNT_COMPACT_RETRY_MS (a program that holds it for
 * hours); it logs a miss only when its reason differs from the last
 * one's. */
#define MNT_COMPACT_IDLE_MS 5000
#define MNT_COMPACT_RETRY_FIRST_MS 2000
#define MNT_COMPACT_RETRY_MS (10 * 60 * 1000)

/* Per-thread catalog connection (pthread key), listed for cleanup.  cat:
 * NULL until the thread's first mnt_cat_get, and again after a
 * compaction closed it (the next get opens the new file); set and
 * cleared under m->threads_lock, used by its thread between a get and
 * a put only.  depth: the thread's nested gets (it holds m->cat_rw
 * shared while depth > 0); its thread only. */
struct thread_cat {
	struct bfs_mount *m;
	struct bfs_catalog *cat;
	unsigned depth;
	struct thread_cat *prev, *next; /* m->threads, m->threads_lock */
};

/* A handle the kernel holds open (open, opendir, a view file's open),
 * the first member of its struct: on the mount's ring from its open to
 * its release.  A session that ends with handles still open (SIGTERM, a
 * connection aborted) sends no release for them, so the mount frees what
 * is left at teardown (mount.c, handles_free), before the reader. */
struct mnt_handle {
	struct mnt_handle *prev, *next;
	void (*free)(struct bfs_mount *m, struct mnt_handle *h);
};

struct bfs_mount {
	struct bfs_mount_opts o; /* strings below are owned copies */
	char *mountpoint, *catalog_path, *repo_id, *fsname, *fuse_opts;
	struct bfs_repo *repo; /* borrowed */
	struct fuse_session *se;
	bool mounted;
	int64_t mount_time_ns;
	uid_t uid;
	gid_t gid;
	struct bfs_chunkcache *cache;
	struct bfs_reader *reader; /* over repo and cache */
	uint64_t ra_bytes;
	unsigned ra_chunks;
	atomic_bool ready_sent;
	pthread_t tune_th; /* raises the bdi readahead */
	bool tune_started; /* set in init, joined by serve */

	pthread_mutex_t handles_lock;
	struct mnt_handle handles; /* the ring's head: open handles */

	pthread_key_t key; /* -> struct thread_cat */
	bool key_created;
	pthread_mutex_t threads_lock;
	struct thread_cat *threads;

	/* Every use of a catalog connection of the mount (per-thread ones,
	 * reloc.cat) holds cat_rw shared (mnt_cat_get .. mnt_cat_put); the
	 * sync thread takes it exclusive to close them all and compact the
	 * file (mount.c, compact_round).  Lock order: cat_rw, then
	 * reloc.lock, then threads_lock.  last_use_ns: bfs_mono_ns of the
	 * last get (relaxed; the idle test only). */
	pthread_rwlock_t cat_rw;
	_Atomic int64_t last_use_ns;
	struct {
		int64_t idle_ns;  /* MNT_COMPACT_IDLE_MS; 0: never */
		int64_t retry_ns; /* after a miss: not before this... */
		int64_t miss_gen; /* ...unless the generation is not this */
		bool missed;
		unsigned misses;    /* in a row: the delay doubles */
		char last_why[256]; /* the last miss logged, "" after a success
				     */
	} compact;

	/* Catalog sync thread. */
	struct {
		pthread_mutex_t lock;
		pthread_cond_t cond;
		bool stop;
		bool started;
		pthread_t th;
	} sync;

	/* Chunks whose pack vanished (prune): read.c's mnt_relocate. */
	struct {
		pthread_mutex_t lock; /* one resync at a time; protects cat */
		struct bfs_catalog *cat; /* writable, opened on first use */
		int64_t last_ns;	 /* last resync (bfs_mono_ns) */
	} reloc;

	/* The catalog file the mount started with (bfs_catalog_file_id)
	 * and its inode; a file found replaced under the mount (deleted and
	 * created again by a command, copied over) sets replaced, and from
	 * then on every request that needs the catalog fails with EIO:
	 * inode numbers of another file could name other files' bytes. */
	char file_id[BFS_CAT_FILE_ID_LEN + 1];
	dev_t cat_dev;
	ino_t cat_ino;
	atomic_bool replaced;

	struct mnt_dtcache *dt; /* parsed dump maps (dtview.c) */
	struct mnt_pf *pf;	/* listing prefetch (ops.c); NULL: off */

	/* The bound on mapped catalog pages (MNT_MAP_BUDGET).  floor: the
	 * file-backed RSS after the last drop of the shared mapping (at
	 * first: at the first connection, the program and its libraries);
	 * reqs: the mount's requests, checked every MNT_MAP_CHECK.  Bytes;
	 * 0 budget: no bound. */
	struct {
		uint64_t budget;
		_Atomic uint64_t floor;
		atomic_uint reqs;
		uint64_t cat_map; /* each connection's mmap_size */
	} map;

	/* Chunks already logged as failed (hash prefixes), to log once. */
	pthread_mutex_t logged_lock;
	uint64_t *logged;
	size_t nlogged;
};

/* The calling thread's catalog connection, opened on first use (and
 * again after a compaction closed it), with m->cat_rw held shared until
 * the matching mnt_cat_put: a compaction of the mount waits for it, and
 * a get during a compaction waits for the compaction.  Gets nest (one
 * lock per thread).  NULL (and a logged error) if it cannot be opened,
 * or once the catalog file was found replaced (mnt_check_catalog); the
 * put is due even then.  The compaction takes m->cat_rw only when no
 * thread holds it (trywrlock: no writer ever waits in line), so a thread
 * holding a get may wait for another thread's get. */
struct bfs_catalog *mnt_cat_get(struct bfs_mount *m);
/* End the calling thread's innermost get. */
void mnt_cat_put(struct bfs_mount *m);

/* The scope of a get: `MNT_CAT_SCOPE(m, cat);` declares cat =
 * mnt_cat_get(m) and puts it when the block is left, by any return. */
struct mnt_cat_scope {
	struct bfs_mount *m;
};
void mnt_cat_scope_end(struct mnt_cat_scope *s);
#define MNT_CAT_SCOPE(mnt, cat)                                                \
	struct mnt_cat_scope cat##_scope                                       \
	    __attribute__((cleanup(mnt_cat_scope_end))) = {(mnt)};             \
	struct bfs_catalog *cat = mnt_cat_get(cat##_scope.m)

/* The repository's locate hook (repo.h, bfs_repo_set_locate): where a
 * delta frame's base is stored, looked up on the calling thread's
 * catalog connection inside a catalog scope, so that the mount has no
 * connection of its own that a compaction by the mount would not close
 * (cli_open's locator keeps one).  arg is the mount.  0, -ENOENT, -EIO
 * when the catalog cannot be had. */
int mnt_locate(void *arg, const uint8_t id[BFS_HASH_LEN],
	       struct bfs_chunkref *out);

/* The reader's relocate hook (reader.h): blob hash's pack gone is gone;
 * look the blob up in the catalog and, if it still says gone, resync
 * the catalog's index objects (bfs_catalog_sync_index) and look again.
 * arg is the mount. */
int mnt_relocate(void *arg, const uint8_t hash[BFS_HASH_LEN],
		 const uint8_t gone[BFS_HASH_LEN], struct bfs_chunkref *out,
		 struct bfs_err *err);

/* "BACKUP/path/of/entry" for messages; buf always NUL-terminated. */
void mnt_entry_path(struct bfs_catalog *cat, int64_t id, char *buf, size_t n);

/* Is the catalog file at m->catalog_path still the one the mount started
 * with?  Cheap when its inode is unchanged; otherwise its file id is read
 * from a fresh connection.  A replaced (or vanished) file sets
 * m->replaced and logs why, once.  Returns !m->replaced. */
bool mnt_check_catalog(struct bfs_mount *m);

/* Called by the init op: start post-INIT tuning (bdi readahead). */
void mnt_after_init(struct bfs_mount *m);

/* Map a catalog/core error to what a FUSE request answers. */
int mnt_errno(int rc);

/* The attributes of a symlink the mount makes up (/latest,
 * /jobs/NAME/latest): inode ino, pointing at target, with the time of
 * the backup it names. */
void mnt_symlink_stat(const struct bfs_mount *m, fuse_ino_t ino,
		      const char *target, int64_t time_ns, struct stat *st);

/* ---- /jobs (jobs.c) ----------------------------------------------------
 * /jobs, /jobs/NAME (a job with a backup in the catalog) and
 * /jobs/NAME/latest (a symlink to "../../<newest backup of the job>"),
 * with the inode numbers of mount.h.  All return 0 or -errno (-ENOENT
 * for a job without backups, -ENOTDIR, ...). */

/* True if some job has a backup: the root then shows /jobs (and a
 * backup named "jobs" is hidden by it). */
bool mnt_jobs_any(struct bfs_catalog *cat);
/* True for /jobs and the inode numbers of /jobs/NAME[/latest]. */
bool mnt_jobs_ino(fuse_ino_t ino);
/* True for a /jobs/NAME/latest inode number. */
bool mnt_jobs_is_link(fuse_ino_t ino);
/* Attributes of a /jobs inode. */
int mnt_jobs_stat(struct bfs_mount *m, struct bfs_catalog *cat, fuse_ino_t ino,
		  struct stat *st);
/* Child name of parent: "jobs" of the root, or below /jobs. */
int mnt_jobs_lookup(struct bfs_mount *m, struct bfs_catalog *cat,
		    fuse_ino_t parent, const char *name, struct stat *st);
/* The target of /jobs/NAME/latest into buf (n bytes). */
int mnt_jobs_readlink(struct bfs_mount *m, struct bfs_catalog *cat,
		      fuse_ino_t ino, char *buf, size_t n);
/* The children of /jobs or /jobs/NAME, each passed to push (non-zero
 * stops and is returned); *parent gets the directory's parent. */
int mnt_jobs_list(struct bfs_mount *m, struct bfs_catalog *cat, fuse_ino_t ino,
		  fuse_ino_t *parent,
		  int (*push)(void *arg, const char *name,
			      const struct stat *st),
		  void *arg);
/* After a sync changed the backups: drop what the kernel caches of
 * /jobs (cat: the sync thread's connection). */
void mnt_jobs_invalidate(struct bfs_mount *m, struct bfs_catalog *cat);

/* ---- attributes (attr.c) ----------------------------------------------
 */

/* ts from nanoseconds since the epoch (negative ones too). */
void mnt_ts_from_ns(struct timespec *ts, int64_t ns);
/* Attributes of a catalog entry as recorded, inode = its id.  e is the
 * entry carrying the data (for a hardlink, the group's first entry). */
void mnt_fill_stat(struct stat *st, const struct bfs_cat_entry *e);
/* Attributes of a directory the mount makes (the root, /jobs, a job):
 * inode ino, 0555, owned by the mount's user, times = the mount's. */
void mnt_dir_stat(const struct bfs_mount *m, fuse_ino_t ino, struct stat *st);

/* ---- NAME.d/: a dump's per-table view (dtview.c) -----------------------
 * Next to a regular file whose entry has a dump map ("dt"), the
 * directory NAME.d/ with the files of src/restore.h's dump view
 * (_before.sql, one per table, _after.sql), read-only, cut from the
 * dump's chunks through m->reader.  Inode numbers: MNT_DT_* below, in a
 * space of their own.  All return 0 or -errno: -ENOENT (no view, no such
 * file), -ENOTDIR, -EIO (the map cannot be read: logged with its blob
 * id), -ENOMEM. */

/* The view's inode number space (doc/FORMAT.md 6.4): bit 63 set (the
 * tree's numbers are below 2^63), then the catalog id of the dump's own
 * entry (the name's, not its hardlink group's) as backup number (20
 * bits) and preorder number (26 bits), then the slot (17 bits): 0 the
 * directory, 1 + i file i of the view.  A dump whose id does not fit
 * gets no view. */
#define MNT_DT_BIT (UINT64_C(1) << 63)
#define MNT_DT_SLOT_BITS 17
#define MNT_DT_PRE_BITS 26
#define MNT_DT_BACKUP_BITS 20
/* The preorder part of a catalog id (doc/FORMAT.md 6.4). */
#define MNT_PRE_MASK ((INT64_C(1) << 40) - 1)

struct mnt_dtcache;

/* The cache of parsed dump maps (at most MNT_DT_CACHE_MAPS maps and
 * about MNT_DT_CACHE_BYTES; maps in use by an open file stay).  0 or
 * -ENOMEM.  Thread-safe. */
int mnt_dt_cache_new(struct mnt_dtcache **out);
void mnt_dt_cache_free(struct mnt_dtcache *c); /* NULL ok */

/* True for an inode number of the view space. */
bool mnt_dt_ino(fuse_ino_t ino);
/* If the child e of directory dir (as listed: a hardlink is followed)
 * has a view, fill *st with the view directory's attributes and return
 * true.  Costs no blob read. */
bool mnt_dt_child(struct bfs_catalog *cat, int64_t dir,
		  const struct bfs_cat_entry *e, struct stat *st);
/* A name of directory dir that is not in the catalog: "NAME.d" of a file
 * NAME with a map gives the view directory's attributes, else -ENOENT. */
int mnt_dt_lookup_dir(struct bfs_catalog *cat, int64_t dir, const char *name,
		      struct stat *st);
/* Attributes of a view inode (a file's size needs its map). */
int mnt_dt_stat(struct bfs_mount *m, struct bfs_catalog *cat, fuse_ino_t ino,
		struct stat *st);
/* The file name of view directory parent. */
int mnt_dt_lookup(struct bfs_mount *m, struct bfs_catalog *cat,
		  fuse_ino_t parent, const char *name, struct stat *st);
/* The files of view directory ino, in map order, each passed to push
 * (non-zero stops and is returned); *parent gets its parent. */
int mnt_dt_list(struct bfs_mount *m, struct bfs_catalog *cat, fuse_ino_t ino,
		fuse_ino_t *parent,
		int (*push)(void *arg, const char *name, const struct stat *st),
		void *arg);
/* open, read and release of a view inode (mnt_open & co. pass them on). */
void mnt_dt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void mnt_dt_read(fuse_req_t req, size_t size, off_t off,
		 struct fuse_file_info *fi);
void mnt_dt_release(fuse_req_t req, struct fuse_file_info *fi);

/* Listing prefetch (ops.c): a worker thread that loads the first batch of
 * the directories a pre-order walk (find) opens next, on its own catalog
 * connection.  start: 0, or -errno if the thread cannot be started;
 * BFS_MOUNT_PREFETCH=0 in the environment leaves it off (m->pf NULL).
 * stop: joins the worker, logs its counters (-v) and frees it; call it
 * once the session's threads are gone.  NULL-safe. */
int mnt_pf_start(struct bfs_mount *m);
void mnt_pf_stop(struct bfs_mount *m);

/* The lowlevel operation table (ops.c) and the read path (read.c). */
extern const struct fuse_lowlevel_ops bfs_mount_ops;
void mnt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void mnt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	      struct fuse_file_info *fi);
void mnt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* Put h (free_fn frees it) on m's ring of open handles / take it off. */
void mnt_handle_add(struct bfs_mount *m, struct mnt_handle *h,
		    void (*free_fn)(struct bfs_mount *m, struct mnt_handle *h));
void mnt_handle_del(struct bfs_mount *m, struct mnt_handle *h);
/* fuse_reply_open for handle h: on the ring once the kernel has it; freed
 * at once when the open was interrupted (no release would come). */
void mnt_reply_open(struct bfs_mount *m, fuse_req_t req,
		    struct fuse_file_info *fi, struct mnt_handle *h,
		    void (*free_fn)(struct bfs_mount *m, struct mnt_handle *h));

#endif
