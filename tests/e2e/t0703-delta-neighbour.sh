#!/bin/bash
# The neighbour base of the delta writer (issue 12 part 2,
# doc/PERFORMANCE.md "The neighbour base") on a real pg_dump: a table of
# generated orders is dumped and backed up (--stdin database.sql), 1 % of
# its rows updated (skewed to recent ids, as scripts/bench-delta does:
# PostgreSQL moves them to the end of the heap) and 1 % appended, dumped
# and backed up again.  The chunks of day 2 whose rows changed so that
# their sketch matches no chunk of day 1 get a delta on the chunk of
# day 1 after their neighbour's match: -vv counts them, and day 2
# stores at most BOUND bytes per MiB of dump (the same run stored 35893
# bytes per MiB before the neighbour base, 25016 with it).  The updates
# use a fixed random seed, so the run is the same every time.  Every delta
# names a whole data blob (depth 1); cat, restore and the mount give the
# day-2 dump byte for byte; check --read-data passes.  The repository is
# made version 4 (one base per frame), where the neighbour base is the
# fallback for chunks similar to nothing, with the 32 KiB dump chunks
# such a repository was made with.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

require_cmd jq jq
require_cmd zstd zstd
export XDG_CACHE_HOME=$T/cache
ROWS=20000 # a 2.5 MiB dump: small enough for CI as it is
BOUND=${BOUND:-30000} # bytes per MiB of the day-2 dump

start_postgres
orders_table shop || bail_out "cannot create the orders table"
gen() { orders_gen shop "$@"; } # gen FROM TO
gen 1 $ROWS || bail_out "cannot fill the table"
psql -X -q -d shop -c "vacuum analyze orders" || bail_out "vacuum failed"
pg_dump -d shop >"$T/day1.sql" || bail_out "pg_dump failed"
psql -X -q -d shop -c "select setseed(0.42)" -c "update orders set status = 'paid', amount = amount + 1
	where id in (select $ROWS - (random() ^ 3 * $ROWS)::bigint
		     from generate_series(1, $ROWS / 100))" >/dev/null ||
	bail_out "update failed"
gen $((ROWS + 1)) $((ROWS + ROWS / 100)) || bail_out "append failed"
pg_dump -d shop >"$T/day2.sql" || bail_out "pg_dump failed"

R=$T/repo
ok_cmd "init" bfs init "$R"
# version 4 with the dump chunker of the release that made version 4
# (32 KiB chunks): in a version-5 repository most chunks similar to
# nothing get a base by anchors first (t0704), and the neighbour base is
# what this test measures
jq -c '.version = 4 | .chunker.dump = {"min":8192,"avg":32768,"max":262144}' \
	"$R/config" >"$T/config4" && cp "$T/config4" "$R/config"
is "$(jq .version "$R/config")" "4" "the repository is version 4"
ok_cmd "day 1" bfs backup -r "$R" --id d1 --stdin database.sql <"$T/day1.sql"
s1=$(du -sb "$R" | cut -f1)
ok_cmd "day 2 (-vv)" bfs backup -vv -r "$R" --id d2 --stdin database.sql \
	<"$T/day2.sql"
s2=$(du -sb "$R" | cut -f1)
line=$(grep -o 'similarity deltas: .*' "$T/stderr")
diag "$line"
nb=$(sed -n 's/.*, \([0-9]*\) of them on the neighbour base.*/\1/p' <<<"$line")
ok "$([ "${nb:-0}" -gt 0 ] && echo 0 || echo 1)" \
	"chunks similar to nothing got a delta on the neighbour base (${nb:-none})"
grew=$((s2 - s1)) d2=$(stat -c %s "$T/day2.sql")
per_mib=$((grew * 1048576 / d2))
diag "day 2: $grew bytes stored for $d2 bytes of dump ($per_mib per MiB)"
ok "$([ "$per_mib" -le "$BOUND" ] && echo 0 || echo 1)" \
	"day 2 stores at most $BOUND bytes per MiB of dump ($per_mib)"

# every delta names a base that is a whole data blob (depth 1)
for i in "$R"/index/*; do zstd -dc <"$i"; done >"$T/index.jsonl"
jq -r '.blobs[] | "\(.[0]) \(.[1]) \(.[5] // "-")"' "$T/index.jsonl" \
	>"$T/blobs.txt"
awk '$2 == 0 { print $1 }' "$T/blobs.txt" | sort -u >"$T/whole.txt"
awk '$2 == 2 { print $3 }' "$T/blobs.txt" | sort -u >"$T/bases.txt"
ok "$([ -s "$T/bases.txt" ] && echo 0 || echo 1)" "day 2 holds deltas"
is "$(comm -23 "$T/bases.txt" "$T/whole.txt" | wc -l)" "0" \
	"every base is a whole data blob (decode depth 1)"

ok_cmd "cat d2" bash -c "\"\$BACKUPFS\" cat -r '$R' d2:database.sql >'$T/got.sql'"
ok "$(cmp -s "$T/day2.sql" "$T/got.sql"; echo $?)" "cat gives the day-2 dump byte for byte"
ok_cmd "restore d2" bfs restore -r "$R" d2 --target "$T/r"
ok "$(cmp -s "$T/day2.sql" "$T/r/database.sql"; echo $?)" "restore gives the same bytes"
ok_cmd "check --read-data" bfs check -r "$R" --read-data
if [ "$(id -u)" -eq 0 ] && command -v fusermount3 >/dev/null &&
	[ -c /dev/fuse ] && : 2>/dev/null <>/dev/fuse; then
	M=$T/mnt
	ok_cmd "mount" mount_repo "$R" "$M"
	ok "$(cmp -s "$T/day2.sql" "$M/d2/database.sql"; echo $?)" \
		"the mount gives the same bytes"
	unmount "$M"
else
	diag "no usable FUSE here: the mount read is not tried"
fi
done_testing
