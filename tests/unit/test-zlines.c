/* test-zlines.c - the streaming line reader over zstd frames (zlines.c)
 * and the index object parser built on it (bfs_idxobj_parse): lines split
 * across decompression steps and frames, a line longer than the initial
 * buffer, the caps, truncation, and an index object whose frame claims
 * 3 GiB in a few bytes (refused under a 512 MiB address-space limit,
 * where parsing it whole could not even start).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zstd.h>

#include "src/format.h"
#include "src/pack.h"
#include "src/tree.h"
#include "src/util.h"
#include "src/zlines.h"
#include "tests/unit/tap.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* Compress text[0..n) as one frame, appended to out. */
static void zput(struct bfs_buf *out, const void *text, size_t n)
{
	struct bfs_buf z = {0};

	if (bfs_zstd_compress(&z, text, n, 3, NULL) ||
	    bfs_buf_append(out, z.data, z.len))
		abort();
	bfs_buf_free(&z);
}

/* Read every line of z with caps; the lines joined with '\n' into got.
 * Returns what the last bfs_zlines_next returned. */
static int read_all(const struct bfs_buf *z, uint64_t max_line,
		    uint64_t max_total, struct bfs_buf *got,
		    struct bfs_err *err)
{
	struct bfs_zlines zl;
	int rc;

	got->len = 0;
	rc = bfs_zlines_init(&zl, z->data, z->len, "thing", max_line, max_total,
			     err);
	if (rc)
		return rc;
	while ((rc = bfs_zlines_next(&zl, err)) == 1) {
		if (strlen(zl.line) != zl.line_len ||
		    bfs_buf_append(got, zl.line, zl.line_len) ||
		    bfs_buf_append(got, "\n", 1))
			abort();
	}
	bfs_zlines_fini(&zl);
	return rc;
}

/* Text of many lines of varied lengths (some longer than a step of
 * 128 KiB), then one of 300 KiB. */
static void make_text(struct bfs_buf *t)
{
	uint64_t s = 12345;

	t->len = 0;
	for (int i = 0; i < 4000; i++) {
		size_t n;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		n = (size_t)(s >> 33) % (i % 500 == 7 ? 200000 : 300);
		for (size_t j = 0; j < n; j++) {
			char c = (char)('a' + (i + j * 7) % 26);

			if (bfs_buf_append(t, &c, 1))
				abort();
		}
		if (bfs_buf_append(t, "\n", 1))
			abort();
	}
	for (size_t j = 0; j < 300u << 10; j++)
		if (bfs_buf_append(t, j % 61 ? "x" : "y", 1))
			abort();
	if (bfs_buf_append(t, "\n", 1))
		abort();
}

static void test_lines(void)
{
	struct bfs_buf t = {0}, z = {0}, got = {0};
	struct bfs_err err = {{0}};
	int rc;

	make_text(&t);
	zput(&z, t.data, t.len);
	rc = read_all(&z, 1u << 20, 1ull << 30, &got, &err);
	is_int(rc, 0, "%zu bytes of lines read (%s)", t.len, err.msg);
	ok(got.len == t.len && !memcmp(got.data, t.data, t.len),
	   "lines split across decompression steps, and one of 300 KiB "
	   "(longer than the first buffer), come back as written");

	/* two frames, a line split between them */
	z.len = 0;
	zput(&z, t.data, t.len / 2 + 17);
	zput(&z, t.data + t.len / 2 + 17, t.len - t.len / 2 - 17);
	rc = read_all(&z, 1u << 20, 1ull << 30, &got, &err);
	ok(rc == 0 && got.len == t.len && !memcmp(got.data, t.data, t.len),
	   "two frames, a line across them: read as one text (%s)", err.msg);

	/* the line cap */
	z.len = 0;
	zput(&z, t.data, t.len);
	rc = read_all(&z, 250000, 1ull << 30, &got, &err);
	is_int(rc, -EUCLEAN, "a 300 KiB line over a cap of 250000 (%s)",
	       err.msg);
	ok(strstr(err.msg, "thing line 4001: line longer than 250000 bytes") !=
	       NULL,
	   "  names the line and the cap");
	{
		struct bfs_zlines zl;

		/* 300000: doubling alone would reach 512 KiB */
		bfs_zlines_init(&zl, z.data, z.len, "thing", 300000, 1ull << 30,
				&err);
		while ((rc = bfs_zlines_next(&zl, &err)) == 1)
			;
		ok(rc == -EUCLEAN && zl.cap <= 300001 + (128u << 10),
		   "  its buffer stayed within the cap and one step (%zu)",
		   zl.cap);
		bfs_zlines_fini(&zl);
	}

	/* the total cap */
	rc = read_all(&z, 1u << 20, t.len - 1, &got, &err);
	is_int(rc, -EUCLEAN, "more bytes than the total cap (%s)", err.msg);
	ok(strstr(err.msg, "thing larger than") != NULL, "  says so");

	/* no final newline */
	z.len = 0;
	zput(&z, "a\nb", 3);
	rc = read_all(&z, 100, 100, &got, &err);
	is_str(err.msg,
	       "thing line 2: truncated thing (last line has no "
	       "newline)",
	       "no final newline refused");
	is_int(rc, -EUCLEAN, "  -EUCLEAN");

	/* a frame cut short */
	z.len = 0;
	zput(&z, t.data, t.len);
	z.len /= 2;
	rc = read_all(&z, 1u << 20, 1ull << 30, &got, &err);
	is_int(rc, -EUCLEAN, "half a frame refused (%s)", err.msg);
	ok(strstr(err.msg, "truncated thing (zstd stream ends early)") ||
	       strstr(err.msg, "corrupt zstd stream"),
	   "  as truncated or corrupt");

	/* garbage */
	z.len = 0;
	if (bfs_buf_append(&z, "not zstd at all\n", 16))
		abort();
	rc = read_all(&z, 100, 100, &got, &err);
	is_int(rc, -EUCLEAN, "not zstd refused (%s)", err.msg);

	/* empty input: no line, clean end */
	z.len = 0;
	zput(&z, "", 0);
	rc = read_all(&z, 100, 100, &got, &err);
	ok(rc == 0 && got.len == 0, "an empty frame has no line");

	bfs_buf_free(&t);
	bfs_buf_free(&z);
	bfs_buf_free(&got);
}

/* ---- index objects ------------------------------------------------------
 */

struct cap {
	size_t packs, blobs;
	uint8_t last[BFS_HASH_LEN];
};

static int cap_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		  const struct bfs_idx_blob *b, size_t n)
{
	struct cap *c = arg;

	(void)b;
	c->packs++;
	c->blobs += n;
	memcpy(c->last, pack, BFS_HASH_LEN);
	return 0;
}

/* An index object text of npacks lines, line i with blobs[i] blobs. */
static void idx_text(struct bfs_buf *t, size_t npacks, const size_t *blobs)
{
	struct bfs_idxobj_writer *w;
	struct bfs_buf z = {0};
	uint8_t name[BFS_HASH_LEN];
	struct bfs_err err;

	if (bfs_idxobj_writer_new(&w))
		abort();
	for (size_t p = 0; p < npacks; p++) {
		struct bfs_idx_blob *bl = calloc(blobs[p], sizeof(*bl));
		uint8_t pack[BFS_HASH_LEN];
		uint64_t off = BFS_PACK_HEADER;

		if (!bl)
			abort();
		memset(pack, (int)p + 1, sizeof(pack));
		for (size_t i = 0; i < blobs[p]; i++) {
			memset(bl[i].hash, 0, BFS_HASH_LEN);
			memcpy(bl[i].hash, &i, sizeof(i));
			bl[i].hash[31] = (uint8_t)p;
			bl[i].type = BFS_BLOB_DATA;
			bl[i].offset = off;
			bl[i].clen = 100;
			bl[i].len = 200;
			off += 100;
		}
		if (bfs_idxobj_writer_pack(w, pack, bl, blobs[p]))
			abort();
		free(bl);
	}
	if (bfs_idxobj_writer_finish(w, &z, name, &err))
		abort();
	bfs_idxobj_writer_free(w);
	/* back to text: the tests change it before compressing again */
	t->len = 0;
	if (bfs_buf_reserve(t, (size_t)ZSTD_getFrameContentSize(z.data, z.len)))
		abort();
	t->len = (size_t)ZSTD_getFrameContentSize(z.data, z.len);
	if (bfs_zstd_decompress(t->data, t->len, z.data, z.len, NULL))
		abort();
	bfs_buf_free(&z);
}

static void test_idxobj(void)
{
	size_t blobs[3] = {5, 3000, 7}; /* the second line: > 128 KiB */
	struct bfs_buf t = {0}, z = {0};
	struct bfs_err err = {{0}};
	struct cap c = {0};
	uint8_t want[BFS_HASH_LEN];
	int rc;

	idx_text(&t, 3, blobs);
	ok(t.len > (128u << 10), "an index object of %zu bytes of text", t.len);
	zput(&z, t.data, t.len);
	rc = bfs_idxobj_parse(z.data, z.len, cap_cb, &c, &err);
	memset(want, 3, sizeof(want));
	ok(rc == 0 && c.packs == 3 && c.blobs == 3012 &&
	       !memcmp(c.last, want, BFS_HASH_LEN),
	   "parsed streaming: 3 packs, 3012 blobs, a line of ~300 KiB (%s)",
	   rc ? err.msg : "ok");

	/* two frames: refused, as before the stream */
	z.len = 0;
	zput(&z, t.data, t.len / 2);
	zput(&z, t.data + t.len / 2, t.len - t.len / 2);
	rc = bfs_idxobj_parse(z.data, z.len, cap_cb, &c, &err);
	is_int(rc, -EUCLEAN, "two frames refused (%s)", err.msg);
	ok(strstr(err.msg, "zstd frame is") != NULL, "  as bytes after the "
						     "frame");

	/* trailing garbage after one frame */
	z.len = 0;
	zput(&z, t.data, t.len);
	if (bfs_buf_append(&z, "xx", 2))
		abort();
	rc = bfs_idxobj_parse(z.data, z.len, cap_cb, &c, &err);
	is_int(rc, -EUCLEAN, "bytes after the frame refused (%s)", err.msg);

	/* no final newline */
	z.len = 0;
	zput(&z, t.data, t.len - 1);
	c.packs = 0;
	rc = bfs_idxobj_parse(z.data, z.len, cap_cb, &c, &err);
	is_int(rc, -EUCLEAN, "no final newline refused (%s)", err.msg);
	is_str(err.msg,
	       "index object line 3: truncated index object (last line has "
	       "no newline)",
	       "  the message");

	/* CRLF */
	{
		struct bfs_buf crlf = {0};

		for (size_t i = 0; i < t.len; i++)
			if ((t.data[i] == '\n' &&
			     bfs_buf_append(&crlf, "\r", 1)) ||
			    bfs_buf_append(&crlf, &t.data[i], 1))
				abort();
		z.len = 0;
		zput(&z, crlf.data, crlf.len);
		rc = bfs_idxobj_parse(z.data, z.len, cap_cb, &c, &err);
		is_int(rc, -EUCLEAN, "CRLF line ends refused (%s)", err.msg);
		ok(strstr(err.msg, "index object line 1:") != NULL,
		   "  on line 1");
		bfs_buf_free(&crlf);
	}

	bfs_buf_free(&t);
	bfs_buf_free(&z);
}

/* A frame whose header claims 3 GiB, with one block of a few bytes:
 * without end (cut) or with an empty last block (complete but short). */
static void claim_3g(struct bfs_buf *out, int complete)
{
	static const char text[] =
	    "{\"pack\":\"" /* a valid line: the size alone is wrong */
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "\",\"blobs\":[]}\n";
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_inBuffer in = {text, sizeof(text) - 1, 0};
	ZSTD_outBuffer o;

	if (!c || bfs_buf_reserve(out, 4096))
		abort();
	ZSTD_CCtx_setPledgedSrcSize(c, 3ull << 30);
	o.dst = out->data;
	o.size = 4096;
	o.pos = 0;
	if (ZSTD_isError(ZSTD_compressStream2(c, &o, &in, ZSTD_e_flush)) ||
	    in.pos != in.size)
		abort();
	out->len = o.pos;
	ZSTD_freeCCtx(c);
	/* a raw block, last, of 0 bytes: header 0x000001 (le24) */
	if (complete && bfs_buf_append(out, "\x01\x00\x00", 3))
		abort();
}

/* Parse in a child under RLIMIT_AS 512 MiB; rc and the message back. */
static int parse_limited(const struct bfs_buf *z, char *msg, size_t msz)
{
	struct bfs_err err = {{0}};
	int fd[2], st, rc;
	pid_t pid;
	ssize_t n;

	if (pipe(fd))
		abort();
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		struct rlimit rl = {512u << 20, 512u << 20};

		close(fd[0]);
		if (setrlimit(RLIMIT_AS, &rl))
			_exit(3);
		rc = bfs_idxobj_parse(z->data, z->len, cap_cb, &(struct cap){0},
				      &err);
		if (write(fd[1], err.msg, strlen(err.msg)) < 0)
			_exit(3);
		_exit(rc == -EUCLEAN ? 0 : rc == -ENOMEM ? 1 : 2);
	}
	close(fd[1]);
	n = read(fd[0], msg, msz - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(fd[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void test_claim(void)
{
	struct bfs_buf z = {0};
	struct bfs_err err = {{0}};
	char msg[1024];

	for (int complete = 0; complete < 2; complete++) {
		const char *what =
		    complete ? "complete, a few bytes" : "cut after a block";

		z.len = 0;
		claim_3g(&z, complete);
		ok(ZSTD_getFrameContentSize(z.data, z.len) == 3ull << 30 &&
		       z.len < 100,
		   "a frame of %zu bytes claiming 3 GiB (%s)", z.len, what);
		is_int(bfs_idxobj_parse(z.data, z.len, cap_cb, &(struct cap){0},
					&err),
		       -EUCLEAN, "  refused (%s)", err.msg);
#ifdef UNDER_ASAN
		skip(1, "RLIMIT_AS: not under ASan (its shadow memory)");
#else
		is_int(parse_limited(&z, msg, sizeof(msg)), 0,
		       "  refused as corrupt, not out of memory, under a "
		       "512 MiB address space (%s)",
		       msg);
#endif
	}
	bfs_buf_free(&z);
}

int main(void)
{
	test_lines();
	test_idxobj();
	test_claim();
	return tap_done();
}
