/* source_nocodb_name.c - NocoDB titles as path names (a reversible
 * percent-encoding with a clash suffix) and the page-stop rule of the
 * records export.  Pure functions: no I/O.  doc/NOCODB.md documents the
 * mapping.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "source_nocodb.h"

static bool must_escape(unsigned char c)
{
	return c < 0x20 || c == 0x7f || c == '/' || c == '%';
}

int bfs_nocodb_name_encode(const char *title, char **out)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t n = strlen(title), i, k = 0;
	char *s;

	*out = NULL;
	if (n == 0) {
		*out = strdup("%");
		return *out ? 0 : -ENOMEM;
	}
	if (!strcmp(title, ".") || !strcmp(title, "..")) {
		*out = strdup(n == 1 ? "%2E" : "%2E%2E");
		return *out ? 0 : -ENOMEM;
	}
	s = malloc(3 * n + 1);
	if (!s)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)title[i];

		if (must_escape(c)) {
			s[k++] = '%';
			s[k++] = hx[c >> 4];
			s[k++] = hx[c & 15];
		} else {
			s[k++] = (char)c;
		}
	}
	s[k] = '\0';
	*out = s;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bfs_nocodb_name_decode(const char *name, char **out)
{
	size_t n = strlen(name), i, k = 0;
	const char *p;
	char *s;

	*out = NULL;
	/* a clash suffix "%~N" (N >= 2, no leading zero) at the end */
	p = strstr(name, "%~");
	if (p) {
		const char *d = p + 2;

		if (*d < '1' || *d > '9' ||
		    strspn(d, "0123456789") != strlen(d) ||
		    (d[0] == '1' && !d[1]))
			return -EINVAL;
		n = (size_t)(p - name);
	}
	if (n == 1 && name[0] == '%') {
		*out = strdup("");
		return *out ? 0 : -ENOMEM;
	}
	if (n == 0)
		return -EINVAL;
	s = malloc(n + 1);
	if (!s)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		int hi, lo;

		if (name[i] != '%') {
			if (must_escape((unsigned char)name[i]))
				goto bad;
			s[k++] = name[i];
			continue;
		}
		if (i + 2 >= n)
			goto bad;
		hi = hexval(name[i + 1]);
		lo = hexval(name[i + 2]);
		if (hi < 0 || lo < 0)
			goto bad;
		s[k++] = (char)(hi << 4 | lo);
		i += 2;
	}
	s[k] = '\0';
	/* a title has no NUL */
	for (i = 0; i < k; i++)
		if (s[i] == '\0')
			goto bad;
	*out = s;
	return 0;
bad:
	free(s);
	return -EINVAL;
}

int bfs_nocodb_names_reserve(struct bfs_nocodb_names *n, const char *name)
{
	int rc = bfs_strv_add(&n->taken, name);

	if (!rc)
		bfs_strv_sort(&n->taken); /* bfs_strv_has bisects */
	return rc;
}

int bfs_nocodb_names_take(struct bfs_nocodb_names *n, const char *title,
			  char **out)
{
	char *enc = NULL, *cand = NULL;
	unsigned k;
	int rc;

	*out = NULL;
	rc = bfs_nocodb_name_encode(title, &enc);
	if (rc)
		return rc;
	if (!bfs_strv_has(&n->taken, enc)) {
		cand = enc;
		enc = NULL;
	}
	for (k = 2; !cand; k++) {
		if (asprintf(&cand, "%s%%~%u", enc, k) < 0) {
			free(enc);
			return -ENOMEM;
		}
		if (bfs_strv_has(&n->taken, cand)) {
			free(cand);
			cand = NULL;
		}
	}
	free(enc);
	rc = bfs_strv_add(&n->taken, cand);
	if (rc) {
		free(cand);
		return rc;
	}
	bfs_strv_sort(&n->taken);
	*out = cand;
	return 0;
}

void bfs_nocodb_names_free(struct bfs_nocodb_names *n)
{
	bfs_strv_free(&n->taken);
}

bool bfs_nocodb_page_last(uint64_t offset, size_t got, size_t limit,
			  int64_t total)
{
	if (got < limit)
		return true;
	return total >= 0 && offset + got >= (uint64_t)total;
}

/* ---- records: primary key, attachment columns, attachment names ------ */

bool bfs_nocodb_truthy(const cJSON *v)
{
	return cJSON_IsTrue(v) || (cJSON_IsNumber(v) && v->valuedouble != 0);
}

int bfs_nocodb_columns(const cJSON *schema, const char **pk,
		       struct bfs_strv *atts)
{
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(schema, "columns");
	const cJSON *c;

	*pk = NULL;
	cJSON_ArrayForEach(c, cols)
	{
		const char *t = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(c, "title"));
		const char *u = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(c, "uidt"));

		if (!t)
			continue;
		if (!*pk && bfs_nocodb_truthy(
				cJSON_GetObjectItemCaseSensitive(c, "pk")))
			*pk = t;
		if (u && !strcmp(u, "Attachment") && bfs_strv_add(atts, t))
			return -ENOMEM;
	}
	return 0;
}

int bfs_nocodb_record_name(const cJSON *rec, const char *pk, uint64_t rowno,
			   char **out)
{
	const cJSON *pv = pk ? cJSON_GetObjectItemCaseSensitive(rec, pk) : NULL;
	char idbuf[64];
	const char *id = idbuf;

	if (cJSON_IsString(pv) && *pv->valuestring)
		id = pv->valuestring;
	else if (cJSON_IsNumber(pv) && pv->valuedouble > -9e15 &&
		 pv->valuedouble < 9e15 &&
		 pv->valuedouble == (double)(long long)pv->valuedouble)
		snprintf(idbuf, sizeof(idbuf), "%.0f", pv->valuedouble);
	else
		snprintf(idbuf, sizeof(idbuf), "row-%" PRIu64, rowno);
	return bfs_nocodb_name_encode(id, out);
}

const cJSON *bfs_nocodb_att_array(const cJSON *rec, const char *col,
				  cJSON **parsed)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, col);

	*parsed = NULL;
	if (cJSON_IsString(v))
		v = *parsed = cJSON_Parse(v->valuestring);
	return cJSON_IsArray(v) ? v : NULL;
}

int bfs_nocodb_attachments(const cJSON *rec, const struct bfs_strv *cols,
			   bfs_nocodb_att_fn fn, void *arg)
{
	struct bfs_nocodb_names names = {0};
	char *fname = NULL;
	size_t c;
	int rc = 0;

	for (c = 0; c < cols->n && !rc; c++) {
		cJSON *parsed;
		const cJSON *v = bfs_nocodb_att_array(rec, cols->v[c], &parsed);
		const cJSON *o;

		cJSON_ArrayForEach(o, v)
		{
			const char *t = cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(o, "title"));

			if (!cJSON_IsObject(o))
				continue;
			rc = bfs_nocodb_names_take(&names, t ? t : "", &fname);
			if (!rc)
				rc = fn(arg, c, o, fname);
			free(fname);
			fname = NULL;
			if (rc)
				break;
		}
		cJSON_Delete(parsed);
	}
	bfs_nocodb_names_free(&names);
	return rc;
}
