#!/bin/bash
# Encryption at rest on a local repository (issue 13): init with a
# password makes an encrypted repository; backup (a dump from stdin and
# files), list, ls, cat, restore and the mount give the same bytes as a
# plain one; a wrong or missing password is exit 1 with a clear message;
# a flipped byte in a pack is an authentication failure naming the chunk
# and pack (cat, restore, check) and EIO with a log line in the mount,
# never other bytes; the repository holds neither file contents nor
# names nor the password.  forget --prune hands the password's file or
# command on to its prune step.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

export BACKUPFS_TEST_KDF=fast
R=$T/repo
PW='correct horse ~ battery "staple" 7'
printf '%s\n' "$PW" >"$T/pw"
chmod 600 "$T/pw"

mkdir -p "$T/src/Geheim-Verzeichnis"
echo 'PLAINTEXTMARKER in a file' >"$T/src/Geheim-Verzeichnis/secret-name-4711.txt"
{ echo PLAINTEXTMARKER; head -c 300000 /dev/urandom; } >"$T/src/random.bin"
for i in $(seq 1 3000); do
	echo "INSERT INTO t VALUES ($i, 'DUMPMARKER row $i');"
done >"$T/dump.sql"

ok_cmd "init with --password-file" bfs init --password-file "$T/pw" "$R"
like "$(cat "$T/stdout")" "initialized encrypted repository" "says encrypted"
unlike "$(cat "$T/stderr")" "not encrypted" "no plain-repository note"
like "$(cat "$R/config")" '"version":5.*"encryption":\{"aead":"aes-256-gcm"' \
	"config: version 5, encryption in clear"
is "$(find "$R/keys" -type f | wc -l)" 1 "one key object"
ok_cmd "plain init notes it on stderr" bfs init "$T/plain"
like "$(cat "$T/stderr")" "not encrypted" "the note"

export BACKUPFS_PASSWORD_FILE=$T/pw
ok_cmd "backup stdin dump and files" bfs backup -r "$R" --id b1 \
	--stdin database.sql --files "app=$T/src" <"$T/dump.sql"
ok_cmd "list" bfs list -r "$R"
like "$(cat "$T/stdout")" "^b1 " "lists b1"
ok_cmd "ls -R" bfs ls -r "$R" -R b1
like "$(cat "$T/stdout")" "secret-name-4711.txt" "names come back"
ok_cmd "cat the dump" bfs cat -r "$R" b1:database.sql
cmp -s "$T/stdout" "$T/dump.sql"
ok $? "cat gives the dump's bytes"
ok_cmd "restore" bfs restore -r "$R" b1:app --target "$T/back"
diff -r "$T/src" "$T/back/app" >/dev/null
ok $? "restore gives the same tree"
ok_cmd "check --read-data" bfs check -r "$R" --read-data
like "$(cat "$T/stdout")" "no errors found" "no errors"

# the password from a command and from the environment
ok_cmd "--password-command" env -u BACKUPFS_PASSWORD_FILE \
	"$BACKUPFS" list -r "$R" --password-command "cat '$T/pw'"
ok_cmd "BACKUPFS_PASSWORD" env -u BACKUPFS_PASSWORD_FILE \
	BACKUPFS_PASSWORD="$PW" "$BACKUPFS" list -r "$R"

# forget --prune runs prune as a process of its own: it must get the
# password's file or command too, not only the environment's
for how in file command; do
	case $how in
	file) pwopt=(--password-file "$T/pw") ;;
	command) pwopt=(--password-command "cat '$T/pw'") ;;
	esac
	ok_cmd "backup x-$how to forget" bfs backup -r "$R" --id "x-$how" \
		--files "app=$T/src"
	ok_cmd "forget --prune with --password-$how" env -u BACKUPFS_PASSWORD_FILE \
		"$BACKUPFS" forget -r "$R" "${pwopt[@]}" --prune "x-$how"
	like "$(cat "$T/stdout")" "after: +[0-9]+ packs" "and its prune step ran"
done
ok_cmd "list after the forgets" bfs list -r "$R"
unlike "$(cat "$T/stdout")" "^x-" "both forgotten, b1 kept"

# wrong and missing passwords
echo 'not it' >"$T/wrong"
fails_with 1 "wrong password: exit 1" env BACKUPFS_PASSWORD_FILE="$T/wrong" \
	"$BACKUPFS" cat -r "$R" b1:database.sql
like "$(cat "$T/stderr")" "wrong password for repository '.*repo': no key matches" \
	"the message"
is "$(wc -c <"$T/stdout")" 0 "nothing on stdout"
fails_with 1 "no password: exit 1" env -u BACKUPFS_PASSWORD_FILE \
	"$BACKUPFS" list -r "$R"
like "$(cat "$T/stderr")" "is encrypted: give its password" "says how"

# what the repository reveals
leak=$(grep -rlaE "PLAINTEXTMARKER|DUMPMARKER|secret-name-4711|Geheim|INSERT INTO" "$R" || true)
is "$leak" "" "no content or name in the repository"
leak=$(grep -rlaF -- "$PW" "$R" "$XDG_CACHE_HOME" || true)
is "$leak" "" "the password is in no file of the repository or cache"
ok_cmd "a plain repository does show them (the grep can fail)" \
	bfs backup -r "$T/plain" --id p1 --files "app=$T/src"
grep -rlaq "PLAINTEXTMARKER" "$T/plain"
ok $? "the marker is visible in a plain one (a raw zstd block)"
is "$(stat -c %a "$(bfs catalog path -r "$R" 2>/dev/null || ls "$XDG_CACHE_HOME"/backupfs/*.db | head -n 1)" 2>/dev/null)" 600 \
	"the catalog (names in clear) is 0600"

# a flipped byte in a data frame: a second backup with one file in its
# own pack, then the first frame of that pack changed
before=$(find "$R/packs" -type f | sort)
mkdir -p "$T/one"
head -c 200000 /dev/urandom >"$T/one/victim.bin"
ok_cmd "backup b2 (one file)" bfs backup -r "$R" --id b2 --files "one=$T/one"
ok_cmd "sync the catalog" bfs list -r "$R"
pack=$(comm -13 <(echo "$before") <(find "$R/packs" -type f | sort) | head -n 1)
key=${pack#"$R/"}
"$BFS_PYTHON" - "$pack" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(40)
    b = f.read(1)
    f.seek(40)
    f.write(bytes([b[0] ^ 0x20]))
EOF
fails_with 1 "cat of the tampered file fails" bfs cat -r "$R" b2:one/victim.bin
like "$(cat "$T/stderr")" "chunk [0-9a-f]+ in pack '$key' fails authentication" \
	"authentication failure naming chunk and pack"
ok_cmd "cat of another file still works" bfs cat -r "$R" b1:database.sql
fails_with 1 "restore of the tampered file fails" \
	bfs restore -r "$R" b2:one --target "$T/back2"
like "$(cat "$T/stderr")" "fails authentication" "restore says why"
fails_with 1 "check --read-data reports it" bfs check -r "$R" --read-data
like "$(cat "$T/stdout")$(cat "$T/stderr")" "$key.*fails authentication" \
	"check names the pack"

if [ "$(id -u)" -eq 0 ] && [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
	M=$T/mnt
	if mount_repo_fg "$R" "$M" "$T/mount.log"; then
		cmp -s "$M/b1/database.sql" "$T/dump.sql"
		ok $? "mount: the dump reads the same"
		diff -r "$T/src" "$M/b1/app" >/dev/null
		ok $? "mount: the files read the same"
		fails_with 1 "mount: the tampered file fails" cat "$M/b2/one/victim.bin"
		like "$(cat "$T/stderr")" "Input/output error" "with EIO"
		tr '\0' ' ' </proc/$MOUNT_PID/cmdline >"$T/cmdline"
		unlike "$(cat "$T/cmdline")" "horse" "the password is not in the mount's argv"
		kill -TERM "$MOUNT_PID"
		wait_until 15 bash -c "! kill -0 $MOUNT_PID 2>/dev/null"
		like "$(cat "$T/mount.log")" "fails authentication" "the mount log says why"
		unlike "$(cat "$T/mount.log")" "horse" "and not the password"
	else
		for i in 1 2 3 4 5 6 7; do ok 1 "mount came up"; done
	fi
else
	for i in 1 2 3 4 5 6 7; do ok 0 "# SKIP mount part: needs root and FUSE"; done
fi

done_testing
