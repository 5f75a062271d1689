/* fuzz-tree.c - libFuzzer target: the parsers of format 2 over arbitrary
 * bytes.  The first byte picks one: a tree part, a chunk-list blob, a
 * manifest (version 2) or an index object; the rest is its input (the
 * manifest and index object are also tried compressed, so that mutations
 * reach the JSON).  Invariants checked: names come out sorted and unique,
 * a delta blob of an index object has as many distinct bases as its
 * type allows (type 2: one; type 3: 2 to 4), none the blob itself,
 * every directory has a count consistent with its tree, strings are
 * NUL-terminated where promised.  Built by scripts/fuzz. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "src/tree.h"

static void part(const uint8_t *d, size_t n)
{
	struct bfs_tree_part *p;
	struct bfs_tree_entry te;
	struct bfs_err err;
	char prev[256];
	size_t plen = 0;
	int rc, first = 1;

	if (bfs_tree_part_open(d, n, &p, &err))
		return;
	while ((rc = bfs_tree_part_next(p, &te, &err)) == 1) {
		if (te.e.path_len == 0 || te.e.path_len > BFS_NAME_MAX ||
		    memchr(te.e.path, '/', te.e.path_len))
			abort();
		if (!first && bfs_tree_name_cmp(prev, plen, te.e.path,
						te.e.path_len) >= 0)
			abort();
		if (te.e.type == BFS_T_DIR &&
		    (te.nparts == 0) != (te.count == 0))
			abort();
		if (te.nchunks > BFS_TREE_INLINE_REFS)
			abort();
		memcpy(prev, te.e.path, te.e.path_len);
		plen = te.e.path_len;
		first = 0;
	}
	bfs_tree_part_free(p);
}

static void list(const uint8_t *d, size_t n)
{
	struct bfs_blobref *refs;
	struct bfs_err err;
	size_t nr;

	if (bfs_tree_list_parse(d, n, &refs, &nr, &err))
		return;
	if (nr == 0 || nr > BFS_TREE_INLINE_REFS)
		abort();
	for (size_t i = 0; i < nr; i++)
		if (refs[i].len == 0 || refs[i].len > BFS_CHUNK_MAX_LIMIT)
			abort();
	free(refs);
}

static int idx_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		  const struct bfs_idx_blob *b, size_t n)
{
	(void)arg;
	(void)pack;
	for (size_t i = 0; i < n; i++) {
		const struct bfs_bases *bs = &b[i].bases;

		if (b[i].clen == 0 || b[i].offset < 8)
			abort();
		/* the bases: one for type 2, 2..4 for type 3, distinct,
		 * never the blob itself */
		if (b[i].type == BFS_BLOB_DELTA ? bs->n != 1
		    : b[i].type == BFS_BLOB_DELTA2
			? bs->n < 2 || bs->n > BFS_DELTA_MAX_BASES
			: bs->n != 0)
			abort();
		for (size_t j = 0; j < bs->n; j++) {
			if (!memcmp(bs->id[j], b[i].hash, BFS_HASH_LEN))
				abort();
			for (size_t k = 0; k < j; k++)
				if (!memcmp(bs->id[j], bs->id[k], BFS_HASH_LEN))
					abort();
		}
	}
	return 0;
}

static void objects(const uint8_t *d, size_t n, int which)
{
	struct bfs_manifest2 m;
	struct bfs_err err;

	if (which == 2) {
		if (bfs_manifest2_parse(d, n, &m, &err) == 0) {
			if ((m.nroot == 0) != (m.count == 0) || !m.header_line)
				abort();
			bfs_manifest2_clear(&m);
		}
	} else {
		bfs_idxobj_parse(d, n, idx_cb, NULL, &err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t bound;
	uint8_t *z;
	int which;

	if (size < 1)
		return 0;
	which = data[0] & 3;
	data++;
	size--;
	if (which == 0) {
		part(data, size);
		return 0;
	}
	if (which == 1) {
		list(data, size);
		return 0;
	}
	objects(data, size, which);
	bound = ZSTD_compressBound(size);
	z = malloc(bound);
	if (!z)
		return 0;
	bound = ZSTD_compress(z, bound, data, size, 1);
	if (!ZSTD_isError(bound))
		objects(z, bound, which);
	free(z);
	return 0;
}
