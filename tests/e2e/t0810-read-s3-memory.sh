#!/bin/bash
# The mount daemon runs with one malloc arena (src/cli/cmd_mount.c,
# mount_tune_malloc; issue 12.3): with glibc's default arenas the chunk
# buffers a cold sequential read allocates on the reader's pool threads
# and frees on others left each arena at its own peak.
#   - two cold `cat`s at once of two 64 MiB SQL-like dumps (two backups)
#     through an S3 mount at the default cache (72M on S3; 48M before
#     s24) give the right bytes,
#     and the daemon's peak RSS (VmHWM) stays under 84 MiB plus 2 MiB per
#     core beyond two (each pool thread keeps a scratch buffer of up to
#     one S3 range).  On 2 cores: 72-75 MiB with one arena, 95-96 MiB
#     with glibc's default arenas (the s13 binary, which also reached
#     113-116 MiB on the 1 GiB read of scripts/bench-read, above the 100
#     MiB target of issue 12.3);
#   - that default cache is 72M on S3 (48M on a local repository), as
#     the mount's log says;
#   - MALLOC_ARENA_MAX in the environment still wins: the same reads with
#     MALLOC_ARENA_MAX=64 give the right bytes too (their peak RSS is
#     reported, not checked: it depends on how the threads meet; not in
#     CI mode, to keep the test short);
#   - sanitizer builds check the bytes only (ASan's allocator has no
#     arenas), on smaller dumps.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"
require_root_fuse

start_s3
export BACKUPFS_S3_RETRY_SECONDS=20
MB=64
ASAN=
if bfs_is_sanitized; then
	ASAN=1
	MB=12
fi

# as scripts/bench-read with BENCH_DATA=synthetic: rows from a pool,
# compresses ~3x, dedups little
"$BFS_PYTHON" - "$T/dump.sql" $((2 * MB)) <<'PY' || bail_out "cannot generate the dump"
import sys, random
path, mb = sys.argv[1], int(sys.argv[2])
r = random.Random(2)
names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
pool = ["%s\t%s@example.com\t2026-%02d-%02d %02d:%02d:%02d\t%s\n" % (
    r.choice(names), r.choice(names), r.randrange(1, 13), r.randrange(1, 29),
    r.randrange(24), r.randrange(60), r.randrange(60),
    "".join(r.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(r.randrange(20, 120))))
    for _ in range(20000)]
with open(path, "w") as f:
    f.write("COPY public.t (id, name, mail, ts, note) FROM stdin;\n")
    i = 0
    while f.tell() < mb << 20:
        f.write("".join("%d\t%s" % (i + k, pool[r.randrange(len(pool))]) for k in range(8192)))
        i += 8192
    f.write("\\.\n")
PY

SR=s3://bfs-mem/repo
ok_cmd "init $SR" bfs init "$SR"
# two different dumps: the first and the second half of the rows
head -c $((MB << 19)) "$T/dump.sql" >"$T/d1.sql"
tail -c +$(((MB << 19) + 1)) "$T/dump.sql" >"$T/d2.sql"
for b in 1 2; do
	ok_cmd "backup dump $b" bfs backup -q -r "$SR" --id "b$b" --stdin dump.sql <"$T/d$b.sql"
done

# cold_read WHAT [ENV...]: fresh mount at the defaults, two cold cats at
# once, the bytes compared; sets HWM to the daemon's peak RSS in KiB.
cold_read() {
	local what=$1 mnt=$T/mnt pid p1 rc
	shift
	HWM=
	ok_cmd "$what: mount" env "$@" "$BACKUPFS" mount -v -r "$SR" "$mnt" \
		--log-file "$T/mount.log"
	pid=$(daemon_pid "$mnt")
	sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	cmp -s "$mnt/b1/dump.sql" "$T/d1.sql" & p1=$!
	cmp -s "$mnt/b2/dump.sql" "$T/d2.sql"
	rc=$?
	wait "$p1"
	ok "$(( rc | $? ))" "$what: two cold cats through the S3 mount give the dumps' bytes"
	[ -n "$pid" ] && HWM=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status 2>/dev/null)
	diag "$what: daemon peak RSS ${HWM:-?} kB"
	unmount "$mnt"
}

mkdir -p "$T/mnt"
at_exit unmount "'$T/mnt'"
cold_read "one arena (default)"
# the default cache on S3: 72M, a 24M window, three 8 MiB jobs in flight
like "$(cat "$T/mount.log")" "\(cache 72 MiB;" "the S3 mount's default cache is 72M"
cores=$(nproc)
bound=$(((84 + 2 * (cores > 2 ? cores - 2 : 0)) * 1024))
if [ -n "$ASAN" ]; then
	diag "sanitizer build: the peak RSS bound is checked in the plain build"
else
	ok "$([ -n "$HWM" ] && [ "$HWM" -lt "$bound" ]; echo $?)" \
		"S3 mount peak RSS ${HWM:-?} kB under $bound kB ($cores cores)"
fi
[ "${CI:-}" = true ] || cold_read "MALLOC_ARENA_MAX=64" MALLOC_ARENA_MAX=64
done_testing
