/* test-fuzz-config.c - replays tests/corpus/config/ through the fuzz target of
 * the repository config parser (bfs_repo_open), tests/fuzz/fuzz-config.c,
 * without libFuzzer: every seed and regression input once, in every build
 * (plain and ASan). */
/* automake: SOURCES tests/fuzz/fuzz-config.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("config", 3);
}
