/* check_report.c - the problems of `backupfs check` (check.h): recorded
 * by check.c and check_walk.c, from several threads, under c->lock. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"

int ck_set_fatal(struct check *c, int rc, const char *what)
{
	if (!c->fatal) {
		c->fatal = rc;
		bfs_err_set(&c->fatal_err, rc, "%s", what);
	}
	return rc;
}

int ck_fail(struct check *c, int rc, const char *what)
{
	pthread_mutex_lock(&c->lock);
	rc = ck_set_fatal(c, rc, what);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int ck_problem(struct check *c, const char *kind, const char *object,
	       const char *fmt, ...)
{
	struct bfs_check_report *rep = c->rep;
	struct bfs_check_problem *p;
	char msg[1280];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&c->lock);
	if (rep->nproblems >= INT32_MAX) {
		rc = ck_set_fatal(c, -EOVERFLOW, "too many problems");
		goto out_unlock;
	}
	if (rep->nproblems == c->problem_cap) {
		size_t nc = c->problem_cap ? 2 * c->problem_cap : 16;
		struct bfs_check_problem *nv =
		    realloc(rep->problems, nc * sizeof(*nv));
		uint64_t *ns;

		if (nv)
			rep->problems = nv;
		ns = nv ? realloc(c->last_seq, nc * sizeof(*ns)) : NULL;
		if (!ns) {
			rc = ck_set_fatal(c, -ENOMEM, "out of memory");
			goto out_unlock;
		}
		c->last_seq = ns;
		c->problem_cap = nc;
	}
	p = &rep->problems[rep->nproblems];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->object = strdup(object);
	p->message = strdup(msg);
	if (!p->object || !p->message) {
		free(p->object);
		free(p->message);
		rc = ck_set_fatal(c, -ENOMEM, "out of memory");
		goto out_unlock;
	}
	c->last_seq[rep->nproblems] = UINT64_MAX;
	if (strcmp(kind, "io") == 0)
		rep->io_errors++;
	else
		rep->damaged++;
	rc = (int)rep->nproblems++;
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int ck_hit(struct check *c, int pi, const char *backup, const char *path,
	   uint64_t seq)
{
	struct bfs_check_problem *p;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	p = &c->rep->problems[pi];
	if (!p->nbackups || strcmp(p->backups[p->nbackups - 1], backup)) {
		char **nv =
		    realloc(p->backups, (p->nbackups + 1) * sizeof(*nv));

		if (!nv || !(nv[p->nbackups] = strdup(backup))) {
			if (nv)
				p->backups = nv;
			rc = ck_set_fatal(c, -ENOMEM, "out of memory");
			goto out_unlock;
		}
		p->backups = nv;
		p->nbackups++;
	}
	if (!path || c->last_seq[pi] == seq)
		goto out_unlock;
	c->last_seq[pi] = seq;
	if (p->npaths >= c->max_paths) {
		p->more_paths++;
		goto out_unlock;
	}
	if (!p->paths) {
		p->paths = calloc(c->max_paths, sizeof(*p->paths));
		if (!p->paths) {
			rc = ck_set_fatal(c, -ENOMEM, "out of memory");
			goto out_unlock;
		}
	}
	p->paths[p->npaths].backup = strdup(backup);
	p->paths[p->npaths].path = strdup(path);
	if (!p->paths[p->npaths].backup || !p->paths[p->npaths].path) {
		free(p->paths[p->npaths].backup);
		free(p->paths[p->npaths].path);
		rc = ck_set_fatal(c, -ENOMEM, "out of memory");
		goto out_unlock;
	}
	p->npaths++;
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int ck_bad_find(struct check *c, const uint8_t key[BFS_HASH_LEN])
{
	const struct ck_bad *b;
	int p;

	pthread_mutex_lock(&c->lock);
	b = bfs_hmap_find(&c->bad, key);
	p = b ? (int)b->problem : -1;
	pthread_mutex_unlock(&c->lock);
	return p;
}

int ck_bad_set(struct check *c, const uint8_t key[BFS_HASH_LEN], int p)
{
	struct ck_bad b;
	int rc;

	memcpy(b.key, key, BFS_HASH_LEN);
	b.problem = (uint32_t)p;
	pthread_mutex_lock(&c->lock);
	rc = bfs_hmap_insert(&c->bad, &b, NULL);
	if (rc == -EEXIST)
		rc = 0;
	else if (rc)
		rc = ck_set_fatal(c, rc, "out of memory");
	pthread_mutex_unlock(&c->lock);
	return rc;
}

bool ck_is_damage(int rc)
{
	return rc == -ENOENT || rc == -EUCLEAN || rc == -EBADMSG ||
	       rc == -EINVAL || rc == -EPROTO || rc == -ERANGE ||
	       rc == -ENODATA;
}

void bfs_check_report_clear(struct bfs_check_report *rep)
{
	size_t i, k;

	for (i = 0; i < rep->nproblems; i++) {
		struct bfs_check_problem *p = &rep->problems[i];

		free(p->object);
		free(p->message);
		for (k = 0; k < p->nbackups; k++)
			free(p->backups[k]);
		free(p->backups);
		for (k = 0; k < p->npaths; k++) {
			free(p->paths[k].backup);
			free(p->paths[k].path);
		}
		free(p->paths);
	}
	free(rep->problems);
	memset(rep, 0, sizeof(*rep));
}
