#!/bin/bash
# doc/FORMAT.md's worked example, run as written: its "example-extract"
# block gets files out of a repository the program wrote with nothing but
# bash, zstd, jq and dd, byte for byte; and a blob damaged on disk is
# reported by the same block.
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

# the block of doc/FORMAT.md, verbatim
BLOCK=$(awk '/^# example-extract/ { on = 1; next } on && /^```/ { exit } on' \
	"$top_srcdir/doc/FORMAT.md")
ok "$([ -n "$BLOCK" ]; echo $?)" "FORMAT.md has the example-extract block"
extract() {	# extract PATH OUT
	(cd "$T" && R=$R ID=b1 F=$1 OUT=$2 bash -c "set -o pipefail; $BLOCK")
}
for f in files/uploads/invoice-17.pdf files/uploads/deep/a.txt \
	files/uploads/zero files/empty/f300; do
	extract "$f" "$T/out" 2> "$T/err"
	ok "$(cmp -s "$T/out" "$S/$f"; echo $?)" "by hand: $f"
	is "$(cat "$T/err")" "" "by hand: no complaint for $f"
done

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
