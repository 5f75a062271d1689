#!/bin/bash
# A mount reading a kept backup while prune repacks its packs goes on
# returning the right bytes: a reader keeps the file open and rereads it
# (page cache dropped each round, a chunk cache smaller than the file, no readahead,
# no periodic catalog sync) before, during and after the prune; when a
# pack has vanished the mount finds the chunk's new location.  A file of
# the forgotten backup, open since before the prune, returns its right
# bytes or EIO, never wrong bytes.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse
require_cmd jq jq

R=$T/repo
M=$T/mnt
export XDG_CACHE_HOME=$T/cache

# old: 10 MB; keep: 60% of it, 0.6 MB of every MB, so every pack of old
# (1 MiB each) is about 40% unused once old is forgotten: all repacked.
head -c 10000000 /dev/urandom >"$T/old"
for k in 0 1 2 3 4 5 6 7 8 9; do
	tail -c +$((k * 1000000 + 1)) "$T/old" | head -c 600000
done >"$T/keep"
ok_cmd "init" bfs init "$R"
sed -i 's/"pack_size":[0-9]*/"pack_size":1048576/' "$R/config"
ok_cmd "32 KiB dump chunks (the data below is laid out for them)" small_dump_chunks "$R"
ok_cmd "backup old" bfs backup -r "$R" --id old --stdin data.bin <"$T/old"
ok_cmd "backup keep (60% of old's chunks)" bfs backup -r "$R" --id keep --stdin data.bin <"$T/keep"

ok_cmd "mount (foreground, debug log, 4 MiB chunk cache, no readahead, no sync)" \
	mount_repo_fg "$R" "$M" "$T/mount.log" -v -v --cache-size 4M \
	--readahead 0 --sync-interval 0

# reader FILE EXPECTED STOPFILE OUT: reread FILE through one descriptor
# (and a fresh open each round) until STOPFILE exists; OUT gets
# "rounds good bad eio other".
cat >"$T/reader.py" <<'PY'
import errno, hashlib, os, sys, time
path, expected, stop, out = sys.argv[1:5]
want = hashlib.sha256(open(expected, 'rb').read()).hexdigest()
size = os.path.getsize(expected)
fd = os.open(path, os.O_RDONLY)
rounds = good = bad = eio = other = 0
def read_all(f):
    # the kernel keeps FUSE pages (keep_cache): drop them, so every
    # round reaches the mount
    with open('/proc/sys/vm/drop_caches', 'w') as d:
        d.write('1')
    h, off = hashlib.sha256(), 0
    while off < size:
        b = os.pread(f, 1 << 20, off)
        if not b:
            break
        h.update(b)
        off += len(b)
    return h.hexdigest()
def one(f):
    global good, bad, eio, other
    g = None
    try:
        g = f if f is not None else os.open(path, os.O_RDONLY)
        if read_all(g) == want:
            good += 1
        else:
            bad += 1
    except OSError as e:
        if e.errno == errno.EIO:
            eio += 1
        else:
            other += 1
    finally:
        if f is None and g is not None:
            os.close(g)
while True:
    last = os.path.exists(stop)
    one(fd)    # the descriptor opened before prune
    one(None)  # a fresh open
    rounds += 1
    open(out + '.n', 'w').write('%d\n' % rounds)  # progress, for the test
    if last:
        break
    time.sleep(0.1)
open(out, 'w').write('%d %d %d %d %d\n' % (rounds, good, bad, eio, other))
PY
"$BFS_PYTHON" "$T/reader.py" "$M/keep/data.bin" "$T/keep" "$T/stop" "$T/keep.out" &
rk=$!
"$BFS_PYTHON" "$T/reader.py" "$M/old/data.bin" "$T/old" "$T/stop" "$T/old.out" &
ro=$!
at_exit "touch '$T/stop'; kill $rk $ro 2>/dev/null"
# rounds done by the reader of the kept file so far (0 until its first)
kept_rounds() { cat "$T/keep.out.n" 2>/dev/null || echo 0; }
# reads before prune, however slow the machine (ASan, load)
wait_until 60 bash -c "[ \$(cat '$T/keep.out.n' 2>/dev/null || echo 0) -ge 2 ]"

ok_cmd "forget old" rm "$R/manifests/old"
ok_cmd "prune while the files are read" bfs prune -r "$R" --grace 0 --json
ok "$(jq -e '.repacked.packs >= 8 and .written.packs >= 4' "$T/stdout" >/dev/null; echo $?)" \
	"prune repacked the packs being read ($(jq -c '[.repacked.packs, .written.packs]' "$T/stdout"))"
# and reads after it
n0=$(kept_rounds)
wait_until 60 bash -c "[ \$(cat '$T/keep.out.n' 2>/dev/null || echo 0) -ge $((n0 + 2)) ]"
touch "$T/stop"
wait $rk
wait $ro
read -r rounds good bad eio other <"$T/keep.out"
diag "keep: $rounds rounds, $good right reads, $bad wrong, $eio EIO, $other other errors"
ok "$([ "$rounds" -ge 4 ]; echo $?)" "the reader read the kept file $rounds times (before, during and after prune)"
is "$bad $eio $other" "0 0 0" "every read of the kept file returned the right bytes"
is "$good" "$((rounds * 2))" "... through the descriptor opened before prune and fresh ones"
like "$(cat "$T/mount.log")" "pack [0-9a-f]* is gone \(pruned\), reading it from pack" \
	"the mount relocated chunks of vanished packs"
read -r rounds good bad eio other <"$T/old.out"
diag "old: $rounds rounds, $good right reads, $bad wrong, $eio EIO, $other other errors"
is "$bad" 0 "the forgotten backup's open file never returned wrong bytes"
is "$other" 0 "... it failed, if at all, with EIO"

ok_cmd "after prune: cat keep (CLI) is right" bash -c "\"\$BACKUPFS\" cat -r '$R' keep:data.bin | cmp - '$T/keep'"
ok "$(cmp -s "$M/keep/data.bin" "$T/keep"; echo $?)" "after prune: the mount reads keep right"

done_testing
