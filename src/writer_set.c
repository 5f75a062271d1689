/* writer_set.c - see writer_set.h.  Thin typed wrappers over bfs_hmap. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "writer_set.h"

int bfs_chunkset_init(struct chunkset *s)
{
	return bfs_hmap_init(&s->m, sizeof(struct chunkloc), BFS_HASH_LEN, 0,
			     BFS_HMAP_PREHASHED);
}

void bfs_chunkset_fini(struct chunkset *s)
{
	if (s->m.rec_size)
		bfs_hmap_fini(&s->m);
	memset(s, 0, sizeof(*s));
}

struct chunkloc *bfs_chunkset_find(struct chunkset *s,
				   const uint8_t hash[BFS_HASH_LEN])
{
	return bfs_hmap_find(&s->m, hash);
}

int bfs_chunkset_insert(struct chunkset *s, const struct chunkloc *c)
{
	int rc = bfs_hmap_insert(&s->m, c, NULL);

	return rc == -EEXIST ? 0 : rc;
}

int bfs_packset_init(struct packset *s)
{
	return bfs_hmap_init(&s->m, sizeof(struct packseen), BFS_HASH_LEN, 0,
			     BFS_HMAP_PREHASHED);
}

void bfs_packset_fini(struct packset *s)
{
	if (s->m.rec_size)
		bfs_hmap_fini(&s->m);
	memset(s, 0, sizeof(*s));
}

int bfs_packset_get(struct packset *s, const uint8_t id[BFS_HASH_LEN])
{
	const struct packseen *p = bfs_hmap_find(&s->m, id);

	return p ? p->present : -ENOENT;
}

int bfs_packset_put(struct packset *s, const uint8_t id[BFS_HASH_LEN],
		    bool present)
{
	struct packseen p;
	int rc;

	memset(&p, 0, sizeof(p));
	memcpy(p.id, id, BFS_HASH_LEN);
	p.present = present;
	rc = bfs_hmap_insert(&s->m, &p, NULL);
	return rc == -EEXIST ? 0 : rc;
}

int bfs_pathset_init(struct pathset *s)
{
	return bfs_hmap_init(&s->m, sizeof(struct pathslot), PATHKEY, 0,
			     BFS_HMAP_PREHASHED);
}

void bfs_pathset_fini(struct pathset *s)
{
	if (s->m.rec_size)
		bfs_hmap_fini(&s->m);
	bfs_buf_free(&s->max);
	bfs_buf_free(&s->scanned);
	free(s->chain);
	memset(s, 0, sizeof(*s));
}

int bfs_path_tree_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t n = an < bn ? an : bn;

	for (size_t i = 0; i < n; i++) {
		unsigned char x = a[i] == '/' ? 0 : (unsigned char)a[i];
		unsigned char y = b[i] == '/' ? 0 : (unsigned char)b[i];

		if (x != y)
			return x < y ? -1 : 1;
	}
	return an < bn ? -1 : an > bn;
}

static size_t slashes(const char *p, size_t n)
{
	size_t c = 0;

	for (const char *q = p; (q = memchr(q, '/', n - (size_t)(q - p))); q++)
		c++;
	return c;
}

/* Is p max or one of its ancestors?  *d: its component index. */
static bool chain_depth(const struct pathset *s, const char *p, size_t n,
			size_t *d)
{
	const char *m = (const char *)s->max.data;

	if (s->full || !s->max.len || n > s->max.len || memcmp(m, p, n) ||
	    (n < s->max.len && m[n] != '/'))
		return false;
	*d = slashes(p, n);
	return *d < s->nchain;
}

/* Record kind on the chain when p is on it or comes after max (then p
 * becomes max); false when p is out of order. */
static int chain_set(struct pathset *s, const char *p, size_t n, int kind,
		     bool *done)
{
	const char *m = (const char *)s->max.data;
	size_t i, lim, d, dc = 0, newn;
	uint8_t *nc;

	*done = false;
	if (chain_depth(s, p, n, &d)) {
		s->chain[d] = (uint8_t)kind;
		*done = true;
		return 0;
	}
	if (s->max.len && bfs_path_tree_cmp(p, n, m, s->max.len) <= 0)
		return 0;
	/* components p shares with max keep their kinds */
	lim = n < s->max.len ? n : s->max.len;
	for (i = 0; i < lim && p[i] == m[i]; i++)
		if (p[i] == '/')
			dc++;
	if (s->max.len && i == lim && lim == s->max.len && lim < n &&
	    p[lim] == '/')
		dc++;
	newn = slashes(p, n) + 1;
	if (newn > s->chaincap) {
		nc = realloc(s->chain, newn * 2);
		if (!nc)
			return -ENOMEM;
		s->chain = nc;
		s->chaincap = newn * 2;
	}
	for (d = dc; d < newn; d++)
		s->chain[d] = PK_NONE;
	s->chain[newn - 1] = (uint8_t)kind;
	s->nchain = newn;
	s->max.len = 0;
	if (bfs_buf_append(&s->max, p, n))
		return -ENOMEM;
	*done = true;
	return 0;
}

bool bfs_pathset_in_order(const struct pathset *s, const char *p, size_t n)
{
	size_t d;

	return s->full || !s->max.len || chain_depth(s, p, n, &d) ||
	       bfs_path_tree_cmp(p, n, (const char *)s->max.data, s->max.len) >
		   0 ||
	       (s->scanned.len == n && !memcmp(s->scanned.data, p, n));
}

int bfs_pathset_scanned(struct pathset *s, const char *p, size_t n)
{
	s->nscans++;
	s->scanned.len = 0;
	return bfs_buf_append(&s->scanned, p, n) ? -ENOMEM : 0;
}

static void path_key(struct pathset *s, uint8_t key[PATHKEY], const char *p,
		     size_t n)
{
	uint8_t h[BFS_HASH_LEN];

	if (n && n == s->last_len && !memcmp(s->last, p, n)) {
		memcpy(key, s->last_key, PATHKEY);
		return;
	}
	bfs_sha256(h, p, n);
	memcpy(key, h, PATHKEY);
	if (n && n <= sizeof(s->last)) {
		memcpy(s->last, p, n);
		memcpy(s->last_key, key, PATHKEY);
		s->last_len = n;
	}
}

static struct pathslot *path_find(struct pathset *s, const char *p, size_t n)
{
	uint8_t key[PATHKEY];

	if (!bfs_hmap_count(&s->m))
		return NULL;
	path_key(s, key, p, n);
	return bfs_hmap_find(&s->m, key);
}

int bfs_pathset_get(struct pathset *s, const char *p, size_t n)
{
	const struct pathslot *sl = path_find(s, p, n);
	size_t d;

	if (sl)
		return sl->kind;
	if (chain_depth(s, p, n, &d))
		return s->chain[d];
	return PK_NONE;
}

/* Set kind in the map, adding p; only_new: keep a kind already there. */
static int map_set(struct pathset *s, const char *p, size_t n, int kind,
		   bool only_new)
{
	uint8_t key[PATHKEY];
	struct pathslot *sl;
	bool added;
	int rc;

	path_key(s, key, p, n);
	rc = bfs_hmap_get(&s->m, key, (void **)&sl, &added);
	if (rc)
		return rc;
	if (added || !only_new)
		sl->kind = (uint8_t)kind;
	return 0;
}

int bfs_pathset_set(struct pathset *s, const char *p, size_t n, int kind)
{
	bool done = false;
	int rc;

	if (!s->full) {
		rc = chain_set(s, p, n, kind, &done);
		if (rc)
			return rc;
		/* on the chain only, unless the map has it or will be
		 * asked about it out of order */
		if (done && kind != PK_DIR_IMPLICIT && !path_find(s, p, n))
			return 0;
	}
	return map_set(s, p, n, kind, false);
}

int bfs_pathset_keep(struct pathset *s, const char *p, size_t n)
{
	if (s->full || path_find(s, p, n))
		return 0;
	return map_set(s, p, n, bfs_pathset_get(s, p, n), false);
}

int bfs_pathset_add_absent(struct pathset *s, const char *p, size_t n, int kind)
{
	return map_set(s, p, n, kind, true);
}

int bfs_pathset_go_full(struct pathset *s)
{
	const char *m = (const char *)s->max.data;
	size_t d = 0, i;
	int rc;

	if (s->full)
		return 0;
	for (i = 0; i <= s->max.len && d < s->nchain; i++) {
		if (i < s->max.len && m[i] != '/')
			continue;
		if (s->chain[d] != PK_NONE) {
			rc = map_set(s, m, i, s->chain[d], false);
			if (rc)
				return rc;
		}
		d++;
	}
	s->full = true;
	bfs_buf_free(&s->max);
	bfs_buf_free(&s->scanned);
	free(s->chain);
	s->chain = NULL;
	s->nchain = s->chaincap = 0;
	return 0;
}

void bfs_pathset_set_size(struct pathset *s, const char *p, size_t n,
			  uint64_t size)
{
	struct pathslot *sl = path_find(s, p, n);

	if (sl)
		sl->size = size;
}

uint64_t bfs_pathset_size(struct pathset *s, const char *p, size_t n)
{
	const struct pathslot *sl = path_find(s, p, n);

	return sl ? sl->size : 0;
}
