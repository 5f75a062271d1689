/* fuzz-import.c - libFuzzer target: what `backupfs import` parses from a
 * seed folder.  The input goes, as it is, to the streaming JSON splitter
 * (src/jsonsplit.h), fed in pieces whose size the first byte picks (so
 * records and escapes get cut anywhere), to the manifest.json parser and,
 * up to its first NUL, to the folder-name time parser (src/import.h).
 * The splitter's output is checked: one JSON line per record, no raw
 * newline inside one.  Built by scripts/fuzz (target "import"). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/import.h"
#include "src/jsonsplit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct count {
	uint64_t newlines;
};

static int count_write(void *arg, const void *data, size_t n,
		       struct bfs_err *err)
{
	struct count *c = arg;
	const uint8_t *p = data;
	size_t i;

	(void)err;
	for (i = 0; i < n; i++)
		c->newlines += p[i] == '\n';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bfs_import_meta m;
	struct bfs_jsplit *j = NULL;
	struct count c = {0};
	struct bfs_err err;
	size_t step = size ? (size_t)data[0] % 17 + 1 : 1, i, k;
	int64_t ns;
	char *s;
	int rc = 0;

	if (!bfs_jsplit_new(count_write, &c, &j)) {
		for (i = 0; i < size && !rc; i += k) {
			k = size - i < step ? size - i : step;
			rc = bfs_jsplit_feed(j, data + i, k, &err);
		}
		if (!rc)
			rc = bfs_jsplit_finish(j, &err);
		/* every record ends with the only newline it has */
		if (!rc && c.newlines != bfs_jsplit_records(j))
			abort();
		bfs_jsplit_free(j);
	}
	if (!bfs_import_meta_parse((const char *)data, size, &m, &err))
		bfs_import_meta_clear(&m);
	s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
		(void)bfs_import_time_from_name(s, &ns);
		free(s);
	}
	return 0;
}
