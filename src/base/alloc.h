/*
 * The allocation seam: every byte cairn allocates comes from cairn_malloc,
 * cairn_realloc and cairn_free (declared in cairn.h), which forward to the
 * user's allocator. Tests use the hooks below to fail the Nth allocation and
 * to count live blocks, which is how out-of-memory paths get exercised
 * (SQLite's do_malloc_test, Lua's debug_realloc).
 */
#ifndef CAIRN_BASE_ALLOC_H
#define CAIRN_BASE_ALLOC_H

#include <stdint.h>
#include <string.h>

#include "cairn.h"

/*
 * Makes the nth allocation from now fail (n = 1: the very next one). With
 * persistent, every allocation after it fails too. n = 0 turns injection off.
 * realloc counts as an allocation; free does not.
 */
void cairn__alloc_fail_at(uint64_t n, int persistent);
/* 1 if an injected failure has happened since the last cairn__alloc_fail_at. */
int cairn__alloc_failed(void);
/* Allocations attempted since the process started. */
uint64_t cairn__alloc_count(void);
/* Blocks currently allocated through the seam (malloc/realloc minus free). */
int64_t cairn__alloc_live(void);

/*
 * Moves blocks out of (negative n: back into) the live count, for memory
 * that lives as long as the process on purpose (interned keyword names), so
 * that leak checks around an operation do not count it.
 */
void cairn__alloc_untrack(int64_t n);

/* Copies len bytes into a new NUL-terminated block; NULL when out of memory. */
char *cairn_strndup(const char *s, size_t len);

/* Overflow-checked a * b, for array sizes: SIZE_MAX when it would overflow
 * (and that allocation then fails). */
static inline size_t cairn_mul_size(size_t a, size_t b)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return SIZE_MAX;
    return r;
}

#endif
