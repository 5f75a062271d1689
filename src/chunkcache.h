/* chunkcache.h - a shared, bounded LRU of decompressed chunks, keyed by
 * chunk hash (SHA-256 of the plain bytes).
 *
 * Used by the read engine (reader.h): the mount's FUSE worker threads and
 * the reader's pool (readahead, delegated runs) share one cache.  The
 * table is a bfs_hmap keyed by (hash, length).  Entries are reference-counted:
 * an entry somebody holds is never freed or evicted (it is "pinned").  Loading
 * is single-flight: the first thread to ask for a missing chunk gets
 * BFS_CC_LOAD and must fill the entry and call bfs_chunkcache_complete(); every
 * other thread asking meanwhile gets BFS_CC_PENDING and waits with
 * bfs_chunkcache_wait() after it has completed its own loads (so two threads
 * never wait on each other: a thread completes everything it loads before it
 * waits).
 *
 * The byte bound (max_bytes) counts the plain bytes of every entry in the
 * table, loading or ready.  Unpinned ready entries are evicted, least
 * recently released first, to make room; entries released "behind" a
 * sequential reader (bfs_chunkcache_release_behind) go before all others
 * and are kept to BFS_CC_BEHIND_MAX bytes.  Pinned entries can push the
 * total over the bound temporarily (a single read may need more than the
 * whole cache); the surplus is evicted as soon as they are released.
 *
 * Thread safety: every function is thread-safe.  Lock order: the cache
 * has one mutex; nothing else is locked while it is held.
 */
#ifndef BFS_CHUNKCACHE_H
#define BFS_CHUNKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct bfs_chunkcache;
struct bfs_cc_entry;

enum bfs_cc_state {
	BFS_CC_HIT = 0,	    /* entry ready: read bfs_cc_data() */
	BFS_CC_LOAD = 1,    /* caller must fill bfs_cc_data() and complete */
	BFS_CC_PENDING = 2, /* another thread loads it: bfs_chunkcache_wait */
};

struct bfs_cc_stats {
	uint64_t hits, misses, waits, evictions, failures;
	uint64_t wakeups;    /* times a waiter woke up (spurious ones too) */
	uint64_t bytes;	     /* plain bytes currently held (all entries) */
	uint64_t peak_bytes; /* highest value of bytes */
	uint64_t entries;
	uint64_t max_bytes;
};

/* Create a cache bounded by max_bytes (>= 1).  *out owned by the caller
 * (bfs_chunkcache_free).  0 / -ENOMEM / -EINVAL. */
int bfs_chunkcache_new(uint64_t max_bytes, struct bfs_chunkcache **out);

/* Free the cache and every entry.  No entry may still be held.  NULL ok. */
void bfs_chunkcache_free(struct bfs_chunkcache *cc);

/* Take a reference on the entry for hash (len = the chunk's plain length;
 * an entry already present with a different length is treated as another
 * chunk and never returned).  Returns BFS_CC_HIT, BFS_CC_LOAD (a new entry
 * with an uninitialised buffer of len bytes: fill it and call
 * bfs_chunkcache_complete) or BFS_CC_PENDING; *out is set in all three
 * cases and must be released with bfs_chunkcache_release.  -ENOMEM if the
 * buffer cannot be allocated.  May evict unpinned entries. */
int bfs_chunkcache_acquire(struct bfs_chunkcache *cc,
			   const uint8_t hash[BFS_HASH_LEN], uint32_t len,
			   struct bfs_cc_entry **out);

/* Like acquire, but returns -ENOENT (and takes no reference) instead of
 * creating a missing entry; used to test for presence. */
int bfs_chunkcache_lookup(struct bfs_chunkcache *cc,
			  const uint8_t hash[BFS_HASH_LEN], uint32_t len,
			  struct bfs_cc_entry **out);

/* Finish loading an entry acquired with BFS_CC_LOAD.  rc == 0: the buffer
 * holds the verified chunk and the entry becomes ready.  rc < 0: the load
 * failed; the entry leaves the table (a later acquire loads again) and
 * waiters get rc.  The caller keeps its reference. */
void bfs_chunkcache_complete(struct bfs_chunkcache *cc, struct bfs_cc_entry *e,
			     int rc);

/* Wait until e is no longer loading.  Returns 0 (ready) or the loader's
 * negative rc.  Must not be called by the loader before it completed e. */
int bfs_chunkcache_wait(struct bfs_chunkcache *cc, struct bfs_cc_entry *e);

/* Drop a reference (NULL ok).  An unpinned ready entry becomes the most
 * recently used; a failed entry is freed with its last reference. */
void bfs_chunkcache_release(struct bfs_chunkcache *cc, struct bfs_cc_entry *e);

/* Like bfs_chunkcache_release, for an entry a sequential reader has read
 * to its end (drop-behind): once unpinned it is evicted before every
 * entry released the ordinary way, and at most BFS_CC_BEHIND_MAX bytes
 * of such entries stay in the cache (a reader a little behind, or a
 * read that arrived out of order, still finds them).  The mark sticks
 * while others hold the entry: whoever releases it last, it goes behind
 * (requests of one stream finish out of order, and the one that read
 * only a chunk's start may be the last to let go).  Taking the entry
 * again after it was listed clears the mark. */
#define BFS_CC_BEHIND_MAX (4u << 20)
void bfs_chunkcache_release_behind(struct bfs_chunkcache *cc,
				   struct bfs_cc_entry *e);
/* The entry's buffer (len bytes).  Valid while a reference is held;
 * readable once ready, writable only by the loader. */
uint8_t *bfs_cc_data(struct bfs_cc_entry *e);
uint32_t bfs_cc_len(const struct bfs_cc_entry *e);

/* Counters, a consistent snapshot. */
void bfs_chunkcache_stats(struct bfs_chunkcache *cc, struct bfs_cc_stats *s);

#endif
