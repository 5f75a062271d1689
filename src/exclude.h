/* exclude.h - --exclude patterns of a --files or --archive source, with
 * the rules rsync users expect (README, "Excluding files"):
 *
 *   - `*` matches any run of characters except '/', `?` one character
 *     except '/', `[...]` one of a set (`[a-z]`, `[!0-9]` or `[^0-9]`;
 *     never '/'), `\x` the character x;
 *   - `**` matches any run, '/' included; `**` followed by '/' also
 *     matches no directory at all (so "a/", "**", "/b" written together
 *     match a/b and a/x/y/b);
 *   - a pattern without a '/' (a trailing one aside) and without `**` is
 *     matched against the name of every entry, at any depth;
 *   - a pattern with a '/' inside, or with `**`, is matched against the
 *     whole path relative to the source root;
 *   - a leading '/' anchors the pattern at the source root; when it starts
 *     with the source's own absolute path followed by '/', that part is
 *     dropped first (`--files /srv/app --exclude /srv/app/logs`);
 *   - a trailing '/' makes the pattern match directories only.
 *
 * An excluded directory is not descended into, so everything below it is
 * excluded with it.  Each pattern counts its matches, so the caller can
 * warn about patterns that matched nothing.
 *
 * Matching is linear in the path for patterns without `**` and
 * O(pattern length x path length) with it; never exponential.
 *
 * Thread safety: a compiled set is used by one source walk at a time.
 */
#ifndef BFS_EXCLUDE_H
#define BFS_EXCLUDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define BFS_EXCLUDE_MAX_LEN 4096 /* bytes of one pattern */

struct bfs_exclude;

/* Compile patterns[0..n) for a source whose root is the absolute path
 * root (may be NULL: no absolute-path stripping; a trailing '/' is
 * ignored).  -EINVAL with err naming the pattern and what is wrong (empty,
 * "/" alone, an unclosed '[', a trailing '\', too long), -ENOMEM.  n == 0
 * gives a set that matches nothing.  *out owned by the caller. */
int bfs_exclude_new(const char *const *patterns, size_t n, const char *root,
		    struct bfs_exclude **out, struct bfs_err *err);
void bfs_exclude_free(struct bfs_exclude *x); /* NULL ok */

/* Is the entry at rel (its path relative to the source root, no leading
 * '/', components separated by single '/') excluded?  is_dir: the entry
 * is a directory; -1 when not known yet, in which case patterns for
 * directories only are not tried (call again with 0/1 once known).
 * Counts a hit on every pattern that matches. */
bool bfs_exclude_match(struct bfs_exclude *x, const char *rel, int is_dir);

/* Is the entry at rel, or any directory above it, excluded?  For flat
 * listings (archives), where an excluded directory's entries come
 * separately.  is_dir as above, for rel itself. */
bool bfs_exclude_match_path(struct bfs_exclude *x, const char *rel, int is_dir);

/* The number of patterns, and how many entries pattern i matched. */
size_t bfs_exclude_count(const struct bfs_exclude *x);
uint64_t bfs_exclude_hits(const struct bfs_exclude *x, size_t i);

/* True when pattern (as given) is valid; err says why not.  For checking
 * command lines before anything runs. */
bool bfs_exclude_valid(const char *pattern, struct bfs_err *err);

#endif
