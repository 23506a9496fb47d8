/*
 * Arena chunks double in size up to 1 MiB; a request bigger than half a chunk
 * gets a chunk of its own, so huge allocations do not waste the current one.
 */
#include "base/arena.h"

#include <string.h>

#include "base/alloc.h"

struct cairn_arena_chunk {
    cairn_arena_chunk *next;  /* older chunk */
    size_t size;              /* bytes of data after the header */
    max_align_t data[];       /* the memory handed out */
};

#define ALIGN 16
#define MIN_CHUNK 4096
#define MAX_CHUNK (1u << 20)

static size_t align_up(size_t n)
{
    return (n + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
}

static cairn_arena_chunk *new_chunk(cairn_arena *a, size_t size)
{
    cairn_arena_chunk *c;
    if (size > SIZE_MAX - sizeof *c)
        return NULL;
    if (a->limit && a->total + size > a->limit)
        return NULL;
    c = cairn_malloc(sizeof *c + size);
    if (!c)
        return NULL;
    c->size = size;
    a->total += size;
    return c;
}

void *cairn_arena_alloc(cairn_arena *a, size_t size)
{
    char *p;
    size = align_up(size ? size : 1);
    if (size == 0)
        return NULL;  /* overflowed */
    if ((size_t)(a->end - a->cur) < size || !a->cur) {
        size_t want = a->head ? CAIRN_MIN(a->head->size * 2, (size_t)MAX_CHUNK) : MIN_CHUNK;
        cairn_arena_chunk *c;
        if (size > want / 2) {
            /* a chunk of its own, linked behind the current one */
            c = new_chunk(a, size);
            if (!c)
                return NULL;
            if (a->head) {
                c->next = a->head->next;
                a->head->next = c;
            } else {
                c->next = NULL;
                a->head = c;
                a->cur = a->end = (char *)c->data + size;
            }
            return c->data;
        }
        c = new_chunk(a, want);
        if (!c)
            return NULL;
        c->next = a->head;
        a->head = c;
        a->cur = (char *)c->data;
        a->end = a->cur + want;
    }
    p = a->cur;
    a->cur += size;
    return p;
}

void *cairn_arena_calloc(cairn_arena *a, size_t count, size_t size)
{
    size_t n;
    void *p;
    if (__builtin_mul_overflow(count, size, &n))
        return NULL;
    p = cairn_arena_alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *cairn_arena_strndup(cairn_arena *a, const char *s, size_t len)
{
    char *p = len < SIZE_MAX ? cairn_arena_alloc(a, len + 1) : NULL;
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

void *cairn_arena_realloc(cairn_arena *a, void *p, size_t old_size, size_t new_size)
{
    void *q;
    if (p && (char *)p + align_up(old_size) == a->cur && (size_t)(a->end - (char *)p) >= align_up(new_size)) {
        a->cur = (char *)p + align_up(new_size);
        return p;
    }
    q = cairn_arena_alloc(a, new_size);
    if (q && p)
        memcpy(q, p, CAIRN_MIN(old_size, new_size));
    return q;
}

void cairn_arena_dispose(cairn_arena *a)
{
    cairn_arena_chunk *c = a->head;
    while (c) {
        cairn_arena_chunk *next = c->next;
        cairn_free(c);
        c = next;
    }
    a->head = NULL;
    a->cur = a->end = NULL;
    a->total = 0;
}
