#!/bin/bash
# backupfs migrate on tests/data/format1 (a format-1 repository made by
# tests/data/make-format1.sh): other commands refuse it with "run
# 'backupfs migrate'"; migrate converts and verifies both backups and
# writes config version 2 (same id and parameters); list, ls, cat and
# restore then give back the fixture's files (expected.sha256), symlink,
# fifo and hardlink included, also after a copy of a migrated backup to
# another repository; a second migrate says so and writes
# nothing; a migrate stopped by a broken manifest (or, with fault
# injection, by a failed manifest write) leaves the repository format 1
# and resumes when run again.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd jq jq
F=$top_srcdir/tests/data/format1

# fixture REPO: a writable copy of the fixture repository at REPO
fixture() {
	cp -R "$F/repo" "$1" && chmod -R u+w "$1"
}

# sums DIR: sha256sum of every regular file below DIR, paths relative
sums() {
	(cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort |
		xargs -r sha256sum)
}

R=$T/repo
C=$T/cat.db
fixture "$R"

# ---- refused before
fails_with 1 "list refuses a format-1 repository" \
	bfs list -r "$R" --catalog "$C"
like "$(cat "$T/stderr")" "format version 1: run 'backupfs migrate -r " \
	"... and says to run migrate"
fails_with 1 "backup refuses it too" \
	bfs backup -r "$R" --catalog "$C" --stdin x </dev/null
like "$(cat "$T/stderr")" "run 'backupfs migrate" "... saying the same"

# ---- migrate
ok_cmd "migrate" bfs migrate -r "$R"
like "$(cat "$T/stdout")" "^2 backups converted, 0 verified, 0 already format 2; 1 index objects written \(2 packs\)" \
	"summary: two backups, one index object for the two packs"
like "$(cat "$T/stderr")" "converted backup 'b1': [0-9]+ entries, verified" \
	"b1 converted and verified"
like "$(cat "$T/stderr")" "converted backup 'b2': [0-9]+ entries, verified" \
	"b2 converted and verified"
like "$(cat "$T/stderr")" "the repository is format 5 now" "config written"
is "$(jq .version "$R/config")" "5" "config says version 5"
is "$(jq -S 'del(.version)' "$R/config")" \
	"$(jq -S 'del(.version)' "$F/repo/config")" \
	"... with the same id and parameters"
is "$(find "$R" -path "$R/migrate/*" | wc -l)" "0" "no saved manifest left"
ok "$([ "$(find "$R/index" -type f | wc -l)" -ge 2 ]; echo $?)" \
	"index objects: the old packs' and the new trees'"

# ---- what it holds
ok_cmd "list" bfs list -r "$R" --catalog "$C"
like "$(cat "$T/stdout")" "b1" "list shows b1"
like "$(cat "$T/stdout")" "b2" "list shows b2"
ok_cmd "ls -R b2" bfs ls -r "$R" --catalog "$C" -R b2
for p in files/dir/sub/deep.txt files/fifo files/link files/hard2 \
	files/new.txt dump.sql; do
	like "$(cat "$T/stdout")" "$p" "ls -R b2 lists $p"
done
want=$(awk '$2 == "b2/dump.sql" { print $1 }' "$F/expected.sha256")
ok_cmd "cat b2:dump.sql" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' --catalog '$C' b2:dump.sql | sha256sum | cut -c1-64 >'$T/sum'"
is "$(cat "$T/sum")" "$want" "cat gives the dump as it was"
for b in b1 b2; do
	ok_cmd "restore $b" bfs restore -r "$R" --catalog "$C" "$b" \
		--target "$T/r/$b"
done
is "$(sums "$T/r")" "$(cat "$F/expected.sha256")" \
	"every restored file has the fixture's content"
is "$(readlink "$T/r/b1/files/link")" "small.txt" "the symlink is back"
ok "$([ -p "$T/r/b1/files/fifo" ]; echo $?)" "the fifo is back"
is "$(stat -c %i "$T/r/b2/files/hard1")" "$(stat -c %i "$T/r/b2/files/hard2")" \
	"the hardlink pair is one inode again"
is "$(stat -c %Y "$T/r/b1/files/small.txt")" \
	"$(date -u -d '2024-01-02 03:04:05' +%s)" "mtimes are kept"

# ---- a migrated repository copies like any other
ok_cmd "copy b1 of the migrated repository" \
	bfs copy --no-sync --from "$R" --to "$T/copy" b1
like "$(cat "$T/stdout")" "^1 backups copied" "b1 copied"
ok_cmd "restore b1 from the copy" \
	bfs restore -r "$T/copy" --catalog "$T/copy.db" b1 --target "$T/rc/b1"
is "$(sums "$T/rc")" "$(grep '  b1/' "$F/expected.sha256")" \
	"... gives the fixture's files"

# ---- again: nothing to do, nothing written
before=$(sums "$R")
ok_cmd "migrate again" bfs migrate -r "$R"
like "$(cat "$T/stdout")" "format 5 already: nothing to do" "says it is done"
is "$(sums "$R")" "$before" "... and writes nothing"

# ---- stopped by a broken manifest, then resumed
R2=$T/repo2
fixture "$R2"
head -c 100 "$F/repo/manifests/b2" >"$R2/manifests/b2"
fails_with 1 "migrate stops at a broken manifest" bfs migrate -r "$R2"
like "$(cat "$T/stderr")" "backup 'b2'" "... naming the backup"
like "$(cat "$T/stderr")" "still format 1" "... saying the repository is still format 1"
fails_with 1 "other commands still refuse it" \
	bfs list -r "$R2" --catalog "$T/cat2.db"
cp "$F/repo/manifests/b2" "$R2/manifests/b2"
nidx=$(find "$R2/index" -type f | wc -l)
ok_cmd "migrate resumes once the manifest is fixed" bfs migrate -r "$R2"
like "$(cat "$T/stderr")" "backup 'b1' is format 2 already" "b1 is not converted twice"
like "$(cat "$T/stdout")" "^1 backups converted, 0 verified, 1 already format 2; 0 index objects written" \
	"b2 converted, the packs not indexed again"
is "$(find "$R2/index" -type f | wc -l)" "$((nidx + 1))" \
	"one index object more: b2's trees"
ok_cmd "restore b2 after the resumed migrate" \
	bfs restore -r "$R2" --catalog "$T/cat2.db" b2 --target "$T/r2/b2"
is "$(sums "$T/r2")" "$(grep '  b2/' "$F/expected.sha256")" \
	"... gives the fixture's files"

# ---- a failed write of the new manifest (fault injection)
if bfs_has_fault_injection; then
	R3=$T/repo3
	fixture "$R3"
	fails_with 1 "migrate with the write of b2's manifest failing" \
		env BACKUPFS_FAULT='put:key=manifests/b2:err=EIO' \
		"$BACKUPFS" migrate -r "$R3"
	ok_cmd "b2's format-1 manifest is untouched" \
		cmp "$F/repo/manifests/b2" "$R3/manifests/b2"
	ok_cmd "migrate again completes" bfs migrate -r "$R3"
	like "$(cat "$T/stdout")" "^1 backups converted" "... converting b2"
	ok_cmd "restore b2" bfs restore -r "$R3" --catalog "$T/cat3.db" b2 \
		--target "$T/r3/b2"
	is "$(sums "$T/r3")" "$(grep '  b2/' "$F/expected.sha256")" \
		"... gives the fixture's files"
else
	diag "fault injection not in this build (./configure" \
		"--enable-fault-injection): the failed-write case is not run"
fi

done_testing
