/* store_crypt.c - the store of an encrypted repository: seals the whole
 * objects that hold backup contents or names (manifests/, index/, prune/)
 * on put and opens them on get, so that every reader and writer of those
 * objects works unchanged (doc/FORMAT.md, "Encryption").  The AAD of an
 * object is "backupfs object " followed by its key: an object renamed or
 * moved to another key fails to open.
 *
 * Packs pass through (their frames and index are sealed by the pack
 * writer, so that ranged reads stay possible), as do config, keys/ and
 * locks/.  Sizes reported by stat and list for sealed objects are the
 * plain sizes (stored size - 28).
 *
 * Thread safety: as the inner store; the keys are read-only.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypt.h"
#include "format.h"
#include "store.h"

struct crypt_store {
	struct bfs_store base;
	struct bfs_store *inner;     /* owned */
	const struct bfs_crypt *key; /* borrowed: outlives the store */
};

static struct crypt_store *to_crypt(struct bfs_store *s)
{
	return (struct crypt_store *)s;
}

/* The objects this wrapper seals. */
static bool sealed_key(const char *key)
{
	return !strncmp(key, BFS_KEY_MANIFESTS, strlen(BFS_KEY_MANIFESTS)) ||
	       !strncmp(key, BFS_KEY_INDEX, strlen(BFS_KEY_INDEX)) ||
	       !strncmp(key, BFS_KEY_PRUNE, strlen(BFS_KEY_PRUNE));
}

static int object_aad(struct bfs_buf *aad, const char *key)
{
	aad->len = 0;
	if (bfs_buf_append(aad, BFS_AAD_OBJECT, sizeof(BFS_AAD_OBJECT) - 1) ||
	    bfs_buf_append(aad, key, strlen(key)))
		return -ENOMEM;
	return 0;
}

static int64_t crypt_get(struct bfs_store *s, const char *key, uint64_t off,
			 uint64_t len, struct bfs_buf *out, struct bfs_err *err)
{
	struct crypt_store *c = to_crypt(s);
	struct bfs_buf sealed = {0}, plain = {0}, aad = {0};
	int64_t got;
	int rc;

	if (!sealed_key(key))
		return bfs_store_get(c->inner, key, off, len, out, err);
	got = bfs_store_get(c->inner, key, 0, UINT64_MAX, &sealed, err);
	if (got < 0)
		goto out;
	rc = object_aad(&aad, key);
	if (rc) {
		got = bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	rc = bfs_crypt_open(c->key, aad.data, aad.len, sealed.data, sealed.len,
			    &plain, err);
	if (rc) {
		got = bfs_err_prefix(err, rc == -EBADMSG ? -EBADMSG : rc,
				     "object '%s' of '%s' fails authentication "
				     "(damaged, or not written with this "
				     "repository's key)",
				     key, s->url);
		goto out;
	}
	if (off > plain.len || (len != UINT64_MAX && len > plain.len - off)) {
		got = len == UINT64_MAX ? 0 : -EINVAL;
		if (got)
			bfs_err_set(err, -EINVAL, "range past the end of '%s'",
				    key);
		goto out;
	}
	if (len == UINT64_MAX)
		len = plain.len - off;
	rc = bfs_buf_append(out, plain.data + off, len);
	got = rc ? bfs_err_set(err, rc, "out of memory") : (int64_t)len;
out:
	bfs_buf_free(&sealed);
	bfs_buf_free(&plain);
	bfs_buf_free(&aad);
	return got;
}

static int crypt_put(struct bfs_store *s, const char *key, const void *data,
		     size_t len, int flags, struct bfs_err *err)
{
	struct crypt_store *c = to_crypt(s);
	struct bfs_buf sealed = {0}, aad = {0};
	int rc;

	if (!sealed_key(key))
		return bfs_store_put(c->inner, key, data, len, flags, err);
	rc = object_aad(&aad, key);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	rc = bfs_crypt_seal(c->key, aad.data, aad.len, data, len, &sealed, err);
	if (!rc)
		rc = bfs_store_put(c->inner, key, sealed.data, sealed.len,
				   flags, err);
out:
	bfs_buf_free(&sealed);
	bfs_buf_free(&aad);
	return rc;
}

struct list_ctx {
	bfs_list_cb cb;
	void *arg;
};

static int list_cb(void *arg, const char *key, uint64_t size)
{
	struct list_ctx *l = arg;

	if (sealed_key(key))
		size =
		    size >= BFS_CRYPT_OVERHEAD ? size - BFS_CRYPT_OVERHEAD : 0;
	return l->cb(l->arg, key, size);
}

static int crypt_list(struct bfs_store *s, const char *prefix, bfs_list_cb cb,
		      void *arg, struct bfs_err *err)
{
	struct list_ctx l = {cb, arg};

	return bfs_store_list(to_crypt(s)->inner, prefix, list_cb, &l, err);
}

static int crypt_del(struct bfs_store *s, const char *key, struct bfs_err *err)
{
	return bfs_store_del(to_crypt(s)->inner, key, err);
}

static int crypt_stat(struct bfs_store *s, const char *key, uint64_t *size,
		      struct bfs_err *err)
{
	int rc = bfs_store_stat(to_crypt(s)->inner, key, size, err);

	if (!rc && sealed_key(key))
		*size = *size >= BFS_CRYPT_OVERHEAD ? *size - BFS_CRYPT_OVERHEAD
						    : 0;
	return rc;
}

static void crypt_destroy(struct bfs_store *s)
{
	struct crypt_store *c = to_crypt(s);

	bfs_store_free(c->inner);
	free(s->url);
	free(c);
}

static const struct bfs_store_ops crypt_ops = {
    .name = "crypt",
    .get = crypt_get,
    .put = crypt_put,
    .list = crypt_list,
    .del = crypt_del,
    .stat = crypt_stat,
    .destroy = crypt_destroy,
};

/* See store.h. */
int bfs_store_crypt_wrap(struct bfs_store *inner, const struct bfs_crypt *key,
			 struct bfs_store **out, struct bfs_err *err)
{
	struct crypt_store *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c || (inner->url && !(c->base.url = strdup(inner->url)))) {
		free(c);
		bfs_store_free(inner);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	c->base.ops = &crypt_ops;
	c->inner = inner;
	c->key = key;
	*out = &c->base;
	return 0;
}
