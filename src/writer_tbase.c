/* writer_tbase.c - bases for tree parts stored as delta frames
 * (doc/FORMAT.md section 18.1).
 *
 * A directory whose line changed gets new tree parts; most of their
 * bytes are the previous version's.  The base of its part number i is
 * the previous backup's part i of the same directory (the last one
 * when the directory has fewer parts now... more parts now), found
 * through the index's prev_dir of the parent directory, asked once per
 * directory and only when a part is new.  Depth 1: when that part is
 * itself a delta frame, its base is taken instead.
 *
 * Memory: the previous part ids of each open directory level (32 bytes
 * a part) and one base's plain bytes at a time (at most
 * BFS_TREE_PART_MAX), freed by the caller after encoding.  Calling
 * thread only (the tree build).
 *
 * Only in a repository of version 4 or later (b->tdelta_on): a
 * version-3 reader cannot read such a part, so a version-3 repository
 * gets none until 'backupfs migrate'.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "writer_impl.h"

void wt_tprev_clear(struct wt_tprev *p)
{
	free(p->parts);
	memset(p, 0, sizeof(*p));
}

/* The previous part ids of directory dir[0..dlen) into p, once. */
static void tprev_load(struct bfs_backup *b, struct wt_tprev *p,
		       const char *dir, size_t dlen)
{
	struct bfs_index_dir d = {0};
	const char *slash, *name;
	char *parent = NULL;
	size_t i, nlen;

	p->asked = true;
	/* the root has no line of its own to find it by (and one or two
	 * parts) */
	if (!b->tdelta_on || !b->idx || !b->src_key || dlen == 0)
		return;
	slash = memrchr(dir, '/', dlen);
	name = slash ? slash + 1 : dir;
	nlen = dlen - (size_t)(name - dir);
	parent = strndup(dir, slash ? (size_t)(slash - dir) : 0);
	if (!parent)
		return;
	if (bfs_index_prev_dir(b->idx, b->src_key, parent, &d) != 0)
		goto out;
	for (i = 0; i < d.n; i++) {
		const struct bfs_index_prev *q = &d.v[i];

		if (q->e.path_len != nlen || memcmp(q->e.path, name, nlen))
			continue;
		if (q->e.type == BFS_T_DIR && q->has_tree && q->nparts) {
			p->parts = q->parts;
			p->n = q->nparts;
			d.v[i].parts = NULL;
		}
		break;
	}
out:
	bfs_index_dir_clear(&d);
	free(parent);
}

/* Read tree blob id stored whole: 0 with its plain bytes, 1 when it is
 * a delta frame (its base in base_id), or -errno. */
static int read_whole(struct bfs_backup *b, const uint8_t id[BFS_HASH_LEN],
		      uint8_t **out, size_t *len, uint8_t base_id[BFS_HASH_LEN])
{
	struct bfs_err err = {""};
	struct bfs_chunkref ref;
	uint8_t *data;
	int rc;

	rc = bfs_index_chunk_find(b->idx, id, &ref);
	if (rc)
		return rc;
	if (ref.len == 0 || ref.len > BFS_TREE_PART_MAX ||
	    memcmp(ref.hash, id, BFS_HASH_LEN) != 0 ||
	    bfs_index_pack_present(b->idx, ref.pack) != 1)
		return -ENOENT;
	data = malloc(ref.len);
	if (!data)
		return -ENOMEM;
	rc = bfs_repo_read_whole(b->repo, &ref, data, base_id, &err);
	if (rc != 0) {
		if (rc < 0)
			bfs_debug("tree delta base: %s", bfs_err_str(&err, rc));
		free(data);
		return rc;
	}
	*out = data;
	*len = ref.len;
	return 0;
}

int wt_tprev_base(struct bfs_backup *b, struct wt_tprev *p, const char *dir,
		  size_t dlen, size_t pos, uint8_t id[BFS_HASH_LEN],
		  uint8_t **base, size_t *blen)
{
	uint8_t other[BFS_HASH_LEN];
	int rc;

	if (!p->asked)
		tprev_load(b, p, dir, dlen);
	if (!p->n)
		return -ENOENT;
	memcpy(id, p->parts[pos < p->n ? pos : p->n - 1], BFS_HASH_LEN);
	rc = read_whole(b, id, base, blen, other);
	if (rc == 1) {
		/* depth 1: that part's own base, a whole tree blob */
		memcpy(id, other, BFS_HASH_LEN);
		rc = read_whole(b, id, base, blen, other);
	}
	return rc == 0 ? 0 : -ENOENT;
}
