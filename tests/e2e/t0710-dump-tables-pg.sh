#!/bin/bash
# database.sql.d on pagila (PostgreSQL 15, issue 12 part 1): the dump
# scanner's split of a real pg_dump.  Each table file alone, after
# _before.sql, into an empty database gives that table's rows (count and
# md5 of the sorted rows equal the source); _before + every table +
# _after loads with ON_ERROR_STOP into an empty database and equals the
# source table by table, with the same indexes, constraints, triggers,
# views and sequence values.  The map does not depend on how the dump is
# cut into pieces.  Through a repository (backup --pg-dump): ls, cat and
# restore of database.sql.d give the split of the stored dump byte for
# byte, and the loads above run on the files `cat` wrote.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

TOOL=$top_builddir/tests/unit/dumpmap-tool
start_postgres
load_pagila pagila
pg_dump -d pagila >"$T/pagila.sql" || bail_out "pg_dump failed"
mkdir "$T/d"
ok_cmd "split the dump" bash -c "'$TOOL' split '$T/pagila.sql' '$T/d' >'$T/files' 2>'$T/ranges'"
is "$(head -n 1 "$T/files")" "_before.sql" "_before.sql comes first"
is "$(tail -n 1 "$T/files")" "_after.sql" "_after.sql comes last"
is "$(grep -c '^public\..*\.sql$' "$T/files")" 22 "one file per table (22 with the partitions)"
is "$("$TOOL" map "$T/pagila.sql" 1 | md5sum)" "$("$TOOL" map "$T/pagila.sql" | md5sum)" \
	"the map is the same fed a byte at a time"
is "$("$TOOL" map "$T/pagila.sql" 4093 | md5sum)" "$("$TOOL" map "$T/pagila.sql" | md5sum)" \
	"the map is the same fed 4093 bytes at a time"

# ---- through a repository: backup --pg-dump, ls / cat / restore the view
R=$T/repo
ok_cmd "init" bfs init "$R"
ok_cmd "backup --pg-dump" bfs backup -r "$R" --id p1 --pg-dump "$(pg_uri pagila)"
bfs cat -r "$R" p1:database.sql >"$T/stored.sql" || bail_out "cat database.sql"
mkdir "$T/s" "$T/c"
"$TOOL" split "$T/stored.sql" "$T/s" >"$T/sfiles" 2>/dev/null || bail_out "split the stored dump"
ok_cmd "ls p1:database.sql.d" bfs ls -r "$R" p1:database.sql.d
is "$(cat "$T/stdout")" "$(cat "$T/sfiles")" "ls lists the split's files, in order"
bad=0
while IFS= read -r f; do
	bfs cat -r "$R" "p1:database.sql.d/$f" >"$T/c/$f" 2>"$T/err" &&
		cmp -s "$T/c/$f" "$T/s/$f" || { diag "$f: $(cat "$T/err")"; bad=$((bad + 1)); }
done <"$T/sfiles"
is "$bad" 0 "cat of each view file equals the stored dump's split"
ok_cmd "restore p1:database.sql.d --target" bfs restore -r "$R" p1:database.sql.d --target "$T/r"
ok "$(diff -r "$T/r/database.sql.d" "$T/s" >&2; echo $?)" "restore writes the same files"

psqlq() {
	psql -X -q -v ON_ERROR_STOP=1 "$@" >/dev/null
}
# only_digest DB TABLE: count and md5 of the table's own rows
only_digest() {
	psql -X -At -d "$1" -c "select count(*) || ' ' || coalesce(md5(string_agg(x, E'\n' order by x collate \"C\")), '-')
		from (select r::text as x from only $2 r) s"
}
# objects DB: indexes, constraints, triggers, views, sequence values
objects() {
	psql -X -At -d "$1" -c "
	select 'index ' || indexrelid::regclass from pg_index i join pg_class c on c.oid = i.indrelid
		join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public'
	union all select 'constraint ' || conname || ' ' || contype::text from pg_constraint c
		join pg_namespace n on n.oid = c.connamespace where n.nspname = 'public'
	union all select 'trigger ' || tgname from pg_trigger where not tgisinternal
	union all select 'view ' || viewname from pg_views where schemaname = 'public'
	union all select 'matview ' || matviewname from pg_matviews
	union all select 'seq ' || sequencename || ' ' || coalesce(last_value, 0) from pg_sequences
	union all select 'function ' || proname from pg_proc p join pg_namespace n
		on n.oid = p.pronamespace where n.nspname = 'public'
	order by 1"
}

bad=0
n=0
createdb one || bail_out "createdb one"
while IFS= read -r f; do
	case $f in _before.sql | _after.sql) continue ;; esac
	t=${f%.sql}
	n=$((n + 1))
	# an empty database each time (cheaper than createdb)
	psqlq -d one -c "drop schema public cascade" -c "create schema public" &&
		psqlq -d one -f "$T/c/_before.sql" &&
		psqlq -d one -f "$T/c/$f" || { diag "$f does not load"; bad=$((bad + 1)); continue; }
	a=$(only_digest pagila "$t")
	b=$(only_digest one "$t")
	if [ "$a" != "$b" ] || [ -z "$a" ]; then
		diag "$t: source '$a', restored alone '$b'"
		bad=$((bad + 1))
	fi
done <"$T/sfiles"
is "$bad" 0 "each of the $n table files alone, after _before.sql, restores its table"

ok_cmd "createdb whole" createdb whole
ok_cmd "_before + all tables + _after loads with ON_ERROR_STOP" \
	bash -c "cd '$T/c' && cat \$(cat '$T/sfiles') | psql -X -q -v ON_ERROR_STOP=1 -d whole >/dev/null"
a=$(pg_table_digest pagila)
is "$(pg_table_digest whole)" "$a" "the concatenation equals the source, table by table"
is "$(objects whole)" "$(objects pagila)" "same indexes, constraints, triggers, views, sequences, functions"
ok "$([ "$(objects pagila | wc -l)" -gt 100 ]; echo $?)" "the object list is not empty"
done_testing
