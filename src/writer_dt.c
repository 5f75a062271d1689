/* writer_dt.c - the dump map of a file being written (doc/FORMAT.md,
 * section 20): which files get one, and its JSON at the file's end.  The
 * scanner runs on the calling thread, fed by bfs_backup_file_write. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "writer_impl.h"

/* Whether file e gets a dump map: every dump-profile stream (pg_dump,
 * mysqldump, a command) and any file named *.sql. */
bool wr_wants_map(const struct bfs_entry *e, enum bfs_profile profile)
{
#ifdef BFS_FAULT_INJECTION
	/* test builds: no scanner, so t0490 can tell a map a copy carried
	 * from one found again */
	if (getenv("BACKUPFS_TEST_NO_DUMPSCAN"))
		return false;
#endif
	return profile == BFS_PROFILE_DUMP ||
	       (e->path_len >= 4 &&
		memcmp(e->path + e->path_len - 4, ".sql", 4) == 0);
}

/* The dump map of the file ending now as the JSON of its "dt" blob into
 * *out (left empty when the file is not a dump the scanner maps: the
 * reason is logged, at info level for a file that should have been one).
 * 0 or -ENOMEM. */
int wr_map_json(struct bfs_backup *b, const struct bfs_entry *e,
		struct bfs_buf *out)
{
	struct bfs_dumpmap *m = NULL;
	struct bfs_err merr;
	int rc;

	memset(out, 0, sizeof(*out));
	if (b->has_kept_dt) {
		*out = b->kept_dt;
		memset(&b->kept_dt, 0, sizeof(b->kept_dt));
		b->has_kept_dt = false;
		return 0;
	}
	if (!b->scan)
		return 0;
	merr.msg[0] = 0;
	rc = bfs_dumpscan_finish(b->scan, &m, &merr);
	bfs_dumpscan_free(b->scan);
	b->scan = NULL;
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		/* a --command stream is often no SQL at all: quiet then */
		if (b->fsize &&
		    (e->path_len >= 4 &&
		     memcmp(e->path + e->path_len - 4, ".sql", 4) == 0))
			bfs_info("'%s': no per-table view (%s)", e->path,
				 merr.msg);
		else
			bfs_debug("'%s': no per-table view (%s)", e->path,
				  merr.msg);
		return 0;
	}
	rc = bfs_dumpmap_encode(m, out);
	bfs_dumpmap_free(m);
	if (rc == 0 && out->len > BFS_TREE_PART_MAX) {
		bfs_info("'%s': no per-table view (its map needs %zu bytes)",
			 e->path, out->len);
		bfs_buf_free(out);
	}
	return rc;
}

void wr_dt_reset(struct bfs_backup *b)
{
	bfs_dumpscan_free(b->scan);
	b->scan = NULL;
	bfs_buf_free(&b->kept_dt);
	b->has_kept_dt = false;
}

int bfs_backup_file_keep_blob(struct bfs_backup *b, const char *key,
			      const void *data, size_t len, struct bfs_err *err)
{
	if (!b->in_file)
		return bfs_err_set(err, -EINVAL, "no file is open");
	if (strcmp(key, "dt") != 0)
		return bfs_err_set(err, -EINVAL,
				   "'%s': the writer takes no \"%s\" blob",
				   b->fe->path, key);
	if (len > BFS_TREE_PART_MAX || (len && !data))
		return bfs_err_set(err, -EINVAL,
				   "'%s': a \"%s\" blob of %zu bytes",
				   b->fe->path, key, len);
	wr_dt_reset(b);
	if (!len)
		return 0; /* none: the scanner is gone, nothing kept */
	if (bfs_buf_append(&b->kept_dt, data, len))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	b->has_kept_dt = true;
	return 0;
}
