/* manifest.h - one backup's manifest: zstd-compressed JSON Lines.
 *
 * Line 1 is the header (the backup: id, time, host, job, tags, sources,
 * stats, errors).  Then, for every entry in order (a directory always before
 * what it contains): zero or more {"c":[[hash,pack,offset,clen,len],...]}
 * lines, the chunks of the file entry that follows them, in order, at most
 *   BFS_MANIFEST_CHUNKS_PER_LINE per line;
 *   one entry line {"p":path, "t":type, ...}.
 * The last line is {"end":{"entries":N,"chunks":M}}; a manifest without it
 * is truncated and rejected.  doc/FORMAT.md lists every key.
 *
 * Writing is streamed (memory does not grow with the number of chunks of a
 * file nor with the number of entries); reading is streamed with a bounded
 * line length.
 */
#ifndef BFS_MANIFEST_H
#define BFS_MANIFEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "format.h" /* BFS_MANIFEST_*: line and size limits */
#include "repo.h"
#include "util.h"

enum bfs_type {
	BFS_T_FILE = 'f',
	BFS_T_DIR = 'd',
	BFS_T_SYMLINK = 'l',
	BFS_T_FIFO = 'p',
	BFS_T_CHR = 'c',
	BFS_T_BLK = 'b',
	BFS_T_SOCK = 's',
};

/* One entry (path inside the backup, no leading '/', components of any
 * bytes but NUL and '/'; "" never appears: the backup root is implicit).
 * Pointers are owned by whoever filled the struct; see each function. */
struct bfs_entry {
	char *path; /* NUL-terminated; path_len excludes NUL */
	size_t path_len;
	int type;      /* enum bfs_type */
	uint32_t mode; /* permission bits, 07777 (incl. suid/sgid/sticky) */
	uint32_t uid, gid;
	char *user, *group; /* names, may be NULL */
	int64_t mtime_ns;   /* ns since the epoch */
	int64_t ctime_ns;   /* source ctime, 0 if unknown (change detection) */
	uint64_t ino;	    /* source inode, 0 if unknown (change detection) */
	uint32_t nlink;	    /* source link count, 0 if unknown; not stored:
			       the writer remembers a file as a possible
			       hardlink target unless it is 1 */
	uint64_t size;	    /* files: plain length; symlinks: target length */
	char *target; /* symlink target, NUL-terminated, may be any bytes */
	size_t target_len;
	uint64_t rdev; /* char/block devices */
	char *link;    /* hardlink: path of the group's first entry, which
			  carries the chunks; this entry has none */
	size_t link_len;
	bool sparse; /* file had holes at backup time (hint for restore) */
	char *error; /* unreadable at backup time: why (entry kept with
			what metadata was known, no content) */
};

void bfs_entry_clear(struct bfs_entry *e); /* frees owned strings, zeroes */

#define BFS_DIGEST_NO_USER 1u  /* leave the user name out */
#define BFS_DIGEST_NO_GROUP 2u /* leave the group name out */
/* The fields of e (its path given apart: path[0..path_len)) in a fixed
 * binary form into b (emptied first), for comparing two entries by a
 * hash of it (migrate, copy between repositories); the caller may append
 * more (chunk ids, lengths).  flags: BFS_DIGEST_*.  0 or -ENOMEM. */
int bfs_entry_digest_fields(struct bfs_buf *b, const struct bfs_entry *e,
			    const char *path, size_t path_len, unsigned flags);

/* The backup described by line 1 and the end line. */
struct bfs_backup_stats {
	uint64_t entries, files, dirs, bytes; /* logical content */
	uint64_t chunks, new_chunks;
	uint64_t new_bytes;    /* plain bytes of new chunks */
	uint64_t stored_bytes; /* compressed bytes added */
	uint64_t errors;       /* unreadable entries */
	int64_t duration_ns;
};

struct bfs_manifest_header {
	char *id;
	int64_t time_ns; /* backup start, UTC */
	char *host;
	char *job;	    /* the job that made it (bfs_format_job_name_valid),
			     * NULL: not made by a job (key "job" absent) */
	char **tags;	    /* NULL-terminated array */
	char *sources_json; /* JSON array text, as written (may be NULL) */
	struct bfs_backup_stats stats;
	bool partial; /* some entries were unreadable */
};
void bfs_manifest_header_clear(struct bfs_manifest_header *h);

/* ---- writing ---------------------------------------------------------- */

struct bfs_manifest_writer;

/* Entries are compressed into a spool (an unlinked temp file in $TMPDIR),
 * so memory stays flat.  Not thread-safe. */
int bfs_manifest_writer_new(struct bfs_manifest_writer **out,
			    struct bfs_err *err);
void bfs_manifest_writer_free(struct bfs_manifest_writer *w); /* NULL ok */
/* Chunks of the next file entry, in order; call any number of times
 * before bfs_manifest_writer_entry for that file. */
int bfs_manifest_writer_chunk(struct bfs_manifest_writer *w,
			      const struct bfs_chunkref *c,
			      struct bfs_err *err);
int bfs_manifest_writer_entry(struct bfs_manifest_writer *w,
			      const struct bfs_entry *e, struct bfs_err *err);
/* Finish: header line (own zstd frame) + spooled entries + end line,
 * into *out (caller frees out->data).  The writer is spent afterwards. */
int bfs_manifest_writer_finish(struct bfs_manifest_writer *w,
			       const struct bfs_manifest_header *h,
			       struct bfs_buf *out, struct bfs_err *err);

/* ---- reading (untrusted input) ----------------------------------------- */

struct bfs_manifest_reader;

/* data/len: the compressed manifest, borrowed until _free. */
int bfs_manifest_reader_new(const void *data, size_t len,
			    struct bfs_manifest_reader **out,
			    struct bfs_err *err);
void bfs_manifest_reader_free(struct bfs_manifest_reader *r); /* NULL ok */
/* The header (parsed on _new).  Borrowed, valid until _free. */
const struct bfs_manifest_header *
bfs_manifest_reader_header(const struct bfs_manifest_reader *r);
/* Next entry.  Returns 1 with *e filled (strings borrowed until the next
 * call) and *chunks, *nchunks the file's chunks (borrowed likewise), 0 at
 * the verified end line, or -EUCLEAN/-ENOMEM with a message naming the
 * line number and what was wrong (bad JSON, bad path, missing end line =
 * "truncated manifest", ...). */
int bfs_manifest_reader_next(struct bfs_manifest_reader *r, struct bfs_entry *e,
			     const struct bfs_chunkref **chunks,
			     size_t *nchunks, struct bfs_err *err);

/* The manifest's version (1 or 2); for version 2 its root tree parts
 * and entry count (borrowed until _free; pointers may be NULL).  A
 * version-2 manifest has no entries: next() returns 0 at once. */
int bfs_manifest_reader_version(const struct bfs_manifest_reader *r,
				const uint8_t (**root)[BFS_HASH_LEN],
				size_t *nroot, uint64_t *count);

/* Check a path from a manifest: non-empty, relative, no "." / ".."
 * components, no empty components, no NUL. */
bool bfs_manifest_path_valid(const char *p, size_t n);

/* True if t is one of enum bfs_type. */
bool bfs_manifest_type_valid(int t);

/* The header line (line 1) exactly as stored, without its '\n', for
 * callers that keep it (the catalog).  Borrowed, valid until _free. */
const char *bfs_manifest_reader_header_line(const struct bfs_manifest_reader *r,
					    size_t *len);

#endif
