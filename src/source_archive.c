/* source_archive.c - --archive [DEST=]FILE: tar, tar.gz, tar.zst, zip and
 * whatever else libarchive reads, unpacked into the backup under DEST.
 *
 * Archive paths are untrusted: leading "/" and "./" are stripped, empty
 * and "." components dropped, and an entry with a ".." component or a
 * component longer than BFS_NAME_MAX bytes is skipped with a warning.  A later
 * entry with the path of an earlier file (tar appends) is skipped with a
 * warning: the first one is kept. A corrupt or unreadable archive fails the
 * source (libarchive's message, naming the file).  ARCHIVE_* codes are
 * translated here only.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "exclude.h"
#include "format.h" /* BFS_NAME_MAX */
#include "source_int.h"

#define READ_BUF (1u << 20)

/* The length of the longest component of path p (for the message of a
 * name past BFS_NAME_MAX, in the words the tree reader uses). */
static size_t longest_name(const char *p)
{
	size_t best = 0, n;

	while (*p) {
		n = strcspn(p, "/");
		if (n > best)
			best = n;
		p += n;
		p += *p == '/';
	}
	return best;
}

/* Normalise an archive path into out as "DEST/clean".  Returns 1 if
 * usable, 0 if it is the archive root (nothing to add), -EINVAL for a
 * ".." component, -ENAMETOOLONG for a component longer than
 * BFS_NAME_MAX (the format's limit: the backup could not be committed),
 * -ENOMEM. */
static int norm_path(const char *dest, const char *p, struct bfs_buf *out)
{
	const char *c, *end;
	size_t n;

	out->len = 0;
	if (bfs_buf_append(out, dest, strlen(dest)))
		return -ENOMEM;
	for (c = p; *c;) {
		while (*c == '/')
			c++;
		end = strchr(c, '/');
		if (!end)
			end = c + strlen(c);
		n = (size_t)(end - c);
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return -EINVAL;
		if (n > BFS_NAME_MAX)
			return -ENAMETOOLONG;
		if (n && !(n == 1 && c[0] == '.')) {
			if (bfs_buf_append(out, "/", 1) ||
			    bfs_buf_append(out, c, n))
				return -ENOMEM;
		}
		c = end;
	}
	if (bfs_buf_append(out, "", 1))
		return -ENOMEM;
	out->len--;
	return out->len > strlen(dest) ? 1 : 0;
}

static int arch_fail(struct archive *a, const char *file, struct bfs_err *err)
{
	const char *m = archive_error_string(a);
	int code = archive_errno(a);

	if (code <= 0)
		code = EIO;
	if (code == ENOENT || code == EACCES || code == EISDIR)
		return bfs_err_set(err, -code, "cannot read archive '%s': %s",
				   file, m ? m : strerror(code));
	return bfs_err_set(err, -EIO, "cannot read archive '%s': %s", file,
			   m ? m : "unknown error");
}

static int add_file(struct bfs_backup *b, struct archive *a, const char *file,
		    struct bfs_entry *e, uint8_t *buf, struct bfs_err *err)
{
	la_ssize_t n;
	int rc;

	rc = bfs_backup_file_begin(b, e, BFS_PROFILE_FILES, err);
	if (rc)
		return rc;
	for (;;) {
		n = archive_read_data(a, buf, READ_BUF);
		if (n == 0)
			break;
		if (n < 0) {
			if (n == ARCHIVE_WARN || n == ARCHIVE_RETRY)
				continue;
			bfs_backup_file_cancel(b);
			rc = arch_fail(a, file, err);
			return bfs_err_prefix(err, rc, "entry '%s'", e->path);
		}
		rc = bfs_backup_file_write(b, buf, (size_t)n, err);
		if (rc) {
			bfs_backup_file_cancel(b);
			return rc;
		}
	}
	return bfs_backup_file_end(b, err);
}

/* Unpack file into b under dest (see bfs_source_archive); excludes and
 * exclude_hits as struct bfs_source's. */
static int archive_unpack(struct bfs_backup *b, const char *dest,
			  const char *file, const char *const *excludes,
			  uint64_t *exclude_hits, bool strict,
			  struct bfs_err *err)
{
	struct archive *a;
	struct archive_entry *ae;
	struct bfs_buf path = {0}, link = {0};
	struct bfs_entry e;
	const char *p, *hl;
	char *real = NULL;
	uint8_t *buf = NULL;
	struct bfs_exclude *ex = NULL;
	size_t i, nx = 0;
	int r, rc, t;

	a = archive_read_new();
	buf = malloc(READ_BUF);
	if (!a || !buf) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	archive_read_support_filter_all(a);
	/* every format but mtree: any text parses as an mtree spec (a
	 * file of notes became a backup of bogus entries), and its
	 * contents= keyword reads files of this host */
	archive_read_support_format_7zip(a);
	archive_read_support_format_ar(a);
	archive_read_support_format_cab(a);
	archive_read_support_format_cpio(a);
	archive_read_support_format_empty(a);
	archive_read_support_format_iso9660(a);
	archive_read_support_format_lha(a);
	archive_read_support_format_rar(a);
	archive_read_support_format_rar5(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_warc(a);
	archive_read_support_format_xar(a);
	archive_read_support_format_zip(a);
	if (archive_read_open_filename(a, file, 1 << 20) != ARCHIVE_OK) {
		rc = arch_fail(a, file, err);
		goto out_free;
	}
	real = realpath(file, NULL);
	while (excludes && excludes[nx])
		nx++;
	/* patterns are relative to the archive's root: nothing to strip */
	rc = nx ? bfs_exclude_new(excludes, nx, NULL, &ex, err) : 0;
	if (rc)
		goto out_free;
	{
		struct bfs_buf key = {0};

		rc = bfs_buf_printf(&key, "archive:%s:%s", dest,
				    real ? real : file);
		if (!rc)
			rc = bfs_buf_append(&key, "", 1);
		if (!rc)
			rc = bfs_backup_add_source(b, "archive", dest, file,
						   (char *)key.data, err);
		else
			rc = bfs_err_set(err, rc, "out of memory");
		bfs_buf_free(&key);
		if (rc)
			goto out_free;
	}

	for (;;) {
		r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_RETRY)
			continue;
		if (r < ARCHIVE_WARN) {
			rc = arch_fail(a, file, err);
			goto out_free;
		}
		if (r == ARCHIVE_WARN)
			bfs_warn("archive '%s': %s", file,
				 archive_error_string(a)
				     ? archive_error_string(a)
				     : "warning");
		p = archive_entry_pathname(ae);
		if (!p) {
			bfs_warn("archive '%s': skipping an entry without a "
				 "usable name",
				 file);
			continue;
		}
		rc = norm_path(dest, p, &path);
		if (strict && (rc == -EINVAL || *p == '/')) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "archive '%s': entry '%s' has %s",
					 file, p,
					 *p == '/' ? "an absolute name"
						   : "a '..' component");
			goto out_free;
		}
		if (rc == -EINVAL) {
			bfs_warn("archive '%s': skipping '%s' (path with '..')",
				 file, p);
			continue;
		}
		if (rc == -ENAMETOOLONG) {
			bfs_warn("archive '%s': skipping '%.300s...' (a name "
				 "of %zu bytes (at most %d))",
				 file, p, longest_name(p), BFS_NAME_MAX);
			continue;
		}
		if (rc < 0) {
			rc = bfs_err_set(err, rc, "out of memory");
			goto out_free;
		}
		if (rc == 0)
			continue; /* the archive's own root ("./") */
		/* excluded, or below an excluded directory (an archive lists
		 * its entries flat) */
		if (ex && bfs_exclude_match_path(
			      ex, (const char *)path.data + strlen(dest) + 1,
			      archive_entry_filetype(ae) == AE_IFDIR))
			continue;

		memset(&e, 0, sizeof(e));
		e.path = (char *)path.data;
		e.path_len = path.len;
		e.mode = archive_entry_perm(ae) & 07777;
		e.uid = (uint32_t)archive_entry_uid(ae);
		e.gid = (uint32_t)archive_entry_gid(ae);
		e.user = (char *)archive_entry_uname(ae);
		e.group = (char *)archive_entry_gname(ae);
		if (e.user && !*e.user)
			e.user = NULL;
		if (e.group && !*e.group)
			e.group = NULL;
		if (archive_entry_mtime_is_set(ae))
			e.mtime_ns =
			    (int64_t)archive_entry_mtime(ae) * 1000000000 +
			    archive_entry_mtime_nsec(ae);
		else
			e.mtime_ns = bfs_backup_time_ns(b);
		hl = archive_entry_hardlink(ae);
		t = archive_entry_filetype(ae);
		rc = 0;
		if (hl) {
			r = norm_path(dest, hl, &link);
			if (r <= 0) {
				bfs_warn("archive '%s': skipping hardlink '%s' "
					 "to '%s'",
					 file, p, hl);
				continue;
			}
			e.type = BFS_T_FILE;
			e.link = (char *)link.data;
			e.link_len = link.len;
			rc = bfs_backup_add(b, &e, err);
			if (rc == -EINVAL || rc == -EEXIST ||
			    rc == -ENAMETOOLONG) {
				bfs_warn("archive '%s': skipping '%s': %s",
					 file, p, bfs_err_str(err, rc));
				continue;
			}
		} else if (t == AE_IFREG) {
			e.type = BFS_T_FILE;
			rc = add_file(b, a, file, &e, buf, err);
			if (rc == -EEXIST || rc == -ENOTDIR ||
			    rc == -ENAMETOOLONG) {
				bfs_warn("archive '%s': skipping '%s': %s",
					 file, p, bfs_err_str(err, rc));
				continue;
			}
		} else {
			switch (t) {
			case AE_IFDIR:
				e.type = BFS_T_DIR;
				break;
			case AE_IFLNK:
				e.type = BFS_T_SYMLINK;
				break;
			case AE_IFIFO:
				e.type = BFS_T_FIFO;
				break;
			case AE_IFCHR:
				e.type = BFS_T_CHR;
				break;
			case AE_IFBLK:
				e.type = BFS_T_BLK;
				break;
			case AE_IFSOCK:
				e.type = BFS_T_SOCK;
				break;
			default:
				bfs_warn("archive '%s': skipping '%s' (unknown "
					 "type)",
					 file, p);
				continue;
			}
			if (e.type == BFS_T_SYMLINK) {
				e.target = (char *)archive_entry_symlink(ae);
				if (!e.target)
					e.target = (char *)"";
				e.target_len = strlen(e.target);
			}
			if (e.type == BFS_T_CHR || e.type == BFS_T_BLK)
				e.rdev = archive_entry_rdev(ae);
			rc = bfs_backup_add(b, &e, err);
			if (rc == -EEXIST || rc == -ENOTDIR ||
			    rc == -ENAMETOOLONG) {
				bfs_warn("archive '%s': skipping '%s': %s",
					 file, p, bfs_err_str(err, rc));
				continue;
			}
		}
		if (rc)
			goto out_free;
	}
	rc = 0;
	if (ex && exclude_hits)
		for (i = 0; i < nx; i++)
			exclude_hits[i] += bfs_exclude_hits(ex, i);
out_free:
	bfs_exclude_free(ex);
	if (a)
		archive_read_free(a);
	bfs_buf_free(&path);
	bfs_buf_free(&link);
	free(buf);
	free(real);
	return rc;
}

static int archive_run(struct bfs_backup *b, const struct bfs_source *s,
		       struct bfs_err *err)
{
	const char *file;
	char *dest = NULL;
	int rc;

	rc = bfs_source_split(s->arg, "files", &dest, &file, err);
	if (!rc)
		rc = archive_unpack(b, dest, file, s->excludes, s->exclude_hits,
				    false, err);
	free(dest);
	return rc;
}

int bfs_source_archive(struct bfs_backup *b, const char *dest, const char *file,
		       bool strict, struct bfs_err *err)
{
	return archive_unpack(b, dest, file, NULL, NULL, strict, err);
}

static int archive_dest(const struct bfs_source *s, char **dest,
			struct bfs_err *err)
{
	const char *rest;

	return bfs_source_split(s->arg, "files", dest, &rest, err);
}

const struct bfs_source_type bfs_source_type_archive = {
    .kind = BFS_SRC_ARCHIVE,
    .name = "archive",
    .dest = archive_dest,
    .run = archive_run,
};
