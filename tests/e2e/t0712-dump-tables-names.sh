#!/bin/bash
# database.sql.d with nasty names on a real PostgreSQL and MariaDB (issue
# 12 part 1): quoted identifiers with spaces, uppercase, dots, a slash and
# UTF-8, tables named like keywords, an identity column, and data whose
# lines look like "\." or a pg_dump/mysqldump header inside strings.  Each
# table file alone, after _before.sql, restores its table; the
# concatenation restores the whole database.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

TOOL=$top_builddir/tests/unit/dumpmap-tool
start_postgres
createdb nasty || bail_out "createdb"
psql -X -q -v ON_ERROR_STOP=1 -d nasty >/dev/null <<'SQL' || bail_out "cannot create the nasty tables"
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."Select" (id int PRIMARY KEY, t text);
INSERT INTO "My Schema"."Select" VALUES
  (1, E'line\n\\.\nafter'), (2, E'--\n-- Name: x; Type: TABLE; Schema: public; Owner: x\n--'),
  (3, E'\\.'), (4, 'it''s; -- not a comment');
CREATE TABLE public."tä/b.c" (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "Col" text UNIQUE);
INSERT INTO public."tä/b.c" ("Col") VALUES ('a'), ('b'), (E'\\.');
CREATE TABLE public."Upper Case" (k serial, v text);
CREATE INDEX "idx ON public.x" ON public."Upper Case" (v);
INSERT INTO public."Upper Case" (v) SELECT 'v' || g FROM generate_series(1, 50) g;
CREATE TABLE public."order" (id int REFERENCES public."tä/b.c"(id));
INSERT INTO public."order" VALUES (1), (2);
CREATE FUNCTION public.f() RETURNS text LANGUAGE sql AS $body$
SELECT '
--
-- Name: fake; Type: TABLE; Schema: public; Owner: x
--
\.
'::text $body$;
CREATE VIEW public."my view" AS SELECT * FROM "My Schema"."Select";
SQL
pg_dump -d nasty >"$T/nasty.sql" || bail_out "pg_dump failed"
mkdir "$T/d"
ok_cmd "split the PostgreSQL dump" bash -c "'$TOOL' split '$T/nasty.sql' '$T/d' >'$T/files' 2>'$T/ranges'"
is "$(grep -v '^_' "$T/files" | LC_ALL=C sort | tr '\n' ' ')" \
	"My Schema.Select.sql public.Upper Case.sql public.order.sql public.tä%2Fb%2Ec.sql " \
	"the table files, names escaped"
unlike "$(cat "$T/files")" "fake" "no table from inside the function body"

only_digest() {
	psql -X -At -d "$1" -c "select count(*) || ' ' || coalesce(md5(string_agg(x, E'\n' order by x collate \"C\")), '-')
		from (select r::text as x from only $2 r) s"
}
bad=0
createdb one || bail_out "createdb one"
for t in '"My Schema"."Select"' 'public."tä/b.c"' 'public."Upper Case"' 'public."order"'; do
	f=$(psql -X -At -d nasty -c "select n.nspname || '.' || c.relname from pg_class c
		join pg_namespace n on n.oid = c.relnamespace where c.oid = '$t'::regclass")
	f=$(printf '%s' "$f" | sed 's/%/%25/g; s/\//%2F/g; s/\./%2E/g; s/%2E/./')
	psql -X -q -d one -c 'drop schema if exists "My Schema" cascade' \
		-c "drop schema public cascade" -c "create schema public" >/dev/null 2>&1
	psql -X -q -v ON_ERROR_STOP=1 -d one -f "$T/d/_before.sql" >/dev/null &&
		psql -X -q -v ON_ERROR_STOP=1 -d one -f "$T/d/$f.sql" >/dev/null ||
		{ diag "$f.sql does not load"; bad=$((bad + 1)); continue; }
	a=$(only_digest nasty "$t")
	b=$(only_digest one "$t")
	[ "$a" = "$b" ] || { diag "$t: '$a' vs '$b'"; bad=$((bad + 1)); }
done
is "$bad" 0 "each nasty table restores alone from its file"
ok_cmd "createdb whole" createdb whole
ok_cmd "the concatenation loads with ON_ERROR_STOP" \
	bash -c "cd '$T/d' && while IFS= read -r f; do cat \"\$f\"; done <'$T/files' | psql -X -q -v ON_ERROR_STOP=1 -d whole >/dev/null"
is "$(pg_table_digest whole)" "$(pg_table_digest nasty)" "and equals the source"
is "$(psql -X -At -d whole -c 'select public.f()')" "$(psql -X -At -d nasty -c 'select public.f()')" \
	"the function body is intact"

start_mariadb
my >/dev/null <<'SQL' || bail_out "cannot create the MariaDB tables"
CREATE DATABASE nasty;
USE nasty;
CREATE TABLE `we``ird name` (id int PRIMARY KEY, t text);
INSERT INTO `we``ird name` VALUES (1, 'a\n--\n-- Table structure for table `x`\n--\n'), (2, 'q\'s;'), (3, '\\.');
CREATE TABLE `select` (id int, v varchar(20), KEY k (v));
INSERT INTO `select` VALUES (1, 'x'), (2, '# not a comment');
CREATE TABLE `Ünï` (id int PRIMARY KEY AUTO_INCREMENT, s varchar(10));
INSERT INTO `Ünï` (s) VALUES ('😀'), ('b');
CREATE TRIGGER `tr;x` BEFORE INSERT ON `select` FOR EACH ROW SET NEW.v = CONCAT(NEW.v, ';');
SQL
my_dump --single-transaction --routines --triggers --events --hex-blob nasty \
	>"$T/my.sql" || bail_out "mariadb-dump failed"
mkdir "$T/m"
ok_cmd "split the MariaDB dump" bash -c "'$TOOL' split '$T/my.sql' '$T/m' >'$T/mfiles' 2>/dev/null"
is "$(grep -v '^_' "$T/mfiles" | LC_ALL=C sort | tr '\n' ' ')" \
	"nasty.select.sql nasty.we\`ird name.sql nasty.Ünï.sql " "the MariaDB table files"
bad=0
for t in 'we``ird name' 'select' 'Ünï'; do
	f=nasty.$(printf '%s' "$t" | sed 's/``/`/g').sql
	my -e "drop database if exists one; create database one" &&
		my one <"$T/m/_before.sql" && my one <"$T/m/$f" ||
		{ diag "$f does not load"; bad=$((bad + 1)); continue; }
	a=$(my -N -B -e "select * from nasty.\`$t\`" | LC_ALL=C sort | md5sum)
	b=$(my -N -B -e "select * from one.\`$t\`" | LC_ALL=C sort | md5sum)
	[ "$a" = "$b" ] || { diag "$t differs"; bad=$((bad + 1)); }
done
is "$bad" 0 "each nasty MariaDB table restores alone from its file"
ok_cmd "create database whole" my -e "create database whole"
ok_cmd "the concatenation loads" \
	bash -c "cd '$T/m' && while IFS= read -r f; do cat \"\$f\"; done <'$T/mfiles' | mariadb --defaults-extra-file='$MY_CNF' whole"
a=$(my_table_digest nasty)
unlike "$a" "ERROR" "every MariaDB table digests (names quoted)"
is "$(my_table_digest whole)" "$a" "and equals the source"
is "$(my_object_counts whole)" "$(my_object_counts nasty)" "with the trigger"
done_testing
