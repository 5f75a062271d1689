/* cmd_ls.c - `backupfs ls ID[:PATH] [-l] [-R]`: list a backup's tree from
 * the catalog (no repository reads beyond the catalog sync). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "cli.h"
#include "src/restore.h"

struct ls_args {
	bool lng, recursive;
};

struct ls {
	struct bfs_catalog *cat;
	bool lng, recursive;
	struct bfs_buf path; /* relative path being listed (-R) */
	struct bfs_err err;
};

/* Column widths for -l; they only grow, so one directory's listing is
 * aligned and later ones mostly are. */
struct widths {
	int nlink, user, group, size;
};

static void mode_string(char out[11], int type, uint32_t mode)
{
	static const char *rwx = "rwxrwxrwx";
	int i;

	switch (type) {
	case BFS_T_DIR:
		out[0] = 'd';
		break;
	case BFS_T_SYMLINK:
		out[0] = 'l';
		break;
	case BFS_T_FIFO:
		out[0] = 'p';
		break;
	case BFS_T_CHR:
		out[0] = 'c';
		break;
	case BFS_T_BLK:
		out[0] = 'b';
		break;
	case BFS_T_SOCK:
		out[0] = 's';
		break;
	default:
		out[0] = '-';
		break;
	}
	for (i = 0; i < 9; i++)
		out[i + 1] = mode & (0400u >> i) ? rwx[i] : '-';
	if (mode & 04000)
		out[3] = out[3] == 'x' ? 's' : 'S';
	if (mode & 02000)
		out[6] = out[6] == 'x' ? 's' : 'S';
	if (mode & 01000)
		out[9] = out[9] == 'x' ? 't' : 'T';
	out[10] = '\0';
}

/* Hardlink members may carry no size of their own: take the group's. */
static uint64_t ls_size(struct ls *l, const struct bfs_cat_entry *ce)
{
	struct bfs_cat_entry data;
	uint64_t size = ce->e.size;

	if (ce->link_id && !size) {
		memset(&data, 0, sizeof(data));
		if (bfs_catalog_get(l->cat, ce->link_id, &data, NULL) == 0)
			size = data.e.size;
		bfs_cat_entry_clear(&data);
	}
	return size;
}

static void fmt_owner(char *out, size_t n, const char *name, uint32_t id)
{
	if (name && name[0])
		bfs_term_quote_to(out, n, name);
	else
		snprintf(out, n, "%u", id);
}

static void fmt_size(struct ls *l, char *out, size_t n,
		     const struct bfs_cat_entry *ce)
{
	if (ce->e.type == BFS_T_CHR || ce->e.type == BFS_T_BLK)
		snprintf(out, n, "%u, %u", major((dev_t)ce->e.rdev),
			 minor((dev_t)ce->e.rdev));
	else
		snprintf(out, n, "%llu", (unsigned long long)ls_size(l, ce));
}

static void grow(int *w, const char *s)
{
	int n = (int)strlen(s);

	if (n > *w)
		*w = n;
}

static void measure(struct ls *l, struct widths *w,
		    const struct bfs_cat_entry *ce)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%u", ce->nlink);
	grow(&w->nlink, buf);
	fmt_owner(buf, sizeof(buf), ce->e.user, ce->e.uid);
	grow(&w->user, buf);
	fmt_owner(buf, sizeof(buf), ce->e.group, ce->e.gid);
	grow(&w->group, buf);
	fmt_size(l, buf, sizeof(buf), ce);
	grow(&w->size, buf);
}

/* One line: the name, the owner, the target and the error quoted for the
 * terminal (cli_q): a repository's names are untrusted. */
static void print_entry(struct ls *l, const struct widths *w,
			const struct bfs_cat_entry *ce, const char *name,
			size_t namelen)
{
	char mode[11], user[64], group[64], size[64], t[32];

	if (l->lng) {
		mode_string(mode, ce->e.type, ce->e.mode);
		fmt_owner(user, sizeof(user), ce->e.user, ce->e.uid);
		fmt_owner(group, sizeof(group), ce->e.group, ce->e.gid);
		fmt_size(l, size, sizeof(size), ce);
		cli_fmt_time(t, sizeof(t), ce->e.mtime_ns, false);
		t[16] = '\0'; /* "YYYY-MM-DD HH:MM" */
		printf("%s %*u %-*s %-*s %*s %s ", mode, w->nlink, ce->nlink,
		       w->user, user, w->group, group, w->size, size, t);
	}
	fputs(cli_qn(name, namelen), stdout);
	if (l->lng && ce->e.type == BFS_T_SYMLINK && ce->e.target) {
		fputs(" -> ", stdout);
		fputs(cli_qn(ce->e.target, ce->e.target_len), stdout);
	}
	if (l->lng && ce->e.error)
		printf("  (unreadable at backup time: %s)", cli_q(ce->e.error));
	putchar('\n');
}

static int cmp_name(const void *a, const void *b)
{
	const struct bfs_cat_entry *x = a, *y = b;
	size_t n = BFS_MIN(x->e.path_len, y->e.path_len);
	int c = n ? memcmp(x->e.path, y->e.path, n) : 0;

	if (c)
		return c;
	return x->e.path_len < y->e.path_len ? -1
					     : x->e.path_len > y->e.path_len;
}

static int path_push(struct bfs_buf *b, const char *name, size_t n)
{
	if (b->len && bfs_buf_append(b, "/", 1) < 0)
		return -ENOMEM;
	return bfs_buf_append(b, name, n);
}

static int list_dir(struct ls *l, int64_t dir, struct widths *w)
{
	struct bfs_cat_entry *v = NULL;
	size_t n = 0, i, base = l->path.len;
	int rc;

	rc = bfs_tree_children(l->cat, dir, &v, &n, &l->err);
	if (rc < 0)
		return rc;
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_name);
	for (i = 0; l->lng && i < n; i++)
		measure(l, w, &v[i]);
	for (i = 0; i < n; i++) {
		const char *name = v[i].e.path ? v[i].e.path : "";

		if (!l->recursive) {
			print_entry(l, w, &v[i], name, v[i].e.path_len);
			continue;
		}
		rc = path_push(&l->path, name, v[i].e.path_len);
		if (rc < 0) {
			rc = bfs_err_set(&l->err, rc, "out of memory");
			goto out_free;
		}
		print_entry(l, w, &v[i], (const char *)l->path.data,
			    l->path.len);
		if (v[i].e.type == BFS_T_DIR) {
			rc = list_dir(l, v[i].id, w);
			if (rc < 0)
				goto out_free;
		}
		l->path.len = base;
	}
out_free:
	bfs_tree_children_free(v, n);
	return rc;
}

/* PATH is not in the backup: a dump's NAME.d/ view or a file of it? */
static int ls_view(struct cli_ctx *ctx, struct ls *l)
{
	struct widths w = {1, 1, 1, 1};
	const char *path = ctx->path, *name = ctx->info.name;
	struct bfs_cat_entry dump, fe;
	struct bfs_dumpview v;
	size_t i, n;
	int rc;

	memset(&dump, 0, sizeof(dump));
	rc = bfs_dumpview_resolve(ctx->repo, ctx->cat, ctx->info.root, path, &v,
				  &l->err);
	if (rc == -ENOENT) {
		cli_error("ls", "no '%s' in backup '%s'", path, name);
		return EXIT_ERR;
	}
	if (!rc)
		rc = bfs_catalog_get(ctx->cat, v.dump_id, &dump, &l->err);
	if (rc < 0) {
		cli_error("ls", "'%s' of backup '%s': %s", path, name,
			  bfs_err_str(&l->err, rc));
		bfs_dumpview_clear(&v);
		return EXIT_ERR;
	}
	n = v.file < 0 ? bfs_dumpmap_nfiles(v.map) : 1;
	for (i = 0; l->lng && i < n; i++) {
		bfs_dumpview_attr(&dump, v.map,
				  v.file < 0 ? (ssize_t)i : v.file, &fe);
		measure(l, &w, &fe);
	}
	for (i = 0; i < n; i++) {
		bfs_dumpview_attr(&dump, v.map,
				  v.file < 0 ? (ssize_t)i : v.file, &fe);
		if (v.file < 0)
			print_entry(l, &w, &fe, fe.e.path, fe.e.path_len);
		else
			print_entry(l, &w, &fe, path, strlen(path));
	}
	bfs_cat_entry_clear(&dump);
	bfs_dumpview_clear(&v);
	return EXIT_OK;
}

static int run_ls(struct cli_ctx *ctx)
{
	const struct ls_args *a = ctx->args;
	struct ls l = {.lng = a->lng, .recursive = a->recursive};
	struct widths w = {1, 1, 1, 1};
	const struct bfs_backup_info *info = &ctx->info;
	struct bfs_cat_entry ce;
	struct bfs_catalog *cat = ctx->cat;
	const char *path = ctx->path;
	int rc;

	memset(&ce, 0, sizeof(ce));
	l.cat = cat;
	rc = bfs_catalog_lookup_path(cat, info->root, path, &ce, &l.err);
	if (rc == -ENOENT || rc == -ENOTDIR) {
		return ls_view(ctx, &l);
	} else if (rc < 0) {
		cli_error("ls", "%s", bfs_err_str(&l.err, rc));
		return EXIT_ERR;
	}
	l.cat = cat;
	if (ce.e.type == BFS_T_DIR) {
		rc = list_dir(&l, ce.id, &w);
	} else {
		if (l.lng)
			measure(&l, &w, &ce);
		print_entry(&l, &w, &ce, path, strlen(path));
		rc = 0;
	}
	if (rc < 0) {
		cli_error("ls", "%s", bfs_err_str(&l.err, rc));
		rc = EXIT_ERR;
	} else {
		rc = EXIT_OK;
	}
	bfs_cat_entry_clear(&ce);
	bfs_buf_free(&l.path);
	return rc;
}

static const struct cli_opt ls_opts[] = {
    CLI_FLAG('l', "long", struct ls_args, lng,
	     "long format: mode, links, owner, group (names as recorded, "
	     "else numbers), size, mtime (UTC), name, '-> target' for "
	     "symlinks"),
    CLI_FLAG('R', "recursive", struct ls_args, recursive,
	     "the whole subtree, one path per line, relative to PATH"),
    CLI_OPT_NO_SYNC, CLI_END};

const struct bfs_cmd cmd_ls = {
    .name = "ls",
    .run = run_ls,
    .summary = "list files in a backup",
    .synopsis = "backupfs ls [-r REPO] [-l] [-R] [OPTIONS] ID[:PATH]",
    .description =
	"List the directory PATH (default: the top) of backup ID ('latest' "
	"for\n"
	"the newest), one name per line, sorted by name (bytewise).  A PATH "
	"naming a\n"
	"file lists that file.  Names, owners and link targets come from the\n"
	"repository: control characters, C1 controls, bidi overrides and\n"
	"invalid UTF-8 in them are shown escaped, as ls -b does (\\e, \\n,\n"
	"\\x9b, \\u009b); valid UTF-8 is kept.  Answers from the local "
	"catalog:\n"
	"no data is read from the repository.\n"
	"\n"
	"A dump stored with a map (a pg_dump or mysqldump) has a view\n"
	"DUMP.d/ next to it, not listed with its directory: 'ls ID:DUMP.d'\n"
	"lists _before.sql, SCHEMA.TABLE.sql ... and _after.sql (this reads\n"
	"the dump's map from the repository).",
    .opts = ls_opts,
    .examples = "  backupfs ls latest\n"
		"  backupfs ls -l 2026-11-20_05-15-00:files/uploads\n"
		"  backupfs ls -R latest:files | grep invoice\n"
		"  backupfs ls -l latest:database.sql.d",
    .exit_codes = "0 ok, 1 error (no such backup or path), 2 usage error.",
    .flags = CLI_OPEN | CLI_SYNC | CLI_REF | CLI_FIND,
    .min_args = 1,
    .max_args = 1,
    .missing = "missing ID[:PATH]",
    .args_size = sizeof(struct ls_args),
};
