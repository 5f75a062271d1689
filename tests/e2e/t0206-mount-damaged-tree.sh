#!/bin/bash
# A directory whose tree part is damaged in the repository (format 2): the
# backup is still listed and everything else in it reads; that directory
# is an I/O error with a log line naming backup and directory, in the
# mount and in `backupfs ls` - never an empty or shorter listing.  With
# its index object gone, the backup's root is damaged the same way.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse
require_cmd jq
require_cmd zstd

R=$T/repo
M=$T/mnt
S=$T/src
mkdir -p "$S/good" "$S/bad/deeper"
for i in 1 2 3; do echo "good $i" >"$S/good/g$i"; echo "bad $i" >"$S/bad/b$i"; done
echo deep >"$S/bad/deeper/d"
ok_cmd "init" bfs init "$R"
ok_cmd "backup" bfs backup -r "$R" --id b1 --files "top=$S"

# where every blob is, and the tree part of "bad" (walk from the root)
for i in "$R"/index/*; do zstd -dc "$i"; done |
	jq -r '.pack as $p | .blobs[] | "\(.[0]) \($p) \(.[2]) \(.[3])"' >"$T/blobs"
blob() {
	read -r _ pack off clen < <(grep "^$1 " "$T/blobs")
	dd if="$R/packs/${pack:0:2}/$pack" iflag=skip_bytes,count_bytes \
		skip="$off" count="$clen" status=none | zstd -dc
}
root=$(zstd -dc "$R/manifests/b1" | head -n 1 | jq -r '.root[0]')
top=$(blob "$root" | jq -r 'select(.n == "top") | .tree[0]')
bad=$(blob "$top" | jq -r 'select(.n == "bad") | .tree[0]')
ok "$([ ${#bad} -eq 64 ]; echo $?)" "found the tree part of top/bad"

# flip one byte in the middle of that blob's frame
read -r _ pack off clen < <(grep "^$bad " "$T/blobs")
"$BFS_PYTHON" - "$R/packs/${pack:0:2}/$pack" "$((off + clen / 2))" <<'PY'
import sys
p, at = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read())
b[at] ^= 0xff
open(p, 'wb').write(bytes(b))
PY
# a fresh catalog ingests the damaged repository
rm -rf "$XDG_CACHE_HOME/backupfs"
ok_cmd "list still shows the backup" bfs list -r "$R"
like "$(cat "$T/stdout")" "b1" "b1 is listed"
like "$(cat "$T/stderr")" "top/bad.*damaged" "the sync warns, naming the directory"
ok_cmd "ls of a sound directory" bfs ls -r "$R" b1:top/good
is "$(cat "$T/stdout" | wc -l)" "3" "it lists its three files"
fails_with 1 "ls of the damaged directory fails" bfs ls -r "$R" b1:top/bad
like "$(cat "$T/stderr")" "damaged" "saying it is damaged"
unlike "$(cat "$T/stdout")" "b1|b2|b3" "and lists nothing"

ok_cmd "mount" mount_repo "$R" "$M"
is "$(ls "$M/b1/top")" "bad
good" "the parent lists both"
is "$(cat "$M/b1/top/good/g2")" "good 2" "a file of the sound directory reads"
ls "$M/b1/top/bad" >"$T/ls.out" 2>"$T/ls.err"
ok "$([ $? -ne 0 ]; echo $?)" "ls of the damaged directory fails"
like "$(cat "$T/ls.err")" "Input/output error" "with EIO"
is "$(cat "$T/ls.out")" "" "and no (shorter) listing"
cat "$M/b1/top/bad/b1" >/dev/null 2>"$T/cat.err"
like "$(cat "$T/cat.err")" "Input/output error" "a path below it is EIO too"
ok_cmd "unmount" unmount "$M"

# ---- the index object gone: nothing of b1 can be located
rm -f "$R"/index/*
rm -rf "$XDG_CACHE_HOME/backupfs"
ok_cmd "list without the index object" bfs list -r "$R"
like "$(cat "$T/stdout")" "b1" "b1 is still listed"
fails_with 1 "ls of its root fails" bfs ls -r "$R" b1
like "$(cat "$T/stderr")" "in no index object" "saying what is missing"
done_testing
