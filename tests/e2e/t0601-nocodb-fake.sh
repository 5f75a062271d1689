#!/bin/bash
# backup --nocodb against a stand-in for NocoDB's API (needs only python3,
# so it runs where npm cannot): titles that clash or are not names ("/",
# "..", a tab, two bases with one title, a table titled metadata.json),
# paging that ignores a wrong isLastPage, attachments from path and
# signedPath, one of the wrong size, one that is gone and one whose
# signed URL has expired (a 403 from its storage: a partial backup naming
# all three), the token kept out of everything, a refused token.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

NC=$top_srcdir/tests/e2e/nocodb
R=$T/repo
TOKEN=tok-$(_rand_hex 12)
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
(cd "$T" && exec "$BFS_PYTHON" "$NC/fake.py" "$PORT" "$TOKEN") &
FAKE=$!
at_exit "kill $FAKE 2>/dev/null"
wait_until 10 curl -s -o /dev/null "$URL/api/v2/meta/bases" ||
	bail_out "the fake NocoDB did not start"
ok_cmd "init" bfs init "$R"

fails_with 3 "backup --nocodb: written, partial (three attachments unreadable)" \
	env NOCODB_API_TOKEN="$TOKEN" "$BACKUPFS" backup -r "$R" --id f1 \
	--nocodb "$URL" --command note.txt='echo hi'
err=$(cat "$T/stderr")
like "$err" "Orders/attachments/2/bad.txt: downloaded 5 bytes, the record says 99" "the wrong size is named"
like "$err" "Orders/attachments/3/gone.txt: NocoDB answered HTTP 404" "the missing attachment is named"
like "$err" "Orders/attachments/4/expired.txt: the attachment's storage answered HTTP 403" \
	"an expired signed URL (403 from the storage) is one unreadable file, not a refused token"
unlike "$err" "refused the API token|X-Amz-Expires" "no token blamed, no signed URL printed"
ok_cmd "ls -R f1" bfs ls -r "$R" -R f1
out=$(cat "$T/stdout")
for p in note.txt bases/Sales%2F2026/metadata.json \
	bases/Sales%2F2026%~2/metadata.json bases/%2E%2E/metadata.json \
	bases/Sales%2F2026/Orders/schema.json \
	bases/Sales%2F2026/Orders/records.jsonl \
	bases/Sales%2F2026/metadata.json%~2/records.jsonl \
	bases/Sales%2F2026%~2/T%09ab/records.jsonl \
	bases/Sales%2F2026/Orders/attachments/1/a.txt \
	'bases/Sales%2F2026/Orders/attachments/1/a.txt%~2'; do
	like "$out" "^$p\$" "the backup holds $p"
done
is "$(bfs cat -r "$R" "f1:bases/Sales%2F2026/Orders/records.jsonl" | wc -l)" 2500 \
	"2,500 records although every page said isLastPage"
is "$(bfs cat -r "$R" "f1:bases/Sales%2F2026/Orders/records.jsonl" | sed -n 2500p)" \
	'{"Id":2500,"Name":"m1 row 2500","Files":null,"Big":9007199254740993}' \
	"the last record, as the API gave it (2^53+1 keeps its digits)"
is "$(grep -c 'records?limit=1000' "$T/$PORT.log")" 5 \
	"3 pages for 2,500 records, 1 each for the small tables"
like "$(grep 'tables/m1/records' "$T/$PORT.log" | tail -n 1)" "offset=2000&sort=Id" \
	"pages sorted by the primary key"
is "$(bfs cat -r "$R" "f1:bases/Sales%2F2026/Orders/attachments/1/a.txt")" hello "attachment bytes (path)"
is "$(bfs cat -r "$R" "f1:bases/Sales%2F2026/Orders/attachments/1/a.txt%~2")" hello "attachment bytes (signedPath)"
like "$(bfs cat -r "$R" "f1:bases/Sales%2F2026/Orders/schema.json")" '"views"' "schema.json has the views"
like "$(bfs cat -r "$R" "f1:bases/Sales%2F2026%~2/metadata.json")" '"id":\s+"p2"' \
	"the second 'Sales/2026' base is Sales%2F2026%~2"
leak=$(grep -rlaF -- "$TOKEN" "$R" "$XDG_CACHE_HOME" "$T/stderr" "$T/stdout" 2>/dev/null; \
	zstd -dcq "$R"/manifests/* 2>/dev/null | grep -caF -- "$TOKEN")
is "$leak" "0" "the token is in no repository file, manifest, catalog or output"

ok_cmd "show f1" bfs show -r "$R" f1
like "$(cat "$T/stdout")" "^ +2500 +2 +110\.5 KiB  bases/Sales%2F2026/Orders$" \
	"show: records, attachments and bytes of a table"
like "$(cat "$T/stdout")" "^ +3 +0 +120 B  bases/Sales%2F2026%~2/T%09ab$" \
	"show: a second table, by its name"
ok_cmd "check f1" bfs check -r "$R"

fails_with 1 "a refused token fails the backup" env NOCODB_API_TOKEN=nope \
	"$BACKUPFS" backup -r "$R" --id f2 --nocodb "$URL"
like "$(cat "$T/stderr")" "list of bases: NocoDB at $URL refused the API token \(HTTP 401" \
	"the message says the token was refused"
fails_with 1 "--nocodb-base that matches nothing fails" env NOCODB_API_TOKEN="$TOKEN" \
	"$BACKUPFS" backup -r "$R" --id f2 --nocodb "$URL" --nocodb-base Nope
like "$(cat "$T/stderr")" "--nocodb-base 'Nope': NocoDB at .* has no base with that title" \
	"the message names the base"
fails_with 2 "--nocodb needs an http(s) URL" env NOCODB_API_TOKEN="$TOKEN" \
	"$BACKUPFS" backup -r "$R" --nocodb ftp://x
ok_cmd "list" bfs list -r "$R"
is "$(grep -c f2 "$T/stdout")" 0 "no failed backup is visible"
# a password in the URL's userinfo is shown nowhere: not in the messages
# (here NocoDB answers through it), not in the repository or the catalog
PWURL="http://admin:Userinfo-Pw-$TOKEN@127.0.0.1:$PORT"
fails_with 1 "--nocodb-base that matches nothing, URL with a password" \
	env NOCODB_API_TOKEN="$TOKEN" "$BACKUPFS" backup -r "$R" --id f3 \
	--nocodb "$PWURL" --nocodb-base Nope
like "$(cat "$T/stderr")" "NocoDB at http://admin:\*\*\*@127\.0\.0\.1:$PORT has no base" \
	"the message shows the URL with *** for its password"
fails_with 1 "an unreachable NocoDB, URL with a password" env NOCODB_API_TOKEN="$TOKEN" \
	"$BACKUPFS" backup -r "$R" --id f3 --nocodb "http://admin:Userinfo-Pw-$TOKEN@127.0.0.1:$(free_port)"
like "$(cat "$T/stderr")" "cannot reach NocoDB at http://admin:\*\*\*@127" "says where, without it"
ok_cmd "backup through a URL with a password" env NOCODB_API_TOKEN="$TOKEN" \
	"$BACKUPFS" backup -q -r "$R" --id f3 --nocodb "$PWURL" --no-nocodb-attachments
ok_cmd "show f3" bfs show -r "$R" f3
unlike "$(cat "$T/stdout" "$T/stderr")" "Userinfo-Pw" "the URL's password is not in show's output"
is "$(grep -rlaF "Userinfo-Pw" "$R" "$XDG_CACHE_HOME")" "" \
	"nor in any file of the repository or the catalog"

done_testing
