/* test-writer.c - the backup writer and the --files / --command sources
 * against a real local repository and catalog in a temp directory.
 *
 * Every file written is read back through the catalog's chunk list and
 * bfs_repo_read_chunk and compared byte for byte.
 *
 * Bench mode (not run by `make check`):
 *   BFS_WRITER_BENCH=10G tests/unit/test-writer
 * streams that many generated, incompressible, non-repeating bytes into one
 * file and prints throughput; run under /usr/bin/time -v for peak RSS.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "index.h"
#include "lock.h"
#include "source.h"
#include "tap.h"
#include "testlib.h"
#include "writer.h"

static char tmp[256];
static struct bfs_repo *repo;
static struct bfs_catalog *cat;
static struct bfs_index *idx; /* the catalog's, for the writer */

/* Read a file of backup `id` back via the catalog.  Returns malloc'ed
 * bytes (len in *n) or NULL. */
static uint8_t *read_back(const char *id, const char *path, size_t *n)
{
	struct bfs_backup_info bi;
	struct bfs_cat_entry ce;
	struct bfs_chunkref *ch = NULL;
	struct bfs_err err = {{0}};
	size_t nch = 0, i, off = 0;
	uint8_t *out = NULL;
	int rc;

	memset(&bi, 0, sizeof(bi));
	memset(&ce, 0, sizeof(ce));
	if (bfs_catalog_find_backup(cat, id, &bi, &err))
		goto fail;
	if (bfs_catalog_lookup_path(cat, bi.root, path, &ce, &err))
		goto fail;
	if (bfs_catalog_chunks(cat, ce.id, &ch, &nch, &err))
		goto fail;
	for (i = 0; i < nch; i++)
		off += ch[i].len;
	out = malloc(off + 1);
	if (!out)
		goto fail;
	off = 0;
	for (i = 0; i < nch; i++) {
		rc = bfs_repo_read_chunk(repo, &ch[i], out + off, &err);
		if (rc) {
			diag("read_chunk: %s", bfs_err_str(&err, rc));
			free(out);
			out = NULL;
			goto fail;
		}
		off += ch[i].len;
	}
	*n = off;
	free(ch);
	bfs_cat_entry_clear(&ce);
	bfs_backup_info_clear(&bi);
	return out;
fail:
	diag("read_back %s:%s: %s", id, path, err.msg);
	free(ch);
	bfs_cat_entry_clear(&ce);
	bfs_backup_info_clear(&bi);
	return NULL;
}

static int get_entry(const char *id, const char *path, struct bfs_cat_entry *ce)
{
	struct bfs_backup_info bi;
	int rc;

	memset(&bi, 0, sizeof(bi));
	memset(ce, 0, sizeof(*ce));
	rc = bfs_catalog_find_backup(cat, id, &bi, NULL);
	if (!rc)
		rc = bfs_catalog_lookup_path(cat, bi.root, path, ce, NULL);
	bfs_backup_info_clear(&bi);
	return rc;
}

static int count_cb(void *arg, const char *key, uint64_t size)
{
	(*(unsigned *)arg)++;
	return 0;
}

static unsigned count_packs(void)
{
	unsigned n = 0;

	bfs_store_list(repo->store, "packs/", count_cb, &n, NULL);
	return n;
}

static bool manifest_exists(const char *id)
{
	char key[BFS_KEY_MAX];
	uint64_t sz;

	bfs_repo_manifest_key(key, id);
	return bfs_store_stat(repo->store, key, &sz, NULL) == 0;
}

static int stream(struct bfs_backup *b, const char *path, const uint8_t *d,
		  size_t n, enum bfs_profile prof, struct bfs_err *err)
{
	static const size_t sizes[] = {1, 7, 4093, 65537, 3, 1 << 20, 999};
	struct bfs_entry e = tl_entry(path, BFS_T_FILE);
	size_t off = 0, k = 0, m;
	int rc = bfs_backup_file_begin(b, &e, prof, err);

	while (!rc && off < n) {
		m = sizes[k++ %
			  BFS_ARRAY_SIZE(sizes)]; /* BFS_MIN evaluates twice */
		m = BFS_MIN(m, n - off);
		rc = bfs_backup_file_write(b, d + off, m, err);
		off += m;
	}
	return rc ? rc : bfs_backup_file_end(b, err);
}

struct prog {
	uint64_t reused, calls, files;
};

static void prog_cb(void *arg, const struct bfs_progress *p)
{
	struct prog *pr = arg;

	pr->reused = p->reused_files;
	pr->files = p->files;
	pr->calls++;
}

static struct bfs_backup *begin(const char *id, struct prog *pr)
{
	struct bfs_backup_opts o = {.id = id,
				    .threads = 3,
				    .progress = pr ? prog_cb : NULL,
				    .progress_arg = pr};
	struct bfs_backup *b = NULL;
	struct bfs_err err = {{0}};
	int rc = bfs_backup_begin(repo, idx, &o, &b, &err);

	if (rc)
		diag("begin %s: %s", id, err.msg);
	return b;
}

static void test_stream(void)
{
	size_t n = 3u << 20, m;
	uint8_t *d = malloc(n), *r;
	struct bfs_backup *b;
	struct bfs_backup_stats st;
	struct bfs_err err = {{0}};
	struct bfs_entry e;
	struct bfs_cat_entry ce;
	const char *tags[] = {"daily", "t 2", NULL};
	struct bfs_backup_opts o = {.id = "b1", .tags = tags, .threads = 3};
	bool partial = true;
	unsigned packs;
	int rc;

	tl_fill(d, n, 1);
	rc = bfs_backup_begin(repo, idx, &o, &b, &err);
	is_int(rc, 0, "begin b1 (%s)", err.msg);
	if (rc)
		return;
	is_str(bfs_backup_id(b), "b1", "id as given");
	rc = stream(b, "data/big.bin", d, n, BFS_PROFILE_FILES, &err);
	is_int(rc, 0, "stream big.bin (%s)", err.msg);
	rc = stream(b, "data/copy/dup.bin", d, n, BFS_PROFILE_FILES, &err);
	is_int(rc, 0, "stream identical dup.bin (%s)", err.msg);
	rc = stream(b, "dump.sql", d + 1000, n - 5000, BFS_PROFILE_DUMP, &err);
	is_int(rc, 0, "stream dump profile (%s)", err.msg);
	rc = stream(b, "empty", d, 0, BFS_PROFILE_FILES, &err);
	is_int(rc, 0, "empty file");
	e = tl_entry("data/sub/link", BFS_T_SYMLINK);
	e.target = (char *)"../big.bin";
	e.target_len = strlen(e.target);
	rc = bfs_backup_add(b, &e, &err);
	is_int(rc, 0, "symlink (%s)", err.msg);
	e = tl_entry("data", BFS_T_DIR);
	rc = bfs_backup_add(b, &e, &err);
	is_int(rc, 0, "explicit dir after implicit one");
	e = tl_entry("data/big.bin", BFS_T_FIFO);
	rc = bfs_backup_add(b, &e, &err);
	is_int(rc, -EEXIST, "duplicate path refused");
	ok(strstr(err.msg, "duplicate path 'data/big.bin'") != NULL, "msg: %s",
	   err.msg);
	e = tl_entry("empty/x", BFS_T_FIFO);
	rc = bfs_backup_add(b, &e, &err);
	is_int(rc, -ENOTDIR, "child of a file refused");
	e = tl_entry("data/hard", BFS_T_FILE);
	e.link = (char *)"data/big.bin";
	e.link_len = strlen(e.link);
	e.size = n;
	rc = bfs_backup_add(b, &e, &err);
	is_int(rc, 0, "hardlink to a written file (%s)", err.msg);
	e.path = (char *)"data/hard2";
	e.path_len = strlen(e.path);
	e.link = (char *)"data/nothing";
	e.link_len = strlen(e.link);
	rc = bfs_backup_add(b, &e, &err);
	is_int(rc, -EINVAL, "hardlink to an unknown path refused");
	e = tl_entry("bad", BFS_T_FILE);
	rc =
	    bfs_backup_add_error(b, &e, "cannot open: Permission denied", &err);
	is_int(rc, 0, "add_error");
	rc = bfs_backup_commit(b, &st, &partial, &err);
	is_int(rc, 0, "commit b1 (%s)", err.msg);
	ok(partial, "partial because of the error entry");
	is_int(st.errors, 1, "one error");
	is_int(st.new_bytes >= n && st.new_bytes <= n + (n - 5000), 1,
	       "dup.bin stored once (new_bytes %llu)",
	       (unsigned long long)st.new_bytes);
	ok(st.stored_bytes > 0, "stored bytes counted");
	ok(manifest_exists("b1"), "manifest written");

	r = read_back("b1", "data/big.bin", &m);
	ok(r && m == n && !memcmp(r, d, n), "big.bin reads back");
	free(r);
	r = read_back("b1", "data/copy/dup.bin", &m);
	ok(r && m == n && !memcmp(r, d, n), "dup.bin reads back");
	free(r);
	r = read_back("b1", "dump.sql", &m);
	ok(r && m == n - 5000 && !memcmp(r, d + 1000, m),
	   "dump.sql reads back");
	free(r);
	r = read_back("b1", "empty", &m);
	ok(r && m == 0, "empty file reads back empty");
	free(r);
	r = read_back("b1", "data/hard", &m);
	ok(r && m == n && !memcmp(r, d, n), "hardlink reads the shared data");
	free(r);
	if (!get_entry("b1", "data/sub", &ce)) {
		ok(ce.e.type == BFS_T_DIR && ce.e.mode == 0755,
		   "implicit dir data/sub is 0755");
		ok(ce.e.mtime_ns > 1700000000123456789LL,
		   "implicit dir mtime = backup time");
	} else {
		ok(0, "implicit dir data/sub exists");
	}
	bfs_cat_entry_clear(&ce);
	if (!get_entry("b1", "data", &ce))
		is_int(ce.e.mode, 0750,
		       "re-added dir takes the explicit metadata");
	else
		ok(0, "data exists");
	bfs_cat_entry_clear(&ce);
	if (!get_entry("b1", "data/sub/link", &ce))
		is_str(ce.e.target, "../big.bin", "symlink target");
	else
		ok(0, "symlink exists");
	bfs_cat_entry_clear(&ce);
	if (!get_entry("b1", "bad", &ce))
		ok(ce.e.error && strstr(ce.e.error, "Permission"),
		   "error entry");
	else
		ok(0, "error entry exists");
	bfs_cat_entry_clear(&ce);

	/* same data again: no new chunk; one small pack with the new root
	 * tree (b2's tree differs from b1's) */
	packs = count_packs();
	ok(packs >= 2, "several packs (%u) with a small pack target", packs);
	b = begin("b2", NULL);
	ok(b != NULL, "begin b2");
	if (b) {
		rc = stream(b, "again.bin", d, n, BFS_PROFILE_FILES, &err);
		is_int(rc, 0, "stream again (%s)", err.msg);
		rc = bfs_backup_commit(b, &st, &partial, &err);
		is_int(rc, 0, "commit b2 (%s)", err.msg);
		is_int(st.new_chunks, 0, "no new chunks");
		is_int(count_packs(), packs + 1,
		       "one new pack, for the new root tree only");
		ok(st.stored_bytes < 4096,
		   "and it is small (%llu bytes stored)",
		   (unsigned long long)st.stored_bytes);
		ok(!partial, "b2 not partial");
		r = read_back("b2", "again.bin", &m);
		ok(r && m == n && !memcmp(r, d, n),
		   "b2 reads back from b1's packs");
		free(r);
	}

	/* ids */
	o.id = "b1";
	rc = bfs_backup_begin(repo, idx, &o, &b, &err);
	is_int(rc, -EEXIST, "existing id refused");
	is_str(err.msg, "backup 'b1' already exists", "existing id message");
	o.id = "a/b";
	rc = bfs_backup_begin(repo, idx, &o, &b, &err);
	is_int(rc, -EINVAL, "invalid id refused");
	ok(strstr(err.msg, "invalid backup id 'a/b'") != NULL, "msg: %s",
	   err.msg);
	o.id = NULL;
	rc = bfs_backup_begin(repo, idx, &o, &b, &err);
	is_int(rc, 0, "default id");
	if (!rc) {
		const char *id = bfs_backup_id(b);

		ok(strlen(id) == 19 && id[4] == '-' && id[10] == '_' &&
		       id[13] == '-',
		   "default id looks like a UTC time: %s", id);
		bfs_backup_abort(b);
	}

	/* abort */
	b = begin("b3", NULL);
	if (b) {
		rc = stream(b, "x.bin", d + 7, n / 2, BFS_PROFILE_FILES, &err);
		is_int(rc, 0, "stream in b3");
		bfs_backup_abort(b);
		ok(!manifest_exists("b3"), "abort leaves no manifest");
		{
			struct bfs_backup_info bi;

			memset(&bi, 0, sizeof(bi));
			is_int(bfs_catalog_find_backup(cat, "b3", &bi, NULL),
			       -ENOENT, "abort leaves nothing in the catalog");
			bfs_backup_info_clear(&bi);
		}
	}

	/* cancel: the file vanishes, its path can be recorded as an error */
	b = begin("b4", NULL);
	if (b) {
		e = tl_entry("half.bin", BFS_T_FILE);
		rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_FILES, &err);
		rc |= bfs_backup_file_write(b, d, 100000, &err);
		bfs_backup_file_cancel(b);
		rc |= bfs_backup_add_error(b, &e, "read error: EIO", &err);
		rc |= stream(b, "whole.bin", d, 1000, BFS_PROFILE_FILES, &err);
		is_int(rc, 0, "cancel then add_error (%s)", err.msg);
		/* a cancel after many chunks were cut (spilled to the
		 * manifest when the build sets a small SPILL_CHUNKS) */
		e = tl_entry("many.sql", BFS_T_FILE);
		rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_DUMP, &err);
		rc |= bfs_backup_file_write(b, d, n, &err);
		bfs_backup_file_cancel(b);
		rc |= bfs_backup_add_error(b, &e, "read error: EIO", &err);
		rc |=
		    stream(b, "after.bin", d + 3, 5000, BFS_PROFILE_DUMP, &err);
		is_int(rc, 0, "cancel of a many-chunk file (%s)", err.msg);
		rc = bfs_backup_commit(b, &st, &partial, &err);
		is_int(rc, 0, "commit b4 (%s)", err.msg);
		if (!get_entry("b4", "half.bin", &ce))
			ok(ce.e.error && ce.nchunks == 0,
			   "cancelled file is an error entry without chunks");
		else
			ok(0, "half.bin exists");
		bfs_cat_entry_clear(&ce);
		if (!get_entry("b4", "many.sql", &ce))
			ok(ce.e.error != NULL || ce.nchunks > 0,
			   "many.sql is an error entry (or, spilled, a short "
			   "file)");
		else
			ok(0, "many.sql exists");
		bfs_cat_entry_clear(&ce);
		r = read_back("b4", "after.bin", &m);
		ok(r && m == 5000 && !memcmp(r, d + 3, m),
		   "file after a cancel reads back");
		if (r && m != 5000)
			diag("after.bin: %zu bytes", m);
		free(r);
	}
	free(d);
}

static void wfile(const char *path, const void *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, d, n) != (ssize_t)n)
		diag("cannot write %s", path);
	if (fd >= 0)
		close(fd);
}

static void test_files(void)
{
	char tree[512], p[600], p2[600], arg[600];
	const char *excl[] = {"*.log", "skip", NULL};
	struct bfs_source s = {
	    .kind = BFS_SRC_FILES, .arg = arg, .excludes = excl};
	struct bfs_err err = {{0}};
	struct bfs_backup_stats st;
	struct bfs_cat_entry ce;
	struct bfs_backup *b;
	struct prog pr = {0};
	size_t n = 300000, m, i;
	uint8_t *d = malloc(n), *r;
	bool partial;
	int rc;

	tl_fill(d, n, 7);
	snprintf(tree, sizeof(tree), "%s/tree", tmp);
	mkdir(tree, 0755);
	snprintf(p, sizeof(p), "%s/a.txt", tree);
	wfile(p, d, n);
	snprintf(p2, sizeof(p2), "%s/hard", tree);
	rc = link(p, p2);
	snprintf(p, sizeof(p), "%s/sym", tree);
	rc |= symlink("a.txt", p);
	snprintf(p, sizeof(p), "%s/dangling", tree);
	rc |= symlink("/nowhere/at/all", p);
	snprintf(p, sizeof(p), "%s/emptydir", tree);
	rc |= mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/n\xff\xfe\nme", tree);
	wfile(p, d + 5, 1234);
	snprintf(p, sizeof(p), "%s/x.log", tree);
	wfile(p, "log", 3);
	snprintf(p, sizeof(p), "%s/skip", tree);
	rc |= mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/skip/inner", tree);
	wfile(p, "in", 2);
	snprintf(p, sizeof(p), "%s/fifo", tree);
	rc |= mkfifo(p, 0600);
	snprintf(p, sizeof(p), "%s/empty.bin", tree);
	wfile(p, "", 0);
	snprintf(p, sizeof(p), "%s/suid", tree);
	wfile(p, "#!/bin/sh\n", 10);
	rc |= chmod(p, 04755);
	/* a deep tree */
	snprintf(p, sizeof(p), "%s", tree);
	if (chdir(tree) == 0) {
		for (i = 0; i < 520; i++) {
			if (mkdir("d", 0755) || chdir("d"))
				break;
		}
		wfile("bottom", "deep", 4);
		rc |= chdir(tmp);
	}
	ok(rc == 0, "test tree created");

	snprintf(arg, sizeof(arg), "t=%s", tree);
	b = begin("f1", NULL);
	if (!b)
		return;
	rc = bfs_source_run(b, &s, &err);
	is_int(rc, 0, "--files source (%s)", err.msg);
	rc = bfs_backup_commit(b, &st, &partial, &err);
	is_int(rc, 0, "commit f1 (%s)", err.msg);
	ok(!partial, "f1 complete");

	r = read_back("f1", "t/a.txt", &m);
	ok(r && m == n && !memcmp(r, d, n), "a.txt reads back");
	free(r);
	r = read_back("f1", "t/n\xff\xfe\nme", &m);
	ok(r && m == 1234 && !memcmp(r, d + 5, m), "non-UTF-8 name reads back");
	free(r);
	r = read_back("f1", "t/hard", &m);
	ok(r && m == n && !memcmp(r, d, n), "hardlink reads back");
	free(r);
	if (!get_entry("f1", "t/hard", &ce))
		ok(ce.link_id != 0 || ce.e.link, "hard is a hardlink entry");
	else
		ok(0, "t/hard exists");
	bfs_cat_entry_clear(&ce);
	if (!get_entry("f1", "t/sym", &ce))
		ok(ce.e.type == BFS_T_SYMLINK && !strcmp(ce.e.target, "a.txt"),
		   "symlink");
	else
		ok(0, "t/sym exists");
	bfs_cat_entry_clear(&ce);
	if (!get_entry("f1", "t/dangling", &ce))
		is_str(ce.e.target, "/nowhere/at/all", "dangling symlink");
	else
		ok(0, "t/dangling exists");
	bfs_cat_entry_clear(&ce);
	if (!get_entry("f1", "t/emptydir", &ce))
		ok(ce.e.type == BFS_T_DIR && ce.e.mode == 0700,
		   "empty dir 0700");
	else
		ok(0, "t/emptydir exists");
	bfs_cat_entry_clear(&ce);
	if (!get_entry("f1", "t/fifo", &ce))
		ok(ce.e.type == BFS_T_FIFO, "fifo");
	else
		ok(0, "t/fifo exists");
	bfs_cat_entry_clear(&ce);
	if (!get_entry("f1", "t/suid", &ce))
		is_int(ce.e.mode, 04755, "suid bit kept");
	else
		ok(0, "t/suid exists");
	bfs_cat_entry_clear(&ce);
	ok(get_entry("f1", "t/x.log", &ce) == -ENOENT, "*.log excluded");
	bfs_cat_entry_clear(&ce);
	ok(get_entry("f1", "t/skip", &ce) == -ENOENT, "excluded dir");
	bfs_cat_entry_clear(&ce);
	{
		struct bfs_buf dp = {0};

		bfs_buf_printf(&dp, "t");
		for (i = 0; i < 520; i++)
			bfs_buf_printf(&dp, "/d");
		bfs_buf_printf(&dp, "/bottom");
		bfs_buf_append(&dp, "", 1);
		r = read_back("f1", (char *)dp.data, &m);
		ok(r && m == 4 && !memcmp(r, "deep", 4), "depth 520 file");
		free(r);
		bfs_buf_free(&dp);
	}

	/* unchanged: nothing is read again */
	b = begin("f2", &pr);
	if (b) {
		rc = bfs_source_run(b, &s, &err);
		is_int(rc, 0, "--files again (%s)", err.msg);
		rc = bfs_backup_commit(b, &st, &partial, &err);
		is_int(rc, 0, "commit f2 (%s)", err.msg);
		/* a.txt, name, empty.bin, suid, bottom (hard is a link) */
		is_int(pr.reused, 5, "all regular files reused");
		is_int(st.new_chunks, 0, "no new chunks");
		r = read_back("f2", "t/a.txt", &m);
		ok(r && m == n && !memcmp(r, d, n), "reused file reads back");
		free(r);
	}

	/* unreadable entries are recorded, the backup is partial (root
	 * reads everything, so this part only runs unprivileged) */
	if (geteuid() != 0) {
		snprintf(p, sizeof(p), "%s/noread", tree);
		wfile(p, "secret", 6);
		rc = chmod(p, 0);
		snprintf(p, sizeof(p), "%s/nodir", tree);
		rc |= mkdir(p, 0);
		b = begin("f4", NULL);
		if (b && !rc) {
			rc = bfs_source_run(b, &s, &err);
			is_int(rc, 0, "unreadable entries do not fail (%s)",
			       err.msg);
			rc = bfs_backup_commit(b, &st, &partial, &err);
			is_int(rc, 0, "commit f4");
			ok(partial && st.errors == 2, "partial, 2 errors");
			ok(!get_entry("f4", "t/noread", &ce) && ce.e.error,
			   "noread recorded with its error");
			bfs_cat_entry_clear(&ce);
		} else {
			bfs_backup_abort(b);
		}
		snprintf(p, sizeof(p), "%s/nodir", tree);
		chmod(p, 0755);
	} else {
		diag("running as root: unreadable-file case not exercised");
	}

	/* a missing top level fails the source */
	snprintf(arg, sizeof(arg), "%s/does-not-exist", tmp);
	b = begin("f3", NULL);
	if (b) {
		rc = bfs_source_run(b, &s, &err);
		is_int(rc, -ENOENT, "missing PATH fails");
		ok(strstr(err.msg, "cannot read '") != NULL, "msg: %s",
		   err.msg);
		bfs_backup_abort(b);
	}
	free(d);
}

static void test_command(void)
{
	struct bfs_source s = {.kind = BFS_SRC_COMMAND};
	struct bfs_err err = {{0}};
	struct bfs_backup *b;
	uint8_t *r;
	size_t m;
	int rc;

	b = begin("c1", NULL);
	if (b) {
		s.arg = "out.txt=echo partial; exit 3";
		rc = bfs_source_run(b, &s, &err);
		is_int(rc, -EIO, "failing command fails the source");
		ok(strstr(
		       err.msg,
		       "command 'echo partial; exit 3' exited with status 3") !=
		       NULL,
		   "msg: %s", err.msg);
		bfs_backup_abort(b);
		ok(!manifest_exists("c1"),
		   "no manifest after a failed command");
	}
	b = begin("c2", NULL);
	if (b) {
		s.arg = "dumps/hello.txt=printf 'hello\\n'; printf world";
		rc = bfs_source_run(b, &s, &err);
		is_int(rc, 0, "command (%s)", err.msg);
		s.arg = "killed=kill -9 $$";
		rc = bfs_source_run(b, &s, &err);
		is_int(rc, -EIO, "killed command fails");
		ok(strstr(err.msg, "signal 9") != NULL, "msg: %s", err.msg);
		rc = bfs_backup_commit(b, NULL, NULL, &err);
		is_int(rc, 0, "commit c2 (%s)", err.msg);
		r = read_back("c2", "dumps/hello.txt", &m);
		ok(r && m == 11 && !memcmp(r, "hello\nworld", 11),
		   "command output stored");
		free(r);
	}
}

/* --archive over a tar.gz of the test tree, and a corrupt archive. */
static void test_archive(void)
{
	char cmd[1400], arg[600];
	struct bfs_source s = {.kind = BFS_SRC_ARCHIVE, .arg = arg};
	struct bfs_err err = {{0}};
	struct bfs_cat_entry ce;
	struct bfs_backup *b;
	size_t n = 300000, m;
	uint8_t *d = malloc(n), *r;
	int rc;

	tl_fill(d, n, 7); /* tree/a.txt as written by test_files */
	snprintf(cmd, sizeof(cmd),
		 "tar -C '%s/tree' --exclude=./d --exclude=./noread "
		 "--exclude=./nodir -czf '%s/t.tgz' . 2>/dev/null",
		 tmp, tmp);
	if (system(cmd) != 0) {
		diag("no tar: archive cases not exercised");
		free(d);
		return;
	}
	snprintf(arg, sizeof(arg), "arch=%s/t.tgz", tmp);
	b = begin("a1", NULL);
	if (!b)
		return;
	rc = bfs_source_run(b, &s, &err);
	is_int(rc, 0, "--archive source (%s)", err.msg);
	rc = bfs_backup_commit(b, NULL, NULL, &err);
	is_int(rc, 0, "commit a1 (%s)", err.msg);
	r = read_back("a1", "arch/a.txt", &m);
	ok(r && m == n && !memcmp(r, d, n), "archive member reads back");
	free(r);
	r = read_back("a1", "arch/hard", &m);
	ok(r && m == n && !memcmp(r, d, n), "archive hardlink reads back");
	free(r);
	if (!get_entry("a1", "arch/sym", &ce))
		is_str(ce.e.target, "a.txt", "archive symlink");
	else
		ok(0, "arch/sym exists");
	bfs_cat_entry_clear(&ce);
	if (!get_entry("a1", "arch/suid", &ce))
		is_int(ce.e.mode, 04755, "archive mode with suid");
	else
		ok(0, "arch/suid exists");
	bfs_cat_entry_clear(&ce);

	snprintf(cmd, sizeof(cmd), "%s/junk.tgz", tmp);
	{
		FILE *f = fopen(cmd, "w");

		if (f) {
			fwrite(d, 1, 5000, f);
			fclose(f);
		}
	}
	snprintf(arg, sizeof(arg), "%s/junk.tgz", tmp);
	b = begin("a2", NULL);
	if (b) {
		rc = bfs_source_run(b, &s, &err);
		is_int(rc, -EIO, "corrupt archive fails the source");
		ok(strstr(err.msg, "cannot read archive '") &&
		       strstr(err.msg, "junk.tgz"),
		   "msg: %s", err.msg);
		bfs_backup_abort(b);
	}
	free(d);
}

/* A failing pack upload fails the backup: no manifest. */
static void test_upload_fail(const char *path)
{
	struct bfs_repo *r2 = NULL;
	struct bfs_store *fs = NULL;
	struct bfs_backup_opts o = {.id = "u1", .threads = 2};
	struct bfs_backup *b = NULL;
	struct bfs_err err = {{0}};
	size_t n = 4u << 20;
	uint8_t *d = malloc(n);
	int rc;

	tl_fill(d, n, 99);
	rc = bfs_repo_open(path, NULL, &r2, &err);
	is_int(rc, 0, "second handle on the repo (%s)", err.msg);
	if (rc)
		goto out;
	rc = bfs_store_fault_wrap(r2->store, "put:key=packs/:err=ENOSPC", &fs,
				  &err);
	r2->store = fs; /* the wrapper owns the inner store now */
	is_int(rc, 0, "fault store (%s)", err.msg);
	if (rc) {
		r2->store = NULL;
		goto out;
	}
	r2->pack_target = 1u << 20;
	rc = bfs_backup_begin(r2, idx, &o, &b, &err);
	is_int(rc, 0, "begin u1");
	if (rc)
		goto out;
	rc = stream(b, "u.bin", d, n, BFS_PROFILE_FILES, &err);
	if (!rc)
		rc = bfs_backup_commit(b, NULL, NULL, &err);
	else
		bfs_backup_abort(b);
	is_int(rc, -ENOSPC, "failed upload fails the backup");
	ok(strstr(err.msg, "cannot upload pack 'packs/") != NULL, "msg: %s",
	   err.msg);
	ok(!manifest_exists("u1"), "no manifest after a failed upload");
out:
	bfs_repo_close(r2);
	free(d);
}

/* Several uploaders, many small packs: every file reads back, packs
 * land in the store, and a fault on the Nth pack put fails the backup
 * cleanly (no manifest, no hang); an abort joins the pool too. */
#define POOL_FILES 40
static void test_upload_pool(const char *path)
{
	struct bfs_backup_opts o = {.id = "pool-1", .threads = 3, .uploads = 5};
	struct bfs_repo *r2 = NULL;
	struct bfs_store *fs = NULL;
	struct bfs_backup *b = NULL;
	struct bfs_backup_stats st;
	struct bfs_err err = {{0}};
	uint64_t saved = repo->pack_target;
	size_t sizes[POOL_FILES], n = 0, got, i;
	unsigned before = count_packs(), bad = 0;
	char name[64];
	uint8_t *d, *back;
	int rc;

	for (i = 0; i < POOL_FILES; i++) {
		sizes[i] = (i * 37813) % 200000 + (i % 5 ? 1 : 0);
		n += sizes[i];
	}
	d = malloc(n + 1);
	tl_fill(d, n, 777);
	repo->pack_target = 64 << 10; /* a pack every chunk or two */
	rc = bfs_backup_begin(repo, idx, &o, &b, &err);
	is_int(rc, 0, "pool: begin (%s)", err.msg);
	for (i = 0, n = 0; !rc && i < POOL_FILES; n += sizes[i++]) {
		snprintf(name, sizeof(name), "pool/f%02zu", i);
		rc = stream(b, name, d + n, sizes[i], BFS_PROFILE_FILES, &err);
	}
	if (b && !rc)
		rc = bfs_backup_commit(b, &st, NULL, &err);
	else if (b)
		bfs_backup_abort(b);
	is_int(rc, 0, "pool: backup with 5 uploaders (%s)", err.msg);
	ok(manifest_exists("pool-1"), "pool: manifest written");
	ok(count_packs() >= before + 20, "pool: many packs (%u new)",
	   count_packs() - before);
	for (i = 0, n = 0; !rc && i < POOL_FILES; n += sizes[i++]) {
		snprintf(name, sizeof(name), "pool/f%02zu", i);
		back = read_back("pool-1", name, &got);
		if (!back || got != sizes[i] || memcmp(back, d + n, got)) {
			diag("pool: %s differs", name);
			bad++;
		}
		free(back);
	}
	ok(!rc && bad == 0, "pool: all %d files read back", POOL_FILES);

	/* the 7th, 14th, ... pack put fails (new bytes: nothing dedups) */
	tl_fill(d, n, 778);
	rc = bfs_repo_open(path, NULL, &r2, &err);
	is_int(rc, 0, "pool: second handle (%s)", err.msg);
	if (rc)
		goto out;
	rc = bfs_store_fault_wrap(r2->store, "put:key=packs/:every=7:err=EIO",
				  &fs, &err);
	r2->store = fs;
	is_int(rc, 0, "pool: fault store (%s)", err.msg);
	if (rc) {
		r2->store = NULL;
		goto out;
	}
	r2->pack_target = 64 << 10;
	o.id = "pool-2";
	o.uploads = 4;
	b = NULL;
	rc = bfs_backup_begin(r2, idx, &o, &b, &err);
	is_int(rc, 0, "pool: begin pool-2 (%s)", err.msg);
	if (rc)
		goto out;
	for (i = 0, n = 0; !rc && i < POOL_FILES; n += sizes[i++]) {
		snprintf(name, sizeof(name), "pool/f%02zu", i);
		rc = stream(b, name, d + n, sizes[i], BFS_PROFILE_FILES, &err);
	}
	if (!rc)
		rc = bfs_backup_commit(b, NULL, NULL, &err);
	else
		bfs_backup_abort(b);
	is_int(rc, -EIO, "pool: 7th pack put fails the backup");
	ok(strstr(err.msg, "cannot upload pack 'packs/") != NULL,
	   "pool: msg names the pack: %s", err.msg);
	ok(!manifest_exists("pool-2"), "pool: no manifest after the fault");

	/* abort with uploads in flight: stops and joins every uploader */
	tl_fill(d, n, 779);
	memset(&err, 0, sizeof(err));
	o.id = "pool-3";
	b = NULL;
	rc = bfs_backup_begin(repo, idx, &o, &b, &err);
	is_int(rc, 0, "pool: begin pool-3 (%s)", err.msg);
	for (i = 0, n = 0; !rc && i < POOL_FILES / 2; n += sizes[i++]) {
		snprintf(name, sizeof(name), "pool/f%02zu", i);
		rc = stream(b, name, d + n, sizes[i], BFS_PROFILE_FILES, &err);
	}
	is_int(rc, 0, "pool: half of pool-3 streamed (%s)", err.msg);
	bfs_backup_abort(b);
	ok(!manifest_exists("pool-3"), "pool: no manifest after abort");
out:
	repo->pack_target = saved;
	bfs_repo_close(r2);
	free(d);
}

/* The catalog is a cache: when a pack it knows is gone from the store
 * (catalog shared by two copies of a repository, a pack deleted by hand),
 * a new backup of the same bytes must store them again, not point at the
 * missing pack. */
static void test_missing_pack(void)
{
	size_t n = 3u << 20, got = 0;
	uint8_t *d = malloc(n), *back;
	char key[BFS_KEY_MAX] = "";
	struct bfs_err err = {{0}};
	struct bfs_backup *b;
	bool partial;
	int rc;

	tl_fill(d, n, 4242);
	b = begin("mp-1", NULL);
	rc = b ? stream(b, "data.bin", d, n, BFS_PROFILE_FILES, &err) : -1;
	rc = rc ? rc : bfs_backup_commit(b, NULL, &partial, &err);
	is_int(rc, 0, "missing pack: first backup (%s)", err.msg);
	/* remove every pack holding the file's chunks */
	{
		struct bfs_cat_entry ce;
		struct bfs_chunkref *ch = NULL;
		size_t nch = 0, i;

		if (get_entry("mp-1", "data.bin", &ce) == 0 &&
		    bfs_catalog_chunks(cat, ce.id, &ch, &nch, NULL) == 0) {
			for (i = 0; i < nch; i++) {
				bfs_repo_pack_key(key, ch[i].pack);
				bfs_store_del(repo->store, key, NULL);
			}
		}
		free(ch);
		bfs_cat_entry_clear(&ce);
	}
	ok(key[0] != 0, "missing pack: removed the packs of the file");
	b = begin("mp-2", NULL);
	rc = b ? stream(b, "data.bin", d, n, BFS_PROFILE_FILES, &err) : -1;
	rc = rc ? rc : bfs_backup_commit(b, NULL, &partial, &err);
	is_int(rc, 0, "missing pack: second backup (%s)", err.msg);
	back = read_back("mp-2", "data.bin", &got);
	ok(back && got == n && memcmp(back, d, n) == 0,
	   "missing pack: second backup reads back: chunks stored again");
	free(back);
	free(d);
}

/* ---- the writer through an in-memory index (index.h) ------------------ */

/* One known chunk in one pack, one previous entry, and what was asked. */
struct memidx {
	struct bfs_index idx;
	pthread_mutex_t lock;	   /* the writer's workers call in */
	struct bfs_chunkref chunk; /* the chunk the index knows */
	int pack_answer;	   /* pack_present: 1 / 0 */
	unsigned finds, pack_asks, prev_asks, records;
	const char *prev_dir;  /* directory with a previous listing */
	const char *prev_name; /* its one entry's name */
	struct bfs_entry prev; /* its metadata (path unused) */
	unsigned idx_trees;    /* tree blobs in the recorded index object */
	bool has_idxobj;
	size_t root_parts;
	uint64_t count;
	char key[512]; /* last source key asked about */
	char recorded[129];
	size_t recorded_len;
};

static int mi_chunk_find(void *ctx, const uint8_t hash[BFS_HASH_LEN],
			 struct bfs_chunkref *out)
{
	struct memidx *m = ctx;
	int rc = -ENOENT;

	pthread_mutex_lock(&m->lock);
	m->finds++;
	if (!memcmp(hash, m->chunk.hash, BFS_HASH_LEN)) {
		*out = m->chunk;
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mi_pack_present(void *ctx, const uint8_t pack[BFS_HASH_LEN])
{
	struct memidx *m = ctx;
	int rc;

	pthread_mutex_lock(&m->lock);
	m->pack_asks++;
	rc = memcmp(pack, m->chunk.pack, BFS_HASH_LEN) ? 0 : m->pack_answer;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int mi_prev_dir(void *ctx, const char *key, const char *dirpath,
		       struct bfs_index_dir *out)
{
	struct memidx *m = ctx;
	size_t n = strlen(dirpath), k;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&m->lock);
	m->prev_asks++;
	snprintf(m->key, sizeof(m->key), "%s", key);
	pthread_mutex_unlock(&m->lock);
	k = m->prev_dir ? strlen(m->prev_dir) : 0;
	if (!k || n != k || strcmp(dirpath, m->prev_dir))
		return -ENOENT;
	out->v = calloc(1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	out->n = 1;
	out->v[0].e = m->prev;
	out->v[0].e.path = strdup(m->prev_name);
	out->v[0].e.path_len = strlen(m->prev_name);
	out->v[0].chunks = malloc(sizeof(*out->v[0].chunks));
	if (!out->v[0].e.path || !out->v[0].chunks) {
		bfs_index_dir_clear(out);
		return -ENOMEM;
	}
	memcpy(out->v[0].chunks[0].hash, m->chunk.hash, BFS_HASH_LEN);
	out->v[0].chunks[0].len = m->chunk.len;
	out->v[0].nchunks = 1;
	return 0;
}

static int count_tree_blobs(void *arg, const uint8_t pack[BFS_HASH_LEN],
			    const struct bfs_idx_blob *blobs, size_t n)
{
	unsigned *trees = arg;

	(void)pack;
	for (size_t i = 0; i < n; i++)
		*trees += blobs[i].type == BFS_BLOB_TREE;
	return 0;
}

static int mi_record(void *ctx, const char *id, const void *manifest,
		     size_t len, const char *idxname, const void *idxobj,
		     size_t idxlen, struct bfs_err *err)
{
	struct memidx *m = ctx;
	struct bfs_manifest2 man;

	m->records++;
	snprintf(m->recorded, sizeof(m->recorded), "%s", id);
	m->recorded_len = len;
	m->idx_trees = 0;
	m->has_idxobj = idxname && idxobj && idxlen;
	if (m->has_idxobj && bfs_idxobj_parse(idxobj, idxlen, count_tree_blobs,
					      &m->idx_trees, err))
		return -EUCLEAN;
	if (bfs_manifest2_parse(manifest, len, &man, err))
		return -EUCLEAN;
	m->root_parts = man.nroot;
	m->count = man.count;
	bfs_manifest2_clear(&man);
	return 0;
}

static bool mi_has_backup(void *ctx, const char *id)
{
	struct memidx *m = ctx;

	return m->records && !strcmp(m->recorded, id);
}

static const struct bfs_index_ops memidx_ops = {
    .name = "memory",
    .chunk_find = mi_chunk_find,
    .pack_present = mi_pack_present,
    .prev_dir = mi_prev_dir,
    .record = mi_record,
    .has_backup = mi_has_backup,
};

static void memidx_init(struct memidx *m, const uint8_t *d, size_t n)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->idx.ops = &memidx_ops;
	m->idx.ctx = m;
	bfs_sha256(m->chunk.hash, d, n);
	memset(m->chunk.pack, 0xab, BFS_HASH_LEN);
	m->chunk.offset = 4096;
	m->chunk.clen = (uint32_t)n / 2;
	m->chunk.len = (uint32_t)n;
	m->pack_answer = 1;
}

/* Back up d[0..n) as a.bin and b.bin (same bytes) through m.  One worker:
 * two workers may both ask about one pack (harmless, but not countable). */
static int mem_backup(struct memidx *m, const char *id, const uint8_t *d,
		      size_t n, struct bfs_backup_stats *st)
{
	struct bfs_backup_opts o = {.id = id, .threads = 1};
	struct bfs_err err = {{0}};
	struct bfs_backup *b = NULL;
	int rc;

	rc = bfs_backup_begin(repo, &m->idx, &o, &b, &err);
	if (!rc)
		rc = stream(b, "a.bin", d, n, BFS_PROFILE_FILES, &err);
	if (!rc)
		rc = stream(b, "b.bin", d, n, BFS_PROFILE_FILES, &err);
	if (!rc)
		return bfs_backup_commit(b, st, NULL, &err);
	diag("%s: %s", id, err.msg);
	bfs_backup_abort(b);
	return rc;
}

static void test_memindex(void)
{
	size_t n = 1000; /* below every minimum chunk size: one chunk */
	uint8_t d[1000], other[1000];
	struct bfs_backup_opts o = {.threads = 2}, taken = {.id = "mem-hit"};
	struct bfs_backup_stats st;
	struct bfs_err err = {{0}};
	struct bfs_backup *b = NULL;
	struct bfs_source src = {.kind = BFS_SRC_FILES};
	struct bfs_entry e;
	struct memidx m;
	struct prog pr = {0};
	struct stat sb;
	char dir[600], path[700], arg[700];
	int rc;

	tl_fill(d, n, 31337);
	tl_fill(other, n, 31338);

	/* dedup hit: the index knows the chunk, its pack is present */
	memidx_init(&m, d, n);
	rc = mem_backup(&m, "mem-hit", d, n, &st);
	is_int(rc, 0, "mem index: backup with a known chunk");
	is_int((int)st.chunks, 2, "mem index: two chunk refs");
	is_int((int)st.new_chunks, 0, "mem index: dedup hit stores nothing");
	ok(m.finds >= 1, "mem index: chunk_find asked (%u)", m.finds);
	is_int((int)m.pack_asks, 1, "mem index: the pack asked about once");
	is_int((int)m.records, 1, "mem index: manifest recorded");
	is_str(m.recorded, "mem-hit", "mem index: recorded under its id");
	ok(m.recorded_len > 0, "mem index: recorded bytes (%zu)",
	   m.recorded_len);
	ok(m.has_idxobj, "mem index: an index object recorded with it");
	ok(m.idx_trees >= 1, "mem index: the tree part is in it (%u)",
	   m.idx_trees);
	is_int((int)m.root_parts, 1, "mem index: one root part");
	is_int((int)m.count, 2, "mem index: manifest counts two entries");
	rc = bfs_backup_begin(repo, &m.idx, &taken, &b, &err);
	is_int(rc, -EEXIST, "mem index: an id the index knows is taken");
	err.msg[0] = 0;
	pthread_mutex_destroy(&m.lock);

	/* pack absent: the chunk is stored again */
	memidx_init(&m, d, n);
	m.pack_answer = 0;
	rc = mem_backup(&m, "mem-absent", d, n, &st);
	is_int(rc, 0, "mem index: backup with the chunk's pack absent");
	is_int((int)st.new_chunks, 1, "mem index: absent pack: stored again");
	is_int((int)m.pack_asks, 1, "mem index: absent pack asked once");
	pthread_mutex_destroy(&m.lock);

	/* unknown chunk: new, pack never asked about */
	memidx_init(&m, other, n);
	rc = mem_backup(&m, "mem-new", d, n, &st);
	is_int(rc, 0, "mem index: backup of an unknown chunk");
	is_int((int)st.new_chunks, 1, "mem index: unknown chunk stored");
	is_int((int)m.pack_asks, 0, "mem index: no pack asked about");
	pthread_mutex_destroy(&m.lock);

	/* unchanged file: the previous entry's chunks are reused unread */
	snprintf(dir, sizeof(dir), "%s/memsrc", tmp);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/f", dir);
	wfile(path, d, n);
	snprintf(path, sizeof(path), "%s/g", dir);
	wfile(path, other, n);
	snprintf(path, sizeof(path), "%s/f", dir);
	rc = stat(path, &sb);
	is_int(rc, 0, "mem index: stat f");
	memidx_init(&m, d, n);
	memset(&e, 0, sizeof(e));
	e.type = BFS_T_FILE;
	e.size = n;
	e.mtime_ns =
	    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	e.ctime_ns =
	    (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec;
	e.ino = sb.st_ino;
	m.prev = e;
	m.prev_dir = "mem";
	m.prev_name = "f";
	snprintf(arg, sizeof(arg), "mem=%s", dir);
	src.arg = arg;
	o.id = "mem-reuse";
	o.progress = prog_cb;
	o.progress_arg = &pr;
	rc = bfs_backup_begin(repo, &m.idx, &o, &b, &err);
	if (!rc)
		rc = bfs_source_run(b, &src, &err);
	if (!rc)
		rc = bfs_backup_commit(b, &st, NULL, &err);
	else
		bfs_backup_abort(b);
	is_int(rc, 0, "mem index: files source (%s)", err.msg);
	is_int((int)pr.reused, 1, "mem index: unchanged f reused");
	is_int((int)m.prev_asks, 3,
	       "mem index: one question per directory (the source's and its "
	       "parent's, for reusing it whole; the parent's again for the "
	       "base of its new tree part, FORMAT.md 18.1), not one per "
	       "file");
	ok(!strncmp(m.key, "files:mem:", 10), "mem index: source key '%s'",
	   m.key);
	is_int((int)st.new_chunks, 1, "mem index: only g read and stored");
	pthread_mutex_destroy(&m.lock);
}

static int bench(const char *spec)
{
	struct bfs_backup *b;
	struct bfs_backup_stats st;
	struct bfs_err err = {{0}};
	struct bfs_entry e = tl_entry("stream.bin", BFS_T_FILE);
	uint64_t total, done = 0;
	size_t bs = 1u << 20;
	uint64_t *buf = malloc(bs);
	uint64_t x = 88172645463325252ull;
	int64_t t0;
	size_t i;
	int rc;

	if (bfs_parse_size(spec, &total) || !buf)
		return 2;
	b = begin("bench", NULL);
	if (!b)
		return 1;
	t0 = bfs_mono_ns();
	rc = bfs_backup_file_begin(b, &e,
				   getenv("BFS_BENCH_FILES") ? BFS_PROFILE_FILES
							     : BFS_PROFILE_DUMP,
				   &err);
	while (!rc && done < total) {
		for (i = 0; i < bs / 8; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = x;
		}
		rc = bfs_backup_file_write(b, buf, bs, &err);
		done += bs;
	}
	if (!rc)
		rc = bfs_backup_file_end(b, &err);
	{
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		printf("bench: streamed in %.2f s, peak RSS so far %ld MiB\n",
		       (bfs_mono_ns() - t0) / 1e9, ru.ru_maxrss >> 10);
	}
	if (!rc)
		rc = bfs_backup_commit(b, &st, NULL, &err);
	else
		bfs_backup_abort(b);
	if (rc) {
		fprintf(stderr, "bench: %s\n", err.msg);
		return 1;
	}
	printf("bench: %llu MiB in %.2f s = %.0f MiB/s, %llu chunks\n",
	       (unsigned long long)(done >> 20), (bfs_mono_ns() - t0) / 1e9,
	       (done >> 20) / ((bfs_mono_ns() - t0) / 1e9),
	       (unsigned long long)st.chunks);
	free(buf);
	return 0;
}

/* A lock the writer holds (opts.lock) and loses before the commit: the
 * commit fails with -ENOLCK and no manifest is written; with the lock
 * still held, the same backup commits. */
static void test_lost_lock(void)
{
	struct bfs_backup_opts o = {.id = "locked", .threads = 2};
	struct bfs_err err = {{0}};
	struct bfs_backup *b = NULL;
	struct bfs_lock *l = NULL;
	uint8_t d[5000];
	uint64_t sz;
	int rc;

	tl_fill(d, sizeof(d), 77);
	rc = bfs_lock_take(repo, BFS_LOCK_SHARED, "backup", 0, &l, &err);
	is_int(rc, 0, "lost lock: lock taken (%s)", err.msg);
	o.lock = l;
	rc = bfs_backup_begin(repo, idx, &o, &b, &err);
	rc = rc ? rc : stream(b, "a.bin", d, sizeof(d), BFS_PROFILE_DUMP, &err);
	is_int(rc, 0, "lost lock: backup begun");
	bfs_lock_remove(repo, true, NULL, &err); /* unlock --all */
	err.msg[0] = '\0';
	rc = b ? bfs_backup_commit(b, NULL, NULL, &err) : -1;
	is_int(rc, -ENOLCK, "lost lock: commit fails");
	ok(strstr(err.msg, "backup 'locked' not written") != NULL,
	   "lost lock: says so (%s)", err.msg);
	is_int(bfs_store_stat(repo->store, "manifests/locked", &sz, NULL),
	       -ENOENT, "lost lock: no manifest");
	ok(!bfs_index_has_backup(idx, "locked"), "lost lock: not recorded");
	bfs_lock_release(l);

	err.msg[0] = '\0';
	rc = bfs_lock_take(repo, BFS_LOCK_SHARED, "backup", 0, &l, &err);
	o.lock = l;
	b = NULL;
	rc = rc ? rc : bfs_backup_begin(repo, idx, &o, &b, &err);
	rc = rc ? rc : stream(b, "a.bin", d, sizeof(d), BFS_PROFILE_DUMP, &err);
	rc = rc ? rc : bfs_backup_commit(b, NULL, NULL, &err);
	is_int(rc, 0, "held lock: the same backup commits (%s)", err.msg);
	bfs_lock_release(l);
}

int main(void)
{
	struct bfs_err err = {{0}};
	char path[600];
	int rc;

	snprintf(tmp, sizeof(tmp), "%s/bfs-writer-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	snprintf(path, sizeof(path), "%s/repo", tmp);
	rc = bfs_repo_init(path, NULL, &repo, &err);
	is_int(rc, 0, "repo init (%s)", err.msg);
	if (rc)
		return tap_done();
	snprintf(path, sizeof(path), "%s/catalog.db", tmp);
	rc = bfs_catalog_open(path, repo->id, false, &cat, &err);
	is_int(rc, 0, "catalog open (%s)", err.msg);
	if (rc)
		return tap_done();
	rc = bfs_catalog_index_new(cat, repo, &idx);
	is_int(rc, 0, "catalog index");
	if (rc)
		return tap_done();

	if (getenv("BFS_WRITER_BENCH")) {
		rc = bench(getenv("BFS_WRITER_BENCH"));
	} else {
		repo->pack_target = 1u << 20; /* several packs */
		test_stream();
		test_files();
		test_command();
		test_archive();
		test_missing_pack();
		test_memindex();
		test_lost_lock();
		snprintf(path, sizeof(path), "%s/repo", tmp);
		test_upload_fail(path);
		test_upload_pool(path);
		rc = 0;
	}

	bfs_index_free(idx);
	bfs_catalog_close(cat);
	bfs_repo_close(repo);
	if (!getenv("BFS_KEEP_TMP")) {
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmp);
	}
	if (getenv("BFS_WRITER_BENCH"))
		return rc;
	return tap_done();
}
