/* check_walk.c - step 4 of `backupfs check` (check.h): every manifest
 * and its trees, one manifest at a time.
 *
 * Not bfs_locmap_walk: that one stops at the first defect, and check
 * must go on past a damaged tree part to find every path that is broken
 * and every other defect.  Each entry of the walk gets a sequence
 * number, so that a problem gets a path once per entry however many of
 * the entry's chunks it breaks.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "delta.h"
#include "dumpmap.h"
#include "format.h"
#include "tree.h"

struct cwalk {
	struct check *c;
	const char *backup;	    /* the backup at hand */
	struct bfs_buf path;	    /* the entry at hand, NUL-terminated */
	uint64_t seq;		    /* the entry at hand's number */
	uint64_t next;		    /* the last number given */
	struct bfs_blobref *chunks; /* a file's chunks from its lists */
	size_t nchunks, chunk_cap;
	size_t nmissing;  /* blobs in no index object with a problem each */
	int more_missing; /* the problem of the blobs past CK_MAX_MISSING */
};

/* Blobs in no index object that get a problem each; a lost index object
 * can hide a million, which share one problem past these. */
#define CK_MAX_MISSING 1000

static const char *wpath(const struct cwalk *w)
{
	return w->path.data ? (const char *)w->path.data : "";
}

/* Hit problem p at the entry at hand; 0 or the fatal error. */
static int hit(struct cwalk *w, int p)
{
	if (p < 0)
		return w->c->fatal ? w->c->fatal : -ENOMEM;
	return ck_hit(w->c, p, w->backup, wpath(w), w->seq);
}

/* A new problem about key (blob id or directory key), filed under key
 * and hit at the entry at hand. */
static int new_problem(struct cwalk *w, const char *kind,
		       const uint8_t key[BFS_HASH_LEN], const char *what,
		       const char *msg)
{
	char hex[BFS_HASH_HEX + 1];
	int p;

	bfs_hex(hex, key, BFS_HASH_LEN);
	p = ck_problem(w->c, kind, hex, "%s%s", what, msg);
	if (p >= 0 && ck_bad_set(w->c, key, p))
		return w->c->fatal;
	return hit(w, p);
}

/* Blob id (what: "chunk", "tree part", ...) is in no index object. */
static int missing(struct cwalk *w, const uint8_t id[BFS_HASH_LEN],
		   const char *what)
{
	struct check *c = w->c;
	const struct ck_bad *lost = bfs_hmap_find(&c->lost, id);

	c->rep->missing_blobs++;
	if (lost) {
		/* a damaged index object named it: its problem */
		if (ck_bad_set(c, id, (int)lost->problem))
			return c->fatal;
		return hit(w, (int)lost->problem);
	}
	if (w->nmissing++ < CK_MAX_MISSING)
		return new_problem(w, "blob", id, what,
				   " is in no index object");
	if (w->more_missing < 0) {
		w->more_missing = ck_problem(
		    c, "blob", "(more)",
		    "more blobs are in no index object than the %d listed "
		    "(counts.missing_blobs of --json has their number)",
		    CK_MAX_MISSING);
		if (w->more_missing < 0)
			return c->fatal;
	}
	if (ck_bad_set(c, id, w->more_missing))
		return c->fatal;
	return hit(w, w->more_missing);
}

/* Blob id referenced: count it once. */
static void referenced(struct cwalk *w, const uint8_t id[BFS_HASH_LEN],
		       uint32_t clen)
{
	bool was = true;

	if (bfs_locmap_mark(w->c->m, id, &was) || was)
		return;
	pthread_mutex_lock(&w->c->lock);
	w->c->rep->referenced++;
	w->c->ref_clen += clen;
	pthread_mutex_unlock(&w->c->lock);
}

/* One base of delta blob id: referenced, and the blob is damaged when
 * the base is missing, damaged or not a whole blob of type. */
static int check_one_base(struct cwalk *w, const uint8_t id[BFS_HASH_LEN],
			  const uint8_t base[BFS_HASH_LEN], int type,
			  const char *what, bool *ok)
{
	char msg[200], hex[BFS_HASH_HEX + 1];
	struct bfs_loc loc;
	int p;

	if (bfs_locmap_find(w->c->m, base, &loc)) {
		*ok = false;
		return missing(w, base, "delta base");
	}
	referenced(w, base, loc.ref.clen);
	p = ck_bad_find(w->c, base);
	if (p >= 0) {
		*ok = false;
		return hit(w, p);
	}
	if (loc.type != type) {
		*ok = false;
		bfs_hex(hex, base, BFS_HASH_LEN);
		snprintf(msg, sizeof(msg),
			 " is a delta whose base %.12s is not a whole %s "
			 "blob",
			 hex, type == BFS_BLOB_TREE ? "tree" : "data");
		return new_problem(w, "blob", id, what, msg);
	}
	return 0;
}

/* The bases of delta blob id (what: "chunk", "tree part"...): every one
 * referenced, and the blob is damaged when one is missing, damaged or
 * not a whole blob of type (data or tree; depth 1). */
static int check_base(struct cwalk *w, const uint8_t id[BFS_HASH_LEN], int type,
		      const char *what, bool *ok)
{
	struct bfs_bases bs;
	size_t i;
	int rc = 0;

	if (bfs_locmap_bases(w->c->m, id, &bs) || bs.n == 0) {
		*ok = false;
		return new_problem(w, "blob", id, what,
				   " is a delta without a base");
	}
	for (i = 0; !rc && i < bs.n; i++)
		rc = check_one_base(w, id, bs.id[i], type, what, ok);
	return rc;
}

/* Read tree blob id (what: "tree part", "chunk list") into out.  *ok
 * false when it is damaged (recorded).  0 or a fatal error. */
static int read_tree_blob(struct cwalk *w, const uint8_t id[BFS_HASH_LEN],
			  const char *what, struct bfs_buf *out, bool *ok)
{
	struct bfs_err err = {""};
	char msg[1200];
	struct bfs_loc loc;
	size_t len;
	bool bok;
	int p, rc;

	*ok = false;
	if (!bfs_locmap_find(w->c->m, id, &loc))
		referenced(w, id, loc.ref.clen);
	p = ck_bad_find(w->c, id);
	if (p >= 0)
		return hit(w, p);
	if (bfs_locmap_find(w->c->m, id, &loc))
		return missing(w, id, what);
	if ((loc.type != BFS_BLOB_TREE && loc.type != BFS_BLOB_DELTA) ||
	    loc.ref.len > BFS_TREE_PART_MAX) {
		snprintf(msg, sizeof(msg),
			 " is not a tree blob in the index (type %d, %u bytes)",
			 loc.type, loc.ref.len);
		return new_problem(w, "blob", id, what, msg);
	}
	/* a tree part as a delta (section 18.1): its base is referenced
	 * and must be a tree blob stored whole */
	if (loc.type == BFS_BLOB_DELTA) {
		bok = true;
		rc = check_base(w, id, BFS_BLOB_TREE, what, &bok);
		if (rc || !bok)
			return rc;
	}
	out->len = 0;
	if (bfs_buf_reserve(out, (size_t)loc.ref.len + 1))
		return -ENOMEM;
	len = loc.ref.len;
	rc = bfs_repo_read_chunk(w->c->r, &loc.ref, out->data, &err);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		snprintf(msg, sizeof(msg), " cannot be read: %s", err.msg);
		return new_problem(w, ck_is_damage(rc) ? "blob" : "io", id,
				   what, msg);
	}
	out->len = len;
	*ok = true;
	return 0;
}

/* One chunk of the file at hand. */
static int check_chunk(struct cwalk *w, const struct bfs_blobref *ref, bool *ok)
{
	struct bfs_loc loc;
	char msg[200];
	int p;

	if (!bfs_locmap_find(w->c->m, ref->hash, &loc))
		referenced(w, ref->hash, loc.ref.clen);
	p = ck_bad_find(w->c, ref->hash);
	if (p >= 0) {
		*ok = false;
		return hit(w, p);
	}
	if (bfs_locmap_find(w->c->m, ref->hash, &loc)) {
		*ok = false;
		return missing(w, ref->hash, "chunk");
	}
	if ((loc.type != BFS_BLOB_DATA && loc.type != BFS_BLOB_DELTA &&
	     loc.type != BFS_BLOB_DELTA2) ||
	    loc.ref.len != ref->len) {
		*ok = false;
		snprintf(msg, sizeof(msg),
			 " is a %s blob of %u bytes in the index, the tree "
			 "says a chunk of %u",
			 loc.type == BFS_BLOB_TREE ? "tree" : "data",
			 loc.ref.len, ref->len);
		return new_problem(w, "blob", ref->hash, "chunk", msg);
	}
	if (loc.type == BFS_BLOB_DELTA || loc.type == BFS_BLOB_DELTA2)
		return check_base(w, ref->hash, BFS_BLOB_DATA, "chunk", ok);
	return 0;
}

/* The content of file te (its line in tree part part). */
static int check_file(struct cwalk *w, const struct bfs_tree_entry *te,
		      const uint8_t part[BFS_HASH_LEN], bool *ok)
{
	struct bfs_err err = {""};
	struct bfs_blobref *refs = NULL;
	const struct bfs_blobref *ch = te->chunks;
	struct bfs_buf b = {0};
	size_t i, n = 0, nch = te->nchunks;
	uint64_t sum = 0;
	bool lists_ok = true, bok;
	int rc = 0;

	if (te->nlists) {
		w->nchunks = 0;
		for (i = 0; i < te->nlists && !rc; i++) {
			rc = read_tree_blob(w, te->lists[i], "chunk list", &b,
					    &bok);
			if (rc || !bok) {
				lists_ok = false;
				continue;
			}
			rc =
			    bfs_tree_list_parse(b.data, b.len, &refs, &n, &err);
			if (rc == -ENOMEM)
				break;
			if (rc) {
				lists_ok = false;
				rc = new_problem(w, "tree", te->lists[i],
						 "chunk list: ", err.msg);
				continue;
			}
			if (w->nchunks + n > w->chunk_cap) {
				size_t nc =
				    BFS_MAX(2 * w->chunk_cap, w->nchunks + n);
				struct bfs_blobref *nv =
				    realloc(w->chunks, nc * sizeof(*nv));

				if (!nv) {
					rc = -ENOMEM;
					break;
				}
				w->chunks = nv;
				w->chunk_cap = nc;
			}
			if (n)
				memcpy(w->chunks + w->nchunks, refs,
				       n * sizeof(*refs));
			w->nchunks += n;
			free(refs);
			refs = NULL;
		}
		ch = w->chunks;
		nch = w->nchunks;
	}
	free(refs);
	bfs_buf_free(&b);
	if (!lists_ok)
		*ok = false;
	for (i = 0; i < nch && !rc; i++) {
		sum += ch[i].len;
		rc = check_chunk(w, &ch[i], ok);
	}
	if (!rc && lists_ok && !te->e.error && !te->e.link_len &&
	    sum != te->e.size) {
		char msg[200];

		*ok = false;
		snprintf(msg, sizeof(msg),
			 ": file of %" PRIu64 " bytes has %" PRIu64
			 " bytes of chunks",
			 te->e.size, sum);
		rc = new_problem(w, "tree", part, "tree part", msg);
	}
	return rc;
}

/* The dump map of file te: readable, its id right, and a valid map of
 * the file's bytes.  A bad map is a problem of its own; the file's
 * content is not affected by it. */
static int check_dt(struct cwalk *w, const struct bfs_tree_entry *te)
{
	struct bfs_err err = {""};
	struct bfs_dumpmap *m = NULL;
	struct bfs_buf b = {0};
	bool bok;
	int rc;

	rc = read_tree_blob(w, te->dt, "dump map", &b, &bok);
	if (!rc && bok) {
		rc = bfs_dumpmap_parse(b.data, b.len, te->e.size, &m, &err);
		bfs_dumpmap_free(m);
		if (rc && rc != -ENOMEM)
			rc = new_problem(w, "tree", te->dt,
					 "dump map: ", err.msg);
	}
	bfs_buf_free(&b);
	return rc;
}

/* A file's per-chunk record blob ("sk" sketches, "sa" anchors; doc/FORMAT.md
 * section 18): referenced, readable, well formed by recs_check.  Only the
 * next backup's deltas use it. */
static int check_recs(struct cwalk *w, const struct bfs_tree_entry *te,
		      const uint8_t id[BFS_HASH_LEN], const char *what,
		      int (*recs_check)(const void *, size_t, uint64_t,
					size_t *, struct bfs_err *))
{
	struct bfs_err err = {""};
	struct bfs_buf b = {0};
	/* with list blobs the chunk count is not at hand: every chunk
	 * holds a byte at least */
	uint64_t nchunks = te->nlists ? te->e.size : te->nchunks;
	char prefix[32];
	size_t n;
	bool bok;
	int rc;

	rc = read_tree_blob(w, id, what, &b, &bok);
	if (!rc && bok && recs_check(b.data, b.len, nchunks, &n, &err)) {
		snprintf(prefix, sizeof(prefix), "%s: ", what);
		rc = new_problem(w, "tree", id, prefix, err.msg);
	}
	bfs_buf_free(&b);
	return rc;
}

/* The key of a directory: SHA-256 of its part ids, in order. */
static void dir_key(uint8_t key[BFS_HASH_LEN],
		    const uint8_t (*parts)[BFS_HASH_LEN], size_t nparts)
{
	bfs_sha256(key, parts, nparts * BFS_HASH_LEN);
}

/* Walk the directory whose tree is parts[0..nparts) (the entry at hand,
 * or the root).  *count gets the entries below it that were found;
 * *whole is cleared when anything below it is damaged. */
static int walk_dir(struct cwalk *w, const uint8_t (*parts)[BFS_HASH_LEN],
		    size_t nparts, unsigned depth, uint64_t *count, bool *whole)
{
	struct check *c = w->c;
	struct bfs_err err = {""};
	struct bfs_tree_part *p = NULL;
	struct bfs_tree_entry te;
	struct bfs_buf plain = {0}, prev = {0};
	uint8_t key[BFS_HASH_LEN], (*sub)[BFS_HASH_LEN] = NULL;
	struct ck_whole wr, *found;
	size_t base = w->path.len, i;
	uint64_t dir_seq = w->seq, entry_seq, n = 0, subn;
	bool first = true, mine = true, ok, subwhole;
	int rc = 0;

	*count = 0;
	if (!nparts)
		return 0;
	dir_key(key, parts, nparts);
	found = bfs_hmap_find(&c->whole, key);
	if (found) {
		*count = found->count;
		return 0;
	}
	if (depth > BFS_TREE_MAX_DEPTH) {
		*whole = false;
		return new_problem(w, "tree", key, "directory tree",
				   ": nested too deep");
	}
	for (i = 0; i < nparts && !rc; i++) {
		w->path.len = base;
		w->path.data[base] = 0;
		w->seq = dir_seq;
		rc = read_tree_blob(w, parts[i], "tree part", &plain, &ok);
		if (rc || !ok) {
			mine = false;
			continue;
		}
		rc = bfs_tree_part_open(plain.data, plain.len, &p, &err);
		if (rc == -ENOMEM)
			break;
		if (rc) {
			mine = false;
			rc = new_problem(w, "tree", parts[i],
					 "tree part: ", err.msg);
			continue;
		}
		while ((rc = bfs_tree_part_next(p, &te, &err)) == 1) {
			rc = 0;
			if (!first &&
			    bfs_tree_name_cmp((char *)prev.data, prev.len,
					      te.e.path, te.e.path_len) >= 0) {
				mine = false;
				w->path.len = base;
				w->path.data[base] = 0;
				w->seq = dir_seq;
				rc = new_problem(w, "tree", key,
						 "directory tree",
						 ": names not sorted across "
						 "its parts");
				if (rc)
					break;
			}
			first = false;
			prev.len = 0;
			w->path.len = base;
			if (bfs_buf_append(&prev, te.e.path, te.e.path_len) ||
			    (base && bfs_buf_append(&w->path, "/", 1)) ||
			    bfs_buf_append(&w->path, te.e.path,
					   te.e.path_len + 1)) {
				rc = -ENOMEM;
				break;
			}
			w->path.len--; /* the NUL stays behind the end */
			w->seq = ++w->next;
			entry_seq = w->seq;
			n++;
			ok = true;
			if (te.e.type == BFS_T_FILE)
				rc = check_file(w, &te, parts[i], &ok);
			if (!rc && te.dt)
				rc = check_dt(w, &te);
			if (!rc && te.sk)
				rc = check_recs(w, &te, te.sk, "sketch blob",
						bfs_sketch_blob_check);
			if (!rc && te.sa)
				rc = check_recs(w, &te, te.sa, "anchor blob",
						bfs_anchor_blob_check);
			if (rc)
				break;
			mine = mine && ok;
			if (te.e.type != BFS_T_DIR)
				continue;
			sub =
			    malloc((te.nparts ? te.nparts : 1) * sizeof(*sub));
			if (!sub) {
				rc = -ENOMEM;
				break;
			}
			if (te.nparts) /* an empty directory has none */
				memcpy(sub, te.parts, te.nparts * sizeof(*sub));
			subwhole = true;
			rc = walk_dir(w, (const uint8_t(*)[BFS_HASH_LEN])sub,
				      te.nparts, depth + 1, &subn, &subwhole);
			free(sub);
			sub = NULL;
			w->seq = entry_seq;
			n += subn;
			if (!rc && subwhole && subn != te.count) {
				char msg[200];

				subwhole = false;
				snprintf(msg, sizeof(msg),
					 ": directory '%s' has %" PRIu64
					 " entries below it, its count says "
					 "%" PRIu64,
					 te.e.path, subn, te.count);
				rc = new_problem(w, "tree", parts[i],
						 "tree part", msg);
			}
			mine = mine && subwhole;
			if (rc)
				break;
		}
		if (rc < 0 && rc != -ENOMEM && !c->fatal) {
			/* a defect inside the part (its line number) */
			mine = false;
			w->path.len = base;
			w->path.data[base] = 0;
			w->seq = dir_seq;
			rc = new_problem(w, "tree", parts[i],
					 "tree part: ", err.msg);
		}
		bfs_tree_part_free(p);
		p = NULL;
	}
	w->path.len = base;
	w->path.data[base] = 0;
	bfs_buf_free(&plain);
	bfs_buf_free(&prev);
	*count = n;
	if (rc)
		return c->fatal ? c->fatal : rc;
	if (mine) {
		memcpy(wr.key, key, BFS_HASH_LEN);
		wr.count = n;
		if (bfs_hmap_insert(&c->whole, &wr, NULL) == -ENOMEM)
			return -ENOMEM;
	}
	*whole = *whole && mine;
	return 0;
}

/* One manifest. */
static int walk_manifest(struct cwalk *w, const char *name, struct bfs_buf *b)
{
	struct check *c = w->c;
	struct bfs_err err = {""};
	struct bfs_manifest2 m;
	char key[BFS_KEY_MAX];
	uint64_t n = 0;
	bool whole = true;
	int64_t got;
	int rc, p;

	memset(&m, 0, sizeof(m));
	if (bfs_repo_manifest_key(key, name))
		return 0;
	w->backup = name;
	w->seq = ++w->next; /* the root */
	w->path.len = 0;
	w->path.data[0] = 0;
	b->len = 0;
	got = bfs_store_get(c->r->store, key, 0, UINT64_MAX, b, &err);
	if (got == -ENOENT) {
		c->rep->backups--; /* forgotten since the listing */
		return 0;
	}
	if (got < 0) {
		p = ck_problem(c, "io", key, "%s", err.msg);
		return p < 0 ? c->fatal : ck_hit(c, p, name, NULL, w->seq);
	}
	rc = bfs_manifest2_parse(b->data, b->len, &m, &err);
	if (rc == -ENOMEM)
		return rc;
	if (!rc && strcmp(m.h.id, name))
		rc = bfs_err_set(&err, -EUCLEAN, "its id is '%s'", m.h.id);
	if (rc) {
		p = ck_problem(c, "manifest", key, "%s", err.msg);
		rc = p < 0 ? c->fatal : ck_hit(c, p, name, NULL, w->seq);
		goto out;
	}
	rc = walk_dir(w, (const uint8_t(*)[BFS_HASH_LEN])m.root, m.nroot, 0, &n,
		      &whole);
	c->rep->entries += n;
	if (!rc && whole && n != m.count) {
		p = ck_problem(c, "manifest", key,
			       "its count says %" PRIu64
			       " entries, its trees hold %" PRIu64,
			       m.count, n);
		rc = p < 0 ? c->fatal : ck_hit(c, p, name, NULL, w->seq);
	}
out:
	bfs_manifest2_clear(&m);
	return rc;
}

int ck_walk_manifests(struct check *c, char **names, size_t n)
{
	struct cwalk w = {.c = c, .more_missing = -1};
	struct bfs_buf b = {0};
	size_t i;
	int rc = 0;

	if (bfs_buf_append(&w.path, "", 1))
		return -ENOMEM;
	for (i = 0; i < n && !rc && !c->fatal; i++)
		rc = walk_manifest(&w, names[i], &b);
	bfs_buf_free(&b);
	bfs_buf_free(&w.path);
	free(w.chunks);
	return rc ? rc : c->fatal;
}
