/* fuzz-key.c - libFuzzer target: the key object parser of an encrypted
 * repository (bfs_crypt_unwrap, src/crypt.c; keys/<64 hex> objects are
 * read from the repository: hostile).  A parsed object must carry scrypt
 * parameters in range; when they are cheap (N 2^10, r <= 8, p 1) the
 * target also unwraps with a fixed password, which must fail (the corpus
 * holds no object wrapped under it) without touching memory it should
 * not.
 * Built by scripts/fuzz; replayed by tests/unit/test-fuzz-key. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "src/crypt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bfs_key_info info;
	struct bfs_crypt *k = NULL;
	struct bfs_err err;
	int rc;

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
