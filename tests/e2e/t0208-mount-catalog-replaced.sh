#!/bin/bash
# The catalog file replaced under a running mount (issue 13 item 4): it
# is deleted and a command creates it again, in which the backups get
# other numbers (so the mount's inode numbers would name other files:
# without the check, most reads below return another backup's bytes).
# Every read through the mount is then the right bytes or an error, never
# another file's bytes, and the log says why.  Also: the default catalog
# name is keyed by the repository's location, so a copy of a repository
# (rsync) gets a catalog of its own.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
M=$T/mnt
C=$T/cat.db
LOG=$T/mount.log
N=110 # 220 reads

ok_cmd "init" bfs init "$R"
for b in b1 b2; do
	mkdir -p "$T/$b"
	for i in $(seq 1 $N); do
		echo "$b file $i" >"$T/$b/f$i"
	done
	bfs backup -q -r "$R" --catalog "$C" --id $b --files "d=$T/$b" ||
		bail_out "backup $b"
done
ok_cmd "mount" mount_repo_fg "$R" "$M" "$LOG" --catalog "$C" --sync-interval 1
is "$(ls "$M/b1/d" | wc -l)" $N "b1 listed (the kernel caches its inodes)"
ls "$M/b2/d" >/dev/null
# a shell that sits in b1/d: its names resolve below the directory's
# inode, whatever the root says later
exec 7<"$M/b1/d/f1"
cd "$M/b1/d" || bail_out "cd"

# a backup older than b1 (written through another catalog), then the
# catalog deleted and made again by `list`: it numbers the backups by
# time, a0 1, b1 2, b2 3, so each old inode number now names the same
# path of the previous backup, a file that exists with other bytes
mkdir -p "$T/a0"
for i in $(seq 1 $N); do
	echo "a0 file $i" >"$T/a0/f$i"
done
bfs backup -q -r "$R" --catalog "$T/other.db" --id a0 \
	--time 2020-01-01T00:00:00Z --files "d=$T/a0" || bail_out "backup a0"
rm -f "$C" "$C-wal" "$C-shm"
ok_cmd "list (recreates the catalog)" bfs list -r "$R" --catalog "$C"
is "$(sqlite3 "$C" "SELECT name FROM backups ORDER BY id" | tr '\n' ' ')" \
	"a0 b1 b2 " "the new catalog numbers a0 first"
ok "$(wait_until 10 grep -q "was replaced while mounted" "$LOG"; echo $?)" \
	"the mount notices the replaced catalog"

# in parallel, so that the mount starts new worker threads (each opens
# its own connection: to the new file)
for b in b1 b2; do
	for i in $(seq 1 $N); do
		echo "$b $i"
	done
done | xargs -P 16 -n 2 sh -c \
	'p=$0/$1/d/f$2; [ $1 = b1 ] && p=f$2
	if got=$(cat "$p" 2>/dev/null); then
		[ "$got" = "$1 file $2" ] && echo good || echo "wrong $1/d/f$2: $got"
	else
		echo failed
	fi' "$M" >"$T/reads"
good=$(grep -c '^good' "$T/reads")
failed=$(grep -c '^failed' "$T/reads")
wrong=$(grep -c '^wrong' "$T/reads")
[ "$wrong" -gt 0 ] && diag "$(grep '^wrong' "$T/reads" | head -3)"
diag "reads: $good right, $failed failed, $wrong wrong"
is "$wrong" 0 "no read gave another file's bytes ($((2 * N)) reads)"
ok "$([ $failed -gt 0 ]; echo $?)" "reads after the replacement fail"
like "$(cat "$LOG")" "catalog '.*cat\\.db' was replaced while mounted .*EIO" \
	"the log says why"
fails_with 1 "stat of an uncached name fails too" stat "$M/b2/d/nosuch"
cd "$T" || bail_out "cd"
exec 7<&-
unmount "$M"

# ---- a copy of the repository gets its own default catalog
ok_cmd "list (default catalog)" bfs list -r "$R"
cp -a "$R" "$T/copy"
ok_cmd "list the copy" bfs list -r "$T/copy"
is "$(ls "$XDG_CACHE_HOME/backupfs/" | grep -c '\.db$')" 2 \
	"two catalogs, one per location"
done_testing
