#!/bin/bash
# The README's first command, scripts/quickstart (without apt-get and make
# install: the tests run on the build), then every command it prints as a
# next step, pasted as printed: each must succeed.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-mount.sh"
require_root_fuse
[ -x "$top_srcdir/build/backupfs" ] ||
	skip_all "scripts/quickstart uses the checkout's build/backupfs, which is not built"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || skip_all "PostgreSQL is not installed"

D=$T/demo
at_exit unmount "'$D/mnt'"
BFS_DEMO=$D XDG_CACHE_HOME=$T/cache bash "$top_srcdir/scripts/quickstart" --no-install \
	>"$T/qs.out" 2>&1
rc=$?
is "$rc" "0" "scripts/quickstart --no-install succeeds"
[ $rc -eq 0 ] || diag "$(tail -n 30 "$T/qs.out")"
like "$(cat "$T/qs.out")" "payments \\(count\\|sum\\): pagila ([0-9.|]+), restored \\1" \
	"its restored database equals the source"

# the next steps, as printed (indented lines after the heading)
sed -n '/next steps/,$p' "$T/qs.out" | sed -n 's/^  //p' >"$T/steps"
ok "$([ "$(grep -c . "$T/steps")" -ge 8 ]; echo $?)" "it prints the next steps"
cd "$T" || exit 1
export XDG_CACHE_HOME=$T/cache
# a step's "$(mktemp -d)" lands in the test's scratch, not in /tmp
export TMPDIR=$T
while IFS= read -r line; do
	[ -n "$line" ] || continue
	eval "$line" >"$T/step.out" 2>&1
	rc=$?
	ok "$rc" "pasted: ${line%%#*}"
	[ $rc -eq 0 ] || diag "$(tail -n 10 "$T/step.out")"
done <"$T/steps"
ok "$(! grep -qF " $D/mnt " /proc/self/mountinfo; echo $?)" "the last step unmounted the demo"

done_testing
