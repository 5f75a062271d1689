#!/bin/bash
# What backup says while it runs and what show says after: on a terminal
# the running source with its size, rate (MiB/s) and, for --files, a total
# from a pre-scan that honours excludes; -v a line per source at its start
# and end, -vv a line per file; show gives each source's size and time in
# aligned columns, show --json the same figures.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
S=$T/src
mkdir -p "$S/keep" "$S/skip"
for i in $(seq 1 40); do head -c 200000 /dev/urandom >"$S/keep/f$i"; done
for i in $(seq 1 40); do head -c 200000 /dev/urandom >"$S/skip/f$i"; done
ok_cmd "init" bfs init "$R"

# ---- -v and -vv
ok_cmd "backup -v" bfs backup -v -r "$R" --id b1 --files data="$S" --exclude skip \
	--command a-much-longer-destination/out.txt='seq 1 50000'
err=$(cat "$T/stderr")
like "$err" "\\[1/2\\] --files 'data=[^']*' -> data" "-v: the first source starts"
like "$err" "\\[1/2\\] data: 7\\.[0-9] MiB in [0-9.]+ s" "-v: it ends with its size (40 x 200 kB, not the excluded 40)"
like "$err" "\\[2/2\\] a-much-longer-destination/out\\.txt: 28[0-9]\\.[0-9] KiB in" "-v: the second one too"
unlike "$err" "reading '" "-v does not list files"
ok_cmd "backup -vv" bfs backup -vv -r "$R" --id b2 --files data="$S" --exclude skip
like "$(cat "$T/stderr")" "unchanged 'data/keep/f1'|unchanged directory 'data/keep'" \
	"-vv: each file or reused directory"
echo changed >"$S/keep/f1"
ok_cmd "backup -vv after a change" bfs backup -vv -r "$R" --id b3 --files data="$S" --exclude skip
like "$(cat "$T/stderr")" "reading 'data/keep/f1'" "-vv: a file that is read is named"

# ---- show: per-source size and time, aligned
ok_cmd "show b1" bfs show -r "$R" b1
out=$(cat "$T/stdout")
line1=$(grep -E '^  files ' "$T/stdout")
line2=$(grep -E '^  command ' "$T/stdout")
like "$line1" "data +7\\.[0-9] MiB +[0-9.]+ s  .*src$" "show: the files source with its size and time"
like "$line2" "a-much-longer-destination/out\\.txt +28[0-9]\\.[0-9] KiB +[0-9.]+ s  seq 1 50000$" \
	"show: the command source too"
is "$(awk '{ print index($0, " s  ") }' <<<"$line1")" "$(awk '{ print index($0, " s  ") }' <<<"$line2")" \
	"show: the columns line up whatever the length of DEST"
ok_cmd "show --json b1" bfs show -r "$R" b1 --json
is "$(jq -c '[.sources[] | [.files, (.bytes > 0), (.duration_ns >= 0)]]' "$T/stdout")" \
	"[[40,true,true],[1,true,true]]" "show --json: files, bytes and duration_ns per source"

# ---- list --json: an RFC 3339 time next to the exact time_ns (jq 1.6
# rounds big numbers)
ok_cmd "list --json" bfs list -r "$R" --json
like "$(jq -r '.[0].time' "$T/stdout")" "^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$" \
	"list --json: time is RFC 3339"
is "$(jq -r '.[0].time_ns | type' "$T/stdout")" "number" "and time_ns is still there"

# ---- a terminal: the progress line (script(1) gives the backup a tty)
if command -v script >/dev/null; then
	for i in $(seq 41 400); do head -c 100000 /dev/urandom >"$S/keep/g$i"; done
	script -qfec "'$BACKUPFS' backup -r '$R' --id b4 --files data='$S' --exclude skip" \
		"$T/typescript" >/dev/null 2>&1
	tr '\r' '\n' <"$T/typescript" >"$T/tty"
	like "$(cat "$T/tty")" "\\[1/1\\] data: [0-9.]+ (KiB|MiB)" "the running source, with its size"
	like "$(cat "$T/tty")" " of 4[0-9]\\.[0-9] MiB" "a total from the pre-scan (excluded files left out)"
	like "$(cat "$T/tty")" "backup b4: " "the summary line follows"
	# a rate shows once a source has run for half a second: a command
	# that pauses takes that long on any machine (b4 can take less)
	script -qfec "'$BACKUPFS' backup -r '$R' --id b5 --command 'slow.bin=head -c 2000000 /dev/urandom; sleep 1.2; head -c 2000000 /dev/urandom'" \
		"$T/typescript2" >/dev/null 2>&1
	tr '\r' '\n' <"$T/typescript2" >"$T/tty2"
	like "$(cat "$T/tty2")" "\\[1/1\\] slow\\.bin: [0-9.]+ (B|KiB|MiB), [0-9.]+ MiB/s" \
		"rates in MiB/s"
	unlike "$(cat "$T/tty" "$T/tty2")" " MB/s" "no decimal MB/s"
else
	diag "no script(1): the terminal progress is not checked"
fi

done_testing
