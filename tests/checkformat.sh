#!/bin/sh
# checkformat: the C sources follow .clang-format (clang-format
# --dry-run --Werror).  TAP output.  `make format` fixes them in place.
# Environment: CLANG_FORMAT (default clang-format).
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
	echo "1..0 # SKIP clang-format not installed: apt-get install clang-format"
	exit 0
fi
echo "1..1"
files=$(find src fuse catalog tests/unit tests/fuzz -name '*.[ch]' |
	LC_ALL=C sort)
# shellcheck disable=SC2086
out=$("$cf" --dry-run --Werror --style=file $files 2>&1)
if [ -z "$out" ]; then
	echo "ok 1 - C sources follow .clang-format"
	exit 0
fi
echo "not ok 1 - C sources differ from .clang-format: run make format"
printf '%s\n' "$out" | grep -E '^[^ ].*: error:' | cut -d: -f1 | sort |
	uniq -c | sed 's/^/# /'
exit 1
