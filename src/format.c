/* format.c - object keys of a repository: building and strict parsing,
 * the one place that knows the key layout (see format.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "format.h"

#define PACKS_LEN (sizeof(BFS_KEY_PACKS) - 1)
#define MANIFESTS_LEN (sizeof(BFS_KEY_MANIFESTS) - 1)
/* "packs/" "ab" "/" <64 hex> */
#define PACK_KEY_LEN (PACKS_LEN + 3 + BFS_HASH_HEX)

static bool lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* True if s is exactly 64 lowercase hex digits.  Thread-safe. */
bool bfs_hex64_valid(const char *s)
{
	size_t i;

	for (i = 0; i < BFS_HASH_HEX; i++)
		if (!lower_hex(s[i]))
			return false;
	return s[BFS_HASH_HEX] == '\0';
}

/* See format.h.  Thread-safe. */
bool bfs_format_job_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > BFS_JOB_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
			    "YZ0123456789._-") == n;
}

/* See format.h.  Thread-safe. */
void bfs_key_pack(char *out, const uint8_t id[BFS_HASH_LEN])
{
	char hex[BFS_HASH_HEX + 1];

	bfs_hex(hex, id, BFS_HASH_LEN);
	snprintf(out, BFS_KEY_MAX, BFS_KEY_PACKS "%.2s/%s", hex, hex);
}

/* See format.h.  Thread-safe. */
int bfs_key_manifest(char *out, const char *backup_id)
{
	if (!bfs_backup_id_valid(backup_id)) {
		out[0] = '\0';
		return -EINVAL;
	}
	snprintf(out, BFS_KEY_MAX, BFS_KEY_MANIFESTS "%s", backup_id);
	return 0;
}

/* See format.h.  Thread-safe. */
enum bfs_key_kind bfs_key_parse(const char *key, uint8_t *pack_id,
				const char **name)
{
	const char *hex;

	if (!key)
		return BFS_KEY_OTHER;
	if (strcmp(key, BFS_KEY_CONFIG) == 0)
		return BFS_KEY_IS_CONFIG;
	if (strncmp(key, BFS_KEY_MANIFESTS, MANIFESTS_LEN) == 0) {
		if (!bfs_backup_id_valid(key + MANIFESTS_LEN))
			return BFS_KEY_OTHER;
		if (name)
			*name = key + MANIFESTS_LEN;
		return BFS_KEY_IS_MANIFEST;
	}
	if (strlen(key) != PACK_KEY_LEN ||
	    strncmp(key, BFS_KEY_PACKS, PACKS_LEN) != 0)
		return BFS_KEY_OTHER;
	hex = key + PACKS_LEN + 3;
	if (key[PACKS_LEN + 2] != '/' || !bfs_hex64_valid(hex) ||
	    memcmp(key + PACKS_LEN, hex, 2) != 0)
		return BFS_KEY_OTHER;
	if (pack_id && bfs_unhex(pack_id, hex, BFS_HASH_LEN))
		return BFS_KEY_OTHER;
	return BFS_KEY_IS_PACK;
}
