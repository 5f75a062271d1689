/* writer_tree.c - from the entries of a backup to its directory trees
 * (format 2, doc/FORMAT.md section 6).  Calling thread only.
 *
 * While the backup runs, every entry the pipeline emits (in call order)
 * becomes one record in an unlinked spool file: its path, its type and
 * the body of its tree line (the name and metadata keys, plus "c"/"cl"
 * for a file).  A file's chunk refs are kept in memory up to
 * BFS_TREE_INLINE_REFS; beyond, they go to list blobs as they come, so
 * memory stays flat whatever the file's size.
 *
 * At commit the records are read back in path order (components compared
 * bytewise, a parent before its children) and the trees built bottom-up
 * with one open level per directory of the current path: a level holds
 * its directory's part being cut (<= 1 MiB) and the ids of its finished
 * parts.  Sources that walk a tree with sorted names (--files) emit that
 * order already and the spool is read as written; otherwise (several
 * sources, archives, implicit directories) it is sorted first in runs of
 * at most RUN_BYTES, merged from temp files (BFS_TREE_SORT_BYTES in the
 * environment lowers the budget, so that tests exercise the merge).  Memory is
 * bounded by the depth of the tree and RUN_BYTES, never by the number of
 * entries.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hmap.h"
#include "writer_impl.h"

#ifndef RUN_BYTES
#define RUN_BYTES (64u << 20) /* records sorted in memory at once */
#endif
#define REC_HEAD                                                               \
	25	       /* u32 path len, u32 body len, u8 type, u64 seq,        \
			  u64 count (REC_SEALED) */
#define REC_SEALED 'D' /* a directory reused whole: its line is complete */

struct rec {
	char *path;
	uint32_t plen;
	char *body;
	uint32_t blen;
	uint8_t type;
	uint64_t seq;
	uint64_t count; /* REC_SEALED: entries below it */
};

struct nlrec {
	uint8_t key[16]; /* truncated SHA-256 of the path */
	uint32_t n;
};

/* stdio buffers of the spool and of a sort run: glibc's setvbuf ignores
 * the size when it is to allocate the buffer (it takes st_blksize, 4 KiB),
 * so the buffer is ours: one write(2) per 4 KiB was ~6,000 system calls in
 * a backup 2 of 100,000 files. */
#define SPOOL_VBUF (1u << 20)
#define RUN_VBUF (256u << 10)

/* An unlinked temp file in $TMPDIR, fully buffered with a buffer of vsize
 * bytes that *vbuf receives (the caller frees it after fclose).  NULL
 * (errno set) on failure. */
static FILE *tmp_file(size_t vsize, char **vbuf)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	FILE *f;
	int fd;

	*vbuf = malloc(vsize);
	if (!*vbuf)
		return NULL;
	if (!dir || !*dir)
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/backupfs-tree-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		goto out_free;
	unlink(path);
	f = fdopen(fd, "w+");
	if (!f) {
		close(fd);
		goto out_free;
	}
	setvbuf(f, *vbuf, _IOFBF, vsize);
	return f;
out_free:
	free(*vbuf);
	*vbuf = NULL;
	return NULL;
}

static int rec_cmp(const struct rec *a, const struct rec *b)
{
	int c = bfs_path_tree_cmp(a->path, a->plen, b->path, b->plen);

	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int rec_write(FILE *f, const struct rec *r)
{
	uint8_t h[REC_HEAD];

	bfs_put_le32(h, r->plen);
	bfs_put_le32(h + 4, r->blen);
	h[8] = r->type;
	bfs_put_le64(h + 9, r->seq);
	bfs_put_le64(h + 17, r->count);
	if (fwrite(h, REC_HEAD, 1, f) != 1 ||
	    fwrite(r->path, 1, r->plen, f) != r->plen ||
	    fwrite(r->body, 1, r->blen, f) != r->blen)
		return -EIO;
	return 0;
}

/* Read one record into r (path and body in *buf, reallocated).  1, 0 at
 * the end, -EIO or -ENOMEM. */
static int rec_read(FILE *f, struct rec *r, struct bfs_buf *buf)
{
	uint8_t h[REC_HEAD];
	size_t n = fread(h, 1, REC_HEAD, f);

	if (n == 0 && feof(f))
		return 0;
	if (n != REC_HEAD)
		return -EIO;
	r->plen = bfs_get_le32(h);
	r->blen = bfs_get_le32(h + 4);
	r->type = h[8];
	r->seq = bfs_get_le64(h + 9);
	r->count = bfs_get_le64(h + 17);
	if (r->plen > (64u << 20) || r->blen > BFS_TREE_MAX_LINE)
		return -EIO;
	buf->len = 0;
	if (bfs_buf_reserve(buf, (size_t)r->plen + r->blen + 2))
		return -ENOMEM;
	if (fread(buf->data, 1, (size_t)r->plen + r->blen, f) !=
	    (size_t)r->plen + r->blen)
		return -EIO;
	r->path = (char *)buf->data;
	r->body = (char *)buf->data + r->plen;
	return 1;
}

/* ---- while the backup runs ---------------------------------------------- */

int wt_init(struct bfs_backup *b, struct bfs_err *err)
{
	b->wt.spool = tmp_file(SPOOL_VBUF, &b->wt.spool_vbuf);
	if (!b->wt.spool)
		return bfs_err_set(err, -errno,
				   "cannot create a temp file "
				   "in $TMPDIR: %s",
				   strerror(errno));
	b->wt.sorted = true;
	return bfs_hmap_init(&b->wt.nl, sizeof(struct nlrec), 16, 0, 0);
}

void wt_free(struct bfs_backup *b)
{
	if (b->wt.spool)
		fclose(b->wt.spool);
	b->wt.spool = NULL;
	free(b->wt.spool_vbuf);
	free(b->wt.refs);
	free(b->wt.lists);
	bfs_buf_free(&b->wt.body);
	bfs_buf_free(&b->wt.prev);
	bfs_hmap_fini(&b->wt.nl);
	memset(&b->wt, 0, sizeof(b->wt));
}

/* The refs collected so far become one list blob. */
static int flush_list(struct bfs_backup *b, struct bfs_err *err)
{
	struct bfs_buf lb = {0};
	int rc;

	if (b->wt.nlists == b->wt.listcap) {
		size_t nc = b->wt.listcap ? b->wt.listcap * 2 : 16;
		void *nv = realloc(b->wt.lists, nc * sizeof(*b->wt.lists));

		if (!nv)
			return bfs_err_set(err, -ENOMEM, "out of memory");
		b->wt.lists = nv;
		b->wt.listcap = nc;
	}
	rc = bfs_tree_list_encode(&lb, b->wt.refs, b->wt.nrefs);
	if (rc) {
		bfs_buf_free(&lb);
		return bfs_err_set(err, rc, "out of memory");
	}
	rc = wr_store_blob(b, BFS_BLOB_TREE, lb.data, lb.len,
			   b->wt.lists[b->wt.nlists], err);
	bfs_buf_free(&lb);
	if (rc)
		return rc;
	b->wt.nlists++;
	b->wt.nrefs = 0;
	return 0;
}

int wt_chunk(struct bfs_backup *b, const struct bfs_chunkref *ref,
	     struct bfs_err *err)
{
	int rc;

	if (b->wt.nrefs == BFS_TREE_INLINE_REFS) {
		rc = flush_list(b, err);
		if (rc)
			return rc;
	}
	if (!b->wt.refs) {
		b->wt.refs = malloc(BFS_TREE_INLINE_REFS * sizeof(*b->wt.refs));
		if (!b->wt.refs)
			return bfs_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(b->wt.refs[b->wt.nrefs].hash, ref->hash, BFS_HASH_LEN);
	b->wt.refs[b->wt.nrefs++].len = ref->len;
	return 0;
}

static void path_key(uint8_t key[16], const char *p, size_t n)
{
	uint8_t h[BFS_HASH_LEN];

	bfs_sha256(h, p, n);
	memcpy(key, h, 16);
}

/* One more path in the hardlink group whose first entry is at p. */
static int nl_count(struct bfs_backup *b, const char *p, size_t n)
{
	struct nlrec r = {.n = 1}, *s;
	int rc;

	path_key(r.key, p, n);
	rc = bfs_hmap_insert(&b->wt.nl, &r, (void **)&s);
	if (rc && rc != -EEXIST)
		return rc;
	s->n++;
	return 0;
}

static int spool(struct bfs_backup *b, struct rec *rp, struct bfs_err *err);

/* The line body of directory e (its own keys, no "tree"/"count") into
 * b->wt.body; *body, *blen point into it (without "{" and "}\n"). */
static int dir_body(struct bfs_backup *b, const struct bfs_entry *e,
		    char **body, uint32_t *blen, struct bfs_err *err)
{
	struct bfs_tree_entry te = {.e = *e};
	const char *slash = memrchr(e->path, '/', e->path_len);
	char *t;
	int rc;

	te.e.path = slash ? (char *)slash + 1 : e->path;
	te.e.path_len = e->path_len - (size_t)(te.e.path - e->path);
	/* written as a FIFO line to skip the tree keys, then "t" fixed */
	te.e.type = BFS_T_FIFO;
	b->wt.body.len = 0;
	rc = bfs_tree_line(&b->wt.body, &te, err);
	if (rc)
		return rc;
	*body = (char *)b->wt.body.data + 1;
	*blen = (uint32_t)b->wt.body.len - 3;
	t = memmem(*body, *blen, ",\"t\":\"p\"", 8);
	if (!t)
		return bfs_err_set(err, -EFAULT, "tree line: no type");
	t[6] = 'd';
	return 0;
}

int wt_sealed_entry(struct bfs_backup *b, const struct bfs_entry *e,
		    const struct wt_sealed *t, struct bfs_err *err)
{
	char hex[BFS_HASH_HEX + 1];
	struct rec r = {0};
	int rc;

	rc = dir_body(b, e, &r.body, &r.blen, err);
	if (rc)
		return rc;
	/* the body is b->wt.body from +1: append the tree keys in place */
	b->wt.body.len = 1 + r.blen;
	rc = bfs_buf_append(&b->wt.body, ",\"tree\":[", 9);
	for (size_t i = 0; !rc && i < t->nparts; i++) {
		bfs_hex(hex, t->parts[i], BFS_HASH_LEN);
		rc = bfs_buf_printf(&b->wt.body, "%s\"%s\"", i ? "," : "", hex);
	}
	if (!rc)
		rc = bfs_buf_printf(&b->wt.body, "],\"count\":%" PRIu64,
				    t->count);
	if (rc)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	if (b->wt.body.len > BFS_TREE_MAX_LINE)
		return bfs_err_set(err, -E2BIG, "'%s': tree line too long",
				   e->path);
	r.path = e->path;
	r.plen = (uint32_t)e->path_len;
	r.body = (char *)b->wt.body.data + 1;
	r.blen = (uint32_t)b->wt.body.len - 1;
	r.type = REC_SEALED;
	r.count = t->count;
	return spool(b, &r, err);
}

int wt_entry(struct bfs_backup *b, const struct bfs_entry *e,
	     struct bfs_err *err)
{
	struct bfs_tree_entry te = {.e = *e};
	const char *slash = memrchr(e->path, '/', e->path_len);
	struct rec r;
	int rc;

	te.e.path = slash ? (char *)slash + 1 : e->path;
	te.e.path_len = e->path_len - (size_t)(te.e.path - e->path);
	if (b->wt.nlists && b->wt.nrefs) {
		rc = flush_list(b, err);
		if (rc)
			return rc;
	}
	if (b->wt.nlists) {
		te.lists = (const uint8_t(*)[BFS_HASH_LEN])b->wt.lists;
		te.nlists = b->wt.nlists;
	} else {
		te.chunks = b->wt.refs;
		te.nchunks = b->wt.nrefs;
	}
	b->wt.nrefs = b->wt.nlists = 0;
	if (b->wt.has_dt && e->type == BFS_T_FILE && !e->link)
		te.dt = b->wt.dt;
	if (b->wt.has_sk && e->type == BFS_T_FILE && !e->link)
		te.sk = b->wt.sk;
	if (b->wt.has_sa && e->type == BFS_T_FILE && !e->link)
		te.sa = b->wt.sa;
	b->wt.has_dt = b->wt.has_sk = b->wt.has_sa = false;
	if (e->link) {
		rc = nl_count(b, e->link, e->link_len);
		if (rc)
			return bfs_err_set(err, rc, "out of memory");
	}
	/* the line without "{" and "}\n"; a directory gets "tree" and
	 * "count" when it is built */
	if (e->type == BFS_T_DIR) {
		rc = dir_body(b, e, &r.body, &r.blen, err);
	} else {
		b->wt.body.len = 0;
		rc = bfs_tree_line(&b->wt.body, &te, err);
		r.body = (char *)b->wt.body.data + 1;
		r.blen = (uint32_t)b->wt.body.len - 3;
	}
	if (rc)
		return rc;
	r.path = e->path;
	r.plen = (uint32_t)e->path_len;
	r.type = (uint8_t)e->type;
	r.count = 0;
	return spool(b, &r, err);
}

/* Append record r to the spool, noting whether the order still holds. */
static int spool(struct bfs_backup *b, struct rec *rp, struct bfs_err *err)
{
	struct rec r = *rp;

	r.seq = b->wt.nrecs++;
	if (b->wt.nrecs > 1 &&
	    bfs_path_tree_cmp(b->wt.prev.data ? (char *)b->wt.prev.data : "",
			      b->wt.prev.len, r.path, r.plen) > 0)
		b->wt.sorted = false;
	b->wt.prev.len = 0;
	if (bfs_buf_append(&b->wt.prev, r.path, r.plen))
		return bfs_err_set(err, -ENOMEM, "out of memory");
	if (rec_write(b->wt.spool, &r))
		return bfs_err_set(err, -EIO, "cannot write the tree spool: %s",
				   strerror(errno));
	return 0;
}

/* Is r's path only or one of its ancestors? */
static bool on_path(const struct rec *r, const char *only, size_t olen)
{
	return r->plen <= olen && !memcmp(r->path, only, r->plen) &&
	       (r->plen == olen || only[r->plen] == '/');
}

int wt_spool_paths(struct bfs_backup *b, const char *only, size_t olen,
		   struct bfs_err *err)
{
	struct bfs_buf buf = {0};
	struct rec r;
	off_t end;
	int kind, rc = 0;

	if (fflush(b->wt.spool) || (end = ftello(b->wt.spool)) < 0 ||
	    fseeko(b->wt.spool, 0, SEEK_SET))
		return bfs_err_set(err, -EIO, "cannot read the tree spool: %s",
				   strerror(errno));
	while (ftello(b->wt.spool) < end &&
	       (rc = rec_read(b->wt.spool, &r, &buf)) > 0) {
		if (only && !on_path(&r, only, olen))
			continue;
		if (r.type == REC_SEALED)
			kind = PK_DIR_SEALED;
		else if (r.type == BFS_T_DIR)
			kind = PK_DIR;
		else
			kind = PK_OTHER;
		rc = bfs_pathset_add_absent(&b->paths, r.path, r.plen, kind);
		if (rc) {
			rc = bfs_err_set(err, rc, "out of memory");
			goto out;
		}
	}
	rc = rc < 0 ? bfs_err_set(err, rc, "cannot read the tree spool") : 0;
out:
	if (fseeko(b->wt.spool, end, SEEK_SET) && !rc)
		rc = bfs_err_set(err, -EIO, "cannot seek the tree spool: %s",
				 strerror(errno));
	bfs_buf_free(&buf);
	return rc;
}

/* ---- sorting ------------------------------------------------------------ */

struct run {
	FILE *f;
	char *vbuf; /* f's stdio buffer */
	struct rec r;
	struct bfs_buf buf;
	bool has;
};

struct source {
	FILE *one; /* the spool, already in order */
	struct run *runs;
	size_t nruns;
	struct rec r; /* for `one` */
	struct bfs_buf buf;
};

static int cmp_recp(const void *a, const void *b)
{
	return rec_cmp(*(struct rec *const *)a, *(struct rec *const *)b);
}

/* Sort the spool into runs of at most RUN_BYTES. */
static int make_runs(FILE *spool, struct source *s, struct bfs_err *err)
{
	struct rec **v = NULL, r;
	struct bfs_buf tmp = {0};
	char *mem = NULL;
	size_t n = 0, cap = 0, used = 0, budget = RUN_BYTES;
	const char *knob = getenv("BFS_TREE_SORT_BYTES"); /* tests: many runs */
	int rc = 0, got;
	bool eof = false;

	if (knob && strtoull(knob, NULL, 10) >= 4096 &&
	    strtoull(knob, NULL, 10) < RUN_BYTES)
		budget = (size_t)strtoull(knob, NULL, 10);
	mem = malloc(budget);
	if (!mem)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	while (!eof) {
		long pos = ftell(spool);

		got = rec_read(spool, &r, &tmp);
		if (got < 0) {
			rc =
			    bfs_err_set(err, got, "cannot read the tree spool");
			goto out;
		}
		eof = got == 0;
		if (!eof && used + sizeof(r) + r.plen + r.blen + 16 > budget &&
		    n) {
			/* run full: put the record back for the next run */
			fseek(spool, pos, SEEK_SET);
		} else if (!eof) {
			struct rec *x;

			if (n == cap) {
				size_t nc = cap ? cap * 2 : 4096;
				void *nv = realloc(v, nc * sizeof(*v));

				if (!nv) {
					rc = bfs_err_set(err, -ENOMEM,
							 "out of memory");
					goto out;
				}
				v = nv;
				cap = nc;
			}
			if (used + sizeof(r) + r.plen + r.blen + 16 > budget) {
				rc = bfs_err_set(err, -E2BIG,
						 "tree record too large");
				goto out;
			}
			used = (used + 7) & ~(size_t)7;
			x = (struct rec *)(mem + used);
			*x = r;
			x->path = (char *)(x + 1);
			memcpy(x->path, r.path, r.plen);
			x->body = x->path + r.plen;
			memcpy(x->body, r.body, r.blen);
			used += sizeof(r) + r.plen + r.blen;
			v[n++] = x;
			continue;
		}
		if (!n)
			break;
		qsort(v, n, sizeof(*v), cmp_recp);
		{
			struct run *nr =
			    realloc(s->runs, (s->nruns + 1) * sizeof(*nr));
			char *vbuf = NULL;
			FILE *f = tmp_file(RUN_VBUF, &vbuf);

			if (!nr || !f) {
				if (f)
					fclose(f);
				free(vbuf);
				if (nr)
					s->runs = nr;
				rc = bfs_err_set(err, -ENOMEM,
						 "cannot make a sort run");
				goto out;
			}
			s->runs = nr;
			memset(&nr[s->nruns], 0, sizeof(*nr));
			nr[s->nruns].vbuf = vbuf;
			nr[s->nruns++].f = f;
			for (size_t i = 0; i < n; i++)
				if (rec_write(f, v[i])) {
					rc = bfs_err_set(err, -EIO,
							 "cannot write a sort "
							 "run");
					goto out;
				}
			if (fflush(f) || fseek(f, 0, SEEK_SET)) {
				rc = bfs_err_set(err, -EIO,
						 "cannot write a sort run");
				goto out;
			}
		}
		n = used = 0;
	}
out:
	bfs_buf_free(&tmp);
	free(v);
	free(mem);
	return rc;
}

/* The next record in tree order: 1, 0 at the end, <0. */
static int source_next(struct source *s, struct rec *out)
{
	struct run *best = NULL;
	int rc;

	if (s->one) {
		rc = rec_read(s->one, &s->r, &s->buf);
		if (rc > 0)
			*out = s->r;
		return rc;
	}
	for (size_t i = 0; i < s->nruns; i++) {
		struct run *u = &s->runs[i];

		if (!u->has && u->f) {
			rc = rec_read(u->f, &u->r, &u->buf);
			if (rc < 0)
				return rc;
			u->has = rc > 0;
			if (!rc) {
				fclose(u->f);
				u->f = NULL;
				free(u->vbuf);
				u->vbuf = NULL;
			}
		}
		if (u->has && (!best || rec_cmp(&u->r, &best->r) < 0))
			best = u;
	}
	if (!best)
		return 0;
	/* hand out a copy: the run's buffer is refilled next time */
	s->buf.len = 0;
	if (bfs_buf_append(&s->buf, best->r.path, best->r.plen) ||
	    bfs_buf_append(&s->buf, best->r.body, best->r.blen))
		return -ENOMEM;
	*out = best->r;
	out->path = (char *)s->buf.data;
	out->body = (char *)s->buf.data + best->r.plen;
	best->has = false;
	return 1;
}

static void source_free(struct source *s)
{
	for (size_t i = 0; i < s->nruns; i++) {
		if (s->runs[i].f)
			fclose(s->runs[i].f);
		free(s->runs[i].vbuf);
		bfs_buf_free(&s->runs[i].buf);
	}
	free(s->runs);
	bfs_buf_free(&s->buf);
}

/* ---- building ----------------------------------------------------------- */

struct level {
	struct bfs_backup *b;
	size_t plen;	     /* of the directory's path in `path` */
	struct bfs_buf body; /* its line body (not for the root) */
	struct bfs_tree_cutter cut;
	uint8_t (*parts)[BFS_HASH_LEN];
	size_t nparts, pcap;
	uint64_t count;
	const struct bfs_buf *path; /* the build's: this level's path while
				     * its parts are cut (the innermost) */
	struct wt_tprev prev;	    /* delta bases (writer_tbase.c) */
};

struct build {
	struct bfs_backup *b;
	struct level *lv;
	size_t depth, cap;   /* lv[0] is the root */
	struct bfs_buf path; /* of the innermost open directory */
	struct bfs_buf line;
};

static int part_base(void *arg, uint8_t id[BFS_HASH_LEN], uint8_t **base,
		     size_t *blen)
{
	struct level *l = arg;

	return wt_tprev_base(l->b, &l->prev, (const char *)l->path->data,
			     l->plen, l->nparts - 1, id, base, blen);
}

static int part_cb(void *arg, const void *data, size_t len, struct bfs_err *err)
{
	struct level *l = arg;

	if (l->nparts == l->pcap) {
		size_t nc = l->pcap ? l->pcap * 2 : 4;
		void *nv = realloc(l->parts, nc * sizeof(*l->parts));

		if (!nv)
			return bfs_err_set(err, -ENOMEM, "out of memory");
		l->parts = nv;
		l->pcap = nc;
	}
	l->nparts++;
	return wr_store_blob_on(l->b, BFS_BLOB_TREE, data, len,
				l->parts[l->nparts - 1], part_base, l, err);
}

static int push(struct build *u, const char *body, size_t blen, size_t plen)
{
	struct level *l;

	if (u->depth > BFS_TREE_MAX_DEPTH)
		return -ELOOP;
	if (u->depth == u->cap) {
		size_t nc = u->cap ? u->cap * 2 : 16;
		void *nv = realloc(u->lv, nc * sizeof(*u->lv));

		if (!nv)
			return -ENOMEM;
		u->lv = nv;
		u->cap = nc;
	}
	l = &u->lv[u->depth++];
	memset(l, 0, sizeof(*l));
	l->b = u->b;
	l->plen = plen;
	l->path = &u->path;
	bfs_tree_cutter_init(&l->cut, part_cb, NULL); /* arg set below */
	return bfs_buf_append(&l->body, body, blen);
}

static void level_free(struct level *l)
{
	bfs_buf_free(&l->body);
	bfs_tree_cutter_free(&l->cut);
	free(l->parts);
	wt_tprev_clear(&l->prev);
}

/* Feed a finished line to the innermost open directory. */
static int add_line(struct build *u, struct bfs_err *err)
{
	struct level *l = &u->lv[u->depth - 1];

	l->cut.arg = l; /* levels move when the stack grows */
	return bfs_tree_cutter_line(&l->cut, u->line.data, u->line.len, err);
}

/* Close the innermost directory: its line goes to its parent. */
static int pop(struct build *u, struct bfs_err *err)
{
	struct level *l = &u->lv[u->depth - 1];
	char hex[BFS_HASH_HEX + 1];
	int rc;

	l->cut.arg = l;
	rc = bfs_tree_cutter_end(&l->cut, err);
	if (rc)
		return rc;
	u->line.len = 0;
	rc = bfs_buf_append(&u->line, "{", 1) ||
	     bfs_buf_append(&u->line, l->body.data, l->body.len) ||
	     bfs_buf_append(&u->line, ",\"tree\":[", 9);
	for (size_t i = 0; !rc && i < l->nparts; i++) {
		bfs_hex(hex, l->parts[i], BFS_HASH_LEN);
		rc = bfs_buf_printf(&u->line, "%s\"%s\"", i ? "," : "", hex);
	}
	if (!rc)
		rc = bfs_buf_printf(&u->line, "],\"count\":%" PRIu64 "}\n",
				    l->count);
	if (rc)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	if (u->line.len > BFS_TREE_MAX_LINE)
		return bfs_err_set(
		    err, -E2BIG, "directory '%.*s' too large (%zu tree parts)",
		    (int)l->plen, (char *)u->path.data, l->nparts);
	u->depth--;
	u->lv[u->depth - 1].count += 1 + l->count;
	level_free(l);
	/* the parent's path */
	u->path.len = u->lv[u->depth - 1].plen;
	return add_line(u, err);
}

/* The parent directory's length in p (0 for the root). */
static size_t parent_len(const char *p, size_t n)
{
	const char *s = memrchr(p, '/', n);

	return s ? (size_t)(s - p) : 0;
}

static int nl_of(struct bfs_backup *b, const struct rec *r, uint32_t *nl)
{
	struct nlrec *x;
	uint8_t key[16];

	*nl = 0;
	if (!b->wt.nl.n || r->type != BFS_T_FILE)
		return 0;
	path_key(key, r->path, r->plen);
	x = bfs_hmap_find(&b->wt.nl, key);
	if (x)
		*nl = x->n;
	return 0;
}

static bool same_path(const struct bfs_buf *b, const char *p, size_t n)
{
	return b->len == n && (!n || !memcmp(b->data, p, n));
}

static int build_rec(struct build *u, const struct rec *r, struct bfs_err *err)
{
	size_t pl = parent_len(r->path, r->plen);
	struct level *top;
	uint32_t nl;
	int rc;

	/* close directories until the innermost is r's parent */
	while (u->depth > 1 && !same_path(&u->path, r->path, pl)) {
		/* a directory given again (an implicit parent, then the
		 * directory itself): the later metadata wins */
		if (r->type == BFS_T_DIR && u->path.len == r->plen &&
		    !memcmp(u->path.data, r->path, r->plen)) {
			top = &u->lv[u->depth - 1];
			top->body.len = 0;
			return bfs_buf_append(&top->body, r->body, r->blen)
				   ? bfs_err_set(err, -ENOMEM, "out of memory")
				   : 0;
		}
		rc = pop(u, err);
		if (rc)
			return rc;
	}
	if (!same_path(&u->path, r->path, pl))
		return bfs_err_set(err, -EFAULT,
				   "tree build: '%.300s' without its parent",
				   r->path);
	if (r->type == BFS_T_DIR) {
		rc = push(u, r->body, r->blen, r->plen);
		u->path.len = 0;
		if (!rc)
			rc = bfs_buf_append(&u->path, r->path, r->plen);
		if (rc == -ELOOP)
			return bfs_err_set(err, rc,
					   "'%.300s': more than %d levels",
					   r->path, BFS_TREE_MAX_DEPTH);
		return rc ? bfs_err_set(err, rc, "out of memory") : 0;
	}
	if (r->type == REC_SEALED) {
		u->line.len = 0;
		if (bfs_buf_append(&u->line, "{", 1) ||
		    bfs_buf_append(&u->line, r->body, r->blen) ||
		    bfs_buf_append(&u->line, "}\n", 2))
			return bfs_err_set(err, -ENOMEM, "out of memory");
		u->lv[u->depth - 1].count += 1 + r->count;
		return add_line(u, err);
	}
	nl_of(u->b, r, &nl);
	u->line.len = 0;
	rc = bfs_buf_append(&u->line, "{", 1) ||
	     bfs_buf_append(&u->line, r->body, r->blen);
	if (!rc && nl)
		rc = bfs_buf_printf(&u->line, ",\"nl\":%" PRIu32, nl);
	if (!rc)
		rc = bfs_buf_append(&u->line, "}\n", 2);
	if (rc)
		return bfs_err_set(err, -ENOMEM, "out of memory");
	u->lv[u->depth - 1].count++;
	return add_line(u, err);
}

int wt_build(struct bfs_backup *b, uint8_t (**root)[BFS_HASH_LEN],
	     size_t *nroot, uint64_t *count, struct bfs_err *err)
{
	struct build u = {.b = b};
	struct source s = {0};
	struct rec r;
	int rc;

	*root = NULL;
	*nroot = 0;
	*count = 0;
	if (fflush(b->wt.spool) || fseek(b->wt.spool, 0, SEEK_SET))
		return bfs_err_set(err, -EIO, "cannot read the tree spool: %s",
				   strerror(errno));
	if (b->wt.sorted) {
		s.one = b->wt.spool;
	} else {
		rc = make_runs(b->wt.spool, &s, err);
		if (rc)
			goto out;
	}
	rc = push(&u, "", 0, 0);
	if (rc) {
		rc = bfs_err_set(err, rc, "out of memory");
		goto out;
	}
	while ((rc = source_next(&s, &r)) > 0) {
		rc = build_rec(&u, &r, err);
		if (rc)
			goto out;
	}
	if (rc < 0) {
		rc = bfs_err_set(err, rc, "cannot read the tree spool");
		goto out;
	}
	while (u.depth > 1 && !(rc = pop(&u, err)))
		;
	if (rc)
		goto out;
	u.lv[0].cut.arg = &u.lv[0];
	rc = bfs_tree_cutter_end(&u.lv[0].cut, err);
	if (rc)
		goto out;
	*root = u.lv[0].parts;
	*nroot = u.lv[0].nparts;
	*count = u.lv[0].count;
	u.lv[0].parts = NULL;
out:
	for (size_t i = 0; i < u.depth; i++)
		level_free(&u.lv[i]);
	free(u.lv);
	bfs_buf_free(&u.path);
	bfs_buf_free(&u.line);
	source_free(&s);
	return rc;
}
