/* test-fuzz-chunk.c - replays tests/corpus/chunk/ through the fuzz target of
 * the chunk read path (bfs_repo_read_chunk/s, bfs_reader_plan_runs),
 * tests/fuzz/fuzz-chunk.c, without libFuzzer: every seed and regression input
 * once, in every build (plain and ASan). */
/* automake: SOURCES tests/fuzz/fuzz-chunk.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("chunk", 3);
}
