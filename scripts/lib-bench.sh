# shellcheck shell=bash
# scripts/lib-bench.sh - what the benchmark scripts share.  Sourced; the
# caller defines log (its messages) and W (its scratch dir).

# install_missing CMD PACKAGE: make CMD available, installing Debian's
# PACKAGE with apt-get when it is missing (the benches compare backupfs
# with its peers, restic and borg, side by side, so they install them
# rather than skip them).  0, or 1 with a log line when it cannot be
# had (apt-get's output is in $W/apt.PACKAGE.log).
install_missing() {
	command -v "$1" >/dev/null && return 0
	install_package "$2" || return 1
	command -v "$1" >/dev/null || { log "$2 is installed but gives no '$1': skipped"; return 1; }
}

# install_package PACKAGE: install Debian's PACKAGE with apt-get unless
# dpkg has it (for what is not a command: borg mount's FUSE module).
# 0, or 1 with a log line.
install_package() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed' && return 0
	command -v apt-get >/dev/null || { log "$1 missing and no apt-get: skipped"; return 1; }
	log "installing $1 with apt-get"
	{ DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" ||
	  { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1"; }; } \
		>"$W/apt.$1.log" 2>&1
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed' ||
		{ log "cannot install $1 (see $W/apt.$1.log): skipped"; return 1; }
}
