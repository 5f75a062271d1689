/* cmd_job.c - `backupfs job check|list|enable|disable`: validate job
 * files, list the jobs directory with the next run of each, and put a
 * job's schedule into systemd (the drop-in of backupfs-job@NAME.timer,
 * src/jobunit.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "src/job.h"
#include "src/jobprofile.h"
#include "src/jobstate.h"
#include "src/jobunit.h"
#include "src/schedule.h"
#include "src/timefmt.h"

struct job_args {
	const char *jobs, *state, *root;
	bool json, no_systemctl;
	const char *profile, *output; /* new */
	bool force, list_profiles;    /* new */
};

enum { ACT_CHECK, ACT_LIST, ACT_ENABLE, ACT_DISABLE, ACT_NEW };

static const char *const actions[] = {"check", "list", "enable", "disable",
				      "new"};

static int action_of(const char *s)
{
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(actions); i++)
		if (strcmp(s, actions[i]) == 0)
			return (int)i;
	return -1;
}

/* "name.json" of path matches job name? */
static bool file_matches(const char *path, const char *name)
{
	const char *b = strrchr(path, '/');
	size_t l;

	b = b ? b + 1 : path;
	l = strlen(name);
	return strncmp(b, name, l) == 0 && strcmp(b + l, ".json") == 0;
}

/* Validate one file: the job, its env_file when it exists, the systemd
 * form of its schedule.  Prints "FILE: ok" or the error.  0 or -errno. */
static int check_one(const char *jobs_dir, const char *arg)
{
	struct bfs_job_env *env = NULL;
	struct bfs_job *job = NULL;
	struct bfs_err err = {""};
	char path[PATH_MAX], val[256];
	const char *key;
	struct stat st;
	int rc;

	rc = bfs_job_resolve(arg, jobs_dir, path, sizeof(path), &err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", arg, bfs_err_str(&err, rc));
		return rc;
	}
	rc = bfs_job_load(path, &job, &err);
	if (rc) {
		/* bfs_job_load's messages start with the path */
		fprintf(stderr, "%s\n", bfs_err_str(&err, rc));
		return rc;
	}
	if (job->env_file && stat(job->env_file, &st) == 0) {
		rc = bfs_job_load_env(job->env_file, &env, &err);
		bfs_job_env_free(env);
		if (rc) {
			fprintf(stderr, "%s: env_file: %s\n", path,
				bfs_err_str(&err, rc));
			goto out;
		}
	} else if (job->env_file) {
		fprintf(stderr,
			"%s: warning: env_file: '%s' does not exist (yet): a "
			"run fails without it\n",
			path, job->env_file);
	}
	if (job->schedule) {
		err.msg[0] = '\0';
		if (bfs_schedule_to_systemd(job->schedule, &key, val,
					    sizeof(val), &err) != 0)
			fprintf(stderr,
				"%s: warning: schedule: %s (backupfs job "
				"enable refuses it; backupfs scheduler runs "
				"it)\n",
				path, err.msg);
	}
	if (!file_matches(path, job->name))
		fprintf(stderr,
			"%s: warning: name '%s' differs from the file name: "
			"`backupfs run NAME` and the systemd instance use the "
			"file name, the state and the backups the name\n",
			path, job->name);
	printf("%s: ok\n", path);
	rc = 0;
out:
	bfs_job_free(job);
	return rc;
}

/* When the job runs next: "-" (no schedule), "running", "due", or the
 * time.  Uses bfs_schedule_plan as the scheduler would, started now. */
static void next_run(const struct bfs_job *job, const char *state_dir,
		     char *out, size_t n, time_t *next_out)
{
	struct bfs_sched_entry e = {0};
	struct bfs_jobstate_run last;
	time_t now = time(NULL), wake;
	bool has_last = false;

	*next_out = -1;
	if (!job->schedule) {
		snprintf(out, n, "-");
		return;
	}
	if (bfs_jobstate_running(state_dir, job->name)) {
		snprintf(out, n, "running");
		return;
	}
	if (bfs_jobstate_last(state_dir, job->name, &last, &has_last, NULL,
			      NULL, NULL) == 0 &&
	    has_last) {
		e.has_last = true;
		e.last_run = last.start;
	}
	e.schedule = job->schedule;
	e.catch_up = job->catch_up;
	if (bfs_schedule_plan(&e, 1, now, now, &wake) < 0) {
		snprintf(out, n, "?");
		return;
	}
	*next_out = e.due ? now : e.next;
	if (e.due)
		snprintf(out, n, "due");
	else if (bfs_time_format((int64_t)e.next * 1000000000, true, out, n) <
		 0)
		snprintf(out, n, "?");
}

static int job_list(const struct job_args *a, const char *jobs_dir)
{
	char state_dir[PATH_MAX], path[PATH_MAX], next[64];
	struct bfs_err err = {""};
	cJSON *arr = NULL, *o;
	struct bfs_strv files = {0};
	size_t i;
	int rc, bad = 0;
	time_t nt;

	rc = bfs_state_dir(a->state, state_dir, sizeof(state_dir), &err);
	if (rc) {
		cli_error("job", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	rc = bfs_jobs_list(jobs_dir, &files, &err);
	if (rc) {
		cli_error("job", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	if (a->json && !(arr = cJSON_CreateArray()))
		goto out_nomem;
	if (!a->json)
		printf("%-20s %-16s %-25s %s\n", "NAME", "SCHEDULE", "NEXT RUN",
		       "REPOSITORY");
	for (i = 0; i < files.n; i++) {
		const char *f = files.v[i];
		struct bfs_job *job = NULL;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", jobs_dir,
				     f) >= sizeof(path))
			continue;
		err.msg[0] = '\0';
		rc = bfs_job_load(path, &job, &err);
		if (rc) {
			fprintf(stderr, "backupfs job: %s\n",
				bfs_err_str(&err, rc));
			bad++;
			continue;
		}
		next_run(job, state_dir, next, sizeof(next), &nt);
		if (a->json) {
			o = cJSON_CreateObject();
			if (!o) {
				bfs_job_free(job);
				goto out_nomem;
			}
			cJSON_AddItemToArray(arr, o);
			cJSON_AddStringToObject(o, "name", job->name);
			cJSON_AddStringToObject(o, "file", path);
			if (job->schedule)
				cJSON_AddStringToObject(
				    o, "schedule",
				    bfs_schedule_text(job->schedule));
			else
				cJSON_AddNullToObject(o, "schedule");
			cJSON_AddStringToObject(o, "next_run", next);
			if (nt >= 0)
				cli_json_add_int(o, "next_run_unix", nt);
			else
				cJSON_AddNullToObject(o, "next_run_unix");
			cJSON_AddStringToObject(o, "repository",
						job->repository);
		} else {
			printf("%-20s %-16s %-25s %s\n", job->name,
			       job->schedule ? bfs_schedule_text(job->schedule)
					     : "-",
			       next, job->repository);
		}
		bfs_job_free(job);
	}
	if (a->json && cli_json_print(arr) < 0) {
		arr = NULL;
		goto out_nomem;
	}
	arr = NULL;
	rc = bad ? EXIT_ERR : EXIT_OK;
	goto out;
out_nomem:
	cli_error("job", "out of memory");
	rc = EXIT_ERR;
out:
	cJSON_Delete(arr);
	bfs_strv_free(&files);
	return rc;
}

/* Run `systemctl [--root=ROOT] A1 [A2 [A3]]` (NULLs end the list;
 * $BACKUPFS_SYSTEMCTL overrides the program, for tests).  0 or EXIT_ERR
 * (printed). */
static int systemctl(const char *root, const char *a1, const char *a2,
		     const char *a3)
{
	const char *prog = getenv("BACKUPFS_SYSTEMCTL");
	char ropt[PATH_MAX + 8], *argv[6];
	size_t k = 0;
	pid_t pid;
	int st;

	if (!prog || !prog[0])
		prog = "systemctl";
	argv[k++] = (char *)prog;
	if (root) {
		snprintf(ropt, sizeof(ropt), "--root=%s", root);
		argv[k++] = ropt;
	}
	argv[k++] = (char *)a1;
	argv[k++] = (char *)a2;
	argv[k++] = (char *)a3;
	argv[k] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		cli_error("job", "cannot run systemctl: %s", strerror(errno));
		return EXIT_ERR;
	}
	if (pid == 0) {
		execvp(prog, argv);
		fprintf(stderr, "backupfs job: cannot run '%s': %s\n", prog,
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			cli_error("job", "waitpid: %s", strerror(errno));
			return EXIT_ERR;
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		cli_error("job", "'systemctl %s%s%s%s%s%s%s' failed",
			  root ? ropt : "", root ? " " : "", a1, a2 ? " " : "",
			  a2 ? a2 : "", a3 ? " " : "", a3 ? a3 : "");
		return EXIT_ERR;
	}
	return EXIT_OK;
}

/* mkdir -p of path's directories below root (root itself must exist). */
static int mkdirs(char *path, size_t rootlen)
{
	char *p;

	for (p = path + rootlen + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			int e = errno;

			*p = '/';
			return -e;
		}
		*p = '/';
	}
	return 0;
}

/* Write text to path through path.tmp, 0644.  replace false: -EEXIST
 * when path exists (never overwritten).  0 or -errno. */
static int write_file(const char *path, const char *text, bool replace)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text);
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		rc = errno ? -errno : -EIO;
	if (close(fd) != 0 && !rc)
		rc = -errno;
	if (!rc && replace && rename(tmp, path) != 0)
		rc = -errno;
	/* link(2) fails on an existing path: no check-then-write race */
	if (!rc && !replace && link(tmp, path) != 0)
		rc = -errno;
	if (rc || !replace)
		unlink(tmp);
	return rc;
}

static int job_enable(const struct job_args *a, const char *jobs_dir,
		      const char *name, bool enable)
{
	const char *root = a->root ? a->root : "";
	char path[PATH_MAX], timer[128], dropin[PATH_MAX], text[2048];
	struct bfs_job *job = NULL;
	struct bfs_err err = {""};
	/* --root: offline, as `systemctl --root` does it (symlinks only) */
	bool live = !a->no_systemctl && !a->root;
	bool offline = !a->no_systemctl && a->root;
	int rc;

	/* NAME is the systemd instance: `backupfs run %i` reads
	 * JOBS/NAME.json */
	rc = bfs_job_timer_name(name, timer, sizeof(timer), &err);
	if (rc) {
		cli_error("job", "'%s': %s", name, bfs_err_str(&err, rc));
		return EXIT_USAGE;
	}
	if ((size_t)snprintf(dropin, sizeof(dropin), "%s%s/%s.d/%s", root,
			     BFS_JOB_UNIT_DIR, timer,
			     BFS_JOB_DROPIN_NAME) >= sizeof(dropin)) {
		cli_error("job", "--root: path too long");
		return EXIT_USAGE;
	}
	if (!enable) {
		if (live && systemctl(NULL, "disable", "--now", timer))
			return EXIT_ERR;
		if (offline && systemctl(a->root, "disable", timer, NULL))
			return EXIT_ERR;
		if (unlink(dropin) != 0 && errno != ENOENT) {
			cli_error("job", "cannot remove '%s': %s", dropin,
				  strerror(errno));
			return EXIT_ERR;
		}
		*strrchr(dropin, '/') = '\0';
		rmdir(dropin); /* only when empty: other drop-ins stay */
		if (live && systemctl(NULL, "daemon-reload", NULL, NULL))
			return EXIT_ERR;
		printf("disabled %s\n", timer);
		return EXIT_OK;
	}
	rc = bfs_job_resolve(name, jobs_dir, path, sizeof(path), &err);
	if (!rc)
		rc = bfs_job_load(path, &job, &err);
	if (rc) { /* messages of bfs_job_load name the path */
		cli_error("job", "%s", bfs_err_str(&err, rc));
		goto out_err;
	}
	rc = bfs_job_timer_dropin(job, path, text, sizeof(text), &err);
	if (rc) {
		cli_error("job", "%s: %s", path, bfs_err_str(&err, rc));
		goto out_err;
	}
	if (strcmp(job->name, name) != 0)
		fprintf(stderr,
			"backupfs job: warning: '%s' names its job '%s': its "
			"state and backups go by '%s'\n",
			path, job->name, job->name);
	if (a->root && access(a->root, F_OK) != 0) {
		cli_error("job", "--root '%s': %s", a->root, strerror(errno));
		goto out_err;
	}
	rc = mkdirs(dropin, strlen(root));
	if (!rc)
		rc = write_file(dropin, text, true);
	if (rc) {
		cli_error("job", "cannot write '%s': %s", dropin,
			  strerror(-rc));
		goto out_err;
	}
	printf("wrote %s\n", dropin);
	if (a->no_systemctl) {
		printf("then: systemctl daemon-reload && systemctl enable "
		       "--now %s\n",
		       timer);
		rc = EXIT_OK;
		goto out;
	}
	if (offline && systemctl(a->root, "enable", timer, NULL))
		goto out_err;
	/* restart: a timer that was already active takes the new schedule */
	if (live && (systemctl(NULL, "daemon-reload", NULL, NULL) ||
		     systemctl(NULL, "enable", timer, NULL) ||
		     systemctl(NULL, "restart", timer, NULL)))
		goto out_err;
	printf("enabled %s\n", timer);
	rc = EXIT_OK;
	goto out;
out_err:
	rc = EXIT_ERR;
out:
	bfs_job_free(job);
	return rc;
}

/* The placeholders of text ("<A>, <B>") into buf. */
static void placeholders(const char *text, char *buf, size_t n)
{
	const char *p = text, *e;
	size_t len = 0;

	buf[0] = '\0';
	while ((p = strchr(p, '<')) && (e = strchr(p, '>'))) {
		size_t l = (size_t)(e - p + 1);

		if (l < 40 && !memmem(buf, len, p, l) && len + l + 3 < n) {
			len += (size_t)snprintf(buf + len, n - len, "%s%.*s",
						len ? ", " : "", (int)l, p);
		}
		p = e + 1;
	}
}

/* job new: write the profile's job file; job new --list-profiles. */
static int job_new(const struct job_args *a, const char *jobs_dir,
		   const char *name)
{
	const struct bfs_job_profile *p;
	char path[PATH_MAX], ph[512];
	struct bfs_err err = {""};
	char *text = NULL;
	size_t n, i;
	int rc, flags = 0;

	if (a->list_profiles) {
		p = bfs_job_profiles(&n);
		for (i = 0; i < n; i++)
			printf("%-12s %s\n", p[i].name, p[i].summary);
		return EXIT_OK;
	}
	if (!strcmp(a->profile, "dolt") && bfs_in_path("dolt"))
		flags |= BFS_PROFILE_DOLT_SYNC;
	rc = bfs_job_profile_render(a->profile, name, flags, &text, &err);
	if (rc) {
		cli_error("job", "%s", bfs_err_str(&err, rc));
		return rc == -ENOENT || rc == -EINVAL ? EXIT_USAGE : EXIT_ERR;
	}
	if (a->output) {
		snprintf(path, sizeof(path), "%s", a->output);
	} else if ((size_t)snprintf(path, sizeof(path), "%s/%s.json", jobs_dir,
				    name) >= sizeof(path)) {
		rc = -ENAMETOOLONG;
	} else if ((rc = mkdirs(path, 0)) != 0) {
		/* the jobs directory and its parents */
		cli_error("job", "cannot create '%s': %s", jobs_dir,
			  strerror(-rc));
		goto out;
	}
	if (!rc)
		rc = write_file(path, text, a->force);
	if (rc == -EEXIST) {
		cli_error("job", "'%s' exists: give --force to overwrite it",
			  path);
		goto out;
	}
	if (rc) {
		cli_error("job", "cannot write '%s': %s", path, strerror(-rc));
		goto out;
	}
	p = bfs_job_profile_find(a->profile);
	placeholders(text, ph, sizeof(ph));
	printf("%s: written from profile %s%s\n", path, p->name,
	       flags & BFS_PROFILE_DOLT_SYNC ? " (dolt is on PATH: dolt "
					       "backup sync-url variant)"
					     : "");
	printf("replace %s in it, then run: backupfs job check %s\n", ph, path);
	if (strcmp(p->secrets, "none"))
		printf("secrets (%s) go in /etc/backupfs/%s.env, mode 0600\n",
		       p->secrets, name);
	printf("the backup and its restore: doc/apps/%s.md\n", p->name);
out:
	free(text);
	return rc ? EXIT_ERR : EXIT_OK;
}

static int check_job(struct cli_ctx *ctx)
{
	const struct job_args *a = ctx->args;
	int act = action_of(ctx->argv[0]);

	if (act < 0)
		return cli_usage_error(&cmd_job,
				       "unknown action '%s' (check, list, "
				       "enable, disable or new)",
				       ctx->argv[0]);
	if (act == ACT_NEW) {
		if (a->list_profiles &&
		    (ctx->argc > 1 || a->profile || a->output || a->force))
			return cli_usage_error(&cmd_job,
					       "--list-profiles goes alone");
		if (!a->list_profiles && (!a->profile || ctx->argc != 2))
			return cli_usage_error(&cmd_job,
					       "job new needs --profile APP "
					       "and one NAME (or "
					       "--list-profiles)");
		if (!a->list_profiles && !bfs_job_name_valid(ctx->argv[1]))
			return cli_usage_error(
			    &cmd_job,
			    "invalid job name '%s' (1-%d of A-Z a-z 0-9 . "
			    "_ -, not starting with . or -)",
			    ctx->argv[1], BFS_JOB_NAME_MAX);
	} else if (a->profile || a->output || a->force || a->list_profiles) {
		return cli_usage_error(&cmd_job, "--profile, -o, --force and "
						 "--list-profiles go with new");
	}
	if (act == ACT_CHECK && ctx->argc < 2)
		return cli_usage_error(&cmd_job, "job check needs a FILE");
	if (act == ACT_LIST && ctx->argc > 1)
		return cli_usage_error(&cmd_job, "unexpected argument '%s'",
				       ctx->argv[1]);
	if ((act == ACT_ENABLE || act == ACT_DISABLE) && ctx->argc != 2)
		return cli_usage_error(&cmd_job, "job %s needs one NAME",
				       actions[act]);
	if (a->json && act != ACT_LIST)
		return cli_usage_error(&cmd_job, "--json goes with list");
	if ((a->root || a->no_systemctl) && act != ACT_ENABLE &&
	    act != ACT_DISABLE)
		return cli_usage_error(&cmd_job, "--root and --no-systemctl "
						 "go with enable and disable");
	return 0;
}

static int run_job(struct cli_ctx *ctx)
{
	const struct job_args *a = ctx->args;
	char jobs_dir[PATH_MAX];
	struct bfs_err err = {""};
	int act = action_of(ctx->argv[0]), i, rc, bad = 0;

	rc = bfs_jobs_dir(a->jobs, jobs_dir, sizeof(jobs_dir), &err);
	if (rc) {
		cli_error("job", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	switch (act) {
	case ACT_CHECK:
		for (i = 1; i < ctx->argc; i++)
			bad += check_one(jobs_dir, ctx->argv[i]) != 0;
		return bad ? EXIT_ERR : EXIT_OK;
	case ACT_LIST:
		return job_list(a, jobs_dir);
	case ACT_NEW:
		return job_new(a, jobs_dir, ctx->argc > 1 ? ctx->argv[1] : "");
	default:
		return job_enable(a, jobs_dir, ctx->argv[1], act == ACT_ENABLE);
	}
}

static const struct cli_opt job_opts[] = {
    CLI_STRING(0, "jobs", "DIR", struct job_args, jobs,
	       "the jobs directory, for NAMEs and list (default: "
	       "$BACKUPFS_JOBS_DIR, /etc/backupfs/jobs for root, else "
	       "$XDG_CONFIG_HOME/backupfs/jobs, ~/.config/backupfs/jobs)"),
    CLI_STRING(0, "state-dir", "DIR", struct job_args, state,
	       "list: where the last runs are recorded (default: "
	       "$BACKUPFS_STATE_DIR, /var/lib/backupfs for root, else "
	       "$XDG_STATE_HOME/backupfs, ~/.local/state/backupfs)"),
    CLI_OPT_JSON(struct job_args, json,
		 "list: a JSON array of {name, file, schedule, next_run, "
		 "next_run_unix, repository}"),
    CLI_STRING(0, "root", "DIR", struct job_args, root,
	       "enable, disable: write below DIR instead of / and only run "
	       "`systemctl --root=DIR enable|disable` there (images, "
	       "packaging: no daemon-reload, nothing started)"),
    CLI_FLAG(0, "no-systemctl", struct job_args, no_systemctl,
	     "enable, disable: write or remove the drop-in only, run no "
	     "systemctl"),
    CLI_STRING(0, "profile", "APP", struct job_args, profile,
	       "new: the app profile (nocodb, seatable, mattermost, "
	       "pydio-cells, dolt)"),
    CLI_STRING('o', "output", "FILE", struct job_args, output,
	       "new: write the job file to FILE (default: JOBS/NAME.json)"),
    CLI_FLAG(0, "force", struct job_args, force,
	     "new: overwrite an existing file"),
    CLI_FLAG(0, "list-profiles", struct job_args, list_profiles,
	     "new: list the profiles"),
    CLI_END};

const struct bfs_cmd cmd_job = {
    .name = "job",
    .run = run_job,
    .summary = "check, list, enable, disable or create job files",
    .synopsis = "backupfs job check|list|enable|disable|new [OPTIONS] "
		"[FILE|NAME...]",
    .description =
	"Job files (doc/JOBS.md) describe unattended backups.\n"
	"  check    validate each file (or JOBS/NAME.json) and print \"FILE:\n"
	"           ok\", or the error naming the exact field; also the\n"
	"           env_file's owner and mode when it exists.  Warns (exit 0)\n"
	"           when the schedule has no systemd form or the name is not\n"
	"           the file's.\n"
	"  list     the jobs of the jobs directory: name, schedule, next run\n"
	"           (UTC, as `backupfs scheduler` started now would plan\n"
	"           it: \"due\" when a run is due at once), repository.\n"
	"  enable   write the job's schedule into\n"
	"           /etc/systemd/system/backupfs-job@NAME.timer.d/"
	"schedule.conf,\n"
	"           then systemctl daemon-reload, enable and restart the\n"
	"           timer.  The job file is JOBS/NAME.json.\n"
	"  disable  systemctl disable --now the timer, remove the drop-in.\n"
	"  new      --profile APP NAME [-o FILE] [--force]: write a job file\n"
	"           pre-filled from the app's backup guide (doc/apps/APP.md)\n"
	"           with <PLACEHOLDERS> for hosts and paths; `job check`\n"
	"           refuses the file until every one is replaced.  Never\n"
	"           overwrites without --force.  --list-profiles lists them.",
    .opts = job_opts,
    .notes =
	"A cron schedule becomes OnCalendar= (catch_up: Persistent=),\n"
	"\"every D\" OnActiveSec=D and OnUnitActiveSec=D.  A cron\n"
	"expression with both day of month and day of week restricted has\n"
	"no OnCalendar= form: enable refuses it.\n"
	"$BACKUPFS_SYSTEMCTL names the systemctl program to run.",
    .examples = "  backupfs job check /etc/backupfs/jobs/*.json\n"
		"  backupfs job list --json\n"
		"  backupfs job enable nocodb\n"
		"  backupfs job enable nocodb --root \"$DESTDIR\"\n"
		"  backupfs job new --profile seatable seatable\n"
		"  backupfs job new --list-profiles",
    .exit_codes = "0 ok, 1 error (a job that does not validate, a failed "
		  "systemctl), 2 usage error.",
    .min_args = 1,
    .max_args = -1,
    .missing = "missing action (check, list, enable, disable or new)",
    .args_size = sizeof(struct job_args),
    .check = check_job,
};
