/* cmd_restore.c - `backupfs restore ID[:PATH] --target DIR [--force]`:
 * recreate a backup (or part of it) on the local filesystem. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "src/restore.h"

enum { OPT_TARGET = OPT_CMD_BASE, OPT_FORCE, OPT_NO_SYNC, OPT_NO_OWNERS };

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
	fprintf(stderr, "backupfs restore: warning: '%s': %s\n", path, msg);
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

static int run_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "no-owners", no_argument, NULL, OPT_NO_OWNERS },
		{ "no-sync", no_argument, NULL, OPT_NO_SYNC },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct bfs_restore_opts ro = { 0 };
	struct bfs_restore_stats st = { 0 };
	struct bfs_err err = { "" };
	struct bfs_backup_info info;
	struct bfs_catalog *cat = NULL;
	struct bfs_repo *repo = NULL;
	struct cli_common c;
	struct ui u = { 0 };
	const char *target = NULL;
	char *id = NULL, *path = NULL;
	bool sync = true, owners = geteuid() == 0;
	char bytes[32];
	int opt, rc;

	cli_common_init(&c);
	c.cmd = &cmd_restore;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":t:f" CLI_COMMON_SHORTOPTS,
				  longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
		case OPT_TARGET:
			target = optarg;
			continue;
		case 'f':
		case OPT_FORCE:
			ro.force = true;
			continue;
		case OPT_NO_OWNERS:
			owners = false;
			continue;
		case OPT_NO_SYNC:
			sync = false;
			continue;
		}
		rc = cli_common_opt(&c, opt, optarg, &cmd_restore);
		if (rc < 0)
			return EXIT_OK;
		if (rc == 0)
			return cli_bad_option(&cmd_restore, opt, argv);
	}
	if (optind >= argc)
		return cli_usage_error(&cmd_restore, "missing ID[:PATH]");
	if (optind + 1 < argc)
		return cli_usage_error(&cmd_restore, "unexpected argument '%s'",
				       argv[optind + 1]);
	if (!target || !target[0])
		return cli_usage_error(&cmd_restore, "missing --target DIR");
	if (cli_split_ref(argv[optind], &id, &path) < 0 ||
	    (strcmp(id, "latest") != 0 && !bfs_backup_id_valid(id))) {
		rc = cli_usage_error(&cmd_restore,
				     "invalid backup reference '%s'",
				     argv[optind]);
		goto out_free;
	}
	if (cli_common_finish(&c) < 0) {
		rc = cli_usage_hint(&cmd_restore);
		goto out_free;
	}
	rc = cli_open(&c, sync, &repo, &cat);
	if (rc)
		goto out_free;
	rc = cli_find_backup(&c, cat, id, &info);
	if (rc)
		goto out_close;

	if (path[0]) {
		struct bfs_cat_entry ce;

		memset(&ce, 0, sizeof(ce));
		rc = bfs_catalog_lookup_path(cat, info.root, path, &ce, &err);
		bfs_cat_entry_clear(&ce);
		if (rc == -ENOENT || rc == -ENOTDIR) {
			cli_error("restore", "no '%s' in backup '%s'", path,
				  info.name);
			rc = EXIT_ERR;
			goto out_info;
		}
	}
	raise_nofile();
	u.tty = isatty(STDERR_FILENO);
	u.quiet = c.quiet;
	ro.owners = owners;
	ro.devices = geteuid() == 0;
	ro.total_bytes = path[0] ? 0 : info.stats.bytes;
	ro.warn = on_warn;
	ro.progress = on_progress;
	ro.arg = &u;
	rc = bfs_restore(repo, cat, info.root, path, target, &ro, &st, &err);
	if (u.drawn)
		fputs("\r\033[K", stderr);
	if (rc < 0) {
		cli_error("restore", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
	} else {
		rc = EXIT_OK;
	}
	if (!c.quiet && (rc == EXIT_OK || st.entries)) {
		bfs_fmt_bytes(bytes, sizeof(bytes), st.bytes);
		fprintf(stderr,
			"restored %llu entries (%llu files, %s) of backup %s to %s in %.1f s",
			(unsigned long long)st.entries,
			(unsigned long long)st.files, bytes, info.name, target,
			(double)st.duration_ns / 1e9);
		if (st.skipped)
			fprintf(stderr, ", %llu skipped",
				(unsigned long long)st.skipped);
		if (st.failed)
			fprintf(stderr, ", %llu failed",
				(unsigned long long)st.failed);
		fputc('\n', stderr);
	}
out_info:
	bfs_backup_info_clear(&info);
out_close:
	bfs_catalog_close(cat);
	bfs_repo_close(repo);
out_free:
	free(id);
	free(path);
	return rc;
}

const struct bfs_cmd cmd_restore = {
	.name = "restore",
	.fn = run_restore,
	.summary = "restore a backup, or part of it, to a directory",
	.usage =
	"usage: backupfs restore [-r REPO] [OPTIONS] ID[:PATH] --target DIR\n"
	"\n"
	"Recreate PATH of backup ID ('latest' for the newest) as DIR/PATH,\n"
	"like extracting a tar archive in DIR; without PATH the whole backup\n"
	"is restored into DIR (DIR's own mode and times are left alone).\n"
	"DIR and missing parents are created.\n"
	"\n"
	"Restored: directories, files (every chunk verified; runs of zero\n"
	"blocks become holes again), symlinks, hardlinks (within the restored\n"
	"set), fifos, sockets, device nodes (as root), modes including\n"
	"setuid/setgid/sticky, mtimes to the nanosecond and, as root, owners\n"
	"by uid/gid number (not by name).  Entries that were unreadable at\n"
	"backup time are skipped with a warning.  Each file is written under\n"
	"a temporary name and renamed into place when complete.\n"
	"\n"
	"Existing files are never overwritten without --force: the restore\n"
	"checks every target first and stops before writing anything if one\n"
	"exists.  Existing directories are merged into.\n"
	"\n"
	"  -t, --target DIR       where to restore (required)\n"
	"  -f, --force            replace existing files (and empty directories\n"
	"                         where a non-directory goes)\n"
	"      --no-owners        as root: do not restore owners\n"
	"      --no-sync          do not sync the catalog first (offline)\n"
	"\n"
	CLI_COMMON_USAGE
	"\n"
	"Examples:\n"
	"  backupfs restore latest --target /srv/restore\n"
	"  backupfs restore 2026-11-20_05-15-00:files/uploads --target /tmp/r\n"
	"      (creates /tmp/r/files/uploads)\n"
	"\n"
	"Exit codes: 0 ok, 1 error (an existing file without --force, a file\n"
	"whose data cannot be read: the others are still restored), 2 usage\n"
	"error.\n",
};
