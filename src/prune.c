/* prune.c - plan a prune (prune.h): load the index objects, list the
 * packs, walk every backup for the live blobs, decide each pack's fate.
 * prune_apply.c carries the plan out; prune_seen.c keeps the grace
 * record.
 *
 * Memory: per blob, its index entry (~56 bytes, pr->blobs), its location
 * in the locmap (~60 bytes) and, when live, its id in pr->live (~40
 * bytes); per tree blob its id in the walker; one manifest at a time.
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
#include "prune_int.h"
#include "reach.h"

#define CHECK_HINT                                                             \
	"the repository is damaged; nothing was deleted: run "                 \
	"'backupfs check'"

/* Ordinal of pack id, adding an empty record when add is set.  -ENOENT
 * (not there, !add) / -ENOMEM / -EOVERFLOW, else the ordinal. */
static long pp_pack_ord(struct prune *pr, const uint8_t id[BFS_HASH_LEN],
			bool add)
{
	struct pp_pack_rec *rec;
	bool added;
	int rc;

	if (!add) {
		rec = bfs_hmap_find(&pr->pack_map, id);
		return rec ? (long)rec->ord : -ENOENT;
	}
	if (pr->npacks >= UINT32_MAX)
		return -EOVERFLOW;
	rc = pp_grow((void **)&pr->packs, &pr->packs_cap, pr->npacks,
		     sizeof(*pr->packs));
	if (!rc)
		rc = bfs_hmap_get(&pr->pack_map, id, (void **)&rec, &added);
	if (rc)
		return rc;
	if (added) {
		rec->ord = (uint32_t)pr->npacks;
		memset(&pr->packs[pr->npacks], 0, sizeof(*pr->packs));
		memcpy(pr->packs[pr->npacks].id, id, BFS_HASH_LEN);
		pr->npacks++;
	}
	return (long)rec->ord;
}

/* Append the "run check" hint to err's message. */
static int with_hint(struct bfs_err *err, int rc)
{
	char msg[sizeof(err->msg)];

	snprintf(msg, sizeof(msg), "%s", bfs_err_str(err, rc));
	return bfs_err_set(err, rc, "%s; %s", msg, CHECK_HINT);
}

/* ---- index objects ------------------------------------------------------ */

struct idx_ctx {
	struct prune *pr;
	struct pp_index *ix;
};

/* One pack line of an index object: remember that the object names the
 * pack and, the first time the pack is named, its blobs. */
static int idx_pack_cb(void *arg, const uint8_t pack[BFS_HASH_LEN],
		       const struct bfs_idx_blob *blobs, size_t n)
{
	struct idx_ctx *c = arg;
	struct prune *pr = c->pr;
	struct pp_pack *p;
	long ord = pp_pack_ord(pr, pack, true);
	size_t i;
	int rc;

	if (ord < 0)
		return (int)ord;
	rc = pp_grow((void **)&pr->refs, &pr->refs_cap, pr->nrefs,
		     sizeof(*pr->refs));
	if (rc)
		return rc;
	pr->refs[pr->nrefs++] = (uint32_t)ord;
	c->ix->nrefs++;
	p = &pr->packs[ord];
	if (p->indexed)
		return 0; /* index objects never disagree on a pack */
	p->indexed = true;
	p->blob_first = pr->nblobs;
	p->nblobs = n;
	for (i = 0; i < n; i++) {
		rc = pp_grow((void **)&pr->blobs, &pr->blobs_cap, pr->nblobs,
			     sizeof(*pr->blobs));
		if (rc)
			return rc;
		pr->blobs[pr->nblobs++] = blobs[i];
		p->frame_bytes += blobs[i].clen;
	}
	pr->st->blobs += n;
	return 0;
}

static int list_index_cb(void *arg, const char *key, uint64_t size)
{
	struct prune *pr = arg;
	const char *hex = key + strlen(BFS_KEY_INDEX);
	struct pp_index *ix;
	int rc;

	(void)size;
	if (strncmp(key, BFS_KEY_INDEX, strlen(BFS_KEY_INDEX)) != 0 ||
	    !bfs_hex64_valid(hex))
		return 0; /* temp files */
	rc = pp_grow((void **)&pr->idx, &pr->idx_cap, pr->nidx,
		     sizeof(*pr->idx));
	if (rc)
		return rc;
	ix = &pr->idx[pr->nidx];
	memset(ix, 0, sizeof(*ix));
	if (!bfs_unhex(ix->name, hex, BFS_HASH_LEN))
		pr->nidx++;
	return 0;
}

static int load_index(struct prune *pr, struct bfs_err *err)
{
	struct bfs_buf b = {0};
	char key[BFS_KEY_MAX];
	struct idx_ctx c = {.pr = pr};
	int64_t got;
	size_t i;
	int rc;

	rc =
	    bfs_store_list(pr->r->store, BFS_KEY_INDEX, list_index_cb, pr, err);
	if (rc)
		return rc == -ENOMEM
			   ? bfs_err_set(err, rc, "out of memory")
			   : bfs_err_prefix(err, rc,
					    "cannot list the index objects "
					    "of '%s'",
					    pr->r->store->url);
	for (i = 0; !rc && i < pr->nidx; i++) {
		struct pp_index *ix = &pr->idx[i];

		bfs_locmap_index_key(key, ix->name);
		b.len = 0;
		got = bfs_store_get(pr->r->store, key, 0, UINT64_MAX, &b, err);
		if (got < 0) {
			rc = bfs_err_prefix(err, (int)got,
					    "cannot read index object '%s'",
					    key);
			break;
		}
		/* verifies the name, parses, maps the blobs */
		rc = bfs_locmap_add(pr->lm, ix->name, b.data, b.len, err);
		if (rc) {
			if (rc != -ENOMEM)
				rc = with_hint(err, rc);
			break;
		}
		c.ix = ix;
		ix->ref_first = pr->nrefs;
		rc = bfs_idxobj_parse(b.data, b.len, idx_pack_cb, &c, err);
		if (rc == -ENOMEM)
			rc = bfs_err_set(err, rc, "out of memory");
		else if (rc)
			bfs_err_prefix(err, rc, "index object '%s'", key);
	}
	bfs_buf_free(&b);
	return rc;
}

/* ---- packs -------------------------------------------------------------- */

static int list_pack_cb(void *arg, const char *key, uint64_t size)
{
	struct prune *pr = arg;
	uint8_t id[BFS_HASH_LEN];
	long ord;

	if (bfs_key_parse(key, id, NULL) != BFS_KEY_IS_PACK)
		return 0; /* temp files of a local put */
	ord = pp_pack_ord(pr, id, true);
	if (ord < 0)
		return (int)ord;
	pr->packs[ord].listed = true;
	pr->packs[ord].size = size;
	pr->st->before.packs++;
	pr->st->before.bytes += size;
	return 0;
}

static int list_packs(struct prune *pr, struct bfs_err *err)
{
	int rc =
	    bfs_store_list(pr->r->store, BFS_KEY_PACKS, list_pack_cb, pr, err);

	if (rc == -ENOMEM || rc == -EOVERFLOW)
		return bfs_err_set(err, rc, "too many packs");
	if (rc)
		return bfs_err_prefix(err, rc, "cannot list the packs of '%s'",
				      pr->r->store->url);
	return 0;
}

/* ---- the live set ----------------------------------------------------- */

static int live_cb(void *arg, const struct bfs_loc *loc)
{
	struct prune *pr = arg;
	struct pp_pack *p;
	long ord;
	int rc = bfs_hmap_insert(&pr->live, loc->ref.hash, NULL);

	if (rc == -EEXIST)
		return 0;
	if (rc)
		return rc;
	ord = pp_pack_ord(pr, loc->ref.pack, false);
	if (ord < 0)
		return -EPROTO; /* the locmap and our tables disagree */
	p = &pr->packs[ord];
	p->live_bytes += loc->ref.clen;
	p->nlive++;
	pr->st->blobs_live++;
	pr->st->live_bytes += loc->ref.clen;
	return 0;
}

/* A failed walk of backup name: a damaged repository gets the hint. */
static int walk_error(struct bfs_err *err, int rc, const char *name)
{
	char msg[sizeof(err->msg)];

	if (rc == -ENOMEM)
		return bfs_err_set(err, rc, "out of memory");
	if (rc != -EUCLEAN && rc != -ENOENT && rc != -EBADMSG && rc != -EPROTO)
		return rc; /* store errors: the message says enough */
	snprintf(msg, sizeof(msg), "%s", bfs_err_str(err, rc));
	if (strstr(msg, "backup '"))
		return with_hint(err, rc);
	return bfs_err_set(err, rc, "backup '%s': %s; %s", name, msg,
			   CHECK_HINT);
}

/* Walk every backup; a manifest that does not parse or a tree blob that
 * cannot be found stops prune before it changes anything. */
static int find_live(struct prune *pr, struct bfs_err *err)
{
	struct bfs_strv l = {0};
	struct bfs_reach *w = NULL;
	struct bfs_manifest2 man;
	struct bfs_buf b = {0};
	char key[BFS_KEY_MAX];
	int64_t got;
	size_t i;
	int rc;

	rc = bfs_repo_list_backups(pr->r->store, &l, err);
	if (rc)
		goto out;
	rc = bfs_reach_new(pr->lm, pr->r, live_cb, pr, &w, err);
	for (i = 0; !rc && i < l.n; i++) {
		bfs_repo_manifest_key(key, l.v[i]);
		b.len = 0;
		got = bfs_store_get(pr->r->store, key, 0, UINT64_MAX, &b, err);
		if (got == -ENOENT)
			continue; /* forgotten meanwhile: its blobs are dead */
		if (got < 0) {
			rc = bfs_err_prefix(err, (int)got,
					    "cannot read backup '%s'", l.v[i]);
			break;
		}
		memset(&man, 0, sizeof(man));
		rc = bfs_manifest2_parse(b.data, b.len, &man, err);
		if (!rc)
			rc = bfs_reach_backup(
			    w, l.v[i], (const uint8_t(*)[BFS_HASH_LEN])man.root,
			    man.nroot, err);
		bfs_manifest2_clear(&man);
		if (rc)
			rc = walk_error(err, rc, l.v[i]);
		if (!rc)
			pr->st->backups++;
	}
out:
	bfs_reach_free(w);
	bfs_strv_free(&l);
	bfs_buf_free(&b);
	return rc;
}

/* ---- deciding ------------------------------------------------------------ */

static bool old_enough(const struct prune *pr, int64_t seen_s)
{
	int64_t grace_s = (pr->o->grace_ns + 999999999) / 1000000000;

	if (grace_s <= 0)
		return true;
	return seen_s > 0 && pr->now_s - seen_s >= grace_s;
}

static void count(struct bfs_prune_count *c, const struct pp_pack *p)
{
	c->packs++;
	c->bytes += p->size;
}

static int decide(struct prune *pr, struct bfs_err *err)
{
	struct bfs_prune_stats *st = pr->st;
	char hex[BFS_HASH_HEX + 1];
	size_t i, j;

	/* young index objects make their packs young */
	for (i = 0; i < pr->nidx; i++) {
		struct pp_index *ix = &pr->idx[i];

		ix->seen_s = pp_seen_index(pr, ix->name);
		ix->young = !old_enough(pr, ix->seen_s);
		for (j = 0; ix->young && j < ix->nrefs; j++)
			pr->packs[pr->refs[ix->ref_first + j]].young = true;
	}
	for (i = 0; i < pr->npacks; i++) {
		struct pp_pack *p = &pr->packs[i];

		if (!p->indexed) {
			p->seen_s = pp_seen_pack(pr, p->id);
			p->young = !old_enough(pr, p->seen_s);
		}
		if (p->indexed && !p->listed && p->nlive) {
			bfs_hex(hex, p->id, BFS_HASH_HEX / 2);
			return bfs_err_set(err, -ENOENT,
					   "pack %s holds %" PRIu64
					   " live blobs but is missing: %s",
					   hex, p->nlive, CHECK_HINT);
		}
		if (p->young) {
			p->action = PP_KEEP;
		} else if (!p->indexed) {
			p->action = PP_GARBAGE;
		} else if (!p->nlive) {
			p->action = PP_DELETE;
		} else if ((p->frame_bytes - p->live_bytes) * 100 >
			   (uint64_t)pr->o->max_unused_pct * p->frame_bytes) {
			p->action = PP_REPACK;
		} else {
			p->action = PP_KEEP;
		}
		if (!p->listed)
			continue; /* named, gone: nothing to count */
		switch (p->action) {
		case PP_KEEP:
			count(&st->kept, p);
			if (p->young)
				count(&st->young, p);
			break;
		case PP_DELETE:
			count(&st->deleted, p);
			break;
		case PP_REPACK:
			count(&st->repacked, p);
			break;
		case PP_GARBAGE:
			count(&st->garbage, p);
			break;
		}
		if (p->action == PP_DELETE || p->action == PP_REPACK)
			st->blobs_dropped += p->nblobs - p->nlive;
	}
	for (i = 0; i < pr->nidx; i++) {
		struct pp_index *ix = &pr->idx[i];

		for (j = 0; j < ix->nrefs && !ix->affected; j++) {
			enum pp_action a =
			    pr->packs[pr->refs[ix->ref_first + j]].action;

			ix->affected = a == PP_DELETE || a == PP_REPACK;
		}
	}
	return 0;
}

/* ---- the whole ------------------------------------------------------------
 */

static void prune_fini(struct prune *pr)
{
	bfs_locmap_free(pr->lm);
	bfs_hmap_fini(&pr->pack_map);
	bfs_hmap_fini(&pr->live);
	bfs_hmap_fini(&pr->seen_index);
	bfs_hmap_fini(&pr->seen_packs);
	free(pr->packs);
	free(pr->idx);
	free(pr->refs);
	free(pr->blobs);
	free(pr->seen_objs);
}

int bfs_prune(struct bfs_repo *r, const struct bfs_prune_opts *o,
	      struct bfs_prune_stats *stats, struct bfs_err *err)
{
	struct bfs_prune_stats st0;
	struct bfs_prune_stats *st = stats ? stats : &st0;
	struct prune pr = {.r = r, .o = o, .st = st};
	struct bfs_lock *lock = o->lock, *own = NULL;
	int rc;

	memset(st, 0, sizeof(*st));
	pr.now_s = bfs_now_ns() / 1000000000;
	if (!lock) {
		rc = bfs_lock_take(
		    r, o->dry_run ? BFS_LOCK_SHARED : BFS_LOCK_EXCLUSIVE,
		    "prune", o->wait_ns, &own, err);
		if (rc)
			return rc;
		lock = own;
	}
	if (bfs_hmap_init(&pr.pack_map, sizeof(struct pp_pack_rec),
			  BFS_HASH_LEN, 0, BFS_HMAP_PREHASHED) ||
	    bfs_hmap_init(&pr.live, BFS_HASH_LEN, BFS_HASH_LEN, 0,
			  BFS_HMAP_PREHASHED) ||
	    bfs_hmap_init(&pr.seen_index, sizeof(struct pp_seen_rec),
			  BFS_HASH_LEN, 0, BFS_HMAP_PREHASHED) ||
	    bfs_hmap_init(&pr.seen_packs, sizeof(struct pp_seen_rec),
			  BFS_HASH_LEN, 0, BFS_HMAP_PREHASHED)) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = bfs_locmap_new(&pr.lm, err);
	/* the repack decodes a delta with its base (live when the delta is) */
	if (!rc)
		rc =
		    bfs_repo_set_locate(r, bfs_locmap_locate, pr.lm, NULL, err);
	/* Index objects before packs: a backup finishing meanwhile (only
	 * one whose lock went stale can) then shows its new packs as
	 * unindexed, which the grace protects. */
	if (!rc)
		rc = load_index(&pr, err);
	if (!rc)
		rc = list_packs(&pr, err);
	if (!rc)
		rc = pp_seen_load(&pr, err);
	if (!rc)
		rc = find_live(&pr, err);
	if (!rc)
		rc = decide(&pr, err);
	if (!rc)
		rc = pp_apply(&pr, lock, err);
out:
	bfs_repo_set_locate(r, NULL, NULL, NULL, NULL);
	prune_fini(&pr);
	bfs_lock_release(own);
	return rc;
}
