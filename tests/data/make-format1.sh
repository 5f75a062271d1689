#!/bin/bash
# make-format1.sh - how tests/data/format1/ was made: a small repository
# of format 1 (before content-addressed trees), for 'backupfs migrate'
# (tests/e2e/t0070-migrate.sh, tests/unit/test-migrate.c).
#
# It needs a backupfs binary that still writes format 1, built from the
# last commit before format 2 (93c396b), given as BACKUPFS1:
#   git worktree add /tmp/f1 93c396b && (cd /tmp/f1 && ./autogen.sh &&
#     ./configure -q && make -j2 backupfs)
#   BACKUPFS1=/tmp/f1/backupfs tests/data/make-format1.sh
# The fixture is checked in; run this only to rebuild it:
#
#   tests/data/make-format1.sh [OUTDIR]     (default tests/data/format1)
#
# Contents (uid/gid are those of whoever ran it; mtimes fixed):
#   backup b1: files/ = dir/, dir/sub/, empty, small.txt, big.bin (5 MiB of
#              zeros: two chunks), link -> small.txt, hard1 + hard2 (one
#              inode), fifo
#   backup b2: the same tree with small.txt changed and new.txt added, plus
#              --stdin dump.sql (~870 KB of text: many small chunks)
# OUTDIR/repo is the repository, OUTDIR/expected.sha256 the sha256sum of
# every regular file of each backup (paths BACKUP/PATH).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${BACKUPFS1:?'set BACKUPFS1 to a backupfs of format 1 (see the top of this file)'}
out=${1:-$here/format1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rm -rf "$out"
mkdir -p "$out"
src=$tmp/src
mkdir -p "$src/dir/sub"
: >"$src/empty"
printf 'hello, format 1\n' >"$src/small.txt"
head -c $((5 << 20)) /dev/zero >"$src/big.bin"
printf 'nested\n' >"$src/dir/sub/deep.txt"
printf 'in dir\n' >"$src/dir/a.txt"
ln -s small.txt "$src/link"
printf 'two names\n' >"$src/hard1"
ln "$src/hard1" "$src/hard2"
mkfifo "$src/fifo"
find "$src" -exec touch -h -d '2024-01-02 03:04:05 UTC' {} +

cat=$tmp/catalog.db
"$bin" init -q --catalog "$cat" "$out/repo"
"$bin" backup -q -r "$out/repo" --catalog "$cat" --id b1 --tag fixture \
	--files "$src"

printf 'changed in b2\n' >"$src/small.txt"
printf 'new in b2\n' >"$src/new.txt"
touch -h -d '2024-02-03 04:05:06 UTC' "$src/small.txt" "$src/new.txt" "$src"
seq 1 30000 | sed 's/^/INSERT INTO t VALUES (/; s/$/);/' >"$tmp/dump.sql"
"$bin" backup -q -r "$out/repo" --catalog "$cat" --id b2 \
	--files "$src" --stdin dump.sql <"$tmp/dump.sql"

# what restore must give back
mkdir "$tmp/r"
for b in b1 b2; do
	"$bin" restore -q -r "$out/repo" --catalog "$cat" "$b" --target "$tmp/r/$b"
done
(cd "$tmp/r" && find b1 b2 -type f | LC_ALL=C sort | xargs sha256sum) \
	>"$out/expected.sha256"
rm -rf "$out/repo/locks"
du -sh "$out"
