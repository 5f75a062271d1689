#!/bin/bash
# tests/e2e/nocodb-install.sh DIR: install NocoDB 0.301.3 from npm into
# DIR (a cache outside the build tree; ~1.5 GB, 3-4 minutes) unless
# DIR/.installed says it is there.  A plain `npm install nocodb` fails:
# one dependency (xlsx) is fetched from outside the registry and
# nocodb-sdk's preinstall insists on pnpm; so xlsx is overridden, scripts
# are skipped and the two native modules rebuilt.
# Exit 0 installed, 1 install failed, 77 npm missing or the registry not
# reachable (the caller skips).
set -u
dir=$1
[ -f "$dir/.installed" ] && exit 0
command -v npm >/dev/null 2>&1 || { echo "npm not installed" >&2; exit 77; }
if ! timeout 20 npm view nocodb@0.301.3 version >/dev/null 2>&1; then
	echo "the npm registry cannot be reached" >&2
	exit 77
fi
mkdir -p "$dir" || exit 1
cat >"$dir/package.json" <<'JSON'
{"name": "bfs-nocodb-test", "version": "1.0.0", "private": true,
 "dependencies": {"nocodb": "0.301.3", "express": "4.22.3"},
 "overrides": {"xlsx": "0.18.5"}}
JSON
cd "$dir" || exit 1
if nice npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
	>install.log 2>&1 &&
	nice npm rebuild sqlite3 lz4 >>install.log 2>&1; then
	touch .installed
	exit 0
fi
tail -n 20 install.log >&2
exit 1
