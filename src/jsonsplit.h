/* jsonsplit.h - a streaming JSON splitter: a JSON array of records (or a
 * sequence of JSON values, such as JSON lines) in, JSON lines out, one
 * record per line, in pieces of any size.  Never holds more than a fixed
 * buffer, whatever the size of the input or of one record.
 *
 * Input: optional blanks (and a UTF-8 byte order mark), then either
 *   '[' v, v, ... ']'    a JSON array: each element is one record; only
 *                        blanks may follow the ']'
 *   v v ...              anything else: a sequence of JSON values, each
 *                        one record (JSON lines, or concatenated values)
 * Each record is checked as JSON (RFC 8259 grammar: objects, arrays,
 * strings with their escapes, numbers, true/false/null; no raw control
 * character inside a string; nesting at most BFS_JSPLIT_DEPTH deep) and
 * written without the blanks outside its strings, followed by "\n".
 * Content of strings is copied byte for byte (UTF-8 is not decoded).
 *
 * Not thread-safe: one thread drives a struct bfs_jsplit.
 */
#ifndef BFS_JSONSPLIT_H
#define BFS_JSONSPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define BFS_JSPLIT_DEPTH 256

/* Receives output: n bytes of JSON lines (borrowed for the call).
 * Returns 0 or -errno (err set), which ends the split with that code. */
typedef int (*bfs_jsplit_write_fn)(void *arg, const void *data, size_t n,
				   struct bfs_err *err);

struct bfs_jsplit;

/* A new splitter writing to write(arg, ...).  *out is freed with
 * bfs_jsplit_free.  0 or -ENOMEM. */
int bfs_jsplit_new(bfs_jsplit_write_fn write, void *arg,
		   struct bfs_jsplit **out);
void bfs_jsplit_free(struct bfs_jsplit *j); /* NULL ok */

/* Feed n bytes of input.  0, -EUCLEAN for input that is not what the
 * header describes (err: "byte N: expected ..."), or the write
 * function's error.  After an error the splitter only returns it. */
int bfs_jsplit_feed(struct bfs_jsplit *j, const void *data, size_t n,
		    struct bfs_err *err);

/* The input ended: -EUCLEAN if it ended inside a record or an array
 * without its ']'; else flushes the output and returns 0 (or the write
 * function's error). */
int bfs_jsplit_finish(struct bfs_jsplit *j, struct bfs_err *err);

/* Records written so far. */
uint64_t bfs_jsplit_records(const struct bfs_jsplit *j);

#endif
