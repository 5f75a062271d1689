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

#include "cli.h"
#include "src/source.h"
#include "src/timefmt.h"

struct src {
	struct bfs_source s;
	const char *opt; /* "--files" ... for messages */
	char *dest;
	char *arg_copy; /* dumps: s.arg, copied before argv is scrubbed */
};

struct backup_args {
	struct src *srcs; /* in the order given */
	size_t nsrcs, cap;
	bool have_stdin;
	struct cli_strv tags, excludes, ignores;
	const char *id;
	const char *time, *lock_wait;
	int64_t time_ns, lock_wait_ns; /* parsed by check_backup */
	unsigned threads;
	bool json;
};

/* Overwrite the password of a database URI or key=value conninfo in place
 * (our own argv), so /proc/PID/cmdline and ps stop showing it once the
 * options are parsed, as mysql(1) does with -pPASSWORD.  The window
 * between exec and this call remains: PGPASSFILE / ~/.my.cnf avoid it. */
static void scrub_password(char *arg)
{
	char *p = strstr(arg, "://"), *at, *colon, *end;

	if (p) {
		p += 3;
		end = p + strcspn(p, "/?#");
		at = NULL;
		for (char *q = p; q < end; q++)
			if (*q == '@')
				at = q; /* the last '@' ends the userinfo */
		if (!at)
			return;
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon)
			memset(colon + 1, 'x', (size_t)(at - colon - 1));
		return;
	}
	for (p = strstr(arg, "password"); p; p = strstr(p + 1, "password")) {
		char *v = p + 8;

		if (p != arg && p[-1] != ' ' && p[-1] != '\t')
			continue;
		v += strspn(v, " \t");
		if (*v != '=')
			continue;
		v++;
		v += strspn(v, " \t");
		if (*v == '\'') {
			for (v++; *v && *v != '\''; v++) {
				if (*v == '\\' && v[1])
					*v++ = 'x';
				*v = 'x';
			}
		} else {
			for (; *v && *v != ' ' && *v != '\t'; v++)
				*v = 'x';
		}
	}
}

struct ui {
	bool tty, quiet, drawn;
};

static void on_progress(void *arg, const struct bfs_progress *p)
{
	struct ui *u = arg;
	char read[32], fresh[32];
	double secs = (double)p->elapsed_ns / 1e9;

	if (!u->tty || u->quiet)
		return;
	bfs_fmt_bytes(read, sizeof(read), p->bytes);
	bfs_fmt_bytes(fresh, sizeof(fresh), p->new_bytes);
	fprintf(stderr, "\r\033[K%s read, %llu files", read,
		(unsigned long long)p->files);
	if (secs > 0.5)
		fprintf(stderr, ", %.1f MB/s", (double)p->bytes / 1e6 / secs);
	fprintf(stderr, ", %s new", fresh);
	if (p->bytes)
		fprintf(stderr, " (dedup %.0f%%)",
			100.0 *
			    (1.0 - (double)p->new_bytes / (double)p->bytes));
	if (p->errors)
		fprintf(stderr, ", %llu unreadable",
			(unsigned long long)p->errors);
	u->drawn = true;
}

static void clear_progress(struct ui *u)
{
	if (u->drawn) {
		fputs("\r\033[K", stderr);
		u->drawn = false;
	}
}

struct unreadable {
	cJSON *arr; /* --json: [{"path","error"}] */
	bool print;
};

static void on_unreadable(void *arg, const char *path, const char *why)
{
	struct unreadable *u = arg;

	if (u->print)
		fprintf(stderr, "  %s: %s\n", path, why);
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
		scrub_password((char *)arg); /* our own argv */
	}
	sr->opt = o->id == BFS_SRC_FILES     ? "--files"
		  : o->id == BFS_SRC_ARCHIVE ? "--archive"
		  : o->id == BFS_SRC_COMMAND ? "--command"
		  : o->id == BFS_SRC_STDIN   ? "--stdin"
		  : o->id == BFS_SRC_PG_DUMP ? "--pg-dump"
					     : "--mysql-dump";
	a->nsrcs++;
	return 0;
out_nomem:
	cli_error("backup", "out of memory");
	return EXIT_ERR;
}

enum { CB_TAG, CB_IGNORE_TABLE };

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
			"%llu entries were unreadable:\n",
			id, (unsigned long long)st->errors);
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
			printf("%s\n", s);
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
	}
	free(a->srcs);
	free(a->tags.v); /* filled by list_cb; excludes by cli_run */
	free(a->ignores.v);
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
	for (i = 0; i < a->nsrcs; i++) {
		srcs[i].s.excludes = a->excludes.v ? a->excludes.v : empty;
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

static int run_backup(struct cli_ctx *ctx)
{
	const struct backup_args *a = ctx->args;
	struct bfs_backup_opts bo = {
	    .id = a->id, .threads = a->threads, .time_ns = a->time_ns};
	struct bfs_backup_stats st = {0};
	struct bfs_err err = {""};
	struct bfs_catalog *cat = ctx->cat;
	struct bfs_repo *repo = ctx->repo;
	struct bfs_index *idx = NULL;
	struct bfs_backup *b = NULL;
	struct bfs_lock *lock = NULL;
	struct src *srcs = a->srcs;
	size_t nsrcs = a->nsrcs, i;
	struct ui u = {0};
	bool json = a->json, partial = false;
	char d1[512];
	char *id = NULL;
	int rc;

	u.tty = isatty(STDERR_FILENO);
	u.quiet = ctx->c.quiet;
	bo.tags = a->tags.v;
	bo.progress = on_progress;
	bo.progress_arg = &u;
	err.msg[0] = '\0';
	if (cat && bfs_catalog_index_new(cat, repo, &idx) < 0) {
		cli_error("backup", "out of memory");
		return EXIT_ERR;
	}
	/* before the first write: prune must not delete the packs this
	 * backup dedups against, nor those it writes */
	rc = cli_lock(&ctx->c, repo, BFS_LOCK_SHARED, a->lock_wait_ns, &lock);
	if (rc)
		goto out_free;
	bo.lock = lock;
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
		rc = bfs_source_run(b, &srcs[i].s, &err);
		if (rc < 0) {
			clear_progress(&u);
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
	clear_progress(&u);
	if (rc < 0) {
		cli_error("backup", "cannot write backup '%s': %s", id,
			  bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_free;
	}
	rc = report(&ctx->c, cat, id, &st, partial, json);
out_free:
	bfs_lock_release(lock);
	free(id);
	bfs_index_free(idx);
	return rc;
}

#define SOURCE(l, a, kind, h) CLI_CALLBACK(0, l, a, source_cb, kind, h)

static const struct cli_opt backup_opts[] = {
    CLI_GROUP("Sources:"),
    SOURCE("files", "[DEST=]PATH", BFS_SRC_FILES,
	   "a directory tree (or one file), at DEST (default: files)"),
    CLI_STRINGS(0, "exclude", "GLOB", struct backup_args, excludes,
		"skip matching paths of --files/--archive sources "
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
    CLI_GROUP("Passwords in URIs are passed to the dump tools through the\n"
	      "environment or an option file, never on their command line.\n"
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
    CLI_OPT_JSON(struct backup_args, json,
		 "print a JSON summary on stdout (id, partial, stats, "
		 "unreadable entries)"),
    CLI_UINT(0, "threads", "N", struct backup_args, threads, 1, 1024,
	     "--threads '%s': expected 1..1024",
	     "compression threads (default: CPUs)"),
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
	"A backup holds a shared lock on the repository while it runs (see\n"
	"'backupfs unlock'): it fails at once, naming the holder, while prune\n"
	"holds the lock (or waits, with --lock-wait), and it fails without\n"
	"writing the backup if its lock was lost meanwhile.",
    .examples =
	"  backupfs backup -r /srv/backups/nocodb \\\n"
	"      --pg-dump 'postgresql://nocodb@localhost/nocodb' \\\n"
	"      --files uploads=/srv/nocodb/uploads --exclude '*.tmp'\n"
	"  backupfs backup --mysql-dump mysql://root@localhost/app \\\n"
	"      --ignore-table app.sessions --tag nightly\n"
	"  backupfs backup --command config.json='docker inspect app' \\\n"
	"      --archive old=/tmp/old-backup.tar.gz\n"
	"  pg_dumpall | backupfs backup --stdin all.sql --json",
    .exit_codes = "0 ok, 1 error (nothing written), 2 usage error, 3 backup\n"
		  "written but some files were unreadable (partial).",
    .flags = CLI_OPEN | CLI_SYNC,
    .max_args = 0,
    .extra_hint = " (sources are options: --files, --command, ...)",
    .args_size = sizeof(struct backup_args),
    .args_free = free_backup_args,
    .check = check_backup,
};
