#!/bin/bash
# backupfs mount: random reads at many offsets and lengths equal the
# source; four parallel readers of one large file agree; reads at EOF;
# the daemon's memory stays bounded by the cache size.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
S=$T/src
M=$T/mnt
mkdir -p "$S"
head -c $((48 << 20)) /dev/urandom >"$S/random.bin"
# compressible, with repeats (dedup inside one file)
"$BFS_PYTHON" - "$S/text.txt" <<'PY'
import sys, random
r = random.Random(7)
with open(sys.argv[1], "w") as f:
    block = "".join("line %d %s\n" % (i, "x" * r.randrange(80)) for i in range(20000))
    for rep in range(6):
        f.write(block)
        f.write("".join("%d\n" % r.randrange(10**9) for i in range(50000)))
PY
printf 'x' >"$S/one-byte"
: >"$S/empty"
ok_cmd "init" bfs init "$R"
ok_cmd "backup" bfs backup -r "$R" --id b1 --files "$S"
ok_cmd "mount with a 64M cache" mount_repo "$R" "$M" --cache-size 64M
F=$M/b1/files

ok_cmd "random reads (400 offsets and lengths) equal the source" \
	"$BFS_PYTHON" - "$S" "$F" <<'PY'
import os, sys, random
src, mnt = sys.argv[1], sys.argv[2]
r = random.Random(42)
bad = 0
for name in ("random.bin", "text.txt"):
    a = os.open(os.path.join(src, name), os.O_RDONLY)
    b = os.open(os.path.join(mnt, name), os.O_RDONLY)
    size = os.fstat(a).st_size
    for i in range(200):
        off = r.randrange(size + 10)
        n = r.choice([1, 7, 4096, 65536, 131072, 1 << 20, 3 << 20, r.randrange(1, 5 << 20)])
        if os.pread(a, n, off) != os.pread(b, n, off):
            bad += 1
            print("mismatch %s off=%d len=%d" % (name, off, n), file=sys.stderr)
sys.exit(1 if bad else 0)
PY

is "$(dd if="$F/random.bin" bs=1M skip=47 count=5 status=none | md5sum)" \
   "$(dd if="$S/random.bin" bs=1M skip=47 count=5 status=none | md5sum)" "dd of the last MiB (short at EOF)"
is "$(cat "$F/one-byte")" "x" "a one-byte file"
is "$(stat -c %s "$F/empty")" "0" "an empty file has size 0"
is "$(cat "$F/empty" | wc -c)" "0" "an empty file reads empty"

# drop the kernel's page cache so parallel readers hit the daemon
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
want=$(md5sum <"$S/random.bin")
for i in 1 2 3 4; do
	md5sum <"$F/random.bin" >"$T/md5.$i" &
done
wait
same=0
for i in 1 2 3 4; do
	[ "$(cat "$T/md5.$i")" = "$want" ] && same=$((same + 1))
done
is "$same" "4" "four parallel readers of one file agree with the source"
is "$(md5sum <"$F/text.txt")" "$(md5sum <"$S/text.txt")" "sequential read of the text file"

pid=$(daemon_pid "$M")
if bfs_is_sanitized; then
	diag "sanitizer build: the peak RSS bound is checked in the plain build"
elif [ -n "$pid" ]; then
	hwm=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status)
	diag "daemon peak RSS ${hwm} kB with a 64 MiB cache"
	ok "$([ "$hwm" -lt $((64 * 1024 + 96 * 1024)) ]; echo $?)" "peak RSS bounded by cache + constant"
else
	ok 1 "daemon pid found"
fi
ok_cmd "unmount" fusermount3 -u "$M"
done_testing
