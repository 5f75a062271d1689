#!/bin/bash
# backupfs mount: /jobs/NAME/latest per job (issue 10).  Two jobs and an
# ad-hoc backup: /jobs lists the jobs, each latest points at its job's
# newest backup (../../ID) and reads through; /latest stays the
# repository's newest; a new backup of one job moves that job's link
# only, an ad-hoc backup moves none; inode numbers of /jobs/NAME stay the
# same across syncs; /jobs is read-only and a job without backups is gone.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse

R=$T/repo
M=$T/mnt
LOG=$T/mount.log

ok_cmd "init" bfs init "$R"
ok_cmd "backup a1 (job app)" bfs backup -r "$R" --id a1 --job app \
	--command "v.txt=echo app 1"
ok_cmd "backup w1 (job web)" bfs backup -r "$R" --id w1 --job web \
	--command "v.txt=echo web 1"
ok_cmd "backup x1 (ad hoc)" bfs backup -r "$R" --id x1 --command "v.txt=echo adhoc 1"
ok_cmd "mount -f in the background" mount_repo_fg "$R" "$M" "$LOG"

is "$(ls "$M" | tr '\n' ' ')" "a1 jobs latest w1 x1 " "the root lists jobs"
is "$(ls "$M/jobs" | tr '\n' ' ')" "app web " "/jobs lists the two jobs"
is "$(ls "$M/jobs/app")" "latest" "a job directory holds latest"
is "$(readlink "$M/jobs/app/latest")" "../../a1" "app's latest"
is "$(readlink "$M/jobs/web/latest")" "../../w1" "web's latest"
is "$(readlink "$M/latest")" "x1" "/latest is the repository's newest"
is "$(cat "$M/jobs/web/latest/v.txt")" "web 1" "reads through the link"
is "$(stat -c %F "$M/jobs")" "directory" "/jobs is a directory"
is "$(stat -c %F "$M/jobs/app/latest")" "symbolic link" "latest is a symlink"
ino_app=$(stat -c %i "$M/jobs/app")
ino_web=$(stat -c %i "$M/jobs/web")
ok "$([ "$ino_app" != "$ino_web" ] && [ "$ino_app" -lt $((1 << 40)) ]; echo $?)" \
	"distinct job inodes below 2^40 ($ino_app, $ino_web)"
fails_with 1 "no such job" stat "$M/jobs/nosuch"
fails_with 1 "only latest in a job directory" stat "$M/jobs/app/other"
fails_with 1 "read-only" mkdir "$M/jobs/new"

# ---- a new backup of app moves app's latest, not web's
sleep 1
ok_cmd "backup a2 (job app)" bfs backup -r "$R" --id a2 --job app \
	--command "v.txt=echo app 2"
ok "$(wait_until 10 bash -c "[ \"\$(readlink '$M/jobs/app/latest')\" = ../../a2 ]"; echo $?)" \
	"app's latest moves to a2 after the resync"
is "$(readlink "$M/jobs/web/latest")" "../../w1" "web's latest stays"
is "$(cat "$M/jobs/app/latest/v.txt")" "app 2" "and reads a2"
is "$(readlink "$M/latest")" "a2" "/latest moves too (newest of all)"
is "$(stat -c %i "$M/jobs/app")" "$ino_app" "app's inode is the same"

# ---- an ad-hoc backup moves /latest only
ok_cmd "backup x2 (ad hoc)" bfs backup -r "$R" --id x2 --command "v.txt=echo adhoc 2"
ok "$(wait_until 10 bash -c "[ \"\$(readlink '$M/latest')\" = x2 ]"; echo $?)" \
	"/latest moves to x2"
is "$(readlink "$M/jobs/app/latest")" "../../a2" "app's latest does not move"
is "$(readlink "$M/jobs/web/latest")" "../../w1" "web's latest does not move"

# ---- a new job appears; a job whose backups are all gone disappears
ok_cmd "backup d1 (job db)" bfs backup -r "$R" --id d1 --job db --command "v.txt=echo db 1"
ok "$(wait_until 10 test -L "$M/jobs/db/latest"; echo $?)" "job db appears"
ok_cmd "forget web's backup" bfs forget -r "$R" w1
ok "$(wait_until 10 bash -c "! test -e '$M/jobs/web'"; echo $?)" "job web disappears"
ok "$(wait_until 5 bash -c "[ \"\$(ls '$M/jobs' | tr '\n' ' ')\" = 'app db ' ]"; echo $?)" \
	"/jobs lists app and db"
ok_cmd "backup w2 (job web again)" bfs backup -r "$R" --id w2 --job web --command "v.txt=echo web 2"
ok "$(wait_until 10 test -L "$M/jobs/web/latest"; echo $?)" "job web is back"
is "$(stat -c %i "$M/jobs/web")" "$ino_web" "with its old inode number"

fails_with 2 "backup --id jobs is refused" bfs backup -r "$R" --id jobs --command "a=echo a"
done_testing
