/* catalog_query.c - the read side of the catalog: backups, entries, chunk
 * lists, dedup lookups.  Every query is one indexed statement from the
 * connection's cache (catalog.c).  Callbacks may re-enter the catalog on
 * the same connection (e.g. a recursive walk calling readdir from a
 * readdir callback): a statement still in use is then prepared afresh.
 *
 * Inodes.  An entry's id is (backup << 40) | pre (catalog.h).  To turn
 * an id into a row we walk down from the backup's root tree: in a tree
 * whose directory has absolute pre P, the entry with the largest
 * relative pre <= (pre - P) is either the one wanted or the directory
 * whose subtree holds it (its pre + count covers it); one indexed query
 * per level.  Every position found (by get, lookup or readdir) is kept
 * in a direct-mapped cache per connection, so the getattr that follows
 * a lookup, or a readdir of a directory just looked up, costs one
 * primary-key query. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "catalog/catalog_runs.h"
#include "src/tree.h"

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

/* Free the strings of e without zeroing it: for a loop that fills e
 * afresh from the next row (fill_entry_as zeroes it), where the memset of
 * bfs_cat_entry_clear was 3 % of the daemon's samples in a find. */
static void entry_free_strings(struct bfs_cat_entry *e)
{
	free(e->e.path);
	free(e->e.user);
	free(e->e.group);
	free(e->e.target);
	free(e->e.link);
	free(e->e.error);
}

/* Free the strings of a catalog entry and zero it.  NULL is a no-op. */
void bfs_cat_entry_clear(struct bfs_cat_entry *e)
{
	if (!e)
		return;
	entry_free_strings(e);
	memset(e, 0, sizeof(*e));
}

/* Row of BACKUP_COLS -> info (strings allocated).  See catalog_int.h. */
int cat_fill_backup(struct bfs_catalog *c, sqlite3_stmt *st,
		    struct bfs_backup_info *b, struct bfs_err *err)
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
	b->root = b->rowid << CAT_INO_SHIFT;
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
	/* hostile until checked, as everything read from the file */
	t = sqlite3_column_text(st, 18);
	if (t) {
		if (!bfs_format_job_name_valid((const char *)t)) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "catalog '%s': backup '%s' has an "
					 "invalid job name (run 'backupfs "
					 "catalog rebuild')",
					 c->path, b->name);
			goto out_clear;
		}
		snprintf(b->job, sizeof(b->job), "%s", (const char *)t);
	}
	return 0;
out_clear:
	bfs_backup_info_clear(b);
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
		rc = cat_fill_backup(c, st, &b, err);
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
		rc = cat_fill_backup(c, st, out, err);
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

/* Rows of each table, in one statement prepared for the call. */
int bfs_catalog_counts(struct bfs_catalog *c, struct bfs_catalog_counts *out,
		       struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = sqlite3_prepare_v2(c->db,
				"SELECT (SELECT count(*) FROM backups),"
				" (SELECT count(*) FROM trees),"
				" (SELECT count(*) FROM entries),"
				" (SELECT count(*) FROM chunk_loc),"
				" (SELECT count(*) FROM index_objects)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return cat_sqlerr(c, rc, err, "cannot count rows");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->backups = sqlite3_column_int64(st, 0);
		out->trees = sqlite3_column_int64(st, 1);
		out->entries = sqlite3_column_int64(st, 2);
		out->chunks = sqlite3_column_int64(st, 3);
		out->index_objects = sqlite3_column_int64(st, 4);
		rc = 0;
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot count rows");
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- inode positions ---------------------------------------------------
 */

static int64_t ino_make(int64_t backup, int64_t pre)
{
	return (backup << CAT_INO_SHIFT) | pre;
}

static struct cat_pos *icache_slot(struct bfs_catalog *c, int64_t ino)
{
	uint64_t h = (uint64_t)ino * UINT64_C(0x9e3779b97f4a7c15);

	if (!c->icache) {
		c->icache = calloc(CAT_ICACHE_SLOTS, sizeof(*c->icache));
		if (!c->icache)
			return NULL; /* no cache: every get walks */
	}
	return &c->icache[h >> 52 & (CAT_ICACHE_SLOTS - 1)];
}

static void icache_put(struct bfs_catalog *c, const struct cat_pos *p)
{
	struct cat_pos *s = icache_slot(c, p->ino);

	if (s)
		*s = *p;
}

static bool icache_get(struct bfs_catalog *c, int64_t ino, struct cat_pos *p)
{
	struct cat_pos *s = icache_slot(c, ino);

	if (!s || s->ino != ino)
		return false;
	*p = *s;
	return true;
}

static void icache_drop(struct bfs_catalog *c, int64_t ino)
{
	struct cat_pos *s = icache_slot(c, ino);

	if (s && s->ino == ino)
		s->ino = 0;
}

/* Columns of ENTRY_COLS (catalog.c). */
enum {
	EC_SLOT,
	EC_PRE,
	EC_NAME,
	EC_TYPE,
	EC_MODE,
	EC_UID,
	EC_GID,
	EC_USER,
	EC_GRP,
	EC_MTIME,
	EC_CTIME,
	EC_INO,
	EC_SIZE,
	EC_RDEV,
	EC_TARGET,
	EC_LINK,
	EC_NL,
	EC_ERROR,
	EC_SPARSE,
	EC_NCHUNKS,
	EC_CHILD,
	EC_COUNT,
	EC_NSUB,
	EC_DT,
	EC_SK,
	EC_SA,
	EC_RUN, /* the entry's primary key: runs.id, idx */
	EC_IDX,
	EC_RPRE,   /* pre relative to the run's first entry */
	EC_CHUNKS, /* only ST_ENTRY_READDIR_CHUNKS */
	EC_PARTS,  /* only ST_ENTRY_READDIR_CHUNKS: a sound child tree's */
};

/* Row of ENTRY_COLS in a tree whose directory is (backup, dirpre) with id
 * parent -> entry (strings allocated).  Hardlinks unresolved.  lean: a
 * row of ENTRY_COLS_ATTRS, whose user, group, source inode, error,
 * sparse, chunk count and sketch columns are NULL: they are not read
 * (seven column calls fewer per row of a listing). */
static int fill_entry_as(sqlite3_stmt *st, struct bfs_cat_entry *o,
			 int64_t backup, int64_t dirpre, int64_t parent,
			 bool lean)
{
	int64_t nl;
	int rc;

	memset(o, 0, sizeof(*o));
	o->id = ino_make(backup, dirpre + sqlite3_column_int64(st, EC_PRE));
	o->backup = backup;
	o->parent = parent;
	rc = col_dup(st, EC_NAME, true, &o->e.path, &o->e.path_len);
	if (rc)
		goto out_clear;
	o->e.type = sqlite3_column_int(st, EC_TYPE);
	o->e.mode = (uint32_t)sqlite3_column_int64(st, EC_MODE);
	o->e.uid = (uint32_t)sqlite3_column_int64(st, EC_UID);
	o->e.gid = (uint32_t)sqlite3_column_int64(st, EC_GID);
	o->e.mtime_ns = sqlite3_column_int64(st, EC_MTIME);
	o->e.ctime_ns = sqlite3_column_int64(st, EC_CTIME);
	o->e.size = (uint64_t)sqlite3_column_int64(st, EC_SIZE);
	o->e.rdev = (uint64_t)sqlite3_column_int64(st, EC_RDEV);
	rc = col_dup(st, EC_TARGET, false, &o->e.target, &o->e.target_len);
	if (rc)
		goto out_clear;
	rc = col_dup(st, EC_LINK, false, &o->e.link, &o->e.link_len);
	if (rc)
		goto out_clear;
	if (o->e.type == BFS_T_FILE &&
	    sqlite3_column_bytes(st, EC_DT) == BFS_HASH_LEN) {
		memcpy(o->dt, sqlite3_column_blob(st, EC_DT), BFS_HASH_LEN);
		o->has_dt = true;
	}
	nl = sqlite3_column_int64(st, EC_NL);
	if (o->e.type == BFS_T_DIR)
		o->nlink = (uint32_t)(2 + sqlite3_column_int64(st, EC_NSUB));
	else
		o->nlink = nl > 1 && nl <= UINT32_MAX ? (uint32_t)nl : 1;
	if (lean)
		return 0;
	rc = col_dup(st, EC_USER, false, &o->e.user, NULL);
	if (rc)
		goto out_clear;
	rc = col_dup(st, EC_GRP, false, &o->e.group, NULL);
	if (rc)
		goto out_clear;
	o->e.ino = (uint64_t)sqlite3_column_int64(st, EC_INO);
	rc = col_dup(st, EC_ERROR, false, &o->e.error, NULL);
	if (rc)
		goto out_clear;
	o->e.sparse = sqlite3_column_int(st, EC_SPARSE) != 0;
	o->nchunks = (uint64_t)sqlite3_column_int64(st, EC_NCHUNKS);
	if (o->e.type == BFS_T_FILE &&
	    sqlite3_column_bytes(st, EC_SK) == BFS_HASH_LEN) {
		memcpy(o->sk, sqlite3_column_blob(st, EC_SK), BFS_HASH_LEN);
		o->has_sk = true;
	}
	if (o->e.type == BFS_T_FILE &&
	    sqlite3_column_bytes(st, EC_SA) == BFS_HASH_LEN) {
		memcpy(o->sa, sqlite3_column_blob(st, EC_SA), BFS_HASH_LEN);
		o->has_sa = true;
	}
	return 0;
out_clear:
	bfs_cat_entry_clear(o);
	return rc;
}

static int fill_entry(sqlite3_stmt *st, struct bfs_cat_entry *o, int64_t backup,
		      int64_t dirpre, int64_t parent)
{
	return fill_entry_as(st, o, backup, dirpre, parent, false);
}

static void pos_of_row(sqlite3_stmt *st, struct cat_pos *p, int64_t ino,
		       int64_t tree, int64_t dirpre, int64_t parent)
{
	p->ino = ino;
	p->tree = tree;
	p->slot = sqlite3_column_int64(st, EC_SLOT);
	p->dirpre = dirpre;
	p->parent = parent;
	p->child = sqlite3_column_type(st, EC_CHILD) == SQLITE_NULL
		       ? 0
		       : sqlite3_column_int64(st, EC_CHILD);
	p->run = sqlite3_column_int64(st, EC_RUN);
	p->idx = sqlite3_column_int64(st, EC_IDX);
	p->rpre = sqlite3_column_int64(st, EC_RPRE);
}

int cat_no_entry(struct bfs_err *err, int64_t ino)
{
	return bfs_err_set(err, -ENOENT, "no entry %lld in the catalog",
			   (long long)ino);
}

/* A backup's root tree, and its root entry when out != NULL (made up:
 * the uid/gid of its first child, mode 0755, the backup's time). */
static int root_of(struct bfs_catalog *c, int64_t backup, int64_t *tree,
		   struct bfs_cat_entry *out, struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_BACKUP_ROOT, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, backup);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = cat_no_entry(err, ino_make(backup, 0));
		goto out_put;
	}
	if (rc != SQLITE_ROW) {
		rc = cat_sqlerr(c, rc, err, "cannot read a backup");
		goto out_put;
	}
	*tree = sqlite3_column_int64(st, 0);
	rc = 0;
	if (out) {
		memset(out, 0, sizeof(*out));
		out->id = ino_make(backup, 0);
		out->backup = backup;
		out->e.path = strdup("");
		if (!out->e.path) {
			rc = -ENOMEM;
			goto out_put;
		}
		out->e.type = BFS_T_DIR;
		out->e.mode = 0755;
		out->e.uid = (uint32_t)sqlite3_column_int64(st, 1);
		out->e.gid = (uint32_t)sqlite3_column_int64(st, 2);
		out->e.mtime_ns = sqlite3_column_int64(st, 3);
		out->nlink = (uint32_t)(2 + sqlite3_column_int64(st, 4));
	}
out_put:
	cat_stmt_put(c, ST_BACKUP_ROOT, st);
	return rc;
}

static int lookup_in(struct bfs_catalog *c, int64_t parent, const char *name,
		     size_t n, struct bfs_cat_entry *out, bool links,
		     struct bfs_err *err);

/* A hardlink (e.link set): link_id and nlink of the group's first entry,
 * found by its path in the same backup.  A link whose target is not a
 * plain file of the backup is left with link_id 0 (its chunk list then
 * says why). */
static void resolve_link(struct bfs_catalog *c, struct bfs_cat_entry *o)
{
	const char *p, *end, *slash;
	struct bfs_cat_entry cur, nx;
	int64_t dir;

	if (!o->e.link)
		return;
	memset(&cur, 0, sizeof(cur));
	dir = ino_make(o->backup, 0);
	p = o->e.link;
	end = p + o->e.link_len;
	for (;;) {
		while (p < end && *p == '/')
			p++;
		if (p == end)
			break;
		slash = memchr(p, '/', (size_t)(end - p));
		if (!slash)
			slash = end;
		if (lookup_in(c, dir, p, (size_t)(slash - p), &nx, false,
			      NULL) < 0)
			goto out_clear;
		bfs_cat_entry_clear(&cur);
		cur = nx;
		dir = cur.id;
		p = slash;
	}
	if (cur.id && cur.e.type == BFS_T_FILE && !cur.e.link &&
	    cur.id != o->id) {
		o->link_id = cur.id;
		o->nlink = cur.nlink;
	}
out_clear:
	bfs_cat_entry_clear(&cur);
}

/* -EIO with the reason if directory tree `tree` is damaged in the
 * repository (ingested without its entries), else 0.  Asked only when a
 * lookup or listing of it finds nothing, so that a damaged directory is
 * an error and never an empty or shorter listing. */
static int tree_ok(struct bfs_catalog *c, int64_t tree, struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_TREE_ERROR, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, tree);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		rc = bfs_err_set(err, -EIO,
				 "directory damaged in the repository: %s",
				 (const char *)sqlite3_column_text(st, 0));
	else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = 0;
	else
		rc = cat_sqlerr(c, rc, err, "cannot read a tree");
	cat_stmt_put(c, ST_TREE_ERROR, st);
	return rc;
}

int cat_resolve(struct bfs_catalog *c, int64_t ino, struct cat_pos *pos,
		struct bfs_cat_entry *out, bool links, struct bfs_err *err)
{
	int64_t backup = ino >> CAT_INO_SHIFT, pre = ino & CAT_PRE_MASK;
	int64_t tree, dirpre = 0, parent, rel, p, count;
	sqlite3_stmt *st;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (ino <= 0 || backup <= 0 || backup >= CAT_BACKUP_MAX)
		return cat_no_entry(err, ino);
	if (icache_get(c, ino, pos)) {
		if (!out)
			return 0;
		if (!pos->tree)
			return root_of(c, backup, &tree, out, err);
		/* one primary-key read of the entry's row; a row that is
		 * gone or whose pre moved (a reused run id) is stale */
		rc = cat_stmt_get(c, ST_ENTRY_RUN_AT, &st, err);
		if (rc)
			return rc;
		sqlite3_bind_int64(st, 1, pos->run);
		sqlite3_bind_int64(st, 2, pos->idx);
		sqlite3_bind_int64(st, 3, pos->slot);
		sqlite3_bind_int64(st, 4, pre - pos->dirpre);
		sqlite3_bind_int64(st, 5, pos->rpre);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			rc = fill_entry(st, out, backup, pos->dirpre,
					pos->parent);
		else if (rc == SQLITE_DONE)
			rc = 1; /* stale: walk */
		else
			rc = cat_sqlerr(c, rc, err, "cannot read an entry");
		cat_stmt_put(c, ST_ENTRY_RUN_AT, st);
		if (rc <= 0) {
			if (!rc && links)
				resolve_link(c, out);
			return rc;
		}
		icache_drop(c, ino);
	}

	rc = root_of(c, backup, &tree, pre ? NULL : out, err);
	if (rc)
		return rc;
	if (!pre) {
		*pos = (struct cat_pos){.ino = ino, .child = tree};
		icache_put(c, pos);
		return 0;
	}
	parent = ino_make(backup, 0);
	rc = cat_stmt_get(c, ST_ENTRY_PRE, &st, err);
	if (rc)
		return rc;
	for (;;) {
		rel = pre - dirpre;
		sqlite3_bind_int64(st, 1, tree);
		sqlite3_bind_int64(st, 2, rel);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			rc = tree_ok(c, tree, err);
			if (!rc)
				rc = cat_no_entry(err, ino);
			break;
		}
		if (rc != SQLITE_ROW) {
			rc = cat_sqlerr(c, rc, err, "cannot read an entry");
			break;
		}
		p = sqlite3_column_int64(st, EC_PRE);
		if (p == rel) {
			pos_of_row(st, pos, ino, tree, dirpre, parent);
			rc = out ? fill_entry(st, out, backup, dirpre, parent)
				 : 0;
			break;
		}
		/* The entry before: a directory whose subtree holds pre, or
		 * nothing has it.  Relative pres are >= 1, so dirpre grows
		 * and the walk ends. */
		count = sqlite3_column_int64(st, EC_COUNT);
		if (sqlite3_column_int(st, EC_TYPE) != BFS_T_DIR || p < 1 ||
		    sqlite3_column_type(st, EC_CHILD) == SQLITE_NULL ||
		    rel > p + count) {
			rc = cat_no_entry(err, ino);
			break;
		}
		parent = ino_make(backup, dirpre + p);
		dirpre += p;
		tree = sqlite3_column_int64(st, EC_CHILD);
		sqlite3_reset(st);
	}
	cat_stmt_put(c, ST_ENTRY_PRE, st);
	if (rc)
		return rc;
	icache_put(c, pos);
	if (out && links)
		resolve_link(c, out);
	return 0;
}

/* ---- entries -------------------------------------------------------------
 */

/* Entry by id, as stored (a hardlink with link_id and nlink of its
 * group).  -ENOENT "no entry N in the catalog". */
int bfs_catalog_get(struct bfs_catalog *c, int64_t id,
		    struct bfs_cat_entry *out, struct bfs_err *err)
{
	struct cat_pos pos;

	return cat_resolve(c, id, &pos, out, true, err);
}

static int lookup_in(struct bfs_catalog *c, int64_t parent, const char *name,
		     size_t n, struct bfs_cat_entry *out, bool links,
		     struct bfs_err *err)
{
	int64_t backup = parent >> CAT_INO_SHIFT;
	int64_t dirpre = parent & CAT_PRE_MASK;
	struct cat_pos pp, pos;
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cat_resolve(c, parent, &pp, NULL, false, err);
	if (rc)
		return rc;
	if (!pp.child)
		goto out_noent;
	rc = cat_stmt_get(c, ST_ENTRY_NAME, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, pp.child);
	cat_bind_bytes(st, 2, name, n);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = fill_entry(st, out, backup, dirpre, parent);
		if (!rc) {
			pos_of_row(st, &pos, out->id, pp.child, dirpre, parent);
			icache_put(c, &pos);
		}
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot look up an entry");
	}
	cat_stmt_put(c, ST_ENTRY_NAME, st);
	if (rc == -ENOENT && (rc = tree_ok(c, pp.child, err)) == 0)
		goto out_noent;
	if (!rc && links)
		resolve_link(c, out);
	return rc;
out_noent:
	return bfs_err_set(err, -ENOENT, "no '%.*s' in directory %lld",
			   (int)BFS_MIN(n, 300), name, (long long)parent);
}

/* Child name[0..n) of directory parent.  -ENOENT if none (the message
 * names parent id and the name). */
int bfs_catalog_lookup(struct bfs_catalog *c, int64_t parent, const char *name,
		       size_t n, struct bfs_cat_entry *out, struct bfs_err *err)
{
	return lookup_in(c, parent, name, n, out, true, err);
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

/* Children of dir with id > after, in slot order (ids increase with the
 * slot), at most limit (0 = all), read with statement sid
 * (ST_ENTRY_READDIR or its _ATTRS variant: same columns).  cb gets a
 * borrowed entry valid during the call; non-zero from cb stops and is
 * returned.  0 / -errno.  An id that is not a directory simply has no
 * children. */
static int readdir_with(struct bfs_catalog *c, enum cat_st sid, int64_t dir,
			int64_t after, unsigned limit, bfs_entry_cb cb,
			void *arg, struct bfs_err *err)
{
	int64_t backup = dir >> CAT_INO_SHIFT, dirpre = dir & CAT_PRE_MASK;
	int64_t rel = 0, slot = -1;
	struct cat_pos pp, pos;
	struct cat_chain ch;
	struct bfs_cat_entry e;
	sqlite3_stmt *st;
	unsigned rows = 0;
	int rc;

	rc = cat_resolve(c, dir, &pp, NULL, false, err);
	if (rc)
		return rc;
	if (!pp.child)
		return 0;
	if (after >> CAT_INO_SHIFT == backup && (after & CAT_PRE_MASK) > dirpre)
		rel = (after & CAT_PRE_MASK) - dirpre;
	/* the slot of the last child handed out (the one with the largest
	 * pre <= after): the page goes on from the next slot */
	if (rel) {
		rc = cat_stmt_get(c, ST_ENTRY_SLOT_OF, &st, err);
		if (rc)
			return rc;
		sqlite3_bind_int64(st, 1, pp.child);
		sqlite3_bind_int64(st, 2, rel);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			slot = sqlite3_column_int64(st, 0);
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE
			 ? 0
			 : cat_sqlerr(c, rc, err, "cannot read a directory");
		cat_stmt_put(c, ST_ENTRY_SLOT_OF, st);
		if (rc)
			return rc;
	}
	ch.slot = slot + 1;
	ch.pre = rel ? -1 : 1;
	rc = cat_stmt_get(c, sid, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, pp.child);
	sqlite3_bind_int64(st, 2, slot);
	sqlite3_bind_int64(st, 3, limit ? (int64_t)limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc =
		    cat_chain_row(c, &ch, sqlite3_column_int64(st, EC_SLOT),
				  sqlite3_column_int64(st, EC_PRE),
				  sqlite3_column_int64(st, EC_COUNT), dir, err);
		if (rc)
			goto out_put;
		rc = fill_entry_as(st, &e, backup, dirpre, dir,
				   sid == ST_ENTRY_READDIR_ATTRS);
		if (rc)
			goto out_put;
		pos_of_row(st, &pos, e.id, pp.child, dirpre, dir);
		icache_put(c, &pos);
		resolve_link(c, &e);
		rows++;
		rc = cb(arg, &e);
		entry_free_strings(&e);
		if (rc)
			goto out_put;
	}
	rc = rc == SQLITE_DONE
		 ? 0
		 : cat_sqlerr(c, rc, err, "cannot read a directory");
out_put:
	cat_stmt_put(c, sid, st);
	if (!rc && !rows && !rel)
		rc = tree_ok(c, pp.child, err);
	if (!rc && (!limit || rows < limit))
		rc = cat_chain_end(c, &ch, pp.child, !rel, dir, err);
	/* its children may have pushed the directory out of the cache: the
	 * next page needs it again */
	icache_put(c, &pp);
	return rc;
}

int bfs_catalog_readdir(struct bfs_catalog *c, int64_t dir, int64_t after,
			unsigned limit, bfs_entry_cb cb, void *arg,
			struct bfs_err *err)
{
	return readdir_with(c, ST_ENTRY_READDIR, dir, after, limit, cb, arg,
			    err);
}

int bfs_catalog_readdir_attrs(struct bfs_catalog *c, int64_t dir, int64_t after,
			      unsigned limit, bfs_entry_cb cb, void *arg,
			      struct bfs_err *err)
{
	return readdir_with(c, ST_ENTRY_READDIR_ATTRS, dir, after, limit, cb,
			    arg, err);
}

int cat_children(struct bfs_catalog *c, int64_t dir, cat_child_cb cb, void *arg,
		 struct bfs_err *err)
{
	int64_t backup = dir >> CAT_INO_SHIFT, dirpre = dir & CAT_PRE_MASK;
	struct cat_chain ch = {.slot = 0, .pre = 1};
	struct bfs_cat_entry e;
	struct cat_pos pp;
	sqlite3_stmt *st;
	const uint8_t *refs;
	size_t len;
	unsigned rows = 0;
	int rc;

	rc = cat_resolve(c, dir, &pp, NULL, false, err);
	if (rc)
		return rc;
	if (!pp.child)
		return bfs_err_set(err, -ENOTDIR, "entry %lld is no directory",
				   (long long)dir);
	rc = cat_stmt_get(c, ST_ENTRY_READDIR_CHUNKS, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, pp.child);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		rc =
		    cat_chain_row(c, &ch, sqlite3_column_int64(st, EC_SLOT),
				  sqlite3_column_int64(st, EC_PRE),
				  sqlite3_column_int64(st, EC_COUNT), dir, err);
		if (rc)
			goto out_put;
		rc = fill_entry(st, &e, backup, dirpre, dir);
		if (rc)
			goto out_put;
		len = (size_t)sqlite3_column_bytes(st, EC_CHUNKS);
		rc = cat_entry_refs(c, sqlite3_column_int64(st, EC_RUN),
				    sqlite3_column_int64(st, EC_IDX), e.id,
				    e.nchunks,
				    sqlite3_column_blob(st, EC_CHUNKS), len,
				    &c->pieces, &refs, err);
		if (rc) {
			bfs_cat_entry_clear(&e);
			goto out_put;
		}
		{
			const uint8_t *parts = NULL;
			size_t plen = 0;

			if (e.e.type == BFS_T_DIR &&
			    sqlite3_column_type(st, EC_PARTS) == SQLITE_BLOB) {
				parts = sqlite3_column_blob(st, EC_PARTS);
				plen =
				    (size_t)sqlite3_column_bytes(st, EC_PARTS);
			}
			rc = cb(arg, &e, refs, refs ? (size_t)e.nchunks : 0,
				parts, plen / BFS_HASH_LEN,
				(uint64_t)sqlite3_column_int64(st, EC_COUNT));
		}
		bfs_cat_entry_clear(&e);
		if (rc)
			goto out_put;
	}
	rc = rc == SQLITE_DONE
		 ? 0
		 : cat_sqlerr(c, rc, err, "cannot read a directory");
out_put:
	cat_stmt_put(c, ST_ENTRY_READDIR_CHUNKS, st);
	/* the list of a huge file should not stay around */
	if (c->pieces.cap > (1u << 20))
		bfs_buf_free(&c->pieces);
	if (!rc && !rows)
		rc = tree_ok(c, pp.child, err);
	if (!rc)
		rc = cat_chain_end(c, &ch, pp.child, true, dir, err);
	return rc;
}

struct bfs_catalog_locator {
	pthread_mutex_t lock; /* cat */
	char *path;
	char repo_id[65];
	struct bfs_catalog *cat; /* NULL until first use */
};

int bfs_catalog_locator_new(const struct bfs_catalog *c,
			    struct bfs_catalog_locator **out,
			    struct bfs_err *err)
{
	struct bfs_catalog_locator *l = calloc(1, sizeof(*l));

	*out = NULL;
	if (!l || !(l->path = strdup(c->path)) ||
	    pthread_mutex_init(&l->lock, NULL)) {
		if (l)
			free(l->path);
		free(l);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(l->repo_id, c->repo_id, sizeof(l->repo_id));
	*out = l;
	return 0;
}

void bfs_catalog_locator_free(void *arg)
{
	struct bfs_catalog_locator *l = arg;

	if (!l)
		return;
	bfs_catalog_close(l->cat);
	pthread_mutex_destroy(&l->lock);
	free(l->path);
	free(l);
}

int bfs_catalog_locate(void *arg, const uint8_t id[BFS_HASH_LEN],
		       struct bfs_chunkref *out)
{
	struct bfs_catalog_locator *l = arg;
	int rc = 0;

	pthread_mutex_lock(&l->lock);
	if (!l->cat)
		rc = bfs_catalog_open(l->path, l->repo_id, true, &l->cat, NULL);
	if (!rc)
		rc = bfs_catalog_chunk_lookup(l->cat, id, out);
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/* Root id of the backup that statement which (ST_PREV_SOURCE,
 * ST_PREV_DEST with job) finds first for text.  -ENOENT if none. */
static int prev_backup(struct bfs_catalog *c, enum cat_st which,
		       const char *text, const char *job, int64_t *root,
		       struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, which, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	if (which == ST_PREV_DEST) {
		if (job)
			sqlite3_bind_text(st, 2, job, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 2);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*root = ino_make(sqlite3_column_int64(st, 0), 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = bfs_err_set(err, -ENOENT,
				 "no backup with source %s"
				 " '%.300s' in the catalog",
				 which == ST_PREV_DEST ? "destination" : "key",
				 text);
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot find a previous source");
	}
	cat_stmt_put(c, which, st);
	return rc;
}

int bfs_catalog_prev_source(struct bfs_catalog *c, const char *source_key,
			    int64_t *root, struct bfs_err *err)
{
	return prev_backup(c, ST_PREV_SOURCE, source_key, NULL, root, err);
}

int bfs_catalog_prev_dest(struct bfs_catalog *c, const char *dest,
			  const char *job, int64_t *root, struct bfs_err *err)
{
	return prev_backup(c, ST_PREV_DEST, dest, job, root, err);
}
