#!/bin/bash
# backupfs mount: real database restores straight from the mount: pagila
# piped into psql from MNT/latest/database.sql, Sakila into mariadb from
# MNT/latest/sakila.sql, compared table by table with the originals.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
M=$T/mnt
start_postgres
load_pagila pagila
start_mariadb
load_sakila
ok_cmd "init" bfs init "$R"
ok_cmd "backup of pagila and sakila in one backup" \
	bfs backup -r "$R" --id db1 --pg-dump "$(pg_uri pagila)" --mysql-dump "$(my_uri sakila)"
ok_cmd "mount" mount_repo "$R" "$M"
is "$(ls "$M/latest/" | tr '\n' ' ')" "database.sql database.sql.d sakila.sql sakila.sql.d " \
	"the dumps are in the backup, each with its per-table view"

ok_cmd "createdb pagila_restored" createdb pagila_restored
ok_cmd "psql < MNT/latest/database.sql" \
	bash -c "psql -X -q -v ON_ERROR_STOP=1 -d pagila_restored <'$M/latest/database.sql' >/dev/null"
a=$(pg_table_digest pagila)
b=$(pg_table_digest pagila_restored)
ok "$([ -n "$a" ] && [ "$(echo "$a" | wc -l)" -ge 15 ]; echo $?)" "pagila digest has its tables"
is "$b" "$a" "restored pagila equals the original, table by table"

ok_cmd "create database sakila_restored" my -e "create database sakila_restored"
ok_cmd "mariadb < MNT/latest/sakila.sql" \
	bash -c "mariadb --defaults-extra-file='$MY_CNF' sakila_restored <'$M/latest/sakila.sql'"
a=$(my_table_digest sakila)
ok "$([ "$(echo "$a" | wc -l)" -ge 15 ]; echo $?)" "sakila digest has its tables"
is "$(my_table_digest sakila_restored)" "$a" "restored sakila equals the original, table by table"

is "$(md5sum <"$M/db1/database.sql")" "$(bfs cat -r "$R" db1:database.sql | md5sum)" \
	"the mount and backupfs cat agree"
ok_cmd "unmount" fusermount3 -u "$M"
done_testing
