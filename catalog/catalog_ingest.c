/* catalog_ingest.c - one manifest -> catalog rows, in one transaction.
 *
 * The manifest is untrusted input.  The reader (src/manifest_read.c) checks
 * its syntax, paths and end line; here we check its structure: every
 * entry's parent directory came before it (nothing is created
 * implicitly), hardlinks point at an earlier file, no path appears twice
 * (except a directory, whose later line updates its metadata: the writer
 * emits that when an implicit parent directory gets real metadata).
 * A violation is -EUCLEAN naming the manifest and the path.
 *
 * Speed: one transaction, cached prepared statements, entry ids assigned
 * here (not by SQLite) so parents are resolved from an in-memory map of
 * directory path -> id without a query.  ~100k entries per second or
 * better.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "catalog/catalog_int.h"
#include "src/format.h"
#include "src/hmap.h"

/* ---- directory path -> id ------------------------------------------------ */

/* Keyed by the path's SHA-256 truncated to 16 bytes, as the writer keys
 * its path set (hmap.h): fixed-size records, no copy of the paths. */
#define PM_KEY 16

struct pm_slot {
	uint8_t key[PM_KEY];
	int64_t id;    /* entry id (ids start at 1) */
	uint64_t nsub; /* subdirectories seen */
};

static void pm_key(uint8_t key[PM_KEY], const char *p, size_t n)
{
	uint8_t h[BFS_HASH_LEN];

	bfs_sha256(h, p, n);
	memcpy(key, h, PM_KEY);
}

/* Slot holding path p[0..n), or NULL.  Valid until the next pm_add. */
static struct pm_slot *pm_find(struct bfs_hmap *m, const char *p, size_t n)
{
	uint8_t key[PM_KEY];

	pm_key(key, p, n);
	return bfs_hmap_find(m, key);
}

/* Add a path known to be absent.  Slot pointers die here. */
static int pm_add(struct bfs_hmap *m, const char *p, size_t n, int64_t id)
{
	struct pm_slot s = {.id = id};
	int rc;

	pm_key(s.key, p, n);
	rc = bfs_hmap_insert(m, &s, NULL);
	return rc == -EEXIST ? 0 : rc;
}

/* ---- one ingest -------------------------------------------------------- */

struct ingest {
	struct bfs_catalog *c;
	const char *key; /* "manifests/<name>", for messages */
	int64_t backup;	 /* backups.id */
	int64_t next_id; /* next entry id */
	int64_t root;
	uint32_t root_uid, root_gid;
	bool have_top;	      /* saw a top-level entry */
	struct bfs_hmap dirs; /* directory path -> struct pm_slot */
	int64_t *links;	      /* pairs (link entry id, target id) */
	size_t nlinks, caplinks;
};

static int corrupt(struct ingest *g, struct bfs_err *err,
		   const struct bfs_entry *e, const char *why)
{
	return bfs_err_set(err, -EUCLEAN, "manifest '%s': entry '%.*s': %s",
			   g->key, (int)BFS_MIN(e->path_len, 400), e->path,
			   why);
}

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

/* Path a/b/c -> parent "a/b" (len) and name "c". */
static void split_path(const char *p, size_t n, size_t *plen, const char **name,
		       size_t *nlen)
{
	const char *slash = memrchr(p, '/', n);

	if (!slash) {
		*plen = 0;
		*name = p;
		*nlen = n;
	} else {
		*plen = (size_t)(slash - p);
		*name = slash + 1;
		*nlen = n - *plen - 1;
	}
}

/* A directory listed again: its last line's metadata wins. */
static int update_dir(struct ingest *g, int64_t id, const struct bfs_entry *e,
		      struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_ENTRY_UPDATE_DIR, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, e->mode);
	sqlite3_bind_int64(st, 3, e->uid);
	sqlite3_bind_int64(st, 4, e->gid);
	bind_str(st, 5, e->user);
	bind_str(st, 6, e->group);
	sqlite3_bind_int64(st, 7, e->mtime_ns);
	sqlite3_bind_int64(st, 8, e->ctime_ns);
	sqlite3_bind_int64(st, 9, (int64_t)e->ino);
	bind_str(st, 10, e->error);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE
		 ? 0
		 : cat_sqlerr(c, rc, err, "cannot update a directory");
	cat_stmt_put(c, ST_ENTRY_UPDATE_DIR, st);
	return rc;
}

static int add_link(struct ingest *g, int64_t id, int64_t target)
{
	if (g->nlinks == g->caplinks) {
		size_t ncap = g->caplinks ? g->caplinks * 2 : 64;
		int64_t *n = realloc(g->links, ncap * 2 * sizeof(*n));

		if (!n)
			return -ENOMEM;
		g->links = n;
		g->caplinks = ncap;
	}
	g->links[2 * g->nlinks] = id;
	g->links[2 * g->nlinks + 1] = target;
	g->nlinks++;
	return 0;
}

static int exec_id(struct ingest *g, enum cat_st id, int64_t a, int64_t b,
		   struct bfs_err *err)
{
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(g->c, id, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE
		 ? 0
		 : cat_sqlerr(g->c, rc, err, "cannot update an entry");
	cat_stmt_put(g->c, id, st);
	return rc;
}

static int insert_chunks(struct ingest *g, const struct bfs_chunkref *ch,
			 size_t n, struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	sqlite3_stmt *st;
	size_t i;
	int rc;

	c->scratch.len = 0;
	rc = bfs_buf_reserve(&c->scratch, n * BFS_CHUNKREF_BLOB);
	if (rc)
		return rc;
	rc = cat_stmt_get(c, ST_CHUNK_INSERT, &st, err);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		bfs_chunkref_pack(c->scratch.data + c->scratch.len, &ch[i]);
		c->scratch.len += BFS_CHUNKREF_BLOB;
		cat_bind_bytes(st, 1, ch[i].hash, BFS_HASH_LEN);
		cat_bind_bytes(st, 2, ch[i].pack, BFS_HASH_LEN);
		sqlite3_bind_int64(st, 3, (int64_t)ch[i].offset);
		sqlite3_bind_int64(st, 4, ch[i].clen);
		sqlite3_bind_int64(st, 5, ch[i].len);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE) {
			rc = cat_sqlerr(c, rc, err, "cannot record a chunk");
			goto out_put;
		}
		sqlite3_reset(st);
	}
	rc = 0;
out_put:
	cat_stmt_put(c, ST_CHUNK_INSERT, st);
	return rc;
}

static int ingest_entry(struct ingest *g, const struct bfs_entry *e,
			const struct bfs_chunkref *chunks, size_t nchunks,
			struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	sqlite3_stmt *st = NULL, *lk = NULL;
	const char *name, *lname;
	size_t plen, nlen, lplen, lnlen;
	struct pm_slot *ps, *ds;
	int64_t id, parent, link = 0;
	int type = e->type, rc;
	uint32_t mode = e->mode, uid = e->uid, gid = e->gid;
	uint64_t size = e->size;
	const void *user = e->user, *grp = e->group;
	size_t ulen = e->user ? strlen(e->user) : 0;
	size_t glen = e->group ? strlen(e->group) : 0;

	if (!e->path || !e->path_len || e->path[0] == '/')
		return corrupt(g, err, e, "bad path");
	if (!bfs_manifest_type_valid(type))
		return corrupt(g, err, e, "unknown type");
	split_path(e->path, e->path_len, &plen, &name, &nlen);
	if (!nlen)
		return corrupt(g, err, e, "bad path");
	ps = pm_find(&g->dirs, e->path, plen);
	if (!ps)
		return corrupt(g, err, e, "its parent directory is missing");
	parent = ps->id;
	if (!plen && !g->have_top) {
		g->have_top = true;
		g->root_uid = e->uid;
		g->root_gid = e->gid;
	}
	if (type == BFS_T_DIR) {
		ds = pm_find(&g->dirs, e->path, e->path_len);
		if (ds) {
			if (e->link || nchunks)
				return corrupt(g, err, e,
					       "a directory with"
					       " content");
			return update_dir(g, ds->id, e, err);
		}
	}
	if (e->link && type != BFS_T_FILE)
		return corrupt(g, err, e, "a hardlink that is not a file");
	if (nchunks && (type != BFS_T_FILE || e->link))
		return corrupt(g, err, e,
			       "chunks for an entry without"
			       " content");

	if (e->link) {
		/* Hardlink: the entry at e->link carries the data; this one
		 * shares its inode's metadata. */
		split_path(e->link, e->link_len, &lplen, &lname, &lnlen);
		ds = pm_find(&g->dirs, e->link, lplen);
		if (!ds || !lnlen)
			return corrupt(g, err, e,
				       "hardlink to a missing"
				       " entry");
		rc = cat_stmt_get(c, ST_ENTRY_LOOKUP, &lk, err);
		if (rc)
			return rc;
		sqlite3_bind_int64(lk, 1, ds->id);
		cat_bind_bytes(lk, 2, lname, lnlen);
		rc = sqlite3_step(lk);
		if (rc == SQLITE_DONE) {
			rc = corrupt(g, err, e, "hardlink to a missing entry");
			goto out_put;
		}
		if (rc != SQLITE_ROW) {
			rc = cat_sqlerr(c, rc, err, "cannot look up an entry");
			goto out_put;
		}
		/* columns as ENTRY_COLS; kept until the insert below */
		if (sqlite3_column_int(lk, 4) != BFS_T_FILE) {
			rc = corrupt(g, err, e, "hardlink to a non-file");
			goto out_put;
		}
		link = sqlite3_column_int64(lk, 16);
		if (!link)
			link = sqlite3_column_int64(lk, 0);
		type = BFS_T_FILE;
		mode = (uint32_t)sqlite3_column_int64(lk, 5);
		uid = (uint32_t)sqlite3_column_int64(lk, 6);
		gid = (uint32_t)sqlite3_column_int64(lk, 7);
		user = sqlite3_column_blob(lk, 8);
		ulen = (size_t)sqlite3_column_bytes(lk, 8);
		grp = sqlite3_column_blob(lk, 9);
		glen = (size_t)sqlite3_column_bytes(lk, 9);
		size = (uint64_t)sqlite3_column_int64(lk, 13);
	}

	id = g->next_id++;
	if (type == BFS_T_DIR) {
		ps->nsub++; /* before pm_add moves slots */
		rc = pm_add(&g->dirs, e->path, e->path_len, id);
		if (rc)
			goto out_put;
	}
	rc = cat_stmt_get(c, ST_ENTRY_INSERT, &st, err);
	if (rc)
		goto out_put;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, g->backup);
	sqlite3_bind_int64(st, 3, parent);
	cat_bind_bytes(st, 4, name, nlen);
	sqlite3_bind_int(st, 5, type);
	sqlite3_bind_int64(st, 6, mode & 07777);
	sqlite3_bind_int64(st, 7, uid);
	sqlite3_bind_int64(st, 8, gid);
	bind_opt(st, 9, user, ulen);
	bind_opt(st, 10, grp, glen);
	sqlite3_bind_int64(st, 11, e->mtime_ns);
	sqlite3_bind_int64(st, 12, e->ctime_ns);
	sqlite3_bind_int64(st, 13, (int64_t)e->ino);
	sqlite3_bind_int64(st, 14, (int64_t)size);
	sqlite3_bind_int64(st, 15, (int64_t)e->rdev);
	bind_opt(st, 16, e->target, e->target_len);
	sqlite3_bind_int64(st, 17, link);
	sqlite3_bind_int64(st, 18, type == BFS_T_DIR ? 2 : 1);
	bind_str(st, 19, e->error);
	sqlite3_bind_int(st, 20, e->sparse);
	sqlite3_bind_int64(st, 21, (int64_t)nchunks);
	if (nchunks) {
		rc = insert_chunks(g, chunks, nchunks, err);
		if (rc)
			goto out_put;
		cat_bind_bytes(st, 22, c->scratch.data, c->scratch.len);
	} else {
		sqlite3_bind_null(st, 22);
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		if ((rc & 0xff) == SQLITE_CONSTRAINT)
			rc = corrupt(g, err, e, "listed twice");
		else
			rc = cat_sqlerr(c, rc, err, "cannot insert an entry");
		goto out_put;
	}
	rc = 0;
	if (link) {
		rc = exec_id(g, ST_ENTRY_NLINK_INC, link, 0, err);
		if (!rc)
			rc = add_link(g, id, link);
	}
out_put:
	cat_stmt_put(c, ST_ENTRY_INSERT, st);
	cat_stmt_put(c, ST_ENTRY_LOOKUP, lk);
	return rc;
}

static int insert_root(struct ingest *g, int64_t time_ns, struct bfs_err *err)
{
	struct bfs_catalog *c = g->c;
	struct pm_slot *r = pm_find(&g->dirs, "", 0);
	sqlite3_stmt *st;
	int rc;

	rc = cat_stmt_get(c, ST_ENTRY_INSERT, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, g->root);
	sqlite3_bind_int64(st, 2, g->backup);
	sqlite3_bind_int64(st, 3, 0);
	cat_bind_bytes(st, 4, "", 0);
	sqlite3_bind_int(st, 5, BFS_T_DIR);
	sqlite3_bind_int64(st, 6, 0755);
	sqlite3_bind_int64(st, 7, g->root_uid);
	sqlite3_bind_int64(st, 8, g->root_gid);
	sqlite3_bind_int64(st, 11, time_ns);
	sqlite3_bind_int64(st, 12, 0);
	sqlite3_bind_int64(st, 13, 0);
	sqlite3_bind_int64(st, 14, 0);
	sqlite3_bind_int64(st, 15, 0);
	sqlite3_bind_int64(st, 17, 0);
	sqlite3_bind_int64(st, 18, 2 + (int64_t)(r ? r->nsub : 0));
	sqlite3_bind_int(st, 20, 0);
	sqlite3_bind_int64(st, 21, 0);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0
			       : cat_sqlerr(c, rc, err, "cannot insert a root");
	cat_stmt_put(c, ST_ENTRY_INSERT, st);
	return rc;
}

/* After all entries: directories' nlink (2 + subdirectories), and every
 * hardlink's nlink = its target's. */
static int finish_nlinks(struct ingest *g, struct bfs_err *err)
{
	struct pm_slot *s;
	size_t i, it = 0;
	int rc;

	while ((s = bfs_hmap_next(&g->dirs, &it))) {
		if (!s->nsub || s->id == g->root)
			continue;
		rc = exec_id(g, ST_ENTRY_NLINK_SET, s->id, 2 + (int64_t)s->nsub,
			     err);
		if (rc)
			return rc;
	}
	for (i = 0; i < g->nlinks; i++) {
		rc = exec_id(g, ST_ENTRY_NLINK_COPY, g->links[2 * i],
			     g->links[2 * i + 1], err);
		if (rc)
			return rc;
	}
	return 0;
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

static int insert_backup(struct ingest *g, const struct bfs_manifest_header *h,
			 const char *name, const char *header_json,
			 const char *tags_json, size_t manifest_size,
			 struct bfs_err *err)
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
	sqlite3_bind_int64(st, 7, g->root);
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
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		g->backup = sqlite3_last_insert_rowid(c->db);
		rc = 0;
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

/* First free entry id: the meta counter, or past max(id) should the
 * counter ever lag (a catalog written by hand). */
static int first_entry_id(struct bfs_catalog *c, int64_t *out,
			  struct bfs_err *err)
{
	sqlite3_stmt *st;
	int64_t next = 1, max = 0;
	int rc;

	rc = cat_meta_get_int(c, "next_entry_id", &next, err);
	if (rc && rc != -ENOENT)
		return rc;
	rc = cat_stmt_get(c, ST_ENTRY_MAX_ID, &st, err);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		max = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot read entry ids");
	}
	cat_stmt_put(c, ST_ENTRY_MAX_ID, st);
	*out = BFS_MAX(next, max + 1);
	return rc;
}

/* Ingest one manifest (compressed bytes, borrowed) as backup `name`.  One
 * transaction: all or nothing.  Errors: -EEXIST already ingested (no
 * message change needed by sync), -EUCLEAN corrupt manifest (the message
 * names manifests/NAME and what is wrong), -EINVAL bad name, -EROFS
 * read-only catalog, SQLite errors.  Not thread-safe (one connection). */
int bfs_catalog_ingest(struct bfs_catalog *c, const char *name,
		       const void *data, size_t len, struct bfs_err *err)
{
	struct bfs_manifest_reader *rd = NULL;
	const struct bfs_manifest_header *h;
	char key[BFS_KEY_MAX];
	const char *header_json;
	char *tags_json = NULL;
	struct ingest g;
	int rc;

	memset(&g, 0, sizeof(g));
	g.c = c;
	g.key = key;
	rc = cat_check_writable(c, err);
	if (rc)
		return rc;
	if (bfs_key_manifest(key, name))
		return bfs_err_set(err, -EINVAL, "invalid backup id '%.200s'",
				   name);

	rc = bfs_manifest_reader_new(data, len, &rd, err);
	if (rc) {
		bfs_err_prefix(err, rc, "manifest '%s'", key);
		/* a newer format is not damage */
		return rc == -ENOMEM || rc == -EPROTO ? rc : -EUCLEAN;
	}
	rc = bfs_hmap_init(&g.dirs, sizeof(struct pm_slot), PM_KEY, 0,
			   BFS_HMAP_PREHASHED);
	if (rc) {
		bfs_err_set(err, rc, "out of memory");
		goto out_free;
	}
	h = bfs_manifest_reader_header(rd);
	if (!h->id || strcmp(h->id, name) != 0) {
		rc = bfs_err_set(err, -EUCLEAN,
				 "manifest '%s' is for backup"
				 " '%.200s'",
				 key, h->id ? h->id : "");
		goto out_free;
	}
	header_json = bfs_manifest_reader_header_line(rd, NULL);
	tags_json = tags_to_json(h->tags);
	if (!tags_json) {
		rc = -ENOMEM;
		goto out_free;
	}

	rc = cat_begin(c, err);
	if (rc)
		goto out_free;
	rc = first_entry_id(c, &g.next_id, err);
	if (rc)
		goto out_rollback;
	g.root = g.next_id++;
	rc = insert_backup(&g, h, name, header_json, tags_json, len, err);
	if (rc)
		goto out_rollback;
	rc = insert_sources(&g, h->sources_json, err);
	if (rc)
		goto out_rollback;
	rc = pm_add(&g.dirs, "", 0, g.root);
	if (rc)
		goto out_rollback;
	for (;;) {
		const struct bfs_chunkref *chunks = NULL;
		struct bfs_entry e;
		size_t nchunks = 0;

		memset(&e, 0, sizeof(e));
		rc = bfs_manifest_reader_next(rd, &e, &chunks, &nchunks, err);
		if (rc < 0) {
			bfs_err_prefix(err, rc, "manifest '%s'", key);
			if (rc != -ENOMEM)
				rc = -EUCLEAN;
			goto out_rollback;
		}
		if (rc == 0)
			break;
		rc = ingest_entry(&g, &e, chunks, nchunks, err);
		if (rc)
			goto out_rollback;
	}
	rc = insert_root(&g, h->time_ns, err);
	if (rc)
		goto out_rollback;
	rc = finish_nlinks(&g, err);
	if (rc)
		goto out_rollback;
	rc = cat_meta_set_int(c, "next_entry_id", g.next_id, err);
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
	free(g.links);
	bfs_hmap_fini(&g.dirs);
	free(tags_json);
	bfs_manifest_reader_free(rd);
	return rc;
}
