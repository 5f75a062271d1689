/* dumpmap-tool - drives the dump scanner (src/dumpmap.h) on a file, for
 * the e2e tests and for measuring:
 *   dumpmap-tool map DUMP [PIECE]     the map's JSON (fed PIECE bytes at a
 *                                     time, default 64 KiB), re-parsed
 *   dumpmap-tool split DUMP DIR       the files of database.sql.d/ into DIR
 *   dumpmap-tool bench DUMP [ROUNDS]  scanner throughput in MB/s
 * Exit 0, or 1 with a message (2: the file is not a dump it maps). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/dumpmap.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) || !(p = malloc((size_t)n + 1)) ||
	    fread(p, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "dumpmap-tool: cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

static int scan(const char *d, size_t len, size_t piece, struct bfs_dumpmap **m)
{
	struct bfs_dumpscan *s;
	struct bfs_err err;
	size_t o;
	int rc;

	if (bfs_dumpscan_new(&s))
		return 1;
	for (o = 0; o < len; o += piece)
		bfs_dumpscan_feed(s, d + o, len - o < piece ? len - o : piece);
	rc = bfs_dumpscan_finish(s, m, &err);
	bfs_dumpscan_free(s);
	if (rc) {
		fprintf(stderr, "dumpmap-tool: %s\n", bfs_err_str(&err, rc));
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bfs_dumpmap *m = NULL, *m2 = NULL;
	struct bfs_buf js = {0};
	struct bfs_err err;
	size_t len, i, j;
	char *d;
	int rc;

	if (argc < 3) {
		fprintf(stderr,
			"usage: dumpmap-tool map|split|bench DUMP ...\n");
		return 1;
	}
	d = slurp(argv[2], &len);
	if (!strcmp(argv[1], "bench")) {
		int rounds = argc > 3 ? atoi(argv[3]) : 5, r;
		struct timespec a, b;
		double sec;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (r = 0; r < rounds; r++) {
			m = NULL;
			if ((rc = scan(d, len, 1 << 20, &m)))
				goto out;
			bfs_dumpmap_free(m);
		}
		m = NULL;
		clock_gettime(CLOCK_MONOTONIC, &b);
		sec = (double)(b.tv_sec - a.tv_sec) +
		      (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		printf("%.0f MB/s\n", (double)len * rounds / sec / 1e6);
		goto out;
	}
	rc = scan(d, len,
		  !strcmp(argv[1], "map") && argc > 3 ? (size_t)atol(argv[3])
						      : 65536,
		  &m);
	if (rc)
		return rc;
	if (bfs_dumpmap_encode(m, &js) ||
	    bfs_dumpmap_parse(js.data, js.len, len, &m2, &err)) {
		fprintf(stderr,
			"dumpmap-tool: the map does not read back: %s\n",
			err.msg);
		return 1;
	}
	if (!strcmp(argv[1], "map")) {
		fwrite(js.data, 1, js.len, stdout);
		goto out;
	}
	if (strcmp(argv[1], "split") || argc < 4) {
		rc = 1;
		goto out;
	}
	for (i = 0; i < bfs_dumpmap_nfiles(m2); i++) {
		char path[4096];
		uint64_t off = 0, doff, n;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", argv[3],
			 bfs_dumpmap_file_name(m2, i));
		f = fopen(path, "wb");
		if (!f)
			return 1;
		while (bfs_dumpmap_file_locate(m2, i, off, &doff, &n) == 0) {
			fwrite(d + doff, 1, n, f);
			off += n;
		}
		if (off != bfs_dumpmap_file_size(m2, i) || fclose(f))
			return 1;
		printf("%s\n", bfs_dumpmap_file_name(m2, i));
	}
	for (j = 0; j < m2->nranges; j++)
		fprintf(stderr, "%llu+%llu %u %s\n",
			(unsigned long long)m2->ranges[j].off,
			(unsigned long long)m2->ranges[j].len,
			m2->ranges[j].cls,
			m2->ranges[j].cls == 2
			    ? m2->tables[m2->ranges[j].table].file
			    : "");
out:
	bfs_dumpmap_free(m);
	bfs_dumpmap_free(m2);
	bfs_buf_free(&js);
	free(d);
	return rc;
}
