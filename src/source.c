/* source.c - the source dispatcher: one table row per kind of source
 * (source_int.h); bfs_source_dest and bfs_source_run look the kind up and
 * call its operations.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "conninfo.h"
#include "source_int.h"

static const struct bfs_source_type *const source_types[] = {
    &bfs_source_type_files,   &bfs_source_type_archive,
    &bfs_source_type_command, &bfs_source_type_stdin,
    &bfs_source_type_pgdump,  &bfs_source_type_mysqldump,
    &bfs_source_type_nocodb,
};

static const struct bfs_source_type *source_type(enum bfs_source_kind kind)
{
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(source_types); i++)
		if (source_types[i]->kind == kind)
			return source_types[i];
	return NULL;
}

int bfs_source_dest(const struct bfs_source *s, char **dest,
		    struct bfs_err *err)
{
	const struct bfs_source_type *t = source_type(s->kind);

	*dest = NULL;
	if (!s->arg || !*s->arg)
		return bfs_err_set(err, -EINVAL, "missing source argument");
	if (!t)
		return bfs_err_set(err, -EINVAL, "unknown source kind");
	return t->dest(s, dest, err);
}

int bfs_source_run(struct bfs_backup *b, const struct bfs_source *s,
		   struct bfs_err *err)
{
	const struct bfs_source_type *t = source_type(s->kind);

	if (!t)
		return bfs_err_set(err, -EINVAL, "unknown source kind %d",
				   s->kind);
	if (!s->arg || !*s->arg)
		return bfs_err_set(err, -EINVAL, "missing source argument");
	return t->run(b, s, err);
}

size_t bfs_source_scrub(enum bfs_source_kind kind, char *arg)
{
	const char *rest;
	char *name = NULL;

	if (!arg || (kind != BFS_SRC_PG_DUMP && kind != BFS_SRC_MYSQL_DUMP))
		return 0;
	src_dump_name(arg, &name, &rest);
	free(name);
	if (kind == BFS_SRC_PG_DUMP)
		return bfs_pg_conninfo_scrub(arg + (rest - arg));
	return bfs_mysql_uri_scrub(arg + (rest - arg));
}
