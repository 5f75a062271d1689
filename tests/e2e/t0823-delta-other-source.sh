#!/bin/bash
# A dump's similarity bases when its own source has no earlier backup
# (issue 12 part 2): the writer looks for them in the newest backup whose
# source had the same destination, whatever its kind or spec (the same
# job's backups first).  So:
#   - a dump backed up with --stdin database.sql, then with --pg-dump
#     (another source: scripts/bench did this and stored the whole dump
#     again) gets deltas on day 1's chunks;
#   - so does a --pg-dump whose connection string changed (here a
#     parameter added: the same for a container with a new address);
#   - a --command at that destination whose output is unrelated data
#     finds no similar chunk there and is stored whole;
#   - in a repository two jobs share, a job's dump looks in its own
#     backups first: job a's --pg-dump after its --stdin gets deltas
#     although job b backed up unrelated data at database.sql since;
# each read back byte for byte, and check --read-data passes.  Day 2 is
# a real pg_dump: 1 % of the rows updated (PostgreSQL moves them) and 1 %
# appended, so without bases nearly every chunk would be new.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd jq jq
export XDG_CACHE_HOME=$T/cache
ROWS=40000 # a 5 MiB dump

start_postgres
orders_table shop || bail_out "cannot create the orders table"
gen() { orders_gen shop "$@"; } # gen FROM TO
# change: 1 % of the rows updated (spread), 1 % appended
change() {
	psql -X -q -d shop -c "update orders set amount = amount + 1
		where id % 100 = $1" >/dev/null || bail_out "update failed"
	local n
	n=$(psql -X -At -d shop -c "select max(id) from orders")
	gen $((n + 1)) $((n + ROWS / 100)) || bail_out "append failed"
}
gen 1 $ROWS || bail_out "cannot fill the table"
psql -X -q -d shop -c "vacuum analyze orders" || bail_out "vacuum failed"

R=$T/repo
ok_cmd "init" bfs init "$R"
size() { du -sb "$R" | cut -f1; }
# grew_small BEFORE DUMP WHAT: the repository grew by at most 5 % of the
# dump's size (stored whole it grows by about a third of it)
grew_small() {
	local grew=$(($(size) - $1)) d
	d=$(stat -c %s "$2")
	diag "$3: the repository grew by $grew bytes for a $d-byte dump"
	ok "$([ $((grew * 20)) -le "$d" ] && echo 0 || echo 1)" \
		"$3 is stored as deltas ($grew bytes for $d)"
}
# same ID FILE WHAT: cat of ID's database.sql is FILE byte for byte (a
# pg_dump of each run but its \restrict key, which is random)
same() {
	"$BACKUPFS" cat -r "$R" "$1:database.sql" >"$T/got.sql" 2>"$T/cat.err"
	ok "$(cmp -s <(strip_pg_restrict "$2") <(strip_pg_restrict "$T/got.sql"); echo $?)" \
		"$3: cat gives the dump byte for byte"
}

pg_dump -d shop >"$T/d1.sql" || bail_out "pg_dump failed"
ok_cmd "day 1 (--stdin database.sql)" bfs backup -r "$R" --id d1 \
	--stdin database.sql <"$T/d1.sql"

change 1
s=$(size)
# no password in the URI: the server's is in $PGPASSFILE
uri=postgresql://postgres@127.0.0.1:$PGPORT/shop
ok_cmd "day 2 (--pg-dump, another source)" bfs backup -vv -r "$R" --id d2 \
	--pg-dump "$uri"
line=$(grep -o 'similarity deltas: .*' "$T/stderr")
diag "${line:-no deltas}"
ok "$([ -n "$line" ] && echo 0 || echo 1)" "day 2's chunks got deltas on day 1's"
pg_dump -d shop >"$T/d2.sql" || bail_out "pg_dump failed"
grew_small "$s" "$T/d2.sql" "day 2"
same d2 "$T/d2.sql" "day 2"

change 2
s=$(size)
ok_cmd "day 3 (--pg-dump, a changed connection string)" \
	bfs backup -r "$R" --id d3 --pg-dump "$uri?connect_timeout=10"
specs=$(bfs show -r "$R" --json d2 | jq -r '.sources[].spec'; bfs show -r "$R" --json d3 | jq -r '.sources[].spec')
diag "sources: $(echo $specs)"
is "$(sort -u <<<"$specs" | wc -l)" "2" "days 2 and 3 are two sources"
pg_dump -d shop >"$T/d3.sql" || bail_out "pg_dump failed"
grew_small "$s" "$T/d3.sql" "day 3"
same d3 "$T/d3.sql" "day 3"

# unrelated data at the same destination: no base is similar, so it is
# stored whole (and right)
head -c 2000000 /dev/urandom | od -An -tx1 >"$T/other.sql"
s=$(size)
ok_cmd "another dump at database.sql (--command)" \
	bfs backup -r "$R" --id o1 --command "database.sql=cat '$T/other.sql'"
grew=$(($(size) - s))
ok "$([ $((grew * 3)) -ge "$(stat -c %s "$T/other.sql")" ] && echo 0 || echo 1)" \
	"unrelated data finds no base: stored whole ($grew bytes)"
same o1 "$T/other.sql" "the unrelated dump"

# two jobs: a's dump, then b's unrelated data at the same destination,
# then a's dump from another source (a spec no backup had)
change 3
pg_dump -d shop >"$T/a1.sql" || bail_out "pg_dump failed"
ok_cmd "job a: --stdin" bfs backup -r "$R" --id a1 --job a \
	--stdin database.sql <"$T/a1.sql"
head -c 2000000 /dev/urandom | od -An -tx1 >"$T/other2.sql"
ok_cmd "job b, since: unrelated data at database.sql" \
	bfs backup -r "$R" --id b1 --job b --command "database.sql=cat '$T/other2.sql'"
change 4
s=$(size)
ok_cmd "job a: --pg-dump" bfs backup -r "$R" --id a2 --job a \
	--pg-dump "$uri?application_name=a"
pg_dump -d shop >"$T/a2.sql" || bail_out "pg_dump failed"
grew_small "$s" "$T/a2.sql" "job a's second dump (its own backup before job b's)"
same a2 "$T/a2.sql" "job a's second dump"

ok_cmd "check --read-data" bfs check -r "$R" --read-data
done_testing
