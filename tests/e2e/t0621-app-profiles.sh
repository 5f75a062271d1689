#!/bin/bash
# App profiles (`backupfs job new --profile`) run for real, with fake app
# trees: seatable with MariaDB databases named like SeaTable's (its big log
# tables end up as schema without rows), mattermost with PostgreSQL and
# its stop/start hooks (a fake systemctl on PATH records them).  Until the
# placeholders are replaced, `job check` names them; `job new` never
# overwrites without --force.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd jq jq
J=$T/jobs
ST=$T/state
mkdir -p "$J" "$T/bin"

# systemctl as the hooks call it: logs its arguments, with whether the
# backup's dump had started yet (it must not have for "stop")
cat >"$T/bin/systemctl" <<EOF
#!/bin/bash
echo "\$*" >>"$T/systemctl.log"
EOF
chmod +x "$T/bin/systemctl"
export PATH="$T/bin:$PATH"

# ---- job new, placeholders, --force
ok_cmd "job new --list-profiles" bfs job new --list-profiles
is "$(awk '{print $1}' "$T/stdout" | tr '\n' ' ')" \
	"nocodb seatable mattermost pydio-cells dolt " "the five profiles"
ok_cmd "job new --profile seatable" bfs job new --jobs "$J" --profile seatable st
like "$(cat "$T/stdout")" "replace <REPOSITORY>, <DB_HOST>, <SEATABLE_DIR>, <SEATABLE_COMPOSE_DIR> in it" \
	"it lists the placeholders"
ok "$(test -f "$J/st.json"; echo $?)" "the file is JOBS/NAME.json"
fails_with 1 "job check refuses a file with placeholders" bfs job check "$J/st.json"
like "$(cat "$T/stderr")" "st.json: replace <REPOSITORY>, <DB_HOST>, <SEATABLE_DIR>, <SEATABLE_COMPOSE_DIR> in this file \\(first at repository\\)" \
	"  naming them and where the first is"
fails_with 1 "job new does not overwrite" \
	bfs job new --jobs "$J" --profile seatable st
like "$(cat "$T/stderr")" "exists: give --force" "  saying how"
echo changed >>"$J/st.json"
ok_cmd "job new --force overwrites" \
	bfs job new --jobs "$J" --profile seatable st --force
unlike "$(cat "$J/st.json")" "changed" "  the file is the profile again"
fails_with 2 "an unknown profile is a usage error" \
	bfs job new --jobs "$J" --profile wordpress wp
like "$(cat "$T/stderr")" "unknown profile 'wordpress' \\(nocodb, seatable" \
	"  listing the profiles"
ok_cmd "job new -o FILE" bfs job new --profile dolt -o "$T/dolt.json" d1
ok "$(test -f "$T/dolt.json"; echo $?)" "  writes FILE"

# ---- seatable: MariaDB with SeaTable's databases, a fake data tree
start_mariadb
my -e "create database ccnet_db; create database seafile_db; create database dtable_db" &&
my ccnet_db -e "create table EmailUser (id int primary key, email varchar(255));
	insert into EmailUser values (1, 'a@example.net'), (2, 'b@example.net')" &&
my seafile_db -e "create table Repo (repo_id char(36) primary key);
	insert into Repo values ('5a0f2b0c-1111-2222-3333-444455556666')" &&
my dtable_db <<'EOF' || bail_out "cannot seed the SeaTable databases"
create table dtables (id int primary key, name varchar(64));
insert into dtables values (1, 'projects'), (2, 'crm');
create table operation_log (id int auto_increment primary key, op_id bigint, detail text);
create table delete_operation_log (id int auto_increment primary key, op_id bigint);
create table dtable_snapshot (id int auto_increment primary key, content longblob);
create table activities (id int auto_increment primary key, op_type varchar(32));
create table session_log (id int auto_increment primary key, username varchar(255));
insert into operation_log (op_id, detail) select seq, repeat('x', 100) from seq_1_to_300;
insert into delete_operation_log (op_id) select seq from seq_1_to_50;
insert into dtable_snapshot (content) values (repeat('s', 1000)), (repeat('t', 1000));
insert into activities (op_type) select 'insert' from seq_1_to_40;
insert into session_log (username) values ('a@example.net');
EOF
S=$T/seatable-server/seatable
mkdir -p "$S/conf" "$S/seafile-data/storage/blocks/5a0f" "$S/seahub-data/avatars" \
	"$S/storage-data" "$S/logs" "$S/pids" "$T/seatable-compose"
echo "DTABLE_WEB_SERVICE_URL = 'https://seatable.example.net'" >"$S/conf/dtable_web_settings.py"
head -c 100000 /dev/urandom >"$S/seafile-data/storage/blocks/5a0f/0001"
echo png >"$S/seahub-data/avatars/a.png"
echo asset >"$S/storage-data/asset"
echo noise >"$S/logs/dtable_web.log"
echo 42 >"$S/pids/nginx.pid"
printf 'SEATABLE_SERVER_HOSTNAME=seatable.example.net\n' >"$T/seatable-compose/.env"

sed -i -e "s|<REPOSITORY>|$T/repo-st|" -e "s|<DB_HOST>:3306|127.0.0.1:$MYSQL_PORT|" \
	-e "s|<SEATABLE_DIR>|$S|" -e "s|<SEATABLE_COMPOSE_DIR>|$T/seatable-compose|" \
	-e "s|/etc/backupfs/st.env|$T/st.env|" "$J/st.json"
(umask 077 && printf 'MYSQL_PWD=%s\n' "$MYSQL_ROOT_PASSWORD" >"$T/st.env")
ok_cmd "job check passes once the placeholders are replaced" bfs job check "$J/st.json"
ok_cmd "init" bfs init "$T/repo-st"
ok_cmd "run the seatable job" env -u MYSQL_PWD \
	"$BACKUPFS" run --jobs "$J" --state-dir "$ST" --json st
is "$(jq -r '.[0].status' "$T/stdout")" "ok" "  the run is ok"
id=$(jq -r '.[0].backup_id' "$T/stdout")
ok_cmd "ls -R" bfs ls -r "$T/repo-st" -R "$id"
tree=$(cat "$T/stdout")
for p in ccnet_db.sql seafile_db.sql dtable_db.sql compose/.env \
	seatable/conf/dtable_web_settings.py seatable/seafile-data/storage/blocks/5a0f/0001 \
	seatable/seahub-data/avatars/a.png seatable/storage-data/asset; do
	like "$tree" "(^|/| )$p\$" "the backup holds $p"
done
unlike "$tree" "seatable/logs|seatable/pids" "logs/ and pids/ are left out"
bfs cat -r "$T/repo-st" "$id:dtable_db.sql" >"$T/dtable_db.sql"
my -e "create database dtable_restored"
ok_cmd "dtable_db.sql loads" bash -c 'mariadb --defaults-extra-file="$MY_CNF" dtable_restored <"$1"' _ "$T/dtable_db.sql"
for t in operation_log delete_operation_log dtable_snapshot activities session_log; do
	is "$(my -N -B -e "select count(*) from dtable_restored.$t")" "0" \
		"the guide's log table $t: schema, no rows"
done
is "$(my -N -B -e 'select group_concat(name order by id) from dtable_restored.dtables')" \
	"projects,crm" "the other dtable_db tables keep their rows"
bfs cat -r "$T/repo-st" "$id:ccnet_db.sql" >"$T/ccnet.sql"
like "$(cat "$T/ccnet.sql")" "b@example.net" "ccnet_db.sql holds its rows"
ok "$(bfs cat -r "$T/repo-st" "$id:seatable/seafile-data/storage/blocks/5a0f/0001" |
	cmp -s - "$S/seafile-data/storage/blocks/5a0f/0001"; echo $?)" \
	"a seafile block comes back byte for byte"

# ---- mattermost: PostgreSQL, hooks
start_postgres
createdb mattermost || bail_out "createdb"
psql -X -q -d mattermost -c "create table posts (id text primary key, message text);
	insert into posts select 'p' || g, 'message ' || g from generate_series(1, 200) g" ||
	bail_out "cannot fill mattermost"
M=$T/mattermost
mkdir -p "$M/config" "$M/data/users/u1" "$M/plugins/com.example.p/server" \
	"$M/client/plugins/com.example.p" "$M/logs"
echo '{"ServiceSettings": {"SiteURL": "https://mm.example.net"}}' >"$M/config/config.json"
echo avatar >"$M/data/users/u1/profile.png"
echo bin >"$M/plugins/com.example.p/server/plugin-linux-amd64"
echo js >"$M/client/plugins/com.example.p/main.js"
echo noise >"$M/logs/mattermost.log"
ok_cmd "job new --profile mattermost" bfs job new --jobs "$J" --profile mattermost mm
sed -i -e "s|<REPOSITORY>|$T/repo-mm|" -e "s|<DB_USER>@<DB_HOST>:5432|postgres@127.0.0.1:$PGPORT|" \
	-e "s|<DB_NAME>|mattermost|" -e "s|<MATTERMOST_DIR>|$M|g" \
	-e "s|/etc/backupfs/mm.env|$T/mm.env|" "$J/mm.json"
(umask 077 && printf 'PGPASSWORD=%s\n' "$PG_PASSWORD" >"$T/mm.env")
ok_cmd "job check" bfs job check "$J/mm.json"
ok_cmd "init" bfs init "$T/repo-mm"
rm -f "$T/systemctl.log"
ok_cmd "run the mattermost job" env -u PGPASSWORD -u PGPASSFILE \
	"$BACKUPFS" run --jobs "$J" --state-dir "$ST" --json mm
is "$(jq -r '.[0].status' "$T/stdout")" "ok" "  the run is ok"
id=$(jq -r '.[0].backup_id' "$T/stdout")
is "$(cat "$T/systemctl.log" 2>/dev/null | tr '\n' ';')" \
	"stop mattermost;start mattermost;" "the hooks stopped and started the server"
ok_cmd "ls -R" bfs ls -r "$T/repo-mm" -R "$id"
tree=$(cat "$T/stdout")
for p in database.sql config/config.json data/users/u1/profile.png \
	plugins/com.example.p/server/plugin-linux-amd64 client-plugins/com.example.p/main.js; do
	like "$tree" "(^|/| )$p\$" "the backup holds $p"
done
unlike "$tree" "logs" "logs/ is not in it"
bfs cat -r "$T/repo-mm" "$id:database.sql" >"$T/mm.sql"
psql -X -q -d postgres -c "create database mm_restored" >/dev/null
ok_cmd "database.sql loads" psql -X -q -v ON_ERROR_STOP=1 -d mm_restored -f "$T/mm.sql"
is "$(psql -X -At -d mm_restored -c 'select count(*) from posts')" "200" \
	"the posts are back"

done_testing
