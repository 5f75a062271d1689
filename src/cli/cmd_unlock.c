/* cmd_unlock.c - `backupfs unlock`: list the repository's locks and remove
 * stale ones (or all of them).  The protocol is src/lock.h's. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "src/timefmt.h"

struct unlock_args {
	bool stale, all, list, json;
};

/* "prune, exclusive, pid 123 on host h, user u, since T, refreshed T2"
 * for a valid lock; "unreadable" otherwise. */
static void describe(const struct bfs_lock_info *li, char *out, size_t n)
{
	char t[BFS_TIME_STRLEN], rt[BFS_TIME_STRLEN];
	int64_t s = 1000000000;

	if (!li->valid) {
		snprintf(out, n, "unreadable lock object");
		return;
	}
	if (bfs_time_format(li->time_ns / s * s, true, t, sizeof(t)) < 0)
		snprintf(t, sizeof(t), "?");
	if (bfs_time_format(li->refreshed_ns / s * s, true, rt, sizeof(rt)) < 0)
		snprintf(rt, sizeof(rt), "?");
	snprintf(out, n,
		 "%s, %s, pid %lld on host %s, user %s, since %s, "
		 "refreshed %s",
		 li->command,
		 li->kind == BFS_LOCK_EXCLUSIVE ? "exclusive" : "shared",
		 (long long)li->pid, li->host, li->user, t, rt);
}

static const char *state(const struct bfs_lock_info *li)
{
	return !li->valid ? "unreadable" : li->stale ? "stale" : "live";
}

/* One lock as JSON (--list --json): key, state and, when readable, the
 * holder. */
static cJSON *lock_json(const struct bfs_lock_info *li)
{
	cJSON *o = cJSON_CreateObject();
	char t[BFS_TIME_STRLEN];

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "key", li->key);
	cJSON_AddStringToObject(o, "state", state(li));
	if (!li->valid)
		return o;
	cJSON_AddStringToObject(
	    o, "kind", li->kind == BFS_LOCK_EXCLUSIVE ? "exclusive" : "shared");
	cJSON_AddStringToObject(o, "command", li->command);
	cJSON_AddStringToObject(o, "host", li->host);
	cli_json_add_int(o, "pid", li->pid);
	cJSON_AddStringToObject(o, "user", li->user);
	if (bfs_time_format(li->time_ns, true, t, sizeof(t)) == 0)
		cJSON_AddStringToObject(o, "time", t);
	if (bfs_time_format(li->refreshed_ns, true, t, sizeof(t)) == 0)
		cJSON_AddStringToObject(o, "refreshed", t);
	return o;
}

static int print_json(const struct bfs_lock_info *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	char *s = NULL;
	size_t i;

	for (i = 0; a && i < n; i++) {
		cJSON *o = lock_json(&v[i]);

		if (!o)
			break;
		cJSON_AddItemToArray(a, o);
	}
	if (a && i == n)
		s = cJSON_Print(a);
	cJSON_Delete(a);
	if (!s) {
		cli_error("unlock", "out of memory");
		return EXIT_ERR;
	}
	cli_json_write(s, strlen(s));
	putchar('\n');
	cJSON_free(s);
	return EXIT_OK;
}

static int run_unlock(struct cli_ctx *ctx)
{
	const struct unlock_args *a = ctx->args;
	struct cli_common *c = &ctx->c;
	struct bfs_lock_info *v = NULL;
	struct bfs_err err = {""};
	struct bfs_repo *r = NULL;
	size_t n = 0, i, removed = 0, live = 0;
	char desc[1024];
	int rc;

	rc = bfs_repo_open(c->repo, &c->sopts, &r, &err);
	if (!rc)
		rc = bfs_lock_list(r, bfs_now_ns(), &v, &n, &err);
	if (rc) {
		cli_error("unlock", "%s", bfs_err_str(&err, rc));
		rc = EXIT_ERR;
		goto out;
	}
	if (a->list && a->json) {
		rc = print_json(v, n);
		goto out;
	}
	if (a->list) {
		for (i = 0; i < n; i++) {
			describe(&v[i], desc, sizeof(desc));
			printf("%s  %-10s  %s\n", cli_q(v[i].key), state(&v[i]),
			       cli_q(desc));
		}
		if (n == 0 && !c->quiet)
			fprintf(stderr, "no locks\n");
		rc = EXIT_OK;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!a->all && !v[i].stale)
			continue;
		err.msg[0] = '\0';
		rc = bfs_store_del(r->store, v[i].key, &err);
		if (rc == -ENOENT)
			continue; /* released meanwhile */
		if (rc) {
			cli_error("unlock", "cannot remove lock '%s': %s",
				  v[i].key, bfs_err_str(&err, rc));
			rc = EXIT_ERR;
			goto out;
		}
		describe(&v[i], desc, sizeof(desc));
		printf("removed %s lock %s (%s)\n", state(&v[i]),
		       cli_q(v[i].key), cli_q(desc));
		removed++;
	}
	for (i = 0; i < n; i++)
		if (!v[i].stale)
			live++;
	if (!c->quiet) {
		if (removed == 0)
			fprintf(stderr, "no %slocks to remove\n",
				a->all ? "" : "stale ");
		if (!a->all && live)
			fprintf(stderr,
				"%zu lock%s not stale (held, or unreadable): "
				"see 'backupfs unlock --list'; --all removes "
				"them too\n",
				live, live == 1 ? " is" : "s are");
	}
	rc = EXIT_OK;
out:
	free(v);
	bfs_repo_close(r);
	return rc;
}

static int check_unlock(struct cli_ctx *ctx)
{
	const struct unlock_args *a = ctx->args;

	if (a->all + a->stale + a->list > 1)
		return cli_usage_error(&cmd_unlock,
				       "--stale, --all and --list exclude each "
				       "other");
	if (a->json && !a->list)
		return cli_usage_error(&cmd_unlock, "--json goes with --list");
	return 0;
}

static const struct cli_opt unlock_opts[] = {
    CLI_FLAG(0, "stale", struct unlock_args, stale,
	     "remove the stale locks only (the default)"),
    CLI_FLAG(0, "all", struct unlock_args, all,
	     "remove every lock, also those of running processes and "
	     "unreadable ones"),
    CLI_FLAG(0, "list", struct unlock_args, list,
	     "list the locks (key, live/stale/unreadable, holder), remove "
	     "nothing"),
    CLI_OPT_JSON(struct unlock_args, json,
		 "with --list: a JSON array of {key, state, kind, command, "
		 "host, pid, user, time, refreshed}"),
    CLI_END};

const struct bfs_cmd cmd_unlock = {
    .name = "unlock",
    .run = run_unlock,
    .summary = "list or remove the repository's locks",
    .synopsis = "backupfs unlock [-r REPO] [--stale | --all | --list [--json]]",
    .description =
	"backup, copy, forget, delete, check, import and prune --dry-run\n"
	"hold a shared lock on the repository while they work, prune and\n"
	"migrate an exclusive one\n"
	"(objects under locks/, doc/FORMAT.md).  A process that dies leaves\n"
	"its lock behind.  A lock is stale when its holder has not refreshed\n"
	"it for 30 minutes (holders refresh every 5), or at once when it was\n"
	"taken on this host by a process that no longer runs.  Stale locks\n"
	"block nobody; this command removes them, and prints each lock it\n"
	"removes.",
    .opts = unlock_opts,
    .notes =
	"--all also removes the locks of processes that still run: they\n"
	"then fail before they commit (a lost lock), but only use it when\n"
	"you know none runs, or to remove an unreadable lock object.",
    .examples = "  backupfs unlock -r /srv/backups/app --list\n"
		"  backupfs unlock -r s3://acme-backups/app\n"
		"  backupfs unlock -r s3://acme-backups/app --all",
    .exit_codes = "0 ok (also when nothing was removed), 1 error, 2 usage "
		  "error.",
    .flags = CLI_REPO,
    .max_args = 0,
    .args_size = sizeof(struct unlock_args),
    .check = check_unlock,
};
