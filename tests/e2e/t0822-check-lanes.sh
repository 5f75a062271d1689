#!/bin/bash
# check --read-data and reads with chunk ids checked together by
# src/sha256mb.c, on each of its paths this CPU has
# (BACKUPFS_TEST_SHA256, honoured by test builds): the AVX lanes (eight
# buffers at once; taken by themselves without SHA-NI) and SHA-NI's
# pairs (taken by themselves with it): a pack's blobs are decoded first
# and checked in groups.  A repository of small random files (one chunk
# each, dozens to a 1 MiB pack) with, in one copy, a flipped byte in one
# chunk (its raw zstd block: the frame still decodes, to other bytes)
# and a damaged frame header in another chunk of the same pack: every
# path and one at a time (openssl) report the same two damaged blobs
# with the same messages and the same paths, and nothing else; the
# clean repository passes on each.  Also a cold cat through the CLI and
# the mount on each path gives every file's bytes (its log names the
# path; with OPENSSL_ia32cap masking SHA-NI, OpenSSL), and an encrypted
# repository (HMAC-SHA256 ids, on the same paths) checks clean and reads
# back whole.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_fault_injection
require_root_fuse
require_cmd jq jq
require_cmd zstd zstd
PATHS=
grep -qw avx2 /proc/cpuinfo && PATHS="lanes"
grep -qw sha_ni /proc/cpuinfo && PATHS="$PATHS shani"
[ -n "$PATHS" ] || skip_all "neither AVX2 nor SHA-NI on this CPU: no path but OpenSSL's"

export BACKUPFS_CATALOG=$T/cat.db
R=$T/repo
S=$T/src
mkdir -p "$S"
for i in $(seq 1 60); do
	head -c $((20000 + i * 311)) /dev/urandom >"$S/f$i"
done
ok_cmd "init" bfs init "$R"
jq -c '.pack_size = 1048576' "$R/config" >"$T/config" && mv "$T/config" "$R/config"
ok_cmd "backup" bfs backup -r "$R" --id b1 --files "d=$S"

# every blob: "id type pack offset clen len"
for i in "$R"/index/*; do zstd -qdc "$i"; done |
	jq -r '.pack as $p | .blobs[] | "\(.[0]) \(.[1]) \($p) \(.[2]) \(.[3]) \(.[4])"' \
	>"$T/blobs"
# a pack with the most blobs, and two of its larger ones
P=$(awk '$2 == 0 { n[$3]++ } END { for (p in n) print n[p], p }' "$T/blobs" |
	sort -rn | head -n 1 | cut -d' ' -f2)
nblobs=$(awk -v p="$P" '$3 == p' "$T/blobs" | wc -l)
ok "$([ "$nblobs" -ge 8 ]; echo $?)" "a pack holds $nblobs blobs (a group for the lanes)"
read -r b1 _ _ o1 c1 _ < <(awk -v p="$P" '$3 == p && $2 == 0 && $6 > 20000' "$T/blobs" | sed -n 3p)
read -r b2 _ _ o2 _ _ < <(awk -v p="$P" '$3 == p && $2 == 0 && $6 > 20000' "$T/blobs" | sed -n 6p)
ok "$([ -n "$b1" ] && [ -n "$b2" ]; echo $?)" "two blobs of that pack chosen"


for how in $PATHS openssl; do
	BACKUPFS_TEST_SHA256=$how ok_cmd "check --read-data, clean ($how)" \
		bfs check -r "$R" --read-data --json
	is "$(jq -r '.ok, .counts.blobs == .counts.blobs_read' "$T/stdout")" \
		"$(printf 'true\ntrue')" "... every blob read, no problem ($how)"
done

cp -a "$R" "$T/bad"
flip_byte "$T/bad/packs/${P:0:2}/$P" $((o1 + c1 / 2)) # in the raw block
flip_byte "$T/bad/packs/${P:0:2}/$P" $((o2 + 5))      # the frame header
for how in $PATHS openssl; do
	BACKUPFS_TEST_SHA256=$how fails_with 1 "check --read-data, damaged ($how)" \
		bfs check -r "$T/bad" --read-data --json
	jq -S '.errors' "$T/stdout" >"$T/errors.$how"
	is "$(jq -r '[.errors[] | .kind + " " + .object] | sort | join(",")' "$T/stdout")" \
		"$(printf 'blob %s\nblob %s' "$b1" "$b2" | sort | paste -sd,)" \
		"... the two damaged blobs, nothing else ($how)"
done
for how in $PATHS; do
	is "$(cat "$T/errors.$how")" "$(cat "$T/errors.openssl")" \
		"$how report what one at a time reports (messages, backups, paths)"
done
like "$(cat "$T/errors.openssl")" "plain bytes do not match the id" \
	"... the flipped byte: its bytes do not match its id"

# same_files DIR: 0 when DIR/f1..f60 equal the sources
same_files() {
	local i
	for i in $(seq 1 60); do
		cmp -s "$1/f$i" "$S/f$i" || return 1
	done
}
# reads on each path: a file through cat, every file through the mount
for how in $PATHS; do
	BACKUPFS_TEST_SHA256=$how bfs cat -r "$R" b1:d/f17 >"$T/f17" 2>"$T/stderr"
	cmp -s "$T/f17" "$S/f17"
	ok $? "cat ($how) gives a file's bytes"
	BACKUPFS_TEST_SHA256=$how ok_cmd "mount ($how)" mount_repo "$R" "$T/mnt" \
		-v --log-file "$T/mount.$how.log"
	same_files "$T/mnt/b1/d"
	ok $? "the mount ($how) gives every file's bytes"
	unmount "$T/mnt"
	want="AVX[-0-9A-Z]* lanes"
	[ "$how" = shani ] && want="SHA-NI pairs"
	like "$(cat "$T/mount.$how.log")" "chunk ids checked with $want" \
		"... and its log names the path ($how)"
done
# (the same line gives the cache: 48M by default on a local repository,
# 72M on S3, t0810)
like "$(cat "$T/mount.${PATHS%% *}.log")" "\(cache 48 MiB;" \
	"a local mount's default cache is 48M"
# OPENSSL_ia32cap masking SHA-NI for OpenSSL masks it for the pairs too
if grep -qw sha_ni /proc/cpuinfo; then
	OPENSSL_ia32cap=:~0x20000000 BACKUPFS_TEST_SHA256=shani \
		ok_cmd "mount, SHA-NI masked" mount_repo "$R" "$T/mnt" \
		-v --log-file "$T/mount.masked.log"
	same_files "$T/mnt/b1/d"
	ok $? "... every file's bytes"
	unmount "$T/mnt"
	like "$(cat "$T/mount.masked.log")" "chunk ids checked with OpenSSL" \
		"... checked with OpenSSL: OPENSSL_ia32cap=:~0x20000000 masks SHA-NI"
fi

# an encrypted repository: keyed ids (HMAC-SHA256) on the same paths
export BACKUPFS_TEST_KDF=fast
head -c 32 /dev/urandom | base64 >"$T/pw"
export BACKUPFS_PASSWORD_FILE=$T/pw
E=$T/enc
ok_cmd "init (encrypted)" bfs init "$E"
jq -c '.pack_size = 1048576' "$E/config" >"$T/config" && mv "$T/config" "$E/config"
ok_cmd "backup (encrypted)" bfs backup -r "$E" --id b1 --files "d=$S"
for how in $PATHS; do
	BACKUPFS_TEST_SHA256=$how ok_cmd "check --read-data of it ($how)" \
		bfs check -r "$E" --read-data --json
	is "$(jq -r '.ok, .counts.blobs == .counts.blobs_read' "$T/stdout")" \
		"$(printf 'true\ntrue')" "... every blob read and its keyed id right ($how)"
	BACKUPFS_TEST_SHA256=$how ok_cmd "mount it ($how)" mount_repo "$E" "$T/mnt"
	same_files "$T/mnt/b1/d"
	ok $? "... every file's bytes ($how)"
	unmount "$T/mnt"
done
done_testing
