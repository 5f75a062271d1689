#!/bin/bash
# copy between repositories whose blob ids differ publishes a backup only
# once it is checked (copy_rewrite.c: the writer holds the manifest back,
# the written trees are compared with the source's and, with --verify,
# read back; only then is the manifest stored).
#  - kill loop: the copy is SIGKILLed before its Nth store operation
#    (BACKUPFS_FAULT any:every=N:kill=1), N = 1, 2, ... until it finishes.
#    A run killed before its last few operations leaves no backup in the
#    target; one that made it further leaves the whole, checked backup.
#    Only the target's catalog sync and the lock's release follow the
#    manifest: fewer store operations than the --verify read-back of the
#    12 files alone needs.  (Before, the manifest was stored before the
#    trees were read back: each kill during the check left an unchecked
#    backup; run against that order once, 18 of the last kills did.)
#  - a copy that fails (a corrupt source pack) publishes nothing.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_fault_injection
export BACKUPFS_TEST_KDF=fast
unset BACKUPFS_PASSWORD BACKUPFS_PASSWORD_FILE BACKUPFS_PASSWORD_COMMAND
printf 'publish verified pw 2718\n' >"$T/pw"
chmod 600 "$T/pw"
P=$T/plain
mkdir -p "$T/src/d"
for i in $(seq 1 12); do
	head -c $((20000 + i * 997)) /dev/urandom >"$T/src/d/f$i"
done
ok_cmd "init plain" bfs init "$P"
ok_cmd "backup b1" bfs backup -r "$P" --id b1 --files "app=$T/src"

has_b1() { [ -e "$1/manifests/b1" ]; }
ok_cmd "init the target" bfs init --password-file "$T/pw" "$T/e0"

# kill loop (each run starts from a fresh copy of the empty target)
max=300
[ "${CI:-}" = true ] && max=150
n=0 done_at=0 early=0 late=0 bad=0 first_late=0 gaps=0
while [ $n -lt $max ]; do
	n=$((n + 1))
	rm -rf "$T/e"
	cp -a "$T/e0" "$T/e"
	BACKUPFS_FAULT="any:every=$n:kill=1" "$BACKUPFS" copy --from "$P" \
		--to "$T/e" --to-password-file "$T/pw" --verify \
		>"$T/out" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		done_at=$n
		break
	fi
	[ $rc -eq 137 ] || diag "kill at $n: exit $rc: $(head -c 300 "$T/out")"
	if has_b1 "$T/e"; then
		late=$((late + 1))
		[ $first_late -eq 0 ] && first_late=$n
		bfs check -r "$T/e" --password-file "$T/pw" --read-data \
			>/dev/null 2>&1 || {
			diag "kill at $n left a backup that fails check"
			bad=$((bad + 1))
		}
	else
		early=$((early + 1))
		[ $first_late -gt 0 ] && gaps=$((gaps + 1))
	fi
done 2>/dev/null # bash's "Killed" notes
ok "$([ $done_at -gt 0 ]; echo $?)" \
	"the copy finishes once no kill hits it ($done_at store operations)"
ok "$([ $early -gt 12 ]; echo $?)" "$early kills left no backup"
is "$gaps" 0 "once a kill leaves the backup, every later one does"
ok "$([ $late -lt 12 ]; echo $?)" \
	"only the last $late operations (from $first_late) follow the manifest"
is "$bad" 0 "every backup a kill left passes check --read-data"

# a failing copy: its Nth source read of a pack returns a flipped byte
rm -rf "$T/e"
cp -a "$T/e0" "$T/e"
BACKUPFS_FAULT="get:key=packs/:every=5:corrupt=1" fails_with 1 \
	"a copy that reads a corrupt chunk fails" \
	bfs copy --from "$P" --to "$T/e" --to-password-file "$T/pw" --verify
like "$(cat "$T/stderr")" "backup 'b1' not copied" "... saying which backup"
ok "$(has_b1 "$T/e"; [ $? -ne 0 ]; echo $?)" "... and publishes nothing"
ok_cmd "the target is fine after it" \
	bfs check -r "$T/e" --password-file "$T/pw"
ok_cmd "a copy after it succeeds" bfs copy --from "$P" --to "$T/e" \
	--to-password-file "$T/pw" --verify
ok "$(has_b1 "$T/e"; echo $?)" "... and publishes the backup"
done_testing
