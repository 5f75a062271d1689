/* cmd_cat.c - `backupfs cat ID:PATH`: stream one file of a backup to
 * stdout, every chunk verified. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "src/restore.h"

static int run_cat(struct cli_ctx *ctx)
{
	struct bfs_err err = {""};
	const struct bfs_backup_info *info = &ctx->info;
	struct bfs_cat_entry ce;
	struct bfs_catalog *cat = ctx->cat;
	struct bfs_repo *repo = ctx->repo;
	const char *path = ctx->path;
	int rc;

	memset(&ce, 0, sizeof(ce));
	rc = bfs_catalog_lookup_path(cat, info->root, path, &ce, &err);
	if (rc == -ENOENT || rc == -ENOTDIR) {
		cli_error("cat", "no '%s' in backup '%s'", path, info->name);
		return EXIT_ERR;
	} else if (rc < 0) {
		cli_error("cat", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	if (ce.e.type == BFS_T_SYMLINK) {
		cli_error("cat",
			  "'%s' of backup '%s' is a symbolic link to '%s'",
			  path, info->name, ce.e.target ? ce.e.target : "");
		rc = EXIT_ERR;
		goto out_entry;
	}
	err.msg[0] = '\0';
	rc = bfs_restore_cat_fd(repo, cat, ce.id, STDOUT_FILENO, &err);
	if (rc == -EPIPE) {
		rc = EXIT_ERR; /* the reader went away: nothing to say */
	} else if (rc < 0) {
		if (rc == -EISDIR || rc == -EINVAL || rc == -ENODATA)
			cli_error("cat", "'%s' of backup '%s' %s", path,
				  info->name, bfs_err_str(&err, rc));
		else
			cli_error("cat", "cannot read '%s' of backup '%s': %s",
				  path, info->name, bfs_err_str(&err, rc));
		rc = EXIT_ERR;
	} else {
		rc = EXIT_OK;
	}
out_entry:
	bfs_cat_entry_clear(&ce);
	return rc;
}

static const struct cli_opt cat_opts[] = {CLI_OPT_NO_SYNC, CLI_END};

const struct bfs_cmd cmd_cat = {
    .name = "cat",
    .run = run_cat,
    .summary = "write one file of a backup to stdout",
    .synopsis = "backupfs cat [-r REPO] [OPTIONS] ID:PATH",
    .description =
	"Write the content of file PATH of backup ID ('latest' for the "
	"newest)\n"
	"to stdout.  Only the chunks of that file are read from the\n"
	"repository, and each is checked against its SHA-256: a damaged or\n"
	"missing chunk is an error naming the file and the pack, never wrong\n"
	"bytes.",
    .opts = cat_opts,
    .examples = "  backupfs cat latest:database.sql | psql nocodb_restore\n"
		"  backupfs cat "
		"2026-11-20_05-15-00:files/uploads/invoice-17.pdf > x.pdf",
    .exit_codes = "0 ok, 1 error (no such backup or file, a directory,\n"
		  "unreadable data), 2 usage error.",
    .flags = CLI_OPEN | CLI_SYNC | CLI_REF | CLI_REF_PATH | CLI_FIND,
    .min_args = 1,
    .max_args = 1,
    .missing = "missing ID:PATH",
};
