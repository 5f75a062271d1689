/* reach.c - the blobs backups reach (reach.h).
 *
 * A depth-first walk with an explicit stack of tree part ids (no
 * recursion: a hostile tree may be deep), and a set of the tree blobs
 * visited, shared by all the backups walked with one walker.  The shape
 * is that of copy.c's walk, which marks packs instead of calling back.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "hmap.h"
#include "reach.h"
#include "tree.h"

struct bfs_reach {
	struct bfs_locmap *lm;
	struct bfs_repo *r;
	bfs_reach_cb cb;
	void *arg;
	struct bfs_hmap visited; /* tree blob ids */
	const char *backup;	 /* for messages, during a walk */
	uint8_t (*stack)[BFS_HASH_LEN];
	size_t nstack, stack_cap;
	struct bfs_buf plain;
};

int bfs_reach_new(struct bfs_locmap *m, struct bfs_repo *r, bfs_reach_cb cb,
		  void *arg, struct bfs_reach **out, struct bfs_err *err)
{
	struct bfs_reach *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w || bfs_hmap_init(&w->visited, BFS_HASH_LEN, BFS_HASH_LEN, 0,
				BFS_HMAP_PREHASHED)) {
		free(w);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	w->lm = m;
	w->r = r;
	w->cb = cb;
	w->arg = arg;
	*out = w;
	return 0;
}

void bfs_reach_free(struct bfs_reach *w)
{
	if (!w)
		return;
	bfs_hmap_fini(&w->visited);
	free(w->stack);
	bfs_buf_free(&w->plain);
	free(w);
}

size_t bfs_reach_trees(const struct bfs_reach *w)
{
	return bfs_hmap_count(&w->visited);
}

static int push(struct bfs_reach *w, const uint8_t id[BFS_HASH_LEN])
{
	if (w->nstack == w->stack_cap) {
		size_t nc = w->stack_cap ? 2 * w->stack_cap : 64;
		uint8_t(*nv)[BFS_HASH_LEN] =
		    realloc(w->stack, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		w->stack = nv;
		w->stack_cap = nc;
	}
	memcpy(w->stack[w->nstack++], id, BFS_HASH_LEN);
	return 0;
}

/* Is tree blob id new to this walker?  Marks it.  1 new, 0 seen,
 * -ENOMEM. */
static int first(struct bfs_reach *w, const uint8_t id[BFS_HASH_LEN])
{
	int rc = bfs_hmap_insert(&w->visited, id, NULL);

	if (rc == -EEXIST)
		return 0;
	return rc ? rc : 1;
}

/* Locate blob id of the given type and report it.  A data chunk or a
 * tree blob may be a delta (FORMAT.md sections 18, 18.1; a data chunk
 * also on several bases, 18.2): each of its bases is reported too, a
 * blob of the same type stored whole (depth 1). */
static int locate(struct bfs_reach *w, const uint8_t id[BFS_HASH_LEN], int type,
		  struct bfs_loc *loc, struct bfs_err *err)
{
	char hex[BFS_HASH_HEX + 1], bhex[BFS_HASH_HEX + 1];
	struct bfs_bases bs;
	struct bfs_loc bl; /* a base's: *loc stays the blob's */
	bool delta;
	size_t i;
	int rc;

	if (bfs_locmap_find(w->lm, id, loc)) {
		bfs_hex(hex, id, BFS_HASH_LEN);
		return bfs_err_set(
		    err, -ENOENT,
		    "backup '%s' needs %s blob %s, which no "
		    "index object names",
		    w->backup, type == BFS_BLOB_TREE ? "tree" : "data", hex);
	}
	delta = loc->type == BFS_BLOB_DELTA ||
		(loc->type == BFS_BLOB_DELTA2 && type == BFS_BLOB_DATA);
	if (loc->type != type && !delta) {
		bfs_hex(hex, id, BFS_HASH_LEN);
		return bfs_err_set(err, -EUCLEAN,
				   "backup '%s': blob %s is of type %d, "
				   "expected %d",
				   w->backup, hex, loc->type, type);
	}
	rc = w->cb(w->arg, loc);
	if (rc || !delta)
		return rc;
	bfs_hex(hex, id, BFS_HASH_LEN);
	if (bfs_locmap_bases(w->lm, id, &bs) || bs.n == 0)
		return bfs_err_set(err, -EUCLEAN,
				   "backup '%s': delta blob %s has no base",
				   w->backup, hex);
	/* every base is live while the delta is */
	for (i = 0; !rc && i < bs.n; i++) {
		bfs_hex(bhex, bs.id[i], BFS_HASH_LEN);
		if (bfs_locmap_find(w->lm, bs.id[i], &bl))
			return bfs_err_set(
			    err, -ENOENT,
			    "backup '%s' needs %s blob %s, the "
			    "base of delta %s, which no index "
			    "object names",
			    w->backup, type == BFS_BLOB_TREE ? "tree" : "data",
			    bhex, hex);
		if (bl.type != type)
			return bfs_err_set(err, -EUCLEAN,
					   "backup '%s': blob %s, the base of "
					   "delta %s, is of type %d, expected "
					   "%d",
					   w->backup, bhex, hex, bl.type, type);
		rc = w->cb(w->arg, &bl);
	}
	return rc;
}

/* Read a located tree blob into w->plain (verified by its hash). */
static int read_tree(struct bfs_reach *w, const struct bfs_loc *loc,
		     struct bfs_err *err)
{
	char hex[BFS_HASH_HEX + 1];
	int rc;

	if (loc->ref.len > BFS_TREE_PART_MAX) {
		bfs_hex(hex, loc->ref.hash, BFS_HASH_LEN);
		return bfs_err_set(err, -EUCLEAN,
				   "backup '%s': tree blob %s is too large "
				   "(%u bytes)",
				   w->backup, hex, loc->ref.len);
	}
	w->plain.len = 0;
	rc = bfs_buf_reserve(&w->plain, loc->ref.len + 1);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	rc = bfs_repo_read_chunk(w->r, &loc->ref, w->plain.data, err);
	if (rc)
		return bfs_err_prefix(err, rc, "backup '%s'", w->backup);
	w->plain.len = loc->ref.len;
	return 0;
}

static int walk_lists(struct bfs_reach *w, const struct bfs_tree_entry *te,
		      struct bfs_err *err)
{
	struct bfs_blobref *refs = NULL;
	struct bfs_loc loc;
	size_t i, j, n = 0;
	int rc = 0;

	for (i = 0; i < te->nlists && !rc; i++) {
		rc = first(w, te->lists[i]);
		if (rc <= 0)
			continue;
		rc = locate(w, te->lists[i], BFS_BLOB_TREE, &loc, err);
		if (!rc)
			rc = read_tree(w, &loc, err);
		if (!rc)
			rc = bfs_tree_list_parse(w->plain.data, w->plain.len,
						 &refs, &n, err);
		for (j = 0; !rc && j < n; j++)
			rc = locate(w, refs[j].hash, BFS_BLOB_DATA, &loc, err);
		free(refs);
		refs = NULL;
	}
	return rc;
}

static int walk_part(struct bfs_reach *w, const uint8_t id[BFS_HASH_LEN],
		     struct bfs_err *err)
{
	struct bfs_tree_part *p = NULL;
	struct bfs_tree_entry te;
	struct bfs_loc loc;
	char hex[BFS_HASH_HEX + 1];
	size_t i;
	int rc;

	rc = locate(w, id, BFS_BLOB_TREE, &loc, err);
	if (!rc)
		rc = read_tree(w, &loc, err);
	if (!rc)
		rc = bfs_tree_part_open(w->plain.data, w->plain.len, &p, err);
	while (!rc && (rc = bfs_tree_part_next(p, &te, err)) == 1) {
		rc = 0;
		for (i = 0; i < te.nparts && !rc; i++) {
			rc = first(w, te.parts[i]);
			if (rc == 1)
				rc = push(w, te.parts[i]);
		}
		for (i = 0; i < te.nchunks && !rc; i++)
			rc = locate(w, te.chunks[i].hash, BFS_BLOB_DATA, &loc,
				    err);
		if (!rc && te.nlists)
			rc = walk_lists(w, &te, err);
		/* a dump map is a leaf: live, never read here */
		if (!rc && te.dt) {
			rc = first(w, te.dt);
			if (rc == 1)
				rc = locate(w, te.dt, BFS_BLOB_TREE, &loc, err);
		}
		/* so is a sketch blob */
		if (!rc && te.sk) {
			rc = first(w, te.sk);
			if (rc == 1)
				rc = locate(w, te.sk, BFS_BLOB_TREE, &loc, err);
		}
		/* and an anchor blob */
		if (!rc && te.sa) {
			rc = first(w, te.sa);
			if (rc == 1)
				rc = locate(w, te.sa, BFS_BLOB_TREE, &loc, err);
		}
	}
	bfs_tree_part_free(p);
	if (rc == -EUCLEAN) {
		bfs_hex(hex, id, BFS_HASH_LEN);
		bfs_err_prefix(err, rc, "backup '%s': tree part %s", w->backup,
			       hex);
	}
	return rc;
}

int bfs_reach_backup(struct bfs_reach *w, const char *name,
		     const uint8_t (*root)[BFS_HASH_LEN], size_t nroot,
		     struct bfs_err *err)
{
	uint8_t id[BFS_HASH_LEN];
	size_t i;
	int rc = 0;

	w->backup = name;
	w->nstack = 0;
	for (i = 0; i < nroot && !rc; i++) {
		rc = first(w, root[i]);
		if (rc == 1)
			rc = push(w, root[i]);
	}
	while (!rc && w->nstack) {
		memcpy(id, w->stack[--w->nstack], BFS_HASH_LEN);
		rc = walk_part(w, id, err);
	}
	w->backup = NULL;
	return rc == -ENOMEM ? bfs_err_set(err, rc, "out of memory") : rc;
}
