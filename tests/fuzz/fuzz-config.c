/* fuzz-config.c - libFuzzer target: the repository config parser, as
 * bfs_repo_open reaches it (a local repository whose `config` holds the
 * input: the store's read, the size limit, the JSON and every field's
 * check).  An opened repository must hold what the parser promises: a
 * 64-hex id, a known version, valid chunker parameters, a zstd level and
 * a pack size in range.
 * The empty input is in the corpus: it once was undefined behaviour in
 * the local store's read and in parse_config (issue 13 item 6).
 * Built by scripts/fuzz; replayed by tests/unit/test-fuzz-config. */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/chunker.h"
#include "src/format.h"
#include "src/repo.h"

/* One scratch repository directory per process, removed at exit. */
static char dir[64];
static char cfg[96];

static void cleanup(void)
{
	unlink(cfg);
	rmdir(dir);
}

static int setup(void)
{
	const char *tmp = getenv("TMPDIR");

	if (dir[0])
		return 0;
	snprintf(dir, sizeof(dir), "%s/bfs-fuzz-config.XXXXXX",
		 tmp && strlen(tmp) < 30 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bfs_repo *r = NULL;
	struct bfs_err err;
	int fd, p;

	if (setup())
		return 0;
	fd = open(cfg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	if (bfs_write_full(fd, data, size)) {
		close(fd);
		return 0;
	}
	close(fd);
	bfs_repo_accept_format1(size && (data[size / 2] & 1));
	if (bfs_repo_open(dir, NULL, &r, &err) != 0)
		return 0;
	if (!bfs_hex64_valid(r->id) || r->version < BFS_FORMAT_VERSION_1 ||
	    r->version > BFS_FORMAT_VERSION ||
	    r->zstd_level < BFS_ZSTD_LEVEL_MIN ||
	    r->zstd_level > BFS_ZSTD_LEVEL_MAX ||
	    r->pack_target < BFS_PACK_SIZE_MIN ||
	    r->pack_target > BFS_PACK_SIZE_MAX)
		abort();
	for (p = 0; p < BFS_PROFILE_COUNT; p++)
		if (!bfs_chunker_params_valid(&r->chunker[p]))
			abort();
	bfs_repo_close(r);
	return 0;
}
