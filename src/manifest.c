/* manifest.c - what the manifest writer and reader share: entry types,
 * path rules, freeing entries and headers.  The writer is in
 * manifest_write.c, the reader in manifest_read.c, the JSON pieces of
 * both in manifest_json.c.
 */
#include "config.h"

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
