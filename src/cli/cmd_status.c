/* cmd_status.c - `backupfs status`: per job, the last run, the last
 * success, the next scheduled run and the repository's backups; as text,
 * JSON, or a node_exporter textfile (--prometheus). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "src/cli/cli.h"
#include "src/job.h"
#include "src/jobstate.h"
#include "src/schedule.h"

#define ST_EXIT_CANNOT 3

struct status_args {
	const char *jobs, *state, *prom;
	bool json, no_repo;
};

/* What status knows of one job. */
struct jstat {
	char name[BFS_JOB_NAME_MAX + 1];
	struct bfs_jobstate_run last, ok;
	bool has_last, has_ok, running, has_next, has_repo;
	time_t next;
	int64_t backups, job_backups; /* in the repository, of this job */
	uint64_t stored;
	char error[1024]; /* what could not be read */
};

/* --- env_file around the repository open (S3 credentials) --- */

struct saved_env {
	char **keys, **old; /* old[i] NULL: was unset */
	size_t n;
};

static void env_push(const struct bfs_job_env *e, struct saved_env *s)
{
	s->keys = calloc(e->n + 1, sizeof(char *));
	s->old = calloc(e->n + 1, sizeof(char *));
	s->n = 0;
	if (!s->keys || !s->old)
		return;
	for (size_t i = 0; i < e->n; i++) {
		const char *o = getenv(e->vars[i].key);

		s->keys[s->n] = strdup(e->vars[i].key);
		s->old[s->n] = o ? strdup(o) : NULL;
		if (!s->keys[s->n])
			break;
		s->n++;
		setenv(e->vars[i].key, e->vars[i].value, 1);
	}
}

static void env_pop(struct saved_env *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->old[i])
			setenv(s->keys[i], s->old[i], 1);
		else
			unsetenv(s->keys[i]);
		free(s->keys[i]);
		free(s->old[i]);
	}
	free(s->keys);
	free(s->old);
	memset(s, 0, sizeof(*s));
}

struct count {
	const char *job;
	int64_t n, njob;
	uint64_t stored;
};

static int count_cb(void *arg, const struct bfs_backup_info *b)
{
	struct count *c = arg;

	c->n++;
	c->njob += strcmp(b->job, c->job) == 0;
	c->stored += b->stats.stored_bytes;
	return 0;
}

/* The repository's backups and stored bytes, from the local catalog
 * (not synced: what this host's last run saw). */
static void repo_figures(struct cli_ctx *ctx, const struct bfs_job *job,
			 struct jstat *js)
{
	struct cli_common c = ctx->c;
	struct bfs_job_env *env = NULL;
	struct saved_env saved = {0};
	struct bfs_repo *repo = NULL;
	struct bfs_catalog *cat = NULL;
	struct bfs_err err = {{0}};
	struct count cnt = {.job = job->name};

	if (job->env_file && bfs_job_load_env(job->env_file, &env, &err) == 0)
		env_push(env, &saved);
	c.repo = job->repository;
	c.catalog = NULL;
	c.cmd = ctx->cmd;
	if (cli_open(&c, false, &repo, &cat) == 0 &&
	    bfs_catalog_list(cat, count_cb, &cnt, &err) == 0) {
		js->has_repo = true;
		js->backups = cnt.n;
		js->job_backups = cnt.njob;
		js->stored = cnt.stored;
	}
	bfs_catalog_close(cat);
	bfs_repo_close(repo);
	if (env)
		env_pop(&saved);
	bfs_job_env_free(env);
}

/* Fill js for the job file at path.  0, or -errno (js->error says). */
static int job_status(struct cli_ctx *ctx, const char *path, const char *state,
		      struct jstat *js)
{
	struct status_args *a = ctx->args;
	struct bfs_job *job = NULL;
	struct bfs_err err = {{0}};
	time_t from;
	int rc;

	rc = bfs_job_load(path, &job, &err);
	if (rc < 0) {
		snprintf(js->error, sizeof(js->error), "%s", err.msg);
		return rc;
	}
	snprintf(js->name, sizeof(js->name), "%s", job->name);
	rc = bfs_jobstate_last(state, job->name, &js->last, &js->has_last,
			       &js->ok, &js->has_ok, &err);
	if (rc < 0)
		snprintf(js->error, sizeof(js->error), "%s", err.msg);
	js->running = bfs_jobstate_running(state, job->name);
	if (job->schedule) {
		from = js->has_last ? js->last.start : time(NULL);
		js->has_next =
		    bfs_schedule_next(job->schedule, from, &js->next) == 0;
	}
	if (!a->no_repo)
		repo_figures(ctx, job, js);
	bfs_job_free(job);
	return rc;
}

static void fmt_local(time_t t, char *buf, size_t n)
{
	struct tm tm;

	if (!localtime_r(&t, &tm) ||
	    !strftime(buf, n, "%Y-%m-%d %H:%M:%S %z", &tm))
		snprintf(buf, n, "?");
}

static void print_text(const struct jstat *js)
{
	char t[64], b[32];

	printf("job %s%s\n", js->name, js->running ? " (running now)" : "");
	if (js->has_last) {
		fmt_local(js->last.start, t, sizeof(t));
		bfs_fmt_bytes(b, sizeof(b), js->last.bytes_added);
		printf("  last run:      %s, %s, %.1f s, backup %s, %s added\n",
		       t, bfs_run_status_name(js->last.status),
		       js->last.duration_s,
		       js->last.backup_id[0] ? js->last.backup_id : "-", b);
		if (js->last.error[0])
			printf("  error:         %s\n", js->last.error);
	} else {
		printf("  last run:      never\n");
	}
	if (js->has_ok) {
		fmt_local(js->ok.start, t, sizeof(t));
		printf("  last success:  %s, backup %s\n", t,
		       js->ok.backup_id[0] ? js->ok.backup_id : "-");
	} else {
		printf("  last success:  never\n");
	}
	if (js->has_next) {
		fmt_local(js->next, t, sizeof(t));
		printf("  next run:      %s%s\n", t,
		       js->next < time(NULL) ? " (overdue)" : "");
	} else {
		printf("  next run:      not scheduled\n");
	}
	if (js->has_repo) {
		bfs_fmt_bytes(b, sizeof(b), js->stored);
		printf("  repository:    %lld backups (%lld of this job), %s "
		       "stored\n",
		       (long long)js->backups, (long long)js->job_backups, b);
	}
	if (js->error[0])
		printf("  problem:       %s\n", js->error);
}

static cJSON *run_json(const struct bfs_jobstate_run *r)
{
	cJSON *o = cJSON_CreateObject();
	char t[32];

	if (!o)
		return NULL;
	cli_fmt_time(t, sizeof(t), (int64_t)r->start * 1000000000, true);
	cJSON_AddStringToObject(o, "start", t);
	cli_json_add_int(o, "start_unix", r->start);
	cJSON_AddStringToObject(o, "status", bfs_run_status_name(r->status));
	cJSON_AddNumberToObject(o, "duration_seconds", r->duration_s);
	if (r->backup_id[0])
		cJSON_AddStringToObject(o, "backup_id", r->backup_id);
	else
		cJSON_AddNullToObject(o, "backup_id");
	cli_json_add_uint(o, "bytes_read", r->bytes_read);
	cli_json_add_uint(o, "bytes_added", r->bytes_added);
	cli_json_add_uint(o, "files", r->files);
	cli_json_add_uint(o, "warnings", r->nwarnings);
	if (r->error[0])
		cJSON_AddStringToObject(o, "error", r->error);
	else
		cJSON_AddNullToObject(o, "error");
	return o;
}

static cJSON *status_json(const struct jstat *js)
{
	cJSON *o = cJSON_CreateObject(), *rep;
	char t[32];

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "job", js->name);
	cJSON_AddBoolToObject(o, "running", js->running);
	cJSON_AddItemToObject(o, "last_run",
			      js->has_last ? run_json(&js->last)
					   : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "last_success",
			      js->has_ok ? run_json(&js->ok)
					 : cJSON_CreateNull());
	if (js->has_next) {
		cli_fmt_time(t, sizeof(t), (int64_t)js->next * 1000000000,
			     true);
		cJSON_AddStringToObject(o, "next_run", t);
		cli_json_add_int(o, "next_run_unix", js->next);
	} else {
		cJSON_AddNullToObject(o, "next_run");
	}
	if (js->has_repo && (rep = cJSON_AddObjectToObject(o, "repository"))) {
		cli_json_add_int(rep, "backups", js->backups);
		cli_json_add_int(rep, "job_backups", js->job_backups);
		cli_json_add_uint(rep, "stored_bytes", js->stored);
	} else {
		cJSON_AddNullToObject(o, "repository");
	}
	if (js->error[0])
		cJSON_AddStringToObject(o, "error", js->error);
	else
		cJSON_AddNullToObject(o, "error");
	return o;
}

/* A label value per the exposition format: \ " and newline escaped. */
static void prom_label(struct bfs_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			bfs_buf_append(b, "\\\\", 2);
		else if (*s == '"')
			bfs_buf_append(b, "\\\"", 2);
		else if (*s == '\n')
			bfs_buf_append(b, "\\n", 2);
		else
			bfs_buf_append(b, s, 1);
	}
}

static const struct {
	const char *name, *type, *help;
} metrics[] = {
    {"backupfs_last_success_timestamp_seconds", "gauge",
     "End of the last run that did not fail, in seconds since the epoch."},
    {"backupfs_last_run_duration_seconds", "gauge",
     "Duration of the last run."},
    {"backupfs_last_run_ok", "gauge",
     "1 if the last run did not fail (ok or warning), else 0."},
    {"backupfs_backup_added_bytes", "gauge",
     "Bytes the last run added to the repository (stored, compressed)."},
};

static int write_prom(const char *file, const struct jstat *js, size_t n)
{
	struct bfs_buf b = {0};
	char tmp[PATH_MAX];
	int fd, rc = 0;

	for (size_t m = 0; m < BFS_ARRAY_SIZE(metrics); m++) {
		bfs_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n",
			       metrics[m].name, metrics[m].help,
			       metrics[m].name, metrics[m].type);
		for (size_t i = 0; i < n; i++) {
			const struct jstat *j = &js[i];
			double v;

			if (!j->name[0])
				continue;
			if (m == 0 && j->has_ok)
				v = (double)j->ok.start + j->ok.duration_s;
			else if (m == 1 && j->has_last)
				v = j->last.duration_s;
			else if (m == 2 && j->has_last)
				v = j->last.status != BFS_RUN_FAILED;
			else if (m == 3 && j->has_last)
				v = (double)j->last.bytes_added;
			else
				continue;
			bfs_buf_printf(&b, "%s{job=\"", metrics[m].name);
			prom_label(&b, j->name);
			bfs_buf_printf(&b, "\"} %.15g\n", v);
		}
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", file, (int)getpid()) >=
	    (int)sizeof(tmp)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = b.data ? bfs_write_full(fd, b.data, b.len) : -ENOMEM;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, file) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
out:
	if (rc)
		cli_error("status", "cannot write '%s': %s", file,
			  strerror(-rc));
	bfs_buf_free(&b);
	return rc;
}

static int run_status(struct cli_ctx *ctx)
{
	struct status_args *a = ctx->args;
	char jobs[PATH_MAX], state[PATH_MAX], path[PATH_MAX];
	struct bfs_err err = {{0}};
	struct jstat *js = NULL;
	struct bfs_strv names = {0};
	size_t n = 0, i;
	cJSON *arr = NULL;
	int rc, code = EXIT_OK;

	rc = bfs_jobs_dir(a->jobs, jobs, sizeof(jobs), &err);
	if (!rc)
		rc = bfs_state_dir(a->state, state, sizeof(state), &err);
	if (rc) {
		cli_error("status", "%s", bfs_err_str(&err, rc));
		return ST_EXIT_CANNOT;
	}
	if (ctx->argc == 0) {
		rc = bfs_jobs_list(jobs, &names, &err);
		if (rc < 0) {
			cli_error("status", "%s", bfs_err_str(&err, rc));
			return ST_EXIT_CANNOT;
		}
		n = names.n;
	} else {
		n = (size_t)ctx->argc;
	}
	js = calloc(n ? n : 1, sizeof(*js));
	if (!js || (a->json && !(arr = cJSON_CreateArray()))) {
		cli_error("status", "out of memory");
		code = ST_EXIT_CANNOT;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (names.v) /* a file of the jobs directory */
			rc = snprintf(path, sizeof(path), "%s/%s", jobs,
				      names.v[i]) >= (int)sizeof(path)
				 ? bfs_err_set(&err, -ENAMETOOLONG,
					       "'%s/%s': path too long", jobs,
					       names.v[i])
				 : 0;
		else
			rc = bfs_job_resolve(ctx->argv[i], jobs, path,
					     sizeof(path), &err);
		if (rc < 0)
			snprintf(js[i].error, sizeof(js[i].error), "%s",
				 err.msg);
		else
			rc = job_status(ctx, path, state, &js[i]);
		if (rc < 0) {
			cli_error("status", "%s", js[i].error);
			code = ST_EXIT_CANNOT;
			if (!js[i].name[0])
				continue;
		}
		if (js[i].has_last && js[i].last.status == BFS_RUN_FAILED &&
		    code < 2)
			code = 2;
		else if (js[i].has_last &&
			 js[i].last.status == BFS_RUN_WARNING && code < 1)
			code = 1;
		if (arr)
			cJSON_AddItemToArray(arr, status_json(&js[i]));
		else if (!a->prom || !ctx->c.quiet)
			print_text(&js[i]);
	}
	if (arr && cli_json_print(arr) < 0)
		code = ST_EXIT_CANNOT;
	arr = NULL;
	if (a->prom && write_prom(a->prom, js, n) < 0)
		code = ST_EXIT_CANNOT;
out:
	cJSON_Delete(arr);
	bfs_strv_free(&names);
	free(js);
	return code;
}

static const struct cli_opt status_opts[] = {
    CLI_STRING(0, "jobs", "DIR", struct status_args, jobs,
	       "the jobs directory (default as for 'backupfs run')"),
    CLI_STRING(0, "state-dir", "DIR", struct status_args, state,
	       "the state directory (default as for 'backupfs run')"),
    CLI_OPT_JSON(struct status_args, json,
		 "print a JSON array, one object per job: job, running, "
		 "last_run, last_success, next_run, repository {backups, "
		 "job_backups, stored_bytes}, error"),
    CLI_STRING(0, "prometheus", "FILE", struct status_args, prom,
	       "also write FILE, a node_exporter textfile (written to a "
	       "temporary name, then renamed)"),
    CLI_FLAG(0, "no-repo", struct status_args, no_repo,
	     "do not open the repositories (no backup count and size)"),
    CLI_END};

const struct bfs_cmd cmd_status = {
    .name = "status",
    .run = run_status,
    .summary = "show how the jobs went: last run, last success, next run",
    .synopsis = "backupfs status [--jobs DIR] [--state-dir DIR] [--json] "
		"[--prometheus FILE] [JOB...]",
    .description =
	"For each JOB (default: every JOBS_DIR/NAME.json), show the last run\n"
	"(time, result, duration, backup id, bytes added), the last run that\n"
	"did not fail, the next scheduled run (after the last run, or after\n"
	"now for a job that never ran), and the repository's backup count\n"
	"(all, and the job's own) and stored size.  The figures come from the "
	"state directory and\n"
	"the local catalog (not synced with the repository: cheap, and what\n"
	"this host's last run saw); the size is the sum of what each backup\n"
	"present added when it was written.",
    .opts = status_opts,
    .notes =
	"--prometheus writes, per job: backupfs_last_success_timestamp_"
	"seconds,\nbackupfs_last_run_duration_seconds, backupfs_last_run_ok "
	"and\nbackupfs_backup_added_bytes, labelled {job=\"NAME\"}.",
    .examples = "  backupfs status\n"
		"  backupfs status nocodb --json\n"
		"  backupfs status -q --prometheus "
		"/var/lib/node_exporter/backupfs.prom",
    .exit_codes = "the worst last result: 0 ok (or never ran), 1 warning,\n"
		  "2 failed; 3 a job file or the state could not be read, or "
		  "usage.",
    .max_args = -1,
    .args_size = sizeof(struct status_args),
    .usage_exit = ST_EXIT_CANNOT,
};
