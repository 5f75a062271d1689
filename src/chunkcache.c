/* chunkcache.c - see chunkcache.h. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chunkcache.h"
#include "hmap.h"

enum { CC_LOADING, CC_READY, CC_FAILED };

struct bfs_cc_entry {
	uint8_t hash[BFS_HASH_LEN];
	uint32_t len;
	int state;     /* CC_*; protected by cc->lock */
	int rc;	       /* loader's error when CC_FAILED */
	unsigned refs; /* protected by cc->lock */
	bool in_table; /* in cc->map, counted in cc->bytes */
	bool behind;   /* on cc->behind rather than cc->lru */
	/* Released behind a sequential reader while others still held it:
	 * goes on cc->behind when the last holder releases it, whichever
	 * way (reads of one stream finish out of order; the request that
	 * read only the chunk's start may release it last). */
	bool read_out;
	/* On one of the two lists iff in_table && state == CC_READY &&
	 * refs == 0. */
	struct bfs_cc_entry *prev, *next;
	uint8_t *data;
};

/* Unpinned ready entries, head most recently released. */
struct cc_list {
	struct bfs_cc_entry *head, *tail;
};

#define CC_DONE_BITS 4
#define CC_DONE_SLOTS (1u << CC_DONE_BITS)

struct bfs_chunkcache {
	pthread_mutex_t lock; /* protects everything below */
	/* A load of e ends with a broadcast on done_cond(cc, e): a waiter
	 * wakes for its own entry (and for the others that share its
	 * condition, 1 in CC_DONE_SLOTS), not for every load, so readers
	 * waiting on many chunks at once are not all woken by each. */
	pthread_cond_t done[CC_DONE_SLOTS];
	struct bfs_hmap map; /* struct cc_rec by (hash, len) */
	struct cc_list lru;  /* released with bfs_chunkcache_release */
	/* Released with bfs_chunkcache_release_behind: read to their end by
	 * a sequential reader.  Evicted before anything on lru, and never
	 * more than BFS_CC_BEHIND_MAX bytes of them are kept. */
	struct cc_list behind;
	uint64_t behind_bytes;
	struct bfs_cc_stats st;
};

/* The map's record: the key is the chunk hash and its length (an entry
 * with another length is another chunk); SHA-256 bytes are uniform, so
 * the first 8 are the hash. */
struct cc_rec {
	uint8_t hash[BFS_HASH_LEN];
	uint32_t len;
	uint32_t pad;
	struct bfs_cc_entry *e;
};
#define CC_KEY_SIZE (BFS_HASH_LEN + sizeof(uint32_t))

static void make_key(struct cc_rec *k, const uint8_t *hash, uint32_t len)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->hash, hash, BFS_HASH_LEN);
	k->len = len;
}

static struct cc_list *list_of(struct bfs_chunkcache *cc,
			       const struct bfs_cc_entry *e)
{
	return e->behind ? &cc->behind : &cc->lru;
}

static bool lru_linked(struct bfs_chunkcache *cc, const struct bfs_cc_entry *e)
{
	return e->prev || e->next || list_of(cc, e)->head == e;
}

static void lru_unlink(struct bfs_chunkcache *cc, struct bfs_cc_entry *e)
{
	struct cc_list *l = list_of(cc, e);

	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
	if (e->behind)
		cc->behind_bytes -= e->len;
	e->behind = false;
}

static void lru_push_head(struct bfs_chunkcache *cc, struct bfs_cc_entry *e,
			  bool behind)
{
	struct cc_list *l;

	e->behind = behind;
	if (behind)
		cc->behind_bytes += e->len;
	l = list_of(cc, e);
	e->prev = NULL;
	e->next = l->head;
	if (l->head)
		l->head->prev = e;
	l->head = e;
	if (!l->tail)
		l->tail = e;
}

static void entry_free(struct bfs_cc_entry *e)
{
	free(e->data);
	free(e);
}

/* Remove e from the map and the byte count (not from the LRU). */
static void table_remove(struct bfs_chunkcache *cc, struct bfs_cc_entry *e)
{
	struct cc_rec k;

	make_key(&k, e->hash, e->len);
	bfs_hmap_remove(&cc->map, &k);
	e->in_table = false;
	cc->st.bytes -= e->len;
	cc->st.entries--;
}

static void evict(struct bfs_chunkcache *cc, struct bfs_cc_entry *e)
{
	lru_unlink(cc, e);
	table_remove(cc, e);
	cc->st.evictions++;
	entry_free(e);
}

/* Evict unpinned ready entries until `need` more bytes fit under the
 * bound (or nothing is left to evict): entries read behind a sequential
 * reader first, then the least recently released.  The behind list is
 * also kept under BFS_CC_BEHIND_MAX, so that streaming a large file
 * holds its readahead window, not the whole cache (less memory; freed
 * buffers are reused rather than fresh pages faulted in). */
static void make_room(struct bfs_chunkcache *cc, uint64_t need)
{
	while (cc->behind.tail && cc->behind_bytes > BFS_CC_BEHIND_MAX)
		evict(cc, cc->behind.tail);
	while (cc->st.bytes + need > cc->st.max_bytes &&
	       (cc->behind.tail || cc->lru.tail))
		evict(cc, cc->behind.tail ? cc->behind.tail : cc->lru.tail);
}

int bfs_chunkcache_new(uint64_t max_bytes, struct bfs_chunkcache **out)
{
	struct bfs_chunkcache *cc;
	unsigned i;

	*out = NULL;
	if (max_bytes == 0)
		return -EINVAL;
	cc = calloc(1, sizeof(*cc));
	if (!cc)
		return -ENOMEM;
	if (bfs_hmap_init(&cc->map, sizeof(struct cc_rec), CC_KEY_SIZE, 1024,
			  BFS_HMAP_PREHASHED) < 0) {
		free(cc);
		return -ENOMEM;
	}
	pthread_mutex_init(&cc->lock, NULL);
	for (i = 0; i < CC_DONE_SLOTS; i++)
		pthread_cond_init(&cc->done[i], NULL);
	cc->st.max_bytes = max_bytes;
	*out = cc;
	return 0;
}

void bfs_chunkcache_free(struct bfs_chunkcache *cc)
{
	struct cc_rec *r;
	size_t it = 0;
	unsigned i;

	if (!cc)
		return;
	while ((r = bfs_hmap_next(&cc->map, &it)))
		entry_free(r->e);
	bfs_hmap_fini(&cc->map);
	for (i = 0; i < CC_DONE_SLOTS; i++)
		pthread_cond_destroy(&cc->done[i]);
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

/* The condition a load of e ends on (a multiplicative hash of where e
 * lives: entries are distinct allocations, alive while waited on). */
static pthread_cond_t *done_cond(struct bfs_chunkcache *cc,
				 const struct bfs_cc_entry *e)
{
	uint32_t h = (uint32_t)((uintptr_t)e >> 4) * 0x9E3779B1u;

	return &cc->done[h >> (32 - CC_DONE_BITS)];
}

static struct bfs_cc_entry *find(struct bfs_chunkcache *cc, const uint8_t *hash,
				 uint32_t len)
{
	struct cc_rec k, *r;

	make_key(&k, hash, len);
	r = bfs_hmap_find(&cc->map, &k);
	return r ? r->e : NULL;
}

/* Take a reference on a found entry; returns its state for the caller. */
static int take(struct bfs_chunkcache *cc, struct bfs_cc_entry *e)
{
	if (e->refs == 0 && lru_linked(cc, e)) {
		lru_unlink(cc, e);
		e->read_out = false;
	}
	e->refs++;
	if (e->state == CC_READY) {
		cc->st.hits++;
		return BFS_CC_HIT;
	}
	cc->st.waits++;
	return BFS_CC_PENDING;
}

int bfs_chunkcache_acquire(struct bfs_chunkcache *cc,
			   const uint8_t hash[BFS_HASH_LEN], uint32_t len,
			   struct bfs_cc_entry **out)
{
	struct bfs_cc_entry *e;
	struct cc_rec k;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&cc->lock);
	e = find(cc, hash, len);
	if (e) {
		rc = take(cc, e);
		*out = e;
		goto out_unlock;
	}
	make_room(cc, len);
	e = calloc(1, sizeof(*e));
	if (!e) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	e->data = malloc(len ? len : 1);
	if (!e->data) {
		free(e);
		rc = -ENOMEM;
		goto out_unlock;
	}
	memcpy(e->hash, hash, BFS_HASH_LEN);
	e->len = len;
	e->state = CC_LOADING;
	e->refs = 1;
	e->in_table = true;
	make_key(&k, hash, len);
	k.e = e;
	if (bfs_hmap_insert(&cc->map, &k, NULL) < 0) {
		entry_free(e);
		rc = -ENOMEM;
		goto out_unlock;
	}
	cc->st.entries++;
	cc->st.bytes += len;
	if (cc->st.bytes > cc->st.peak_bytes)
		cc->st.peak_bytes = cc->st.bytes;
	cc->st.misses++;
	*out = e;
	rc = BFS_CC_LOAD;
out_unlock:
	pthread_mutex_unlock(&cc->lock);
	return rc;
}

int bfs_chunkcache_lookup(struct bfs_chunkcache *cc,
			  const uint8_t hash[BFS_HASH_LEN], uint32_t len,
			  struct bfs_cc_entry **out)
{
	struct bfs_cc_entry *e;
	int rc = -ENOENT;

	*out = NULL;
	pthread_mutex_lock(&cc->lock);
	e = find(cc, hash, len);
	if (e) {
		rc = take(cc, e);
		*out = e;
	}
	pthread_mutex_unlock(&cc->lock);
	return rc;
}

void bfs_chunkcache_complete(struct bfs_chunkcache *cc, struct bfs_cc_entry *e,
			     int rc)
{
	pthread_mutex_lock(&cc->lock);
	if (e->state == CC_LOADING) {
		if (rc == 0) {
			e->state = CC_READY;
		} else {
			e->state = CC_FAILED;
			e->rc = rc < 0 ? rc : -EIO;
			cc->st.failures++;
			if (e->in_table)
				table_remove(cc, e);
		}
		pthread_cond_broadcast(done_cond(cc, e));
	}
	pthread_mutex_unlock(&cc->lock);
}

int bfs_chunkcache_wait(struct bfs_chunkcache *cc, struct bfs_cc_entry *e)
{
	int rc;

	pthread_mutex_lock(&cc->lock);
	while (e->state == CC_LOADING) {
		pthread_cond_wait(done_cond(cc, e), &cc->lock);
		cc->st.wakeups++;
	}
	rc = e->state == CC_READY ? 0 : e->rc;
	pthread_mutex_unlock(&cc->lock);
	return rc;
}

static void release(struct bfs_chunkcache *cc, struct bfs_cc_entry *e,
		    bool behind)
{
	if (!e)
		return;
	pthread_mutex_lock(&cc->lock);
	if (behind)
		e->read_out = true;
	if (--e->refs == 0) {
		if (!e->in_table) {
			entry_free(e);
		} else if (e->state == CC_READY) {
			lru_push_head(cc, e, e->read_out);
			make_room(cc, 0);
		} else {
			/* A loader dropped its reference without completing:
			 * treat as a failed load so waiters cannot hang. */
			e->state = CC_FAILED;
			e->rc = -EIO;
			table_remove(cc, e);
			pthread_cond_broadcast(done_cond(cc, e));
			entry_free(e);
		}
	}
	pthread_mutex_unlock(&cc->lock);
}

void bfs_chunkcache_release(struct bfs_chunkcache *cc, struct bfs_cc_entry *e)
{
	release(cc, e, false);
}

void bfs_chunkcache_release_behind(struct bfs_chunkcache *cc,
				   struct bfs_cc_entry *e)
{
	release(cc, e, true);
}

uint8_t *bfs_cc_data(struct bfs_cc_entry *e)
{
	return e->data;
}

uint32_t bfs_cc_len(const struct bfs_cc_entry *e)
{
	return e->len;
}

void bfs_chunkcache_stats(struct bfs_chunkcache *cc, struct bfs_cc_stats *s)
{
	pthread_mutex_lock(&cc->lock);
	*s = cc->st;
	pthread_mutex_unlock(&cc->lock);
}
