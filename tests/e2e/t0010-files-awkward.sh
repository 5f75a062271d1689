#!/bin/bash
# --files with an awkward tree: everything round-trips through restore
# (content, modes, owners, ns mtimes, symlinks, hardlinks, sparse files,
# odd names, deep paths); sub-path restore; --force; ls of odd names;
# --exclude; the catalog is a rebuildable cache.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
S=$T/src

make_awkward_tree "$S"
ok_cmd "init" bfs init "$R"

# ---- full backup and restore
ok_cmd "backup --files of the awkward tree" bfs backup -r "$R" --id b1 --files "$S"
ok_cmd "restore the whole backup" bfs restore -r "$R" b1 --target "$T/r1"
ok "$([ -d "$T/r1/files" ]; echo $?)" "restore created TARGET/files"
ok_cmd "restored tree equals the source (content, type, mode, owner, mtime ns, links, names)" \
	compare_trees "$S" "$T/r1/files"

src_alloc=$(du -k "$S/sparse.img" | cut -f1)
dst_alloc=$(du -k "$T/r1/files/sparse.img" 2>/dev/null | cut -f1)
diag "sparse.img: 64 MiB apparent, source allocates ${src_alloc} KiB, restored ${dst_alloc:-?} KiB"
ok "$([ -n "$dst_alloc" ] && [ "$dst_alloc" -le $((src_alloc + 4096)) ]; echo $?)" \
	"restored sparse file is still sparse"
is "$(stat -c %s "$T/r1/files/sparse.img" 2>/dev/null)" "67108864" "sparse file keeps its size"

deep=$(cd "$T/r1/files" 2>/dev/null && find deep -name bottom.txt | wc -l)
is "$deep" "1" "the deep file (path > 4096 bytes) was restored"

# ---- restore of a sub path
ok_cmd "restore b1:files/dir/sub" bfs restore -r "$R" b1:files/dir/sub --target "$T/r2"
ok "$([ -f "$T/r2/files/dir/sub/b.txt" ]; echo $?)" "sub-path restore recreates TARGET/files/dir/sub"
ok "$([ ! -e "$T/r2/files/dir/a.txt" ] && [ ! -e "$T/r2/files/hello.txt" ]; echo $?)" \
	"sub-path restore restores only the sub path"
ok_cmd "restored sub tree equals the source" compare_trees "$S/dir/sub" "$T/r2/files/dir/sub"
ok_cmd "restore of a single file" bfs restore -r "$R" "b1:files/names/with space" --target "$T/r2b"
ok_cmd "single file content" cmp "$S/names/with space" "$T/r2b/files/names/with space"

# ---- overwrite protection
echo "local change" >"$T/r2/files/dir/sub/b.txt"
fails_with 1 "restore over existing files without --force: exit 1" \
	bfs restore -r "$R" b1:files/dir/sub --target "$T/r2"
is "$(cat "$T/r2/files/dir/sub/b.txt")" "local change" "existing file untouched without --force"
ok_cmd "restore --force overwrites" \
	bfs restore -r "$R" b1:files/dir/sub --target "$T/r2" --force
ok_cmd "tree equals the source after --force" compare_trees "$S/dir/sub" "$T/r2/files/dir/sub"

# ---- ls of odd names
ok_cmd "ls -l -R b1:files" bfs ls -r "$R" -l -R b1:files
lsout=$(cat "$T/stdout")
like "$lsout" "with space" "ls -R lists the name with a space"
like "$lsout" "$(printf 'a%.0s' $(seq 255))" "ls -R lists the 255-byte name"
like "$lsout" "bottom\\.txt" "ls -R reaches the bottom of the deep tree"
like "$lsout" "f001999" "ls -R lists the big directory"
ok_cmd "ls b1:files/names" bfs ls -r "$R" b1:files/names
# names are printed as ls -b would (issue 13 item 10): printable bytes and
# valid UTF-8 as they are, control characters and invalid UTF-8 escaped
# (\n, \t, \xff); every name is found in that form and nothing raw
n_names=$(find "$S/names" -mindepth 1 -maxdepth 1 -printf x | wc -c)
missing=$(find "$S/names" -mindepth 1 -maxdepth 1 -printf '%f\0' |
	"$BFS_PYTHON" -c '
import re, sys
named = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 27: "e"}
def q(b):
    out, i = [], 0
    while i < len(b):
        for n in (4, 3, 2, 1):
            try:
                ch = b[i:i + n].decode("utf-8")
                if len(ch) == 1:
                    break
            except UnicodeDecodeError:
                pass
        else:
            out.append("\\x%02x" % b[i]); i += 1; continue
        c = ord(ch)
        if c in named:
            out.append("\\" + named[c])
        elif c < 0x20 or c == 0x7f:
            out.append("\\x%02x" % c)
        elif 0x80 <= c <= 0x9f or 0x202a <= c <= 0x202e or 0x2066 <= c <= 0x2069:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
        i += n
    return "".join(out)
listed = set(open(sys.argv[1], "rb").read().decode("utf-8").split("\n"))
names = sys.stdin.buffer.read().split(b"\0")[:-1]
bad = [n for n in names if q(n) not in listed]
for n in bad:
    print("not listed: %r as %r" % (n, q(n)), file=sys.stderr)
print(len(bad))' "$T/stdout")
is "$missing" "0" "ls lists all $n_names odd names, escaped as ls -b does"
ok "$(grep -qaF -- '\xff\xfe' "$T/stdout"; echo $?)" "the non-UTF-8 name is listed as \\xff\\xfe"
ok "$(grep -qaF -- 'new\nline' "$T/stdout"; echo $?)" "the name with a newline is listed as new\\nline"
ok_cmd "ls b1:files/many" bfs ls -r "$R" b1:files/many
is "$(wc -l <"$T/stdout")" "2000" "ls of a 2000-entry directory"

# ---- --exclude
ok_cmd "backup with --exclude" bfs backup -r "$R" --id b2 --files "$S" \
	--exclude '*.bin' --exclude many
ok_cmd "ls -R b2:files" bfs ls -r "$R" -R b2:files
out=$(cat "$T/stdout")
unlike "$out" "random-5M\\.bin" "--exclude '*.bin' left out random-5M.bin"
unlike "$out" "f000001" "--exclude many left out the directory's content"
like "$out" "hello\\.txt" "other files are kept"

# ---- DEST=PATH and several --files
ok_cmd "backup --files with DEST" bfs backup -r "$R" --id b3 \
	--files data="$S/dir" --files conf/etc="$S/names"
ok_cmd "cat b3:data/sub/b.txt" bash -c "\"\$BACKUPFS\" cat -r '$R' b3:data/sub/b.txt | cmp - '$S/dir/sub/b.txt'"
ok_cmd "cat b3:conf/etc/with space" bash -c "\"\$BACKUPFS\" cat -r '$R' 'b3:conf/etc/with space' | cmp - '$S/names/with space'"

# ---- the catalog is a cache
before=$(bfs_ids -r "$R")
is "$(echo "$before" | sort | tr '\n' ' ')" "b1 b2 b3 " "three backups listed"
catdir=$XDG_CACHE_HOME/backupfs
ok "$(ls "$catdir"/*.db >/dev/null 2>&1; echo $?)" "catalog in \$XDG_CACHE_HOME/backupfs/<id>.db"
rm -rf "$catdir"
is "$(bfs_ids -r "$R")" "$before" "list after deleting the catalog (automatic sync)"
rm -rf "$catdir"
ok_cmd "ls after deleting the catalog" bfs ls -r "$R" b1:files/dir
rm -rf "$catdir"
ok_cmd "restore after deleting the catalog" bfs restore -r "$R" b1 --target "$T/r3"
ok_cmd "restored tree equals the source" compare_trees "$S" "$T/r3/files"
ok_cmd "catalog rebuild" bfs catalog rebuild -r "$R"
is "$(bfs_ids -r "$R")" "$before" "same list after catalog rebuild"
ok_cmd "catalog sync" bfs catalog sync -r "$R"
ok_cmd "--catalog FILE" bfs list -r "$R" --catalog "$T/other.db"
ok "$([ -s "$T/other.db" ]; echo $?)" "--catalog FILE created the file"
is "$(bfs_ids -r "$R" --catalog "$T/other.db")" "$before" "same list with --catalog FILE"

done_testing
