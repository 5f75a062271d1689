/* test-migrate.c - format 1 -> format 2 in place (src/migrate.h), on the
 * fixture tests/data/format1 (made by tests/data/make-format1.sh with a
 * format-1 backupfs): the repository is refused before; after migrate
 * every manifest is format 2, the trees walk (tree.h parser through a
 * locmap) to the same entries, and every file reads back to the
 * sha256sum recorded with the fixture; a second migrate does nothing; a
 * migrate stopped by an unreadable manifest resumes; a backup converted
 * by a run that stopped before verifying is verified by the next; a
 * conversion that does not match the original puts the original back.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "locmap.h"
#include "manifest.h"
#include "migrate.h"
#include "reader.h"
#include "repo.h"
#include "tap.h"
#include "testlib.h"
#include "tree.h"

static char fixture[1024];
static const char *tmp;

/* A fresh copy of the fixture repository at tmp/name. */
static const char *copy_fixture(const char *name)
{
	static char path[1024];
	char cmd[4000];

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	snprintf(cmd, sizeof(cmd), "cp -R '%s/repo' '%s' && chmod -R u+w '%s'",
		 fixture, path, path);
	if (system(cmd) != 0) {
		printf("Bail out! cannot copy the fixture: %s\n", cmd);
		exit(1);
	}
	return path;
}

/* ---- reading a migrated backup at the format level ---------------------- */

struct walk {
	struct bfs_repo *r;
	struct bfs_locmap *lm;
	struct bfs_reader *rd;
	const char *id;
	struct bfs_buf expected; /* expected.sha256 */
	unsigned files_ok, files_bad, entries;
	bool fifo, symlink, hardlink, empty, subdir;
};

struct sink {
	uint8_t *p;
	size_t n;
};

static int sink_cb(void *arg, uint64_t off, const uint8_t *d, size_t len)
{
	struct sink *s = arg;

	if (off > s->n || len > s->n - off)
		return -EUCLEAN;
	memcpy(s->p + off, d, len);
	return 0;
}

static int walk_cb(void *arg, const struct bfs_tree_entry *te, const char *path,
		   const struct bfs_blobref *chunks, size_t nchunks)
{
	struct walk *w = arg;
	const struct bfs_entry *e = &te->e;
	struct bfs_chunkref *refs = NULL;
	struct sink s = {0};
	struct bfs_err err = {{0}};
	struct bfs_loc loc;
	uint8_t h[BFS_HASH_LEN];
	char hex[BFS_HASH_HEX + 1], line[2048];
	size_t i;

	w->entries++;
	if (e->type == BFS_T_FIFO && !strcmp(path, "files/fifo"))
		w->fifo = true;
	if (e->type == BFS_T_SYMLINK && !strcmp(path, "files/link") &&
	    e->target && !strcmp(e->target, "small.txt"))
		w->symlink = true;
	if (e->link && (!strcmp(e->link, "files/hard1") ||
			!strcmp(e->link, "files/hard2")))
		w->hardlink = true;
	if (e->type == BFS_T_DIR && !strcmp(path, "files/dir/sub"))
		w->subdir = true;
	if (e->type != BFS_T_FILE || e->error)
		return 0;
	if (!strcmp(path, "files/empty") && e->size == 0 && !nchunks)
		w->empty = true;
	s.n = e->size;
	s.p = malloc(s.n + 1);
	refs = calloc(nchunks + 1, sizeof(*refs));
	if (!s.p || !refs)
		goto bad;
	for (i = 0; i < nchunks; i++) {
		if (bfs_locmap_find(w->lm, chunks[i].hash, &loc))
			goto bad;
		refs[i] = loc.ref;
	}
	/* a hardlink has its group's content */
	if (e->link) {
		free(refs);
		free(s.p);
		return 0;
	}
	if (bfs_reader_stream(w->rd, refs, nchunks, sink_cb, &s, &err))
		goto bad;
	bfs_sha256(h, s.p, s.n);
	bfs_hex(hex, h, BFS_HASH_LEN);
	snprintf(line, sizeof(line), "%s  %s/%s\n", hex, w->id, path);
	if (!strstr((char *)w->expected.data, line))
		goto bad;
	w->files_ok++;
	free(refs);
	free(s.p);
	return 0;
bad:
	diag("%s:%s does not read back (%s)", w->id, path, err.msg);
	w->files_bad++;
	free(refs);
	free(s.p);
	return 0;
}

/* Walk backup id of the migrated repository at path; check every file
 * against expected.sha256.  The number of entries, or -1. */
static int check_backup(const char *path, const char *id, struct walk *w)
{
	struct bfs_manifest2 man = {0};
	struct bfs_repo *r = NULL;
	struct bfs_err err = {{0}};
	struct bfs_buf m = {0};
	char key[BFS_KEY_MAX];
	uint64_t count = 0;
	int rc;

	memset(w, 0, sizeof(*w));
	w->id = id;
	rc = tl_read_file(tl_path(fixture, "expected.sha256"), &w->expected) <
			 0 ||
		     bfs_buf_append(&w->expected, "", 1)
		 ? -EIO
		 : 0;
	if (!rc)
		rc = bfs_repo_open(path, NULL, &r, &err);
	bfs_repo_manifest_key(key, id);
	if (!rc && bfs_store_get(r->store, key, 0, UINT64_MAX, &m, &err) < 0)
		rc = -EIO;
	if (!rc)
		rc = bfs_manifest2_parse(m.data, m.len, &man, &err);
	if (!rc)
		rc = bfs_locmap_new(&w->lm, &err);
	if (!rc)
		rc = bfs_locmap_load(w->lm, r, &err);
	if (!rc)
		rc = bfs_reader_create(r, NULL, NULL, &w->rd);
	w->r = r;
	if (!rc)
		rc = bfs_locmap_walk(w->lm, r,
				     (const uint8_t(*)[BFS_HASH_LEN])man.root,
				     man.nroot, walk_cb, w, &count, &err);
	if (!rc && count != man.count)
		rc = -EUCLEAN;
	if (rc)
		diag("backup %s: %s", id, err.msg);
	bfs_reader_destroy(w->rd);
	bfs_locmap_free(w->lm);
	bfs_manifest2_clear(&man);
	bfs_buf_free(&m);
	bfs_buf_free(&w->expected);
	bfs_repo_close(r);
	return rc ? -1 : (int)count;
}

static int manifest_version(const char *path, const char *id)
{
	struct bfs_manifest_reader *rd = NULL;
	struct bfs_buf m = {0};
	int v = -1;

	if (tl_read_file(tl_path(path, id), &m) >= 0 &&
	    !bfs_manifest_reader_new(m.data, m.len, &rd, NULL))
		v = bfs_manifest_reader_version(rd, NULL, NULL, NULL);
	bfs_manifest_reader_free(rd);
	bfs_buf_free(&m);
	return v;
}

static bool exists(const char *path)
{
	struct bfs_buf b = {0};
	bool yes = tl_read_file(path, &b) >= 0;

	bfs_buf_free(&b);
	return yes;
}

struct events {
	unsigned backups, verified, skipped, config, index;
};

static void ev_cb(void *arg, enum bfs_migrate_event ev, const char *id,
		  uint64_t n, uint64_t bytes)
{
	struct events *e = arg;

	(void)id;
	(void)n;
	(void)bytes;
	switch (ev) {
	case BFS_MIGRATE_INDEX:
		e->index++;
		break;
	case BFS_MIGRATE_BACKUP:
		e->backups++;
		break;
	case BFS_MIGRATE_VERIFIED:
		e->verified++;
		break;
	case BFS_MIGRATE_SKIP:
		e->skipped++;
		break;
	case BFS_MIGRATE_CONFIG:
		e->config++;
		break;
	}
}

/* A format-1 manifest "odd" in the repository at path whose hardlink
 * claims a size other than its group's: the writer stores the group's
 * size, so the conversion cannot match. */
static int write_odd(const char *path)
{
	struct bfs_manifest_writer *w = NULL;
	struct bfs_manifest_header h = {0};
	struct bfs_entry e = tl_entry("f", BFS_T_FILE);
	struct bfs_entry l = tl_entry("g", BFS_T_FILE);
	struct bfs_err err = {{0}};
	struct bfs_buf m = {0};
	char *tags[] = {NULL};
	int rc;

	l.link = (char *)"f";
	l.link_len = 1;
	l.size = 99;
	h.id = (char *)"odd";
	h.time_ns = 1700000000000000000;
	h.host = (char *)"h";
	h.tags = tags;
	h.sources_json = (char *)"[]";
	rc = bfs_manifest_writer_new(&w, &err);
	if (!rc)
		rc = bfs_manifest_writer_entry(w, &e, &err);
	if (!rc)
		rc = bfs_manifest_writer_entry(w, &l, &err);
	if (!rc)
		rc = bfs_manifest_writer_finish(w, &h, &m, &err);
	if (!rc)
		rc = tl_write_file(tl_path(path, "manifests/odd"), m.data,
				   m.len);
	if (rc)
		diag("odd manifest: %s", err.msg);
	bfs_manifest_writer_free(w);
	bfs_buf_free(&m);
	return rc;
}

int main(void)
{
	struct bfs_migrate_opts o = {.threads = 2, .progress = ev_cb};
	struct bfs_migrate_stats st;
	struct bfs_err err = {{0}};
	struct bfs_repo *r = NULL;
	struct bfs_buf b1 = {0}, b2 = {0}, cfg1 = {0};
	struct events ev = {0};
	struct walk w;
	const char *top = getenv("top_srcdir");
	const char *p;
	int rc, nfiles, n1, n2;

	snprintf(fixture, sizeof(fixture), "%s/tests/data/format1",
		 top ? top : "..");
	tmp = tl_tmpdir("bfs-migrate");
	o.progress_arg = &ev;

	/* ---- a plain migration */
	p = copy_fixture("a");
	rc = bfs_repo_open(p, NULL, &r, &err);
	is_int(rc, -EPROTO, "a format-1 repository is refused");
	ok(strstr(err.msg, "backupfs migrate") != NULL,
	   "  saying what to do (%s)", err.msg);
	bfs_repo_close(r);
	r = NULL;
	tl_read_file(tl_path(p, "config"), &cfg1);
	tl_read_file(tl_path(p, "manifests/b1"), &b1);
	tl_read_file(tl_path(p, "manifests/b2"), &b2);

	rc = bfs_migrate(p, NULL, &o, &st, &err);
	is_int(rc, 0, "migrate (%s)", err.msg);
	ok(!st.already && st.backups_converted == 2 && ev.backups == 2,
	   "  converts both backups");
	ok(st.index_written == 1 && st.packs_indexed == 2 && ev.index == 1,
	   "  one index object for the two format-1 packs");
	ok(st.bytes_added > 0 && ev.config == 1, "  adds bytes, writes config");
	ok(manifest_version(p, "manifests/b1") == 2 &&
	       manifest_version(p, "manifests/b2") == 2,
	   "  both manifests are version 2");
	is_int(tl_count_files(tl_path(p, "migrate")) > 0, 0,
	       "  no saved manifest left");
	rc = bfs_repo_open(p, NULL, &r, &err);
	ok(rc == 0 && r->version == 5, "  the repository opens as format 5");
	bfs_repo_close(r);
	r = NULL;

	n1 = check_backup(p, "b1", &w);
	ok(n1 > 0 && !w.files_bad && w.files_ok == 6,
	   "b1: %d entries walk, %u files read back as before", n1, w.files_ok);
	ok(w.fifo && w.symlink && w.hardlink && w.empty && w.subdir,
	   "  fifo, symlink, hardlink, empty file, nested dir");
	n2 = check_backup(p, "b2", &w);
	ok(n2 > n1 && !w.files_bad && w.files_ok == 8,
	   "b2: %d entries walk, %u files read back as before (dump too)", n2,
	   w.files_ok);

	/* ---- again: nothing to do */
	nfiles = tl_count_files(p);
	memset(&ev, 0, sizeof(ev));
	rc = bfs_migrate(p, NULL, &o, &st, &err);
	ok(rc == 0 && st.already && !ev.backups && !ev.index,
	   "a second migrate says it is done");
	is_int(tl_count_files(p), nfiles, "  and writes nothing");

	/* ---- stopped by an unreadable manifest, then resumed */
	p = copy_fixture("b");
	tl_write_file(tl_path(p, "manifests/b2"), "garbage", 7);
	memset(&ev, 0, sizeof(ev));
	rc = bfs_migrate(p, NULL, &o, &st, &err);
	ok(rc < 0 && strstr(err.msg, "'b2'"),
	   "a broken manifest stops migrate, naming it (%s)", err.msg);
	ok(st.backups_converted == 1 &&
	       manifest_version(p, "manifests/b1") == 2,
	   "  b1 was converted before");
	rc = bfs_repo_open(p, NULL, &r, &err);
	is_int(rc, -EPROTO, "  the repository is still format 1");
	bfs_repo_close(r);
	r = NULL;
	tl_write_file(tl_path(p, "manifests/b2"), b2.data, b2.len);
	nfiles = tl_count_files(tl_path(p, "index"));
	memset(&ev, 0, sizeof(ev));
	rc = bfs_migrate(p, NULL, &o, &st, &err);
	is_int(rc, 0, "the manifest fixed, migrate resumes (%s)", err.msg);
	ok(st.backups_skipped == 1 && st.backups_converted == 1 &&
	       st.index_written == 0,
	   "  b1 skipped, b2 converted, no index object for the packs again");
	is_int(tl_count_files(tl_path(p, "index")), nfiles + 1,
	       "  one new index object: b2's trees");
	ok(check_backup(p, "b2", &w) == n2 && !w.files_bad && w.files_ok == 8,
	   "  b2 reads back");

	/* ---- stopped between the new manifest and its verification */
	tl_write_file(tl_path(p, "config"), cfg1.data, cfg1.len);
	tl_write_file(tl_path(p, "migrate/b1"), b1.data, b1.len);
	memset(&ev, 0, sizeof(ev));
	rc = bfs_migrate(p, NULL, &o, &st, &err);
	ok(rc == 0 && st.backups_verified == 1 && ev.verified == 1 &&
	       st.backups_skipped == 1 && ev.config == 1,
	   "a converted backup with its saved original is verified (%s)",
	   err.msg);
	ok(!exists(tl_path(p, "migrate/b1")), "  and its saved copy deleted");

	/* ---- a conversion that does not match */
	p = copy_fixture("c");
	write_odd(p);
	rc = bfs_migrate(p, NULL, &o, &st, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "'odd'") &&
	       strstr(err.msg, "put back"),
	   "a conversion that differs fails loudly (%s)", err.msg);
	is_int(manifest_version(p, "manifests/odd"), 1,
	       "  the format-1 manifest is back");
	ok(!exists(tl_path(p, "migrate/odd")), "  no saved copy left");
	rc = bfs_repo_open(p, NULL, &r, &err);
	is_int(rc, -EPROTO, "  the repository stays format 1");
	bfs_repo_close(r);

	bfs_buf_free(&b1);
	bfs_buf_free(&b2);
	bfs_buf_free(&cfg1);
	return tap_done();
}
