#!/bin/bash
# Crash safety of prune on S3 behind the signature-checking proxy with
# faults on (503s, resets, truncated bodies): as t0431 (tests/e2e/
# lib-prune.sh), prune killed (SIGKILL) at a random store operation;
# after each kill every kept backup restores byte for byte, with or
# without running prune again; the rerun succeeds, and a third run finds
# nothing left to do.  Each point starts from a copy of the repository
# (of s3rver's directory of the bucket).
# CI mode (CI=true): 10 points; else 100.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"
. "$top_srcdir/tests/e2e/lib-prune.sh"
require_fault_injection
require_cmd jq jq

if [ "${CI:-}" = true ]; then
	POINTS=${BFS_KILL_POINTS:-10}
else
	POINTS=${BFS_KILL_POINTS:-100}
fi
start_s3
P=$T/pristine
make_prune_repo "$P"
S3=s3://bfs-prune/r
ok_cmd "create the bucket" aws_s3 mb s3://bfs-prune
ok_cmd "upload the repository" aws_s3 sync --quiet "$P" "$S3"
# s3rver keeps a bucket as a directory under $T/s3/data: a copy of it is
# the cheapest reset (aws s3 sync --delete takes seconds)
B=$T/s3/data/bfs-prune
[ -d "$B" ] || bail_out "s3rver keeps no directory $B"
cp -a "$B" "$T/bucket0"
reset_s3() {
	rm -rf "$B"
	cp -a "$T/bucket0" "$B"
	s3_faults 503:every=13 reset:every=17 truncate:every=11:method=GET
}
reset_s3
ok "$(kept_ok "$S3" "$T/cat.db"; echo $?)" "the kept backups read back before prune (faults on)"
ok_cmd "a dry run has work to do" bfs prune -r "$S3" --grace 0 --dry-run --json
ok "$(jq -e '.deleted.packs >= 1 and .repacked.packs >= 1' "$T/stdout" >/dev/null; echo $?)" \
	"packs to delete and to repack ($(jq -c '[.deleted.packs, .repacked.packs]' "$T/stdout"))"
# the store operations of a prune, counted on a local copy (cheaper to
# reset; S3 makes the same calls)
reset_local() {
	rm -rf "$T/local"
	cp -a "$P" "$T/local"
}
NOPS=$(count_ops reset_local "$T/local")
NOPS=$NOPS kill_loop S3 reset_s3 "$S3"
s3_faults

done_testing
