/* index.h - what the backup writer and the sources need from an index of
 * earlier backups, as a table of operations (like the store table in
 * store.h).  The engine calls only these; catalog/catalog_index.c
 * implements them over the SQLite catalog, tests/unit/test-writer.c over
 * a few arrays in memory.
 *
 *   chunk_find     where is a chunk with hash H already stored?
 *   pack_present   is pack P in the repository (the index is a cache and
 *                  may name packs this location does not hold)?
 *   prev_entry     the entry at a path in the last backup of a source
 *                  (unchanged-file detection), with its chunks;
 *   record         a manifest was written: remember it.
 *   has_backup     is a backup of this id known already?  (Checked once
 *                  at begin: the store may lack a backup that the index
 *                  knows from another copy of the repository.)
 *
 * Thread safety: every operation may be called from any thread, also
 * concurrently (the writer's workers call chunk_find and pack_present,
 * the calling thread prev_entry); an implementation takes its own lock.
 * The struct bfs_index is borrowed by the writer for a backup's lifetime.
 */
#ifndef BFS_INDEX_H
#define BFS_INDEX_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdint.h>

#include "manifest.h"
#include "repo.h"
#include "util.h"

/* The previous entry of a path: the entry as recorded (e.path is the
 * full path asked for; strings owned) and, for a regular file without
 * error, its chunks in file order (owned, may be NULL when n is 0). */
struct bfs_index_prev {
	struct bfs_entry e;
	struct bfs_chunkref *chunks;
	size_t nchunks;
};
static inline void bfs_index_prev_clear(struct bfs_index_prev *p)
{
	bfs_entry_clear(&p->e);
	free(p->chunks);
	p->chunks = NULL;
	p->nchunks = 0;
}

struct bfs_index_ops {
	const char *name;
	/* 0 and *out filled, -ENOENT, or another -errno (treated as a
	 * miss by the writer: the chunk is stored again). */
	int (*chunk_find)(void *ctx, const uint8_t hash[BFS_HASH_LEN],
			  struct bfs_chunkref *out);
	/* 1 present, 0 absent, -errno when it cannot tell. */
	int (*pack_present)(void *ctx, const uint8_t pack[BFS_HASH_LEN]);
	/* The entry at path in the newest backup that lists a source with
	 * source_key (see bfs_backup_add_source).  0 and *out filled (clear
	 * it with bfs_index_prev_clear), -ENOENT (no such backup or path),
	 * or -errno. */
	int (*prev_entry)(void *ctx, const char *source_key, const char *path,
			  struct bfs_index_prev *out);
	/* Remember the manifest of backup id (compressed bytes as stored).
	 * 0, -EEXIST, or -errno with a message in err. */
	int (*record)(void *ctx, const char *id, const void *manifest,
		      size_t len, struct bfs_err *err);
	/* true if a backup of this id is known. */
	bool (*has_backup)(void *ctx, const char *id);
	/* Free ctx (bfs_index_free).  May be NULL. */
	void (*destroy)(void *ctx);
};

struct bfs_index {
	const struct bfs_index_ops *ops;
	void *ctx;
};

/* Call the ops with a NULL index meaning "no index" (no dedup against
 * earlier backups, nothing reused, nothing recorded). */
static inline int bfs_index_chunk_find(const struct bfs_index *x,
				       const uint8_t hash[BFS_HASH_LEN],
				       struct bfs_chunkref *out)
{
	return x ? x->ops->chunk_find(x->ctx, hash, out) : -ENOENT;
}

static inline int bfs_index_pack_present(const struct bfs_index *x,
					 const uint8_t pack[BFS_HASH_LEN])
{
	return x ? x->ops->pack_present(x->ctx, pack) : 0;
}

static inline int bfs_index_prev_entry(const struct bfs_index *x,
				       const char *source_key, const char *path,
				       struct bfs_index_prev *out)
{
	return x ? x->ops->prev_entry(x->ctx, source_key, path, out) : -ENOENT;
}

static inline int bfs_index_record(const struct bfs_index *x, const char *id,
				   const void *manifest, size_t len,
				   struct bfs_err *err)
{
	return x ? x->ops->record(x->ctx, id, manifest, len, err) : 0;
}

static inline bool bfs_index_has_backup(const struct bfs_index *x,
					const char *id)
{
	return x && x->ops->has_backup(x->ctx, id);
}

/* Free an index made by a constructor (bfs_catalog_index_new, ...).
 * NULL ok. */
static inline void bfs_index_free(struct bfs_index *x)
{
	if (x && x->ops->destroy)
		x->ops->destroy(x->ctx);
}

#endif
