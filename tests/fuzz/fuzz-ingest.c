/* fuzz-ingest.c - libFuzzer target: catalog ingest of a format-2 backup
 * (bfs_catalog_ingest: the manifest, every tree part and chunk list it
 * reaches, the checks across parts and trees, the rollback on damage),
 * into a fresh in-memory catalog, then the catalog's readers over what it
 * accepted (list, path lookup, the chunk lists of files, whole or in
 * pieces, the backup's drop).
 *
 * Input: records separated by a line "%%": record 0 is the manifest's
 * plain text (compressed here), records 1.. are blobs (tree parts or
 * chunk lists), compressed into one pack listed by one index object.
 * "@N" (N = 1..9) in a record stands for the hex id of record N, which
 * must come later (so the fuzzer can write references it cannot hash;
 * no cycles).  Seeds: tests/corpus/ingest/.
 * Built by scripts/fuzz; replayed by tests/unit/test-fuzz-ingest. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "src/pack.h"
#include "src/tree.h"
#include "tests/fuzz/memstore.h"

#define MAXREC 10

static struct bfs_catalog *cat; /* reachable until exit */

struct rec {
	struct bfs_buf text; /* after substitution */
	uint8_t id[BFS_HASH_LEN];
};

/* rec[i].text = raw with "@N" (N > i) replaced by the hex id of rec N. */
static int subst(struct rec *rec, size_t i, size_t nrec, const uint8_t *raw,
		 size_t n)
{
	char hex[BFS_HASH_HEX + 1];
	size_t k, run = 0;
	int rc = 0;

	for (k = 0; k + 1 < n; k++) {
		size_t j;

		if (raw[k] != '@' || raw[k + 1] < '1' || raw[k + 1] > '9')
			continue;
		j = (size_t)(raw[k + 1] - '0');
		if (j <= i || j >= nrec)
			continue;
		bfs_hex(hex, rec[j].id, BFS_HASH_LEN);
		rc = bfs_buf_append(&rec[i].text, raw + run, k - run);
		if (!rc)
			rc = bfs_buf_append(&rec[i].text, hex, BFS_HASH_HEX);
		if (rc)
			return rc;
		run = k + 2;
		k++;
	}
	return bfs_buf_append(&rec[i].text, raw + run, n - run);
}

static int list_cb(void *arg, const struct bfs_backup_info *b)
{
	(void)arg;
	if (!b->name[0])
		abort();
	return 0;
}

/* Records -> one pack and one index object in r, the catalog told of
 * the index object.  0 or -errno. */
static int store_blobs(struct rec *rec, size_t nrec, struct bfs_repo *r,
		       struct bfs_catalog *c)
{
	struct bfs_pack_builder *pb = bfs_pack_builder_new();
	struct bfs_idxobj_writer *iw = NULL;
	struct bfs_idx_blob blobs[MAXREC];
	struct bfs_buf frame = {0}, pack = {0}, idx = {0};
	uint8_t pid[BFS_HASH_LEN], iname[BFS_HASH_LEN];
	char key[BFS_KEY_MAX], hex[BFS_HASH_HEX + 1];
	size_t nb = 0, i, k;
	int rc = -ENOMEM;

	if (!pb)
		return rc;
	for (i = 1; i < nrec; i++) {
		struct bfs_idx_blob *x = &blobs[nb];

		for (k = 0; k < nb; k++) /* a blob twice: once */
			if (!memcmp(blobs[k].hash, rec[i].id, BFS_HASH_LEN))
				break;
		if (k < nb)
			continue;
		frame.len = 0;
		rc = bfs_zstd_compress(&frame, rec[i].text.data,
				       rec[i].text.len, 3, NULL);
		if (rc)
			goto out;
		memset(x, 0, sizeof(*x));
		memcpy(x->hash, rec[i].id, BFS_HASH_LEN);
		x->type = BFS_BLOB_TREE;
		x->clen = (uint32_t)frame.len;
		x->len = (uint32_t)rec[i].text.len;
		rc = bfs_pack_builder_add_typed(pb, x->hash, BFS_BLOB_TREE,
						frame.data, x->clen, x->len,
						&x->offset);
		if (rc)
			goto out;
		nb++;
	}
	rc = bfs_pack_builder_finish(pb, &pack, pid);
	if (!rc) {
		bfs_repo_pack_key(key, pid);
		rc = bfs_store_put(r->store, key, pack.data, pack.len, 0, NULL);
	}
	if (!rc)
		rc = bfs_idxobj_writer_new(&iw);
	if (!rc && nb)
		rc = bfs_idxobj_writer_pack(iw, pid, blobs, nb);
	if (!rc)
		rc = bfs_idxobj_writer_finish(iw, &idx, iname, NULL);
	if (!rc) {
		bfs_hex(hex, iname, BFS_HASH_LEN);
		rc = bfs_catalog_ingest_index(c, hex, idx.data, idx.len, NULL);
	}
out:
	bfs_idxobj_writer_free(iw);
	bfs_pack_builder_free(pb);
	bfs_buf_free(&frame);
	bfs_buf_free(&pack);
	bfs_buf_free(&idx);
	return rc;
}

struct ids {
	int64_t v[64];
	size_t n;
};

struct walk_arg {
	struct bfs_catalog *c;
	struct ids *d;
};

static int dir_cb(void *arg, const struct bfs_cat_entry *e)
{
	struct walk_arg *w = arg;
	struct bfs_chunkref *refs = NULL;
	size_t n = 0;

	if (e->e.type == BFS_T_DIR && w->d->n < 64)
		w->d->v[w->d->n++] = e->id;
	/* its chunk list, whole or in pieces: an error (no location for
	 * a made-up chunk), never a crash */
	if (e->e.type == BFS_T_FILE &&
	    bfs_catalog_chunks(w->c, e->id, &refs, &n, NULL) == 0)
		free(refs);
	return 0;
}

/* Read back the directories of an ingested backup (bounded); a damaged
 * one (kept as damaged by ingest) may fail with an error, never crash. */
static void walk(struct bfs_catalog *c, int64_t dir, int depth, int *budget)
{
	struct bfs_cat_entry ce;
	struct ids d = {.n = 0};
	struct walk_arg w = {.c = c, .d = &d};
	size_t i;

	if (depth > 16 || --*budget < 0)
		return;
	if (bfs_catalog_readdir(c, dir, 0, 0, dir_cb, &w, NULL))
		return;
	for (i = 0; i < d.n; i++) {
		memset(&ce, 0, sizeof(ce));
		if (bfs_catalog_get(c, d.v[i], &ce, NULL) == 0)
			bfs_cat_entry_clear(&ce);
		walk(c, d.v[i], depth + 1, budget);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *start[MAXREC];
	size_t len[MAXREC], nrec = 0, i, at = 0;
	struct rec rec[MAXREC];
	struct bfs_manifest2 m;
	struct bfs_catalog *c = NULL;
	struct bfs_backup_info info;
	struct bfs_buf man = {0};
	int budget = 256;
	struct bfs_repo *r;
	struct bfs_err err;
	char name[129];

	/* split at "\n%%\n" */
	while (nrec < MAXREC) {
		const uint8_t *p = data + at, *end = data + size, *q = p;

		while (q + 4 <= end && memcmp(q, "\n%%\n", 4) != 0)
			q++;
		if (q + 4 > end)
			q = end;
		start[nrec] = p;
		len[nrec] = (size_t)(q - p) + (q < end); /* keep the '\n' */
		nrec++;
		if (q == end)
			break;
		at = (size_t)(q - data) + 4;
	}
	memset(rec, 0, sizeof(rec));
	for (i = nrec; i-- > 0;) {
		if (subst(rec, i, nrec, start[i], len[i]))
			goto out_rec;
		bfs_sha256(rec[i].id, rec[i].text.data, rec[i].text.len);
	}
	if (bfs_zstd_compress(&man, rec[0].text.data, rec[0].text.len, 3, NULL))
		goto out_rec;
	/* the backup's name is the manifest's id when it has a usable one */
	snprintf(name, sizeof(name), "b1");
	memset(&m, 0, sizeof(m));
	if (bfs_manifest2_parse(man.data, man.len, &m, NULL) == 0) {
		if (m.h.id && bfs_backup_id_valid(m.h.id))
			snprintf(name, sizeof(name), "%s", m.h.id);
		bfs_manifest2_clear(&m);
	}
	r = mem_repo();
	if (!r)
		goto out_rec;
	/* one catalog for the process: creating its schema costs more than
	 * an ingest; each run leaves it as it found it (below) */
	/* SQLite's length limit lowered so that a list of more than 111
	 * refs is stored in pieces (chunk_pieces), as a huge file's is */
	if (!cat)
		setenv("BFS_CATALOG_LENGTH_LIMIT", "8000", 1);
	if (!cat && bfs_catalog_open(":memory:", r->id, false, &cat, &err)) {
		if (getenv("BFS_FUZZ_VERBOSE"))
			fprintf(stderr, "ingest: %s\n", err.msg);
		goto out_repo;
	}
	c = cat;
	if (store_blobs(rec, nrec, r, c)) {
		if (getenv("BFS_FUZZ_VERBOSE"))
			fprintf(stderr, "ingest: cannot store the blobs\n");
		goto out_cat;
	}
	err.msg[0] = '\0';
	if (bfs_catalog_ingest(c, r, name, man.data, man.len, &err) != 0) {
		/* BFS_FUZZ_VERBOSE=1: why a seed is refused */
		if (getenv("BFS_FUZZ_VERBOSE"))
			fprintf(stderr, "ingest: %s\n", err.msg);
		goto out_cat;
	}
	if (getenv("BFS_FUZZ_VERBOSE"))
		fprintf(stderr, "ingest: '%s' accepted\n", name);
	if (bfs_catalog_list(c, list_cb, NULL, &err))
		abort(); /* an ingested backup must list */
	memset(&info, 0, sizeof(info));
	if (bfs_catalog_find_backup(c, name, &info, &err) != 0)
		abort();
	walk(c, info.root, 0, &budget);
	bfs_backup_info_clear(&info);
	if (bfs_catalog_drop(c, name, &err))
		abort(); /* and drop */
out_cat:
	/* the memory store lists no index object: this forgets the one
	 * this run ingested, so the next run starts from an empty catalog */
	if (bfs_catalog_sync_index(c, r, &err))
		abort();
out_repo:
	bfs_repo_close(r);
out_rec:
	for (i = 0; i < MAXREC; i++)
		bfs_buf_free(&rec[i].text);
	bfs_buf_free(&man);
	return 0;
}
