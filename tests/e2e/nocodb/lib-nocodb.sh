# tests/e2e/nocodb/lib-nocodb.sh: a real NocoDB for e2e tests (sourced
# after lib.sh).  The npm install is cached in $BFS_NOCODB_CACHE (default
# /var/cache/backupfs-tests/nocodb), outside the build tree.
#
#   nocodb_require          install on first use, or skip the test with
#                           a clear message where npm cannot be reached
#   nocodb_start NAME PORT  start NocoDB on 127.0.0.1:PORT with its data
#                           in $T/NAME (SQLite metadata, or $NC_DB when
#                           set for the call); stopped at exit.  Returns at once: wait
#                           with nocodb_wait.
#   nocodb_wait NAME URL    wait until its API answers (401 without a
#                           token), else bail out with its log

NC=$top_srcdir/tests/e2e/nocodb
NC_CACHE=${BFS_NOCODB_CACHE:-/var/cache/backupfs-tests/nocodb}

nocodb_require() {
	require_cmd node nodejs
	"$top_srcdir/tests/e2e/nocodb-install.sh" "$NC_CACHE" 2>"$T/install.err"
	case $? in
	0) ;;
	77) skip_all "NocoDB not installed: $(cat "$T/install.err") (the test installs nocodb@0.301.3 from npm into $NC_CACHE)" ;;
	*) bail_out "NocoDB install into $NC_CACHE failed: $(tail -n 5 "$T/install.err")" ;;
	esac
}

nocodb_start() {
	local name=$1 port=$2 pid
	mkdir -p "$T/$name"
	(cd "$T/$name" && NODE_PATH=$NC_CACHE/node_modules \
		NC_TOOL_DIR=$T/$name/ NC_AUTH_JWT_SECRET=bfs-test-$RANDOM$RANDOM \
		NC_DISABLE_TELE=true exec node "$NC/start.js" "$port" \
		>"$T/$name.log" 2>&1) &
	pid=$!
	at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
}

nocodb_wait() {
	local name=$1 url=$2
	_nc_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/api/v2/meta/bases")" = 401 ]; }
	wait_until 300 _nc_up "$url" ||
		{ diag "$(tail -n 30 "$T/$name.log")"; bail_out "NocoDB $name did not start"; }
}
