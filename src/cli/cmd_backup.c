/* cmd_backup.c - `backupfs backup`: one new backup from any number of
 * sources (directories, archives, command output, stdin, database
 * dumps), in the order given. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "src/source.h"

enum {
	OPT_ID = OPT_CMD_BASE,
	OPT_TAG,
	OPT_JSON,
	OPT_THREADS,
	OPT_FILES,
	OPT_EXCLUDE,
	OPT_COMMAND,
	OPT_STDIN,
	OPT_PG_DUMP,
	OPT_MYSQL_DUMP,
	OPT_IGNORE_TABLE,
	OPT_ARCHIVE,
};

/* A NULL-terminated, growable array of borrowed strings. */
struct strv {
	const char **v;
	size_t n, cap;
};

static int strv_add(struct strv *s, const char *p)
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

struct src {
	struct bfs_source s;
	const char *opt;          /* "--files" ... for messages */
	char *dest;
	char *arg_copy;           /* dumps: s.arg, copied before argv is scrubbed */
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
				at = q;          /* the last '@' ends the userinfo */
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
			100.0 * (1.0 - (double)p->new_bytes / (double)p->bytes));
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
	cJSON *arr;               /* --json: [{"path","error"}] */
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

static int parse_threads(const char *s, unsigned *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 1024)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static const char *source_opt(int opt, enum bfs_source_kind *kind)
{
	switch (opt) {
	case OPT_FILES: *kind = BFS_SRC_FILES; return "--files";
	case OPT_ARCHIVE: *kind = BFS_SRC_ARCHIVE; return "--archive";
	case OPT_COMMAND: *kind = BFS_SRC_COMMAND; return "--command";
	case OPT_STDIN: *kind = BFS_SRC_STDIN; return "--stdin";
	case OPT_PG_DUMP: *kind = BFS_SRC_PG_DUMP; return "--pg-dump";
	case OPT_MYSQL_DUMP: *kind = BFS_SRC_MYSQL_DUMP; return "--mysql-dump";
	default: return NULL;
	}
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

/* After commit: report the backup (summary line, --json, unreadable
 * entries).  Returns the exit code. */
static int report(struct cli_common *c, struct bfs_catalog *cat,
		  const char *id, const struct bfs_backup_stats *st,
		  bool partial, bool json)
{
	struct unreadable u = { NULL, true };
	struct bfs_backup_info info;
	struct bfs_err err = { "" };
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
			"backupfs backup: warning: backup '%s' is partial, %llu entries were unreadable:\n",
			id, (unsigned long long)st->errors);
		memset(&info, 0, sizeof(info));
		n = bfs_catalog_find_backup(cat, id, &info, &err);
		if (n == 0) {
			n = cli_unreadable(cat, info.root, on_unreadable, &u,
					   &err);
			bfs_backup_info_clear(&info);
		}
		if (n < 0)
			cli_error("backup", "cannot list the unreadable entries: %s",
				  bfs_err_str(&err, (int)n));
	}
	if (!c->quiet) {
		bfs_fmt_bytes(rd, sizeof(rd), st->bytes);
		bfs_fmt_bytes(nw, sizeof(nw), st->new_bytes);
		bfs_fmt_bytes(sto, sizeof(sto), st->stored_bytes);
		fprintf(stderr,
			"backup %s: %llu files, %s read, %s new, %s stored, %.1f s%s\n",
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

static int run_backup(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "id", required_argument, NULL, OPT_ID },
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "files", required_argument, NULL, OPT_FILES },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "command", required_argument, NULL, OPT_COMMAND },
		{ "stdin", required_argument, NULL, OPT_STDIN },
		{ "pg-dump", required_argument, NULL, OPT_PG_DUMP },
		{ "mysql-dump", required_argument, NULL, OPT_MYSQL_DUMP },
		{ "ignore-table", required_argument, NULL, OPT_IGNORE_TABLE },
		{ "archive", required_argument, NULL, OPT_ARCHIVE },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct strv tags = { 0 }, excludes = { 0 }, ignores = { 0 };
	static const char *const empty[] = { NULL };
	struct bfs_backup_opts bo = { 0 };
	struct bfs_backup_stats st = { 0 };
	struct bfs_err err = { "" };
	struct bfs_catalog *cat = NULL;
	struct bfs_index *idx = NULL;
	struct bfs_repo *repo = NULL;
	struct bfs_backup *b = NULL;
	struct src *srcs = NULL;
	size_t nsrcs = 0, i, j;
	struct cli_common c;
	struct ui u = { 0 };
	bool json = false, partial = false, have_stdin = false;
	char d1[512], d2[512];
	char *id = NULL;
	int opt, rc;

	cli_common_init(&c);
	c.cmd = &cmd_backup;
	/* room for every argument as a source: no reallocation later */
	srcs = calloc((size_t)argc + 1, sizeof(*srcs));
	if (!srcs) {
		cli_error("backup", "out of memory");
		return EXIT_ERR;
	}
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":" CLI_COMMON_SHORTOPTS,
				  longopts, NULL)) != -1) {
		enum bfs_source_kind kind;
		const char *sopt = source_opt(opt, &kind);

		if (sopt) {
			if (kind == BFS_SRC_STDIN) {
				if (have_stdin) {
					rc = cli_usage_error(&cmd_backup,
						"--stdin can be given only once");
					goto out_free;
				}
				have_stdin = true;
			}
			srcs[nsrcs].s.kind = kind;
			srcs[nsrcs].s.arg = optarg;
			if (kind == BFS_SRC_PG_DUMP ||
			    kind == BFS_SRC_MYSQL_DUMP) {
				srcs[nsrcs].arg_copy = strdup(optarg);
				if (!srcs[nsrcs].arg_copy) {
					cli_error("backup", "out of memory");
					rc = EXIT_ERR;
					goto out_free;
				}
				srcs[nsrcs].s.arg = srcs[nsrcs].arg_copy;
				scrub_password(optarg);
			}
			srcs[nsrcs].opt = sopt;
			nsrcs++;
			continue;
		}
		rc = 0;
		switch (opt) {
		case OPT_ID:
			bo.id = optarg;
			continue;
		case OPT_TAG:
			if (!optarg[0]) {
				rc = cli_usage_error(&cmd_backup, "empty --tag");
				goto out_free;
			}
			rc = strv_add(&tags, optarg);
			break;
		case OPT_EXCLUDE:
			rc = strv_add(&excludes, optarg);
			break;
		case OPT_IGNORE_TABLE:
			if (!strchr(optarg, '.')) {
				rc = cli_usage_error(&cmd_backup,
					"--ignore-table '%s': expected DB.TABLE",
					optarg);
				goto out_free;
			}
			rc = strv_add(&ignores, optarg);
			break;
		case OPT_JSON:
			json = true;
			continue;
		case OPT_THREADS:
			if (parse_threads(optarg, &bo.threads) < 0) {
				rc = cli_usage_error(&cmd_backup,
					"--threads '%s': expected 1..1024",
					optarg);
				goto out_free;
			}
			continue;
		default:
			rc = cli_common_opt(&c, opt, optarg, &cmd_backup);
			if (rc < 0) {
				rc = EXIT_OK;
				goto out_free;
			}
			if (rc == 0) {
				rc = cli_bad_option(&cmd_backup, opt, argv);
				goto out_free;
			}
			continue;
		}
		if (rc < 0) {
			cli_error("backup", "out of memory");
			rc = EXIT_ERR;
			goto out_free;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error(&cmd_backup,
				     "unexpected argument '%s' (sources are options: --files, --command, ...)",
				     argv[optind]);
		goto out_free;
	}
	if (nsrcs == 0) {
		rc = cli_usage_error(&cmd_backup,
				     "nothing to back up: give at least one source (--files, --pg-dump, ...)");
		goto out_free;
	}
	if (bo.id && !bfs_backup_id_valid(bo.id)) {
		rc = cli_usage_error(&cmd_backup,
				     "invalid backup id '%s' (letters, digits, '.', '_', '-'; not 'latest')",
				     bo.id);
		goto out_free;
	}
	/* Validate every source before anything is written. */
	for (i = 0; i < nsrcs; i++) {
		srcs[i].s.excludes = excludes.v ? excludes.v : empty;
		srcs[i].s.ignore_tables = ignores.v ? ignores.v : empty;
		err.msg[0] = '\0';
		src_desc(&srcs[i], d1, sizeof(d1));
		rc = bfs_source_dest(&srcs[i].s, &srcs[i].dest, &err);
		if (rc < 0) {
			rc = cli_usage_error(&cmd_backup, "%s: %s", d1,
					     bfs_err_str(&err, rc));
			goto out_free;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(srcs[i].dest, srcs[j].dest) == 0) {
				src_desc(&srcs[j], d2, sizeof(d2));
				rc = cli_usage_error(&cmd_backup,
					"%s and %s both land on '%s'", d2, d1,
					srcs[i].dest);
				goto out_free;
			}
		}
	}
	if (cli_common_finish(&c) < 0) {
		rc = cli_usage_hint(&cmd_backup);
		goto out_free;
	}
	rc = cli_open(&c, true, &repo, &cat);
	if (rc)
		goto out_free;

	u.tty = isatty(STDERR_FILENO);
	u.quiet = c.quiet;
	bo.tags = tags.v;
	bo.progress = on_progress;
	bo.progress_arg = &u;
	err.msg[0] = '\0';
	if (cat && bfs_catalog_index_new(cat, repo, &idx) < 0) {
		cli_error("backup", "out of memory");
		rc = EXIT_ERR;
		goto out_close;
	}
	rc = bfs_backup_begin(repo, idx, &bo, &b, &err);
	if (rc < 0) {
		cli_error("backup", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_close;
	}
	id = strdup(bfs_backup_id(b));
	if (!id) {
		bfs_backup_abort(b);
		cli_error("backup", "out of memory");
		rc = EXIT_ERR;
		goto out_close;
	}
	for (i = 0; i < nsrcs; i++) {
		err.msg[0] = '\0';
		rc = bfs_source_run(b, &srcs[i].s, &err);
		if (rc < 0) {
			clear_progress(&u);
			bfs_backup_abort(b);
			src_desc(&srcs[i], d1, sizeof(d1));
			cli_error("backup", "%s (at '%s') failed: %s; no backup written",
				  d1, srcs[i].dest, bfs_err_str(&err, rc));
			rc = EXIT_ERR;
			goto out_close;
		}
	}
	err.msg[0] = '\0';
	rc = bfs_backup_commit(b, &st, &partial, &err);
	clear_progress(&u);
	if (rc < 0) {
		cli_error("backup", "cannot write backup '%s': %s", id,
			  bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out_close;
	}
	rc = report(&c, cat, id, &st, partial, json);
out_close:
	bfs_index_free(idx);
	bfs_catalog_close(cat);
	bfs_repo_close(repo);
out_free:
	for (i = 0; i < nsrcs; i++) {
		free(srcs[i].dest);
		free(srcs[i].arg_copy);
	}
	free(srcs);
	free(tags.v);
	free(excludes.v);
	free(ignores.v);
	free(id);
	return rc;
}

const struct bfs_cmd cmd_backup = {
	.name = "backup",
	.fn = run_backup,
	.summary = "create a backup from directories, dumps, archives, commands",
	.usage =
	"usage: backupfs backup [-r REPO] [--id ID] [--tag TAG]... [OPTIONS] SOURCE...\n"
	"\n"
	"Create one backup from any number of sources, in the order given.\n"
	"Each source lands at a path inside the backup; two sources may not\n"
	"land on the same path.  Content is split into chunks, deduplicated\n"
	"against everything already in the repository, compressed and\n"
	"stored; the backup becomes visible only when all of it is written.\n"
	"\n"
	"Sources:\n"
	"      --files [DEST=]PATH     a directory tree (or one file), at DEST\n"
	"                              (default: files)\n"
	"      --exclude GLOB          skip matching paths of --files/--archive\n"
	"                              sources (repeatable)\n"
	"      --archive [DEST=]FILE   a tar/tar.gz/zip/... archive, unpacked\n"
	"      --command PATH=CMD      the stdout of CMD (run by /bin/sh), at PATH\n"
	"      --stdin PATH            standard input, at PATH\n"
	"      --pg-dump [NAME=]CONNINFO\n"
	"                              pg_dump of a PostgreSQL database, at\n"
	"                              database.sql (or NAME.sql); CONNINFO is a\n"
	"                              postgresql:// URI or key=value string\n"
	"      --mysql-dump [NAME=]URI|DATABASE\n"
	"                              mysqldump --single-transaction, at\n"
	"                              NAME.sql (default: the database name)\n"
	"      --ignore-table DB.TABLE passed to mysqldump (repeatable)\n"
	"Passwords in URIs are passed to the dump tools through the\n"
	"environment or an option file, never on their command line.\n"
	"\n"
	"Options:\n"
	"      --id ID            backup id (default: UTC time,\n"
	"                         YYYY-MM-DD_HH-MM-SS)\n"
	"      --tag TAG          tag the backup (repeatable)\n"
	"      --json             print a JSON summary on stdout (id, partial,\n"
	"                         stats, unreadable entries)\n"
	"      --threads N        compression threads (default: CPUs)\n"
	"\n"
	CLI_COMMON_USAGE
	"\n"
	"On a terminal, progress is shown on stderr.  At the end one summary\n"
	"line goes to stderr (also when not on a terminal, for cron logs;\n"
	"-q silences it).  Unreadable files do not stop the backup: they are\n"
	"recorded, listed on stderr, and the exit code is 3.  A failing dump\n"
	"or command fails the backup and nothing is written.\n"
	"\n"
	"Examples:\n"
	"  backupfs backup -r /srv/backups/nocodb \\\n"
	"      --pg-dump 'postgresql://nocodb@localhost/nocodb' \\\n"
	"      --files uploads=/srv/nocodb/uploads --exclude '*.tmp'\n"
	"  backupfs backup --mysql-dump mysql://root@localhost/app \\\n"
	"      --ignore-table app.sessions --tag nightly\n"
	"  backupfs backup --command config.json='docker inspect app' \\\n"
	"      --archive old=/tmp/old-backup.tar.gz\n"
	"  pg_dumpall | backupfs backup --stdin all.sql --json\n"
	"\n"
	"Exit codes: 0 ok, 1 error (nothing written), 2 usage error, 3 backup\n"
	"written but some files were unreadable (partial).\n",
};
