/*
 * scripts/fuse-floor.c - the cost of the FUSE copies alone, for
 * scripts/bench-read (compiled with cc at run time).
 *
 *   fuse-floor MOUNTPOINT BYTES
 *
 * Mounts a read-only filesystem holding one file, MOUNTPOINT/f, of BYTES
 * bytes, and serves it in the foreground until unmounted
 * (fusermount3 -u).  Its reads cost nothing but the reply: each is
 * answered with fuse_reply_iov from one static buffer, as the backupfs
 * mount answers from its chunk cache, in the same loop (multithreaded,
 * keep_cache).  The CPU seconds of this daemon plus those of a cold `cat`
 * of the file are what any FUSE reader pays on top of producing the
 * bytes: the daemon's reply copied into the page cache, the pages the
 * kernel allocates for it, and `cat` copying them out.
 *
 * The bytes are a fixed text pattern; nothing here reads a repository.
 */
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define FILE_INO 2
#define BUF_SIZE (1u << 20) /* libfuse 3.14's largest read */
#define MAX_IOV 64	    /* a read up to 64 MiB: one buffer, repeated */

static char buf[BUF_SIZE];
static unsigned long long file_size;

static void fill_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)file_size;
	}
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (parent != FUSE_ROOT_ID || strcmp(name, "f") != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = FILE_INO;
	e.attr_timeout = 3600;
	e.entry_timeout = 3600;
	fill_stat(e.ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != FUSE_ROOT_ID && ino != FILE_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_stat(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FILE_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct iovec v[MAX_IOV];
	int n = 0;

	(void)ino;
	(void)fi;
	if (off < 0 || (unsigned long long)off >= file_size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > file_size - (unsigned long long)off)
		size = (size_t)(file_size - (unsigned long long)off);
	/* a short reply would end the file early and the floor with it:
	 * a read larger than the iovecs hold fails instead */
	if (size > (size_t)MAX_IOV * BUF_SIZE) {
		fuse_reply_err(req, EIO);
		return;
	}
	for (; size > 0; n++) {
		v[n].iov_base = buf;
		v[n].iov_len = size < BUF_SIZE ? size : BUF_SIZE;
		size -= v[n].iov_len;
	}
	fuse_reply_iov(req, v, n);
}

static const struct fuse_lowlevel_ops ops = {
    .lookup = op_lookup,
    .getattr = op_getattr,
    .open = op_open,
    .read = op_read,
};

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config cfg = {.clone_fd = 0, .max_idle_threads = 16};
	struct fuse_session *se;
	char *end;
	size_t i;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: fuse-floor MOUNTPOINT BYTES\n");
		return 2;
	}
	errno = 0;
	file_size = strtoull(argv[2], &end, 10);
	if (errno || end == argv[2] || *end) {
		fprintf(stderr, "fuse-floor: BYTES '%s' is not a number\n",
			argv[2]);
		return 2;
	}
	for (i = 0; i < BUF_SIZE; i++)
		buf[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
	if (fuse_opt_add_arg(&args, "fuse-floor") ||
	    fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "ro,fsname=fuse-floor")) {
		fprintf(stderr, "fuse-floor: out of memory\n");
		return 1;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_session_mount(se, argv[1]) != 0) {
		fprintf(stderr, "fuse-floor: cannot mount on '%s'\n", argv[1]);
		if (se)
			fuse_session_destroy(se);
		fuse_opt_free_args(&args);
		return 1;
	}
	rc = fuse_set_signal_handlers(se) ? -1 : fuse_session_loop_mt(se, &cfg);
	fuse_remove_signal_handlers(se);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return rc == 0 ? 0 : 1;
}
