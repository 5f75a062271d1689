#!/bin/bash
# Restore and cat against hostile or awkward backups (issue 13):
#  - item 9: a hardlink to an entry that was unreadable at backup time:
#    cat and restore fail that path (exit 1, naming it), as the mount
#    gives EIO, instead of serving an empty file with exit 0;
#  - item 11: restore as non-root drops setuid/setgid (not sticky) unless
#    --same-owner; as root they stay;
#  - item 12: a partial restore under a symlinked parent is refused with a
#    message that says what is wrong and does not offer --force, which
#    cannot help (it printed the same).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root
require_cmd setpriv util-linux

chmod 0711 "$T"
mkdir -p "$T/bin" && cp "$BACKUPFS" "$T/bin/backupfs" && chmod 0755 "$T/bin/backupfs"
NB=$T/bin/backupfs
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		env XDG_CACHE_HOME="$T/nc" HOME="$T/nc" "$@"
}
mkdir -p "$T/nc" && chown 65534:65534 "$T/nc"

# ---- item 9: the hardlink group's first entry was unreadable.  The
# writer gives a link member whose first entry fails an "err" of its own;
# craft-tool writes what the format also allows: a member without one.
CRAFT=$top_builddir/tests/unit/craft-tool
[ -x "$CRAFT" ] || bail_out "$CRAFT is missing (make check builds it)"
U=$T/u
ok_cmd "init" bfs init -q "$U/repo"
ok_cmd "craft: src/b-link -> src/a-secret (unreadable)" "$CRAFT" "$U/repo" hardlink-unreadable
ok_cmd "ls shows b-link" bfs ls -l -r "$U/repo" h1:src
like "$(cat "$T/stdout")" "b-link" "b-link is listed"
fails_with 1 "cat of the hardlink fails" bfs cat -r "$U/repo" h1:src/b-link
like "$(cat "$T/stderr")" "b-link" "naming the path"
like "$(cat "$T/stderr")" "unreadable at backup time" "saying why"
is "$(wc -c <"$T/stdout")" "0" "and writes nothing"
fails_with 1 "restore of the directory fails" \
	bfs restore -r "$U/repo" h1:src --target "$T/r9"
like "$(cat "$T/stderr")" "b-link.*unreadable at backup time" "naming the hardlink"
ok "$([ ! -e "$T/r9/src/b-link" ]; echo $?)" "b-link is not restored as an empty file"
ok "$([ -f "$T/r9/src/c-ok" ]; echo $?)" "the rest is restored"
if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	mkdir -p "$T/m9"
	mount_repo "$U/repo" "$T/m9"
	fails_with 1 "the mount: EIO for the same hardlink" cat "$T/m9/h1/src/b-link"
	like "$(cat "$T/stderr")" "Input/output error" "EIO"
	unmount "$T/m9"
else
	ok 0 "# SKIP the mount: no FUSE"
	ok 0 "# SKIP the mount: no FUSE"
fi

# ---- item 11: setuid/setgid dropped when not restoring owners
S=$T/s
mkdir -p "$S/src/tmp"
printf '#!/bin/sh\nid\n' >"$S/src/suid"
cp "$S/src/suid" "$S/src/sgid"
chown 1234:1234 "$S/src/suid" "$S/src/sgid" # before chmod: chown clears them
chmod 4755 "$S/src/suid"
chmod 2755 "$S/src/sgid"
chmod 1777 "$S/src/tmp"
ok_cmd "init" bfs init -q "$S/repo"
ok_cmd "backup (as root)" bfs backup -r "$S/repo" --id s1 --files "src=$S/src"
chmod 0755 "$S" "$S/repo" && find "$S/repo" -type d -exec chmod 0755 {} + &&
	find "$S/repo" -type f -exec chmod 0644 {} + # let nobody read it
mkdir -p "$T/r11" && chown 65534:65534 "$T/r11"
ok_cmd "restore as nobody" as_nobody "$NB" restore -r "$S/repo" s1:src --target "$T/r11/plain"
is "$(stat -c %a "$T/r11/plain/src/suid")" "755" "setuid dropped"
is "$(stat -c %a "$T/r11/plain/src/sgid")" "755" "setgid dropped"
is "$(stat -c %a "$T/r11/plain/src/tmp")" "1777" "sticky kept"
ok_cmd "restore as nobody --same-owner" \
	as_nobody "$NB" restore -r "$S/repo" s1:src --target "$T/r11/same" --same-owner
is "$(stat -c %a "$T/r11/same/src/suid")" "4755" "--same-owner keeps setuid"
like "$(cat "$T/stderr")" "cannot set owner" "and warns that the owner could not be set"
ok_cmd "restore as root" bfs restore -r "$S/repo" s1:src --target "$T/r11root"
is "$(stat -c %a:%u "$T/r11root/src/suid")" "4755:1234" "as root: setuid and owner kept"
is "$(stat -c %a "$T/r11root/src/sgid")" "2755" "as root: setgid kept"
ok_cmd "restore as root --no-owners" \
	bfs restore -r "$S/repo" s1:src --target "$T/r11no" --no-owners
is "$(stat -c %a:%u "$T/r11no/src/suid")" "755:0" "--no-owners: setuid dropped"

# ---- item 12: a symlinked parent in the target
P=$T/p
mkdir -p "$P/src/a/b"
echo leaf >"$P/src/a/b/leaf"
ok_cmd "init" bfs init -q "$P/repo"
ok_cmd "backup" bfs backup -r "$P/repo" --id p1 --files "src=$P/src"
mkdir -p "$T/r12/src" "$T/elsewhere"
ln -s "$T/elsewhere" "$T/r12/src/a"
fails_with 1 "partial restore under a symlinked parent is refused" \
	bfs restore -r "$P/repo" p1:src/a/b/leaf --target "$T/r12"
msg=$(cat "$T/stderr")
like "$msg" "src/a' is a symbolic link, not a directory" "says what is wrong"
like "$msg" "move it away" "and what to do"
unlike "$msg" "use --force" "does not offer --force"
fails_with 1 "--force: refused the same" \
	bfs restore -r "$P/repo" p1:src/a/b/leaf --target "$T/r12" --force
unlike "$(cat "$T/stderr")" "use --force" "still no --force advice"
ok "$([ -z "$(ls -A "$T/elsewhere")" ]; echo $?)" "nothing was written through the symlink"
: >"$T/r12/file"
mkdir -p "$T/r12b/src" && : >"$T/r12b/src/a"
fails_with 1 "a file in place of a parent is refused" \
	bfs restore -r "$P/repo" p1:src/a/b/leaf --target "$T/r12b"
like "$(cat "$T/stderr")" "src/a' is a file, not a directory" "saying so"

done_testing
