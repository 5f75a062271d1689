/* store.c - pick a store implementation for a repository location.
 *
 *   "s3://bucket/prefix"   -> store_s3.c
 *   "file://PATH" or PATH  -> store_local.c
 *
 * Test builds only (./configure --enable-fault-injection, which
 * scripts/test uses): if the environment variable BACKUPFS_FAULT is set
 * and not empty, the opened store is wrapped by the fault-injecting store
 * (store_fault.c) with that value as its spec, e.g.
 *   BACKUPFS_FAULT='get:key=packs/:every=2:err=EIO' backupfs cat ...
 * Other builds do not contain store_fault.c; they ignore the variable
 * (with one warning).
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

#ifdef BFS_FAULT_INJECTION
/* Wrap *s (ownership passes, even on failure) in the fault store when
 * $BACKUPFS_FAULT asks for it. */
static int apply_fault_env(struct bfs_store **s, struct bfs_err *err)
{
	const char *fault = getenv("BACKUPFS_FAULT");
	struct bfs_store *w = NULL;
	int rc;

	if (!fault || !*fault)
		return 0;
	rc = bfs_store_fault_wrap(*s, fault, &w, err);
	*s = w;
	if (rc)
		return bfs_err_prefix(err, rc, "invalid BACKUPFS_FAULT spec");
	return 0;
}
#else
static int apply_fault_env(struct bfs_store **s, struct bfs_err *err)
{
	static atomic_bool warned;
	const char *fault = getenv("BACKUPFS_FAULT");

	/* The only mutable global here: a once-per-process warning. */
	if (fault && *fault && !atomic_exchange(&warned, true))
		bfs_warn("BACKUPFS_FAULT ignored: this build has no fault "
			 "injection (configure --enable-fault-injection)");
	return 0;
}
#endif

/* Open the store for url (see store.h).  opts may be NULL.  On success
 * *out is owned by the caller (bfs_store_free).  Returns 0 or -errno with
 * a message in err.  Thread-safe (reads the environment). */
int bfs_store_open(const char *url, const struct bfs_store_opts *opts,
		   struct bfs_store **out, struct bfs_err *err)
{
	struct bfs_store *s = NULL;
	int rc;

	*out = NULL;
	if (!url || !*url)
		return bfs_err_set(err, -EINVAL, "empty repository location");
	if (strncmp(url, "s3://", 5) == 0) {
		if (opts && opts->group)
			return bfs_err_set(err, -EINVAL,
					   "a group applies to local "
					   "repositories only, not to '%s'",
					   url);
		rc = bfs_store_s3_open(url, opts, &s, err);
	} else {
		const char *path = url;

		if (strncmp(url, "file://", 7) == 0)
			path = url + 7;
		if (!*path)
			return bfs_err_set(
			    err, -EINVAL,
			    "empty path in repository location '%s'", url);
		rc = bfs_store_local_open_group(
		    path, opts ? opts->create : false,
		    opts && opts->create ? opts->group : NULL, &s, err);
	}
	if (rc)
		return rc;

	rc = apply_fault_env(&s, err);
	if (rc)
		return rc;
	if (opts && opts->cache_dir && opts->cache_dir[0]) {
		struct bfs_store *w;

		/* Ownership of s passes to the wrapper, even on failure. */
		rc = bfs_store_cache_wrap(
		    s, opts->cache_dir,
		    opts->cache_dir_size ? opts->cache_dir_size : 1ull << 30,
		    &w, err);
		if (rc)
			return bfs_err_prefix(err, rc,
					      "cannot use cache directory '%s'",
					      opts->cache_dir);
		s = w;
	}
	*out = s;
	return 0;
}

static int stop_at_first(void *arg, const char *key, uint64_t size)
{
	(void)key;
	(void)size;
	*(bool *)arg = true;
	return 1;
}

int bfs_store_holds_any(struct bfs_store *s, bool *any, struct bfs_err *err)
{
	int rc;

	*any = false;
	rc = bfs_store_list(s, "", stop_at_first, any, err);
	if (*any || rc == -ENOENT) {
		if (err)
			err->msg[0] = '\0';
		return 0;
	}
	return rc < 0 ? bfs_err_prefix(err, rc, "cannot list '%s'", s->url) : 0;
}

bool bfs_store_is_remote(const struct bfs_store *s)
{
	return !strcmp(s->ops->name, "s3") ||
	       (s->url && !strncmp(s->url, "s3://", 5));
}
