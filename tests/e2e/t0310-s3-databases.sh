#!/bin/bash
# pagila (PostgreSQL) and Sakila (MariaDB) round-trip through S3: backup
# --pg-dump / --mysql-dump to an s3:// repository, `backupfs cat` piped
# into psql / mariadb, the restored tables equal the originals; the same
# through a mount of the S3 repository when the mount is available.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"

start_s3
R=s3://bfs-db/repo
start_postgres
load_pagila pagila
start_mariadb
load_sakila

ok_cmd "init on S3" bfs init "$R"
ok_cmd "backup --pg-dump pagila and --mysql-dump sakila to S3" \
	bfs backup -r "$R" --id db1 --pg-dump "$(pg_uri pagila)" --mysql-dump "$(my_uri sakila)"
ok_cmd "ls db1" bfs ls -r "$R" db1
is "$(sort "$T/stdout" | tr '\n' ' ')" "database.sql sakila.sql " "database.sql and sakila.sql"

# ---- PostgreSQL
ok_cmd "createdb pg_restored" createdb pg_restored
ok_cmd "backupfs cat db1:database.sql | psql" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' db1:database.sql | psql -X -q -v ON_ERROR_STOP=1 -d pg_restored >/dev/null"
a=$(pg_table_digest pagila)
is "$(pg_table_digest pg_restored)" "$a" "pagila restored from S3 equals the original"
like "$a" "public\\.rental 16044 " "pagila has its 16044 rentals"

# ---- MariaDB
ok_cmd "create database sakila_restored" my -e "create database sakila_restored"
ok_cmd "backupfs cat db1:sakila.sql | mariadb" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' db1:sakila.sql | mariadb --defaults-extra-file='$MY_CNF' sakila_restored"
is "$(my_table_digest sakila_restored)" "$(my_table_digest sakila)" "sakila restored from S3 equals the original"
is "$(my_object_counts sakila_restored)" "$(my_object_counts sakila)" "same views, routines, triggers, events"

# ---- a second backup dedups against the first (only new chunks upload)
ok_cmd "second backup of the same databases" \
	bfs backup -r "$R" --id db2 --json --pg-dump "$(pg_uri pagila)" --mysql-dump "$(my_uri sakila)"
new=$(jq -r .stats.stored_bytes "$T/stdout" 2>/dev/null)
diag "second backup stored ${new:-?} new bytes"
# (pg_dump >= 15.14 writes a random \restrict key into each dump)
ok_cmd "db2:database.sql equals db1's" bash -c \
	"cmp <(\"\$BACKUPFS\" cat -r '$R' db1:database.sql | grep -avE '^.(un)?restrict ') <(\"\$BACKUPFS\" cat -r '$R' db2:database.sql | grep -avE '^.(un)?restrict ')"

# ---- through a mount of the S3 repository
if [ -f "$top_srcdir/tests/e2e/lib-mount.sh" ] && bfs help mount >/dev/null 2>&1 &&
   [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	. "$top_srcdir/tests/e2e/lib-mount.sh"
	M=$T/mnt
	if ok_cmd "mount the S3 repository" mount_repo "$R" "$M"; then
		ok_cmd "createdb pg_from_mount" createdb pg_from_mount
		ok_cmd "psql < MNT/db1/database.sql" bash -c \
			"psql -X -q -v ON_ERROR_STOP=1 -d pg_from_mount <'$M/db1/database.sql' >/dev/null"
		is "$(pg_table_digest pg_from_mount)" "$a" "pagila from the S3 mount equals the original"
		ok_cmd "create database sakila_from_mount" my -e "create database sakila_from_mount"
		ok_cmd "mariadb < MNT/latest/sakila.sql" bash -c "mariadb --defaults-extra-file='$MY_CNF' sakila_from_mount <'$M/latest/sakila.sql'"
		is "$(my_table_digest sakila_from_mount)" "$(my_table_digest sakila)" "sakila from the S3 mount equals the original"
		ok_cmd "mounted file equals cat" bash -c \
			"cmp '$M/db1/sakila.sql' <(\"\$BACKUPFS\" cat -r '$R' db1:sakila.sql)"
		unmount "$M"
	fi
else
	diag "mount not available here: S3 mount part not run"
fi

done_testing
