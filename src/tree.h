/* tree.h - format 2's content-addressed directory trees, the manifest
 * that names a root tree, and index objects (doc/FORMAT.md, sections
 * "Trees", "Manifests", "Index objects").
 *
 * A directory is serialised as JSON Lines, one line per child sorted by
 * name bytes; the stream is cut into parts at line ends by a
 * content-defined rule (bfs_tree_cutter), each part stored as a blob of
 * type tree and named by the SHA-256 of its bytes.  A file's chunk list is
 * inline ("c") up to BFS_TREE_INLINE_REFS references, else it lives in
 * list blobs ("cl").  An unchanged directory therefore serialises to the
 * same parts and costs nothing in the next backup.
 *
 * Everything parsed here is untrusted: every function that reads checks
 * the grammar, the limits and the consistency rules, and reports -EUCLEAN
 * with a message naming what was wrong.
 */
#ifndef BFS_TREE_H
#define BFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "manifest.h"
#include "util.h"

/* A reference to a blob by id and plain length (no location: where a
 * blob lives is the business of the index objects and the catalog). */
struct bfs_blobref {
	uint8_t hash[BFS_HASH_LEN];
	uint32_t len;
};

/* Serialised form in catalog blobs: hash[32] len u32 LE. */
#define BFS_BLOBREF_BLOB 36
void bfs_blobref_pack(uint8_t out[BFS_BLOBREF_BLOB],
		      const struct bfs_blobref *r);
void bfs_blobref_unpack(struct bfs_blobref *r,
			const uint8_t in[BFS_BLOBREF_BLOB]);

/* One child of a directory as a tree line says it.  e.path is the NAME
 * (one component), e.link the hardlink group's first path (absolute in
 * the backup).  Exactly one of these describes the content:
 *   files: chunks/nchunks (inline) or lists/nlists (list-blob ids);
 *   directories: parts/nparts (the child tree, may be 0 parts) + count. */
struct bfs_tree_entry {
	struct bfs_entry e;
	const struct bfs_blobref *chunks; /* inline "c" */
	size_t nchunks;
	const uint8_t (*lists)[BFS_HASH_LEN]; /* "cl" */
	size_t nlists;
	const uint8_t (*parts)[BFS_HASH_LEN]; /* dirs: "tree" */
	size_t nparts;
	uint64_t count;	   /* dirs: entries in the subtree */
	uint32_t nl;	   /* first entry of a hardlink group: paths in it */
	const uint8_t *dt; /* files: the dump map blob ("dt"), or NULL */
	const uint8_t *sk; /* files: the sketch blob ("sk"), or NULL */
	const uint8_t *sa; /* files: the anchor blob ("sa"), or NULL */
};

/* The keys of a file's tree line besides its content that may name a
 * blob (doc/FORMAT.md, section 6), one row each; a key that holds its
 * value inline gets a row without BFS_TKEY_BLOB.  Code that must treat
 * every such blob alike (copy_rewrite.c carries each to a target whose
 * blob ids differ) loops over the table, so a new key is one row here
 * (and its field in struct bfs_tree_entry).  Read-only, thread-safe. */
enum {
	BFS_TKEY_BLOB = 1, /* names a blob of type tree (its id, 64 hex) */
};
struct bfs_tree_key {
	const char *name; /* the tree-line key, e.g. "dt" */
	unsigned flags;	  /* BFS_TKEY_* */
	size_t off;	  /* BFS_TKEY_BLOB: offsetof the field of struct
			   * bfs_tree_entry (const uint8_t *, NULL: absent) */
};
#define BFS_TREE_NKEYS 1
extern const struct bfs_tree_key bfs_tree_keys[BFS_TREE_NKEYS];

/* The blob id key k names on entry te, or NULL (absent, or k names no
 * blob). */
static inline const uint8_t *bfs_tree_key_blob(const struct bfs_tree_entry *te,
					       const struct bfs_tree_key *k)
{
	if (!(k->flags & BFS_TKEY_BLOB))
		return NULL;
	return *(const uint8_t *const *)((const char *)te + k->off);
}

/* ---- lines -------------------------------------------------------------
 */

/* Append the line of te (with its '\n') to out.  Checks the name (one
 * valid component), the type and the content fields (-EINVAL naming the
 * entry); -ENAMETOOLONG when the line would exceed BFS_TREE_MAX_LINE. */
int bfs_tree_line(struct bfs_buf *out, const struct bfs_tree_entry *te,
		  struct bfs_err *err);

/* Parse a tree part (plain bytes of a tree blob, untrusted).  Iterate
 * with bfs_tree_part_next; strings and arrays are borrowed until the next
 * call or _free.  Lines must be sorted by name and unique within a part
 * (across parts of one directory the caller checks with prev_name). */
struct bfs_tree_part;
int bfs_tree_part_open(const void *data, size_t len, struct bfs_tree_part **out,
		       struct bfs_err *err);
void bfs_tree_part_free(struct bfs_tree_part *p); /* NULL ok */
/* 1 with *te filled, 0 at the end, -EUCLEAN (line number and what) or
 * -ENOMEM. */
int bfs_tree_part_next(struct bfs_tree_part *p, struct bfs_tree_entry *te,
		       struct bfs_err *err);
/* Step over the next n lines without parsing them, for a caller that
 * knows them already (the catalog has a run of the same bytes, checked
 * when it was first parsed).  last[0..lastlen) is the name of the last
 * line stepped over: the next line parsed must sort after it.  0,
 * -EUCLEAN when fewer than n lines are left, -ENOMEM. */
int bfs_tree_part_skip(struct bfs_tree_part *p, size_t n, const char *last,
		       size_t lastlen, struct bfs_err *err);

/* Compare names as trees sort them (memcmp, then the shorter first). */
int bfs_tree_name_cmp(const char *a, size_t an, const char *b, size_t bn);

/* ---- chunk-list blobs ----------------------------------------------------
 */

/* Serialise refs[0..n) (1 <= n <= BFS_TREE_INLINE_REFS) as a list blob's
 * plain bytes into out (replacing its content). */
int bfs_tree_list_encode(struct bfs_buf *out, const struct bfs_blobref *refs,
			 size_t n);
/* Parse a list blob (untrusted) into *refs (malloc'ed) / *n. */
int bfs_tree_list_parse(const void *data, size_t len, struct bfs_blobref **refs,
			size_t *n, struct bfs_err *err);

/* ---- cutting a directory's stream into parts ----------------------------
 */

/* Called for every finished part: its plain bytes.  Return 0 or -errno
 * (stops the cutter, which returns it). */
typedef int (*bfs_tree_part_cb)(void *arg, const void *data, size_t len,
				struct bfs_err *err);

/* FNV-1a 64 of one tree line without its '\n' (len bytes), the hash the
 * part cut and the catalog's run cut (catalog/catalog_runs.c) look at. */
uint64_t bfs_tree_line_hash(const void *line, size_t len);

struct bfs_tree_cutter {
	struct bfs_buf part;
	bfs_tree_part_cb cb;
	void *arg;
	uint64_t parts;
};
void bfs_tree_cutter_init(struct bfs_tree_cutter *c, bfs_tree_part_cb cb,
			  void *arg);
/* Append one complete line (with '\n').  May emit a part. */
int bfs_tree_cutter_line(struct bfs_tree_cutter *c, const void *line,
			 size_t len, struct bfs_err *err);
/* Emit the last part (if any bytes are left).  The cutter can be reused
 * for the next directory afterwards. */
int bfs_tree_cutter_end(struct bfs_tree_cutter *c, struct bfs_err *err);
void bfs_tree_cutter_free(struct bfs_tree_cutter *c);

/* ---- manifests (format 2) ------------------------------------------------
 */

/* The compressed manifest: header line (h: as format 1, version 2) with
 * "root" and "count", then the end line. */
int bfs_manifest2_encode(struct bfs_buf *out,
			 const struct bfs_manifest_header *h,
			 const uint8_t (*root)[BFS_HASH_LEN], size_t nroot,
			 uint64_t count, struct bfs_err *err);

struct bfs_manifest2 {
	struct bfs_manifest_header h;
	char *header_line; /* line 1 as stored (no '\n'), owned */
	size_t header_len;
	uint8_t (*root)[BFS_HASH_LEN]; /* owned */
	size_t nroot;
	uint64_t count;
};
/* Parse a compressed manifest (untrusted).  A format-1 manifest is
 * -EPROTO "format 1 manifest: run 'backupfs migrate'". */
int bfs_manifest2_parse(const void *data, size_t len, struct bfs_manifest2 *m,
			struct bfs_err *err);
void bfs_manifest2_clear(struct bfs_manifest2 *m);

/* ---- index objects -------------------------------------------------------
 */

struct bfs_idx_blob {
	uint8_t hash[BFS_HASH_LEN];
	int type; /* BFS_BLOB_DATA, BFS_BLOB_TREE, BFS_BLOB_DELTA(2) */
	uint64_t offset;
	uint32_t clen, len;
	/* BFS_BLOB_DELTA: its base (n 1); BFS_BLOB_DELTA2: its 2 to
	 * BFS_DELTA_MAX_BASES bases in frame order; else n 0 */
	struct bfs_bases bases;
};

/* The index-object entries of the n pack entries e of a pack this
 * process built, with bases[i] the bases of entry i when it is a delta
 * (both borrowed: bfs_pack_builder_entries, bfs_pack_builder_bases).
 * The base never comes from the frame: in an encrypted repository the
 * frame is sealed.  Thread-safe. */
struct bfs_pack_entry;
void bfs_idx_blobs_from_pack(struct bfs_idx_blob *out,
			     const struct bfs_pack_entry *e, size_t n,
			     const struct bfs_bases *bases);

/* Builds one index object (compressed as it grows). */
struct bfs_idxobj_writer;
int bfs_idxobj_writer_new(struct bfs_idxobj_writer **out);
void bfs_idxobj_writer_free(struct bfs_idxobj_writer *w); /* NULL ok */
int bfs_idxobj_writer_pack(struct bfs_idxobj_writer *w,
			   const uint8_t pack[BFS_HASH_LEN],
			   const struct bfs_idx_blob *blobs, size_t n);
size_t bfs_idxobj_writer_packs(const struct bfs_idxobj_writer *w);
/* Bytes of JSON text held so far (what the writer costs in memory). */
size_t bfs_idxobj_writer_bytes(const struct bfs_idxobj_writer *w);
/* The object's bytes into *out (caller frees) and its name (SHA-256 of
 * the bytes).  The writer is empty afterwards and may build the next
 * object (the backup writer cuts its index into several). */
int bfs_idxobj_writer_finish(struct bfs_idxobj_writer *w, struct bfs_buf *out,
			     uint8_t name[BFS_HASH_LEN], struct bfs_err *err);

/* Parse an index object (untrusted); cb is called once per pack line,
 * as the lines are decoded (memory: one line, never the whole object), so
 * the lines before a defect have reached cb when it is found.  Return
 * non-zero from cb to stop (returned as is). */
typedef int (*bfs_idxobj_cb)(void *arg, const uint8_t pack[BFS_HASH_LEN],
			     const struct bfs_idx_blob *blobs, size_t n);
int bfs_idxobj_parse(const void *data, size_t len, bfs_idxobj_cb cb, void *arg,
		     struct bfs_err *err);

#endif
