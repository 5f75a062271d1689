/* fuzz-pack.c - libFuzzer target: bfs_pack_parse_index over arbitrary
 * bytes, then every frame it accepts through bfs_zstd_decompress and the
 * hash check, as a reader would.  A second pass repairs the index
 * checksum first so the fuzzer gets past it to the entry checks.  Built
 * by scripts/fuzz. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/pack.h"

static void run(const uint8_t *data, size_t size)
{
	struct bfs_pack_entry *e;
	struct bfs_err err;
	size_t n;

	if (bfs_pack_parse_index(data, size, &e, &n, &err))
		return;
	for (size_t i = 0; i < n; i++) {
		uint8_t h[BFS_HASH_LEN];
		uint8_t *p;

		/* the parser promised these bounds */
		if (e[i].offset < BFS_PACK_HEADER || e[i].clen == 0 ||
		    e[i].offset + e[i].clen > size || e[i].len > (16u << 20))
			abort();
		p = malloc(e[i].len + 1);
		if (!p)
			break;
		if (bfs_zstd_decompress(p, e[i].len, data + e[i].offset,
					e[i].clen, &err) == 0)
			bfs_sha256(h, p, e[i].len);
		free(p);
	}
	free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	uint64_t io;

	run(data, size);
	if (size < BFS_PACK_HEADER + BFS_PACK_FOOTER)
		return 0;
	/* fix up the index hash when the footer points at a plausible index */
	io = bfs_get_le64(data + size - BFS_PACK_FOOTER);
	if (io > size - BFS_PACK_FOOTER)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	bfs_sha256(copy + size - BFS_PACK_FOOTER + 16, copy + io,
		   size - BFS_PACK_FOOTER - io);
	run(copy, size);
	free(copy);
	return 0;
}
