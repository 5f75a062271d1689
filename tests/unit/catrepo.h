/* catrepo.h - format-2 backups written by hand for the catalog's tests:
 * a directory tree described as nested arrays becomes tree blobs in one
 * pack, one index object and a manifest, all in a real repository.  Unlike
 * the backup writer it can lie (a wrong "count" or size, names out of
 * order, a tree part in no index object), which the catalog must catch.
 * File content is never stored: data chunks are listed in the index
 * object at made-up locations. */
#ifndef BFS_TEST_CATREPO_H
#define BFS_TEST_CATREPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/repo.h"
#include "src/tree.h"
#include "src/util.h"

#define CR_CHUNK 1000 /* plain length of every made-up chunk */

struct cr_node {
	const char *name;
	int type;		    /* BFS_T_*; 0 = file */
	unsigned nchunks;	    /* files: chunks of CR_CHUNK bytes */
	unsigned seed;		    /* files: chunk ids depend on (seed, i) */
	const char *link;	    /* hardlink: the group's first path */
	uint32_t nl;		    /* the group's first entry: paths in it */
	const char *target;	    /* symlink */
	const struct cr_node *kids; /* directories, in the order given */
	size_t nkids;
	int64_t count_lie; /* directories: added to the true "count" */
	int64_t size_lie;  /* files: added to the true size */
	bool split;	   /* directories: one part per line */
	bool hide;	   /* directories: parts in no index object */
	const char *err;   /* unreadable at backup time: why ("err") */
	uint64_t size;	   /* with err: the size to claim ("s") */
	const char *raw;   /* the whole line (JSON, no '\n'), written as
			      is: what the writer would refuse */
	/* files: real chunks (stored and indexed by the caller), instead
	 * of nchunks made-up ones; at most BFS_TREE_INLINE_REFS */
	const struct bfs_blobref *refs;
	size_t nrefs;
};

/* What cr_write produced when not stored (keep != NULL). */
struct cr_out {
	struct bfs_buf manifest, idx;
	char idxname[BFS_HASH_HEX + 1];
};

/* Write backup id (time t, sources JSON or NULL) whose root holds
 * kids[0..n).  Puts the pack always; the index object and the manifest
 * too unless keep != NULL (then handed out there, clear with
 * cr_out_clear).  0 or -errno (with a diag line). */
int cr_write(struct bfs_repo *r, const char *id, int64_t t, const char *sources,
	     const struct cr_node *kids, size_t n, struct cr_out *keep);
void cr_out_clear(struct cr_out *o);

/* The made-up id of chunk i of seed. */
void cr_chunk_id(uint8_t out[BFS_HASH_LEN], unsigned seed, unsigned i);

#endif
