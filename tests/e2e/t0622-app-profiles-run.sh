#!/bin/bash
# The app profiles t0621 does not run, run for real (`job new --profile`,
# placeholders filled, `backupfs run`), with fake app trees: nocodb (pg_dump
# of a real PostgreSQL database, a data directory, the API export from the
# stand-in NocoDB of t0611; the token only in the env file), pydio-cells
# (mysqldump of a MariaDB database named like Cells', the working directory
# without its top-level logs/ and caches/, stop/start hooks), dolt (the
# data-directory variant when dolt is not on PATH: .dolt/ kept, the server
# stopped meanwhile, its lock file gone; with a dolt on PATH the profile is
# the `dolt backup sync-url` one and its hook fills the staging directory).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd jq jq
J=$T/jobs
ST=$T/state
mkdir -p "$J" "$T/bin"

# systemctl as the hooks call it: logs its arguments; "stop doltdb"
# removes the lock file a running dolt sql-server holds, "start" puts it
# back
cat >"$T/bin/systemctl" <<EOF
#!/bin/bash
echo "\$*" >>"$T/systemctl.log"
case "\$*" in
"stop doltdb") rm -f "$T/dolt/shop/.dolt/sql-server.lock" ;;
"start doltdb") echo 4242 >"$T/dolt/shop/.dolt/sql-server.lock" ;;
esac
EOF
chmod +x "$T/bin/systemctl"
PATH="$T/bin:$(printf %s "$PATH" | tr ':' '\n' |
	while read -r d; do [ -x "$d/dolt" ] || printf '%s:' "$d"; done)"
export PATH

# run_job NAME: `backupfs run` of the job, ok; $id its backup, $tree its
# `ls -R`
run_job() {
	rm -f "$T/systemctl.log"
	ok_cmd "run the $1 job" env -u PGPASSWORD -u PGPASSFILE -u MYSQL_PWD \
		-u NOCODB_API_TOKEN \
		"$BACKUPFS" run --jobs "$J" --state-dir "$ST" --json "$1"
	is "$(jq -r '.[0].status' "$T/stdout")" "ok" "  the run is ok"
	id=$(jq -r '.[0].backup_id' "$T/stdout")
	repo=$(jq -r .repository "$J/$1.json")
	ok_cmd "  ls -R" bfs ls -r "$repo" -R "$id"
	tree=$(cat "$T/stdout")
}

# ---- nocodb: PostgreSQL, data directory, API export
NC=$top_srcdir/tests/e2e/nocodb
TOKEN=tok-$(_rand_hex 12)
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
mkdir -p "$T/fake"
(cd "$T/fake" && exec "$BFS_PYTHON" "$NC/fake-restore.py" "$PORT" "$TOKEN") &
FAKE=$!
at_exit "kill $FAKE 2>/dev/null"
start_postgres
createdb nocodb || bail_out "createdb"
psql -X -q -d nocodb -c "create table nc_bases (id text primary key, title text);
	insert into nc_bases values ('p1', 'Shop')" || bail_out "cannot fill nocodb"
D=$T/nocodb-data
mkdir -p "$D/nc/uploads/noco/Shop/Orders/Files"
echo invoice >"$D/nc/uploads/noco/Shop/Orders/Files/inv.pdf"
wait_until 10 curl -s -o /dev/null "$URL/api/v2/meta/bases" ||
	bail_out "the fake NocoDB did not start"
ok_cmd "job new --profile nocodb" bfs job new --jobs "$J" --profile nocodb nc
like "$(cat "$T/stdout")" "<NOCODB_DATA_DIR>, <NOCODB_URL>" "  it names the NocoDB placeholders"
sed -i -e "s|<REPOSITORY>|$T/repo-nc|" -e "s|<DB_USER>@<DB_HOST>:5432|postgres@127.0.0.1:$PGPORT|" \
	-e "s|<DB_NAME>|nocodb|" -e "s|<NOCODB_DATA_DIR>|$D|" -e "s|<NOCODB_URL>|$URL|" \
	-e "s|/etc/backupfs/nc.env|$T/nc.env|" "$J/nc.json"
(umask 077 && printf 'PGPASSWORD=%s\nNOCODB_API_TOKEN=%s\n' "$PG_PASSWORD" "$TOKEN" >"$T/nc.env")
ok_cmd "job check" bfs job check "$J/nc.json"
ok_cmd "init" bfs init "$T/repo-nc"
run_job nc
for p in database.sql nocodb-data/nc/uploads/noco/Shop/Orders/Files/inv.pdf \
	bases/Shop/metadata.json bases/Shop/Orders/schema.json \
	bases/Shop/Orders/records.jsonl; do
	like "$tree" "(^|/| )$p\$" "the backup holds $p"
done
bfs cat -r "$T/repo-nc" "$id:bases/Shop/Orders/records.jsonl" >"$T/records.jsonl"
is "$(wc -l <"$T/records.jsonl")" 250 "records.jsonl holds the 250 records"
like "$(sed -n 250p "$T/records.jsonl")" '"Qty":9007199254740993' \
	"  record 250's Qty 2^53+1 with every digit"
bfs cat -r "$T/repo-nc" "$id:database.sql" >"$T/nc.sql"
psql -X -q -d postgres -c "create database nc_restored" >/dev/null
ok_cmd "database.sql loads" psql -X -q -v ON_ERROR_STOP=1 -d nc_restored -f "$T/nc.sql"
is "$(psql -X -At -d nc_restored -c 'select title from nc_bases')" "Shop" \
	"  the metadata table is back"
leak=$(grep -rlaF -- "$TOKEN" "$T/stdout" "$T/stderr" "$T/repo-nc" "$ST" "$J" 2>/dev/null | wc -l)
is "$leak" 0 "the token is in no output, job file, state or repository"

# ---- pydio-cells: MariaDB "cells", the working directory, hooks
start_mariadb
my -e "create database cells" &&
	my cells <<'EOF' || bail_out "cannot seed the cells database"
create table idm_user_idx_tree (uuid varchar(128) primary key, name varchar(255));
insert into idm_user_idx_tree values ('u-1', 'admin'), ('u-2', 'alice');
create table data_meta (node_id varchar(128) primary key, namespace varchar(255), data longtext);
insert into data_meta values ('n-1', 'usermeta-tags', '"urgent"');
EOF
C=$T/cells
mkdir -p "$C/data/personal/alice/logs" "$C/services/pydio.grpc.mailer" \
	"$C/logs" "$C/caches/thumbs" "$C/certs"
echo '{"defaults": {"url": "https://cells.example.net"}}' >"$C/pydio.json"
echo report >"$C/data/personal/alice/report.txt"
echo keep >"$C/data/personal/alice/logs/notes.txt"
head -c 50000 /dev/urandom >"$C/services/pydio.grpc.mailer/queue.db"
echo cert >"$C/certs/rootca.pem"
echo noise >"$C/logs/pydio.log"
echo thumb >"$C/caches/thumbs/a.jpg"
ok_cmd "job new --profile pydio-cells" bfs job new --jobs "$J" --profile pydio-cells cells
sed -i -e "s|<REPOSITORY>|$T/repo-cells|" -e "s|<DB_USER>@<DB_HOST>:3306|root@127.0.0.1:$MYSQL_PORT|" \
	-e "s|<DB_NAME>|cells|" -e "s|<CELLS_WORKING_DIR>|$C|" \
	-e "s|/etc/backupfs/cells.env|$T/cells.env|" "$J/cells.json"
(umask 077 && printf 'MYSQL_PWD=%s\n' "$MYSQL_ROOT_PASSWORD" >"$T/cells.env")
ok_cmd "job check" bfs job check "$J/cells.json"
ok_cmd "init" bfs init "$T/repo-cells"
run_job cells
is "$(tr '\n' ';' <"$T/systemctl.log")" "stop cells;start cells;" \
	"the hooks stopped and started Cells"
for p in cells.sql cells/pydio.json cells/data/personal/alice/report.txt \
	cells/data/personal/alice/logs/notes.txt \
	cells/services/pydio.grpc.mailer/queue.db cells/certs/rootca.pem; do
	like "$tree" "(^|/| )$p\$" "the backup holds $p"
done
unlike "$tree" "^cells/(logs|caches)" "the top-level logs/ and caches/ are left out"
ok "$(bfs cat -r "$T/repo-cells" "$id:cells/services/pydio.grpc.mailer/queue.db" |
	cmp -s - "$C/services/pydio.grpc.mailer/queue.db"; echo $?)" \
	"a service store comes back byte for byte"
bfs cat -r "$T/repo-cells" "$id:cells.sql" >"$T/cells.sql"
my -e "create database cells_restored"
ok_cmd "cells.sql loads" bash -c 'mariadb --defaults-extra-file="$MY_CNF" cells_restored <"$1"' _ "$T/cells.sql"
is "$(my -N -B -e 'select group_concat(name order by uuid) from cells_restored.idm_user_idx_tree')" \
	"admin,alice" "  the users are back"

# ---- dolt, data directory: .dolt/ kept, the server stopped meanwhile
mkdir -p "$T/dolt/shop/.dolt/noms/oldgen" "$T/dolt/.doltcfg"
head -c 30000 /dev/urandom >"$T/dolt/shop/.dolt/noms/abcdefghijklmnopqrstuv0123456789"
echo '5:__DOLT__:abc' >"$T/dolt/shop/.dolt/noms/manifest"
echo '{"head": "refs/heads/main"}' >"$T/dolt/shop/.dolt/repo_state.json"
echo 'user: root' >"$T/dolt/.doltcfg/privileges.db"
echo 4242 >"$T/dolt/shop/.dolt/sql-server.lock"
ok_cmd "job new --profile dolt (no dolt on PATH)" bfs job new --jobs "$J" --profile dolt dolt
unlike "$(cat "$J/dolt.json")" "sync-url" "  the data-directory variant"
sed -i -e "s|<REPOSITORY>|$T/repo-dolt|" -e "s|<DOLT_DATA_DIR>|$T/dolt|" \
	-e "s|/etc/backupfs/dolt.env|$T/dolt.env|" "$J/dolt.json"
(umask 077 && : >"$T/dolt.env")
ok_cmd "job check" bfs job check "$J/dolt.json"
ok_cmd "init" bfs init "$T/repo-dolt"
run_job dolt
is "$(tr '\n' ';' <"$T/systemctl.log")" "stop doltdb;start doltdb;" \
	"the hooks stopped and started the SQL server"
for p in dolt/shop/.dolt/noms/manifest dolt/shop/.dolt/repo_state.json \
	dolt/shop/.dolt/noms/abcdefghijklmnopqrstuv0123456789 dolt/.doltcfg/privileges.db; do
	like "$tree" "(^|/| )$p\$" "the backup holds $p"
done
unlike "$tree" "sql-server.lock" "the lock of the running server is not in it (stopped first)"
ok "$(test -f "$T/dolt/shop/.dolt/sql-server.lock"; echo $?)" "the server runs again afterwards"
ok "$(bfs cat -r "$T/repo-dolt" "$id:dolt/shop/.dolt/noms/abcdefghijklmnopqrstuv0123456789" |
	cmp -s - "$T/dolt/shop/.dolt/noms/abcdefghijklmnopqrstuv0123456789"; echo $?)" \
	"a noms table file comes back byte for byte"

# ---- dolt on PATH: the sync-url variant, its hook fills the staging dir
cat >"$T/bin/dolt" <<EOF
#!/bin/bash
# dolt backup sync-url file://DIR: a backup's files into DIR
[ "\$1 \$2" = "backup sync-url" ] || exit 1
d=\${3#file://}
mkdir -p "\$d" && cp -r "\$PWD/.dolt/noms/." "\$d/" && echo "\$PWD" >"$T/dolt-sync.log"
EOF
chmod +x "$T/bin/dolt"
ok_cmd "job new --profile dolt (dolt on PATH)" bfs job new --jobs "$J" --profile dolt dsync
like "$(cat "$J/dsync.json")" "dolt backup sync-url" "  the sync-url variant"
sed -i -e "s|<REPOSITORY>|$T/repo-dolt|" -e "s|<STAGING_DIR>|$T/staging|g" \
	-e "s|<DOLT_DB_DIR>|$T/dolt/shop|" -e "s|/etc/backupfs/dsync.env|$T/dolt.env|" "$J/dsync.json"
ok_cmd "job check" bfs job check "$J/dsync.json"
run_job dsync
is "$(cat "$T/dolt-sync.log")" "$T/dolt/shop" "the hook ran dolt in the database directory"
like "$tree" "(^|/| )dolt-backup/manifest\$" "the backup holds the staging directory"

done_testing
