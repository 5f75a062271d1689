/* log.c - see log.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* The logger is process configuration, set once by main before threads
 * start; reads afterwards need no lock.  stderr writes are serialised so
 * lines from FUSE worker threads do not interleave. */
static struct {
	bool to_syslog;
	int max_level;
	pthread_mutex_t lock;
	int fd; /* bfs_log_setup_file, else -1 */
} logger = {false, LOG_NOTICE, PTHREAD_MUTEX_INITIALIZER, -1};

void bfs_log_setup(bool to_syslog, int max_level)
{
	logger.to_syslog = to_syslog;
	logger.max_level = max_level;
	if (to_syslog)
		openlog("backupfs", LOG_PID, LOG_DAEMON);
}

int bfs_log_setup_file(const char *path, int max_level)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	if (logger.fd >= 0)
		close(logger.fd);
	logger.fd = fd;
	logger.to_syslog = false;
	logger.max_level = max_level;
	return 0;
}

bool bfs_log_syslog_ok(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int types[] = {SOCK_DGRAM, SOCK_STREAM}, fd, rc;
	size_t i;

	memcpy(sa.sun_path, "/dev/log", sizeof("/dev/log"));
	for (i = 0; i < 2; i++) {
		fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (rc == 0)
			return true;
	}
	return false;
}

int bfs_log_level(void)
{
	return logger.max_level;
}

void bfs_log(int level, const char *fmt, ...)
{
	static const char *names[] = {"emerg",	 "alert",  "crit", "error",
				      "warning", "notice", "info", "debug"};
	char raw[2048], line[4096];
	va_list ap;

	if (level > logger.max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* texts from outside (names, server errors) must not drive the
	 * terminal or forge log lines */
	bfs_term_quote_to(line, sizeof(line), raw);
	if (logger.to_syslog) {
		syslog(level, "%s", line);
		return;
	}
	if (logger.fd >= 0) {
		char out[4200], ts[32];
		struct timespec now;
		struct tm tm;
		int n;

		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		n = snprintf(out, sizeof(out), "%s backupfs[%ld]: %s: %s\n", ts,
			     (long)getpid(), names[level & 7], line);
		if (n > 0) /* one write: O_APPEND keeps lines whole */
			(void)!write(logger.fd, out,
				     (size_t)n < sizeof(out) ? (size_t)n
							     : sizeof(out) - 1);
		return;
	}
	pthread_mutex_lock(&logger.lock);
	if (level <= LOG_WARNING)
		fprintf(stderr, "backupfs: %s: %s\n", names[level & 7], line);
	else
		fprintf(stderr, "backupfs: %s\n", line);
	pthread_mutex_unlock(&logger.lock);
}
