#!/bin/bash
# Dump options against real PostgreSQL and MariaDB: --ignore-table-data
# keeps the schema and drops the rows (and the dump still loads),
# --pg-dumpall-globals without role passwords, --pg-dump-opt /
# --mysql-dump-opt checked against their allow-lists, --dump-timeout kills
# a pg_dump blocked by a lock another session holds (nothing written).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
start_postgres
ok_cmd "init" bfs init "$R"

# ---- PostgreSQL
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "create database app" &&
psql -X -q -v ON_ERROR_STOP=1 -d postgres \
	-c "create role reader login password 'Reader-pw-s3cret'" &&
psql -X -q -v ON_ERROR_STOP=1 -d app <<'EOF' || bail_out "cannot seed app"
create table keep (id int primary key, v text);
insert into keep select g, 'row ' || g from generate_series(1, 30) g;
create table audit_log (id serial primary key, at timestamptz default now(),
	what text not null);
create index audit_log_what on audit_log (what);
insert into audit_log (what) select 'event ' || g from generate_series(1, 500) g;
grant select on keep to reader;
EOF
uri=$(pg_uri app)

ok_cmd "backup --pg-dump --ignore-table-data --pg-dumpall-globals" \
	bfs backup -r "$R" --id pg1 --pg-dump "$uri" \
	--ignore-table-data app.public.audit_log --pg-dumpall-globals \
	--pg-dump-opt --no-comments
ok_cmd "cat database.sql" bfs cat -r "$R" pg1:database.sql
cp "$T/stdout" "$T/pg1.sql"
like "$(cat "$T/pg1.sql")" "CREATE TABLE public.audit_log" \
	"the ignored table's schema is in the dump"
like "$(cat "$T/pg1.sql")" "COPY public.keep" "the other table's rows are"
unlike "$(cat "$T/pg1.sql")" "COPY public.audit_log" \
	"the ignored table's rows are not"
psql -X -q -d postgres -c "create database app2" >/dev/null
ok_cmd "the dump loads into an empty database" \
	psql -X -q -v ON_ERROR_STOP=1 -d app2 -f "$T/pg1.sql"
is "$(psql -X -At -d app2 -c 'select count(*) from keep')" "30" \
	"restored: keep has its 30 rows"
is "$(psql -X -At -d app2 -c 'select count(*) from audit_log')" "0" \
	"restored: audit_log exists, empty"
is "$(psql -X -At -d app2 -c "select count(*) from pg_indexes where indexname = 'audit_log_what'")" \
	"1" "restored: audit_log's index too"
ok_cmd "cat globals.sql" bfs cat -r "$R" pg1:globals.sql
like "$(cat "$T/stdout")" "CREATE ROLE reader" "globals.sql holds the roles"
unlike "$(cat "$T/stdout")" "SCRAM-SHA-256|PASSWORD '" \
	"globals.sql holds no role password (--no-role-passwords)"
ok_cmd "backup with two pg dumps, options after one of them" \
	bfs backup -r "$R" --id pg2 --pg-dump "$uri" \
	--pg-dump other="$uri" --ignore-table-data app.public.audit_log \
	--pg-dumpall-globals
bfs cat -r "$R" pg2:database.sql >"$T/pg2a.sql"
bfs cat -r "$R" pg2:other.sql >"$T/pg2b.sql"
like "$(cat "$T/pg2a.sql")" "COPY public.audit_log" \
	"an option after the second dump leaves the first alone"
unlike "$(cat "$T/pg2b.sql")" "COPY public.audit_log" \
	"and applies to the second"
ok_cmd "the globals of a NAME= dump land at NAME.globals.sql" \
	bfs cat -r "$R" pg2:other.globals.sql

# ---- the allow-list
fails_with 2 "--pg-dump-opt -Fc is refused" \
	bfs backup -r "$R" --pg-dump "$uri" --pg-dump-opt -Fc
like "$(cat "$T/stderr")" "only long options" "  (long options only)"
fails_with 2 "--pg-dump-opt --format=custom is refused" \
	bfs backup -r "$R" --pg-dump "$uri" --pg-dump-opt --format=custom
like "$(cat "$T/stderr")" "'--format' is refused: .*plain SQL" \
	"  naming the option and why"
fails_with 2 "--pg-dump-opt --jobs=4 is refused" \
	bfs backup -r "$R" --pg-dump "$uri" --pg-dump-opt --jobs=4
fails_with 2 "--pg-dump-opt --file=x is refused" \
	bfs backup -r "$R" --pg-dump "$uri" --pg-dump-opt --file=/tmp/x
fails_with 2 "an unknown option is refused" \
	bfs backup -r "$R" --pg-dump "$uri" --pg-dump-opt --frobnicate
like "$(cat "$T/stderr")" "'--frobnicate' is not on the list" "  saying so"
fails_with 2 "--mysql-dump-opt after a --pg-dump is refused" \
	bfs backup -r "$R" --pg-dump "$uri" --mysql-dump-opt --compact
like "$(cat "$T/stderr")" "follows source 1, which is not a --mysql-dump" \
	"  naming the source"
fails_with 2 "--ignore-table-data without DB. is refused" \
	bfs backup -r "$R" --pg-dump "$uri" --ignore-table-data audit_log

# ---- the timeout: pg_dump waits for a lock another session holds
psql -X -q -d app -c "begin; lock table keep in access exclusive mode; select pg_sleep(120);" \
	>/dev/null 2>&1 &
locker=$!
at_exit "kill $locker 2>/dev/null"
wait_until 10 bash -c "psql -X -At -d app -c \"select count(*) from pg_locks where mode = 'AccessExclusiveLock' and relation = 'keep'::regclass and granted\" | grep -qx 1"
start=$(date +%s)
fails_with 1 "a dump blocked past --dump-timeout fails the backup" \
	bfs backup -r "$R" --id slow --pg-dump "$uri" --dump-timeout 2s \
	--files "$T/pg1.sql"
took=$(($(date +%s) - start))
like "$(cat "$T/stderr")" "pg_dump of .* did not finish within the dump timeout \\(2s\\): killed" \
	"  the message names the dump and the timeout"
ok "$([ "$took" -lt 20 ]; echo $?)" "  and it failed in time (${took}s)"
ok_cmd "list" bfs list -r "$R" --json
unlike "$(cat "$T/stdout")" '"slow"' "the failed backup is not visible"
ok "$(pgrep -x pg_dump >/dev/null && pgrep -a -x pg_dump | grep -c -- "$PGPORT" >/dev/null; [ $? -ne 0 ]; echo $?)" \
	"no pg_dump is left running"
kill $locker 2>/dev/null
wait $locker 2>/dev/null

# ---- MariaDB
start_mariadb
my -e "create database dtable_db" &&
my dtable_db <<'EOF' || bail_out "cannot seed dtable_db"
create table dtables (id int primary key, name varchar(64));
insert into dtables values (1, 'a'), (2, 'b'), (3, 'c');
create table operation_log (id int auto_increment primary key,
	op_type varchar(32), op_time bigint, key op_time (op_time));
insert into operation_log (op_type, op_time) values ('insert', 1), ('modify', 2),
	('delete', 3), ('insert', 4);
create trigger ol_bi before insert on operation_log for each row
	set new.op_type = lower(new.op_type);
create trigger dt_bi before insert on dtables for each row
	set new.name = upper(new.name);
create view dtable_names as select name from dtables;
EOF
muri=$(my_uri dtable_db)
ok_cmd "backup --mysql-dump --ignore-table-data --mysql-dump-opt" \
	bfs backup -r "$R" --id my1 --mysql-dump "$muri" \
	--ignore-table-data dtable_db.operation_log \
	--mysql-dump-opt --skip-dump-date
bfs cat -r "$R" my1:dtable_db.sql >"$T/my1.sql"
like "$(cat "$T/my1.sql")" "CREATE TABLE \`operation_log\`" \
	"the ignored table's schema is in the dump"
unlike "$(cat "$T/my1.sql")" "INSERT INTO \`operation_log\`" \
	"its rows are not"
like "$(cat "$T/my1.sql")" "INSERT INTO \`dtables\`" "the other rows are"
my -e "create database restored"
ok_cmd "the dump loads into an empty database" \
	bash -c 'mariadb --defaults-extra-file="$MY_CNF" restored <"$1"' _ "$T/my1.sql"
is "$(my -N -B -e 'select count(*) from restored.dtables')" "3" \
	"restored: dtables has its rows"
is "$(my -N -B -e 'select count(*) from restored.operation_log')" "0" \
	"restored: operation_log exists, empty"
is "$(my -N -B -e "select count(*) from information_schema.triggers where trigger_schema = 'restored'")" \
	"2" "restored: the triggers too"
is "$(my -N -B -e 'select group_concat(name order by id) from restored.dtables')" \
	"a,b,c" "loading the rows fired no trigger (they come after the rows)"
is "$(my -N -B -e 'select count(*) from restored.dtable_names')" "3" \
	"restored: the view"
fails_with 2 "--mysql-dump-opt --tab=DIR is refused" \
	bfs backup -r "$R" --mysql-dump "$muri" --mysql-dump-opt --tab=/tmp
like "$(cat "$T/stderr")" "'--tab' is refused" "  naming the option"
fails_with 2 "--mysql-dump-opt --password=... is refused, value not shown" \
	bfs backup -r "$R" --mysql-dump "$muri" --mysql-dump-opt --password=Zz9secret
unlike "$(cat "$T/stderr")" "Zz9secret" "  the value is not echoed"
ok_cmd "a table in --ignore-table-data that does not exist is no error" \
	bfs backup -r "$R" --id my2 --mysql-dump "$muri" \
	--ignore-table-data dtable_db.no_such_table \
	--ignore-table-data dtable_db.operation_log
bfs cat -r "$R" my2:dtable_db.sql >"$T/my2.sql"
unlike "$(cat "$T/my2.sql")" "INSERT INTO \`operation_log\`" \
	"  and the other entries still apply"

done_testing
