/* prune.h - give back the space of blobs no backup reaches any more
 * (`backupfs prune`; doc/FORMAT.md, "Prune").
 *
 * Under the exclusive repository lock: load every index object, list
 * packs/, walk every manifest's trees (src/reach.h) to find the live
 * blobs, then per pack: no live blob -> delete; unused share above
 * max_unused_pct -> repack (its live blobs' compressed frames copied byte
 * for byte, each verified against its id on the way, into new packs);
 * packs no index object names -> garbage, deleted.  Packs younger than
 * the grace period (by the record prune keeps under prune/, see
 * FORMAT.md) are left alone.
 *
 * Crash-safe order: new packs; one new index object naming every
 * surviving pack of the affected index objects plus the new packs; the
 * affected index objects deleted; then the old packs.  A kill at any
 * point leaves duplicates or unreferenced packs, never a live blob whose
 * only location is a deleted pack; a rerun finishes the job.
 *
 * A repository that is already damaged (a manifest that does not parse,
 * a tree blob no index object names, a corrupt index object, a live blob
 * in a missing pack) is refused before anything is changed.
 *
 * The core never prints; bfs_prune logs one line per deletion at debug
 * level.  Not thread-safe on one repository (the lock says so to other
 * processes).
 */
#ifndef BFS_PRUNE_H
#define BFS_PRUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "repo.h"
#include "util.h"

#define BFS_PRUNE_MAX_UNUSED_DEFAULT 10			   /* percent */
#define BFS_PRUNE_GRACE_DEFAULT_NS (3600LL * 1000000000LL) /* 1 h */

struct bfs_lock;

struct bfs_prune_opts {
	unsigned max_unused_pct; /* 0..100: repack a pack whose unused
				    share of frame bytes is above this */
	int64_t grace_ns;	 /* >= 0: leave packs younger than this */
	int64_t wait_ns;	 /* lock wait (bfs_lock_take) */
	bool dry_run;		 /* plan and count, change nothing (takes
				    a shared lock only) */
	struct bfs_lock *lock;	 /* non-NULL: an exclusive lock the caller
				    holds already (borrowed); else prune
				    takes and releases its own */
};

/* Packs and bytes of one kind (bytes: pack object sizes). */
struct bfs_prune_count {
	uint64_t packs, bytes;
};

struct bfs_prune_stats {
	uint64_t backups;		/* manifests walked */
	uint64_t blobs, blobs_live;	/* blobs indexed; reached */
	uint64_t blobs_repacked;	/* live blobs copied into new packs */
	uint64_t blobs_dropped;		/* indexed blobs gone with their pack */
	struct bfs_prune_count before;	/* packs/ before */
	struct bfs_prune_count deleted; /* indexed, no live blob */
	struct bfs_prune_count repacked; /* old packs repacked (deleted) */
	struct bfs_prune_count written;	 /* new packs */
	struct bfs_prune_count garbage;	 /* in no index object: deleted */
	struct bfs_prune_count kept;	 /* left as they are */
	struct bfs_prune_count young;	 /* of kept: within the grace */
	struct bfs_prune_count after;	 /* packs/ after (computed) */
	uint64_t live_bytes;		 /* frame bytes of live blobs */
	uint64_t index_deleted, index_written;
};

/* Prune r (borrowed) as described above.  stats may be NULL (filled as
 * far as prune got, also on error).  Returns 0, -EBUSY (another process
 * holds a conflicting lock; err names it), -ENOLCK (our lock was lost:
 * stopped before the next change), -EUCLEAN / -ENOENT / -EBADMSG (the
 * repository is damaged: nothing deleted; err names the backup, blob or
 * object and says to run 'backupfs check'), store errors. */
int bfs_prune(struct bfs_repo *r, const struct bfs_prune_opts *o,
	      struct bfs_prune_stats *stats, struct bfs_err *err);

#endif
