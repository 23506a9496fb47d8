/*
 * The node cache: decoded index nodes of one store, keyed by address, under
 * a bound in bytes with CLOCK (approximate LRU) eviction. One cache serves
 * every tree value and every thread that reads the store (DESIGN.md section
 * 4); tree values keep a borrowed pointer to it, so it must outlive them.
 *
 * Nodes are immutable and addressed by content, so a cached node is never
 * stale and there is nothing to invalidate. Entries are reference counted: a
 * caller holding a node (an iterator's current leaf) keeps it alive after the
 * cache evicts it; the bytes then no longer count against the cache.
 *
 * Most descents do not ask the cache at all: a cached branch keeps a pointer
 * to each cached child found through it (a swizzled pointer, cache.c), which
 * the cache clears when it evicts the child, so the byte bound still covers
 * every node a pointer reaches.
 */
#ifndef CAIRN_INDEX_CACHE_H
#define CAIRN_INDEX_CACHE_H

#include "base/common.h"
#include "store/store.h"

typedef struct cairn_nodecache cairn_nodecache;
typedef struct cairn_node cairn_node;

typedef struct cairn_nodecache_stats {
    uint64_t hits;        /* gets answered from memory (a descent that follows a
                             swizzled pointer does not ask, and is not counted) */
    uint64_t misses;      /* gets that read the store */
    uint64_t evictions;   /* nodes dropped to stay under the byte bound */
    uint64_t inserts;     /* nodes added (loads and commits) */
    size_t bytes;         /* bytes of the nodes held now */
    size_t entries;       /* nodes held now */
    size_t max_bytes;     /* the bound */
} cairn_nodecache_stats;

/*
 * A cache of at most max_bytes of decoded nodes read from store (borrowed;
 * it must outlive the cache). max_bytes 0 caches nothing.
 * @return 0 or CAIRN_ENOMEM.
 */
int cairn_nodecache_new(cairn_nodecache **out, cairn_store *store, size_t max_bytes);

/* Frees the cache. Nodes still referenced elsewhere stay alive. Waits for
 * lookups running in other threads (on any cache) to leave the nodes it
 * evicts (epoch.h). */
void cairn_nodecache_free(cairn_nodecache *c);

/* The store the cache reads. */
cairn_store *cairn_nodecache_store(const cairn_nodecache *c);

/*
 * The node at addr, as a new reference (cairn_node_unref), read from the
 * store and decoded on a miss. Thread-safe.
 * @return 0, CAIRN_ENOTFOUND, CAIRN_ECORRUPT, CAIRN_EIO, CAIRN_ENOMEM.
 */
int cairn_nodecache_get(cairn_node **out, cairn_nodecache *c, const cairn_addr *addr);

/* Offers a clean node (just committed) to the cache, which takes its own
 * reference if it keeps it. Thread-safe. */
void cairn_nodecache_put(cairn_nodecache *c, cairn_node *n);

/*
 * Swizzles child (just got from c at parent->kids[i].addr) into clean
 * branch parent, if the child is still cached and parent is not dying; a
 * child is swizzled into one parent at a time, so it moves from any other.
 * Thread-safe. For node.c.
 */
void cairn_nodecache__swizzle(cairn_nodecache *c, cairn_node *parent, uint32_t i, cairn_node *child);

/* Clears every swizzled child of branch n, whose last reference is gone,
 * and makes sure none is swizzled in later. For node.c. */
void cairn_nodecache__unswizzle_all(cairn_node *n);

/* Drops every cached node (tests and benchmarks use it for cold reads). */
void cairn_nodecache_clear(cairn_nodecache *c);

void cairn_nodecache_stats_get(cairn_nodecache_stats *out, cairn_nodecache *c);

#endif
