#!/bin/bash
# The writer's path set bounded by tree order (issue 8), and the reuse of
# unchanged files and directories around it.
#
# - Backups 2 and 3 of a tree where, in one directory of 400 files, one
#   file each changes only its size, only its mtime, only its ctime (same
#   size, mtime put back) and only its inode (replaced by a copy with the
#   same size and mtime); a file becomes a directory with files in it and
#   back; a file in another directory keeps a hardlink to a file of the
#   first.  Every restore equals its source (content, metadata, hardlink
#   groups), and, with strace, backup 2 opens exactly the changed files.
# - Paths out of tree order: a source mapped inside another one still
#   has a duplicate path refused with a clear error, whether the
#   duplicate is in the directory the first source ended in or in one it
#   left long before: the writer reads each path out of order and its
#   ancestors back from its tree spool, from the 8th one on every path
#   (dup1 has 12 paths out of order, dup2 2); a source inside another
#   one, given first, backs up fine with a hardlink pair of the second
#   kept.
# - Peak RSS (wait4's ru_maxrss) of the first backup of N files minus that
#   of 1,000 files stays under 24 MiB + 64 bytes per file (N = 200,000:
#   36.2 MiB; CI: 50,000, 27.1 MiB).  Most of the growth is SQLite's page
#   cache (at most 32 MiB) while the backup is ingested.  Measured at
#   200,000 files (2026-11-26): +38.8 MiB with a path slot per file (26
#   bytes at 50-87 % load, 262,144 slots), which fails the bound, and
#   +34.0 MiB with the set bounded by the depth of the tree; at 50,000
#   files +15.4 MiB (the CI bound does not tell the two apart: the set
#   was 3 MiB there).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
S=$T/src
C=$T/cat.db
N=200000
[ "${CI:-}" = true ] && N=50000

# mk DIR NFILES: NFILES small files (0-1 KiB) in directories of 1,000
mk() {
	"$BFS_PYTHON" - "$1" "$2" <<'PY'
import os, sys, random
top, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(n)
for i in range(n):
    d = os.path.join(top, "d%03d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randrange(0, 1024)))
PY
}


# ---------------------------------------------------------------- reuse
mkdir -p "$S/a" "$S/b" "$S/c"
for i in $(seq -w 1 400); do printf 'file %s\n' "$i" >"$S/a/f$i"; done
for i in $(seq -w 1 50); do printf 'other %s\n' "$i" >"$S/c/g$i"; done
printf 'one\n' >"$S/a/size"
printf 'two\n' >"$S/a/mtime"
printf 'three\n' >"$S/a/ctime"
printf 'four\n' >"$S/a/inode"
printf 'flip\n' >"$S/a/flip"
printf 'shared\n' >"$S/a/shared"
ln "$S/a/shared" "$S/b/shared-link"
touch -d '2025-01-02 03:04:05' "$S"/a/*

ok_cmd "init" bfs init "$R"
ok_cmd "backup 1" bfs backup -q -r "$R" --catalog "$C" --id b1 --files "$S"
ok_cmd "  restore" bfs restore -q -r "$R" --catalog "$C" b1 --target "$T/o1"
ok_cmd "  equals the source, hardlink group kept" \
	compare_trees "$S" "$T/o1/files"

printf 'one more\n' >"$S/a/size"
touch -d '2025-01-02 03:04:05' "$S/a/size"
touch -d '2025-01-02 03:04:06' "$S/a/mtime"
printf 'THREE\n' >"$S/a/ctime"
touch -d '2025-01-02 03:04:05' "$S/a/ctime"
printf 'FOUR\n' >"$T/inode"
touch -d '2025-01-02 03:04:05' "$T/inode"
mv "$T/inode" "$S/a/inode"
rm "$S/a/flip"
mkdir "$S/a/flip"
printf 'inside\n' >"$S/a/flip/x"
printf 'inside too\n' >"$S/a/flip/y"
trace=
if command -v strace >/dev/null; then
	trace="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -y -e trace=openat -o $T/trace2"
else
	diag "strace not installed: the opened-file check is skipped"
fi
ok_cmd "backup 2: size, mtime, ctime, inode changed; a file became a dir" \
	$trace "$BACKUPFS" backup -q -r "$R" --catalog "$C" --id b2 --files "$S"
if [ -n "$trace" ]; then
	is "$(strace_opened "$T/trace2" "$S" | tr '\n' ' ')" \
		"a/ctime a/flip/x a/flip/y a/inode a/mtime a/size " \
		"  opened: exactly the changed files"
fi
ok_cmd "  restore" bfs restore -q -r "$R" --catalog "$C" b2 --target "$T/o2"
ok_cmd "  equals the source" compare_trees "$S" "$T/o2/files"
is "$(cat "$T/o2/files/a/size" "$T/o2/files/a/ctime" "$T/o2/files/a/inode")" \
	"one more
THREE
FOUR" "  the new bytes of the size, ctime and inode changes"

rm -r "$S/a/flip"
printf 'flip back\n' >"$S/a/flip"
ok_cmd "backup 3: the dir became a file again" \
	bfs backup -q -r "$R" --catalog "$C" --id b3 --files "$S"
ok_cmd "  restore" bfs restore -q -r "$R" --catalog "$C" b3 --target "$T/o3"
ok_cmd "  equals the source" compare_trees "$S" "$T/o3/files"
ok_cmd "b2 restored again" bfs restore -q -r "$R" --catalog "$C" b2 \
	--target "$T/o2b"
ok_cmd "  still has the directory" test -f "$T/o2b/files/a/flip/y"
ok_cmd "check" bfs check -r "$R" --catalog "$C"

# ------------------------------------------------- paths out of tree order
mkdir -p "$T/s1/d1" "$T/s1/d9" "$T/s2" "$T/s3" "$T/s4"
printf 'x\n' >"$T/s1/d1/x"
printf 'y\n' >"$T/s1/d9/y"
printf 'h\n' >"$T/s1/d1/h"
ln "$T/s1/d1/h" "$T/s1/d9/h2"
printf 'x again\n' >"$T/s2/x"
for i in 0 1 2 3 4 5 6 7 8 9; do printf 'a%s\n' $i >"$T/s2/a$i"; done
printf 'y again\n' >"$T/s3/y"
printf 'z\n' >"$T/s4/z"
# dup ID DESC PATH SOURCES...: the backup fails naming PATH a duplicate
dup() {
	local id=$1 desc=$2 p=$3
	shift 3
	fails_with 1 "$desc" bfs backup -q -r "$R" --catalog "$C" --id "$id" "$@"
	like "$(cat "$T/stderr")" "duplicate path '$p' in backup" \
		"  the error names '$p'"
}
dup dup1 "a duplicate the first source left long before" files/d1/x \
	--files "files=$T/s1" --files "files/d1=$T/s2"
dup dup2 "a duplicate in the directory the first source ended in" \
	files/d9/y --files "files=$T/s1" --files "files/d9=$T/s3"
dup dup3 "a file over a file of the first source" files/d1/x \
	--files "files=$T/s1" --files "files/d1/x=$T/s4/z"
is "$(bfs list -r "$R" --catalog "$C" | grep -c dup)" 0 \
	"  none of them was written"
ok_cmd "a source inside another one, out of tree order, no collision" \
	bfs backup -q -r "$R" --catalog "$C" --id two \
	--files "files/m=$T/s4" --files "files=$T/s1"
ok_cmd "  restore" bfs restore -q -r "$R" --catalog "$C" two --target "$T/o4"
mkdir -p "$T/both"
cp -a "$T/s1/." "$T/both/"
cp -a "$T/s4" "$T/both/m"
touch -r "$T/s1" "$T/both"
ok_cmd "  equals both sources merged, the hardlink pair kept" \
	compare_trees "$T/both" "$T/o4/files"

# ---------------------------------------------------------------- memory
if bfs_is_sanitized; then
	diag "sanitizer build: the peak RSS check is skipped"
	done_testing
fi
mkdir -p "$T/small" "$T/big"
mk "$T/small" 1000
mk "$T/big" "$N"
k1=$(first_backup_peak_kb "$T/small")
kn=$(first_backup_peak_kb "$T/big")
bound=$(( (N * 64 + (24 << 20)) / 1024 ))
diag "peak RSS: 1,000 files $k1 KiB, $N files $kn KiB (bound: +$bound KiB)"
ok $(( k1 > 0 && kn > 0 && kn - k1 <= bound ? 0 : 1 )) \
	"peak RSS of $N files within 1,000 files' + $bound KiB"

done_testing
