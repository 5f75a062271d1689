#!/bin/bash
# backupfs forget / delete on a local repository: a policy removes the
# right manifests and nothing else, the kept backups still restore, list
# drops the removed ones, --dry-run removes nothing, --json is restic's
# shape, --group-by and --tag choose what the policy sees, unknown ids
# are refused with nothing removed, 'latest' works, usage errors.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd jq jq

R=$T/repo
ok_cmd "init" bfs init "$R"

# six daily backups of app "db" (stdin at db.sql), two of app "files",
# made with --time so that the policy has something to bucket
for d in 1 2 3 4 5 6; do
	seq 1 $((d * 1000)) >"$T/db$d.sql"
	bfs backup -q -r "$R" --stdin db.sql --tag nightly \
		--time "2026-03-0${d}T02:00:00Z" <"$T/db$d.sql" ||
		bail_out "backup db $d failed"
done
for d in 1 2; do
	bfs backup -q -r "$R" --command "f.txt=echo files $d" \
		--time "2026-03-0${d}T03:00:00Z" || bail_out "backup files $d"
done
ids=$(bfs_ids -r "$R" | tr '\n' ' ')
is "$ids" "2026-03-01_02-00-00 2026-03-01_03-00-00 2026-03-02_02-00-00 2026-03-02_03-00-00 2026-03-03_02-00-00 2026-03-04_02-00-00 2026-03-05_02-00-00 2026-03-06_02-00-00 " \
	"eight backups, ids from --time"

packs_before=$(pack_files "$R")
index_before=$(find "$R/index" -type f | sort)

# ---- dry run: prints the plan, removes nothing
ok_cmd "forget --keep-last 2 --dry-run" bfs forget -r "$R" --keep-last 2 --dry-run
out=$(cat "$T/stdout")
like "$out" "^group sources \[db.sql\]:" "a group per set of sources"
like "$out" "^group sources \[f.txt\]:" "the other app is its own group"
like "$out" "2026-03-06_02-00-00 .*last snapshot" "the reason of each kept backup"
like "$out" "^would remove 4 backups:" "the db group loses 4"
like "$(cat "$T/stderr")" "would remove 4 backups, keep 4" "summary"
is "$(bfs_ids -r "$R" | wc -l)" 8 "dry run removed nothing"

# ---- --json: restic's shape
ok_cmd "forget --json --dry-run" bfs forget -r "$R" --keep-last 2 --dry-run --json
J=$T/stdout
is "$(jq length "$J")" 2 "two groups"
is "$(jq -r '.[] | select(.paths == ["db.sql"]) | [.keep[].id] | join(" ")' "$J")" \
	"2026-03-06_02-00-00 2026-03-05_02-00-00" "keep, newest first"
is "$(jq -r '.[] | select(.paths == ["db.sql"]) | .remove | length' "$J")" 4 "remove"
is "$(jq -r '.[] | select(.paths == ["db.sql"]) | .reasons[0].matches[0]' "$J")" \
	"last snapshot" "reasons[].matches"
is "$(jq -r '.[0].keep[0] | keys | join(",")' "$J")" \
	"hostname,id,paths,short_id,tags,time" "snapshot members"

# ---- --group-by '' puts everything in one group
ok_cmd "--group-by ''" bfs forget -r "$R" --keep-last 3 --group-by '' --dry-run --json
is "$(jq length "$T/stdout")" 1 "one group"
is "$(jq -r '[.[0].keep[].id] | join(" ")' "$T/stdout")" \
	"2026-03-06_02-00-00 2026-03-05_02-00-00 2026-03-04_02-00-00" \
	"the three newest of all"
ok_cmd "--group-by host,tags" bfs forget -r "$R" --keep-last 1 --group-by host,tags --dry-run --json
is "$(jq -r '[.[] | .tags | join(",")] | sort | join(" ")' "$T/stdout")" \
	" nightly" "grouped by tags: untagged and nightly"
is "$(jq -r '[.[].host] | unique | length' "$T/stdout")" 1 "host set in the groups"

# ---- --tag: only backups with the tag are looked at
ok_cmd "--tag nightly" bfs forget -r "$R" --keep-last 1 --tag nightly --group-by '' --dry-run --json
is "$(jq -r '[.[0].keep[].id, .[0].remove[].id] | length' "$T/stdout")" 6 \
	"only the six nightly backups"

# ---- the real thing
ok_cmd "forget --keep-daily 2" bfs forget -r "$R" --keep-daily 2
like "$(cat "$T/stderr")" "removed 4 backups, kept 4" "forget says what it did"
like "$(cat "$T/stdout")" "^remove 4 backups:" "and lists them"
is "$(bfs_ids -r "$R" | tr '\n' ' ')" \
	"2026-03-01_03-00-00 2026-03-02_03-00-00 2026-03-05_02-00-00 2026-03-06_02-00-00 " \
	"list drops the removed backups"
is "$(ls "$R/manifests" | wc -l)" 4 "four manifests left"
is "$(pack_files "$R")" "$packs_before" "no pack touched (prune's job)"
is "$(find "$R/index" -type f | sort)" "$index_before" "no index object touched"
is "$(ls "$R/locks" 2>/dev/null | wc -l)" 0 "the lock is gone"

for b in 2026-03-05_02-00-00 2026-03-06_02-00-00; do
	d=${b:8:2}
	d=${d#0}
	ok_cmd "restore kept $b" bfs restore -r "$R" "$b" --target "$T/out-$d"
	ok_cmd "byte for byte" cmp "$T/out-$d/db.sql" "$T/db$d.sql"
done
fails_with 1 "a removed backup is gone" bfs restore -r "$R" 2026-03-01_02-00-00 --target "$T/nope"

# ---- unknown ids: refused, nothing removed
fails_with 1 "forget of an unknown id" bfs forget -r "$R" 2026-03-05_02-00-00 nosuch
like "$(cat "$T/stderr")" "no backup 'nosuch' in the repository; nothing removed" \
	"names it, says nothing was removed"
is "$(bfs_ids -r "$R" | wc -l)" 4 "the known one was not removed either"

# ---- delete, latest
ok_cmd "delete latest" bfs delete -r "$R" latest
like "$(cat "$T/stdout")" "2026-03-06_02-00-00" "latest is the newest"
ok_cmd "forget ID" bfs forget -r "$R" 2026-03-01_03-00-00
is "$(bfs_ids -r "$R" | tr '\n' ' ')" "2026-03-02_03-00-00 2026-03-05_02-00-00 " \
	"both gone"

# ---- backups at the same second get distinct ids from --time
for i in 1 2 3; do
	echo "same $i" | bfs backup -q -r "$R" --stdin same.txt \
		--time "2026-02-01T00:00:00.${i}Z" || bail_out "same $i"
done
is "$(bfs_ids -r "$R" | grep '^2026-02-01' | tr '\n' ' ')" \
	"2026-02-01_00-00-00 2026-02-01_00-00-00.1 2026-02-01_00-00-00.2 " \
	"the time's id, then .1 and .2"
fails_with 2 "--time that does not parse" \
	bfs backup -r "$R" --stdin x --time "2026-02-30T00:00:00Z"
like "$(cat "$T/stderr")" "--time '2026-02-30T00:00:00Z'" "names the value"
ok_cmd "delete them" bfs delete -r "$R" 2026-02-01_00-00-00 \
	2026-02-01_00-00-00.1 2026-02-01_00-00-00.2

# ---- a manifest the catalog cannot ingest can still be deleted
echo "not a manifest" >"$R/manifests/broken"
bfs list -r "$R" >/dev/null 2>"$T/list.err"
like "$(cat "$T/list.err")" "broken" "list warns about the broken manifest"
ok_cmd "delete broken" bfs delete -r "$R" broken
like "$(cat "$T/stderr")" "'broken' is not in the catalog .*removing it anyway" \
	"says it removes it anyway"
ok "$([ ! -e "$R/manifests/broken" ]; echo $?)" "its manifest is gone"

# ---- policy refusals and usage errors
fails_with 1 "a policy that keeps nothing of a group is refused" \
	bfs forget -r "$R" --keep-tag nosuchtag
like "$(cat "$T/stderr")" "refusing to delete the last" "with restic's reason"
is "$(bfs_ids -r "$R" | wc -l)" 2 "and removes nothing"
fails_with 2 "forget without ids or policy" bfs forget -r "$R"
like "$(cat "$T/stderr")" "no policy was specified" "says so"
fails_with 2 "ids and a policy" bfs forget -r "$R" latest --keep-last 1
fails_with 2 "bad --group-by" bfs forget -r "$R" --keep-last 1 --group-by colour
like "$(cat "$T/stderr")" "unknown key 'colour'" "names the key"
fails_with 2 "bad count" bfs forget -r "$R" --keep-daily x
fails_with 2 "delete without ids" bfs delete -r "$R"
fails_with 2 "--unsafe-allow-remove-all without --tag" \
	bfs forget -r "$R" --unsafe-allow-remove-all
ok_cmd "forget --help" bfs forget --help
like "$(cat "$T/stdout")" "--keep-within-daily" "help lists the policy options"
like "$(cat "$T/stdout")" "runs? 'backupfs prune'|run 'backupfs prune'" "and says what --prune runs"

done_testing
