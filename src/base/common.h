/*
 * Small macros every layer uses. Kept tiny on purpose: anything with state
 * or a policy belongs in its own file.
 */
#ifndef CAIRN_BASE_COMMON_H
#define CAIRN_BASE_COMMON_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

#define CAIRN_LIKELY(x)   __builtin_expect(!!(x), 1)
#define CAIRN_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CAIRN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CAIRN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CAIRN_MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * ALWAYS(x) and NEVER(x) mark conditions that cannot happen unless stored
 * bytes are corrupt or the code is wrong (SQLite's convention). Debug builds
 * assert; release builds evaluate x and let the caller take the safe path.
 */
#ifndef NDEBUG
#define ALWAYS(x) (assert(x), 1)
#define NEVER(x)  (assert(!(x)), 0)
#else
#define ALWAYS(x) (x)
#define NEVER(x)  (x)
#endif

/*
 * Every path that detects corrupt stored bytes returns CAIRN_CORRUPT_BKPT, so
 * a debugger breakpoint on cairn__corrupt_bkpt() stops at the first sign of
 * corruption, and the source line is kept for the error message.
 */
int cairn__corrupt_bkpt(const char *file, int line);
#define CAIRN_CORRUPT_BKPT cairn__corrupt_bkpt(__FILE__, __LINE__)
/* Source line of the most recent CAIRN_CORRUPT_BKPT in this thread (0: none). */
int cairn__corrupt_line(void);

/* Big-endian fixed-width integers, for index keys and on-disk formats. */
static inline void cairn_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}
static inline uint64_t cairn_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}
static inline void cairn_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint32_t cairn_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif
