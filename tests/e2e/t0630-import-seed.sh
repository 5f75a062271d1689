#!/bin/bash
# backupfs import: folders in the seed tools' layout (the NocoDB container's
# database.sql.gz, nocodb-data.tar.gz, bases/**/records.json.gz and
# manifest.json; a generic folder of .sql.zst, .tar.zst and plain files)
# become backups with their original ids and times; the dump comes back
# decompressed byte for byte, the data directory unpacked, the records one
# a line; a second import deduplicates; --dry-run writes nothing;
# importing again skips; hostile folders fail, naming the file, and the
# good ones next to them are still imported.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-import.sh"
require_cmd zstd zstd

R=$T/repo
S=$T/seed
seed_sql "$T/db.sql"
seed_data "$T/data"
N=3000
[ "${CI:-}" = true ] || N=20000
ok_cmd "init" bfs init "$R"

# ---- three seed folders
D1=$S/2026-01-10_02-00-00
D2=$S/2026-01-11_02-00-00
D3=$S/old-app
seed_folder "$D1" "$T/db.sql" "$T/data" "$N" \
	'{"id":"nocodb-2026-01-10","timestamp":"2026-01-10T02:00:00Z","host":"nocodb-prod","version":"1.4"}'
# the next night: a few more rows, one more upload; no manifest.json
cp "$T/db.sql" "$T/db2.sql"
printf 'INSERT INTO public.actor VALUES (9001, %s, %s, now());\n' \
	"'NEW'" "'ACTOR'" >>"$T/db2.sql"
cp -a "$T/data" "$T/data2"
echo "new upload" >"$T/data2/uploads/noco/new.txt"
seed_folder "$D2" "$T/db2.sql" "$T/data2" $((N + 10))
# a generic folder: zstd dump, zstd tar, plain files; no time in its name
mkdir -p "$D3/etc"
zstd -q -c "$T/db.sql" >"$D3/app.sql.zst"
tar -C "$T/data" --zstd -cf "$D3/files.tar.zst" .
echo "kept as it is" >"$D3/README.txt"
gzip -c "$D3/README.txt" >"$D3/notes.txt.gz"
echo "x=1" >"$D3/etc/app.conf"
touch -d '2025-06-01 12:00:00 UTC' "$D3"

# ---- --dry-run: the mapping, nothing written
before=$(find "$R" -type f | sort | xargs md5sum)
ok_cmd "import --dry-run" bfs import -r "$R" --dry-run "$D1" "$D2" "$D3"
out=$(cat "$T/stdout")
like "$out" "^$D1 -> backup nocodb-2026-01-10 \(id from manifest.json\), time 2026-01-10T02:00:00Z \(from manifest.json\)$" \
	"dry run: id and time of the manifest"
like "$out" "^$D2 -> backup 2026-01-11_02-00-00 \(id from folder name\), time 2026-01-11T02:00:00Z \(from folder name\)$" \
	"dry run: id and time of the folder name"
like "$out" "^$D3 -> backup 2025-06-01_12-00-00 \(id from time\), time 2025-06-01T12:00:00Z \(from folder mtime\)$" \
	"dry run: time of the folder mtime, id from it"
like "$out" "^  decompress database.sql.gz -> database.sql$" "dry run: the dump"
like "$out" "^  unpack     nocodb-data.tar.gz -> nocodb-data/$" "dry run: the data dir"
like "$out" "^  records    bases/Sales/Orders/records.json.gz -> bases/Sales/Orders/records.jsonl$" \
	"dry run: the records"
like "$out" "^  decompress app.sql.zst -> app.sql$" "dry run: a zstd dump"
like "$out" "^  copy       notes.txt.gz -> notes.txt.gz$" "dry run: other .gz as they are"
is "$(find "$R" -type f | sort | xargs md5sum)" "$before" "dry run wrote nothing"
is "$(bfs list -r "$R" --json | "$BFS_PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)))')" \
	"0" "dry run: no backup"

# ---- the first folder
ok_cmd "import of the first folder" bfs import -r "$R" "$D1"
like "$(cat "$T/stdout")" "^imported $D1 as backup 'nocodb-2026-01-10'" "says so"
list=$(bfs list -r "$R" --json)
is "$("$BFS_PYTHON" -c 'import json,sys
b = json.load(sys.stdin)[0]
print(b["id"], b["time"], b["host"], ",".join(b["tags"]))' <<<"$list")" \
	"nocodb-2026-01-10 2026-01-10T02:00:00Z nocodb-prod imported" \
	"list: original id, time, host; tagged imported"
is "$(bfs cat -r "$R" nocodb-2026-01-10:database.sql | md5sum)" \
	"$(md5sum <"$T/db.sql")" "database.sql is the decompressed dump"
ok_cmd "restore" bfs restore -r "$R" nocodb-2026-01-10 --target "$T/r1"
BFS_COMPARE_IGNORE=root ok_cmd "nocodb-data/ is the archive's content (modes, mtimes, symlink)" \
	compare_trees "$T/data" "$T/r1/nocodb-data"
check_records() { # $1 restored jsonl, $2 original json.gz
	"$BFS_PYTHON" - "$1" "$2" <<'PY'
import gzip, json, sys
want = json.load(gzip.open(sys.argv[2], "rt", encoding="utf-8"))
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
assert lines[-1] == "", "no final newline"
got = [json.loads(l) for l in lines[:-1]]
assert got == want, "records differ"
print(len(got))
PY
}
is "$(check_records "$T/r1/bases/Sales/Orders/records.jsonl" "$D1/bases/Sales/Orders/records.json.gz")" \
	"$N" "records.jsonl: one record a line, equal to the array's elements"
is "$(check_records "$T/r1/bases/HR/Staff/records.jsonl" "$D1/bases/HR/Staff/records.json.gz")" \
	"7" "records.jsonl of a second base"
ok "$(cmp -s "$T/r1/bases/Sales/Orders/schema.json" "$D1/bases/Sales/Orders/schema.json"; echo $?)" \
	"schema.json as it is"
ok "$(cmp -s "$T/r1/manifest.json" "$D1/manifest.json"; echo $?)" "manifest.json as it is"
is "$(ls "$T/r1" | tr '\n' ' ')" "bases database.sql manifest.json nocodb-data " \
	"nothing compressed is left in the backup"

# ---- show: the per-table figures; show --tree: sizes like du
ok_cmd "show" bfs show -r "$R" nocodb-2026-01-10
out=$(cat "$T/stdout")
like "$out" "^  import .* $D1$" "show: the import source names the folder"
like "$out" "^ +$N +0 +[0-9.]+ [KM]iB  bases/Sales/Orders$" \
	"show: records of bases/Sales/Orders"
like "$out" "^ +7 +0 +[0-9.]+ (KiB|B)  bases/HR/Staff$" "show: records of bases/HR/Staff"
ok_cmd "show --tree" bfs show -r "$R" nocodb-2026-01-10 --tree
tree=$(cat "$T/stdout")
total=$(bfs list -r "$R" --json | "$BFS_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[0]["stats"]["files"])')
like "$tree" "^ +[0-9.]+ MiB +$total  \./$" "tree: the top has every file ($total)"
like "$tree" "^ +[0-9.]+ [KM]iB +$(find "$T/data" -type f | wc -l)    nocodb-data/$" \
	"tree: nocodb-data/ with its file count"
like "$tree" "^ +[0-9.]+ MiB +  database.sql$" "tree: a file with its size"
like "$tree" "^ +[0-9.]+ [KM]iB +2        Orders/  \($N records, 0 attachments\)$" \
	"tree: a table with its records"
ok_cmd "show --tree --depth 1 bases" bfs show -r "$R" nocodb-2026-01-10 --tree --depth 1 /bases/
is "$(sed 1d "$T/stdout" | sed 's/^ *[0-9.]* [KMG]*i*B *//')" "8  bases/
3    HR/
5    Sales/
8 files, 5 directories" "tree --depth 1 below bases: totals of what is below"
fails_with 2 "show --tree --json: usage error" bfs show -r "$R" latest --tree --json
fails_with 2 "show ID PATH without --tree: usage error" bfs show -r "$R" latest bases
fails_with 1 "show --tree of a missing path" bfs show -r "$R" latest --tree nope

# ---- the next two in one run: deduplicated against the first
ok_cmd "import of two more folders" bfs import -r "$R" --tag seed "$D2" "$D3"
stats=$(bfs list -r "$R" --json | "$BFS_PYTHON" -c 'import json,sys
for b in json.load(sys.stdin):
    s = b["stats"]
    print(b["id"], s["bytes"], s["stored_bytes"], ",".join(b["tags"]))')
diag "$stats"
read -r _ bytes2 stored2 tags2 < <(grep '^2026-01-11_02-00-00 ' <<<"$stats")
read -r _ bytes3 stored3 _ < <(grep '^2025-06-01_12-00-00 ' <<<"$stats")
is "$tags2" "imported,seed" "--tag adds to 'imported'"
ok "$([ "$stored2" -lt $((bytes2 / 20)) ]; echo $?)" \
	"the next night stores little: $stored2 of $bytes2 bytes"
ok "$([ "$stored3" -lt $((bytes3 / 20)) ]; echo $?)" \
	"the generic folder dedups against both: $stored3 of $bytes3 bytes"
is "$(bfs cat -r "$R" 2025-06-01_12-00-00:app.sql | md5sum)" \
	"$(md5sum <"$T/db.sql")" "app.sql.zst decompressed"
is "$(bfs cat -r "$R" 2025-06-01_12-00-00:files/noco.db | md5sum)" \
	"$(md5sum <"$T/data/noco.db")" "files.tar.zst unpacked into files/"
is "$(bfs cat -r "$R" 2025-06-01_12-00-00:notes.txt.gz | gzip -dc)" \
	"kept as it is" "notes.txt.gz kept compressed"
is "$(bfs cat -r "$R" 2026-01-11_02-00-00:nocodb-data/uploads/noco/new.txt)" \
	"new upload" "the second night's new file"

# ---- again: skipped, never overwritten
ok_cmd "importing again" bfs import -r "$R" "$D1" "$D2"
like "$(cat "$T/stdout")" "^skipping $D1: backup 'nocodb-2026-01-10' already exists$" \
	"an existing id is skipped with a message"
is "$(bfs list -r "$R" --json | "$BFS_PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)))')" \
	"3" "still three backups"

# ---- hostile folders fail, naming the file; the good one still goes in
H=$T/hostile
mkdir -p "$H/h1" "$H/h2" "$H/h3" "$H/h4" "$H/h5/bases/B/T" "$H/h6"
head -c 5000 "$D1/database.sql.gz" >"$H/h1/database.sql.gz" # truncated
"$BFS_PYTHON" - "$H/h2/nocodb-data.tar.gz" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    for name in ("ok.txt", "../../escape.txt"):
        data = b"x\n"
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
PY
"$BFS_PYTHON" - "$H/h6/data.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    ti = tarfile.TarInfo("/etc/cron.d/evil")
    ti.size = 2
    t.addfile(ti, io.BytesIO(b"x\n"))
PY
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$H/h3/manifest.json"
printf '{"id":"h4","timestamp":{"when":"today"}}' >"$H/h4/manifest.json"
printf '[{"Id":1},{"Id":2' | gzip >"$H/h5/bases/B/T/records.json.gz"
echo "plain" >"$H/h1/readme.txt"
printf 'not gzip at all' >"$H/h6/db.sql.gz"
D4=$S/2026-01-12_02-00-00
seed_folder "$D4" "$T/db2.sql" "$T/data2" 5
fails_with 1 "import of five hostile folders and a good one: exit 1" \
	bfs import -r "$R" "$H/h1" "$H/h2" "$H/h3" "$D4" "$H/h4" "$H/h5" "$H/h6"
err=$(cat "$T/stderr")
diag "$err"
like "$err" "$H/h1: '$H/h1/database.sql.gz': .*; not imported" \
	"a truncated gzip: named"
like "$err" "$H/h2: archive '$H/h2/nocodb-data.tar.gz': entry '../../escape.txt' has a '..' component; not imported" \
	"a tar with ../: named with its entry"
like "$err" "'$H/h3/manifest.json': 2097152 bytes, more than a manifest.json may have" \
	"a huge manifest.json: named"
like "$err" "'$H/h4/manifest.json': \"timestamp\" is an object, expected a time string" \
	"a wrong type in manifest.json: named"
like "$err" "'$H/h5/bases/B/T/records.json.gz' \(decompressed\): byte 17: the input ends inside a record" \
	"a cut records array: named, with the offset"
like "$err" "$H/h6: '$H/h6/db.sql.gz': not gzip data; not imported|$H/h6: archive '$H/h6/data.tar': entry '/etc/cron.d/evil' has an absolute name" \
	"not gzip / an absolute tar entry: named"
like "$(cat "$T/stdout")" "^imported $D4 as backup '2026-01-12_02-00-00'" \
	"the good folder among them is imported"
is "$(bfs list -r "$R" --json | "$BFS_PYTHON" -c 'import json,sys; print(" ".join(sorted(b["id"] for b in json.load(sys.stdin))))')" \
	"2025-06-01_12-00-00 2026-01-11_02-00-00 2026-01-12_02-00-00 nocodb-2026-01-10" \
	"no hostile folder left a backup"
ok_cmd "check: the repository is sound" bfs check -r "$R"
fails_with 2 "no folder: usage error" bfs import -r "$R"
fails_with 1 "a missing folder fails" bfs import -r "$R" "$T/nope"
like "$(cat "$T/stderr")" "cannot open folder '$T/nope'" "and says which"
done_testing
