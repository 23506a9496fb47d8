/*
 * Invariant: every live entry is reachable from its home slot (hash & mask)
 * by probing forward over non-empty slots; that is why removal leaves a
 * tombstone instead of an empty slot.
 */
#include "base/hmap.h"

#include <string.h>

#include "base/alloc.h"

#define EMPTY 0
#define TOMB 1

/* Hashes 0 and 1 are reserved for slot states. */
static inline uint64_t fix(uint64_t h)
{
    return h < 2 ? h + 2 : h;
}

void *cairn_hmap_find(const cairn_hmap *m, uint64_t hash, const void *key, cairn_hmap_eq eq, void *payload)
{
    size_t mask, i;
    if (!m->cap)
        return NULL;
    hash = fix(hash);
    mask = m->cap - 1;
    for (i = hash & mask;; i = (i + 1) & mask) {
        uint64_t h = m->hashes[i];
        if (h == EMPTY)
            return NULL;
        if (h == hash && eq(m->entries[i], key, payload))
            return m->entries[i];
    }
}

static int resize(cairn_hmap *m, size_t cap)
{
    uint64_t *hashes = cairn_malloc(cairn_mul_size(cap, sizeof *hashes));
    void **entries = cairn_malloc(cairn_mul_size(cap, sizeof *entries));
    size_t mask = cap - 1;
    if (!hashes || !entries) {
        cairn_free(hashes);
        cairn_free(entries);
        return CAIRN_ENOMEM;
    }
    memset(hashes, 0, cap * sizeof *hashes);
    for (size_t j = 0; j < m->cap; j++) {
        uint64_t h = m->hashes[j];
        size_t i;
        if (h < 2)
            continue;
        for (i = h & mask; hashes[i] != EMPTY; i = (i + 1) & mask)
            ;
        hashes[i] = h;
        entries[i] = m->entries[j];
    }
    cairn_free(m->hashes);
    cairn_free(m->entries);
    m->hashes = hashes;
    m->entries = entries;
    m->cap = cap;
    m->used = m->count;
    return 0;
}

int cairn_hmap_reserve(cairn_hmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 8;
    while (cap - cap / 4 <= n) {
        if (cap > SIZE_MAX / 4)
            return CAIRN_ENOMEM;
        cap *= 2;
    }
    if (cap == m->cap && m->used - m->count <= m->cap / 8)
        return 0;
    return resize(m, cap);
}

int cairn_hmap_insert(cairn_hmap *m, uint64_t hash, void *entry)
{
    size_t mask, i;
    if (m->used + 1 > m->cap - m->cap / 4 || !m->cap) {
        int rc = cairn_hmap_reserve(m, m->count + 1);
        if (rc < 0)
            return rc;
        if (m->used + 1 > m->cap - m->cap / 4 && (rc = resize(m, m->cap)) < 0)
            return rc;
    }
    hash = fix(hash);
    mask = m->cap - 1;
    for (i = hash & mask; m->hashes[i] >= 2; i = (i + 1) & mask)
        ;
    if (m->hashes[i] == EMPTY)
        m->used++;
    m->hashes[i] = hash;
    m->entries[i] = entry;
    m->count++;
    return 0;
}

void *cairn_hmap_remove(cairn_hmap *m, uint64_t hash, const void *key, cairn_hmap_eq eq, void *payload)
{
    size_t mask, i;
    if (!m->cap)
        return NULL;
    hash = fix(hash);
    mask = m->cap - 1;
    for (i = hash & mask;; i = (i + 1) & mask) {
        uint64_t h = m->hashes[i];
        if (h == EMPTY)
            return NULL;
        if (h == hash && eq(m->entries[i], key, payload)) {
            void *e = m->entries[i];
            m->hashes[i] = TOMB;
            m->count--;
            return e;
        }
    }
}

int cairn_hmap_next(const cairn_hmap *m, size_t *pos, void **entry_out)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->hashes[i] >= 2) {
            *entry_out = m->entries[i];
            *pos = i + 1;
            return 1;
        }
    }
    *pos = m->cap;
    return 0;
}

void cairn_hmap_clear(cairn_hmap *m)
{
    if (m->cap)
        memset(m->hashes, 0, m->cap * sizeof *m->hashes);
    m->count = m->used = 0;
}

void cairn_hmap_dispose(cairn_hmap *m)
{
    cairn_free(m->hashes);
    cairn_free(m->entries);
    m->hashes = NULL;
    m->entries = NULL;
    m->cap = m->count = m->used = 0;
}
