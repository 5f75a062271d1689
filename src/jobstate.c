/* jobstate.c - the jobs directory, the state directory, last runs and the
 * per-job run lock (src/jobstate.h, doc/JOBS.md "State directory").
 *
 * Everything read back from the state directory is checked: a file that is
 * not the JSON we wrote is reported as corrupt (-EUCLEAN), never used. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "job.h"
#include "jobstate.h"
#include "util.h"

#define RUNS_KEEP 1000
#define STATE_FILE_MAX (1 << 20) /* last.json and friends */
#define RUNS_FILE_MAX (64 << 20) /* runs.jsonl */

static int put(char *buf, size_t n, struct bfs_err *err, const char *fmt,
	       const char *a, const char *b)
{
	int len = snprintf(buf, n, fmt, a, b);

	if (len < 0 || (size_t)len >= n)
		return bfs_err_set(err, -ENAMETOOLONG, "path too long: '%s%s'",
				   a, b);
	return 0;
}

/* override, else $envname, else root_dir for root, else $xdg/sub or
 * $HOME/home_sub/sub. */
static int pick_dir(const char *override, const char *envname,
		    const char *root_dir, const char *xdg, const char *home_sub,
		    const char *sub, char *buf, size_t n, struct bfs_err *err)
{
	const char *v;

	if (override && *override)
		return put(buf, n, err, "%s%s", override, "");
	v = getenv(envname);
	if (v && *v)
		return put(buf, n, err, "%s%s", v, "");
	if (geteuid() == 0)
		return put(buf, n, err, "%s%s", root_dir, "");
	v = getenv(xdg);
	if (v && *v && v[0] == '/')
		return put(buf, n, err, "%s/%s", v, sub);
	v = getenv("HOME");
	if (v && *v) {
		char tmp[PATH_MAX];
		int rc = put(tmp, sizeof(tmp), err, "%s/%s", v, home_sub);

		return rc ? rc : put(buf, n, err, "%s/%s", tmp, sub);
	}
	return bfs_err_set(err, -ENOENT,
			   "neither %s nor HOME is set: give the directory "
			   "(or set %s)",
			   xdg, envname);
}

int bfs_jobs_dir(const char *override, char *buf, size_t n, struct bfs_err *err)
{
	return pick_dir(override, "BACKUPFS_JOBS_DIR", "/etc/backupfs/jobs",
			"XDG_CONFIG_HOME", ".config", "backupfs/jobs", buf, n,
			err);
}

int bfs_state_dir(const char *override, char *buf, size_t n,
		  struct bfs_err *err)
{
	return pick_dir(override, "BACKUPFS_STATE_DIR", "/var/lib/backupfs",
			"XDG_STATE_HOME", ".local/state", "backupfs", buf, n,
			err);
}

/* Job files by name without ".json" ("app" before "app-db"). */
static int stem_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t lx = strlen(x) - 5, ly = strlen(y) - 5;
	int c = strncmp(x, y, lx < ly ? lx : ly);

	return c ? c : (lx > ly) - (lx < ly);
}

int bfs_jobs_list(const char *jobs_dir, struct bfs_strv *out,
		  struct bfs_err *err)
{
	DIR *d = opendir(jobs_dir);
	struct dirent *de;
	size_t l;
	int rc = 0;

	if (!d)
		return bfs_err_set(err, -errno,
				   "cannot read the jobs directory '%s': %s",
				   jobs_dir, strerror(errno));
	while (!rc && (de = readdir(d))) {
		l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l <= 5 ||
		    strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		rc = bfs_strv_add(out, de->d_name);
	}
	closedir(d);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), stem_cmp);
	return 0;
}

int bfs_job_resolve(const char *arg, const char *jobs_dir, char *path, size_t n,
		    struct bfs_err *err)
{
	size_t len = strlen(arg);
	int rc;

	if (strchr(arg, '/') ||
	    (len > 5 && strcmp(arg + len - 5, ".json") == 0))
		return put(path, n, err, "%s%s", arg, "");
	if (!bfs_job_name_valid(arg))
		return bfs_err_set(err, -EINVAL,
				   "'%s' is not a job name (1-64 of A-Z a-z "
				   "0-9 . _ -, not starting with . or -) nor a "
				   "path",
				   arg);
	rc = put(path, n, err, "%s/%s", jobs_dir, arg);
	if (!rc && strlen(path) + 5 >= n)
		rc = bfs_err_set(err, -ENAMETOOLONG, "path too long: '%s'",
				 path);
	if (!rc)
		memcpy(path + strlen(path), ".json", 6);
	return rc;
}

static int mkdir_private(const char *dir, struct bfs_err *err)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return bfs_err_set(err, -errno, "cannot create '%s': %s", dir,
				   strerror(errno));
	if (stat(dir, &st) < 0)
		return bfs_err_set(err, -errno, "cannot stat '%s': %s", dir,
				   strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return bfs_err_set(err, -ENOTDIR, "'%s' is not a directory",
				   dir);
	return 0;
}

int bfs_jobstate_path(const char *state_dir, const char *job, bool create,
		      char *buf, size_t n, struct bfs_err *err)
{
	char jobs[PATH_MAX];
	int rc;

	if (!bfs_job_name_valid(job))
		return bfs_err_set(err, -EINVAL, "'%s' is not a job name", job);
	rc = put(jobs, sizeof(jobs), err, "%s/%s", state_dir, "jobs");
	if (!rc)
		rc = put(buf, n, err, "%s/%s", jobs, job);
	if (rc || !create)
		return rc;
	rc = bfs_mkdir_parents(state_dir, 0700);
	if (rc < 0)
		return bfs_err_set(err, rc,
				   "cannot create the parents of "
				   "'%s': %s",
				   state_dir, strerror(-rc));
	rc = mkdir_private(state_dir, err);
	if (!rc)
		rc = mkdir_private(jobs, err);
	if (!rc)
		rc = mkdir_private(buf, err);
	return rc;
}

/* STATE/jobs/JOB/name into buf. */
static int file_path(const char *state_dir, const char *job, const char *name,
		     bool create, char *buf, size_t n, struct bfs_err *err)
{
	char dir[PATH_MAX];
	int rc =
	    bfs_jobstate_path(state_dir, job, create, dir, sizeof(dir), err);

	return rc ? rc : put(buf, n, err, "%s/%s", dir, name);
}

/* Write data to path through path.tmp + rename, 0600. */
static int write_atomic(const char *path, const void *data, size_t len,
			struct bfs_err *err)
{
	char tmp[PATH_MAX];
	int fd, rc;

	rc = put(tmp, sizeof(tmp), err, "%s%s", path, ".tmp");
	if (rc)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return bfs_err_set(err, -errno, "cannot create '%s': %s", tmp,
				   strerror(errno));
	rc = bfs_write_full(fd, data, len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return bfs_err_set(err, rc, "cannot write '%s': %s", path,
				   strerror(-rc));
	}
	return 0;
}

/* Read a whole regular file of at most max bytes (NUL-terminated).
 * -ENOENT when absent (no message). */
static int read_small(const char *path, size_t max, char **out, size_t *outlen,
		      struct bfs_err *err)
{
	struct stat st;
	char *buf = NULL;
	ssize_t got;
	int fd, rc = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return bfs_err_set(err, -errno, "cannot open '%s': %s", path,
				   strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		rc = bfs_err_set(err, -errno, "cannot stat '%s': %s", path,
				 strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bfs_err_set(err, -EUCLEAN, "'%s' is not a regular file",
				 path);
		goto out_close;
	}
	if ((uint64_t)st.st_size > max) {
		rc = bfs_err_set(err, -EFBIG, "'%s' is larger than %zu bytes",
				 path, max);
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_close;
	}
	got = bfs_read_full(fd, buf, (size_t)st.st_size);
	if (got < 0) {
		rc = bfs_err_set(err, (int)got, "cannot read '%s': %s", path,
				 strerror((int)-got));
		free(buf);
		goto out_close;
	}
	buf[got] = '\0';
	*out = buf;
	*outlen = (size_t)got;
out_close:
	close(fd);
	return rc;
}

/* The summary as one JSON line, without the log tail (kept short). */
static int summary_line(const struct bfs_run_summary *s, char **out,
			struct bfs_err *err)
{
	struct bfs_run_summary c = *s;

	c.log_tail = NULL;
	return bfs_run_summary_json(&c, false, out, err);
}

/* Append line to runs.jsonl, keeping the last RUNS_KEEP lines. */
static int append_run(const char *path, const char *line, struct bfs_err *err)
{
	struct bfs_buf b = {0};
	char *old = NULL;
	const char *p;
	size_t len = 0, lines = 0;
	int rc;

	rc = read_small(path, RUNS_FILE_MAX, &old, &len, err);
	if (rc == -ENOENT)
		rc = 0;
	else if (rc == -EFBIG)
		rc = 0, old = NULL, len = 0; /* start over; never stop runs */
	if (rc)
		return rc;
	p = old ? old : "";
	if (len && old[len - 1] != '\n') {
		/* a torn last line (crash mid-write of an older version):
		 * drop it */
		char *nl = strrchr(old, '\n');

		len = nl ? (size_t)(nl - old) + 1 : 0;
		old[len] = '\0';
	}
	for (size_t i = 0; i < len; i++)
		lines += old[i] == '\n';
	while (lines >= RUNS_KEEP) {
		p = strchr(p, '\n') + 1;
		lines--;
	}
	if (bfs_buf_append(&b, p, strlen(p)) ||
	    bfs_buf_printf(&b, "%s\n", line))
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	else
		rc = write_atomic(path, b.data, b.len, err);
	bfs_buf_free(&b);
	free(old);
	return rc;
}

int bfs_jobstate_record(const char *state_dir, const struct bfs_run_summary *s,
			struct bfs_err *err)
{
	char path[PATH_MAX], *json = NULL, *line = NULL;
	int rc;

	if (!s->job || !bfs_job_name_valid(s->job))
		return bfs_err_set(err, -EINVAL,
				   "run summary without a valid "
				   "job name");
	rc = bfs_run_summary_json(s, true, &json, err);
	if (!rc)
		rc = summary_line(s, &line, err);
	if (!rc)
		rc = file_path(state_dir, s->job, "last.json", true, path,
			       sizeof(path), err);
	if (!rc)
		rc = write_atomic(path, json, strlen(json), err);
	if (!rc && s->status != BFS_RUN_FAILED) {
		rc = file_path(state_dir, s->job, "last-ok.json", true, path,
			       sizeof(path), err);
		if (!rc)
			rc = write_atomic(path, json, strlen(json), err);
	}
	if (!rc)
		rc = file_path(state_dir, s->job, "runs.jsonl", true, path,
			       sizeof(path), err);
	if (!rc)
		rc = append_run(path, line, err);
	free(json);
	free(line);
	return rc;
}

/* A number that fits: finite, >= 0, <= max. */
static bool get_num(const cJSON *o, const char *key, double max, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
	    v->valuedouble < 0 || v->valuedouble > max)
		return false;
	*out = v->valuedouble;
	return true;
}

/* A string or null that fits in n bytes (with its NUL). */
static bool get_str(const cJSON *o, const char *key, char *buf, size_t n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	buf[0] = '\0';
	if (!v || cJSON_IsNull(v))
		return true;
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= n)
		return false;
	memcpy(buf, v->valuestring, strlen(v->valuestring) + 1);
	return true;
}

/* Parse one summary object of job into r.  What is wrong into *why. */
static int parse_run(const char *text, const char *job,
		     struct bfs_jobstate_run *r, const char **why)
{
	cJSON *root = cJSON_Parse(text);
	const cJSON *w;
	char status[16];
	double d;
	int rc = -EUCLEAN;

	memset(r, 0, sizeof(*r));
	*why = "not a JSON object";
	if (!cJSON_IsObject(root))
		goto out;
	*why = "bad or missing \"job\"";
	if (!get_str(root, "job", r->job, sizeof(r->job)) ||
	    strcmp(r->job, job) != 0)
		goto out;
	*why = "bad \"backup_id\"";
	if (!get_str(root, "backup_id", r->backup_id, sizeof(r->backup_id)) ||
	    (r->backup_id[0] && !bfs_backup_id_valid(r->backup_id)))
		goto out;
	*why = "bad or missing \"status\"";
	if (!get_str(root, "status", status, sizeof(status)))
		goto out;
	if (strcmp(status, "ok") == 0)
		r->status = BFS_RUN_OK;
	else if (strcmp(status, "warning") == 0)
		r->status = BFS_RUN_WARNING;
	else if (strcmp(status, "failed") == 0)
		r->status = BFS_RUN_FAILED;
	else
		goto out;
	*why = "bad or missing \"start_unix\"";
	if (!get_num(root, "start_unix", 253402300799.0, &d))
		goto out;
	r->start = (time_t)d;
	*why = "bad or missing \"duration_seconds\"";
	if (!get_num(root, "duration_seconds", 1e9, &r->duration_s))
		goto out;
	*why = "bad or missing byte or file counts";
	if (!get_num(root, "bytes_read", 1.8e19, &d))
		goto out;
	r->bytes_read = (uint64_t)d;
	if (!get_num(root, "bytes_added", 1.8e19, &d))
		goto out;
	r->bytes_added = (uint64_t)d;
	if (!get_num(root, "files", 1.8e19, &d))
		goto out;
	r->files = (uint64_t)d;
	*why = "bad \"warnings\"";
	w = cJSON_GetObjectItemCaseSensitive(root, "warnings");
	if (w && !cJSON_IsArray(w) && !cJSON_IsNull(w))
		goto out;
	r->nwarnings = w ? (size_t)cJSON_GetArraySize(w) : 0;
	*why = "bad \"error\"";
	{
		const cJSON *e =
		    cJSON_GetObjectItemCaseSensitive(root, "error");
		if (e && !cJSON_IsNull(e) && !cJSON_IsString(e))
			goto out;
		if (cJSON_IsString(e))
			snprintf(r->error, sizeof(r->error), "%s",
				 e->valuestring);
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

static int read_run(const char *state_dir, const char *job, const char *name,
		    struct bfs_jobstate_run *r, bool *has, struct bfs_err *err)
{
	struct bfs_jobstate_run tmp;
	char path[PATH_MAX], *text = NULL;
	const char *why;
	size_t len;
	int rc;

	if (has)
		*has = false;
	rc = file_path(state_dir, job, name, false, path, sizeof(path), err);
	if (rc)
		return rc;
	rc = read_small(path, STATE_FILE_MAX, &text, &len, err);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (strlen(text) != len)
		rc = bfs_err_set(err, -EUCLEAN,
				 "'%s' is corrupt: NUL byte "
				 "inside",
				 path);
	else if (parse_run(text, job, &tmp, &why) < 0)
		rc = bfs_err_set(err, -EUCLEAN, "'%s' is corrupt: %s", path,
				 why);
	free(text);
	if (rc)
		return rc;
	if (r)
		*r = tmp;
	if (has)
		*has = true;
	return 0;
}

int bfs_jobstate_last(const char *state_dir, const char *job,
		      struct bfs_jobstate_run *last, bool *has_last,
		      struct bfs_jobstate_run *ok, bool *has_ok,
		      struct bfs_err *err)
{
	int rc = 0;

	if (last || has_last)
		rc = read_run(state_dir, job, "last.json", last, has_last, err);
	if (!rc && (ok || has_ok))
		rc = read_run(state_dir, job, "last-ok.json", ok, has_ok, err);
	return rc;
}

int bfs_jobstate_last_prune(const char *state_dir, const char *job,
			    time_t *when, struct bfs_err *err)
{
	char path[PATH_MAX], *text = NULL, *end;
	unsigned long long v;
	size_t len;
	int rc;

	*when = 0;
	rc = file_path(state_dir, job, "last-prune", false, path, sizeof(path),
		       err);
	if (rc)
		return rc;
	rc = read_small(path, 64, &text, &len, err);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (end == text || text[0] < '0' || text[0] > '9' || errno ||
	    (*end && strcmp(end, "\n") != 0) || v > 253402300799ULL)
		rc = bfs_err_set(err, -EUCLEAN,
				 "'%s' is corrupt: expected "
				 "epoch seconds",
				 path);
	else
		*when = (time_t)v;
	free(text);
	return rc;
}

int bfs_jobstate_set_last_prune(const char *state_dir, const char *job,
				time_t when, struct bfs_err *err)
{
	char path[PATH_MAX], text[32];
	int rc;

	if (when < 0)
		return bfs_err_set(err, -EINVAL, "negative prune time");
	rc = file_path(state_dir, job, "last-prune", true, path, sizeof(path),
		       err);
	if (rc)
		return rc;
	snprintf(text, sizeof(text), "%lld\n", (long long)when);
	return write_atomic(path, text, strlen(text), err);
}

int bfs_jobstate_lock(const char *state_dir, const char *job,
		      struct bfs_err *err)
{
	char path[PATH_MAX];
	int fd, rc;

	rc = file_path(state_dir, job, "lock", true, path, sizeof(path), err);
	if (rc)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return bfs_err_set(err, -errno, "cannot open '%s': %s", path,
				   strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		if (rc == -EBUSY)
			return bfs_err_set(err, rc,
					   "job '%s' is already "
					   "running",
					   job);
		return bfs_err_set(err, rc, "cannot lock '%s': %s", path,
				   strerror(-rc));
	}
	return fd;
}

bool bfs_jobstate_running(const char *state_dir, const char *job)
{
	char path[PATH_MAX];
	bool busy = false;
	int fd;

	if (file_path(state_dir, job, "lock", false, path, sizeof(path), NULL))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		busy = true;
	close(fd);
	return busy;
}
