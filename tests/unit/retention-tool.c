/* retention-tool.c - test driver for src/retention: reads backups from
 * stdin, applies the policy given as options and prints what
 * `restic forget --dry-run --json` prints for one group, so that
 * tests/e2e/t0400-retention-restic.sh can compare the two (and later
 * `backupfs forget --dry-run --json`, which should print the same shape).
 *
 *   retention-tool [--now NS] POLICY-OPTION... < BACKUPS
 *
 * POLICY-OPTION: --keep-last N, --keep-daily N, --keep-within 1y2m,
 * --keep-within-daily 30d, --keep-tag a,b, --unsafe-allow-remove-all,
 * ... (also --opt=value).  BACKUPS: one per line, "ID TIME_NS [TAG,TAG]".
 * Output: [{"tags":null,"host":"","paths":null,"keep":[S...],
 * "remove":[S...],"reasons":[{"snapshot":S,"matches":[...]}]}] with
 * S = {"time":RFC3339 local,"tags":[...],"id":ID,"short_id":ID[0..8)},
 * lists newest first.  Exit 0, or 1 with a message on stderr (the
 * policy's refusals included).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/retention.h"
#include "src/timefmt.h"
#include "src/util.h"

struct backup {
	char *id;
	char **tags;
	size_t ntags;
	struct bfs_ret_item item;
};

static int read_backups(FILE *f, struct backup **out, size_t *nout)
{
	struct backup *v = NULL, *grown;
	size_t n = 0, lineno = 0;
	char line[4096];

	while (fgets(line, sizeof(line), f)) {
		char id[256], tags[2048] = "";
		long long t;
		struct bfs_ret_taglist tl = {0};
		int k;

		lineno++;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		k = sscanf(line, "%255s %lld %2047s", id, &t, tags);
		if (k < 2) {
			fprintf(stderr,
				"retention-tool: line %zu: expected "
				"\"ID TIME_NS [TAG,TAG]\"\n",
				lineno);
			return -EINVAL;
		}
		grown = realloc(v, (n + 1) * sizeof(*v));
		if (!grown)
			return -ENOMEM;
		v = grown;
		memset(&v[n], 0, sizeof(v[n]));
		v[n].id = strdup(id);
		if (k == 3 && strcmp(tags, "-") != 0 &&
		    bfs_ret_taglist_parse(tags, &tl))
			return -ENOMEM;
		v[n].tags = tl.tags;
		v[n].ntags = tl.ntags;
		v[n].item.id = v[n].id;
		v[n].item.time_ns = t;
		v[n].item.tags = (const char *const *)v[n].tags;
		v[n].item.ntags = v[n].ntags;
		n++;
	}
	*out = v;
	*nout = n;
	return 0;
}

static cJSON *snap_json(const struct backup *b)
{
	cJSON *o = cJSON_CreateObject(), *tags = cJSON_CreateArray();
	char ts[BFS_TIME_STRLEN], shortid[9];

	if (bfs_time_format(b->item.time_ns, false, ts, sizeof(ts)))
		snprintf(ts, sizeof(ts), "invalid");
	snprintf(shortid, sizeof(shortid), "%s", b->id);
	cJSON_AddStringToObject(o, "time", ts);
	for (size_t i = 0; i < b->ntags; i++)
		cJSON_AddItemToArray(tags, cJSON_CreateString(b->tags[i]));
	cJSON_AddItemToObject(o, "tags", tags);
	cJSON_AddStringToObject(o, "id", b->id);
	cJSON_AddStringToObject(o, "short_id", shortid);
	return o;
}

int main(int argc, char **argv)
{
	struct bfs_ret_policy p;
	struct bfs_ret_result *res = NULL;
	struct bfs_err err = {""};
	struct backup *bk = NULL;
	struct bfs_ret_item *items = NULL;
	size_t n = 0;
	int64_t now = bfs_now_ns();
	int rc, status = 1;
	cJSON *root, *g, *keep, *remove, *reasons;
	char *text;

	bfs_ret_policy_init(&p);
	for (int i = 1; i < argc; i++) {
		char name[64];
		const char *val = NULL, *eq = strchr(argv[i], '=');

		if (eq) {
			snprintf(name, sizeof(name), "%.*s",
				 (int)(eq - argv[i]), argv[i]);
			val = eq + 1;
		} else {
			snprintf(name, sizeof(name), "%s", argv[i]);
			if (strcmp(name, "--unsafe-allow-remove-all") != 0) {
				if (i + 1 >= argc) {
					fprintf(stderr,
						"retention-tool: %s "
						"needs a value\n",
						name);
					goto out;
				}
				val = argv[++i];
			}
		}
		if (strcmp(name, "--now") == 0) {
			now = strtoll(val, NULL, 10);
			continue;
		}
		rc = bfs_ret_policy_parse_option(&p, name, val, &err);
		if (rc) {
			fprintf(stderr, "retention-tool: %s\n",
				bfs_err_str(&err, rc));
			goto out;
		}
	}
	if (read_backups(stdin, &bk, &n))
		goto out;
	items = calloc(n ? n : 1, sizeof(*items));
	if (!items)
		goto out;
	for (size_t i = 0; i < n; i++)
		items[i] = bk[i].item;
	rc = bfs_ret_apply(&p, items, n, now, &res, &err);
	if (rc) {
		fprintf(stderr, "retention-tool: %s\n", bfs_err_str(&err, rc));
		goto out;
	}

	root = cJSON_CreateArray();
	g = cJSON_CreateObject();
	cJSON_AddItemToArray(root, g);
	cJSON_AddNullToObject(g, "tags");
	cJSON_AddStringToObject(g, "host", "");
	cJSON_AddNullToObject(g, "paths");
	keep = cJSON_AddArrayToObject(g, "keep");
	remove = cJSON_AddArrayToObject(g, "remove");
	reasons = cJSON_AddArrayToObject(g, "reasons");
	for (size_t k = 0; k < res->n; k++) {
		size_t i = res->order[k];
		const struct bfs_ret_decision *d = &res->d[i];
		cJSON *r, *m;

		if (!d->keep) {
			cJSON_AddItemToArray(remove, snap_json(&bk[i]));
			continue;
		}
		cJSON_AddItemToArray(keep, snap_json(&bk[i]));
		r = cJSON_CreateObject();
		cJSON_AddItemToObject(r, "snapshot", snap_json(&bk[i]));
		m = cJSON_AddArrayToObject(r, "matches");
		for (size_t j = 0; j < d->nmatches; j++)
			cJSON_AddItemToArray(m,
					     cJSON_CreateString(d->matches[j]));
		cJSON_AddItemToArray(reasons, r);
	}
	text = cJSON_PrintUnformatted(root);
	if (text && printf("%s\n", text) > 0 && fflush(stdout) == 0)
		status = 0;
	free(text);
	cJSON_Delete(root);
out:
	bfs_ret_result_free(res);
	for (size_t i = 0; i < n; i++) {
		struct bfs_ret_taglist tl = {bk[i].tags, bk[i].ntags};

		bfs_ret_taglist_fini(&tl);
		free(bk[i].id);
	}
	free(bk);
	free(items);
	bfs_ret_policy_fini(&p);
	return status;
}
