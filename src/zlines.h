/* zlines.h - lines of zstd-compressed text read as a stream (untrusted
 * input): memory is the longest line, never the size a frame claims.
 * Used by the manifest reader (manifest_read.c) and the index object
 * parser (tree_obj.c).
 */
#ifndef BFS_ZLINES_H
#define BFS_ZLINES_H

#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "util.h"

/* One reader; its fields are private to zlines.c but for line/lineno. */
struct bfs_zlines {
	ZSTD_DCtx *dz;
	ZSTD_inBuffer in;	/* the compressed text (borrowed) */
	size_t zret;		/* last ZSTD_decompressStream result:
				   0 = at a frame boundary */
	uint64_t total;		/* decompressed bytes so far */
	uint64_t max_total;	/* cap on total */
	size_t max_line;	/* cap on one line, without the '\n' */
	const char *noun;	/* "manifest", "index object" (static) */
	char *buf;		/* decompressed window */
	size_t cap, start, end; /* unread text is buf[start..end) */
	uint64_t lineno;	/* number of the last line returned */
	char *line;		/* current line, NUL-terminated (in buf) */
	size_t line_len;
};

/* Reads data[0..len) (borrowed until _fini): one or more zstd frames,
 * decoded with a window of at most BFS_MANIFEST_WINDOW_LOG, lines of at
 * most max_line bytes, at most max_total bytes in all.  noun names the
 * input in messages ("truncated NOUN (...)", "NOUN line N: ...").
 * 0 or -ENOMEM (with a message). */
int bfs_zlines_init(struct bfs_zlines *z, const void *data, size_t len,
		    const char *noun, uint64_t max_line, uint64_t max_total,
		    struct bfs_err *err);
/* The next line into z->line / z->line_len (NUL replaces the '\n'; valid
 * until the next call).  Returns 1, 0 at a clean end of the input (every
 * frame complete, no partial line), or <0: -EUCLEAN (corrupt: "NOUN line
 * N: why" or "NOUN: why") or -ENOMEM, with err set (err may be NULL). */
int bfs_zlines_next(struct bfs_zlines *z, struct bfs_err *err);
/* Frees what init and next allocated.  A zeroed struct is fine. */
void bfs_zlines_fini(struct bfs_zlines *z);

#endif
