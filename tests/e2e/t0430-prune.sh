#!/bin/bash
# backupfs prune on a local repository: after backups are forgotten it
# deletes the packs no kept backup needs and repacks partly used ones
# (frames copied byte for byte, never recompressed), every kept backup
# still restores byte for byte; --dry-run changes nothing and predicts
# the real run; unindexed packs are garbage; the grace period keeps young
# packs; an exclusive lock held by another process is refused, naming
# it; a damaged repository is refused with nothing deleted; cat and
# restore with a catalog from before the prune find moved chunks.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd jq jq
require_cmd zstd zstd

R=$T/repo
S=$T/src
export XDG_CACHE_HOME=$T/cache

# repo_state: every object of the repository with its checksum.
repo_state() {
	(cd "$R" && find . -type f ! -path './locks/*' -print0 | sort -z |
		xargs -0 sha256sum)
}

# blobs_of INDEXFILE...: "blob pack offset clen" lines of index objects.
blobs_of() {
	local f
	for f in "$@"; do zstd -qdc "$f"; done |
		jq -r '.pack as $p | .blobs[] | "\(.[0]) \($p) \(.[2]) \(.[3])"'
}

# frame REPO PACK OFF CLEN: the compressed frame bytes of a blob.
frame() {
	dd if="$1/packs/${2:0:2}/$2" iflag=skip_bytes,count_bytes bs=64K \
		skip="$3" count="$4" status=none
}

# check_kept: every kept backup restores byte for byte.
check_kept() {
	local what=$1 bad=0
	bfs cat -r "$R" b2:data.bin | cmp -s - "$T/b" || bad=1
	bfs cat -r "$R" b3:data.bin | cmp -s - "$T/c" || bad=1
	rm -rf "$T/out"
	if bfs restore -r "$R" b3:files --target "$T/out" >/dev/null 2>&1; then
		diff -r "$S" "$T/out/files" >/dev/null || bad=1
	else
		bad=1
	fi
	ok $bad "$what: kept backups b2 and b3 restore byte for byte"
}

mkdir -p "$S/sub"
head -c 2500000 /dev/urandom >"$S/big"
seq 1 20000 >"$S/sub/seq.txt"
head -c 4000000 /dev/urandom >"$T/a"
# b2 shares the middle of b1: the packs holding it are partly live
{ tail -c +1500001 "$T/a" | head -c 1000000; head -c 2000000 /dev/urandom; } >"$T/b"
head -c 3000000 /dev/urandom >"$T/c"

ok_cmd "init" bfs init "$R"
# tiny packs (the smallest the format allows), so a prune has work
sed -i 's/"pack_size":[0-9]*/"pack_size":1048576/' "$R/config"
ok_cmd "32 KiB dump chunks (the data below is laid out for them)" small_dump_chunks "$R"
ok_cmd "backup b1" bfs backup -r "$R" --id b1 --stdin data.bin <"$T/a"
ok_cmd "backup b2 (shares 1 MB of b1)" bfs backup -r "$R" --id b2 --stdin data.bin <"$T/b"
ok_cmd "backup b3 (files and data)" bfs backup -r "$R" --id b3 --files "$S" --stdin data.bin <"$T/c"

ok_cmd "prune with nothing forgotten" bfs prune -r "$R" --grace 0 --json
is "$(jq '[.deleted.packs, .repacked.packs, .garbage.packs, .blobs - .blobs_live] | @text' -r "$T/stdout")" \
	"[0,0,0,0]" "nothing to do while every backup is kept"
is "$(jq -r .backups "$T/stdout")" 3 "three backups walked"

# forget b1 (forget removes its manifest and nothing else)
rm "$R/manifests/b1"
before_bytes=$(pack_bytes "$R")

# ---- dry run: changes nothing, predicts
repo_state >"$T/state0"
ok_cmd "prune --dry-run" bfs prune -r "$R" --grace 0 --dry-run --json
cp "$T/stdout" "$T/dry.json"
repo_state >"$T/state1"
ok "$(cmp -s "$T/state0" "$T/state1"; echo $?)" "--dry-run changes nothing in the repository"
ok "$(jq -e '.dry_run and .deleted.packs >= 1 and .repacked.packs >= 1' "$T/dry.json" >/dev/null; echo $?)" \
	"--dry-run finds packs to delete and to repack"
ok_cmd "prune --dry-run, text" bfs prune -r "$R" --grace 0 --dry-run
like "$(cat "$T/stdout")" "would delete \(unused\):" "the text output says what would be done"

# ---- grace: the first prune saw every pack just now
ok_cmd "prune with the default grace (1h)" bfs prune -r "$R" --json
is "$(jq -r '[.deleted.packs, .repacked.packs] | @text' "$T/stdout")" "[0,0]" \
	"packs first seen now are left alone"
is "$(jq -r '.young.packs == .before.packs' "$T/stdout")" true "... every pack counts as young"
ok "$(ls "$R"/prune/* >/dev/null 2>&1; echo $?)" "a grace record was written under prune/"
like "$(cat "$T/stderr")" "packs were left alone because a prune first saw them less than --grace \\(60 min\\) ago.*--grace 0" \
	"prune says why nothing was freed, and what to do"

# ---- the real prune
cp -a "$R" "$T/old"
ok_cmd "a catalog synced before the prune" bfs list -r "$R" --catalog "$T/stale.db"
ok_cmd "prune" bfs prune -r "$R" --grace 0 --json
cp "$T/stdout" "$T/real.json"
# cat and restore with that catalog, not synced: their chunk locations
# name packs that are gone; the reader finds the chunks again
ok_cmd "cat --no-sync with a catalog from before the prune" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' --catalog '$T/stale.db' --no-sync b2:data.bin | cmp - '$T/b'"
cp "$T/stale.db" "$T/stale2.db"
rm -rf "$T/out2"
ok_cmd "restore --no-sync with a catalog from before the prune" \
	bfs restore -r "$R" --catalog "$T/stale2.db" --no-sync b2 --target "$T/out2"
ok_cmd "... restores the right bytes" cmp "$T/out2/data.bin" "$T/b"
is "$(jq -c '[.deleted, .repacked]' "$T/real.json")" "$(jq -c '[.deleted, .repacked]' "$T/dry.json")" \
	"the real run deletes and repacks what the dry run said"
after_bytes=$(pack_bytes "$R")
is "$(jq -r .after.bytes "$T/real.json")" "$after_bytes" "the reported size after is the size of packs/"
ok "$([ "$after_bytes" -lt $((before_bytes - 2500000)) ]; echo $?)" \
	"b1's own data is gone ($before_bytes -> $after_bytes bytes)"
check_kept "after prune"

# repacked frames are the old frames, byte for byte
comm -13 <(cd "$T/old" && find packs -type f | sort) <(cd "$R" && find packs -type f | sort) >"$T/newpacks"
ok "$([ -s "$T/newpacks" ]; echo $?)" "prune wrote new packs ($(wc -l <"$T/newpacks"))"
blobs_of "$T"/old/index/* | sort -u >"$T/oldblobs"
blobs_of "$R"/index/* | sort -u >"$T/newblobs"
bad=0 n=0
while read -r p; do
	pid=${p##*/}
	while read -r id pack off clen; do
		[ "$pack" = "$pid" ] || continue
		read -r _ opack ooff oclen < <(grep "^$id " "$T/oldblobs" | head -n 1)
		[ "$oclen" = "$clen" ] || bad=1
		cmp -s <(frame "$T/old" "$opack" "$ooff" "$oclen") <(frame "$R" "$pack" "$off" "$clen") || bad=1
		n=$((n + 1))
	done <"$T/newblobs"
done <"$T/newpacks"
ok "$([ $bad -eq 0 ] && [ $n -gt 0 ]; echo $?)" "the $n repacked frames are byte for byte the old ones (no recompression)"

ok_cmd "prune again" bfs prune -r "$R" --grace 0 --json
is "$(jq -r '[.deleted.packs, .repacked.packs, .garbage.packs, .written.packs] | @text' "$T/stdout")" \
	"[0,0,0,0]" "a second prune finds nothing to do"
is "$(jq -r .blobs_dropped "$T/stdout")" 0 "... and drops no blob"

# ---- garbage: a pack no index object names
junk=00$(head -c 31 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$R/packs/00"
head -c 5000 /dev/urandom >"$R/packs/00/$junk"
ok_cmd "prune with an unindexed pack, --grace 1h" bfs prune -r "$R" --json
ok "$([ -f "$R/packs/00/$junk" ]; echo $?)" "an unindexed pack first seen now is kept (a backup in flight?)"
# A grace far above the time between two commands on a loaded box (CI ran
# at load 22, when 2 s between two prunes was not enough).
ok_cmd "prune with --grace 60s" bfs prune -r "$R" --grace 60s --json
ok "$([ -f "$R/packs/00/$junk" ]; echo $?)" "... still kept when seen less than 60 s ago"
sleep 3
ok_cmd "prune with --grace 2s, 3 s later" bfs prune -r "$R" --grace 2s --json
ok "$([ ! -e "$R/packs/00/$junk" ]; echo $?)" "... and deleted as garbage once older than the grace"
is "$(jq -r .garbage.packs "$T/stdout")" 1 "one garbage pack reported"
is "$(ls "$R/prune" | wc -l)" 1 "one grace record left"
check_kept "after garbage collection"

# ---- the lock: an exclusive prune refuses next to a live backup
sleep 600 &
holder=$!
at_exit "kill $holder 2>/dev/null"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
lock=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$R/locks"
printf '{"kind":"shared","host":"%s","pid":%d,"user":"test","command":"backup","time":"%s","refreshed":"%s"}' \
	"$(hostname)" "$holder" "$now" "$now" >"$R/locks/$lock"
repo_state >"$T/state0"
fails_with 1 "prune refuses while a backup holds a shared lock" bfs prune -r "$R" --grace 0
like "$(cat "$T/stderr")" "locked.*backup.*pid $holder" "the message names the holder"
start=$(date +%s)
fails_with 1 "prune --lock-wait 2s still refuses" bfs prune -r "$R" --grace 0 --lock-wait 2s
fails_with 1 "prune --wait (the alias) too" bfs prune -r "$R" --grace 0 --wait 1s
ok "$([ $(($(date +%s) - start)) -ge 2 ]; echo $?)" "... after waiting"
repo_state >"$T/state1"
ok "$(cmp -s "$T/state0" "$T/state1"; echo $?)" "nothing changed"
kill $holder
wait $holder 2>/dev/null
ok_cmd "prune proceeds once the holder is gone (stale lock)" bfs prune -r "$R" --grace 0

# ---- a damaged repository is refused
printf 'not a manifest' >"$R/manifests/broken"
rm "$R/manifests/b2"
repo_state >"$T/state0"
fails_with 1 "prune refuses a manifest that does not parse" bfs prune -r "$R" --grace 0
like "$(cat "$T/stderr")" "backup 'broken'.*backupfs check" "the message names the backup and says to run check"
repo_state >"$T/state1"
ok "$(cmp -s "$T/state0" "$T/state1"; echo $?)" "nothing was deleted (b2's data too)"
rm "$R/manifests/broken"
tree=$(zstd -qdc "$R/manifests/b3" | head -n 1 | jq -r '.root[0]')
for i in "$R"/index/*; do
	if zstd -qdc "$i" | grep -c "$tree" >/dev/null; then mv "$i" "$T/held-index"; fi
done
repo_state >"$T/state0"
fails_with 1 "prune refuses a tree blob no index object names" bfs prune -r "$R" --grace 0
like "$(cat "$T/stderr")" "backup 'b3' needs tree blob $tree.*backupfs check" \
	"the message names the backup and the blob"
repo_state >"$T/state1"
ok "$(cmp -s "$T/state0" "$T/state1"; echo $?)" "nothing was deleted"

done_testing
