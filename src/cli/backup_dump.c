/* backup_dump.c - the dump options of `backupfs backup` (backup_dump.h). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_dump.h"
#include "src/schedule.h"
#include "src/util.h"

static const char *const opt_names[] = {
    [BD_IGNORE_DATA] = "--ignore-table-data",
    [BD_PG_OPT] = "--pg-dump-opt",
    [BD_MY_OPT] = "--mysql-dump-opt",
    [BD_GLOBALS] = "--pg-dumpall-globals",
    [BD_GLOBALS_PW] = "--pg-dumpall-role-passwords",
    [BD_TIMEOUT] = "--dump-timeout",
};

static bool is_dump(enum bfs_source_kind k)
{
	return k == BFS_SRC_PG_DUMP || k == BFS_SRC_MYSQL_DUMP;
}

/* Does option id apply to a source of kind k? */
static bool applies(enum bdump_id id, enum bfs_source_kind k)
{
	switch (id) {
	case BD_PG_OPT:
	case BD_GLOBALS:
	case BD_GLOBALS_PW:
		return k == BFS_SRC_PG_DUMP;
	case BD_MY_OPT:
		return k == BFS_SRC_MYSQL_DUMP;
	default:
		return is_dump(k);
	}
}

int bdump_add(struct bdump *d, enum bdump_id id, const char *val, long src,
	      char *msg, size_t msglen)
{
	struct bfs_err err = {""};
	struct bdump_item *it;
	const char *dot;
	uint64_t secs = 0;
	int rc;

	switch (id) {
	case BD_IGNORE_DATA:
		dot = strchr(val, '.');
		if (!dot || dot == val || !dot[1]) {
			snprintf(msg, msglen,
				 "--ignore-table-data '%s': expected DB.TABLE",
				 val);
			return -EINVAL;
		}
		break;
	case BD_PG_OPT:
	case BD_MY_OPT:
		rc = bfs_dump_opt_check(id == BD_PG_OPT ? BFS_SRC_PG_DUMP
							: BFS_SRC_MYSQL_DUMP,
					val, &err);
		if (rc) {
			snprintf(msg, msglen, "%s", err.msg);
			return rc;
		}
		break;
	case BD_TIMEOUT:
		rc = bfs_duration_parse(val, &secs, &err);
		if (rc || !secs) {
			snprintf(msg, msglen, "--dump-timeout '%s': %s", val,
				 rc ? err.msg : "must be at least 1s");
			return -EINVAL;
		}
		break;
	default:
		break;
	}
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		struct bdump_item *n = realloc(d->v, ncap * sizeof(*n));

		if (!n) {
			snprintf(msg, msglen, "out of memory");
			return -ENOMEM;
		}
		d->v = n;
		d->cap = ncap;
	}
	it = &d->v[d->n++];
	it->id = id;
	it->val = val;
	it->src = src;
	it->secs = secs;
	return 0;
}

int bdump_check(const struct bdump *d, const enum bfs_source_kind *kinds,
		size_t nsrcs, char *msg, size_t msglen)
{
	const struct bdump_item *it;
	size_t i, k;

	for (i = 0; i < d->n; i++) {
		it = &d->v[i];
		if (it->src >= 0) {
			if (applies(it->id, kinds[it->src]))
				continue;
			snprintf(msg, msglen,
				 "%s follows source %ld, which is not a %s: "
				 "give it after one, or before the first "
				 "source to apply it to all of them",
				 opt_names[it->id], it->src + 1,
				 applies(it->id, BFS_SRC_MYSQL_DUMP)
				     ? (applies(it->id, BFS_SRC_PG_DUMP)
					    ? "--pg-dump or --mysql-dump"
					    : "--mysql-dump")
				     : "--pg-dump");
			return -EINVAL;
		}
		for (k = 0; k < nsrcs; k++)
			if (applies(it->id, kinds[k]))
				break;
		if (k == nsrcs) {
			snprintf(msg, msglen, "%s: there is no %s source",
				 opt_names[it->id],
				 it->id == BD_MY_OPT ? "--mysql-dump"
				 : applies(it->id, BFS_SRC_MYSQL_DUMP)
				     ? "--pg-dump or --mysql-dump"
				     : "--pg-dump");
			return -EINVAL;
		}
	}
	return 0;
}

int bdump_apply(const struct bdump *d, size_t k, struct bfs_source *s,
		struct bdump_src *out)
{
	const struct bdump_item *it;
	size_t i, ni = 0, no = 0;

	memset(out, 0, sizeof(*out));
	if (!is_dump(s->kind))
		return 0;
	out->ignore_data = calloc(d->n + 1, sizeof(*out->ignore_data));
	out->opts = calloc(d->n + 1, sizeof(*out->opts));
	if (!out->ignore_data || !out->opts)
		return -ENOMEM;
	for (i = 0; i < d->n; i++) {
		it = &d->v[i];
		if ((it->src != -1 && it->src != (long)k) ||
		    !applies(it->id, s->kind))
			continue;
		switch (it->id) {
		case BD_IGNORE_DATA:
			out->ignore_data[ni++] = it->val;
			break;
		case BD_PG_OPT:
		case BD_MY_OPT:
			out->opts[no++] = it->val;
			break;
		case BD_GLOBALS:
			if (s->pg_globals == BFS_PG_GLOBALS_NONE)
				s->pg_globals = BFS_PG_GLOBALS;
			break;
		case BD_GLOBALS_PW:
			s->pg_globals = BFS_PG_GLOBALS_PASSWORDS;
			break;
		case BD_TIMEOUT:
			s->dump_timeout = it->secs; /* the last one wins */
			break;
		}
	}
	s->ignore_table_data = out->ignore_data;
	s->dump_opts = out->opts;
	return 0;
}

void bdump_src_free(struct bdump_src *out)
{
	free(out->ignore_data);
	free(out->opts);
	memset(out, 0, sizeof(*out));
}

void bdump_free(struct bdump *d)
{
	free(d->v);
	memset(d, 0, sizeof(*d));
}
