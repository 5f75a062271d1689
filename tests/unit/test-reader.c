/* test-reader.c - the read engine (src/reader.h) against a local
 * repository whose packs are built here with the pack builder: the run
 * planner, ranges across chunk boundaries, cache hits, single-flight
 * loads by concurrent readers, readahead, streaming, and faults through
 * the fault store (missing pack, corrupt bytes, a transient error):
 * always an error, never wrong bytes.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunkcache.h"
#include "pack.h"
#include "reader.h"
#include "repo.h"
#include "store.h"
#include "tap.h"
#include "testlib.h"

#define NCHUNKS 40
#define SPLIT 25 /* chunks [0, SPLIT) in pack A, the rest in B */

static char tmp[256], repo_path[300];
static struct bfs_repo *repo;
static struct bfs_chunkref refs[NCHUNKS];
static uint8_t *data; /* the file's plain bytes */
static size_t size;

/* Chunks [from, to) of data into one pack, stored in the repository. */
static int put_pack(size_t from, size_t to, const size_t *starts)
{
	struct bfs_pack_builder *pb = bfs_pack_builder_new();
	struct bfs_buf frame = {0}, out = {0};
	struct bfs_err err = {{0}};
	uint8_t id[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	size_t i;
	int rc = -ENOMEM;

	if (!pb)
		return rc;
	for (i = from; i < to; i++) {
		uint64_t off;

		frame.len = 0;
		bfs_sha256(refs[i].hash, data + starts[i], refs[i].len);
		rc = bfs_zstd_compress(&frame, data + starts[i], refs[i].len, 3,
				       &err);
		if (rc)
			goto out;
		rc = bfs_pack_builder_add(pb, refs[i].hash, frame.data,
					  (uint32_t)frame.len, refs[i].len,
					  &off);
		if (rc)
			goto out;
		refs[i].offset = off;
		refs[i].clen = (uint32_t)frame.len;
	}
	rc = bfs_pack_builder_finish(pb, &out, id);
	if (rc)
		goto out;
	for (i = from; i < to; i++)
		memcpy(refs[i].pack, id, BFS_HASH_LEN);
	bfs_repo_pack_key(key, id);
	rc = bfs_store_put(repo->store, key, out.data, out.len, 0, &err);
out:
	if (rc)
		diag("put_pack: %s", err.msg);
	bfs_buf_free(&frame);
	bfs_buf_free(&out);
	bfs_pack_builder_free(pb);
	return rc;
}

static int setup(void)
{
	struct bfs_err err = {{0}};
	size_t starts[NCHUNKS], i;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s/bfs-reader-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp))
		return -errno;
	snprintf(repo_path, sizeof(repo_path), "%s/repo", tmp);
	rc = bfs_repo_init(repo_path, NULL, &repo, &err);
	if (rc) {
		diag("repo init: %s", err.msg);
		return rc;
	}
	for (i = 0, size = 0; i < NCHUNKS; i++) {
		/* 1 byte .. ~200 KiB, some odd sizes */
		refs[i].len =
		    (uint32_t)(i == 3 ? 1 : 1000 + (i * 7919 % 200000));
		starts[i] = size;
		size += refs[i].len;
	}
	data = malloc(size);
	if (!data)
		return -ENOMEM;
	tl_fill(data, size, 42);
	rc = put_pack(0, SPLIT, starts);
	if (!rc)
		rc = put_pack(SPLIT, NCHUNKS, starts);
	return rc;
}

/* ---- the run planner ---------------------------------------------------- */

static void test_plan(void)
{
	struct bfs_run *runs = NULL;
	struct bfs_chunkref big = refs[0];
	struct bfs_err err = {{0}};
	size_t nr = 0, i, covered = 0;
	int rc;

	rc = bfs_reader_plan_runs(refs, NCHUNKS, UINT64_MAX, SIZE_MAX, &runs,
				  &nr, &err);
	is_int(rc, 0, "plan: whole list");
	is_int(nr, 2, "plan: one run per pack when unbounded");
	if (nr == 2) {
		is_int(runs[0].n, SPLIT, "plan: first run = pack A");
		is_int(runs[1].first, SPLIT, "plan: second run starts pack B");
	}
	free(runs);

	rc = bfs_reader_plan_runs(refs, NCHUNKS, 256u << 10, 4, &runs, &nr,
				  &err);
	is_int(rc, 0, "plan: bounded");
	for (i = 0; i < nr; i++) {
		ok(runs[i].n <= 4 &&
		       (runs[i].n == 1 || runs[i].bytes <= (256u << 10)),
		   "plan: run %zu within bounds", i);
		ok(runs[i].first == covered, "plan: run %zu follows", i);
		covered += runs[i].n;
	}
	is_int(covered, NCHUNKS, "plan: runs cover the list");
	free(runs);

	big.len = BFS_READER_MAX_CHUNK + 1;
	rc = bfs_reader_plan_runs(&big, 1, UINT64_MAX, SIZE_MAX, &runs, &nr,
				  &err);
	is_int(rc, -EUCLEAN, "plan: a chunk over the format limit is refused");
	ok(strstr(err.msg, "implausible length") != NULL, "  says why");
	free(runs);
}

/* ---- the readahead planner ---------------------------------------------- */

/* A file of n chunks of len bytes each. */
static uint64_t *even_starts(size_t n, uint64_t len)
{
	uint64_t *st = malloc((n + 1) * sizeof(*st));
	size_t i;

	for (i = 0; st && i <= n; i++)
		st[i] = i * len;
	return st;
}

static void test_ra_plan(void)
{
	const uint64_t K = 1024, M = K * K;
	struct bfs_ra_state st = {0};
	struct bfs_ra_limits none = {0, SIZE_MAX, 8 * M};
	struct bfs_ra_limits lim = {16 * M, 1024, 8 * M};
	struct bfs_ra_limits lim8 = {16 * M, 8, 8 * M};
	struct bfs_ra_limits big = {1 * M, 1024, 8 * M};
	uint64_t *starts = even_starts(4096, 32 * K);
	uint64_t last_win = 0, job;
	size_t from, to, first, queued = 0, calls = 0, tops = 0;
	bool grows = true, within = true, follows = true, topped = true;

	if (!starts)
		return;
	is_int(bfs_reader_ra_job_bytes(0, 8 * M), BFS_RA_JOB_MIN,
	       "ra job: at least BFS_RA_JOB_MIN");
	is_int(bfs_reader_ra_job_bytes(16 * M, 8 * M), 4 * M,
	       "ra job: a quarter of a 16 MiB window");
	is_int(bfs_reader_ra_job_bytes(1024 * M, 8 * M), 8 * M,
	       "ra job: at most job_max");
	is_int(bfs_reader_ra_job_bytes(16 * M, 0), BFS_RA_JOB_MIN,
	       "ra job: job_max below the minimum: the minimum");

	/* No readahead budget: nothing. */
	bfs_reader_ra_plan(starts, 4096, 1, &none, &st, &from, &to);
	ok(from == to && st.win == 0, "ra plan: nothing with max_bytes 0");

	/* A reader going through the file 128 KiB at a time. */
	for (first = 4; first < 4096; first += 4) {
		bfs_reader_ra_plan(starts, 4096, first, &lim, &st, &from, &to);
		calls++;
		if (to == from)
			continue;
		follows = follows && from == BFS_MAX(queued, first);
		within = within && starts[to] - starts[first] <= 16 * M;
		grows = grows && st.win >= last_win && st.win <= 16 * M;
		last_win = st.win;
		queued = to;
	}
	ok(follows, "ra plan: each top-up follows the last");
	ok(within, "ra plan: never more than 16 MiB ahead");
	ok(grows && last_win == 16 * M,
	   "ra plan: the window doubles up to the budget");
	is_int(queued, 4096, "ra plan: the whole file gets queued");

	/* At full window, a top-up comes once a whole job fits again. */
	memset(&st, 0, sizeof(st));
	st.win = 16 * M;
	job = bfs_reader_ra_job_bytes(st.win, lim.job_max);
	lim.max_chunks = 4096;
	bfs_reader_ra_plan(starts, 4096, 10, &lim, &st, &from, &to);
	is_int(starts[to] - starts[10], 16 * M, "ra plan: fills the window");
	for (first = 11; first < 4096 && topped; first++) {
		size_t before = st.next;

		bfs_reader_ra_plan(starts, 4096, first, &lim, &st, &from, &to);
		if (to > from && to < 4096) /* the file's end: less */
			topped = starts[to] - starts[before] >= job;
	}
	ok(topped, "ra plan: top-ups are at least one job");

	/* A reader that moves on by more than a chunk at a time (1 MiB
	 * kernel requests over 256 KiB chunks, here 5 chunks a call) finds
	 * a job and a bit free: only the whole job is queued, the bit
	 * waits and starts the next one (each job is a store request). */
	memset(&st, 0, sizeof(st));
	st.win = 16 * M;
	bfs_reader_ra_plan(starts, 4096, 10, &lim, &st, &from, &to);
	topped = true;
	for (first = 15; first < 4096; first += 5) {
		bfs_reader_ra_plan(starts, 4096, first, &lim, &st, &from, &to);
		if (to == from)
			continue;
		tops++;
		if (to < 4096) /* the file's end: what is left */
			topped = topped &&
				 (starts[to] - starts[from]) % job == 0 &&
				 starts[to] - starts[first] <= 16 * M;
	}
	ok(topped && tops > 10 && st.next == 4096,
	   "ra plan: top-ups are whole jobs, the last one at the end");

	/* max_chunks bounds the window in chunks. */
	memset(&st, 0, sizeof(st));
	st.win = 16 * M;
	bfs_reader_ra_plan(starts, 4096, 0, &lim8, &st, &from, &to);
	is_int(to - from, 8, "ra plan: at most max_chunks ahead");

	/* A chunk larger than the window is queued alone. */
	free(starts);
	starts = even_starts(4, 4 * M);
	memset(&st, 0, sizeof(st));
	bfs_reader_ra_plan(starts, 4, 1, &big, &st, &from, &to);
	ok(from == 1 && to == 2, "ra plan: a chunk over the window alone");
	bfs_reader_ra_plan(starts, 4, 4, &big, &st, &from, &to);
	ok(from == to, "ra plan: nothing past the end");
	diag("ra plan: %zu calls", calls);
	free(starts);
}

/* ---- random access ------------------------------------------------------ */

static struct bfs_rfile *open_file(struct bfs_reader *rd)
{
	struct bfs_rfile *f = NULL;
	struct bfs_err err = {{0}};
	int rc = bfs_reader_open(rd, refs, NCHUNKS, size, &f, &err);

	if (rc)
		diag("open: %s", err.msg);
	return f;
}

static void test_ranges(void)
{
	struct bfs_chunkcache *cc = NULL;
	struct bfs_reader *rd = NULL;
	struct bfs_rfile *f;
	struct bfs_cc_stats s1, s2;
	struct bfs_err err = {{0}};
	uint8_t *buf = malloc(size + 10);
	uint64_t x = 7;
	bool all = true;
	ssize_t got;
	int i;

	bfs_chunkcache_new(64u << 20, &cc);
	bfs_reader_create(repo, cc, NULL, &rd);
	f = open_file(rd);
	ok(f != NULL, "open a file of %d chunks", NCHUNKS);
	if (!f || !buf)
		goto out;
	is_int(bfs_rfile_size(f), size, "size");
	is_int(bfs_rfile_covered(f), size, "covered");
	got = bfs_rfile_read(f, buf, size, 0, &err);
	is_int(got, size, "read the whole file at once");
	ok(got == (ssize_t)size && !memcmp(buf, data, size), "  bytes match");
	for (i = 0; i < 200; i++) {
		uint64_t off, len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		off = x % size;
		len = (x >> 32) % (300u << 10) + 1;
		got = bfs_rfile_read(f, buf, len, off, &err);
		if (got != (ssize_t)BFS_MIN(len, size - off) ||
		    memcmp(buf, data + off, (size_t)got)) {
			all = false;
			diag("range %llu+%llu: got %zd",
			     (unsigned long long)off, (unsigned long long)len,
			     got);
			break;
		}
	}
	ok(all, "200 random ranges across chunk boundaries match");
	got = bfs_rfile_read(f, buf, 100, size - 10, &err);
	ok(got == 10 && !memcmp(buf, data + size - 10, 10),
	   "a read over the end is clipped");
	is_int(bfs_rfile_read(f, buf, 100, size, &err), 0,
	       "a read at the end: 0");
	is_int(bfs_rfile_read(f, buf, 0, 5, &err), 0, "an empty read: 0");

	bfs_chunkcache_stats(cc, &s1);
	got = bfs_rfile_read(f, buf, size, 0, &err);
	bfs_chunkcache_stats(cc, &s2);
	ok(got == (ssize_t)size && !memcmp(buf, data, size),
	   "read again from the cache");
	is_int(s2.misses, s1.misses, "  no new loads");
	is_int(s2.hits - s1.hits, NCHUNKS, "  one hit per chunk");
	bfs_rfile_close(f);

	/* A chunk list that does not cover the recorded size. */
	{
		struct bfs_rfile *g = NULL;

		bfs_reader_open(rd, refs, 2, refs[0].len + refs[1].len + 100,
				&g, &err);
		got = g ? bfs_rfile_read(g, buf, 200, refs[0].len + refs[1].len,
					 &err)
			: 0;
		is_int(got, -EIO, "bytes the chunk list lacks: -EIO");
		ok(g && bfs_rfile_first_error(g) && !bfs_rfile_first_error(g),
		   "first_error is true once");
		bfs_rfile_close(g);
	}
	{
		struct bfs_chunkref big = refs[0];
		struct bfs_rfile *g = NULL;

		big.len = BFS_READER_MAX_CHUNK + 1;
		is_int(bfs_reader_open(rd, &big, 1, big.len, &g, &err),
		       -EUCLEAN, "open refuses a chunk over the format limit");
	}
out:
	bfs_reader_destroy(rd);
	bfs_chunkcache_free(cc);
	free(buf);
}

struct racer {
	struct bfs_rfile *f;
	pthread_barrier_t *bar;
	bool ok;
};

static void *race_main(void *arg)
{
	struct racer *r = arg;
	struct bfs_err err = {{0}};
	uint8_t *buf = malloc(size);
	ssize_t got;

	pthread_barrier_wait(r->bar);
	got = buf ? bfs_rfile_read(r->f, buf, size, 0, &err) : -ENOMEM;
	r->ok = got == (ssize_t)size && !memcmp(buf, data, size);
	free(buf);
	return NULL;
}

static void test_single_flight(void)
{
	enum { NT = 8 };
	struct bfs_chunkcache *cc = NULL;
	struct bfs_reader *rd = NULL;
	struct bfs_reader_config cfg = {.threads = 3};
	struct bfs_rfile *f;
	struct bfs_cc_stats st;
	struct racer rr[NT];
	pthread_t th[NT];
	pthread_barrier_t bar;
	bool all = true;
	int i;

	bfs_chunkcache_new(64u << 20, &cc);
	bfs_reader_create(repo, cc, &cfg, &rd);
	f = open_file(rd);
	pthread_barrier_init(&bar, NULL, NT);
	for (i = 0; i < NT; i++) {
		rr[i] = (struct racer){f, &bar, false};
		pthread_create(&th[i], NULL, race_main, &rr[i]);
	}
	for (i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		all = all && rr[i].ok;
	}
	pthread_barrier_destroy(&bar);
	bfs_chunkcache_stats(cc, &st);
	ok(all, "%d concurrent readers of one file get the right bytes", NT);
	is_int(st.misses, NCHUNKS, "  each chunk was loaded once");
	is_int(st.failures, 0, "  no failed loads");
	bfs_rfile_close(f);
	bfs_reader_destroy(rd);
	bfs_chunkcache_free(cc);
}

/* Chunks holding bytes [0, n). */
static size_t chunks_under(uint64_t n)
{
	uint64_t at = 0;
	size_t i;

	for (i = 0; i < NCHUNKS && at < n; i++)
		at += refs[i].len;
	return i;
}

static void test_readahead(void)
{
	size_t read_chunks = chunks_under(64u << 10);
	struct bfs_chunkcache *cc = NULL;
	struct bfs_reader *rd = NULL;
	struct bfs_reader_config cfg = {.threads = 2, .ra_bytes = 8u << 20};
	struct bfs_rfile *f;
	struct bfs_cc_stats st;
	struct bfs_err err = {{0}};
	uint8_t buf[4096];
	uint64_t off;
	int tries;
	bool same = true;

	bfs_chunkcache_new(64u << 20, &cc);
	bfs_reader_create(repo, cc, &cfg, &rd);
	f = open_file(rd);
	/* A sequential reader of the first 64 KiB. */
	for (off = 0; off < (64u << 10); off += sizeof(buf)) {
		ssize_t got = bfs_rfile_read(f, buf, sizeof(buf), off, &err);

		same = same && got == (ssize_t)sizeof(buf) &&
		       !memcmp(buf, data + off, sizeof(buf));
	}
	ok(same, "sequential small reads match");
	for (tries = 0; tries < 200; tries++) {
		bfs_chunkcache_stats(cc, &st);
		if (st.entries > read_chunks + 2)
			break;
		usleep(10000);
	}
	ok(st.entries > read_chunks + 2,
	   "readahead brought chunks ahead of "
	   "the reader (%llu in the cache, %zu read)",
	   (unsigned long long)st.entries, read_chunks);
	ok(st.bytes <= (8u << 20) + (512u << 10),
	   "  within the readahead budget");
	bfs_rfile_close(f);
	bfs_reader_destroy(rd);
	bfs_chunkcache_free(cc);

	/* Without readahead nothing is fetched ahead. */
	cc = NULL;
	rd = NULL;
	bfs_chunkcache_new(64u << 20, &cc);
	bfs_reader_create(repo, cc, NULL, &rd);
	f = open_file(rd);
	for (off = 0; off < (64u << 10); off += sizeof(buf))
		bfs_rfile_read(f, buf, sizeof(buf), off, &err);
	usleep(50000);
	bfs_chunkcache_stats(cc, &st);
	is_int(st.entries, read_chunks, "no readahead when ra_bytes is 0");
	bfs_rfile_close(f);
	bfs_reader_destroy(rd);
	bfs_chunkcache_free(cc);
}

/* View [off, off + len) of f, extended to the end of its last chunk (so
 * that a sequential read releases every chunk it covers behind it): 1 if
 * the bytes match, and whether the read counted as sequential. */
static int view_seq(struct bfs_rfile *f, uint64_t off, size_t len, bool *seq)
{
	struct bfs_err err = {{0}};
	struct bfs_rview v;
	uint64_t at = 0;
	ssize_t got;
	size_t i;
	int same;

	for (i = 0; i < NCHUNKS && at < off + len; i++)
		at += refs[i].len;
	len = (size_t)(at - off);
	got = bfs_rfile_view(f, off, len, &v, &err);
	same = got == (ssize_t)len;
	at = off;

	for (i = 0; same && i < v.n; i++) {
		same = !memcmp(v.iov[i].iov_base, data + at, v.iov[i].iov_len);
		at += v.iov[i].iov_len;
	}
	*seq = v.behind > 0;
	bfs_rview_release(&v);
	return same;
}

/* The kernel's async readahead requests of one stream arrive out of
 * order, one several MiB after later ones (answered by several FUSE
 * threads): such a request is still part of the stream, and so is the
 * next one.  A reader that jumps back as far without a stream is still a
 * random one. */
static void test_lagging_request(void)
{
	const size_t k = 192u << 10;
	struct bfs_chunkcache *cc = NULL;
	struct bfs_reader *rd = NULL;
	struct bfs_reader_config cfg = {.threads = 2, .ra_bytes = 8u << 20};
	struct bfs_rfile *f;
	bool seq, all = true;
	int same = 1;

	if (size < 14 * k) {
		skip(5, "file too small");
		return;
	}
	bfs_chunkcache_new(64u << 20, &cc);
	bfs_reader_create(repo, cc, &cfg, &rd);
	f = open_file(rd);
	same &= view_seq(f, 0, k, &seq);
	same &= view_seq(f, k, k, &seq);
	all = all && seq;
	same &= view_seq(f, 2 * k, k, &seq);
	all = all && seq;
	same &= view_seq(f, 6 * k, k, &seq); /* ahead, within the slack */
	all = all && seq;
	same &= view_seq(f, 10 * k, k, &seq);
	all = all && seq;
	ok(all, "lagging: a stream of requests a little out of order");
	/* 1.3 MiB before where the last one started */
	same &= view_seq(f, 3 * k, k, &seq);
	ok(seq, "lagging: a request arriving late is part of the stream");
	same &= view_seq(f, 11 * k, k, &seq);
	ok(seq, "lagging: and so is the one after it");
	ok(same, "lagging: the bytes match");
	bfs_rfile_close(f);

	/* No stream: a jump back as far is a random read. */
	f = open_file(rd);
	same = view_seq(f, 10 * k, k, &seq);
	same &= view_seq(f, 3 * k, k, &seq);
	ok(same && !seq, "lagging: without a stream, a jump back is random");
	bfs_rfile_close(f);
	bfs_reader_destroy(rd);
	bfs_chunkcache_free(cc);
}

/* ---- streaming ---------------------------------------------------------- */

static uint64_t split_bytes(void)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < SPLIT; i++)
		n += refs[i].len;
	return n;
}

struct sink {
	uint8_t *buf;
	uint64_t at;
	bool in_order;
	uint64_t stop_after;
};

static int sink_cb(void *arg, uint64_t off, const uint8_t *d, size_t n)
{
	struct sink *s = arg;

	if (off != s->at)
		s->in_order = false;
	memcpy(s->buf + off, d, n);
	s->at = off + n;
	if (s->stop_after && s->at >= s->stop_after)
		return 7;
	return 0;
}

static void test_stream(void)
{
	struct bfs_reader *rd = NULL;
	struct bfs_err err = {{0}};
	struct sink s = {calloc(1, size), 0, true, 0};
	int rc;

	bfs_reader_create(repo, NULL, NULL, &rd);
	rc = bfs_reader_stream(rd, refs, NCHUNKS, sink_cb, &s, &err);
	is_int(rc, 0, "stream the file (two packs: fetched ahead)");
	ok(s.in_order && s.at == size && !memcmp(s.buf, data, size),
	   "  in order, bytes match");
	s = (struct sink){s.buf, 0, true, 100000};
	rc = bfs_reader_stream(rd, refs, NCHUNKS, sink_cb, &s, &err);
	is_int(rc, 7, "the callback's value stops the stream");
	s = (struct sink){s.buf, 0, true, 0};
	rc = bfs_reader_stream(rd, refs, SPLIT, sink_cb, &s, &err);
	ok(rc == 0 && s.at == split_bytes() && !memcmp(s.buf, data, s.at),
	   "stream one pack (one run: read here)");
	{
		struct bfs_rfile *f = NULL;

		is_int(bfs_reader_open(rd, refs, 1, 1, &f, &err), -EINVAL,
		       "random access needs a cache");
	}
	memset(s.buf, 0, size);
	rc = bfs_reader_read_into(rd, refs, NCHUNKS, s.buf, size, &err);
	ok(rc == 0 && !memcmp(s.buf, data, size),
	   "read_into: the whole file, straight into the buffer");
	rc = bfs_reader_read_into(rd, refs, SPLIT, s.buf, split_bytes(), &err);
	ok(rc == 0 && !memcmp(s.buf, data, split_bytes()),
	   "read_into: the chunks of one pack");
	rc = bfs_reader_read_into(rd, refs, NCHUNKS, s.buf, size - 1, &err);
	is_int(rc, -EUCLEAN, "read_into: lengths that do not add up");
	bfs_reader_destroy(rd);
	free(s.buf);
}

/* ---- faults ------------------------------------------------------------- */

/* A second handle on the repository whose store injects spec. */
static struct bfs_repo *faulty(const char *spec)
{
	struct bfs_repo *r = NULL;
	struct bfs_store *w = NULL;
	struct bfs_err err = {{0}};

	if (bfs_repo_open(repo_path, NULL, &r, &err))
		return NULL;
	if (bfs_store_fault_wrap(r->store, spec, &w, &err)) {
		r->store = NULL;
		bfs_repo_close(r);
		diag("fault wrap: %s", err.msg);
		return NULL;
	}
	r->store = w;
	return r;
}

static void test_faults(void)
{
	struct bfs_chunkcache *cc = NULL;
	struct bfs_reader *rd = NULL;
	struct bfs_rfile *f = NULL;
	struct bfs_err err = {{0}};
	struct bfs_chunkref bad[NCHUNKS];
	struct bfs_repo *r;
	struct sink s = {calloc(1, size), 0, true, 0};
	uint8_t *buf = malloc(size);
	ssize_t got;
	size_t i;
	int rc;

	/* A pack that is not there. */
	memcpy(bad, refs, sizeof(bad));
	for (i = 0; i < SPLIT; i++)
		bad[i].pack[0] ^= 0xff;
	bfs_chunkcache_new(64u << 20, &cc);
	bfs_reader_create(repo, cc, NULL, &rd);
	bfs_reader_open(rd, bad, NCHUNKS, size, &f, &err);
	memset(buf, 0xAA, size);
	got = bfs_rfile_read(f, buf, 1000, 0, &err);
	is_int(got, -ENOENT, "missing pack: -ENOENT");
	ok(strstr(err.msg, "in pack 'packs/") != NULL,
	   "  the message names the pack (%s)", err.msg);
	ok(buf[0] == 0xAA && buf[999] == 0xAA, "  no bytes handed out");
	got = bfs_rfile_read(f, buf, 1000, size - 1000, &err);
	ok(got == 1000 && !memcmp(buf, data + size - 1000, 1000),
	   "  chunks of the other pack still read");
	bfs_rfile_close(f);
	f = NULL;
	rc = bfs_reader_stream(rd, bad, NCHUNKS, sink_cb, &s, &err);
	is_int(rc, -ENOENT, "stream: missing pack: -ENOENT");
	bfs_reader_destroy(rd);
	bfs_chunkcache_free(cc);

	/* Every pack read returns a flipped byte. */
	r = faulty("get:key=packs/:corrupt=1");
	ok(r != NULL, "a repository handle with corrupting reads");
	if (r) {
		cc = NULL;
		rd = NULL;
		bfs_chunkcache_new(64u << 20, &cc);
		bfs_reader_create(r, cc, NULL, &rd);
		bfs_reader_open(rd, refs, NCHUNKS, size, &f, &err);
		memset(buf, 0xAA, size);
		got = bfs_rfile_read(f, buf, size, 0, &err);
		ok(got == -EBADMSG || got == -EUCLEAN,
		   "corrupt chunk: -EBADMSG or -EUCLEAN (%zd: %s)", got,
		   err.msg);
		ok(buf[0] == 0xAA && buf[size - 1] == 0xAA,
		   "  never wrong bytes");
		bfs_rfile_close(f);
		f = NULL;
		s = (struct sink){s.buf, 0, true, 0};
		memset(s.buf, 0, size);
		rc = bfs_reader_stream(rd, refs, NCHUNKS, sink_cb, &s, &err);
		ok(rc == -EBADMSG || rc == -EUCLEAN,
		   "stream: corrupt chunk is an error (%d)", rc);
		ok(s.at == 0, "  nothing delivered");
		rc = bfs_reader_read_into(rd, refs, NCHUNKS, buf, size, &err);
		ok(rc == -EBADMSG || rc == -EUCLEAN,
		   "read_into: corrupt chunk is an error (%d)", rc);
		bfs_reader_destroy(rd);
		bfs_chunkcache_free(cc);
		bfs_repo_close(r);
	}

	/* Every other pack read fails: a failed load is not cached. */
	r = faulty("get:key=packs/:every=2:err=EIO");
	if (r) {
		struct bfs_cc_stats st;
		uint64_t c2 = refs[0].len + refs[1].len + refs[2].len;
		ssize_t g1, g2, g3;

		cc = NULL;
		rd = NULL;
		bfs_chunkcache_new(64u << 20, &cc);
		bfs_reader_create(r, cc, NULL, &rd);
		bfs_reader_open(rd, refs, NCHUNKS, size, &f, &err);
		/* gets: #1 passes, #2 fails, #3 passes */
		g1 = bfs_rfile_read(f, buf, 10, 5, &err);
		ok(g1 == 10 && !memcmp(buf, data + 5, 10),
		   "transient errors: first read fine");
		g2 = bfs_rfile_read(f, buf, 10, c2 + 5, &err);
		is_int(g2, -EIO, "  the next load fails: -EIO");
		g3 = bfs_rfile_read(f, buf, 10, c2 + 5, &err);
		ok(g3 == 10 && !memcmp(buf, data + c2 + 5, 10),
		   "  read again: loaded again, right bytes");
		bfs_chunkcache_stats(cc, &st);
		is_int(st.failures, 1, "  the failed load was not kept");
		bfs_rfile_close(f);
		bfs_reader_destroy(rd);
		bfs_chunkcache_free(cc);
		bfs_repo_close(r);
	}
	free(buf);
	free(s.buf);
}

int main(void)
{
	int rc = setup();

	ok(rc == 0, "a repository of two packs, %d chunks", NCHUNKS);
	if (rc)
		return tap_done();
	test_plan();
	test_ra_plan();
	test_ranges();
	test_single_flight();
	test_readahead();
	test_lagging_request();
	test_stream();
	test_faults();
	bfs_repo_close(repo);
	free(data);
	if (!getenv("BFS_KEEP_TMP")) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			diag("cannot remove %s", tmp);
	}
	return tap_done();
}
