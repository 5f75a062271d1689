# lib-s3.sh - S3 for end-to-end tests: source after lib.sh.
#
#   start_s3 [PROXY ARGS...]   start s3rver behind scripts/s3proxy.py (the
#       signature-checking, fault-injecting proxy) with data under $T/s3;
#       exports AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
#       AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:PROXYPORT
#       and S3_ENDPOINT (the same URL); stops both servers at exit.  Creates
#       no bucket.  Skips the test (skip_missing) when s3rver cannot be
#       installed (no npm / no network and no cache).
#   s3_faults [SPEC...]        replace the proxy's fault list (no SPEC:
#       clear), e.g. s3_faults 503:every=7 reset:every=11
#   s3_fault_stats             the proxy's counters (JSON)
#   aws_s3 ARGS...             awscli against the server, path-style
#       (e.g. aws_s3 ls s3://bucket/ --recursive)

start_s3() {
	local out rc
	command -v node >/dev/null 2>&1 ||
		skip_missing "node (for s3rver)" "apt-get install nodejs"
	mkdir -p "$T/s3"
	# Registered first: start-s3 writes the pids as it starts things, so
	# an interrupted start is cleaned up too.
	at_exit _stop_s3
	out=$("$top_srcdir/scripts/start-s3" -d "$T/s3" -P "$T/s3/pids" \
		-- --quiet "$@" 2>"$T/s3/start.err")
	rc=$?
	if [ $rc -eq 77 ] || { [ $rc -ne 0 ] &&
	   grep -q 'not installed\|not found' "$T/s3/start.err"; }; then
		diag "$(cat "$T/s3/start.err")"
		skip_missing s3rver "run scripts/test (npm install s3rver@3.7.1 into \$BFS_CACHE) or set BFS_S3RVER"
	fi
	if [ $rc -ne 0 ] || [ -z "$out" ]; then
		bail_out "start-s3 failed: $(cat "$T/s3/start.err")"
	fi
	S3_ENDPOINT=$out
	export S3_ENDPOINT
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
	export AWS_REGION=us-east-1 AWS_ENDPOINT_URL=$out
	unset AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_PROFILE AWS_ENDPOINT_URL_S3
}

_stop_s3() {
	local p
	[ -f "$T/s3/pids" ] || return 0
	for p in $(cat "$T/s3/pids"); do
		kill "$p" 2>/dev/null
	done
	for p in $(cat "$T/s3/pids"); do
		for _ in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$p" 2>/dev/null
	done
	rm -f "$T/s3/pids"
	return 0
}

s3_faults() {
	printf '%s\n' "$@" | curl -sf -X POST --data-binary @- \
		"$S3_ENDPOINT/__proxy/faults" >/dev/null
}

s3_fault_stats() {
	curl -sf "$S3_ENDPOINT/__proxy/faults"
}

aws_s3() {
	if [ ! -f "$T/s3/aws-config" ]; then
		printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' \
			>"$T/s3/aws-config"
	fi
	AWS_CONFIG_FILE=$T/s3/aws-config AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		aws --endpoint-url "$S3_ENDPOINT" s3 "$@"
}
