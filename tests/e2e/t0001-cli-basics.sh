#!/bin/bash
# CLI basics: help, usage errors, init, backup of --command/--stdin, list,
# show, ls, cat, the latest alias, duplicate and invalid ids.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo

# ---- help
ok_cmd "backupfs --help exits 0" bfs --help
like "$(cat "$T/stdout" "$T/stderr")" "backup" "overview lists the backup command"
ok_cmd "backupfs --version exits 0" bfs --version
like "$(cat "$T/stdout")" "^backupfs [0-9]" "version output"

# command -> options its help must mention
declare -A HELP_OPTS=(
	[init]="REPO"
	[backup]="--files --exclude --command --stdin --pg-dump --mysql-dump --ignore-table --archive --id --tag"
	[list]="--json"
	[show]="--json"
	[ls]="-l -R"
	[cat]="ID:PATH"
	[restore]="--target --force"
	[catalog]="sync rebuild --catalog"
	[mount]="--foreground --cache-size allow_other"
	[copy]="--from --to"
)
for cmd in init backup list show ls cat restore catalog mount copy; do
	ok_cmd "help $cmd exits 0" bfs help "$cmd"
	h1=$(cat "$T/stdout")
	ok_cmd "$cmd --help exits 0" bfs "$cmd" --help
	h2=$(cat "$T/stdout")
	missing=
	for o in ${HELP_OPTS[$cmd]}; do
		grep -qF -- "$o" <<<"$h1" || missing="$missing $o"
	done
	if [ "$cmd" != init ] && [ "$cmd" != copy ] && [ "$cmd" != mount ]; then
		grep -qF -- "--repo" <<<"$h1" || missing="$missing --repo"
	fi
	is "$missing" "" "help $cmd mentions its options"
	is "$h2" "$h1" "$cmd --help equals help $cmd"
done

# ---- usage errors
fails_with 2 "no command: exit 2" bfs
fails_with 2 "unknown command: exit 2" bfs no-such-command
fails_with 2 "help of an unknown command: exit 2" bfs help no-such-command
ok_cmd "help --help is the overview" bfs help --help
like "$(cat "$T/stdout")" "^usage: backupfs COMMAND" "the overview's usage line"
fails_with 2 "unknown option: exit 2" bfs list -r "$R" --no-such-option
fails_with 2 "--password-file and --password-command together: exit 2" \
	bfs list -r "$R" --password-file /dev/null --password-command true
like "$(cat "$T/stderr")" "give --password-file or --password-command, not both" "  says which"
fails_with 2 "backup without sources: exit 2" bfs backup -r "$R"
fails_with 2 "two unnamed --pg-dump: exit 2" bfs backup -r "$R" \
	--pg-dump 'postgresql://u:s3cret@127.0.0.1/a' --pg-dump 'postgresql://u@127.0.0.1/b'
like "$(cat "$T/stderr")" "source 1 \(--pg-dump\) and source 2 \(--pg-dump\) both land on 'database.sql'.*--pg-dump NAME=" \
	"  names both sources and suggests NAME="
unlike "$(cat "$T/stderr")" "s3cret" "  without echoing the password"
fails_with 2 "restore without --target: exit 2" bfs restore -r "$R" latest
fails_with 2 "cat without argument: exit 2" bfs cat -r "$R"
fails_with 2 "init without repository: exit 2" bfs init
fails_with 2 "list without any repository given: exit 2" bfs list
like "$(cat "$T/stderr")" "repository" "message says a repository is needed"
fails_with 2 "--command without '=': exit 2" bfs backup -r "$R" --command nocmd

# ---- missing repository
fails_with 1 "list of a missing repository: exit 1" bfs list -r "$T/nowhere"
like "$(cat "$T/stderr")" "no backupfs repository" "message: no backupfs repository"
mkdir -p "$T/emptydir"
fails_with 1 "list of an empty directory: exit 1" bfs list -r "$T/emptydir"
like "$(cat "$T/stderr")" "no backupfs repository" "message: no backupfs repository"

# ---- init
ok_cmd "init" bfs init "$R"
ok "$([ -f "$R/config" ]; echo $?)" "init created REPO/config"
fails_with 1 "init twice: exit 1" bfs init "$R"
like "$(cat "$T/stderr")" "a backupfs repository already exists at" "init twice says the repository exists"
ok "$([ -f "$R/config" ]; echo $?)" "config still there"

# ---- init traps: an app's data dir, a foreign config, -q
mkdir -p "$T/appdata/sub" && echo data >"$T/appdata/sub/file"
fails_with 1 "init into a non-empty directory: exit 1" bfs init "$T/appdata"
like "$(cat "$T/stderr")" "is not empty and is not a backupfs repository.*--force" \
	"  says why and how to insist"
ok "$([ ! -e "$T/appdata/config" ]; echo $?)" "  no config dropped there"
ok_cmd "init --force into it" bfs init -q --force "$T/appdata"
ok "$([ -f "$T/appdata/config" ] && [ -f "$T/appdata/sub/file" ]; echo $?)" \
	"  repository created, the files left alone"
mkdir -p "$T/foreign" && printf '[server]\nport = 80\n' >"$T/foreign/config"
fails_with 1 "init where an unrelated config lies: exit 1" bfs init --force "$T/foreign"
like "$(cat "$T/stderr")" "has a file 'config' that is not a backupfs repository's" \
	"  says what it found"
is "$(cat "$T/foreign/config")" "$(printf '[server]\nport = 80')" "  and leaves it alone"
# ---- neither init nor copy turns a file, or someone's directory, into
# a repository (nor changes their modes)
echo notes >"$T/notes.txt"
chmod 644 "$T/notes.txt"
fails_with 1 "init on a regular file: exit 1" bfs init "$T/notes.txt"
like "$(cat "$T/stderr")" "is not a directory" "  says so"
is "$(stat -c %a "$T/notes.txt")" 644 "  and leaves its mode alone"
fails_with 1 "copy to a regular file: exit 1" bfs copy --from "$R" --to "$T/notes.txt"
is "$(stat -c %a "$T/notes.txt")" 644 "  its mode left alone"
mkdir -p "$T/userdir" && echo data >"$T/userdir/file" && chmod 755 "$T/userdir"
fails_with 1 "copy into a non-empty directory: exit 1" bfs copy --from "$R" --to "$T/userdir"
like "$(cat "$T/stderr")" "is not empty and is not a backupfs repository" "  says why"
ok "$([ ! -e "$T/userdir/config" ] && [ "$(stat -c %a "$T/userdir")" = 755 ]; echo $?)" \
	"  no config dropped there, its mode left alone"
bfs init -q "$T/quiet" >"$T/quiet.out" 2>&1
is "$?:$(cat "$T/quiet.out")" "0:" "init -q prints nothing"
ok_cmd "list of an empty repository" bfs list -r "$R"
is "$(bfs_ids -r "$R" | wc -l)" "0" "no backups yet"

# ---- backup: --command and --stdin
seq 1 200000 >"$T/seq.expected"
head -c 3000000 /dev/urandom >"$T/stdin.bin"
ok_cmd "backup --command --stdin" \
	bfs backup -r "$R" --id first --tag daily --tag test \
	--command "cmd/seq.txt=seq 1 200000" --stdin in/stdin.bin <"$T/stdin.bin"
is "$(bfs_ids -r "$R")" "first" "list --json has the backup"
ok "$([ -f "$R/manifests/first" ]; echo $?)" "manifest file REPO/manifests/first"
ok_cmd "manifest is zstd" zstd -t -q "$R/manifests/first"
n=$(find "$R/packs" -type f | grep -cE '/packs/[0-9a-f]{2}/[0-9a-f]{64}$')
ok "$([ "$n" -ge 1 ]; echo $?)" "pack files under packs/xx/<64 hex> ($n)"
bad=$(find "$R/packs" -type f | grep -vcE '/packs/[0-9a-f]{2}/[0-9a-f]{64}$')
is "$bad" "0" "no stray files under packs/ (temporaries removed)"

# ---- list
ok_cmd "list (table)" bfs list -r "$R"
like "$(cat "$T/stdout")" "^first[[:space:]]|[[:space:]]first[[:space:]]|[[:space:]]first$" "table lists the id"
ok_cmd "list --json is valid JSON" bash -c "\"\$BACKUPFS\" list -r '$R' --json | jq -e . >/dev/null"
tags=$(bfs list -r "$R" --json | jq -r '.[0].tags | sort | join(",")')
is "$tags" "daily,test" "list --json has the tags"
export BACKUPFS_REPO=$R
is "$(bfs_ids)" "first" "\$BACKUPFS_REPO is used without -r"
unset BACKUPFS_REPO

# ---- show
ok_cmd "show" bfs show -r "$R" first
like "$(cat "$T/stdout")" "first" "show names the backup"
ok_cmd "show --json" bfs show -r "$R" first --json
is "$(jq -r .id "$T/stdout")" "first" "show --json .id"
fails_with 1 "show of an unknown id: exit 1" bfs show -r "$R" nosuchid

# ---- ls
ok_cmd "ls" bfs ls -r "$R" first
is "$(sed 's:/$::' "$T/stdout" | sort | tr '\n' ' ')" "cmd in " "ls of the root lists cmd and in"
ok_cmd "ls ID:PATH" bfs ls -r "$R" first:cmd
is "$(sed 's:^.*/::' "$T/stdout")" "seq.txt" "ls first:cmd"
ok_cmd "ls -l -R" bfs ls -r "$R" -l -R first
like "$(cat "$T/stdout")" "seq.txt" "ls -l -R shows the nested file"
like "$(cat "$T/stdout")" "$(stat -c %s "$T/seq.expected")" "ls -l shows the file size"
fails_with 1 "ls of a missing path: exit 1" bfs ls -r "$R" first:no/such/path

# ---- cat
ok_cmd "cat the command output" bash -c "\"\$BACKUPFS\" cat -r '$R' first:cmd/seq.txt >'$T/seq.got'"
ok_cmd "cat equals the command output" cmp "$T/seq.expected" "$T/seq.got"
ok_cmd "cat the stdin source" bash -c "\"\$BACKUPFS\" cat -r '$R' first:in/stdin.bin >'$T/stdin.got'"
ok_cmd "cat equals stdin" cmp "$T/stdin.bin" "$T/stdin.got"
fails_with 1 "cat of a missing file: exit 1" bfs cat -r "$R" first:cmd/nope
fails_with 1 "cat of a directory: exit 1" bfs cat -r "$R" first:cmd

# ---- latest, default id
sleep 1
ok_cmd "second backup with a default id" \
	bfs backup -r "$R" --command "cmd/seq.txt=seq 5 10"
second=$(bfs_ids -r "$R" | grep -v '^first$')
like "$second" '^[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}$' "default id is UTC YYYY-MM-DD_HH-MM-SS"
now=$(date -u +%s)
then=$(date -u -d "$(echo "$second" | sed -E 's/_/ /; s/([0-9]{2})-([0-9]{2})-([0-9]{2})$/\1:\2:\3/')" +%s 2>/dev/null || echo 0)
ok "$([ $((now - then)) -ge 0 ] && [ $((now - then)) -lt 300 ]; echo $?)" "default id is the current UTC time"
is "$(bfs cat -r "$R" latest:cmd/seq.txt)" "$(seq 5 10)" "latest is the newest backup"
ok_cmd "show latest" bfs show -r "$R" latest --json
is "$(jq -r .id "$T/stdout")" "$second" "show latest resolves to the newest id"

# ---- duplicate and invalid ids
fails_with 1 "duplicate --id: exit 1" \
	bfs backup -r "$R" --id first --command "cmd/seq.txt=echo overwritten"
like "$(cat "$T/stderr")" "first" "error names the id"
ok_cmd "first backup intact after the duplicate attempt" \
	bash -c "\"\$BACKUPFS\" cat -r '$R' first:cmd/seq.txt | cmp - '$T/seq.expected'"
is "$(bfs_ids -r "$R" | sort | tr '\n' ' ')" "$(printf '%s\n' first "$second" | sort | tr '\n' ' ')" "still two backups"
for bad in "a/b" "a b" "../x" "" "x:y" "ä"; do
	fails_with 2 "invalid --id '$bad': exit 2" \
		bfs backup -r "$R" --id "$bad" --command "x=true"
done
is "$(bfs_ids -r "$R" | wc -l)" "2" "no backup was added by invalid ids"
ok_cmd "valid --id with . _ -" bfs backup -r "$R" --id "A.b_c-9" --command "x=true"

done_testing
