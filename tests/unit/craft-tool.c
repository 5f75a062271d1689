/* craft-tool.c - write a crafted backup into an existing repository, for
 * the e2e tests of hostile repository contents (issue 13):
 *
 *   craft-tool REPO hardlink-unreadable   backup "h1": src/a-secret
 *       unreadable at backup time (err, nl 2), src/b-link a hardlink to it
 *       without an err of its own, src/c-ok an empty file
 *   craft-tool REPO huge                  backup "big": src/huge, an
 *       unreadable file that claims 2^63-1 bytes (the format allows it)
 *   craft-tool REPO limits                backups "lim-ok" (src/ok-link:
 *       a symlink target of BFS_SYMLINK_TARGET_MAX bytes), "lim-target"
 *       (one byte longer) and "lim-name" (a name of 300 bytes)
 *
 * Exit 0, or 1 with a message.  Not a test itself (tests/include.am). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/format.h"
#include "src/repo.h"
#include "src/tree.h"
#include "tests/unit/catrepo.h"

#define T0 1790000000000000000LL

static int write_src(struct bfs_repo *r, const char *id,
		     const struct cr_node *kids, size_t n)
{
	struct cr_node src = {
	    .name = "src", .type = BFS_T_DIR, .kids = kids, .nkids = n};

	return cr_write(r, id, T0, NULL, &src, 1, NULL);
}

static int hardlink_unreadable(struct bfs_repo *r)
{
	static const struct cr_node kids[] = {
	    {.name = "a-secret",
	     .nl = 2,
	     .err = "cannot open: Permission "
		    "denied",
	     .size = 10},
	    {.name = "b-link", .link = "src/a-secret"},
	    {.name = "c-ok"},
	};

	return write_src(r, "h1", kids, BFS_ARRAY_SIZE(kids));
}

static int huge(struct bfs_repo *r)
{
	static const struct cr_node kids[] = {
	    {.name = "huge",
	     .err = "read error after 0 bytes",
	     .size = (uint64_t)INT64_MAX},
	    {.name = "small"},
	};

	return write_src(r, "big", kids, BFS_ARRAY_SIZE(kids));
}

/* {"n":NAME,"t":"l",...,"l":TARGET} with a target of len bytes. */
static char *link_line(const char *name, size_t len)
{
	size_t cap = len + 256;
	char *s = malloc(cap);
	int at;

	if (!s)
		return NULL;
	at = snprintf(s, cap,
		      "{\"n\":\"%s\",\"t\":\"l\",\"m\":511,\"u\":0,\"g\":0,"
		      "\"mt\":%lld,\"s\":%zu,\"l\":\"",
		      name, (long long)T0, len);
	for (size_t i = 0; i < len; i++)
		s[at++] = i % 64 == 63 ? '/' : 'x';
	snprintf(s + at, cap - (size_t)at, "\"}");
	return s;
}

static int limits(struct bfs_repo *r)
{
	char *ok = link_line("ok-link", BFS_SYMLINK_TARGET_MAX);
	char *over = link_line("long-link", BFS_SYMLINK_TARGET_MAX + 1);
	char name[301], *nline = NULL;
	int rc = -1;

	memset(name, 'n', 300);
	name[300] = '\0';
	if (ok && over &&
	    asprintf(&nline,
		     "{\"n\":\"%s\",\"t\":\"f\",\"m\":420,\"u\":"
		     "0,\"g\":0,\"mt\":%lld,\"s\":0}",
		     name, (long long)T0) > 0) {
		struct cr_node a[] = {{.name = "ok-link", .raw = ok},
				      {.name = "z"}};
		struct cr_node b[] = {{.name = "long-link", .raw = over},
				      {.name = "z"}};
		struct cr_node c[] = {{.name = name, .raw = nline},
				      {.name = "z"}};

		rc = write_src(r, "lim-ok", a, 2);
		if (!rc)
			rc = write_src(r, "lim-target", b, 2);
		if (!rc)
			rc = write_src(r, "lim-name", c, 2);
	}
	free(ok);
	free(over);
	free(nline);
	return rc;
}

int main(int argc, char **argv)
{
	struct bfs_err err = {""};
	struct bfs_repo *r = NULL;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: craft-tool REPO "
				"hardlink-unreadable|huge|limits\n");
		return 2;
	}
	rc = bfs_repo_open(argv[1], NULL, &r, &err);
	if (rc) {
		fprintf(stderr, "craft-tool: %s\n", bfs_err_str(&err, rc));
		return 1;
	}
	if (!strcmp(argv[2], "hardlink-unreadable"))
		rc = hardlink_unreadable(r);
	else if (!strcmp(argv[2], "huge"))
		rc = huge(r);
	else if (!strcmp(argv[2], "limits"))
		rc = limits(r);
	else
		rc = -2;
	bfs_repo_close(r);
	if (rc == -2)
		fprintf(stderr, "craft-tool: unknown case '%s'\n", argv[2]);
	else if (rc)
		fprintf(stderr, "craft-tool: %s failed (%d)\n", argv[2], rc);
	return rc ? 1 : 0;
}
