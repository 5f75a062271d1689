#!/bin/bash
# backupfs job check|list|enable|disable and the job units: check names
# the field of an error and refuses an env_file others can read; list
# shows each job's next run (text and JSON); enable --root writes the
# timer drop-in from the schedule (OnCalendar= for cron, OnActiveSec= and
# OnUnitActiveSec= for every), enable and disable call systemctl in the
# right order; every shipped unit, with a drop-in, passes
# systemd-analyze verify without a warning.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_cmd jq jq

J=$T/jobs
S=$T/state
mkdir -p "$J" "$S"
export BACKUPFS_JOBS_DIR=$J BACKUPFS_STATE_DIR=$S

# job FILE NAME EXTRA: a job file backing up one directory
job() {
	printf '{"name": "%s", "repository": "%s/repo", "sources": [{"files": "%s"}]%s}\n' \
		"$2" "$T" "$T/src" "$3" >"$1"
}
mkdir -p "$T/src"

# ---- job check
job "$J/nightly.json" nightly ', "schedule": "15 5 * * *"'
job "$J/often.json" often ', "schedule": "every 6h", "catch_up": false'
ok_cmd "job check of two good files" bfs job check "$J/nightly.json" "$J/often.json"
is "$(cat "$T/stdout")" "$J/nightly.json: ok
$J/often.json: ok" "one 'FILE: ok' line per file"
ok_cmd "job check NAME resolves JOBS/NAME.json" bfs job check nightly
is "$(cat "$T/stdout")" "$J/nightly.json: ok" "by name"

job "$T/bad1.json" bad1 ', "schedule": "15 25 * * *"'
printf '{"name": "bad2", "repository": "/r", "sources": [{"files": "/x", "exclude": [3]}]}\n' \
	>"$T/bad2.json"
job "$T/bad3.json" bad3 ', "hooks": {"timeout": "10x"}'
fails_with 1 "job check with bad files exits 1" \
	bfs job check "$T/bad1.json" "$J/often.json" "$T/bad2.json" "$T/bad3.json"
like "$(cat "$T/stderr")" "bad1.json: schedule: hour: \"25\"" "the schedule's field is named"
like "$(cat "$T/stderr")" "bad2.json: sources\[0\]\.exclude\[0\]: expected a string" \
	"the exact array element is named"
like "$(cat "$T/stderr")" 'bad3.json: hooks\.timeout: "10x"' "the hooks' timeout is named"
is "$(cat "$T/stdout")" "$J/often.json: ok" "the good file among them is ok"
fails_with 1 "a missing file" bfs job check "$T/none.json"
like "$(cat "$T/stderr")" "none.json" "the missing file is named"
fails_with 2 "job check without FILE is a usage error" bfs job check

# env_file: 0644 refused, 0600 accepted, missing: a warning
printf 'PGPASSWORD=s3cret-value\n' >"$T/app.env"
chmod 644 "$T/app.env"
job "$T/env.json" env ", \"env_file\": \"$T/app.env\""
fails_with 1 "an env_file others can read is refused" bfs job check "$T/env.json"
like "$(cat "$T/stderr")" "env.json: env_file: .*mode 0644" "the mode is named"
unlike "$(cat "$T/stderr")$(cat "$T/stdout")" "s3cret" "the secret is not printed"
chmod 600 "$T/app.env"
ok_cmd "a 0600 env_file is accepted" bfs job check "$T/env.json"
job "$T/noenv.json" noenv ", \"env_file\": \"$T/none.env\""
ok_cmd "a missing env_file is a warning" bfs job check "$T/noenv.json"
like "$(cat "$T/stderr")" "warning: env_file: .*does not exist" "the warning says so"

# a schedule with no systemd form, a name that is not the file's
job "$T/either.json" either ', "schedule": "0 9 13 * 5"'
ok_cmd "a cron schedule systemd cannot express is valid" bfs job check "$T/either.json"
like "$(cat "$T/stderr")" "warning: schedule: .*job enable refuses it" \
	"but check warns that enable refuses it"
job "$T/other.json" someone-else ''
ok_cmd "a name that is not the file's is valid" bfs job check "$T/other.json"
like "$(cat "$T/stderr")" "warning: name 'someone-else' differs from the file name" \
	"with a warning"

# ---- job list
ok_cmd "job list" bfs job list
like "$(sed -n 1p "$T/stdout")" "^NAME +SCHEDULE +NEXT RUN +REPOSITORY" "a header"
like "$(cat "$T/stdout")" "nightly +15 5 \* \* \* +[0-9-]+T05:15:00Z +$T/repo" \
	"the cron job's next run is at 05:15 (TZ=UTC)"
ok_cmd "job list --json" bfs job list --json
is "$(jq -r '.[].name' "$T/stdout" | tr '\n' ' ')" "nightly often " "both jobs, sorted"
now=$(date +%s)
next=$(jq -r '.[] | select(.name == "often") | .next_run_unix' "$T/stdout")
ok $([ "$next" -ge $((now + 6 * 3600 - 5)) ] && [ "$next" -le $((now + 6 * 3600 + 5)) ] && echo 0 || echo 1) \
	"an every job that never ran runs one interval from now"
is "$(jq -r '.[] | select(.name == "often") | .schedule' "$T/stdout")" "every 6h" "schedule in JSON"
cp "$T/bad2.json" "$J/bad2.json"
fails_with 1 "job list with a bad file exits 1" bfs job list
like "$(cat "$T/stderr")" "bad2.json: sources\[0\]\.exclude\[0\]" "naming it"
like "$(cat "$T/stdout")" "nightly" "the good jobs are still listed"
rm "$J/bad2.json"

# ---- job enable / disable: a fake systemctl records its calls
cat >"$T/systemctl" <<EOS
#!/bin/sh
echo "\$*" >>"$T/calls"
EOS
chmod +x "$T/systemctl"
export BACKUPFS_SYSTEMCTL=$T/systemctl
: >"$T/calls"
R=$T/root
mkdir -p "$R"
D=$R/etc/systemd/system/backupfs-job@nightly.timer.d/schedule.conf
ok_cmd "job enable --no-systemctl --root" bfs job enable nightly --root "$R" --no-systemctl
ok $([ -f "$D" ] && echo 0 || echo 1) "the drop-in is written below the root"
like "$(cat "$D")" $'^OnCalendar=$' "it resets the template's OnCalendar="
like "$(cat "$D")" '^OnCalendar=\*-\*-\* 05:15:00$' "OnCalendar= of 15 5 * * *"
like "$(cat "$D")" '^Persistent=true$' "catch_up: Persistent=true"
like "$(cat "$T/stdout")" "systemctl daemon-reload && systemctl enable --now backupfs-job@nightly.timer" \
	"and says what to run next"
is "$(cat "$T/calls")" "" "--no-systemctl runs no systemctl"
D2=$R/etc/systemd/system/backupfs-job@often.timer.d/schedule.conf
ok_cmd "job enable --root of an every job" bfs job enable often --root "$R"
like "$(cat "$D2")" '^OnActiveSec=6h$' "OnActiveSec= starts the first interval"
like "$(cat "$D2")" '^OnUnitActiveSec=6h$' "OnUnitActiveSec= the interval"
like "$(cat "$D2")" '^Persistent=false$' "catch_up false: Persistent=false"
is "$(cat "$T/calls")" "--root=$R enable backupfs-job@often.timer" \
	"--root: only systemctl --root=DIR enable"
: >"$T/calls"
cp "$T/either.json" "$J/either.json"
fails_with 1 "enable refuses a schedule systemd cannot express" bfs job enable either --root "$R"
like "$(cat "$T/stderr")" "either.json: schedule: .*both restricted" "saying why"
ok $([ ! -e "$R/etc/systemd/system/backupfs-job@either.timer.d" ] && echo 0 || echo 1) \
	"and writes nothing"
job "$J/manual.json" manual ''
fails_with 1 "enable refuses a job without schedule" bfs job enable manual --root "$R"
like "$(cat "$T/stderr")" "schedule: the job has none" "saying so"
fails_with 2 "enable of a bad name is a usage error" bfs job enable ../x --root "$R"
fails_with 1 "enable of a job that does not exist" bfs job enable ghost --root "$R"
like "$(cat "$T/stderr")" "ghost.json" "names the file it looked for"
is "$(cat "$T/calls")" "" "no systemctl after a refusal"
ok_cmd "job disable --root" bfs job disable often --root "$R"
ok $([ ! -e "$D2" ] && [ ! -e "${D2%/*}" ] && echo 0 || echo 1) \
	"the drop-in and its directory are gone"
is "$(cat "$T/calls")" "--root=$R disable backupfs-job@often.timer" \
	"--root: systemctl --root=DIR disable"
fails_with 2 "--root goes with enable and disable only" bfs job list --root "$R"
# a failing systemctl fails the command, naming the call
printf '#!/bin/sh\nexit 1\n' >"$T/systemctl-fail"
chmod +x "$T/systemctl-fail"
BACKUPFS_SYSTEMCTL=$T/systemctl-fail fails_with 1 "a failing systemctl fails enable" \
	bfs job enable nightly --root "$R"
like "$(cat "$T/stderr")" "'systemctl --root=$R enable backupfs-job@nightly.timer' failed" \
	"naming the call"
# without --root: daemon-reload, enable, restart (writes /etc: only as
# root in a throw-away machine)
if [ "$(id -u)" = 0 ] && [ -n "${BFS_TEST_WRITE_ETC:-}" ]; then
	: >"$T/calls"
	ok_cmd "job enable" bfs job enable nightly
	is "$(cat "$T/calls")" "daemon-reload
enable backupfs-job@nightly.timer
restart backupfs-job@nightly.timer" "daemon-reload, enable, restart"
	: >"$T/calls"
	ok_cmd "job disable" bfs job disable nightly
	is "$(cat "$T/calls")" "disable --now backupfs-job@nightly.timer
daemon-reload" "disable --now, then daemon-reload"
else
	for d in "job enable" "enable's calls" "job disable" "disable's calls"; do
		_tap_n=$((_tap_n + 1))
		echo "ok $_tap_n # SKIP $d: writes /etc (BFS_TEST_WRITE_ETC=1 as root)"
	done
fi
unset BACKUPFS_SYSTEMCTL
bfs job enable often --root "$R" --no-systemctl >/dev/null

# ---- the units
make=${MAKE:-make}
if [ -f "${top_builddir:-}/Makefile" ] && command -v "$make" >/dev/null; then
	U=$T/units
	mkdir -p "$U"
	for u in backupfs-job@.service backupfs-job@.timer; do
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$make" -s --no-print-directory -C "$top_builddir" print-job-unit \
			UNIT=$u prefix=/usr >"$U/usr-$u"
		unlike "$(cat "$U/usr-$u")" "@[a-z_]+@" "$u: no @variable@ left"
	done
	like "$(cat "$U/usr-backupfs-job@.service")" '^ExecStart=/usr/bin/backupfs run %i$' \
		"the service runs the configured binary on the instance's job"
	like "$(cat "$U/usr-backupfs-job@.service")" '^Type=oneshot$' "a oneshot service"
	like "$(cat "$U/usr-backupfs-job@.service")" '^TimeoutStartSec=infinity$' \
		"no start timeout for long backups"
	like "$(cat "$U/usr-backupfs-job@.timer")" '^Persistent=true$' "the timer catches up"
	if command -v systemd-analyze >/dev/null; then
		mkdir -p "$T/man/man1"
		"$BACKUPFS" help --man >"$T/man/man1/backupfs.1"
		for u in backupfs-job@.service backupfs-job@.timer; do
			# with the binary of this build, so that ExecStart exists
			env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$make" -s --no-print-directory -C "$top_builddir" print-job-unit \
				UNIT=$u bindir="$top_builddir" >"$U/$u"
			cp "$U/$u" "$U/${u/@/@nightly}"
		done
		mkdir -p "$U/backupfs-job@nightly.timer.d"
		cp "$D" "$U/backupfs-job@nightly.timer.d/"
		for u in backupfs-job@.service backupfs-job@.timer \
			backupfs-job@nightly.service backupfs-job@nightly.timer; do
			(cd "$U" && MANPATH=$T/man systemd-analyze verify "./$u") \
				>"$T/verify" 2>&1
			ok $? "systemd-analyze verify $u"
			is "$(cat "$T/verify")" "" "$u: no warning"
		done
		# the every drop-in too
		cp "$D2" "$U/backupfs-job@nightly.timer.d/schedule.conf"
		(cd "$U" && MANPATH=$T/man systemd-analyze verify ./backupfs-job@nightly.timer) \
			>"$T/verify" 2>&1
		ok $? "systemd-analyze verify with an every drop-in"
		is "$(cat "$T/verify")" "" "no warning"
		# a broken drop-in is seen: the check above can fail
		echo "OnCalendar=bogus" >>"$U/backupfs-job@nightly.timer.d/schedule.conf"
		(cd "$U" && MANPATH=$T/man systemd-analyze verify ./backupfs-job@nightly.timer) \
			>"$T/verify" 2>&1
		like "$(cat "$T/verify")" "bogus" "a bad drop-in line is reported (the check can fail)"
	else
		diag "systemd-analyze not found: the units are not verified"
	fi
fi

done_testing
