/* test-copy.c - copying backups between two local repositories
 * (src/copy.h, format 2): the target is created as a twin with a fresh
 * id; packs, index objects, then the manifest; a second copy transfers
 * nothing; a backup sharing trees and packs with one copied before copies
 * only its new packs and index object; a copied backup reads back through
 * its trees and the read engine; a blob no index object names stops the
 * copy of that backup before anything is written; a damaged pack stops it
 * with -EBADMSG and no manifest; a format-1 manifest is refused; and
 * --delete-source removes the source's manifest only.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copy.h"
#include "index.h"
#include "locmap.h"
#include "manifest.h"
#include "reader.h"
#include "tap.h"
#include "testlib.h"
#include "tree.h"
#include "writer.h"

static char src_path[300], dst_path[300];
static const char *tmp;
static struct bfs_repo *src;
static uint8_t *blob;
static size_t blob_n = 3u << 20;

/* Backup id: directory "d" with file "d/g" (the same in every backup, so
 * the backups share d's tree part) and file "f" = blob[0..n).  Dedup
 * against earlier backups through a location map of the source's index
 * objects. */
static int write_backup(const char *id, size_t n)
{
	struct bfs_backup_opts o = {.id = id, .threads = 2};
	struct bfs_locmap *lm = NULL;
	struct bfs_backup *b = NULL;
	struct bfs_err err = {{0}};
	struct bfs_index idx;
	struct bfs_entry e;
	bool partial;
	int rc;

	rc = bfs_locmap_new(&lm, &err);
	if (!rc)
		rc = bfs_locmap_load(lm, src, &err);
	if (!rc) {
		bfs_locmap_index(lm, &idx);
		rc = bfs_backup_begin(src, &idx, &o, &b, &err);
	}
	e = tl_entry("d", BFS_T_DIR);
	if (!rc)
		rc = bfs_backup_add(b, &e, &err);
	e = tl_entry("d/g", BFS_T_FILE);
	if (!rc)
		rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_FILES, &err);
	if (!rc)
		rc = bfs_backup_file_write(b, "same in every backup\n", 21,
					   &err);
	if (!rc)
		rc = bfs_backup_file_end(b, &err);
	e = tl_entry("f", BFS_T_FILE);
	if (!rc)
		rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_FILES, &err);
	if (!rc)
		rc = bfs_backup_file_write(b, blob, n, &err);
	if (!rc)
		rc = bfs_backup_file_end(b, &err);
	if (rc) {
		bfs_backup_abort(b);
		diag("backup %s: %s", id, err.msg);
		goto out;
	}
	rc = bfs_backup_commit(b, NULL, &partial, &err);
	if (rc)
		diag("commit %s: %s", id, err.msg);
out:
	bfs_locmap_free(lm);
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

/* The walk of reads_back: the location of each chunk of "f". */
struct rb {
	struct bfs_locmap *lm;
	struct bfs_chunkref *refs;
	size_t n;
	bool has_g;
};

static int rb_cb(void *arg, const struct bfs_tree_entry *te, const char *path,
		 const struct bfs_blobref *chunks, size_t nchunks)
{
	struct rb *r = arg;
	struct bfs_loc loc;
	size_t i;

	(void)te;
	if (!strcmp(path, "d/g"))
		r->has_g = true;
	if (strcmp(path, "f") != 0)
		return 0;
	r->refs = calloc(nchunks + 1, sizeof(*r->refs));
	if (!r->refs)
		return -ENOMEM;
	for (i = 0; i < nchunks; i++) {
		if (bfs_locmap_find(r->lm, chunks[i].hash, &loc))
			return -ENOENT;
		r->refs[i] = loc.ref;
	}
	r->n = nchunks;
	return 0;
}

/* Read file "f" of backup id in repository r through its manifest, its
 * trees, the index objects and the read engine; compare with blob[0..n).
 * "d/g" must be there too. */
static bool reads_back(struct bfs_repo *r, const char *id, size_t n)
{
	struct bfs_manifest2 man = {0};
	struct bfs_reader *rd = NULL;
	struct bfs_buf m = {0};
	struct bfs_err err = {{0}};
	struct mem out = {malloc(n + 1), n};
	struct rb w = {0};
	char key[BFS_KEY_MAX];
	uint64_t count;
	bool same = false;

	bfs_repo_manifest_key(key, id);
	if (!out.p)
		goto out;
	if (bfs_store_get(r->store, key, 0, UINT64_MAX, &m, &err) < 0 ||
	    bfs_manifest2_parse(m.data, m.len, &man, &err) ||
	    bfs_locmap_new(&w.lm, &err) || bfs_locmap_load(w.lm, r, &err) ||
	    bfs_locmap_walk(w.lm, r, (const uint8_t(*)[BFS_HASH_LEN])man.root,
			    man.nroot, rb_cb, &w, &count, &err) ||
	    count != man.count || !w.refs || !w.has_g ||
	    bfs_reader_create(r, NULL, NULL, &rd))
		goto out;
	same = bfs_reader_stream(rd, w.refs, w.n, mem_cb, &out, &err) == 0 &&
	       !memcmp(out.p, blob, n);
out:
	if (!same)
		diag("reads_back %s: %s (%zu chunks, d/g %s)", id, err.msg, w.n,
		     w.has_g ? "found" : "missing");
	bfs_reader_destroy(rd);
	bfs_locmap_free(w.lm);
	free(w.refs);
	bfs_manifest2_clear(&man);
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

/* Flip the last byte of every pack file of the directory repository at
 * path: the pack no longer hashes to its id, but its frames (and so the
 * trees a copy walks) still read. */
static int flip_cb(void *arg, const char *key, uint64_t size)
{
	char p[700];
	FILE *f;
	int c;

	snprintf(p, sizeof(p), "%s/%s", (const char *)arg, key);
	f = fopen(p, "r+b");
	if (!f || !size)
		goto out;
	fseek(f, (long)size - 1, SEEK_SET);
	c = fgetc(f);
	fseek(f, (long)size - 1, SEEK_SET);
	fputc(c ^ 0xff, f);
out:
	if (f)
		fclose(f);
	return 0;
}

/* Names of the index objects of a repository, as one string. */
static int names_cb(void *arg, const char *key, uint64_t size)
{
	(void)size;
	return bfs_buf_printf(arg, "%s\n", key);
}

static int count_under(const char *repo, const char *dir)
{
	return tl_count_files(tl_path(repo, dir));
}

/* A format-1 manifest of backup "old" in src. */
static int write_format1(void)
{
	struct bfs_manifest_writer *w = NULL;
	struct bfs_manifest_header h = {0};
	struct bfs_entry e = tl_entry("x", BFS_T_DIR);
	struct bfs_err err = {{0}};
	struct bfs_buf m = {0};
	char *tags[] = {NULL};
	int rc;

	h.id = (char *)"old";
	h.time_ns = 1;
	h.host = (char *)"h";
	h.tags = tags;
	h.sources_json = (char *)"[]";
	rc = bfs_manifest_writer_new(&w, &err);
	if (!rc)
		rc = bfs_manifest_writer_entry(w, &e, &err);
	if (!rc)
		rc = bfs_manifest_writer_finish(w, &h, &m, &err);
	if (!rc)
		rc = bfs_store_put(src->store, "manifests/old", m.data, m.len,
				   0, &err);
	if (rc)
		diag("format-1 manifest: %s", err.msg);
	bfs_manifest_writer_free(w);
	bfs_buf_free(&m);
	return rc;
}

int main(void)
{
	struct bfs_err err = {{0}};
	struct bfs_copy_stats st;
	struct events ev = {0};
	struct bfs_copy_opts o = {
	    .progress = prog_cb, .progress_arg = &ev, .jobs = 3};
	struct bfs_repo *dst = NULL, *bad = NULL, *miss = NULL;
	struct bfs_buf before = {0}, after = {0};
	char path[600], key[600];
	bool created = false;
	int rc, npacks0;

	tmp = tl_tmpdir("bfs-copy");
	snprintf(src_path, sizeof(src_path), "%s/src", tmp);
	snprintf(dst_path, sizeof(dst_path), "%s/dst", tmp);
	rc = bfs_repo_init(src_path, NULL, &src, &err);
	blob = malloc(blob_n);
	if (!rc && blob) {
		tl_fill(blob, blob_n, 9);
		src->pack_target = 1u << 20; /* several packs per backup */
		rc = write_backup("b1", blob_n / 2);
		if (!rc)
			rc = write_backup("b2", blob_n); /* shares b1's */
	}
	ok(rc == 0, "a source with two backups (%s)", err.msg);
	if (rc)
		goto out;
	ok(count_under(src_path, "index") == 2,
	   "  one index object per backup");

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
	ok(st.packs_copied >= 2 && st.backups_copied == 1 &&
	       st.index_copied == 1,
	   "  its packs (%llu), index object and manifest",
	   (unsigned long long)st.packs_copied);
	is_int(ev.packs, st.packs_copied, "  one progress event per pack");
	is_int(count_under(dst_path, "packs"), (int)st.packs_copied,
	       "  the target holds exactly those packs");
	ok(has_manifest(dst, "b1") && reads_back(dst, "b1", blob_n / 2),
	   "  b1 reads back from the target");

	o.ids = NULL;
	o.nids = 0;
	memset(&ev, 0, sizeof(ev));
	npacks0 = count_under(dst_path, "packs");
	rc = bfs_copy(src, dst, &o, &st, &err);
	is_int(rc, 0, "copy everything (%s)", err.msg);
	is_int(st.backups_copied, 1, "  only b2 is new");
	is_int(st.backups_skipped, 1, "  b1 is skipped");
	is_int((int)st.packs_copied, count_under(src_path, "packs") - npacks0,
	       "  only b2's new packs are copied");
	is_int(count_under(dst_path, "packs"), count_under(src_path, "packs"),
	       "  the target has every pack now");
	is_int((int)st.index_copied, 1, "  and b2's index object");
	ok(reads_back(dst, "b2", blob_n), "  b2 reads back from the target");

	rc = bfs_copy(src, dst, &o, &st, &err);
	ok(rc == 0 && st.packs_copied == 0 && st.backups_copied == 0 &&
	       st.index_copied == 0,
	   "a second copy transfers nothing");

	/* A blob no index object names: nothing of the backup is written. */
	bfs_store_list(src->store, "index/", names_cb, &before, &err);
	rc = write_backup("b4", blob_n / 5 + 99);
	bfs_store_list(src->store, "index/", names_cb, &after, &err);
	key[0] = 0;
	if (!rc) {
		/* the new name: the one line of after not in before */
		char *line = (char *)after.data, *nl;

		bfs_buf_append(&before, "", 1);
		bfs_buf_append(&after, "", 1);
		for (; (nl = strchr(line, '\n')); line = nl + 1) {
			*nl = 0;
			if (!strstr((char *)before.data, line))
				snprintf(key, sizeof(key), "%s", line);
		}
	}
	snprintf(path, sizeof(path), "%s/miss", tmp);
	if (!rc && key[0] && !bfs_store_del(src->store, key, &err) &&
	    !bfs_copy_open_target(src, path, NULL, false, &miss, &created,
				  &err)) {
		o.ids = (const char *const[]){"b4"};
		o.nids = 1;
		rc = bfs_copy(src, miss, &o, &st, &err);
		is_int(rc, -ENOENT, "a blob in no index object: -ENOENT");
		ok(strstr(err.msg, "'b4'") && strstr(err.msg, "blob"),
		   "  naming the backup and the blob (%s)", err.msg);
		ok(!has_manifest(miss, "b4") &&
		       count_under(path, "packs") <= 0 &&
		       count_under(path, "index") <= 0,
		   "  nothing written to the target");
	} else {
		ok(0, "a backup without its index object (%s)", err.msg);
	}

	/* A format-1 manifest is refused. */
	rc = write_format1();
	if (!rc) {
		o.ids = (const char *const[]){"old"};
		o.nids = 1;
		rc = bfs_copy(src, dst, &o, &st, &err);
		is_int(rc, -EPROTO, "a format-1 manifest: -EPROTO");
		ok(strstr(err.msg, "migrate") != NULL, "  says what to do (%s)",
		   err.msg);
	}

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
	bfs_buf_free(&before);
	bfs_buf_free(&after);
	bfs_repo_close(miss);
	bfs_repo_close(bad);
	bfs_repo_close(dst);
	bfs_repo_close(src);
	free(blob);
	return tap_done();
}
