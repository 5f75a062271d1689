/* import_meta.c - the id and time of an imported folder: a seed
 * manifest.json and times in folder names (import.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "import.h"
#include "timefmt.h"

static const char *const id_keys[] = {"id", "backup_id", "backupId"};
static const char *const time_keys[] = {"time",	     "timestamp", "created_at",
					"createdAt", "date",	  "started_at",
					"startedAt"};
static const char *const host_keys[] = {"host", "hostname"};

/* n digits at s as a number, or -1. */
static int num(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool date_ok(int y, int mo, int d)
{
	int64_t days;

	if (y < 1900 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31)
		return false;
	days = mo == 12 ? bfs_time_days_from_civil(y + 1, 1, 1)
			: bfs_time_days_from_civil(y, mo + 1, 1);
	return d <= days - bfs_time_days_from_civil(y, mo, 1);
}

/* The time at s (the first digit); *end past it.  False if none. */
static bool time_at(const char *s, int64_t *ns, const char **end)
{
	int y, mo, d, h = 0, mi = 0, se = 0;
	bool dashed = s[4] == '-';
	const char *p;
	int64_t t;

	y = num(s, 4);
	if (dashed) {
		mo = s[4] == '-' && s[7] == '-' ? num(s + 5, 2) : -1;
		d = mo < 0 ? -1 : num(s + 8, 2);
		p = s + 10;
	} else {
		mo = num(s + 4, 2);
		d = mo < 0 ? -1 : num(s + 6, 2);
		p = s + 8;
	}
	if (y < 0 || mo < 0 || d < 0 || !date_ok(y, mo, d))
		return false;
	if (*p && strchr("_T -", *p) && is_digit(p[1])) {
		const char *q = p + 1;
		char sep;

		h = num(q, 2);
		if (h < 0)
			return false;
		if (dashed) {
			sep = q[2];
			if ((sep != '-' && sep != ':') ||
			    (mi = num(q + 3, 2)) < 0 || q[5] != sep ||
			    (se = num(q + 6, 2)) < 0)
				return false;
			q += 8;
		} else {
			if ((mi = num(q + 2, 2)) < 0 ||
			    (se = num(q + 4, 2)) < 0)
				return false;
			q += 6;
		}
		if (h > 23 || mi > 59 || se > 59)
			return false;
		p = q;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	if (is_digit(*p))
		return false;
	if (bfs_time_from_wall(y, mo, d, h, mi, se, true, &t) ||
	    t > INT64_MAX / 1000000000)
		return false;
	*ns = t * 1000000000;
	*end = p;
	return true;
}

bool bfs_import_time_from_name(const char *name, int64_t *ns)
{
	const char *s = name, *end;

	while (*s && !is_digit(*s))
		s++;
	if (!*s || strnlen(s, 20) < 8)
		return false;
	return time_at(s, ns, &end);
}

static const cJSON *first_key(const cJSON *o, const char *const *keys, size_t n,
			      const char **which)
{
	const cJSON *v;
	size_t i;

	for (i = 0; i < n; i++) {
		v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
		if (v) {
			*which = keys[i];
			return v;
		}
	}
	return NULL;
}

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	return "an object";
}

static int meta_time(const cJSON *v, const char *key, int64_t *ns,
		     struct bfs_err *err)
{
	struct bfs_err e2 = {""};
	double d;

	if (cJSON_IsString(v)) {
		if (!bfs_time_parse(v->valuestring, ns, &e2))
			return 0;
		if (bfs_import_time_from_name(v->valuestring, ns) &&
		    is_digit(v->valuestring[0]))
			return 0;
		return bfs_err_set(err, -EUCLEAN,
				   "\"%s\": not a time (RFC 3339 such as "
				   "2026-11-20T05:15:00Z, or "
				   "2026-11-20_05-15-00 in UTC)",
				   key);
	}
	if (!cJSON_IsNumber(v))
		return bfs_err_set(err, -EUCLEAN,
				   "\"%s\" is %s, expected a time string or "
				   "a Unix time",
				   key, type_name(v));
	d = v->valuedouble;
	if (!isfinite(d) || d < 0 || d >= 1e14)
		return bfs_err_set(err, -EUCLEAN,
				   "\"%s\": %g is not a Unix time in seconds "
				   "or milliseconds",
				   key, d);
	d = d < 1e11 ? d * 1e9 : d * 1e6;
	if (d >= 9.2e18) /* past 2262: no int64 nanoseconds */
		return bfs_err_set(err, -EUCLEAN,
				   "\"%s\": %g is past the year 2262", key,
				   v->valuedouble);
	*ns = (int64_t)d;
	return 0;
}

static int meta_str(const cJSON *o, const char *const *keys, size_t n,
		    char **out, struct bfs_err *err)
{
	const char *key = NULL;
	const cJSON *v = first_key(o, keys, n, &key);

	if (!v)
		return 0;
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15 &&
	    floor(v->valuedouble) == v->valuedouble) {
		char tmp[32];

		snprintf(tmp, sizeof(tmp), "%.0f", v->valuedouble);
		*out = strdup(tmp);
	} else if (cJSON_IsString(v)) {
		*out = strdup(v->valuestring);
	} else {
		return bfs_err_set(err, -EUCLEAN,
				   "\"%s\" is %s, expected a "
				   "string",
				   key, type_name(v));
	}
	return *out ? 0 : bfs_err_set(err, -ENOMEM, "out of memory");
}

int bfs_import_meta_parse(const char *json, size_t len,
			  struct bfs_import_meta *m, struct bfs_err *err)
{
	struct bfs_import_meta r = {0};
	const cJSON *v;
	const char *key = NULL;
	cJSON *o = NULL;
	int rc;

	memset(m, 0, sizeof(*m));
	if (len > BFS_IMPORT_META_MAX)
		return bfs_err_set(err, -EUCLEAN,
				   "%zu bytes, more than a manifest.json may "
				   "have (%u)",
				   len, BFS_IMPORT_META_MAX);
	o = cJSON_ParseWithLength(json, len);
	if (!o) {
		rc = bfs_err_set(err, -EUCLEAN, "not valid JSON");
		goto out;
	}
	if (!cJSON_IsObject(o)) {
		rc = bfs_err_set(err, -EUCLEAN, "not a JSON object");
		goto out;
	}
	rc = meta_str(o, id_keys, BFS_ARRAY_SIZE(id_keys), &r.id, err);
	if (!rc)
		rc = meta_str(o, host_keys, BFS_ARRAY_SIZE(host_keys), &r.host,
			      err);
	if (rc)
		goto out;
	v = first_key(o, time_keys, BFS_ARRAY_SIZE(time_keys), &key);
	if (v) {
		rc = meta_time(v, key, &r.time_ns, err);
		if (rc)
			goto out;
		if (!r.time_ns)
			r.time_ns = 1; /* 0 means absent */
	}
	*m = r;
	memset(&r, 0, sizeof(r));
out:
	bfs_import_meta_clear(&r);
	cJSON_Delete(o);
	return rc;
}

void bfs_import_meta_clear(struct bfs_import_meta *m)
{
	if (!m)
		return;
	free(m->id);
	free(m->host);
	memset(m, 0, sizeof(*m));
}
