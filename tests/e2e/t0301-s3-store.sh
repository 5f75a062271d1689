#!/bin/bash
# The S3 store on its own (tests/unit/test-s3 with BFS_TEST_S3=1): put,
# ranged get (incl. s3rver's bytes=0-0 quirk), stat, paged list, del,
# awkward keys (space, +, UTF-8, reserved characters), 8 concurrent
# readers; every request signature-checked by the proxy; then again with
# 503s, 500s, resets and truncated bodies injected.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"

unit=$top_builddir/tests/unit/test-s3
[ -x "$unit" ] || skip_all "tests/unit/test-s3 is not built"
start_s3

run_unit() {
	BFS_TEST_S3=1 BFS_TEST_S3_BUCKET=$1 BACKUPFS_S3_RETRY_SECONDS=60 "$unit" >"$T/unit.out" 2>"$T/unit.err"
	local rc=$?
	grep -E '^not ok' "$T/unit.out" | head -20 | sed 's/^/# /'
	return $rc
}

run_unit store-plain
ok $? "store operations against S3 through the signature check"
like "$(tail -1 "$T/unit.out")" "^1\\.\\.[0-9]+" "the unit test ran to the end"
is "$(s3_fault_stats | jq .rejected)" "0" "no request failed the signature check"
s3_faults 503:every=7 reset:every=11 truncate:every=5:method=GET 500:every=13
BFS_TEST_S3_NO_PAGING=1 run_unit store-faults
ok $? "store operations with faults injected"
diag "$(s3_fault_stats)"
is "$(s3_fault_stats | jq '.faults | map(select(.fired == 0)) | length')" "0" "every kind of fault fired"
s3_faults
done_testing
