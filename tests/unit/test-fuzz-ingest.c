/* test-fuzz-ingest.c - replays tests/corpus/ingest/ through the fuzz target of
 * catalog ingest of a manifest and its trees, tests/fuzz/fuzz-ingest.c, without
 * libFuzzer: every seed and regression input once, in every build (plain and
 * ASan). */
/* automake: SOURCES tests/fuzz/fuzz-ingest.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("ingest", 3);
}
