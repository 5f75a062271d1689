# lib-prune.sh - the kill -9 loop of prune (t0431 local, t0432 S3):
# source after lib.sh (and lib-s3.sh).
#
#   make_prune_repo DIR   a repository with tiny packs (1 MiB), 5 backups
#       b1..b5 sliding over one pool of data (1.5 MB windows, 1 MB apart,
#       data.bin from $T/d1..d5, plus a small files tree), b2 and b4
#       forgotten: half of their own data is shared with the next backup,
#       so their packs are partly live; b6, forgotten too, has data of
#       its own only.  KEPT lists the kept ids.
#   kept_ok REPO CATALOG  check passes, every kept backup restores byte
#                         for byte (data.bin and the files tree)
#   nothing_left REPO     a prune (grace 0) finds nothing to do
#   count_ops RESET REPO  store operations of a whole prune
#   kill_loop NAME RESET REPO [REAL]
#       (NOPS, if set, is the operation count; else count_ops) POINTS times: RESET, prune killed (SIGKILL) at a random store
#       operation (BACKUPFS_FAULT any:every=N:kill=1), on even points read
#       every kept backup at once, prune again, read again, and a third
#       prune must find nothing left; REAL=1 adds POINTS/5 + 1 real
#       kill -9 after a random delay.  Reports TAP results.

: "${top_srcdir:?source lib.sh first}"
export XDG_CACHE_HOME=$T/cache
KEPT="b1 b3 b5"

# prng SEED BYTES: incompressible bytes, the same for a seed on every
# run, so the repository's packs (and what prune finds to delete and to
# repack) do not vary from run to run as with /dev/urandom
prng() {
	"$BFS_PYTHON" -c 'import random, sys
sys.stdout.buffer.write(random.Random(sys.argv[1]).randbytes(int(sys.argv[2])))' "$1" "$2"
}

make_prune_repo() {
	local P=$1 i
	prng pool 6000000 >"$T/pool"
	mkdir -p "$T/files"
	"$BACKUPFS" init "$P" >/dev/null || bail_out "init failed"
	sed -i 's/"pack_size":[0-9]*/"pack_size":1048576/' "$P/config"
	for i in 1 2 3 4 5; do
		tail -c +$(( (i - 1) * 1000000 + 1 )) "$T/pool" | head -c 1500000 >"$T/d$i"
		seq $i 5000 >"$T/files/seq.txt"
		"$BACKUPFS" backup -q -r "$P" --id "b$i" --files "$T/files" --stdin data.bin <"$T/d$i" ||
			bail_out "backup b$i failed"
	done
	# b6: data of its own only, in packs of its own: wholly dead
	prng b6 1200000 >"$T/d6"
	"$BACKUPFS" backup -q -r "$P" --id b6 --stdin data.bin <"$T/d6" ||
		bail_out "backup b6 failed"
	rm "$P/manifests/b2" "$P/manifests/b4" "$P/manifests/b6" # forget
}

# kept_ok REPO CATALOG: `backupfs check` finds the repository whole
# (garbage allowed: a killed prune leaves some), and every kept backup
# restores byte for byte: its data.bin, and its files tree (seq.txt of
# its number).
kept_ok() {
	local id out
	"$BACKUPFS" check -r "$1" >>"$T/verify.err" 2>&1 || {
		echo "check failed on $1" >>"$T/verify.err"
		return 1
	}
	for id in $KEPT; do
		"$BACKUPFS" cat -r "$1" --catalog "$2" "$id:data.bin" 2>>"$T/verify.err" |
			cmp -s - "$T/d${id#b}" || return 1
		out=$T/restore.$id
		rm -rf "$out"
		"$BACKUPFS" restore -q -r "$1" --catalog "$2" "$id:files" --target "$out" \
			2>>"$T/verify.err" || return 1
		seq "${id#b}" 5000 | cmp -s - "$out/files/seq.txt" || return 1
	done
	return 0
}

# nothing_left REPO: a prune with nothing to do.
nothing_left() {
	"$BACKUPFS" prune -r "$1" --grace 0 --json >"$T/third.json" 2>>"$T/verify.err" &&
		jq -e '.deleted.packs + .repacked.packs + .garbage.packs + .written.packs == 0' \
			"$T/third.json" >/dev/null
}

# count_ops RESET REPO: how many store operations a whole prune makes
# (the smallest N for which kill at N does not fire, by doubling and
# bisection).
count_ops() {
	local lo=1 hi=1 mid
	while :; do
		$1
		BACKUPFS_FAULT="any:every=$hi:kill=1" "$BACKUPFS" prune -r "$2" --grace 0 >/dev/null 2>&1
		[ $? -eq 137 ] || break
		lo=$hi
		hi=$((hi * 2))
		[ $hi -lt 100000 ] || bail_out "prune never finishes"
	done
	while [ $((hi - lo)) -gt 1 ]; do
		mid=$(((lo + hi) / 2))
		$1
		BACKUPFS_FAULT="any:every=$mid:kill=1" "$BACKUPFS" prune -r "$2" --grace 0 >/dev/null 2>&1
		if [ $? -eq 137 ]; then lo=$mid; else hi=$mid; fi
	done
	echo "$lo"
}

# kill_loop NAME RESET REPO [REAL]: POINTS kills at random operations.
kill_loop() {
	local name=$1 reset=$2 repo=$3 real=${4:-0} nops=${NOPS:-} i n rc
	local killed=0 bad_verify=0 bad_rerun=0 bad_after=0 bad_third=0
	[ -n "$nops" ] || nops=$(count_ops "$reset" "$repo")
	diag "$name: a whole prune makes $nops store operations"
	ok "$([ "$nops" -gt 10 ]; echo $?)" "$name: prune makes $nops store operations"
	for i in $(seq 1 "$POINTS"); do
		$reset
		n=$((RANDOM % nops + 1))
		BACKUPFS_FAULT="any:every=$n:kill=1" "$BACKUPFS" prune -r "$repo" --grace 0 >/dev/null 2>>"$T/verify.err"
		rc=$?
		[ $rc -eq 137 ] && killed=$((killed + 1))
		# half the time read before running prune again
		if [ $((i % 2)) -eq 0 ] && ! kept_ok "$repo" "$T/cat.db"; then
			bad_verify=$((bad_verify + 1))
			diag "$name: point $i (kill at op $n): a kept backup is broken before the rerun"
		fi
		if ! "$BACKUPFS" prune -r "$repo" --grace 0 >/dev/null 2>>"$T/verify.err"; then
			bad_rerun=$((bad_rerun + 1))
			diag "$name: point $i (kill at op $n): the rerun failed: $(tail -n 1 "$T/verify.err")"
		fi
		if ! kept_ok "$repo" "$T/cat.db"; then
			bad_after=$((bad_after + 1))
			diag "$name: point $i (kill at op $n): a kept backup is broken after the rerun"
		fi
		if ! nothing_left "$repo"; then
			bad_third=$((bad_third + 1))
			diag "$name: point $i (kill at op $n): a third prune still had work: $(jq -c . "$T/third.json" 2>/dev/null)"
		fi
	done
	ok "$([ $killed -ge $((POINTS * 9 / 10)) ]; echo $?)" "$name: prune was killed at $killed of $POINTS points"
	is "$bad_verify" 0 "$name: every kept backup restores right after the kill"
	is "$bad_rerun" 0 "$name: the rerun always succeeds"
	is "$bad_after" 0 "$name: every kept backup restores after the rerun"
	is "$bad_third" 0 "$name: the rerun finished the job"
	if [ "$real" = 1 ]; then
		bad_after=0
		for i in $(seq 1 $((POINTS / 5 + 1))); do
			$reset
			"$BACKUPFS" prune -r "$repo" --grace 0 >/dev/null 2>&1 &
			sleep "0.$(printf '%03d' $((RANDOM % 300)))"
			kill -9 $! 2>/dev/null
			wait $! 2>/dev/null
			"$BACKUPFS" prune -r "$repo" --grace 0 >/dev/null 2>>"$T/verify.err" &&
				kept_ok "$repo" "$T/cat.db" && nothing_left "$repo" ||
				bad_after=$((bad_after + 1))
		done
		is "$bad_after" 0 "$name: after real kill -9 at random times, rerun, restore: all right"
	fi
}

