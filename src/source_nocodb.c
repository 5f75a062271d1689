/* source_nocodb.c - --nocodb [DEST=]URL: the NocoDB REST API (v2) export
 * into DEST (default "bases"):
 *
 *   bases/<base>/metadata.json                       GET meta/bases/{id}
 *   bases/<base>/<table>/schema.json                 GET meta/tables/{id}
 *                                                    + "views"
 *   bases/<base>/<table>/records.jsonl               one record a line
 *   bases/<base>/<table>/attachments/<record id>/<file name>
 *
 * Titles become names as source_nocodb_name.c says.  Records are read a
 * page (1000) at a time and written line by line: one page is in memory,
 * never a table.  The attachments found in a table's records are listed
 * (URL, size, path: some 200 bytes each) while records.jsonl streams and
 * downloaded after it, each streamed into the backup, its size checked
 * against the record.  An attachment NocoDB no longer has (4xx) or whose
 * size differs is recorded unreadable (partial backup); a server that
 * fails (down, 5xx after 3 tries, refused token) fails the source.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "source_int.h"
#include "source_nocodb.h"

#define NURLS 4

struct att {
	char *path;	  /* in the backup */
	char *url[NURLS]; /* candidates, best first */
	int64_t size;	  /* from the record; -1: not given */
};

struct nc_run {
	struct bfs_backup *b;
	struct nc_http *h;
	const struct bfs_nocodb_opts *o;
	struct bfs_err *err;
	const char *bname, *tname; /* encoded, for messages and paths */
	const char *btitle;	   /* the base's title */
	cJSON *tables; /* [{base, table, path, records, attachments, bytes}] */
	uint64_t nrec, natt, bytes; /* of the table being exported */
	unsigned mode;		    /* of every file (bfs_source.dump_mode) */
	char *dir;		    /* DEST/<base>/<table> */
	struct att *atts;
	size_t natts, cap;
	/* an attachment being streamed */
	bool started;
	uint64_t got;
	struct bfs_entry e;
};

static void atts_clear(struct nc_run *r)
{
	size_t i, k;

	for (i = 0; i < r->natts; i++) {
		free(r->atts[i].path);
		for (k = 0; k < NURLS; k++)
			free(r->atts[i].url[k]);
	}
	r->natts = 0;
}

/* An id NocoDB gave us, checked before it goes into a URL. */
static bool id_ok(const cJSON *v)
{
	const char *s = cJSON_GetStringValue(v);

	return s && *s && strlen(s) < 128 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_-") == strlen(s);
}

static const char *title_of(const cJSON *o)
{
	const char *t =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "title"));

	return t ? t : "";
}

/* One whole small file at path. */
static int put_file(struct nc_run *r, char *path, const char *data, size_t n)
{
	struct bfs_entry e;
	int rc;

	src_dump_entry(r->b, &e, path, r->mode);
	rc = bfs_backup_file_begin(r->b, &e, BFS_PROFILE_DUMP, r->err);
	if (!rc)
		rc = bfs_backup_file_write(r->b, data, n, r->err);
	if (!rc)
		return bfs_backup_file_end(r->b, r->err);
	bfs_backup_file_cancel(r->b);
	return rc;
}

static int put_json(struct nc_run *r, char *path, const cJSON *v)
{
	char *s = cJSON_Print(v);
	int rc;

	if (!s)
		return bfs_err_set(r->err, -ENOMEM, "out of memory");
	rc = put_file(r, path, s, strlen(s));
	cJSON_free(s);
	return rc;
}

static const cJSON *list_of(const cJSON *o)
{
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "list");

	return cJSON_IsArray(l) ? l : NULL;
}

/* ---- attachments ------------------------------------------------------- */

/* base + "/" + rel, bytes a URL may not hold as they are escaped. */
static char *url_join(const char *base, const char *rel)
{
	struct bfs_buf u = {0};
	const unsigned char *p;

	while (*rel == '/')
		rel++;
	if (bfs_buf_printf(&u, "%s/", base))
		goto nomem;
	for (p = (const unsigned char *)rel; *p; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '#' || *p == '"') {
			if (bfs_buf_printf(&u, "%%%02X", *p))
				goto nomem;
		} else if (bfs_buf_append(&u, p, 1)) {
			goto nomem;
		}
	}
	if (bfs_buf_append(&u, "", 1))
		goto nomem;
	return (char *)u.data;
nomem:
	bfs_buf_free(&u);
	return NULL;
}

/* The download URLs of one attachment object, best first: local storage
 * (path, signedPath, relative to NocoDB), then S3 and the like
 * (signedUrl, url; http(s) only).  0 / -ENOMEM; none found leaves
 * a->url[0] NULL. */
static int att_urls(struct nc_run *r, const cJSON *o, struct att *a)
{
	static const char *const rel[] = {"path", "signedPath"};
	static const char *const abs_[] = {"signedUrl", "url"};
	size_t k = 0, i;

	for (i = 0; i < 2; i++) {
		const char *v = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(o, rel[i]));

		if (!v || !*v || strstr(v, "://"))
			continue;
		a->url[k] = url_join(nc_http_base(r->h), v);
		if (!a->url[k++])
			return -ENOMEM;
	}
	for (i = 0; i < 2; i++) {
		const char *v = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(o, abs_[i]));

		if (!v ||
		    (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)))
			continue;
		a->url[k] = url_join("", v); /* escapes only */
		if (!a->url[k])
			return -ENOMEM;
		/* url_join put a '/' in front */
		memmove(a->url[k], a->url[k] + 1, strlen(a->url[k]));
		k++;
	}
	return 0;
}

struct collect {
	struct nc_run *r;
	const char *idname;
};

/* One attachment of a record: listed with its path. */
static int collect_one(void *arg, size_t col, const cJSON *o, const char *fname)
{
	struct collect *k = arg;
	struct nc_run *r = k->r;
	const cJSON *sz;
	struct att *a;

	(void)col;
	if (r->natts == r->cap) {
		size_t ncap = r->cap ? 2 * r->cap : 64;
		struct att *n = realloc(r->atts, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->atts = n;
		r->cap = ncap;
	}
	a = &r->atts[r->natts];
	memset(a, 0, sizeof(*a));
	r->natts++;
	sz = cJSON_GetObjectItemCaseSensitive(o, "size");
	a->size = cJSON_IsNumber(sz) && sz->valuedouble >= 0
		      ? (int64_t)sz->valuedouble
		      : -1;
	if (asprintf(&a->path, "%s/attachments/%s/%s", r->dir, k->idname,
		     fname) < 0) {
		a->path = NULL;
		return -ENOMEM;
	}
	return att_urls(r, o, a);
}

/* The attachments of one record, listed with their paths
 * DIR/attachments/<record id>/<file name> (source_nocodb_name.c). */
static int collect(struct nc_run *r, const cJSON *rec, const char *pk,
		   const struct bfs_strv *cols, uint64_t rowno)
{
	struct collect k = {r, NULL};
	char *idname = NULL;
	int rc;

	rc = bfs_nocodb_record_name(rec, pk, rowno, &idname);
	k.idname = idname;
	if (!rc)
		rc = bfs_nocodb_attachments(rec, cols, collect_one, &k);
	free(idname);
	return rc ? bfs_err_set(r->err, rc, "out of memory") : 0;
}

static int att_sink(void *arg, const void *data, size_t n)
{
	struct nc_run *r = arg;
	int rc;

	if (!r->started) {
		rc = bfs_backup_file_begin(r->b, &r->e, BFS_PROFILE_DUMP,
					   r->err);
		if (rc)
			return rc;
		r->started = true;
	}
	r->got += n;
	return bfs_backup_file_write(r->b, data, n, r->err);
}

static void att_restart(void *arg)
{
	struct nc_run *r = arg;

	if (r->started)
		bfs_backup_file_cancel(r->b);
	r->started = false;
	r->got = 0;
}

static int unreadable(struct nc_run *r, struct att *a, const char *why)
{
	src_dump_entry(r->b, &r->e, a->path, r->mode);
	return bfs_backup_add_error(r->b, &r->e, why, r->err);
}

static int fetch_att(struct nc_run *r, struct att *a)
{
	char what[600], why[200];
	long status = 0;
	size_t k;
	int rc = -ENOENT;

	if (!a->url[0])
		return unreadable(r, a, "the record gives no URL to download");
	snprintf(what, sizeof(what), "base '%s', table '%s', attachment '%s'",
		 r->bname, r->tname, a->path);
	for (k = 0; k < NURLS && a->url[k]; k++) {
		src_dump_entry(r->b, &r->e, a->path, r->mode);
		r->started = false;
		r->got = 0;
		rc = nc_get_stream(r->h, a->url[k], att_sink, att_restart, r,
				   &status, what, r->err);
		if (rc != -ENOENT)
			break;
		att_restart(r); /* a 4xx: try the next URL */
	}
	if (rc == -ENOENT) {
		/* who gave the last answer (url[k - 1]): NocoDB, or the
		 * storage a signed URL points to (not named: its address
		 * may hold the signature) */
		snprintf(why, sizeof(why), "%s answered HTTP %ld",
			 nc_url_ours(r->h, a->url[k - 1])
			     ? "NocoDB"
			     : "the attachment's storage",
			 status);
		return unreadable(r, a, why);
	}
	if (rc) {
		att_restart(r);
		return rc;
	}
	if (a->size >= 0 && r->got != (uint64_t)a->size) {
		snprintf(why, sizeof(why),
			 "downloaded %" PRIu64
			 " bytes, the record says %" PRId64,
			 r->got, a->size);
		att_restart(r);
		return unreadable(r, a, why);
	}
	r->natt++;
	r->bytes += r->got;
	if (!r->started) { /* an empty file */
		rc = bfs_backup_file_begin(r->b, &r->e, BFS_PROFILE_DUMP,
					   r->err);
		if (rc)
			return rc;
	}
	r->started = false;
	return bfs_backup_file_end(r->b, r->err);
}

/* ---- records ----------------------------------------------------------- */

static int records(struct nc_run *r, const char *tid, const cJSON *schema)
{
	struct bfs_strv acols = {0};
	struct bfs_entry e;
	const char *pk = NULL;
	char *sort = NULL, *path = NULL;
	char what[600], url[512];
	bool write = r->o->records, open = false, last = false;
	uint64_t offset = 0, rowno = 0;
	unsigned page;
	int rc;

	rc = bfs_nocodb_columns(schema, &pk, &acols);
	if (rc)
		goto nomem;
	if (!r->o->attachments)
		bfs_strv_free(&acols);
	if (!write && !acols.n)
		goto out;
	if (pk) {
		sort = curl_easy_escape(NULL, pk, 0);
		if (!sort)
			goto nomem;
	}
	if (write) {
		if (asprintf(&path, "%s/records.jsonl", r->dir) < 0) {
			path = NULL;
			goto nomem;
		}
		src_dump_entry(r->b, &e, path, r->mode);
		rc = bfs_backup_file_begin(r->b, &e, BFS_PROFILE_DUMP, r->err);
		if (rc)
			goto out;
		open = true;
	}
	for (page = 1; !last; page++) {
		const cJSON *list, *rec, *pi, *tot;
		struct bfs_buf raw = {0}, lines = {0};
		cJSON *j = NULL;
		size_t got = 0, nlines = 0;

		snprintf(what, sizeof(what),
			 "base '%s', table '%s', records page %u (offset "
			 "%" PRIu64 ")",
			 r->bname, r->tname, page, offset);
		snprintf(url, sizeof(url),
			 "/api/v2/tables/%s/records?limit=%u&offset=%" PRIu64
			 "%s%s",
			 tid, BFS_NOCODB_PAGE, offset, sort ? "&sort=" : "",
			 sort ? sort : "");
		rc = nc_get_json_raw(r->h, url, &j, write ? &raw : NULL, what,
				     r->err);
		if (rc)
			goto out;
		list = list_of(j);
		if (!list) {
			cJSON_Delete(j);
			bfs_buf_free(&raw);
			rc =
			    bfs_err_set(r->err, -EPROTO,
					"%s: the answer has no \"list\"", what);
			goto out;
		}
		cJSON_ArrayForEach(rec, list)
		{
			if (!cJSON_IsObject(rec))
				continue;
			got++;
			rowno++;
			r->nrec++;
			if (acols.n)
				rc = collect(r, rec, pk, &acols, rowno);
			if (rc)
				break;
		}
		/* the records as NocoDB wrote them, not as cJSON would
		 * print them (it rounds integers above 2^53) */
		if (!rc && write) {
			rc = bfs_nocodb_records_lines((const char *)raw.data,
						      raw.len, &lines, &nlines);
			if (rc == -EPROTO || (!rc && nlines != got))
				rc = bfs_err_set(r->err, -EPROTO,
						 "%s: cannot read the records "
						 "of the answer",
						 what);
			if (!rc)
				rc = bfs_backup_file_write(r->b, lines.data,
							   lines.len, r->err);
			if (!rc)
				r->bytes += lines.len;
		}
		bfs_buf_free(&raw);
		bfs_buf_free(&lines);
		pi = cJSON_GetObjectItemCaseSensitive(j, "pageInfo");
		tot = cJSON_GetObjectItemCaseSensitive(pi, "totalRows");
		last = bfs_nocodb_page_last(
		    offset, (size_t)cJSON_GetArraySize(list), BFS_NOCODB_PAGE,
		    cJSON_IsNumber(tot) ? (int64_t)tot->valuedouble : -1);
		offset += (uint64_t)cJSON_GetArraySize(list);
		(void)got;
		cJSON_Delete(j);
		if (rc == -ENOMEM)
			goto nomem;
		if (rc)
			goto out;
	}
	if (open) {
		open = false;
		rc = bfs_backup_file_end(r->b, r->err);
	}
	goto out;
nomem:
	rc = bfs_err_set(r->err, -ENOMEM, "out of memory");
out:
	if (open)
		bfs_backup_file_cancel(r->b);
	curl_free(sort);
	free(path);
	bfs_strv_free(&acols);
	return rc;
}

/* ---- bases and tables -------------------------------------------------- */

/* The figures of the table just exported, for `show`. */
static int add_figures(struct nc_run *r, const char *title)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddItemToArray(r->tables, o) ||
	    !cJSON_AddStringToObject(o, "base", r->btitle) ||
	    !cJSON_AddStringToObject(o, "table", title) ||
	    !cJSON_AddStringToObject(o, "path", r->dir) ||
	    !cJSON_AddNumberToObject(o, "records", (double)r->nrec) ||
	    !cJSON_AddNumberToObject(o, "attachments", (double)r->natt) ||
	    !cJSON_AddNumberToObject(o, "bytes", (double)r->bytes))
		return bfs_err_set(r->err, -ENOMEM, "out of memory");
	return 0;
}

static int table(struct nc_run *r, const char *bdir, const cJSON *t,
		 struct bfs_nocodb_names *names)
{
	const cJSON *tid = cJSON_GetObjectItemCaseSensitive(t, "id");
	cJSON *schema = NULL, *views = NULL, *vl;
	char *tname = NULL, *path = NULL, url[256], what[600];
	size_t i;
	int rc;

	if (bfs_nocodb_names_take(names, title_of(t), &tname) ||
	    asprintf(&r->dir, "%s/%s", bdir, tname) < 0) {
		r->dir = NULL;
		rc = bfs_err_set(r->err, -ENOMEM, "out of memory");
		goto out;
	}
	r->tname = tname;
	r->nrec = r->natt = r->bytes = 0;
	if (!id_ok(tid)) {
		rc = bfs_err_set(r->err, -EPROTO,
				 "base '%s', table '%s': NocoDB gave no "
				 "valid table id",
				 r->bname, tname);
		goto out;
	}
	snprintf(what, sizeof(what), "base '%s', table '%s', schema", r->bname,
		 tname);
	snprintf(url, sizeof(url), "/api/v2/meta/tables/%s", tid->valuestring);
	rc = nc_get_json(r->h, url, &schema, what, r->err);
	if (rc)
		goto out;
	snprintf(what, sizeof(what), "base '%s', table '%s', views", r->bname,
		 tname);
	snprintf(url, sizeof(url), "/api/v2/meta/tables/%s/views",
		 tid->valuestring);
	rc = nc_get_json(r->h, url, &views, what, r->err);
	if (rc)
		goto out;
	vl = cJSON_DetachItemFromObjectCaseSensitive(views, "list");
	if (vl && !cJSON_GetObjectItemCaseSensitive(schema, "views"))
		cJSON_AddItemToObject(schema, "views", vl);
	else
		cJSON_Delete(vl);
	if (asprintf(&path, "%s/schema.json", r->dir) < 0) {
		path = NULL;
		rc = bfs_err_set(r->err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = put_json(r, path, schema);
	if (!rc)
		rc = records(r, tid->valuestring, schema);
	for (i = 0; !rc && i < r->natts; i++)
		rc = fetch_att(r, &r->atts[i]);
	if (!rc)
		rc = add_figures(r, title_of(t));
out:
	atts_clear(r);
	cJSON_Delete(schema);
	cJSON_Delete(views);
	free(path);
	free(r->dir);
	r->dir = NULL;
	r->tname = NULL;
	free(tname);
	return rc;
}

static int base(struct nc_run *r, const char *dest, const cJSON *bo,
		const char *bname)
{
	struct bfs_nocodb_names names = {0};
	const cJSON *bid = cJSON_GetObjectItemCaseSensitive(bo, "id"), *t;
	cJSON *meta = NULL, *tables = NULL;
	char *bdir = NULL, *path = NULL, url[256], what[600];
	int rc;

	r->bname = bname;
	r->btitle = title_of(bo);
	if (!id_ok(bid))
		return bfs_err_set(r->err, -EPROTO,
				   "base '%s': NocoDB gave no valid base id",
				   bname);
	snprintf(what, sizeof(what), "base '%s', metadata", bname);
	snprintf(url, sizeof(url), "/api/v2/meta/bases/%s", bid->valuestring);
	rc = nc_get_json(r->h, url, &meta, what, r->err);
	if (rc)
		goto out;
	if (asprintf(&bdir, "%s/%s", dest, bname) < 0)
		bdir = NULL;
	if (!bdir || asprintf(&path, "%s/metadata.json", bdir) < 0)
		path = NULL;
	if (!path || bfs_nocodb_names_reserve(&names, "metadata.json")) {
		rc = bfs_err_set(r->err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = put_json(r, path, meta);
	if (rc)
		goto out;
	snprintf(what, sizeof(what), "base '%s', list of tables", bname);
	snprintf(url, sizeof(url), "/api/v2/meta/bases/%s/tables",
		 bid->valuestring);
	rc = nc_get_json(r->h, url, &tables, what, r->err);
	if (rc)
		goto out;
	if (!list_of(tables)) {
		rc = bfs_err_set(r->err, -EPROTO, "%s: no \"list\"", what);
		goto out;
	}
	cJSON_ArrayForEach(t, list_of(tables))
	{
		if (!cJSON_IsObject(t))
			continue;
		rc = table(r, bdir, t, &names);
		if (rc)
			break;
	}
out:
	bfs_nocodb_names_free(&names);
	cJSON_Delete(meta);
	cJSON_Delete(tables);
	free(bdir);
	free(path);
	return rc;
}

static bool wanted(const struct bfs_nocodb_opts *o, const char *title)
{
	size_t i;

	if (!o->bases || !o->bases[0])
		return true;
	for (i = 0; o->bases[i]; i++)
		if (!strcmp(o->bases[i], title))
			return true;
	return false;
}

static int nocodb_dest(const struct bfs_source *s, char **dest,
		       struct bfs_err *err)
{
	const char *url;
	int rc = bfs_source_split(s->arg, "bases", dest, &url, err);

	if (rc)
		return rc;
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
		free(*dest);
		*dest = NULL;
		return bfs_err_set(err, -EINVAL,
				   "--nocodb needs an http:// or https:// URL, "
				   "got '%s'",
				   url);
	}
	return 0;
}

static int run_nocodb(struct bfs_backup *b, const struct bfs_source *s,
		      struct bfs_err *err)
{
	static const struct bfs_nocodb_opts deflt = {NULL, true, true, NULL};
	struct nc_run r = {.b = b, .err = err};
	struct bfs_nocodb_names names = {0};
	cJSON *bases = NULL;
	const cJSON *bo;
	const char *url, *token;
	char *dest = NULL, *bname = NULL, *figures;
	size_t i;
	int rc;

	r.o = s->nocodb ? s->nocodb : &deflt;
	r.mode = s->dump_mode;
	rc = bfs_source_split(s->arg, "bases", &dest, &url, err);
	if (rc)
		return rc;
	token = r.o->token ? r.o->token : getenv("NOCODB_API_TOKEN");
	if (!token || !*token) {
		rc = bfs_err_set(err, -EINVAL,
				 "no NocoDB API token: set NOCODB_API_TOKEN "
				 "or give --nocodb-token-file");
		goto out;
	}
	r.tables = cJSON_CreateArray();
	if (!r.tables) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* recorded without the password of a URL's userinfo (the manifest
	 * keeps it in clear in a plain repository) */
	rc = nc_http_new(url, token, &r.h, err);
	if (!rc)
		rc = src_add(b, "nocodb", dest, nc_http_shown(r.h), err);
	if (!rc)
		rc = nc_get_json(r.h, "/api/v2/meta/bases", &bases,
				 "list of bases", err);
	if (rc)
		goto out;
	if (!list_of(bases)) {
		rc = bfs_err_set(err, -EPROTO,
				 "list of bases: NocoDB's answer has no "
				 "\"list\"");
		goto out;
	}
	for (i = 0; r.o->bases && r.o->bases[i]; i++) {
		cJSON_ArrayForEach(
		    bo, list_of(bases)) if (!strcmp(title_of(bo),
						    r.o->bases[i])) break;
		if (!bo) {
			rc = bfs_err_set(err, -ENOENT,
					 "--nocodb-base '%s': NocoDB at %s has "
					 "no base with that title",
					 r.o->bases[i], nc_http_shown(r.h));
			goto out;
		}
	}
	cJSON_ArrayForEach(bo, list_of(bases))
	{
		if (!cJSON_IsObject(bo))
			continue;
		/* names are given to all, so that one base keeps its name
		 * whether or not --nocodb-base picks others */
		free(bname);
		bname = NULL;
		if (bfs_nocodb_names_take(&names, title_of(bo), &bname)) {
			rc = bfs_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		if (!wanted(r.o, title_of(bo)))
			continue;
		rc = base(&r, dest, bo, bname);
		if (rc)
			goto out;
	}
	figures = cJSON_PrintUnformatted(r.tables);
	rc = figures ? bfs_backup_source_detail(b, "tables", figures, err)
		     : bfs_err_set(err, -ENOMEM, "out of memory");
	cJSON_free(figures);
out:
	cJSON_Delete(r.tables);
	free(bname);
	bfs_nocodb_names_free(&names);
	cJSON_Delete(bases);
	nc_http_free(r.h);
	free(r.atts);
	free(dest);
	return rc;
}

const struct bfs_source_type bfs_source_type_nocodb = {
    .kind = BFS_SRC_NOCODB,
    .name = "nocodb",
    .dest = nocodb_dest,
    .run = run_nocodb,
};
