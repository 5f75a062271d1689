/* test-fuzz-delta.c - replays tests/corpus/delta/ through the fuzz target
 * of the delta frame decoder, sketches and base lookup,
 * tests/fuzz/fuzz-delta.c, without libFuzzer: every seed and regression
 * input once, in every build (plain and ASan). */
/* automake: SOURCES tests/fuzz/fuzz-delta.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("delta", 4);
}
