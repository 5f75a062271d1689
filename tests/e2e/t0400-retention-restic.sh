#!/bin/bash
# Retention cross-check against restic itself (issue 9): 300 backups with
# seeded random times over three years made in both tools (`backupfs
# backup --stdin --time`, `restic backup --time`), a dozen forget
# policies, and for each `restic forget --dry-run --json` and `backupfs
# forget --dry-run --json` must keep exactly the same backups, for the
# same reasons, under TZ=UTC and TZ=Europe/Berlin.  The two tools name
# backups differently; every backup has its own second, so both answers
# are compared by backup time.
#
# One backupfs repository serves every zone (backupfs stores UTC times and
# buckets in the zone forget runs in); restic records the zone in each
# snapshot, so it gets a repository per zone.
#
# restic changed its policy twice; src/retention.c follows restic >= 0.18.
# Against an older restic (Debian 12 ships 0.14) our answer is mapped to
# the old rules before comparing: before 0.16 the oldest backup was not
# kept when counts were left over (drop the "oldest ..." reasons; an
# item left without reasons is removed) and "unlimited" did not exist
# (restic gets a count of 1000000 there, which keeps the same set); 0.16
# and 0.17 kept it without the "oldest " prefix (strip the prefix).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

command -v restic >/dev/null 2>&1 ||
	skip_all "restic not installed: apt-get install restic"
# CI (CI=true, the suite runs twice) bounds the time: one zone and 60
# backups; locally both zones and 300 (RET_NSNAP, RET_ZONES override).
if [ "${CI:-}" = true ]; then
	TZ_ZONES=${RET_ZONES:-"Europe/Berlin"}
	NSNAP=${RET_NSNAP:-60}
else
	TZ_ZONES=${RET_ZONES:-"UTC Europe/Berlin"}
	NSNAP=${RET_NSNAP:-300}
fi
for z in $TZ_ZONES; do
	[ "$z" = UTC ] || [ -e "/usr/share/zoneinfo/$z" ] ||
		skip_all "zone $z not installed: apt-get install tzdata"
done

JOBS=${RET_JOBS:-4}

rver=$(restic version | awk '{print $2}')
case $rver in
0.1[0-5].* | 0.[0-9].*) mode=old ;;   # no oldest rule, no unlimited
0.16.* | 0.17.*) mode=noprefix ;;     # oldest kept, not marked
*) mode=current ;;
esac
diag "restic $rver: comparing in mode $mode"

printf 'retention-cross-check\n' >"$T/pw"
chmod 600 "$T/pw"
export RESTIC_PASSWORD_FILE=$T/pw
export XDG_CACHE_HOME=$T/cache
unset RESTIC_PASSWORD RESTIC_REPOSITORY RESTIC_PASSWORD_COMMAND
mkdir -p "$T/data"
echo "one small file" >"$T/data/f"

# Seeded random times: unique seconds, 2023-01-01 .. 2025-12-31 UTC, each
# with tag t and sometimes a, b or c; plus one in the future (2030), which
# restic leaves out when it looks for the newest snapshot for
# --keep-within*.
"$BFS_PYTHON" - "$NSNAP" >"$T/plan" <<'PY'
import random, sys
rnd = random.Random(400)
lo, hi = 1672531200, 1767225599
seen = set()
while len(seen) < int(sys.argv[1]):
    seen.add(rnd.randint(lo, hi))
for t in sorted(seen):
    tags = ["t"] + [x for x, p in (("a", .2), ("b", .1), ("c", .3))
                    if rnd.random() < p]
    print(t, ",".join(tags))
print(1893499200, "t,future")
PY
NALL=$(wc -l <"$T/plan")

# Policies, one per line.  "+" marks those with "unlimited", which restic
# before 0.16 lacks: it is given a count of 1000000 there instead.
cat >"$T/policies" <<'EOF'
  --keep-last 5
  --keep-daily 7 --keep-weekly 4 --keep-monthly 6
  --keep-hourly 30 --keep-yearly 10
  --keep-weekly 60
  --keep-within 1y2m
  --keep-within 2y5m7d3h --keep-last 3
  --keep-within-daily 90d --keep-within-weekly 6m --keep-within-monthly 2y
  --keep-tag a --keep-tag b,c --keep-monthly 3
  --keep-monthly 50 --keep-within-yearly 10y
  --keep-within 400d --keep-tag c --keep-weekly 10 --keep-within-hourly 3d
+ --keep-daily unlimited --keep-last 2
+ --keep-within-hourly 15d --keep-yearly unlimited --keep-tag b
EOF

# canon FILE MODE: a forget JSON (restic's or ours) reduced to sorted lines
# "keep|remove TIME [matches]", TIME the backup's Unix time (each backup
# has its own second); MODE maps our answer to an older restic.
canon() {
	"$BFS_PYTHON" - "$1" "$2" <<'PY'
import datetime, json, sys
groups = json.load(open(sys.argv[1])) or []
mode = sys.argv[2]

def secs(t):
    t = t.replace("Z", "+00:00")
    if "." in t:  # up to 9 fraction digits: Python takes 6
        head, rest = t.split(".", 1)
        i = next(k for k, c in enumerate(rest) if not c.isdigit())
        t = head + rest[i:]
    return int(datetime.datetime.fromisoformat(t).timestamp())

out = []
for g in groups:
    keep = [secs(s["time"]) for s in (g.get("keep") or [])]
    remove = [secs(s["time"]) for s in (g.get("remove") or [])]
    why = {secs(r["snapshot"]["time"]): r["matches"]
           for r in (g.get("reasons") or [])}
    if mode == "old":
        for t in list(keep):
            why[t] = [m for m in why[t] if not m.startswith("oldest ")]
            if not why[t]:
                keep.remove(t)
                remove.append(t)
                del why[t]
    elif mode == "noprefix":
        for t in keep:
            why[t] = [m[7:] if m.startswith("oldest ") else m
                      for m in why[t]]
    out += ["keep %d %s" % (t, json.dumps(why.get(t))) for t in keep]
    out += ["remove %d" % t for t in remove]
print("\n".join(sorted(out)))
PY
}

# Ours: one repository, one backup per planned time (UTC), tags as
# separate --tag options.
BR=$T/bfs-repo
ok_cmd "backupfs init" bfs init -r "$BR" || bail_out "cannot init"
start=$(date +%s)
nfail=0
while read -r t tags; do
	targs=()
	IFS=, read -ra tl <<<"$tags"
	for x in "${tl[@]}"; do
		targs+=(--tag "$x")
	done
	echo "one small file" |
		bfs backup -q -r "$BR" --stdin f \
			--time "$(date -u -d "@$t" '+%Y-%m-%dT%H:%M:%SZ')" \
			"${targs[@]}" >/dev/null 2>>"$T/bfs-backup.err" ||
		nfail=$((nfail + 1))
done <"$T/plan"
is "$nfail" 0 "$NALL backupfs backups with --time"
is "$(bfs list -r "$BR" --json | jq length)" "$NALL" \
	"the repository lists $NALL backups"
diag "$NALL backupfs backups took $(($(date +%s) - start))s"

for zone in $TZ_ZONES; do
	export TZ=$zone
	export RESTIC_REPOSITORY=$T/repo-${zone//\//-}
	ok_cmd "$zone: restic init" restic init || continue

	start=$(date +%s)
	# restic --time takes local wall-clock time: convert in this zone.
	while read -r t tags; do
		printf '%s\t%s\n' "$(date -d "@$t" '+%Y-%m-%d %H:%M:%S')" \
			"$tags"
	done <"$T/plan" >"$T/plan-local"
	tr '\n' '\0' <"$T/plan-local" |
		xargs -0 -P "$JOBS" -I{} sh -c '
			tm=$(printf "%s" "$1" | cut -f1)
			tg=$(printf "%s" "$1" | cut -f2)
			restic backup -q --no-cache --host h --tag "$tg" \
				--time "$tm" "$2" >/dev/null' sh {} "$T/data" \
		2>"$T/backup.err"
	diag "$zone: $NALL restic backups took $(($(date +%s) - start))s" \
		"($JOBS in parallel)"
	restic snapshots --no-cache --no-lock --json >"$T/snaps.json" \
		2>"$T/stderr"
	is "$(jq length "$T/snaps.json")" "$NALL" \
		"$zone: restic made $NALL snapshots"

	while IFS= read -r line; do
		need=${line:0:1}
		pol=${line:2}
		rpol=$pol
		if [ "$need" = "+" ] && [ "$mode" = old ]; then
			# no "unlimited" before restic 0.16: a count larger
			# than the number of snapshots keeps the same set
			rpol=${pol//unlimited/1000000}
			diag "$zone: restic $rver gets '$rpol'"
		fi
		# shellcheck disable=SC2086
		if ! restic forget --no-cache --no-lock --dry-run --json $rpol \
			>"$T/restic.json" 2>"$T/restic.err"; then
			ok 1 "$zone: restic forget $pol"
			diag "$(tail -n 5 "$T/restic.err")"
			continue
		fi
		# shellcheck disable=SC2086
		if ! bfs forget -r "$BR" --dry-run --json $pol \
			>"$T/ours.json" 2>"$T/ours.err"; then
			ok 1 "$zone: backupfs forget $pol"
			diag "$(tail -n 5 "$T/ours.err")"
			continue
		fi
		want=$(canon "$T/restic.json" current)
		got=$(canon "$T/ours.json" "$mode")
		is "$got" "$want" "$zone: $pol: same kept set and reasons"
		diag "  keeps $(grep -c '^keep' <<<"$want") of $NALL"
	done <"$T/policies"
done

# The policies above removed nothing (dry runs): a real forget of the
# last one removes exactly what its dry run said.
pol=$(tail -n 1 "$T/policies" | cut -c3-)
# shellcheck disable=SC2086
bfs forget -r "$BR" --dry-run --json $pol >"$T/dry.json" 2>/dev/null
# shellcheck disable=SC2086
ok_cmd "forget $pol" bfs forget -r "$BR" $pol
is "$(bfs list -r "$BR" --json | jq -r '.[].id' | sort)" \
	"$(jq -r '.[].keep[].id' "$T/dry.json" | sort)" \
	"forget kept what its dry run said it would keep"

done_testing
