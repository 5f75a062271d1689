/* test-fuzz-dumpmap.c - replays tests/corpus/dumpmap/ through the fuzz
 * target of the dump scanner and the "dt" map reader,
 * tests/fuzz/fuzz-dumpmap.c, without libFuzzer: every seed and regression
 * input once, in every build (plain and ASan). */
/* automake: SOURCES tests/fuzz/fuzz-dumpmap.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("dumpmap", 4);
}
