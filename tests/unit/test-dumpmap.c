/* test-dumpmap.c - the dump scanner (src/dumpmap.h) on crafted dumps:
 * classes of sections, tables with nasty names, data and function bodies
 * that look like headers or "\.", every piece size, the stored form and
 * its checks, hostile maps, file names. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "src/dumpmap.h"
#include "tap.h"

static const char pg[] =
    "--\n-- PostgreSQL database dump\n--\n\n"
    "SET client_encoding = 'UTF8';\n"
    "\\restrict abc\n\n"
    "--\n-- Name: f(); Type: FUNCTION; Schema: public; Owner: x\n--\n\n"
    "CREATE FUNCTION public.f() RETURNS text AS $body$\n"
    "--\n-- Name: fake; Type: TABLE; Schema: public; Owner: x\n--\n"
    "\\.\nselect ';' $x$ $body$ LANGUAGE sql;\n\n"
    "--\n-- Name: Select; Type: TABLE; Schema: My Schema; Owner: x\n--\n\n"
    "CREATE TABLE \"My Schema\".\"Select\" (\n    a text DEFAULT E'it\\'s; -- "
    "no'\n);\n\n"
    "--\n-- Name: s_seq; Type: SEQUENCE; Schema: public; Owner: x\n--\n\n"
    "CREATE SEQUENCE public.s_seq;\n\n"
    "--\n-- Name: t\xc3\xa4/b.c; Type: TABLE; Schema: public; Owner: x\n--\n\n"
    "CREATE TABLE public.\"t\xc3\xa4/b.c\" (id integer);\n\n"
    "--\n-- Name: s_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: "
    "x\n--\n\n"
    "ALTER SEQUENCE public.s_seq OWNED BY public.\"t\xc3\xa4/b.c\".id;\n\n"
    "--\n-- Name: v; Type: VIEW; Schema: public; Owner: x\n--\n\n"
    "CREATE VIEW public.v AS SELECT 1;\n\n"
    "--\n-- Data for Name: Select; Type: TABLE DATA; Schema: My Schema; Owner: "
    "x\n--\n\n"
    "COPY \"My Schema\".\"Select\" (a) FROM stdin;\n"
    "\\\\.\n--\n-- Name: x; Type: TABLE; Schema: public; Owner: x\n--\n\\.\n\n"
    "--\n-- Name: s_seq; Type: SEQUENCE SET; Schema: public; Owner: x\n--\n\n"
    "SELECT pg_catalog.setval('public.s_seq', 5, true);\n\n"
    "--\n-- Name: ix; Type: INDEX; Schema: public; Owner: x\n--\n\n"
    "CREATE UNIQUE INDEX ix ON ONLY public.\"t\xc3\xa4/b.c\" USING btree "
    "(id);\n\n"
    "--\n-- Name: Select k; Type: CONSTRAINT; Schema: My Schema; Owner: "
    "x\n--\n\n"
    "ALTER TABLE ONLY \"My Schema\".\"Select\"\n    ADD CONSTRAINT k PRIMARY "
    "KEY (a);\n\n"
    "--\n-- Name: Select fk; Type: FK CONSTRAINT; Schema: My Schema; Owner: "
    "x\n--\n\n"
    "ALTER TABLE ONLY \"My Schema\".\"Select\"\n    ADD CONSTRAINT fk FOREIGN "
    "KEY (a) REFERENCES x(a);\n\n"
    "--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n";

static const char my[] =
    "/*M!999999\\- enable the sandbox mode */ \n"
    "-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n--\n"
    "-- Host: 127.0.0.1    Database: db\n"
    "-- ------------------------------------------------------\n\n"
    "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
    "/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, "
    "FOREIGN_KEY_CHECKS=0 */;\n\n"
    "--\n-- Table structure for table `we``ird`\n--\n\n"
    "DROP TABLE IF EXISTS `we``ird`;\n"
    "CREATE TABLE `we``ird` (`a` text) ENGINE=InnoDB;\n\n"
    "--\n-- Dumping data for table `we``ird`\n--\n\n"
    "LOCK TABLES `we``ird` WRITE;\n"
    "INSERT INTO `we``ird` VALUES ('x\\';\\n--\\n-- Table structure for table "
    "`no`\\n'),\n"
    "('\n--\n-- Table structure for table `no2`\n--\n'),(\"d\\\"q;\");\n"
    "UNLOCK TABLES;\n"
    "/*!50003 SET @saved_cs_client      = @@character_set_client */ ;\n"
    "DELIMITER ;;\n"
    "/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE INSERT ON `we``ird` FOR EACH "
    "ROW BEGIN SET @a = 1; SET @b = ';'; END */;;\n"
    "DELIMITER ;\n\n"
    "--\n-- Dumping routines for database 'db'\n--\n\n"
    "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n\n"
    "/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;\n\n"
    "-- Dump completed on 2026-11-26\n";

static struct bfs_dumpmap *scan(const char *d, size_t len, size_t piece,
				int *rc_out)
{
	struct bfs_dumpscan *s;
	struct bfs_dumpmap *m = NULL;
	struct bfs_err err;
	size_t o;
	int rc;

	if (bfs_dumpscan_new(&s))
		return NULL;
	for (o = 0; o < len; o += piece)
		bfs_dumpscan_feed(s, d + o, len - o < piece ? len - o : piece);
	rc = bfs_dumpscan_finish(s, &m, &err);
	if (rc)
		diag("scan: %s", bfs_err_str(&err, rc));
	if (rc_out)
		*rc_out = rc;
	bfs_dumpscan_free(s);
	return m;
}

/* The bytes of file i as a NUL-terminated string (malloc'ed). */
static char *file_text(const struct bfs_dumpmap *m, const char *d, size_t i)
{
	uint64_t sz = bfs_dumpmap_file_size(m, i), off = 0, doff, n;
	char *t = malloc(sz + 1);

	while (t && bfs_dumpmap_file_locate(m, i, off, &doff, &n) == 0) {
		memcpy(t + off, d + doff, n);
		off += n;
	}
	if (t)
		t[sz] = 0;
	return t;
}

static bool has(const char *t, const char *s)
{
	return t && strstr(t, s);
}

static void test_pg(void)
{
	struct bfs_dumpmap *m = scan(pg, sizeof(pg) - 1, 65536, NULL), *m2;
	char *b, *t0, *t1, *a;
	struct bfs_buf js = {0}, js2 = {0};
	size_t piece;
	struct bfs_err err;

	if (!ok(m != NULL, "pg: the crafted dump maps"))
		return;
	ok(m->kind == BFS_DUMP_PG, "pg: kind");
	ok(m->ntables == 2,
	   "pg: two tables, not the fake ones in strings (%zu)", m->ntables);
	if (m->ntables != 2)
		return;
	ok(!strcmp(m->tables[0].schema, "My Schema") &&
	       !strcmp(m->tables[0].name, "Select"),
	   "pg: quoted names unquoted");
	ok(!strcmp(bfs_dumpmap_file_name(m, 1), "My Schema.Select.sql"),
	   "pg: file name %s", bfs_dumpmap_file_name(m, 1));
	ok(!strcmp(bfs_dumpmap_file_name(m, 2), "public.t\xc3\xa4%2Fb%2Ec.sql"),
	   "pg: '/' and '.' escaped, UTF-8 kept: %s",
	   bfs_dumpmap_file_name(m, 2));
	ok(bfs_dumpmap_file_find(m, "_after.sql") == 3 &&
	       bfs_dumpmap_file_find(m, "nope.sql") == -ENOENT,
	   "pg: file_find");
	b = file_text(m, pg, 0);
	t0 = file_text(m, pg, 1);
	t1 = file_text(m, pg, 2);
	a = file_text(m, pg, 3);
	ok(has(b, "SET client_encoding") && has(b, "CREATE FUNCTION") &&
	       has(b, "CREATE SEQUENCE") && !has(b, "CREATE TABLE") &&
	       has(b, "\\unrestrict"),
	   "pg: _before has preamble, function, sequence, trailer");
	ok(has(t0, "CREATE TABLE \"My Schema\"") && has(t0, "COPY") &&
	       has(t0, "PRIMARY KEY") && !has(t0, "FOREIGN KEY") &&
	       has(t0, "-- Name: x; Type: TABLE") && has(t0, "\\restrict"),
	   "pg: table file: definition, data (with its fake header), PK, no "
	   "FK");
	ok(has(t1, "OWNED BY") && has(t1, "setval") &&
	       has(t1, "CREATE UNIQUE INDEX"),
	   "pg: owned sequence and its value and the index go with the table");
	ok(has(a, "CREATE VIEW") && has(a, "FOREIGN KEY") &&
	       !has(a, "CREATE TABLE"),
	   "pg: _after: view and FK");
	free(b);
	free(t0);
	free(t1);
	free(a);
	ok(bfs_dumpmap_encode(m, &js) == 0, "pg: encode");
	ok(bfs_dumpmap_parse(js.data, js.len, sizeof(pg) - 1, &m2, &err) == 0,
	   "pg: the stored form reads back");
	ok(m2 && bfs_dumpmap_encode(m2, &js2) == 0 && js.len == js2.len &&
	       !memcmp(js.data, js2.data, js.len),
	   "pg: and encodes the same");
	bfs_dumpmap_free(m2);
	ok(bfs_dumpmap_parse(js.data, js.len, sizeof(pg), &m2, &err) ==
	       -EUCLEAN,
	   "pg: a map for another size is refused: %s", err.msg);
	for (piece = 1; piece < 40; piece += 3) {
		struct bfs_dumpmap *mp = scan(pg, sizeof(pg) - 1, piece, NULL);

		js2.len = 0;
		if (!mp || bfs_dumpmap_encode(mp, &js2) || js2.len != js.len ||
		    memcmp(js.data, js2.data, js.len))
			break;
		bfs_dumpmap_free(mp);
	}
	ok(piece >= 40, "pg: same map for pieces of 1..39 bytes (%zu)", piece);
	bfs_buf_free(&js);
	bfs_buf_free(&js2);
	bfs_dumpmap_free(m);
}

static void test_my(void)
{
	struct bfs_dumpmap *m = scan(my, sizeof(my) - 1, 7, NULL);
	char *b, *t, *a;

	if (!ok(m != NULL, "my: the crafted dump maps"))
		return;
	ok(m->kind == BFS_DUMP_MYSQL && m->ntables == 1, "my: one table (%zu)",
	   m->ntables);
	if (m->ntables != 1)
		return;
	ok(!strcmp(m->tables[0].schema, "db") &&
	       !strcmp(m->tables[0].name, "we`ird"),
	   "my: schema from the banner, backticks undoubled");
	b = file_text(m, my, 0);
	t = file_text(m, my, 1);
	a = file_text(m, my, 2);
	ok(has(t, "CREATE TABLE") && has(t, "d\\\"q;") &&
	       has(t, "UNLOCK TABLES") && !has(t, "TRIGGER") &&
	       has(t, "FOREIGN_KEY_CHECKS=0") &&
	       has(t, "FOREIGN_KEY_CHECKS=@OLD_"),
	   "my: table file: guards, definition, data, no trigger, trailer");
	ok(has(a, "DELIMITER ;;") && has(a, "TRIGGER t") &&
	       has(a, "Dumping routines"),
	   "my: trigger and routines in _after");
	ok(has(b, "SET @OLD_CHARACTER") && !has(b, "CREATE TABLE"),
	   "my: _before is preamble and trailer");
	free(b);
	free(t);
	free(a);
	bfs_dumpmap_free(m);
}

static void test_not_dumps(void)
{
	static const char *bad[] = {
	    "hello world\n",
	    "--\n-- PostgreSQL database dump\n--\nCOPY public.t (a) FROM "
	    "stdin;\n1\n",
	    "--\n-- PostgreSQL database dump\n--\nSELECT 'open\n",
	    "-- MariaDB dump 10.19\nDELIMITER \n",
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bfs_dumpmap *m = scan(bad[i], strlen(bad[i]), 5, &rc);

		ok(!m && rc == -ENOTSUP, "not a dump %zu refused", i);
		bfs_dumpmap_free(m);
	}
}

static void test_hostile_maps(void)
{
	static const struct {
		const char *js;
		uint64_t size;
	} bad[] = {
	    {"{\"v\":2,\"kind\":\"pg\",\"size\":3,\"tables\":[],\"r\":[[0,3]]}",
	     3},
	    {"{\"v\":1,\"kind\":\"pg\",\"size\":3,\"tables\":[],\"r\":[[0,2]]}",
	     3},
	    {"{\"v\":1,\"kind\":\"pg\",\"size\":3,\"tables\":[],\"r\":[[0,4]]}",
	     3},
	    {"{\"v\":1,\"kind\":\"pg\",\"size\":3,\"tables\":[],\"r\":[[0,0],["
	     "0,3]]}",
	     3},
	    {"{\"v\":1,\"kind\":\"pg\",\"size\":3,\"tables\":[],\"r\":[[2,0,3]]"
	     "}",
	     3},
	    {"{\"v\":1,\"kind\":\"pg\",\"size\":3,\"tables\":[[\"a\",\"b\"]],"
	     "\"r\":[[0,3]]}",
	     3},
	    {"{\"v\":1,\"kind\":\"pg\",\"size\":3,\"tables\":[[\"a\",\"b\"],["
	     "\"a\",\"b\"]],\"r\":[[2,0,1],[2,1,2]]}",
	     3},
	    {"{\"v\":1,\"kind\":\"pg\",\"size\":3,\"tables\":[[\"a\",\"\"]],"
	     "\"r\":[[2,0,3]]}",
	     3},
	    {"{\"v\":1,\"kind\":\"pg\",\"size\":3,\"tables\":[],\"r\":[[5,3]]}",
	     3},
	    {"{\"v\":1,\"kind\":\"pg\",\"size\":3,\"tables\":[],\"r\":[[0,1.5],"
	     "[0,1.5]]}",
	     3},
	    {"{\"v\":1,\"kind\":\"xx\",\"size\":3,\"tables\":[],\"r\":[[0,3]]}",
	     3},
	    {"[1]", 3},
	};
	struct bfs_dumpmap *m;
	struct bfs_err err;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = bfs_dumpmap_parse(bad[i].js, strlen(bad[i].js),
				       bad[i].size, &m, &err);
		ok(rc == -EUCLEAN && !m, "hostile map %zu refused: %s", i,
		   err.msg);
	}
	rc = bfs_dumpmap_parse(
	    "{\"v\":1,\"kind\":\"mysql\",\"size\":3,\"tables\":[[\"\",\"_x\"]],"
	    "\"r\":[[0,1],[2,0,1],[4,1]]}",
	    strlen("{\"v\":1,\"kind\":\"mysql\",\"size\":3,\"tables\":[[\"\","
		   "\"_x\"]],\"r\":[[0,1],[2,0,1],[4,1]]}"),
	    3, &m, &err);
	ok(rc == 0 && m && !strcmp(bfs_dumpmap_file_name(m, 1), "%5Fx.sql"),
	   "no schema: a leading '_' is escaped (no clash with _before.sql)");
	bfs_dumpmap_free(m);
}

int main(void)
{
	test_pg();
	test_my();
	test_not_dumps();
	test_hostile_maps();
	return tap_done();
}
