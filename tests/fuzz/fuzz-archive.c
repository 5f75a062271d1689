/* fuzz-archive.c - libFuzzer target: the archive source (--archive):
 * the input is the archive file, read by libarchive through
 * source_archive.c (path normalisation, "..", duplicates, hardlinks,
 * symlinks, sizes that lie) into a real backup writer on a memory
 * repository, committed, so that the writer's path and tree code sees
 * every name the archive holds.  An archive that fails does so with a
 * message, never a crash, a hang or a leak.
 * Seeds: tests/corpus/archive/ (tar, tar.gz, zip, cpio, hostile paths).
 * Built by scripts/fuzz; replayed by tests/unit/test-fuzz-archive. */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/source.h"
#include "src/writer.h"
#include "tests/fuzz/memstore.h"

static char dir[64];
static char file[96];
static char arg[128];

static void cleanup(void)
{
	unlink(file);
	rmdir(dir);
}

static int setup(void)
{
	const char *tmp = getenv("TMPDIR");

	if (dir[0])
		return 0;
	snprintf(dir, sizeof(dir), "%s/bfs-fuzz-archive.XXXXXX",
		 tmp && strlen(tmp) < 30 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(file, sizeof(file), "%s/input", dir);
	snprintf(arg, sizeof(arg), "in=%s", file);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bfs_backup_opts o = {.id = "f1",
				    .host = "fuzz",
				    .threads = 1,
				    .uploads = 1,
				    .time_ns = 1795000000000000000};
	struct bfs_source s = {.kind = BFS_SRC_ARCHIVE, .arg = arg};
	struct bfs_backup_stats st;
	struct bfs_backup *b = NULL;
	struct bfs_repo *r;
	struct bfs_err err;
	bool partial;
	int fd;

	if (setup())
		return 0;
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	if (bfs_write_full(fd, data, size)) {
		close(fd);
		return 0;
	}
	close(fd);
	r = mem_repo();
	if (!r)
		return 0;
	if (bfs_backup_begin(r, NULL, &o, &b, &err))
		goto out;
	err.msg[0] = '\0';
	if (bfs_source_run(b, &s, &err) == 0) {
		if (bfs_backup_commit(b, &st, &partial, &err)) {
			/* a read archive must commit */
			fprintf(stderr, "archive: commit failed: %s\n",
				err.msg);
			abort();
		}
	} else {
		bfs_backup_abort(b);
	}
	/* BFS_FUZZ_VERBOSE=1: what happened to a seed */
	if (getenv("BFS_FUZZ_VERBOSE"))
		fprintf(stderr, "archive: %s\n", err.msg[0] ? err.msg : "ok");
out:
	bfs_repo_close(r);
	return 0;
}
