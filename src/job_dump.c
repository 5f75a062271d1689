/* job_dump.c - a job source's dump options (doc/JOBS.md "sources"):
 * ignore_table_data, dump_opts, dump_timeout, pg_dumpall_globals,
 * pg_dumpall_role_passwords; and the check that no placeholder of
 * `backupfs job new --profile` is left in a job file. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_int.h"
#include "util.h"

/* The DB.TABLE entries of a list. */
static int check_db_table(const char **list, const char *kp,
			  struct bfs_err *err)
{
	char ip[PATH_LEN];
	size_t i;

	for (i = 0; list[i]; i++) {
		const char *dot = strchr(list[i], '.');

		if (!dot || dot == list[i] || !dot[1]) {
			jp_idx(ip, kp, i);
			return jp_fail(err, ip, "expected DB.TABLE");
		}
	}
	return 0;
}

int jp_parse_dump(const cJSON *o, const char *path, struct bfs_job_source *js,
		  struct bfs_err *err)
{
	static const char *const keys[] = {"ignore_table_data", "dump_opts",
					   "dump_timeout", "pg_dumpall_globals",
					   "pg_dumpall_role_passwords"};
	enum bfs_source_kind k = js->src.kind;
	char kp[PATH_LEN], ip[PATH_LEN];
	const char **list;
	const cJSON *c;
	bool on;
	size_t i, n;
	int rc;

	for (i = 0; i < BFS_ARRAY_SIZE(keys); i++) {
		c = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
		jp_sub(kp, path, keys[i]);
		if (!c)
			continue;
		if (i >= 3 && k != BFS_SRC_PG_DUMP)
			return jp_fail(err, kp,
				       "not an option of a %s source (only "
				       "pg_dump takes it)",
				       js->kind_name);
		if (k != BFS_SRC_PG_DUMP && k != BFS_SRC_MYSQL_DUMP)
			return jp_fail(err, kp,
				       "not an option of a %s source (only "
				       "pg_dump and mysql_dump take it)",
				       js->kind_name);
		switch (i) {
		case 0:
			rc = jp_get_list(c, kp, S_NONEMPTY | S_LINE, &list, &n,
					 err);
			if (rc)
				return rc;
			js->src.ignore_table_data = list;
			rc = check_db_table(list, kp, err);
			break;
		case 1:
			rc = jp_get_list(c, kp, S_NONEMPTY | S_LINE, &list, &n,
					 err);
			if (rc)
				return rc;
			js->src.dump_opts = list;
			for (n = 0; !rc && list[n]; n++) {
				struct bfs_err e2 = {""};

				jp_idx(ip, kp, n);
				if (bfs_dump_opt_check(k, list[n], &e2))
					rc = jp_fail(err, ip, "%s", e2.msg);
			}
			break;
		case 2:
			rc = jp_get_duration(c, kp, &js->src.dump_timeout, err);
			if (!rc && !js->src.dump_timeout)
				rc = jp_fail(err, kp, "must be at least 1s");
			break;
		default:
			rc = jp_get_bool(c, kp, &on, err);
			if (!rc && on && i == 3 &&
			    js->src.pg_globals == BFS_PG_GLOBALS_NONE)
				js->src.pg_globals = BFS_PG_GLOBALS;
			if (!rc && on && i == 4)
				js->src.pg_globals = BFS_PG_GLOBALS_PASSWORDS;
			break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- placeholders -------------------------------------------------------- */

/* The length of a placeholder "<NAME>" (NAME: A-Z 0-9 _, starting with a
 * letter) at s, or 0. */
static size_t placeholder_at(const char *s)
{
	size_t n = 1;

	if (s[0] != '<' || !isupper((unsigned char)s[1]))
		return 0;
	while (isupper((unsigned char)s[n]) || isdigit((unsigned char)s[n]) ||
	       s[n] == '_')
		n++;
	return s[n] == '>' ? n + 1 : 0;
}

struct ph_scan {
	struct bfs_buf names; /* "<A>, <B>" (each once) */
	size_t count;
	char first[PATH_LEN]; /* where the first one is */
};

static void ph_string(struct ph_scan *p, const char *s, const char *path)
{
	size_t n;
	char name[80];

	for (; *s; s++) {
		n = placeholder_at(s);
		if (!n || n >= sizeof(name))
			continue;
		memcpy(name, s, n);
		name[n] = '\0';
		if (!p->count++)
			snprintf(p->first, sizeof(p->first), "%s", path);
		if (!p->names.data ||
		    !memmem(p->names.data, p->names.len, name, n))
			bfs_buf_printf(&p->names, "%s%s",
				       p->names.len ? ", " : "", name);
		s += n - 1;
	}
}

static void ph_walk(struct ph_scan *p, const cJSON *v, const char *path,
		    int depth)
{
	char sub[PATH_LEN];
	const cJSON *c;
	size_t i = 0;

	if (depth > 16)
		return;
	if (cJSON_IsString(v) && v->valuestring) {
		ph_string(p, v->valuestring, path);
		return;
	}
	for (c = v->child; c; c = c->next, i++) {
		if (cJSON_IsArray(v))
			jp_idx(sub, path, i);
		else if (c->string)
			jp_sub(sub, path, c->string);
		else
			continue;
		ph_walk(p, c, sub, depth + 1);
	}
}

int jp_check_placeholders(const cJSON *root, struct bfs_err *err)
{
	struct ph_scan p = {0};
	int rc = 0;

	ph_walk(&p, root, "", 0);
	if (p.count) {
		bfs_buf_append(&p.names, "", 1);
		rc = bfs_err_set(err, -EINVAL,
				 "replace %s in this file (first at %s): "
				 "placeholders left by `backupfs job new "
				 "--profile`",
				 p.names.data ? (char *)p.names.data : "<...>",
				 p.first);
	}
	bfs_buf_free(&p.names);
	return rc;
}
