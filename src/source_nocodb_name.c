/* source_nocodb_name.c - NocoDB titles as path names (a reversible
 * percent-encoding with a clash suffix) and the page-stop rule of the
 * records export.  Pure functions: no I/O.  doc/NOCODB.md documents the
 * mapping.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
