#!/bin/bash
# backupfs check on S3 (behind the signature-checking proxy): a clean
# repository passes, also with faults on (503s, resets, truncated bodies:
# retried, never reported as damage); K/N subsets read every pack once;
# damage made on the server (a flipped byte in a chunk, a truncated pack,
# a deleted pack, a broken pack index, a missing index object, a corrupt
# manifest) exits 1
# naming the object and the backups and paths it breaks.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"
require_cmd jq jq
require_cmd zstd zstd

start_s3
export BACKUPFS_CATALOG=$T/cat.db
L=$T/local
S=$T/src
B=s3://bfs-check
# The repository is written locally and copied to S3 (byte for byte), so
# that its keys and blobs can be read from the local twin.
mkdir -p "$S/data" "$S/docs"
head -c 4000000 /dev/urandom >"$S/data/big"
for i in $(seq 1 20); do echo "note $i" >"$S/docs/n$i.txt"; done
ok_cmd "init" bfs init "$L"
jq -c '.pack_size = 1048576' "$L/config" >"$T/config" && mv "$T/config" "$L/config"
ok_cmd "backup b1" bfs backup -r "$L" --id b1 --files "$S"
echo changed >>"$S/docs/n1.txt"
ok_cmd "backup b2" bfs backup -r "$L" --id b2 --files "$S"
npacks=$(find "$L/packs" -type f | wc -l)

pkey() { echo "packs/${1:0:2}/$1"; }
json() { jq -r "$1" "$T/stdout"; }
# Objects on the server, with curl's SigV4 (one awscli call costs seconds):
# s3put KEY FILE, s3rm KEY, s3keys PREFIX (keys under PREFIX, one a line)
s3curl() {
	curl -sS -f -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
		--aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$@"
}
s3put() { s3curl -X PUT --upload-file "$2" "$S3_ENDPOINT/bfs-check/$1" >/dev/null; }
s3rm() { s3curl -X DELETE "$S3_ENDPOINT/bfs-check/$1" >/dev/null; }
s3keys() {
	s3curl "$S3_ENDPOINT/bfs-check?list-type=2&prefix=$(jq -rn --arg p "$1" '$p | @uri')" |
		grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'
}
curl --help all 2>/dev/null | grep -c -- --aws-sigv4 >/dev/null ||
	skip_missing "curl >= 7.75 (--aws-sigv4)" "apt-get install curl"
# a fresh copy of the repository on S3 under prefix $1
to_s3() {
	bfs copy --from "$L" --to "$B/$1" --same-id >"$T/copy.out" 2>&1 ||
		bail_out "copy to $B/$1 failed: $(cat "$T/copy.out")"
}

# ---- clean, with and without faults
to_s3 clean
ok_cmd "check on S3" bfs check -r "$B/clean"
like "$(cat "$T/stdout")" "^no errors found" "... no errors"
ok_cmd "check --read-data on S3" bfs check -r "$B/clean" --read-data --json
is "$(json '.ok, .counts.packs_read, .counts.blobs == .counts.blobs_read')" \
	"$(printf 'true\n%s\ntrue' "$npacks")" "... every pack and blob read"
s3_faults 503:every=5 reset:every=7 truncate:every=6:method=GET 500:every=11
ok_cmd "check --read-data with faults on (retried)" bfs check -r "$B/clean" --read-data --json
is "$(json '.ok, .counts.packs_read')" "$(printf 'true\n%s' "$npacks")" \
	"... still whole, every pack read"
s3_faults
sum=0
for K in 1 2 3; do
	bfs check -r "$B/clean" --read-data-subset "$K/3" --json >"$T/stdout" 2>"$T/stderr"
	sum=$((sum + $(json .counts.packs_read)))
done
is "$sum" "$npacks" "1/3, 2/3, 3/3 read $npacks packs in all"
is "$(s3keys clean/manifests/ | wc -l)" 2 "s3keys lists the manifests"
is "$(s3keys clean/locks/)" "" "the check's shared lock is gone afterwards"

blob=$(for i in "$L"/index/*; do zstd -qdc "$i"; done |
	jq -r '.pack as $p | .blobs[] | select(.[1] == 0 and .[4] > 100000) | "\($p) \(.[2]) \(.[3])"' |
	head -n 1)
read -r bpack boff bclen <<<"$blob"
BK=$(pkey "$bpack")

# ---- a flipped byte in a chunk
to_s3 flip
# (a --cache-dir filled before the damage must not hide it from check)
ok_cmd "read the whole pack through a --cache-dir" bfs check -r "$B/flip" --read-data --cache-dir "$T/cache"
ok_cmd "cat through the --cache-dir" bash -c "\"\$BACKUPFS\" cat -r '$B/flip' --catalog '$T/flip.db' --cache-dir '$T/cache' b1:files/data/big | cmp - '$S/data/big'"
cp "$L/$BK" "$T/p" && flip_byte "$T/p" $((boff + bclen / 2))
s3put "flip/$BK" "$T/p"
ok_cmd "without --read-data the flip is not seen" bfs check -r "$B/flip"
fails_with 1 "check --read-data finds it" bfs check -r "$B/flip" --read-data
fails_with 1 "... also with the --cache-dir (ignored by check)" bfs check -r "$B/flip" --read-data --cache-dir "$T/cache"
like "$(cat "$T/stdout")" "damaged in pack '$BK'" "... names the pack"
like "$(cat "$T/stdout")" "breaks b1:/files/data/big$" "... and the file in b1"
like "$(cat "$T/stdout")" "breaks b2:/files/data/big$" "... and in b2"

# ---- a truncated pack
to_s3 trunc
head -c $(( $(stat -c %s "$L/$BK") - 100 )) "$L/$BK" >"$T/p"
s3put "trunc/$BK" "$T/p"
fails_with 1 "a truncated pack" bfs check -r "$B/trunc"
like "$(cat "$T/stdout")" "^error: pack $BK: truncated" "... named"
like "$(cat "$T/stdout")" "breaks backups b1, b2" "... with its backups"

# ---- a deleted pack
to_s3 del
s3rm "del/$BK"
fails_with 1 "a deleted pack" bfs check -r "$B/del"
like "$(cat "$T/stdout")" "^error: pack $BK: missing" "... named"

# ---- a broken pack index checksum (a byte of the index region)
to_s3 csum
cp "$L/$BK" "$T/p" && flip_byte "$T/p" $(( $(stat -c %s "$T/p") - 56 - 30 ))
s3put "csum/$BK" "$T/p"
fails_with 1 "a broken pack index" bfs check -r "$B/csum"
like "$(cat "$T/stdout")" "^error: pack $BK: pack index checksum mismatch" "... named"
like "$(cat "$T/stdout")" "breaks b1:/files/data/big$" "... with the paths"

# ---- a missing index object (b2's)
to_s3 noidx
I2=$(ls -t "$L/index" | head -n 1)
s3rm "noidx/index/$I2"
fails_with 1 "a missing index object" bfs check -r "$B/noidx"
like "$(cat "$T/stdout")" "is in no index object" "... its blobs are missing"
like "$(cat "$T/stdout")" "breaks backup b2$" "... and break b2"
like "$(cat "$T/stdout")" "garbage .*: 1 packs" "... whose pack is garbage"

# ---- a corrupt manifest
to_s3 badman
cp "$L/manifests/b1" "$T/m" && flip_byte "$T/m" 10
s3put "badman/manifests/b1" "$T/m"
fails_with 1 "a corrupt manifest" bfs check -r "$B/badman"
like "$(cat "$T/stdout")" "^error: manifest manifests/b1: " "... named"
like "$(cat "$T/stdout")" "breaks backup b1$" "... b1"

done_testing
