/* test-locmap.c - blob locations from index objects (src/locmap.h): a
 * backup's index object loads and its trees walk with full paths and
 * chunk refs; the map as a struct bfs_index finds blobs and records
 * index objects; hostile input: an index object whose bytes do not hash
 * to its name, a root part no index object names, a data blob given as
 * a tree part.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "locmap.h"
#include "manifest.h"
#include "repo.h"
#include "tap.h"
#include "testlib.h"
#include "tree.h"
#include "writer.h"

static const char *dir;

/* Backup "b1": a/, a/x (content), b (empty). */
static int write_backup(struct bfs_repo *r)
{
	struct bfs_backup_opts o = {.id = "b1", .threads = 1};
	struct bfs_backup *b = NULL;
	struct bfs_err err = {{0}};
	struct bfs_entry e;
	bool partial;
	int rc;

	rc = bfs_backup_begin(r, NULL, &o, &b, &err);
	e = tl_entry("a", BFS_T_DIR);
	if (!rc)
		rc = bfs_backup_add(b, &e, &err);
	e = tl_entry("a/x", BFS_T_FILE);
	if (!rc)
		rc = bfs_backup_file_begin(b, &e, BFS_PROFILE_DUMP, &err);
	if (!rc)
		rc = bfs_backup_file_write(b, "some content\n", 13, &err);
	if (!rc)
		rc = bfs_backup_file_end(b, &err);
	e = tl_entry("b", BFS_T_FILE);
	if (!rc)
		rc = bfs_backup_file_reuse(b, &e, NULL, 0, &err);
	if (rc) {
		bfs_backup_abort(b);
		diag("backup: %s", err.msg);
		return rc;
	}
	rc = bfs_backup_commit(b, NULL, &partial, &err);
	if (rc)
		diag("commit: %s", err.msg);
	return rc;
}

struct seen {
	char paths[256];
	uint8_t chunk[BFS_HASH_LEN];
	size_t nchunks;
};

static int seen_cb(void *arg, const struct bfs_tree_entry *te, const char *path,
		   const struct bfs_blobref *chunks, size_t nchunks)
{
	struct seen *s = arg;
	size_t n = strlen(s->paths);

	(void)te;
	snprintf(s->paths + n, sizeof(s->paths) - n, "%s%s", n ? " " : "",
		 path);
	if (!strcmp(path, "a/x") && nchunks == 1) {
		memcpy(s->chunk, chunks[0].hash, BFS_HASH_LEN);
		s->nchunks = nchunks;
	}
	return 0;
}

/* The one index object of the repository: its name and bytes. */
static int name_cb(void *arg, const char *key, uint64_t size)
{
	(void)size;
	snprintf(arg, BFS_KEY_MAX, "%s", key);
	return 0;
}

int main(void)
{
	struct bfs_repo *r = NULL;
	struct bfs_locmap *lm = NULL, *lm2 = NULL;
	struct bfs_manifest2 man = {0};
	struct bfs_err err = {{0}};
	struct bfs_buf m = {0}, obj = {0};
	struct bfs_index idx;
	struct bfs_chunkref ref;
	struct bfs_loc loc;
	struct seen s;
	char key[BFS_KEY_MAX] = "";
	uint8_t name[BFS_HASH_LEN], bogus[1][BFS_HASH_LEN];
	uint64_t count = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	dir = tl_tmpdir("bfs-locmap");
	if (tl_make_repo(dir, "repo", &r) || write_backup(r)) {
		ok(0, "a repository with one backup");
		return tap_done();
	}
	rc = bfs_locmap_new(&lm, &err);
	if (!rc)
		rc = bfs_locmap_load(lm, r, &err);
	is_int(rc, 0, "load (%s)", err.msg);
	ok(bfs_locmap_nindex(lm) == 1 && bfs_locmap_npacks(lm) == 1 &&
	       bfs_locmap_nblobs(lm) >= 3,
	   "  one index object, one pack, %zu blobs", bfs_locmap_nblobs(lm));
	rc = bfs_locmap_load(lm, r, &err);
	ok(rc == 0 && bfs_locmap_nindex(lm) == 1, "  loading again adds none");

	if (bfs_store_get(r->store, "manifests/b1", 0, UINT64_MAX, &m, &err) <
		0 ||
	    bfs_manifest2_parse(m.data, m.len, &man, &err))
		diag("manifest: %s", err.msg);
	rc = bfs_locmap_walk(lm, r, (const uint8_t(*)[BFS_HASH_LEN])man.root,
			     man.nroot, seen_cb, &s, &count, &err);
	is_int(rc, 0, "walk (%s)", err.msg);
	is_str(s.paths, "a a/x b", "  full paths, parents first, sorted");
	ok(count == 3 && count == man.count, "  count %llu as the manifest's",
	   (unsigned long long)count);
	ok(s.nchunks == 1 && bfs_locmap_find(lm, s.chunk, &loc) == 0 &&
	       loc.type == BFS_BLOB_DATA && loc.ref.len == 13,
	   "  a/x's chunk is located, type data, 13 bytes");

	/* the map as an index: chunk_find, record */
	bfs_locmap_index(lm, &idx);
	ok(idx.ops->chunk_find(idx.ctx, s.chunk, &ref) == 0 &&
	       idx.ops->pack_present(idx.ctx, ref.pack) == 1,
	   "as an index: chunk_find and pack_present");
	bfs_store_list(r->store, "index/", name_cb, key, &err);
	rc = bfs_locmap_new(&lm2, &err);
	if (!rc && bfs_store_get(r->store, key, 0, UINT64_MAX, &obj, &err) < 0)
		rc = -EIO;
	bfs_locmap_index(lm2, &idx);
	if (!rc)
		rc = idx.ops->record(idx.ctx, "b1", NULL, 0,
				     key + strlen("index/"), obj.data, obj.len,
				     &err);
	ok(rc == 0 && idx.ops->chunk_find(idx.ctx, s.chunk, &ref) == 0,
	   "  record adds the index object (%s)", err.msg);

	/* hostile input */
	memset(name, 0x5a, sizeof(name));
	rc = bfs_locmap_add(lm2, name, obj.data, obj.len, &err);
	is_int(rc, -EBADMSG, "an index object under another name: -EBADMSG");
	ok(strstr(err.msg, "do not hash to its name") != NULL, "  says so (%s)",
	   err.msg);
	obj.data[obj.len / 2] ^= 0x40;
	tl_write_file(tl_path(tl_path(dir, "repo"), key), obj.data, obj.len);
	bfs_locmap_free(lm2);
	lm2 = NULL;
	rc = bfs_locmap_new(&lm2, &err);
	if (!rc)
		rc = bfs_locmap_load(lm2, r, &err);
	is_int(rc, -EBADMSG, "a damaged index object: -EBADMSG");
	ok(strstr(err.msg, key) != NULL, "  naming it (%s)", err.msg);

	memset(bogus, 0x11, sizeof(bogus));
	rc = bfs_locmap_walk(lm, r, (const uint8_t(*)[BFS_HASH_LEN])bogus, 1,
			     seen_cb, &s, NULL, &err);
	is_int(rc, -ENOENT, "a root part in no index object: -ENOENT");
	ok(strstr(err.msg, "1111111111") != NULL, "  naming it (%s)", err.msg);
	memcpy(bogus[0], s.chunk, BFS_HASH_LEN);
	rc = bfs_locmap_walk(lm, r, (const uint8_t(*)[BFS_HASH_LEN])bogus, 1,
			     seen_cb, &s, NULL, &err);
	is_int(rc, -EUCLEAN, "a data blob as a tree part: -EUCLEAN (%s)",
	       err.msg);

	bfs_manifest2_clear(&man);
	bfs_buf_free(&m);
	bfs_buf_free(&obj);
	bfs_locmap_free(lm);
	bfs_locmap_free(lm2);
	bfs_repo_close(r);
	return tap_done();
}
