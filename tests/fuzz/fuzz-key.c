/* fuzz-key.c - libFuzzer target: the key object parser of an encrypted
 * repository (bfs_crypt_unwrap, src/crypt.c; keys/<64 hex> objects are
 * read from the repository: hostile).  A parsed object must carry scrypt
 * parameters in range; when they are cheap (N 2^10, r <= 8, p 1) the
 * target also unwraps with a fixed password, which must fail (the corpus
 * holds no object wrapped under it) without touching memory it should
 * not.  Every input also goes through bfs_crypt_check_wrap (what check
 * does with the key object a repository was opened with) against a key
 * set unwrapped once from an object of its own.
 * Built by scripts/fuzz; replayed by tests/unit/test-fuzz-key. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "src/crypt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keys unwrapped from a key object (so that they carry its KEK), made
 * once; NULL if that failed. */
static struct bfs_crypt *opened_keys(void)
{
	static struct bfs_crypt *k;
	static int done;
	struct bfs_kdf_params p = {.n = 1024, .r = 8, .p = 1};
	struct bfs_crypt *m = NULL;
	struct bfs_key_info info;
	struct bfs_buf obj = {0};
	struct bfs_err err;
	uint8_t name[BFS_HASH_LEN];

	if (done)
		return k;
	done = 1;
	if (!bfs_crypt_new(&m) &&
	    !bfs_crypt_wrap(m, "fuzz2", 5, &p, "", &obj, name, &err))
		bfs_crypt_unwrap(obj.data, obj.len, "fuzz2", 5, &info, &k,
				 &err);
	bfs_crypt_free(m);
	bfs_buf_free(&obj);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bfs_key_info info;
	struct bfs_crypt *k = NULL;
	struct bfs_err err;
	int rc;

	k = opened_keys();
	if (k && bfs_crypt_check_wrap(k, data, size, &err) == 0)
		abort(); /* no corpus object opens to these keys */
	k = NULL;
	rc = bfs_crypt_unwrap(data, size, NULL, 0, &info, NULL, &err);
	if (rc == 0 && (info.kdf.n < 1024 || (info.kdf.n & (info.kdf.n - 1)) ||
			info.kdf.r < 1 || info.kdf.p < 1))
		abort(); /* the parser let bad parameters through */
	if (rc == 0 && info.kdf.n == 1024 && info.kdf.r <= 8 &&
	    info.kdf.p == 1) {
		rc = bfs_crypt_unwrap(data, size, "fuzz", 4, &info, &k, &err);
		if (rc == 0 && !k)
			abort();
		bfs_crypt_free(k);
	}
	return 0;
}
