/* writer_set.c - see writer_set.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "writer_set.h"



static uint64_t hash_u64(const uint8_t *h)
{
	uint64_t x;

	memcpy(&x, h, sizeof(x));
	return x;
}

struct chunkloc *bfs_chunkset_find(struct chunkset *s,
				      const uint8_t hash[BFS_HASH_LEN])
{
	size_t i;

	if (!s->cap)
		return NULL;
	for (i = hash_u64(hash) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i].pack_idx < 0)
			return NULL;
		if (!memcmp(s->v[i].hash, hash, BFS_HASH_LEN))
			return &s->v[i];
	}
}

static int chunkset_grow(struct chunkset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 4096, i, j;
	struct chunkloc *nv = malloc(ncap * sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	for (i = 0; i < ncap; i++)
		nv[i].pack_idx = -1;
	for (i = 0; i < s->cap; i++) {
		if (s->v[i].pack_idx < 0)
			continue;
		for (j = hash_u64(s->v[i].hash) & (ncap - 1); nv[j].pack_idx >= 0;
		     j = (j + 1) & (ncap - 1))
			;
		nv[j] = s->v[i];
	}
	free(s->v);
	s->v = nv;
	s->cap = ncap;
	return 0;
}

int bfs_chunkset_insert(struct chunkset *s, const struct chunkloc *c)
{
	size_t i;
	int rc;

	if ((s->n + 1) * 10 > s->cap * 7) {
		rc = chunkset_grow(s);
		if (rc)
			return rc;
	}
	for (i = hash_u64(c->hash) & (s->cap - 1); s->v[i].pack_idx >= 0;
	     i = (i + 1) & (s->cap - 1))
		;
	s->v[i] = *c;
	s->n++;
	return 0;
}




static void path_key(uint8_t key[PATHKEY], const char *p, size_t n)
{
	uint8_t h[BFS_HASH_LEN];

	bfs_sha256(h, p, n);
	memcpy(key, h, PATHKEY);
}

static struct pathslot *pathset_slot(struct pathset *s,
				     const uint8_t key[PATHKEY])
{
	size_t i;

	for (i = hash_u64(key) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i].kind == PK_NONE ||
		    !memcmp(s->v[i].key, key, PATHKEY))
			return &s->v[i];
	}
}

static int pathset_grow(struct pathset *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 1024, i, j;
	struct pathslot *nv = calloc(ncap, sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	for (i = 0; i < s->cap; i++) {
		if (s->v[i].kind == PK_NONE)
			continue;
		for (j = hash_u64(s->v[i].key) & (ncap - 1);
		     nv[j].kind != PK_NONE; j = (j + 1) & (ncap - 1))
			;
		nv[j] = s->v[i];
	}
	free(s->v);
	s->v = nv;
	s->cap = ncap;
	return 0;
}

/* Kind of path p[0..n) (PK_NONE if absent). */
int bfs_pathset_get(struct pathset *s, const char *p, size_t n)
{
	uint8_t key[PATHKEY];

	if (!s->cap)
		return PK_NONE;
	path_key(key, p, n);
	return pathset_slot(s, key)->kind;
}

int bfs_pathset_set(struct pathset *s, const char *p, size_t n, int kind)
{
	uint8_t key[PATHKEY];
	struct pathslot *sl;
	int rc;

	if ((s->n + 1) * 10 > s->cap * 7) {
		rc = pathset_grow(s);
		if (rc)
			return rc;
	}
	path_key(key, p, n);
	sl = pathset_slot(s, key);
	if (sl->kind == PK_NONE) {
		memcpy(sl->key, key, PATHKEY);
		s->n++;
	}
	sl->kind = kind;
	return 0;
}


void bfs_pathset_set_size(struct pathset *s, const char *p, size_t n,
			  uint64_t size)
{
	uint8_t key[PATHKEY];
	struct pathslot *sl;

	if (!s->cap)
		return;
	path_key(key, p, n);
	sl = pathset_slot(s, key);
	if (sl->kind != PK_NONE)
		sl->size = size;
}

uint64_t bfs_pathset_size(struct pathset *s, const char *p, size_t n)
{
	uint8_t key[PATHKEY];

	if (!s->cap)
		return 0;
	path_key(key, p, n);
	return pathset_slot(s, key)->size;
}
