/* test-pack.c - zstd helpers, pack builder and pack parser.
 *
 * With BFS_WRITE_CORPUS=DIR (DIR = tests/corpus) in the environment the
 * test also (re)writes the known-bad packs of DIR/pack-bad/.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zstd.h>

#include "src/pack.h"
#include "src/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

/* One deterministic stream for the whole test (reproducible failures). */
static struct tl_rng rng = {0x1234567887654321ull};

/* Half random, half repetitive so that frames compress somewhat. */
static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (i / 64) % 2 ? (uint8_t)tl_rand(&rng) : (uint8_t)(i & 7);
}

static void test_zstd(void)
{
	struct bfs_buf b = {0};
	struct bfs_err err = {{0}};
	uint8_t src[5000], out[5001];
	size_t flen;
	int rc;

	fill(src, sizeof(src));
	rc = bfs_zstd_compress(&b, src, sizeof(src), 3, &err);
	is_int(rc, 0, "compress");
	flen = b.len;
	is_int(ZSTD_getFrameContentSize(b.data, b.len), sizeof(src),
	       "frame records the content size");
	rc = bfs_zstd_decompress(out, sizeof(src), b.data, b.len, &err);
	ok(rc == 0 && memcmp(out, src, sizeof(src)) == 0, "round trip");
	is_int(bfs_zstd_decompress(out, sizeof(src) - 1, b.data, b.len, &err),
	       -EUCLEAN, "dstlen too small rejected");
	is_int(bfs_zstd_decompress(out, sizeof(src) + 1, b.data, b.len, &err),
	       -EUCLEAN, "dstlen too large rejected");
	diag("%s", err.msg);
	is_int(bfs_zstd_decompress(out, sizeof(src), b.data, b.len - 1, &err),
	       -EUCLEAN, "truncated frame rejected");
	is_int(bfs_zstd_decompress(out, sizeof(src), b.data, 3, &err), -EUCLEAN,
	       "3-byte input rejected");
	is_int(bfs_zstd_decompress(out, sizeof(src), NULL, 0, &err), -EUCLEAN,
	       "empty input rejected");

	/* Trailing garbage, and a second frame appended. */
	bfs_buf_append(&b, "x", 1);
	is_int(bfs_zstd_decompress(out, sizeof(src), b.data, b.len, &err),
	       -EUCLEAN, "trailing byte rejected");
	diag("%s", err.msg);
	b.len = flen;
	rc = bfs_zstd_compress(&b, src, 10, 3, &err);
	is_int(rc, 0, "compress appends");
	is_int(bfs_zstd_decompress(out, sizeof(src), b.data, b.len, &err),
	       -EUCLEAN, "two frames rejected");
	is_int(bfs_zstd_decompress(out, 10, b.data + flen, b.len - flen, &err),
	       0, "second appended frame decodes alone");

	/* Corrupt payload: flip a byte in the middle. */
	b.len = flen;
	b.data[flen / 2] ^= 0x55;
	rc = bfs_zstd_decompress(out, sizeof(src), b.data, b.len, &err);
	ok(rc == -EUCLEAN || memcmp(out, src, sizeof(src)) != 0,
	   "corrupt payload rejected or detectably different");
	b.data[flen / 2] ^= 0x55;

	/* Empty input. */
	b.len = 0;
	is_int(bfs_zstd_compress(&b, "", 0, 3, &err), 0, "compress empty");
	is_int(bfs_zstd_decompress(out, 0, b.data, b.len, &err), 0,
	       "decompress empty");
	is_int(bfs_zstd_decompress(out, 1, b.data, b.len, &err), -EUCLEAN,
	       "empty frame with dstlen 1 rejected");

	/* A frame without a content size. */
	{
		ZSTD_CCtx *c = ZSTD_createCCtx();
		ZSTD_outBuffer ob;
		ZSTD_inBuffer ib = {src, sizeof(src), 0};
		size_t r;

		bfs_buf_reserve(&b, ZSTD_compressBound(sizeof(src)));
		ob.dst = b.data;
		ob.size = b.cap;
		ob.pos = 0;
		ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
		r = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end);
		ok(r == 0, "streamed frame without size");
		is_int(
		    bfs_zstd_decompress(out, sizeof(src), b.data, ob.pos, &err),
		    -EUCLEAN, "frame without content size rejected");
		diag("%s", err.msg);
		ZSTD_freeCCtx(c);
	}
	/* A skippable frame (decodes to nothing). */
	{
		uint8_t skip[12];

		bfs_put_le32(skip, ZSTD_MAGIC_SKIPPABLE_START);
		bfs_put_le32(skip + 4, 4);
		memset(skip + 8, 0, 4);
		is_int(bfs_zstd_decompress(out, 0, skip, sizeof(skip), &err),
		       -EUCLEAN, "skippable frame rejected");
	}
	bfs_buf_free(&b);
}

/* Many threads compress and decompress at once (thread-local contexts). */
static void *zstd_worker(void *arg)
{
	uintptr_t seed = (uintptr_t)arg;
	struct bfs_buf b = {0};
	uint8_t src[3000], out[3000];
	uintptr_t bad = 0;

	for (int i = 0; i < 2000; i++) {
		size_t n = (seed * 7919 + (size_t)i * 104729) % sizeof(src);

		for (size_t k = 0; k < n; k++)
			src[k] = (uint8_t)((k * seed + (size_t)i) >> 3);
		b.len = 0;
		if (bfs_zstd_compress(&b, src, n, 1 + i % 5, NULL) ||
		    bfs_zstd_decompress(out, n, b.data, b.len, NULL) ||
		    memcmp(src, out, n) != 0)
			bad++;
	}
	bfs_buf_free(&b);
	return (void *)bad;
}

static void test_threads(void)
{
	pthread_t t[8];
	uintptr_t bad = 0;

	for (uintptr_t i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, zstd_worker, (void *)(i + 1));
	for (int i = 0; i < 8; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (uintptr_t)r;
	}
	is_int(bad, 0, "8 threads x 2000 compress/decompress round trips");
}

struct chunk {
	uint8_t *plain;
	uint32_t len;
	uint8_t hash[BFS_HASH_LEN];
};

/* Build a pack of n chunks with random sizes up to maxlen. */
static void build_pack(struct chunk *ch, size_t n, size_t maxlen,
		       struct bfs_buf *out, uint8_t id[BFS_HASH_LEN])
{
	struct bfs_pack_builder *b = bfs_pack_builder_new();
	struct bfs_buf f = {0};

	for (size_t i = 0; i < n; i++) {
		uint64_t off;

		ch[i].len = (uint32_t)(1 + tl_rand(&rng) % maxlen);
		ch[i].plain = malloc(ch[i].len);
		fill(ch[i].plain, ch[i].len);
		bfs_sha256(ch[i].hash, ch[i].plain, ch[i].len);
		f.len = 0;
		bfs_zstd_compress(&f, ch[i].plain, ch[i].len, 3, NULL);
		bfs_pack_builder_add(b, ch[i].hash, f.data, (uint32_t)f.len,
				     ch[i].len, &off);
	}
	bfs_pack_builder_finish(b, out, id);
	bfs_pack_builder_free(b);
	bfs_buf_free(&f);
}

/* 0 if the pack parses and every frame decodes to its hash, else <0. */
static int verify_pack(const uint8_t *data, size_t len, struct bfs_err *err)
{
	struct bfs_pack_entry *e;
	size_t n;
	int rc = bfs_pack_parse_index(data, len, &e, &n, err);

	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		uint8_t *p = malloc(e[i].len + 1), h[BFS_HASH_LEN];

		rc = bfs_zstd_decompress(p, e[i].len, data + e[i].offset,
					 e[i].clen, err);
		if (!rc) {
			bfs_sha256(h, p, e[i].len);
			if (memcmp(h, e[i].hash, BFS_HASH_LEN) != 0)
				rc = bfs_err_set(err, -EBADMSG,
						 "chunk %zu: hash mismatch", i);
		}
		free(p);
	}
	free(e);
	return rc;
}

static void test_roundtrip(void)
{
	struct chunk ch[40];
	struct bfs_buf pack = {0};
	struct bfs_pack_entry *e = NULL;
	struct bfs_err err = {{0}};
	uint8_t id[BFS_HASH_LEN], h[BFS_HASH_LEN];
	size_t n = 0, bad = 0, expect_off = BFS_PACK_HEADER;
	int rc;

	build_pack(ch, 40, 3000, &pack, id);
	bfs_sha256(h, pack.data, pack.len);
	ok(memcmp(h, id, BFS_HASH_LEN) == 0, "pack id = SHA-256 of the object");
	ok(memcmp(pack.data, "BFSPACK2", 8) == 0 &&
	       memcmp(pack.data + pack.len - 8, "BFSPEND1", 8) == 0,
	   "magics");
	rc = bfs_pack_parse_index(pack.data, pack.len, &e, &n, &err);
	is_int(rc, 0, "parse: %s", rc ? err.msg : "ok");
	is_int(n, 40, "40 entries");
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = malloc(ch[i].len);

		if (memcmp(e[i].hash, ch[i].hash, BFS_HASH_LEN) ||
		    e[i].len != ch[i].len || e[i].offset != expect_off ||
		    bfs_zstd_decompress(p, e[i].len, pack.data + e[i].offset,
					e[i].clen, NULL) ||
		    memcmp(p, ch[i].plain, ch[i].len))
			bad++;
		bfs_sha256(h, p, e[i].len);
		if (memcmp(h, e[i].hash, BFS_HASH_LEN))
			bad++;
		expect_off += e[i].clen;
		free(p);
	}
	is_int(bad, 0, "every frame decodes to its plain bytes and hash");
	is_int(verify_pack(pack.data, pack.len, &err), 0, "verify_pack");
	free(e);

	/* Every truncation is rejected by the parser. */
	bad = 0;
	for (size_t l = 0; l < pack.len; l++) {
		if (bfs_pack_parse_index(pack.data, l, &e, &n, NULL) !=
		    -EUCLEAN)
			bad++;
	}
	is_int(bad, 0, "all %zu truncations rejected", pack.len);

	/* One bit flipped at every byte: rejected by the parser, or by
	 * decompressing the frames and hashing them, or harmless.  zstd's
	 * encoding is not canonical in every bit (the "unused" bit of the
	 * frame header descriptor, some FSE/bitstream padding bits), so a
	 * few flips inside frames decode to the very same bytes: the hash
	 * then matches and the reader gets correct data.  What must never
	 * happen is wrong bytes with a matching check, or an accepted flip
	 * outside the frames.  (The pack id, SHA-256 of the object, catches
	 * those harmless flips too.) */
	{
		size_t same = 0, by_parse = 0, total = 0, outside = 0;
		size_t io = (size_t)bfs_get_le64(pack.data + pack.len - 56);

		for (size_t pos = 0; pos < pack.len; pos++) {
			uint8_t bit = (uint8_t)(1u << (pos % 8));

			pack.data[pos] ^= bit;
			rc = bfs_pack_parse_index(pack.data, pack.len, &e, &n,
						  NULL);
			if (rc == 0) {
				free(e);
				rc = verify_pack(pack.data, pack.len, NULL);
			} else {
				by_parse++;
			}
			if (rc == 0) {
				/* verify_pack checked every frame against
				 * its SHA-256: the bytes are the originals */
				same++;
				if (pos < 8 || pos >= io)
					outside++;
			}
			total++;
			pack.data[pos] ^= bit;
		}
		diag("bit flips: %zu, caught by parse %zu, harmless (decode to "
		     "identical bytes) %zu",
		     total, by_parse, same);
		is_int(outside, 0, "every flip in magic/index/footer detected");
		ok(same * 100 < total,
		   "fewer than 1%% of flips are harmless re-encodings");
	}
	/* Every flip in index/footer is caught by the parser itself. */
	{
		size_t index_off =
		    (size_t)bfs_get_le64(pack.data + pack.len - 56);
		size_t missed = 0;

		for (size_t pos = index_off; pos < pack.len; pos++) {
			for (int bit = 0; bit < 8; bit++) {
				pack.data[pos] ^= (uint8_t)(1u << bit);
				if (bfs_pack_parse_index(pack.data, pack.len,
							 &e, &n, NULL) == 0) {
					free(e);
					missed++;
				}
				pack.data[pos] ^= (uint8_t)(1u << bit);
			}
		}
		is_int(missed, 0,
		       "all 8 bit flips of every index/footer byte rejected by "
		       "parse");
	}
	/* Trailing garbage after the footer. */
	bfs_buf_append(&pack, "\0", 1);
	is_int(bfs_pack_parse_index(pack.data, pack.len, &e, &n, &err),
	       -EUCLEAN, "trailing byte rejected");
	for (size_t i = 0; i < 40; i++)
		free(ch[i].plain);
	bfs_buf_free(&pack);
}

static void test_builder(void)
{
	struct bfs_pack_builder *b = bfs_pack_builder_new();
	struct bfs_buf out = {0}, f = {0};
	struct bfs_pack_entry *e;
	uint8_t id[BFS_HASH_LEN], h[BFS_HASH_LEN] = {0};
	uint64_t off = 0;
	size_t n;

	ok(b != NULL, "builder");
	is_int(bfs_pack_builder_count(b), 0, "empty count");
	is_int(bfs_pack_builder_size(b), 8, "empty size is the magic");
	is_int(bfs_pack_builder_finish(b, &out, id), 0, "finish empty pack");
	is_int(out.len, 64, "empty pack is magic + footer");
	is_int(bfs_pack_parse_index(out.data, out.len, &e, &n, NULL), 0,
	       "empty pack parses");
	is_int(n, 0, "no entries");
	free(e);
	bfs_buf_free(&out);

	bfs_zstd_compress(&f, "hello", 5, 3, NULL);
	bfs_sha256(h, "hello", 5);
	is_int(bfs_pack_builder_add(b, h, f.data, 0, 5, &off), -EINVAL,
	       "clen 0 refused");
	is_int(bfs_pack_builder_add(b, h, f.data, (uint32_t)f.len, 5, &off), 0,
	       "add");
	is_int(off, 8, "first frame at 8");
	is_int(bfs_pack_builder_add(b, h, f.data, (uint32_t)f.len, 5, &off), 0,
	       "add again");
	is_int(off, 8 + f.len, "second frame after the first");
	is_int(bfs_pack_builder_count(b), 2, "count 2");
	is_int(bfs_pack_builder_size(b), 8 + 2 * f.len, "size");
	is_int(bfs_pack_builder_finish(b, &out, id), 0, "finish");
	is_int(out.len, 8 + 2 * f.len + 2 * 56 + 56, "finished length");
	is_int(verify_pack(out.data, out.len, NULL), 0, "verifies");
	is_int(bfs_pack_builder_count(b), 0, "reset after finish");
	is_int(bfs_pack_builder_size(b), 8, "reset size");
	bfs_buf_free(&out);
	is_int(bfs_pack_builder_add(b, h, f.data, (uint32_t)f.len, 5, &off), 0,
	       "add to the next pack");
	is_int(off, 8, "next pack starts at 8");
	bfs_pack_builder_finish(b, &out, id);
	is_int(verify_pack(out.data, out.len, NULL), 0, "next pack verifies");
	bfs_buf_free(&out);
	bfs_buf_free(&f);
	bfs_pack_builder_free(b);
	bfs_pack_builder_free(NULL);
}

/* ---- known-bad corpus -------------------------------------------------- */

/* Rewrite the index hash after editing the index. */
static void rehash(struct bfs_buf *p)
{
	uint8_t *foot = p->data + p->len - 56;
	uint64_t io = bfs_get_le64(foot);

	bfs_sha256(foot + 16, p->data + io, p->len - 56 - io);
}

static void write_file(const char *dir, const char *name, const void *d,
		       size_t n)
{
	if (tl_write_file(tl_path(dir, name), d, n))
		diag("cannot write '%s/%s'", dir, name);
}

static void write_corpus(const char *dir)
{
	struct chunk ch[3];
	struct bfs_buf good = {0}, p = {0};
	uint8_t id[BFS_HASH_LEN];
	size_t io;

	rng.state = 42;
	build_pack(ch, 3, 300, &good, id);
	io = (size_t)bfs_get_le64(good.data + good.len - 56);
#define RESET() (p.len = 0, bfs_buf_append(&p, good.data, good.len))
	write_file(dir, "empty", "", 0);
	write_file(dir, "magic-only", "BFSPACK1", 8);
	RESET();
	p.data[0] = 'X';
	write_file(dir, "bad-magic", p.data, p.len);
	RESET();
	p.data[p.len - 1] = 'X';
	write_file(dir, "bad-end-magic", p.data, p.len);
	write_file(dir, "truncated-1", good.data, good.len - 1);
	RESET();
	bfs_buf_append(&p, "\0", 1);
	write_file(dir, "trailing-byte", p.data, p.len);
	RESET();
	p.data[io + 5] ^= 1;
	write_file(dir, "index-hash-mismatch", p.data, p.len);
	RESET();
	bfs_put_le32(p.data + p.len - 56 + 8, 0xffffffffu);
	write_file(dir, "count-huge", p.data, p.len);
	RESET();
	bfs_put_le64(p.data + p.len - 56, 0xfffffffffffffff0ull);
	write_file(dir, "index-offset-overflow", p.data, p.len);
	RESET();
	bfs_put_le32(p.data + p.len - 56 + 12, 1);
	write_file(dir, "reserved-nonzero", p.data, p.len);
	/* entry 1 overlaps entry 0 */
	RESET();
	bfs_put_le64(p.data + io + 48 + 32,
		     bfs_get_le64(p.data + io + 48 + 32) - 1);
	rehash(&p);
	write_file(dir, "overlap", p.data, p.len);
	/* entry 2 extends into the index */
	RESET();
	bfs_put_le32(p.data + io + 96 + 40,
		     bfs_get_le32(p.data + io + 96 + 40) + 1);
	rehash(&p);
	write_file(dir, "frame-into-index", p.data, p.len);
	/* entry offset before the magic ends */
	RESET();
	bfs_put_le64(p.data + io + 32, 0);
	rehash(&p);
	write_file(dir, "frame-in-magic", p.data, p.len);
	/* entries out of order */
	RESET();
	{
		uint8_t tmp[48];

		memcpy(tmp, p.data + io, 48);
		memcpy(p.data + io, p.data + io + 48, 48);
		memcpy(p.data + io + 48, tmp, 48);
	}
	rehash(&p);
	write_file(dir, "unsorted", p.data, p.len);
	RESET();
	bfs_put_le32(p.data + io + 40, 0);
	rehash(&p);
	write_file(dir, "clen-zero", p.data, p.len);
	RESET();
	bfs_put_le32(p.data + io + 44, (16u << 20) + 1);
	rehash(&p);
	write_file(dir, "len-over-limit", p.data, p.len);
	/* index fine, chunk hash wrong: caught by verification */
	RESET();
	p.data[io] ^= 0x80;
	rehash(&p);
	write_file(dir, "chunk-hash-mismatch", p.data, p.len);
	/* index fine, plain length wrong: caught by decompress */
	RESET();
	bfs_put_le32(p.data + io + 44, bfs_get_le32(p.data + io + 44) + 1);
	rehash(&p);
	write_file(dir, "len-mismatch", p.data, p.len);
	/* index fine, frame bytes corrupt */
	RESET();
	p.data[8 + 6] ^= 0xff;
	p.data[8 + 7] ^= 0xff;
	write_file(dir, "frame-corrupt", p.data, p.len);
#undef RESET
	for (int i = 0; i < 3; i++)
		free(ch[i].plain);
	bfs_buf_free(&good);
	bfs_buf_free(&p);
}

static void test_corpus(void)
{
	const char *top = getenv("top_srcdir");
	char dir[4096];
	struct dirent *de;
	DIR *d;
	int files = 0;

	snprintf(dir, sizeof(dir), "%s/tests/corpus/pack-bad", top ? top : ".");
	d = opendir(dir);
	if (!ok(d != NULL, "open corpus '%s'", dir))
		return;
	while ((de = readdir(d))) {
		const char *path = tl_path(dir, de->d_name);
		struct bfs_err err = {{0}};
		struct bfs_buf data = {0};
		struct stat st;
		int rc;

		if (de->d_name[0] == '.')
			continue;
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (tl_read_file(path, &data) != st.st_size) {
			ok(0, "read '%s'", path);
		} else {
			rc = verify_pack(data.data, data.len, &err);
			ok(rc < 0, "corpus %s rejected: %s", de->d_name,
			   err.msg);
		}
		bfs_buf_free(&data);
		files++;
	}
	closedir(d);
	ok(files >= 10, "corpus holds %d bad packs", files);
}

/* A format-1 pack (48-byte entries, no type) made from the frames of a
 * format-2 one; and a format-2 pack with a blob type readers do not know
 * (its index hash fixed, so that only the type is wrong). */
static void test_versions(void)
{
	struct bfs_pack_builder *b = bfs_pack_builder_new();
	struct bfs_buf f = {0}, out = {0}, v1 = {0};
	struct bfs_pack_entry *e = NULL;
	struct bfs_err err = {{0}};
	uint8_t id[BFS_HASH_LEN], h[BFS_HASH_LEN], foot[56];
	size_t n = 0, ioff;
	uint64_t off;

	bfs_zstd_compress(&f, "hello", 5, 3, NULL);
	bfs_sha256(h, "hello", 5);
	bfs_pack_builder_add(b, h, f.data, (uint32_t)f.len, 5, &off);
	bfs_pack_builder_add_typed(b, h, BFS_BLOB_TREE, f.data, (uint32_t)f.len,
				   5, &off);
	bfs_pack_builder_finish(b, &out, id);
	is_int(bfs_pack_parse_index(out.data, out.len, &e, &n, &err), 0,
	       "format 2 pack parsed");
	ok(n == 2 && e[0].type == BFS_BLOB_DATA && e[1].type == BFS_BLOB_TREE,
	   "blob types read back");
	free(e);

	ioff = 8 + 2 * f.len;
	bfs_buf_append(&v1, "BFSPACK1", 8);
	bfs_buf_append(&v1, out.data + 8, 2 * f.len);
	for (int i = 0; i < 2; i++)
		bfs_buf_append(&v1, out.data + ioff + 56 * i, 48);
	memset(foot, 0, sizeof(foot));
	bfs_put_le64(foot, ioff);
	bfs_put_le32(foot + 8, 2);
	bfs_sha256(foot + 16, v1.data + ioff, 96);
	memcpy(foot + 48, "BFSPEND1", 8);
	bfs_buf_append(&v1, foot, 56);
	is_int(bfs_pack_parse_index(v1.data, v1.len, &e, &n, &err), 0,
	       "format 1 pack still parsed (%s)", err.msg);
	ok(n == 2 && e[1].type == BFS_BLOB_DATA && e[1].len == 5,
	   "format 1 entries are data blobs");
	free(e);

	/* no such type (2 is a delta, 3 a delta on several bases) */
	out.data[ioff + 56 + 48] = 4;
	bfs_sha256(out.data + out.len - 56 + 16, out.data + ioff, 112);
	is_int(bfs_pack_parse_index(out.data, out.len, &e, &n, &err), -EUCLEAN,
	       "unknown blob type refused (%s)", err.msg);
	out.data[ioff + 56 + 48] = 1;
	out.data[ioff + 56 + 50] = 1; /* a reserved byte */
	bfs_sha256(out.data + out.len - 56 + 16, out.data + ioff, 112);
	is_int(bfs_pack_parse_index(out.data, out.len, &e, &n, &err), -EUCLEAN,
	       "reserved bytes not zero refused");
	bfs_buf_free(&f);
	bfs_buf_free(&out);
	bfs_buf_free(&v1);
	bfs_pack_builder_free(b);
}

/* bfs_pack_parse_tail: the index region alone, as check reads it. */
static void test_tail(void)
{
	struct chunk ch[40];
	struct bfs_buf pack = {0};
	struct bfs_pack_entry *e = NULL, *w = NULL;
	struct bfs_err err = {{0}};
	uint8_t id[BFS_HASH_LEN];
	size_t n = 0, nw = 0, tail = 56 * 40 + 56, missed = 0;
	uint64_t need = 0;
	uint8_t *t;

	build_pack(ch, 40, 3000, &pack, id);
	t = pack.data + pack.len - tail;
	is_int(bfs_pack_parse_index(pack.data, pack.len, &w, &nw, &err), 0,
	       "whole pack parsed");
	is_int(
	    bfs_pack_parse_tail(NULL, pack.len, t, tail, &e, &n, &need, &err),
	    0, "index region alone parsed (%s)", err.msg);
	for (size_t i = 0; n == nw && i < n; i++)
		if (memcmp(e[i].hash, w[i].hash, BFS_HASH_LEN) ||
		    e[i].offset != w[i].offset || e[i].clen != w[i].clen ||
		    e[i].len != w[i].len || e[i].type != w[i].type)
			missed++;
	ok(n == nw && !missed, "... to the entries of the whole pack");
	free(e);
	is_int(bfs_pack_parse_tail(NULL, pack.len, pack.data + pack.len - 56,
				   56, &e, &n, &need, &err),
	       -ENODATA, "footer alone: -ENODATA");
	is_int(need, tail, "... with the tail length that covers the index");
	is_int(bfs_pack_parse_tail(pack.data, pack.len, pack.data, pack.len, &e,
				   &n, NULL, &err),
	       0, "whole pack as its own tail, with the head");
	free(e);
	is_int(bfs_pack_parse_tail(NULL, pack.len + 1, t, tail, &e, &n, NULL,
				   &err),
	       -EUCLEAN, "a pack length the footer does not fit: refused");
	for (size_t pos = 0; pos < tail; pos++) {
		t[pos] ^= 0x10;
		if (bfs_pack_parse_tail(NULL, pack.len, t, tail, &e, &n, NULL,
					NULL) == 0) {
			free(e);
			missed++;
		}
		t[pos] ^= 0x10;
	}
	is_int(missed, 0, "a flipped bit anywhere in the region: refused");
	free(w);
	for (size_t i = 0; i < 40; i++)
		free(ch[i].plain);
	bfs_buf_free(&pack);
}

int main(void)
{
	const char *corpus = getenv("BFS_WRITE_CORPUS");

	if (corpus) {
		char d[4096];

		snprintf(d, sizeof(d), "%s/pack-bad", corpus);
		mkdir(corpus, 0777);
		mkdir(d, 0777);
		write_corpus(d);
	}
	test_zstd();
	test_threads();
	test_builder();
	test_roundtrip();
	test_corpus();
	test_versions();
	test_tail();
	return tap_done();
}
