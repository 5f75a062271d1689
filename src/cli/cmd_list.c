/* cmd_list.c - `backupfs list`: the backups of a repository, from the
 * catalog (synced first). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"

struct list_args {
	bool json;
	const char *job; /* --job: only that job's backups */
};

struct row {
	char id[129];
	char created[32];
	char entries[24];
	char size[24];
	char stored[24];
	char job[BFS_JOB_NAME_MAX + 1];
	char *tags; /* "a,b" */
	bool partial;
};

struct collect {
	struct row *rows;
	size_t n, cap;
	cJSON *json;	 /* array, with --json */
	const char *job; /* --job, or NULL */
	bool any_job;	 /* a row has a job: print the JOB column */
	int rc;
};

/* "a,b,c" from a JSON array of strings (untrusted text: anything else
 * is skipped). */
static char *tags_text(const char *tags_json)
{
	struct bfs_buf b = {0};
	cJSON *arr, *t;
	char *out;

	arr = tags_json ? cJSON_Parse(tags_json) : NULL;
	cJSON_ArrayForEach(t, arr)
	{
		if (!cJSON_IsString(t))
			continue;
		if ((b.len && bfs_buf_append(&b, ",", 1) < 0) ||
		    bfs_buf_append(&b, t->valuestring, strlen(t->valuestring)) <
			0)
			break;
	}
	cJSON_Delete(arr);
	if (bfs_buf_append(&b, "", 1) < 0) {
		bfs_buf_free(&b);
		return NULL;
	}
	out = (char *)b.data;
	return out;
}

static cJSON *backup_json(const struct bfs_backup_info *b)
{
	cJSON *o = cJSON_CreateObject(), *tags, *stats;
	char t[32];

	if (!o)
		return NULL;
	cli_fmt_time(t, sizeof(t), b->time_ns, true);
	cJSON_AddStringToObject(o, "id", b->name);
	cJSON_AddStringToObject(o, "time", t);
	cli_json_add_int(o, "time_ns", b->time_ns);
	cJSON_AddStringToObject(o, "host", b->host);
	if (b->job[0])
		cJSON_AddStringToObject(o, "job", b->job);
	else
		cJSON_AddNullToObject(o, "job");
	tags = b->tags_json ? cJSON_Parse(b->tags_json) : NULL;
	if (!cJSON_IsArray(tags)) {
		cJSON_Delete(tags);
		tags = cJSON_CreateArray();
	}
	cJSON_AddItemToObject(o, "tags", tags);
	cJSON_AddBoolToObject(o, "partial", b->partial);
	stats = cli_stats_json(&b->stats);
	if (stats)
		cJSON_AddItemToObject(o, "stats", stats);
	return o;
}

static int collect_cb(void *arg, const struct bfs_backup_info *b)
{
	struct collect *c = arg;
	struct row *r;

	if (c->job && strcmp(c->job, b->job) != 0)
		return 0;
	if (c->json) {
		cJSON *o = backup_json(b);

		if (!o) {
			c->rc = -ENOMEM;
			return 1;
		}
		cJSON_AddItemToArray(c->json, o);
		return 0;
	}
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct row *nr = realloc(c->rows, ncap * sizeof(*nr));

		if (!nr) {
			c->rc = -ENOMEM;
			return 1;
		}
		c->rows = nr;
		c->cap = ncap;
	}
	r = &c->rows[c->n];
	memset(r, 0, sizeof(*r));
	bfs_term_quote_to(r->id, sizeof(r->id), b->name);
	bfs_term_quote_to(r->job, sizeof(r->job), b->job);
	c->any_job |= b->job[0] != '\0';
	cli_fmt_time(r->created, sizeof(r->created), b->time_ns, false);
	snprintf(r->entries, sizeof(r->entries), "%llu",
		 (unsigned long long)b->stats.entries);
	bfs_fmt_bytes(r->size, sizeof(r->size), b->stats.bytes);
	bfs_fmt_bytes(r->stored, sizeof(r->stored), b->stats.stored_bytes);
	r->tags = tags_text(b->tags_json);
	r->partial = b->partial;
	if (!r->tags) {
		c->rc = -ENOMEM;
		return 1;
	}
	c->n++;
	return 0;
}

static void print_table(const struct collect *c)
{
	int wid = 2, wcr = 19, wen = 7, wsz = 4, wst = 6, wjob = 3;
	size_t i;

#define W(w, s)                                                                \
	do {                                                                   \
		int l_ = (int)strlen(s);                                       \
		if (l_ > (w))                                                  \
			(w) = l_;                                              \
	} while (0)
	for (i = 0; i < c->n; i++) {
		W(wid, c->rows[i].id);
		W(wen, c->rows[i].entries);
		W(wsz, c->rows[i].size);
		W(wst, c->rows[i].stored);
		W(wjob, c->rows[i].job);
	}
#undef W
	/* the JOB column only when some backup was made by a job: the
	 * table of a repository without jobs stays as it was */
	printf("%-*s  %-*s  %*s  %*s  %*s  ", wid, "ID", wcr, "CREATED (UTC)",
	       wen, "ENTRIES", wsz, "SIZE", wst, "STORED");
	if (c->any_job)
		printf("%-*s  ", wjob, "JOB");
	printf("TAGS\n");
	for (i = 0; i < c->n; i++) {
		const struct row *r = &c->rows[i];

		printf("%-*s  %-*s  %*s  %*s  %*s", wid, r->id, wcr, r->created,
		       wen, r->entries, wsz, r->size, wst, r->stored);
		if (c->any_job)
			printf("  %-*s", wjob, r->job[0] ? r->job : "-");
		if (r->tags[0] || r->partial)
			printf("  %s%s%s", cli_q(r->tags),
			       r->partial && r->tags[0] ? " " : "",
			       r->partial ? "(partial)" : "");
		putchar('\n');
	}
}

static int check_list(struct cli_ctx *ctx)
{
	const struct list_args *a = ctx->args;

	if (a->job && !bfs_format_job_name_valid(a->job))
		return cli_usage_error(&cmd_list,
				       "invalid job name '%s' (1-%d of A-Z a-z "
				       "0-9 . _ -, not starting with . or -)",
				       a->job, BFS_JOB_NAME_MAX);
	return 0;
}

static int run_list(struct cli_ctx *ctx)
{
	const struct list_args *a = ctx->args;
	struct collect col = {0};
	struct bfs_err err = {""};
	struct bfs_catalog *cat = ctx->cat;
	bool json = a->json;
	size_t i;
	int rc;

	col.job = a->job;
	if (json) {
		col.json = cJSON_CreateArray();
		if (!col.json) {
			cli_error("list", "out of memory");
			return EXIT_ERR;
		}
	}
	rc = bfs_catalog_list(cat, collect_cb, &col, &err);
	if (col.rc < 0)
		rc = bfs_err_set(&err, col.rc, "out of memory");
	if (rc < 0) {
		cli_error("list", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_free;
	}
	if (json) {
		char *s = cJSON_Print(col.json);

		if (!s) {
			cli_error("list", "out of memory");
			rc = EXIT_ERR;
			goto out_free;
		}
		cli_json_write(s, strlen(s));
		putchar('\n');
		cJSON_free(s);
	} else if (col.n || !ctx->c.quiet) {
		print_table(&col);
	}
	rc = EXIT_OK;
out_free:
	for (i = 0; i < col.n; i++)
		free(col.rows[i].tags);
	free(col.rows);
	cJSON_Delete(col.json);
	return rc;
}

static const struct cli_opt list_opts[] = {
    CLI_OPT_JSON(struct list_args, json,
		 "print a JSON array (id, time, time_ns, host, job, tags, "
		 "partial, stats) instead of a table; job is null for a "
		 "backup not made by a job"),
    CLI_STRING(0, "job", "NAME", struct list_args, job,
	       "only the backups made by job NAME (backup --job, "
	       "'backupfs run')"),
    CLI_OPT_NO_SYNC, CLI_END};

const struct bfs_cmd cmd_list = {
    .name = "list",
    .run = run_list,
    .summary = "list the backups in a repository",
    .synopsis = "backupfs list [-r REPO] [--job NAME] [--json] [--no-sync] "
		"[OPTIONS]",
    .description =
	"List the backups of a repository, oldest first: ID, creation time\n"
	"(UTC), number of entries, logical size, bytes newly stored by that\n"
	"backup (compressed), the job that made it (a JOB column, shown\n"
	"when some backup has one; \"-\" for the others) and tags;\n"
	"\"(partial)\" marks backups with unreadable files.  Answers from the "
	"local catalog, which is synced\n"
	"with the repository first.",
    .opts = list_opts,
    .examples = "  backupfs list -r /srv/backups/nocodb\n"
		"  backupfs list --json | jq -r '.[-1].id'\n"
		"  backupfs list --job nocodb",
    .exit_codes = "0 ok, 1 error (e.g. no repository there), 2 usage error.",
    .flags = CLI_OPEN | CLI_SYNC,
    .max_args = 0,
    .args_size = sizeof(struct list_args),
    .check = check_list,
};
