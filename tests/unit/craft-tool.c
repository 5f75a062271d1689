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
 *   craft-tool REPO delta2 OUTDIR         (a version-5 repository)
 *       backup "d1": src/a and src/c, one chunk each, stored whole;
 *       backup "d2": src/m, one chunk: the first half of a, a changed
 *       row, the second half of c, stored as a type-3 frame on the
 *       chunks of a and c (doc/FORMAT.md 18.2), in its own pack and
 *       index object.  The plain bytes of the three files are written
 *       to OUTDIR/a, c and m; OUTDIR/ids gets "a <id>", "c <id>",
 *       "m <id>" lines (the chunk ids, hex).
 *
 * Exit 0, or 1 with a message.  Not a test itself (tests/include.am). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/format.h"
#include "src/pack.h"
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

/* A dump-like chunk of n bytes: INSERT lines of table t, rows from
 * seed. */
static void dump_rows(uint8_t *p, size_t n, const char *t, unsigned seed)
{
	size_t at = 0;
	unsigned i = 0;

	while (at < n) {
		char l[160];
		int k = snprintf(l, sizeof(l),
				 "INSERT INTO %s VALUES (%u, 'customer %u', "
				 "%u.%02u, 'pending');\n",
				 t, i, (i * 7919u + seed) % 100000u,
				 (i * 31u + seed) % 1000u, i % 100u);

		if ((size_t)k > n - at)
			k = (int)(n - at);
		memcpy(p + at, l, (size_t)k);
		at += (size_t)k;
		i++;
	}
}

static int put_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	ok = fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Finish the pack of pb, put it and an index object naming it. */
static int put_pack(struct bfs_repo *r, struct bfs_pack_builder *pb,
		    struct bfs_err *err)
{
	struct bfs_idxobj_writer *w = NULL;
	struct bfs_buf out = {0}, idx = {0};
	struct bfs_idx_blob ib[4];
	uint8_t pack[BFS_HASH_LEN], name[BFS_HASH_LEN];
	char key[BFS_KEY_MAX], hex[BFS_HASH_HEX + 1];
	size_t n = bfs_pack_builder_count(pb);
	int rc;

	if (n > 4)
		return -EINVAL;
	rc = bfs_pack_builder_finish(pb, &out, pack);
	if (!rc) {
		bfs_idx_blobs_from_pack(ib, bfs_pack_builder_entries(pb), n,
					bfs_pack_builder_bases(pb));
		bfs_repo_pack_key(key, pack);
		rc = bfs_store_put(r->store, key, out.data, out.len, 0, err);
	}
	if (!rc)
		rc = bfs_idxobj_writer_new(&w);
	if (!rc)
		rc = bfs_idxobj_writer_pack(w, pack, ib, n);
	if (!rc)
		rc = bfs_idxobj_writer_finish(w, &idx, name, err);
	if (!rc) {
		bfs_hex(hex, name, BFS_HASH_LEN);
		snprintf(key, sizeof(key), "%s%s", BFS_KEY_INDEX, hex);
		rc = bfs_store_put(r->store, key, idx.data, idx.len, 0, err);
	}
	bfs_idxobj_writer_free(w);
	bfs_buf_free(&out);
	bfs_buf_free(&idx);
	return rc;
}

static int delta2(struct bfs_repo *r, const char *outdir)
{
	enum { N = 96 * 1024 };
	static uint8_t a[N], c[N], m[N];
	static const char row[] = "INSERT INTO orders VALUES (17, 'moved "
				  "row', 1.00, 'shipped');\n";
	struct bfs_pack_builder *pb = bfs_pack_builder_new();
	struct bfs_err err = {""};
	struct bfs_blobref ra, rc_, rm;
	struct bfs_buf f = {0};
	uint8_t bid[2][BFS_HASH_LEN];
	const void *bp[2] = {a, c};
	size_t bl[2] = {N, N}, zlen = 0;
	char hex[3][BFS_HASH_HEX + 1], ids[512];
	int rc;

	if (!pb)
		return -ENOMEM;
	dump_rows(a, N, "orders", 1);
	dump_rows(c, N, "invoices", 2);
	memcpy(m, a, N / 2);
	memcpy(m + N / 2, c + N / 2, N / 2);
	memcpy(m + N / 2 - sizeof(row) + 1, row, sizeof(row) - 1);
	bfs_repo_blob_id(r, ra.hash, a, N);
	bfs_repo_blob_id(r, rc_.hash, c, N);
	bfs_repo_blob_id(r, rm.hash, m, N);
	ra.len = rc_.len = rm.len = N;
	bfs_hex(hex[0], ra.hash, BFS_HASH_LEN);
	bfs_hex(hex[1], rc_.hash, BFS_HASH_LEN);
	bfs_hex(hex[2], rm.hash, BFS_HASH_LEN);

	/* d1: a and c whole */
	rc = bfs_repo_blob_encode(r, ra.hash, a, N, &f, &err);
	if (!rc)
		rc = bfs_pack_builder_add(pb, ra.hash, f.data, (uint32_t)f.len,
					  N, NULL);
	f.len = 0;
	if (!rc)
		rc = bfs_repo_blob_encode(r, rc_.hash, c, N, &f, &err);
	if (!rc)
		rc = bfs_pack_builder_add(pb, rc_.hash, f.data, (uint32_t)f.len,
					  N, NULL);
	if (!rc)
		rc = put_pack(r, pb, &err);
	if (!rc) {
		struct cr_node kids[] = {
		    {.name = "a", .refs = &ra, .nrefs = 1},
		    {.name = "c", .refs = &rc_, .nrefs = 1},
		};

		rc = write_src(r, "d1", kids, 2);
	}
	/* d2: m on a and c */
	memcpy(bid[0], ra.hash, BFS_HASH_LEN);
	memcpy(bid[1], rc_.hash, BFS_HASH_LEN);
	f.len = 0;
	if (!rc)
		rc = bfs_repo_delta_encode_n(r, rm.hash, 2, bid, bp, bl, m, N,
					     &f, &zlen, &err);
	if (!rc)
		rc = bfs_pack_builder_add_delta_n(
		    pb, rm.hash, 2, (const uint8_t(*)[BFS_HASH_LEN])bid, f.data,
		    (uint32_t)f.len, N, NULL);
	if (!rc)
		rc = put_pack(r, pb, &err);
	if (!rc) {
		struct cr_node kids[] = {
		    {.name = "m", .refs = &rm, .nrefs = 1}};

		rc = cr_write(r, "d2", T0 + 86400000000000LL, NULL,
			      &(struct cr_node){.name = "src",
						.type = BFS_T_DIR,
						.kids = kids,
						.nkids = 1},
			      1, NULL);
	}
	snprintf(ids, sizeof(ids), "a %s\nc %s\nm %s\n", hex[0], hex[1],
		 hex[2]);
	if (!rc &&
	    (put_file(outdir, "a", a, N) || put_file(outdir, "c", c, N) ||
	     put_file(outdir, "m", m, N) ||
	     put_file(outdir, "ids", ids, strlen(ids))))
		rc = -EIO;
	if (rc && err.msg[0])
		fprintf(stderr, "craft-tool: delta2: %s\n", err.msg);
	else if (!rc)
		fprintf(stderr,
			"craft-tool: m is a type-3 frame of %zu bytes (zstd "
			"part %zu) on a and c\n",
			f.len, zlen);
	bfs_buf_free(&f);
	bfs_pack_builder_free(pb);
	return rc;
}

int main(int argc, char **argv)
{
	struct bfs_err err = {""};
	struct bfs_repo *r = NULL;
	int rc;

	if (argc != 3 && !(argc == 4 && !strcmp(argv[2], "delta2"))) {
		fprintf(stderr, "usage: craft-tool REPO "
				"hardlink-unreadable|huge|limits\n"
				"       craft-tool REPO delta2 OUTDIR\n");
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
	else if (!strcmp(argv[2], "delta2") && argc == 4)
		rc = delta2(r, argv[3]);
	else
		rc = -2;
	bfs_repo_close(r);
	if (rc == -2)
		fprintf(stderr, "craft-tool: unknown case '%s'\n", argv[2]);
	else if (rc)
		fprintf(stderr, "craft-tool: %s failed (%d)\n", argv[2], rc);
	return rc ? 1 : 0;
}
