/* test-forget.c - src/forget.c: the backup set from (hostile) catalog
 * text, --group-by parsing, plans by ids (latest, unknown, duplicates)
 * and by policy (groups, tag filter, order, refusals), the restic-shaped
 * JSON, and applying a plan to a local repository under a lock (only the
 * manifests go; a lost lock stops it). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "forget.h"
#include "lock.h"
#include "repo.h"
#include "store.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

#define NS 1000000000LL
#define DAY (86400 * NS)
#define T0 (1767225600LL * NS) /* 2026-01-01T00:00:00Z */

static const char HDR_DB[] =
    "{\"sources\":[{\"kind\":\"stdin\",\"dest\":\"db.sql\"}]}";
static const char HDR_FILES[] =
    "{\"sources\":[{\"kind\":\"files\",\"dest\":\"www\"},"
    "{\"kind\":\"files\",\"dest\":\"etc\"},{\"kind\":\"x\",\"dest\":\"www\"}]}";

static void add(struct bfs_forget_set *s, const char *id, int64_t t,
		const char *host, const char *tags, const char *hdr)
{
	struct bfs_err err = {""};

	if (bfs_forget_set_add(s, id, t, host, tags, hdr, &err)) {
		diag("set_add: %s", err.msg);
		exit(1);
	}
}

/* The ids of group g that are kept (keep) or removed, space-separated,
 * in the plan's order. */
static const char *ids_of(const struct bfs_forget_set *s,
			  const struct bfs_forget_plan *p, size_t g, bool keep)
{
	static char buf[4096];
	size_t k, n = 0;

	buf[0] = '\0';
	for (k = 0; g < p->ngroups && k < p->groups[g].n; k++) {
		if (p->groups[g].remove[k] == keep)
			continue;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
				      n ? " " : "",
				      s->v[p->groups[g].members[k]].id);
	}
	return buf;
}

static void test_set(void)
{
	struct bfs_forget_set s = {0};

	add(&s, "a", T0, "h1", "[\"x\",\"y\"]", HDR_FILES);
	add(&s, "b", T0, NULL, "not json", "{\"sources\":7}");
	add(&s, "c", T0, "h", "[1,\"z\",null,{}]",
	    "{\"sources\":[{\"path\":\"old\"},{\"dest\":3},\"s\"]}");
	add(&s, "d", T0, "h", NULL, NULL);
	is_int(s.n, 4, "four backups");
	ok(s.v[0].nsources == 2 && !strcmp(s.v[0].sources[0], "etc") &&
	       !strcmp(s.v[0].sources[1], "www") && !s.v[0].sources[2],
	   "sources: dest values, sorted, unique");
	ok(s.v[0].ntags == 2 && !strcmp(s.v[0].tags[1], "y"), "tags");
	ok(s.v[1].ntags == 0 && s.v[1].nsources == 0 &&
	       !strcmp(s.v[1].host, ""),
	   "unparsable text: no tags, no sources, host ''");
	ok(s.v[2].ntags == 1 && !strcmp(s.v[2].tags[0], "z"),
	   "non-strings among tags are skipped");
	ok(s.v[2].nsources == 1 && !strcmp(s.v[2].sources[0], "old"),
	   "an older manifest's \"path\" is taken, junk skipped");
	ok(s.v[3].ntags == 0 && s.v[3].nsources == 0, "NULL texts");
	bfs_forget_set_fini(&s);
	bfs_forget_set_fini(&s);
	bfs_forget_set_fini(NULL);
}

static void test_group_by(void)
{
	struct bfs_err err = {""};
	unsigned by = 99;

	ok(bfs_forget_parse_group_by("", &by, &err) == 0 && by == 0, "''");
	ok(bfs_forget_parse_group_by("host,tags", &by, &err) == 0 &&
	       by == (BFS_FORGET_BY_HOST | BFS_FORGET_BY_TAGS),
	   "host,tags");
	ok(bfs_forget_parse_group_by("job,sources", &by, &err) == 0 &&
	       by == (BFS_FORGET_BY_JOB | BFS_FORGET_BY_SOURCES),
	   "job,sources");
	ok(bfs_forget_parse_group_by("paths", &by, &err) == 0 &&
	       by == BFS_FORGET_BY_SOURCES,
	   "restic's 'paths' is sources");
	is_int(bfs_forget_parse_group_by("host,hostname", &by, &err), -EINVAL,
	       "unknown key refused");
	ok(strstr(err.msg, "'hostname'") != NULL, "named: %s", err.msg);
}

static void test_ids(void)
{
	struct bfs_forget_set s = {0};
	struct bfs_forget_plan *p = NULL;
	struct bfs_err err = {""};
	const char *ids[] = {"b1", "latest", "b1", "b3"};
	struct bfs_forget_opts o = {.ids = ids, .nids = 4};
	struct bfs_ret_policy pol;
	int rc;

	add(&s, "b1", T0, "h", NULL, HDR_DB);
	add(&s, "b2", T0 + DAY, "h", NULL, HDR_DB);
	add(&s, "b3", T0 + 2 * DAY, "h", NULL, HDR_FILES);
	add(&s, "b0", T0 + 2 * DAY, "h", NULL, HDR_FILES);
	rc = bfs_forget_plan(&s, &o, &p, &err);
	is_int(rc, 0, "plan by ids");
	ok(p && p->ngroups == 1 && p->nremove == 2 && p->nkeep == 0,
	   "one group, two removals (duplicates and latest = b3 merged)");
	if (p)
		is_str(ids_of(&s, p, 0, false), "b3 b1", "newest first");
	bfs_forget_plan_free(p);
	p = NULL;

	ids[1] = "nosuch";
	rc = bfs_forget_plan(&s, &o, &p, &err);
	is_int(rc, -ENOENT, "unknown id");
	ok(p == NULL && strstr(err.msg, "no backup 'nosuch'"), "named: %s",
	   err.msg);

	bfs_ret_policy_init(&pol);
	bfs_ret_policy_parse_option(&pol, "keep-last", "1", &err);
	ids[1] = "b2";
	o.policy = &pol;
	rc = bfs_forget_plan(&s, &o, &p, &err);
	is_int(rc, -EINVAL, "ids and a policy together are refused");
	bfs_ret_policy_fini(&pol);
	bfs_forget_set_fini(&s);

	/* latest of an empty repository */
	ids[0] = "latest";
	o.nids = 1;
	o.policy = NULL;
	rc = bfs_forget_plan(&s, &o, &p, &err);
	is_int(rc, -ENOENT, "latest of nothing");
}

static void test_policy(void)
{
	struct bfs_forget_set s = {0};
	struct bfs_forget_plan *p = NULL;
	struct bfs_err err = {""};
	struct bfs_ret_policy pol;
	struct bfs_ret_taglist tl = {0};
	struct bfs_forget_opts o = {.group_by = BFS_FORGET_BY_DEFAULT,
				    .now_ns = T0 + 100 * DAY};
	cJSON *j = NULL, *g;
	char *text = NULL;
	int i, rc;

	/* app db: six days; app files: three days, host h2 on the last */
	for (i = 0; i < 6; i++) {
		char id[32];

		snprintf(id, sizeof(id), "db%d", i);
		add(&s, id, T0 + i * DAY, "h1", i % 2 ? "[\"odd\"]" : "[]",
		    HDR_DB);
	}
	add(&s, "fs0", T0, "h1", NULL, HDR_FILES);
	add(&s, "fs1", T0 + DAY, "h1", NULL, HDR_FILES);
	add(&s, "fs2", T0 + 2 * DAY, "h2", NULL, HDR_FILES);
	/* same time as db5: ties go by id */
	add(&s, "db5b", T0 + 5 * DAY, "h1", NULL, HDR_DB);

	bfs_ret_policy_init(&pol);
	bfs_ret_policy_parse_option(&pol, "keep-last", "2", &err);
	o.policy = &pol;
	rc = bfs_forget_plan(&s, &o, &p, &err);
	is_int(rc, 0, "plan by policy");
	ok(p && p->ngroups == 2, "two groups by sources");
	if (!p || p->ngroups != 2)
		goto out;
	is_str(ids_of(&s, p, 0, true), "db5 db5b",
	       "db: the two newest kept, "
	       "equal times by id");
	is_str(ids_of(&s, p, 0, false), "db4 db3 db2 db1 db0",
	       "db: the rest removed, newest first");
	is_str(ids_of(&s, p, 1, true), "fs2 fs1", "files group");
	ok(p->nkeep == 4 && p->nremove == 6, "counts");
	ok(p->groups[0].nreasons[0] == 1 &&
	       !strcmp(p->groups[0].reasons[0][0], "last snapshot"),
	   "reasons");

	rc = bfs_forget_plan_json(&s, p, &text);
	j = rc == 0 ? cJSON_Parse(text) : NULL;
	ok(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2, "JSON: two groups");
	g = cJSON_GetArrayItem(j, 1);
	ok(cJSON_IsNull(cJSON_GetObjectItem(g, "tags")) &&
	       !strcmp(cJSON_GetObjectItem(g, "host")->valuestring, "") &&
	       cJSON_GetArraySize(cJSON_GetObjectItem(g, "paths")) == 2,
	   "group keys: only paths set");
	ok(cJSON_GetArraySize(cJSON_GetObjectItem(g, "keep")) == 2 &&
	       cJSON_GetArraySize(cJSON_GetObjectItem(g, "remove")) == 1 &&
	       cJSON_GetArraySize(cJSON_GetObjectItem(g, "reasons")) == 2,
	   "keep, remove, reasons");
	ok(!strcmp(
	       cJSON_GetObjectItem(
		   cJSON_GetArrayItem(cJSON_GetObjectItem(g, "keep"), 0), "id")
		   ->valuestring,
	       "fs2"),
	   "snapshots carry the id");
	cJSON_Delete(j);
	free(text);
	bfs_forget_plan_free(p);
	p = NULL;

	/* --group-by host,sources: fs2 (host h2) is a group of its own */
	o.group_by = BFS_FORGET_BY_HOST | BFS_FORGET_BY_SOURCES;
	rc = bfs_forget_plan(&s, &o, &p, &err);
	ok(rc == 0 && p->ngroups == 3, "host,sources: three groups");
	bfs_forget_plan_free(p);
	p = NULL;

	/* --group-by '' and --tag odd: the odd db backups only */
	o.group_by = 0;
	bfs_ret_taglist_parse("odd", &tl);
	o.tags = &tl;
	o.ntags = 1;
	rc = bfs_forget_plan(&s, &o, &p, &err);
	ok(rc == 0 && p->ngroups == 1, "one group");
	if (rc == 0) {
		is_str(ids_of(&s, p, 0, true), "db5 db3", "kept of the tagged");
		is_str(ids_of(&s, p, 0, false), "db1", "removed of the tagged");
	}
	bfs_forget_plan_free(p);
	p = NULL;
	o.tags = NULL;
	o.ntags = 0;

	/* a policy that keeps nothing of a group is refused as a whole */
	bfs_ret_policy_fini(&pol);
	bfs_ret_policy_init(&pol);
	bfs_ret_policy_parse_option(&pol, "keep-tag", "odd", &err);
	o.group_by = BFS_FORGET_BY_SOURCES;
	rc = bfs_forget_plan(&s, &o, &p, &err);
	ok(rc == -EINVAL && p == NULL,
	   "keep-tag that keeps nothing of a "
	   "group: refused (%s)",
	   err.msg);
	o.policy = NULL;
	rc = bfs_forget_plan(&s, &o, &p, &err);
	is_int(rc, -EINVAL, "no ids and no policy: refused");
out:
	bfs_ret_taglist_fini(&tl);
	bfs_ret_policy_fini(&pol);
	bfs_forget_plan_free(p);
	bfs_forget_set_fini(&s);
}

static int count_cb(void *arg, const char *key, uint64_t size)
{
	(void)key;
	(void)size;
	(*(int *)arg)++;
	return 0;
}

static int count_keys(struct bfs_repo *r, const char *prefix)
{
	int n = 0;

	bfs_store_list(r->store, prefix, count_cb, &n, NULL);
	return n;
}

static void removed_cb(void *arg, const char *id)
{
	(void)id;
	(*(int *)arg)++;
}

static void test_apply(void)
{
	const char *tmp = tl_tmpdir("test-forget");
	struct bfs_forget_set s = {0};
	struct bfs_forget_plan *p = NULL;
	struct bfs_repo *r = NULL;
	struct bfs_lock *l = NULL;
	struct bfs_err err = {""};
	const char *ids[] = {"m1", "m2", "m3"};
	struct bfs_forget_opts o = {.ids = ids, .nids = 2};
	size_t removed = 99;
	int i, ncb = 0, rc;

	if (tl_make_repo(tmp, "repo", &r))
		exit(1);
	for (i = 1; i <= 4; i++) {
		char key[64];

		snprintf(key, sizeof(key), "manifests/m%d", i);
		bfs_store_put(r->store, key, "x", 1, 0, &err);
		add(&s, key + 10, T0 + i * DAY, "h", NULL, NULL);
	}
	bfs_store_put(r->store, "packs/00/keep", "p", 1, 0, &err);
	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "forget", 0, &l, &err);
	is_int(rc, 0, "lock taken");
	rc = bfs_forget_plan(&s, &o, &p, &err);
	is_int(rc, 0, "plan m1 m2");
	bfs_store_del(r->store, "manifests/m1", &err); /* gone meanwhile */
	rc = bfs_forget_apply(r, l, &s, p, removed_cb, &ncb, &removed, &err);
	ok(rc == 0 && removed == 2 && ncb == 2,
	   "applied: two removed (one was gone already)");
	is_int(count_keys(r, "manifests/"), 2, "two manifests left");
	is_int(count_keys(r, "packs/"), 1, "packs untouched");
	bfs_forget_plan_free(p);
	p = NULL;

	/* a lost lock stops it before the first deletion */
	o.ids = ids + 2;
	o.nids = 1;
	bfs_forget_plan(&s, &o, &p, &err);
	bfs_lock_remove(r, true, NULL, &err); /* unlock --all */
	err.msg[0] = '\0';
	rc = bfs_forget_apply(r, l, &s, p, NULL, NULL, &removed, &err);
	ok(rc == -ENOLCK && removed == 0,
	   "lost lock: -ENOLCK, nothing removed");
	ok(strstr(err.msg, "stopped before removing backup 'm3'") != NULL,
	   "says so: %s", err.msg);
	is_int(count_keys(r, "manifests/"), 2, "m3 still there");
	bfs_lock_release(l);
	bfs_forget_plan_free(p);
	bfs_forget_set_fini(&s);
	bfs_repo_close(r);
}

/* --job: only that job's backups, grouped as without it; --group-by
 * job; the job comes from the (hostile) header text. */
static void test_job(void)
{
	static const char HDR_A[] = "{\"job\":\"app\",\"sources\":[{"
				    "\"dest\":\"db.sql\"}]}";
	static const char HDR_B[] = "{\"job\":\"other\",\"sources\":[{"
				    "\"dest\":\"db.sql\"}]}";
	struct bfs_forget_set s = {0};
	struct bfs_forget_plan *p = NULL;
	struct bfs_err err = {""};
	struct bfs_ret_policy pol;
	struct bfs_forget_opts o = {.group_by = BFS_FORGET_BY_DEFAULT,
				    .now_ns = T0 + 100 * DAY};
	cJSON *j = NULL;
	char *text = NULL;
	int rc;

	add(&s, "a0", T0, "h", NULL, HDR_A);
	add(&s, "a1", T0 + DAY, "h", NULL, HDR_A);
	add(&s, "a2", T0 + 2 * DAY, "h", NULL, HDR_A);
	add(&s, "b0", T0 + 3 * DAY, "h", NULL, HDR_B);
	add(&s, "x0", T0 + 4 * DAY, "h", NULL, HDR_DB); /* ad hoc */
	add(&s, "bad", T0 + 5 * DAY, "h", NULL,
	    "{\"job\":\"../etc\",\"sources\":[{\"dest\":\"db.sql\"}]}");
	add(&s, "num", T0 + 6 * DAY, "h", NULL,
	    "{\"job\":7,\"sources\":[{\"dest\":\"db.sql\"}]}");
	ok(s.v[0].job && !strcmp(s.v[0].job, "app") && !s.v[4].job,
	   "job from the header, none without the key");
	ok(!s.v[5].job && !s.v[6].job, "an invalid or non-string job: none");

	bfs_ret_policy_init(&pol);
	bfs_ret_policy_parse_option(&pol, "keep-last", "1", &err);
	o.policy = &pol;
	o.job = "app";
	rc = bfs_forget_plan(&s, &o, &p, &err);
	ok(rc == 0 && p && p->ngroups == 1, "--job app: one group");
	if (rc == 0 && p->ngroups == 1) {
		is_str(ids_of(&s, p, 0, true), "a2", "newest of the job kept");
		is_str(ids_of(&s, p, 0, false), "a1 a0",
		       "only the job's older backups removed (not b0, x0)");
	}
	bfs_forget_plan_free(p);
	p = NULL;

	o.job = "nojob";
	rc = bfs_forget_plan(&s, &o, &p, &err);
	ok(rc == 0 && p && p->ngroups == 0 && p->nremove == 0,
	   "--job of no backup: nothing planned");
	bfs_forget_plan_free(p);
	p = NULL;

	/* --group-by job: app, other, and the backups without a job */
	o.job = NULL;
	o.group_by = BFS_FORGET_BY_JOB;
	rc = bfs_forget_plan(&s, &o, &p, &err);
	ok(rc == 0 && p && p->ngroups == 3, "group-by job: three groups");
	if (rc == 0 && p->ngroups == 3) {
		ok(p->nkeep == 3 && p->nremove == 4, "one kept per group");
		rc = bfs_forget_plan_json(&s, p, &text);
		j = rc == 0 ? cJSON_Parse(text) : NULL;
		ok(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 3,
		   "JSON: three groups");
		rc = 0;
		for (int g = 0; g < cJSON_GetArraySize(j); g++) {
			const cJSON *jj = cJSON_GetObjectItem(
			    cJSON_GetArrayItem(j, g), "job");

			rc += cJSON_IsNull(jj) ? 100
			      : cJSON_IsString(jj) &&
				      !strcmp(jj->valuestring, "app")
				  ? 10
			      : cJSON_IsString(jj) ? 1
						   : 1000;
		}
		is_int(rc, 111, "JSON groups carry \"job\" (app, other, null)");
	}
	cJSON_Delete(j);
	free(text);
	bfs_forget_plan_free(p);
	bfs_ret_policy_fini(&pol);
	bfs_forget_set_fini(&s);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	test_set();
	test_group_by();
	test_ids();
	test_policy();
	test_job();
	test_apply();
	return tap_done();
}
