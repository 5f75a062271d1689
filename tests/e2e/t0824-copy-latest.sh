#!/bin/bash
# copy takes `latest` as every command that takes a backup id does: the
# newest backup of the source by its time (not the greatest id), found
# in the source's catalog brought up to date first (a backup it did not
# know yet, made through another catalog, is the one copied); `latest` and its own id together copy
# it once; a source without backups is exit 1 with a message, and copies
# nothing.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd jq jq
A=$T/a
mkdir -p "$T/src"
echo one >"$T/src/f"
ok_cmd "init the source" bfs init "$A"
ok_cmd "backup zz-old" bfs backup -r "$A" --id zz-old --files "app=$T/src"
ok_cmd "sync the source's catalog" bfs list -r "$A"
sleep 1.1
echo two >"$T/src/f"
ok_cmd "backup aa-new (newer, smaller id; into another catalog)" \
	bfs backup -r "$A" --catalog "$T/other.db" --id aa-new --files "app=$T/src"

ok_cmd "copy latest" bfs copy --from "$A" --to "$T/b" latest
like "$(cat "$T/stdout")" "^1 backups copied" "one backup copied"
is "$(bfs_ids -r "$T/b" | tr '\n' ' ')" "aa-new " "the newest by time, not by id"
ok_cmd "cat its file" bfs cat -r "$T/b" aa-new:app/f
is "$(cat "$T/stdout")" "two" "with the newest bytes"

ok_cmd "copy latest aa-new zz-old" bfs copy --from "$A" --to "$T/c" latest aa-new zz-old
like "$(cat "$T/stdout")" "^2 backups copied" "latest and its id count once"
is "$(bfs_ids -r "$T/c" | tr "\n" " ")" "zz-old aa-new " "both there (listed by time)"

ok_cmd "init an empty source" bfs init "$T/empty"
fails_with 1 "copy latest of an empty source: exit 1" \
	bfs copy --from "$T/empty" --to "$T/d" latest
like "$(cat "$T/stderr")" "no backups in '.*empty': nothing is 'latest'" "says why"
is "$(find "$T/d/manifests" -type f 2>/dev/null | wc -l)" 0 "nothing copied"
fails_with 2 "a bad id is still a usage error" bfs copy --from "$A" --to "$T/d" "../x"
like "$(cat "$T/stderr")" "invalid backup id '../x'" "names it"

done_testing
