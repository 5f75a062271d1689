/* test-exclude.c - --exclude patterns: the rules of exclude.h case by
 * case, the flat matcher against fnmatch(3) with FNM_PATHNAME on random
 * patterns and paths, the `**` matcher against a brute-force recursive
 * reference, hit counts, invalid patterns, and a pathological pattern
 * that would take exponential time in a naive backtracking matcher. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/exclude.h"
#include "tap.h"

static bool m1(const char *pat, const char *root, const char *rel, int is_dir)
{
	struct bfs_exclude *x = NULL;
	struct bfs_err err = {""};
	bool r;

	if (bfs_exclude_new(&pat, 1, root, &x, &err)) {
		diag("cannot compile '%s': %s", pat, err.msg);
		return false;
	}
	r = bfs_exclude_match(x, rel, is_dir);
	bfs_exclude_free(x);
	return r;
}

struct tcase {
	const char *pat, *root, *rel;
	int is_dir;
	bool want;
};

static const struct tcase cases[] = {
    /* a name at any depth */
    {"logs", NULL, "logs", 1, true},
    {"logs", NULL, "seatable/logs", 1, true},
    {"logs", NULL, "a/b/logs", 0, true},
    {"logs", NULL, "logsx", 0, false},
    {"*.tmp", NULL, "a/b/c.tmp", 0, true},
    {"*.tmp", NULL, "a.tmp/b", 0, false},
    {"?.txt", NULL, "d/x.txt", 0, true},
    {"[abc]*", NULL, "d/banana", 0, true},
    {"[!abc]*", NULL, "d/banana", 0, false},
    {"[^abc]*", NULL, "d/zebra", 0, true},
    {"[a-c]x", NULL, "bx", 0, true},
    {"[]]x", NULL, "]x", 0, true},
    {"\\*", NULL, "*", 0, true},
    {"\\*", NULL, "a", 0, false},
    /* a path from the source root */
    {"seatable/logs", NULL, "seatable/logs", 1, true},
    {"seatable/logs", NULL, "x/seatable/logs", 1, false},
    {"blocks/*/ab/0000*", NULL, "blocks/q/ab/00001", 0, true},
    {"blocks/*/ab/0000*", NULL, "blocks/q/r/ab/00001", 0, false},
    {"cache/x*", NULL, "cache/xy", 0, true},
    {"cache/x*", NULL, "cache/d/xy", 0, false},
    {"a/*", NULL, "a/b/c", 0, false},
    /* anchored */
    {"/logs", NULL, "logs", 1, true},
    {"/logs", NULL, "a/logs", 1, false},
    {"/srv/app/logs", "/srv/app", "logs", 1, true},
    {"/srv/app/logs", "/srv/app/", "logs", 1, true},
    {"/srv/app/logs", "/srv/app", "a/logs", 1, false},
    {"/srv/application/logs", "/srv/app", "logs", 1, false},
    {"/srv/app/logs", "/other", "srv/app/logs", 1, true},
    /* directories only */
    {"cache/", NULL, "a/cache", 1, true},
    {"cache/", NULL, "a/cache", 0, false},
    {"cache/", NULL, "a/cache", -1, false},
    {"cache", NULL, "a/cache", -1, true},
    /* ** */
    {"**/node_modules", NULL, "node_modules", 1, true},
    {"**/node_modules", NULL, "a/b/node_modules", 1, true},
    {"data/**/*.log", NULL, "data/x.log", 0, true},
    {"data/**/*.log", NULL, "data/a/b/x.log", 0, true},
    {"data/**/*.log", NULL, "other/data/x.log", 0, false},
    {"data/**", NULL, "data/a/b", 0, true},
    {"data/**", NULL, "data", 1, false},
    {"a**b", NULL, "a/x/b", 0, true},
    {"a**b", NULL, "ab", 0, true},
    {"**", NULL, "anything/at/all", 0, true},
};

/* Reference: the rules by brute force (exponential, fine for tiny
 * strings).  Pattern tokens as in exclude.c. */
static bool ref(const char *p, const char *s)
{
	if (!*p)
		return !*s;
	if (p[0] == '*' && p[1] == '*') {
		const char *q = p;
		bool slash;

		while (*q == '*')
			q++;
		slash = *q == '/';
		if (slash) {
			/* nothing, or anything ending in '/' */
			if (ref(q + 1, s))
				return true;
			for (const char *t = s; *t; t++)
				if (*t == '/' && ref(q + 1, t + 1))
					return true;
			return false;
		}
		for (const char *t = s;; t++) {
			if (ref(q, t))
				return true;
			if (!*t)
				return false;
		}
	}
	if (*p == '*') {
		for (const char *t = s;; t++) {
			if (ref(p + 1, t))
				return true;
			if (!*t || *t == '/')
				return false;
		}
	}
	if (!*s)
		return false;
	if (*p == '?')
		return *s != '/' && ref(p + 1, s + 1);
	return *p == *s && ref(p + 1, s + 1);
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void rand_str(char *out, size_t max, const char *alpha)
{
	size_t n = rnd((unsigned)max), i, k = strlen(alpha);

	for (i = 0; i < n; i++)
		out[i] = alpha[rnd((unsigned)k)];
	out[n] = '\0';
}

int main(void)
{
	struct bfs_err err = {""};
	struct bfs_exclude *x = NULL;
	size_t i, bad;
	char pat[16], path[16], big[4200], bigp[64];
	clock_t t0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];

		ok(m1(c->pat, c->root, c->rel, c->is_dir) == c->want,
		   "'%s' %s '%s'%s%s", c->pat, c->want ? "matches" : "misses",
		   c->rel, c->is_dir == 1 ? " (dir)" : "",
		   c->root ? " (root given)" : "");
	}

	/* flat patterns vs fnmatch(FNM_PATHNAME), on the name or the path */
	for (bad = 0, i = 0; i < 200000; i++) {
		const char *base, *subj;
		bool want;

		do
			rand_str(pat, 8, "ab/*?");
		while (!pat[0] || pat[0] == '/' || strstr(pat, "**") ||
		       pat[strlen(pat) - 1] == '/');
		do
			rand_str(path, 10, "ab/");
		while (!path[0] || path[0] == '/' ||
		       path[strlen(path) - 1] == '/' || strstr(path, "//"));
		base = strrchr(path, '/');
		base = base ? base + 1 : path;
		subj = strchr(pat, '/') ? path : base;
		want = fnmatch(pat, subj, FNM_PATHNAME) == 0;
		if (m1(pat, NULL, path, 0) != want && bad++ < 5)
			diag("flat: '%s' on '%s': want %d", pat, path, want);
	}
	is_int((long)bad, 0, "200,000 flat patterns agree with fnmatch");

	/* ** patterns vs the brute-force reference */
	for (bad = 0, i = 0; i < 100000; i++) {
		bool want;

		do
			rand_str(pat, 9, "ab/**?");
		while (!pat[0] || pat[0] == '/' ||
		       pat[strlen(pat) - 1] == '/' || !strstr(pat, "**"));
		do
			rand_str(path, 10, "ab/");
		while (!path[0] || path[0] == '/' ||
		       path[strlen(path) - 1] == '/' || strstr(path, "//"));
		want = ref(pat, path);
		if (m1(pat, NULL, path, 0) != want && bad++ < 5)
			diag("deep: '%s' on '%s': want %d", pat, path, want);
	}
	is_int((long)bad, 0, "100,000 ** patterns agree with the reference");

	/* hits: each pattern counts the entries it matched */
	{
		const char *pats[] = {"*.log", "cache/", "nothing-here"};

		is_int(bfs_exclude_new(pats, 3, NULL, &x, &err), 0,
		       "compile 3");
		bfs_exclude_match(x, "a.log", 0);
		bfs_exclude_match(x, "d/b.log", 0);
		bfs_exclude_match(x, "d/cache", 1);
		ok(bfs_exclude_match_path(x, "cache/x/y.txt", 0),
		   "match_path: below an excluded directory");
		ok(!bfs_exclude_match_path(x, "keep/x/y.txt", 0),
		   "match_path: nothing above matches");
		is_int((long)bfs_exclude_count(x), 3, "count");
		is_int((long)bfs_exclude_hits(x, 0), 2, "*.log: 2 hits");
		ok(bfs_exclude_hits(x, 1) >= 2, "cache/: hits");
		is_int((long)bfs_exclude_hits(x, 2), 0, "unmatched: 0 hits");
		bfs_exclude_free(x);
		x = NULL;
	}

	/* invalid patterns, each named */
	ok(!bfs_exclude_valid("", &err) && strstr(err.msg, "empty"),
	   "empty pattern refused: %s", err.msg);
	ok(!bfs_exclude_valid("/", &err) && strstr(err.msg, "whole source"),
	   "'/' refused: %s", err.msg);
	ok(!bfs_exclude_valid("a[bc", &err) && strstr(err.msg, "a[bc"),
	   "unclosed '[' refused, named: %s", err.msg);
	ok(!bfs_exclude_valid("ab\\", &err) && strstr(err.msg, "lone"),
	   "trailing backslash refused: %s", err.msg);
	ok(bfs_exclude_valid("a\\[b", &err), "escaped '[' is fine");

	/* no exponential blow-up: a*a*a*...b on a long run of a's, and
	 * the same with ** */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	strcpy(bigp, "*a*a*a*a*a*a*a*a*a*a*a*b");
	t0 = clock();
	ok(!m1(bigp, NULL, big, 0), "a*a*..b misses a long run of a's");
	strcpy(bigp, "**a**a**a**a**a**a**a**b");
	ok(!m1(bigp, NULL, big, 0), "a**a**..b misses it too");
	ok((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0,
	   "and both in well under 2 s");
	return tap_done();
}
