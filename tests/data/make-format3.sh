#!/bin/bash
# make-format3.sh - how tests/data/format3/ was made: a small repository
# of format 3 (data deltas, every tree part whole), written by the last
# release that made format 3, for tests/e2e/t0806-format3.sh (read with
# this release, written to as format 3, migrated to format 4).
#
# It needs a backupfs binary of format 3, built from branch main before
# format 4, given as BACKUPFS3:
#   mkdir /tmp/f3 && git archive main | tar -x -C /tmp/f3 &&
#     (cd /tmp/f3 && ./autogen.sh && ./configure -q && make -j2 backupfs)
#   BACKUPFS3=/tmp/f3/backupfs tests/data/make-format3.sh
# The fixture is checked in; run this only to rebuild it:
#
#   tests/data/make-format3.sh [OUTDIR]     (default tests/data/format3)
#
# Contents (uid/gid are those of whoever ran it; mtimes fixed):
#   backup b1: files/ = dir/, dir/sub/deep.txt, dir/a.txt, empty,
#              small.txt, link -> small.txt; --stdin db.sql (~48 KB
#              of a plain pg_dump: two tables, so it gets a dump map,
#              tree key "dt")
#   backup b2: the same with small.txt changed and one row in every
#              ~40 of db.sql's table changed (its new chunks stored as
#              delta frames on b1's: index type 2 on a type-0 base)
# OUTDIR/repo is the repository, OUTDIR/expected.sha256 the sha256sum of
# every regular file of each backup (paths BACKUP/PATH).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${BACKUPFS3:?'set BACKUPFS3 to a backupfs of format 3 (see the top of this file)'}
out=${1:-$here/format3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

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
mkdir -p "$src/dir/sub"
: >"$src/empty"
printf 'hello, format 3\n' >"$src/small.txt"
printf 'nested\n' >"$src/dir/sub/deep.txt"
printf 'in dir\n' >"$src/dir/a.txt"
ln -s small.txt "$src/link"
find "$src" -exec touch -h -d '2024-01-02 03:04:05 UTC' {} +
dump 0 >"$tmp/db.sql"

cat=$tmp/catalog.db
"$bin" init -q --catalog "$cat" "$out/repo"
"$bin" backup -q -r "$out/repo" --catalog "$cat" --id b1 --tag fixture \
	--files "$src" --stdin db.sql <"$tmp/db.sql"

printf 'changed in b2\n' >"$src/small.txt"
touch -h -d '2024-02-03 04:05:06 UTC' "$src/small.txt" "$src"
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
