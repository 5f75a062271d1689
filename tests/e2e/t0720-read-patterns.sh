#!/bin/bash
# Reads through a local and an S3 mount (s3rver behind the checking proxy):
# a dump-like file read sequentially (readahead in multi-MiB jobs), at
# random offsets and by concurrent readers (two sequential, two random)
# equals the source; then one chunk in the middle of a pack is corrupted:
# reads of its range fail with EIO, every other range still reads the
# right bytes, and no read ever returns wrong bytes (sequential, random
# and concurrent).  Functional, not timed.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"
require_root_fuse

start_s3
export BACKUPFS_S3_RETRY_SECONDS=20
MB=16
[ "${CI:-}" = true ] || MB=64
LR=$T/repo
SR=s3://bfs-read/repo
"$BFS_PYTHON" "$top_srcdir/tests/tools/copy-dump.py" "$T/dump.sql" "$MB" 5

ok_cmd "init local" bfs init "$LR"
ok_cmd "backup the dump (local)" bfs backup -q -r "$LR" --id b1 --stdin dump.sql <"$T/dump.sql"
ok_cmd "init S3" bfs init "$SR"
ok_cmd "backup the dump (S3)" bfs backup -q -r "$SR" --id b1 --stdin dump.sql <"$T/dump.sql"

# check_reads MOUNT_FILE: sequential, random and concurrent reads.
check_reads() {
	local f=$1 what=$2 i want
	want=$(md5sum <"$T/dump.sql")
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	is "$(md5sum <"$f")" "$want" "$what: a cold sequential read equals the source"
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	ok_cmd "$what: 100 random reads equal the source" \
		"$BFS_PYTHON" - "$T/dump.sql" "$f" 1 <<'PY'
import os, sys, random
a = os.open(sys.argv[1], os.O_RDONLY)
b = os.open(sys.argv[2], os.O_RDONLY)
r = random.Random(int(sys.argv[3]))
size = os.fstat(a).st_size
bad = 0
for i in range(100):
    off = r.randrange(size + 10)
    n = r.choice([1, 4096, 65536, 200000, 1 << 20, r.randrange(1, 3 << 20)])
    if os.pread(a, n, off) != os.pread(b, n, off):
        bad += 1
        print("mismatch off=%d len=%d" % (off, n), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	for i in 1 2; do
		md5sum <"$f" >"$T/seq.$i" &
		"$BFS_PYTHON" - "$T/dump.sql" "$f" "$((i + 10))" >"$T/rnd.$i" 2>&1 <<'PY' &
import os, sys, random
a = os.open(sys.argv[1], os.O_RDONLY)
b = os.open(sys.argv[2], os.O_RDONLY)
r = random.Random(int(sys.argv[3]))
size = os.fstat(a).st_size
bad = 0
for i in range(60):
    off = r.randrange(size)
    n = r.choice([4096, 131072, 1 << 20])
    if os.pread(a, n, off) != os.pread(b, n, off):
        bad += 1
print("bad %d" % bad)
PY
	done
	wait
	for i in 1 2; do
		is "$(cat "$T/seq.$i")" "$want" "$what: concurrent sequential reader $i"
		is "$(cat "$T/rnd.$i")" "bad 0" "$what: concurrent random reader $i"
	done
}

# check_corrupt MOUNT_FILE: reads around a corrupted chunk.  Prints
# "ok FIRST LAST" (the range of 64 KiB blocks that failed) or why not.
check_corrupt() {
	local f=$1 what=$2 pass
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	for pass in seq rand; do
		"$BFS_PYTHON" - "$T/dump.sql" "$f" "$pass" >"$T/corrupt.$pass" 2>&1 <<'PY'
import errno, os, sys, random
a = os.open(sys.argv[1], os.O_RDONLY)
b = os.open(sys.argv[2], os.O_RDONLY)
size = os.fstat(a).st_size
blk = 65536
idx = list(range((size + blk - 1) // blk))
if sys.argv[3] == "rand":
    random.Random(3).shuffle(idx)
good, eio, wrong = [], [], []
for i in idx:
    try:
        got = os.pread(b, blk, i * blk)
    except OSError as e:
        if e.errno != errno.EIO:
            print("errno %d at block %d" % (e.errno, i))
            sys.exit(1)
        eio.append(i)
        continue
    want = os.pread(a, blk, i * blk)
    if len(got) < len(want) and got == want[:len(got)]:
        eio.append(i)  # a short read: the bytes up to the bad page
    else:
        (good if got == want else wrong).append(i)
if wrong:
    print("WRONG BYTES at blocks %s" % wrong[:5])
elif not eio:
    print("no EIO")
elif not [g for g in good if g > max(eio)] or not [g for g in good if g < min(eio)]:
    print("no good block on both sides of the bad range %d..%d" % (min(eio), max(eio)))
elif len(eio) > 16:
    print("%d blocks fail, not just the bad chunk's" % len(eio))
else:
    print("ok %d %d" % (min(eio), max(eio)))
PY
	done
	like "$(cat "$T/corrupt.seq")" "^ok " "$what: sequential pass: EIO at the bad chunk only, right bytes elsewhere"
	is "$(cat "$T/corrupt.rand")" "$(cat "$T/corrupt.seq")" "$what: random pass: the same blocks fail"
	# Two concurrent sequential readers: both fail, neither gets wrong bytes.
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	cmp "$T/dump.sql" "$f" >"$T/cmp.1" 2>&1 &
	cmp "$T/dump.sql" "$f" >"$T/cmp.2" 2>&1 &
	wait
	like "$(cat "$T/cmp.1")" "Input/output error" "$what: concurrent reader 1 stops with EIO, not a difference"
	like "$(cat "$T/cmp.2")" "Input/output error" "$what: concurrent reader 2 stops with EIO, not a difference"
}

# Flip 16 bytes in the middle of the largest pack object (a chunk's frame).
corrupt_largest() {
	local p size
	p=$(find "$1" -path '*packs*' -type f "${@:2}" -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
	size=$(stat -c %s "$p")
	printf '\x55%.0s' $(seq 16) | dd of="$p" bs=1 seek=$((size / 2)) conv=notrunc status=none
	echo "$p"
}

LM=$T/mnt-local
SM=$T/mnt-s3
ok_cmd "mount local" mount_repo "$LR" "$LM"
check_reads "$LM/b1/dump.sql" local
ok_cmd "mount S3" mount_repo "$SR" "$SM"
check_reads "$SM/b1/dump.sql" S3
pid=$(daemon_pid "$SM")
if bfs_is_sanitized; then
	diag "sanitizer build: the peak RSS bound is checked in the plain build"
elif [ -n "$pid" ]; then
	hwm=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status)
	diag "S3 mount peak RSS ${hwm} kB at the default cache"
	ok "$([ "$hwm" -lt $((100 * 1024)) ]; echo $?)" "S3 mount peak RSS under 100 MiB at defaults"
else
	ok 1 "daemon pid found"
fi
unmount "$LM"
unmount "$SM"

diag "corrupted: $(corrupt_largest "$LR")"
ok_cmd "mount local (corrupted pack)" mount_repo "$LR" "$LM"
check_corrupt "$LM/b1/dump.sql" local
unmount "$LM"

diag "corrupted: $(corrupt_largest "$T/s3/data" -name '*._S3rver_object')"
ok_cmd "mount S3 (corrupted pack)" mount_repo "$SR" "$SM"
check_corrupt "$SM/b1/dump.sql" S3
unmount "$SM"
done_testing
