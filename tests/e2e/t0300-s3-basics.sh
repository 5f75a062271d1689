#!/bin/bash
# S3 basics through the signature-checking proxy in front of s3rver: init
# creates the bucket and refuses a second init; backup / list / ls / cat /
# restore of an awkward tree and a dump round-trip; awscli sees the objects
# backupfs wrote (and they are what the format says); wrong credentials,
# a wrong region and a missing bucket fail at once with a clear message and
# never show the secret; injected 503s, 500s, resets and truncated bodies
# during backup and restore still give identical bytes.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"

start_s3
export BACKUPFS_S3_RETRY_SECONDS=60
R=s3://bfs-test/pre/fix
S=$T/src

make_awkward_tree "$S"
# A dump-like stream: 24 MiB of SQL-ish text, deterministic.
"$BFS_PYTHON" - "$T/dump.sql" <<'PY'
import random, sys
r = random.Random(42)
with open(sys.argv[1], "w") as f:
    f.write("-- a dump\nCOPY t (id, name, note) FROM stdin;\n")
    i = 0
    while f.tell() < 24 << 20:
        i += 1
        f.write("%d\tname %d\t%s\n" % (i, r.randrange(10**9),
                "".join(r.choice("abcdefghij klmnop") for _ in range(r.randrange(10, 200)))))
    f.write("\\.\n")
PY

# ---- init
ok_cmd "init s3://bucket/prefix creates the bucket" bfs init "$R"
ok_cmd "aws s3 ls sees the bucket" aws_s3 ls
like "$(cat "$T/stdout")" "bfs-test" "the bucket exists"
ok_cmd "aws s3 ls sees the config under the prefix" aws_s3 ls s3://bfs-test/pre/fix/
like "$(cat "$T/stdout")" " config$" "config written under the prefix"
fails_with 1 "init twice is refused" bfs init "$R"
like "$(cat "$T/stderr")" "already|exists" "the refusal says a repository exists"

# ---- backup / list / ls / cat / restore
ok_cmd "backup of the awkward tree and a dump to S3" bash -c \
	"\"\$BACKUPFS\" backup -r '$R' --id b1 --files '$S' --stdin dump.sql <'$T/dump.sql'"
ok_cmd "list" bfs list -r "$R"
like "$(cat "$T/stdout")" "b1" "list shows b1"
ok_cmd "ls b1" bfs ls -r "$R" b1
is "$(sort "$T/stdout" | tr '\n' ' ')" "dump.sql files " "ls shows dump.sql and files"
ok_cmd "cat b1:dump.sql" bash -c "\"\$BACKUPFS\" cat -r '$R' b1:dump.sql >'$T/cat1.sql'"
ok_cmd "cat gives the dump byte for byte" cmp "$T/dump.sql" "$T/cat1.sql"
ok_cmd "restore b1" bfs restore -r "$R" b1 --target "$T/r1"
ok_cmd "restored tree equals the source" compare_trees "$S" "$T/r1/files"
ok_cmd "restored dump equals the source" cmp "$T/dump.sql" "$T/r1/dump.sql"

# A fresh catalog (another machine): everything comes from S3.
ok_cmd "list with a fresh catalog" bfs list -r "$R" --catalog "$T/fresh.db"
like "$(cat "$T/stdout")" "b1" "a fresh catalog finds b1 in S3"

# ---- cross-check with awscli: the objects are what the format says
ok_cmd "aws s3 ls --recursive" aws_s3 ls --recursive s3://bfs-test/pre/fix/
listing=$(cat "$T/stdout")
like "$listing" " pre/fix/manifests/b1$" "manifest at manifests/b1"
like "$listing" " pre/fix/packs/[0-9a-f]{2}/[0-9a-f]{64}$" "packs at packs/xx/<sha256>"
like "$listing" " pre/fix/index/[0-9a-f]{64}$" "index objects at index/<sha256>"
unlike "$listing" "pre/fix/[^cmpi]|\\.tmp" "nothing else under the prefix"
pack=$(printf '%s\n' "$listing" | awk '{print $4}' | grep '/packs/' | head -1)
ok_cmd "aws s3 cp of a pack" aws_s3 cp "s3://bfs-test/$pack" "$T/pack"
is "$(sha256sum <"$T/pack" | cut -c1-64)" "$(basename "$pack")" "pack id = SHA-256 of its bytes"
is "$(basename "$(dirname "$pack")")" "$(basename "$pack" | cut -c1-2)" "pack directory = first two hex digits"
ok_cmd "aws s3 cp of the manifest" aws_s3 cp s3://bfs-test/pre/fix/manifests/b1 "$T/manifest"
is "$(zstd -dc "$T/manifest" | head -1 | jq -r .id)" "b1" "manifest line 1 names backup b1"
ok_cmd "a key with spaces, + and UTF-8 written by awscli reads back" \
	aws_s3 cp "$T/dump.sql" "s3://bfs-test/other/a b+c é.sql"

# ---- errors: at once, clear, no secret
secret=WrongSecret1234567890xyz
start=$(date +%s)
fails_with 1 "wrong secret: exit 1" env AWS_SECRET_ACCESS_KEY=$secret "$BACKUPFS" list -r "$R"
elapsed=$(( $(date +%s) - start ))
like "$(cat "$T/stderr")" "S3 rejected the credentials \\(SignatureDoesNotMatch\\): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" \
	"wrong secret: clear message"
unlike "$(cat "$T/stderr")" "$secret" "the secret is not in the message"
ok "$([ $elapsed -le 5 ]; echo $?)" "wrong secret fails at once, no retries (${elapsed}s)"
fails_with 1 "unknown access key: exit 1" env AWS_ACCESS_KEY_ID=NOSUCHKEY "$BACKUPFS" list -r "$R"
like "$(cat "$T/stderr")" "S3 rejected the credentials \\(InvalidAccessKeyId\\)" "unknown key: clear message"
fails_with 1 "wrong region: exit 1" env AWS_REGION=eu-west-1 "$BACKUPFS" list -r "$R"
like "$(cat "$T/stderr")" "wrong region 'eu-west-1'" "wrong region: clear message"
fails_with 1 "missing bucket: exit 1" bfs list -r s3://no-such-bucket/x
like "$(cat "$T/stderr")" "bucket 'no-such-bucket' does not exist" "missing bucket: clear message"
fails_with 1 "no credentials: exit 1" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$BACKUPFS" list -r "$R"
like "$(cat "$T/stderr")" "AWS_ACCESS_KEY_ID" "no credentials: says which variables"
fails_with 1 "empty prefix without a repository: exit 1" bfs list -r s3://bfs-test/nothing-here
like "$(cat "$T/stderr")" "no backupfs repository" "no repository: clear message"

# ---- faults during backup and restore
"$BFS_PYTHON" - "$T/dump.sql" "$T/dump2.sql" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
for off in range(1000, len(d), 3 << 20):
    d[off:off + 5] = b"XXXXX"
open(sys.argv[2], "wb").write(d)
PY
echo "new file" >"$S/new-file.txt"
head -c 40000000 /dev/urandom >"$T/random.bin"
# The backup makes few requests (mostly pack PUTs): high rates.
s3_faults 503:every=3:method=PUT reset:every=4:method=PUT 500:every=5 \
	truncate:every=3:method=GET delay:every=7:ms=100
ok_cmd "backup with injected 503/500/resets/truncations/delays" bash -c \
	"\"\$BACKUPFS\" backup -r '$R' --id b2 --files '$S' --stdin dump.sql --files random.bin='$T/random.bin' <'$T/dump2.sql'"
stats=$(s3_fault_stats)
diag "faults during the backup: $stats"
is "$(printf '%s' "$stats" | jq '.faults | map(select(.fired == 0)) | length')" "0" "every kind of fault fired during the backup"
# Restores make a request per file: lower rates.
s3_faults 503:every=11 reset:every=13 truncate:every=7:method=GET 500:every=17 delay:every=19:ms=100
ok_cmd "restore parts of b2 with faults" bfs restore -r "$R" --catalog "$T/fault.db" \
	b2:dump.sql --target "$T/r2"
ok_cmd "restore b2:random.bin with faults" bfs restore -r "$R" --catalog "$T/fault.db" \
	b2:random.bin --target "$T/r2"
ok_cmd "restore b2:files/dir with faults" bfs restore -r "$R" --catalog "$T/fault.db" \
	b2:files/dir --target "$T/r2"
ok_cmd "restore b2:files/new-file.txt with faults" bfs restore -r "$R" --catalog "$T/fault.db" \
	b2:files/new-file.txt --target "$T/r2"
ok_cmd "restored dump equals the source" cmp "$T/dump2.sql" "$T/r2/dump.sql"
ok_cmd "restored random file equals the source" cmp "$T/random.bin" "$T/r2/random.bin"
ok_cmd "restored sub tree equals the source" compare_trees "$S/dir" "$T/r2/files/dir"
ok_cmd "restored new file equals the source" cmp "$S/new-file.txt" "$T/r2/files/new-file.txt"
ok_cmd "cat b1:dump.sql with faults" bash -c "\"\$BACKUPFS\" cat -r '$R' b1:dump.sql >'$T/cat2.sql'"
ok_cmd "cat with faults gives identical bytes" cmp "$T/dump.sql" "$T/cat2.sql"
stats=$(s3_fault_stats)
diag "faults during the restores: $stats"
fired=$(printf '%s' "$stats" | jq '[.faults[].fired] | add')
ok "$([ "${fired:-0}" -gt 20 ]; echo $?)" "faults were injected ($fired)"
is "$(printf '%s' "$stats" | jq '.faults | map(select(.fired == 0)) | length')" "0" "every kind of fault fired during the restores"
is "$(printf '%s' "$stats" | jq .rejected)" "3" "only the three bad-credential/region requests were rejected by the signature check"

# Faults that never stop: a bounded wait, then a clear error.
s3_faults 503:every=1
start=$(date +%s)
fails_with 1 "S3 answering 503 forever: exit 1" env BACKUPFS_S3_RETRY_SECONDS=3 \
	"$BACKUPFS" cat -r "$R" --catalog "$T/fault2.db" b1:dump.sql
elapsed=$(( $(date +%s) - start ))
like "$(cat "$T/stderr")" "SlowDown" "the error names the last S3 error"
like "$(cat "$T/stderr")" "gave up after [0-9]+ attempts" "the error says it gave up"
ok "$([ $elapsed -le 15 ]; echo $?)" "bounded retry time (${elapsed}s)"
s3_faults

# The checker itself, cross-checked with a real client: awscli's requests
# pass (above), and the same request signed with a wrong secret fails.
( export AWS_SECRET_ACCESS_KEY=WrongSecret; aws_s3 ls s3://bfs-test/pre/fix/ ) \
	>"$T/stdout" 2>"$T/stderr"
rc=$?
ok "$([ $rc -ne 0 ]; echo $?)" "awscli with a wrong secret is rejected by the proxy (exit $rc)"
like "$(cat "$T/stderr")" "SignatureDoesNotMatch" "... with SignatureDoesNotMatch"

ok_cmd "list after the faults" bfs list -r "$R"
is "$(bfs_ids -r "$R" | sort | tr '\n' ' ')" "b1 b2 " "two backups"

done_testing
