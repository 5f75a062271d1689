/* repo_key.c - key objects of an encrypted repository (see repo_key.h). */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypt_pass.h"
#include "format.h"
#include "repo_key.h"

/* "user@host" of this process. */
static void self_label(char *out, size_t n)
{
	struct passwd *pw = getpwuid(getuid());
	char host[256] = "";

	if (gethostname(host, sizeof(host) - 1))
		snprintf(host, sizeof(host), "?");
	if (pw && pw->pw_name)
		snprintf(out, n, "%.60s@%.60s", pw->pw_name, host);
	else
		snprintf(out, n, "%u@%.60s", (unsigned)getuid(), host);
}

static int put_key(struct bfs_repo *r, const struct bfs_crypt *k,
		   const void *pass, size_t plen, const char *label,
		   char name[BFS_HASH_HEX + 1], struct bfs_err *err)
{
	uint8_t id[BFS_HASH_LEN];
	struct bfs_buf obj = {0};
	char key[BFS_KEY_MAX], self[128];
	int rc;

	if (!label) {
		self_label(self, sizeof(self));
		label = self;
	}
	rc = bfs_crypt_wrap(k, pass, plen, NULL, label, &obj, id, err);
	if (rc)
		goto out;
	bfs_hex(name, id, BFS_HASH_LEN);
	snprintf(key, sizeof(key), "%s%s", BFS_KEY_KEYS, name);
	rc = bfs_store_put(r->store, key, obj.data, obj.len, BFS_PUT_EXCL, err);
	if (rc)
		bfs_err_prefix(err, rc, "cannot write key object '%s'", key);
out:
	bfs_buf_free(&obj);
	return rc;
}

int bfs_repo_key_create(struct bfs_repo *r, const struct bfs_store_opts *opts,
			const char *url, struct bfs_err *err)
{
	struct bfs_buf pw = {0};
	int rc;

	rc = bfs_password_read(opts->password_file, opts->password_command,
			       BFS_PASSWORD_ENV, &pw, err);
	if (rc == 0)
		rc = bfs_err_set(err, -EINVAL, "no password given for '%s'",
				 url);
	if (rc < 0)
		goto out;
	rc = bfs_crypt_new(&r->crypt);
	if (rc) {
		bfs_err_set(err, rc, "cannot make keys: %s", strerror(-rc));
		goto out;
	}
	rc = put_key(r, r->crypt, pw.data, pw.len, NULL, r->key_name, err);
out:
	bfs_password_free(&pw);
	return rc;
}

struct names {
	struct bfs_strv v;
};

static int names_cb(void *arg, const char *key, uint64_t size)
{
	const char *name = key + strlen(BFS_KEY_KEYS);

	(void)size;
	if (strncmp(key, BFS_KEY_KEYS, strlen(BFS_KEY_KEYS)) ||
	    !bfs_hex64_valid(name))
		return 0; /* temp files of an interrupted put */
	return bfs_strv_add(arg, name);
}

static int list_names(struct bfs_repo *r, struct bfs_strv *v,
		      struct bfs_err *err)
{
	int rc = bfs_store_list(r->store, BFS_KEY_KEYS, names_cb, v, err);

	if (rc)
		return bfs_err_prefix(err, rc, "cannot list the keys of '%s'",
				      r->store->url);
	bfs_strv_sort(v);
	return 0;
}

static int get_key(struct bfs_repo *r, const char *name, struct bfs_buf *b,
		   struct bfs_err *err)
{
	char key[BFS_KEY_MAX];
	uint64_t size;
	int64_t got;

	snprintf(key, sizeof(key), "%s%s", BFS_KEY_KEYS, name);
	b->len = 0;
	got = bfs_store_stat(r->store, key, &size, err);
	if (!got && size > BFS_KEY_OBJECT_MAX)
		return bfs_err_set(err, -EUCLEAN,
				   "key object '%s' is too large", key);
	if (!got)
		got = bfs_store_get(r->store, key, 0, UINT64_MAX, b, err);
	if (got < 0)
		return bfs_err_prefix(err, (int)got,
				      "cannot read key object '%s'", key);
	return 0;
}

int bfs_repo_key_unlock(struct bfs_repo *r, const struct bfs_store_opts *opts,
			const char *url, struct bfs_err *err)
{
	struct bfs_strv names = {0};
	struct bfs_buf pw = {0}, obj = {0};
	struct bfs_key_info info;
	struct bfs_err e2;
	size_t i, tried = 0;
	int rc;

	rc = bfs_password_read(opts->password_file, opts->password_command,
			       BFS_PASSWORD_ENV, &pw, err);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = bfs_err_set(
		    err, -EACCES,
		    "repository '%s' is encrypted: give its "
		    "password (--password-file, "
		    "--password-command, or $%s_FILE, $%s_COMMAND, "
		    "$%s)",
		    url, BFS_PASSWORD_ENV, BFS_PASSWORD_ENV, BFS_PASSWORD_ENV);
		goto out;
	}
	rc = list_names(r, &names, err);
	if (rc)
		goto out;
	for (i = 0; i < names.n; i++) {
		e2.msg[0] = '\0';
		if (get_key(r, names.v[i], &obj, &e2))
			continue;
		tried++;
		rc = bfs_crypt_unwrap(obj.data, obj.len, pw.data, pw.len, &info,
				      &r->crypt, &e2);
		if (rc == 0) {
			snprintf(r->key_name, sizeof(r->key_name), "%s",
				 names.v[i]);
			goto out;
		}
		if (rc == -ENOMEM) {
			rc = bfs_err_set(err, rc, "out of memory");
			goto out;
		}
	}
	if (tried == 0)
		rc = bfs_err_set(err, -EACCES,
				 "repository '%s' is encrypted but holds no "
				 "readable key object (keys/)",
				 url);
	else
		rc = bfs_err_set(err, -EACCES,
				 "wrong password for repository '%s': no key "
				 "matches",
				 url);
out:
	bfs_password_free(&pw);
	bfs_buf_free(&obj);
	bfs_strv_free(&names);
	return rc;
}

int bfs_repo_key_add(struct bfs_repo *r, const void *pass, size_t plen,
		     const char *label, char name[BFS_HASH_HEX + 1],
		     struct bfs_err *err)
{
	if (!r->crypt)
		return bfs_err_set(err, -EINVAL,
				   "repository '%s' is not encrypted",
				   r->store->url);
	return put_key(r, r->crypt, pass, plen, label, name, err);
}

int bfs_repo_key_list(struct bfs_repo *r, bfs_repo_key_cb cb, void *arg,
		      struct bfs_err *err)
{
	struct bfs_strv names = {0};
	struct bfs_buf obj = {0};
	struct bfs_key_info info;
	struct bfs_err e2;
	size_t i;
	int rc;

	rc = list_names(r, &names, err);
	for (i = 0; !rc && i < names.n; i++) {
		e2.msg[0] = '\0';
		rc = get_key(r, names.v[i], &obj, &e2);
		if (!rc)
			rc = bfs_crypt_unwrap(obj.data, obj.len, NULL, 0, &info,
					      NULL, &e2);
		if (rc == -ENOMEM) {
			bfs_err_set(err, rc, "out of memory");
			break;
		}
		rc = cb(arg, names.v[i], rc ? NULL : &info, e2.msg);
	}
	bfs_buf_free(&obj);
	bfs_strv_free(&names);
	return rc;
}

int bfs_repo_key_remove(struct bfs_repo *r, const char *prefix, bool force,
			char name[BFS_HASH_HEX + 1], struct bfs_err *err)
{
	struct bfs_strv names = {0};
	char key[BFS_KEY_MAX];
	size_t i, plen = strlen(prefix), hit = 0, nhits = 0;
	int rc;

	if (plen < 4 || plen > BFS_HASH_HEX)
		return bfs_err_set(err, -EINVAL,
				   "give at least 4 hex digits of the key's "
				   "name ('backupfs key list')");
	rc = list_names(r, &names, err);
	if (rc)
		goto out;
	for (i = 0; i < names.n; i++)
		if (!strncmp(names.v[i], prefix, plen)) {
			hit = i;
			nhits++;
		}
	if (nhits == 0) {
		rc = bfs_err_set(err, -ENOENT, "no key '%s' in '%s'", prefix,
				 r->store->url);
		goto out;
	}
	if (nhits > 1) {
		rc = bfs_err_set(err, -EINVAL,
				 "'%s' names %zu keys: give more digits",
				 prefix, nhits);
		goto out;
	}
	snprintf(name, BFS_HASH_HEX + 1, "%s", names.v[hit]);
	if (names.n == 1) {
		rc = bfs_err_set(err, -EBUSY,
				 "key %.12s is the last key of '%s': removing "
				 "it would make the repository unreadable",
				 name, r->store->url);
		goto out;
	}
	if (!force && !strcmp(name, r->key_name)) {
		rc = bfs_err_set(err, -EBUSY,
				 "key %.12s is the one this password opens: "
				 "use 'key passwd' to change the password, or "
				 "--force",
				 name);
		goto out;
	}
	snprintf(key, sizeof(key), "%s%s", BFS_KEY_KEYS, name);
	rc = bfs_store_del(r->store, key, err);
	if (rc)
		bfs_err_prefix(err, rc, "cannot remove key object '%s'", key);
out:
	bfs_strv_free(&names);
	return rc;
}
