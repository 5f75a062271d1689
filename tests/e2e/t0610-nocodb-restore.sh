#!/bin/bash
# backupfs nocodb restore-schema/-records/-attachments against two real
# NocoDB 0.301.3 servers (npm, cached as for t0600; skipped where npm or
# its registry cannot be reached).  The first keeps its metadata in a
# throwaway PostgreSQL and holds two bases with tables of several column
# types, 2,500 records (three pages) and attachments, plus a base "Rich"
# of typed columns (select options, decimal precision, currency, date
# format, rating) and a formula.  One backup with --nocodb, --pg-dump and
# --files.  On the first server: attachment fields emptied, then
# restore-attachments; a table's records deleted, then restore-records
# --with-attachments; both compared with the API (field values,
# attachment bytes).  A second, empty NocoDB (own port, data dir and
# database, so that values print alike):
# restore-schema, column definitions compared with the first's, the
# formula listed to recreate by hand; restore-records --with-attachments
# there too, compared table by table.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/nocodb/lib-nocodb.sh"

nocodb_require
t0=$SECONDS
R=$T/repo
CHK=$NC/restore-check.py
start_postgres
createdb nocodb || bail_out "createdb nocodb failed"
createdb nocodb2 || bail_out "createdb nocodb2 failed"
PORT=$(free_port)
PORT2=$(free_port)
URL=http://127.0.0.1:$PORT
URL2=http://127.0.0.1:$PORT2
NC_DB="pg://127.0.0.1:$PGPORT?u=postgres&p=$PG_PASSWORD&d=nocodb" \
	nocodb_start nc1 "$PORT"
NC_DB="pg://127.0.0.1:$PGPORT?u=postgres&p=$PG_PASSWORD&d=nocodb2" \
	nocodb_start nc2 "$PORT2"
nocodb_wait nc1 "$URL"
nocodb_wait nc2 "$URL2"
diag "both NocoDB up after $((SECONDS - t0)) s"

mkdir -p "$T/files"
"$BFS_PYTHON" "$NC/seed.py" "$URL" "$T/files" >"$T/seed.json" 2>"$T/seed.err" ||
	bail_out "seeding NocoDB failed: $(tail -n 5 "$T/seed.err")"
TOKEN=$("$BFS_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/seed.json")
[ -n "$TOKEN" ] || bail_out "no API token from the seed"
export NC_TOKEN=$TOKEN
"$BFS_PYTHON" "$CHK" rich "$URL" 2>"$T/seed.err" ||
	bail_out "seeding base Rich failed: $(tail -n 5 "$T/seed.err")"
TOKEN2=$("$BFS_PYTHON" "$CHK" signup "$URL2") || bail_out "signup on the second NocoDB failed"
diag "seeded after $((SECONDS - t0)) s"
TABLES="Sales/2026|Customers CRM|Notes Rich|Things Sales/2026|Q1/Q2"
# check N URL TOKEN B T: the table's records as restore-check.py prints them
check() { NC_TOKEN=$3 "$BFS_PYTHON" "$CHK" "$1" "$2" "${@:4}"; }
for bt in $TABLES; do
	IFS='|' read -r b t <<<"$bt"
	check records "$URL" "$TOKEN" "$b" "$t" >"$T/before-${t//\//_}" ||
		bail_out "reading $b > $t failed"
done

ok_cmd "init" bfs init "$R"
echo "app config" >"$T/files/app.conf"
ok_cmd "backup --nocodb --pg-dump --files" env NOCODB_API_TOKEN="$TOKEN" \
	"$BACKUPFS" backup -r "$R" --id nc1 --nocodb "$URL" \
	--pg-dump "$(pg_uri nocodb)" --files data="$T/files"
diag "backup after $((SECONDS - t0)) s"
export NOCODB_API_TOKEN=$TOKEN

# ---- restore-attachments: the attachment fields emptied, then restored
is "$(check clear "$URL" "$TOKEN" Sales/2026 Customers Files)" 2 "two records' attachments emptied"
ok_cmd "restore-attachments --base --table" bfs nocodb -r "$R" restore-attachments \
	--base Sales/2026 --table Customers --force nc1 "$URL"
like "$(cat "$T/stdout")" "^2 records updated, 3 attachments \([0-9]+ bytes\) uploaded, in 1 tables" \
	"2 records updated, 3 attachments uploaded"
check records "$URL" "$TOKEN" Sales/2026 Customers >"$T/after"
ok "$(cmp -s "$T/after" "$T/before-Customers"; echo $?)" \
	"Customers: attachments back (titles, sizes, bytes), the other fields unchanged"

# ---- restore-records: a table's records deleted, then restored
is "$(check delete "$URL" "$TOKEN" Sales/2026 Customers)" 2500 "2,500 records deleted"
is "$(check count "$URL" "$TOKEN" Sales/2026 Customers)" 0 "Customers is empty"
ok_cmd "restore-records --table --with-attachments" bfs nocodb -r "$R" restore-records \
	--table Customers --with-attachments --force nc1 "$URL"
like "$(cat "$T/stdout")" "^2500 records inserted, 3 attachments" "2,500 records inserted (25 batches)"
check records "$URL" "$TOKEN" Sales/2026 Customers >"$T/after"
is "$(wc -l <"$T/after")" 2500 "Customers has 2,500 records again"
ok "$(cmp -s "$T/after" "$T/before-Customers"; echo $?)" \
	"Customers: every field value and attachment as before"
diag "restores on the first NocoDB after $((SECONDS - t0)) s"

# ---- a second, empty NocoDB: schema, then records
export NOCODB_API_TOKEN=$TOKEN2
ok_cmd "restore-schema --dry-run" bfs nocodb -r "$R" restore-schema --dry-run \
	--skip-existing nc1 --nocodb "$URL2"
out=$(cat "$T/stdout")
like "$out" "^create base 'Sales/2026'$" "the plan creates base Sales/2026"
like "$out" "^create table 'Things' in base 'Rich' \(9 columns\)$" "and table Things with its 9 stored columns"
like "$out" "^recreate by hand: column 'Twice' \(Formula\) of base 'Rich', table 'Things'$" \
	"the formula is to recreate by hand"
like "$out" "^skip table 'Features' of base 'Getting Started': it exists$" \
	"the sample table of the new NocoDB is left alone"
ok_cmd "restore-schema" bfs nocodb -r "$R" restore-schema --skip-existing --force nc1 "$URL2"
like "$(cat "$T/stdout")" "^3 bases and 4 tables created, 1 tables skipped, 1 columns to recreate by hand" \
	"3 bases and 4 tables created"
for bt in $TABLES; do
	IFS='|' read -r b t <<<"$bt"
	is "$(check schema "$URL2" "$TOKEN2" "$b" "$t")" "$(check schema "$URL" "$TOKEN" "$b" "$t")" \
		"$b > $t: the same column definitions (titles, names, types, meta, options)"
done
ok_cmd "restore-records --with-attachments" bfs nocodb -r "$R" restore-records \
	--with-attachments --force nc1 "$URL2"
like "$(cat "$T/stdout")" "^2510 records inserted, 5 attachments" "2,510 records and 5 attachments"
for bt in $TABLES; do
	IFS='|' read -r b t <<<"$bt"
	check records "$URL2" "$TOKEN2" "$b" "$t" >"$T/after"
	ok "$(cmp -s "$T/after" "$T/before-${t//\//_}"; echo $?)" \
		"$b > $t: the second NocoDB's records equal the first's (values, attachment bytes)"
done
fails_with 1 "restore-schema again: the tables exist" \
	bfs nocodb -r "$R" restore-schema --force nc1 "$URL2"
like "$(cat "$T/stderr")" "NocoDB has that table already" "the message says the table exists"

leak=$(grep -laF -- "$TOKEN2" "$T"/stdout "$T"/stderr 2>/dev/null | wc -l)
is "$leak" 0 "the token is in no output"
diag "test time after install: $((SECONDS - t0)) s"
done_testing
