/* store_cache.c - an on-disk cache of get() results in front of another
 * store (for S3: a mount or repeated restores read a pack range once from
 * the network, then from local disk).
 *
 * Only packs are cached: their key is the SHA-256 of their bytes, so a
 * cached range can never go stale (manifests can be deleted and a backup
 * id reused, so they are not cached).  An entry is the result of one
 * get(key, off, len), stored as DIR/<2 hex>/<64 hex> where the hex is
 * SHA-256("key\0off\0len"); its content is SHA-256(data) followed by the
 * data, checked on every hit (a damaged entry is dropped and fetched
 * again: the cache can make reads faster, never wrong).
 *
 * Size: the total of entry files is kept under max_bytes; when a write
 * pushes it over, the least recently used entries (by mtime, refreshed on
 * every hit) are removed until it is under 90% of max_bytes.  Several
 * processes may share DIR: files are written to a temp name and renamed,
 * and each process only estimates the total (rescanned when evicting).
 *
 * Thread safety: lock protects total and serialises eviction; file reads
 * and writes of entries need no lock (rename is atomic).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "log.h"
#include "store.h"

#define CACHE_MAX_ENTRY BFS_PACK_MAX_SIZE /* larger results are not cached */
#define CACHE_PATH_MAX 4096

struct cache_store {
	struct bfs_store base;
	struct bfs_store *inner; /* owned */
	char *dir;
	uint64_t max_bytes;

	pthread_mutex_t lock; /* protects total; serialises eviction */
	uint64_t total;	      /* estimated bytes of entry files */
};

static struct cache_store *to_cache(struct bfs_store *s)
{
	return (struct cache_store *)s;
}

static bool cacheable(const char *key, uint64_t len)
{
	return bfs_key_parse(key, NULL, NULL) == BFS_KEY_IS_PACK &&
	       (len == UINT64_MAX || len <= CACHE_MAX_ENTRY);
}

/* DIR/xx/<64 hex> for (key, off, len) into path (CACHE_PATH_MAX). */
static void entry_path(struct cache_store *c, const char *key, uint64_t off,
		       uint64_t len, char *path)
{
	char name[1200 + 64], hex[BFS_HASH_HEX + 1];
	uint8_t h[BFS_HASH_LEN];
	int n;

	n = snprintf(name, sizeof(name), "%s%c%" PRIu64 "%c%" PRIu64, key, 0,
		     off, 0, len);
	bfs_sha256(h, name, (size_t)BFS_MIN((size_t)n, sizeof(name) - 1));
	bfs_hex(hex, h, BFS_HASH_LEN);
	snprintf(path, CACHE_PATH_MAX, "%s/%.2s/%s", c->dir, hex, hex);
}

/* Append the cached data to out: 1 on a hit, 0 on a miss (or a damaged
 * entry, which is removed). */
static int cache_read(const char *path, uint64_t len, struct bfs_buf *out)
{
	uint8_t h[BFS_HASH_LEN], want[BFS_HASH_LEN];
	struct stat st;
	size_t n, start = out->len;
	int fd, hit = 0;

	/* O_NONBLOCK: a FIFO planted in the cache must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    st.st_size < BFS_HASH_LEN ||
	    (uint64_t)st.st_size - BFS_HASH_LEN > CACHE_MAX_ENTRY)
		goto out_bad;
	n = (size_t)st.st_size - BFS_HASH_LEN;
	if (len != UINT64_MAX && n != len)
		goto out_bad;
	if (bfs_read_full(fd, want, BFS_HASH_LEN) != BFS_HASH_LEN ||
	    bfs_buf_reserve(out, n + 1))
		goto out_bad;
	if (bfs_read_full(fd, out->data + start, n) != (ssize_t)n)
		goto out_bad;
	bfs_sha256(h, out->data + start, n);
	if (memcmp(h, want, BFS_HASH_LEN) != 0)
		goto out_bad;
	out->len = start + n;
	/* Recently used: the eviction order is by mtime. */
	futimens(fd, NULL);
	hit = 1;
	close(fd);
	return hit;
out_bad:
	close(fd);
	unlink(path);
	out->len = start;
	return 0;
}

struct entry_info {
	char *path;
	uint64_t size;
	struct timespec mtime;
};

static int cmp_mtime(const void *a, const void *b)
{
	const struct entry_info *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return 0;
}

/* Scan the cache: total size, and with entries != NULL the list of entry
 * files (malloc'ed).  Temp files older than a minute are removed. */
static uint64_t scan(struct cache_store *c, struct entry_info **entries,
		     size_t *nentries)
{
	char sub[CACHE_PATH_MAX], path[CACHE_PATH_MAX + 256];
	struct entry_info *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	DIR *d, *sd;
	struct dirent *de, *se;
	struct stat st;
	time_t now = time(NULL);

	d = opendir(c->dir);
	if (!d)
		goto out;
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", c->dir, de->d_name);
		sd = opendir(sub);
		if (!sd)
			continue;
		while ((se = readdir(sd)) != NULL) {
			if (se->d_name[0] == '.' &&
			    strncmp(se->d_name, ".tmp.", 5))
				continue;
			snprintf(path, sizeof(path), "%s/%s", sub, se->d_name);
			if (lstat(path, &st) || !S_ISREG(st.st_mode))
				continue;
			if (strncmp(se->d_name, ".tmp.", 5) == 0) {
				if (now - st.st_mtime > 60)
					unlink(path);
				continue;
			}
			total += (uint64_t)st.st_size;
			if (!entries)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 256;
				struct entry_info *nv =
				    realloc(v, ncap * sizeof(*nv));

				if (!nv)
					continue;
				v = nv;
				cap = ncap;
			}
			v[n].path = strdup(path);
			if (!v[n].path)
				continue;
			v[n].size = (uint64_t)st.st_size;
			v[n].mtime = st.st_mtim;
			n++;
		}
		closedir(sd);
	}
	closedir(d);
out:
	if (entries) {
		*entries = v;
		*nentries = n;
	}
	return total;
}

/* Called with c->lock held. */
static void evict(struct cache_store *c)
{
	struct entry_info *v = NULL;
	size_t n = 0, i;
	uint64_t total, goal = c->max_bytes / 10 * 9;

	total = scan(c, &v, &n);
	if (total > goal && n)
		qsort(v, n, sizeof(*v), cmp_mtime);
	for (i = 0; i < n; i++) {
		if (total > goal && unlink(v[i].path) == 0)
			total -= v[i].size;
		free(v[i].path);
	}
	free(v);
	c->total = total;
}

static void cache_write(struct cache_store *c, const char *path,
			const uint8_t *data, size_t n)
{
	char tmp[CACHE_PATH_MAX + 64], rnd[17];
	uint8_t h[BFS_HASH_LEN], r[8];
	const char *slash;
	int fd;
	bool over;

	if ((uint64_t)n + BFS_HASH_LEN > c->max_bytes / 4)
		return; /* one entry must not flush the whole cache */
	if (bfs_random(r, sizeof(r)))
		return;
	bfs_hex(rnd, r, sizeof(r));
	slash = strrchr(path, '/');
	snprintf(tmp, sizeof(tmp), "%.*s/.tmp.%s", (int)(slash - path), path,
		 rnd);
	if (bfs_mkdir_parents(path, 0700))
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	bfs_sha256(h, data, n);
	if (bfs_write_full(fd, h, sizeof(h)) || bfs_write_full(fd, data, n) ||
	    close(fd)) {
		unlink(tmp);
		return;
	}
	if (rename(tmp, path)) {
		unlink(tmp);
		return;
	}
	pthread_mutex_lock(&c->lock);
	c->total += n + BFS_HASH_LEN;
	over = c->total > c->max_bytes;
	if (over)
		evict(c);
	pthread_mutex_unlock(&c->lock);
}

static int64_t cache_get(struct bfs_store *s, const char *key, uint64_t off,
			 uint64_t len, struct bfs_buf *out, struct bfs_err *err)
{
	struct cache_store *c = to_cache(s);
	char path[CACHE_PATH_MAX];
	size_t start = out->len;
	int64_t got;

	if (!cacheable(key, len))
		return bfs_store_get(c->inner, key, off, len, out, err);
	entry_path(c, key, off, len, path);
	if (cache_read(path, len, out))
		return (int64_t)(out->len - start);
	got = bfs_store_get(c->inner, key, off, len, out, err);
	if (got > 0)
		cache_write(c, path, out->data + start, out->len - start);
	return got;
}

static int cache_put(struct bfs_store *s, const char *key, const void *data,
		     size_t len, int flags, struct bfs_err *err)
{
	return bfs_store_put(to_cache(s)->inner, key, data, len, flags, err);
}

static int cache_list(struct bfs_store *s, const char *prefix, bfs_list_cb cb,
		      void *arg, struct bfs_err *err)
{
	return bfs_store_list(to_cache(s)->inner, prefix, cb, arg, err);
}

static int cache_del(struct bfs_store *s, const char *key, struct bfs_err *err)
{
	/* Cached ranges of a deleted pack stay until evicted: a pack id
	 * names its bytes, so they can never be wrong, only unused. */
	return bfs_store_del(to_cache(s)->inner, key, err);
}

static int cache_stat(struct bfs_store *s, const char *key, uint64_t *size,
		      struct bfs_err *err)
{
	return bfs_store_stat(to_cache(s)->inner, key, size, err);
}

static void cache_destroy(struct bfs_store *s)
{
	struct cache_store *c = to_cache(s);

	bfs_store_free(c->inner);
	pthread_mutex_destroy(&c->lock);
	free(c->dir);
	free(s->url);
	free(c);
}

static const struct bfs_store_ops cache_ops = {
    .name = "cache",
    .get = cache_get,
    .put = cache_put,
    .list = cache_list,
    .del = cache_del,
    .stat = cache_stat,
    .destroy = cache_destroy,
};

/* See store.h. */
int bfs_store_cache_wrap(struct bfs_store *inner, const char *dir,
			 uint64_t max_bytes, struct bfs_store **out,
			 struct bfs_err *err)
{
	struct cache_store *c;
	char probe[CACHE_PATH_MAX];
	int rc;

	*out = NULL;
	if (!dir || !*dir || strlen(dir) > CACHE_PATH_MAX - 200) {
		rc = bfs_err_set(err, -EINVAL, "invalid cache directory '%s'",
				 dir ? dir : "");
		goto out_inner;
	}
	if (max_bytes < (1u << 20)) {
		rc = bfs_err_set(err, -EINVAL,
				 "cache size %" PRIu64
				 " is too small (at least 1 MiB)",
				 max_bytes);
		goto out_inner;
	}
	snprintf(probe, sizeof(probe), "%s/x", dir);
	rc = bfs_mkdir_parents(probe, 0700);
	if (rc) {
		bfs_err_set(err, rc, "cannot create cache directory '%s': %s",
			    dir, strerror(-rc));
		goto out_inner;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = -ENOMEM;
		goto out_inner;
	}
	c->base.ops = &cache_ops;
	c->base.url = inner->url ? strdup(inner->url) : NULL;
	/* absolute: a daemonised mount changes its directory to / */
	c->dir = realpath(dir, NULL);
	c->inner = inner;
	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->lock, NULL);
	if (!c->dir || (inner->url && !c->base.url)) {
		cache_destroy(&c->base);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	c->total = scan(c, NULL, NULL);
	if (c->total > c->max_bytes) {
		pthread_mutex_lock(&c->lock);
		evict(c);
		pthread_mutex_unlock(&c->lock);
	}
	*out = &c->base;
	return 0;
out_inner:
	bfs_store_free(inner);
	return rc;
}
