/* source_nocodb_json.c - the records of a NocoDB records page as the
 * server wrote them (see source_nocodb.h).
 *
 * cJSON keeps numbers as doubles: re-printing a parsed record would round
 * an integer above 2^53 (a BigInt id, a Decimal) and change its digits.
 * records.jsonl must hold what NocoDB sent, so each record is copied from
 * the answer's text, compacted onto one line.  The caller parses the same
 * text with cJSON first, so the text is well-formed JSON here; the scanner
 * still checks every bound and fails (-EPROTO) rather than guess. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "source_nocodb.h"

/* Blanks as cJSON skips them (every byte up to 32, NUL included): the
 * scanner must see the structure cJSON saw. */
static bool blank(char c)
{
	return (unsigned char)c <= 32;
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && blank(s[i]))
		i++;
	return i;
}

/* The string starting at s[*pi] == '"': copied to out (if not NULL), with
 * raw control characters (which JSON forbids in strings; cJSON lets them
 * pass) written as \u00XX so that a record stays on one line.  0 with *pi
 * past the closing quote, -EPROTO (no closing quote), -ENOMEM. */
static int copy_string(const char *s, size_t *pi, size_t n, struct bfs_buf *out)
{
	size_t i = *pi + 1, start = *pi;
	char esc[8];

	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\' && i + 1 < n && (unsigned char)s[i + 1] >= 0x20) {
			i++;
			continue;
		}
		if (c == '"')
			break;
		if (c == '\\' && i + 1 < n) {
			/* a backslash before a raw control character: the
			 * pair becomes that character's \u00XX */
			i++;
			c = (unsigned char)s[i];
			if (out &&
			    bfs_buf_append(out, s + start, i - 1 - start))
				return -ENOMEM;
			start = i;
		}
		if (c < 0x20 && out) {
			if (bfs_buf_append(out, s + start, i - start))
				return -ENOMEM;
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			if (bfs_buf_append(out, esc, 6))
				return -ENOMEM;
			start = i + 1;
		}
	}
	if (i >= n)
		return -EPROTO;
	if (out && bfs_buf_append(out, s + start, i + 1 - start))
		return -ENOMEM;
	*pi = i + 1;
	return 0;
}

/* The value starting at s[*pi] (no blank before it), copied to out (if
 * not NULL) without the blanks outside strings.  *pi is moved past it. */
static int copy_value(const char *s, size_t *pi, size_t n, struct bfs_buf *out)
{
	size_t i = *pi, depth = 0, st;
	int rc;

	if (i >= n)
		return -EPROTO;
	if (s[i] == '"')
		return copy_string(s, pi, n, out);
	if (s[i] != '{' && s[i] != '[') {
		for (st = i; i < n && !blank(s[i]) && !memchr(",]}", s[i], 3);
		     i++)
			;
		if (i == st)
			return -EPROTO;
		if (out && bfs_buf_append(out, s + st, i - st))
			return -ENOMEM;
		*pi = i;
		return 0;
	}
	while (i < n) {
		char c = s[i];

		if (c == '"') {
			rc = copy_string(s, &i, n, out);
			if (rc)
				return rc;
			continue;
		}
		i++;
		if (blank(c))
			continue;
		if (out && bfs_buf_append(out, &c, 1))
			return -ENOMEM;
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return -EPROTO;
			if (--depth == 0) {
				*pi = i;
				return 0;
			}
		}
	}
	return -EPROTO;
}

/* Is the key s[key..end) (quotes included) "list" as cJSON compares keys:
 * escapes decoded, and the C string ending at the first NUL ("list\u0000x"
 * is "list" to strcmp)? */
static bool key_is_list(const char *s, size_t key, size_t end)
{
	static const char want[] = "list";
	size_t i = key + 1, k = 0;

	while (i < end - 1) {
		unsigned c = (unsigned char)s[i++];

		if (c == '\\' && i < end - 1) {
			char e = s[i++];

			c = e == 'b'   ? '\b'
			    : e == 'f' ? '\f'
			    : e == 'n' ? '\n'
			    : e == 'r' ? '\r'
			    : e == 't' ? '\t'
				       : (unsigned char)e;
			if (e == 'u') {
				int v = 0;

				if (end - 1 - i < 4)
					return false;
				for (int d = 0; d < 4; d++) {
					int h = bfs_hexval(s[i + d]);

					if (h < 0)
						return false;
					v = v * 16 + h;
				}
				i += 4;
				c = (unsigned)v; /* > 0x7f: not in "list" */
			}
		}
		if (c == 0)
			break; /* the C string ends here */
		if (k == 4 || c != (unsigned char)want[k])
			return false;
		k++;
	}
	return k == 4;
}

/* The elements of the array at s[*pi] == '[': objects copied as lines. */
static int copy_list(const char *s, size_t i, size_t n, struct bfs_buf *out,
		     size_t *count)
{
	int rc;

	i = skip_ws(s, i + 1, n);
	if (i < n && s[i] == ']')
		return 0;
	while (i < n) {
		bool obj = s[i] == '{';

		rc = copy_value(s, &i, n, obj ? out : NULL);
		if (rc)
			return rc;
		if (obj) {
			if (bfs_buf_append(out, "\n", 1))
				return -ENOMEM;
			(*count)++;
		}
		i = skip_ws(s, i, n);
		if (i < n && s[i] == ']')
			return 0;
		if (i >= n || s[i] != ',')
			return -EPROTO;
		i = skip_ws(s, i + 1, n);
	}
	return -EPROTO;
}

int bfs_nocodb_records_lines(const char *text, size_t len, struct bfs_buf *out,
			     size_t *count)
{
	size_t i = skip_ws(text, 0, len), key;
	bool is_list;
	int rc;

	*count = 0;
	if (i >= len || text[i] != '{')
		return -EPROTO;
	i = skip_ws(text, i + 1, len);
	while (i < len && text[i] != '}') {
		if (text[i] != '"')
			return -EPROTO;
		key = i;
		rc = copy_string(text, &i, len, NULL);
		if (rc)
			return rc;
		is_list = key_is_list(text, key, i);
		i = skip_ws(text, i, len);
		if (i >= len || text[i] != ':')
			return -EPROTO;
		i = skip_ws(text, i + 1, len);
		/* the first "list", as cJSON_GetObjectItem finds it: an
		 * array, or the answer has no records array at all */
		if (is_list)
			return i < len && text[i] == '['
				   ? copy_list(text, i, len, out, count)
				   : -EPROTO;
		rc = copy_value(text, &i, len, NULL);
		if (rc)
			return rc;
		i = skip_ws(text, i, len);
		if (i < len && text[i] == ',')
			i = skip_ws(text, i + 1, len);
	}
	return -EPROTO; /* no "list" array */
}

int bfs_nocodb_object_members(const char *text, size_t len,
			      bool (*keep)(void *arg, const char *key),
			      void *arg, struct bfs_buf *out, size_t *count)
{
	size_t i = skip_ws(text, 0, len), key, kend;
	cJSON *k;
	bool want;
	int rc;

	*count = 0;
	if (i >= len || text[i] != '{')
		return -EPROTO;
	i = skip_ws(text, i + 1, len);
	while (i < len && text[i] != '}') {
		if (text[i] != '"')
			return -EPROTO;
		key = i;
		rc = copy_string(text, &i, len, NULL);
		if (rc)
			return rc;
		kend = i;
		/* the key as cJSON decodes it (f->string of the member) */
		k = cJSON_ParseWithLength(text + key, kend - key);
		if (!cJSON_IsString(k)) {
			cJSON_Delete(k);
			return k ? -EPROTO : -ENOMEM;
		}
		want = keep(arg, k->valuestring);
		cJSON_Delete(k);
		i = skip_ws(text, i, len);
		if (i >= len || text[i] != ':')
			return -EPROTO;
		i = skip_ws(text, i + 1, len);
		if (want) {
			if ((*count && bfs_buf_append(out, ",", 1)) ||
			    copy_string(text, &key, kend, out) ||
			    bfs_buf_append(out, ":", 1))
				return -ENOMEM;
			(*count)++;
		}
		rc = copy_value(text, &i, len, want ? out : NULL);
		if (rc)
			return rc;
		i = skip_ws(text, i, len);
		if (i < len && text[i] == ',')
			i = skip_ws(text, i + 1, len);
		else if (i >= len || text[i] != '}')
			return -EPROTO;
	}
	return i < len ? 0 : -EPROTO;
}
