/* common.c - helpers shared by the subcommands (see cli.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "cli.h"
#include "src/log.h"
#include "src/restore.h"
#include "src/schedule.h"

static const char *cmd_name(const struct cli_common *c)
{
	return c->cmd ? c->cmd->name : NULL;
}

int cli_common_finish(struct cli_common *c)
{
	int level = LOG_NOTICE;

	if (c->quiet)
		level = LOG_ERR;
	else if (c->verbose == 1)
		level = LOG_INFO;
	else if (c->verbose > 1)
		level = LOG_DEBUG;
	bfs_log_setup(false, level);
	if (c->bad_cache_size) {
		cli_error(cmd_name(c),
			  "invalid --cache-dir-size '%s' (a size "
			  "like 512M or 4G, at least 1M)",
			  c->bad_cache_size);
		return -EINVAL;
	}
	if (c->sopts.password_file && c->sopts.password_command) {
		cli_error(cmd_name(c), "give --password-file or "
				       "--password-command, not both");
		return -EINVAL;
	}
	if (!c->repo || !c->repo[0])
		c->repo = getenv("BACKUPFS_REPO");
	if (!c->repo || !c->repo[0]) {
		c->repo = NULL;
		cli_error(cmd_name(c),
			  "no repository given (-r REPO or BACKUPFS_REPO)");
		return -EINVAL;
	}
	return 0;
}

int cli_sync(struct cli_common *c, struct bfs_catalog *cat,
	     struct bfs_repo *repo)
{
	struct bfs_err err = {""};
	int rc;

	rc = bfs_catalog_sync(cat, repo, NULL, &err);
	if (rc == -EUCLEAN) {
		/* one bad manifest must not hide the good ones */
		cli_error(cmd_name(c), "warning: %s", bfs_err_str(&err, rc));
	} else if (rc < 0) {
		cli_error(cmd_name(c), "cannot sync the catalog: %s",
			  bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	return 0;
}

int cli_compact(struct cli_common *c, const char *path, const char *repo_id,
		bool if_due)
{
	struct bfs_compact_stats st;
	struct bfs_err err = {""};
	int rc;

	rc = bfs_catalog_compact(path, repo_id, if_due ? BFS_COMPACT_IF_DUE : 0,
				 &st, &err);
	if (rc == -EBUSY && if_due)
		return 0; /* next time: a mount or a backup has it open */
	if (rc < 0) {
		cli_error(cmd_name(c), "%scannot compact the catalog: %s",
			  if_due ? "warning: " : "", bfs_err_str(&err, rc));
		return rc;
	}
	if (st.done && !c->quiet)
		fprintf(stderr,
			"backupfs %s: catalog compacted: %.1f MiB -> %.1f MiB,"
			" %llu runs, %.1f s\n",
			c->cmd ? c->cmd->name : "catalog",
			st.bytes_before / 1048576.0, st.bytes_after / 1048576.0,
			(unsigned long long)st.runs, st.ns / 1e9);
	return 0;
}

int cli_open_catalog(struct cli_common *c, struct bfs_repo *repo,
		     struct bfs_catalog **cat)
{
	struct bfs_err err = {""};
	char *path = NULL;
	int rc;

	*cat = NULL;
	if (c->catalog) {
		path = strdup(c->catalog);
		if (!path) {
			cli_error(cmd_name(c), "out of memory");
			return EXIT_ERR;
		}
	} else {
		rc = bfs_catalog_default_path(repo, &path, &err);
		if (rc < 0) {
			cli_error(cmd_name(c), "%s", bfs_err_str(&err, rc));
			return EXIT_ERR;
		}
	}
	rc = bfs_mkdir_parents(path, 0700);
	if (rc < 0) {
		cli_error(cmd_name(c),
			  "cannot create the directory of '%s': %s", path,
			  strerror(-rc));
		goto out;
	}
	rc = bfs_catalog_open(path, repo->id, false, cat, &err);
	if (rc == 0 && c->replace_bad_catalog)
		rc = bfs_catalog_check_file(*cat, &err);
	if (rc == -EUCLEAN && c->replace_bad_catalog) {
		/* a cache: replace what cannot be read (never a file that
		 * reads but is not ours: that is -EINVAL) */
		fprintf(stderr,
			"backupfs %s: %s; moving it aside to '%s.damaged' "
			"and building it again\n",
			cmd_name(c), bfs_err_str(&err, rc), path);
		bfs_catalog_close(*cat);
		*cat = NULL;
		rc = bfs_catalog_remove_file(path, &err);
		if (rc == 0)
			rc = bfs_catalog_open(path, repo->id, false, cat, &err);
	}
	if (rc < 0)
		cli_error(cmd_name(c), "cannot open catalog '%s': %s%s", path,
			  bfs_err_str(&err, rc),
			  rc == -EUCLEAN && !strstr(err.msg, "catalog rebuild")
			      ? " ('backupfs catalog rebuild' replaces it)"
			      : "");
out:
	free(path);
	if (rc < 0) {
		bfs_catalog_close(*cat);
		*cat = NULL;
		return EXIT_ERR;
	}
	return 0;
}

int cli_open(struct cli_common *c, bool sync, struct bfs_repo **repo,
	     struct bfs_catalog **cat)
{
	struct bfs_catalog_locator *loc = NULL;
	struct bfs_err err = {""};
	int rc;

	*repo = NULL;
	*cat = NULL;
	rc = bfs_repo_open(c->repo, &c->sopts, repo, &err);
	if (rc < 0) {
		cli_error(cmd_name(c), "%s", bfs_err_str(&err, rc));
		goto out_fail;
	}
	if (cli_open_catalog(c, *repo, cat))
		goto out_fail;
	if (sync && cli_sync(c, *cat, *repo) != 0)
		goto out_fail;
	rc = bfs_catalog_locator_new(*cat, &loc, &err);
	if (!rc)
		rc = bfs_repo_set_locate(*repo, bfs_catalog_locate, loc,
					 bfs_catalog_locator_free, &err);
	if (rc < 0) {
		cli_error(cmd_name(c), "%s", bfs_err_str(&err, rc));
		goto out_fail;
	}
	return 0;
out_fail:
	bfs_catalog_close(*cat);
	bfs_repo_close(*repo);
	*cat = NULL;
	*repo = NULL;
	return EXIT_ERR;
}

/* Quoted copy of s[0..n) in the next of 8 buffers reused in turn. */
static const char *quote_ring(const char *s, size_t n)
{
	/* reachable until exit, like stdio's buffers */
	static struct bfs_buf ring[8];
	static unsigned next;
	struct bfs_buf *b = &ring[next++ % 8];

	b->len = 0;
	if (bfs_term_quote(b, s, n))
		return "?";
	return (const char *)b->data;
}

const char *cli_qn(const char *s, size_t n)
{
	/* always a copy: s[0..n) need not be NUL-terminated */
	return quote_ring(s, n);
}

const char *cli_q(const char *s)
{
	size_t n = strlen(s);

	return bfs_term_safe(s, n) ? s : quote_ring(s, n);
}

void cli_json_write(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	while (i < n) {
		unsigned c = s[i], cp = 0;
		size_t len = 1;

		if (c >= 0x80) {
			/* one UTF-8 sequence: copied unless it is invalid
			 * or a C1 control (U+0080..U+009F) */
			len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
			if (len > n - i || !bfs_utf8_valid(str + i, len))
				len = 0;
			if (len == 2)
				cp = (c & 0x1f) << 6 | (s[i + 1] & 0x3f);
			else if (len == 3)
				cp = (c & 0x0f) << 12 | (s[i + 1] & 0x3f) << 6 |
				     (s[i + 2] & 0x3f);
			if (len && !(cp >= 0x80 && cp <= 0x9f) &&
			    !(cp >= 0x202a && cp <= 0x202e) &&
			    !(cp >= 0x2066 && cp <= 0x2069)) {
				i += len;
				continue;
			}
		}
		if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t') {
			i++;
			continue;
		}
		fwrite(s + run, 1, i - run, stdout);
		if (c < 0x80)
			printf("\\u%04x", c);
		else if (len)
			printf("\\u%04x", cp);
		else
			fputs("\\ufffd", stdout);
		i += len ? len : 1;
		run = i;
	}
	fwrite(s + run, 1, n - run, stdout);
}

static void verror(const char *cmd, const char *fmt, va_list ap)
{
	char msg[2048];
	struct bfs_buf q = {0};

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (cmd)
		fprintf(stderr, "backupfs %s: ", cmd);
	else
		fputs("backupfs: ", stderr);
	if (bfs_term_quote(&q, msg, strlen(msg)) == 0)
		fputs((const char *)q.data, stderr);
	else
		fputs("(message not shown: out of memory)", stderr);
	bfs_buf_free(&q);
	fputc('\n', stderr);
}

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(cmd, fmt, ap);
	va_end(ap);
}

int cli_usage_error(const struct bfs_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(cmd ? cmd->name : NULL, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "try 'backupfs %s --help'\n", cmd->name);
	else
		fputs("try 'backupfs --help'\n", stderr);
	return cmd && cmd->usage_exit ? cmd->usage_exit : EXIT_USAGE;
}

int cli_usage_hint(const struct bfs_cmd *cmd)
{
	fprintf(stderr, "try 'backupfs %s --help'\n", cmd->name);
	return cmd->usage_exit ? cmd->usage_exit : EXIT_USAGE;
}

int cli_split_ref(const char *ref, char **id, char **path)
{
	const char *colon = strchr(ref, ':');
	const char *p, *q;
	size_t idlen = colon ? (size_t)(colon - ref) : strlen(ref);
	char *out;
	size_t n = 0;

	*id = NULL;
	*path = NULL;
	if (idlen == 0)
		return -EINVAL;
	*id = strndup(ref, idlen);
	if (!*id)
		return -ENOMEM;
	p = colon ? colon + 1 : "";
	out = malloc(strlen(p) + 1);
	if (!out) {
		free(*id);
		*id = NULL;
		return -ENOMEM;
	}
	/* Normalise: drop empty and "." components, so "/a//b/./c/" is
	 * "a/b/c".  ".." is kept and fails the catalog lookup. */
	while (*p) {
		size_t len;

		q = strchr(p, '/');
		len = q ? (size_t)(q - p) : strlen(p);
		if (len && !(len == 1 && p[0] == '.')) {
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	out[n] = '\0';
	*path = out;
	return 0;
}

void cli_fmt_time(char *out, size_t n, int64_t ns, bool rfc3339)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns < 0 && ns % 1000000000)
		t--;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, n, "?");
		return;
	}
	strftime(out, n, rfc3339 ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S",
		 &tm);
}

int cli_find_backup(struct cli_common *c, struct bfs_catalog *cat,
		    const char *id, struct bfs_backup_info *out)
{
	struct bfs_err err = {""};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = bfs_catalog_find_backup(cat, id, out, &err);
	if (rc == -ENOENT) {
		if (strcmp(id, "latest") == 0)
			cli_error(cmd_name(c), "no backups in repository '%s'",
				  c->repo);
		else
			cli_error(cmd_name(c),
				  "no backup '%s' in repository '%s'", id,
				  c->repo);
		return EXIT_ERR;
	}
	if (rc < 0) {
		cli_error(cmd_name(c), "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	return 0;
}

void cli_json_add_int(struct cJSON *o, const char *key, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	cJSON_AddRawToObject(o, key, buf);
}

void cli_json_add_uint(struct cJSON *o, const char *key, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	cJSON_AddRawToObject(o, key, buf);
}

int cli_json_print(struct cJSON *o)
{
	char *s = o ? cJSON_Print(o) : NULL;

	cJSON_Delete(o);
	if (!s)
		return -ENOMEM;
	cli_json_write(s, strlen(s));
	putchar('\n');
	cJSON_free(s);
	return 0;
}

void cli_json_add_name(struct cJSON *o, const char *key, const char *s)
{
	char k[64], *b64 = NULL;
	size_t n = strlen(s);

	if (bfs_utf8_valid(s, n)) {
		cJSON_AddStringToObject(o, key, s);
		return;
	}
	snprintf(k, sizeof(k), "%s_b64", key);
	if (bfs_b64_encode((const uint8_t *)s, n, &b64) == 0)
		cJSON_AddStringToObject(o, k, b64);
	free(b64);
}

struct cJSON *cli_stats_json(const struct bfs_backup_stats *s)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cli_json_add_uint(o, "entries", s->entries);
	cli_json_add_uint(o, "files", s->files);
	cli_json_add_uint(o, "dirs", s->dirs);
	cli_json_add_uint(o, "bytes", s->bytes);
	cli_json_add_uint(o, "chunks", s->chunks);
	cli_json_add_uint(o, "new_chunks", s->new_chunks);
	cli_json_add_uint(o, "new_bytes", s->new_bytes);
	cli_json_add_uint(o, "stored_bytes", s->stored_bytes);
	cli_json_add_uint(o, "errors", s->errors);
	cli_json_add_int(o, "duration_ns", s->duration_ns);
	return o;
}

struct unreadable {
	void (*cb)(void *arg, const char *path, const char *why);
	void *arg;
	long n;
};

static int unreadable_cb(void *arg, const char *path, size_t len,
			 const struct bfs_cat_entry *e)
{
	struct unreadable *u = arg;

	if (e->e.error) {
		u->n++;
		if (u->cb)
			u->cb(u->arg, path, e->e.error);
	}
	return 0;
}

long cli_unreadable(struct bfs_catalog *cat, int64_t root,
		    void (*cb)(void *arg, const char *path, const char *why),
		    void *arg, struct bfs_err *err)
{
	struct unreadable u = {cb, arg, 0};
	int rc;

	rc = bfs_tree_walk(cat, root, unreadable_cb, &u, err);
	return rc < 0 ? rc : u.n;
}

int cli_parse_lock_wait(const struct bfs_cmd *cmd, const char *arg, int64_t *ns)
{
	struct bfs_err err = {""};
	uint64_t secs = 0;
	int rc;

	*ns = 0;
	if (!arg)
		return 0;
	rc = bfs_duration_parse(arg, &secs, &err);
	if (rc)
		return cli_usage_error(cmd, "--lock-wait: %s",
				       bfs_err_str(&err, rc));
	*ns = (int64_t)secs * 1000000000;
	return 0;
}

int cli_lock(struct cli_common *c, struct bfs_repo *r, enum bfs_lock_kind kind,
	     int64_t wait_ns, struct bfs_lock **out)
{
	struct bfs_err err = {""};
	int rc;

	rc = bfs_lock_take(r, kind, cmd_name(c), wait_ns, out, &err);
	if (rc) {
		cli_error(cmd_name(c), "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	return 0;
}
