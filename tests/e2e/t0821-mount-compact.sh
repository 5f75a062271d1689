#!/bin/bash
# A long-running mount compacts the catalog itself (fuse/mount.c,
# compact_round): a mount holds the catalog open for as long as it is up,
# so neither `backup` nor `catalog compact` can compact under it.  Once a
# compaction is due and no request used the catalog for a while
# (BFS_MOUNT_COMPACT_IDLE_MS, 1 s here), the mount's sync thread closes
# every connection of the process, compacts, and the requests go on on
# the new file.  Checked on a mount up from the first backup on (sync
# every 0.2 s; BFS_CATALOG_COMPACT_MIN=1, BFS_CATALOG_COMPACT_PAUSE_MS
# holding each compaction for 3 s before its rename):
# - another program holding the catalog open (python's sqlite3, no lock
#   file: its -shm lock shows it) makes the compaction impossible: the
#   mount logs why, once (it retries after 2 s, 4 s, ... and logs a miss
#   only when its reason changed; a first miss may be the backup that
#   just ingested its manifest, still closing), and serves;
# - a backup with it gone makes the catalog change: the backup's own
#   compaction is skipped (the mount holds the catalog), the mount
#   compacts within seconds of idleness (its log line; the catalog file's
#   inode changed, the same file id; meta.layout_runs set);
# - through the same, still-mounted FS: listings with inode numbers,
#   sizes, mtimes, and every file's md5, equal those taken before;
# - a file opened (and partly read) before the compaction reads the right
#   bytes after it; a directory opened before and read after lists the
#   same names;
# - a find started while the mount compacts (in its 3 s pause) waits for
#   it and completes with the right listing;
# - the mount never took its compacted file for a replacement;
# - a dump stored as deltas read through the mount before (its bases
#   located in the catalog) does not keep a connection that would stop
#   the compaction (the repository's locate hook is the mount's own,
#   mnt_locate, under the catalog scope).
# Main's binary never compacts while mounted: it fails the checks of the
# compaction's log line and the new inode.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt
C=$T/cat.db
LOG=$T/mount.log
NDIR=20
NFILE=200
[ "${CI:-}" = true ] && NDIR=8 && NFILE=30

# q SQL: one value from the catalog
q() { db_value "$C" "$1"; }

# mkdir_files DIR N TAG: N small files in DIR
mkdir_files() {
	local f
	mkdir -p "$1"
	for f in $(seq -w 1 "$2"); do echo "$3 $f" >"$1/f$f"; done
}

# snapshot NAME BACKUPS...: through the mount, every path's inode, type,
# size, mtime, and every file's md5
snapshot() {
	local name=$1
	shift
	(cd "$M" && find "$@" -printf '%i %y %s %T@ %p\n' |
		LC_ALL=C sort -k5) >"$T/$name.find"
	(cd "$M" && find "$@" -type f -print0 | LC_ALL=C sort -z |
		xargs -0 md5sum) >"$T/$name.md5"
}

# count_log RE: lines of the mount's log matching RE
count_log() {
	grep -cE -- "$1" "$LOG" || true
}

# log_has RE: the mount's log has a line matching RE (for wait_until)
log_has() {
	[ "$(count_log "$1")" -ge 1 ]
}

for d in $(seq -f %02g 1 "$NDIR"); do
	mkdir_files "$S/files/d$d" "$NFILE" "d$d"
done
head -c $((8 << 20)) /dev/urandom >"$S/files/big.bin"
ls "$S/files/d03" >"$T/d03.want"
big_md5=$(md5sum <"$S/files/big.bin" | cut -d' ' -f1)

export BFS_CATALOG_COMPACT_MIN=1
ok_cmd "init" bfs init "$R"
ok_cmd "backup b1 (compacts: the mount is not up yet)" \
	bfs backup -r "$R" --catalog "$C" --id b1 --files "$S/files"
# a dump backed up twice: the second stored as deltas, whose bases a read
# through the mount locates in the catalog
"$BFS_PYTHON" - "$T/d1" "$T/d2" <<'PY' || bail_out "cannot make the dumps"
import random, sys
r = random.Random(5)
d = bytearray(r.randbytes(6 << 20))
open(sys.argv[1], "wb").write(d)
for k in range(12):
    p = r.randrange(len(d) - 100)
    d[p:p + 20] = b"CHANGED-ROW-%08d" % k
open(sys.argv[2], "wb").write(d)
PY
ok_cmd "backup s1 (a dump)" bfs backup -q -r "$R" --catalog "$C" --id s1 \
	--stdin database.sql <"$T/d1"
ok_cmd "backup s2 (the dump changed: deltas)" bfs backup -q -r "$R" \
	--catalog "$C" --id s2 --stdin database.sql <"$T/d2"
d2_md5=$(md5sum <"$T/d2" | cut -d' ' -f1)
base=$(q "SELECT value FROM meta WHERE key = 'layout_runs'")
ok $([ -n "$base" ] && echo 0 || echo 1) "  layout_runs: $base"
BFS_MOUNT_COMPACT_IDLE_MS=1000 BFS_CATALOG_COMPACT_PAUSE_MS=3000 \
	ok_cmd "mount -v (sync every 0.2 s, compaction after 1 s idle)" \
	mount_repo_fg "$R" "$M" "$LOG" -o "catalog=$C" --sync-interval 0.2 -v
ino0=$(stat -c %i "$C")
fid0=$(q "SELECT value FROM meta WHERE key = 'file_id'")
# the delta bases are located through the catalog: on the mount's own
# connections (mnt_locate), none of which a compaction has to wait for
is "$(md5sum <"$M/s2/database.sql" | cut -d' ' -f1)" "$d2_md5" \
	"s2's dump (deltas) reads right through the mount"

# another program holds the catalog open: no compaction possible
"$BFS_PYTHON" - "$C" "$T/held" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("SELECT count(*) FROM meta").fetchone()
open(sys.argv[2], "w").close()
time.sleep(120)
PY
holder=$!
at_exit "kill $holder 2>/dev/null"
wait_until 10 test -e "$T/held"

# b2 doubles the tree: due (its runs added >= a quarter of b1's)
for d in $(seq -f %02g 1 "$NDIR"); do
	mkdir_files "$S/files/n$d" "$NFILE" "n$d"
done
ok_cmd "backup b2 (twice the files)" \
	bfs backup -r "$R" --catalog "$C" --id b2 --files "$S/files"
unlike "$(cat "$T/stderr")" "compacted" \
	"  b2 did not compact (the mount holds the catalog)"
is "$(stat -c %i "$C")" "$ino0" "  the same file"

busy_re="not compacted while mounted: .*open in another process \\(pid $holder"
wait_until 20 log_has "$busy_re"
is "$(count_log "$busy_re")" "1" \
	"the mount tried to compact and said why not (pid $holder)"
sleep 3 # 15 sync rounds, idle: attempts back off (2 s, 4 s, ...)
is "$(count_log "$busy_re")" "1" \
	"  and said it once (the same reason is not logged again)"
is "$(stat -c %i "$C")" "$ino0" "  the file is untouched"
ok_cmd "  the mount serves: snapshot of b1 and b2" snapshot before b1 b2
n=$(wc -l <"$T/before.find")
ok $((n > 2 * NDIR * NFILE ? 0 : 1)) "  ($n paths)"

# a file and a directory opened before the compaction, read after it
"$BFS_PYTHON" - "$M" "$T/open.ready" "$T/open.go" "$T/open.out" <<'PY' &
import hashlib, os, sys, time
mnt, ready, go, out = sys.argv[1:5]
f = open(mnt + "/b1/files/big.bin", "rb", buffering=0)
h = hashlib.md5(f.read(1 << 20))
dfd = os.open(mnt + "/b1/files/d03", os.O_RDONLY | os.O_DIRECTORY)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
while True:
    b = f.read(1 << 20)
    if not b:
        break
    h.update(b)
with open(out, "w") as o:
    o.write(h.hexdigest() + "\n")
    o.write("\n".join(sorted(os.listdir(dfd))) + "\n")
PY
opener=$!
at_exit "kill $opener 2>/dev/null"
ok_cmd "a file and a directory opened" wait_until 10 test -e "$T/open.ready"

kill $holder 2>/dev/null
wait $holder 2>/dev/null
echo b3 >"$S/files/d01/f01"
ok_cmd "backup b3 (one file; the catalog changed)" \
	bfs backup -r "$R" --catalog "$C" --id b3 --files "$S/files"
unlike "$(cat "$T/stderr")" "compacted" \
	"  b3 did not compact (the mount holds the catalog)"
done_re="catalog '.*' compacted while mounted: .* MiB -> .* MiB, [0-9]+ runs"
wait_until 30 log_has "$done_re"
is "$(count_log "$done_re")" "1" "the mount compacted the catalog"
diag "$(grep -E "compacted while mounted" "$LOG")"
ino1=$(stat -c %i "$C")
ok $([ "$ino1" != "$ino0" ] && echo 0 || echo 1) "  a new file (inode)"
is "$(q "SELECT value FROM meta WHERE key = 'file_id'")" "$fid0" \
	"  the same file id"
is "$(q "SELECT value FROM meta WHERE key = 'layout_runs'")" \
	"$(q "SELECT count(*) FROM runs")" "  layout_runs is the number of runs"
ok $([ ! -e "$C-compact" ] && echo 0 || echo 1) "  no $C-compact left"
is "$(find /proc/"$MOUNT_PID"/fd -lname '*cat.db* (deleted)' | wc -l)" "0" \
	"  the mount keeps no descriptor of the old file (its blocks are freed)"

touch "$T/open.go"
wait $opener
is "$(head -n 1 "$T/open.out" 2>/dev/null)" "$big_md5" \
	"a file opened before the compaction reads the right bytes after it"
ok_cmd "a directory opened before lists the same after" \
	cmp <(tail -n +2 "$T/open.out") "$T/d03.want"
is "$(wc -l <"$T/d03.want")" "$NFILE" "  ($NFILE names)"

ok_cmd "snapshot of b1 and b2 after, through the same mount" \
	snapshot after b1 b2
ok_cmd "  the same inodes, types, sizes, mtimes" \
	cmp "$T/before.find" "$T/after.find"
ok_cmd "  the same bytes" cmp "$T/before.md5" "$T/after.md5"
ok_cmd "b3 lists as its source" \
	cmp <(tree_listing "$M/b3/files") <(tree_listing "$S/files")

# a find while the mount compacts: b4 adds as many files again (due),
# the compaction pauses 3 s before its rename, a find starts then
for d in $(seq -f %02g 1 "$NDIR"); do
	mkdir_files "$S/files/m$d" "$((2 * NFILE))" "m$d"
done
ok_cmd "backup b4 (as many files again)" \
	bfs backup -r "$R" --catalog "$C" --id b4 --files "$S/files"
ok_cmd "a compaction starts (its new file is being built)" \
	wait_until 30 test -e "$C-compact"
sleep 0.3
t0=$(date +%s%N)
(cd "$M" && find b1 b2 -printf '%i %y %s %T@ %p\n' | LC_ALL=C sort -k5) \
	>"$T/during.find"
rc=$?
tree_listing "$M/b4/files" >"$T/b4.got"
rc2=$?
t1=$(date +%s%N)
ok $((rc == 0 && rc2 == 0 ? 0 : 1)) \
	"finds during the compaction complete ($(((t1 - t0) / 1000000)) ms)"
is "$(count_log "$done_re")" "2" "  the mount compacted meanwhile"
ok $(((t1 - t0) / 1000000 >= 1000 ? 0 : 1)) \
	"  they waited for it (the compaction paused 3 s)"
ok_cmd "  b1 and b2 list the same inodes, types, sizes, mtimes" \
	cmp "$T/before.find" "$T/during.find"
ok_cmd "  b4 lists as its source" cmp "$T/b4.got" <(tree_listing "$S/files")
ino2=$(stat -c %i "$C")
ok $([ "$ino2" != "$ino1" ] && echo 0 || echo 1) "  a new file again"

is "$(count_log "replaced while mounted|cannot open|error:")" "0" \
	"the mount never took the compacted file for a replacement"
ok_cmd "unmount" unmount "$M"
wait_until 10 sh -c "! kill -0 $MOUNT_PID 2>/dev/null"
is "$(count_log "AddressSanitizer|runtime error|LeakSanitizer")" "0" \
	"the mount exited clean"

done_testing
