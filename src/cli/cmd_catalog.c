/* cmd_catalog.c - `backupfs catalog sync|rebuild|compact`: maintain the
 * local SQLite catalog. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ACTION first, then anything else is unexpected (in this order). */
static int check_catalog(struct cli_ctx *ctx)
{
	const char *action = ctx->argv[0];

	if (strcmp(action, "sync") != 0 && strcmp(action, "rebuild") != 0 &&
	    strcmp(action, "compact") != 0)
		return cli_usage_error(&cmd_catalog,
				       "unknown action '%s' (sync, rebuild or"
				       " compact)",
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
	char *path;
	int rc;

	if (strcmp(action, "compact") == 0) {
		/* no connection of this process may hold it open */
		path = strdup(bfs_catalog_path(cat));
		if (!path) {
			cli_error("catalog", "out of memory");
			return EXIT_ERR;
		}
		bfs_catalog_close(cat);
		ctx->cat = NULL;
		rc = cli_compact(&ctx->c, path, repo->id, false);
		free(path);
		return rc < 0 ? EXIT_ERR : EXIT_OK;
	}
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
    .summary = "sync, rebuild or compact the local catalog",
    .synopsis = "backupfs catalog sync|rebuild|compact [-r REPO] [OPTIONS]",
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
	"            truncated, overwritten) is moved aside to FILE.damaged\n"
	"            and created afresh\n"
	"  compact   write the catalog anew with the newest backup's rows\n"
	"            together, so that browsing it stays as fast as with\n"
	"            one backup; backup and catalog sync do it by themselves\n"
	"            when enough has changed and nothing else has the\n"
	"            catalog open.  Needs no other process (a mount, a\n"
	"            backup) to have it open, and about its size again in\n"
	"            free space for a moment\n"
	"\n"
	"sync and rebuild print \"catalog: N added, M removed\".  A corrupt\n"
	"manifest is named and makes the command fail after the others\n"
	"were ingested.  compact prints the file's size before and after.",
    .examples = "  backupfs catalog sync -r /srv/backups/nocodb\n"
		"  backupfs catalog rebuild -r s3://backups/nocodb --catalog "
		"/tmp/c.db\n"
		"  backupfs catalog compact -r /srv/backups/nocodb",
    .exit_codes = "0 ok, 1 error (repository unreachable, corrupt manifest,\n"
		  "compact: the catalog is open in another process), 2 usage\n"
		  "error.",
    .flags = CLI_OPEN | CLI_COMPACT, /* no sync: the command's work */
    .min_args = 1,
    .max_args = -1, /* check_catalog */
    .missing = "missing action (sync, rebuild or compact)",
    .check = check_catalog,
};
