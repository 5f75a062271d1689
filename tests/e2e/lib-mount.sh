# tests/e2e/lib-mount.sh: mount helpers for the t02NN-mount-* tests.
# Source after lib.sh:
#     . "$top_srcdir/tests/e2e/lib-mount.sh"
#
#   mount_repo REPO MNT [ARGS...]   backupfs mount (daemon) at MNT; an
#                                   unmount is always registered at exit
#   mount_repo_fg REPO MNT LOG [ARGS...]
#                                   backupfs mount -f in the background,
#                                   stderr to LOG; sets MOUNT_PID; waits
#                                   until its own mount answers at MNT (a
#                                   mount left there does not count);
#                                   unmount + kill at exit
#   wait_mounted MNT [SECONDS [OLD]]
#                                   until MNT is a mount point that answers
#                                   (and its top mount is none of OLD)
#   is_mounted MNT                  MNT is in /proc/self/mountinfo
#   mount_ids MNT                   ids of the mounts at MNT, oldest first
#   unmount MNT                     fusermount3 -u, falling back to -uz,
#                                   until nothing is mounted at MNT
#   daemon_pid MNT                  pid of the backupfs daemon serving MNT
#
# No `... | grep -q` here: lib.sh sets pipefail, and grep -q leaving
# early kills the writer with SIGPIPE, which turns a match into a
# failure.  is_mounted did that when its line was not mountinfo's last
# (another test's mount made after it): unmount then left the mount in
# place, and the next mount_repo_fg's wait_mounted took the old mount for
# the new one (t0714: a listing served by the previous daemon).

: "${top_srcdir:?source lib.sh first}"

# mount_ids MNT: the mount ids (mountinfo field 1) of the mounts at MNT,
# one a line in mountinfo's order (the oldest first, so the last is the
# top one, the one a path lookup sees).  Per mountinfo, so a dead
# daemon's stale mount counts.
mount_ids() {
	local mnt
	mnt=$(realpath -m "$1")
	# field 5 is the mount point, with space, tab, newline and backslash
	# octal-escaped (the path goes in through the environment: -v would
	# take escapes of its own)
	BFS_MNT=$mnt awk '
		function unesc(s,    out, i) {
			out = ""
			while ((i = index(s, "\\")) > 0) {
				out = out substr(s, 1, i - 1) sprintf("%c", \
					substr(s, i + 1, 1) * 64 + substr(s, i + 2, 1) * 8 + substr(s, i + 3, 1))
				s = substr(s, i + 4)
			}
			return out s
		}
		unesc($5) == ENVIRON["BFS_MNT"] { print $1 }' /proc/self/mountinfo
}

# is_mounted MNT: true if MNT is a mount point.
is_mounted() {
	[ -n "$(mount_ids "$1")" ]
}

# unmount MNT: fusermount3 -u, falling back to a lazy unmount, until
# nothing is mounted at MNT (each round takes the top mount off), then
# wait (up to 10 s) for the daemons that served it to exit: one still
# closing its catalog must not meet the next step's mount or files, nor
# be taken for the next mount's daemon (daemon_pid).  Non-zero with a
# diagnostic if MNT stays mounted.
unmount() {
	local i pids
	pids=$(daemon_pids "$1")
	for ((i = 0; i < 50; i++)); do
		is_mounted "$1" || break
		fusermount3 -u "$1" 2>/dev/null || fusermount3 -uz "$1" 2>/dev/null ||
			umount -l "$1" 2>/dev/null || sleep 0.1
	done
	if is_mounted "$1"; then
		diag "unmount: '$1' is still mounted"
		return 1
	fi
	for ((i = 0; i < 100; i++)); do
		_any_alive $pids || return 0
		sleep 0.1
	done
	diag "unmount: a daemon of '$1' did not exit ($pids)"
	return 0
}

# _any_alive PID...: true if one of them still runs (not a zombie).
_any_alive() {
	local p st
	for p in "$@"; do
		st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || continue
		[ -n "$st" ] && [ "$st" != Z ] && return 0
	done
	return 1
}

# wait_mounted MNT [SECONDS [OLD]]: until MNT is mounted, its top mount's
# id is not in OLD (mount_ids taken before the mount started: a mount
# left at MNT is not the new one) and `ls MNT` works.
wait_mounted() {
	wait_until "${2:-10}" _mounted_new "$1" "${3:-}"
}

# _mounted_new MNT OLD: MNT's top mount is not in OLD and answers.
_mounted_new() {
	local top
	top=$(mount_ids "$1" | tail -n 1)
	[ -n "$top" ] && ! grep -qxF -- "$top" <<<"$2" && ls "$1" >/dev/null
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
# background (its log in LOG); MOUNT_PID is its pid.  Returns once the
# new mount is MNT's top one and answers; non-zero if it did not come up
# within 15 s.
mount_repo_fg() {
	local repo=$1 mnt=$2 log=$3 old
	shift 3
	mkdir -p "$mnt"
	old=$(mount_ids "$mnt")
	"$BACKUPFS" mount -f -r "$repo" "$mnt" "$@" 2>"$log" &
	MOUNT_PID=$!
	at_exit "kill $MOUNT_PID 2>/dev/null; sleep 0.2; kill -9 $MOUNT_PID 2>/dev/null"
	at_exit unmount "'$mnt'"
	if ! wait_mounted "$mnt" 15 "$old"; then
		sed 's/^/# mount -f: /' "$log" >&2
		return 1
	fi
	return 0
}

# daemon_pids MNT: the pids of the backupfs processes whose command line
# names MNT, oldest first (one still exiting after an unmount included).
daemon_pids() {
	local mnt pid a args
	mnt=$(realpath -m "$1")
	for pid in $(ps -o pid= --sort=start_time -C backupfs 2>/dev/null); do
		mapfile -d '' args 2>/dev/null </proc/"$pid"/cmdline || continue
		for a in "${args[@]}"; do
			if [ "$a" = "$mnt" ] || [ "$a" = "$1" ]; then
				echo "$pid"
				break
			fi
		done
	done
}

# daemon_pid MNT: the pid of the backupfs process serving MNT (the newest
# one whose command line names it).
daemon_pid() {
	local p
	p=$(daemon_pids "$1" | tail -n 1)
	[ -n "$p" ] && echo "$p"
}

# mk_flat DIR NFILES: NFILES small files (0-96 bytes) in directories of
# 1,000 (DIR/d000/f000000...), for the mount's memory tests
mk_flat() {
	"$BFS_PYTHON" - "$1" "$2" <<'PY'
import os, sys
top, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(top, "d%03d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(b"x" * (i % 97))
PY
}

# tree_listing DIR: one line per entry below DIR (name, type, size of a
# file, mtime), sorted
tree_listing() {
	(cd "$1" && find . -mindepth 1 -printf '%P %y %s %T@\n' |
		awk '$2 != "f" { $3 = "-" } { print }' | LC_ALL=C sort)
}
