/* cmd_init.c - `backupfs init REPO`: create an empty repository. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

/* REPO may be the positional argument or -r, not both. */
static int check_init(struct cli_ctx *ctx)
{
	if (ctx->argc > 0) {
		if (ctx->c.repo)
			return cli_usage_error(&cmd_init,
					       "give the repository once");
		ctx->c.repo = ctx->argv[0];
	}
	if (ctx->argc > 1)
		return cli_usage_error(&cmd_init, "unexpected argument '%s'",
				       ctx->argv[1]);
	return 0;
}

static int run_init(struct cli_ctx *ctx)
{
	struct cli_common *c = &ctx->c;
	struct bfs_err err = {""};
	struct bfs_repo *repo = NULL;
	char *catpath = NULL;
	int rc;

	c->sopts.create = true;
	rc = bfs_repo_init(c->repo, &c->sopts, &repo, &err);
	if (rc < 0) {
		cli_error("init", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	printf("initialized repository %s at %s\n", repo->id, c->repo);
	if (c->catalog)
		printf("catalog: %s\n", c->catalog);
	else if (bfs_catalog_default_path(repo->id, &catpath, &err) == 0)
		printf("catalog: %s (created on first use)\n", catpath);
	free(catpath);
	bfs_repo_close(repo);
	return EXIT_OK;
}

const struct bfs_cmd cmd_init = {
    .name = "init",
    .run = run_init,
    .summary = "create a new, empty repository",
    .synopsis = "backupfs init [OPTIONS] REPO",
    .description =
	"Create an empty backupfs repository at REPO: a local directory\n"
	"(created if missing) or s3://bucket/prefix.  The repository gets a\n"
	"random id; its local catalog will live in\n"
	"$XDG_CACHE_HOME/backupfs/<id>.db unless --catalog is given.\n"
	"REPO may also come from -r or $BACKUPFS_REPO.",
    .examples = "  backupfs init /srv/backups/nocodb\n"
		"  AWS_ENDPOINT_URL=http://127.0.0.1:9000 backupfs init "
		"s3://backups/nocodb",
    .exit_codes = "0 ok, 1 error (e.g. a repository already exists there),\n"
		  "2 usage error.",
    .flags = CLI_REPO,
    .max_args = -1, /* check_init: the order of its messages */
    .check = check_init,
};
