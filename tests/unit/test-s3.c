/* test-s3.c - the S3 store's pure helpers (encoding, canonical query, XML
 * scanner, error mapping, backoff), and, when BFS_TEST_S3=1 and the AWS_*
 * environment points at a server (tests/e2e/t0301-s3-store.sh starts
 * s3rver behind the signature-checking proxy), the store itself: put, get
 * with ranges, stat, list with paging, del, awkward keys, concurrency. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "src/s3_util.h"
#include "src/store.h"
#include "tap.h"
#include "testlib.h"

static char *enc(const char *s, bool keep_slash)
{
	static char out[1024];
	struct bfs_buf b = {0};

	if (bfs_s3_uri_encode(&b, s, strlen(s), keep_slash)) {
		bfs_buf_free(&b);
		return NULL;
	}
	snprintf(out, sizeof(out), "%s", b.data ? (char *)b.data : "");
	bfs_buf_free(&b);
	return out;
}

static void test_encode(void)
{
	is_str(enc("packs/ab/0123", true), "packs/ab/0123", "plain key kept");
	is_str(enc("a b+c", true), "a%20b%2Bc", "space and plus encoded");
	is_str(enc("dir/é~x_y-z.q", true), "dir/%C3%A9~x_y-z.q",
	       "UTF-8 as uppercase %%XX, unreserved kept");
	is_str(enc("a/b", false), "a%2Fb", "slash encoded in query values");
	is_str(enc("\xff\x01*=&?#%", true), "%FF%01%2A%3D%26%3F%23%25",
	       "reserved and control bytes encoded");
	is_str(enc("", true), "", "empty");
}

static void test_query(void)
{
	struct bfs_s3_param p[] = {
	    {"prefix", "pre fix/manifests/"},
	    {"list-type", "2"},
	    {"continuation-token", "1/abc+="},
	    {"max-keys", "1000"},
	};
	struct bfs_s3_param q[] = {{"uploads", NULL}};
	struct bfs_s3_param r[] = {{"b", "2"}, {"a", "z"}, {"a", "b"}};
	struct bfs_buf b = {0};

	ok(bfs_s3_query_build(&b, p, 4) == 0, "query builds");
	is_str((char *)b.data,
	       "continuation-token=1%2Fabc%2B%3D&list-type=2&max-keys=1000&"
	       "prefix=pre%20fix%2Fmanifests%2F",
	       "sorted, every value encoded, '/' as %%2F");
	b.len = 0;
	ok(bfs_s3_query_build(&b, q, 1) == 0, "valueless param");
	is_str((char *)b.data, "uploads=", "valueless param as 'name='");
	b.len = 0;
	ok(bfs_s3_query_build(&b, r, 3) == 0, "repeated names");
	is_str((char *)b.data, "a=b&a=z&b=2", "sorted by name then value");
	b.len = 0;
	ok(bfs_s3_query_build(&b, NULL, 0) == 0 && b.data && !*b.data,
	   "no params: empty string");
	bfs_buf_free(&b);
}

static void test_xml(void)
{
	static const char list1[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ListBucketResult "
	    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	    "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>"
	    "<MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
	    "<Contents><Key>p/a &amp; b&lt;c&gt;&quot;&apos;</Key>"
	    "<LastModified>2026-01-01T00:00:00.000Z</LastModified>"
	    "<ETag>&quot;x&quot;</ETag><Size>123</Size>"
	    "<StorageClass>STANDARD</StorageClass></Contents>"
	    "<Contents><Key>p/caf&#xE9;&#233;&#x1F600;</Key><Size>0</Size></"
	    "Contents>"
	    "<NextContinuationToken>tok/en+=</NextContinuationToken>"
	    "</ListBucketResult>";
	static const char list_end[] =
	    "<ListBucketResult><IsTruncated>false</IsTruncated>"
	    "</ListBucketResult>";
	static const char *const bad[] = {
	    /* truncated in the middle of Contents */
	    "<ListBucketResult><Contents><Key>p/a</Key><Size>1",
	    /* Contents without Key */
	    "<ListBucketResult><Contents><Size>1</Size></Contents></"
	    "ListBucketResult>",
	    /* bad size */
	    "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></"
	    "Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>k</"
	    "Key><Size>99999999999999999999999</Size></Contents></"
	    "ListBucketResult>",
	    /* bad entity, NUL entity */
	    "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></"
	    "Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a&#0;</Key><Size>1</Size></"
	    "Contents></ListBucketResult>",
	    "<ListBucketResult><Contents><Key>a&amp</Key><Size>1</Size></"
	    "Contents></ListBucketResult>",
	    /* truncated=true without token */
	    "<ListBucketResult><IsTruncated>true</IsTruncated></"
	    "ListBucketResult>",
	    /* not a listing */
	    "<Error><Code>NoSuchBucket</Code></Error>",
	    "",
	};
	struct bfs_s3_list_page pg;
	struct bfs_err err = {{0}};
	struct bfs_s3_error e;
	size_t i, pos;
	char *s = NULL;
	int rc;

	rc = bfs_s3_parse_list(list1, sizeof(list1) - 1, &pg, &err);
	is_int(rc, 0, "listing parses");
	is_int(pg.n, 2, "two keys");
	if (pg.n == 2) {
		is_str(pg.items[0].key, "p/a & b<c>\"'", "entities decoded");
		is_int(pg.items[0].size, 123, "size");
		is_str(pg.items[1].key, "p/caf\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80",
		       "numeric entities to UTF-8");
		is_int(pg.items[1].size, 0, "size 0");
	}
	ok(pg.truncated, "truncated");
	is_str(pg.next_token, "tok/en+=", "continuation token");
	bfs_s3_list_page_clear(&pg);

	rc = bfs_s3_parse_list(list_end, sizeof(list_end) - 1, &pg, &err);
	ok(rc == 0 && pg.n == 0 && !pg.truncated && !pg.next_token,
	   "empty last page");
	bfs_s3_list_page_clear(&pg);

	for (i = 0; i < BFS_ARRAY_SIZE(bad); i++) {
		err.msg[0] = '\0';
		rc = bfs_s3_parse_list(bad[i], strlen(bad[i]), &pg, &err);
		ok(rc == -EPROTO && err.msg[0] && pg.n == 0 && !pg.items,
		   "malformed listing %zu rejected (%s)", i, err.msg);
	}
	/* Every prefix of a valid body is either a valid page or rejected,
	 * and never read past its end (ASan checks the latter). */
	for (i = 0; i < sizeof(list1) - 1; i++) {
		char *cut = malloc(i ? i : 1);

		memcpy(cut, list1, i);
		rc = bfs_s3_parse_list(cut, i, &pg, NULL);
		bfs_s3_list_page_clear(&pg);
		free(cut);
		if (rc != 0 && rc != -EPROTO)
			break;
	}
	is_int(i, sizeof(list1) - 1, "all truncations handled");

	pos = 0;
	rc = bfs_s3_xml_next("<a x=\"1\">v</a><a/><a>w</a>", 26, &pos, "a", &s);
	ok(rc == 1 && s && strcmp(s, "v") == 0, "element with attributes");
	free(s);
	rc = bfs_s3_xml_next("<a x=\"1\">v</a><a/><a>w</a>", 26, &pos, "a", &s);
	ok(rc == 1 && s && !*s, "self-closing element is empty");
	free(s);
	rc = bfs_s3_xml_next("<a x=\"1\">v</a><a/><a>w</a>", 26, &pos, "a", &s);
	ok(rc == 1 && s && strcmp(s, "w") == 0, "third element");
	free(s);
	rc = bfs_s3_xml_next("<a x=\"1\">v</a><a/><a>w</a>", 26, &pos, "a", &s);
	is_int(rc, 0, "no more elements");
	pos = 0;
	rc = bfs_s3_xml_next("<ab>x</ab><a>y</a>", 18, &pos, "a", &s);
	ok(rc == 1 && s && strcmp(s, "y") == 0, "<ab> is not <a>");
	free(s);
	pos = 0;
	rc = bfs_s3_xml_next("<a>x<b>y</b></a>", 16, &pos, "a", &s);
	is_int(rc, -EPROTO, "markup inside text rejected");

	rc = bfs_s3_parse_error(
	    "<Error><Code>SignatureDoesNotMatch</Code><Message>bad\n"
	    "sig</Message><Region>eu-west-1</Region></Error>",
	    93, &e);
	ok(rc == 0 && e.code && strcmp(e.code, "SignatureDoesNotMatch") == 0,
	   "error code parsed");
	is_str(e.message, "bad sig", "control characters blanked");
	is_str(e.region, "eu-west-1", "region parsed");
	bfs_s3_error_clear(&e);
	rc = bfs_s3_parse_error("<Error><Code>Trunc", 18, &e);
	ok(rc == 0 && !e.code, "truncated error body: no code");
	bfs_s3_error_clear(&e);
}

static int map(long status, const char *code, const char *region, bool *retry,
	       struct bfs_err *err)
{
	struct bfs_s3_error e = {(char *)code, NULL, (char *)region};

	err->msg[0] = '\0';
	return bfs_s3_map_error(status, &e, "GET 'config'", "bkt", "us-east-1",
				retry, err);
}

static void test_map(void)
{
	struct bfs_err err;
	bool retry;

	is_int(map(404, "NoSuchKey", NULL, &retry, &err), -ENOENT, "NoSuchKey");
	ok(!retry && strstr(err.msg, "config"), "names the key: %s", err.msg);
	is_int(map(404, "NoSuchBucket", NULL, &retry, &err), -ENOENT,
	       "NoSuchBucket");
	is_str(err.msg, "bucket 'bkt' does not exist", "bucket message");
	is_int(map(404, NULL, NULL, &retry, &err), -ENOENT, "HEAD 404");
	is_int(map(403, "SignatureDoesNotMatch", NULL, &retry, &err), -EACCES,
	       "bad signature");
	ok(!retry && strstr(err.msg, "S3 rejected the credentials "
				     "(SignatureDoesNotMatch): check "
				     "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"),
	   "credentials message: %s", err.msg);
	is_int(map(403, "InvalidAccessKeyId", NULL, &retry, &err), -EACCES,
	       "unknown key");
	is_int(map(403, NULL, NULL, &retry, &err), -EACCES, "bare 403");
	is_int(
	    map(400, "AuthorizationHeaderMalformed", "eu-west-1", &retry, &err),
	    -EINVAL, "wrong region");
	ok(!retry && strstr(err.msg, "wrong region 'us-east-1'") &&
	       strstr(err.msg, "eu-west-1"),
	   "region message: %s", err.msg);
	is_int(map(301, "PermanentRedirect", NULL, &retry, &err), -EINVAL,
	       "redirect");
	is_int(map(503, "SlowDown", NULL, &retry, &err), -EIO, "SlowDown");
	ok(retry, "SlowDown retried");
	is_int(map(500, "InternalError", NULL, &retry, &err), -EIO, "500");
	ok(retry, "500 retried");
	is_int(map(400, "RequestTimeout", NULL, &retry, &err), -EIO,
	       "RequestTimeout");
	ok(retry, "RequestTimeout retried");
	is_int(map(412, "PreconditionFailed", NULL, &retry, &err), -EEXIST,
	       "conditional put");
	is_int(map(416, "InvalidRange", NULL, &retry, &err), -EINVAL, "range");
	is_int(map(400, "InvalidArgument", NULL, &retry, &err), -EIO, "other");
	ok(!retry, "other 4xx not retried");
}

static void test_misc(void)
{
	uint64_t a, b, t, m = 0;
	unsigned i;

	ok(bfs_s3_parse_content_range("bytes 0-9/100", &a, &b, &t) == 0 &&
	       a == 0 && b == 9 && t == 100,
	   "content-range");
	ok(bfs_s3_parse_content_range("bytes 5-5/*", &a, &b, &t) == 0 &&
	       t == UINT64_MAX,
	   "content-range with unknown total");
	ok(bfs_s3_parse_content_range("bytes 9-5/100", &a, &b, &t) < 0,
	   "reversed range rejected");
	ok(bfs_s3_parse_content_range("bytes 0-100/100", &a, &b, &t) < 0,
	   "end past total rejected");
	ok(bfs_s3_parse_content_range("items 0-1/2", &a, &b, &t) < 0,
	   "other unit rejected");
	for (i = 0; i < 200; i++) {
		uint64_t d = bfs_s3_backoff_ms(i % 12, 100, 5000);

		if (d > BFS_MIN(5000u, 100u << (i % 12)))
			break;
		m = BFS_MAX(m, d);
	}
	ok(i == 200 && m > 0, "backoff within [0, min(cap, base*2^n)]");
	ok(bfs_s3_backoff_ms(100, 100, 5000) <= 5000, "huge attempt capped");
	{
		char *o = NULL, *bu = NULL;

		ok(bfs_s3_build_urls("http://127.0.0.1:9000/", "bk", true, &o,
				     &bu, NULL) == 0,
		   "path-style urls");
		is_str(o, "http://127.0.0.1:9000/bk", "path-style object base");
		is_str(bu, "http://127.0.0.1:9000/bk", "path-style bucket url");
		free(o);
		free(bu);
		ok(bfs_s3_build_urls("https://s3.eu-west-1.amazonaws.com", "bk",
				     false, &o, &bu, NULL) == 0,
		   "virtual-host urls");
		is_str(o, "https://bk.s3.eu-west-1.amazonaws.com",
		       "virtual-host object base");
		is_str(bu, "https://bk.s3.eu-west-1.amazonaws.com/",
		       "virtual-host bucket url");
		free(o);
		free(bu);
		ok(bfs_s3_build_urls("ftp://x", "bk", true, &o, &bu, NULL) ==
			   -EINVAL &&
		       !o && !bu,
		   "non-http endpoint rejected");
		ok(bfs_s3_build_urls("http://", "bk", true, &o, &bu, NULL) ==
		       -EINVAL,
		   "endpoint without a host rejected");
	}
	ok(bfs_s3_bucket_valid("my-bucket.1"), "bucket ok");
	ok(!bfs_s3_bucket_valid("a/b") && !bfs_s3_bucket_valid("") &&
	       !bfs_s3_bucket_valid("x y") && !bfs_s3_bucket_valid("a@b"),
	   "bad buckets rejected");
}

/* ---- the on-disk cache wrapper (over a local store) ------------------ */

static void test_cache(void)
{
	const char *tmp = tl_tmpdir("bfs-test-cache");
	char repo[300], cdir[300], cmd[1024], key[128];
	struct bfs_store *local = NULL, *c = NULL;
	struct bfs_err err = {{0}};
	struct bfs_buf b = {0};
	uint8_t data[200000];
	size_t i;
	int64_t n;
	int rc;

	snprintf(repo, sizeof(repo), "%s/repo", tmp);
	snprintf(cdir, sizeof(cdir), "%s/cache", tmp);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31 + (i >> 8));
	rc = bfs_store_local_open(repo, true, &local, &err);
	is_int(rc, 0, "local store: %s", err.msg);
	if (rc)
		return;
	rc = bfs_store_cache_wrap(local, cdir, 1 << 20, &c, &err);
	is_int(rc, 0, "cache wrap: %s", err.msg);
	if (rc)
		return;
	snprintf(key, sizeof(key), "packs/ab/ab%062d", 0);
	ok(bfs_store_put(c, key, data, sizeof(data), 0, &err) == 0,
	   "put through");
	ok(bfs_store_put(c, "manifests/m1", "abc", 3, 0, &err) == 0,
	   "put manifest");
	n = bfs_store_get(c, key, 1000, 5000, &b, &err);
	ok(n == 5000 && memcmp(b.data, data + 1000, 5000) == 0,
	   "miss: right bytes");
	is_int(tl_count_files(cdir), 1, "one entry cached");
	b.len = 0;
	n = bfs_store_get(c, "manifests/m1", 0, UINT64_MAX, &b, &err);
	ok(n == 3, "manifest read");
	is_int(tl_count_files(cdir), 1, "manifests are not cached");
	/* Remove the pack behind the cache's back: a hit needs no store. */
	ok(unlink(tl_path(repo, key)) == 0, "pack removed from the store");
	b.len = 0;
	n = bfs_store_get(c, key, 1000, 5000, &b, &err);
	ok(n == 5000 && memcmp(b.data, data + 1000, 5000) == 0,
	   "hit: right bytes without the store");
	b.len = 0;
	n = bfs_store_get(c, key, 0, 10, &b, &err);
	is_int(n, -ENOENT, "another range is a miss");
	/* Damage the entry: it must be dropped, never returned. */
	snprintf(cmd, sizeof(cmd),
		 "f=$(find '%s' -type f | head -1); printf 'Z' | dd of=\"$f\" "
		 "bs=1 seek=40 conv=notrunc 2>/dev/null",
		 cdir);
	ok(system(cmd) == 0, "cache entry damaged");
	b.len = 0;
	n = bfs_store_get(c, key, 1000, 5000, &b, &err);
	is_int(n, -ENOENT, "damaged entry not used (refetch fails: pack gone)");
	is_int(tl_count_files(cdir), 0, "damaged entry removed");
	/* Eviction: 1 MiB budget, 20 x 100 KB entries. */
	ok(bfs_store_put(c, key, data, sizeof(data), 0, &err) == 0,
	   "put again");
	for (i = 0; i < 20; i++) {
		b.len = 0;
		n = bfs_store_get(c, key, i * 1000, 100000, &b, &err);
		if (n != 100000 || memcmp(b.data, data + i * 1000, 100000))
			break;
	}
	is_int(i, 20, "20 ranges read");
	ok(tl_count_files(cdir) < 11, "cache bounded by its size (%d entries)",
	   tl_count_files(cdir));
	b.len = 0;
	n = bfs_store_get(c, key, 19 * 1000, 100000, &b, &err);
	ok(n == 100000 && memcmp(b.data, data + 19000, 100000) == 0,
	   "most recent entry still right");
	bfs_buf_free(&b);
	bfs_store_free(c);
}

/* ---- live tests against a server ------------------------------------- */

struct collect {
	char keys[64][128];
	uint64_t sizes[64];
	int n;
};

static int collect_cb(void *arg, const char *key, uint64_t size)
{
	struct collect *c = arg;

	if (c->n < 64) {
		snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", key);
		c->sizes[c->n] = size;
	}
	c->n++;
	return 0;
}

static int count_cb(void *arg, const char *key, uint64_t size)
{
	(void)key;
	(void)size;
	(*(int *)arg)++;
	return 0;
}

static bool has_key(struct collect *c, const char *k, uint64_t size)
{
	for (int i = 0; i < c->n && i < 64; i++)
		if (strcmp(c->keys[i], k) == 0 && c->sizes[i] == size)
			return true;
	return false;
}

struct worker {
	struct bfs_store *s;
	const uint8_t *data;
	size_t len;
	int id;
	int fails;
};

static void *reader(void *arg)
{
	struct worker *w = arg;
	struct bfs_buf b = {0};
	struct bfs_err err;
	int i;

	for (i = 0; i < 40; i++) {
		uint64_t off = ((uint64_t)w->id * 7919 + (uint64_t)i * 104729) %
			       (w->len - 4096);
		int64_t n;

		b.len = 0;
		n = bfs_store_get(w->s, "big/object", off, 4096, &b, &err);
		if (n != 4096 || memcmp(b.data, w->data + off, 4096) != 0) {
			diag("reader %d: %lld: %s", w->id, (long long)n,
			     err.msg);
			w->fails++;
		}
	}
	bfs_buf_free(&b);
	return NULL;
}

static void test_live(void)
{
	struct bfs_store_opts o = {.s3_path_style = -1, .create = true};
	struct bfs_store *s = NULL;
	struct bfs_err err = {{0}};
	struct bfs_buf b = {0};
	struct collect c;
	char url[256], key[128];
	static const char *const awkward[] = {
	    "odd/a b+c", "odd/caf\xc3\xa9", "odd/x=y&z?w#q",
	    "odd/100%",	 "odd/~tilde*star", "odd/semi;colon,comma",
	};
	uint8_t *big;
	size_t biglen = 3 * 1024 * 1024 + 17, i;
	uint64_t size = 0;
	int64_t n;
	int rc, cnt;
	pthread_t th[8];
	struct worker w[8];
	const char *bucket = getenv("BFS_TEST_S3_BUCKET");

	snprintf(url, sizeof(url), "s3://%s/pre fix/x",
		 bucket ? bucket : "unit-test-bucket");
	rc = bfs_store_s3_open(url, &o, &s, &err);
	is_int(rc, 0, "open with create: %s", err.msg);
	if (rc)
		return;

	rc = bfs_store_put(s, "small", "hello world", 11, 0, &err);
	is_int(rc, 0, "put: %s", err.msg);
	rc = bfs_store_put(s, "small", "x", 1, BFS_PUT_EXCL, &err);
	is_int(rc, -EEXIST, "put EXCL on existing key");
	ok(strstr(err.msg, "already exists") != NULL, "EXCL message: %s",
	   err.msg);
	rc = bfs_store_put(s, "excl-new", "x", 1, BFS_PUT_EXCL, &err);
	is_int(rc, 0, "put EXCL on a new key: %s", err.msg);

	n = bfs_store_get(s, "small", 0, UINT64_MAX, &b, &err);
	ok(n == 11 && memcmp(b.data, "hello world", 11) == 0, "get whole");
	b.len = 0;
	n = bfs_store_get(s, "small", 0, 1, &b, &err);
	ok(n == 1 && b.len == 1 && b.data[0] == 'h',
	   "get bytes=0-0 gives one byte (s3rver quirk handled): %lld",
	   (long long)n);
	b.len = 0;
	n = bfs_store_get(s, "small", 6, 5, &b, &err);
	ok(n == 5 && memcmp(b.data, "world", 5) == 0, "get range");
	b.len = 0;
	n = bfs_store_get(s, "small", 10, 1, &b, &err);
	ok(n == 1 && b.data[0] == 'd', "get last byte");
	b.len = 0;
	n = bfs_store_get(s, "small", 6, UINT64_MAX, &b, &err);
	ok(n == 5 && memcmp(b.data, "world", 5) == 0, "get to the end");
	b.len = 0;
	memcpy(b.data, "AB", 2);
	b.len = 2;
	n = bfs_store_get(s, "small", 0, 5, &b, &err);
	ok(n == 5 && b.len == 7 && memcmp(b.data, "ABhello", 7) == 0,
	   "get appends to out");
	b.len = 0;
	n = bfs_store_get(s, "small", 8, 10, &b, &err);
	is_int(n, -EINVAL, "range past the end");
	ok(b.len == 0, "nothing appended on error");
	n = bfs_store_get(s, "small", 11, UINT64_MAX, &b, &err);
	is_int(n, 0, "to the end from the end: 0 bytes");
	n = bfs_store_get(s, "missing", 0, UINT64_MAX, &b, &err);
	is_int(n, -ENOENT, "get missing: %s", err.msg);
	rc = bfs_store_stat(s, "small", &size, &err);
	ok(rc == 0 && size == 11, "stat");
	rc = bfs_store_stat(s, "missing", &size, &err);
	is_int(rc, -ENOENT, "stat missing");

	for (i = 0; i < BFS_ARRAY_SIZE(awkward); i++) {
		rc = bfs_store_put(s, awkward[i], awkward[i],
				   strlen(awkward[i]), 0, &err);
		is_int(rc, 0, "put awkward key '%s': %s", awkward[i], err.msg);
		b.len = 0;
		n = bfs_store_get(s, awkward[i], 0, UINT64_MAX, &b, &err);
		ok(n == (int64_t)strlen(awkward[i]) &&
		       memcmp(b.data, awkward[i], (size_t)n) == 0,
		   "get awkward key '%s'", awkward[i]);
	}
	memset(&c, 0, sizeof(c));
	rc = bfs_store_list(s, "odd/", collect_cb, &c, &err);
	is_int(rc, 0, "list: %s", err.msg);
	is_int(c.n, BFS_ARRAY_SIZE(awkward), "list finds every awkward key");
	for (i = 0; i < BFS_ARRAY_SIZE(awkward); i++)
		ok(has_key(&c, awkward[i], strlen(awkward[i])),
		   "listed '%s' relative to the prefix", awkward[i]);

	/* Paging: more than one page of 1000 (skipped in the run with
	 * faults, where it is slow and adds nothing). */
	if (getenv("BFS_TEST_S3_NO_PAGING"))
		goto skip_paging;
	for (i = 0; i < 1003; i++) {
		snprintf(key, sizeof(key), "many/k%04zu", i);
		if (bfs_store_put(s, key, "", 0, 0, &err))
			break;
	}
	is_int(i, 1003, "put 1003 keys");
	cnt = 0;
	rc = bfs_store_list(s, "many/", count_cb, &cnt, &err);
	ok(rc == 0 && cnt == 1003, "list pages through 1003 keys (%d)", cnt);
	cnt = 0;
	rc = bfs_store_list(s, "many/k100", count_cb, &cnt, &err);
	ok(rc == 0 && cnt == 3, "list with a partial prefix (%d)", cnt);
skip_paging:

	rc = bfs_store_del(s, "small", &err);
	is_int(rc, 0, "del");
	rc = bfs_store_del(s, "small", &err);
	is_int(rc, -ENOENT, "del missing");

	big = malloc(biglen);
	for (i = 0; i < biglen; i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	rc = bfs_store_put(s, "big/object", big, biglen, 0, &err);
	is_int(rc, 0, "put 3 MiB: %s", err.msg);
	for (i = 0; i < 8; i++) {
		w[i] = (struct worker){s, big, biglen, (int)i, 0};
		pthread_create(&th[i], NULL, reader, &w[i]);
	}
	cnt = 0;
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		cnt += w[i].fails;
	}
	is_int(cnt, 0, "8 threads x 40 ranged GETs give the right bytes");
	b.len = 0;
	n = bfs_store_get(s, "big/object", 0, UINT64_MAX, &b, &err);
	ok(n == (int64_t)biglen && memcmp(b.data, big, biglen) == 0,
	   "whole big object");
	free(big);
	bfs_buf_free(&b);
	bfs_store_free(s);

	/* Missing bucket without create. */
	o.create = false;
	rc = bfs_store_s3_open("s3://no-such-bucket-here/x", &o, &s, &err);
	is_int(rc, -ENOENT, "missing bucket");
	is_str(err.msg, "bucket 'no-such-bucket-here' does not exist",
	       "missing bucket message");
}

int main(int argc, char **argv)
{
	const char *live = getenv("BFS_TEST_S3");

	(void)argc;
	(void)argv;
	test_encode();
	test_query();
	test_xml();
	test_map();
	test_misc();
	test_cache();
	if (live && strcmp(live, "1") == 0) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		test_live();
		curl_global_cleanup();
	} else {
		diag("live S3 tests skipped (tests/e2e/t0301-s3-store.sh runs "
		     "them)");
	}
	return tap_done();
}
