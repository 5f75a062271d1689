/* test-format.c - src/format.h against doc/FORMAT.md, and the key layout.
 *
 * Every `BFS_...` name in a table of FORMAT.md must have the value of the
 * header's constant, and every constant of the header must be in a table
 * (or in the short list below of layout details that section 4 shows as
 * offsets), so the document and the code cannot drift apart.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/format.h"
#include "tests/unit/tap.h"

struct limit {
	const char *name;
	uint64_t num; /* when str is NULL */
	const char *str;
	int seen;
};

#define N(x)                                                                   \
	{                                                                      \
#x, (uint64_t)(x), NULL, 0                                     \
	}
#define S(x)                                                                   \
	{                                                                      \
#x, 0, x, 0                                                    \
	}

static struct limit limits[] = {
    N(BFS_FORMAT_VERSION),
    N(BFS_FORMAT_VERSION_1),
    N(BFS_FORMAT_VERSION_2),
    N(BFS_FORMAT_VERSION_4),
    N(BFS_FORMAT_VERSION_3),
    N(BFS_FORMAT_VERSION_TDELTA),
    N(BFS_FORMAT_VERSION_DELTA2),
    N(BFS_MANIFEST_VERSION),
    N(BFS_FORMAT_VERSION_CRYPT),
    S(BFS_KEY_CONFIG),
    S(BFS_KEY_INDEX),
    S(BFS_KEY_PACKS),
    S(BFS_KEY_MANIFESTS),
    S(BFS_KEY_LOCKS),
    S(BFS_KEY_PRUNE),
    N(BFS_BACKUP_ID_MAX),
    S(BFS_BACKUP_ID_CHARS),
    S(BFS_CONFIG_MAGIC),
    N(BFS_CONFIG_MAX),
    N(BFS_ZSTD_LEVEL_MIN),
    N(BFS_ZSTD_LEVEL_MAX),
    N(BFS_PACK_SIZE_MIN),
    N(BFS_PACK_SIZE_MAX),
    N(BFS_DEFAULT_ZSTD_LEVEL),
    N(BFS_DEFAULT_PACK_SIZE),
    N(BFS_DEFAULT_DUMP_MIN),
    N(BFS_DEFAULT_DUMP_AVG),
    N(BFS_DEFAULT_DUMP_MAX),
    N(BFS_DEFAULT_FILES_MIN),
    N(BFS_DEFAULT_FILES_AVG),
    N(BFS_DEFAULT_FILES_MAX),
    N(BFS_CHUNK_MIN_LIMIT),
    N(BFS_CHUNK_MAX_LIMIT),
    N(BFS_CHUNK_CLEN_MAX),
    S(BFS_PACK_MAGIC),
    S(BFS_PACK1_MAGIC),
    S(BFS_PACK_SEALED_MAGIC),
    S(BFS_PACK_END_MAGIC),
    N(BFS_PACK_MAGIC_LEN),
    N(BFS_PACK_HEADER),
    N(BFS_PACK_INDEX_ENTRY),
    N(BFS_PACK1_INDEX_ENTRY),
    N(BFS_PACK_FOOTER),
    N(BFS_PACK_MIN_SIZE),
    N(BFS_PACK_MAX_SIZE),
    N(BFS_PACK_MAX_ENTRIES),
    N(BFS_BLOB_DATA),
    N(BFS_BLOB_TREE),
    N(BFS_BLOB_DELTA),
    N(BFS_BLOB_DELTA2),
    N(BFS_DELTA_MAX_BASES),
    S(BFS_DELTA2_MAGIC),
    N(BFS_TREE_INLINE_REFS),
    N(BFS_TREE_MAX_LINE),
    N(BFS_TREE_PART_MAX),
    N(BFS_TREE_PART_MIN),
    N(BFS_TREE_CUT_MASK),
    N(BFS_NAME_MAX),
    N(BFS_TREE_MAX_DEPTH),
    S(BFS_MANIFEST_MAGIC),
    N(BFS_MANIFEST_CHUNKS_PER_LINE),
    N(BFS_MANIFEST_MAX_LINE),
    N(BFS_MANIFEST_MAX_SIZE),
    N(BFS_IDXOBJ_MAX_LINE),
    N(BFS_MANIFEST_WINDOW_LOG),
    N(BFS_MANIFEST_ZSTD_LEVEL),
    N(BFS_MANIFEST_MAX_DEPTH),
    N(BFS_SYMLINK_TARGET_MAX),
    N(BFS_JOB_NAME_MAX),
    N(BFS_MODE_MASK),
};

/* Names of format.h that are not limits: the include guard, a buffer
 * size, and byte offsets that FORMAT.md section 4 shows in its layout
 * tables (prefixes end with '_'). */
static const char *const not_in_table[] = {"BFS_FORMAT_H",
					   "BFS_KEY_MAX",
					   "BFS_PACK_ENTRY_",
					   "BFS_PACK_FOOT_",
					   "BFS_DELTA2_MAGIC_LE",
					   "BFS_DELTA2_HEAD",
					   NULL};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct bfs_buf b = {0};
	char tmp[4096];
	size_t r;

	if (!f)
		return NULL;
	while ((r = fread(tmp, 1, sizeof(tmp), f)) > 0)
		bfs_buf_append(&b, tmp, r);
	fclose(f);
	bfs_buf_append(&b, "", 1);
	return (char *)b.data;
}

static struct limit *find(const char *name, size_t n)
{
	for (size_t i = 0; i < BFS_ARRAY_SIZE(limits); i++)
		if (strlen(limits[i].name) == n &&
		    memcmp(limits[i].name, name, n) == 0)
			return &limits[i];
	return NULL;
}

/* Trim spaces of s[0..*n). */
static const char *trim(const char *s, size_t *n)
{
	while (*n && *s == ' ') {
		s++;
		(*n)--;
	}
	while (*n && s[*n - 1] == ' ')
		(*n)--;
	return s;
}

/* One table row "| what | `NAME` | value |". */
static void check_row(const char *line, size_t len, int *rows)
{
	const char *cell[4];
	size_t clen[4], k = 0;
	const char *p = line + 1, *end = line + len, *bar;
	struct limit *l;

	while (k < 4 && p < end && (bar = memchr(p, '|', (size_t)(end - p)))) {
		clen[k] = (size_t)(bar - p);
		cell[k] = trim(p, &clen[k]);
		k++;
		p = bar + 1;
	}
	if (k != 3 || clen[1] < 6 || strncmp(cell[1], "`BFS_", 5) != 0 ||
	    cell[1][clen[1] - 1] != '`')
		return;
	(*rows)++;
	l = find(cell[1] + 1, clen[1] - 2);
	if (!ok(l != NULL, "FORMAT.md names %.*s, which test-format knows",
		(int)clen[1], cell[1]))
		return;
	l->seen++;
	if (l->str) {
		ok(clen[2] == strlen(l->str) + 2 && cell[2][0] == '`' &&
		       memcmp(cell[2] + 1, l->str, strlen(l->str)) == 0 &&
		       cell[2][clen[2] - 1] == '`',
		   "%s: FORMAT.md says %.*s, format.h \"%s\"", l->name,
		   (int)clen[2], cell[2], l->str);
	} else {
		char num[32];
		size_t d = 0;

		while (d < clen[2] && d + 1 < sizeof(num) &&
		       cell[2][d] >= '0' && cell[2][d] <= '9') {
			num[d] = cell[2][d];
			d++;
		}
		num[d] = '\0';
		ok(d > 0 && strtoull(num, NULL, 10) == l->num,
		   "%s: FORMAT.md says %.*s, format.h %llu", l->name,
		   (int)clen[2], cell[2], (unsigned long long)l->num);
	}
}

static void test_doc(const char *top)
{
	char path[4096];
	char *doc, *hdr, *p;
	int rows = 0;

	snprintf(path, sizeof(path), "%s/doc/FORMAT.md", top);
	doc = slurp(path);
	if (!ok(doc != NULL, "read %s", path))
		return;
	for (p = doc; *p;) {
		char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > 2 && p[0] == '|')
			check_row(p, len, &rows);
		p += len + (nl ? 1 : 0);
	}
	ok(rows >= 40, "FORMAT.md tables quote %d format.h names", rows);
	for (size_t i = 0; i < BFS_ARRAY_SIZE(limits); i++)
		ok(limits[i].seen == 1, "%s is in a FORMAT.md table once (%d)",
		   limits[i].name, limits[i].seen);
	free(doc);

	/* every #define of format.h is known here (so in the table) */
	snprintf(path, sizeof(path), "%s/src/format.h", top);
	hdr = slurp(path);
	if (!ok(hdr != NULL, "read %s", path))
		return;
	for (p = hdr; (p = strstr(p, "#define BFS_"));) {
		const char *name = p + 8;
		size_t n =
		    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		bool skip = false;

		for (size_t i = 0; not_in_table[i]; i++) {
			size_t k = strlen(not_in_table[i]);

			if (not_in_table[i][k - 1] == '_'
				? n >= k && !memcmp(name, not_in_table[i], k)
				: n == k && !memcmp(name, not_in_table[i], k))
				skip = true;
		}
		if (!skip)
			ok(find(name, n) != NULL,
			   "format.h %.*s is in the FORMAT.md limits", (int)n,
			   name);
		p = (char *)name + n;
	}
	free(hdr);
}

static void test_keys(void)
{
	uint8_t id[BFS_HASH_LEN], got[BFS_HASH_LEN];
	char key[BFS_KEY_MAX], bad[BFS_KEY_MAX];
	const char *name = NULL;

	for (size_t i = 0; i < sizeof(id); i++)
		id[i] = (uint8_t)(0xab + i * 7);
	bfs_key_pack(key, id);
	ok(strncmp(key, "packs/ab/ab", 11) == 0 && strlen(key) == 6 + 3 + 64,
	   "pack key %s", key);
	memset(got, 0, sizeof(got));
	is_int(bfs_key_parse(key, got, NULL), BFS_KEY_IS_PACK,
	       "parse pack key");
	ok(memcmp(got, id, sizeof(id)) == 0, "pack id round trip");

	memcpy(bad, key, sizeof(bad));
	bad[6] = 'c';
	is_int(bfs_key_parse(bad, NULL, NULL), BFS_KEY_OTHER,
	       "directory must match the id");
	memcpy(bad, key, sizeof(bad));
	bad[20] = 'A';
	is_int(bfs_key_parse(bad, NULL, NULL), BFS_KEY_OTHER,
	       "uppercase hex rejected");
	snprintf(bad, sizeof(bad), "%s.tmp.77.0123456789abcdef", key);
	is_int(bfs_key_parse(bad, NULL, NULL), BFS_KEY_OTHER,
	       "temp file of a pack is not a pack");
	is_int(bfs_key_parse("packs/ab", NULL, NULL), BFS_KEY_OTHER,
	       "short pack key");
	is_int(bfs_key_parse("packs/", NULL, NULL), BFS_KEY_OTHER,
	       "bare prefix");

	is_int(bfs_key_manifest(key, "2026-11-22_02-50-00"), 0, "manifest key");
	is_str(key, "manifests/2026-11-22_02-50-00", "manifest key text");
	is_int(bfs_key_parse(key, NULL, &name), BFS_KEY_IS_MANIFEST,
	       "parse manifest key");
	is_str(name, "2026-11-22_02-50-00", "backup id from the key");
	is_int(bfs_key_manifest(key, "latest"), -EINVAL, "'latest' is no id");
	is_str(key, "", "out emptied on error");
	is_int(bfs_key_manifest(key, "a/b"), -EINVAL, "'/' is no id char");
	is_int(bfs_key_parse("manifests/a b", NULL, NULL), BFS_KEY_OTHER,
	       "bad id in a manifest key");
	is_int(bfs_key_parse("manifests/x.tmp.5.00000000deadbeef", NULL, NULL),
	       BFS_KEY_IS_MANIFEST,
	       "a temp name is a valid id (the local store hides them)");
	is_int(bfs_key_parse("config", NULL, NULL), BFS_KEY_IS_CONFIG,
	       "config");
	is_int(bfs_key_parse("locks/x", NULL, NULL), BFS_KEY_OTHER, "locks");
	ok(bfs_hex64_valid("0123456789abcdef0123456789abcdef"
			   "0123456789abcdef0123456789abcdef") &&
	       !bfs_hex64_valid("0123456789abcdef0123456789abcdef"
				"0123456789abcdef0123456789abcdeF") &&
	       !bfs_hex64_valid("0123"),
	   "hex64");
}

int main(void)
{
	const char *top = getenv("top_srcdir");

	test_doc(top ? top : ".");
	test_keys();
	return tap_done();
}
