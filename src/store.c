/* store.c - pick a store implementation for a repository location.
 *
 *   "s3://bucket/prefix"   -> store_s3.c
 *   "file://PATH" or PATH  -> store_local.c
 *
 * Test-only: if the environment variable BACKUPFS_FAULT is set and not
 * empty, the opened store is wrapped by the fault-injecting store
 * (store_fault.c) with that value as its spec, e.g.
 *   BACKUPFS_FAULT='get:key=packs/:every=2:err=EIO' backupfs cat ...
 * This exists for end-to-end tests of error paths; never set it in
 * production.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* Open the store for url (see store.h).  opts may be NULL.  On success
 * *out is owned by the caller (bfs_store_free).  Returns 0 or -errno with
 * a message in err.  Thread-safe (reads the environment). */
int bfs_store_open(const char *url, const struct bfs_store_opts *opts,
		   struct bfs_store **out, struct bfs_err *err)
{
	struct bfs_store *s = NULL;
	const char *fault;
	int rc;

	*out = NULL;
	if (!url || !*url)
		return bfs_err_set(err, -EINVAL, "empty repository location");
	if (strncmp(url, "s3://", 5) == 0) {
		rc = bfs_store_s3_open(url, opts, &s, err);
	} else {
		const char *path = url;

		if (strncmp(url, "file://", 7) == 0)
			path = url + 7;
		if (!*path)
			return bfs_err_set(err, -EINVAL,
					   "empty path in repository location '%s'",
					   url);
		rc = bfs_store_local_open(path, opts ? opts->create : false,
					  &s, err);
	}
	if (rc)
		return rc;

	fault = getenv("BACKUPFS_FAULT");
	if (fault && *fault) {
		struct bfs_store *w = NULL;

		/* Ownership of s passes to the wrapper, even on failure. */
		rc = bfs_store_fault_wrap(s, fault, &w, err);
		if (rc)
			return bfs_err_prefix(err, rc,
					      "invalid BACKUPFS_FAULT spec");
		s = w;
	}
	if (opts && opts->cache_dir && opts->cache_dir[0]) {
		struct bfs_store *w;

		/* Ownership of s passes to the wrapper, even on failure. */
		rc = bfs_store_cache_wrap(s, opts->cache_dir,
					  opts->cache_dir_size ?
					  opts->cache_dir_size : 1ull << 30,
					  &w, err);
		if (rc)
			return bfs_err_prefix(err, rc, "cannot use cache directory '%s'",
					      opts->cache_dir);
		s = w;
	}
	*out = s;
	return 0;
}

/* Close a store and free everything it owns.  NULL is a no-op.  Not to be
 * called while other threads still use s. */
void bfs_store_free(struct bfs_store *s)
{
	if (!s)
		return;
	s->ops->destroy(s);
}
