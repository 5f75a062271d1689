/* check_keys.c - `backupfs check` of the key objects of an encrypted
 * repository (check.h, step 0; doc/FORMAT.md section 19): each
 * keys/<64 hex> is read whole and must be what a writer makes, and the
 * one the repository was opened with must still open to the master keys
 * in use.  The other key objects belong to other passwords: checked as
 * far as that goes without them (structure, name, KDF bounds).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "crypt.h"
#include "format.h"

struct key_listing {
	struct bfs_strv names; /* 64 hex */
	uint64_t *sizes;       /* listed size of names.v[i] */
	size_t cap;
};

static int list_key_cb(void *arg, const char *key, uint64_t size)
{
	struct key_listing *l = arg;
	const char *name = key + strlen(BFS_KEY_KEYS);
	uint64_t *v;

	/* not a key object's name: an interrupted put's temporary file,
	 * which opening ignores too */
	if (strncmp(key, BFS_KEY_KEYS, strlen(BFS_KEY_KEYS)) ||
	    !bfs_hex64_valid(name))
		return 0;
	if (l->names.n == l->cap) {
		v = realloc(l->sizes, (l->cap ? 2 * l->cap : 8) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->sizes = v;
		l->cap = l->cap ? 2 * l->cap : 8;
	}
	l->sizes[l->names.n] = size;
	return bfs_strv_add(&l->names, name);
}

/* Key object name (listed with size): a problem of kind "key" (or "io")
 * for the first thing wrong with it.  Returns c->fatal. */
static int check_key(struct check *c, const char *name, uint64_t size,
		     struct bfs_buf *b)
{
	struct bfs_err err = {""};
	uint8_t want[BFS_HASH_LEN], sum[BFS_HASH_LEN];
	struct bfs_key_info info;
	char key[BFS_KEY_MAX];
	int64_t got;
	int rc;

	snprintf(key, sizeof(key), "%s%s", BFS_KEY_KEYS, name);
	if (bfs_unhex(want, name, BFS_HASH_LEN))
		return c->fatal;
	if (size == 0 || size > BFS_KEY_OBJECT_MAX) {
		ck_problem(c, "key", key,
			   "%" PRIu64 " bytes: a key object has 1 to %d", size,
			   BFS_KEY_OBJECT_MAX);
		return c->fatal;
	}
	b->len = 0;
	got = bfs_store_get(c->r->store, key, 0, UINT64_MAX, b, &err);
	if (got < 0) {
		ck_problem(c, ck_is_damage((int)got) ? "key" : "io", key, "%s",
			   err.msg);
		return c->fatal;
	}
	if (b->len != size) {
		ck_problem(c, "key", key,
			   "listed with %" PRIu64 " bytes, read %zu", size,
			   b->len);
		return c->fatal;
	}
	bfs_sha256(sum, b->data, b->len);
	if (memcmp(sum, want, BFS_HASH_LEN) != 0) {
		ck_problem(c, "key", key,
			   "its bytes do not hash to its name (damaged)");
		return c->fatal;
	}
	rc = bfs_crypt_unwrap(b->data, b->len, NULL, 0, &info, NULL, &err);
	if (!rc && !strcmp(name, c->r->key_name))
		rc = bfs_crypt_check_wrap(c->r->crypt, b->data, b->len, &err);
	if (rc == -ENOMEM)
		return ck_fail(c, rc, "out of memory");
	if (rc && rc != -ENOKEY)
		ck_problem(c, "key", key, "%s", err.msg);
	return c->fatal;
}

int ck_check_keys(struct check *c)
{
	struct key_listing l = {0};
	struct bfs_err err = {""};
	struct bfs_buf b = {0};
	bool opener = false;
	char key[BFS_KEY_MAX];
	size_t i;
	int rc;

	if (!c->r->encrypted)
		return 0;
	rc = bfs_store_list(c->r->store, BFS_KEY_KEYS, list_key_cb, &l, &err);
	if (rc) {
		bfs_err_prefix(&err, rc, "cannot list the key objects of '%s'",
			       c->r->store->url);
		ck_fail(c, rc, rc == -ENOMEM ? "out of memory" : err.msg);
		goto out;
	}
	c->rep->key_objects = l.names.n;
	for (i = 0; i < l.names.n && !c->fatal; i++) {
		check_key(c, l.names.v[i], l.sizes[i], &b);
		if (!strcmp(l.names.v[i], c->r->key_name))
			opener = true;
	}
	if (!c->fatal && c->r->key_name[0] && !opener) {
		snprintf(key, sizeof(key), "%s%s", BFS_KEY_KEYS,
			 c->r->key_name);
		ck_problem(c, "key", key,
			   "the key object this repository was opened with "
			   "is gone");
	}
out:
	bfs_buf_free(&b);
	bfs_strv_free(&l.names);
	free(l.sizes);
	return c->fatal;
}
