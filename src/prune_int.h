/* prune_int.h - prune's state, shared by prune.c (plan), prune_apply.c
 * (repack, write, delete) and prune_seen.c (the grace record).  Internal
 * to those files. */
#ifndef BFS_PRUNE_INT_H
#define BFS_PRUNE_INT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "hmap.h"
#include "locmap.h"
#include "prune.h"
#include "tree.h"

enum pp_action {
	PP_KEEP = 0,
	PP_DELETE,  /* indexed, no live blob */
	PP_REPACK,  /* live blobs copied out, then deleted */
	PP_GARBAGE, /* named by no index object: deleted */
};

/* One pack, listed in packs/ or named by an index object (or both). */
struct pp_pack {
	uint8_t id[BFS_HASH_LEN];
	uint64_t size; /* listed size */
	bool listed, indexed;
	bool young;
	bool carried; /* named by the new index object */
	enum pp_action action;
	size_t blob_first, nblobs; /* its index line, in pr->blobs */
	uint64_t frame_bytes;	   /* sum of clen */
	uint64_t live_bytes;	   /* sum of clen of its live blobs */
	uint64_t nlive;
	int64_t seen_s; /* unindexed: first seen (0 unknown) */
};

/* One index object. */
struct pp_index {
	uint8_t name[BFS_HASH_LEN];
	size_t ref_first, nrefs; /* pack ordinals, in pr->refs */
	bool young;
	bool affected;	/* names a pack deleted or repacked */
	int64_t seen_s; /* first seen (0 unknown) */
};

/* A pack ordinal's record in pr->pack_map. */
struct pp_pack_rec {
	uint8_t id[BFS_HASH_LEN];
	uint32_t ord;
};

/* A seen-record entry (prune_seen.c): kind 'i' index object, 'p' pack. */
struct pp_seen_rec {
	uint8_t id[BFS_HASH_LEN]; /* key */
	int64_t seen_s;
};

struct prune {
	struct bfs_repo *r;
	const struct bfs_prune_opts *o;
	struct bfs_prune_stats *st;
	int64_t now_s;
	struct bfs_locmap *lm;
	struct bfs_hmap pack_map; /* id -> ordinal (struct pp_pack_rec) */
	struct pp_pack *packs;
	size_t npacks, packs_cap;
	struct pp_index *idx;
	size_t nidx, idx_cap;
	uint32_t *refs; /* pack ordinals named by index objects */
	size_t nrefs, refs_cap;
	struct bfs_idx_blob *blobs; /* every pack's index line */
	size_t nblobs, blobs_cap;
	struct bfs_hmap live; /* blob ids reached (key only) */
	/* the grace record: what earlier runs saw, and its objects */
	struct bfs_hmap seen_index, seen_packs; /* struct pp_seen_rec */
	uint8_t (*seen_objs)[BFS_HASH_LEN];	/* prune/<name> read */
	size_t nseen_objs;
};

/* Grow *v (of *cap elements of size sz) to hold n + 1.  0 / -ENOMEM. */
static inline int pp_grow(void **v, size_t *cap, size_t n, size_t sz)
{
	size_t nc;
	void *nv;

	if (n < *cap)
		return 0;
	nc = *cap ? 2 * *cap : 64;
	nv = realloc(*v, nc * sz);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

/* prune_seen.c: read every prune/<name> object into seen_index /
 * seen_packs (earliest time wins).  Objects whose bytes do not hash to
 * their name or do not parse are ignored with a warning (the record
 * only ever makes prune more careful: a lost entry counts as "seen
 * now"). */
int pp_seen_load(struct prune *pr, struct bfs_err *err);
/* First-seen time of an index object / unindexed pack (0: never seen). */
int64_t pp_seen_index(struct prune *pr, const uint8_t name[BFS_HASH_LEN]);
int64_t pp_seen_pack(struct prune *pr, const uint8_t id[BFS_HASH_LEN]);
/* Write the record of this run: every index object that stays (plus
 * new_index, when non-NULL, as seen now) and every unindexed pack that
 * stays, with their first-seen times; then delete the records read. */
int pp_seen_write(struct prune *pr, const uint8_t *new_index,
		  struct bfs_err *err);

/* prune_apply.c: repack, write the new index object, delete (in the
 * order of prune.h).  lock may be NULL (tests). */
int pp_apply(struct prune *pr, struct bfs_lock *lock, struct bfs_err *err);

#endif
