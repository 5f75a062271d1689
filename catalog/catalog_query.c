/* catalog_query.c - the read side of the catalog: backups, entries, chunk
 * lists, dedup lookups.  Every query is one indexed statement from the
 * connection's cache (catalog.c).  Callbacks may re-enter the catalog on
 * the same connection (e.g. a recursive walk calling readdir from a
 * readdir callback): a statement still in use is then prepared afresh. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"

/* Copy a TEXT/BLOB column into a fresh NUL-terminated string.  *out is
 * NULL (and 0 returned) for SQL NULL unless always is set. */
static int col_dup(sqlite3_stmt *st, int col, bool always, char **out,
		   size_t *len)
{
	const void *p;
	size_t n;
	char *s;

	*out = NULL;
	if (len)
		*len = 0;
	if (!always && sqlite3_column_type(st, col) == SQLITE_NULL)
		return 0;
	p = sqlite3_column_blob(st, col);
	n = (size_t)sqlite3_column_bytes(st, col);
	s = malloc(n + 1);
	if (!s)
		return -ENOMEM;
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	*out = s;
	if (len)
		*len = n;
	return 0;
}

/* Free the strings of a backup info and zero it.  NULL is a no-op. */
void bfs_backup_info_clear(struct bfs_backup_info *b)
{
	if (!b)
		return;
	free(b->tags_json);
	free(b->header_json);
	memset(b, 0, sizeof(*b));
}

/* Free the strings of a catalog entry and zero it.  NULL is a no-op. */
void bfs_cat_entry_clear(struct bfs_cat_entry *e)
{
	if (!e)
		return;
	free(e->e.path);
	free(e->e.user);
	free(e->e.group);
	free(e->e.target);
	free(e->e.link);
	free(e->e.error);
	memset(e, 0, sizeof(*e));
}

/* Row of BACKUP_COLS -> info (strings allocated). */
static int fill_backup(sqlite3_stmt *st, struct bfs_backup_info *b)
{
	const unsigned char *t;
	int rc;

	memset(b, 0, sizeof(*b));
	b->rowid = sqlite3_column_int64(st, 0);
	t = sqlite3_column_text(st, 1);
	snprintf(b->name, sizeof(b->name), "%s", t ? (const char *)t : "");
	b->time_ns = sqlite3_column_int64(st, 2);
	t = sqlite3_column_text(st, 3);
	snprintf(b->host, sizeof(b->host), "%s", t ? (const char *)t : "");
	rc = col_dup(st, 4, true, &b->tags_json, NULL);
	if (rc)
		goto out_clear;
	rc = col_dup(st, 5, true, &b->header_json, NULL);
	if (rc)
		goto out_clear;
	b->partial = sqlite3_column_int(st, 6) != 0;
	b->root = sqlite3_column_int64(st, 7);
	b->stats.entries = (uint64_t)sqlite3_column_int64(st, 8);
	b->stats.files = (uint64_t)sqlite3_column_int64(st, 9);
	b->stats.dirs = (uint64_t)sqlite3_column_int64(st, 10);
	b->stats.bytes = (uint64_t)sqlite3_column_int64(st, 11);
	b->stats.chunks = (uint64_t)sqlite3_column_int64(st, 12);
	b->stats.new_chunks = (uint64_t)sqlite3_column_int64(st, 13);
	b->stats.new_bytes = (uint64_t)sqlite3_column_int64(st, 14);
	b->stats.stored_bytes = (uint64_t)sqlite3_column_int64(st, 15);
	b->stats.errors = (uint64_t)sqlite3_column_int64(st, 16);
	b->stats.duration_ns = sqlite3_column_int64(st, 17);
	return 0;
out_clear:
	bfs_backup_info_clear(b);
	return rc;
}

/* Row of ENTRY_COLS -> entry (strings allocated). */
static int fill_entry(sqlite3_stmt *st, struct bfs_cat_entry *o)
{
	int rc;

	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(st, 0);
	o->backup = sqlite3_column_int64(st, 1);
	o->parent = sqlite3_column_int64(st, 2);
	rc = col_dup(st, 3, true, &o->e.path, &o->e.path_len);
	if (rc)
		goto out_clear;
	o->e.type = sqlite3_column_int(st, 4);
	o->e.mode = (uint32_t)sqlite3_column_int64(st, 5);
	o->e.uid = (uint32_t)sqlite3_column_int64(st, 6);
	o->e.gid = (uint32_t)sqlite3_column_int64(st, 7);
	rc = col_dup(st, 8, false, &o->e.user, NULL);
	if (rc)
		goto out_clear;
	rc = col_dup(st, 9, false, &o->e.group, NULL);
	if (rc)
		goto out_clear;
	o->e.mtime_ns = sqlite3_column_int64(st, 10);
	o->e.ctime_ns = sqlite3_column_int64(st, 11);
	o->e.ino = (uint64_t)sqlite3_column_int64(st, 12);
	o->e.size = (uint64_t)sqlite3_column_int64(st, 13);
	o->e.rdev = (uint64_t)sqlite3_column_int64(st, 14);
	rc = col_dup(st, 15, false, &o->e.target, &o->e.target_len);
	if (rc)
		goto out_clear;
	o->link_id = sqlite3_column_int64(st, 16);
	o->nlink = (uint32_t)sqlite3_column_int64(st, 17);
	rc = col_dup(st, 18, false, &o->e.error, NULL);
	if (rc)
		goto out_clear;
	o->e.sparse = sqlite3_column_int(st, 19) != 0;
	o->nchunks = (uint64_t)sqlite3_column_int64(st, 20);
	return 0;
out_clear:
	bfs_cat_entry_clear(o);
	return rc;
}

/* Every backup, oldest first (time, then name).  cb gets a borrowed info
 * valid during the call; non-zero from cb stops the walk and is returned.
 * 0 / -errno. */
int bfs_catalog_list(struct bfs_catalog *c, bfs_backup_cb cb, void *arg,
		     struct bfs_err *err)
{
	struct bfs_backup_info b;
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_BACKUP_LIST, &st, err);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = fill_backup(st, &b);
		if (rc)
			goto out_put;
		rc = cb(arg, &b);
		bfs_backup_info_clear(&b);
		if (rc)
			goto out_put;
	}
	rc = rc == SQLITE_DONE ? 0
			       : cat_sqlerr(c, rc, err, "cannot list backups");
out_put:
	cat_stmt_put(c, ST_BACKUP_LIST, st);
	return rc;
}

/* One backup by name, or the newest for "latest".  *out filled (free with
 * bfs_backup_info_clear).  -ENOENT "no backup 'NAME' in the catalog". */
int bfs_catalog_find_backup(struct bfs_catalog *c, const char *name,
			    struct bfs_backup_info *out, struct bfs_err *err)
{
	enum cat_st id =
	    strcmp(name, "latest") == 0 ? ST_BACKUP_LATEST : ST_BACKUP_FIND;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cat_stmt_get(c, id, &st, err);
	if (rc)
		return rc;
	if (id == ST_BACKUP_FIND)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = fill_backup(st, out);
	else if (rc == SQLITE_DONE)
		rc = bfs_err_set(err, -ENOENT,
				 "no backup '%.200s' in the"
				 " catalog",
				 name);
	else
		rc = cat_sqlerr(c, rc, err, "cannot find a backup");
	cat_stmt_put(c, id, st);
	return rc;
}

/* A counter that changes whenever a backup is ingested or dropped, or the
 * catalog rebuilt (in any process): compare two values, nothing more.
 * One primary-key read.  0 / -errno. */
int bfs_catalog_generation(struct bfs_catalog *c, int64_t *gen)
{
	int rc = cat_meta_get_int(c, "generation", gen, NULL);

	if (rc == -ENOENT) {
		*gen = 0;
		rc = 0;
	}
	return rc;
}

/* Run a single-row entry query whose parameters are bound by the caller
 * (st comes from cat_stmt_get(id)); put the statement back. */
static int entry_one(struct bfs_catalog *c, enum cat_st id, sqlite3_stmt *st,
		     struct bfs_cat_entry *out, struct bfs_err *err,
		     const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		rc = fill_entry(st, out);
	else if (rc == SQLITE_DONE)
		rc = -ENOENT;
	else
		rc = cat_sqlerr(c, rc, err, what);
	cat_stmt_put(c, id, st);
	return rc;
}

/* Entry by id, as stored.  -ENOENT "no entry N in the catalog". */
int bfs_catalog_get(struct bfs_catalog *c, int64_t id,
		    struct bfs_cat_entry *out, struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cat_stmt_get(c, ST_ENTRY_GET, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = entry_one(c, ST_ENTRY_GET, st, out, err, "cannot read an entry");
	if (rc == -ENOENT)
		bfs_err_set(err, rc, "no entry %lld in the catalog",
			    (long long)id);
	return rc;
}

/* Child name[0..n) of directory parent.  -ENOENT if none (the message
 * names parent id and the name). */
int bfs_catalog_lookup(struct bfs_catalog *c, int64_t parent, const char *name,
		       size_t n, struct bfs_cat_entry *out, struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cat_stmt_get(c, ST_ENTRY_LOOKUP, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, parent);
	cat_bind_bytes(st, 2, name, n);
	rc = entry_one(c, ST_ENTRY_LOOKUP, st, out, err,
		       "cannot look up an entry");
	if (rc == -ENOENT)
		bfs_err_set(err, rc, "no '%.*s' in directory %lld",
			    (int)BFS_MIN(n, 300), name, (long long)parent);
	return rc;
}

/* Walk path ("a/b/c"; "" or "/" = the root; empty components ignored)
 * from the root entry id.  -ENOENT "no 'PATH' in the backup", -ENOTDIR
 * when a component before the last is not a directory. */
int bfs_catalog_lookup_path(struct bfs_catalog *c, int64_t root,
			    const char *path, struct bfs_cat_entry *out,
			    struct bfs_err *err)
{
	const char *p = path, *slash;
	struct bfs_cat_entry cur;
	int64_t dir;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = bfs_catalog_get(c, root, &cur, err);
	if (rc)
		return rc;
	for (;;) {
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (cur.e.type != BFS_T_DIR) {
			rc = bfs_err_set(err, -ENOTDIR,
					 "'%.*s' in '%.300s' is"
					 " not a directory",
					 (int)BFS_MIN(cur.e.path_len, 300),
					 cur.e.path, path);
			goto out_clear;
		}
		dir = cur.id;
		bfs_cat_entry_clear(&cur);
		rc = bfs_catalog_lookup(c, dir, p, n, &cur, err);
		if (rc) {
			if (rc == -ENOENT)
				bfs_err_set(err, rc,
					    "no '%.300s' in the"
					    " backup",
					    path);
			return rc;
		}
		p += n;
	}
	*out = cur;
	return 0;
out_clear:
	bfs_cat_entry_clear(&cur);
	return rc;
}

/* Children of dir with id > after, in id order, at most limit (0 = all).
 * cb gets a borrowed entry valid during the call; non-zero from cb stops
 * and is returned.  0 / -errno.  An id that is not a directory simply has
 * no children. */
int bfs_catalog_readdir(struct bfs_catalog *c, int64_t dir, int64_t after,
			unsigned limit, bfs_entry_cb cb, void *arg,
			struct bfs_err *err)
{
	struct bfs_cat_entry e;
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_ENTRY_READDIR, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, dir);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = fill_entry(st, &e);
		if (rc)
			goto out_put;
		rc = cb(arg, &e);
		bfs_cat_entry_clear(&e);
		if (rc)
			goto out_put;
	}
	rc = rc == SQLITE_DONE
		 ? 0
		 : cat_sqlerr(c, rc, err, "cannot read a directory");
out_put:
	cat_stmt_put(c, ST_ENTRY_READDIR, st);
	return rc;
}

/* type, link_id, chunk blob of one entry; *blob malloc'ed. */
static int entry_chunks_row(struct bfs_catalog *c, int64_t id, int *type,
			    int64_t *link, uint8_t **blob, size_t *bloblen,
			    uint64_t *nchunks, struct bfs_err *err)
{
	sqlite3_stmt *st;
	const void *p;
	int rc;

	*blob = NULL;
	*bloblen = 0;
	rc = cat_stmt_get(c, ST_ENTRY_CHUNKS, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = bfs_err_set(err, -ENOENT, "no entry %lld in the catalog",
				 (long long)id);
		goto out_put;
	}
	if (rc != SQLITE_ROW) {
		rc = cat_sqlerr(c, rc, err, "cannot read a chunk list");
		goto out_put;
	}
	*type = sqlite3_column_int(st, 0);
	*link = sqlite3_column_int64(st, 1);
	*nchunks = (uint64_t)sqlite3_column_int64(st, 2);
	p = sqlite3_column_blob(st, 3);
	*bloblen = (size_t)sqlite3_column_bytes(st, 3);
	rc = 0;
	if (*bloblen) {
		*blob = malloc(*bloblen);
		if (!*blob)
			rc = -ENOMEM;
		else
			memcpy(*blob, p, *bloblen);
	}
out_put:
	cat_stmt_put(c, ST_ENTRY_CHUNKS, st);
	return rc;
}

/* The chunk list of file id (a hardlink's is its target's).  *out
 * malloc'ed (NULL for an empty file), *n chunks in file order.  -ENOENT
 * no such entry, -EINVAL not a file, -EUCLEAN a damaged row. */
int bfs_catalog_chunks(struct bfs_catalog *c, int64_t id,
		       struct bfs_chunkref **out, size_t *n,
		       struct bfs_err *err)
{
	struct bfs_chunkref *refs = NULL;
	uint8_t *blob = NULL;
	size_t bloblen, i;
	uint64_t nchunks;
	int64_t link;
	int type, rc;

	*out = NULL;
	*n = 0;
	rc = entry_chunks_row(c, id, &type, &link, &blob, &bloblen, &nchunks,
			      err);
	if (rc)
		return rc;
	if (link) {
		/* Ingest points link_id at the entry carrying the data,
		 * never at another link. */
		int64_t link2;

		free(blob);
		rc = entry_chunks_row(c, link, &type, &link2, &blob, &bloblen,
				      &nchunks, err);
		if (rc)
			return rc;
		if (link2) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "catalog '%s': entry"
					 " %lld links to a link",
					 c->path, (long long)id);
			goto out_free;
		}
	}
	if (type != BFS_T_FILE) {
		rc = bfs_err_set(err, -EINVAL, "entry %lld is not a file",
				 (long long)id);
		goto out_free;
	}
	if (bloblen % BFS_CHUNKREF_BLOB ||
	    bloblen / BFS_CHUNKREF_BLOB != nchunks) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "catalog '%s': entry %lld has"
				 " a damaged chunk list",
				 c->path, (long long)id);
		goto out_free;
	}
	if (nchunks) {
		refs = calloc(nchunks, sizeof(*refs));
		if (!refs) {
			rc = -ENOMEM;
			goto out_free;
		}
		for (i = 0; i < nchunks; i++)
			bfs_chunkref_unpack(&refs[i],
					    blob + i * BFS_CHUNKREF_BLOB);
	}
	*out = refs;
	*n = nchunks;
out_free:
	free(blob);
	return rc;
}

/* Where a chunk with this hash is stored (from any ingested manifest).
 * 0 and *out filled (out->hash = hash), -ENOENT, or -errno. */
int bfs_catalog_chunk_lookup(struct bfs_catalog *c,
			     const uint8_t hash[BFS_HASH_LEN],
			     struct bfs_chunkref *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_CHUNK_LOOKUP, &st, NULL);
	if (rc)
		return rc;
	cat_bind_bytes(st, 1, hash, BFS_HASH_LEN);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != BFS_HASH_LEN) {
			rc = -EUCLEAN;
			goto out_put;
		}
		memcpy(out->hash, hash, BFS_HASH_LEN);
		memcpy(out->pack, sqlite3_column_blob(st, 0), BFS_HASH_LEN);
		out->offset = (uint64_t)sqlite3_column_int64(st, 1);
		out->clen = (uint32_t)sqlite3_column_int64(st, 2);
		out->len = (uint32_t)sqlite3_column_int64(st, 3);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = cat_sqlerr(c, rc, NULL, "cannot look up a chunk");
	}
out_put:
	cat_stmt_put(c, ST_CHUNK_LOOKUP, st);
	return rc;
}

/* Root entry of the newest backup (time, then name) whose header lists a
 * source with this key.  -ENOENT if none. */
int bfs_catalog_prev_source(struct bfs_catalog *c, const char *source_key,
			    int64_t *root, struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_PREV_SOURCE, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, source_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*root = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = bfs_err_set(err, -ENOENT,
				 "no backup with source"
				 " '%.300s' in the catalog",
				 source_key);
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot find a previous source");
	}
	cat_stmt_put(c, ST_PREV_SOURCE, st);
	return rc;
}
