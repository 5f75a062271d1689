/* test-restore.c - restore, cat and the tree walks (src/restore.h) on a
 * small repository written with the writer API: contents (small files
 * through the prefetcher, a multi-MiB file through the streaming reader),
 * a 2500-entry directory (several catalog pages), symlinks, hardlinks,
 * modes and mtimes, conflicts without --force, a sub-path restore, an
 * entry unreadable at backup time, and a missing pack (-EIO, the entry
 * reported, nothing partial left).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "index.h"
#include "restore.h"
#include "tap.h"
#include "testlib.h"
#include "writer.h"

#define NMANY 2500

static char tmp[256];
static struct bfs_repo *repo;
static struct bfs_catalog *cat;
static uint8_t *big;
static size_t big_n = (5u << 20) + 12345;

static int put_file(struct bfs_backup *b, const char *path, const void *d,
		    size_t n, struct bfs_err *err)
{
	struct bfs_entry e = tl_entry(path, BFS_T_FILE);
	int rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_FILES, err);

	if (!rc && n)
		rc = bfs_backup_file_write(b, d, n, err);
	return rc ? rc : bfs_backup_file_end(b, err);
}

static int write_backup(const char *id)
{
	struct bfs_index *idx = NULL;
	struct bfs_backup_opts o = {.id = id, .threads = 2};
	struct bfs_backup *b = NULL;
	struct bfs_err err = {{0}};
	struct bfs_entry e;
	char name[64], body[64];
	bool partial;
	int rc, i;

	rc = cat ? bfs_catalog_index_new(cat, repo, &idx) : 0;
	if (!rc)
		rc = bfs_backup_begin(repo, idx, &o, &b, &err);
	if (rc)
		goto out;
	rc = put_file(b, "big.bin", big, big_n, &err);
	for (i = 0; !rc && i < NMANY; i++) {
		snprintf(name, sizeof(name), "many/f%05d", i);
		snprintf(body, sizeof(body), "file %d\n", i);
		rc = put_file(b, name, body, strlen(body), &err);
	}
	if (!rc)
		rc = put_file(b, "dir/empty", "", 0, &err);
	if (!rc) {
		e = tl_entry("dir/link", BFS_T_SYMLINK);
		e.target = (char *)"../big.bin";
		e.target_len = strlen(e.target);
		rc = bfs_backup_add(b, &e, &err);
	}
	if (!rc) {
		e = tl_entry("dir/hard", BFS_T_FILE);
		e.link = (char *)"many/f00007";
		e.link_len = strlen(e.link);
		e.size = strlen("file 7\n");
		rc = bfs_backup_add(b, &e, &err);
	}
	if (!rc) {
		e = tl_entry("dir/exec", BFS_T_FILE);
		e.mode = 0751;
		rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_FILES, &err);
		if (!rc)
			rc = bfs_backup_file_write(b, "#!/bin/sh\n", 10, &err);
		if (!rc)
			rc = bfs_backup_file_end(b, &err);
	}
	if (!rc) {
		e = tl_entry("dir/unreadable", BFS_T_FILE);
		rc = bfs_backup_add_error(
		    b, &e, "cannot open: Permission denied", &err);
	}
	if (rc) {
		bfs_backup_abort(b);
		goto out;
	}
	rc = bfs_backup_commit(b, NULL, &partial, &err);
out:
	if (rc)
		diag("backup %s: %s", id, err.msg);
	bfs_index_free(idx);
	return rc;
}

static int64_t root_of(const char *id)
{
	struct bfs_backup_info bi;
	int64_t root = -1;

	memset(&bi, 0, sizeof(bi));
	if (bfs_catalog_find_backup(cat, id, &bi, NULL) == 0)
		root = bi.root;
	bfs_backup_info_clear(&bi);
	return root;
}

static uint8_t *slurp(const char *path, size_t *n)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !(p = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return NULL;
	}
	*n = (size_t)st.st_size;
	if (bfs_read_full(fd, p, *n) < 0) {
		free(p);
		p = NULL;
	}
	close(fd);
	return p;
}

struct warns {
	unsigned n;
	char last[512];
};

static void warn_cb(void *arg, const char *path, const char *msg)
{
	struct warns *w = arg;

	w->n++;
	snprintf(w->last, sizeof(w->last), "%s: %s", path, msg);
}

static void test_restore_all(int64_t root)
{
	struct warns w = {0, ""};
	struct bfs_restore_opts o = {.warn = warn_cb, .arg = &w};
	struct bfs_restore_stats st;
	struct bfs_err err = {{0}};
	char target[400], p[500], lt[64];
	struct stat s1, s2;
	uint8_t *got;
	size_t n;
	bool all = true;
	int rc, i;

	snprintf(target, sizeof(target), "%s/out", tmp);
	rc = bfs_restore(repo, cat, root, "", target, &o, &st, &err);
	is_int(rc, 0, "restore the whole backup (%s)", err.msg);
	is_int(st.files, NMANY + 3, "  files counted");
	is_int(st.skipped, 1, "  the unreadable entry is skipped");
	ok(w.n == 1 && strstr(w.last, "unreadable") != NULL,
	   "  and reported (%s)", w.last);
	snprintf(p, sizeof(p), "%s/big.bin", target);
	got = slurp(p, &n);
	ok(got && n == big_n && !memcmp(got, big, n),
	   "big.bin (several runs, streamed ahead) restored");
	free(got);
	for (i = 0; i < NMANY; i++) {
		char want[64];

		snprintf(p, sizeof(p), "%s/many/f%05d", target, i);
		snprintf(want, sizeof(want), "file %d\n", i);
		got = slurp(p, &n);
		if (!got || n != strlen(want) || memcmp(got, want, n))
			all = false;
		free(got);
		if (!all) {
			diag("bad %s", p);
			break;
		}
	}
	ok(all, "%d small files (prefetched, several pages) restored", NMANY);
	snprintf(p, sizeof(p), "%s/dir/link", target);
	is_int(readlink(p, lt, sizeof(lt)), strlen("../big.bin"), "symlink");
	snprintf(p, sizeof(p), "%s/dir/hard", target);
	stat(p, &s1);
	snprintf(p, sizeof(p), "%s/many/f00007", target);
	stat(p, &s2);
	ok(s1.st_ino == s2.st_ino && s1.st_nlink == 2,
	   "hardlink restored as a link");
	snprintf(p, sizeof(p), "%s/dir/exec", target);
	stat(p, &s1);
	is_int(s1.st_mode & 07777, 0751, "mode");
	is_int(s1.st_mtim.tv_nsec, 123456789, "mtime to the ns");

	/* Again without force: every file conflicts, nothing is written. */
	rc = bfs_restore(repo, cat, root, "", target, &o, &st, &err);
	is_int(rc, -EEXIST, "restoring again without force: -EEXIST");
	ok(strstr(err.msg, "already exists") != NULL, "  says so (%s)",
	   err.msg);
	o.force = true;
	rc = bfs_restore(repo, cat, root, "", target, &o, &st, &err);
	is_int(rc, 0, "with force: replaced (%s)", err.msg);
}

static void test_sub_path(int64_t root)
{
	struct bfs_err err = {{0}};
	struct bfs_restore_stats st;
	char target[400], p[500];
	uint8_t *got;
	size_t n;
	int rc;

	snprintf(target, sizeof(target), "%s/sub", tmp);
	rc = bfs_restore(repo, cat, root, "many/f00042", target, NULL, &st,
			 &err);
	is_int(rc, 0, "restore one file by path (%s)", err.msg);
	snprintf(p, sizeof(p), "%s/many/f00042", target);
	got = slurp(p, &n);
	ok(got && n == 8 && !memcmp(got, "file 42\n", 8), "  in its parents");
	free(got);
	rc = bfs_restore(repo, cat, root, "no/such", target, NULL, &st, &err);
	is_int(rc, -ENOENT, "a path not in the backup: -ENOENT");
}

static int count_cb(void *arg, const char *path, size_t len,
		    const struct bfs_cat_entry *e)
{
	(void)path;
	(void)len;
	(void)e;
	(*(unsigned *)arg)++;
	return 0;
}

static void test_walk_cat(int64_t root)
{
	struct bfs_err err = {{0}};
	struct bfs_cat_entry ce, *v = NULL;
	unsigned count = 0;
	size_t n = 0;
	char path[400];
	uint8_t *got;
	size_t gn;
	int rc, fd;

	rc = bfs_tree_walk(cat, root, count_cb, &count, &err);
	is_int(rc, 0, "walk the backup");
	is_int(count, NMANY + 8, "  every entry once");
	memset(&ce, 0, sizeof(ce));
	bfs_catalog_lookup_path(cat, root, "many", &ce, NULL);
	rc = bfs_tree_children(cat, ce.id, &v, &n, &err);
	ok(rc == 0 && n == NMANY, "children of a %d-entry directory", NMANY);
	bfs_tree_children_free(v, n);
	bfs_cat_entry_clear(&ce);

	snprintf(path, sizeof(path), "%s/cat.out", tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	memset(&ce, 0, sizeof(ce));
	bfs_catalog_lookup_path(cat, root, "big.bin", &ce, NULL);
	rc = bfs_restore_cat_fd(repo, cat, ce.id, fd, &err);
	close(fd);
	is_int(rc, 0, "cat big.bin (%s)", err.msg);
	got = slurp(path, &gn);
	ok(got && gn == big_n && !memcmp(got, big, gn), "  bytes match");
	free(got);
	bfs_cat_entry_clear(&ce);
	memset(&ce, 0, sizeof(ce));
	bfs_catalog_lookup_path(cat, root, "dir", &ce, NULL);
	is_int(bfs_restore_cat_fd(repo, cat, ce.id, 1, &err), -EISDIR,
	       "cat of a directory: -EISDIR");
	bfs_cat_entry_clear(&ce);
	memset(&ce, 0, sizeof(ce));
	bfs_catalog_lookup_path(cat, root, "dir/unreadable", &ce, NULL);
	is_int(bfs_restore_cat_fd(repo, cat, ce.id, 1, &err), -ENODATA,
	       "cat of an entry unreadable at backup time: -ENODATA");
	bfs_cat_entry_clear(&ce);
}

static int del_packs_cb(void *arg, const char *key, uint64_t size)
{
	(void)size;
	bfs_store_del(arg, key, NULL);
	return 0;
}

static void test_missing_packs(int64_t root)
{
	struct warns w = {0, ""};
	struct bfs_restore_opts o = {.warn = warn_cb, .arg = &w};
	struct bfs_restore_stats st;
	struct bfs_err err = {{0}};
	char target[400], p[500];
	struct stat s;
	int rc;

	bfs_store_list(repo->store, "packs/", del_packs_cb, repo->store, NULL);
	snprintf(target, sizeof(target), "%s/broken", tmp);
	rc = bfs_restore(repo, cat, root, "big.bin", target, &o, &st, &err);
	is_int(rc, -EIO, "restore with its pack gone: -EIO");
	is_int(st.failed, 1, "  one entry failed");
	is_str(err.msg, "1 entry could not be restored",
	       "  said in the singular");
	ok(w.n == 1 && strstr(w.last, "packs/") != NULL,
	   "  reported with the pack (%s)", w.last);
	snprintf(p, sizeof(p), "%s/big.bin", target);
	ok(stat(p, &s) < 0, "  nothing left under its name");
}

int main(void)
{
	struct bfs_err err = {{0}};
	char path[600];
	int64_t root;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s/bfs-restore-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	snprintf(path, sizeof(path), "%s/repo", tmp);
	rc = bfs_repo_init(path, NULL, &repo, &err);
	if (!rc) {
		snprintf(path, sizeof(path), "%s/catalog.db", tmp);
		rc = bfs_catalog_open(path, repo->id, false, &cat, &err);
	}
	big = malloc(big_n);
	if (!rc && big) {
		tl_fill(big, big_n, 3);
		repo->pack_target = 1u << 20; /* several packs */
		rc = write_backup("b1");
	}
	ok(rc == 0, "a backup to restore (%s)", err.msg);
	root = root_of("b1");
	if (rc == 0 && root > 0) {
		test_restore_all(root);
		test_sub_path(root);
		test_walk_cat(root);
		test_missing_packs(root);
	}
	bfs_catalog_close(cat);
	bfs_repo_close(repo);
	free(big);
	if (!getenv("BFS_KEEP_TMP")) {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s'; rm -rf '%s'",
			 tmp, tmp);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmp);
	}
	return tap_done();
}
