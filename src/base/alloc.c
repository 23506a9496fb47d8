/*
 * The allocator seam. One global allocator, set once before use; the
 * failure-injection counters are atomics so threaded tests can use them.
 */
#include "base/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

static cairn_allocator current = CAIRN_ALLOCATOR_INIT;

static _Atomic uint64_t alloc_count;     /* allocations attempted */
static _Atomic uint64_t fail_at;         /* absolute count that fails, 0 = off */
static _Atomic int fail_persistent;      /* fail every one from fail_at on */
static _Atomic int fail_happened;        /* an injected failure happened */
static _Atomic int64_t live_blocks;      /* blocks not yet freed */

int cairn_set_allocator(const cairn_allocator *allocator)
{
    cairn_allocator def = CAIRN_ALLOCATOR_INIT;
    if (allocator && allocator->version != CAIRN_ALLOCATOR_VERSION)
        return CAIRN_EINVALID;
    current = allocator ? *allocator : def;
    return 0;
}

void cairn__alloc_fail_at(uint64_t n, int persistent)
{
    atomic_store(&fail_persistent, persistent);
    atomic_store(&fail_happened, 0);
    atomic_store(&fail_at, n ? atomic_load(&alloc_count) + n : 0);
}

int cairn__alloc_failed(void)
{
    return atomic_load(&fail_happened);
}

uint64_t cairn__alloc_count(void)
{
    return atomic_load(&alloc_count);
}

int64_t cairn__alloc_live(void)
{
    return atomic_load(&live_blocks);
}

/* Counts one attempt; 1 when it must fail. */
static int inject(void)
{
    uint64_t n = atomic_fetch_add(&alloc_count, 1) + 1;
    uint64_t at = atomic_load(&fail_at);
    if (at != 0 && (n == at || (n > at && atomic_load(&fail_persistent)))) {
        atomic_store(&fail_happened, 1);
        return 1;
    }
    return 0;
}

void *cairn_malloc(size_t size)
{
    void *p;
    if (inject())
        return NULL;
    if (size == 0)
        size = 1;
    p = current.malloc ? current.malloc(size, current.payload) : malloc(size);
    if (p)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

void *cairn_realloc(void *ptr, size_t size)
{
    void *p;
    if (!ptr)
        return cairn_malloc(size);
    if (inject())
        return NULL;
    if (size == 0)
        size = 1;
    p = current.realloc ? current.realloc(ptr, size, current.payload) : realloc(ptr, size);
    return p;
}

void cairn_free(void *ptr)
{
    if (!ptr)
        return;
    atomic_fetch_sub(&live_blocks, 1);
    if (current.free)
        current.free(ptr, current.payload);
    else
        free(ptr);
}

void cairn__alloc_untrack(int64_t n)
{
    atomic_fetch_sub(&live_blocks, n);
}

char *cairn_strndup(const char *s, size_t len)
{
    char *p = cairn_malloc(len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}
