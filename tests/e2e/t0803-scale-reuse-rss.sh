#!/bin/bash
# Scale leftovers of issue 8: three backups of a tree with unchanged,
# changed and touched-but-same files, and a first backup's memory.
#
# - The backup's index is cut into several index objects (pack_size 1 MiB
#   and BFS_INDEX_OBJ_BYTES=1024: one object per pack), each handed to the
#   catalog as it is stored, the writer's chunk set emptied: check passes,
#   every restore equals its source, no blob is stored twice.
# - Backup 2: a file rewritten with the same size and its old mtime put
#   back (only its ctime tells), a file replaced by another of the same
#   size and mtime (a new inode), a file touched but the same bytes, one
#   new file, one removed; backup 3: nothing changed but one touch.  With
#   strace: an unchanged file is never opened, a changed one always is.
# - Peak RSS (wait4's ru_maxrss) of the first backup of N files minus that
#   of 1,000 files stays under 40 MiB + 120 bytes per file (N = 200,000;
#   CI: 20,000): 32 MiB are the catalog's SQLite page cache (cache_size in
#   catalog/catalog.c), which fills as the backup is ingested; the bytes
#   per file are the writer's path set (~33 bytes per slot at 50-87 %
#   load, transiently 1.5x while it grows).  Before the index objects were
#   cut, the index text (~85 bytes per blob, in a doubling buffer) and the
#   chunk set (~57 bytes per slot) added ~250 bytes per file on top: about
#   100 MiB over 1,000 files' at 200,000 files, against a bound of 63.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
S=$T/src
C=$T/cat.db
N=200000
[ "${CI:-}" = true ] && N=20000

# mk DIR NFILES: NFILES small files (0-3 KiB, 1 in 8 identical) in
# directories of 1,000
mk() {
	"$BFS_PYTHON" - "$1" "$2" <<'PY'
import os, sys, random
top, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(n)
for i in range(n):
    d = os.path.join(top, "d%03d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    if i % 8 == 0:
        data = b"same content\n" * 40
    else:
        data = rnd.randbytes(rnd.randrange(0, 3072))
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(data)
PY
}

mkdir -p "$S"
mk "$S" 3000
mkdir -p "$S/e"
printf 'hello\n' >"$S/e/same-mtime"
printf 'world\n' >"$S/e/replaced"
printf 'touch\n' >"$S/e/touched"
printf 'keep\n' >"$S/e/kept"
printf 'gone\n' >"$S/e/removed"
touch -d '2025-01-02 03:04:05' "$S/e/same-mtime" "$S/e/replaced"

ok_cmd "init" bfs init "$R"
sed -i 's/"pack_size":[0-9]*/"pack_size":1048576/' "$R/config"
export BFS_INDEX_OBJ_BYTES=1024

ok_cmd "backup 1" bfs backup -q -r "$R" --catalog "$C" --id b1 --files "$S"
nidx=$(find "$R/index" -type f | wc -l)
ok $((nidx >= 3 ? 0 : 1)) "  its index is cut into $nidx index objects"
ok_cmd "  check" bfs check -r "$R" --catalog "$C"
ok_cmd "  restore" bfs restore -q -r "$R" --catalog "$C" b1 --target "$T/o1"
ok_cmd "  equals the source" compare_trees "$S" "$T/o1/files"
# every blob once: as many blobs as distinct ones
"$BFS_PYTHON" - "$R" >"$T/blobs" <<'PY'
import os, sys, json, subprocess
ids = []
for n in os.listdir(os.path.join(sys.argv[1], "index")):
    t = subprocess.run(["zstd", "-dc", os.path.join(sys.argv[1], "index", n)],
                       capture_output=True, check=True).stdout
    for line in t.splitlines():
        ids += [b[0] for b in json.loads(line)["blobs"]]
print(len(ids), len(set(ids)))
PY
read -r nb nu <"$T/blobs"
is "$nb" "$nu" "  no blob stored twice across the index objects ($nb)"
cp -a "$S" "$T/src1"

# backup 2
printf 'HELLO\n' >"$S/e/same-mtime"
touch -d '2025-01-02 03:04:05' "$S/e/same-mtime"
printf 'WORLD\n' >"$T/new-replaced"
touch -d '2025-01-02 03:04:05' "$T/new-replaced"
mv "$T/new-replaced" "$S/e/replaced"
touch "$S/e/touched"
rm "$S/e/removed"
printf 'new\n' >"$S/e/added"
printf 'changed %s\n' {1..50} >"$S/d001/f001500"
ok $(( $(stat -c %s "$S/e/same-mtime") == 6 ? 0 : 1 )) \
	"  same-mtime kept its size and mtime, only its ctime moved"
trace=
if command -v strace >/dev/null; then
	trace="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -y -e trace=openat -o $T/trace2"
else
	diag "strace not installed: the opened-file checks are skipped"
fi
ok_cmd "backup 2" $trace "$BACKUPFS" backup -q -r "$R" --catalog "$C" --id b2 \
	--files "$S"
ok_cmd "  restore" bfs restore -q -r "$R" --catalog "$C" b2 --target "$T/o2"
ok_cmd "  equals the source (ctime, inode and mtime changes seen)" \
	compare_trees "$S" "$T/o2/files"
is "$(cat "$T/o2/files/e/same-mtime") $(cat "$T/o2/files/e/replaced")" \
	"HELLO WORLD" "  the same-size same-mtime rewrites are the new bytes"
if [ -n "$trace" ]; then
	is "$(strace_opened "$T/trace2" "$S" | tr '\n' ' ')" \
		"d001/f001500 e/added e/replaced e/same-mtime e/touched " \
		"  opened: exactly the changed, touched and new files"
fi

# backup 3: one touch
touch "$S/d002/f002007"
[ -n "$trace" ] && trace="${trace%/trace2}/trace3"
ok_cmd "backup 3" $trace "$BACKUPFS" backup -q -r "$R" --catalog "$C" --id b3 \
	--files "$S"
if [ -n "$trace" ]; then
	is "$(strace_opened "$T/trace3" "$S" | tr '\n' ' ')" "d002/f002007 " \
		"  opened: the touched file only"
fi
ok_cmd "  check" bfs check -r "$R" --catalog "$C"
ok_cmd "  restore" bfs restore -q -r "$R" --catalog "$C" b3 --target "$T/o3"
ok_cmd "  equals the source" compare_trees "$S" "$T/o3/files"
ok_cmd "b1 restored again" bfs restore -q -r "$R" --catalog "$C" b1 \
	--target "$T/o1b"
ok_cmd "  still equals the first source" compare_trees "$T/src1" "$T/o1b/files"
ok_cmd "rebuilt catalog: check" bfs check -r "$R" --catalog "$T/fresh.db"

# memory of a first backup: flat in the number of files (not measurable
# in a sanitizer build: its shadow memory and quarantine dominate)
if bfs_is_sanitized; then
	diag "sanitizer build: the peak RSS check is skipped"
	done_testing
fi
mkdir -p "$T/small" "$T/big"
mk "$T/small" 1000
mk "$T/big" "$N"
k1=$(first_backup_peak_kb "$T/small")
kn=$(first_backup_peak_kb "$T/big")
bound=$(( (N * 120 + (40 << 20)) / 1024 ))
diag "peak RSS: 1,000 files $k1 KiB, $N files $kn KiB (bound: +$bound KiB)"
ok $(( k1 > 0 && kn > 0 && kn - k1 <= bound ? 0 : 1 )) \
	"peak RSS of $N files within 1,000 files' + $bound KiB"

done_testing
