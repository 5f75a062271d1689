/* copy_rewrite.h - copy one backup into a repository whose blob ids
 * differ from the source's (plain <-> encrypted, or two encrypted
 * repositories with different master keys), by writing it again.
 *
 * The source's trees are walked (src/locmap.c) and every entry goes into
 * the target's backup writer: same id, time, host, tags, job and sources;
 * same names, types, modes, owners, times, sizes, targets, hardlinks and
 * error entries.  File contents are streamed chunk by chunk from the
 * source (each chunk read and verified, never a whole file in memory)
 * and chunked again by the target, so their ids are the target's and
 * dedup there works as for any backup.  A blob a key of the file's tree
 * line names (bfs_tree_keys: "dt", the dump map) is read from the source
 * and kept byte for byte, stored under the target's id.  The writer
 * holds the manifest back (bfs_backup_opts.held); the new trees are
 * walked and every entry compared with the source's (a digest of its
 * fields; the key blobs by their target ids; contents by length and by
 * every chunk being in an index object of the target, or with verify by
 * reading every chunk and key blob back and comparing a SHA-256 of the
 * whole content with the source's).  Only then is the manifest stored:
 * a copy that fails, or is killed, at any point before leaves no
 * backup in the target (only unreferenced packs, which prune removes).
 *
 * Used by bfs_copy (copy.c) when bfs_repo_same_keys is false.  Not
 * thread-safe: one thread drives a struct bfs_xcopy.
 */
#ifndef BFS_COPY_REWRITE_H
#define BFS_COPY_REWRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "locmap.h"
#include "repo.h"
#include "tree.h"
#include "util.h"

struct bfs_lock;
struct bfs_xcopy;

/* Start rewriting backups from src (its index objects in src_lm, loaded;
 * both borrowed) into dst (borrowed; its index objects are loaded here,
 * once).  lock: the target lock the caller holds (may be NULL), checked
 * before each manifest is written.  verify: read every written chunk
 * back.  threads: writer threads (0: number of CPUs).  0 / -errno. */
int bfs_xcopy_new(struct bfs_repo *src, struct bfs_locmap *src_lm,
		  struct bfs_repo *dst, struct bfs_lock *lock, bool verify,
		  unsigned threads, struct bfs_xcopy **out,
		  struct bfs_err *err);
void bfs_xcopy_free(struct bfs_xcopy *x); /* NULL ok */

/* Write backup man (the source's parsed manifest, borrowed) into the
 * target, then verify it as described above.  *stored (may be NULL):
 * compressed bytes added to the target's packs.  0, -EEXIST (the target
 * has that backup), -EUCLEAN (corrupt source, or the written backup
 * differs: nothing was published), -ENOENT (a blob no index object
 * names), store, lock and writer errors; the message names the path. */
int bfs_xcopy_backup(struct bfs_xcopy *x, const struct bfs_manifest2 *man,
		     uint64_t *stored, struct bfs_err *err);

#endif
