#!/bin/bash
# database.sql.d/ in the mount (issue 12 part 1) on Sakila (MariaDB):
# backup --mysql-dump, mount; MNT/latest/sakila.sql.d lists a file per
# table, each equal to `backupfs cat ID:sakila.sql.d/FILE` with its size
# in stat; two tables loaded straight from the mount (mariadb <
# _before.sql, then < the table's file) into an empty database equal the
# source row for row.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

require_root_fuse
start_mariadb
load_sakila
R=$T/repo
M=$T/mnt
ok_cmd "init" bfs init "$R"
ok_cmd "backup --mysql-dump" bfs backup -r "$R" --id m1 --mysql-dump "$(my_uri sakila)"
bfs ls -r "$R" m1:sakila.sql.d >"$T/files" || bail_out "ls m1:sakila.sql.d"
ok_cmd "mount" mount_repo_fg "$R" "$M" "$T/mount.log"
D=$M/latest/sakila.sql.d
is "$(ls -U "$D" | tr '\n' ' ')" "$(tr '\n' ' ' <"$T/files")" \
	"MNT/latest/sakila.sql.d lists backupfs ls's files, in map order"
is "$(grep -c '^sakila\..*\.sql$' "$T/files")" 16 "a file per table"
bad=0
while IFS= read -r f; do
	bfs cat -r "$R" "m1:sakila.sql.d/$f" >"$T/want" 2>"$T/err" ||
		{ diag "cat $f: $(cat "$T/err")"; bad=$((bad + 1)); continue; }
	if ! cmp -s "$D/$f" "$T/want" ||
		[ "$(stat -c %s "$D/$f")" != "$(stat -c %s "$T/want")" ]; then
		diag "$f differs from backupfs cat (or its size does)"
		bad=$((bad + 1))
	fi
done <"$T/files"
is "$bad" 0 "every file equals backupfs cat's, size in stat too"

bad=0
for t in actor film; do
	my -e "drop database if exists one; create database one" &&
		my one <"$D/_before.sql" && my one <"$D/sakila.$t.sql" ||
		{ diag "$t does not load from the mount"; bad=$((bad + 1)); continue; }
	a=$(my -N -B -e "select * from sakila.\`$t\`" | LC_ALL=C sort | md5sum)
	b=$(my -N -B -e "select * from one.\`$t\`" | LC_ALL=C sort | md5sum)
	c=$(my -N -B -e "select count(*) from one.\`$t\`")
	if [ "$a" != "$b" ] || [ "${c:-0}" -eq 0 ]; then
		diag "$t: restored from the mount differs ($c rows)"
		bad=$((bad + 1))
	fi
done
is "$bad" 0 "actor and film load from the mount alone (after _before.sql) and equal the source"
done_testing
