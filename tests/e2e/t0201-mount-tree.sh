#!/bin/bash
# backupfs mount: the awkward tree through a real FUSE mount equals the
# source (content, modes, owners, ns mtimes, symlinks, hardlink inodes,
# odd names, deep paths), and so do cp -a and rsync -aH copies out of it;
# the root lists the backups and /latest; a big directory lists fully;
# every entry's d_type and d_ino (from a listing's readdir and
# readdirplus pages, filled from the catalog's rows) are what stat says.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt

make_awkward_tree "$S"
# a directory of 300 entries of three types, in name order d, f, l, ...
mkdir "$S/mixed"
for i in $(seq 100 399); do
	case $((i % 3)) in
	0) mkdir "$S/mixed/e$i" ;;
	1) echo "$i" >"$S/mixed/e$i" ;;
	2) ln -s "e$((i - 1))" "$S/mixed/e$i" ;;
	esac
done
ok_cmd "init" bfs init "$R"
ok_cmd "backup b1 of the awkward tree" bfs backup -r "$R" --id b1 --files "$S"
sleep 1
ok_cmd "backup b2 (a command output)" bfs backup -r "$R" --id b2 --command "out/seq.txt=seq 1 1000"

start=$(date +%s%N)
ok_cmd "mount (daemon) returns 0" mount_repo "$R" "$M"
ls "$M/b1" >/dev/null 2>&1
end=$(date +%s%N)
diag "mount + first ls of a backup: $(( (end - start) / 1000000 )) ms"
ok "$(is_mounted "$M"; echo $?)" "the mount point is mounted when mount returns"
like "$(grep -F " $M " /proc/self/mountinfo)" "fuse\\.backupfs" "type fuse.backupfs in mountinfo"
like "$(grep -F " $M " /proc/self/mountinfo)" "[ ,]ro[ ,]" "mounted read-only"

# ---- the root
is "$(ls "$M" | tr '\n' ' ')" "b1 b2 latest " "the root lists the backups and latest"
is "$(readlink "$M/latest")" "b2" "latest -> the newest backup"
is "$(cat "$M/latest/out/seq.txt" | wc -l)" "1000" "reading through latest works"
is "$(stat -c %F "$M/latest")" "symbolic link" "latest is a symlink"
is "$(ls "$M/b1")" "files" "b1 holds files/"
ok "$(ls "$M/no-such-backup" >/dev/null 2>&1; [ $? -ne 0 ]; echo $?)" "unknown backup: ENOENT"

# ---- the tree
ok_cmd "mounted tree equals the source" compare_trees "$S" "$M/b1/files"
[ $_tap_failed -gt 0 ] && diag "$(head -c 3000 "$T/stdout")"

i1=$(stat -c %i "$M/b1/files/hard1")
i2=$(stat -c %i "$M/b1/files/hard2")
i3=$(stat -c %i "$M/b1/files/dir/hard3")
ok "$([ "$i1" = "$i2" ] && [ "$i1" = "$i3" ]; echo $?)" "hardlinks share an inode number ($i1 $i2 $i3)"
is "$(stat -c %h "$M/b1/files/hard1")" "3" "hardlink count 3"
ok "$([ "$(stat -c %i "$M/b1/files/hello.txt")" != "$i1" ]; echo $?)" "other files have other inodes"
is "$(readlink "$M/b1/files/link-rel")" "hello.txt" "relative symlink target"
is "$(readlink "$M/b1/files/link-abs")" "/etc/hostname" "absolute symlink target"
is "$(readlink "$M/b1/files/link-dangling")" "does/not/exist" "dangling symlink target"
is "$(readlink "$M/b1/files/link-long-target" | wc -c)" "1001" "1000-byte symlink target"
is "$(cat "$M/b1/files/link-rel")" "$(cat "$S/hello.txt")" "reading through a relative symlink"
is "$(stat -c '%y %U' "$M/b1/files/hello.txt")" "$(stat -c '%y %U' "$S/hello.txt")" "mtime to the ns and owner"
is "$(stat -c %s "$M/b1/files/sparse.img")" "$(stat -c %s "$S/sparse.img")" "sparse file size"

# ---- a big directory
nbig=$(ls "$S/many" | wc -l)
is "$(ls "$M/b1/files/many" | wc -l)" "$nbig" "the $nbig-entry directory lists completely"
ok_cmd "same names in the big directory" bash -c "diff <(ls '$S/many') <(ls '$M/b1/files/many')"
is "$(ls -f "$M/b1/files/many" | wc -l)" "$((nbig + 2))" "ls -f (unsorted, with . and ..) also complete"
is "$(find "$M/b1/files/many" -type f | wc -l)" "$nbig" "find sees every entry"
is "$(find "$M/b1/files" | wc -l)" "$(find "$S" | wc -l)" "find over the whole backup: same count"

# d_type and d_ino from a fresh listing (os.scandir reads them without a
# stat), against lstat of each entry
dirents_vs_stat() {
	"$BFS_PYTHON" - "$1" <<'PY'
import os, stat, sys
n = bad = 0
for e in os.scandir(sys.argv[1]):
    t = "d" if e.is_dir(follow_symlinks=False) else \
        "l" if e.is_symlink() else \
        "f" if e.is_file(follow_symlinks=False) else "?"
    ino = e.inode()
    st = os.lstat(e.path)
    tt = "d" if stat.S_ISDIR(st.st_mode) else \
         "l" if stat.S_ISLNK(st.st_mode) else \
         "f" if stat.S_ISREG(st.st_mode) else "?"
    n += 1
    if t != tt or ino != st.st_ino:
        bad += 1
        if bad <= 3:
            print("%s: d_type %s d_ino %d, stat %s %d" % (e.name, t, ino, tt, st.st_ino), file=sys.stderr)
print(n, bad)
PY
}
unmount "$M"
ok_cmd "remount (nothing of the directory cached)" mount_repo "$R" "$M"
is "$(dirents_vs_stat "$M/b1/files/mixed")" "300 0" "300 mixed entries: d_type and d_ino of each as stat says"
is "$(ls -l "$M/b1/files/mixed" | grep -c '^l.* -> e')" "100" "ls -l after the listing: 100 symlinks with targets"
is "$(find "$M/b1/files/mixed" -mindepth 1 -type d | wc -l)" "100" "find -type d (d_type): 100 directories"

# ---- copies out of the mount
# cp and rsync work with whole path names, so the deep tree (paths over
# PATH_MAX) cannot be copied by them from any filesystem: leave it out.
ok_cmd "reference copy of the source without deep/" rsync -aH --exclude=/deep "$S/" "$T/ref/"
mkdir -p "$T/cp"
# one cp invocation, so that it keeps the hardlink groups
items=()
for f in "$M/b1/files"/* "$M/b1/files"/.[!.]*; do
	[ -e "$f" ] || [ -L "$f" ] || continue
	[ "${f##*/}" = deep ] || items+=("$f")
done
ok_cmd "cp -a out of the mount" cp -a "${items[@]}" "$T/cp/"
BFS_COMPARE_IGNORE=root compare_trees "$T/ref" "$T/cp" >"$T/cmp.out" 2>&1
ok $? "cp -a copy equals the source (but for deep/)"
[ -s "$T/cmp.out" ] && diag "$(head -c 2000 "$T/cmp.out")"
ok_cmd "rsync -aH out of the mount" rsync -aH --exclude=/deep "$M/b1/files/" "$T/rs/"
compare_trees "$T/ref" "$T/rs" >"$T/cmp.out" 2>&1
ok $? "rsync -aH copy equals the source (but for deep/)"
[ -s "$T/cmp.out" ] && diag "$(head -c 2000 "$T/cmp.out")"

# ---- unmount
ok_cmd "fusermount3 -u" fusermount3 -u "$M"
ok "$(is_mounted "$M"; [ $? -ne 0 ]; echo $?)" "unmounted"
ok "$(sleep 0.5; daemon_pid "$M" >/dev/null; [ $? -ne 0 ]; echo $?)" "the daemon exited"

done_testing
