/* attr.c - the attributes the mount shows: a catalog entry's as
 * recorded, the root's, and those of the symlinks it makes up. */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include "fuse/mount_int.h"

void mnt_ts_from_ns(struct timespec *ts, int64_t ns)
{
	int64_t s = ns / 1000000000, r = ns % 1000000000;

	if (r < 0) {
		r += 1000000000;
		s--;
	}
	ts->tv_sec = (time_t)s;
	ts->tv_nsec = (long)r;
}

static mode_t type_bits(int type)
{
	switch (type) {
	case BFS_T_DIR:
		return S_IFDIR;
	case BFS_T_SYMLINK:
		return S_IFLNK;
	case BFS_T_FIFO:
		return S_IFIFO;
	case BFS_T_CHR:
		return S_IFCHR;
	case BFS_T_BLK:
		return S_IFBLK;
	case BFS_T_SOCK:
		return S_IFSOCK;
	default:
		return S_IFREG;
	}
}

void mnt_fill_stat(struct stat *st, const struct bfs_cat_entry *e)
{
	struct timespec ts;

	memset(st, 0, sizeof(*st));
	st->st_ino = (fuse_ino_t)e->id + BFS_INO_BASE;
	st->st_mode = type_bits(e->e.type) | (e->e.mode & 07777);
	st->st_nlink = e->nlink ? e->nlink : 1;
	st->st_uid = e->e.uid;
	st->st_gid = e->e.gid;
	switch (e->e.type) {
	case BFS_T_FILE:
		st->st_size = (off_t)e->e.size;
		break;
	case BFS_T_SYMLINK:
		st->st_size = (off_t)e->e.target_len;
		break;
	case BFS_T_CHR:
	case BFS_T_BLK:
		st->st_rdev = (dev_t)e->e.rdev;
		break;
	default:
		break;
	}
	st->st_blksize = 65536;
	/* Not (size + 511) / 512: the format allows sizes up to 2^63-1,
	 * where the sum overflows. */
	st->st_blocks = st->st_size / 512 + (st->st_size % 512 != 0);
	/* from a local, not st_atim = st_mtim: that copy reads back the two
	 * stores just made as one 16-byte load, which the CPU cannot
	 * forward (a stall per entry of every readdirplus page) */
	mnt_ts_from_ns(&ts, e->e.mtime_ns);
	st->st_mtim = ts;
	st->st_atim = ts;
	if (e->e.ctime_ns)
		mnt_ts_from_ns(&ts, e->e.ctime_ns);
	st->st_ctim = ts;
}

void mnt_dir_stat(const struct bfs_mount *m, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	st->st_blksize = 65536;
	mnt_ts_from_ns(&st->st_mtim, m->mount_time_ns);
	st->st_atim = st->st_ctim = st->st_mtim;
}

void mnt_symlink_stat(const struct bfs_mount *m, fuse_ino_t ino,
		      const char *target, int64_t time_ns, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	st->st_size = (off_t)strlen(target);
	mnt_ts_from_ns(&st->st_mtim, time_ns);
	st->st_atim = st->st_ctim = st->st_mtim;
}
