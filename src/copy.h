/* copy.h - copy backups between two repositories (local <-> S3, S3 <-> S3,
 * local <-> local), incrementally.
 *
 * For each selected backup: read its manifest (untrusted, format 2), walk
 * its trees and locate every blob they reach through the source's index
 * objects, then copy each pack named by the index objects it needs that
 * the target lacks (or holds with a different size), verifying that the
 * bytes hash to the pack id, then those index objects (verified against
 * their names), then put the manifest last, so an interrupted copy
 * leaves no backup in the target whose blobs cannot be found.  Packs,
 * index objects and manifests are copied byte for byte, so blob
 * locations stay valid.  A second copy finds everything present and
 * transfers nothing.
 *
 * When the blob ids of the two repositories differ (plain <-> encrypted,
 * or encrypted with different master keys: bfs_repo_same_keys), packs
 * cannot be copied: each backup is written again in the target instead,
 * through its backup writer (copy_rewrite.h), with the same id, time,
 * host, tags, job, sources and entries, and checked before the next.
 *
 * The core never prints: progress goes through a callback.
 */
#ifndef BFS_COPY_H
#define BFS_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "repo.h"
#include "store.h"
#include "util.h"

struct bfs_lock;

enum bfs_copy_event {
	BFS_COPY_BACKUP_START,	 /* id: backup; n: packs it needs (not
				    counting trees shared with a backup
				    walked earlier in this copy) */
	BFS_COPY_PACK,		 /* key: pack copied; bytes: its size */
	BFS_COPY_BACKUP_DONE,	 /* id: backup copied (manifest written);
				    n: packs copied for it */
	BFS_COPY_BACKUP_SKIP,	 /* id: backup already in the target */
	BFS_COPY_SOURCE_DELETED, /* id: source manifest deleted */
	BFS_COPY_REWRITE_START,	 /* id: backup being written again (blob
				    ids differ) */
	BFS_COPY_REWRITE_DONE,	 /* id: written again and checked; bytes:
				    compressed bytes added to packs */
};

/* Progress callback; strings borrowed for the call.  Calls never overlap
 * (BFS_COPY_PACK comes from the transfer threads, under a lock; the
 * others from the thread that called bfs_copy). */
typedef void (*bfs_copy_progress_fn)(void *arg, enum bfs_copy_event ev,
				     const char *id, const char *key,
				     uint64_t n, uint64_t bytes);

struct bfs_copy_opts {
	const char *const *ids; /* backups to copy; NULL/nids 0: every
				   backup of the source not in the target */
	size_t nids;
	bool delete_source; /* after each backup is safely in the
			       target, delete its manifest in the
			       source (packs stay: prune's job) */
	unsigned jobs;	    /* parallel pack transfers, 0 = 4 */
	bool verify;	    /* backups written again (ids differ): read every
			       chunk back and compare each file's content */
	/* Locks the caller holds (borrowed, may be NULL), checked with
	 * bfs_lock_check before each manifest is written to the target
	 * (lock) and before each is deleted from the source (src_lock,
	 * with delete_source). */
	struct bfs_lock *lock, *src_lock;
	bfs_copy_progress_fn progress; /* may be NULL */
	void *progress_arg;
};

struct bfs_copy_stats {
	unsigned backups_copied;
	unsigned backups_skipped; /* already in the target */
	unsigned sources_deleted;
	uint64_t packs_copied;
	uint64_t index_copied;	    /* index objects copied */
	uint64_t bytes_copied;	    /* pack + index + manifest bytes written */
	uint64_t packs_present;	    /* needed but already in the target */
	unsigned backups_rewritten; /* of backups_copied: written again
				       (blob ids differ) */
};

/* Open the target repository at url for a copy from src.  If the target
 * holds no `config`, it is created from the source's config object,
 * byte for byte except for a fresh repository id (same chunker,
 * compression and pack parameters, so the same data chunks alike in both
 * and backups written to either deduplicate against what was copied),
 * creating the bucket or directory as needed; *created tells which.
 *
 * same_id copies the config verbatim, id included.  Not the default:
 * two locations with one id are one repository to anything that keys by
 * id alone.  Their default catalogs differ (keyed by id and location,
 * bfs_catalog_default_path), so a backup to one of them never finds
 * chunks whose packs exist only in the other, unless both are given the
 * same --catalog.
 *
 * *out owned by the caller (bfs_repo_close).  0 / -errno. */
int bfs_copy_open_target(struct bfs_repo *src, const char *url,
			 const struct bfs_store_opts *sopts, bool same_id,
			 struct bfs_repo **out, bool *created,
			 struct bfs_err *err);

/* Copy backups from src to dst as described above.  stats may be NULL.
 * Returns 0 or the first error (-ENOENT for a named backup missing from
 * the source or a blob no index object names, -EBADMSG for a pack or
 * index object whose bytes do not match its id, -EUCLEAN for a corrupt
 * manifest or tree, -EPROTO for a format-1 manifest, store errors);
 * backups finished before the error stay copied.  Not thread-safe on the same
 * repositories. */
int bfs_copy(struct bfs_repo *src, struct bfs_repo *dst,
	     const struct bfs_copy_opts *opts, struct bfs_copy_stats *stats,
	     struct bfs_err *err);

#endif
