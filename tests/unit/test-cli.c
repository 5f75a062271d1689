/* test-cli.c - the CLI's declared options (src/cli/options.c, help.c):
 * every kind is parsed into its field, errors name the option, the
 * positional checks and the help and man page list every declaration. */
/* automake: LDADD src/cli/libbfscli.a */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/cli/cli.h"
#include "tests/unit/tap.h"

struct t_args {
	bool flag;
	const char *str;
	struct cli_strv list;
	uint64_t size;
	unsigned num;
	int calls;
	const char *last;
};

/* What run() saw, copied out for the checks. */
static struct {
	bool ran;
	struct t_args a;
	size_t nlist;
	char list0[32], list1[32];
	struct cli_common c;
	int argc;
	char arg0[32];
} seen;

static int t_cb(struct cli_ctx *ctx, const struct cli_opt *o, const char *arg)
{
	struct t_args *a = ctx->args;

	a->calls++;
	a->last = arg;
	if (arg && strcmp(arg, "fail") == 0)
		return cli_usage_error(ctx->cmd, "callback refused '%s'", arg);
	return 0;
}

static int t_run(struct cli_ctx *ctx)
{
	const struct t_args *a = ctx->args;

	seen.ran = true;
	seen.a = *a;
	seen.nlist = a->list.n;
	if (a->list.n > 0)
		snprintf(seen.list0, sizeof(seen.list0), "%s", a->list.v[0]);
	if (a->list.n > 1)
		snprintf(seen.list1, sizeof(seen.list1), "%s", a->list.v[1]);
	seen.c = ctx->c;
	seen.argc = ctx->argc;
	if (ctx->argc)
		snprintf(seen.arg0, sizeof(seen.arg0), "%s", ctx->argv[0]);
	return 0;
}

static const struct cli_opt t_opts[] = {
    CLI_GROUP("Test options:"),
    CLI_FLAG('f', "flag", struct t_args, flag, "a flag"),
    CLI_STRING('s', "str", "TEXT", struct t_args, str, "a string"),
    CLI_STRINGS(0, "list", "ITEM", struct t_args, list, "a repeatable string"),
    CLI_SIZE(0, "size", "SIZE", struct t_args, size, 1 << 20, "bad size '%s'",
	     "a size of at least 1M"),
    CLI_UINT('n', "num", "N", struct t_args, num, 1, 9,
	     "--num '%s': expected 1..9", "a number"),
    CLI_CALLBACK('c', "call", NULL, t_cb, 0, "a callback without argument"),
    CLI_CALLBACK(0, "call-arg", "X", t_cb, 1, "a callback with one"),
    CLI_END};

static const struct bfs_cmd cmd_t = {
    .name = "t",
    .run = t_run,
    .summary = "a test command",
    .synopsis = "backupfs t [OPTIONS] ARG [ARG]",
    .description = "Test.",
    .opts = t_opts,
    .examples = "  backupfs t x",
    .exit_codes = "0 ok, 2 usage error.",
    .min_args = 1,
    .max_args = 2,
    .missing = "missing ARG",
    .args_size = sizeof(struct t_args),
};

/* Run cmd_t on a NULL-terminated argument list; its stdout and stderr
 * land in out and err (truncated to their size). */
static int run(char *out, size_t nout, char *err, size_t nerr, ...)
{
	/* kept until the next call: the parsed values point into them */
	static char *copies[32];
	static int ncopies;
	char *argv[32];
	int argc = 0, rc, fd1, fd2, save1, save2;
	char p1[] = "/tmp/test-cli-out.XXXXXX",
	     p2[] = "/tmp/test-cli-err.XXXXXX";
	const char *a;
	ssize_t n;
	va_list ap;

	while (ncopies > 0)
		free(copies[--ncopies]);
	va_start(ap, nerr);
	while ((a = va_arg(ap, const char *)) != NULL && argc < 31)
		copies[argc] = argv[argc] = strdup(a), argc++;
	va_end(ap);
	ncopies = argc;
	argv[argc] = NULL;
	memset(&seen, 0, sizeof(seen));
	fflush(stdout);
	fflush(stderr);
	fd1 = mkstemp(p1);
	fd2 = mkstemp(p2);
	save1 = dup(1);
	save2 = dup(2);
	dup2(fd1, 1);
	dup2(fd2, 2);
	rc = cli_run(&cmd_t, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(save1, 1);
	dup2(save2, 2);
	close(save1);
	close(save2);
	n = pread(fd1, out, nout - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	n = pread(fd2, err, nerr - 1, 0);
	err[n > 0 ? n : 0] = '\0';
	close(fd1);
	close(fd2);
	unlink(p1);
	unlink(p2);
	return rc;
}

/* s with every run of blanks and newlines made one space, in place. */
static char *squeeze(char *s)
{
	char *w = s, *r;

	for (r = s; *r; r++) {
		if (*r == ' ' || *r == '\n') {
			if (w > s && w[-1] == ' ')
				continue;
			*w++ = ' ';
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return s;
}

int main(void)
{
	static char out[16384], err[4096];
	const struct cli_opt *tabs[2] = {t_opts, cli_common_opts};
	const struct cli_opt *o;
	int rc, k;

	/* every kind lands in its field */
	rc = run(out, sizeof(out), err, sizeof(err), "t", "--flag", "-s",
		 "hello", "--list", "x", "--list=y", "--size", "2M", "-n", "7",
		 "-c", "--call-arg", "z", "pos", NULL);
	is_int(rc, 0, "all kinds: exit 0");
	ok(seen.ran, "run() was called");
	ok(seen.a.flag, "flag set");
	is_str(seen.a.str, "hello", "string stored");
	is_int(seen.nlist, 2, "repeated string: two values");
	is_str(seen.list0, "x", "first value");
	is_str(seen.list1, "y", "second value (--opt=value)");
	is_int(seen.a.size, 2 << 20, "size parsed");
	is_int(seen.a.num, 7, "number parsed");
	is_int(seen.a.calls, 2, "callbacks called");
	is_str(seen.a.last, "z", "callback got its argument");
	is_int(seen.argc, 1, "one positional");
	is_str(seen.arg0, "pos", "positional after the options");
	is_str(err, "", "nothing on stderr");

	/* the common options */
	rc = run(out, sizeof(out), err, sizeof(err), "t", "x", "-r", "R",
		 "--catalog", "C", "--s3-virtual-host", "-vv", "-q",
		 "--cache-dir", "D", NULL);
	is_int(rc, 0, "common options: exit 0");
	is_str(seen.c.repo, "R", "-r");
	is_str(seen.c.catalog, "C", "--catalog");
	is_int(seen.c.sopts.s3_path_style, 0, "--s3-virtual-host sets 0");
	is_int(seen.c.verbose, 2, "-vv counts");
	ok(seen.c.quiet, "-q");
	is_str(seen.c.sopts.cache_dir, "D", "--cache-dir");
	rc = run(out, sizeof(out), err, sizeof(err), "t", "x", NULL);
	is_int(seen.c.sopts.s3_path_style, -1,
	       "S3 addressing: auto by default");

	/* errors name the option */
	rc = run(out, sizeof(out), err, sizeof(err), "t", "x", "--nope", NULL);
	is_int(rc, EXIT_USAGE, "unknown long option: exit 2");
	is_str(err,
	       "backupfs t: unknown option '--nope'\n"
	       "try 'backupfs t --help'\n",
	       "unknown long option named");
	ok(!seen.ran, "run() not called after a usage error");
	rc = run(out, sizeof(out), err, sizeof(err), "t", "x", "-fZ", NULL);
	is_int(rc, EXIT_USAGE, "unknown short option in a group: exit 2");
	is_str(err,
	       "backupfs t: unknown option '-Z'\n"
	       "try 'backupfs t --help'\n",
	       "unknown letter named");
	rc = run(out, sizeof(out), err, sizeof(err), "t", "x", "--str", NULL);
	is_int(rc, EXIT_USAGE, "missing argument: exit 2");
	is_str(err,
	       "backupfs t: option '--str' needs an argument\n"
	       "try 'backupfs t --help'\n",
	       "missing argument named");
	rc = run(out, sizeof(out), err, sizeof(err), "t", "x", "-s", NULL);
	is_str(err,
	       "backupfs t: option '-s' needs an argument\n"
	       "try 'backupfs t --help'\n",
	       "missing argument of -s named");
	rc =
	    run(out, sizeof(out), err, sizeof(err), "t", "x", "--flag=1", NULL);
	is_int(rc, EXIT_USAGE, "a flag with an argument: exit 2");
	rc = run(out, sizeof(out), err, sizeof(err), "t", "x", "--size", "1k",
		 NULL);
	is_int(rc, EXIT_USAGE, "size below the minimum: exit 2");
	is_str(err, "backupfs t: bad size '1k'\ntry 'backupfs t --help'\n",
	       "the size's own message");
	rc =
	    run(out, sizeof(out), err, sizeof(err), "t", "x", "-n", "10", NULL);
	is_int(rc, EXIT_USAGE, "number above the maximum: exit 2");
	is_str(err,
	       "backupfs t: --num '10': expected 1..9\n"
	       "try 'backupfs t --help'\n",
	       "the number's own message");
	rc = run(out, sizeof(out), err, sizeof(err), "t", "x", "-n", "", NULL);
	is_int(rc, EXIT_USAGE, "empty number: exit 2");
	rc = run(out, sizeof(out), err, sizeof(err), "t", "x", "--call-arg",
		 "fail", NULL);
	is_int(rc, EXIT_USAGE, "a callback's refusal: exit 2");
	is_str(err,
	       "backupfs t: callback refused 'fail'\n"
	       "try 'backupfs t --help'\n",
	       "the callback's message");

	/* positional arguments */
	rc = run(out, sizeof(out), err, sizeof(err), "t", NULL);
	is_int(rc, EXIT_USAGE, "too few arguments: exit 2");
	is_str(err, "backupfs t: missing ARG\ntry 'backupfs t --help'\n",
	       "the missing argument named");
	rc = run(out, sizeof(out), err, sizeof(err), "t", "a", "b", "c", NULL);
	is_int(rc, EXIT_USAGE, "too many arguments: exit 2");
	is_str(err,
	       "backupfs t: unexpected argument 'c'\n"
	       "try 'backupfs t --help'\n",
	       "the first extra argument named");
	rc =
	    run(out, sizeof(out), err, sizeof(err), "t", "a", "--", "-b", NULL);
	is_int(rc, 0, "'--' ends the options");
	is_int(seen.argc, 2, "... and '-b' is an argument");

	/* --help: every declared option, and -h stops the parsing */
	rc = run(out, sizeof(out), err, sizeof(err), "t", "--help", "--nope",
		 NULL);
	is_int(rc, 0, "--help: exit 0 (before a later unknown option)");
	ok(!seen.ran, "--help does not run the command");
	ok(strncmp(out, "usage: backupfs t [OPTIONS]", 27) == 0,
	   "--help starts with the synopsis");
	squeeze(out); /* the help wraps the explanations */
	for (k = 0; k < 2; k++) {
		for (o = tabs[k]; o->kind != CLI_K_END; o++) {
			char want[64], help[512];

			snprintf(help, sizeof(help), "%s", o->help);
			squeeze(help);
			if (o->kind == CLI_K_GROUP) {
				ok(strstr(out, help) != NULL,
				   "--help has the group '%s'", help);
				continue;
			}
			snprintf(want, sizeof(want), "--%s", o->name);
			ok(strstr(out, want) && strstr(out, help),
			   "--help lists %s with its explanation", want);
		}
	}

	/* the man page (cli_print_man writes to stdout: point it at a file) */
	{
		const struct bfs_cmd *cmds[] = {&cmd_t};
		char p[] = "/tmp/test-cli-man.XXXXXX";
		int fd = mkstemp(p), save = dup(1);
		ssize_t n;

		fflush(stdout);
		dup2(fd, 1);
		cli_print_man(cmds, 1, "Overview.");
		fflush(stdout);
		dup2(save, 1);
		close(save);
		n = pread(fd, out, sizeof(out) - 1, 0);
		out[n > 0 ? n : 0] = '\0';
		close(fd);
		unlink(p);
	}
	ok(strstr(out, ".TH BACKUPFS 1") != NULL, "man: .TH");
	ok(strstr(out, ".SS \"backupfs t\"") != NULL,
	   "man: a section for the command");
	ok(strstr(out, "\\fB\\-\\-call\\-arg\\fR \\fIX\\fR") != NULL,
	   "man: options with escaped minus signs");
	ok(strstr(out, "\\fB\\-\\-cache\\-dir\\-size\\fR") != NULL,
	   "man: the common options");
	return tap_done();
}
