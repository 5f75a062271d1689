/* lock.h - repository locks: objects under locks/ (doc/FORMAT.md,
 * "Locks").
 *
 * backup, copy (its target) and forget take a shared lock; prune takes an
 * exclusive one.  A lock is the object locks/<64 hex, random> holding one
 * JSON object: kind ("shared" / "exclusive"), host, pid, user, command,
 * time (when taken) and refreshed (last refresh), times in RFC 3339 UTC.
 *
 * Stores have no atomic create-if-absent that works across clients (S3),
 * so taking a lock is write-then-check: write our own lock object, list
 * locks/, read the others; if one conflicts (exclusive against anything)
 * and is not stale, delete ours and fail with -EBUSY naming the holder
 * (or, with a wait, sleep and try again until the wait is over).  Two
 * takers that race both see each other and both back off; the waiting
 * ones retry after a random delay.
 *
 * A held lock is refreshed (its object rewritten with a new "refreshed"
 * time) every BFS_LOCK_REFRESH_S seconds by a thread of its own.  A lock
 * is stale when its "refreshed" time is more than BFS_LOCK_STALE_S
 * seconds old, or when it was taken on this host by a pid that no longer
 * runs.  A lock object that does not parse is "unreadable": it
 * conflicts with every lock and is never stale (stores give no object
 * time to judge it by), so only `unlock --all` removes it.  The timeouts
 * can be overridden (tests) by $BFS_LOCK_REFRESH_S and $BFS_LOCK_STALE_S,
 * read once per process.
 *
 * Lost locks: when the refresh has failed for longer than
 * BFS_LOCK_STALE_S, or our lock object has vanished (someone ran
 * `unlock --all`), bfs_lock_check() returns -ENOLCK; a writer checks it
 * before it commits (writes a manifest, deletes anything) and aborts.
 *
 * Thread safety: a struct bfs_lock may be checked from any thread; take
 * and release from one.
 */
#ifndef BFS_LOCK_H
#define BFS_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo.h"
#include "util.h"

#define BFS_LOCK_REFRESH_S 300 /* 5 min */
#define BFS_LOCK_STALE_S 1800  /* 30 min */

enum bfs_lock_kind { BFS_LOCK_SHARED, BFS_LOCK_EXCLUSIVE };

struct bfs_lock;

/* Take a lock of kind on r for command (a short word: "backup", "prune",
 * ...; stored in the object for the holder's name).  wait_ns: 0 fails at
 * once on a conflict, > 0 retries until that much time has passed.
 * -EBUSY: a conflicting lock is held; err names it ("repository is
 * locked exclusively by prune (pid 123 on host h, user u) since
 * 2026-11-25T10:00:00Z, refreshed 2 min ago; wait, or 'backupfs unlock'
 * if that process is gone").  Store errors as they come.  The lock keeps
 * r (borrowed) until release. */
int bfs_lock_take(struct bfs_repo *r, enum bfs_lock_kind kind,
		  const char *command, int64_t wait_ns, struct bfs_lock **out,
		  struct bfs_err *err);

/* 0 while the lock is held, -ENOLCK (err says why) once it is lost:
 * its object is gone (checked now, one stat of the store) or it was not
 * refreshed for longer than the stale timeout.  A store error of that
 * stat is returned as it is (the caller cannot know it holds the lock:
 * abort as for -ENOLCK).  Thread-safe. */
int bfs_lock_check(struct bfs_lock *l, struct bfs_err *err);

/* Stop refreshing and delete the lock object.  NULL is a no-op.  Errors
 * are logged (a lock left behind goes stale). */
void bfs_lock_release(struct bfs_lock *l);

/* One lock object as listed by bfs_lock_list. */
struct bfs_lock_info {
	char key[80]; /* locks/<64 hex> */
	bool valid;   /* parsed; else only key and stale are set */
	enum bfs_lock_kind kind;
	char host[256];
	int64_t pid;
	char user[64];
	char command[32];
	int64_t time_ns, refreshed_ns;
	bool stale;
};

/* Every lock object of r, in key order.  *out (free()) gets n items.
 * now_ns: the time staleness is judged against (bfs_now_ns()). */
int bfs_lock_list(struct bfs_repo *r, int64_t now_ns,
		  struct bfs_lock_info **out, size_t *n, struct bfs_err *err);

/* `backupfs unlock`: delete the stale lock objects (all of them with
 * all).  *removed (may be NULL) gets their number. */
int bfs_lock_remove(struct bfs_repo *r, bool all, size_t *removed,
		    struct bfs_err *err);

#endif
