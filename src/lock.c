/* lock.c - repository locks (lock.h; doc/FORMAT.md, "Locks").
 *
 * A lock is an object locks/<64 hex> written by its holder and rewritten
 * by a refresh thread every refresh_s seconds.  Taking is
 * write-then-check (stores have no create-if-absent that works across
 * S3 clients): write ours, list locks/, read the others, back off on a
 * conflict.  Everything read back is untrusted: an object that does not
 * parse is kept as an "unreadable" lock that conflicts with everything
 * and is never judged stale (only `unlock --all` removes it).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "format.h"
#include "lock.h"
#include "log.h"
#include "store.h"
#include "timefmt.h"

#define NS 1000000000LL
/* A lock object is a few hundred bytes; anything much bigger is not one
 * of ours and is not read. */
#define LOCK_OBJ_MAX 65536

/* Timeouts: the defaults of lock.h, or $BFS_LOCK_REFRESH_S and
 * $BFS_LOCK_STALE_S (tests), read once. */
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;
static int64_t cfg_refresh_ns = BFS_LOCK_REFRESH_S * NS;
static int64_t cfg_stale_ns = BFS_LOCK_STALE_S * NS;

static int64_t env_seconds(const char *name, int64_t def)
{
	const char *v = getenv(name);
	char *end;
	long long s;

	if (!v || !*v)
		return def;
	errno = 0;
	s = strtoll(v, &end, 10);
	if (errno || *end || s < 1 || s > 86400 * 365) {
		bfs_warn("ignoring invalid %s '%s' (seconds, 1..31536000)",
			 name, v);
		return def;
	}
	return s * NS;
}

static void cfg_read(void)
{
	cfg_refresh_ns = env_seconds("BFS_LOCK_REFRESH_S", cfg_refresh_ns);
	cfg_stale_ns = env_seconds("BFS_LOCK_STALE_S", cfg_stale_ns);
}

static void cfg_get(int64_t *refresh_ns, int64_t *stale_ns)
{
	pthread_once(&cfg_once, cfg_read);
	if (refresh_ns)
		*refresh_ns = cfg_refresh_ns;
	if (stale_ns)
		*stale_ns = cfg_stale_ns;
}

struct bfs_lock {
	struct bfs_repo *r; /* borrowed */
	char key[80];
	enum bfs_lock_kind kind;
	char host[256], user[64], command[32];
	int64_t pid, time_ns;
	pthread_t thread;
	bool thread_started;
	/* mu protects everything below; the refresh thread sleeps on cond
	 * (CLOCK_MONOTONIC) so that release wakes it at once. */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;
	int64_t refreshed_ns; /* the "refreshed" of our last good write */
	bool lost;
	char lost_why[512];
};

static const char *kind_name(enum bfs_lock_kind k)
{
	return k == BFS_LOCK_EXCLUSIVE ? "exclusive" : "shared";
}

static void my_host(char *out, size_t n)
{
	if (gethostname(out, n) < 0)
		snprintf(out, n, "unknown");
	out[n - 1] = '\0';
}

static void my_user(char *out, size_t n)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res &&
	    strlen(res->pw_name) < n)
		snprintf(out, n, "%s", res->pw_name);
	else
		snprintf(out, n, "%lu", (unsigned long)geteuid());
}

/* The JSON text of l's object with refreshed time now_ns (malloc'ed). */
static char *lock_json(const struct bfs_lock *l, int64_t now_ns)
{
	char t[BFS_TIME_STRLEN], rt[BFS_TIME_STRLEN];
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (!o)
		return NULL;
	if (bfs_time_format(l->time_ns, true, t, sizeof(t)) < 0 ||
	    bfs_time_format(now_ns, true, rt, sizeof(rt)) < 0)
		goto out;
	if (!cJSON_AddStringToObject(o, "kind", kind_name(l->kind)) ||
	    !cJSON_AddStringToObject(o, "host", l->host) ||
	    !cJSON_AddNumberToObject(o, "pid", (double)l->pid) ||
	    !cJSON_AddStringToObject(o, "user", l->user) ||
	    !cJSON_AddStringToObject(o, "command", l->command) ||
	    !cJSON_AddStringToObject(o, "time", t) ||
	    !cJSON_AddStringToObject(o, "refreshed", rt))
		goto out;
	s = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return s;
}

static int write_obj(struct bfs_lock *l, int64_t now_ns, int flags,
		     struct bfs_err *err)
{
	char *s = lock_json(l, now_ns);
	int rc;

	if (!s)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = bfs_store_put(l->r->store, l->key, s, strlen(s), flags, err);
	if (rc)
		bfs_err_prefix(err, rc, "cannot write lock '%s'", l->key);
	free(s);
	return rc;
}

/* Copy a JSON string member into out (n bytes); false if missing, not a
 * string, too long or not UTF-8. */
static bool get_str(const cJSON *o, const char *name, char *out, size_t n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	size_t len;

	if (!cJSON_IsString(v) || !v->valuestring)
		return false;
	len = strlen(v->valuestring);
	if (len >= n || !bfs_utf8_valid(v->valuestring, len))
		return false;
	memcpy(out, v->valuestring, len + 1);
	return true;
}

static bool get_time(const cJSON *o, const char *name, int64_t *ns)
{
	char t[64];

	return get_str(o, name, t, sizeof(t)) &&
	       bfs_time_parse(t, ns, NULL) == 0;
}

/* Parse an object's bytes into li (key already set).  li->valid says
 * whether it parsed; nothing else is an error. */
static void parse_obj(const struct bfs_buf *b, struct bfs_lock_info *li)
{
	char kind[16];
	cJSON *o, *pid;
	double p;

	li->valid = false;
	o = cJSON_ParseWithLength((const char *)b->data, b->len);
	if (!cJSON_IsObject(o))
		goto out;
	pid = cJSON_GetObjectItemCaseSensitive(o, "pid");
	if (!cJSON_IsNumber(pid))
		goto out;
	p = pid->valuedouble;
	if (!(p >= 1 && p <= 4194304 * 1024.0) || p != (double)(int64_t)p)
		goto out;
	li->pid = (int64_t)p;
	if (!get_str(o, "kind", kind, sizeof(kind)))
		goto out;
	if (strcmp(kind, "shared") == 0)
		li->kind = BFS_LOCK_SHARED;
	else if (strcmp(kind, "exclusive") == 0)
		li->kind = BFS_LOCK_EXCLUSIVE;
	else
		goto out;
	if (!get_str(o, "host", li->host, sizeof(li->host)) ||
	    !get_str(o, "user", li->user, sizeof(li->user)) ||
	    !get_str(o, "command", li->command, sizeof(li->command)) ||
	    !get_time(o, "time", &li->time_ns) ||
	    !get_time(o, "refreshed", &li->refreshed_ns))
		goto out;
	li->valid = true;
out:
	cJSON_Delete(o);
}

/* A valid lock is stale when its refresh is older than the stale
 * timeout, or when it was taken on this host by a pid that is gone.  An
 * unreadable one never is (see the top of the file). */
static bool judge_stale(const struct bfs_lock_info *li, int64_t now_ns,
			const char *host)
{
	int64_t stale_ns;

	if (!li->valid)
		return false;
	cfg_get(NULL, &stale_ns);
	if (now_ns - li->refreshed_ns > stale_ns)
		return true;
	if (strcmp(li->host, host) == 0 && li->pid <= INT32_MAX &&
	    kill((pid_t)li->pid, 0) == -1 && errno == ESRCH)
		return true;
	return false;
}

struct key {
	char name[80];
	uint64_t size;
};

struct keys {
	struct key *v;
	size_t n, cap;
	int rc;
};

static int keys_cb(void *arg, const char *key, uint64_t size)
{
	struct keys *k = arg;

	if (strlen(key) >= sizeof(k->v[0].name)) {
		bfs_warn("ignoring lock object '%s': name too long", key);
		return 0;
	}
	if (k->n == k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 16;
		void *nv = realloc(k->v, ncap * sizeof(k->v[0]));

		if (!nv) {
			k->rc = -ENOMEM;
			return 1;
		}
		k->v = nv;
		k->cap = ncap;
	}
	snprintf(k->v[k->n].name, sizeof(k->v[0].name), "%s", key);
	k->v[k->n++].size = size;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Read every lock object but skip (may be NULL); objects that vanish
 * between the listing and the read are left out. */
static int list_locks(struct bfs_repo *r, int64_t now_ns, const char *skip,
		      struct bfs_lock_info **out, size_t *n,
		      struct bfs_err *err)
{
	struct keys k = {0};
	struct bfs_lock_info *v = NULL;
	struct bfs_buf b = {0};
	char host[256];
	size_t i, m = 0;
	int rc;

	*out = NULL;
	*n = 0;
	my_host(host, sizeof(host));
	rc = bfs_store_list(r->store, BFS_KEY_LOCKS, keys_cb, &k, err);
	if (k.rc)
		rc = bfs_err_set(err, k.rc, "out of memory");
	if (rc) {
		bfs_err_prefix(err, rc, "cannot list the locks");
		goto out_free;
	}
	qsort(k.v, k.n, sizeof(k.v[0]), key_cmp);
	v = calloc(k.n ? k.n : 1, sizeof(*v));
	if (!v) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	for (i = 0; i < k.n; i++) {
		struct bfs_lock_info *li = &v[m];
		int64_t got;

		if (skip && strcmp(k.v[i].name, skip) == 0)
			continue;
		memset(li, 0, sizeof(*li));
		snprintf(li->key, sizeof(li->key), "%s", k.v[i].name);
		if (k.v[i].size > LOCK_OBJ_MAX) {
			m++; /* not one of ours: unreadable */
			continue;
		}
		b.len = 0;
		got = bfs_store_get(r->store, li->key, 0, UINT64_MAX, &b, err);
		if (got == -ENOENT)
			continue; /* released meanwhile */
		if (got < 0) {
			rc = bfs_err_prefix(err, (int)got,
					    "cannot read lock '%s'", li->key);
			goto out_free;
		}
		rc = 0;
		parse_obj(&b, li);
		li->stale = judge_stale(li, now_ns, host);
		m++;
	}
	*out = v;
	*n = m;
	v = NULL;
out_free:
	free(v);
	free(k.v);
	bfs_buf_free(&b);
	return rc;
}

int bfs_lock_list(struct bfs_repo *r, int64_t now_ns,
		  struct bfs_lock_info **out, size_t *n, struct bfs_err *err)
{
	return list_locks(r, now_ns, NULL, out, n, err);
}

/* "2 min ago" / "in 3 s" (clock skew) for a time. */
static void fmt_ago(char *out, size_t n, int64_t now_ns, int64_t t_ns)
{
	int64_t d = (now_ns - t_ns) / NS;
	const char *suffix = " ago";

	if (d < 0) {
		d = -d;
		suffix = " in the future";
	}
	if (d < 120)
		snprintf(out, n, "%lld s%s", (long long)d, suffix);
	else if (d < 7200)
		snprintf(out, n, "%lld min%s", (long long)(d / 60), suffix);
	else
		snprintf(out, n, "%lld h%s", (long long)(d / 3600), suffix);
}

/* The -EBUSY message naming holder li. */
static int busy(const struct bfs_lock_info *li, size_t others, int64_t now_ns,
		struct bfs_err *err)
{
	char t[BFS_TIME_STRLEN], ago[48], more[48] = "";

	if (others > 1)
		snprintf(more, sizeof(more), " (and %zu more)", others - 1);
	if (!li->valid)
		return bfs_err_set(err, -EBUSY,
				   "repository is locked by an unreadable lock "
				   "object '%s'%s; if no backupfs runs on this "
				   "repository, 'backupfs unlock --all' "
				   "removes it",
				   li->key, more);
	if (bfs_time_format(li->time_ns / NS * NS, true, t, sizeof(t)) < 0)
		snprintf(t, sizeof(t), "?");
	fmt_ago(ago, sizeof(ago), now_ns, li->refreshed_ns);
	return bfs_err_set(
	    err, -EBUSY,
	    "repository is locked %s by %s (pid %lld on host "
	    "%s, user %s) since %s, refreshed %s%s; wait, or "
	    "'backupfs unlock' if that process is gone",
	    li->kind == BFS_LOCK_EXCLUSIVE ? "exclusively" : "(shared)",
	    li->command, (long long)li->pid, li->host, li->user, t, ago, more);
}

/* One attempt: write our object, look for conflicts; on one, remove ours
 * again and return -EBUSY. */
static int try_take(struct bfs_lock *l, struct bfs_err *err)
{
	struct bfs_lock_info *v = NULL;
	size_t n = 0, i, nconf = 0, first = 0;
	struct bfs_err derr;
	uint8_t rnd[32];
	int64_t now;
	int rc;

	rc = bfs_random(rnd, sizeof(rnd));
	if (rc)
		return bfs_err_set(err, rc, "cannot get random bytes: %s",
				   strerror(-rc));
	memcpy(l->key, BFS_KEY_LOCKS, sizeof(BFS_KEY_LOCKS) - 1);
	bfs_hex(l->key + sizeof(BFS_KEY_LOCKS) - 1, rnd, sizeof(rnd));
	l->time_ns = bfs_now_ns();
	rc = write_obj(l, l->time_ns, BFS_PUT_EXCL, err);
	if (rc)
		return rc;
	l->refreshed_ns = l->time_ns;
	now = bfs_now_ns();
	rc = list_locks(l->r, now, l->key, &v, &n, err);
	if (rc)
		goto out_del;
	for (i = 0; i < n; i++) {
		bool conflict = l->kind == BFS_LOCK_EXCLUSIVE || !v[i].valid ||
				v[i].kind == BFS_LOCK_EXCLUSIVE;

		if (!conflict || v[i].stale)
			continue;
		if (nconf++ == 0)
			first = i;
	}
	if (nconf) {
		rc = busy(&v[first], nconf, now, err);
		goto out_del;
	}
	free(v);
	return 0;
out_del:
	if (bfs_store_del(l->r->store, l->key, &derr) < 0)
		bfs_warn("cannot remove lock '%s': %s", l->key, derr.msg);
	free(v);
	return rc;
}

/* Refresh thread: rewrite our object every refresh_ns; note a lost lock
 * (object gone, or no good write for longer than the stale timeout). */
static void *refresh_main(void *arg)
{
	struct bfs_lock *l = arg;
	int64_t refresh_ns, stale_ns, next, wait;
	struct bfs_err err;
	struct timespec ts;
	uint64_t size;
	int rc;

	cfg_get(&refresh_ns, &stale_ns);
	wait = refresh_ns;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		next = (int64_t)ts.tv_sec * NS + ts.tv_nsec + wait;
		ts.tv_sec = next / NS;
		ts.tv_nsec = next % NS;
		while (!l->stop && pthread_cond_timedwait(&l->cond, &l->mu,
							  &ts) != ETIMEDOUT)
			;
		if (l->stop || l->lost)
			break;
		pthread_mutex_unlock(&l->mu);

		err.msg[0] = '\0';
		rc = bfs_store_stat(l->r->store, l->key, &size, &err);
		if (rc == 0) {
			int64_t now = bfs_now_ns();

			rc = write_obj(l, now, 0, &err);
			pthread_mutex_lock(&l->mu);
			if (rc == 0)
				l->refreshed_ns = now;
		} else {
			pthread_mutex_lock(&l->mu);
		}
		if (rc == -ENOENT) {
			l->lost = true;
			snprintf(l->lost_why, sizeof(l->lost_why),
				 "lock '%s' was removed by someone else "
				 "('backupfs unlock --all'?)",
				 l->key);
		} else if (rc && bfs_now_ns() - l->refreshed_ns > stale_ns) {
			l->lost = true;
			snprintf(l->lost_why, sizeof(l->lost_why),
				 "lock '%s' could not be refreshed for "
				 "longer than the stale timeout: %s",
				 l->key, err.msg);
		} else if (rc) {
			bfs_warn("cannot refresh lock '%s' (will retry): %s",
				 l->key, err.msg);
		}
		/* After a failure try again sooner, well before others
		 * may take the lock for stale. */
		wait = rc ? BFS_MAX(refresh_ns / 5, NS / 10) : refresh_ns;
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void lock_free(struct bfs_lock *l)
{
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

int bfs_lock_take(struct bfs_repo *r, enum bfs_lock_kind kind,
		  const char *command, int64_t wait_ns, struct bfs_lock **out,
		  struct bfs_err *err)
{
	int64_t deadline = bfs_mono_ns() + (wait_ns > 0 ? wait_ns : 0);
	pthread_condattr_t ca;
	struct bfs_lock *l;
	int rc;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &ca);
	pthread_condattr_destroy(&ca);
	l->r = r;
	l->kind = kind;
	l->pid = (int64_t)getpid();
	my_host(l->host, sizeof(l->host));
	my_user(l->user, sizeof(l->user));
	snprintf(l->command, sizeof(l->command), "%s",
		 command && *command ? command : "backupfs");

	for (;;) {
		int64_t left, delay;
		uint16_t rnd = 0;
		struct timespec ts;

		rc = try_take(l, err);
		if (rc != -EBUSY)
			break;
		left = deadline - bfs_mono_ns();
		if (left <= 0)
			break;
		/* Random back-off, so that two takers that keep seeing
		 * each other part ways: 0.5 .. 2 s. */
		bfs_random(&rnd, sizeof(rnd));
		delay = NS / 2 + (int64_t)(rnd % 1500) * 1000000;
		delay = BFS_MIN(delay, left);
		bfs_debug("lock busy, retrying in %lld ms: %s",
			  (long long)(delay / 1000000), err ? err->msg : "");
		ts.tv_sec = delay / NS;
		ts.tv_nsec = delay % NS;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (rc)
		goto out_free;
	rc = -pthread_create(&l->thread, NULL, refresh_main, l);
	if (rc) {
		struct bfs_err derr;

		bfs_err_set(err, rc, "cannot start the lock refresh thread: %s",
			    strerror(-rc));
		if (bfs_store_del(r->store, l->key, &derr) < 0)
			bfs_warn("cannot remove lock '%s': %s", l->key,
				 derr.msg);
		goto out_free;
	}
	l->thread_started = true;
	bfs_debug("took %s lock '%s' for %s", kind_name(kind), l->key,
		  l->command);
	*out = l;
	return 0;
out_free:
	lock_free(l);
	return rc;
}

int bfs_lock_check(struct bfs_lock *l, struct bfs_err *err)
{
	int64_t stale_ns, refreshed;
	uint64_t size;
	int rc;

	cfg_get(NULL, &stale_ns);
	pthread_mutex_lock(&l->mu);
	if (l->lost) {
		rc = bfs_err_set(err, -ENOLCK, "%s", l->lost_why);
		pthread_mutex_unlock(&l->mu);
		return rc;
	}
	refreshed = l->refreshed_ns;
	pthread_mutex_unlock(&l->mu);
	if (bfs_now_ns() - refreshed > stale_ns)
		return bfs_err_set(err, -ENOLCK,
				   "lock '%s' was not refreshed for longer "
				   "than the stale timeout; others may have "
				   "removed it",
				   l->key);
	rc = bfs_store_stat(l->r->store, l->key, &size, err);
	if (rc == -ENOENT) {
		pthread_mutex_lock(&l->mu);
		l->lost = true;
		snprintf(l->lost_why, sizeof(l->lost_why),
			 "lock '%s' was removed by someone else "
			 "('backupfs unlock --all'?)",
			 l->key);
		rc = bfs_err_set(err, -ENOLCK, "%s", l->lost_why);
		pthread_mutex_unlock(&l->mu);
	} else if (rc) {
		bfs_err_prefix(err, rc, "cannot check lock '%s'", l->key);
	}
	return rc;
}

void bfs_lock_release(struct bfs_lock *l)
{
	struct bfs_err err;
	int rc;

	if (!l)
		return;
	if (l->thread_started) {
		pthread_mutex_lock(&l->mu);
		l->stop = true;
		pthread_cond_signal(&l->cond);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
	}
	rc = bfs_store_del(l->r->store, l->key, &err);
	if (rc && rc != -ENOENT)
		bfs_warn("cannot remove lock '%s' (it will go stale): %s",
			 l->key, err.msg);
	else
		bfs_debug("released lock '%s'", l->key);
	lock_free(l);
}

int bfs_lock_remove(struct bfs_repo *r, bool all, size_t *removed,
		    struct bfs_err *err)
{
	struct bfs_lock_info *v = NULL;
	size_t n = 0, i, count = 0;
	int rc;

	if (removed)
		*removed = 0;
	rc = bfs_lock_list(r, bfs_now_ns(), &v, &n, err);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		if (!all && !v[i].stale)
			continue;
		rc = bfs_store_del(r->store, v[i].key, err);
		if (rc == -ENOENT) {
			rc = 0; /* gone meanwhile */
			continue;
		}
		if (rc) {
			bfs_err_prefix(err, rc, "cannot remove lock '%s'",
				       v[i].key);
			break;
		}
		count++;
	}
	if (removed)
		*removed = count;
	free(v);
	return rc;
}
