#!/bin/bash
# What backup 2 reuses in the directories that changed (issue 8): a
# changed directory's listing from the last backup is asked for once and
# walked with its names, so its unchanged files keep their chunks without
# being opened, and everything that changed is read again.
#
# A tree of directories of N files each (CI: 300, else 2,000); between
# the backups, in directory a (files only: the listing asked for to see
# whether it can be reused whole is the one its walk uses): one file
# each changes only its size, only its mtime, only its ctime (same size,
# mtime put back), only its inode (a copy with the same size and mtime
# moved over it), only its mode, only its owner (as root), and one file
# is replaced by a symlink; directory b is renamed; in directory d (with
# a subdirectory: walked without that first listing) one file changes;
# directory c and the subdirectory d/sub do not change.  Then:
#   - backup 2 opens exactly the changed files and the renamed
#     directory's files (strace), not one unchanged file of a;
#   - its restore equals the source (content, mode, owner, mtime, symlink
#     targets, names), and so does backup 1's (the reused chunks are
#     shared, not moved);
#   - backup 3 with nothing changed opens no file at all and restores
#     equal to the source.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
S=$T/src
C=$T/cat.db
N=2000
[ "${CI:-}" = true ] && N=300

# mkfiles DIR PREFIX: N small files, their mtimes set to one date
mkfiles() {
	mkdir -p "$1"
	"$BFS_PYTHON" - "$1" "$2" "$N" <<'PY'
import os, sys
d, p, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    with open(os.path.join(d, "%s%05d" % (p, i)), "w") as f:
        f.write("%s %d\n" % (p, i) * (i % 7 + 1))
PY
	touch -d '2025-01-02 03:04:05' "$1"/*
}

mkfiles "$S/a" f
mkfiles "$S/b" g
mkfiles "$S/c" h
mkfiles "$S/d" k
mkfiles "$S/d/sub" s
ok_cmd "init" bfs init "$R"
ok_cmd "backup 1" bfs backup -q -r "$R" --catalog "$C" --id b1 --files "$S"
cp -a "$S" "$T/src1"

# the changes of directory a, spread over it
F=$S/a
printf 'longer now\n' >>"$F/f00010"
touch -d '2025-01-02 03:04:05' "$F/f00010"
touch -d '2025-01-02 03:04:06' "$F/f00050"
printf 'F 90 same size\n' >"$F/f00090"
touch -d '2025-01-02 03:04:05' "$F/f00090"
cp -p "$F/f00130" "$T/copy"
printf 'X' | dd of="$T/copy" bs=1 seek=0 conv=notrunc status=none
touch -d '2025-01-02 03:04:05' "$T/copy"
mv "$T/copy" "$F/f00130"
chmod 600 "$F/f00170"
changed="a/f00010 a/f00050 a/f00090 a/f00130 a/f00170"
if [ "$(id -u)" -eq 0 ]; then
	chown 12345:23456 "$F/f00210"
	changed="$changed a/f00210"
else
	diag "not root: the owner change is left out"
fi
rm "$F/f00250"
ln -s ../c/h00001 "$F/f00250"
mv "$S/b" "$S/b2"
printf 'd changed\n' >>"$S/d/k00020"
changed="$changed d/k00020"
for i in $(seq -f '%05g' 0 $((N - 1))); do
	changed="$changed b2/g$i"
done
want=$(printf '%s\n' $changed | sort | tr '\n' ' ')

trace=
if command -v strace >/dev/null; then
	trace="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -y -e trace=openat -o"
else
	diag "strace not installed: the opened-file checks are skipped"
fi
ok_cmd "backup 2: size, mtime, ctime, inode, mode, owner, a symlink, a rename" \
	${trace:+$trace $T/trace2} "$BACKUPFS" backup -q -r "$R" --catalog "$C" \
	--id b2 --files "$S"
if [ -n "$trace" ]; then
	got=$(strace_opened "$T/trace2" "$S" | tr '\n' ' ')
	is "$got" "$want" "  opened: exactly the changed files and the renamed directory's"
fi
ok_cmd "  restore" bfs restore -q -r "$R" --catalog "$C" b2 --target "$T/o2"
ok_cmd "  equals the source" compare_trees "$S" "$T/o2/files"
is "$(cat "$T/o2/files/a/f00090")" "F 90 same size" \
	"  the new bytes of the ctime-only change"
is "$(head -c 1 "$T/o2/files/a/f00130")" "X" \
	"  the new bytes of the inode-only change"
is "$(readlink "$T/o2/files/a/f00250")" "../c/h00001" \
	"  the file replaced by a symlink is a symlink"
ok_cmd "backup 1 restored again" bfs restore -q -r "$R" --catalog "$C" b1 \
	--target "$T/o1"
ok_cmd "  equals the first source" compare_trees "$T/src1" "$T/o1/files"

ok_cmd "backup 3: nothing changed" \
	${trace:+$trace $T/trace3} "$BACKUPFS" backup -q -r "$R" --catalog "$C" \
	--id b3 --files "$S"
if [ -n "$trace" ]; then
	is "$(strace_opened "$T/trace3" "$S" | tr '\n' ' ')" "" "  opened no file"
fi
ok_cmd "  restore" bfs restore -q -r "$R" --catalog "$C" b3 --target "$T/o3"
ok_cmd "  equals the source" compare_trees "$S" "$T/o3/files"
ok_cmd "check" bfs check -r "$R" --catalog "$C"

done_testing
