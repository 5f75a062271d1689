#!/bin/bash
# backupfs mount: errors before mounting (missing/unknown repository,
# missing mountpoint) exit 1 with a clear message; write operations fail
# with EROFS; a killed daemon leaves a stale mount that fusermount3 -u
# cleans, after which mounting works again; allow_other enforces the
# recorded modes; the mount.backupfs helper; where a background mount's
# messages go (syslog, or a log file when no syslog daemon listens, or
# --log-file) and that it says so, with a read error findable there.
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

# ---- a readahead over a third of the cache is held to it, and said so
bfs mount -r "$R" "$M" --readahead 24M >/dev/null 2>"$T/ra.err"
is "$?" "0" "mount with --readahead 24M at the default 48M cache"
like "$(cat "$T/ra.err")" \
	"note: --readahead 24\.0 MiB is more than the 48\.0 MiB cache allows: reading ahead 16\.0 MiB" \
	"a note says the readahead is held to a third of the cache"
unmount "$M"
bfs mount -r "$R" "$M" --readahead 16M --cache-size 48M >/dev/null 2>"$T/ra.err"
is "$?" "0" "mount with --readahead 16M"
unlike "$(cat "$T/ra.err")" "note:" "no note for a readahead within a third of the cache"
unmount "$M"
bfs mount -q -r "$R" "$M" --readahead 64M >/dev/null 2>"$T/ra.err"
is "$?$(cat "$T/ra.err")" "0" "-q: no note"
unmount "$M"

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

# ---- where the daemon's messages go
# A pack of its own for b2, to corrupt later.
head -c $((2 << 20)) /dev/urandom >"$T/bad.bin"
before=$(pack_files "$R")
ok_cmd "backup b2 (its own pack)" bfs backup -r "$R" --id b2 --stdin bad.bin <"$T/bad.bin"
badpack=$(comm -13 <(echo "$before") <(pack_files "$R") | head -1)
ok_cmd "mount --log-file FILE" mount_repo "$R" "$M" --log-file "$T/logs/m.log"
like "$(cat "$T/mount.stderr")" "messages \\(read errors too\\) go to $T/logs/m.log" \
	"the mount says where its messages go"
is "$(stat -c %a "$T/logs/m.log" 2>&1)" "600" "the log file is private (0600)"
size=$(stat -c %s "$badpack")
printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' |
	dd of="$badpack" bs=1 seek=$((size / 2)) conv=notrunc status=none
fails_with 1 "a read of the corrupted file fails" timeout 30 cat "$M/b2/bad.bin"
ok "$(wait_until 5 grep -qF "b2/bad.bin" "$T/logs/m.log"; echo $?)" \
	"the read error is in the log file, naming backup and path"
like "$(cat "$T/logs/m.log")" "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z backupfs\\[[0-9]+\\]: " \
	"log lines carry a UTC time and the pid"
ok_cmd "unmount" fusermount3 -u "$M"

# Without a syslog daemon: a file under XDG_STATE_HOME.  Where this
# machine has a /dev/log, it is hidden in a private mount namespace, and
# the mount, the read and the unmount happen in there.
cat >"$T/nosyslog.sh" <<'SH'
if [ -e /dev/log ]; then
	: >"$T_DIR/empty" && mount --bind "$T_DIR/empty" /dev/log || exit 99
fi
"$BACKUPFS" mount -r "$R" "$M" || exit $?
timeout 30 cat "$M/b2/bad.bin" >/dev/null 2>"$T_DIR/cat.err"
echo $? >"$T_DIR/cat.rc"
sleep 0.5
fusermount3 -u "$M"
SH
if [ -e /dev/log ] && ! command -v unshare >/dev/null; then
	diag "/dev/log exists and there is no unshare: the syslog fallback is not checked"
else
	ns=
	[ -e /dev/log ] && ns="unshare -m --propagation private"
	mkdir -p "$M"
	T_DIR=$T R=$R M=$M BACKUPFS=$BACKUPFS XDG_STATE_HOME=$T/state \
		$ns bash "$T/nosyslog.sh" >"$T/stdout" 2>"$T/stderr"
	rc=$?
	if [ $rc -eq 99 ]; then
		diag "cannot hide /dev/log here: the syslog fallback is not checked"
	else
		is "$rc" "0" "mount, read and unmount without a syslog daemon"
		log=$T/state/backupfs/mount-$(jq -r .id "$R/config").log
		like "$(cat "$T/stderr")" "go to $log" "it names the log file it falls back to"
		is "$(cat "$T/cat.rc" 2>&1)" "1" "a read of the corrupted file fails"
		like "$(cat "$log" 2>&1)" "b2/bad\\.bin" "and the error is in that file"
	fi
fi
done_testing
