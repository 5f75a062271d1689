#!/bin/bash
# backupfs copy: local -> S3 -> local gives identical backups (manifests,
# packs and index objects byte for byte, cat and restore outputs); the
# target is initialised as a twin of the source; a second copy transfers
# nothing; copying selected ids (a backup copied after one it shares trees
# and packs with brings only its new packs); --delete-source; a damaged
# pack is refused; faults during a copy.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"

start_s3
L=$T/local
S3=s3://bfs-copy/mirror
L2=$T/local2
S=$T/src

make_awkward_tree "$S"
head -c 12000000 /dev/urandom >"$T/blob"
ok_cmd "init local" bfs init "$L"
ok_cmd "backup b1 to local" bfs backup -r "$L" --id b1 --files "$S" --stdin blob.bin <"$T/blob"
echo "changed" >>"$S/new.txt"
ok_cmd "backup b2 to local" bfs backup -r "$L" --id b2 --files "$S" --stdin blob.bin <"$T/blob"

# ---- local -> S3 (target created as a twin)
ok_cmd "copy local -> S3" bfs copy --from "$L" --to "$S3"
out=$(cat "$T/stdout" "$T/stderr")
like "$out" "2 backups copied" "two backups copied"
like "$out" "initialised" "the target was initialised"
ok_cmd "aws s3 cp of the S3 config" aws_s3 cp s3://bfs-copy/mirror/config "$T/s3config"
is "$(jq -S 'del(.id)' "$T/s3config")" "$(jq -S 'del(.id)' "$L/config")" \
	"S3 config has the local settings (chunking, compression, pack size)"
isnt_id=$( [ "$(jq -r .id "$T/s3config")" != "$(jq -r .id "$L/config")" ]; echo $?)
ok "$isnt_id" "... and its own repository id"
is "$(sed 's/"id":"[0-9a-f]*"//' "$T/s3config")" "$(sed 's/"id":"[0-9a-f]*"//' "$L/config")" \
	"the config is otherwise byte for byte the source's"
for id in b1 b2; do
	ok_cmd "aws s3 cp manifests/$id" aws_s3 cp "s3://bfs-copy/mirror/manifests/$id" "$T/m.$id"
	ok_cmd "manifest $id identical on S3" cmp "$L/manifests/$id" "$T/m.$id"
done
npacks=$(find "$L/packs" -type f | wc -l)
aws_s3 ls --recursive s3://bfs-copy/mirror/packs/ >"$T/s3packs"
is "$(wc -l <"$T/s3packs")" "$npacks" "every pack is on S3"
nidx=$(find "$L/index" -type f | wc -l)
ok "$([ "$nidx" -ge 2 ]; echo $?)" "the source has an index object per backup"
aws_s3 ls --recursive s3://bfs-copy/mirror/index/ >"$T/s3index"
is "$(wc -l <"$T/s3index")" "$nidx" "every index object is on S3"

ok_cmd "second copy local -> S3" bfs copy --from "$L" --to "$S3"
like "$(cat "$T/stdout")" "0 backups copied, 2 already present; 0 packs, 0 B copied" \
	"a second copy transfers nothing"

ok_cmd "list on S3 (own catalog)" bfs list -r "$S3" --catalog "$T/s3.db"
like "$(cat "$T/stdout")" "b1" "S3 lists b1"
ok_cmd "cat from S3" bash -c "\"\$BACKUPFS\" cat -r '$S3' --catalog '$T/s3.db' b2:blob.bin | cmp - '$T/blob'"

# ---- S3 -> local (a fresh directory)
ok_cmd "copy S3 -> local2" bfs copy --from "$S3" --to "$L2"
like "$(cat "$T/stdout")" "2 backups copied" "two backups copied back"
is "$(jq -S 'del(.id)' "$L2/config")" "$(jq -S 'del(.id)' "$L/config")" "same settings after the round trip"
for id in b1 b2; do
	ok_cmd "manifest $id identical after the round trip" cmp "$L/manifests/$id" "$L2/manifests/$id"
done
ok_cmd "same packs after the round trip" diff <(cd "$L" && find packs -type f | sort) <(cd "$L2" && find packs -type f | sort)
ok_cmd "same index objects after the round trip" diff <(cd "$L" && find index -type f | sort) <(cd "$L2" && find index -type f | sort)
ok_cmd "restore b2 from local2" bfs restore -r "$L2" --catalog "$T/l2.db" b2 --target "$T/r2"
ok_cmd "restored tree equals the source" compare_trees "$S" "$T/r2/files"
ok_cmd "restored blob equals the source" cmp "$T/blob" "$T/r2/blob.bin"
ok_cmd "cat b1 from local2 equals cat b1 from local" bash -c \
	"cmp <(\"\$BACKUPFS\" cat -r '$L2' --catalog '$T/l2.db' b1:blob.bin) <(\"\$BACKUPFS\" cat -r '$L' --catalog '$T/l.db' b1:blob.bin)"
ok_cmd "copy S3 -> local2 again" bfs copy --from "$S3" --to "$L2"
like "$(cat "$T/stdout")" "0 packs, 0 B copied" "nothing transferred the second time"

# ---- both repositories stay independent after a copy: a backup of new
# data to S3, then of the same data to local, must not make local depend
# on packs that only S3 has (the catalogs are per repository id).
npacks12=$(find "$L/packs" -type f | wc -l) # b1 and b2's (b3 comes and goes)
head -c 3000000 /dev/urandom >"$T/fresh"
ok_cmd "backup of new data to S3" bfs backup -r "$S3" --id s3only --stdin fresh <"$T/fresh"
ok_cmd "backup of the same data to local" bfs backup -r "$L" --id b3 --stdin fresh <"$T/fresh"
ok_cmd "local b3 reads back (no pack borrowed from S3)" bash -c \
	"\"\$BACKUPFS\" cat -r '$L' --catalog '$T/l3.db' b3:fresh | cmp - '$T/fresh'"
ok_cmd "remove local b3 again" rm "$L/manifests/b3"

# --same-id: the config verbatim
ok_cmd "copy --same-id to local5" bfs copy --same-id --from "$L" --to "$T/local5" b1
ok_cmd "--same-id copies the config byte for byte" cmp "$L/config" "$T/local5/config"

# ---- selected ids, S3 -> S3, --delete-source
ok_cmd "copy b1 only S3 -> S3" bfs copy --from "$S3" --to s3://bfs-copy2/x b1
like "$(cat "$T/stdout")" "1 backups copied" "one backup copied"
ok_cmd "list the S3 copy" bfs list -r s3://bfs-copy2/x --catalog "$T/c2.db"
is "$(bfs_ids -r s3://bfs-copy2/x --catalog "$T/c2.db" | tr '\n' ' ')" "b1 " "only b1 there"
fails_with 1 "copy of a missing id: exit 1" bfs copy --from "$S3" --to s3://bfs-copy2/x nosuch
like "$(cat "$T/stderr")" "no backup 'nosuch'" "missing id named"
npacks=$(find "$L/packs" -type f | wc -l)
aws_s3 ls --recursive s3://bfs-copy2/x/packs/ >"$T/c2packs"
n1=$(wc -l <"$T/c2packs")
ok "$([ "$n1" -ge 1 ] && [ "$n1" -lt "$npacks12" ]; echo $?)" \
	"b1 alone brings its packs ($n1), not b2's new ones ($npacks12 in all)"
ok_cmd "copy --delete-source" bfs copy --from "$L" --to s3://bfs-copy2/x --delete-source
like "$(cat "$T/stdout")" "1 backups copied, 1 already present" "b2 copied, b1 was there"
like "$(cat "$T/stdout")" "; $((npacks12 - n1)) packs, " \
	"only b2's new packs are copied (it shares the rest with b1)"
aws_s3 ls --recursive s3://bfs-copy2/x/packs/ >"$T/c2packs"
is "$(wc -l <"$T/c2packs")" "$npacks12" "now every pack of b1 and b2 is there"
ok "$([ ! -e "$L/manifests/b1" ] && [ ! -e "$L/manifests/b2" ]; echo $?)" "source manifests deleted"
ok "$([ "$(find "$L/packs" -type f | wc -l)" -eq "$npacks" ]; echo $?)" "source packs kept (prune's job)"
is "$(bfs_ids -r s3://bfs-copy2/x --catalog "$T/c2.db" | tr '\n' ' ')" "b1 b2 " "both backups in the S3 copy"

# ---- a damaged pack is refused
L3=$T/local3
ok_cmd "init local3" bfs init "$L3"
ok_cmd "backup to local3" bfs backup -r "$L3" --id d1 --stdin blob.bin <"$T/blob"
p=$(find "$L3/packs" -type f | head -1)
chmod u+w "$p" 2>/dev/null
# the byte's complement (the pack holds random bytes: an 'X' written
# there was already one once in 256 runs, and nothing was damaged)
b=$(od -An -tu1 -j100 -N1 "$p" | tr -d ' ')
printf "\\$(printf '%03o' $((255 - b)))" | dd of="$p" bs=1 seek=100 conv=notrunc 2>/dev/null
fails_with 1 "copy of a damaged pack: exit 1" bfs copy --from "$L3" --to s3://bfs-copy3/y
like "$(cat "$T/stderr")" "damaged|hash" "the error says the pack is damaged"
aws_s3 ls --recursive s3://bfs-copy3/y/ >"$T/c3" 2>&1
unlike "$(cat "$T/c3")" "manifests/d1" "no manifest written for a backup whose pack is damaged"

# ---- faults during a copy
s3_faults 503:every=4 reset:every=9 truncate:every=5:method=GET
ok_cmd "copy S3 -> local4 with faults" bfs copy --from "$S3" --to "$T/local4"
s3_faults
for id in b1 b2; do
	ok_cmd "manifest $id identical after a faulty copy" cmp "$L2/manifests/$id" "$T/local4/manifests/$id"
done
ok_cmd "packs identical after a faulty copy" bash -c \
	"cd '$L2' && for f in \$(find packs -type f); do cmp \"\$f\" '$T/local4/'\"\$f\" || exit 1; done"
ok_cmd "the faulty copy verified every pack it wrote" bash -c \
	"cd '$T/local4' && for f in \$(find packs -type f); do [ \"\$(sha256sum <\"\$f\" | cut -c1-64)\" = \"\$(basename \"\$f\")\" ] || exit 1; done"

done_testing
