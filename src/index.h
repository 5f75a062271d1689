/* index.h - what the backup writer and the sources need from an index of
 * earlier backups, as a table of operations (like the store table in
 * store.h).  The engine calls only these; catalog/catalog_index.c
 * implements them over the SQLite catalog, tests/unit/test-writer.c over
 * a few arrays in memory.
 *
 *   chunk_find     where is a chunk with hash H already stored?
 *   pack_present   is pack P in the repository (the index is a cache and
 *                  may name packs this location does not hold)?
 *   prev_dir       the children of a directory in the last backup of a
 *                  source (unchanged-file detection), one call per dir;
 *   record         a manifest and its index object were written:
 *                  remember them.
 *   has_backup     is a backup of this id known already?  (Checked once
 *                  at begin: the store may lack a backup that the index
 *                  knows from another copy of the repository.)
 *
 * Thread safety: every operation may be called from any thread, also
 * concurrently (the writer's workers call chunk_find and pack_present,
 * the calling thread prev_dir); an implementation takes its own lock.
 * The struct bfs_index is borrowed by the writer for a backup's lifetime.
 */
#ifndef BFS_INDEX_H
#define BFS_INDEX_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "manifest.h"
#include "repo.h"
#include "tree.h"
#include "util.h"

/* The previous content of one directory of a source: its children as
 * the last backup recorded them, sorted by name (bfs_tree_name_cmp).
 * e.path of each is the NAME; chunks are (id, length) refs in file
 * order, for regular files without error and not hardlinks.  Everything
 * owned; bfs_index_dir_clear frees. */
struct bfs_index_prev {
	struct bfs_entry e;
	struct bfs_blobref *chunks;
	size_t nchunks;
	/* directories: the tree (its part ids, possibly none for an empty
	 * one, and the entries below it) when the index has it sound */
	bool has_tree;
	uint8_t (*parts)[BFS_HASH_LEN];
	size_t nparts;
	uint64_t count;
	/* files: the dump map ("dt") the index has for it */
	bool has_dt;
	uint8_t dt[BFS_HASH_LEN];
	/* files: the sketch blob ("sk"; delta bases for the next version) */
	bool has_sk;
	uint8_t sk[BFS_HASH_LEN];
	/* files: the anchor blob ("sa"; second delta bases) */
	bool has_sa;
	uint8_t sa[BFS_HASH_LEN];
};
static inline void bfs_index_prev_free(struct bfs_index_prev *p)
{
	bfs_entry_clear(&p->e);
	free(p->chunks);
	free(p->parts);
	memset(p, 0, sizeof(*p));
}
struct bfs_index_dir {
	struct bfs_index_prev *v;
	size_t n;
};
static inline void bfs_index_dir_clear(struct bfs_index_dir *d)
{
	for (size_t i = 0; i < d->n; i++)
		bfs_index_prev_free(&d->v[i]);
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

struct bfs_index_ops {
	const char *name;
	/* 0 and *out filled, -ENOENT, or another -errno (treated as a
	 * miss by the writer: the chunk is stored again).  Any blob type. */
	int (*chunk_find)(void *ctx, const uint8_t hash[BFS_HASH_LEN],
			  struct bfs_chunkref *out);
	/* 1 present, 0 absent, -errno when it cannot tell. */
	int (*pack_present)(void *ctx, const uint8_t pack[BFS_HASH_LEN]);
	/* The children of directory dirpath ("" = the backup root; a path
	 * inside the backup, so it includes the source's destination) in
	 * the newest backup that lists a source with source_key (see
	 * bfs_backup_add_source).  One call per directory.  0 and *out
	 * filled (clear with bfs_index_dir_clear), -ENOENT (no such backup
	 * or directory), or -errno. */
	int (*prev_dir)(void *ctx, const char *source_key, const char *dirpath,
			struct bfs_index_dir *out);
	/* The same in the newest backup that lists a source of any kind and
	 * spec with destination dest, one of job's first (NULL: made by no
	 * job): where the writer looks for a dump's similarity bases when
	 * the dump's own source has no earlier backup (a --stdin dump
	 * followed by --pg-dump, a connection string that changed).  What
	 * it finds is only a candidate: bases are chosen by content.  May
	 * be NULL (-ENOENT). */
	int (*prev_dest_dir)(void *ctx, const char *dest, const char *job,
			     const char *dirpath, struct bfs_index_dir *out);
	/* Remember backup id: its manifest and the index object written
	 * with it (compressed bytes as stored; idxobj may be NULL when the
	 * backup wrote no pack; manifest NULL when the writer held it back,
	 * bfs_backup_opts.held: then only the index object is remembered).
	 * 0, -EEXIST, or -errno with a message. */
	int (*record)(void *ctx, const char *id, const void *manifest,
		      size_t len, const char *idxname, const void *idxobj,
		      size_t idxlen, struct bfs_err *err);
	/* Learn the blobs of index object idxname (compressed bytes as
	 * stored, borrowed), stored by a writer before its manifest: from
	 * then on chunk_find finds them.  0, or -errno with a message (the
	 * writer then keeps them in its own set).  May be NULL: the writer
	 * keeps every new blob in its set until the end. */
	int (*add_index)(void *ctx, const char *idxname, const void *idxobj,
			 size_t idxlen, struct bfs_err *err);
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

static inline int bfs_index_prev_dir(const struct bfs_index *x,
				     const char *source_key,
				     const char *dirpath,
				     struct bfs_index_dir *out)
{
	return x ? x->ops->prev_dir(x->ctx, source_key, dirpath, out) : -ENOENT;
}

static inline int bfs_index_prev_dest_dir(const struct bfs_index *x,
					  const char *dest, const char *job,
					  const char *dirpath,
					  struct bfs_index_dir *out)
{
	return x && x->ops->prev_dest_dir
		   ? x->ops->prev_dest_dir(x->ctx, dest, job, dirpath, out)
		   : -ENOENT;
}

static inline int bfs_index_record(const struct bfs_index *x, const char *id,
				   const void *manifest, size_t len,
				   const char *idxname, const void *idxobj,
				   size_t idxlen, struct bfs_err *err)
{
	return x ? x->ops->record(x->ctx, id, manifest, len, idxname, idxobj,
				  idxlen, err)
		 : 0;
}

/* -EOPNOTSUPP when x is NULL or has no add_index. */
static inline int bfs_index_add_index(const struct bfs_index *x,
				      const char *idxname, const void *idxobj,
				      size_t idxlen, struct bfs_err *err)
{
	return x && x->ops->add_index
		   ? x->ops->add_index(x->ctx, idxname, idxobj, idxlen, err)
		   : -EOPNOTSUPP;
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
