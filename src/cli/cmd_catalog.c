/* cmd_catalog.c - `backupfs catalog sync|rebuild`: maintain the local
 * SQLite catalog. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int run_catalog(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct bfs_sync_stats ss = { 0 };
	struct bfs_err err = { "" };
	struct bfs_catalog *cat = NULL;
	struct bfs_repo *repo = NULL;
	struct cli_common c;
	const char *action;
	bool rebuild;
	int opt, rc;

	cli_common_init(&c);
	c.cmd = &cmd_catalog;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":" CLI_COMMON_SHORTOPTS,
				  longopts, NULL)) != -1) {
		rc = cli_common_opt(&c, opt, optarg, &cmd_catalog);
		if (rc < 0)
			return EXIT_OK;
		if (rc == 0)
			return cli_bad_option(&cmd_catalog, opt, argv);
	}
	if (optind >= argc)
		return cli_usage_error(&cmd_catalog,
				       "missing action (sync or rebuild)");
	action = argv[optind++];
	if (strcmp(action, "sync") == 0)
		rebuild = false;
	else if (strcmp(action, "rebuild") == 0)
		rebuild = true;
	else
		return cli_usage_error(&cmd_catalog,
				       "unknown action '%s' (sync or rebuild)",
				       action);
	if (optind < argc)
		return cli_usage_error(&cmd_catalog, "unexpected argument '%s'",
				       argv[optind]);
	if (cli_common_finish(&c) < 0)
		return cli_usage_hint(&cmd_catalog);
	if (cli_open(&c, false, &repo, &cat))
		return EXIT_ERR;

	if (rebuild)
		rc = bfs_catalog_rebuild(cat, repo, &ss, &err);
	else
		rc = bfs_catalog_sync(cat, repo, &ss, &err);
	if (rc < 0 && rc != -EUCLEAN) {
		cli_error("catalog", "cannot %s the catalog: %s", action,
			  bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_close;
	}
	if (!c.quiet)
		printf("catalog: %u added, %u removed\n", ss.added, ss.removed);
	if (rc == -EUCLEAN) {
		/* the good manifests are in; name the bad one and fail */
		cli_error("catalog", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
	} else {
		rc = EXIT_OK;
	}
out_close:
	bfs_catalog_close(cat);
	bfs_repo_close(repo);
	return rc;
}

const struct bfs_cmd cmd_catalog = {
	.name = "catalog",
	.fn = run_catalog,
	.summary = "sync or rebuild the local catalog",
	.usage =
	"usage: backupfs catalog sync|rebuild [-r REPO] [OPTIONS]\n"
	"\n"
	"The catalog is a local SQLite index of every backup's manifest; ls,\n"
	"show, list, cat, restore and mount answer from it.  It is a cache:\n"
	"it can always be rebuilt from the repository.\n"
	"\n"
	"  sync      ingest manifests not yet in the catalog, drop backups\n"
	"            whose manifest is gone (list, backup and mount do this\n"
	"            by themselves)\n"
	"  rebuild   drop everything and ingest all manifests again\n"
	"\n"
	"Prints \"catalog: N added, M removed\".  A corrupt manifest is named\n"
	"and makes the command fail after the others were ingested.\n"
	"\n"
	CLI_COMMON_USAGE
	"\n"
	"Examples:\n"
	"  backupfs catalog sync -r /srv/backups/nocodb\n"
	"  backupfs catalog rebuild -r s3://backups/nocodb --catalog /tmp/c.db\n"
	"\n"
	"Exit codes: 0 ok, 1 error (repository unreachable, corrupt manifest),\n"
	"2 usage error.\n",
};
