#!/bin/bash
# make-format4.sh - how tests/data/format4/ was made: a small repository
# of format 4 (data deltas and tree parts as delta frames, all on one
# base), written by the last release that made format 4, for
# tests/e2e/t0808-format4.sh (read with this release, written to as
# format 4, migrated to format 5).
#
# It needs a backupfs binary of format 4.  Given as BACKUPFS4 it is used
# as is; else one is built from `git archive main` (main before format 5)
# in a temporary directory (needs the build dependencies):
#   BACKUPFS4=/path/to/backupfs tests/data/make-format4.sh [OUTDIR]
#   tests/data/make-format4.sh [OUTDIR]        (default tests/data/format4)
# The fixture is checked in; run this only to rebuild it.
#
# Contents (uid/gid are those of whoever ran it; mtimes fixed):
#   backup b1: files/ = big/ (400 small files: its tree part is large
#              enough to be stored as a delta next time), dir/sub/deep.txt,
#              empty, small.txt, link -> small.txt; --stdin db.sql
#              (~48 KB of a plain pg_dump: two tables, a dump map "dt")
#   backup b2: small.txt and two files of big/ changed, one added, and
#              one row in every ~40 of db.sql's table changed: its new
#              dump chunks are delta frames on b1's (index type 2 on a
#              type-0 base) and big/'s new tree part a delta frame on
#              b1's (type 2 on a type-1 base)
# OUTDIR/repo is the repository, OUTDIR/expected.sha256 the sha256sum of
# every regular file of each backup (paths BACKUP/PATH).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/format4}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bin=${BACKUPFS4:-}
if [ -z "$bin" ]; then
	top=$(cd "$here/../.." && pwd)
	mkdir "$tmp/main"
	git -C "$top" archive main | tar -x -C "$tmp/main"
	(cd "$tmp/main" && ./autogen.sh >/dev/null && ./configure -q &&
		make -s -j2 backupfs) >&2
	bin=$tmp/main/backupfs
fi

# hdr NAME TYPE: pg_dump's comment above an object
hdr() {
	printf -- '--\n-- Name: %s; Type: %s; Schema: public; Owner: x\n--\n\n' \
		"$1" "$2"
}

# dump N: a plain pg_dump of two tables, rows i of "big" changed when
# i % 40 == N (N 0: none)
dump() {
	printf -- '--\n-- PostgreSQL database dump\n--\n\n'
	printf "SET client_encoding = 'UTF8';\n\n"
	hdr 'big' 'TABLE'
	printf 'CREATE TABLE public.big (id integer NOT NULL, t text);\n\n'
	hdr 'small' 'TABLE'
	printf 'CREATE TABLE public.small (id integer NOT NULL);\n\n'
	hdr 'big' 'TABLE DATA'
	printf 'COPY public.big (id, t) FROM stdin;\n'
	awk -v n="$1" 'BEGIN { for (i = 1; i <= 1500; i++)
		printf "%d\trow %d of the big table, %s\n", i, i * 7919 % 1009,
			(n && i % 40 == n) ? "changed in b2" : "as in b1" }'
	printf '\\.\n\n'
	hdr 'small' 'TABLE DATA'
	printf 'COPY public.small (id) FROM stdin;\n1\n2\n\\.\n\n'
	printf -- '--\n-- PostgreSQL database dump complete\n--\n'
}

rm -rf "$out"
mkdir -p "$out"
src=$tmp/src
mkdir -p "$src/dir/sub" "$src/big"
: >"$src/empty"
printf 'hello, format 4\n' >"$src/small.txt"
printf 'nested\n' >"$src/dir/sub/deep.txt"
for i in $(seq 1 400); do
	printf 'invoice %d of the big directory\n' "$i" >"$src/big/invoice-$i.txt"
done
ln -s small.txt "$src/link"
find "$src" -exec touch -h -d '2024-01-02 03:04:05 UTC' {} +
dump 0 >"$tmp/db.sql"

cat=$tmp/catalog.db
"$bin" init -q --catalog "$cat" "$out/repo"
"$bin" backup -q -r "$out/repo" --catalog "$cat" --id b1 --tag fixture \
	--files "$src" --stdin db.sql <"$tmp/db.sql"

printf 'changed in b2\n' >"$src/small.txt"
printf 'changed in b2\n' >>"$src/big/invoice-17.txt"
printf 'changed in b2\n' >>"$src/big/invoice-300.txt"
printf 'new in b2\n' >"$src/big/invoice-401.txt"
touch -h -d '2024-02-03 04:05:06 UTC' "$src/small.txt" "$src" "$src/big" \
	"$src/big/invoice-17.txt" "$src/big/invoice-300.txt" \
	"$src/big/invoice-401.txt"
dump 7 >"$tmp/db.sql"
"$bin" backup -q -r "$out/repo" --catalog "$cat" --id b2 \
	--files "$src" --stdin db.sql <"$tmp/db.sql"

# what restore must give back
mkdir "$tmp/r"
for b in b1 b2; do
	"$bin" restore -q -r "$out/repo" --catalog "$cat" "$b" --target "$tmp/r/$b"
done
(cd "$tmp/r" && find b1 b2 -type f | LC_ALL=C sort | xargs sha256sum) \
	>"$out/expected.sha256"
rm -rf "$out/repo/locks"
du -sh "$out"
