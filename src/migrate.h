/* migrate.h - bring a repository of an older format to the current one
 * (format 5), in place (`backupfs migrate`).
 *
 * From format 2, 3 or 4: the config is rewritten with "version": 5 (one
 * put, under an exclusive lock, once no saved manifest of an interrupted
 * conversion from format 1 is left).  Nothing else changes: every object
 * of format 2, 3 or 4 is valid in format 5.
 *
 * From format 1:
 * Steps, each safe to interrupt and to run again:
 *   1. index objects for every pack no index object names yet: one per
 *      backup, oldest first, for the packs it was the first to use (as a
 *      format-2 writer would have written them, so that copying one
 *      backup later transfers its own packs), then one for the packs no
 *      manifest names; at most BFS_MIGRATE_PACKS_PER_INDEX packs each; a
 *      rerun adds nothing;
 *   2. every manifest still of version 1 is written again as format 2 by
 *      the backup writer (same id, time, host, tags, sources; entries and
 *      chunk lists as they were), its directory trees going into new
 *      packs (shared between backups: stored once).  Before the new
 *      manifest replaces the old one (one atomic put), the old bytes are
 *      saved as "migrate/<id>"; afterwards the new trees are walked and
 *      every entry compared with the old manifest's (path, type, mode,
 *      owner, times, size, target, link, device, error, chunk ids).  On a
 *      mismatch the old manifest is put back and the migration fails.
 *      Only then is the saved copy deleted; a rerun verifies any backup
 *      that still has one;
 *   3. when no manifest of version 1 and no saved copy is left, `config`
 *      says "version": 5 (same id and parameters; one put).
 * Until step 3 the repository stays format 1 for every other command, so
 * nothing else writes to it meanwhile.  Two migrations of one repository
 * must not run at once.
 *
 * The header stats of a converted backup are the writer's (its entries,
 * files, bytes; chunk and byte counts of what was new are those of the
 * conversion, not of the original backup).
 */
#ifndef BFS_MIGRATE_H
#define BFS_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

#define BFS_MIGRATE_PACKS_PER_INDEX 1000
#define BFS_MIGRATE_KEY "migrate/" /* migrate/<id>: a saved manifest */

enum bfs_migrate_event {
	BFS_MIGRATE_INDEX,    /* n: packs named by an index object written;
				 bytes: its size */
	BFS_MIGRATE_BACKUP,   /* id converted and verified; n: entries,
				 bytes: added to packs */
	BFS_MIGRATE_VERIFIED, /* id converted by an interrupted run,
				 verified now; n: entries */
	BFS_MIGRATE_SKIP,     /* id is format 2 already */
	BFS_MIGRATE_CONFIG,   /* config now says version n (5) */
};

/* Progress; strings borrowed for the call; from the calling thread. */
typedef void (*bfs_migrate_progress_fn)(void *arg, enum bfs_migrate_event ev,
					const char *id, uint64_t n,
					uint64_t bytes);

struct bfs_migrate_opts {
	unsigned threads;     /* writer threads; 0: number of CPUs */
	int64_t lock_wait_ns; /* migrate holds an exclusive lock (lock.h)
				 for its work; wait this long for it */
	bfs_migrate_progress_fn progress; /* may be NULL */
	void *progress_arg;
};

struct bfs_migrate_stats {
	bool already;	  /* config said version 5: nothing done */
	int from_version; /* config "version" found: 1 to 5 */
	bool config_put;  /* the new config was put (it may not have been
			     read back: a failure then leaves it unknown) */
	unsigned backups_converted;
	unsigned backups_verified; /* left by an interrupted run */
	unsigned backups_skipped;  /* format 2 already */
	uint64_t packs_indexed;	   /* packs named by new index objects */
	uint64_t index_written;	   /* index objects written */
	uint64_t bytes_added;	   /* index objects + compressed tree
				      blobs written */
};

/* Migrate the repository at url (store options sopts, may be NULL).
 * stats may be NULL.  0 (also when it was format 5 already), or -errno
 * with a message naming the backup, pack or object: -EUCLEAN (corrupt
 * object, or a converted backup that differs from the original: the
 * original was put back), -EBADMSG (a pack or index object whose bytes
 * do not hash to its name), -EPROTO (not a backupfs repository of
 * format 1 to 5), store errors.  Work done before an error stays and is
 * reused by the next run.  Not thread-safe (sets
 * bfs_repo_accept_format1 while it opens the repository). */
int bfs_migrate(const char *url, const struct bfs_store_opts *sopts,
		const struct bfs_migrate_opts *opts,
		struct bfs_migrate_stats *stats, struct bfs_err *err);

#endif
