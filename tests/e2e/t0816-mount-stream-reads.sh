#!/bin/bash
# Cold sequential reads of a dump through the mount (issue 12, part 3):
# a stream holds its readahead window and a little behind it, not the
# whole cache, even when the kernel's async readahead requests arrive
# out of order on several FUSE threads; two readers at once and a reader
# that stops part-way get the right bytes and leave no work running.
#
# An SQL-like dump of N MiB (N = 256; CI: 128), one backup, then:
# - one cold `cat` through a mount with a 128 MiB cache and 4 MiB of
#   readahead: the bytes equal the source, and the cache's peak (the
#   unmount line of -v) stays at 24 MiB or under: the readahead window,
#   the 4 MiB kept behind the reader and what the kernel's requests in
#   flight (12 of 1 MiB at most, some of them late) pin, 11-15 MiB
#   measured.  Main's binary (a chunk released behind the reader by one
#   request went back on the ordinary LRU when an earlier request of the
#   same stream let go of it last) grows the cache with the length of
#   the read: 18-23 MiB at the CI size (so it passes there), 33 MiB at
#   the local size (the unit tests test-chunkcache and test-reader fail
#   on main's code every time);
# - two cold `cat`s of the dump at once, the second started a little
#   later: both equal the source;
# - `head -c 8M`: the bytes equal the source's first 8 MiB, and a second
#   after it the daemon is idle (no readahead left running for a file
#   nobody reads: under 0.2 CPU seconds over the next 2 s).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
M=$T/mnt
D=$T/dump.sql
N=256
[ "${CI:-}" = true ] && N=128

"$BFS_PYTHON" - "$D" "$N" <<'PY'
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
ok $? "a $N MiB dump"
want=$(md5sum <"$D")
ok_cmd "init" bfs init "$R"
ok_cmd "backup of the dump" bfs backup -q -r "$R" --id b1 --stdin dump.sql <"$D"

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || diag "cannot drop the page cache"; }
cpu_ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat; }

# 1. one stream: the bytes, and what it holds in the cache
ok_cmd "mount (128 MiB cache, 4 MiB readahead, -v)" \
	mount_repo_fg "$R" "$M" "$T/mount1.log" -v --sync-interval 0 \
	--cache-size 128M --readahead 4M
drop_caches
is "$(md5sum <"$M/b1/dump.sql")" "$want" "cold cat equals the source"
ok_cmd "unmount" unmount "$M"
wait_until 10 eval "! kill -0 $MOUNT_PID 2>/dev/null"
peak=$(sed -n 's/.*unmounting.*peak \([0-9][0-9]*\) MiB.*/\1/p' "$T/mount1.log" | tail -1)
diag "$(grep unmounting "$T/mount1.log")"
ok $((${peak:-999} <= 24 ? 0 : 1)) "  the stream held ${peak:-?} MiB of the cache at most (<= 24)"

# 2. two readers at once, and one that stops part-way
ok_cmd "mount again" mount_repo_fg "$R" "$M" "$T/mount2.log" -v --sync-interval 0
pid=$(daemon_pid "$M")
ok $? "  the daemon's pid ($pid)"
drop_caches
md5sum <"$M/b1/dump.sql" >"$T/r1" &
r1=$!
sleep 0.3
md5sum <"$M/b1/dump.sql" >"$T/r2"
wait $r1
is "$(cat "$T/r1")" "$want" "two readers at once: the first equals the source"
is "$(cat "$T/r2")" "$want" "  and the second"
drop_caches
is "$(head -c 8M "$M/b1/dump.sql" | md5sum)" "$(head -c 8M "$D" | md5sum)" \
	"head -c 8M equals the source's first 8 MiB"
sleep 1
c0=$(cpu_ticks "$pid")
sleep 2
c1=$(cpu_ticks "$pid")
hz=$(getconf CLK_TCK)
ok $(((c1 - c0) * 5 < hz ? 0 : 1)) "  the daemon is idle after it ($((c1 - c0)) ticks in 2 s, $hz a second)"
ok_cmd "unmount" unmount "$M"
done_testing
