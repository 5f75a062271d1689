#!/bin/bash
# --cache-dir: pack ranges fetched from S3 are kept on disk, so a second
# read does not go to S3 (proved by making every pack GET fail afterwards),
# and the cache stays within --cache-dir-size.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/lib-s3.sh"

start_s3
R=s3://bfs-cache/repo
head -c $((6 << 20)) /dev/urandom > "$T/blob"
seq 1 300000 > "$T/small.txt"

ok_cmd "init on S3" bfs init "$R"
ok_cmd "backup to S3" bfs backup -r "$R" --id c1 --files "data=$T"
ok_cmd "cat with a cache dir fills the cache" \
	bash -c "'$BACKUPFS' cat -r '$R' --cache-dir '$T/cache' c1:data/blob > '$T/out1'"
ok_cmd "first read is right" cmp "$T/blob" "$T/out1"
used=$(du -sb "$T/cache" | cut -f1)
ok $([ "$used" -ge $((1 << 20)) ] && echo 0 || echo 1) "the cache holds the fetched ranges ($used bytes)"

# From now on every GET of a pack fails at the server.
export BACKUPFS_S3_RETRY_SECONDS=2
s3_faults "500:path=/packs/"
fails_with 1 "without the cache, the pack GET fails" \
	bfs cat -r "$R" c1:data/blob
ok_cmd "with the cache, the second read does not need S3" \
	bash -c "'$BACKUPFS' cat -r '$R' --cache-dir '$T/cache' c1:data/blob > '$T/out2'"
ok_cmd "cached bytes are right" cmp "$T/blob" "$T/out2"
s3_faults ""

ok_cmd "a bounded cache" \
	bash -c "'$BACKUPFS' cat -r '$R' --cache-dir '$T/small' --cache-dir-size 2M c1:data/blob > '$T/out3'"
ok_cmd "bounded cache read is right" cmp "$T/blob" "$T/out3"
used=$(du -sb "$T/small" | cut -f1)
ok $([ "$used" -le $(((2 << 20) + 65536)) ] && echo 0 || echo 1) "the cache stays within its 2 MiB bound ($used bytes)"
fails_with 2 "an invalid --cache-dir-size is a usage error" \
	bfs cat -r "$R" --cache-dir "$T/x" --cache-dir-size lots c1:data/blob
done_testing
