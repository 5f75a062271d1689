/* writer_set.h - the writer's growing sets (private to the writer), each
 * a bfs_hmap (hmap.h) keyed by a hash that is uniform already:
 *   chunkset  new chunks of this session: SHA-256 -> location;
 *   packset   packs an index dedup hit pointed into: id -> present;
 *   pathset   the kinds of the paths written so far (duplicate, parent
 *             and hardlink checks): first 16 bytes of SHA-256(path) ->
 *             kind (and size, for hardlinks).  Bounded while the paths
 *             come in tree order (see struct pathset).
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

/* While every path set so far came in tree order (bfs_path_tree_cmp:
 * a source walking a tree with sorted names), a new path greater than
 * all of them cannot be a duplicate, and of the earlier paths only the
 * ancestors of the greatest one (`max`) can still be asked about: their
 * kinds are kept in `chain`, one per component of max (PK_NONE for a
 * prefix never set).  The map then holds only what may be asked about
 * out of that order: possible hardlink targets (bfs_pathset_keep),
 * implicit directories, and paths set out of order.  So memory stays
 * bounded by the depth of the tree and the number of hardlinked files.
 * A path out of order (bfs_pathset_in_order false) may repeat any path
 * written so far: the writer reads it and its ancestors back from its
 * tree spool into the map (bfs_pathset_add_absent, bfs_pathset_scanned),
 * which costs a pass over the spool; from the BFS_PATHSET_SCANS-th such
 * path on it reads every path back and calls bfs_pathset_go_full, after
 * which the map holds every path, as it did before. */
#define BFS_PATHSET_SCANS 8
struct pathset {
	struct bfs_hmap m;
	bool full;	    /* the map holds every path */
	struct bfs_buf max; /* !full: the greatest path set so far */
	uint8_t *chain;	    /* !full: kinds of max's prefixes */
	size_t nchain, chaincap;
	struct bfs_buf scanned; /* !full: the last path out of order (it
				   and its ancestors are in the map) */
	unsigned nscans;	/* paths out of order so far */
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

/* Tree order of two paths: component by component, bytewise ('/' sorts
 * before every other byte, as the end of a name does); <0, 0, >0. */
int bfs_path_tree_cmp(const char *a, size_t an, const char *b, size_t bn);

/* Whether asking about / setting p[0..n) keeps the set exact without
 * the full map: it is full already, p is max or one of its ancestors,
 * or p comes after max. */
bool bfs_pathset_in_order(const struct pathset *s, const char *p, size_t n);
/* Going full: add p[0..n) with kind unless the map has it (0 / -ENOMEM);
 * then bfs_pathset_go_full moves the chain's kinds into the map (they win
 * over what was added) and keeps every path from then on. */
int bfs_pathset_add_absent(struct pathset *s, const char *p, size_t n,
			   int kind);
int bfs_pathset_go_full(struct pathset *s);
/* p[0..n), out of order, and its ancestors are in the map now: asking
 * about p again is in order.  0 / -ENOMEM. */
int bfs_pathset_scanned(struct pathset *s, const char *p, size_t n);
/* Keep p[0..n) (set already) in the map for good: a possible hardlink
 * target, asked about later out of tree order.  0 / -ENOMEM. */
int bfs_pathset_keep(struct pathset *s, const char *p, size_t n);

/* Kind of path p[0..n) (PK_NONE if absent). */
int bfs_pathset_get(struct pathset *s, const char *p, size_t n);
/* Set the kind of p[0..n), adding it if needed.  0 / -ENOMEM. */
int bfs_pathset_set(struct pathset *s, const char *p, size_t n, int kind);
/* Remember / look up the size of a present path (0 if absent; only
 * a path kept in the map has one). */
void bfs_pathset_set_size(struct pathset *s, const char *p, size_t n,
			  uint64_t size);
uint64_t bfs_pathset_size(struct pathset *s, const char *p, size_t n);

#endif
