/* import.h - `backupfs import`: a backup folder made by the seed tools
 * (the NocoDB backup container's database.sql.gz, nocodb-data.tar.gz,
 * bases/ and manifest.json, or any folder of dumps, archives and files)
 * becomes one backup with its original id and time.  The rules are in
 * README.md ("Switching from the seed tools"); in short:
 *
 *   NAME.sql.gz|.zst|.xz|.bz2      -> NAME.sql, decompressed
 *   NAME.tar[.gz|.zst|.xz|.bz2], NAME.tgz|.tzst|.txz|.tbz2
 *                                  -> NAME/, unpacked (strict: an entry
 *                                     with '..' or an absolute name fails)
 *   bases/.../records.json[.gz|.zst|.xz|.bz2]
 *                                  -> bases/.../records.jsonl, one record
 *                                     a line (jsonsplit.h)
 *   bases/.../NAME.json.gz|...     -> bases/.../NAME.json, decompressed
 *   anything else                  -> as it is (symlinks as symlinks)
 *
 * import_meta.c reads the id and time (manifest.json, the folder's name,
 * its mtime); import_plan.c walks the folder into a plan; import.c runs a
 * plan into a backup.  Nothing here is thread-safe per object: one thread
 * drives a plan.
 */
#ifndef BFS_IMPORT_H
#define BFS_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct bfs_backup;

/* The largest manifest.json read (a bigger one fails the folder). */
#define BFS_IMPORT_META_MAX (1u << 20)

/* What a seed manifest.json says (fields NULL / 0 when absent). */
struct bfs_import_meta {
	char *id;	 /* "id", "backup_id" or "backupId" (any string) */
	int64_t time_ns; /* "time", "timestamp", "created_at", "createdAt",
			    "date", "started_at" or "startedAt" */
	char *host;	 /* "host" or "hostname" */
};

/* Parse manifest.json (json[0..len), untrusted; no NUL needed).  The
 * first key present of each list above is taken.  A time is an RFC 3339
 * string (bfs_time_parse), a string in one of the folder-name forms of
 * bfs_import_time_from_name, or a number: Unix seconds (below 10^11),
 * else milliseconds (below 10^14), up to the year 2262.  -EUCLEAN with
 * a message naming the key for anything else: not a JSON object, a key
 * of the wrong type, a time that does not parse, more than
 * BFS_IMPORT_META_MAX bytes.
 * m is filled (free with bfs_import_meta_clear) only on success. */
int bfs_import_meta_parse(const char *json, size_t len,
			  struct bfs_import_meta *m, struct bfs_err *err);
void bfs_import_meta_clear(struct bfs_import_meta *m); /* NULL ok */

/* A time in a folder name, in UTC: the first digit starts one of
 *   YYYY-MM-DD[_T -]HH[-:]MM[-:]SS   YYYYMMDD[_T-]HHMMSS
 *   YYYY-MM-DD                       YYYYMMDD
 * optionally followed by 'Z'; what precedes it must hold no digit and
 * what follows must not start with a digit ("nocodb-2026-11-20_05-15-00",
 * "20261120T051500Z.1").  Fields are range-checked.  True and *ns set
 * if the name holds one. */
bool bfs_import_time_from_name(const char *name, int64_t *ns);

enum bfs_import_op {
	BFS_IMP_DIR,
	BFS_IMP_COPY,
	BFS_IMP_SYMLINK,
	BFS_IMP_DECOMPRESS,
	BFS_IMP_RECORDS,
	BFS_IMP_UNPACK,
};

/* "dir", "copy", "symlink", "decompress", "records", "unpack". */
const char *bfs_import_op_name(enum bfs_import_op op);

struct bfs_import_item {
	enum bfs_import_op op;
	char *src;  /* relative to the folder */
	char *dest; /* the path in the backup */
	int filter; /* DECOMPRESS, RECORDS: the ARCHIVE_FILTER_* the name
		       promises (ARCHIVE_FILTER_NONE for plain JSON) */
};

struct bfs_import_plan {
	char *dir;	       /* the folder as given */
	char *id;	       /* the backup's id (bfs_backup_id_valid) */
	int64_t time_ns;       /* the backup's time */
	char *host;	       /* from manifest.json, or NULL */
	const char *id_from;   /* "manifest.json", "folder name", "time" */
	const char *time_from; /* "manifest.json", "folder name",
				  "folder mtime" */
	struct bfs_import_item *items; /* parents before children */
	size_t n;
};

/* Walk dir (symlinks in it are not followed) into a plan: the id, time
 * and what goes where.  -errno with a message naming the file: an
 * unreadable entry, a bad manifest.json, two entries that map to one
 * path, a name the backup format cannot hold.  *out is freed with
 * bfs_import_plan_free. */
int bfs_import_plan(const char *dir, struct bfs_import_plan **out,
		    struct bfs_err *err);
void bfs_import_plan_free(struct bfs_import_plan *p); /* NULL ok */

/* Write plan p into backup b (begun by the caller with p's id and time):
 * a source of kind "import" (spec: the folder) and, for each archive,
 * one of kind "archive".  Compressed files are streamed through the
 * writer (no temporary files).  -errno with a message naming the file;
 * the caller then aborts b, so nothing of it becomes visible. */
int bfs_import_run(struct bfs_backup *b, const struct bfs_import_plan *p,
		   struct bfs_err *err);

#endif
