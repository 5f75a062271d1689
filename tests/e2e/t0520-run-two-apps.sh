#!/bin/bash
# Issue 10's "done when": two apps, a PostgreSQL one and a MariaDB one,
# each a job whose hooks stop and start the app (a small daemon that
# writes a heartbeat), with retention and a copy to the S3 test server in
# the same jobs, and webhook, Teams, Slack, email and ping receivers.
#  - the app is down during the backup (a command source sees it down),
#    and back after it; its downtime (the longest heartbeat gap) is
#    measured and bounded;
#  - retention (keep_last 1, prune always) leaves one backup locally, the
#    S3 copies hold both;
#  - every channel gets what its level asks for, with the right content;
#  - no secret (database passwords, S3 secret, SMTP password, webhook
#    tokens) appears in any payload, state file or the run's output;
#  - a failing dump: failed run, app started again, an alert at level
#    errors (Teams, email), exit 2.
# The secrets reach the run only through the jobs' env_files.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"

require_cmd jq jq
TOOLS=$top_srcdir/tests/tools
J=$T/jobs
ST=$T/state
mkdir -p "$J"

start_postgres
start_mariadb
start_s3

# ---- the two databases
createdb app1 || bail_out "createdb"
psql -X -q -d app1 -c "create table notes(id int primary key, body text);
	insert into notes select g, 'note ' || g from generate_series(1, 2000) g" ||
	bail_out "cannot fill app1"
my -e "create database app2" && my app2 -e "create table items(id int
	primary key, name text); insert into items select seq,
	concat('item ', seq) from seq_1_to_2000" || bail_out "cannot fill app2"

# ---- receivers
"$BFS_PYTHON" "$TOOLS/http-receiver.py" --port-file "$T/http.port" \
	--log "$T/http.jsonl" >"$T/http.out" 2>&1 &
at_exit "kill $! 2>/dev/null"
"$BFS_PYTHON" "$TOOLS/smtp-sink.py" --port-file "$T/smtp.port" \
	--log "$T/smtp.jsonl" >"$T/smtp.out" 2>&1 &
at_exit "kill $! 2>/dev/null"
wait_until 10 test -s "$T/http.port" || bail_out "http-receiver did not start"
wait_until 10 test -s "$T/smtp.port" || bail_out "smtp-sink did not start"
HP=$(cat "$T/http.port")
SP=$(cat "$T/smtp.port")
H=http://127.0.0.1:$HP
SMTP_PW="Smtp-$(_rand_hex 6)-pw"
WH_TOK=wh$(_rand_hex 8)
TE_TOK=te$(_rand_hex 8)
SL_TOK=sl$(_rand_hex 8)
PI_TOK=pi$(_rand_hex 8)

# ---- the apps: a daemon with a pid file and a heartbeat
cat >"$T/daemon.py" <<'EOF'
import os, signal, sys, time
pidf, beat = sys.argv[1], sys.argv[2]
def stop(*a):
    os.unlink(pidf)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
with open(pidf + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(pidf + ".tmp", pidf)
while True:
    with open(beat, "a") as f:
        f.write("%.3f\n" % time.time())
    time.sleep(0.05)
EOF
# start_cmd APP / stop_cmd APP: the hooks (also used by the test itself)
start_cmd() {
	echo "setsid $BFS_PYTHON $T/daemon.py $T/$1.pid $T/$1.beat </dev/null >/dev/null 2>&1 & while [ ! -s $T/$1.pid ]; do sleep 0.05; done"
}
stop_cmd() {
	echo "kill \$(cat $T/$1.pid) && while [ -e $T/$1.pid ]; do sleep 0.05; done"
}
app_up() {
	[ -s "$T/$1.pid" ] && kill -0 "$(cat "$T/$1.pid")" 2>/dev/null
}
# the hooks restart them in sessions of their own: stop whichever runs
# at the end (by the pid file the last start wrote), or they outlive the
# test
at_exit 'for a in pgapp myapp; do [ -s "$T/$a.pid" ] && kill "$(cat "$T/$a.pid")"; done'
sh -c "$(start_cmd pgapp)"
sh -c "$(start_cmd myapp)"
app_up pgapp && app_up myapp
ok $? "both apps run"

# ---- env files: every secret lives here only
envfile() {
	(umask 077 && cat >"$T/$1.env" <<EOF
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
SMTP_USER=backupfs
SMTP_PASSWORD=$SMTP_PW
$2
EOF
	)
}
envfile pgapp "PGPASSWORD=$PG_PASSWORD"
envfile myapp "MYSQL_PWD=$MYSQL_ROOT_PASSWORD"

notify='[
   {"type": "webhook", "url": "'$H'/hook/'$WH_TOK'", "level": "all"},
   {"type": "teams", "url": "'$H'/teams/'$TE_TOK'", "level": "errors"},
   {"type": "slack", "url": "'$H'/slack/'$SL_TOK'", "level": "warnings"},
   {"type": "email", "to": ["ops@example.net"], "from": "backupfs@example.net",
    "smtp": "smtp://127.0.0.1:'$SP'", "level": "errors"},
   {"type": "ping", "url": "'$H'/ping/'$PI_TOK'", "level": "all"}]'

# job NAME SOURCE: a job file for app NAME with its dump source
job() {
	cat >"$J/$1.json" <<EOF
{"name": "$1", "repository": "$T/repo-$1", "env_file": "$T/${3:-$1}.env",
 "sources": [$2,
             {"command": "app-state.txt=test -e $T/${3:-$1}.pid && echo up || echo down"}],
 "hooks": {"pre": ["$(stop_cmd "${3:-$1}")"], "post": ["$(start_cmd "${3:-$1}")"],
           "timeout": "60s"},
 "retention": {"keep_last": 1, "prune": "always"},
 "copy_to": ["s3://bfs-jobs/$1"],
 "notify": $notify}
EOF
}
job pgapp '{"pg_dump": "app1=postgresql://postgres@127.0.0.1:'$PGPORT'/app1"}'
job myapp '{"mysql_dump": "app2=mysql://root@127.0.0.1:'$MYSQL_PORT'/app2"}'
for a in pgapp myapp; do
	bfs init -r "$T/repo-$a" >/dev/null 2>&1 || bail_out "init $a"
done
ok_cmd "job check-free: the job files parse (run --dry-run)" \
	bfs run --jobs "$J" --state-dir "$ST" --dry-run pgapp myapp

# run_jobs OUT JOB...: backupfs run with no secret in its own environment
run_jobs() {
	local out=$1
	shift
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u PGPASSFILE \
		-u PGPASSWORD -u MYSQL_PWD \
		"$BACKUPFS" run --jobs "$J" --state-dir "$ST" --json "$@" \
		>"$T/$out.json" 2>"$T/$out.err"
}

# ---- two good runs of both jobs
run_jobs run1 pgapp myapp
is "$?" 0 "run 1 of both jobs: exit 0"
run_jobs run2 pgapp myapp
rc=$?
is "$rc" 0 "run 2 of both jobs: exit 0"
[ "$rc" = 0 ] || diag "$(cat "$T/run2.err")"
is "$(jq -r '[.[].status] | join(" ")' "$T/run1.json") $(jq -r '[.[].status] | join(" ")' "$T/run2.json")" \
	"ok ok ok ok" "--json: every run ok"
for a in pgapp myapp; do
	app_up $a
	ok $? "$a is running again after its runs"
	id=$(jq -r ".[] | select(.job == \"$a\") | .backup_id" "$T/run2.json")
	is "$(bfs cat -r "$T/repo-$a" "$id:app-state.txt")" "down" \
		"$a was down while it was backed up"
	is "$(bfs_ids -r "$T/repo-$a" | tr '\n' ' ')" "$id " \
		"$a: retention kept the newest backup only"
	is "$(bfs_ids -r "s3://bfs-jobs/$a" | wc -l)" 2 \
		"$a: both backups were copied to S3"
	# downtime: the longest gap between heartbeats
	gap=$("$BFS_PYTHON" -c '
import sys
t = [float(l) for l in open(sys.argv[1]) if l.strip()]
print("%.2f" % max(b - a for a, b in zip(t, t[1:])))' "$T/$a.beat")
	diag "$a: longest downtime $gap s"
	# above: more than two beats (0.05 s apart) missed, the app was
	# stopped (a fast machine stops, dumps and starts in under 0.2 s)
	[ "${CI:-}" = true ] && bound=60 || bound=30
	ok "$("$BFS_PYTHON" -c "print(0 if 0.12 < $gap < $bound else 1)")" \
		"$a: downtime $gap s is bounded"
done
bfs cat -r "$T/repo-pgapp" "$(bfs_ids -r "$T/repo-pgapp")":app1.sql >"$T/app1.sql"
like "$(grep -c '^[0-9]*	note ' "$T/app1.sql")" '^2000$' "the pg dump holds the rows"
bfs cat -r "$T/repo-myapp" "$(bfs_ids -r "$T/repo-myapp")":app2.sql >"$T/app2.sql"
like "$(grep -c "item 2000" "$T/app2.sql")" '^1$' "the mariadb dump holds the rows"

# ---- channels after good runs: webhook and ping only
paths() { jq -r '.method + " " + .path' "$T/http.jsonl" | sed 's/[?].*//' | sort | uniq -c | awk '{print $1, $2, $3}' | tr '\n' ';'; }
is "$(paths)" "4 GET /ping/$PI_TOK/start;4 POST /hook/$WH_TOK;4 POST /ping/$PI_TOK;" \
	"good runs: webhook and ping (start + success) for each run, nothing else"
is "$(jq -r 'select(.path | startswith("/hook/")) | .body | fromjson | .job + ":" + .status' "$T/http.jsonl" | sort | tr '\n' ' ')" \
	"myapp:ok myapp:ok pgapp:ok pgapp:ok " "webhook: the run summaries"
is "$(jq -r 'select(.path | startswith("/hook/")) | .body | fromjson | .backup_id' "$T/http.jsonl" | grep -c .)" 4 \
	"webhook: summaries carry the backup id"
[ ! -s "$T/smtp.jsonl" ]
ok $? "no mail for good runs (level errors)"

# ---- a failing dump
job myapp-bad '{"mysql_dump": "app2=mysql://root@127.0.0.1:'$MYSQL_PORT'/no_such_db"}' myapp
sed -i "s|repo-myapp-bad|repo-myapp|; s|s3://bfs-jobs/myapp-bad|s3://bfs-jobs/myapp|" "$J/myapp-bad.json"
n0=$(bfs_ids -r "$T/repo-myapp" | wc -l)
run_jobs bad myapp-bad
is "$?" 2 "a failing dump: exit 2"
is "$(jq -r '.[0].status' "$T/bad.json")" failed "a failing dump: failed run"
like "$(jq -r '.[0].error' "$T/bad.json")" "backup failed" "a failing dump: the error"
app_up myapp
ok $? "a failing dump: the app was started again"
is "$(bfs_ids -r "$T/repo-myapp" | wc -l)" "$n0" "a failing dump: no backup written"
is "$(jq -r 'select(.path | startswith("/teams/")) | .path' "$T/http.jsonl" | wc -l)" 1 \
	"a failing dump: Teams (level errors) got one card"
like "$(jq -r 'select(.path | startswith("/teams/")) | .body' "$T/http.jsonl")" \
	'myapp-bad.*failed|failed.*myapp-bad' "Teams: the card names the job and the failure"
like "$(jq -r 'select(.path | startswith("/slack/")) | .body | fromjson | .text' "$T/http.jsonl")" \
	'myapp-bad' "Slack (level warnings): the text names the job"
is "$(jq -r 'select(.path | endswith("/fail")) | .method + " " + .path' "$T/http.jsonl")" \
	"POST /ping/$PI_TOK/fail" "ping: /fail"
like "$(jq -r 'select(.path | endswith("/fail")) | .body' "$T/http.jsonl")" \
	'no_such_db' "ping /fail: the log tail names the problem"
is "$(jq -s 'length' "$T/smtp.jsonl")" 1 "email (level errors): one mail"
M=$(jq -r '.message' "$T/smtp.jsonl")
like "$M" 'myapp-bad' "email: names the job"
like "$M" 'failed' "email: says it failed"
is "$(jq -r '.auth.user + ":" + .auth.password' "$T/smtp.jsonl")" "backupfs:$SMTP_PW" \
	"email: SMTP AUTH with the env_file's login"

# ---- status of the three jobs
bfs status --jobs "$J" --state-dir "$ST" --json --prometheus "$T/m.prom" \
	>"$T/status.json" 2>"$T/status.err"
is "$?" 2 "status: exit 2 (myapp-bad's last run failed)"
is "$(jq -r '[.[] | .job + ":" + .last_run.status + ":" + (.repository.job_backups | tostring)] | join(" ")' "$T/status.json")" \
	"myapp:ok:1 myapp-bad:failed:0 pgapp:ok:1" \
	"status --json: last results and each job's backups"
like "$(cat "$T/m.prom")" 'backupfs_last_run_ok\{job="myapp-bad"\} 0' \
	"prometheus: the failed job"

# ---- no secret anywhere
jq -r '.body' "$T/http.jsonl" >"$T/payloads"
jq -r '.message' "$T/smtp.jsonl" >>"$T/payloads"
cat "$T"/run1.* "$T"/run2.* "$T"/bad.* "$ST"/jobs/*/*.json "$ST"/jobs/*/runs.jsonl \
	"$T/status.json" "$T/status.err" "$T/m.prom" >"$T/outputs"
for s in "$PG_PASSWORD" "$MYSQL_ROOT_PASSWORD" "$AWS_SECRET_ACCESS_KEY" \
	"$SMTP_PW" "$WH_TOK" "$TE_TOK" "$SL_TOK" "$PI_TOK"; do
	n=$(grep -cF -- "$s" "$T/payloads" "$T/outputs" | awk -F: '{s += $2} END {print s}')
	is "$n" 0 "no secret '${s:0:4}...' in any payload, state file or output"
done
ok $([ "$(wc -l <"$T/payloads")" -gt 20 ]; echo $?) "(the payloads were captured)"

done_testing
