#!/bin/bash
# database.sql.d through a repository (issue 12 part 1), no database
# server: a dump stored by backup gets a map (tree key "dt"); ls, cat and
# restore of DUMP.d give the files the scanner splits it into; a file that
# is no dump has no view; check --read-data reads the map; prune after a
# forget keeps a map a remaining backup names (a forgotten backup's
# garbage repacked away with --max-unused 0); copy carries it along.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

TOOL=$top_builddir/tests/unit/dumpmap-tool
R=$T/repo
mkdir -p "$T/src1/db" "$T/src2/db" "$T/want"
cat >"$T/src1/db/database.sql" <<'SQL'
--
-- PostgreSQL database dump
--

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Name: f(); Type: FUNCTION; Schema: public; Owner: x
--

CREATE FUNCTION public.f() RETURNS text AS $b$ SELECT 'x' $b$ LANGUAGE sql;

--
-- Name: a; Type: TABLE; Schema: public; Owner: x
--

CREATE TABLE public.a (id integer NOT NULL, t text);

--
-- Name: b c; Type: TABLE; Schema: public; Owner: x
--

CREATE TABLE public."b c" (id integer NOT NULL);

--
-- Data for Name: a; Type: TABLE DATA; Schema: public; Owner: x
--

COPY public.a (id, t) FROM stdin;
1	one
2	\\.
\.

--
-- Data for Name: b c; Type: TABLE DATA; Schema: public; Owner: x
--

COPY public."b c" (id) FROM stdin;
7
\.

--
-- Name: a a_pkey; Type: CONSTRAINT; Schema: public; Owner: x
--

ALTER TABLE ONLY public.a
    ADD CONSTRAINT a_pkey PRIMARY KEY (id);

--
-- Name: v; Type: VIEW; Schema: public; Owner: x
--

CREATE VIEW public.v AS SELECT a.id FROM public.a;

--
-- PostgreSQL database dump complete
--

SQL
cp "$T/src1/db/database.sql" "$T/src2/db/database.sql"
echo "not a dump" >"$T/src1/db/notes.sql"
head -c 300000 /dev/urandom >"$T/src1/db/extra.bin"
ok_cmd "the scanner splits the dump" \
	bash -c "'$TOOL' split '$T/src1/db/database.sql' '$T/want' >'$T/files'"
is "$(tr '\n' ' ' <"$T/files")" "_before.sql public.a.sql public.b c.sql _after.sql " \
	"four files (the test's own expectation of the split)"

ok_cmd "init" bfs init "$R"
ok_cmd "backup a1 (--files with the dump, a .sql that is none, more)" \
	bfs backup -r "$R" --id a1 --files "$T/src1"
ok_cmd "backup a2 (--files with the same dump)" \
	bfs backup -r "$R" --id a2 --files "$T/src2"
ok_cmd "backup a3 (--stdin)" bfs backup -r "$R" --id a3 \
	--stdin db/database.sql <"$T/src1/db/database.sql"

echo "changed" >"$T/src1/db/notes.sql" # the directory is not reused whole
ok_cmd "backup a4 (--files again: the dump is reused unchanged)" \
	bfs backup -r "$R" --id a4 --files "$T/src1"
ok_cmd "cat a view file of the reused dump" \
	bfs cat -r "$R" a4:files/db/database.sql.d/public.a.sql
ok "$(cmp -s "$T/stdout" "$T/want/public.a.sql"; echo $?)" \
	"a reused file keeps its map"

ok_cmd "ls a1:files/db/database.sql.d" bfs ls -r "$R" a1:files/db/database.sql.d
is "$(cat "$T/stdout")" "$(cat "$T/files")" "ls lists the view's files in order"
ok_cmd "ls -l a3:db/database.sql.d" bfs ls -l -r "$R" a3:db/database.sql.d
like "$(cat "$T/stdout")" "^-r.* $(stat -c %s "$T/want/public.a.sql") .* public\.a\.sql$" \
	"ls -l: read-only, the file's size"
fails_with 1 "ls of a .sql that is no dump: no view" \
	bfs ls -r "$R" a1:files/db/notes.sql.d
like "$(cat "$T/stderr")" "no 'files/db/notes.sql.d' in backup 'a1'" "... saying so"
fails_with 1 "cat of a view file that does not exist" \
	bfs cat -r "$R" a1:files/db/database.sql.d/public.zz.sql
bad=0
for p in a1:files/db a3:db; do
	while IFS= read -r f; do
		bfs cat -r "$R" "$p/database.sql.d/$f" >"$T/got" 2>"$T/err" &&
			cmp -s "$T/got" "$T/want/$f" || {
			diag "$p: $f differs: $(cat "$T/err")"
			bad=$((bad + 1))
		}
	done <"$T/files"
done
is "$bad" 0 "cat of every view file equals the split (--files and --stdin)"
ok_cmd "restore a1:files/db/database.sql.d --target" \
	bfs restore -r "$R" a1:files/db/database.sql.d --target "$T/r1"
ok "$(diff -r "$T/r1/files/db/database.sql.d" "$T/want" >&2; echo $?)" \
	"restore of the view directory writes its files"
ok_cmd "restore a1:files/db/database.sql.d/public.a.sql --to FILE" \
	bfs restore -r "$R" a1:files/db/database.sql.d/public.a.sql --to "$T/one.sql"
ok "$(cmp -s "$T/one.sql" "$T/want/public.a.sql"; echo $?)" "... one file"
fails_with 1 "restore --to an existing file without --force" \
	bfs restore -r "$R" a1:files/db/database.sql.d/public.a.sql --to "$T/one.sql"

ok_cmd "check --read-data (reads and checks the maps)" \
	bfs check -r "$R" --read-data

ok_cmd "forget a1 a3 a4" bfs forget -r "$R" a1 a3 a4
ok_cmd "prune --max-unused 0 --grace 0" \
	bfs prune -r "$R" --max-unused 0 --grace 0
ok_cmd "check --read-data after prune" bfs check -r "$R" --read-data
ok_cmd "cat a2's view after prune" \
	bfs cat -r "$R" "a2:files/db/database.sql.d/public.b c.sql"
ok "$(cmp -s "$T/stdout" "$T/want/public.b c.sql"; echo $?)" \
	"prune kept the map a2 names"

ok_cmd "init a second repository" bfs init "$T/repo2"
ok_cmd "copy a2" bfs copy --from "$R" --to "$T/repo2" a2
ok_cmd "check --read-data of the copy" bfs check -r "$T/repo2" --read-data
ok_cmd "cat the view in the copy" \
	bfs cat -r "$T/repo2" a2:files/db/database.sql.d/_after.sql
ok "$(cmp -s "$T/stdout" "$T/want/_after.sql"; echo $?)" "copy carried the map"
done_testing
