/* exclude.c - --exclude patterns (see exclude.h for the rules).
 *
 * A pattern is compiled into tokens: a literal byte, `?`, a set, `*`
 * (no '/'), `**` (anything) and `**` + '/' (nothing, or anything that
 * ends with '/').  Patterns without `**` are matched by the greedy
 * one-star backtracking walk, which is linear here because neither `*`
 * nor any other token but a literal '/' matches '/': once a '/' is matched
 * no earlier star can move.  Patterns with `**` are matched by a
 * table over (token, position), O(tokens x length).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exclude.h"

enum tok_kind { T_LIT, T_ANY, T_SET, T_STAR, T_STAR2, T_STAR2_SLASH };

struct tok {
	enum tok_kind kind;
	unsigned char c; /* T_LIT */
	uint8_t set[32]; /* T_SET: bitmap of the bytes it matches */
};

struct pat {
	struct tok *t;
	size_t nt;
	bool path;     /* match the whole relative path, else the name */
	bool dir_only; /* trailing '/' */
	bool deep;     /* has `**`: the table matcher */
	uint64_t hits;
};

struct bfs_exclude {
	struct pat *p;
	size_t n;
	uint8_t *cur, *nxt; /* the table matcher's rows */
	size_t rowcap;
	char *tmp; /* match_path: a prefix of rel */
	size_t tmpcap;
};

static bool set_has(const uint8_t *set, unsigned char c)
{
	return set[c >> 3] & (1u << (c & 7));
}

static void set_add(uint8_t *set, unsigned char c)
{
	set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

/* Parse a set starting after '[' at s[*i]; *i ends after ']'.  -EINVAL
 * when it is not closed. */
static int parse_set(const char *s, size_t len, size_t *i, struct tok *t)
{
	size_t k = *i;
	bool neg = false, first = true;
	unsigned c;

	memset(t->set, 0, sizeof(t->set));
	if (k < len && (s[k] == '!' || s[k] == '^')) {
		neg = true;
		k++;
	}
	for (;; first = false) {
		unsigned char lo, hi;

		if (k >= len)
			return -EINVAL;
		if (s[k] == ']' && !first)
			break;
		if (s[k] == '\\' && k + 1 < len)
			k++;
		lo = (unsigned char)s[k++];
		hi = lo;
		if (k + 1 < len && s[k] == '-' && s[k + 1] != ']') {
			k++;
			if (s[k] == '\\' && k + 1 < len)
				k++;
			hi = (unsigned char)s[k++];
		}
		for (c = lo; c <= hi; c++)
			set_add(t->set, (unsigned char)c);
	}
	*i = k + 1;
	if (neg)
		for (c = 0; c < sizeof(t->set); c++)
			t->set[c] = (uint8_t)~t->set[c];
	t->set['/' >> 3] &= (uint8_t) ~(1u << ('/' & 7)); /* never '/' */
	t->kind = T_SET;
	return 0;
}

/* Compile pattern s[0..len) (leading and trailing '/' already taken off)
 * into p->t.  -EINVAL with err, -ENOMEM. */
static int compile(struct pat *p, const char *s, size_t len, const char *orig,
		   struct bfs_err *err)
{
	size_t i = 0, n = 0;
	struct tok *t = calloc(len ? len : 1, sizeof(*t));

	if (!t)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	while (i < len) {
		struct tok *k = &t[n++];

		if (s[i] == '*') {
			size_t j = i;

			while (j < len && s[j] == '*')
				j++;
			if (j - i == 1) {
				k->kind = T_STAR;
			} else if (j < len && s[j] == '/') {
				k->kind = T_STAR2_SLASH;
				j++;
			} else {
				k->kind = T_STAR2;
			}
			if (k->kind != T_STAR)
				p->deep = true;
			i = j;
		} else if (s[i] == '?') {
			k->kind = T_ANY;
			i++;
		} else if (s[i] == '[') {
			i++;
			if (parse_set(s, len, &i, k)) {
				free(t);
				return bfs_err_set(err, -EINVAL,
						   "--exclude '%s': a '[' is "
						   "not closed by ']' (write "
						   "\\[ for a literal one)",
						   orig);
			}
		} else {
			if (s[i] == '\\') {
				if (i + 1 == len) {
					free(t);
					return bfs_err_set(
					    err, -EINVAL,
					    "--exclude '%s': ends in a "
					    "lone '\\'",
					    orig);
				}
				i++;
			}
			k->kind = T_LIT;
			k->c = (unsigned char)s[i++];
		}
	}
	p->t = t;
	p->nt = n;
	return 0;
}

static int parse_one(struct pat *p, const char *orig, const char *root,
		     struct bfs_err *err)
{
	const char *s = orig;
	size_t len = strlen(orig), rl;
	bool anchored = false;

	memset(p, 0, sizeof(*p));
	if (!len)
		return bfs_err_set(err, -EINVAL, "--exclude: empty pattern");
	if (len > BFS_EXCLUDE_MAX_LEN)
		return bfs_err_set(err, -EINVAL,
				   "--exclude pattern of %zu bytes: at most "
				   "%d",
				   len, BFS_EXCLUDE_MAX_LEN);
	while (len && s[len - 1] == '/' && !(len >= 2 && s[len - 2] == '\\')) {
		p->dir_only = true;
		len--;
	}
	if (s[0] == '/') {
		anchored = true;
		rl = root ? strlen(root) : 0;
		while (rl > 1 && root[rl - 1] == '/')
			rl--;
		if (rl > 1 && len > rl && !memcmp(s, root, rl) &&
		    s[rl] == '/') {
			s += rl;
			len -= rl;
		}
		while (len && s[0] == '/') {
			s++;
			len--;
		}
	}
	if (!len)
		return bfs_err_set(err, -EINVAL,
				   "--exclude '%s' would exclude the whole "
				   "source",
				   orig);
	p->path = anchored || memchr(s, '/', len) || strstr(orig, "**");
	return compile(p, s, len, orig, err);
}

int bfs_exclude_new(const char *const *patterns, size_t n, const char *root,
		    struct bfs_exclude **out, struct bfs_err *err)
{
	struct bfs_exclude *x = calloc(1, sizeof(*x));
	size_t i;
	int rc;

	*out = NULL;
	if (!x || (n && !(x->p = calloc(n, sizeof(*x->p))))) {
		free(x);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		rc = parse_one(&x->p[i], patterns[i], root, err);
		if (rc) {
			bfs_exclude_free(x);
			return rc;
		}
		x->n++;
	}
	*out = x;
	return 0;
}

void bfs_exclude_free(struct bfs_exclude *x)
{
	size_t i;

	if (!x)
		return;
	for (i = 0; i < x->n; i++)
		free(x->p[i].t);
	free(x->p);
	free(x->cur);
	free(x->nxt);
	free(x->tmp);
	free(x);
}

bool bfs_exclude_valid(const char *pattern, struct bfs_err *err)
{
	struct pat p;
	int rc = parse_one(&p, pattern, NULL, err);

	free(p.t);
	return rc == 0;
}

static bool one(const struct tok *t, unsigned char c)
{
	switch (t->kind) {
	case T_LIT:
		return t->c == c;
	case T_ANY:
		return c != '/';
	case T_SET:
		return set_has(t->set, c);
	default:
		return false;
	}
}

/* Patterns without `**`: greedy, backtracking to the last `*` only. */
static bool match_flat(const struct pat *p, const char *s, size_t n)
{
	size_t i = 0, k = 0, si = 0, sk = SIZE_MAX;

	while (i < n) {
		if (k < p->nt && p->t[k].kind == T_STAR) {
			sk = k++;
			si = i;
			continue;
		}
		if (k < p->nt && one(&p->t[k], (unsigned char)s[i])) {
			if (s[i] == '/')
				sk = SIZE_MAX; /* no star moves past it */
			k++;
			i++;
			continue;
		}
		if (sk != SIZE_MAX && s[si] != '/') {
			i = ++si;
			k = sk + 1;
			continue;
		}
		return false;
	}
	while (k < p->nt && p->t[k].kind == T_STAR)
		k++;
	return k == p->nt;
}

/* Patterns with `**`: row j of the table says whether the tokens so far
 * match s[0..j). */
static bool match_deep(struct bfs_exclude *x, const struct pat *p,
		       const char *s, size_t n)
{
	uint8_t *cur, *nxt, *sw;
	size_t k, j;
	bool acc;

	if (n + 1 > x->rowcap) {
		uint8_t *a = realloc(x->cur, n + 1), *b;

		if (!a)
			return false;
		x->cur = a;
		b = realloc(x->nxt, n + 1);
		if (!b)
			return false;
		x->nxt = b;
		x->rowcap = n + 1;
	}
	cur = x->cur;
	nxt = x->nxt;
	memset(cur, 0, n + 1);
	cur[0] = 1;
	for (k = 0; k < p->nt; k++) {
		const struct tok *t = &p->t[k];

		switch (t->kind) {
		case T_STAR:
			for (acc = false, j = 0; j <= n; j++) {
				if (j && s[j - 1] == '/')
					acc = false;
				acc = acc || cur[j];
				nxt[j] = acc;
			}
			break;
		case T_STAR2:
			for (acc = false, j = 0; j <= n; j++) {
				acc = acc || cur[j];
				nxt[j] = acc;
			}
			break;
		case T_STAR2_SLASH:
			for (acc = false, j = 0; j <= n; j++) {
				nxt[j] =
				    cur[j] || (acc && j && s[j - 1] == '/');
				acc = acc || cur[j];
			}
			break;
		default:
			nxt[0] = 0;
			for (j = 0; j < n; j++)
				nxt[j + 1] =
				    cur[j] && one(t, (unsigned char)s[j]);
			break;
		}
		sw = cur;
		cur = nxt;
		nxt = sw;
	}
	return cur[n];
}

bool bfs_exclude_match(struct bfs_exclude *x, const char *rel, int is_dir)
{
	const char *base = strrchr(rel, '/');
	size_t i, rn = strlen(rel), bn;
	bool hit = false;

	base = base ? base + 1 : rel;
	bn = rn - (size_t)(base - rel);
	for (i = 0; x && i < x->n; i++) {
		struct pat *p = &x->p[i];
		const char *s = p->path ? rel : base;
		size_t n = p->path ? rn : bn;
		bool m;

		if (p->dir_only && is_dir != 1)
			continue;
		m = p->deep ? match_deep(x, p, s, n) : match_flat(p, s, n);
		if (m) {
			p->hits++;
			hit = true;
		}
	}
	return hit;
}

bool bfs_exclude_match_path(struct bfs_exclude *x, const char *rel, int is_dir)
{
	const char *s;
	size_t len = strlen(rel);

	if (!x || !x->n)
		return false;
	if (len + 1 > x->tmpcap) {
		char *t = realloc(x->tmp, len + 1);

		if (!t)
			return false;
		x->tmp = t;
		x->tmpcap = len + 1;
	}
	for (s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
		memcpy(x->tmp, rel, (size_t)(s - rel));
		x->tmp[s - rel] = '\0';
		if (bfs_exclude_match(x, x->tmp, 1))
			return true;
	}
	return bfs_exclude_match(x, rel, is_dir);
}

size_t bfs_exclude_count(const struct bfs_exclude *x)
{
	return x ? x->n : 0;
}

uint64_t bfs_exclude_hits(const struct bfs_exclude *x, size_t i)
{
	return x && i < x->n ? x->p[i].hits : 0;
}
