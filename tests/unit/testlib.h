/* testlib.h - helpers shared by the unit tests (linked into every one of
 * them, see tests/include.am): scratch directories, files, deterministic
 * random data, a repository in a scratch directory.
 *
 * Test code, not library code: on a failure that leaves the test unable
 * to go on (no scratch directory), these print a TAP "Bail out!" and
 * exit.  Not thread-safe unless said otherwise.
 */
#ifndef BFS_TESTLIB_H
#define BFS_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/manifest.h"
#include "src/util.h"

struct bfs_repo;

/* A fresh directory /tmp/NAME.XXXXXX (mode 0700), removed with everything
 * in it at exit unless $BFS_KEEP is set.  The path is owned by testlib
 * and valid until exit.  Bails out on failure. */
const char *tl_tmpdir(const char *name);

/* "DIR/REL" in one of 8 rotating static buffers (so a few can be used in
 * one call).  Paths longer than 4095 bytes bail out. */
const char *tl_path(const char *dir, const char *rel);

/* Remove path and everything below it (never follows symlinks).  A
 * missing path is fine.  0 or -errno. */
int tl_rm_rf(const char *path);

/* Write data to path (created 0644 or truncated; missing parent
 * directories are created).  0 or -errno. */
int tl_write_file(const char *path, const void *data, size_t len);

/* Append the whole content of path to out.  Bytes read or -errno. */
ssize_t tl_read_file(const char *path, struct bfs_buf *out);

/* Number of regular files below dir whose name does not start with
 * ".tmp." (the stores' temporary files), or -errno. */
int tl_count_files(const char *dir);

/* Deterministic pseudo-random numbers (xorshift64): the same seed gives
 * the same data on every run, so failures can be reproduced.  seed must
 * not be 0. */
struct tl_rng {
	uint64_t state;
};
uint64_t tl_rand(struct tl_rng *r);
/* Fill p with n pseudo-random bytes from r. */
void tl_fill_random(struct tl_rng *r, void *p, size_t n);

/* Fill p with n pseudo-random bytes from a generator seeded with seed
 * (any value; the same seed gives the same bytes). */
void tl_fill(void *p, size_t n, uint64_t seed);

/* An entry for the writer: path (borrowed), type, mode 0750 for
 * directories and 0640 otherwise, the caller's uid and gid, a fixed
 * mtime with nanoseconds.  Everything else 0. */
struct bfs_entry tl_entry(const char *path, int type);

/* Create a repository in DIR/NAME (a local store) and open it: *out is
 * owned by the caller (bfs_repo_close).  0 or -errno with a diag line. */
int tl_make_repo(const char *dir, const char *name, struct bfs_repo **out);

#endif
