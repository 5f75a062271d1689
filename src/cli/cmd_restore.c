/* cmd_restore.c - `backupfs restore ID[:PATH] --target DIR | --to DEST
 * [--force]`: recreate a backup (or part of it) on the local filesystem. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "src/restore.h"

struct restore_args {
	const char *target, *to;
	bool force, no_owners, same_owner;
};

struct ui {
	bool tty;
	bool drawn;
	bool quiet;
};

static void on_warn(void *arg, const char *path, const char *msg)
{
	struct ui *u = arg;

	/* -q: errors only; a skipped entry is not one */
	if (u->quiet && strncmp(msg, "skipped", 7) == 0)
		return;
	if (u->drawn) {
		fputs("\r\033[K", stderr);
		u->drawn = false;
	}
	fprintf(stderr, "backupfs restore: warning: '%s': %s\n", cli_q(path),
		cli_q(msg));
}

static void on_progress(void *arg, const struct bfs_restore_progress *p)
{
	struct ui *u = arg;
	char done[32], total[32];
	double secs = (double)p->elapsed_ns / 1e9;

	if (!u->tty || u->quiet)
		return;
	bfs_fmt_bytes(done, sizeof(done), p->bytes);
	fprintf(stderr, "\r\033[K%llu entries, %llu files, %s",
		(unsigned long long)p->entries, (unsigned long long)p->files,
		done);
	if (p->total_bytes) {
		bfs_fmt_bytes(total, sizeof(total), p->total_bytes);
		fprintf(stderr, " of %s (%.0f%%)", total,
			100.0 * (double)p->bytes / (double)p->total_bytes);
	}
	if (secs > 0.5)
		fprintf(stderr, ", %.1f MB/s", (double)p->bytes / 1e6 / secs);
	u->drawn = true;
}

/* Deep trees hold one directory descriptor per level. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int check_restore(struct cli_ctx *ctx)
{
	const struct restore_args *a = ctx->args;

	if (a->target && a->to)
		return cli_usage_error(&cmd_restore,
				       "--target and --to are two ways to say "
				       "where: give one");
	if ((!a->target || !a->target[0]) && (!a->to || !a->to[0]))
		return cli_usage_error(&cmd_restore,
				       "missing --target DIR (or --to DEST)");
	return 0;
}

/* PATH is not in the backup: a dump's NAME.d/ view or a file of it? */
static int restore_view(struct cli_ctx *ctx, const char *target)
{
	const struct restore_args *a = ctx->args;
	const char *path = ctx->path, *name = ctx->info.name;
	struct bfs_err err = {""};
	struct bfs_dumpview v;
	uint64_t files = 0, bytes = 0;
	char b[32];
	int rc;

	rc = bfs_dumpview_resolve(ctx->repo, ctx->cat, ctx->info.root, path, &v,
				  &err);
	if (rc == -ENOENT) {
		cli_error("restore", "no '%s' in backup '%s'", path, name);
		return EXIT_ERR;
	}
	if (!rc)
		rc = bfs_dumpview_restore(ctx->repo, ctx->cat, &v, path, target,
					  a->to != NULL, a->force, &files,
					  &bytes, &err);
	bfs_dumpview_clear(&v);
	if (rc < 0) {
		cli_error("restore", "'%s' of backup '%s': %s", path, name,
			  bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	if (!ctx->c.quiet) {
		bfs_fmt_bytes(b, sizeof(b), bytes);
		fprintf(stderr, "restored %llu files (%s) of backup %s to %s\n",
			(unsigned long long)files, b, name, target);
	}
	return EXIT_OK;
}

static int run_restore(struct cli_ctx *ctx)
{
	const struct restore_args *a = ctx->args;
	struct bfs_restore_opts ro = {.force = a->force};
	struct bfs_restore_stats st = {0};
	struct bfs_err err = {""};
	const struct bfs_backup_info *info = &ctx->info;
	struct bfs_catalog *cat = ctx->cat;
	struct bfs_repo *repo = ctx->repo;
	struct ui u = {0};
	const char *target = a->to ? a->to : a->target, *path = ctx->path;
	bool owners = (geteuid() == 0 && !a->no_owners) || a->same_owner;
	char bytes[32];
	int rc;

	/* a read path: a delta's output is checked, its bases are not
	 * hashed again (repo.h) */
	bfs_repo_set_bases_by_output(repo, true);
	if (path[0]) {
		struct bfs_cat_entry ce;

		memset(&ce, 0, sizeof(ce));
		rc = bfs_catalog_lookup_path(cat, info->root, path, &ce, &err);
		bfs_cat_entry_clear(&ce);
		if (rc == -ENOENT || rc == -ENOTDIR)
			return restore_view(ctx, target);
	}
	raise_nofile();
	u.tty = isatty(STDERR_FILENO);
	u.quiet = ctx->c.quiet;
	ro.owners = owners;
	ro.as_target = a->to != NULL;
	ro.devices = geteuid() == 0;
	ro.total_bytes = path[0] ? 0 : info->stats.bytes;
	ro.warn = on_warn;
	ro.progress = on_progress;
	ro.arg = &u;
	rc = bfs_restore(repo, cat, info->root, path, target, &ro, &st, &err);
	if (u.drawn)
		fputs("\r\033[K", stderr);
	if (rc < 0) {
		cli_error("restore", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
	} else {
		rc = EXIT_OK;
	}
	if (!ctx->c.quiet && (rc == EXIT_OK || st.entries)) {
		bfs_fmt_bytes(bytes, sizeof(bytes), st.bytes);
		fprintf(stderr,
			"restored %llu entries (%llu files, %s) of backup %s "
			"to %s in %.1f s",
			(unsigned long long)st.entries,
			(unsigned long long)st.files, bytes, info->name, target,
			(double)st.duration_ns / 1e9);
		if (st.skipped)
			fprintf(stderr, ", %llu skipped",
				(unsigned long long)st.skipped);
		if (st.failed)
			fprintf(stderr, ", %llu failed",
				(unsigned long long)st.failed);
		fputc('\n', stderr);
	}
	return rc;
}

static const struct cli_opt restore_opts[] = {
    CLI_STRING('t', "target", "DIR", struct restore_args, target,
	       "recreate PATH as DIR/PATH"),
    CLI_STRING(0, "to", "DEST", struct restore_args, to,
	       "PATH itself becomes DEST: a directory's contents land in "
	       "DEST, a file is written as DEST (or into it, if DEST is a "
	       "directory)"),
    CLI_FLAG('f', "force", struct restore_args, force,
	     "replace existing files (and empty directories where a "
	     "non-directory goes)"),
    CLI_FLAG(0, "no-owners", struct restore_args, no_owners,
	     "as root: do not restore owners (setuid/setgid bits are "
	     "dropped then)"),
    CLI_FLAG(0, "same-owner", struct restore_args, same_owner,
	     "not as root: try to restore owners anyway (a warning for each "
	     "that fails) and keep setuid/setgid bits"),
    CLI_OPT_NO_SYNC,
    CLI_END};

const struct bfs_cmd cmd_restore = {
    .name = "restore",
    .run = run_restore,
    .summary = "restore a backup, or part of it, to a directory",
    .synopsis = "backupfs restore [-r REPO] [OPTIONS] ID[:PATH] "
		"(--target DIR | --to DEST)",
    .description =
	"Recreate PATH of backup ID ('latest' for the newest) as DIR/PATH,\n"
	"like extracting a tar archive in DIR; without PATH the whole backup\n"
	"is restored into DIR (DIR's own mode and times are left alone).\n"
	"DIR and missing parents are created.\n"
	"\n"
	"--to DEST puts things back where they came from: PATH itself\n"
	"becomes DEST.  A directory's contents land directly in DEST (created\n"
	"if missing, merged into if not; like `rsync -a PATH/ DEST/`), and\n"
	"DEST takes the directory's mode, times and (as root) owner.  A file\n"
	"is written as DEST, or into DEST when that is an existing directory\n"
	"(like cp).\n"
	"\n"
	"Restored: directories, files (every chunk verified; runs of zero\n"
	"blocks become holes again), symlinks, hardlinks (within the restored\n"
	"set), fifos, sockets, device nodes (as root), modes including\n"
	"setuid/setgid/sticky, mtimes to the nanosecond and, as root, owners\n"
	"by uid/gid number (not by name).  Not as root (or with --no-owners)\n"
	"files belong to the restoring user, and their setuid and setgid\n"
	"bits are dropped, as GNU tar does (the sticky bit stays);\n"
	"--same-owner keeps them.  Entries that were unreadable at\n"
	"backup time are skipped with a warning.  Each file is written under\n"
	"a temporary name and renamed into place when complete.\n"
	"\n"
	"Existing files are never overwritten without --force: the restore\n"
	"checks every target first and stops before writing anything if one\n"
	"exists.  Existing directories are merged into.",
    .opts = restore_opts,
    .examples =
	"  backupfs restore latest --target /srv/restore\n"
	"  backupfs restore 2026-11-20_05-15-00:files/uploads --target /tmp/r\n"
	"      (creates /tmp/r/files/uploads)\n"
	"  backupfs restore latest:nocodb-data --to /srv/nocodb/data\n"
	"      (nocodb-data's contents into /srv/nocodb/data)\n"
	"  backupfs restore latest:database.sql --to /tmp/nocodb.sql",
    .exit_codes =
	"0 ok, 1 error (an existing file without --force, a file\n"
	"whose data cannot be read: the others are still restored), 2 usage\n"
	"error.",
    .flags = CLI_OPEN | CLI_SYNC | CLI_REF | CLI_FIND,
    .min_args = 1,
    .max_args = 1,
    .missing = "missing ID[:PATH]",
    .args_size = sizeof(struct restore_args),
    .check = check_restore,
};
