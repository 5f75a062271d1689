/* writer_set.c - see writer_set.h.  Thin typed wrappers over bfs_hmap. */
#include "config.h"

#include <errno.h>
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
	memset(s, 0, sizeof(*s));
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

	return sl ? sl->kind : PK_NONE;
}

int bfs_pathset_set(struct pathset *s, const char *p, size_t n, int kind)
{
	uint8_t key[PATHKEY];
	struct pathslot *sl;
	bool added;
	int rc;

	path_key(s, key, p, n);
	rc = bfs_hmap_get(&s->m, key, (void **)&sl, &added);
	if (rc)
		return rc;
	sl->kind = (uint8_t)kind;
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
