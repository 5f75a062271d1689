/* catalog_file.c - the catalog file itself: its identity (meta.file_id,
 * which the mount compares to notice a file replaced under it), a check
 * of its structure and its removal, for `catalog rebuild` of a file that
 * cannot be read.  See catalog.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog_int.h"

/* See catalog.h. */
int bfs_catalog_file_id(struct bfs_catalog *c,
			char out[BFS_CAT_FILE_ID_LEN + 1], struct bfs_err *err)
{
	sqlite3_stmt *st;
	const unsigned char *v;
	size_t i;
	int rc;

	out[0] = '\0';
	rc = cat_stmt_get(c, ST_META_GET, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, "file_id", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		v = sqlite3_column_text(st, 0);
		for (i = 0; v && i < BFS_CAT_FILE_ID_LEN; i++)
			if (!((v[i] >= '0' && v[i] <= '9') ||
			      (v[i] >= 'a' && v[i] <= 'f')))
				break;
		if (v && i == BFS_CAT_FILE_ID_LEN && !v[i]) {
			memcpy(out, v, BFS_CAT_FILE_ID_LEN + 1);
			rc = 0;
		} else {
			rc =
			    bfs_err_set(err, -EUCLEAN,
					"catalog '%s': a bad file_id", c->path);
		}
	} else if (rc == SQLITE_DONE) {
		rc = bfs_err_set(err, -EUCLEAN, "catalog '%s' has no file_id",
				 c->path);
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot read meta");
	}
	cat_stmt_put(c, ST_META_GET, st);
	return rc;
}

/* See catalog.h. */
int bfs_catalog_check_file(struct bfs_catalog *c, struct bfs_err *err)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc;

	rc = sqlite3_prepare_v2(c->db, "PRAGMA quick_check(1)", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t = sqlite3_column_text(st, 0);
		if (t && strcmp((const char *)t, "ok") == 0)
			rc = 0;
		else
			rc = bfs_err_set(err, -EUCLEAN,
					 "catalog '%s' is damaged: %.200s",
					 c->path, t ? (const char *)t : "?");
	} else {
		rc = cat_sqlerr(c, rc, err, "cannot check the file");
	}
	sqlite3_finalize(st);
	return rc;
}

/* See catalog.h. */
int bfs_catalog_remove_file(const char *path, struct bfs_err *err)
{
	static const char *const sfx[] = {"-wal", "-shm", "-journal", ""};
	char p[4096];
	struct stat st;
	size_t i;

	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return bfs_err_set(err, -EINVAL,
				   "'%s' is not a regular file: not removed",
				   path);
	for (i = 0; i < BFS_ARRAY_SIZE(sfx); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", path, sfx[i]) >=
		    sizeof(p))
			return bfs_err_set(err, -ENAMETOOLONG,
					   "path too long: '%s'", path);
		/* the file itself is kept aside, whatever it was (a
		 * --catalog that named the wrong file loses nothing) */
		if (!*sfx[i]) {
			char aside[4096 + 16];

			snprintf(aside, sizeof(aside), "%s.damaged", path);
			if (rename(path, aside) != 0 && errno != ENOENT)
				return bfs_err_set(err, -errno,
						   "cannot move '%s' aside: %s",
						   path, strerror(errno));
			continue;
		}
		if (unlink(p) != 0 && errno != ENOENT)
			return bfs_err_set(err, -errno,
					   "cannot remove '%s': %s", p,
					   strerror(errno));
	}
	return 0;
}
