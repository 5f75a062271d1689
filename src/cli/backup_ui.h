/* backup_ui.h - what `backupfs backup` shows while it runs (on a
 * terminal): the running source with its size and rate, for --files a
 * total and an ETA from a pre-scan that runs in a thread of its own, and
 * the backup's totals; with -v each source's start and end lines. */
#ifndef BFS_CLI_BACKUP_UI_H
#define BFS_CLI_BACKUP_UI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "src/writer.h"

struct bfs_exclude;

/* The pre-scan of one --files source: what it will read. */
struct bui_scan {
	const char *root;	     /* PATH */
	const char *const *excludes; /* as the source gets them */
	uint64_t files, bytes;	     /* so far (atomics) */
	bool done;		     /* atomic */
};

struct bui {
	bool tty, quiet, drawn;
	int verbose;
	/* the running source */
	size_t cur, n;
	const char *dest;
	uint64_t size0, bytes0; /* totals when it started */
	int64_t ns0;
	struct bui_scan *scan; /* of the running source, or NULL */
	/* the last progress report */
	struct bfs_progress last;
	/* the pre-scan thread and its sources */
	struct bui_scan *scans;
	size_t nscans;
	pthread_t thread;
	bool thread_on;
	/* what the sources skip (their own repository, ...) */
	struct bui_skip {
		dev_t dev;
		ino_t ino;
	} skip[8];
	size_t nskip;
	bool stop; /* atomic */
};

/* Start the pre-scan of the given --files roots (scans[0..n), owned by
 * the caller until bui_fini) when progress is shown, leaving out the
 * paths the sources skip (skip: NULL-terminated, may be NULL).  Never
 * fails: no pre-scan means no ETA. */
void bui_start(struct bui *u, struct bui_scan *scans, size_t n,
	       char *const *skip);
/* Source i of n (dest: where it lands; scan: its pre-scan or NULL)
 * starts: -v says so; the progress line follows it. */
void bui_source_begin(struct bui *u, size_t i, size_t n, const char *desc,
		      const char *dest, struct bui_scan *scan);
/* It ended: -v says how much and how fast. */
void bui_source_end(struct bui *u);
/* The writer's progress callback (arg: struct bui). */
void bui_progress(void *arg, const struct bfs_progress *p);
/* Clear the progress line. */
void bui_clear(struct bui *u);
/* Stop and join the pre-scan. */
void bui_fini(struct bui *u);

#endif
