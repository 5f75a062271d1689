/* restore_dt.c - the files of database.sql.d/: a dump's per-table view
 * (doc/FORMAT.md, "Dump maps") read back through its "dt" map.  Shared by
 * `cat`, `ls`, `restore` and the mount.  See restore.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "restore_int.h"

/* The map's location: ref as cat has it (0), or -EUCLEAN named. */
static int map_check_ref(const struct bfs_chunkref *ref,
			 const struct bfs_cat_entry *ce, const char *hex,
			 struct bfs_err *err)
{
	if (memcmp(ref->hash, ce->dt, BFS_HASH_LEN) != 0)
		return bfs_err_set(err, -EUCLEAN,
				   "dump map %s: located as another blob", hex);
	if (ref->len > BFS_TREE_PART_MAX)
		return bfs_err_set(err, -EUCLEAN,
				   "dump map %s is too large (%u bytes)", hex,
				   ref->len);
	return 0;
}

int bfs_dumpview_load(struct bfs_repo *repo, struct bfs_catalog *cat,
		      const struct bfs_cat_entry *ce, bfs_relocate_fn relocate,
		      void *arg, struct bfs_dumpmap **out, struct bfs_err *err)
{
	char hex[BFS_HASH_HEX + 1];
	struct bfs_chunkref ref, moved;
	struct bfs_err rerr = {""};
	uint8_t *plain = NULL;
	int rc;

	*out = NULL;
	if (ce->e.type != BFS_T_FILE || !ce->has_dt)
		return bfs_err_set(err, -ENOENT, "'%s' has no dump map",
				   ce->e.path ? ce->e.path : "");
	bfs_hex(hex, ce->dt, BFS_HASH_LEN);
	if (bfs_catalog_chunk_lookup(cat, ce->dt, &ref))
		return bfs_err_set(err, -EUCLEAN,
				   "dump map %s of '%s' is in no index object",
				   hex, ce->e.path ? ce->e.path : "");
	rc = map_check_ref(&ref, ce, hex, err);
	if (rc)
		return rc;
	plain = malloc(ref.len ? ref.len : 1);
	if (!plain)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = bfs_repo_read_chunk(repo, &ref, plain, err);
	/* its pack vanished (pruned): where is it now?  (the same length:
	 * the same blob, and plain holds that many bytes) */
	if (rc == -ENOENT && relocate &&
	    relocate(arg, ce->dt, ref.pack, &moved, &rerr) == 0 &&
	    map_check_ref(&moved, ce, hex, &rerr) == 0 && moved.len == ref.len)
		rc = bfs_repo_read_chunk(repo, &moved, plain, err);
	if (rc)
		goto out;
	rc = bfs_dumpmap_parse(plain, ref.len, ce->e.size, out, err);
	if (rc && rc != -ENOMEM)
		bfs_err_prefix(err, rc, "dump map %s", hex);
out:
	free(plain);
	return rc;
}

ssize_t bfs_dumpview_read(struct bfs_rfile *dump, const struct bfs_dumpmap *m,
			  size_t file, void *buf, size_t len, uint64_t off,
			  struct bfs_err *err)
{
	uint8_t *p = buf;
	size_t done = 0;
	uint64_t at, n;
	ssize_t got;

	while (done < len) {
		if (bfs_dumpmap_file_locate(m, file, off + done, &at, &n))
			break; /* end of the file */
		n = BFS_MIN(n, (uint64_t)(len - done));
		got = bfs_rfile_read(dump, p + done, (size_t)n, at, err);
		if (got < 0)
			return got;
		if ((uint64_t)got != n)
			return bfs_err_set(err, -EIO,
					   "the dump ends at byte %llu, its "
					   "map says it is longer",
					   (unsigned long long)(at + got));
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Split path "a/b.sql.d/NAME" (or "a/b.sql.d") into the dump's path and
 * the file's name (NULL for the directory).  0, or -ENOENT when path is
 * not below a NAME.d. */
static int split(const char *path, char **dump, const char **name)
{
	const char *slash, *d;
	size_t n;

	while (*path == '/')
		path++;
	n = strlen(path);
	while (n && path[n - 1] == '/')
		n--;
	*name = NULL;
	slash = memrchr(path, '/', n);
	d = path + n;
	if (n > 2 && !memcmp(d - 2, ".d", 2)) {
		n -= 2; /* the directory itself */
	} else if (slash && slash - path > 2 && !memcmp(slash - 2, ".d", 2) &&
		   slash + 1 < d && !memchr(slash + 1, '/', d - slash - 1)) {
		*name = slash + 1;
		n = (size_t)(slash - path) - 2;
	} else {
		return -ENOENT;
	}
	*dump = strndup(path, n);
	return *dump ? 0 : -ENOMEM;
}

int bfs_dumpview_resolve(struct bfs_repo *repo, struct bfs_catalog *cat,
			 int64_t root, const char *path, struct bfs_dumpview *v,
			 struct bfs_err *err)
{
	struct bfs_cat_entry ce;
	const char *name;
	char *dump = NULL;
	ssize_t fi;
	int rc;

	memset(v, 0, sizeof(*v));
	memset(&ce, 0, sizeof(ce));
	rc = split(path, &dump, &name);
	if (rc == -ENOMEM)
		return bfs_err_set(err, rc, "out of memory");
	if (rc)
		return bfs_err_set(err, -ENOENT, "no such file");
	rc = bfs_catalog_lookup_path(cat, root, dump, &ce, err);
	if (rc == 0 && ce.link_id) {
		int64_t id = ce.link_id;

		bfs_cat_entry_clear(&ce);
		rc = bfs_catalog_get(cat, id, &ce, err);
	}
	if (rc == -ENOTDIR || (rc == 0 && !ce.has_dt))
		rc = bfs_err_set(err, -ENOENT, "no such file");
	if (rc)
		goto out;
	rc = bfs_dumpview_load(repo, cat, &ce, NULL, NULL, &v->map, err);
	if (rc)
		goto out;
	v->dump_id = ce.id;
	v->file = -1;
	if (name) {
		fi = bfs_dumpmap_file_find(v->map, name);
		if (fi < 0) {
			rc = bfs_err_set(err, -ENOENT, "no such file");
			goto out;
		}
		v->file = fi;
	}
out:
	if (rc)
		bfs_dumpview_clear(v);
	bfs_cat_entry_clear(&ce);
	free(dump);
	return rc;
}

void bfs_dumpview_attr(const struct bfs_cat_entry *dump,
		       const struct bfs_dumpmap *m, ssize_t file,
		       struct bfs_cat_entry *out)
{
	uint32_t r = dump->e.mode & 0444;

	*out = *dump;
	out->link_id = 0;
	out->nchunks = 0;
	out->has_dt = false;
	out->e.link = NULL;
	out->e.link_len = 0;
	out->e.error = NULL;
	out->e.target = NULL;
	out->e.target_len = 0;
	if (file < 0) {
		out->e.type = BFS_T_DIR;
		out->e.mode = r | (r >> 2); /* x where r */
		out->e.size = 0;
		out->nlink = 2;
		return;
	}
	out->e.type = BFS_T_FILE;
	out->e.mode = r;
	out->e.path = (char *)bfs_dumpmap_file_name(m, (size_t)file);
	out->e.path_len = strlen(out->e.path);
	out->e.size = bfs_dumpmap_file_size(m, (size_t)file);
	out->nlink = 1;
}

void bfs_dumpview_clear(struct bfs_dumpview *v)
{
	if (!v)
		return;
	bfs_dumpmap_free(v->map);
	memset(v, 0, sizeof(*v));
}

int bfs_dumpview_cat_fd(struct bfs_repo *repo, struct bfs_catalog *cat,
			const struct bfs_dumpview *v, int fd,
			struct bfs_err *err)
{
	const size_t bufsz = 1u << 20;
	struct bfs_chunkref *refs = NULL;
	struct bfs_chunkcache *cc = NULL;
	struct bfs_reader *rd = NULL;
	struct bfs_rfile *f = NULL;
	uint64_t off = 0, size;
	uint8_t *buf = NULL;
	ssize_t got;
	size_t n = 0;
	int rc;

	if (v->file < 0)
		return bfs_err_set(err, -EISDIR, "is a directory");
	size = bfs_dumpmap_file_size(v->map, (size_t)v->file);
	rc = bfs_catalog_chunks(cat, v->dump_id, &refs, &n, err);
	if (rc < 0)
		return rc;
	rc = rst_check_chunk_sum(refs, n, v->map->size, "the dump", err);
	if (rc < 0)
		goto out;
	/* a cache of 64 MiB: the chunks a range shares with the next */
	buf = malloc(bufsz);
	rc = buf ? bfs_chunkcache_new(64u << 20, &cc) : -ENOMEM;
	if (!rc)
		rc = bfs_reader_create(repo, cc, NULL, &rd);
	if (rc < 0) {
		bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	rc = bfs_reader_open(rd, refs, n, v->map->size, &f, err);
	if (rc < 0)
		goto out;
	while (off < size) {
		got = bfs_dumpview_read(f, v->map, (size_t)v->file, buf,
					(size_t)BFS_MIN(bufsz, size - off), off,
					err);
		if (got <= 0) {
			rc = got < 0 ? (int)got
				     : bfs_err_set(err, -EIO, "short read");
			goto out;
		}
		rc = bfs_write_full(fd, buf, (size_t)got);
		if (rc) {
			bfs_err_set(err, rc, "cannot write output: %s",
				    strerror(-rc));
			goto out;
		}
		off += (uint64_t)got;
	}
	rc = 0;
out:
	bfs_rfile_close(f);
	bfs_reader_destroy(rd);
	bfs_chunkcache_free(cc);
	free(buf);
	free(refs);
	return rc;
}

/* Write view file i of v to dest (a new file unless force). */
static int restore_one(struct bfs_repo *repo, struct bfs_catalog *cat,
		       const struct bfs_dumpview *v, ssize_t i,
		       const char *dest, bool force, uint64_t *bytes,
		       struct bfs_err *err)
{
	struct bfs_dumpview one = *v;
	int fd, rc;

	one.file = i;
	fd = open(dest,
		  O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL),
		  0600);
	if (fd < 0)
		return bfs_err_set(err, -errno, "cannot create '%s': %s", dest,
				   strerror(errno));
	rc = bfs_dumpview_cat_fd(repo, cat, &one, fd, err);
	if (close(fd) && !rc)
		rc = bfs_err_set(err, -errno, "cannot write '%s': %s", dest,
				 strerror(errno));
	if (rc)
		bfs_err_prefix(err, rc, "'%s'", dest);
	else
		*bytes += bfs_dumpmap_file_size(v->map, (size_t)i);
	return rc;
}

int bfs_dumpview_restore(struct bfs_repo *repo, struct bfs_catalog *cat,
			 const struct bfs_dumpview *v, const char *path,
			 const char *target, bool as_target, bool force,
			 uint64_t *files, uint64_t *bytes, struct bfs_err *err)
{
	const char *base = strrchr(path, '/');
	struct bfs_buf dest = {0};
	struct stat st;
	size_t dlen, i;
	int rc = 0;

	*files = *bytes = 0;
	while (*path == '/')
		path++;
	base = base ? base + 1 : path;
	if (!as_target)
		rc = bfs_buf_printf(&dest, "%s/%s", target, path);
	else if (stat(target, &st) == 0 && S_ISDIR(st.st_mode) && v->file >= 0)
		rc = bfs_buf_printf(&dest, "%s/%s", target, base);
	else
		rc = bfs_buf_printf(&dest, "%s", target);
	if (rc)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	if (!as_target && (rc = bfs_mkdir_parents((char *)dest.data, 0755))) {
		rc = bfs_err_set(err, rc,
				 "cannot create the parents of '%s': %s",
				 (char *)dest.data, strerror(-rc));
		goto out;
	}
	if (v->file >= 0) {
		rc = restore_one(repo, cat, v, v->file, (char *)dest.data,
				 force, bytes, err);
		*files = rc ? 0 : 1;
		goto out;
	}
	if (mkdir((char *)dest.data, 0700) && errno != EEXIST) {
		rc = bfs_err_set(err, -errno, "cannot create '%s': %s",
				 (char *)dest.data, strerror(errno));
		goto out;
	}
	dlen = dest.len;
	for (i = 0; i < bfs_dumpmap_nfiles(v->map) && !rc; i++) {
		dest.len = dlen;
		rc = bfs_buf_printf(&dest, "/%s",
				    bfs_dumpmap_file_name(v->map, i));
		if (rc) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		rc = restore_one(repo, cat, v, (ssize_t)i, (char *)dest.data,
				 force, bytes, err);
		if (!rc)
			(*files)++;
	}
out:
	bfs_buf_free(&dest);
	return rc;
}
