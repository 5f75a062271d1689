/* test-copy.c - copying backups between two local repositories
 * (src/copy.h): the target is created as a twin with a fresh id, packs
 * then manifest, a second copy transfers nothing, a backup sharing packs
 * copies only its new ones, a copied backup reads back through the read
 * engine, a damaged pack stops the copy with -EBADMSG and no manifest,
 * and --delete-source removes the source's manifest only.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "copy.h"
#include "index.h"
#include "manifest.h"
#include "reader.h"
#include "tap.h"
#include "testlib.h"
#include "writer.h"

static char tmp[256], src_path[300], dst_path[300];
static struct bfs_repo *src;
static struct bfs_catalog *cat;
static uint8_t *blob;
static size_t blob_n = 3u << 20;

/* Backup id with file "f" = blob[0..n). */
static int write_backup(const char *id, size_t n)
{
	struct bfs_index *idx = NULL;
	struct bfs_backup_opts o = {.id = id, .threads = 2};
	struct bfs_backup *b = NULL;
	struct bfs_err err = {{0}};
	struct bfs_entry e;
	bool partial;
	int rc;

	memset(&e, 0, sizeof(e));
	e.path = (char *)"f";
	e.path_len = 1;
	e.type = BFS_T_FILE;
	e.mode = 0644;
	rc = cat ? bfs_catalog_index_new(cat, src, &idx) : 0;
	if (!rc)
		rc = bfs_backup_begin(src, idx, &o, &b, &err);
	if (!rc)
		rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_FILES, &err);
	if (!rc)
		rc = bfs_backup_file_write(b, blob, n, &err);
	if (!rc)
		rc = bfs_backup_file_end(b, &err);
	if (rc) {
		bfs_backup_abort(b);
		bfs_index_free(idx);
		diag("backup %s: %s", id, err.msg);
		return rc;
	}
	rc = bfs_backup_commit(b, NULL, &partial, &err);
	if (rc)
		diag("commit %s: %s", id, err.msg);
	bfs_index_free(idx);
	return rc;
}

struct events {
	unsigned packs, done, skip, deleted;
};

static void prog_cb(void *arg, enum bfs_copy_event ev, const char *id,
		    const char *key, uint64_t n, uint64_t bytes)
{
	struct events *e = arg;

	(void)id;
	(void)key;
	(void)n;
	(void)bytes;
	switch (ev) {
	case BFS_COPY_PACK:
		e->packs++;
		break;
	case BFS_COPY_BACKUP_DONE:
		e->done++;
		break;
	case BFS_COPY_BACKUP_SKIP:
		e->skip++;
		break;
	case BFS_COPY_SOURCE_DELETED:
		e->deleted++;
		break;
	default:
		break;
	}
}

struct mem {
	uint8_t *p;
	size_t n;
};

static int mem_cb(void *arg, uint64_t off, const uint8_t *d, size_t len)
{
	struct mem *m = arg;

	if (off > m->n || len > m->n - off)
		return -EUCLEAN;
	memcpy(m->p + off, d, len);
	return 0;
}

/* Read file "f" of backup id in repository r through its manifest and
 * the read engine; compare with blob[0..n). */
static bool reads_back(struct bfs_repo *r, const char *id, size_t n)
{
	struct bfs_manifest_reader *mr = NULL;
	const struct bfs_chunkref *chunks;
	struct bfs_reader *rd = NULL;
	struct bfs_buf m = {0};
	struct bfs_entry e;
	struct bfs_err err = {{0}};
	struct mem out = {malloc(n + 1), n};
	char key[BFS_KEY_MAX];
	size_t nchunks;
	bool same = false;

	bfs_repo_manifest_key(key, id);
	if (!out.p ||
	    bfs_store_get(r->store, key, 0, UINT64_MAX, &m, &err) < 0 ||
	    bfs_manifest_reader_new(m.data, m.len, &mr, &err) ||
	    bfs_reader_create(r, NULL, NULL, &rd))
		goto out;
	memset(&e, 0, sizeof(e));
	while (bfs_manifest_reader_next(mr, &e, &chunks, &nchunks, &err) == 1) {
		if (!e.path || strcmp(e.path, "f") != 0)
			continue;
		same = bfs_reader_stream(rd, chunks, nchunks, mem_cb, &out,
					 &err) == 0 &&
		       e.size == n && !memcmp(out.p, blob, n);
		break;
	}
out:
	if (!same)
		diag("reads_back %s: %s", id, err.msg);
	bfs_reader_destroy(rd);
	bfs_manifest_reader_free(mr);
	bfs_buf_free(&m);
	free(out.p);
	return same;
}

static bool has_manifest(struct bfs_repo *r, const char *id)
{
	char key[BFS_KEY_MAX];
	uint64_t size;

	bfs_repo_manifest_key(key, id);
	return bfs_store_stat(r->store, key, &size, NULL) == 0;
}

/* Flip one byte in the middle of every pack file of the directory
 * repository at path (keeps the sizes). */
static int flip_cb(void *arg, const char *key, uint64_t size)
{
	char p[700];
	FILE *f;
	int c;

	snprintf(p, sizeof(p), "%s/%s", (const char *)arg, key);
	f = fopen(p, "r+b");
	if (!f)
		return 0;
	fseek(f, (long)(size / 2), SEEK_SET);
	c = fgetc(f);
	fseek(f, (long)(size / 2), SEEK_SET);
	fputc(c ^ 0xff, f);
	fclose(f);
	return 0;
}

int main(void)
{
	struct bfs_err err = {{0}};
	struct bfs_copy_stats st;
	struct events ev = {0};
	struct bfs_copy_opts o = {
	    .progress = prog_cb, .progress_arg = &ev, .jobs = 3};
	struct bfs_repo *dst = NULL, *bad = NULL;
	char path[600];
	bool created = false;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s/bfs-copy-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	snprintf(src_path, sizeof(src_path), "%s/src", tmp);
	snprintf(dst_path, sizeof(dst_path), "%s/dst", tmp);
	rc = bfs_repo_init(src_path, NULL, &src, &err);
	if (!rc) {
		snprintf(path, sizeof(path), "%s/catalog.db", tmp);
		rc = bfs_catalog_open(path, src->id, false, &cat, &err);
	}
	blob = malloc(blob_n);
	if (!rc && blob) {
		tl_fill(blob, blob_n, 9);
		src->pack_target = 1u << 20; /* several packs per backup */
		rc = write_backup("b1", blob_n / 2);
		if (!rc)
			rc = write_backup("b2", blob_n); /* shares b1's packs */
	}
	ok(rc == 0, "a source with two backups (%s)", err.msg);
	if (rc)
		goto out;

	rc = bfs_copy_open_target(src, dst_path, NULL, false, &dst, &created,
				  &err);
	ok(rc == 0 && created, "the target is created (%s)", err.msg);
	if (rc)
		goto out;
	ok(strcmp(dst->id, src->id) != 0, "  with a fresh id");
	ok(!memcmp(dst->chunker, src->chunker, sizeof(src->chunker)),
	   "  and the source's chunker");

	o.ids = (const char *const[]){"b1"};
	o.nids = 1;
	rc = bfs_copy(src, dst, &o, &st, &err);
	is_int(rc, 0, "copy b1 (%s)", err.msg);
	ok(st.packs_copied >= 2 && st.backups_copied == 1,
	   "  its packs (%llu) and manifest",
	   (unsigned long long)st.packs_copied);
	is_int(ev.packs, st.packs_copied, "  one progress event per pack");
	ok(has_manifest(dst, "b1") && reads_back(dst, "b1", blob_n / 2),
	   "  b1 reads back from the target");

	o.ids = NULL;
	o.nids = 0;
	memset(&ev, 0, sizeof(ev));
	rc = bfs_copy(src, dst, &o, &st, &err);
	is_int(rc, 0, "copy everything (%s)", err.msg);
	is_int(st.backups_copied, 1, "  only b2 is new");
	is_int(st.backups_skipped, 1, "  b1 is skipped");
	ok(st.packs_present >= 1,
	   "  packs shared with b1 are not copied again");
	ok(reads_back(dst, "b2", blob_n), "  b2 reads back from the target");

	rc = bfs_copy(src, dst, &o, &st, &err);
	ok(rc == 0 && st.packs_copied == 0 && st.backups_copied == 0,
	   "a second copy transfers nothing");

	/* A damaged source pack: -EBADMSG, no manifest in the target. */
	rc = write_backup("b3", blob_n / 3 + 777);
	if (!rc)
		rc = bfs_store_list(src->store, "packs/", flip_cb, src_path,
				    &err);
	snprintf(path, sizeof(path), "%s/bad", tmp);
	if (!rc)
		rc = bfs_copy_open_target(src, path, NULL, false, &bad,
					  &created, &err);
	if (!rc) {
		o.ids = (const char *const[]){"b3"};
		o.nids = 1;
		rc = bfs_copy(src, bad, &o, &st, &err);
		is_int(rc, -EBADMSG, "a damaged pack stops the copy: -EBADMSG");
		ok(strstr(err.msg, "do not hash to its id") != NULL,
		   "  says why (%s)", err.msg);
		ok(!has_manifest(bad, "b3"), "  no manifest in the target");
	}

	/* --delete-source of a backup already in the target. */
	o.ids = (const char *const[]){"b1"};
	o.nids = 1;
	o.delete_source = true;
	memset(&ev, 0, sizeof(ev));
	rc = bfs_copy(src, dst, &o, &st, &err);
	is_int(rc, 0, "delete-source (%s)", err.msg);
	ok(!has_manifest(src, "b1") && has_manifest(dst, "b1") &&
	       ev.deleted == 1,
	   "  the source's manifest is gone, the target's stays");
out:
	bfs_repo_close(bad);
	bfs_repo_close(dst);
	bfs_catalog_close(cat);
	bfs_repo_close(src);
	free(blob);
	if (!getenv("BFS_KEEP_TMP")) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmp);
	}
	return tap_done();
}
