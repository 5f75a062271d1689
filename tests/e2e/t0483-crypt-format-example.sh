#!/bin/bash
# doc/FORMAT.md's worked example for an encrypted repository (section
# 19.1), run as written: its "example-decrypt" block gets files out of an
# encrypted repository the program wrote with bash, jq, zstd, dd, python3
# (scrypt) and openssl, byte for byte; a wrong password gets nothing; a
# damaged blob is reported by the block's id check.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd jq
require_cmd zstd
require_cmd openssl

export BACKUPFS_TEST_KDF=fast
R=$T/repo
S=$T/src
mkdir -p "$S/files/uploads/deep" "$S/files/empty"
head -c 3000000 /dev/urandom >"$S/files/uploads/invoice-17.pdf"
printf 'hello\n' >"$S/files/uploads/deep/a.txt"
for i in $(seq 1 300); do printf 'entry %d\n' "$i" >"$S/files/empty/f$i"; done
printf 'the password\n' >"$T/pw"

ok_cmd "init (encrypted)" bfs init --password-file "$T/pw" "$R"
ok_cmd "backup" bfs backup -r "$R" --password-file "$T/pw" --id b1 \
	--files "files=$S/files"

BLOCK=$(awk '/^# example-decrypt/ { on = 1; next } on && /^```/ { exit } on' \
	"$top_srcdir/doc/FORMAT.md")
ok "$([ -n "$BLOCK" ]; echo $?)" "FORMAT.md has the example-decrypt block"
extract() {	# extract PWFILE PATH OUT
	(cd "$T" && R=$R PWFILE=$1 ID=b1 F=$2 OUT=$3 \
		bash -c "set -o pipefail; $BLOCK")
}
for f in files/uploads/invoice-17.pdf files/uploads/deep/a.txt \
	files/empty/f300; do
	extract "$T/pw" "$f" "$T/out" 2>"$T/err"
	ok "$(cmp -s "$T/out" "$S/$f"; echo $?)" "by hand: $f"
	is "$(cat "$T/err")" "" "by hand: no complaint for $f"
done

printf 'not the password\n' >"$T/wrong"
extract "$T/wrong" files/uploads/deep/a.txt "$T/out" 2>"$T/err"
ok "$(! cmp -s "$T/out" "$S/files/uploads/deep/a.txt"; echo $?)" \
	"a wrong password gets nothing"

pack=$(ls "$R"/packs/*/* | xargs ls -S | head -n 1)
"$BFS_PYTHON" - "$pack" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x40
open(p, 'wb').write(bytes(b))
PY
extract "$T/pw" files/uploads/invoice-17.pdf "$T/out" 2>"$T/err"
like "$(cat "$T/err")" "BAD BLOB|zstd" "by hand: a damaged blob is reported"
fails_with 1 "backupfs cat refuses it (tag check)" bfs cat -r "$R" \
	--password-file "$T/pw" b1:files/uploads/invoice-17.pdf
like "$(cat "$T/stderr")" "fails authentication" "naming the failure"
done_testing
