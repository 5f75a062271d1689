/* check.h - `backupfs check`: prove that a repository is whole
 * (doc/FORMAT.md is what "whole" means).
 *
 * What is checked, in this order:
 *   0. in an encrypted repository, every key object (keys/<64 hex>): its
 *      size is the listed one and at most 4096 bytes, its bytes hash to
 *      its name, it parses (version, kdf, scrypt parameters within the
 *      bounds of FORMAT 19, salt, nonce and wrapped keys of their exact
 *      sizes); the one the repository was opened with is there and
 *      still opens to the master keys in use (others, of other
 *      passwords, are checked as far as that goes without them);
 *   1. every index object: its bytes hash to its name, it parses;
 *   2. every pack an index object names: it is listed under packs/, its
 *      size is the one the index object implies, its own index (footer,
 *      entries, checksum) is valid and agrees with the index object entry
 *      for entry (id, type, offset, lengths).  Only the pack's index
 *      region is read (a range get), unless the pack is read whole:
 *   3. with read_data (all packs, or the subset the options select):
 *      the whole pack hashes to its name, and every blob decompresses
 *      and hashes to its id;
 *   4. every manifest (one at a time): it parses, its id is its name, and
 *      its trees walk cleanly: every tree part and chunk-list blob is in
 *      an index object with type tree, hashes right and parses, names are
 *      sorted, counts agree; every chunk is in an index object with type
 *      data and the length the tree says, and a file's chunks add up to
 *      its size.
 * Damage found in 1-3 is attributed, during 4, to every backup and path
 * it breaks (a blob no good index object names, but a damaged one does
 * as far as it parses, to that index object).  Subtrees already found whole in
 * an earlier backup are not walked again (a tree names its content, so it is
 * the same subtree).
 *
 * Packs no index object names, and blobs no backup references, are
 * garbage (prune removes them), not damage.
 *
 * Memory: the blob locations (~60 bytes per blob), one record per
 * directory found whole, the problems; one manifest at a time; with
 * read_data, jobs whole packs at once.
 */
#ifndef BFS_CHECK_H
#define BFS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo.h"
#include "util.h"

#define BFS_CHECK_MAX_PATHS 20 /* default paths kept per problem */

struct bfs_check_opts {
	bool read_data; /* read (a subset of) the packs whole */
	/* Subsets of read_data (at most one): K/N with 1 <= K <= N, or a
	 * percentage 0 < pct <= 100.  Neither: every pack. */
	unsigned subset_k, subset_n;
	double subset_pct;
	unsigned jobs;	    /* packs checked in parallel (0: one per
			       CPU, 2..8) */
	unsigned max_paths; /* paths kept per problem (0: 20) */
	/* Called (from the calling thread) as each phase starts, with a
	 * short description; may be NULL. */
	void (*progress)(void *arg, const char *what);
	void *progress_arg;
};

/* Whether --read-data-subset selects pack id.  The bucket of a pack is
 * its first 8 bytes as a big-endian integer x: K/N selects x mod N ==
 * K - 1 (so 1/N .. N/N select every pack exactly once); pct selects
 * x < pct/100 * 2^64 (a deterministic pct% of the packs, the same ones
 * every time).  Without a subset every pack is selected.  Pure. */
bool bfs_check_selects(const struct bfs_check_opts *o,
		       const uint8_t id[BFS_HASH_LEN]);

/* Parse "K/N" or "N%" (N may have a fraction, e.g. "2.5%") into o.
 * 0 or -EINVAL. */
int bfs_check_parse_subset(const char *s, struct bfs_check_opts *o);

/* A path a problem breaks. */
struct bfs_check_path {
	char *backup; /* owned */
	char *path;   /* owned; "" is the backup's root */
};

/* One thing that is wrong. */
struct bfs_check_problem {
	/* "key" (a key object of an encrypted repository), "index" (an
	 * index object), "pack", "blob" (one blob: damaged in
	 * its pack, or in no index object), "tree" (a tree part or list
	 * blob that does not parse, or a directory whose parts disagree),
	 * "manifest", "io" (could not be read: not proven damaged). */
	const char *kind;
	char *object;	/* owned: the key or blob id it is about */
	char *message;	/* owned: what is wrong */
	char **backups; /* owned: every backup it breaks, in order */
	size_t nbackups;
	struct bfs_check_path *paths; /* owned: the first max_paths */
	size_t npaths;
	uint64_t more_paths; /* paths broken beyond those */
};

struct bfs_check_report {
	/* owned; sorted by kind (key, index, pack, blob, tree, manifest,
	 * io),
	 * then object */
	struct bfs_check_problem *problems;
	size_t nproblems;
	uint64_t key_objects;	/* listed (encrypted repository) */
	uint64_t index_objects; /* listed */
	uint64_t packs;		/* named by index objects */
	uint64_t packs_read;	/* read whole (read_data) */
	uint64_t bytes_read;	/* of packs read whole */
	uint64_t blobs;		/* in the index objects (distinct ids) */
	uint64_t blobs_read;	/* decompressed and hashed */
	uint64_t plain_read;	/* their plain bytes */
	uint64_t backups;	/* manifests */
	uint64_t entries;	/* entries walked (memoised subtrees
				   count) */
	uint64_t referenced;	/* blobs some backup references */
	uint64_t missing_blobs; /* referenced, in no index object (the
				   first 1000 get a problem each, the rest
				   share one, object "(more)") */
	/* Garbage: packs under packs/ no index object names, and blobs in
	 * indexed packs that no backup references (duplicates included). */
	uint64_t garbage_packs, garbage_pack_bytes;
	uint64_t garbage_blobs, garbage_blob_bytes;
	uint64_t damaged;   /* problems of a kind other than "io" */
	uint64_t io_errors; /* problems of kind "io" */
};

/* Check r (opened: its config parsed) as described above.  Problems go
 * into *rep (bfs_check_report_clear frees them), whose counts say what
 * was covered.  Returns 0 when the check ran to its end (rep->damaged
 * and rep->io_errors say the outcome), or -errno when it could not run
 * (a listing failed, out of memory: err says why; rep keeps what was
 * found).  Not thread-safe on one report; uses its own thread pool. */
int bfs_check(struct bfs_repo *r, const struct bfs_check_opts *o,
	      struct bfs_check_report *rep, struct bfs_err *err);

void bfs_check_report_clear(struct bfs_check_report *rep); /* zeroes */

#endif
