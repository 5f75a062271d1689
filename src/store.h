/* store.h - where repository objects live: a table of function pointers
 * (like SQLite's VFS).  Implementations: local directory (store_local.c),
 * S3-compatible (store_s3.c), and a fault-injecting wrapper for tests
 * (store_fault.c).
 *
 * Keys are '/'-separated relative names: "config", "packs/ab/<64 hex>",
 * "manifests/<backup id>".  Every object is immutable once written.
 *
 * Thread safety: every op may be called from several threads at once on
 * the same store (the mount reads from many FUSE workers; the writer uploads
 * packs from a thread pool).
 */
#ifndef BFS_STORE_H
#define BFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct bfs_store;

/* Flags for put(). */
#define BFS_PUT_EXCL 0x1 /* fail with -EEXIST if the key already exists */

/* Called once per key by list(); return non-zero to stop (that value is
 * returned by list()).  key is borrowed for the duration of the call. */
typedef int (*bfs_list_cb)(void *arg, const char *key, uint64_t size);

struct bfs_store_ops {
	const char *name; /* "local", "s3", "fault" */
	/* Read len bytes at off of key into out (appended to out->data).
	 * len == UINT64_MAX reads to the end.  A range past the end is -EINVAL
	 * (or a short read at the end when len == UINT64_MAX).  Missing key:
	 * -ENOENT.  Returns bytes read or -errno. */
	int64_t (*get)(struct bfs_store *s, const char *key, uint64_t off,
		       uint64_t len, struct bfs_buf *out, struct bfs_err *err);
	/* Write the whole object atomically: readers see all of it or
	 * nothing, a crash leaves no partial object under key.  Local stores
	 * fsync the file and its directory.  0 / -errno (-EEXIST with
	 * BFS_PUT_EXCL). */
	int (*put)(struct bfs_store *s, const char *key, const void *data,
		   size_t len, int flags, struct bfs_err *err);
	/* All keys starting with prefix (e.g. "manifests/"), any order. */
	int (*list)(struct bfs_store *s, const char *prefix, bfs_list_cb cb,
		    void *arg, struct bfs_err *err);
	/* Remove key; -ENOENT if it did not exist. */
	int (*del)(struct bfs_store *s, const char *key, struct bfs_err *err);
	/* Size of key; -ENOENT if missing. */
	int (*stat)(struct bfs_store *s, const char *key, uint64_t *size,
		    struct bfs_err *err);
	void (*destroy)(struct bfs_store *s);
};

/* Every implementation embeds this as its first member. */
struct bfs_store {
	const struct bfs_store_ops *ops;
	char *url; /* owned: as given by the user, without secrets */
};

/* Open the store for a repository location: "s3://bucket/prefix" or a
 * local path (optionally "file://PATH").  Does not check that a repository
 * exists there.  *out is owned by the caller (bfs_store_free).
 * opts may be NULL. */
struct bfs_store_opts {
	const char *s3_endpoint; /* overrides AWS_ENDPOINT_URL */
	int s3_path_style;	 /* -1 auto (path-style iff endpoint set),
				    0 virtual-host, 1 path */
	const char *s3_region;	 /* overrides AWS_REGION */
	bool create;		 /* init: create bucket / directory */
	const char *cache_dir;	 /* non-NULL: on-disk cache of fetched pack
				    ranges in front of the store */
	uint64_t cache_dir_size; /* its bound in bytes (0: 1 GiB) */
	const char *group;	 /* init of a local repository: share it
				    read-only with this group (name or
				    number); NULL: private (0700/0600) */
	/* The password of an encrypted repository (read by bfs_repo_open
	 * and bfs_repo_init, src/crypt_pass.c): a file whose first line it
	 * is, or a command (sh -c) that prints it; NULL: the environment
	 * ($BACKUPFS_PASSWORD_FILE, _COMMAND, $BACKUPFS_PASSWORD). */
	const char *password_file;
	const char *password_command;
	/* copy: password_file/_command were given for the target
	 * (--to-password-*), so it must already be a repository */
	bool target_password;
};
int bfs_store_open(const char *url, const struct bfs_store_opts *opts,
		   struct bfs_store **out, struct bfs_err *err);

/* Constructors (used by bfs_store_open and tests). */
int bfs_store_local_open(const char *path, bool create, struct bfs_store **out,
			 struct bfs_err *err);
int bfs_store_local_open_group(const char *path, bool create, const char *group,
			       struct bfs_store **out, struct bfs_err *err);
int bfs_store_s3_open(const char *url, const struct bfs_store_opts *opts,
		      struct bfs_store **out, struct bfs_err *err);

/* Fault injection for tests: wraps inner (ownership transferred, even on
 * failure).  spec is e.g. "get:every=3:err=EIO" or
 * "get:key=packs/:corrupt=1" - see store_fault.c.  Defined only in test
 * builds (configure --enable-fault-injection) and in the unit tests'
 * library (tests/unit/libbfstest.a); the program must not call it. */
int bfs_store_fault_wrap(struct bfs_store *inner, const char *spec,
			 struct bfs_store **out, struct bfs_err *err);

/* True if s reaches its objects over the network (S3, also behind a
 * cache or fault wrapper, which keep the inner store's url): callers then
 * size requests for latency (fewer, larger GETs; more in flight). */
bool bfs_store_is_remote(const struct bfs_store *s);

/* *any: s holds at least one object (listing stops at the first).  A
 * location that does not exist yet (no bucket) holds none.  0 or -errno
 * with a message. */
int bfs_store_holds_any(struct bfs_store *s, bool *any, struct bfs_err *err);

/* On-disk cache of get() results of packs (immutable, content-addressed)
 * in directory dir, at most max_bytes (>= 1 MiB; least recently used
 * entries are evicted), in front of inner (ownership transferred, even on
 * failure).  Entries are checksummed: a damaged entry is refetched, never
 * returned.  Other ops pass through.  See store_cache.c. */
int bfs_store_cache_wrap(struct bfs_store *inner, const char *dir,
			 uint64_t max_bytes, struct bfs_store **out,
			 struct bfs_err *err);

/* The store of an encrypted repository (store_crypt.c): seals and opens
 * manifests/, index/ and prune/ objects with key (borrowed: must outlive
 * the store) in front of inner (ownership transferred, even on failure).
 * Other keys pass through. */
struct bfs_crypt;
int bfs_store_crypt_wrap(struct bfs_store *inner, const struct bfs_crypt *key,
			 struct bfs_store **out, struct bfs_err *err);

/* Convenience wrappers that call through the ops table. */
static inline int64_t bfs_store_get(struct bfs_store *s, const char *key,
				    uint64_t off, uint64_t len,
				    struct bfs_buf *out, struct bfs_err *err)
{
	return s->ops->get(s, key, off, len, out, err);
}
static inline int bfs_store_put(struct bfs_store *s, const char *key,
				const void *data, size_t len, int flags,
				struct bfs_err *err)
{
	return s->ops->put(s, key, data, len, flags, err);
}
static inline int bfs_store_list(struct bfs_store *s, const char *prefix,
				 bfs_list_cb cb, void *arg, struct bfs_err *err)
{
	return s->ops->list(s, prefix, cb, arg, err);
}
static inline int bfs_store_del(struct bfs_store *s, const char *key,
				struct bfs_err *err)
{
	return s->ops->del(s, key, err);
}
static inline int bfs_store_stat(struct bfs_store *s, const char *key,
				 uint64_t *size, struct bfs_err *err)
{
	return s->ops->stat(s, key, size, err);
}

/* Close a store and free everything it owns.  NULL is a no-op.  Not to be
 * called while other threads still use s.  (Inline, like the wrappers
 * above, so that the wrapping stores do not depend on store.c, which
 * depends on them.) */
static inline void bfs_store_free(struct bfs_store *s)
{
	if (s)
		s->ops->destroy(s);
}

#endif
