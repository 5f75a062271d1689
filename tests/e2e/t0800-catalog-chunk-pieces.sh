#!/bin/bash
# A file's chunk list stored in the catalog in pieces (issue 13 leftover):
# with SQLite's length limit lowered (BFS_CATALOG_LENGTH_LIMIT 1200 bytes:
# pieces of 16 chunks) a 24 MiB file's ~24 chunks go into chunk_pieces,
# and every reader gets the whole list: the mount (cat, md5), a second
# backup that reuses the unchanged file through the catalog (prev_dir:
# no new data), a restore, and a rebuilt catalog.  Without the knob the
# same list is one value of its entry's row.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt
C=$T/cat.db
mkdir -p "$S/d"
head -c $((24 << 20)) /dev/urandom >"$S/big.bin"
echo one >"$S/d/small"
want=$(md5sum <"$S/big.bin")

# pieces of the catalog file: "<pieces> <entries with a list in pieces>"
pieces() {
	"$BFS_PYTHON" - "$C" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
p = db.execute("SELECT count(*) FROM chunk_pieces").fetchone()[0]
e = db.execute("SELECT count(*) FROM entries WHERE chunks IS NULL"
               " AND nchunks > 0").fetchone()[0]
print(p, e)
PY
}

export BFS_CATALOG_LENGTH_LIMIT=1200
ok_cmd "init" bfs init "$R"
ok_cmd "backup b1" bfs backup -q -r "$R" --catalog "$C" --id b1 --files "$S"
read -r np ne <<<"$(pieces)"
ok $(( np >= 2 && ne == 1 ? 0 : 1 )) \
	"b1: big.bin's list is in $np pieces, the only list in pieces"

echo two >>"$S/d/small"
before=$(pack_bytes "$R")
ok_cmd "backup b2 (big.bin unchanged, its directory changed)" \
	bfs backup -q -r "$R" --catalog "$C" --id b2 --files "$S"
grown=$(( $(pack_bytes "$R") - before ))
ok $(( grown < (1 << 20) ? 0 : 1 )) \
	"  no data stored again ($grown bytes)"
read -r np2 ne2 <<<"$(pieces)"
# big.bin's line is in a catalog run of its own or shares one with d's
# line (the cut depends on the line's hash): the run is reused or added
ok $(( (np2 == np && ne2 == 1) || (np2 == 2 * np && ne2 == 2) ? 0 : 1 )) \
	"  b2's root holds big.bin's list in pieces too ($np2 pieces, $ne2 lists)"

ok_cmd "mount" mount_repo "$R" "$M" --catalog "$C"
is "$(md5sum <"$M/b1/files/big.bin")" "$want" "b1's big.bin through the mount"
is "$(md5sum <"$M/b2/files/big.bin")" "$want" "b2's big.bin through the mount"
is "$(stat -c %s "$M/b2/files/big.bin")" "$((24 << 20))" "  its size"
is "$(cat "$M/b2/files/d/small")" "one
two" "b2's changed file"
unmount "$M"

ok_cmd "restore b2" bfs restore -q -r "$R" --catalog "$C" b2 --target "$T/out"
is "$(md5sum <"$T/out/files/big.bin")" "$want" "  big.bin restored whole"

ok_cmd "catalog rebuild" bfs catalog rebuild -r "$R" --catalog "$C"
read -r np3 ne3 <<<"$(pieces)"
ok $(( np3 == np2 && ne3 == ne2 ? 0 : 1 )) \
	"  the rebuilt catalog has the same pieces ($np3)"
ok_cmd "  cat reads big.bin from it" \
	bash -c '"$BACKUPFS" cat -r "$1" --catalog "$2" b1:files/big.bin | md5sum >"$3"' \
	_ "$R" "$C" "$T/cat.md5"
is "$(cat "$T/cat.md5")" "$want" "  the same bytes"

unset BFS_CATALOG_LENGTH_LIMIT
ok_cmd "catalog rebuild without the knob" \
	bfs catalog rebuild -r "$R" --catalog "$C"
is "$(pieces)" "0 0" "  a list of ~24 chunks is one value of its entry"
ok_cmd "  cat reads big.bin" \
	bash -c '"$BACKUPFS" cat -r "$1" --catalog "$2" b2:files/big.bin | md5sum >"$3"' \
	_ "$R" "$C" "$T/cat.md5"
is "$(cat "$T/cat.md5")" "$want" "  the same bytes"

done_testing
