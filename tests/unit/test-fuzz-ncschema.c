/* test-fuzz-ncschema.c - replays tests/corpus/ncschema/ through the fuzz
 * target of restore-schema's table payload, tests/fuzz/fuzz-ncschema.c,
 * without libFuzzer: every seed and regression input once, in every build
 * (plain and ASan). */
/* automake: SOURCES tests/fuzz/fuzz-ncschema.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("ncschema", 4);
}
