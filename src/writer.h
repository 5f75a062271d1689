/* writer.h - one backup being written.
 *
 * Pipeline: source bytes -> chunker (calling thread) -> worker threads
 * (SHA-256, dedup check against the index and this session, zstd) ->
 * pack builder (calling thread, in order) -> pack upload threads (U of
 * them, in parallel) -> tree spool (writer_tree.c).  Commit builds the
 * directory trees from the spool (their parts go into packs too), waits
 * for every pack upload, writes the index object (where every new blob
 * is), then the manifest last, and records both in the index.  Memory is
 * bounded: in-flight chunks (workers x max chunk), the open pack plus at
 * most 2U + 1 finished packs (U + 1 queued, U being uploaded; a pack is
 * ~pack_target bytes), the session's new-chunk set (~56 bytes per
 * new chunk) and the set of written paths (~32 bytes per path).
 *
 * Not thread-safe: one thread drives a struct bfs_backup.
 */
#ifndef BFS_WRITER_H
#define BFS_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "manifest.h"
#include "repo.h"
#include "util.h"

struct bfs_lock;

struct bfs_backup;

struct bfs_progress {
	uint64_t files;	       /* entries done */
	uint64_t size;	       /* logical bytes of the files done (read or
				  unchanged) */
	uint64_t bytes;	       /* plain bytes read from sources */
	uint64_t new_bytes;    /* plain bytes of new chunks */
	uint64_t stored_bytes; /* compressed bytes written to packs */
	uint64_t reused_files; /* unchanged files not re-read */
	uint64_t errors;
	int64_t elapsed_ns;
	const char *current; /* path being read, borrowed */
};
typedef void (*bfs_progress_cb)(void *arg, const struct bfs_progress *p);

struct bfs_backup_opts {
	const char *id; /* NULL: the time_ns in UTC, YYYY-MM-DD_HH-MM-SS,
			 * with .1, .2, ... appended while that is taken */
	const char *const *tags; /* NULL-terminated, may be NULL */
	const char *host;	 /* NULL: gethostname() */
	unsigned threads;	 /* 0: number of CPUs */
	unsigned uploads;	 /* pack upload threads; 0: 4 for an S3
				  * store, 2 otherwise; at most 16 */
	int64_t time_ns;	 /* the backup's time; 0: now */
	/* the job making it (bfs_format_job_name_valid, else -EINVAL);
	 * NULL: none.  Recorded as the manifest header's "job". */
	const char *job;
	/* store no similarity deltas (doc/FORMAT.md sections 18, 18.1;
	 * they are on by default: for dumps in a version-3 or -4
	 * repository, for tree parts in version 4; never in version 2) */
	bool no_delta;
	bool replace; /* the manifest of id exists and is replaced by this
		       * backup's (one atomic put), for 'backupfs migrate';
		       * the index is not asked about id */
	/* The repository lock the caller holds (borrowed, may be NULL):
	 * checked (bfs_lock_check) just before the manifest is written; a
	 * lost lock fails the commit and leaves no manifest. */
	struct bfs_lock *lock;
	/* Hold the manifest back (copy_rewrite.c publishes a backup only
	 * after reading it back): commit stores the packs and the index
	 * object and records the index object (bfs_index_record with no
	 * manifest), but puts the manifest's bytes into *held (replacing
	 * its content; the caller frees it) instead of storing it, and does
	 * not check lock.  The caller checks and stores them.  NULL: store
	 * the manifest (every other caller). */
	struct bfs_buf *held;
	bfs_progress_cb progress; /* may be NULL; called at most ~10/s */
	void *progress_arg;
};

/* Start a backup.  Checks the id (valid, not already in the repository or
 * the index: -EEXIST "backup 'ID' already exists").  repo and idx are
 * borrowed for the backup's lifetime; idx may be NULL (no dedup against
 * earlier backups, no unchanged-file reuse, nothing recorded), and is
 * used from the writer's threads (index.h: it locks itself). */
int bfs_backup_begin(struct bfs_repo *repo, const struct bfs_index *idx,
		     const struct bfs_backup_opts *opts,
		     struct bfs_backup **out, struct bfs_err *err);
const char *bfs_backup_id(const struct bfs_backup *b);

/* Record a source in the header (sources array): kind ("files", "pg-dump",
 * ...), the path it lands at, and a key used to find the previous backup
 * of the same source (e.g. "files:files:/srv/app").  spec is a
 * human-readable description without secrets.  */
int bfs_backup_add_source(struct bfs_backup *b, const char *kind,
			  const char *dest, const char *spec, const char *key,
			  struct bfs_err *err);

/* Add "key": json to the source last added (figures of its own, e.g.
 * the tables of a NocoDB export, shown by `show`).  json must be one
 * valid JSON value (the caller made it, e.g. with cJSON); key must not
 * be one of kind, dest, spec, key, files, bytes, duration_ns. */
int bfs_backup_source_detail(struct bfs_backup *b, const char *key,
			     const char *json, struct bfs_err *err);

/* Call the progress callback now, with every entry added so far counted
 * (waits for the chunks in flight).  For figures at a source's end.
 * 0 or the backup's error. */
int bfs_backup_progress_now(struct bfs_backup *b, struct bfs_err *err);

/* Replace the header's sources with a JSON array given verbatim (what a
 * format-1 manifest recorded; for migrate). */
int bfs_backup_set_sources(struct bfs_backup *b, const char *json,
			   struct bfs_err *err);

/* Add a non-file entry (dir, symlink, fifo, device, socket).  Missing
 * parent directories are created implicitly (mode 0755, owner of the
 * process, backup time).  A directory added twice keeps the metadata
 * it was first added with, except that an implicit parent gets the real
 * metadata when the directory itself is added later (the manifest then
 * holds the directory twice; readers apply the last line).  Any other
 * duplicate path is -EEXIST. */
int bfs_backup_add(struct bfs_backup *b, const struct bfs_entry *e,
		   struct bfs_err *err);

/* Stream a file: begin (e->type == BFS_T_FILE; e->size ignored), write any
 * number of times, end.  Chunked with the given profile.  end sets the
 * size and emits the entry. */
int bfs_backup_file_begin(struct bfs_backup *b, const struct bfs_entry *e,
			  enum bfs_profile profile, struct bfs_err *err);
int bfs_backup_file_write(struct bfs_backup *b, const void *data, size_t n,
			  struct bfs_err *err);
int bfs_backup_file_end(struct bfs_backup *b, struct bfs_err *err);
/* Drop the file being streamed (e.g. its source turned unreadable midway);
 * nothing of it reaches the manifest. */
void bfs_backup_file_cancel(struct bfs_backup *b);

/* Give the file being streamed (after begin, before end) the blob of
 * tree-line key key (a row of bfs_tree_keys with BFS_TKEY_BLOB) with
 * plain bytes data[0..len) (copied), or none (len 0), instead of what the
 * writer would compute: a copy keeps the source's blobs, and no more.
 * The blob is stored with this repository's id at the file's end.
 * Keys: "dt" (the dump map; the scanner is dropped).  0, -EINVAL (no
 * open file, a key the writer does not take, len over
 * BFS_TREE_PART_MAX), -ENOMEM. */
int bfs_backup_file_keep_blob(struct bfs_backup *b, const char *key,
			      const void *data, size_t len,
			      struct bfs_err *err);

/* Convenience: begin + read fd to EOF + end.  A read error cancels the
 * file and returns -errno (caller decides: warn or fail). */
int bfs_backup_file_fd(struct bfs_backup *b, const struct bfs_entry *e, int fd,
		       enum bfs_profile profile, struct bfs_err *err);

/* An unchanged file: reuse chunks from the previous backup without
 * reading (e->size must equal the sum of chunk lengths). */
int bfs_backup_file_reuse(struct bfs_backup *b, const struct bfs_entry *e,
			  const struct bfs_blobref *chunks, size_t n,
			  struct bfs_err *err);
/* The same, keeping the file's dump map: dt (may be NULL) is the id of
 * the "dt" blob the previous backup names for it (it is not read). */
int bfs_backup_file_reuse_dt(struct bfs_backup *b, const struct bfs_entry *e,
			     const struct bfs_blobref *chunks, size_t n,
			     const uint8_t *dt, struct bfs_err *err);
/* The same, keeping the file's sketch and anchor blobs too: sk and sa
 * (each may be NULL) are the ids of the "sk" and "sa" blobs the previous
 * backup names for it (not read; "sa" kept only in a repository of
 * version >= 5 with deltas on). */
int bfs_backup_file_reuse_keys(struct bfs_backup *b, const struct bfs_entry *e,
			       const struct bfs_blobref *chunks, size_t n,
			       const uint8_t *dt, const uint8_t *sk,
			       const uint8_t *sa, struct bfs_err *err);

/* What a reused directory holds below it (for the header's stats). */
struct bfs_tree_stats {
	uint64_t files, dirs, bytes, chunks;
};

/* A directory whose content is exactly what the last backup recorded
 * (every entry below it unchanged): e (type dir, its current metadata)
 * names the previous tree (parts[0..nparts), count entries below) without
 * its entries going through the writer.  Nothing may be added below it
 * afterwards (-EEXIST).  st: what the tree holds, for the stats. */
int bfs_backup_add_tree(struct bfs_backup *b, const struct bfs_entry *e,
			const uint8_t (*parts)[BFS_HASH_LEN], size_t nparts,
			uint64_t count, const struct bfs_tree_stats *st,
			struct bfs_err *err);

/* An entry that could not be read: recorded with e->error set, counted,
 * and the backup marked partial (exit code 3). */
int bfs_backup_add_error(struct bfs_backup *b, const struct bfs_entry *e,
			 const char *why, struct bfs_err *err);

/* Flush packs, write the manifest (temp name, fsync, rename / one PUT),
 * then record it in the index (a failure there is only a warning).
 * stats may be NULL.  On failure nothing is visible (no manifest).  b is
 * freed either way. */
int bfs_backup_commit(struct bfs_backup *b, struct bfs_backup_stats *stats,
		      bool *partial, struct bfs_err *err);
/* Give up: stop workers, write no manifest, free b.  NULL ok. */
void bfs_backup_abort(struct bfs_backup *b);

#endif
