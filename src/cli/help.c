/* help.c - `backupfs CMD --help` and backupfs(1), both printed from the
 * commands' declarations (see cli.h), so the help, the man page and the
 * options the parser accepts cannot drift apart. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

#define HELP_WIDTH 79  /* wrap help text before this column */
#define HELP_MAXCOL 32 /* explanations start at most here */

/* "-r, --repo REPO", "    --json", "-o OPT" into buf; returns its length. */
static int opt_label(const struct cli_opt *o, char *buf, size_t n)
{
	if (o->shrt && o->name)
		return snprintf(buf, n, "-%c, --%s%s%s", o->shrt, o->name,
				o->arg ? " " : "", o->arg ? o->arg : "");
	if (o->shrt)
		return snprintf(buf, n, "-%c%s%s", o->shrt, o->arg ? " " : "",
				o->arg ? o->arg : "");
	return snprintf(buf, n, "    --%s%s%s", o->name, o->arg ? " " : "",
			o->arg ? o->arg : "");
}

/* The column where explanations start: after the longest label of both
 * tables, at most HELP_MAXCOL. */
static int help_column(const struct bfs_cmd *cmd)
{
	const struct cli_opt *tabs[2] = {cmd->opts, cli_common_opts};
	const struct cli_opt *o;
	char buf[128];
	int col = 0, k, len;

	for (k = 0; k < 2; k++) {
		for (o = tabs[k]; o && o->kind != CLI_K_END; o++) {
			if (o->kind == CLI_K_GROUP)
				continue;
			len = 2 + opt_label(o, buf, sizeof(buf)) + 2;
			if (len <= HELP_MAXCOL && len > col)
				col = len;
		}
	}
	return col;
}

/* Print text word by word from column pos, wrapping lines to start at
 * column col. */
static void wrap(FILE *f, const char *text, int col, int pos)
{
	const char *p = text;

	while (*p) {
		size_t len;

		while (*p == ' ' || *p == '\n')
			p++;
		if (!*p)
			break;
		len = strcspn(p, " \n");
		if (pos > col && pos + 1 + (int)len > HELP_WIDTH) {
			fprintf(f, "\n%*s", col, "");
			pos = col;
		} else if (pos > col) {
			fputc(' ', f);
			pos++;
		}
		fwrite(p, 1, len, f);
		pos += (int)len;
		p += len;
	}
	fputc('\n', f);
}

static void print_opts(FILE *f, const struct cli_opt *o, int col)
{
	char label[128];
	int len;

	for (; o && o->kind != CLI_K_END; o++) {
		if (o->kind == CLI_K_GROUP) {
			fprintf(f, "%s\n", o->help);
			continue;
		}
		len = 2 + opt_label(o, label, sizeof(label));
		fprintf(f, "  %s", label);
		if (len + 2 > col) {
			fprintf(f, "\n%*s", col, "");
		} else {
			fprintf(f, "%*s", col - len, "");
		}
		wrap(f, o->help, col, col);
	}
}

void cli_print_usage_to(const struct bfs_cmd *cmd, FILE *f)
{
	int col = help_column(cmd);

	fprintf(f, "usage: %s\n\n", cmd->synopsis);
	if (cmd->description)
		fprintf(f, "%s\n\n", cmd->description);
	if (cmd->opts && cmd->opts->kind != CLI_K_END) {
		print_opts(f, cmd->opts, col);
		fputc('\n', f);
	}
	fputs("Common options:\n", f);
	print_opts(f, cli_common_opts, col);
	if (cmd->notes)
		fprintf(f, "\n%s\n", cmd->notes);
	if (cmd->examples)
		fprintf(f, "\nExamples:\n%s\n", cmd->examples);
	if (cmd->exit_codes)
		fprintf(f, "\nExit codes: %s\n", cmd->exit_codes);
}

void cli_print_usage(const struct bfs_cmd *cmd)
{
	cli_print_usage_to(cmd, stdout);
}

/* ---- backupfs(1) ---------------------------------------------------- */

/* n bytes of s as roff text: backslashes and minus signs escaped, a
 * control character at the start of a line made literal. */
static void roff_put(const char *s, size_t n, bool bol)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (bol && (ch == '.' || ch == '\''))
			fputs("\\&", stdout);
		bol = false;
		if (ch == '\\')
			fputs("\\e", stdout);
		else if (ch == '-')
			fputs("\\-", stdout);
		else
			putchar(ch);
	}
}

static void roff_line(const char *s)
{
	roff_put(s, strlen(s), true);
	putchar('\n');
}

/* Help-style text: blank lines start paragraphs, indented lines are kept
 * as they are (no filling), the rest is filled by roff. */
static void roff_text(const char *text)
{
	const char *p = text;
	bool nofill = false;

	puts(".PP");
	while (*p) {
		size_t len = strcspn(p, "\n");

		if (len == 0) {
			if (nofill)
				puts(".fi");
			nofill = false;
			puts(".PP");
		} else if (p[0] == ' ') {
			if (!nofill)
				puts(".nf");
			nofill = true;
			roff_put(p, len, true);
			putchar('\n');
		} else {
			if (nofill)
				puts(".fi");
			nofill = false;
			roff_put(p, len, true);
			putchar('\n');
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	if (nofill)
		puts(".fi");
}

static void roff_opts(const struct cli_opt *o)
{
	for (; o && o->kind != CLI_K_END; o++) {
		if (o->kind == CLI_K_GROUP) {
			roff_text(o->help);
			continue;
		}
		puts(".TP");
		if (o->shrt) {
			fputs("\\fB\\-", stdout);
			putchar(o->shrt);
			fputs("\\fR", stdout);
			if (o->name)
				fputs(", ", stdout);
		}
		if (o->name) {
			fputs("\\fB\\-\\-", stdout);
			roff_put(o->name, strlen(o->name), false);
			fputs("\\fR", stdout);
		}
		if (o->arg) {
			fputs(" \\fI", stdout);
			roff_put(o->arg, strlen(o->arg), false);
			fputs("\\fR", stdout);
		}
		putchar('\n');
		roff_line(o->help);
	}
}

/* Lines as they are, indented, e.g. examples and synopses. */
static void roff_verbatim(const char *text)
{
	const char *p = text;

	puts(".PP\n.RS 4\n.nf");
	while (*p) {
		size_t len = strcspn(p, "\n");

		/* the help indents examples by two spaces: .RS does that */
		if (len >= 2 && p[0] == ' ' && p[1] == ' ') {
			p += 2;
			len -= 2;
		}
		roff_put(p, len, true);
		putchar('\n');
		p += len;
		if (*p == '\n')
			p++;
	}
	puts(".fi\n.RE");
}

static void roff_cmd(const struct bfs_cmd *cmd)
{
	const char *p = cmd->synopsis;

	printf(".SS \"backupfs %s\"\n", cmd->name);
	/* the synopsis, its continuation lines joined */
	puts(".nf");
	fputs("\\fB", stdout);
	while (*p) {
		size_t len = strcspn(p, "\n");

		roff_put(p, len, false);
		p += len;
		if (*p == '\n') {
			p++;
			p += strspn(p, " ");
			putchar(' ');
		}
	}
	puts("\\fR\n.fi");
	if (cmd->description)
		roff_text(cmd->description);
	roff_opts(cmd->opts);
	if (cmd->notes)
		roff_text(cmd->notes);
	if (cmd->examples) {
		puts(".PP\nExamples:");
		roff_verbatim(cmd->examples);
	}
	if (cmd->exit_codes) {
		puts(".PP");
		fputs("Exit codes: ", stdout);
		roff_line(cmd->exit_codes);
	}
}

void cli_print_man(const struct bfs_cmd *const *cmds, size_t n,
		   const char *overview)
{
	size_t i;

	printf(".\\\" backupfs.1 - generated by `backupfs help --man` from "
	       "the option declarations\n"
	       ".\\\" in src/cli/*.c; do not edit.\n"
	       ".TH BACKUPFS 1 \"\" \"backupfs %s\" \"User Commands\"\n"
	       ".nh\n.ad l\n",
	       PACKAGE_VERSION);
	puts(".SH NAME\n"
	     "backupfs \\- deduplicated, compressed backups of databases and "
	     "files, browsable as a mounted directory\n"
	     ".SH SYNOPSIS\n"
	     ".B backupfs\n.I COMMAND\n.RI [ OPTIONS ]\n.RI [ ARGS ]\n.br\n"
	     ".B backupfs help\n.RI [ COMMAND ]\n.br\n"
	     ".B backupfs \\-\\-version\n"
	     ".SH DESCRIPTION");
	roff_text(overview);
	puts(".PP\nCommands:\n.PD 0");
	for (i = 0; i < n; i++) {
		printf(".TP 10\n.B %s\n", cmds[i]->name);
		roff_line(cmds[i]->summary);
	}
	puts(".TP\n.B help\nshow help for a command (the text of a section "
	     "below)\n.PD");
	puts(".SH COMMANDS");
	for (i = 0; i < n; i++)
		roff_cmd(cmds[i]);
	puts(".SH COMMON OPTIONS\n"
	     "Every command accepts these options.");
	roff_opts(cli_common_opts);
	puts(".SH EXIT STATUS\n"
	     ".TP\n.B 0\nsuccess\n"
	     ".TP\n.B 1\nerror (for backup: nothing was written)\n"
	     ".TP\n.B 2\nusage error\n"
	     ".TP\n.B 3\nbackup written, but some files were unreadable "
	     "(partial)\n"
	     ".SH ENVIRONMENT\n"
	     ".TP\n.B BACKUPFS_REPO\nthe repository when \\fB\\-r\\fR is not "
	     "given\n"
	     ".TP\n.B XDG_CACHE_HOME\nwhere the catalogs live "
	     "(default \\fI~/.cache\\fR)\n"
	     ".TP\n.BR AWS_ACCESS_KEY_ID \", \" AWS_SECRET_ACCESS_KEY \", \" "
	     "AWS_SESSION_TOKEN\ncredentials of S3 repositories (never on a "
	     "command line)\n"
	     ".TP\n.BR AWS_REGION \", \" AWS_DEFAULT_REGION \", \" "
	     "AWS_ENDPOINT_URL\n"
	     "S3 region and endpoint (see \\fB\\-\\-s3\\-region\\fR, "
	     "\\fB\\-\\-s3\\-endpoint\\fR)\n"
	     ".TP\n.BR BACKUPFS_PASSWORD_FILE \", \" "
	     "BACKUPFS_PASSWORD_COMMAND \", \" BACKUPFS_PASSWORD\n"
	     "the password of an encrypted repository when neither "
	     "\\fB\\-\\-password\\-file\\fR nor "
	     "\\fB\\-\\-password\\-command\\fR is given: a file whose "
	     "first line it is, a command that prints it, or the password "
	     "itself\n"
	     ".TP\n.B BFS_MOUNT_PREFETCH\n"
	     "\\fB0\\fR turns off the mount's listing prefetch (a thread that "
	     "loads the directories a \\fBfind\\fR opens next while it reads "
	     "the current one)\n"
	     ".SH OUTPUT\n"
	     "Names, owners, link targets, hosts, tags, sources, ids and "
	     "error texts come from the repository and are untrusted: every "
	     "human output shows control characters, C1 controls, "
	     "bidirectional overrides and invalid UTF-8 in them escaped, as "
	     "\\fBls \\-b\\fR does (\\ee, \\en, \\ex9b, "
	     "\\eu009b); valid UTF-8 is kept.  \\fB\\-\\-json\\fR output "
	     "escapes the same characters the JSON way.\n"
	     ".SH FILES\n"
	     ".TP\n.I $XDG_CACHE_HOME/backupfs/<repository id>-<location "
	     "key>.db\n"
	     "the catalog of a repository: a local SQLite index of its "
	     "manifests, rebuilt with \\fBbackupfs catalog rebuild\\fR; the "
	     "location key is 16 hex digits of the SHA-256 of where the "
	     "repository is, so each copy of a repository has its own\n"
	     ".SH SEE ALSO\n"
	     ".BR mount.backupfs (8),\n"
	     ".BR fusermount3 (1),\n"
	     ".BR fstab (5)");
}
