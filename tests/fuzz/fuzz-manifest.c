/* fuzz-manifest.c - libFuzzer target: the manifest reader over arbitrary
 * bytes.  The input is taken as a compressed manifest as is; when it does
 * not start with a zstd frame it is also compressed first, so that the
 * fuzzer reaches the JSON Lines parser (most mutations of compressed data
 * die in zstd).  Built by scripts/fuzz. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "src/manifest.h"

static void run(const uint8_t *data, size_t size)
{
	struct bfs_manifest_reader *r;
	struct bfs_err err;
	struct bfs_entry e;
	const struct bfs_chunkref *c;
	const struct bfs_manifest_header *h;
	const char *line;
	size_t nc, n = 0, hlen;
	int rc;

	if (bfs_manifest_reader_new(data, size, &r, &err))
		return;
	h = bfs_manifest_reader_header(r);
	line = bfs_manifest_reader_header_line(r, &hlen);
	/* the header line is kept whole and its sources are a copy of it */
	if (!line || strlen(line) != hlen || !h->sources_json ||
	    !strstr(line, h->sources_json))
		abort();
	while ((rc = bfs_manifest_reader_next(r, &e, &c, &nc, &err)) == 1) {
		/* touch what the caller would */
		n += e.path_len + (e.target ? e.target_len : 0) + nc;
		for (size_t i = 0; i < nc; i++)
			n += c[i].len;
		if (e.path[e.path_len] != '\0')
			abort();
	}
	bfs_manifest_reader_free(r);
	(void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t bound;
	uint8_t *z;

	run(data, size);
	if (size >= 4 && data[0] == 0x28 && data[1] == 0xb5)
		return 0;
	bound = ZSTD_compressBound(size);
	z = malloc(bound);
	if (!z)
		return 0;
	bound = ZSTD_compress(z, bound, data, size, 1);
	if (!ZSTD_isError(bound))
		run(z, bound);
	free(z);
	return 0;
}
