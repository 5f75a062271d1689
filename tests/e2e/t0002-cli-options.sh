#!/bin/bash
# CLI option declarations and what is generated from them: unknown options
# and missing arguments give clear errors, --help lists every declared
# option, backupfs(1) and mount.backupfs(8) render without warnings and
# name every command, the systemd unit gets the configured directories.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

R=$T/repo
CMDS="init backup list show ls cat restore catalog mount copy"

# Every option each command declares (its own, then the common ones).
COMMON="-r --repo --catalog --s3-endpoint --s3-path-style --s3-virtual-host
	--s3-region --cache-dir --cache-dir-size -v --verbose -q --quiet
	-h --help"
declare -A OPTS=(
	[init]="-f --force --group"
	[backup]="--files --exclude --archive --command --stdin --pg-dump
		--mysql-dump --ignore-table --id --tag --json --threads"
	[list]="--json --no-sync"
	[show]="--json --no-sync"
	[ls]="-l --long -R --recursive --no-sync"
	[cat]="--no-sync"
	[restore]="-t --target -f --force --no-owners --same-owner --no-sync"
	[catalog]=""
	[mount]="-f --foreground -o --options --cache-size --readahead
		--sync-interval -d --debug"
	[copy]="--from --to --delete-source --jobs --no-sync --same-id"
)

# ---- unknown options and missing arguments
ok_cmd "init" bfs init "$R"
fails_with 2 "unknown long option: exit 2" bfs list -r "$R" --no-such-option
is "$(cat "$T/stderr")" "backupfs list: unknown option '--no-such-option'
try 'backupfs list --help'" "unknown long option is named, with the hint"
fails_with 2 "unknown short option: exit 2" bfs show -r "$R" -Z latest
is "$(head -n 1 "$T/stderr")" "backupfs show: unknown option '-Z'" \
	"unknown short option is named"
fails_with 2 "unknown option inside a group: exit 2" bfs ls -r "$R" -lZ latest
is "$(head -n 1 "$T/stderr")" "backupfs ls: unknown option '-Z'" \
	"the unknown letter of a group is named"
fails_with 2 "an option of another command: exit 2" bfs list -r "$R" --target x
is "$(head -n 1 "$T/stderr")" "backupfs list: unknown option '--target'" \
	"an option of another command is unknown here"
fails_with 2 "missing argument of a short option: exit 2" bfs list -r
is "$(head -n 1 "$T/stderr")" "backupfs list: option '-r' needs an argument" \
	"missing argument of -r"
fails_with 2 "missing argument of a long option: exit 2" \
	bfs restore -r "$R" latest --target
is "$(head -n 1 "$T/stderr")" \
	"backupfs restore: option '--target' needs an argument" \
	"missing argument of --target"
fails_with 2 "a flag given an argument: exit 2" bfs list -r "$R" --json=yes
like "$(cat "$T/stderr")" "option '--json' takes no value" "--json=yes is refused, naming the flag"
fails_with 2 "an unknown --name=value: exit 2" bfs list -r "$R" --pasword=hunter2secret
like "$(cat "$T/stderr")" "unknown option '--pasword'" "it names the option"
unlike "$(cat "$T/stderr")" "hunter2secret" "never its value (it may be a secret)"
fails_with 2 "bad --threads: exit 2" bfs backup -r "$R" --threads 0 --command a=true
is "$(head -n 1 "$T/stderr")" "backupfs backup: --threads '0': expected 1..1024" \
	"a bad number names the option and the range"
fails_with 2 "bad --cache-size: exit 2" bfs mount -r "$R" "$T" --cache-size 1k
is "$(head -n 1 "$T/stderr")" "backupfs mount: bad cache size '1k' (at least 1M)" \
	"a bad size names the value"
fails_with 2 "too many arguments: exit 2" bfs show -r "$R" a b
is "$(head -n 1 "$T/stderr")" "backupfs show: unexpected argument 'b'" \
	"the unexpected argument is named"
fails_with 2 "no argument: exit 2" bfs ls -r "$R"
is "$(head -n 1 "$T/stderr")" "backupfs ls: missing ID[:PATH]" \
	"the missing argument is named"
ok_cmd "--opt=value works" bfs list --repo="$R" --json
ok_cmd "abbreviated long option works" bfs list -r "$R" --js
fails_with 2 "ambiguous abbreviation: exit 2" bfs list -r "$R" --s3
like "$(cat "$T/stderr")" "unknown option '--s3'" "ambiguous abbreviation is refused"
ok_cmd "-h stops the parsing: later options are not looked at" \
	bfs list -h --no-such-option

# ---- --help lists every declared option, and every option listed exists
for cmd in $CMDS; do
	ok_cmd "$cmd --help" bfs "$cmd" --help
	h=$(cat "$T/stdout")
	missing=
	for o in ${OPTS[$cmd]} $COMMON; do
		grep -qE -- "(^|[ ,])$o([ ,=]|\$)" <<<"$h" || missing="$missing $o"
	done
	is "$missing" "" "$cmd --help lists every declared option"
	listed=$(grep -oE -- '^  (-[A-Za-z], |    )--[a-z0-9-]+' <<<"$h" |
		 sed 's/.*--/--/' | sort -u)
	unknown=
	for o in $listed; do
		bfs "$cmd" "$o" >/dev/null 2>"$T/err" </dev/null
		grep -q "unknown option" "$T/err" && unknown="$unknown $o"
	done
	is "$unknown" "" "$cmd accepts every option its --help lists"
	n=$(wc -l <<<"$listed")
	ok "$([ "$n" -ge 10 ]; echo $?)" "$cmd --help lists $n long options"
done

# ---- backupfs(1)
ok_cmd "help --man" bfs help --man
cp "$T/stdout" "$T/backupfs.1"
like "$(head -n 5 "$T/backupfs.1")" '^\.TH BACKUPFS 1' "backupfs.1 has a .TH"
missing=
for cmd in $CMDS help; do
	grep -qE "^\\.(SS \"backupfs $cmd\"|B $cmd)\$" "$T/backupfs.1" ||
		missing="$missing $cmd"
done
is "$missing" "" "every command appears in backupfs.1"
missing=
for cmd in $CMDS; do
	for o in ${OPTS[$cmd]} $COMMON; do
		grep -qF -- "$(sed 's/-/\\-/g' <<<"$o")" "$T/backupfs.1" ||
			missing="$missing $o"
	done
done
is "$missing" "" "every option appears in backupfs.1"
if [ -f "$top_builddir/backupfs.1" ]; then
	ok_cmd "the built backupfs.1 is the one the binary prints" \
		cmp "$top_builddir/backupfs.1" "$T/backupfs.1"
fi

# render_warnings PAGE: a renderer's complaints about PAGE (empty: none).
render_warnings() {
	if command -v groff >/dev/null; then
		groff -man -Tutf8 -ww -z "$1" 2>&1
	elif command -v mandoc >/dev/null; then
		mandoc -Tlint -Wwarning "$1" 2>&1
	else
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null
	fi
}
if command -v groff >/dev/null || command -v mandoc >/dev/null ||
   command -v man >/dev/null; then
	is "$(render_warnings "$T/backupfs.1")" "" "backupfs.1 renders without warnings"
	is "$(render_warnings "$top_srcdir/doc/mount.backupfs.8")" "" \
		"mount.backupfs.8 renders without warnings"
	if command -v man >/dev/null; then
		LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$T/backupfs.1" >"$T/man.txt" 2>&1
		like "$(cat "$T/man.txt")" "backupfs restore" "man -l shows backupfs.1"
		LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$top_srcdir/doc/mount.backupfs.8" \
			>"$T/man8.txt" 2>&1
		like "$(cat "$T/man8.txt")" "fstab" "man -l shows mount.backupfs.8"
	fi
else
	diag "no groff, mandoc or man: the man pages are not rendered"
fi

# ---- the systemd unit
make=${MAKE:-make}
if [ -f "$top_builddir/Makefile" ] && command -v "$make" >/dev/null; then
	"$make" -s -C "$top_builddir" print-systemd-unit prefix=/usr \
		sysconfdir=/etc >"$T/unit" 2>"$T/stderr"
	ok $? "the unit is generated with prefix=/usr"
	unlike "$(cat "$T/unit")" "/usr/local" "no /usr/local left with prefix=/usr"
	unlike "$(cat "$T/unit")" "@[a-z_]+@" "no @variable@ left"
	like "$(cat "$T/unit")" "^ExecStart=/usr/bin/backupfs mount -f " \
		"ExecStart runs the configured binary"
	like "$(cat "$T/unit")" "^Documentation=man:backupfs\(1\) man:mount.backupfs\(8\)" \
		"the unit points at both man pages"
	if command -v systemd-analyze >/dev/null; then
		# with the binary of this build, so that ExecStart exists; the
		# man pages from here, so that Documentation= resolves
		mkdir -p "$T/unit.d" "$T/man/man1" "$T/man/man8"
		"$make" -s -C "$top_builddir" print-systemd-unit \
			bindir="$top_builddir" >"$T/unit.d/backupfs-mount@.service"
		cp "$T/backupfs.1" "$T/man/man1/"
		cp "$top_srcdir/doc/mount.backupfs.8" "$T/man/man8/"
		(cd "$T/unit.d" && MANPATH=$T/man \
			systemd-analyze verify ./backupfs-mount@.service) \
			>"$T/verify" 2>&1
		rc=$?
		ok $rc "systemd-analyze verify accepts the unit"
		[ $rc -eq 0 ] || diag "$(cat "$T/verify")"
	else
		diag "systemd-analyze not found: the unit is not verified"
	fi

	# ---- the mount(8) helper: where mount(8) looks, whatever the prefix
	# (a make run from make check may print its directory: drop that)
	"$make" -s --no-print-directory -C "$top_builddir" print-mount-helper prefix=/opt/bfs \
		2>"$T/stderr" | grep -Ev '^make(\[[0-9]+\])?: ' >"$T/helper"
	ok $? "the installed mount helper is printed"
	is "$(head -1 "$T/helper")" "# /sbin/mount.backupfs" \
		"mount.backupfs goes to /sbin with any prefix (where mount(8) looks)"
	like "$(cat "$T/helper")" "^BFS_BINDIR=/opt/bfs/bin\$" \
		"it is told where backupfs is installed"
	sed 1d "$T/helper" >"$T/mount.backupfs" && chmod +x "$T/mount.backupfs"
	mkdir -p "$T/opt/bin" && ln -sf "$BACKUPFS" "$T/opt/bin/backupfs"
	sed -i "s|^BFS_BINDIR=.*|BFS_BINDIR=$T/opt/bin|" "$T/mount.backupfs"
	(cd / && env -u BACKUPFS PATH=/usr/bin:/bin "$T/mount.backupfs" /srv/r /mnt/x -f -o ro) \
		>"$T/stdout" 2>"$T/stderr"
	like "$(cat "$T/stderr")" "would run: $T/opt/bin/backupfs mount -r /srv/r /mnt/x" \
		"the helper runs the backupfs of BFS_BINDIR, not one on PATH"
else
	diag "no Makefile in \$top_builddir: the systemd unit is not checked"
fi

done_testing
