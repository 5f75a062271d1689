#!/bin/bash
# --mysql-dump: sakila through a mysql:// URI with a password (never on a
# command line), restored under another name; a SeaTable-like set of three
# databases in one backup; --ignore-table.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
start_mariadb
load_sakila
ok_cmd "init" bfs init "$R"

# Dump-tool wrappers first on PATH: record argv and env, run the real one.
mkdir -p "$T/wrap"
for tool in mariadb-dump mysqldump; do
	real=$(command -v "$tool") || continue
	cat >"$T/wrap/$tool" <<EOF
#!/bin/bash
n=\$(ls "$T/wrap" | grep -c '^argv\.')
printf '%s\0' "\$0" "\$@" >"$T/wrap/argv.\$n"
env -0 >"$T/wrap/env.\$n"
cat /proc/\$\$/cmdline >"$T/wrap/cmdline.\$n"
# an option file named on the command line: record whether it is 0600
for a in "\$@"; do
	case \$a in
	--defaults-file=*|--defaults-extra-file=*)
		stat -L -c '%a' "\${a#*=}" >"$T/wrap/optfile-mode.\$n" ;;
	esac
done
exec "$real" "\$@"
EOF
	chmod +x "$T/wrap/$tool"
done

uri=$(my_uri sakila)
ok_cmd "backup --mysql-dump mysql://user:password@host:port/db" \
	env -u MYSQL_PWD PATH="$T/wrap:$PATH" \
	"$BACKUPFS" backup -r "$R" --id my1 --mysql-dump "$uri"
cp "$T/stderr" "$T/backup.stderr"
ok "$(ls "$T/wrap"/argv.* >/dev/null 2>&1; echo $?)" "the dump tool was found on PATH (the wrapper ran)"
leak=0
for f in "$T/wrap"/argv.* "$T/wrap"/cmdline.*; do
	if [ -f "$f" ] && grep -qaF -- "$MYSQL_ROOT_PASSWORD" "$f"; then
		leak=1
		diag "password found in $(basename "$f"): $(tr '\0' ' ' <"$f")"
	fi
done
is "$leak" "0" "the password is not on the dump tool's command line"
for f in "$T/wrap"/argv.*; do
	[ -f "$f" ] && diag "dump argv: $(tr '\0' ' ' <"$f")"
done
for f in "$T/wrap"/optfile-mode.*; do
	[ -f "$f" ] && is "$(cat "$f")" "600" "the option file with the password is 0600"
done
unlike "$(cat "$T/backup.stderr" "$T/stdout")" "$MYSQL_ROOT_PASSWORD" "the password is not in backupfs output"
ok_cmd "show --json" bfs show -r "$R" my1 --json
unlike "$(cat "$T/stdout")" "$MYSQL_ROOT_PASSWORD" "the password is not in the recorded sources"
is "$(zstd -dc "$R/manifests/my1" | grep -caF -- "$MYSQL_ROOT_PASSWORD")" "0" \
	"the password is not in the manifest"
leftover=$(find /tmp "$T" -maxdepth 2 -newer "$T/wrap/mariadb-dump" -type f \
	-exec grep -laF -- "$MYSQL_ROOT_PASSWORD" {} + 2>/dev/null |
	grep -v -e "^$T/my/" -e "^$T/wrap/" || true)
is "$leftover" "" "no file with the password left behind"

ok_cmd "ls my1" bfs ls -r "$R" my1
is "$(cat "$T/stdout")" "sakila.sql" "the dump is DBNAME.sql"
ok_cmd "cat my1:sakila.sql" bash -c "\"\$BACKUPFS\" cat -r '$R' my1:sakila.sql >'$T/sakila.sql'"
ok "$(grep -qiE '^(CREATE DATABASE|USE )' "$T/sakila.sql"; [ $? -ne 0 ]; echo $?)" \
	"the dump has no CREATE DATABASE / USE (restorable under another name)"
like "$(tail -c 300 "$T/sakila.sql")" "Dump completed" "the dump is complete"

ok_cmd "create database sakila_copy" my -e "create database sakila_copy"
ok_cmd "restore: backupfs cat | mariadb sakila_copy" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' my1:sakila.sql | mariadb --defaults-extra-file='$MY_CNF' sakila_copy"
is "$(my_table_digest sakila_copy)" "$(my_table_digest sakila)" "restored tables equal the original"
is "$(my_object_counts sakila_copy)" "$(my_object_counts sakila)" "same views, routines, triggers, events"
like "$(my_object_counts sakila)" "views 7" "sakila has its 7 views"
like "$(my_object_counts sakila)" "triggers 6" "sakila has its 6 triggers"

# ---- SeaTable-like: three databases in one backup
for db in ccnet_db seafile_db dtable_db; do
	my -e "create database $db" && my "$db" <<'EOF'
create table users (id int primary key auto_increment, email varchar(255),
	name varchar(255), avatar blob, created datetime(6));
insert into users (email, name, avatar, created) values
	('a@example.com', 'Ann 😀 emoji', unhex('00FF00FE0D0A1A5C27'), '2026-01-02 03:04:05.123456'),
	('b@example.com', 'Bob ñ "quote" \'single\' \\ back', unhex(repeat('DEADBEEF00', 2000)), now(6)),
	('c@example.com', '多言語 テキスト', null, null);
create table big (id int primary key, payload longblob);
insert into big select seq, random_bytes(1024) from seq_1_to_2000;
create table notes (id int primary key, body mediumtext) default charset utf8mb4;
insert into notes values (1, '🧪 line1\nline2\ttab'), (2, repeat('x', 70000));
EOF
	ok $? "$db created with emoji and binary data"
done
ok_cmd "one backup with three --mysql-dump" \
	env PATH="$T/wrap:$PATH" "$BACKUPFS" backup -r "$R" --id seatable \
	--mysql-dump "$(my_uri ccnet_db)" \
	--mysql-dump "$(my_uri seafile_db)" \
	--mysql-dump "$(my_uri dtable_db)"
is "$(bfs ls -r "$R" seatable | sort | tr '\n' ' ')" "ccnet_db.sql dtable_db.sql seafile_db.sql " \
	"three dumps named after the databases"
for db in ccnet_db seafile_db dtable_db; do
	my -e "create database ${db}_r" &&
	bfs cat -r "$R" "seatable:$db.sql" | my "${db}_r"
	ok $? "$db restored as ${db}_r"
	is "$(my_table_digest "${db}_r")" "$(my_table_digest "$db")" "${db}_r equals $db"
done

# ---- NAME= and --ignore-table
ok_cmd "backup with NAME= and --ignore-table" \
	env PATH="$T/wrap:$PATH" "$BACKUPFS" backup -r "$R" --id ign \
	--mysql-dump "seafile=$(my_uri seafile_db)" --ignore-table seafile_db.big
is "$(bfs ls -r "$R" ign)" "seafile.sql" "NAME= names the dump"
ok_cmd "cat ign:seafile.sql" bash -c "\"\$BACKUPFS\" cat -r '$R' ign:seafile.sql >'$T/ign.sql'"
ok "$(grep -q 'CREATE TABLE `big`' "$T/ign.sql"; [ $? -ne 0 ]; echo $?)" "--ignore-table left the table out"
ok "$(grep -q 'CREATE TABLE `users`' "$T/ign.sql"; echo $?)" "other tables are in the dump"
my -e "create database seafile_ign" && my seafile_ign <"$T/ign.sql"
ok $? "dump without the ignored table restores"
is "$(my_table_digest seafile_ign)" "$(my_table_digest seafile_db | grep -v '^big ')" \
	"everything but the ignored table restored"

# ---- DATABASE form: credentials from the usual client option files
mkdir -p "$T/home"
cp "$MY_CNF" "$T/home/.my.cnf"
ok_cmd "--mysql-dump DATABASE with ~/.my.cnf" \
	env HOME="$T/home" "$BACKUPFS" backup -r "$R" --id plain --mysql-dump dtable_db
is "$(bfs ls -r "$R" plain)" "dtable_db.sql" "DATABASE form names the dump DATABASE.sql"

# ---- failure: wrong password
fails_with 1 "wrong password: exit 1" env -u MYSQL_PWD HOME="$T/nohome" \
	"$BACKUPFS" backup -r "$R" --id badpw \
	--mysql-dump "mysql://root:WrongPassw0rdXYZ@127.0.0.1:$MYSQL_PORT/sakila"
unlike "$(cat "$T/stderr")" "WrongPassw0rdXYZ" "the error does not show the password"
ok "$([ ! -e "$R/manifests/badpw" ]; echo $?)" "no manifest for the failed dump"

done_testing
