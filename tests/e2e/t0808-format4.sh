#!/bin/bash
# Format 4 read and written by this release (format 5), and `backupfs
# migrate` 4 -> 5, on tests/data/format4 (a repository written by the
# last release of format 4, tests/data/make-format4.sh: data deltas,
# tree parts as delta frames, a dump map): list, ls, cat (the dump and a
# table of its map), restore, check --read-data and (with FUSE) the
# mount give the fixture's files; backups into it keep it format 4 (data
# and tree deltas, never a frame on several bases); a copy of a backup
# with a type-3 chunk into it is refused; a failed or killed migrate
# leaves the old or the new config, and a rerun finishes (fault
# injection); migrate rewrites the config alone (version 5, same id and
# parameters, no other object changed), everything reads and checks as
# before, the copy is accepted then; migrate again does nothing.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

require_cmd jq jq
require_cmd zstd zstd
export XDG_CACHE_HOME=$T/cache
F=$top_srcdir/tests/data/format4
CRAFT=$top_builddir/tests/unit/craft-tool
N=400
[ "${CI:-}" = true ] || N=2000

sums() {
	(cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort |
		xargs -r sha256sum)
}

# deltas REPO: "KIND ID" for each delta blob of the index objects of a
# plain repository: "tree" / "data" for a type-2 blob whose base (the
# sixth element) is a type-1 / type-0 blob, "multi" for a type-3 blob,
# "bad" for a base of another type
deltas() {
	"$BFS_PYTHON" - "$1" <<'PY'
import glob, json, subprocess, sys
types, d = {}, []
for f in sorted(glob.glob(sys.argv[1] + "/index/*")):
    txt = subprocess.run(["zstd", "-dc", f], capture_output=True,
                         check=True).stdout
    for line in txt.splitlines():
        for b in json.loads(line)["blobs"]:
            types[b[0]] = b[1]
            if b[1] in (2, 3):
                d.append((b[0], b[1], b[5]))
for i, t, base in d:
    if t == 3:
        print("multi" if all(types.get(x) == 0 for x in base) else "bad", i)
    else:
        print({1: "tree", 0: "data"}.get(types.get(base), "bad"), i)
PY
}
ndeltas() { deltas "$1" | awk -v k="$2" '$1 == k' | wc -l; }

# reads_back REPO WHAT: list, ls, cat, restore, check give the fixture
reads_back() {
	local r=$1 what=$2 want
	rm -rf "$XDG_CACHE_HOME"
	ok_cmd "$what: list (a fresh catalog)" bfs list -r "$r"
	like "$(cat "$T/stdout")" "b2" "$what: list shows b2"
	ok_cmd "$what: ls -R b2" bfs ls -r "$r" -R b2
	like "$(cat "$T/stdout")" "files/dir/sub/deep.txt" "$what: ls -R lists a deep file"
	ok_cmd "$what: ls b2:files/big" bfs ls -r "$r" b2:files/big
	is "$(wc -l <"$T/stdout")" "401" "$what: big/ (a tree delta part) lists every file"
	want=$(awk '$2 == "b2/db.sql" { print $1 }' "$F/expected.sha256")
	ok_cmd "$what: cat b2:db.sql" bash -c \
		"\"\$BACKUPFS\" cat -r '$r' b2:db.sql | sha256sum | cut -c1-64 >'$T/sum'"
	is "$(cat "$T/sum")" "$want" "$what: cat gives the dump (data deltas) as it was"
	ok_cmd "$what: ls the dump map's view" bfs ls -r "$r" b2:db.sql.d
	like "$(cat "$T/stdout")" "public.big.sql" "$what: the view lists the big table"
	ok_cmd "$what: cat a table of the view" bfs cat -r "$r" b2:db.sql.d/public.big.sql
	like "$(cat "$T/stdout")" "changed in b2" "$what: ... with b2's rows"
	rm -rf "$T/r"
	for b in b1 b2; do
		ok_cmd "$what: restore $b" bfs restore -r "$r" "$b" --target "$T/r/$b"
	done
	is "$(sums "$T/r")" "$(cat "$F/expected.sha256")" \
		"$what: every restored file has the fixture's content"
	is "$(readlink "$T/r/b1/files/link")" "small.txt" "$what: the symlink is back"
	ok_cmd "$what: check --read-data" bfs check -r "$r" --read-data
}

R=$T/repo
cp -R "$F/repo" "$R" && chmod -R u+w "$R"
is "$(jq .version "$R/config")" "4" "the fixture is format 4"
ok "$([ "$(ndeltas "$R" data)" -ge 1 ]; echo $?)" \
	"... with data deltas ($(ndeltas "$R" data))"
ok "$([ "$(ndeltas "$R" tree)" -ge 1 ]; echo $?)" \
	"... and tree parts as delta frames ($(ndeltas "$R" tree))"

# ---- read as it is
reads_back "$R" "format 4"
is "$(jq .version "$R/config")" "4" "reading did not change the config"
if [ "$(id -u)" -eq 0 ] && command -v fusermount3 >/dev/null &&
	[ -c /dev/fuse ] && : 2>/dev/null <>/dev/fuse; then
	M=$T/mnt
	ok_cmd "mount the format-4 repository" mount_repo "$R" "$M"
	want=$(awk '$2 == "b2/db.sql" { print $1 }' "$F/expected.sha256")
	is "$(sha256sum <"$M/b2/db.sql" | cut -c1-64)" "$want" "the mount gives b2's dump"
	is "$(cat "$M/b1/files/small.txt")" "hello, format 4" "... and b1's small.txt"
	is "$(ls "$M/b2/files/big" | wc -l)" "401" "... and b2's big/"
	unmount "$M"
else
	diag "no usable FUSE here: the mount of the format-4 repository is not tried"
fi

# ---- written as format 4: data and tree deltas, one base each
S=$T/src
mkdir -p "$S/many"
for i in $(seq 1 $N); do echo "file $i" >"$S/many/f-$i.txt"; done
change() { # the directory "many": 3 files rewritten, one added
	for i in 7 100 333; do echo "changed $1" >>"$S/many/f-$i.txt"; done
	echo "new $1" >"$S/many/new-$1.txt"
}
b2dump() { # b2's dump with one more row changed
	bfs cat -r "$R" b2:db.sql | sed "s/^$1\trow \(.*\), as in b1$/$1\trow \1, changed in $2/"
}
nt0=$(ndeltas "$R" tree)
nd0=$(ndeltas "$R" data)
ok_cmd "b3 into format 4" bfs backup -r "$R" --id b3 --files "$S"
change b4
ok_cmd "b4 into format 4 (the same source, many/ changed)" \
	bfs backup -r "$R" --id b4 --files "$S"
b2dump 13 b4 >"$T/db4.sql"
ok_cmd "b4d into format 4 (a changed dump)" bfs backup -r "$R" --id b4d \
	--files "$S" --stdin db.sql <"$T/db4.sql"
is "$(jq .version "$R/config")" "4" "... which stays format 4"
ok "$([ "$(ndeltas "$R" data)" -gt "$nd0" ]; echo $?)" \
	"a changed dump still gets data deltas ($(ndeltas "$R" data))"
ok "$([ "$(ndeltas "$R" tree)" -gt "$nt0" ]; echo $?)" \
	"a changed directory still gets tree delta parts ($(ndeltas "$R" tree))"
is "$(ndeltas "$R" multi)" "0" "no frame on several bases in format 4"
is "$(ndeltas "$R" bad)" "0" "every delta's base is a whole blob"
rm -rf "$T/out"
ok_cmd "restore b4" bfs restore -r "$R" b4 --target "$T/out"
ok_cmd "b4 equals the source" compare_trees "$S" "$T/out/files"
rm -rf "$T/out"
ok_cmd "restore b4d" bfs restore -r "$R" b4d --target "$T/out"
ok_cmd "b4d's dump" cmp "$T/db4.sql" "$T/out/db.sql"
ok_cmd "check --read-data after b4" bfs check -r "$R" --read-data

# ---- copy of a type-3 chunk into format 4: refused
V=$T/v5
ok_cmd "init a format-5 repository" bfs init "$V"
mkdir -p "$T/want"
ok_cmd "craft a backup with a type-3 chunk in it" "$CRAFT" "$V" delta2 "$T/want"
is "$(ndeltas "$V" multi)" "1" "... one frame on several bases"
fails_with 1 "copy of it into the format-4 repository" \
	bfs copy --from "$V" --to "$R" d2
like "$(cat "$T/stderr")" "delta frames on several bases, which the format-4 repository" \
	"... says why"
like "$(cat "$T/stderr")" "backupfs migrate" "... and what to do"
is "$(jq .version "$R/config")" "4" "... and leaves it format 4"

# ---- a failed write of the config, a crash before or after it (fault
# injection): the config is the old one or the new one, a rerun finishes
migrate_crash_cases "$F/repo" 4

# ---- migrate 4 -> 5
migrate_config_only "$R" "$F/repo" 4
reads_back "$R" "migrated"

ok_cmd "the copy of the type-3 chunk works now" bfs copy --from "$V" --to "$R" d2
ok_cmd "... cat d2:src/m" bfs cat -r "$R" d2:src/m
ok "$(cmp -s "$T/stdout" "$T/want/m"; echo $?)" "... byte for byte"
is "$(ndeltas "$R" multi)" "1" "... a type-3 blob in the migrated repository"
ok_cmd "check --read-data after the copy" bfs check -r "$R" --read-data

before=$(sums "$R")
ok_cmd "migrate again" bfs migrate -r "$R"
like "$(cat "$T/stdout")" "format 5 already: nothing to do" "says it is done"
is "$(sums "$R")" "$before" "... and writes nothing"

done_testing
