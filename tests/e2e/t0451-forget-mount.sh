#!/bin/bash
# forget while a mount runs: the mount (--sync-interval 1) drops the
# forgotten backups' directories within one sync interval, the kept ones
# still read, and 'latest' follows when the newest is deleted.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
M=$T/mnt
ok_cmd "init" bfs init "$R"
for d in 1 2 3 4; do
	seq 1 $((d * 500)) >"$T/f$d"
	bfs backup -q -r "$R" --stdin data.txt \
		--time "2026-04-0${d}T12:00:00Z" <"$T/f$d" ||
		bail_out "backup $d failed"
done
ok_cmd "mount --sync-interval 1" mount_repo_fg "$R" "$M" "$T/mount.log" --sync-interval 1
is "$(ls "$M" | tr '\n' ' ')" \
	"2026-04-01_12-00-00 2026-04-02_12-00-00 2026-04-03_12-00-00 2026-04-04_12-00-00 latest " \
	"four backups mounted"
ok_cmd "a kept backup reads before" cmp "$M/2026-04-03_12-00-00/data.txt" "$T/f3"

ok_cmd "forget --keep-last 2" bfs forget -r "$R" --keep-last 2
start=$SECONDS
ok "$(wait_until 5 bash -c "! test -e '$M/2026-04-01_12-00-00' && ! test -e '$M/2026-04-02_12-00-00'"; echo $?)" \
	"the mount drops the forgotten backups"
diag "gone after $((SECONDS - start)) s (sync interval 1 s)"
ok "$([ $((SECONDS - start)) -le 3 ]; echo $?)" "within about one sync interval"
is "$(ls "$M" | tr '\n' ' ')" "2026-04-03_12-00-00 2026-04-04_12-00-00 latest " \
	"the root lists the kept ones"
ok_cmd "kept backups still read" cmp "$M/2026-04-03_12-00-00/data.txt" "$T/f3"
ok_cmd "through latest too" cmp "$M/latest/data.txt" "$T/f4"

ok_cmd "delete latest" bfs delete -r "$R" latest
ok "$(wait_until 5 bash -c "[ \"\$(readlink '$M/latest')\" = 2026-04-03_12-00-00 ]"; echo $?)" \
	"latest moves to the newest kept backup"
ok_cmd "which reads" cmp "$M/latest/data.txt" "$T/f3"

done_testing
