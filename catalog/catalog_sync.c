/* catalog_sync.c - keep the catalog in step with the repository: ingest
 * new manifests, drop backups whose manifest is gone, rebuild.
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
#include "src/format.h"

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *a, const char *s)
{
	char *d;

	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 32;
		char **nv = realloc(a->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = ncap;
	}
	d = strdup(s);
	if (!d)
		return -ENOMEM;
	a->v[a->n++] = d;
	return 0;
}

static void names_free(struct names *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Store listing callback: keep valid backup ids (temp files of an
 * interrupted local put, or anything else, are ignored). */
static int list_cb(void *arg, const char *key, uint64_t size)
{
	const char *name;

	(void)size;
	if (bfs_key_parse(key, NULL, &name) != BFS_KEY_IS_MANIFEST)
		return 0;
	return names_add(arg, name);
}

static int catalog_names(struct bfs_catalog *c, struct names *out,
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
		rc = t ? names_add(out, (const char *)t) : -ENOMEM;
		if (rc)
			goto out_put;
	}
	rc = rc == SQLITE_DONE ? 0
			       : cat_sqlerr(c, rc, err, "cannot list backups");
out_put:
	cat_stmt_put(c, ST_BACKUP_NAMES, st);
	return rc;
}

/* What dropping a backup deletes, each statement bound to backups.id. */
static const enum cat_st drop_sts[] = {
    ST_ENTRY_DELETE_BACKUP,
    ST_SOURCE_DELETE,
    ST_BACKUP_DELETE,
};

/* Remove backup `name` and its entries and sources in one transaction.
 * chunk_loc rows stay: they are a cache of chunk locations, and the packs
 * remain until a prune (which must then forget their rows, or rebuild).
 * -ENOENT "no backup 'NAME' in the catalog", -EROFS, SQLite errors. */
int bfs_catalog_drop(struct bfs_catalog *c, const char *name,
		     struct bfs_err *err)
{
	sqlite3_stmt *st;
	int64_t id = 0;
	size_t i;
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

	for (i = 0; i < BFS_ARRAY_SIZE(drop_sts); i++) {
		rc = cat_stmt_get(c, drop_sts[i], &st, err);
		if (rc)
			goto out_rollback;
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE
			 ? 0
			 : cat_sqlerr(c, rc, err, "cannot drop a backup");
		cat_stmt_put(c, drop_sts[i], st);
		if (rc)
			goto out_rollback;
	}
	rc = cat_bump_generation(c, err);
	if (rc)
		goto out_rollback;
	return cat_commit(c, err);
out_rollback:
	cat_rollback(c);
	return rc;
}

/* Errors that concern one manifest only: sync carries on with the others
 * and reports them at the end. */
static bool per_manifest_error(int rc)
{
	return rc == -EUCLEAN || rc == -EPROTO || rc == -EINVAL ||
	       rc == -EBADMSG || rc == -E2BIG;
}

struct bad {
	unsigned n;
	struct bfs_err first;
};

static void bad_note(struct bad *b, const struct bfs_err *e, int rc,
		     const char *key)
{
	if (!b->n++) {
		if (e->msg[0])
			memcpy(&b->first, e, sizeof(*e));
		else
			snprintf(b->first.msg, sizeof(b->first.msg),
				 "manifest '%s': %s", key, strerror(-rc));
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
	rc = bfs_catalog_ingest(c, name, b.data, b.len, e);
out_free:
	bfs_buf_free(&b);
	return rc;
}

/* Ingest manifests the catalog lacks, drop backups whose manifest is gone.
 * A corrupt manifest does not stop the others: they are ingested, then
 * -EUCLEAN is returned naming the first bad one.  Store errors (other
 * than a manifest vanishing meanwhile) and SQLite errors stop the sync.
 * stats may be NULL.  Not thread-safe (one connection). */
int bfs_catalog_sync(struct bfs_catalog *c, struct bfs_repo *r,
		     struct bfs_sync_stats *stats, struct bfs_err *err)
{
	struct names have = {0}, want = {0};
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
	if (have.n)
		qsort(have.v, have.n, sizeof(*have.v), names_cmp);
	if (want.n)
		qsort(want.v, want.n, sizeof(*want.v), names_cmp);

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
			bad_note(&bad, &e, rc, want.v[j]);
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
	names_free(&have);
	names_free(&want);
	return rc;
}

/* Empty the catalog (backups, entries, sources, chunk locations) and sync
 * from scratch.  Entry ids keep counting up: none is reused.  Same errors
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
			  " DELETE FROM backup_sources;"
			  " DELETE FROM backups;"
			  " DELETE FROM chunk_loc",
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
	return bfs_catalog_sync(c, r, stats, err);
out_rollback:
	cat_rollback(c);
	return rc;
}
