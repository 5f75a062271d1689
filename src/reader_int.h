/* reader_int.h - what reader.c and reader_stream.c share.  Private to the
 * read engine. */
#ifndef BFS_READER_INT_H
#define BFS_READER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "pool.h"
#include "reader.h"

struct bfs_reader {
	struct bfs_repo *repo;	      /* borrowed */
	struct bfs_chunkcache *cache; /* borrowed, may be NULL */
	struct bfs_reader_config cfg;
	pthread_mutex_t lock;  /* protects pool, pool_failed */
	struct bfs_pool *pool; /* created on first use */
	bool pool_failed;
	atomic_bool stopping; /* destroy began: jobs return */
};

/* The reader's pool, started on first use; NULL if it cannot start (the
 * caller then does the work itself).  Thread-safe. */
struct bfs_pool *bfs_reader_pool(struct bfs_reader *r);

/* -EUCLEAN (err names the chunk) if a length passes
 * BFS_READER_MAX_CHUNK. */
int bfs_reader_check_lengths(const struct bfs_chunkref *refs, size_t n,
			     struct bfs_err *err);

/* bfs_repo_read_chunks over r's repository, following a vanished pack
 * through cfg.relocate (reader.h): refs[0..n) lie in one pack, outs[i]
 * holds refs[i].len bytes.  Errors as bfs_repo_read_chunks; a chunk that
 * cannot be relocated is -EIO.  Thread-safe. */
int bfs_reader_read_chunks(struct bfs_reader *r,
			   const struct bfs_chunkref *refs, size_t n,
			   uint8_t **outs, struct bfs_err *err);

/* bfs_reader_read_chunks, calling done(arg, i) for each chunk as soon as
 * it is verified (bfs_repo_read_chunks_each; for n > 1 only).  If the
 * pack vanishes part-way, only the chunks not verified yet are relocated,
 * so a buffer already handed out is never written again. */
int bfs_reader_read_chunks_each(struct bfs_reader *r,
				const struct bfs_chunkref *refs, size_t n,
				uint8_t **outs, bfs_repo_chunk_done done,
				void *arg, struct bfs_err *err);

#endif
