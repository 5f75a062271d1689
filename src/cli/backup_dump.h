/* backup_dump.h - the dump options of `backupfs backup`
 * (--ignore-table-data, --pg-dump-opt, --mysql-dump-opt,
 * --pg-dumpall-globals, --pg-dumpall-role-passwords, --dump-timeout):
 * recorded with the dump source they follow (all dump sources when given
 * before the first source), checked, then applied to each source.
 * Single-threaded, as the command line. */
#ifndef BFS_CLI_BACKUP_DUMP_H
#define BFS_CLI_BACKUP_DUMP_H

#include <stddef.h>

#include "src/source.h"

enum bdump_id {
	BD_IGNORE_DATA, /* --ignore-table-data DB.TABLE */
	BD_PG_OPT,	/* --pg-dump-opt OPT */
	BD_MY_OPT,	/* --mysql-dump-opt OPT */
	BD_GLOBALS,	/* --pg-dumpall-globals */
	BD_GLOBALS_PW,	/* --pg-dumpall-role-passwords */
	BD_TIMEOUT,	/* --dump-timeout DURATION */
};

struct bdump_item {
	enum bdump_id id;
	const char *val; /* borrowed from argv; NULL for flags */
	long src;	 /* the source it follows, -1: every one */
	uint64_t secs;	 /* BD_TIMEOUT */
};

/* Every dump option as given. */
struct bdump {
	struct bdump_item *v;
	size_t n, cap;
};

/* What one source gets: lists malloc'ed (free with bdump_src_free). */
struct bdump_src {
	const char **ignore_data, **opts;
};

/* Record one option given after source number src (-1: before any).
 * The value is checked here (DB.TABLE, the allow-list, the duration).
 * 0, or -EINVAL / -ENOMEM with msg set (a usage error). */
int bdump_add(struct bdump *d, enum bdump_id id, const char *val, long src,
	      char *msg, size_t msglen);

/* Check that every option applies to a source: one given after a source
 * must follow a dump of its kind, one given before applies to at least
 * one.  kinds[i] is source i's kind.  0 or -EINVAL with msg. */
int bdump_check(const struct bdump *d, const enum bfs_source_kind *kinds,
		size_t nsrcs, char *msg, size_t msglen);

/* Fill s (kind s->kind, number k) with the options that apply to it;
 * lists land in out.  0 or -ENOMEM. */
int bdump_apply(const struct bdump *d, size_t k, struct bfs_source *s,
		struct bdump_src *out);

void bdump_src_free(struct bdump_src *out);
void bdump_free(struct bdump *d);

#endif
