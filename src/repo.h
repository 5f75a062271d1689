/* repo.h - a repository: a store plus its parsed `config` object.
 *
 * Layout (doc/FORMAT.md is the reference):
 *   config                  JSON, written once by init
 *   packs/<2 hex>/<64 hex>  pack id = SHA-256 of the whole pack object
 *   manifests/<backup id>   zstd-compressed JSON Lines
 *   locks/                  reserved
 */
#ifndef BFS_REPO_H
#define BFS_REPO_H

#include <stdbool.h>
#include <stdint.h>

#include "chunker.h"
#include "format.h"
#include "store.h"
#include "util.h"

/* Chunker profiles: dumps chunk small (changes scatter over a dump),
 * files chunk large (attachments change whole or not at all). */
enum bfs_profile {
	BFS_PROFILE_DUMP = 0,  /* --pg-dump, --mysql-dump, --command, --stdin */
	BFS_PROFILE_FILES = 1, /* --files, --archive */
	BFS_PROFILE_COUNT
};

struct bfs_crypt;

struct bfs_repo {
	struct bfs_store *store; /* owned; for an encrypted repository the
				    sealing store (store_crypt.c) */
	char id[65];		 /* 64 hex, NUL */
	int version;		 /* config "version": 1 (migrate only), 2 to 5;
				    a version-2, -3 or -4 repository is written as it
				    is (2: no delta frames; 3: no tree parts as delta
				    frames; 4: no delta frames on several bases) until
				    'backupfs migrate' */
	struct bfs_chunker_params chunker[BFS_PROFILE_COUNT];
	int zstd_level;
	uint64_t pack_target; /* bytes, e.g. 16 MiB */
	/* Encrypted repository (config "encryption"): the master keys,
	 * unwrapped by bfs_repo_open with the password; NULL when plain. */
	struct bfs_crypt *crypt;
	bool encrypted; /* config says so (crypt set once unlocked) */
	char key_name[BFS_HASH_HEX + 1]; /* the key object that opened it */
	struct bfs_repo_bases *bases;	 /* delta bases: lookup + cache */
};

/* Create a repository at url: writes `config` with BFS_PUT_EXCL.  Fails
 * with -EEXIST (and a clear message) if one is already there.  Defaults
 * for chunker/zstd/pack sizes unless overridden in params (may be NULL). */
int bfs_repo_init(const char *url, const struct bfs_store_opts *sopts,
		  struct bfs_repo **out, struct bfs_err *err);

/* init makes an encrypted repository (config version 5, random master
 * keys wrapped under the password in keys/<64 hex>, see crypt.h) when
 * sopts gives a password source or the environment does
 * (bfs_password_given); else a plain one.  open reads the password the
 * same way when config says "encryption": none given, or none of the key
 * objects opens with it, is -EACCES ("wrong password for repository
 * 'URL': no key matches"). */

/* Let bfs_repo_open open format-1 repositories (r->version 1) too; for
 * 'backupfs migrate' only.  Not thread-safe: call before opening. */
void bfs_repo_accept_format1(bool on);

/* Open an existing repository: reads and validates `config` (untrusted:
 * every field checked).  Missing repository -> -ENOENT, "no backupfs
 * repository at 'URL'"; unknown format/version -> -EPROTO. */
int bfs_repo_open(const char *url, const struct bfs_store_opts *sopts,
		  struct bfs_repo **out, struct bfs_err *err);

void bfs_repo_close(struct bfs_repo *r); /* NULL ok; frees the store */

/* Object keys (format.h builds and parses them).  out must hold
 * BFS_KEY_MAX bytes. */
static inline void bfs_repo_pack_key(char *out,
				     const uint8_t pack_id[BFS_HASH_LEN])
{
	bfs_key_pack(out, pack_id);
}

/* -EINVAL if id is not a valid backup id. */
static inline int bfs_repo_manifest_key(char *out, const char *backup_id)
{
	return bfs_key_manifest(out, backup_id);
}

/* The backups of the store at st: the ids of its manifests/ keys that are
 * valid backup ids (anything else, e.g. the temp file of an interrupted
 * put, is skipped), sorted.  out must be zeroed or hold earlier results
 * (the list is appended to, then sorted).  0, or -errno with err naming
 * the store ("cannot list the backups of 'URL': ..."). */
int bfs_repo_list_backups(struct bfs_store *st, struct bfs_strv *out,
			  struct bfs_err *err);

/* The id of a blob with plain bytes data[0..len): SHA-256 in a plain
 * repository, HMAC-SHA256 with the id key in an encrypted one.  Every
 * site that names a blob computes its id here.  Thread-safe. */
void bfs_repo_blob_id(const struct bfs_repo *r, uint8_t id[BFS_HASH_LEN],
		      const void *data, size_t len);
/* The ids of n buffers, as bfs_repo_blob_id gives them, at once: in
 * SHA-NI's pairs or the AVX lanes where sha256mb.h takes them.
 * Thread-safe. */
void bfs_repo_blob_id_many(const struct bfs_repo *r,
			   uint8_t (*ids)[BFS_HASH_LEN],
			   const void *const *data, const size_t *len,
			   size_t n);

/* The stored frame of a blob (doc/FORMAT.md, sections 3 and Encryption):
 * the zstd frame of data at the repository's level, sealed with AAD
 * "backupfs blob " || id in an encrypted repository.  Appended to out.
 * 0 or -errno.  Thread-safe. */
int bfs_repo_blob_encode(const struct bfs_repo *r,
			 const uint8_t id[BFS_HASH_LEN], const void *data,
			 size_t len, struct bfs_buf *out, struct bfs_err *err);

/* The stored frame of blob id (plain bytes data[0..len)) as a delta
 * frame on base base_id (plain bytes base[0..blen), borrowed), sealed
 * like bfs_repo_blob_encode in an encrypted repository; appended to
 * out.  *zlen gets the length of the frame's zstd part (for
 * bfs_delta_worth).  0, -EINVAL (a base id the format forbids), or
 * -errno.  Thread-safe. */
int bfs_repo_delta_encode(const struct bfs_repo *r,
			  const uint8_t id[BFS_HASH_LEN],
			  const uint8_t base_id[BFS_HASH_LEN], const void *base,
			  size_t blen, const void *data, size_t len,
			  struct bfs_buf *out, size_t *zlen,
			  struct bfs_err *err);

/* The stored frame of blob id (plain bytes data[0..len)) as a delta
 * frame on nbases bases: base_ids[i] with plain bytes bases[i]
 * [0..blens[i]) (borrowed), in frame order.  nbases 1 is
 * bfs_repo_delta_encode (a type-2 frame); 2..BFS_DELTA_MAX_BASES a
 * multi-base frame (doc/FORMAT.md 18.2; stored as type BFS_BLOB_DELTA2,
 * bfs_pack_builder_add_delta_n), sealed like every frame in an
 * encrypted repository.  *zlen gets the length of its zstd part.  0,
 * -EINVAL (a base id the format forbids, a base twice or the blob
 * itself, nbases out of range, several bases in a repository of
 * version < BFS_FORMAT_VERSION_DELTA2), or -errno.  Thread-safe. */
int bfs_repo_delta_encode_n(const struct bfs_repo *r,
			    const uint8_t id[BFS_HASH_LEN], size_t nbases,
			    const uint8_t (*base_ids)[BFS_HASH_LEN],
			    const void *const *bases, const size_t *blens,
			    const void *data, size_t len, struct bfs_buf *out,
			    size_t *zlen, struct bfs_err *err);

/* Decode a stored frame (untrusted, flen bytes) of blob id into out,
 * which holds exactly len bytes: open it (encrypted repository), zstd
 * decode (a delta frame with its base, located through
 * bfs_repo_set_locate), check the id.  -EBADMSG authentication failure or id
 * mismatch, -EUCLEAN corrupt frame or wrong length; the message says which (the
 * caller prefixes the blob and pack).  Thread-safe. */
int bfs_repo_blob_decode(struct bfs_repo *r, const uint8_t id[BFS_HASH_LEN],
			 const void *frame, size_t flen, void *out, size_t len,
			 struct bfs_err *err);

/* bfs_repo_blob_decode, and *bases (always set) the bases the frame
 * names (n 0: a whole frame; 1: a type-2 frame; 2..: a multi-base one;
 * set as soon as the head is read, also when the decode fails later):
 * for check, which compares them with the index object. */
int bfs_repo_blob_decode_bases(struct bfs_repo *r,
			       const uint8_t id[BFS_HASH_LEN],
			       const void *frame, size_t flen, void *out,
			       size_t len, struct bfs_bases *bases,
			       struct bfs_err *err);

/* bfs_repo_blob_decode_bases without the check of the plain bytes
 * against id (either kind of frame; an encrypted frame is still
 * authenticated), for a caller that checks several at once
 * (bfs_repo_blob_id_many) and decodes one that does not match again with
 * bfs_repo_blob_decode_bases, for the error naming what is damaged. */
int bfs_repo_blob_decode_unchecked(struct bfs_repo *r,
				   const uint8_t id[BFS_HASH_LEN],
				   const void *frame, size_t flen, void *out,
				   size_t len, struct bfs_bases *bases,
				   struct bfs_err *err);

/* True when blobs of a and b are interchangeable byte for byte: both
 * plain, or both encrypted with the same master keys. */
bool bfs_repo_same_keys(const struct bfs_repo *a, const struct bfs_repo *b);

/* One chunk's location, as carried in manifests and the catalog. */
struct bfs_chunkref {
	uint8_t hash[BFS_HASH_LEN]; /* SHA-256 of the plain bytes */
	uint8_t pack[BFS_HASH_LEN]; /* pack id */
	uint64_t offset;	    /* of the zstd frame in the pack */
	uint32_t clen;		    /* compressed (frame) length */
	uint32_t len;		    /* plain length */
};

/* Serialised form in catalog blobs: 80 bytes, little-endian:
 * hash[32] pack[32] offset u64 clen u32 len u32. */
#define BFS_CHUNKREF_BLOB 80
void bfs_chunkref_pack(uint8_t out[BFS_CHUNKREF_BLOB],
		       const struct bfs_chunkref *c);
void bfs_chunkref_unpack(struct bfs_chunkref *c,
			 const uint8_t in[BFS_CHUNKREF_BLOB]);

/* Read one chunk: fetch [offset, offset+clen) of its pack, decompress
 * into out (which must hold c->len bytes), verify SHA-256 == c->hash.
 * A delta frame (it does not start with the zstd magic) is decoded with
 * its bases' plain bytes (bfs_repo_set_locate; every base of a
 * multi-base frame, each verified, or with bfs_repo_set_bases_by_output
 * checked through the frame's output); a missing or damaged base fails
 * with a message naming that base, never other bytes.
 * Errors: -ENOENT pack missing, -EUCLEAN corrupt frame / wrong length,
 * -EBADMSG hash mismatch, -EIO etc. from the store.  The message names
 * the pack key.  Thread-safe. */
int bfs_repo_read_chunk(struct bfs_repo *r, const struct bfs_chunkref *c,
			uint8_t *out, struct bfs_err *err);

/* Where blob id is stored: 0 and *out filled, -ENOENT when no index
 * object names it, or -errno.  Called from any thread reading chunks:
 * must be thread-safe. */
typedef int (*bfs_repo_locate_fn)(void *arg, const uint8_t id[BFS_HASH_LEN],
				  struct bfs_chunkref *out);

/* bfs_repo_read_chunk locating a delta frame's base with fn(arg)
 * instead of the locator bfs_repo_set_locate gave (which may be unset):
 * for a reader that has its own index, such as the catalog ingest.
 * Thread-safe when fn is. */
int bfs_repo_read_chunk_via(struct bfs_repo *r, const struct bfs_chunkref *c,
			    uint8_t *out, bfs_repo_locate_fn fn, void *arg,
			    struct bfs_err *err);

/* Read chunk c only when it is stored whole (a possible delta base):
 * 0 with its verified plain bytes in out (c->len bytes); 1 when it is
 * stored as a delta frame, with that frame's base id (the FIRST base of
 * a multi-base frame) in base_id (out untouched; depth 1: the base is
 * the one to use instead); else as
 * bfs_repo_read_chunk.  Thread-safe. */
int bfs_repo_read_whole(struct bfs_repo *r, const struct bfs_chunkref *c,
			uint8_t *out, uint8_t base_id[BFS_HASH_LEN],
			struct bfs_err *err);

/* Let r read delta frames (doc/FORMAT.md section 18): fn locates a
 * frame's base blob, whose plain bytes are kept in a small cache (the
 * last BFS_REPO_BASE_CACHE bases, shared by reference with the decodes
 * using them: an evicted base is freed when the last decode holding it
 * is done; thread-safe).  Without it a delta frame is an error naming
 * its base.  Call before any thread reads chunks.  Turns
 * bfs_repo_set_bases_by_output off.  arg is borrowed (must outlive r's
 * reads, or be unset with fn NULL before it goes), or owned by r when
 * free_arg is not NULL (called on close or on the next set).  0 or
 * -ENOMEM (free_arg(arg) called). */
#define BFS_REPO_BASE_CACHE 8
int bfs_repo_set_locate(struct bfs_repo *r, bfs_repo_locate_fn fn, void *arg,
			void (*free_arg)(void *), struct bfs_err *err);

/* The read path's opt-in (mount, cat, restore; after
 * bfs_repo_set_locate, which turns it off, before any thread reads): a
 * delta frame's base is read without checking its own bytes against its
 * id; the frame's output is checked against the frame's id as always,
 * so no byte reaches a caller unchecked.  When that check (or the
 * decode) fails, the bases read unchecked are checked then: a damaged
 * one is dropped from the cache and named in the error as it is today
 * ("delta base <id>: chunk ... fails its checksum"); when they verify,
 * the error says the frame is damaged.  Off (the default, and what
 * check, copy, prune, migrate and the writer use): every base is
 * verified before a decode uses it, a cached base read unchecked
 * included.  A whole chunk is always verified.  No-op without a
 * locator. */
void bfs_repo_set_bases_by_output(struct bfs_repo *r, bool on);

/* Decode the stored frame of c (frame: c->clen bytes, already fetched,
 * borrowed) into out (c->len bytes) as bfs_repo_read_chunk does, delta
 * frames included; the one decoder of chunk frames.  Thread-safe. */
int bfs_repo_decode(struct bfs_repo *r, const struct bfs_chunkref *c,
		    const uint8_t *frame, uint8_t *out, struct bfs_err *err);

/* Read several chunks that lie in one pack, in one store request when
 * they are adjacent (S3 ranged GET).  outs[i] holds refs[i].len bytes.
 * Same errors as bfs_repo_read_chunk; on error no out is trusted. */
int bfs_repo_read_chunks(struct bfs_repo *r, const struct bfs_chunkref *refs,
			 size_t n, uint8_t **outs, struct bfs_err *err);

/* Called by bfs_repo_read_chunks_each as soon as chunk refs[idx] is in
 * outs[idx], verified (a reader can hand it out before the rest of the
 * request is decoded).  Runs on the calling thread. */
typedef void (*bfs_repo_chunk_done)(void *arg, size_t idx);

/* bfs_repo_read_chunks, calling done(arg, i) (may be NULL) for each chunk
 * once verified, in pack order.  On error the chunks already passed to
 * done stay good; no other out is trusted.  Thread-safe. */
int bfs_repo_read_chunks_each(struct bfs_repo *r,
			      const struct bfs_chunkref *refs, size_t n,
			      uint8_t **outs, bfs_repo_chunk_done done,
			      void *arg, struct bfs_err *err);

#endif
