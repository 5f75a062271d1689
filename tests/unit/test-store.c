/* test-store.c - local store, fault wrapper, repository config, keys,
 * chunk references and verified chunk reads, against a real directory. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pack.h"
#include "repo.h"
#include "store.h"
#include "tests/unit/tap.h"
#include "tests/unit/testlib.h"

static const char *tmpdir; /* tl_tmpdir(), removed at exit */

static const char *path_in(const char *rel)
{
	return tl_path(tmpdir, rel);
}

static void write_file(const char *path, const void *data, size_t len)
{
	if (tl_write_file(path, data, len)) {
		diag("cannot write %s", path);
		exit(1);
	}
}

/* Count files whose name contains ".tmp." below path. */
static int count_temp(const char *path)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(path);

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char sub[4096];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (strstr(de->d_name, ".tmp."))
			n++;
		if (de->d_type == DT_DIR)
			n += count_temp(sub);
	}
	closedir(d);
	return n;
}

/* ---- list helpers ---- */

struct listing {
	char keys[512][128];
	uint64_t sizes[512];
	int n;
	int stop_after;
};

static int collect(void *arg, const char *key, uint64_t size)
{
	struct listing *l = arg;

	if (l->n < 512) {
		snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
		l->sizes[l->n] = size;
	}
	l->n++;
	if (l->stop_after && l->n >= l->stop_after)
		return 42;
	return 0;
}

static int has_key(const struct listing *l, const char *key)
{
	int i;

	for (i = 0; i < l->n && i < 512; i++)
		if (!strcmp(l->keys[i], key))
			return 1;
	return 0;
}

static struct listing *list_of(struct bfs_store *s, const char *prefix, int *rc)
{
	struct listing *l = calloc(1, sizeof(*l));

	*rc = bfs_store_list(s, prefix, collect, l, NULL);
	return l;
}

/* Read the whole object into a NUL-terminated malloc'ed string. */
static char *get_str(struct bfs_store *s, const char *key, int64_t *rc)
{
	struct bfs_buf b = {0};

	*rc = bfs_store_get(s, key, 0, UINT64_MAX, &b, NULL);
	if (*rc < 0)
		return NULL;
	bfs_buf_append(&b, "", 1);
	return (char *)b.data;
}

/* ---- local store ---- */

static void test_open(void)
{
	struct bfs_store *s = NULL;
	struct bfs_err err = {""};
	int rc;

	rc = bfs_store_local_open(path_in("nope"), false, &s, &err);
	is_int(rc, -ENOENT, "open of a missing directory without create");
	ok(s == NULL, "no store on failure");
	ok(strstr(err.msg, "repository directory '") &&
	       strstr(err.msg, "/nope' does not exist"),
	   "message names the directory: %s", err.msg);

	rc = bfs_store_local_open(path_in("made/deep/dir/"), true, &s, &err);
	is_int(rc, 0, "create makes the directory (mkdir -p)");
	ok(s && !strcmp(s->ops->name, "local"), "it is a local store");
	bfs_store_free(s);
	s = NULL;
	rc = bfs_store_local_open(path_in("made/deep/dir"), false, &s, &err);
	is_int(rc, 0, "reopen without create");
	bfs_store_free(s);

	write_file(path_in("afile"), "x", 1);
	rc = bfs_store_local_open(path_in("afile"), false, &s, &err);
	is_int(rc, -ENOTDIR, "a file is not a store directory");

	rc = bfs_store_open(path_in("made"), NULL, &s, &err);
	is_int(rc, 0, "bfs_store_open with a plain path");
	bfs_store_free(s);
	{
		char url[4200];

		snprintf(url, sizeof(url), "file://%s", path_in("made"));
		rc = bfs_store_open(url, NULL, &s, &err);
		is_int(rc, 0, "bfs_store_open with file://");
		ok(s && !strcmp(s->ops->name, "local"), "file:// is local");
		bfs_store_free(s);
	}
	bfs_store_free(NULL);
	ok(1, "bfs_store_free(NULL) is a no-op");

	/* A relative path keeps working after a chdir (daemonising). */
	if (chdir(tmpdir) == 0) {
		rc = bfs_store_local_open("rel/repo", true, &s, &err);
		is_int(rc, 0, "open a relative path");
		if (chdir("/") == 0 && rc == 0) {
			uint64_t size = 1;

			is_int(bfs_store_put(s, "k", "v", 1, 0, &err), 0,
			       "put after chdir");
			ok(bfs_store_stat(s, "k", &size, &err) == 0 &&
			       size == 1 &&
			       access(path_in("rel/repo/k"), F_OK) == 0,
			   "the object lands under the original directory");
		}
		bfs_store_free(s);
	}
}

static void test_roundtrip(struct bfs_store *s)
{
	struct bfs_err err = {""};
	struct bfs_buf b = {0};
	uint64_t size = 0;
	int64_t got;
	struct stat st;
	char *str;
	int rc;

	rc = bfs_store_put(s, "a/b/c", "hello world", 11, 0, &err);
	is_int(rc, 0, "put a nested key creates its directories");
	ok(stat(path_in("local/a/b/c"), &st) == 0 && st.st_size == 11,
	   "object is the file ROOT/a/b/c");
	is_int(st.st_mode & 07777, 0600, "file mode 0600 (a private root)");
	ok(stat(path_in("local/a/b"), &st) == 0 && (st.st_mode & 07777) == 0700,
	   "directory mode 0700");
	is_int(count_temp(path_in("local")), 0, "no temp file left behind");

	str = get_str(s, "a/b/c", &got);
	is_int(got, 11, "get whole object: byte count");
	is_str(str, "hello world", "get whole object: bytes");
	free(str);

	bfs_buf_append(&b, "XY", 2);
	got = bfs_store_get(s, "a/b/c", 6, 5, &b, &err);
	is_int(got, 5, "ranged get returns len");
	ok(b.len == 7 && !memcmp(b.data, "XYworld", 7),
	   "ranged get appends to out");
	b.len = 0;
	got = bfs_store_get(s, "a/b/c", 11, 0, &b, &err);
	is_int(got, 0, "empty range at the end");
	got = bfs_store_get(s, "a/b/c", 11, UINT64_MAX, &b, &err);
	is_int(got, 0, "to-end read at the end is empty");
	got = bfs_store_get(s, "a/b/c", 6, 6, &b, &err);
	is_int(got, -EINVAL, "range past the end is -EINVAL");
	got = bfs_store_get(s, "a/b/c", 12, UINT64_MAX, &b, &err);
	is_int(got, -EINVAL, "offset past the end is -EINVAL");
	got = bfs_store_get(s, "a/b/c", UINT64_MAX - 1, 5, &b, &err);
	is_int(got, -EINVAL, "overflowing range is -EINVAL");
	is_int(b.len, 0, "failed gets append nothing");
	got = bfs_store_get(s, "a/b/c", 3, UINT64_MAX, &b, &err);
	ok(got == 8 && !memcmp(b.data, "lo world", 8),
	   "get from offset to end");
	bfs_buf_free(&b);

	rc = bfs_store_stat(s, "a/b/c", &size, &err);
	ok(rc == 0 && size == 11, "stat gives the size");

	err.msg[0] = '\0';
	got = bfs_store_get(s, "a/b/missing", 0, UINT64_MAX, &b, &err);
	is_int(got, -ENOENT, "get of a missing key is -ENOENT");
	ok(strstr(err.msg, "'a/b/missing'") &&
	       strstr(err.msg, path_in("local/a/b/missing")),
	   "message names key and path: %s", err.msg);
	got = bfs_store_get(s, "zz/missing", 0, 1, &b, &err);
	is_int(got, -ENOENT, "get below a missing directory is -ENOENT");
	got = bfs_store_get(s, "a/b", 0, UINT64_MAX, &b, &err);
	is_int(got, -ENOENT, "a directory is not an object");
	rc = bfs_store_stat(s, "a/b/missing", &size, &err);
	is_int(rc, -ENOENT, "stat of a missing key is -ENOENT");
	rc = bfs_store_stat(s, "a/b", &size, &err);
	is_int(rc, -ENOENT, "stat of a directory is -ENOENT");

	/* Exclusive put never replaces. */
	err.msg[0] = '\0';
	rc = bfs_store_put(s, "a/b/c", "other", 5, BFS_PUT_EXCL, &err);
	is_int(rc, -EEXIST, "BFS_PUT_EXCL on an existing key is -EEXIST");
	ok(strstr(err.msg, "'a/b/c'") != NULL, "message names the key: %s",
	   err.msg);
	str = get_str(s, "a/b/c", &got);
	is_str(str, "hello world", "the original is untouched");
	free(str);
	is_int(count_temp(path_in("local")), 0,
	       "failed EXCL put leaves no temp");
	rc = bfs_store_put(s, "a/b/d", "new", 3, BFS_PUT_EXCL, &err);
	is_int(rc, 0, "BFS_PUT_EXCL on a new key");
	str = get_str(s, "a/b/d", &got);
	is_str(str, "new", "exclusive put wrote the object");
	free(str);

	/* Plain put replaces atomically. */
	rc = bfs_store_put(s, "a/b/d", "newer", 5, 0, &err);
	is_int(rc, 0, "put without EXCL replaces");
	str = get_str(s, "a/b/d", &got);
	is_str(str, "newer", "replaced content");
	free(str);

	rc = bfs_store_put(s, "empty", "", 0, 0, &err);
	is_int(rc, 0, "put of an empty object");
	rc = bfs_store_stat(s, "empty", &size, &err);
	ok(rc == 0 && size == 0, "empty object has size 0");
	str = get_str(s, "empty", &got);
	ok(got == 0 && str && !*str, "get of an empty object");
	free(str);

	rc = bfs_store_del(s, "empty", &err);
	is_int(rc, 0, "del");
	rc = bfs_store_stat(s, "empty", &size, &err);
	is_int(rc, -ENOENT, "deleted object is gone");
	rc = bfs_store_del(s, "empty", &err);
	is_int(rc, -ENOENT, "del of a missing key is -ENOENT");
}

static void test_invalid_keys(struct bfs_store *s)
{
	static const char *bad[] = {
	    "",
	    "/abs",
	    "a//b",
	    "a/",
	    "..",
	    "a/../b",
	    "../x",
	    ".",
	    "./a",
	    "a/./b",
	    "a\nb",
	    "x.tmp.123.0123456789abcdef",
	    "d/x.tmp.1.ffffffffffffffff",
	};
	struct bfs_buf b = {0};
	uint64_t size;
	size_t i;
	char longkey[400];

	for (i = 0; i < BFS_ARRAY_SIZE(bad); i++) {
		is_int(bfs_store_put(s, bad[i], "x", 1, 0, NULL), -EINVAL,
		       "put rejects key '%s'", bad[i]);
		is_int(bfs_store_get(s, bad[i], 0, 1, &b, NULL), -EINVAL,
		       "get rejects key '%s'", bad[i]);
		is_int(bfs_store_stat(s, bad[i], &size, NULL), -EINVAL,
		       "stat rejects key '%s'", bad[i]);
		is_int(bfs_store_del(s, bad[i], NULL), -EINVAL,
		       "del rejects key '%s'", bad[i]);
	}
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	is_int(bfs_store_put(s, longkey, "x", 1, 0, NULL), -EINVAL,
	       "put rejects an over-long component");
	is_int(bfs_store_list(s, "../", collect, NULL, NULL), -EINVAL,
	       "list rejects a prefix with '..'");
	ok(access(path_in("abs"), F_OK) != 0 && access(path_in("b"), F_OK) != 0,
	   "nothing was written outside the root");
	/* Names that merely contain dots or ".tmp." are fine. */
	is_int(bfs_store_put(s, "m/db.tmp.1", "t", 1, 0, NULL), 0,
	       "key 'm/db.tmp.1' (not a temp name) is accepted");
	is_int(bfs_store_put(s, "m/a..b", "t", 1, 0, NULL), 0,
	       "key 'm/a..b' is accepted");
}

static void test_list(struct bfs_store *s)
{
	struct listing *l;
	int rc;

	bfs_store_put(s, "manifests/one", "1", 1, 0, NULL);
	bfs_store_put(s, "manifests/two", "22", 2, 0, NULL);
	bfs_store_put(s, "packs/ab/abcd", "333", 3, 0, NULL);
	bfs_store_put(s, "packs/ac/acdc", "4444", 4, 0, NULL);
	bfs_store_put(s, "packsx", "5", 1, 0, NULL);
	/* A crashed put: must never be listed. */
	write_file(path_in("local/packs/ab/abce.tmp.77.0123456789abcdef"), "p",
		   1);
	write_file(path_in("local/manifests/three.tmp.5.00000000deadbeef"), "p",
		   1);

	l = list_of(s, "manifests/", &rc);
	ok(rc == 0 && l->n == 2 && has_key(l, "manifests/one") &&
	       has_key(l, "manifests/two"),
	   "list manifests/ (got %d)", l->n);
	ok(l->n == 2 && l->sizes[has_key(l, "manifests/one") &&
					 !strcmp(l->keys[0], "manifests/one")
				     ? 0
				     : 1] == 1,
	   "list reports sizes");
	free(l);

	l = list_of(s, "packs/", &rc);
	ok(rc == 0 && l->n == 2 && has_key(l, "packs/ab/abcd") &&
	       has_key(l, "packs/ac/acdc"),
	   "list finds nested keys, skips temp files (got %d)", l->n);
	free(l);

	l = list_of(s, "packs", &rc);
	ok(rc == 0 && l->n == 3 && has_key(l, "packsx"),
	   "a prefix is a string prefix, not a directory (got %d)", l->n);
	free(l);

	l = list_of(s, "packs/a", &rc);
	is_int(l->n, 2, "prefix ending inside a directory name");
	free(l);
	l = list_of(s, "packs/ab/abc", &rc);
	ok(l->n == 1 && has_key(l, "packs/ab/abcd"),
	   "prefix ending inside a file name");
	free(l);

	l = list_of(s, "missing/", &rc);
	ok(rc == 0 && l->n == 0, "missing directory lists empty");
	free(l);

	l = list_of(s, "", &rc);
	ok(rc == 0 && has_key(l, "a/b/c") && has_key(l, "m/db.tmp.1") &&
	       has_key(l, "packs/ab/abcd") && !has_key(l, "a/b"),
	   "list of everything (%d keys), files only", l->n);
	free(l);

	l = calloc(1, sizeof(*l));
	l->stop_after = 1;
	rc = bfs_store_list(s, "", collect, l, NULL);
	ok(rc == 42 && l->n == 1,
	   "a non-zero callback result stops list and is returned");
	free(l);
}

struct thread_arg {
	struct bfs_store *s;
	int id;
	int fails;
	int excl_ok;
};

static void *put_thread(void *p)
{
	struct thread_arg *a = p;
	char key[64], val[64];
	int i;

	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "t/%d/%d", a->id, i);
		snprintf(val, sizeof(val), "thread %d object %d", a->id, i);
		if (bfs_store_put(a->s, key, val, strlen(val), 0, NULL))
			a->fails++;
		snprintf(val, sizeof(val), "shared from %d", a->id);
		if (bfs_store_put(a->s, "t/shared", val, strlen(val), 0, NULL))
			a->fails++;
		snprintf(key, sizeof(key), "t/excl/%d", i);
		if (bfs_store_put(a->s, key, val, strlen(val), BFS_PUT_EXCL,
				  NULL) == 0)
			a->excl_ok++;
	}
	return NULL;
}

static void test_threads(struct bfs_store *s)
{
	struct thread_arg args[4];
	pthread_t th[4];
	struct listing *l;
	int i, j, rc, fails = 0, excl = 0, good = 1;
	char *str;
	int64_t got;

	for (i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){s, i, 0, 0};
		pthread_create(&th[i], NULL, put_thread, &args[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		fails += args[i].fails;
		excl += args[i].excl_ok;
	}
	is_int(fails, 0, "concurrent puts from 4 threads all succeed");
	is_int(excl, 50, "each exclusive key won by exactly one thread");
	for (i = 0; i < 4; i++)
		for (j = 0; j < 50; j++) {
			char key[64], want[64];

			snprintf(key, sizeof(key), "t/%d/%d", i, j);
			snprintf(want, sizeof(want), "thread %d object %d", i,
				 j);
			str = get_str(s, key, &got);
			if (!str || strcmp(str, want))
				good = 0;
			free(str);
		}
	ok(good, "every object has its own content");
	str = get_str(s, "t/shared", &got);
	ok(str && !strncmp(str, "shared from ", 12) && strlen(str) == 13,
	   "racing writers of one key leave one whole object: '%s'", str);
	free(str);
	l = list_of(s, "t/", &rc);
	is_int(l->n, 200 + 1 + 50, "list sees every object once");
	free(l);
	is_int(count_temp(path_in("local/t")), 0, "no temp files left");
}

/* ---- fault wrapper ---- */

static void test_fault(void)
{
	struct bfs_store *inner = NULL, *s = NULL;
	struct bfs_err err = {""};
	struct bfs_buf b = {0};
	uint64_t size;
	int i, rc, pattern_ok = 1;
	int64_t got;

	bfs_store_local_open(path_in("local"), false, &inner, NULL);
	rc =
	    bfs_store_fault_wrap(inner, "get:key=a/:every=3:err=EIO", &s, &err);
	is_int(rc, 0, "wrap with an every=3 rule");
	ok(s && !strcmp(s->ops->name, "fault"), "it is the fault store");
	for (i = 1; i <= 9; i++) {
		b.len = 0;
		got = bfs_store_get(s, "a/b/c", 0, UINT64_MAX, &b, &err);
		if ((i % 3 == 0) != (got == -EIO))
			pattern_ok = 0;
		/* Calls on other keys do not count against the rule. */
		if (bfs_store_get(s, "m/a..b", 0, UINT64_MAX, &b, NULL) < 0)
			pattern_ok = 0;
	}
	ok(pattern_ok, "every=3 fails exactly calls 3, 6, 9");
	ok(strstr(err.msg, "injected") && strstr(err.msg, "'a/b/c'"),
	   "injected error message: %s", err.msg);
	rc = bfs_store_stat(s, "a/b/c", &size, NULL);
	is_int(rc, 0, "other ops pass through");
	bfs_store_free(s);

	bfs_store_local_open(path_in("local"), false, &inner, NULL);
	rc = bfs_store_fault_wrap(inner, "get:key=a/b/:corrupt=1", &s, &err);
	b.len = 0;
	got = bfs_store_get(s, "a/b/c", 0, UINT64_MAX, &b, &err);
	{
		int diff = 0;

		for (i = 0; i < 11 && got == 11; i++)
			diff += b.data[i] != (uint8_t) "hello world"[i];
		ok(got == 11 && diff == 1, "corrupt=1 flips one byte (diff %d)",
		   diff);
	}
	bfs_store_free(s);

	bfs_store_local_open(path_in("local"), false, &inner, NULL);
	bfs_store_fault_wrap(inner, "get:truncate=1", &s, &err);
	b.len = 0;
	got = bfs_store_get(s, "a/b/c", 0, UINT64_MAX, &b, &err);
	ok(got == 10 && b.len == 10 && !memcmp(b.data, "hello worl", 10),
	   "truncate=1 returns one byte less");
	bfs_store_free(s);

	bfs_store_local_open(path_in("local"), false, &inner, NULL);
	rc = bfs_store_fault_wrap(
	    inner, "put:key=f/:err=ENOSPC,any:key=a/b/d:every=2:err=ETIMEDOUT",
	    &s, &err);
	is_int(rc, 0, "two rules");
	is_int(bfs_store_put(s, "f/x", "x", 1, 0, NULL), -ENOSPC,
	       "put rule fails the put");
	is_int(bfs_store_stat(s, "f/x", &size, NULL), -ENOENT,
	       "failed put wrote nothing");
	is_int(bfs_store_stat(s, "a/b/d", &size, NULL), 0,
	       "any rule: call 1 ok");
	is_int(bfs_store_get(s, "a/b/d", 0, 1, &b, NULL), -ETIMEDOUT,
	       "any rule: call 2 times out");
	bfs_store_free(s);

	/* kill=1: SIGKILL at the Nth matching call (a child, counted by
	 * the parent; the calls before it are made) */
	{
		pid_t pid;
		int status = 0;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			bfs_store_local_open(path_in("local"), false, &inner,
					     NULL);
			if (bfs_store_fault_wrap(inner, "put:every=2:kill=1",
						 &s, NULL))
				_exit(2);
			bfs_store_put(s, "k/1", "x", 1, 0, NULL);
			bfs_store_put(s, "k/2", "x", 1, 0, NULL);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		   "kill=1: the process is killed at the 2nd put");
		bfs_store_local_open(path_in("local"), false, &s, NULL);
		is_int(bfs_store_stat(s, "k/1", &size, NULL), 0,
		       "  the 1st put was made");
		is_int(bfs_store_stat(s, "k/2", &size, NULL), -ENOENT,
		       "  the 2nd was not");
		bfs_store_free(s);
	}

	{
		static const char *bad[] = {
		    "",
		    "frob:err=EIO",
		    "get:err=EBOGUS",
		    "get:every=0:err=EIO",
		    "get:every=-1:err=EIO",
		    "get",
		    "put:corrupt=1",
		    "get:err=EIO:corrupt=1",
		    "get:key",
		    "get:color=red:err=EIO",
		    "get:err=EIO,",
		    "get:truncate=2",
		    "get:kill=2",
		    "any:kill=1:err=EIO",
		};
		size_t k;

		for (k = 0; k < BFS_ARRAY_SIZE(bad); k++) {
			bfs_store_local_open(path_in("local"), false, &inner,
					     NULL);
			s = (struct bfs_store *)&s;
			rc = bfs_store_fault_wrap(inner, bad[k], &s, &err);
			ok(rc == -EINVAL && s == NULL,
			   "bad spec '%s' rejected: %s", bad[k], err.msg);
		}
	}

	/* From the environment, as e2e tests use it: test builds only. */
#ifdef BFS_FAULT_INJECTION
	setenv("BACKUPFS_FAULT", "stat:err=EIO", 1);
	rc = bfs_store_open(path_in("local"), NULL, &s, &err);
	ok(rc == 0 && !strcmp(s->ops->name, "fault"),
	   "BACKUPFS_FAULT wraps the opened store");
	is_int(bfs_store_stat(s, "a/b/c", &size, NULL), -EIO,
	       "the env rule applies");
	bfs_store_free(s);
	setenv("BACKUPFS_FAULT", "nonsense", 1);
	rc = bfs_store_open(path_in("local"), NULL, &s, &err);
	ok(rc == -EINVAL && strstr(err.msg, "BACKUPFS_FAULT"),
	   "a bad BACKUPFS_FAULT fails the open: %s", err.msg);
	setenv("BACKUPFS_FAULT", "", 1);
	rc = bfs_store_open(path_in("local"), NULL, &s, &err);
	ok(rc == 0 && !strcmp(s->ops->name, "local"),
	   "empty BACKUPFS_FAULT is ignored");
	bfs_store_free(s);
#else
	setenv("BACKUPFS_FAULT", "stat:err=EIO", 1);
	rc = bfs_store_open(path_in("local"), NULL, &s, &err);
	ok(rc == 0 && !strcmp(s->ops->name, "local"),
	   "without --enable-fault-injection BACKUPFS_FAULT is ignored");
	bfs_store_free(s);
	skip(3, "BACKUPFS_FAULT needs ./configure --enable-fault-injection");
#endif
	unsetenv("BACKUPFS_FAULT");
	bfs_buf_free(&b);
}

/* ---- repository ---- */

static const char good_config[] =
    "{\"backupfs\":\"repository\",\"version\":2,"
    "\"id\":"
    "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
    "\"created\":\"2026-11-22T02:50:00Z\","
    "\"chunker\":{\"dump\":{\"min\":8192,\"avg\":32768,\"max\":262144},"
    "\"files\":{\"min\":262144,\"avg\":1048576,\"max\":4194304}},"
    "\"compression\":{\"algorithm\":\"zstd\",\"level\":3},\"pack_size\":"
    "16777216}";

static int open_config_text(const char *name, const char *text, size_t len,
			    struct bfs_err *err)
{
	char dir[4096], cfg[4200];
	struct bfs_repo *r = NULL;
	int rc;

	snprintf(dir, sizeof(dir), "%s", path_in(name));
	mkdir(dir, 0755);
	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	write_file(cfg, text, len);
	err->msg[0] = '\0';
	rc = bfs_repo_open(dir, NULL, &r, err);
	if (rc == 0 && !r)
		rc = -999;
	bfs_repo_close(r);
	return rc;
}

static int open_variant(const char *name, const char *from, const char *to,
			struct bfs_err *err)
{
	char text[4096];
	const char *at = strstr(good_config, from);

	if (!at) {
		diag("test bug: '%s' not in config", from);
		return -999;
	}
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good_config),
		 good_config, to, at + strlen(from));
	return open_config_text(name, text, strlen(text), err);
}

static void test_repo(void)
{
	struct bfs_err err = {""};
	struct bfs_repo *r = NULL, *r2 = NULL;
	char url[4200], *cfg;
	int64_t got;
	int rc;

	snprintf(url, sizeof(url), "%s", path_in("repo/sub"));
	rc = bfs_repo_init(url, NULL, &r, &err);
	is_int(rc, 0, "init creates a repository: %s", err.msg);
	ok(r && strlen(r->id) == 64 && strspn(r->id, "0123456789abcdef") == 64,
	   "id is 64 lowercase hex");
	ok(r && r->version == 5 && r->zstd_level == 3 &&
	       r->pack_target == 16u << 20,
	   "defaults: version, zstd level, pack size");
	ok(r && r->chunker[BFS_PROFILE_DUMP].min == 65536 &&
	       r->chunker[BFS_PROFILE_DUMP].avg == 262144 &&
	       r->chunker[BFS_PROFILE_DUMP].max == 1048576 &&
	       r->chunker[BFS_PROFILE_FILES].min == 262144 &&
	       r->chunker[BFS_PROFILE_FILES].avg == 1048576 &&
	       r->chunker[BFS_PROFILE_FILES].max == 4194304,
	   "defaults: chunker profiles");
	cfg = r ? get_str(r->store, "config", &got) : NULL;
	ok(cfg &&
	       !strncmp(cfg,
			"{\"backupfs\":\"repository\",\"version\":5,\"id\":\"",
			43) &&
	       strstr(cfg,
		      "\"chunker\":{\"dump\":{\"min\":65536,\"avg\":262144,"
		      "\"max\":1048576},"
		      "\"files\":{\"min\":262144,\"avg\":1048576,\"max\":"
		      "4194304}},"
		      "\"compression\":{\"algorithm\":\"zstd\",\"level\":"
		      "3},\"pack_size\":16777216}") &&
	       strstr(cfg, "\"created\":\"20"),
	   "config text as documented: %s", cfg ? cfg : "(none)");
	free(cfg);

	rc = bfs_repo_open(url, NULL, &r2, &err);
	is_int(rc, 0, "open the new repository: %s", err.msg);
	ok(r && r2 && !strcmp(r->id, r2->id), "same id after open");
	bfs_repo_close(r2);
	r2 = NULL;

	err.msg[0] = '\0';
	rc = bfs_repo_init(url, NULL, &r2, &err);
	is_int(rc, -EEXIST, "init twice is -EEXIST");
	ok(r2 == NULL, "no repo on failure");
	ok(strstr(err.msg, "a repository already exists at '") != NULL,
	   "message: %s", err.msg);
	bfs_repo_close(r);
	bfs_repo_close(NULL);

	err.msg[0] = '\0';
	rc = bfs_repo_open(path_in("no-such-repo"), NULL, &r, &err);
	is_int(rc, -ENOENT, "open of a missing directory is -ENOENT");
	ok(strstr(err.msg, "no backupfs repository at '") != NULL,
	   "message: %s", err.msg);
	mkdir(path_in("empty-dir"), 0755);
	rc = bfs_repo_open(path_in("empty-dir"), NULL, &r, &err);
	is_int(rc, -ENOENT, "open of a directory without config is -ENOENT");
	ok(strstr(err.msg, "no backupfs repository at '") &&
	       strstr(err.msg, "empty-dir'"),
	   "message: %s", err.msg);
	ok(access(path_in("no-such-repo"), F_OK) != 0,
	   "open did not create anything");

	rc = open_config_text("c-good", good_config, strlen(good_config), &err);
	is_int(rc, 0, "a hand-written valid config opens: %s", err.msg);
	rc = open_variant("c-v3", "\"version\":2", "\"version\":3", &err);
	is_int(rc, 0, "version 3 opens: %s", err.msg);
	rc = open_variant("c-v4", "\"version\":2", "\"version\":4", &err);
	is_int(rc, 0, "version 4 opens: %s", err.msg);
	rc = open_variant("c-v5", "\"version\":2", "\"version\":5", &err);
	is_int(rc, 0, "version 5 opens: %s", err.msg);
	rc = open_variant("c-v6", "\"version\":2", "\"version\":6", &err);
	is_int(rc, -EPROTO, "version 6 is -EPROTO");
	ok(strstr(err.msg, "unsupported repository format version 6 at '") !=
	       NULL,
	   "message: %s", err.msg);
	rc = open_variant("c-v1", "\"version\":2", "\"version\":1", &err);
	is_int(rc, -EPROTO, "version 1 is -EPROTO");
	ok(strstr(err.msg, "run 'backupfs migrate -r ") != NULL,
	   "and says how to convert it: %s", err.msg);
	rc = open_config_text("c-garbage", "this is not json {", 18, &err);
	is_int(rc, -EUCLEAN, "garbage config is -EUCLEAN");
	ok(strstr(err.msg, "corrupt repository config at '") != NULL,
	   "message: %s", err.msg);
	rc = open_config_text("c-nul", good_config, sizeof(good_config), &err);
	is_int(rc, -EUCLEAN, "config with a NUL byte is -EUCLEAN");
	rc = open_config_text("c-array", "[1,2]", 5, &err);
	is_int(rc, -EUCLEAN, "a JSON array is -EUCLEAN");
	rc = open_variant("c-magic", "\"repository\"", "\"restic\"", &err);
	is_int(rc, -EPROTO, "wrong magic is -EPROTO");
	rc = open_variant("c-noversion", "\"version\":2", "\"versio\":2", &err);
	is_int(rc, -EUCLEAN, "missing version is -EUCLEAN");
	rc = open_variant("c-id", "0123456789abcdef0123",
			  "0123456789ABCDEF0123", &err);
	is_int(rc, -EUCLEAN, "uppercase id is -EUCLEAN");
	rc = open_variant("c-idlen", "\"id\":\"0123", "\"id\":\"123", &err);
	is_int(rc, -EUCLEAN, "63-digit id is -EUCLEAN");
	rc = open_variant("c-avg", "\"avg\":32768", "\"avg\":30000", &err);
	is_int(rc, -EUCLEAN, "avg not a power of two is -EUCLEAN");
	ok(strstr(err.msg, "chunker.dump") != NULL,
	   "message names the field: %s", err.msg);
	rc = open_variant("c-max", "\"max\":4194304", "\"max\":33554432", &err);
	is_int(rc, -EUCLEAN, "max above the limit is -EUCLEAN");
	rc = open_variant("c-frac", "\"min\":8192", "\"min\":8192.5", &err);
	is_int(rc, -EUCLEAN, "fractional min is -EUCLEAN");
	rc = open_variant("c-nofiles", ",\"files\":", ",\"filez\":", &err);
	is_int(rc, -EUCLEAN, "missing files profile is -EUCLEAN");
	rc = open_variant("c-level", "\"level\":3", "\"level\":22", &err);
	is_int(rc, -EUCLEAN, "zstd level 22 is -EUCLEAN");
	rc = open_variant("c-level0", "\"level\":3", "\"level\":0", &err);
	is_int(rc, -EUCLEAN, "zstd level 0 is -EUCLEAN");
	rc = open_variant("c-algo", "\"zstd\"", "\"lz4\"", &err);
	is_int(rc, -EUCLEAN, "algorithm lz4 is -EUCLEAN");
	rc = open_variant("c-pack", "16777216", "1000", &err);
	is_int(rc, -EUCLEAN, "pack_size 1000 is -EUCLEAN");
	rc = open_variant("c-pack2", "16777216", "268435456", &err);
	is_int(rc, -EUCLEAN, "pack_size 256 MiB is -EUCLEAN");
	rc = open_variant("c-pack3", "16777216", "\"16777216\"", &err);
	is_int(rc, -EUCLEAN, "pack_size as a string is -EUCLEAN");
	rc = open_variant("c-created", "\"2026-11-22T02:50:00Z\"", "5", &err);
	is_int(rc, -EUCLEAN, "created not a string is -EUCLEAN");
	rc = open_variant("c-extra", "\"pack_size\"",
			  "\"future\":[1],\"pack_size\"", &err);
	is_int(rc, 0, "unknown extra fields are ignored");
	/* issue 13 item 6: an empty config was memchr(NULL, 0, 0), and a
	 * key given twice was taken (cJSON keeps the first). */
	rc = open_config_text("c-zero", "", 0, &err);
	is_int(rc, -EUCLEAN, "an empty config is -EUCLEAN");
	ok(strstr(err.msg, "config is empty") != NULL, "message: %s", err.msg);
	rc = open_variant("c-dup", "\"pack_size\"",
			  "\"pack_size\":1048576,\"pack_size\"", &err);
	is_int(rc, -EUCLEAN, "a key given twice is -EUCLEAN");
	ok(strstr(err.msg, "'pack_size' twice") != NULL, "message: %s",
	   err.msg);
	rc = open_variant("c-dup2", "\"level\":3", "\"level\":3,\"level\":9",
			  &err);
	is_int(rc, -EUCLEAN, "a nested key given twice is -EUCLEAN");
	ok(strstr(err.msg, "'compression.level' twice") != NULL, "message: %s",
	   err.msg);
	rc = open_variant("c-samename", "\"pack_size\"",
			  "\"x\":{\"level\":1},\"pack_size\"", &err);
	is_int(rc, 0, "the same name in two objects is fine: %s", err.msg);
	{
		size_t big = (64u << 10) + 1;
		char *text = malloc(big);

		memset(text, ' ', big);
		memcpy(text, good_config, strlen(good_config));
		rc = open_config_text("c-big", text, big, &err);
		is_int(rc, -EUCLEAN, "config over 64 KiB is -EUCLEAN");
		rc = open_config_text("c-64k", text, big - 1, &err);
		is_int(rc, 0, "config of exactly 64 KiB opens");
		free(text);
	}
}

static void test_keys(void)
{
	uint8_t id[BFS_HASH_LEN];
	char key[BFS_KEY_MAX], want[128], hex[65], id129[130];
	size_t i;

	for (i = 0; i < sizeof(id); i++)
		id[i] = (uint8_t)(0xab + i);
	bfs_hex(hex, id, sizeof(id));
	snprintf(want, sizeof(want), "packs/ab/%s", hex);
	bfs_repo_pack_key(key, id);
	is_str(key, want, "pack key");

	is_int(bfs_repo_manifest_key(key, "2026-11-20_05-15-00"), 0,
	       "valid backup id");
	is_str(key, "manifests/2026-11-20_05-15-00", "manifest key");
	is_int(bfs_repo_manifest_key(key, "../config"), -EINVAL,
	       "'../config' rejected");
	is_int(bfs_repo_manifest_key(key, ""), -EINVAL, "empty id rejected");
	is_int(bfs_repo_manifest_key(key, ".."), -EINVAL, "'..' rejected");
	is_int(bfs_repo_manifest_key(key, "latest"), -EINVAL,
	       "'latest' rejected");
	is_int(bfs_repo_manifest_key(key, "a/b"), -EINVAL, "'a/b' rejected");
	memset(id129, 'a', 129);
	id129[129] = '\0';
	is_int(bfs_repo_manifest_key(key, id129), -EINVAL,
	       "129-char id rejected");
	id129[128] = '\0';
	is_int(bfs_repo_manifest_key(key, id129), 0, "128-char id accepted");
}

static void test_chunkref(void)
{
	struct bfs_chunkref c, d;
	uint8_t blob[BFS_CHUNKREF_BLOB];
	size_t i;

	for (i = 0; i < BFS_HASH_LEN; i++) {
		c.hash[i] = (uint8_t)i;
		c.pack[i] = (uint8_t)(255 - i);
	}
	c.offset = 0x0102030405060708ull;
	c.clen = 0x0a0b0c0d;
	c.len = 0x11223344;
	memset(blob, 0xee, sizeof(blob));
	bfs_chunkref_pack(blob, &c);
	ok(!memcmp(blob, c.hash, 32) && !memcmp(blob + 32, c.pack, 32),
	   "blob: hash then pack");
	ok(blob[64] == 0x08 && blob[71] == 0x01 && blob[72] == 0x0d &&
	       blob[75] == 0x0a && blob[76] == 0x44 && blob[79] == 0x11,
	   "blob: offset, clen, len little-endian at 64, 72, 76");
	memset(&d, 0, sizeof(d));
	bfs_chunkref_unpack(&d, blob);
	ok(!memcmp(d.hash, c.hash, 32) && !memcmp(d.pack, c.pack, 32) &&
	       d.offset == c.offset && d.clen == c.clen && d.len == c.len,
	   "chunkref round trip");
}

/* ---- chunk reads (need pack.c's zstd helpers) ---- */

#define NCHUNK 5

static void fill(uint8_t *p, size_t n, uint32_t seed, bool random)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = random ? (uint8_t)(seed >> 16)
			      : (uint8_t)("abcdefgh"[i % 8]);
	}
}

static void test_chunks(void)
{
	static const size_t lens[NCHUNK] = {1000, 70000, 5, 300000, 4096};
	struct bfs_err err = {""};
	struct bfs_chunkref refs[NCHUNK + 1], two[2], bad;
	struct bfs_buf pack = {0};
	struct bfs_repo *r = NULL;
	struct bfs_store *w;
	uint8_t *plain[NCHUNK], *outs[NCHUNK + 1], pid[BFS_HASH_LEN];
	char key[BFS_KEY_MAX], path[4400];
	int rc, i, good = 1;

	rc = bfs_repo_init(path_in("crepo"), NULL, &r, &err);
	if (rc) {
		ok(0, "init for chunk tests: %s", err.msg);
		return;
	}
	bfs_buf_append(&pack, BFS_PACK_MAGIC, BFS_PACK_HEADER);
	for (i = 0; i < NCHUNK; i++) {
		size_t off = pack.len;

		plain[i] = malloc(lens[i]);
		outs[i] = malloc(lens[i]);
		fill(plain[i], lens[i], (uint32_t)i, i % 2 == 0);
		rc = bfs_zstd_compress(&pack, plain[i], lens[i], 3, &err);
		if (rc) {
			ok(0, "bfs_zstd_compress: %s", err.msg);
			goto out;
		}
		bfs_sha256(refs[i].hash, plain[i], lens[i]);
		refs[i].offset = off;
		refs[i].clen = (uint32_t)(pack.len - off);
		refs[i].len = (uint32_t)lens[i];
	}
	/* A trailing region after the frames, as the index would be. */
	bfs_buf_append(&pack, "TRAILERTRAILER", 14);
	bfs_sha256(pid, pack.data, pack.len);
	for (i = 0; i < NCHUNK; i++)
		memcpy(refs[i].pack, pid, BFS_HASH_LEN);
	bfs_repo_pack_key(key, pid);
	rc = bfs_store_put(r->store, key, pack.data, pack.len, BFS_PUT_EXCL,
			   &err);
	is_int(rc, 0, "store a hand-built pack");

	for (i = 0; i < NCHUNK; i++) {
		memset(outs[i], 0, lens[i]);
		rc = bfs_repo_read_chunk(r, &refs[i], outs[i], &err);
		if (rc || memcmp(outs[i], plain[i], lens[i])) {
			good = 0;
			diag("chunk %d: %d %s", i, rc, err.msg);
		}
	}
	ok(good, "read_chunk returns every chunk verified");

	/* Shuffled, with a duplicate (a file holding the same chunk twice),
	 * through a second handle whose store fails every 2nd pack read: a
	 * call passes only if it fetches everything with one get. */
	{
		static const int order[NCHUNK + 1] = {3, 0, 4, 1, 2, 0};
		struct bfs_chunkref shuf[NCHUNK + 1];
		struct bfs_repo *r2 = NULL;

		for (i = 0; i < NCHUNK; i++)
			free(outs[i]);
		for (i = 0; i < NCHUNK + 1; i++) {
			shuf[i] = refs[order[i]];
			outs[i] = calloc(1, lens[order[i]]);
		}
		rc = bfs_repo_open(path_in("crepo"), NULL, &r2, &err);
		if (rc == 0)
			rc = bfs_store_fault_wrap(
			    r2->store, "get:key=packs/:every=2:err=EIO", &w,
			    &err);
		if (rc == 0)
			r2->store = w;
		is_int(rc, 0, "second handle with a fault store");
		rc = r2 ? bfs_repo_read_chunks(r2, shuf, NCHUNK + 1, outs, &err)
			: -1;
		is_int(rc, 0, "read_chunks of adjacent chunks uses one get: %s",
		       rc ? err.msg : "");
		good = 1;
		for (i = 0; i < NCHUNK + 1; i++) {
			if (memcmp(outs[i], plain[order[i]], lens[order[i]]))
				good = 0;
			free(outs[i]);
		}
		ok(good, "read_chunks fills each out in the caller's order");
		for (i = 0; i < NCHUNK; i++)
			outs[i] = malloc(lens[i]);
		rc = r2 ? bfs_repo_read_chunks(r2, shuf, 2, outs, &err) : -1;
		is_int(rc, -EIO, "second call's get hits the injected EIO");
		ok(strstr(err.msg, key) != NULL,
		   "store errors name the pack: %s", err.msg);
		bfs_repo_close(r2);
	}
	is_int(bfs_repo_read_chunks(r, refs, 0, outs, &err), 0, "zero chunks");

	two[0] = refs[0];
	two[1] = refs[1];
	two[1].pack[0] ^= 1;
	rc = bfs_repo_read_chunks(r, two, 2, outs, &err);
	is_int(rc, -EINVAL, "chunks of two packs are -EINVAL");

	/* Wrong expected hash. */
	bad = refs[2];
	bad.hash[0] ^= 1;
	err.msg[0] = '\0';
	rc = bfs_repo_read_chunk(r, &bad, outs[2], &err);
	is_int(rc, -EBADMSG, "hash mismatch is -EBADMSG");
	{
		char want[700], h[13];

		bfs_hex(h, bad.hash, 6);
		snprintf(want, sizeof(want),
			 "chunk %s in pack '%s' fails its checksum", h, key);
		is_str(err.msg, want, "checksum message names chunk and pack");
	}

	/* Lying lengths are refused before anything is fetched. */
	bad = refs[0];
	bad.len = BFS_CHUNK_MAX_LIMIT + 1;
	is_int(bfs_repo_read_chunk(r, &bad, outs[0], &err), -EUCLEAN,
	       "len above the chunk limit is -EUCLEAN");
	bad = refs[0];
	bad.clen = 100u << 20;
	is_int(bfs_repo_read_chunk(r, &bad, outs[0], &err), -EUCLEAN,
	       "huge clen is -EUCLEAN");
	bad = refs[0];
	bad.offset = UINT64_MAX - 10;
	is_int(bfs_repo_read_chunk(r, &bad, outs[0], &err), -EUCLEAN,
	       "overflowing offset is -EUCLEAN");
	bad = refs[0];
	bad.offset = pack.len - 5;
	rc = bfs_repo_read_chunk(r, &bad, outs[0], &err);
	is_int(rc, -EUCLEAN, "frame past the end of the pack is -EUCLEAN");
	bad = refs[0];
	bad.len = refs[0].len - 1;
	rc = bfs_repo_read_chunk(r, &bad, outs[0], &err);
	is_int(rc, -EUCLEAN, "wrong plain length is -EUCLEAN");
	ok(strstr(err.msg, key) != NULL, "corrupt frame names the pack: %s",
	   err.msg);

	/* Missing pack. */
	bad = refs[0];
	bad.pack[5] ^= 0x40;
	rc = bfs_repo_read_chunk(r, &bad, outs[0], &err);
	is_int(rc, -ENOENT, "missing pack is -ENOENT");
	{
		char mkey[BFS_KEY_MAX];

		bfs_repo_pack_key(mkey, bad.pack);
		ok(strstr(err.msg, mkey) != NULL,
		   "message names the pack key: %s", err.msg);
	}

	/* Tamper with the pack on disk: a byte inside chunk 0's raw block. */
	snprintf(path, sizeof(path), "%s/%s", path_in("crepo"), key);
	{
		int fd = open(path, O_RDWR);
		uint8_t byte;
		off_t at = (off_t)(refs[0].offset + refs[0].clen - 10);

		if (fd < 0 || pread(fd, &byte, 1, at) != 1) {
			ok(0, "open pack file %s", path);
		} else {
			byte ^= 0x20;
			if (pwrite(fd, &byte, 1, at) != 1)
				diag("pwrite failed");
		}
		if (fd >= 0)
			close(fd);
	}
	rc = bfs_repo_read_chunk(r, &refs[0], outs[0], &err);
	is_int(rc, -EBADMSG, "tampered pack is -EBADMSG: %s", err.msg);
	rc = bfs_repo_read_chunks(r, refs, NCHUNK, outs, &err);
	is_int(rc, -EBADMSG, "read_chunks sees the tampered chunk too");
	rc = bfs_repo_read_chunk(r, &refs[1], outs[1], &err);
	ok(rc == 0 && !memcmp(outs[1], plain[1], lens[1]),
	   "other chunks of the pack still read");

	/* Corruption on the wire (fault store) is caught the same way. */
	bfs_store_fault_wrap(r->store, "get:corrupt=1", &w, &err);
	r->store = w;
	rc = bfs_repo_read_chunk(r, &refs[3], outs[3], &err);
	ok(rc == -EBADMSG || rc == -EUCLEAN,
	   "a flipped byte in transit is caught (%d): %s", rc, err.msg);
out:
	for (i = 0; i < NCHUNK; i++) {
		free(plain[i]);
		free(outs[i]);
	}
	bfs_buf_free(&pack);
	bfs_repo_close(r);
}

int main(void)
{
	struct bfs_store *s = NULL;
	int rc;

	umask(022);
	unsetenv("BACKUPFS_FAULT");
	tmpdir = tl_tmpdir("test-store");
	test_open();
	rc = bfs_store_local_open(path_in("local"), true, &s, NULL);
	is_int(rc, 0, "open a local store");
	if (rc == 0) {
		test_roundtrip(s);
		test_invalid_keys(s);
		test_list(s);
		test_threads(s);
		bfs_store_free(s);
		test_fault();
	}
	test_repo();
	test_keys();
	test_chunkref();
	test_chunks();
	return tap_done();
}
