/* cmd_copy.c - `backupfs copy --from REPO --to REPO [ID...]`: copy backups
 * between repositories, incrementally (src/copy.c does the work). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "src/copy.h"
#include "src/log.h"

enum {
	OPT_FROM = OPT_CMD_BASE,
	OPT_TO,
	OPT_DELETE_SOURCE,
	OPT_JOBS,
	OPT_NO_SYNC,
	OPT_SAME_ID,
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
		fprintf(stderr, "copying backup '%s' (%llu packs referenced)\n",
			id, (unsigned long long)n);
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
			fprintf(stderr, "  copied %s (%s)\n", key, b);
		}
		break;
	case BFS_COPY_BACKUP_DONE:
		if (p->tty && n)
			fputc('\n', stderr);
		bfs_fmt_bytes(b, sizeof(b), p->bytes);
		fprintf(stderr, "copied backup '%s': %llu new packs, %s\n", id,
			(unsigned long long)n, b);
		break;
	case BFS_COPY_BACKUP_SKIP:
		fprintf(stderr, "backup '%s' is already in the target\n", id);
		break;
	case BFS_COPY_SOURCE_DELETED:
		fprintf(stderr, "deleted backup '%s' from the source\n", id);
		break;
	}
}

/* Bring repo's default catalog up to date (best effort: the catalog is a
 * cache; a failure is a warning). */
static void sync_catalog(struct bfs_repo *repo, const char *what)
{
	struct bfs_err err = { "" };
	struct bfs_catalog *cat = NULL;
	char *path = NULL;
	int rc;

	rc = bfs_catalog_default_path(repo->id, &path, &err);
	if (!rc)
		rc = bfs_catalog_open(path, repo->id, false, &cat, &err);
	if (!rc)
		rc = bfs_catalog_sync(cat, repo, NULL, &err);
	if (rc)
		cli_error("copy", "warning: cannot sync the catalog of the %s: %s",
			  what, bfs_err_str(&err, rc));
	bfs_catalog_close(cat);
	free(path);
}

static int run_copy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "delete-source", no_argument, NULL, OPT_DELETE_SOURCE },
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ "no-sync", no_argument, NULL, OPT_NO_SYNC },
		{ "same-id", no_argument, NULL, OPT_SAME_ID },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct bfs_err err = { "" };
	struct bfs_copy_opts co = { 0 };
	struct bfs_copy_stats st = { 0 };
	struct bfs_repo *src = NULL, *dst = NULL;
	struct progress pr = { 0 };
	struct cli_common c;
	const char *from = NULL, *to = NULL;
	bool created = false, sync = true, same_id = false;
	char b[32];
	int opt, rc, i;

	cli_common_init(&c);
	c.cmd = &cmd_copy;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":" CLI_COMMON_SHORTOPTS,
				  longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_FROM:
			from = optarg;
			continue;
		case OPT_TO:
			to = optarg;
			continue;
		case OPT_DELETE_SOURCE:
			co.delete_source = true;
			continue;
		case OPT_NO_SYNC:
			sync = false;
			continue;
		case OPT_SAME_ID:
			same_id = true;
			continue;
		case OPT_JOBS: {
			char *e;
			long v = strtol(optarg, &e, 10);

			if (*e || v < 1 || v > 32)
				return cli_usage_error(&cmd_copy,
						       "--jobs wants 1..32, not '%s'",
						       optarg);
			co.jobs = (unsigned)v;
			continue;
		}
		default:
			break;
		}
		rc = cli_common_opt(&c, opt, optarg, &cmd_copy);
		if (rc < 0)
			return EXIT_OK;
		if (rc == 0)
			return cli_bad_option(&cmd_copy, opt, argv);
	}
	if (!from)
		from = c.repo;   /* -r REPO works as --from */
	if (!from || !*from)
		return cli_usage_error(&cmd_copy, "missing --from REPO");
	if (!to || !*to)
		return cli_usage_error(&cmd_copy, "missing --to REPO");
	if (strcmp(from, to) == 0)
		return cli_usage_error(&cmd_copy,
				       "--from and --to are the same repository");
	for (i = optind; i < argc; i++)
		if (!bfs_backup_id_valid(argv[i]))
			return cli_usage_error(&cmd_copy,
					       "invalid backup id '%s'", argv[i]);
	c.repo = from;
	if (cli_common_finish(&c) < 0)
		return cli_usage_hint(&cmd_copy);
	co.ids = (const char *const *)(argv + optind);
	co.nids = (size_t)(argc - optind);
	pr.quiet = c.quiet;
	pr.tty = isatty(STDERR_FILENO);
	co.progress = on_progress;
	co.progress_arg = &pr;

	rc = bfs_repo_open(from, &c.sopts, &src, &err);
	if (rc) {
		cli_error("copy", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	err.msg[0] = '\0';
	rc = bfs_copy_open_target(src, to, &c.sopts, same_id, &dst, &created,
				  &err);
	if (rc) {
		cli_error("copy", "cannot open the target '%s': %s", to,
			  bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_close;
	}
	if (created && !c.quiet)
		fprintf(stderr, "initialised '%s' with the settings of '%s' "
			"(chunking, compression%s)\n", to, from,
			same_id ? ", repository id" : "; a new repository id");
	err.msg[0] = '\0';
	rc = bfs_copy(src, dst, &co, &st, &err);
	bfs_fmt_bytes(b, sizeof(b), st.bytes_copied);
	if (!c.quiet || rc)
		printf("%u backups copied, %u already present%s; "
		       "%llu packs, %s copied\n", st.backups_copied,
		       st.backups_skipped,
		       co.delete_source ? (st.sources_deleted ?
					   ", deleted from the source" : "") : "",
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
out_close:
	bfs_repo_close(dst);
	bfs_repo_close(src);
	return rc;
}

const struct bfs_cmd cmd_copy = {
	.name = "copy",
	.fn = run_copy,
	.summary = "copy backups to another repository (local, S3)",
	.usage =
	"usage: backupfs copy --from REPO --to REPO [OPTIONS] [ID...]\n"
	"\n"
	"Copy backups from one repository to another: local to S3, S3 to\n"
	"local, S3 to S3.  Without IDs, every backup of the source that the\n"
	"target lacks.  Only the packs the target does not have travel; each\n"
	"is checked against its SHA-256 id on the way; a backup's manifest is\n"
	"written last, so an interrupted copy leaves no half backup.  Running\n"
	"it again copies nothing.\n"
	"\n"
	"A target without a repository is initialised with the source's\n"
	"settings (chunking, compression, pack size) and a new repository id,\n"
	"so data chunks alike in both.\n"
	"\n"
	"      --from REPO        source repository (or -r REPO)\n"
	"      --to REPO          target repository\n"
	"      --delete-source    after a backup is safely in the target,\n"
	"                         delete it from the source (its manifest; the\n"
	"                         packs stay until a prune)\n"
	"      --jobs N           parallel pack transfers (default 4)\n"
	"      --no-sync          do not update the catalogs afterwards\n"
	"      --same-id          give a new target the source's repository id\n"
	"                         too (then use a separate --catalog for each:\n"
	"                         catalogs are per repository id)\n"
	CLI_COMMON_USAGE
	"The --s3-* options apply to both repositories.\n"
	"\n"
	"Examples:\n"
	"  backupfs copy --from /var/backups/nocodb --to s3://acme-backups/nocodb\n"
	"  backupfs copy --from s3://acme-backups/nocodb --to /srv/restore 2026-11-20_05-15-00\n"
	"\n"
	"Exit codes: 0 ok, 1 error, 2 usage error.\n",
};
