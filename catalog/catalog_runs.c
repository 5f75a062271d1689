/* catalog_runs.c - runs: the entries of a directory stored in short
 * content-defined pieces, shared between versions of the directory.
 *
 * A directory's tree lines are cut into runs after a line whose FNV-1a
 * 64 hash (bfs_tree_line_hash) has its low 2 bits zero (CAT_RUN_MASK)
 * once the run has CAT_RUN_MIN lines, after CAT_RUN_MAX lines, and at
 * the end of every tree part (which is itself cut by content).  A run is named
 * by the SHA-256 of its lines' bytes (each with its '\n'): the same lines make
 * the same entry rows (a subdirectory's line names its parts and count, which
 * name its trees row), so a run already in the catalog is reused as it is, and
 * a directory with one changed file of 1,000 adds the one run holding it
 * (~8 entries) and a tree_runs row per run, not 1,000 entries.
 *
 * Positions: an entry's slot and pre inside its directory are its run's
 * slot0 and pre0 (tree_runs, per directory version) plus its idx and
 * run-relative pre (entries, per run), so runs are position-free and the
 * inode numbers of doc/FORMAT.md 6.4 come out unchanged.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_runs.h"
#include "src/tree.h"

void cat_run_plan_free(struct cat_run_plan *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static int plan_push(struct cat_run_plan *p, const uint8_t *start, size_t len,
		     uint32_t lines)
{
	struct cat_run_span *s;

	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 64;
		struct cat_run_span *nv = realloc(p->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		p->v = nv;
		p->cap = ncap;
	}
	s = &p->v[p->n++];
	s->lines = lines;
	bfs_sha256(s->hash, start, len);
	return 0;
}

int cat_run_plan_part(struct cat_run_plan *p, const void *data, size_t len)
{
	const uint8_t *b = data, *end = b + len, *start = b, *nl;
	uint32_t lines = 0;
	int rc;

	p->n = 0;
	while (b < end) {
		nl = memchr(b, '\n', (size_t)(end - b));
		if (!nl) /* the parser refuses the part */
			break;
		lines++;
		if ((lines >= CAT_RUN_MIN &&
		     (bfs_tree_line_hash(b, (size_t)(nl - b)) & CAT_RUN_MASK) ==
			 0) ||
		    lines == CAT_RUN_MAX || nl + 1 == end) {
			rc = plan_push(p, start, (size_t)(nl + 1 - start),
				       lines);
			if (rc)
				return rc;
			start = nl + 1;
			lines = 0;
		}
		b = nl + 1;
	}
	return 0;
}

int cat_run_get(struct bfs_catalog *c, const struct cat_run_span *s,
		int64_t *id, bool *fresh, struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*fresh = false;
	rc = cat_stmt_get(c, ST_RUN_FIND, &st, err);
	if (rc)
		return rc;
	cat_bind_bytes(st, 1, s->hash, BFS_HASH_LEN);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		/* the same bytes are the same number of lines */
		rc = sqlite3_column_int64(st, 1) == s->lines
			 ? 0
			 : bfs_err_set(err, -EUCLEAN,
				       "catalog '%s': run %lld is damaged (run"
				       " 'backupfs catalog rebuild')",
				       c->path, (long long)*id);
	} else if (rc == SQLITE_DONE) {
		rc = 1;
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot find a run");
	}
	cat_stmt_put(c, ST_RUN_FIND, st);
	if (rc <= 0)
		return rc;
	rc = cat_stmt_get(c, ST_RUN_INSERT, &st, err);
	if (rc)
		return rc;
	cat_bind_bytes(st, 1, s->hash, BFS_HASH_LEN);
	sqlite3_bind_int64(st, 2, s->lines);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*id = sqlite3_last_insert_rowid(c->db);
		*fresh = true;
		rc = 0;
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot insert a run");
	}
	cat_stmt_put(c, ST_RUN_INSERT, st);
	return rc;
}

int cat_tree_run_add(struct bfs_catalog *c, int64_t tree, int64_t slot0,
		     int64_t pre0, int64_t run, const char *name0, size_t nlen,
		     struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_TREE_RUNS_INSERT, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, tree);
	sqlite3_bind_int64(st, 2, slot0);
	sqlite3_bind_int64(st, 3, pre0);
	sqlite3_bind_int64(st, 4, run);
	cat_bind_bytes(st, 5, name0, nlen);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : cat_sqlerr(c, rc, err, "cannot add a run");
	cat_stmt_put(c, ST_TREE_RUNS_INSERT, st);
	return rc;
}

/* Delete run id's entries, chunk pieces and row. */
static int run_delete(struct bfs_catalog *c, int64_t id, struct bfs_err *err)
{
	int rc;

	rc = cat_exec_ids(c, ST_ENTRY_DELETE_RUN, id, 0, err,
			  "cannot drop a run");
	if (!rc)
		rc = cat_exec_ids(c, ST_PIECE_DELETE_RUN, id, 0, err,
				  "cannot drop a run");
	if (!rc)
		rc = cat_exec_ids(c, ST_RUN_DELETE, id, 0, err,
				  "cannot drop a run");
	return rc;
}

static int ids_push(struct cat_ids *a, int64_t id)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 64;
		int64_t *nv = realloc(a->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = ncap;
	}
	a->v[a->n++] = id;
	return 0;
}

/* Push the results of statement id bound to a (one integer column). */
static int push_rows(struct bfs_catalog *c, enum cat_st id, int64_t a,
		     struct cat_ids *out, struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, id, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, a);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = ids_push(out, sqlite3_column_int64(st, 0));
		if (rc)
			break;
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = cat_sqlerr(c, rc, err, "cannot read runs");
	cat_stmt_put(c, id, st);
	return rc;
}

int cat_tree_runs_drop(struct bfs_catalog *c, int64_t tree,
		       struct cat_ids *children, struct bfs_err *err)
{
	struct cat_ids runs = {0};
	sqlite3_stmt *st;
	size_t i;
	int rc;

	rc = push_rows(c, ST_TREE_RUNS_OF, tree, &runs, err);
	if (!rc)
		rc = cat_exec_ids(c, ST_TREE_RUNS_DELETE, tree, 0, err,
				  "cannot drop a tree");
	for (i = 0; !rc && i < runs.n; i++) {
		rc = cat_stmt_get(c, ST_RUN_USED, &st, err);
		if (rc)
			break;
		sqlite3_bind_int64(st, 1, runs.v[i]);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_ROW ? 1
		     : rc == SQLITE_DONE
			 ? 0
			 : cat_sqlerr(c, rc, err, "cannot read runs");
		cat_stmt_put(c, ST_RUN_USED, st);
		if (rc) {
			rc = rc < 0 ? rc : 0;
			continue;
		}
		if (children)
			rc = push_rows(c, ST_ENTRY_SUBDIRS, runs.v[i], children,
				       err);
		if (!rc)
			rc = run_delete(c, runs.v[i], err);
	}
	free(runs.v);
	return rc;
}

int cat_runs_drop_since(struct bfs_catalog *c, int64_t snap,
			struct bfs_err *err)
{
	struct cat_ids runs = {0};
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	rc = sqlite3_prepare_v2(c->db, "SELECT id FROM runs WHERE id > ?1;", -1,
				&st, NULL);
	if (rc != SQLITE_OK)
		return cat_sqlerr(c, rc, err, "cannot read runs");
	sqlite3_bind_int64(st, 1, snap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = ids_push(&runs, sqlite3_column_int64(st, 0));
		if (rc)
			break;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = cat_sqlerr(c, rc, err, "cannot read runs");
	for (i = 0; !rc && i < runs.n; i++)
		rc = run_delete(c, runs.v[i], err);
	free(runs.v);
	return rc;
}

int cat_max_id(struct bfs_catalog *c, const char *table, int64_t *out,
	       struct bfs_err *err)
{
	sqlite3_stmt *st = NULL;
	char sql[64];
	int rc;

	*out = 0;
	snprintf(sql, sizeof(sql), "SELECT max(id) FROM %s;", table);
	rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	snprintf(sql, sizeof(sql), "cannot read the %s", table);
	return cat_sqlerr(c, rc, err, sql);
}

static int damaged_dir(struct bfs_catalog *c, int64_t dir, struct bfs_err *err)
{
	return bfs_err_set(err, -EUCLEAN,
			   "catalog '%s': directory %lld is damaged in the"
			   " catalog (run 'backupfs catalog rebuild')",
			   c->path, (long long)dir);
}

int cat_chain_row(struct bfs_catalog *c, struct cat_chain *ch, int64_t slot,
		  int64_t pre, int64_t count, int64_t dir, struct bfs_err *err)
{
	if (slot != ch->slot || (ch->pre >= 0 && pre != ch->pre) || count < 0 ||
	    count > CAT_PRE_MASK || pre < 1 || pre > CAT_PRE_MASK)
		return damaged_dir(c, dir, err);
	ch->slot = slot + 1;
	ch->pre = pre + 1 + count;
	return 0;
}

int cat_chain_end(struct bfs_catalog *c, const struct cat_chain *ch,
		  int64_t tree, bool whole, int64_t dir, struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_TREE_GET, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, tree);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sqlite3_column_int64(st, 0) == ch->slot &&
			     (!whole ||
			      sqlite3_column_int64(st, 1) == ch->pre - 1)
			 ? 0
			 : damaged_dir(c, dir, err);
	else if (rc == SQLITE_DONE)
		rc = damaged_dir(c, dir, err);
	else
		rc = cat_sqlerr(c, rc, err, "cannot read a tree");
	cat_stmt_put(c, ST_TREE_GET, st);
	return rc;
}
