#!/bin/bash
# Crash safety of prune on a local repository: a repository with tiny
# packs, several backups, some forgotten; prune is killed (SIGKILL) at a
# random store operation (BACKUPFS_FAULT any:every=N:kill=1, so every
# point between two operations is reachable), and a few times by a real
# kill -9 after a random delay.  After each kill every kept backup
# restores byte for byte, with or without running prune again; the rerun
# succeeds, and a third run finds nothing left to do (tests/e2e/
# lib-prune.sh).  t0432 does the same on S3.
# CI mode (CI=true): 10 points; else 100.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-prune.sh"
require_fault_injection
require_cmd jq jq

if [ "${CI:-}" = true ]; then
	POINTS=${BFS_KILL_POINTS:-10}
else
	POINTS=${BFS_KILL_POINTS:-100}
fi
P=$T/pristine
make_prune_repo "$P"
ok_cmd "a dry run has work to do" bfs prune -r "$P" --grace 0 --dry-run --json
ok "$(jq -e '.deleted.packs >= 1 and .repacked.packs >= 1' "$T/stdout" >/dev/null; echo $?)" \
	"packs to delete and to repack ($(jq -c '[.deleted.packs, .repacked.packs]' "$T/stdout"))"

L=$T/local
reset_local() {
	rm -rf "$L"
	cp -a "$P" "$L"
}
kill_loop local reset_local "$L" 1

done_testing
