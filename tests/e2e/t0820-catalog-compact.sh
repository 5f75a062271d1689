#!/bin/bash
# Catalog compaction (catalog/catalog_compact.c): `backupfs catalog
# compact` writes the catalog anew with trees and runs numbered in the
# order of a walk of the backups, newest first, so that the newest
# backup's rows lie together.  Checked on four backups of a tree with
# changes in different directories, a hardlink, a symlink, a dump with a
# table map (dump.sql.d) and a file whose chunk list is stored in pieces:
# - nothing a reader sees changes: `ls -l -R` of every backup, and through
#   a mount every path's inode number, type, size and mtime and every
#   file's bytes, are the same before and after;
# - the layout: the newest backup's root is tree 1 and its runs are runs
#   1..n, each run once, in the order of its walk; meta.layout_runs is the
#   number of runs; the file is a new one (inode) with the same file id
#   (the numbering of backups, hence of inodes, is the same);
# - a damaged directory (trees.error) stays damaged, with its reason;
# - a directory entry naming a tree the catalog lacks: compaction refuses,
#   naming it, and the file stays as it was;
# - with a mount up (it holds the catalog open) compact fails, saying why,
#   and changes nothing; so it does with another program's connection
#   open (no lock file: its lock on the -shm shows it), naming its pid;
# - automatic: a backup compacts when the runs added since the last
#   compaction (since a rebuild: all) reach a quarter
#   (BFS_CATALOG_COMPACT_MIN lowered for the test), and not when they do
#   not;
# - a reader started while a compaction holds the file (paused between
#   build and rename: BFS_CATALOG_COMPACT_PAUSE_MS) waits, says so
#   naming the compacting process (its pid, noted in PATH-lock and
#   emptied when it is done) and again while it waits (every minute;
#   BFS_CATALOG_WAIT_NOTE_MS shortens it), and lists the right thing;
# - a compaction killed (SIGKILL) after its build leaves the old file as
#   it was and a stale PATH-compact, which the next compaction replaces.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt
C=$T/cat.db

# q SQL: one value from the catalog
q() { db_value "$C" "$1"; }

# layout: "ok" when the newest backup's root is tree 1 and its runs, in
# walk order (breadth first from the root, each tree's runs by slot),
# are 1, 2, ..., n with n = the runs it reaches; else what is wrong
layout() {
	"$BFS_PYTHON" - "$C" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
root = db.execute("SELECT root_tree FROM backups"
                  " ORDER BY time_ns DESC, name DESC LIMIT 1").fetchone()[0]
if root != 1:
    print("newest root is tree %d" % root); sys.exit()
queue, seen, runs = [root], {root}, []
i = 0
while i < len(queue):
    t = queue[i]; i += 1
    for (run,) in db.execute("SELECT run FROM tree_runs WHERE tree = ?"
                             " ORDER BY slot0", (t,)):
        if run not in runs:
            runs.append(run)
        for (c,) in db.execute("SELECT child FROM entries WHERE run = ?"
                               " AND child IS NOT NULL ORDER BY idx",
                               (run,)):
            if c not in seen:
                seen.add(c); queue.append(c)
if sorted(queue) != list(range(1, len(queue) + 1)):
    print("its trees are not 1..%d" % len(queue)); sys.exit()
if runs != list(range(1, len(runs) + 1)):
    print("its runs are not 1..%d in walk order" % len(runs)); sys.exit()
print("ok")
PY
}

# snapshot NAME: ls -l -R of every backup, and through a fresh mount
# every path's inode, type, size, mtime and every file's md5
snapshot() {
	local b
	for b in b1 b2 b3 b4; do
		bfs ls -r "$R" --catalog "$C" -l -R "$b:" >>"$T/$1.ls" 2>&1
	done
	mount_repo "$R" "$M" -o "catalog=$C" || return 1
	(cd "$M" && find b1 b2 b3 b4 -printf '%i %y %s %T@ %p\n' |
		LC_ALL=C sort -k5) >"$T/$1.find"
	(cd "$M" && find b1 b2 b3 b4 -type f -print0 | LC_ALL=C sort -z |
		xargs -0 md5sum) >"$T/$1.md5"
	unmount "$M"
}

# a tree of 12 directories of 40 files, one with a subdirectory; a dump
# with a table map; a file whose chunk list goes into pieces
mkdir -p "$S/files" "$S/files/d05/sub"
for d in $(seq -w 0 11); do
	mkdir -p "$S/files/d$d"
	for f in $(seq -w 1 40); do echo "d$d f$f" >"$S/files/d$d/f$f"; done
done
for f in 1 2 3; do echo "sub $f" >"$S/files/d05/sub/s$f"; done
ln "$S/files/d01/f01" "$S/files/d02/hard"
ln -s ../d01/f02 "$S/files/d03/link"
cat >"$S/files/dump.sql" <<'SQL'
--
-- PostgreSQL database dump
--

SET client_encoding = 'UTF8';

--
-- Name: customer; Type: TABLE; Schema: public; Owner: x
--

CREATE TABLE public.customer (id integer NOT NULL, name text);

--
-- Name: film; Type: TABLE; Schema: public; Owner: x
--

CREATE TABLE public.film (id integer NOT NULL, title text);

--
-- Data for Name: customer; Type: TABLE DATA; Schema: public; Owner: x
--

COPY public.customer (id, name) FROM stdin;
1	Ann
2	Bob
\.

--
-- Data for Name: film; Type: TABLE DATA; Schema: public; Owner: x
--

COPY public.film (id, title) FROM stdin;
1	Alien
\.

--
-- PostgreSQL database dump complete
--

SQL
head -c $((24 << 20)) /dev/urandom >"$S/files/big.bin"

export BFS_CATALOG_LENGTH_LIMIT=1200
ok_cmd "init" bfs init "$R"
ok_cmd "backup b1" bfs backup -q -r "$R" --catalog "$C" --id b1 --files "$S/files"
for f in 03 09 17; do echo "b2 $f" >"$S/files/d03/f$f"; done
ok_cmd "backup b2 (d03 changed)" \
	bfs backup -q -r "$R" --catalog "$C" --id b2 --files "$S/files"
for f in 50 51 52; do echo "b3 $f" >"$S/files/d07/f$f"; done
rm "$S/files/d01/f40"
ok_cmd "backup b3 (d07 grew, d01 shrank)" \
	bfs backup -q -r "$R" --catalog "$C" --id b3 --files "$S/files"
echo "b4" >"$S/files/d05/sub/s2"
echo "b4" >"$S/files/d11/f01"
ok_cmd "backup b4 (d05/sub and d11 changed)" \
	bfs backup -q -r "$R" --catalog "$C" --id b4 --files "$S/files"
np=$(q "SELECT count(*) FROM chunk_pieces")
ok $(( np > 0 ? 0 : 1 )) "big.bin's chunk list is in pieces ($np)"
like "$(bfs ls -r "$R" --catalog "$C" b4:files/dump.sql.d 2>&1)" \
	"public.customer.sql" "dump.sql has its table files"

# a damaged directory: d09's tree loses its entries, with a reason
d09=$(q "SELECT e.child FROM entries e WHERE e.name = CAST('d09' AS BLOB) LIMIT 1")
"$BFS_PYTHON" - "$C" "$d09" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE trees SET error = 'test: part missing' WHERE id = ?",
           (int(sys.argv[2]),))
db.execute("DELETE FROM tree_runs WHERE tree = ?", (int(sys.argv[2]),))
db.commit()
PY
bfs ls -r "$R" --catalog "$C" --no-sync b4:files/d09 >"$T/d09.before" 2>&1
like "$(cat "$T/d09.before")" "test: part missing" "d09 is damaged: ls says why"

ok_cmd "snapshot before" snapshot before
fid0=$(q "SELECT value FROM meta WHERE key = 'file_id'")
ino0=$(stat -c %i "$C")
diag "layout before compaction: $(layout)"

ok_cmd "catalog compact" bfs catalog compact -r "$R" --catalog "$C"
like "$(cat "$T/stderr")" "catalog compacted: .* MiB -> .* MiB, [0-9]+ runs" \
	"  it says what it did"
is "$(layout)" "ok" "  the newest backup's trees and runs come first, in walk order"
is "$(q "SELECT value FROM meta WHERE key = 'layout_runs'")" \
	"$(q "SELECT count(*) FROM runs")" "  layout_runs is the number of runs"
is "$(q "SELECT value FROM meta WHERE key = 'file_id'")" "$fid0" \
	"  the same file id"
ino1=$(stat -c %i "$C")
ok $([ "$ino1" != "$ino0" ] && echo 0 || echo 1) "  in a new file"
ok $([ ! -e "$C-compact" ] && echo 0 || echo 1) "  no $C-compact left"
is "$(stat -c %a "$C") $(stat -c %a "$C-lock")" "600 600" \
	"  the catalog and its lock file are private"
is "$(q "SELECT count(*) FROM chunk_pieces")" "$np" "  the pieces are all there"

ok_cmd "snapshot after" snapshot after
ok_cmd "ls -l -R of every backup is the same" cmp "$T/before.ls" "$T/after.ls"
ok_cmd "through the mount: the same inodes, types, sizes, mtimes" \
	cmp "$T/before.find" "$T/after.find"
ok_cmd "through the mount: the same bytes" cmp "$T/before.md5" "$T/after.md5"
n=$(wc -l <"$T/after.find")
ok $(( n > 500 ? 0 : 1 )) "  ($n paths)"
like "$(cat "$T/after.find")" "dump.sql.d/public.customer.sql" \
	"  with the dump's table files"
bfs ls -r "$R" --catalog "$C" --no-sync b4:files/d09 >"$T/d09.after" 2>&1
ok_cmd "d09 is still damaged, with the same message" \
	cmp "$T/d09.before" "$T/d09.after"
ok_cmd "catalog rebuild (repairs d09)" bfs catalog rebuild -r "$R" --catalog "$C"
is "$(bfs ls -r "$R" --catalog "$C" b4:files/d09 | wc -l)" "40" \
	"  d09 lists its 40 files again"
is "$(q "SELECT count(*) FROM meta WHERE key = 'layout_runs'")" "0" \
	"  the rebuilt file (filled oldest backup first) counts as never compacted"

# a mount holds the catalog open: no compaction under it
ok_cmd "mount" mount_repo "$R" "$M" -o "catalog=$C"
fails_with 1 "catalog compact with a mount up fails" \
	bfs catalog compact -r "$R" --catalog "$C"
like "$(cat "$T/stderr")" "open in another process .*not compacted" \
	"  saying why"
is "$(stat -c %i "$C")" "$ino1" "  the file is untouched"
is "$(stat -c %s "$M/b4/files/d11/f01")" "3" "  the mount still reads"
unmount "$M"

# a process that takes no lock (an older backupfs, the sqlite3 shell) with
# the catalog open: its connection's lock on the -shm shows it
"$BFS_PYTHON" - "$C" "$T/held" <<'PY' &
import sqlite3, sys, time, os
db = sqlite3.connect(sys.argv[1])
db.execute("SELECT count(*) FROM meta").fetchone()
open(sys.argv[2], "w").close()
time.sleep(30)
PY
holder=$!
at_exit "kill $holder 2>/dev/null"
for _ in $(seq 1 100); do [ -e "$T/held" ] && break; sleep 0.05; done
fails_with 1 "catalog compact with another program's connection open fails" \
	bfs catalog compact -r "$R" --catalog "$C"
like "$(cat "$T/stderr")" "open in another process \\(pid $holder" \
	"  naming its pid"
kill $holder 2>/dev/null
wait $holder 2>/dev/null
is "$(stat -c %i "$C")" "$ino1" "  the file is untouched"

# automatic: b5 adds a directory of 400 files (~50 runs, more than a
# quarter of the file's); b6 changes one file (a run or two)
mkdir -p "$S/files/new"
for f in $(seq -w 1 400); do echo "new $f" >"$S/files/new/n$f"; done
before_runs=$(q "SELECT count(*) FROM runs")
export BFS_CATALOG_COMPACT_MIN=1
ok_cmd "backup b5 (400 files more)" \
	bfs backup -r "$R" --catalog "$C" --id b5 --files "$S/files"
like "$(cat "$T/stderr")" "backupfs backup: catalog compacted" \
	"  the backup compacted the catalog ($before_runs runs before)"
is "$(layout)" "ok" "  b5's trees and runs come first"
ino2=$(stat -c %i "$C")
echo "b6" >"$S/files/d00/f01"
ok_cmd "backup b6 (one file changed)" \
	bfs backup -r "$R" --catalog "$C" --id b6 --files "$S/files"
unlike "$(cat "$T/stderr")" "compacted" "  no compaction: not due"
is "$(stat -c %i "$C")" "$ino2" "  the same file"
unset BFS_CATALOG_COMPACT_MIN

# a reader waits for a compaction that holds the file
bfs ls -r "$R" --catalog "$C" -R b6:files >"$T/b6.want" 2>&1
BFS_CATALOG_COMPACT_PAUSE_MS=2000 "$BACKUPFS" catalog compact -r "$R" \
	--catalog "$C" >"$T/bg.out" 2>&1 &
bg=$!
for _ in $(seq 1 100); do
	[ -e "$C-compact" ] && break
	sleep 0.05
done
sleep 0.5
BFS_CATALOG_WAIT_NOTE_MS=300 bfs ls -r "$R" --catalog "$C" -R b6:files \
	>"$T/b6.got" 2>"$T/b6.err"
rc=$?
wait $bg
bgrc=$?
ok $(( rc == 0 && bgrc == 0 ? 0 : 1 )) \
	"ls during a compaction works (ls $rc, compact $bgrc)"
like "$(cat "$T/b6.err")" "being compacted by process $bg: waiting" \
	"  it said it was waiting, and for which process"
like "$(cat "$T/b6.err")" "still waiting for process $bg to finish compacting it" \
	"  and said it again while it waited (every minute; 300 ms here)"
is "$(stat -c %s "$C-lock")" 0 "  the compaction emptied its pid from the lock file"
ok_cmd "  and listed the same" cmp "$T/b6.want" "$T/b6.got"

# killed between build and rename: the old file stays whole
ino3=$(stat -c %i "$C")
BFS_CATALOG_COMPACT_PAUSE_MS=20000 "$BACKUPFS" catalog compact -r "$R" \
	--catalog "$C" >"$T/bg.out" 2>&1 &
bg=$!
for _ in $(seq 1 200); do
	[ -e "$C-compact" ] && break
	sleep 0.05
done
sleep 1 # the build of this catalog takes milliseconds: now in the pause
kill -9 $bg
wait $bg 2>/dev/null
ok $([ -e "$C-compact" ] && [ ! -s "$T/bg.out" ] && echo 0 || echo 1) \
	"killed: a stale $C-compact is left"
is "$(stat -c %i "$C")" "$ino3" "  the catalog is the old file"
bfs ls -r "$R" --catalog "$C" -R b6:files >"$T/b6.got" 2>&1
ok_cmd "  and lists the same" cmp "$T/b6.want" "$T/b6.got"
ok_cmd "the next compaction" bfs catalog compact -r "$R" --catalog "$C"
ok $([ ! -e "$C-compact" ] && echo 0 || echo 1) "  replaced the stale file"
bfs ls -r "$R" --catalog "$C" -R b6:files >"$T/b6.got" 2>&1
ok_cmd "  lists the same" cmp "$T/b6.want" "$T/b6.got"

# hostile: a directory entry naming a tree the catalog lacks
ino4=$(stat -c %i "$C")
"$BFS_PYTHON" - "$C" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE entries SET child = 999999 WHERE (run, idx) = (SELECT"
           " run, idx FROM entries WHERE child IS NOT NULL"
           " ORDER BY run DESC LIMIT 1)")
db.commit()
PY
fails_with 1 "compaction of a catalog with a dangling directory fails" \
	bfs catalog compact -r "$R" --catalog "$C"
like "$(cat "$T/stderr")" "1 directory entries name a tree and 0 directories a run the catalog does not have" \
	"  naming what is wrong"
is "$(stat -c %i "$C")" "$ino4" "  the file stays as it was"
ok $([ ! -e "$C-compact" ] && echo 0 || echo 1) "  nothing left beside it"

done_testing
