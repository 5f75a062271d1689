/* catalog_chunks.c - the chunk lists of files: one value of the entry's
 * row, or chunk_pieces rows for a long list (read one piece at a time),
 * and where each chunk is (chunk_loc). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "src/tree.h"

static int damaged_list(struct bfs_catalog *c, int64_t id, struct bfs_err *err)
{
	return bfs_err_set(err, -EUCLEAN,
			   "catalog '%s': entry %lld has a damaged chunk list",
			   c->path, (long long)id);
}

int cat_entry_refs_each(struct bfs_catalog *c, int64_t run, int64_t idx,
			int64_t id, uint64_t nchunks, const void *blob,
			size_t len, cat_refs_cb cb, void *arg,
			struct bfs_err *err)
{
	sqlite3_stmt *st;
	size_t plen, want, got = 0;
	int64_t seq = 0;
	int rc;

	if (len || !nchunks) {
		if (len % BFS_BLOBREF_BLOB || len / BFS_BLOBREF_BLOB != nchunks)
			return damaged_list(c, id, err);
		return len ? cb(arg, blob, (size_t)nchunks) : 0;
	}
	if (nchunks > SIZE_MAX / BFS_BLOBREF_BLOB)
		return damaged_list(c, id, err);
	want = (size_t)nchunks * BFS_BLOBREF_BLOB;
	rc = cat_stmt_get(c, ST_PIECE_READ, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_int64(st, 2, idx);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		plen = (size_t)sqlite3_column_bytes(st, 1);
		/* pieces 1, 2, ... in order, whole refs, never past the
		 * count the entry claims */
		if (sqlite3_column_int64(st, 0) != ++seq || !plen ||
		    plen % BFS_BLOBREF_BLOB || plen > want - got) {
			rc = damaged_list(c, id, err);
			goto out_put;
		}
		rc = cb(arg, sqlite3_column_blob(st, 1),
			plen / BFS_BLOBREF_BLOB);
		if (rc)
			goto out_put;
		got += plen;
	}
	if (rc != SQLITE_DONE) {
		rc = cat_sqlerr(c, rc, err, "cannot read a chunk list");
		goto out_put;
	}
	rc = got == want ? 0 : damaged_list(c, id, err);
out_put:
	cat_stmt_put(c, ST_PIECE_READ, st);
	return rc;
}

static int refs_append(void *arg, const uint8_t *refs, size_t n)
{
	return bfs_buf_append(arg, refs, n * BFS_BLOBREF_BLOB);
}

int cat_entry_refs(struct bfs_catalog *c, int64_t run, int64_t idx, int64_t id,
		   uint64_t nchunks, const void *blob, size_t len,
		   struct bfs_buf *buf, const uint8_t **refs,
		   struct bfs_err *err)
{
	int rc;

	*refs = NULL;
	if (len || !nchunks) {
		/* one value: checked, and handed out in place */
		if (len % BFS_BLOBREF_BLOB || len / BFS_BLOBREF_BLOB != nchunks)
			return damaged_list(c, id, err);
		*refs = len ? blob : NULL;
		return 0;
	}
	/* grown as pieces come, never sized by the count alone */
	buf->len = 0;
	rc = cat_entry_refs_each(c, run, idx, id, nchunks, NULL, 0, refs_append,
				 buf, err);
	if (!rc)
		*refs = buf->data;
	return rc;
}

/* Location of blob hash from chunk_loc, on statement st (ST_CHUNK_LOOKUP,
 * left reset).  0, -ENOENT, -EUCLEAN (a damaged row) or SQLite errors. */
static int chunk_loc_row(struct bfs_catalog *c, sqlite3_stmt *st,
			 const uint8_t hash[BFS_HASH_LEN],
			 struct bfs_chunkref *out, struct bfs_err *err)
{
	int rc;

	cat_bind_bytes(st, 1, hash, BFS_HASH_LEN);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != BFS_HASH_LEN) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "catalog '%s': a damaged chunk"
					 " location",
					 c->path);
		} else {
			memcpy(out->hash, hash, BFS_HASH_LEN);
			memcpy(out->pack, sqlite3_column_blob(st, 0),
			       BFS_HASH_LEN);
			out->offset = (uint64_t)sqlite3_column_int64(st, 1);
			out->clen = (uint32_t)sqlite3_column_int64(st, 2);
			out->len = (uint32_t)sqlite3_column_int64(st, 3);
			rc = 0;
		}
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot look up a chunk");
	}
	sqlite3_reset(st);
	return rc;
}

/* bfs_catalog_chunks' filling of its array, one piece at a time. */
struct chunks_fill {
	struct bfs_catalog *c;
	sqlite3_stmt *lk; /* ST_CHUNK_LOOKUP */
	const char *path; /* the file's, for messages */
	struct bfs_chunkref *refs;
	size_t n, cap;
	struct bfs_err *err;
};

static int chunks_piece(void *arg, const uint8_t *p, size_t k)
{
	struct chunks_fill *f = arg;
	struct bfs_chunkref *nv;
	struct bfs_blobref br;
	char hex[BFS_HASH_HEX + 1];
	size_t i, ncap;
	int rc;

	if (k > f->cap - f->n) {
		ncap = f->cap ? f->cap : k;
		while (ncap < f->n + k)
			ncap = ncap > SIZE_MAX / 2 ? f->n + k : ncap * 2;
		if (ncap > SIZE_MAX / sizeof(*nv))
			return -ENOMEM;
		nv = realloc(f->refs, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		f->refs = nv;
		f->cap = ncap;
	}
	for (i = 0; i < k; i++) {
		struct bfs_chunkref *r = &f->refs[f->n];

		bfs_blobref_unpack(&br, p + i * BFS_BLOBREF_BLOB);
		rc = chunk_loc_row(f->c, f->lk, br.hash, r, f->err);
		if (rc == -ENOENT) {
			bfs_hex(hex, br.hash, BFS_HASH_LEN);
			rc = bfs_err_set(f->err, -EUCLEAN,
					 "chunk %s of '%.300s' is in no"
					 " index object",
					 hex, f->path);
		} else if (!rc && r->len != br.len) {
			bfs_hex(hex, br.hash, BFS_HASH_LEN);
			rc = bfs_err_set(f->err, -EUCLEAN,
					 "chunk %s of '%.300s': %u bytes,"
					 " its index object says %u",
					 hex, f->path, br.len, r->len);
		}
		if (rc)
			return rc;
		f->n++;
	}
	return 0;
}

/* The chunk list of file id (a hardlink's is its group's first entry's),
 * located with chunk_loc.  *out malloc'ed (NULL for an empty file), *n
 * chunks in file order.  The list is read one piece at a time (no
 * second copy of it), the array grown as pieces come.  -ENOENT no such
 * entry, -EINVAL not a file, -EUCLEAN a damaged row or list, a hardlink
 * to nothing, or "chunk <hex> of 'NAME' is in no index object". */
int bfs_catalog_chunks(struct bfs_catalog *c, int64_t id,
		       struct bfs_chunkref **out, size_t *n,
		       struct bfs_err *err)
{
	struct chunks_fill f = {.c = c, .err = err};
	struct bfs_cat_entry e;
	struct cat_pos pos;
	sqlite3_stmt *st = NULL;
	uint64_t nchunks = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = cat_resolve(c, id, &pos, &e, true, err);
	if (rc)
		return rc;
	f.path = e.e.path;
	if (e.e.link) {
		if (!e.link_id) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "hardlink '%.300s' of entry %lld:"
					 " no such file in the backup",
					 e.e.link, (long long)id);
			goto out_clear;
		}
		rc = cat_resolve(c, e.link_id, &pos, NULL, false, err);
		if (rc)
			goto out_clear;
	} else if (e.e.type != BFS_T_FILE) {
		rc = bfs_err_set(err, -EINVAL, "entry %lld is not a file",
				 (long long)id);
		goto out_clear;
	}
	rc = cat_stmt_get(c, ST_ENTRY_CHUNKS, &st, err);
	if (rc)
		goto out_clear;
	sqlite3_bind_int64(st, 1, pos.tree);
	sqlite3_bind_int64(st, 2, pos.slot);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE
			 ? cat_no_entry(err, id)
			 : cat_sqlerr(c, rc, err, "cannot read a chunk list");
		goto out_put;
	}
	nchunks = (uint64_t)sqlite3_column_int64(st, 0);
	rc = cat_stmt_get(c, ST_CHUNK_LOOKUP, &f.lk, err);
	if (rc)
		goto out_put;
	rc = cat_entry_refs_each(
	    c, sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3), id,
	    nchunks, sqlite3_column_blob(st, 1),
	    (size_t)sqlite3_column_bytes(st, 1), chunks_piece, &f, err);
out_put:
	cat_stmt_put(c, ST_CHUNK_LOOKUP, f.lk);
	cat_stmt_put(c, ST_ENTRY_CHUNKS, st);
	if (rc) {
		free(f.refs);
	} else {
		*out = f.refs;
		*n = f.n;
	}
out_clear:
	bfs_cat_entry_clear(&e);
	return rc;
}

/* Where a blob with this hash is stored (from any ingested index
 * object).  0 and *out filled (out->hash = hash), -ENOENT, or -errno. */
int bfs_catalog_chunk_lookup(struct bfs_catalog *c,
			     const uint8_t hash[BFS_HASH_LEN],
			     struct bfs_chunkref *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_CHUNK_LOOKUP, &st, NULL);
	if (rc)
		return rc;
	rc = chunk_loc_row(c, st, hash, out, NULL);
	cat_stmt_put(c, ST_CHUNK_LOOKUP, st);
	return rc;
}
