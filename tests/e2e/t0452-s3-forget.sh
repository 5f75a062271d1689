#!/bin/bash
# forget, delete and locks on S3 (s3rver behind the signature-checking,
# fault-injecting proxy): a policy removes the right manifests and only
# them, with 503s and connection resets on; kept backups restore byte for
# byte; unknown ids are refused; a lock object held by a live process
# blocks backup and forget, naming the holder; unlock --stale keeps a live
# lock and removes a dead one.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"
require_cmd jq jq

start_s3
R=s3://bfs-forget/app
ok_cmd "init on S3" bfs init "$R"
for d in 1 2 3 4 5; do
	seq 1 $((d * 700)) >"$T/f$d"
	bfs backup -q -r "$R" --stdin data.txt --tag nightly \
		--time "2026-05-0${d}T01:00:00Z" <"$T/f$d" ||
		bail_out "backup $d failed"
done
is "$(bfs_ids -r "$R" | wc -l)" 5 "five backups"
npacks=$(aws_s3 ls s3://bfs-forget/app/packs/ --recursive | wc -l)

ok_cmd "dry run" bfs forget -r "$R" --keep-last 2 --dry-run --json
is "$(jq -r '[.[0].remove[].id] | join(" ")' "$T/stdout")" \
	"2026-05-03_01-00-00 2026-05-02_01-00-00 2026-05-01_01-00-00" \
	"would remove the three oldest"

# retries must not turn a deletion into an error or a second effect
s3_faults 503:every=3 reset:every=4:method=DELETE 500:every=7
ok_cmd "forget --keep-last 2 with 503s, resets and 500s" \
	bfs forget -r "$R" --keep-last 2
stats=$(s3_fault_stats)
s3_faults
diag "faults: $(printf '%s' "$stats" | jq -c '[.faults[] | {spec, fired}]')"
ok "$(printf '%s' "$stats" | jq -e '[.faults[].fired] | add > 0' >/dev/null; echo $?)" \
	"faults fired during the forget"
like "$(cat "$T/stderr")" "removed 3 backups, kept 2" "three removed"
is "$(bfs_ids -r "$R" | tr '\n' ' ')" "2026-05-04_01-00-00 2026-05-05_01-00-00 " \
	"list shows the two kept"
is "$(aws_s3 ls s3://bfs-forget/app/manifests/ | awk '{print $4}' | tr '\n' ' ')" \
	"2026-05-04_01-00-00 2026-05-05_01-00-00 " "two manifests left in the bucket"
is "$(aws_s3 ls s3://bfs-forget/app/packs/ --recursive | wc -l)" "$npacks" \
	"no pack deleted"
for d in 4 5; do
	ok_cmd "restore kept backup $d" bfs restore -r "$R" "2026-05-0${d}_01-00-00" \
		--target "$T/out$d"
	ok_cmd "byte for byte" cmp "$T/out$d/data.txt" "$T/f$d"
done

fails_with 1 "unknown id refused" bfs delete -r "$R" 2026-05-04_01-00-00 nosuch
like "$(cat "$T/stderr")" "no backup 'nosuch'" "named"
is "$(bfs_ids -r "$R" | wc -l)" 2 "nothing removed"

# ---- a live exclusive lock on S3
sleep 600 &
HOLDER=$!
at_exit "kill $HOLDER 2>/dev/null"
K=$(printf 'a%.0s' $(seq 64))
printf '{"kind":"exclusive","host":"%s","pid":%s,"user":"ops","command":"prune","time":"%s","refreshed":"%s"}' \
	"$(hostname)" "$HOLDER" "$(date -u +%FT%TZ)" "$(date -u +%FT%TZ)" >"$T/lock"
ok_cmd "put a lock object" aws_s3 cp "$T/lock" "s3://bfs-forget/app/locks/$K"
fails_with 1 "backup refused" bfs backup -r "$R" --stdin x.txt </dev/null
like "$(cat "$T/stderr")" "locked exclusively by prune \(pid $HOLDER" "names the holder"
fails_with 1 "forget refused" bfs forget -r "$R" --keep-last 1
is "$(bfs_ids -r "$R" | wc -l)" 2 "nothing written, nothing removed"
nlocks() { bfs unlock -r "$R" --list 2>/dev/null | wc -l; }
is "$(nlocks)" 1 "no lock left by the refused ones"
ok_cmd "unlock --stale" bfs unlock -r "$R"
is "$(nlocks)" 1 "keeps the live lock"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
ok_cmd "unlock once the holder is gone" bfs unlock -r "$R"
like "$(cat "$T/stdout")" "removed stale lock locks/$K" "removes it and says so"
is "$(nlocks)" 0 "no locks left"
ok_cmd "delete latest works again" bfs delete -r "$R" latest
is "$(bfs_ids -r "$R" | tr '\n' ' ')" "2026-05-04_01-00-00 " "one left"

done_testing
