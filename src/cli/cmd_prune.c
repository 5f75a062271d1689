/* cmd_prune.c - `backupfs prune`: delete and repack packs no backup
 * needs (whole or in part); src/prune.c does the work. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "src/prune.h"
#include "src/schedule.h"

struct prune_args {
	unsigned max_unused;
	bool dry_run, json;
	int64_t wait_ns, grace_ns;
};

static void prune_args_init(void *p)
{
	struct prune_args *a = p;

	a->max_unused = BFS_PRUNE_MAX_UNUSED_DEFAULT;
	a->grace_ns = BFS_PRUNE_GRACE_DEFAULT_NS;
}

enum { CB_WAIT, CB_GRACE };

/* --lock-wait D (alias --wait) and --grace D: durations (90s, 10m, 1h,
 * 2d; 0 for none). */
static int duration_cb(struct cli_ctx *ctx, const struct cli_opt *o,
		       const char *arg)
{
	struct prune_args *a = ctx->args;
	struct bfs_err err = {""};
	uint64_t secs = 0;

	if (strcmp(arg, "0") != 0 && bfs_duration_parse(arg, &secs, &err))
		return cli_usage_error(&cmd_prune, "--%s: %s", o->name,
				       bfs_err_str(&err, -EINVAL));
	if (o->id == CB_WAIT)
		a->wait_ns = (int64_t)secs * 1000000000;
	else
		a->grace_ns = (int64_t)secs * 1000000000;
	return 0;
}

static cJSON *count_json(const struct bfs_prune_count *c)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cli_json_add_uint(o, "packs", c->packs);
		cli_json_add_uint(o, "bytes", c->bytes);
	}
	return o;
}

static int print_json(const struct bfs_prune_stats *st, bool dry_run, int rc,
		      const struct bfs_err *err)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	cJSON_AddBoolToObject(o, "dry_run", dry_run);
	cJSON_AddBoolToObject(o, "ok", rc == 0);
	if (rc)
		cJSON_AddStringToObject(o, "error", bfs_err_str(err, rc));
	cli_json_add_uint(o, "backups", st->backups);
	cli_json_add_uint(o, "blobs", st->blobs);
	cli_json_add_uint(o, "blobs_live", st->blobs_live);
	cli_json_add_uint(o, "blobs_repacked", st->blobs_repacked);
	cli_json_add_uint(o, "blobs_dropped", st->blobs_dropped);
	cli_json_add_uint(o, "live_bytes", st->live_bytes);
	cJSON_AddItemToObject(o, "before", count_json(&st->before));
	cJSON_AddItemToObject(o, "deleted", count_json(&st->deleted));
	cJSON_AddItemToObject(o, "repacked", count_json(&st->repacked));
	cJSON_AddItemToObject(o, "written", count_json(&st->written));
	cJSON_AddItemToObject(o, "garbage", count_json(&st->garbage));
	cJSON_AddItemToObject(o, "kept", count_json(&st->kept));
	cJSON_AddItemToObject(o, "young", count_json(&st->young));
	cJSON_AddItemToObject(o, "after", count_json(&st->after));
	cli_json_add_uint(o, "index_deleted", st->index_deleted);
	cli_json_add_uint(o, "index_written", st->index_written);
	return cli_json_print(o);
}

static void line(const char *what, const struct bfs_prune_count *c)
{
	char b[32];

	bfs_fmt_bytes(b, sizeof(b), c->bytes);
	printf("  %-24s %6" PRIu64 " packs  %10s\n", what, c->packs, b);
}

static void print_text(const struct bfs_prune_stats *st, bool dry_run)
{
	char b[32];

	printf("%s%" PRIu64 " backups, %" PRIu64 " of %" PRIu64 " blobs in use",
	       dry_run ? "dry run: " : "", st->backups, st->blobs_live,
	       st->blobs);
	bfs_fmt_bytes(b, sizeof(b), st->live_bytes);
	printf(" (%s stored)\n", b);
	line("before:", &st->before);
	line(dry_run ? "would delete (unused):" : "deleted (unused):",
	     &st->deleted);
	line(dry_run ? "would repack:" : "repacked:", &st->repacked);
	line(dry_run ? "would write (about):" : "written (new):", &st->written);
	line(dry_run ? "would delete (garbage):" : "deleted (garbage):",
	     &st->garbage);
	line("kept:", &st->kept);
	if (st->young.packs)
		line("  of which young:", &st->young);
	line(dry_run ? "after (about):" : "after:", &st->after);
}

static int run_prune(struct cli_ctx *ctx)
{
	const struct prune_args *a = ctx->args;
	struct cli_common *c = &ctx->c;
	struct bfs_prune_opts o = {.max_unused_pct = a->max_unused,
				   .grace_ns = a->grace_ns,
				   .wait_ns = a->wait_ns,
				   .dry_run = a->dry_run};
	struct bfs_prune_stats st = {0};
	struct bfs_err err = {""};
	struct bfs_repo *r = NULL;
	int rc;

	rc = bfs_repo_open(c->repo, &c->sopts, &r, &err);
	if (rc) {
		cli_error("prune", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	rc = bfs_prune(r, &o, &st, &err);
	bfs_repo_close(r);
	if (a->json) {
		if (print_json(&st, a->dry_run, rc, &err))
			cli_error("prune", "out of memory");
	} else if (!rc && !c->quiet) {
		print_text(&st, a->dry_run);
	}
	if (!rc && st.young.packs && !c->quiet) {
		/* a first prune counts every pack as seen now: say why the
		 * space did not come back, and what to do */
		char g[32];

		snprintf(g, sizeof(g), "%.0f min", (double)a->grace_ns / 60e9);
		fprintf(stderr,
			"backupfs prune: %" PRIu64 " %s left alone because "
			"a prune first saw %s less than --grace (%s) ago (a "
			"first prune sees everything now): run prune again "
			"later, or with --grace 0 when no backup runs on "
			"another host\n",
			st.young.packs,
			st.young.packs == 1 ? "pack was" : "packs were",
			st.young.packs == 1 ? "it" : "them", g);
	}
	if (rc) {
		cli_error("prune", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	return EXIT_OK;
}

static const struct cli_opt prune_opts[] = {
    CLI_UINT(0, "max-unused", "PCT", struct prune_args, max_unused, 0, 100,
	     "--max-unused wants a percentage 0..100, not '%s'",
	     "repack a pack when more than PCT% of its bytes are unused "
	     "(default 10; 100: never repack, only delete)"),
    CLI_FLAG('n', "dry-run", struct prune_args, dry_run,
	     "say what would be deleted and repacked; change nothing"),
    CLI_OPT_JSON(struct prune_args, json,
		 "print the counts as a JSON object (packs and bytes before, "
		 "deleted, repacked, written, garbage, kept, young, after)"),
    CLI_CALLBACK(0, "lock-wait", "DURATION", duration_cb, CB_WAIT,
		 "when another process holds the repository lock, retry "
		 "for up to DURATION (e.g. 10m) instead of failing"),
    CLI_CALLBACK(0, "wait", "DURATION", duration_cb, CB_WAIT,
		 "the same as --lock-wait, which every command takes "
		 "(this name is prune's alone)"),
    CLI_CALLBACK(0, "grace", "DURATION", duration_cb, CB_GRACE,
		 "leave packs first seen less than DURATION ago alone "
		 "(default 1h; 0 for none)"),
    CLI_END};

const struct bfs_cmd cmd_prune = {
    .name = "prune",
    .run = run_prune,
    .summary = "free the space of data no backup needs any more",
    .synopsis = "backupfs prune -r REPO [--max-unused PCT] [--dry-run] "
		"[--json] [--lock-wait D] [--grace D]",
    .description =
	"Give back the space that forgotten backups used.  prune finds every\n"
	"blob (file chunk or directory tree) that a backup of the repository\n"
	"still reaches, then looks at each pack: a pack holding none of them\n"
	"is deleted; a pack of which more than --max-unused percent is unused\n"
	"is repacked: its blobs still in use are copied, compressed as they\n"
	"are, into new packs, and it is deleted.  Packs that no index object\n"
	"names (left by an interrupted backup) are deleted too.\n"
	"\n"
	"prune takes the repository's exclusive lock (--dry-run a shared\n"
	"one): it refuses while a backup, copy, forget, delete, check or\n"
	"import runs (naming it), unless --lock-wait is given.\n"
	"As a second line of defence it leaves alone packs it first saw less\n"
	"than --grace ago (a backup on another host whose lock went stale).\n"
	"It refuses to touch a damaged repository (a backup that does not\n"
	"parse, a blob no index names): run 'backupfs check' first.\n"
	"\n"
	"Safe to interrupt at any point: new packs and the index naming them\n"
	"are written before anything is deleted; run prune again to finish.\n"
	"Mounts go on reading: a mount that finds a pack gone looks the\n"
	"blob up again in the repository's index.",
    .opts = prune_opts,
    .notes = "The grace period is measured from the first time a prune saw\n"
	     "a pack's index object (or an unindexed pack), recorded under\n"
	     "prune/ in the repository: the first prune of a repository\n"
	     "therefore deletes nothing but what --grace 0 allows.",
    .examples =
	"  backupfs prune -r /var/backups/nocodb --dry-run\n"
	"  backupfs prune -r s3://acme-backups/nocodb --lock-wait 30m\n"
	"  backupfs prune -r /var/backups/nocodb --max-unused 25 --json",
    .exit_codes = "0 ok, 1 error (nothing or part done: run it again), 2 "
		  "usage error.",
    .flags = CLI_REPO,
    .max_args = 0,
    .args_size = sizeof(struct prune_args),
    .args_init = prune_args_init,
};
