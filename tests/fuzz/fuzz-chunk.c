/* fuzz-chunk.c - libFuzzer target: the chunk read path every reader uses
 * (bfs_repo_read_chunk and bfs_repo_read_chunks: location checks, the
 * range get, zstd decompression, the SHA-256 check) and the run planner
 * the mount and restore put in front of it (bfs_reader_plan_runs).
 *
 * Input: flags (1 byte), n (1 byte, 1..4 references), n x 16 bytes of
 * references (offset u64, clen u32, len u32, little-endian), then the
 * pack's bytes, put in a memory store.  Flag 1: the references are cut
 * to lie inside the pack (else taken as they are, like a hostile
 * catalog's).  Flag 2: each hash is that of the frame as libzstd itself
 * decodes it to len bytes, so that the fuzzer gets past the checksum.
 * Oracles: a read that succeeds returns bytes whose hash is the
 * reference's; a frame that does not decode is never a success; the
 * output buffer (len bytes) is never overrun (ASan).
 * Built by scripts/fuzz; replayed by tests/unit/test-fuzz-chunk. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "src/reader.h"
#include "src/repo.h"
#include "tests/fuzz/memstore.h"

#define MAXREF 4
#define PLAIN_MAX (64u << 10) /* plain lengths the fuzzer works with */

static ZSTD_DCtx *dctx; /* the oracle's, reused; reachable until exit */

static void expect_hash(const struct bfs_chunkref *c, const uint8_t *out)
{
	uint8_t h[BFS_HASH_LEN];

	bfs_sha256(h, out, c->len);
	if (memcmp(h, c->hash, BFS_HASH_LEN) != 0)
		abort(); /* wrong bytes returned as good ones */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bfs_chunkref refs[MAXREF];
	uint8_t *outs[MAXREF] = {0};
	struct bfs_run *runs = NULL;
	const uint8_t *pack;
	struct bfs_repo *r;
	struct bfs_err err;
	char key[BFS_KEY_MAX];
	size_t n, packlen, nruns, i;
	unsigned flags;

	if (size < 2 + 16)
		return 0;
	if (!dctx)
		dctx = ZSTD_createDCtx();
	flags = data[0];
	n = 1 + data[1] % MAXREF;
	if (size < 2 + 16 * n)
		return 0;
	pack = data + 2 + 16 * n;
	packlen = size - 2 - 16 * n;
	r = mem_repo();
	if (!r)
		return 0;
	memset(refs, 0, sizeof(refs));
	bfs_sha256(refs[0].pack, "fuzz-pack", 9);
	bfs_repo_pack_key(key, refs[0].pack);
	if (bfs_store_put(r->store, key, pack, packlen, 0, NULL))
		goto out;
	for (i = 0; i < n; i++) {
		const uint8_t *p = data + 2 + 16 * i;
		struct bfs_chunkref *c = &refs[i];

		memcpy(c->pack, refs[0].pack, BFS_HASH_LEN);
		c->offset = bfs_get_le64(p);
		c->clen = bfs_get_le32(p + 8);
		c->len = bfs_get_le32(p + 12);
		if (flags & 1) {
			c->offset %= packlen + 1;
			c->clen %= (uint32_t)(packlen - c->offset) + 1;
			c->len %= PLAIN_MAX;
		} else if (c->len > PLAIN_MAX &&
			   c->len <= BFS_CHUNK_MAX_LIMIT) {
			/* (plausible but large: allocating up to 16 MiB a
			 * run would slow the fuzzer 100-fold) */
			c->len %= PLAIN_MAX;
		}
		/* the output buffer is len bytes when len is plausible;
		 * else 1 byte, which the reader must refuse to fill */
		outs[i] = malloc(
		    c->len <= BFS_CHUNK_MAX_LIMIT && c->len ? c->len : 1);
		if (!outs[i])
			goto out;
		bfs_sha256(c->hash, p, 16);
		if ((flags & 2) && dctx && c->len <= PLAIN_MAX && c->clen &&
		    c->offset <= packlen && c->clen <= packlen - c->offset) {
			size_t got = ZSTD_decompressDCtx(
			    dctx, outs[i], c->len ? c->len : 1,
			    pack + c->offset, c->clen);

			if (!ZSTD_isError(got) && got == c->len)
				bfs_sha256(c->hash, outs[i], c->len);
		}
	}
	for (i = 0; i < n; i++)
		if (bfs_repo_read_chunk(r, &refs[i], outs[i], &err) == 0)
			expect_hash(&refs[i], outs[i]);
	if (bfs_repo_read_chunks(r, refs, n, outs, &err) == 0)
		for (i = 0; i < n; i++)
			expect_hash(&refs[i], outs[i]);
	if (bfs_reader_plan_runs(refs, n, 1u << 20, 3, &runs, &nruns, &err) ==
	    0) {
		size_t covered = 0;

		for (i = 0; i < nruns; i++) {
			if (runs[i].first != covered || runs[i].n == 0)
				abort(); /* runs must tile the refs */
			covered += runs[i].n;
		}
		if (covered != n)
			abort();
		free(runs);
	}
out:
	for (i = 0; i < MAXREF; i++)
		free(outs[i]);
	bfs_repo_close(r);
	return 0;
}
