/* hmap.c - the one hash table (see hmap.h).
 *
 * Linear probing over a power-of-two array.  Removal shifts later members
 * of the probe run back into the hole (Knuth 6.4, algorithm R), so there
 * are no tombstones and lookups stay short however many removals happen.
 */
#include "hmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAP 16

static inline uint64_t mix64(uint64_t h)
{
	/* splitmix64's finaliser */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

uint64_t bfs_hash64(const void *p_, size_t n)
{
	const uint8_t *p = p_;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);

	while (n >= 8) {
		h = mix64(h ^ load64(p));
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t t = 0;

		memcpy(&t, p, n);
		h = mix64(h ^ t ^ ((uint64_t)n << 56));
	}
	return mix64(h);
}

static inline uint64_t key_hash(const struct bfs_hmap *m, const void *key)
{
	if (m->flags & BFS_HMAP_PREHASHED)
		return load64(key);
	return bfs_hash64(key, m->key_size);
}

static inline uint8_t *rec_at(const struct bfs_hmap *m, size_t i)
{
	return m->recs + i * m->rec_size;
}

int bfs_hmap_init(struct bfs_hmap *m, size_t rec_size, size_t key_size,
		  size_t cap_hint, unsigned flags)
{
	memset(m, 0, sizeof(*m));
	if (key_size < 1 || key_size > rec_size ||
	    ((flags & BFS_HMAP_PREHASHED) && key_size < 8) ||
	    (flags & ~BFS_HMAP_PREHASHED))
		return -EINVAL;
	m->rec_size = rec_size;
	m->key_size = key_size;
	m->flags = flags;
	if (cap_hint) {
		size_t cap = MIN_CAP;

		/* room for cap_hint records below the 7/8 load limit */
		while (cap / 8 * 7 < cap_hint) {
			if (cap > SIZE_MAX / 2 / rec_size)
				return -ENOMEM;
			cap *= 2;
		}
		m->recs = malloc(cap * rec_size);
		m->ctrl = calloc(cap, 1);
		if (!m->recs || !m->ctrl) {
			bfs_hmap_fini(m);
			return -ENOMEM;
		}
		m->cap = cap;
	}
	return 0;
}

void bfs_hmap_fini(struct bfs_hmap *m)
{
	free(m->recs);
	free(m->ctrl);
	m->recs = NULL;
	m->ctrl = NULL;
	m->cap = 0;
	m->n = 0;
}

void bfs_hmap_clear(struct bfs_hmap *m)
{
	if (m->ctrl)
		memset(m->ctrl, 0, m->cap);
	m->n = 0;
}

/* Slot of key, or the empty slot where it would go. */
static size_t probe(const struct bfs_hmap *m, const void *key, bool *found)
{
	size_t mask = m->cap - 1, i = (size_t)key_hash(m, key) & mask;

	while (m->ctrl[i]) {
		if (memcmp(rec_at(m, i), key, m->key_size) == 0) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
	*found = false;
	return i;
}

void *bfs_hmap_find(const struct bfs_hmap *m, const void *key)
{
	bool found;
	size_t i;

	if (m->n == 0)
		return NULL;
	i = probe(m, key, &found);
	return found ? rec_at(m, i) : NULL;
}

static int grow(struct bfs_hmap *m)
{
	struct bfs_hmap nm = *m;
	size_t i, cap = m->cap ? m->cap * 2 : MIN_CAP;

	if (cap > SIZE_MAX / m->rec_size)
		return -ENOMEM;
	nm.recs = malloc(cap * m->rec_size);
	nm.ctrl = calloc(cap, 1);
	if (!nm.recs || !nm.ctrl) {
		free(nm.recs);
		free(nm.ctrl);
		return -ENOMEM;
	}
	nm.cap = cap;
	for (i = 0; i < m->cap; i++) {
		bool found;
		size_t j;

		if (!m->ctrl[i])
			continue;
		j = probe(&nm, rec_at(m, i), &found);
		memcpy(rec_at(&nm, j), rec_at(m, i), m->rec_size);
		nm.ctrl[j] = 1;
	}
	free(m->recs);
	free(m->ctrl);
	*m = nm;
	return 0;
}

/* Make room for one more record (grow at 7/8 load). */
static int reserve_one(struct bfs_hmap *m)
{
	if (m->cap == 0 || m->n + 1 > m->cap / 8 * 7)
		return grow(m);
	return 0;
}

int bfs_hmap_insert(struct bfs_hmap *m, const void *rec, void **slot)
{
	bool found = false;
	size_t i;
	int rc;

	if (m->n) {
		i = probe(m, rec, &found);
		if (found) {
			if (slot)
				*slot = rec_at(m, i);
			return -EEXIST;
		}
	}
	rc = reserve_one(m);
	if (rc)
		return rc;
	i = probe(m, rec, &found);
	memcpy(rec_at(m, i), rec, m->rec_size);
	m->ctrl[i] = 1;
	m->n++;
	if (slot)
		*slot = rec_at(m, i);
	return 0;
}

int bfs_hmap_get(struct bfs_hmap *m, const void *key, void **slot, bool *added)
{
	bool found = false;
	size_t i;
	int rc;

	if (m->n) {
		i = probe(m, key, &found);
		if (found) {
			*slot = rec_at(m, i);
			if (added)
				*added = false;
			return 0;
		}
	}
	rc = reserve_one(m);
	if (rc)
		return rc;
	i = probe(m, key, &found);
	memset(rec_at(m, i), 0, m->rec_size);
	memcpy(rec_at(m, i), key, m->key_size);
	m->ctrl[i] = 1;
	m->n++;
	*slot = rec_at(m, i);
	if (added)
		*added = true;
	return 0;
}

int bfs_hmap_remove(struct bfs_hmap *m, const void *key)
{
	size_t mask, i, j;
	bool found;

	if (m->n == 0)
		return -ENOENT;
	i = probe(m, key, &found);
	if (!found)
		return -ENOENT;
	mask = m->cap - 1;
	/* Backward shift: move each later member of the run whose home
	 * slot is not in (i, j] into the hole at i. */
	j = i;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!m->ctrl[j])
			break;
		home = (size_t)key_hash(m, rec_at(m, j)) & mask;
		/* is home cyclically in (i, j]?  then it must stay */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		memcpy(rec_at(m, i), rec_at(m, j), m->rec_size);
		i = j;
	}
	m->ctrl[i] = 0;
	m->n--;
	return 0;
}

void *bfs_hmap_next(const struct bfs_hmap *m, size_t *it)
{
	while (*it < m->cap) {
		size_t i = (*it)++;

		if (m->ctrl[i])
			return rec_at(m, i);
	}
	return NULL;
}
