#!/bin/bash
# Format 3 read and written by this release (format 5), and `backupfs
# migrate` 3 -> 5, on tests/data/format3 (a repository written by the
# last release of format 3, tests/data/make-format3.sh: data deltas and
# a dump map): list, ls, cat (the dump and a table of its map), restore,
# check --read-data and (with FUSE) the mount give the fixture's files;
# backups into it keep it format 3: a changed dump still gets data
# deltas, a changed directory no tree part as a delta frame; a copy of a
# backup with tree delta parts into it is refused; a migrate with a
# saved manifest left refuses and leaves version 3; a failed or killed
# migrate leaves the old or the new config, and a rerun finishes (fault
# injection); migrate rewrites the
# config alone (version 5, same id and parameters, no other object
# changed), everything reads and checks as before, and the next backup
# stores the changed directory's tree parts as delta frames; migrate
# again does nothing.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

require_cmd jq jq
require_cmd zstd zstd
export XDG_CACHE_HOME=$T/cache
F=$top_srcdir/tests/data/format3
N=400
[ "${CI:-}" = true ] || N=2000

sums() {
	(cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort |
		xargs -r sha256sum)
}

# deltas REPO: "KIND ID BASE" for each type-2 blob of the index objects
# of a plain repository, KIND "tree" when its base (the sixth element)
# is a type-1 blob, "data" when a type-0 one, "bad" else
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
            if b[1] == 2:
                d.append((b[0], b[5]))
for i, base in d:
    k = {1: "tree", 0: "data"}.get(types.get(base), "bad")
    print(k, i, base)
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
is "$(jq .version "$R/config")" "3" "the fixture is format 3"
is "$(ndeltas "$R" data)" "2" "... with two data deltas"

# ---- read as it is
reads_back "$R" "format 3"
is "$(jq .version "$R/config")" "3" "reading did not change the config"
if [ "$(id -u)" -eq 0 ] && command -v fusermount3 >/dev/null &&
	[ -c /dev/fuse ] && : 2>/dev/null <>/dev/fuse; then
	M=$T/mnt
	ok_cmd "mount the format-3 repository" mount_repo "$R" "$M"
	want=$(awk '$2 == "b2/db.sql" { print $1 }' "$F/expected.sha256")
	is "$(sha256sum <"$M/b2/db.sql" | cut -c1-64)" "$want" "the mount gives b2's dump"
	is "$(cat "$M/b1/files/small.txt")" "hello, format 3" "... and b1's small.txt"
	unmount "$M"
else
	diag "no usable FUSE here: the mount of the format-3 repository is not tried"
fi

# ---- written as format 3: data deltas yes, tree delta parts no
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
ok_cmd "b3 into format 3" bfs backup -r "$R" --id b3 --files "$S"
change b4
b2dump 13 b4 >"$T/db4.sql"
ok_cmd "b4 into format 3" bfs backup -r "$R" --id b4 --files "$S" \
	--stdin db.sql <"$T/db4.sql"
is "$(jq .version "$R/config")" "3" "... which stays format 3"
ok "$([ "$(ndeltas "$R" data)" -gt 2 ]; echo $?)" \
	"a changed dump still gets data deltas ($(ndeltas "$R" data))"
is "$(ndeltas "$R" tree)" "0" "no tree part as a delta frame in format 3"
is "$(ndeltas "$R" bad)" "0" "every delta's base is a whole blob"
rm -rf "$T/out"
ok_cmd "restore b4" bfs restore -r "$R" b4 --target "$T/out"
ok_cmd "b4 equals the source" compare_trees "$S" "$T/out/files"
ok_cmd "b4's dump" cmp "$T/db4.sql" "$T/out/db.sql"

# ---- copy of tree delta parts into format 3: refused
V=$T/v4
ok_cmd "init a format-5 repository" bfs init "$V"
is "$(jq .version "$V/config")" "5" "init makes format 5"
ok_cmd "v1 into format 5" bfs backup -r "$V" --id v1 --files "$S"
change v2
ok_cmd "v2 into format 5" bfs backup -r "$V" --id v2 --files "$S"
ok "$([ "$(ndeltas "$V" tree)" -ge 1 ]; echo $?)" \
	"format 5 stores tree parts as delta frames ($(ndeltas "$V" tree))"
cp -R "$F/repo" "$T/c3" && chmod -R u+w "$T/c3"
fails_with 1 "copy of v2 into a format-3 repository" \
	bfs copy --from "$V" --to "$T/c3" v2
like "$(cat "$T/stderr")" "tree parts as delta frames, which the format-3 repository" \
	"... says why"
like "$(cat "$T/stderr")" "backupfs migrate" "... and what to do"
ok_cmd "copy of v1 (no delta parts) into it works" \
	bfs copy --from "$V" --to "$T/c3" v1
is "$(jq .version "$T/c3/config")" "3" "... and leaves it format 3"

# ---- a saved manifest of an interrupted 1 -> 2 migration: refused
R2=$T/repo2
cp -R "$F/repo" "$R2" && chmod -R u+w "$R2"
mkdir -p "$R2/migrate" && cp "$R2/manifests/b1" "$R2/migrate/b1"
fails_with 1 "migrate refuses a repository with a saved manifest" \
	bfs migrate -r "$R2"
like "$(cat "$T/stderr")" "migrate/b1' is a saved manifest" "... naming it"
like "$(cat "$T/stderr")" "still format 3" "... and saying it is still format 3"
is "$(jq .version "$R2/config")" "3" "... config untouched"

# ---- a failed write of the config, a crash before or after it (fault
# injection): the config is the old one or the new one, a rerun finishes
migrate_crash_cases "$F/repo" 3

# ---- migrate 3 -> 5
migrate_config_only "$R" "$F/repo" 3
reads_back "$R" "migrated"

change b5
ok_cmd "b5 into the migrated repository" bfs backup -r "$R" --id b5 --files "$S"
nt=$(ndeltas "$R" tree)
ok "$([ "$nt" -ge 1 ]; echo $?)" "b5 stores tree parts as delta frames ($nt)"
is "$(ndeltas "$R" bad)" "0" "every delta's base is a whole blob"
rm -rf "$T/out" "$XDG_CACHE_HOME"
ok_cmd "restore b5 (a fresh catalog)" bfs restore -r "$R" b5 --target "$T/out"
ok_cmd "b5 equals the source" compare_trees "$S" "$T/out/files"
ok_cmd "ls b5:files/many" bfs ls -r "$R" b5:files/many
is "$(wc -l <"$T/stdout")" "$((N + 3))" "... lists every file"
ok_cmd "check --read-data after b5" bfs check -r "$R" --read-data

before=$(sums "$R")
ok_cmd "migrate again" bfs migrate -r "$R"
like "$(cat "$T/stdout")" "format 5 already: nothing to do" "says it is done"
is "$(sums "$R")" "$before" "... and writes nothing"

done_testing
