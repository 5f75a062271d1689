/* options.c - declared options and the shared setup of every command
 * (see cli.h): getopt_long's table is built from the declarations, the
 * values are stored where they say, and the setup flags open what the
 * command needs before its run() is called. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* getopt_long values of options without a short letter: index + base. */
#define LONG_BASE 0x1000

/* Returned by apply() for --help: stop, exit 0. */
#define CLI_DONE (-1)

static int cache_dir_size_cb(struct cli_ctx *ctx, const struct cli_opt *o,
			     const char *arg)
{
	struct cli_common *c = &ctx->c;

	/* reported by cli_common_finish, which can fail the command */
	if (bfs_parse_size(arg, &c->sopts.cache_dir_size) < 0 ||
	    c->sopts.cache_dir_size < (1u << 20))
		c->bad_cache_size = arg;
	return 0;
}

#define COMMON_STRING(s, l, a, f, h)                                           \
	{                                                                      \
		.kind = CLI_K_STRING, .shrt = (s), .name = (l), .arg = (a),    \
		.help = (h), .common = true,                                   \
		.off = CLI_OFF_(struct cli_common, f, const char *)            \
	}
#define COMMON_SET(l, f, v, h)                                                 \
	{                                                                      \
		.kind = CLI_K_SET, .name = (l), .help = (h), .common = true,   \
		.off = CLI_OFF_(struct cli_common, f, int), .min = (v)         \
	}

const struct cli_opt cli_common_opts[] = {
    COMMON_STRING('r', "repo", "REPO", repo,
		  "repository: a local path or s3://bucket/prefix "
		  "(default: $BACKUPFS_REPO)"),
    COMMON_STRING(0, "catalog", "FILE", catalog,
		  "catalog database (default: "
		  "$XDG_CACHE_HOME/backupfs/<repository id>-<location "
		  "key>.db)"),
    COMMON_STRING(0, "s3-endpoint", "URL", sopts.s3_endpoint,
		  "S3 endpoint (default: $AWS_ENDPOINT_URL)"),
    COMMON_SET("s3-path-style", sopts.s3_path_style, 1,
	       "path-style S3 addressing (default with an endpoint)"),
    COMMON_SET("s3-virtual-host", sopts.s3_path_style, 0,
	       "virtual-host S3 addressing"),
    COMMON_STRING(0, "s3-region", "REGION", sopts.s3_region,
		  "S3 region (default: $AWS_REGION, $AWS_DEFAULT_REGION, "
		  "us-east-1)"),
    COMMON_STRING(0, "cache-dir", "DIR", sopts.cache_dir,
		  "keep fetched pack ranges in DIR (for S3), so a second "
		  "read does not go to the network"),
    CLI_CALLBACK(0, "cache-dir-size", "SIZE", cache_dir_size_cb, 0,
		 "bound of --cache-dir (default 1G)"),
    COMMON_STRING(0, "password-file", "FILE", sopts.password_file,
		  "password of an encrypted repository: the first line of "
		  "FILE (default: $BACKUPFS_PASSWORD_FILE, "
		  "$BACKUPFS_PASSWORD_COMMAND, $BACKUPFS_PASSWORD); never "
		  "on the command line"),
    COMMON_STRING(0, "password-command", "CMD", sopts.password_command,
		  "password of an encrypted repository: the first line "
		  "that CMD (run by sh -c) prints (not with --password-file)"),
    {.kind = CLI_K_COUNT,
     .shrt = 'v',
     .name = "verbose",
     .common = true,
     .help = "more log output (repeat for debug)",
     .off = CLI_OFF_(struct cli_common, verbose, int)},
    {.kind = CLI_K_FLAG,
     .shrt = 'q',
     .name = "quiet",
     .common = true,
     .help = "errors only",
     .off = CLI_OFF_(struct cli_common, quiet, bool)},
    {.kind = CLI_K_HELP, .shrt = 'h', .name = "help", .help = "this help"},
    CLI_END};

int cli_strv_add(struct cli_strv *s, const char *p)
{
	if (s->n + 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 8;
		const char **nv = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = p;
	s->v[s->n] = NULL;
	return 0;
}

/* The command's options, then the common ones, without group entries. */
struct table {
	const struct cli_opt **opts;
	size_t n;
	struct option *longopts; /* for getopt_long, NULL-terminated */
	char *shortopts;
};

static void table_free(struct table *t)
{
	free(t->opts);
	free(t->longopts);
	free(t->shortopts);
}

static int table_build(const struct bfs_cmd *cmd, struct table *t)
{
	const struct cli_opt *tabs[2] = {cmd->opts, cli_common_opts};
	const struct cli_opt *o;
	size_t cap = 0, i, k, ns = 1;

	memset(t, 0, sizeof(*t));
	for (k = 0; k < 2; k++)
		for (o = tabs[k]; o && o->kind != CLI_K_END; o++)
			cap++;
	t->opts = calloc(cap + 1, sizeof(*t->opts));
	t->longopts = calloc(cap + 1, sizeof(*t->longopts));
	t->shortopts = malloc(3 * cap + 2);
	if (!t->opts || !t->longopts || !t->shortopts)
		goto out_nomem;
	/* ':' first: a missing argument is ':', not '?' */
	t->shortopts[0] = ':';
	for (k = 0; k < 2; k++) {
		for (o = tabs[k]; o && o->kind != CLI_K_END; o++) {
			int has_arg = o->arg ? required_argument : no_argument;

			if (o->kind == CLI_K_GROUP)
				continue;
			i = t->n++;
			t->opts[i] = o;
			if (o->shrt) {
				t->shortopts[ns++] = o->shrt;
				if (o->arg)
					t->shortopts[ns++] = ':';
			}
			if (o->name) {
				struct option *lo = &t->longopts[i];

				lo->name = o->name;
				lo->has_arg = has_arg;
				lo->val =
				    o->shrt ? o->shrt : LONG_BASE + (int)i;
			}
		}
	}
	t->shortopts[ns] = '\0';
	/* the long table has no holes: move short-only entries out */
	for (i = 0, k = 0; i < t->n; i++)
		if (t->longopts[i].name)
			t->longopts[k++] = t->longopts[i];
	memset(&t->longopts[k], 0, sizeof(t->longopts[k]));
	return 0;
out_nomem:
	table_free(t);
	return -ENOMEM;
}

static const struct cli_opt *table_find(const struct table *t, int val)
{
	size_t i;

	if (val >= LONG_BASE && (size_t)(val - LONG_BASE) < t->n)
		return t->opts[val - LONG_BASE];
	for (i = 0; i < t->n; i++)
		if (t->opts[i]->shrt && t->opts[i]->shrt == val)
			return t->opts[i];
	return NULL;
}

/* getopt_long's '?' and ':' (opterr is 0): "unknown option '-x'" or
 * "option '--x' needs an argument", and the usage hint. */
static int bad_option(const struct bfs_cmd *cmd, const struct table *t, int opt,
		      char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	char shortopt[3] = {'-', (char)optopt, '\0'};

	/* a short option inside a group ("-lx") is not argv[optind-1] */
	if (optopt > 0 && optopt < 0x100 && strncmp(arg, "--", 2) != 0 &&
	    (arg[0] != '-' || arg[1] != optopt))
		arg = shortopt;
	if (opt == ':')
		return cli_usage_error(cmd, "option '%s' needs an argument",
				       arg);
	/* "--pg-dumb=postgresql://u:pw@h/db": the name, never the value;
	 * "--json=yes": a flag given a value */
	if (!strncmp(arg, "--", 2) && strchr(arg, '=')) {
		int n = (int)(strchr(arg, '=') - arg);

		for (const struct option *lo = t->longopts; lo->name; lo++)
			if (lo->has_arg == no_argument &&
			    (int)strlen(lo->name) == n - 2 &&
			    !strncmp(lo->name, arg + 2, (size_t)n - 2))
				return cli_usage_error(
				    cmd, "option '%.*s' takes no value", n,
				    arg);
		return cli_usage_error(cmd, "unknown option '%.*s'", n, arg);
	}
	return cli_usage_error(cmd, "unknown option '%s'", arg);
}

static int parse_uint(const char *s, long long lo, long long hi, unsigned *out)
{
	long long v;
	char *end;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Store one option's value.  Returns 0, CLI_DONE (--help printed) or an
 * exit code after printing. */
static int apply(struct cli_ctx *ctx, const struct cli_opt *o, const char *arg)
{
	char *base = o->common ? (char *)&ctx->c : (char *)ctx->args;
	void *p = base + o->off;
	uint64_t size;

	switch (o->kind) {
	case CLI_K_FLAG:
		*(bool *)p = true;
		return 0;
	case CLI_K_SET:
		*(int *)p = (int)o->min;
		return 0;
	case CLI_K_COUNT:
		(*(int *)p)++;
		return 0;
	case CLI_K_STRING:
		*(const char **)p = arg;
		return 0;
	case CLI_K_STRINGS:
		if (cli_strv_add(p, arg) < 0) {
			cli_error(ctx->cmd->name, "out of memory");
			return EXIT_ERR;
		}
		return 0;
	case CLI_K_SIZE:
		if (bfs_parse_size(arg, &size) < 0 || size < (uint64_t)o->min)
			return cli_usage_error(ctx->cmd, o->bad, arg);
		*(uint64_t *)p = size;
		return 0;
	case CLI_K_UINT:
		if (parse_uint(arg, o->min, o->max, p) < 0)
			return cli_usage_error(ctx->cmd, o->bad, arg);
		return 0;
	case CLI_K_CALLBACK:
		return o->cb(ctx, o, arg);
	case CLI_K_HELP:
		cli_print_usage(ctx->cmd);
		return CLI_DONE;
	default:
		return 0;
	}
}

static int parse(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct bfs_cmd *cmd = ctx->cmd;
	struct table t;
	int opt, rc = 0;

	if (table_build(cmd, &t) < 0) {
		cli_error(cmd->name, "out of memory");
		return EXIT_ERR;
	}
	opterr = 0;
	optind = 0; /* glibc: start over (tests parse more than once) */
	while ((opt = getopt_long(argc, argv, t.shortopts, t.longopts, NULL)) !=
	       -1) {
		const struct cli_opt *o = NULL;

		if (opt != '?' && opt != ':')
			o = table_find(&t, opt);
		if (!o) {
			rc = bad_option(cmd, &t, opt, argv);
			break;
		}
		rc = apply(ctx, o, optarg);
		if (rc)
			break;
	}
	if (rc == 0) {
		ctx->argc = argc - optind;
		ctx->argv = argv + optind;
	}
	table_free(&t);
	return rc;
}

static bool ref_id_valid(const char *id)
{
	return strcmp(id, "latest") == 0 || bfs_backup_id_valid(id);
}

/* Positional checks, the command's own checks, ID[:PATH].  Returns 0 or
 * an exit code after printing. */
static int check_args(struct cli_ctx *ctx)
{
	const struct bfs_cmd *cmd = ctx->cmd;
	int rc;

	if (ctx->argc < cmd->min_args)
		return cli_usage_error(cmd, "%s", cmd->missing);
	if (cmd->max_args >= 0 && ctx->argc > cmd->max_args)
		return cli_usage_error(cmd, "unexpected argument '%s'%s",
				       ctx->argv[cmd->max_args],
				       cmd->extra_hint ? cmd->extra_hint : "");
	if (cmd->check) {
		rc = cmd->check(ctx);
		if (rc)
			return rc;
	}
	if (cmd->flags & CLI_REF) {
		if (cli_split_ref(ctx->argv[0], &ctx->id, &ctx->path) < 0 ||
		    !ref_id_valid(ctx->id))
			return cli_usage_error(
			    cmd, "invalid backup reference '%s'", ctx->argv[0]);
		if ((cmd->flags & CLI_REF_PATH) && !ctx->path[0])
			return cli_usage_error(cmd,
					       "missing the PATH in '%s' "
					       "(ID:PATH)",
					       ctx->argv[0]);
	} else if (cmd->flags & CLI_ID) {
		if (!ref_id_valid(ctx->argv[0]))
			return cli_usage_error(cmd, "invalid backup id '%s'",
					       ctx->argv[0]);
		ctx->id = strdup(ctx->argv[0]);
		if (!ctx->id) {
			cli_error(cmd->name, "out of memory");
			return EXIT_ERR;
		}
	}
	return 0;
}

static void free_strvs(const struct cli_opt *o, void *args)
{
	for (; o && o->kind != CLI_K_END; o++)
		if (o->kind == CLI_K_STRINGS && !o->common)
			free(((struct cli_strv *)((char *)args + o->off))->v);
}

int cli_run(const struct bfs_cmd *cmd, int argc, char **argv)
{
	struct cli_ctx ctx;
	bool have_info = false;
	char *compact_path = NULL, compact_repo[80] = "";
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cmd = cmd;
	ctx.c.cmd = cmd;
	ctx.c.sopts.s3_path_style = -1;
	ctx.args = calloc(1, cmd->args_size ? cmd->args_size : 1);
	if (!ctx.args) {
		cli_error(cmd->name, "out of memory");
		return EXIT_ERR;
	}
	if (cmd->args_init)
		cmd->args_init(ctx.args);
	rc = parse(&ctx, argc, argv);
	if (rc == CLI_DONE) {
		rc = EXIT_OK;
		goto out;
	}
	if (rc)
		goto out;
	rc = check_args(&ctx);
	if (rc)
		goto out;
	if (cmd->flags & (CLI_REPO | CLI_OPEN)) {
		if (cli_common_finish(&ctx.c) < 0) {
			rc = cli_usage_hint(cmd);
			goto out;
		}
	}
	if (cmd->flags & CLI_OPEN) {
		rc = cli_open(&ctx.c, (cmd->flags & CLI_SYNC) && !ctx.c.no_sync,
			      &ctx.repo, &ctx.cat);
		if (rc)
			goto out;
	}
	if (cmd->flags & CLI_FIND) {
		rc = cli_find_backup(&ctx.c, ctx.cat, ctx.id, &ctx.info);
		if (rc)
			goto out;
		have_info = true;
	}
	rc = cmd->run(&ctx);
	/* the catalog's path and repository id, for a compaction after
	 * everything that holds it is closed */
	if ((cmd->flags & CLI_COMPACT) && rc == EXIT_OK && ctx.cat &&
	    ctx.repo) {
		compact_path = strdup(bfs_catalog_path(ctx.cat));
		snprintf(compact_repo, sizeof(compact_repo), "%s",
			 ctx.repo->id);
	}
out:
	if (have_info)
		bfs_backup_info_clear(&ctx.info);
	bfs_catalog_close(ctx.cat);
	bfs_repo_close(ctx.repo);
	if (compact_path)
		cli_compact(&ctx.c, compact_path, compact_repo, true);
	free(compact_path);
	free(ctx.id);
	free(ctx.path);
	if (cmd->args_free)
		cmd->args_free(ctx.args);
	free_strvs(cmd->opts, ctx.args);
	free(ctx.args);
	return rc;
}
