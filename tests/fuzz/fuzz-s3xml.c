/* fuzz-s3xml.c - libFuzzer target: what an S3 server's answer goes
 * through (s3_util.c): the ListObjectsV2 page parser, the error body
 * parser and the mapping of status + error to -errno and a message, the
 * element scanner and the entity decoder, the Content-Range parser.
 * Oracles: every listed key is a non-empty string without NUL of the
 * length the parser returns; a truncated page has its continuation token;
 * the error message is a NUL-terminated string inside struct bfs_err.
 * The first byte picks the HTTP status for the error mapping.
 * Built by scripts/fuzz; replayed by tests/unit/test-fuzz-s3xml. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/s3_util.h"

static const long statuses[] = {301, 307, 400, 403, 404, 409, 412,
				416, 429, 500, 501, 503, 504, 599};

static void scan(const char *xml, size_t n, const char *tag)
{
	size_t pos = 0, start, end, last = 0;
	char *text;
	int rc;

	while ((rc = bfs_s3_xml_next(xml, n, &pos, tag, &text)) == 1) {
		if (pos <= last || pos > n || !text)
			abort(); /* must make progress inside the input */
		last = pos;
		free(text);
	}
	pos = 0;
	last = 0;
	while (bfs_s3_xml_span(xml, n, &pos, tag, &start, &end) == 1) {
		if (start > end || end > n || pos <= last || pos > n)
			abort();
		last = pos;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data + 1;
	struct bfs_s3_list_page page = {0};
	struct bfs_s3_error e = {0};
	struct bfs_err err;
	uint64_t a, b, c;
	size_t n, i;
	char *s;
	bool retry = false;

	if (size < 1)
		return 0;
	n = size - 1;
	if (bfs_s3_parse_list(xml, n, &page, &err) == 0) {
		for (i = 0; i < page.n; i++)
			if (!page.items[i].key || !page.items[i].key[0])
				abort();
		if (page.truncated && !page.next_token)
			abort();
		bfs_s3_list_page_clear(&page);
	}
	if (bfs_s3_parse_error(xml, n, &e) == 0) {
		err.msg[0] = '\0';
		(void)bfs_s3_map_error(
		    statuses[data[0] % 14], &e, "GET 'packs/x'", "bucket",
		    e.region ? e.region : "us-east-1", &retry, &err);
		if (!memchr(err.msg, '\0', sizeof(err.msg)))
			abort();
		bfs_s3_error_clear(&e);
	}
	scan(xml, n, "Key");
	scan(xml, n, "Contents");
	if (bfs_s3_xml_unescape(xml, n, &s) == 0) {
		if (strlen(s) > n) /* entities never grow the text */
			abort();
		free(s);
	}
	/* the Content-Range header is a C string */
	if (n < 256 && (s = strndup(xml, n)) != NULL) {
		if (bfs_s3_parse_content_range(s, &a, &b, &c) == 0 && a > b)
			abort();
		free(s);
	}
	return 0;
}
