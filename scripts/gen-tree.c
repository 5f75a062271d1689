/*
 * scripts/gen-tree.c - the data of the scale benchmark (scripts/bench-scale
 * compiles and runs it).  Deterministic: the same N gives the same tree,
 * the same ROUND the same change.
 *
 *   gen-tree make DIR N [JOBS]     N files in DIR, ~1000 per directory
 *   gen-tree change DIR N ROUND    rewrite 1,000 of them in 50 directories
 *   gen-tree statlat DIR N COUNT SEED
 *                                  stat COUNT random files of the tree
 *                                  rooted at DIR; print the median and the
 *                                  90th percentile in microseconds
 *
 * Layout: file i lives in leaf directory k = i / 1000, at
 * DIR/aXXX/bXXX/fNNNN, with sqrt(leaves) leaves under each aXXX (1M files:
 * 1,000 leaves in 32 x 32).  Sizes are 0-4 KiB; one file in ten is one of
 * 64 fixed contents (duplicates, so deduplication has work to do); the
 * others are text-like bytes from a 32-letter alphabet (compressible about
 * 1.6x by zstd).
 *
 * make prints nothing; change prints "FILES BYTES DIRS" (what it wrote, for
 * the bench to tell new data from metadata in a repository's growth).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PER_DIR 1000
#define MAX_SIZE 4096
#define NTEMPLATES 64
#define CHANGE_FILES 1000
#define CHANGE_DIRS 50

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* len text-like bytes from seed */
static void fill(char *buf, size_t len, uint64_t seed)
{
	static const char alpha[32] = "abcdefghijklmnopqrstuvwxyz \n.,;-";
	uint64_t s = splitmix(seed) | 1;
	size_t i = 0;

	while (i < len) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		for (int b = 0; b < 12 && i < len; b++)
			buf[i++] = alpha[(s >> (5 * b)) & 31];
	}
}

struct layout {
	long n, leaves, fan;
};

static struct layout layout_of(long n)
{
	struct layout l = {n, (n + PER_DIR - 1) / PER_DIR, 0};

	l.fan = (long)ceil(sqrt((double)l.leaves));
	if (l.fan < 1)
		l.fan = 1;
	return l;
}

static long files_in(const struct layout *l, long k)
{
	long left = l->n - k * PER_DIR;

	return left < PER_DIR ? left : PER_DIR;
}

static void leaf_path(char *out, size_t sz, const struct layout *l, long k)
{
	snprintf(out, sz, "a%03ld/b%03ld", k / l->fan, k % l->fan);
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "gen-tree: %s '%s': %s\n", what, path, strerror(errno));
	exit(1);
}

static int write_file(int dirfd, const char *name, const char *buf, size_t len,
		      const struct timespec *mtime)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (len && write(fd, buf, len) != (ssize_t)len)
		rc = errno ? -errno : -EIO;
	if (!rc && mtime) {
		struct timespec ts[2] = {*mtime, *mtime};
		if (futimens(fd, ts))
			rc = -errno;
	}
	if (close(fd) && !rc)
		rc = -errno;
	return rc;
}

/* the duplicates: NTEMPLATES fixed contents */
static char templ[NTEMPLATES][MAX_SIZE];
static size_t templ_len[NTEMPLATES];

/* leaf directory k of the tree at top, with its files; exits on error */
static void make_leaf(const char *top, const struct layout *l, long k)
{
	char leaf[64], path[4096], buf[MAX_SIZE];
	int dfd;

	leaf_path(leaf, sizeof(leaf), l, k);
	snprintf(path, sizeof(path), "%s/%s", top, leaf);
	if (mkdir(path, 0755) && errno != EEXIST)
		die("cannot create", path);
	dfd = open(path, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		die("cannot open", path);
	for (long s = 0; s < files_in(l, k); s++) {
		long i = k * PER_DIR + s;
		uint64_t r = splitmix(i);
		char name[16];
		int rc;

		snprintf(name, sizeof(name), "f%04ld", s);
		if ((r >> 20) % 10 == 0) {
			int t = (r >> 32) % NTEMPLATES;
			rc =
			    write_file(dfd, name, templ[t], templ_len[t], NULL);
		} else {
			size_t len = r % (MAX_SIZE + 1);
			fill(buf, len, i);
			rc = write_file(dfd, name, buf, len, NULL);
		}
		if (rc) {
			errno = -rc;
			snprintf(path, sizeof(path), "%s/%s/%s", top, leaf,
				 name);
			die("cannot write", path);
		}
	}
	close(dfd);
}

/* the tree, leaf directories shared out over jobs processes */
static int cmd_make(const char *top, long n, int jobs)
{
	struct layout l = layout_of(n);
	char path[4096];
	int status, failed = 0;

	for (int t = 0; t < NTEMPLATES; t++) {
		templ_len[t] = splitmix(0xfeed0000 + t) % (MAX_SIZE + 1);
		fill(templ[t], templ_len[t], 0xbeef0000 + t);
	}
	if (mkdir(top, 0755) && errno != EEXIST)
		die("cannot create", top);
	for (long a = 0; a * l.fan < l.leaves; a++) {
		snprintf(path, sizeof(path), "%s/a%03ld", top, a);
		if (mkdir(path, 0755) && errno != EEXIST)
			die("cannot create", path);
	}
	for (int w = 0; w < jobs; w++) {
		pid_t pid = fork();

		if (pid < 0)
			die("cannot fork for", top);
		if (pid > 0)
			continue;
		for (long k = w; k < l.leaves; k += jobs)
			make_leaf(top, &l, k);
		_exit(0);
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failed = 1;
	return failed;
}

static int cmd_change(const char *top, long n, long round)
{
	struct layout l = layout_of(n);
	long dirs = l.leaves < CHANGE_DIRS ? l.leaves : CHANGE_DIRS;
	long per = CHANGE_FILES / dirs, files = 0, bytes = 0;
	/* a fixed mtime per round, unlike any the tree had before */
	struct timespec mt = {1767225600 + round * 3600, 0};
	char path[4096], buf[MAX_SIZE];

	for (long j = 0; j < dirs; j++) {
		long k = (j * l.leaves / dirs + round * 7) % l.leaves;
		long c = files_in(&l, k), m = per < c ? per : c;
		char leaf[64];

		leaf_path(leaf, sizeof(leaf), &l, k);
		for (long s = 0; s < m; s++) {
			long slot = (s * c / m + round) % c;
			uint64_t seed = splitmix(((uint64_t)round << 40) ^
						 (k * PER_DIR + slot));
			size_t len = 1 + seed % MAX_SIZE;
			int rc;

			snprintf(path, sizeof(path), "%s/%s/f%04ld", top, leaf,
				 slot);
			fill(buf, len, seed);
			rc = write_file(AT_FDCWD, path, buf, len, &mt);
			if (rc) {
				errno = -rc;
				die("cannot rewrite", path);
			}
			files++;
			bytes += len;
		}
	}
	printf("%ld %ld %ld\n", files, bytes, dirs);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_statlat(const char *top, long n, long count, long seed)
{
	struct layout l = layout_of(n);
	double *us = calloc(count, sizeof(*us));
	char path[4096], leaf[64];
	struct stat st;

	if (!us || count < 1)
		return 1;
	for (long j = 0; j < count; j++) {
		long i = splitmix(seed * 1000003 + j) % n;
		struct timespec t0, t1;

		leaf_path(leaf, sizeof(leaf), &l, i / PER_DIR);
		snprintf(path, sizeof(path), "%s/%s/f%04ld", top, leaf,
			 i % PER_DIR);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (stat(path, &st))
			die("cannot stat", path);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		us[j] = (t1.tv_sec - t0.tv_sec) * 1e6 +
			(t1.tv_nsec - t0.tv_nsec) / 1e3;
	}
	qsort(us, count, sizeof(*us), cmp_double);
	printf("%.0f %.0f\n", us[count / 2], us[count * 9 / 10]);
	free(us);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && atol(argv[3]) < 1) {
		fprintf(stderr, "gen-tree: N must be at least 1\n");
		return 2;
	}
	if (argc >= 4 && !strcmp(argv[1], "make"))
		return cmd_make(argv[2], atol(argv[3]),
				argc > 4 && atoi(argv[4]) > 0 ? atoi(argv[4])
							      : 1);
	if (argc == 5 && !strcmp(argv[1], "change"))
		return cmd_change(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "statlat"))
		return cmd_statlat(argv[2], atol(argv[3]), atol(argv[4]),
				   atol(argv[5]));
	fprintf(stderr,
		"usage: gen-tree make DIR N [JOBS] | change DIR N ROUND | "
		"statlat DIR N COUNT SEED\n");
	return 2;
}
