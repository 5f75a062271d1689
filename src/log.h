/* log.h - the one logger: syslog levels, stderr in the foreground,
 * syslog when daemonised.  Messages lowercase, subject quoted, what failed
 * first: `cannot read pack 'packs/ab/ab12..': ...`.
 *
 * Thread-safe.  Secrets must never be passed to it.
 */
#ifndef BFS_LOG_H
#define BFS_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Configure: to_syslog selects syslog(3) (ident "backupfs"), else stderr.
 * max_level is LOG_ERR..LOG_DEBUG; messages above it are dropped.
 * Defaults before any call: stderr, LOG_NOTICE. */
void bfs_log_setup(bool to_syslog, int max_level);
int bfs_log_level(void);

/* Log to the file at path instead: appended (created 0600), each line
 * "2026-11-25T10:00:00Z backupfs[PID]: LEVEL: message".  For daemons on
 * hosts without a syslog daemon.  Returns 0 or -errno (the logger is
 * unchanged then). */
int bfs_log_setup_file(const char *path, int max_level);

/* Does a syslog daemon listen on /dev/log?  (Many containers and minimal
 * hosts have none: syslog(3) then drops every message.) */
bool bfs_log_syslog_ok(void);

/* Log one line at level.  The formatted text is quoted for the terminal
 * (bfs_term_quote_to: control bytes, C1 and invalid UTF-8 escaped), so a
 * name or a server's text cannot drive the terminal or forge lines; at
 * most ~4 KiB after quoting.  Thread-safe. */
void bfs_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define bfs_err_log(...) bfs_log(LOG_ERR, __VA_ARGS__)
#define bfs_warn(...) bfs_log(LOG_WARNING, __VA_ARGS__)
#define bfs_info(...) bfs_log(LOG_INFO, __VA_ARGS__)
#define bfs_debug(...) bfs_log(LOG_DEBUG, __VA_ARGS__)

#endif
