/* s3_util.h - the pure parts of the S3 store (no curl): key and query
 * encoding for SigV4, a small length-checked XML scanner for S3's answers,
 * the mapping of HTTP status + S3 error code to -errno and a message, and
 * retry backoff.  Split out of store_s3.c so tests/unit/test-s3.c can check
 * them without a server.
 *
 * All functions are thread-safe (no shared state).
 */
#ifndef BFS_S3_UTIL_H
#define BFS_S3_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Append s[0..n) to b percent-encoded the SigV4 way: A-Za-z0-9 - _ . ~
 * kept, '/' kept iff keep_slash, every other byte as %XX (uppercase).
 * 0 or -ENOMEM. */
int bfs_s3_uri_encode(struct bfs_buf *b, const char *s, size_t n,
		      bool keep_slash);

/* One query parameter; value NULL is written as "name=". */
struct bfs_s3_param {
	const char *name;
	const char *value;
};
/* Append the canonical query string of params to b: names and values
 * encoded (keep_slash false), sorted by encoded name then value, joined
 * with '&'.  params is reordered.  0 or -ENOMEM. */
int bfs_s3_query_build(struct bfs_buf *b, struct bfs_s3_param *params,
		       size_t n);

/* Find the next element <tag>text</tag> in xml[*pos..n).  On success
 * returns 1, sets *out to the unescaped text (malloc'ed, NUL-terminated,
 * caller frees) and *pos just past the closing tag.  Returns 0 if there is
 * no further <tag> (a self-closing <tag/> counts as empty text), -EPROTO if
 * the element is not closed, its text contains '<' or a NUL byte or a bad
 * entity, -ENOMEM.  Attributes on the opening tag are allowed. */
int bfs_s3_xml_next(const char *xml, size_t n, size_t *pos, const char *tag,
		    char **out);
/* Like bfs_s3_xml_next but only the span: on 1, *start and *end delimit the
 * raw (still escaped) content between the tags.  Used to walk
 * <Contents>...</Contents> blocks. */
int bfs_s3_xml_span(const char *xml, size_t n, size_t *pos, const char *tag,
		    size_t *start, size_t *end);
/* Decode XML entities of s[0..n) (&amp; &lt; &gt; &quot; &apos; &#N;
 * &#xH;) into a malloc'ed NUL-terminated string.  -EPROTO on a bad or
 * unterminated entity, a NUL result, or a raw '<'; -ENOMEM. */
int bfs_s3_xml_unescape(const char *s, size_t n, char **out);

/* One parsed ListObjectsV2 page. */
struct bfs_s3_list_item {
	char *key;
	uint64_t size;
};
struct bfs_s3_list_page {
	struct bfs_s3_list_item *items; /* owned */
	size_t n;
	bool truncated;
	char *next_token; /* owned, NULL if none */
};
/* Parse a ListBucketResult body.  -EPROTO (message in err) if malformed:
 * unclosed element, <Contents> without <Key> or with a bad <Size>,
 * IsTruncated true without a NextContinuationToken. */
int bfs_s3_parse_list(const char *xml, size_t n, struct bfs_s3_list_page *out,
		      struct bfs_err *err);
void bfs_s3_list_page_clear(struct bfs_s3_list_page *p);

/* What an S3 error answer says: <Code>, <Message>, <Region> (each may be
 * NULL; owned). */
struct bfs_s3_error {
	char *code;
	char *message;
	char *region;
};
/* Parse an <Error> body; absent or malformed fields stay NULL.  Never
 * fails except -ENOMEM. */
int bfs_s3_parse_error(const char *xml, size_t n, struct bfs_s3_error *out);
void bfs_s3_error_clear(struct bfs_s3_error *e);

/* The one place that turns an S3 answer into -errno.  status is the HTTP
 * status (>= 300), e the parsed body (fields may be NULL; HEAD answers
 * have none).  what names the request for the message ("GET 'packs/..'"),
 * bucket and region complete it.  Sets *retry when the request should be
 * retried (5xx, 429, SlowDown, RequestTimeout...); then the message is the
 * "last error" text.  Returns -ENOENT (404), -EACCES (403), -EINVAL (wrong
 * region, bad range), -EEXIST (412), -EIO (others), with the message in
 * err.  The secret is never part of the message. */
int bfs_s3_map_error(long status, const struct bfs_s3_error *e,
		     const char *what, const char *bucket, const char *region,
		     bool *retry, struct bfs_err *err);

/* Full-jitter exponential backoff: a random delay in [0, min(cap,
 * base * 2^attempt)] milliseconds (attempt counts from 0). */
uint64_t bfs_s3_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t cap_ms);

/* Parse "bytes START-END/TOTAL" (TOTAL may be '*').  0 or -EINVAL. */
int bfs_s3_parse_content_range(const char *s, uint64_t *start, uint64_t *end,
			       uint64_t *total);

/* URLs for bucket on endpoint ("http://host:port", "https://host/path"):
 * *obj_base is what "/<encoded key>" follows, *bucket_url the bucket
 * itself (list, create).  Path-style: ENDPOINT/bucket for both;
 * virtual-host: SCHEME://bucket.HOST and SCHEME://bucket.HOST/.  Both
 * malloc'ed.  -EINVAL for an endpoint that is not http(s)://, -ENOMEM. */
int bfs_s3_build_urls(const char *endpoint, const char *bucket, bool path_style,
		      char **obj_base, char **bucket_url, struct bfs_err *err);

/* Bucket names we accept: 1..255 of [A-Za-z0-9._-] (what reaches a URL
 * host or path unencoded). */
bool bfs_s3_bucket_valid(const char *b);

#endif
