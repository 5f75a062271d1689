#!/bin/bash
# Similarity deltas end to end on a real pg_dump (issue 12 part 2,
# doc/FORMAT.md section 18): a table of generated orders is backed up
# (--pg-dump), ~1 % of its rows updated (skewed to recent ids) and 1 %
# appended, and backed up again.  The second backup stores far less than
# the same second backup with --no-delta; the packs hold type-2 blobs
# whose index entries name a base that is a whole data blob; cat,
# restore and the mount give the dump byte for byte (equal to the one
# stored whole); check --read-data passes.  Then the frame of one base
# is damaged: cat fails naming the base, and a read through the mount
# fails (EIO) with a log line naming it.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

require_cmd jq jq
require_cmd zstd zstd
export XDG_CACHE_HOME=$T/cache
ROWS=25000
[ "${CI:-}" = true ] || ROWS=120000

start_postgres
createdb shop || bail_out "createdb failed"
psql -X -q -d shop -c "create table orders (id bigint primary key,
	customer int, placed timestamptz, status text, amount numeric(10,2),
	note text)" || bail_out "create table failed"
gen() {	# gen FROM TO
	psql -X -q -d shop -c "insert into orders select g, g % 7919,
		timestamptz '2021-01-01' + g * interval '61 seconds',
		(array['new','paid','shipped','returned'])[g % 4 + 1],
		(g * 7907 % 1000000) / 100.0,
		'order ' || g || ' of customer ' || (g % 7919) || ': ' || md5(g::text)
		from generate_series($1::bigint, $2) g"
}
gen 1 $ROWS || bail_out "cannot fill the table"
uri=$(pg_uri shop)

R=$T/repo
N=$T/nodelta
ok_cmd "init" bfs init "$R"
ok_cmd "init (the --no-delta twin)" bfs init "$N"
ok_cmd "day 1" bfs backup -r "$R" --id d1 --pg-dump "$uri"
ok_cmd "day 1 (twin)" bfs backup -r "$N" --id d1 --pg-dump "$uri"

# day 2: 1 % updated, skewed to recent ids (PostgreSQL moves updated
# rows to the end of the heap: the changes scatter over the dump), 1 %
# appended
psql -X -q -d shop -c "update orders set status = 'refunded',
	note = note || ' (refund)' where id in (select $ROWS - (random() ^ 3
	* $ROWS)::bigint from generate_series(1, $ROWS / 100))" ||
	bail_out "update failed"
gen $((ROWS + 1)) $((ROWS + ROWS / 100)) || bail_out "append failed"

s1=$(du -sb "$R" | cut -f1)
ok_cmd "day 2" bfs backup -r "$R" --id d2 --pg-dump "$uri"
s2=$(du -sb "$R" | cut -f1)
n1=$(du -sb "$N" | cut -f1)
ok_cmd "day 2 --no-delta (twin)" bfs backup -r "$N" --id d2 --no-delta \
	--pg-dump "$uri"
n2=$(du -sb "$N" | cut -f1)
with=$((s2 - s1)) without=$((n2 - n1))
diag "day 2 stored $with bytes with deltas, $without without"
ok "$([ $((with * 4)) -lt "$without" ] && echo 0 || echo 1)" \
	"day 2 with deltas stores under a quarter of day 2 without ($with < $without / 4)"

# the index objects: type-2 entries with a 6th element naming a base
# that is a whole data blob (type 0) of the repository
for i in "$R"/index/*; do zstd -dc <"$i"; done >"$T/index.jsonl"
jq -r '.pack as $p | .blobs[] | "\(.[0]) \(.[1]) \($p) \(.[2]) \(.[3]) \(.[5] // "-")"' \
	"$T/index.jsonl" >"$T/blobs.txt"
ndelta=$(awk '$2 == 2' "$T/blobs.txt" | wc -l)
ok "$([ "$ndelta" -gt 0 ] && echo 0 || echo 1)" "the packs hold type-2 (delta) blobs ($ndelta)"
is "$(awk '$2 == 2 && $6 == "-"' "$T/blobs.txt" | wc -l)" "0" \
	"every type-2 entry names its base"
bad=0
for base in $(awk '$2 == 2 { print $6 }' "$T/blobs.txt" | sort -u); do
	[ "$(awk -v b="$base" '$1 == b { print $2 }' "$T/blobs.txt" | head -1)" = 0 ] || bad=$((bad + 1))
done
is "$bad" "0" "every base is a whole data blob (decode depth 1)"

# reads: cat gives the dump the twin stored whole; restore and the
# mount give the same bytes as cat
ok_cmd "cat d2 (twin, no deltas)" bash -c \
	"\"\$BACKUPFS\" cat -r '$N' d2:database.sql >'$T/want.sql'"
ok_cmd "cat d2" bash -c "\"\$BACKUPFS\" cat -r '$R' d2:database.sql >'$T/got.sql'"
# pg_dump's \restrict key is random per run: compared without it
norm() { grep -v '^\\\(un\)\{0,1\}restrict ' "$1"; }
ok "$(cmp -s <(norm "$T/want.sql") <(norm "$T/got.sql"); echo $?)" \
	"cat gives the dump byte for byte (as the twin stored it whole)"
ok "$(grep -q "refund" "$T/got.sql"; echo $?)" "... the day-2 dump (updated rows in it)"
ok_cmd "restore d2" bfs restore -r "$R" d2 --target "$T/r"
ok "$(cmp -s "$T/got.sql" "$T/r/database.sql"; echo $?)" "restore gives the same bytes"
ok_cmd "check --read-data" bfs check -r "$R" --read-data
have_fuse=0
if [ "$(id -u)" -eq 0 ] && command -v fusermount3 >/dev/null &&
	[ -c /dev/fuse ] && : 2>/dev/null <>/dev/fuse; then
	have_fuse=1
	M=$T/mnt
	ok_cmd "mount" mount_repo "$R" "$M"
	ok "$(cmp -s "$T/got.sql" "$M/d2/database.sql"; echo $?)" \
		"the mount gives the same bytes"
	unmount "$M"
else
	diag "no usable FUSE here: the mount reads are not tried"
fi

# damage one base's frame (the one most deltas use)
base=$(awk '$2 == 2 { print $6 }' "$T/blobs.txt" | sort | uniq -c | sort -rn |
	awk 'NR == 1 { print $2 }')
read -r _ _ pack off clen _ < <(awk -v b="$base" '$1 == b' "$T/blobs.txt" | head -1)
printf '\xde\xad\xbe\xef' | dd of="$R/packs/${pack:0:2}/$pack" bs=1 \
	seek=$((off + clen / 2)) conv=notrunc status=none
rm -rf "$XDG_CACHE_HOME"
fails_with 1 "cat d2 with a damaged base fails" bfs cat -r "$R" d2:database.sql
like "$(cat "$T/stderr")" "delta base $base" "the message names the base"
if [ $have_fuse = 1 ]; then
	ok_cmd "mount (damaged base)" mount_repo "$R" "$M" --log-file "$T/m.log"
	timeout 60 cat "$M/d2/database.sql" >/dev/null 2>"$T/cat.err"
	is "$?" "1" "a read through the mount fails"
	like "$(cat "$T/cat.err")" "Input/output error" "... with EIO"
	ok "$(wait_until 5 grep -qF "delta base $base" "$T/m.log"; echo $?)" \
		"the mount's log names the base"
	unmount "$M"
fi
done_testing
