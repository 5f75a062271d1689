/* cmd_backup.c - `backupfs backup`: one new backup from any number of
 * sources (directories, archives, command output, stdin, database
 * dumps), in the order given. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "backup_dump.h"
#include "backup_ui.h"
#include "cli.h"
#include "src/exclude.h"
#include "src/format.h"
#include "src/source.h"
#include "src/timefmt.h"

struct src {
	struct bfs_source s;
	const char *opt; /* "--files" ... for messages */
	char *dest;
	char *arg_copy; /* dumps: s.arg, copied before argv is scrubbed */
	/* --files/--archive: the patterns that apply (the global ones, then
	 * its own), NULL-terminated, and for each the --exclude it came
	 * from (an index into backup_args.ex) and its hits */
	const char **ex;
	size_t *ex_item;
	uint64_t *ex_hits;
	struct bdump_src dump; /* its dump options' lists */
};

/* One --exclude or --exclude-all as given. */
struct ex_item {
	const char *pattern;
	bool all; /* --exclude-all */
	long src; /* the --files/--archive it follows; -1: all of them */
	uint64_t hits;
};

struct backup_args {
	struct src *srcs; /* in the order given */
	size_t nsrcs, cap;
	bool have_stdin;
	struct cli_strv tags, ignores;
	struct bdump dump; /* --ignore-table-data, --pg-dump-opt, ... */
	struct ex_item *ex;
	size_t nex, excap;
	const char *id, *job;
	const char *time, *lock_wait;
	int64_t time_ns, lock_wait_ns; /* parsed by check_backup */
	unsigned threads;
	bool no_delta;
	const char *dump_mode; /* --dump-mode, octal */
	bool json;
	/* --nocodb: the options that apply to every --nocodb source */
	int nc_no_records, nc_no_atts; /* last of --[no-]nocodb-... wins */
	struct cli_strv nc_bases;
	const char *nc_token_file;
	char *nc_token; /* wiped on free */
	struct bfs_nocodb_opts nc;
};

/* --dump-mode MODE: octal permission bits, 1..0777.  0 or -EINVAL. */
static int parse_dump_mode(const char *s, unsigned *mode)
{
	unsigned long v;
	char *end;

	if (!s[0] || strspn(s, "01234567") != strlen(s) || strlen(s) > 4)
		return -EINVAL;
	v = strtoul(s, &end, 8);
	if (*end || !v || v > 0777)
		return -EINVAL;
	*mode = (unsigned)v;
	return 0;
}

struct unreadable {
	cJSON *arr; /* --json: [{"path","error"}] */
	bool print;
};

static void on_unreadable(void *arg, const char *path, const char *why)
{
	struct unreadable *u = arg;

	if (u->print)
		fprintf(stderr, "  %s: %s\n", cli_q(path), cli_q(why));
	if (u->arr) {
		cJSON *o = cJSON_CreateObject();

		if (o) {
			cli_json_add_name(o, "path", path);
			cli_json_add_name(o, "error", why);
			cJSON_AddItemToArray(u->arr, o);
		}
	}
}

/* --files, --archive, ... (o->id is the source kind): one more source, in
 * the order given. */
static int source_cb(struct cli_ctx *ctx, const struct cli_opt *o,
		     const char *arg)
{
	struct backup_args *a = ctx->args;
	enum bfs_source_kind kind = (enum bfs_source_kind)o->id;
	struct src *sr;

	if (kind == BFS_SRC_STDIN) {
		if (a->have_stdin)
			return cli_usage_error(
			    &cmd_backup, "--stdin can be given only once");
		a->have_stdin = true;
	}
	if (a->nsrcs == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 8;
		struct src *n = realloc(a->srcs, ncap * sizeof(*n));

		if (!n)
			goto out_nomem;
		a->srcs = n;
		a->cap = ncap;
	}
	sr = &a->srcs[a->nsrcs];
	memset(sr, 0, sizeof(*sr));
	sr->s.kind = kind;
	sr->s.arg = arg;
	if (kind == BFS_SRC_PG_DUMP || kind == BFS_SRC_MYSQL_DUMP) {
		sr->arg_copy = strdup(arg);
		if (!sr->arg_copy)
			goto out_nomem;
		sr->s.arg = sr->arg_copy;
		/* our own argv: /proc/PID/cmdline and ps stop showing the
		 * secret now, as mysql(1) does with -pPASSWORD.  The window
		 * between exec and here remains: PGPASSWORD or a
		 * ~/.pgpass / option file avoid it. */
		bfs_source_scrub(kind, (char *)arg);
	}
	sr->opt = o->id == BFS_SRC_FILES     ? "--files"
		  : o->id == BFS_SRC_ARCHIVE ? "--archive"
		  : o->id == BFS_SRC_COMMAND ? "--command"
		  : o->id == BFS_SRC_STDIN   ? "--stdin"
		  : o->id == BFS_SRC_PG_DUMP ? "--pg-dump"
		  : o->id == BFS_SRC_NOCODB  ? "--nocodb"
					     : "--mysql-dump";
	a->nsrcs++;
	return 0;
out_nomem:
	cli_error("backup", "out of memory");
	return EXIT_ERR;
}

enum { CB_TAG, CB_IGNORE_TABLE };

static void src_desc(const struct src *s, char *buf, size_t n);

static bool takes_excludes(enum bfs_source_kind k)
{
	return k == BFS_SRC_FILES || k == BFS_SRC_ARCHIVE;
}

/* --exclude (o->id 0) and --exclude-all (1): checked, then recorded
 * with the --files/--archive source it follows. */
static int exclude_cb(struct cli_ctx *ctx, const struct cli_opt *o,
		      const char *arg)
{
	struct backup_args *a = ctx->args;
	struct bfs_err err = {""};
	struct ex_item *it;
	long k;

	if (!bfs_exclude_valid(arg, &err))
		return cli_usage_error(&cmd_backup, "%s", err.msg);
	if (a->nex == a->excap) {
		size_t ncap = a->excap ? a->excap * 2 : 8;
		struct ex_item *n = realloc(a->ex, ncap * sizeof(*n));

		if (!n) {
			cli_error("backup", "out of memory");
			return EXIT_ERR;
		}
		a->ex = n;
		a->excap = ncap;
	}
	it = &a->ex[a->nex++];
	it->pattern = arg;
	it->all = o->id == 1;
	it->hits = 0;
	it->src = -1;
	for (k = (long)a->nsrcs - 1; !it->all && k >= 0; k--)
		if (takes_excludes(a->srcs[k].s.kind)) {
			it->src = k;
			break;
		}
	return 0;
}

/* The patterns that apply to source k, into srcs[k].ex / ex_item /
 * ex_hits.  0 or -ENOMEM. */
static int source_excludes(struct backup_args *a, size_t k)
{
	struct src *sr = &a->srcs[k];
	size_t i, n = 0;

	if (!takes_excludes(sr->s.kind))
		return 0;
	sr->ex = calloc(a->nex + 1, sizeof(*sr->ex));
	sr->ex_item = calloc(a->nex + 1, sizeof(*sr->ex_item));
	sr->ex_hits = calloc(a->nex + 1, sizeof(*sr->ex_hits));
	if (!sr->ex || !sr->ex_item || !sr->ex_hits)
		return -ENOMEM;
	for (i = 0; i < a->nex; i++)
		if (a->ex[i].src == -1 || a->ex[i].src == (long)k) {
			sr->ex[n] = a->ex[i].pattern;
			sr->ex_item[n++] = i;
		}
	sr->s.excludes = sr->ex;
	sr->s.exclude_hits = sr->ex_hits;
	return 0;
}

/* After a backup: add up the hits and warn about every pattern that
 * matched nothing (a typo, or a rule that does not mean what its author
 * thought). */
static void warn_unmatched(struct backup_args *a, bool quiet)
{
	size_t i, k, j;
	char d[512];

	for (k = 0; k < a->nsrcs; k++)
		for (j = 0; a->srcs[k].ex && a->srcs[k].ex[j]; j++)
			a->ex[a->srcs[k].ex_item[j]].hits +=
			    a->srcs[k].ex_hits[j];
	for (i = 0; i < a->nex && !quiet; i++) {
		const struct ex_item *it = &a->ex[i];

		if (it->hits)
			continue;
		if (it->src >= 0) {
			src_desc(&a->srcs[it->src], d, sizeof(d));
			fprintf(stderr,
				"backupfs backup: warning: --exclude '%s' "
				"matched nothing in %s\n",
				it->pattern, d);
		} else {
			fprintf(stderr,
				"backupfs backup: warning: %s '%s' matched "
				"nothing in any --files or --archive source\n",
				it->all ? "--exclude-all" : "--exclude",
				it->pattern);
		}
	}
}

/* --tag and --ignore-table: checked, then collected. */
static int list_cb(struct cli_ctx *ctx, const struct cli_opt *o,
		   const char *arg)
{
	struct backup_args *a = ctx->args;
	int rc;

	if (o->id == CB_TAG) {
		if (!arg[0])
			return cli_usage_error(&cmd_backup, "empty --tag");
		rc = cli_strv_add(&a->tags, arg);
	} else {
		if (!strchr(arg, '.'))
			return cli_usage_error(
			    &cmd_backup,
			    "--ignore-table '%s': expected DB.TABLE", arg);
		rc = cli_strv_add(&a->ignores, arg);
	}
	if (rc < 0) {
		cli_error("backup", "out of memory");
		return EXIT_ERR;
	}
	return 0;
}

/* The dump options (o->id an enum bdump_id): recorded with the last
 * --pg-dump or --mysql-dump before them (all dumps when none). */
static int dump_cb(struct cli_ctx *ctx, const struct cli_opt *o,
		   const char *arg)
{
	struct backup_args *a = ctx->args;
	char msg[512];
	long k;
	int rc;

	for (k = (long)a->nsrcs - 1; k >= 0; k--)
		if (a->srcs[k].s.kind == BFS_SRC_PG_DUMP ||
		    a->srcs[k].s.kind == BFS_SRC_MYSQL_DUMP)
			break;
	rc =
	    bdump_add(&a->dump, (enum bdump_id)o->id, arg, k, msg, sizeof(msg));
	if (rc == -ENOMEM) {
		cli_error("backup", "out of memory");
		return EXIT_ERR;
	}
	return rc ? cli_usage_error(&cmd_backup, "%s", msg) : 0;
}

/* How a source is named in messages: database sources by option only,
 * since their argument may carry a password (secrets never reach a log);
 * the others with their argument. */
static void src_desc(const struct src *s, char *buf, size_t n)
{
	if (s->s.kind == BFS_SRC_PG_DUMP || s->s.kind == BFS_SRC_MYSQL_DUMP)
		snprintf(buf, n, "%s", s->opt);
	else
		snprintf(buf, n, "%s '%s'", s->opt, s->s.arg);
}

/* How a source of this kind names where it lands, for messages. */
static const char *dest_hint(enum bfs_source_kind kind)
{
	switch (kind) {
	case BFS_SRC_PG_DUMP:
	case BFS_SRC_MYSQL_DUMP:
		return "NAME=...";
	case BFS_SRC_FILES:
	case BFS_SRC_ARCHIVE:
	case BFS_SRC_NOCODB:
		return "DEST=...";
	default:
		return "with another PATH";
	}
}

/* After commit: report the backup (summary line, --json, unreadable
 * entries).  Returns the exit code. */
static int report(struct cli_common *c, struct bfs_catalog *cat, const char *id,
		  const struct bfs_backup_stats *st, bool partial, bool json)
{
	struct unreadable u = {NULL, true};
	struct bfs_backup_info info;
	struct bfs_err err = {""};
	char rd[32], nw[32], sto[32];
	cJSON *o = NULL;
	long n = 0;
	int rc = partial ? EXIT_PARTIAL : EXIT_OK;

	if (json) {
		o = cJSON_CreateObject();
		if (o) {
			cJSON_AddStringToObject(o, "id", id);
			cJSON_AddBoolToObject(o, "partial", partial);
			cJSON_AddItemToObject(o, "stats", cli_stats_json(st));
			u.arr = cJSON_AddArrayToObject(o, "unreadable");
		}
	}
	if (partial) {
		fprintf(stderr,
			"backupfs backup: warning: backup '%s' is partial, "
			"%llu %s unreadable:\n",
			id, (unsigned long long)st->errors,
			st->errors == 1 ? "entry was" : "entries were");
		memset(&info, 0, sizeof(info));
		n = bfs_catalog_find_backup(cat, id, &info, &err);
		if (n == 0) {
			n = cli_unreadable(cat, info.root, on_unreadable, &u,
					   &err);
			bfs_backup_info_clear(&info);
		}
		if (n < 0)
			cli_error("backup",
				  "cannot list the unreadable entries: %s",
				  bfs_err_str(&err, (int)n));
	}
	if (!c->quiet) {
		bfs_fmt_bytes(rd, sizeof(rd), st->bytes);
		bfs_fmt_bytes(nw, sizeof(nw), st->new_bytes);
		bfs_fmt_bytes(sto, sizeof(sto), st->stored_bytes);
		fprintf(stderr,
			"backup %s: %llu files, %s read, %s new, %s stored, "
			"%.1f s%s\n",
			id, (unsigned long long)st->files, rd, nw, sto,
			(double)st->duration_ns / 1e9,
			partial ? " (partial)" : "");
	}
	if (o) {
		char *s = cJSON_Print(o);

		if (s) {
			cli_json_write(s, strlen(s));
			putchar('\n');
			cJSON_free(s);
		} else {
			cli_error("backup", "out of memory");
			rc = EXIT_ERR;
		}
		cJSON_Delete(o);
	} else if (json) {
		cli_error("backup", "out of memory");
		rc = EXIT_ERR;
	}
	return rc;
}

static void free_backup_args(void *args)
{
	struct backup_args *a = args;
	size_t i;

	for (i = 0; i < a->nsrcs; i++) {
		free(a->srcs[i].dest);
		free(a->srcs[i].arg_copy);
		free(a->srcs[i].ex);
		free(a->srcs[i].ex_item);
		free(a->srcs[i].ex_hits);
		bdump_src_free(&a->srcs[i].dump);
	}
	bdump_free(&a->dump);
	free(a->srcs);
	free(a->ex);
	free(a->tags.v); /* filled by list_cb */
	free(a->ignores.v);
	if (a->nc_token) {
		explicit_bzero(a->nc_token, strlen(a->nc_token));
		free(a->nc_token);
	}
}

/* The --nocodb options: the token (--nocodb-token-file, else
 * NOCODB_API_TOKEN; never an argument) and what to export, shared by
 * every --nocodb source.  0 or an exit code after a message. */
static int check_nocodb(struct backup_args *a)
{
	struct bfs_err err = {""};
	size_t i, n = 0;
	int rc;

	for (i = 0; i < a->nsrcs; i++)
		n += a->srcs[i].s.kind == BFS_SRC_NOCODB;
	if (!n) {
		if (a->nc_bases.n || a->nc_token_file)
			return cli_usage_error(&cmd_backup,
					       "--nocodb-base and "
					       "--nocodb-token-file need a "
					       "--nocodb source");
		return 0;
	}
	rc = bfs_nocodb_token(a->nc_token_file, &a->nc_token, &err);
	if (rc == -ENOKEY)
		return cli_usage_error(&cmd_backup,
				       "--nocodb needs an API token: set "
				       "NOCODB_API_TOKEN or give "
				       "--nocodb-token-file FILE");
	if (rc) {
		cli_error("backup", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	a->nc.token = a->nc_token;
	a->nc.records = !a->nc_no_records;
	a->nc.attachments = !a->nc_no_atts;
	a->nc.bases = a->nc_bases.v;
	for (i = 0; i < a->nsrcs; i++)
		if (a->srcs[i].s.kind == BFS_SRC_NOCODB)
			a->srcs[i].s.nocodb = &a->nc;
	return 0;
}

/* Validate every source before anything is written (and before the
 * repository is opened). */
static int check_backup(struct cli_ctx *ctx)
{
	static const char *const empty[] = {NULL};
	struct backup_args *a = ctx->args;
	struct src *srcs = a->srcs;
	struct bfs_err err = {""};
	char d1[512], d2[512];
	unsigned mode = 0;
	size_t i, j;
	int rc;

	if (a->nsrcs == 0)
		return cli_usage_error(&cmd_backup,
				       "nothing to back up: give at least one "
				       "source (--files, --pg-dump, ...)");
	if (a->id && !bfs_backup_id_valid(a->id))
		return cli_usage_error(&cmd_backup,
				       "invalid backup id '%s' (letters, "
				       "digits, '.', '_', '-'; not 'latest')",
				       a->id);
	if (a->id && strcmp(a->id, "jobs") == 0)
		return cli_usage_error(&cmd_backup,
				       "backup id 'jobs' is taken by the "
				       "mount's /jobs directory");
	if (a->job && !bfs_format_job_name_valid(a->job))
		return cli_usage_error(&cmd_backup,
				       "invalid job name '%s' (1-%d of A-Z a-z "
				       "0-9 . _ -, not starting with . or -)",
				       a->job, BFS_JOB_NAME_MAX);
	if (a->nex) {
		for (i = 0; i < a->nsrcs; i++)
			if (takes_excludes(srcs[i].s.kind))
				break;
		if (i == a->nsrcs)
			return cli_usage_error(
			    &cmd_backup,
			    "--exclude '%s': there is no --files or "
			    "--archive source to apply it to",
			    a->ex[0].pattern);
	}
	if (a->time) {
		rc = bfs_time_parse(a->time, &a->time_ns, &err);
		if (rc)
			return cli_usage_error(&cmd_backup, "--time '%s': %s",
					       a->time, bfs_err_str(&err, rc));
		if (a->time_ns == 0)
			a->time_ns = 1; /* 0 means "now" to the writer */
	}
	rc = cli_parse_lock_wait(&cmd_backup, a->lock_wait, &a->lock_wait_ns);
	if (rc)
		return rc;
	rc = check_nocodb(a);
	if (rc)
		return rc;
	if (a->dump_mode && parse_dump_mode(a->dump_mode, &mode))
		return cli_usage_error(&cmd_backup,
				       "--dump-mode '%s': expected octal "
				       "permission bits, 1 to 0777 (e.g. 0640)",
				       a->dump_mode);
	{
		enum bfs_source_kind kinds[a->nsrcs];
		char msg[512];

		for (i = 0; i < a->nsrcs; i++)
			kinds[i] = srcs[i].s.kind;
		if (bdump_check(&a->dump, kinds, a->nsrcs, msg, sizeof(msg)))
			return cli_usage_error(&cmd_backup, "%s", msg);
	}
	for (i = 0; i < a->nsrcs; i++) {
		srcs[i].s.dump_mode = mode;
		if (bdump_apply(&a->dump, i, &srcs[i].s, &srcs[i].dump)) {
			cli_error("backup", "out of memory");
			return EXIT_ERR;
		}
		if (source_excludes(a, i)) {
			cli_error("backup", "out of memory");
			return EXIT_ERR;
		}
		srcs[i].s.ignore_tables = a->ignores.v ? a->ignores.v : empty;
		err.msg[0] = '\0';
		src_desc(&srcs[i], d1, sizeof(d1));
		rc = bfs_source_dest(&srcs[i].s, &srcs[i].dest, &err);
		if (rc < 0)
			return cli_usage_error(&cmd_backup, "%s: %s", d1,
					       bfs_err_str(&err, rc));
		for (j = 0; j < i; j++) {
			if (strcmp(srcs[i].dest, srcs[j].dest) == 0) {
				src_desc(&srcs[j], d2, sizeof(d2));
				return cli_usage_error(
				    &cmd_backup,
				    "source %zu (%s) and source %zu (%s) both "
				    "land on '%s': give one a place of its own "
				    "(%s %s)",
				    j + 1, d2, i + 1, d1, srcs[i].dest,
				    srcs[i].opt, dest_hint(srcs[i].s.kind));
			}
		}
	}
	return 0;
}

/* What a --files source must never back up: the repository (local), the
 * catalog (and its -wal, -shm, -journal and -lock) and, with the default
 * catalog, the whole backupfs cache directory.  Paths that do not exist
 * are left out by the source.  Fills skip[] (malloc'ed strings,
 * NULL-terminated, at most 7). */
static void skip_paths(struct cli_ctx *ctx, char *skip[8])
{
	const char *repo = ctx->c.repo;
	char *def = NULL, *slash;
	size_t n = 0;

	memset(skip, 0, 8 * sizeof(*skip));
	if (repo && strncmp(repo, "s3://", 5)) {
		if (!strncmp(repo, "file://", 7))
			repo += 7;
		skip[n] = realpath(repo, NULL);
		n += skip[n] != NULL;
	}
	if (ctx->c.catalog) {
		static const char *const sfx[] = {"", "-wal", "-shm",
						  "-journal", "-lock"};
		size_t i;

		for (i = 0; i < 5; i++)
			if (asprintf(&skip[n], "%s%s", ctx->c.catalog, sfx[i]) >
			    0)
				n++;
			else
				skip[n] = NULL;
	} else if (!bfs_catalog_default_path(ctx->repo, &def, NULL)) {
		slash = strrchr(def, '/');
		if (slash && slash != def) {
			*slash = '\0';
			skip[n++] = def; /* the cache directory */
			def = NULL;
		}
	}
	free(def);
}

static int run_backup(struct cli_ctx *ctx)
{
	struct backup_args *a = ctx->args;
	struct bfs_backup_opts bo = {.id = a->id,
				     .threads = a->threads,
				     .time_ns = a->time_ns,
				     .no_delta = a->no_delta};
	struct bfs_backup_stats st = {0};
	struct bfs_err err = {""};
	struct bfs_catalog *cat = ctx->cat;
	struct bfs_repo *repo = ctx->repo;
	struct bfs_index *idx = NULL;
	struct bfs_backup *b = NULL;
	struct bfs_lock *lock = NULL;
	struct src *srcs = a->srcs;
	size_t nsrcs = a->nsrcs, i;
	struct bui u = {0};
	struct bui_scan *scans = NULL, **scan_of = NULL;
	size_t nscans = 0;
	bool json = a->json, partial = false;
	char d1[512];
	char *id = NULL, *skip[8];
	int rc;

	skip_paths(ctx, skip);
	u.tty = isatty(STDERR_FILENO);
	u.quiet = ctx->c.quiet;
	u.verbose = ctx->c.verbose;
	scans = calloc(nsrcs ? nsrcs : 1, sizeof(*scans));
	scan_of = calloc(nsrcs ? nsrcs : 1, sizeof(*scan_of));
	if (!scans || !scan_of) {
		cli_error("backup", "out of memory");
		rc = EXIT_ERR;
		goto out_free;
	}
	for (i = 0; i < nsrcs; i++)
		if (srcs[i].s.kind == BFS_SRC_FILES) {
			const char *arg = srcs[i].s.arg;
			size_t dl = strlen(srcs[i].dest);

			srcs[i].s.skip_paths = (const char *const *)skip;
			/* PATH of [DEST=]PATH, for the pre-scan */
			if (!strncmp(arg, srcs[i].dest, dl) && arg[dl] == '=')
				arg += dl + 1;
			scans[nscans].root = arg;
			scans[nscans].excludes = srcs[i].s.excludes;
			scan_of[i] = &scans[nscans++];
		}
	bui_start(&u, scans, nscans, skip);
	bo.tags = a->tags.v;
	bo.job = a->job;
	bo.progress = bui_progress;
	bo.progress_arg = &u;
	err.msg[0] = '\0';
	/* before the first write: prune must not delete the packs this
	 * backup dedups against, nor those it writes.  The catalog is
	 * synced under the lock, so that dedup sees what a prune that ran
	 * just before removed or moved. */
	rc = cli_lock(&ctx->c, repo, BFS_LOCK_SHARED, a->lock_wait_ns, &lock);
	if (!rc && cat)
		rc = cli_sync(&ctx->c, cat, repo);
	if (rc)
		goto out_free;
	bo.lock = lock;
	/* a backup's catalog in bounded memory: its SQLite page cache at
	 * 8 MiB and no mapping of the file, whose touched pages counted in
	 * the RSS and grew with the catalog (doc/PERFORMANCE.md, "backup 2
	 * and first-backup memory, fourth pass") */
	if (cat && (rc = bfs_catalog_bound_memory(cat, 8192, 0, &err)) < 0) {
		cli_error("backup", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_free;
	}
	if (cat && bfs_catalog_index_new(cat, repo, &idx) < 0) {
		cli_error("backup", "out of memory");
		rc = EXIT_ERR;
		goto out_free;
	}
	rc = bfs_backup_begin(repo, idx, &bo, &b, &err);
	if (rc < 0) {
		cli_error("backup", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_free;
	}
	id = strdup(bfs_backup_id(b));
	if (!id) {
		bfs_backup_abort(b);
		cli_error("backup", "out of memory");
		rc = EXIT_ERR;
		goto out_free;
	}
	for (i = 0; i < nsrcs; i++) {
		err.msg[0] = '\0';
		src_desc(&srcs[i], d1, sizeof(d1));
		bui_source_begin(&u, i, nsrcs, d1, srcs[i].dest, scan_of[i]);
		rc = bfs_source_run(b, &srcs[i].s, &err);
		if (rc >= 0 && (u.verbose || u.tty) && !u.quiet)
			rc = bfs_backup_progress_now(b, &err);
		if (rc >= 0)
			bui_source_end(&u);
		if (rc < 0) {
			bui_clear(&u);
			bfs_backup_abort(b);
			src_desc(&srcs[i], d1, sizeof(d1));
			cli_error("backup",
				  "%s (at '%s') failed: %s; no backup written",
				  d1, srcs[i].dest, bfs_err_str(&err, rc));
			rc = EXIT_ERR;
			goto out_free;
		}
	}
	err.msg[0] = '\0';
	rc = bfs_backup_commit(b, &st, &partial, &err);
	bui_clear(&u);
	if (rc < 0) {
		cli_error("backup", "cannot write backup '%s': %s", id,
			  bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_free;
	}
	warn_unmatched(a, ctx->c.quiet);
	rc = report(&ctx->c, cat, id, &st, partial, json);
out_free:
	bfs_lock_release(lock);
	bui_fini(&u);
	free(scans);
	free(scan_of);
	for (i = 0; skip[i]; i++)
		free(skip[i]);
	free(id);
	bfs_index_free(idx);
	return rc;
}

#define SOURCE(l, a, kind, h) CLI_CALLBACK(0, l, a, source_cb, kind, h)

static const struct cli_opt backup_opts[] = {
    CLI_GROUP("Sources:"),
    SOURCE("files", "[DEST=]PATH", BFS_SRC_FILES,
	   "a directory tree (or one file), at DEST (default: files)"),
    CLI_CALLBACK(0, "exclude", "PATTERN", exclude_cb, 0,
		 "skip matching paths of the --files/--archive source this "
		 "option follows (of all of them when given before the "
		 "first; repeatable; rules below)"),
    CLI_CALLBACK(0, "exclude-all", "PATTERN", exclude_cb, 1,
		 "skip matching paths of every --files/--archive source "
		 "(repeatable)"),
    SOURCE("archive", "[DEST=]FILE", BFS_SRC_ARCHIVE,
	   "a tar/tar.gz/zip/... archive, unpacked"),
    SOURCE("command", "PATH=CMD", BFS_SRC_COMMAND,
	   "the stdout of CMD (run by /bin/sh), at PATH"),
    SOURCE("stdin", "PATH", BFS_SRC_STDIN, "standard input, at PATH"),
    SOURCE("pg-dump", "[NAME=]CONNINFO", BFS_SRC_PG_DUMP,
	   "pg_dump of a PostgreSQL database, at database.sql (or "
	   "NAME.sql); CONNINFO is a postgresql:// URI or key=value "
	   "string"),
    SOURCE("mysql-dump", "[NAME=]URI|DATABASE", BFS_SRC_MYSQL_DUMP,
	   "mysqldump --single-transaction, at NAME.sql (default: the "
	   "database name)"),
    CLI_CALLBACK(0, "ignore-table", "DB.TABLE", list_cb, CB_IGNORE_TABLE,
		 "passed to mysqldump (repeatable)"),
    SOURCE("nocodb", "[DEST=]URL", BFS_SRC_NOCODB,
	   "the NocoDB REST API export of the server at URL, at bases "
	   "(or DEST): per base metadata.json, per table schema.json, "
	   "records.jsonl and attachments/ (the API token comes from "
	   "NOCODB_API_TOKEN or --nocodb-token-file, never from the "
	   "command line)"),
    CLI_STRING(0, "nocodb-token-file", "FILE", struct backup_args,
	       nc_token_file,
	       "read the NocoDB API token from FILE (one line; owned by "
	       "you, mode 0600) instead of NOCODB_API_TOKEN"),
    CLI_STRINGS(0, "nocodb-base", "TITLE", struct backup_args, nc_bases,
		"export only the base titled TITLE (repeatable; default: "
		"all bases)"),
    {.kind = CLI_K_SET,
     .name = "no-nocodb-records",
     .help = "leave records.jsonl out (the schemas stay)",
     .off = CLI_OFF_(struct backup_args, nc_no_records, int),
     .min = 1},
    {.kind = CLI_K_SET,
     .name = "nocodb-records",
     .help = "export the records (the default)",
     .off = CLI_OFF_(struct backup_args, nc_no_records, int),
     .min = 0},
    {.kind = CLI_K_SET,
     .name = "no-nocodb-attachments",
     .help = "leave the attachments out",
     .off = CLI_OFF_(struct backup_args, nc_no_atts, int),
     .min = 1},
    {.kind = CLI_K_SET,
     .name = "nocodb-attachments",
     .help = "download the attachments (the default)",
     .off = CLI_OFF_(struct backup_args, nc_no_atts, int),
     .min = 0},
    CLI_GROUP("Dump options (after a --pg-dump/--mysql-dump: for that one;\n"
	      "before the first source: for every dump they fit):"),
    CLI_CALLBACK(0, "ignore-table-data", "DB.TABLE", dump_cb, BD_IGNORE_DATA,
		 "dump the table's schema but not its rows (pg_dump: TABLE "
		 "is a pattern like public.audit_log; repeatable)"),
    CLI_CALLBACK(0, "pg-dump-opt", "OPT", dump_cb, BD_PG_OPT,
		 "one more pg_dump option, --name or --name=value, from an "
		 "allow-list of options safe with a streamed plain dump "
		 "(repeatable)"),
    CLI_CALLBACK(0, "mysql-dump-opt", "OPT", dump_cb, BD_MY_OPT,
		 "the same for mysqldump (repeatable)"),
    CLI_CALLBACK(0, "pg-dumpall-globals", NULL, dump_cb, BD_GLOBALS,
		 "also pg_dumpall --globals-only (roles, tablespaces) at "
		 "globals.sql (NAME.globals.sql), without role passwords"),
    CLI_CALLBACK(0, "pg-dumpall-role-passwords", NULL, dump_cb, BD_GLOBALS_PW,
		 "the same with the roles' password hashes (superuser)"),
    CLI_CALLBACK(0, "dump-timeout", "DURATION", dump_cb, BD_TIMEOUT,
		 "kill a dump that takes longer (30s, 2h, 1h30m): the "
		 "backup fails and nothing is written"),
    CLI_STRING(0, "dump-mode", "MODE", struct backup_args, dump_mode,
	       "permission bits (octal) the dumps, --command, --stdin "
	       "and --nocodb files are recorded with (default: 0600, owner "
	       "only; --files keep their real modes)"),
    CLI_GROUP("Passwords in connection strings (postgresql:// URIs,\n"
	      "password= and sslpassword=, mysql:// URIs) are parsed as\n"
	      "libpq and the MySQL client do, overwritten in backupfs's own\n"
	      "command line at once, and handed to pg_dump and mysqldump\n"
	      "through their environment or an in-memory option file: never\n"
	      "on their command line, on disk, in a message or in the backup.\n"
	      "\n"
	      "Options:"),
    CLI_STRING(0, "id", "ID", struct backup_args, id,
	       "backup id (default: the backup's time in UTC, "
	       "YYYY-MM-DD_HH-MM-SS, with .1, .2, ... appended if that id "
	       "is taken)"),
    CLI_STRING(0, "time", "TIME", struct backup_args, time,
	       "record TIME as the backup's time instead of now: RFC 3339 "
	       "(2026-11-20T05:15:00Z, 2026-11-20T05:15:00+01:00) or local "
	       "time '2026-11-20 05:15:00' (TZ), as restic's --time; for "
	       "imports and tests of retention policies"),
    CLI_OPT_LOCK_WAIT(struct backup_args, lock_wait),
    CLI_CALLBACK(0, "tag", "TAG", list_cb, CB_TAG,
		 "tag the backup (repeatable)"),
    CLI_STRING(0, "job", "NAME", struct backup_args, job,
	       "record the backup as made by job NAME (list, show, "
	       "forget --job and the mount's /jobs/NAME/ group by it; "
	       "'backupfs run' sets it)"),
    CLI_OPT_JSON(struct backup_args, json,
		 "print a JSON summary on stdout (id, partial, stats, "
		 "unreadable entries)"),
    CLI_UINT(0, "threads", "N", struct backup_args, threads, 1, 1024,
	     "--threads '%s': expected 1..1024",
	     "compression threads (default: CPUs)"),
    CLI_FLAG(0, "no-delta", struct backup_args, no_delta,
	     "store no similarity deltas: each new chunk of a dump and "
	     "each new tree part whole (by default a changed chunk of a "
	     "dump or .sql file may be stored as a delta on the previous "
	     "version's similar chunk, and a changed directory's tree part "
	     "on its previous version; dumps from format 3, tree parts from "
	     "format 4, chunks on two bases from format 5 on); the chunks' "
	     "sketches are still recorded, for the next backup's deltas"),
    CLI_END};

const struct bfs_cmd cmd_backup = {
    .name = "backup",
    .run = run_backup,
    .summary = "create a backup from directories, dumps, archives, commands",
    .synopsis = "backupfs backup [-r REPO] [--id ID] [--tag TAG]... [OPTIONS] "
		"SOURCE...",
    .description =
	"Create one backup from any number of sources, in the order given.\n"
	"Each source lands at a path inside the backup; two sources may not\n"
	"land on the same path.  Content is split into chunks, deduplicated\n"
	"against everything already in the repository, compressed and\n"
	"stored; the backup becomes visible only when all of it is written.",
    .opts = backup_opts,
    .notes =
	"On a terminal, progress is shown on stderr.  At the end one summary\n"
	"line goes to stderr (also when not on a terminal, for cron logs;\n"
	"-q silences it).  Unreadable files do not stop the backup: they are\n"
	"recorded, listed on stderr, and the exit code is 3.  A failing dump\n"
	"or command fails the backup and nothing is written.\n"
	"\n"
	"Exclude patterns (rsync's rules), matched below the source's root:\n"
	"  NAME       no '/': that name at any depth ('*.tmp', 'cache')\n"
	"  A/B        a '/' inside: that path from the source root\n"
	"             ('logs/old', 'blocks/*/ab/0000*')\n"
	"  /A         anchored at the source root; a source given as an\n"
	"             absolute path may be repeated ('/srv/app/logs' for\n"
	"             --files /srv/app)\n"
	"  A/         directories only\n"
	"  *, ?, [..] within one path component; ** across directories\n"
	"             ('**/node_modules', 'data/**/*.log')\n"
	"An excluded directory is skipped whole.  A pattern that matched\n"
	"nothing is named in a warning at the end.\n"
	"\n"
	"A backup holds a shared lock on the repository while it runs (see\n"
	"'backupfs unlock'): it fails at once, naming the holder, while prune\n"
	"holds the lock (or waits, with --lock-wait), and it fails without\n"
	"writing the backup if its lock was lost meanwhile.",
    .examples =
	"  backupfs backup -r /srv/backups/nocodb \\\n"
	"      --pg-dump 'postgresql://nocodb@localhost/nocodb' \\\n"
	"      --files uploads=/srv/nocodb/uploads --exclude '*.tmp' \\\n"
	"      --files config=/srv/nocodb/config --exclude "
	"/srv/nocodb/config/cache\n"
	"  backupfs backup --mysql-dump mysql://root@localhost/app \\\n"
	"      --ignore-table app.sessions --tag nightly\n"
	"  backupfs backup --pg-dump postgresql://app@db/app "
	"--pg-dumpall-globals \\\n"
	"      --ignore-table-data app.public.audit_log "
	"--dump-timeout 2h\n"
	"  backupfs backup --command config.json='docker inspect app' \\\n"
	"      --archive old=/tmp/old-backup.tar.gz\n"
	"  pg_dumpall | backupfs backup --stdin all.sql --json\n"
	"  NOCODB_API_TOKEN=... backupfs backup --nocodb http://127.0.0.1:8080 "
	"\\\n"
	"      --pg-dump postgresql://nocodb@localhost/nocodb "
	"--files data=/srv/nocodb",
    .exit_codes = "0 ok, 1 error (nothing written), 2 usage error, 3 backup\n"
		  "written but some files were unreadable (partial).",
    .flags = CLI_OPEN | CLI_COMPACT, /* synced by run_backup, under its lock */
    .max_args = 0,
    .extra_hint = " (sources are options: --files, --command, ...)",
    .args_size = sizeof(struct backup_args),
    .args_free = free_backup_args,
    .check = check_backup,
};
