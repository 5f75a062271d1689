#!/bin/bash
# Terminal injection (issue 13 item 10): names, symlink targets, tags, the
# host and the source strings of a backup carry ESC[2J, OSC, CR, LF, a lone
# 0x9b (8-bit CSI), U+009B, a bidi override and invalid UTF-8; the host and
# the sources are put into the manifest by hand, as a hostile repository
# would.  No command (ls, list, show, check, forget, restore, cat, copy,
# backup --json; with and without --json) may write a raw control byte,
# C1 control, bidi override or invalid UTF-8 to stdout or stderr; the
# human outputs show the escapes ls -b would.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd zstd zstd

R=$T/repo
S=$T/src

# clean FILE...: fails (and shows the bytes) if any file holds a byte a
# terminal could act on: C0 but \n and \t, DEL, C1 (raw or as UTF-8),
# U+202A..U+202E, U+2066..U+2069, or invalid UTF-8
clean() {
	"$BFS_PYTHON" - "$@" <<'EOF'
import re, sys
bad = re.compile('[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]')
rc = 0
for f in sys.argv[1:]:
    data = open(f, 'rb').read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        print('%s: invalid UTF-8 at %d: %r' % (f, e.start,
              data[max(0, e.start - 20):e.start + 20]))
        rc = 1
        continue
    m = bad.search(text)
    if m:
        print('%s: raw %r in %r' % (f, m.group(),
              text[max(0, m.start() - 30):m.start() + 30]))
        rc = 1
sys.exit(rc)
EOF
}
# run DESC CMD...: the command's stdout and stderr hold no raw byte
run() {
	local desc=$1 out
	shift
	"$@" >"$T/stdout" 2>"$T/stderr"
	if out=$(clean "$T/stdout" "$T/stderr"); then
		ok 0 "$desc: clean output"
	else
		ok 1 "$desc: clean output"
		diag "command: $*"
		diag "$out"
	fi
}

EVIL=$'d\e[2J\r\n\x9bx\xff'
mkdir -p "$S/$EVIL"
for n in $'esc\e[31mred' $'cr\rover' $'lf\nline' $'csi\x9b31m' \
	$'bad\xff\xfe' $'c1\xc2\x9b0m' $'bidi\xe2\x80\xaetxt.exe' \
	$'osc\e]0;title\a' $'del\x7f' 'caf'$'\xc3\xa9'; do
	echo "$n" >"$S/$EVIL/$n"
done
ln -s $'/tmp/\e[2Jtarget' "$S/$EVIL/link"

ok_cmd "init" bfs init "$R"
ok_cmd "backup with hostile names and tags" bfs backup -r "$R" --id b1 \
	--tag $'t\e]0;pwn\a' --tag $'u\x9b1m' --files "src=$S"
ok_cmd "second backup" bfs backup -r "$R" --id b2 --tag plain --files "src=$S"

# the host and a source string, as a hostile writer would put them
"$BFS_PYTHON" - "$R/manifests/b1" <<'EOF'
import json, subprocess, sys
path = sys.argv[1]
lines = subprocess.run(['zstd', '-qdc', path], check=True,
                       capture_output=True).stdout.decode().splitlines()
h = json.loads(lines[0])
h['host'] = 'h\x1b[2J\r\x9b\u202eost'
h['sources'][0]['spec'] = 'spec\x1b]52;c;cHdu\x07\n'
h['sources'][0]['kind'] = 'files\x1b[1m'
lines[0] = json.dumps(h, separators=(',', ':'), ensure_ascii=False)
data = ('\n'.join(lines) + '\n').encode()
subprocess.run(['zstd', '-qf', '-o', path + '.new'], input=data, check=True)
EOF
mv "$R/manifests/b1.new" "$R/manifests/b1"
rm -rf "$XDG_CACHE_HOME/backupfs"

# the checker itself: it must see the raw bytes in the manifest
zstd -qdc "$R/manifests/b1" >"$T/raw"
if clean "$T/raw" >/dev/null; then
	ok 1 "the checker finds the raw ESC in the manifest"
else
	ok 0 "the checker finds the raw ESC in the manifest"
fi

run "list" bfs list -r "$R"
like "$(cat "$T/stdout")" 't\\e\]0;pwn\\a,u' "list shows the tags escaped"
run "list --json" bfs list -r "$R" --json
run "show" bfs show -r "$R" b1
like "$(cat "$T/stdout")" 'host +h\\e\[2J\\r\\x9b|host +h\\e\[2J\\r\\u009b' \
	"show shows the host escaped"
like "$(cat "$T/stdout")" 'spec\\e\]52;c;cHdu\\a\\n' "show shows the source spec escaped"
run "show --json" bfs show -r "$R" --json b1
like "$(cat "$T/stdout")" '\\u001b\[2J' "show --json keeps JSON escapes"
run "ls -l -R" bfs ls -r "$R" -l -R b1
like "$(cat "$T/stdout")" 'esc\\e\[31mred' "ls shows ESC as \\e"
like "$(cat "$T/stdout")" 'csi\\x9b31m' "ls shows a lone 0x9b as \\x9b"
like "$(cat "$T/stdout")" 'c1\\u009b0m' "ls shows U+009B as \\u009b"
like "$(cat "$T/stdout")" 'bidi\\u202etxt' "ls shows a bidi override as \\u202e"
like "$(cat "$T/stdout")" 'bad\\xff\\xfe' "ls shows invalid UTF-8 as \\xHH"
like "$(cat "$T/stdout")" $'caf\xc3\xa9' "ls keeps valid UTF-8"
like "$(cat "$T/stdout")" '-> /tmp/\\e\[2Jtarget' "ls -l escapes a symlink target"
run "ls of the hostile directory" bfs ls -r "$R" "b1:src/$EVIL"
run "ls of a missing hostile path" bfs ls -r "$R" $'b1:src/no\e[2Jpe'
like "$(cat "$T/stderr")" 'no\\e\[2Jpe' "the error names the path escaped"
run "cat of a missing hostile path" bfs cat -r "$R" $'b1:src/\e]0;x\a'
run "cat of a directory" bfs cat -r "$R" "b1:src/$EVIL"
run "check" bfs check -r "$R"
run "check --json" bfs check -r "$R" --json
run "forget --dry-run by host" bfs forget -r "$R" --dry-run --keep-last 1 \
	--group-by host,tags
run "forget --dry-run --json" bfs forget -r "$R" --dry-run --keep-last 1 \
	--group-by host --json
run "restore" bfs restore -r "$R" b1 --target "$T/out"
n=$'esc\e[31mred'
cmp -s "$T/out/src/$EVIL/$n" "$S/$EVIL/$n"
ok $? "restore writes the names as they are"
mkdir -p "$T/out2/src"
ln -s /nonexistent "$T/out2/src/$EVIL"
run "restore under a symlinked hostile parent" bfs restore -r "$R" \
	"b1:src/$EVIL" --target "$T/out2"
ok_cmd "init a second repository" bfs init "$T/repo2"
run "copy" bfs copy --from "$R" --to "$T/repo2" b1
run "list of the copy" bfs list -r "$T/repo2" \
	--catalog "$T/cat2.db"
run "backup --json of the hostile names" bfs backup -r "$R" --id b3 --json \
	--tag $'j\e[5m' --files "src=$S"
like "$(cat "$T/stdout")" '"id":[[:space:]]*"b3"' "backup --json still prints its summary"

# a backup id, a catalog error and a corrupt manifest name the hostile
# texts too: a manifest whose host is not a string is refused
"$BFS_PYTHON" - "$R/manifests/b2" <<'EOF'
import json, subprocess, sys
path = sys.argv[1]
lines = subprocess.run(['zstd', '-qdc', path], check=True,
                       capture_output=True).stdout.decode().splitlines()
h = json.loads(lines[0])
h['host'] = ['\x1b[2J']
h['tags'] = ['x\x1b[5m\x9b']
lines[0] = json.dumps(h, separators=(',', ':'), ensure_ascii=False)
data = ('\n'.join(lines) + '\n').encode()
subprocess.run(['zstd', '-qf', '-o', path], input=data, check=True)
EOF
rm -rf "$XDG_CACHE_HOME/backupfs"
run "list with a corrupt manifest" bfs list -r "$R"
run "show of a corrupt manifest" bfs show -r "$R" b2

done_testing
