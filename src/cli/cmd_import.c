/* cmd_import.c - `backupfs import DIR...`: backup folders made by the seed
 * tools become backups with their original ids and times (src/import.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "src/import.h"
#include "src/writer.h"

struct import_args {
	bool dry_run;
	struct cli_strv tags; /* freed by cli_run */
	const char *lock_wait;
	int64_t lock_wait_ns;
	unsigned threads;
};

static int check_import(struct cli_ctx *ctx)
{
	struct import_args *a = ctx->args;
	size_t i;

	for (i = 0; i < a->tags.n; i++)
		if (!a->tags.v[i][0])
			return cli_usage_error(ctx->cmd, "--tag: empty tag");
	return cli_parse_lock_wait(ctx->cmd, a->lock_wait, &a->lock_wait_ns);
}

static void print_plan(const struct bfs_import_plan *p, bool exists)
{
	char t[64];
	size_t i;

	cli_fmt_time(t, sizeof(t), p->time_ns, true);
	printf("%s -> backup %s (id from %s), time %s (from %s)%s\n",
	       cli_q(p->dir), cli_q(p->id), p->id_from, t, p->time_from,
	       exists ? ": exists, would be skipped" : "");
	for (i = 0; i < p->n; i++) {
		const struct bfs_import_item *it = &p->items[i];

		printf("  %-10s %s -> %s%s\n", bfs_import_op_name(it->op),
		       cli_q(it->src), cli_q(it->dest),
		       it->op == BFS_IMP_DIR || it->op == BFS_IMP_UNPACK ? "/"
									 : "");
	}
}

/* Import one folder.  Returns 0 (imported), 1 (skipped: the id exists)
 * or -1 (failed, printed). */
static int import_one(struct cli_ctx *ctx, struct bfs_index *idx,
		      struct bfs_lock *lock, const char **tags, const char *dir)
{
	struct import_args *a = ctx->args;
	struct bfs_import_plan *p = NULL;
	struct bfs_backup_info info = {0};
	struct bfs_backup_opts bo = {.threads = a->threads, .lock = lock};
	struct bfs_backup_stats st = {0};
	struct bfs_backup *b = NULL;
	struct bfs_err err = {""};
	char s1[32], s2[32];
	bool partial = false, exists;
	int rc;

	rc = bfs_import_plan(dir, &p, &err);
	if (rc < 0) {
		cli_error("import", "%s; not imported", bfs_err_str(&err, rc));
		return -1;
	}
	exists =
	    ctx->cat && !bfs_catalog_find_backup(ctx->cat, p->id, &info, &err);
	bfs_backup_info_clear(&info);
	if (a->dry_run) {
		print_plan(p, exists);
		bfs_import_plan_free(p);
		return exists ? 1 : 0;
	}
	bo.id = p->id;
	bo.time_ns = p->time_ns;
	bo.host = p->host;
	bo.tags = tags;
	rc = bfs_backup_begin(ctx->repo, idx, &bo, &b, &err);
	if (rc == -EEXIST) {
		if (!ctx->c.quiet)
			printf("skipping %s: backup '%s' already exists\n",
			       cli_q(dir), cli_q(p->id));
		bfs_import_plan_free(p);
		return 1;
	}
	if (!rc)
		rc = bfs_import_run(b, p, &err);
	if (rc < 0) {
		bfs_backup_abort(b);
		cli_error("import", "%s: %s; not imported", dir,
			  bfs_err_str(&err, rc));
		bfs_import_plan_free(p);
		return -1;
	}
	rc = bfs_backup_commit(b, &st, &partial, &err);
	if (rc < 0) {
		cli_error("import", "%s: cannot write backup '%s': %s", dir,
			  p->id, bfs_err_str(&err, rc));
		bfs_import_plan_free(p);
		return -1;
	}
	bfs_fmt_bytes(s1, sizeof(s1), st.bytes);
	bfs_fmt_bytes(s2, sizeof(s2), st.stored_bytes);
	if (!ctx->c.quiet)
		printf("imported %s as backup '%s': %llu files, %s, %s "
		       "stored\n",
		       cli_q(dir), cli_q(p->id), (unsigned long long)st.files,
		       s1, s2);
	bfs_import_plan_free(p);
	return 0;
}

static int run_import(struct cli_ctx *ctx)
{
	struct import_args *a = ctx->args;
	struct bfs_index *idx = NULL;
	struct bfs_lock *lock = NULL;
	const char **tags = NULL;
	unsigned failed = 0, skipped = 0, done = 0;
	size_t i;
	int rc;

	tags = calloc(a->tags.n + 2, sizeof(*tags));
	if (!tags) {
		cli_error("import", "out of memory");
		return EXIT_ERR;
	}
	tags[0] = "imported";
	for (i = 0; i < a->tags.n; i++)
		tags[i + 1] = a->tags.v[i];
	/* as backup: the lock before the first write, the catalog synced
	 * under it (dedup must see what a prune removed) */
	if (!a->dry_run) {
		rc = cli_lock(&ctx->c, ctx->repo, BFS_LOCK_SHARED,
			      a->lock_wait_ns, &lock);
		if (rc)
			goto out;
	}
	rc = ctx->cat ? cli_sync(&ctx->c, ctx->cat, ctx->repo) : 0;
	if (rc)
		goto out;
	if (!a->dry_run && ctx->cat &&
	    bfs_catalog_index_new(ctx->cat, ctx->repo, &idx) < 0) {
		cli_error("import", "out of memory");
		rc = EXIT_ERR;
		goto out;
	}
	/* one index for all folders: each commit records its blobs in it,
	 * so the later folders deduplicate against the earlier ones */
	for (i = 0; i < (size_t)ctx->argc; i++) {
		rc = import_one(ctx, idx, lock, tags, ctx->argv[i]);
		if (rc < 0)
			failed++;
		else if (rc > 0)
			skipped++;
		else
			done++;
	}
	if (!ctx->c.quiet && ctx->argc > 1)
		fprintf(stderr, "%s: %u %s, %u skipped, %u failed\n",
			a->dry_run ? "dry run" : "import", done,
			a->dry_run ? "to import" : "imported", skipped, failed);
	rc = failed ? EXIT_ERR : EXIT_OK;
out:
	bfs_index_free(idx);
	bfs_lock_release(lock);
	free(tags);
	return rc;
}

static const struct cli_opt import_opts[] = {
    CLI_FLAG('n', "dry-run", struct import_args, dry_run,
	     "print what each folder would become (id, time, and source "
	     "file -> path in the backup) and write nothing"),
    CLI_STRINGS(0, "tag", "TAG", struct import_args, tags,
		"tag the imported backups with TAG as well as 'imported' "
		"(repeatable)"),
    CLI_OPT_LOCK_WAIT(struct import_args, lock_wait),
    CLI_UINT(0, "threads", "N", struct import_args, threads, 1, 1024,
	     "--threads '%s': expected 1..1024",
	     "compression threads (default: CPUs)"),
    CLI_END};

const struct bfs_cmd cmd_import = {
    .name = "import",
    .run = run_import,
    .summary = "turn backup folders of the seed tools into backups",
    .synopsis = "backupfs import [-r REPO] [--dry-run] [--tag TAG]... DIR...",
    .description =
	"Make each DIR, a backup folder made by the seed tools (the NocoDB\n"
	"backup container, or any folder of dumps, archives and files), one\n"
	"backup with its original id and time, tagged 'imported'.  What\n"
	"goes where:\n"
	"  NAME.sql.gz, .sql.zst, .sql.xz, .sql.bz2  NAME.sql, decompressed\n"
	"  NAME.tar.gz, .tgz, .tar.zst, .tzst, .tar.xz, .txz, .tar.bz2,\n"
	"  .tbz2, .tbz, .tar            NAME/, unpacked\n"
	"  bases/**/records.json[.gz]   records.jsonl beside it: the JSON\n"
	"                               array split into one record a line\n"
	"  bases/**/NAME.json.gz        NAME.json, decompressed\n"
	"  anything else                as it is (manifest.json included)\n"
	"Compressed files are streamed into the backup (no temporary files);\n"
	"imported backups deduplicate against each other and everything in\n"
	"the repository.\n"
	"\n"
	"The id is the manifest.json's \"id\" (or \"backup_id\"), else the\n"
	"folder's name when it holds a time, else the time as YYYY-MM-DD_\n"
	"HH-MM-SS (UTC).  The time is the manifest.json's \"time\" (or\n"
	"\"timestamp\", \"created_at\", \"date\", \"started_at\"; RFC 3339 or\n"
	"Unix seconds/milliseconds), else the time in the folder's name\n"
	"(2026-11-20_05-15-00, 20261120T051500Z, 2026-11-20; UTC), else the\n"
	"folder's mtime.  A folder whose id exists already is skipped with\n"
	"a message, never overwritten: importing again is safe.",
    .opts = import_opts,
    .notes =
	"Hostile folders are refused, not half imported: a corrupt or\n"
	"truncated compressed file, an archive with an absolute or '..'\n"
	"entry, a records file that is not JSON, a manifest.json that is\n"
	"not a JSON object, has a key of the wrong type or is over 1 MiB,\n"
	"two files that would land on one path.  The message names the\n"
	"file; that folder's backup is discarded and the other folders are\n"
	"still imported.",
    .examples = "  backupfs import -r /srv/backups/nocodb --dry-run "
		"/old/backups/*/\n"
		"  backupfs import -r /srv/backups/nocodb --tag seed "
		"/old/backups/*/",
    .exit_codes = "0 every folder imported or skipped (id exists), 1 some\n"
		  "folder failed (the others were imported), 2 usage error.",
    .flags = CLI_OPEN | CLI_COMPACT, /* synced by run_import, under its lock */
    .min_args = 1,
    .max_args = -1,
    .missing = "no folder to import given (DIR...)",
    .args_size = sizeof(struct import_args),
    .check = check_import,
};
