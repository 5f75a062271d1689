#!/bin/bash
# The mount's connections (one per FUSE thread) read the catalog through
# ONE shared mapping of the file (catalog/catalog_vfs.c), whose resident
# pages the map bound drops at once past its budget (fuse/mount.c
# map_bound): random stats from several processes at a time keep the
# daemon's peak RSS within what it held before them + the budget + a
# small slack, whatever the number of FUSE threads reading.  Main's
# binary, where each connection mapped the file for itself and dropped
# its pages only at its own next request, went past it (a page read by 4
# connections counted 4 times).
#
# Three backups of N files (N = 120,000; CI: 60,000: a catalog of 8 MiB
# or more), BFS_MOUNT_MAP_BUDGET 1 MiB, 4 processes of S random stats
# each (S = 3,000; CI: 1,500) over every backup and directory:
# - the daemon's file-backed RSS (RssFile: the program, its libraries and
#   the mapped catalog pages), sampled every 20 ms over the stats, stays
#   within what it was before them + the budget + 4 MiB (+1.2-2.3 MiB
#   measured, +3.4 MiB at the local size: the code the stats fault in
#   and what 16 requests touch between checks; main's binary: +8.0-8.8
#   MiB);
# - its peak RSS (VmHWM, heap included: each FUSE thread's connection
#   opened meanwhile has a 512 KiB page cache and its statements) stays
#   within VmRSS before them + the budget + 12 MiB (+6.6-9.2 MiB
#   measured, at either size; main's binary: +16.7-19.4 MiB;
#   not in a sanitizer build, whose shadow memory counts there);
# - every stat gives the file's size;
# - listings (names, types, sizes, mtimes) and file bytes read through
#   the shared mapping equal those read with nothing mapped
#   (BFS_MOUNT_CAT_MAP=0), including those of a backup made while the
#   mount was up: the catalog grew under it, its new pages past the
#   first mapping.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt
N=120000
NSTAT=3000
[ "${CI:-}" = true ] && N=60000 && NSTAT=1500
BUDGET=$((1 << 20))

# stats MNT N COUNT SEED: COUNT stats of random files of b1..b3 (those no
# backup changed); prints the number of wrong sizes or failed stats
stats() {
	"$BFS_PYTHON" - "$@" <<'PY'
import os, random, sys
mnt, n, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
bad = 0
for _ in range(count):
    i = rnd.randrange(n)
    if i // 1000 in (1, 17, 33) and i % 1000 in (2, 3):
        continue
    p = "%s/b%d/files/d%03d/f%06d" % (mnt, rnd.randrange(1, 4), i // 1000, i)
    try:
        if os.stat(p).st_size != i % 97:
            bad += 1
    except OSError:
        bad += 1
print(bad)
PY
}

# bytes DIR: the md5 of every 101st file below DIR, sorted by name
bytes() {
	(cd "$1" && find . -type f | LC_ALL=C sort | awk 'NR % 101 == 1' |
		xargs -d '\n' md5sum)
}

kib() { awk -v k="$2:" '$1 == k { print $2 }' /proc/"$1"/status; }

mkdir -p "$S"
mk_flat "$S" "$N"
ok_cmd "init" bfs init "$R"
ok_cmd "backup b1 of $N files" bfs backup -q -r "$R" --id b1 --files "$S"
for i in 2 3; do
	for d in 1 17 33; do
		printf 'changed %s\n' "$i" >"$S/$(printf 'd%03d/f%06d' "$d" $((d * 1000 + i)))"
		printf 'new %s\n' "$i" >"$S/$(printf 'd%03d' "$d")/new$i"
	done
	ok_cmd "backup b$i (6 files changed or added)" \
		bfs backup -q -r "$R" --id "b$i" --files "$S"
done
cat_kib=$(du -sk "$XDG_CACHE_HOME/backupfs" | cut -f1)
diag "catalog: $cat_kib KiB"

export BFS_MOUNT_MAP_BUDGET=$BUDGET
ok_cmd "mount with a budget of $((BUDGET >> 10)) KiB of mapped catalog pages" \
	mount_repo "$R" "$M"
ls "$M" >/dev/null
pid=$(daemon_pid "$M")
ok $? "  the daemon's pid ($pid)"
# the code a stat runs, paged in first: what grows then is the catalog's
# pages (and SQLite's small caches, the mount's own)
stat "$M/b1/files/d000/f000007" >/dev/null
rss0=$(kib "$pid" VmRSS)
file0=$(kib "$pid" RssFile)
# the peak is VmHWM; the sampled RssFile only says where it was
echo 0 >"$T/filemax"
(
	mx=0
	while [ ! -e "$T/stop" ]; do
		f=$(kib "$pid" RssFile)
		[ "${f:-0}" -gt "$mx" ] && mx=$f && echo "$mx" >"$T/filemax"
		sleep 0.02
	done
) &
sampler=$!
for k in 1 2 3 4; do stats "$M" "$N" "$NSTAT" $((k + 10)) >"$T/bad$k" & done
wait_pids=$(jobs -p | grep -vx "$sampler")
wait $wait_pids
touch "$T/stop"
wait "$sampler"
hwm=$(kib "$pid" VmHWM)
threads=$(ls /proc/"$pid"/task | wc -l)
diag "4 x $NSTAT random stats, $threads threads: VmRSS before $rss0 KiB, VmHWM $hwm KiB (+$((hwm - rss0))); RssFile $file0 -> at most $(cat "$T/filemax") KiB sampled, after $(kib "$pid" RssFile) KiB"
is "$(cat "$T"/bad[1-4] | awk '{ s += $1 } END { print s }')" 0 \
	"  every stat gave the file's size"
filemax=$(cat "$T/filemax")
ok $((filemax - file0 <= (BUDGET >> 10) + 4 * 1024 ? 0 : 1)) \
	"  the daemon's file-backed RSS over them: +$((filemax - file0)) KiB at most (<= the budget + 4 MiB)"
if bfs_is_sanitized; then
	diag "sanitizer build: the peak RSS bound is checked in the plain build"
else
	ok $((hwm - rss0 <= (BUDGET >> 10) + 12 * 1024 ? 0 : 1)) \
		"  the daemon's peak RSS over them: +$((hwm - rss0)) KiB (<= the budget + 12 MiB)"
fi

# a backup while mounted: the catalog grows under the shared mapping
mkdir -p "$S/grown"
"$BFS_PYTHON" - "$S/grown" <<'PY'
import os, sys
for i in range(20000):
    d = os.path.join(sys.argv[1], "g%02d" % (i // 1000))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "n%05d" % i), "wb") as f:
        f.write(b"g%d" % i * (i % 13))
PY
ok_cmd "backup b4 while mounted (20,000 files more)" \
	bfs backup -q -r "$R" --id b4 --files "$S"
cat_kib2=$(du -sk "$XDG_CACHE_HOME/backupfs" | cut -f1)
diag "catalog: $cat_kib KiB -> $cat_kib2 KiB"
ok "$(wait_until 20 test -d "$M/b4/files/grown/g19"; echo $?)" "  b4 appears in the mount"
for b in b1 b3 b4; do
	tree_listing "$M/$b/files" >"$T/shared-$b.list"
	bytes "$M/$b/files" >"$T/shared-$b.md5"
done
unmount "$M"

unset BFS_MOUNT_MAP_BUDGET
export BFS_MOUNT_CAT_MAP=0
ok_cmd "mount with nothing of the catalog mapped" mount_repo "$R" "$M"
for b in b1 b3 b4; do
	tree_listing "$M/$b/files" >"$T/plain-$b.list"
	bytes "$M/$b/files" >"$T/plain-$b.md5"
	ok_cmd "  $b: the same listing through the shared mapping and unmapped" \
		diff -q "$T/plain-$b.list" "$T/shared-$b.list"
	ok_cmd "  $b: the same bytes" diff -q "$T/plain-$b.md5" "$T/shared-$b.md5"
done
(cd "$S" && find . -mindepth 1 -printf '%P %y %s %T@\n' |
	awk '$2 != "f" { $3 = "-" } { print }' | LC_ALL=C sort) >"$T/src.list"
ok_cmd "  b4 lists what its source held" diff -q "$T/src.list" "$T/plain-b4.list"
unmount "$M"
unset BFS_MOUNT_CAT_MAP
done_testing
