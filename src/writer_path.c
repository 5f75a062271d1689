/* writer_path.c - the paths of a backup being written: duplicate and
 * hardlink checks, implicit parent directories, entry normalisation and
 * the owner name caches.  Calling thread only.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "writer_impl.h"

/* ---- paths ------------------------------------------------------------ */

static int add_implicit_dir(struct bfs_backup *b, const char *p, size_t n)
{
	struct bfs_entry *e = calloc(1, sizeof(*e));
	int rc;

	if (!e || !(e->path = wr_dupn(p, n))) {
		free(e);
		return wr_fail(b, -ENOMEM, NULL);
	}
	e->path_len = n;
	e->type = BFS_T_DIR;
	e->mode = 0755;
	e->uid = getuid();
	e->gid = getgid();
	e->mtime_ns = b->time_ns;
	bfs_backup_owner_names(b, e);
	rc = bfs_pathset_set(&b->paths, p, n, PK_DIR_IMPLICIT);
	if (rc) {
		wr_entry_free(e);
		return wr_fail(b, rc, NULL);
	}
	return wr_submit_entry(b, e, J_ENTRY, NULL, 0);
}

/* Make sure every ancestor of path exists as a directory. */
static int ensure_parents(struct bfs_backup *b, const char *path, size_t n,
			  struct bfs_err *err)
{
	size_t plen = n, i;
	int kind, rc;
	char *np;

	while (plen && path[plen - 1] != '/')
		plen--;
	if (!plen)
		return 0;
	plen--; /* parent without the slash */
	if (b->last_parent && b->last_parent_len == plen &&
	    !memcmp(b->last_parent, path, plen))
		return 0;
	for (i = 1; i <= plen; i++) {
		if (i < plen && path[i] != '/')
			continue;
		kind = bfs_pathset_get(&b->paths, path, i);
		if (kind == PK_NONE) {
			rc = add_implicit_dir(b, path, i);
			if (rc)
				return wr_failed(b, err);
		} else if (kind == PK_DIR_SEALED) {
			return bfs_err_set(err, -EEXIST,
					   "cannot add '%s': '%.*s' was taken "
					   "whole from the last backup",
					   path, (int)i, path);
		} else if (kind != PK_DIR && kind != PK_DIR_IMPLICIT) {
			return bfs_err_set(
			    err, -ENOTDIR,
			    "cannot add '%s': '%.*s' is not a directory", path,
			    (int)i, path);
		}
	}
	np = wr_dupn(path, plen);
	if (np) {
		free(b->last_parent);
		b->last_parent = np;
		b->last_parent_len = plen;
	}
	return 0;
}

/* The limits every reader enforces (FORMAT.md section 12): a name of at
 * most BFS_NAME_MAX bytes, a symlink target of at most
 * BFS_SYMLINK_TARGET_MAX.  -ENAMETOOLONG naming the entry: the sources
 * skip it with a warning (an archive member; a file system cannot hold
 * more), so that no backup holds what restore and the mount refuse. */
static int check_limits(const struct bfs_entry *e, struct bfs_err *err)
{
	const char *p = e->path, *end = e->path + e->path_len, *slash;

	for (; p < end; p = slash + 1) {
		slash = memchr(p, '/', (size_t)(end - p));
		if (!slash)
			slash = end;
		if (slash - p > BFS_NAME_MAX)
			return bfs_err_set(err, -ENAMETOOLONG,
					   "'%.300s': a name of %zu bytes (at "
					   "most %d)",
					   e->path, (size_t)(slash - p),
					   BFS_NAME_MAX);
	}
	if (e->type == BFS_T_SYMLINK && e->target &&
	    e->target_len > BFS_SYMLINK_TARGET_MAX)
		return bfs_err_set(err, -ENAMETOOLONG,
				   "'%.300s': a symlink target of %zu bytes "
				   "(at most %d)",
				   e->path, e->target_len,
				   BFS_SYMLINK_TARGET_MAX);
	return 0;
}

/* A path out of tree order may repeat any path written so far: read it
 * and its ancestors back from the tree spool; from the
 * BFS_PATHSET_SCANS-th such path on, every path (writer_set.h, struct
 * pathset). */
static int path_out_of_order(struct bfs_backup *b, const struct bfs_entry *e,
			     struct bfs_err *err)
{
	bool all = b->paths.nscans + 1 >= BFS_PATHSET_SCANS;
	int rc;

	if (all)
		bfs_debug("'%s' comes out of tree order: the path set keeps "
			  "every path from now on",
			  e->path);
	if (wr_pipe_drain(b))
		return wr_failed(b, err);
	rc = wt_spool_paths(b, all ? NULL : e->path, e->path_len, err);
	if (!rc && (all ? bfs_pathset_go_full(&b->paths)
			: bfs_pathset_scanned(&b->paths, e->path, e->path_len)))
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	if (rc)
		wr_fail(b, rc, err);
	return rc;
}

int wr_path_claim(struct bfs_backup *b, const struct bfs_entry *e,
		  bool is_error, bool *skip, struct bfs_err *err)
{
	int kind, rc;

	*skip = false;
	if (!e->path || e->path_len != strlen(e->path) ||
	    !bfs_manifest_path_valid(e->path, e->path_len))
		return bfs_err_set(err, -EINVAL, "invalid path '%s' in backup",
				   e->path ? e->path : "");
	rc = check_limits(e, err);
	if (rc)
		return rc;
	if (!bfs_pathset_in_order(&b->paths, e->path, e->path_len)) {
		rc = path_out_of_order(b, e, err);
		if (rc)
			return rc;
	}
	if (e->link) {
		if (e->type != BFS_T_FILE)
			return bfs_err_set(err, -EINVAL,
					   "hardlink '%s' must be a file",
					   e->path);
		if (bfs_pathset_get(&b->paths, e->link, e->link_len) != PK_REG)
			return bfs_err_set(err, -EINVAL,
					   "hardlink '%s' points to '%s', not "
					   "a file written before",
					   e->path, e->link);
	}
	kind = bfs_pathset_get(&b->paths, e->path, e->path_len);
	if (e->type == BFS_T_DIR) {
		if (kind == PK_DIR || kind == PK_DIR_SEALED) {
			*skip = !is_error; /* keeps its first metadata */
			if (*skip)
				return 0;
		} else if (kind != PK_NONE && kind != PK_DIR_IMPLICIT &&
			   kind != PK_CANCELLED) {
			return bfs_err_set(err, -EEXIST,
					   "duplicate path '%s' in backup",
					   e->path);
		}
	} else if (kind == PK_CANCEL_EMITTED && is_error) {
		*skip = true;
		return bfs_pathset_set(&b->paths, e->path, e->path_len,
				       PK_OTHER);
	} else if (kind != PK_NONE && kind != PK_CANCELLED) {
		return bfs_err_set(err, -EEXIST,
				   "duplicate path '%s' in backup", e->path);
	}
	rc = ensure_parents(b, e->path, e->path_len, err);
	if (rc)
		return rc;
	if (e->type == BFS_T_DIR)
		kind = PK_DIR;
	else if (e->type == BFS_T_FILE && !e->link && !is_error)
		kind = PK_REG;
	else
		kind = PK_OTHER;
	rc = bfs_pathset_set(&b->paths, e->path, e->path_len, kind);
	/* a later hardlink may name it: unless the source says it has no
	 * other link, keep it where an out-of-order lookup finds it */
	if (!rc && kind == PK_REG && e->nlink != 1)
		rc = bfs_pathset_keep(&b->paths, e->path, e->path_len);
	if (rc)
		return wr_fail(b, rc, NULL);
	return 0;
}

int wr_check_type(const struct bfs_entry *e, struct bfs_err *err)
{
	switch (e->type) {
	case BFS_T_FILE:
	case BFS_T_DIR:
	case BFS_T_SYMLINK:
	case BFS_T_FIFO:
	case BFS_T_CHR:
	case BFS_T_BLK:
	case BFS_T_SOCK:
		return 0;
	}
	return bfs_err_set(err, -EINVAL, "invalid type %d for '%s'", e->type,
			   e->path ? e->path : "");
}

int wr_entry_prepare(struct bfs_backup *b, struct bfs_entry *c)
{
	c->mode &= 07777;
	if (c->type == BFS_T_SYMLINK)
		c->size = c->target_len;
	else if (c->type != BFS_T_FILE)
		c->size = 0;
	if ((!c->user || !c->group) && bfs_backup_owner_names(b, c))
		return -ENOMEM;
	return 0;
}

/* ---- owner names ------------------------------------------------------ */

static int owner_lookup(struct owner_cache **cache, size_t *n, uint32_t id,
			bool group, char **out)
{
	struct owner_cache *nc;
	char buf[4096], *name = NULL;
	size_t i;

	for (i = 0; i < *n; i++) {
		if ((*cache)[i].id == id) {
			name = (*cache)[i].name;
			goto found;
		}
	}
	if (group) {
		struct group gr, *res = NULL;

		if (!getgrgid_r(id, &gr, buf, sizeof(buf), &res) && res)
			name = strdup(res->gr_name);
	} else {
		struct passwd pw, *res = NULL;

		if (!getpwuid_r(id, &pw, buf, sizeof(buf), &res) && res)
			name = strdup(res->pw_name);
	}
	/* the caches stay small (one slot per distinct owner); a linear
	 * scan is fine below a few hundred owners */
	if (*n < 1024) {
		nc = realloc(*cache, (*n + 1) * sizeof(*nc));
		if (nc) {
			*cache = nc;
			nc[*n].id = id;
			nc[*n].name = name;
			(*n)++;
		} else {
			free(name);
			name = NULL;
		}
	} else {
		if (name) {
			*out = name;
			return 0;
		}
	}
found:
	if (name && !(*out = strdup(name)))
		return -ENOMEM;
	return 0;
}

int bfs_backup_owner_names(struct bfs_backup *b, struct bfs_entry *e)
{
	int rc = 0;

	if (!e->user)
		rc = owner_lookup(&b->users, &b->nusers, e->uid, false,
				  &e->user);
	if (!rc && !e->group)
		rc = owner_lookup(&b->groups, &b->ngroups, e->gid, true,
				  &e->group);
	return rc;
}

void wr_owners_free(struct bfs_backup *b)
{
	size_t i;

	for (i = 0; i < b->nusers; i++)
		free(b->users[i].name);
	for (i = 0; i < b->ngroups; i++)
		free(b->groups[i].name);
	free(b->users);
	free(b->groups);
	b->users = b->groups = NULL;
	b->nusers = b->ngroups = 0;
}
