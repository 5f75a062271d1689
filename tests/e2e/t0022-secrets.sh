#!/bin/bash
# Secrets in connection strings (issue 13): 22 tricky passwords, each set on
# a real PostgreSQL role and MariaDB user, each backed up through five
# forms (a postgresql:// URI with the password in the user info, raw where
# libpq takes it raw; a key=value string; ?password= in the query; a
# mysql:// URI fully percent-encoded and one encoded only where needed).
# Every backup succeeds; the secret is on no dump tool's command line, not
# in backupfs's own after parsing (also seen live in /proc while a backup
# runs), and in no manifest, catalog, output or show --json.  A mysqldump
# backup killed by SIGINT, SIGTERM or SIGKILL leaves no file holding the
# password.  Dumps are recorded 0600 (--dump-mode changes it).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

require_cmd python3
R=$T/repo
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
touch "$T/start"
start_postgres
start_mariadb
ok_cmd "init" bfs init "$R"

# The passwords.  Each holds a token of its own (Tk<i>z<tag>), so that a part
# of one found anywhere is seen too.
pws=(
	'pa?ssTk1z'
	'p#wTk2z#'
	'p@ssTk3z@'
	'a:b:Tk4z:c'
	'sl/ashTk5z/'
	'100%Tk6z%41'
	"it'sTk7z'"
	'say"hiTk8z"'
	'back\slTk9z\'
	'two wordsTk10z x'
	' leadTk11z'
	'trailTk12z '
	'k=vTk13z=='
	'amp&Tk14z&x=1'
	'ünïcødé€Tk15z'
	'日本語Tk16z🔑'
	'semi;Tk17z;#'
	'$(id)Tk18z`x`'
	'-dashTk19z'
	"mix?#@:/%'\"\\ Tk20z=&"
	'[brk]{Tk21z}<>|'
	'tab	Tk22z	'
)
n=${#pws[@]}
# and a tag of this run after each token: the live pass below reads every
# process's cmdline, where another run of this test on the same machine
# (two suites at once) shows its passwords while it creates its users
tag=$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')
for ((i = 0; i < n; i++)); do
	pws[i]=${pws[i]/Tk$((i + 1))z/Tk$((i + 1))z$tag}
done

# A small database on each server.
psql -X -q -d postgres -c "create database secdb" &&
	psql -X -q -d secdb -c "create table t (id int, s text); insert into t values (1, 'pg-row-marker')" ||
	bail_out "cannot create secdb"
my -e "create database secdb; create table secdb.t (id int, s text); insert into secdb.t values (1, 'my-row-marker')" ||
	bail_out "cannot create secdb in MariaDB"

# my_quote: a MariaDB string literal's inside.
my_quote() {
	printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"
}
for ((i = 1; i <= n; i++)); do
	pw=${pws[i - 1]}
	printf "create role u%d login password :'pw';\ngrant pg_read_all_data to u%d;\n" "$i" "$i" |
		psql -X -q -v ON_ERROR_STOP=1 -v pw="$pw" -d postgres >/dev/null ||
		bail_out "cannot create role u$i"
	my -e "create user 'u$i'@'127.0.0.1' identified by '$(my_quote "$pw")'; grant all on secdb.* to 'u$i'@'127.0.0.1';" ||
		bail_out "cannot create MariaDB user u$i"
done

# Dump-tool wrappers first on PATH: record the tool's argv, its own
# /proc cmdline and its parent's (backupfs), then run the real one.
mkdir -p "$T/wrap"
for tool in pg_dump mariadb-dump mysqldump; do
	real=$(command -v "$tool") || continue
	cat >"$T/wrap/$tool" <<EOF
#!/bin/bash
k=\$\$.\$RANDOM
printf '%s\0' "\$0" "\$@" >"$T/wrap/argv.\$k"
cat /proc/\$\$/cmdline >"$T/wrap/cmdline.\$k"
cat /proc/\$PPID/cmdline >"$T/wrap/parent.\$k"
echo \$\$ >"$T/wrap/started.$tool"
exec "$real" "\$@"
EOF
	chmod +x "$T/wrap/$tool"
done

# bg NAME CMD...: run CMD in the background; its pid lands in
# $T/NAME.pid, its exit status in $T/NAME.rc (bash's own `wait PID`
# forgets a job's status after some hundreds of other children).
bg() {
	local name=$1
	shift
	rm -f "$T/$name.pid" "$T/$name.rc"
	# a subshell, not sh -c: its cmdline must not repeat CMD's
	(
		"$@" &
		echo $! >"$T/$name.pid"
		wait $!
		echo $? >"$T/$name.rc"
	) >"$T/$name.out" 2>&1 &
	wait_until 10 test -s "$T/$name.pid"
}
# bg_rc NAME: wait (up to 120 s) for it and print its exit status.
bg_rc() {
	wait_until 120 test -s "$T/$1.rc"
	cat "$T/$1.rc"
}

# pg_min: percent-encode only what libpq's URI reading needs: '%', '@',
# '/', space and tab (libpq ends the user info at the first '@' before a
# '/'; '?', '#', ':', '&', '=' stay raw).
pg_min() {
	printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/@/%40/g' -e 's|/|%2F|g' \
		-e 's/ /%20/g' -e 's/\t/%09/g'
}
# pg_query: for ?password=: '%', '&', '=', space, tab.
pg_query() {
	printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/&/%26/g' -e 's/=/%3D/g' \
		-e 's/ /%20/g' -e 's/\t/%09/g'
}
# pg_kv: a key=value single-quoted value's inside.
pg_kv() {
	printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"
}
# my_enc: every byte but RFC 3986's unreserved ones percent-encoded.
my_enc() {
	python3 -c 'import sys, urllib.parse; sys.stdout.write(urllib.parse.quote(sys.argv[1].encode(), safe=""))' "$1"
}
# my_min: only '%', '/', '?' (the authority ends at the first '/' or '?';
# the user info at its last '@').
my_min() {
	printf '%s' "$1" | sed -e 's/%/%25/g' -e 's|/|%2F|g' -e 's/?/%3F/g'
}
# The forms each password is backed up through.  CI: one PostgreSQL form
# (the URI for odd i, key=value for even i) and the mysql:// URI, so every
# password meets both servers and both PostgreSQL syntaxes are covered
# (a dump tool starts in about half a second on a loaded machine, and the
# suite runs twice); locally all five.
forms="pgu pgkv myenc pgq mymin"
forms_of() { # i: the forms of user i
	if [ "${CI:-}" = true ]; then
		if [ $(($1 % 2)) = 1 ]; then echo "pgu myenc"; else echo "pgkv myenc"; fi
	else
		echo "$forms"
	fi
}
src_args() { # i pw: the sources of user i
	local i=$1 pw=$2 f
	for f in $(forms_of "$i"); do
		case $f in
		pgu) printf '%s\0' --pg-dump "pgu=postgresql://u$i:$(pg_min "$pw")@127.0.0.1:$PGPORT/secdb" ;;
		pgkv) printf '%s\0' --pg-dump "pgkv=host=127.0.0.1 port=$PGPORT dbname=secdb user=u$i password='$(pg_kv "$pw")'" ;;
		pgq) printf '%s\0' --pg-dump "pgq=postgresql://127.0.0.1:$PGPORT/secdb?user=u$i&password=$(pg_query "$pw")&application_name=t0022" ;;
		myenc) printf '%s\0' --mysql-dump "myenc=mysql://u$i:$(my_enc "$pw")@127.0.0.1:$MYSQL_PORT/secdb" ;;
		mymin) printf '%s\0' --mysql-dump "mymin=mysql://u$i:$(my_min "$pw")@127.0.0.1:$MYSQL_PORT/secdb" ;;
		esac
	done
}

# ---- every password, five forms each
bad_backup=0 bad_content=0 ndumps=0
for ((i = 1; i <= n; i++)); do
	pw=${pws[i - 1]}
	mapfile -d '' args < <(src_args "$i" "$pw")
	if ! env -u PGPASSFILE -u PGPASSWORD -u MYSQL_PWD PATH="$T/wrap:$PATH" \
		"$BACKUPFS" backup -r "$R" --id "s$i" "${args[@]}" \
		>"$T/out.$i" 2>&1; then
		bad_backup=$((bad_backup + 1))
		diag "password $i: backup failed: $(tail -n 3 "$T/out.$i")"
		continue
	fi
	ndumps=$((ndumps + $(forms_of "$i" | wc -w)))
	for f in $(forms_of "$i"); do
		"$BACKUPFS" cat -r "$R" "s$i:$f.sql" 2>>"$T/out.$i" |
			grep -q "${f:0:2}-row-marker" || {
			bad_content=$((bad_content + 1))
			diag "password $i: $f.sql lacks the row"
		}
	done
done
is "$bad_backup" 0 "$n passwords, $ndumps dumps ($(forms_of 1) / $(forms_of 2)): every backup succeeded"
is "$bad_content" 0 "every dump holds the table's row"

# ---- live: while a backup runs, no process's cmdline shows a secret.
# The first source sleeps while /proc is read, then fails: the 44 dumps
# never run (backupfs's argv was scrubbed when the options were parsed).
live=()
for ((i = 1; i <= n; i++)); do
	pw=${pws[i - 1]}
	live+=(--pg-dump "p$i=postgresql://u$i:$(pg_min "$pw")@127.0.0.1:$PGPORT/secdb")
	live+=(--mysql-dump "m$i=mysql://u$i:$(my_enc "$pw")@127.0.0.1:$MYSQL_PORT/secdb")
done
rm -f "$T/started"
bg live env -u PGPASSFILE -u PGPASSWORD PATH="$T/wrap:$PATH" "$BACKUPFS" \
	backup -r "$R" --id live \
	--command "wait.txt=touch '$T/started'; sleep 5; exit 7" \
	"${live[@]}"
livepid=$(cat "$T/live.pid")
wait_until 20 test -e "$T/started"
# one quick pass over /proc while the command sleeps (one cat, not a
# process per pid: the backup must still be running)
tr '\0' ' ' <"/proc/$livepid/cmdline" >"$T/live.cmdline"
cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' >"$T/all.cmdline"
like "$(cat "$T/live.cmdline")" "backup .*--pg-dump p1=postgresql://u1:x+@127" \
	"backupfs's cmdline was read while it ran, its passwords overwritten"
like "$(cat "$T/all.cmdline")" "backup .*--pg-dump p1=" "backupfs is among the processes read"
leak=0
for ((i = 1; i <= n; i++)); do
	if grep -qaF -- "Tk${i}z$tag" "$T/all.cmdline"; then
		leak=$((leak + 1))
		diag "password $i in a cmdline"
	fi
done
is "$leak" 0 "while a backup of all $n runs, no /proc/*/cmdline shows a password"
is "$(bg_rc live)" 1 "that backup failed, as its command did"

# ---- what the children and the parent showed
leak=0
nrec=0
for f in "$T/wrap"/argv.* "$T/wrap"/cmdline.* "$T/wrap"/parent.*; do
	nrec=$((nrec + 1))
	for ((i = 1; i <= n; i++)); do
		if grep -qaF -- "Tk${i}z$tag" "$f"; then
			leak=$((leak + 1))
			diag "password $i in $(basename "$f"): $(tr '\0' ' ' <"$f" | head -c 300)"
		fi
	done
done
ok "$([ "$nrec" -ge $((3 * ndumps)) ]; echo $?)" "every dump tool recorded ($nrec records)"
is "$leak" 0 "no password in a dump tool's argv or cmdline, nor in backupfs's"

# ---- what is stored and printed
ok_cmd "list" bfs list -r "$R"
cp "$T/stdout" "$T/list.out"
: >"$T/show.out"
for id in $(bfs_ids -r "$R"); do
	"$BACKUPFS" show -r "$R" "$id" --json >>"$T/show.out" 2>&1
done
like "$(cat "$T/show.out")" "postgresql://u1@127.0.0.1" "show --json lists the sources without passwords"
for m in "$R"/manifests/*; do
	zstd -qdc "$m" >>"$T/manifests.txt" 2>/dev/null
done
like "$(cat "$T/manifests.txt")" "pg-dump" "the manifests hold the sources"
leak=0
for ((i = 1; i <= n; i++)); do
	for f in "$T/manifests.txt" "$T/show.out" "$T/list.out" "$T"/out.*; do
		if grep -qaF -- "Tk${i}z$tag" "$f"; then
			leak=$((leak + 1))
			diag "password $i in $(basename "$f")"
		fi
	done
	if grep -rqaF -- "Tk${i}z$tag" "$XDG_CACHE_HOME" "$R" "$TMPDIR"; then
		leak=$((leak + 1))
		diag "password $i under the catalog, repository or TMPDIR: $(grep -rlaF -- "Tk${i}z$tag" "$XDG_CACHE_HOME" "$R" "$TMPDIR" | head -3)"
	fi
done
is "$leak" 0 "no password in a manifest, the catalog, the repository, TMPDIR, show --json, list or any output"

# ---- misspelt keys and bad URIs: refused, the value never echoed
fails_with 2 "a misspelt key" bfs backup -r "$R" \
	--pg-dump "host=127.0.0.1 pasword=Tk99zSecret dbname=secdb"
unlike "$(cat "$T/stderr")" "Tk99z" "the misspelt key's value is not echoed"
like "$(cat "$T/stderr")" "pasword" "the key is named"
fails_with 2 "a raw '@' in a URI password" bfs backup -r "$R" \
	--pg-dump "postgresql://u1:p@Tk98z@127.0.0.1/secdb"
unlike "$(cat "$T/stderr")" "Tk98z" "not echoed"
like "$(cat "$T/stderr")" "%40" "the message says how to encode it"
fails_with 2 "a mistyped option with a URI" bfs backup -r "$R" \
	--pg-dumb="postgresql://u1:Tk97z@127.0.0.1/secdb"
unlike "$(cat "$T/stderr")" "Tk97z" "an unknown --opt=VALUE is named without its value"

# ---- SIGINT, SIGTERM, SIGKILL during a mysqldump blocked on a lock
# (the old code left /tmp/backupfs-my-XXXXXX with the password behind)
i=20
pw=${pws[i - 1]}
for sig in INT TERM KILL; do
	my -e "select 1" >/dev/null
	bg lock mariadb --defaults-extra-file="$MY_CNF" \
		-e "lock tables secdb.t write; select sleep(60);"
	lockpid=$(cat "$T/lock.pid")
	wait_until 20 sh -c "mariadb --defaults-extra-file='$MY_CNF' -N -e \"select count(*) from information_schema.processlist where info like 'select sleep(60)%'\" | grep -qx 1"
	rm -f "$T/wrap/started.mysqldump" "$T/wrap/started.mariadb-dump"
	bg sig env -u MYSQL_PWD --default-signal=INT PATH="$T/wrap:$PATH" \
		"$BACKUPFS" backup -r "$R" --id "sig$sig" \
		--mysql-dump "mysql://u$i:$(my_enc "$pw")@127.0.0.1:$MYSQL_PORT/secdb"
	bpid=$(cat "$T/sig.pid")
	wait_until 20 sh -c "cat '$T/wrap/started.mysqldump' '$T/wrap/started.mariadb-dump' 2>/dev/null | grep -q ."
	dpid=$(cat "$T/wrap/started.mysqldump" "$T/wrap/started.mariadb-dump" 2>/dev/null | head -1)
	# blocked on the lock: it has read its option file and connected
	wait_until 20 sh -c "mariadb --defaults-extra-file='$MY_CNF' -N -e \"select count(*) from information_schema.processlist where user = 'u$i' and state like '%metadata lock%'\" | grep -qx 1"
	held=$(ls -l "/proc/$dpid/fd" 2>/dev/null | grep -c 'memfd:backupfs-my-cnf')
	is "$held" 1 "SIG$sig: the blocked dump tool holds the memfd option file"
	during=$(grep -rlaF -- "Tk${i}z$tag" "$TMPDIR" "$XDG_CACHE_HOME" "$R" 2>/dev/null |
		head -3)
	is "$during" "" "SIG$sig: while it runs, no file under TMPDIR, the cache or the repository holds the password"
	kill -s "$sig" "$bpid"
	rc=$(bg_rc sig)
	is "$rc" "$((128 + $(kill -l "$sig")))" "SIG$sig: backupfs was killed by it"
	kill "$lockpid" 2>/dev/null
	bg_rc lock >/dev/null
	wait_until 30 sh -c "! kill -0 $dpid 2>/dev/null"
	left=$( (grep -rlaF -- "Tk${i}z$tag" "$TMPDIR" "$XDG_CACHE_HOME" "$R"
		find /tmp -xdev -newer "$T/start" -type f -size -10M \
			-not -path "$T/*" -readable 2>/dev/null |
			xargs -r grep -laF -- "Tk${i}z$tag") 2>/dev/null | head -3)
	is "$left" "" "SIG$sig: afterwards no file under /tmp, TMPDIR, the cache or the repository holds the password"
done
ok_cmd "list after the signals" bfs list -r "$R"
unlike "$(cat "$T/stdout")" "sigINT|sigTERM|sigKILL" "no interrupted backup was written"

# ---- modes: dumps and command output 0600, --dump-mode, --files keep theirs
mkdir -p "$T/files"
echo x >"$T/files/a"
chmod 0644 "$T/files/a"
ok_cmd "backup with a dump, a command and files" bfs backup -r "$R" --id modes \
	--pg-dump "postgresql://u1:$(pg_min "${pws[0]}")@127.0.0.1:$PGPORT/secdb" \
	--command "c.txt=echo hi" --files "f=$T/files"
ok_cmd "ls -l -R" bfs ls -r "$R" -l -R modes
like "$(grep ' database.sql$' "$T/stdout")" "^-rw-------" "a dump is recorded 0600"
like "$(grep ' c.txt$' "$T/stdout")" "^-rw-------" "command output is recorded 0600"
like "$(grep ' f/a$' "$T/stdout")" "^-rw-r--r--" "a --files file keeps its mode"
ok_cmd "backup --dump-mode 0640" bfs backup -r "$R" --id modes2 --dump-mode 0640 \
	--command "c.txt=echo hi"
ok_cmd "ls -l" bfs ls -r "$R" -l modes2
like "$(grep ' c.txt$' "$T/stdout")" "^-rw-r-----" "--dump-mode 0640 is recorded"
fails_with 2 "--dump-mode 999" bfs backup -r "$R" --dump-mode 999 --command "c.txt=echo hi"

done_testing
