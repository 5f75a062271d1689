/* catalog.h - the SQLite catalog: a local, rebuildable index of every
 * index object and manifest of one (format 2) repository.  Only catalog/
 * includes sqlite3.h.
 *
 * Schema (catalog/catalog.c has the SQL; doc/ARCHITECTURE.md explains):
 *   backups(id, name, time_ns, host, tags, header_json, partial,
 *           root_tree, count, stats..., job)
 *   trees(id, parts, n, count, nsub, error) -- one row per distinct
 *           directory: its parts and the count its parent claims (unique
 *           together); error set when the tree is damaged in the
 *           repository (a part missing, unreadable or lying): it has no
 *           entries, and listing or looking up in it is -EIO with that
 *           reason, never a shorter listing
 *   runs(id, hash, n)  -- a few consecutive entries of a directory
 *           (content-defined, catalog_runs.c), shared by every version of
 *           the directory that has them
 *   tree_runs(tree, slot0, pre0, run, name0) -- a tree's runs in order
 *   entries(run, idx, pre, name, type, mode, ..., link, nl, child,
 *           count, chunks BLOB)        -- chunks: n x 36 bytes (hash, len)
 *   chunk_loc(hash, pack, off, clen, len, type, idx) -- from index/
 *   index_objects(id, name)
 * Entries belong to runs and runs to trees; a tree shared by many
 * backups, and a run shared by many versions of a directory, is stored
 * once.  Entry ids are inode numbers: (backup rowid << 40) | pre, pre
 * being the entry's number in a pre-order walk of its backup (the root
 * is pre 0), as doc/FORMAT.md 6.4 ("Inode numbers") defines them.  They are
 * stable for as long as the backup stays in the catalog, across syncs and drops
 * of other backups, and never reused by another backup of the same
 * catalog file.  All are >= 2^40.
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

/* A catalog file's identity: 32 lowercase hex digits (128 random bits)
 * made when the file was created, so that a reader can tell a file
 * replaced under it (deleted and created again, copied over) from the one
 * it started with.  0, or -EUCLEAN (missing or malformed). */
#define BFS_CAT_FILE_ID_LEN 32
int bfs_catalog_file_id(struct bfs_catalog *c,
			char out[BFS_CAT_FILE_ID_LEN + 1], struct bfs_err *err);

/* Check the file's structure (SQLite's quick_check, O(size)): 0, or
 * -EUCLEAN naming what is damaged (a truncated or overwritten file that
 * opened).  For `catalog rebuild` before it trusts the file. */
int bfs_catalog_check_file(struct bfs_catalog *c, struct bfs_err *err);
/* Move a catalog file (closed by the caller) aside to PATH.damaged
 * (replacing an older one) and remove its -wal, -shm and -journal
 * files, so that the next open creates it afresh; missing files are
 * fine; a path that is not a regular file is refused (-EINVAL).  For
 * `catalog rebuild` on an unreadable file. */
int bfs_catalog_remove_file(const char *path, struct bfs_err *err);

/* Default path: $XDG_CACHE_HOME/backupfs/<repo id>-<location key>.db
 * (or ~/.cache/backupfs/...), keyed by the repository's id AND its
 * canonical location (a local path resolved, an S3 URL as given), so
 * that a copy of a repository (rsync) gets a catalog of its own.
 * Allocates *out. */
int bfs_catalog_default_path(const struct bfs_repo *r, char **out,
			     struct bfs_err *err);

/* Open or create the catalog at path for repository repo_id (a catalog of
 * another repository is refused with -EINVAL).  readonly opens without
 * creating or migrating. */
int bfs_catalog_open(const char *path, const char *repo_id, bool readonly,
		     struct bfs_catalog **out, struct bfs_err *err);
/* Open the catalog at path read-only, as bfs_catalog_open does, through
 * the shared-mapping VFS (catalog_vfs.c): the connections of the process
 * that open the same file and set an mmap limit (bfs_catalog_bound_memory)
 * read its pages through ONE read-only mapping of the file, shared, instead
 * of one mapping each; pages past the limit or past the file's size when
 * it was mapped are read with pread.  For the mount's connections (one per
 * FUSE thread), which bound that one mapping with bfs_catalog_shared_drop.
 * Same errors as bfs_catalog_open, -EIO if the VFS cannot be registered. */
int bfs_catalog_open_shared(const char *path, const char *repo_id,
			    struct bfs_catalog **out, struct bfs_err *err);
/* Take the pages of every shared mapping (bfs_catalog_open_shared) out of
 * this process, not out of the kernel's page cache: readers, even those
 * reading it now from other threads, fault them in again.  Returns the
 * bytes mapped (0: no mapping).  Thread-safe. */
uint64_t bfs_catalog_shared_drop(void);
/* Close the descriptors and forget the mappings of every file that no
 * connection of the shared-mapping VFS has open (after a compaction: the
 * old, unlinked file, whose blocks the descriptor would keep).  The
 * caller guarantees that no connection of the process has any of those
 * files open (closing a descriptor drops the process's POSIX locks on
 * the file: the mount calls it with every connection closed). */
void bfs_catalog_shared_release(void);
void bfs_catalog_close(struct bfs_catalog *c); /* NULL ok */
/* Bound what this connection keeps in memory: a page cache of at most
 * cache_kib KiB and a mapping of at most map_bytes of the file (0: pages
 * are read with pread into the page cache).  For a backup, which writes
 * most of its catalog rows and reads each page few times: the mapped
 * pages it touches count in its RSS and grow with the catalog
 * (doc/PERFORMANCE.md, "first-backup memory, fourth pass").  Not while a
 * statement of c runs. */
int bfs_catalog_bound_memory(struct bfs_catalog *c, unsigned cache_kib,
			     uint64_t map_bytes, struct bfs_err *err);
/* The path c was opened with (borrowed, valid until close). */
const char *bfs_catalog_path(const struct bfs_catalog *c);

struct bfs_sync_stats {
	unsigned added, removed, unchanged;
};
/* Ingest the index objects present in the repository but not in the
 * catalog and forget the chunk locations of vanished ones; then ingest
 * manifests present in the repository but not in the catalog and drop
 * backups whose manifest is gone.  Each object is ingested in its own
 * transaction; a corrupt manifest (or index object) is reported
 * (-EUCLEAN, naming it) after the others are ingested.  stats (backups
 * only) may be NULL. */
int bfs_catalog_sync(struct bfs_catalog *c, struct bfs_repo *r,
		     struct bfs_sync_stats *stats, struct bfs_err *err);
/* Only the index objects part of bfs_catalog_sync: ingest new ones,
 * forget vanished ones (their chunk locations go; blobs they shared
 * with others are located again), so that bfs_catalog_chunk_lookup
 * finds a blob that prune moved.  Same errors. */
int bfs_catalog_sync_index(struct bfs_catalog *c, struct bfs_repo *r,
			   struct bfs_err *err);
/* Compaction (catalog_compact.c): write the catalog anew with its trees
 * and runs numbered in the order of a walk of the backups, newest first,
 * and every table and index in key order, so that the newest backup's
 * rows lie together as in a catalog of one backup (ingest appends what
 * each backup changed at the end of the file, and a random stat of the
 * hundredth backup otherwise reads pages from all over it).  Inode
 * numbers, backup ids, contents and the file id stay (a mount may go on
 * on the new file); tree and run ids and the file's inode change.  Runs
 * only when no other connection of any process has the catalog open
 * (every connection holds PATH-lock shared; a process without the lock
 * shows by its lock on the -shm file): -EBUSY, with the reason, otherwise;
 * connections opened meanwhile wait for it.  The new file is built as
 * PATH-compact, checked, synced and renamed over PATH; on any error the
 * old file stays as it was.  BFS_COMPACT_IF_DUE: only when the runs added
 * since the last compaction (since the file was made or rebuilt, if none)
 * reach a quarter of those it kept (and 16,384;
 * BFS_CATALOG_COMPACT_MIN in the environment lowers that for tests);
 * stats->done says whether it ran. */
#define BFS_COMPACT_IF_DUE 1u
struct bfs_compact_stats {
	bool done;
	uint64_t bytes_before, bytes_after; /* the file's size */
	uint64_t runs;			    /* runs in the new file */
	int64_t ns;			    /* wall time */
};
int bfs_catalog_compact(const char *path, const char *repo_id, unsigned flags,
			struct bfs_compact_stats *stats, struct bfs_err *err);
/* Would bfs_catalog_compact(BFS_COMPACT_IF_DUE) compact c's file now
 * (the same rule)?  Reads only.  Lets a process that holds the catalog
 * open (a mount) ask before closing its connections.  0 or -errno. */
int bfs_catalog_compact_due(struct bfs_catalog *c, bool *yes,
			    struct bfs_err *err);
/* Drop everything and ingest all manifests again. */
int bfs_catalog_rebuild(struct bfs_catalog *c, struct bfs_repo *r,
			struct bfs_sync_stats *stats, struct bfs_err *err);
/* Ingest one format-2 manifest (compressed bytes, borrowed) as backup
 * name (must equal the header id): the backup row and every tree it
 * reaches that the catalog lacks, whose parts are read from r at the
 * locations the ingested index objects give.  One transaction: on any
 * error nothing of the backup stays.  -EEXIST already in the catalog,
 * -EUCLEAN corrupt (manifest, tree, a count or a size that lies, a tree
 * part in no index object; the message names the manifest and the
 * path), -EPROTO format 1, -EBADMSG/-EIO... reading a part. */
int bfs_catalog_ingest(struct bfs_catalog *c, struct bfs_repo *r,
		       const char *name, const void *data, size_t len,
		       struct bfs_err *err);
/* Ingest one index object (compressed bytes, borrowed) named name (64
 * hex, the SHA-256 of the bytes, checked): its blobs' locations go to
 * chunk_loc (a blob already located keeps its row).  -EEXIST if known,
 * -EUCLEAN corrupt. */
int bfs_catalog_ingest_index(struct bfs_catalog *c, const char *name,
			     const void *data, size_t len, struct bfs_err *err);
/* Remove one backup (and the trees no other backup reaches). */
int bfs_catalog_drop(struct bfs_catalog *c, const char *name,
		     struct bfs_err *err);

struct bfs_backup_info {
	int64_t rowid;
	char name[129];
	int64_t time_ns;
	char host[256];
	/* the manifest's "job" (checked when read), "": not made by a job */
	char job[BFS_JOB_NAME_MAX + 1];
	char *tags_json;   /* JSON array text, owned (free with
			      bfs_backup_info_clear) */
	char *header_json; /* line 1 of the manifest, owned */
	bool partial;
	int64_t root; /* inode of the backup's root dir: rowid << 40 */
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
/* A job that made backups (the manifests' "job"): its name and its
 * number in this catalog file (1..BFS_CAT_JOB_MAX; the same for as long
 * as the file lives, also after its last backup went and a new one
 * came), which the mount turns into inode numbers (fuse/mount.h). */
#define BFS_CAT_JOB_MAX ((INT64_C(1) << 36) - 1)
struct bfs_cat_job {
	int64_t id;
	char name[BFS_JOB_NAME_MAX + 1];
};
/* The jobs that have a backup in the catalog, by name.  cb returns
 * non-zero to stop (returned).  0 / -errno (-EUCLEAN: a bad row). */
int bfs_catalog_jobs(struct bfs_catalog *c,
		     int (*cb)(void *arg, const struct bfs_cat_job *j),
		     void *arg, struct bfs_err *err);
/* The job named name (when not NULL), else the job numbered id, if it has
 * a backup in the catalog; -ENOENT if not.  *out filled. */
int bfs_catalog_job_find(struct bfs_catalog *c, const char *name, int64_t id,
			 struct bfs_cat_job *out, struct bfs_err *err);
/* The newest backup (time, then id) made by job name; -ENOENT if none.
 * *out as bfs_catalog_find_backup's. */
int bfs_catalog_job_latest(struct bfs_catalog *c, const char *name,
			   struct bfs_backup_info *out, struct bfs_err *err);

/* Rows in the catalog (for `catalog` statistics and tests): a full count
 * of each table, so not for hot paths. */
struct bfs_catalog_counts {
	int64_t backups, trees, entries, chunks, index_objects;
};
int bfs_catalog_counts(struct bfs_catalog *c, struct bfs_catalog_counts *out,
		       struct bfs_err *err);
/* Cheap change detector for the mount: number of backups and max rowid. */
int bfs_catalog_generation(struct bfs_catalog *c, int64_t *gen);

/* One entry as stored.  Strings owned; bfs_cat_entry_clear frees. */
struct bfs_cat_entry {
	int64_t id;	    /* inode: backup << 40 | pre */
	int64_t backup;	    /* backups.rowid */
	int64_t parent;	    /* parent's id, 0 for a backup root */
	struct bfs_entry e; /* e.path is the NAME only (last component);
			       e.link the hardlink's group path ("h") */
	uint32_t nlink;	    /* dirs: 2 + subdirs; files: links in backup */
	int64_t link_id;    /* hardlink: id of the group's first entry
			       (which carries the data), else 0 */
	uint64_t nchunks;
	uint8_t dt[BFS_HASH_LEN]; /* files: the dump map blob ("dt") */
	bool has_dt;
	uint8_t sk[BFS_HASH_LEN]; /* files: the sketch blob ("sk") */
	bool has_sk;
	uint8_t sa[BFS_HASH_LEN]; /* files: the anchor blob ("sa") */
	bool has_sa;
};
void bfs_cat_entry_clear(struct bfs_cat_entry *e);

/* Get entry by id.  Hardlinks are returned as stored (link_id set).
 * Costs one indexed query when the id was handed out by a recent
 * lookup, readdir or get on this connection, else one per level below
 * the backup root. */
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
/* Children of dir with id > after (pass 0 to start), in name (= slot)
 * order, in which their ids increase, so the last id seen is a stable
 * readdir offset.  At most limit rows (0 = all).  cb returns non-zero to
 * stop. */
typedef int (*bfs_entry_cb)(void *arg, const struct bfs_cat_entry *e);
int bfs_catalog_readdir(struct bfs_catalog *c, int64_t dir, int64_t after,
			unsigned limit, bfs_entry_cb cb, void *arg,
			struct bfs_err *err);
/* bfs_catalog_readdir for a listing with attributes (the mount's): the
 * entries carry what a stat shows and the hardlink and dump-map fields,
 * but no user or group names, source inode, error, sparse flag, chunk
 * count or sketch (NULL / 0 / false).  Same arguments and results; the
 * same checks of the directory's rows.  Cheaper per row (fewer columns
 * decoded, no string copies for the names). */
int bfs_catalog_readdir_attrs(struct bfs_catalog *c, int64_t dir, int64_t after,
			      unsigned limit, bfs_entry_cb cb, void *arg,
			      struct bfs_err *err);
/* The chunk list of a file (follows hardlinks), each chunk located with
 * chunk_loc.  *out malloc'ed (caller frees), *n chunks, in file order.
 * -EUCLEAN "chunk <hex> of 'NAME' is in no index object". */
int bfs_catalog_chunks(struct bfs_catalog *c, int64_t id,
		       struct bfs_chunkref **out, size_t *n,
		       struct bfs_err *err);
/* A thread-safe locator of blobs over the catalog file of c: its own
 * read-only handle (opened on first use) behind a mutex, for
 * bfs_repo_set_locate (delta bases).  Independent of c once made.
 * 0 or -ENOMEM. */
struct bfs_catalog_locator;
int bfs_catalog_locator_new(const struct bfs_catalog *c,
			    struct bfs_catalog_locator **out,
			    struct bfs_err *err);
void bfs_catalog_locator_free(void *l); /* a bfs_catalog_locator; NULL ok */
/* bfs_repo_locate_fn over a struct bfs_catalog_locator *. */
int bfs_catalog_locate(void *l, const uint8_t id[BFS_HASH_LEN],
		       struct bfs_chunkref *out);

/* Dedup lookup: where is a blob (any type) with this hash stored?
 * 0 and *out filled, or -ENOENT. */
int bfs_catalog_chunk_lookup(struct bfs_catalog *c,
			     const uint8_t hash[BFS_HASH_LEN],
			     struct bfs_chunkref *out);
/* The newest backup whose header lists a source with this key (see
 * writer.h), for unchanged-file detection.  *root = its root's id.
 * -ENOENT if none. */
int bfs_catalog_prev_source(struct bfs_catalog *c, const char *source_key,
			    int64_t *root, struct bfs_err *err);
/* The same for the newest backup that lists a source of any kind and
 * spec with destination dest (a key "KIND:DEST:SPEC"; a dest that
 * itself holds "DEST:" can match too: callers check what they find),
 * job's backups before others (job NULL: those made by no job).
 * -ENOENT if none. */
int bfs_catalog_prev_dest(struct bfs_catalog *c, const char *dest,
			  const char *job, int64_t *root, struct bfs_err *err);

/* The index operations of src/index.h over this catalog, for a backup
 * (catalog_index.c).  cat and repo are borrowed and must outlive the
 * index; the index serialises its use of cat with a lock of its own, so
 * the writer's threads may share it, but nothing else may use cat while
 * a backup runs.  Free with bfs_index_free.  0 or -ENOMEM. */
struct bfs_index;
int bfs_catalog_index_new(struct bfs_catalog *cat, struct bfs_repo *repo,
			  struct bfs_index **out);

#endif
