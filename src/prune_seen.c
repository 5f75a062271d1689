/* prune_seen.c - the grace record of prune (doc/FORMAT.md, "Prune").
 *
 * Stores give no reliable modification time (the store API has none), so
 * prune keeps its own: objects prune/<64 hex> (the SHA-256 of the
 * bytes), JSON Lines, saying when a prune first saw each index object
 * and each pack that no index object named.  A pack is young while an
 * index object naming it (or, unindexed, the pack itself) was first seen
 * less than the grace period ago; "never seen" is "seen now".  Each run
 * writes a new record and then deletes the ones it read, so a kill
 * leaves two records, which merge (the earliest time wins).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "format.h"
#include "log.h"
#include "prune_int.h"

#define SEEN_MAGIC "prune-seen"
#define SEEN_MAX_SIZE (256u << 20) /* refuse larger records */

static void seen_key(char *key, const uint8_t name[BFS_HASH_LEN])
{
	char hex[BFS_HASH_HEX + 1];

	bfs_hex(hex, name, BFS_HASH_LEN);
	snprintf(key, BFS_KEY_MAX, "%s%s", BFS_KEY_PRUNE, hex);
}

static int seen_add(struct bfs_hmap *m, const uint8_t id[BFS_HASH_LEN],
		    int64_t s)
{
	struct pp_seen_rec *rec;
	bool added;
	int rc = bfs_hmap_get(m, id, (void **)&rec, &added);

	if (rc)
		return rc;
	if (added || s < rec->seen_s)
		rec->seen_s = s;
	return 0;
}

static int64_t seen_get(struct bfs_hmap *m, const uint8_t id[BFS_HASH_LEN])
{
	const struct pp_seen_rec *rec = bfs_hmap_find(m, id);

	return rec ? rec->seen_s : 0;
}

int64_t pp_seen_index(struct prune *pr, const uint8_t name[BFS_HASH_LEN])
{
	return seen_get(&pr->seen_index, name);
}

int64_t pp_seen_pack(struct prune *pr, const uint8_t id[BFS_HASH_LEN])
{
	return seen_get(&pr->seen_packs, id);
}

/* One line of a record: {"index"|"pack":"<hex>","seen":S}.  Anything
 * else (the header, unknown lines) is skipped. */
static int parse_line(struct prune *pr, const char *line, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(line, len);
	const cJSON *id, *t;
	struct bfs_hmap *m = NULL;
	uint8_t h[BFS_HASH_LEN];
	int rc = 0;

	if (!cJSON_IsObject(o))
		goto out;
	t = cJSON_GetObjectItemCaseSensitive(o, "seen");
	if ((id = cJSON_GetObjectItemCaseSensitive(o, "index")))
		m = &pr->seen_index;
	else if ((id = cJSON_GetObjectItemCaseSensitive(o, "pack")))
		m = &pr->seen_packs;
	if (!m || !cJSON_IsString(id) || !bfs_hex64_valid(id->valuestring) ||
	    !cJSON_IsNumber(t) || t->valuedouble < 1 || t->valuedouble > 1e12 ||
	    bfs_unhex(h, id->valuestring, BFS_HASH_LEN))
		goto out;
	rc = seen_add(m, h, (int64_t)t->valuedouble);
out:
	cJSON_Delete(o);
	return rc;
}

static int load_one(struct prune *pr, const uint8_t name[BFS_HASH_LEN],
		    struct bfs_err *err)
{
	struct bfs_buf b = {0};
	char key[BFS_KEY_MAX];
	uint8_t h[BFS_HASH_LEN];
	const char *p, *nl, *end;
	int64_t got;
	int rc = 0;

	seen_key(key, name);
	got = bfs_store_get(pr->r->store, key, 0, UINT64_MAX, &b, err);
	if (got == -ENOENT)
		goto out; /* a concurrent prune's cleanup; cannot be */
	if (got < 0) {
		rc = bfs_err_prefix(err, (int)got, "cannot read '%s'", key);
		goto out;
	}
	bfs_sha256(h, b.data, b.len);
	if (b.len > SEEN_MAX_SIZE || memcmp(h, name, BFS_HASH_LEN) != 0) {
		bfs_warn("prune: grace record '%s' is damaged; ignored (its "
			 "objects count as seen now)",
			 key);
		goto out;
	}
	p = (const char *)b.data;
	end = p + b.len;
	while (!rc && p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		rc = parse_line(pr, p, (size_t)(nl - p));
		p = nl + 1;
	}
	if (rc)
		rc = bfs_err_set(err, rc, "out of memory");
out:
	bfs_buf_free(&b);
	return rc;
}

static int list_cb(void *arg, const char *key, uint64_t size)
{
	struct prune *pr = arg;
	const char *hex = key + strlen(BFS_KEY_PRUNE);
	size_t cap = pr->nseen_objs;
	int rc;

	(void)size;
	if (strncmp(key, BFS_KEY_PRUNE, strlen(BFS_KEY_PRUNE)) != 0 ||
	    !bfs_hex64_valid(hex))
		return 0;
	/* grow one at a time: there are one or two */
	rc = pp_grow((void **)&pr->seen_objs, &cap, pr->nseen_objs,
		     sizeof(*pr->seen_objs));
	if (rc)
		return rc;
	if (!bfs_unhex(pr->seen_objs[pr->nseen_objs], hex, BFS_HASH_LEN))
		pr->nseen_objs++;
	return 0;
}

int pp_seen_load(struct prune *pr, struct bfs_err *err)
{
	size_t i;
	int rc;

	rc = bfs_store_list(pr->r->store, BFS_KEY_PRUNE, list_cb, pr, err);
	if (rc == -ENOMEM)
		return bfs_err_set(err, rc, "out of memory");
	if (rc)
		return bfs_err_prefix(err, rc, "cannot list '%s' of '%s'",
				      BFS_KEY_PRUNE, pr->r->store->url);
	for (i = 0; !rc && i < pr->nseen_objs; i++)
		rc = load_one(pr, pr->seen_objs[i], err);
	return rc;
}

static int add_line(struct bfs_buf *b, const char *kind,
		    const uint8_t id[BFS_HASH_LEN], int64_t s)
{
	char hex[BFS_HASH_HEX + 1];

	bfs_hex(hex, id, BFS_HASH_LEN);
	return bfs_buf_printf(b, "{\"%s\":\"%s\",\"seen\":%" PRId64 "}\n", kind,
			      hex, s);
}

int pp_seen_write(struct prune *pr, const uint8_t *new_index,
		  struct bfs_err *err)
{
	struct bfs_buf b = {0};
	char key[BFS_KEY_MAX];
	uint8_t name[BFS_HASH_LEN];
	size_t i;
	int64_t s;
	int rc;

	rc = bfs_buf_printf(&b,
			    "{\"backupfs\":\"" SEEN_MAGIC "\",\"version\":1,"
			    "\"time\":%" PRId64 "}\n",
			    pr->now_s);
	for (i = 0; !rc && i < pr->nidx; i++) {
		if (pr->idx[i].affected)
			continue;
		s = pr->idx[i].seen_s ? pr->idx[i].seen_s : pr->now_s;
		rc = add_line(&b, "index", pr->idx[i].name, s);
	}
	if (!rc && new_index)
		rc = add_line(&b, "index", new_index, pr->now_s);
	for (i = 0; !rc && i < pr->npacks; i++) {
		const struct pp_pack *p = &pr->packs[i];

		if (p->indexed || !p->listed || p->action == PP_GARBAGE)
			continue;
		rc = add_line(&b, "pack", p->id,
			      p->seen_s ? p->seen_s : pr->now_s);
	}
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	bfs_sha256(name, b.data, b.len);
	seen_key(key, name);
	rc = bfs_store_put(pr->r->store, key, b.data, b.len, 0, err);
	if (rc) {
		bfs_err_prefix(err, rc, "cannot write grace record '%s'", key);
		goto out;
	}
	for (i = 0; i < pr->nseen_objs; i++) {
		if (!memcmp(pr->seen_objs[i], name, BFS_HASH_LEN))
			continue; /* the same bytes as before */
		seen_key(key, pr->seen_objs[i]);
		rc = bfs_store_del(pr->r->store, key, err);
		if (rc && rc != -ENOENT) {
			bfs_err_prefix(err, rc, "cannot delete '%s'", key);
			goto out;
		}
		rc = 0;
	}
out:
	bfs_buf_free(&b);
	return rc;
}
