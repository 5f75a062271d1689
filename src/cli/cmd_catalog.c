/* cmd_catalog.c - `backupfs catalog sync|rebuild`: maintain the local
 * SQLite catalog. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* ACTION first, then anything else is unexpected (in this order). */
static int check_catalog(struct cli_ctx *ctx)
{
	const char *action = ctx->argv[0];

	if (strcmp(action, "sync") != 0 && strcmp(action, "rebuild") != 0)
		return cli_usage_error(&cmd_catalog,
				       "unknown action '%s' (sync or rebuild)",
				       action);
	if (ctx->argc > 1)
		return cli_usage_error(&cmd_catalog, "unexpected argument '%s'",
				       ctx->argv[1]);
	ctx->c.replace_bad_catalog = strcmp(action, "rebuild") == 0;
	return 0;
}

static int run_catalog(struct cli_ctx *ctx)
{
	struct bfs_sync_stats ss = {0};
	struct bfs_err err = {""};
	struct bfs_catalog *cat = ctx->cat;
	struct bfs_repo *repo = ctx->repo;
	const char *action = ctx->argv[0];
	bool rebuild = strcmp(action, "rebuild") == 0;
	int rc;

	if (rebuild)
		rc = bfs_catalog_rebuild(cat, repo, &ss, &err);
	else
		rc = bfs_catalog_sync(cat, repo, &ss, &err);
	if (rc < 0 && rc != -EUCLEAN) {
		cli_error("catalog", "cannot %s the catalog: %s", action,
			  bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	if (!ctx->c.quiet)
		printf("catalog: %u added, %u removed\n", ss.added, ss.removed);
	if (rc == -EUCLEAN) {
		/* the good manifests are in; name the bad one and fail */
		cli_error("catalog", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
	} else {
		rc = EXIT_OK;
	}
	return rc;
}

const struct bfs_cmd cmd_catalog = {
    .name = "catalog",
    .run = run_catalog,
    .summary = "sync or rebuild the local catalog",
    .synopsis = "backupfs catalog sync|rebuild [-r REPO] [OPTIONS]",
    .description =
	"The catalog is a local SQLite index of every backup's manifest; ls,\n"
	"show, list, cat, restore and mount answer from it.  It is a cache:\n"
	"it can always be rebuilt from the repository.\n"
	"\n"
	"  sync      ingest manifests not yet in the catalog, drop backups\n"
	"            whose manifest is gone (list, backup and mount do this\n"
	"            by themselves)\n"
	"  rebuild   drop everything and ingest all manifests again; a\n"
	"            catalog file that cannot be read (not a database,\n"
	"            truncated, overwritten) is removed and created afresh\n"
	"\n"
	"Prints \"catalog: N added, M removed\".  A corrupt manifest is named\n"
	"and makes the command fail after the others were ingested.",
    .examples =
	"  backupfs catalog sync -r /srv/backups/nocodb\n"
	"  backupfs catalog rebuild -r s3://backups/nocodb --catalog /tmp/c.db",
    .exit_codes = "0 ok, 1 error (repository unreachable, corrupt manifest),\n"
		  "2 usage error.",
    .flags = CLI_OPEN, /* no sync: that is the command's work */
    .min_args = 1,
    .max_args = -1, /* check_catalog */
    .missing = "missing action (sync or rebuild)",
    .check = check_catalog,
};
