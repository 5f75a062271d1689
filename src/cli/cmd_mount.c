/* cmd_mount.c - `backupfs mount [-r REPO] MOUNTPOINT`: the repository's
 * backups as a read-only directory tree (fuse/mount.h does the work).
 *
 * Daemonises by default: the parent checks everything it can, mounts, and
 * forks; the child serves and reports through a pipe once the kernel's
 * INIT has been answered, so the parent exits 0 only when the mount point
 * works, and 1 with the child's message otherwise. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fuse/mount.h"
#include "src/log.h"

struct mount_args {
	bool foreground;
	bool debug;
	bool allow_other;
	uint64_t cache_size;
	uint64_t readahead;	  /* bytes; UINT64_MAX = default */
	double sync_interval;	  /* seconds; 0 = off */
	struct bfs_buf fuse_opts; /* passed to FUSE, NUL-terminated */
	const char *catalog;	  /* from -o catalog= */
	const char *log_file;	  /* --log-file */
};

/* Options only mount(8)/fstab care about: dropped, not passed to FUSE. */
static bool fstab_only(const char *o)
{
	static const char *const names[] = {
	    "defaults", "auto",	  "noauto", "nofail", "_netdev", "user",
	    "users",	"nouser", "owner",  "group",  "ro",	 "nodelalloc",
	};
	size_t i;

	if (strncmp(o, "x-", 2) == 0 || strncmp(o, "comment=", 8) == 0)
		return true;
	for (i = 0; i < BFS_ARRAY_SIZE(names); i++)
		if (strcmp(o, names[i]) == 0)
			return true;
	return false;
}

/* Split one -o argument; our own options are consumed, the rest kept for
 * FUSE.  Returns 0 or EXIT_USAGE after printing. */
static int parse_o(struct mount_args *a, char *arg)
{
	char *o, *next;
	int rc;

	for (o = arg; o; o = next) {
		next = strchr(o, ',');
		if (next)
			*next++ = '\0';
		if (!*o || fstab_only(o))
			continue;
		if (strncmp(o, "cache_size=", 11) == 0 ||
		    strncmp(o, "cache-size=", 11) == 0) {
			if (bfs_parse_size(o + 11, &a->cache_size) < 0 ||
			    a->cache_size < (1u << 20))
				return cli_usage_error(&cmd_mount,
						       "bad cache size '%s' "
						       "(at least 1M)",
						       o + 11);
			continue;
		}
		if (strncmp(o, "catalog=", 8) == 0) {
			a->catalog = o + 8;
			continue;
		}
		if (strcmp(o, "rw") == 0)
			return cli_usage_error(&cmd_mount,
					       "backups are "
					       "read-only: 'rw' is not "
					       "supported");
		if (strcmp(o, "allow_other") == 0) {
			a->allow_other = true;
			continue;
		}
		if (strcmp(o, "debug") == 0) {
			a->debug = true;
			a->foreground = true;
			continue;
		}
		if (strcmp(o, "foreground") == 0) {
			a->foreground = true;
			continue;
		}
		rc = bfs_buf_printf(&a->fuse_opts, "%s%s",
				    a->fuse_opts.len ? "," : "", o);
		if (rc < 0) {
			cli_error("mount", "out of memory");
			return EXIT_ERR;
		}
	}
	return 0;
}

/* Make a local path absolute (the daemon must not depend on the cwd). */
static char *absolute(const char *p)
{
	char cwd[PATH_MAX];
	struct bfs_buf b = {0};

	if (p[0] == '/')
		return strdup(p);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (bfs_buf_printf(&b, "%s/%s", cwd, p) < 0)
		return NULL;
	return (char *)b.data;
}

static bool is_local_repo(const char *url)
{
	return !strstr(url, "://");
}

static int check_mountpoint(const char *mp, char **abs)
{
	struct stat st;

	*abs = NULL;
	if (stat(mp, &st) < 0) {
		if (errno == ENOTCONN)
			cli_error("mount",
				  "mountpoint '%s' is a stale FUSE "
				  "mount (its daemon died): run 'fusermount3 "
				  "-u %s' first",
				  mp, mp);
		else if (errno == ENOENT)
			cli_error("mount", "mountpoint '%s' does not exist",
				  mp);
		else
			cli_error("mount", "cannot use mountpoint '%s': %s", mp,
				  strerror(errno));
		return EXIT_ERR;
	}
	if (!S_ISDIR(st.st_mode)) {
		cli_error("mount", "mountpoint '%s' is not a directory", mp);
		return EXIT_ERR;
	}
	*abs = realpath(mp, NULL);
	if (!*abs) {
		cli_error("mount", "cannot resolve mountpoint '%s': %s", mp,
			  strerror(errno));
		return EXIT_ERR;
	}
	return 0;
}

/* ---- daemon readiness pipe ------------------------------------------ */

struct ready {
	int fd; /* write end, -1 once used */
};

static void ready_cb(void *arg)
{
	struct ready *r = arg;
	int devnull;

	if (r->fd < 0)
		return;
	(void)!write(r->fd, "0", 1);
	close(r->fd);
	r->fd = -1;
	/* From now on messages go to the log (syslog or the file) only. */
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, STDERR_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
	}
}

static void report_failure(struct ready *r, const char *msg)
{
	if (r->fd < 0)
		return;
	(void)!write(r->fd, "1", 1);
	(void)!write(r->fd, msg, strlen(msg));
	close(r->fd);
	r->fd = -1;
}

/* Where the daemon's messages go: --log-file, else syslog when a syslog
 * daemon listens, else $XDG_STATE_HOME/backupfs/mount-<repo id>.log (or
 * ~/.local/state/...).  *path (malloc'ed) is NULL for syslog.  The file is
 * created (0600) here, so a problem is reported before the fork.  Returns
 * 0 or EXIT_ERR after printing. */
static int log_target(const struct mount_args *a, const char *repo_id,
		      char **path)
{
	const char *base, *sub = "backupfs";
	struct bfs_buf b = {0};
	int fd, rc;

	*path = NULL;
	if (a->log_file) {
		*path = absolute(a->log_file);
	} else {
		if (bfs_log_syslog_ok())
			return 0;
		base = getenv("XDG_STATE_HOME");
		if (!base || base[0] != '/') {
			base = getenv("HOME");
			sub = ".local/state/backupfs";
		}
		if (!base || base[0] != '/') {
			cli_error("mount",
				  "no syslog daemon listens on /dev/log and "
				  "neither XDG_STATE_HOME nor HOME is set: "
				  "give --log-file FILE");
			return EXIT_ERR;
		}
		if (bfs_buf_printf(&b, "%s/%s/mount-%s.log", base, sub,
				   repo_id) < 0)
			*path = NULL;
		else
			*path = (char *)b.data;
	}
	if (!*path) {
		cli_error("mount", "out of memory");
		return EXIT_ERR;
	}
	rc = bfs_mkdir_parents(*path, 0700);
	fd = rc ? -1
		: open(*path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		cli_error("mount", "cannot open the log file '%s': %s", *path,
			  strerror(rc ? -rc : errno));
		free(*path);
		*path = NULL;
		return EXIT_ERR;
	}
	close(fd);
	return 0;
}

/* Parent: wait for the child's word.  Returns the exit code.  log: where
 * the daemon's messages go (NULL: syslog), said once it is mounted. */
static int parent_wait(int rfd, pid_t child, struct bfs_mount *m,
		       const char *mp, const char *log, bool quiet)
{
	char buf[1100];
	size_t n = 0;
	ssize_t k;
	int status;

	while (n < sizeof(buf) - 1) {
		k = read(rfd, buf + n, sizeof(buf) - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if (buf[0] == '0')
			break;
	}
	buf[n] = '\0';
	close(rfd);
	if (n > 0 && buf[0] == '0') {
		/* The child owns the mount now; do not touch shared state
		 * (catalog, store connections) on the way out. */
		bfs_mount_abandon(m);
		if (!quiet)
			fprintf(stderr,
				"backupfs mount: mounted at %s; messages (read "
				"errors too) go to %s\n",
				mp,
				log ? log : "syslog (journalctl -t backupfs)");
		fflush(stdout);
		fflush(stderr);
		_exit(EXIT_OK);
	}
	waitpid(child, &status, 0);
	cli_error("mount", "%s",
		  n > 1 ? buf + 1
			: "the mount daemon died before the mount "
			  "was ready");
	bfs_mount_free(m); /* unmounts */
	return EXIT_ERR;
}

/* One malloc arena for the daemon.  glibc gives each thread that meets
 * a locked arena an arena of its own (up to 8 per core), and main.c's
 * tune_malloc lets each keep 32 MiB of free top.  The mount's chunk
 * buffers are allocated on the reader's pool threads and freed on
 * whichever thread evicts them, so every arena settles at its own peak:
 * peak RSS is the sum of the arenas' peaks, not the peak of what is
 * live.  Measured (cold cat of a 1 GiB dump at the defaults, 2 cores):
 * S3 mount 113-116 MiB with the default arenas, 94 MiB with 2, 81 MiB
 * with 1; local 84-95 MiB against 72-73 MiB; the rate and the daemon's
 * CPU the same (one malloc per chunk: the lock is not contended).
 * MALLOC_ARENA_MAX or a GLIBC_TUNABLES arena_max in the environment
 * wins. */
static void mount_tune_malloc(void)
{
#ifdef M_ARENA_MAX
	const char *t = getenv("GLIBC_TUNABLES");

	if (getenv("MALLOC_ARENA_MAX") || (t && strstr(t, "arena_max")))
		return;
	mallopt(M_ARENA_MAX, 1);
#endif
}

static int run_mount(struct cli_ctx *ctx)
{
	struct mount_args *a = ctx->args;
	struct bfs_mount_opts mo = {0};
	struct bfs_repo *repo = NULL;
	struct bfs_catalog *cat = NULL;
	struct bfs_mount *m = NULL;
	struct bfs_err err = {""};
	struct cli_common *c = &ctx->c;
	struct ready ready = {-1};
	char *mp = NULL, *repo_abs = NULL, *cat_path = NULL, *log = NULL;
	int rc, ret = EXIT_ERR, pfd[2] = {-1, -1};
	pid_t pid;

	mount_tune_malloc();
	if (check_mountpoint(ctx->argv[0], &mp))
		goto out;
	if (is_local_repo(c->repo)) {
		repo_abs = realpath(c->repo, NULL);
		if (repo_abs)
			c->repo = repo_abs;
	}
	if (c->catalog) {
		cat_path = absolute(c->catalog);
		if (!cat_path) {
			cli_error("mount", "out of memory");
			goto out;
		}
		c->catalog = cat_path;
	}
	if (cli_open(c, true, &repo, &cat))
		goto out;
	/* a read path: a delta's output is checked, its bases are not
	 * hashed again (repo.h) */
	bfs_repo_set_bases_by_output(repo, true);
	/* The mount opens its own connections (one per thread, and after
	 * the fork: SQLite connections must not cross a fork). */
	bfs_catalog_close(cat);
	cat = NULL;
	if (!cat_path) {
		rc = bfs_catalog_default_path(repo, &cat_path, &err);
		if (rc < 0) {
			cli_error("mount", "%s", bfs_err_str(&err, rc));
			goto out;
		}
	}

	mo.mountpoint = mp;
	mo.catalog_path = cat_path;
	mo.repo_id = repo->id;
	mo.fsname = c->repo;
	mo.fuse_opts =
	    a->fuse_opts.len ? (const char *)a->fuse_opts.data : NULL;
	mo.allow_other = a->allow_other;
	mo.debug = a->debug;
	mo.cache_size = a->cache_size;
	mo.sync_interval_ms = (unsigned)(a->sync_interval * 1000.0);
	if (a->readahead == 0)
		mo.readahead_chunks = BFS_MOUNT_NO_READAHEAD;
	else if (a->readahead != UINT64_MAX)
		mo.readahead_bytes = a->readahead;
	if (!a->foreground) {
		if (log_target(a, repo->id, &log))
			goto out;
		if (pipe(pfd) < 0) {
			cli_error("mount", "cannot create a pipe: %s",
				  strerror(errno));
			goto out;
		}
		ready.fd = pfd[1];
		mo.ready = ready_cb;
		mo.ready_arg = &ready;
	}
	rc = bfs_mount_new(&mo, repo, &m, &err);
	if (rc < 0) {
		cli_error("mount", "%s", bfs_err_str(&err, rc));
		goto out;
	}
	/* The mount holds the window to a share of the cache: say so when
	 * the user asked for more. */
	if (mo.readahead_bytes > bfs_mount_readahead(m) && !c->quiet) {
		char want[32], cache[32], got[32];

		bfs_fmt_bytes(want, sizeof(want), mo.readahead_bytes);
		bfs_fmt_bytes(cache, sizeof(cache), bfs_mount_cache_size(m));
		bfs_fmt_bytes(got, sizeof(got), bfs_mount_readahead(m));
		fprintf(stderr,
			"backupfs mount: note: --readahead %s is more than the "
			"%s cache allows: reading ahead %s (raise --cache-size "
			"for more)\n",
			want, cache, got);
	}
	if (a->foreground) {
		rc = bfs_mount_serve(m, &err);
		if (rc < 0)
			cli_error("mount", "%s", bfs_err_str(&err, rc));
		else
			ret = EXIT_OK;
		goto out;
	}

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		cli_error("mount", "cannot fork: %s", strerror(errno));
		goto out;
	}
	if (pid > 0) {
		close(pfd[1]);
		pfd[1] = -1;
		ready.fd = -1;
		ret = parent_wait(pfd[0], pid, m, mp, log, c->quiet);
		pfd[0] = -1;
		m = NULL; /* freed (and unmounted) by parent_wait */
		goto out;
	}

	/* The daemon. */
	close(pfd[0]);
	pfd[0] = -1;
	setsid();
	{
		int devnull = open("/dev/null", O_RDWR);

		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			if (devnull > STDERR_FILENO)
				close(devnull);
		}
	}
	if (!log || bfs_log_setup_file(log, bfs_log_level()) < 0)
		bfs_log_setup(true, bfs_log_level());
	rc = bfs_mount_serve(m, &err);
	if (rc < 0) {
		bfs_err_log("mount: %s", bfs_err_str(&err, rc));
		report_failure(&ready, bfs_err_str(&err, rc));
	} else {
		report_failure(&ready, "the mount ended before it was ready");
		ret = EXIT_OK;
	}
	pfd[1] = -1; /* closed by ready_cb / report_failure */
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	bfs_mount_free(m);
	bfs_catalog_close(cat);
	bfs_repo_close(repo);
	free(mp);
	free(repo_abs);
	free(cat_path);
	free(log);
	return ret;
}

static void mount_args_init(void *args)
{
	struct mount_args *a = args;

	a->cache_size = 0; /* the mount's default for the store */
	a->readahead = UINT64_MAX;
	a->sync_interval = 2.0;
}

static void mount_args_free(void *args)
{
	struct mount_args *a = args;

	bfs_buf_free(&a->fuse_opts);
}

enum { CB_O, CB_DEBUG, CB_SYNC_INTERVAL };

/* -o, -d and --sync-interval. */
static int mount_cb(struct cli_ctx *ctx, const struct cli_opt *o,
		    const char *arg)
{
	struct mount_args *a = ctx->args;
	char *end;

	switch (o->id) {
	case CB_O:
		return parse_o(a, (char *)arg); /* our own argv */
	case CB_DEBUG:
		a->debug = a->foreground = true;
		return 0;
	default:
		errno = 0;
		a->sync_interval = strtod(arg, &end);
		if (errno || *end || a->sync_interval < 0 ||
		    a->sync_interval > 86400)
			return cli_usage_error(&cmd_mount,
					       "bad sync interval '%s'", arg);
		return 0;
	}
}

/* -o catalog=FILE is --catalog FILE unless that was given too. */
static int check_mount(struct cli_ctx *ctx)
{
	struct mount_args *a = ctx->args;

	if (a->catalog && !ctx->c.catalog)
		ctx->c.catalog = a->catalog;
	return 0;
}

static const struct cli_opt mount_opts[] = {
    CLI_GROUP("Options:"),
    CLI_FLAG('f', "foreground", struct mount_args, foreground,
	     "stay in the foreground, log to stderr (for systemd); "
	     "SIGTERM/SIGINT unmount"),
    CLI_CALLBACK('o', "options", "OPT[,OPT]...", mount_cb, CB_O,
		 "mount options: allow_other (others may read; the "
		 "recorded modes and owners are then enforced: "
		 "default_permissions), cache_size=SIZE (or cache-size=), "
		 "catalog=FILE, foreground and debug (as -f; debug also "
		 "prints every FUSE request: never in fstab), and FUSE "
		 "options (e.g. nosuid, nodev, noexec); mount(8) options "
		 "like noauto, nofail, _netdev, ro, x-* are ignored.  "
		 "Always read-only: rw is refused."),
    CLI_SIZE(0, "cache-size", "SIZE", struct mount_args, cache_size, 1 << 20,
	     "bad cache size '%s' (at least 1M)",
	     "decompressed chunk cache (default 48M; 72M on S3, where "
	     "the deeper readahead it allows keeps more requests in "
	     "flight)"),
    CLI_SIZE(0, "readahead", "SIZE", struct mount_args, readahead, 0,
	     "bad readahead size '%s'",
	     "how far ahead of a sequential reader chunks are fetched "
	     "(default 32M, at most a third of the cache; 0 = off)"),
    CLI_CALLBACK(0, "sync-interval", "S", mount_cb, CB_SYNC_INTERVAL,
		 "check the repository for new or deleted backups every S "
		 "seconds (default 2, 0 = never; the same thread compacts "
		 "the catalog when due and the mount is idle)"),
    CLI_STRING(0, "log-file", "FILE", struct mount_args, log_file,
	       "in the background, append messages to FILE (default: "
	       "syslog, or $XDG_STATE_HOME/backupfs/mount-<repository "
	       "id>.log when no syslog daemon listens)"),
    CLI_CALLBACK('d', "debug", NULL, mount_cb, CB_DEBUG,
		 "FUSE debug output (implies -f)"),
    CLI_END};

const struct bfs_cmd cmd_mount = {
    .name = "mount",
    .run = run_mount,
    .summary = "browse the backups as a read-only directory tree (FUSE)",
    .synopsis = "backupfs mount [-r REPO] MOUNTPOINT [-f] [-o OPT[,OPT]...]\n"
		"                      [--cache-size SIZE]",
    .description =
	"Mount the repository's backups read-only at MOUNTPOINT:\n"
	"  MOUNTPOINT/<backup id>/...   each backup's tree as written\n"
	"  MOUNTPOINT/latest            symlink to the newest backup\n"
	"  MOUNTPOINT/jobs/NAME/latest  symlink to the newest backup of job\n"
	"                               NAME (backup --job, 'backupfs run')\n"
	"  MOUNTPOINT/<id>/.../DUMP.d/  next to a SQL dump with a table map:\n"
	"                               _before.sql, SCHEMA.TABLE.sql per "
	"table,\n"
	"                               _after.sql (README: 'One table back')\n"
	"Nothing is downloaded until it is read, and then only the chunks "
	"that\n"
	"cover the bytes read.  New backups appear within seconds; deleted "
	"ones\n"
	"disappear.  Runs in the background and returns once the mount works;\n"
	"its messages (a read error names backup, path and pack) then go to\n"
	"syslog or, on a host without a syslog daemon, to a log file, and the\n"
	"mount says which.  Unmount with 'fusermount3 -u MOUNTPOINT'.",
    .opts = mount_opts,
    .examples =
	"  backupfs mount -r /srv/backups/nocodb /mnt/backups\n"
	"  psql restored < /mnt/backups/latest/database.sql\n"
	"  psql newdb < /mnt/backups/latest/database.sql.d/_before.sql\n"
	"  psql newdb < "
	"/mnt/backups/latest/database.sql.d/public.customer.sql\n"
	"  fusermount3 -u /mnt/backups\n"
	"  # /etc/fstab (see mount.backupfs(8), backupfs-mount@.service):\n"
	"  /srv/backups/nocodb /mnt/backups backupfs noauto,nofail,allow_other "
	"0 0",
    .exit_codes = "0 mounted (or unmounted cleanly with -f), 1 error (e.g.\n"
		  "no repository, mountpoint missing), 2 usage.",
    .flags = CLI_REPO, /* run_mount opens: paths made absolute first */
    .min_args = 1,
    .max_args = 1,
    .missing = "missing MOUNTPOINT",
    .args_size = sizeof(struct mount_args),
    .args_init = mount_args_init,
    .args_free = mount_args_free,
    .check = check_mount,
};
