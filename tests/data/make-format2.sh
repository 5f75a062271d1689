#!/bin/bash
# make-format2.sh - how tests/data/format2/ was made: a small repository
# of format 2 (before delta frames), written by the last release that
# wrote format 2, for tests/e2e/t0702-delta-format2.sh (read with this
# release, written to as format 2, migrated to format 3).
#
# It needs a backupfs binary of format 2, built from branch s10 (the
# last commit before format 3), given as BACKUPFS2:
#   mkdir /tmp/f2 && git archive s10 | tar -x -C /tmp/f2 &&
#     (cd /tmp/f2 && ./autogen.sh && ./configure -q && make -j2 backupfs)
#   BACKUPFS2=/tmp/f2/backupfs tests/data/make-format2.sh
# The fixture is checked in; run this only to rebuild it:
#
#   tests/data/make-format2.sh [OUTDIR]     (default tests/data/format2)
#
# Contents (uid/gid are those of whoever ran it; mtimes fixed):
#   backup b1: files/ = dir/, dir/sub/, empty, small.txt, big.bin (3 MiB of
#              zeros), link -> small.txt, hard1 + hard2 (one inode), fifo;
#              --stdin dump.sql (~600 KB of INSERT lines: many chunks of
#              the dump profile)
#   backup b2: the same with small.txt changed, new.txt added and every
#              100th line of dump.sql changed
# OUTDIR/repo is the repository, OUTDIR/expected.sha256 the sha256sum of
# every regular file of each backup (paths BACKUP/PATH).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${BACKUPFS2:?'set BACKUPFS2 to a backupfs of format 2 (see the top of this file)'}
out=${1:-$here/format2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rm -rf "$out"
mkdir -p "$out"
src=$tmp/src
mkdir -p "$src/dir/sub"
: >"$src/empty"
printf 'hello, format 2\n' >"$src/small.txt"
head -c $((3 << 20)) /dev/zero >"$src/big.bin"
printf 'nested\n' >"$src/dir/sub/deep.txt"
printf 'in dir\n' >"$src/dir/a.txt"
ln -s small.txt "$src/link"
printf 'two names\n' >"$src/hard1"
ln "$src/hard1" "$src/hard2"
mkfifo "$src/fifo"
find "$src" -exec touch -h -d '2024-01-02 03:04:05 UTC' {} +
seq 1 20000 | sed 's/.*/INSERT INTO t VALUES (&, '"'"'row &'"'"');/' \
	>"$tmp/dump.sql"

cat=$tmp/catalog.db
"$bin" init -q --catalog "$cat" "$out/repo"
"$bin" backup -q -r "$out/repo" --catalog "$cat" --id b1 --tag fixture \
	--files "$src" --stdin dump.sql <"$tmp/dump.sql"

printf 'changed in b2\n' >"$src/small.txt"
printf 'new in b2\n' >"$src/new.txt"
touch -h -d '2024-02-03 04:05:06 UTC' "$src/small.txt" "$src/new.txt" "$src"
sed -i '0~100s/row/changed row/' "$tmp/dump.sql"
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
