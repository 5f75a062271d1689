#!/bin/bash
# Retention policy cross-check against restic itself: 300 restic snapshots
# with random times over three years, a dozen forget policies, and for
# each `restic forget --dry-run --json` must keep exactly what our policy
# engine keeps, for the same reasons, under TZ=UTC and TZ=Europe/Berlin.
#
# Ours: tests/unit/retention-tool (src/retention.c), which prints restic's
# JSON shape.  To check `backupfs forget` instead, set RET_TOOL to a
# command that reads "ID TIME_NS TAGS" lines on stdin, takes the policy
# options and prints that JSON.
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
	skip_all "restic is not installed (apt-get install restic)"
: "${RET_TOOL:=$top_builddir/tests/unit/retention-tool}"
[ -x "${RET_TOOL%% *}" ] ||
	skip_all "$RET_TOOL is not built (make check builds it)"
# CI (CI=true) runs one zone per build to bound its time (the suite runs
# twice); locally both.
if [ "${CI:-}" = true ]; then
	TZ_ZONES=${RET_ZONES:-"Europe/Berlin"}
else
	TZ_ZONES=${RET_ZONES:-"UTC Europe/Berlin"}
fi
for z in $TZ_ZONES; do
	[ "$z" = UTC ] || [ -e "/usr/share/zoneinfo/$z" ] ||
		skip_all "zone $z is not installed (tzdata)"
done

NSNAP=${RET_NSNAP:-300}
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

# canon FILE MODE: the restic forget JSON reduced to sorted lines
# "keep|remove ID [matches]"; MODE maps our answer to an older restic.
canon() {
	"$BFS_PYTHON" - "$1" "$2" <<'PY'
import json, sys
groups = json.load(open(sys.argv[1])) or []
mode = sys.argv[2]
out = []
for g in groups:
    keep = [s["id"] for s in (g.get("keep") or [])]
    remove = [s["id"] for s in (g.get("remove") or [])]
    # restic 0.14 leaves the id out of reasons[].snapshot: times are unique
    by_time = {s["time"]: s["id"]
               for s in (g.get("keep") or []) + (g.get("remove") or [])}
    why = {r["snapshot"].get("id") or by_time[r["snapshot"]["time"]]:
           r["matches"] for r in (g.get("reasons") or [])}
    if mode == "old":
        for sid in list(keep):
            why[sid] = [m for m in why[sid] if not m.startswith("oldest ")]
            if not why[sid]:
                keep.remove(sid)
                remove.append(sid)
                del why[sid]
    elif mode == "noprefix":
        for sid in keep:
            why[sid] = [m[7:] if m.startswith("oldest ") else m
                        for m in why[sid]]
    out += ["keep %s %s" % (s, json.dumps(why.get(s))) for s in keep]
    out += ["remove %s" % s for s in remove]
print("\n".join(sorted(out)))
PY
}

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
	secs=$(($(date +%s) - start))
	diag "$zone: $NALL restic backups took ${secs}s ($JOBS in parallel)"
	[ "$secs" -le 60 ] ||
		diag "note: more than 60 s for the restic backups"

	restic snapshots --no-cache --no-lock --json >"$T/snaps.json" \
		2>"$T/stderr"
	"$BFS_PYTHON" - "$T/snaps.json" >"$T/items" <<'PY'
import datetime, json, sys
for s in json.load(open(sys.argv[1])):
    t = s["time"].replace("Z", "+00:00")
    # restic prints up to 9 fraction digits; Python takes 6
    if "." in t:
        head, rest = t.split(".", 1)
        i = next(k for k, c in enumerate(rest) if not c.isdigit())
        frac, zone = rest[:i], rest[i:]
        ns = int((frac + "000000000")[:9])
        t = head + zone
    else:
        ns = 0
    d = datetime.datetime.fromisoformat(t)
    sec = int(d.timestamp())
    print(s["id"], sec * 10**9 + ns, ",".join(s.get("tags") or []) or "-")
PY
	is "$(wc -l <"$T/items")" "$NALL" "$zone: restic made $NALL snapshots"

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
		if ! $RET_TOOL $pol <"$T/items" >"$T/ours.json" \
			2>"$T/ours.err"; then
			ok 1 "$zone: ours $pol"
			diag "$(tail -n 5 "$T/ours.err")"
			continue
		fi
		want=$(canon "$T/restic.json" current)
		got=$(canon "$T/ours.json" "$mode")
		is "$got" "$want" "$zone: $pol: same kept set and reasons"
		nkeep=$(grep -c '^keep' <<<"$want")
		diag "  keeps $nkeep of $NALL"
	done <"$T/policies"
done

done_testing
