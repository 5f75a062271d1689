#!/bin/bash
# Limits (issue 13 items 6 and 8), on backups crafted by craft-tool:
#  - a file that claims 2^63-1 bytes (the format allows it) lists in ls
#    and stats in the mount (st_blocks used to overflow: UB, the ASan
#    mount aborted);
#  - a symlink target of BFS_SYMLINK_TARGET_MAX (4095) bytes lists,
#    restores and reads through the mount; one byte more, or a name of
#    300 bytes, is the same verdict everywhere: the directory is damaged
#    (ls and restore exit 1 saying why, the mount gives EIO);
#  - the writer refuses the same: an archive member with a 300-byte name
#    or a 4096-byte symlink target is skipped with a warning.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

CRAFT=$top_builddir/tests/unit/craft-tool
[ -x "$CRAFT" ] || bail_out "$CRAFT is missing (make check builds it)"
R=$T/repo
ok_cmd "init" bfs init "$R"
ok_cmd "craft the huge file" "$CRAFT" "$R" huge
ok_cmd "craft the limit cases" "$CRAFT" "$R" limits

# ---- the huge size
ok_cmd "ls of the huge file" bfs ls -l -r "$R" big:src
like "$(cat "$T/stdout")" "9223372036854775807 .* huge" "shows 2^63-1 bytes"
fails_with 1 "cat of it fails (unreadable at backup time)" bfs cat -r "$R" big:src/huge

# ---- the symlink targets and the long name: ls and restore
ok_cmd "ls of a 4095-byte target" bfs ls -r "$R" lim-ok:src
ok_cmd "restore of a 4095-byte target" bfs restore -r "$R" lim-ok:src --target "$T/ok"
is "$(readlink "$T/ok/src/ok-link" | wc -c)" "4096" "the link holds 4095 bytes (+ newline)"
fails_with 1 "ls of a 4096-byte target: damaged" bfs ls -r "$R" lim-target:src
like "$(cat "$T/stderr")" "symlink target of 4096 bytes \\(at most 4095\\)" "saying why"
fails_with 1 "restore of it: the same verdict" \
	bfs restore -r "$R" lim-target:src --target "$T/t"
like "$(cat "$T/stderr")" "symlink target of 4096 bytes \\(at most 4095\\)" "saying why"
fails_with 1 "ls of a 300-byte name: damaged" bfs ls -r "$R" lim-name:src
like "$(cat "$T/stderr")" "name of 300 bytes \\(at most 255\\)" "saying why"
fails_with 1 "restore of it: the same verdict" \
	bfs restore -r "$R" lim-name:src --target "$T/n"
like "$(cat "$T/stderr")" "name of 300 bytes \\(at most 255\\)" "saying why"

# ---- the mount
if [ "$(id -u)" -eq 0 ] && [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	M=$T/mnt
	mkdir -p "$M"
	mount_repo_fg "$R" "$M" "$T/mount.log"
	ok_cmd "stat of the huge file in the mount" stat -c '%s %b' "$M/big/src/huge"
	is "$(cat "$T/stdout")" "9223372036854775807 18014398509481984" \
		"size 2^63-1, st_blocks rounded up without overflow"
	ok_cmd "readlink of the 4095-byte target in the mount" readlink "$M/lim-ok/src/ok-link"
	is "$(wc -c <"$T/stdout")" "4096" "all 4095 bytes"
	fails_with 2 "ls of the 4096-byte target's directory: EIO" ls "$M/lim-target/src"
	like "$(cat "$T/stderr")" "Input/output error" "EIO"
	fails_with 2 "ls of the long name's directory: EIO" ls "$M/lim-name/src"
	like "$(cat "$T/stderr")" "Input/output error" "EIO"
	kill -TERM "$MOUNT_PID"
	ok_cmd "the mount daemon is alive and exits on SIGTERM" \
		wait_until 15 bash -c "! kill -0 $MOUNT_PID 2>/dev/null"
else
	for i in $(seq 10); do ok 0 "# SKIP the mount part: needs root and FUSE"; done
fi

# ---- the writer: an archive with entries past the limits
"$BFS_PYTHON" - "$T/a.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data=b"", link=None):
        i = tarfile.TarInfo(name)
        if link is not None:
            i.type, i.linkname = tarfile.SYMTYPE, link
        else:
            i.size = len(data)
        t.addfile(i, io.BytesIO(data) if link is None else None)
    add("ok.txt", b"fine\n")
    add("n" * 300, b"long name\n")
    add("long-link", link="x" * 4096)
    add("ok-link", link="y" * 4095)
PY
ok_cmd "backup of an archive with entries past the limits" \
	bfs backup -r "$R" --id arc --archive "a=$T/a.tar"
like "$(cat "$T/stderr")" "a name of 300 bytes \\(at most 255\\)" "warns about the name"
like "$(cat "$T/stderr")" "symlink target of 4096 bytes \\(at most 4095\\)" "warns about the target"
ok_cmd "ls of it" bfs ls -r "$R" arc:a
is "$(cat "$T/stdout" | sort | tr '\n' ' ')" "ok-link ok.txt " "the other entries are there"
ok_cmd "restore of it" bfs restore -r "$R" arc:a --target "$T/arc"

done_testing
