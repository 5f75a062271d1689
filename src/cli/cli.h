/* cli.h - shared pieces of the command-line front end.  Each subcommand
 * lives in its own cmd_*.c with its usage text and option table; main.c
 * dispatches through the table below (git's cmd_struct). */
#ifndef BFS_CLI_H
#define BFS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "catalog/catalog.h"
#include "src/repo.h"
#include "src/store.h"
#include "src/util.h"

/* Exit codes (documented in every --help and the README). */
#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2
#define EXIT_PARTIAL 3    /* backup written, some files unreadable */

struct bfs_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);  /* argv[0] is the command name */
	const char *summary;               /* one line for `backupfs help` */
	const char *usage;                 /* full text for `help CMD`/--help */
};

/* Options every repository-using command accepts; filled by
 * cli_common_opt() from getopt_long. */
struct cli_common {
	const char *repo;          /* -r/--repo or $BACKUPFS_REPO */
	const char *catalog;       /* --catalog FILE */
	struct bfs_store_opts sopts;   /* --s3-endpoint, --s3-path-style ... */
	int verbose;               /* -v (repeatable) */
	bool quiet;                /* -q */
	/* The command, for "backupfs CMD: ..." messages from cli_common_finish
	 * and cli_open.  Set by cli_common_opt (any common option) or by the
	 * command itself after cli_common_init; NULL prints "backupfs: ". */
	const struct bfs_cmd *cmd;
	const char *bad_cache_size;  /* invalid --cache-dir-size, reported
					 by cli_common_finish */
};

/* Long options shared by all repository commands; append to each
 * command's own table with CLI_COMMON_LONGOPTS.  Values >= 0x1000. */
enum {
	OPT_CATALOG = 0x1000,
	OPT_S3_ENDPOINT,
	OPT_S3_PATH_STYLE,
	OPT_S3_VHOST,
	OPT_S3_REGION,
	OPT_HELP,
	OPT_CACHE_DIR,
	OPT_CACHE_DIR_SIZE,
	OPT_CMD_BASE = 0x1100,     /* commands number their own from here */
};
#define CLI_COMMON_SHORTOPTS "r:vqh"
#define CLI_COMMON_LONGOPTS                                               \
	{ "repo", required_argument, NULL, 'r' },                         \
	{ "catalog", required_argument, NULL, OPT_CATALOG },              \
	{ "s3-endpoint", required_argument, NULL, OPT_S3_ENDPOINT },      \
	{ "s3-path-style", no_argument, NULL, OPT_S3_PATH_STYLE },        \
	{ "s3-virtual-host", no_argument, NULL, OPT_S3_VHOST },           \
	{ "s3-region", required_argument, NULL, OPT_S3_REGION },          \
	{ "cache-dir", required_argument, NULL, OPT_CACHE_DIR },          \
	{ "cache-dir-size", required_argument, NULL, OPT_CACHE_DIR_SIZE }, \
	{ "verbose", no_argument, NULL, 'v' },                            \
	{ "quiet", no_argument, NULL, 'q' },                              \
	{ "help", no_argument, NULL, 'h' }
#define CLI_COMMON_USAGE                                                  \
	"Common options:\n"                                               \
	"  -r, --repo REPO        repository: a local path or s3://bucket/prefix\n" \
	"                         (default: $BACKUPFS_REPO)\n"             \
	"      --catalog FILE     catalog database (default:\n"            \
	"                         $XDG_CACHE_HOME/backupfs/<repository id>.db)\n" \
	"      --s3-endpoint URL  S3 endpoint (default: $AWS_ENDPOINT_URL)\n" \
	"      --s3-path-style    path-style S3 addressing (default with an endpoint)\n" \
	"      --s3-virtual-host  virtual-host S3 addressing\n"            \
	"      --s3-region REGION S3 region (default: $AWS_REGION, us-east-1)\n" \
	"      --cache-dir DIR    keep fetched pack ranges in DIR (for S3), so a\n" \
	"                         second read does not go to the network\n" \
	"      --cache-dir-size SIZE  bound of --cache-dir (default 1G)\n" \
	"  -v, --verbose          more log output (repeat for debug)\n"    \
	"  -q, --quiet            errors only\n"                           \
	"  -h, --help             this help\n"

void cli_common_init(struct cli_common *c);
/* Handle one getopt result if it is a common option: returns 1 if
 * handled, 0 if not a common option, -1 after printing usage for -h
 * (caller returns EXIT_OK). */
int cli_common_opt(struct cli_common *c, int opt, const char *arg,
		   const struct bfs_cmd *cmd);
/* Resolve repo (option or env); prints "no repository given (-r REPO or
 * BACKUPFS_REPO)" and returns -EINVAL if neither. Sets up logging level. */
int cli_common_finish(struct cli_common *c);

/* Open the repository and its catalog, syncing the catalog with the
 * repository first when sync is true.  Prints a clear error and returns
 * EXIT_ERR on failure (0 on success). */
int cli_open(struct cli_common *c, bool sync, struct bfs_repo **repo,
	     struct bfs_catalog **cat);

/* Print "backupfs CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Print usage hint and return EXIT_USAGE. */
int cli_usage_error(const struct bfs_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* For getopt_long's '?' and ':' results (commands set opterr = 0 and
 * start their optstring with ':'): prints "unknown option '-x'" or
 * "option '--x' needs an argument" and the usage hint; returns
 * EXIT_USAGE. */
int cli_bad_option(const struct bfs_cmd *cmd, int opt, char **argv);
/* Print cmd->usage to stdout. */
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

/* Commands (one file each). */
extern const struct bfs_cmd cmd_init, cmd_backup, cmd_list, cmd_show,
	cmd_ls, cmd_cat, cmd_restore, cmd_catalog, cmd_mount, cmd_copy;

#endif
