#!/bin/bash
# copy between repositories whose blob ids differ (issue 13): plain ->
# encrypted, encrypted -> plain, and encrypted -> encrypted with another
# password (other master keys).  Each backup is written again in the
# target: list, ls and the header fields are the source's, cat and
# restore give the same bytes, check --read-data passes on the target,
# a second backup copied later deduplicates against the first there, and
# no password shows in the output.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

export BACKUPFS_TEST_KDF=fast
unset BACKUPFS_PASSWORD BACKUPFS_PASSWORD_FILE BACKUPFS_PASSWORD_COMMAND
PW1='first secret pw 4711'
PW2='second secret pw 0815'
printf '%s\n' "$PW1" >"$T/pw1"
printf '%s\n' "$PW2" >"$T/pw2"
chmod 600 "$T/pw1" "$T/pw2"
P=$T/plain E1=$T/enc1 E2=$T/enc2 P2=$T/plain2

mkdir -p "$T/src/dir/sub"
head -c 3000000 /dev/urandom >"$T/src/big.bin"
echo 'XCOPYMARKER small file' >"$T/src/dir/small.txt"
ln -s dir/small.txt "$T/src/link"
ln "$T/src/dir/small.txt" "$T/src/hard.txt"
chmod 640 "$T/src/dir/small.txt"
touch -d '2020-02-03 04:05:06' "$T/src/dir/sub"
for i in $(seq 1 2000); do echo "INSERT INTO t VALUES ($i, 'XCOPYDUMP');"; done \
	>"$T/dump.sql"

# no password on the command line, none in what copy prints
no_pw() {
	unlike "$(cat "$T/stdout" "$T/stderr")" "$PW1|$PW2" "$1: no password in the output"
}
# list without the STORED column (it is per repository)
lst() {
	"$BACKUPFS" list -r "$1" "${@:2}" | awk '{print $1, $2, $3, $4, $5, $6, $8}'
}

ok_cmd "init plain" bfs init "$P"
ok_cmd "init encrypted (pw1)" bfs init --password-file "$T/pw1" "$E1"
ok_cmd "init encrypted (pw2)" bfs init --password-file "$T/pw2" "$E2"
ok_cmd "init plain 2" bfs init "$P2"
ok_cmd "backup b1 to plain" bfs backup -r "$P" --id b1 --tag t1 \
	--stdin database.sql --files "app=$T/src" <"$T/dump.sql"

# plain -> encrypted
ok_cmd "copy plain -> encrypted" bfs copy --from "$P" --to "$E1" \
	--to-password-file "$T/pw1"
like "$(cat "$T/stderr")" "writing backup 'b1' again" "written again"
no_pw "plain -> encrypted"
is "$(lst "$E1" --password-file "$T/pw1")" "$(lst "$P")" \
	"list: same id, time, entries, size, tags"
ok_cmd "ls -lR encrypted" bfs ls -r "$E1" --password-file "$T/pw1" -l -R b1
cp "$T/stdout" "$T/ls-e1"
ok_cmd "ls -lR plain" bfs ls -r "$P" -l -R b1
ok "$(cmp -s "$T/stdout" "$T/ls-e1"; echo $?)" "ls -lR: the same entries"
ok_cmd "cat the dump" bfs cat -r "$E1" --password-file "$T/pw1" b1:database.sql
ok "$(cmp -s "$T/stdout" "$T/dump.sql"; echo $?)" "cat: the dump's bytes"
ok_cmd "restore" bfs restore -r "$E1" --password-file "$T/pw1" b1:app \
	--target "$T/r1"
ok "$(diff -r --no-dereference "$T/src" "$T/r1/app" >/dev/null; echo $?)" \
	"restore: the same tree"
is "$(stat -c %i "$T/r1/app/hard.txt")" "$(stat -c %i "$T/r1/app/dir/small.txt")" \
	"the hardlink is one"
is "$(stat -c %a "$T/r1/app/dir/small.txt")" 640 "the mode"
ok_cmd "check --read-data encrypted" bfs check -r "$E1" \
	--password-file "$T/pw1" --read-data
like "$(cat "$T/stdout")" "no errors found" "no errors"
leak=$(grep -rlaE "XCOPYMARKER|XCOPYDUMP|small\.txt" "$E1" || true)
is "$leak" "" "the encrypted copy holds no content or names"

ok_cmd "copy again: nothing to do" bfs copy --from "$P" --to "$E1" \
	--to-password-file "$T/pw1"
like "$(cat "$T/stdout")" "0 backups copied, 1 already present" "skipped"

# a second backup, copied later, deduplicates in the target
echo 'changed' >>"$T/src/dir/small.txt"
ok_cmd "backup b2 to plain" bfs backup -r "$P" --id b2 --files "app=$T/src"
before=$(du -sb "$E1/packs" | cut -f1)
ok_cmd "copy b2 plain -> encrypted" bfs copy --from "$P" --to "$E1" \
	--to-password-file "$T/pw1" --verify b2
after=$(du -sb "$E1/packs" | cut -f1)
grew=$((after - before))
ok "$([ "$grew" -lt 200000 ]; echo $?)" "b2 adds $grew bytes (< 200000: dedup)"
ok_cmd "cat b2" bfs cat -r "$E1" --password-file "$T/pw1" b2:app/dir/small.txt
like "$(cat "$T/stdout")" "changed" "b2's content"

# encrypted -> plain
ok_cmd "copy encrypted -> plain" bfs copy --from "$E1" --to "$P2" \
	--password-file "$T/pw1" b1
no_pw "encrypted -> plain"
is "$(lst "$P2")" "$(lst "$P" | grep -v '^b2 ')" "list equal"
ok_cmd "cat from plain 2" bfs cat -r "$P2" b1:app/big.bin
ok "$(cmp -s "$T/stdout" "$T/src/big.bin"; echo $?)" "the same bytes"
ok_cmd "check --read-data plain 2" bfs check -r "$P2" --read-data
like "$(cat "$T/stdout")" "no errors found" "no errors"

# encrypted -> encrypted, other password and master keys
ok_cmd "copy encrypted -> encrypted (other keys)" bfs copy --from "$E1" \
	--to "$E2" --password-file "$T/pw1" --to-password-file "$T/pw2" --verify
like "$(cat "$T/stderr")" "writing backup 'b2' again" "written again"
no_pw "encrypted -> encrypted"
is "$(lst "$E2" --password-file "$T/pw2")" "$(lst "$P")" "list equal"
ok_cmd "restore b2 from enc2" bfs restore -r "$E2" --password-file "$T/pw2" \
	b2:app --target "$T/r2"
ok "$(diff -r --no-dereference "$T/src" "$T/r2/app" >/dev/null; echo $?)" \
	"restore: the same tree"
ok_cmd "check --read-data enc2" bfs check -r "$E2" --password-file "$T/pw2" \
	--read-data
# a killed copy leaves no backup; a damaged source chunk stops it
if bfs_has_fault_injection; then
	echo 'third' >>"$T/src/dir/small.txt"
	ok_cmd "backup b3 to plain" bfs backup -r "$P" --id b3 --files "app=$T/src"
	BACKUPFS_FAULT="put:key=manifests/:kill=1" "$BACKUPFS" copy --from "$P" \
		--to "$E1" --to-password-file "$T/pw1" b3 >/dev/null 2>&1
	is "$?" 137 "copy killed at the manifest put"
	is "$("$BACKUPFS" list -r "$E1" --password-file "$T/pw1" | grep -c '^b3 ')" \
		0 "no b3 in the target"
	fails_with 1 "a damaged source pack stops the copy" env \
		BACKUPFS_FAULT="get:key=packs/:corrupt=1" "$BACKUPFS" copy \
		--from "$P" --to "$E1" --to-password-file "$T/pw1" b3
	like "$(cat "$T/stderr")" "backup 'b3' not copied.*pack 'packs/.*(checksum|corrupt)" \
		"the message names the backup and the pack"
	is "$("$BACKUPFS" list -r "$E1" --password-file "$T/pw1" | grep -c '^b3 ')" \
		0 "still no b3 in the target"
	ok_cmd "copy b3 again" bfs copy --from "$P" --to "$E1" \
		--to-password-file "$T/pw1" b3
	ok_cmd "cat b3" bfs cat -r "$E1" --password-file "$T/pw1" b3:app/dir/small.txt
	like "$(cat "$T/stdout")" "third" "b3's content"
fi

# --delete-source: b1 is in enc2 already (written again, other bytes)
ok_cmd "copy --delete-source plain 2 -> enc2" bfs copy --from "$P2" --to "$E2" \
	--to-password-file "$T/pw2" --delete-source
like "$(cat "$T/stderr")" "deleted backup 'b1' from the source" "deleted"
is "$("$BACKUPFS" list -r "$P2" | grep -c '^b1 ')" 0 "b1 is gone from plain 2"
fails_with 1 "pw1 does not open enc2" bfs list -r "$E2" --password-file "$T/pw1"

# a password for a target that holds no repository: an error, not a
# plain twin that the user believes encrypted
fails_with 1 "--to-password-file for an empty location" bfs copy \
	--from "$P" --to "$T/none" --to-password-file "$T/pw2"
like "$(cat "$T/stderr")" "holds no repository.*backupfs init --password-file" \
	"  says to init it first"
ok "$([ ! -e "$T/none/config" ]; echo $?)" "  and makes no repository there"
done_testing
