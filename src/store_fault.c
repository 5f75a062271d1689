/* store_fault.c - TEST-ONLY store wrapper that injects faults, so the
 * error paths (EIO from a pack read, a corrupt chunk, a timeout) can be
 * exercised by unit and end-to-end tests.  (Like SQLite's test VFS.)
 *
 * Spec grammar: comma-separated rules, each colon-separated fields:
 *
 *   spec   := rule ( "," rule )*
 *   rule   := OP ( ":" field )*
 *   OP     := get | put | list | del | stat | any
 *   field  := key=PREFIX     only keys starting with PREFIX (default: all;
 *                            for list, the list prefix must start with it)
 *           | every=N        fire on the Nth, 2Nth, ... matching call
 *                            (N >= 1, default 1 = every call)
 *           | err=NAME       fail the call without calling the inner
 *                            store; NAME is EIO, ENOENT, ETIMEDOUT,
 *                            ENOSPC, EACCES, ECONNRESET, EUCLEAN, EBADMSG
 *           | corrupt=1      (get only) flip one byte of the returned data
 *           | truncate=1     (get only) return one byte less
 *           | kill=1         SIGKILL the process before the call reaches
 *                            the store (crash tests: "any:every=N:kill=1"
 *                            stops a run at its Nth store operation)
 *
 * A rule needs exactly one of err / corrupt / truncate / kill.  Each rule has
 * its own counter of matching calls (atomic, so the wrapper is as thread-safe
 * as the store it wraps).  Every matching rule counts every call; the
 * first firing err rule wins, data faults apply after the inner get.
 *
 * Examples:
 *   get:key=packs/:every=3:err=EIO      every 3rd pack read fails
 *   get:key=packs/:corrupt=1            every pack read returns bad bytes
 *   put:err=ENOSPC,list:every=2:err=ETIMEDOUT
 *
 * bfs_store_open() applies $BACKUPFS_FAULT with this grammar (test-only).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

enum fault_op { OP_GET, OP_PUT, OP_LIST, OP_DEL, OP_STAT, OP_ANY };

struct fault_rule {
	enum fault_op op;
	char *key; /* prefix, owned; "" matches all */
	uint64_t every;
	int err; /* positive errno, or 0 */
	bool corrupt;
	bool truncate;
	bool kill;
	atomic_uint_fast64_t count; /* matching calls so far */
};

struct fault_store {
	struct bfs_store base;
	struct bfs_store *inner; /* owned */
	struct fault_rule *rules;
	size_t nrules;
};

static const struct {
	const char *name;
	int code;
} fault_errs[] = {
    {"EIO", EIO},	  {"ENOENT", ENOENT},	{"ETIMEDOUT", ETIMEDOUT},
    {"ENOSPC", ENOSPC},	  {"EACCES", EACCES},	{"ECONNRESET", ECONNRESET},
    {"EUCLEAN", EUCLEAN}, {"EBADMSG", EBADMSG},
};

static const char *const op_names[] = {"get", "put",  "list",
				       "del", "stat", "any"};

static struct fault_store *to_fault(struct bfs_store *s)
{
	return (struct fault_store *)s;
}

struct fault_hit {
	int err; /* positive errno or 0 */
	bool corrupt, truncate;
};

/* Count this call against every matching rule; say what fires. */
static struct fault_hit fault_check(struct fault_store *fs, enum fault_op op,
				    const char *key)
{
	struct fault_hit hit = {0, false, false};
	size_t i;

	for (i = 0; i < fs->nrules; i++) {
		struct fault_rule *r = &fs->rules[i];
		uint64_t n;

		if (r->op != OP_ANY && r->op != op)
			continue;
		if (strncmp(key, r->key, strlen(r->key)) != 0)
			continue;
		n = atomic_fetch_add(&r->count, 1) + 1;
		if (n % r->every)
			continue;
		if (r->kill)
			raise(SIGKILL);
		if (r->err && !hit.err)
			hit.err = r->err;
		hit.corrupt |= r->corrupt;
		hit.truncate |= r->truncate;
	}
	return hit;
}

static int fault_fail(int code, const char *op, const char *key,
		      struct bfs_err *err)
{
	return bfs_err_set(err, -code, "injected fault: cannot %s '%s': %s", op,
			   key, strerror(code));
}

static int64_t fault_get(struct bfs_store *s, const char *key, uint64_t off,
			 uint64_t len, struct bfs_buf *out, struct bfs_err *err)
{
	struct fault_store *fs = to_fault(s);
	struct fault_hit hit = fault_check(fs, OP_GET, key);
	size_t start = out->len;
	int64_t got;

	if (hit.err)
		return fault_fail(hit.err, "get", key, err);
	got = bfs_store_get(fs->inner, key, off, len, out, err);
	if (got <= 0)
		return got;
	if (hit.truncate) {
		out->len--;
		got--;
	}
	if (hit.corrupt && got > 0)
		out->data[start + (size_t)got / 2] ^= 0xff;
	return got;
}

static int fault_put(struct bfs_store *s, const char *key, const void *data,
		     size_t len, int flags, struct bfs_err *err)
{
	struct fault_store *fs = to_fault(s);
	struct fault_hit hit = fault_check(fs, OP_PUT, key);

	if (hit.err)
		return fault_fail(hit.err, "put", key, err);
	return bfs_store_put(fs->inner, key, data, len, flags, err);
}

static int fault_list(struct bfs_store *s, const char *prefix, bfs_list_cb cb,
		      void *arg, struct bfs_err *err)
{
	struct fault_store *fs = to_fault(s);
	struct fault_hit hit = fault_check(fs, OP_LIST, prefix ? prefix : "");

	if (hit.err)
		return fault_fail(hit.err, "list", prefix ? prefix : "", err);
	return bfs_store_list(fs->inner, prefix, cb, arg, err);
}

static int fault_del(struct bfs_store *s, const char *key, struct bfs_err *err)
{
	struct fault_store *fs = to_fault(s);
	struct fault_hit hit = fault_check(fs, OP_DEL, key);

	if (hit.err)
		return fault_fail(hit.err, "delete", key, err);
	return bfs_store_del(fs->inner, key, err);
}

static int fault_stat(struct bfs_store *s, const char *key, uint64_t *size,
		      struct bfs_err *err)
{
	struct fault_store *fs = to_fault(s);
	struct fault_hit hit = fault_check(fs, OP_STAT, key);

	if (hit.err)
		return fault_fail(hit.err, "stat", key, err);
	return bfs_store_stat(fs->inner, key, size, err);
}

static void free_rules(struct fault_rule *rules, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(rules[i].key);
	free(rules);
}

static void fault_destroy(struct bfs_store *s)
{
	struct fault_store *fs = to_fault(s);

	bfs_store_free(fs->inner);
	free_rules(fs->rules, fs->nrules);
	free(fs->base.url);
	free(fs);
}

static const struct bfs_store_ops fault_ops = {
    .name = "fault",
    .get = fault_get,
    .put = fault_put,
    .list = fault_list,
    .del = fault_del,
    .stat = fault_stat,
    .destroy = fault_destroy,
};

/* Parse one rule (text is modified).  0 or -EINVAL with a message. */
static int parse_rule(char *text, struct fault_rule *r, struct bfs_err *err)
{
	char *field, *next;
	size_t i;
	bool found = false;

	r->every = 1;
	next = strchr(text, ':');
	if (next)
		*next++ = '\0';
	for (i = 0; i < BFS_ARRAY_SIZE(op_names); i++) {
		if (!strcmp(text, op_names[i])) {
			r->op = (enum fault_op)i;
			found = true;
		}
	}
	if (!found)
		return bfs_err_set(
		    err, -EINVAL, "unknown operation '%s' in fault rule", text);

	while ((field = next) != NULL) {
		char *val;

		next = strchr(field, ':');
		if (next)
			*next++ = '\0';
		val = strchr(field, '=');
		if (!val)
			return bfs_err_set(err, -EINVAL,
					   "fault rule field '%s' has no value",
					   field);
		*val++ = '\0';
		if (!strcmp(field, "key")) {
			free(r->key);
			r->key = strdup(val);
			if (!r->key)
				return bfs_err_set(err, -ENOMEM,
						   "out of memory");
		} else if (!strcmp(field, "every")) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(val, &end, 10);
			if (errno || end == val || *end || v == 0 ||
			    *val == '-')
				return bfs_err_set(
				    err, -EINVAL,
				    "invalid every=%s in fault rule", val);
			r->every = v;
		} else if (!strcmp(field, "err")) {
			r->err = 0;
			for (i = 0; i < BFS_ARRAY_SIZE(fault_errs); i++)
				if (!strcmp(val, fault_errs[i].name))
					r->err = fault_errs[i].code;
			if (!r->err)
				return bfs_err_set(
				    err, -EINVAL,
				    "unknown error '%s' in fault rule", val);
		} else if (!strcmp(field, "corrupt") ||
			   !strcmp(field, "truncate") ||
			   !strcmp(field, "kill")) {
			if (strcmp(val, "1") != 0)
				return bfs_err_set(
				    err, -EINVAL,
				    "%s=%s in fault rule: only 1 is allowed",
				    field, val);
			if (field[0] == 'c')
				r->corrupt = true;
			else if (field[0] == 'k')
				r->kill = true;
			else
				r->truncate = true;
		} else {
			return bfs_err_set(err, -EINVAL,
					   "unknown field '%s' in fault rule",
					   field);
		}
	}
	if (!r->key) {
		r->key = strdup("");
		if (!r->key)
			return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	if ((r->err != 0) + r->corrupt + r->truncate + r->kill != 1)
		return bfs_err_set(err, -EINVAL,
				   "a fault rule needs exactly one of err=, "
				   "corrupt=1, truncate=1, kill=1");
	if ((r->corrupt || r->truncate) && r->op != OP_GET && r->op != OP_ANY)
		return bfs_err_set(
		    err, -EINVAL, "corrupt=1 and truncate=1 apply to get only");
	return 0;
}

/* Wrap inner (ownership transferred, even on failure) in a store that
 * injects the faults of spec (grammar at the top of this file).  *out is
 * owned by the caller.  Returns 0, or -EINVAL with a message for a bad
 * spec, -ENOMEM.  The wrapper is as thread-safe as inner. */
int bfs_store_fault_wrap(struct bfs_store *inner, const char *spec,
			 struct bfs_store **out, struct bfs_err *err)
{
	struct fault_store *fs = NULL;
	char *copy = NULL, *rule, *next;
	size_t n = 1;
	const char *p;
	int rc;

	*out = NULL;
	if (!inner)
		return bfs_err_set(err, -EINVAL, "no store to wrap");
	if (!spec || !*spec) {
		rc = bfs_err_set(err, -EINVAL, "empty fault spec");
		goto out_free_inner;
	}
	for (p = spec; *p; p++)
		n += *p == ',';
	copy = strdup(spec);
	fs = calloc(1, sizeof(*fs));
	if (fs)
		fs->rules = calloc(n, sizeof(*fs->rules));
	if (fs)
		fs->base.url = strdup(inner->url ? inner->url : "");
	if (!copy || !fs || !fs->rules || !fs->base.url) {
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
		goto out_free_fs;
	}
	for (rule = copy; rule; rule = next) {
		struct fault_rule *r = &fs->rules[fs->nrules++];

		next = strchr(rule, ',');
		if (next)
			*next++ = '\0';
		atomic_init(&r->count, 0);
		rc = parse_rule(rule, r, err);
		if (rc) {
			bfs_err_prefix(err, rc, "invalid fault spec '%s'",
				       spec);
			goto out_free_fs;
		}
	}
	fs->base.ops = &fault_ops;
	fs->inner = inner;
	free(copy);
	*out = &fs->base;
	return 0;

out_free_fs:
	if (fs) {
		free_rules(fs->rules, fs->nrules);
		free(fs->base.url);
		free(fs);
	}
	free(copy);
out_free_inner:
	bfs_store_free(inner);
	return rc;
}
