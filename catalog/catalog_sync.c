/* catalog_sync.c - keep the catalog in step with the repository: ingest
 * new index objects and forget vanished ones, ingest new manifests, drop
 * backups whose manifest is gone (and the trees nothing reaches any
 * more), rebuild.
 *
 * Concurrency: several processes may sync the same catalog at once.  Each
 * ingest and drop is its own write transaction (BEGIN IMMEDIATE; others
 * wait up to CAT_BUSY_TIMEOUT_MS); a backup another process ingested
 * first shows up as -EEXIST and counts as unchanged, one it dropped first
 * as -ENOENT and is ignored.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "catalog/catalog_runs.h"
#include "src/format.h"
#include "src/tree.h"
#include "src/util.h"

/* Store listing callback: keep valid backup ids (temp files of an
 * interrupted local put, or anything else, are ignored). */
static int list_cb(void *arg, const char *key, uint64_t size)
{
	const char *name;

	(void)size;
	if (bfs_key_parse(key, NULL, &name) != BFS_KEY_IS_MANIFEST)
		return 0;
	return bfs_strv_add(arg, name);
}

static int catalog_names(struct bfs_catalog *c, struct bfs_strv *out,
			 struct bfs_err *err)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc;

	rc = cat_stmt_get(c, ST_BACKUP_NAMES, &st, err);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		t = sqlite3_column_text(st, 0);
		rc = t ? bfs_strv_add(out, (const char *)t) : -ENOMEM;
		if (rc)
			goto out_put;
	}
	rc = rc == SQLITE_DONE ? 0
			       : cat_sqlerr(c, rc, err, "cannot list backups");
out_put:
	cat_stmt_put(c, ST_BACKUP_NAMES, st);
	return rc;
}

/* 1 if statement id (bound to tree) finds a row, 0 if not, -errno. */
static int has_row(struct bfs_catalog *c, enum cat_st id, int64_t tree,
		   struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, id, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, tree);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW	 ? 1
	     : rc == SQLITE_DONE ? 0
				 : cat_sqlerr(c, rc, err, "cannot read trees");
	cat_stmt_put(c, id, st);
	return rc;
}

/* Delete tree start if nothing refers to it any more (no backup as its
 * root, no entry as its child), with the runs no other tree uses, then
 * its subtrees likewise.  Inside the caller's transaction.  Cost: the
 * trees that die and their runs; live trees are never walked. */
static int collect_trees(struct bfs_catalog *c, int64_t start,
			 struct bfs_err *err)
{
	struct cat_ids work = {0};
	int64_t t;
	int rc;

	work.v = malloc(64 * sizeof(*work.v));
	if (!work.v)
		return -ENOMEM;
	work.cap = 64;
	work.v[work.n++] = start;
	rc = 0;
	while (!rc && work.n) {
		t = work.v[--work.n];
		rc = has_row(c, ST_BACKUP_USES_TREE, t, err);
		if (rc == 0)
			rc = has_row(c, ST_ENTRY_REFERS, t, err);
		if (rc) {
			rc = rc < 0 ? rc : 0;
			continue;
		}
		rc = cat_tree_runs_drop(c, t, &work, err);
		if (!rc)
			rc = cat_exec_ids(c, ST_TREE_DELETE, t, 0, err,
					  "cannot drop a tree");
	}
	free(work.v);
	return rc;
}

/* Remove backup `name`, its sources and the trees no other backup
 * reaches, in one transaction.  chunk_loc rows stay: they mirror the
 * index objects.  -ENOENT "no backup 'NAME' in the catalog", -EROFS,
 * SQLite errors. */
int bfs_catalog_drop(struct bfs_catalog *c, const char *name,
		     struct bfs_err *err)
{
	sqlite3_stmt *st;
	int64_t id = 0, root = 0;
	int rc;

	rc = cat_check_writable(c, err);
	if (rc)
		return rc;
	rc = cat_begin(c, err);
	if (rc)
		return rc;
	rc = cat_stmt_get(c, ST_BACKUP_ID, &st, err);
	if (rc)
		goto out_rollback;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		root = sqlite3_column_int64(st, 1);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = bfs_err_set(err, -ENOENT,
				 "no backup '%.200s' in the"
				 " catalog",
				 name);
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot find a backup");
	}
	cat_stmt_put(c, ST_BACKUP_ID, st);
	if (rc)
		goto out_rollback;
	rc = cat_exec_ids(c, ST_SOURCE_DELETE, id, 0, err,
			  "cannot drop a backup");
	if (!rc)
		rc = cat_exec_ids(c, ST_BACKUP_DELETE, id, 0, err,
				  "cannot drop a backup");
	if (!rc)
		rc = collect_trees(c, root, err);
	if (!rc)
		rc = cat_bump_generation(c, err);
	if (rc)
		goto out_rollback;
	rc = cat_commit(c, err);
	if (rc)
		goto out_rollback;
	cat_icache_clear(c);
	return 0;
out_rollback:
	cat_rollback(c);
	return rc;
}

/* ---- index objects ---------------------------------------------------------
 */

struct idx_ctx {
	struct bfs_catalog *c;
	sqlite3_stmt *st;
	int64_t idx;
	struct bfs_err *err;
	int rc;
};

static int idx_pack_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		       const struct bfs_idx_blob *blobs, size_t n)
{
	struct idx_ctx *x = arg;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		cat_bind_bytes(x->st, 1, blobs[i].hash, BFS_HASH_LEN);
		cat_bind_bytes(x->st, 2, pack, BFS_HASH_LEN);
		sqlite3_bind_int64(x->st, 3, (int64_t)blobs[i].offset);
		sqlite3_bind_int64(x->st, 4, blobs[i].clen);
		sqlite3_bind_int64(x->st, 5, blobs[i].len);
		sqlite3_bind_int(x->st, 6, blobs[i].type);
		sqlite3_bind_int64(x->st, 7, x->idx);
		rc = sqlite3_step(x->st);
		sqlite3_reset(x->st);
		if (rc != SQLITE_DONE) {
			x->rc = cat_sqlerr(x->c, rc, x->err,
					   "cannot record a blob location");
			return x->rc;
		}
	}
	return 0;
}

int cat_ingest_index(struct bfs_catalog *c, const char *name, const void *data,
		     size_t len, int64_t existing, struct bfs_err *err)
{
	struct idx_ctx x = {.c = c, .err = err, .idx = existing};
	uint8_t h[BFS_HASH_LEN];
	char hex[BFS_HASH_HEX + 1];
	sqlite3_stmt *st;
	int rc;

	rc = cat_check_writable(c, err);
	if (rc)
		return rc;
	if (!bfs_hex64_valid(name))
		return bfs_err_set(err, -EINVAL,
				   "invalid index object name '%.100s'", name);
	bfs_sha256(h, data, len);
	bfs_hex(hex, h, BFS_HASH_LEN);
	if (strcmp(hex, name) != 0)
		return bfs_err_set(err, -EUCLEAN,
				   "index object '" BFS_KEY_INDEX "%s': its"
				   " bytes hash to %s",
				   name, hex);
	rc = cat_begin(c, err);
	if (rc)
		return rc;
	if (!existing) {
		rc = cat_stmt_get(c, ST_IDX_INSERT, &st, err);
		if (rc)
			goto out_rollback;
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			x.idx = sqlite3_last_insert_rowid(c->db);
			rc = 0;
		} else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
			rc = -EEXIST;
		} else {
			rc = cat_sqlerr(c, rc, err,
					"cannot insert an index object");
		}
		cat_stmt_put(c, ST_IDX_INSERT, st);
		if (rc)
			goto out_rollback;
	}
	rc = cat_stmt_get(c, ST_CHUNK_INSERT, &x.st, err);
	if (rc)
		goto out_rollback;
	rc = bfs_idxobj_parse(data, len, idx_pack_cb, &x, err);
	cat_stmt_put(c, ST_CHUNK_INSERT, x.st);
	if (x.rc) {
		rc = x.rc;
		goto out_rollback;
	}
	if (rc) {
		bfs_err_prefix(err, rc, "index object '" BFS_KEY_INDEX "%s'",
			       name);
		if (rc != -ENOMEM)
			rc = -EUCLEAN;
		goto out_rollback;
	}
	rc = cat_commit(c, err);
	if (rc)
		goto out_rollback;
	return 0;
out_rollback:
	cat_rollback(c);
	return rc;
}

int bfs_catalog_ingest_index(struct bfs_catalog *c, const char *name,
			     const void *data, size_t len, struct bfs_err *err)
{
	return cat_ingest_index(c, name, data, len, 0, err);
}

/* Errors that concern one manifest only: sync carries on with the others
 * and reports them at the end. */
static bool per_manifest_error(int rc)
{
	return rc == -EUCLEAN || rc == -EPROTO || rc == -EINVAL ||
	       rc == -EBADMSG || rc == -E2BIG || rc == -EFBIG;
}

struct bad {
	unsigned n;
	struct bfs_err first;
};

static void bad_note(struct bad *b, const struct bfs_err *e, int rc,
		     const char *kind, const char *key)
{
	if (!b->n++) {
		if (e->msg[0])
			memcpy(&b->first, e, sizeof(*e));
		else
			snprintf(b->first.msg, sizeof(b->first.msg),
				 "%s '%s': %s", kind, key, strerror(-rc));
	}
}

/* Fetch and ingest one manifest.  0, -EEXIST (someone else was faster),
 * -ENOENT (vanished since the listing) or -errno with *e set. */
static int sync_one(struct bfs_catalog *c, struct bfs_repo *r, const char *name,
		    struct bfs_err *e)
{
	char key[BFS_KEY_MAX];
	struct bfs_buf b = {0};
	int64_t n;
	int rc;

	rc = bfs_repo_manifest_key(key, name);
	if (rc)
		return bfs_err_set(e, rc, "invalid backup id '%s'", name);
	n = bfs_store_get(r->store, key, 0, UINT64_MAX, &b, e);
	if (n < 0) {
		rc = (int)n;
		if (rc != -ENOENT)
			bfs_err_prefix(e, rc, "cannot read manifest '%s'", key);
		goto out_free;
	}
	rc = bfs_catalog_ingest(c, r, name, b.data, b.len, e);
out_free:
	bfs_buf_free(&b);
	return rc;
}

/* Store listing callback for index/: names that are 64 lowercase hex. */
static int index_list_cb(void *arg, const char *key, uint64_t size)
{
	const char *name = key + strlen(BFS_KEY_INDEX);

	(void)size;
	if (strncmp(key, BFS_KEY_INDEX, strlen(BFS_KEY_INDEX)) != 0 ||
	    !bfs_hex64_valid(name))
		return 0;
	return bfs_strv_add(arg, name);
}

/* The index objects the catalog has, as "<64 hex>\t<id>" (sorts by
 * name). */
static int catalog_index_names(struct bfs_catalog *c, struct bfs_strv *out,
			       struct bfs_err *err)
{
	char buf[BFS_HASH_HEX + 32];
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc;

	rc = cat_stmt_get(c, ST_IDX_NAMES, &st, err);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		t = sqlite3_column_text(st, 1);
		if (!t) {
			rc = -ENOMEM;
			goto out_put;
		}
		snprintf(buf, sizeof(buf), "%.64s\t%lld", (const char *)t,
			 (long long)sqlite3_column_int64(st, 0));
		rc = bfs_strv_add(out, buf);
		if (rc)
			goto out_put;
	}
	rc = rc == SQLITE_DONE
		 ? 0
		 : cat_sqlerr(c, rc, err, "cannot list index objects");
out_put:
	cat_stmt_put(c, ST_IDX_NAMES, st);
	return rc;
}

/* Fetch index/name and ingest it (existing: see cat_ingest_index).
 * -ENOENT if it vanished meanwhile. */
static int index_one(struct bfs_catalog *c, struct bfs_repo *r,
		     const char *name, int64_t existing, struct bfs_err *e)
{
	char key[BFS_KEY_MAX];
	struct bfs_buf b = {0};
	int64_t n;
	int rc;

	snprintf(key, sizeof(key), "%s%.64s", BFS_KEY_INDEX, name);
	n = bfs_store_get(r->store, key, 0, UINT64_MAX, &b, e);
	if (n < 0) {
		rc = (int)n;
		if (rc != -ENOENT)
			bfs_err_prefix(e, rc, "cannot read index object '%s'",
				       key);
		goto out_free;
	}
	rc = cat_ingest_index(c, name, b.data, b.len, existing, e);
out_free:
	bfs_buf_free(&b);
	return rc;
}

/* Forget index object id: its row and the chunk locations it gave. */
static int index_forget(struct bfs_catalog *c, int64_t id, struct bfs_err *err)
{
	int rc;

	rc = cat_begin(c, err);
	if (rc)
		return rc;
	rc = cat_exec_ids(c, ST_CHUNK_DELETE_IDX, id, 0, err,
			  "cannot forget an index object");
	if (!rc)
		rc = cat_exec_ids(c, ST_IDX_DELETE, id, 0, err,
				  "cannot forget an index object");
	if (!rc)
		rc = cat_commit(c, err);
	if (rc)
		cat_rollback(c);
	return rc;
}

/* One pass over the sorted names the catalog has and the store lists:
 * forget those only the catalog has (gone[i] set), or (ingest) ingest
 * those only the store has.  Corrupt objects go to bad; other errors stop
 * it (*e says why). */
static int sync_index_pass(struct bfs_catalog *c, struct bfs_repo *r,
			   struct bfs_strv *have, struct bfs_strv *want,
			   bool *gone, bool ingest, struct bad *bad,
			   struct bfs_err *e)
{
	size_t i = 0, j = 0;
	int cmp, rc;

	while (i < have->n || j < want->n) {
		cmp = i == have->n ? 1
		      : j == want->n
			  ? -1
			  : strncmp(have->v[i], want->v[j], BFS_HASH_HEX);
		e->msg[0] = '\0';
		if (cmp == 0) {
			i++;
			j++;
		} else if (cmp < 0) {
			if (!ingest) {
				rc = index_forget(
				    c,
				    strtoll(have->v[i] + BFS_HASH_HEX + 1, NULL,
					    10),
				    e);
				if (rc)
					return rc;
				gone[i] = true;
			}
			i++;
		} else {
			if (ingest) {
				rc = index_one(c, r, want->v[j], 0, e);
				if (rc && rc != -EEXIST && rc != -ENOENT) {
					if (!per_manifest_error(rc))
						return rc;
					bad_note(bad, e, rc, "index object",
						 want->v[j]);
				}
			}
			j++;
		}
	}
	return 0;
}

/* Bring chunk_loc in step with index/.  A vanished index object takes its
 * rows along; the blobs it shared with others (a location is kept once)
 * are then located again by re-reading the others, which only happens
 * after a prune rewrote index objects.  Corrupt ones go to bad. */
static int sync_index(struct bfs_catalog *c, struct bfs_repo *r,
		      struct bad *bad, struct bfs_err *err)
{
	struct bfs_strv have = {0}, want = {0};
	struct bfs_err e;
	size_t k;
	bool forgot = false, *gone = NULL;
	int pass, rc;

	rc = catalog_index_names(c, &have, err);
	if (rc)
		goto out_free;
	rc = bfs_store_list(r->store, BFS_KEY_INDEX, index_list_cb, &want, err);
	if (rc) {
		bfs_err_prefix(err, rc, "cannot list the index objects of '%s'",
			       r->store->url ? r->store->url : "?");
		goto out_free;
	}
	if (have.n)
		bfs_strv_sort(&have);
	if (want.n)
		bfs_strv_sort(&want);
	gone = calloc(have.n ? have.n : 1, sizeof(*gone));
	if (!gone) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	/* Two passes: the vanished ones are forgotten before the new ones
	 * are ingested.  Otherwise a new object (prune's, naming the blobs
	 * of one it replaces) ingested first finds its blobs located
	 * already, and when the old one is then forgotten they are located
	 * nowhere. */
	for (pass = 0; pass < 2; pass++) {
		rc = sync_index_pass(c, r, &have, &want, gone, pass == 1, bad,
				     &e);
		if (rc)
			goto out_err;
	}
	for (k = 0; k < have.n; k++)
		forgot |= gone[k];
	for (k = 0; forgot && k < have.n; k++) {
		if (gone[k])
			continue;
		e.msg[0] = '\0';
		have.v[k][BFS_HASH_HEX] = '\0';
		rc = index_one(c, r, have.v[k],
			       strtoll(have.v[k] + BFS_HASH_HEX + 1, NULL, 10),
			       &e);
		if (rc && rc != -ENOENT) {
			if (!per_manifest_error(rc))
				goto out_err;
			bad_note(bad, &e, rc, "index object", have.v[k]);
		}
	}
	rc = 0;
	goto out_free;
out_err:
	if (err)
		memcpy(err, &e, sizeof(e));
out_free:
	free(gone);
	bfs_strv_free(&have);
	bfs_strv_free(&want);
	return rc;
}

/* Ingest the index objects the catalog lacks and forget vanished ones,
 * then ingest manifests the catalog lacks and drop backups whose manifest
 * is gone.  A corrupt manifest (or index object) does not stop the
 * others: they are ingested, then -EUCLEAN is returned naming the first
 * bad one.  Store errors (other
 * than a manifest vanishing meanwhile) and SQLite errors stop the sync.
 * stats may be NULL.  Not thread-safe (one connection). */
int bfs_catalog_sync(struct bfs_catalog *c, struct bfs_repo *r,
		     struct bfs_sync_stats *stats, struct bfs_err *err)
{
	struct bfs_strv have = {0}, want = {0};
	struct bfs_sync_stats s = {0};
	struct bad bad = {0};
	struct bfs_err e;
	size_t i = 0, j = 0;
	int rc;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	rc = cat_check_writable(c, err);
	if (rc)
		return rc;
	/* The catalog first, then the store: a backup that is in our
	 * snapshot of the catalog had its manifest written before we list,
	 * so missing from the listing really means deleted (and one ingested
	 * by another process meanwhile is not dropped by mistake). */
	rc = catalog_names(c, &have, err);
	if (rc)
		goto out_free;
	rc = bfs_store_list(r->store, BFS_KEY_MANIFESTS, list_cb, &want, err);
	if (rc) {
		bfs_err_prefix(err, rc, "cannot list the manifests of '%s'",
			       r->store->url ? r->store->url : "?");
		goto out_free;
	}
	/* Then the index objects: a manifest's trees are read at the
	 * locations they give, and a backup writes its index object before
	 * its manifest, so every manifest listed above has its index object
	 * in this listing (listed the other way round, a backup finishing
	 * in between would look damaged). */
	rc = sync_index(c, r, &bad, err);
	if (rc)
		goto out_free;
	if (have.n)
		bfs_strv_sort(&have);
	if (want.n)
		bfs_strv_sort(&want);

	while (i < have.n || j < want.n) {
		int cmp = i == have.n	? 1
			  : j == want.n ? -1
					: strcmp(have.v[i], want.v[j]);

		e.msg[0] = '\0';
		if (cmp == 0) {
			s.unchanged++;
			i++;
			j++;
			continue;
		}
		if (cmp < 0) {
			rc = bfs_catalog_drop(c, have.v[i], &e);
			if (rc == 0)
				s.removed++;
			else if (rc != -ENOENT)
				goto out_err;
			i++;
			continue;
		}
		rc = sync_one(c, r, want.v[j], &e);
		if (rc == 0) {
			s.added++;
		} else if (rc == -EEXIST) {
			s.unchanged++;
		} else if (per_manifest_error(rc)) {
			bad_note(&bad, &e, rc, "manifest", want.v[j]);
		} else if (rc != -ENOENT) {
			goto out_err;
		}
		j++;
	}
	rc = 0;
	if (bad.n) {
		if (bad.n > 1)
			rc = bfs_err_set(err, -EUCLEAN,
					 "%.800s (and %u more"
					 " bad manifests)",
					 bad.first.msg, bad.n - 1);
		else
			rc = bfs_err_set(err, -EUCLEAN, "%s", bad.first.msg);
	}
	goto out_free;
out_err:
	if (err)
		memcpy(err, &e, sizeof(e));
out_free:
	if (stats)
		*stats = s;
	bfs_strv_free(&have);
	bfs_strv_free(&want);
	return rc;
}

int bfs_catalog_sync_index(struct bfs_catalog *c, struct bfs_repo *r,
			   struct bfs_err *err)
{
	struct bad bad = {0};
	int rc;

	rc = cat_check_writable(c, err);
	if (!rc)
		rc = sync_index(c, r, &bad, err);
	if (!rc && bad.n)
		rc = bfs_err_set(err, -EUCLEAN, "%s", bad.first.msg);
	return rc;
}

/* Empty the catalog (backups, trees, entries, sources, index objects,
 * chunk locations) and sync from scratch.  Backup ids keep counting up,
 * so no inode number is reused.  Same errors
 * as bfs_catalog_sync. */
int bfs_catalog_rebuild(struct bfs_catalog *c, struct bfs_repo *r,
			struct bfs_sync_stats *stats, struct bfs_err *err)
{
	int rc;

	if (stats)
		memset(stats, 0, sizeof(*stats));
	rc = cat_check_writable(c, err);
	if (rc)
		return rc;
	rc = cat_begin(c, err);
	if (rc)
		return rc;
	rc = sqlite3_exec(c->db,
			  "DELETE FROM entries;"
			  " DELETE FROM chunk_pieces;"
			  " DELETE FROM tree_runs;"
			  " DELETE FROM runs;"
			  " DELETE FROM trees;"
			  " DELETE FROM backup_sources;"
			  " DELETE FROM backups;"
			  " DELETE FROM chunk_loc;"
			  " DELETE FROM index_objects;"
			  /* ingested oldest first: due for a compaction */
			  " DELETE FROM meta WHERE key = 'layout_runs'",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = cat_sqlerr(c, rc, err, "cannot empty the catalog");
		goto out_rollback;
	}
	rc = cat_bump_generation(c, err);
	if (rc)
		goto out_rollback;
	rc = cat_commit(c, err);
	if (rc)
		goto out_rollback;
	cat_icache_clear(c);
	return bfs_catalog_sync(c, r, stats, err);
out_rollback:
	cat_rollback(c);
	return rc;
}
