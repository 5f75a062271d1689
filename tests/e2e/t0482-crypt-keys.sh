#!/bin/bash
# backupfs key list|add|remove|passwd on an encrypted repository: several
# passwords open the same repository; passwd replaces the opening one;
# remove refuses the last key and the opening one without --force; a
# removed password no longer opens it; a plain repository has no keys;
# passwords never show in argv, output or files outside keys/; a job's
# env_file carries the password for `backupfs run`.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

export BACKUPFS_TEST_KDF=fast
R=$T/repo
printf 'first-PW-aaaa\n' >"$T/pw1"
printf 'second-PW-bbbb\n' >"$T/pw2"
printf 'third-PW-cccc\n' >"$T/pw3"
mkdir -p "$T/src"
echo hello >"$T/src/a.txt"

ok_cmd "init" env BACKUPFS_PASSWORD_FILE="$T/pw1" "$BACKUPFS" init "$R"
ok_cmd "backup" bfs backup -r "$R" --password-file "$T/pw1" --id b1 \
	--files "app=$T/src"
ok_cmd "key list" bfs key -r "$R" --password-file "$T/pw1" list
is "$(grep -c . "$T/stdout")" 1 "one key"
like "$(cat "$T/stdout")" '^\* [0-9a-f]{12}  .*scrypt N=1024 r=8 p=1' \
	"marked as the opening one, with its scrypt parameters"
k1=$(awk '{print $2}' "$T/stdout")

ok_cmd "key add (new password from a file)" bfs key -r "$R" \
	--password-file "$T/pw1" --new-password-file "$T/pw2" --label ops add
like "$(cat "$T/stdout")" "added key [0-9a-f]{12}" "says which"
ok_cmd "the second password opens it" bfs cat -r "$R" \
	--password-file "$T/pw2" b1:app/a.txt
is "$(cat "$T/stdout")" hello "and reads"
ok_cmd "key list with the second" bfs key -r "$R" --password-file "$T/pw2" list
is "$(grep -c . "$T/stdout")" 2 "two keys"
like "$(grep '^\*' "$T/stdout")" " ops$" "the new one is marked, with its label"

fails_with 1 "remove of the opening key without --force" \
	bfs key -r "$R" --password-file "$T/pw1" remove "$k1"
like "$(cat "$T/stderr")" "is the one this password opens" "says why"
fails_with 1 "remove of an unknown key" \
	bfs key -r "$R" --password-file "$T/pw1" remove ffffffff
ok_cmd "remove the first key with the second password" \
	bfs key -r "$R" --password-file "$T/pw2" remove "$k1"
fails_with 1 "the first password no longer opens it" \
	bfs list -r "$R" --password-file "$T/pw1"
like "$(cat "$T/stderr")" "wrong password" "wrong password"
k2=$(bfs key -r "$R" --password-file "$T/pw2" list | awk '{print $2}')
fails_with 1 "remove of the last key, even with --force" \
	bfs key -r "$R" --password-file "$T/pw2" remove "$k2" --force
like "$(cat "$T/stderr")" "last key" "says why"

ok_cmd "key passwd (new password from the environment)" \
	env BACKUPFS_NEW_PASSWORD_COMMAND="cat '$T/pw3'" \
	"$BACKUPFS" key -r "$R" --password-file "$T/pw2" passwd
fails_with 1 "the old password no longer opens it" \
	bfs list -r "$R" --password-file "$T/pw2"
ok_cmd "the new one does" bfs cat -r "$R" --password-file "$T/pw3" b1:app/a.txt
is "$(find "$R/keys" -type f | wc -l)" 1 "one key object left"
fails_with 1 "key add without a new password" \
	bfs key -r "$R" --password-file "$T/pw3" add
like "$(cat "$T/stderr")" "needs the new password" "says how"
fails_with 2 "an unknown subcommand" bfs key -r "$R" frobnicate

ok_cmd "plain init" bfs init "$T/plain"
fails_with 1 "key on a plain repository" bfs key -r "$T/plain" list
like "$(cat "$T/stderr")" "not encrypted" "says so"

# a job: the password in its env_file
J=$T/jobs
mkdir -p "$J" "$T/state"
printf 'BACKUPFS_PASSWORD=third-PW-cccc\n' >"$T/env"
chmod 600 "$T/env"
cat >"$J/app.json" <<EOF
{"name": "app", "repository": "$R", "env_file": "$T/env",
 "sources": [{"files": "app=$T/src"}]}
EOF
ok_cmd "backupfs run with the password in env_file" \
	env BACKUPFS_JOBS_DIR="$J" BACKUPFS_STATE_DIR="$T/state" \
	"$BACKUPFS" run app
ok_cmd "its backup is there" bfs list -r "$R" --password-file "$T/pw3"
is "$(grep -c '^20' "$T/stdout")" 1 "one job backup"

# prune repacks sealed frames byte for byte into sealed packs
export BACKUPFS_PASSWORD_FILE=$T/pw3
mkdir -p "$T/rp"
head -c 2000000 /dev/urandom >"$T/rp/keep.bin"
head -c 2000000 /dev/urandom >"$T/rp/gone.bin"
ok_cmd "backup ra" bfs backup -r "$R" --id ra --files "rp=$T/rp"
rm "$T/rp/gone.bin"
ok_cmd "backup rb" bfs backup -r "$R" --id rb --files "rp=$T/rp"
ok_cmd "forget ra" bfs forget -r "$R" ra
ok_cmd "prune" bfs prune -r "$R" --grace 0
like "$(cat "$T/stdout")" "repacked: +1 packs" "a pack was repacked"
ok_cmd "check --read-data after the repack" bfs check -r "$R" --read-data
ok_cmd "cat after the repack" bfs cat -r "$R" rb:rp/keep.bin
ok "$(cmp -s "$T/stdout" "$T/rp/keep.bin"; echo $?)" "the same bytes"
is "$(for p in "$R"/packs/*/*; do head -c 8 "$p"; echo; done | sort -u)" BFSPACKS \
	"every pack is sealed"

leak=$(grep -rlaE "first-PW|second-PW|third-PW" "$R" "$XDG_CACHE_HOME" \
	"$T/state" "$T/stdout" "$T/stderr" || true)
is "$leak" "" "no password in the repository, cache, state or output"
done_testing
