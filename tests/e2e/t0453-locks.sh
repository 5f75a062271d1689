#!/bin/bash
# Repository locks from the command line (local repository): an exclusive
# lock held by a live process makes backup, forget, delete and copy fail
# naming the holder and write nothing; --lock-wait waits for it; unlock
# --stale removes a dead holder's lock and a timed-out one but not a live
# one; unlock --all removes everything; a backup whose lock is removed
# while it runs fails before its manifest is written; a backup killed
# with -9 leaves a lock that is stale at once on this host.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd jq jq

R=$T/repo
ok_cmd "init" bfs init "$R"
ok_cmd "backup b1" bfs backup -r "$R" --id b1 --command "a.txt=seq 1 100"
host=$(hostname)

# put_lock NAME KIND PID HOST REFRESHED: a lock object as another process
# would write it
put_lock() {
	mkdir -p "$R/locks"
	printf '{"kind":"%s","host":"%s","pid":%s,"user":"ops","command":"prune","time":"%s","refreshed":"%s"}' \
		"$2" "$4" "$3" "$5" "$5" >"$R/locks/$1"
}
now() { date -u '+%Y-%m-%dT%H:%M:%SZ'; }
K1=$(printf '1%.0s' $(seq 64))
K2=$(printf '2%.0s' $(seq 64))
K3=$(printf '3%.0s' $(seq 64))

# a live holder: a process of ours that sleeps
sleep 600 &
HOLDER=$!
at_exit "kill $HOLDER 2>/dev/null"
put_lock "$K1" exclusive "$HOLDER" "$host" "$(now)"

fails_with 1 "backup refused while prune holds the lock" \
	bfs backup -r "$R" --id b2 --command "a.txt=seq 1 200"
like "$(cat "$T/stderr")" "locked exclusively by prune \(pid $HOLDER on host $host, user ops\)" \
	"the holder is named"
like "$(cat "$T/stderr")" "backupfs unlock" "and how to clean up"
is "$(bfs_ids -r "$R" | tr '\n' ' ')" "b1 " "no backup written"
is "$(ls "$R/locks")" "$K1" "and no lock of its own left behind"
fails_with 1 "forget refused" bfs forget -r "$R" --keep-last 1
like "$(cat "$T/stderr")" "pid $HOLDER" "names the holder"
fails_with 1 "delete refused" bfs delete -r "$R" b1
is "$(bfs_ids -r "$R" | tr '\n' ' ')" "b1 " "nothing removed"
ok_cmd "forget --dry-run needs no lock" bfs forget -r "$R" --keep-last 1 --dry-run
ok_cmd "copy from a locked source (read only) works" \
	bfs copy --from "$R" --to "$T/copy" b1
ok_cmd "a backup in the other repository" \
	bfs backup -r "$T/copy" --id c1 --command "c.txt=seq 1 5"
fails_with 1 "copy to a locked target refused" \
	bfs copy --from "$T/copy" --to "$R" c1
like "$(cat "$T/stderr")" "pid $HOLDER" "names the holder"
ok "$([ ! -e "$R/manifests/c1" ]; echo $?)" "nothing copied"
ok_cmd "reading commands work" bfs list -r "$R"

# ---- unlock --list shows it; --stale leaves a live lock alone
ok_cmd "unlock --list" bfs unlock -r "$R" --list
like "$(cat "$T/stdout")" "locks/$K1  live  +prune, exclusive, pid $HOLDER on host $host, user ops" \
	"--list names the holder"
ok_cmd "unlock --list --json" bfs unlock -r "$R" --list --json
is "$(jq -r '.[] | [.key, .state, .kind, .command, .host, .pid, .user] | join(" ")' "$T/stdout")" \
	"locks/$K1 live exclusive prune $host $HOLDER ops" "--json names the holder"
fails_with 2 "--json without --list" bfs unlock -r "$R" --json
ok_cmd "unlock (--stale)" bfs unlock -r "$R"
like "$(cat "$T/stderr")" "no stale locks to remove" "nothing to remove"
like "$(cat "$T/stderr")" "1 lock is not stale" "says a live one is left"
is "$(ls "$R/locks")" "$K1" "the live lock stays"

# ---- --lock-wait: the backup waits until the holder is gone
(sleep 2; rm -f "$R/locks/$K1") &
start=$SECONDS
ok_cmd "backup --lock-wait 30s waits for the lock" \
	bfs backup -r "$R" --id b2 --lock-wait 30s --command "a.txt=seq 1 200"
ok "$([ $((SECONDS - start)) -ge 1 ]; echo $?)" "it did wait"
is "$(bfs_ids -r "$R" | tr '\n' ' ')" "b1 b2 " "and wrote its backup"
put_lock "$K1" exclusive "$HOLDER" "$host" "$(now)"
start=$SECONDS
fails_with 1 "--lock-wait 2s gives up" \
	bfs backup -r "$R" --id b3 --lock-wait 2s --command "a.txt=seq 1 300"
ok "$([ $((SECONDS - start)) -ge 2 ]; echo $?)" "after the wait"
fails_with 2 "bad --lock-wait" bfs backup -r "$R" --lock-wait soon --command "a=true"

# ---- stale locks: a dead pid on this host, and an old refresh elsewhere
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
put_lock "$K2" exclusive 12345 "another-host" "2020-01-01T00:00:00Z"
put_lock "$K3" shared 1 "another-host" "$(now)"
ok_cmd "unlock --list" bfs unlock -r "$R" --list
like "$(cat "$T/stdout")" "locks/$K1  stale" "dead pid: stale"
like "$(cat "$T/stdout")" "locks/$K2  stale" "refreshed in 2020: stale"
like "$(cat "$T/stdout")" "locks/$K3  live" "fresh lock of another host: live"
ok_cmd "backup while only stale locks and a shared one exist" \
	bfs backup -r "$R" --id b3 --command "a.txt=seq 1 300"
ok_cmd "unlock removes the stale ones" bfs unlock -r "$R"
like "$(cat "$T/stdout")" "removed stale lock locks/$K1" "prints the first"
like "$(cat "$T/stdout")" "removed stale lock locks/$K2" "and the second"
is "$(ls "$R/locks")" "$K3" "the live one stays"

# ---- an unreadable lock object blocks until unlock --all
echo garbage >"$R/locks/$K2"
fails_with 1 "an unreadable lock blocks" bfs backup -r "$R" --id b4 --command "a=true"
like "$(cat "$T/stderr")" "unreadable lock object 'locks/$K2'" "named"
ok_cmd "unlock --all" bfs unlock -r "$R" --all
is "$(ls "$R/locks" | wc -l)" 0 "every lock removed"
fails_with 2 "--all and --stale exclude each other" bfs unlock -r "$R" --all --stale

# ---- a lock lost while the backup runs: the backup fails, no manifest
"$BACKUPFS" backup -r "$R" --id lost --command "a.txt=sleep 3; seq 1 10" \
	>"$T/lost.out" 2>"$T/lost.err" &
BPID=$!
ok "$(wait_until 10 bash -c "ls '$R/locks' | grep -q ."; echo $?)" \
	"the running backup holds a lock"
ok_cmd "unlock --all removes it" bfs unlock -r "$R" --all
wait "$BPID"
is "$?" 1 "the backup fails"
like "$(cat "$T/lost.err")" "lock .* was removed by someone else" "because its lock was lost"
ok "$([ ! -e "$R/manifests/lost" ]; echo $?)" "no manifest written"
is "$(bfs_ids -r "$R" | tr '\n' ' ')" "b1 b2 b3 " "nothing visible"
is "$(ls "$R/locks" | wc -l)" 0 "no lock left"

# ---- a backup killed with -9 leaves its lock: stale at once on this host
"$BACKUPFS" backup -r "$R" --id killed \
	--command "a.txt=sleep 8; seq 1 10" >/dev/null 2>&1 &
BPID=$!
ok "$(wait_until 10 bash -c "ls '$R/locks' | grep -q ."; echo $?)" \
	"the running backup holds a lock"
kill -9 "$BPID"
wait "$BPID" 2>/dev/null
ok_cmd "unlock --list" bfs unlock -r "$R" --list
like "$(cat "$T/stdout")" "  stale  +backup, shared, pid $BPID on host $host" \
	"the killed backup's lock is stale (its pid is gone)"
ok_cmd "the next backup is not blocked" \
	bfs backup -r "$R" --id after-kill --command "a.txt=seq 1 10"
ok_cmd "unlock" bfs unlock -r "$R"
like "$(cat "$T/stdout")" "removed stale lock .*pid $BPID" "removes it"
ok "$([ ! -e "$R/manifests/killed" ]; echo $?)" "the killed backup left no manifest"

ok_cmd "unlock --help" bfs unlock --help
like "$(cat "$T/stdout")" "--stale" "documents --stale"

done_testing
