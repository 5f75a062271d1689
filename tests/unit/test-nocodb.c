/* test-nocodb.c - the pure parts of the NocoDB export: titles as path
 * names (encoding, decoding, clash suffixes, reserved names) and the
 * rule that ends the paging of records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/manifest.h"
#include "src/source_nocodb.h"
#include "tap.h"

static void enc(const char *title, const char *want)
{
	char *s = NULL, *back = NULL;
	int rc = bfs_nocodb_name_encode(title, &s);

	is_int(rc, 0, "encode '%s'", want);
	is_str(s, want, "encoding of title -> '%s'", want);
	ok(s && bfs_manifest_path_valid(s, strlen(s)) && !strchr(s, '/'),
	   "'%s' is one valid path component", want);
	rc = s ? bfs_nocodb_name_decode(s, &back) : -1;
	ok(!rc && back && !strcmp(back, title), "'%s' decodes back", want);
	free(s);
	free(back);
}

static void take(struct bfs_nocodb_names *n, const char *title,
		 const char *want)
{
	char *s = NULL, *back = NULL;

	is_int(bfs_nocodb_names_take(n, title, &s), 0, "take '%s'", want);
	is_str(s, want, "name in the directory: '%s'", want);
	ok(s && !bfs_nocodb_name_decode(s, &back) && !strcmp(back, title),
	   "'%s' decodes to its title", want);
	free(s);
	free(back);
}

int main(void)
{
	struct bfs_nocodb_names n = {0};
	static const char *const bad[] = {"",	  "%",	  "%4",	 "%zz",
					  "%2e",  "a%~1", "a%~", "a%~02",
					  "a%~x", "a/b",  "%00"};
	char ctl[] = {'a', 1, 'b', 0x7f, 0};
	char *s = NULL;
	size_t i;

	enc("Customers", "Customers");
	enc("Sales/2026", "Sales%2F2026");
	enc("100%", "100%25");
	enc(".", "%2E");
	enc("..", "%2E%2E");
	enc("...", "...");
	enc(".hidden", ".hidden");
	enc("", "%");
	enc(ctl, "a%01b%7F");
	enc("tab\there\nnl", "tab%09here%0Anl");
	enc("Grüße 表", "Grüße 表");
	enc("a%~2", "a%25~2");

	/* "%" alone is the empty title; bad escapes and suffixes fail */
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int rc = bfs_nocodb_name_decode(bad[i], &s);

		if (!strcmp(bad[i], "%")) {
			ok(!rc && s && !*s, "'%%' decodes to the empty title");
		} else {
			ok(rc == -22, "'%s' is not a name of a title", bad[i]);
		}
		free(s);
		s = NULL;
	}

	/* clashes: the same title twice, and a reserved name */
	is_int(bfs_nocodb_names_reserve(&n, "metadata.json"), 0, "reserve");
	take(&n, "Tasks", "Tasks");
	take(&n, "Tasks", "Tasks%~2");
	take(&n, "Tasks", "Tasks%~3");
	take(&n, "metadata.json", "metadata.json%~2");
	take(&n, "a/b", "a%2Fb");
	take(&n, "a/b", "a%2Fb%~2");
	take(&n, "Tasks%~2", "Tasks%25~2");
	bfs_nocodb_names_free(&n);

	/* the page-stop rule: short page, or offset + got >= totalRows;
	 * isLastPage plays no part */
	ok(bfs_nocodb_page_last(0, 0, 1000, -1), "empty first page stops");
	ok(bfs_nocodb_page_last(0, 0, 1000, 5000), "empty page stops even "
						   "if totalRows says more");
	ok(!bfs_nocodb_page_last(0, 1000, 1000, 2500), "page 1 of 2500");
	ok(!bfs_nocodb_page_last(1000, 1000, 1000, 2500), "page 2 of 2500");
	ok(bfs_nocodb_page_last(2000, 500, 1000, 2500), "page 3 is short");
	ok(bfs_nocodb_page_last(1000, 1000, 1000, 2000),
	   "full page reaching totalRows stops (no empty request)");
	ok(!bfs_nocodb_page_last(1000, 1000, 1000, -1),
	   "full page, no totalRows: ask for the next");
	ok(bfs_nocodb_page_last(1000, 1000, 1000, 1500),
	   "totalRows below offset + got stops (rows deleted meanwhile)");
	ok(!bfs_nocodb_page_last(0, 1000, 1000, 1001), "one more row");
	return tap_done();
}
