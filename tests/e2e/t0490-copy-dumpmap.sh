#!/bin/bash
# copy between repositories whose blob ids differ keeps the dump maps
# (tree key "dt", doc/FORMAT.md section 20): plain -> encrypted and back
# (encrypted -> plain), with and without --verify.  In every copy
# `ls ID:NAME.sql.d` lists the same files and a restore of it gives the
# same files as in the source, for a --stdin dump and for a *.sql file
# of --files; check --read-data (which parses every map) passes.
# The map is carried byte for byte (copy_rewrite.c carry_keys), not found
# again by the scanner: the last part shows it with a dump the scanner
# cannot map in the target (BACKUPFS_TEST_NO_DUMPSCAN, see below), and a
# dump without a map gets none in the copy.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

D=$(_bfs_datasets) || skip_missing "tests/datasets (pagila)" \
	"set BFS_DATASETS or restore tests/datasets"
export BACKUPFS_TEST_KDF=fast
unset BACKUPFS_PASSWORD BACKUPFS_PASSWORD_FILE BACKUPFS_PASSWORD_COMMAND
printf 'dump map copy pw 31337\n' >"$T/pw"
chmod 600 "$T/pw"
P=$T/plain E=$T/enc P2=$T/plain2 E2=$T/enc2
mkdir -p "$T/src/db"
cp "$D/pagila/pagila-schema.sql" "$T/src/db/schema.sql"
echo 'not a dump at all' >"$T/src/db/notes.sql"

ok_cmd "init plain" bfs init "$P"
ok_cmd "init encrypted" bfs init --password-file "$T/pw" "$E"
ok_cmd "init plain 2" bfs init "$P2"
ok_cmd "init encrypted 2" bfs init --password-file "$T/pw" "$E2"
ok_cmd "backup b1: a --stdin dump and a *.sql in --files" \
	bfs backup -r "$P" --id b1 --stdin database.sql \
	--files "app=$T/src" <"$D/pagila/pagila-schema.sql"

# The views of repository $1 (more args: the password) into directory
# $2: the ls of each, and each restored (every file of it, cut from the
# dump by its map).  One ls and one restore per view (the test stays fast).
VIEWS="database.sql.d app/db/schema.sql.d"
views() {
	local r=$1 out=$2 d
	shift 2
	mkdir -p "$out"
	for d in $VIEWS; do
		bfs ls -r "$r" "$@" "b1:$d" >"$out/ls.${d%%/*}" &&
			bfs restore -r "$r" "$@" "b1:$d" --target "$out/r" ||
			return 1
	done
}
ok "$(views "$P" "$T/want" 2>"$T/err"; echo $?)" "the source has both views"
like "$(wc -l <"$T/want/ls.database.sql.d")" '^[1-9][0-9]+$' 	"the dump's view has files (pagila's tables)"
like "$(ls "$T/want/r/app/db/schema.sql.d" | wc -l)" '^[1-9][0-9]+$' 	"so has the *.sql file's"

n=0
same_views() { # repo what [password args]
	local r=$1 what=$2
	shift 2
	n=$((n + 1))
	views "$r" "$T/got$n" "$@" 2>"$T/err" &&
		diff -r "$T/want" "$T/got$n" >&2
	ok "$?" "$what: ls and restore of both views equal the source's"
	fails_with 1 "$what: a .sql that is no dump has no view" \
		bfs ls -r "$r" "$@" b1:app/db/notes.sql.d
}

ok_cmd "copy plain -> encrypted" bfs copy --from "$P" --to "$E" \
	--to-password-file "$T/pw"
like "$(cat "$T/stderr")" "writing backup 'b1' again" "written again"
same_views "$E" "encrypted" --password-file "$T/pw"
ok_cmd "check --read-data encrypted" bfs check -r "$E" \
	--password-file "$T/pw" --read-data

ok_cmd "copy encrypted -> plain (--verify)" bfs copy --from "$E" \
	--password-file "$T/pw" --to "$P2" --verify
same_views "$P2" "back to plain"
ok_cmd "check --read-data plain 2" bfs check -r "$P2" --read-data

ok_cmd "copy plain -> encrypted 2 (--verify)" bfs copy --from "$P" \
	--to "$E2" --to-password-file "$T/pw" --verify
same_views "$E2" "encrypted 2 (--verify)" --password-file "$T/pw"

# Carried, not scanned again: a build with fault injection lets a test
# switch the target's dump scanner off; the maps must still be there.
if bfs_has_fault_injection; then
	P3=$T/plain3
	ok_cmd "init plain 3" bfs init "$P3"
	BACKUPFS_TEST_NO_DUMPSCAN=1 ok_cmd "copy encrypted -> plain 3, no scanner" \
		bfs copy --from "$E" --password-file "$T/pw" --to "$P3"
	same_views "$P3" "no scanner in the copy"
	BACKUPFS_TEST_NO_DUMPSCAN=1 ok_cmd "a backup without the scanner" \
		bfs backup -r "$P3" --id nomap --stdin database.sql \
		<"$D/pagila/pagila-schema.sql"
	fails_with 1 "... has no view (the switch works)" \
		bfs ls -r "$P3" nomap:database.sql.d
	# and no more: a dump without a map (a backup older than maps) gets
	# none in the copy either, though the target's scanner would map it
	ok_cmd "copy plain 3 -> encrypted (scanner on)" bfs copy --from "$P3" \
		--to "$E" --to-password-file "$T/pw" nomap
	fails_with 1 "the copy of the dump without a map has none" \
		bfs ls -r "$E" --password-file "$T/pw" nomap:database.sql.d
fi
done_testing
