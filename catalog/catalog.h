/* catalog.h - the SQLite catalog: a local, rebuildable index of every
 * manifest of one repository.  Only catalog/ includes sqlite3.h.
 *
 * Schema (catalog/catalog.c has the SQL; doc/ARCHITECTURE.md explains):
 *   backups(id, name, time_ns, host, tags, header_json, partial, stats...)
 *   entries(id, backup, parent, name, type, mode, uid, gid, user, grp,
 *           mtime_ns, ctime_ns, ino, size, target, link, nlink, error,
 *           chunks BLOB)      -- chunks: n x BFS_CHUNKREF_BLOB bytes
 *   chunk_loc(hash PRIMARY KEY, pack, offset, clen, len)  -- for dedup
 * Every backup has one root entry (type dir, parent 0, name "").  Entry
 * ids are stable until the backup is dropped or the catalog rebuilt; the
 * mount uses them as inode numbers.
 *
 * Thread safety: a struct bfs_catalog is one SQLite connection; use one per
 * thread (the mount opens one per FUSE worker).  WAL mode: readers and one
 * writer in other processes work concurrently.
 */
#ifndef BFS_CATALOG_H
#define BFS_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "src/manifest.h"
#include "src/repo.h"
#include "src/util.h"

struct bfs_catalog;

/* Default path: $XDG_CACHE_HOME/backupfs/<repo id>.db (or
 * ~/.cache/backupfs/...).  Allocates *out. */
int bfs_catalog_default_path(const char *repo_id, char **out,
			     struct bfs_err *err);

/* Open or create the catalog at path for repository repo_id (a catalog of
 * another repository is refused with -EINVAL).  readonly opens without
 * creating or migrating. */
int bfs_catalog_open(const char *path, const char *repo_id, bool readonly,
		     struct bfs_catalog **out, struct bfs_err *err);
void bfs_catalog_close(struct bfs_catalog *c); /* NULL ok */

struct bfs_sync_stats {
	unsigned added, removed, unchanged;
};
/* Ingest manifests present in the repository but not in the catalog;
 * drop backups whose manifest is gone.  Each manifest is ingested in its
 * own transaction; a corrupt manifest is reported (-EUCLEAN, naming it)
 * after the others are ingested.  stats may be NULL. */
int bfs_catalog_sync(struct bfs_catalog *c, struct bfs_repo *r,
		     struct bfs_sync_stats *stats, struct bfs_err *err);
/* Drop everything and ingest all manifests again. */
int bfs_catalog_rebuild(struct bfs_catalog *c, struct bfs_repo *r,
			struct bfs_sync_stats *stats, struct bfs_err *err);
/* Ingest one manifest (compressed bytes).  name must equal the header id.
 * -EEXIST if the backup is already in the catalog. */
int bfs_catalog_ingest(struct bfs_catalog *c, const char *name,
		       const void *data, size_t len, struct bfs_err *err);
/* Remove one backup (and its entries). */
int bfs_catalog_drop(struct bfs_catalog *c, const char *name,
		     struct bfs_err *err);

struct bfs_backup_info {
	int64_t rowid;
	char name[129];
	int64_t time_ns;
	char host[256];
	char *tags_json;   /* JSON array text, owned (free with
			      bfs_backup_info_clear) */
	char *header_json; /* line 1 of the manifest, owned */
	bool partial;
	int64_t root; /* entry id of the backup's root dir */
	struct bfs_backup_stats stats;
};
void bfs_backup_info_clear(struct bfs_backup_info *b);

/* Backups oldest first.  cb returns non-zero to stop. */
typedef int (*bfs_backup_cb)(void *arg, const struct bfs_backup_info *b);
int bfs_catalog_list(struct bfs_catalog *c, bfs_backup_cb cb, void *arg,
		     struct bfs_err *err);
/* By name, or "latest" (newest time, then name).  -ENOENT with "no backup
 * 'NAME' in the catalog" if absent. */
int bfs_catalog_find_backup(struct bfs_catalog *c, const char *name,
			    struct bfs_backup_info *out, struct bfs_err *err);
/* Cheap change detector for the mount: number of backups and max rowid. */
int bfs_catalog_generation(struct bfs_catalog *c, int64_t *gen);

/* One entry as stored.  Strings owned; bfs_cat_entry_clear frees. */
struct bfs_cat_entry {
	int64_t id;	    /* stable inode-like id */
	int64_t backup;	    /* backups.rowid */
	int64_t parent;	    /* 0 for a backup root */
	struct bfs_entry e; /* e.path is the NAME only (last component) */
	uint32_t nlink;	    /* dirs: 2 + subdirs; files: links in backup */
	int64_t link_id;    /* hardlink: id of the entry carrying data, 0 */
	uint64_t nchunks;
};
void bfs_cat_entry_clear(struct bfs_cat_entry *e);

/* Get entry by id.  Hardlinks are returned as stored (link_id set). */
int bfs_catalog_get(struct bfs_catalog *c, int64_t id,
		    struct bfs_cat_entry *out, struct bfs_err *err);
/* Child of dir `parent` named name[0..n).  -ENOENT if none. */
int bfs_catalog_lookup(struct bfs_catalog *c, int64_t parent, const char *name,
		       size_t n, struct bfs_cat_entry *out,
		       struct bfs_err *err);
/* Entry at path ("a/b/c", "" = root) inside backup root `root`. */
int bfs_catalog_lookup_path(struct bfs_catalog *c, int64_t root,
			    const char *path, struct bfs_cat_entry *out,
			    struct bfs_err *err);
/* Children of dir with id > after (pass 0 to start), ordered by id, so
 * the last id seen is a stable readdir offset.  At most limit rows
 * (0 = all).  cb returns non-zero to stop. */
typedef int (*bfs_entry_cb)(void *arg, const struct bfs_cat_entry *e);
int bfs_catalog_readdir(struct bfs_catalog *c, int64_t dir, int64_t after,
			unsigned limit, bfs_entry_cb cb, void *arg,
			struct bfs_err *err);
/* The chunk list of a file (follows hardlinks).  *out malloc'ed (caller
 * frees), *n chunks, in file order. */
int bfs_catalog_chunks(struct bfs_catalog *c, int64_t id,
		       struct bfs_chunkref **out, size_t *n,
		       struct bfs_err *err);
/* Dedup lookup: where is a chunk with this hash already stored?
 * 0 and *out filled, or -ENOENT. */
int bfs_catalog_chunk_lookup(struct bfs_catalog *c,
			     const uint8_t hash[BFS_HASH_LEN],
			     struct bfs_chunkref *out);
/* The newest backup whose header lists a source with this key (see
 * writer.h), for unchanged-file detection.  *root = its root entry id.
 * -ENOENT if none. */
int bfs_catalog_prev_source(struct bfs_catalog *c, const char *source_key,
			    int64_t *root, struct bfs_err *err);

/* The index operations of src/index.h over this catalog, for a backup
 * (catalog_index.c).  cat and repo are borrowed and must outlive the
 * index; the index serialises its use of cat with a lock of its own, so
 * the writer's threads may share it, but nothing else may use cat while
 * a backup runs.  Free with bfs_index_free.  0 or -ENOMEM. */
struct bfs_index;
int bfs_catalog_index_new(struct bfs_catalog *cat, struct bfs_repo *repo,
			  struct bfs_index **out);

#endif
