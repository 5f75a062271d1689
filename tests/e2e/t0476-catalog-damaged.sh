#!/bin/bash
# A damaged catalog file (issue 13 item 7): garbage written over it, the
# file truncated, or zero-filled.  Commands fail naming the file and
# suggesting 'backupfs catalog rebuild'; catalog rebuild replaces the file
# (saying so, and keeping the unreadable file aside as FILE.damaged) and
# everything works again; a file that is a database but
# not a catalog is never removed.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd jq jq

R=$T/repo
C=$T/cat.db
ok_cmd "init" bfs init "$R"
for i in 1 2 3; do
	bfs backup -q -r "$R" --catalog "$C" --id "b$i" \
		--command "f$i.txt=seq 1 $((i * 50000))" || bail_out "backup b$i"
done
is "$(bfs_ids -r "$R" --catalog "$C" | tr '\n' ' ')" "b1 b2 b3 " "three backups"
size=$(stat -c %s "$C")
diag "catalog: $size bytes"

damage() {
	case $1 in
	garbage) head -c "$size" /dev/urandom >"$C" ;;
	truncated) truncate -s $((size / 2)) "$C" ;;
	zeros) head -c "$size" /dev/zero >"$C" ;;
	esac
	rm -f "$C-wal" "$C-shm"
}

for kind in garbage truncated zeros; do
	bfs catalog sync -q -r "$R" --catalog "$C" >/dev/null 2>&1 # checkpoint
	damage $kind
	bfs list -r "$R" --catalog "$C" >"$T/stdout" 2>"$T/stderr"
	rc=$?
	if [ $kind = truncated ] && [ $rc -eq 0 ]; then
		# SQLite may read what is left of a truncated file; then a
		# command that needs the missing pages fails
		bfs show -r "$R" --catalog "$C" b1 >"$T/stdout" 2>"$T/stderr"
		rc=$?
	fi
	if [ $rc -ne 0 ]; then
		is "$rc" 1 "$kind: list fails with 1"
		like "$(cat "$T/stderr")" "catalog rebuild" \
			"$kind: the error suggests 'backupfs catalog rebuild'"
		like "$(cat "$T/stderr")" "cat\\.db" "$kind: and names the file"
	else
		ok 0 "$kind: SQLite still read the truncated file (no error)"
	fi
	ok_cmd "$kind: catalog rebuild" bfs catalog rebuild -r "$R" --catalog "$C"
	like "$(cat "$T/stdout")" "catalog: 3 added" "$kind: all three backups ingested"
	is "$(bfs_ids -r "$R" --catalog "$C" | tr '\n' ' ')" "b1 b2 b3 " \
		"$kind: list works again"
	is "$(bfs cat -r "$R" --catalog "$C" b3:f3.txt | wc -l)" 150000 \
		"$kind: a file reads"
done
ok_cmd "rebuild of a good catalog" bfs catalog rebuild -r "$R" --catalog "$C"
unlike "$(cat "$T/stderr")" "moving it aside" "a good catalog is not replaced"
# the garbage case says what it does, and keeps the file aside
damage garbage
cp "$C" "$T/garbage"
ok_cmd "catalog rebuild of garbage" bfs catalog rebuild -r "$R" --catalog "$C"
like "$(cat "$T/stderr")" "moving it aside to '.*cat\.db\.damaged' and building it again" \
	"rebuild says it replaces the file"
ok "$(cmp -s "$T/garbage" "$C.damaged"; echo $?)" \
	"the unreadable file is kept as it was (--catalog may have named the wrong file)"

# ---- a database that is not a catalog is not touched
O=$T/other.db
sqlite3 "$O" "CREATE TABLE mine(x); INSERT INTO mine VALUES(42);" 2>/dev/null ||
	python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('CREATE TABLE mine(x)'); c.execute('INSERT INTO mine VALUES(42)'); c.commit()" "$O"
fails_with 1 "rebuild refuses another database" bfs catalog rebuild -r "$R" --catalog "$O"
like "$(cat "$T/stderr")" "not a backupfs catalog" "and says why"
ok "$([ -s "$O" ]; echo $?)" "the other database is still there"

# ---- a catalog under its old name (before catalogs were keyed by
# location: <repo id>.db) is removed, not left with the names on disk
export XDG_CACHE_HOME=$T/xdg
id=$(sed -n 's/.*"id":"\([0-9a-f]\{64\}\)".*/\1/p' "$R/config")
ok "$([ ${#id} -eq 64 ]; echo $?)" "the repository id from its config"
mkdir -p "$XDG_CACHE_HOME/backupfs"
echo "old catalog" >"$XDG_CACHE_HOME/backupfs/$id.db"
echo "old wal" >"$XDG_CACHE_HOME/backupfs/$id.db-wal"
echo "another repository's" >"$XDG_CACHE_HOME/backupfs/$(printf '%064d' 0).db"
ok_cmd "list -v with the default catalog" bfs list -v -r "$R"
like "$(cat "$T/stderr")" "removed the catalog under its old name" "list says it removed the old catalog"
ok "$([ ! -e "$XDG_CACHE_HOME/backupfs/$id.db" ] && [ ! -e "$XDG_CACHE_HOME/backupfs/$id.db-wal" ]; echo $?)" \
	"the old catalog and its -wal are gone"
ok "$([ -e "$XDG_CACHE_HOME/backupfs/$(printf '%064d' 0).db" ]; echo $?)" \
	"another repository's file is not touched"
is "$(ls "$XDG_CACHE_HOME/backupfs" | grep -c "^$id-[0-9a-f]\{16\}\.db\$")" 1 \
	"the catalog under its name keyed by location is there"

done_testing
