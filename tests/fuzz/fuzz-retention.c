/* fuzz-retention.c - libFuzzer target: the retention option parsers and
 * the time parser over arbitrary strings, and a policy built from them
 * applied to backups whose times come from the input.  Build (until
 * scripts/fuzz lists it):
 *   clang -fsanitize=fuzzer,address,undefined -I. -Isrc \
 *     tests/fuzz/fuzz-retention.c src/retention.c src/timefmt.c \
 *     src/util.c src/hmap.c -lcrypto -lcjson -lzstd -pthread */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/retention.h"
#include "src/timefmt.h"
#include "src/util.h"

static const char *const opts[] = {
    "keep-last",
    "keep-hourly",
    "keep-daily",
    "keep-weekly",
    "keep-monthly",
    "keep-yearly",
    "keep-within",
    "keep-within-hourly",
    "keep-within-daily",
    "keep-within-weekly",
    "keep-within-monthly",
    "keep-within-yearly",
    "keep-tag",
    "unsafe-allow-remove-all",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bfs_ret_policy p;
	struct bfs_ret_item items[16];
	struct bfs_ret_result *r = NULL;
	struct bfs_err err;
	struct bfs_ret_duration d;
	char *s = malloc(size + 1), *line, *save = NULL;
	const char *tags[1] = {"a"};
	size_t n = 0;
	int64_t ns;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	bfs_ret_policy_init(&p);
	/* Each line: a time, a duration or "OPTIDX value". */
	for (line = strtok_r(s, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		(void)bfs_ret_duration_parse(line, &d, &err);
		if (bfs_time_parse(line, &ns, &err) == 0 && n < 16) {
			char buf[BFS_TIME_STRLEN];

			(void)bfs_time_format(ns, n & 1, buf, sizeof(buf));
			items[n] = (struct bfs_ret_item){"x", ns, tags, n & 1};
			n++;
		}
		if (line[0] >= 'a' && line[0] < 'a' + 14)
			(void)bfs_ret_policy_parse_option(
			    &p, opts[line[0] - 'a'], line[1] ? line + 1 : NULL,
			    &err);
	}
	if (bfs_ret_apply(&p, items, n, (int64_t)2000000000 * 1000000000, &r,
			  &err) == 0)
		bfs_ret_result_free(r);
	bfs_ret_policy_fini(&p);
	free(s);
	return 0;
}
