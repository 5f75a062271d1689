#!/bin/bash
# --exclude with rsync's rules (a name anywhere, a path from the source
# root, a leading '/' anchored or repeating the source's absolute path,
# '**', a trailing '/' for directories), per source (an --exclude applies
# to the --files/--archive it follows; before the first one, or as
# --exclude-all, to all), on archives too, a warning naming every pattern
# that matched nothing, and clear usage errors for bad patterns.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
A=$T/seatable
B=$T/nocodb
mkdir -p "$A/seatable/logs" "$A/logs" "$A/conf" "$A/blocks/q1/ab" "$A/blocks/q2/cd" \
	"$A/deep/x/node_modules/m" "$A/node_modules" "$A/cachefile" \
	"$B/uploads/cache" "$B/uploads/2026" "$B/logs"
echo a >"$A/seatable/logs/seafile.log"
echo b >"$A/logs/top.log"
echo c >"$A/conf/app.conf"
echo d >"$A/blocks/q1/ab/00001"
echo e >"$A/blocks/q1/ab/11111"
echo f >"$A/blocks/q2/cd/00001"
echo g >"$A/deep/x/node_modules/m/i.js"
echo h >"$A/node_modules/top.js"
echo i >"$A/cachefile/keep.txt"
echo j >"$A/conf/x.tmp"
echo k >"$B/uploads/cache/c.bin"
echo l >"$B/uploads/2026/invoice.pdf"
echo m >"$B/logs/nocodb.log"
echo n >"$B/uploads/y.tmp"
touch "$A/cache"   # a file named like the directory pattern below

ok_cmd "init" bfs init "$R"

# ---- the rules, per source
ok_cmd "backup with per-source excludes" bfs backup -r "$R" --id b1 \
	--files st="$A" --exclude seatable/logs --exclude "$A/logs" \
	--exclude 'blocks/*/ab/0000*' --exclude '**/node_modules' --exclude 'cache/' \
	--files nc="$B" --exclude /uploads/cache --exclude '*.tmp'
warn=$(cat "$T/stderr")
bfs ls -r "$R" -R b1 >"$T/ls" 2>&1
ls_out=$(cat "$T/ls")
unlike "$ls_out" "seafile\\.log" "seatable/logs (a path with '/') is excluded"
unlike "$ls_out" "top\\.log" "an absolute /SOURCE/logs is anchored at the source root"
unlike "$ls_out" "st/blocks/q1/ab/00001" "blocks/*/ab/0000* is excluded"
like "$ls_out" "st/blocks/q1/ab/11111" "blocks/*/ab/0000* keeps 11111"
like "$ls_out" "st/blocks/q2/cd/00001" "blocks/*/ab/0000* keeps cd/00001"
unlike "$ls_out" "i\\.js" "**/node_modules excludes a deep node_modules"
unlike "$ls_out" "top\\.js" "**/node_modules excludes the top one"
like "$ls_out" "st/cache$" "'cache/' keeps a file named cache"
like "$ls_out" "st/conf/x\\.tmp" "'*.tmp' given after --files nc does not apply to st"
unlike "$ls_out" "nc/uploads/y\\.tmp" "'*.tmp' applies to nc"
unlike "$ls_out" "c\\.bin" "/uploads/cache is anchored in nc"
like "$ls_out" "invoice\\.pdf" "the rest of nc is there"
like "$ls_out" "nc/logs/nocodb\\.log" "nc's logs: the st excludes do not apply to nc"
like "$warn" "--exclude 'cache/' matched nothing in --files 'st=" \
	"a pattern that matched nothing is named, with its source"
unlike "$warn" "seatable/logs' matched nothing" "patterns that matched are not warned about"

# ---- before the first source and --exclude-all: every source
ok_cmd "backup with global excludes" bfs backup -r "$R" --id b2 \
	--exclude logs --files st="$A" --files nc="$B" --exclude-all '*.tmp'
bfs ls -r "$R" -R b2 >"$T/ls" 2>&1
ls_out=$(cat "$T/ls")
unlike "$ls_out" "\\.log" "--exclude before the first source: logs in both sources"
unlike "$ls_out" "\\.tmp" "--exclude-all '*.tmp' applies to both"
like "$ls_out" "invoice\\.pdf" "the rest is there"
is "$(grep -c 'matched nothing' "$T/stderr")" "0" "no warning when every pattern matched"

ok_cmd "an unmatched global pattern is warned about" bfs backup -r "$R" --id b3 \
	--exclude-all 'no-such-*' --files st="$A"
like "$(cat "$T/stderr")" "--exclude-all 'no-such-\\*' matched nothing in any --files or --archive source" \
	"the warning names the global pattern"
ok_cmd "-q silences the warning" bfs backup -q -r "$R" --id b4 --exclude-all 'no-such-*' --files st="$A"
is "$(grep -c 'matched nothing' "$T/stderr")" "0" "nothing on stderr with -q"

# ---- archives
tar -C "$T" -czf "$T/old.tar.gz" nocodb
ok_cmd "backup an archive with excludes" bfs backup -r "$R" --id b5 \
	--archive old="$T/old.tar.gz" --exclude nocodb/uploads/cache --exclude '*.log'
bfs ls -r "$R" -R b5 >"$T/ls" 2>&1
ls_out=$(cat "$T/ls")
unlike "$ls_out" "c\\.bin" "an excluded directory of an archive drops what is below it"
unlike "$ls_out" "nocodb\\.log" "a name pattern applies inside an archive"
like "$ls_out" "invoice\\.pdf" "the rest of the archive is there"

# ---- bad patterns: usage errors, nothing written
n0=$(bfs list -r "$R" --json | jq length)
fails_with 2 "an unclosed '[' is a usage error" bfs backup -r "$R" --files "$A" --exclude 'a[bc'
like "$(cat "$T/stderr")" "a\\[bc" "the message names the pattern"
fails_with 2 "--exclude / is a usage error" bfs backup -r "$R" --files "$A" --exclude /
like "$(cat "$T/stderr")" "whole source" "the message says why"
fails_with 2 "--exclude without a --files/--archive source is a usage error" \
	bfs backup -r "$R" --command x.txt='echo hi' --exclude '*.tmp'
like "$(cat "$T/stderr")" "no --files or --archive source" "the message says why"
is "$(bfs list -r "$R" --json | jq length)" "$n0" "no backup was written by the refused commands"

# ---- the repository, the catalog and the cache inside a --files source
H=$T/home
mkdir -p "$H/app"
echo data >"$H/app/data.txt"
ok_cmd "init a repository inside the tree to back up" bfs init "$H/backups"
ok_cmd "backup of the whole tree (repository and cache inside)" \
	env XDG_CACHE_HOME="$H/.cache" "$BACKUPFS" backup -r "$H/backups" --id h1 --files home="$H"
like "$(cat "$T/stderr")" "skipping '$H/backups' inside --files" "it says the repository is skipped"
like "$(cat "$T/stderr")" "skipping '$H/.cache/backupfs' inside --files" "and the catalog's cache directory"
is "$(grep -c "skipping '$H/backups'" "$T/stderr")" "1" "once"
XDG_CACHE_HOME="$H/.cache" bfs ls -r "$H/backups" -R h1 >"$T/ls" 2>&1
ls_out=$(cat "$T/ls")
like "$ls_out" "home/app/data\.txt" "the rest of the tree is there"
unlike "$ls_out" "home/backups" "the repository is not in the backup"
unlike "$ls_out" "\.db" "the catalog is not in the backup"
ok_cmd "with --catalog FILE inside the tree" \
	"$BACKUPFS" backup -r "$H/backups" --catalog "$H/app/cat.db" --id h2 --files home="$H"
bfs ls -r "$H/backups" --catalog "$H/app/cat.db" -R h2 >"$T/ls" 2>&1
unlike "$(cat "$T/ls")" "cat\.db" "the --catalog file (and its -wal) is not in the backup"
like "$(cat "$T/ls")" "home/app/data\.txt" "the file next to it is"

done_testing
