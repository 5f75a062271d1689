/* fuzz-ncschema.c - libFuzzer target: the create payload that
 * `backupfs nocodb restore-schema` makes of a table's schema.json
 * (bfs_ncr_table_payload, src/restore_nocodb.c).  The input is a
 * schema.json.  Checked: an input without a string "title" is -EUCLEAN;
 * otherwise the payload has that title and a "columns" array of objects,
 * each with a string title and uidt, none of them virtual (those go to the
 * callback, which gets exactly the virtual ones), with only the keys the
 * restore copies, meta without per-view keys, and select options holding
 * only title/color/order.  Built by scripts/fuzz (target "ncschema");
 * replayed by tests/unit/test-fuzz-ncschema. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "src/restore_nocodb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void manual(void *arg, const char *title, const char *uidt)
{
	if (!title || !bfs_ncr_virtual(uidt))
		abort(); /* only virtual columns are to recreate by hand */
	(*(unsigned *)arg)++;
}

static bool allowed(const char *k, const char *const *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(k, keys[i]))
			return true;
	return false;
}

static void check_column(const cJSON *c)
{
	static const char *const keys[] = {
	    "column_name", "title",	  "uidt", "rqd",
	    "cdf",	   "description", "meta", "colOptions"};
	static const char *const okeys[] = {"title", "color", "order"};
	const cJSON *e, *o;

	if (!cJSON_IsObject(c) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "title")) ||
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "uidt")) ||
	    bfs_ncr_virtual(
		cJSON_GetObjectItemCaseSensitive(c, "uidt")->valuestring))
		abort();
	cJSON_ArrayForEach(e, c) if (!allowed(e->string, keys, 8)) abort();
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, "meta"))
	{
		if (!strncmp(e->string, "defaultView", 11))
			abort();
	}
	o = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(c, "colOptions"), "options");
	cJSON_ArrayForEach(e, o)
	{
		const cJSON *k;

		cJSON_ArrayForEach(k, e) if (!allowed(k->string, okeys, 3))
		    abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *j = cJSON_ParseWithLength((const char *)data, size), *out = NULL;
	const cJSON *t, *c, *cols;
	unsigned n = 0, nman = 0, got = 0;
	int rc;

	if (!j)
		return 0;
	t = cJSON_GetObjectItemCaseSensitive(j, "title");
	rc = bfs_ncr_table_payload(j, &out, manual, &nman, &n);
	if (!cJSON_IsString(t)) {
		if (rc != -EUCLEAN || out)
			abort();
		goto done;
	}
	if (rc == -ENOMEM)
		goto done;
	if (rc || !out ||
	    strcmp(cJSON_GetStringValue(
		       cJSON_GetObjectItemCaseSensitive(out, "title")),
		   t->valuestring))
		abort();
	cols = cJSON_GetObjectItemCaseSensitive(out, "columns");
	if (!cJSON_IsArray(cols))
		abort();
	cJSON_ArrayForEach(c, cols)
	{
		check_column(c);
		got++;
	}
	if (got != n)
		abort();
done:
	cJSON_Delete(out);
	cJSON_Delete(j);
	return 0;
}
