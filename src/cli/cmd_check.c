/* cmd_check.c - `backupfs check`: prove that a repository is whole
 * (src/check.c does the work; this prints the report). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "src/check.h"
#include "src/lock.h"
#include "src/log.h"

/* check has its own exit codes: 1 is "damaged", so that a script can
 * tell damage from a check that could not run. */
#define EXIT_DAMAGED 1
#define EXIT_NOT_RUN 3

struct check_args {
	bool read_data, json, no_lock;
	const char *subset, *lock_wait;
	unsigned jobs, max_paths;
};

static int check_check(struct cli_ctx *ctx)
{
	struct check_args *a = ctx->args;
	struct bfs_check_opts o = {0};
	int64_t ns;
	int rc;

	rc = cli_parse_lock_wait(&cmd_check, a->lock_wait, &ns);
	if (rc)
		return rc;
	if (a->subset && a->read_data)
		return cli_usage_error(&cmd_check,
				       "--read-data reads every pack, "
				       "--read-data-subset some: give one");
	if (a->subset && bfs_check_parse_subset(a->subset, &o))
		return cli_usage_error(&cmd_check,
				       "--read-data-subset wants K/N (1 <= K "
				       "<= N) or N%% (0 < N <= 100), not '%s'",
				       a->subset);
	return 0;
}

static void on_progress(void *arg, const char *what)
{
	const struct cli_common *c = arg;

	if (!c->quiet)
		fprintf(stderr, "%s\n", cli_q(what));
}

static void print_problem(const struct bfs_check_problem *p)
{
	size_t i;

	printf("error: %s %s: %s\n", p->kind, cli_q(p->object),
	       cli_q(p->message));
	if (p->nbackups) {
		printf("  breaks backup%s", p->nbackups > 1 ? "s" : "");
		for (i = 0; i < p->nbackups; i++)
			printf("%s %s", i ? "," : "", cli_q(p->backups[i]));
		printf("\n");
	}
	for (i = 0; i < p->npaths; i++)
		printf("  breaks %s:/%s\n", cli_q(p->paths[i].backup),
		       cli_q(p->paths[i].path));
	if (p->more_paths)
		printf("  ... and %llu more paths\n",
		       (unsigned long long)p->more_paths);
}

static void print_text(const struct bfs_check_report *rep, bool quiet)
{
	char b1[32], b2[32], keys[48] = "";
	size_t i;

	for (i = 0; i < rep->nproblems; i++)
		print_problem(&rep->problems[i]);
	if (!quiet) {
		bfs_fmt_bytes(b1, sizeof(b1), rep->bytes_read);
		if (rep->key_objects) /* an encrypted repository */
			snprintf(keys, sizeof(keys), "%llu key objects, ",
				 (unsigned long long)rep->key_objects);
		printf("checked %s%llu index objects, %llu packs (%llu read "
		       "whole, %s), %llu blobs (%llu read), %llu backups "
		       "(%llu entries)\n",
		       keys, (unsigned long long)rep->index_objects,
		       (unsigned long long)rep->packs,
		       (unsigned long long)rep->packs_read, b1,
		       (unsigned long long)rep->blobs,
		       (unsigned long long)rep->blobs_read,
		       (unsigned long long)rep->backups,
		       (unsigned long long)rep->entries);
		bfs_fmt_bytes(b1, sizeof(b1), rep->garbage_pack_bytes);
		bfs_fmt_bytes(b2, sizeof(b2), rep->garbage_blob_bytes);
		if (rep->garbage_packs || rep->garbage_blobs)
			printf("garbage (not an error; prune removes it): "
			       "%llu packs (%s) named by no index object, "
			       "%llu blobs (%s) referenced by no backup%s\n",
			       (unsigned long long)rep->garbage_packs, b1,
			       (unsigned long long)rep->garbage_blobs, b2,
			       rep->damaged || rep->io_errors
				   ? " (at most: damaged trees hide "
				     "what they reference)"
				   : "");
	}
	if (rep->damaged)
		printf("repository is damaged: %llu problem%s%s\n",
		       (unsigned long long)rep->damaged,
		       rep->damaged > 1 ? "s" : "",
		       rep->io_errors ? " (and objects that could not be read)"
				      : "");
	else if (rep->io_errors)
		printf("check incomplete: %llu objects could not be read\n",
		       (unsigned long long)rep->io_errors);
	else if (!quiet)
		printf("no errors found\n");
}

static cJSON *problem_json(const struct bfs_check_problem *p)
{
	cJSON *o = cJSON_CreateObject(), *a, *x;
	size_t i;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "kind", p->kind);
	cJSON_AddStringToObject(o, "object", p->object);
	cli_json_add_name(o, "message", p->message);
	a = cJSON_AddArrayToObject(o, "backups");
	for (i = 0; a && i < p->nbackups; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(p->backups[i]));
	a = cJSON_AddArrayToObject(o, "paths");
	for (i = 0; a && i < p->npaths; i++) {
		x = cJSON_CreateObject();
		if (!x)
			break;
		cJSON_AddStringToObject(x, "backup", p->paths[i].backup);
		cli_json_add_name(x, "path", p->paths[i].path);
		cJSON_AddItemToArray(a, x);
	}
	cli_json_add_uint(o, "more_paths", p->more_paths);
	return o;
}

static int print_json(const struct bfs_check_report *rep, bool complete)
{
	cJSON *o = cJSON_CreateObject(), *a, *n;
	size_t i;

	if (!o)
		return -ENOMEM;
	cJSON_AddBoolToObject(o, "ok",
			      complete && !rep->damaged && !rep->io_errors);
	cJSON_AddBoolToObject(o, "complete", complete);
	a = cJSON_AddArrayToObject(o, "errors");
	for (i = 0; a && i < rep->nproblems; i++)
		cJSON_AddItemToArray(a, problem_json(&rep->problems[i]));
	n = cJSON_AddObjectToObject(o, "counts");
	if (n) {
		cli_json_add_uint(n, "key_objects", rep->key_objects);
		cli_json_add_uint(n, "index_objects", rep->index_objects);
		cli_json_add_uint(n, "packs", rep->packs);
		cli_json_add_uint(n, "packs_read", rep->packs_read);
		cli_json_add_uint(n, "bytes_read", rep->bytes_read);
		cli_json_add_uint(n, "blobs", rep->blobs);
		cli_json_add_uint(n, "blobs_read", rep->blobs_read);
		cli_json_add_uint(n, "plain_read", rep->plain_read);
		cli_json_add_uint(n, "referenced", rep->referenced);
		cli_json_add_uint(n, "missing_blobs", rep->missing_blobs);
		cli_json_add_uint(n, "backups", rep->backups);
		cli_json_add_uint(n, "entries", rep->entries);
		cli_json_add_uint(n, "damaged", rep->damaged);
		cli_json_add_uint(n, "io_errors", rep->io_errors);
	}
	n = cJSON_AddObjectToObject(o, "garbage");
	if (n) {
		cli_json_add_uint(n, "packs", rep->garbage_packs);
		cli_json_add_uint(n, "pack_bytes", rep->garbage_pack_bytes);
		cli_json_add_uint(n, "blobs", rep->garbage_blobs);
		cli_json_add_uint(n, "blob_bytes", rep->garbage_blob_bytes);
	}
	return cli_json_print(o);
}

static int run_check(struct cli_ctx *ctx)
{
	const struct check_args *a = ctx->args;
	struct cli_common *c = &ctx->c;
	struct bfs_check_opts o = {0};
	struct bfs_check_report rep = {0};
	struct bfs_err err = {""};
	struct bfs_repo *repo = NULL;
	struct bfs_lock *lock = NULL;
	struct bfs_store_opts sopts;
	int64_t wait_ns = 0;
	int rc;

	/* both checked by check_check */
	cli_parse_lock_wait(&cmd_check, a->lock_wait, &wait_ns);
	if (a->subset)
		bfs_check_parse_subset(a->subset, &o);
	o.read_data = a->read_data || a->subset;
	o.jobs = a->jobs;
	o.max_paths = a->max_paths;
	if (!a->json && isatty(STDERR_FILENO)) {
		o.progress = on_progress;
		o.progress_arg = c;
	}
	/* the repository itself, never a local cache of it */
	sopts = c->sopts;
	sopts.cache_dir = NULL;
	rc = bfs_repo_open(c->repo, &sopts, &repo, &err);
	if (rc) {
		/* a config that does not parse is damage; no repository
		 * at all, or no access, is not */
		cli_error("check", "%s", bfs_err_str(&err, rc));
		return rc == -EUCLEAN || rc == -EPROTO ? EXIT_DAMAGED
						       : EXIT_NOT_RUN;
	}
	if (!a->no_lock && cli_lock(c, repo, BFS_LOCK_SHARED, wait_ns, &lock)) {
		rc = EXIT_NOT_RUN;
		goto out_close;
	}
	err.msg[0] = '\0';
	rc = bfs_check(repo, &o, &rep, &err);
	if (a->json) {
		if (print_json(&rep, rc == 0))
			cli_error("check", "out of memory");
	} else {
		print_text(&rep, c->quiet);
	}
	if (rc) {
		cli_error("check", "check could not finish: %s",
			  bfs_err_str(&err, rc));
		rc = rep.damaged ? EXIT_DAMAGED : EXIT_NOT_RUN;
	} else if (rep.damaged) {
		rc = EXIT_DAMAGED;
	} else if (rep.io_errors) {
		rc = EXIT_NOT_RUN;
	} else {
		rc = EXIT_OK;
	}
	bfs_check_report_clear(&rep);
	bfs_lock_release(lock);
out_close:
	bfs_repo_close(repo);
	return rc;
}

static const struct cli_opt check_opts[] = {
    CLI_FLAG(0, "read-data", struct check_args, read_data,
	     "also read every pack whole: each blob is decompressed and "
	     "hashed (finds a flipped bit in any chunk)"),
    CLI_STRING(0, "read-data-subset", "K/N|N%", struct check_args, subset,
	       "read only some packs whole: K/N reads bucket K of N (a "
	       "pack's bucket is its id's first 8 bytes, as a big-endian "
	       "number, mod N, plus 1), so that 1/N ... N/N on N days read "
	       "every pack exactly once; N% reads the packs whose id, as a "
	       "fraction of the id space, is below N% (the same packs every "
	       "time)"),
    CLI_UINT(0, "jobs", "N", struct check_args, jobs, 1, 64,
	     "--jobs wants 1..64, not '%s'",
	     "packs checked in parallel (default: one per CPU, 2 to 8)"),
    CLI_UINT(0, "max-paths", "N", struct check_args, max_paths, 1, 1000000,
	     "--max-paths wants 1..1000000, not '%s'",
	     "paths listed per problem (default 20; the rest are counted)"),
    CLI_OPT_LOCK_WAIT(struct check_args, lock_wait),
    CLI_FLAG(0, "no-lock", struct check_args, no_lock,
	     "take no lock: for a repository check cannot write to (read-only "
	     "media or credentials); a prune running meanwhile can then make "
	     "it report packs as missing"),
    CLI_OPT_JSON(struct check_args, json,
		 "print the report as one JSON object (see below)"),
    CLI_END};

const struct bfs_cmd cmd_check = {
    .name = "check",
    .run = run_check,
    .summary = "prove that a repository is whole",
    .synopsis = "backupfs check [-r REPO] [--read-data | --read-data-subset "
		"K/N|N%] [--json]",
    .description =
	"Check a repository against its format: the config parses; in an\n"
	"encrypted repository every key object (keys/) has its exact size,\n"
	"hashes to its name and parses with KDF parameters in bounds, and\n"
	"the one the password opened still opens to the keys in use; every\n"
	"index object hashes to its name and parses; every pack it names\n"
	"exists with the right size, and the pack's own index (only that\n"
	"region is read) has a valid checksum and agrees with the index\n"
	"object; every manifest parses, and its trees walk cleanly: every\n"
	"tree part and chunk list is indexed as a tree blob, hashes right\n"
	"and parses, every chunk is indexed as data with the length the tree\n"
	"says.  --read-data (or a subset) also reads packs whole and\n"
	"decompresses and hashes every blob.\n"
	"\n"
	"Each problem names the damaged object (pack, index object, blob,\n"
	"manifest) and every backup it breaks, with the paths (directories\n"
	"whose tree is damaged, files whose chunks are).  Packs named by no\n"
	"index object and blobs referenced by no backup are garbage, reported\n"
	"but not an error: 'backupfs prune' removes them.  Takes a shared\n"
	"lock (so no prune runs meanwhile; backups may).",
    .opts = check_opts,
    .notes =
	"--json prints {\"ok\", \"complete\", \"errors\": [{\"kind\", "
	"\"object\",\n"
	"\"message\", \"backups\": [ID...], \"paths\": [{\"backup\", "
	"\"path\"}...],\n"
	"\"more_paths\"}...], \"counts\": {\"key_objects\", "
	"\"index_objects\", \"packs\", "
	"\"packs_read\",\n"
	"\"bytes_read\", \"blobs\", \"blobs_read\", \"plain_read\", "
	"\"referenced\",\n"
	"\"missing_blobs\", \"backups\", \"entries\", \"damaged\", "
	"\"io_errors\"},\n"
	"\"garbage\": {\"packs\", \"pack_bytes\", \"blobs\", "
	"\"blob_bytes\"}}.\n"
	"kind is one of key, index, pack, blob, tree, manifest, io (could\n"
	"not be read: not proven damaged).  A name that is not UTF-8 comes as\n"
	"path_b64.\n"
	"\n"
	"--cache-dir is ignored: check reads the repository itself.",
    .examples = "  backupfs check -r /var/backups/nocodb\n"
		"  backupfs check --read-data-subset \"$(( $(date +%j) % 7 + "
		"1 ))/7\"\n"
		"  backupfs check --json | jq '.errors[].paths'",
    .exit_codes = "0 whole, 1 damaged (problems found), 2 usage error,\n"
		  "3 the check could not run or finish (no repository, no\n"
		  "access, locked by a prune, objects unreadable for other\n"
		  "reasons than damage).",
    .flags = CLI_REPO, /* the repository is opened by run_check */
    .max_args = 0,
    .args_size = sizeof(struct check_args),
    .check = check_check,
};
