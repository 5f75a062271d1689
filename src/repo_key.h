/* repo_key.h - the key objects of an encrypted repository (keys/<64 hex>,
 * doc/FORMAT.md "Encryption"): made at init, opened by bfs_repo_open, and
 * managed by `backupfs key list|add|remove|passwd`.
 *
 * Rules: a repository has at least one key object; `remove` refuses the
 * last one, and the one the repository was opened with unless forced
 * (so that a typo cannot lock everyone out: open with another password
 * to remove this one, or use `key passwd`).
 *
 * Thread safety: main thread (reads the environment for passwords).
 */
#ifndef BFS_REPO_KEY_H
#define BFS_REPO_KEY_H

#include <stdbool.h>

#include "crypt.h"
#include "repo.h"

/* init: new master keys into r->crypt, wrapped under the password of
 * opts (or the environment) into a new key object.  url for messages.
 * 0 or -errno. */
int bfs_repo_key_create(struct bfs_repo *r, const struct bfs_store_opts *opts,
			const char *url, struct bfs_err *err);

/* open: read the password of opts (or the environment) and try every key
 * object; the first that opens sets r->crypt and r->key_name.  -EACCES
 * when no password is given or none matches ("wrong password for
 * repository 'URL': no key matches"). */
int bfs_repo_key_unlock(struct bfs_repo *r, const struct bfs_store_opts *opts,
			const char *url, struct bfs_err *err);

/* Wrap r's master keys under pass[0..plen) (label: "user@host" of this
 * process when NULL) into a new key object; its name (64 hex) goes into
 * name.  -EINVAL when r is not encrypted. */
int bfs_repo_key_add(struct bfs_repo *r, const void *pass, size_t plen,
		     const char *label, char name[BFS_HASH_HEX + 1],
		     struct bfs_err *err);

/* Call cb for every key object (name, what it says in clear); a
 * malformed one gets info NULL and the reason in why. */
typedef int (*bfs_repo_key_cb)(void *arg, const char *name,
			       const struct bfs_key_info *info,
			       const char *why);
int bfs_repo_key_list(struct bfs_repo *r, bfs_repo_key_cb cb, void *arg,
		      struct bfs_err *err);

/* Remove the key object whose name starts with prefix (at least 4 hex
 * digits, unique).  Refuses (-EBUSY) the last key object, and the one r
 * was opened with unless force.  -ENOENT none, -EINVAL ambiguous. */
int bfs_repo_key_remove(struct bfs_repo *r, const char *prefix, bool force,
			char name[BFS_HASH_HEX + 1], struct bfs_err *err);

#endif
