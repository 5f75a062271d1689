#!/bin/bash
# backupfs mount: errors before mounting (missing/unknown repository,
# missing mountpoint) exit 1 with a clear message; write operations fail
# with EROFS; a killed daemon leaves a stale mount that fusermount3 -u
# cleans, after which mounting works again; allow_other enforces the
# recorded modes; the mount.backupfs helper.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
M=$T/mnt
mkdir -p "$M" "$T/src/d"
echo hello >"$T/src/hello.txt"
echo secret >"$T/src/secret.txt"
chmod 0600 "$T/src/secret.txt"
chmod 0644 "$T/src/hello.txt"
ok_cmd "init" bfs init "$R"
ok_cmd "backup" bfs backup -r "$R" --id b1 --files "$T/src"

# ---- errors before mounting
fails_with 1 "missing repository: exit 1" bfs mount -r "$T/nowhere" "$M"
like "$(cat "$T/stderr")" "no backupfs repository" "message: no backupfs repository"
mkdir -p "$T/badrepo"
echo '{"format": "something-else", "version": 99}' >"$T/badrepo/config"
fails_with 1 "unknown repository format: exit 1" bfs mount -r "$T/badrepo" "$M"
like "$(cat "$T/stderr")" "." "with a message"
diag "$(cat "$T/stderr")"
fails_with 1 "missing mountpoint: exit 1" bfs mount -r "$R" "$T/no-such-dir"
like "$(cat "$T/stderr")" "mountpoint '.*no-such-dir' does not exist" "message names the mountpoint"
fails_with 1 "mountpoint is a file: exit 1" bfs mount -r "$R" "$T/src/hello.txt"
like "$(cat "$T/stderr")" "not a directory" "message: not a directory"
fails_with 2 "no MOUNTPOINT argument: usage error" bfs mount -r "$R"
fails_with 2 "-o rw is refused" bfs mount -r "$R" "$M" -o rw
fails_with 1 "an unknown FUSE option: exit 1" bfs mount -r "$R" "$M" -o no_such_option_xyz
ok "$(is_mounted "$M"; [ $? -ne 0 ]; echo $?)" "nothing was left mounted"

# ---- read-only
ok_cmd "mount" mount_repo "$R" "$M"
F=$M/b1/files
is "$(cat "$F/hello.txt")" "hello" "reads"
fails_with 1 "touch a new file fails" touch "$F/new"
like "$(cat "$T/stderr")" "Read-only file system" "EROFS"
fails_with 1 "touch an existing file fails" touch "$F/hello.txt"
like "$(cat "$T/stderr")" "Read-only file system" "EROFS"
fails_with 1 "mkdir fails" mkdir "$F/newdir"
like "$(cat "$T/stderr")" "Read-only file system" "EROFS"
fails_with 1 "rm fails" rm "$F/hello.txt"
like "$(cat "$T/stderr")" "Read-only file system" "EROFS"
fails_with 1 "mv fails" mv "$F/hello.txt" "$F/moved.txt"
like "$(cat "$T/stderr")" "Read-only file system" "EROFS"
ok_cmd "a write to an existing file fails" bash -c "! echo x >>'$F/hello.txt'"
fails_with 1 "chmod fails" chmod 0777 "$F/hello.txt"
is "$(cat "$F/hello.txt")" "hello" "the file is unchanged"

# ---- kill -9 the daemon: stale mount, fusermount3 -u, mount again
pid=$(daemon_pid "$M")
ok "$([ -n "$pid" ]; echo $?)" "daemon pid found ($pid)"
kill -9 "$pid"
sleep 0.5
ok "$(ls "$M" >/dev/null 2>&1; [ $? -ne 0 ]; echo $?)" "the killed mount no longer answers"
fails_with 1 "mount on the stale mount point: exit 1" bfs mount -r "$R" "$M"
like "$(cat "$T/stderr")" "stale|not connected" "message says the mount point is stale"
ok_cmd "fusermount3 -u cleans the stale mount" fusermount3 -u "$M"
ok_cmd "mount again at the same place" mount_repo "$R" "$M"
is "$(cat "$M/b1/files/hello.txt")" "hello" "and it reads"
ok_cmd "unmount" fusermount3 -u "$M"

# ---- private by default; allow_other enforces the recorded modes
if id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
	chmod 0755 "$T" 2>/dev/null
	ok_cmd "mount (private)" mount_repo "$R" "$M"
	ok "$(runuser -u nobody -- ls "$M" >/dev/null 2>&1; [ $? -ne 0 ]; echo $?)" \
		"another user cannot see a private mount"
	ok_cmd "unmount" fusermount3 -u "$M"
	ok_cmd "mount -o allow_other" mount_repo "$R" "$M" -o allow_other
	like "$(grep -F " $M " /proc/self/mountinfo)" "default_permissions" "allow_other turns on default_permissions"
	is "$(runuser -u nobody -- cat "$M/b1/files/hello.txt" 2>&1)" "hello" "another user reads a 0644 file"
	like "$(runuser -u nobody -- cat "$M/b1/files/secret.txt" 2>&1)" "Permission denied" \
		"but not a 0600 file of root (recorded mode enforced)"
	ok_cmd "unmount" fusermount3 -u "$M"
	chmod 0711 "$T"
else
	diag "no 'nobody' user or runuser: allow_other checks skipped"
fi

# ---- mount.backupfs (the mount(8) helper)
ok_cmd "mount.backupfs REPO MNT -o noauto,nofail,cache_size=32M,nosuid" \
	env BACKUPFS="$BACKUPFS" "$top_srcdir/scripts/mount.backupfs" "$R" "$M" \
	-o noauto,nofail,cache_size=32M,nosuid
at_exit unmount "'$M'"
is "$(cat "$M/b1/files/hello.txt" 2>&1)" "hello" "mounted by the helper"
ok_cmd "unmount" fusermount3 -u "$M"
done_testing
