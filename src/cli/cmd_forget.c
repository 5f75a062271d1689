/* cmd_forget.c - `backupfs forget` (a retention policy, or ids) and
 * `backupfs delete ID...`: remove backups' manifests (src/forget.h),
 * under a shared lock; --prune then runs `backupfs prune`. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "src/forget.h"
#include "src/format.h"
#include "src/timefmt.h"

struct forget_args {
	struct bfs_ret_policy policy;
	struct bfs_ret_taglist *tags; /* --tag, owned */
	size_t ntags;
	const char *group_by, *lock_wait;
	const char *job;	/* --job: only that job's backups */
	unsigned group_by_keys; /* parsed by check_forget */
	int64_t lock_wait_ns;
	bool dry_run, prune, json;
};

static void forget_args_init(void *args)
{
	struct forget_args *a = args;

	bfs_ret_policy_init(&a->policy);
	a->group_by_keys = BFS_FORGET_BY_DEFAULT;
}

static void forget_args_free(void *args)
{
	struct forget_args *a = args;
	size_t i;

	bfs_ret_policy_fini(&a->policy);
	for (i = 0; i < a->ntags; i++)
		bfs_ret_taglist_fini(&a->tags[i]);
	free(a->tags);
}

enum { CB_POLICY, CB_TAG };

static int forget_cb(struct cli_ctx *ctx, const struct cli_opt *o,
		     const char *arg)
{
	struct forget_args *a = ctx->args;
	struct bfs_err err = {""};
	int rc;

	if (o->id == CB_TAG) {
		void *nv = realloc(a->tags, (a->ntags + 1) * sizeof(*a->tags));

		if (!nv)
			goto out_nomem;
		a->tags = nv;
		if (bfs_ret_taglist_parse(arg, &a->tags[a->ntags]))
			goto out_nomem;
		a->ntags++;
		return 0;
	}
	rc = bfs_ret_policy_parse_option(&a->policy, o->name, arg, &err);
	if (rc == -ENOMEM)
		goto out_nomem;
	if (rc)
		return cli_usage_error(ctx->cmd, "%s", bfs_err_str(&err, rc));
	return 0;
out_nomem:
	cli_error(ctx->cmd->name, "out of memory");
	return EXIT_ERR;
}

static int check_forget(struct cli_ctx *ctx)
{
	struct forget_args *a = ctx->args;
	struct bfs_err err = {""};
	bool policy =
	    !bfs_ret_policy_empty(&a->policy) || a->policy.allow_remove_all;
	int i, rc;

	if (a->group_by) {
		rc = bfs_forget_parse_group_by(a->group_by, &a->group_by_keys,
					       &err);
		if (rc)
			return cli_usage_error(ctx->cmd, "%s",
					       bfs_err_str(&err, rc));
	}
	rc = cli_parse_lock_wait(ctx->cmd, a->lock_wait, &a->lock_wait_ns);
	if (rc)
		return rc;
	for (i = 0; i < ctx->argc; i++)
		if (strcmp(ctx->argv[i], "latest") != 0 &&
		    !bfs_backup_id_valid(ctx->argv[i]))
			return cli_usage_error(
			    ctx->cmd, "invalid backup id '%s'", ctx->argv[i]);
	if (ctx->argc && policy)
		return cli_usage_error(ctx->cmd, "give backup ids or a policy "
						 "(--keep-*), not both");
	if (ctx->argc && (a->ntags || a->group_by || a->job))
		return cli_usage_error(
		    ctx->cmd, "--tag, --job and --group-by apply to a policy, "
			      "not to backup ids");
	if (a->job && !bfs_format_job_name_valid(a->job))
		return cli_usage_error(ctx->cmd,
				       "invalid job name '%s' (1-%d of A-Z a-z "
				       "0-9 . _ -, not starting with . or -)",
				       a->job, BFS_JOB_NAME_MAX);
	if (!ctx->argc && !policy)
		return cli_usage_error(ctx->cmd,
				       "no policy was specified, no backups "
				       "will be removed: give backup ids or "
				       "--keep-* options");
	/* restic's guard: removing everything needs a filter */
	if (a->policy.allow_remove_all && !a->ntags && !a->job)
		return cli_usage_error(
		    ctx->cmd, "--unsafe-allow-remove-all needs a --tag "
			      "or --job filter (use 'backupfs delete ID...' "
			      "to remove named backups)");
	return 0;
}

struct collect {
	struct bfs_forget_set *set;
	struct bfs_err *err;
	int rc;
};

static int collect_cb(void *arg, const struct bfs_backup_info *b)
{
	struct collect *c = arg;

	c->rc = bfs_forget_set_add(c->set, b->name, b->time_ns, b->host,
				   b->tags_json, b->header_json, c->err);
	return c->rc ? 1 : 0;
}

/* Named backups the catalog lacks but whose manifest exists (one the
 * catalog could not ingest: corrupt, or of a newer format) are removed
 * too: deleting a damaged backup must be possible. */
static int add_uncataloged(struct cli_common *c, struct bfs_repo *r,
			   struct bfs_forget_set *set, char **ids, int n,
			   struct bfs_err *err)
{
	char key[BFS_KEY_MAX];
	uint64_t size;
	size_t j;
	int i, rc;

	for (i = 0; i < n; i++) {
		for (j = 0; j < set->n && strcmp(set->v[j].id, ids[i]); j++)
			;
		if (j < set->n || strcmp(ids[i], "latest") == 0 ||
		    bfs_repo_manifest_key(key, ids[i]) != 0 ||
		    bfs_store_stat(r->store, key, &size, NULL) != 0)
			continue;
		cli_error(c->cmd->name,
			  "warning: backup '%s' is not in the catalog (its "
			  "manifest could not be read): removing it anyway",
			  ids[i]);
		rc = bfs_forget_set_add(set, ids[i], 0, "", NULL, NULL, err);
		if (rc)
			return rc;
	}
	return 0;
}

static void fmt_time(char *out, size_t n, int64_t ns)
{
	int64_t sec;
	int32_t nsec;

	/* local time, as the policy's buckets: seconds are enough */
	bfs_time_sec_nsec(ns, &sec, &nsec);
	if (bfs_time_format(sec * 1000000000, false, out, n) < 0)
		snprintf(out, n, "?");
}

static void print_group(const struct bfs_forget_set *s,
			const struct bfs_forget_plan *p, size_t g, bool dry)
{
	const struct bfs_forget_group *gr = &p->groups[g];
	const struct bfs_forget_backup *first =
	    gr->n ? &s->v[gr->members[0]] : NULL;
	size_t k, j, nkeep = 0, wid = 2;
	char t[BFS_TIME_STRLEN];
	bool head = false;

	for (k = 0; k < gr->n; k++) {
		size_t l = strlen(s->v[gr->members[k]].id);

		wid = l > wid ? l : wid;
		nkeep += !gr->remove[k];
	}
	if (first && p->group_by) {
		printf("group");
		if (p->group_by & BFS_FORGET_BY_JOB)
			printf(" job %s", first->job ? first->job : "-");
		if (p->group_by & BFS_FORGET_BY_HOST)
			printf(" host %s", cli_q(first->host));
		if (p->group_by & BFS_FORGET_BY_SOURCES) {
			printf(" sources [");
			for (j = 0; j < first->nsources; j++)
				printf("%s%s", j ? ", " : "",
				       cli_q(first->sources[j]));
			printf("]");
		}
		if (p->group_by & BFS_FORGET_BY_TAGS) {
			printf(" tags [");
			for (j = 0; j < first->ntags; j++)
				printf("%s%s", j ? ", " : "",
				       cli_q(first->tags[j]));
			printf("]");
		}
		printf(":\n");
	}
	if (nkeep)
		printf("keep %zu backup%s:\n", nkeep, nkeep == 1 ? "" : "s");
	for (k = 0; k < gr->n; k++) {
		const struct bfs_forget_backup *b = &s->v[gr->members[k]];

		if (gr->remove[k])
			continue;
		fmt_time(t, sizeof(t), b->time_ns);
		printf("  %-*s  %-25s  ", (int)wid, cli_q(b->id), t);
		for (j = 0; j < gr->nreasons[k]; j++)
			printf("%s%s", j ? ", " : "", cli_q(gr->reasons[k][j]));
		printf("\n");
	}
	for (k = 0; k < gr->n; k++) {
		const struct bfs_forget_backup *b = &s->v[gr->members[k]];

		if (!gr->remove[k])
			continue;
		if (!head) {
			size_t nrm = gr->n - nkeep;

			printf("%s %zu backup%s:\n",
			       dry ? "would remove" : "remove", nrm,
			       nrm == 1 ? "" : "s");
			head = true;
		}
		fmt_time(t, sizeof(t), b->time_ns);
		printf("  %-*s  %s\n", (int)wid, cli_q(b->id), t);
	}
}

/* --prune: run `backupfs prune -r REPO [--dry-run]` in place of this
 * process (no build-time dependency on prune; our lock is released and
 * the repository closed first, since prune takes an exclusive lock).  It
 * gets every option of ours that prune reads: where the repository and
 * its catalog are, how to reach S3, the password's file or command (a
 * password from the environment is inherited), the pack cache, how long
 * to wait for the lock, and how much to say. */
static void add_opt(const char **argv, int *n, const char *opt, const char *val)
{
	if (val) {
		argv[(*n)++] = opt;
		argv[(*n)++] = val;
	}
}

static int exec_prune(struct cli_common *c, const char *lock_wait, bool dry)
{
	const char *argv[32];
	char size[32];
	int n = 0, v;

	argv[n++] = "backupfs";
	argv[n++] = "prune";
	add_opt(argv, &n, "-r", c->repo);
	add_opt(argv, &n, "--catalog", c->catalog);
	add_opt(argv, &n, "--s3-endpoint", c->sopts.s3_endpoint);
	add_opt(argv, &n, "--s3-region", c->sopts.s3_region);
	if (c->sopts.s3_path_style == 1)
		argv[n++] = "--s3-path-style";
	else if (c->sopts.s3_path_style == 0)
		argv[n++] = "--s3-virtual-host";
	add_opt(argv, &n, "--password-file", c->sopts.password_file);
	add_opt(argv, &n, "--password-command", c->sopts.password_command);
	add_opt(argv, &n, "--cache-dir", c->sopts.cache_dir);
	if (c->sopts.cache_dir_size) {
		snprintf(size, sizeof(size), "%llu",
			 (unsigned long long)c->sopts.cache_dir_size);
		add_opt(argv, &n, "--cache-dir-size", size);
	}
	add_opt(argv, &n, "--lock-wait", lock_wait);
	if (dry)
		argv[n++] = "--dry-run";
	if (c->quiet)
		argv[n++] = "-q";
	for (v = 0; v < c->verbose && v < 3; v++)
		argv[n++] = "-v";
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	execv("/proc/self/exe", (char *const *)argv);
	cli_error(c->cmd->name, "cannot run 'backupfs prune': %s",
		  strerror(errno));
	return EXIT_ERR;
}

static int run_forget(struct cli_ctx *ctx)
{
	struct forget_args *a = ctx->args;
	struct cli_common *c = &ctx->c;
	struct bfs_forget_opts fo = {
	    .ids = (const char *const *)ctx->argv,
	    .nids = (size_t)ctx->argc,
	    .policy = &a->policy,
	    .tags = a->tags,
	    .ntags = a->ntags,
	    .job = a->job,
	    .group_by = a->group_by_keys,
	    .now_ns = bfs_now_ns(),
	};
	struct bfs_forget_set set = {0};
	struct bfs_forget_plan *plan = NULL;
	struct bfs_lock *lock = NULL;
	struct bfs_err err = {""};
	struct collect col = {&set, &err, 0};
	const char *name = ctx->cmd->name;
	size_t g, removed = 0;
	char *json = NULL;
	int rc;

	/* the lock first, then the catalog synced and read: what is
	 * planned is what the repository holds under the lock */
	if (!a->dry_run) {
		rc = cli_lock(c, ctx->repo, BFS_LOCK_SHARED, a->lock_wait_ns,
			      &lock);
		if (rc)
			return rc;
	}
	rc = cli_sync(c, ctx->cat, ctx->repo);
	if (rc)
		goto out;
	rc = bfs_catalog_list(ctx->cat, collect_cb, &col, &err);
	if (!rc)
		rc = col.rc;
	if (!rc)
		rc = add_uncataloged(c, ctx->repo, &set, ctx->argv, ctx->argc,
				     &err);
	if (!rc)
		rc = bfs_forget_plan(&set, &fo, &plan, &err);
	if (rc) {
		cli_error(name, "%s%s", bfs_err_str(&err, rc),
			  rc == -ENOENT ? "; nothing removed" : "");
		rc = EXIT_ERR;
		goto out;
	}
	if (a->json) {
		if (bfs_forget_plan_json(&set, plan, &json)) {
			cli_error(name, "out of memory");
			rc = EXIT_ERR;
			goto out;
		}
		cli_json_write(json, strlen(json));
		putchar('\n');
	} else if (!c->quiet) {
		for (g = 0; g < plan->ngroups; g++) {
			if (g)
				printf("\n");
			print_group(&set, plan, g, a->dry_run);
		}
	}
	if (a->dry_run) {
		if (!c->quiet)
			fprintf(stderr,
				"dry run: would remove %zu backup%s, keep "
				"%zu\n",
				plan->nremove, plan->nremove == 1 ? "" : "s",
				plan->nkeep);
		rc = EXIT_OK;
		goto out_prune;
	}
	err.msg[0] = '\0';
	rc = bfs_forget_apply(ctx->repo, lock, &set, plan, NULL, NULL, &removed,
			      &err);
	if (rc) {
		cli_error(name, "%s (%zu of %zu backups removed)",
			  bfs_err_str(&err, rc), removed, plan->nremove);
		rc = EXIT_ERR;
	} else {
		if (!c->quiet && ctx->argc)
			fprintf(stderr, "removed %zu backup%s\n", removed,
				removed == 1 ? "" : "s");
		else if (!c->quiet)
			fprintf(stderr, "removed %zu backup%s, kept %zu\n",
				removed, removed == 1 ? "" : "s", plan->nkeep);
		rc = EXIT_OK;
	}
	/* the catalog drops them now (mounts at their next sync) */
	if (removed) {
		err.msg[0] = '\0';
		if (bfs_catalog_sync(ctx->cat, ctx->repo, NULL, &err) < 0)
			cli_error(name,
				  "warning: cannot update the catalog: %s",
				  err.msg);
	}
out_prune:
	if (rc == EXIT_OK && a->prune) {
		bfs_lock_release(lock);
		lock = NULL;
		bfs_forget_plan_free(plan);
		plan = NULL;
		bfs_forget_set_fini(&set);
		free(json);
		json = NULL;
		bfs_catalog_close(ctx->cat);
		ctx->cat = NULL;
		bfs_repo_close(ctx->repo);
		ctx->repo = NULL;
		return exec_prune(c, a->lock_wait, a->dry_run);
	}
out:
	bfs_lock_release(lock);
	free(json);
	bfs_forget_plan_free(plan);
	bfs_forget_set_fini(&set);
	return rc;
}

#define POLICY(name, arg, help)                                                \
	CLI_CALLBACK(0, name, arg, forget_cb, CB_POLICY, help)

static const struct cli_opt forget_opts[] = {
    CLI_GROUP("Policy (restic's rules; doc/RETENTION.md):"),
    POLICY("keep-last", "N", "keep the N newest backups"),
    POLICY("keep-hourly", "N",
	   "keep the newest backup of each of the last N hours that have "
	   "one"),
    POLICY("keep-daily", "N", "the same per day"),
    POLICY("keep-weekly", "N", "the same per ISO week"),
    POLICY("keep-monthly", "N", "the same per month"),
    POLICY("keep-yearly", "N", "the same per year"),
    POLICY("keep-within", "DURATION",
	   "keep every backup newer than the newest minus DURATION (1y2m, "
	   "30d, 12h)"),
    POLICY("keep-within-hourly", "DURATION",
	   "keep the newest backup of each hour within DURATION of the "
	   "newest"),
    POLICY("keep-within-daily", "DURATION", "the same per day"),
    POLICY("keep-within-weekly", "DURATION", "the same per ISO week"),
    POLICY("keep-within-monthly", "DURATION", "the same per month"),
    POLICY("keep-within-yearly", "DURATION", "the same per year"),
    POLICY("keep-tag", "TAG[,TAG...]",
	   "keep every backup that has all these tags (repeatable)"),
    CLI_CALLBACK(0, "unsafe-allow-remove-all", NULL, forget_cb, CB_POLICY,
		 "allow an empty policy, which removes every backup that "
		 "passes the --tag or --job filter (one is required)"),
    CLI_GROUP("\nCounts N: a number, or 'unlimited'.  Buckets are in local "
	      "time (TZ).\n"
	      "\n"
	      "Options:"),
    CLI_CALLBACK(0, "tag", "TAG[,TAG...]", forget_cb, CB_TAG,
		 "only look at backups that have all these tags; repeated: "
		 "any of the lists"),
    CLI_STRING(0, "job", "NAME", struct forget_args, job,
	       "only look at backups made by job NAME (backup --job, "
	       "'backupfs run'); grouped within the job as without it"),
    CLI_STRING(0, "group-by", "KEYS", struct forget_args, group_by,
	       "apply the policy per group of backups with equal KEYS: a "
	       "comma list of sources, host, tags, job, or '' for one "
	       "group (default: sources, the set of places the sources "
	       "land at)"),
    CLI_FLAG('n', "dry-run", struct forget_args, dry_run,
	     "only print what would be kept and removed"),
    CLI_FLAG(0, "prune", struct forget_args, prune,
	     "then run 'backupfs prune' (the same binary, with -r, the S3, "
	     "password, cache-dir and lock options; --dry-run too) to free "
	     "the space"),
    CLI_OPT_JSON(struct forget_args, json,
		 "print the decision as restic's forget --json does"),
    CLI_OPT_LOCK_WAIT(struct forget_args, lock_wait),
    CLI_END};

static const struct cli_opt delete_opts[] = {
    CLI_FLAG('n', "dry-run", struct forget_args, dry_run,
	     "only print what would be removed"),
    CLI_FLAG(0, "prune", struct forget_args, prune,
	     "then run 'backupfs prune' to free the space"),
    CLI_OPT_JSON(struct forget_args, json,
		 "print the decision as restic's forget --json does"),
    CLI_OPT_LOCK_WAIT(struct forget_args, lock_wait), CLI_END};

#define FORGET_NOTES                                                           \
	"Only manifests are removed; the space their data takes is freed\n"    \
	"by 'backupfs prune' (or --prune).  The catalog drops the backups\n"   \
	"at once, running mounts at their next sync (--sync-interval).\n"      \
	"forget holds a shared lock on the repository: it fails, naming\n"     \
	"the holder, while prune runs (or waits, with --lock-wait).  An\n"     \
	"unknown id is an error and nothing is removed; a backup whose\n"      \
	"manifest cannot be read (list warns about it) can still be\n"         \
	"removed by its id."

const struct bfs_cmd cmd_forget = {
    .name = "forget",
    .run = run_forget,
    .summary = "remove backups by id or by a retention policy",
    .synopsis =
	"backupfs forget [-r REPO] [ID...] [POLICY...] [--tag TAG]...\n"
	"                [--job NAME] [--group-by KEYS] [--dry-run] [--prune]\n"
	"                [--json]",
    .description =
	"Remove the named backups (ID, or 'latest'), or those a retention\n"
	"policy does not keep.  The policy is restic's, rule for rule: each\n"
	"--keep-* rule keeps some backups, a backup kept by any rule is kept,\n"
	"and everything else is removed.  It applies to each group of backups\n"
	"separately (by default: backups of the same sources), so one\n"
	"repository can hold several applications.  For each group forget\n"
	"prints what it keeps, with the rules that keep each backup, and what\n"
	"it removes.  A policy that would keep nothing of a group is refused.",
    .opts = forget_opts,
    .notes = FORGET_NOTES,
    .examples =
	"  backupfs forget -r /srv/backups/app --keep-daily 7 "
	"--keep-weekly 4 \\\n"
	"      --keep-monthly 6 --dry-run\n"
	"  backupfs forget --keep-last 30 --tag nightly --prune\n"
	"  backupfs forget --job nocodb --keep-daily 7 --keep-weekly 4\n"
	"  backupfs forget --keep-within 90d --group-by host,sources "
	"--json\n"
	"  backupfs forget 2026-11-20_02-00-00 latest",
    .exit_codes = "0 ok, 1 error (nothing removed, or the count removed is\n"
		  "printed), 2 usage error.",
    .flags = CLI_OPEN, /* synced by run_forget, under its lock */
    .max_args = -1,
    .args_size = sizeof(struct forget_args),
    .args_init = forget_args_init,
    .args_free = forget_args_free,
    .check = check_forget,
};

const struct bfs_cmd cmd_delete = {
    .name = "delete",
    .run = run_forget,
    .summary = "remove backups by id (forget ID...)",
    .synopsis = "backupfs delete [-r REPO] [--dry-run] [--prune] ID...",
    .description = "Remove the named backups (ID, or 'latest'): the same as\n"
		   "'backupfs forget ID...'.",
    .opts = delete_opts,
    .notes = FORGET_NOTES,
    .examples = "  backupfs delete -r /srv/backups/app 2026-11-20_02-00-00\n"
		"  backupfs delete latest --prune",
    .exit_codes = "0 ok, 1 error (nothing removed, or the count removed is\n"
		  "printed), 2 usage error.",
    .flags = CLI_OPEN, /* synced by run_forget, under its lock */
    .min_args = 1,
    .max_args = -1,
    .missing = "missing backup ID (or 'latest')",
    .args_size = sizeof(struct forget_args),
    .args_init = forget_args_init,
    .args_free = forget_args_free,
    .check = check_forget,
};
