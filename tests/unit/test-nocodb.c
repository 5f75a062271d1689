/* test-nocodb.c - the pure parts of the NocoDB export: titles as path
 * names (encoding, decoding, clash suffixes, reserved names) and the
 * rule that ends the paging of records; the record helpers the export
 * and the restore share (primary key, attachment names). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "src/manifest.h"
#include "src/restore_nocodb.h"
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

static void lines(const char *text, int want_rc, const char *want,
		  size_t want_n, const char *what)
{
	struct bfs_buf out = {0};
	size_t n = 99;
	int rc = bfs_nocodb_records_lines(text, strlen(text), &out, &n);

	is_int(rc, want_rc, "%s: rc", what);
	if (!want_rc) {
		bfs_buf_append(&out, "", 1);
		is_str((char *)out.data, want, "%s: lines", what);
		is_int((int)n, (int)want_n, "%s: count", what);
	}
	bfs_buf_free(&out);
}

static void test_records_lines(void)
{
	lines("{\"list\":[{\"Id\":12345678901234567891,\"p\":1.50}],"
	      "\"pageInfo\":{\"totalRows\":1}}",
	      0, "{\"Id\":12345678901234567891,\"p\":1.50}\n", 1,
	      "digits kept as sent (cJSON would round them)");
	lines("{ \"pageInfo\" : {\"list\": [1]},\n \"list\" : [\n"
	      "  { \"a\" : \"x y\\\" ]}\" , \"b\": [ 1, {\"c\": null} ] },\n"
	      "  7, \"s\", [ ],\n  {}\n ] }",
	      0, "{\"a\":\"x y\\\" ]}\",\"b\":[1,{\"c\":null}]}\n{}\n", 2,
	      "blanks outside strings dropped, non-objects skipped, the "
	      "top-level list only");
	lines("{\"list\":[{\"t\":\"a\nb\tc\"}]}", 0,
	      "{\"t\":\"a\\u000ab\\u0009c\"}\n", 1,
	      "raw control characters in a string are escaped: one line");
	lines("{\"list\":[]}", 0, "", 0, "an empty page");
	lines("{\"li\":[{}],\"listx\":[{}]}", -EPROTO, "", 0,
	      "no \"list\" key: refused");
	lines("{\"list\":{\"a\":1}}", -EPROTO, "", 0,
	      "\"list\" not an array: refused");
	lines("{\"list\":[{\"a\":\"unterminated}]}", -EPROTO, "", 0,
	      "a string without its end: refused");
	lines("{\"list\":[{\"a\":[1,2}", -EPROTO, "", 0,
	      "truncated text: refused");
	lines("[{\"list\":[]}]", -EPROTO, "", 0, "not an object: refused");
}

static int att_cb(void *arg, size_t col, const cJSON *obj, const char *fname)
{
	struct bfs_buf *b = arg;

	(void)obj;
	return bfs_buf_printf(b, "%zu:%s;", col, fname);
}

static void test_record_helpers(void)
{
	cJSON *schema = cJSON_Parse(
	    "{\"columns\":[{\"title\":\"Id\",\"uidt\":\"ID\",\"pk\":1},"
	    "{\"title\":\"Files\",\"uidt\":\"Attachment\"},"
	    "{\"title\":\"More\",\"uidt\":\"Attachment\"}]}");
	cJSON *rec =
	    cJSON_Parse("{\"Id\":42,\"Files\":[{\"title\":\"a.txt\"},"
			"{\"title\":\"a.txt\"},{\"title\":\"x/y\"}],"
			"\"More\":\"[{\\\"title\\\":\\\"a.txt\\\"}]\"}");
	cJSON *srec = cJSON_Parse("{\"Id\":\"k/1\"}");
	struct bfs_strv atts = {0};
	struct bfs_buf b = {0};
	const char *pk = NULL;
	char *name = NULL;

	is_int(bfs_nocodb_columns(schema, &pk, &atts), 0, "columns");
	is_str(pk, "Id", "\"pk\": 1 (NocoDB on SQLite) is the primary key");
	ok(atts.n == 2 && !strcmp(atts.v[0], "Files") &&
	       !strcmp(atts.v[1], "More"),
	   "both Attachment columns, in schema order");
	is_int(bfs_nocodb_record_name(rec, pk, 7, &name), 0, "record name");
	is_str(name, "42", "a numeric id names the directory");
	free(name);
	bfs_nocodb_record_name(srec, pk, 7, &name);
	is_str(name, "k%2F1", "a string id is encoded");
	free(name);
	bfs_nocodb_record_name(srec, NULL, 7, &name);
	is_str(name, "row-7", "no primary key: the position");
	free(name);
	is_int(bfs_nocodb_attachments(rec, &atts, att_cb, &b), 0,
	       "attachments");
	is_str((const char *)b.data, "0:a.txt;0:a.txt%~2;0:x%2Fy;1:a.txt%~3;",
	       "file names over all columns of a record, clashes suffixed, "
	       "a field holding JSON text read too");
	ok(bfs_ncr_virtual("Formula") && bfs_ncr_virtual("Links") &&
	       bfs_ncr_virtual("Lookup") && !bfs_ncr_virtual("Attachment") &&
	       !bfs_ncr_virtual("SingleSelect") && !bfs_ncr_virtual(NULL),
	   "virtual columns: formulas and links, not stored types");
	bfs_buf_free(&b);
	bfs_strv_free(&atts);
	cJSON_Delete(schema);
	cJSON_Delete(rec);
	cJSON_Delete(srec);
}

/* keep: every key but the ones NocoDB makes (Id, CreatedAt) */
static bool not_system(void *arg, const char *key)
{
	(void)arg;
	return strcmp(key, "Id") && strcmp(key, "CreatedAt");
}

static void members(const char *text, int want_rc, const char *want,
		    size_t want_n, const char *what)
{
	struct bfs_buf out = {0};
	size_t n = 99;
	int rc = bfs_nocodb_object_members(text, strlen(text), not_system, NULL,
					   &out, &n);

	is_int(rc, want_rc, "%s: rc", what);
	if (!want_rc) {
		bfs_buf_append(&out, "", 1);
		is_str((char *)out.data, want, "%s: members", what);
		is_int((int)n, (int)want_n, "%s: count", what);
	}
	bfs_buf_free(&out);
}

/* restore-records sends a record's members as stored, system fields
 * dropped by their decoded key, numbers with every digit. */
static void test_object_members(void)
{
	members("{\"Id\":9007199254740993,\"Big\":9007199254740993,"
		"\"Dec\":1.10,\"CreatedAt\":\"x\"}",
		0, "\"Big\":9007199254740993,\"Dec\":1.10", 2,
		"2^53+1 and 1.10 keep their digits, Id and CreatedAt dropped");
	members(" { \"A\" : [ 1 , { \"b\" : null } ] ,\"Id\":1, "
		"\"C\":\"s p\" } ",
		0, "\"A\":[1,{\"b\":null}],\"C\":\"s p\"", 2,
		"blanks outside strings dropped, inside kept");
	members("{\"I\\u0064\":5,\"x\":true}", 0, "\"x\":true", 1,
		"a key is compared decoded (I\\u0064 is Id)");
	members("{\"Id\":1}", 0, "", 0, "only system fields: no member");
	members("{}", 0, "", 0, "an empty object");
	members("[1]", -EPROTO, NULL, 0, "not an object");
	members("{\"a\":1", -EPROTO, NULL, 0, "no closing brace");
	members("{\"a\" 1}", -EPROTO, NULL, 0, "no colon");
	members("{\"a\":1 \"b\":2}", -EPROTO, NULL, 0, "no comma");
	members("{\"a:1}", -EPROTO, NULL, 0, "an unterminated key");
}

int main(void)
{
	test_records_lines();
	test_record_helpers();
	test_object_members();
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
