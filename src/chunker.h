/* chunker.h - content-defined chunking (FastCDC-style gear hash with
 * normalised chunking).  Stateless and deterministic: the same bytes and
 * parameters always give the same cut points, on every machine.
 */
#ifndef BFS_CHUNKER_H
#define BFS_CHUNKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h" /* BFS_CHUNK_MIN_LIMIT, BFS_CHUNK_MAX_LIMIT */

struct bfs_chunker_params {
	uint32_t min; /* no cut before min bytes (except at EOF) */
	uint32_t avg; /* power of two: expected chunk size */
	uint32_t max; /* always cut at max bytes */
};

/* True if min <= avg <= max, avg a power of two, within the limits. */
bool bfs_chunker_params_valid(const struct bfs_chunker_params *p);

/* Find the first cut point in buf[0..n).  Returns the chunk length
 * (1..max) or 0 when no cut is found yet and more input is needed
 * (n < max and !eof).  With eof, returns n if no earlier cut (n <= max),
 * and 0 only when n == 0. */
size_t bfs_chunker_cut(const struct bfs_chunker_params *p, const uint8_t *buf,
		       size_t n, bool eof);

/* The 256-entry gear table (FORMAT.md section 3), also the rolling hash
 * of resemblance sketches (delta.h).  Static, read-only. */
const uint64_t *bfs_chunker_gear(void);

#endif
