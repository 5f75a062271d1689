/* restore_nocodb.c - the NocoDB export of a backup back into NocoDB
 * (restore_nocodb.h): restore-schema, restore-records and
 * restore-attachments (the schema's rules: restore_nocodb_schema.c).
 *
 * Everything read from the backup is hostile: metadata.json and
 * schema.json are bounded and checked, records.jsonl is read a line at a
 * time (a line is bounded), attachment paths come from the export's own
 * naming (source_nocodb_name.c) and are looked up in the catalog, never
 * joined into a local path.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "restore.h"
#include "restore_nocodb.h"
#include "restore_nocodb_int.h"

#define META_MAX (64u << 20)  /* metadata.json, schema.json */
#define LINE_MAX_ (64u << 20) /* one record of records.jsonl */
#define BATCH 100	      /* records a request (NocoDB's maximum) */
#define UPLOAD_PATH "/api/v2/storage/upload?path=noco%2Fbackupfs-restore"

struct ncr {
	struct bfs_repo *repo;
	struct bfs_catalog *cat;
	struct nc_http *h;
	const struct bfs_ncr_opts *o;
	struct bfs_ncr_stats *st;
	struct bfs_err *err;
	const char *btitle, *ttitle; /* for messages */
	int64_t tdir;		     /* the table's directory entry */
	cJSON *nbases;		     /* GET meta/bases of the server */
};

static void say(struct ncr *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(struct ncr *r, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!r->o->say)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->o->say(r->o->arg, line);
}

/* An id NocoDB gave us, checked before it goes into a URL. */
static bool id_ok(const char *s)
{
	return s && *s && strlen(s) < 128 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_-") == strlen(s);
}

/* ---- reading the backup ------------------------------------------------ */

struct sink {
	struct bfs_buf *b;
	size_t max;
};

static int buf_sink(void *arg, uint64_t off, const uint8_t *data, size_t n)
{
	struct sink *s = arg;

	(void)off;
	if (s->b->len + n > s->max)
		return -EFBIG;
	return bfs_buf_append(s->b, data, n);
}

/* The JSON object in file name of directory dir (a small file). */
static int read_json(struct ncr *r, int64_t dir, const char *what,
		     const char *name, cJSON **out)
{
	struct bfs_cat_entry ce;
	struct bfs_buf b = {0};
	struct sink s = {&b, META_MAX};
	int rc;

	*out = NULL;
	memset(&ce, 0, sizeof(ce));
	rc = bfs_catalog_lookup(r->cat, dir, name, strlen(name), &ce, r->err);
	if (rc == -ENOENT)
		return bfs_err_set(r->err, rc, "%s: no %s in the backup", what,
				   name);
	if (rc < 0)
		return rc;
	rc = bfs_restore_cat_cb(r->repo, r->cat, ce.id, buf_sink, &s, r->err);
	if (rc == -EFBIG)
		rc = bfs_err_set(r->err, -EUCLEAN, "%s: %s is over %u MiB",
				 what, name, META_MAX >> 20);
	else if (rc == -ENOMEM)
		rc = bfs_err_set(r->err, rc, "out of memory");
	else if (rc < 0)
		rc = bfs_err_prefix(r->err, rc, "%s: %s", what, name);
	if (!rc) {
		*out = cJSON_ParseWithLength((const char *)b.data, b.len);
		if (!cJSON_IsObject(*out)) {
			cJSON_Delete(*out);
			*out = NULL;
			rc = bfs_err_set(r->err, -EUCLEAN,
					 "%s: %s is not a JSON object", what,
					 name);
		}
	}
	bfs_buf_free(&b);
	bfs_cat_entry_clear(&ce);
	return rc;
}

/* Does title or name (as in the backup) match the --base/--table filter? */
static bool wanted(const char *filter, const char *title, const char *name)
{
	return !filter || !strcmp(filter, title) || !strcmp(filter, name);
}

/* ---- the server -------------------------------------------------------- */

/* The element of list (a JSON object's "list") with this title. */
static const cJSON *by_title(const cJSON *o, const char *title)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "list"), *e;

	cJSON_ArrayForEach(e, l)
	{
		const char *t = str_of(e, "title");

		if (t && !strcmp(t, title) && id_ok(str_of(e, "id")))
			return e;
	}
	return NULL;
}

static int get_json(struct ncr *r, const char *what, cJSON **out,
		    const char *fmt, const char *id)
{
	char path[256];

	snprintf(path, sizeof(path), fmt, id);
	return nc_get_json(r->h, path, out, what, r->err);
}

/* ---- restore-schema ---------------------------------------------------- */

static void manual_col(void *arg, const char *t, const char *u)
{
	struct ncr *r = arg;

	say(r, "recreate by hand: column '%s' (%s) of base '%s', table '%s'", t,
	    u, r->btitle, r->ttitle);
	r->st->manual++;
}

static int schema_table(struct ncr *r, const char *bid, const cJSON *ntables,
			const cJSON *schema)
{
	cJSON *body = NULL, *ans = NULL;
	char *text = NULL, what[512], path[128];
	unsigned ncols = 0;
	int rc = 0;

	snprintf(what, sizeof(what), "base '%s', table '%s'", r->btitle,
		 r->ttitle);
	if (ntables && by_title(ntables, r->ttitle)) {
		if (!r->o->skip_existing)
			return bfs_err_set(r->err, -EEXIST,
					   "%s: NocoDB has that table already "
					   "(--skip-existing leaves it alone)",
					   what);
		say(r, "skip table '%s' of base '%s': it exists", r->ttitle,
		    r->btitle);
		r->st->skipped++;
		return 0;
	}
	rc = bfs_ncr_table_payload(schema, &body, manual_col, r, &ncols);
	if (rc)
		goto nomem;
	if (r->o->plan || !bid) {
		say(r, "create table '%s' in base '%s' (%u columns)", r->ttitle,
		    r->btitle, ncols);
		r->st->tables++;
		goto out;
	}
	text = cJSON_PrintUnformatted(body);
	if (!text)
		goto nomem;
	snprintf(path, sizeof(path), "/api/v2/meta/bases/%s/tables", bid);
	rc = nc_send_json(r->h, "POST", path, text, &ans, what, r->err);
	if (!rc && !id_ok(str_of(ans, "id")))
		rc = bfs_err_set(r->err, -EPROTO,
				 "%s: NocoDB's answer has no table id", what);
	if (!rc) {
		say(r, "created table '%s' in base '%s' (%u columns)",
		    r->ttitle, r->btitle, ncols);
		r->st->tables++;
	}
out:
	cJSON_free(text);
	cJSON_Delete(ans);
	cJSON_Delete(body);
	return rc;
nomem:
	rc = bfs_err_set(r->err, -ENOMEM, "out of memory");
	goto out;
}

/* ---- records and attachments ------------------------------------------- */

/* One table's records being restored. */
struct recs {
	struct ncr *r;
	const char *tid;	   /* the table in NocoDB */
	const char *pk;		   /* backup's primary key title */
	const char *npk;	   /* NocoDB's primary key title */
	struct bfs_strv keep;	   /* fields to send (sorted) */
	struct bfs_strv acols;	   /* backup's Attachment columns */
	struct bfs_buf line;	   /* the line being read */
	uint64_t rowno;		   /* lines read */
	uint64_t batchno, first;   /* batch number, its first line */
	struct bfs_buf batch;	   /* "[" and the records to send, as text */
	int nbatch;		   /* records in batch */
	cJSON *cur;		   /* record being built (attachments) */
	cJSON **arrays;		   /* per attachment column, uploaded */
	int64_t aroot;		   /* attachments/ of the table, 0: none */
	struct bfs_cat_entry adir; /* attachments/<record>/ */
	bool have_adir;
	uint64_t missing; /* attachments: records not in NocoDB */
};

struct tmp_sink {
	int fd;
};

static int fd_sink(void *arg, uint64_t off, const uint8_t *data, size_t n)
{
	(void)off;
	return bfs_write_full(((struct tmp_sink *)arg)->fd, data, n);
}

/* Upload the backup's file fname of the record's attachment directory;
 * the answer's objects are appended to k->arrays[col]. */
static int upload_one(void *arg, size_t col, const cJSON *obj,
		      const char *fname)
{
	struct recs *k = arg;
	struct ncr *r = k->r;
	struct bfs_cat_entry ce;
	struct tmp_sink ts = {-1};
	const char *tmpdir = getenv("TMPDIR");
	const char *title = str_of(obj, "title");
	char tmp[4096], what[1024];
	cJSON *ans = NULL, *e;
	int rc;

	if (!bfs_strv_has(&k->keep, k->acols.v[col]))
		return 0; /* NocoDB's table has no such column */
	/* the title goes into the multipart header: the name when the
	 * title has a control character or a quote */
	if (!title || strpbrk(title, "\"\\") ||
	    !bfs_term_safe(title, strlen(title)))
		title = fname;
	snprintf(what, sizeof(what),
		 "base '%s', table '%s', record %" PRIu64 ", attachment '%s'",
		 r->btitle, r->ttitle, k->rowno, fname);
	if (!k->have_adir) {
		say(r, "%s: not in the backup, left out", what);
		return 0;
	}
	memset(&ce, 0, sizeof(ce));
	rc = bfs_catalog_lookup(r->cat, k->adir.id, fname, strlen(fname), &ce,
				r->err);
	if (rc == -ENOENT) {
		say(r, "%s: not in the backup, left out", what);
		return 0;
	}
	if (rc < 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s/backupfs-nocodb-XXXXXX",
		 tmpdir && *tmpdir ? tmpdir : "/tmp");
	ts.fd = mkstemp(tmp);
	if (ts.fd < 0) {
		rc = bfs_err_set(r->err, -errno, "%s: temporary file: %s", what,
				 strerror(errno));
		goto out;
	}
	rc = bfs_restore_cat_cb(r->repo, r->cat, ce.id, fd_sink, &ts, r->err);
	if (rc == -ENODATA) {
		say(r, "%s: unreadable at backup time, left out", what);
		rc = 0;
		goto out;
	}
	if (rc < 0) {
		rc = bfs_err_prefix(r->err, rc, "%s", what);
		goto out;
	}
	rc = nc_upload(r->h, UPLOAD_PATH, tmp, title, &ans, what, r->err);
	if (rc)
		goto out;
	if (!cJSON_IsArray(ans) || !cJSON_GetArraySize(ans)) {
		rc = bfs_err_set(r->err, -EPROTO,
				 "%s: NocoDB's upload answer is not a list "
				 "of attachments",
				 what);
		goto out;
	}
	cJSON_ArrayForEach(e, ans)
	{
		if (!cJSON_AddItemToArray(k->arrays[col],
					  cJSON_Duplicate(e, true))) {
			rc = bfs_err_set(r->err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	r->st->attachments++;
	r->st->bytes += ce.e.size;
out:
	if (ts.fd >= 0) {
		close(ts.fd);
		unlink(tmp);
	}
	cJSON_Delete(ans);
	bfs_cat_entry_clear(&ce);
	return rc;
}

/* Has rec (backup's record) attachments? */
static bool has_atts(const struct recs *k, const cJSON *rec)
{
	bool any = false;
	size_t i;

	for (i = 0; i < k->acols.n && !any; i++) {
		cJSON *parsed;
		const cJSON *a =
		    bfs_nocodb_att_array(rec, k->acols.v[i], &parsed);

		any = a && cJSON_GetArraySize(a) > 0;
		cJSON_Delete(parsed);
	}
	return any;
}

/* Upload the attachments of rec (backup's record) into k->arrays[],
 * one array per attachment column. */
static int upload_all(struct recs *k, const cJSON *rec)
{
	struct ncr *r = k->r;
	char *idname = NULL;
	size_t i;
	int rc;

	for (i = 0; i < k->acols.n; i++) {
		cJSON_Delete(k->arrays[i]);
		k->arrays[i] = cJSON_CreateArray();
		if (!k->arrays[i])
			return bfs_err_set(r->err, -ENOMEM, "out of memory");
	}
	rc = bfs_nocodb_record_name(rec, k->pk, k->rowno, &idname);
	if (rc)
		return bfs_err_set(r->err, rc, "out of memory");
	bfs_cat_entry_clear(&k->adir);
	memset(&k->adir, 0, sizeof(k->adir));
	k->have_adir = false;
	if (k->aroot) {
		rc = bfs_catalog_lookup(r->cat, k->aroot, idname,
					strlen(idname), &k->adir, r->err);
		k->have_adir = !rc;
		if (rc == -ENOENT)
			rc = 0;
	}
	free(idname);
	if (!rc)
		rc = bfs_nocodb_attachments(rec, &k->acols, upload_one, k);
	if (rc == -ENOMEM)
		rc = bfs_err_set(r->err, rc, "out of memory");
	return rc;
}

/* Send the batch: POST (insert) or PATCH (attachments). */
static int flush(struct recs *k)
{
	struct ncr *r = k->r;
	int n = k->nbatch;
	char what[1024], path[128];
	cJSON *ans = NULL;
	bool ins = r->o->mode == BFS_NCR_RECORDS;
	int rc = 0;

	if (!n)
		return 0;
	k->batchno++;
	snprintf(what, sizeof(what),
		 "base '%s', table '%s', batch %" PRIu64 " (records %" PRIu64
		 "-%" PRIu64 " of records.jsonl)",
		 r->btitle, r->ttitle, k->batchno, k->first, k->rowno);
	if (bfs_buf_append(&k->batch, "]", 2)) /* and the NUL */
		return bfs_err_set(r->err, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "/api/v2/tables/%s/records", k->tid);
	rc = nc_send_json(r->h, ins ? "POST" : "PATCH", path,
			  (const char *)k->batch.data, &ans, what, r->err);
	if (!rc && (!cJSON_IsArray(ans) || cJSON_GetArraySize(ans) != n))
		rc = bfs_err_set(r->err, -EPROTO,
				 "%s: NocoDB answered for %d records, not %d",
				 what, cJSON_GetArraySize(ans), n);
	if (!rc)
		r->st->records += (uint64_t)n;
	cJSON_Delete(ans);
	k->batch.len = 0;
	k->nbatch = 0;
	return rc;
}

static bool is_pk(void *arg, const char *key)
{
	return !strcmp(key, ((struct recs *)arg)->pk);
}

/* The member named k->pk of the record text[0..n), its value's bytes as
 * stored (a number keeps its digits: cJSON holds it as a double, which
 * rounds integers above 2^53) into *raw as a string, or *raw = NULL when
 * the record has no such member.  0, -EPROTO (malformed, or the member
 * twice), -ENOMEM. */

static int pk_raw(struct recs *k, const char *text, size_t n, char **raw)
{
	struct bfs_buf m = {0};
	size_t cnt = 0, i = 1;
	int rc;

	*raw = NULL;
	rc = bfs_nocodb_object_members(text, n, is_pk, k, &m, &cnt);
	if (rc || !cnt)
		goto out;
	if (cnt > 1) {
		rc = -EPROTO;
		goto out;
	}
	/* m is "key":value, the key a JSON string as in text */
	while (i < m.len && m.data[i] != '"')
		i += m.data[i] == '\\' ? 2 : 1;
	if (i + 2 > m.len || m.data[i + 1] != ':') {
		rc = -EPROTO;
		goto out;
	}
	*raw = strndup((const char *)m.data + i + 2, m.len - i - 2);
	if (!*raw)
		rc = -ENOMEM;
out:
	bfs_buf_free(&m);
	return rc;
}

/* Does the record with primary key value v (raw: its bytes as stored)
 * exist in the table? */
static int exists(struct recs *k, const cJSON *v, const char *raw, bool *yes)
{
	struct ncr *r = k->r;
	char path[512], *esc, what[512];
	const char *s = cJSON_GetStringValue(v);
	cJSON *ans = NULL;
	int rc;

	*yes = false;
	if (cJSON_IsNumber(v)) {
		/* an integer as stored, digits only: never a rounded double */
		if (strspn(raw + (*raw == '-'), "0123456789") !=
			strlen(raw + (*raw == '-')) ||
		    !raw[*raw == '-'])
			return 0;
		s = raw;
	}
	if (!s || !*s || strlen(s) > 200)
		return 0;
	esc = curl_easy_escape(NULL, s, 0);
	if (!esc)
		return bfs_err_set(r->err, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "/api/v2/tables/%s/records/%s", k->tid,
		 esc);
	curl_free(esc);
	snprintf(what, sizeof(what), "base '%s', table '%s', record '%s'",
		 r->btitle, r->ttitle, s);
	rc = nc_get_json(r->h, path, &ans, what, r->err);
	if (rc == -ENOENT) /* a 4xx: NocoDB says 404 (or 400) */
		return 0;
	*yes = !rc && cJSON_GetObjectItemCaseSensitive(ans, k->npk);
	cJSON_Delete(ans);
	return rc;
}

static bool is_acol(const struct recs *k, const char *t)
{
	size_t i;

	for (i = 0; i < k->acols.n; i++)
		if (!strcmp(k->acols.v[i], t))
			return true;
	return false;
}

/* A member of a record that restore-records sends as stored: a field to
 * keep that is not an attachment column (those get the new uploads). */
static bool send_as_stored(void *arg, const char *key)
{
	struct recs *k = arg;

	return bfs_strv_has(&k->keep, key) && !is_acol(k, key);
}

/* Append one record to the batch: the members of the line's text that
 * restore-records sends as stored (their bytes: a BigInt keeps its digits),
 * then the members of out (primary key, attachments). */
static int batch_add(struct recs *k, const char *text, size_t n,
		     const cJSON *out)
{
	struct bfs_buf *b = &k->batch;
	char *more = NULL;
	size_t cnt = 0, mlen;
	int rc;

	if (bfs_buf_append(b, k->nbatch ? "," : "[", 1) ||
	    bfs_buf_append(b, "{", 1))
		return -ENOMEM;
	if (k->r->o->mode == BFS_NCR_RECORDS) {
		rc = bfs_nocodb_object_members(text, n, send_as_stored, k, b,
					       &cnt);
		if (rc)
			return rc;
	}
	if (cJSON_GetArraySize(out)) {
		more = cJSON_PrintUnformatted(out);
		if (!more)
			return -ENOMEM;
		mlen = strlen(more); /* "{...}": its members only */
		if ((cnt && bfs_buf_append(b, ",", 1)) ||
		    bfs_buf_append(b, more + 1, mlen - 2)) {
			cJSON_free(more);
			return -ENOMEM;
		}
		cJSON_free(more);
	}
	if (bfs_buf_append(b, "}", 1))
		return -ENOMEM;
	k->nbatch++;
	return 0;
}

/* One line of records.jsonl. */
static int record(struct recs *k, const char *text, size_t n)
{
	struct ncr *r = k->r;
	cJSON *rec = cJSON_ParseWithLength(text, n), *out = NULL;
	char *raw = NULL;
	bool any = false, yes;
	size_t i, set = 0;
	int rc = 0;

	k->rowno++;
	if (!cJSON_IsObject(rec)) {
		rc = bfs_err_set(r->err, -EUCLEAN,
				 "base '%s', table '%s': line %" PRIu64
				 " of records.jsonl is not a JSON object",
				 r->btitle, r->ttitle, k->rowno);
		goto out;
	}
	if (!k->nbatch)
		k->first = k->rowno;
	out = cJSON_CreateObject();
	if (!out)
		goto nomem;
	any = has_atts(k, rec);
	if (r->o->mode == BFS_NCR_ATTACHMENTS) {
		const cJSON *pv = cJSON_GetObjectItemCaseSensitive(rec, k->pk);
		cJSON *pr;

		if (!any)
			goto out;
		rc = pk_raw(k, text, n, &raw);
		if (rc == -EPROTO)
			goto malformed;
		if (rc)
			goto nomem;
		yes = false;
		rc = pv && raw ? exists(k, pv, raw, &yes) : 0;
		if (rc)
			goto out;
		if (!yes) {
			k->missing++;
			r->st->missing++;
			goto out;
		}
		/* the key as stored: a BigInt keeps its digits in the PATCH */
		pr = cJSON_CreateRaw(raw);
		if (!pr || !cJSON_AddItemToObject(out, k->npk, pr)) {
			cJSON_Delete(pr);
			goto nomem;
		}
	} else {
		/* the other fields: batch_add() copies them from text;
		 * attachments: only the objects uploaded again */
		any = any && r->o->with_attachments;
	}
	if (any) {
		rc = upload_all(k, rec);
		if (rc)
			goto out;
	}
	for (i = 0; any && i < k->acols.n; i++) {
		if (!bfs_strv_has(&k->keep, k->acols.v[i]) ||
		    !cJSON_GetArraySize(k->arrays[i]))
			continue;
		if (!cJSON_AddItemToObject(out, k->acols.v[i], k->arrays[i]))
			goto nomem;
		k->arrays[i] = NULL;
		set++;
	}
	if (r->o->mode == BFS_NCR_ATTACHMENTS && !set)
		goto out; /* no file of the record was in the backup */
	rc = batch_add(k, text, n, out);
	if (rc == -EPROTO)
		goto malformed;
	else if (rc)
		goto nomem;
	if (k->nbatch >= BATCH)
		rc = flush(k);
out:
	free(raw);
	cJSON_Delete(out);
	cJSON_Delete(rec);
	return rc;
malformed:
	rc = bfs_err_set(r->err, -EUCLEAN,
			 "base '%s', table '%s': line %" PRIu64
			 " of records.jsonl is malformed JSON",
			 r->btitle, r->ttitle, k->rowno);
	goto out;
nomem:
	rc = bfs_err_set(r->err, -ENOMEM, "out of memory");
	goto out;
}

/* records.jsonl's bytes: whole lines to record(). */
static int line_sink(void *arg, uint64_t off, const uint8_t *data, size_t n)
{
	struct recs *k = arg;
	const uint8_t *nl;
	int rc;

	(void)off;
	while (n) {
		nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;

		if (k->line.len + take > LINE_MAX_)
			return bfs_err_set(
			    k->r->err, -EUCLEAN,
			    "base '%s', table '%s': line %" PRIu64
			    " of records.jsonl is over %u MiB",
			    k->r->btitle, k->r->ttitle, k->rowno + 1,
			    LINE_MAX_ >> 20);
		if (bfs_buf_append(&k->line, data, take))
			return bfs_err_set(k->r->err, -ENOMEM, "out of memory");
		if (!nl)
			break;
		rc = record(k, (const char *)k->line.data, k->line.len);
		k->line.len = 0;
		if (rc)
			return rc;
		data += take + 1;
		n -= take + 1;
	}
	return 0;
}

/* The fields a record of the table may be given in NocoDB (titles of
 * its writable columns; attachments only when they are uploaded), and
 * NocoDB's primary key. */
static int target_fields(struct recs *k, const cJSON *nschema)
{
	const cJSON *c;
	bool atts =
	    k->r->o->with_attachments || k->r->o->mode == BFS_NCR_ATTACHMENTS;

	cJSON_ArrayForEach(c,
			   cJSON_GetObjectItemCaseSensitive(nschema, "columns"))
	{
		const char *t = str_of(c, "title"), *u = str_of(c, "uidt");

		if (t && !k->npk &&
		    bfs_nocodb_truthy(
			cJSON_GetObjectItemCaseSensitive(c, "pk")))
			k->npk = t;
		if (!ncr_col_writable(c) ||
		    (!atts && u && !strcmp(u, "Attachment")))
			continue;
		if (bfs_strv_add(&k->keep, t))
			return -ENOMEM;
	}
	bfs_strv_sort(&k->keep);
	return 0;
}

static int records_table(struct ncr *r, const char *tid, const cJSON *schema)
{
	struct recs k = {.r = r, .tid = tid};
	struct bfs_cat_entry ce, ad;
	cJSON *nschema = NULL;
	const cJSON *c;
	char what[512];
	struct bfs_buf left = {0};
	size_t i;
	int rc;

	memset(&ce, 0, sizeof(ce));
	memset(&ad, 0, sizeof(ad));
	snprintf(what, sizeof(what), "base '%s', table '%s', schema in NocoDB",
		 r->btitle, r->ttitle);
	rc = get_json(r, what, &nschema, "/api/v2/meta/tables/%s", tid);
	if (rc)
		goto out;
	rc = bfs_nocodb_columns(schema, &k.pk, &k.acols);
	if (!rc)
		rc = target_fields(&k, nschema);
	if (rc) {
		rc = bfs_err_set(r->err, rc, "out of memory");
		goto out;
	}
	if (r->o->mode == BFS_NCR_ATTACHMENTS && (!k.pk || !k.npk)) {
		rc = bfs_err_set(r->err, -ENOENT,
				 "base '%s', table '%s': no primary key to "
				 "match records by",
				 r->btitle, r->ttitle);
		goto out;
	}
	/* the backup's stored fields that NocoDB's table will not get */
	cJSON_ArrayForEach(c,
			   cJSON_GetObjectItemCaseSensitive(schema, "columns"))
	{
		const char *t = str_of(c, "title"), *u = str_of(c, "uidt");
		bool att = u && !strcmp(u, "Attachment");

		if (!t || !ncr_col_writable(c) || bfs_strv_has(&k.keep, t) ||
		    (att && r->o->mode == BFS_NCR_RECORDS &&
		     !r->o->with_attachments))
			continue;
		if (bfs_buf_printf(&left, "%s'%s'", left.len ? ", " : "", t)) {
			rc = bfs_err_set(r->err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	k.arrays = calloc(k.acols.n + 1, sizeof(*k.arrays));
	if (!k.arrays) {
		rc = bfs_err_set(r->err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = bfs_catalog_lookup(r->cat, r->tdir, "records.jsonl", 13, &ce,
				r->err);
	if (rc == -ENOENT)
		rc = bfs_err_set(r->err, rc,
				 "base '%s', table '%s': no records.jsonl in "
				 "the backup",
				 r->btitle, r->ttitle);
	if (rc)
		goto out;
	if (!bfs_catalog_lookup(r->cat, r->tdir, "attachments", 11, &ad, NULL))
		k.aroot = ad.id;
	say(r,
	    "%s %s of base '%s', table '%s' (records.jsonl, %" PRIu64
	    " bytes)%s%s%s",
	    r->o->plan ? "restore" : "restoring",
	    r->o->mode == BFS_NCR_RECORDS
		? (r->o->with_attachments ? "records and attachments"
					  : "records")
		: "the attachments of existing records",
	    r->btitle, r->ttitle, ce.e.size,
	    left.len ? "; not in NocoDB's table, left out: " : "",
	    left.len ? (const char *)left.data : "", "");
	r->st->tables++;
	if (r->o->plan)
		goto out;
	rc = bfs_restore_cat_cb(r->repo, r->cat, ce.id, line_sink, &k, r->err);
	if (!rc && k.line.len)
		rc = bfs_err_set(r->err, -EUCLEAN,
				 "base '%s', table '%s': records.jsonl does "
				 "not end with a newline",
				 r->btitle, r->ttitle);
	if (!rc)
		rc = flush(&k);
	if (!rc && k.missing)
		say(r,
		    "base '%s', table '%s': %" PRIu64
		    " records with attachments are not in NocoDB, left out",
		    r->btitle, r->ttitle, k.missing);
out:
	for (i = 0; k.arrays && i < k.acols.n; i++)
		cJSON_Delete(k.arrays[i]);
	free(k.arrays);
	bfs_buf_free(&k.batch);
	bfs_buf_free(&k.line);
	bfs_buf_free(&left);
	bfs_strv_free(&k.keep);
	bfs_strv_free(&k.acols);
	bfs_cat_entry_clear(&k.adir);
	bfs_cat_entry_clear(&ce);
	bfs_cat_entry_clear(&ad);
	cJSON_Delete(nschema);
	return rc;
}

/* ---- the walk ---------------------------------------------------------- */

static int one_table(struct ncr *r, const char *bid, const cJSON *ntables,
		     const struct bfs_cat_entry *te, const char *bname)
{
	cJSON *schema = NULL;
	const cJSON *nt;
	char what[512];
	int rc;

	snprintf(what, sizeof(what), "base '%s', table directory '%s'",
		 r->btitle, te->e.path);
	rc = read_json(r, te->id, what, "schema.json", &schema);
	if (rc)
		return rc;
	r->ttitle = str_of(schema, "title");
	if (!r->ttitle) {
		rc = bfs_err_set(r->err, -EUCLEAN,
				 "%s: schema.json has no title", what);
		goto out;
	}
	if (!wanted(r->o->table, r->ttitle, te->e.path))
		goto out;
	r->tdir = te->id;
	if (r->o->mode == BFS_NCR_SCHEMA) {
		rc = schema_table(r, bid, ntables, schema);
		goto out;
	}
	nt = ntables ? by_title(ntables, r->ttitle) : NULL;
	if (!nt) {
		rc = bfs_err_set(r->err, -ENOENT,
				 "base '%s', table '%s': not in NocoDB at %s "
				 "(backupfs nocodb restore-schema makes it)",
				 r->btitle, r->ttitle, nc_http_shown(r->h));
		goto out;
	}
	rc = records_table(r, str_of(nt, "id"), schema);
out:
	(void)bname;
	r->ttitle = NULL;
	cJSON_Delete(schema);
	return rc;
}

static int one_base(struct ncr *r, const struct bfs_cat_entry *be)
{
	struct bfs_cat_entry *kids = NULL;
	cJSON *meta = NULL, *ntables = NULL, *made = NULL;
	const cJSON *nb;
	const char *bid = NULL;
	char what[512];
	size_t n = 0, i;
	int rc;

	snprintf(what, sizeof(what), "base directory '%s'", be->e.path);
	rc = read_json(r, be->id, what, "metadata.json", &meta);
	if (rc)
		return rc;
	r->btitle = str_of(meta, "title");
	if (!r->btitle) {
		rc = bfs_err_set(r->err, -EUCLEAN,
				 "%s: metadata.json has no title", what);
		goto out;
	}
	if (!wanted(r->o->base, r->btitle, be->e.path))
		goto out;
	snprintf(what, sizeof(what), "base '%s'", r->btitle);
	nb = by_title(r->nbases, r->btitle);
	if (nb) {
		bid = str_of(nb, "id");
		snprintf(what, sizeof(what), "base '%s', its tables in NocoDB",
			 r->btitle);
		rc = get_json(r, what, &ntables, "/api/v2/meta/bases/%s/tables",
			      bid);
		if (rc)
			goto out;
	} else if (r->o->mode != BFS_NCR_SCHEMA) {
		rc = bfs_err_set(r->err, -ENOENT,
				 "base '%s': not in NocoDB at %s (backupfs "
				 "nocodb restore-schema makes it)",
				 r->btitle, nc_http_shown(r->h));
		goto out;
	} else {
		if (r->o->plan)
			say(r, "create base '%s'", r->btitle);
		r->st->bases++;
		if (!r->o->plan) {
			cJSON *body = cJSON_CreateObject();
			char *text;

			if (!body ||
			    !cJSON_AddStringToObject(body, "title", r->btitle))
				text = NULL;
			else
				text = cJSON_PrintUnformatted(body);
			cJSON_Delete(body);
			if (!text) {
				rc = bfs_err_set(r->err, -ENOMEM,
						 "out of memory");
				goto out;
			}
			rc = nc_send_json(r->h, "POST", "/api/v2/meta/bases",
					  text, &made, what, r->err);
			cJSON_free(text);
			if (rc)
				goto out;
			bid = str_of(made, "id");
			if (!id_ok(bid)) {
				rc = bfs_err_set(r->err, -EPROTO,
						 "%s: NocoDB's answer has no "
						 "base id",
						 what);
				goto out;
			}
			say(r, "created base '%s'", r->btitle);
		}
	}
	rc = bfs_tree_children(r->cat, be->id, &kids, &n, r->err);
	for (i = 0; !rc && i < n; i++)
		if (kids[i].e.type == BFS_T_DIR)
			rc = one_table(r, bid, ntables, &kids[i], be->e.path);
out:
	r->btitle = NULL;
	bfs_tree_children_free(kids, n);
	cJSON_Delete(made);
	cJSON_Delete(ntables);
	cJSON_Delete(meta);
	return rc;
}

int bfs_nocodb_restore(struct bfs_repo *repo, struct bfs_catalog *cat,
		       int64_t root, struct nc_http *h,
		       const struct bfs_ncr_opts *o, struct bfs_ncr_stats *st,
		       struct bfs_err *err)
{
	struct ncr r = {repo, cat, h, o, st, err, NULL, NULL, 0, NULL};
	struct bfs_cat_entry dir, *kids = NULL;
	const char *from = o->from ? o->from : "bases";
	size_t n = 0, i;
	int rc;

	memset(st, 0, sizeof(*st));
	memset(&dir, 0, sizeof(dir));
	rc = bfs_catalog_lookup_path(cat, root, from, &dir, err);
	if (rc == -ENOENT || (!rc && dir.e.type != BFS_T_DIR)) {
		rc = bfs_err_set(err, -ENOENT,
				 "no directory '%s' in the backup (a NocoDB "
				 "export: backup --nocodb)",
				 from);
		goto out;
	}
	if (rc)
		goto out;
	rc = nc_get_json(h, "/api/v2/meta/bases", &r.nbases, "list of bases",
			 err);
	if (rc)
		goto out;
	rc = bfs_tree_children(cat, dir.id, &kids, &n, err);
	for (i = 0; !rc && i < n; i++)
		if (kids[i].e.type == BFS_T_DIR)
			rc = one_base(&r, &kids[i]);
	if (!rc && !st->tables && !st->skipped && (o->base || o->table))
		rc = bfs_err_set(
		    err, -ENOENT, "no table in the backup matches%s%s%s%s",
		    o->base ? " --base " : "", o->base ? o->base : "",
		    o->table ? " --table " : "", o->table ? o->table : "");
out:
	bfs_tree_children_free(kids, n);
	bfs_cat_entry_clear(&dir);
	cJSON_Delete(r.nbases);
	return rc;
}
