/* fuzz-dumpmap.c - libFuzzer target: the dump scanner and the "dt" map
 * reader (src/dumpmap.h).  The first byte picks the mode: even, the rest
 * is a dump, fed in pieces of (byte / 2 + 1) bytes; a map it makes must
 * cover the input without gaps, encode, and read back as the same map.
 * Odd, the rest is a stored map read for a file of 4096 bytes; a map read
 * must give files whose sizes add up.  Built by scripts/fuzz (target
 * "dumpmap"). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/dumpmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_files(const struct bfs_dumpmap *m)
{
	uint64_t tab = 0, pre = 0, n, doff;
	size_t i, j;

	for (j = 0; j < m->nranges; j++) {
		if (m->ranges[j].cls == BFS_DC_PRE ||
		    m->ranges[j].cls == BFS_DC_POST)
			pre += m->ranges[j].len;
		else
			tab += m->ranges[j].len;
	}
	n = 0;
	for (i = 0; i < bfs_dumpmap_nfiles(m); i++) {
		n += bfs_dumpmap_file_size(m, i) - pre;
		if (!bfs_dumpmap_file_name(m, i)[0])
			abort();
		if (bfs_dumpmap_file_locate(m, i, bfs_dumpmap_file_size(m, i),
					    &doff, &doff) != -ENXIO)
			abort();
	}
	if (n != tab)
		abort(); /* every non-shared byte in exactly one file */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bfs_dumpmap *m = NULL, *m2 = NULL;
	struct bfs_dumpscan *s = NULL;
	struct bfs_buf js = {0};
	struct bfs_err err;
	size_t piece, o;
	uint64_t off = 0;

	if (!size)
		return 0;
	if (data[0] & 1) {
		if (!bfs_dumpmap_parse(data + 1, size - 1, 4096, &m, &err))
			check_files(m);
		goto out;
	}
	piece = data[0] / 2 + 1;
	data++;
	size--;
	if (bfs_dumpscan_new(&s))
		goto out;
	for (o = 0; o < size; o += piece)
		bfs_dumpscan_feed(s, data + o,
				  size - o < piece ? size - o : piece);
	if (bfs_dumpscan_finish(s, &m, &err))
		goto out;
	for (o = 0; o < m->nranges; o++) {
		if (m->ranges[o].off != off || !m->ranges[o].len)
			abort();
		off += m->ranges[o].len;
	}
	if (off != size || m->size != size)
		abort();
	/* a map that does not read back (e.g. two tables whose names make
	 * one file name cannot: names are escaped injectively) is a bug */
	if (bfs_dumpmap_encode(m, &js) ||
	    bfs_dumpmap_parse(js.data, js.len, size, &m2, &err))
		abort();
	if (m2->nranges != m->nranges || m2->ntables != m->ntables)
		abort();
	check_files(m2);
out:
	bfs_buf_free(&js);
	bfs_dumpmap_free(m);
	bfs_dumpmap_free(m2);
	bfs_dumpscan_free(s);
	return 0;
}
