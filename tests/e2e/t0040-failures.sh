#!/bin/bash
# Failures: a failing dump command, unreadable files (exit 3, partial),
# a missing repository, a corrupt pack, a truncated manifest, a backup
# killed mid-way.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
ok_cmd "init" bfs init "$R"
ok_cmd "a first good backup" bfs backup -r "$R" --id good --command "a.txt=seq 1 1000"

manifests() {
	ls -A "$1/manifests" | sort | tr '\n' ' '
}

# ---- a dump command that fails
fails_with 1 "--command exiting 1: exit 1" \
	bfs backup -r "$R" --id f1 --command "x=false"
like "$(cat "$T/stderr")" "exit|status|fail" "the error says the command failed"
fails_with 1 "--command failing after 3 MB of output: exit 1" \
	bfs backup -r "$R" --id f2 --command "x=sh -c 'head -c 3000000 /dev/urandom; exit 7'"
fails_with 1 "a failing command among good sources: exit 1" \
	bfs backup -r "$R" --id f3 --command "ok=seq 1 10" --command "bad=sh -c 'exit 3'"
fails_with 1 "a command that cannot be run: exit 1" \
	bfs backup -r "$R" --id f4 --command "x=/no/such/program"
is "$(bfs_ids -r "$R")" "good" "no new backup in list"
is "$(manifests "$R")" "good " "no manifest file (nor temporary) for the failed backups"

fails_with 1 "--files of a missing directory: exit 1" \
	bfs backup -r "$R" --id f5 --files "$T/no/such/dir"
is "$(manifests "$R")" "good " "no manifest for the missing directory"

# ---- missing repository
fails_with 1 "backup into a missing repository: exit 1" \
	bfs backup -r "$T/nowhere" --command "x=true"
like "$(cat "$T/stderr")" "no backupfs repository" "message: no backupfs repository"
ok "$([ ! -e "$T/nowhere" ]; echo $?)" "the missing repository was not created"
fails_with 1 "cat from a missing repository: exit 1" bfs cat -r "$T/nowhere" latest:x

# ---- unreadable files: exit 3, listed on stderr and in show
U=$T/unreadable
mkdir -p "$U/src/sub" "$U/src/locked"
echo readable >"$U/src/ok.txt"
echo "also readable" >"$U/src/sub/ok2.txt"
echo secret >"$U/src/secret.txt"
echo hidden >"$U/src/locked/inner.txt"
if [ "$(id -u)" -eq 0 ]; then
	# root reads everything: run the backup as nobody
	chown -R 65534:65534 "$U"
	chown 0:0 "$U/src/secret.txt" "$U/src/locked"
	chmod 0600 "$U/src/secret.txt"
	chmod 0700 "$U/src/locked"
	# a copy of the binary that nobody can run whatever the checkout's
	# permissions
	mkdir -p "$U/bin" && cp "$BACKUPFS" "$U/bin/backupfs" && chmod 755 "$U/bin/backupfs"
	chown -R 65534:65534 "$U/bin"
	UB=$U/bin/backupfs
	as_user() {
		setpriv --reuid=65534 --regid=65534 --clear-groups \
			env XDG_CACHE_HOME="$U/cache" HOME="$U" "$@"
	}
else
	chmod 0000 "$U/src/secret.txt" "$U/src/locked"
	at_exit chmod -R u+rwx "$U"
	UB=$BACKUPFS
	as_user() {
		env XDG_CACHE_HOME="$U/cache" "$@"
	}
fi
ok_cmd "init a repository (as the backup user)" as_user "$UB" init "$U/repo"
fails_with 3 "backup with unreadable files: exit 3" \
	as_user "$UB" backup -r "$U/repo" --id partial --files "$U/src"
err=$(cat "$T/stderr")
like "$err" "secret\\.txt" "stderr lists the unreadable file"
like "$err" "locked" "stderr lists the unreadable directory"
is "$(grep -c 'secret\.txt' "$T/stderr")" "1" "stderr lists the unreadable file once"
like "$err" "2 entries were unreadable" "the count, in words that agree with it"
is "$(as_user "$UB" list -r "$U/repo" --json | jq -r '.[].id')" "partial" "the partial backup was written"
fails_with 3 "backup -v: the unreadable file as it is met, too" \
	as_user "$UB" backup -v -r "$U/repo" --id partial-v --files "$U/src"
like "$(cat "$T/stderr")" "cannot read '[^']*secret\.txt'" "-v shows it when met"
ok_cmd "show the partial backup" as_user "$UB" show -r "$U/repo" partial
like "$(cat "$T/stdout")" "secret\\.txt" "show lists the unreadable file"
like "$(cat "$T/stdout")" "partial|unreadable|error" "show says the backup is partial"
ok_cmd "show --json of the partial backup" as_user "$UB" show -r "$U/repo" partial --json
like "$(cat "$T/stdout")" "secret\\.txt" "show --json lists the unreadable file"
is "$(as_user "$UB" cat -r "$U/repo" partial:files/ok.txt)" "readable" "readable files are in the backup"
is "$(as_user "$UB" cat -r "$U/repo" partial:files/sub/ok2.txt)" "also readable" "readable files in subdirs too"

# ---- corrupt pack
head -c 2000000 /dev/urandom >"$T/a.bin"
head -c 2000000 /dev/urandom >"$T/b.bin"
pack_files "$R" >"$T/packs.0"
ok_cmd "backup A" bfs backup -r "$R" --id A --stdin a.bin <"$T/a.bin"
pack_files "$R" >"$T/packs.1"
ok_cmd "backup B" bfs backup -r "$R" --id B --stdin b.bin <"$T/b.bin"
packA=$(comm -13 "$T/packs.0" "$T/packs.1" | head -n 1)
ok "$([ -n "$packA" ]; echo $?)" "backup A wrote a pack"
if [ -n "$packA" ]; then
	# flip one byte inside the first chunk (a 2 MB random file: its
	# frames are large)
	"$BFS_PYTHON" -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(5000)
    b = f.read(1)
    f.seek(5000)
    f.write(bytes([b[0] ^ 0xFF]))' "$packA"
	ok $? "flipped a byte in $(basename "$packA")"
	fails_with 1 "cat of a file in the corrupt pack: exit 1" bfs cat -r "$R" A:a.bin
	like "$(cat "$T/stderr")" "$(basename "$packA" | cut -c1-16)" "the error names the pack"
	ok "$([ "$(wc -c <"$T/stdout")" -lt 2000000 ]; echo $?)" "no complete (wrong) output"
	ok_cmd "other files still fine" bash -c "\"\$BACKUPFS\" cat -r '$R' B:b.bin | cmp - '$T/b.bin'"
	fails_with 1 "restore of the corrupt file: exit 1" bfs restore -r "$R" A --target "$T/rA"
fi

# ---- truncated manifest
cp "$R/manifests/B" "$T/B.manifest"
size=$(stat -c %s "$T/B.manifest")
head -c $((size / 2)) "$T/B.manifest" >"$R/manifests/broken"
bfs catalog sync -r "$R" >"$T/stdout" 2>"$T/stderr"
diag "catalog sync with a truncated manifest: exit $?"
like "$(cat "$T/stderr" "$T/stdout")" "broken" "catalog sync names the truncated manifest"
ok_cmd "list still works" bfs list -r "$R"
like "$(cat "$T/stdout")" "good" "the other backups are listed"
ok_cmd "other backups still readable" bash -c "\"\$BACKUPFS\" cat -r '$R' B:b.bin | cmp - '$T/b.bin'"
ok_cmd "a new backup works next to a broken manifest" bfs backup -r "$R" --id after --command "x=echo after"
is "$(bfs cat -r "$R" after:x)" "after" "and reads back"
head -c 3000 /dev/urandom >"$R/manifests/garbage"
ok_cmd "list with a garbage manifest" bfs list -r "$R"
rm -f "$R/manifests/broken" "$R/manifests/garbage"
ok_cmd "catalog sync after removing them" bfs catalog sync -r "$R"

# a manifest truncated in place (e.g. a non-atomic upload cut short), read
# into a fresh catalog
ok_cmd "backup C (many entries)" bfs backup -r "$R" --id C --files "$T/unreadable/src" \
	--command "seq.txt=seq 1 100000"
size=$(stat -c %s "$R/manifests/C")
truncate -s $((size * 2 / 3)) "$R/manifests/C"
fails_with 1 "catalog sync into a fresh catalog: exit 1 for the truncated manifest" \
	bfs catalog sync -r "$R" --catalog "$T/fresh.db"
like "$(cat "$T/stderr")" "manifests/C|'C'" "it names the truncated manifest"
ok_cmd "list with the fresh catalog" bfs list -r "$R" --catalog "$T/fresh.db"
like "$(cat "$T/stdout")" "after" "the other backups are in it"
ok_cmd "other backups readable with the fresh catalog" bash -c \
	"\"\$BACKUPFS\" cat -r '$R' --catalog '$T/fresh.db' B:b.bin | cmp - '$T/b.bin'"
fails_with 1 "cat from the truncated backup: exit 1" \
	bfs cat -r "$R" --catalog "$T/fresh.db" C:seq.txt
rm -f "$R/manifests/C"

# ---- a backup killed mid-way
K=$T/killrepo
ok_cmd "init (kill test)" bfs init "$K"
ok_cmd "a base backup" bfs backup -r "$K" --id base --command "x=seq 1 100"
setsid "$BACKUPFS" backup -r "$K" --id killed \
	--command "big=sh -c 'head -c 60000000 /dev/urandom; sleep 60'" \
	>"$T/kill.out" 2>&1 &
kpid=$!
at_exit "kill -9 -- -$kpid"
for i in $(seq 200); do
	n=$(find "$K/packs" -type f 2>/dev/null | wc -l)
	[ "$n" -ge 2 ] && break
	sleep 0.1
done
sleep 0.5
kill -9 "$kpid"
wait "$kpid" 2>/dev/null
kill -9 -- -"$kpid" 2>/dev/null
ok "$([ ! -e "$K/manifests/killed" ]; echo $?)" "no manifest for the killed backup"
is "$(manifests "$K")" "base " "nothing but the base manifest"
ok_cmd "list after the kill" bfs list -r "$K"
is "$(bfs_ids -r "$K")" "base" "only the base backup is listed"
is "$(bfs cat -r "$K" base:x | tail -n 1)" "100" "the base backup is readable"
ok_cmd "the next backup works (same id)" bfs backup -r "$K" --id killed --command "x=seq 1 5"
is "$(bfs cat -r "$K" killed:x | tail -n 1)" "5" "and reads back"
ok_cmd "catalog rebuild after the kill" bfs catalog rebuild -r "$K"

# ---- a misspelt connection keyword: refused before anything runs, the
# key named, its value (maybe a password) never shown
fails_with 2 "--pg-dump with 'pasword=': usage error" \
	bfs backup -r "$R" --pg-dump "host=127.0.0.1 pasword=Sekr1tValue dbname=x"
like "$(cat "$T/stderr")" "unknown connection option 'pasword' \\(did you mean 'password'\\?\\)" \
	"the message names the key and the keyword it resembles"
unlike "$(cat "$T/stderr")" "Sekr1tValue" "the value is not shown"
fails_with 2 "--mysql-dump with '?pasword=': usage error" \
	bfs backup -r "$R" --mysql-dump "mysql://u@127.0.0.1/db?pasword=Sekr1tValue"
unlike "$(cat "$T/stderr")" "Sekr1tValue" "the value is not shown"

done_testing
