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
#include <stdio.h>
#include <string.h>

#include "source_nocodb.h"

static size_t skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n &&
	       (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* The string starting at s[i] == '"': copied to out (if not NULL), with
 * raw control characters (which JSON forbids in strings) written as
 * \u00XX so that a record stays on one line.  Returns the index after the
 * closing quote, 0 on a malformed string, or -ENOMEM as (size_t). */
static int copy_string(const char *s, size_t *pi, size_t n, struct bfs_buf *out)
{
	size_t i = *pi + 1, start = *pi;
	char esc[8];

	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			i++;
			continue;
		}
		if (c == '"')
			break;
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
		for (st = i; i < n && !memchr(",]} \t\r\n", s[i], 7); i++)
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
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
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
		i = skip_ws(text, i, len);
		if (i >= len || text[i] != ':')
			return -EPROTO;
		i = skip_ws(text, i + 1, len);
		/* the first "list", as cJSON_GetObjectItem finds it */
		if (i - key >= 6 && !memcmp(text + key, "\"list\"", 6) &&
		    skip_ws(text, key + 6, len) < len && i < len &&
		    text[i] == '[' && text[skip_ws(text, key + 6, len)] == ':')
			return copy_list(text, i, len, out, count);
		rc = copy_value(text, &i, len, NULL);
		if (rc)
			return rc;
		i = skip_ws(text, i, len);
		if (i < len && text[i] == ',')
			i = skip_ws(text, i + 1, len);
	}
	return -EPROTO; /* no "list" array */
}
