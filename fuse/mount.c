/* mount.c - see mount.h.  Session setup, per-thread catalog connections,
 * the catalog sync thread.  The operations are in ops.c (metadata) and
 * read.c (file contents). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuse/mount_int.h"
#include "src/log.h"
#include "src/sha256mb.h"

int mnt_errno(int rc)
{
	switch (rc) {
	case -ENOENT:
		return ENOENT;
	case -ENOMEM:
		return ENOMEM;
	default:
		return EIO;
	}
}

/* ---- per-thread catalog connections ----------------------------------- */

static void thread_cat_destroy(void *p)
{
	struct thread_cat *t = p;
	struct bfs_mount *m = t->m;
	struct bfs_catalog *cat;

	/* shared, as any use: a compaction closing every connection is not
	 * raced by this one closing on its own (the thread holds no get: it
	 * is exiting) */
	pthread_rwlock_rdlock(&m->cat_rw);
	pthread_mutex_lock(&m->threads_lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		m->threads = t->next;
	if (t->next)
		t->next->prev = t->prev;
	cat = t->cat;
	t->cat = NULL;
	pthread_mutex_unlock(&m->threads_lock);
	bfs_catalog_close(cat);
	pthread_rwlock_unlock(&m->cat_rw);
	free(t);
}

/* Log, once, that the catalog file is not the mount's any more. */
static void set_replaced(struct bfs_mount *m, const char *why)
{
	if (!atomic_exchange(&m->replaced, true))
		bfs_err_log("catalog '%s' was replaced while mounted (%s; the "
			    "mount started with file id %s): every request "
			    "that needs the catalog fails with EIO from now "
			    "on, so that no inode names another file's bytes; "
			    "unmount and mount again",
			    m->catalog_path, why, m->file_id);
}

/* The file id of c; mismatch or failure marks the catalog replaced. */
static bool same_file(struct bfs_mount *m, struct bfs_catalog *c)
{
	char id[BFS_CAT_FILE_ID_LEN + 1], why[128];
	struct bfs_err err = {""};
	int rc;

	rc = bfs_catalog_file_id(c, id, &err);
	if (rc == 0 && strcmp(id, m->file_id) == 0)
		return true;
	if (rc == 0)
		snprintf(why, sizeof(why), "its file id is now %s", id);
	else
		snprintf(why, sizeof(why), "%.120s", bfs_err_str(&err, rc));
	set_replaced(m, why);
	return false;
}

bool mnt_check_catalog(struct bfs_mount *m)
{
	struct bfs_catalog *c = NULL;
	struct bfs_err err = {""};
	struct stat st;
	char why[256];
	int rc;

	if (atomic_load(&m->replaced))
		return false;
	if (stat(m->catalog_path, &st) == 0 && st.st_dev == m->cat_dev &&
	    st.st_ino == m->cat_ino)
		return true;
	rc = bfs_catalog_open(m->catalog_path, m->repo_id, true, &c, &err);
	if (rc < 0) {
		snprintf(why, sizeof(why), "%.200s", bfs_err_str(&err, rc));
		set_replaced(m, why);
		return false;
	}
	same_file(m, c);
	bfs_catalog_close(c);
	return !atomic_load(&m->replaced);
}

/* The process's file-backed resident bytes (mapped files: the program,
 * its libraries, the catalog's mapping), from /proc/self/statm; 0 if
 * unknown. */
static uint64_t file_rss(void)
{
	unsigned long long size, res, shared = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu %llu", &size, &res, &shared) != 3)
		shared = 0;
	fclose(f);
	return (uint64_t)shared * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Keep the catalog's mapped pages within the budget (MNT_MAP_BUDGET).
 * They are the kernel's page cache and cheaper to read than pread into
 * SQLite's cache (a cold find: 1.5x the daemon's CPU without the mapping,
 * doc/PERFORMANCE.md), but each one touched counts in the mount's RSS
 * until it is dropped, so a find over every backup would hold the whole
 * catalog.  Every connection of the mount reads through ONE shared
 * mapping (bfs_catalog_open_shared): every MNT_MAP_CHECK requests of the
 * mount, one compares the file-backed RSS with the budget over the floor
 * (the file-backed RSS after the last drop: the program, its libraries,
 * what was read since) and past it drops the mapping's pages at once,
 * whatever thread touched them (MADV_DONTNEED: the mapping stays, readers
 * fault its pages in again from the page cache).  The bound is the budget
 * plus what MNT_MAP_CHECK requests touch, not the catalog's size nor the
 * number of threads (doc/PERFORMANCE.md, s17). */
static void map_bound(struct bfs_mount *m)
{
	uint64_t rss;

	if (!m->map.budget || !m->map.cat_map)
		return;
	if ((atomic_fetch_add(&m->map.reqs, 1) + 1) % MNT_MAP_CHECK)
		return;
	rss = file_rss();
	if (rss <= atomic_load(&m->map.floor) + m->map.budget)
		return;
	bfs_catalog_shared_drop();
	atomic_store(&m->map.floor, file_rss());
}

/* Open t's connection (t->cat NULL: the thread's first get, or the first
 * after a compaction closed it).  Under m->cat_rw shared. */
static struct bfs_catalog *thread_cat_open(struct bfs_mount *m,
					   struct thread_cat *t)
{
	struct bfs_catalog *cat = NULL;
	struct bfs_err err = {""};
	uint64_t zero = 0;
	int rc;

	rc = bfs_catalog_open_shared(m->catalog_path, m->repo_id, &cat, &err);
	if (rc < 0) {
		bfs_err_log("cannot open catalog '%s': %s", m->catalog_path,
			    bfs_err_str(&err, rc));
		return NULL;
	}
	if (!same_file(m, cat)) {
		bfs_catalog_close(cat);
		return NULL;
	}
	/* the whole file mapped (one mapping for every connection), a small
	 * cache (MNT_CAT_MAP) */
	rc = bfs_catalog_bound_memory(cat, MNT_CAT_CACHE_KIB, m->map.cat_map,
				      &err);
	if (rc < 0) {
		bfs_err_log("catalog '%s': %s", m->catalog_path,
			    bfs_err_str(&err, rc));
		bfs_catalog_close(cat);
		return NULL;
	}
	atomic_compare_exchange_strong(&m->map.floor, &zero, file_rss());
	pthread_mutex_lock(&m->threads_lock);
	t->cat = cat;
	pthread_mutex_unlock(&m->threads_lock);
	return cat;
}

/* The calling thread's entry in m->threads, made on first use.  NULL:
 * out of memory (logged). */
static struct thread_cat *thread_cat_of(struct bfs_mount *m)
{
	struct thread_cat *t = pthread_getspecific(m->key);

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t) {
		bfs_err_log("cannot open catalog '%s': out of memory",
			    m->catalog_path);
		return NULL;
	}
	t->m = m;
	if (pthread_setspecific(m->key, t) != 0) {
		bfs_err_log("cannot open catalog '%s': out of memory",
			    m->catalog_path);
		free(t);
		return NULL;
	}
	pthread_mutex_lock(&m->threads_lock);
	t->next = m->threads;
	if (m->threads)
		m->threads->prev = t;
	m->threads = t;
	pthread_mutex_unlock(&m->threads_lock);
	return t;
}

struct bfs_catalog *mnt_cat_get(struct bfs_mount *m)
{
	struct thread_cat *t = thread_cat_of(m);

	if (!t)
		return NULL;
	if (t->depth++ == 0) {
		pthread_rwlock_rdlock(&m->cat_rw);
		atomic_store_explicit(&m->last_use_ns, bfs_mono_ns(),
				      memory_order_relaxed);
	}
	if (atomic_load(&m->replaced))
		return NULL;
	if (!t->cat)
		return thread_cat_open(m, t);
	map_bound(m);
	return t->cat;
}

void mnt_cat_put(struct bfs_mount *m)
{
	struct thread_cat *t = pthread_getspecific(m->key);

	if (t && t->depth && --t->depth == 0)
		pthread_rwlock_unlock(&m->cat_rw);
}

void mnt_cat_scope_end(struct mnt_cat_scope *s)
{
	mnt_cat_put(s->m);
}

/* ---- messages --------------------------------------------------------- */

struct find_name {
	int64_t rowid;
	char name[129];
};

static int find_name_cb(void *arg, const struct bfs_backup_info *b)
{
	struct find_name *f = arg;

	if (b->rowid != f->rowid)
		return 0;
	snprintf(f->name, sizeof(f->name), "%s", b->name);
	return 1;
}

void mnt_entry_path(struct bfs_catalog *cat, int64_t id, char *buf, size_t n)
{
	/* Walk up to the backup root collecting names, then print them
	 * backwards.  Only used for error messages. */
	char *names[256];
	size_t depth = 0, i, len = 0;
	struct find_name f = {0, "?"};
	int64_t cur = id;

	buf[0] = '\0';
	while (cur > 0 && depth < BFS_ARRAY_SIZE(names)) {
		struct bfs_cat_entry e = {0};

		if (bfs_catalog_get(cat, cur, &e, NULL) < 0)
			break;
		f.rowid = e.backup;
		if (e.parent == 0) {
			bfs_cat_entry_clear(&e);
			break;
		}
		names[depth++] = strdup(e.e.path ? e.e.path : "?");
		cur = e.parent;
		bfs_cat_entry_clear(&e);
	}
	if (f.rowid)
		bfs_catalog_list(cat, find_name_cb, &f, NULL);
	len = (size_t)snprintf(buf, n, "%s", f.name);
	for (i = depth; i-- > 0;) {
		if (len < n)
			len += (size_t)snprintf(buf + len, n - len, "/%s",
						names[i] ? names[i] : "?");
		free(names[i]);
	}
}

/* ---- the catalog sync thread ------------------------------------------ */

struct name_list {
	char **v;
	size_t n, cap;
};

static int name_list_cb(void *arg, const struct bfs_backup_info *b)
{
	struct name_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(b->name);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static void name_list_free(struct name_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static bool name_list_has(const struct name_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], name) == 0)
			return true;
	return false;
}

/* Tell the kernel about names that came or went in the root. */
static void invalidate_root(struct bfs_mount *m, const struct name_list *old,
			    const struct name_list *cur)
{
	size_t i;

	for (i = 0; i < old->n; i++)
		if (!name_list_has(cur, old->v[i]))
			fuse_lowlevel_notify_inval_entry(
			    m->se, FUSE_ROOT_ID, old->v[i], strlen(old->v[i]));
	for (i = 0; i < cur->n; i++)
		if (!name_list_has(old, cur->v[i]))
			fuse_lowlevel_notify_inval_entry(
			    m->se, FUSE_ROOT_ID, cur->v[i], strlen(cur->v[i]));
	fuse_lowlevel_notify_inval_entry(m->se, FUSE_ROOT_ID, "latest", 6);
	fuse_lowlevel_notify_inval_entry(m->se, FUSE_ROOT_ID, "jobs", 4);
	fuse_lowlevel_notify_inval_inode(m->se, BFS_INO_LATEST, 0, 0);
	fuse_lowlevel_notify_inval_inode(m->se, FUSE_ROOT_ID, 0, 0);
}

/* ---- compaction by the mount ------------------------------------------ */

/* Should the sync thread compact now?  When no request used the catalog
 * for m->compact.idle_ns, compaction is due (read-only), and a compaction
 * that did not run is not being retried too soon. */
static bool compact_wanted(struct bfs_mount *m, struct bfs_catalog *cat)
{
	int64_t now = bfs_mono_ns(), last, g;
	struct bfs_err err = {""};
	bool yes = false;
	int rc;

	if (!m->compact.idle_ns)
		return false;
	last = atomic_load_explicit(&m->last_use_ns, memory_order_relaxed);
	if (now - last < m->compact.idle_ns)
		return false;
	if (m->compact.missed && now < m->compact.retry_ns &&
	    (bfs_catalog_generation(cat, &g) < 0 || g == m->compact.miss_gen))
		return false;
	rc = bfs_catalog_compact_due(cat, &yes, &err);
	if (rc < 0)
		bfs_debug("catalog '%s': cannot tell whether a compaction is "
			  "due: %s",
			  m->catalog_path, bfs_err_str(&err, rc));
	return rc == 0 && yes;
}

/* Close every catalog connection of the mount but the sync thread's: the
 * per-thread ones (opened again at their thread's next get) and the
 * relocation one (opened again on use).  Under m->cat_rw exclusive. */
static void close_connections(struct bfs_mount *m)
{
	struct thread_cat *t;

	pthread_mutex_lock(&m->reloc.lock);
	bfs_catalog_close(m->reloc.cat);
	m->reloc.cat = NULL;
	pthread_mutex_unlock(&m->reloc.lock);
	pthread_mutex_lock(&m->threads_lock);
	for (t = m->threads; t; t = t->next) {
		bfs_catalog_close(t->cat);
		t->cat = NULL;
	}
	pthread_mutex_unlock(&m->threads_lock);
}

/* One compaction attempt (compact_wanted said yes): with m->cat_rw
 * exclusive (taken only when no request holds it; requests arriving
 * meanwhile wait), close every connection of the process, *cat (the sync
 * thread's) included, compact, take the new file as the mount's, and
 * open *cat again (NULL if that fails: the next round tries again).  Any
 * failure leaves the old file, which the connections open again.
 * Returns the catalog's generation afterwards, -1 if unknown. */
static int64_t compact_round(struct bfs_mount *m, struct bfs_catalog **cat)
{
	struct bfs_compact_stats st;
	struct bfs_err err = {""};
	struct stat sb;
	int64_t g = -1;
	int rc;

	if (pthread_rwlock_trywrlock(&m->cat_rw) != 0)
		return -1; /* a request is using it: not idle after all */
	close_connections(m);
	bfs_catalog_close(*cat);
	*cat = NULL;
	rc = bfs_catalog_compact(m->catalog_path, m->repo_id,
				 BFS_COMPACT_IF_DUE, &st, &err);
	/* the old file's mapping and descriptor (nothing has it open now):
	 * its blocks are freed once the rename unlinked it */
	bfs_catalog_shared_release();
	if (rc == 0 && st.done && stat(m->catalog_path, &sb) == 0) {
		/* compaction keeps the file id and every inode number: the
		 * new inode is the mount's file, not a replacement */
		m->cat_dev = sb.st_dev;
		m->cat_ino = sb.st_ino;
	}
	if (bfs_catalog_open(m->catalog_path, m->repo_id, false, cat, &err) <
		0 ||
	    !same_file(m, *cat)) {
		bfs_err_log("catalog '%s': cannot open it again after a "
			    "compaction: %s",
			    m->catalog_path, err.msg);
		bfs_catalog_close(*cat);
		*cat = NULL;
	} else if (bfs_catalog_generation(*cat, &g) < 0) {
		g = -1;
	}
	pthread_rwlock_unlock(&m->cat_rw);

	m->compact.missed = !(rc == 0 && st.done);
	m->compact.miss_gen = g;
	if (m->compact.missed) {
		int64_t delay = MNT_COMPACT_RETRY_FIRST_MS;
		unsigned i;

		m->compact.misses++;
		for (i = 1;
		     i < m->compact.misses && delay < MNT_COMPACT_RETRY_MS; i++)
			delay *= 2;
		if (delay > MNT_COMPACT_RETRY_MS)
			delay = MNT_COMPACT_RETRY_MS;
		m->compact.retry_ns = bfs_mono_ns() + delay * 1000000;
	} else {
		m->compact.misses = 0;
		m->compact.last_why[0] = '\0';
	}
	if (rc == 0 && st.done) {
		bfs_info("catalog '%s' compacted while mounted: %.1f MiB -> "
			 "%.1f MiB, %llu runs, in %.2f s",
			 m->catalog_path, st.bytes_before / 1048576.0,
			 st.bytes_after / 1048576.0,
			 (unsigned long long)st.runs, st.ns / 1e9);
	} else if (rc == 0) {
		bfs_debug("catalog '%s': no compaction due after all",
			  m->catalog_path);
	} else if (strcmp(m->compact.last_why, bfs_err_str(&err, rc)) != 0) {
		/* once per reason: a holder for hours is said once */
		snprintf(m->compact.last_why, sizeof(m->compact.last_why), "%s",
			 bfs_err_str(&err, rc));
		bfs_warn("catalog not compacted while mounted: %s; trying "
			 "again later",
			 m->compact.last_why);
	} else {
		bfs_debug("catalog not compacted while mounted: %s",
			  m->compact.last_why);
	}
	return g;
}

/* The sync thread's connection, opened again after a compaction failed
 * to (0 or -errno, logged once per failure). */
static int reopen(struct bfs_mount *m, struct bfs_catalog **cat)
{
	struct bfs_err err = {""};
	int rc;

	rc = bfs_catalog_open(m->catalog_path, m->repo_id, false, cat, &err);
	if (rc == 0 && !same_file(m, *cat))
		rc = -ESTALE;
	if (rc < 0) {
		bfs_catalog_close(*cat);
		*cat = NULL;
		bfs_debug("catalog '%s': cannot open it for the sync: %s",
			  m->catalog_path, bfs_err_str(&err, rc));
	}
	return rc;
}

static void *sync_main(void *arg)
{
	struct bfs_mount *m = arg;
	struct bfs_catalog *cat = NULL;
	struct name_list names = {0};
	struct bfs_err err = {""};
	char last_msg[sizeof(err.msg)] = "";
	int64_t gen = -1;
	int rc;

	rc = bfs_catalog_open(m->catalog_path, m->repo_id, false, &cat, &err);
	if (rc < 0) {
		bfs_err_log("catalog sync disabled: cannot open catalog '%s': "
			    "%s",
			    m->catalog_path, bfs_err_str(&err, rc));
		return NULL;
	}
	if (!same_file(m, cat)) {
		bfs_catalog_close(cat);
		return NULL;
	}
	if (bfs_catalog_generation(cat, &gen) < 0)
		gen = -1;
	bfs_catalog_list(cat, name_list_cb, &names, NULL);

	pthread_mutex_lock(&m->sync.lock);
	while (!m->sync.stop) {
		struct timespec ts;
		struct name_list cur = {0};
		int64_t g;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += m->o.sync_interval_ms / 1000;
		ts.tv_nsec += (long)(m->o.sync_interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&m->sync.cond, &m->sync.lock, &ts);
		if (m->sync.stop)
			break;
		pthread_mutex_unlock(&m->sync.lock);

		/* a replaced file: stop syncing (its own connection writes
		 * into the old file); requests fail with EIO */
		if (!mnt_check_catalog(m)) {
			pthread_mutex_lock(&m->sync.lock);
			break;
		}
		if (!cat && reopen(m, &cat) < 0) {
			pthread_mutex_lock(&m->sync.lock);
			continue;
		}
		err.msg[0] = '\0';
		rc = bfs_catalog_sync(cat, m->repo, NULL, &err);
		if (rc < 0) {
			/* Log a failure once, not every 2 s. */
			if (strcmp(last_msg, bfs_err_str(&err, rc)) != 0) {
				snprintf(last_msg, sizeof(last_msg), "%s",
					 bfs_err_str(&err, rc));
				bfs_warn("catalog sync failed: %s", last_msg);
			}
		} else if (last_msg[0]) {
			bfs_info("catalog sync works again");
			last_msg[0] = '\0';
		}
		if (compact_wanted(m, cat)) {
			g = compact_round(m, &cat);
			/* a compaction bumps the generation; the backups
			 * are the same */
			if (g >= 0 && gen >= 0)
				gen = g;
			if (!cat) {
				pthread_mutex_lock(&m->sync.lock);
				continue;
			}
		}
		if (bfs_catalog_generation(cat, &g) == 0 && g != gen) {
			if (bfs_catalog_list(cat, name_list_cb, &cur, NULL) ==
			    0) {
				bfs_info("backups changed: %zu now", cur.n);
				invalidate_root(m, &names, &cur);
				mnt_jobs_invalidate(m, cat);
				name_list_free(&names);
				names = cur;
				gen = g;
			} else {
				name_list_free(&cur);
			}
		}
		pthread_mutex_lock(&m->sync.lock);
	}
	pthread_mutex_unlock(&m->sync.lock);
	name_list_free(&names);
	bfs_catalog_close(cat);
	return NULL;
}

/* ---- session ------------------------------------------------------------ */

/* Append s to b escaping ',' and '\' (libfuse's option syntax). */
static int append_escaped(struct bfs_buf *b, const char *s)
{
	for (; *s; s++) {
		if ((*s == ',' || *s == '\\') && bfs_buf_append(b, "\\", 1))
			return -ENOMEM;
		if (bfs_buf_append(b, s, 1))
			return -ENOMEM;
	}
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* FUSE mounts get the kernel's default 128 KiB readahead, so sequential
 * reads arrive as 128 KiB requests.  Raise it (root only, best effort) so
 * that big sequential reads cost fewer round trips.  The mount's bdi is
 * named after its device number, found in mountinfo.  It must be done
 * after the kernel has processed our INIT reply (which caps it), so a
 * short-lived thread started by init does it a moment later. */
static void raise_readahead(const char *mountpoint, unsigned kb)
{
	char line[4096], path[128], dev[32];
	FILE *f;

	f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return;
	dev[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		char mp[4096], d[32];

		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%*s %*s %31s %*s %4095s", d, mp) == 2 &&
		    strcmp(mp, mountpoint) == 0)
			snprintf(dev, sizeof(dev), "%s", d);
	}
	fclose(f);
	if (!dev[0])
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "%u\n", kb);
	if (fclose(f) != 0)
		bfs_debug("cannot raise readahead of '%s'", mountpoint);
}

static void *tune_main(void *arg)
{
	struct bfs_mount *m = arg;
	struct timespec ts = {0, 100 * 1000 * 1000};

	nanosleep(&ts, NULL);
	raise_readahead(m->mountpoint, 1024);
	return NULL;
}

void mnt_after_init(struct bfs_mount *m)
{
	if (!m->ra_bytes || getuid() != 0 || m->tune_started)
		return;
	if (pthread_create(&m->tune_th, NULL, tune_main, m) == 0)
		m->tune_started = true;
}

/* A byte count from the environment (the tests' knobs), else def. */
static uint64_t env_bytes(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long b;

	if (!v)
		return def;
	b = strtoull(v, &end, 10);
	return end != v && !*end ? b : def;
}

uint64_t bfs_mount_readahead(const struct bfs_mount *m)
{
	return m->ra_bytes;
}

uint64_t bfs_mount_cache_size(const struct bfs_mount *m)
{
	return m->o.cache_size;
}

int bfs_mount_new(const struct bfs_mount_opts *o, struct bfs_repo *repo,
		  struct bfs_mount **out, struct bfs_err *err)
{
	struct bfs_mount *m;
	struct bfs_buf opts = {0};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	int rc;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	m->o = *o;
	m->mountpoint = dup_or_null(o->mountpoint);
	m->catalog_path = dup_or_null(o->catalog_path);
	m->repo_id = dup_or_null(o->repo_id);
	m->fsname = dup_or_null(o->fsname ? o->fsname : "backupfs");
	m->fuse_opts = dup_or_null(o->fuse_opts);
	if (!m->mountpoint || !m->catalog_path || !m->repo_id || !m->fsname ||
	    (o->fuse_opts && !m->fuse_opts)) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	m->o.mountpoint = m->mountpoint;
	m->o.catalog_path = m->catalog_path;
	m->o.repo_id = m->repo_id;
	m->o.fsname = m->fsname;
	m->o.fuse_opts = m->fuse_opts;
	m->repo = repo;
	m->uid = getuid();
	m->gid = getgid();
	m->mount_time_ns = bfs_now_ns();
	if (!m->o.cache_size)
		m->o.cache_size = bfs_store_is_remote(repo->store)
				      ? BFS_MOUNT_DEFAULT_CACHE_REMOTE
				      : BFS_MOUNT_DEFAULT_CACHE;
	m->ra_chunks = o->readahead_chunks; /* 0: the reader's default */
	m->ra_bytes = o->readahead_bytes ? o->readahead_bytes : 32ull << 20;
	if (m->ra_bytes > m->o.cache_size / 3)
		m->ra_bytes = m->o.cache_size / 3;
	if (o->readahead_chunks == BFS_MOUNT_NO_READAHEAD)
		m->ra_bytes = 0;
	/* tests: a small catalog; pages past the mapping */
	m->map.budget = env_bytes("BFS_MOUNT_MAP_BUDGET", MNT_MAP_BUDGET);
	m->map.cat_map = env_bytes("BFS_MOUNT_CAT_MAP", MNT_CAT_MAP);
	pthread_mutex_init(&m->threads_lock, NULL);
	pthread_mutex_init(&m->handles_lock, NULL);
	m->handles.prev = m->handles.next = &m->handles;
	pthread_mutex_init(&m->logged_lock, NULL);
	pthread_mutex_init(&m->sync.lock, NULL);
	pthread_cond_init(&m->sync.cond, NULL);
	pthread_mutex_init(&m->reloc.lock, NULL);
	pthread_rwlock_init(&m->cat_rw, NULL);
	atomic_store(&m->last_use_ns, bfs_mono_ns());
	/* tests: a short idle time; 0: the mount never compacts */
	m->compact.idle_ns = (int64_t)env_bytes("BFS_MOUNT_COMPACT_IDLE_MS",
						MNT_COMPACT_IDLE_MS);
	if (m->compact.idle_ns > 86400000)
		m->compact.idle_ns = 86400000;
	m->compact.idle_ns *= 1000000;
	rc = pthread_key_create(&m->key, thread_cat_destroy);
	if (rc) {
		rc = bfs_err_set(err, -rc, "cannot create thread key");
		goto out_free;
	}
	m->key_created = true;
	rc = mnt_dt_cache_new(&m->dt);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out_free;
	}
	{
		struct bfs_catalog *c = NULL;
		struct stat st;

		rc = bfs_catalog_open(m->catalog_path, m->repo_id, true, &c,
				      err);
		if (rc == 0)
			rc = bfs_catalog_file_id(c, m->file_id, err);
		bfs_catalog_close(c);
		if (rc == 0 && stat(m->catalog_path, &st) != 0)
			rc = bfs_err_set(err, -errno, "cannot stat '%s': %s",
					 m->catalog_path, strerror(errno));
		if (rc < 0)
			goto out_free;
		m->cat_dev = st.st_dev;
		m->cat_ino = st.st_ino;
	}
	rc = bfs_chunkcache_new(m->o.cache_size, &m->cache);
	if (rc < 0) {
		bfs_err_set(err, rc, "cannot create the chunk cache");
		goto out_free;
	}
	/* delta bases located on the mount's own connections (mnt_locate),
	 * not on a connection of cli_open's locator that a compaction by
	 * the mount would find open; a read path: a delta's output is
	 * checked, its bases are not hashed again (repo.h; set_locate
	 * resets it) */
	rc = bfs_repo_set_locate(repo, mnt_locate, m, NULL, err);
	if (rc < 0)
		goto out_free;
	bfs_repo_set_bases_by_output(repo, true);
	{
		struct bfs_reader_config rc_cfg = {
		    .threads = o->readahead_workers, /* 0: the reader's */
		    .ra_bytes = m->ra_bytes,
		    .ra_chunks = m->ra_chunks,
		    .relocate = mnt_relocate,
		    .relocate_arg = m,
		};

		rc = bfs_reader_create(repo, m->cache, &rc_cfg, &m->reader);
		if (rc < 0) {
			bfs_err_set(err, rc, "cannot create the reader");
			goto out_free;
		}
	}

	/* ro always; private unless allow_other, which also makes the
	 * kernel enforce the recorded modes and owners. */
	rc = -ENOMEM;
	if (bfs_buf_printf(&opts, "ro,subtype=backupfs,fsname=") ||
	    append_escaped(&opts, m->fsname) ||
	    (o->allow_other &&
	     bfs_buf_printf(&opts, ",allow_other,default_permissions")) ||
	    (m->fuse_opts && m->fuse_opts[0] &&
	     bfs_buf_printf(&opts, ",%s", m->fuse_opts)) ||
	    bfs_buf_append(&opts, "", 1)) {
		bfs_err_set(err, rc, "out of memory");
		goto out_opts;
	}
	if (fuse_opt_add_arg(&args, "backupfs") ||
	    fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, (const char *)opts.data) ||
	    (o->debug && fuse_opt_add_arg(&args, "-d"))) {
		bfs_err_set(err, rc, "out of memory");
		goto out_args;
	}
	m->se =
	    fuse_session_new(&args, &bfs_mount_ops, sizeof(bfs_mount_ops), m);
	if (!m->se) {
		rc = bfs_err_set(err, -EINVAL, "invalid mount options '%s'",
				 (const char *)opts.data);
		goto out_args;
	}
	if (fuse_session_mount(m->se, m->mountpoint) != 0) {
		rc = bfs_err_set(err, -EIO,
				 "cannot mount on '%s' (see the "
				 "message above; is /dev/fuse usable?)",
				 m->mountpoint);
		goto out_args;
	}
	m->mounted = true;
	fuse_opt_free_args(&args);
	bfs_buf_free(&opts);
	*out = m;
	return 0;

out_args:
	fuse_opt_free_args(&args);
out_opts:
	bfs_buf_free(&opts);
out_free:
	bfs_mount_free(m);
	return rc;
}

int bfs_mount_serve(struct bfs_mount *m, struct bfs_err *err)
{
	struct fuse_loop_config cfg = {.clone_fd = 0, .max_idle_threads = 16};
	int rc;

	/* Start the readahead workers now rather than on the first read. */
	rc = bfs_reader_start(m->reader);
	if (rc < 0)
		return bfs_err_set(err, rc, "cannot start readahead threads");
	if (m->o.sync_interval_ms) {
		rc = pthread_create(&m->sync.th, NULL, sync_main, m);
		if (rc) {
			return bfs_err_set(err, -rc,
					   "cannot start the sync thread");
		}
		m->sync.started = true;
	}
	rc = mnt_pf_start(m);
	if (rc < 0) {
		rc = bfs_err_set(err, rc, "cannot start the prefetch thread");
		goto out_stop;
	}
	if (fuse_set_signal_handlers(m->se) != 0) {
		rc = bfs_err_set(err, -EIO, "cannot set signal handlers");
		goto out_stop;
	}
	bfs_info("mounted '%s' on '%s' (cache %llu MiB; chunk ids checked "
		 "with %s)",
		 m->fsname, m->mountpoint,
		 (unsigned long long)(m->o.cache_size >> 20),
		 bfs_sha256_isa_name(bfs_sha256_many_isa()));
	rc = fuse_session_loop_mt(m->se, &cfg);
	fuse_remove_signal_handlers(m->se);
	if (rc < 0) {
		rc = bfs_err_set(err, rc, "fuse session failed: %s",
				 strerror(-rc));
	} else {
		rc = 0;
	}
	{
		struct bfs_cc_stats st;

		bfs_chunkcache_stats(m->cache, &st);
		bfs_info("unmounting '%s': cache hits %llu, misses %llu, "
			 "waits %llu, wakeups %llu, peak %llu MiB",
			 m->mountpoint, (unsigned long long)st.hits,
			 (unsigned long long)st.misses,
			 (unsigned long long)st.waits,
			 (unsigned long long)st.wakeups,
			 (unsigned long long)(st.peak_bytes >> 20));
	}
out_stop:
	mnt_pf_stop(m);
	if (m->tune_started) {
		pthread_join(m->tune_th, NULL);
		m->tune_started = false;
	}
	if (m->sync.started) {
		pthread_mutex_lock(&m->sync.lock);
		m->sync.stop = true;
		pthread_cond_broadcast(&m->sync.cond);
		pthread_mutex_unlock(&m->sync.lock);
		pthread_join(m->sync.th, NULL);
		m->sync.started = false;
	}
	return rc;
}

/* See mount_int.h. */
void mnt_handle_add(struct bfs_mount *m, struct mnt_handle *h,
		    void (*free_fn)(struct bfs_mount *m, struct mnt_handle *h))
{
	h->free = free_fn;
	pthread_mutex_lock(&m->handles_lock);
	h->next = &m->handles;
	h->prev = m->handles.prev;
	h->prev->next = h;
	m->handles.prev = h;
	pthread_mutex_unlock(&m->handles_lock);
}

void mnt_handle_del(struct bfs_mount *m, struct mnt_handle *h)
{
	pthread_mutex_lock(&m->handles_lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	h->prev = h->next = h;
	pthread_mutex_unlock(&m->handles_lock);
}

void mnt_reply_open(struct bfs_mount *m, fuse_req_t req,
		    struct fuse_file_info *fi, struct mnt_handle *h,
		    void (*free_fn)(struct bfs_mount *m, struct mnt_handle *h))
{
	/* on the ring first: a release may follow the reply at once */
	mnt_handle_add(m, h, free_fn);
	fi->fh = (uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		mnt_handle_del(m, h);
		free_fn(m, h);
	}
}

/* The handles the kernel never released (the session ended first). */
static void handles_free(struct bfs_mount *m)
{
	struct mnt_handle *h;

	for (;;) {
		pthread_mutex_lock(&m->handles_lock);
		h = m->handles.next;
		if (h != &m->handles) {
			h->prev->next = h->next;
			h->next->prev = h->prev;
		}
		pthread_mutex_unlock(&m->handles_lock);
		if (h == &m->handles)
			return;
		h->free(m, h);
	}
}

static void free_common(struct bfs_mount *m)
{
	struct thread_cat *t, *next;

	/* Handles left open, while the reader they read through lives. */
	if (m->handles.next)
		handles_free(m);
	/* The reader first: its readahead workers may still be relocating a
	 * chunk through a catalog connection (mnt_relocate) until they are
	 * joined here. */
	bfs_reader_destroy(m->reader);
	m->reader = NULL;
	/* the repository outlives the mount: no hook into freed memory */
	if (m->repo)
		bfs_repo_set_locate(m->repo, NULL, NULL, NULL, NULL);
	/* Worker threads are gone; close what their destructors did not
	 * (the calling thread's own connection, if any). */
	for (t = m->threads; t; t = next) {
		next = t->next;
		bfs_catalog_close(t->cat);
		free(t);
	}
	m->threads = NULL;
	bfs_catalog_close(m->reloc.cat);
	if (m->key_created)
		pthread_key_delete(m->key);
	bfs_chunkcache_free(m->cache);
	mnt_dt_cache_free(m->dt); /* no open file is left */
	free(m->logged);
	free(m->mountpoint);
	free(m->catalog_path);
	free(m->repo_id);
	free(m->fsname);
	free(m->fuse_opts);
	free(m);
}

void bfs_mount_free(struct bfs_mount *m)
{
	if (!m)
		return;
	if (m->se) {
		if (m->mounted)
			fuse_session_unmount(m->se);
		fuse_session_destroy(m->se);
	}
	free_common(m);
}

void bfs_mount_abandon(struct bfs_mount *m)
{
	if (!m)
		return;
	/* fuse_session_destroy would not unmount without _unmount, but it
	 * talks to the kernel connection: just drop our memory. */
	free_common(m);
}
