/* util.h - small shared helpers: error buffer, growable buffer, hex,
 * base64, SHA-256, UTF-8 checks, time.
 *
 * Conventions used across backupfs (see doc/ARCHITECTURE.md):
 *  - functions return 0 or -errno; byte counts as ssize_t or -errno;
 *  - predicates return bool;
 *  - a rich message travels beside the code in an optional struct bfs_err
 *    (NULL is always accepted and means "caller does not want the text");
 *  - the core never prints and never exits.
 */
#ifndef BFS_UTIL_H
#define BFS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BFS_HASH_LEN 32 /* SHA-256 */
#define BFS_HASH_HEX (BFS_HASH_LEN * 2)

/* Error text beside an -errno code.  msg is always NUL-terminated. */
struct bfs_err {
	char msg[1024];
};

/* Set err's text (printf-style) if err is not NULL.  Returns -abs(code) so
 * callers can write `return bfs_err_set(err, -EIO, "...")`. */
int bfs_err_set(struct bfs_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix the existing text: "PREFIX: old text".  Returns code. */
int bfs_err_prefix(struct bfs_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* err->msg or strerror(-code) if err is NULL or empty. */
const char *bfs_err_str(const struct bfs_err *err, int code);

/* Growable byte buffer.  Zero-initialise; bfs_buf_free() releases. */
struct bfs_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};
int bfs_buf_reserve(struct bfs_buf *b, size_t extra); /* 0 / -ENOMEM */
int bfs_buf_append(struct bfs_buf *b, const void *p, size_t n);
int bfs_buf_printf(struct bfs_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void bfs_buf_free(struct bfs_buf *b); /* NULL ok */

/* A per-thread scratch buffer, kept between calls so that a hot path
 * (pack ranges read for decoding) reuses warm pages instead of taking
 * fresh ones from malloc each time: a fresh multi-100-KiB buffer is an
 * mmap, page faults while it fills and an munmap (TLB shootdowns on
 * every core the process runs on) when freed.
 * bfs_scratch_take moves the calling thread's buffer into *b (len 0;
 * an empty buffer if the thread has none, or if it is taken already: a
 * nested user gets a buffer of its own).  bfs_scratch_give moves *b back
 * when its capacity is at most keep_max and the thread holds none (else
 * frees it); *b is empty afterwards.  A thread's buffer is freed when it
 * exits (the main thread's at process exit).  Thread-safe: each thread
 * has its own. */
void bfs_scratch_take(struct bfs_buf *b);
void bfs_scratch_give(struct bfs_buf *b, size_t keep_max);

/* Growable list of owned strings, NULL-terminated once it holds one
 * (v[n] == NULL, so v can be an argv).  Zero-initialise; bfs_strv_free()
 * releases.  Not thread-safe. */
struct bfs_strv {
	char **v;
	size_t n, cap;
};
int bfs_strv_add(struct bfs_strv *l, const char *s); /* copies; -ENOMEM */
void bfs_strv_sort(struct bfs_strv *l);		     /* strcmp order */
/* True if s is in l, which must be sorted. */
bool bfs_strv_has(const struct bfs_strv *l, const char *s);
void bfs_strv_free(struct bfs_strv *l); /* NULL ok; leaves l zeroed */

/* The value of hex digit c (0-9, a-f, A-F), or -1. */
int bfs_hexval(int c);
/* Hex: out must hold 2*n+1 bytes; NUL-terminated, lowercase. */
void bfs_hex(char *out, const uint8_t *in, size_t n);
/* Parse exactly 2*n hex chars.  Returns 0 or -EINVAL. */
int bfs_unhex(uint8_t *out, const char *in, size_t n);

/* Base64 (RFC 4648, with padding).  Allocates *out (NUL-terminated). */
int bfs_b64_encode(const uint8_t *in, size_t n, char **out);
int bfs_b64_decode(const char *in, uint8_t **out, size_t *outlen);

/* SHA-256 of a buffer (OpenSSL libcrypto, thread-safe). */
void bfs_sha256(uint8_t out[BFS_HASH_LEN], const void *data, size_t n);

/* True if s[0..n) is valid UTF-8 without NUL bytes. */
bool bfs_utf8_valid(const char *s, size_t n);

/* Terminal quoting (issue 13 item 10).  Names, hosts, tags, sources and
 * error texts come from manifests, trees, catalogs and servers: hostile
 * text that must not drive the terminal.  bfs_term_quote appends s[0..n)
 * to out with every byte a terminal could act on escaped, as `ls -b`
 * does: \n \t \r \a \b \f \v \e for those controls, \xHH for the other
 * C0 controls, DEL and each byte of invalid UTF-8 (a lone 0x9b included),
 * \uHHHH for the C1 controls (U+0080..U+009F) and the bidirectional
 * overrides (U+202A..U+202E, U+2066..U+2069).  Valid UTF-8 is kept, and so
 * is a backslash.  out stays NUL-terminated (out->len excludes the NUL).
 * 0 or -ENOMEM.  Thread-safe (out is the caller's). */
int bfs_term_quote(struct bfs_buf *out, const char *s, size_t n);
/* True if bfs_term_quote would copy s[0..n) unchanged. */
bool bfs_term_safe(const char *s, size_t n);
/* bfs_term_quote of the NUL-terminated s into the fixed buffer out
 * (outsz >= 1), cut short at a whole escape if it does not fit.  Returns
 * out.  For log lines and stack buffers.  Thread-safe. */
char *bfs_term_quote_to(char *out, size_t outsz, const char *s);

/* Nanoseconds since the epoch, CLOCK_REALTIME / CLOCK_MONOTONIC. */
int64_t bfs_now_ns(void);
int64_t bfs_mono_ns(void);

/* Format a byte count as "1.5 GiB" into out (>= 16 bytes). */
void bfs_fmt_bytes(char *out, size_t outsz, uint64_t n);
/* Parse "64M", "1G", "512k", "1048576".  Returns 0 or -EINVAL. */
int bfs_parse_size(const char *s, uint64_t *out);

/* Backup ids: [A-Za-z0-9._-]+, 1..128 chars, not "." / ".." / "latest". */
bool bfs_backup_id_valid(const char *id);

/* write(2)/pwrite/read loops that retry EINTR and short transfers.
 * Return 0 / -errno (read_full: bytes read, short only at EOF). */
int bfs_write_full(int fd, const void *buf, size_t n);
ssize_t bfs_read_full(int fd, void *buf, size_t n);
ssize_t bfs_pread_full(int fd, void *buf, size_t n, off_t off);

/* mkdir -p for the directory part of path (not the last component). */
int bfs_mkdir_parents(const char *path, mode_t mode);

/* "FIFO", "socket", "directory", ... for the type bits of mode (a static
 * string, for messages about objects that are not regular files). */
const char *bfs_file_type_name(mode_t mode);

/* Fill buf with n random bytes (getrandom).  0 / -errno. */
int bfs_random(void *buf, size_t n);

/* strdup/strndup/malloc wrappers return NULL on failure (never exit). */

#define BFS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BFS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define BFS_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Little-endian fixed-width encoding used by packs and catalog blobs. */
static inline void bfs_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}
static inline void bfs_put_le64(uint8_t *p, uint64_t v)
{
	bfs_put_le32(p, (uint32_t)v);
	bfs_put_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t bfs_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint64_t bfs_get_le64(const uint8_t *p)
{
	return (uint64_t)bfs_get_le32(p) | (uint64_t)bfs_get_le32(p + 4) << 32;
}

/* Is prog an executable file in one of $PATH's directories (default
 * /usr/bin:/bin)?  Reentrant. */
bool bfs_in_path(const char *prog);

/* True if an object in the JSON value o holds a key twice, at any depth
 * (64 levels at most); its dotted path ("compression.level") goes into
 * dup.  cJSON keeps both and answers lookups with the first, so two
 * readers of one file could disagree: parsers of repository objects
 * (config, key objects) refuse such input.  Quadratic per object: for
 * small documents.  Reentrant. */
struct cJSON;
bool bfs_json_duplicate_key(const struct cJSON *o, char *dup, size_t dupsz);

/* url as it may be shown: the password of its userinfo
 * ("scheme://user:password@host/...") replaced by "***".  malloc'ed;
 * NULL when out of memory. */
char *bfs_url_shown(const char *url);

#endif
