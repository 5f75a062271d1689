#!/bin/bash
# backupfs migrate on S3: the format-1 fixture (tests/data/format1)
# uploaded to a bucket is refused, then migrated through a proxy that
# answers 503 and resets connections now and then (retried); afterwards
# cat and restore give the fixture's files, no migrate/ object is left,
# and a second migrate does nothing.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"

F=$top_srcdir/tests/data/format1
start_s3
R=s3://bfs-migrate/old
C=$T/cat.db

ok_cmd "create a bucket" aws_s3 mb s3://bfs-migrate
ok_cmd "upload the format-1 fixture" aws_s3 cp --recursive "$F/repo" "$R"
fails_with 1 "list refuses the format-1 repository" \
	bfs list -r "$R" --catalog "$C"
like "$(cat "$T/stderr")" "run 'backupfs migrate -r " "... saying to run migrate"

s3_faults 503:every=5 reset:every=13
ok_cmd "migrate on S3, through faults" bfs migrate -r "$R"
s3_faults
like "$(cat "$T/stdout")" "^2 backups converted" "both backups converted"
aws_s3 ls --recursive s3://bfs-migrate/old/ >"$T/keys"
unlike "$(cat "$T/keys")" "old/migrate/" "no saved manifest left"
like "$(cat "$T/keys")" "old/index/" "index objects written"
ok_cmd "download the config" aws_s3 cp "$R/config" "$T/config"
is "$(jq .version "$T/config")" "5" "config says version 5"

want=$(awk '$2 == "b2/dump.sql" { print $1 }' "$F/expected.sha256")
ok_cmd "cat b2:dump.sql" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' --catalog '$C' b2:dump.sql | sha256sum | cut -c1-64 >'$T/sum'"
is "$(cat "$T/sum")" "$want" "cat gives the dump as it was"
for b in b1 b2; do
	ok_cmd "restore $b" bfs restore -r "$R" --catalog "$C" "$b" \
		--target "$T/r/$b"
done
is "$(cd "$T/r" && find . -type f | sed 's|^\./||' | LC_ALL=C sort |
	xargs sha256sum)" "$(cat "$F/expected.sha256")" \
	"every restored file has the fixture's content"

ok_cmd "migrate again" bfs migrate -r "$R"
like "$(cat "$T/stdout")" "format 5 already: nothing to do" "nothing to do"

done_testing
