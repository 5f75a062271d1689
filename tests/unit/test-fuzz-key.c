/* test-fuzz-key.c - replays tests/corpus/key/ through the fuzz target of
 * the key object parser (bfs_crypt_unwrap), tests/fuzz/fuzz-key.c,
 * without libFuzzer: every seed and regression input once, in every build
 * (plain and ASan). */
/* automake: SOURCES tests/fuzz/fuzz-key.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("key", 4);
}
