/* source_files.c - --files [DEST=]PATH: a directory tree (or one file).
 *
 * The walk is iterative (an explicit stack of open directories, one fd and
 * one sorted name array per level), so depth is limited by file
 * descriptors, not by the C stack; RLIMIT_NOFILE's soft limit is raised to
 * the hard limit first.  Names are sorted bytewise so the same tree always
 * gives the same manifest.
 *
 * --exclude patterns follow exclude.h (rsync's rules: a name anywhere, a
 * path from the source root when it has a '/', `**` across directories,
 * a trailing '/' for directories only), matched against the entry's path
 * relative to PATH.  Patterns for directories only are tried once the
 * entry is known to be one (after its stat); the others before, so an
 * excluded entry costs no stat.  An excluded directory is not descended
 * into.
 *
 * Recorded: directories (empty ones too), regular files (sparse hint when
 * st_blocks * 512 < st_size), symlinks (any target, dangling ok),
 * hardlinks (second and later paths of a (dev, ino) with st_nlink > 1 point
 * at the first path), fifos, character and block devices (with rdev) and
 * sockets (type 's': restoring one creates an inert socket node, like tar;
 * recording keeps the tree complete).
 *
 * Unchanged files (same type, size, mtime, ctime and inode as in the last
 * backup of the same source key "files:DEST:<realpath>") reuse that
 * backup's chunks without being read.  The last backup's listing of a
 * directory is asked for once (when the directory is opened, to see
 * whether it can be reused whole, else at its first file) and kept for
 * the walk of its names, never asked per file; a directory of files that
 * all match it is reused whole (its previous tree), with nothing but a
 * stat per file.
 *
 * Stat-ahead: the catalog read of that listing and the stats of the
 * directory's names do not depend on each other, so while the walk asks
 * the catalog, a thread of its own (started at the first directory with
 * a listing, joined when the walk ends) stats the first SA_MAX names
 * into a buffer the walk compares from.  With a second core idle, the
 * catalog read no longer adds to the stats' wall time (the stat floor is
 * one thread).  Not used with --exclude (an excluded entry costs no
 * stat); a directory of fewer than SA_MIN names is stat'ed by the walk
 * itself into the same buffer, before the catalog read.
 *
 * One stat per name: when such a directory is walked after all (a file
 * changed, a subdirectory, a hardlink, another type), those results go
 * with its frame and the walk's do_entry takes names[i]'s result (its
 * errno too) instead of a second fstatat.  A name is thus recorded as
 * it was at that one stat, like any name that changes after it is
 * stat'ed: a file that changed since is recorded with the metadata of
 * its stat (and the bytes read, if it is read; its ctime tells the next
 * backup to read it), one that vanished since is reused (if it was
 * unchanged) or recorded as "cannot open"; a name gone
 * before its stat is recorded as "cannot stat", as before.  The names
 * past the first SA_MAX that the comparison stat'ed itself (before it
 * found a difference) are kept the same way.  Frames keep at most SA_HOLD
 * results in all (see there); past that a directory's names are stat'ed
 * twice, as before.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "exclude.h"
#include "log.h"
#include "source_int.h"

#define READ_BUF (1u << 20)

struct hl {
	dev_t dev;
	ino_t ino;
	char *path; /* NULL: empty slot */
};

/* Stat-ahead (see the top of the file): up to SA_MAX results per
 * directory (~600 KiB, allocated at the first directory), by the thread
 * for directories of at least SA_MIN names (below, the hand-over costs
 * more than it hides, and the walk stats them into the buffer itself). */
#define SA_MAX 4096
#define SA_MIN 32
/* A walked directory's results are copied to its frame (exactly as many
 * as were stat'ed) and freed when the frame is popped, so the frames of
 * the current path may hold results at once.  They hold SA_HOLD in all
 * at most (4 x SA_MAX, ~2.4 MiB of struct stat whatever the depth or the
 * number of files; twice that for a moment while a big directory's are
 * gathered and copied); a directory whose results do not fit is walked
 * with fstatat as before (its names stat'ed twice).  Few frames hold any: a
 * directory is compared (and stat'ed ahead) only when the last backup
 * had no more entries below it than it has names, which a directory
 * with non-empty subdirectories fails, so it is mostly the innermost
 * frame, a directory of files. */
#define SA_HOLD (4 * SA_MAX)

struct sa_res {
	struct stat st;
	int err; /* 0, or fstatat's errno */
};

struct statahead {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* busy or quit changed */
	bool started;
	bool failed; /* no buffer or no thread: the walk stats inline */
	bool busy;   /* a directory posted, not done yet */
	bool quit;
	/* the posted directory: fd and names are the walk's, unchanged
	 * until the thread is done with them (sa_wait) */
	int fd;
	char **names;
	size_t n;
	struct sa_res *v; /* SA_MAX */
	size_t held;	  /* results the frames hold (<= SA_HOLD) */
};

struct frame {
	int fd;
	char **names;
	size_t n, i;
	size_t pathlen; /* length of the dir's backup path in walk.path */
	/* the same directory in the last backup of this source, asked for
	 * once (at its first regular file) and walked with the names */
	struct bfs_index_dir prev;
	size_t pi;
	bool prev_asked;
	/* the stat-ahead results of names[0..sn) (NULL: none), owned;
	 * counted in statahead.held */
	struct sa_res *sv;
	size_t sn;
};

struct walk {
	struct bfs_backup *b;
	const struct bfs_source *s;
	const char *root; /* PATH as given */
	char *dest;
	size_t destlen;
	struct bfs_buf path; /* current backup path, NUL-terminated */
	struct frame *st;
	size_t depth, stcap;
	struct hl *hl; /* hardlink map, open addressing */
	size_t hlcap, hln;
	const char *key;	/* source key ("files:DEST:<realpath>") */
	struct bfs_exclude *ex; /* NULL: no --exclude */
	struct skip {		/* skip_paths that exist, by (dev, ino) */
		dev_t dev;
		ino_t ino;
		const char *path;
		bool said;
	} skip[8];
	size_t nskip;
	uint8_t *buf;
	struct statahead sa;
	struct bfs_err *err;
};

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- hardlink map ------------------------------------------------------ */

static size_t hl_slot(struct hl *v, size_t cap, dev_t dev, ino_t ino)
{
	size_t i =
	    ((uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev) & (cap - 1);

	while (v[i].path && !(v[i].dev == dev && v[i].ino == ino))
		i = (i + 1) & (cap - 1);
	return i;
}

static const char *hl_find(struct walk *w, dev_t dev, ino_t ino)
{
	if (!w->hlcap)
		return NULL;
	return w->hl[hl_slot(w->hl, w->hlcap, dev, ino)].path;
}

static int hl_add(struct walk *w, dev_t dev, ino_t ino, const char *path)
{
	size_t i;

	if ((w->hln + 1) * 2 > w->hlcap) {
		size_t ncap = w->hlcap ? w->hlcap * 2 : 256;
		struct hl *nv = calloc(ncap, sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		for (i = 0; i < w->hlcap; i++)
			if (w->hl[i].path)
				nv[hl_slot(nv, ncap, w->hl[i].dev,
					   w->hl[i].ino)] = w->hl[i];
		free(w->hl);
		w->hl = nv;
		w->hlcap = ncap;
	}
	i = hl_slot(w->hl, w->hlcap, dev, ino);
	w->hl[i].path = strdup(path);
	if (!w->hl[i].path)
		return -ENOMEM;
	w->hl[i].dev = dev;
	w->hl[i].ino = ino;
	w->hln++;
	return 0;
}

/* ---- stat-ahead -------------------------------------------------------- */

static void *sa_main(void *arg)
{
	struct statahead *sa = arg;
	size_t i;

	pthread_setname_np(pthread_self(), "bfs-stat");
	pthread_mutex_lock(&sa->mu);
	for (;;) {
		while (!sa->busy && !sa->quit)
			pthread_cond_wait(&sa->cv, &sa->mu);
		if (sa->quit)
			break;
		pthread_mutex_unlock(&sa->mu);
		for (i = 0; i < sa->n; i++)
			sa->v[i].err =
			    fstatat(sa->fd, sa->names[i], &sa->v[i].st,
				    AT_SYMLINK_NOFOLLOW)
				? errno
				: 0;
		pthread_mutex_lock(&sa->mu);
		sa->busy = false;
		pthread_cond_broadcast(&sa->cv);
	}
	pthread_mutex_unlock(&sa->mu);
	return NULL;
}

/* Hand the first names of directory fd to the stat-ahead thread (started
 * the first time).  Returns how many it stats (sa->v[0..]); 0 when there
 * is no buffer or no thread (the walk stats inline).  sa_wait before
 * using them, or before fd or names change.  Fewer than SA_MIN names are
 * stat'ed here, on the caller's thread, into the same buffer: the walk
 * would stat them all anyway (whether the directory is reused whole or
 * walked), so doing it first costs nothing and lets the walk use them. */
static size_t sa_post(struct statahead *sa, int fd, char **names, size_t n)
{
	size_t i;

	if (sa->failed || !n)
		return 0;
	if (!sa->v) {
		sa->v = malloc(SA_MAX * sizeof(*sa->v));
		if (!sa->v) {
			sa->failed = true;
			return 0;
		}
	}
	if (n < SA_MIN) {
		/* the thread, if any, is idle: sa->v is the walk's */
		for (i = 0; i < n; i++)
			sa->v[i].err = fstatat(fd, names[i], &sa->v[i].st,
					       AT_SYMLINK_NOFOLLOW)
					   ? errno
					   : 0;
		return n;
	}
	if (!sa->started) {
		pthread_mutex_init(&sa->mu, NULL);
		pthread_cond_init(&sa->cv, NULL);
		if (pthread_create(&sa->th, NULL, sa_main, sa)) {
			pthread_cond_destroy(&sa->cv);
			pthread_mutex_destroy(&sa->mu);
			sa->failed = true; /* sa->v is freed by sa_stop */
			return 0;
		}
		sa->started = true;
	}
	pthread_mutex_lock(&sa->mu);
	sa->fd = fd;
	sa->names = names;
	sa->n = BFS_MIN(n, SA_MAX);
	sa->busy = true;
	pthread_cond_broadcast(&sa->cv);
	pthread_mutex_unlock(&sa->mu);
	return BFS_MIN(n, SA_MAX);
}

static void sa_wait(struct statahead *sa)
{
	if (!sa->started)
		return; /* nothing posted: stat'ed by the caller */
	pthread_mutex_lock(&sa->mu);
	while (sa->busy)
		pthread_cond_wait(&sa->cv, &sa->mu);
	pthread_mutex_unlock(&sa->mu);
}

static void sa_stop(struct statahead *sa)
{
	if (sa->started) {
		pthread_mutex_lock(&sa->mu);
		sa->quit = true;
		pthread_cond_broadcast(&sa->cv);
		pthread_mutex_unlock(&sa->mu);
		pthread_join(sa->th, NULL);
		pthread_cond_destroy(&sa->cv);
		pthread_mutex_destroy(&sa->mu);
		sa->started = false;
	}
	free(sa->v);
	sa->v = NULL;
}

/* The results of the names a big directory's comparison stats itself,
 * past the SA_MAX of the buffer (names[np..np + x->n), in order): kept
 * for the walk as long as the frames' total stays within SA_HOLD. */
struct sa_ext {
	struct sa_res *v;
	size_t n, cap;
	bool off; /* full (or no memory): no more, so they stay contiguous */
};

/* The slot for the next name's stat, or NULL (stat into a local). */
static struct sa_res *sa_ext_slot(struct statahead *sa, struct sa_ext *x,
				  size_t np)
{
	if (x->off || sa->held + np + x->n + 1 > SA_HOLD) {
		x->off = true;
		return NULL;
	}
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 256;
		struct sa_res *nv = realloc(x->v, nc * sizeof(*nv));

		if (!nv) {
			x->off = true;
			return NULL;
		}
		x->v = nv;
		x->cap = nc;
	}
	return &x->v[x->n++];
}

/* A copy of the results of the last directory posted (its first np
 * names; sa_wait done), and of x's after them, for the frame that walks
 * it, or NULL when there are none or they would take the frames past
 * SA_HOLD (or no memory: the walk stats inline then).  *sn: how many.
 * The caller owns it; sa_drop gives it back. */
static struct sa_res *sa_keep(struct statahead *sa, size_t np,
			      const struct sa_ext *x, size_t *sn)
{
	size_t n = np + x->n;
	struct sa_res *v;

	*sn = 0;
	if (!np || sa->held + n > SA_HOLD)
		return NULL;
	v = malloc(n * sizeof(*v));
	if (!v)
		return NULL;
	memcpy(v, sa->v, np * sizeof(*v));
	if (x->n)
		memcpy(v + np, x->v, x->n * sizeof(*v));
	sa->held += n;
	*sn = n;
	return v;
}

static void sa_drop(struct statahead *sa, struct sa_res *v, size_t n)
{
	if (!v)
		return;
	sa->held -= n;
	free(v);
}

/* ---- helpers ----------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Read and sort the names of directory fd (fd stays open). */
static int read_names(int fd, char ***out, size_t *nout)
{
	char **names = NULL, **nn;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int dfd, rc = 0;

	dfd = dup(fd);
	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (!d) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			rc = -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				rc = -ENOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc) {
		free_names(names, n);
		return rc;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*nout = n;
	return 0;
}

/* Is the entry at w->path excluded?  is_dir: 1 a directory, 0 not, -1
 * not known yet (patterns for directories only wait for the stat). */
static bool excluded(struct walk *w, int is_dir)
{
	const char *rel = (const char *)w->path.data + w->destlen + 1;

	return w->ex && bfs_exclude_match(w->ex, rel, is_dir);
}

/* Is st one of the paths never backed up (the repository, ...)?  Says so
 * the first time. */
static bool skipped(struct walk *w, const struct stat *st)
{
	size_t i;

	for (i = 0; i < w->nskip; i++) {
		struct skip *k = &w->skip[i];

		if (k->dev != st->st_dev || k->ino != st->st_ino)
			continue;
		if (!k->said)
			bfs_warn(
			    "skipping '%s' inside --files '%s': backupfs's "
			    "own repository, catalog or cache is never "
			    "backed up",
			    k->path, w->root);
		k->said = true;
		return true;
	}
	return false;
}

static void skip_init(struct walk *w)
{
	const char *const *p;
	struct stat st;

	for (p = w->s->skip_paths; p && *p; p++)
		if (w->nskip < sizeof(w->skip) / sizeof(w->skip[0]) &&
		    !stat(*p, &st)) {
			w->skip[w->nskip].dev = st.st_dev;
			w->skip[w->nskip].ino = st.st_ino;
			w->skip[w->nskip].path = *p;
			w->skip[w->nskip++].said = false;
		}
}

/* Set w->path to the dir at depth's path + "/" + name. */
static int path_push(struct walk *w, size_t dirlen, const char *name)
{
	w->path.len = dirlen;
	if (bfs_buf_append(&w->path, "/", 1) ||
	    bfs_buf_append(&w->path, name, strlen(name) + 1))
		return -ENOMEM;
	w->path.len--; /* keep the NUL outside len */
	return 0;
}

static void entry_init(struct walk *w, struct bfs_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->path = (char *)w->path.data;
	e->path_len = w->path.len;
}

/* Record an unreadable entry; only a writer failure is returned. */
static int add_err(struct walk *w, struct bfs_entry *e, const char *what,
		   int code)
{
	char why[512];
	struct bfs_err err;
	int rc;

	snprintf(why, sizeof(why), "%s: %s", what, strerror(-code));
	/* info, not a warning: the backup lists every unreadable entry once
	 * at the end; -v shows them as they are met */
	bfs_info("cannot read '%s/%s': %s", w->root,
		 e->path_len > w->destlen ? e->path + w->destlen + 1 : "", why);
	err.msg[0] = 0;
	rc = bfs_backup_add_error(w->b, e, why, &err);
	if (rc)
		return bfs_err_set(w->err, rc, "%s", bfs_err_str(&err, rc));
	return 0;
}

/* The previous backup's entry named name in the directory of frame f
 * (the directory's listing is fetched once, at its first file; names come
 * in sorted order, so a cursor finds each).  NULL if none. */
static const struct bfs_index_prev *prev_find(struct walk *w, struct frame *f,
					      const char *name)
{
	size_t n = strlen(name);

	if (!f->prev_asked) {
		char save = (char)w->path.data[f->pathlen];

		f->prev_asked = true;
		w->path.data[f->pathlen] = 0;
		if (bfs_index_prev_dir(bfs_backup_index(w->b), w->key,
				       (const char *)w->path.data, &f->prev))
			memset(&f->prev, 0, sizeof(f->prev));
		w->path.data[f->pathlen] = (uint8_t)save;
	}
	while (f->pi < f->prev.n) {
		const struct bfs_entry *p = &f->prev.v[f->pi].e;
		int c = bfs_tree_name_cmp(p->path, p->path_len, name, n);

		if (c == 0)
			return &f->prev.v[f->pi];
		if (c > 0)
			return NULL;
		f->pi++;
	}
	return NULL;
}

/* Try to reuse the previous backup's chunks for an unchanged file.
 * Returns 1 if reused, 0 if the file must be read, or -errno. */
static int try_reuse(struct walk *w, const struct bfs_entry *e)
{
	const char *slash = strrchr(e->path, '/');
	const char *name = slash ? slash + 1 : e->path;
	struct frame top = {.pathlen = slash ? (size_t)(slash - e->path) : 0};
	const struct bfs_index_prev *p;
	struct frame *f = w->depth ? &w->st[w->depth - 1] : &top;
	int rc = 0;

	if (!e->ino)
		return 0;
	/* the top level of a one-file source has no frame: ask for its
	 * directory once */
	p = prev_find(w, f, name);
	if (!p || p->e.type != BFS_T_FILE || p->e.error || p->e.link ||
	    p->e.size != e->size || p->e.mtime_ns != e->mtime_ns ||
	    p->e.ctime_ns != e->ctime_ns || p->e.ino != e->ino)
		goto out;
	rc = bfs_backup_file_reuse_keys(
	    w->b, e, p->chunks, p->nchunks, p->has_dt ? p->dt : NULL,
	    p->has_sk ? p->sk : NULL, p->has_sa ? p->sa : NULL, w->err);
	if (rc == -EINVAL)
		rc = 0; /* the index disagrees with itself: read it */
	else if (rc == 0)
		rc = 1;
out:
	bfs_index_dir_clear(&top.prev);
	return rc;
}

static int do_file(struct walk *w, int dirfd, const char *name,
		   struct bfs_entry *e, const struct stat *st)
{
	const char *first;
	ssize_t n;
	int fd, rc;

	if (st->st_nlink > 1) {
		first = hl_find(w, st->st_dev, st->st_ino);
		if (first) {
			e->link = (char *)first;
			e->link_len = strlen(first);
			return bfs_backup_add(w->b, e, w->err);
		}
	}
	rc = try_reuse(w, e);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		fd = openat(dirfd, name,
			    O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
		if (fd < 0 && errno == EPERM)
			fd = openat(dirfd, name,
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return add_err(w, e, "cannot open", -errno);
		rc = bfs_backup_file_begin(w->b, e, BFS_PROFILE_FILES, w->err);
		if (rc) {
			close(fd);
			return rc;
		}
		for (;;) {
			n = read(fd, w->buf, READ_BUF);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			rc = bfs_backup_file_write(w->b, w->buf, (size_t)n,
						   w->err);
			if (rc) {
				close(fd);
				bfs_backup_file_cancel(w->b);
				return rc;
			}
		}
		if (n < 0) {
			rc = -errno;
			close(fd);
			bfs_backup_file_cancel(w->b);
			return add_err(w, e, "read error", rc);
		}
		close(fd);
		rc = bfs_backup_file_end(w->b, w->err);
		if (rc)
			return rc;
	}
	if (st->st_nlink > 1)
		if (hl_add(w, st->st_dev, st->st_ino, e->path))
			return bfs_err_set(w->err, -ENOMEM, "out of memory");
	return 0;
}

static int do_symlink(struct walk *w, int dirfd, const char *name,
		      struct bfs_entry *e, const struct stat *st)
{
	size_t cap = (size_t)st->st_size + 1;
	char *t = NULL, *nt;
	ssize_t n;
	int rc;

	for (;;) {
		nt = realloc(t, cap);
		if (!nt) {
			free(t);
			return bfs_err_set(w->err, -ENOMEM, "out of memory");
		}
		t = nt;
		n = readlinkat(dirfd, name, t, cap);
		if (n < 0) {
			rc = -errno;
			free(t);
			return add_err(w, e, "cannot read link", rc);
		}
		if ((size_t)n < cap)
			break;
		cap *= 2; /* changed under us: grow */
	}
	t[n] = 0;
	e->target = t;
	e->target_len = (size_t)n;
	e->size = (uint64_t)n;
	rc = bfs_backup_add(w->b, e, w->err);
	free(t);
	e->target = NULL;
	return rc;
}

/* Is directory e (open as fd, its sorted names[0..n)) exactly what the
 * last backup of this source recorded: the same names (after excludes),
 * each a regular file with one link whose metadata is unchanged?  Then
 * its previous tree is reused whole, without a single file going through
 * the writer.  Returns 1 if so, 0 if it must be walked, or -errno (a
 * writer failure).  Directories with subdirectories, hardlinks or other
 * types are walked: a file-only directory is the common leaf.
 * When it is walked, the listing asked for here is handed to the walk in
 * *keep (*asked set: a listing the index did not give is not asked for
 * again), so a changed directory costs one prev_dir, not two; and so
 * are the stats of its first names (the stat-ahead results and those
 * the comparison took after them), in *sv (*sn of them; NULL when there
 * are none or sa_keep gives none), so the walk stats each name once. */
static int try_whole(struct walk *w, int fd, char **names, size_t n,
		     struct bfs_entry *e, struct bfs_index_dir *keep,
		     bool *asked, struct sa_res **sv, size_t *sn)
{
	const struct bfs_index *idx = bfs_backup_index(w->b);
	const char *slash = strrchr(e->path, '/');
	struct frame top = {.pathlen = slash ? (size_t)(slash - e->path) : 0};
	struct frame *pf = w->depth ? &w->st[w->depth - 1] : &top;
	struct bfs_tree_stats ts = {0};
	const struct bfs_index_prev *p;
	struct bfs_index_dir d = {0};
	struct sa_ext x = {0};
	size_t dirlen = w->path.len, m = 0, k = 0, i, np = 0;
	int rc = 0, same = 0, prc;

	if (!idx)
		return 0;
	p = prev_find(w, pf, slash ? slash + 1 : e->path);
	if (!p || p->e.type != BFS_T_DIR || !p->has_tree || !p->count ||
	    p->count > n)
		goto out;
	*asked = true;
	/* the names' stats (a thread) while the catalog reads the listing */
	np = w->ex ? 0 : sa_post(&w->sa, fd, names, n);
	prc = bfs_index_prev_dir(idx, w->key, e->path, &d);
	if (np)
		sa_wait(&w->sa);
	if (prc) {
		memset(&d, 0, sizeof(d));
		goto out;
	}
	if (d.n != p->count)
		goto out;
	for (i = 0; i < n; i++) {
		const struct bfs_index_prev *q;
		struct bfs_entry cur = {0};
		const struct stat *sp;
		struct stat st;

		if (path_push(w, dirlen, names[i]))
			goto out;
		if (excluded(w, -1))
			continue;
		if (k == d.n)
			goto out; /* a name more */
		q = &d.v[k++];
		m++;
		if (strcmp(q->e.path, names[i]))
			goto out;
		if (i < np) {
			if (w->sa.v[i].err)
				goto out;
			sp = &w->sa.v[i].st;
		} else {
			/* past the buffer: kept too when np (no --exclude:
			 * every name from np on is stat'ed here, in order) */
			struct sa_res *r =
			    np ? sa_ext_slot(&w->sa, &x, np) : NULL;

			if (r) {
				r->err = fstatat(fd, names[i], &r->st,
						 AT_SYMLINK_NOFOLLOW)
					     ? errno
					     : 0;
				if (r->err)
					goto out;
				sp = &r->st;
			} else {
				if (fstatat(fd, names[i], &st,
					    AT_SYMLINK_NOFOLLOW))
					goto out;
				sp = &st;
			}
		}
		if ((w->nskip && skipped(w, sp)) || !S_ISREG(sp->st_mode) ||
		    sp->st_nlink != 1 || q->e.type != BFS_T_FILE ||
		    q->e.error || q->e.link)
			goto out;
		bfs_source_stat_entry(&cur, sp);
		if (cur.size != q->e.size || cur.mtime_ns != q->e.mtime_ns ||
		    cur.ctime_ns != q->e.ctime_ns || cur.ino != q->e.ino ||
		    cur.mode != q->e.mode || cur.uid != q->e.uid ||
		    cur.gid != q->e.gid || cur.sparse != q->e.sparse ||
		    !cur.ino)
			goto out;
		/* owner names as the writer would record them now */
		if (bfs_backup_owner_names(w->b, &cur))
			goto out;
		rc = (!cur.user) != (!q->e.user) ||
		     (cur.user && strcmp(cur.user, q->e.user)) ||
		     (!cur.group) != (!q->e.group) ||
		     (cur.group && strcmp(cur.group, q->e.group));
		free(cur.user);
		free(cur.group);
		if (rc) {
			rc = 0;
			goto out;
		}
		ts.files++;
		ts.bytes += q->e.size;
		ts.chunks += q->nchunks;
	}
	if (m != d.n)
		goto out;
	same = 1;
out:
	w->path.len = dirlen;
	w->path.data[dirlen] = 0;
	if (same) {
		rc = bfs_backup_add_tree(
		    w->b, e, (const uint8_t(*)[BFS_HASH_LEN])p->parts,
		    p->nparts, p->count, &ts, w->err);
		rc = rc ? rc : 1;
	}
	if (!same && rc >= 0) {
		*keep = d; /* the walk's listing of this directory */
		memset(&d, 0, sizeof(d));
		*sv = sa_keep(&w->sa, np, &x, sn);
	}
	free(x.v);
	bfs_index_dir_clear(&d);
	bfs_index_dir_clear(&top.prev);
	return rc;
}

/* Open directory name in dirfd and push it.  Adds the dir entry. */
static int do_dir(struct walk *w, int dirfd, const char *name,
		  struct bfs_entry *e)
{
	struct bfs_index_dir prev = {0};
	struct sa_res *sv = NULL;
	bool asked = false;
	char **names = NULL;
	size_t n = 0, sn = 0;
	struct frame *f;
	int fd, rc;

	fd = openat(dirfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return add_err(w, e, "cannot open directory", -errno);
	rc = read_names(fd, &names, &n);
	if (rc) {
		close(fd);
		if (rc == -ENOMEM)
			return bfs_err_set(w->err, rc, "out of memory");
		return add_err(w, e, "cannot list directory", rc);
	}
	rc = try_whole(w, fd, names, n, e, &prev, &asked, &sv, &sn);
	if (rc) {
		/* reused whole (1), or the writer failed */
		close(fd);
		free_names(names, n);
		return rc < 0 ? rc : 0;
	}
	rc = bfs_backup_add(w->b, e, w->err);
	if (rc)
		goto out_free;
	if (w->depth == w->stcap) {
		size_t nc = w->stcap ? w->stcap * 2 : 32;
		struct frame *ns = realloc(w->st, nc * sizeof(*ns));

		if (!ns) {
			rc = bfs_err_set(w->err, -ENOMEM, "out of memory");
			goto out_free;
		}
		w->st = ns;
		w->stcap = nc;
	}
	f = &w->st[w->depth++];
	f->fd = fd;
	f->names = names;
	f->n = n;
	f->i = 0;
	f->pathlen = w->path.len;
	f->prev = prev;
	f->pi = 0;
	f->prev_asked = asked;
	f->sv = sv;
	f->sn = sn;
	return 0;
out_free:
	sa_drop(&w->sa, sv, sn);
	bfs_index_dir_clear(&prev);
	close(fd);
	free_names(names, n);
	return rc;
}

/* pre: name's stat-ahead result, or NULL (stat it here) */
static int do_entry(struct walk *w, int dirfd, const char *name,
		    const struct sa_res *pre)
{
	struct bfs_entry e;
	struct stat st;
	int serr = 0;

	entry_init(w, &e);
	if (pre) {
		serr = pre->err;
		st = pre->st;
	} else if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		serr = errno;
	}
	if (serr) {
		e.type = BFS_T_FILE;
		e.mode = 0644;
		return add_err(w, &e, "cannot stat", -serr);
	}
	if (w->nskip && skipped(w, &st))
		return 0;
	bfs_source_stat_entry(&e, &st);
	switch (e.type) {
	case BFS_T_DIR:
		if (excluded(w, 1)) /* a pattern for directories only */
			return 0;
		return do_dir(w, dirfd, name, &e);
	case BFS_T_FILE:
		return do_file(w, dirfd, name, &e, &st);
	case BFS_T_SYMLINK:
		return do_symlink(w, dirfd, name, &e, &st);
	default:
		return bfs_backup_add(w->b, &e, w->err);
	}
}

static int walk_tree(struct walk *w)
{
	struct frame *f;
	const struct sa_res *pre;
	const char *name;
	int rc = 0;

	while (w->depth && !rc) {
		f = &w->st[w->depth - 1];
		if (f->i == f->n) {
			close(f->fd);
			free_names(f->names, f->n);
			bfs_index_dir_clear(&f->prev);
			sa_drop(&w->sa, f->sv, f->sn);
			w->depth--;
			continue;
		}
		/* the results live in their own block: f may move, they not */
		pre = f->i < f->sn ? &f->sv[f->i] : NULL;
		name = f->names[f->i++];
		rc = path_push(w, f->pathlen, name);
		if (rc) {
			rc = bfs_err_set(w->err, rc, "out of memory");
			break;
		}
		if (excluded(w, -1))
			continue;
		/* f may move when do_dir grows the stack: pass the fd */
		rc = do_entry(w, f->fd, name, pre);
	}
	return rc;
}

static int files_run(struct bfs_backup *b, const struct bfs_source *s,
		     struct bfs_err *err)
{
	struct walk w;
	char *real = NULL, *key = NULL, *slash, *base;
	const char *path;
	struct stat st;
	struct bfs_buf kb = {0};
	size_t i;
	int rc, cwd;

	memset(&w, 0, sizeof(w));
	w.b = b;
	w.s = s;
	w.err = err;
	rc = bfs_source_split(s->arg, "files", &w.dest, &path, err);
	if (rc)
		return rc;
	w.root = path;
	w.destlen = strlen(w.dest);
	raise_nofile();
	skip_init(&w);

	if (stat(path, &st)) {
		rc = -errno;
		rc = bfs_err_set(err, rc, "cannot read '%s': %s", path,
				 strerror(-rc));
		goto out_free;
	}
	real = realpath(path, NULL);
	if (!real) {
		rc = -errno;
		rc = bfs_err_set(err, rc, "cannot read '%s': %s", path,
				 strerror(-rc));
		goto out_free;
	}
	if (bfs_buf_printf(&kb, "files:%s:%s", w.dest, real) ||
	    bfs_buf_append(&kb, "", 1)) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	key = (char *)kb.data;
	if (s->excludes && s->excludes[0]) {
		size_t nx = 0;

		while (s->excludes[nx])
			nx++;
		/* an absolute PATH as given anchors "/PATH/..." patterns
		 * (it may be a symlink to where realpath leads) */
		rc = bfs_exclude_new(s->excludes, nx,
				     path[0] == '/' ? path : real, &w.ex, err);
		if (rc)
			goto out_free;
	}
	rc = bfs_backup_add_source(b, "files", w.dest, path, key, err);
	if (rc)
		goto out_free;
	w.key = key;
	w.buf = malloc(READ_BUF);
	if (!w.buf || bfs_buf_append(&w.path, w.dest, w.destlen + 1)) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	w.path.len = w.destlen;

	/* the top level: open its parent directory and treat it like any
	 * other entry, except that it is stat'ed following symlinks */
	slash = strrchr(real, '/');
	base = slash[1] ? slash + 1 : (char *)".";
	if (slash == real)
		cwd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else {
		*slash = 0;
		cwd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
	}
	if (cwd < 0) {
		rc = -errno;
		rc = bfs_err_set(err, rc, "cannot read '%s': %s", path,
				 strerror(-rc));
		goto out_free;
	}
	{
		struct bfs_entry e;

		entry_init(&w, &e);
		bfs_source_stat_entry(&e, &st);
		if (e.type == BFS_T_DIR || e.type == BFS_T_FILE) {
			/* an unreadable top level fails the source */
			int fd = openat(cwd, base, O_RDONLY | O_CLOEXEC);

			if (fd < 0) {
				rc = -errno;
				rc =
				    bfs_err_set(err, rc, "cannot read '%s': %s",
						path, strerror(-rc));
				close(cwd);
				goto out_free;
			}
			close(fd);
		}
		if (e.type == BFS_T_DIR)
			rc = do_dir(&w, cwd, base, &e);
		else if (e.type == BFS_T_FILE)
			rc = do_file(&w, cwd, base, &e, &st);
		else
			rc = bfs_backup_add(b, &e, err);
	}
	close(cwd);
	if (!rc)
		rc = walk_tree(&w);
	if (w.ex && s->exclude_hits)
		for (i = 0; i < bfs_exclude_count(w.ex); i++)
			s->exclude_hits[i] += bfs_exclude_hits(w.ex, i);
out_free:
	sa_stop(&w.sa);
	bfs_exclude_free(w.ex);
	while (w.depth) {
		w.depth--;
		close(w.st[w.depth].fd);
		free_names(w.st[w.depth].names, w.st[w.depth].n);
		bfs_index_dir_clear(&w.st[w.depth].prev);
		sa_drop(&w.sa, w.st[w.depth].sv, w.st[w.depth].sn);
	}
	free(w.st);
	for (i = 0; i < w.hlcap; i++)
		free(w.hl[i].path);
	free(w.hl);
	free(w.buf);
	bfs_buf_free(&w.path);
	bfs_buf_free(&kb);
	free(real);
	free(w.dest);
	return rc;
}

static int files_dest(const struct bfs_source *s, char **dest,
		      struct bfs_err *err)
{
	const char *rest;

	return bfs_source_split(s->arg, "files", dest, &rest, err);
}

const struct bfs_source_type bfs_source_type_files = {
    .kind = BFS_SRC_FILES,
    .name = "files",
    .dest = files_dest,
    .run = files_run,
};
