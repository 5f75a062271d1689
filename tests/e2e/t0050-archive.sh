#!/bin/bash
# --archive: tar.gz, tar.zst, plain tar and zip archives are unpacked into
# the backup; their contents (and for tar modes, owners, mtimes, links)
# come back on restore; hostile entries stay inside the backup.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
S=$T/src
ok_cmd "init" bfs init "$R"

# ---- a tree to archive
mkdir -p "$S/docs/sub" "$S/empty" "$S/bin"
seq 1 100000 >"$S/docs/numbers.txt"
head -c 3000000 /dev/urandom >"$S/docs/sub/random.bin"
: >"$S/docs/empty.txt"
printf 'name with space\n' >"$S/docs/with space.txt"
printf 'utf8\n' >"$S/docs/h$(printf '\xc3\xa9')llo-$(printf '\xf0\x9f\x98\x80').txt"
printf '#!/bin/sh\necho hi\n' >"$S/bin/run.sh"
chmod 0755 "$S/bin/run.sh"
chmod 0600 "$S/docs/numbers.txt"
chmod 0750 "$S/docs/sub"
ln -s ../docs/numbers.txt "$S/bin/link"
ln "$S/docs/empty.txt" "$S/docs/hardlink.txt"
echo "hard" >"$S/hl1"
ln "$S/hl1" "$S/hl2"
if [ "$(id -u)" -eq 0 ]; then
	chown 1234:5678 "$S/docs/with space.txt"
fi
find "$S" -mindepth 1 -depth -exec touch -h -d '2020-05-06 07:08:09.123456789' {} +
touch -h -d '2019-01-01 00:00:01.5' "$S/docs/numbers.txt"

tar --format=posix -C "$S" -czf "$T/a.tar.gz" .
tar --format=posix -C "$S" --zstd -cf "$T/a.tar.zst" .
tar --format=gnu -C "$S" -cf "$T/a.tar" .
(cd "$S" && zip -q -r -y "$T/a.zip" .)
ok $? "archives built"

ok_cmd "backup of four archives" bfs backup -r "$R" --id arc \
	--archive tgz="$T/a.tar.gz" --archive tzst="$T/a.tar.zst" \
	--archive tar="$T/a.tar" --archive zip="$T/a.zip"
is "$(bfs ls -r "$R" arc | sed 's:/$::' | sort | tr '\n' ' ')" "tar tgz tzst zip " \
	"each archive lands in its DEST"
ok_cmd "restore" bfs restore -r "$R" arc --target "$T/r"

# tar keeps modes, owners and mtimes (pax: nanoseconds; gnu: seconds)
BFS_COMPARE_IGNORE=root ok_cmd "tar.gz: contents, modes, owners, ns mtimes, links" \
	compare_trees "$S" "$T/r/tgz"
BFS_COMPARE_IGNORE=root ok_cmd "tar.zst: contents, modes, owners, ns mtimes, links" \
	compare_trees "$S" "$T/r/tzst"
BFS_COMPARE_IGNORE=root,mtime_s ok_cmd "tar (gnu): contents, modes, owners, mtimes (s), links" \
	compare_trees "$S" "$T/r/tar"
# zip keeps contents, symlinks (-y) and modes; times are coarse, no owners
BFS_COMPARE_IGNORE=root,uid,gid,mtime_ns,links ok_cmd "zip: contents, types, modes" \
	compare_trees "$S" "$T/r/zip"
is "$(bfs cat -r "$R" arc:zip/docs/sub/random.bin | md5sum)" \
	"$(md5sum <"$S/docs/sub/random.bin")" "cat of a file from the zip"
is "$(bfs cat -r "$R" arc:tzst/docs/numbers.txt | md5sum)" \
	"$(md5sum <"$S/docs/numbers.txt")" "cat of a file from the tar.zst"

# ---- default DEST; the same content as --files
ok_cmd "backup --archive without DEST" bfs backup -r "$R" --id arc2 --archive "$T/a.tar.gz"
ok "$([ "$(bfs ls -r "$R" arc2 | wc -l)" -ge 1 ]; echo $?)" "default DEST: $(bfs ls -r "$R" arc2 | tr '\n' ' ')"
before=$(pack_bytes "$R")
ok_cmd "same tree again as --files" bfs backup -r "$R" --id files --files "$S"
after=$(pack_bytes "$R")
diag "--files of the same tree after its archives added $((after - before)) bytes (dedup across source kinds)"

# ---- bad archives
head -c 100000 /dev/urandom >"$T/junk.tar.gz"
fails_with 1 "a corrupt archive: exit 1" bfs backup -r "$R" --id junk --archive "x=$T/junk.tar.gz"
ok "$([ ! -e "$R/manifests/junk" ]; echo $?)" "no manifest for the corrupt archive"
head -c $(( $(stat -c %s "$T/a.tar.gz") / 2 )) "$T/a.tar.gz" >"$T/trunc.tar.gz"
fails_with 1 "a truncated archive: exit 1" bfs backup -r "$R" --id trunc --archive "x=$T/trunc.tar.gz"
fails_with 1 "a missing archive: exit 1" bfs backup -r "$R" --id missing --archive "x=$T/nope.tar"
# a text file is no archive (libarchive's mtree reader takes any text as
# a spec of entries, and its contents= keyword reads this host's files)
echo hello >"$T/notes.txt"
printf '#mtree\n./hostname type=file contents=/etc/hostname\n' >"$T/spec.mtree"
for f in notes.txt spec.mtree; do
	fails_with 1 "$f as --archive: exit 1" bfs backup -r "$R" --id txt --archive "x=$T/$f"
	like "$(cat "$T/stderr")" "$f.*[Uu]nrecognized archive format" "  says it is no archive"
	ok "$([ ! -e "$R/manifests/txt" ]; echo $?)" "  no manifest"
done

# hostile names: ../, absolute paths, a symlink then a file through it
"$BFS_PYTHON" - "$T/evil.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    def add(name, data=b"x\n", **kw):
        ti = tarfile.TarInfo(name)
        for k, v in kw.items():
            setattr(ti, k, v)
        if ti.type == tarfile.REGTYPE:
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        else:
            t.addfile(ti)
    add("good.txt", b"good\n")
    add("../escape.txt", b"escape\n")
    add("/abs.txt", b"abs\n")
    add("a/../../escape2.txt", b"escape2\n")
    add("lnk", type=tarfile.SYMTYPE, linkname="/tmp")
    add("lnk/through-link.txt", b"through\n")
PY
bfs backup -r "$R" --id evil --archive "ev=$T/evil.tar" >"$T/stdout" 2>"$T/stderr"
rc=$?
diag "backup of a hostile tar: exit $rc; $(head -c 500 "$T/stderr")"
ok "$([ $rc -eq 0 ] || [ $rc -eq 1 ] || [ $rc -eq 3 ]; echo $?)" "hostile tar: exit 0, 1 or 3 (got $rc)"
if [ $rc -ne 1 ]; then
	listing=$(bfs ls -r "$R" -R evil 2>&1)
	unlike "$listing" '(^|/)\.\.(/|$)' "no '..' component in the backup"
	mkdir -p "$T/evil-target/inner"
	bfs restore -r "$R" evil --target "$T/evil-target/inner" >/dev/null 2>&1
	ok "$([ ! -e "$T/evil-target/escape.txt" ] && [ ! -e "$T/evil-target/inner/escape.txt" ] &&
	     [ ! -e "$T/escape2.txt" ] && [ ! -e /abs.txt ] &&
	     [ ! -e /tmp/through-link.txt ]; echo $?)" "restore writes nothing outside the target"
	rm -f /tmp/through-link.txt
fi

done_testing
