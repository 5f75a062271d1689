/* fuzz-pack.c - libFuzzer target: bfs_pack_parse_index over arbitrary
 * bytes, then every frame it accepts through bfs_zstd_decompress and the
 * hash check, as a reader would.  A second pass repairs the index
 * checksum first so the fuzzer gets past it to the entry checks.  The
 * input's tails also go through bfs_pack_parse_tail (check reads only a
 * pack's index region), which must agree with the whole-pack parse.
 * Built by scripts/fuzz. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/pack.h"

/* The tail parser on the last bytes of data: where it accepts, the whole
 * pack parser must accept the same entries (when the magic is a known
 * one; the tail parser does not see it). */
static void run_tail(const uint8_t *data, size_t size)
{
	struct bfs_pack_entry *e = NULL, *w = NULL;
	size_t n = 0, nw = 0;
	uint64_t need = 0;
	int rc;

	if (size < BFS_PACK_FOOTER)
		return;
	rc = bfs_pack_parse_tail(NULL, size, data, size, &e, &n, &need, NULL);
	if (rc == 0 && size >= BFS_PACK_MIN_SIZE &&
	    bfs_pack_parse_index(data, size, &w, &nw, NULL) == 0) {
		if (n != nw)
			abort();
		for (size_t i = 0; i < n; i++)
			if (e[i].offset != w[i].offset ||
			    e[i].clen != w[i].clen)
				abort();
	}
	free(e);
	free(w);
	/* the footer alone: accepted only without entries, else -ENODATA
	 * with a need that fits the pack */
	rc = bfs_pack_parse_tail(NULL, size, data + size - BFS_PACK_FOOTER,
				 BFS_PACK_FOOTER, &e, &n, &need, NULL);
	if (rc == 0)
		free(e);
	else if (rc == -ENODATA && (need <= BFS_PACK_FOOTER || need > size))
		abort();
}

static void run(const uint8_t *data, size_t size)
{
	struct bfs_pack_entry *e;
	struct bfs_err err;
	size_t n;

	run_tail(data, size);
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
