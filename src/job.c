/* job.c - parse and validate job files (doc/JOBS.md).
 *
 * The document is parsed with cJSON, then walked once, object by object:
 * each object's keys are checked first (unknown keys, duplicates), then
 * each value's type and content.  The first error wins; its message starts
 * with the field path.  Strings in struct bfs_job are borrowed from the
 * cJSON tree the job keeps. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "format.h"
#include "job.h"
#include "job_int.h"
#include "schedule.h"
#include "util.h"

static int get_uint(const cJSON *v, const char *path, unsigned max,
		    unsigned *out, struct bfs_err *err)
{
	double d;

	if (!cJSON_IsNumber(v))
		return jp_fail(err, path, "expected an integer");
	d = v->valuedouble;
	if (!isfinite(d))
		return jp_fail(err, path, "expected an integer");
	if (d < 0)
		return jp_fail(err, path, "must be >= 0");
	if (d > max)
		return jp_fail(err, path, "must be at most %u", max);
	if ((double)(unsigned)d != d)
		return jp_fail(err, path, "expected an integer");
	*out = (unsigned)d;
	return 0;
}

static int get_schedule(const cJSON *v, const char *path,
			struct bfs_schedule **out, struct bfs_err *err)
{
	const char *s;
	int rc;

	rc = jp_get_string(v, path, S_LINE, &s, err);
	if (rc)
		return rc;
	rc = bfs_schedule_parse(s, out, err);
	if (rc)
		return bfs_err_prefix(err, rc, "%s", path);
	return 0;
}

/* ---- sources ----------------------------------------------------------- */

static const struct {
	const char *key;
	enum bfs_source_kind kind;
	int flags;
	const char *syntax; /* when bfs_source_dest refuses it */
	const char *secret; /* where its password belongs */
} kinds[] = {
    {"pg_dump", BFS_SRC_PG_DUMP, S_LINE, "expected [NAME=]CONNINFO",
     "put PGPASSWORD in the env_file or use a .pgpass file"},
    {"mysql_dump", BFS_SRC_MYSQL_DUMP, S_LINE,
     "expected [NAME=]mysql://USER@HOST/DB or [NAME=]DATABASE",
     "put MYSQL_PWD in the env_file or use an option file"},
    {"files", BFS_SRC_FILES, S_LINE, NULL, NULL},
    {"command", BFS_SRC_COMMAND, S_TEXT,
     "expected PATH=COMMAND (PATH: where its output lands)", NULL},
    {"archive", BFS_SRC_ARCHIVE, S_LINE, NULL, NULL},
    {"stdin", BFS_SRC_STDIN, S_LINE, NULL, NULL},
    {"nocodb", BFS_SRC_NOCODB, S_LINE, "expected [DEST=]http(s)://HOST:PORT",
     "put NOCODB_API_TOKEN in the env_file"},
};

static const char *const source_keys[] = {
    "pg_dump", "mysql_dump", "files", "command", "archive", "stdin", "exclude",
    "ignore_table", "nocodb", "nocodb_base", "nocodb_records",
    "nocodb_attachments",
    /* job_dump.c */
    "ignore_table_data", "dump_opts", "dump_timeout", "pg_dumpall_globals",
    "pg_dumpall_role_passwords", NULL};

/* The options of a nocodb source: nocodb_base (array of titles),
 * nocodb_records and nocodb_attachments (booleans, default true);
 * refused beside other kinds. */
static int parse_nocodb(const cJSON *o, const char *path,
			struct bfs_job_source *js, struct bfs_err *err)
{
	static const char *const keys[] = {"nocodb_base", "nocodb_records",
					   "nocodb_attachments"};
	bool *flags[] = {NULL, &js->nocodb.records, &js->nocodb.attachments};
	const cJSON *c;
	char kp[PATH_LEN];
	const char **list;
	size_t i, n;
	int rc;

	js->nocodb.records = js->nocodb.attachments = true;
	for (i = 0; i < BFS_ARRAY_SIZE(keys); i++) {
		c = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
		jp_sub(kp, path, keys[i]);
		if (!c)
			continue;
		if (js->src.kind != BFS_SRC_NOCODB)
			return jp_fail(err, kp,
				       "not an option of a %s source (only "
				       "nocodb takes it)",
				       js->kind_name);
		if (i == 0) {
			rc = jp_get_list(c, kp, S_NONEMPTY | S_LINE, &list, &n,
					 err);
			if (rc)
				return rc;
			js->nocodb.bases = list;
		} else {
			rc = jp_get_bool(c, kp, flags[i], err);
			if (rc)
				return rc;
		}
	}
	if (js->src.kind == BFS_SRC_NOCODB)
		js->src.nocodb = &js->nocodb;
	return 0;
}

static int parse_source(const cJSON *o, const char *path,
			struct bfs_job_source *js, struct bfs_err *err)
{
	const cJSON *kv = NULL, *c;
	struct bfs_err e2 = {""};
	char kp[PATH_LEN], ip[PATH_LEN];
	const char **list;
	size_t i, k = 0;
	int rc;

	rc = jp_check_keys(o, path, source_keys, err);
	if (rc)
		return rc;
	for (i = 0; i < BFS_ARRAY_SIZE(kinds); i++) {
		c = cJSON_GetObjectItemCaseSensitive(o, kinds[i].key);
		if (!c)
			continue;
		if (kv)
			return jp_fail(
			    err, path,
			    "both %s and %s: give one source kind per object",
			    kinds[k].key, kinds[i].key);
		kv = c;
		k = i;
	}
	if (!kv)
		return jp_fail(err, path,
			       "no source kind: give one of pg_dump, "
			       "mysql_dump, files, command, archive, stdin, "
			       "nocodb");
	jp_sub(kp, path, kinds[k].key);
	rc = jp_get_string(kv, kp, kinds[k].flags | S_NONEMPTY, &js->src.arg,
			   err);
	if (rc)
		return rc;
	if (bfs_job_has_password(js->src.arg))
		return jp_fail(
		    err, kp,
		    "contains a password: a job file must not hold secrets; %s",
		    kinds[k].secret ? kinds[k].secret
				    : "put them in the env_file");
	js->kind_name = kinds[k].key;
	js->src.kind = kinds[k].kind;
	rc = parse_nocodb(o, path, js, err);
	if (rc)
		return rc;
	rc = jp_parse_dump(o, path, js, err);
	if (rc)
		return rc;

	c = cJSON_GetObjectItemCaseSensitive(o, "exclude");
	jp_sub(kp, path, "exclude");
	if (c && js->src.kind != BFS_SRC_FILES &&
	    js->src.kind != BFS_SRC_ARCHIVE)
		return jp_fail(err, kp,
			       "not an option of a %s source (only files and "
			       "archive take it)",
			       kinds[k].key);
	rc = jp_get_list(c, kp, S_NONEMPTY | S_LINE, &list, &i, err);
	if (rc)
		return rc;
	js->src.excludes = list;

	c = cJSON_GetObjectItemCaseSensitive(o, "ignore_table");
	jp_sub(kp, path, "ignore_table");
	if (c && js->src.kind != BFS_SRC_MYSQL_DUMP)
		return jp_fail(
		    err, kp,
		    "not an option of a %s source (only mysql_dump takes it)",
		    kinds[k].key);
	rc = jp_get_list(c, kp, S_NONEMPTY | S_LINE, &list, &i, err);
	if (rc)
		return rc;
	js->src.ignore_tables = list;
	for (i = 0; list[i]; i++) {
		const char *dot = strchr(list[i], '.');

		if (!dot || dot == list[i] || !dot[1]) {
			jp_idx(ip, kp, i);
			return jp_fail(err, ip, "expected DB.TABLE");
		}
	}

	jp_sub(kp, path, kinds[k].key);
	rc = bfs_source_dest(&js->src, &js->dest, &e2);
	if (rc == -ENOMEM)
		return bfs_err_set(err, rc, "out of memory");
	if (rc) {
		/* the source module's message may quote the argument: only
		 * trust it for kinds whose argument is a plain path */
		if (kinds[k].syntax)
			return jp_fail(err, kp, "%s", kinds[k].syntax);
		return jp_fail(err, kp, "%s", e2.msg);
	}
	if (kinds[k].secret) {
		/* parsed as libpq / mysql do: "postgresql://u:pa?ss@h/db"
		 * holds a password bfs_job_has_password does not see */
		char *copy = strdup(js->src.arg);
		size_t n;

		if (!copy)
			return bfs_err_set(err, -ENOMEM, "out of memory");
		n = bfs_source_scrub(js->src.kind, copy);
		free(copy);
		if (n)
			return jp_fail(err, kp,
				       "contains a password: a job file must "
				       "not hold secrets; %s",
				       kinds[k].secret);
	}
	return 0;
}

static int parse_sources(const cJSON *v, struct bfs_job *job,
			 struct bfs_err *err)
{
	const cJSON *c;
	char p[PATH_LEN], dp[64];
	size_t i = 0, j, cnt;
	int rc, nstdin = 0;

	if (!v)
		return jp_fail(err, "sources", "missing (at least one source)");
	if (!cJSON_IsArray(v))
		return jp_fail(err, "sources", "expected an array of objects");
	cnt = (size_t)cJSON_GetArraySize(v);
	if (cnt == 0)
		return jp_fail(err, "sources", "empty (at least one source)");
	if (cnt > LIST_MAX)
		return jp_fail(err, "sources", "too many entries (at most %d)",
			       LIST_MAX);
	job->sources = calloc(cnt, sizeof(*job->sources));
	if (!job->sources)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (c = v->child; c; c = c->next, i++) {
		jp_idx(p, "sources", i);
		job->nsources = i + 1; /* so bfs_job_free releases it */
		rc = parse_source(c, p, &job->sources[i], err);
		if (rc)
			return rc;
		if (job->sources[i].src.kind == BFS_SRC_STDIN && nstdin++)
			return jp_fail(err, p, "only one stdin source per job");
		for (j = 0; j < i; j++) {
			if (strcmp(job->sources[i].dest,
				   job->sources[j].dest) != 0)
				continue;
			jp_clean(dp, sizeof(dp), job->sources[i].dest);
			return jp_fail(err, p,
				       "lands on '%s' like sources[%zu]: give "
				       "one of them a NAME= or DEST=",
				       dp, j);
		}
	}
	return 0;
}

/* ---- hooks, retention, verify ------------------------------------------ */

static int parse_hooks(const cJSON *v, struct bfs_job_hooks *h,
		       struct bfs_err *err)
{
	static const char *const keys[] = {
	    "pre", "post", "on_failure", "on_success", "timeout", NULL};
	const int f = S_NONEMPTY | S_TEXT | S_NOPASS;
	const cJSON *t;
	int rc;

	h->timeout = BFS_JOB_HOOK_TIMEOUT_DEFAULT;
	if (v) {
		rc = jp_check_keys(v, "hooks", keys, err);
		if (rc)
			return rc;
	}
#define HOOK_LIST(name)                                                        \
	rc =                                                                   \
	    jp_get_list(v ? cJSON_GetObjectItemCaseSensitive(v, #name) : NULL, \
			"hooks." #name, f, &h->name, &h->n##name, err);        \
	if (rc)                                                                \
	return rc
	HOOK_LIST(pre);
	HOOK_LIST(post);
	HOOK_LIST(on_failure);
	HOOK_LIST(on_success);
#undef HOOK_LIST
	t = v ? cJSON_GetObjectItemCaseSensitive(v, "timeout") : NULL;
	if (t) {
		rc = jp_get_duration(t, "hooks.timeout", &h->timeout, err);
		if (rc)
			return rc;
		if (h->timeout == 0)
			return jp_fail(err, "hooks.timeout",
				       "must be at least 1s");
	}
	return 0;
}

/* forget --keep-within: restic's units y, m (months), d, h. */
static bool keep_within_valid(const char *s)
{
	if (!*s)
		return false;
	while (*s) {
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
		if (!*s || !strchr("ymdh", *s))
			return false;
		s++;
	}
	return true;
}

static int parse_retention(const cJSON *v, struct bfs_job_retention *r,
			   struct bfs_err *err)
{
	static const char *const keys[] = {
	    "keep_last",    "keep_hourly", "keep_daily",  "keep_weekly",
	    "keep_monthly", "keep_yearly", "keep_within", "keep_tag",
	    "prune",	    NULL};
	static const char *const prunes[] = {"always", "never",	  "daily",
					     "weekly", "monthly", NULL};
	unsigned *counts[] = {&r->keep_last,	&r->keep_hourly,
			      &r->keep_daily,	&r->keep_weekly,
			      &r->keep_monthly, &r->keep_yearly};
	struct bfs_err e2 = {""};
	const cJSON *c;
	const char *s;
	char p[PATH_LEN], w[48];
	size_t i;
	bool any = false;
	int rc;

	r->prune = BFS_JOB_PRUNE_ALWAYS;
	if (v) {
		rc = jp_check_keys(v, "retention", keys, err);
		if (rc)
			return rc;
	}
	c = v ? cJSON_GetObjectItemCaseSensitive(v, "keep_tag") : NULL;
	rc = jp_get_list(c, "retention.keep_tag", S_NONEMPTY | S_LINE,
			 &r->keep_tag, &r->nkeep_tag, err);
	if (rc || !v)
		return rc;
	r->set = true;
	any = r->nkeep_tag > 0;
	for (i = 0; i < BFS_ARRAY_SIZE(counts); i++) {
		c = cJSON_GetObjectItemCaseSensitive(v, keys[i]);
		if (!c)
			continue;
		jp_sub(p, "retention", keys[i]);
		rc = get_uint(c, p, KEEP_MAX, counts[i], err);
		if (rc)
			return rc;
		any |= *counts[i] > 0;
	}
	c = cJSON_GetObjectItemCaseSensitive(v, "keep_within");
	if (c) {
		rc = jp_get_string(c, "retention.keep_within", S_LINE, &s, err);
		if (rc)
			return rc;
		jp_clean(w, sizeof(w), s);
		if (!keep_within_valid(s))
			return jp_fail(err, "retention.keep_within",
				       "\"%s\": expected a duration like 1y6m, "
				       "30d or 12h (units y, m = months, d, h)",
				       w);
		r->keep_within = s;
		any = true;
	}
	if (!any)
		return jp_fail(err, "retention",
			       "no keep_* rule: this would forget every backup "
			       "(give keep_last, keep_daily, ...)");
	c = cJSON_GetObjectItemCaseSensitive(v, "prune");
	if (!c)
		return 0;
	rc = jp_get_string(c, "retention.prune", S_LINE, &s, err);
	if (rc)
		return rc;
	for (i = 0; prunes[i]; i++) {
		if (strcmp(s, prunes[i]) == 0) {
			r->prune = (enum bfs_job_prune)i;
			return 0;
		}
	}
	rc = bfs_schedule_parse(s, &r->prune_schedule, &e2);
	if (rc == -ENOMEM)
		return bfs_err_set(err, rc, "out of memory");
	if (rc) {
		jp_clean(w, sizeof(w), s);
		return jp_fail(err, "retention.prune",
			       "\"%s\": expected always, never, daily, weekly, "
			       "monthly or a schedule (%s)",
			       w, e2.msg);
	}
	r->prune = BFS_JOB_PRUNE_SCHEDULE;
	return 0;
}

/* "5%", "2.5%", "1/10" or a size ("500M"). */
static bool subset_valid(const char *s)
{
	unsigned long n, t;
	uint64_t size;
	double pct;
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	if (s[strlen(s) - 1] == '%') {
		pct = strtod(s, &end);
		return *end == '%' && !end[1] && pct > 0 && pct <= 100;
	}
	if (strchr(s, '/')) {
		n = strtoul(s, &end, 10);
		if (*end != '/' || !isdigit((unsigned char)end[1]))
			return false;
		t = strtoul(end + 1, &end, 10);
		return !*end && n >= 1 && n <= t && t <= 1000000;
	}
	return bfs_parse_size(s, &size) == 0 && size > 0;
}

static int parse_verify(const cJSON *v, struct bfs_job *job,
			struct bfs_err *err)
{
	static const char *const keys[] = {"read_data_subset", "read_data",
					   NULL};
	const cJSON *sub_, *all;
	char w[48];
	bool b = false;
	int rc;

	job->verify = BFS_JOB_VERIFY_NONE;
	if (!v)
		return 0;
	rc = jp_check_keys(v, "verify", keys, err);
	if (rc)
		return rc;
	sub_ = cJSON_GetObjectItemCaseSensitive(v, "read_data_subset");
	all = cJSON_GetObjectItemCaseSensitive(v, "read_data");
	if (sub_ && all)
		return jp_fail(err, "verify",
			       "give read_data_subset or read_data, not both");
	if (!sub_ && !all)
		return jp_fail(err, "verify",
			       "empty (give read_data_subset or read_data)");
	if (all) {
		rc = jp_get_bool(all, "verify.read_data", &b, err);
		if (!rc && b)
			job->verify = BFS_JOB_VERIFY_ALL;
		return rc;
	}
	rc = jp_get_string(sub_, "verify.read_data_subset", S_LINE,
			   &job->verify_subset, err);
	if (rc)
		return rc;
	if (!subset_valid(job->verify_subset)) {
		jp_clean(w, sizeof(w), job->verify_subset);
		return jp_fail(err, "verify.read_data_subset",
			       "\"%s\": expected a percentage (5%%), a "
			       "fraction (1/10) or a size (500M)",
			       w);
	}
	job->verify = BFS_JOB_VERIFY_SUBSET;
	return 0;
}

/* ---- the job ----------------------------------------------------------- */

bool bfs_job_name_valid(const char *name)
{
	return bfs_format_job_name_valid(name);
}

static const char *const top_keys[] = {"name",	     "description",
				       "repository", "env_file",
				       "tags",	     "sources",
				       "hooks",	     "retention",
				       "copy_to",    "delete_local_after_copy",
				       "verify",     "schedule",
				       "catch_up",   "notify",
				       "delta",	     NULL};

static int parse_job(const cJSON *root, struct bfs_job *job,
		     struct bfs_err *err)
{
	const cJSON *v;
	const char *s;
	char p[PATH_LEN];
	size_t i;
	int rc;

#define GET(key) cJSON_GetObjectItemCaseSensitive(root, key)
	rc = jp_check_keys(root, "", top_keys, err);
	if (rc)
		return rc == -EINVAL && !cJSON_IsObject(root)
			   ? bfs_err_set(err, rc,
					 "expected a JSON object at the top")
			   : rc;
	v = GET("name");
	if (!v)
		return jp_fail(err, "name", "missing");
	rc = jp_get_string(v, "name", 0, &job->name, err);
	if (rc)
		return rc;
	if (!bfs_job_name_valid(job->name))
		return jp_fail(err, "name",
			       "expected 1-%d of A-Z a-z 0-9 . _ - (not "
			       "starting with . or -)",
			       BFS_JOB_NAME_MAX);
	v = GET("description");
	if (v && (rc = jp_get_string(v, "description", S_TEXT, &s, err)))
		return rc;
	v = GET("repository");
	if (!v)
		return jp_fail(err, "repository", "missing");
	rc = jp_get_string(v, "repository", S_NONEMPTY | S_LINE | S_NOPASS,
			   &job->repository, err);
	if (rc)
		return rc;
	v = GET("env_file");
	if (v) {
		rc = jp_get_string(v, "env_file", S_NONEMPTY | S_LINE,
				   &job->env_file, err);
		if (rc)
			return rc;
		if (job->env_file[0] != '/')
			return jp_fail(err, "env_file",
				       "expected an absolute path");
	}
	rc = jp_get_list(GET("tags"), "tags", S_NONEMPTY | S_LINE, &job->tags,
			 &job->ntags, err);
	if (rc)
		return rc;
	for (i = 0; i < job->ntags; i++) {
		jp_idx(p, "tags", i);
		if (strlen(job->tags[i]) > 128)
			return jp_fail(err, p, "too long (at most 128 bytes)");
	}
	rc = parse_sources(GET("sources"), job, err);
	if (rc)
		return rc;
	rc = parse_hooks(GET("hooks"), &job->hooks, err);
	if (rc)
		return rc;
	rc = parse_retention(GET("retention"), &job->retention, err);
	if (rc)
		return rc;
	rc = jp_get_list(GET("copy_to"), "copy_to",
			 S_NONEMPTY | S_LINE | S_NOPASS, &job->copy_to,
			 &job->ncopy_to, err);
	if (rc)
		return rc;
	for (i = 0; i < job->ncopy_to; i++) {
		jp_idx(p, "copy_to", i);
		if (strcmp(job->copy_to[i], job->repository) == 0)
			return jp_fail(err, p, "same as repository");
	}
	v = GET("delete_local_after_copy");
	if (v) {
		rc = jp_get_bool(v, "delete_local_after_copy",
				 &job->delete_local_after_copy, err);
		if (rc)
			return rc;
		if (job->delete_local_after_copy && !job->ncopy_to)
			return jp_fail(
			    err, "delete_local_after_copy",
			    "needs copy_to (nothing would keep the backups)");
	}
	rc = parse_verify(GET("verify"), job, err);
	if (rc)
		return rc;
	v = GET("schedule");
	if (v) {
		rc = get_schedule(v, "schedule", &job->schedule, err);
		if (rc)
			return rc;
	}
	job->catch_up = true;
	v = GET("catch_up");
	if (v && (rc = jp_get_bool(v, "catch_up", &job->catch_up, err)))
		return rc;
	job->delta = true;
	v = GET("delta");
	if (v && (rc = jp_get_bool(v, "delta", &job->delta, err)))
		return rc;
	return jp_parse_notify(GET("notify"), job, err);
#undef GET
}

/* "line L, column C" of pos in text. */
static void position(const char *text, const char *pos, size_t *line,
		     size_t *col)
{
	const char *p;

	*line = 1;
	*col = 1;
	for (p = text; p < pos && *p; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

int bfs_job_parse(const char *text, size_t len, struct bfs_job **out,
		  struct bfs_err *err)
{
	struct bfs_job *job;
	const char *end = NULL;
	size_t line, col;
	char *copy;
	int rc;

	*out = NULL;
	if (len > BFS_JOB_FILE_MAX)
		return bfs_err_set(err, -EFBIG, "too large (over %d bytes)",
				   BFS_JOB_FILE_MAX);
	if (!bfs_utf8_valid(text, len))
		return bfs_err_set(
		    err, -EINVAL,
		    "not valid UTF-8 text (or contains a NUL byte)");
	job = calloc(1, sizeof(*job));
	copy = malloc(len + 1);
	if (!job || !copy) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	job->root = cJSON_ParseWithOpts(copy, &end, true);
	if (!job->root) {
		if (!end)
			end = copy;
		position(copy, end, &line, &col);
		rc = bfs_err_set(err, -EINVAL,
				 "line %zu, column %zu: invalid JSON", line,
				 col);
		goto out_free;
	}
	/* first: a placeholder would fail a later check less clearly */
	rc = jp_check_placeholders(job->root, err);
	if (!rc)
		rc = parse_job(job->root, job, err);
	if (rc)
		goto out_free;
	free(copy);
	*out = job;
	return 0;
out_free:
	free(copy);
	bfs_job_free(job);
	return rc;
}

int bfs_job_load(const char *path, struct bfs_job **out, struct bfs_err *err)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd, rc;

	*out = NULL;
	/* O_NONBLOCK: a FIFO must not hang us; it is refused below */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return bfs_err_set(err, -errno, "%s: %s", path,
				   strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = bfs_err_set(err, -errno, "%s: %s", path, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bfs_err_set(err, -EINVAL, "%s: not a regular file", path);
		goto out_close;
	}
	if (st.st_size > BFS_JOB_FILE_MAX) {
		rc = bfs_err_set(err, -EFBIG, "%s: too large (over %d bytes)",
				 path, BFS_JOB_FILE_MAX);
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_close;
	}
	/* read one byte more than stat said, to notice a growing file */
	n = bfs_read_full(fd, buf, (size_t)st.st_size + 1);
	if (n < 0) {
		rc =
		    bfs_err_set(err, (int)n, "%s: %s", path, strerror((int)-n));
		goto out_close;
	}
	if (n > st.st_size) {
		rc = bfs_err_set(err, -EAGAIN, "%s: changed while read", path);
		goto out_close;
	}
	rc = bfs_job_parse(buf, (size_t)n, out, err);
	if (rc)
		bfs_err_prefix(err, rc, "%s", path);
out_close:
	free(buf);
	close(fd);
	return rc;
}

void bfs_job_free(struct bfs_job *job)
{
	size_t i;

	if (!job)
		return;
	for (i = 0; i < job->nsources; i++) {
		free((void *)job->sources[i].src.excludes);
		free((void *)job->sources[i].src.ignore_tables);
		free((void *)job->sources[i].src.ignore_table_data);
		free((void *)job->sources[i].src.dump_opts);
		free((void *)job->sources[i].nocodb.bases);
		free(job->sources[i].dest);
	}
	free(job->sources);
	free(job->tags);
	free(job->hooks.pre);
	free(job->hooks.post);
	free(job->hooks.on_failure);
	free(job->hooks.on_success);
	free(job->retention.keep_tag);
	bfs_schedule_free(job->retention.prune_schedule);
	free(job->copy_to);
	bfs_schedule_free(job->schedule);
	for (i = 0; i < job->nnotify; i++)
		free(job->notify[i].to);
	free(job->notify);
	cJSON_Delete(job->root);
	free(job);
}
