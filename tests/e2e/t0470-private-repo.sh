#!/bin/bash
# Private repositories (issue 13 item 1): a local repository is 0700/0600
# whatever the umask, the catalog is a 0600 file in a 0700 directory, the
# pack cache too; another user (nobody) reads neither a pack, a manifest,
# the catalog nor the cache.  `init --group GROUP` shares it read-only: a
# member reads (ls, cat), cannot write; later writes keep the group mode.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
require_root
require_cmd setpriv util-linux

GID=4711 # a group no one is in: setpriv --groups makes the member
as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}
as_member() {
	setpriv --reuid=65534 --regid=65534 --groups=$GID -- "$@"
}
# nobody must reach $T and run the binary
chmod 0711 "$T"
mkdir -p "$T/bin" && cp "$BACKUPFS" "$T/bin/backupfs" && chmod 0755 "$T/bin/backupfs"
NB=$T/bin/backupfs

R=$T/repo
mkdir -p "$T/src"
echo 'DB_ROOT_PASSWORD=hunter2' >"$T/src/.env"
umask 000
ok_cmd "init with umask 000" bfs init "$R"
ok_cmd "backup with umask 000" bfs backup -r "$R" --id b1 --files "app=$T/src" \
	--cache-dir "$T/pcache"
ok_cmd "restore through the pack cache" \
	bfs restore -r "$R" b1:app --to "$T/back" --cache-dir "$T/pcache"
umask 022
is "$(stat -c %a "$R")" "700" "the repository directory is 0700"
is "$(find "$R" -mindepth 1 -type d ! -perm 0700 | wc -l)" "0" "every directory below is 0700"
is "$(find "$R" -type f ! -perm 0600 | wc -l)" "0" "every file is 0600"
ok "$([ "$(find "$R" -type f | wc -l)" -ge 4 ]; echo $?)" "config, pack, index and manifest are there"
cat=$(ls "$XDG_CACHE_HOME"/backupfs/*.db)
is "$(stat -c %a "$XDG_CACHE_HOME/backupfs")" "700" "the catalog directory is 0700"
is "$(stat -c %a "$cat")" "600" "the catalog is 0600"
is "$(find "$XDG_CACHE_HOME/backupfs" -type f ! -perm 0600 | wc -l)" "0" "its -wal and -shm too"
is "$(find "$T/pcache" -type f ! -perm 0600 | wc -l)" "0" "the pack cache files are 0600"
is "$(find "$T/pcache" -type d ! -perm 0700 | wc -l)" "0" "in 0700 directories"

# the other user: open the files themselves, then through backupfs
pack=$(find "$R/packs" -type f | head -n 1)
chmod 0711 "$XDG_CACHE_HOME" "$R" # even with the way open, files stay shut
fails_with 1 "nobody cannot read a pack" as_nobody cat "$pack"
fails_with 1 "nobody cannot read a manifest" as_nobody cat "$R/manifests/b1"
fails_with 1 "nobody cannot read the catalog" as_nobody cat "$cat"
fails_with 1 "nobody cannot read the cache" \
	as_nobody cat "$(find "$T/pcache" -type f | head -n 1)"
chmod 0700 "$XDG_CACHE_HOME" "$R"
fails_with 1 "nobody: backupfs cat of the .env fails" \
	as_nobody env XDG_CACHE_HOME="$T/nc" "$NB" cat -r "$R" b1:app/.env
unlike "$(cat "$T/stdout")" "hunter2" "and shows no secret"

# an older catalog of ours, 0644, is made private on open
chmod 0644 "$cat"
ok_cmd "list" bfs list -r "$R"
is "$(stat -c %a "$cat")" "600" "an older 0644 catalog becomes 0600"

# ---- init --group
G=$T/shared
fails_with 1 "--group with an unknown group name" bfs init --group no-such-grp-xq "$G"
like "$(cat "$T/stderr")" "no group 'no-such-grp-xq'" "says which group"
umask 077
ok_cmd "init --group $GID (umask 077)" bfs init --group $GID "$G"
ok_cmd "backup into it" bfs backup -r "$G" --id g1 --files "app=$T/src"
umask 022
is "$(stat -c %a:%g "$G")" "2750:$GID" "the root is 02750 and belongs to the group"
is "$(find "$G" -mindepth 1 -type d ! -perm 2750 | wc -l)" "0" "directories below are 02750"
is "$(find "$G" -type f ! -perm 0640 | wc -l)" "0" "files are 0640"
is "$(find "$G" ! -group $GID | wc -l)" "0" "everything belongs to the group"
mkdir -p "$T/nc" && chown 65534:65534 "$T/nc"
ok_cmd "a member lists the backups" \
	as_member env XDG_CACHE_HOME="$T/nc" "$NB" list -r "$G"
like "$(cat "$T/stdout")" "g1" "and sees g1"
ok_cmd "a member reads a file" \
	as_member env XDG_CACHE_HOME="$T/nc" "$NB" cat -r "$G" g1:app/.env
is "$(cat "$T/stdout")" "DB_ROOT_PASSWORD=hunter2" "its content"
fails_with 1 "a member cannot back up into it" \
	as_member env XDG_CACHE_HOME="$T/nc" "$NB" backup -r "$G" --id g2 --files "app=$T/src"
like "$(cat "$T/stderr")" "[Pp]ermission denied" "permission denied"
fails_with 1 "nobody else cannot list it" \
	as_nobody env XDG_CACHE_HOME="$T/nc" "$NB" list -r "$G"
# someone else's existing directory we may write into: warn, go on
mkdir -p "$T/common" && chmod 1777 "$T/common"
ok_cmd "init as nobody into root's 1777 directory" \
	as_nobody env XDG_CACHE_HOME="$T/nc" "$NB" init "$T/common"
like "$(cat "$T/stderr")" "cannot make .* private \\(it is not yours\\)" "warns"
is "$(stat -c %a "$T/common/config")" "640" "the config is not world-readable"
fails_with 1 "--group on an S3 location is refused" \
	bfs init --group $GID s3://bucket/x
like "$(cat "$T/stderr")" "local repositories only" "saying why"

done_testing
