/* show_tree.c - `backupfs show ID --tree [--depth N] [PATH]`: a backup's
 * tree with sizes, from the catalog (no data read).  Each directory line
 * has its total size and file count (what lies below it, like du -s),
 * each file its size; table directories of bases/ that the header's
 * "tables" figures describe (the NocoDB export or an import) get their
 * records and attachments.  Names are quoted for the terminal. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "src/restore.h"

/* One printed line, in walk (pre-)order. */
struct node {
	char *path; /* relative to the tree's top */
	unsigned depth;
	int type;
	uint64_t bytes, files;
};

struct tree {
	struct node *v;
	size_t n, cap;
	size_t *stack; /* the nodes of the open directories, outermost first */
	size_t sp, stack_cap;
	unsigned max_depth;	     /* 0: all */
	uint64_t bytes, files, dirs; /* of the whole tree */
	struct bfs_err *err;
};

static unsigned depth_of(const char *path, size_t len)
{
	unsigned d = 1;
	size_t i;

	for (i = 0; i < len; i++)
		d += path[i] == '/';
	return d;
}

static int on_entry(void *arg, const char *path, size_t len,
		    const struct bfs_cat_entry *e)
{
	struct tree *t = arg;
	unsigned d = depth_of(path, len);
	size_t i;
	bool file = e->e.type == BFS_T_FILE;
	/* a hardlink's bytes are counted once, at its group's first entry */
	uint64_t bytes = file && !e->link_id ? e->e.size : 0;
	struct node *nd;

	/* close the directories this entry is not below */
	while (t->sp && t->v[t->stack[t->sp - 1]].depth >= d)
		t->sp--;
	for (i = 0; i < t->sp; i++) {
		t->v[t->stack[i]].bytes += bytes;
		t->v[t->stack[i]].files += file;
	}
	t->bytes += bytes;
	t->files += file;
	t->dirs += e->e.type == BFS_T_DIR;
	/* below --depth: counted in the directories above, not shown */
	if (t->max_depth && d > t->max_depth)
		return 0;
	if (t->sp == t->stack_cap) {
		size_t cap = t->stack_cap ? 2 * t->stack_cap : 64, *st;

		st = realloc(t->stack, cap * sizeof(*st));
		if (!st)
			return bfs_err_set(t->err, -ENOMEM, "out of memory");
		t->stack = st;
		t->stack_cap = cap;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;

		nd = realloc(t->v, cap * sizeof(*nd));
		if (!nd)
			return bfs_err_set(t->err, -ENOMEM, "out of memory");
		t->v = nd;
		t->cap = cap;
	}
	nd = &t->v[t->n];
	memset(nd, 0, sizeof(*nd));
	nd->path = strndup(path, len);
	if (!nd->path)
		return bfs_err_set(t->err, -ENOMEM, "out of memory");
	nd->depth = d;
	nd->type = e->e.type;
	nd->bytes = bytes;
	nd->files = file;
	if (e->e.type == BFS_T_DIR)
		t->stack[t->sp++] = t->n;
	t->n++;
	return 0;
}

/* The "tables" figures of the header's sources, by path. */
static const cJSON *table_fig(const cJSON *hdr, const char *path)
{
	const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(hdr, "sources");
	const cJSON *s, *tb, *p;

	cJSON_ArrayForEach(s, srcs)
	{
		cJSON_ArrayForEach(
		    tb, cJSON_GetObjectItemCaseSensitive(s, "tables"))
		{
			p = cJSON_GetObjectItemCaseSensitive(tb, "path");
			if (cJSON_IsString(p) && !strcmp(p->valuestring, path))
				return tb;
		}
	}
	return NULL;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(n) && n->valuedouble >= 0 ? n->valuedouble : 0;
}

static void print_line(uint64_t bytes, uint64_t files, bool dir,
		       unsigned indent, const char *name, const cJSON *fig)
{
	char size[32], count[32] = "";

	bfs_fmt_bytes(size, sizeof(size), bytes);
	if (dir)
		snprintf(count, sizeof(count), "%llu",
			 (unsigned long long)files);
	printf("%10s %8s  %*s%s%s", size, count, (int)(2 * indent), "",
	       cli_q(name), dir ? "/" : "");
	if (fig)
		printf("  (%.0f records, %.0f attachments)",
		       num(fig, "records"), num(fig, "attachments"));
	putchar('\n');
}

int cli_show_tree(struct bfs_catalog *cat, const struct bfs_backup_info *b,
		  const char *path, unsigned max_depth)
{
	struct tree t = {.max_depth = max_depth};
	struct bfs_err err = {""};
	struct bfs_cat_entry ce;
	struct bfs_buf full = {0};
	cJSON *hdr = NULL;
	const char *name;
	size_t i;
	int rc;

	t.err = &err;
	memset(&ce, 0, sizeof(ce));
	rc = bfs_catalog_lookup_path(cat, b->root, path, &ce, &err);
	if (rc == -ENOENT || rc == -ENOTDIR) {
		cli_error("show", "no '%s' in backup '%s'", path, b->name);
		return EXIT_ERR;
	} else if (rc < 0) {
		cli_error("show", "%s", bfs_err_str(&err, rc));
		return EXIT_ERR;
	}
	if (ce.e.type != BFS_T_DIR) {
		print_line(ce.e.size, 0, false, 0, path, NULL);
		bfs_cat_entry_clear(&ce);
		return EXIT_OK;
	}
	rc = bfs_tree_walk(cat, ce.id, on_entry, &t, &err);
	bfs_cat_entry_clear(&ce);
	if (rc) {
		cli_error("show", "%s", bfs_err_str(&err, rc < 0 ? rc : -EIO));
		rc = EXIT_ERR;
		goto out;
	}
	if (b->header_json)
		hdr = cJSON_Parse(b->header_json);
	printf("%10s %8s  %s\n", "SIZE", "FILES", "PATH");
	print_line(t.bytes, t.files, true, 0, *path ? path : ".", NULL);
	for (i = 0; i < t.n; i++) {
		const struct node *nd = &t.v[i];
		const cJSON *fig = NULL;

		name = strrchr(nd->path, '/');
		name = name ? name + 1 : nd->path;
		if (nd->type == BFS_T_DIR && hdr) {
			full.len = 0;
			if (!bfs_buf_printf(&full, "%s%s%s", path,
					    *path ? "/" : "", nd->path) &&
			    !bfs_buf_append(&full, "", 1))
				fig = table_fig(hdr, (const char *)full.data);
		}
		print_line(nd->bytes, nd->files, nd->type == BFS_T_DIR,
			   nd->depth, name, fig);
	}
	printf("%llu files, %llu directories\n", (unsigned long long)t.files,
	       (unsigned long long)t.dirs);
	rc = EXIT_OK;
out:
	for (i = 0; i < t.n; i++)
		free(t.v[i].path);
	free(t.v);
	free(t.stack);
	bfs_buf_free(&full);
	cJSON_Delete(hdr);
	return rc;
}
