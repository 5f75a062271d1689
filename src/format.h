/* format.h - every limit and constant of the on-disk format (versions 2
 * to BFS_FORMAT_VERSION), and the object key layout.  doc/FORMAT.md is the
 * normative text; its "Limits" table quotes the names below and
 * tests/unit/test-format.c checks that the two agree.
 *
 * Only the format layer (util, store, repo, pack, manifest, chunker)
 * defines format knowledge; everything above includes this header rather
 * than repeating a number.  Policy knobs of a program (cache sizes, thread
 * counts, batch sizes) are not format and stay with their module.
 */
#ifndef BFS_FORMAT_H
#define BFS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h" /* BFS_HASH_LEN (32, SHA-256), BFS_HASH_HEX (64) */

/* ---- repository ------------------------------------------------------- */

#define BFS_FORMAT_VERSION 5   /* config "version" of new repositories */
#define BFS_FORMAT_VERSION_4 4 /* still read and written, as version 4 */
#define BFS_FORMAT_VERSION_3 3 /* still read and written, as version 3 */
#define BFS_FORMAT_VERSION_2 2 /* still read and written, as version 2 */
#define BFS_FORMAT_VERSION_1 1 /* still read by migrate (manifest.h) */
#define BFS_MANIFEST_VERSION 2 /* manifest "version" (formats 2 to 5) */
/* the first config "version" that may be encrypted (doc/FORMAT.md,
 * "Encryption"): older readers refuse it instead of misreading sealed
 * objects */
#define BFS_FORMAT_VERSION_CRYPT 3
/* the first config "version" whose tree parts may be delta frames
 * (doc/FORMAT.md 18.1): a version-3 reader would take such a part for
 * a missing or corrupt tree blob, so older versions are written without
 * them */
#define BFS_FORMAT_VERSION_TDELTA 4
/* the first config "version" whose data chunks may be delta frames on
 * several bases (type BFS_BLOB_DELTA2, doc/FORMAT.md 18.2): older
 * readers would take such a frame for a type-2 one, so older versions
 * are written without them */
#define BFS_FORMAT_VERSION_DELTA2 5

/* Object keys (FORMAT.md section 1). */
#define BFS_KEY_CONFIG "config"
#define BFS_KEY_PACKS "packs/"	       /* packs/<2 hex>/<64 hex> */
#define BFS_KEY_MANIFESTS "manifests/" /* manifests/<backup id> */
#define BFS_KEY_LOCKS "locks/"	       /* reserved */
#define BFS_KEY_PRUNE "prune/"	       /* prune/<64 hex>: grace record */
#define BFS_KEY_MAX 512		       /* buffer size for any key + NUL */

/* Backup ids: 1..BFS_BACKUP_ID_MAX of [A-Za-z0-9._-], not ".", ".." or
 * "latest" (bfs_backup_id_valid in util.h). */
#define BFS_BACKUP_ID_MAX 128
#define BFS_BACKUP_ID_CHARS "A-Za-z0-9._-"

/* config: one JSON object, size-capped on read. */
#define BFS_CONFIG_MAGIC "repository" /* value of "backupfs" */
#define BFS_CONFIG_MAX (64u << 10)
#define BFS_ZSTD_LEVEL_MIN 1
#define BFS_ZSTD_LEVEL_MAX 19
#define BFS_PACK_SIZE_MIN (1ull << 20) /* config "pack_size" range */
#define BFS_PACK_SIZE_MAX (128ull << 20)
/* What init writes. */
#define BFS_DEFAULT_ZSTD_LEVEL 3
#define BFS_DEFAULT_PACK_SIZE (16ull << 20)
#define BFS_DEFAULT_DUMP_MIN 65536u
#define BFS_DEFAULT_DUMP_AVG 262144u
#define BFS_DEFAULT_DUMP_MAX 1048576u
#define BFS_DEFAULT_FILES_MIN 262144u
#define BFS_DEFAULT_FILES_AVG 1048576u
#define BFS_DEFAULT_FILES_MAX 4194304u

/* ---- chunks ------------------------------------------------------------ */

/* 1 KiB <= min <= avg <= max <= 16 MiB for chunker parameters; no chunk's
 * plain length is above BFS_CHUNK_MAX_LIMIT. */
#define BFS_CHUNK_MIN_LIMIT 1024u
#define BFS_CHUNK_MAX_LIMIT (16u << 20)
/* A zstd frame of BFS_CHUNK_MAX_LIMIT bytes is at most a little larger
 * (ZSTD_compressBound: n + n/256 + small); anything above is a lie. */
#define BFS_CHUNK_CLEN_MAX                                                     \
	(BFS_CHUNK_MAX_LIMIT + (BFS_CHUNK_MAX_LIMIT >> 8) + 4096u)

/* ---- packs (FORMAT.md section 4) ----------------------------------------- */

#define BFS_PACK_MAGIC "BFSPACK2"  /* format 2: typed blobs */
#define BFS_PACK1_MAGIC "BFSPACK1" /* format 1: 48-byte entries, all data */
/* a pack of an encrypted repository: frames and index sealed */
#define BFS_PACK_SEALED_MAGIC "BFSPACKS"
#define BFS_PACK_END_MAGIC "BFSPEND1"
#define BFS_PACK_MAGIC_LEN 8
#define BFS_PACK_HEADER 8 /* bytes before frame 0 */
#define BFS_PACK_INDEX_ENTRY                                                   \
	56			 /* hash[32] off u64 clen u32 len u32 type u8  \
				   reserved[7] */
#define BFS_PACK1_INDEX_ENTRY 48 /* hash[32] off u64 clen u32 len u32 */
#define BFS_PACK_FOOTER                                                        \
	56 /* index_off u64, count u32, 0 u32,                                 \
	      index_sha256[32], end magic */
#define BFS_PACK_MIN_SIZE (BFS_PACK_HEADER + BFS_PACK_FOOTER) /* 64 */
#define BFS_PACK_MAX_SIZE (256ull << 20) /* readers reject larger packs */
/* Entries per pack: each has an index entry and a frame of >= 1 byte. */
#define BFS_PACK_MAX_ENTRIES                                                   \
	((BFS_PACK_MAX_SIZE - BFS_PACK_MIN_SIZE) / (BFS_PACK_INDEX_ENTRY + 1))
/* Field offsets inside an index entry and the footer. */
#define BFS_PACK_ENTRY_HASH 0
#define BFS_PACK_ENTRY_OFFSET 32
#define BFS_PACK_ENTRY_CLEN 40
#define BFS_PACK_ENTRY_LEN 44
#define BFS_PACK_ENTRY_TYPE 48
#define BFS_PACK_FOOT_INDEX 0
#define BFS_PACK_FOOT_COUNT 8
#define BFS_PACK_FOOT_RESERVED 12
#define BFS_PACK_FOOT_SHA256 16
#define BFS_PACK_FOOT_MAGIC 48

/* Blob types (pack index entries, index objects). */
#define BFS_BLOB_DATA 0 /* a chunk of file content */
#define BFS_BLOB_TREE 1 /* a tree part or a chunk-list blob */
/* a data chunk or a tree part as a delta frame (sections 18, 18.1) */
#define BFS_BLOB_DELTA 2
/* a data chunk as a delta frame on 2..BFS_DELTA_MAX_BASES bases
 * (section 18.2; format 5) */
#define BFS_BLOB_DELTA2 3

/* Multi-base delta frames (FORMAT.md 18.2): the magic, one byte n, n
 * raw base ids, then the zstd frame. */
#define BFS_DELTA_MAX_BASES 4
#define BFS_DELTA2_MAGIC "BFD2"
#define BFS_DELTA2_MAGIC_LE 0x32444642u /* "BFD2" as a le32 */
#define BFS_DELTA2_HEAD(n) (4u + 1u + (size_t)(n)*BFS_HASH_LEN)

/* The bases of one delta blob, in frame order: n is 1 for a type-2
 * blob (BFS_BLOB_DELTA), 2..BFS_DELTA_MAX_BASES for a type-3 one, 0 for
 * a blob that is not a delta. */
struct bfs_bases {
	uint8_t n;
	uint8_t id[BFS_DELTA_MAX_BASES][BFS_HASH_LEN];
};

/* ---- trees (FORMAT.md section 6) ------------------------------------------
 */

#define BFS_TREE_INLINE_REFS 4096    /* "c" refs in a line; list blobs */
#define BFS_TREE_MAX_LINE (1u << 20) /* bytes, with the '\n' */
#define BFS_TREE_PART_MAX (1u << 20) /* plain bytes of a tree part */
#define BFS_TREE_PART_MIN 4096u	     /* no content cut before */
#define BFS_TREE_CUT_MASK 0x1ffu     /* cut when fnv1a64(line) & mask == 0 */
#define BFS_NAME_MAX 255	     /* bytes of one path component */
#define BFS_TREE_MAX_DEPTH 1024	     /* directory levels below the root */
#define BFS_KEY_INDEX "index/"	     /* index/<64 hex> */

/* ---- manifests (FORMAT.md section 5) --------------------------------------
 */

#define BFS_MANIFEST_MAGIC "manifest" /* value of "backupfs" */
#define BFS_MANIFEST_CHUNKS_PER_LINE 1024
#define BFS_MANIFEST_MAX_LINE (1u << 20)   /* bytes, without the '\n' */
#define BFS_MANIFEST_MAX_SIZE (4ull << 30) /* decompressed bytes */
#define BFS_MANIFEST_WINDOW_LOG 27	   /* zstd window readers allow */
#define BFS_MANIFEST_ZSTD_LEVEL 3	   /* what the writer uses */
#define BFS_MANIFEST_MAX_DEPTH 1000	   /* JSON nesting */
/* An index object line (without the '\n'), longest: the longest line a
 * pack of BFS_PACK_MAX_ENTRIES blobs can need as the writer writes it:
 * {"pack":"<id>","blobs":[ and ]} (86 bytes), then per blob at most
 * ,["<id>",3,<u64>,<u64>,<u64>,["<id>","<id>","<id>","<id>"]] (404 bytes,
 * 20 digits a number, 4 bases).  Below BFS_MANIFEST_MAX_SIZE, so a reader
 * holds one line at most, never the whole object. */
#define BFS_IDXOBJ_MAX_LINE (86ull + 404ull * BFS_PACK_MAX_ENTRIES)
/* Bytes, at least 1: PATH_MAX - 1, the longest target symlink(2) takes,
 * so that what a reader accepts restores and reads through the mount. */
#define BFS_SYMLINK_TARGET_MAX 4095
#define BFS_MODE_MASK 07777u /* "m": permission bits */
/* Paths and names have no limit of their own: a line is at most
 * BFS_MANIFEST_MAX_LINE bytes. */

/* ---- object keys ------------------------------------------------------- */

enum bfs_key_kind {
	BFS_KEY_OTHER = 0,   /* not an object of the format (temp files...) */
	BFS_KEY_IS_CONFIG,   /* "config" */
	BFS_KEY_IS_PACK,     /* "packs/<2 hex>/<64 hex>" */
	BFS_KEY_IS_MANIFEST, /* "manifests/<backup id>" */
};

/* "packs/<2 hex>/<64 hex>" of pack id into out (BFS_KEY_MAX bytes).
 * Thread-safe. */
void bfs_key_pack(char *out, const uint8_t id[BFS_HASH_LEN]);

/* "manifests/<backup id>" into out (BFS_KEY_MAX bytes).  -EINVAL (out set
 * to "") if backup_id is not a valid backup id.  Thread-safe. */
int bfs_key_manifest(char *out, const char *backup_id);

/*
 * What key names, strictly: a pack key has exactly two lowercase hex
 * digits of directory that equal the first two of its 64 lowercase hex
 * digits; a manifest key a valid backup id.  For a pack, pack_id (may be
 * NULL) receives the id; for a manifest, *name (may be NULL) points at
 * the id inside key (borrowed).  Returns the kind, BFS_KEY_OTHER for
 * anything else (e.g. temp files of an interrupted local put).
 * Thread-safe.
 */
enum bfs_key_kind bfs_key_parse(const char *key, uint8_t *pack_id,
				const char **name);

/* True if s is exactly 64 lowercase hex digits followed by NUL. */
bool bfs_hex64_valid(const char *s);

/* Longest job name (the manifest header's "job", job files' "name"). */
#define BFS_JOB_NAME_MAX 64 /* same as job.h's (an identical redefinition) */

/* True if name is a valid job name: 1..BFS_JOB_NAME_MAX of [A-Za-z0-9._-],
 * not starting with '.' or '-' (so it is a safe file and directory name).
 * The one rule for job files (bfs_job_name_valid) and for the "job" key
 * of a manifest header read back from a repository.  Thread-safe. */
bool bfs_format_job_name_valid(const char *name);

#endif
