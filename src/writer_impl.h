/* writer_impl.h - the state of one backup being written, shared by the
 * writer's own files only (not by the sources: they use writer_int.h).
 *
 *   writer.c       public API: begin, entries, files, commit, abort
 *   writer_pipe.c  the pipeline: workers, in-order consumer, packs,
 *                  manifest output, uploaders
 *   writer_path.c  paths written so far, implicit parents, owner names
 *   writer_set.c   the writer's hash sets (over bfs_hmap)
 *
 * Data flow and threads:
 *
 *   calling thread            worker pool               uploader pool
 *   --------------            -----------               -------------
 *   file_write: cut chunks -> ring slot (in order) ->   SHA-256, dedup
 *   add/end/...: entry ops -> ring slot (no work)       check, zstd if new
 *   consume oldest slot (in order) <-------------------'
 *     new chunk -> pack builder -> full pack -> upload pool -> store put
 *     (U uploader threads put packs in parallel, in any order; commit
 *     waits for them all before the manifest is written)
 *     chunk refs + entries -> tree spool (writer_tree.c); at commit the
 *     trees are built from it and their parts go into packs too
 *
 * Every manifest operation (entry, end of file, cancel, reuse) travels
 * through the ring too, so the manifest order is the order of the calls.
 * The pools only run jobs; the order is kept by the ring: the consumer
 * always takes the oldest slot and waits for its `done`.
 *
 * Memory bound: ring slots (2 * threads + 2, each one chunk plus its
 * frame), the chunker buffer (2 x max chunk), the open pack plus at most
 * 2U + 1 finished packs (U + 1 queued in the upload pool, U being
 * uploaded), the chunk refs of the file being consumed (spilled to the
 * tree spool beyond SPILL_CHUNKS; the spool keeps at most
 * BFS_TREE_INLINE_REFS of them, then writes list blobs), the new
 * chunks since the last index object (56 bytes each, emptied by
 * wr_index_flush every ~8 MiB of index text) and the path set: while the
 * paths come in tree order (a --files source), only the ancestors of the
 * last path, possible hardlink targets and implicit directories (25
 * bytes each plus a control byte); once a path comes out of order
 * (several sources into one directory, archives), every path.
 */
#ifndef BFS_WRITER_IMPL_H
#define BFS_WRITER_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "delta.h"
#include "dumpmap.h"
#include "index.h"
#include "pack.h"
#include "pool.h"
#include "tree.h"
#include "writer.h"
#include "writer_int.h"
#include "writer_set.h"

/* overridable so a test build can exercise the spill paths cheaply */
#ifndef SPILL_CHUNKS
#define SPILL_CHUNKS 65536
#endif

enum job_kind { J_CHUNK, J_ENTRY, J_FILE_END, J_CANCEL, J_REUSE, J_TREE };

/* A directory reused whole: its tree and what is below it. */
struct wt_sealed {
	uint8_t (*parts)[BFS_HASH_LEN];
	size_t nparts;
	uint64_t count;
	struct bfs_tree_stats st;
};
void wt_sealed_free(struct wt_sealed *t); /* NULL ok */
enum job_result { R_NEW, R_SESSION, R_INDEX, R_ERR };

/* One ring slot.  J_CHUNK slots run in the worker pool; the others need
 * no work and are done at submit. */
struct job {
	struct bfs_backup *b;
	int kind;
	bool done;     /* protected by ring_lock */
	uint8_t *data; /* J_CHUNK: plain bytes (cap = datacap) */
	size_t len, datacap;
	uint8_t hash[BFS_HASH_LEN];
	int result;		  /* enum job_result */
	uint64_t gen;		  /* b->flush_gen when `result` was found */
	struct bfs_chunkref cref; /* R_INDEX: where it is */
	struct bfs_buf z;	  /* R_NEW: the zstd frame */
	int err;		  /* R_ERR */
	char errmsg[256];
	struct bfs_entry *e;	     /* entry ops: owned */
	struct bfs_chunkref *chunks; /* J_REUSE: owned */
	size_t nchunks;
	struct wt_sealed *sealed; /* J_TREE: owned */
	struct bfs_buf dt;	  /* J_FILE_END: the dump map's JSON */
	/* J_CHUNK of a file with sketches (writer_delta.c): its sketch,
	 * the lookup of the previous version (a reference, or NULL), and
	 * when is_delta, z is a delta frame on base */
	bool want_sk, is_delta;
	struct bfs_sketch sk;
	struct wr_delta *dx;
	uint8_t base[BFS_HASH_LEN];
	/* ... and with two_bases a frame on base then base2 (type 3,
	 * format 5); an: the chunk's anchors (b->sa_on) */
	bool two_bases;
	uint8_t base2[BFS_HASH_LEN];
	struct bfs_anchors an;
	/* position in dx's previous version of the chunk this one equals
	 * or was found similar to (-1: none), for the neighbour base */
	int64_t nb_pos;
	/* J_REUSE: the reused file's sketch and anchor blobs */
	bool has_sk, has_sa;
	uint8_t reuse_sk[BFS_HASH_LEN];
	uint8_t reuse_sa[BFS_HASH_LEN];
};

/* A manifest operation waiting for its pack id (or behind one that is). */
struct mop {
	struct bfs_entry *e;	  /* entry (owned), or NULL for a chunk */
	struct wt_sealed *sealed; /* with e: a directory reused whole */
	int32_t pack_idx;	  /* chunk: -1 when ref.pack is final */
	struct bfs_chunkref ref;
};

struct mopvec {
	struct mop *v;
	size_t n, cap;
	size_t bytes; /* approximate memory held */
};

struct packinfo {
	uint8_t id[BFS_HASH_LEN];
	bool done;
};

struct owner_cache {
	uint32_t id;
	char *name; /* NULL: unknown */
};

/* The tree spool (writer_tree.c). */
struct wtree {
	FILE *spool;	  /* unlinked temp file of entry records */
	char *spool_vbuf; /* its stdio buffer (SPOOL_VBUF bytes) */
	bool sorted;	  /* records so far are in tree order */
	uint64_t nrecs;
	struct bfs_buf prev;	  /* path of the last record */
	struct bfs_buf body;	  /* scratch line */
	struct bfs_blobref *refs; /* the current file's refs (inline) */
	size_t nrefs;
	uint8_t (*lists)[BFS_HASH_LEN]; /* its list blobs so far */
	size_t nlists, listcap;
	struct bfs_hmap nl;	  /* hardlink group sizes by first path */
	uint8_t dt[BFS_HASH_LEN]; /* the current file's dump map blob */
	bool has_dt;
	uint8_t sk[BFS_HASH_LEN]; /* the current file's sketch blob */
	bool has_sk;
	uint8_t sa[BFS_HASH_LEN]; /* the current file's anchor blob */
	bool has_sa;
};

struct bfs_backup {
	struct bfs_repo *repo;	     /* borrowed */
	const struct bfs_index *idx; /* borrowed, may be NULL; thread-safe */
	char id[129];
	int64_t time_ns;
	bool replace;	       /* overwrite the manifest of id (migrate) */
	struct bfs_lock *lock; /* borrowed, may be NULL */
	int64_t start_mono;
	char *host;
	char *job; /* NULL: not made by a job */
	char **tags;
	struct bfs_buf sources; /* JSON array text, without the ']' */
	unsigned nsources;
	/* the last source's object is open: its files, bytes and duration
	 * are added when the next one starts or at commit (from these
	 * baselines, taken with the pipeline drained) */
	bool src_open;
	uint64_t src_files0, src_bytes0;
	int64_t src_ns0;

	struct wtree wt;
	struct bfs_idxobj_writer *idxw; /* the packs since the last flush */
	size_t idx_flush_bytes; /* its text that triggers wr_index_flush */
	uint64_t idx_objects;	/* index objects stored so far */
	struct bfs_backup_stats stats;
	bool partial;
	uint64_t reused_files;
	uint64_t bytes_read;

	/* sticky failure: once set every call returns it */
	int failed;
	struct bfs_err fail_err;

	/* worker pool and ring; ring_lock protects job.done (lock order:
	 * ring_lock is never held with dedup_lock or up_lock) */
	struct bfs_pool *workers;
	pthread_mutex_t ring_lock;
	pthread_cond_t done_cond;
	struct job *jobs;
	size_t njobs;
	uint64_t head, tail; /* submitted, consumed (calling thread) */

	/* dedup_lock protects `chunks` and `packs_seen` while the workers
	 * run; it is a leaf lock, never held across an index or store call */
	pthread_mutex_t dedup_lock;
	struct chunkset chunks;
	/* bumped each time `chunks` is emptied (its blobs were handed to the
	 * index in an index object, wr_index_flush); a worker notes it with
	 * its answer, so that the consumer knows when to ask again */
	uint64_t flush_gen;
	/* Packs that index dedup hits point into, checked once each: the
	 * index is a cache and may name packs this location does not hold
	 * (a catalog shared by two copies of one repository, a pack removed
	 * by hand). */
	struct packset packs_seen;

	/* calling thread only */
	struct pathset paths;
	char *last_parent; /* parent dir known to exist */
	size_t last_parent_len;
	struct bfs_pack_builder *pb;
	int32_t open_pack; /* index in packs, -1 if none */
	struct packinfo *packs;
	size_t npacks, packcap;
	struct mopvec cur; /* chunk refs of the file being consumed */
	bool cur_spilled;
	uint64_t cur_bytes; /* plain bytes of those chunks */

	/* the file being streamed (calling-thread side) */
	bool in_file;
	struct bfs_entry *fe;
	enum bfs_profile profile;
	uint8_t *cbuf; /* chunker buffer */
	size_t cbuf_cap, cbuf_pos, cbuf_len;
	uint64_t fsize, fchunks;
	struct bfs_dumpscan *scan; /* dump-profile or .sql file: its map */
	/* similarity deltas (writer_delta.c): on for this backup; the
	 * file being streamed gets sketches (fsk) and has the lookup fdx
	 * of its previous version (a reference, may be NULL); the source
	 * key of the open source; the sketch records of the file being
	 * consumed; the base cache shared by the workers.  tdelta_on:
	 * tree parts may be delta frames too (delta_on and a version-4
	 * repository, FORMAT.md 18.1).  sk_on: dumps get sketches (a
	 * version-3 repository), with --no-delta too (delta_on is off
	 * then), so that the next backup finds its bases.  sa_on: files
	 * with sketches get an anchor blob too ("sa", records in sarec),
	 * and new chunks a second base when delta_on (a version-5
	 * repository, FORMAT.md 18.2) */
	bool sk_on, delta_on, tdelta_on, sa_on, fsk;
	struct wr_delta *fdx;
	char *src_key;	/* the open source's key and destination */
	char *src_dest; /* (bfs_backup_add_source) */
	struct bfs_buf skrec, sarec;
	struct wr_bases *bases;
	/* the consumer's neighbour base (writer_delta.c): the lookup and
	 * position in it of the chunk consumed last */
	const struct wr_delta *nb_dx;
	int64_t nb_pos;
	uint64_t neighbour_deltas;	    /* of them, on the neighbour base */
	uint64_t two_base_deltas;	    /* of them, on two bases */
	uint64_t delta_chunks, delta_bytes; /* stored as deltas */
	uint64_t tdelta_parts, tdelta_bytes; /* tree parts as deltas */
	struct bfs_buf kept_dt; /* its map given (file_keep_blob) */
	bool has_kept_dt;
	struct bfs_buf *held; /* opts.held: the manifest goes here */

	/* uploader pool (U threads, U + 1 queued packs): up_lock protects
	 * up_err and up_errmsg (a leaf, never held across a store call) */
	struct bfs_pool *uploaders;
	pthread_mutex_t up_lock;
	int up_err;
	struct bfs_err up_errmsg;

	/* progress */
	bfs_progress_cb progress;
	void *progress_arg;
	int64_t last_progress;
	char *current; /* owned copy of the last file's path */

	/* owner name caches */
	struct owner_cache *users, *groups;
	size_t nusers, ngroups;
};

/* ---- writer_pipe.c ----------------------------------------------------- */

char *wr_dupn(const char *s, size_t n);
void wr_entry_free(struct bfs_entry *e);
/* Deep copy of e (strings owned by the copy), NULL on ENOMEM. */
struct bfs_entry *wr_entry_dup(const struct bfs_entry *e);

/* Fail the backup (sticky, the first failure wins); returns the code. */
int wr_fail(struct bfs_backup *b, int code, const struct bfs_err *why);
/* The sticky failure (also an upload failure), copied to err; 0 if none. */
int wr_failed(struct bfs_backup *b, struct bfs_err *err);
/* Out of memory: fail the backup and report it. */
int wr_nomem(struct bfs_backup *b, struct bfs_err *err);
void wr_progress(struct bfs_backup *b, bool force);

/* Start the worker pool (nworkers) and the uploader pool (nup). */
int wr_pipe_start(struct bfs_backup *b, unsigned nworkers, unsigned nup,
		  struct bfs_err *err);
/* Stop both pools (discarding queued uploads).  Safe to call twice. */
void wr_pipe_stop(struct bfs_backup *b);
/* Stop the pools and free the ring, the queues, the packs and the pack
 * builder. */
void wr_pipe_free(struct bfs_backup *b);
/* Consume every submitted op, finish the open pack
 * queue and wait for every upload; then stop the pools.  0 or the
 * sticky failure. */
int wr_pipe_finish(struct bfs_backup *b);

/* A free ring slot (consuming the oldest if the ring is full).  Fill it,
 * then wr_submit_chunk it. */
int wr_slot_get(struct bfs_backup *b, struct job **out);
int wr_submit_chunk(struct bfs_backup *b, struct job *j);
/* Queue an entry op (ownership of e and chunks transferred, even on
 * failure). */
/* writer_dt.c: whether file e (streamed with profile) gets a dump map;
 * the map of the file ending now as the JSON of its "dt" blob into *out
 * (left empty when there is none; the reason is logged).  0 / -ENOMEM. */
bool wr_wants_map(const struct bfs_entry *e, enum bfs_profile profile);
int wr_map_json(struct bfs_backup *b, const struct bfs_entry *e,
		struct bfs_buf *out);
/* Drop the scanner and any kept map of the file being streamed. */
void wr_dt_reset(struct bfs_backup *b);

/* Queue the end of the file being streamed (J_FILE_END, dt: its dump
 * map's JSON) or a reused file (J_REUSE with its chunks, dt: the 32-byte
 * id of its map); dt's contents are taken over and dt emptied, it may be
 * empty. */
int wr_submit_file_end(struct bfs_backup *b, struct bfs_entry *e, int kind,
		       struct bfs_chunkref *chunks, size_t n,
		       struct bfs_buf *dt);
int wr_submit_entry(struct bfs_backup *b, struct bfs_entry *e, int kind,
		    struct bfs_chunkref *chunks, size_t n);
/* Queue a directory reused whole (ownership of e and t transferred). */
int wr_submit_tree(struct bfs_backup *b, struct bfs_entry *e,
		   struct wt_sealed *t);

/* ---- writer_pack.c ----------------------------------------------------- */

/* The first upload failure (0 if none). */
int wr_upload_error(struct bfs_backup *b);
/* Wait until every pack handed over is stored; the first upload error. */
int wr_uploads_wait(struct bfs_backup *b);
/* Is pack (an index dedup hit points into it) in the repository?  Asked
 * of the index once per pack per backup; any thread. */
bool wr_pack_present(struct bfs_backup *b, const uint8_t pack[BFS_HASH_LEN]);
/* Open a pack in the builder if none is open (under dedup_lock). */
int wr_pack_open(struct bfs_backup *b);
/* Finish the open pack, record it in the index object, queue its upload;
 * then wr_index_flush once the index object's text reaches
 * idx_flush_bytes. */
int wr_pack_finish(struct bfs_backup *b);
/* Store the index object of the packs finished so far (after waiting for
 * their uploads: an index object never names a pack not stored yet) and
 * hand it to the index, which then answers for its blobs: the session
 * chunk set is emptied, so that it stays bounded by idx_flush_bytes
 * instead of growing with the backup.  Calling thread; 0 or the sticky
 * failure. */
int wr_index_flush(struct bfs_backup *b);
/* Finish the index object of the packs recorded since the last one and
 * store it: *obj its bytes (caller frees), hex its name.  0 or -errno
 * with a message in err. */
int wr_index_store(struct bfs_backup *b, struct bfs_buf *obj,
		   char hex[BFS_HASH_HEX + 1], struct bfs_err *err);

/* Store one blob from the calling thread (tree parts, list blobs): dedup
 * against this backup and the index, else compress it into the open pack.
 * id receives its SHA-256.  0 or the sticky failure. */
int wr_store_blob(struct bfs_backup *b, int type, const void *data, size_t len,
		  uint8_t id[BFS_HASH_LEN], struct bfs_err *err);
/* A base for the delta frame of a new tree blob (FORMAT.md 18.1): 0
 * with the id of a tree blob stored whole in the repository and its
 * plain bytes (*base malloc'ed, the caller frees), or nonzero for none.
 * Called only when the blob is not stored yet. */
typedef int (*wr_base_fn)(void *arg, uint8_t id[BFS_HASH_LEN], uint8_t **base,
			  size_t *blen);
/* wr_store_blob, a new tree blob stored as a delta frame on the base
 * base_fn(arg) gives (may be NULL) when that frame is at most
 * BFS_DELTA_KEEP_PCT % of the whole one.  Same returns. */
int wr_store_blob_on(struct bfs_backup *b, int type, const void *data,
		     size_t len, uint8_t id[BFS_HASH_LEN], wr_base_fn base_fn,
		     void *arg, struct bfs_err *err);
/* ---- writer_tbase.c: bases of tree parts ------------------------------ */

/* The previous backup's part ids of one directory being built. */
struct wt_tprev {
	bool asked;
	uint8_t (*parts)[BFS_HASH_LEN];
	size_t n;
};
void wt_tprev_clear(struct wt_tprev *p);
/* A wr_base_fn for part number pos of directory dir[0..dlen) ("" the
 * root, which gets none): the previous backup's part at that position
 * (the last one past the end) or, when that is a delta frame, its base.
 * p caches the directory's previous parts (asked on the first call).
 * 0 with id, *base (malloc'ed) and *blen, or -ENOENT: none.  Calling
 * thread. */
int wt_tprev_base(struct bfs_backup *b, struct wt_tprev *p, const char *dir,
		  size_t dlen, size_t pos, uint8_t id[BFS_HASH_LEN],
		  uint8_t **base, size_t *blen);

/* Consume every submitted op (the tree spool is complete afterwards). */
int wr_pipe_drain(struct bfs_backup *b);

/* ---- writer_delta.c ---------------------------------------------------- */

struct wr_delta;
struct wr_bases;
/* A new reference to dx (NULL ok); drop it with wr_delta_unref. */
struct wr_delta *wr_delta_ref(struct wr_delta *dx);
void wr_delta_unref(struct wr_delta *dx); /* NULL ok; any thread */
/* The base cache of the workers: 0 or -ENOMEM; free: NULL ok. */
int wr_bases_new(struct wr_bases **out);
void wr_bases_free(struct wr_bases *c);
/* At the begin of file e (calling thread): whether it gets sketches
 * (b->fsk) and the lookup of its previous version (b->fdx).  0, or
 * -ENOMEM; other failures only mean no deltas (logged). */
int wr_delta_file_begin(struct bfs_backup *b, const struct bfs_entry *e,
			enum bfs_profile profile);
/* Worker, after the chunk's dedup and plain frame: its sketch (and
 * with b->sa_on its anchors), and for a new chunk a delta frame in j->z
 * when one is worth it: on one base, or with b->sa_on on two
 * (j->two_bases). */
void wr_delta_chunk(struct bfs_backup *b, struct job *j);
/* Consumer, before chunk j goes into a pack: a new chunk similar to
 * nothing of the previous version gets a delta on the neighbour base,
 * the chunk of the previous version after the one the chunk consumed
 * before it equals or was similar to (rows changed between unchanged
 * neighbours); keeps that position up to date.  Best effort. */
void wr_delta_neighbour(struct bfs_backup *b, struct job *j);
/* Consumer: the chunk's sketch record, and its anchor record with
 * b->sa_on (0 or -ENOMEM). */
int wr_delta_consume(struct bfs_backup *b, const struct job *j);
/* Consumer, at a file's end: its "sk" blob stored (b->wt.sk), and its
 * "sa" blob (b->wt.sa) with b->sa_on.  0 or the
 * sticky failure. */
int wr_delta_file_end(struct bfs_backup *b);

/* ---- writer_tree.c ----------------------------------------------------- */

int wt_init(struct bfs_backup *b, struct bfs_err *err);
void wt_free(struct bfs_backup *b);
/* The next chunk of the file whose entry follows. */
int wt_chunk(struct bfs_backup *b, const struct bfs_chunkref *ref,
	     struct bfs_err *err);
/* An entry, after its chunks. */
int wt_entry(struct bfs_backup *b, const struct bfs_entry *e,
	     struct bfs_err *err);
/* A directory reused whole: its line names the given tree. */
int wt_sealed_entry(struct bfs_backup *b, const struct bfs_entry *e,
		    const struct wt_sealed *t, struct bfs_err *err);
/* Every path spooled so far (only: just only[0..olen) and its
 * ancestors) into b->paths with its kind (directory, directory reused
 * whole, other), unless the set has it (bfs_pathset_add_absent); the
 * spool's position is kept.  Drain the pipeline first.  0, -EIO or
 * -ENOMEM with a message. */
int wt_spool_paths(struct bfs_backup *b, const char *only, size_t olen,
		   struct bfs_err *err);
/* Build and store the trees; *root (malloc'ed) the root's parts. */
int wt_build(struct bfs_backup *b, uint8_t (**root)[BFS_HASH_LEN],
	     size_t *nroot, uint64_t *count, struct bfs_err *err);

/* ---- writer_path.c ----------------------------------------------------- */

/* Common checks for a new path; records its kind.  *skip is set when the
 * op must be dropped silently.  0 or -errno with a message. */
int wr_path_claim(struct bfs_backup *b, const struct bfs_entry *e,
		  bool is_error, bool *skip, struct bfs_err *err);
int wr_check_type(const struct bfs_entry *e, struct bfs_err *err);
/* Normalise mode/size and fill owner names.  0 or -ENOMEM. */
int wr_entry_prepare(struct bfs_backup *b, struct bfs_entry *c);
/* Free the owner caches. */
void wr_owners_free(struct bfs_backup *b);

#endif
