/* test-jsonsplit.c - the streaming JSON splitter (src/jsonsplit.h): arrays
 * and value sequences to JSON lines, fed whole and one byte at a time
 * (the result must not depend on where the input is cut), blanks dropped
 * outside strings only, every malformed input refused with the byte
 * offset, a deep nesting refused, a write error passed on, and a large
 * array streamed with bounded output pieces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/jsonsplit.h"
#include "tap.h"

struct sink {
	struct bfs_buf out;
	size_t max_piece;
	int fail_after; /* > 0: the Nth write fails with -EIO */
	int writes;
};

static int sink_write(void *arg, const void *data, size_t n,
		      struct bfs_err *err)
{
	struct sink *s = arg;

	s->writes++;
	if (s->fail_after && s->writes >= s->fail_after)
		return bfs_err_set(err, -EIO, "disk full");
	if (n > s->max_piece)
		s->max_piece = n;
	return bfs_buf_append(&s->out, data, n);
}

/* Split in (whole when step is 0, else step bytes at a time); *out is the
 * output (static buffer) or the error message; returns the code. */
static int split(const char *in, size_t len, size_t step, char *out,
		 size_t outsz, uint64_t *records)
{
	struct sink s = {0};
	struct bfs_jsplit *j = NULL;
	struct bfs_err err = {""};
	size_t i, k;
	int rc;

	if (bfs_jsplit_new(sink_write, &s, &j))
		return -ENOMEM;
	rc = 0;
	if (!step)
		step = len ? len : 1;
	for (i = 0; i < len && !rc; i += k) {
		k = len - i < step ? len - i : step;
		rc = bfs_jsplit_feed(j, in + i, k, &err);
	}
	if (!rc)
		rc = bfs_jsplit_finish(j, &err);
	if (records)
		*records = bfs_jsplit_records(j);
	if (rc)
		snprintf(out, outsz, "%s", err.msg);
	else
		snprintf(out, outsz, "%.*s", (int)s.out.len,
			 s.out.data ? (char *)s.out.data : "");
	bfs_jsplit_free(j);
	bfs_buf_free(&s.out);
	return rc;
}

struct good {
	const char *in, *out;
	unsigned records;
};

static const struct good goods[] = {
    {"[]", "", 0},
    {"  [ ]  \n", "", 0},
    {"", "", 0},
    {"[{\"a\":1},{\"b\":2}]", "{\"a\":1}\n{\"b\":2}\n", 2},
    {"[\n  {\n    \"id\": 1,\n    \"t\": \"a b\\n c\"\n  },\n  {\"x\": "
     "[1, 2.5e-3, -0, true, false, null]}\n]\n",
     "{\"id\":1,\"t\":\"a b\\n c\"}\n{\"x\":[1,2.5e-3,-0,true,false,"
     "null]}\n",
     2},
    /* JSON lines and concatenated values */
    {"{\"a\":1}\n{\"a\":2}\n", "{\"a\":1}\n{\"a\":2}\n", 2},
    {"{\"a\":1}{\"a\":2}", "{\"a\":1}\n{\"a\":2}\n", 2},
    {"1 2 \"x\"", "1\n2\n\"x\"\n", 3},
    /* arrays of scalars, nested arrays, empty containers */
    {"[1,\"two\",[3,[]],{}]", "1\n\"two\"\n[3,[]]\n{}\n", 4},
    /* escapes and UTF-8 copied as they are; a BOM dropped */
    {"\xef\xbb\xbf[\"\\u00e9\\\"\\\\\\/\",\"\xc3\xa9\"]",
     "\"\\u00e9\\\"\\\\\\/\"\n\"\xc3\xa9\"\n", 2},
    {"[\"a]b,c{\"]", "\"a]b,c{\"\n", 1},
};

struct bad {
	const char *in, *msg;
};

static const struct bad bads[] = {
    {"[", "ends before the array's ']'"},
    {"[{\"a\":1},", "ends before the array's ']'"},
    {"[{\"a\":1},]", "byte 9: expected a JSON value"},
    {"[{\"a\":1}{\"b\":1}]", "byte 8: expected ',' or ']'"},
    {"[{\"a\" 1}]", "byte 6: expected ':'"},
    {"[{a:1}]", "byte 2: expected a string"},
    {"[{\"a\":1]", "byte 7: expected ',' or the end"},
    {"[[1}]", "expected ',' or the end"},
    {"[\"a\nb\"]", "control character"},
    {"[\"\\x\"]", "invalid escape"},
    {"[\"\\u12g4\"]", "hex digit"},
    {"[01]", "not a JSON number"},
    {"[1.]", "not a JSON number"},
    {"[tru]", "not a JSON number"},
    {"[nul", "byte 4: not a JSON number"},
    {"[[nul", "ends inside a record"},
    {"{\"a\":", "ends inside a record"},
    {"[1] x", "data after the array"},
    {"[1] [2]", "data after the array"},
    {"\"abc", "ends inside a record"},
    {"\xef\xbb[]", "byte order mark"},
    {"}", "expected a JSON value"},
};

int main(void)
{
	char out[4096], out1[4096];
	struct bfs_jsplit *j = NULL;
	struct sink s = {0};
	struct bfs_err err = {""};
	uint64_t n;
	size_t i;
	char *deep;
	int rc;

	for (i = 0; i < BFS_ARRAY_SIZE(goods); i++) {
		const struct good *g = &goods[i];

		rc = split(g->in, strlen(g->in), 0, out, sizeof(out), &n);
		is_int(rc, 0, "good %zu: accepted (%s)", i, rc ? out : "");
		is_str(out, g->out, "good %zu: output", i);
		is_int(n, g->records, "good %zu: records", i);
		rc = split(g->in, strlen(g->in), 1, out1, sizeof(out1), NULL);
		ok(!rc && !strcmp(out, out1), "good %zu: byte by byte alike",
		   i);
	}
	for (i = 0; i < BFS_ARRAY_SIZE(bads); i++) {
		const struct bad *b = &bads[i];

		rc = split(b->in, strlen(b->in), 0, out, sizeof(out), NULL);
		is_int(rc, -EUCLEAN, "bad %zu: refused", i);
		if (!ok(strstr(out, b->msg) != NULL, "bad %zu: says '%s'", i,
			b->msg))
			diag("got '%s'", out);
		rc = split(b->in, strlen(b->in), 1, out1, sizeof(out1), NULL);
		ok(rc == -EUCLEAN && !strcmp(out, out1),
		   "bad %zu: byte by byte alike", i);
	}

	/* nesting: 256 levels pass, 257 do not */
	deep = malloc(2 * 257 + 1);
	memset(deep, '[', 257);
	memset(deep + 257, ']', 257);
	deep[514] = '\0';
	rc = split(deep + 1, 512, 0, out, sizeof(out), &n);
	ok(rc == 0 && n == 1, "255 levels in a record pass");
	rc = split(deep, 514, 0, out, sizeof(out), NULL);
	ok(rc == 0, "256 levels in a record pass (the array is not one)");
	deep[0] = '{';
	rc = split(deep, 514, 0, out, sizeof(out), NULL);
	ok(rc == -EUCLEAN, "a broken deep one is refused");
	free(deep);
	deep = malloc(300 * 2 + 3);
	deep[0] = '[';
	memset(deep + 1, '[', 300);
	memset(deep + 301, ']', 300);
	deep[601] = ']';
	deep[602] = '\0';
	rc = split(deep, 602, 0, out, sizeof(out), NULL);
	ok(rc == -EUCLEAN && strstr(out, "nesting too deep"),
	   "300 levels refused: %s", out);
	free(deep);

	/* a large array: 200,000 records in, output in bounded pieces */
	if (bfs_jsplit_new(sink_write, &s, &j) == 0) {
		char rec[64];

		rc = bfs_jsplit_feed(j, "[", 1, &err);
		for (i = 0; i < 200000 && !rc; i++) {
			int k = snprintf(rec, sizeof(rec), "%s{ \"id\" : %zu }",
					 i ? ",\n" : "", i);
			rc = bfs_jsplit_feed(j, rec, (size_t)k, &err);
		}
		if (!rc)
			rc = bfs_jsplit_feed(j, "]", 1, &err);
		if (!rc)
			rc = bfs_jsplit_finish(j, &err);
		is_int(rc, 0, "large array accepted");
		is_int(bfs_jsplit_records(j), 200000, "200000 records");
		ok(s.max_piece <= 64 * 1024, "pieces of at most 64 KiB (%zu)",
		   s.max_piece);
		ok(s.out.len > 20 &&
		       !memcmp(s.out.data, "{\"id\":0}\n{\"id\":1}", 17),
		   "records one a line");
		bfs_jsplit_free(j);
		bfs_buf_free(&s.out);
	}

	/* the write function's error ends the split and stays */
	memset(&s, 0, sizeof(s));
	s.fail_after = 1;
	if (bfs_jsplit_new(sink_write, &s, &j) == 0) {
		rc = bfs_jsplit_feed(j, "[1,2]", 5, &err);
		if (!rc)
			rc = bfs_jsplit_finish(j, &err);
		ok(rc == -EIO && strstr(err.msg, "disk full"),
		   "a write error is returned: %s", err.msg);
		ok(bfs_jsplit_feed(j, "[", 1, &err) == -EIO,
		   "and stays after it");
		bfs_jsplit_free(j);
		bfs_buf_free(&s.out);
	}
	bfs_jsplit_free(NULL);
	return tap_done();
}
