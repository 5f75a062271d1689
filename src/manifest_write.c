/* manifest_write.c - the streaming manifest writer: entries go through
 * a zstd stream into an unlinked spool file, so memory stays flat; finish
 * puts the header line in a frame of its own in front.  See manifest.h
 * and doc/FORMAT.md.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "chunker.h"
#include "format.h"
#include "manifest_int.h"
#include "pack.h"

struct bfs_manifest_writer {
	FILE *spool;		  /* unlinked temp file: compressed entries */
	ZSTD_CCtx *zc;		  /* streaming, one frame for all entries */
	struct bfs_buf line;	  /* the line being built */
	struct bfs_buf zout;	  /* compressed output staging */
	uint64_t entries, chunks; /* for the end line */
	size_t line_chunks;	  /* chunks in the open "c" line */
	uint64_t file_chunks;	  /* chunks given for the next entry */
	uint64_t file_bytes;	  /* their plain bytes */
	int failed;		  /* sticky error (-errno), or 1 when spent */
};

/*
 * Create a writer.  The spool is created in $TMPDIR (default /tmp) and
 * unlinked at once.  Returns 0 with *out set, -ENOMEM or -errno from
 * mkstemp.
 */
int bfs_manifest_writer_new(struct bfs_manifest_writer **out,
			    struct bfs_err *err)
{
	struct bfs_manifest_writer *w;
	const char *dir = getenv("TMPDIR");
	struct bfs_buf tmpl = {0};
	int fd, rc;

	*out = NULL;
	if (!dir || !*dir)
		dir = "/tmp";
	w = calloc(1, sizeof(*w));
	if (!w)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	rc = bfs_buf_printf(&tmpl, "%s/backupfs-manifest-XXXXXX", dir);
	if (rc) {
		bfs_err_set(err, rc, "out of memory");
		goto out_free;
	}
	fd = mkostemp((char *)tmpl.data, O_CLOEXEC);
	if (fd < 0) {
		rc = bfs_err_set(err, -errno,
				 "cannot create manifest spool in '%s': %s",
				 dir, strerror(errno));
		goto out_free;
	}
	unlink((char *)tmpl.data);
	w->spool = fdopen(fd, "w+");
	if (!w->spool) {
		rc = bfs_err_set(err, -errno, "cannot open manifest spool: %s",
				 strerror(errno));
		close(fd);
		goto out_free;
	}
	w->zc = ZSTD_createCCtx();
	if (!w->zc ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel,
						BFS_MANIFEST_ZSTD_LEVEL)) ||
	    ZSTD_isError(
		ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1))) {
		rc = bfs_err_set(err, -ENOMEM, "cannot create zstd context");
		goto out_free;
	}
	bfs_buf_free(&tmpl);
	*out = w;
	return 0;
out_free:
	bfs_buf_free(&tmpl);
	bfs_manifest_writer_free(w);
	return rc;
}

/* Frees the writer and its spool (an unfinished manifest is dropped).
 * NULL ok. */
void bfs_manifest_writer_free(struct bfs_manifest_writer *w)
{
	if (!w)
		return;
	if (w->spool)
		fclose(w->spool);
	ZSTD_freeCCtx(w->zc);
	bfs_buf_free(&w->line);
	bfs_buf_free(&w->zout);
	free(w);
}

/* Compress (and with end, finish the frame of) w->line into the spool,
 * then empty the line. */
static int spool_line(struct bfs_manifest_writer *w, bool end,
		      struct bfs_err *err)
{
	ZSTD_inBuffer in = {w->line.data, w->line.len, 0};
	size_t outsz = ZSTD_CStreamOutSize(), r;
	int rc;

	if (w->line.len > BFS_MANIFEST_MAX_LINE + 1)
		return bfs_err_set(err, -ENAMETOOLONG,
				   "manifest line of %zu bytes over the limit",
				   w->line.len);
	rc = bfs_buf_reserve(&w->zout, outsz);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	do {
		ZSTD_outBuffer o = {w->zout.data, outsz, 0};

		r = ZSTD_compressStream2(w->zc, &o, &in,
					 end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(r))
			return bfs_err_set(err, -EIO,
					   "manifest compression failed: %s",
					   ZSTD_getErrorName(r));
		if (o.pos && fwrite(o.dst, 1, o.pos, w->spool) != o.pos)
			return bfs_err_set(err, -EIO,
					   "cannot write manifest spool: %s",
					   strerror(errno));
	} while (in.pos < in.size || (end && r != 0));
	w->line.len = 0;
	return 0;
}

static int writer_check(struct bfs_manifest_writer *w, struct bfs_err *err)
{
	if (w->failed > 0)
		return bfs_err_set(err, -EINVAL,
				   "manifest writer already finished");
	if (w->failed < 0)
		return bfs_err_set(err, w->failed,
				   "manifest writer failed earlier");
	return 0;
}

static int close_chunk_line(struct bfs_manifest_writer *w, struct bfs_err *err)
{
	int rc;

	if (!w->line_chunks)
		return 0;
	rc = bfs_buf_append(&w->line, "]}\n", 3);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	w->line_chunks = 0;
	return spool_line(w, false, err);
}

/*
 * Add one chunk of the next file entry (call in file order, before
 * bfs_manifest_writer_entry).  c is copied.  Returns 0, -EINVAL (clen 0,
 * len 0 or over BFS_CHUNK_MAX_LIMIT, offset inside the pack magic) or an
 * I/O error of the spool; any error but -EINVAL spoils the writer.
 */
int bfs_manifest_writer_chunk(struct bfs_manifest_writer *w,
			      const struct bfs_chunkref *c, struct bfs_err *err)
{
	char hash[BFS_HASH_HEX + 1], pack[BFS_HASH_HEX + 1];
	int rc = writer_check(w, err);

	if (rc)
		return rc;
	if (c->clen == 0 || c->len == 0 || c->len > BFS_CHUNK_MAX_LIMIT ||
	    c->offset < BFS_PACK_HEADER ||
	    c->offset > BFS_PACK_MAX_SIZE - c->clen)
		return bfs_err_set(err, -EINVAL,
				   "invalid chunk reference (offset %" PRIu64
				   ", clen %u, len %u)",
				   c->offset, c->clen, c->len);
	bfs_hex(hash, c->hash, BFS_HASH_LEN);
	bfs_hex(pack, c->pack, BFS_HASH_LEN);
	rc = bfs_buf_printf(&w->line, "%s[\"%s\",\"%s\",%" PRIu64 ",%u,%u]",
			    w->line_chunks ? "," : "{\"c\":[", hash, pack,
			    c->offset, c->clen, c->len);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out_fail;
	}
	w->line_chunks++;
	w->file_chunks++;
	w->file_bytes += c->len;
	w->chunks++;
	if (w->line_chunks == BFS_MANIFEST_CHUNKS_PER_LINE) {
		rc = close_chunk_line(w, err);
		if (rc)
			goto out_fail;
	}
	return 0;
out_fail:
	w->failed = rc;
	return rc;
}

/* Checks an entry against the rules the reader enforces.  -EINVAL. */
static int entry_check(const struct bfs_manifest_writer *w,
		       const struct bfs_entry *e, struct bfs_err *err)
{
	const char *p = e->path ? e->path : "";

	if (!e->path || !bfs_manifest_path_valid(e->path, e->path_len))
		return bfs_err_set(err, -EINVAL, "invalid entry path '%.*s'",
				   (int)BFS_MIN(e->path_len, 300), p);
	if (!bfs_manifest_type_valid(e->type))
		return bfs_err_set(err, -EINVAL, "'%s': invalid entry type %d",
				   p, e->type);
	if (e->mode & ~BFS_MODE_MASK)
		return bfs_err_set(err, -EINVAL, "'%s': invalid mode %o", p,
				   e->mode);
	if (e->type == BFS_T_SYMLINK && (e->target || !e->link) &&
	    (!e->target || e->target_len == 0 ||
	     e->target_len > BFS_SYMLINK_TARGET_MAX ||
	     memchr(e->target, 0, e->target_len)))
		return bfs_err_set(err, -EINVAL,
				   "'%s': symlink without a valid target", p);
	if (e->link && (e->type == BFS_T_DIR ||
			!bfs_manifest_path_valid(e->link, e->link_len)))
		return bfs_err_set(err, -EINVAL, "'%s': invalid hardlink", p);
	if (w->file_chunks) {
		/* a file that failed mid-read keeps what was read */
		if (e->type != BFS_T_FILE || e->link)
			return bfs_err_set(err, -EINVAL,
					   "'%s': chunks given for an entry "
					   "that has no content",
					   p);
	}
	if (e->type == BFS_T_FILE && !e->link && !e->error &&
	    w->file_bytes != e->size)
		return bfs_err_set(err, -EINVAL,
				   "'%s': chunks hold %" PRIu64
				   " bytes but the size is %" PRIu64,
				   p, w->file_bytes, e->size);
	return 0;
}

/* ,"key":N without printf (a line per entry is formatted): neg puts a
 * minus sign before the magnitude. */
static int put_num(struct bfs_buf *b, const char *key, size_t klen, bool neg,
		   uint64_t mag)
{
	char tmp[24];
	size_t n = 0;
	int rc;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag);
	rc = bfs_json_key(b, key, klen, n + 1);
	if (rc)
		return rc;
	if (neg)
		b->data[b->len++] = '-';
	memcpy(b->data + b->len, tmp + sizeof(tmp) - n, n);
	b->len += n;
	return 0;
}

#define PUT_U64(b, k, v) put_num((b), k, sizeof(k) - 1, false, (v))
#define PUT_I64(b, k, v)                                                       \
	put_num((b), k, sizeof(k) - 1, (v) < 0,                                \
		(v) < 0 ? (uint64_t)0 - (uint64_t)(v) : (uint64_t)(v))

/* The members of an entry line after the "{": the path (or name) under
 * key / keyb, then every metadata key of doc/FORMAT.md 6.2, without the
 * closing "}".  Shared with the tree lines of format 2 (tree.c). */
int bfs_manifest_entry_keys(struct bfs_buf *b, const struct bfs_entry *e,
			    const char *key, const char *keyb)
{
	size_t start = b->len;
	int rc;

	rc = bfs_json_key_bytes(b, key, keyb, e->path, e->path_len);
	/* jkey_* start with ",": drop it */
	if (!rc) {
		memmove(b->data + start, b->data + start + 1,
			b->len - start - 1);
		b->len--;
		rc = bfs_buf_reserve(b, 16);
	}
	if (!rc) {
		memcpy(b->data + b->len, ",\"t\":\"", 6);
		b->len += 6;
		b->data[b->len++] = (uint8_t)e->type;
		b->data[b->len++] = '"';
		rc = PUT_U64(b, "m", e->mode);
	}
	if (!rc)
		rc = PUT_U64(b, "u", e->uid);
	if (!rc)
		rc = PUT_U64(b, "g", e->gid);
	if (!rc && e->user)
		rc = bfs_json_key_str(b, "un", e->user, strlen(e->user));
	if (!rc && e->group)
		rc = bfs_json_key_str(b, "gn", e->group, strlen(e->group));
	if (!rc)
		rc = PUT_I64(b, "mt", e->mtime_ns);
	if (!rc && e->ctime_ns)
		rc = PUT_I64(b, "ct", e->ctime_ns);
	if (!rc && e->ino)
		rc = PUT_U64(b, "i", e->ino);
	if (!rc && e->type == BFS_T_SYMLINK && e->target)
		rc = PUT_U64(b, "s", e->target_len);
	else if (!rc && (e->type == BFS_T_FILE || e->size))
		rc = PUT_U64(b, "s", e->size);
	if (!rc && e->type == BFS_T_SYMLINK && e->target)
		rc = bfs_json_key_bytes(b, "l", "lb", e->target, e->target_len);
	if (!rc && (e->type == BFS_T_CHR || e->type == BFS_T_BLK))
		rc = PUT_U64(b, "r", e->rdev);
	if (!rc && e->link)
		rc = bfs_json_key_bytes(b, "h", "hb", e->link, e->link_len);
	if (!rc && e->sparse)
		rc = bfs_buf_append(b, ",\"sp\":true", 10);
	if (!rc && e->error)
		rc = bfs_json_key_str(b, "err", e->error, strlen(e->error));
	return rc;
}

/*
 * Write one entry line, after the chunks given for it (files only).
 * Strings in e are borrowed.  e->size of a symlink is written as
 * e->target_len.  Returns 0, -EINVAL (the entry breaks a rule of
 * doc/FORMAT.md), -ENAMETOOLONG (line over BFS_MANIFEST_MAX_LINE), or an
 * I/O / memory error.  After -EINVAL/-ENAMETOOLONG for an entry without
 * chunks the writer stays usable (skip the entry); any other failure
 * spoils it (every later call fails).
 */
int bfs_manifest_writer_entry(struct bfs_manifest_writer *w,
			      const struct bfs_entry *e, struct bfs_err *err)
{
	struct bfs_buf *b = &w->line;
	int rc = writer_check(w, err);

	if (rc)
		return rc;
	rc = entry_check(w, e, err);
	if (rc) {
		/* chunk lines may be in the spool already: they would
		 * belong to the next entry, so the writer is spoilt */
		if (w->file_chunks)
			w->failed = rc;
		return rc;
	}
	rc = close_chunk_line(w, err);
	if (rc)
		goto out_fail;

	rc = bfs_buf_append(b, "{", 1);
	if (!rc)
		rc = bfs_manifest_entry_keys(b, e, "p", "pb");
	if (!rc)
		rc = bfs_buf_append(b, "}\n", 2);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out_fail;
	}
	if (b->len > BFS_MANIFEST_MAX_LINE + 1) {
		b->len = 0;
		rc = bfs_err_set(err, -ENAMETOOLONG,
				 "'%.300s': manifest line too long", e->path);
		if (w->file_chunks)
			goto out_fail;
		return rc;
	}
	rc = spool_line(w, false, err);
	if (rc)
		goto out_fail;
	w->entries++;
	w->file_chunks = w->file_bytes = 0;
	return 0;
out_fail:
	w->failed = rc;
	return rc;
}

/* RFC 3339 UTC with nanoseconds: 2026-11-22T02:50:00.123456789Z */
static int fmt_time(struct bfs_buf *b, int64_t ns)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	time_t t;
	struct tm tm;

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	return bfs_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ",
			      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			      tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

/* Validates sources_json (a JSON array, checked like a manifest line) and
 * appends it with CR/LF/TAB turned into spaces (only possible between
 * tokens once the parse passed), so it stays one line. */
static int put_sources(struct bfs_buf *b, const char *src, struct bfs_err *err)
{
	struct bfs_jdoc d = {0};
	const char *why = "";
	size_t n = strlen(src), start, end = 0, at;
	char *copy;
	int rc;

	/* the parser decodes strings in place: parse a copy */
	copy = malloc(n + 1);
	if (!copy)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	memcpy(copy, src, n + 1);
	rc = bfs_jdoc_parse(&d, copy, n, &end, &why, &at);
	if (!rc && d.v[0].type != BFS_J_ARR) {
		bfs_jdoc_free(&d);
		free(copy);
		return bfs_err_set(err, -EINVAL, "sources is not a JSON array");
	}
	/* nothing but whitespace may follow the array */
	for (; !rc && end < n; end++)
		if (src[end] != ' ' && src[end] != '\t' && src[end] != '\r' &&
		    src[end] != '\n') {
			why = "garbage after the array";
			rc = -EUCLEAN;
		}
	bfs_jdoc_free(&d);
	free(copy);
	if (rc == -ENOMEM)
		return bfs_err_set(err, rc, "out of memory");
	if (rc)
		return bfs_err_set(err, -EINVAL, "sources: %s", why);
	start = b->len;
	rc = bfs_buf_append(b, src, n);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	for (size_t i = start; i < b->len; i++)
		if (b->data[i] == '\n' || b->data[i] == '\r' ||
		    b->data[i] == '\t')
			b->data[i] = ' ';
	return 0;
}

static int header_line(struct bfs_buf *b, const struct bfs_manifest_header *h,
		       struct bfs_err *err)
{
	return bfs_manifest_header_json(b, h, BFS_FORMAT_VERSION_1, NULL, 0, 0,
					err);
}

/* The header line (with its '\n') of a manifest of the given version;
 * version 2 adds "root" (nroot part ids) and "count". */
int bfs_manifest_header_json(struct bfs_buf *b,
			     const struct bfs_manifest_header *h, int version,
			     const uint8_t (*root)[BFS_HASH_LEN], size_t nroot,
			     uint64_t count, struct bfs_err *err)
{
	const struct bfs_backup_stats *s = &h->stats;
	char hex[BFS_HASH_HEX + 1];
	int rc;

	if (!h->id || !bfs_backup_id_valid(h->id))
		return bfs_err_set(err, -EINVAL, "invalid backup id '%s'",
				   h->id ? h->id : "(null)");
	rc = bfs_buf_printf(b, "{\"backupfs\":\"%s\",\"version\":%d",
			    BFS_MANIFEST_MAGIC, version);
	if (!rc)
		rc = bfs_json_key_str(b, "id", h->id, strlen(h->id));
	if (!rc)
		rc = bfs_buf_append(b, ",\"time\":\"", 9);
	if (!rc)
		rc = fmt_time(b, h->time_ns);
	if (!rc)
		rc = bfs_buf_printf(b, "\",\"time_ns\":%" PRId64, h->time_ns);
	if (!rc)
		rc = bfs_json_key_str(b, "host", h->host ? h->host : "",
				      h->host ? strlen(h->host) : 0);
	if (!rc && h->job)
		rc = bfs_json_key_str(b, "job", h->job, strlen(h->job));
	if (!rc)
		rc = bfs_buf_append(b, ",\"tags\":[", 9);
	for (size_t i = 0; !rc && h->tags && h->tags[i]; i++) {
		if (i)
			rc = bfs_buf_append(b, ",", 1);
		if (!rc)
			rc = bfs_json_str(b, h->tags[i], strlen(h->tags[i]));
	}
	if (!rc)
		rc = bfs_buf_append(b, "],\"sources\":", 12);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	if (h->sources_json) {
		rc = put_sources(b, h->sources_json, err);
		if (rc)
			return rc;
	} else {
		rc = bfs_buf_append(b, "[]", 2);
	}
	if (!rc)
		rc = bfs_buf_printf(
		    b,
		    ",\"partial\":%s,\"stats\":{\"entries\":%" PRIu64
		    ",\"files\":%" PRIu64 ",\"dirs\":%" PRIu64
		    ",\"bytes\":%" PRIu64 ",\"chunks\":%" PRIu64
		    ",\"new_chunks\":%" PRIu64 ",\"new_bytes\":%" PRIu64
		    ",\"stored_bytes\":%" PRIu64 ",\"errors\":%" PRIu64
		    ",\"duration_ns\":%" PRId64 "}",
		    h->partial ? "true" : "false", s->entries, s->files,
		    s->dirs, s->bytes, s->chunks, s->new_chunks, s->new_bytes,
		    s->stored_bytes, s->errors, s->duration_ns);
	if (!rc && version >= 2) {
		rc = bfs_buf_append(b, ",\"root\":[", 9);
		for (size_t i = 0; !rc && i < nroot; i++) {
			bfs_hex(hex, root[i], BFS_HASH_LEN);
			rc = bfs_buf_printf(b, "%s\"%s\"", i ? "," : "", hex);
		}
		if (!rc)
			rc = bfs_buf_printf(b, "],\"count\":%" PRIu64, count);
	}
	if (!rc)
		rc = bfs_buf_append(b, "}\n", 2);
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	if (b->len > BFS_MANIFEST_MAX_LINE + 1)
		return bfs_err_set(err, -ENAMETOOLONG,
				   "manifest header line too long");
	return 0;
}

/*
 * Finish the manifest: the header line compressed as its own zstd frame,
 * then the spooled frame holding the entries and the end line.  *out is
 * overwritten with the bytes (caller frees out->data).  The header's
 * strings are borrowed.  Returns 0, -EINVAL (invalid header, or chunks
 * given without a file entry after them), -ENAMETOOLONG, -ENOMEM, -EIO.
 * The writer is spent afterwards, whatever the result (free it).
 */
int bfs_manifest_writer_finish(struct bfs_manifest_writer *w,
			       const struct bfs_manifest_header *h,
			       struct bfs_buf *out, struct bfs_err *err)
{
	struct bfs_buf res = {0}, hl = {0};
	size_t bound, r;
	long spool_len;
	int rc = writer_check(w, err);

	if (rc)
		return rc;
	w->failed = 1;
	if (w->file_chunks) {
		rc = bfs_err_set(err, -EINVAL,
				 "manifest ends with chunks but no file entry");
		goto out;
	}
	rc = header_line(&hl, h, err);
	if (rc)
		goto out;
	rc = bfs_buf_printf(&w->line,
			    "{\"end\":{\"entries\":%" PRIu64
			    ",\"chunks\":%" PRIu64 "}}\n",
			    w->entries, w->chunks);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	rc = spool_line(w, true, err);
	if (rc)
		goto out;
	if (fflush(w->spool) != 0 || (spool_len = ftell(w->spool)) < 0) {
		rc = bfs_err_set(err, -EIO, "cannot write manifest spool: %s",
				 strerror(errno));
		goto out;
	}

	/* header frame */
	bound = ZSTD_compressBound(hl.len);
	rc = bfs_buf_reserve(&res, bound + (size_t)spool_len);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	ZSTD_CCtx_reset(w->zc, ZSTD_reset_session_only);
	r = ZSTD_compress2(w->zc, res.data, bound, hl.data, hl.len);
	if (ZSTD_isError(r)) {
		rc = bfs_err_set(err, -EIO, "manifest compression failed: %s",
				 ZSTD_getErrorName(r));
		goto out;
	}
	res.len = r;

	/* the spooled frame */
	rewind(w->spool);
	if (fread(res.data + res.len, 1, (size_t)spool_len, w->spool) !=
	    (size_t)spool_len) {
		rc = bfs_err_set(err, -EIO, "cannot read manifest spool: %s",
				 ferror(w->spool) ? strerror(errno)
						  : "short read");
		goto out;
	}
	res.len += (size_t)spool_len;
	*out = res;
	memset(&res, 0, sizeof(res));
out:
	bfs_buf_free(&res);
	bfs_buf_free(&hl);
	return rc;
}
