/* source_command.c - --command PATH=CMD: the standard output of
 * `sh -c CMD` as the file PATH (source_child.c streams it).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source_int.h"

static int command_dest(const struct bfs_source *s, char **dest,
			struct bfs_err *err)
{
	const char *eq = strchr(s->arg, '=');

	if (!eq || eq == s->arg || !eq[1] ||
	    !bfs_manifest_path_valid(s->arg, (size_t)(eq - s->arg)))
		return bfs_err_set(err, -EINVAL,
				   "--command needs PATH=COMMAND, got '%s'",
				   s->arg);
	*dest = strndup(s->arg, (size_t)(eq - s->arg));
	return *dest ? 0 : bfs_err_set(err, -ENOMEM, "out of memory");
}

static int run_command(struct bfs_backup *b, const struct bfs_source *s,
		       struct bfs_err *err)
{
	char *dest = NULL, *argv[4], *desc = NULL;
	const char *cmd;
	int rc;

	rc = command_dest(s, &dest, err);
	if (rc)
		return rc;
	cmd = strchr(s->arg, '=') + 1;
	rc = src_add(b, "command", dest, cmd, err);
	if (rc)
		goto out;
	if (asprintf(&desc, "command '%s'", cmd) < 0) {
		desc = NULL;
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	argv[0] = (char *)"sh";
	argv[1] = (char *)"-c";
	argv[2] = (char *)cmd;
	argv[3] = NULL;
	rc = src_run_child(b, dest, argv, NULL, -1, s->dump_mode, desc, err);
out:
	free(desc);
	free(dest);
	return rc;
}

const struct bfs_source_type bfs_source_type_command = {
    .kind = BFS_SRC_COMMAND,
    .name = "command",
    .dest = command_dest,
    .run = run_command,
};
