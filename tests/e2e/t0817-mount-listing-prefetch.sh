#!/bin/bash
# The mount's listing prefetch (fuse/ops.c, "listing prefetch"): a worker
# loads the first batch of the directories a pre-order walk opens next.
# - a cold find over nested directories (2,100 entries each: two batches;
#   subdirectories three deep; a chain of 70 levels, deeper than the walk
#   keeps; hardlinks across directories, symlinks) lists, in the same
#   order, the same names, types, sizes, modes, links, inode numbers and
#   mtimes with the prefetch as with BFS_MOUNT_PREFETCH=0, and the same
#   as the source;
# - it is observable and used: the unmount's -v line counts the listings
#   loaded ahead and used (most of the directories), none when off;
# - it is bounded: an `ls` of one directory with many subdirectories
#   loads at most 2 listings ahead, and none is used;
# - a backup made while mounted (the catalog's generation moves) makes a
#   listing loaded before it stale: it is loaded afresh (counted), and
#   every listing still equals its source; a deleted backup's directories
#   are gone.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt
ND=3
NF=2100

mkdir -p "$S"
"$BFS_PYTHON" - "$S" "$ND" "$NF" <<'PY'
import os, sys
top, nd, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(nd):
    dd = os.path.join(top, "d%02d" % d)
    os.mkdir(dd)
    for i in range(nf):
        p = os.path.join(dd, "f%05d" % i)
        with open(p, "wb") as f:
            f.write(b"y" * ((i * 7 + d) % 50))
        os.chmod(p, (0o400, 0o644, 0o755)[i % 3])
        os.utime(p, ns=(1600000000 * 10**9 + d * 10**7 + i * 1009,) * 2)
    # subdirectories between the files in name order, three deep
    for j in range(6):
        s = os.path.join(dd, "f%05d-sub%d" % (j * 400, j))
        os.makedirs(os.path.join(s, "x", "y"))
        for k in range(30):
            with open(os.path.join(s, "g%02d" % k), "wb") as f:
                f.write(b"z" * k)
        for k in range(5):
            with open(os.path.join(s, "x", "y", "h%d" % k), "wb") as f:
                f.write(b"w" * (k + d))
    os.symlink("f00001", os.path.join(dd, "link"))
    if d:
        os.link(os.path.join(top, "d00", "f%05d" % d),
                os.path.join(dd, "hl%d" % d))
# a chain of 70 levels, a file and an empty sibling in each
c = os.path.join(top, "chain")
for lvl in range(70):
    c = os.path.join(c, "c")
    os.makedirs(c)
    os.mkdir(c + "-e")
    with open(os.path.join(c, "f"), "wb") as f:
        f.write(b"%d" % lvl)
PY
all=$(find "$S" | wc -l)
dirs=$(find "$S" -type d | wc -l)
diag "$all entries, $dirs directories in the source"

# listing DIR: every entry under DIR in find's order: path, type, size of
# what is not a directory, mode, links, inode, mtime, link target
listing() {
	(cd "$1" && find . -mindepth 1 -printf '%P|%y|%s|%m|%n|%i|%T@|%l\n' |
		awk -F'|' -v OFS='|' '$2 == "d" { $3 = "-" } { print }')
}
# no inode numbers (to compare with the source), sorted
noino() { awk -F'|' -v OFS='|' '{ $6 = ""; print }' "$1" | LC_ALL=C sort; }
# counter LOG NAME: NAME's count in LOG's "listing prefetch:" line
counter() {
	grep 'listing prefetch:' "$1" | tail -n 1 | grep -o "[0-9]* $2" | cut -d' ' -f1
}
# stop_fg MNT: unmount the foreground mount and wait for its last lines
stop_fg() {
	unmount "$1"
	wait "$MOUNT_PID" 2>/dev/null
}
cold() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

listing "$S" >"$T/src.list"
noino "$T/src.list" >"$T/src.sorted"

ok_cmd "init" bfs init "$R"
ok_cmd "backup b1" bfs backup -q -r "$R" --id b1 --files "$S"

# ---- identical with and without the prefetch
cold
ok_cmd "mount -v (prefetch on)" mount_repo_fg "$R" "$M" "$T/on.log" -v
t0=$(date +%s%N)
listing "$M/b1/files" >"$T/on.list"
t1=$(date +%s%N)
diag "cold listing with the prefetch: $(((t1 - t0) / 1000000)) ms"
stop_fg "$M"
cold
BFS_MOUNT_PREFETCH=0 mount_repo_fg "$R" "$M" "$T/off.log" -v
ok "$?" "mount -v with BFS_MOUNT_PREFETCH=0"
t0=$(date +%s%N)
listing "$M/b1/files" >"$T/off.list"
t1=$(date +%s%N)
diag "cold listing without: $(((t1 - t0) / 1000000)) ms"
stop_fg "$M"

is "$(wc -l <"$T/on.list")" "$((all - 1))" "  the prefetched find saw every entry"
ok_cmd "  the same entries, attributes and order with and without the prefetch" \
	cmp "$T/off.list" "$T/on.list"
noino "$T/on.list" >"$T/on.sorted"
ok_cmd "  and what the source holds" diff "$T/src.sorted" "$T/on.sorted"

loaded=$(counter "$T/on.log" loaded)
used=$(counter "$T/on.log" used)
diag "$(grep 'listing prefetch' "$T/on.log" | sed 's/^.*backupfs: //')"
ok "$([ -n "$loaded" ] && [ "$loaded" -gt 0 ]; echo $?)" "  the -v line counts listings loaded ahead ($loaded)"
# every directory but the first of each walk comes prefetched; the chain
# deeper than the walk keeps costs a walk per level past it
ok "$([ -n "$used" ] && [ "$used" -ge $((dirs / 2)) ] && [ "$used" -le "$loaded" ]; echo $?)" \
	"  most of the $dirs directories' listings were used ($used)"
is "$(grep -c 'listing prefetch' "$T/off.log")" 0 "  off: no prefetch at all"

# ---- bounded: one directory listed, at most 2 loaded ahead
ok_cmd "mount -v" mount_repo_fg "$R" "$M" "$T/ls.log" -v
ok_cmd "  ls of a directory with 6 subdirectories" ls "$M/b1/files/d01"
sleep 1
stop_fg "$M"
loaded=$(counter "$T/ls.log" loaded)
ok "$([ -n "$loaded" ] && [ "$loaded" -ge 1 ] && [ "$loaded" -le 2 ]; echo $?)" \
	"  1 or 2 listings loaded ahead ($loaded)"
is "$(counter "$T/ls.log" used)" 0 "  none used"

# ---- a backup and a deletion while mounted
ok_cmd "backup b2 (prefetch target)" bfs backup -q -r "$R" --id b2 --files "$S"
ok_cmd "mount -v" mount_repo_fg "$R" "$M" "$T/sync.log" -v
ok_cmd "  ls of d01 in b2" ls "$M/b2/files/d01"
ok_cmd "  ls of d02 in b1 (its first subdirectories loaded ahead)" ls "$M/b1/files/d02"
sleep 1
# change the source: the new backup's d02/f00000-sub0 differs
rm "$S/d02/f00000-sub0/g00"
echo new >"$S/d02/f00000-sub0/new"
listing "$S" >"$T/src2.list"
ok_cmd "  backup b3 while mounted" bfs backup -q -r "$R" --id b3 --files "$S"
ok "$(wait_until 10 test -d "$M/b3"; echo $?)" "  b3 appears"
listing "$M/b1/files/d02/f00000-sub0" >"$T/b1sub.list"
grep '^d02/f00000-sub0/.' "$T/src.list" | sed 's,^d02/f00000-sub0/,,' >"$T/want1"
ok_cmd "  b1's subdirectory loaded before b3: what b1 holds" \
	diff <(noino "$T/want1") <(noino "$T/b1sub.list")
listing "$M/b3/files" >"$T/b3.list"
ok_cmd "  b3 lists the changed source" \
	diff <(noino "$T/src2.list") <(noino "$T/b3.list")
# b2 listed, then deleted and synced away: its directories are gone
rm -f "$R/manifests/b2"
ok "$(wait_until 10 bash -c "! test -e '$M/b2'"; echo $?)" "  deleted b2 disappears"
ok "$(! ls "$M/b2/files/d01/f00000-sub0" >/dev/null 2>&1; echo $?)" \
	"  and so do its directories"
stop_fg "$M"
stale=$(counter "$T/sync.log" stale)
diag "$(grep 'listing prefetch' "$T/sync.log" | sed 's/^.*backupfs: //')"
ok "$([ -n "$stale" ] && [ "$stale" -ge 1 ]; echo $?)" \
	"  a listing loaded before b3 was found stale and loaded again ($stale)"
done_testing
