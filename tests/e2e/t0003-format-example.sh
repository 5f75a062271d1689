#!/bin/bash
# doc/FORMAT.md's worked example, run as written: its "example-extract"
# block gets files out of a repository the program wrote with nothing but
# bash, zstd, jq and dd, byte for byte, a dump stored with similarity
# deltas (type-2 blobs) included; and a blob damaged on disk is reported
# by the same block.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd jq
require_cmd zstd

R=$T/repo
S=$T/src
mkdir -p "$S/files/uploads/deep" "$S/files/empty"
head -c 3000000 /dev/urandom > "$S/files/uploads/invoice-17.pdf"
printf 'hello\n' > "$S/files/uploads/deep/a.txt"
: > "$S/files/uploads/zero"
for i in $(seq 1 300); do printf 'entry %d\n' "$i" > "$S/files/empty/f$i"; done

ok_cmd "init" bfs init "$R"
ok_cmd "backup" bfs backup -r "$R" --id b1 --files "files=$S/files"
# a dump, then its next version: stored with deltas on the first
awk 'BEGIN { for (i = 1; i <= 40000; i++)
	printf "%d\tcustomer %d\tnote %d\n", i, i % 97, i * 7919 % 10007 }' >"$T/d1.sql"
awk '{ if (NR % 97 == 5) $3 = "changed"; print }' "$T/d1.sql" >"$T/d2.sql"
ok_cmd "backup a dump" bfs backup -r "$R" --id b2 --stdin db.sql <"$T/d1.sql"
ok_cmd "backup its next version" bfs backup -r "$R" --id b3 --stdin db.sql <"$T/d2.sql"
ndelta=$(for i in "$R"/index/*; do zstd -dc "$i"; done | jq -r '.blobs[][1]' | grep -c '^2$')
ok "$([ "$ndelta" -gt 0 ]; echo $?)" "the second version holds delta blobs ($ndelta)"

# the block of doc/FORMAT.md, verbatim
BLOCK=$(awk '/^# example-extract/ { on = 1; next } on && /^```/ { exit } on' \
	"$top_srcdir/doc/FORMAT.md")
ok "$([ -n "$BLOCK" ]; echo $?)" "FORMAT.md has the example-extract block"
extract() {	# extract PATH OUT [ID]
	(cd "$T" && R=$R ID=${3:-b1} F=$1 OUT=$2 bash -c "set -o pipefail; $BLOCK")
}
for f in files/uploads/invoice-17.pdf files/uploads/deep/a.txt \
	files/uploads/zero files/empty/f300; do
	extract "$f" "$T/out" 2> "$T/err"
	ok "$(cmp -s "$T/out" "$S/$f"; echo $?)" "by hand: $f"
	is "$(cat "$T/err")" "" "by hand: no complaint for $f"
done

extract db.sql "$T/out" b3 2> "$T/err"
ok "$(cmp -s "$T/out" "$T/d2.sql"; echo $?)" "by hand: a dump stored with deltas"
is "$(cat "$T/err")" "" "by hand: no complaint for the dump"

# a flipped bit in the middle of the biggest pack (the big file's chunks
# fill most of it): the block says so
pack=$(ls "$R"/packs/*/* | xargs ls -S | head -n 1)
python3 - "$pack" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x40
open(p, 'wb').write(bytes(b))
PY
extract files/uploads/invoice-17.pdf "$T/out" 2> "$T/err"
like "$(cat "$T/err")" "BAD BLOB|zstd" "by hand: a damaged blob is reported"
done_testing
