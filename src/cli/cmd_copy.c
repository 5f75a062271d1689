/* cmd_copy.c - `backupfs copy --from REPO --to REPO [ID...]`: copy backups
 * between repositories, incrementally (src/copy.c does the work). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "src/copy.h"
#include "src/log.h"

struct copy_args {
	const char *from, *to, *lock_wait;
	const char *to_pw_file, *to_pw_command; /* the target's password */
	int64_t lock_wait_ns;			/* parsed by check_copy */
	bool delete_source, no_sync, same_id, verify;
	unsigned jobs;
};

struct progress {
	bool quiet;
	bool tty;
	uint64_t bytes;
};

static void on_progress(void *arg, enum bfs_copy_event ev, const char *id,
			const char *key, uint64_t n, uint64_t bytes)
{
	struct progress *p = arg;
	char b[32];

	if (p->quiet)
		return;
	switch (ev) {
	case BFS_COPY_BACKUP_START:
		fprintf(stderr, "copying backup '%s' (%llu packs needed)\n",
			cli_q(id), (unsigned long long)n);
		p->bytes = 0;
		break;
	case BFS_COPY_PACK:
		p->bytes += bytes;
		if (p->tty) {
			bfs_fmt_bytes(b, sizeof(b), p->bytes);
			fprintf(stderr, "\r  %llu packs, %s copied   ",
				(unsigned long long)n, b);
		} else if (bfs_log_level() >= LOG_INFO) {
			bfs_fmt_bytes(b, sizeof(b), bytes);
			fprintf(stderr, "  copied %s (%s)\n", cli_q(key), b);
		}
		break;
	case BFS_COPY_BACKUP_DONE:
		if (p->tty && n)
			fputc('\n', stderr);
		bfs_fmt_bytes(b, sizeof(b), p->bytes);
		fprintf(stderr, "copied backup '%s': %llu new packs, %s\n",
			cli_q(id), (unsigned long long)n, b);
		break;
	case BFS_COPY_BACKUP_SKIP:
		fprintf(stderr, "backup '%s' is already in the target\n",
			cli_q(id));
		break;
	case BFS_COPY_REWRITE_START:
		fprintf(stderr,
			"writing backup '%s' again in the target (its blob "
			"ids differ)\n",
			cli_q(id));
		break;
	case BFS_COPY_REWRITE_DONE:
		bfs_fmt_bytes(b, sizeof(b), bytes);
		fprintf(stderr,
			"copied backup '%s': %s new in packs, checked\n",
			cli_q(id), b);
		break;
	case BFS_COPY_SOURCE_DELETED:
		fprintf(stderr, "deleted backup '%s' from the source\n",
			cli_q(id));
		break;
	}
}

/* Bring repo's default catalog up to date (best effort: the catalog is a
 * cache; a failure is a warning). */
static void sync_catalog(struct bfs_repo *repo, const char *what)
{
	struct bfs_err err = {""};
	struct bfs_catalog *cat = NULL;
	char *path = NULL;
	int rc;

	rc = bfs_catalog_default_path(repo, &path, &err);
	if (!rc)
		rc = bfs_catalog_open(path, repo->id, false, &cat, &err);
	if (!rc)
		rc = bfs_catalog_sync(cat, repo, NULL, &err);
	if (rc)
		cli_error("copy",
			  "warning: cannot sync the catalog of the %s: %s",
			  what, bfs_err_str(&err, rc));
	bfs_catalog_close(cat);
	free(path);
}

/* "latest" among the IDs: the newest backup of the source (by its time,
 * then its id), found in the source's catalog (--catalog, or its default
 * one) brought up to date first.  name gets its id. */
static int find_latest(struct cli_common *c, struct bfs_repo *src,
		       char name[sizeof(((struct bfs_backup_info *)0)->name)])
{
	struct bfs_backup_info info;
	struct bfs_err err = {""};
	struct bfs_catalog *cat = NULL;
	int rc;

	memset(&info, 0, sizeof(info));
	if (cli_open_catalog(c, src, &cat) || cli_sync(c, cat, src)) {
		bfs_catalog_close(cat);
		return EXIT_ERR;
	}
	rc = bfs_catalog_find_backup(cat, "latest", &info, &err);
	if (rc == -ENOENT)
		cli_error("copy", "no backups in '%s': nothing is 'latest'",
			  src->store->url);
	else if (rc)
		cli_error("copy", "cannot find the latest backup of '%s': %s",
			  src->store->url, bfs_err_str(&err, rc));
	else
		snprintf(name, sizeof(info.name), "%s", info.name);
	bfs_backup_info_clear(&info);
	bfs_catalog_close(cat);
	return rc ? EXIT_ERR : 0;
}

/* -r REPO works as --from; the IDs are checked before anything opens. */
static int check_copy(struct cli_ctx *ctx)
{
	struct copy_args *a = ctx->args;
	int i;

	if (!a->from)
		a->from = ctx->c.repo;
	if (!a->from || !*a->from)
		return cli_usage_error(&cmd_copy, "missing --from REPO");
	if (!a->to || !*a->to)
		return cli_usage_error(&cmd_copy, "missing --to REPO");
	if (strcmp(a->from, a->to) == 0)
		return cli_usage_error(
		    &cmd_copy, "--from and --to are the same repository");
	if (cli_parse_lock_wait(&cmd_copy, a->lock_wait, &a->lock_wait_ns))
		return EXIT_USAGE;
	for (i = 0; i < ctx->argc; i++)
		if (strcmp(ctx->argv[i], "latest") != 0 &&
		    !bfs_backup_id_valid(ctx->argv[i]))
			return cli_usage_error(
			    &cmd_copy, "invalid backup id '%s'", ctx->argv[i]);
	ctx->c.repo = a->from;
	return 0;
}

static int run_copy(struct cli_ctx *ctx)
{
	const struct copy_args *a = ctx->args;
	struct cli_common *c = &ctx->c;
	struct bfs_err err = {""};
	struct bfs_copy_opts co = {.delete_source = a->delete_source,
				   .jobs = a->jobs,
				   .verify = a->verify};
	struct bfs_store_opts to_sopts = c->sopts;
	struct bfs_copy_stats st = {0};
	struct bfs_repo *src = NULL, *dst = NULL;
	struct progress pr = {0};
	const char *from = a->from, *to = a->to;
	bool created = false, sync = !a->no_sync, same_id = a->same_id;
	char b[32], latest[sizeof(((struct bfs_backup_info *)0)->name)] = "";
	const char **ids = NULL;
	int rc, i;

	pr.quiet = c->quiet;
	pr.tty = isatty(STDERR_FILENO);
	co.progress = on_progress;
	co.progress_arg = &pr;

	rc = bfs_repo_open(from, &c->sopts, &src, &err);
	if (rc) {
		cli_error("copy", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	ids = calloc((size_t)ctx->argc + 1, sizeof(*ids));
	if (!ids) {
		cli_error("copy", "out of memory");
		rc = EXIT_ERR;
		goto out_close;
	}
	for (i = 0; i < ctx->argc; i++) {
		const char *id = ctx->argv[i];
		size_t k;

		if (strcmp(id, "latest") == 0) {
			if (!latest[0]) {
				rc = find_latest(c, src, latest);
				if (rc)
					goto out_close;
			}
			id = latest;
		}
		/* once each ("latest" may also be named by its id) */
		for (k = 0; k < co.nids && strcmp(ids[k], id) != 0; k++)
			;
		if (k == co.nids)
			ids[co.nids++] = id;
	}
	co.ids = ids;
	err.msg[0] = '\0';
	if (a->to_pw_file || a->to_pw_command) {
		to_sopts.password_file = a->to_pw_file;
		to_sopts.password_command = a->to_pw_command;
		to_sopts.target_password = true;
	}
	rc = bfs_copy_open_target(src, to, &to_sopts, same_id, &dst, &created,
				  &err);
	if (rc) {
		cli_error("copy", "cannot open the target '%s': %s", to,
			  bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_close;
	}
	if (created && !c->quiet)
		fprintf(stderr,
			"initialised '%s' with the settings of '%s' "
			"(chunking, compression%s)\n",
			to, from,
			same_id ? ", repository id" : "; a new repository id");
	/* a shared lock on the target (prune there must wait); on the
	 * source only when its manifests are deleted */
	rc = cli_lock(c, dst, BFS_LOCK_SHARED, a->lock_wait_ns, &co.lock);
	if (rc == 0 && co.delete_source)
		rc = cli_lock(c, src, BFS_LOCK_SHARED, a->lock_wait_ns,
			      &co.src_lock);
	if (rc)
		goto out_unlock;
	err.msg[0] = '\0';
	rc = bfs_copy(src, dst, &co, &st, &err);
	bfs_fmt_bytes(b, sizeof(b), st.bytes_copied);
	if (!c->quiet || rc)
		printf("%u backups copied%s, %u already present%s; "
		       "%llu packs, %s copied\n",
		       st.backups_copied,
		       st.backups_rewritten ? " (written again)" : "",
		       st.backups_skipped,
		       co.delete_source
			   ? (st.sources_deleted ? ", deleted from the source"
						 : "")
			   : "",
		       (unsigned long long)st.packs_copied, b);
	if (rc) {
		cli_error("copy", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
	} else {
		rc = EXIT_OK;
	}
	if (sync) {
		if (st.backups_copied)
			sync_catalog(dst, "target");
		if (st.sources_deleted)
			sync_catalog(src, "source");
	}
out_unlock:
	bfs_lock_release(co.src_lock);
	bfs_lock_release(co.lock);
out_close:
	bfs_repo_close(dst);
	bfs_repo_close(src);
	free(ids);
	return rc;
}

static const struct cli_opt copy_opts[] = {
    CLI_STRING(0, "from", "REPO", struct copy_args, from,
	       "source repository (or -r REPO)"),
    CLI_STRING(0, "to", "REPO", struct copy_args, to, "target repository"),
    CLI_FLAG(0, "delete-source", struct copy_args, delete_source,
	     "after a backup is safely in the target, delete it from the "
	     "source (its manifest; the packs stay until a prune)"),
    CLI_OPT_LOCK_WAIT(struct copy_args, lock_wait),
    CLI_UINT(0, "jobs", "N", struct copy_args, jobs, 1, 32,
	     "--jobs wants 1..32, not '%s'",
	     "parallel pack transfers (default 4)"),
    CLI_STRING(0, "to-password-file", "FILE", struct copy_args, to_pw_file,
	       "the target's password, first line of FILE (default: the "
	       "source's password sources)"),
    CLI_STRING(0, "to-password-command", "CMD", struct copy_args, to_pw_command,
	       "the target's password, printed by CMD"),
    CLI_FLAG(0, "verify", struct copy_args, verify,
	     "when backups are written again (blob ids differ), read every "
	     "chunk back from the target and compare each file's content"),
    CLI_FLAG(0, "no-sync", struct copy_args, no_sync,
	     "do not update the catalogs afterwards"),
    CLI_FLAG(0, "same-id", struct copy_args, same_id,
	     "give a new target the source's repository id too (each "
	     "location still gets its own default catalog)"),
    CLI_END};

const struct bfs_cmd cmd_copy = {
    .name = "copy",
    .run = run_copy,
    .summary = "copy backups to another repository (local, S3)",
    .synopsis = "backupfs copy --from REPO --to REPO [OPTIONS] [ID...]",
    .description =
	"Copy backups from one repository to another: local to S3, S3 to\n"
	"local, S3 to S3.  Without IDs, every backup of the source that the\n"
	"target lacks; `latest` names the source's newest backup.  Only what\n"
	"the target lacks travels: the index objects that locate the blobs\n"
	"of a backup's trees and files, the packs they name, each checked\n"
	"against its SHA-256 name on the way, and the manifest last, so an\n"
	"interrupted copy leaves no half backup.  Running it again copies\n"
	"nothing.\n"
	"\n"
	"A target without a repository (a new or empty location: one that\n"
	"holds anything else is refused) is initialised with the source's\n"
	"settings (chunking, compression, pack size) and a new repository id,\n"
	"so data chunks alike in both (an encrypted source's target shares\n"
	"its keys).\n"
	"\n"
	"Between a plain and an encrypted repository, or two encrypted ones\n"
	"with different keys, blob ids differ and packs cannot travel: each\n"
	"backup is written again in the target (same id, time, host, tags,\n"
	"sources and entries; contents streamed from the source and chunked\n"
	"by the target, so they deduplicate there), then its trees are\n"
	"compared with the source's (--verify: contents too, read back)\n"
	"before the next.  Initialise such a target first (backupfs init\n"
	"[--password-file FILE]); give its password with --to-password-file\n"
	"or --to-password-command when it differs from the source's (for a\n"
	"location without a repository they are an error, not a twin).",
    .opts = copy_opts,
    .notes = "The --s3-* options apply to both repositories.  copy holds a\n"
	     "shared lock on the target while it runs, and on the source too\n"
	     "with --delete-source (see 'backupfs unlock').",
    .examples = "  backupfs copy --from /var/backups/nocodb --to "
		"s3://acme-backups/nocodb\n"
		"  backupfs copy --from s3://acme-backups/nocodb --to "
		"/srv/restore 2026-11-20_05-15-00\n"
		"  backupfs copy --from /var/backups/nocodb --to "
		"/srv/encrypted --to-password-file /etc/backupfs/pw",
    .exit_codes = "0 ok, 1 error, 2 usage error.",
    .flags = CLI_REPO, /* the repositories are opened by run_copy */
    .max_args = -1,
    .args_size = sizeof(struct copy_args),
    .check = check_copy,
};
