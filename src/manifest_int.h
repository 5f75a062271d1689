/* manifest_int.h - what manifest.c, manifest_json.c, manifest_write.c and
 * manifest_read.c share; not for other modules (use manifest.h).
 */
#ifndef BFS_MANIFEST_INT_H
#define BFS_MANIFEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "util.h"

/* ---- JSON output (manifest_json.c) ----------------------------------------
 */

/* Append s[0..n) as a JSON string; bytes that are not valid UTF-8 (and
 * NUL) become U+FFFD.  0 or -ENOMEM. */
int bfs_json_str(struct bfs_buf *b, const char *s, size_t n);
/* ,"key": (key[0..klen) written as is: callers pass plain ASCII keys),
 * with room for extra more bytes reserved.  0 or -ENOMEM. */
int bfs_json_key(struct bfs_buf *b, const char *key, size_t klen, size_t extra);
/* ,"key":"string" (lossy, see bfs_json_str) */
int bfs_json_key_str(struct bfs_buf *b, const char *key, const char *s,
		     size_t n);
/* ,"key":"..." or ,"keyb":"<base64>" when s is not valid UTF-8. */
int bfs_json_key_bytes(struct bfs_buf *b, const char *key, const char *keyb,
		       const char *s, size_t n);

/* The members of an entry line after its "{" (name under key/keyb, then
 * the metadata keys), without the "}" (manifest_write.c). */
int bfs_manifest_entry_keys(struct bfs_buf *b, const struct bfs_entry *e,
			    const char *key, const char *keyb);

/* The header line (with '\n') of a manifest of version 1 or 2 (2 adds
 * "root" and "count"); manifest_write.c. */
int bfs_manifest_header_json(struct bfs_buf *b,
			     const struct bfs_manifest_header *h, int version,
			     const uint8_t (*root)[BFS_HASH_LEN], size_t nroot,
			     uint64_t count, struct bfs_err *err);

/* ---- JSON input: one strict pass (manifest_json.c) ------------------------
 */

enum bfs_jtype {
	BFS_J_NULL,
	BFS_J_FALSE,
	BFS_J_TRUE,
	BFS_J_NUM,
	BFS_J_STR,
	BFS_J_ARR,
	BFS_J_OBJ,
};

/*
 * One value of a parsed line.  Offsets are into the parsed text, which
 * the parser modifies in place: strings (values and member names) are
 * decoded there and NUL-terminated, so they can be used as C strings (they
 * hold no NUL: \u0000 is rejected).  Numbers keep their token text; an
 * array or object keeps the span of its raw text only in the original
 * bytes (take a copy before parsing if you need that text).
 */
struct bfs_jnode {
	uint32_t off, len;  /* STR: decoded bytes; NUM: token; ARR/OBJ: raw
			       span from '[' / '{' to ']' / '}' */
	uint32_t key, klen; /* object members: decoded name */
	uint32_t next;	    /* next sibling, 0 = none */
	uint32_t child;	    /* first element or member, 0 = none */
	uint8_t type;	    /* enum bfs_jtype */
};

/* A parsed line: node 0 is the top-level value.  Reused line after line
 * (the node array only grows).  Not thread-safe. */
struct bfs_jdoc {
	struct bfs_jnode *v;
	size_t n, cap;
	const char *s; /* the parsed text (borrowed) */
};

void bfs_jdoc_free(struct bfs_jdoc *d);

/*
 * Parse one JSON value from s[0..n) in a single pass: RFC 8259 grammar,
 * valid UTF-8, no raw control characters in strings, no \u0000, lone
 * surrogates rejected, nesting at most BFS_MANIFEST_MAX_DEPTH.  Leading
 * whitespace is skipped; *end receives the offset after the value (the
 * caller decides what may follow).  s must be writable: strings are
 * decoded in place.  Returns 0, -EUCLEAN with *why and *at (byte offset)
 * set, or -ENOMEM.
 */
int bfs_jdoc_parse(struct bfs_jdoc *d, char *s, size_t n, size_t *end,
		   const char **why, size_t *at);

static inline const struct bfs_jnode *bfs_jdoc_node(const struct bfs_jdoc *d,
						    uint32_t i)
{
	return i ? &d->v[i] : NULL;
}

/* The decoded string of a BFS_J_STR node (NUL-terminated). */
static inline const char *bfs_jstr(const struct bfs_jdoc *d,
				   const struct bfs_jnode *x)
{
	return d->s + x->off;
}

/*
 * Look up members of object obj by name; keys is NULL-terminated and
 * slots[i] receives the member for keys[i] or NULL.  Returns the name of
 * a known key given twice, or NULL.  Unknown names are ignored.
 */
const char *bfs_jdoc_members(const struct bfs_jdoc *d,
			     const struct bfs_jnode *obj,
			     const char *const *keys,
			     const struct bfs_jnode **slots);

/* Integer values, strictly -?(0|[1-9][0-9]*): false for anything else
 * (not a number, fraction, exponent, out of range). */
bool bfs_jdoc_u64(const struct bfs_jdoc *d, const struct bfs_jnode *x,
		  uint64_t max, uint64_t *out);
bool bfs_jdoc_i64(const struct bfs_jdoc *d, const struct bfs_jnode *x,
		  int64_t *out);

#endif
