#!/bin/bash
# The notification receivers in tests/tools, which the job tests use to
# check webhook, Teams, Slack, ping and email payloads: the HTTP receiver
# records method, path, headers and body and fails the first N requests;
# the SMTP sink takes curl's AUTH PLAIN/LOGIN, records the envelope and
# undoes the dot-stuffing.  Driven here by the curl command.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

command -v curl >/dev/null || skip_all "the curl command is not installed"
TOOLS=$top_srcdir/tests/tools

# jfield FILE N EXPR: EXPR (python, on record r) of the Nth JSON line.
jfield() {
	"$BFS_PYTHON" -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
r = recs[int(sys.argv[2]) - 1]
print(eval(sys.argv[3]))' "$@"
}

# start_tool NAME ARGS...: run tests/tools/NAME in the background (killed
# at exit), wait for its port file, set PORT.  Not in $(...): the tool
# would hold the substitution's pipe open.
start_tool() {
	local name=$1
	shift
	"$BFS_PYTHON" "$TOOLS/$name" --port-file "$T/$name.port" \
		--log "$T/$name.jsonl" "$@" >"$T/$name.out" 2>&1 &
	at_exit "kill $! 2>/dev/null"
	wait_until 10 test -s "$T/$name.port" || bail_out "$name did not start"
	PORT=$(cat "$T/$name.port")
}

# ---- HTTP receiver
start_tool http-receiver.py --fail-first 1 --fail-status 503
HP=$PORT
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	--data '{"job":"nocodb"}' "http://127.0.0.1:$HP/hook/tok")
is "$code" "503" "first request answered with --fail-status"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	--data '{"job":"nocodb"}' "http://127.0.0.1:$HP/hook/tok")
is "$code" "200" "second request answered 200"
curl -s -o /dev/null "http://127.0.0.1:$HP/ping/uuid/start"
is "$(wc -l <"$T/http-receiver.py.jsonl")" "3" "three requests recorded"
is "$(jfield "$T/http-receiver.py.jsonl" 2 'r["method"] + " " + r["path"]')" \
	"POST /hook/tok" "method and path"
is "$(jfield "$T/http-receiver.py.jsonl" 2 'json.loads(r["body"])["job"]')" \
	"nocodb" "body"
is "$(jfield "$T/http-receiver.py.jsonl" 2 'r["headers"]["Content-Type"]')" \
	"application/json" "headers"
is "$(jfield "$T/http-receiver.py.jsonl" 3 'r["method"] + " " + r["path"]')" \
	"GET /ping/uuid/start" "a GET"

# ---- SMTP sink
start_tool smtp-sink.py --mechs LOGIN
SP=$PORT
printf 'Subject: t\r\n\r\nline\r\n.\r\n.dot\r\nend\r\n' >"$T/mail"
ok_cmd "curl sends a mail with AUTH LOGIN" \
	curl -s --mail-from a@example.net --mail-rcpt b@example.net \
	--mail-rcpt c@example.net --user 'u1:p w' -T "$T/mail" \
	"smtp://127.0.0.1:$SP"
M=$T/smtp-sink.py.jsonl
is "$(jfield "$M" 1 'r["mail_from"]')" "<a@example.net>" "envelope from"
is "$(jfield "$M" 1 '",".join(r["rcpt"])')" "<b@example.net>,<c@example.net>" \
	"envelope recipients"
is "$(jfield "$M" 1 'r["auth"]["mech"] + " " + r["auth"]["user"] + ":" + r["auth"]["password"]')" \
	"LOGIN u1:p w" "auth login decoded"
is "$(jfield "$M" 1 'repr(r["message"])')" "'Subject: t\\r\\n\\r\\nline\\r\\n.\\r\\n.dot\\r\\nend\\r\\n'" \
	"message whole after un-stuffing"
like "$(jfield "$M" 1 'repr(r["raw"])')" '\\r\\n\.\.\\r\\n\.\.dot' "raw is dot-stuffed"

done_testing
