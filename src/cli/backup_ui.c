/* backup_ui.c - see backup_ui.h.
 *
 * Units are binary everywhere: KiB, MiB, GiB and MiB/s.  The pre-scan
 * walks each --files root with nftw (no symlinks followed, excluded
 * directories skipped with the same patterns as the source), counting
 * regular files and their sizes; it only informs the display, so its
 * errors are ignored. */
#define _GNU_SOURCE 1 /* FTW_ACTIONRETVAL */
#include "config.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backup_ui.h"
#include "src/exclude.h"
#include "src/log.h"
#include "src/util.h"

static __thread struct {
	struct bui *u;
	struct bui_scan *s;
	struct bfs_exclude *ex;
	size_t rootlen;
} scan_tls;

static int scan_one(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	struct bui_scan *s = scan_tls.s;
	const char *rel;

	(void)ftw;
	if (__atomic_load_n(&scan_tls.u->stop, __ATOMIC_RELAXED))
		return FTW_STOP;
	if (strlen(path) <= scan_tls.rootlen)
		return FTW_CONTINUE; /* the root */
	rel = path + scan_tls.rootlen + 1;
	for (size_t i = 0; i < scan_tls.u->nskip; i++)
		if (scan_tls.u->skip[i].dev == st->st_dev &&
		    scan_tls.u->skip[i].ino == st->st_ino)
			return flag == FTW_D ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
	if (scan_tls.ex &&
	    bfs_exclude_match(scan_tls.ex, rel, flag == FTW_D ? 1 : 0))
		return flag == FTW_D ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
	if (flag == FTW_F && S_ISREG(st->st_mode)) {
		__atomic_add_fetch(&s->files, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&s->bytes, (uint64_t)st->st_size,
				   __ATOMIC_RELAXED);
	}
	return FTW_CONTINUE;
}

static void *scan_main(void *arg)
{
	struct bui *u = arg;
	size_t i, nx;

	for (i = 0;
	     i < u->nscans && !__atomic_load_n(&u->stop, __ATOMIC_RELAXED);
	     i++) {
		struct bui_scan *s = &u->scans[i];
		size_t len = strlen(s->root);

		while (len > 1 && s->root[len - 1] == '/')
			len--;
		scan_tls.u = u;
		scan_tls.s = s;
		scan_tls.rootlen = len;
		scan_tls.ex = NULL;
		for (nx = 0; s->excludes && s->excludes[nx]; nx++)
			;
		if (nx)
			bfs_exclude_new(s->excludes, nx,
					s->root[0] == '/' ? s->root : NULL,
					&scan_tls.ex, NULL);
		nftw(s->root, scan_one, 32, FTW_PHYS | FTW_ACTIONRETVAL);
		bfs_exclude_free(scan_tls.ex);
		__atomic_store_n(&s->done, true, __ATOMIC_RELEASE);
	}
	return NULL;
}

void bui_start(struct bui *u, struct bui_scan *scans, size_t n,
	       char *const *skip)
{
	struct stat st;

	u->scans = scans;
	u->nscans = n;
	for (; skip && *skip && u->nskip < 8; skip++)
		if (!stat(*skip, &st)) {
			u->skip[u->nskip].dev = st.st_dev;
			u->skip[u->nskip++].ino = st.st_ino;
		}
	if (!n || !u->tty || u->quiet)
		return;
	u->thread_on = pthread_create(&u->thread, NULL, scan_main, u) == 0;
}

void bui_clear(struct bui *u)
{
	if (u->drawn) {
		fputs("\r\033[K", stderr);
		u->drawn = false;
	}
}

void bui_source_begin(struct bui *u, size_t i, size_t n, const char *desc,
		      const char *dest, struct bui_scan *scan)
{
	u->cur = i;
	u->n = n;
	u->dest = dest;
	u->scan = scan;
	u->size0 = u->last.size;
	u->bytes0 = u->last.bytes;
	u->ns0 = bfs_mono_ns();
	if (u->verbose) {
		bui_clear(u);
		fprintf(stderr, "backupfs backup: [%zu/%zu] %s -> %s\n", i + 1,
			n, desc, dest);
	}
}

static double mib(uint64_t b)
{
	return (double)b / 1048576.0;
}

void bui_source_end(struct bui *u)
{
	char size[32];
	double secs = (double)(bfs_mono_ns() - u->ns0) / 1e9;
	uint64_t sz = u->last.size - u->size0;

	if (!u->verbose)
		return;
	bui_clear(u);
	bfs_fmt_bytes(size, sizeof(size), sz);
	fprintf(stderr, "backupfs backup: [%zu/%zu] %s: %s in %.1f s",
		u->cur + 1, u->n, u->dest, size, secs);
	if (secs > 0.05)
		fprintf(stderr, " (%.1f MiB/s)", mib(sz) / secs);
	fputc('\n', stderr);
}

void bui_progress(void *arg, const struct bfs_progress *p)
{
	struct bui *u = arg;
	char a[32], b[32], c[32];
	double secs;
	uint64_t sz;

	u->last = *p;
	if (!u->tty || u->quiet || !u->dest)
		return;
	secs = (double)(bfs_mono_ns() - u->ns0) / 1e9;
	sz = p->size - u->size0;
	bfs_fmt_bytes(a, sizeof(a), sz);
	fprintf(stderr, "\r\033[K[%zu/%zu] %s: %s", u->cur + 1, u->n, u->dest,
		a);
	if (u->scan && __atomic_load_n(&u->scan->done, __ATOMIC_ACQUIRE)) {
		uint64_t total =
		    __atomic_load_n(&u->scan->bytes, __ATOMIC_RELAXED);

		bfs_fmt_bytes(b, sizeof(b), total);
		fprintf(stderr, " of %s", b);
		if (secs > 1 && sz > 0 && total > sz) {
			double eta = (double)(total - sz) / ((double)sz / secs);

			fprintf(stderr, ", ETA %d:%02d", (int)eta / 60,
				(int)eta % 60);
		}
	}
	if (secs > 0.5)
		fprintf(stderr, ", %.1f MiB/s", mib(sz) / secs);
	bfs_fmt_bytes(b, sizeof(b), p->bytes);
	bfs_fmt_bytes(c, sizeof(c), p->new_bytes);
	fprintf(stderr, " | %llu entries, %s read, %s new",
		(unsigned long long)p->files, b, c);
	if (p->errors)
		fprintf(stderr, ", %llu unreadable",
			(unsigned long long)p->errors);
	u->drawn = true;
}

void bui_fini(struct bui *u)
{
	if (u->thread_on) {
		__atomic_store_n(&u->stop, true, __ATOMIC_RELAXED);
		pthread_join(u->thread, NULL);
		u->thread_on = false;
	}
}
