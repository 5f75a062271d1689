/* forget.c - which backups forget removes, and removing them (forget.h).
 *
 * Planning is pure (the backups come from the caller, usually the
 * catalog, just synced); applying deletes manifests/<id> objects only.
 * The catalog and every mount drop the backups at their next sync,
 * which notices the missing manifests.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "forget.h"
#include "format.h"
#include "lock.h"
#include "log.h"
#include "store.h"
#include "timefmt.h"

#define NS 1000000000LL

int bfs_forget_parse_group_by(const char *s, unsigned *out, struct bfs_err *err)
{
	unsigned by = 0;
	const char *p = s;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 4 && strncmp(p, "host", 4) == 0)
			by |= BFS_FORGET_BY_HOST;
		else if ((n == 7 && strncmp(p, "sources", 7) == 0) ||
			 (n == 5 && strncmp(p, "paths", 5) == 0))
			by |= BFS_FORGET_BY_SOURCES;
		else if (n == 4 && strncmp(p, "tags", 4) == 0)
			by |= BFS_FORGET_BY_TAGS;
		else if (n == 3 && strncmp(p, "job", 3) == 0)
			by |= BFS_FORGET_BY_JOB;
		else
			return bfs_err_set(
			    err, -EINVAL,
			    "--group-by '%s': unknown key "
			    "'%.*s' (use host, sources, tags, job, "
			    "comma-separated, or '' for none)",
			    s, (int)n, p);
		p += n;
		if (*p == ',')
			p++;
	}
	*out = by;
	return 0;
}

static void free_strv(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The strings of a JSON array (other members skipped), as a
 * NULL-terminated vector; sorted and unique when sort. */
static int strv_of(const cJSON *arr, const char *member, bool sort, char ***out,
		   size_t *nout)
{
	const cJSON *it;
	char **v;
	size_t n = 0, i, j;

	v = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	cJSON_ArrayForEach(it, arr)
	{
		const cJSON *s = it;

		/* sources[]: "dest" as the writer records it, "path" in
		 * older manifests */
		if (member) {
			s = cJSON_GetObjectItemCaseSensitive(it, member);
			if (!s)
				s = cJSON_GetObjectItemCaseSensitive(it,
								     "path");
		}

		if (!cJSON_IsString(s) || !s->valuestring)
			continue;
		v[n] = strdup(s->valuestring);
		if (!v[n]) {
			free_strv(v);
			return -ENOMEM;
		}
		n++;
	}
	if (sort && n > 1) {
		qsort(v, n, sizeof(*v), strp_cmp);
		for (i = 1, j = 1; i < n; i++) {
			if (strcmp(v[i], v[j - 1]) == 0)
				free(v[i]);
			else
				v[j++] = v[i];
		}
		n = j;
		v[n] = NULL;
	}
	*out = v;
	*nout = n;
	return 0;
}

int bfs_forget_set_add(struct bfs_forget_set *s, const char *id,
		       int64_t time_ns, const char *host, const char *tags_json,
		       const char *header_json, struct bfs_err *err)
{
	struct bfs_forget_backup *b;
	cJSON *tags = NULL, *hdr = NULL;
	const cJSON *job;
	int rc = -ENOMEM;

	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		void *nv = realloc(s->v, ncap * sizeof(*s->v));

		if (!nv)
			return bfs_err_set(err, -ENOMEM, "out of memory");
		s->v = nv;
		s->cap = ncap;
	}
	b = &s->v[s->n];
	memset(b, 0, sizeof(*b));
	b->time_ns = time_ns;
	b->id = strdup(id);
	b->host = strdup(host ? host : "");
	if (!b->id || !b->host)
		goto out;
	tags = tags_json ? cJSON_Parse(tags_json) : NULL;
	if (strv_of(cJSON_IsArray(tags) ? tags : NULL, NULL, false, &b->tags,
		    &b->ntags))
		goto out;
	hdr = header_json ? cJSON_Parse(header_json) : NULL;
	if (strv_of(cJSON_GetObjectItemCaseSensitive(hdr, "sources"), "dest",
		    true, &b->sources, &b->nsources))
		goto out;
	job = cJSON_GetObjectItemCaseSensitive(hdr, "job");
	if (cJSON_IsString(job) && job->valuestring &&
	    bfs_format_job_name_valid(job->valuestring) &&
	    !(b->job = strdup(job->valuestring)))
		goto out;
	s->n++;
	rc = 0;
out:
	cJSON_Delete(tags);
	cJSON_Delete(hdr);
	if (rc) {
		free(b->id);
		free(b->host);
		free(b->job);
		free_strv(b->tags);
		free_strv(b->sources);
		bfs_err_set(err, rc, "out of memory");
	}
	return rc;
}

void bfs_forget_set_fini(struct bfs_forget_set *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++) {
		free(s->v[i].id);
		free(s->v[i].host);
		free(s->v[i].job);
		free_strv(s->v[i].tags);
		free_strv(s->v[i].sources);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void bfs_forget_plan_free(struct bfs_forget_plan *p)
{
	size_t g;

	if (!p)
		return;
	for (g = 0; g < p->ngroups; g++) {
		free(p->groups[g].members);
		free(p->groups[g].remove);
		free(p->groups[g].reasons);
		free(p->groups[g].nreasons);
		bfs_ret_result_free(p->groups[g].res);
	}
	free(p->groups);
	free(p);
}

/* Sort orders of set indexes (qsort_r, arg: the set).  Newest first,
 * ties by id descending: the reverse of "oldest first, then by id". */
static int newest_first(const void *a, const void *b, void *arg)
{
	const struct bfs_forget_set *s = arg;
	const struct bfs_forget_backup *x = &s->v[*(const size_t *)a];
	const struct bfs_forget_backup *y = &s->v[*(const size_t *)b];

	if (x->time_ns != y->time_ns)
		return x->time_ns > y->time_ns ? -1 : 1;
	return -strcmp(x->id, y->id);
}

static int by_id(const void *a, const void *b, void *arg)
{
	const struct bfs_forget_set *s = arg;
	const struct bfs_forget_backup *x = &s->v[*(const size_t *)a];
	const struct bfs_forget_backup *y = &s->v[*(const size_t *)b];

	return strcmp(x->id, y->id);
}

static int group_alloc(struct bfs_forget_group *g, size_t n)
{
	g->members = calloc(n ? n : 1, sizeof(*g->members));
	g->remove = calloc(n ? n : 1, sizeof(*g->remove));
	g->reasons = calloc(n ? n : 1, sizeof(*g->reasons));
	g->nreasons = calloc(n ? n : 1, sizeof(*g->nreasons));
	return g->members && g->remove && g->reasons && g->nreasons ? 0
								    : -ENOMEM;
}

/* Id mode: one group of the named backups, all removed. */
static int plan_ids(const struct bfs_forget_set *s,
		    const struct bfs_forget_opts *o, struct bfs_forget_plan *p,
		    struct bfs_err *err)
{
	struct bfs_forget_group *g;
	size_t i, j, k, latest = SIZE_MAX;

	for (j = 0; j < s->n; j++)
		if (latest == SIZE_MAX ||
		    s->v[j].time_ns > s->v[latest].time_ns ||
		    (s->v[j].time_ns == s->v[latest].time_ns &&
		     strcmp(s->v[j].id, s->v[latest].id) > 0))
			latest = j;
	p->groups = calloc(1, sizeof(*p->groups));
	if (!p->groups)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	p->ngroups = 1;
	g = &p->groups[0];
	if (group_alloc(g, o->nids))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < o->nids; i++) {
		size_t found = SIZE_MAX;

		if (strcmp(o->ids[i], "latest") == 0) {
			found = latest;
		} else {
			for (j = 0; j < s->n && found == SIZE_MAX; j++)
				if (strcmp(s->v[j].id, o->ids[i]) == 0)
					found = j;
		}
		if (found == SIZE_MAX)
			return bfs_err_set(err, -ENOENT,
					   strcmp(o->ids[i], "latest") == 0
					       ? "no backups in the repository "
						 "(for '%s')"
					       : "no backup '%s' in the "
						 "repository",
					   o->ids[i]);
		for (k = 0; k < g->n && g->members[k] != found; k++)
			;
		if (k == g->n)
			g->members[g->n++] = found; /* each once */
	}
	qsort_r(g->members, g->n, sizeof(*g->members), newest_first, (void *)s);
	for (k = 0; k < g->n; k++)
		g->remove[k] = true;
	p->nremove = g->n;
	return 0;
}

/* The grouping key of backup b: length-prefixed fields, so that no
 * content can make two different groups look alike. */
static int group_key(const struct bfs_forget_backup *b, unsigned by,
		     struct bfs_buf *out)
{
	char **tags = NULL;
	size_t i;
	int rc = 0;

	out->len = 0;
	/* "j-" (no job) cannot look like "j<len>:<name>" */
	if (by & BFS_FORGET_BY_JOB)
		rc = b->job ? bfs_buf_printf(out, "j%zu:%s", strlen(b->job),
					     b->job)
			    : bfs_buf_append(out, "j-", 2);
	if (!rc && (by & BFS_FORGET_BY_HOST))
		rc = bfs_buf_printf(out, "h%zu:%s", strlen(b->host), b->host);
	for (i = 0; !rc && (by & BFS_FORGET_BY_SOURCES) && i < b->nsources; i++)
		rc = bfs_buf_printf(out, "s%zu:%s", strlen(b->sources[i]),
				    b->sources[i]);
	if (!rc && (by & BFS_FORGET_BY_TAGS) && b->ntags) {
		/* restic groups by the sorted tag list */
		tags = malloc(b->ntags * sizeof(*tags));
		if (!tags)
			return -ENOMEM;
		memcpy(tags, b->tags, b->ntags * sizeof(*tags));
		qsort(tags, b->ntags, sizeof(*tags), strp_cmp);
		for (i = 0; !rc && i < b->ntags; i++)
			rc = bfs_buf_printf(out, "t%zu:%s", strlen(tags[i]),
					    tags[i]);
		free(tags);
	}
	if (!rc)
		rc = bfs_buf_append(out, "", 1);
	return rc;
}

/* Policy mode. */
static int plan_policy(const struct bfs_forget_set *s,
		       const struct bfs_forget_opts *o,
		       struct bfs_forget_plan *p, struct bfs_err *err)
{
	struct bfs_ret_item *items = NULL;
	struct bfs_buf *keys = NULL;
	const char **keyp = NULL;
	size_t *sel = NULL, *grp = NULL, *cnt = NULL, nsel = 0, i, k, g;
	int rc = -ENOMEM;

	sel = calloc(s->n + 1, sizeof(*sel));
	items = calloc(s->n + 1, sizeof(*items));
	keys = calloc(s->n + 1, sizeof(*keys));
	keyp = calloc(s->n + 1, sizeof(*keyp));
	grp = calloc(s->n + 1, sizeof(*grp));
	if (!sel || !items || !keys || !keyp || !grp)
		goto out_nomem;
	/* the backups that pass the job and tag filters, by id (retention keeps
	 * the order of equal times: make it deterministic) */
	for (i = 0; i < s->n; i++) {
		struct bfs_ret_item it = {
		    .id = s->v[i].id,
		    .time_ns = s->v[i].time_ns,
		    .tags = (const char *const *)s->v[i].tags,
		    .ntags = s->v[i].ntags,
		};

		if (o->job && (!s->v[i].job || strcmp(s->v[i].job, o->job)))
			continue;
		if (bfs_ret_has_taglist(&it, o->tags, o->ntags))
			sel[nsel++] = i;
	}
	qsort_r(sel, nsel, sizeof(*sel), by_id, (void *)s);
	for (k = 0; k < nsel; k++) {
		if (group_key(&s->v[sel[k]], o->group_by, &keys[k]))
			goto out_nomem;
		keyp[k] = (const char *)keys[k].data;
	}
	rc = bfs_ret_group(keyp, nsel, grp, &p->ngroups, err);
	if (rc)
		goto out;
	p->groups = calloc(p->ngroups + 1, sizeof(*p->groups));
	cnt = calloc(p->ngroups + 1, sizeof(*cnt));
	if (!p->groups || !cnt)
		goto out_nomem;
	for (k = 0; k < nsel; k++)
		cnt[grp[k]]++;
	for (g = 0; g < p->ngroups; g++)
		if (group_alloc(&p->groups[g], cnt[g]))
			goto out_nomem;
	for (k = 0; k < nsel; k++) {
		struct bfs_forget_group *gr = &p->groups[grp[k]];

		gr->members[gr->n++] = sel[k]; /* by id within the group */
	}
	for (g = 0; g < p->ngroups; g++) {
		struct bfs_forget_group *gr = &p->groups[g];
		size_t *byid = NULL;

		for (k = 0; k < gr->n; k++) {
			const struct bfs_forget_backup *b =
			    &s->v[gr->members[k]];

			items[k].id = b->id;
			items[k].time_ns = b->time_ns;
			items[k].tags = (const char *const *)b->tags;
			items[k].ntags = b->ntags;
		}
		rc = bfs_ret_apply(o->policy, items, gr->n, o->now_ns, &gr->res,
				   err);
		if (rc)
			goto out;
		/* members in the result's order: newest first */
		byid = malloc((gr->n ? gr->n : 1) * sizeof(*byid));
		if (!byid)
			goto out_nomem;
		memcpy(byid, gr->members, gr->n * sizeof(*byid));
		for (k = 0; k < gr->n; k++) {
			size_t it = gr->res->order[k];
			const struct bfs_ret_decision *d = &gr->res->d[it];

			gr->members[k] = byid[it];
			gr->remove[k] = !d->keep;
			gr->reasons[k] = d->matches;
			gr->nreasons[k] = d->nmatches;
			if (d->keep)
				p->nkeep++;
			else
				p->nremove++;
		}
		free(byid);
	}
	rc = 0;
	goto out;
out_nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out:
	for (k = 0; keys && k < s->n; k++)
		bfs_buf_free(&keys[k]);
	free(keys);
	free(keyp);
	free(items);
	free(sel);
	free(grp);
	free(cnt);
	return rc;
}

int bfs_forget_plan(const struct bfs_forget_set *s,
		    const struct bfs_forget_opts *o,
		    struct bfs_forget_plan **out, struct bfs_err *err)
{
	struct bfs_forget_plan *p;
	int rc;

	*out = NULL;
	if (o->nids && o->policy && !bfs_ret_policy_empty(o->policy))
		return bfs_err_set(err, -EINVAL,
				   "give backup ids or a policy, not both");
	if (!o->nids && !o->policy)
		return bfs_err_set(err, -EINVAL,
				   "no policy was specified, no backups will "
				   "be removed");
	p = calloc(1, sizeof(*p));
	if (!p)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	p->group_by = o->nids ? 0 : o->group_by;
	rc = o->nids ? plan_ids(s, o, p, err) : plan_policy(s, o, p, err);
	if (rc) {
		bfs_forget_plan_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

static cJSON *strv_json(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *snap_json(const struct bfs_forget_backup *b)
{
	cJSON *o = cJSON_CreateObject();
	char t[BFS_TIME_STRLEN];

	if (!o)
		return NULL;
	if (bfs_time_format(b->time_ns, false, t, sizeof(t)) < 0)
		snprintf(t, sizeof(t), "invalid");
	cJSON_AddStringToObject(o, "time", t);
	cJSON_AddItemToObject(o, "tags", strv_json(b->tags, b->ntags));
	cJSON_AddStringToObject(o, "hostname", b->host);
	cJSON_AddItemToObject(o, "paths", strv_json(b->sources, b->nsources));
	cJSON_AddStringToObject(o, "id", b->id);
	cJSON_AddStringToObject(o, "short_id", b->id);
	return o;
}

int bfs_forget_plan_json(const struct bfs_forget_set *s,
			 const struct bfs_forget_plan *p, char **out)
{
	cJSON *root = cJSON_CreateArray();
	size_t g, k;

	*out = NULL;
	for (g = 0; root && g < p->ngroups; g++) {
		const struct bfs_forget_group *gr = &p->groups[g];
		const struct bfs_forget_backup *first =
		    gr->n ? &s->v[gr->members[0]] : NULL;
		cJSON *o = cJSON_CreateObject(), *keep, *rm, *why;

		if (!o)
			goto out;
		cJSON_AddItemToArray(root, o);
		if (p->group_by & BFS_FORGET_BY_JOB) {
			if (first && first->job)
				cJSON_AddStringToObject(o, "job", first->job);
			else
				cJSON_AddNullToObject(o, "job");
		}
		if (first && (p->group_by & BFS_FORGET_BY_TAGS))
			cJSON_AddItemToObject(
			    o, "tags", strv_json(first->tags, first->ntags));
		else
			cJSON_AddNullToObject(o, "tags");
		cJSON_AddStringToObject(
		    o, "host",
		    first && (p->group_by & BFS_FORGET_BY_HOST) ? first->host
								: "");
		if (first && (p->group_by & BFS_FORGET_BY_SOURCES))
			cJSON_AddItemToObject(
			    o, "paths",
			    strv_json(first->sources, first->nsources));
		else
			cJSON_AddNullToObject(o, "paths");
		keep = cJSON_AddArrayToObject(o, "keep");
		rm = cJSON_AddArrayToObject(o, "remove");
		why = cJSON_AddArrayToObject(o, "reasons");
		if (!keep || !rm || !why)
			goto out;
		for (k = 0; k < gr->n; k++) {
			const struct bfs_forget_backup *b =
			    &s->v[gr->members[k]];
			cJSON *r;

			if (gr->remove[k]) {
				cJSON_AddItemToArray(rm, snap_json(b));
				continue;
			}
			cJSON_AddItemToArray(keep, snap_json(b));
			r = cJSON_CreateObject();
			if (!r)
				goto out;
			cJSON_AddItemToArray(why, r);
			cJSON_AddItemToObject(r, "snapshot", snap_json(b));
			cJSON_AddItemToObject(
			    r, "matches",
			    strv_json(gr->reasons[k], gr->nreasons[k]));
		}
	}
	if (root)
		*out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return *out ? 0 : -ENOMEM;
}

int bfs_forget_apply(struct bfs_repo *r, struct bfs_lock *lock,
		     const struct bfs_forget_set *s,
		     const struct bfs_forget_plan *p,
		     void (*cb)(void *arg, const char *id), void *arg,
		     size_t *removed, struct bfs_err *err)
{
	int64_t checked = 0;
	size_t g, k, n = 0;
	char key[BFS_KEY_MAX];
	int rc = 0;

	for (g = 0; !rc && g < p->ngroups; g++) {
		const struct bfs_forget_group *gr = &p->groups[g];

		for (k = 0; !rc && k < gr->n; k++) {
			const char *id = s->v[gr->members[k]].id;

			if (!gr->remove[k])
				continue;
			if (lock &&
			    (n == 0 || bfs_mono_ns() - checked > 10 * NS)) {
				rc = bfs_lock_check(lock, err);
				if (rc) {
					bfs_err_prefix(
					    err, rc,
					    "stopped before removing "
					    "backup '%s'",
					    id);
					break;
				}
				checked = bfs_mono_ns();
			}
			rc = bfs_repo_manifest_key(key, id);
			if (rc) {
				bfs_err_set(err, rc, "invalid backup id '%s'",
					    id);
				break;
			}
			rc = bfs_store_del(r->store, key, err);
			if (rc == -ENOENT) {
				bfs_info("backup '%s' was removed already", id);
				rc = 0;
			}
			if (rc) {
				bfs_err_prefix(
				    err, rc, "cannot remove backup '%s' ('%s')",
				    id, key);
				break;
			}
			n++;
			if (cb)
				cb(arg, id);
		}
	}
	if (removed)
		*removed = n;
	return rc;
}
