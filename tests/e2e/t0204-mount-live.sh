#!/bin/bash
# backupfs mount: a live mount follows the repository (new backups appear,
# deleted ones disappear, /latest moves); a corrupted or missing pack makes
# only the affected file fail with EIO, the log names the pack, other files
# stay readable, nothing hangs; SIGTERM with a file still open exits 0
# (nothing leaked: the handle the kernel never released is freed).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
M=$T/mnt
LOG=$T/mount.log

ok_cmd "init" bfs init "$R"
ok_cmd "backup b1" bfs backup -r "$R" --id b1 --command "a.txt=seq 1 1000"
ok_cmd "mount -f in the background" mount_repo_fg "$R" "$M" "$LOG"
is "$(ls "$M" | tr '\n' ' ')" "b1 latest " "one backup"

# ---- a new backup appears without remounting
sleep 1
ok_cmd "backup b2 while mounted" bfs backup -r "$R" --id b2 --command "a.txt=seq 1 2000"
ok "$(wait_until 10 test -d "$M/b2"; echo $?)" "b2 appears within seconds"
ok "$(wait_until 5 bash -c "ls '$M' | grep -qx b2"; echo $?)" "and is listed in the root"
ok "$(wait_until 5 bash -c "[ \"\$(readlink '$M/latest')\" = b2 ]"; echo $?)" "latest moves to b2"
is "$(wc -l <"$M/b2/a.txt")" "2000" "b2 reads"

# ---- a deleted backup disappears
rm -f "$R/manifests/b1"
ok "$(wait_until 10 bash -c "! test -e '$M/b1'"; echo $?)" "deleted b1 disappears"
ok "$(wait_until 5 bash -c "! ls '$M' | grep -qx b1"; echo $?)" "and is no longer listed"

# ---- a corrupted pack: EIO for that file only, the log names the pack
before=$(pack_files "$R")
head -c $((3 << 20)) /dev/urandom >"$T/bad.bin"
ok_cmd "backup b3 (its own pack)" bfs backup -r "$R" --id b3 --stdin bad.bin <"$T/bad.bin"
badpacks=$(comm -13 <(echo "$before") <(pack_files "$R"))
ok "$([ -n "$badpacks" ]; echo $?)" "b3 wrote a new pack"
before=$(pack_files "$R")
head -c $((3 << 20)) /dev/urandom >"$T/good.bin"
ok_cmd "backup b4 (another pack)" bfs backup -r "$R" --id b4 --stdin good.bin <"$T/good.bin"
ok "$(wait_until 10 test -e "$M/b4/good.bin"; echo $?)" "b3 and b4 visible"
for p in $badpacks; do
	size=$(stat -c %s "$p")
	printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' |
		dd of="$p" bs=1 seek=$((size / 3)) conv=notrunc status=none
done
fails_with 1 "cat of the file in the corrupted pack fails" timeout 30 cat "$M/b3/bad.bin"
like "$(cat "$T/stderr")" "Input/output error" "with Input/output error"
fails_with 1 "a second read fails the same way (no hang, no wrong bytes)" timeout 30 cat "$M/b3/bad.bin"
ok_cmd "the file in the other pack reads" cmp "$M/b4/good.bin" "$T/good.bin"
is "$(wc -l <"$M/b2/a.txt")" "2000" "older backups still read"
pk=$(basename "$(echo "$badpacks" | head -1)")
ok "$(wait_until 5 grep -qF "$pk" "$LOG"; echo $?)" "the log names the pack"
like "$(cat "$LOG")" "b3/bad\\.bin" "the log names the backup and path"
diag "log: $(grep -F "$pk" "$LOG" | head -2)"

# ---- a missing pack
before=$(pack_files "$R")
head -c $((1 << 20)) /dev/urandom >"$T/gone.bin"
ok_cmd "backup b5" bfs backup -r "$R" --id b5 --stdin gone.bin <"$T/gone.bin"
ok "$(wait_until 10 test -e "$M/b5/gone.bin"; echo $?)" "b5 visible"
for p in $(comm -13 <(echo "$before") <(pack_files "$R")); do rm -f "$p"; done
fails_with 1 "cat of a file whose pack is missing fails" timeout 30 cat "$M/b5/gone.bin"
like "$(cat "$T/stderr")" "Input/output error" "with Input/output error"
ok_cmd "other files still read" cmp "$M/b4/good.bin" "$T/good.bin"

# ---- SIGTERM unmounts cleanly, with a file still open: the kernel sends
# no release once the session ends, and the mount frees the handle itself
# (an ASan build's leak check makes the exit code say so)
exec 3<"$M/b4/good.bin"
kill -TERM "$MOUNT_PID"
wait "$MOUNT_PID"
is "$?" "0" "mount -f exits 0 on SIGTERM, a file open"
exec 3<&-
ok "$(is_mounted "$M"; [ $? -ne 0 ]; echo $?)" "and is unmounted"
if bfs_is_sanitized; then
	unlike "$(cat "$LOG")" "LeakSanitizer" "the log holds no leak report"
fi
done_testing
