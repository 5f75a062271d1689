#!/bin/bash
# backup --nocodb against a real NocoDB 0.301.3 (npm, cached outside the
# build tree in $BFS_NOCODB_CACHE; installed on first use, skipped where
# npm or its registry cannot be reached), its metadata in a throwaway
# PostgreSQL: two bases, tables of several column types, 2,500 records
# (three pages), attachments (one title twice in a record).  One backup
# with --nocodb, --pg-dump and --files; bases/ is checked against the API
# (records field by field, attachment bytes) through `backupfs cat` and
# the mount.  The token reaches no argv, output, manifest or catalog.  A
# wrong token, a stopped NocoDB and a 5xx in the middle of paging fail the
# backup with messages naming base, table and page, and write nothing.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

NC=$top_srcdir/tests/e2e/nocodb
CACHE=${BFS_NOCODB_CACHE:-/var/cache/backupfs-tests/nocodb}
require_cmd node nodejs
"$top_srcdir/tests/e2e/nocodb-install.sh" "$CACHE" 2>"$T/install.err"
case $? in
0) ;;
77) skip_all "NocoDB not installed: $(cat "$T/install.err") (the test installs nocodb@0.301.3 from npm into $CACHE)" ;;
*) bail_out "NocoDB install into $CACHE failed: $(tail -n 5 "$T/install.err")" ;;
esac
t0=$SECONDS

R=$T/repo
start_postgres
createdb nocodb || bail_out "createdb nocodb failed"
mkdir -p "$T/ncdir" "$T/files"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
(cd "$T/ncdir" && NODE_PATH=$CACHE/node_modules \
	NC_DB="pg://127.0.0.1:$PGPORT?u=postgres&p=$PG_PASSWORD&d=nocodb" \
	NC_TOOL_DIR=$T/ncdir/ NC_AUTH_JWT_SECRET=bfs-test-$RANDOM \
	NC_DISABLE_TELE=true exec node "$NC/start.js" "$PORT" \
	>"$T/nocodb.log" 2>&1) &
NC_PID=$!
at_exit "kill $NC_PID 2>/dev/null; wait $NC_PID 2>/dev/null"
up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v2/meta/bases")" = 401 ]; }
wait_until 300 up || { diag "$(tail -n 30 "$T/nocodb.log")"; bail_out "NocoDB did not start"; }
diag "NocoDB up after $((SECONDS - t0)) s"

"$BFS_PYTHON" "$NC/seed.py" "$URL" "$T/files" >"$T/seed.json" 2>"$T/seed.err" ||
	bail_out "seeding NocoDB failed: $(tail -n 5 "$T/seed.err")"
TOKEN=$("$BFS_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/seed.json")
[ -n "$TOKEN" ] || bail_out "no API token from the seed"
diag "seeded after $((SECONDS - t0)) s"
echo "app config" >"$T/files/app.conf"

ok_cmd "init" bfs init "$R"

# ---- the backup: --nocodb next to --pg-dump and --files
S=bases/Sales%2F2026
C=$S/Customers
ok_cmd "backup --nocodb --pg-dump --files" env NOCODB_API_TOKEN="$TOKEN" \
	"$BACKUPFS" backup -r "$R" --id nc1 --nocodb "$URL" \
	--pg-dump "$(pg_uri nocodb)" --files data="$T/files"
cat "$T/stdout" "$T/stderr" >"$T/backup.out"
diag "backup after $((SECONDS - t0)) s: $(tail -n 1 "$T/stderr")"
ok_cmd "ls -R nc1" bfs ls -r "$R" -R nc1
ls_out=$(cat "$T/stdout")
for p in database.sql data/app.conf bases/CRM/metadata.json \
	bases/CRM/Notes/schema.json bases/CRM/Notes/records.jsonl \
	$S/metadata.json $C/schema.json $C/records.jsonl \
	$S/Q1%2FQ2/records.jsonl $C/attachments/1/photo.bin \
	$C/attachments/1/report.txt $C/attachments/2500/report.txt \
	bases/CRM/Notes/attachments/3/dup.txt \
	bases/CRM/Notes/attachments/3/dup.txt%~2; do
	like "$ls_out" "^$p\$" "the backup holds $p"
done

# records against the API, field by field
for bt in "Sales/2026|Customers|$C" "Sales/2026|Q1/Q2|$S/Q1%2FQ2" "CRM|Notes|bases/CRM/Notes"; do
	IFS='|' read -r b t p <<<"$bt"
	bfs cat -r "$R" "nc1:$p/records.jsonl" >"$T/records.jsonl"
	is "$("$BFS_PYTHON" "$NC/verify.py" "$URL" "$TOKEN" "$b" "$t" "$T/records.jsonl")" \
		"$(case $t in Customers) echo 2500 ;; Q1/Q2) echo 2 ;; *) echo 5 ;; esac) records equal" \
		"$b > $t: records.jsonl equals the API's records"
done
bfs cat -r "$R" "nc1:$C/records.jsonl" >"$T/records.jsonl"
is "$(wc -l <"$T/records.jsonl")" 2500 "2,500 lines, one record each (3 pages)"
is "$(sed -n 1p "$T/records.jsonl" | "$BFS_PYTHON" -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r["Name"], r["Amount"], r["Active"], r["Since"], repr(r["Notes"]), len(r["Files"]))')" \
	"customer 0001 7 False 2026-02-02 'line one\\nline \"two\" é表 1' 2" \
	"field values of record 1 (text, number, checkbox, date, long text, attachments)"

# attachments: the bytes that were uploaded
for a in "$C/attachments/1/photo.bin|photo.bin" "$C/attachments/1/report.txt|report.txt" \
	"$C/attachments/2500/report.txt|report.txt"; do
	IFS='|' read -r p f <<<"$a"
	bfs cat -r "$R" "nc1:$p" >"$T/att"
	ok "$(cmp -s "$T/att" "$T/files/$f"; echo $?)" "$p has the uploaded bytes"
done
is "$(bfs cat -r "$R" "nc1:bases/CRM/Notes/attachments/3/dup.txt")$(bfs cat -r "$R" "nc1:bases/CRM/Notes/attachments/3/dup.txt%~2")" \
	"first dupsecond dup, longer" "two attachments titled dup.txt: dup.txt and dup.txt%~2"
like "$(bfs cat -r "$R" "nc1:$C/schema.json")" '"uidt":\s+"Attachment"' "schema.json holds the column types"
like "$(bfs cat -r "$R" "nc1:$C/schema.json")" '"views":' "schema.json holds the views"
like "$(bfs cat -r "$R" "nc1:$S/metadata.json")" '"title":\s+"Sales/2026"' "metadata.json holds the base's real title"
like "$(bfs cat -r "$R" "nc1:database.sql")" 'CREATE TABLE' "database.sql is NocoDB's pg_dump"

# through the mount, where FUSE is usable
if [ "$(id -u)" -eq 0 ] && command -v fusermount3 >/dev/null && [ -c /dev/fuse ]; then
	. "$top_srcdir/tests/e2e/lib-mount.sh"
	M=$T/mnt
	if mount_repo "$R" "$M"; then
		is "$(wc -l <"$M/nc1/$C/records.jsonl")" 2500 "mount: records.jsonl has 2500 lines"
		ok "$(cmp -s "$M/nc1/$C/attachments/1/photo.bin" "$T/files/photo.bin"; echo $?)" \
			"mount: the attachment reads back byte for byte"
		unmount "$M"
	else
		ok 1 "mount"
	fi
else
	diag "FUSE not usable here: mount checks left out"
fi

# the token is nowhere
leak=$(grep -rlaF -- "$TOKEN" "$R" "$XDG_CACHE_HOME" "$T/backup.out" 2>/dev/null; \
	zstd -dcq "$R"/manifests/* 2>/dev/null | grep -caF -- "$TOKEN")
is "$leak" "0" "the token is in no file of the repository, the manifest, the catalog or the output"
ok_cmd "show --json nc1" bfs show -r "$R" --json nc1
unlike "$(cat "$T/stdout")" "$TOKEN" "the token is not in the recorded sources"
like "$(cat "$T/stdout")" "\"nocodb\"" "the source is recorded as nocodb"
ok_cmd "show nc1" bfs show -r "$R" nc1
like "$(cat "$T/stdout")" "^ +2500 +3 +[0-9.]+ [KM]iB  bases/Sales%2F2026/Customers$" \
	"show: 2500 records and 3 attachments in Customers"
like "$(cat "$T/stdout")" "^ +5 +2 +[0-9.]+ (B|KiB)  bases/CRM/Notes$" \
	"show: 5 records and 2 attachments in Notes"

# ---- --nocodb-token-file, --nocodb-base, --no-nocodb-attachments
printf '%s\n' "$TOKEN" >"$T/token"
chmod 644 "$T/token"
fails_with 1 "a token file readable by others is refused" env -u NOCODB_API_TOKEN \
	"$BACKUPFS" backup -r "$R" --id nc2 --nocodb "$URL" --nocodb-token-file "$T/token"
like "$(cat "$T/stderr")" "mode 0644 .*chmod 600" "the message says chmod 600"
chmod 600 "$T/token"
ok_cmd "backup --nocodb-token-file --nocodb-base CRM --no-nocodb-attachments" \
	env -u NOCODB_API_TOKEN "$BACKUPFS" backup -r "$R" --id nc2 --nocodb "$URL" \
	--nocodb-token-file "$T/token" --nocodb-base CRM --no-nocodb-attachments
ok_cmd "ls -R nc2" bfs ls -r "$R" -R nc2
is "$(grep -c '^bases/Sales' "$T/stdout")" 0 "--nocodb-base CRM: no other base"
is "$(grep -c 'attachments' "$T/stdout")" 0 "--no-nocodb-attachments: no attachments"
like "$(cat "$T/stdout")" "^bases/CRM/Notes/records.jsonl$" "records are still there"
fails_with 2 "no token at all is a usage error" env -u NOCODB_API_TOKEN \
	"$BACKUPFS" backup -r "$R" --id nc3 --nocodb "$URL"
like "$(cat "$T/stderr")" "NOCODB_API_TOKEN" "the message names NOCODB_API_TOKEN"

# ---- failures: nothing written
fails_with 1 "a wrong token fails the backup" env NOCODB_API_TOKEN=wrong-token \
	"$BACKUPFS" backup -r "$R" --id bad1 --nocodb "$URL" --files data="$T/files"
like "$(cat "$T/stderr")" "refused the API token \(HTTP 401" "the message says the token was refused"
PPORT=$(free_port)
"$BFS_PYTHON" "$NC/fail-proxy.py" "$PPORT" "$URL" "offset=1000" "$T/500s" &
PROXY=$!
at_exit "kill $PROXY 2>/dev/null"
wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$PPORT/api/v2/meta/bases"
fails_with 1 "a 5xx in the middle of paging fails the backup" \
	env NOCODB_API_TOKEN="$TOKEN" "$BACKUPFS" backup -r "$R" --id bad2 \
	--nocodb-base Sales/2026 --nocodb "http://127.0.0.1:$PPORT"
like "$(cat "$T/stderr")" "base 'Sales%2F2026', table 'Customers', records page 2 \(offset 1000\): NocoDB answered HTTP 500 \(3 tries\)" \
	"the message names base, table and page"
is "$(wc -l <"$T/500s")" 3 "the page was tried 3 times"
kill $NC_PID
wait $NC_PID 2>/dev/null
fails_with 1 "a stopped NocoDB fails the backup" env NOCODB_API_TOKEN="$TOKEN" \
	"$BACKUPFS" backup -r "$R" --id bad3 --nocodb "$URL"
like "$(cat "$T/stderr")" "cannot reach NocoDB at $URL.*3 tries" "the message says NocoDB cannot be reached"
ok_cmd "list" bfs list -r "$R"
is "$(cat "$T/stdout" | awk '{print $1}' | grep -c '^bad')" 0 "no failed backup is visible"
is "$(ls "$R/manifests" | grep -c '^bad')" 0 "no manifest of a failed backup"
diag "test time after install: $((SECONDS - t0)) s"
done_testing
