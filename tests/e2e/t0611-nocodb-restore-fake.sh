#!/bin/bash
# backupfs nocodb restore-* against a stand-in for NocoDB's API (python3
# only, so it runs where npm cannot): the plan and --dry-run write
# nothing; without a terminal and without --force nothing is done; a
# refused token; a 5xx on one batch fails with base, table and batch named
# after 3 tries, the batches before it stay; a 5xx once is tried again;
# inserts leave out the fields NocoDB makes (Id, CreatedAt, Links) and
# come in batches of at most 100; an integer above 2^53 is sent with its
# digits as stored (not through a double), and restore-attachments asks
# for and patches the record whose primary key is 2^53+1 by its digits;
# restore-schema lists the virtual columns to recreate by hand; the token
# is in no output.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

NC=$top_srcdir/tests/e2e/nocodb
R=$T/repo
TOKEN=tok-$(_rand_hex 12)
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
W=$T/fake
mkdir -p "$W"
(cd "$W" && exec "$BFS_PYTHON" "$NC/fake-restore.py" "$PORT" "$TOKEN") &
FAKE=$!
at_exit "kill $FAKE 2>/dev/null"
wait_until 10 curl -s -o /dev/null "$URL/api/v2/meta/bases" ||
	bail_out "the fake NocoDB did not start"
export BFS_NOCODB_RETRY_MS=10 NOCODB_API_TOKEN=$TOKEN
ok_cmd "init" bfs init "$R"
ok_cmd "backup --nocodb" bfs backup -r "$R" --id f1 --nocodb "$URL"
posts() { grep -c '^POST' "$W/$PORT.log"; }

# ---- usage
fails_with 2 "an unknown action is a usage error" bfs nocodb -r "$R" restore-all f1 "$URL"
like "$(cat "$T/stderr")" "unknown action 'restore-all'" "the message names the action"
fails_with 2 "--skip-existing goes with restore-schema only" \
	bfs nocodb -r "$R" restore-records --skip-existing f1 "$URL"
fails_with 2 "no URL is a usage error" bfs nocodb -r "$R" restore-records f1
fails_with 2 "no token is a usage error" env -u NOCODB_API_TOKEN \
	"$BACKUPFS" nocodb -r "$R" restore-records f1 "$URL"
like "$(cat "$T/stderr")" "NOCODB_API_TOKEN" "the message names NOCODB_API_TOKEN"
fails_with 1 "an unknown backup" bfs nocodb -r "$R" restore-records nosuch "$URL"

# ---- dry run and confirmation: nothing is written
ok_cmd "restore-records --dry-run" bfs nocodb -r "$R" restore-records --dry-run f1 "$URL"
out=$(cat "$T/stdout")
like "$out" "^restore records of base 'Shop', table 'Orders' \(records.jsonl, [0-9]+ bytes\)" \
	"the dry run says which table it would fill"
like "$out" "dry run: nothing was changed" "the dry run says nothing was changed"
is "$(posts)" 0 "the dry run sent no POST"
fails_with 1 "no terminal and no --force: refused" \
	bfs nocodb -r "$R" restore-records f1 "$URL" </dev/null
like "$(cat "$T/stderr")" "not asking without a terminal; give --force" "the refusal says --force"
is "$(posts)" 0 "nothing was sent"
fails_with 1 "a wrong token is refused" env NOCODB_API_TOKEN=wrong \
	"$BACKUPFS" nocodb -r "$R" restore-records --force f1 "$URL"
like "$(cat "$T/stderr")" "refused the API token \(HTTP 401" "the message says the token was refused"

# ---- a 5xx on batch 2: batch 1 is in, the message names the batch
echo "row 150" >"$W/fail500"
fails_with 1 "a 5xx on every try of batch 2 fails the restore" \
	bfs nocodb -r "$R" restore-records --force f1 "$URL"
like "$(cat "$T/stderr")" "base 'Shop', table 'Orders', batch 2 \(records 101-200 of records.jsonl\): NocoDB answered HTTP 500 \(3 tries\): .*on fire" \
	"the message names base, table, batch and records"
is "$(grep -c '^POST /api/v2/tables/m1/records' "$W/$PORT.log")" 4 "batch 1 once, batch 2 three times"
is "$(wc -l <"$W/inserted.jsonl")" 100 "the first batch was inserted"
rm -f "$W/fail500" "$W/inserted.jsonl"

# ---- a 5xx once is tried again; the fields NocoDB makes are left out
: >"$W/fail-once"
: >"$W/$PORT.log"
ok_cmd "restore-records after one 503" bfs nocodb -r "$R" restore-records --force f1 "$URL"
like "$(cat "$T/stdout")" "^250 records inserted" "250 records inserted"
is "$(wc -l <"$W/inserted.jsonl")" 250 "every record was inserted once"
is "$(grep -c '^POST /api/v2/tables/m1/records' "$W/$PORT.log")" 4 "3 batches, one tried twice"
is "$(sed -n 1p "$W/inserted.jsonl")" '{"Name": "row 1", "Qty": 3}' \
	"no Id, CreatedAt, Links or (without --with-attachments) Files"
is "$(sed -n 250p "$W/inserted.jsonl")" '{"Name": "row 250", "Qty": 9007199254740993}' \
	"the last record, its Qty 2^53+1 with every digit"
is "$(grep -c '{"Name":"row 250","Qty":9007199254740993}' "$W/bodies.raw")" 1 \
	"the request body holds the record's bytes as stored"

# ---- restore-attachments: the record whose Id is 2^53+1 (a double would
# ask for ...992, get a 404 and leave it out as missing)
: >"$W/$PORT.log"
ok_cmd "restore-attachments" bfs nocodb -r "$R" restore-attachments --force f1 "$URL"
like "$(cat "$T/stdout")" "^1 records updated, 1 attachments \(5 bytes\) uploaded" \
	"one record updated with its one attachment"
is "$(grep -c '^GET /api/v2/tables/m1/records/9007199254740993$' "$W/$PORT.log")" 1 \
	"the record is looked up by its key's digits"
is "$(grep -cF '{"Id":9007199254740993,"Files":[{' "$W/patched.raw")" 1 \
	"the PATCH names the record by its key's digits"

# ---- restore-schema into a NocoDB without the base
: >"$W/empty"
ok_cmd "restore-schema --dry-run" bfs nocodb -r "$R" restore-schema --dry-run f1 "$URL"
out=$(cat "$T/stdout")
like "$out" "^create base 'Shop'$" "the plan creates the base"
like "$out" "^create table 'Orders' in base 'Shop' \(3 columns\)$" "and the table, with its 3 stored columns"
like "$out" "^recreate by hand: column 'Link' \(Links\) of base 'Shop', table 'Orders'$" \
	"the Links column is to recreate by hand"
ok "$([ ! -e "$W/created.jsonl" ]; echo $?)" "the dry run created nothing"
ok_cmd "restore-schema --force" bfs nocodb -r "$R" restore-schema --force f1 "$URL"
like "$(cat "$T/stdout")" "^1 bases and 1 tables created" "one base and one table created"
cols=$(sed -n 2p "$W/created.jsonl" | "$BFS_PYTHON" -c 'import json,sys; b=json.load(sys.stdin)["body"]; print(b["title"], b["table_name"], [(c["title"], c["uidt"]) for c in b["columns"]])')
is "$cols" "Orders orders [('Name', 'SingleLineText'), ('Qty', 'Number'), ('Files', 'Attachment')]" \
	"the table is created with its stored columns only"
rm -f "$W/empty"
fails_with 1 "restore-schema: a table that exists is an error" \
	bfs nocodb -r "$R" restore-schema --force f1 "$URL"
like "$(cat "$T/stderr")" "base 'Shop', table 'Orders': NocoDB has that table already \(--skip-existing" \
	"the message names the table and --skip-existing"
ok_cmd "restore-schema --skip-existing" bfs nocodb -r "$R" restore-schema --skip-existing --force f1 "$URL"
like "$(cat "$T/stdout")" "skip table 'Orders' of base 'Shop': it exists" "the table is skipped"
fails_with 1 "--table that matches nothing" bfs nocodb -r "$R" restore-records --table Nope --force f1 "$URL"
like "$(cat "$T/stderr")" "no table in the backup matches --table Nope" "the message names the filter"

leak=$(grep -rlaF -- "$TOKEN" "$T/stdout" "$T/stderr" "$R" 2>/dev/null | wc -l)
is "$leak" 0 "the token is in no output and not in the repository"
done_testing
