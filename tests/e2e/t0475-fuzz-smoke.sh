#!/bin/bash
# The fuzz targets, briefly, under libFuzzer (issue 13 item 13): each one
# is built by scripts/fuzz and run on its seed corpus for a few seconds;
# a crash, a sanitizer report, a leak or a timeout fails the test and
# leaves the input in the scratch directory (BFS_KEEP=1 keeps it).
# Every corpus is also replayed, without libFuzzer, by the unit tests
# tests/unit/test-fuzz-* in every build.  CI mode runs two targets that
# build from a few sources (s3xml, pack: ~20 s of CPU with the builds;
# the others compile much more, the whole tree for the big ones); the
# local mode runs every target (BFS_FUZZ_SECS each, default 10).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
command -v "${CLANG:-clang}" >/dev/null 2>&1 ||
	skip_missing clang "apt-get install clang"
# libFuzzer's runtime comes with clang; without it nothing links
echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' \
	>"$T/probe.c"
"${CLANG:-clang}" -fsanitize=fuzzer -o "$T/probe" "$T/probe.c" \
	>/dev/null 2>&1 ||
	skip_missing "libFuzzer (clang -fsanitize=fuzzer)" "apt-get install clang"

if [ "${CI:-}" = true ]; then
	secs=3
	targets="s3xml pack"
else
	secs=${BFS_FUZZ_SECS:-10}
	targets="manifest pack tree retention exclude s3xml config chunk ingest archive job"
fi
for t in $targets; do
	FUZZ_DIR=$T/fuzz nice -n 10 "$top_srcdir/scripts/fuzz" -t "$secs" "$t" \
		>"$T/fuzz-$t.log" 2>&1
	rc=$?
	ok $rc "fuzz target '$t' runs $secs s on its corpus without a finding"
	if [ $rc -ne 0 ]; then
		diag "$(tail -n 30 "$T/fuzz-$t.log")"
	else
		runs=$(sed -n 's/.*number_of_executed_units: *//p' "$T/fuzz-$t.log")
		ok "$([ "${runs:-0}" -gt 0 ]; echo $?)" \
			"fuzz target '$t' executed inputs (${runs:-none})"
	fi
done

done_testing
