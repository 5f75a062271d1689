/* fuzz-nocodb.c - libFuzzer target: the scanner that copies the records
 * of a NocoDB records page out of the answer's text
 * (bfs_nocodb_records_lines, src/source_nocodb_json.c).  The input is the
 * body of a page.  The scanner only runs on text cJSON has parsed (as the
 * source does); checked: it never reads past the input; on success every
 * line is one object ('{' to '}') without raw control bytes, there are as many
 * lines as the "list" array of cJSON's parse holds objects, and a line has no
 * raw newline.  The same input goes to bfs_nocodb_object_members (the
 * restore's copy of a record's members), keeping every key: on success it
 * copied as many members as cJSON's object has and no raw control byte.
 * Built by scripts/fuzz (target "nocodb"); replayed by
 * tests/unit/test-fuzz-nocodb. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "src/source_nocodb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool keep_all(void *arg, const char *key)
{
	(void)key;
	++*(size_t *)arg;
	return true;
}

/* bfs_nocodb_object_members on the object j parsed from data. */
static void members(const uint8_t *data, size_t size, const cJSON *j)
{
	struct bfs_buf out = {0};
	size_t n = 0, keys = 0, want = 0;
	const cJSON *e;
	int rc;

	rc = bfs_nocodb_object_members((const char *)data, size, keep_all,
				       &keys, &out, &n);
	if (rc == 0) {
		cJSON_ArrayForEach(e, j) want++;
		if (n != want || keys != want)
			abort(); /* a member cJSON does not see */
		for (size_t i = 0; i < out.len; i++)
			if (out.data[i] < 0x20)
				abort();
	} else if (rc != -EPROTO && rc != -ENOMEM) {
		abort();
	}
	bfs_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const cJSON *list, *e;
	struct bfs_buf out = {0};
	size_t n = 0, objs = 0, got = 0;
	cJSON *j;
	int rc;

	j = cJSON_ParseWithLength((const char *)data, size);
	if (!j || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return 0;
	}
	list = cJSON_GetObjectItemCaseSensitive(j, "list");
	rc = bfs_nocodb_records_lines((const char *)data, size, &out, &n);
	if (rc == 0) {
		const char *p = (const char *)out.data;
		const char *end = p ? p + out.len : p;

		if (!cJSON_IsArray(list))
			abort(); /* found a list cJSON does not see */
		cJSON_ArrayForEach(e, list) objs += cJSON_IsObject(e);
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));

			if (!nl)
				abort(); /* every line ends in '\n' */
			/* an object on one line, no raw control byte (a line
			 * need not parse again: cJSON accepts some invalid
			 * input, e.g. bad escapes, which stays invalid) */
			if (nl - p < 2 || p[0] != '{' || nl[-1] != '}')
				abort();
			for (const char *q = p; q < nl; q++)
				if ((unsigned char)*q < 0x20)
					abort();
			got++;
			p = nl + 1;
		}
		if (got != n || n != objs)
			abort();
	} else if (rc != -EPROTO && rc != -ENOMEM) {
		abort();
	}
	bfs_buf_free(&out);
	members(data, size, j);
	cJSON_Delete(j);
	return 0;
}
