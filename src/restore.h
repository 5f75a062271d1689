/* restore.h - read backups back out: stream one file's bytes, walk a
 * backup's tree, and recreate a tree (or a part of it) on the local
 * filesystem.  Everything is answered from the catalog (entries, chunk
 * lists) and the repository (chunk contents, every chunk verified by its
 * SHA-256 in bfs_repo_read_chunk(s)).
 *
 * The engine prints nothing: warnings and progress go through callbacks.
 * Used by `backupfs cat`, `backupfs restore`, `show`/`backup` (listing the
 * unreadable entries) and tests.
 *
 * Thread safety: one call uses the given catalog connection from the
 * calling thread only; several calls may run in parallel on different
 * catalog connections and the same repository.
 */
#ifndef BFS_RESTORE_H
#define BFS_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "dumpmap.h"
#include "reader.h"
#include "repo.h"
#include "util.h"

/* Largest plain chunk the reader accepts from a catalog chunk list
 * (chunk lists come from untrusted manifests): the format's limit. */
#define BFS_RESTORE_MAX_CHUNK BFS_READER_MAX_CHUNK

/* Receives a file's plain bytes in order: data[0..n) at file offset off.
 * Return 0 to continue or -errno to stop (that value is returned). */
typedef int (*bfs_data_cb)(void *arg, uint64_t off, const uint8_t *data,
			   size_t n);

/* Read the chunks refs[0..n) in order and hand their verified plain bytes
 * to cb: bfs_reader_stream (reader.h) on a reader of its own.  Chunks
 * lying back to back in one pack are fetched in one store request; for
 * lists over 16 MiB up to 4 threads fetch, verify and decompress ahead
 * (at most ~48 MiB buffered), cb is still called from the calling
 * thread, in file order.  Returns 0, the callback's error, or the repository's
 * error
 * (-ENOENT missing pack, -EUCLEAN corrupt, -EBADMSG checksum, -EIO ...)
 * with err naming the chunk and pack.  refs is borrowed. */
int bfs_read_chunk_list(struct bfs_repo *repo, const struct bfs_chunkref *refs,
			size_t n, bfs_data_cb cb, void *arg,
			struct bfs_err *err);

/* Write the content of file entry `id` (hardlinks followed) to fd.
 * Checks that the chunk lengths add up to the entry's size (-EUCLEAN
 * otherwise).  A write error is returned as -errno (-EPIPE for a closed
 * pipe) with err saying "cannot write output: ...".  Errors: -EISDIR /
 * -EINVAL for entries that are not regular files, -ENODATA for an entry
 * that was unreadable at backup time (err says why). */
int bfs_restore_cat_fd(struct bfs_repo *repo, struct bfs_catalog *cat,
		       int64_t id, int fd, struct bfs_err *err);

/* The same, handing the bytes to cb (a callback error is returned as
 * it is, err untouched). */
int bfs_restore_cat_cb(struct bfs_repo *repo, struct bfs_catalog *cat,
		       int64_t id, bfs_data_cb cb, void *arg,
		       struct bfs_err *err);

/* Called once per entry of a walk, in pre-order (a directory before its
 * contents; siblings in catalog order).  path[0..len) (NUL-terminated) is
 * the entry's path relative to the walk's start directory; e and path are
 * borrowed for the call.  Return 0 to go on, 1 to skip a directory's
 * contents, anything else to stop (that value is returned by
 * bfs_tree_walk). */
typedef int (*bfs_walk_cb)(void *arg, const char *path, size_t len,
			   const struct bfs_cat_entry *e);

/* Walk the subtree below directory entry `dir` (not reporting `dir`
 * itself).  Paths are "name", "name/child", ... relative to dir.  Memory:
 * one page of children per level.  Returns 0, the callback's value or a
 * catalog error. */
int bfs_tree_walk(struct bfs_catalog *cat, int64_t dir, bfs_walk_cb cb,
		  void *arg, struct bfs_err *err);

/* All children of directory entry `dir`, deep-copied: *out is an array
 * of *n entries (catalog order), freed with bfs_tree_children_free.
 * 0 or -errno. */
int bfs_tree_children(struct bfs_catalog *cat, int64_t dir,
		      struct bfs_cat_entry **out, size_t *n,
		      struct bfs_err *err);
void bfs_tree_children_free(struct bfs_cat_entry *v, size_t n); /* NULL ok */

struct bfs_restore_progress {
	uint64_t entries;     /* entries done */
	uint64_t files;	      /* regular files written */
	uint64_t bytes;	      /* plain bytes written */
	uint64_t total_bytes; /* of the whole restore, 0 if unknown */
	int64_t elapsed_ns;
	const char *current; /* path being restored (relative), borrowed */
};

struct bfs_restore_stats {
	uint64_t entries; /* entries created or updated */
	uint64_t files, dirs, symlinks, hardlinks, specials;
	uint64_t bytes;	  /* plain bytes written */
	uint64_t skipped; /* unreadable at backup time, or devices
			     without privileges */
	uint64_t failed;  /* entries that could not be restored */
	int64_t duration_ns;
};

struct bfs_restore_opts {
	/* Replace existing non-directories (an existing directory where a
	 * non-directory goes is replaced only when empty).  Without force
	 * the whole restore is checked for conflicts before anything is
	 * written, and each file is moved into place without replacing
	 * (RENAME_NOREPLACE), so an existing file is never truncated. */
	bool force;
	/* Restore owners (uid/gid numbers, lchown) and keep setuid/setgid
	 * bits (without owners they are dropped, as GNU tar does).
	 * Normally geteuid() == 0. */
	bool owners;
	bool devices;
	/* path itself becomes target (`restore --to`, like `cp -a PATH
	 * TARGET`): a directory's contents land directly in target, whose
	 * own mode, owner and mtime become the directory's; a non-directory
	 * is written as target, or into it when target is an existing
	 * directory.  Without it path is recreated as target/path. */
	bool as_target;
	/* The restore's total plain bytes for progress, 0 if unknown. */
	uint64_t total_bytes;
	/* Warnings: an entry skipped or that failed.  path is the entry's
	 * path below the target directory; msg says what and why.  Both
	 * borrowed.  May be NULL. */
	void (*warn)(void *arg, const char *path, const char *msg);
	/* Progress, at most ~10 times a second and once at the end.  May be
	 * NULL. */
	void (*progress)(void *arg, const struct bfs_restore_progress *p);
	void *arg;
};

/* Recreate entry `path` ("" = the whole backup) of the backup whose root
 * entry id is `root` as target/path (target is created with its parents
 * if missing; without a path, the backup's contents land directly in
 * target and target's own metadata is left alone).  Parents of path
 * inside target are created as needed (0755).
 *
 * Restores directories (metadata applied after their contents), regular
 * files (content verified chunk by chunk, written to a temporary name and
 * renamed into place; runs of zero 4 KiB blocks become holes, then the
 * size is set), symlinks, hardlinks (linked to the first restored member
 * of the group; content restored when the group's data entry is outside
 * the restored set), fifos, sockets, devices (opts->devices), owners by
 * number (opts->owners), modes incl. setuid/setgid/sticky (applied after
 * the owner, which clears them) and mtimes to the nanosecond.  Entries
 * that were unreadable at backup time are skipped with a warning.
 *
 * Small files (<= 4 MiB) are fetched ahead by 4 threads (32 MiB budget)
 * while this thread writes; the catalog is only used from this thread.
 *
 * Returns 0; -EEXIST when a target exists and !opts->force (nothing
 * written; err names the file); -ENOENT if path is not in the backup;
 * -EIO if some entries failed (each was reported through opts->warn,
 * stats->failed counts them, nothing partial is left under their
 * names); other -errno for a failure that stops the restore (err says
 * which file).  stats may be NULL.  opts may be NULL (defaults: no force,
 * no owners/devices, no callbacks). */
int bfs_restore(struct bfs_repo *repo, struct bfs_catalog *cat, int64_t root,
		const char *path, const char *target,
		const struct bfs_restore_opts *opts,
		struct bfs_restore_stats *stats, struct bfs_err *err);

/* ---- database.sql.d/: a dump's per-table view (restore_dt.c) -------- */

/* Load and check the dump map (tree key "dt") of file entry ce (its
 * data entry, not a hardlink), located through cat; when its pack has
 * vanished (prune ran since cat was synced) and relocate is not NULL,
 * located once more through relocate(arg, ...) (a long-running reader:
 * the mount).  *out owned by the caller.  -ENOENT (no map), -EUCLEAN
 * (map not in the index, damaged, not a map of this file), the
 * repository's errors, -ENOMEM. */
int bfs_dumpview_load(struct bfs_repo *repo, struct bfs_catalog *cat,
		      const struct bfs_cat_entry *ce, bfs_relocate_fn relocate,
		      void *arg, struct bfs_dumpmap **out, struct bfs_err *err);

/* Read up to len bytes at off of view file `file` of map m, from the
 * whole dump open as rfile dump (only the chunks under the file's ranges
 * are read).  Returns the bytes read (0 at the end) or -errno.
 * Thread safety: as bfs_rfile_read. */
ssize_t bfs_dumpview_read(struct bfs_rfile *dump, const struct bfs_dumpmap *m,
			  size_t file, void *buf, size_t len, uint64_t off,
			  struct bfs_err *err);

/* A path below "NAME.d" of a backup, resolved. */
struct bfs_dumpview {
	int64_t dump_id;	 /* catalog id of the dump's data entry */
	struct bfs_dumpmap *map; /* owned */
	ssize_t file;		 /* index of the file, -1 for the directory */
};

/* Resolve path ("dir/x.sql.d" or "dir/x.sql.d/FILE") inside backup root
 * `root`: the dump x.sql must exist and have a map.  -ENOENT (err says
 * "no such file"), or bfs_dumpview_load's errors.  Clear v with
 * bfs_dumpview_clear. */
int bfs_dumpview_resolve(struct bfs_repo *repo, struct bfs_catalog *cat,
			 int64_t root, const char *path, struct bfs_dumpview *v,
			 struct bfs_err *err);
void bfs_dumpview_clear(struct bfs_dumpview *v); /* NULL ok */

/* Restore the view path v was resolved from (path, as given) like
 * bfs_restore does: to target/path, or with as_target to target (into
 * it when it is an existing directory and path a file).  The directory
 * is written as a directory of its files.  Files are created 0600 (a
 * dump may hold secrets) and never overwritten unless force.  *files,
 * *bytes: what was written.  Errors name the file. */
int bfs_dumpview_restore(struct bfs_repo *repo, struct bfs_catalog *cat,
			 const struct bfs_dumpview *v, const char *path,
			 const char *target, bool as_target, bool force,
			 uint64_t *files, uint64_t *bytes, struct bfs_err *err);

/* The attributes of view file `file` of map m (-1: the directory) as an
 * entry: the dump's owner and times, read-only (the dump's read bits; a
 * directory gets x where r), the file's size.  *out is a shallow copy:
 * its strings are borrowed from dump and m, never clear it. */
void bfs_dumpview_attr(const struct bfs_cat_entry *dump,
		       const struct bfs_dumpmap *m, ssize_t file,
		       struct bfs_cat_entry *out);

/* Write view file v->file to fd (-EISDIR for the directory), reading
 * only the dump's chunks under it, each verified.  Errors as
 * bfs_restore_cat_fd. */
int bfs_dumpview_cat_fd(struct bfs_repo *repo, struct bfs_catalog *cat,
			const struct bfs_dumpview *v, int fd,
			struct bfs_err *err);

#endif
