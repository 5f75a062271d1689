/* job_int.h - the job parser's shared helpers (job_json.c), used by job.c
 * and job_notify.c.
 * Not part of the API. */
#ifndef BFS_JOB_INT_H
#define BFS_JOB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "job.h"

#define STR_MAX 4096	 /* any string value */
#define LIST_MAX 1000	 /* any array */
#define KEEP_MAX 1000000 /* retention counts */
#define PATH_LEN 192	 /* field paths in messages */

/* String checks for jp_get_string. */
enum {
	S_NONEMPTY = 1, /* "" is an error */
	S_LINE = 2,	/* no control characters at all */
	S_TEXT = 4,	/* control characters other than \t \n refused */
	S_NOPASS = 8,	/* refuse embedded passwords */
};

/* err = "PATH: message" (just the message if path is ""); -EINVAL. */
int jp_fail(struct bfs_err *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* out (PATH_LEN bytes) = "base.key" / "base[i]". */
void jp_sub(char *out, const char *base, const char *key);
void jp_idx(char *out, const char *base, size_t i);
/* A printable copy of non-secret user text, at most 40 bytes + "...". */
void jp_clean(char *out, size_t n, const char *s);
/* obj is an object whose keys are all in allowed (NULL-terminated), each
 * once; else "PATH.KEY: unknown key (did you mean X?)" / duplicate key. */
int jp_check_keys(const cJSON *obj, const char *path,
		  const char *const *allowed, struct bfs_err *err);
/* v is a string passing the S_* flags; *out borrows it. */
int jp_get_string(const cJSON *v, const char *path, int flags, const char **out,
		  struct bfs_err *err);
/* v (NULL: empty) is an array of such strings: *out allocated,
 * NULL-terminated, strings borrowed. */
int jp_get_list(const cJSON *v, const char *path, int flags, const char ***out,
		size_t *n, struct bfs_err *err);

/* v is true or false. */
int jp_get_bool(const cJSON *v, const char *path, bool *out,
		struct bfs_err *err);
/* v is a duration string (schedule.h: "10m", "1h30m"), in seconds. */
int jp_get_duration(const cJSON *v, const char *path, uint64_t *out,
		    struct bfs_err *err);
/* A source's dump options (job_dump.c): ignore_table_data, dump_opts,
 * pg_dumpall_globals, pg_dumpall_role_passwords, dump_timeout; refused
 * beside sources other than pg_dump / mysql_dump. */
int jp_parse_dump(const cJSON *o, const char *path, struct bfs_job_source *js,
		  struct bfs_err *err);
/* No placeholder of `job new --profile` ("<DB_HOST>") is left in any
 * string of the document; else -EINVAL naming them and where the first
 * is. */
int jp_check_placeholders(const cJSON *root, struct bfs_err *err);

/* "notify": fills job->notify / nnotify (job_notify.c). */
int jp_parse_notify(const cJSON *v, struct bfs_job *job, struct bfs_err *err);

#endif
