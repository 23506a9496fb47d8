/*
 * The unit-test harness: checks, seeds, temp dirs.
 *
 * A test is a function `void test_<layer>_<file>__<what>(void)` at the start of
 * a line in tests/<layer>/test_<file>.c; scripts/gen_test_registry.sh finds it.
 * The runner (tests/runner.c) runs every test in its own child process, so a
 * crash, a leak report or a hang fails that test alone. A failing check prints
 * where and why and ends the test at once. A test that runs no check at all is
 * reported as failed: a test that cannot fail is a defect.
 */
#ifndef CAIRN_TEST_H
#define CAIRN_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct test_case {
    const char *name;   /* function name, e.g. test_base_buf__grows */
    void (*fn)(void);   /* the test */
};
extern const struct test_case test_cases[];

extern long test__checks;   /* checks run by the current test */

void test__fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define CHECK(cond) do { \
    test__checks++; \
    if (!(cond)) test__fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
} while (0)

#define CHECK_MSG(cond, ...) do { \
    test__checks++; \
    if (!(cond)) test__fail(__FILE__, __LINE__, __VA_ARGS__); \
} while (0)

#define CHECK_EQ(a, b) do { \
    int64_t a_ = (int64_t)(a), b_ = (int64_t)(b); \
    test__checks++; \
    if (a_ != b_) test__fail(__FILE__, __LINE__, "%s == %s: %" PRId64 " != %" PRId64, #a, #b, a_, b_); \
} while (0)

#define CHECK_STR(a, b) do { \
    const char *a_ = (a), *b_ = (b); \
    test__checks++; \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) \
        test__fail(__FILE__, __LINE__, "%s == %s:\n  got:  %s\n  want: %s", #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
} while (0)

#define CHECK_MEM(a, alen, b, blen) do { \
    size_t al_ = (alen), bl_ = (blen); \
    test__checks++; \
    if (al_ != bl_ || memcmp((a), (b), al_) != 0) \
        test__fail(__FILE__, __LINE__, "%s (%zu bytes) != %s (%zu bytes)", #a, al_, #b, bl_); \
} while (0)

/* expr returns a cairn status; it must be 0. */
#define CHECK_OK(expr) do { \
    int rc_ = (expr); \
    test__checks++; \
    if (rc_ != 0) test__fail(__FILE__, __LINE__, "%s returned %d (%s)", #expr, rc_, cairn_strerror(rc_)); \
} while (0)

/* expr returns a cairn status; it must be exactly code. */
#define CHECK_ERR(expr, code) do { \
    int rc_ = (expr), want_ = (code); \
    test__checks++; \
    if (rc_ != want_) test__fail(__FILE__, __LINE__, "%s returned %d (%s), want %d (%s)", #expr, \
                                 rc_, cairn_strerror(rc_), want_, cairn_strerror(want_)); \
} while (0)

/* Seeded PRNG (splitmix64). The seed comes from CAIRN_TEST_SEED, or is fixed,
 * and is printed when a test fails so a failure can be replayed. */
uint64_t test_seed(void);
uint64_t test_rand(void);
uint64_t test_rand_below(uint64_t n);   /* uniform in [0, n), n > 0 */
void test_rand_reseed(uint64_t seed);

/* CAIRN_TEST_SCALE (default 1): long targets run the same tests bigger. */
long test_scale(void);

/* A fresh empty directory for this test, removed when the test passes. */
const char *test_tmpdir(void);

/* Path of a built test tool (tests/tools/NAME.c) for this build. */
const char *test_tool(const char *name);

/* Path of the shared reference folder (../shared, or CAIRN_SHARED). */
const char *test_shared_dir(void);

/* The whole file at path, NUL-terminated, from malloc (NULL if it cannot be
 * read); *len_out (may be NULL) gets its length. */
char *test_slurp(const char *path, size_t *len_out);

#endif
