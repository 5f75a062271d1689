/* cmd_init.c - `backupfs init REPO`: create an empty repository. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static int run_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct bfs_err err = { "" };
	struct bfs_repo *repo = NULL;
	struct cli_common c;
	char *catpath = NULL;
	int opt, rc;

	cli_common_init(&c);
	c.cmd = &cmd_init;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":" CLI_COMMON_SHORTOPTS,
				  longopts, NULL)) != -1) {
		rc = cli_common_opt(&c, opt, optarg, &cmd_init);
		if (rc < 0)
			return EXIT_OK;
		if (rc == 0)
			return cli_bad_option(&cmd_init, opt, argv);
	}
	if (optind < argc) {
		if (c.repo)
			return cli_usage_error(&cmd_init,
					       "give the repository once");
		c.repo = argv[optind++];
	}
	if (optind < argc)
		return cli_usage_error(&cmd_init, "unexpected argument '%s'",
				       argv[optind]);
	if (cli_common_finish(&c) < 0)
		return cli_usage_hint(&cmd_init);

	c.sopts.create = true;
	rc = bfs_repo_init(c.repo, &c.sopts, &repo, &err);
	if (rc < 0) {
		cli_error("init", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	printf("initialized repository %s at %s\n", repo->id, c.repo);
	if (c.catalog)
		printf("catalog: %s\n", c.catalog);
	else if (bfs_catalog_default_path(repo->id, &catpath, &err) == 0)
		printf("catalog: %s (created on first use)\n", catpath);
	free(catpath);
	bfs_repo_close(repo);
	return EXIT_OK;
}

const struct bfs_cmd cmd_init = {
	.name = "init",
	.fn = run_init,
	.summary = "create a new, empty repository",
	.usage =
	"usage: backupfs init [OPTIONS] REPO\n"
	"\n"
	"Create an empty backupfs repository at REPO: a local directory\n"
	"(created if missing) or s3://bucket/prefix.  The repository gets a\n"
	"random id; its local catalog will live in\n"
	"$XDG_CACHE_HOME/backupfs/<id>.db unless --catalog is given.\n"
	"REPO may also come from -r or $BACKUPFS_REPO.\n"
	"\n"
	CLI_COMMON_USAGE
	"\n"
	"Examples:\n"
	"  backupfs init /srv/backups/nocodb\n"
	"  AWS_ENDPOINT_URL=http://127.0.0.1:9000 backupfs init s3://backups/nocodb\n"
	"\n"
	"Exit codes: 0 ok, 1 error (e.g. a repository already exists there),\n"
	"2 usage error.\n",
};
