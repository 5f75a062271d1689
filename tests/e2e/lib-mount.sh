# tests/e2e/lib-mount.sh: mount helpers for the t02NN-mount-* tests.
# Source after lib.sh:
#     . "$top_srcdir/tests/e2e/lib-mount.sh"
#
#   mount_repo REPO MNT [ARGS...]   backupfs mount (daemon) at MNT; an
#                                   unmount is always registered at exit
#   mount_repo_fg REPO MNT LOG [ARGS...]
#                                   backupfs mount -f in the background,
#                                   stderr to LOG; sets MOUNT_PID; waits
#                                   until mounted; unmount + kill at exit
#   wait_mounted MNT [SECONDS]      until MNT is a mount point that answers
#   is_mounted MNT                  MNT is in /proc/self/mountinfo
#   unmount MNT                     fusermount3 -u, falling back to -uz
#   daemon_pid MNT                  pid of the backupfs daemon serving MNT

: "${top_srcdir:?source lib.sh first}"

# is_mounted MNT: true if MNT is a mount point (per mountinfo, so a dead
# daemon's stale mount still counts).
is_mounted() {
	local mnt
	mnt=$(realpath -m "$1")
	awk '{print $5}' /proc/self/mountinfo |
		while IFS= read -r mp; do printf '%b\n' "$mp"; done |
		grep -qxF -- "$mnt"
}

# unmount MNT: fusermount3 -u, falling back to a lazy unmount.
unmount() {
	is_mounted "$1" || return 0
	fusermount3 -u "$1" 2>/dev/null || fusermount3 -uz "$1" 2>/dev/null ||
		umount -l "$1" 2>/dev/null
}

# wait_mounted MNT [SECONDS]: until MNT is mounted and `ls MNT` works.
wait_mounted() {
	local mnt=$1 secs=${2:-10}
	wait_until "$secs" bash -c 'grep -qF " $(realpath -m "$1") " /proc/self/mountinfo && ls "$1"' _ "$mnt"
}

# mount_repo REPO MNT [ARGS...]: daemonised mount; returns backupfs'
# exit code.  stderr of the mount command is in $T/mount.stderr.
mount_repo() {
	local repo=$1 mnt=$2 rc
	shift 2
	mkdir -p "$mnt"
	at_exit unmount "'$mnt'"
	"$BACKUPFS" mount -r "$repo" "$mnt" "$@" 2>"$T/mount.stderr"
	rc=$?
	if [ $rc -ne 0 ]; then
		sed 's/^/# mount: /' "$T/mount.stderr" >&2
	fi
	return $rc
}

# mount_repo_fg REPO MNT LOG [ARGS...]: foreground mount in the
# background (its log in LOG); MOUNT_PID is its pid.  Returns non-zero if
# the mount did not come up within 15 s.
mount_repo_fg() {
	local repo=$1 mnt=$2 log=$3
	shift 3
	mkdir -p "$mnt"
	"$BACKUPFS" mount -f -r "$repo" "$mnt" "$@" 2>"$log" &
	MOUNT_PID=$!
	at_exit "kill $MOUNT_PID 2>/dev/null; sleep 0.2; kill -9 $MOUNT_PID 2>/dev/null"
	at_exit unmount "'$mnt'"
	if ! wait_mounted "$mnt" 15; then
		sed 's/^/# mount -f: /' "$log" >&2
		return 1
	fi
	return 0
}

# daemon_pid MNT: the pid of the backupfs process serving MNT.
daemon_pid() {
	local mnt pid
	mnt=$(realpath -m "$1")
	for pid in $(pgrep -x backupfs); do
		if tr '\0' '\n' 2>/dev/null </proc/"$pid"/cmdline | grep -qxF -- "$mnt" ||
		   tr '\0' '\n' 2>/dev/null </proc/"$pid"/cmdline | grep -qxF -- "$1"; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}
