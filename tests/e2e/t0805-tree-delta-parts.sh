#!/bin/bash
# Tree parts stored as delta frames (doc/FORMAT.md section 18.1): a
# directory of many files with a few changed gets its new parts as delta
# frames on the previous backup's parts (type 2 in the index objects,
# checked against the frames' first bytes); restore, a fresh catalog's listing and
# the mount give the source byte for byte; forget b1 + prune (repack
# all) + check --read-data keep the bases; copy to a plain and to an
# encrypted repository; the same in an encrypted repository; a damaged
# base part is an error naming it for the directory below it (a fresh
# catalog, check), never a wrong listing.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd zstd zstd
export XDG_CACHE_HOME=$T/cache BACKUPFS_TEST_KDF=fast
N=1500
[ "${CI:-}" = true ] || N=5000
S=$T/src
R=$T/repo
printf 'pw-%s\n' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$T/pw"

for d in alpha beta gamma; do
	mkdir -p "$S/$d"
	for i in $(seq 1 $N); do
		echo "$d file $i" >"$S/$d/invoice-$i.txt"
	done
done
# change: 4 files of beta rewritten, one added
change() {
	for i in 7 400 900 1333; do echo "changed" >>"$S/beta/invoice-$i.txt"; done
	echo new >"$S/beta/zz-new.txt"
}

# tparts REPO: "part ID DELTA BASE LEN" for each blob of type 1 or 2 of
# the index objects of a plain repository (no dump here: every type-2
# blob is a tree part), DELTA 1 for type 2 with BASE its sixth element,
# checked against the frame (a delta frame starts with its base id, a
# whole one with the zstd magic: "frame-mismatch" otherwise); "loc ID
# PACKFILE OFFSET CLEN" for every blob
tparts() {
	"$BFS_PYTHON" - "$1" <<'PY'
import glob, json, subprocess, sys
r = sys.argv[1]
for f in sorted(glob.glob(r + "/index/*")):
    txt = subprocess.run(["zstd", "-dc", f], capture_output=True,
                         check=True).stdout
    for line in txt.splitlines():
        o = json.loads(line)
        pf = glob.glob(r + "/packs/*/" + o["pack"])[0]
        for b in o["blobs"]:
            print("loc", b[0], pf, b[2], b[3])
            if b[1] not in (1, 2):
                continue
            with open(pf, "rb") as fh:
                fh.seek(b[2])
                head = fh.read(32)
            whole = head[:4] == b"\x28\xb5\x2f\xfd"
            if b[1] == 2 and head.hex() != b[5] or b[1] == 1 and not whole:
                print("frame-mismatch", b[0])
            print("part", b[0], 1 if b[1] == 2 else 0,
                  b[5] if b[1] == 2 else "-", b[4])
PY
}
ndelta() { tparts "$1" | awk '$1 == "part" && $3 == 1' | wc -l; }

restores() { # REPO ID WHAT DIR [OPTS]
	local r=$1 id=$2 what=$3 dir=$4
	shift 4
	rm -rf "$T/out"
	ok_cmd "$what: restore $id" bfs restore -r "$r" "$@" "$id" --target "$T/out"
	ok_cmd "$what: $id equals the source" compare_trees "$dir" "$T/out/files"
}

# ---- a plain repository
ok_cmd "init" bfs init "$R"
ok_cmd "b1" bfs backup -r "$R" --id b1 --files "$S"
cp -a "$S" "$T/src1"
change
ok_cmd "b2" bfs backup -r "$R" --id b2 --files "$S" --json
s2=$(jq -r .stats.stored_bytes "$T/stdout")
nd=$(ndelta "$R")
diag "b2 stored $s2 bytes, $nd tree parts as delta frames"
ok "$([ "$nd" -ge 2 ]; echo $?)" "b2 stores tree parts as delta frames ($nd)"
is "$(tparts "$R" | grep -c frame-mismatch)" "0" "index types and frames agree"
tparts "$R" | awk '$1 == "part" && $3 == 1 { print $4 }' | sort -u >"$T/bases"
bad=0
while read -r b; do
	tparts "$R" | awk -v b="$b" '$1 == "part" && $2 == b && $3 == 0 { f = 1 } END { exit !f }' ||
		bad=$((bad + 1))
done <"$T/bases"
is "$bad" "0" "every base is a tree part stored whole (depth 1)"
cp -a "$R" "$T/repo-damaged"
restores "$R" b2 "plain" "$S"
restores "$R" b1 "plain" "$T/src1"
bfs ls -r "$R" b2:files/beta >"$T/ls-warm"
rm -rf "$XDG_CACHE_HOME"
ok_cmd "a fresh catalog ingests b2" bfs ls -r "$R" b2:files/beta
ok "$(cmp -s "$T/stdout" "$T/ls-warm"; echo $?)" "fresh catalog: the same listing"
is "$(wc -l <"$T/stdout")" "$((N + 1))" "beta lists every file"
if [ "$(id -u)" = 0 ] && [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	. "$top_srcdir/tests/e2e/lib-mount.sh"
	M=$T/mnt
	mkdir -p "$M"
	ok_cmd "mount" mount_repo "$R" "$M"
	ok_cmd "mount: b2 equals the source" compare_trees "$S" "$M/b2/files"
	ok_cmd "mount: b1 equals the source of b1" compare_trees "$T/src1" "$M/b1/files"
	unmount "$M"
else
	diag "not root or no FUSE: the mount is not tried"
fi

# ---- forget b1, prune, check
ok_cmd "forget b1" bfs forget -r "$R" b1
ok_cmd "prune (grace 0, repack all)" bfs prune -r "$R" --grace 0 --max-unused 0
ok "$([ "$(ndelta "$R")" -ge 2 ]; echo $?)" "the repack kept the delta parts"
missing=0
while read -r b; do
	tparts "$R" | awk -v b="$b" '$1 == "part" && $2 == b { f = 1 } END { exit !f }' ||
		missing=$((missing + 1))
done <"$T/bases"
is "$missing" "0" "prune kept every base"
rm -rf "$XDG_CACHE_HOME"
ok_cmd "check --read-data after prune" bfs check -r "$R" --read-data
restores "$R" b2 "after prune" "$S"

# ---- copies
ok_cmd "init the copy" bfs init "$T/copy"
ok_cmd "copy b2" bfs copy --from "$R" --to "$T/copy" b2
ok_cmd "copy: check --read-data" bfs check -r "$T/copy" --read-data
restores "$T/copy" b2 "plain copy" "$S"
ok_cmd "init encrypted" bfs init --password-file "$T/pw" "$T/enc"
ok_cmd "copy b2 -> encrypted" bfs copy --from "$R" --to "$T/enc" \
	--to-password-file "$T/pw" b2
restores "$T/enc" b2 "encrypted copy" "$S" --password-file "$T/pw"

# ---- an encrypted repository: sealed delta frames
rm -rf "$S"
cp -a "$T/src1" "$S"
for mode in no-delta delta; do
	E=$T/enc-$mode
	o=
	[ $mode = no-delta ] && o=--no-delta
	rm -rf "$S"
	cp -a "$T/src1" "$S"
	ok_cmd "$mode: init encrypted" bfs init --password-file "$T/pw" "$E"
	ok_cmd "$mode: b1" bfs backup -r "$E" --password-file "$T/pw" $o --id b1 --files "$S"
	change
	ok_cmd "$mode: b2" bfs backup -r "$E" --password-file "$T/pw" $o --id b2 --files "$S" --json
	eval "es_${mode//-/_}=$(jq -r .stats.stored_bytes "$T/stdout")"
done
diag "encrypted: b2 stored $es_delta bytes with tree deltas, $es_no_delta without"
ok "$([ $((es_delta * 2)) -lt "$es_no_delta" ]; echo $?)" \
	"encrypted: b2 stores under half with delta parts"
E=$T/enc-delta
ok_cmd "encrypted: forget b1" bfs forget -r "$E" --password-file "$T/pw" b1
ok_cmd "encrypted: prune" bfs prune -r "$E" --password-file "$T/pw" --grace 0 --max-unused 0
rm -rf "$XDG_CACHE_HOME"
ok_cmd "encrypted: check --read-data" bfs check -r "$E" --password-file "$T/pw" --read-data
restores "$E" b2 "encrypted after prune" "$S" --password-file "$T/pw"

# ---- a damaged base: an error naming it, never a wrong listing
D=$T/repo-damaged
# the base of the largest delta part: one of beta's (the /files part
# is small; damaging its base would fail every directory below it)
b=$(tparts "$D" | awk '$1 == "part" && $3 == 1' | sort -k5,5n | tail -1 | cut -d" " -f4)
read -r pf off clen < <(tparts "$D" | awk -v b="$b" '$1 == "loc" && $2 == b { print $3, $4, $5; exit }')
chmod u+w "$pf"
printf 'XXXXXXXX' | dd of="$pf" bs=1 seek=$((off + clen / 2)) conv=notrunc status=none
rm -rf "$XDG_CACHE_HOME"
bfs ls -r "$D" b2:files/beta >"$T/ls-bad" 2>"$T/ls-err"
rc=$?
ok "$([ $rc -ne 0 ]; echo $?)" "damaged base: listing beta fails (rc $rc)"
is "$(wc -l <"$T/ls-bad")" "0" "damaged base: no listing printed"
like "$(cat "$T/ls-err")" "${b:0:12}" "damaged base: the error names the base"
bfs check -r "$D" --read-data >"$T/ck" 2>&1
rc=$?
ok "$([ $rc -ne 0 ]; echo $?)" "damaged base: check --read-data fails (rc $rc)"
like "$(cat "$T/ck")" "${b:0:12}" "damaged base: check names the base"
ok_cmd "damaged base: alpha still lists" bfs ls -r "$D" b2:files/alpha
done_testing
