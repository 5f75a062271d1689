/* cmd_cat.c - `backupfs cat ID:PATH`: stream one file of a backup to
 * stdout, every chunk verified. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "src/restore.h"

enum { OPT_NO_SYNC = OPT_CMD_BASE };

static int run_cat(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-sync", no_argument, NULL, OPT_NO_SYNC },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct bfs_err err = { "" };
	struct bfs_backup_info info;
	struct bfs_cat_entry ce;
	struct bfs_catalog *cat = NULL;
	struct bfs_repo *repo = NULL;
	struct cli_common c;
	char *id = NULL, *path = NULL;
	bool sync = true;
	int opt, rc;

	cli_common_init(&c);
	c.cmd = &cmd_cat;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":" CLI_COMMON_SHORTOPTS,
				  longopts, NULL)) != -1) {
		if (opt == OPT_NO_SYNC) {
			sync = false;
			continue;
		}
		rc = cli_common_opt(&c, opt, optarg, &cmd_cat);
		if (rc < 0)
			return EXIT_OK;
		if (rc == 0)
			return cli_bad_option(&cmd_cat, opt, argv);
	}
	if (optind >= argc)
		return cli_usage_error(&cmd_cat, "missing ID:PATH");
	if (optind + 1 < argc)
		return cli_usage_error(&cmd_cat, "unexpected argument '%s'",
				       argv[optind + 1]);
	if (cli_split_ref(argv[optind], &id, &path) < 0 ||
	    (strcmp(id, "latest") != 0 && !bfs_backup_id_valid(id))) {
		rc = cli_usage_error(&cmd_cat, "invalid backup reference '%s'",
				     argv[optind]);
		goto out_free;
	}
	if (!path[0]) {
		rc = cli_usage_error(&cmd_cat, "missing the PATH in '%s' (ID:PATH)",
				     argv[optind]);
		goto out_free;
	}
	if (cli_common_finish(&c) < 0) {
		rc = cli_usage_hint(&cmd_cat);
		goto out_free;
	}
	rc = cli_open(&c, sync, &repo, &cat);
	if (rc)
		goto out_free;
	rc = cli_find_backup(&c, cat, id, &info);
	if (rc)
		goto out_close;
	memset(&ce, 0, sizeof(ce));
	rc = bfs_catalog_lookup_path(cat, info.root, path, &ce, &err);
	if (rc == -ENOENT || rc == -ENOTDIR) {
		cli_error("cat", "no '%s' in backup '%s'", path, info.name);
		rc = EXIT_ERR;
		goto out_info;
	} else if (rc < 0) {
		cli_error("cat", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_info;
	}
	if (ce.e.type == BFS_T_SYMLINK) {
		cli_error("cat", "'%s' of backup '%s' is a symbolic link to '%s'",
			  path, info.name, ce.e.target ? ce.e.target : "");
		rc = EXIT_ERR;
		goto out_entry;
	}
	err.msg[0] = '\0';
	rc = bfs_restore_cat_fd(repo, cat, ce.id, STDOUT_FILENO, &err);
	if (rc == -EPIPE) {
		rc = EXIT_ERR;   /* the reader went away: nothing to say */
	} else if (rc < 0) {
		if (rc == -EISDIR || rc == -EINVAL || rc == -ENODATA)
			cli_error("cat", "'%s' of backup '%s' %s", path,
				  info.name, bfs_err_str(&err, rc));
		else
			cli_error("cat", "cannot read '%s' of backup '%s': %s",
				  path, info.name, bfs_err_str(&err, rc));
		rc = EXIT_ERR;
	} else {
		rc = EXIT_OK;
	}
out_entry:
	bfs_cat_entry_clear(&ce);
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

const struct bfs_cmd cmd_cat = {
	.name = "cat",
	.fn = run_cat,
	.summary = "write one file of a backup to stdout",
	.usage =
	"usage: backupfs cat [-r REPO] [OPTIONS] ID:PATH\n"
	"\n"
	"Write the content of file PATH of backup ID ('latest' for the newest)\n"
	"to stdout.  Only the chunks of that file are read from the\n"
	"repository, and each is checked against its SHA-256: a damaged or\n"
	"missing chunk is an error naming the file and the pack, never wrong\n"
	"bytes.\n"
	"\n"
	"      --no-sync          do not sync the catalog first (offline)\n"
	"\n"
	CLI_COMMON_USAGE
	"\n"
	"Examples:\n"
	"  backupfs cat latest:database.sql | psql nocodb_restore\n"
	"  backupfs cat 2026-11-20_05-15-00:files/uploads/invoice-17.pdf > x.pdf\n"
	"\n"
	"Exit codes: 0 ok, 1 error (no such backup or file, a directory,\n"
	"unreadable data), 2 usage error.\n",
};
