#!/bin/bash
# Catalog runs (issue 8): many backups of a tree whose directories each
# change a little.  A directory's entries are stored in content-defined
# runs shared between its versions, so every backup adds a small bounded
# number of entry rows (the runs holding what changed), not its changed
# directories whole; and every backup still lists, stats and reads as
# its source was, through `ls -R` and through the mount; inode numbers
# stay the same across a remount, and the entries' numbers (the low 40
# bits) across a catalog rebuild.
# CI: 6 backups of 4 x 400 files; locally 25 backups.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt
C=$T/cat.db
DIRS=4 PER=400 ROUNDS=25
[ "${CI:-}" = true ] && ROUNDS=6
RUN_MAX=32 # catalog/catalog_runs.h CAT_RUN_MAX

for d in $(seq 1 $DIRS); do
	mkdir -p "$S/d$d/sub"
	for f in $(seq -w 1 $PER); do
		echo "d$d f$f" >"$S/d$d/f$f"
	done
	echo "sub of d$d" >"$S/d$d/sub/x"
done
ln -s d1/f001 "$S/link"

# rows of table $1 in the catalog
rows() {
	"$BFS_PYTHON" - "$C" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT count(*) FROM " + sys.argv[2]).fetchone()[0])
PY
}
# a tree as find sees it: "path type size mtime(s) mode" (a directory's
# size is the file system's own: left out)
snap() {
	(cd "$1" &&
		find . -mindepth 1 -printf '%P %y %s %TY-%Tm-%Td_%TT %m\n' |
		sed 's/\.[0-9]* / /' | awk '$2 == "d" { $3 = 0 } 1' |
		LC_ALL=C sort)
}

ok_cmd "init" bfs init "$R"
ok_cmd "backup b01" bfs backup -q -r "$R" --catalog "$C" --id b01 --files "$S"
snap "$S" >"$T/snap.b01"
(cd "$S" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs md5sum) \
	>"$T/md5.b01"
e1=$(rows entries)
ok $(( e1 >= DIRS * (PER + 2) ? 0 : 1 )) "b01: $e1 entry rows"

bad_growth= bad_ls=
for k in $(seq 2 "$ROUNDS"); do
	id=$(printf 'b%02d' "$k")
	# 3 files in 2 directories change, a different place every round
	for j in 1 2 3; do
		d=$(( (k + j / 3) % DIRS + 1 ))
		f=$(printf '%03d' $(( (k * 37 + j * 101) % PER + 1 )))
		echo "round $k $j" >>"$S/d$d/f$f"
	done
	before=$(rows entries)
	bfs backup -q -r "$R" --catalog "$C" --id "$id" --files "$S" ||
		bad_growth+=" $id:backup-failed"
	grown=$(( $(rows entries) - before ))
	# the runs of 3 files, of 2 directory lines in the top directory and
	# of the top directory's line in the root: at most 6 runs
	[ "$grown" -le $(( 6 * RUN_MAX )) ] || bad_growth+=" $id:+$grown"
	snap "$S" >"$T/snap.$id"
	bfs ls -R -l -r "$R" --catalog "$C" --no-sync "$id:files" \
		>"$T/ls.$id" || bad_ls+=" $id"
	# ls -R lists every path once, like find
	[ "$(grep -c . "$T/ls.$id")" = "$(grep -c . "$T/snap.$id")" ] ||
		bad_ls+=" $id:count"
done
is "$bad_growth" "" "every backup added at most $((6 * RUN_MAX)) entry rows"
is "$bad_ls" "" "ls -R of every backup lists as many paths as its source"
en=$(rows entries)
ok $(( en - e1 <= (ROUNDS - 1) * 6 * RUN_MAX && en < 2 * e1 ? 0 : 1 )) \
	"$ROUNDS backups: $en entry rows, $e1 after the first"

ok_cmd "mount" mount_repo "$R" "$M" --catalog "$C"
bad=
for k in $(seq 1 "$ROUNDS"); do
	id=$(printf 'b%02d' "$k")
	cmp -s <(snap "$M/$id/files") "$T/snap.$id" || bad+=" $id"
done
is "$bad" "" "every backup through the mount: names, sizes, mtimes, modes"
diag "$(diff <(snap "$M/b01/files") "$T/snap.b01" | head -5)"
is "$(cd "$M/b01/files" && md5sum -c --quiet "$T/md5.b01" 2>&1)" "" \
	"b01's files read back"
last=$(printf 'b%02d' "$ROUNDS")
(cd "$S" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs md5sum) \
	>"$T/md5.last"
is "$(cd "$M/$last/files" && md5sum -c --quiet "$T/md5.last" 2>&1)" "" \
	"$last's files read back"
is "$(readlink "$M/$last/files/link")" "d1/f001" "a symlink"
is "$(find "$M/b02/files" | wc -l)" "$(grep -c . "$T/snap.b02" | xargs expr 1 +)" \
	"find through the mount"
inodes() { (cd "$M" && find . -printf '%i %P\n' | LC_ALL=C sort -k2); }
inodes >"$T/ino.1"
is "$(cut -d' ' -f1 "$T/ino.1" | sort | uniq -d | head -3)" "" \
	"inode numbers are unique"
ok_cmd "unmount" unmount "$M"

ok_cmd "remount" mount_repo "$R" "$M" --catalog "$C"
inodes >"$T/ino.2"
ok_cmd "  the same inode numbers" cmp "$T/ino.1" "$T/ino.2"
unmount "$M"

ok_cmd "catalog rebuild" bfs catalog rebuild -r "$R" --catalog "$C"
is "$(rows entries)" "$en" "  the same entry rows"
ok_cmd "mount the rebuilt catalog" mount_repo "$R" "$M" --catalog "$C"
inodes >"$T/ino.3"
# a rebuild numbers the backups afresh (a backup number is never reused
# in one catalog file), the entries keep theirs: (backup << 40) | pre
low() {
	local ino path
	while read -r ino path; do
		echo "$((ino & 0xffffffffff)) $path"
	done <"$1"
}
ok_cmd "  the same entry numbers in every backup" \
	cmp <(low "$T/ino.1") <(low "$T/ino.3")
cmp -s <(snap "$M/$last/files") "$T/snap.$last"
ok $? "  $last lists as its source"
unmount "$M"

# dropping backups collects the runs only they used
ok_cmd "forget all but the last" bfs forget -q -r "$R" --catalog "$C" \
	$(for k in $(seq 1 $((ROUNDS - 1))); do printf 'b%02d ' "$k"; done)
ok_cmd "catalog sync" bfs catalog sync -r "$R" --catalog "$C"
el=$(rows entries)
ok $(( el <= e1 ? 0 : 1 )) "  one backup's rows remain ($el, b01 had $e1)"
is "$(rows "runs WHERE id NOT IN (SELECT run FROM tree_runs)")" "0" \
	"  no run without a tree"
is "$(rows "entries WHERE run NOT IN (SELECT id FROM runs)")" "0" \
	"  no entry without its run"
is "$(bfs ls -R -r "$R" --catalog "$C" "$last:files" | wc -l)" \
	"$(grep -c . "$T/snap.$last")" "  $last still lists whole"
done_testing
