#!/bin/bash
# Stat-ahead in backup 2 (issue 8): while the walk asks the catalog for a
# directory's listing in the last backup, a thread of its own stats the
# directory's first 4,096 names (src/source_files.c); the walk compares
# from those results and stats the rest itself.  The trees it writes are
# the same as without it.
#
# Directories: big (CI 4,200 files, else 5,000: more than the thread
# stats), mid (300) and small (10: fewer than the 32 the thread waits
# for).  Then:
#   - backup 2, nothing changed: every directory reused whole, no file
#     opened, the same root as backup 1, and the names of big and mid
#     stat'ed by a thread other than the one that lists the directories
#     (strace -f; on a binary without stat-ahead the walk stats them);
#   - backup 3 after changing only the ctime of big's 100th file from the
#     end (past what the thread stats) and the mtime of one of mid's: exactly those
#     two files opened, small still reused whole, big and mid not, the
#     root equal to that of a backup of the same tree into a fresh
#     repository (no last backup, no stat-ahead), the restore equal to
#     the source;
#   - backup 4 with --exclude '*.skip' and a new big/zz.skip: big reused
#     whole, zz.skip never stat'ed, nothing stat'ed ahead (an excluded
#     entry costs no stat), the root equal to that of the same backup
#     into the fresh repository.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd strace strace
require_cmd jq jq
require_cmd zstd zstd

R=$T/repo
S=$T/src
C=$T/cat.db
NBIG=5000
[ "${CI:-}" = true ] && NBIG=4200

# mkfiles DIR N: N small files, their mtimes set to one date
mkfiles() {
	mkdir -p "$1"
	"$BFS_PYTHON" - "$1" "$2" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "f%05d" % i), "w") as f:
        f.write("%s %d\n" % (os.path.basename(d), i) * (i % 5 + 1))
PY
	touch -d '2025-01-02 03:04:05' "$1"/*
}
mkfiles "$S/big" "$NBIG"
mkfiles "$S/mid" 300
mkfiles "$S/small" 10

root_of() {   # root_of REPO ID: the root tree part ids of a backup
	zstd -dcq "$1/manifests/$2" | jq -c .root
}
TRACE="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -y -e trace=openat,getdents64,newfstatat,statx -o"
# stats_by TRACE DIR WHICH: how many stats of DIR's names the walk thread
# (WHICH=walk: the one that lists directories) or any other (other) made
stats_by() {
	local walk
	walk=$(awk '/getdents64\(/ { print $1; exit }' "$1")
	grep -E "(newfstatat|statx)\([0-9]+<$2>, \"[^\"]" "$1" |
		awk -v w="$walk" -v which="$3" \
			'(which == "walk") == ($1 == w) { n++ } END { print n + 0 }'
}
reused() {   # reused STDERR: the directories the walk reused whole
	grep -o "unchanged directory 'files/[a-z]*'" "$1" |
		sed "s|.*'files/||; s|'||" | sort | tr '\n' ' '
}

ok_cmd "init" bfs init "$R"
ok_cmd "backup 1" bfs backup -q -r "$R" --catalog "$C" --id b1 --files "$S"
R1=$(root_of "$R" b1)
like "$R1" '^\["[0-9a-f]{64}"' "  backup 1 has a root"

ok_cmd "backup 2: nothing changed" $TRACE "$T/trace2" "$BACKUPFS" backup -vv \
	-r "$R" --catalog "$C" --id b2 --files "$S"
cp "$T/stderr" "$T/err2"
is "$(reused "$T/err2")" "big mid small " "  every directory reused whole"
is "$(strace_opened "$T/trace2" "$S")" "" "  opened no file"
is "$(root_of "$R" b2)" "$R1" "  the root of backup 1"
n=$(stats_by "$T/trace2" "$S/big" other)
is "$n" 4096 "  big: its first 4,096 names stat'ed by a thread of their own"
is "$(stats_by "$T/trace2" "$S/big" walk)" "$((NBIG - 4096))" \
	"  big: the rest by the walk"
is "$(stats_by "$T/trace2" "$S/mid" other)" 300 \
	"  mid: all its names stat'ed ahead"
is "$(stats_by "$T/trace2" "$S/small" other)" 0 \
	"  small (10 names): stat'ed by the walk"

# a ctime-only change past what the thread stats (touch to the same
# mtime), an mtime change in mid
LATE=$(printf 'f%05d' $((NBIG - 100)))
touch -d '2025-01-02 03:04:05' "$S/big/$LATE"
touch -d '2025-01-02 03:04:06' "$S/mid/f00100"
ok_cmd "backup 3: big's $LATE (ctime only) and one of mid's" \
	$TRACE "$T/trace3" "$BACKUPFS" backup -vv -r "$R" --catalog "$C" \
	--id b3 --files "$S"
cp "$T/stderr" "$T/err3"
is "$(strace_opened "$T/trace3" "$S" | tr '\n' ' ')" "big/$LATE mid/f00100 " \
	"  opened exactly the two changed files"
is "$(reused "$T/err3")" "small " "  small reused whole, big and mid not"
R3=$(root_of "$R" b3)
ok_cmd "the same tree into a fresh repository" bfs init "$T/fresh"
ok_cmd "  backup" bfs backup -q -r "$T/fresh" --catalog "$T/fresh.db" --id f1 \
	--files "$S"
is "$(root_of "$T/fresh" f1)" "$R3" \
	"  backup 3's root: the same tree parts as without a last backup"
ok_cmd "  restore backup 3" bfs restore -q -r "$R" --catalog "$C" b3 \
	--target "$T/o3"
ok_cmd "  equals the source" compare_trees "$S" "$T/o3/files"

printf 'skip me\n' >"$S/big/zz.skip"
touch -d '2025-01-02 03:04:05' "$S/big/zz.skip"
ok_cmd "backup 4: --exclude '*.skip', a new big/zz.skip" $TRACE "$T/trace4" \
	"$BACKUPFS" backup -vv -r "$R" --catalog "$C" --id b4 --files "$S" \
	--exclude '*.skip'
cp "$T/stderr" "$T/err4"
is "$(reused "$T/err4")" "big mid small " "  every directory reused whole"
is "$(grep -c '"zz.skip"' "$T/trace4")" 0 "  zz.skip never stat'ed"
is "$(stats_by "$T/trace4" "$S/big" other)" 0 \
	"  nothing stat'ed ahead with --exclude"
is "$(stats_by "$T/trace4" "$S/big" walk)" "$NBIG" \
	"  big's names stat'ed by the walk"
ok_cmd "  the same into a fresh repository" bfs backup -q -r "$T/fresh" \
	--catalog "$T/fresh.db" --id f2 --files "$S" --exclude '*.skip'
is "$(root_of "$R" b4)" "$(root_of "$T/fresh" f2)" "  the same root"
ok_cmd "check" bfs check -r "$R" --catalog "$C"

done_testing
