#!/bin/bash
# A FIFO (or socket, or device) in place of a pack, an index object, a
# manifest or the config (issue 13 item 5): cat, restore, ls and check
# fail at once with an error naming the object, never hang; the mount
# gives EIO for the file and its daemon still exits on SIGTERM.  Every
# command runs under `timeout`, so a hang is a failure, not a stuck test.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

R=$T/repo
mkdir -p "$T/src"
echo 'hello fifo' >"$T/src/a.txt"
ok_cmd "init" bfs init "$R"
ok_cmd "backup" bfs backup -r "$R" --id b1 --files "app=$T/src"
ok_cmd "list (the catalog knows b1)" bfs list -r "$R"

# t CODE DESC CMD...: like fails_with, under a 20 s timeout (124: a hang)
t() {
	local code=$1 desc=$2
	shift 2
	fails_with "$code" "$desc" timeout -k 5 20 "$BACKUPFS" "$@"
}

# ---- a pack
pack=$(find "$R/packs" -type f | head -n 1)
mv "$pack" "$T/pack.real"
mkfifo "$pack"
key=${pack#"$R/"}
t 1 "cat with a FIFO pack fails" cat -r "$R" b1:app/a.txt
like "$(cat "$T/stderr")" "$key.*FIFO, not a regular file" "naming the pack and saying FIFO"
t 1 "restore with a FIFO pack fails" restore -r "$R" b1:app --to "$T/back"
like "$(cat "$T/stderr")" "$key.*FIFO" "naming the pack"
t 1 "check --read-data fails" check -r "$R" --read-data
like "$(cat "$T/stderr")$(cat "$T/stdout")" "$key" "naming the pack"

if [ "$(id -u)" -eq 0 ] && [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	M=$T/mnt
	mkdir -p "$M"
	mount_repo_fg "$R" "$M" "$T/mount.log"
	fails_with 1 "a read through the mount fails" timeout -k 5 20 cat "$M/b1/app/a.txt"
	like "$(cat "$T/stderr")" "Input/output error" "with EIO"
	kill -TERM "$MOUNT_PID"
	ok_cmd "the daemon exits on SIGTERM" wait_until 15 bash -c "! kill -0 $MOUNT_PID 2>/dev/null"
	like "$(cat "$T/mount.log")" "FIFO" "its log says why"
else
	for i in 1 2 3 4; do ok 0 "# SKIP mount part: needs root and FUSE"; done
fi
rm "$pack"
mv "$T/pack.real" "$pack"
ok_cmd "the real pack back: cat works" timeout 20 "$BACKUPFS" cat -r "$R" b1:app/a.txt

# ---- the manifest, with a fresh catalog (so it is read)
mv "$R/manifests/b1" "$T/manifest.real"
mkfifo "$R/manifests/b1"
rm -rf "$XDG_CACHE_HOME/backupfs"
t 1 "ls with a FIFO manifest fails" ls -r "$R" b1:app
like "$(cat "$T/stderr")" "manifests/b1.*FIFO" "naming the manifest"
rm "$R/manifests/b1"
mv "$T/manifest.real" "$R/manifests/b1"

# ---- an index object
idx=$(find "$R/index" -type f | head -n 1)
mv "$idx" "$T/index.real"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$idx"
rm -rf "$XDG_CACHE_HOME/backupfs"
t 1 "cat with a socket as index object fails" cat -r "$R" b1:app/a.txt
like "$(cat "$T/stderr")" "${idx#"$R/"}.*socket" "naming the index object"
rm "$idx"
mv "$T/index.real" "$idx"

# ---- the config
mv "$R/config" "$T/config.real"
mkfifo "$R/config"
t 1 "list with a FIFO config fails" list -r "$R"
like "$(cat "$T/stderr")" "config.*FIFO" "naming the config"
rm "$R/config"
mv "$T/config.real" "$R/config"
rm -rf "$XDG_CACHE_HOME/backupfs"
ok_cmd "all back: cat works" timeout 20 "$BACKUPFS" cat -r "$R" b1:app/a.txt
is "$(cat "$T/stdout")" "hello fifo" "the content"

done_testing
