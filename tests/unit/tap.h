/* tap.h - minimal TAP producer for unit tests (header-only).
 *
 *   int main(void) { ok(1 + 1 == 2, "addition"); return tap_done(); }
 *
 * Prints "ok N - desc" / "not ok N - desc" and a trailing plan.  The exit
 * status is non-zero if any test failed, so a crash or a failure both
 * fail `make check`.
 */
#ifndef BFS_TAP_H
#define BFS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3), unused)) static int
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

/* Count n tests as skipped ("ok N # SKIP why"), e.g. for a feature the
 * build does not have. */
__attribute__((format(printf, 2, 3), unused)) static void
skip(int n, const char *fmt, ...)
{
	va_list ap;

	while (n-- > 0) {
		tap_n++;
		printf("ok %d # SKIP ", tap_n);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

/* ok() with a diagnostic line when a != b. */
#define is_int(a, b, ...)                                                      \
	do {                                                                   \
		long long tap_a_ = (long long)(a), tap_b_ = (long long)(b);    \
		if (!ok(tap_a_ == tap_b_, __VA_ARGS__))                        \
			printf("#   got %lld, expected %lld\n", tap_a_,        \
			       tap_b_);                                        \
	} while (0)

#define is_str(a, b, ...)                                                      \
	do {                                                                   \
		const char *tap_a_ = (a), *tap_b_ = (b);                       \
		int tap_c_ = tap_a_ && tap_b_ && strcmp(tap_a_, tap_b_) == 0;  \
		if (!ok(tap_c_, __VA_ARGS__))                                  \
			printf("#   got '%s', expected '%s'\n",                \
			       tap_a_ ? tap_a_ : "(null)",                     \
			       tap_b_ ? tap_b_ : "(null)");                    \
	} while (0)

__attribute__((format(printf, 1, 2), unused)) static void diag(const char *fmt,
							       ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

__attribute__((unused)) static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
