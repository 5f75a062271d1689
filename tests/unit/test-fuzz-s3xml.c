/* test-fuzz-s3xml.c - replays tests/corpus/s3xml/ through the fuzz target of
 * the S3 answer parsers of s3_util.c, tests/fuzz/fuzz-s3xml.c, without
 * libFuzzer: every seed and regression input once, in every build (plain and
 * ASan). */
/* automake: SOURCES tests/fuzz/fuzz-s3xml.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("s3xml", 3);
}
