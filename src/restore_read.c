/* restore_read.c - chunk lists to bytes (on the read engine), `cat`, and
 * the tree walks (on the paged catalog iterator).  See restore.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "restore_int.h"

/* ---- reading chunk lists ---------------------------------------------- */

int rst_reloc_init(struct rst_reloc *x, struct bfs_repo *repo,
		   struct bfs_catalog *cat)
{
	memset(x, 0, sizeof(*x));
	x->repo = repo;
	x->path = strdup(bfs_catalog_path(cat));
	if (!x->path)
		return -ENOMEM;
	pthread_mutex_init(&x->lock, NULL);
	return 0;
}

void rst_reloc_fini(struct rst_reloc *x)
{
	if (!x->path)
		return;
	bfs_catalog_close(x->cat);
	pthread_mutex_destroy(&x->lock);
	free(x->path);
	x->path = NULL;
}

int rst_relocate(void *arg, const uint8_t hash[BFS_HASH_LEN],
		 const uint8_t gone[BFS_HASH_LEN], struct bfs_chunkref *out,
		 struct bfs_err *err)
{
	struct rst_reloc *x = arg;
	int rc = 0;

	pthread_mutex_lock(&x->lock);
	if (!x->cat)
		rc =
		    bfs_catalog_open(x->path, x->repo->id, false, &x->cat, err);
	/* a vanished pack: resync unless an earlier resync moved it */
	if (!rc && (bfs_catalog_chunk_lookup(x->cat, hash, out) ||
		    !memcmp(out->pack, gone, BFS_HASH_LEN))) {
		/* at most one resync a second: a damaged pack would ask
		 * for every chunk */
		bfs_reader_resync_wait(&x->last_ns);
		rc = bfs_catalog_sync_index(x->cat, x->repo, err);
		if (!rc)
			rc = bfs_catalog_chunk_lookup(x->cat, hash, out);
		/* still there after the resync: what vanished may have
		 * been the pack of its delta base (FORMAT.md section 18),
		 * which the resync located again: read it once more */
	}
	pthread_mutex_unlock(&x->lock);
	return rc;
}

/* bfs_read_chunk_list with relocation through reloc (may be NULL). */
static int read_chunk_list(struct bfs_repo *repo, struct rst_reloc *reloc,
			   const struct bfs_chunkref *refs, size_t n,
			   bfs_data_cb cb, void *arg, struct bfs_err *err)
{
	struct bfs_reader_config cfg = {.relocate = rst_relocate,
					.relocate_arg = reloc};
	struct bfs_reader *rd;
	int rc;

	rc = bfs_reader_create(repo, NULL, reloc ? &cfg : NULL, &rd);
	if (rc < 0)
		return bfs_err_set(err, rc, "out of memory");
	rc = bfs_reader_stream(rd, refs, n, cb, arg, err);
	bfs_reader_destroy(rd);
	return rc;
}

int bfs_read_chunk_list(struct bfs_repo *repo, const struct bfs_chunkref *refs,
			size_t n, bfs_data_cb cb, void *arg,
			struct bfs_err *err)
{
	return read_chunk_list(repo, NULL, refs, n, cb, arg, err);
}

int rst_check_chunk_sum(const struct bfs_chunkref *refs, size_t n,
			uint64_t size, const char *name, struct bfs_err *err)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += refs[i].len;
	if (sum != size)
		return bfs_err_set(
		    err, -EUCLEAN,
		    "chunks of '%s' add up to %llu bytes, not its size %llu",
		    name, (unsigned long long)sum, (unsigned long long)size);
	return 0;
}

int rst_entry_size(struct bfs_catalog *cat, const struct bfs_cat_entry *ce,
		   uint64_t *size, struct bfs_err *err)
{
	struct bfs_cat_entry data;
	int rc;

	*size = ce->e.size;
	if (!ce->link_id || ce->e.size)
		return 0;
	memset(&data, 0, sizeof(data));
	rc = bfs_catalog_get(cat, ce->link_id, &data, err);
	if (rc < 0)
		return rc;
	*size = data.e.size;
	bfs_cat_entry_clear(&data);
	return 0;
}

int rst_link_unreadable(struct bfs_catalog *cat, const struct bfs_cat_entry *ce,
			struct bfs_err *err)
{
	struct bfs_cat_entry first;
	int rc;

	if (!ce->link_id || ce->link_id == ce->id)
		return 0;
	memset(&first, 0, sizeof(first));
	rc = bfs_catalog_get(cat, ce->link_id, &first, err);
	if (rc < 0)
		return rc;
	if (first.e.error)
		rc = bfs_err_set(err, -EIO,
				 "hardlink to '%.*s', which was unreadable at "
				 "backup time: %s",
				 (int)BFS_MIN(ce->e.link_len, 4096),
				 ce->e.link ? ce->e.link : "", first.e.error);
	bfs_cat_entry_clear(&first);
	return rc;
}

/* ---- cat ---------------------------------------------------------------- */

struct cat_out {
	int fd;
	int werr;
};

static int cat_write(void *arg, uint64_t off, const uint8_t *data, size_t n)
{
	struct cat_out *o = arg;
	int rc = bfs_write_full(o->fd, data, n);

	(void)off;
	if (rc < 0)
		o->werr = rc;
	return rc;
}

int bfs_restore_cat_cb(struct bfs_repo *repo, struct bfs_catalog *cat,
		       int64_t id, bfs_data_cb cb, void *arg,
		       struct bfs_err *err)
{
	struct bfs_cat_entry ce;
	struct bfs_chunkref *refs = NULL;
	struct rst_reloc reloc;
	uint64_t size;
	size_t n = 0;
	int rc;

	memset(&ce, 0, sizeof(ce));
	rc = bfs_catalog_get(cat, id, &ce, err);
	if (rc < 0)
		return rc;
	if (ce.e.type == BFS_T_DIR) {
		rc = bfs_err_set(err, -EISDIR, "is a directory");
		goto out_clear;
	}
	if (ce.e.type != BFS_T_FILE) {
		rc = bfs_err_set(err, -EINVAL, "is not a regular file");
		goto out_clear;
	}
	if (ce.e.error) {
		rc = bfs_err_set(err, -ENODATA,
				 "was unreadable at backup time: %s",
				 ce.e.error);
		goto out_clear;
	}
	rc = rst_link_unreadable(cat, &ce, err);
	if (rc < 0)
		goto out_clear;
	rc = rst_entry_size(cat, &ce, &size, err);
	if (rc < 0)
		goto out_clear;
	rc = bfs_catalog_chunks(cat, id, &refs, &n, err);
	if (rc < 0)
		goto out_clear;
	rc =
	    rst_check_chunk_sum(refs, n, size, ce.e.path ? ce.e.path : "", err);
	if (rc < 0)
		goto out_free;
	rc = rst_reloc_init(&reloc, repo, cat);
	if (rc < 0) {
		bfs_err_set(err, rc, "out of memory");
		goto out_free;
	}
	rc = read_chunk_list(repo, &reloc, refs, n, cb, arg, err);
	rst_reloc_fini(&reloc);
out_free:
	free(refs);
out_clear:
	bfs_cat_entry_clear(&ce);
	return rc;
}

int bfs_restore_cat_fd(struct bfs_repo *repo, struct bfs_catalog *cat,
		       int64_t id, int fd, struct bfs_err *err)
{
	struct cat_out o = {fd, 0};
	int rc = bfs_restore_cat_cb(repo, cat, id, cat_write, &o, err);

	if (rc < 0 && o.werr)
		rc = bfs_err_set(err, o.werr, "cannot write output: %s",
				 strerror(-o.werr));
	return rc;
}

/* ---- path buffer -------------------------------------------------------- */

int rst_path_push(struct bfs_buf *b, const char *name, size_t n)
{
	int rc;

	if (b->len && b->data[b->len - 1] != '/' &&
	    (rc = bfs_buf_append(b, "/", 1)) < 0)
		return rc;
	if ((rc = bfs_buf_reserve(b, n + 1)) < 0)
		return rc;
	memcpy(b->data + b->len, name, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void rst_path_pop(struct bfs_buf *b, size_t len)
{
	b->len = len;
	if (b->data)
		b->data[len] = '\0';
}

/* ---- walk --------------------------------------------------------------- */

struct walk {
	struct bfs_catalog *cat;
	bfs_walk_cb cb;
	void *arg;
	struct bfs_buf path;
	struct bfs_err *err;
};

static int walk_dir(struct walk *w, int64_t dir)
{
	struct bfs_catalog_iter it;
	const struct bfs_cat_entry *ce;
	size_t base = w->path.len;
	int rc;

	bfs_catalog_iter_init(&it, w->cat, dir, 0, RESTORE_PAGE);
	while ((rc = bfs_catalog_iter_next(&it, &ce, w->err)) == 1) {
		rc = rst_path_push(&w->path, ce->e.path ? ce->e.path : "",
				   ce->e.path_len);
		if (rc < 0) {
			bfs_err_set(w->err, rc, "out of memory");
			break;
		}
		rc = w->cb(w->arg, (const char *)w->path.data, w->path.len, ce);
		if (rc == 0 && ce->e.type == BFS_T_DIR)
			rc = walk_dir(w, ce->id);
		else if (rc == 1)
			rc = 0;
		rst_path_pop(&w->path, base);
		if (rc)
			break;
	}
	bfs_catalog_iter_fini(&it);
	return rc;
}

int bfs_tree_walk(struct bfs_catalog *cat, int64_t dir, bfs_walk_cb cb,
		  void *arg, struct bfs_err *err)
{
	struct walk w = {cat, cb, arg, {0}, err};
	int rc;

	rc = bfs_buf_reserve(&w.path, 256);
	if (rc < 0)
		return bfs_err_set(err, rc, "out of memory");
	w.path.data[0] = '\0';
	rc = walk_dir(&w, dir);
	bfs_buf_free(&w.path);
	return rc;
}

/* ---- children ------------------------------------------------------------ */

int bfs_tree_children(struct bfs_catalog *cat, int64_t dir,
		      struct bfs_cat_entry **out, size_t *n,
		      struct bfs_err *err)
{
	struct bfs_catalog_iter it;
	const struct bfs_cat_entry *page;
	struct bfs_cat_entry *v = NULL;
	size_t nv = 0, cap = 0, np, i;
	int rc;

	*out = NULL;
	*n = 0;
	bfs_catalog_iter_init(&it, cat, dir, 0, RESTORE_PAGE);
	while ((rc = bfs_catalog_iter_page(&it, &page, &np, err)) == 0 && np) {
		if (nv + np > cap) {
			size_t ncap = BFS_MAX(cap * 2, nv + np);
			struct bfs_cat_entry *nw =
			    realloc(v, ncap * sizeof(*nw));

			if (!nw) {
				rc = bfs_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			v = nw;
			cap = ncap;
		}
		/* Copy out: the iterator reuses its page. */
		for (i = 0; i < np; i++) {
			rc = bfs_cat_entry_copy(&v[nv], &page[i]);
			if (rc < 0) {
				bfs_err_set(err, rc, "out of memory");
				break;
			}
			nv++;
		}
		if (rc < 0)
			break;
	}
	bfs_catalog_iter_fini(&it);
	if (rc < 0) {
		bfs_tree_children_free(v, nv);
		return rc;
	}
	*out = v;
	*n = nv;
	return 0;
}

void bfs_tree_children_free(struct bfs_cat_entry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		bfs_cat_entry_clear(&v[i]);
	free(v);
}
