#!/bin/bash
# backupfs check on a local repository: a clean repository passes (plain,
# --read-data, subsets, --json); K/N subsets read every pack exactly once
# over N runs; garbage is reported but not an error; and each kind of
# damage, in its own copy of the repository, exits 1 with a report that
# names the object and the backups and paths it breaks: a flipped byte in
# a chunk (found only by reading data, by exactly one K/N subset), a
# truncated pack, a deleted pack, a broken pack index checksum, a missing
# and a corrupt index object, a corrupt manifest, a missing tree blob.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd jq jq
require_cmd zstd zstd

export BACKUPFS_CATALOG=$T/cat.db
R=$T/repo
S=$T/src

# ---- a repository of three backups, 1 MiB packs
mkdir -p "$S/data" "$S/docs/deep/er" "$S/docs/empty"
head -c 6000000 /dev/urandom >"$S/data/big"
for i in $(seq 1 40); do echo "note $i" >"$S/docs/n$i.txt"; done
seq 1 20000 >"$S/docs/deep/er/seq.txt"
ok_cmd "init" bfs init "$R"
jq -c '.pack_size = 1048576' "$R/config" >"$T/config" && mv "$T/config" "$R/config"
ok_cmd "backup b1" bfs backup -r "$R" --id b1 --files "$S"
echo changed >>"$S/docs/n1.txt"
ok_cmd "backup b2" bfs backup -r "$R" --id b2 --files "$S"
ls "$R/index" | sort >"$T/idx.before"
touch -d '2020-01-01 00:00:00' "$S/docs/deep" # a tree-only backup
ok_cmd "backup b3 (only a directory's mtime changed)" bfs backup -r "$R" --id b3 --files "$S"
B3IDX=$(comm -13 "$T/idx.before" <(ls "$R/index" | sort))
npacks=$(find "$R/packs" -type f | wc -l)
ok "$([ "$npacks" -ge 6 ]; echo $?)" "the repository has several packs ($npacks)"

# every blob: "id type pack offset clen len"
blobs() {
	local i
	for i in "$1"/index/*; do zstd -qdc "$i"; done |
		jq -r '.pack as $p | .blobs[] | "\(.[0]) \(.[1]) \($p) \(.[2]) \(.[3]) \(.[4])"'
}
pkey() { echo "packs/${1:0:2}/$1"; }
copy() { rm -rf "$T/$1"; cp -a "$R" "$T/$1"; }
json() { jq -r "$1" "$T/stdout"; }

# ---- clean
ok_cmd "check of a clean repository" bfs check -r "$R"
like "$(cat "$T/stdout")" "^no errors found" "... says no errors"
like "$(cat "$T/stdout")" "checked [0-9]+ index objects, $npacks packs \(0 read" \
	"... and read no pack whole"
ok_cmd "check --read-data" bfs check -r "$R" --read-data --json
is "$(json '.ok, .complete, .counts.packs_read, .counts.blobs == .counts.blobs_read, .counts.backups')" \
	"$(printf 'true\ntrue\n%s\ntrue\n3' "$npacks")" \
	"--read-data --json: ok, every pack and blob read, 3 backups"
is "$(json '.counts.referenced == .counts.blobs, .garbage.packs, .garbage.blobs')" \
	"$(printf 'true\n0\n0')" "no garbage in a fresh repository"
fails_with 2 "check --read-data with --read-data-subset: exit 2" \
	bfs check -r "$R" --read-data --read-data-subset 50%
like "$(cat "$T/stderr")" "give one" "  says to give one"
ok_cmd "check --read-data-subset 50%" bfs check -r "$R" --read-data-subset 50% --json
half=$(json .counts.packs_read)
ok "$([ "$half" -gt 0 ] && [ "$half" -lt "$npacks" ]; echo $?)" \
	"50% reads some packs, not all ($half of $npacks)"
ok_cmd "50% again" bfs check -r "$R" --read-data-subset 50% --json
is "$(json .counts.packs_read)" "$half" "50% reads the same packs every time"

# K/N: packs_read per run equals the packs in bucket K, the sum is all
expect_buckets() { # N: the packs per bucket 1..N, from the pack ids
	find "$R/packs" -type f -printf '%f\n' | "$BFS_PYTHON" -c '
import sys
n = int(sys.argv[1]); c = [0] * n
for l in sys.stdin:
    c[int(l[:16], 16) % n] += 1
print(" ".join(map(str, c)))' "$1"
}
for N in 3 5; do
	got=
	for K in $(seq 1 $N); do
		bfs check -r "$R" --read-data-subset "$K/$N" --json >"$T/stdout" 2>"$T/stderr"
		got="$got${got:+ }$(json .counts.packs_read)"
	done
	is "$got" "$(expect_buckets $N)" "K/$N reads the packs of bucket K (ids mod $N)"
	sum=$(( ${got// /+} ))
	is "$sum" "$npacks" "1/$N .. $N/$N read $npacks packs in all"
done

fails_with 2 "a bad subset is a usage error" bfs check -r "$R" --read-data-subset 4/3
fails_with 2 "... so is 0%" bfs check -r "$R" --read-data-subset 0%
fails_with 3 "no repository: exit 3 (could not run)" bfs check -r "$T/nothing"

# ---- check takes a shared lock: a prune's exclusive lock stops it
copy locked
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
mkdir -p "$T/locked/locks"
printf '{"kind":"exclusive","host":"%s","pid":%d,"user":"t","command":"prune","time":"%s","refreshed":"%s"}' \
	"$(hostname)" $$ "$now" "$now" >"$T/locked/locks/$(printf 'lock' | sha256sum | cut -c1-64)"
fails_with 3 "an exclusive lock held: exit 3" bfs check -r "$T/locked"
like "$(cat "$T/stderr")" "locked.*prune" "... naming the holder"
ok_cmd "--no-lock checks anyway" bfs check -r "$T/locked" --no-lock
ok_cmd "no lock of check's own is left behind" \
	test "$(ls "$T/locked/locks" | wc -l)" -eq 1
ok_cmd "the check leaves no lock behind" test -z "$(ls "$R/locks" 2>/dev/null)"

# ---- objects that cannot be read (not damage): exit 3
if bfs_has_fault_injection; then
	BACKUPFS_FAULT=get:key=packs/:every=2:err=EIO fails_with 3 \
		"pack reads failing with EIO: exit 3" bfs check -r "$R" --read-data --json
	is "$(json '.ok, .counts.damaged, .counts.io_errors > 0, ([.errors[].kind] | unique | join(","))')" \
		"$(printf 'false\n0\ntrue\nio')" "... reported as io, not as damage"
	BACKUPFS_FAULT=list:key=manifests/:err=EIO fails_with 3 \
		"a listing that fails: exit 3" bfs check -r "$R"
	like "$(cat "$T/stderr")" "check could not finish: cannot list" "... saying why"
else
	diag "no fault injection in this build: EIO cases not run"
fi

# ---- garbage is not an error
copy g
P=$(ls "$R/packs/"*/* | head -n 1)
G=$(printf 'garbage' | sha256sum | cut -c1-64)
mkdir -p "$T/g/packs/${G:0:2}" && cp "$P" "$T/g/packs/${G:0:2}/$G"
ok_cmd "a pack no index object names" bfs check -r "$T/g" --json
is "$(json '.ok, .garbage.packs')" "$(printf 'true\n1')" "... is garbage, not an error"

# ---- a flipped byte in a chunk of data/big
read -r bid _ bpack boff bclen _ < <(blobs "$R" | awk '$2 == 0 && $6 > 100000' | head -n 1)
copy flip
flip_byte "$T/flip/$(pkey "$bpack")" $((boff + bclen / 2))
ok_cmd "check without --read-data does not read chunks" bfs check -r "$T/flip"
fails_with 1 "check --read-data finds the flipped byte" bfs check -r "$T/flip" --read-data
out=$(cat "$T/stdout")
like "$out" "^error: blob $bid: damaged in pack '$(pkey "$bpack")'" "... names the blob and the pack"
like "$out" "breaks backups b1, b2, b3" "... and every backup it breaks"
for b in b1 b2 b3; do
	like "$out" "breaks $b:/files/data/big$" "... and the path in $b"
done
like "$out" "^repository is damaged: 1 problem$" "... one problem"
found=0
for K in 1 2 3; do
	bfs check -r "$T/flip" --read-data-subset "$K/3" >/dev/null 2>&1
	rc=$?
	[ $rc -eq 1 ] && found=$((found + 1))
	[ $rc -eq 0 ] || [ $rc -eq 1 ] || found=99
done
is "$found" 1 "exactly one of 1/3, 2/3, 3/3 finds it"
fails_with 1 "--json" bfs check -r "$T/flip" --read-data --json
is "$(json '.ok, .errors[0].kind, .errors[0].object, (.errors[0].backups | join(",")), (.errors[0].paths | map(.backup + ":" + .path) | join(","))')" \
	"$(printf 'false\nblob\n%s\nb1,b2,b3\nb1:files/data/big,b2:files/data/big,b3:files/data/big' "$bid")" \
	"--json: kind, object, backups and paths"

fails_with 1 "--max-paths 1" bfs check -r "$T/flip" --read-data --max-paths 1
like "$(cat "$T/stdout")" "^  \.\.\. and 2 more paths$" "... lists one path and counts the 2 others"
is "$(grep -c "^  breaks b[0-9]:" "$T/stdout")" 1 "... one path listed"

# ---- a truncated pack
copy trunc
truncate -s -100 "$T/trunc/$(pkey "$bpack")"
fails_with 1 "a truncated pack" bfs check -r "$T/trunc"
out=$(cat "$T/stdout")
like "$out" "^error: pack $(pkey "$bpack"): truncated" "... named, 'truncated'"
like "$out" "breaks b1:/files/data/big$" "... with the file it breaks"

# ---- a deleted pack
copy del
rm "$T/del/$(pkey "$bpack")"
fails_with 1 "a deleted pack" bfs check -r "$T/del"
like "$(cat "$T/stdout")" "^error: pack $(pkey "$bpack"): missing \(named by index object 'index/[0-9a-f]{64}'\)" \
	"... named, missing, with the index object naming it"
like "$(cat "$T/stdout")" "breaks backups b1, b2, b3" "... every backup it breaks"

# ---- a broken pack index checksum (a byte of the index region)
copy csum
f=$T/csum/$(pkey "$bpack")
flip_byte "$f" $(( $(stat -c %s "$f") - 56 - 30 ))
fails_with 1 "a broken pack index" bfs check -r "$T/csum"
like "$(cat "$T/stdout")" "^error: pack $(pkey "$bpack"): pack index checksum mismatch" \
	"... named: index checksum mismatch"
like "$(cat "$T/stdout")" "breaks b2:/files/data/big$" "... with the paths"

# ---- the index object of b3 (its tree parts only) is missing
copy noidx
rm "$T/noidx/index/$B3IDX"
fails_with 1 "a missing index object" bfs check -r "$T/noidx"
out=$(cat "$T/stdout")
like "$out" "^error: blob [0-9a-f]{64}: tree part is in no index object" \
	"... its tree parts are in no index object"
like "$out" "breaks backup b3$" "... breaks b3 only"
like "$out" "breaks b3:/files/docs/deep$|breaks b3:/files/docs$|breaks b3:/files$|breaks b3:/$" \
	"... at the directories whose trees it held"
unlike "$out" "breaks (backups? )?b[12]|, b[12]" "... not b1 or b2"
like "$out" "garbage .*: 1 packs" "... and its pack is garbage"

# ---- b3's index object under a wrong name (its bytes parse, their hash
# is not the name): the blobs it names are reported under it
copy badname
W3=$(printf 'wrong' | sha256sum | cut -c1-64)
mv "$T/badname/index/$B3IDX" "$T/badname/index/$W3"
fails_with 1 "an index object whose bytes do not hash to its name" bfs check -r "$T/badname"
out=$(cat "$T/stdout")
like "$out" "^error: index index/$W3: .*do not hash to its name" "... named"
like "$out" "breaks backup b3$" "... with the backup it breaks"
like "$out" "breaks b3:/" "... and the paths"
unlike "$out" "in no index object" "... no blob reported apart from it"
is "$(grep -c "^error:" <<<"$out")" 1 "... one problem"

# ---- a corrupt index object (b1's: b1, b2 and b3 all use its blobs)
copy badidx
I1=$(ls "$R/index" | grep -vx "$B3IDX" | head -n 1)
flip_byte "$T/badidx/index/$I1" 20
fails_with 1 "a corrupt index object" bfs check -r "$T/badidx"
out=$(cat "$T/stdout")
like "$out" "^error: index index/$I1: " "... named"
like "$out" "is in no index object" "... and the blobs it located are missing"

# ---- a corrupt manifest
copy badman
flip_byte "$T/badman/manifests/b2" 12
fails_with 1 "a corrupt manifest" bfs check -r "$T/badman"
out=$(cat "$T/stdout")
like "$out" "^error: manifest manifests/b2: " "... named"
like "$out" "breaks backup b2$" "... breaks b2"
is "$(grep -c "^error:" <<<"$out")" 1 "... and nothing else"

# ---- a missing tree blob: b3's tree-only pack deleted
copy notree
tp=$(zstd -qdc "$R/index/$B3IDX" | jq -r .pack | head -n 1)
# (type 1, or 2: a tree part stored as a delta, FORMAT.md 18.1; no dumps)
is "$(zstd -qdc "$R/index/$B3IDX" | jq -r '[.blobs[][1]] | all(. == 1 or . == 2)')" "true" \
	"b3's new pack holds only tree blobs"
rm "$T/notree/$(pkey "$tp")"
fails_with 1 "a missing tree blob" bfs check -r "$T/notree"
out=$(cat "$T/stdout")
like "$out" "^error: pack $(pkey "$tp"): missing" "... its pack named"
like "$out" "breaks backup b3$" "... breaks b3"
like "$out" "breaks b3:/" "... with the directories"
unlike "$out" "breaks (backups? )?b[12]|, b[12]" "... not b1 or b2"

# ---- 1,100 chunks in no index object: 1,000 problems, then one for the rest
M=$T/many
mkdir -p "$T/msrc/many"
for i in $(seq 1 1100); do echo "file $i" >"$T/msrc/many/f$i"; done
bfs init "$M" >/dev/null 2>&1
ok_cmd "backup m1 of 1,100 files" bfs backup -r "$M" --id m1 --files "$T/msrc"
M1IDX=$(ls "$M/index")
touch -d '2021-01-01 00:00:00' "$T"/msrc/many/* # new tree parts, same chunks
# --no-delta: m2's tree parts whole, so that losing m1's index object
# loses m2's chunks only, not the bases of its tree parts (18.1)
ok_cmd "backup m2: every line of the tree changed" bfs backup -r "$M" --id m2 --no-delta --files "$T/msrc"
rm "$M/index/$M1IDX"
fails_with 1 "m1's index object lost: m2's chunks are in none" bfs check -r "$M" --json
is "$(json '.counts.missing_blobs >= 1100, ([.errors[] | select(.object != "(more)")] | length), ([.errors[] | select(.object == "(more)")] | length)')" \
	"$(printf 'true\n1000\n1')" "1,000 problems of their own, one for the rest"
is "$(json '[.errors[] | select(.object == "(more)")][0] | .backups | join(",")')" "m2" \
	"... which breaks m2"
# (m1's root tree part is the first of the 1,000, then 999 of m2's chunks)
is "$(json '[.errors[] | select(.object == "(more)")][0] | .more_paths + (.paths | length)')" "101" \
	"... at the 101 files it covers"

# ---- backups running meanwhile are not damage (check lists manifests
# first, then packs, then index objects: what a listed manifest needs is
# in the later listings; the packs of a backup in flight are garbage)
C=$T/conc
bfs init "$C" >/dev/null 2>&1
jq -c '.pack_size = 1048576' "$C/config" >"$T/config" && mv "$T/config" "$C/config"
nconc=4
[ "${CI:-}" = true ] && nconc=2 # bounded in CI (the suite runs twice)
( for i in $(seq 1 $nconc); do
	head -c 10000000 /dev/urandom | bfs backup -r "$C" --id c$i --stdin x.bin -q || exit 1
done ) &
bp=$!
runs=0 bad=0
while kill -0 $bp 2>/dev/null; do
	bfs check -r "$C" -q >"$T/conc.out" 2>&1 || { bad=$((bad + 1)); diag "$(head -n 5 "$T/conc.out")"; }
	runs=$((runs + 1))
done
wait $bp
ok $? "$nconc backups written while check ran"
is "$bad" 0 "$runs checks while backups were written: none saw damage"
ok_cmd "check afterwards" bfs check -r "$C" --read-data

# ---- a migrated repository: format-1 packs (48-byte index entries)
cp -a "$top_srcdir/tests/data/format1/repo" "$T/f1"
ok_cmd "migrate the format-1 repository" bfs migrate -r "$T/f1"
ok_cmd "check of the migrated repository" bfs check -r "$T/f1" --read-data --json
is "$(json '.ok, .counts.packs == .counts.packs_read')" "$(printf 'true\ntrue')" \
	"... whole, its format-1 packs read"
f=$(grep -l BFSPACK1 "$T"/f1/packs/*/* | head -n 1)
flip_byte "$f" $(( $(stat -c %s "$f") - 56 - 20 ))
fails_with 1 "a format-1 pack with a broken index" bfs check -r "$T/f1"
like "$(cat "$T/stdout")" "^error: pack packs/.*: pack index checksum mismatch" "... found"

done_testing
