#!/bin/bash
# database.sql.d/ in the mount (issue 12 part 1), on pagila (PostgreSQL):
# backup --pg-dump, mount; ls -l of MNT/latest/database.sql.d names every
# table; sizes in stat equal the bytes read; each file equals `backupfs
# cat ID:database.sql.d/FILE` byte for byte, and so does the
# concatenation _before, all tables, _after; three tables loaded from the
# mount (_before.sql + the table's file) into an empty database equal the
# source (row count and md5).  Inode numbers: the view's differ from all
# of the tree's and are the same after a remount.  A corrupted chunk of
# the dump: the view files under it fail with EIO, the others read right
# (never wrong bytes).  A corrupted map blob: ls of database.sql.d fails
# with EIO and the log names the blob; the dump itself still reads.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

require_root_fuse
start_postgres
load_pagila pagila
R=$T/repo
M=$T/mnt
ok_cmd "init" bfs init "$R"
ok_cmd "backup --pg-dump" bfs backup -r "$R" --id p1 --pg-dump "$(pg_uri pagila)"
bfs ls -r "$R" p1:database.sql.d >"$T/files" || bail_out "ls p1:database.sql.d"
mkdir "$T/c"
while IFS= read -r f; do
	bfs cat -r "$R" "p1:database.sql.d/$f" >"$T/c/$f" || bail_out "cat $f"
done <"$T/files"
bfs cat -r "$R" p1:database.sql >"$T/dump.sql" || bail_out "cat database.sql"

ok_cmd "mount" mount_repo_fg "$R" "$M" "$T/mount1.log"
D=$M/latest/database.sql.d
like "$(ls "$M/latest/")" "database.sql.d" "the backup's directory lists database.sql.d"
ok "$([ -d "$D" ]; echo $?)" "database.sql.d is a directory"
ls -l "$D" >"$T/ls-l" 2>"$T/err"
ok "$?" "ls -l MNT/latest/database.sql.d: $(cat "$T/err")"
is "$(grep -c ' public\..*\.sql$' "$T/ls-l")" 22 "ls -l names every table (22 with the partitions)"
is "$(ls -U "$D" | tr '\n' ' ')" "$(tr '\n' ' ' <"$T/files")" \
	"readdir lists backupfs ls's files, in map order"
like "$(sed -n 2p "$T/ls-l")" "^-r--[-r]--[-r]-- " "the files are read-only (the dump's read bits)"
fails_with 1 "no writing into the view" bash -c "echo x >'$D/_before.sql'"
fails_with 1 "no new files in the view" touch "$D/new.sql"
fails_with 1 "no file the map does not name" cat "$D/public.nosuch.sql"

bad=0
while IFS= read -r f; do
	s=$(stat -c %s "$D/$f")
	n=$(wc -c <"$D/$f")
	l=$(awk -v f="$f" '$NF == f { print $5 }' "$T/ls-l")
	if [ "$s" != "$n" ] || [ "$l" != "$n" ] || ! cmp -s "$D/$f" "$T/c/$f"; then
		diag "$f: stat $s, ls -l $l, read $n bytes, $(cmp "$D/$f" "$T/c/$f" 2>&1)"
		bad=$((bad + 1))
	fi
done <"$T/files"
is "$bad" 0 "every file: stat, ls -l and the bytes read agree, equal to backupfs cat"
ok "$(cd "$D" && cat $(cat "$T/files") | cmp -s - <(cd "$T/c" && cat $(cat "$T/files")); echo $?)" \
	"the concatenation _before, all tables, _after equals backupfs cat's"
# reads at odd offsets and sizes (the kernel's page cache aside: dd
# with iflag=direct is not supported by FUSE without direct_io)
f=public.rental.sql
is "$(dd if="$D/$f" bs=4093 skip=7 count=3 status=none | md5sum)" \
	"$(dd if="$T/c/$f" bs=4093 skip=7 count=3 status=none | md5sum)" \
	"a read in the middle of a table file"

only_digest() {
	psql -X -At -d "$1" -c "select count(*) || ' ' || coalesce(md5(string_agg(x, E'\n' order by x collate \"C\")), '-')
		from (select r::text as x from only $2 r) s"
}
createdb one || bail_out "createdb one"
bad=0
for t in public.actor public.film public.customer; do
	psql -X -q -d one -c "drop schema public cascade" -c "create schema public" >/dev/null &&
		psql -X -q -v ON_ERROR_STOP=1 -d one -f "$D/_before.sql" >/dev/null &&
		psql -X -q -v ON_ERROR_STOP=1 -d one -f "$D/$t.sql" >/dev/null ||
		{ diag "$t does not load from the mount"; bad=$((bad + 1)); continue; }
	a=$(only_digest pagila "$t")
	b=$(only_digest one "$t")
	if [ "$a" != "$b" ] || [ -z "$a" ]; then
		diag "$t: source '$a', from the mount '$b'"
		bad=$((bad + 1))
	fi
done
is "$bad" 0 "actor, film and customer load from the mount alone and equal the source"

find "$M/p1" -printf '%i %P\n' | sort -k2 >"$T/ino1"
is "$(grep -c ' database.sql.d/' "$T/ino1")" "$(wc -l <"$T/files")" \
	"find walks into database.sql.d"
is "$(cut -d' ' -f1 "$T/ino1" | sort | uniq -d | head)" "" \
	"no inode number twice (tree and view)"
ok "$(awk '$2 ~ /^database\.sql\.d/ && $1 < 9223372036854775808 { bad = 1 } END { exit bad }' "$T/ino1"; echo $?)" \
	"the view's inode numbers are >= 2^63"
unmount "$M"

# ---- a corrupted chunk of the dump: EIO where it is needed, never wrong
# bytes; the inode numbers are those of the first mount
corrupt_blob() { # REPO TYPE [ID]: flip 16 bytes inside a blob's frame
	local where
	where=$(for i in "$1"/index/*; do zstd -qdc "$i"; done |
		jq -r --argjson ty "$2" --arg id "${3:-}" '.pack as $p | .blobs[] |
			select(.[1] == $ty and ($id == "" or .[0] == $id)) |
			"\(.[3]) \($p) \(.[2])"' | sort -n | tail -n 1)
	[ -n "$where" ] || return 1
	set -- $where
	printf '\x55%.0s' $(seq 16) |
		dd of="$R/packs/${2:0:2}/$2" bs=1 seek=$(($3 + $1 / 2)) conv=notrunc status=none
}
ok_cmd "corrupt the dump's largest chunk" corrupt_blob "$R" 0
ok_cmd "mount again" mount_repo_fg "$R" "$M" "$T/mount2.log"
find "$M/p1" -printf '%i %P\n' | sort -k2 >"$T/ino2"
ok "$(cmp -s "$T/ino1" "$T/ino2"; echo $?)" "the same inode numbers after a remount"
good=0
eio=0
wrong=0
while IFS= read -r f; do
	if cat "$D/$f" >"$T/got" 2>"$T/err"; then
		if cmp -s "$T/got" "$T/c/$f"; then good=$((good + 1)); else wrong=$((wrong + 1)); fi
	elif grep -q "Input/output error" "$T/err"; then
		eio=$((eio + 1))
	else
		diag "$f: $(cat "$T/err")"
		wrong=$((wrong + 1))
	fi
done <"$T/files"
diag "corrupted chunk: $good files read right, $eio gave EIO"
is "$wrong" 0 "no view file gives wrong bytes or another error"
ok "$([ "$eio" -ge 1 ] && [ "$good" -ge 1 ]; echo $?)" \
	"the files under the chunk fail with EIO, the others read"
unmount "$M"

# ---- a corrupted map blob
C=$(find "$XDG_CACHE_HOME" -type f -name '*.db' | head -n 1)
dt=$(sqlite3 "$C" "select lower(hex(dt)) from entries where dt is not null limit 1")
ok "$([ ${#dt} -eq 64 ]; echo $?)" "the catalog names the map blob ($dt)"
ok_cmd "corrupt the map blob's frame" corrupt_blob "$R" 1 "$dt"
ok_cmd "mount again" mount_repo_fg "$R" "$M" "$T/mount3.log"
like "$(ls "$M/p1")" "database.sql.d" "the directory still lists database.sql.d"
fails_with 2 "ls of database.sql.d fails" ls "$D"
like "$(cat "$T/stderr")" "Input/output error" "... with EIO"
fails_with 1 "a view file fails too" cat "$D/public.actor.sql"
ok "$(wait_until 5 grep -qF "dump map $dt" "$T/mount3.log"; echo $?)" \
	"the mount's log names the blob"
diag "$(grep -F "$dt" "$T/mount3.log" | head -n 1)"
is "$(stat -c %s "$M/p1/database.sql")" "$(stat -c %s "$T/dump.sql")" \
	"the dump itself is still there"
done_testing
