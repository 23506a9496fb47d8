/*
 * An open-addressing hash table of entry pointers, keyed by whatever the
 * caller's equality callback compares. The table stores each entry's 64-bit
 * hash next to it, so probes compare hashes before calling back and a resize
 * never recomputes a hash. Linear probing with tombstones; capacity is a
 * power of two kept at most 3/4 full (tombstones included).
 *
 * Rejected: chaining (a pointer chase per probe), and a typed macro-generated
 * table per key type (code bloat for little gain at our sizes).
 */
#ifndef CAIRN_BASE_HMAP_H
#define CAIRN_BASE_HMAP_H

#include "base/common.h"

/* Returns nonzero when entry matches key. */
typedef int (*cairn_hmap_eq)(const void *entry, const void *key, void *payload);

typedef struct cairn_hmap {
    uint64_t *hashes;  /* per slot: hash, or 0 = empty, 1 = tombstone */
    void **entries;    /* per slot: the entry */
    size_t cap;        /* slots, a power of two (0 before first insert) */
    size_t count;      /* live entries */
    size_t used;       /* live entries + tombstones */
} cairn_hmap;

#define CAIRN_HMAP_INIT { NULL, NULL, 0, 0, 0 }

/* The entry matching key, or NULL. */
void *cairn_hmap_find(const cairn_hmap *m, uint64_t hash, const void *key, cairn_hmap_eq eq, void *payload);

/* Adds entry (the caller has checked it is not present). 0 or CAIRN_ENOMEM. */
int cairn_hmap_insert(cairn_hmap *m, uint64_t hash, void *entry);

/* Removes and returns the entry matching key, or NULL. */
void *cairn_hmap_remove(cairn_hmap *m, uint64_t hash, const void *key, cairn_hmap_eq eq, void *payload);

/* Makes room for n entries in all. 0 or CAIRN_ENOMEM. */
int cairn_hmap_reserve(cairn_hmap *m, size_t n);

/* Iteration: for (size_t i = 0; cairn_hmap_next(m, &i, &e); ) ... */
int cairn_hmap_next(const cairn_hmap *m, size_t *pos, void **entry_out);

void cairn_hmap_clear(cairn_hmap *m);    /* removes all entries, keeps memory */
void cairn_hmap_dispose(cairn_hmap *m);  /* frees the table (not the entries) */

#endif
