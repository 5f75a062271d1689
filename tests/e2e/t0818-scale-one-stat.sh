#!/bin/bash
# One stat per name in backup 2 (issue 8): the stats taken to see whether
# a directory can be reused whole (by the stat-ahead thread, or by the
# walk itself for fewer than 32 names) are the ones the walk records from
# when the directory is walked after all (a changed file, subdirectories),
# so no name is stat'ed twice (src/source_files.c; a binary without this
# stats them again: those of leaf, big and few/sub below, the directories
# of files that were compared with the last backup's listing).
#
# Tree: top (40 files and mid), top/mid (40 files and leaf), top/mid/leaf
# (40 files), big (CI 4,200 files, else 5,000: more than the thread
# stats), few (5 files and sub), few/sub (3 files), race (45 files).
#   - backup 2 after changing one file in top, mid, leaf, big (before the
#     4,096th name) and few/sub: every name of every directory stat'ed
#     exactly once (strace -f), exactly the five changed files opened,
#     the root equal to that of the same tree backed up into a fresh
#     repository, the restore equal to the source;
#   - backup 3 with the stat-ahead thread held at race/zz-hold (strace
#     delays that stat: the names before it have been stat'ed) while
#     race/a-grow grows and race/b-gone is removed: the backup records
#     each as it was at its one stat or as it is now (a-grow's restored
#     bytes are the old or the new ones, b-gone is restored with its old
#     bytes or listed unreadable), `check` passes, and backup 4 (nothing
#     held) restores equal to the source;
#   - backup 5 with the thread held at race/a-hold, its first name, while
#     race/m-gone is removed before its stat: recorded unreadable with
#     "cannot stat: No such file or directory" (exit 3), as on a binary
#     that stats in the walk;
#   - backup 6 after 4,085 files were added to each of deep/d1 .. d1/d2/
#     d3/d4 (10 files and the next one each before) and one of d5's 40
#     changed: the frames of d1 .. d4 hold 4 x 4,096 results, all they may
#     (SA_HOLD), so d5's 40 names are stat'ed twice (its results are not
#     kept) and every other name once; also big/f04150 changed, past the
#     4,096 names stat'ed ahead: the comparison's own stats of f04096 ..
#     f04150 are kept too, big's names stat'ed once; the root equal to
#     that of a fresh repository's backup of the same tree.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd strace strace
require_cmd jq jq
require_cmd zstd zstd

R=$T/repo
S=$T/src
C=$T/cat.db
NBIG=5000
[ "${CI:-}" = true ] && NBIG=4200

# mkfiles DIR PREFIX N: N small files, their mtimes set to one date
mkfiles() {
	mkdir -p "$1"
	"$BFS_PYTHON" - "$1" "$2" "$3" <<'PY'
import os, sys
d, p, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    with open(os.path.join(d, "%s%05d" % (p, i)), "w") as f:
        f.write("%s %d\n" % (os.path.basename(d), i) * (i % 5 + 1))
PY
	touch -d '2025-01-02 03:04:05' "$1"/"$2"*
}
mkfiles "$S/top" t 40
mkfiles "$S/top/mid" m 40
mkfiles "$S/top/mid/leaf" l 40
mkfiles "$S/big" f "$NBIG"
mkfiles "$S/few" f 5
mkfiles "$S/few/sub" s 3
mkfiles "$S/race" f 40
for n in a-grow a-hold b-gone c-changed m-gone zz-hold; do
	printf '%s\n' "$n" >"$S/race/$n"
done
DIRS="top top/mid top/mid/leaf big few few/sub race"
DEEP=$S/deep/d1/d2/d3/d4
mkfiles "$S/deep/d1" a 10
mkfiles "$S/deep/d1/d2" b 10
mkfiles "$S/deep/d1/d2/d3" c 10
mkfiles "$DEEP" d 10
mkfiles "$DEEP/d5" e 40

root_of() {   # root_of REPO ID: the root tree part ids of a backup
	zstd -dcq "$1/manifests/$2" | jq -c .root
}
STRACE="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -y"
# stats_of TRACE DIR: how many stats of DIR's names (any thread)
stats_of() {
	grep -cE "(newfstatat|statx)\([0-9]+<$2>, \"[^\"]+\"" "$1"
}
# twice TRACE DIR: how many names of DIR were stat'ed more than once
twice() {
	grep -oE "(newfstatat|statx)\([0-9]+<$2>, \"[^\"]+\"" "$1" |
		sed -E 's/.*, "//; s/"$//' | sort | uniq -d | wc -l
}

ok_cmd "init" bfs init "$R"
ok_cmd "backup 1" bfs backup -q -r "$R" --catalog "$C" --id b1 --files "$S"

for f in top/t00005 top/mid/m00005 top/mid/leaf/l00005 big/f00010 \
	few/sub/s00001; do
	touch -d '2025-01-02 03:04:06' "$S/$f"
done
ok_cmd "backup 2: one file changed in top, mid, leaf, big and few/sub" \
	$STRACE -e trace=openat,getdents64,newfstatat,statx -o "$T/trace2" \
	"$BACKUPFS" backup -q -r "$R" --catalog "$C" --id b2 --files "$S"
for d in "" $DIRS; do
	p=$S${d:+/$d}
	is "$(stats_of "$T/trace2" "$p")" "$(ls -A "$p" | wc -l)" \
		"  ${d:-the source}: each name stat'ed once"
	is "$(twice "$T/trace2" "$p")" 0 "  ${d:-the source}: none twice"
done
is "$(strace_opened "$T/trace2" "$S" | tr '\n' ' ')" \
	"big/f00010 few/sub/s00001 top/mid/leaf/l00005 top/mid/m00005 top/t00005 " \
	"  opened exactly the five changed files"
ok_cmd "the same tree into a fresh repository" bfs init "$T/fresh"
ok_cmd "  backup" bfs backup -q -r "$T/fresh" --catalog "$T/fresh.db" --id f2 \
	--files "$S"
is "$(root_of "$R" b2)" "$(root_of "$T/fresh" f2)" \
	"  backup 2's root: the same tree parts as without a last backup"
ok_cmd "  restore backup 2" bfs restore -q -r "$R" --catalog "$C" b2 \
	--target "$T/o2"
ok_cmd "  equals the source" compare_trees "$S" "$T/o2/files"

# hold: run a backup under strace with the stat of NAME (the thread's,
# the first one) delayed 5 s, run the shell command ACT once that stat
# has begun, and leave the exit code in $T/rc.
# hold NAME ACT ID
hold() {
	rm -f "$T/trace.hold" "$T/rc"
	(
		$STRACE -P "$1" -e trace=newfstatat,statx \
			-e inject=newfstatat,statx:delay_enter=5000000 \
			-o "$T/trace.hold" "$BACKUPFS" backup -q -r "$R" \
			--catalog "$C" --id "$3" --files "$S" \
			>"$T/stdout.hold" 2>"$T/stderr.hold"
		echo $? >"$T/rc"
	) &
	local pid=$!
	if wait_until 60 grep -q "\"$1\"" "$T/trace.hold"; then
		eval "$2"
	else
		diag "the stat of $1 was not seen"
	fi
	wait "$pid"
}

printf 'old\n' >"$S/race/a-grow"
touch -d '2025-01-02 03:04:05' "$S/race/a-grow"
ok_cmd "backup: race/a-grow as it was" bfs backup -q -r "$R" --catalog "$C" \
	--id b2a --files "$S"
touch -d '2025-01-02 03:04:07' "$S/race/c-changed"
hold zz-hold "printf 'new and longer\n' >'$S/race/a-grow'; rm '$S/race/b-gone'" b3
rc=$(cat "$T/rc")
like "$rc" '^[03]$' "backup 3 with the thread held at race/zz-hold (exit $rc)"
ok_cmd "  restore backup 3" bfs restore -q -r "$R" --catalog "$C" b3 \
	--target "$T/o3"
got=$(cat "$T/o3/files/race/a-grow")
like "$got" '^(old|new and longer)$' "  race/a-grow: the old or the new bytes"
if [ -e "$T/o3/files/race/b-gone" ]; then
	is "$(cat "$T/o3/files/race/b-gone")" "b-gone" \
		"  race/b-gone: restored as it was"
else
	ok_cmd "  race/b-gone: listed unreadable" bfs show --json -r "$R" \
		--catalog "$C" b3
	like "$(jq -r '.unreadable[].path' "$T/stdout")" 'race/b-gone' \
		"  race/b-gone in the unreadable list"
fi
ok_cmd "  check" bfs check -r "$R" --catalog "$C"
ok_cmd "backup 4, nothing held" bfs backup -q -r "$R" --catalog "$C" --id b4 \
	--files "$S"
ok_cmd "  restore backup 4" bfs restore -q -r "$R" --catalog "$C" b4 \
	--target "$T/o4"
ok_cmd "  equals the source" compare_trees "$S" "$T/o4/files"

touch -d '2025-01-02 03:04:08' "$S/race/c-changed"
hold a-hold "rm '$S/race/m-gone'" b5
is "$(cat "$T/rc")" 3 "backup 5 with race/m-gone removed before its stat: exit 3"
like "$(cat "$T/stderr.hold")" "race/m-gone.*cannot stat: No such file" \
	"  race/m-gone: cannot stat"
ok_cmd "  show b5" bfs show --json -r "$R" --catalog "$C" b5
like "$(jq -r '.unreadable[] | .path + ": " + .error' "$T/stdout")" \
	'race/m-gone: cannot stat: No such file or directory' \
	"  listed unreadable: cannot stat"
ok_cmd "  restore backup 5" bfs restore -q -r "$R" --catalog "$C" b5 \
	--target "$T/o5"
# race's mtime is that of its stat, before m-gone went
touch -r "$T/o5/files/race" "$S/race"
ok_cmd "  equals the source (race's mtime: before m-gone went)" \
	compare_trees "$S" "$T/o5/files"

# more names than the last backup had below them: d1 .. d4 are compared
# (and stat'ed ahead) now, and walked (their subdirectory)
for d in d1 d1/d2 d1/d2/d3 d1/d2/d3/d4; do
	mkfiles "$S/deep/$d" n 4085
done
touch -d '2025-01-02 03:04:06' "$DEEP/d5/e00007" "$S/big/f04150"
ok_cmd "backup 6: 4,085 files more in each of deep/d1 .. d4, one of d5 and big/f04150 changed" \
	$STRACE -e trace=newfstatat,statx -o "$T/trace6" "$BACKUPFS" backup -q \
	-r "$R" --catalog "$C" --id b6 --files "$S"
for d in d1 d1/d2 d1/d2/d3 d1/d2/d3/d4; do
	is "$(stats_of "$T/trace6" "$S/deep/$d")" 4096 \
		"  deep/$d: each of its 4,096 names stat'ed once"
done
is "$(stats_of "$T/trace6" "$DEEP/d5")" 80 \
	"  deep/.../d5: past what the frames may hold, its 40 names stat'ed twice"
is "$(stats_of "$T/trace6" "$S/big")" "$NBIG" \
	"  big: each name stat'ed once (f04096 .. f04150 by the comparison)"
is "$(twice "$T/trace6" "$S/big")" 0 "  big: none twice"
ok_cmd "  the same tree into the fresh repository" bfs backup -q \
	-r "$T/fresh" --catalog "$T/fresh.db" --id f6 --files "$S"
is "$(root_of "$R" b6)" "$(root_of "$T/fresh" f6)" "  the same root"
ok_cmd "check" bfs check -r "$R" --catalog "$C"

done_testing
