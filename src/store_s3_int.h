/* store_s3_int.h - what store_s3.c (the store operations) and
 * store_s3_req.c (the handle pool and one signed request with retries)
 * share.  Private to those two files. */
#ifndef BFS_STORE_S3_INT_H
#define BFS_STORE_S3_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "store.h"
#include "util.h"

#define S3_POOL_MAX 64
#define S3_BACKOFF_BASE_MS 100
#define S3_BACKOFF_CAP_MS 5000
#define S3_RETRY_SECONDS_DEFAULT 60.0
#define S3_ERRBODY_MAX (64 * 1024)
#define BFS_KEY_MAX_S3 1200
#define S3_EMPTY_SHA256                                                        \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_store {
	struct bfs_store base;
	char *bucket;
	char *prefix; /* "" or "a/b": no leading/trailing '/' */
	char *region;
	char *obj_base;	  /* URL before "/<encoded key>", no trailing '/' */
	char *bucket_url; /* URL of the bucket itself (list, create) */
	char *access_key;
	char *secret_key;    /* never logged; zeroed on destroy */
	char *session_token; /* may be NULL */
	char sigv4[128];     /* "aws:amz:REGION:s3" */
	int64_t retry_ns;    /* total retry budget per request */

	pthread_mutex_t pool_lock; /* protects pool[] and npool */
	CURL *pool[S3_POOL_MAX];
	size_t npool;
};

static inline struct s3_store *to_s3(struct bfs_store *s)
{
	return (struct s3_store *)s;
}

/* One request (s3_call fills the "out" part). */
struct s3_req {
	/* in */
	const char *method; /* GET PUT HEAD DELETE */
	const char *key;    /* full object key, or NULL: the bucket */
	const char *query;  /* canonical query, or NULL */
	const void *body;   /* PUT body */
	size_t body_len;
	const char *content_type; /* PUT */
	const char *extra_header; /* e.g. "If-None-Match: *", or NULL */
	const char *what;	  /* for messages: "GET 'packs/..'" */
	/* GET: the wanted range of the object [off, end), end UINT64_MAX for
	 * "to the end".  Body bytes outside it are dropped: servers that
	 * ignore or widen a Range (s3rver with bytes=0-0) still give us
	 * exactly what was asked. */
	bool ranged;
	uint64_t off, end;
	struct bfs_buf *out; /* GET body sink (appended), or NULL */

	/* out */
	long status;
	bool have_length;
	uint64_t length; /* Content-Length of the answer */
	bool have_range;
	uint64_t cr_start, cr_end, cr_total; /* Content-Range */

	/* transfer state, reset each attempt */
	size_t out_start; /* out->len before the attempt */
	size_t body_read; /* PUT: bytes handed to curl */
	bool body_started;
	uint64_t body_pos; /* object offset of the next GET byte */
	struct bfs_buf errbody;
};

/* Run r against s: sign, send, retry transient failures with backoff
 * within s->retry_ns, map the final answer to 0 / -errno with a message
 * naming r->what.  Thread-safe (takes a pooled handle). */
int s3_call(struct s3_store *s, struct s3_req *r, struct bfs_err *err);

#endif
