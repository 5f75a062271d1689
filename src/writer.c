/* writer.c - one backup being written (see writer.h): the public API.
 * The pipeline behind it is in writer_pipe.c, the path bookkeeping in
 * writer_path.c; writer_impl.h draws the threads and the memory bound.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"
#include "log.h"
#include "writer_impl.h"

/* uploader threads: default for a local store, for S3, upper bound */
#define UPLOADS_LOCAL 2
#define UPLOADS_S3 4
#define MAX_UPLOADS 16
#define MAX_THREADS 64
#define INDEX_FLUSH_BYTES (8u << 20) /* see index_flush_bytes */

/* Uploaders when the options leave it open: more for S3, where one PUT
 * stream is far from filling the link. */
static unsigned default_uploads(const struct bfs_store *s)
{
	if (bfs_store_is_remote(s))
		return UPLOADS_S3;
	return UPLOADS_LOCAL;
}

/* ---- public API ------------------------------------------------------- */

static int json_str(struct bfs_buf *o, const char *s)
{
	size_t n = strlen(s), i;
	int rc = bfs_buf_append(o, "\"", 1);

	/* bytes that are not UTF-8 are written as \u00XX (one code point
	 * per byte): lossy but deterministic, so source keys still match */
	for (i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t k;

		if (c == '"' || c == '\\') {
			rc = bfs_buf_printf(o, "\\%c", c);
		} else if (c < 0x20) {
			rc = bfs_buf_printf(o, "\\u%04x", c);
		} else if (c < 0x80) {
			rc = bfs_buf_append(o, &s[i], 1);
		} else {
			k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
			if (k > 1 && i + k <= n && bfs_utf8_valid(&s[i], k)) {
				rc = bfs_buf_append(o, &s[i], k);
				i += k - 1;
			} else {
				rc = bfs_buf_printf(o, "\\u%04x", c);
			}
		}
	}
	return rc ? rc : bfs_buf_append(o, "\"", 1);
}

/* The index object's text at which the writer stores it and starts the
 * next (wr_index_flush): ~8 MiB is ~95,000 blobs, so the session chunk
 * set and the text stay near 16 MiB whatever the number of files.
 * BFS_INDEX_OBJ_BYTES (at least 1024) lowers it, so that tests cut
 * small backups into several objects. */
static size_t index_flush_bytes(void)
{
	const char *knob = getenv("BFS_INDEX_OBJ_BYTES");
	unsigned long long v;

	if (knob) {
		v = strtoull(knob, NULL, 10);
		if (v >= 1024 && v < INDEX_FLUSH_BYTES)
			return (size_t)v;
	}
	return INDEX_FLUSH_BYTES;
}

/* Build the default id from the current UTC time. */
static void default_id(char *out, size_t n, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%d_%H-%M-%S", &tm);
}

static void backup_free(struct bfs_backup *b)
{
	size_t i;

	if (!b)
		return;
	wr_pipe_free(b);
	wt_free(b);
	bfs_idxobj_writer_free(b->idxw);
	bfs_chunkset_fini(&b->chunks);
	bfs_packset_fini(&b->packs_seen);
	bfs_pathset_fini(&b->paths);
	free(b->last_parent);
	wr_entry_free(b->fe);
	free(b->cbuf);
	wr_dt_reset(b);
	wr_delta_unref(b->fdx);
	wr_bases_free(b->bases);
	bfs_buf_free(&b->skrec);
	bfs_buf_free(&b->sarec);
	free(b->src_key);
	free(b->src_dest);
	free(b->current);
	free(b->host);
	free(b->job);
	if (b->tags) {
		for (i = 0; b->tags[i]; i++)
			free(b->tags[i]);
		free(b->tags);
	}
	bfs_buf_free(&b->sources);
	wr_owners_free(b);
	pthread_mutex_destroy(&b->ring_lock);
	pthread_mutex_destroy(&b->dedup_lock);
	pthread_mutex_destroy(&b->up_lock);
	pthread_cond_destroy(&b->done_cond);
	free(b);
}

/* Is id free for a new backup (not in the repository, not in the index)?
 * With replace, its manifest must exist instead.  0, -EEXIST "backup 'ID'
 * already exists", -ENOENT (replace), or a store error. */
static int check_id(struct bfs_repo *repo, const struct bfs_index *idx,
		    const char *id, bool replace, struct bfs_err *err)
{
	char key[BFS_KEY_MAX];
	uint64_t sz;
	int rc;

	rc = bfs_repo_manifest_key(key, id);
	if (rc)
		return bfs_err_set(err, rc, "invalid backup id '%s'", id);
	rc = bfs_store_stat(repo->store, key, &sz, NULL);
	if (replace)
		return rc == 0 ? 0
			       : bfs_err_set(err, -ENOENT,
					     "backup '%s' to replace is "
					     "not in the repository",
					     id);
	if (rc == 0)
		return bfs_err_set(err, -EEXIST, "backup '%s' already exists",
				   id);
	if (rc != -ENOENT) {
		struct bfs_err e2 = {{0}};

		rc = bfs_store_stat(repo->store, key, &sz, &e2);
		if (rc != -ENOENT)
			return bfs_err_set(err, rc ? rc : -EEXIST,
					   "cannot check backup '%s': %s", id,
					   bfs_err_str(&e2, rc));
	}
	if (bfs_index_has_backup(idx, id))
		return bfs_err_set(err, -EEXIST, "backup '%s' already exists",
				   id);
	return 0;
}

int bfs_backup_begin(struct bfs_repo *repo, const struct bfs_index *idx,
		     const struct bfs_backup_opts *opts,
		     struct bfs_backup **out, struct bfs_err *err)
{
	struct bfs_backup_opts none = {0};
	struct bfs_backup *b;
	char host[256];
	long ncpu;
	size_t i, ntags = 0, base_len;
	unsigned nup, nworkers;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &none;
	b = calloc(1, sizeof(*b));
	if (!b)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&b->ring_lock, NULL);
	pthread_mutex_init(&b->dedup_lock, NULL);
	pthread_mutex_init(&b->up_lock, NULL);
	pthread_cond_init(&b->done_cond, NULL);
	b->repo = repo;
	b->idx = idx;
	b->open_pack = -1;
	b->time_ns = opts->time_ns ? opts->time_ns : bfs_now_ns();
	b->replace = opts->replace;
	b->lock = opts->lock;
	b->held = opts->held;
	b->start_mono = bfs_mono_ns();
	b->last_progress = b->start_mono;
	b->progress = opts->progress;
	b->progress_arg = opts->progress_arg;

	if (opts->id) {
		if (!bfs_backup_id_valid(opts->id)) {
			rc = bfs_err_set(err, -EINVAL,
					 "invalid backup id '%s' (allowed: A-Z "
					 "a-z 0-9 . _ -)",
					 opts->id);
			goto out_free;
		}
		snprintf(b->id, sizeof(b->id), "%s", opts->id);
		rc = check_id(repo, idx, b->id, opts->replace, err);
	} else {
		/* The time to the second, then .1, .2, ... when that is
		 * taken (backups made in the same second, or --time values
		 * that differ only in their fraction). */
		default_id(b->id, sizeof(b->id), b->time_ns);
		base_len = strlen(b->id);
		for (i = 1;; i++) {
			rc = check_id(repo, idx, b->id, false, err);
			if (rc != -EEXIST || i > 999)
				break;
			snprintf(b->id + base_len, sizeof(b->id) - base_len,
				 ".%zu", i);
		}
	}
	if (rc)
		goto out_free;

	if (opts->host) {
		b->host = strdup(opts->host);
	} else {
		if (gethostname(host, sizeof(host)))
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = 0;
		b->host = strdup(host);
	}
	if (opts->job) {
		if (!bfs_format_job_name_valid(opts->job)) {
			rc = bfs_err_set(err, -EINVAL,
					 "invalid job name '%s' (allowed: 1-%d "
					 "of A-Z a-z 0-9 . _ -, not starting "
					 "with . or -)",
					 opts->job, BFS_JOB_NAME_MAX);
			goto out_free;
		}
		if (!(b->job = strdup(opts->job)))
			goto out_nomem;
	}
	if (opts->tags)
		while (opts->tags[ntags])
			ntags++;
	b->tags = calloc(ntags + 1, sizeof(*b->tags));
	if (!b->host || !b->tags)
		goto out_nomem;
	for (i = 0; i < ntags; i++)
		if (!(b->tags[i] = strdup(opts->tags[i])))
			goto out_nomem;
	if (bfs_buf_append(&b->sources, "[", 1))
		goto out_nomem;

	b->idx_flush_bytes = index_flush_bytes();
	rc = wt_init(b, err);
	if (!rc && bfs_idxobj_writer_new(&b->idxw))
		rc = bfs_err_set(err, -ENOMEM, "out of memory");
	if (rc)
		goto out_free;
	b->pb = bfs_pack_builder_new();
	if (!b->pb)
		goto out_nomem;
	bfs_pack_builder_set_key(b->pb, repo->crypt);
	/* --no-delta stores every chunk whole, but still records the
	 * sketches and anchors: the next backup finds its bases here */
	b->sk_on = repo->version >= 3;
	b->delta_on = !opts->no_delta && b->sk_on;
	b->tdelta_on =
	    b->delta_on && repo->version >= BFS_FORMAT_VERSION_TDELTA;
	b->sa_on = b->sk_on && repo->version >= BFS_FORMAT_VERSION_DELTA2;
	if (wr_bases_new(&b->bases))
		goto out_nomem;

	if (bfs_chunkset_init(&b->chunks) || bfs_packset_init(&b->packs_seen) ||
	    bfs_pathset_init(&b->paths))
		goto out_nomem;

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	nworkers =
	    opts->threads ? opts->threads : (ncpu > 0 ? (unsigned)ncpu : 1);
	nworkers = BFS_MIN(nworkers, MAX_THREADS);
	b->njobs = 2 * (size_t)nworkers + 2;
	b->jobs = calloc(b->njobs, sizeof(*b->jobs));
	if (!b->jobs)
		goto out_nomem;
	nup = opts->uploads ? opts->uploads : default_uploads(repo->store);
	nup = BFS_MIN(nup, MAX_UPLOADS);
	rc = wr_pipe_start(b, nworkers, nup, err);
	if (rc)
		goto out_free;
	*out = b;
	return 0;

out_nomem:
	rc = bfs_err_set(err, -ENOMEM, "out of memory");
out_free:
	backup_free(b);
	return rc;
}

const char *bfs_backup_id(const struct bfs_backup *b)
{
	return b->id;
}

const struct bfs_index *bfs_backup_index(const struct bfs_backup *b)
{
	return b->idx;
}

int64_t bfs_backup_time_ns(const struct bfs_backup *b)
{
	return b->time_ns;
}

/* Close the open source object with what it added: files, logical bytes
 * and wall time.  The caller has drained the pipeline, so the counters
 * are final for it.  0 or -ENOMEM. */
static int close_source(struct bfs_backup *b)
{
	int rc;

	if (!b->src_open)
		return 0;
	rc = bfs_buf_printf(
	    &b->sources, ",\"files\":%llu,\"bytes\":%llu,\"duration_ns\":%lld}",
	    (unsigned long long)(b->stats.files - b->src_files0),
	    (unsigned long long)(b->stats.bytes - b->src_bytes0),
	    (long long)(bfs_mono_ns() - b->src_ns0));
	if (!rc)
		b->src_open = false;
	return rc;
}

int bfs_backup_progress_now(struct bfs_backup *b, struct bfs_err *err)
{
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	if (b->in_file)
		return bfs_err_set(err, -EBUSY, "file '%s' is still open",
				   b->fe->path);
	if (wr_pipe_drain(b))
		return wr_failed(b, err);
	wr_progress(b, true);
	return 0;
}

int bfs_backup_source_detail(struct bfs_backup *b, const char *key,
			     const char *json, struct bfs_err *err)
{
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	if (!b->src_open)
		return bfs_err_set(err, -EINVAL, "no source is open");
	rc = bfs_buf_printf(&b->sources, ",");
	if (!rc)
		rc = json_str(&b->sources, key);
	if (!rc)
		rc = bfs_buf_printf(&b->sources, ":%s", json);
	return rc ? bfs_err_set(err, rc, "out of memory") : 0;
}

int bfs_backup_add_source(struct bfs_backup *b, const char *kind,
			  const char *dest, const char *spec, const char *key,
			  struct bfs_err *err)
{
	struct bfs_buf *o = &b->sources;
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	if (b->src_open) {
		/* the previous source's figures need its entries counted */
		rc = wr_pipe_drain(b);
		if (rc)
			return wr_failed(b, err);
		if (close_source(b))
			return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	rc = bfs_buf_printf(o, "%s{\"kind\":", b->nsources ? "," : "");
	if (!rc)
		rc = json_str(o, kind ? kind : "");
	if (!rc)
		rc = bfs_buf_printf(o, ",\"dest\":");
	if (!rc)
		rc = json_str(o, dest ? dest : "");
	if (!rc)
		rc = bfs_buf_printf(o, ",\"spec\":");
	if (!rc)
		rc = json_str(o, spec ? spec : "");
	if (!rc)
		rc = bfs_buf_printf(o, ",\"key\":");
	if (!rc)
		rc = json_str(o, key ? key : "");
	if (!rc) {
		free(b->src_key);
		free(b->src_dest);
		b->src_key = key ? strdup(key) : NULL;
		b->src_dest = dest ? strdup(dest) : NULL;
		if ((key && !b->src_key) || (dest && !b->src_dest))
			rc = -ENOMEM;
	}
	if (rc)
		return bfs_err_set(err, rc, "out of memory");
	b->nsources++;
	b->src_open = true;
	b->src_files0 = b->stats.files;
	b->src_bytes0 = b->stats.bytes;
	b->src_ns0 = bfs_mono_ns();
	return 0;
}

static int add_common(struct bfs_backup *b, const struct bfs_entry *e,
		      const char *why, struct bfs_err *err)
{
	struct bfs_entry *c;
	bool skip;
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	if (b->in_file)
		return bfs_err_set(err, -EBUSY, "file '%s' is still open",
				   b->fe->path);
	if ((rc = wr_check_type(e, err)))
		return rc;
	if (!why && e->type == BFS_T_FILE && !e->link)
		return bfs_err_set(err, -EINVAL,
				   "file '%s' must be streamed or reused",
				   e->path);
	if (e->type == BFS_T_SYMLINK && !e->target && !why)
		return bfs_err_set(err, -EINVAL, "symlink '%s' has no target",
				   e->path);
	rc = wr_path_claim(b, e, why != NULL, &skip, err);
	if (rc || skip)
		return rc;
	c = wr_entry_dup(e);
	if (!c)
		return wr_nomem(b, err);
	if (why) {
		free(c->error);
		c->error = strdup(why);
		free(c->link);
		c->link = NULL;
		c->link_len = 0;
		if (!c->error) {
			wr_entry_free(c);
			return wr_nomem(b, err);
		}
	}
	if (wr_entry_prepare(b, c)) {
		wr_entry_free(c);
		return wr_nomem(b, err);
	}
	if (c->link) /* a hardlink has its group's size */
		c->size = bfs_pathset_size(&b->paths, c->link, c->link_len);
	rc = wr_submit_entry(b, c, J_ENTRY, NULL, 0);
	return rc ? wr_failed(b, err) : 0;
}

int bfs_backup_add(struct bfs_backup *b, const struct bfs_entry *e,
		   struct bfs_err *err)
{
	return add_common(b, e, NULL, err);
}

int bfs_backup_add_error(struct bfs_backup *b, const struct bfs_entry *e,
			 const char *why, struct bfs_err *err)
{
	return add_common(b, e, why ? why : "unreadable", err);
}

int bfs_backup_add_tree(struct bfs_backup *b, const struct bfs_entry *e,
			const uint8_t (*parts)[BFS_HASH_LEN], size_t nparts,
			uint64_t count, const struct bfs_tree_stats *st,
			struct bfs_err *err)
{
	struct wt_sealed *t;
	struct bfs_entry *c;
	bool skip;
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	if (b->in_file)
		return bfs_err_set(err, -EBUSY, "file '%s' is still open",
				   b->fe->path);
	if (e->type != BFS_T_DIR || e->error || (nparts == 0) != (count == 0))
		return bfs_err_set(err, -EINVAL,
				   "'%s': not a directory with a tree",
				   e->path ? e->path : "");
	bfs_debug("unchanged directory '%s' (%llu entries)", e->path,
		  (unsigned long long)count);
	rc = wr_path_claim(b, e, false, &skip, err);
	if (rc)
		return rc;
	if (skip)
		return bfs_err_set(err, -EEXIST,
				   "directory '%s' is in the backup already",
				   e->path);
	rc = bfs_pathset_set(&b->paths, e->path, e->path_len, PK_DIR_SEALED);
	if (rc)
		return wr_nomem(b, err);
	t = calloc(1, sizeof(*t));
	if (t)
		t->parts = malloc((nparts ? nparts : 1) * BFS_HASH_LEN);
	c = wr_entry_dup(e);
	if (!t || !t->parts || !c || wr_entry_prepare(b, c)) {
		wt_sealed_free(t);
		wr_entry_free(c);
		return wr_nomem(b, err);
	}
	memcpy(t->parts, parts, nparts * BFS_HASH_LEN);
	t->nparts = nparts;
	t->count = count;
	if (st)
		t->st = *st;
	rc = wr_submit_tree(b, c, t);
	return rc ? wr_failed(b, err) : 0;
}

int bfs_backup_file_begin(struct bfs_backup *b, const struct bfs_entry *e,
			  enum bfs_profile profile, struct bfs_err *err)
{
	size_t need;
	bool skip;
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	if (b->in_file)
		return bfs_err_set(err, -EBUSY, "file '%s' is still open",
				   b->fe->path);
	if (e->type != BFS_T_FILE || e->link)
		return bfs_err_set(err, -EINVAL, "'%s' is not a regular file",
				   e->path ? e->path : "");
	bfs_debug("unchanged '%s'", e->path); /* -vv: each file */
	if (profile < 0 || profile >= BFS_PROFILE_COUNT)
		return bfs_err_set(err, -EINVAL, "invalid chunker profile");
	rc = wr_path_claim(b, e, false, &skip, err);
	if (rc)
		return rc;
	b->fe = wr_entry_dup(e);
	if (!b->fe || wr_entry_prepare(b, b->fe))
		return wr_nomem(b, err);
	free(b->fe->error);
	b->fe->error = NULL;
	b->profile = profile;
	need = 2 * (size_t)b->repo->chunker[profile].max;
	if (b->cbuf_cap < need) {
		uint8_t *nb = realloc(b->cbuf, need);

		if (!nb)
			return wr_nomem(b, err);
		b->cbuf = nb;
		b->cbuf_cap = need;
	}
	b->cbuf_pos = b->cbuf_len = 0;
	b->fsize = b->fchunks = 0;
	wr_dt_reset(b);
	if (wr_wants_map(b->fe, profile) && bfs_dumpscan_new(&b->scan))
		return wr_nomem(b, err);
	if (wr_delta_file_begin(b, b->fe, profile))
		return wr_nomem(b, err);
	b->in_file = true;
	free(b->current);
	b->current = strdup(b->fe->path);
	bfs_debug("reading '%s'", b->fe->path); /* -vv: each file */
	return 0;
}

/* Cut chunks out of the buffer: while at least max bytes wait (or all of
 * them at eof). */
static int cut_chunks(struct bfs_backup *b, bool eof)
{
	const struct bfs_chunker_params *p = &b->repo->chunker[b->profile];
	struct job *j;
	size_t avail, n;
	int rc;

	for (;;) {
		avail = b->cbuf_len - b->cbuf_pos;
		if (!avail || (!eof && avail < p->max))
			break;
		n = bfs_chunker_cut(p, b->cbuf + b->cbuf_pos, avail, eof);
		if (!n)
			break;
		rc = wr_slot_get(b, &j);
		if (rc)
			return rc;
		if (j->datacap < n) {
			uint8_t *nd = realloc(j->data, n);

			if (!nd)
				return wr_fail(b, -ENOMEM, NULL);
			j->data = nd;
			j->datacap = n;
		}
		memcpy(j->data, b->cbuf + b->cbuf_pos, n);
		j->len = n;
		j->want_sk = b->fsk;
		j->dx = wr_delta_ref(b->fdx);
		b->cbuf_pos += n;
		b->fchunks++;
		rc = wr_submit_chunk(b, j);
		if (rc)
			return rc;
	}
	if (b->cbuf_pos == b->cbuf_len)
		b->cbuf_pos = b->cbuf_len = 0;
	return 0;
}

int bfs_backup_file_write(struct bfs_backup *b, const void *data, size_t n,
			  struct bfs_err *err)
{
	const uint8_t *p = data;
	size_t room;
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	if (!b->in_file)
		return bfs_err_set(err, -EINVAL, "no file is open");
	if (b->scan && bfs_dumpscan_ok(b->scan))
		bfs_dumpscan_feed(b->scan, data, n);
	while (n) {
		room = b->cbuf_cap - b->cbuf_len;
		if (!room) {
			/* fewer than max bytes left at pos: move them down */
			memmove(b->cbuf, b->cbuf + b->cbuf_pos,
				b->cbuf_len - b->cbuf_pos);
			b->cbuf_len -= b->cbuf_pos;
			b->cbuf_pos = 0;
			room = b->cbuf_cap - b->cbuf_len;
		}
		room = BFS_MIN(room, n);
		memcpy(b->cbuf + b->cbuf_len, p, room);
		b->cbuf_len += room;
		p += room;
		n -= room;
		b->fsize += room;
		b->bytes_read += room;
		rc = cut_chunks(b, false);
		if (rc)
			return wr_failed(b, err);
	}
	wr_progress(b, false);
	return 0;
}

int bfs_backup_file_end(struct bfs_backup *b, struct bfs_err *err)
{
	struct bfs_buf dt;
	struct bfs_entry *e;
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	if (!b->in_file)
		return bfs_err_set(err, -EINVAL, "no file is open");
	rc = cut_chunks(b, true);
	if (rc)
		return wr_failed(b, err);
	e = b->fe;
	rc = wr_map_json(b, e, &dt);
	if (rc) {
		bfs_buf_free(&dt);
		return wr_nomem(b, err);
	}
	b->fe = NULL;
	b->in_file = false;
	e->size = b->fsize;
	bfs_pathset_set_size(&b->paths, e->path, e->path_len, e->size);
	rc = wr_submit_file_end(b, e, J_FILE_END, NULL, 0, &dt);
	return rc ? wr_failed(b, err) : 0;
}

void bfs_backup_file_cancel(struct bfs_backup *b)
{
	struct bfs_entry *e;
	bool spilled;

	if (!b || !b->in_file)
		return;
	b->in_file = false;
	b->cbuf_pos = b->cbuf_len = 0;
	wr_dt_reset(b);
	e = b->fe;
	b->fe = NULL;
	/* the consumer spills a file's refs into the manifest beyond
	 * SPILL_CHUNKS; then the file cannot vanish: it is kept short,
	 * counted as an error (a following add_error for it is absorbed) */
	spilled = b->fchunks > SPILL_CHUNKS;
	bfs_pathset_set(&b->paths, e->path, e->path_len,
			spilled ? PK_CANCEL_EMITTED : PK_CANCELLED);
	if (b->failed) {
		wr_entry_free(e);
		return;
	}
	wr_submit_entry(b, e, J_CANCEL, NULL, 0);
}

int bfs_backup_file_fd(struct bfs_backup *b, const struct bfs_entry *e, int fd,
		       enum bfs_profile profile, struct bfs_err *err)
{
	size_t bufsz = 1u << 20;
	uint8_t *buf;
	ssize_t n;
	int rc;

	rc = bfs_backup_file_begin(b, e, profile, err);
	if (rc)
		return rc;
	buf = malloc(bufsz);
	if (!buf) {
		bfs_backup_file_cancel(b);
		return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	for (;;) {
		n = read(fd, buf, bufsz);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			bfs_backup_file_cancel(b);
			bfs_err_set(err, rc, "cannot read '%s': %s", e->path,
				    strerror(-rc));
			goto out_free;
		}
		if (!n)
			break;
		rc = bfs_backup_file_write(b, buf, (size_t)n, err);
		if (rc) {
			bfs_backup_file_cancel(b);
			goto out_free;
		}
	}
	rc = bfs_backup_file_end(b, err);
out_free:
	free(buf);
	return rc;
}

int bfs_backup_file_reuse(struct bfs_backup *b, const struct bfs_entry *e,
			  const struct bfs_blobref *chunks, size_t n,
			  struct bfs_err *err)
{
	return bfs_backup_file_reuse_keys(b, e, chunks, n, NULL, NULL, NULL,
					  err);
}

int bfs_backup_file_reuse_dt(struct bfs_backup *b, const struct bfs_entry *e,
			     const struct bfs_blobref *chunks, size_t n,
			     const uint8_t *dt, struct bfs_err *err)
{
	return bfs_backup_file_reuse_keys(b, e, chunks, n, dt, NULL, NULL, err);
}

int bfs_backup_file_reuse_keys(struct bfs_backup *b, const struct bfs_entry *e,
			       const struct bfs_blobref *chunks, size_t n,
			       const uint8_t *dt, const uint8_t *sk,
			       const uint8_t *sa, struct bfs_err *err)
{
	struct bfs_buf dtb = {0};
	struct bfs_chunkref *copy = NULL;
	struct bfs_entry *c;
	uint64_t total = 0;
	bool skip;
	size_t i;
	int rc;

	if ((rc = wr_failed(b, err)))
		return rc;
	if (b->in_file)
		return bfs_err_set(err, -EBUSY, "file '%s' is still open",
				   b->fe->path);
	if (e->type != BFS_T_FILE || e->link)
		return bfs_err_set(err, -EINVAL, "'%s' is not a regular file",
				   e->path ? e->path : "");
	bfs_debug("unchanged '%s'", e->path); /* -vv: each file */
	for (i = 0; i < n; i++)
		total += chunks[i].len;
	if (total != e->size)
		return bfs_err_set(
		    err, -EINVAL,
		    "reused file '%s': chunks hold %llu bytes, size is %llu",
		    e->path, (unsigned long long)total,
		    (unsigned long long)e->size);
	rc = wr_path_claim(b, e, false, &skip, err);
	if (rc)
		return rc;
	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return wr_nomem(b, err);
		memset(copy, 0, n * sizeof(*copy));
		for (i = 0; i < n; i++) {
			memcpy(copy[i].hash, chunks[i].hash, BFS_HASH_LEN);
			copy[i].len = chunks[i].len;
		}
	}
	c = wr_entry_dup(e);
	if (!c || wr_entry_prepare(b, c)) {
		wr_entry_free(c);
		free(copy);
		return wr_nomem(b, err);
	}
	free(c->error);
	c->error = NULL;
	bfs_pathset_set_size(&b->paths, c->path, c->path_len, c->size);
	free(b->current);
	b->current = strdup(c->path);
	if (dt && bfs_buf_append(&dtb, dt, BFS_HASH_LEN)) {
		wr_entry_free(c);
		free(copy);
		return wr_nomem(b, err);
	}
	rc = wr_submit_file_end(b, c, J_REUSE, copy, n, &dtb);
	if (!rc && (sk || sa)) {
		/* the slot just queued: nothing consumes it before the
		 * next submit on this thread */
		struct job *j = &b->jobs[(b->head - 1) % b->njobs];

		j->has_sk = sk != NULL;
		if (sk)
			memcpy(j->reuse_sk, sk, BFS_HASH_LEN);
		/* an anchor blob only where the format has the key */
		j->has_sa = sa && b->sa_on;
		if (j->has_sa)
			memcpy(j->reuse_sa, sa, BFS_HASH_LEN);
	}
	return rc ? wr_failed(b, err) : 0;
}

static int build_header(struct bfs_backup *b, struct bfs_manifest_header *h)
{
	memset(h, 0, sizeof(*h));
	h->id = b->id;
	h->time_ns = b->time_ns;
	h->host = b->host;
	h->job = b->job;
	h->tags = b->tags;
	if (close_source(b) || bfs_buf_append(&b->sources, "]", 2)) /* NUL */
		return -ENOMEM;
	h->sources_json = (char *)b->sources.data;
	h->stats = b->stats;
	h->partial = b->partial;
	return 0;
}

int bfs_backup_commit(struct bfs_backup *b, struct bfs_backup_stats *stats,
		      bool *partial, struct bfs_err *err)
{
	struct bfs_manifest_header h;
	struct bfs_buf man = {0}, idx = {0};
	uint8_t(*root)[BFS_HASH_LEN] = NULL;
	char idhex[BFS_HASH_HEX + 1] = "";
	size_t nroot = 0;
	uint64_t count = 0;
	struct bfs_err e2;
	char key[BFS_KEY_MAX];
	int rc;

	if ((rc = wr_failed(b, err)))
		goto out_free;
	if (b->in_file) {
		rc = bfs_err_set(err, -EBUSY, "file '%s' is still open",
				 b->fe->path);
		goto out_free;
	}
	/* every entry is in the tree spool once the ring is drained; the
	 * trees go into the open pack, then every pack is flushed */
	rc = wr_pipe_drain(b);
	if (!rc && b->delta_chunks)
		bfs_debug("similarity deltas: %llu chunks (%llu bytes plain), "
			  "%llu of them on the neighbour base, %llu on two "
			  "bases",
			  (unsigned long long)b->delta_chunks,
			  (unsigned long long)b->delta_bytes,
			  (unsigned long long)b->neighbour_deltas,
			  (unsigned long long)b->two_base_deltas);
	if (!rc)
		rc = wt_build(b, &root, &nroot, &count, err);
	if (!rc)
		rc = wr_pipe_finish(b);
	if (rc) {
		rc = wr_failed(b, err) ? wr_failed(b, err) : rc;
		goto out_free;
	}
	/* the sets are not needed any more: give their memory back before
	 * the manifest and the index's record take theirs */
	bfs_chunkset_fini(&b->chunks);
	bfs_packset_fini(&b->packs_seen);
	bfs_pathset_fini(&b->paths);

	/* the index object (where this backup's blobs are), then the
	 * manifest: a reader that sees the manifest finds every blob */
	if (bfs_idxobj_writer_packs(b->idxw)) {
		rc = wr_index_store(b, &idx, idhex, err);
		if (rc)
			goto out_man;
	}
	b->stats.duration_ns = bfs_mono_ns() - b->start_mono;
	rc = build_header(b, &h);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out_man;
	}
	rc = bfs_manifest2_encode(
	    &man, &h, (const uint8_t(*)[BFS_HASH_LEN])root, nroot, count, err);
	if (rc) {
		bfs_err_prefix(err, rc, "cannot write manifest of backup '%s'",
			       b->id);
		goto out_man;
	}
	if (b->held) { /* the caller checks it, then publishes it */
		bfs_buf_free(b->held);
		*b->held = man;
		memset(&man, 0, sizeof(man));
		goto out_record;
	}
	/* the last moment to find out that prune may have run meanwhile:
	 * with a lost lock the backup fails and nothing is visible */
	if (b->lock && (rc = bfs_lock_check(b->lock, err)) != 0) {
		bfs_err_prefix(err, rc, "backup '%s' not written", b->id);
		goto out_man;
	}
	bfs_repo_manifest_key(key, b->id);
	rc = bfs_store_put(b->repo->store, key, man.data, man.len,
			   b->replace ? 0 : BFS_PUT_EXCL, err);
	if (rc == -EEXIST) {
		rc = bfs_err_set(err, -EEXIST, "backup '%s' already exists",
				 b->id);
		goto out_man;
	}
	if (rc) {
		bfs_err_prefix(err, rc, "cannot store manifest '%s'", key);
		goto out_man;
	}
out_record:
	if (b->idx) {
		e2.msg[0] = 0;
		rc = bfs_index_record(b->idx, b->id, man.data, man.len,
				      idx.len ? idhex : NULL,
				      idx.len ? idx.data : NULL, idx.len, &e2);
		if (rc)
			/* the backup exists (its manifest is stored); only
			 * the local index lags behind */
			bfs_warn(
			    "backup '%s' was written but the catalog could not "
			    "record it (%s); run `backupfs catalog sync`",
			    b->id, bfs_err_str(&e2, rc));
		rc = 0;
	}
	if (stats)
		*stats = b->stats;
	if (partial)
		*partial = b->partial;
	wr_progress(b, true);
out_man:
	bfs_buf_free(&man);
	bfs_buf_free(&idx);
out_free:
	free(root);
	backup_free(b);
	return rc;
}

void bfs_backup_abort(struct bfs_backup *b)
{
	backup_free(b);
}

int bfs_backup_set_sources(struct bfs_backup *b, const char *json,
			   struct bfs_err *err)
{
	size_t n = json ? strlen(json) : 0;

	if (n < 2 || json[0] != '[' || json[n - 1] != ']')
		return bfs_err_set(err, -EINVAL, "sources: not a JSON array");
	b->sources.len = 0;
	b->src_open = false;
	if (bfs_buf_append(&b->sources, json, n - 1))
		return wr_nomem(b, err);
	b->nsources = n > 2;
	return 0;
}
