/* source_common.c - argument rules shared by the sources (source_int.h):
 * "[DEST=]REST" splitting and the names under which dumps land; the
 * entry of a stat(2) result.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conninfo.h"
#include "source_int.h"

/* ---- argument parsing -------------------------------------------------- */

int bfs_source_split(const char *arg, const char *deflt, char **dest,
		     const char **rest, struct bfs_err *err)
{
	const char *eq = arg ? strchr(arg, '=') : NULL;

	*dest = NULL;
	if (!arg || !*arg)
		return bfs_err_set(err, -EINVAL, "missing source argument");
	if (eq && eq > arg &&
	    bfs_manifest_path_valid(arg, (size_t)(eq - arg))) {
		*dest = strndup(arg, (size_t)(eq - arg));
		*rest = eq + 1;
	} else {
		*dest = strdup(deflt);
		*rest = arg;
	}
	if (!*dest)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	if (!**rest) {
		free(*dest);
		*dest = NULL;
		return bfs_err_set(err, -EINVAL, "missing path in '%s'", arg);
	}
	return 0;
}

/* [NAME=]X for dumps: NAME is [A-Za-z0-9._/-]+, a valid path, and not a
 * libpq keyword (so "dbname=x" stays a conninfo). */
void src_dump_name(const char *arg, char **name, const char **rest)
{
	const char *eq = strchr(arg, '=');
	size_t n, i;

	*name = NULL;
	*rest = arg;
	if (!eq || eq == arg)
		return;
	n = (size_t)(eq - arg);
	if (strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789._/-") < n ||
	    !bfs_manifest_path_valid(arg, n))
		return;
	for (i = 0; bfs_pg_keywords[i]; i++)
		if (strlen(bfs_pg_keywords[i]) == n &&
		    !strncmp(arg, bfs_pg_keywords[i], n))
			return;
	*name = strndup(arg, n);
	if (*name)
		*rest = eq + 1;
}

int src_sql_dest(const char *name, char **dest, struct bfs_err *err)
{
	size_t n = strlen(name);

	*dest = malloc(n + 5);
	if (!*dest)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	memcpy(*dest, name, n);
	memcpy(*dest + n, ".sql", 5);
	if (!bfs_manifest_path_valid(*dest, n + 4)) {
		free(*dest);
		*dest = NULL;
		return bfs_err_set(err, -EINVAL, "invalid dump name '%s'",
				   name);
	}
	return 0;
}

/* ---- entries ----------------------------------------------------------- */

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

void bfs_source_stat_entry(struct bfs_entry *e, const struct stat *st)
{
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime_ns = ts_ns(&st->st_mtim);
	e->ctime_ns = ts_ns(&st->st_ctim);
	e->ino = st->st_ino;
	e->nlink =
	    st->st_nlink > UINT32_MAX ? UINT32_MAX : (uint32_t)st->st_nlink;
	if (S_ISREG(st->st_mode)) {
		e->type = BFS_T_FILE;
		e->size = (uint64_t)st->st_size;
		e->sparse =
		    (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size;
	} else if (S_ISDIR(st->st_mode)) {
		e->type = BFS_T_DIR;
	} else if (S_ISLNK(st->st_mode)) {
		e->type = BFS_T_SYMLINK;
	} else if (S_ISFIFO(st->st_mode)) {
		e->type = BFS_T_FIFO;
	} else if (S_ISCHR(st->st_mode)) {
		e->type = BFS_T_CHR;
		e->rdev = st->st_rdev;
	} else if (S_ISBLK(st->st_mode)) {
		e->type = BFS_T_BLK;
		e->rdev = st->st_rdev;
	} else {
		e->type = BFS_T_SOCK;
	}
}
