#!/bin/bash
# --pg-dump of pagila with a postgresql:// URI holding the password: the
# password never reaches a command line, a log or the manifest; the dump
# restores into a new database with identical table contents.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
start_postgres
load_pagila pagila
ok_cmd "init" bfs init "$R"

# A pg_dump wrapper first on PATH: records its argv and environment, then
# runs the real one.
mkdir -p "$T/wrap"
cat >"$T/wrap/pg_dump" <<EOF
#!/bin/bash
n=\$(ls "$T/wrap" | grep -c '^argv\.')
printf '%s\0' "\$0" "\$@" >"$T/wrap/argv.\$n"
env -0 >"$T/wrap/env.\$n"
cat /proc/\$\$/cmdline >"$T/wrap/cmdline.\$n"
cat /proc/\$PPID/cmdline >"$T/wrap/parent.\$n"
exec "$PG_BINDIR/pg_dump" "\$@"
EOF
chmod +x "$T/wrap/pg_dump"

uri=$(pg_uri pagila)
ok_cmd "backup --pg-dump postgresql://user:password@host:port/db" \
	env -u PGPASSFILE -u PGPASSWORD PATH="$T/wrap:$PATH" \
	"$BACKUPFS" backup -r "$R" --id pg1 --pg-dump "$uri"
cp "$T/stderr" "$T/backup.stderr"
ok "$(ls "$T/wrap"/argv.* >/dev/null 2>&1; echo $?)" "pg_dump was found on PATH (the wrapper ran)"
leak=0
for f in "$T/wrap"/argv.* "$T/wrap"/cmdline.*; do
	if [ -f "$f" ] && grep -qaF -- "$PG_PASSWORD" "$f"; then
		leak=1
		diag "password found in $(basename "$f"): $(tr '\0' ' ' <"$f")"
	fi
done
is "$leak" "0" "the password is not on pg_dump's command line"
leak=0
for f in "$T/wrap"/parent.*; do
	if [ -f "$f" ] && grep -qaF -- "$PG_PASSWORD" "$f"; then
		leak=1
		diag "password found in backupfs's cmdline: $(tr '\0' ' ' <"$f")"
	fi
done
ok "$(ls "$T/wrap"/parent.* >/dev/null 2>&1; echo $?)" "backupfs's own cmdline was recorded"
like "$(tr '\0' ' ' <"$T/wrap/parent.0")" "backup .*--pg-dump" "the recorded parent is backupfs backup"
is "$leak" "0" "backupfs scrubbed the password from its own command line"
for f in "$T/wrap"/argv.*; do
	[ -f "$f" ] && diag "pg_dump argv: $(tr '\0' ' ' <"$f")"
done
unlike "$(cat "$T/backup.stderr" "$T/stdout")" "$PG_PASSWORD" "the password is not in backupfs output"
ok_cmd "show --json" bfs show -r "$R" pg1 --json
unlike "$(cat "$T/stdout")" "$PG_PASSWORD" "the password is not in the recorded sources"
is "$(zstd -dc "$R/manifests/pg1" | grep -caF -- "$PG_PASSWORD")" "0" \
	"the password is not in the manifest"

ok_cmd "ls pg1" bfs ls -r "$R" pg1
is "$(cat "$T/stdout")" "database.sql" "the dump is database.sql"

ok_cmd "cat pg1:database.sql" bash -c "\"\$BACKUPFS\" cat -r '$R' pg1:database.sql >'$T/dump.sql'"
like "$(head -c 4000 "$T/dump.sql")" "PostgreSQL database dump" "it is a pg_dump"
ok "$(grep -qE '^(CREATE DATABASE|\\connect)' "$T/dump.sql"; [ $? -ne 0 ]; echo $?)" \
	"the dump has no CREATE DATABASE and no \\connect"
like "$(tail -c 2000 "$T/dump.sql")" "PostgreSQL database dump complete" "the dump is complete"

ok_cmd "createdb restored" createdb restored
ok_cmd "restore: backupfs cat | psql -v ON_ERROR_STOP=1" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' pg1:database.sql | psql -X -q -v ON_ERROR_STOP=1 -d restored >/dev/null"
a=$(pg_table_digest pagila)
b=$(pg_table_digest restored)
is "$(echo "$a" | wc -l)" "$(echo "$b" | wc -l)" "same number of tables"
is "$b" "$a" "restored tables equal the original (counts and row digests)"
like "$a" "public\\.rental 16044 " "pagila has its 16044 rentals"

# ---- NAME=, conninfo form, two databases in one backup
ok_cmd "createdb second" createdb second
psql -X -q -d second -c "create table t (id int primary key, s text, b bytea)" &&
psql -X -q -d second -c "insert into t select g, 'row ' || g || ' 😀', decode(md5(g::text), 'hex') from generate_series(1, 5000) g"
ok $? "second database filled"
ok_cmd "backup of two databases (URI with NAME=, and conninfo with PGPASSFILE)" \
	env PATH="$T/wrap:$PATH" "$BACKUPFS" backup -r "$R" --id pg2 \
	--pg-dump "$uri" \
	--pg-dump "other=host=127.0.0.1 port=$PGPORT user=postgres dbname=second"
is "$(bfs ls -r "$R" pg2 | sort | tr '\n' ' ')" "database.sql other.sql " "database.sql and other.sql"
ok_cmd "createdb second_restored" createdb second_restored
ok_cmd "restore other.sql" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' pg2:other.sql | psql -X -q -v ON_ERROR_STOP=1 -d second_restored >/dev/null"
is "$(pg_table_digest second_restored)" "$(pg_table_digest second)" "second database restored equal"
# (recent pg_dump writes a random \restrict key: leave it out)

bfs cat -r "$R" pg2:database.sql >"$T/dump2.sql"
is "$(strip_pg_restrict "$T/dump2.sql" | md5sum)" "$(strip_pg_restrict "$T/dump.sql" | md5sum)" \
	"pg2:database.sql equals pg1's dump (same data)"

# ---- failures
fails_with 1 "wrong password: exit 1" env -u PGPASSFILE -u PGPASSWORD \
	"$BACKUPFS" backup -r "$R" --id bad1 \
	--pg-dump "postgresql://postgres:WrongPassw0rdXYZ@127.0.0.1:$PGPORT/pagila"
unlike "$(cat "$T/stderr")" "WrongPassw0rdXYZ" "the error does not show the password"
like "$(cat "$T/stderr")" "pg_dump|password|authentication" "the error says what failed"
fails_with 1 "missing database: exit 1" \
	bfs backup -r "$R" --id bad2 --pg-dump "$(pg_uri no_such_db)"
is "$(bfs_ids -r "$R" | sort | tr '\n' ' ')" "pg1 pg2 " "failed dumps left no backup"
ok "$([ ! -e "$R/manifests/bad1" ] && [ ! -e "$R/manifests/bad2" ]; echo $?)" "no manifests for failed dumps"

done_testing
