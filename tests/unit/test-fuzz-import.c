/* test-fuzz-import.c - replays tests/corpus/import/ through the fuzz target
 * of the import parsers (JSON splitter, seed manifest.json, folder-name
 * times), tests/fuzz/fuzz-import.c, without libFuzzer: every seed and
 * regression input once, in every build (plain and ASan). */
/* automake: SOURCES tests/fuzz/fuzz-import.c tests/fuzz/replay.c */
#include "config.h"

#include "tests/fuzz/replay.h"

int main(void)
{
	return bfs_fuzz_replay("import", 8);
}
