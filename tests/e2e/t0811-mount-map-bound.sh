#!/bin/bash
# The mount's memory stays bounded whatever the catalog's size: the
# catalog is read through one mapping of the file shared by every
# connection (catalog/catalog_vfs.c), whose pages count in the daemon's
# RSS once touched; past a budget of mapped bytes (64 MiB) the mapping's
# pages are dropped (fuse/mount.c map_bound).  BFS_MOUNT_MAP_BUDGET here:
# 256 KiB.  (t0819: the same under random stats from several processes.)
#
# Three backups of N files (N = 150,000; CI: 60,000: a catalog of 8 MiB
# or more), a cold `find` over every backup through a fresh mount:
# - the daemon's file-backed RSS (RssFile: the program, its libraries and
#   the mapped catalog pages) grows by at most 4 MiB over the find (1-3
#   MiB measured: code the requests fault in, and the budget), while the
#   catalog is at least twice that (main's binary, which kept every page
#   it touched mapped in each connection, grew by 29 MiB over the find and
#   87 MiB over all of it, for a catalog of 8.7 MiB);
# - the listings read across the drops are right: every backup's names,
#   types, sizes and mtimes equal its source's, and `stat` of files spread
#   over the tree after the find still gives their sizes;
# - pages past the mapping go through each connection's own small page
#   cache: with nothing mapped (BFS_MOUNT_CAT_MAP=0) the daemon's heap
#   grows by at most 8 MiB over the same find (1.8 MiB measured; 11 MiB
#   with the catalog's default 32 MiB cache per connection).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt
N=150000
[ "${CI:-}" = true ] && N=60000

# rss_file PID / hwm PID: the daemon's RssFile / VmHWM in KiB
rss_file() { awk '/^RssFile:/ { print $2 }' /proc/"$1"/status; }
hwm() { awk '/^VmHWM:/ { print $2 }' /proc/"$1"/status; }
rss_anon() { awk '/^RssAnon:/ { print $2 }' /proc/"$1"/status; }

mkdir -p "$S"
mk_flat "$S" "$N"
ok_cmd "init" bfs init "$R"
ok_cmd "backup b1 of $N files" bfs backup -q -r "$R" --id b1 --files "$S"
tree_listing "$S" >"$T/l1"
for i in 2 3; do
	for d in 1 17 33; do
		printf 'changed %s\n' "$i" >"$S/$(printf 'd%03d/f%06d' "$d" $((d * 1000 + i)))"
		printf 'new %s\n' "$i" >"$S/$(printf 'd%03d' "$d")/new$i"
	done
	ok_cmd "backup b$i (6 files changed or added)" \
		bfs backup -q -r "$R" --id "b$i" --files "$S"
	tree_listing "$S" >"$T/l$i"
done
cat_kib=$(du -sk "$XDG_CACHE_HOME/backupfs" | cut -f1)
diag "catalog: $cat_kib KiB"
ok $((cat_kib >= 8 * 1024 ? 0 : 1)) "  the catalog ($cat_kib KiB) is at least twice the bound"

sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || diag "cannot drop the page cache: the find is warm"
export BFS_MOUNT_MAP_BUDGET=$((256 << 10))
ok_cmd "mount with a budget of 256 KiB of mapped catalog pages" mount_repo "$R" "$M"
ls "$M" >/dev/null
pid=$(daemon_pid "$M")
ok $? "  the daemon's pid ($pid)"
# the code the probes below run, paged in first: what grows then is the
# catalog's mapped pages
tree_listing "$M/b1/files/d000" >/dev/null
stat "$M/b1/files/d000/f000007" >/dev/null
before=$(rss_file "$pid")
n=$(find "$M/b1" "$M/b2" "$M/b3" | wc -l)
after=$(rss_file "$pid")
diag "find over the 3 backups: $n entries; RssFile $before -> $after KiB, VmHWM $(hwm "$pid") KiB"
# each backup: its own directory, files/ and the source's entries
is "$n" "$(cat "$T/l1" "$T/l2" "$T/l3" | wc -l | awk '{ print $1 + 6 }')" \
	"  find saw every entry of the 3 backups"
ok $((after - before <= 4 * 1024 ? 0 : 1)) \
	"  the daemon's file-backed RSS grew by $((after - before)) KiB (<= 4 MiB)"
for i in 1 2 3; do
	tree_listing "$M/b$i/files" >"$T/m$i"
	ok_cmd "  b$i lists what its source held (names, types, sizes, mtimes)" \
		diff -q "$T/l$i" "$T/m$i"
done
bad=0
for i in $(seq 7 997 $((N - 1))); do
	f=$(printf 'd%03d/f%06d' $((i / 1000)) "$i")
	[ "$(stat -c %s "$M/b1/files/$f")" = $((i % 97)) ] || bad=$((bad + 1))
done
is "$bad" 0 "  stat of files across the tree after the find: their sizes"
after=$(rss_file "$pid")
ok $((after - before <= 4 * 1024 ? 0 : 1)) \
	"  and the file-backed RSS after all of it: +$((after - before)) KiB"
unmount "$M"

# Pages past the mapping: SQLite reads them into the connection's own
# page cache (the heap).  A catalog larger than the mapping (a 473 MiB
# catalog against the 256 MiB that connections used to map) filled a
# 32 MiB cache per FUSE thread: 76 -> 248 MiB of VmHWM over one find.
# The mount's connections keep 512 KiB each (MNT_CAT_CACHE_KIB); with
# nothing mapped (BFS_MOUNT_CAT_MAP=0) every page goes through them.
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || diag "cannot drop the page cache: the find is warm"
unset BFS_MOUNT_MAP_BUDGET
export BFS_MOUNT_CAT_MAP=0
ok_cmd "mount with nothing of the catalog mapped" mount_repo "$R" "$M"
ls "$M" >/dev/null
pid=$(daemon_pid "$M")
tree_listing "$M/b1/files/d000" >/dev/null
stat "$M/b1/files/d000/f000007" >/dev/null
before=$(rss_anon "$pid")
n=$(find "$M/b1" "$M/b2" "$M/b3" | wc -l)
after=$(rss_anon "$pid")
threads=$(ls /proc/"$pid"/task | wc -l)
diag "find over the 3 backups, unmapped: $n entries; RssAnon $before -> $after KiB, $threads threads, VmHWM $(hwm "$pid") KiB"
is "$n" "$(cat "$T/l1" "$T/l2" "$T/l3" | wc -l | awk '{ print $1 + 6 }')" \
	"  find saw every entry of the 3 backups"
if bfs_is_sanitized; then
	# ASan's shadow and quarantine count in RssAnon (113 MiB here)
	diag "sanitizer build: the heap bound is checked in the plain build"
else
	ok $((after - before <= 8 * 1024 ? 0 : 1)) \
		"  the daemon's heap grew by $((after - before)) KiB (<= 8 MiB; the catalog is $cat_kib KiB)"
fi
tree_listing "$M/b3/files" >"$T/m3u"
ok_cmd "  b3 lists what its source held" diff -q "$T/l3" "$T/m3u"
unmount "$M"
unset BFS_MOUNT_CAT_MAP
done_testing
