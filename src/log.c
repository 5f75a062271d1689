/* log.c - see log.h. */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* The logger is process configuration, set once by main before threads
 * start; reads afterwards need no lock.  stderr writes are serialised so
 * lines from FUSE worker threads do not interleave. */
static struct {
	bool to_syslog;
	int max_level;
	pthread_mutex_t lock;
} logger = {false, LOG_NOTICE, PTHREAD_MUTEX_INITIALIZER};

void bfs_log_setup(bool to_syslog, int max_level)
{
	logger.to_syslog = to_syslog;
	logger.max_level = max_level;
	if (to_syslog)
		openlog("backupfs", LOG_PID, LOG_DAEMON);
}

int bfs_log_level(void)
{
	return logger.max_level;
}

void bfs_log(int level, const char *fmt, ...)
{
	static const char *names[] = {"emerg",	 "alert",  "crit", "error",
				      "warning", "notice", "info", "debug"};
	char line[2048];
	va_list ap;

	if (level > logger.max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (logger.to_syslog) {
		syslog(level, "%s", line);
		return;
	}
	pthread_mutex_lock(&logger.lock);
	if (level <= LOG_WARNING)
		fprintf(stderr, "backupfs: %s: %s\n", names[level & 7], line);
	else
		fprintf(stderr, "backupfs: %s\n", line);
	pthread_mutex_unlock(&logger.lock);
}
