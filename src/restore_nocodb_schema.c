/* restore_nocodb_schema.c - what restore-schema and restore-records
 * take of a table's schema.json (restore_nocodb.h): which columns NocoDB
 * makes or computes, and the create payload of a table.  Pure functions
 * over hostile JSON: no I/O.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <cJSON.h>

#include "restore_nocodb.h"
#include "restore_nocodb_int.h"

bool bfs_ncr_virtual(const char *u)
{
	static const char *const v[] = {"LinkToAnotherRecord",
					"Links",
					"Lookup",
					"Rollup",
					"Formula",
					"QrCode",
					"Barcode",
					"Count",
					"Button",
					"ForeignKey",
					"CreatedTime",
					"LastModifiedTime",
					"CreatedBy",
					"LastModifiedBy"};
	size_t i;

	for (i = 0; u && i < BFS_ARRAY_SIZE(v); i++)
		if (!strcmp(u, v[i]))
			return true;
	return false;
}

bool ncr_col_system(const cJSON *c)
{
	const char *u = str_of(c, "uidt");

	return bfs_nocodb_truthy(
		   cJSON_GetObjectItemCaseSensitive(c, "system")) ||
	       bfs_nocodb_truthy(cJSON_GetObjectItemCaseSensitive(c, "pk")) ||
	       (u && (!strcmp(u, "ID") || !strcmp(u, "Order")));
}

bool ncr_col_writable(const cJSON *c)
{
	return str_of(c, "title") && !ncr_col_system(c) &&
	       !bfs_ncr_virtual(str_of(c, "uidt"));
}

/* meta without NocoDB's per-view keys (defaultViewColOrder, ...). */
static cJSON *meta_copy(const cJSON *m)
{
	cJSON *parsed = NULL, *out, *e;

	if (cJSON_IsString(m))
		m = parsed = cJSON_Parse(m->valuestring);
	if (!cJSON_IsObject(m)) {
		cJSON_Delete(parsed);
		return NULL;
	}
	out = cJSON_Duplicate(m, true);
	cJSON_Delete(parsed);
	for (e = out ? out->child : NULL; e;) {
		cJSON *next = e->next;

		if (e->string && !strncmp(e->string, "defaultView", 11))
			cJSON_Delete(cJSON_DetachItemViaPointer(out, e));
		e = next;
	}
	return out;
}

/* The create payload of one physical column: what defines it, not what
 * NocoDB derives (ids, dt, which depends on the server's database). */
static cJSON *column_payload(const cJSON *c)
{
	static const char *const keys[] = {
	    "column_name", "title", "uidt", "rqd", "cdf", "description"};
	cJSON *o = cJSON_CreateObject(), *m, *opts;
	const cJSON *co, *e;
	size_t i;

	if (!o)
		return NULL;
	for (i = 0; i < BFS_ARRAY_SIZE(keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, keys[i]);

		if (v && !cJSON_IsNull(v) &&
		    !cJSON_AddItemToObject(o, keys[i],
					   cJSON_Duplicate(v, true)))
			goto nomem;
	}
	m = meta_copy(cJSON_GetObjectItemCaseSensitive(c, "meta"));
	if (m && !cJSON_AddItemToObject(o, "meta", m))
		goto nomem;
	co = cJSON_GetObjectItemCaseSensitive(c, "colOptions");
	co = cJSON_GetObjectItemCaseSensitive(co, "options");
	if (cJSON_IsArray(co)) {
		cJSON *w = cJSON_AddObjectToObject(o, "colOptions");

		opts = w ? cJSON_AddArrayToObject(w, "options") : NULL;
		if (!opts)
			goto nomem;
		cJSON_ArrayForEach(e, co)
		{
			static const char *const ok[] = {"title", "color",
							 "order"};
			cJSON *x = cJSON_CreateObject();

			if (!x || !cJSON_AddItemToArray(opts, x))
				goto nomem;
			for (i = 0; i < BFS_ARRAY_SIZE(ok); i++) {
				const cJSON *v =
				    cJSON_GetObjectItemCaseSensitive(e, ok[i]);

				if (v && !cJSON_IsNull(v) &&
				    !cJSON_AddItemToObject(
					x, ok[i], cJSON_Duplicate(v, true)))
					goto nomem;
			}
		}
	}
	return o;
nomem:
	cJSON_Delete(o);
	return NULL;
}

int bfs_ncr_table_payload(const cJSON *schema, cJSON **out,
			  void (*manual)(void *arg, const char *title,
					 const char *uidt),
			  void *arg, unsigned *ncols)
{
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(schema, "columns");
	const char *title = str_of(schema, "title");
	const char *tname = str_of(schema, "table_name");
	cJSON *body, *arr;
	const cJSON *c;

	*out = NULL;
	*ncols = 0;
	if (!title)
		return -EUCLEAN;
	body = cJSON_CreateObject();
	arr = body ? cJSON_AddArrayToObject(body, "columns") : NULL;
	if (!arr || !cJSON_AddStringToObject(body, "title", title) ||
	    (tname && !cJSON_AddStringToObject(body, "table_name", tname)))
		goto nomem;
	cJSON_ArrayForEach(c, cols)
	{
		const char *t = str_of(c, "title"), *u = str_of(c, "uidt");
		cJSON *p;

		if (!t || !u || ncr_col_system(c))
			continue;
		if (bfs_ncr_virtual(u)) {
			if (manual)
				manual(arg, t, u);
			continue;
		}
		p = column_payload(c);
		if (!p || !cJSON_AddItemToArray(arr, p))
			goto nomem;
		(*ncols)++;
	}
	*out = body;
	return 0;
nomem:
	cJSON_Delete(body);
	return -ENOMEM;
}
