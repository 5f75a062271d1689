#!/bin/bash
# restore --to DEST: PATH itself becomes DEST (the way back to where a
# source came from): a directory's contents land in DEST with its mode,
# times and owner, merged into an existing DEST, conflicts refused before
# anything is written unless --force; a file is written as DEST, or into
# DEST when that is a directory; --to and --target together are refused.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
S=$T/srv/nocodb/data
mkdir -p "$S/uploads/2026" "$S/cfg"
echo invoice >"$S/uploads/2026/invoice-17.pdf"
echo '{"a":1}' >"$S/cfg/app.json"
ln -s cfg/app.json "$S/current.json"
chmod 0750 "$S"
touch -d '2026-01-02 03:04:05.123456789' "$S/cfg/app.json" "$S/cfg" "$S"
[ "$(id -u)" -eq 0 ] && chown -R 1234:2345 "$S"

ok_cmd "init" bfs init "$R"
ok_cmd "backup --files nocodb-data=DIR" bfs backup -r "$R" --id b1 --files nocodb-data="$S"

# ---- a directory: its contents land in DEST, DEST takes its metadata
ok_cmd "restore latest:nocodb-data --to a new directory" \
	bfs restore -r "$R" latest:nocodb-data --to "$T/back/data"
ok "$([ ! -e "$T/back/data/nocodb-data" ]; echo $?)" "no nocodb-data/ level is created"
ok_cmd "DEST equals the source tree (content, modes, owners, times, links)" \
	compare_trees "$S" "$T/back/data"
is "$(stat -c %a "$T/back/data")" "750" "DEST has the directory's mode"
is "$(stat -c %Y "$T/back/data")" "$(stat -c %Y "$S")" "DEST has the directory's mtime"
if [ "$(id -u)" -eq 0 ]; then
	is "$(stat -c %u:%g "$T/back/data")" "1234:2345" "as root, DEST has the directory's owner"
fi

# ---- into an existing directory: merged; a conflict stops everything
mkdir -p "$T/live"
echo "local" >"$T/live/keep.txt"
echo "changed" >"$T/live/current.json.orig"
mkdir -p "$T/live/cfg"
echo "edited" >"$T/live/cfg/app.json"
fails_with 1 "an existing file without --force: exit 1" \
	bfs restore -r "$R" b1:nocodb-data --to "$T/live"
like "$(cat "$T/stderr")" "app\\.json" "the message names the file in the way"
ok "$([ ! -e "$T/live/uploads" ]; echo $?)" "nothing was written"
is "$(cat "$T/live/cfg/app.json")" "edited" "the existing file is untouched"
ok_cmd "--force: merged into the existing directory" \
	bfs restore -r "$R" b1:nocodb-data --to "$T/live" --force
is "$(cat "$T/live/cfg/app.json")" '{"a":1}' "the file is replaced"
is "$(cat "$T/live/uploads/2026/invoice-17.pdf")" "invoice" "the rest is restored"
is "$(cat "$T/live/keep.txt")" "local" "files that are not in the backup stay"

# ---- a file: written as DEST, or into DEST when it is a directory
ok_cmd "a file --to a new name" \
	bfs restore -r "$R" b1:nocodb-data/cfg/app.json --to "$T/one/app-restored.json"
ok_cmd "written as that name" cmp "$S/cfg/app.json" "$T/one/app-restored.json"
is "$(stat -c %Y "$T/one/app-restored.json")" "$(stat -c %Y "$S/cfg/app.json")" "with its mtime"
mkdir -p "$T/intodir"
ok_cmd "a file --to an existing directory" \
	bfs restore -r "$R" b1:nocodb-data/cfg/app.json --to "$T/intodir"
ok_cmd "lands inside it under its own name" cmp "$S/cfg/app.json" "$T/intodir/app.json"
fails_with 1 "again without --force: exit 1" \
	bfs restore -r "$R" b1:nocodb-data/cfg/app.json --to "$T/intodir"
ok_cmd "a symlink --to a new name" \
	bfs restore -r "$R" b1:nocodb-data/current.json --to "$T/one/link"
is "$(readlink "$T/one/link")" "cfg/app.json" "the symlink keeps its target"
(cd "$T" && "$BACKUPFS" restore -r "$R" b1:nocodb-data/cfg/app.json --to rel.json) >/dev/null 2>&1
ok_cmd "a relative DEST is relative to the working directory" cmp "$S/cfg/app.json" "$T/rel.json"

# ---- usage
fails_with 2 "--to and --target together: usage error" \
	bfs restore -r "$R" b1:nocodb-data --to "$T/x" --target "$T/y"
like "$(cat "$T/stderr")" "give one" "the message says what to do"
fails_with 2 "neither: usage error" bfs restore -r "$R" b1:nocodb-data
fails_with 1 "a path that is not in the backup" bfs restore -r "$R" b1:nope --to "$T/z"
ok "$([ ! -e "$T/z" ]; echo $?)" "nothing is created for it"

done_testing
