/* restore_int.h - what the files of the restore share.  Private to
 * restore*.c.
 *
 *   restore_read.c      chunk lists to bytes, cat, tree walks
 *   restore_prefetch.c  small files fetched ahead by a bfs_pool
 *   restore_fs.c        the file system side: temp names, placing,
 *                       metadata, sparse writes, hardlink map, messages
 *   restore.c           the tree: entries, directories, conflict check,
 *                       bfs_restore
 */
#ifndef BFS_RESTORE_INT_H
#define BFS_RESTORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog_iter.h"
#include "hmap.h"
#include "reader.h"
#include "restore.h"

#define RESTORE_PAGE 1024 /* directory entries per catalog query */

/* ---- restore_read.c ----------------------------------------------------- */

/* -EUCLEAN (err names the file) unless the chunk lengths add up to size:
 * restoring would produce wrong bytes. */
int rst_check_chunk_sum(const struct bfs_chunkref *refs, size_t n,
			uint64_t size, const char *name, struct bfs_err *err);

/* The size of a file entry; a hardlink member may carry none of its own
 * (the group's data entry has it). */
/* The group's first entry of a hardlink ce (ce->link_id) was unreadable
 * at backup time: -EIO with a message naming both, as the mount answers
 * (issue 13 item 9; FORMAT.md 6.2 "h").  0 otherwise (also when ce is no
 * link); other -errno from the catalog. */
int rst_link_unreadable(struct bfs_catalog *cat, const struct bfs_cat_entry *ce,
			struct bfs_err *err);
int rst_entry_size(struct bfs_catalog *cat, const struct bfs_cat_entry *ce,
		   uint64_t *size, struct bfs_err *err);

/* Append "/name" (or "name" to an empty buffer or one ending in '/'),
 * keeping the buffer NUL-terminated; pop back to an earlier length. */
int rst_path_push(struct bfs_buf *b, const char *name, size_t n);
void rst_path_pop(struct bfs_buf *b, size_t len);

/* Finding chunks whose pack vanished (prune ran meanwhile): the reader's
 * relocate hook (reader.h) over a catalog connection of its own (the
 * caller's is not shared with the reader's threads), which resyncs the
 * catalog's index objects once per vanished pack and looks the chunk up
 * again. */
struct rst_reloc {
	pthread_mutex_t lock;	 /* protects cat */
	struct bfs_repo *repo;	 /* borrowed */
	char *path;		 /* the catalog's, owned */
	struct bfs_catalog *cat; /* opened on first use */
	int64_t last_ns;	 /* last resync (bfs_mono_ns) */
};
/* Set up over repo and the catalog cat is a connection to.  0 /
 * -ENOMEM. */
int rst_reloc_init(struct rst_reloc *x, struct bfs_repo *repo,
		   struct bfs_catalog *cat);
void rst_reloc_fini(struct rst_reloc *x);
/* The hook itself; arg is a struct rst_reloc. */
int rst_relocate(void *arg, const uint8_t hash[BFS_HASH_LEN],
		 const uint8_t gone[BFS_HASH_LEN], struct bfs_chunkref *out,
		 struct bfs_err *err);

/* ---- restore_prefetch.c ------------------------------------------------- */

struct prefetch;
struct pf_item;

/* A prefetcher over reader (borrowed).  Its pool starts with the first
 * item.  0 / -ENOMEM. */
int pf_create(struct bfs_reader *reader, struct prefetch **out);
/* Stop the workers (queued items are dropped) and free.  Every item must
 * have been put.  NULL ok. */
void pf_destroy(struct prefetch *pf);
/* Queue a file of size bytes made of refs[0..n) (ownership transferred,
 * even on failure).  NULL if it cannot be queued: read it directly. */
struct pf_item *pf_add(struct prefetch *pf, struct bfs_chunkref *refs, size_t n,
		       uint64_t size);
/* The item's content: fetched here if no worker has started on it,
 * waited for otherwise.  0 and *data (size bytes, valid until pf_put), or
 * the read's error with err set. */
int pf_get(struct prefetch *pf, struct pf_item *it, const uint8_t **data,
	   uint64_t *size, struct bfs_err *err);
/* Done with the item, used or not.  NULL ok. */
void pf_put(struct prefetch *pf, struct pf_item *it);

/* ---- restore_fs.c -------------------------------------------------------- */

/* Hardlink groups: data entry id -> path (relative to the target root) of
 * the first member restored. */
struct link_rec {
	int64_t key;
	char *path; /* owned */
};

struct rctx {
	struct bfs_repo *repo;
	struct bfs_catalog *cat;
	struct bfs_reader *reader;
	struct rst_reloc reloc; /* the reader's relocate hook */
	struct bfs_restore_opts o;
	struct bfs_restore_stats st;
	struct bfs_err *err;
	int rootfd;
	/* "TARGET/rel/path": messages use all of it, hardlinks the part
	 * after base (relative to rootfd). */
	struct bfs_buf path;
	size_t base;
	struct bfs_hmap links; /* struct link_rec */
	struct bfs_restore_progress prog;
	int64_t start_ns, last_ns;
	struct prefetch *pf;
};

const char *rst_cur_path(const struct rctx *x);
const char *rst_rel_path(const struct rctx *x);
void rst_progress(struct rctx *x, bool force);
void rst_warn(struct rctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A name for a new object, unique enough for O_EXCL / mknod / symlink
 * (they fail with EEXIST, and the caller retries). */
void rst_tmp_name(char out[32]);
int rst_fs_error(struct rctx *x, int code, const char *what);
int rst_conflict(struct rctx *x);
/* Move tmp into place as name (without force, never replacing). */
int rst_place(struct rctx *x, int dirfd, const char *tmp, const char *name);
int rst_meta_fd(struct rctx *x, int fd, const struct bfs_entry *e);
int rst_meta_at(struct rctx *x, int dirfd, const char *name,
		const struct bfs_entry *e, bool chmod_ok);
/* Create a temp file in dirfd; its name in tmp.  fd or -errno. */
int rst_open_tmp(struct rctx *x, int dirfd, char tmp[32]);
bool rst_name_ok(const struct bfs_cat_entry *ce);

/* A restore's output file (bfs_reader_cb): sparse writes, counts. */
struct file_out {
	struct rctx *x;
	int fd;
	int werr;
};
int rst_file_write(void *arg, uint64_t off, const uint8_t *data, size_t n);

int rst_links_init(struct rctx *x);
const char *rst_link_get(struct rctx *x, int64_t key);
int rst_link_put(struct rctx *x, int64_t key, const char *path);
void rst_links_fini(struct rctx *x);

#endif
