#!/bin/bash
# backupfs run and status on local repositories: the order of the hooks,
# the environment they see, a hook timeout that kills a hanging hook's
# whole process group, a failing pre that skips the backup but still runs
# post, post after a failed backup, the run log, the state files, the
# "already running" lock, the exit codes (0 ok, 1 warning, 2 failed,
# 3 could not run), SIGTERM in the middle of a run, in a hook and in a
# step (handed on to the backup; post still runs),
# --json, --dry-run, status --json and --prometheus,
# and a webhook that gets the redacted summary.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

TOOLS=$top_srcdir/tests/tools
J=$T/jobs
S=$T/state
O=$T/order
mkdir -p "$J" "$T/data"
echo hello >"$T/data/a.txt"
ok_cmd "init a repository" bfs init -r "$T/repo"
ok_cmd "an ad-hoc backup of the same data, without a job" \
	bfs backup -r "$T/repo" --id adhoc --files "data=$T/data"

# jq-like: py EXPR FILE (EXPR on the JSON document d)
py() {
	"$BFS_PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[2]))
print(eval(sys.argv[1]))' "$@"
}

"$BFS_PYTHON" "$TOOLS/http-receiver.py" --port-file "$T/http.port" \
	--log "$T/http.jsonl" >"$T/http.out" 2>&1 &
at_exit "kill $! 2>/dev/null"
wait_until 10 test -s "$T/http.port" || bail_out "http-receiver did not start"
HP=$(cat "$T/http.port")

SECRET=Zq8secretValue42
printf 'MY_SECRET=%s\nexport APP_MODE=prod\n' "$SECRET" >"$T/app.env"
chmod 600 "$T/app.env"

# hook NAME: a hook command that appends "NAME JOB STATUS ID" to $O
hook() {
	echo "echo $1 \$BACKUPFS_JOB \$BACKUPFS_STATUS \${BACKUPFS_BACKUP_ID:--} >> $O"
}

cat >"$J/app.json" <<EOF
{"name": "app", "repository": "$T/repo", "env_file": "$T/app.env",
 "tags": ["nightly"],
 "sources": [{"files": "data=$T/data"}],
 "hooks": {"pre": ["$(hook pre)"], "post": ["$(hook post)"],
           "on_success": ["$(hook on_success)", "echo mode=\$APP_MODE secret=\$MY_SECRET"],
           "on_failure": ["$(hook on_failure)"]},
 "retention": {"keep_last": 2},
 "schedule": "every 1h",
 "notify": [{"type": "webhook", "url": "http://127.0.0.1:$HP/hook/tok3n", "level": "all"}]}
EOF

# ---- a good run
: >"$O"
bfs run --jobs "$J" --state-dir "$S" --json app >"$T/run.json" 2>"$T/run.err"
is "$?" 0 "a good run exits 0"
id=$(py 'd[0]["backup_id"]' "$T/run.json")
is "$(py 'd[0]["status"]' "$T/run.json")" ok "--json: status ok"
is "$(bfs_ids -r "$T/repo" | tail -n 1)" "$id" "--json: the backup id is the new backup"
is "$(bfs list -r "$T/repo" --json | jq -r '.[-1].job')" app \
	"the backup carries the job's name (backup --job)"
is "$(cat "$O")" "pre app running -
post app ok $id
on_success app ok $id" "hooks ran in order with BACKUPFS_JOB/STATUS/BACKUP_ID"
L=$S/jobs/app/run.log
like "$(cat "$L")" "mode=\*\*\* secret=\*\*\*" "hooks see the env_file; the run log has its values redacted"
unlike "$(cat "$L")" "$SECRET" "the run log holds no secret (a hook echoed it)"
ok "$([ ! -e "$L.tmp" ]; echo $?)" "no temp file of the log rewrite is left"
like "$(cat "$L")" "hooks.pre\[0\]: started" "run log: the runner's lines"
like "$(cat "$L")" "backup $id: 1 files" "run log: the backup's own output"
like "$(cat "$L")" "forget: exit status 0" "run log: the retention ran"
is "$(stat -c %a "$L") $(stat -c %a "$S") $(stat -c %a "$S/jobs/app/last.json")" \
	"600 700 600" "run log 0600, state dir 0700, last.json 0600"
unlike "$(cat "$S/jobs/app/last.json")" "$SECRET" "last.json: no secret"
like "$(py 'd["log_tail"]' "$S/jobs/app/last.json")" 'secret=\*\*\*' \
	"last.json: the log tail is redacted"
is "$(py 'd["backup_id"] + " " + d["status"]' "$S/jobs/app/last-ok.json")" \
	"$id ok" "last-ok.json"
is "$(wc -l <"$S/jobs/app/runs.jsonl")" 1 "runs.jsonl: one line"
like "$(grep -o '/hook/[a-z0-9]*' "$T/http.jsonl" | sort -u)" "^/hook/tok3n$" \
	"the webhook got the summary"
unlike "$(cat "$T/http.jsonl")" "$SECRET" "the webhook payload has no secret"
unlike "$(cat "$T/run.err" "$T/run.json")" "$SECRET" "run's own output has no secret"
like "$(cat "$T/run.err")" "job app: ok, backup $id" "one line per job on stderr"

# ---- status
bfs status --jobs "$J" --state-dir "$S" --json >"$T/st.json"
is "$?" 0 "status after a good run exits 0"
is "$(py 'd[0]["job"] + " " + d[0]["last_run"]["status"] + " " + d[0]["last_run"]["backup_id"]' "$T/st.json")" \
	"app ok $id" "status --json: last run"
is "$(py 'd[0]["last_success"]["backup_id"]' "$T/st.json")" "$id" \
	"status --json: last success"
is "$(py 'd[0]["next_run_unix"] - d[0]["last_run"]["start_unix"]' "$T/st.json")" \
	3600 "status --json: next run = last run + every 1h"
is "$(py 'd[0]["repository"]["backups"]' "$T/st.json") $(py 'd[0]["repository"]["job_backups"]' "$T/st.json")" \
	"2 1" "status --json: the repository's backup count, all and the job's"
ok_cmd "status --prometheus" bfs status --jobs "$J" --state-dir "$S" -q \
	--prometheus "$T/m.prom"
P=$(cat "$T/m.prom")
like "$P" '# TYPE backupfs_last_run_ok gauge' "prometheus: TYPE lines"
like "$P" '# HELP backupfs_last_success_timestamp_seconds ' "prometheus: HELP lines"
like "$P" 'backupfs_last_run_ok\{job="app"\} 1' "prometheus: last_run_ok 1"
like "$P" 'backupfs_last_run_duration_seconds\{job="app"\} [0-9.]+' \
	"prometheus: duration"
added=$(py 'd["bytes_added"]' "$S/jobs/app/last.json")
like "$P" "backupfs_backup_added_bytes\{job=\"app\"\} $added" \
	"prometheus: added bytes = the summary's"
ls "$T"/m.prom.tmp* >/dev/null 2>&1
is "$?" 2 "prometheus: no temporary file left"

# ---- a hanging pre hook times out; its whole group is killed; post runs
cat >"$J/hang.json" <<EOF
{"name": "hang", "repository": "$T/repo",
 "sources": [{"files": "data=$T/data"}],
 "hooks": {"pre": ["sleep 300 & echo \$! > $T/hang.pid; wait", "$(hook pre2)"],
           "post": ["$(hook post)"], "on_failure": ["$(hook on_failure)"],
           "timeout": "1s"}}
EOF
: >"$O"
n0=$(bfs_ids -r "$T/repo" | wc -l)
t0=$SECONDS
bfs run --jobs "$J" --state-dir "$S" hang 2>"$T/run.err"
is "$?" 2 "a timed-out pre hook fails the run (exit 2)"
ok $((SECONDS - t0 > 10)) "the timeout struck in time ($((SECONDS - t0)) s)"
# gone, or a zombie (a container's init may not reap orphans)
st=$(ps -o stat= -p "$(cat "$T/hang.pid")" 2>/dev/null)
like "${st:-gone}" '^(gone|Z)' "the hook's background child was killed with its group"
is "$(cat "$O")" "post hang failed -
on_failure hang failed -" "pre stopped at the failure, post and on_failure ran"
is "$(bfs_ids -r "$T/repo" | wc -l)" "$n0" "no backup was written"
like "$(py 'd["error"]' "$S/jobs/hang/last.json")" \
	'hooks.pre\[0\] failed: timed out after 1s' "the error names the hook"
ok $([ ! -e "$S/jobs/hang/last-ok.json" ]; echo $?) "no last-ok.json"

# ---- a failing pre aborts: nothing after it, no backup, post still runs
sed -e 's/"sleep 300[^"]*"/"exit 7"/' -e 's/"name": "hang"/"name": "prefail"/' \
	"$J/hang.json" >"$J/prefail.json"
: >"$O"
bfs run --jobs "$J" --state-dir "$S" prefail 2>"$T/run.err"
is "$?" 2 "a failing pre: exit 2"
is "$(cat "$O")" "post prefail failed -
on_failure prefail failed -" "a failing pre: the rest of pre skipped, post ran"
is "$(bfs_ids -r "$T/repo" | wc -l)" "$n0" "a failing pre: no backup"
like "$(py 'd["error"]' "$S/jobs/prefail/last.json")" \
	'hooks.pre\[0\] failed: exit status 7' "a failing pre: the error"

# ---- post runs after a failed backup
cat >"$J/bkfail.json" <<EOF
{"name": "bkfail", "repository": "$T/repo",
 "sources": [{"files": "data=$T/no-such-dir"}],
 "hooks": {"pre": ["$(hook pre)"], "post": ["$(hook post)"],
           "on_success": ["$(hook on_success)"], "on_failure": ["$(hook on_failure)"]}}
EOF
: >"$O"
bfs run --jobs "$J" --state-dir "$S" bkfail 2>"$T/run.err"
is "$?" 2 "a failed backup: exit 2"
is "$(cat "$O")" "pre bkfail running -
post bkfail failed -
on_failure bkfail failed -" "a failed backup: post and on_failure ran"
like "$(py 'd["error"]' "$S/jobs/bkfail/last.json")" 'backup failed.*no-such-dir' \
	"a failed backup: the error quotes the backup's message"

# ---- a failing on_success makes a warning (exit 1)
cat >"$J/warn.json" <<EOF
{"name": "warn", "repository": "$T/repo",
 "sources": [{"files": "data=$T/data"}], "hooks": {"on_success": ["false"]}}
EOF
bfs run --jobs "$J" --state-dir "$S" warn 2>"$T/run.err"
is "$?" 1 "a failed on_success hook: warning, exit 1"
is "$(py 'd["status"] + " " + str(len(d["warnings"]))' "$S/jobs/warn/last-ok.json")" \
	"warning 1" "a warning run is a success with a warning"

# ---- the worst result wins; --json holds every job
bfs run --jobs "$J" --state-dir "$S" --json warn "$J/app.json" bkfail \
	>"$T/run.json" 2>"$T/run.err"
is "$?" 2 "several jobs: the exit code is the worst"
is "$(py '" ".join(x["job"] + ":" + x["status"] for x in d)' "$T/run.json")" \
	"warn:warning app:ok bkfail:failed" "--json: one summary per job, in order"
bfs run --jobs "$J" --state-dir "$S" app nosuch >/dev/null 2>"$T/run.err"
is "$?" 3 "a missing job file: exit 3"
like "$(cat "$T/run.err")" "nosuch.json: No such file" "... named"
echo '{"name": "bad", "repository": 5}' >"$J/bad.json"
bfs run --jobs "$J" --state-dir "$S" bad 2>"$T/run.err"
is "$?" 3 "an invalid job file: exit 3"
like "$(cat "$T/run.err")" "repository: expected a string" "... with the field"
bfs run --jobs "$J" --state-dir "$S" 2>/dev/null
is "$?" 3 "no job: usage error, exit 3"

# ---- a job runs once at a time
id=$(py 'd["backup_id"]' "$S/jobs/app/last.json")
"$BFS_PYTHON" -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").write("x")
time.sleep(60)' "$S/jobs/app/lock" "$T/locked" &
LP=$!
at_exit "kill $LP 2>/dev/null"
wait_until 10 test -s "$T/locked"
: >"$O"
bfs run --jobs "$J" --state-dir "$S" app 2>"$T/run.err"
is "$?" 2 "while the job runs elsewhere: failed (exit 2)"
like "$(cat "$T/run.err")" "job 'app' is already running" "... already running"
is "$(cat "$O")" "" "... and no hook ran"
is "$(py 'd["backup_id"]' "$S/jobs/app/last.json")" "$id" \
	"... and the running job's state is left alone"
bfs status --jobs "$J" --state-dir "$S" --json app >"$T/st.json"
is "$(py 'd[0]["running"]' "$T/st.json")" True "status: running"
kill $LP
wait $LP 2>/dev/null

# ---- an env_file others can read: failed before any hook
cp -p "$T/app.env" "$T/open.env"
chmod 644 "$T/open.env"
sed -e "s|$T/app.env|$T/open.env|" -e 's/"name": "app"/"name": "openenv"/' \
	"$J/app.json" >"$J/openenv.json"
: >"$O"
bfs run --jobs "$J" --state-dir "$S" openenv 2>"$T/run.err"
is "$?" 2 "an env_file with mode 0644: failed"
like "$(py 'd["error"]' "$S/jobs/openenv/last.json")" "mode 0644" \
	"... the error says why"
is "$(cat "$O")" "" "... and no hook ran"

# ---- copy_to, delete_local_after_copy, verify
cat >"$J/offsite.json" <<EOF
{"name": "offsite", "repository": "$T/repo",
 "sources": [{"files": "data=$T/data"}],
 "copy_to": ["$T/repo2"], "delete_local_after_copy": true,
 "retention": {"keep_last": 5}, "verify": {"read_data_subset": "50%"}}
EOF
bfs run --jobs "$J" --state-dir "$S" offsite 2>"$T/run.err"
is "$?" 0 "copy_to + delete_local_after_copy + verify: exit 0"
oid=$(py 'd["backup_id"]' "$S/jobs/offsite/last.json")
is "$(bfs_ids -r "$T/repo2" | grep -cx "$oid")" 1 "the backup was copied"
is "$(bfs_ids -r "$T/repo" | grep -cx "$oid")" 0 "... and forgotten locally"
like "$(cat "$S/jobs/offsite/run.log")" "verify: exit status 0" "the verify ran"
sed -e "s|\"$T/repo2\"|\"/proc/no/such/repo\"|" -e 's/"offsite"/"offsite2"/' \
	"$J/offsite.json" >"$J/offsite2.json"
bfs run --jobs "$J" --state-dir "$S" offsite2 2>"$T/run.err"
is "$?" 2 "a failed copy fails the run"
oid=$(py 'd["backup_id"]' "$S/jobs/offsite2/last.json")
is "$(bfs_ids -r "$T/repo" | grep -cx "$oid")" 1 \
	"a failed copy: the backup is not forgotten locally"
like "$(py 'd["error"]' "$S/jobs/offsite2/last.json")" '^copy_to\[0\] failed: ' \
	"a failed copy: the error names copy_to[0]"
like "$(cat "$S/jobs/offsite2/run.log")" "retention: skipped, a copy failed" \
	"a failed copy: no retention while the offsite copy lags"

# term_run JOB WHAT POST FILE PATTERN: run JOB, SIGTERM it once PATTERN
# is in FILE, and check what every interrupted run must do: die of the
# signal at once, run post (its line POST), record the run as failed,
# write no backup
term_run() {
	local job=$1 what=$2 post=$3 n0 t0 rp rc
	: >"$O"
	n0=$(bfs_ids -r "$T/repo" | wc -l)
	t0=$SECONDS
	"$BACKUPFS" run --jobs "$J" --state-dir "$S" "$job" 2>"$T/run.err" &
	rp=$!
	wait_until 20 grep -q "$5" "$4"
	sleep 0.5
	kill -TERM $rp
	wait $rp
	rc=$?
	is "$rc" 143 "$what: run dies of the signal after its cleanup"
	ok $((SECONDS - t0 > 15)) "$what: stopped at once"
	is "$(cat "$O")" "$post" "$what: post ran (the app is not left stopped)"
	is "$(py 'd["status"] + ": " + d["error"]' "$S/jobs/$job/last.json")" \
		"failed: interrupted by SIGTERM" "$what: recorded as failed, interrupted"
	is "$(bfs_ids -r "$T/repo" | wc -l)" "$n0" "$what: no backup"
}

# ---- SIGTERM: the running hook is stopped, post still runs, failed
cat >"$J/term.json" <<EOF
{"name": "term", "repository": "$T/repo",
 "sources": [{"files": "data=$T/data"}],
 "hooks": {"pre": ["$(hook pre)", "sleep 300"], "post": ["$(hook post)"]}}
EOF
term_run term "SIGTERM in a pre hook" "pre term running -
post term failed -" "$O" "^pre"

# ---- SIGTERM during a step: the runner hands it on (a service manager
# signals the run alone), the backup stops without a trace, post runs
cat >"$J/termstep.json" <<EOF
{"name": "termstep", "repository": "$T/repo",
 "sources": [{"command": "slow.txt=sleep 37.25; echo late"}],
 "hooks": {"post": ["$(hook post)"]}}
EOF
term_run termstep "SIGTERM in a step" "post termstep failed -" \
	"$S/jobs/termstep/run.log" "backup: started"
pkill -f "sleep 37.25" || true

# ---- --dry-run runs nothing
: >"$O"
n0=$(bfs_ids -r "$T/repo" | wc -l)
ok_cmd "--dry-run" bfs run --jobs "$J" --state-dir "$S" --dry-run app
like "$(cat "$T/stdout")" "hooks.pre\[0\]: echo pre" "--dry-run: the hooks"
like "$(cat "$T/stdout")" "'backup' '-r' '$T/repo' '--job' 'app'.*'--files' 'data=$T/data'" \
	"--dry-run: the backup command"
is "$(cat "$O")$(bfs_ids -r "$T/repo" | wc -l)" "$n0" "--dry-run: nothing ran"

# ---- retention applies to the job's own backups only (forget --job)
bfs run --jobs "$J" --state-dir "$S" app 2>"$T/run.err"
is "$?" 0 "a third run of app"
is "$(bfs list -r "$T/repo" --json | jq -r '[.[] | select(.job == "app")] | length')" 2 \
	"keep_last 2: two backups of app are left"
is "$(bfs_ids -r "$T/repo" | grep -c '^adhoc$')" 1 \
	"the ad-hoc backup of the same sources is not the job's to forget"

# ---- status of every job; a failed last run gives exit 2
bfs status --jobs "$J" --state-dir "$S" --no-repo >"$T/st.txt" 2>"$T/st.err"
is "$?" 3 "status: exit 3 when a job file is invalid (bad.json)"
rm "$J/bad.json"
bfs status --jobs "$J" --state-dir "$S" --no-repo >"$T/st.txt"
is "$?" 2 "status: exit 2 when a last run failed"
like "$(cat "$T/st.txt")" "job hang
  last run: .*, failed," "status text: a failed job"
like "$(cat "$T/st.txt")" "job prefail" "status text: every job of the directory"
bfs status --jobs "$J" --state-dir "$S" -q --prometheus "$T/m.prom"
like "$(cat "$T/m.prom")" 'backupfs_last_run_ok\{job="hang"\} 0' \
	"prometheus: a failed job is 0"
unlike "$(cat "$T/m.prom")" 'backupfs_last_success_timestamp_seconds\{job="hang"\}' \
	"prometheus: no success timestamp for a job that never succeeded"

done_testing
