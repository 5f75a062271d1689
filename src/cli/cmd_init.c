/* cmd_init.c - `backupfs init REPO`: create an empty repository. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

struct init_args {
	bool force;
	const char *group;
};

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

/* An init must not drop a `config` into an app's data directory or a
 * typo: refuse a location that holds anything (unless --force), and say
 * what a `config` already there is.  0 to go on, or EXIT_ERR (printed). */
static int check_location(struct cli_common *c, bool force)
{
	struct bfs_store_opts so = c->sopts;
	struct bfs_store *s = NULL;
	struct bfs_repo *r = NULL;
	struct bfs_err err = {""};
	bool any = false;
	uint64_t size;
	int rc;

	so.create = false;
	if (bfs_store_open(c->repo, &so, &s, &err) < 0)
		return 0; /* nothing there yet, or bfs_repo_init says why */
	rc = bfs_store_stat(s, BFS_KEY_CONFIG, &size, &err);
	if (rc == 0) {
		err.msg[0] = '\0';
		rc = bfs_repo_open(c->repo, &c->sopts, &r, &err);
		if (rc == 0)
			cli_error("init",
				  "a backupfs repository already exists at "
				  "'%s' (id %s)",
				  c->repo, r->id);
		else if (rc == -EACCES) /* encrypted: no or another password */
			cli_error("init",
				  "an encrypted backupfs repository already "
				  "exists at '%s'",
				  c->repo);
		else
			cli_error(
			    "init",
			    "'%s' already has a file 'config' that is not "
			    "a backupfs repository's (%s); init leaves it "
			    "alone",
			    c->repo, bfs_err_str(&err, rc));
		bfs_repo_close(r);
		bfs_store_free(s);
		return EXIT_ERR;
	}
	rc = 0;
	if (!force) {
		err.msg[0] = '\0';
		rc = bfs_store_holds_any(s, &any, &err);
		if (rc < 0) {
			cli_error("init", "%s", bfs_err_str(&err, rc));
			rc = EXIT_ERR;
		} else if (any) {
			cli_error(
			    "init",
			    "'%s' is not empty and is not a backupfs "
			    "repository: use a new or empty directory (or "
			    "give --force to create the repository among "
			    "what is there)",
			    c->repo);
			rc = EXIT_ERR;
		} else {
			rc = 0;
		}
	}
	bfs_store_free(s);
	return rc;
}

static int run_init(struct cli_ctx *ctx)
{
	const struct init_args *a = ctx->args;
	struct cli_common *c = &ctx->c;
	struct bfs_err err = {""};
	struct bfs_repo *repo = NULL;
	char *catpath = NULL;
	int rc;

	rc = check_location(c, a->force);
	if (rc)
		return rc;
	c->sopts.create = true;
	c->sopts.group = a->group;
	rc = bfs_repo_init(c->repo, &c->sopts, &repo, &err);
	if (rc < 0) {
		cli_error("init", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	if (!repo->crypt && !c->quiet)
		fprintf(stderr, "backupfs init: note: no password given "
				"(--password-file, --password-command, "
				"$BACKUPFS_PASSWORD...): the repository is not "
				"encrypted\n");
	if (c->quiet) {
		/* -q: nothing on success */
	} else if (printf("initialized %srepository %s at %s\n",
			  repo->crypt ? "encrypted " : "", repo->id,
			  c->repo) < 0) {
		rc = EXIT_ERR;
	} else if (c->catalog) {
		printf("catalog: %s\n", c->catalog);
	} else if (bfs_catalog_default_path(repo, &catpath, &err) == 0) {
		printf("catalog: %s (created on first use)\n", catpath);
	}
	free(catpath);
	bfs_repo_close(repo);
	return rc ? EXIT_ERR : EXIT_OK;
}

static const struct cli_opt init_opts[] = {
    CLI_FLAG('f', "force", struct init_args, force,
	     "create the repository even in a directory (or bucket prefix) "
	     "that already holds other files"),
    CLI_STRING(0, "group", "GROUP", struct init_args, group,
	       "share a local repository read-only with GROUP: directories "
	       "02750 (setgid) and files 0640 owned by GROUP, instead of "
	       "0700 and 0600"),
    CLI_END};

const struct bfs_cmd cmd_init = {
    .name = "init",
    .run = run_init,
    .summary = "create a new, empty repository",
    .synopsis = "backupfs init [OPTIONS] REPO",
    .description =
	"Create an empty backupfs repository at REPO: a local directory\n"
	"(created if missing) or s3://bucket/prefix.  The repository gets a\n"
	"random id; its local catalog will live in\n"
	"$XDG_CACHE_HOME/backupfs/<id>-<location key>.db unless --catalog\n"
	"is given.\n"
	"REPO may also come from -r or $BACKUPFS_REPO.  A location that\n"
	"already holds files (an app's data directory, a typo) is refused\n"
	"unless --force is given; one that holds a repository, or a 'config'\n"
	"that is not a repository's, is always refused, saying which.\n"
	"\n"
	"The repository is of format 5 (doc/FORMAT.md): a chunk of a dump\n"
	"may be stored as a delta on up to four earlier chunks (rows that\n"
	"moved), and a changed directory's tree parts as deltas on their\n"
	"previous version.  An older backupfs (of format 4 or before)\n"
	"refuses to open it (\"unsupported repository format version 5\").\n"
	"A\n"
	"repository made by one is read and written as it is, so that the\n"
	"older backupfs keeps working with it, until 'backupfs migrate'.\n"
	"\n"
	"A local repository is private: its directory and every directory\n"
	"below are 0700 and its files 0600, whatever the umask.  With\n"
	"--group GROUP the directory belongs to GROUP with mode 02750, and\n"
	"every later write (by any command) makes directories 0750 and\n"
	"files 0640 with that group: members can read (restore, mount, cat)\n"
	"but not write.  The mode of the repository directory decides it:\n"
	"chmod and chgrp it (and what is below) to change it later.\n"
	"\n"
	"With a password (--password-file FILE, --password-command CMD, or\n"
	"$BACKUPFS_PASSWORD_FILE, $BACKUPFS_PASSWORD_COMMAND,\n"
	"$BACKUPFS_PASSWORD) the repository is encrypted: file contents,\n"
	"trees (names), manifests and index objects are sealed with\n"
	"AES-256-GCM under random keys that the password unlocks (scrypt);\n"
	"every command then needs the same password source.  Without one\n"
	"the repository is plain, and init says so on stderr (not with\n"
	"-q).  Encryption is chosen here only; 'backupfs key' manages the\n"
	"passwords.",
    .opts = init_opts,
    .examples = "  backupfs init /srv/backups/nocodb\n"
		"  backupfs init --group backup-readers /srv/backups/nocodb\n"
		"  backupfs init --password-file /etc/backupfs/pw "
		"/srv/backups/db\n"
		"  AWS_ENDPOINT_URL=http://127.0.0.1:9000 backupfs init "
		"s3://backups/nocodb",
    .exit_codes = "0 ok, 1 error (e.g. a repository already exists there),\n"
		  "2 usage error.",
    .flags = CLI_REPO,
    .args_size = sizeof(struct init_args),
    .max_args = -1, /* check_init: the order of its messages */
    .check = check_init,
};
