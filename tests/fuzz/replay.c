/* replay.c - see replay.h. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/util.h"
#include "tests/fuzz/replay.h"
#include "tests/unit/tap.h"

static int compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay dir's files in name order; returns how many. */
static int replay_dir(const char *dir)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d = opendir(dir);
	int done = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **v;

			cap = cap ? cap * 2 : 64;
			v = realloc(names, cap * sizeof(*v));
			if (!v)
				break;
			names = v;
		}
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), compare);
	for (i = 0; i < n; i++) {
		struct bfs_buf b = {0};
		FILE *f;
		size_t got;
		char chunk[65536];
		uint8_t *exact;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "rb");
		if (!ok(f != NULL, "open '%s'", path)) {
			free(names[i]);
			continue;
		}
		while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
			if (bfs_buf_append(&b, chunk, got))
				break;
		fclose(f);
		/* a copy of exactly the input's size, as libFuzzer hands it,
		 * so that ASan sees every read past its end */
		exact = malloc(b.len ? b.len : 1);
		if (exact) {
			if (b.len)
				memcpy(exact, b.data, b.len);
			LLVMFuzzerTestOneInput(exact, b.len);
		}
		ok(exact != NULL, "replayed %s (%zu bytes)", names[i], b.len);
		free(exact);
		bfs_buf_free(&b);
		free(names[i]);
		done++;
	}
	free(names);
	return done;
}

int bfs_fuzz_replay(const char *target, int min)
{
	static const char *const suffix[] = {"", "-good", "-bad"};
	const char *top = getenv("top_srcdir");
	char dir[4096];
	int total = 0;

	for (size_t i = 0; i < 3; i++) {
		snprintf(dir, sizeof(dir), "%s/tests/corpus/%s%s",
			 top ? top : ".", target, suffix[i]);
		total += replay_dir(dir);
	}
	ok(total >= min, "the corpus of '%s' holds %d inputs (at least %d)",
	   target, total, min);
	return tap_done();
}
