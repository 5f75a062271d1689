#!/bin/bash
# backupfs scheduler with "every 2s" jobs and a local repository: a job
# whose pre hook outlasts its interval never runs twice at once (nor
# while a `backupfs run` by hand holds its lock); a yearly job whose last
# run is long past runs once at start-up with catch_up and not without;
# a bad job file is logged and skipped; SIGHUP adds a new job, drops a
# removed one and applies a changed schedule; SIGTERM waits --stop-timeout for a running job, then
# SIGTERMs it and exits 0; each run start has one end line with its pid.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd flock util-linux

J=$T/jobs
S=$T/state
R=$T/repo
mkdir -p "$J" "$S" "$T/src"
echo data >"$T/src/f"
ok_cmd "init" bfs init "$R"

# job NAME SCHEDULE [EXTRA]: a job file backing up $T/src
job() {
	printf '{"name": "%s", "repository": "%s", "sources": [{"files": "%s"}], "schedule": "%s"%s}\n' \
		"$1" "$R" "$T/src" "$2" "${3:-}" >"$J/$1.json"
}
# slow: its pre hook (3s) outlasts its interval (2s); the hook notes an
# overlap if another run of it is inside
job slow "every 2s" ", \"hooks\": {\"pre\": [\"if [ -e $T/slow.in ]; then echo OVERLAP; fi >>$T/slow.log; touch $T/slow.in; echo run >>$T/slow.log; sleep 3; rm -f $T/slow.in\"]}"
# yearly jobs whose last run was 400 days ago: a slot was missed
job caught "0 0 1 1 *"
job nocatch "0 0 1 1 *" ', "catch_up": false'
# make_old NAME: its last run started 400 days ago
make_old() {
	local old=$(($(date +%s) - 400 * 86400))
	sed -i "s/\"start_unix\":[^,]*,/\"start_unix\": $old,/" "$S/jobs/$1/last.json"
	like "$(cat "$S/jobs/$1/last.json")" "\"start_unix\": $old," "$1's last run is 400 days old"
}
for n in caught nocatch; do
	ok_cmd "run $n once by hand" bfs run --jobs "$J" --state-dir "$S" "$n"
	make_old "$n"
done
# held: due every 2s, but a run by hand holds its lock
job held "every 2s"
mkdir -p "$S/jobs/held"
# (one process holding the flock: killing it frees the lock)
"$BFS_PYTHON" -c 'import fcntl, sys, time
f = open(sys.argv[1], "w"); fcntl.flock(f, fcntl.LOCK_EX); time.sleep(600)' \
	"$S/jobs/held/lock" &
holder=$!
at_exit "kill $holder 2>/dev/null"
lock_busy() { ! flock -n -x "$1" true; }
ok_cmd "the lock of held is taken" wait_until 10 lock_busy "$S/jobs/held/lock"
# a job file that does not load
printf '{"name": "broken", "repository": "%s", "sources": [], "schedule": "every 2s"}\n' \
	"$R" >"$J/broken.json"

# (the binary itself, not the bfs function: signals go to its pid)
"$BACKUPFS" scheduler --jobs "$J" --state-dir "$S" --stop-timeout 2s \
	>"$T/sched.out" 2>"$T/sched.log" &
sched=$!
at_exit "kill -9 $sched 2>/dev/null"
L=$T/sched.log
started() { grep -c "scheduler: started job '$1'" "$L"; }

ok_cmd "caught starts at once (catch_up)" wait_until 15 grep -q "started job 'caught'" "$L"
like "$(cat "$L")" "skipping .*broken.json: sources: " "the bad file is logged naming the field"
ok_cmd "slow starts after its first interval" wait_until 15 grep -q "started job 'slow'" "$L"
is "$(started held)" 0 "held does not start while its lock is held"
kill $holder
wait $holder 2>/dev/null
ok_cmd "held starts once its lock is free" wait_until 15 grep -q "started job 'held'" "$L"
slow_runs() { [ "$(grep -c '^run' "$T/slow.log")" -ge "$1" ]; }
ok_cmd "slow ran at least twice" wait_until 30 slow_runs 2
unlike "$(cat "$T/slow.log")" "OVERLAP" "slow never ran twice at once"
is "$(started caught)" 1 "caught ran once"
is "$(started nocatch)" 0 "nocatch (catch_up false) did not run"

# SIGHUP: a new job runs, a removed one is dropped, a changed schedule
# takes effect
job added "every 2s"
rm "$J/held.json"
job nocatch "every 1s" ', "catch_up": false'
kill -HUP $sched
ok_cmd "SIGHUP: the added job starts" wait_until 15 grep -q "started job 'added'" "$L"
ok_cmd "SIGHUP: nocatch runs on its new schedule" \
	wait_until 15 grep -q "started job 'nocatch'" "$L"
like "$(cat "$L")" "job 'held' removed" "SIGHUP: the removed job is dropped"
n=$(started held)
sleep 2.5
is "$(started held)" "$n" "the removed job does not start again"
rm "$J/added.json" "$J/slow.json" "$J/nocatch.json"

# SIGTERM while a long run is in its pre hook: 2s of patience, then
# SIGTERM to the run, which stops its hook
job long "every 1s" ", \"hooks\": {\"pre\": [\"echo \$\$ >$T/long.pid; exec sleep 60\"]}"
kill -HUP $sched
ok_cmd "long starts" wait_until 15 grep -q "started job 'long'" "$L"
sleep 0.5
t0=$SECONDS
kill -TERM $sched
wait $sched
rc=$?
is "$rc" 0 "SIGTERM: the scheduler exits 0"
ok $([ $((SECONDS - t0)) -le 15 ] && echo 0 || echo 1) \
	"within the stop timeout and the run's own stop ($((SECONDS - t0))s)"
like "$(cat "$L")" "waiting up to 2s for [0-9]+ running jobs?" "it waited for the run"
like "$(cat "$L")" "sending SIGTERM to job 'long'" "then sent it SIGTERM"
like "$(cat "$L")" "job 'long' ended, pid [0-9]+, (exit [0-9]+|killed by signal 15), [0-9.]+s" \
	"the run's end is logged with its exit status and duration"
hook=$(cat "$T/long.pid")
ok $(kill -0 "$hook" 2>/dev/null && echo 1 || echo 0) "no hook is left running (pid $hook)"
like "$(tail -n 1 "$L")" "scheduler: stopped" "the last line says it stopped"

# one end line per start, with the same pid
starts=$(sed -n "s/.*scheduler: started job '\([^']*\)', pid \([0-9]*\)$/\1 \2/p" "$L" | sort)
ends=$(sed -n "s/.*scheduler: job '\([^']*\)' ended, pid \([0-9]*\),.*/\1 \2/p" "$L" | sort)
is "$ends" "$starts" "one end line per start line, same job and pid"
ok $([ "$(wc -l <<<"$starts")" -ge 6 ] && echo 0 || echo 1) "at least 6 runs were logged"

# --once: start what is due now, wait, exit
make_old caught
rm -f "$J/long.json"
ok_cmd "--once runs the due jobs and exits" bfs scheduler --jobs "$J" --state-dir "$S" --once
is "$(grep -c "started job" "$T/stderr")" 1 "--once: one job was due (caught)"
like "$(cat "$T/stderr")" "job 'caught' ended, pid [0-9]+, exit 0" "and it ended well"
fails_with 2 "a bad --stop-timeout is a usage error" bfs scheduler --jobs "$J" --stop-timeout 10x
fails_with 1 "a missing jobs directory is an error" bfs scheduler --jobs "$T/none" --state-dir "$S"
like "$(cat "$T/stderr")" "cannot read the jobs directory '$T/none'" "naming it"

done_testing
