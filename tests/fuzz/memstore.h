/* memstore.h - a store held in memory, for the fuzz targets: a handful of
 * objects, get/stat/put/del/list as store.h describes them (a range past
 * the end is -EINVAL, a missing key -ENOENT).  Header-only so that each
 * target builds from its own file plus the sources it fuzzes.  One mutex
 * serialises the operations (the backup writer uploads from threads). */
#ifndef BFS_FUZZ_MEMSTORE_H
#define BFS_FUZZ_MEMSTORE_H

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "src/format.h"
#include "src/repo.h"
#include "src/store.h"

#define MEM_MAX 32

struct memstore {
	struct bfs_store base; /* first */
	pthread_mutex_t lock;  /* protects everything below */
	char *key[MEM_MAX];
	uint8_t *data[MEM_MAX];
	size_t len[MEM_MAX];
};

static int mem_find(struct memstore *m, const char *key)
{
	for (int i = 0; i < MEM_MAX; i++)
		if (m->key[i] && strcmp(m->key[i], key) == 0)
			return i;
	return -1;
}

static int64_t mem_get_locked(struct bfs_store *s, const char *key,
			      uint64_t off, uint64_t len, struct bfs_buf *out,
			      struct bfs_err *err)
{
	struct memstore *m = (struct memstore *)s;
	int i = mem_find(m, key);

	if (i < 0)
		return bfs_err_set(err, -ENOENT, "no '%s'", key);
	if (off > m->len[i])
		return bfs_err_set(err, -EINVAL, "past the end of '%s'", key);
	if (len == UINT64_MAX)
		len = m->len[i] - off;
	if (len > m->len[i] - off)
		return bfs_err_set(err, -EINVAL, "past the end of '%s'", key);
	if (bfs_buf_append(out, m->data[i] + off, len))
		return -ENOMEM;
	return (int64_t)len;
}

static int mem_del_locked(struct bfs_store *s, const char *key,
			  struct bfs_err *err)
{
	struct memstore *m = (struct memstore *)s;
	int i = mem_find(m, key);

	if (i < 0)
		return bfs_err_set(err, -ENOENT, "no '%s'", key);
	free(m->key[i]);
	free(m->data[i]);
	m->key[i] = NULL;
	m->data[i] = NULL;
	m->len[i] = 0;
	return 0;
}

static int mem_put_locked(struct bfs_store *s, const char *key,
			  const void *data, size_t len, int flags,
			  struct bfs_err *err)
{
	struct memstore *m = (struct memstore *)s;
	int i = mem_find(m, key);

	if (i >= 0 && (flags & BFS_PUT_EXCL))
		return bfs_err_set(err, -EEXIST, "'%s' exists", key);
	if (i >= 0)
		mem_del_locked(s, key, NULL);
	for (i = 0; i < MEM_MAX && m->key[i]; i++)
		;
	if (i == MEM_MAX)
		return bfs_err_set(err, -ENOSPC, "memstore full");
	m->key[i] = strdup(key);
	m->data[i] = malloc(len ? len : 1);
	if (!m->key[i] || !m->data[i]) {
		mem_del_locked(s, key, NULL);
		return -ENOMEM;
	}
	memcpy(m->data[i], data, len);
	m->len[i] = len;
	return 0;
}

static int mem_list_locked(struct bfs_store *s, const char *prefix,
			   bfs_list_cb cb, void *arg, struct bfs_err *err)
{
	struct memstore *m = (struct memstore *)s;
	int rc;

	(void)err;
	for (int i = 0; i < MEM_MAX; i++)
		if (m->key[i] &&
		    strncmp(m->key[i], prefix, strlen(prefix)) == 0 &&
		    (rc = cb(arg, m->key[i], m->len[i])) != 0)
			return rc;
	return 0;
}

static int mem_stat_locked(struct bfs_store *s, const char *key, uint64_t *size,
			   struct bfs_err *err)
{
	struct memstore *m = (struct memstore *)s;
	int i = mem_find(m, key);

	if (i < 0)
		return bfs_err_set(err, -ENOENT, "no '%s'", key);
	*size = m->len[i];
	return 0;
}

#define MEM_LOCKED(ret, name, params, args)                                    \
	static ret mem_##name params                                           \
	{                                                                      \
		struct memstore *m_ = (struct memstore *)s;                    \
		ret rc_;                                                       \
		pthread_mutex_lock(&m_->lock);                                 \
		rc_ = mem_##name##_locked args;                                \
		pthread_mutex_unlock(&m_->lock);                               \
		return rc_;                                                    \
	}
MEM_LOCKED(int64_t, get,
	   (struct bfs_store * s, const char *key, uint64_t off, uint64_t len,
	    struct bfs_buf *out, struct bfs_err *err),
	   (s, key, off, len, out, err))
MEM_LOCKED(int, put,
	   (struct bfs_store * s, const char *key, const void *data, size_t len,
	    int flags, struct bfs_err *err),
	   (s, key, data, len, flags, err))
MEM_LOCKED(int, list,
	   (struct bfs_store * s, const char *prefix, bfs_list_cb cb, void *arg,
	    struct bfs_err *err),
	   (s, prefix, cb, arg, err))
MEM_LOCKED(int, del,
	   (struct bfs_store * s, const char *key, struct bfs_err *err),
	   (s, key, err))
MEM_LOCKED(int, stat,
	   (struct bfs_store * s, const char *key, uint64_t *size,
	    struct bfs_err *err),
	   (s, key, size, err))

static void mem_destroy(struct bfs_store *s)
{
	struct memstore *m = (struct memstore *)s;

	for (int i = 0; i < MEM_MAX; i++)
		mem_del_locked(s, m->key[i] ? m->key[i] : "", NULL);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static const struct bfs_store_ops mem_ops = {
    .name = "memory",
    .get = mem_get,
    .put = mem_put,
    .list = mem_list,
    .del = mem_del,
    .stat = mem_stat,
    .destroy = mem_destroy,
};

/* A repository on an empty memory store with the default parameters the
 * targets need (id, version, zstd level); NULL on ENOMEM. */
static struct bfs_repo *mem_repo(void)
{
	struct bfs_repo *r = calloc(1, sizeof(*r));
	struct memstore *m = calloc(1, sizeof(*m));

	if (!r || !m) {
		free(r);
		free(m);
		return NULL;
	}
	m->base.ops = &mem_ops;
	pthread_mutex_init(&m->lock, NULL);
	r->store = &m->base;
	r->chunker[BFS_PROFILE_DUMP] = (struct bfs_chunker_params){
	    BFS_DEFAULT_DUMP_MIN, BFS_DEFAULT_DUMP_AVG, BFS_DEFAULT_DUMP_MAX};
	r->chunker[BFS_PROFILE_FILES] = (struct bfs_chunker_params){
	    BFS_DEFAULT_FILES_MIN, BFS_DEFAULT_FILES_AVG,
	    BFS_DEFAULT_FILES_MAX};
	memset(r->id, 'a', 64);
	r->version = 2;
	r->zstd_level = 3;
	r->pack_target = BFS_PACK_SIZE_MIN; /* small buffers: fast runs */
	return r;
}

#endif
