/* manifest.c - what the manifest writer and reader share: entry types,
 * path rules, freeing entries and headers.  The writer is in
 * manifest_write.c, the reader in manifest_read.c, the JSON pieces of
 * both in manifest_json.c.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

/* ---- shared helpers ---------------------------------------------------- */

/* True if t is one of enum bfs_type.  Thread-safe. */
bool bfs_manifest_type_valid(int t)
{
	switch (t) {
	case BFS_T_FILE:
	case BFS_T_DIR:
	case BFS_T_SYMLINK:
	case BFS_T_FIFO:
	case BFS_T_CHR:
	case BFS_T_BLK:
	case BFS_T_SOCK:
		return true;
	default:
		return false;
	}
}

/*
 * True if p[0..n) is a path as manifests carry it: non-empty, relative,
 * components separated by single '/', none empty, "." or "..", no NUL.
 * Thread-safe.
 */
bool bfs_manifest_path_valid(const char *p, size_t n)
{
	size_t i, start = 0;

	if (!p || n == 0)
		return false;
	for (i = 0; i <= n; i++) {
		size_t clen;

		if (i < n && p[i] == '\0')
			return false;
		if (i < n && p[i] != '/')
			continue;
		clen = i - start;
		if (clen == 0)
			return false;
		if (clen == 1 && p[start] == '.')
			return false;
		if (clen == 2 && p[start] == '.' && p[start + 1] == '.')
			return false;
		start = i + 1;
	}
	return true;
}

/* Frees the strings of an entry the caller filled (not one returned by a
 * reader, whose strings are borrowed) and zeroes it.  NULL ok. */
void bfs_entry_clear(struct bfs_entry *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->user);
	free(e->group);
	free(e->target);
	free(e->link);
	free(e->error);
	memset(e, 0, sizeof(*e));
}

/* Frees what a header owns and zeroes it.  NULL ok.  Do not call it on
 * the reader's header (borrowed). */
void bfs_manifest_header_clear(struct bfs_manifest_header *h)
{
	if (!h)
		return;
	free(h->id);
	free(h->host);
	free(h->job);
	if (h->tags) {
		for (char **t = h->tags; *t; t++)
			free(*t);
		free(h->tags);
	}
	free(h->sources_json);
	memset(h, 0, sizeof(*h));
}

static int put_u64(struct bfs_buf *b, uint64_t v)
{
	return bfs_buf_append(b, &v, sizeof(v));
}

static int put_str(struct bfs_buf *b, const char *s, size_t n)
{
	if (!s)
		return put_u64(b, UINT64_MAX);
	return put_u64(b, n) || bfs_buf_append(b, s, n) ? -ENOMEM : 0;
}

int bfs_entry_digest_fields(struct bfs_buf *b, const struct bfs_entry *e,
			    const char *path, size_t path_len, unsigned flags)
{
	b->len = 0;
	if (put_str(b, path, path_len) || put_u64(b, (uint64_t)e->type) ||
	    put_u64(b, e->mode & BFS_MODE_MASK) || put_u64(b, e->uid) ||
	    put_u64(b, e->gid) ||
	    put_str(b, (flags & BFS_DIGEST_NO_USER) ? NULL : e->user,
		    e->user ? strlen(e->user) : 0) ||
	    put_str(b, (flags & BFS_DIGEST_NO_GROUP) ? NULL : e->group,
		    e->group ? strlen(e->group) : 0) ||
	    put_u64(b, (uint64_t)e->mtime_ns) ||
	    put_u64(b, (uint64_t)e->ctime_ns) || put_u64(b, e->ino) ||
	    put_u64(b, e->size) || put_str(b, e->target, e->target_len) ||
	    put_u64(b, e->rdev) || put_str(b, e->link, e->link_len) ||
	    put_u64(b, e->sparse) ||
	    put_str(b, e->error, e->error ? strlen(e->error) : 0))
		return -ENOMEM;
	return 0;
}
