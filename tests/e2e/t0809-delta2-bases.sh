#!/bin/bash
# A data chunk stored as a delta frame on two bases (type 3, doc/
# FORMAT.md 18.2), crafted by tests/unit/craft-tool (backup d1: files a
# and c whole; d2: file m, the first half of a and the second half of c,
# on both): the index object names both bases; cat, restore, the mount
# and FORMAT.md's worked example read m right; check --read-data is
# clean; copy into a fresh repository carries both bases, into a
# version-4 one is refused until migrate; forget d1 + prune (repack all)
# keeps both bases; a damaged second base fails cat naming it, gives EIO
# in the mount with a log line naming it, and check reports it.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd jq
require_cmd zstd
export XDG_CACHE_HOME=$T/cache
CRAFT=$top_builddir/tests/unit/craft-tool
R=$T/repo
O=$T/want
mkdir -p "$O"

ok_cmd "init" bfs init "$R"
is "$(jq .version "$R/config")" "5" "init makes version 5"
ok_cmd "craft d1 and d2 (m on a and c)" "$CRAFT" "$R" delta2 "$O"
ida=$(awk '$1 == "a" { print $2 }' "$O/ids")
idc=$(awk '$1 == "c" { print $2 }' "$O/ids")
idm=$(awk '$1 == "m" { print $2 }' "$O/ids")

# blobs REPO: "id type offset clen len pack bases" of every index object
blobs() {
	for i in "$1"/index/*; do zstd -dc "$i"; done |
		jq -r '.pack as $p | .blobs[] |
		"\(.[0]) \(.[1]) \(.[2]) \(.[3]) \(.[4]) \($p) \(.[5] // "-" |
		if type == "array" then join(",") else . end)"'
}
blobs "$R" >"$T/blobs"
is "$(awk -v m="$idm" '$1 == m { print $2, $7 }' "$T/blobs")" "3 $ida,$idc" \
	"index object: m is type 3 on a and c, in that order"

ok_cmd "cat d2:src/m" bfs cat -r "$R" d2:src/m
ok "$(cmp -s "$T/stdout" "$O/m"; echo $?)" "cat gives m byte for byte"
ok_cmd "restore d2" bfs restore -r "$R" d2 --target "$T/r"
ok "$(cmp -s "$T/r/src/m" "$O/m"; echo $?)" "restore gives m byte for byte"
ok_cmd "check --read-data" bfs check -r "$R" --read-data

# doc/FORMAT.md's worked example, verbatim, on the type-3 chunk
BLOCK=$(awk '/^# example-extract/ { on = 1; next } on && /^```/ { exit } on' \
	"$top_srcdir/doc/FORMAT.md")
(cd "$T" && R=$R ID=d2 F=src/m OUT=$T/by-hand bash -c "set -o pipefail; $BLOCK") 2>"$T/err"
ok "$(cmp -s "$T/by-hand" "$O/m"; echo $?)" "by hand (FORMAT.md section 8): m"
is "$(cat "$T/err")" "" "by hand: no complaint"

have_fuse=0
if [ "$(id -u)" -eq 0 ] && command -v fusermount3 >/dev/null &&
	[ -c /dev/fuse ] && : 2>/dev/null <>/dev/fuse; then
	have_fuse=1
	. "$top_srcdir/tests/e2e/lib-mount.sh"
	M=$T/mnt
	mkdir -p "$M"
	ok_cmd "mount" mount_repo "$R" "$M"
	ok "$(cmp -s "$M/d2/src/m" "$O/m"; echo $?)" "the mount gives m"
	ok "$(cmp -s "$M/d1/src/c" "$O/c"; echo $?)" "... and c"
	unmount "$M"
else
	diag "no usable FUSE here: the mount reads are not tried"
fi

# ---- copy: a fresh repository gets both bases; a version-4 one refuses
ok_cmd "init the copy" bfs init "$T/copy"
ok_cmd "copy d2" bfs copy --from "$R" --to "$T/copy" d2
blobs "$T/copy" >"$T/cblobs"
is "$(awk -v a="$ida" -v c="$idc" '($1 == a || $1 == c) && $2 == 0' "$T/cblobs" |
	wc -l)" "2" "copy: both bases are in the target, whole"
rm -rf "$XDG_CACHE_HOME"
ok_cmd "copy: check --read-data" bfs check -r "$T/copy" --read-data
ok_cmd "copy: cat d2:src/m" bfs cat -r "$T/copy" d2:src/m
ok "$(cmp -s "$T/stdout" "$O/m"; echo $?)" "copy: m byte for byte"

ok_cmd "init a repository to be version 4" bfs init "$T/v4"
jq -c '.version = 4' "$T/v4/config" >"$T/cfg" && cp "$T/cfg" "$T/v4/config"
fails_with 1 "copy d2 into version 4 is refused" bfs copy --from "$R" --to "$T/v4" d2
like "$(cat "$T/stderr")" "several bases.*format-4.*backupfs migrate" \
	"... saying to migrate it first"
ok "$([ ! -e "$T/v4/manifests/d2" ]; echo $?)" "... and d2 was not written"
ok_cmd "migrate it" bfs migrate -r "$T/v4"
is "$(jq .version "$T/v4/config")" "5" "... version 5 now"
ok_cmd "then copy d2" bfs copy --from "$R" --to "$T/v4" d2
ok_cmd "... cat d2:src/m" bfs cat -r "$T/v4" d2:src/m
ok "$(cmp -s "$T/stdout" "$O/m"; echo $?)" "... m byte for byte"

# ---- liveness: forget d1, prune; both bases stay
cp -a "$R" "$T/repo-damaged"
ok_cmd "forget d1" bfs forget -r "$R" d1
ok_cmd "prune (grace 0, repack all)" bfs prune -r "$R" --grace 0 --max-unused 0
blobs "$R" >"$T/blobs2"
is "$(awk -v a="$ida" -v c="$idc" '($1 == a || $1 == c) && $2 == 0' "$T/blobs2" |
	wc -l)" "2" "prune kept both bases"
is "$(awk -v m="$idm" '$1 == m { print $2, $7 }' "$T/blobs2")" "3 $ida,$idc" \
	"... and m as it was (type 3 on a and c)"
rm -rf "$XDG_CACHE_HOME"
ok_cmd "check --read-data after prune" bfs check -r "$R" --read-data
ok_cmd "cat d2:src/m after prune" bfs cat -r "$R" d2:src/m
ok "$(cmp -s "$T/stdout" "$O/m"; echo $?)" "after prune: m byte for byte"

# ---- the second base damaged on disk
D=$T/repo-damaged
read -r pack off clen < <(awk -v c="$idc" '$1 == c { print $6, $3, $4 }' "$T/blobs")
printf '\xde\xad\xbe\xef' | dd of="$D/packs/${pack:0:2}/$pack" bs=1 \
	seek=$((off + clen / 2)) conv=notrunc status=none
rm -rf "$XDG_CACHE_HOME"
fails_with 1 "cat m with its second base damaged fails" bfs cat -r "$D" d2:src/m
like "$(cat "$T/stderr")" "delta base $idc" "the message names the second base"
ok "$(cmp -s "$T/stdout" "$O/m"; [ $? -ne 0 ]; echo $?)" "no m bytes printed"
fails_with 1 "check --read-data reports it" bfs check -r "$D" --read-data
like "$(cat "$T/stdout" "$T/stderr")" "${idc:0:12}" "check names the second base"
ok_cmd "d1's a still reads" bfs cat -r "$D" d1:src/a
ok "$(cmp -s "$T/stdout" "$O/a"; echo $?)" "... byte for byte"
if [ $have_fuse = 1 ]; then
	ok_cmd "mount (damaged base)" mount_repo "$D" "$M" --log-file "$T/m.log"
	timeout 60 cat "$M/d2/src/m" >/dev/null 2>"$T/cat.err"
	is "$?" "1" "a read of m through the mount fails"
	like "$(cat "$T/cat.err")" "Input/output error" "... with EIO"
	ok "$(wait_until 5 grep -qF "delta base $idc" "$T/m.log"; echo $?)" \
		"the mount's log names the second base"
	unmount "$M"
fi
done_testing
