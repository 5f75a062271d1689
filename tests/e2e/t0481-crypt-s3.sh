#!/bin/bash
# Encryption at rest on S3 (issue 13): an encrypted repository in a
# bucket works like a local one (backup, list, cat, restore, check,
# forget, prune) and through the mount; its objects hold no plain content
# or names; a wrong password is exit 1; copy S3 -> a new local location
# gives an encrypted twin (same keys, packs byte for byte) that the same
# password opens;
# copy between an encrypted and a plain repository works either way,
# each backup written again (src/copy_rewrite.c; more in t0484).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"

start_s3
export BACKUPFS_TEST_KDF=fast
S3=s3://bfs-crypt/repo
printf 'the s3 password\n' >"$T/pw"
export BACKUPFS_PASSWORD_FILE=$T/pw
mkdir -p "$T/src/Secret-Folder"
echo 'S3MARKER content' >"$T/src/Secret-Folder/named-file-0815.txt"
head -c 400000 /dev/urandom >"$T/src/r.bin"
for i in $(seq 1 2000); do echo "COPY row $i S3DUMPMARKER"; done >"$T/dump.sql"

ok_cmd "init on S3" bfs init "$S3"
like "$(cat "$T/stdout")" "initialized encrypted repository" "encrypted"
ok_cmd "backup b1" bfs backup -r "$S3" --id b1 --stdin database.sql \
	--files "app=$T/src" <"$T/dump.sql"
echo more >>"$T/src/Secret-Folder/named-file-0815.txt"
ok_cmd "backup b2" bfs backup -r "$S3" --id b2 --files "app=$T/src"
ok_cmd "list" bfs list -r "$S3"
like "$(cat "$T/stdout")" "b2" "both backups"
ok_cmd "cat" bfs cat -r "$S3" b1:database.sql
ok "$(cmp -s "$T/stdout" "$T/dump.sql"; echo $?)" "the dump's bytes"
ok_cmd "restore" bfs restore -r "$S3" b2:app --target "$T/back"
ok "$(diff -r "$T/src" "$T/back/app" >/dev/null; echo $?)" "the tree"
ok_cmd "check --read-data" bfs check -r "$S3" --read-data
ok_cmd "mount the encrypted S3 repository" mount_repo "$S3" "$T/mnt"
ok "$(cmp -s "$T/mnt/b1/database.sql" "$T/dump.sql"; echo $?)" \
	"the dump's bytes through the mount"
ok "$(diff -r "$T/src" "$T/mnt/b2/app" >/dev/null; echo $?)" \
	"the tree through the mount"
unmount "$T/mnt"
fails_with 1 "wrong password" env BACKUPFS_PASSWORD=nope \
	BACKUPFS_PASSWORD_FILE= "$BACKUPFS" list -r "$S3"
like "$(cat "$T/stderr")" "wrong password for repository 's3://bfs-crypt/repo'" \
	"the message names the repository"

ok_cmd "download the bucket" aws_s3 cp --recursive s3://bfs-crypt/repo "$T/dl"
leak=$(grep -rlaE "S3MARKER|S3DUMPMARKER|named-file-0815|Secret-Folder" "$T/dl" || true)
is "$leak" "" "no content or name in the bucket's objects"

ok_cmd "forget b1" bfs forget -r "$S3" b1
ok_cmd "prune" bfs prune -r "$S3" --grace 0
ok_cmd "check after prune" bfs check -r "$S3" --read-data
ok_cmd "cat b2 after prune" bfs cat -r "$S3" b2:app/Secret-Folder/named-file-0815.txt
like "$(cat "$T/stdout")" "more" "the new content"

# copy S3 -> a new local location: an encrypted twin
L=$T/local
ok_cmd "copy S3 -> new local" bfs copy --from "$S3" --to "$L"
ok "$([ -n "$(ls "$L/keys")" ]; echo $?)" "the twin has the key objects"
like "$(cat "$L/config")" '"encryption"' "and is encrypted"
ok_cmd "the same password opens the twin" bfs cat -r "$L" \
	b2:app/Secret-Folder/named-file-0815.txt
like "$(cat "$T/stdout")" "more" "same content"
ok_cmd "check the twin" bfs check -r "$L" --read-data

# encrypted <-> plain: each backup written again, either way
P=$T/plain
ok_cmd "plain init" env -u BACKUPFS_PASSWORD_FILE "$BACKUPFS" init "$P"
ok_cmd "plain backup" env -u BACKUPFS_PASSWORD_FILE "$BACKUPFS" backup -r "$P" \
	--id p1 --files "app=$T/src"
ok_cmd "copy encrypted S3 -> plain" bfs copy --from "$S3" --to "$P" b2
like "$(cat "$T/stderr")" "writing backup 'b2' again" "written again"
ok_cmd "cat b2 from the plain copy" env -u BACKUPFS_PASSWORD_FILE \
	"$BACKUPFS" cat -r "$P" b2:app/r.bin
ok "$(cmp -s "$T/stdout" "$T/src/r.bin"; echo $?)" "the same bytes"
ok_cmd "check the plain copy" env -u BACKUPFS_PASSWORD_FILE "$BACKUPFS" \
	check -r "$P" --read-data
ok_cmd "copy plain -> encrypted S3" bfs copy --from "$P" --to "$S3" p1
ok_cmd "cat p1 from S3" bfs cat -r "$S3" p1:app/r.bin
ok "$(cmp -s "$T/stdout" "$T/src/r.bin"; echo $?)" "the same bytes on S3"
ok_cmd "check S3 after the copy" bfs check -r "$S3" --read-data
done_testing
