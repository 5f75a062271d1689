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

/* PATH is not in the backup: a file of a dump's NAME.d/ view? */
static int cat_view(struct cli_ctx *ctx)
{
	struct bfs_err err = {""};
	struct bfs_dumpview v;
	const char *path = ctx->path, *name = ctx->info.name;
	int rc;

	rc = bfs_dumpview_resolve(ctx->repo, ctx->cat, ctx->info.root, path, &v,
				  &err);
	if (rc == -ENOENT) {
		cli_error("cat", "no '%s' in backup '%s'", path, name);
		return EXIT_ERR;
	}
	if (!rc)
		rc = bfs_dumpview_cat_fd(ctx->repo, ctx->cat, &v, STDOUT_FILENO,
					 &err);
	bfs_dumpview_clear(&v);
	if (rc == -EPIPE)
		return EXIT_ERR;
	if (rc == -EISDIR) {
		cli_error("cat", "'%s' of backup '%s' is a directory", path,
			  name);
		return EXIT_ERR;
	}
	if (rc < 0) {
		cli_error("cat", "cannot read '%s' of backup '%s': %s", path,
			  name, bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	return EXIT_OK;
}

static int run_cat(struct cli_ctx *ctx)
{
	struct bfs_err err = {""};
	const struct bfs_backup_info *info = &ctx->info;
	struct bfs_cat_entry ce;
	struct bfs_catalog *cat = ctx->cat;
	struct bfs_repo *repo = ctx->repo;
	const char *path = ctx->path;
	int rc;

	/* a read path: a delta's output is checked, its bases are not
	 * hashed again (repo.h) */
	bfs_repo_set_bases_by_output(repo, true);
	memset(&ce, 0, sizeof(ce));
	rc = bfs_catalog_lookup_path(cat, info->root, path, &ce, &err);
	if (rc == -ENOENT || rc == -ENOTDIR)
		return cat_view(ctx);
	if (rc < 0) {
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
	"bytes.\n"
	"\n"
	"A dump stored with a map (a pg_dump or mysqldump; see 'One table\n"
	"back' in the README) also has a view DUMP.d/ next to it: PATH\n"
	"DUMP.d/_before.sql, DUMP.d/SCHEMA.TABLE.sql or DUMP.d/_after.sql\n"
	"writes that part of the dump, reading only its chunks.",
    .opts = cat_opts,
    .examples = "  backupfs cat latest:database.sql | psql nocodb_restore\n"
		"  backupfs cat latest:database.sql.d/public.film.sql "
		"| psql scratch\n"
		"  backupfs cat "
		"2026-11-20_05-15-00:files/uploads/invoice-17.pdf > x.pdf",
    .exit_codes = "0 ok, 1 error (no such backup or file, a directory,\n"
		  "unreadable data), 2 usage error.",
    .flags = CLI_OPEN | CLI_SYNC | CLI_REF | CLI_REF_PATH | CLI_FIND,
    .min_args = 1,
    .max_args = 1,
    .missing = "missing ID:PATH",
};
