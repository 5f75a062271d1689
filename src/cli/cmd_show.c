/* cmd_show.c - `backupfs show ID`: one backup's header, sources, stats
 * and unreadable entries, from the catalog. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"

struct show_args {
	bool json;
	bool tree;	/* --tree [PATH] (show_tree.c) */
	unsigned depth; /* --depth N, 0: all */
};

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Print s (untrusted, from the manifest) with control characters shown as
 * '?', padded to width columns (0: no padding). */
static void put_field(const char *s, int width)
{
	int n = 0;

	if (s) {
		s = cli_q(s);
		fputs(s, stdout);
		n = (int)strlen(s);
	}
	for (; n < width; n++)
		putchar(' ');
}

static const char *source_dest(const cJSON *s)
{
	const char *dest = jstr(s, "dest");

	return dest ? dest : jstr(s, "path");
}

/* The sources, one line each, in columns as wide as their longest value:
 * kind, where it landed, its size and time (backups since per-source
 * figures were recorded), and what it was made from. */
static void print_sources(const cJSON *hdr)
{
	const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(hdr, "sources");
	const cJSON *s;
	int wk = 4, wd = 4, n;

	if (!cJSON_IsArray(srcs) || cJSON_GetArraySize(srcs) == 0)
		return;
	cJSON_ArrayForEach(s, srcs)
	{
		const char *k = jstr(s, "kind"), *d = source_dest(s);

		n = k ? (int)strlen(k) : 1;
		wk = n > wk ? (n < 40 ? n : 40) : wk;
		n = d ? (int)strlen(d) : 1;
		wd = n > wd ? (n < 60 ? n : 60) : wd;
	}
	printf("sources:\n");
	cJSON_ArrayForEach(s, srcs)
	{
		const cJSON *bytes =
		    cJSON_GetObjectItemCaseSensitive(s, "bytes");
		const cJSON *dur =
		    cJSON_GetObjectItemCaseSensitive(s, "duration_ns");
		const char *k = jstr(s, "kind"), *d = source_dest(s);
		char size[32] = "", secs[32] = "";

		if (cJSON_IsNumber(bytes) && bytes->valuedouble >= 0)
			bfs_fmt_bytes(size, sizeof(size),
				      (uint64_t)bytes->valuedouble);
		if (cJSON_IsNumber(dur) && dur->valuedouble >= 0)
			snprintf(secs, sizeof(secs), "%.1f s",
				 dur->valuedouble / 1e9);
		printf("  ");
		put_field(k ? k : "?", wk + 1);
		put_field(d ? d : "?", wd + 1);
		printf("%10s %8s  ", size, secs);
		put_field(jstr(s, "spec"), 0);
		putchar('\n');
	}
}

/* The tables of the NocoDB exports (sources of kind nocodb carry
 * "tables": [{base, table, path, records, attachments, bytes}]): one
 * line each, by path (the titles as mapped to names, doc/NOCODB.md). */
static void print_nocodb(const cJSON *hdr)
{
	const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(hdr, "sources");
	const cJSON *s, *t;
	bool head = false;

	cJSON_ArrayForEach(s, srcs)
	{
		const cJSON *tables =
		    cJSON_GetObjectItemCaseSensitive(s, "tables");

		if (!cJSON_IsArray(tables))
			continue;
		cJSON_ArrayForEach(t, tables)
		{
			static const char *const k[] = {"records",
							"attachments", "bytes"};
			double v[3];
			char size[32];
			size_t i;

			for (i = 0; i < 3; i++) {
				const cJSON *n =
				    cJSON_GetObjectItemCaseSensitive(t, k[i]);

				v[i] = cJSON_IsNumber(n) && n->valuedouble >= 0
					   ? n->valuedouble
					   : 0;
			}
			if (!head)
				printf("nocodb tables:\n  %10s %11s %10s  %s\n",
				       "records", "attachments", "bytes",
				       "path");
			head = true;
			bfs_fmt_bytes(size, sizeof(size), (uint64_t)v[2]);
			printf("  %10.0f %11.0f %10s  ", v[0], v[1], size);
			put_field(jstr(t, "path"), 0);
			putchar('\n');
		}
	}
}

static void print_tags(const char *tags_json)
{
	cJSON *arr = tags_json ? cJSON_Parse(tags_json) : NULL;
	const cJSON *t;
	bool first = true;

	printf("%-10s ", "tags");
	cJSON_ArrayForEach(t, arr)
	{
		if (!cJSON_IsString(t))
			continue;
		printf("%s%s", first ? "" : ", ", cli_q(t->valuestring));
		first = false;
	}
	printf("%s\n", first ? "-" : "");
	cJSON_Delete(arr);
}

static void print_unreadable(void *arg, const char *path, const char *why)
{
	printf("  %s: %s\n", cli_q(path), cli_q(why));
}

static void print_stat_bytes(const char *label, uint64_t n)
{
	char b[32];

	bfs_fmt_bytes(b, sizeof(b), n);
	printf("%-10s %s (%llu bytes)\n", label, b, (unsigned long long)n);
}

static void add_unreadable(void *arg, const char *path, const char *why)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return;
	cli_json_add_name(o, "path", path);
	cli_json_add_name(o, "error", why);
	cJSON_AddItemToArray(arg, o);
}

/* The header line as stored, plus "unreadable": [{"path","error"}] for
 * a partial backup.  The header text is spliced, not re-serialised, so
 * its 64-bit numbers keep every digit. */
static int show_json(struct bfs_catalog *cat, const struct bfs_backup_info *b)
{
	const char *h = b->header_json;
	struct bfs_err err = {""};
	cJSON *arr = NULL;
	char *text = NULL;
	size_t n, i;
	long found;
	int rc = EXIT_OK;

	if (!h) {
		cli_error("show", "backup '%s' has no header in the catalog",
			  b->name);
		return EXIT_ERR;
	}
	n = strlen(h);
	while (n && (h[n - 1] == '\n' || h[n - 1] == ' ' || h[n - 1] == '\r'))
		n--;
	if (!(b->partial || b->stats.errors) || n < 2 || h[n - 1] != '}' ||
	    strstr(h, "\"unreadable\"")) {
		cli_json_write(h, n);
		putchar('\n');
		return EXIT_OK;
	}
	arr = cJSON_CreateArray();
	if (!arr)
		goto out_nomem;
	found = cli_unreadable(cat, b->root, add_unreadable, arr, &err);
	if (found < 0) {
		cli_error("show", "%s", bfs_err_str(&err, (int)found));
		rc = EXIT_ERR;
		goto out_free;
	}
	text = cJSON_PrintUnformatted(arr);
	if (!text)
		goto out_nomem;
	/* "{}" gets no comma */
	for (i = 1; i < n - 1 && strchr(" \t\r\n", h[i]); i++)
		;
	cli_json_write(h, n - 1);
	printf("%s\"unreadable\":", i < n - 1 ? "," : "");
	cli_json_write(text, strlen(text));
	puts("}");
	goto out_free;
out_nomem:
	cli_error("show", "out of memory");
	rc = EXIT_ERR;
out_free:
	cJSON_free(text);
	cJSON_Delete(arr);
	return rc;
}

static int show_text(struct bfs_catalog *cat, const struct bfs_backup_info *b)
{
	const struct bfs_backup_stats *s = &b->stats;
	struct bfs_err err = {""};
	cJSON *hdr = NULL;
	char t[32];
	long n;

	cli_fmt_time(t, sizeof(t), b->time_ns, false);
	printf("%-10s %s\n", "backup", cli_q(b->name));
	printf("%-10s %s UTC\n", "created", t);
	printf("%-10s %s\n", "host", b->host[0] ? cli_q(b->host) : "-");
	if (b->job[0])
		printf("%-10s %s\n", "job", cli_q(b->job));
	print_tags(b->tags_json);
	if (b->partial)
		printf("%-10s partial: %llu entries were unreadable\n",
		       "status", (unsigned long long)s->errors);
	else
		printf("%-10s complete\n", "status");
	if (b->header_json)
		hdr = cJSON_Parse(b->header_json);
	print_sources(hdr);
	print_nocodb(hdr);
	cJSON_Delete(hdr);
	printf("stats:\n");
	printf("  %-10s %llu (%llu files, %llu directories)\n", "entries",
	       (unsigned long long)s->entries, (unsigned long long)s->files,
	       (unsigned long long)s->dirs);
	printf("  ");
	print_stat_bytes("size", s->bytes);
	printf("  %-10s %llu (%llu new)\n", "chunks",
	       (unsigned long long)s->chunks,
	       (unsigned long long)s->new_chunks);
	printf("  ");
	print_stat_bytes("new", s->new_bytes);
	printf("  ");
	print_stat_bytes("stored", s->stored_bytes);
	if (s->new_bytes && s->stored_bytes)
		printf("  %-10s %.2fx\n", "ratio",
		       (double)s->new_bytes / (double)s->stored_bytes);
	printf("  %-10s %.1f s\n", "duration", (double)s->duration_ns / 1e9);
	if (b->partial || s->errors) {
		printf("unreadable entries:\n");
		n = cli_unreadable(cat, b->root, print_unreadable, NULL, &err);
		if (n < 0) {
			cli_error("show", "%s", bfs_err_str(&err, (int)n));
			return EXIT_ERR;
		}
	}
	return EXIT_OK;
}

static int check_show(struct cli_ctx *ctx)
{
	const struct show_args *a = ctx->args;

	if (a->tree && a->json)
		return cli_usage_error(ctx->cmd, "--tree and --json: choose "
						 "one");
	/* as cli_run words it when PATH is not taken */
	if (!a->tree && ctx->argc > 1)
		return cli_usage_error(ctx->cmd, "unexpected argument '%s'",
				       ctx->argv[1]);
	if (!a->tree && a->depth)
		return cli_usage_error(ctx->cmd, "--depth needs --tree");
	return 0;
}

static int run_show(struct cli_ctx *ctx)
{
	const struct show_args *a = ctx->args;
	char *ref = NULL, *id = NULL, *path = NULL;
	int rc;

	if (a->tree) {
		/* PATH normalised as ID:PATH is (cli_split_ref) */
		if (asprintf(&ref, "x:%s", ctx->argc > 1 ? ctx->argv[1] : "") <
			0 ||
		    cli_split_ref(ref, &id, &path)) {
			cli_error("show", "out of memory");
			rc = EXIT_ERR;
		} else {
			rc =
			    cli_show_tree(ctx->cat, &ctx->info, path, a->depth);
		}
		free(ref);
		free(id);
		free(path);
		return rc;
	}
	if (a->json)
		return show_json(ctx->cat, &ctx->info);
	return show_text(ctx->cat, &ctx->info);
}

static const struct cli_opt show_opts[] = {
    CLI_OPT_JSON(struct show_args, json,
		 "print the manifest's header (JSON object), with "
		 "\"unreadable\": [{\"path\", \"error\"}] added for a "
		 "partial backup"),
    CLI_FLAG(0, "tree", struct show_args, tree,
	     "print the backup's tree (below PATH, if given) with sizes: "
	     "each directory with the total size and number of files below "
	     "it, each file with its size; table directories of bases/ "
	     "with their records and attachments"),
    CLI_UINT(0, "depth", "N", struct show_args, depth, 1, 4096,
	     "--depth '%s': expected 1..4096",
	     "with --tree: show N levels (deeper entries still count in "
	     "the totals)"),
    CLI_OPT_NO_SYNC, CLI_END};

const struct bfs_cmd cmd_show = {
    .name = "show",
    .run = run_show,
    .summary = "show one backup: sources, stats, unreadable files",
    .synopsis = "backupfs show [-r REPO] [--json] [--no-sync] [OPTIONS] ID\n"
		"       backupfs show [-r REPO] --tree [--depth N] ID [PATH]",
    .description =
	"Show one backup: id, creation time, host, job (if made by one),\n"
	"tags, whether it is partial, its sources, its statistics and the\n"
	"entries that could not be read when it was taken.  ID may be "
	"'latest'.  Answers from the\n"
	"local catalog (synced with the repository first).",
    .opts = show_opts,
    .examples = "  backupfs show -r /srv/backups/nocodb latest\n"
		"  backupfs show 2026-11-20_05-15-00 --json | jq .stats\n"
		"  backupfs show latest --tree --depth 3 bases",
    .exit_codes = "0 ok, 1 error (e.g. no such backup), 2 usage error.",
    .flags = CLI_OPEN | CLI_SYNC | CLI_ID | CLI_FIND,
    .min_args = 1,
    .max_args = 2,
    .missing = "missing backup ID",
    .args_size = sizeof(struct show_args),
    .check = check_show,
};
