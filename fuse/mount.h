/* mount.h - the FUSE driver: a repository's backups as a read-only tree.
 *
 *   /                  one directory per backup (from the catalog), plus
 *   /latest            a symlink to the newest backup's id
 *   /jobs/NAME/latest  a symlink to ../../<newest backup of job NAME>
 *                      (only jobs that have a backup are listed)
 *   /<id>/...          the backup's tree as written
 *   /<id>/.../NAME.d/  next to a dump with a map: its per-table view
 *                      (dtview.c; inode numbers in mount_int.h, MNT_DT_*)
 *
 * libfuse3 low-level API, multi-threaded session loop.  Inode numbers are
 * the catalog's entry ids ((backup << 40) | pre, all >= 2^40, so they
 * never meet 1 = root and 2 = latest);
 * the members of a hardlink group share the inode of the entry that
 * carries the data.  Every FUSE worker thread has its own read-only
 * catalog connection (pthread key).  File contents come from the read
 * engine (src/reader.h) over a shared LRU of decompressed chunks
 * (src/chunkcache.h), with readahead for sequential readers.  A
 * background thread syncs the catalog with the repository every
 * sync_interval_ms and invalidates the root when backups come or go.
 *
 * Only fuse/ includes the FUSE headers; this header does not.
 */
#ifndef BFS_FUSE_MOUNT_H
#define BFS_FUSE_MOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "src/repo.h"
#include "src/util.h"

#define BFS_INO_BASE 0	 /* ino = catalog entry id + BFS_INO_BASE */
#define BFS_INO_LATEST 2 /* /latest (entry ids are >= 2^40) */
/* /jobs, then for the job numbered J in the catalog (1..2^36-1,
 * bfs_cat_job): /jobs/NAME = BFS_INO_JOB_BASE + 2J, /jobs/NAME/latest =
 * BFS_INO_JOB_BASE + 2J + 1; all below 2^40, so they never meet an
 * entry's inode, and stable for as long as the catalog file lives. */
#define BFS_INO_JOBS 3
#define BFS_INO_JOB_BASE 16

struct bfs_mount_opts {
	const char *mountpoint;	    /* absolute path, an existing directory */
	const char *catalog_path;   /* absolute path of the catalog db */
	const char *repo_id;	    /* the repository id (catalog check) */
	const char *fsname;	    /* for /proc/mounts, e.g. the repo URL */
	const char *fuse_opts;	    /* extra comma-separated options passed
				       to FUSE (may be NULL) */
	bool allow_other;	    /* also turns on default_permissions */
	bool debug;		    /* libfuse debug output */
	uint64_t cache_size;	    /* chunk cache bound, bytes (0 =
				       default: BFS_MOUNT_DEFAULT_CACHE,
				       _REMOTE on a remote store) */
	unsigned sync_interval_ms;  /* catalog sync period; 0 = never */
	unsigned readahead_chunks;  /* max chunks ahead (0 = the reader's
				       default: 256, 1024 for S3,
				       BFS_MOUNT_NO_READAHEAD = off) */
	uint64_t readahead_bytes;   /* max bytes ahead (0 = default 32 MiB,
				       never more than cache_size / 3) */
	unsigned readahead_workers; /* threads (0 = default: cores + 2,
				       bfs_reader_default_threads) */
	/* Called once, from a FUSE thread, when the kernel's INIT request has
	 * been answered: the mount point works from then on.  May be NULL. */
	void (*ready)(void *arg);
	void *ready_arg;
};

#define BFS_MOUNT_DEFAULT_CACHE (48ull << 20)
/* on S3 the default readahead (a third of the cache, 24 MiB) keeps four
 * jobs of 6 MiB in flight, where 48M kept four of 4 MiB: requests wait
 * there */
#define BFS_MOUNT_DEFAULT_CACHE_REMOTE (72ull << 20)
#define BFS_MOUNT_NO_READAHEAD UINT32_MAX

struct bfs_mount;

/* Create the FUSE session and mount it at o->mountpoint.  repo is
 * borrowed and must outlive the mount; o and its strings are copied.
 * Errors: -EINVAL bad options (message from libfuse on stderr too),
 * -EIO/-errno mount failed.  Nothing is left mounted on failure.
 * No threads are started (fork is safe afterwards). */
int bfs_mount_new(const struct bfs_mount_opts *o, struct bfs_repo *repo,
		  struct bfs_mount **out, struct bfs_err *err);

/* The readahead window the mount uses, in bytes (0: none): the asked
 * readahead_bytes or the default, held to a third of the cache. */
uint64_t bfs_mount_readahead(const struct bfs_mount *m);
/* The chunk cache's bound, bytes (the default's value when none was
 * given). */
uint64_t bfs_mount_cache_size(const struct bfs_mount *m);

/* Serve requests until unmounted (fusermount3 -u) or SIGTERM/SIGINT/
 * SIGHUP (signal handlers are installed for the duration).  Starts the
 * readahead workers and the sync thread first.  Returns 0 after a clean
 * end, or -errno with err set if serving could not start. */
int bfs_mount_serve(struct bfs_mount *m, struct bfs_err *err);

/* Unmount (if still mounted) and free everything.  NULL ok. */
void bfs_mount_free(struct bfs_mount *m);

/* Give up the mount without unmounting (a parent process after fork,
 * whose child serves it).  Frees memory only.  NULL ok. */
void bfs_mount_abandon(struct bfs_mount *m);

#endif
