/* test-fuzz-nocodb.c - replays tests/corpus/nocodb/ through the fuzz target
 * of the NocoDB records scanner, tests/fuzz/fuzz-nocodb.c, without
 * libFuzzer: every seed and regression input once, in every build (plain
 * and ASan). */
/* automake: SOURCES tests/fuzz/fuzz-nocodb.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("nocodb", 3);
}
