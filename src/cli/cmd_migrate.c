/* cmd_migrate.c - `backupfs migrate -r REPO`: convert a format-1, -2,
 * -3 or -4 repository to format 5 in place (src/migrate.c does the
 * work). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "src/migrate.h"

struct migrate_args {
	unsigned threads;
	const char *lock_wait;
	int64_t lock_wait_ns; /* parsed by check_migrate */
};

static int check_migrate(struct cli_ctx *ctx)
{
	struct migrate_args *a = ctx->args;

	return cli_parse_lock_wait(&cmd_migrate, a->lock_wait,
				   &a->lock_wait_ns);
}

static void on_progress(void *arg, enum bfs_migrate_event ev, const char *id,
			uint64_t n, uint64_t bytes)
{
	const bool *quiet = arg;
	char b[32];

	if (*quiet)
		return;
	switch (ev) {
	case BFS_MIGRATE_INDEX:
		bfs_fmt_bytes(b, sizeof(b), bytes);
		fprintf(stderr, "indexed %llu packs (index object of %s)\n",
			(unsigned long long)n, b);
		break;
	case BFS_MIGRATE_BACKUP:
		fprintf(stderr,
			"converted backup '%s': %llu entries, verified\n",
			cli_q(id), (unsigned long long)n);
		break;
	case BFS_MIGRATE_VERIFIED:
		fprintf(stderr,
			"verified backup '%s' (converted by an interrupted "
			"run): %llu entries\n",
			cli_q(id), (unsigned long long)n);
		break;
	case BFS_MIGRATE_SKIP:
		fprintf(stderr, "backup '%s' is format 2 already\n", cli_q(id));
		break;
	case BFS_MIGRATE_CONFIG:
		fprintf(stderr, "the repository is format %llu now\n",
			(unsigned long long)n);
		break;
	}
}

static int run_migrate(struct cli_ctx *ctx)
{
	const struct migrate_args *a = ctx->args;
	struct cli_common *c = &ctx->c;
	struct bfs_migrate_opts o = {.threads = a->threads,
				     .lock_wait_ns = a->lock_wait_ns,
				     .progress = on_progress,
				     .progress_arg = &c->quiet};
	struct bfs_migrate_stats st = {0};
	struct bfs_err err = {""};
	char b[32];
	int rc;

	rc = bfs_migrate(c->repo, &c->sopts, &o, &st, &err);
	if (!rc && st.already) {
		if (!c->quiet)
			printf("'%s' is format %d already: nothing to do\n",
			       cli_q(c->repo), BFS_FORMAT_VERSION);
		return EXIT_OK;
	}
	if (rc && !st.from_version) {
		/* not opened: no format to speak of */
		cli_error("migrate", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	if (st.from_version >= 2 && st.from_version <= 4) {
		if (rc) {
			cli_error("migrate", "%s", bfs_err_str(&err, rc));
			if (st.config_put)
				cli_error("migrate",
					  "the config was written but not "
					  "verified: run 'backupfs migrate' "
					  "again");
			else
				cli_error("migrate",
					  "the repository is still format %d",
					  st.from_version);
			return EXIT_ERR;
		}
		if (!c->quiet)
			printf("'%s' is format %d now (was %d; no object but "
			       "the config changed)\n",
			       cli_q(c->repo), BFS_FORMAT_VERSION,
			       st.from_version);
		return EXIT_OK;
	}
	bfs_fmt_bytes(b, sizeof(b), st.bytes_added);
	if (!c->quiet || rc)
		printf("%u backups converted, %u verified, %u already format "
		       "2; %llu index objects written (%llu packs); %s "
		       "added\n",
		       st.backups_converted, st.backups_verified,
		       st.backups_skipped, (unsigned long long)st.index_written,
		       (unsigned long long)st.packs_indexed, b);
	if (rc) {
		cli_error("migrate", "%s", bfs_err_str(&err, rc));
		if (st.config_put)
			cli_error("migrate", "the config was written but not "
					     "verified: run 'backupfs migrate' "
					     "again");
		else
			cli_error("migrate",
				  "the repository is still format 1; what was "
				  "done stays: run 'backupfs migrate' again "
				  "once the cause is fixed");
		return EXIT_ERR;
	}
	return EXIT_OK;
}

static const struct cli_opt migrate_opts[] = {
    CLI_OPT_LOCK_WAIT(struct migrate_args, lock_wait),
    CLI_UINT(0, "threads", "N", struct migrate_args, threads, 1, 1024,
	     "--threads wants 1..1024, not '%s'",
	     "writer threads (default: CPUs)"),
    CLI_END};

const struct bfs_cmd cmd_migrate = {
    .name = "migrate",
    .run = run_migrate,
    .summary = "convert a repository of format 1, 2, 3 or 4 to format 5, "
	       "in place",
    .synopsis = "backupfs migrate -r REPO [OPTIONS]",
    .description =
	"Convert a repository written by an older backupfs to format 5, in\n"
	"place.\n"
	"\n"
	"Formats 2, 3 and 4 (this release still reads and writes them, each\n"
	"as it is): format 3 adds delta frames for dumps (a new chunk of a\n"
	"dump stored against a similar earlier chunk), format 4 delta frames\n"
	"for directory trees (a changed directory's new tree part stored\n"
	"against its previous version), format 5 delta frames on several\n"
	"bases (a chunk of a dump whose rows moved stored against two or\n"
	"more earlier chunks).  Backups into an older repository write none\n"
	"of what its format lacks, so that the backupfs that made it can\n"
	"still read it.  Migrate checks that no earlier migration was left\n"
	"unfinished and rewrites the config with \"version\": 5, in one\n"
	"put; no other object changes.  A backupfs older than this release\n"
	"refuses the repository afterwards (\"unsupported repository format\n"
	"version 5\").\n"
	"\n"
	"Format 1 (one manifest lists every file of a backup; other commands\n"
	"refuse it until this has run) becomes format 5 with directory trees\n"
	"stored once and shared between backups.\n"
	"\n"
	"First every pack gets an entry in an index object.  Then each backup\n"
	"is written again from its old manifest, with the same id, time, tags\n"
	"and files; its data chunks stay where they are, only its trees are\n"
	"new.  The old manifest is kept aside (migrate/ID) until the new\n"
	"trees have been read back and every entry compared with it; if one\n"
	"differs, the old manifest is put back and migrate stops with an\n"
	"error.  Last, the config says version 5.\n"
	"\n"
	"Safe to interrupt: run it again and it continues where it stopped,\n"
	"verifying a backup that was converted but not yet checked.  On a\n"
	"format-5 repository it does nothing.  It holds an exclusive lock on\n"
	"the repository while it works (see 'backupfs unlock'); do not run\n"
	"an older backupfs, which knows no locks, against it meanwhile.",
    .opts = migrate_opts,
    .notes = "The statistics of a converted backup (new chunks, stored\n"
	     "bytes, duration) are those of the conversion.",
    .examples = "  backupfs migrate -r /var/backups/nocodb\n"
		"  backupfs migrate -r s3://acme-backups/nocodb",
    .exit_codes = "0 ok (also: nothing to do), 1 error, 2 usage error.",
    .flags = CLI_REPO, /* the repository is opened by bfs_migrate */
    .max_args = 0,
    .args_size = sizeof(struct migrate_args),
    .check = check_migrate,
};
