#!/bin/bash
# tests/e2e/lib.sh: shared library for the end-to-end tests (bash, TAP).
#
# Every test starts with:
#     #!/bin/bash
#     . "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
#
# Provides (details above each function):
#   bfs ARGS...              run the backupfs binary ($BACKUPFS)
#   $T                       fresh scratch dir, removed at exit
#   at_exit CMD...           cleanup, run in reverse order at exit
#   plan N, ok RC DESC, ok_cmd DESC CMD..., is GOT EXP DESC,
#   like TEXT REGEX DESC, unlike TEXT REGEX DESC,
#   fails_with CODE DESC CMD..., diag MSG, skip_all REASON, bail_out MSG,
#   done_testing
#   skip_missing WHAT HOW, require_root_fuse, require_root,
#   require_fault_injection, require_cmd CMD PACKAGE
#   start_postgres, load_pagila DB, pg_table_digest DB, pg_uri DB,
#   orders_table DB, orders_gen DB FROM TO
#   start_mariadb, my ARGS..., load_sakila, my_table_digest DB,
#   my_object_counts DB, my_uri DB
#   make_awkward_tree DIR, compare_trees A B
#   free_port, wait_until SECONDS CMD...
#   bfs_ids [ARGS], pack_files REPO, pack_bytes REPO,
#   strip_pg_restrict [FILE...], my_dump
#   bfs_is_sanitized, first_backup_peak_kb DIR, strace_opened LOG SRC
# The skip rule: a test skips (never fails) when something it needs is not
# on the machine, with one message of one shape for every kind:
#     skip_all "<what> not installed: <how to get it>"
# (skip_missing WHAT HOW says exactly that).  PostgreSQL, MariaDB, s3rver,
# FUSE and the datasets all go through it.
# BFS_KEEP=1 keeps $T; BFS_BIG=1 makes the awkward tree's big directory
# 100k entries; BFS_DATASETS points at pagila/ and sakila/.
#
# ok_cmd and fails_with capture the command's stdout in $T/stdout and its
# stderr in $T/stderr (so TAP output is never disturbed by the command).

set -u -o pipefail

export TZ=UTC
export LC_ALL=C
unset BACKUPFS_REPO
unset BACKUPFS_CATALOG 2>/dev/null || true

BFS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$BFS_LIB_DIR/../.." && pwd)}"
export top_srcdir

if [ -x /usr/bin/python3 ]; then
	BFS_PYTHON=/usr/bin/python3
else
	BFS_PYTHON=$(command -v python3 || echo python3)
fi

# ---------------------------------------------------------------- binary

if [ -z "${BACKUPFS:-}" ]; then
	for _c in ${top_builddir:+"$top_builddir/backupfs"} \
		  "$PWD/backupfs" "$top_srcdir/backupfs" \
		  "$top_srcdir/build/backupfs"; do
		if [ -x "$_c" ]; then
			BACKUPFS=$_c
			break
		fi
	done
	: "${BACKUPFS:=${top_builddir:-$top_srcdir}/backupfs}"
fi
case $BACKUPFS in
/*) ;;
*) BACKUPFS=$PWD/$BACKUPFS ;;
esac
export BACKUPFS
: "${top_builddir:=$(dirname "$BACKUPFS")}"
export top_builddir

bfs() {
	"$BACKUPFS" "$@"
}

# ---------------------------------------------------------------- TAP

_tap_n=0
_tap_failed=0
_tap_planned=
_tap_done=
_tap_skipped=

plan() {
	_tap_planned=$1
	echo "1..$1"
}

diag() {
	local line
	printf '%s\n' "$*" | while IFS= read -r line; do
		printf '# %s\n' "$line"
	done
}

# _tap_result OK(0/1) DESC
_tap_result() {
	_tap_n=$((_tap_n + 1))
	# a newline or a leading digit/'#' in the description would confuse TAP
	local d=${2//$'\n'/ }
	d=${d//\#/\\#}
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $d"
	else
		_tap_failed=$((_tap_failed + 1))
		echo "not ok $_tap_n - $d"
	fi
}

# ok RC DESC: passes iff RC is 0.
ok() {
	local rc=$1
	shift
	_tap_result $([ "$rc" -eq 0 ] 2>/dev/null && echo 0 || echo 1) "$*"
}

# ok_cmd DESC CMD...: runs CMD, passes iff it exits 0.
ok_cmd() {
	local desc=$1 rc
	shift
	"$@" >"$T/stdout" 2>"$T/stderr"
	rc=$?
	_tap_result $([ $rc -eq 0 ] && echo 0 || echo 1) "$desc"
	if [ $rc -ne 0 ]; then
		diag "command: $*"
		diag "exit code: $rc"
		diag "$(tail -n 40 "$T/stderr")"
	fi
	return $rc
}

# fails_with CODE DESC CMD...: passes iff CMD exits exactly CODE.
fails_with() {
	local code=$1 desc=$2 rc
	shift 2
	"$@" >"$T/stdout" 2>"$T/stderr"
	rc=$?
	_tap_result $([ $rc -eq "$code" ] && echo 0 || echo 1) "$desc"
	if [ $rc -ne "$code" ]; then
		diag "command: $*"
		diag "expected exit code $code, got $rc"
		diag "$(tail -n 40 "$T/stderr")"
		return 1
	fi
	return 0
}

# is GOT EXPECTED DESC
is() {
	if [ "$1" == "$2" ]; then
		_tap_result 0 "$3"
	else
		_tap_result 1 "$3"
		if [ ${#1} -gt 2000 ] || [ ${#2} -gt 2000 ] ||
		   [[ "$1$2" == *$'\n'* ]]; then
			diff <(printf '%s\n' "$2") <(printf '%s\n' "$1") |
				head -n 40 | sed 's/^/#   /'
			diag "(diff: < expected, > got)"
		else
			diag "     got: '$1'"
			diag "expected: '$2'"
		fi
		return 1
	fi
}

# like TEXT REGEX DESC (extended regex, grep -E semantics, any line)
like() {
	# (a here-string, not a pipe: grep -q exiting early must not fail it)
	if grep -Eq -- "$2" <<<"$1"; then
		_tap_result 0 "$3"
	else
		_tap_result 1 "$3"
		diag "text: $(printf '%s' "$1" | head -c 2000)"
		diag "does not match: $2"
		return 1
	fi
}

# unlike TEXT REGEX DESC
unlike() {
	# (a here-string, not a pipe: grep -q exiting early must not fail it)
	if grep -Eq -- "$2" <<<"$1"; then
		_tap_result 1 "$3"
		diag "text: $(printf '%s' "$1" | head -c 2000)"
		diag "matches: $2"
		return 1
	else
		_tap_result 0 "$3"
	fi
}

# skip_all REASON: skip the whole test (TAP "1..0 # SKIP REASON").  After
# some tests ran, the rest of the plan is reported as skipped.
skip_all() {
	if [ -n "$_tap_done" ]; then
		# a script that uses the library without TAP (scripts/bench):
		# a missing prerequisite is an error there
		echo "$*" >&2
		exit 1
	fi
	_tap_skipped=1
	if [ $_tap_n -eq 0 ] && [ -z "$_tap_planned" ]; then
		echo "1..0 # SKIP $*"
		exit 0
	fi
	while [ -n "$_tap_planned" ] && [ $_tap_n -lt "$_tap_planned" ]; do
		_tap_n=$((_tap_n + 1))
		echo "ok $_tap_n # SKIP $*"
	done
	[ -n "$_tap_planned" ] || echo "1..$_tap_n"
	exit $([ $_tap_failed -eq 0 ] && echo 0 || echo 1)
}

# skip_missing WHAT HOW: skip because WHAT is not installed; HOW says how
# to get it (the one shape of message for every missing prerequisite).
skip_missing() {
	skip_all "$1 not installed: $2"
}

bail_out() {
	_tap_done=1
	echo "Bail out! $*"
	exit 1
}

done_testing() {
	_tap_done=1
	if [ -z "$_tap_planned" ]; then
		echo "1..$_tap_n"
	elif [ "$_tap_planned" -ne "$_tap_n" ]; then
		diag "planned $_tap_planned tests but ran $_tap_n"
		exit 1
	fi
	if [ $_tap_failed -gt 0 ]; then
		diag "$_tap_failed of $_tap_n tests failed"
		exit 1
	fi
	exit 0
}

# ---------------------------------------------------------------- cleanup

_at_exit_cmds=()

# at_exit CMD...: CMD is eval'ed at exit (reverse order of registration).
at_exit() {
	_at_exit_cmds+=("$*")
}

_unmount_under() {
	local dir=$1 mp
	[ -r /proc/self/mountinfo ] || return 0
	# mountinfo field 5 is the mount point, octal-escaped; deepest first
	awk '{print $5}' /proc/self/mountinfo |
		while IFS= read -r mp; do printf '%b\n' "$mp"; done |
		grep -F -- "$dir/" | sort -r |
		while IFS= read -r mp; do
			fusermount3 -u -z "$mp" 2>/dev/null ||
				umount -l "$mp" 2>/dev/null || true
		done
}

_lib_exit() {
	local rc=$? i
	trap - EXIT INT TERM HUP
	set +e
	if [ -z "$_tap_done" ] && [ -z "$_tap_skipped" ]; then
		# the script ended without done_testing: never report success
		if [ $rc -eq 0 ]; then
			rc=1
		fi
		_tap_result 1 "test script ended early (exit code $rc)"
		if [ -z "$_tap_planned" ]; then
			echo "1..$_tap_n"
		fi
	fi
	if [ $rc -eq 0 ] && [ $_tap_failed -gt 0 ]; then
		rc=1
	fi
	for ((i = ${#_at_exit_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_at_exit_cmds[$i]}" >/dev/null 2>&1 </dev/null
	done
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		_unmount_under "$T"
		if [ -n "${BFS_KEEP:-}" ]; then
			echo "# BFS_KEEP set: scratch dir kept: $T"
		else
			chmod -R u+rwx "$T" 2>/dev/null
			rm -rf "$T" 2>/dev/null
		fi
	fi
	exit $rc
}

trap _lib_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

T=$(mktemp -d /tmp/bfs-e2e.XXXXXX) || bail_out "cannot create a scratch dir"
# servers run as other users (postgres) need to traverse it
chmod 0711 "$T"
export T
export XDG_CACHE_HOME=$T/cache
mkdir -p "$XDG_CACHE_HOME"
# the mount's log file and the jobs' state go under the scratch dir, not
# into the home directory of whoever runs the tests
export XDG_STATE_HOME=$T/state

if [ ! -x "$BACKUPFS" ]; then
	bail_out "backupfs binary not found ('$BACKUPFS'); build it first or set BACKUPFS"
fi

# ---------------------------------------------------------------- helpers

# free_port: print a free TCP port on 127.0.0.1, below the kernel's
# ephemeral range: a port bind(0) gives is in that range, where any client
# socket of a test running beside (-j4) may take it before the server
# listens (NocoDB listens ~20 s after its start: EADDRINUSE).
free_port() {
	"$BFS_PYTHON" -c '
import random, socket
lo = 32768
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    pass
for _ in range(200):
    port = random.randint(10000, max(10001, lo - 1))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    break
else:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
print(port)'
}

# wait_until SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			return 1
		fi
		sleep 0.1
	done
	return 0
}

require_root() {
	[ "$(id -u)" -eq 0 ] || skip_all "root not available: run the tests as root"
}

# require_cmd CMD PACKAGE: skip unless CMD is on PATH.
require_cmd() {
	command -v "$1" >/dev/null 2>&1 ||
		skip_missing "$1" "apt-get install $2"
}

require_root_fuse() {
	require_root
	command -v fusermount3 >/dev/null ||
		skip_missing "FUSE (fusermount3)" "apt-get install fuse3"
	[ -c /dev/fuse ] ||
		skip_missing "FUSE (/dev/fuse)" "modprobe fuse, or give the container --device /dev/fuse"
	: 2>/dev/null <>/dev/fuse ||
		skip_missing "FUSE (a usable /dev/fuse)" "give the container --device /dev/fuse --cap-add SYS_ADMIN"
}

# bfs_has_fault_injection: true if backupfs was configured with
# --enable-fault-injection (read from the build's config.h).
bfs_has_fault_injection() {
	grep -q '^#define BFS_FAULT_INJECTION 1' "$top_builddir/config.h" \
		2>/dev/null
}

# bfs_is_sanitized: true if backupfs is an AddressSanitizer build (clang
# links ASan statically, so ldd shows nothing: look for its symbol).  Its
# shadow memory and the quarantine of freed buffers make peak-RSS bounds
# meaningless there; tests skip those checks (the plain build runs them).
bfs_is_sanitized() {
	grep -qa __asan_init "$BACKUPFS"
}

# first_backup_peak_kb DIR: peak RSS (KiB, getrusage of the child) of a
# first backup of DIR ("files=DIR") into a fresh repository with 1 MiB
# packs and index objects every 64 KiB (so that a few thousand files
# already exercise the writer's bounded sets).  Uses $T/rss-*.
first_backup_peak_kb() {
	local r=$T/rss-repo
	rm -rf "$r" "$T/rss-cat.db"
	bfs init -q "$r" >/dev/null || return 1
	sed -i 's/"pack_size":[0-9]*/"pack_size":1048576/' "$r/config"
	BFS_INDEX_OBJ_BYTES=65536 "$BFS_PYTHON" - "$BACKUPFS" "$r" "$T/rss-cat.db" "$1" <<'PY'
import os, sys
b, r, c, d = sys.argv[1:]
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(b, [b, "backup", "-q", "-r", r, "--catalog", c, "--id", "b1",
                 "--files", "files=" + d])
_, status, ru = os.wait4(pid, 0)
if status != 0:
    sys.exit(1)
print(ru.ru_maxrss)
PY
}

# db_value DB SQL: the first column of SQL's first row in the SQLite file
# DB (a catalog), "" when there is no row
db_value() {
	"$BFS_PYTHON" - "$1" "$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
r = db.execute(sys.argv[2]).fetchone()
print("" if r is None else r[0])
PY
}

# strace_opened LOG SRC: SRC-relative paths of the regular files a backup
# traced with `strace -f -y -e trace=openat -o LOG` opened (the returned
# descriptor shows the path), sorted, one per line.  A call another
# thread's traced call interrupted is logged in two lines, "PID
# openat(... O_DIRECTORY <unfinished ...>" and "PID <... openat resumed>)
# = FD<PATH>": they are joined first, so that a directory's open is known
# as one.
strace_opened() {
	awk '{ pid = $1 }
	/ <unfinished \.\.\.>$/ {
		sub(/ <unfinished \.\.\.>$/, ""); part[pid] = $0; next
	}
	/^[0-9]+ <\.\.\. [a-z0-9_]+ resumed>/ {
		rest = $0; sub(/^[0-9]+ <\.\.\. [a-z0-9_]+ resumed>/, "", rest)
		print part[pid] rest; delete part[pid]; next
	}
	{ print }' "$1" | grep -v O_DIRECTORY | grep -o "= [0-9]*<$2/[^>]*>" |
		sed "s|^= [0-9]*<$2/||; s|>\$||" | sort -u |
		while IFS= read -r p; do
			# a directory whose open the join above let through
			# (once, in t0818 on a fast machine: "race" among the
			# files) is still no file
			[ -d "$2/$p" ] || printf '%s\n' "$p"
		done
}

# flip_byte FILE OFFSET [MASK]: xor the byte at OFFSET with MASK (default
# 0xff) in place; twice with the same mask restores it.
flip_byte() {
	"$BFS_PYTHON" - "$1" "$2" "${3:-0xff}" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ int(sys.argv[3], 0)]))
PY
}

# require_fault_injection: skip unless BACKUPFS_FAULT works in this build.
require_fault_injection() {
	bfs_has_fault_injection ||
		skip_all "fault injection (BACKUPFS_FAULT) not in this build: ./configure --enable-fault-injection (scripts/test does)"
}

_bfs_datasets_how="put pagila/ and sakila/ in tests/datasets or set BFS_DATASETS"
_bfs_datasets() {
	local d
	for d in ${BFS_DATASETS:+"$BFS_DATASETS"} "$top_srcdir/tests/datasets"; do
		if [ -d "$d/pagila" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

_rand_hex() {
	od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

# ---------------------------------------------------------------- PostgreSQL

_pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ]; then
			echo "$d"
			return 0
		fi
	done
	d=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")
	[ -x "$d/initdb" ] && echo "$d"
}

_pg_as() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# start_postgres: a throwaway cluster on a free port, data in $T/pg.
# Exports PGHOST PGPORT PGUSER PGPASSFILE PG_PASSWORD; the server's
# binaries are put first on PATH (psql, pg_dump, createdb of that version).
start_postgres() {
	local bindir dir port pw i
	bindir=$(_pg_bindir) ||
		skip_missing PostgreSQL "apt-get install postgresql"
	[ -n "$bindir" ] || skip_missing PostgreSQL "apt-get install postgresql"
	dir=$T/pg
	mkdir -p "$dir"
	pw="Pg-$(_rand_hex 8)-s3cret"
	(umask 077 && printf '%s\n' "$pw" >"$dir/pwfile")
	if [ "$(id -u)" -eq 0 ]; then
		chown -R postgres: "$dir"
	fi
	if ! _pg_as "$bindir/initdb" -D "$dir/data" -U postgres \
		--pwfile="$dir/pwfile" --auth-local=trust \
		--auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
		>"$dir/initdb.log" 2>&1; then
		diag "$(tail -n 30 "$dir/initdb.log")"
		bail_out "initdb failed"
	fi
	rm -f "$dir/pwfile"
	for i in 1 2 3 4 5; do
		port=$(free_port)
		if _pg_as "$bindir/pg_ctl" -D "$dir/data" -w -t 60 \
			-l "$dir/server.log" \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
			start >"$dir/pg_ctl.log" 2>&1; then
			break
		fi
		port=
	done
	if [ -z "$port" ]; then
		diag "$(tail -n 30 "$dir/server.log" 2>/dev/null)"
		bail_out "cannot start PostgreSQL"
	fi
	at_exit "_pg_as '$bindir/pg_ctl' -D '$dir/data' -m fast -w -t 30 stop"
	export PATH="$bindir:$PATH"
	export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
	export PG_PASSWORD=$pw
	export PGPASSFILE=$T/pgpass
	(umask 077 && printf '127.0.0.1:%s:*:postgres:%s\n' "$port" "$pw" \
		>"$PGPASSFILE")
	export PG_BINDIR=$bindir
	wait_until 30 psql -X -d postgres -Atc 'select 1' ||
		bail_out "PostgreSQL does not answer"
}

# pg_uri DB: postgresql:// URI with the password (for --pg-dump tests).
pg_uri() {
	printf 'postgresql://postgres:%s@127.0.0.1:%s/%s\n' \
		"$PG_PASSWORD" "$PGPORT" "$1"
}

# load_pagila DB: createdb DB and load the pagila schema and data (bails
# out on failure; skips without the datasets).
load_pagila() {
	local db=$1 ds
	ds=$(_bfs_datasets) || skip_missing "datasets (pagila)" "$_bfs_datasets_how"
	createdb "$db" >"$T/load-$db.log" 2>&1 &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$ds/pagila/pagila-schema.sql" \
		>>"$T/load-$db.log" 2>&1 &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$ds/pagila/pagila-data.sql" \
		>>"$T/load-$db.log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ]; then
		diag "$(tail -n 30 "$T/load-$db.log")"
		bail_out "cannot load pagila into $db"
	fi
}

# orders_table DB: create database DB holding an empty table "orders",
# the generated orders of the delta tests and of issue 12's bench dataset
# (scripts/lib-orders.sh).  orders_gen DB FROM TO: its rows FROM..TO, the
# same every time.  Both return psql's status.
orders_table() {
	createdb "$1" &&
	psql -X -q -d "$1" -c "create table orders (id bigint primary key,
		customer int, placed timestamptz, status text,
		amount numeric(10,2), address text, note text)"
}
orders_gen() {
	psql -X -q -d "$1" -c "insert into orders select g, g % 7919,
		timestamptz '2021-01-01' + g * interval '61 seconds',
		(array['new','paid','shipped','returned'])[g % 4 + 1],
		(g * 7907 % 1000000) / 100.0,
		(g % 9973) || ' ' || (array['Main St','Oak Ave','Elm Rd','Pine Ln'])[g % 4 + 1] || ', ' || (array['Berlin','Paris','Lyon','Porto','Turin'])[g % 5 + 1],
		'order ' || g || ' of customer ' || (g % 7919) || ': ' || md5(g::text)
		from generate_series($2::bigint, $3) g"
}

# pg_table_digest DB: "schema.table count md5" per table (sorted rows).
pg_table_digest() {
	local db=$1 t
	psql -X -At -d "$db" -c "
		select quote_ident(n.nspname) || '.' || quote_ident(c.relname)
		from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where c.relkind in ('r', 'p')
		  and n.nspname not in ('pg_catalog', 'information_schema')
		  and n.nspname not like 'pg_toast%'
		order by 1" |
	while IFS= read -r t; do
		printf '%s %s\n' "$t" "$(psql -X -At -d "$db" -c "
			select count(*) || ' ' || coalesce(md5(string_agg(x, E'\n'
				order by x collate \"C\")), '-')
			from (select r::text as x from $t r) s")"
	done
}

# ---------------------------------------------------------------- MariaDB

# start_mariadb: a throwaway server on a free port, data in $T/my.
# Exports MYSQL_HOST MYSQL_PORT MYSQL_SOCKET MYSQL_ROOT_PASSWORD and
# MY_CNF (0600 client option file with the root password).
start_mariadb() {
	local dir port pw i pid
	command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] ||
		skip_missing MariaDB "apt-get install mariadb-server mariadb-client"
	command -v mariadb >/dev/null ||
		skip_missing "MariaDB client" "apt-get install mariadb-client"
	dir=$T/my
	mkdir -p "$dir"
	if ! mariadb-install-db --no-defaults --datadir="$dir/data" \
		--user="$(id -un)" --auth-root-authentication-method=normal \
		--skip-test-db >"$dir/install.log" 2>&1; then
		diag "$(tail -n 30 "$dir/install.log")"
		bail_out "mariadb-install-db failed"
	fi
	pw="My-$(_rand_hex 8)-s3cret"
	for i in 1 2 3 4 5; do
		port=$(free_port)
		PATH=/usr/sbin:$PATH mariadbd --no-defaults --datadir="$dir/data" \
			--user="$(id -un)" --bind-address=127.0.0.1 --port="$port" \
			--socket="$dir/sock" --pid-file="$dir/pid" \
			--skip-name-resolve \
			--character-set-server=utf8mb4 \
			--collation-server=utf8mb4_unicode_ci \
			--innodb-flush-log-at-trx-commit=0 \
			--innodb-doublewrite=0 \
			--log-error="$dir/error.log" </dev/null >/dev/null 2>&1 &
		pid=$!
		if wait_until 60 mariadb-admin --no-defaults -S "$dir/sock" -u root ping; then
			break
		fi
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		pid=
	done
	if [ -z "$pid" ]; then
		diag "$(tail -n 30 "$dir/error.log" 2>/dev/null)"
		bail_out "cannot start MariaDB"
	fi
	at_exit "kill $pid; for _i in \$(seq 300); do kill -0 $pid || break; sleep 0.1; done; kill -9 $pid; wait $pid"
	if ! mariadb --no-defaults -S "$dir/sock" -u root >"$dir/setup.log" 2>&1 <<EOF
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';
FLUSH PRIVILEGES;
EOF
	then
		diag "$(cat "$dir/setup.log")"
		bail_out "cannot set the MariaDB root password"
	fi
	export MYSQL_HOST=127.0.0.1 MYSQL_PORT=$port MYSQL_SOCKET=$dir/sock
	export MYSQL_ROOT_PASSWORD=$pw
	export MY_CNF=$dir/client.cnf
	(umask 077 && cat >"$MY_CNF" <<EOF
[client]
user=root
password=$pw
host=127.0.0.1
port=$port
default-character-set=utf8mb4
EOF
	)
}

# my ARGS...: the mariadb client as root (password from a 0600 file).
my() {
	mariadb --defaults-extra-file="$MY_CNF" "$@"
}

# my_dump ARGS...: mariadb-dump as root (password from a 0600 file).
my_dump() {
	mariadb-dump --defaults-extra-file="$MY_CNF" "$@"
}

# my_uri DB: mysql:// URI with the password (for --mysql-dump tests).
my_uri() {
	printf 'mysql://root:%s@127.0.0.1:%s/%s\n' \
		"$MYSQL_ROOT_PASSWORD" "$MYSQL_PORT" "$1"
}

# load_sakila: create and load the database `sakila` (bails out on
# failure; skips without the datasets).
load_sakila() {
	local ds
	ds=$(_bfs_datasets) || skip_missing "datasets (sakila)" "$_bfs_datasets_how"
	my <"$ds/sakila/sakila-mv-schema.sql" >"$T/load-sakila.log" 2>&1 &&
	my sakila <"$ds/sakila/sakila-mv-data.sql" >>"$T/load-sakila.log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ]; then
		diag "$(tail -n 30 "$T/load-sakila.log")"
		bail_out "cannot load sakila"
	fi
}

# my_table_digest DB: "table count md5" per base table (sorted rows).
my_table_digest() {
	local db=$1 t
	my -N -B -e "select table_name from information_schema.tables
		where table_schema = '$db' and table_type = 'BASE TABLE'
		order by table_name" |
	while IFS= read -r t; do
		# backticks in a name are doubled inside a quoted identifier
		my -N -B -e "select * from \`$db\`.\`${t//\`/\`\`}\`" >"$T/.digest" || {
			echo "$t ERROR"
			continue
		}
		printf '%s %s %s\n' "$t" "$(wc -l <"$T/.digest")" \
			"$(LC_ALL=C sort "$T/.digest" | md5sum | cut -d' ' -f1)"
	done
	rm -f "$T/.digest"
}

# my_object_counts DB: "tables N", "views N", "routines N", "triggers N",
# "events N" lines.
my_object_counts() {
	local db=$1
	my -N -B -e "
	select 'tables', count(*) from information_schema.tables
		where table_schema = '$db' and table_type = 'BASE TABLE';
	select 'views', count(*) from information_schema.views
		where table_schema = '$db';
	select 'routines', count(*) from information_schema.routines
		where routine_schema = '$db';
	select 'triggers', count(*) from information_schema.triggers
		where trigger_schema = '$db';
	select 'events', count(*) from information_schema.events
		where event_schema = '$db';" | tr '\t' ' '
}

# ---------------------------------------------------------------- trees

# make_awkward_tree DIR: DIR must not exist or be empty.  Bails out on
# failure.  BFS_BIG=1 makes the many-entries directory 100k entries (else
# 2000).
make_awkward_tree() {
	mkdir -p "$1"
	_make_awkward_tree "$1" || bail_out "cannot create the awkward tree"
}

_make_awkward_tree() {
	"$BFS_PYTHON" - "$1" "${BFS_BIG:-0}" <<'PY'
import os, sys, stat, pwd, grp

root = os.fsencode(sys.argv[1])
big = sys.argv[2] == "1"
is_root = os.geteuid() == 0
NS = 10**9

def p(*parts):
    return os.path.join(root, *[x if isinstance(x, bytes) else x.encode() for x in parts])

def write(path, data=b"", mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)

def ts(s, ns=0):
    # epoch seconds + nanoseconds -> ns
    return s * NS + ns

# regular files
write(p("empty"))
write(p("hello.txt"), b"hello, world\n")
write(p("no-newline"), b"no newline at the end")
write(p("random-5M.bin"), os.urandom(5 * 1024 * 1024))
text = b"".join(b"line %06d: the quick brown fox jumps over the lazy dog\n" % i
                for i in range(20000))
write(p("compressible.txt"), text)
# sparse: 64 MiB with a little data in the middle and at the end
with open(p("sparse.img"), "wb") as f:
    f.truncate(64 * 1024 * 1024)
    f.seek(10 * 1024 * 1024)
    f.write(b"data in the middle of a hole\n" * 10)
    f.seek(64 * 1024 * 1024 - 4096)
    f.write(b"E" * 4096)
# directories
os.makedirs(p("dir", "sub", "subsub"))
os.mkdir(p("empty-dir"))
write(p("dir", "a.txt"), b"a\n")
write(p("dir", "sub", "b.txt"), b"b\n" * 1000)
write(p("dir", "sub", "subsub", "c.txt"), b"c\n")
# symlinks
os.symlink(b"hello.txt", p("link-rel"))
os.symlink(b"../hello.txt", p("dir", "link-up"))
os.symlink(b"does/not/exist", p("link-dangling"))
os.symlink(b"/etc/hostname", p("link-abs"))
os.symlink(b"dir/sub", p("link-to-dir"))
os.symlink(b"x" * 1000, p("link-long-target"))
# hardlinks: 3 links to one file
write(p("hard1"), b"one inode, three names\n")
os.link(p("hard1"), p("hard2"))
os.link(p("hard1"), p("dir", "hard3"))
# names
names = [b"with space", b"new\nline", b"tab\there", b"\xff\xfe",
         b"latin1-\xe9t\xe9", "utf8-h\u00e9llo-\u65e5\u672c-\U0001F600".encode(),
         b"-rf", b"*", b"?", b"back\\slash", b".hidden", b"...",
         b"quote'\"", b"semi;colon", b"dollar$HOME", b" leading-space",
         b"trailing-space ", b"a" * 255]
os.mkdir(p("names"))
for i, n in enumerate(names):
    write(os.path.join(p("names"), n), b"name %d\n" % i)
os.mkdir(os.path.join(p("names"), b"dir with \xff byte"))
write(os.path.join(p("names"), b"dir with \xff byte", b"inner \n file"), b"inner\n")
# fifo
os.mkfifo(p("fifo"))
# modes
write(p("mode-0000"), b"nobody may read me\n", 0o000)
write(p("mode-0755-exec"), b"#!/bin/sh\necho hi\n", 0o755)
write(p("mode-0600"), b"secret\n", 0o600)
write(p("setuid"), b"setuid\n", 0o4755)
write(p("setgid"), b"setgid\n", 0o2755)
os.mkdir(p("setgid-dir"))
write(p("setgid-dir", "f"), b"f\n")
os.chmod(p("setgid-dir"), 0o2775)
os.mkdir(p("sticky-dir"))
write(p("sticky-dir", "f"), b"f\n")
os.chmod(p("sticky-dir"), 0o1777)
os.mkdir(p("readonly-dir"))
write(p("readonly-dir", "f"), b"in a read-only dir\n", 0o444)
# owners
if is_root:
    write(p("owned-1234"), b"owned by 1234:5678\n")
    os.chown(p("owned-1234"), 1234, 5678)
    try:
        nob = pwd.getpwnam("nobody")
        nobuid = nob.pw_uid
        try:
            nobgid = grp.getgrnam("nogroup").gr_gid
        except KeyError:
            nobgid = nob.pw_gid
    except KeyError:
        nobuid, nobgid = 65534, 65534
    write(p("owned-nobody"), b"owned by nobody\n")
    os.chown(p("owned-nobody"), nobuid, nobgid)
    os.mkdir(p("dir-owned-4321"))
    write(p("dir-owned-4321", "f"), b"f\n")
    os.chown(p("dir-owned-4321", "f"), 4321, 4321)
    os.chown(p("dir-owned-4321"), 4321, 8765)
    os.lchown(p("link-rel"), 1234, 5678)
# deep tree: depth 100, total path length > 4096 (built with relative names)
os.mkdir(p("deep"))
fd = os.open(p("deep"), os.O_RDONLY | os.O_DIRECTORY)
comp = b"d" * 50
for i in range(100):
    os.mkdir(comp, dir_fd=fd)
    nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
ffd = os.open(b"bottom.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
os.write(ffd, b"at the bottom of a deep tree\n")
os.close(ffd)
os.close(fd)
# many entries
os.mkdir(p("many"))
n = 100000 if big else 2000
for i in range(n):
    fd = os.open(os.path.join(p("many"), b"f%06d" % i), os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"%d\n" % i)
    os.close(fd)

# mtimes to the nanosecond, everything, deepest first (dirs after content)
base = ts(981173106, 123456789)   # 2001-02-03 04:05:06.123456789 UTC
special = {
    b"hello.txt": ts(0, 0),                       # the epoch
    b"no-newline": ts(4102444800, 999999999),     # 2100-01-01
    b"empty": ts(-1, 500000000),                  # before 1970
    b"compressible.txt": ts(1700000000, 1),
}
i = 0
for dirpath, dirnames, filenames, dfd in os.fwalk(root, topdown=False):
    for name in filenames + dirnames:
        nb = os.fsencode(name)
        t = special.get(nb) if dirpath == root else None
        if t is None:
            t = base + i * 1000003
        i += 1
        os.utime(nb, ns=(t, t), dir_fd=dfd, follow_symlinks=False)
os.utime(root, ns=(base, base))
PY
}

# compare_trees A B: print differences (to stderr) and fail if any:
# type, content, mode, uid, gid, mtime (ns), symlink target, hardlink
# groups, names.  Atime and ctime are not compared.
# BFS_COMPARE_IGNORE (comma-separated) leaves out some of: mode, uid, gid,
# mtime_ns, mtime_s (compare mtimes to the second only), links (hardlink
# groups), root (the metadata of A and B themselves).
compare_trees() {
	BFS_COMPARE_IGNORE=${BFS_COMPARE_IGNORE:-} "$BFS_PYTHON" - "$1" "$2" <<'PY'
import os, sys, stat, hashlib
IGN = set(x for x in os.environ.get("BFS_COMPARE_IGNORE", "").split(",") if x)

def scan(top):
    top = os.fsencode(top)
    entries = {}
    inodes = {}
    st = os.lstat(top)
    entries[b"."] = desc(st, None, None)
    for dirpath, dirnames, filenames, dfd in os.fwalk(top, topdown=True):
        rel = os.path.relpath(dirpath, top)
        for name in dirnames + filenames:
            path = name if rel == b"." else os.path.join(rel, name)
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            entries[path] = desc(st, name, dfd)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                inodes.setdefault((st.st_dev, st.st_ino), []).append(path)
    groups = sorted(tuple(sorted(g)) for g in inodes.values() if len(g) > 1)
    return entries, groups

def desc(st, name, dfd):
    d = {
        "type": {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
                 stat.S_IFIFO: "fifo", stat.S_IFCHR: "chardev", stat.S_IFBLK: "blockdev",
                 stat.S_IFSOCK: "socket"}.get(stat.S_IFMT(st.st_mode), "?"),
        "mode": oct(stat.S_IMODE(st.st_mode)),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }
    if not stat.S_ISLNK(st.st_mode):
        d["mtime_ns"] = st.st_mtime_ns
    else:
        d["mtime_ns"] = st.st_mtime_ns
        d["target"] = os.readlink(name, dir_fd=dfd) if name is not None else None
        del d["mode"]          # symlink modes are meaningless on Linux
    if "mtime_s" in IGN:
        d["mtime_ns"] = st.st_mtime_ns // 10**9
    for k in ("mode", "uid", "gid", "mtime_ns"):
        if k in IGN:
            d.pop(k, None)
    if stat.S_ISREG(st.st_mode):
        d["size"] = st.st_size
        h = hashlib.sha256()
        fd = os.open(name, os.O_RDONLY, dir_fd=dfd) if name is not None else None
        if fd is not None:
            with os.fdopen(fd, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    h.update(b)
            d["sha256"] = h.hexdigest()
    return d

a, ga = scan(sys.argv[1])
b, gb = scan(sys.argv[2])
if "root" in IGN:
    a.pop(b"."); b.pop(b".")
if "links" in IGN:
    ga = gb = []
out = []
for path in sorted(set(a) | set(b)):
    shown = repr(path)[2:-1]
    if len(shown) > 120:
        shown = shown[:40] + "[...]" + shown[-70:]
    if path not in b:
        out.append("only in A: %s" % shown)
    elif path not in a:
        out.append("only in B: %s" % shown)
    else:
        diffs = []
        for k in sorted(set(a[path]) | set(b[path])):
            va, vb = a[path].get(k), b[path].get(k)
            if va != vb:
                diffs.append("%s A=%r B=%r" % (k, va, vb))
        if diffs:
            out.append("%s: %s" % (shown, "; ".join(diffs)))
if ga != gb:
    out.append("hardlink groups differ: A=%r B=%r" % (ga, gb))
for line in out[:30]:
    print(line, file=sys.stderr)
if len(out) > 30:
    print("... and %d more differing entries" % (len(out) - 30), file=sys.stderr)
sys.exit(1 if out else 0)
PY
}

# ---------------------------------------------------------------- backupfs

# bfs_ids [ARGS...]: the backup ids of `backupfs list --json ARGS` (a
# JSON array of objects), one a line, in the order listed.
bfs_ids() {
	bfs list --json "$@" | jq -r '.[].id'
}

# migrate_crash_cases FIXREPO FROM: `backupfs migrate` of copies of the
# format-FROM repository FIXREPO under injected faults (a failed write of
# the config, a crash before or after it): the config is the old one or
# the new one, a rerun finishes to version 5 with the same id and
# parameters, and the result checks.  Skipped (diag) without fault
# injection in the build.
migrate_crash_cases() {
	local fix=$1 from=$2 r3=$T/migrate-crash spec v what rc
	if ! bfs_has_fault_injection; then
		diag "fault injection not in this build (./configure" \
			"--enable-fault-injection): the crash cases are not run"
		return 0
	fi
	while read -r spec v what; do
		[ "$v" = FROM ] && v=$from
		rm -rf "$r3" && cp -R "$fix" "$r3" && chmod -R u+w "$r3"
		BACKUPFS_FAULT=$spec "$BACKUPFS" migrate -r "$r3" \
			>"$T/mig.out" 2>"$T/mig.err"
		rc=$?
		ok "$([ $rc -ne 0 ]; echo $?)" "$what: migrate fails (rc $rc)"
		is "$(jq .version "$r3/config")" "$v" "$what: config version $v"
		case $what in
		"put fails") like "$(cat "$T/mig.err")" "still format $from" \
			"$what: says it is still format $from" ;;
		"read-back fails") like "$(cat "$T/mig.err")" "written but not verified" \
			"$what: says the config is not verified" ;;
		esac
		ok_cmd "$what: migrate again" bfs migrate -r "$r3"
		is "$(jq .version "$r3/config")" "5" "$what: then version 5"
		is "$(jq -S 'del(.version)' "$r3/config")" \
			"$(jq -S 'del(.version)' "$fix/config")" \
			"$what: same id and parameters"
	done <<'EOF2'
put:key=config:err=EIO FROM put fails
put:key=config:kill=1 FROM killed before the put
get:key=config:every=3:err=EIO 5 read-back fails
get:key=config:every=3:kill=1 5 killed after the put
EOF2
	ok_cmd "a migrated-after-crash repository checks" \
		bfs check -r "$r3" --read-data
}

# migrate_config_only REPO FIXREPO FROM: `backupfs migrate` of the
# format-FROM repository REPO (a copy of FIXREPO) says what it did, makes
# its config version 5 with FIXREPO's id and parameters, and changes no
# other object.
migrate_config_only() {
	local r=$1 fix=$2 from=$3 before
	before=$(cd "$r" && find . -type f ! -name config ! -path './locks/*' |
		LC_ALL=C sort | xargs sha256sum)
	ok_cmd "migrate" bfs migrate -r "$r"
	like "$(cat "$T/stdout")" "is format 5 now \(was $from; no object but the config changed\)" \
		"migrate says what it did"
	is "$(jq .version "$r/config")" "5" "config says version 5"
	is "$(jq -S 'del(.version)' "$r/config")" \
		"$(jq -S 'del(.version)' "$fix/config")" \
		"... with the same id and parameters"
	is "$(cd "$r" && find . -type f ! -name config ! -path './locks/*' |
		LC_ALL=C sort | xargs sha256sum)" "$before" "no other object changed"
}

# small_dump_chunks REPO: give the fresh local repository REPO the dump
# chunker of format 4 (8/32/256 KiB instead of 64/256/1024), for a test
# whose data is laid out for chunks that small (chunks shared across
# backups of a few MB, packs partly live).
small_dump_chunks() {
	sed -i 's/"dump":{"min":[0-9]*,"avg":[0-9]*,"max":[0-9]*}/"dump":{"min":8192,"avg":32768,"max":262144}/' "$1/config" &&
		grep -q '"dump":{"min":8192,"avg":32768,"max":262144}' "$1/config"
}

# pack_files REPO: the pack files of a local repository, sorted.
pack_files() {
	find "$1/packs" -type f 2>/dev/null | sort
}

# pack_bytes REPO: total bytes of the pack files of a local repository.
pack_bytes() {
	find "$1/packs" -type f -printf '%s\n' 2>/dev/null |
		awk '{ s += $1 } END { print s + 0 }'
}

# strip_pg_restrict [FILE...]: a pg_dump without its \restrict/\unrestrict
# lines (pg_dump 15.14+ writes a random key there, so two dumps of the same
# data differ only in them).
strip_pg_restrict() {
	grep -av -E '^\\(un)?restrict ' "$@"
}

# the helpers also work inside `bash -c "..."` (e.g. in ok_cmd pipelines)
export -f bfs my my_dump strip_pg_restrict pg_table_digest my_table_digest \
	my_object_counts _rand_hex 2>/dev/null || true
