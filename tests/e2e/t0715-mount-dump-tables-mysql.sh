#!/bin/bash
# database.sql.d/ in the mount (issue 12 part 1) on Sakila (MariaDB):
# backup --mysql-dump, mount; MNT/latest/sakila.sql.d lists a file per
# table, each equal to `backupfs cat ID:sakila.sql.d/FILE` with its size
# in stat; two tables loaded straight from the mount (mariadb <
# _before.sql, then < the table's file) into an empty database equal the
# source row for row.  Then, without a server: a directory of 300 small
# dumps lists every dump and its view completely, in any getdents buffer
# (a listing resumes between a dump and its NAME.d), a hardlinked dump
# shows the view under both names, and a real entry NAME.d wins over the
# view.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

require_root_fuse
start_mariadb
load_sakila
R=$T/repo
M=$T/mnt
ok_cmd "init" bfs init "$R"
ok_cmd "backup --mysql-dump" bfs backup -r "$R" --id m1 --mysql-dump "$(my_uri sakila)"
bfs ls -r "$R" m1:sakila.sql.d >"$T/files" || bail_out "ls m1:sakila.sql.d"
ok_cmd "mount" mount_repo_fg "$R" "$M" "$T/mount.log"
D=$M/latest/sakila.sql.d
is "$(ls -U "$D" | tr '\n' ' ')" "$(tr '\n' ' ' <"$T/files")" \
	"MNT/latest/sakila.sql.d lists backupfs ls's files, in map order"
is "$(grep -c '^sakila\..*\.sql$' "$T/files")" 16 "a file per table"
bad=0
while IFS= read -r f; do
	bfs cat -r "$R" "m1:sakila.sql.d/$f" >"$T/want" 2>"$T/err" ||
		{ diag "cat $f: $(cat "$T/err")"; bad=$((bad + 1)); continue; }
	if ! cmp -s "$D/$f" "$T/want" ||
		[ "$(stat -c %s "$D/$f")" != "$(stat -c %s "$T/want")" ]; then
		diag "$f differs from backupfs cat (or its size does)"
		bad=$((bad + 1))
	fi
done <"$T/files"
is "$bad" 0 "every file equals backupfs cat's, size in stat too"

bad=0
for t in actor film; do
	my -e "drop database if exists one; create database one" &&
		my one <"$D/_before.sql" && my one <"$D/sakila.$t.sql" ||
		{ diag "$t does not load from the mount"; bad=$((bad + 1)); continue; }
	a=$(my -N -B -e "select * from sakila.\`$t\`" | LC_ALL=C sort | md5sum)
	b=$(my -N -B -e "select * from one.\`$t\`" | LC_ALL=C sort | md5sum)
	c=$(my -N -B -e "select count(*) from one.\`$t\`")
	if [ "$a" != "$b" ] || [ "${c:-0}" -eq 0 ]; then
		diag "$t: restored from the mount differs ($c rows)"
		bad=$((bad + 1))
	fi
done
is "$bad" 0 "actor and film load from the mount alone (after _before.sql) and equal the source"
unmount "$M"

# ---- many dumps in one directory, a hardlink, a name collision
S=$T/src
mkdir -p "$S/dumps"
cat >"$T/small.sql" <<'SQL'
--
-- PostgreSQL database dump
--

SET client_encoding = 'UTF8';

--
-- Name: a; Type: TABLE; Schema: public; Owner: x
--

CREATE TABLE public.a (id integer NOT NULL);

--
-- Data for Name: a; Type: TABLE DATA; Schema: public; Owner: x
--

COPY public.a (id) FROM stdin;
1
\.

--
-- PostgreSQL database dump complete
--

SQL
for i in $(seq -w 1 300); do cp "$T/small.sql" "$S/dumps/d$i.sql"; done
ln "$S/dumps/d001.sql" "$S/dumps/h-link.sql"
mkdir "$S/dumps/d002.sql.d" # a real entry of the view's name
echo mine >"$S/dumps/d002.sql.d/own.txt"
ok_cmd "backup --files (300 dumps)" bfs backup -r "$R" --id f1 --files "$S"
ok_cmd "mount" mount_repo_fg "$R" "$M" "$T/mount2.log"
F=$M/f1/files/dumps
(cd "$S/dumps" && for f in *.sql; do echo "$f"; [ "$f" = d002.sql ] || echo "$f.d"; done
	echo d002.sql.d) | LC_ALL=C sort >"$T/want"
is "$(ls -f "$F" | grep -v '^\.\.\?$' | LC_ALL=C sort | md5sum)" "$(md5sum <"$T/want")" \
	"ls -f: every dump and its view once, in pages of any size"
is "$(ls -U "$F" | grep -c '\.sql\.d$')" 301 "301 NAME.d (300 views and one real directory)"
is "$(ls "$F/d002.sql.d")" "own.txt" "a real entry NAME.d wins over the view"
is "$(ls -U "$F/h-link.sql.d" | tr '\n' ' ')" "_before.sql public.a.sql _after.sql " \
	"a hardlinked dump has its view too"
ok "$(cmp -s "$F/h-link.sql.d/public.a.sql" "$F/d003.sql.d/public.a.sql"; echo $?)" \
	"... with the same bytes"
is "$(find "$F" ! -name h-link.sql -printf '%i\n' | sort | uniq -d | head -n 3)" "" \
	"no inode number twice among the dumps, views and their files"
done_testing
