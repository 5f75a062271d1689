/* writer_set.h - the writer's growing sets (private to the writer), each
 * a bfs_hmap (hmap.h) keyed by a hash that is uniform already:
 *   chunkset  new chunks of this session: SHA-256 -> location;
 *   packset   packs an index dedup hit pointed into: id -> present;
 *   pathset   paths written so far: first 16 bytes of SHA-256(path) ->
 *             kind (and size, for hardlinks).
 * Never shrink.  Not thread-safe: the writer locks around them.
 */
#ifndef BFS_WRITER_SET_H
#define BFS_WRITER_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmap.h"
#include "util.h"

/* A new chunk: pack_idx indexes the writer's packs (the pack may still be
 * open). */
struct chunkloc {
	uint8_t hash[BFS_HASH_LEN];
	uint64_t offset;
	int32_t pack_idx;
	uint32_t clen, len;
};

struct chunkset {
	struct bfs_hmap m;
};

struct packseen {
	uint8_t id[BFS_HASH_LEN];
	bool present;
};

struct packset {
	struct bfs_hmap m;
};

/* Paths written so far, keyed by the first 16 bytes of SHA-256(path). */
enum path_kind {
	PK_NONE = 0,
	PK_DIR_IMPLICIT, /* synthesised parent: a later add updates it */
	PK_DIR,
	PK_REG,		   /* regular file (a hardlink may point at it) */
	PK_OTHER,	   /* symlink, device, hardlink, error entry, ... */
	PK_CANCELLED,	   /* file cancelled before reaching the manifest */
	PK_CANCEL_EMITTED, /* cancelled after spilling: kept as a short file
			      and counted; the next add_error is absorbed */
	PK_DIR_SEALED,	   /* a directory reused whole (its tree from the
			      last backup): nothing may be added below */
};

#define PATHKEY 16
/* Packed: 25 bytes instead of 32 (one slot per path of the backup, the
 * writer's one set that still grows with the number of files). */
struct pathslot {
	uint8_t key[PATHKEY];
	uint64_t size; /* PK_REG: file size once known (for hardlinks) */
	uint8_t kind;  /* enum path_kind */
} __attribute__((packed));

struct pathset {
	struct bfs_hmap m;
	/* the key of the last path asked about: a writer asks about one
	 * path several times in a row (claim, then kind, then size) */
	char last[256];
	size_t last_len; /* 0: none */
	uint8_t last_key[16];
};

/* Prepare empty sets (0 or -ENOMEM); fini frees (safe on a zeroed set). */
int bfs_chunkset_init(struct chunkset *s);
void bfs_chunkset_fini(struct chunkset *s);
int bfs_packset_init(struct packset *s);
void bfs_packset_fini(struct packset *s);
int bfs_pathset_init(struct pathset *s);
void bfs_pathset_fini(struct pathset *s);

/* Location of hash, or NULL.  The pointer is valid until the next insert. */
struct chunkloc *bfs_chunkset_find(struct chunkset *s,
				   const uint8_t hash[BFS_HASH_LEN]);
/* Add c (its hash must not be present).  0 / -ENOMEM. */
int bfs_chunkset_insert(struct chunkset *s, const struct chunkloc *c);

/* 1 present, 0 absent, -ENOENT not asked yet. */
int bfs_packset_get(struct packset *s, const uint8_t id[BFS_HASH_LEN]);
/* Remember the answer for id (kept if known already).  0 / -ENOMEM. */
int bfs_packset_put(struct packset *s, const uint8_t id[BFS_HASH_LEN],
		    bool present);

/* Kind of path p[0..n) (PK_NONE if absent). */
int bfs_pathset_get(struct pathset *s, const char *p, size_t n);
/* Set the kind of p[0..n), adding it if needed.  0 / -ENOMEM. */
int bfs_pathset_set(struct pathset *s, const char *p, size_t n, int kind);
/* Remember / look up the size of a present path (0 if absent). */
void bfs_pathset_set_size(struct pathset *s, const char *p, size_t n,
			  uint64_t size);
uint64_t bfs_pathset_size(struct pathset *s, const char *p, size_t n);

#endif
