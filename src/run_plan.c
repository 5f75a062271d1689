/* run_plan.c - the pure pieces of a job run: the argument lists of the
 * steps, the prune rule, the children's environment, the notify channels,
 * the secrets to redact and the parser of `backup --json` (src/run.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "run.h"
#include "schedule.h"
#include "util.h"

#define WARNINGS_MAX 100

static int add2(struct bfs_strv *a, const char *opt, const char *val)
{
	int rc = bfs_strv_add(a, opt);

	return rc ? rc : bfs_strv_add(a, val);
}

static int add_count(struct bfs_strv *a, const char *opt, unsigned n)
{
	char num[16];

	if (!n)
		return 0;
	snprintf(num, sizeof(num), "%u", n);
	return add2(a, opt, num);
}

/* SELF CMD -r REPO --job NAME: the backups carry the job's name, and
 * forget applies the retention to this job's backups only. */
static int head(struct bfs_strv *a, const char *self, const char *cmd,
		const struct bfs_job *job)
{
	int rc = bfs_strv_add(a, self);

	rc = rc ? rc : bfs_strv_add(a, cmd);
	rc = rc ? rc : add2(a, "-r", job->repository);
	rc = rc ? rc : add2(a, "--job", job->name);
	return rc;
}

static const char *source_flag(enum bfs_source_kind k)
{
	switch (k) {
	case BFS_SRC_FILES:
		return "--files";
	case BFS_SRC_ARCHIVE:
		return "--archive";
	case BFS_SRC_COMMAND:
		return "--command";
	case BFS_SRC_STDIN:
		return "--stdin";
	case BFS_SRC_PG_DUMP:
		return "--pg-dump";
	case BFS_SRC_MYSQL_DUMP:
		return "--mysql-dump";
	case BFS_SRC_NOCODB:
		return "--nocodb";
	}
	return NULL;
}

/* A nocodb source's options (the token comes from the environment). */
static int nocodb_opts(struct bfs_strv *a, const struct bfs_nocodb_opts *o)
{
	int rc = 0;

	if (!o)
		return 0;
	for (size_t k = 0; !rc && o->bases && o->bases[k]; k++)
		rc = add2(a, "--nocodb-base", o->bases[k]);
	if (!rc && !o->records)
		rc = bfs_strv_add(a, "--no-nocodb-records");
	if (!rc && !o->attachments)
		rc = bfs_strv_add(a, "--no-nocodb-attachments");
	return rc;
}

/* A dump source's options, after it: they apply to that source only
 * (backup's rule for dump options that follow a dump). */
static int dump_opts(struct bfs_strv *a, const struct bfs_source *s)
{
	const char *opt =
	    s->kind == BFS_SRC_PG_DUMP ? "--pg-dump-opt" : "--mysql-dump-opt";
	char secs[32];
	int rc = 0;

	for (size_t k = 0;
	     !rc && s->ignore_table_data && s->ignore_table_data[k]; k++)
		rc = add2(a, "--ignore-table-data", s->ignore_table_data[k]);
	for (size_t k = 0; !rc && s->dump_opts && s->dump_opts[k]; k++)
		rc = add2(a, opt, s->dump_opts[k]);
	if (!rc && s->pg_globals == BFS_PG_GLOBALS)
		rc = bfs_strv_add(a, "--pg-dumpall-globals");
	if (!rc && s->pg_globals == BFS_PG_GLOBALS_PASSWORDS)
		rc = bfs_strv_add(a, "--pg-dumpall-role-passwords");
	if (!rc && s->dump_timeout) {
		snprintf(secs, sizeof(secs), "%llus",
			 (unsigned long long)s->dump_timeout);
		rc = add2(a, "--dump-timeout", secs);
	}
	return rc;
}

int bfs_run_backup_argv(const struct bfs_job *job, const char *self,
			struct bfs_strv *a)
{
	int rc = head(a, self, "backup", job);
	size_t i;

	for (i = 0; !rc && i < job->ntags; i++)
		rc = add2(a, "--tag", job->tags[i]);
	rc = rc ? rc : bfs_strv_add(a, "--json");
	if (!rc && !job->delta)
		rc = bfs_strv_add(a, "--no-delta");
	for (i = 0; !rc && i < job->nsources; i++) {
		const struct bfs_source *s = &job->sources[i].src;
		const char *flag = source_flag(s->kind);

		if (!flag)
			return -EINVAL;
		rc = add2(a, flag, s->arg);
		for (size_t k = 0; !rc && s->excludes && s->excludes[k]; k++)
			rc = add2(a, "--exclude", s->excludes[k]);
		for (size_t k = 0;
		     !rc && s->ignore_tables && s->ignore_tables[k]; k++)
			rc = add2(a, "--ignore-table", s->ignore_tables[k]);
		if (!rc && s->kind == BFS_SRC_NOCODB)
			rc = nocodb_opts(a, s->nocodb);
		if (!rc)
			rc = dump_opts(a, s);
	}
	return rc;
}

int bfs_run_forget_argv(const struct bfs_job *job, const char *self,
			struct bfs_strv *a)
{
	const struct bfs_job_retention *r = &job->retention;
	int rc = head(a, self, "forget", job);

	rc = rc ? rc : add_count(a, "--keep-last", r->keep_last);
	rc = rc ? rc : add_count(a, "--keep-hourly", r->keep_hourly);
	rc = rc ? rc : add_count(a, "--keep-daily", r->keep_daily);
	rc = rc ? rc : add_count(a, "--keep-weekly", r->keep_weekly);
	rc = rc ? rc : add_count(a, "--keep-monthly", r->keep_monthly);
	rc = rc ? rc : add_count(a, "--keep-yearly", r->keep_yearly);
	if (!rc && r->keep_within)
		rc = add2(a, "--keep-within", r->keep_within);
	for (size_t i = 0; !rc && i < r->nkeep_tag; i++)
		rc = add2(a, "--keep-tag", r->keep_tag[i]);
	return rc;
}

/* t in local time formatted with fmt (the calendar bucket). */
static void bucket(time_t t, const char *fmt, char *buf, size_t n)
{
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, n, fmt, &tm))
		snprintf(buf, n, "?");
}

bool bfs_run_prune_due(const struct bfs_job_retention *r, time_t last,
		       time_t now)
{
	const char *fmt = NULL;
	char a[32], b[32];
	time_t next;

	switch (r->prune) {
	case BFS_JOB_PRUNE_ALWAYS:
		return true;
	case BFS_JOB_PRUNE_NEVER:
		return false;
	case BFS_JOB_PRUNE_DAILY:
		fmt = "%Y-%m-%d";
		break;
	case BFS_JOB_PRUNE_WEEKLY:
		fmt = "%G-W%V";
		break;
	case BFS_JOB_PRUNE_MONTHLY:
		fmt = "%Y-%m";
		break;
	case BFS_JOB_PRUNE_SCHEDULE:
		if (!r->prune_schedule)
			return false;
		if (last <= 0)
			return true;
		return bfs_schedule_next(r->prune_schedule, last, &next) == 0 &&
		       next <= now;
	}
	if (last <= 0)
		return true;
	if (last >= now)
		return false;
	bucket(last, fmt, a, sizeof(a));
	bucket(now, fmt, b, sizeof(b));
	return strcmp(a, b) != 0;
}

/* --- backup --json --- */

static bool get_u64(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) ||
	    v->valuedouble > 1.8e19)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

static void free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int bfs_run_parse_backup_json(const char *text, char **id, bool *partial,
			      uint64_t *files, uint64_t *bytes_read,
			      uint64_t *bytes_added, char ***warnings,
			      size_t *nwarnings, struct bfs_err *err)
{
	const cJSON *v, *st, *un, *e;
	cJSON *root = cJSON_Parse(text);
	char **w = NULL;
	size_t nw = 0, total, keep;
	int rc = -EINVAL;

	*id = NULL;
	*warnings = NULL;
	*nwarnings = 0;
	if (!cJSON_IsObject(root)) {
		bfs_err_set(err, rc, "backup --json: not a JSON object");
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (!cJSON_IsString(v) || !bfs_backup_id_valid(v->valuestring)) {
		bfs_err_set(err, rc, "backup --json: bad or missing \"id\"");
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "partial");
	st = cJSON_GetObjectItemCaseSensitive(root, "stats");
	if (!cJSON_IsBool(v) || !cJSON_IsObject(st) ||
	    !get_u64(st, "files", files) || !get_u64(st, "bytes", bytes_read) ||
	    !get_u64(st, "stored_bytes", bytes_added)) {
		bfs_err_set(err, rc,
			    "backup --json: bad or missing \"partial\" or "
			    "\"stats\"");
		goto out;
	}
	*partial = cJSON_IsTrue(v);
	un = cJSON_GetObjectItemCaseSensitive(root, "unreadable");
	total = cJSON_IsArray(un) ? (size_t)cJSON_GetArraySize(un) : 0;
	keep = total > WARNINGS_MAX ? WARNINGS_MAX : total;
	w = calloc(keep + 2, sizeof(*w));
	if (!w)
		goto out_nomem;
	cJSON_ArrayForEach(e, un)
	{
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "path");
		const cJSON *why = cJSON_GetObjectItemCaseSensitive(e, "error");
		struct bfs_buf b = {0};

		if (nw == keep)
			break;
		if (bfs_buf_printf(&b, "unreadable: %s: %s",
				   cJSON_IsString(p) ? p->valuestring
						     : "(a name that is not "
						       "UTF-8)",
				   cJSON_IsString(why) ? why->valuestring
						       : "?") ||
		    bfs_buf_append(&b, "", 1)) {
			bfs_buf_free(&b);
			goto out_nomem;
		}
		w[nw++] = (char *)b.data;
	}
	if (total > keep) {
		struct bfs_buf b = {0};

		if (bfs_buf_printf(&b, "... and %zu more unreadable entries",
				   total - keep) ||
		    bfs_buf_append(&b, "", 1)) {
			bfs_buf_free(&b);
			goto out_nomem;
		}
		w[nw++] = (char *)b.data;
	}
	if (*partial && nw == 0) {
		w[nw] = strdup("the backup is partial: some entries were "
			       "unreadable");
		if (!w[nw++])
			goto out_nomem;
	}
	*id = strdup(cJSON_GetObjectItemCaseSensitive(root, "id")->valuestring);
	if (!*id)
		goto out_nomem;
	*warnings = w;
	*nwarnings = nw;
	w = NULL;
	nw = 0;
	rc = 0;
	goto out;
out_nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out:
	free_strs(w, nw);
	cJSON_Delete(root);
	return rc;
}

/* --- environment, channels, secrets --- */

void bfs_envp_free(char **envp)
{
	if (!envp)
		return;
	for (char **p = envp; *p; p++) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
	free(envp);
}

/* Put "KEY=VALUE" kv into v[0..*n), replacing an entry with the same
 * KEY.  kv is taken over. */
static void env_put(char **v, size_t *n, char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < *n; i++)
		if (strncmp(v[i], kv, klen) == 0 && v[i][klen] == '=') {
			explicit_bzero(v[i], strlen(v[i]));
			free(v[i]);
			v[i] = kv;
			return;
		}
	v[(*n)++] = kv;
}

int bfs_envp_build(char *const *base, const struct bfs_job_env *env,
		   const char *const *extra, size_t nextra, char ***out)
{
	size_t nb = 0, n = 0, i;
	char **v, *kv;

	*out = NULL;
	while (base && base[nb])
		nb++;
	v = calloc(nb + (env ? env->n : 0) + nextra + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < nb; i++) {
		if (!strchr(base[i], '='))
			continue;
		if (!(kv = strdup(base[i])))
			goto out_nomem;
		env_put(v, &n, kv);
	}
	for (i = 0; env && i < env->n; i++) {
		size_t kl = strlen(env->vars[i].key),
		       vl = strlen(env->vars[i].value);

		if (!(kv = malloc(kl + vl + 2)))
			goto out_nomem;
		memcpy(kv, env->vars[i].key, kl);
		kv[kl] = '=';
		memcpy(kv + kl + 1, env->vars[i].value, vl + 1);
		env_put(v, &n, kv);
	}
	for (i = 0; i < nextra; i++) {
		if (!strchr(extra[i], '=') || !(kv = strdup(extra[i])))
			goto out_nomem;
		env_put(v, &n, kv);
	}
	v[n] = NULL;
	*out = v;
	return 0;
out_nomem:
	v[n] = NULL;
	bfs_envp_free(v);
	return -ENOMEM;
}

int bfs_run_channels(const struct bfs_job *job, struct bfs_notify_channel **out)
{
	struct bfs_notify_channel *c;

	*out = NULL;
	c = calloc(job->nnotify ? job->nnotify : 1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < job->nnotify; i++) {
		const struct bfs_job_notify *j = &job->notify[i];

		/* the job parser's enums list the same words in the same
		 * order; go through the words anyway so that a reordering
		 * cannot silently send to the wrong channel */
		if (bfs_notify_type_parse(j->type_name, &c[i].type) < 0 ||
		    bfs_notify_level_parse(
			j->level == BFS_JOB_LEVEL_ERRORS     ? "errors"
			: j->level == BFS_JOB_LEVEL_WARNINGS ? "warnings"
							     : "all",
			&c[i].level) < 0) {
			free(c);
			return -EINVAL;
		}
		c[i].url = j->url;
		c[i].teams_format = BFS_TEAMS_AUTO;
		if (j->format &&
		    bfs_teams_format_parse(j->format, &c[i].teams_format) < 0) {
			free(c);
			return -EINVAL;
		}
		c[i].to = j->to;
		c[i].nto = j->nto;
		c[i].from = j->from;
		c[i].smtp = j->smtp;
		c[i].user_env = j->user_env;
		c[i].password_env = j->password_env;
	}
	*out = c;
	return 0;
}

static const char *envp_get(char *const *envp, const char *key)
{
	size_t kl = strlen(key);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, kl) == 0 && (*envp)[kl] == '=')
			return *envp + kl + 1;
	return NULL;
}

int bfs_run_secrets(const struct bfs_job *job, const struct bfs_job_env *env,
		    char *const *envp, const char ***out, size_t *n)
{
	static const char *const known[] = {"AWS_SECRET_ACCESS_KEY",
					    "AWS_SESSION_TOKEN",
					    "PGPASSWORD",
					    "MYSQL_PWD",
					    "SMTP_PASSWORD",
					    "BACKUPFS_PASSWORD"};
	size_t cap = BFS_ARRAY_SIZE(known) + job->nnotify + (env ? env->n : 0);
	const char **v = calloc(cap + 1, sizeof(*v));
	const char *s;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; env && i < env->n; i++)
		v[k++] = env->vars[i].value;
	for (size_t i = 0; i < BFS_ARRAY_SIZE(known); i++)
		if ((s = envp_get(envp, known[i])))
			v[k++] = s;
	for (size_t i = 0; i < job->nnotify; i++)
		if (job->notify[i].password_env &&
		    (s = envp_get(envp, job->notify[i].password_env)))
			v[k++] = s;
	*out = v;
	*n = k;
	return 0;
}
