/* zlines.c - lines of zstd-compressed text read as a stream; see
 * zlines.h.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "zlines.h"

/* Bytes decompressed per step (and the initial buffer). */
#define READ_CHUNK (128u << 10)

static int zfail(const struct bfs_zlines *z, struct bfs_err *err, int code,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* "NOUN line N: ..." (N the last line returned, none before line 1). */
static int zfail(const struct bfs_zlines *z, struct bfs_err *err, int code,
		 const char *fmt, ...)
{
	struct bfs_err tmp;
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code > 0)
		code = -code;
	if (!err)
		err = &tmp;
	if (z->lineno)
		return bfs_err_set(err, code, "%s line %" PRIu64 ": %s",
				   z->noun, z->lineno, msg);
	return bfs_err_set(err, code, "%s: %s", z->noun, msg);
}

int bfs_zlines_init(struct bfs_zlines *z, const void *data, size_t len,
		    const char *noun, uint64_t max_line, uint64_t max_total,
		    struct bfs_err *err)
{
	memset(z, 0, sizeof(*z));
	z->in.src = data;
	z->in.size = data ? len : 0;
	z->noun = noun;
	z->max_line = max_line < SIZE_MAX / 4 ? (size_t)max_line : SIZE_MAX / 4;
	z->max_total = max_total;
	z->dz = ZSTD_createDCtx();
	if (!z->dz)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	/* cap the window a hostile frame can ask for (the writers use
	 * level 3: 2 MiB at most) */
	ZSTD_DCtx_setParameter(z->dz, ZSTD_d_windowLogMax,
			       BFS_MANIFEST_WINDOW_LOG);
	/* force the first decompress call */
	z->zret = 1;
	return 0;
}

void bfs_zlines_fini(struct bfs_zlines *z)
{
	ZSTD_freeDCtx(z->dz);
	free(z->buf);
	memset(z, 0, sizeof(*z));
}

/* Room for READ_CHUNK more bytes after buf[end]: compact, then grow, to
 * max_line + 1 + READ_CHUNK bytes at most (next stops at a longer
 * partial line). */
static int make_room(struct bfs_zlines *z, struct bfs_err *err)
{
	if (z->start) {
		memmove(z->buf, z->buf + z->start, z->end - z->start);
		z->end -= z->start;
		z->start = 0;
	}
	if (z->cap - z->end < READ_CHUNK) {
		size_t ncap = z->cap * 2;
		char *p;

		/* never more than a whole line and one step: next refuses a
		 * partial line over the cap before it asks for room */
		if (ncap > z->max_line + 1 + READ_CHUNK)
			ncap = z->max_line + 1 + READ_CHUNK;
		if (ncap < z->end + READ_CHUNK)
			ncap = z->end + READ_CHUNK;
		p = realloc(z->buf, ncap + 1);
		if (!p)
			return zfail(z, err, -ENOMEM, "out of memory");
		z->buf = p;
		z->cap = ncap;
	}
	return 0;
}

int bfs_zlines_next(struct bfs_zlines *z, struct bfs_err *err)
{
	for (;;) {
		char *nl = z->start < z->end ? memchr(z->buf + z->start, '\n',
						      z->end - z->start)
					     : NULL;
		ZSTD_outBuffer o;
		size_t ret;
		int rc;

		if (nl) {
			z->line = z->buf + z->start;
			z->line_len = (size_t)(nl - z->line);
			*nl = '\0';
			z->start += z->line_len + 1;
			z->lineno++;
			if (z->line_len > z->max_line)
				return zfail(z, err, -EUCLEAN,
					     "line longer than %zu bytes",
					     z->max_line);
			return 1;
		}
		if (z->end - z->start > z->max_line) {
			z->lineno++;
			return zfail(z, err, -EUCLEAN,
				     "line longer than %zu bytes", z->max_line);
		}
		if (z->in.pos == z->in.size && z->zret == 0) {
			if (z->start < z->end) {
				z->lineno++;
				return zfail(z, err, -EUCLEAN,
					     "truncated %s (last line has no "
					     "newline)",
					     z->noun);
			}
			return 0;
		}
		rc = make_room(z, err);
		if (rc)
			return rc;
		o.dst = z->buf + z->end;
		o.size = z->cap - z->end;
		o.pos = 0;
		/* called even when all input is consumed: zstd may still
		 * hold output of the current frame */
		ret = ZSTD_decompressStream(z->dz, &o, &z->in);
		if (ZSTD_isError(ret))
			return zfail(z, err, -EUCLEAN,
				     "corrupt zstd stream: %s",
				     ZSTD_getErrorName(ret));
		z->zret = ret;
		z->end += o.pos;
		z->total += o.pos;
		if (z->total > z->max_total)
			return zfail(z, err, -EUCLEAN,
				     "%s larger than %" PRIu64 " bytes",
				     z->noun, z->max_total);
		if (o.pos == 0 && z->in.pos == z->in.size && ret != 0)
			return zfail(z, err, -EUCLEAN,
				     "truncated %s (zstd stream ends early)",
				     z->noun);
	}
}
