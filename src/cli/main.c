/* main.c - `backupfs` entry point: dispatch to the subcommand table
 * (git.c's cmd_struct pattern); cli_run (options.c) parses the declared
 * options and does the setup each command's flags ask for. */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"
#include "src/log.h"

static const struct bfs_cmd *const commands[] = {
    &cmd_init,	  &cmd_backup,	&cmd_list,   &cmd_show,	     &cmd_ls,
    &cmd_cat,	  &cmd_restore, &cmd_mount,  &cmd_copy,	     &cmd_catalog,
    &cmd_migrate, &cmd_forget,	&cmd_delete, &cmd_unlock,    &cmd_check,
    &cmd_prune,	  &cmd_run,	&cmd_status, &cmd_scheduler, &cmd_job,
    &cmd_import,  &cmd_key,	&cmd_nocodb,
};

static const char overview[] =
    "Backups you can walk: deduplicated, compressed backups of\n"
    "databases and files, browsable as a mounted directory.";

static void print_overview(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: backupfs COMMAND [OPTIONS] [ARGS]\n\n%s\n\n"
		"Commands:\n",
		overview);
	for (i = 0; i < BFS_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-9s %s\n", commands[i]->name,
			commands[i]->summary);
	fprintf(f, "  %-9s %s\n", "help", "show help for a command");
	fprintf(f, "\nRun 'backupfs help COMMAND' or 'backupfs COMMAND --help' "
		   "for details.\nExit codes: 0 ok, 1 error, 2 usage, 3 backup "
		   "written but some files were unreadable.\n");
}

static const struct bfs_cmd *find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

/* Everything we print goes to stdout; a full disk or a closed pipe must
 * turn into an error exit, not a silent truncation. */
static int check_stdout(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "backupfs: error writing output: %s\n",
				strerror(errno));
		return rc ? rc : EXIT_ERR;
	}
	return rc;
}

/* glibc's malloc adapts its mmap and trim thresholds to the first large
 * frees it sees, so the cost of a run depends on its allocation history.
 * Buffers of a chunk or a run of chunks (up to 16 MiB) are allocated and
 * freed on worker threads all the time; with the default thresholds each
 * thread arena trims its top after such a free and faults the pages in
 * again at the next allocation (restore of 3000 small files: 3x the page
 * faults, 40% slower).  Fixed thresholds: blocks below 16 MiB come from
 * the arenas, which keep up to 32 MiB of free top.  Measured side by side
 * (cat of a 300 MiB dump, restore of 3000 files): 1 MiB / 8 MiB made cat
 * 1.6x slower (every 8 MiB run buffer mmapped anew), 16/32 keeps cat as
 * fast as the defaults and restore 1.6x faster, at ~18 MiB more peak RSS
 * for cat. */
static void tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 16 << 20);
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
}

int main(int argc, char **argv)
{
	const struct bfs_cmd *cmd;
	int rc;

	tune_malloc();
	if (argc < 2) {
		print_overview(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("backupfs %s\n", PACKAGE_VERSION);
		return check_stdout(EXIT_OK);
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		if (argc > 2 && strcmp(argv[2], "--man") == 0) {
			/* hidden: backupfs(1), run by the build */
			cli_print_man(commands, BFS_ARRAY_SIZE(commands),
				      overview);
		} else if (argc > 2 && strcmp(argv[2], "--help") != 0 &&
			   strcmp(argv[2], "-h") != 0) {
			cmd = find_cmd(argv[2]);
			if (!cmd) {
				fprintf(stderr,
					"backupfs: unknown command '%s'\n",
					argv[2]);
				return EXIT_USAGE;
			}
			cli_print_usage(cmd);
		} else {
			print_overview(stdout);
		}
		return check_stdout(EXIT_OK);
	}
	cmd = find_cmd(argv[1]);
	if (!cmd) {
		fprintf(stderr, "backupfs: unknown command '%s'\n\n", argv[1]);
		print_overview(stderr);
		return EXIT_USAGE;
	}
	/* A closed pipe (backupfs cat ... | head) is EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cli_run(cmd, argc - 1, argv + 1);
	rc = check_stdout(rc);
	curl_global_cleanup();
	return rc;
}
