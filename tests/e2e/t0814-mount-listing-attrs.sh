#!/bin/bash
# A cold listing's attributes, read from the catalog in batches of 2,048
# rows (fuse/ops.c load_batch) and filled in place into each record:
# through a fresh mount on a dropped page cache, a directory of 5,000
# entries lists with every entry's type, size, mode, link count and
# mtime equal to its source's, across the batch boundaries and in both
# kinds of page (the first, readdirplus, whose attributes the kernel
# keeps, and the later ones, looked up by find's stat):
# - files of sizes 0-96 and modes 0400-0755 with distinct mtimes;
# - symlinks (the size is the target's length);
# - subdirectories (link count 2 + their subdirectories);
# - hardlink groups whose entries are in different batches, both ways
#   (the catalog's data entry before and after the link): each shows the
#   group's inode number, size and link count;
# and a second, warm find on another fresh mount lists the same.
# The time of the cold find is a diag only (doc/PERFORMANCE.md has the
# measurements).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt
N=5000

mkdir -p "$S/big"
"$BFS_PYTHON" - "$S/big" "$N" <<'PY'
import os, sys
top, n = sys.argv[1], int(sys.argv[2])
modes = (0o400, 0o600, 0o644, 0o755)
for i in range(n):
    p = os.path.join(top, "a%05d" % i)
    with open(p, "wb") as f:
        f.write(b"x" * (i % 97))
    os.chmod(p, modes[i % 4])
    os.utime(p, ns=(1600000000 * 10**9 + i * 1000003,) * 2)
# symlinks with targets of every length from 1 to 40
for i in range(40):
    os.symlink("t" * (i + 1), os.path.join(top, "s%03d" % i))
# subdirectories with 0..3 subdirectories of their own
for i in range(12):
    d = os.path.join(top, "m%03d" % i)
    os.mkdir(d)
    for j in range(i % 4):
        os.mkdir(os.path.join(d, "sub%d" % j))
    os.utime(d, ns=(1500000000 * 10**9 + i,) * 2)
# hardlinks: names before the first batch ("0..") to files of the last,
# names after the last batch ("z..") to files of the first, a group of
# three across all three batches
for i in range(20):
    os.link(os.path.join(top, "a%05d" % (4980 + i)),
            os.path.join(top, "0%03d" % i))
    os.link(os.path.join(top, "a%05d" % (10 + i)),
            os.path.join(top, "z%03d" % i))
os.link(os.path.join(top, "a02500"), os.path.join(top, "0zz"))
os.link(os.path.join(top, "a02500"), os.path.join(top, "zzz"))
PY
total=$(find "$S/big" -mindepth 1 -maxdepth 1 | wc -l)
all=$(find "$S" | wc -l)
diag "$total entries in big/, $all in the source"

# listing DIR: one line per entry of DIR/big (name, type, size of what
# is not a directory, mode, links, mtime), sorted
listing() {
	(cd "$1/big" && find . -mindepth 1 -maxdepth 1 -printf '%P %y %s %m %n %T@\n' |
		awk '$2 == "d" { $3 = "-" } { print }' | LC_ALL=C sort)
}
# groups DIR: the hardlink groups of DIR/big as sorted name lists, one
# group a line (entries with the same inode number)
groups() {
	(cd "$1/big" && find . -mindepth 1 -maxdepth 1 -type f -links +1 -printf '%i %P\n' |
		LC_ALL=C sort -k1,1n -k2 | awk '$1 != p { if (l) print l; l = $2; p = $1; next } { l = l " " $2 } END { print l }' |
		LC_ALL=C sort)
}
listing "$S" >"$T/src.list"
groups "$S" >"$T/src.groups"
is "$(wc -l <"$T/src.groups")" 41 "the source has 41 hardlink groups"

ok_cmd "init" bfs init "$R"
ok_cmd "backup" bfs backup -q -r "$R" --id b1 --files "$S"

sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || diag "cannot drop the page cache: the find is warm"
ok_cmd "mount" mount_repo "$R" "$M"
t0=$(date +%s%N)
n=$(find "$M/b1" | wc -l)
t1=$(date +%s%N)
diag "cold find: $n entries in $(((t1 - t0) / 1000000)) ms"
# the source's entries (files/ is its root) and the backup's directory
is "$n" "$((all + 1))" "  find saw every entry"
listing "$M/b1/files" >"$T/cold.list"
ok_cmd "  big/ lists what its source held (types, sizes, modes, links, mtimes)" \
	diff "$T/src.list" "$T/cold.list"
groups "$M/b1/files" >"$T/cold.groups"
ok_cmd "  the same hardlink groups, one inode number each" \
	diff "$T/src.groups" "$T/cold.groups"
a=$(stat -c '%i %s %h' "$M/b1/files/big/a02500")
is "$(stat -c '%i %s %h' "$M/b1/files/big/0zz")" "$a" "  a group of three across the batches: inode, size, links"
is "$(stat -c '%i %s %h' "$M/b1/files/big/zzz")" "$a" "  and its third name"
unmount "$M"

ok_cmd "mount again (warm)" mount_repo "$R" "$M"
is "$(find "$M/b1" | wc -l)" "$n" "  a warm find sees the same entries"
listing "$M/b1/files" >"$T/warm.list"
ok_cmd "  and the same attributes" diff "$T/src.list" "$T/warm.list"
unmount "$M"
done_testing
