/* source_stdin.c - --stdin PATH: standard input as the file PATH. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source_int.h"

static int stdin_dest(const struct bfs_source *s, char **dest,
		      struct bfs_err *err)
{
	if (!bfs_manifest_path_valid(s->arg, strlen(s->arg)))
		return bfs_err_set(err, -EINVAL,
				   "invalid path '%s' for --stdin", s->arg);
	*dest = strdup(s->arg);
	return *dest ? 0 : bfs_err_set(err, -ENOMEM, "out of memory");
}

static int run_stdin(struct bfs_backup *b, const struct bfs_source *s,
		     struct bfs_err *err)
{
	struct bfs_entry e;
	char *dest = NULL;
	int fd, rc;

	rc = stdin_dest(s, &dest, err);
	if (rc)
		return rc;
	rc = src_add(b, "stdin", dest, "-", err);
	if (!rc) {
		fd = dup(0);
		if (fd < 0)
			rc = bfs_err_set(err, -errno, "cannot read stdin: %s",
					 strerror(errno));
		else {
			src_dump_entry(b, &e, dest, s->dump_mode);
			rc = src_stream_fd(b, &e, fd, 0, "stdin", err);
		}
	}
	free(dest);
	return rc;
}

const struct bfs_source_type bfs_source_type_stdin = {
    .kind = BFS_SRC_STDIN,
    .name = "stdin",
    .dest = stdin_dest,
    .run = run_stdin,
};
