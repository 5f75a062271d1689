/* cli.h - shared pieces of the command-line front end.  Each subcommand
 * lives in its own cmd_*.c with its declared options, help text and setup
 * flags; main.c dispatches through the command table (git's cmd_struct),
 * options.c parses and does the shared setup, help.c prints the help and
 * the man page from the same declarations. */
#ifndef BFS_CLI_H
#define BFS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "catalog/catalog.h"
#include "src/lock.h"
#include "src/repo.h"
#include "src/store.h"
#include "src/util.h"

/* Exit codes (documented in every --help and the README). */
#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2
#define EXIT_PARTIAL 3 /* backup written, some files unreadable */

struct cli_ctx;
struct cli_opt;

/* How an option is stored (git's parse-options kinds).  Values go into
 * the command's own args struct (or struct cli_common for the shared
 * options) at cli_opt.off; the CLI_* macros below check the field's type. */
enum cli_opt_kind {
	CLI_K_END = 0,	/* ends a table */
	CLI_K_GROUP,	/* no option: text for the help (a heading) */
	CLI_K_FLAG,	/* bool = true */
	CLI_K_SET,	/* int = min (e.g. --s3-virtual-host sets 0) */
	CLI_K_COUNT,	/* int += 1 (-v -v) */
	CLI_K_STRING,	/* const char * = ARG, the last one wins */
	CLI_K_STRINGS,	/* struct cli_strv: ARG appended (repeatable) */
	CLI_K_SIZE,	/* uint64_t from "512M", at least min */
	CLI_K_UINT,	/* unsigned from decimal, min..max */
	CLI_K_CALLBACK, /* cb(ctx, opt, ARG) */
	CLI_K_HELP,	/* print the help, exit 0 */
};

/* One declared option.  getopt_long's table, `backupfs CMD --help` and
 * backupfs(1) are all generated from these. */
struct cli_opt {
	enum cli_opt_kind kind;
	const char *name;   /* long name without "--"; NULL: short only */
	char shrt;	    /* short letter, 0: none */
	const char *arg;    /* argument name ("SIZE"); NULL: no argument */
	const char *help;   /* one paragraph (wrapped when printed); for
			       CLI_K_GROUP, text printed as it is */
	bool common;	    /* off is into struct cli_common */
	size_t off;	    /* offsetof the value */
	long long min, max; /* SET: the value; SIZE, UINT: bounds */
	const char *bad;    /* SIZE, UINT: usage error, "%s" = ARG */
	int id;		    /* CALLBACK: tells the options apart */
	/* CALLBACK: returns 0, or an exit code that ends the command (after
	 * printing, e.g. with cli_usage_error). */
	int (*cb)(struct cli_ctx *ctx, const struct cli_opt *o,
		  const char *arg);
};

/* A repeatable option's values: NULL-terminated, borrowed from argv. */
struct cli_strv {
	const char **v; /* NULL until the first value */
	size_t n, cap;
};

/* Append p to s.  Returns 0 or -ENOMEM. */
int cli_strv_add(struct cli_strv *s, const char *p);

/* Type check of a declared field (compile error on a mismatch). */
#define CLI_OFF_(st, f, type)                                                  \
	(offsetof(st, f) +                                                     \
	 0 * sizeof(char[1 - 2 * !__builtin_types_compatible_p(                \
				     __typeof__(((st *)0)->f), type)]))

#define CLI_END                                                                \
	{                                                                      \
		.kind = CLI_K_END                                              \
	}
#define CLI_GROUP(text)                                                        \
	{                                                                      \
		.kind = CLI_K_GROUP, .help = (text)                            \
	}
#define CLI_FLAG(s, l, st, f, h)                                               \
	{                                                                      \
		.kind = CLI_K_FLAG, .shrt = (s), .name = (l), .help = (h),     \
		.off = CLI_OFF_(st, f, bool)                                   \
	}
#define CLI_STRING(s, l, a, st, f, h)                                          \
	{                                                                      \
		.kind = CLI_K_STRING, .shrt = (s), .name = (l), .arg = (a),    \
		.help = (h), .off = CLI_OFF_(st, f, const char *)              \
	}
#define CLI_STRINGS(s, l, a, st, f, h)                                         \
	{                                                                      \
		.kind = CLI_K_STRINGS, .shrt = (s), .name = (l), .arg = (a),   \
		.help = (h), .off = CLI_OFF_(st, f, struct cli_strv)           \
	}
#define CLI_SIZE(s, l, a, st, f, lo, b, h)                                     \
	{                                                                      \
		.kind = CLI_K_SIZE, .shrt = (s), .name = (l), .arg = (a),      \
		.help = (h), .off = CLI_OFF_(st, f, uint64_t), .min = (lo),    \
		.bad = (b)                                                     \
	}
#define CLI_UINT(s, l, a, st, f, lo, hi, b, h)                                 \
	{                                                                      \
		.kind = CLI_K_UINT, .shrt = (s), .name = (l), .arg = (a),      \
		.help = (h), .off = CLI_OFF_(st, f, unsigned), .min = (lo),    \
		.max = (hi), .bad = (b)                                        \
	}
#define CLI_CALLBACK(s, l, a, fn, i, h)                                        \
	{                                                                      \
		.kind = CLI_K_CALLBACK, .shrt = (s), .name = (l), .arg = (a),  \
		.help = (h), .cb = (fn), .id = (i)                             \
	}
/* Shared declarations with a per-command explanation. */
#define CLI_OPT_JSON(st, f, h) CLI_FLAG(0, "json", st, f, h)
#define CLI_OPT_NO_SYNC                                                        \
	{                                                                      \
		.kind = CLI_K_FLAG, .name = "no-sync", .common = true,         \
		.help = "do not sync the catalog first (offline)",             \
		.off = CLI_OFF_(struct cli_common, no_sync, bool)              \
	}

/* Setup flags: what cli_run does before the command runs (git's
 * RUN_SETUP).  In this order: parse options, check the number of
 * positional arguments, cmd->check, CLI_REF/CLI_ID, CLI_REPO, CLI_OPEN,
 * CLI_FIND. */
enum {
	CLI_REPO = 1 << 0,     /* resolve -r/$BACKUPFS_REPO (else exit 2) */
	CLI_OPEN = 1 << 1,     /* open repository + catalog (ctx->repo, cat) */
	CLI_SYNC = 1 << 2,     /* sync the catalog first (unless --no-sync) */
	CLI_REF = 1 << 3,      /* argv[0] is ID[:PATH]: ctx->id, ctx->path */
	CLI_REF_PATH = 1 << 4, /* ... and the PATH is required */
	CLI_ID = 1 << 5,       /* argv[0] is a backup id or 'latest' */
	CLI_FIND = 1 << 6,     /* look the backup up: ctx->info */
	/* after a successful run, everything closed: compact the catalog
	 * when it is due and no other process has it open (cli_compact) */
	CLI_COMPACT = 1 << 7,
};

struct bfs_cmd {
	const char *name;
	/* The command's own work, after the shared setup.  Returns the exit
	 * code; cli_run closes what the setup opened. */
	int (*run)(struct cli_ctx *ctx);
	const char *summary;	    /* one line for `backupfs help` */
	const char *synopsis;	    /* after "usage: " (lines may continue) */
	const char *description;    /* before the options */
	const struct cli_opt *opts; /* CLI_END-terminated; the common
				       options follow them */
	const char *notes;	    /* after the options (may be NULL) */
	const char *examples;	    /* lines, each indented by two spaces */
	const char *exit_codes;	    /* after "Exit codes: " */
	unsigned flags;		    /* CLI_REPO ... */
	int min_args, max_args;	    /* positional arguments; max < 0: any */
	const char *missing;	    /* usage error below min_args */
	const char *extra_hint;	    /* appended to "unexpected argument 'X'" */
	size_t args_size;	    /* the command's option struct ... */
	void (*args_init)(void *args); /* ... its defaults (may be NULL) */
	void (*args_free)(void *args); /* ... what it owns (may be NULL) */
	/* Usage checks after parsing, before the repository is resolved.
	 * Returns 0 or an exit code (after printing).  May be NULL. */
	int (*check)(struct cli_ctx *ctx);
	int usage_exit; /* exit code of a usage error; 0: EXIT_USAGE (run
			   and status: 3, as 2 means a failed job) */
};

/* The values of the common options (cli_common_opts); strings are
 * borrowed from argv or the environment. */
struct cli_common {
	const char *repo;	     /* -r/--repo or $BACKUPFS_REPO */
	const char *catalog;	     /* --catalog FILE */
	struct bfs_store_opts sopts; /* --s3-endpoint, --s3-path-style ... */
	int verbose;		     /* -v (repeatable) */
	bool quiet;		     /* -q */
	bool no_sync;		     /* --no-sync (CLI_OPT_NO_SYNC) */
	/* catalog rebuild: an unreadable or damaged catalog file is
	 * removed and created afresh by cli_open instead of failing */
	bool replace_bad_catalog;
	/* The command, for "backupfs CMD: ..." messages from cli_common_finish
	 * and cli_open; NULL prints "backupfs: ". */
	const struct bfs_cmd *cmd;
	const char *bad_cache_size; /* invalid --cache-dir-size, reported
					by cli_common_finish */
};

/* What the shared setup hands a command's run().  Owned by cli_run: args,
 * id, path, repo, cat and info are released after run() returns; argv is
 * borrowed from main's argv. */
struct cli_ctx {
	const struct bfs_cmd *cmd;
	struct cli_common c;
	void *args; /* the command's option struct */
	int argc;   /* positional arguments */
	char **argv;
	char *id, *path;	 /* CLI_REF (path "" when absent) / CLI_ID */
	struct bfs_repo *repo;	 /* CLI_OPEN; a command may take them over */
	struct bfs_catalog *cat; /* (set the field to NULL then) */
	struct bfs_backup_info info; /* CLI_FIND */
};

/* The options every command accepts, after its own. */
extern const struct cli_opt cli_common_opts[];

/* Parse argv (argv[0] is the command name) by cmd's declared options, do
 * the setup that cmd->flags ask for, run the command and release the
 * setup.  Usage errors print a message naming the option or argument
 * and return EXIT_USAGE.  Returns the exit code.  Not thread-safe
 * (getopt's globals). */
int cli_run(const struct bfs_cmd *cmd, int argc, char **argv);

/* Print the help of cmd to f (`backupfs CMD --help`). */
void cli_print_usage_to(const struct bfs_cmd *cmd, FILE *f);

/* Print backupfs(1) in roff to stdout, from the declarations.  cmds has
 * n entries; overview is the text of `backupfs --help`'s description. */
void cli_print_man(const struct bfs_cmd *const *cmds, size_t n,
		   const char *overview);

/* Resolve repo (option or env); prints "no repository given (-r REPO or
 * BACKUPFS_REPO)" and returns -EINVAL if neither. Sets up logging level. */
int cli_common_finish(struct cli_common *c);

/* Open the repository and its catalog, syncing the catalog with the
 * repository first when sync is true.  Prints a clear error and returns
 * EXIT_ERR on failure (0 on success). */
/* Compact the catalog at path of repository repo_id (bfs_catalog_compact;
 * if_due: only when due, and then quietly skipped while another process
 * has it open).  Says what it did on stderr unless quiet.  0, or -errno
 * after printing why (an automatic compaction only warns: the command's
 * work is done, and the catalog is a cache). */
int cli_compact(struct cli_common *c, const char *path, const char *repo_id,
		bool if_due);
int cli_open(struct cli_common *c, bool sync, struct bfs_repo **repo,
	     struct bfs_catalog **cat);
/* cli_open's catalog part, for an open repo: --catalog or the default
 * catalog, its directory made, an unreadable one replaced when the
 * command asks for it (replace_bad_catalog).  0 or EXIT_ERR (printed). */
int cli_open_catalog(struct cli_common *c, struct bfs_repo *repo,
		     struct bfs_catalog **cat);

/* Sync cat with repo as cli_open does (a corrupt manifest is a warning).
 * The writing commands call it after taking their lock, so that what a
 * prune did before is seen.  0 or EXIT_ERR (printed). */
int cli_sync(struct cli_common *c, struct bfs_catalog *cat,
	     struct bfs_repo *repo);

/* s quoted for the terminal (bfs_term_quote): the way every human output
 * line prints a name, host, tag, source, id or text read from a
 * repository, a catalog or a server.  Returns s itself when it is safe,
 * else one of 8 static buffers reused in turn (so up to 8 cli_q / cli_qn
 * results can be used in one printf).  Never NULL ("?" when out of
 * memory).  Main thread only. */
const char *cli_q(const char *s);
/* The same for s[0..n) (need not be NUL-terminated; always a copy). */
const char *cli_qn(const char *s, size_t n);
/* Write JSON text s[0..n) (no newline added) to stdout with what a terminal
 * could act on escaped the JSON way: raw C0 controls other than the
 * pretty printer's \n and \t, DEL, C1 controls and bidi overrides become
 * \uXXXX, bytes of invalid UTF-8 become \ufffd (cJSON escapes only C0
 * inside strings).  Escapes are valid JSON: a parser reads the same text. */
void cli_json_write(const char *s, size_t n);

/* Print "backupfs CMD: message" to stderr, the message quoted for the
 * terminal (bfs_term_quote): error texts name hostile paths. */
void cli_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print usage hint and return EXIT_USAGE. */
int cli_usage_error(const struct bfs_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print the help of cmd to stdout. */
void cli_print_usage(const struct bfs_cmd *cmd);

/* Split "ID[:PATH]" into *id (malloc'ed) and *path (malloc'ed, "" when
 * absent; leading/trailing '/' removed). */
int cli_split_ref(const char *ref, char **id, char **path);

/* Format ns timestamp as "2026-11-20 05:15:00" (UTC) / RFC 3339. */
void cli_fmt_time(char *out, size_t n, int64_t ns, bool rfc3339);

/* Find backup id (or "latest") in the catalog; prints "backupfs CMD: no
 * backup 'ID' in repository 'REPO'" and returns EXIT_ERR if absent, 0 with
 * *out filled (bfs_backup_info_clear) otherwise. */
int cli_find_backup(struct cli_common *c, struct bfs_catalog *cat,
		    const char *id, struct bfs_backup_info *out);

/* The stats of a backup as a cJSON object (caller owns; NULL on ENOMEM). */
struct cJSON;
struct cJSON *cli_stats_json(const struct bfs_backup_stats *s);
/* Add an exact integer member (cJSON numbers are doubles: 64-bit values
 * such as ns timestamps would lose digits). */
void cli_json_add_int(struct cJSON *o, const char *key, int64_t v);
void cli_json_add_uint(struct cJSON *o, const char *key, uint64_t v);

/* Print o (indented) and a newline on stdout, then free o (NULL ok: a
 * failed build).  0, or -ENOMEM when o is NULL or cannot be printed. */
int cli_json_print(struct cJSON *o);

/* Add a file name: as a string when it is valid UTF-8, else as
 * KEY_b64 (base64 of the raw bytes), so the JSON stays valid. */
void cli_json_add_name(struct cJSON *o, const char *key, const char *s);

/* Print "try 'backupfs CMD --help'" to stderr and return EXIT_USAGE (after
 * a helper such as cli_common_finish already printed the message). */
int cli_usage_hint(const struct bfs_cmd *cmd);

/* Entries of backup root `root` that were unreadable at backup time:
 * calls cb(arg, path, why) for each, in tree order.  Returns the number
 * found or -errno (message in err). */
long cli_unreadable(struct bfs_catalog *cat, int64_t root,
		    void (*cb)(void *arg, const char *path, const char *why),
		    void *arg, struct bfs_err *err);

/* Repository locks (src/lock.h) for the commands that write.  The
 * --lock-wait option, declared by each such command into a const char *
 * field: */
#define CLI_OPT_LOCK_WAIT(st, f)                                               \
	CLI_STRING(0, "lock-wait", "DURATION", st, f,                          \
		   "when the repository is locked, wait up to DURATION "       \
		   "(30s, 10m, 1h) for the lock (default: fail at once)")
/* Parse a --lock-wait value (NULL: 0) into *ns.  0, or EXIT_USAGE after
 * printing the usage error. */
int cli_parse_lock_wait(const struct bfs_cmd *cmd, const char *arg,
			int64_t *ns);
/* Take a lock of kind on r for c->cmd, waiting up to wait_ns.  Prints
 * "backupfs CMD: repository is locked ... by ..." and returns EXIT_ERR
 * on failure; 0 with *out (bfs_lock_release) on success. */
int cli_lock(struct cli_common *c, struct bfs_repo *r, enum bfs_lock_kind kind,
	     int64_t wait_ns, struct bfs_lock **out);

/* Commands (one file each). */
extern const struct bfs_cmd cmd_init, cmd_backup, cmd_list, cmd_show, cmd_ls,
    cmd_cat, cmd_restore, cmd_catalog, cmd_mount, cmd_copy, cmd_migrate,
    cmd_forget, cmd_delete, cmd_unlock, cmd_check, cmd_prune;
extern const struct bfs_cmd cmd_run, cmd_status; /* jobs (issue 10) */
/* issue 10: the scheduler and the job subcommands */
extern const struct bfs_cmd cmd_scheduler, cmd_job;
/* `show --tree` (show_tree.c): the tree below path ("" = the top, as
 * cli_split_ref normalises it) of backup b, with sizes; at most
 * max_depth levels (0: all).  Returns the exit code (errors printed). */
int cli_show_tree(struct bfs_catalog *cat, const struct bfs_backup_info *b,
		  const char *path, unsigned max_depth);

/* issue 11: import of the seed tools' backup folders */
extern const struct bfs_cmd cmd_import;

/* issue 13: the passwords of an encrypted repository */
extern const struct bfs_cmd cmd_key;

/* issue 11: restore into NocoDB */
extern const struct bfs_cmd cmd_nocodb;

#endif
