/* cmd_run.c - `backupfs run JOB...`: run jobs in turn (src/run.h does the
 * work); the exit code is the worst result. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "src/cli/cli.h"
#include "src/jobstate.h"
#include "src/run.h"

/* Exit codes of run and status (doc/JOBS.md "Running a job"). */
#define RUN_EXIT_WARNING 1
#define RUN_EXIT_FAILED 2
#define RUN_EXIT_CANNOT 3

struct run_args {
	const char *jobs, *state;
	bool json, dry_run;
};

static int worse(int a, int b)
{
	return a > b ? a : b;
}

static int run_run(struct cli_ctx *ctx)
{
	struct run_args *a = ctx->args;
	struct bfs_run_opts o = {.dry_run = a->dry_run, .quiet = ctx->c.quiet};
	char jobs[PATH_MAX], state[PATH_MAX], path[PATH_MAX];
	struct bfs_err err = {{0}};
	cJSON *arr = a->json ? cJSON_CreateArray() : NULL;
	int rc, code = EXIT_OK;

	if (a->json && !arr) {
		cli_error("run", "out of memory");
		return RUN_EXIT_CANNOT;
	}
	rc = bfs_jobs_dir(a->jobs, jobs, sizeof(jobs), &err);
	if (!rc)
		rc = bfs_state_dir(a->state, state, sizeof(state), &err);
	if (rc) {
		cli_error("run", "%s", bfs_err_str(&err, rc));
		cJSON_Delete(arr);
		return RUN_EXIT_CANNOT;
	}
	o.state_dir = state;
	for (int i = 0; i < ctx->argc; i++) {
		struct bfs_run_result res = {0};

		rc = bfs_job_resolve(ctx->argv[i], jobs, path, sizeof(path),
				     &err);
		if (!rc)
			rc = bfs_run_job(path, &o, &res, &err);
		if (rc < 0) {
			cli_error("run", "%s", bfs_err_str(&err, rc));
			code = worse(code, RUN_EXIT_CANNOT);
			bfs_run_result_clear(&res);
			continue;
		}
		if (!a->dry_run) {
			char added[32];

			bfs_fmt_bytes(added, sizeof(added), res.bytes_added);
			fprintf(stderr,
				"job %s: %s, backup %s, %s added, %.1f s%s%s\n",
				res.job, bfs_run_status_name(res.status),
				res.backup_id ? res.backup_id : "-", added,
				res.duration_s, res.error ? ": " : "",
				res.error ? res.error : "");
		}
		if (res.status == BFS_RUN_WARNING)
			code = worse(code, RUN_EXIT_WARNING);
		else if (res.status == BFS_RUN_FAILED)
			code = worse(code, RUN_EXIT_FAILED);
		if (res.signal) {
			/* after the cleanup (post hooks, state, notify):
			 * no further job; die of the signal as asked */
			int sig = res.signal;

			bfs_run_result_clear(&res);
			cJSON_Delete(arr);
			signal(sig, SIG_DFL);
			raise(sig);
			return RUN_EXIT_FAILED;
		}
		if (arr && res.json) {
			cJSON *o1 = cJSON_Parse(res.json);

			if (o1)
				cJSON_AddItemToArray(arr, o1);
		}
		bfs_run_result_clear(&res);
	}
	if (arr && cli_json_print(arr) < 0) {
		cli_error("run", "out of memory");
		code = worse(code, RUN_EXIT_CANNOT);
	}
	return code;
}

static const struct cli_opt run_opts[] = {
    CLI_STRING(0, "jobs", "DIR", struct run_args, jobs,
	       "where job NAMEs are looked up, as DIR/NAME.json (default: "
	       "$BACKUPFS_JOBS_DIR, /etc/backupfs/jobs for root, else "
	       "$XDG_CONFIG_HOME/backupfs/jobs, ~/.config/backupfs/jobs)"),
    CLI_STRING(0, "state-dir", "DIR", struct run_args, state,
	       "the state directory: run logs, last runs, locks (default: "
	       "$BACKUPFS_STATE_DIR, /var/lib/backupfs for root, else "
	       "$XDG_STATE_HOME/backupfs, ~/.local/state/backupfs)"),
    CLI_OPT_JSON(struct run_args, json,
		 "print the run summaries on stdout, a JSON array with one "
		 "object per job (doc/NOTIFY.md \"Run summary\")"),
    CLI_FLAG('n', "dry-run", struct run_args, dry_run,
	     "validate the jobs and print what would run; run nothing"),
    CLI_END};

const struct bfs_cmd cmd_run = {
    .name = "run",
    .run = run_run,
    .summary = "run jobs: hooks, backup, copies, retention, verify, notify",
    .synopsis = "backupfs run [--jobs DIR] [--state-dir DIR] [--json] "
		"[--dry-run] JOB...",
    .description =
	"Run each job in turn.  JOB is a name (JOBS_DIR/NAME.json) or the\n"
	"path of a job file (doc/JOBS.md).  For each job: take the job's\n"
	"lock (a job never runs twice at once), load its env_file, ping the\n"
	"start, run the pre hooks, the backup (backup --job NAME), the post\n"
	"hooks (right away: the app is down for the backup only), the copies\n"
	"(copy_to, then delete_local_after_copy), the retention (forget --job\n"
	"NAME, then prune when retention.prune says so), the verify, then\n"
	"on_success or on_failure; record the summary in the state directory\n"
	"and notify.  Everything the steps print goes to the run log,\n"
	"STATE/jobs/NAME/run.log.",
    .opts = run_opts,
    .notes =
	"A failing pre hook skips the rest of pre and the backup.  post runs\n"
	"once pre succeeded, also after a failed backup, and also after a\n"
	"pre that failed half way (restarting an app is harmless, leaving it\n"
	"down is not).  Hooks run by /bin/sh -c in their own process group\n"
	"with the env_file's variables and BACKUPFS_JOB, BACKUPFS_BACKUP_ID,\n"
	"BACKUPFS_STATUS; after hooks.timeout the group gets SIGTERM, and\n"
	"SIGKILL 5 s later.\n"
	"\n"
	"Results: failed when a pre or post hook, the backup, a copy, the\n"
	"forget, the prune or the verify failed, or the job was already\n"
	"running or interrupted; warning when the backup is partial\n"
	"(unreadable files) or an on_success hook failed; ok otherwise.\n"
	"\n"
	"SIGTERM or SIGINT stops the running step or hook, skips the rest\n"
	"but still runs post, records the run as failed and notifies, then\n"
	"run dies of the signal.",
    .examples = "  backupfs run nocodb\n"
		"  backupfs run --jobs ./jobs --state-dir ./state --json a b\n"
		"  backupfs run --dry-run /etc/backupfs/jobs/nocodb.json",
    .exit_codes = "0 every job ok, 1 some job warned, 2 some job failed,\n"
		  "3 some job could not run (missing or invalid job file, "
		  "usage).",
    .min_args = 1,
    .max_args = -1,
    .missing = "no job given",
    .args_size = sizeof(struct run_args),
    .usage_exit = RUN_EXIT_CANNOT,
};
