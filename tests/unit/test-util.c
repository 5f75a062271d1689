/* test-util.c - unit tests of src/util.c: error buffer, growable buffer,
 * hex, base64, SHA-256, UTF-8, time, sizes, backup ids, I/O loops,
 * mkdir -p, random bytes. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/log.h"
#include "src/util.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

static void test_err(void)
{
	struct bfs_err err = {""};
	char big[2000];

	is_int(bfs_err_set(&err, -EIO, "cannot read '%s'", "x"), -EIO,
	       "err_set returns the code");
	is_str(err.msg, "cannot read 'x'", "err_set formats the text");
	is_int(bfs_err_set(&err, EIO, "positive"), -EIO,
	       "err_set turns a positive code negative");
	is_int(bfs_err_set(NULL, -ENOENT, "nobody listens"), -ENOENT,
	       "err_set with a NULL buffer still returns the code");
	bfs_err_set(&err, -EIO, "inner");
	is_int(bfs_err_prefix(&err, -EIO, "outer %d", 1), -EIO,
	       "err_prefix returns the code");
	is_str(err.msg, "outer 1: inner", "err_prefix prefixes the text");
	err.msg[0] = '\0';
	bfs_err_prefix(&err, -ENOENT, "open");
	is_str(err.msg, "open: No such file or directory",
	       "err_prefix of an empty buffer uses strerror");
	is_int(bfs_err_prefix(NULL, EPERM, "x"), -EPERM,
	       "err_prefix with a NULL buffer");
	is_str(bfs_err_str(NULL, -ENOENT), "No such file or directory",
	       "err_str without a buffer is strerror");
	err.msg[0] = '\0';
	is_str(bfs_err_str(&err, ENOENT), "No such file or directory",
	       "err_str of an empty buffer is strerror (positive code too)");
	bfs_err_set(&err, -EIO, "detail");
	is_str(bfs_err_str(&err, -EIO), "detail", "err_str prefers the text");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bfs_err_set(&err, -EIO, "%s", big);
	is_int(strlen(err.msg), sizeof(err.msg) - 1,
	       "a long message is truncated, NUL-terminated");
	bfs_err_prefix(&err, -EIO, "%s", big);
	ok(strlen(err.msg) < sizeof(err.msg), "a long prefix is bounded");
}

static void test_buf(void)
{
	struct bfs_buf b = {0};
	size_t i;
	int rc = 0;

	ok(bfs_buf_append(&b, "abc", 3) == 0 && b.len == 3 &&
	       !memcmp(b.data, "abc", 3),
	   "append to an empty buffer");
	ok(bfs_buf_append(&b, NULL, 0) == 0 && b.len == 3, "append of nothing");
	for (i = 0; i < 100000 && !rc; i++)
		rc = bfs_buf_append(&b, "0123456789", 10);
	ok(rc == 0 && b.len == 3 + 1000000 && b.cap >= b.len,
	   "a buffer grows to 1 MB");
	ok(!memcmp(b.data + 3 + 999990, "0123456789", 10),
	   "the content survives growth");
	bfs_buf_free(&b);
	ok(b.data == NULL && b.len == 0 && b.cap == 0,
	   "buf_free resets the buffer");
	bfs_buf_free(&b);
	bfs_buf_free(NULL);
	ok(1, "buf_free twice and of NULL is harmless");
	ok(bfs_buf_printf(&b, "%s-%d", "x", 42) == 0, "printf into a buffer");
	ok(bfs_buf_printf(&b, "/%05u", 7u) == 0, "printf appends");
	ok(b.len == strlen("x-42/00007") &&
	       !memcmp(b.data, "x-42/00007", b.len),
	   "printf content: %.*s", (int)b.len, (char *)b.data);
	ok(b.data[b.len] == '\0', "printf keeps a NUL after the content");
	ok(bfs_buf_reserve(&b, 5000) == 0 && b.cap - b.len >= 5000,
	   "reserve makes room");
	ok(bfs_buf_reserve(&b, SIZE_MAX) == -ENOMEM,
	   "reserve of SIZE_MAX is -ENOMEM, not an overflow");
	bfs_buf_free(&b);
}

static void test_strv(void)
{
	struct bfs_strv l = {0};
	char buf[16];
	int i, rc = 0;

	ok(!bfs_strv_has(&l, "a"), "an empty list has nothing");
	bfs_strv_sort(&l);
	ok(l.n == 0, "sorting an empty list is harmless");
	for (i = 99; i >= 0 && !rc; i--) {
		snprintf(buf, sizeof(buf), "n%02d", i);
		rc = bfs_strv_add(&l, buf);
	}
	ok(rc == 0 && l.n == 100, "100 strings added (growing past 32)");
	buf[0] = 'x'; /* the list holds copies */
	bfs_strv_sort(&l);
	ok(!strcmp(l.v[0], "n00") && !strcmp(l.v[99], "n99"),
	   "sorted: %s .. %s", l.v[0], l.v[99]);
	ok(bfs_strv_has(&l, "n42") && !bfs_strv_has(&l, "n4") &&
	       !bfs_strv_has(&l, "n100"),
	   "has finds members only");
	bfs_strv_free(&l);
	ok(l.v == NULL && l.n == 0 && l.cap == 0, "free leaves it zeroed");
	bfs_strv_free(&l);
	bfs_strv_free(NULL);
	ok(1, "free twice and of NULL is harmless");
}

static void test_hex(void)
{
	static const uint8_t bin[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	uint8_t back[sizeof(bin)];
	char hex[2 * sizeof(bin) + 1];

	bfs_hex(hex, bin, sizeof(bin));
	is_str(hex, "00017f80abff", "hex is lowercase, NUL-terminated");
	ok(bfs_unhex(back, hex, sizeof(bin)) == 0 &&
	       !memcmp(back, bin, sizeof(bin)),
	   "unhex round trip");
	ok(bfs_unhex(back, "00017F80ABFF", sizeof(bin)) == 0 &&
	       !memcmp(back, bin, sizeof(bin)),
	   "unhex accepts upper case");
	is_int(bfs_unhex(back, "00017f80abfg", sizeof(bin)), -EINVAL,
	       "unhex rejects a non-hex character");
	is_int(bfs_unhex(back, "0001", 3), -EINVAL,
	       "unhex rejects a short string");
	is_int(bfs_unhex(back, " 0", 1), -EINVAL, "unhex rejects a space");
	bfs_hex(hex, bin, 0);
	is_str(hex, "", "hex of nothing is empty");
}

static void test_b64(void)
{
	static const struct {
		const char *plain, *enc;
	} vec[] = {
	    /* RFC 4648, section 10 */
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};
	static const char *const bad[] = {
	    "Zg=",	"Zg",	"Z===", "Zg==Zg==",
	    "Zm9v!A==", "Zm=v", "====", "Zm9vYmFy\n",
	};
	struct tl_rng rng = {0x5eed5eed5eedull};
	uint8_t data[300], *dec;
	size_t i, n, len;
	char *enc;
	int fails = 0;

	for (i = 0; i < BFS_ARRAY_SIZE(vec); i++) {
		n = strlen(vec[i].plain);
		enc = NULL;
		ok(bfs_b64_encode((const uint8_t *)vec[i].plain, n, &enc) ==
			   0 &&
		       enc && !strcmp(enc, vec[i].enc),
		   "base64 of '%s' is '%s'", vec[i].plain, vec[i].enc);
		free(enc);
		dec = NULL;
		ok(bfs_b64_decode(vec[i].enc, &dec, &len) == 0 && len == n &&
		       !memcmp(dec, vec[i].plain, n) && dec[len] == '\0',
		   "decode '%s'", vec[i].enc);
		free(dec);
	}
	for (i = 0; i < BFS_ARRAY_SIZE(bad); i++) {
		dec = NULL;
		is_int(bfs_b64_decode(bad[i], &dec, &len), -EINVAL,
		       "base64 decode rejects '%s'", bad[i]);
		free(dec);
	}
	for (n = 0; n < sizeof(data); n++) {
		tl_fill_random(&rng, data, n);
		enc = NULL;
		dec = NULL;
		if (bfs_b64_encode(data, n, &enc) ||
		    strlen(enc) != (n + 2) / 3 * 4 ||
		    bfs_b64_decode(enc, &dec, &len) || len != n ||
		    memcmp(dec, data, n))
			fails++;
		free(enc);
		free(dec);
	}
	is_int(fails, 0, "base64 round trips of random data, 0..299 bytes");
}

static void test_sha256(void)
{
	static const struct {
		const char *in, *hex;
	} vec[] = {
	    /* FIPS 180-2 examples */
	    {"", "e3b0c44298fc1c149afbf4c8996fb924"
		 "27ae41e4649b934ca495991b7852b855"},
	    {"abc", "ba7816bf8f01cfea414140de5dae2223"
		    "b00361a396177a9cb410ff61f20015ad"},
	    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	     "248d6a61d20638b8e5c026930c3e6039"
	     "a33ce45964ff2167f6ecedd419db06c1"},
	};
	uint8_t h[BFS_HASH_LEN];
	char hex[BFS_HASH_HEX + 1];
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(vec); i++) {
		bfs_sha256(h, vec[i].in, strlen(vec[i].in));
		bfs_hex(hex, h, sizeof(h));
		is_str(hex, vec[i].hex, "sha256 of a %zu-byte vector",
		       strlen(vec[i].in));
	}
}

static void test_utf8(void)
{
	static const struct {
		const char *s;
		size_t n;
		bool valid;
		const char *what;
	} vec[] = {
	    {"", 0, true, "empty"},
	    {"plain ascii", 11, true, "ASCII"},
	    {"h\xc3\xa9llo", 6, true, "2-byte sequence"},
	    {"\xe6\x97\xa5\xe6\x9c\xac", 6, true, "3-byte sequences"},
	    {"\xf0\x9f\x98\x80", 4, true, "4-byte sequence (emoji)"},
	    {"\xf4\x8f\xbf\xbf", 4, true, "U+10FFFF"},
	    {"a\0b", 3, false, "NUL byte"},
	    {"\xff", 1, false, "0xff"},
	    {"\x80", 1, false, "lone continuation byte"},
	    {"\xc3", 1, false, "truncated 2-byte sequence"},
	    {"\xe6\x97", 2, false, "truncated 3-byte sequence"},
	    {"\xc0\xaf", 2, false, "overlong '/'"},
	    {"\xe0\x80\xaf", 3, false, "overlong 3-byte"},
	    {"\xf0\x82\x82\xac", 4, false, "overlong 4-byte"},
	    {"\xed\xa0\x80", 3, false, "surrogate U+D800"},
	    {"\xf4\x90\x80\x80", 4, false, "above U+10FFFF"},
	    {"\xf8\x88\x80\x80\x80", 5, false, "5-byte form"},
	    {"\xc3(", 2, false, "bad continuation byte"},
	};
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(vec); i++)
		ok(bfs_utf8_valid(vec[i].s, vec[i].n) == vec[i].valid,
		   "utf8: %s is %s", vec[i].what,
		   vec[i].valid ? "valid" : "invalid");
	ok(bfs_utf8_valid("h\xc3\xa9llo", 2) == false,
	   "utf8: the length bounds the check (cut inside a sequence)");
}

static void test_time(void)
{
	int64_t now = bfs_now_ns(), m1, m2;
	struct timespec nap = {0, 2000000};

	ok(now > (int64_t)1700000000 * 1000000000 &&
	       llabs(now / 1000000000 - (int64_t)time(NULL)) <= 2,
	   "now_ns is the wall clock in ns");
	m1 = bfs_mono_ns();
	nanosleep(&nap, NULL);
	m2 = bfs_mono_ns();
	ok(m2 - m1 >= 2000000 && m2 - m1 < 5000000000ll,
	   "mono_ns advances across a 2 ms sleep (%lld ns)",
	   (long long)(m2 - m1));
}

static void test_sizes(void)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} vec[] = {
	    {"0", 0, 0},
	    {"1048576", 0, 1048576},
	    {"512k", 0, 512 << 10},
	    {"64M", 0, 64 << 20},
	    {"1G", 0, 1ull << 30},
	    {"2T", 0, 2ull << 40},
	    {"1GiB", 0, 1ull << 30},
	    {"3mb", 0, 3 << 20},
	    {"16Ki", 0, 16 << 10},
	    {"", -EINVAL, 0},
	    {"M", -EINVAL, 0},
	    {"-1", -EINVAL, 0},
	    {" 1", -EINVAL, 0},
	    {"1X", -EINVAL, 0},
	    {"1GB!", -EINVAL, 0},
	    {"1B", -EINVAL, 0},
	    {"99999999999999999999", -EINVAL, 0},
	    {"16777216T", -EINVAL, 0},
	};
	static const struct {
		uint64_t n;
		const char *s;
	} fmt[] = {
	    {0, "0 B"},
	    {1023, "1023 B"},
	    {1024, "1.0 KiB"},
	    {1536, "1.5 KiB"},
	    {64ull << 20, "64.0 MiB"},
	    {3ull << 30, "3.0 GiB"},
	    {1ull << 50, "1.0 PiB"},
	    {UINT64_MAX, "16384.0 PiB"},
	};
	char out[32];
	uint64_t v;
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(vec); i++) {
		v = 12345;
		if (vec[i].rc == 0)
			ok(bfs_parse_size(vec[i].s, &v) == 0 && v == vec[i].v,
			   "parse_size '%s' = %llu", vec[i].s,
			   (unsigned long long)vec[i].v);
		else
			ok(bfs_parse_size(vec[i].s, &v) == vec[i].rc &&
			       v == 12345,
			   "parse_size rejects '%s'", vec[i].s);
	}
	ok(bfs_parse_size(NULL, &v) == -EINVAL, "parse_size of NULL");
	for (i = 0; i < BFS_ARRAY_SIZE(fmt); i++) {
		bfs_fmt_bytes(out, sizeof(out), fmt[i].n);
		is_str(out, fmt[i].s, "fmt_bytes %llu",
		       (unsigned long long)fmt[i].n);
	}
}

static void test_ids(void)
{
	static const char *const good[] = {
	    "a", "2026-11-20_05-15-00", "daily.1", "A_b-C.d", "...",
	};
	static const char *const bad[] = {
	    "",	   ".",		  "..",	 "latest",     "a/b",
	    "a b", "caf\xc3\xa9", "x\n", "semi;colon",
	};
	char longid[130];
	size_t i;

	for (i = 0; i < BFS_ARRAY_SIZE(good); i++)
		ok(bfs_backup_id_valid(good[i]), "backup id '%s' is valid",
		   good[i]);
	for (i = 0; i < BFS_ARRAY_SIZE(bad); i++)
		ok(!bfs_backup_id_valid(bad[i]), "backup id '%s' is invalid",
		   bad[i]);
	ok(!bfs_backup_id_valid(NULL), "a NULL backup id is invalid");
	memset(longid, 'x', 128);
	longid[128] = '\0';
	ok(bfs_backup_id_valid(longid), "a 128-character id is valid");
	longid[128] = 'x';
	longid[129] = '\0';
	ok(!bfs_backup_id_valid(longid), "a 129-character id is invalid");
}

static void test_io(void)
{
	const char *dir = tl_tmpdir("test-util");
	const char *path = tl_path(dir, "a/b/c/file");
	struct tl_rng rng = {42};
	static uint8_t data[300000], back[300001];
	struct bfs_buf b = {0};
	struct stat st;
	int fd;

	ok(bfs_mkdir_parents(path, 0755) == 0 &&
	       stat(tl_path(dir, "a/b/c"), &st) == 0 && S_ISDIR(st.st_mode) &&
	       stat(path, &st) < 0,
	   "mkdir_parents makes the directories, not "
	   "the last component");
	ok(bfs_mkdir_parents(path, 0755) == 0, "mkdir_parents again is fine");
	ok(bfs_mkdir_parents("file-in-cwd", 0755) == 0,
	   "mkdir_parents of a bare name does nothing");
	ok(tl_write_file(tl_path(dir, "plain"), "x", 1) == 0 &&
	       bfs_mkdir_parents(tl_path(dir, "plain/sub/f"), 0755) == -ENOTDIR,
	   "mkdir_parents through a file is -ENOTDIR");

	tl_fill_random(&rng, data, sizeof(data));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ok(fd >= 0 && bfs_write_full(fd, data, sizeof(data)) == 0,
	   "write_full of 300 kB");
	ok(fd >= 0 && bfs_pread_full(fd, back, 1000, 5000) == 1000 &&
	       !memcmp(back, data + 5000, 1000),
	   "pread_full of a range");
	ok(fd >= 0 && bfs_pread_full(fd, back, 1000, sizeof(data) - 10) == 10,
	   "pread_full is short only at the end of the file");
	ok(fd >= 0 && lseek(fd, 0, SEEK_SET) == 0 &&
	       bfs_read_full(fd, back, sizeof(back)) == (ssize_t)sizeof(data) &&
	       !memcmp(back, data, sizeof(data)),
	   "read_full reads to the end");
	ok(fd >= 0 && bfs_read_full(fd, back, 10) == 0,
	   "read_full at the end reads 0 bytes");
	if (fd >= 0)
		close(fd);
	is_int(bfs_write_full(-1, "x", 1), -EBADF,
	       "write_full to a bad descriptor is -EBADF");
	is_int(bfs_read_full(-1, back, 1), -EBADF,
	       "read_full from a bad descriptor is -EBADF");
	ok(tl_read_file(path, &b) == (ssize_t)sizeof(data) &&
	       b.len == sizeof(data) && !memcmp(b.data, data, b.len),
	   "the file reads back whole");
	bfs_buf_free(&b);
}

static void test_random(void)
{
	uint8_t a[64] = {0}, z[64] = {0}, b[64] = {0};

	ok(bfs_random(a, sizeof(a)) == 0 && bfs_random(b, sizeof(b)) == 0,
	   "random bytes");
	ok(memcmp(a, z, sizeof(a)) != 0 && memcmp(a, b, sizeof(a)) != 0,
	   "random bytes are not zero and differ between calls");
	ok(bfs_random(a, 0) == 0, "zero random bytes");
}

static void *scratch_thread(void *arg)
{
	struct bfs_buf b;

	bfs_scratch_take(&b);
	*(bool *)arg = b.data == NULL; /* a new thread has none */
	if (bfs_buf_reserve(&b, 100) == 0)
		bfs_scratch_give(&b, 1 << 20); /* freed at thread exit */
	return NULL;
}

static void test_scratch(void)
{
	struct bfs_buf a, b;
	uint8_t *p;
	pthread_t t;
	bool fresh = false;

	bfs_scratch_take(&a);
	ok(a.data == NULL && a.len == 0 && a.cap == 0, "scratch: none yet");
	ok(bfs_buf_append(&a, "hello", 5) == 0, "scratch: grows");
	p = a.data;
	bfs_scratch_give(&a, 1 << 20);
	ok(a.data == NULL && a.cap == 0, "scratch: given back, *b empty");
	bfs_scratch_take(&a);
	ok(a.data == p && a.len == 0 && a.cap >= 5,
	   "scratch: the same buffer again, emptied");
	/* nested: a second user while the first holds it */
	bfs_scratch_take(&b);
	ok(b.data == NULL, "scratch: a nested take gets a buffer of its own");
	ok(bfs_buf_append(&b, "x", 1) == 0, "scratch: nested buffer grows");
	bfs_scratch_give(&b, 1 << 20);
	bfs_scratch_give(&a, 1 << 20); /* slot taken by b: a is freed */
	ok(a.data == NULL, "scratch: a second give frees");
	bfs_scratch_take(&a);
	ok(a.data != NULL && a.data != p, "scratch: the nested one was kept");
	ok(bfs_buf_reserve(&a, 4096) == 0, "scratch: grows past the bound");
	bfs_scratch_give(&a, 1024);
	bfs_scratch_take(&a);
	ok(a.data == NULL, "scratch: over keep_max is not kept");
	ok(pthread_create(&t, NULL, scratch_thread, &fresh) == 0 &&
	       pthread_join(t, NULL) == 0 && fresh,
	   "scratch: per thread (ASan/valgrind: freed at its exit)");
	bfs_scratch_give(&a, 1024);
}

static void test_term_quote(void)
{
	static const struct {
		const char *in, *out, *what;
		size_t n; /* 0: strlen */
	} vec[] = {
	    {"plain name.txt", "plain name.txt", "ASCII kept", 0},
	    {"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", NULL, "UTF-8 kept",
	     0},
	    {"back\\slash", "back\\slash", "backslash kept", 0},
	    {"\033[2Jx", "\\e[2Jx", "ESC", 0},
	    {"a\rb\nc\td", "a\\rb\\nc\\td", "CR LF TAB", 0},
	    {"\a\b\v\f", "\\a\\b\\v\\f", "BEL BS VT FF", 0},
	    {"\x01\x1f\x7f", "\\x01\\x1f\\x7f", "other C0 and DEL", 0},
	    {"x\x9b"
	     "31m",
	     "x\\x9b31m", "lone 0x9b (8-bit CSI)", 0},
	    {"\xc2\x9b"
	     "0m",
	     "\\u009b0m", "U+009B encoded", 0},
	    {"\xc2\x80\xc2\x9f", "\\u0080\\u009f", "C1 bounds", 0},
	    {"\xc2\xa0", "\xc2\xa0", "U+00A0 kept", 0},
	    {"\xe2\x80\xae"
	     "txt",
	     "\\u202etxt", "bidi override", 0},
	    {"\xff\xfe", "\\xff\\xfe", "invalid bytes", 0},
	    {"\xc0\xaf", "\\xc0\\xaf", "overlong", 0},
	    {"\xed\xa0\x80", "\\xed\\xa0\\x80", "surrogate", 0},
	    {"\xe2\x82", "\\xe2\\x82", "cut sequence", 0},
	    {"\xc5\x8a", "\xc5\x8a", "U+014A kept (low byte is LF)", 0},
	    {"a\0b", "a\\x00b", "NUL", 3},
	};
	struct bfs_buf b = {0};
	char small[8], big[64];

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t n = vec[i].n ? vec[i].n : strlen(vec[i].in);
		const char *want = vec[i].out ? vec[i].out : vec[i].in;

		b.len = 0;
		ok(bfs_term_quote(&b, vec[i].in, n) == 0 &&
		       strlen((char *)b.data) == b.len &&
		       strcmp((char *)b.data, want) == 0,
		   "term quote: %s", vec[i].what);
		ok(bfs_term_safe(vec[i].in, n) ==
		       (strcmp(want, vec[i].in) == 0 && !vec[i].n),
		   "term safe: %s", vec[i].what);
		if (!vec[i].n)
			is_str(bfs_term_quote_to(big, sizeof(big), vec[i].in),
			       want, "term quote_to: %s", vec[i].what);
	}
	bfs_buf_free(&b);
	is_str(bfs_term_quote_to(small, sizeof(small), "abc\033def"),
	       "abc\\ede", "term quote_to cuts at the buffer");
	is_str(bfs_term_quote_to(small, sizeof(small), "abcdef\033"), "abcdef",
	       "term quote_to never cuts inside an escape");
	is_str(bfs_term_quote_to(small, 1, "abc"), "", "term quote_to size 1");
}

/* A log line naming a hostile text cannot drive the terminal or forge a
 * second line (the mount's log lines, warnings of every command). */
static void test_log_quote(void)
{
	char path[] = "/tmp/bfs-test-log.XXXXXX", buf[512];
	int fd = mkstemp(path);
	ssize_t n;

	if (!ok(fd >= 0, "log: temp file"))
		return;
	close(fd);
	ok(bfs_log_setup_file(path, LOG_INFO) == 0, "log: to a file");
	bfs_warn("cannot read '%s'", "x\033[2J\nfake: line\xc2\x9b");
	bfs_log_setup(false, LOG_NOTICE); /* back to stderr */
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	ok(n > 0 && strstr(buf, "cannot read 'x\\e[2J\\nfake: line\\u009b'"),
	   "log: the text is quoted: %s", buf);
	ok(strchr(buf, '\033') == NULL && strchr(buf, '\n') == buf + n - 1,
	   "log: no raw ESC, one line");
	unlink(path);
}

static void test_url_shown(void)
{
	static const char *const cases[][2] = {
	    {"http://u:secret@host:8080/x", "http://u:***@host:8080/x"},
	    {"https://user:p%40ss:w@h", "https://user:***@h"},
	    {"http://u@host/x", "http://u@host/x"},
	    {"http://host/a:b@c", "http://host/a:b@c"},
	    {"http://host?q=a:b@c", "http://host?q=a:b@c"},
	    {"http://:pw@host", "http://:***@host"},
	    {"host:pw@x", "host:pw@x"},
	    {"", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = bfs_url_shown(cases[i][0]);

		is_str(s, cases[i][1], "url shown: '%s'", cases[i][0]);
		free(s);
	}
}

int main(void)
{
	test_err();
	test_buf();
	test_strv();
	test_hex();
	test_b64();
	test_sha256();
	test_utf8();
	test_term_quote();
	test_log_quote();
	test_time();
	test_sizes();
	test_ids();
	test_io();
	test_random();
	test_scratch();
	test_url_shown();
	return tap_done();
}
