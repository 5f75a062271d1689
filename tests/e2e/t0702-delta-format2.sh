#!/bin/bash
# Format 2 read and written by this release (format 5), and `backupfs
# migrate` 2 -> 4 (the 2 -> 3 and 3 -> 4 steps are both the config), on tests/data/format2 (a repository written by the
# last release of format 2, tests/data/make-format2.sh): list, ls, cat,
# restore, check --read-data and (with FUSE) the mount give the fixture's
# files; a backup into it keeps it format 2 (config untouched) and reads
# back; migrate rewrites the config alone (version 5, same id and
# parameters, no other object changed), after which everything reads as
# before and a new backup works; migrate again does nothing; a migrate
# of a repository with a saved manifest of an interrupted format-1
# conversion refuses and leaves version 2; a migrate where no repository
# is says only that; init makes version 5.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

require_cmd jq jq
F=$top_srcdir/tests/data/format2

# sums DIR: sha256sum of every regular file below DIR, paths relative
sums() {
	(cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort |
		xargs -r sha256sum)
}

# reads_back REPO CATALOG WHAT: list, cat, restore give the fixture
reads_back() {
	local r=$1 c=$2 what=$3 want
	ok_cmd "$what: list" bfs list -r "$r" --catalog "$c"
	like "$(cat "$T/stdout")" "b1.*b2|b1[^a-z]" "$what: list shows b1"
	like "$(cat "$T/stdout")" "b2" "$what: ... and b2"
	ok_cmd "$what: ls -R b2" bfs ls -r "$r" --catalog "$c" -R b2
	like "$(cat "$T/stdout")" "files/dir/sub/deep.txt" "$what: ls -R lists a deep file"
	want=$(awk '$2 == "b2/dump.sql" { print $1 }' "$F/expected.sha256")
	ok_cmd "$what: cat b2:dump.sql" bash -c \
		"\"\$BACKUPFS\" cat -r '$r' --catalog '$c' b2:dump.sql | sha256sum | cut -c1-64 >'$T/sum'"
	is "$(cat "$T/sum")" "$want" "$what: cat gives the dump as it was"
	rm -rf "$T/r"
	for b in b1 b2; do
		ok_cmd "$what: restore $b" bfs restore -r "$r" --catalog "$c" \
			"$b" --target "$T/r/$b"
	done
	is "$(sums "$T/r")" "$(cat "$F/expected.sha256")" \
		"$what: every restored file has the fixture's content"
	is "$(readlink "$T/r/b1/files/link")" "small.txt" "$what: the symlink is back"
	is "$(stat -c %i "$T/r/b2/files/hard1")" \
		"$(stat -c %i "$T/r/b2/files/hard2")" "$what: the hardlink pair is one inode"
	ok_cmd "$what: check --read-data" bfs check -r "$r" --catalog "$c" \
		--read-data
}

R=$T/repo
C=$T/cat.db
cp -R "$F/repo" "$R" && chmod -R u+w "$R"

# ---- read as it is
reads_back "$R" "$C" "format 2"
is "$(jq .version "$R/config")" "2" "reading did not change the config"

if [ "$(id -u)" -eq 0 ] && command -v fusermount3 >/dev/null &&
	[ -c /dev/fuse ] && : 2>/dev/null <>/dev/fuse; then
	M=$T/mnt
	ok_cmd "mount the format-2 repository" mount_repo "$R" "$M" \
		--catalog "$C"
	want=$(awk '$2 == "b2/dump.sql" { print $1 }' "$F/expected.sha256")
	is "$(sha256sum <"$M/b2/dump.sql" | cut -c1-64)" "$want" \
		"the mount gives b2's dump"
	is "$(cat "$M/b1/files/small.txt")" "hello, format 2" \
		"... and b1's small.txt"
	unmount "$M"
else
	diag "no usable FUSE here: the mount of the format-2 repository is not tried"
fi

# ---- written as format 2
seq 1 5000 >"$T/new.txt"
ok_cmd "backup into the format-2 repository" \
	bfs backup -r "$R" --catalog "$C" --id b3 --stdin new.txt <"$T/new.txt"
is "$(jq .version "$R/config")" "2" "... which stays format 2"
ok_cmd "cat b3:new.txt" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' --catalog '$C' b3:new.txt >'$T/b3.txt'"
ok_cmd "... gives what was backed up" cmp "$T/new.txt" "$T/b3.txt"

# ---- a saved manifest of an interrupted 1 -> 2 migration: refused
R2=$T/repo2
cp -R "$F/repo" "$R2" && chmod -R u+w "$R2"
mkdir -p "$R2/migrate" && cp "$R2/manifests/b1" "$R2/migrate/b1"
fails_with 1 "migrate refuses a repository with a saved manifest" \
	bfs migrate -r "$R2"
like "$(cat "$T/stderr")" "migrate/b1' is a saved manifest" "... naming it"
like "$(cat "$T/stderr")" "still format 2" "... and saying it is still format 2"
is "$(jq .version "$R2/config")" "2" "... config untouched"

# ---- migrate 2 -> 5
migrate_config_only "$R" "$F/repo" 2
reads_back "$R" "$C" "migrated"
ok_cmd "a backup into the migrated repository" \
	bfs backup -r "$R" --catalog "$C" --id b4 --stdin new.txt <"$T/new.txt"
ok_cmd "cat b4:new.txt" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' --catalog '$C' b4:new.txt >'$T/b4.txt'"
ok_cmd "... gives what was backed up" cmp "$T/new.txt" "$T/b4.txt"

before=$(sums "$R")
ok_cmd "migrate again" bfs migrate -r "$R"
like "$(cat "$T/stdout")" "format 5 already: nothing to do" "says it is done"
is "$(sums "$R")" "$before" "... and writes nothing"

# ---- no repository: just the error
fails_with 1 "migrate of a directory without a repository" \
	bfs migrate -r "$T/nothing"
like "$(cat "$T/stderr")" "no backupfs repository at" "... says so"
unlike "$(cat "$T/stderr")" "still format" "... and claims no format"

# ---- init makes format 5
ok_cmd "init" bfs init "$T/new"
is "$(jq .version "$T/new/config")" "5" "a new repository is format 5"

done_testing
