/* test-catalog-iter.c - the paged walk over a directory's children
 * (catalog/catalog_iter.c): every child once, in id order, across page
 * boundaries; a nested walk on the same connection between two calls; a
 * start offset (readdir); whole pages; an empty directory; fini mid-way.
 * The catalog is filled by a real backup through the catalog's index. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/catalog_iter.h"
#include "index.h"
#include "tap.h"
#include "testlib.h"
#include "writer.h"

#define NFILES 2500
#define NSUB 3

static struct bfs_repo *repo;
static struct bfs_catalog *cat;

static int add_file(struct bfs_backup *b, const char *path, struct bfs_err *err)
{
	struct bfs_entry e = tl_entry(path, BFS_T_FILE);
	int rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_FILES, err);

	if (!rc)
		rc = bfs_backup_file_write(b, path, strlen(path), err);
	return rc ? rc : bfs_backup_file_end(b, err);
}

/* d/ with NFILES files and d/sub/ (NSUB files), and an empty e/. */
static int write_backup(void)
{
	struct bfs_backup_opts o = {.id = "b1", .threads = 2};
	struct bfs_backup *b = NULL;
	struct bfs_index *idx = NULL;
	struct bfs_err err = {{0}};
	struct bfs_entry e;
	char name[64];
	bool partial;
	int rc, i;

	rc = bfs_catalog_index_new(cat, repo, &idx);
	if (!rc)
		rc = bfs_backup_begin(repo, idx, &o, &b, &err);
	for (i = 0; !rc && i < NFILES; i++) {
		snprintf(name, sizeof(name), "d/f%05d", i);
		rc = add_file(b, name, &err);
	}
	for (i = 0; !rc && i < NSUB; i++) {
		snprintf(name, sizeof(name), "d/sub/s%d", i);
		rc = add_file(b, name, &err);
	}
	if (!rc) {
		e = tl_entry("e", BFS_T_DIR);
		rc = bfs_backup_add(b, &e, &err);
	}
	if (!rc)
		rc = bfs_backup_commit(b, NULL, &partial, &err);
	else
		bfs_backup_abort(b);
	if (rc)
		diag("backup: %s", err.msg);
	bfs_index_free(idx);
	return rc;
}

static int64_t id_of(int64_t root, const char *path)
{
	struct bfs_cat_entry e;
	int64_t id = -1;

	memset(&e, 0, sizeof(e));
	if (bfs_catalog_lookup_path(cat, root, path, &e, NULL) == 0)
		id = e.id;
	bfs_cat_entry_clear(&e);
	return id;
}

/* Walk dir with page_size from after; count children, check ids rise and
 * (when nested) walk "sub" on the same connection in the middle. */
static int walk(int64_t dir, int64_t after, unsigned page_size, bool nested,
		int64_t *ids, size_t *nsub_seen)
{
	struct bfs_catalog_iter it;
	const struct bfs_cat_entry *e;
	struct bfs_err err = {{0}};
	int64_t last = after;
	int n = 0, rc;

	bfs_catalog_iter_init(&it, cat, dir, after, page_size);
	while ((rc = bfs_catalog_iter_next(&it, &e, &err)) == 1) {
		if (e->id <= last || e->parent != dir) {
			diag("id %lld after %lld (parent %lld)",
			     (long long)e->id, (long long)last,
			     (long long)e->parent);
			n = -1000000;
		}
		last = e->id;
		if (ids)
			ids[n > 0 ? n : 0] = e->id;
		if (nested && e->e.path && strcmp(e->e.path, "sub") == 0) {
			struct bfs_catalog_iter in;
			const struct bfs_cat_entry *c;
			size_t k = 0;

			bfs_catalog_iter_init(&in, cat, e->id, 0, 2);
			while (bfs_catalog_iter_next(&in, &c, &err) == 1)
				k++;
			bfs_catalog_iter_fini(&in);
			*nsub_seen = k;
		}
		n++;
	}
	bfs_catalog_iter_fini(&it);
	if (rc < 0) {
		diag("iter: %s", err.msg);
		return rc;
	}
	return n;
}

int main(void)
{
	const char *tmp = tl_tmpdir("bfs-iter");
	struct bfs_err err = {{0}};
	struct bfs_backup_info bi;
	int64_t *ids = calloc(NFILES + 1, sizeof(*ids));
	int64_t root = -1, d, e, sub;
	size_t nsub = 0;
	int rc, n;

	rc = tl_make_repo(tmp, "repo", &repo);
	if (!rc)
		rc = bfs_catalog_open(tl_path(tmp, "catalog.db"), repo->id,
				      false, &cat, &err);
	if (!rc)
		rc = write_backup();
	ok(rc == 0, "a backup with %d children in one directory (%s)",
	   NFILES + 1, err.msg);
	memset(&bi, 0, sizeof(bi));
	if (!rc && bfs_catalog_find_backup(cat, "b1", &bi, &err) == 0)
		root = bi.root;
	bfs_backup_info_clear(&bi);
	d = id_of(root, "d");
	e = id_of(root, "e");
	sub = id_of(root, "d/sub");
	ok(root > 0 && d > 0 && e > 0 && sub > 0, "the directories are there");
	/* ids are (backup << 40) | pre-order number (doc/FORMAT.md): d 1,
	 * its files 2..NFILES+1, d/sub after them, then its files, then e */
	is_int(root, (int64_t)1 << 40, "the root's id is 1 << 40");
	is_int(d, root | 1, "d has pre 1");
	is_int(sub, root | (NFILES + 2), "d/sub comes after d's %d files",
	       NFILES);
	is_int(e, root | (NFILES + NSUB + 3), "e comes after d's subtree");
	if (root <= 0 || d <= 0 || e <= 0 || sub <= 0 || !ids)
		goto out;

	n = walk(d, 0, 100, true, ids, &nsub);
	is_int(n, NFILES + 1, "pages of 100: every child once, ids rising");
	is_int(nsub, NSUB, "  a nested walk between two calls sees its %d",
	       NSUB);
	n = walk(d, 0, 0, false, NULL, NULL);
	is_int(n, NFILES + 1, "default page size: the same children");
	n = walk(d, 0, 1, false, NULL, NULL);
	is_int(n, NFILES + 1, "pages of 1: the same children");
	n = walk(d, ids[999], 64, false, NULL, NULL);
	is_int(n, NFILES + 1 - 1000, "from a readdir offset: the rest only");
	n = walk(d, ids[NFILES], 64, false, NULL, NULL);
	is_int(n, 0, "from the last id: nothing");
	n = walk(e, 0, 10, false, NULL, NULL);
	is_int(n, 0, "an empty directory: nothing");

	{
		struct bfs_catalog_iter it;
		const struct bfs_cat_entry *items;
		size_t cnt, total = 0, pages = 0, shorts = 0;
		const struct bfs_cat_entry *one;

		bfs_catalog_iter_init(&it, cat, d, 0, 1000);
		rc = bfs_catalog_iter_next(&it, &one, &err);
		ok(rc == 1, "a first entry by next");
		for (;;) {
			rc = bfs_catalog_iter_page(&it, &items, &cnt, &err);
			if (rc < 0 || cnt == 0)
				break;
			pages++;
			total += cnt;
			shorts += cnt < 1000;
		}
		is_int(rc, 0, "whole pages to the end");
		is_int(total, NFILES, "  the rest, not repeating the first");
		ok(pages >= 3 && shorts <= 2,
		   "  %zu pages, short ones only at the end", pages);
		bfs_catalog_iter_fini(&it);

		/* fini mid-way, then the same iterator again */
		bfs_catalog_iter_init(&it, cat, d, 0, 7);
		rc = bfs_catalog_iter_next(&it, &one, &err);
		bfs_catalog_iter_fini(&it);
		bfs_catalog_iter_init(&it, cat, sub, 0, 7);
		for (cnt = 0; bfs_catalog_iter_next(&it, &one, &err) == 1;)
			cnt++;
		bfs_catalog_iter_fini(&it);
		is_int(cnt, NSUB, "fini mid-way, then reused for another dir");
	}
out:
	free(ids);
	bfs_catalog_close(cat);
	bfs_repo_close(repo);
	return tap_done();
}
