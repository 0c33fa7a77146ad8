/*  Minimal test assertions shared by every C test.

    CHECK (cond)      counts a check; on failure prints file:line and the condition and exits 1.
    CHECK_EQ_INT (a, b), CHECK_EQ_STR (a, b), CHECK_EQ_MEM (a, b, n)  same, printing both sides.
    TEST_ENV (name)   a required environment variable (set by tests/run); exits 1 when missing,
                      because a test must never skip a service it needs.
    TEST_DONE ()      prints "N checks passed" and returns 0 from main.                         */
#ifndef ZM_TESTUTIL_H
#define ZM_TESTUTIL_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long s_test_checks = 0;

#define CHECK(cond) do { \
    s_test_checks++; \
    if (!(cond)) { \
        fprintf (stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        exit (1); \
    } \
} while (0)

#define CHECK_EQ_INT(a, b) do { \
    long long a_ = (long long) (a), b_ = (long long) (b); \
    s_test_checks++; \
    if (a_ != b_) { \
        fprintf (stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", \
                 __FILE__, __LINE__, #a, #b, a_, b_); \
        exit (1); \
    } \
} while (0)

#define CHECK_EQ_STR(a, b) do { \
    const char *a_ = (a), *b_ = (b); \
    s_test_checks++; \
    if (!a_ || !b_ || strcmp (a_, b_) != 0) { \
        fprintf (stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" != \"%s\")\n", \
                 __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
        exit (1); \
    } \
} while (0)

#define CHECK_EQ_MEM(a, b, n) do { \
    s_test_checks++; \
    if (memcmp ((a), (b), (n)) != 0) { \
        fprintf (stderr, "%s:%d: CHECK failed: %s == %s (%zu bytes differ)\n", \
                 __FILE__, __LINE__, #a, #b, (size_t) (n)); \
        exit (1); \
    } \
} while (0)

static inline const char *
test_env (const char *name)
{
    const char *v = getenv (name);
    if (!v || !*v) {
        fprintf (stderr, "required test environment %s is not set: run tests/run "
                 "(or source the env file printed by tests/services start)\n", name);
        exit (1);
    }
    return v;
}
#define TEST_ENV(name) test_env (name)

#define TEST_DONE() do { \
    printf ("%ld checks passed\n", s_test_checks); \
    return 0; \
} while (0)

#endif
