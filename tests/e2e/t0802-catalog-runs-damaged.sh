#!/bin/bash
# Damaged run rows in the catalog (hostile: the catalog is checked as it
# is read).  A directory's entries are runs placed by tree_runs rows; a
# run's entry deleted, a tree_runs row deleted or shifted, or a run left
# without its entries makes listing that directory fail (ls: an error
# naming the catalog and 'catalog rebuild'; the mount: EIO), never a
# shorter or shifted listing.  A rebuild repairs it.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt
C=$T/cat.db
mkdir -p "$S/big"
for f in $(seq -w 1 300); do echo "file $f" >"$S/big/f$f"; done
echo top >"$S/top"

# sql STATEMENT...: run on the catalog (the directory big's tree is
# $BIG in them)
sql() {
	"$BFS_PYTHON" - "$C" "$@" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
big = db.execute("SELECT child FROM entries WHERE name = CAST('big' AS BLOB)"
                 ).fetchone()[0]
for s in sys.argv[2:]:
    r = db.execute(s.replace("$BIG", str(big))).fetchall()
    if r:
        print(r[0][0])
db.commit()
PY
}

ok_cmd "init" bfs init "$R"
ok_cmd "backup b1" bfs backup -q -r "$R" --catalog "$C" --id b1 --files "$S"
bfs ls -r "$R" --catalog "$C" b1:files/big >"$T/want"
is "$(wc -l <"$T/want")" "300" "big lists 300 files"
nruns=$(sql "SELECT count(*) FROM tree_runs WHERE tree = \$BIG")
ok $(( nruns > 3 ? 0 : 1 )) "  in $nruns runs"
# a copy through SQLite (what is still in the -wal file included)
"$BFS_PYTHON" -c 'import sqlite3, sys
s = sqlite3.connect(sys.argv[1]); d = sqlite3.connect(sys.argv[2])
s.backup(d); d.close(); s.close()' "$C" "$T/good.db"

# damage KIND SQL...: damage a copy of the good catalog, then ls and the
# mount must fail on big, never list it short.  Each copy is a new file:
# a catalog overwritten in place, its -wal and -shm deleted, while the
# last step's mount daemon was still closing it mixed the two (SQLite's
# files must not change under an open connection; unmount now also waits
# for the daemon to exit).
ncopy=0
damage() {
	local what=$1
	shift
	ncopy=$((ncopy + 1))
	C=$T/cat-$ncopy.db
	cp "$T/good.db" "$C"
	sql "$@" >/dev/null
	fails_with 1 "$what: ls of big fails" \
		bfs ls -r "$R" --catalog "$C" --no-sync b1:files/big
	like "$(cat "$T/stderr")" "damaged in the catalog.*catalog rebuild" \
		"  naming the catalog and the way out"
	is "$(cat "$T/stdout")" "" "  and lists nothing"
	ok_cmd "  mount" mount_repo "$R" "$M" --catalog "$C"
	ls "$M/b1/files/big" >"$T/ls.out" 2>"$T/ls.err"
	ok "$([ $? -ne 0 ]; echo $?)" "  ls through the mount fails"
	like "$(cat "$T/ls.err")" "Input/output error" "  with EIO"
	is "$(cat "$M/b1/files/top")" "top" "  the rest of the backup reads"
	unmount "$M"
}

damage "an entry of a run deleted" \
	"DELETE FROM entries WHERE run = (SELECT run FROM tree_runs
	  WHERE tree = \$BIG ORDER BY slot0 LIMIT 1 OFFSET 2) AND idx = 0"
damage "a tree_runs row deleted" \
	"DELETE FROM tree_runs WHERE tree = \$BIG AND slot0 =
	  (SELECT slot0 FROM tree_runs WHERE tree = \$BIG ORDER BY slot0
	   LIMIT 1 OFFSET 1)"
damage "a run's place shifted" \
	"UPDATE tree_runs SET pre0 = pre0 + 1 WHERE tree = \$BIG AND slot0 =
	  (SELECT max(slot0) FROM tree_runs WHERE tree = \$BIG)"
damage "a run without its entries" \
	"DELETE FROM entries WHERE run = (SELECT run FROM tree_runs
	  WHERE tree = \$BIG ORDER BY slot0 DESC LIMIT 1)"

ok_cmd "catalog rebuild" bfs catalog rebuild -r "$R" --catalog "$C"
ok_cmd "ls of big" bfs ls -r "$R" --catalog "$C" b1:files/big
cp "$T/stdout" "$T/got"
ok_cmd "  lists as before" cmp "$T/got" "$T/want"
done_testing
