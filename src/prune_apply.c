/* prune_apply.c - carry a prune plan out (prune.h, doc/FORMAT.md
 * "Prune"), in the crash-safe order:
 *
 *   1. the live blobs of the packs to repack, each frame verified
 *      against its id and copied byte for byte into new packs;
 *   2. one new index object: the new packs, and every pack that stays of
 *      the index objects naming a pack that goes ("affected");
 *   3. the affected index objects deleted;
 *   4. the packs that go deleted (no live blob, repacked, unindexed);
 *   5. the grace record of this run.
 *
 * Before 2 nothing a reader uses has changed (new packs are unreferenced
 * garbage until 2).  Between 2 and 3 blobs have two locations, both
 * valid.  After 3 the old packs are unreferenced.  A kill anywhere leaves
 * one of these states; a rerun finishes.  Lock checks come before 2 and
 * before 3: a prune that lost its lock stops before the next change.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "lock.h"
#include "log.h"
#include "pack.h"
#include "prune_int.h"

struct newpack {
	uint8_t id[BFS_HASH_LEN];
	struct bfs_idx_blob *blobs;
	size_t n;
};

struct apply {
	struct prune *pr;
	struct bfs_pack_builder *b;
	struct newpack *v;
	size_t n, cap;
	struct bfs_buf plain; /* scratch for verifying a frame */
};

/* Finish the pack being built, put it, remember its entries. */
static int flush(struct apply *a, struct bfs_err *err)
{
	struct prune *pr = a->pr;
	const struct bfs_pack_entry *e;
	struct newpack *np;
	struct bfs_buf out = {0};
	char key[BFS_KEY_MAX];
	size_t n = bfs_pack_builder_count(a->b);
	int rc;

	if (!n)
		return 0;
	rc = pp_grow((void **)&a->v, &a->cap, a->n, sizeof(*a->v));
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	np = &a->v[a->n];
	np->blobs = calloc(n, sizeof(*np->blobs));
	if (!np->blobs)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	np->n = n;
	a->n++;
	e = bfs_pack_builder_entries(a->b);
	rc = bfs_pack_builder_finish(a->b, &out, np->id);
	if (rc)
		return bfs_err_set(err, rc, "cannot finish a new pack");
	/* the entries of the pack just finished stay readable */
	bfs_idx_blobs_from_pack(np->blobs, e, n, bfs_pack_builder_bases(a->b));
	bfs_repo_pack_key(key, np->id);
	rc = bfs_store_put(pr->r->store, key, out.data, out.len, 0, err);
	if (rc)
		bfs_err_prefix(err, rc, "cannot write pack '%s'", key);
	else
		bfs_debug("prune: wrote pack '%s' (%zu blobs)", key, n);
	pr->st->written.packs++;
	pr->st->written.bytes += out.len;
	bfs_buf_free(&out);
	return rc;
}

/* Is the blob at pr->blobs[j] in pack p the live copy? */
static bool live_here(struct prune *pr, const struct pp_pack *p,
		      const struct bfs_idx_blob *bl)
{
	struct bfs_loc loc;

	if (!bfs_hmap_find(&pr->live, bl->hash))
		return false;
	return !bfs_locmap_find(pr->lm, bl->hash, &loc) &&
	       !memcmp(loc.ref.pack, p->id, BFS_HASH_LEN) &&
	       loc.ref.offset == bl->offset;
}

/* Copy the live frames of pack p into the builder, verifying each. */
static int repack_one(struct apply *a, const struct pp_pack *p,
		      struct bfs_err *err)
{
	struct prune *pr = a->pr;
	struct bfs_buf data = {0};
	char key[BFS_KEY_MAX], hex[BFS_HASH_HEX + 1];
	const struct bfs_idx_blob *bl;
	int64_t got;
	size_t j;
	int rc = 0;

	bfs_repo_pack_key(key, p->id);
	got = bfs_store_get(pr->r->store, key, 0, UINT64_MAX, &data, err);
	if (got < 0) {
		rc =
		    bfs_err_prefix(err, (int)got, "cannot read pack '%s'", key);
		goto out;
	}
	for (j = 0; !rc && j < p->nblobs; j++) {
		bl = &pr->blobs[p->blob_first + j];
		if (!live_here(pr, p, bl))
			continue;
		bfs_hex(hex, bl->hash, BFS_HASH_LEN);
		if (bl->clen < 1 || bl->len > BFS_CHUNK_MAX_LIMIT ||
		    bl->offset > data.len || bl->clen > data.len - bl->offset) {
			rc = bfs_err_set(err, -EUCLEAN,
					 "pack '%s': blob %s lies outside the "
					 "pack; nothing was deleted: run "
					 "'backupfs check'",
					 key, hex);
			break;
		}
		a->plain.len = 0;
		rc = bfs_buf_reserve(&a->plain, bl->len + 1);
		if (rc) {
			rc = bfs_err_set(err, rc, "out of memory");
			break;
		}
		rc = bfs_repo_blob_decode(pr->r, bl->hash,
					  data.data + bl->offset, bl->clen,
					  a->plain.data, bl->len, err);
		if (rc) {
			bfs_err_prefix(err, rc,
				       "pack '%s': blob %s at offset %" PRIu64
				       " (nothing was deleted: run 'backupfs "
				       "check')",
				       key, hex, bl->offset);
			break;
		}
		if (bfs_pack_builder_count(a->b) &&
		    bfs_pack_builder_size(a->b) + bl->clen > pr->r->pack_target)
			rc = flush(a, err);
		/* a delta's bases from its index object (6th element),
		 * never from the frame, which may be sealed; the frame is
		 * copied as it is */
		if (!rc &&
		    (bl->type == BFS_BLOB_DELTA || bl->type == BFS_BLOB_DELTA2))
			rc = bfs_pack_builder_add_delta_n(
			    a->b, bl->hash, bl->bases.n,
			    (const uint8_t(*)[BFS_HASH_LEN])bl->bases.id,
			    data.data + bl->offset, bl->clen, bl->len, NULL);
		else if (!rc)
			rc = bfs_pack_builder_add_typed(
			    a->b, bl->hash, bl->type, data.data + bl->offset,
			    bl->clen, bl->len, NULL);
		if (rc == -ENOMEM)
			rc = bfs_err_set(err, rc, "out of memory");
		else if (!rc)
			pr->st->blobs_repacked++;
	}
out:
	bfs_buf_free(&data);
	return rc;
}

/* What the new packs would be, without reading anything (dry run). */
static void estimate(struct prune *pr)
{
	struct bfs_prune_stats *st = pr->st;
	uint64_t live = 0, n = 0, packs;
	size_t i;

	for (i = 0; i < pr->npacks; i++) {
		if (pr->packs[i].action != PP_REPACK)
			continue;
		live += pr->packs[i].live_bytes;
		n += pr->packs[i].nlive;
	}
	if (!n)
		return;
	packs = (live + pr->r->pack_target - 1) / pr->r->pack_target;
	st->written.packs = packs ? packs : 1;
	st->written.bytes =
	    live + n * BFS_PACK_INDEX_ENTRY +
	    st->written.packs * (BFS_PACK_HEADER + BFS_PACK_FOOTER);
	st->blobs_repacked = n;
}

static int write_index(struct apply *a, uint8_t name[BFS_HASH_LEN],
		       bool *written, struct bfs_err *err)
{
	struct prune *pr = a->pr;
	struct bfs_idxobj_writer *w = NULL;
	struct bfs_buf out = {0};
	char key[BFS_KEY_MAX];
	size_t i, j;
	int rc;

	*written = false;
	rc = bfs_idxobj_writer_new(&w);
	for (i = 0; !rc && i < a->n; i++)
		rc = bfs_idxobj_writer_pack(w, a->v[i].id, a->v[i].blobs,
					    a->v[i].n);
	for (i = 0; !rc && i < pr->nidx; i++) {
		const struct pp_index *ix = &pr->idx[i];

		for (j = 0; ix->affected && !rc && j < ix->nrefs; j++) {
			struct pp_pack *p =
			    &pr->packs[pr->refs[ix->ref_first + j]];

			if (p->action != PP_KEEP || p->carried)
				continue;
			p->carried = true;
			rc = bfs_idxobj_writer_pack(
			    w, p->id, &pr->blobs[p->blob_first], p->nblobs);
		}
	}
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	if (!bfs_idxobj_writer_packs(w))
		goto out; /* nothing stays: no index object needed */
	rc = bfs_idxobj_writer_finish(w, &out, name, err);
	if (rc)
		goto out;
	bfs_locmap_index_key(key, name);
	rc = bfs_store_put(pr->r->store, key, out.data, out.len, 0, err);
	if (rc) {
		bfs_err_prefix(err, rc, "cannot write index object '%s'", key);
		goto out;
	}
	*written = true;
	pr->st->index_written++;
	bfs_debug("prune: wrote index object '%s'", key);
out:
	bfs_idxobj_writer_free(w);
	bfs_buf_free(&out);
	return rc;
}

/* Delete key; one that is gone already counts as deleted (a retried
 * S3 DELETE, an earlier killed run). */
static int del(struct prune *pr, const char *key, struct bfs_err *err)
{
	int rc = bfs_store_del(pr->r->store, key, err);

	if (rc == -ENOENT)
		rc = 0;
	if (rc)
		return bfs_err_prefix(err, rc, "cannot delete '%s'", key);
	bfs_debug("prune: deleted '%s'", key);
	return 0;
}

/* Did this run write pack id?  A rerun after a kill repacks the same
 * blobs in the same order into a pack of the same id as the one the
 * killed run left (unindexed garbage now, or named by its index object
 * and without live blobs, since the locmap took the old copies): that
 * pack must not be deleted as garbage. */
static bool written(const struct apply *a, const uint8_t id[BFS_HASH_LEN])
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (!memcmp(a->v[i].id, id, BFS_HASH_LEN))
			return true;
	return false;
}

/* Pack p was planned to go but was written again: it stays, and it is
 * not new either. */
static void uncount(struct bfs_prune_stats *st, const struct pp_pack *p)
{
	struct bfs_prune_count *c = p->action == PP_DELETE   ? &st->deleted
				    : p->action == PP_REPACK ? &st->repacked
							     : &st->garbage;

	c->packs--;
	c->bytes -= p->size;
	st->written.packs--;
	st->written.bytes -= p->size;
}

static int check_lock(struct bfs_lock *lock, struct bfs_err *err)
{
	int rc = lock ? bfs_lock_check(lock, err) : 0;

	if (rc)
		bfs_err_prefix(err, rc, "prune stopped");
	return rc;
}

static void finish_stats(struct bfs_prune_stats *st)
{
	st->after.packs = st->before.packs - st->deleted.packs -
			  st->repacked.packs - st->garbage.packs +
			  st->written.packs;
	st->after.bytes = st->before.bytes - st->deleted.bytes -
			  st->repacked.bytes - st->garbage.bytes +
			  st->written.bytes;
}

int pp_apply(struct prune *pr, struct bfs_lock *lock, struct bfs_err *err)
{
	struct apply a = {.pr = pr};
	uint8_t name[BFS_HASH_LEN];
	char key[BFS_KEY_MAX];
	bool have_index = false;
	size_t i;
	int rc = 0;

	if (pr->o->dry_run) {
		estimate(pr);
		finish_stats(pr->st);
		return 0;
	}
	a.b = bfs_pack_builder_new();
	if (!a.b)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	bfs_pack_builder_set_key(a.b, pr->r->crypt);
	/* 1. new packs */
	for (i = 0; !rc && i < pr->npacks; i++)
		if (pr->packs[i].action == PP_REPACK && pr->packs[i].listed)
			rc = repack_one(&a, &pr->packs[i], err);
	if (!rc)
		rc = flush(&a, err);
	/* 2. the new index object */
	if (!rc)
		rc = check_lock(lock, err);
	if (!rc)
		rc = write_index(&a, name, &have_index, err);
	/* 3. the affected index objects */
	if (!rc)
		rc = check_lock(lock, err);
	for (i = 0; !rc && i < pr->nidx; i++) {
		/* the one we wrote may have the name of one that goes: a
		 * rerun after a kill between 2 and 3 writes the same bytes */
		if (!pr->idx[i].affected ||
		    (have_index &&
		     !memcmp(pr->idx[i].name, name, BFS_HASH_LEN)))
			continue;
		bfs_locmap_index_key(key, pr->idx[i].name);
		rc = del(pr, key, err);
		if (!rc)
			pr->st->index_deleted++;
	}
	/* 4. the packs that go */
	for (i = 0; !rc && i < pr->npacks; i++) {
		const struct pp_pack *p = &pr->packs[i];

		if (p->action == PP_KEEP || !p->listed)
			continue;
		if (written(&a, p->id)) {
			uncount(pr->st, p);
			continue;
		}
		bfs_repo_pack_key(key, p->id);
		rc = del(pr, key, err);
	}
	/* 5. the grace record */
	if (!rc)
		rc = pp_seen_write(pr, have_index ? name : NULL, err);
	finish_stats(pr->st);
	bfs_pack_builder_free(a.b);
	for (i = 0; i < a.n; i++)
		free(a.v[i].blobs);
	free(a.v);
	bfs_buf_free(&a.plain);
	return rc;
}
