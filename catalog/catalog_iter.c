/* catalog_iter.c - see catalog_iter.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_iter.h"

#define PAGE_DEFAULT 1024

static char *memdup0(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

int bfs_cat_entry_copy(struct bfs_cat_entry *dst,
		       const struct bfs_cat_entry *src)
{
	const struct bfs_entry *s = &src->e;
	struct bfs_entry *d = &dst->e;

	*dst = *src;
	d->path = d->user = d->group = d->target = d->link = d->error = NULL;
	if (s->path && !(d->path = memdup0(s->path, s->path_len)))
		goto out_nomem;
	if (s->user && !(d->user = strdup(s->user)))
		goto out_nomem;
	if (s->group && !(d->group = strdup(s->group)))
		goto out_nomem;
	if (s->target && !(d->target = memdup0(s->target, s->target_len)))
		goto out_nomem;
	if (s->link && !(d->link = memdup0(s->link, s->link_len)))
		goto out_nomem;
	if (s->error && !(d->error = strdup(s->error)))
		goto out_nomem;
	if (!s->path)
		d->path_len = 0;
	return 0;
out_nomem:
	bfs_cat_entry_clear(dst);
	return -ENOMEM;
}

void bfs_catalog_iter_init(struct bfs_catalog_iter *it, struct bfs_catalog *cat,
			   int64_t dir, int64_t after, unsigned page_size)
{
	memset(it, 0, sizeof(*it));
	it->cat = cat;
	it->dir = dir;
	it->after = after;
	it->page_size = page_size ? page_size : PAGE_DEFAULT;
}

static void page_clear(struct bfs_catalog_iter *it)
{
	size_t i;

	for (i = 0; i < it->n; i++)
		bfs_cat_entry_clear(&it->page[i]);
	it->n = 0;
	it->pos = 0;
	it->rc = 0;
}

static int page_add(void *arg, const struct bfs_cat_entry *e)
{
	struct bfs_catalog_iter *it = arg;

	if (bfs_cat_entry_copy(&it->page[it->n], e) < 0) {
		it->rc = -ENOMEM;
		return -ENOMEM;
	}
	it->n++;
	return it->n >= it->page_size ? 1 : 0;
}

/* Replace the page with the next one (n == 0 at the end). */
static int page_load(struct bfs_catalog_iter *it, struct bfs_err *err)
{
	int rc;

	page_clear(it);
	if (it->eof)
		return 0;
	if (!it->page) {
		it->page = calloc(it->page_size, sizeof(*it->page));
		if (!it->page)
			return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	rc = bfs_catalog_readdir(it->cat, it->dir, it->after, it->page_size,
				 page_add, it, err);
	if (it->rc)
		rc = bfs_err_set(err, it->rc, "out of memory");
	if (rc < 0) {
		page_clear(it);
		return rc;
	}
	if (it->n)
		it->after = it->page[it->n - 1].id;
	it->eof = it->n < it->page_size;
	return 0;
}

int bfs_catalog_iter_next(struct bfs_catalog_iter *it,
			  const struct bfs_cat_entry **e, struct bfs_err *err)
{
	int rc;

	*e = NULL;
	if (it->pos >= it->n) {
		rc = page_load(it, err);
		if (rc < 0)
			return rc;
		if (!it->n)
			return 0;
	}
	*e = &it->page[it->pos++];
	return 1;
}

int bfs_catalog_iter_page(struct bfs_catalog_iter *it,
			  const struct bfs_cat_entry **items, size_t *n,
			  struct bfs_err *err)
{
	int rc;

	*items = NULL;
	*n = 0;
	if (it->pos >= it->n) {
		rc = page_load(it, err);
		if (rc < 0)
			return rc;
	}
	*items = it->page + it->pos;
	*n = it->n - it->pos;
	it->pos = it->n;
	return 0;
}

void bfs_catalog_iter_fini(struct bfs_catalog_iter *it)
{
	page_clear(it);
	free(it->page);
	it->page = NULL;
	it->eof = true;
}
