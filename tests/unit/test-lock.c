/* test-lock.c - repository locks (src/lock.c) on a local store: shared and
 * exclusive, holders named, stale by time and by dead pid, waiting,
 * refresh, lost locks, unreadable objects, unlock --stale / --all, and
 * takers racing each other.  The timeouts are shortened through
 * $BFS_LOCK_REFRESH_S / $BFS_LOCK_STALE_S (1 s / 3 s). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lock.h"
#include "repo.h"
#include "store.h"
#include "timefmt.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

#define NS 1000000000LL

static const char *tmpdir;

static size_t count_locks(struct bfs_repo *r)
{
	struct bfs_lock_info *v = NULL;
	struct bfs_err err = {""};
	size_t n = 0;
	int rc = bfs_lock_list(r, bfs_now_ns(), &v, &n, &err);

	if (rc)
		diag("bfs_lock_list: %s", bfs_err_str(&err, rc));
	free(v);
	return rc ? (size_t)-1 : n;
}

/* Write a lock object by hand (as another process or host would). */
static void put_lock(struct bfs_repo *r, const char *key, const char *kind,
		     const char *host, long long pid, int64_t refreshed_ns)
{
	char t[BFS_TIME_STRLEN], json[1024];
	struct bfs_err err = {""};
	int rc;

	bfs_time_format(refreshed_ns, true, t, sizeof(t));
	snprintf(json, sizeof(json),
		 "{\"kind\":\"%s\",\"host\":\"%s\",\"pid\":%lld,"
		 "\"user\":\"someone\",\"command\":\"prune\",\"time\":\"%s\","
		 "\"refreshed\":\"%s\"}",
		 kind, host, pid, t, t);
	rc = bfs_store_put(r->store, key, json, strlen(json), 0, &err);
	if (rc)
		diag("put %s: %s", key, bfs_err_str(&err, rc));
}

static void del_key(struct bfs_repo *r, const char *key)
{
	struct bfs_err err = {""};

	bfs_store_del(r->store, key, &err);
}

static const char *my_hostname(void)
{
	static char h[256];

	gethostname(h, sizeof(h));
	h[sizeof(h) - 1] = '\0';
	return h;
}

static const char KEY_A[] = "locks/"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "aaaaaaaaaaaaaaaa";
static const char KEY_B[] = "locks/"
			    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
			    "bbbbbbbbbbbbbbbb";

static void test_shared_exclusive(struct bfs_repo *r)
{
	struct bfs_lock *a = NULL, *b = NULL, *x = NULL;
	struct bfs_lock_info *v = NULL;
	struct bfs_err err = {""};
	char want[64];
	size_t n = 0;
	int rc;

	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "backup", 0, &a, &err);
	is_int(rc, 0, "shared lock taken");
	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "copy", 0, &b, &err);
	is_int(rc, 0, "second shared lock taken beside the first");
	is_int(count_locks(r), 2, "two lock objects");

	rc = bfs_lock_list(r, bfs_now_ns(), &v, &n, &err);
	ok(rc == 0 && n == 2, "list: two locks");
	if (rc == 0 && n == 2) {
		ok(v[0].valid && v[1].valid, "both parse");
		ok(!v[0].stale && !v[1].stale, "neither is stale");
		is_int(v[0].pid, getpid(), "pid recorded");
		is_str(v[0].host, my_hostname(), "host recorded");
		ok(v[0].kind == BFS_LOCK_SHARED, "kind shared");
		ok(strcmp(v[0].command, "backup") == 0 ||
		       strcmp(v[0].command, "copy") == 0,
		   "command recorded");
		ok(strncmp(v[0].key, "locks/", 6) == 0 &&
		       strlen(v[0].key) == 70 && strcmp(v[0].key, v[1].key) < 0,
		   "keys locks/<64 hex>, in order");
		ok(v[0].time_ns > 0 && v[0].refreshed_ns >= v[0].time_ns,
		   "times recorded");
	}
	free(v);

	err.msg[0] = '\0';
	rc = bfs_lock_take(r, BFS_LOCK_EXCLUSIVE, "prune", 0, &x, &err);
	is_int(rc, -EBUSY, "exclusive refused while shared locks are held");
	ok(x == NULL, "no lock handed out");
	snprintf(want, sizeof(want), "pid %ld on host", (long)getpid());
	ok(strstr(err.msg, "locked (shared) by ") && strstr(err.msg, want) &&
	       strstr(err.msg, "and 1 more"),
	   "the holder is named: %s", err.msg);
	is_int(count_locks(r), 2, "the refused taker left nothing behind");

	bfs_lock_release(a);
	bfs_lock_release(b);
	is_int(count_locks(r), 0, "release deletes the objects");

	rc = bfs_lock_take(r, BFS_LOCK_EXCLUSIVE, "prune", 0, &x, &err);
	is_int(rc, 0, "exclusive taken on a free repository");
	err.msg[0] = '\0';
	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "backup", 0, &a, &err);
	is_int(rc, -EBUSY, "shared refused while exclusive is held");
	ok(strstr(err.msg, "locked exclusively by prune") &&
	       strstr(err.msg, "backupfs unlock"),
	   "message: %s", err.msg);
	rc = bfs_lock_take(r, BFS_LOCK_EXCLUSIVE, "prune", 0, &a, &err);
	is_int(rc, -EBUSY, "exclusive refused while exclusive is held");
	is_int(bfs_lock_check(x, &err), 0, "the holder still holds it");
	bfs_lock_release(x);
	bfs_lock_release(NULL);
	is_int(count_locks(r), 0, "released");
}

static void test_stale(struct bfs_repo *r)
{
	struct bfs_lock_info *v = NULL;
	struct bfs_err err = {""};
	struct bfs_lock *l = NULL;
	size_t n = 0, removed = 99;
	pid_t child;
	int rc;

	/* Stale by time: refreshed an hour ago, on another host. */
	put_lock(r, KEY_A, "exclusive", "elsewhere", 1,
		 bfs_now_ns() - 3600 * NS);
	rc = bfs_lock_list(r, bfs_now_ns(), &v, &n, &err);
	ok(rc == 0 && n == 1 && v[0].valid && v[0].stale,
	   "an hour-old exclusive lock is stale");
	free(v);
	rc = bfs_lock_take(r, BFS_LOCK_EXCLUSIVE, "prune", 0, &l, &err);
	is_int(rc, 0, "a stale lock does not block");
	bfs_lock_release(l);
	l = NULL;

	/* Fresh, on another host: not stale, blocks. */
	put_lock(r, KEY_B, "exclusive", "elsewhere", 1, bfs_now_ns());
	err.msg[0] = '\0';
	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "backup", 0, &l, &err);
	is_int(rc, -EBUSY, "a fresh lock of another host blocks");
	ok(strstr(err.msg, "pid 1 on host elsewhere, user someone") != NULL,
	   "named: %s", err.msg);
	del_key(r, KEY_B);

	/* Fresh, on this host, by a pid that is gone. */
	child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	put_lock(r, KEY_B, "exclusive", my_hostname(), child, bfs_now_ns());
	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "backup", 0, &l, &err);
	is_int(rc, 0, "a lock of a dead pid on this host does not block");
	bfs_lock_release(l);
	l = NULL;

	/* Fresh, on this host, by a live pid (ours, as another process
	 * would be). */
	put_lock(r,
		 "locks/cccccccccccccccccccccccccccccccccccccccccccccccc"
		 "cccccccccccccccc",
		 "exclusive", my_hostname(), getpid(), bfs_now_ns());

	rc = bfs_lock_remove(r, false, &removed, &err);
	ok(rc == 0 && removed == 2,
	   "unlock --stale removes the two stale "
	   "locks (got %zu)",
	   removed);
	is_int(count_locks(r), 1, "and keeps the live one");
	rc = bfs_lock_remove(r, true, &removed, &err);
	ok(rc == 0 && removed == 1, "unlock --all removes the live one");
	is_int(count_locks(r), 0, "nothing left");
}

static void test_unreadable(struct bfs_repo *r)
{
	struct bfs_lock_info *v = NULL;
	struct bfs_err err = {""};
	struct bfs_lock *l = NULL;
	size_t n = 0, removed = 0;
	int rc;

	bfs_store_put(r->store, KEY_A, "not json", 8, 0, &err);
	bfs_store_put(r->store, KEY_B, "{\"kind\":\"weird\"}", 16, 0, &err);
	rc = bfs_lock_list(r, bfs_now_ns(), &v, &n, &err);
	ok(rc == 0 && n == 2 && !v[0].valid && !v[1].valid && !v[0].stale,
	   "unparsable objects: listed, not valid, not stale");
	free(v);
	err.msg[0] = '\0';
	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "backup", 0, &l, &err);
	is_int(rc, -EBUSY, "an unreadable lock object blocks even shared");
	ok(strstr(err.msg, "unreadable lock object '"
			   "locks/aaaa") &&
	       strstr(err.msg, "unlock --all"),
	   "named: %s", err.msg);
	rc = bfs_lock_remove(r, true, &removed, &err);

	/* more hostile objects: too big, a pid that is no number, a kind
	 * of another case, a time that does not parse */
	{
		static char big[70000];
		static const char *const bad[] = {
		    "{\"kind\":\"shared\",\"host\":\"h\",\"pid\":\"1\","
		    "\"user\":\"u\",\"command\":\"c\",\"time\":"
		    "\"2026-01-01T00:00:00Z\",\"refreshed\":"
		    "\"2026-01-01T00:00:00Z\"}",
		    "{\"kind\":\"Shared\",\"host\":\"h\",\"pid\":1,"
		    "\"user\":\"u\",\"command\":\"c\",\"time\":"
		    "\"2026-01-01T00:00:00Z\",\"refreshed\":"
		    "\"2026-01-01T00:00:00Z\"}",
		    "{\"kind\":\"shared\",\"host\":\"h\",\"pid\":1.5,"
		    "\"user\":\"u\",\"command\":\"c\",\"time\":"
		    "\"2026-01-01T00:00:00Z\",\"refreshed\":"
		    "\"2026-01-01T00:00:00Z\"}",
		    "{\"kind\":\"shared\",\"host\":\"h\",\"pid\":1,"
		    "\"user\":\"u\",\"command\":\"c\",\"time\":"
		    "\"yesterday\",\"refreshed\":\"2026-01-01T00:00:00Z\"}",
		    "[]",
		    "",
		};
		char key[80];
		size_t i, nbad = 0;

		memset(big, ' ', sizeof(big));
		memcpy(big, "{}", 2);
		bfs_store_put(r->store, KEY_A, big, sizeof(big), 0, &err);
		for (i = 0; i < BFS_ARRAY_SIZE(bad); i++) {
			snprintf(key, sizeof(key), "locks/%064zu", i);
			bfs_store_put(r->store, key, bad[i], strlen(bad[i]), 0,
				      &err);
		}
		v = NULL;
		rc = bfs_lock_list(r, bfs_now_ns(), &v, &n, &err);
		for (i = 0; rc == 0 && i < n; i++)
			nbad += !v[i].valid && !v[i].stale;
		ok(rc == 0 && n == BFS_ARRAY_SIZE(bad) + 1 &&
		       nbad == BFS_ARRAY_SIZE(bad) + 1,
		   "oversized, wrong types, unknown kind, bad time, not an "
		   "object, empty: all unreadable (%zu of %zu)",
		   nbad, n);
		free(v);
		rc = bfs_lock_remove(r, true, &removed, &err);
	}

	bfs_store_put(r->store, KEY_A, "not json", 8, 0, &err);
	bfs_store_put(r->store, KEY_B, "{\"kind\":\"weird\"}", 16, 0, &err);
	rc = bfs_lock_remove(r, false, &removed, &err);
	ok(rc == 0 && removed == 0, "unlock --stale leaves it");
	rc = bfs_lock_remove(r, true, &removed, &err);
	ok(rc == 0 && removed == 2, "unlock --all removes it");
	rc = bfs_lock_take(r, BFS_LOCK_EXCLUSIVE, "prune", 0, &l, &err);
	is_int(rc, 0, "free again");
	bfs_lock_release(l);
}

struct releaser {
	struct bfs_lock *l;
	int64_t after_ns;
};

static void *release_later(void *arg)
{
	struct releaser *rl = arg;
	struct timespec ts = {rl->after_ns / NS, rl->after_ns % NS};

	nanosleep(&ts, NULL);
	bfs_lock_release(rl->l);
	return NULL;
}

static void test_wait(struct bfs_repo *r)
{
	struct bfs_err err = {""};
	struct bfs_lock *x = NULL, *l = NULL;
	struct releaser rl;
	pthread_t t;
	int64_t t0, dt;
	int rc;

	rc = bfs_lock_take(r, BFS_LOCK_EXCLUSIVE, "prune", 0, &x, &err);
	is_int(rc, 0, "exclusive taken");
	t0 = bfs_mono_ns();
	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "backup", NS / 2, &l, &err);
	dt = bfs_mono_ns() - t0;
	is_int(rc, -EBUSY, "a 0.5 s wait on a held lock gives up");
	ok(dt >= NS / 2 && dt < 3 * NS, "after the wait (%lld ms)",
	   (long long)(dt / 1000000));

	rl.l = x;
	rl.after_ns = NS + NS / 5;
	pthread_create(&t, NULL, release_later, &rl);
	t0 = bfs_mono_ns();
	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "backup", 20 * NS, &l, &err);
	dt = bfs_mono_ns() - t0;
	pthread_join(t, NULL);
	is_int(rc, 0, "waiting take succeeds once the holder releases");
	ok(dt >= NS && dt < 6 * NS, "soon after the release (%lld ms)",
	   (long long)(dt / 1000000));
	bfs_lock_release(l);
	is_int(count_locks(r), 0, "nothing left");
}

static void test_refresh_and_lost(struct bfs_repo *r)
{
	struct bfs_lock_info *v = NULL;
	struct bfs_err err = {""};
	struct bfs_lock *l = NULL;
	struct timespec ts = {2, 300000000};
	size_t n = 0;
	int64_t t0;
	int rc;

	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "backup", 0, &l, &err);
	is_int(rc, 0, "taken");
	nanosleep(&ts, NULL);
	rc = bfs_lock_list(r, bfs_now_ns(), &v, &n, &err);
	ok(rc == 0 && n == 1 && v[0].refreshed_ns > v[0].time_ns + NS / 2,
	   "refreshed by its thread (refresh every 1 s)");
	is_int(bfs_lock_check(l, &err), 0, "still held");
	/* Someone ran unlock --all. */
	if (rc == 0 && n == 1)
		del_key(r, v[0].key);
	free(v);
	err.msg[0] = '\0';
	rc = bfs_lock_check(l, &err);
	is_int(rc, -ENOLCK, "deleted object: lost");
	ok(strstr(err.msg, "removed by someone else") != NULL, "why: %s",
	   err.msg);
	is_int(bfs_lock_check(l, &err), -ENOLCK, "stays lost");
	t0 = bfs_mono_ns();
	bfs_lock_release(l);
	ok(bfs_mono_ns() - t0 < NS / 2, "release is immediate");
	is_int(count_locks(r), 0, "nothing left (and not recreated)");
}

/* A refresh that keeps failing loses the lock after the stale timeout. */
static void test_refresh_fails(struct bfs_repo *r)
{
	struct bfs_err err = {""};
	struct bfs_lock *l = NULL;
	struct bfs_store *f = NULL;
	struct timespec ts = {0, 200000000};
	int i, rc;

	rc = bfs_lock_take(r, BFS_LOCK_SHARED, "backup", 0, &l, &err);
	is_int(rc, 0, "taken");
	rc = bfs_store_fault_wrap(r->store, "put:key=locks/:err=EIO", &f, &err);
	if (rc) {
		diag("fault wrap: %s", bfs_err_str(&err, rc));
		exit(1);
	}
	r->store = f; /* the lock uses r->store from now on */
	for (i = 0; i < 50; i++) {
		if (bfs_lock_check(l, &err) == -ENOLCK)
			break;
		nanosleep(&ts, NULL);
	}
	ok(i >= 10 && i < 50, "lost after the stale timeout (%d ms)", i * 200);
	ok(strstr(err.msg, "stale timeout") != NULL, "why: %s", err.msg);
	bfs_lock_release(l);
	is_int(count_locks(r), 0, "release still deletes the object");
}

/* Takers racing: exclusive holders never overlap; everybody gets the lock
 * eventually. */
static atomic_int xholders, sholders, violations, got;
static struct bfs_repo *race_repo;

static void *racer(void *arg)
{
	enum bfs_lock_kind kind = (enum bfs_lock_kind)(long)arg;
	struct timespec ts = {0, 100000000};
	struct bfs_err err;
	int i;

	for (i = 0; i < 2; i++) {
		struct bfs_lock *l = NULL;

		if (bfs_lock_take(race_repo, kind, "race", 60 * NS, &l, &err)) {
			diag("racer: %s", err.msg);
			continue;
		}
		got++;
		if (kind == BFS_LOCK_EXCLUSIVE) {
			if (++xholders > 1 || sholders > 0)
				violations++;
		} else {
			sholders++;
			if (xholders > 0)
				violations++;
		}
		nanosleep(&ts, NULL);
		if (kind == BFS_LOCK_EXCLUSIVE)
			xholders--;
		else
			sholders--;
		bfs_lock_release(l);
	}
	return NULL;
}

static void test_race(struct bfs_repo *r)
{
	pthread_t t[4];
	int i;

	race_repo = r;
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, racer,
			       (void *)(long)(i < 3 ? BFS_LOCK_EXCLUSIVE
						    : BFS_LOCK_SHARED));
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	is_int(got, 8, "every racer got the lock twice");
	is_int(violations, 0,
	       "an exclusive holder never overlapped another "
	       "holder");
	is_int(count_locks(r), 0, "nothing left");
}

int main(void)
{
	struct bfs_repo *r = NULL;

	setenv("BFS_LOCK_REFRESH_S", "1", 1);
	setenv("BFS_LOCK_STALE_S", "3", 1);
	tmpdir = tl_tmpdir("test-lock");
	if (tl_make_repo(tmpdir, "repo", &r))
		return 1;
	test_shared_exclusive(r);
	test_stale(r);
	test_unreadable(r);
	test_wait(r);
	test_refresh_and_lost(r);
	test_race(r);
	test_refresh_fails(r);
	bfs_repo_close(r);
	return tap_done();
}
