/* crypt_pass.h - the password sources of an encrypted repository:
 * --password-file FILE (first line), --password-command CMD (sh -c, first
 * line of its output), or the environment: PREFIX_FILE, PREFIX_COMMAND,
 * PREFIX (the password itself), in that order.  PREFIX is
 * "BACKUPFS_PASSWORD", or "BACKUPFS_NEW_PASSWORD" for the new password of
 * `key add` / `key passwd`.  A password is never taken from argv, never
 * logged, and wiped from memory after use (bfs_password_free).
 *
 * Thread safety: reads the environment; call from the main thread.
 */
#ifndef BFS_CRYPT_PASS_H
#define BFS_CRYPT_PASS_H

#include <stdbool.h>

#include "util.h"

#define BFS_PASSWORD_ENV "BACKUPFS_PASSWORD"
#define BFS_NEW_PASSWORD_ENV "BACKUPFS_NEW_PASSWORD"

/* Read the password from file, else command, else the environment under
 * env_prefix, into out (its first line, without the newline; not
 * NUL-terminated).  Returns 1 when a password was read, 0 when no source
 * is given (out empty), or -errno (err names the source, never the
 * password: empty, unreadable file, failed command). */
int bfs_password_read(const char *file, const char *command,
		      const char *env_prefix, struct bfs_buf *out,
		      struct bfs_err *err);

/* True if a source is given (without reading it). */
bool bfs_password_given(const char *file, const char *command,
			const char *env_prefix);

/* Wipe and free a password buffer.  NULL data ok. */
void bfs_password_free(struct bfs_buf *b);

#endif
