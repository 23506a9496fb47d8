/*
 * Arenas: bump allocation from chunks, freed all at once. Each parse, plan
 * and query gets one, so its many small allocations cost a pointer bump and
 * its cleanup cannot leak. Memory from an arena must never be passed to
 * cairn_free.
 */
#ifndef CAIRN_BASE_ARENA_H
#define CAIRN_BASE_ARENA_H

#include "base/common.h"

typedef struct cairn_arena_chunk cairn_arena_chunk;

typedef struct cairn_arena {
    cairn_arena_chunk *head;  /* newest chunk, linked to older ones */
    char *cur;                /* next free byte in head */
    char *end;                /* end of head */
    size_t total;             /* bytes allocated from the seam */
    size_t limit;             /* refuse to grow past this (0 = no limit) */
} cairn_arena;

#define CAIRN_ARENA_INIT { NULL, NULL, NULL, 0, 0 }

/* 16-byte aligned memory; NULL when out of memory or past the limit. */
void *cairn_arena_alloc(cairn_arena *a, size_t size);
/* Zeroed memory. */
void *cairn_arena_calloc(cairn_arena *a, size_t count, size_t size);
/* A NUL-terminated copy of s[0..len). */
char *cairn_arena_strndup(cairn_arena *a, const char *s, size_t len);
/* Grows the most recent allocation p of old_size to new_size when it can,
 * otherwise copies; NULL when out of memory (p stays valid). */
void *cairn_arena_realloc(cairn_arena *a, void *p, size_t old_size, size_t new_size);

/* Frees everything. The arena may be used again afterwards. */
void cairn_arena_dispose(cairn_arena *a);

#endif
