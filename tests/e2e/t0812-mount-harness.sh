#!/bin/bash
# The mount helpers of tests/e2e/lib-mount.sh, which every mount test
# relies on to know which daemon answers at a mount point:
# - is_mounted sees a mount whose mountinfo line is not the last (other
#   mounts made after it, as parallel tests make them), every time:
#   main's piped `grep -q` under pipefail missed it now and then (grep
#   leaving early killed the writer with SIGPIPE), so unmount left the
#   mount in place;
# - mount_repo_fg over a mount left at MNT returns only once its own
#   daemon answers there: main's took the old mount for the new one, and
#   t0714 once listed database.sql.d through the previous daemon;
# - unmount takes every mount at MNT off, stacked ones too;
# - daemon_pid names the daemon serving MNT.
# Two repositories whose backups hold the same file with different bytes
# tell the daemons apart; the second mount's daemon starts 1 s late.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

M=$T/mnt
for x in a b; do
	mkdir -p "$T/src-$x"
	echo "from $x" >"$T/src-$x/x"
	ok_cmd "init $x" bfs init "$T/repo-$x"
	ok_cmd "backup $x" bfs backup -r "$T/repo-$x" --id "$x" --files "$T/src-$x"
done
# direct: the mounts at MNT per mountinfo, without lib-mount.sh
direct() {
	grep -cF " $(realpath -m "$M") " /proc/self/mountinfo
}

ok_cmd "mount a" mount_repo_fg "$T/repo-a" "$M" "$T/mount-a.log"
A_PID=$MOUNT_PID
is "$(daemon_pid "$M")" "$A_PID" "daemon_pid names a's daemon"
# later mounts: $M's mountinfo line is no longer the last one
for i in 1 2 3 4 5 6 7 8; do
	mkdir "$T/o$i"
	mount -t tmpfs "bfs-t0812-$i" "$T/o$i" || bail_out "mount tmpfs $T/o$i"
	at_exit umount "'$T/o$i'"
done
miss=0
for i in $(seq 300); do
	is_mounted "$M" || miss=$((miss + 1))
done
is "$miss" 0 "is_mounted sees a mount that is not mountinfo's last, 300 times of 300"
ok "$(is_mounted "$T/o1/none"; [ $? -ne 0 ]; echo $?)" "and no mount where there is none"

# a mount left at MNT: the next one is stacked on it
cat >"$T/late" <<EOF
#!/bin/sh
sleep 1
exec '$BACKUPFS' "\$@"
EOF
chmod +x "$T/late"
BACKUPFS=$T/late ok_cmd "mount b over a (its daemon 1 s late)" \
	mount_repo_fg "$T/repo-b" "$M" "$T/mount-b.log"
B_PID=$MOUNT_PID
is "$(cat "$M/latest/files/x" 2>&1)" "from b" \
	"when mount_repo_fg returns, b's daemon answers at MNT"
is "$(direct)" 2 "both mounts are at MNT"
ok_cmd "unmount" unmount "$M"
is "$(direct)" 0 "unmount took both off"
ok "$(wait_until 10 bash -c "! kill -0 $A_PID && ! kill -0 $B_PID"; echo $?)" \
	"and both daemons ended"

# unmount and mount again with the later mounts in place, as t0714 does
bad=0
for i in 1 2 3 4 5; do
	x=$([ $((i % 2)) -eq 1 ] && echo a || echo b)
	mount_repo_fg "$T/repo-$x" "$M" "$T/mount-$i.log" || bad=$((bad + 1))
	[ "$(cat "$M/latest/files/x" 2>&1)" = "from $x" ] || bad=$((bad + 1))
	unmount "$M"
	[ "$(direct)" = 0 ] || bad=$((bad + 1))
done
is "$bad" 0 "5 times mount, read, unmount: each mount's own daemon answers, nothing is left"
done_testing
