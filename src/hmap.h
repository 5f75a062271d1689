/* hmap.h - the one hash table: fixed-size records stored inline, keyed by
 * their first key_size bytes.  Open addressing with linear probing and
 * backward-shift deletion (no tombstones), grown at 7/8 load, never
 * shrunk.  One allocation for the records and one control byte per slot,
 * so a million 48-byte records cost ~56 MiB at worst and no malloc per
 * record.
 *
 *   struct rec { uint8_t hash[32]; uint64_t where; };
 *   struct bfs_hmap m;
 *   bfs_hmap_init(&m, sizeof(struct rec), 32, 0);
 *   struct rec r = { ... }, *p;
 *   bfs_hmap_insert(&m, &r, (void **)&p);
 *   p = bfs_hmap_find(&m, key);
 *   bfs_hmap_fini(&m);
 *
 * Keys are compared with memcmp and hashed with bfs_hash64 (or, when
 * key_size >= 8 and the keys are already uniform, such as SHA-256 hashes,
 * use BFS_HMAP_PREHASHED: the first 8 key bytes are the hash).  Variable
 * length keys (paths) are stored as a fixed digest: bfs_sha256 truncated
 * to 16 bytes is what the writer and the catalog use.
 *
 * Pointers returned by find/insert stay valid until the next insert or
 * remove.  Not thread-safe: the owner locks.
 */
#ifndef BFS_HMAP_H
#define BFS_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BFS_HMAP_PREHASHED 1u /* flag: key bytes 0..7 are the hash */

struct bfs_hmap {
	uint8_t *recs; /* cap * rec_size bytes */
	uint8_t *ctrl; /* cap bytes: 0 empty, 1 used */
	size_t cap;    /* power of two, or 0 before the first insert */
	size_t n;      /* records stored */
	size_t rec_size, key_size;
	unsigned flags;
};

/* 64-bit hash of n bytes (not cryptographic; stable within a process). */
uint64_t bfs_hash64(const void *p, size_t n);

/* Prepare an empty map for records of rec_size bytes whose first key_size
 * bytes are the key (1 <= key_size <= rec_size).  cap_hint pre-sizes for
 * that many records (0: grow on demand).  flags: 0 or BFS_HMAP_PREHASHED.
 * 0, -EINVAL, -ENOMEM. */
int bfs_hmap_init(struct bfs_hmap *m, size_t rec_size, size_t key_size,
		  size_t cap_hint, unsigned flags);
void bfs_hmap_fini(struct bfs_hmap *m); /* frees; m may be reused
					   after bfs_hmap_init */
/* Remove every record, keep the memory. */
void bfs_hmap_clear(struct bfs_hmap *m);

/* The record with this key, or NULL. */
void *bfs_hmap_find(const struct bfs_hmap *m, const void *key);

/* Copy rec (key included) into the map.  If its key is present already,
 * nothing is copied and -EEXIST is returned.  *slot (if not NULL) is set
 * to the stored record in both cases.  0, -EEXIST, -ENOMEM. */
int bfs_hmap_insert(struct bfs_hmap *m, const void *rec, void **slot);

/* Find the record with this key or add a zeroed one carrying the key.
 * *added says which.  0 or -ENOMEM. */
int bfs_hmap_get(struct bfs_hmap *m, const void *key, void **slot, bool *added);

/* Remove the record with this key.  0 or -ENOENT. */
int bfs_hmap_remove(struct bfs_hmap *m, const void *key);

static inline size_t bfs_hmap_count(const struct bfs_hmap *m)
{
	return m->n;
}

/* Iterate: start with *it = 0; returns each record once, then NULL.
 * The map must not change during the iteration. */
void *bfs_hmap_next(const struct bfs_hmap *m, size_t *it);

#endif
