/* source_int.h - shared by src/source*.c; not a public contract.
 *
 * Every kind of source is one struct bfs_source_type in its own file
 * (source_files.c, source_archive.c, source_command.c, source_stdin.c,
 * source_pgdump.c, source_mysqldump.c, source_nocodb*.c), listed in the
 * table of source.c, which dispatches bfs_source_dest and bfs_source_run.
 * A new kind is one new file, one enum value in source.h and one row in
 * that table.  Calls go one way: source.c -> a kind -> source_common.c /
 * source_child.c -> the writer.
 */
#ifndef BFS_SOURCE_INT_H
#define BFS_SOURCE_INT_H

#include <stdbool.h>
#include <sys/types.h>

#include "source.h"
#include "writer_int.h"

struct bfs_source_type {
	enum bfs_source_kind kind;
	const char *name; /* the option without "--", for messages */
	/* The path the source lands at (*dest malloc'ed), without running
	 * it.  s->arg is non-empty.  -EINVAL with a message on bad syntax. */
	int (*dest)(const struct bfs_source *s, char **dest,
		    struct bfs_err *err);
	/* Run it into b (see bfs_source_run).  s->arg is non-empty. */
	int (*run)(struct bfs_backup *b, const struct bfs_source *s,
		   struct bfs_err *err);
};

extern const struct bfs_source_type bfs_source_type_files;
extern const struct bfs_source_type bfs_source_type_archive;
extern const struct bfs_source_type bfs_source_type_command;
extern const struct bfs_source_type bfs_source_type_stdin;
extern const struct bfs_source_type bfs_source_type_pgdump;
extern const struct bfs_source_type bfs_source_type_mysqldump;
extern const struct bfs_source_type bfs_source_type_nocodb;

/* ---- source_common.c --------------------------------------------------- */

/* Split "[DEST=]REST": DEST is taken when the text before the first '='
 * is a valid backup path (manifest rules; no leading '/', no "." or ".."
 * components).  *dest is malloc'ed (deflt when absent), *rest points into
 * arg.  -EINVAL / -ENOMEM. */
int bfs_source_split(const char *arg, const char *deflt, char **dest,
		     const char **rest, struct bfs_err *err);
/* [NAME=]X of a dump: *name (malloc'ed, NULL if absent), *rest into arg. */
void src_dump_name(const char *arg, char **name, const char **rest);
/* NAME.sql as *dest (malloc'ed); -EINVAL for an invalid path. */
int src_sql_dest(const char *name, char **dest, struct bfs_err *err);

/* ---- source_child.c ---------------------------------------------------- */

/* The mode a dump, a command's output or stdin is recorded with, unless
 * the source says otherwise (struct bfs_source.dump_mode). */
#define BFS_DUMP_MODE 0600

/* A regular file entry at path (borrowed into e) owned by this process,
 * with mode (permission bits; 0: BFS_DUMP_MODE). */
void src_dump_entry(struct bfs_backup *b, struct bfs_entry *e, char *path,
		    unsigned mode);
/* Stream fd into the backup as e.  Closes fd.  pid > 0: the child to reap
 * (killed if the writer fails); desc names it in messages. */
int src_stream_fd(struct bfs_backup *b, struct bfs_entry *e, int fd, pid_t pid,
		  const char *desc, struct bfs_err *err);
/* The number a descriptor kept for a child (src_run_child's keep_fd) has
 * in the child: the child's "/dev/fd/N".  Not fd itself: a dup2 onto the
 * same number would not clear FD_CLOEXEC everywhere. */
#define SRC_CHILD_FD(fd) ((fd) + 1)
/* Start argv (envp NULL: inherit) and stream its stdout as path (mode as
 * src_dump_entry).  keep_fd >= 0: a descriptor the child inherits, as
 * SRC_CHILD_FD(keep_fd), and no other child does. */
int src_run_child(struct bfs_backup *b, char *path, char *const argv[],
		  char *const envp[], int keep_fd, unsigned mode,
		  const char *desc, struct bfs_err *err);
/* One child of src_run_children: argv, envp (NULL: inherit) and keep_fd
 * as src_run_child takes them; all borrowed. */
struct src_child {
	char *const *argv;
	char *const *envp;
	int keep_fd;
};
/* Run c[0..n) one after the other and stream their stdout, concatenated,
 * as ONE file at path (mode as src_dump_entry).  The first child that
 * fails (non-zero exit, signal) fails the whole file, which is then
 * cancelled: nothing of it becomes visible.  timeout_s > 0: all of them
 * must finish within that many seconds, else the running child gets
 * SIGTERM (SIGKILL 5 s later), is reaped, and -ETIMEDOUT is returned
 * with a message naming desc and the timeout. */
int src_run_children(struct bfs_backup *b, char *path,
		     const struct src_child *c, size_t n, unsigned mode,
		     uint64_t timeout_s, const char *desc, struct bfs_err *err);
/* A growing NULL-terminated argv for a child.  Zero-initialise. */
struct src_argv {
	char **v;
	size_t n, cap;
	char **owned; /* the strings to free */
	size_t nowned;
};
/* Append s (owned: freed by src_argv_free, also when this fails). */
int src_argv_add(struct src_argv *a, char *s, bool owned);
/* Append a malloc'ed printf(fmt, v). */
int src_argv_addf(struct src_argv *a, const char *fmt, const char *v);
/* Release; a is left unusable. */
void src_argv_free(struct src_argv *a);
/* bfs_backup_add_source with the key "KIND:DEST:SPEC". */
int src_add(struct bfs_backup *b, const char *kind, const char *dest,
	    const char *spec, struct bfs_err *err);
/* A copy of environ with names[i]=values[i] set (replacing any), i < n;
 * src_env_free(env, n) wipes and frees those n.  NULL on ENOMEM. */
char **src_env_with(const char *const names[], const char *const values[],
		    size_t n);
void src_env_free(char **env, size_t n);
/* A new close-on-exec descriptor >= 3 of an in-memory file (memfd, 0600)
 * holding data[0..len): a secret for a child (src_run_child's keep_fd)
 * that never touches a disk and leaves nothing behind, whatever signal
 * ends the process.  name shows in /proc/PID/fd.  0 or -errno. */
int src_secret_fd(const char *name, const void *data, size_t len, int *fd,
		  struct bfs_err *err);

#endif
