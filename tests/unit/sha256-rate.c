/* sha256-rate.c - how fast this machine checks chunk ids, for
 * scripts/bench-read's floor of a read:
 *
 *   sha256-rate [MIB]
 *
 * Hashes MIB MiB (default 256) held in memory as 256 KiB buffers (the
 * dump profile's chunk) the way the reader checks a run's chunks:
 * bfs_sha256_many_batch() at a time through bfs_sha256_many, on the path
 * it takes here (SHA-NI's pairs, the AVX lanes or OpenSSL), and one
 * after another with OpenSSL.  OPENSSL_ia32cap is honoured by both.
 * Prints one JSON object: the path's name, its MB/s and OpenSSL's (best
 * of three passes each).  Exit 0, or 1 with a message. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/sha256mb.h"
#include "src/util.h"

#define BL (256u << 10)
#define MAXB 16

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	size_t nbuf, i, k, nb = bfs_sha256_many_batch();
	uint8_t(*out)[BFS_HASH_LEN];
	const void *data[MAXB];
	size_t len[MAXB];
	double t, many = 1e9, one = 1e9;
	uint8_t *buf;
	int r;

	if (argc > 2 || mib < 1 || mib > 65536) {
		fprintf(stderr, "usage: sha256-rate [MIB (1..65536)]\n");
		return 1;
	}
	nbuf = (size_t)mib * 4;
	buf = malloc(nbuf * BL);
	out = calloc(MAXB, BFS_HASH_LEN);
	if (!buf || !out) {
		fprintf(stderr, "sha256-rate: out of memory\n");
		return 1;
	}
	for (i = 0; i < nbuf * BL; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 12));
	nb = BFS_MIN(nb, (size_t)MAXB);
	for (r = 0; r < 3; r++) {
		t = now_s();
		for (i = 0; i < nbuf; i += k) {
			for (k = 0; k < nb && i + k < nbuf; k++) {
				data[k] = buf + (i + k) * BL;
				len[k] = BL;
			}
			bfs_sha256_many(out, data, len, k);
		}
		many = BFS_MIN(many, now_s() - t);
		t = now_s();
		for (i = 0; i < nbuf; i++)
			bfs_sha256(out[0], buf + i * BL, BL);
		one = BFS_MIN(one, now_s() - t);
	}
	printf("{\"path\":\"%s\",\"batch\":%zu,\"mbps\":%.0f,"
	       "\"openssl_mbps\":%.0f}\n",
	       bfs_sha256_isa_name(bfs_sha256_many_isa()), nb,
	       (double)nbuf * BL / 1e6 / many, (double)nbuf * BL / 1e6 / one);
	free(buf);
	free(out);
	return 0;
}
