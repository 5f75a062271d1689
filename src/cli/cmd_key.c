/* cmd_key.c - `backupfs key list|add|remove|passwd`: the passwords of an
 * encrypted repository (key objects, src/repo_key.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "src/crypt_pass.h"
#include "src/repo_key.h"

struct key_args {
	const char *new_file, *new_command, *label;
	bool force;
};

static int list_cb(void *arg, const char *name, const struct bfs_key_info *info,
		   const char *why)
{
	const struct bfs_repo *r = arg;
	bool cur = !strcmp(name, r->key_name);

	if (!info)
		printf("%c %.12s  unreadable key object: %s\n", cur ? '*' : ' ',
		       name, cli_q(why));
	else
		printf("%c %.12s  %-20s  scrypt N=%llu r=%u p=%u  %s\n",
		       cur ? '*' : ' ', name, cli_q(info->created),
		       (unsigned long long)info->kdf.n, info->kdf.r,
		       info->kdf.p, cli_q(info->label));
	return 0;
}

/* The new password (key add, key passwd) into pw.  0 or EXIT_ERR. */
static int new_password(const struct key_args *a, const char *sub,
			struct bfs_buf *pw)
{
	struct bfs_err err = {""};
	int rc;

	rc = bfs_password_read(a->new_file, a->new_command,
			       BFS_NEW_PASSWORD_ENV, pw, &err);
	if (rc == 0) {
		cli_error("key",
			  "%s needs the new password: "
			  "--new-password-file, --new-password-command, "
			  "or $%s_FILE, $%s_COMMAND, $%s",
			  sub, BFS_NEW_PASSWORD_ENV, BFS_NEW_PASSWORD_ENV,
			  BFS_NEW_PASSWORD_ENV);
		return EXIT_ERR;
	}
	if (rc < 0) {
		cli_error("key", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	return 0;
}

static int run_key(struct cli_ctx *ctx)
{
	const struct key_args *a = ctx->args;
	const char *sub = ctx->argv[0];
	struct bfs_err err = {""};
	struct bfs_repo *r = NULL;
	struct bfs_buf pw = {0};
	char name[BFS_HASH_HEX + 1], old[BFS_HASH_HEX + 1];
	int rc, ret = EXIT_ERR;

	rc = bfs_repo_open(ctx->c.repo, &ctx->c.sopts, &r, &err);
	if (rc < 0) {
		cli_error("key", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	if (!r->crypt) {
		cli_error("key",
			  "repository '%s' is not encrypted (encryption is "
			  "chosen at init)",
			  ctx->c.repo);
		goto out;
	}
	if (!strcmp(sub, "list")) {
		rc = bfs_repo_key_list(r, list_cb, r, &err);
	} else if (!strcmp(sub, "add") || !strcmp(sub, "passwd")) {
		ret = new_password(a, sub, &pw);
		if (ret)
			goto out;
		ret = EXIT_ERR;
		rc = bfs_repo_key_add(r, pw.data, pw.len, a->label, name, &err);
		if (!rc && !strcmp(sub, "passwd")) {
			/* the new key exists before the old one goes */
			rc = bfs_repo_key_remove(r, r->key_name, true, old,
						 &err);
			if (!rc && !ctx->c.quiet)
				printf("removed key %.12s\n", old);
		}
		if (!rc && !ctx->c.quiet)
			printf("added key %.12s\n", name);
	} else {
		rc = bfs_repo_key_remove(r, ctx->argv[1], a->force, name, &err);
		if (!rc && !ctx->c.quiet)
			printf("removed key %.12s\n", name);
	}
	if (rc < 0) {
		cli_error("key", "%s", bfs_err_str(&err, rc));
		goto out;
	}
	ret = EXIT_OK;
out:
	bfs_password_free(&pw);
	bfs_repo_close(r);
	return ret;
}

static int check_key(struct cli_ctx *ctx)
{
	const char *sub = ctx->argv[0];
	int want;

	if (!strcmp(sub, "list") || !strcmp(sub, "add") ||
	    !strcmp(sub, "passwd"))
		want = 1;
	else if (!strcmp(sub, "remove"))
		want = 2;
	else
		return cli_usage_error(&cmd_key,
				       "unknown subcommand '%s' (list, add, "
				       "remove, passwd)",
				       sub);
	if (ctx->argc < want)
		return cli_usage_error(&cmd_key, "key remove needs a KEY");
	if (ctx->argc > want)
		return cli_usage_error(&cmd_key, "unexpected argument '%s'",
				       ctx->argv[want]);
	return 0;
}

static const struct cli_opt key_opts[] = {
    CLI_STRING(0, "new-password-file", "FILE", struct key_args, new_file,
	       "add, passwd: the new password is the first line of FILE "
	       "(default: $BACKUPFS_NEW_PASSWORD_FILE, "
	       "$BACKUPFS_NEW_PASSWORD_COMMAND, $BACKUPFS_NEW_PASSWORD)"),
    CLI_STRING(0, "new-password-command", "CMD", struct key_args, new_command,
	       "add, passwd: the new password is the first line CMD (sh -c) "
	       "prints"),
    CLI_STRING(0, "label", "TEXT", struct key_args, label,
	       "add, passwd: a label shown by 'key list' (default: "
	       "user@host)"),
    CLI_FLAG(0, "force", struct key_args, force,
	     "remove: also remove the key the given password opens"),
    CLI_END};

const struct bfs_cmd cmd_key = {
    .name = "key",
    .run = run_key,
    .summary = "list, add, remove or change the passwords of an encrypted "
	       "repository",
    .synopsis = "backupfs key [OPTIONS] list|add|passwd\n"
		"       backupfs key [OPTIONS] remove KEY",
    .description =
	"An encrypted repository's data is sealed with random master keys;\n"
	"each key object (keys/ in the repository) holds them wrapped under\n"
	"one password (scrypt), so that several admins or hosts each have\n"
	"their own.  Every subcommand needs a current password\n"
	"(--password-file, --password-command, $BACKUPFS_PASSWORD...).\n"
	"\n"
	"  list     the key objects: name, created, scrypt parameters,\n"
	"           label; * marks the one the given password opens\n"
	"  add      a new key object for the new password\n"
	"  passwd   add a key object for the new password, then remove the\n"
	"           one the current password opens\n"
	"  remove   remove key object KEY (4 or more hex digits of its name)",
    .opts = key_opts,
    .notes = "remove refuses the last key object, and the one the given\n"
	     "password opens unless --force (open with another password to\n"
	     "remove it, or use passwd).  A removed password no longer opens\n"
	     "the repository, but whoever knew it may have kept the master\n"
	     "keys: to shut someone out for good, copy the backups into a\n"
	     "new repository.",
    .examples = "  BACKUPFS_PASSWORD_FILE=/etc/backupfs/pw backupfs key -r "
		"/srv/b list\n"
		"  backupfs key -r /srv/b --password-file pw "
		"--new-password-file pw2 add\n"
		"  backupfs key -r /srv/b --password-file pw2 remove 3f2a9c",
    .exit_codes = "0 ok, 1 error (wrong password, last key...), 2 usage "
		  "error.",
    .flags = CLI_REPO,
    .min_args = 1,
    .max_args = 2,
    .missing = "give a subcommand: list, add, remove or passwd",
    .args_size = sizeof(struct key_args),
    .check = check_key,
};
