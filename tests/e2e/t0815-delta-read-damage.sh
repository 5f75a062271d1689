#!/bin/bash
# Day 2 of a dump stored as deltas on day 1's chunks, read with cat and
# through the mount (the read path checks a delta's output, not its bases
# apart: bfs_repo_set_bases_by_output, doc/FORMAT.md 18.3): the right
# bytes; a base damaged on disk after the mount has read day 2 gives
# day 2 from its caches or EIO, never other bytes; a base damaged before
# it is read (a byte of its raw zstd block flipped: the frame still
# decodes, to other bytes) fails cat with a message naming the base and
# gives EIO in the mount with a log line naming it, never other bytes
# (what was written is a prefix of day 2), and check --read-data reports
# it; with the base repaired and a delta frame damaged instead, cat and
# check name that chunk, the mount gives EIO.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd jq
require_cmd zstd
require_cmd python3
export XDG_CACHE_HOME=$T/cache
MB=6
[ "${CI:-}" = true ] || MB=24

# day 1: random bytes (zstd keeps them as raw blocks); day 2: 12 rows
# rewritten, so its changed chunks are stored as deltas on day 1's
python3 - "$T/d1" "$T/d2" "$MB" <<'PY' || bail_out "cannot make the dumps"
import random, sys
r = random.Random(5)
d = bytearray(r.randbytes(int(sys.argv[3]) << 20))
open(sys.argv[1], "wb").write(d)
for k in range(12):
    p = r.randrange(len(d) - 100)
    d[p:p + 20] = b"CHANGED-ROW-%08d" % k
open(sys.argv[2], "wb").write(d)
PY

R=$T/repo
ok_cmd "init" bfs init "$R"
ok_cmd "b1 (day 1)" bfs backup -r "$R" --id b1 --stdin database.sql <"$T/d1"
ok_cmd "b2 (day 2)" bfs backup -r "$R" --id b2 --stdin database.sql <"$T/d2"

# blobs: "id type offset clen len pack base" of every index object
for i in "$R"/index/*; do zstd -dc <"$i"; done | jq -r '.pack as $p |
	.blobs[] | "\(.[0]) \(.[1]) \(.[2]) \(.[3]) \(.[4]) \($p) \(.[5] // "-")"' \
	>"$T/blobs"
ndelta=$(awk '$2 == 2' "$T/blobs" | wc -l)
ok "$([ "$ndelta" -ge 3 ]; echo $?)" "b2 holds delta blobs ($ndelta)"
# the first delta and its base; a second delta on another base
read -r did dbase < <(awk '$2 == 2 { print $1, $7; exit }' "$T/blobs")
read -r did2 < <(awk -v b="$dbase" '$2 == 2 && $7 != b { print $1; exit }' \
	"$T/blobs")
read -r bpack boff bclen < <(awk -v b="$dbase" '$1 == b && $2 == 0 {
	print $6, $3, $4 }' "$T/blobs")
read -r dpack doff dclen < <(awk -v d="$did2" '$1 == d { print $6, $3, $4 }' \
	"$T/blobs")
ok "$([ -n "$bpack" ] && [ -n "$dpack" ]; echo $?)" \
	"a delta's base is stored whole, a second delta on another base"

# prefix FILE: passes when FILE is a prefix of day 2 (no other byte)
prefix() {
	local n
	n=$(stat -c %s "$1")
	cmp -s -n "$n" "$1" "$T/d2"
}
BF=$R/packs/${bpack:0:2}/$bpack
DF=$R/packs/${dpack:0:2}/$dpack
boff=$((boff + bclen / 2)) # inside the raw block: a plain byte
doff=$((doff + dclen / 2))

ok_cmd "cat b2" bfs cat -r "$R" b2:database.sql
ok "$(cmp -s "$T/stdout" "$T/d2"; echo $?)" "cat gives day 2 byte for byte"
ok_cmd "check --read-data" bfs check -r "$R" --read-data

have_fuse=0
if [ "$(id -u)" -eq 0 ] && command -v fusermount3 >/dev/null &&
	[ -c /dev/fuse ] && : 2>/dev/null <>/dev/fuse; then
	have_fuse=1
	. "$top_srcdir/tests/e2e/lib-mount.sh"
	M=$T/mnt
	ok_cmd "mount" mount_repo "$R" "$M" --log-file "$T/m1.log"
	ok "$(cmp -s "$M/b2/database.sql" "$T/d2"; echo $?)" \
		"the mount gives day 2"
	flip_byte "$BF" "$boff" 0x55
	# served from the mount's caches while they hold it, else read
	# again: EIO then (the caches are small and the page cache may be
	# dropped), never other bytes
	timeout 60 cat "$M/b2/database.sql" >"$T/got" 2>"$T/cat.err"
	rc=$?
	ok "$(prefix "$T/got"; echo $?)" \
		"a base damaged after the mount read it: no other bytes"
	ok "$([ $rc -eq 0 ] && cmp -s "$T/got" "$T/d2" ||
		grep -q "Input/output error" "$T/cat.err"; echo $?)" \
		"... day 2 from its caches, or EIO (exit $rc)"
	unmount "$M"
	flip_byte "$BF" "$boff" 0x55
else
	diag "no usable FUSE here: the mount reads are not tried"
fi

# ---- a base damaged before it is read
flip_byte "$BF" "$boff" 0x55
rm -rf "$XDG_CACHE_HOME"
fails_with 1 "cat b2 with a damaged base fails" bfs cat -r "$R" b2:database.sql
like "$(cat "$T/stderr")" "delta base $dbase: chunk ${dbase:0:12} .* fails its checksum" \
	"the message names the base"
like "$(cat "$T/stderr")" "chunk ${did:0:12} " "... and the delta"
ok "$(prefix "$T/stdout"; echo $?)" "no other bytes: what cat wrote is a prefix of day 2"
ok "$(cmp -s "$T/stdout" "$T/d2"; [ $? -ne 0 ]; echo $?)" "... and not all of it"
fails_with 1 "check --read-data reports it" bfs check -r "$R" --read-data
like "$(cat "$T/stdout" "$T/stderr")" "${dbase:0:12}" "check names the base"
if [ $have_fuse = 1 ]; then
	ok_cmd "mount (damaged base)" mount_repo "$R" "$M" --log-file "$T/m2.log"
	timeout 60 cat "$M/b2/database.sql" >"$T/got" 2>"$T/cat.err"
	is "$?" "1" "a read of b2 through the mount fails"
	like "$(cat "$T/cat.err")" "Input/output error" "... with EIO"
	ok "$(prefix "$T/got"; echo $?)" "... what it gave is a prefix of day 2"
	ok "$(wait_until 5 grep -qF "delta base $dbase" "$T/m2.log"; echo $?)" \
		"the mount's log names the base"
	ok "$(cmp -s "$M/b1/database.sql" "$T/d1" 2>/dev/null; [ $? -ne 0 ]; echo $?)" \
		"b1 (the base read whole) fails too"
	unmount "$M"
fi
flip_byte "$BF" "$boff" 0x55
rm -rf "$XDG_CACHE_HOME"
ok_cmd "base repaired: cat b2" bfs cat -r "$R" b2:database.sql
ok "$(cmp -s "$T/stdout" "$T/d2"; echo $?)" "... day 2 byte for byte"

# ---- a damaged delta frame on a good base
flip_byte "$DF" "$doff" 0x55
rm -rf "$XDG_CACHE_HOME"
fails_with 1 "cat b2 with a damaged delta frame fails" bfs cat -r "$R" b2:database.sql
like "$(cat "$T/stderr")" "chunk ${did2:0:12} in pack '[^']*$dpack'" \
	"the message names the delta chunk"
unlike "$(cat "$T/stderr")" "delta base" "... and blames no base"
ok "$(prefix "$T/stdout"; echo $?)" "no other bytes"
fails_with 1 "check --read-data reports it" bfs check -r "$R" --read-data
like "$(cat "$T/stdout" "$T/stderr")" "${did2:0:12}" "check names the chunk"
if [ $have_fuse = 1 ]; then
	ok_cmd "mount (damaged delta frame)" mount_repo "$R" "$M" --log-file "$T/m3.log"
	timeout 60 cat "$M/b2/database.sql" >"$T/got" 2>"$T/cat.err"
	is "$?" "1" "a read of b2 through the mount fails"
	like "$(cat "$T/cat.err")" "Input/output error" "... with EIO"
	ok "$(prefix "$T/got"; echo $?)" "... what it gave is a prefix of day 2"
	ok "$(wait_until 5 grep -qF "${did2:0:12}" "$T/m3.log"; echo $?)" \
		"the mount's log names the chunk"
	unmount "$M"
fi
done_testing
