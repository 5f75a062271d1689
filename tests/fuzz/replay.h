/* replay.h - run a fuzz target's corpus without libFuzzer: the unit tests
 * tests/unit/test-fuzz-<target> link one target (tests/fuzz/fuzz-*.c)
 * with replay.c and call bfs_fuzz_replay, so that every build (plain and
 * ASan) checks each seed and regression input once. */
#ifndef BFS_FUZZ_REPLAY_H
#define BFS_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feed every file of $top_srcdir/tests/corpus/<target>/ (and <target>-good/,
 * <target>-bad/ when present) to LLVMFuzzerTestOneInput, one TAP line
 * each; a crash or a sanitizer report ends the test.  min is the number of
 * inputs the corpus must at least hold.  Returns the exit status
 * (tap_done). */
int bfs_fuzz_replay(const char *target, int min);

#endif
