/* writer_set.h - the writer's two growing sets (private to writer.c):
 * new chunks of the session (hash -> location) and paths written
 * (truncated SHA-256 -> kind).  Open addressing, linear probing, never
 * shrink or delete.  Not thread-safe: the writer locks around them.
 */
#ifndef BFS_WRITER_SET_H
#define BFS_WRITER_SET_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* New chunks of this session: hash -> location.  pack_idx indexes
 * b->packs (the pack may still be open).  Open addressing, linear
 * probing, never shrinks or deletes. */
struct chunkloc {
	uint8_t hash[BFS_HASH_LEN];
	uint64_t offset;
	int32_t pack_idx;   /* -1: empty slot */
	uint32_t clen, len;
};

struct chunkset {
	struct chunkloc *v;
	size_t cap, n;
};

/* Paths written so far, keyed by the first 16 bytes of SHA-256(path). */
enum path_kind {
	PK_NONE = 0,
	PK_DIR_IMPLICIT,    /* synthesised parent: a later add updates it */
	PK_DIR,
	PK_REG,             /* regular file (a hardlink may point at it) */
	PK_OTHER,           /* symlink, device, hardlink, error entry, ... */
	PK_CANCELLED,       /* file cancelled before reaching the manifest */
	PK_CANCEL_EMITTED,  /* cancelled after spilling: kept as a short file
			       and counted; the next add_error is absorbed */
};

#define PATHKEY 16
struct pathslot {
	uint8_t key[PATHKEY];
	uint64_t size;      /* PK_REG: file size once known (for hardlinks) */
	uint8_t kind;       /* enum path_kind, PK_NONE = empty */
};

struct pathset {
	struct pathslot *v;
	size_t cap, n;
};

/* Location of hash, or NULL.  The pointer is valid until the next insert. */
struct chunkloc *bfs_chunkset_find(struct chunkset *s,
			       const uint8_t hash[BFS_HASH_LEN]);
/* Add c (its hash must not be present).  0 / -ENOMEM. */
int bfs_chunkset_insert(struct chunkset *s, const struct chunkloc *c);
/* Kind of path p[0..n) (PK_NONE if absent). */
int bfs_pathset_get(struct pathset *s, const char *p, size_t n);
/* Set the kind of p[0..n), adding it if needed.  0 / -ENOMEM. */
int bfs_pathset_set(struct pathset *s, const char *p, size_t n, int kind);
/* Remember / look up the size of a present path (0 if absent). */
void bfs_pathset_set_size(struct pathset *s, const char *p, size_t n,
			  uint64_t size);
uint64_t bfs_pathset_size(struct pathset *s, const char *p, size_t n);

#endif
