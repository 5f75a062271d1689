#!/bin/sh
# checktests: tests/tests.am (the list of tests) matches the test files
# present.  TAP output.
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
echo "1..1"
if ! sh "$top/tests/gen-tests-am.sh" -o "$tmp"; then
	echo "not ok 1 - cannot run tests/gen-tests-am.sh"
	exit 1
fi
if cmp -s "$tmp" "$top/tests/tests.am"; then
	echo "ok 1 - tests/tests.am lists every test"
	exit 0
fi
echo "not ok 1 - tests/tests.am is stale: run tests/gen-tests-am.sh"
diff -u "$top/tests/tests.am" "$tmp" | sed 's/^/# /'
exit 1
