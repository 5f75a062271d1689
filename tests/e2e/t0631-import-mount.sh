#!/bin/bash
# backupfs import, seen through the mount: an imported seed folder shows
# at MNT/<original id>/ with database.sql equal to the decompressed
# dump, nocodb-data/ equal to the archive's content and records.jsonl one
# record a line; /latest follows the original times, not the import order.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
. "$top_srcdir/tests/e2e/lib-import.sh"
require_root_fuse

R=$T/repo
M=$T/mnt
S=$T/seed
seed_sql "$T/db.sql"
seed_data "$T/data"
ok_cmd "init" bfs init "$R"
seed_folder "$S/2026-02-01_01-00-00" "$T/db.sql" "$T/data" 500 \
	'{"backup_id":"nightly-0201","created_at":1769907600}'
seed_folder "$S/2026-01-01_01-00-00" "$T/db.sql" "$T/data" 400
# the newer one first: the mount's order is by the backups' times
ok_cmd "import of two folders, newest first" \
	bfs import -r "$R" "$S/2026-02-01_01-00-00" "$S/2026-01-01_01-00-00"
ok_cmd "mount" mount_repo "$R" "$M"
is "$(ls "$M" | grep -v -e "^latest$" -e "^jobs$" | tr '\n' ' ')" "2026-01-01_01-00-00 nightly-0201 " \
	"the mount has the original ids"
is "$(readlink "$M/latest")" "nightly-0201" \
	"/latest is the newest by its original time"
ok "$(cmp -s "$M/nightly-0201/database.sql" "$T/db.sql"; echo $?)" \
	"database.sql through the mount is the decompressed dump"
BFS_COMPARE_IGNORE=root ok_cmd "nocodb-data/ through the mount is the archive's content" \
	compare_trees "$T/data" "$M/nightly-0201/nocodb-data"
is "$(wc -l <"$M/2026-01-01_01-00-00/bases/Sales/Orders/records.jsonl")" \
	"400" "records.jsonl: one line a record"
is "$(stat -c %Y "$M/nightly-0201")" "1769907600" \
	"the backup's directory carries its original time"
done_testing
