#!/bin/bash
# database.sql.d on Sakila (MariaDB 10.11, issue 12 part 1): the dump
# scanner's split of a real mariadb-dump (routines, triggers, events,
# views).  Each table file alone, after _before.sql, into an empty
# database gives that table's rows; _before + every table + _after equals
# the source table by table with the same views, routines and triggers.
# Through a repository (backup --mysql-dump): ls and cat of
# sakila.sql.d give the split of the stored dump byte for byte.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

TOOL=$top_builddir/tests/unit/dumpmap-tool
start_mariadb
load_sakila
my_dump --single-transaction --routines --triggers --events --hex-blob sakila \
	>"$T/sakila.sql" || bail_out "mariadb-dump failed"
mkdir "$T/d"
ok_cmd "split the dump" bash -c "'$TOOL' split '$T/sakila.sql' '$T/d' >'$T/files' 2>'$T/ranges'"
is "$(grep -c '^sakila\..*\.sql$' "$T/files")" 16 "one file per table"
is "$("$TOOL" map "$T/sakila.sql" 1 | md5sum)" "$("$TOOL" map "$T/sakila.sql" | md5sum)" \
	"the map is the same fed a byte at a time"
like "$(head -c 2000 "$T/d/sakila.film.sql")" "SET @OLD_FOREIGN_KEY_CHECKS" \
	"a table file starts with the preamble's guards"
like "$(tail -c 600 "$T/d/sakila.film.sql")" "SET SQL_NOTES=@OLD_SQL_NOTES" \
	"a table file ends with the trailer"
unlike "$(cat "$T/d/sakila.film.sql")" "TRIGGER" "the film triggers are not in film's file"
like "$(cat "$T/d/_after.sql")" "TRIGGER .ins_film" "they are in _after.sql"

R=$T/repo
ok_cmd "init" bfs init "$R"
ok_cmd "backup --mysql-dump" bfs backup -r "$R" --id m1 --mysql-dump "$(my_uri sakila)"
bfs cat -r "$R" m1:sakila.sql >"$T/stored.sql" || bail_out "cat sakila.sql"
mkdir "$T/s"
"$TOOL" split "$T/stored.sql" "$T/s" >"$T/sfiles" 2>/dev/null || bail_out "split the stored dump"
ok_cmd "ls m1:sakila.sql.d" bfs ls -r "$R" m1:sakila.sql.d
is "$(cat "$T/stdout")" "$(cat "$T/sfiles")" "ls lists the split's files, in order"
is "$(grep -c '^sakila\..*\.sql$' "$T/sfiles")" 16 "the stored dump has a file per table too"
bad=0
while IFS= read -r f; do
	bfs cat -r "$R" "m1:sakila.sql.d/$f" 2>"$T/err" | cmp -s - "$T/s/$f" ||
		{ diag "$f: $(cat "$T/err")"; bad=$((bad + 1)); }
done <"$T/sfiles"
is "$bad" 0 "cat of each view file equals the stored dump's split"

bad=0
n=0
while IFS= read -r f; do
	case $f in _before.sql | _after.sql) continue ;; esac
	t=${f#sakila.}
	t=${t%.sql}
	n=$((n + 1))
	my -e "drop database if exists one; create database one" &&
		my one <"$T/d/_before.sql" && my one <"$T/d/$f" ||
		{ diag "$f does not load"; bad=$((bad + 1)); continue; }
	a=$(my -N -B -e "select * from sakila.\`$t\`" | LC_ALL=C sort | md5sum)
	b=$(my -N -B -e "select * from one.\`$t\`" | LC_ALL=C sort | md5sum)
	c=$(my -N -B -e "select count(*) from one.\`$t\`")
	if [ "$a" != "$b" ]; then
		diag "$t: the table restored alone differs ($c rows)"
		bad=$((bad + 1))
	fi
done <"$T/files"
is "$bad" 0 "each of the $n table files alone, after _before.sql, restores its table"

ok_cmd "create database whole" my -e "create database whole"
ok_cmd "_before + all tables + _after loads" \
	bash -c "cd '$T/d' && cat \$(cat '$T/files') | mariadb --defaults-extra-file='$MY_CNF' whole"
is "$(my_table_digest whole)" "$(my_table_digest sakila)" \
	"the concatenation equals the source, table by table"
is "$(my_object_counts whole)" "$(my_object_counts sakila)" \
	"same numbers of tables, views, routines, triggers, events"
done_testing
