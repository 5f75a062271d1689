/* fuzz-exclude.c - libFuzzer target: --exclude patterns.  The input is
 * split at the first NUL byte into a pattern and a path (the path's
 * components are made valid: no empty ones, no leading '/'); the pattern
 * is compiled with and without a source root and matched against the
 * path, as a name and with every directory above it.  Built by
 * scripts/fuzz (target "exclude"). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/exclude.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t pl = nul ? (size_t)(nul - data) : size, i, o = 0;
	char *pat = malloc(pl + 1), *path = malloc(size - pl + 2);
	const char *pp[1];
	struct bfs_exclude *x = NULL;
	struct bfs_err err;

	if (!pat || !path)
		goto out;
	memcpy(pat, data, pl);
	pat[pl] = '\0';
	/* the path: bytes after the NUL, NULs dropped, '/' runs squeezed */
	for (i = pl + 1; i < size; i++) {
		char c = (char)data[i];

		if (!c || (c == '/' && (!o || path[o - 1] == '/')))
			continue;
		path[o++] = c;
	}
	while (o && path[o - 1] == '/')
		o--;
	if (!o)
		path[o++] = 'a';
	path[o] = '\0';
	pp[0] = pat;
	(void)bfs_exclude_valid(pat, &err);
	if (!bfs_exclude_new(pp, 1, NULL, &x, &err)) {
		(void)bfs_exclude_match(x, path, -1);
		(void)bfs_exclude_match(x, path, 1);
		(void)bfs_exclude_match_path(x, path, 0);
		bfs_exclude_free(x);
	}
	if (!bfs_exclude_new(pp, 1, "/srv/app", &x, &err)) {
		(void)bfs_exclude_match(x, path, 0);
		bfs_exclude_free(x);
	}
out:
	free(pat);
	free(path);
	return 0;
}
