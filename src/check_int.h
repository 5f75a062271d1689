/* check_int.h - what check.c (index objects, packs, problems) and
 * check_walk.c (manifests and their trees) share.  Not an API. */
#ifndef BFS_CHECK_INT_H
#define BFS_CHECK_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "hmap.h"
#include "locmap.h"

/* A key under packs/: listed (size known) and/or named by an index
 * object. */
struct ck_pack {
	uint8_t id[BFS_HASH_LEN];
	uint64_t size;
	uint8_t listed, named;
};

/* A blob id, or a directory key (SHA-256 of its part ids), that a
 * problem is about. */
struct ck_bad {
	uint8_t key[BFS_HASH_LEN];
	uint32_t problem;
};

/* A directory (key as above) whose whole subtree was found intact, and
 * the number of entries below it. */
struct ck_whole {
	uint8_t key[BFS_HASH_LEN];
	uint64_t count;
};

struct check {
	struct bfs_repo *r;		/* borrowed */
	const struct bfs_check_opts *o; /* borrowed */
	struct bfs_check_report *rep;	/* borrowed */
	struct bfs_locmap *m;		/* owned */
	unsigned max_paths;
	/* Protects rep (problems and counts), bad, last_seq, ref_clen,
	 * blob_clen, fatal: pack jobs run on the pool's threads. */
	pthread_mutex_t lock;
	struct bfs_hmap packs; /* struct ck_pack; main thread only */
	struct bfs_hmap bad;   /* struct ck_bad */
	struct bfs_hmap whole; /* struct ck_whole; main thread only */
	/* struct ck_bad: blobs that damaged index objects name (as far as
	 * they parse), under the object's problem; a blob no good object
	 * names is reported under it.  Main thread only. */
	struct bfs_hmap lost;
	uint64_t *last_seq; /* per problem: entry of the last hit */
	size_t problem_cap;
	uint64_t blob_clen; /* stored bytes of the blobs of indexed packs */
	uint64_t ref_clen;  /* stored bytes of the referenced blobs */
	int fatal;	    /* first error that stops the check */
	struct bfs_err fatal_err;
	/* delta blobs whose base was not located while index objects were
	 * still loading: decoded again once all are (under lock) */
	struct bfs_chunkref *later;
	size_t nlater, later_cap;
};

/* Record the first error that stops the check (c->lock held: ck_set_fatal;
 * not held: ck_fail).  Returns rc. */
int ck_set_fatal(struct check *c, int rc, const char *what);
int ck_fail(struct check *c, int rc, const char *what);

/* Record a problem (kind: a string literal, see check.h; object and the
 * message are copied).  Returns its number, or -ENOMEM (c->fatal set).
 * Takes c->lock. */
int ck_problem(struct check *c, const char *kind, const char *object,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Attribute problem p to backup (and path, may be NULL) at entry seq of
 * the walk: the backup is added once, the path once per seq, at most
 * max_paths of them (then more_paths counts).  Takes c->lock. */
int ck_hit(struct check *c, int p, const char *backup, const char *path,
	   uint64_t seq);

/* The problem about key, or -1.  ck_bad_set files key under problem p
 * (the first one wins).  Take c->lock. */
int ck_bad_find(struct check *c, const uint8_t key[BFS_HASH_LEN]);
int ck_bad_set(struct check *c, const uint8_t key[BFS_HASH_LEN], int p);

/* Is rc (from reading an object) damage rather than a failure to
 * read? */
bool ck_is_damage(int rc);

/* Check the key objects of an encrypted repository: see check.h, step
 * 0 (check_keys.c).  Returns c->fatal. */
int ck_check_keys(struct check *c);

/* Walk every manifest of names[0..n): see check.h, step 4. */
int ck_walk_manifests(struct check *c, char **names, size_t n);

#endif
