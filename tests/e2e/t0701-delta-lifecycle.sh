#!/bin/bash
# Similarity deltas through the lifecycle (doc/FORMAT.md sections 14, 18,
# 19): two versions of a dump (--stdin database.sql, ~1 % of rows
# changed, 1 % appended), the second stored with deltas; forget the first
# and prune (grace 0, every pack repacked): the second still reads and
# checks (its bases kept); copy it to a new repository and to an
# encrypted one: it reads there; a backup after a --no-delta one still
# gets deltas (the --no-delta one records sketches and anchors); and the
# same two-backup flow, prune included, in an encrypted repository
# (sealed delta frames).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd jq jq
require_cmd zstd zstd
export XDG_CACHE_HOME=$T/cache BACKUPFS_TEST_KDF=fast
ROWS=60000
[ "${CI:-}" = true ] || ROWS=200000

# dump DAY: a pg_dump-like COPY block; day 2 changes 1 % of the rows
# (every 100th, offset by a hash) and appends 1 %
dump() {
	awk -v rows=$ROWS -v day="$1" 'BEGIN {
		print "COPY public.orders (id, customer, status, note) FROM stdin;"
		n = day == 2 ? rows + rows / 100 : rows
		for (i = 1; i <= n; i++) {
			st = (i % 4 == 0) ? "paid" : "new"
			if (day == 2 && (i * 7919) % 100 == 3)
				st = "refunded"
			printf "%d\t%d\t%s\torder %d of customer %d, %s\n", i,
				i % 7919, st, i, i % 7919, (i * 2654435761) % 4294967296
		}
		print "\\."
	}'
}
dump 1 >"$T/d1.sql"
dump 2 >"$T/d2.sql"
printf 'pw-%s\n' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/pw"

# blobs REPO: "id type base" of every blob its (plain) index objects list
blobs() {
	for i in "$1"/index/*; do zstd -dc <"$i"; done |
		jq -r '.blobs[] | "\(.[0]) \(.[1]) \(.[5] // "-")"'
}
# stored JSON: the stored bytes of a backup --json summary
stored() { jq -r '.stats.stored_bytes' "$T/stdout"; }

# two_days REPO [OPTIONS]: b1, b2; sets S1, S2 (stored bytes)
two_days() {
	local r=$1
	shift
	ok_cmd "$r: b1" bfs backup -r "$r" "$@" --id b1 --json \
		--stdin database.sql <"$T/d1.sql"
	S1=$(stored)
	ok_cmd "$r: b2" bfs backup -r "$r" "$@" --id b2 --json \
		--stdin database.sql <"$T/d2.sql"
	S2=$(stored)
}
# reads_b2 REPO WHAT [OPTIONS]: cat b2 gives day 2; check --read-data
reads_b2() {
	local r=$1 what=$2
	shift 2
	ok_cmd "$what: cat b2" bash -c "\"\$BACKUPFS\" cat -r '$r' $* b2:database.sql >'$T/got.sql'"
	ok "$(cmp -s "$T/got.sql" "$T/d2.sql"; echo $?)" "$what: b2's dump byte for byte"
	ok_cmd "$what: check --read-data" bfs check -r "$r" "$@" --read-data
}

# ---- a plain repository
R=$T/repo
ok_cmd "init" bfs init "$R"
two_days "$R"
diag "b1 stored $S1 bytes, b2 $S2"
ok "$([ $((S2 * 5)) -lt "$S1" ] && echo 0 || echo 1)" \
	"b2 stores under a fifth of b1 ($S2 < $S1 / 5)"
blobs "$R" >"$T/blobs"
ok "$([ "$(awk '$2 == 2' "$T/blobs" | wc -l)" -gt 0 ] && echo 0 || echo 1)" \
	"b2 holds delta blobs"
ok_cmd "forget b1" bfs forget -r "$R" b1
ok_cmd "prune (grace 0, repack all)" bfs prune -r "$R" --grace 0 --max-unused 0
blobs "$R" >"$T/blobs.after"
missing=0
for b in $(awk '$2 == 2 { print $3 }' "$T/blobs.after" | sort -u); do
	awk -v b="$b" '$1 == b && $2 == 0 { f = 1 } END { exit !f }' "$T/blobs.after" ||
		missing=$((missing + 1))
done
is "$missing" "0" "prune kept every base a delta names, whole"
ok "$([ "$(awk '$2 == 2' "$T/blobs.after" | wc -l)" -gt 0 ] && echo 0 || echo 1)" \
	"the repack kept the deltas as deltas"
reads_b2 "$R" "after prune"

# ---- a --no-delta backup stores its chunks whole but still records
# their sketches and anchors: the next backup takes its bases there
ND=$T/nodelta
ok_cmd "init (first day --no-delta)" bfs init "$ND"
ok_cmd "$ND: b1 --no-delta" bfs backup -r "$ND" --no-delta --id b1 --json \
	--stdin database.sql <"$T/d1.sql"
N1=$(stored)
ok_cmd "$ND: b2 with deltas" bfs backup -r "$ND" --id b2 --json \
	--stdin database.sql <"$T/d2.sql"
N2=$(stored)
diag "after a --no-delta b1 ($N1 bytes), b2 stored $N2"
ok "$([ $((N2 * 5)) -lt "$N1" ] && echo 0 || echo 1)" \
	"b2 after a --no-delta b1 stores under a fifth of it ($N2 < $N1 / 5)"
reads_b2 "$ND" "after a --no-delta b1"

# ---- copies: to a new plain repository and to an encrypted one
P=$T/copy
E=$T/enc
ok_cmd "init the copy" bfs init "$P"
ok_cmd "copy b2" bfs copy --from "$R" --to "$P" b2
reads_b2 "$P" "plain copy"
ok_cmd "init encrypted" bfs init --password-file "$T/pw" "$E"
ok_cmd "copy b2 -> encrypted" bfs copy --from "$R" --to "$E" \
	--to-password-file "$T/pw" b2
reads_b2 "$E" "encrypted copy" --password-file "$T/pw"

# ---- the same two days in an encrypted repository
E2=$T/enc2
N=$T/enc-nodelta
ok_cmd "init encrypted 2" bfs init --password-file "$T/pw" "$E2"
ok_cmd "init encrypted (no delta twin)" bfs init --password-file "$T/pw" "$N"
two_days "$E2" --password-file "$T/pw"
e2=$S2
two_days "$N" --password-file "$T/pw" --no-delta
diag "encrypted: b2 stored $e2 bytes with deltas, $S2 without"
ok "$([ $((e2 * 5)) -lt "$S2" ] && echo 0 || echo 1)" \
	"encrypted: b2 with deltas stores under a fifth of b2 without ($e2 < $S2 / 5)"
unlike "$(cat "$E2"/packs/*/* | grep -ac 'refunded')" "^[1-9]" \
	"encrypted: no plain text in the packs"
reads_b2 "$E2" "encrypted" --password-file "$T/pw"
ok_cmd "encrypted: forget b1" bfs forget -r "$E2" --password-file "$T/pw" b1
ok_cmd "encrypted: prune (grace 0, repack all)" bfs prune -r "$E2" \
	--password-file "$T/pw" --grace 0 --max-unused 0
rm -rf "$XDG_CACHE_HOME"
reads_b2 "$E2" "encrypted after prune" --password-file "$T/pw"
done_testing
