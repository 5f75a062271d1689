#!/bin/bash
# Delta frames on two bases (format 5, doc/FORMAT.md 18 "Anchor blob",
# 18.2) written by the delta writer from a real pg_dump: a table of
# generated orders is dumped and backed up (--stdin database.sql), then
# 2 % of its rows, spread over the whole table, are updated (PostgreSQL
# writes each updated row at the end of the heap, so the dump's tail
# holds rows of many day-1 chunks and the chunks they left changed) and
# 1 % appended, dumped and backed up again.  The same two days go into a
# version-5 repository (init) and a version-4 one (the same config with
# "version" 4, as format-4 init wrote it).
#
# Version 5: the dump file gets an anchor blob ("sa", in the catalog's
# entries.sa) next to its "sk"; -vv counts chunks stored on two bases and
# the index objects hold type-3 entries, each naming two distinct whole
# data blobs (decode depth 1); day 2 stores less than in the version-4
# repository, which holds no type-3 entry and no "sa".  cat, restore and
# the mount give the day-2 dump byte for byte; check --read-data passes
# in both.  A .sql file backed up from a directory twice, unchanged,
# keeps its "sa" (the reused entry names the same blob).  The updates use
# a fixed random seed, so the run is the same every time.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

require_cmd jq jq
require_cmd zstd zstd
require_cmd sqlite3 sqlite3
export XDG_CACHE_HOME=$T/cache
if [ -n "${CI:-}" ]; then
	ROWS=20000 # a 2.5 MiB dump
else
	ROWS=60000 # 7.5 MiB
fi

start_postgres
orders_table shop || bail_out "cannot create the orders table"
gen() { orders_gen shop "$@"; } # gen FROM TO
gen 1 $ROWS || bail_out "cannot fill the table"
psql -X -q -d shop -c "vacuum analyze orders" || bail_out "vacuum failed"
pg_dump -d shop >"$T/day1.sql" || bail_out "pg_dump failed"
# uniform over the ids: every part of the table loses rows to its end
psql -X -q -d shop -c "select setseed(0.7)" -c "update orders set status = 'paid', amount = amount + 1
	where id in (select 1 + (random() * ($ROWS - 1))::bigint
		     from generate_series(1, $ROWS / 50))" >/dev/null ||
	bail_out "update failed"
gen $((ROWS + 1)) $((ROWS + ROWS / 100)) || bail_out "append failed"
pg_dump -d shop >"$T/day2.sql" || bail_out "pg_dump failed"

# index_blobs REPO: one line per index entry: id type base...
index_blobs() {
	for i in "$1"/index/*; do zstd -dc <"$i"; done |
		jq -r '.blobs[] | [.[0], (.[1] | tostring)] +
			(if .[5] == null then [] elif (.[5] | type) == "array"
			 then .[5] else [.[5]] end) | join(" ")'
}

# two_days REPO CATALOG: day 1 and day 2 (-vv); sets grew (day 2's bytes)
two_days() {
	local r=$1 c=$2 s1
	ok_cmd "$r: day 1" bfs backup -r "$r" --catalog "$c" --id d1 \
		--stdin database.sql <"$T/day1.sql"
	s1=$(du -sb "$r" | cut -f1)
	ok_cmd "$r: day 2 (-vv)" bfs backup -vv -r "$r" --catalog "$c" \
		--id d2 --stdin database.sql <"$T/day2.sql"
	grew=$(($(du -sb "$r" | cut -f1) - s1))
	line=$(grep -o 'similarity deltas: .*' "$T/stderr")
	diag "$line"
	ok_cmd "$r: list (the catalog has both days)" bfs list -r "$r" --catalog "$c"
}

R5=$T/r5 R4=$T/r4
ok_cmd "init (version 5)" bfs init "$R5"
is "$(jq .version "$R5/config")" "5" "init makes version 5"
ok_cmd "init" bfs init "$R4"
jq -c '.version = 4' "$R4/config" >"$T/config4" && cp "$T/config4" "$R4/config"
is "$(jq .version "$R4/config")" "4" "the second repository is version 4"

two_days "$R5" "$T/c5.db"
grew5=$grew
two=$(sed -n 's/.*, \([0-9]*\) on two bases.*/\1/p' <<<"$line")
ok "$([ "${two:-0}" -gt 0 ] && echo 0 || echo 1)" \
	"-vv: chunks of day 2 stored on two bases (${two:-none})"
index_blobs "$R5" >"$T/blobs5.txt"
awk '$2 == 0 { print $1 }' "$T/blobs5.txt" | sort -u >"$T/whole.txt"
n3=$(awk '$2 == 3' "$T/blobs5.txt" | wc -l)
ok "$([ "$n3" -gt 0 ] && echo 0 || echo 1)" \
	"the index holds type-3 entries ($n3)"
is "$(awk '$2 == 3 && (NF != 4 || $3 == $4 || $3 == $1 || $4 == $1)' \
	"$T/blobs5.txt" | wc -l)" "0" \
	"each names two distinct bases, neither itself"
awk '$2 == 3 { print $3; print $4 } $2 == 2 { print $3 }' "$T/blobs5.txt" |
	sort -u >"$T/bases.txt"
is "$(comm -23 "$T/bases.txt" "$T/whole.txt" | wc -l)" "0" \
	"every base is a whole data blob (decode depth 1)"
is "$(sqlite3 "$T/c5.db" "SELECT count(*) FROM entries
	WHERE name = CAST('database.sql' AS BLOB) AND length(sa) = 32")" "2" \
	"both days' dump entries name an anchor blob"

two_days "$R4" "$T/c4.db"
grew4=$grew
index_blobs "$R4" >"$T/blobs4.txt"
is "$(awk '$2 == 3' "$T/blobs4.txt" | wc -l)" "0" \
	"version 4: no type-3 entry"
ok "$([ "$(awk '$2 == 2' "$T/blobs4.txt" | wc -l)" -gt 0 ] && echo 0 || echo 1)" \
	"version 4: one-base deltas"
is "$(sqlite3 "$T/c4.db" "SELECT count(*) FROM entries WHERE sa IS NOT NULL")" \
	"0" "version 4: no anchor blob"
d2=$(stat -c %s "$T/day2.sql")
diag "day 2 of $d2 bytes of dump: $grew5 bytes stored at version 5 ($((grew5 * 1048576 / d2)) per MiB), $grew4 at version 4 ($((grew4 * 1048576 / d2)) per MiB)"
ok "$([ "$grew5" -lt "$grew4" ] && echo 0 || echo 1)" \
	"two bases store day 2 in less than one base does ($grew5 < $grew4)"

for r in "$R5" "$R4"; do
	ok_cmd "$r: cat d2" bash -c "\"\$BACKUPFS\" cat -r '$r' d2:database.sql >'$T/got.sql'"
	ok "$(cmp -s "$T/day2.sql" "$T/got.sql"; echo $?)" \
		"$r: cat gives the day-2 dump byte for byte"
	ok_cmd "$r: check --read-data" bfs check -r "$r" --read-data
done
rm -rf "$T/r"
ok_cmd "restore d2" bfs restore -r "$R5" d2 --target "$T/r"
ok "$(cmp -s "$T/day2.sql" "$T/r/database.sql"; echo $?)" "restore gives the same bytes"
if [ "$(id -u)" -eq 0 ] && command -v fusermount3 >/dev/null &&
	[ -c /dev/fuse ] && : 2>/dev/null <>/dev/fuse; then
	M=$T/mnt
	ok_cmd "mount" mount_repo "$R5" "$M"
	ok "$(cmp -s "$T/day2.sql" "$M/d2/database.sql"; echo $?)" \
		"the mount gives the same bytes"
	unmount "$M"
else
	diag "no usable FUSE here: the mount read is not tried"
fi

# an unchanged .sql file of a changed directory is reused with its "sa"
mkdir -p "$T/src"
cp "$T/day2.sql" "$T/src/shop.sql"
touch -d 2020-01-01 "$T/src/shop.sql" # not racily new: reusable
ok_cmd "directory, first" bfs backup -r "$R5" --catalog "$T/c5.db" --id f1 --files "db=$T/src"
echo new >"$T/src/new.txt" # the directory changed, shop.sql did not
ok_cmd "directory, shop.sql unchanged (-vv)" bfs backup -vv -r "$R5" --catalog "$T/c5.db" --id f2 --files "db=$T/src"
like "$(cat "$T/stderr")" "unchanged '[^']*shop.sql'" "the file is reused, not read"
ok_cmd "list" bfs list -r "$R5" --catalog "$T/c5.db"
is "$(sqlite3 "$T/c5.db" "SELECT count(DISTINCT coalesce(hex(sa), 'none'))
	FROM entries WHERE name = CAST('shop.sql' AS BLOB)")" "1" \
	"the reused file names the same anchor blob"
is "$(sqlite3 "$T/c5.db" "SELECT count(*) FROM entries
	WHERE name = CAST('shop.sql' AS BLOB) AND length(sa) IS NOT 32")" "0" \
	"... and names one"
ok_cmd "check after the reuse" bfs check -r "$R5"
done_testing
