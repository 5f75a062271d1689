/* cmd_nocodb.c - `backupfs nocodb restore-schema|restore-records|
 * restore-attachments ID [URL]`: put a backup's NocoDB export (bases/)
 * back into a running NocoDB (src/restore_nocodb.c does the work).
 *
 * Every run first makes a plan (GET requests only) and prints it; then,
 * unless --dry-run, asks on the terminal (or takes --force) and does it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "src/restore_nocodb.h"
#include "src/source.h"

struct nocodb_args {
	const char *url;
	const char *token_file;
	const char *from;
	const char *base;
	const char *table;
	bool skip_existing;
	bool with_attachments;
	bool force;
	bool dry_run;
};

static const char *const actions[] = {"restore-schema", "restore-records",
				      "restore-attachments"};

static int action_of(const char *s)
{
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(actions); i++)
		if (!strcmp(s, actions[i]))
			return (int)i;
	return -1;
}

static int check_nocodb(struct cli_ctx *ctx)
{
	const struct nocodb_args *a = ctx->args;
	int act = action_of(ctx->argv[0]);

	if (act < 0)
		return cli_usage_error(&cmd_nocodb,
				       "unknown action '%s' (restore-schema, "
				       "restore-records or "
				       "restore-attachments)",
				       ctx->argv[0]);
	if (ctx->argc < 2)
		return cli_usage_error(&cmd_nocodb, "missing the backup ID");
	if (!a->url && ctx->argc < 3)
		return cli_usage_error(&cmd_nocodb,
				       "missing the NocoDB URL (argument or "
				       "--nocodb URL)");
	if (a->url && ctx->argc > 2)
		return cli_usage_error(&cmd_nocodb,
				       "the NocoDB URL is given twice "
				       "('%s' and --nocodb)",
				       ctx->argv[2]);
	if (a->skip_existing && act != BFS_NCR_SCHEMA)
		return cli_usage_error(&cmd_nocodb, "--skip-existing goes with "
						    "restore-schema");
	if (a->with_attachments && act != BFS_NCR_RECORDS)
		return cli_usage_error(&cmd_nocodb,
				       "--with-attachments goes with "
				       "restore-records");
	return 0;
}

static void say(void *arg, const char *line)
{
	const char *prefix = arg;

	printf("%s%s\n", prefix, cli_q(line));
	fflush(stdout);
}

/* Ask on the terminal; true for "y" or "yes". */
static bool confirm(const char *what, const char *url)
{
	char line[64], *shown = bfs_url_shown(url);

	fprintf(stderr, "%s into NocoDB at %s: go ahead? [y/N] ", what,
		cli_q(shown ? shown : "(out of memory)"));
	free(shown);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return !strcasecmp(line, "y") || !strcasecmp(line, "yes");
}

static void print_stats(enum bfs_ncr_mode m, const struct bfs_ncr_stats *s,
			bool plan)
{
	const char *w = plan ? "would be " : "";

	if (m == BFS_NCR_SCHEMA)
		printf("%s%llu bases and %llu tables %screated, %llu tables "
		       "skipped, %llu columns to recreate by hand\n",
		       plan ? "dry run: " : "", (unsigned long long)s->bases,
		       (unsigned long long)s->tables, w,
		       (unsigned long long)s->skipped,
		       (unsigned long long)s->manual);
	else if (plan)
		printf("dry run: %llu tables would be restored\n",
		       (unsigned long long)s->tables);
	else
		printf("%llu records %s, %llu attachments (%llu bytes) "
		       "uploaded, in %llu tables\n",
		       (unsigned long long)s->records,
		       m == BFS_NCR_RECORDS ? "inserted" : "updated",
		       (unsigned long long)s->attachments,
		       (unsigned long long)s->bytes,
		       (unsigned long long)s->tables);
}

static int run_nocodb(struct cli_ctx *ctx)
{
	const struct nocodb_args *a = ctx->args;
	enum bfs_ncr_mode mode = (enum bfs_ncr_mode)action_of(ctx->argv[0]);
	const char *url = a->url ? a->url : ctx->argv[2];
	struct bfs_ncr_opts o = {
	    .mode = mode,
	    .from = a->from,
	    .base = a->base,
	    .table = a->table,
	    .skip_existing = a->skip_existing,
	    .with_attachments = a->with_attachments,
	    .plan = true,
	    .say = say,
	};
	struct bfs_backup_info info;
	struct bfs_ncr_stats st;
	struct bfs_err err = {""};
	struct nc_http *h = NULL;
	char *token = NULL;
	bool have_info = false;
	int rc;

	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		cli_error("nocodb", "'%s' is not an http:// or https:// URL",
			  url);
		return EXIT_USAGE;
	}
	memset(&info, 0, sizeof(info));
	rc = bfs_nocodb_token(a->token_file, &token, &err);
	if (rc) {
		cli_error("nocodb", "%s", bfs_err_str(&err, rc));
		rc = rc == -ENOKEY ? EXIT_USAGE : EXIT_ERR;
		goto out;
	}
	rc = cli_find_backup(&ctx->c, ctx->cat, ctx->argv[1], &info);
	if (rc)
		goto out;
	have_info = true;
	rc = nc_http_new(url, token, &h, &err);
	if (rc)
		goto fail;
	o.arg = a->dry_run ? "" : "plan: ";
	rc = bfs_nocodb_restore(ctx->repo, ctx->cat, info.root, h, &o, &st,
				&err);
	if (rc)
		goto fail;
	if (a->dry_run) {
		print_stats(mode, &st, true);
		printf("dry run: nothing was changed in NocoDB\n");
		rc = EXIT_OK;
		goto out;
	}
	if (!a->force) {
		if (!isatty(STDIN_FILENO)) {
			char *shown = bfs_url_shown(url);

			cli_error("nocodb",
				  "%s would change NocoDB at %s: not asking "
				  "without a terminal; give --force (or "
				  "--dry-run to see the plan)",
				  actions[mode],
				  shown ? shown : "(out of memory)");
			free(shown);
			rc = EXIT_ERR;
			goto out;
		}
		if (!confirm(actions[mode], url)) {
			fprintf(stderr, "backupfs nocodb: nothing done\n");
			rc = EXIT_ERR;
			goto out;
		}
	}
	o.plan = false;
	o.arg = "";
	rc = bfs_nocodb_restore(ctx->repo, ctx->cat, info.root, h, &o, &st,
				&err);
	if (rc)
		goto fail;
	print_stats(mode, &st, false);
	rc = EXIT_OK;
	goto out;
fail:
	cli_error("nocodb", "%s", bfs_err_str(&err, rc));
	rc = EXIT_ERR;
out:
	nc_http_free(h);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (have_info)
		bfs_backup_info_clear(&info);
	return rc;
}

static const struct cli_opt nocodb_opts[] = {
    CLI_STRING(0, "nocodb", "URL", struct nocodb_args, url,
	       "the NocoDB to restore into (instead of the URL argument)"),
    CLI_STRING(0, "nocodb-token-file", "FILE", struct nocodb_args, token_file,
	       "read the API token from FILE (one line, owned by you, mode "
	       "0600) instead of NOCODB_API_TOKEN"),
    CLI_STRING(0, "base", "B", struct nocodb_args, base,
	       "only the base titled B (or whose directory in the backup "
	       "is B)"),
    CLI_STRING(0, "table", "T", struct nocodb_args, table,
	       "only the tables titled T (or whose directory is T)"),
    CLI_STRING(0, "from", "DIR", struct nocodb_args, from,
	       "the export's directory in the backup (default: bases; "
	       "--nocodb DEST=URL at backup time)"),
    CLI_FLAG(0, "skip-existing", struct nocodb_args, skip_existing,
	     "restore-schema: leave tables NocoDB has already alone (else "
	     "one is an error, before anything is created)"),
    CLI_FLAG(0, "with-attachments", struct nocodb_args, with_attachments,
	     "restore-records: upload the attachments of the backup again "
	     "and link them in the new records"),
    CLI_FLAG(0, "force", struct nocodb_args, force,
	     "do not ask for confirmation (needed without a terminal)"),
    CLI_FLAG('n', "dry-run", struct nocodb_args, dry_run,
	     "print what would be done; change nothing (GET requests only)"),
    CLI_OPT_NO_SYNC,
    CLI_END};

const struct bfs_cmd cmd_nocodb = {
    .name = "nocodb",
    .run = run_nocodb,
    .summary = "restore a NocoDB export into a running NocoDB",
    .synopsis = "backupfs nocodb restore-schema|restore-records|"
		"restore-attachments\n"
		"       [-r REPO] [OPTIONS] ID [URL]",
    .description =
	"Put the NocoDB export of backup ID (bases/, made by backup\n"
	"--nocodb) back into the NocoDB at URL, through its REST API.  The\n"
	"API token comes from NOCODB_API_TOKEN or --nocodb-token-file, never\n"
	"from the command line.  Bases and tables are matched by title.\n"
	"  restore-schema       create the bases and tables with their\n"
	"                       physical columns (types, select options,\n"
	"                       precision, currency, date formats, ...).\n"
	"                       Virtual columns (links, lookups, rollups,\n"
	"                       formulas, ...) are listed: recreate them by\n"
	"                       hand.  A base that exists is used; a table\n"
	"                       that exists is an error (--skip-existing).\n"
	"  restore-records      insert the records of records.jsonl in\n"
	"                       batches of 100, without the fields NocoDB\n"
	"                       makes (Id, CreatedAt, ...) or computes;\n"
	"                       the records get new ids.  Attachments only\n"
	"                       with --with-attachments (uploaded again).\n"
	"  restore-attachments  upload the attachments again for the\n"
	"                       records that exist (same primary key) and\n"
	"                       set their attachment fields.\n"
	"Each run prints its plan first; then it asks on the terminal\n"
	"unless --force.  Without a terminal and without --force it\n"
	"refuses.  --dry-run prints the plan only.",
    .opts = nocodb_opts,
    .examples = "  export NOCODB_API_TOKEN=...   # or --nocodb-token-file\n"
		"  backupfs nocodb restore-schema --dry-run latest "
		"http://127.0.0.1:8080\n"
		"  backupfs nocodb restore-records --table Orders --force \\\n"
		"      --with-attachments latest http://127.0.0.1:8080",
    .exit_codes = "0 ok (or dry run), 1 error (nothing confirmed, NocoDB\n"
		  "refused or failed: the message names base, table and\n"
		  "batch), 2 usage error.",
    .flags = CLI_OPEN | CLI_SYNC,
    .min_args = 1,
    .max_args = 3,
    .missing = "missing the action (restore-schema, restore-records or "
	       "restore-attachments)",
    .args_size = sizeof(struct nocodb_args),
    .check = check_nocodb,
};
