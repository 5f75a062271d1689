/* test-fuzz-archive.c - replays tests/corpus/archive/ through the fuzz target
 * of the archive source (libarchive through source_archive.c),
 * tests/fuzz/fuzz-archive.c, without libFuzzer: every seed and regression input
 * once, in every build (plain and ASan). */
/* automake: SOURCES tests/fuzz/fuzz-archive.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("archive", 3);
}
