/* read.c - file contents: a thin FUSE adapter over the read engine
 * (src/reader.h).  open asks the catalog for the entry and its chunk list
 * once per handle and opens a reader file; read pins the range in the
 * chunk cache and replies straight from the cached buffers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "fuse/mount_int.h"
#include "src/log.h"

/* An open file. */
struct fh {
	struct mnt_handle h; /* first: on the mount's ring while open */
	int64_t id;	     /* entry carrying the data */
	struct bfs_rfile *rf;
};

static void fh_free(struct fh *f)
{
	if (!f)
		return;
	bfs_rfile_close(f->rf);
	free(f);
}

static void fh_free_handle(struct bfs_mount *m, struct mnt_handle *h)
{
	(void)m;
	fh_free((struct fh *)(void *)h);
}

/* Look hash up in cat: 0 when it is in a pack other than gone. */
static int lookup_moved(struct bfs_catalog *cat,
			const uint8_t hash[BFS_HASH_LEN],
			const uint8_t gone[BFS_HASH_LEN],
			struct bfs_chunkref *out)
{
	int rc = bfs_catalog_chunk_lookup(cat, hash, out);

	if (rc == 0 && !memcmp(out->pack, gone, BFS_HASH_LEN))
		rc = -ENOENT;
	return rc;
}

int mnt_locate(void *arg, const uint8_t id[BFS_HASH_LEN],
	       struct bfs_chunkref *out)
{
	struct bfs_mount *m = arg;
	MNT_CAT_SCOPE(m, cat);

	if (!cat)
		return -EIO;
	return bfs_catalog_chunk_lookup(cat, id, out);
}

int mnt_relocate(void *arg, const uint8_t hash[BFS_HASH_LEN],
		 const uint8_t gone[BFS_HASH_LEN], struct bfs_chunkref *out,
		 struct bfs_err *err)
{
	struct bfs_mount *m = arg;
	MNT_CAT_SCOPE(m, cat);
	char hex[BFS_HASH_HEX + 1], phex[BFS_HASH_HEX + 1];
	char nhex[BFS_HASH_HEX + 1];
	bool again = false;
	int rc = -ENOENT;

	/* The sync thread, or another reader, may have resynced already. */
	if (cat)
		rc = lookup_moved(cat, hash, gone, out);
	if (rc) {
		pthread_mutex_lock(&m->reloc.lock);
		rc = 0;
		if (!m->reloc.cat)
			rc = bfs_catalog_open(m->catalog_path, m->repo_id,
					      false, &m->reloc.cat, err);
		/* a resync just before ours may have found it; at most one
		 * resync a second (a damaged pack would ask for every
		 * chunk) */
		if (!rc && lookup_moved(m->reloc.cat, hash, gone, out)) {
			bfs_reader_resync_wait(&m->reloc.last_ns);
			rc = bfs_catalog_sync_index(m->reloc.cat, m->repo, err);
			if (!rc)
				rc = bfs_catalog_chunk_lookup(m->reloc.cat,
							      hash, out);
			/* still in gone after the resync: what vanished may
			 * have been the pack of its delta base (FORMAT.md
			 * section 18), which the resync located again:
			 * read it once more */
			again = !rc && !memcmp(out->pack, gone, BFS_HASH_LEN);
		}
		pthread_mutex_unlock(&m->reloc.lock);
	}
	bfs_hex(hex, hash, BFS_HASH_LEN);
	bfs_hex(phex, gone, BFS_HASH_LEN);
	if (rc) {
		/* the read fails with EIO, logged once per file by the read
		 * path with the reader's message */
		bfs_debug("chunk %s: pack %s is gone and the repository's "
			  "index names the chunk nowhere else: %s",
			  hex, phex, bfs_err_str(err, rc));
		return rc;
	}
	if (again) {
		bfs_debug("chunk %s: pack %s failed to give it and the "
			  "repository's index still names it there; reading "
			  "it again (its delta base may have moved)",
			  hex, phex);
		return 0;
	}
	bfs_hex(nhex, out->pack, BFS_HASH_LEN);
	bfs_debug("chunk %s: pack %s is gone (pruned), reading it from "
		  "pack %s",
		  hex, phex, nhex);
	return 0;
}

void mnt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bfs_mount *m = fuse_req_userdata(req);
	MNT_CAT_SCOPE(m, cat);
	struct bfs_cat_entry e = {0};
	struct bfs_err err = {""};
	struct bfs_chunkref *chunks = NULL;
	struct fh *f = NULL;
	char path[1024];
	size_t n = 0;
	int64_t id;
	int rc;

	if (mnt_dt_ino(ino)) {
		mnt_dt_open(req, ino, fi);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (!cat) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (ino == BFS_INO_LATEST || mnt_jobs_is_link(ino)) {
		fuse_reply_err(req, ELOOP);
		return;
	}
	if (mnt_jobs_ino(ino)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	id = (int64_t)ino - BFS_INO_BASE;
	rc = bfs_catalog_get(cat, id, &e, &err);
	if (rc == 0 && e.link_id && e.link_id != e.id) {
		id = e.link_id;
		bfs_cat_entry_clear(&e);
		rc = bfs_catalog_get(cat, id, &e, &err);
	}
	if (rc < 0) {
		if (rc != -ENOENT)
			bfs_err_log("catalog: cannot get entry %lld: %s",
				    (long long)id, bfs_err_str(&err, rc));
		fuse_reply_err(req, mnt_errno(rc));
		return;
	}
	if (e.e.type == BFS_T_DIR) {
		rc = -EISDIR;
		goto out_err;
	}
	if (e.e.type != BFS_T_FILE) {
		rc = -EINVAL;
		goto out_err;
	}
	if (e.e.error) {
		mnt_entry_path(cat, id, path, sizeof(path));
		bfs_warn("cannot open '%s': it was unreadable at backup time: "
			 "%s",
			 path, e.e.error);
		rc = -EIO;
		goto out_err;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		rc = -ENOMEM;
		goto out_err;
	}
	f->id = id;
	rc = bfs_catalog_chunks(cat, id, &chunks, &n, &err);
	if (rc == 0)
		rc = bfs_reader_open(m->reader, chunks, n, e.e.size, &f->rf,
				     &err);
	free(chunks);
	if (rc < 0) {
		if (rc == -ENOMEM)
			goto out_err;
		mnt_entry_path(cat, id, path, sizeof(path));
		bfs_err_log("cannot open '%s': chunk list: %s", path,
			    bfs_err_str(&err, rc));
		rc = -EIO;
		goto out_err;
	}
	if (bfs_rfile_covered(f->rf) != e.e.size) {
		/* Reads past the covered bytes fail with EIO. */
		mnt_entry_path(cat, id, path, sizeof(path));
		bfs_err_log("'%s': chunks cover %llu bytes but the size is "
			    "%llu",
			    path, (unsigned long long)bfs_rfile_covered(f->rf),
			    (unsigned long long)e.e.size);
	}
	bfs_cat_entry_clear(&e);
	fi->keep_cache = 1; /* contents never change */
	mnt_reply_open(m, req, fi, &f->h, fh_free_handle);
	return;

out_err:
	bfs_cat_entry_clear(&e);
	fh_free(f);
	fuse_reply_err(req, rc == -EISDIR   ? EISDIR
			    : rc == -EINVAL ? EINVAL
					    : mnt_errno(rc));
}

void mnt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (mnt_dt_ino(ino)) {
		mnt_dt_release(req, fi);
		return;
	}
	struct fh *f = (struct fh *)(uintptr_t)fi->fh;

	mnt_handle_del(fuse_req_userdata(req), &f->h);
	fh_free(f);
	fuse_reply_err(req, 0);
}

/* One log line per handle: backup, path, and the engine's message (which
 * names the chunk and its pack). */
static void log_read_error(struct bfs_mount *m, struct fh *f, uint64_t off,
			   int rc, const struct bfs_err *err)
{
	struct bfs_catalog *cat;
	char path[1024];

	if (!bfs_rfile_first_error(f->rf))
		return;
	cat = mnt_cat_get(m);
	if (cat)
		mnt_entry_path(cat, f->id, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "entry %lld", (long long)f->id);
	mnt_cat_put(m);
	bfs_err_log("cannot read '%s' at %llu: %s", path,
		    (unsigned long long)off, bfs_err_str(err, rc));
}

void mnt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct bfs_mount *m = fuse_req_userdata(req);
	struct fh *f = (struct fh *)(uintptr_t)fi->fh;
	struct bfs_err err = {""};
	struct bfs_rview v;
	ssize_t got;

	if (mnt_dt_ino(ino)) {
		mnt_dt_read(req, size, off, fi);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	got = bfs_rfile_view(f->rf, (uint64_t)off, size, &v, &err);
	if (got < 0) {
		log_read_error(m, f, (uint64_t)off, (int)got, &err);
		fuse_reply_err(req, got == -ENOMEM ? ENOMEM : EIO);
		return;
	}
	if (got == 0)
		fuse_reply_buf(req, NULL, 0);
	else if (v.n == 1)
		fuse_reply_buf(req, v.iov[0].iov_base, v.iov[0].iov_len);
	else
		fuse_reply_iov(req, v.iov, (int)v.n);
	bfs_rview_release(&v);
}
