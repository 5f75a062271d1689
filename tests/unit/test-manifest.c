/* test-manifest.c - the manifest reader (both versions) and the format-1
 * writer (tests and migrate still write version 1; the worked example of
 * doc/FORMAT.md, format 2, is run by tests/e2e/t0003).
 *
 * With BFS_WRITE_CORPUS=DIR (DIR = tests/corpus) in the environment the
 * test also (re)writes the known-bad manifests of DIR/manifest-bad/ and
 * the golden manifest DIR/manifest-good/all-types (every entry type),
 * which later versions of the reader must keep accepting.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "src/chunker.h"
#include "src/manifest.h"
#include "src/pack.h"
#include "src/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

#define BIG_MT 1763779800123456789ll

/* Compress text as one zstd frame. */
static void zbuf(struct bfs_buf *out, const char *text, size_t n)
{
	size_t bound = ZSTD_compressBound(n);

	out->len = 0;
	bfs_buf_reserve(out, bound);
	out->len = ZSTD_compress(out->data, bound, text, n, 3);
}

/* Read a whole manifest: 0 when every entry and the end line verify,
 * else the error; *nent receives the entries read. */
static int read_all(const void *data, size_t len, size_t *nent,
		    struct bfs_err *err)
{
	struct bfs_manifest_reader *r;
	struct bfs_entry e;
	const struct bfs_chunkref *c;
	size_t nc, n = 0;
	int rc;

	rc = bfs_manifest_reader_new(data, len, &r, err);
	if (rc)
		goto out;
	while ((rc = bfs_manifest_reader_next(r, &e, &c, &nc, err)) == 1)
		n++;
	bfs_manifest_reader_free(r);
out:
	if (nent)
		*nent = n;
	return rc;
}

static const char *HDR =
    "{\"backupfs\":\"manifest\",\"version\":1,\"id\":\"b1\","
    "\"time\":\"2026-11-22T02:50:00.123456789Z\",\"time_ns\":"
    "1763779800123456789,\"host\":\"h\",\"tags\":[],\"sources\":[],"
    "\"partial\":false,\"stats\":{\"entries\":0,\"files\":0,\"dirs\":0,"
    "\"bytes\":0,\"chunks\":0,\"new_chunks\":0,\"new_bytes\":0,"
    "\"stored_bytes\":0,\"errors\":0,\"duration_ns\":0}}\n";

#define H64A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H64B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* Build header + body as text and compress it. */
static int check_text(const char *body, struct bfs_err *err)
{
	struct bfs_buf t = {0}, z = {0};
	int rc;

	bfs_buf_printf(&t, "%s%s", HDR, body);
	zbuf(&z, (const char *)t.data, t.len);
	rc = read_all(z.data, z.len, NULL, err);
	bfs_buf_free(&t);
	bfs_buf_free(&z);
	return rc;
}

/* The header's optional "job": written when set, absent otherwise, read
 * back; anything but a valid job name is refused. */
static void test_job_key(void)
{
	static const char *const bad[] = {"\"\"",
					  "\"../x\"",
					  "\".hidden\"",
					  "\"-x\"",
					  "\"a/b\"",
					  "\"a b\"",
					  "7",
					  "null",
					  "[\"a\"]",
					  "\"a\\u00e9\"",
					  "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
					  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""};
	struct bfs_manifest_header h = {0};
	const struct bfs_manifest_header *rh;
	struct bfs_manifest_writer *w = NULL;
	struct bfs_manifest_reader *r = NULL;
	struct bfs_buf out = {0}, t = {0}, z = {0};
	struct bfs_err err = {{0}};
	const char *at = strstr(HDR, ",\"tags\"");
	size_t i;
	int rc;

	h.id = "b1";
	h.time_ns = 1;
	h.host = "h";
	h.tags = (char *[]){NULL};
	h.job = "app.db-1_x";
	rc = bfs_manifest_writer_new(&w, &err);
	if (!rc)
		rc = bfs_manifest_writer_finish(w, &h, &out, &err);
	bfs_manifest_writer_free(w);
	if (!rc)
		rc = bfs_manifest_reader_new(out.data, out.len, &r, &err);
	is_int(rc, 0, "header with a job: %s", rc ? err.msg : "ok");
	rh = r ? bfs_manifest_reader_header(r) : NULL;
	ok(rh && rh->job && !strcmp(rh->job, "app.db-1_x"), "job read back");
	bfs_manifest_reader_free(r);
	r = NULL;
	bfs_buf_free(&out);

	zbuf(&z, HDR, strlen(HDR));
	rc = bfs_manifest_reader_new(z.data, z.len, &r, &err);
	ok(rc == 0 && !bfs_manifest_reader_header(r)->job,
	   "no \"job\" key: job NULL");
	bfs_manifest_reader_free(r);
	r = NULL;
	bfs_buf_free(&z);

	for (i = 0; i < BFS_ARRAY_SIZE(bad); i++) {
		t.len = 0;
		bfs_buf_printf(&t, "%.*s,\"job\":%s%s", (int)(at - HDR), HDR,
			       bad[i], at);
		zbuf(&z, (const char *)t.data, t.len);
		rc = bfs_manifest_reader_new(z.data, z.len, &r, &err);
		ok(rc == -EUCLEAN && strstr(err.msg, "\"job\""),
		   "job %s refused: %s", bad[i], rc ? err.msg : "accepted");
		bfs_manifest_reader_free(r);
		r = NULL;
		bfs_buf_free(&z);
	}
	bfs_buf_free(&t);
}

/* The one-pass JSON parser of the reader: what it decodes and what it
 * refuses beyond the corpus. */
static void test_json_pass(void)
{
	static const struct {
		const char *p;	  /* value of "p" as written in the line */
		const char *want; /* decoded path, NULL: rejected */
	} cases[] = {
	    {"a\\u00e9b", "a\xc3\xa9"
			  "b"},
	    {"\\ud83d\\ude00", "\xf0\x9f\x98\x80"},
	    {"q\\\"\\\\\\/\\t", "q\"\\/\t"},
	    {"\\ud83d", NULL},	/* lone high surrogate */
	    {"\\ude00", NULL},	/* lone low surrogate */
	    {"a\\u0rd:", NULL}, /* bad hex (cJSON took it as NUL) */
	    {"a\\x", NULL},	/* unknown escape */
	    {"a\\u0000", NULL},
	};
	struct bfs_err err = {{0}};
	int rc;

	for (size_t i = 0; i < BFS_ARRAY_SIZE(cases); i++) {
		struct bfs_buf t = {0}, z = {0};
		struct bfs_manifest_reader *r = NULL;
		const struct bfs_chunkref *c;
		struct bfs_entry e;
		size_t nc;

		bfs_buf_printf(&t,
			       "%s{\"p\":\"%s\",\"t\":\"d\",\"m\":493,"
			       "\"u\":0,\"g\":0,\"mt\":0}\n"
			       "{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			       HDR, cases[i].p);
		zbuf(&z, (const char *)t.data, t.len);
		rc = bfs_manifest_reader_new(z.data, z.len, &r, &err);
		if (!rc)
			rc = bfs_manifest_reader_next(r, &e, &c, &nc, &err);
		if (cases[i].want)
			ok(rc == 1 && !strcmp(e.path, cases[i].want) &&
			       e.path_len == strlen(cases[i].want),
			   "string \"%s\" decodes: %s", cases[i].p,
			   rc == 1 ? e.path : err.msg);
		else
			ok(rc == -EUCLEAN, "string \"%s\" rejected: %s",
			   cases[i].p, err.msg);
		bfs_manifest_reader_free(r);
		bfs_buf_free(&t);
		bfs_buf_free(&z);
	}
	/* the header line as stored, for the catalog */
	{
		struct bfs_buf t = {0}, z = {0};
		struct bfs_manifest_reader *r = NULL;
		const char *line = NULL;
		size_t len = 0;

		bfs_buf_printf(&t, "%s{\"end\":{\"entries\":0,\"chunks\":0}}\n",
			       HDR);
		zbuf(&z, (const char *)t.data, t.len);
		rc = bfs_manifest_reader_new(z.data, z.len, &r, &err);
		if (!rc)
			line = bfs_manifest_reader_header_line(r, &len);
		ok(line && len == strlen(HDR) - 1 && !strncmp(line, HDR, len) &&
		       line[len] == '\0',
		   "header line kept as stored");
		bfs_manifest_reader_free(r);
		bfs_buf_free(&t);
		bfs_buf_free(&z);
	}
	/* pretty-printed sources: flattened by the writer, read back */
	{
		struct bfs_manifest_header h = {0};
		struct bfs_manifest_writer *w = NULL;
		struct bfs_manifest_reader *r = NULL;
		struct bfs_buf out = {0};

		h.id = "b1";
		h.sources_json =
		    "[ {\"kind\": \"files\",\n\t\"path\": \"x\"} ]";
		rc = bfs_manifest_writer_new(&w, &err);
		if (!rc)
			rc = bfs_manifest_writer_finish(w, &h, &out, &err);
		if (!rc)
			rc = bfs_manifest_reader_new(out.data, out.len, &r,
						     &err);
		ok(rc == 0 &&
		       !strcmp(bfs_manifest_reader_header(r)->sources_json,
			       "[ {\"kind\": \"files\",  \"path\": \"x\"} ]"),
		   "pretty-printed sources round trip: %s",
		   rc ? err.msg : bfs_manifest_reader_header(r)->sources_json);
		bfs_manifest_reader_free(r);
		bfs_manifest_writer_free(w);
		bfs_buf_free(&out);
	}
	/* whitespace between tokens (sources the writer flattened) */
	rc = check_text("{ \"p\" : \"d\" ,\t\"t\":\"d\",\"m\":493,\"u\":0,"
			"\"g\":0,\"mt\":0 }\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	is_int(rc, 0, "whitespace between tokens: %s", rc ? err.msg : "ok");
	rc = check_text("{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,"
			"\"mt\":0,\"x\":[1,-0.5e+3,true,false,null,{}]}\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	is_int(rc, 0, "unknown member of every JSON type: %s",
	       rc ? err.msg : "ok");
	rc = check_text("{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,"
			"\"mt\":0,\"x\":tru}\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	ok(rc == -EUCLEAN && strstr(err.msg, "JSON"), "bad literal: %s",
	   err.msg);
	rc = check_text("{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,"
			"\"mt\":0,\"x\":1.}\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	ok(rc == -EUCLEAN && strstr(err.msg, "JSON"), "bad number: %s",
	   err.msg);
	rc = check_text("{\"\\u0070\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,"
			"\"g\":0,\"mt\":0}\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	is_int(rc, 0, "escaped member name \\u0070 is \"p\": %s",
	       rc ? err.msg : "ok");
}

static void test_path_valid(void)
{
	ok(bfs_manifest_path_valid("a", 1), "a");
	ok(bfs_manifest_path_valid("a/b/c", 5), "a/b/c");
	ok(bfs_manifest_path_valid("...", 3), "...");
	ok(bfs_manifest_path_valid(".a/..b", 6), ".a/..b");
	ok(!bfs_manifest_path_valid("", 0), "empty");
	ok(!bfs_manifest_path_valid(NULL, 0), "NULL");
	ok(!bfs_manifest_path_valid("/a", 2), "absolute");
	ok(!bfs_manifest_path_valid("a/", 2), "trailing slash");
	ok(!bfs_manifest_path_valid("a//b", 4), "empty component");
	ok(!bfs_manifest_path_valid(".", 1), ".");
	ok(!bfs_manifest_path_valid("a/./b", 5), "a/./b");
	ok(!bfs_manifest_path_valid("..", 2), "..");
	ok(!bfs_manifest_path_valid("a/..", 4), "a/..");
	ok(!bfs_manifest_path_valid("a\0b", 3), "NUL inside");
}

/* ---- round trip -------------------------------------------------------- */

struct want {
	struct bfs_entry e;
	size_t nchunks;
};

static void mkref(struct bfs_chunkref *c, uint32_t i, uint32_t len)
{
	memset(c->hash, 0, BFS_HASH_LEN);
	bfs_put_le32(c->hash, i);
	c->hash[31] = 0xab;
	memset(c->pack, 0x5c, BFS_HASH_LEN);
	bfs_put_le32(c->pack, i / 100);
	c->offset = 8 + (uint64_t)i * 1000;
	c->clen = 900 + i % 7;
	c->len = len;
}

static int entry_eq(const struct bfs_entry *a, const struct bfs_entry *b)
{
#define SEQ(x, y)                                                              \
	(((x) == NULL && (y) == NULL) || ((x) && (y) && strcmp((x), (y)) == 0))
	return a->path_len == b->path_len &&
	       memcmp(a->path, b->path, a->path_len) == 0 &&
	       a->type == b->type && a->mode == b->mode && a->uid == b->uid &&
	       a->gid == b->gid && SEQ(a->user, b->user) &&
	       SEQ(a->group, b->group) && a->mtime_ns == b->mtime_ns &&
	       a->ctime_ns == b->ctime_ns && a->ino == b->ino &&
	       a->size == b->size && a->target_len == b->target_len &&
	       (!a->target_len ||
		memcmp(a->target, b->target, a->target_len) == 0) &&
	       a->rdev == b->rdev && a->link_len == b->link_len &&
	       (!a->link_len || memcmp(a->link, b->link, a->link_len) == 0) &&
	       a->sparse == b->sparse && SEQ(a->error, b->error);
#undef SEQ
}

static char name255[300];

static size_t build_entries(struct want *w)
{
	size_t n = 0;
	static const char badpath[] = "files/bad\xff\xfe name";
	static const char badtarget[] = "target-\x80\x81";

	memset(name255, 'x', 255);
	memcpy(name255, "files/", 6);
	memset(name255 + 6, 'n', 255);
	name255[6 + 255] = '\0';

#define E (w[n].e)
	memset(w, 0, sizeof(*w) * 20);
	E.path = "files";
	E.path_len = 5;
	E.type = BFS_T_DIR;
	E.mode = 0755;
	E.uid = 1000;
	E.gid = 1000;
	E.user = "alice";
	E.group = "staff";
	E.mtime_ns = BIG_MT;
	E.ctime_ns = BIG_MT + 1;
	E.ino = 12345;
	n++;
	E.path = "files/a.txt";
	E.path_len = 11;
	E.type = BFS_T_FILE;
	E.mode = 04755;
	E.uid = 4294967294u;
	E.gid = 4294967295u;
	E.mtime_ns = BIG_MT;
	E.size = 3 * 1000;
	E.ino = UINT64_MAX;
	w[n].nchunks = 3;
	n++;
	E.path = "files/big";
	E.path_len = 9;
	E.type = BFS_T_FILE;
	E.mode = 0600;
	E.mtime_ns = -1234567890123456789ll;
	E.size = 3000ull * 4096;
	E.sparse = true;
	w[n].nchunks = 3000;
	n++;
	E.path = "files/empty";
	E.path_len = 11;
	E.type = BFS_T_FILE;
	E.mode = 0644;
	E.mtime_ns = 0;
	n++;
	E.path = (char *)badpath;
	E.path_len = sizeof(badpath) - 1;
	E.type = BFS_T_FILE;
	E.mode = 0644;
	E.size = 1000;
	E.user = "\xc3\xa9l\xc3\xa8ve"; /* élève */
	w[n].nchunks = 1;
	n++;
	E.path = "files/new\nline \"q\" \\ \t";
	E.path_len = strlen(E.path);
	E.type = BFS_T_FILE;
	E.mode = 0644;
	E.size = 0;
	n++;
	E.path = name255;
	E.path_len = strlen(name255);
	E.type = BFS_T_FILE;
	E.mode = 0644;
	E.size = 0;
	n++;
	E.path = "files/link";
	E.path_len = 10;
	E.type = BFS_T_SYMLINK;
	E.mode = 0777;
	E.target = "a.txt";
	E.target_len = 5;
	E.size = 5;
	n++;
	E.path = "files/badlink";
	E.path_len = 13;
	E.type = BFS_T_SYMLINK;
	E.mode = 0777;
	E.target = (char *)badtarget;
	E.target_len = sizeof(badtarget) - 1;
	E.size = E.target_len;
	n++;
	E.path = "files/hard";
	E.path_len = 10;
	E.type = BFS_T_FILE;
	E.mode = 0644;
	E.size = 3000;
	E.link = "files/a.txt";
	E.link_len = 11;
	n++;
	E.path = "files/hardbad";
	E.path_len = 13;
	E.type = BFS_T_FILE;
	E.mode = 0644;
	E.size = 1000;
	E.link = (char *)badpath;
	E.link_len = sizeof(badpath) - 1;
	n++;
	E.path = "files/fifo";
	E.path_len = 10;
	E.type = BFS_T_FIFO;
	E.mode = 0600;
	n++;
	E.path = "files/null";
	E.path_len = 10;
	E.type = BFS_T_CHR;
	E.mode = 0666;
	E.rdev = 0x103;
	n++;
	E.path = "files/sda";
	E.path_len = 9;
	E.type = BFS_T_BLK;
	E.mode = 0660;
	E.rdev = UINT64_MAX;
	n++;
	E.path = "files/sock";
	E.path_len = 10;
	E.type = BFS_T_SOCK;
	E.mode = 0755;
	n++;
	E.path = "files/secret";
	E.path_len = 12;
	E.type = BFS_T_FILE;
	E.mode = 0600;
	E.size = 42;
	E.error = "cannot open: Permission denied";
	n++;
	E.path = "database.sql";
	E.path_len = 12;
	E.type = BFS_T_FILE;
	E.mode = 0644;
	E.size = 1000;
	w[n].nchunks = 1;
	n++;
#undef E
	return n;
}

static int write_manifest(struct want *w, size_t n, struct bfs_buf *out,
			  struct bfs_manifest_header *h, size_t *total_chunks)
{
	struct bfs_manifest_writer *mw;
	struct bfs_err err = {{0}};
	struct bfs_chunkref c;
	uint32_t ci = 0;
	int rc;

	*total_chunks = 0;
	rc = bfs_manifest_writer_new(&mw, &err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		uint32_t len =
		    w[i].nchunks ? (uint32_t)(w[i].e.size / w[i].nchunks) : 0;

		for (size_t k = 0; k < w[i].nchunks; k++) {
			mkref(&c, ci++, len);
			rc = bfs_manifest_writer_chunk(mw, &c, &err);
			if (rc)
				goto out;
		}
		*total_chunks += w[i].nchunks;
		rc = bfs_manifest_writer_entry(mw, &w[i].e, &err);
		if (rc)
			goto out;
	}
	rc = bfs_manifest_writer_finish(mw, h, out, &err);
out:
	if (rc)
		diag("write: %s", err.msg);
	bfs_manifest_writer_free(mw);
	return rc;
}

static char *tags[] = {"daily", "nocodb \"prod\"", NULL};
static const char *SOURCES =
    "[{\"kind\":\"pg-dump\",\"path\":\"database.sql\",\"n\":9007199254740993},"
    "\n"
    " {\"kind\":\"files\",\"path\":\"files\",\"dir\":\"/srv/x\"}]";

static void fill_header(struct bfs_manifest_header *h)
{
	memset(h, 0, sizeof(*h));
	h->id = "2026-11-22_02-50-00";
	h->time_ns = BIG_MT;
	h->host = "db1.example";
	h->tags = tags;
	h->sources_json = (char *)SOURCES;
	h->partial = true;
	h->stats.entries = 17;
	h->stats.files = 11;
	h->stats.bytes = UINT64_MAX;
	h->stats.chunks = 3005;
	h->stats.new_bytes = 1ull << 62;
	h->stats.errors = 1;
	h->stats.duration_ns = -5;
}

static void test_roundtrip(struct bfs_buf *keep)
{
	struct want w[20];
	struct bfs_manifest_header h;
	const struct bfs_manifest_header *rh;
	struct bfs_manifest_reader *r = NULL;
	struct bfs_buf out = {0};
	struct bfs_err err = {{0}};
	struct bfs_entry e;
	const struct bfs_chunkref *c;
	size_t n = build_entries(w), nc, total, got = 0, bad = 0, badc = 0;
	uint32_t ci = 0;
	int rc;

	fill_header(&h);
	rc = write_manifest(w, n, &out, &h, &total);
	is_int(rc, 0, "write %zu entries, %zu chunks", n, total);
	diag("manifest: %zu compressed bytes", out.len);
	rc = bfs_manifest_reader_new(out.data, out.len, &r, &err);
	is_int(rc, 0, "reader_new: %s", rc ? err.msg : "ok");
	if (rc)
		return;
	rh = bfs_manifest_reader_header(r);
	is_str(rh->id, h.id, "header id");
	is_int(rh->time_ns, BIG_MT, "header time_ns exact");
	is_str(rh->host, h.host, "header host");
	ok(rh->tags && rh->tags[0] && rh->tags[1] && !rh->tags[2] &&
	       strcmp(rh->tags[1], tags[1]) == 0,
	   "header tags");
	ok(rh->sources_json && strstr(rh->sources_json, "9007199254740993") &&
	       !strchr(rh->sources_json, '\n'),
	   "sources kept verbatim (newline flattened): %s", rh->sources_json);
	ok(rh->partial, "partial");
	ok(rh->stats.bytes == UINT64_MAX && rh->stats.new_bytes == 1ull << 62 &&
	       rh->stats.entries == 17 && rh->stats.chunks == 3005 &&
	       rh->stats.errors == 1 && rh->stats.duration_ns == -5,
	   "stats exact");

	while ((rc = bfs_manifest_reader_next(r, &e, &c, &nc, &err)) == 1) {
		if (got < n) {
			uint32_t len =
			    w[got].nchunks
				? (uint32_t)(w[got].e.size / w[got].nchunks)
				: 0;

			if (!entry_eq(&e, &w[got].e)) {
				bad++;
				diag("entry %zu '%s' differs", got,
				     w[got].e.path);
			}
			if (nc != w[got].nchunks)
				badc++;
			for (size_t k = 0; k < nc && k < w[got].nchunks; k++) {
				struct bfs_chunkref x;

				mkref(&x, ci++, len);
				if (memcmp(&x, &c[k], sizeof(x)))
					badc++;
			}
		}
		got++;
	}
	is_int(rc, 0, "end line verified: %s", rc ? err.msg : "ok");
	is_int(got, n, "all entries read");
	is_int(bad, 0,
	       "every entry round-trips (types, non-UTF-8, newline, 255-byte "
	       "name, hardlinks, errors, int64)");
	is_int(badc, 0, "every chunk round-trips, 3000-chunk file included");
	is_int(bfs_manifest_reader_next(r, &e, &c, &nc, &err), 0,
	       "next after the end returns 0 again");
	bfs_manifest_reader_free(r);
	bfs_manifest_reader_free(NULL);
	*keep = out;
}

/* The raw text: header frame alone, jq can read it, keys as documented. */
static void test_text(const struct bfs_buf *m)
{
	char path[] = "/tmp/bfs-test-manifest-XXXXXX";
	char cmd[512], line[4096];
	size_t first = ZSTD_findFrameCompressedSize(m->data, m->len);
	char hdr[4096];
	size_t hl;
	FILE *p;
	int fd = mkstemp(path), lines = 0, clines = 0;

	ok(!ZSTD_isError(first) && first < m->len, "several zstd frames");
	hl = ZSTD_decompress(hdr, sizeof(hdr) - 1, m->data, first);
	ok(!ZSTD_isError(hl) && hl > 0 && hdr[hl - 1] == '\n' &&
	       memchr(hdr, '\n', hl) == hdr + hl - 1,
	   "the first frame is exactly the header line");
	if (!ZSTD_isError(hl)) {
		hdr[hl] = 0;
		ok(strstr(hdr, "\"time_ns\":1763779800123456789") &&
		       strstr(hdr,
			      "\"time\":\"2025-11-22T02:50:00.123456789Z\""),
		   "header time fields: %.200s", hdr);
	}
	if (fd < 0 || bfs_write_full(fd, m->data, m->len)) {
		ok(0, "write temp manifest");
		return;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "zstd -qdc %s | jq -c '[.p // .pb // (if .c then \"c\" else "
		 "null end), .mt, .u, .s, .l, .h]'",
		 path);
	p = popen(cmd, "r");
	while (p && fgets(line, sizeof(line), p)) {
		lines++;
		if (strncmp(line, "[\"c\"", 4) == 0)
			clines++;
		if (strncmp(
			line,
			"[\"files/a.txt\",1763779800123456789,4294967294,3000",
			50) == 0)
			ok(1, "jq sees a.txt with exact mt and uid: %s", line);
	}
	ok(p && pclose(p) == 0, "zstd -dc | jq reads every line");
	/* header + 17 entries + c lines (1 + 3 + 1 + 1) + end */
	is_int(lines, 1 + 17 + 6 + 1, "line count");
	is_int(clines, 6, "the 3000-chunk file spans 3 \"c\" lines");
	unlink(path);
}

/* Cut the compressed manifest everywhere: always an error, never a crash
 * nor a success. */
static void test_truncation(const struct bfs_buf *m)
{
	size_t step = m->len > 4000 ? 23 : 1, accepted = 0, tried = 0;
	struct bfs_err err = {{0}};
	int saw_trunc = 0;

	for (size_t l = 0; l < m->len; l += step) {
		int rc = read_all(m->data, l, NULL, &err);

		tried++;
		if (rc == 0)
			accepted++;
		if (strstr(err.msg, "truncated manifest"))
			saw_trunc++;
	}
	/* and the last 64 cut points one by one */
	for (size_t l = m->len > 64 ? m->len - 64 : 0; l < m->len; l++) {
		tried++;
		if (read_all(m->data, l, NULL, &err) == 0)
			accepted++;
	}
	is_int(accepted, 0, "%zu truncations all rejected", tried);
	ok(saw_trunc > 0, "\"truncated manifest\" reported (%d times)",
	   saw_trunc);
	diag("last: %s", err.msg);
	/* appended garbage */
	{
		struct bfs_buf x = {0};

		bfs_buf_append(&x, m->data, m->len);
		bfs_buf_append(&x, "garbage!", 8);
		ok(read_all(x.data, x.len, NULL, &err) < 0,
		   "trailing garbage rejected: %s", err.msg);
		x.len = m->len;
		bfs_buf_append(&x, m->data, m->len);
		ok(read_all(x.data, x.len, NULL, &err) < 0,
		   "manifest twice rejected: %s", err.msg);
		bfs_buf_free(&x);
	}
	/* bit flips in the compressed bytes: error or identical result */
	{
		struct bfs_buf x = {0};
		size_t flips = 0, okc = 0;

		bfs_buf_append(&x, m->data, m->len);
		for (size_t pos = 0; pos < x.len; pos += 29) {
			x.data[pos] ^= (uint8_t)(1u << (pos % 8));
			if (read_all(x.data, x.len, NULL, NULL) == 0)
				okc++;
			flips++;
			x.data[pos] ^= (uint8_t)(1u << (pos % 8));
		}
		diag("%zu bit flips, %zu accepted", flips, okc);
		is_int(okc, 0, "bit flips caught (zstd checksums)");
		bfs_buf_free(&x);
	}
}

static void test_bad_text(void)
{
	struct bfs_err err = {{0}};
	struct bfs_buf t = {0}, z = {0};
	int rc;

	rc = check_text("{\"end\":{\"entries\":0,\"chunks\":0}}\n", &err);
	is_int(rc, 0, "minimal manifest: %s", rc ? err.msg : "ok");
	rc = check_text("", &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "truncated manifest"),
	   "missing end line: %s", err.msg);
	rc = check_text("{\"end\":{\"entries\":1,\"chunks\":0}}\n", &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "line 2"), "end count: %s",
	   err.msg);
	rc = check_text(
	    "{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":0}\n"
	    "{\"p\":\"d/"
	    "x\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":0,\"s\":1\n"
	    "{\"end\":{\"entries\":2,\"chunks\":0}}\n",
	    &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "line 3") &&
	       strstr(err.msg, "JSON"),
	   "corrupt JSON names the line: %s", err.msg);
	rc = check_text(
	    "{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":1.5}\n"
	    "{\"end\":{\"entries\":1,\"chunks\":0}}\n",
	    &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "\"mt\""), "fraction rejected: %s",
	   err.msg);
	rc = check_text(
	    "{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":1e3}\n"
	    "{\"end\":{\"entries\":1,\"chunks\":0}}\n",
	    &err);
	ok(rc == -EUCLEAN, "exponent rejected: %s", err.msg);
	rc = check_text("{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,"
			"\"mt\":9223372036854775808}\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	ok(rc == -EUCLEAN, "int64 overflow rejected: %s", err.msg);
	rc = check_text("{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,"
			"\"mt\":-9223372036854775808}\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	is_int(rc, 0, "INT64_MIN accepted: %s", rc ? err.msg : "ok");
	rc = check_text("{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":4294967296,"
			"\"g\":0,\"mt\":0}\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	ok(rc == -EUCLEAN && strstr(err.msg, "\"u\""), "uid 2^32 rejected: %s",
	   err.msg);
	rc = check_text(
	    "{\"p\":\"../x\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":0}\n"
	    "{\"end\":{\"entries\":1,\"chunks\":0}}\n",
	    &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "path"), "../x rejected: %s",
	   err.msg);
	rc = check_text(
	    "{\"c\":[[\"" H64A "\",\"" H64B "\",8,10,100]]}\n"
	    "{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":0}\n"
	    "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
	    &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "line 3"),
	   "chunks before a directory: %s", err.msg);
	rc = check_text("{\"c\":[[\"" H64A "\",\"" H64B "\",8,10,100]]}\n"
			"{\"p\":\"f\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,"
			"\"mt\":0,\"s\":101}\n"
			"{\"end\":{\"entries\":1,\"chunks\":1}}\n",
			&err);
	ok(rc == -EUCLEAN && strstr(err.msg, "chunks hold"),
	   "chunk sum != size: %s", err.msg);
	rc = check_text("{\"c\":[[\"" H64A "\",\"" H64B "\",8,10,100]]}\n"
			"{\"p\":\"f\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,"
			"\"mt\":0,\"s\":100}\n"
			"{\"end\":{\"entries\":1,\"chunks\":1}}\n",
			&err);
	is_int(rc, 0, "one-chunk file: %s", rc ? err.msg : "ok");
	rc = check_text("{\"c\":[[\"" H64A "\",\"" H64B "\",8,10,100]]}\n"
			"{\"p\":\"f\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,"
			"\"mt\":0,\"s\":5000,\"err\":\"read: EIO\"}\n"
			"{\"end\":{\"entries\":1,\"chunks\":1}}\n",
			&err);
	is_int(rc, 0, "file that failed mid-read keeps its chunks: %s",
	       rc ? err.msg : "ok");
	rc = check_text("{\"c\":[[\"" H64A "\",\"" H64B "\",8,0,100]]}\n"
			"{\"p\":\"f\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,"
			"\"mt\":0,\"s\":100}\n"
			"{\"end\":{\"entries\":1,\"chunks\":1}}\n",
			&err);
	ok(rc == -EUCLEAN, "clen 0: %s", err.msg);
	rc = check_text("{\"c\":[[\"" H64A "\",\"" H64B "\",8,10,16777217]]}\n"
			"{\"p\":\"f\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,"
			"\"mt\":0,\"s\":16777217}\n"
			"{\"end\":{\"entries\":1,\"chunks\":1}}\n",
			&err);
	ok(rc == -EUCLEAN, "len over the limit: %s", err.msg);
	rc = check_text("{\"c\":[[\"" H64A "\",\"" H64B "\",\"8\",10,100]]}\n"
			"{\"p\":\"f\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,"
			"\"mt\":0,\"s\":100}\n"
			"{\"end\":{\"entries\":1,\"chunks\":1}}\n",
			&err);
	ok(rc == -EUCLEAN, "offset as a string: %s", err.msg);
	rc = check_text(
	    "{\"c\":[[\"" H64A "\",\""
	    "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	    "\",8,10,100]]}\n"
	    "{\"p\":\"f\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":0,\"s\":"
	    "100}\n"
	    "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
	    &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "pack"), "uppercase hex: %s",
	   err.msg);
	rc = check_text("{\"p\":\"d\",\"p\":\"e\",\"t\":\"d\",\"m\":493,\"u\":"
			"0,\"g\":0,\"mt\":0}\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	ok(rc == -EUCLEAN && strstr(err.msg, "duplicate"), "duplicate key: %s",
	   err.msg);
	rc = check_text("{\"p\":\"d\\u0000x\",\"t\":\"d\",\"m\":493,\"u\":0,"
			"\"g\":0,\"mt\":0}\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	ok(rc == -EUCLEAN, "\\u0000: %s", err.msg);
	rc = check_text(
	    "{\"p\":\"d\xff\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":0}\n"
	    "{\"end\":{\"entries\":1,\"chunks\":0}}\n",
	    &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "UTF-8"), "invalid UTF-8: %s",
	   err.msg);
	rc = check_text("{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,"
			"\"mt\":0,\"future\":[1.5,{\"x\":2}]}\n"
			"{\"end\":{\"entries\":1,\"chunks\":0}}\n",
			&err);
	is_int(rc, 0, "unknown keys are ignored: %s", rc ? err.msg : "ok");
	rc = check_text(
	    "{\"p\":\"d\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":0} x\n"
	    "{\"end\":{\"entries\":1,\"chunks\":0}}\n",
	    &err);
	ok(rc == -EUCLEAN, "garbage after the object: %s", err.msg);
	rc = check_text("{\"end\":{\"entries\":0,\"chunks\":0}}\n{}\n", &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "after the end"),
	   "line after the end line: %s", err.msg);
	rc = check_text("{\"end\":{\"entries\":0,\"chunks\":0}}", &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "truncated"),
	   "end line without newline: %s", err.msg);

	/* a line over the cap */
	bfs_buf_printf(&t, "%s{\"p\":\"", HDR);
	bfs_buf_reserve(&t, BFS_MANIFEST_MAX_LINE + 100);
	memset(t.data + t.len, 'a', BFS_MANIFEST_MAX_LINE);
	t.len += BFS_MANIFEST_MAX_LINE;
	bfs_buf_printf(&t,
		       "\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":0}\n"
		       "{\"end\":{\"entries\":1,\"chunks\":0}}\n");
	zbuf(&z, (const char *)t.data, t.len);
	rc = read_all(z.data, z.len, NULL, &err);
	ok(rc == -EUCLEAN && strstr(err.msg, "line 2") &&
	       strstr(err.msg, "longer"),
	   "line over the cap: %s", err.msg);
	/* not zstd at all */
	rc = read_all(HDR, strlen(HDR), NULL, &err);
	ok(rc == -EUCLEAN, "plain text rejected: %s", err.msg);
	rc = read_all("", 0, NULL, &err);
	ok(rc == -EUCLEAN, "empty input rejected: %s", err.msg);
	/* a version from the future */
	t.len = 0;
	bfs_buf_printf(&t, "{\"backupfs\":\"manifest\",\"version\":3}\n");
	zbuf(&z, (const char *)t.data, t.len);
	rc = read_all(z.data, z.len, NULL, &err);
	ok(rc == -EPROTO, "version 3: -EPROTO (%s)", err.msg);
	bfs_buf_free(&t);
	bfs_buf_free(&z);
}

static void test_writer_rules(void)
{
	struct bfs_manifest_writer *w;
	struct bfs_manifest_header h;
	struct bfs_err err = {{0}};
	struct bfs_entry e = {0};
	struct bfs_chunkref c;
	struct bfs_buf out = {0};
	size_t n;

	fill_header(&h);
	h.sources_json = NULL;
	bfs_manifest_writer_new(&w, &err);
	e.path = "x";
	e.path_len = 1;
	e.type = BFS_T_DIR;
	e.mode = 0755;
	e.path = "/x";
	is_int(bfs_manifest_writer_entry(w, &e, &err), -EINVAL,
	       "absolute path refused: %s", err.msg);
	e.path = "x";
	e.mode = 010000;
	is_int(bfs_manifest_writer_entry(w, &e, &err), -EINVAL,
	       "mode over 07777 refused");
	e.mode = 0755;
	e.type = 'z';
	is_int(bfs_manifest_writer_entry(w, &e, &err), -EINVAL,
	       "bad type refused");
	e.type = BFS_T_SYMLINK;
	is_int(bfs_manifest_writer_entry(w, &e, &err), -EINVAL,
	       "symlink without target refused");
	e.type = BFS_T_FILE;
	e.size = 5;
	is_int(bfs_manifest_writer_entry(w, &e, &err), -EINVAL,
	       "file without its chunks refused: %s", err.msg);
	e.type = BFS_T_DIR;
	e.size = 0;
	is_int(bfs_manifest_writer_entry(w, &e, &err), 0,
	       "writer still usable after refusals");
	mkref(&c, 1, 0);
	is_int(bfs_manifest_writer_chunk(w, &c, &err), -EINVAL,
	       "len 0 refused");
	mkref(&c, 1, 100);
	is_int(bfs_manifest_writer_chunk(w, &c, &err), 0, "chunk");
	e.type = BFS_T_FILE;
	e.path = "x/f";
	e.path_len = 3;
	e.size = 5000;
	e.error = "read: Input/output error";
	is_int(bfs_manifest_writer_entry(w, &e, &err), 0,
	       "file that failed mid-read keeps its chunks");
	e.error = NULL;
	e.type = BFS_T_DIR;
	e.size = 0;
	is_int(bfs_manifest_writer_chunk(w, &c, &err), 0, "chunk");
	e.path = "x/d";
	e.path_len = 3;
	is_int(bfs_manifest_writer_entry(w, &e, &err), -EINVAL,
	       "chunks before a directory refused");
	is_int(bfs_manifest_writer_finish(w, &h, &out, &err), -EINVAL,
	       "writer spoilt after that");
	bfs_manifest_writer_free(w);

	bfs_manifest_writer_new(&w, &err);
	h.id = "bad/id";
	is_int(bfs_manifest_writer_finish(w, &h, &out, &err), -EINVAL,
	       "invalid backup id refused");
	bfs_manifest_writer_free(w);
	bfs_manifest_writer_new(&w, &err);
	h.id = "ok";
	h.sources_json = "{\"not\":\"array\"}";
	is_int(bfs_manifest_writer_finish(w, &h, &out, &err), -EINVAL,
	       "sources not an array refused");
	bfs_manifest_writer_free(w);

	/* empty manifest, NULL sources -> [] */
	bfs_manifest_writer_new(&w, &err);
	h.sources_json = NULL;
	h.tags = NULL;
	h.host = NULL;
	is_int(bfs_manifest_writer_finish(w, &h, &out, &err), 0,
	       "empty manifest");
	is_int(bfs_manifest_writer_finish(w, &h, &out, &err), -EINVAL,
	       "finish twice refused");
	bfs_manifest_writer_free(w);
	{
		struct bfs_manifest_reader *r;
		int rc = bfs_manifest_reader_new(out.data, out.len, &r, &err);

		is_int(rc, 0, "empty manifest reads");
		if (!rc) {
			const struct bfs_manifest_header *rh =
			    bfs_manifest_reader_header(r);

			is_str(rh->sources_json, "[]", "sources default []");
			ok(rh->tags && !rh->tags[0], "no tags");
			is_str(rh->host, "", "host default \"\"");
			bfs_manifest_reader_free(r);
		}
	}
	is_int(read_all(out.data, out.len, &n, &err), 0, "and verifies");
	bfs_buf_free(&out);

	/* owned-string clear helpers */
	{
		struct bfs_entry o = {0};
		struct bfs_manifest_header oh = {0};

		o.path = strdup("a");
		o.user = strdup("u");
		o.target = strdup("t");
		bfs_entry_clear(&o);
		ok(o.path == NULL && o.user == NULL, "entry_clear zeroes");
		bfs_entry_clear(NULL);
		oh.id = strdup("x");
		oh.tags = calloc(2, sizeof(char *));
		oh.tags[0] = strdup("t");
		bfs_manifest_header_clear(&oh);
		ok(oh.id == NULL && oh.tags == NULL, "header_clear zeroes");
		bfs_manifest_header_clear(NULL);
	}
}

/* ---- known-bad corpus -------------------------------------------------- */

static void corpus_text(const char *dir, const char *name, const char *body,
			int with_header, size_t cut)
{
	struct bfs_buf t = {0}, z = {0};

	if (with_header)
		bfs_buf_printf(&t, "%s", HDR);
	bfs_buf_printf(&t, "%s", body);
	zbuf(&z, (const char *)t.data, t.len);
	if (cut && cut < z.len)
		z.len -= cut;
	if (tl_write_file(tl_path(dir, name), z.data, z.len))
		diag("cannot write '%s/%s'", dir, name);
	bfs_buf_free(&t);
	bfs_buf_free(&z);
}

#define END0 "{\"end\":{\"entries\":0,\"chunks\":0}}\n"
#define END1 "{\"end\":{\"entries\":1,\"chunks\":0}}\n"
#define DIRL(p)                                                                \
	"{\"p\":\"" p "\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":0}\n"

static void write_corpus(const char *dir)
{
	struct bfs_buf t = {0};

	corpus_text(dir, "header-only", "", 1, 0);
	corpus_text(dir, "no-header", END0, 0, 0);
	corpus_text(dir, "not-backupfs",
		    "{\"backupfs\":\"repository\",\"version\":1}\n" END0, 0, 0);
	corpus_text(dir, "version-2",
		    "{\"backupfs\":\"manifest\",\"version\":2}\n" END0, 0, 0);
	corpus_text(dir, "end-count-mismatch", END1, 1, 0);
	corpus_text(dir, "end-no-newline",
		    "{\"end\":{\"entries\":0,\"chunks\":0}}", 1, 0);
	corpus_text(dir, "after-end", END0 DIRL("a"), 1, 0);
	corpus_text(dir, "zstd-cut", DIRL("a") DIRL("a/b") DIRL("a/c") END0, 1,
		    5);
	corpus_text(dir, "path-dotdot", DIRL("a/../b") END1, 1, 0);
	corpus_text(dir, "path-absolute", DIRL("/etc") END1, 1, 0);
	corpus_text(dir, "path-empty-component", DIRL("a//b") END1, 1, 0);
	corpus_text(dir, "path-nul", DIRL("a\\u0000b") END1, 1, 0);
	corpus_text(dir, "path-invalid-utf8", DIRL("a\xc0\xaf") END1, 1, 0);
	corpus_text(dir, "pb-bad-base64",
		    "{\"pb\":\"!!!!\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,"
		    "\"mt\":0}\n" END1,
		    1, 0);
	corpus_text(dir, "p-and-pb",
		    "{\"p\":\"a\",\"pb\":\"YQ==\",\"t\":\"d\",\"m\":493,\"u\":"
		    "0,\"g\":0,\"mt\":0}\n" END1,
		    1, 0);
	corpus_text(dir, "bad-type",
		    "{\"p\":\"a\",\"t\":\"x\",\"m\":493,\"u\":0,\"g\":0,\"mt\":"
		    "0}\n" END1,
		    1, 0);
	corpus_text(dir, "mode-too-big",
		    "{\"p\":\"a\",\"t\":\"d\",\"m\":4096,\"u\":0,\"g\":0,"
		    "\"mt\":0}\n" END1,
		    1, 0);
	corpus_text(dir, "uid-too-big",
		    "{\"p\":\"a\",\"t\":\"d\",\"m\":493,\"u\":4294967296,\"g\":"
		    "0,\"mt\":0}\n" END1,
		    1, 0);
	corpus_text(dir, "mt-fraction",
		    "{\"p\":\"a\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":"
		    "1.5}\n" END1,
		    1, 0);
	corpus_text(dir, "mt-exponent",
		    "{\"p\":\"a\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":"
		    "1e18}\n" END1,
		    1, 0);
	corpus_text(dir, "mt-leading-zero",
		    "{\"p\":\"a\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":"
		    "0123}\n" END1,
		    1, 0);
	corpus_text(
	    dir, "mt-missing",
	    "{\"p\":\"a\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0}\n" END1, 1, 0);
	corpus_text(dir, "duplicate-key",
		    "{\"p\":\"a\",\"t\":\"d\",\"t\":\"f\",\"m\":493,\"u\":0,"
		    "\"g\":0,\"mt\":0}\n" END1,
		    1, 0);
	corpus_text(dir, "symlink-no-target",
		    "{\"p\":\"a\",\"t\":\"l\",\"m\":511,\"u\":0,\"g\":0,\"mt\":"
		    "0}\n" END1,
		    1, 0);
	corpus_text(dir, "file-no-size",
		    "{\"p\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":"
		    "0}\n" END1,
		    1, 0);
	corpus_text(dir, "chunks-before-dir",
		    "{\"c\":[[\"" H64A "\",\"" H64B "\",8,10,100]]}\n" DIRL(
			"a") "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
		    1, 0);
	corpus_text(dir, "chunks-before-end",
		    "{\"c\":[[\"" H64A "\",\"" H64B "\",8,10,100]]}\n"
		    "{\"end\":{\"entries\":0,\"chunks\":1}}\n",
		    1, 0);
	corpus_text(dir, "chunk-sum-mismatch",
		    "{\"c\":[[\"" H64A "\",\"" H64B "\",8,10,100]]}\n"
		    "{\"p\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":"
		    "0,\"s\":99}\n"
		    "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
		    1, 0);
	corpus_text(dir, "chunk-bad-hex",
		    "{\"c\":[[\""
		    "zz" H64A "\",\"" H64B "\",8,10,100]]}\n"
		    "{\"p\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":"
		    "0,\"s\":100}\n"
		    "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
		    1, 0);
	corpus_text(dir, "chunk-short-hash",
		    "{\"c\":[[\"aaaa\",\"" H64B "\",8,10,100]]}\n"
		    "{\"p\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":"
		    "0,\"s\":100}\n"
		    "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
		    1, 0);
	corpus_text(dir, "chunk-four-fields",
		    "{\"c\":[[\"" H64A "\",\"" H64B "\",8,10]]}\n"
		    "{\"p\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":"
		    "0,\"s\":0}\n"
		    "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
		    1, 0);
	corpus_text(dir, "chunk-offset-in-magic",
		    "{\"c\":[[\"" H64A "\",\"" H64B "\",0,10,100]]}\n"
		    "{\"p\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":"
		    "0,\"s\":100}\n"
		    "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
		    1, 0);
	corpus_text(dir, "chunk-len-over-limit",
		    "{\"c\":[[\"" H64A "\",\"" H64B "\",8,10,16777217]]}\n"
		    "{\"p\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":"
		    "0,\"s\":16777217}\n"
		    "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
		    1, 0);
	corpus_text(dir, "chunk-negative-offset",
		    "{\"c\":[[\"" H64A "\",\"" H64B "\",-8,10,100]]}\n"
		    "{\"p\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":"
		    "0,\"s\":100}\n"
		    "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
		    1, 0);
	corpus_text(dir, "hardlink-with-chunks",
		    "{\"c\":[[\"" H64A "\",\"" H64B "\",8,10,100]]}\n"
		    "{\"p\":\"a\",\"t\":\"f\",\"m\":420,\"u\":0,\"g\":0,\"mt\":"
		    "0,\"s\":100,\"h\":\"b\"}\n"
		    "{\"end\":{\"entries\":1,\"chunks\":1}}\n",
		    1, 0);
	corpus_text(dir, "rdev-on-dir",
		    "{\"p\":\"a\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":"
		    "0,\"r\":5}\n" END1,
		    1, 0);
	corpus_text(dir, "json-truncated-line",
		    "{\"p\":\"a\",\"t\":\"d\",\"m\":493\n" END1, 1, 0);
	corpus_text(dir, "json-array-line", "[1,2,3]\n" END1, 1, 0);
	corpus_text(dir, "json-garbage-after",
		    "{\"p\":\"a\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":"
		    "0}{}\n" END1,
		    1, 0);
	corpus_text(dir, "control-char-in-string",
		    "{\"p\":\"a\tb\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,"
		    "\"mt\":0}\n" END1,
		    1, 0);
	corpus_text(dir, "unknown-line", "{\"x\":1}\n" END0, 1, 0);
	/* valid JSON nested deeper than cJSON's limit (1000) */
	bfs_buf_printf(&t, "{\"p\":\"a\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,"
			   "\"mt\":0,\"z\":");
	for (int i = 0; i < 1100; i++)
		bfs_buf_append(&t, "[", 1);
	for (int i = 0; i < 1100; i++)
		bfs_buf_append(&t, "]", 1);
	bfs_buf_printf(&t, "}\n" END1);
	corpus_text(dir, "deep-nesting", (const char *)t.data, 1, 0);
	t.len = 0;
	/* long line */
	bfs_buf_printf(&t, "{\"p\":\"");
	bfs_buf_reserve(&t, BFS_MANIFEST_MAX_LINE + 10);
	memset(t.data + t.len, 'a', BFS_MANIFEST_MAX_LINE);
	t.len += BFS_MANIFEST_MAX_LINE;
	bfs_buf_printf(
	    &t, "\",\"t\":\"d\",\"m\":493,\"u\":0,\"g\":0,\"mt\":0}\n" END1);
	corpus_text(dir, "line-over-cap", (const char *)t.data, 1, 0);
	bfs_buf_free(&t);
	/* not zstd */
	bfs_buf_printf(&t, "%s%s", HDR, END0);
	if (tl_write_file(tl_path(dir, "not-zstd"), t.data, t.len) ||
	    tl_write_file(tl_path(dir, "empty"), "", 0))
		diag("cannot write the corpus in '%s'", dir);
	bfs_buf_free(&t);
}

static void test_corpus(void)
{
	const char *top = getenv("top_srcdir");
	char dir[4096];
	struct dirent *de;
	DIR *d;
	int files = 0;

	snprintf(dir, sizeof(dir), "%s/tests/corpus/manifest-bad",
		 top ? top : ".");
	d = opendir(dir);
	if (!ok(d != NULL, "open corpus '%s'", dir))
		return;
	while ((de = readdir(d))) {
		const char *path = tl_path(dir, de->d_name);
		struct bfs_err err = {{0}};
		struct bfs_buf data = {0};
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		if (tl_read_file(path, &data) != st.st_size) {
			ok(0, "read '%s'", path);
		} else {
			int rc = read_all(data.data, data.len, NULL, &err);

			ok(rc == -EUCLEAN || rc == -EPROTO,
			   "corpus %s rejected: %s", de->d_name, err.msg);
		}
		bfs_buf_free(&data);
		files++;
	}
	closedir(d);
	ok(files >= 30, "corpus holds %d bad manifests", files);

	/* the golden manifest of every entry type still reads */
	snprintf(dir, sizeof(dir), "%s/tests/corpus/manifest-good/all-types",
		 top ? top : ".");
	{
		struct bfs_buf b = {0};
		struct bfs_err err = {{0}};
		ssize_t r = tl_read_file(dir, &b);
		size_t n = 0;
		int rc;

		rc = read_all(b.data, b.len, &n, &err);
		ok(r > 0 && rc == 0 && n == 17,
		   "golden manifest-good/all-types reads (%zu entries): %s", n,
		   rc ? err.msg : "ok");
		bfs_buf_free(&b);
	}
}

int main(void)
{
	const char *corpus = getenv("BFS_WRITE_CORPUS");
	struct bfs_buf m = {0};

	test_path_valid();
	test_roundtrip(&m);
	if (corpus && m.data) {
		char d[4096];

		snprintf(d, sizeof(d), "%s/manifest-bad", corpus);
		mkdir(corpus, 0777);
		mkdir(d, 0777);
		write_corpus(d);
		snprintf(d, sizeof(d), "%s/manifest-good", corpus);
		mkdir(d, 0777);
		snprintf(d, sizeof(d), "%s/manifest-good/all-types", corpus);
		if (tl_write_file(d, m.data, m.len))
			diag("cannot write '%s'", d);
	}
	if (m.data) {
		test_text(&m);
		test_truncation(&m);
	}
	test_bad_text();
	test_job_key();
	test_json_pass();
	test_writer_rules();
	test_corpus();
	bfs_buf_free(&m);
	return tap_done();
}
