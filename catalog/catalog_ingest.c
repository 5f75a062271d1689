/* catalog_ingest.c - one format-2 manifest -> catalog rows, in one
 * transaction.
 *
 * A manifest names its root tree; the catalog gets the backup row and
 * every tree reachable from the root that it does not have yet (a tree is
 * identified by its list of parts, so an unchanged directory of the next
 * backup costs one lookup).  Everything read is untrusted: tree parts
 * are parsed by tree.c, and here we check what spans parts and trees:
 * names sorted and unique across the parts of a directory, every
 * directory's "count" equal to what its tree really holds, every file's
 * chunk lengths adding up to its size.  A violation is -EUCLEAN naming
 * the manifest and the path; the transaction is rolled back, so nothing
 * of that backup stays.
 *
 * The walk is iterative, with the catalog as its work list: a directory
 * whose tree is new gets a "pending" trees row (n < 0, count = what its
 * parent claims) and its entry points at it at once; then pending trees
 * are filled one at a time, oldest first, until none is left.  Memory:
 * one tree part, one chunk list, never a whole directory.
 *
 * A directory's lines come in runs (catalog_runs.c); the lines of a run
 * the catalog has already (the same bytes, checked when first added) are
 * stepped over unparsed, and what spans runs is checked from its entry
 * rows instead: a changed directory of a second backup costs the parse
 * of its new runs only.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "catalog/catalog_int.h"
#include "catalog/catalog_runs.h"
#include "src/format.h"
#include "src/log.h"
#include "src/tree.h"

/* A path in a message is cut at this many bytes. */
#define MSG_PATH 400

struct ingest {
	struct bfs_catalog *c;
	struct bfs_repo *r;
	const char *key;	 /* "manifests/<name>", for messages */
	int64_t backup;		 /* backups.id */
	int64_t root_tree;	 /* trees.id of the root */
	struct bfs_buf part;	 /* plain bytes of the blob being read */
	char path[MSG_PATH + 1]; /* scratch for messages */
	unsigned damaged;	 /* trees kept as damaged */
};

/* State of the tree being filled. */
struct fill {
	int64_t tree;
	int64_t slot, count, nsub;
	/* runs of the current part (plan), the one being added (ri: its
	 * index in plan, li: lines of it added so far) */
	struct cat_run_plan plan;
	size_t ri;
	uint32_t li;
	int64_t run, pre0; /* runs.id; relative pre of its first entry */
	bool fresh;	   /* a new run: its entries are inserted */
	char prev[BFS_NAME_MAX + 1];
	size_t prevlen;
	bool have_prev;
};

static int bind_opt(sqlite3_stmt *st, int col, const char *s, size_t n)
{
	if (!s)
		return sqlite3_bind_null(st, col);
	return cat_bind_bytes(st, col, s, n);
}

static int bind_str(sqlite3_stmt *st, int col, const char *s)
{
	return bind_opt(st, col, s, s ? strlen(s) : 0);
}

/* A path of directory tree (for messages): the names up to the root,
 * found through the entries that point at it (any of them when the tree
 * is shared).  Into g->path, cut at MSG_PATH bytes; "" for the root. */
static const char *tree_path(struct ingest *g, int64_t tree)
{
	char *buf = g->path, tmp[MSG_PATH + 1];
	sqlite3_stmt *st;
	size_t len = 0, n;
	int steps;

	buf[0] = '\0';
	if (cat_stmt_get(g->c, ST_ENTRY_PARENT, &st, NULL))
		return buf;
	for (steps = 0; tree != g->root_tree && steps < 1100; steps++) {
		sqlite3_bind_int64(st, 1, tree);
		if (sqlite3_step(st) != SQLITE_ROW)
			break;
		tree = sqlite3_column_int64(st, 0);
		n = (size_t)sqlite3_column_bytes(st, 1);
		n = BFS_MIN(n, MSG_PATH - BFS_MIN(len + 1, MSG_PATH));
		/* prepend "name/" */
		memcpy(tmp, buf, len);
		memcpy(buf, sqlite3_column_blob(st, 1), n);
		buf[n] = '/';
		len = BFS_MIN(len, MSG_PATH - n - 1);
		memcpy(buf + n + 1, tmp, len);
		len += n + 1;
		buf[len] = '\0';
		sqlite3_reset(st);
	}
	cat_stmt_put(g->c, ST_ENTRY_PARENT, st);
	if (len && buf[len - 1] == '/')
		buf[--len] = '\0';
	return buf;
}

/* -EUCLEAN "manifest 'K': 'PATH/NAME': why" (name may be NULL). */
static int lie(struct ingest *g, struct bfs_err *err, int64_t tree,
	       const char *name, size_t nlen, const char *why)
{
	const char *dir = tree_path(g, tree);

	return bfs_err_set(err, -EUCLEAN, "manifest '%s': '/%s%s%.*s': %s",
			   g->key, dir, dir[0] && name ? "/" : "",
			   name ? (int)BFS_MIN(nlen, 300) : 0, name ? name : "",
			   why);
}

/* The base of a tree part stored as a delta frame (doc/FORMAT.md 18.1)
 * is located through the ingest's own connection: it sees the index
 * objects this sync ingested, and no other locator may be set yet. */
static int ingest_locate(void *arg, const uint8_t id[BFS_HASH_LEN],
			 struct bfs_chunkref *out)
{
	return bfs_catalog_chunk_lookup(arg, id, out);
}

/* Read blob hash (located by chunk_loc) into g->part.  kind names it in
 * messages ("tree part", "chunk list").  Missing location, missing pack,
 * oversized blob: -EUCLEAN. */
static int read_blob(struct ingest *g, const uint8_t hash[BFS_HASH_LEN],
		     const char *kind, size_t max, struct bfs_err *err)
{
	struct bfs_chunkref ref;
	char hex[BFS_HASH_HEX + 1];
	int rc;

	bfs_hex(hex, hash, BFS_HASH_LEN);
	rc = bfs_catalog_chunk_lookup(g->c, hash, &ref);
	if (rc == -ENOENT)
		return bfs_err_set(err, -EUCLEAN,
				   "manifest '%s': %s %s is in no index"
				   " object",
				   g->key, kind, hex);
	if (rc)
		return bfs_err_set(err, rc,
				   "manifest '%s': cannot locate %s %s: %s",
				   g->key, kind, hex, strerror(-rc));
	if (ref.len > max)
		return bfs_err_set(err, -EUCLEAN,
				   "manifest '%s': %s %s is %u bytes (at most"
				   " %zu)",
				   g->key, kind, hex, ref.len, max);
	g->part.len = 0;
	rc = bfs_buf_reserve(&g->part, ref.len ? ref.len : 1);
	if (rc)
		return rc;
	rc = bfs_repo_read_chunk_via(g->r, &ref, g->part.data, ingest_locate,
				     g->c, err);
	if (rc) {
		/* a missing pack is damage of this backup, not a manifest
		 * that vanished */
		if (rc == -ENOENT)
			rc = -EUCLEAN;
		return bfs_err_prefix(err, rc, "manifest '%s': %s %s", g->key,
				      kind, hex);
	}
	g->part.len = ref.len;
	return 0;
}

/* The trees row of a directory's content parts[0..nparts) whose parent
 * claims count entries: an existing row (the count must agree), or a new
 * one, pending unless the tree is empty.  *id set.  (tree, name) name
 * the directory for messages. */
static int tree_ref(struct ingest *g, const uint8_t (*parts)[BFS_HASH_LEN],
		    size_t nparts, uint64_t count, int64_t *id, int64_t tree,
		    const char *name, size_t nlen, struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	sqlite3_stmt *st;
	int rc;

	if (count > (uint64_t)CAT_PRE_MASK)
		return lie(g, err, tree, name, nlen, "too many entries");
	rc = cat_stmt_get(c, ST_TREE_FIND, &st, err);
	if (rc)
		return rc;
	cat_bind_bytes(st, 1, parts, nparts * BFS_HASH_LEN);
	sqlite3_bind_int64(st, 2, (int64_t)count);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		cat_stmt_put(c, ST_TREE_FIND, st);
		return 0;
	}
	cat_stmt_put(c, ST_TREE_FIND, st);
	if (rc != SQLITE_DONE)
		return cat_sqlerr(c, rc, err, "cannot find a tree");
	if (!nparts && count)
		return lie(g, err, tree, name, nlen,
			   "\"count\" is not 0 for an empty tree");
	rc = cat_stmt_get(c, ST_TREE_INSERT, &st, err);
	if (rc)
		return rc;
	cat_bind_bytes(st, 1, parts, nparts * BFS_HASH_LEN);
	sqlite3_bind_int64(st, 2, nparts ? -1 : 0);
	sqlite3_bind_int64(st, 3, (int64_t)count);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*id = sqlite3_last_insert_rowid(c->db);
		rc = 0;
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot insert a tree");
	}
	cat_stmt_put(c, ST_TREE_INSERT, st);
	return rc;
}

/* Store the first piece_refs refs of c->scratch as piece seq of entry
 * (run, idx) and move the rest down. */
static int flush_piece(struct bfs_catalog *c, int64_t run, int64_t idx,
		       int64_t seq, struct bfs_err *err)
{
	struct bfs_buf *b = &c->scratch;
	size_t n = BFS_MIN(b->len, c->piece_refs * BFS_BLOBREF_BLOB);
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_PIECE_INSERT, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_int64(st, 2, idx);
	sqlite3_bind_int64(st, 3, seq);
	rc = cat_bind_bytes(st, 4, b->data, n);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE
		 ? 0
		 : cat_sqlerr(c, rc, err, "cannot insert a chunk list piece");
	cat_stmt_put(c, ST_PIECE_INSERT, st);
	if (rc)
		return rc;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	return 0;
}

/* Append one ref to c->scratch; past one piece, the first piece_refs go
 * to chunk_pieces (seq *seq + 1). */
static int add_ref(struct bfs_catalog *c, const struct bfs_blobref *ref,
		   int64_t run, int64_t idx, int64_t *seq, struct bfs_err *err)
{
	struct bfs_buf *b = &c->scratch;
	int rc;

	if (b->len >= c->piece_refs * BFS_BLOBREF_BLOB) {
		rc = flush_piece(c, run, idx, ++*seq, err);
		if (rc)
			return rc;
	}
	rc = bfs_buf_reserve(b, BFS_BLOBREF_BLOB);
	if (rc)
		return rc;
	bfs_blobref_pack(b->data + b->len, ref);
	b->len += BFS_BLOBREF_BLOB;
	return 0;
}

/* A file's content refs (the inline "c" refs or the expanded "cl" list
 * blobs) for entry idx of run f->run (in directory f->tree), packed 36 bytes
 * each: up to one piece (c->piece_refs) into c->scratch for the entry's row, a
 * longer list into chunk_pieces rows (c->scratch then empty), so that memory
 * and row sizes stay bounded whatever the length.  *n = refs, *sum = their
 * lengths. */
static int file_refs(struct ingest *g, const struct bfs_tree_entry *te,
		     const struct fill *f, uint64_t *n, uint64_t *sum,
		     struct bfs_err *err)
{
	int64_t tree = f->tree, run = f->run, idx = f->li;
	struct bfs_catalog *c = g->c;
	struct bfs_blobref *refs;
	int64_t seq = 0;
	size_t i, j, nr;
	int rc;

	c->scratch.len = 0;
	*n = 0;
	*sum = 0;
	for (i = 0; i < te->nchunks; i++) {
		rc = add_ref(c, &te->chunks[i], run, idx, &seq, err);
		if (rc)
			return rc;
		*sum += te->chunks[i].len;
	}
	*n = te->nchunks;
	for (i = 0; i < te->nlists; i++) {
		rc = read_blob(g, te->lists[i], "chunk list", BFS_TREE_PART_MAX,
			       err);
		if (rc)
			return rc;
		rc = bfs_tree_list_parse(g->part.data, g->part.len, &refs, &nr,
					 err);
		if (rc) {
			if (rc != -ENOMEM)
				rc =
				    lie(g, err, tree, te->e.path,
					te->e.path_len, "a damaged chunk list");
			return rc;
		}
		if (nr == 0 || nr > BFS_TREE_INLINE_REFS ||
		    (i + 1 < te->nlists && nr != BFS_TREE_INLINE_REFS)) {
			free(refs);
			return lie(g, err, tree, te->e.path, te->e.path_len,
				   "a chunk list of the wrong length");
		}
		for (j = 0; j < nr; j++) {
			rc = add_ref(c, &refs[j], run, idx, &seq, err);
			if (rc)
				break;
			*sum += refs[j].len;
		}
		free(refs);
		if (rc)
			return rc;
		*n += nr;
	}
	if (seq && c->scratch.len)
		return flush_piece(c, run, idx, ++seq, err);
	return 0;
}

/* One child of the tree being filled: checks, then its row in the run
 * being added when that run is new (a run the catalog has was checked
 * and stored when it was first added: only what spans runs is checked
 * again, names in order and the counts). */
static int add_entry(struct ingest *g, struct fill *f,
		     const struct bfs_tree_entry *te, struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	const struct bfs_entry *e = &te->e;
	const char *name = e->path;
	size_t nlen = e->path_len;
	uint64_t sub = 0, sum = 0, nrefs = 0;
	int64_t child = 0;
	sqlite3_stmt *st;
	char why[128];
	int rc;

	if (!name || !nlen || nlen > BFS_NAME_MAX || memchr(name, '/', nlen))
		return lie(g, err, f->tree, name, nlen, "a bad name");
	if (f->have_prev &&
	    bfs_tree_name_cmp(f->prev, f->prevlen, name, nlen) >= 0)
		return lie(g, err, f->tree, name, nlen,
			   "names not sorted or listed twice");
	if (!bfs_manifest_type_valid(e->type))
		return lie(g, err, f->tree, name, nlen, "unknown type");
	c->scratch.len = 0;
	if (e->type == BFS_T_DIR) {
		if (te->nchunks || te->nlists || e->link)
			return lie(g, err, f->tree, name, nlen,
				   "a directory with content");
		if (te->count > (uint64_t)CAT_PRE_MASK)
			return lie(g, err, f->tree, name, nlen,
				   "too many entries");
		sub = te->count;
		f->nsub++;
		if (f->fresh) {
			rc = tree_ref(g, te->parts, te->nparts, te->count,
				      &child, f->tree, name, nlen, err);
			if (rc)
				return rc;
		}
	} else if (!f->fresh) {
		if (te->nparts || te->count)
			return lie(g, err, f->tree, name, nlen,
				   "a tree for a non-directory");
	} else {
		if (te->nparts || te->count)
			return lie(g, err, f->tree, name, nlen,
				   "a tree for a non-directory");
		if ((te->nchunks || te->nlists) &&
		    (e->type != BFS_T_FILE || e->link))
			return lie(g, err, f->tree, name, nlen,
				   "chunks for an entry without content");
		rc = file_refs(g, te, f, &nrefs, &sum, err);
		if (rc)
			return rc;
		if (e->type == BFS_T_FILE && !e->link && !e->error &&
		    sum != e->size) {
			snprintf(why, sizeof(why),
				 "size %llu, its chunks hold %llu bytes",
				 (unsigned long long)e->size,
				 (unsigned long long)sum);
			return lie(g, err, f->tree, name, nlen, why);
		}
	}
	if ((uint64_t)f->count + 1 + sub > (uint64_t)CAT_PRE_MASK)
		return lie(g, err, f->tree, name, nlen, "too many entries");
	if (f->li == 0) {
		/* the run's first entry: the run goes into the tree */
		f->pre0 = f->count + 1;
		rc = cat_tree_run_add(c, f->tree, f->slot, f->pre0, f->run,
				      name, nlen, err);
		if (rc)
			return rc;
	}
	if (!f->fresh)
		goto out_next;

	rc = cat_stmt_get(c, ST_ENTRY_INSERT, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, f->run);
	sqlite3_bind_int64(st, 2, f->li);
	sqlite3_bind_int64(st, 3, f->count + 1 - f->pre0);
	cat_bind_bytes(st, 4, name, nlen);
	sqlite3_bind_int(st, 5, e->type);
	sqlite3_bind_int64(st, 6, e->mode & BFS_MODE_MASK);
	sqlite3_bind_int64(st, 7, e->uid);
	sqlite3_bind_int64(st, 8, e->gid);
	bind_str(st, 9, e->user);
	bind_str(st, 10, e->group);
	sqlite3_bind_int64(st, 11, e->mtime_ns);
	sqlite3_bind_int64(st, 12, e->ctime_ns);
	sqlite3_bind_int64(st, 13, (int64_t)e->ino);
	sqlite3_bind_int64(st, 14, (int64_t)e->size);
	sqlite3_bind_int64(st, 15, (int64_t)e->rdev);
	bind_opt(st, 16, e->target, e->target_len);
	bind_opt(st, 17, e->link, e->link_len);
	sqlite3_bind_int64(st, 18, te->nl);
	bind_str(st, 19, e->error);
	sqlite3_bind_int(st, 20, e->sparse);
	sqlite3_bind_int64(st, 21, (int64_t)nrefs);
	if (child)
		sqlite3_bind_int64(st, 22, child);
	else
		sqlite3_bind_null(st, 22);
	sqlite3_bind_int64(st, 23, (int64_t)sub);
	rc = c->scratch.len
		 ? cat_bind_bytes(st, 24, c->scratch.data, c->scratch.len)
		 : sqlite3_bind_null(st, 24);
	if (rc == SQLITE_OK)
		rc = te->dt ? cat_bind_bytes(st, 25, te->dt, BFS_HASH_LEN)
			    : sqlite3_bind_null(st, 25);
	if (rc == SQLITE_OK)
		rc = te->sk ? cat_bind_bytes(st, 26, te->sk, BFS_HASH_LEN)
			    : sqlite3_bind_null(st, 26);
	if (rc == SQLITE_OK)
		rc = te->sa ? cat_bind_bytes(st, 27, te->sa, BFS_HASH_LEN)
			    : sqlite3_bind_null(st, 27);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = 0;
	} else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		rc = lie(g, err, f->tree, name, nlen, "listed twice");
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot insert an entry");
	}
	cat_stmt_put(c, ST_ENTRY_INSERT, st);
	if (rc)
		return rc;
out_next:
	f->li++;
	f->slot++;
	f->count += 1 + (int64_t)sub;
	memcpy(f->prev, name, nlen);
	f->prevlen = nlen;
	f->have_prev = true;
	return 0;
}

/* add_entry for the next line of the part, in the run f->ri (found or
 * made by the caller); the run ends after its last line. */
static int add_run_entry(struct ingest *g, struct fill *f,
			 const struct bfs_tree_entry *te, struct bfs_err *err)
{
	int rc;

	if (f->ri >= f->plan.n)
		return lie(g, err, f->tree, NULL, 0, "a malformed tree part");
	rc = add_entry(g, f, te, err);
	if (rc)
		return rc;
	if (f->li == f->plan.v[f->ri].lines) {
		f->ri++;
		f->li = 0;
	}
	return 0;
}

/* The run f->run the catalog has already, for the next lines of part tp:
 * its lines are the bytes of a run checked and stored before, so they
 * are not parsed again; its entry rows give what spans runs (names in
 * order, positions, subdirectory counts), through add_entry like parsed
 * lines, and the lines are stepped over.  A run whose rows do not match
 * its line count is a damaged catalog (-EUCLEAN). */
static int add_known_run(struct ingest *g, struct fill *f,
			 struct bfs_tree_part *tp, struct bfs_err *err)
{
	uint32_t lines = f->plan.v[f->ri].lines;
	struct bfs_catalog *c = g->c;
	struct bfs_tree_entry te;
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_RUN_ROWS, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, f->run);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t count = sqlite3_column_int64(st, 2);

		if (f->li >= lines || count < 0) {
			rc = SQLITE_CORRUPT;
			break;
		}
		memset(&te, 0, sizeof(te));
		te.e.path = (char *)sqlite3_column_blob(st, 0);
		te.e.path_len = (size_t)sqlite3_column_bytes(st, 0);
		te.e.type = sqlite3_column_int(st, 1);
		te.count = (uint64_t)count;
		rc = add_entry(g, f, &te, err);
		if (rc)
			break;
	}
	cat_stmt_put(c, ST_RUN_ROWS, st);
	if (rc == SQLITE_DONE && f->li != lines)
		rc = SQLITE_CORRUPT;
	if (rc == SQLITE_CORRUPT)
		return bfs_err_set(err, -EUCLEAN,
				   "catalog '%s': run %lld is damaged (run"
				   " 'backupfs catalog rebuild')",
				   c->path, (long long)f->run);
	if (rc != SQLITE_DONE)
		return rc < 0 ? rc
			      : cat_sqlerr(c, rc, err, "cannot read a run");
	rc = bfs_tree_part_skip(tp, lines, f->prev, f->prevlen, err);
	if (rc)
		return rc;
	f->ri++;
	f->li = 0;
	return 0;
}

/* The lines of part tp, run by run: a run the catalog has is added from
 * its rows, a new one from its parsed lines. */
static int add_part(struct ingest *g, struct fill *f, struct bfs_tree_part *tp,
		    struct bfs_err *err)
{
	struct bfs_tree_entry te;
	int rc;

	for (;;) {
		if (f->li == 0 && f->ri < f->plan.n) {
			rc = cat_run_get(g->c, &f->plan.v[f->ri], &f->run,
					 &f->fresh, err);
			if (rc)
				return rc;
			if (!f->fresh) {
				rc = add_known_run(g, f, tp, err);
				if (rc)
					return rc;
				continue;
			}
		}
		rc = bfs_tree_part_next(tp, &te, err);
		if (rc <= 0)
			return rc;
		rc = add_run_entry(g, f, &te, err);
		if (rc)
			return rc;
	}
}

static int finish_tree(struct bfs_catalog *c, int64_t id, const struct fill *f,
		       struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_TREE_FINISH, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, f->slot);
	sqlite3_bind_int64(st, 3, f->count);
	sqlite3_bind_int64(st, 4, f->nsub);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0
			       : cat_sqlerr(c, rc, err, "cannot update a tree");
	cat_stmt_put(c, ST_TREE_FINISH, st);
	return rc;
}

/* Fill pending tree id: read its parts one at a time, add their lines,
 * check the count its parent claimed, finish its row. */
static int fill_tree(struct ingest *g, int64_t id, const uint8_t *parts,
		     size_t nparts, int64_t claimed, struct bfs_err *err)
{
	struct bfs_tree_part *tp = NULL;
	struct fill f = {.tree = id};
	char hex[BFS_HASH_HEX + 1], why[128];
	size_t i;
	int rc = 0;

	for (i = 0; i < nparts; i++) {
		rc = read_blob(g, parts + i * BFS_HASH_LEN, "tree part",
			       BFS_TREE_PART_MAX, err);
		if (rc)
			goto out_free;
		rc = bfs_tree_part_open(g->part.data, g->part.len, &tp, err);
		if (!rc)
			rc = cat_run_plan_part(&f.plan, g->part.data,
					       g->part.len);
		f.ri = 0;
		f.li = 0;
		if (!rc)
			rc = add_part(g, &f, tp, err);
		/* every line parsed is in a run, every run's lines parsed */
		if (!rc && (f.ri != f.plan.n || f.li))
			rc = lie(g, err, id, NULL, 0, "a malformed tree part");
		bfs_tree_part_free(tp);
		tp = NULL;
		if (rc == -EUCLEAN && !strstr(err ? err->msg : "", g->key)) {
			bfs_hex(hex, parts + i * BFS_HASH_LEN, BFS_HASH_LEN);
			bfs_err_prefix(err, rc,
				       "manifest '%s': directory '/%s', tree"
				       " part %s",
				       g->key, tree_path(g, id), hex);
		}
		if (rc)
			goto out_free;
	}
	if (f.count != claimed) {
		snprintf(why, sizeof(why),
			 "\"count\" says %lld entries, its tree holds %lld",
			 (long long)claimed, (long long)f.count);
		rc = lie(g, err, id, NULL, 0, why);
		goto out_free;
	}
	rc = finish_tree(g->c, id, &f, err);
out_free:
	cat_run_plan_free(&f.plan);
	return rc;
}

/* Tree id could not be read or is not what its parent says (err says
 * why): keep it as damaged, with the count its parent claims (so that
 * inode numbers around it stay right) and no entries, so that listing it
 * is an error (catalog_query.c) and never a wrong listing.  What this
 * fill added goes: its runs, the runs made since run_snap and the pending
 * trees made since snap. */
static int damage_tree(struct ingest *g, int64_t id, int64_t claimed,
		       int64_t snap, int64_t run_snap,
		       const struct bfs_err *why, struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	sqlite3_stmt *st = NULL;
	struct bfs_err msg = *why;
	int rc;

	/* the message names the backup and the directory */
	if (!strstr(msg.msg, "directory '"))
		bfs_err_prefix(&msg, -EUCLEAN, "directory '/%s'",
			       tree_path(g, id));
	if (!strstr(msg.msg, g->key))
		bfs_err_prefix(&msg, -EUCLEAN, "%s", g->key);
	/* its runs, and the runs this fill made (no other tree has them) */
	rc = cat_exec_ids(c, ST_TREE_RUNS_DELETE, id, 0, err,
			  "cannot mark a damaged tree");
	if (!rc)
		rc = cat_runs_drop_since(c, run_snap, err);
	if (rc)
		return rc;
	rc = sqlite3_prepare_v2(
	    c->db, "DELETE FROM trees WHERE id > ?1 AND n < 0;", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, snap);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return cat_sqlerr(c, rc, err, "cannot mark a damaged tree");
	rc = cat_stmt_get(c, ST_TREE_DAMAGED, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, claimed);
	sqlite3_bind_text(st, 3, msg.msg, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE
		 ? 0
		 : cat_sqlerr(c, rc, err, "cannot mark a damaged tree");
	cat_stmt_put(c, ST_TREE_DAMAGED, st);
	if (!rc) {
		g->damaged++;
		bfs_warn("%s (kept as damaged: listing it is an I/O error)",
			 msg.msg);
	}
	return rc;
}

/* Fill pending trees until none is left. */
static int fill_pending(struct ingest *g, struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	sqlite3_stmt *st;
	uint8_t *parts = NULL;
	size_t len = 0;
	int64_t id = 0, claimed = 0;
	int rc;

	for (;;) {
		rc = cat_stmt_get(c, ST_TREE_PENDING, &st, err);
		if (rc)
			break;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			id = sqlite3_column_int64(st, 0);
			len = (size_t)sqlite3_column_bytes(st, 1);
			claimed = sqlite3_column_int64(st, 2);
			free(parts);
			parts = malloc(len ? len : 1);
			if (parts && len)
				memcpy(parts, sqlite3_column_blob(st, 1), len);
			rc = parts ? 1 : -ENOMEM;
		} else if (rc == SQLITE_DONE) {
			rc = 0;
		} else {
			rc = cat_sqlerr(c, rc, err, "cannot read a tree");
		}
		cat_stmt_put(c, ST_TREE_PENDING, st);
		if (rc <= 0)
			break;
		{
			struct bfs_err why = {{0}};
			int64_t snap = 0, run_snap = 0;

			rc = cat_max_id(c, "trees", &snap, err);
			if (!rc)
				rc = cat_max_id(c, "runs", &run_snap, err);
			if (!rc)
				rc = fill_tree(g, id, parts, len / BFS_HASH_LEN,
					       claimed, &why);
			/* damage of this tree (a part missing, unreadable,
			 * corrupt, or lying) is kept, the rest goes on; an
			 * I/O error fails the ingest (a later sync retries) */
			if (rc == -EUCLEAN || rc == -EBADMSG)
				rc = damage_tree(g, id, claimed, snap, run_snap,
						 &why, err);
			else if (rc && err)
				*err = why;
		}
		if (rc)
			break;
	}
	free(parts);
	return rc;
}

/* The made-up root entry takes the uid/gid of the first top-level
 * entry (as format 1's catalog did). */
static int set_root(struct ingest *g, struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	sqlite3_stmt *st;
	int64_t uid = 0, gid = 0;
	int rc;

	rc = cat_stmt_get(c, ST_ENTRY_AT, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, g->root_tree);
	sqlite3_bind_int64(st, 2, 0);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		uid = sqlite3_column_int64(st, 5);
		gid = sqlite3_column_int64(st, 6);
	}
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE
		 ? 0
		 : cat_sqlerr(c, rc, err, "cannot read an entry");
	cat_stmt_put(c, ST_ENTRY_AT, st);
	if (rc)
		return rc;
	rc = cat_stmt_get(c, ST_BACKUP_SET_ROOT, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, g->backup);
	sqlite3_bind_int64(st, 2, g->root_tree);
	sqlite3_bind_int64(st, 3, uid);
	sqlite3_bind_int64(st, 4, gid);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE
		 ? 0
		 : cat_sqlerr(c, rc, err, "cannot update a backup");
	cat_stmt_put(c, ST_BACKUP_SET_ROOT, st);
	return rc;
}

/* tags (NULL-terminated, may be NULL) -> JSON array text, malloc'ed. */
static char *tags_to_json(char **tags)
{
	cJSON *a = cJSON_CreateArray();
	char *s = NULL;

	if (!a)
		return NULL;
	for (; tags && *tags; tags++) {
		cJSON *t = cJSON_CreateString(*tags);

		if (!t || !cJSON_AddItemToArray(a, t)) {
			cJSON_Delete(t);
			goto out_delete;
		}
	}
	s = cJSON_PrintUnformatted(a);
out_delete:
	cJSON_Delete(a);
	return s;
}

/* The job's row (its number for the mount), if it has none yet. */
static int insert_job(struct bfs_catalog *c, const char *job,
		      struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_JOB_INSERT, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : cat_sqlerr(c, rc, err, "cannot add a job");
	cat_stmt_put(c, ST_JOB_INSERT, st);
	return rc;
}

static int insert_backup(struct ingest *g, const struct bfs_manifest_header *h,
			 const char *name, const char *header_json,
			 const char *tags_json, size_t manifest_size,
			 uint64_t count, struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	const struct bfs_backup_stats *s = &h->stats;
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_BACKUP_INSERT, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, h->time_ns);
	sqlite3_bind_text(st, 3, h->host ? h->host : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, tags_json, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, header_json, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, h->partial);
	sqlite3_bind_int64(st, 7, (int64_t)count);
	sqlite3_bind_int64(st, 8, (int64_t)s->entries);
	sqlite3_bind_int64(st, 9, (int64_t)s->files);
	sqlite3_bind_int64(st, 10, (int64_t)s->dirs);
	sqlite3_bind_int64(st, 11, (int64_t)s->bytes);
	sqlite3_bind_int64(st, 12, (int64_t)s->chunks);
	sqlite3_bind_int64(st, 13, (int64_t)s->new_chunks);
	sqlite3_bind_int64(st, 14, (int64_t)s->new_bytes);
	sqlite3_bind_int64(st, 15, (int64_t)s->stored_bytes);
	sqlite3_bind_int64(st, 16, (int64_t)s->errors);
	sqlite3_bind_int64(st, 17, s->duration_ns);
	sqlite3_bind_int64(st, 18, (int64_t)manifest_size);
	sqlite3_bind_int64(st, 19, bfs_now_ns());
	if (h->job)
		sqlite3_bind_text(st, 20, h->job, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 20);
	rc = h->job ? insert_job(c, h->job, err) : 0;
	if (rc) {
		cat_stmt_put(c, ST_BACKUP_INSERT, st);
		return rc;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		g->backup = sqlite3_last_insert_rowid(c->db);
		rc = 0;
		if (g->backup >= CAT_BACKUP_MAX)
			rc = bfs_err_set(err, -EOVERFLOW,
					 "catalog '%s': backup ids are used"
					 " up (rebuild it)",
					 c->path);
	} else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		rc = bfs_err_set(err, -EEXIST,
				 "backup '%s' is already in the"
				 " catalog",
				 name);
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot insert a backup");
	}
	cat_stmt_put(c, ST_BACKUP_INSERT, st);
	return rc;
}

/* sources: JSON array of objects; each "key" string goes to
 * backup_sources. */
static int insert_sources(struct ingest *g, const char *sources_json,
			  struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	const cJSON *it, *key;
	sqlite3_stmt *st = NULL;
	cJSON *a;
	int rc = 0;

	if (!sources_json)
		return 0;
	a = cJSON_Parse(sources_json);
	if (!a || !cJSON_IsArray(a)) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "manifest '%s': \"sources\" is"
				 " not a JSON array",
				 g->key);
		goto out_delete;
	}
	rc = cat_stmt_get(c, ST_SOURCE_INSERT, &st, err);
	if (rc)
		goto out_delete;
	cJSON_ArrayForEach(it, a)
	{
		key = cJSON_GetObjectItemCaseSensitive(it, "key");
		if (!cJSON_IsString(key) || !key->valuestring)
			continue;
		sqlite3_bind_text(st, 1, key->valuestring, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, g->backup);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE) {
			rc = cat_sqlerr(c, rc, err, "cannot record a source");
			goto out_put;
		}
		sqlite3_reset(st);
	}
	rc = 0;
out_put:
	cat_stmt_put(c, ST_SOURCE_INSERT, st);
out_delete:
	cJSON_Delete(a);
	return rc;
}

/* Ingest one manifest (compressed bytes, borrowed) as backup `name`,
 * reading new trees from r.  One transaction: all or nothing.  See
 * catalog.h for the errors.  Not thread-safe (one connection). */
int bfs_catalog_ingest(struct bfs_catalog *c, struct bfs_repo *r,
		       const char *name, const void *data, size_t len,
		       struct bfs_err *err)
{
	struct bfs_manifest2 m;
	char key[BFS_KEY_MAX];
	char *tags_json = NULL, *header = NULL;
	struct ingest g;
	int rc;

	memset(&g, 0, sizeof(g));
	memset(&m, 0, sizeof(m));
	g.c = c;
	g.r = r;
	g.key = key;
	rc = cat_check_writable(c, err);
	if (rc)
		return rc;
	if (bfs_key_manifest(key, name))
		return bfs_err_set(err, -EINVAL, "invalid backup id '%.200s'",
				   name);
	rc = bfs_manifest2_parse(data, len, &m, err);
	if (rc) {
		bfs_err_prefix(err, rc, "manifest '%s'", key);
		/* a newer or older format is not damage */
		return rc == -ENOMEM || rc == -EPROTO ? rc : -EUCLEAN;
	}
	if (!m.h.id || strcmp(m.h.id, name) != 0) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "manifest '%s' is for backup"
				 " '%.200s'",
				 key, m.h.id ? m.h.id : "");
		goto out_free;
	}
	tags_json = tags_to_json(m.h.tags);
	header = strndup(m.header_line ? m.header_line : "", m.header_len);
	if (!tags_json || !header) {
		rc = -ENOMEM;
		goto out_free;
	}

	rc = cat_begin(c, err);
	if (rc)
		goto out_free;
	rc =
	    insert_backup(&g, &m.h, name, header, tags_json, len, m.count, err);
	if (rc)
		goto out_rollback;
	rc = insert_sources(&g, m.h.sources_json, err);
	if (rc)
		goto out_rollback;
	rc = tree_ref(&g, (const uint8_t(*)[BFS_HASH_LEN])m.root, m.nroot,
		      m.count, &g.root_tree, 0, NULL, 0, err);
	if (rc)
		goto out_rollback;
	rc = fill_pending(&g, err);
	if (rc)
		goto out_rollback;
	rc = set_root(&g, err);
	if (rc)
		goto out_rollback;
	rc = cat_bump_generation(c, err);
	if (rc)
		goto out_rollback;
	rc = cat_commit(c, err);
	if (rc)
		goto out_rollback;
	goto out_free;
out_rollback:
	cat_rollback(c);
out_free:
	/* A chunk blob of a huge file should not stay around. */
	if (c->scratch.cap > (1u << 20))
		bfs_buf_free(&c->scratch);
	bfs_buf_free(&g.part);
	free(tags_json);
	free(header);
	bfs_manifest2_clear(&m);
	return rc;
}
