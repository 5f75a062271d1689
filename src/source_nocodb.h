/* source_nocodb.h - the NocoDB API export (--nocodb URL) into bases/:
 * shared by src/source_nocodb*.c, and the pure functions the unit tests
 * call (title mapping, the page-stop rule).  doc/NOCODB.md describes the
 * layout and the mapping.
 */
#ifndef BFS_SOURCE_NOCODB_H
#define BFS_SOURCE_NOCODB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* ---- source_nocodb_name.c: titles as path names ------------------------ */

/* A NocoDB title as one path component (malloc'ed into *out): '%', '/',
 * control characters (0x00-0x1f, 0x7f) become %XX (upper-case hex); a
 * result of "." or ".." has its dots written %2E; the empty title is
 * "%".  Injective: bfs_nocodb_name_decode gives the title back.
 * 0 or -ENOMEM.  Thread-safe. */
int bfs_nocodb_name_encode(const char *title, char **out);

/* The inverse (also of a name with a clash suffix "%~N", which is
 * dropped).  *out malloc'ed; -EINVAL for a name no title maps to,
 * -ENOMEM.  Thread-safe. */
int bfs_nocodb_name_decode(const char *name, char **out);

/* The names taken in one directory.  Zero-initialise; free with
 * bfs_nocodb_names_free.  Not thread-safe. */
struct bfs_nocodb_names {
	struct bfs_strv taken;
};

/* Reserve a fixed name (e.g. "metadata.json" among the tables of a
 * base), so no title maps to it.  0 / -ENOMEM. */
int bfs_nocodb_names_reserve(struct bfs_nocodb_names *n, const char *name);

/* The name of title in this directory (malloc'ed into *out): its
 * encoding, or, when that is taken (two titles alike, or a reserved
 * name), the encoding + "%~2", "%~3", ... (the first one free).  The
 * name is then taken.  0 / -ENOMEM. */
int bfs_nocodb_names_take(struct bfs_nocodb_names *n, const char *title,
			  char **out);
void bfs_nocodb_names_free(struct bfs_nocodb_names *n);

/* ---- records: primary key, attachments (source_nocodb_name.c) ------- */

struct cJSON;

/* JSON true or a non-zero number (NocoDB on SQLite writes "pk": 1). */
bool bfs_nocodb_truthy(const struct cJSON *v);

/* From a table's schema (GET meta/tables/{id}): the primary key's title
 * (*pk borrowed from schema, NULL if none) and the titles of the
 * Attachment columns appended to atts (borrowed).  0 / -ENOMEM. */
int bfs_nocodb_columns(const struct cJSON *schema, const char **pk,
		       struct bfs_strv *atts);

/* The directory name of a record's attachments: its primary key value
 * (string, or an integral number) encoded, else "row-<rowno>" (its
 * position, 1-based).  *out malloc'ed.  0 / -ENOMEM. */
int bfs_nocodb_record_name(const struct cJSON *rec, const char *pk,
			   uint64_t rowno, char **out);

/* The array of attachment objects in field col of rec (or the JSON text
 * of one, parsed into *parsed, which the caller deletes), or NULL. */
const struct cJSON *bfs_nocodb_att_array(const struct cJSON *rec,
					 const char *col,
					 struct cJSON **parsed);

/* Call fn(arg, column index, attachment object, file name) for each
 * attachment object of rec in the columns cols, in order; the file
 * names are the objects' titles made names in one directory per record
 * (clashes get "%~2", ...): the names under attachments/<record>/.
 * Returns 0, -ENOMEM or fn's non-zero value.  */
typedef int (*bfs_nocodb_att_fn)(void *arg, size_t col, const struct cJSON *obj,
				 const char *fname);
int bfs_nocodb_attachments(const struct cJSON *rec, const struct bfs_strv *cols,
			   bfs_nocodb_att_fn fn, void *arg);

/* ---- the page-stop rule ------------------------------------------------ */

/* Records are read in pages of `limit` from `offset`.  Is the page that
 * returned `got` records the last one?  Yes on a short page (got <
 * limit, including 0) or once offset + got >= total (total < 0: the
 * server did not say).  isLastPage is never asked: it has been seen
 * wrong.  Thread-safe. */
bool bfs_nocodb_page_last(uint64_t offset, size_t got, size_t limit,
			  int64_t total);

#define BFS_NOCODB_PAGE 1000 /* records a request (NocoDB's maximum) */

/* ---- source_nocodb_json.c: records as NocoDB wrote them ---------------- */

/* Append the records of a records page, text[0..len) (a JSON object that
 * cJSON has parsed already), to out: each object element of the first
 * top-level "list" array, as its bytes in text with the blanks outside
 * strings dropped, plus '\n'.  Numbers keep their digits (cJSON would
 * round integers above 2^53); a raw control character inside a string,
 * which JSON forbids, becomes \u00XX.  Elements that are not objects are
 * skipped.  *count gets the number of lines.  0, -EPROTO (no "list"
 * array, or malformed text), -ENOMEM.  Thread-safe. */
int bfs_nocodb_records_lines(const char *text, size_t len, struct bfs_buf *out,
			     size_t *count);

/* Append to out the members of the JSON object text[0..len) (one record,
 * which cJSON has parsed already) whose key keep(arg, key) accepts, the key
 * decoded as cJSON decodes it: each "key":value as its bytes in text with
 * the blanks outside strings dropped, joined by ',', without the braces.
 * Numbers keep their digits (restore-records sends a BigInt as stored).
 * *count gets the number of members appended.  0, -EPROTO (malformed
 * text), -ENOMEM.  Thread-safe if keep is. */
int bfs_nocodb_object_members(const char *text, size_t len,
			      bool (*keep)(void *arg, const char *key),
			      void *arg, struct bfs_buf *out, size_t *count);

/* ---- source_nocodb_http.c: requests with retries ----------------------- */

struct nc_http;

/* A client of the NocoDB at url (copied; trailing '/' dropped) sending
 * token (copied, wiped on free) as xc-token.  *out or -ENOMEM.  */
int nc_http_new(const char *url, const char *token, struct nc_http **out,
		struct bfs_err *err);
void nc_http_free(struct nc_http *h); /* NULL ok; wipes the token */
const char *nc_http_base(const struct nc_http *h);
/* The base URL for messages: without the password of its userinfo. */
const char *nc_http_shown(const struct nc_http *h);

/* GET base + path (path starts with '/'), the JSON body into *out
 * (caller frees with cJSON_Delete).  Transport errors, 5xx and 429 are
 * tried 3 times with backoff; 401/403 fail at once ("the token was
 * refused").  what names the request in messages ("base 'B', table 'T',
 * records page 3").  0 or -errno with a message. */
struct cJSON;
int nc_get_json(struct nc_http *h, const char *path, struct cJSON **out,
		const char *what, struct bfs_err *err);
/* The same, also keeping the body's bytes in *raw (when not NULL). */
int nc_get_json_raw(struct nc_http *h, const char *path, struct cJSON **out,
		    struct bfs_buf *raw, const char *what, struct bfs_err *err);

/* GET url (absolute; the token is sent only when url starts with the
 * NocoDB base URL, nc_url_ours), body bytes to sink(arg, data, n)
 * (non-zero stops: that value is returned).  restart(arg) is called
 * before each try (to drop what a failed try wrote).  Retried as
 * nc_get_json; a 4xx other than 429 is -ENOENT with *status set, a 401
 * or 403 of NocoDB itself -EACCES (the token), of another server (an
 * attachment's storage: an expired signed URL) -ENOENT too.  */
typedef int (*nc_sink_fn)(void *arg, const void *data, size_t n);
int nc_get_stream(struct nc_http *h, const char *url, nc_sink_fn sink,
		  void (*restart)(void *arg), void *arg, long *status,
		  const char *what, struct bfs_err *err);

/* Does url point into NocoDB (the base URL the client was made with)? */
bool nc_url_ours(const struct nc_http *h, const char *url);

/* method ("POST", "PATCH", "DELETE") base + path with the JSON text
 * body, the answer (any JSON value) into *out (cJSON_Delete).  Retried
 * as nc_get_json: a 5xx is tried again, so a server that wrote the rows
 * and then failed may get them twice.  0 or -errno with a message. */
int nc_send_json(struct nc_http *h, const char *method, const char *path,
		 const char *body, struct cJSON **out, const char *what,
		 struct bfs_err *err);

/* POST the local file `file` to base + path as the multipart field
 * "file" named fname (NocoDB's /api/v2/storage/upload); the answer (an
 * array of attachment objects) into *out.  Retried as nc_get_json. */
int nc_upload(struct nc_http *h, const char *path, const char *file,
	      const char *fname, struct cJSON **out, const char *what,
	      struct bfs_err *err);

#endif
