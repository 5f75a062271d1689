/* locmap.h - where the blobs of a repository live, read from its index
 * objects (index/<name>, tree.h) into memory: blob id -> (pack, offset,
 * compressed and plain length, type), pack -> the index object naming
 * it.  ~60 bytes per blob.  For the engine code that works on a whole
 * repository without a catalog: copy (which packs and index objects a
 * backup needs) and migrate (a struct bfs_index for the writer).
 *
 * Index objects are untrusted: each one's bytes must hash to its name,
 * and bfs_idxobj_parse checks the grammar.  When two index objects name
 * the same pack, or two packs hold the same blob, the first one loaded
 * wins (either is right: they hold the same bytes).
 *
 * Thread safety: every function takes the map's own lock, so the
 * struct bfs_index made by bfs_locmap_index may be used by the writer's
 * threads while the owner adds objects.
 */
#ifndef BFS_LOCMAP_H
#define BFS_LOCMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "repo.h"
#include "tree.h"
#include "util.h"

struct bfs_locmap;

/* Where one blob is.  pack_ord / index_ord number the packs and index
 * objects of the map from 0 (stable for its lifetime). */
struct bfs_loc {
	struct bfs_chunkref ref; /* hash, pack, offset, clen, len */
	int type;		 /* BFS_BLOB_* */
	size_t pack_ord;
	size_t index_ord;
};

/* An empty map.  0 or -ENOMEM. */
int bfs_locmap_new(struct bfs_locmap **out, struct bfs_err *err);
void bfs_locmap_free(struct bfs_locmap *m); /* NULL ok */

/* Add every index object of r the map does not hold yet (list "index/",
 * get, verify, parse).  Keys under index/ that are not 64 hex digits are
 * ignored (temp files).  0, -EBADMSG (bytes do not hash to the name),
 * -EUCLEAN (corrupt object), -ENOMEM, store errors; the message names
 * the object. */
int bfs_locmap_load(struct bfs_locmap *m, struct bfs_repo *r,
		    struct bfs_err *err);

/* Add one index object: its name and compressed bytes (borrowed).  An
 * object the map holds already is a no-op.  Same errors as _load. */
int bfs_locmap_add(struct bfs_locmap *m, const uint8_t name[BFS_HASH_LEN],
		   const void *data, size_t len, struct bfs_err *err);

/* Where blob hash is: 0 and *out, or -ENOENT. */
int bfs_locmap_find(struct bfs_locmap *m, const uint8_t hash[BFS_HASH_LEN],
		    struct bfs_loc *out);

/* The bases of delta blob id (type BFS_BLOB_DELTA or BFS_BLOB_DELTA2,
 * the sixth element of its index object line): 0 and *out, or
 * -ENOENT. */
int bfs_locmap_bases(struct bfs_locmap *m, const uint8_t id[BFS_HASH_LEN],
		     struct bfs_bases *out);
/* Its first base only (the one base of a type-2 blob): 0 and base, or
 * -ENOENT. */
int bfs_locmap_base(struct bfs_locmap *m, const uint8_t id[BFS_HASH_LEN],
		    uint8_t base[BFS_HASH_LEN]);

/* bfs_repo_locate_fn over the map arg (a struct bfs_locmap *): where
 * blob id is, for bfs_repo_set_locate (delta bases).  Thread-safe. */
int bfs_locmap_locate(void *arg, const uint8_t id[BFS_HASH_LEN],
		      struct bfs_chunkref *out);

/* Mark blob hash (one bit per blob, in the padding of its record: no
 * memory of its own), e.g. "referenced by a backup" for check.  0 and
 * *was (may be NULL) = whether it was marked before, or -ENOENT. */
int bfs_locmap_mark(struct bfs_locmap *m, const uint8_t hash[BFS_HASH_LEN],
		    bool *was);

/* Is pack named by an index object of the map?  *index_ord (may be NULL)
 * gets the first one naming it. */
bool bfs_locmap_has_pack(struct bfs_locmap *m, const uint8_t pack[BFS_HASH_LEN],
			 size_t *index_ord);
bool bfs_locmap_has_index(struct bfs_locmap *m,
			  const uint8_t name[BFS_HASH_LEN]);

/* Counts, and the packs and index objects by ordinal (i < count). */
size_t bfs_locmap_npacks(struct bfs_locmap *m);
size_t bfs_locmap_nindex(struct bfs_locmap *m);
size_t bfs_locmap_nblobs(struct bfs_locmap *m);
/* Pack i: its id into pack, the ordinal of its index object. */
void bfs_locmap_pack(struct bfs_locmap *m, size_t i, uint8_t pack[BFS_HASH_LEN],
		     size_t *index_ord);
void bfs_locmap_index_name(struct bfs_locmap *m, size_t i,
			   uint8_t name[BFS_HASH_LEN]);

/* "index/<64 hex>" of name into key (BFS_KEY_MAX bytes). */
void bfs_locmap_index_key(char *key, const uint8_t name[BFS_HASH_LEN]);

/* A struct bfs_index over the map (borrowed: m must outlive *out, which
 * needs no bfs_index_free): chunk_find looks blobs up, pack_present says
 * whether an index object names the pack, prev_dir is -ENOENT (nothing
 * to reuse), record adds the backup's index object to the map (so a
 * later backup finds its tree parts), has_backup is false. */
void bfs_locmap_index(struct bfs_locmap *m, struct bfs_index *out);

/* ---- walking a backup's trees ------------------------------------------
 */

/* Called for every entry of a backup, parents before children, siblings
 * in name order.  te describes it (te->e.path is the NAME), path is the
 * full path inside the backup (NUL-terminated), chunks/nchunks the file's
 * content refs (inline or read from its list blobs; 0 for other types).
 * Everything borrowed for the call.  Return 0 or -errno (stops the walk,
 * which returns it). */
typedef int (*bfs_locmap_walk_cb)(void *arg, const struct bfs_tree_entry *te,
				  const char *path,
				  const struct bfs_blobref *chunks,
				  size_t nchunks);

/* Walk the trees below root[0..nroot) (a manifest's root parts), reading
 * every tree part and list blob from r at the location m gives (each read
 * verified by hash).  Untrusted: checks the blob types, the name order
 * across the parts of a directory, the depth, and that each directory's
 * count is the number of entries below it; *count (may be NULL) gets
 * the number of entries.  0, -ENOENT (a blob no index object names; the
 * message names it), -EUCLEAN, store errors, or cb's error. */
int bfs_locmap_walk(struct bfs_locmap *m, struct bfs_repo *r,
		    const uint8_t (*root)[BFS_HASH_LEN], size_t nroot,
		    bfs_locmap_walk_cb cb, void *arg, uint64_t *count,
		    struct bfs_err *err);

#endif
