/*
 * The node cache (cache.h): a hash table from address to decoded node, with
 * CLOCK eviction under a byte bound, cut into shards by address so threads
 * reading different nodes rarely meet on one mutex. Each shard owns an equal
 * part of the byte bound.
 *
 * Eviction is CLOCK, the classic approximation of LRU (PostgreSQL's buffer
 * manager): the nodes of a shard form a ring in insertion order; a hit sets
 * the node's referenced bit; to make room the hand walks the ring, clearing
 * set bits and evicting the first node whose bit was clear. A node new to
 * the cache starts with a clear bit, so one long scan cannot flush the nodes
 * that lookups keep using. The first version was a true LRU list with
 * move-to-front on every hit, and it measured 2 to 3 times slower on cached
 * lookups: relinking a node touches its two neighbours' headers, random
 * cache lines, on every hit at every level of every lookup (on the test
 * machine a missed cache line costs 300 to 700 ns). CLOCK touches only the
 * node being read. For the same reason the table keeps each slot's hash next
 * to its node pointer (one cache line per probe) rather than using
 * base/hmap.c's parallel arrays.
 *
 * A get that misses reads and decodes the node with no lock held, then
 * inserts it; when two threads miss on the same address at once both read it,
 * and the second one to insert drops its copy and takes the first. That waste
 * is rare and cheaper than an in-flight table with condition variables.
 * Evicted nodes are unreferenced after the shard lock is released, so a free
 * never runs under the lock.
 *
 * SWIZZLED POINTERS. The table and its locks are the slow path. A lookup at
 * 10^7 keys read three cached nodes below the root, and finding each in the
 * table cost a lock, a hash probe (a cache miss of its own) and reference
 * count updates: about a quarter of a cached lookup. So once a branch has
 * found a child here, the child's pointer is stored in the branch's slot for
 * it (node.h: cairn_node_swizzled), and later descents follow it with no
 * lock and no count, inside an epoch section (epoch.h). The rules:
 *
 *  - A slot points only at a cached child: set under the child's shard lock
 *    while the child is in the cache, cleared under the same lock when the
 *    child leaves it (shard_remove). So a swizzled pointer is not a
 *    reference and pins nothing: every node a swizzled pointer reaches is
 *    counted in the byte bound, and eviction works as before.
 *  - The lock that guards slot i of a parent is the shard lock of the
 *    child's address (kids[i].addr), in the parent's swz_cache. It guards
 *    both ends of the link: the slot and the child's swz_parent / swz_slot.
 *    A child has one such back link, so it is swizzled into one parent at a
 *    time: another parent holding the same subtree (an older or newer
 *    version of the tree) takes the link over when it descends there.
 *  - A parent whose references are all gone (cairn_node_unref) clears its
 *    slots, each under its lock, after marking itself dying so that no
 *    reader inside it swizzles anything in again (swizzle checks dying
 *    under the lock after counting the link in swz_links, and the dying
 *    parent reads swz_links after marking itself, so one of them sees the
 *    other). A parent with no links skips that, which also means nodes that
 *    outlive a freed cache never touch it: freeing drains every cached
 *    child, and with it every link.
 *  - A node ever swizzled may be in use by readers that hold no reference,
 *    so its memory goes back through cairn_epoch_retire when its last
 *    reference goes: freed when every section that could have loaded the
 *    pointer before it was cleared has ended.
 *  - Readers set the CLOCK bit of nodes they reach by pointer (a relaxed
 *    store, only when clear), so the hand still sees which nodes are used.
 *
 * Rejected: a lock-free table (complexity for no measured need; swizzling
 * removes the table from the hot path instead); swizzled pointers that hold
 * references (a root would then pin the whole tree and the byte bound would
 * mean nothing); readers taking a reference per level from the swizzled
 * pointer (atomic writes to the shared upper nodes by every reader thread).
 */
#include "index/cache.h"

#include <pthread.h>

#include "base/alloc.h"
#include "index/epoch.h"
#include "index/node.h"

#define SHARDS_MAX 16
#define SHARD_MIN_BYTES ((size_t)1 << 20)  /* fewer shards for small caches */
#define SLOT_EMPTY 0
#define SLOT_TOMB 1

struct slot {
    uint64_t hash;      /* SLOT_EMPTY, SLOT_TOMB, or the node's address hash */
    cairn_node *node;   /* the node, when hash is a hash */
};

struct shard {
    pthread_mutex_t lock;   /* guards everything below and the nodes' cache fields */
    struct slot *slots;     /* open addressing, linear probing */
    size_t cap;             /* slots, a power of two (0 before the first insert) */
    size_t count;           /* nodes held */
    size_t used;            /* nodes + tombstones */
    cairn_node *hand;       /* the CLOCK hand: next node to consider for eviction */
    size_t bytes;           /* sum of mem_len of the nodes held */
    size_t max_bytes;       /* this shard's part of the bound */
    uint64_t hits;          /* statistics, see cairn_nodecache_stats */
    uint64_t misses;
    uint64_t evictions;
    uint64_t inserts;
};

struct cairn_nodecache {
    cairn_store *store;          /* where misses read (borrowed) */
    size_t max_bytes;            /* the bound */
    unsigned mask;               /* shards - 1 */
    struct shard shards[];       /* mask + 1 shards */
};

/* The first 8 bytes of a SHA-256 are uniform; 0 and 1 mark slot states. */
static uint64_t addr_hash(const cairn_addr *a)
{
    uint64_t h;
    memcpy(&h, a->bytes, sizeof h);
    return h < 2 ? h + 2 : h;
}

static struct shard *shard_of(cairn_nodecache *c, const cairn_addr *a)
{
    return &c->shards[(addr_hash(a) >> 48) & c->mask];
}

/* ---- the table ---------------------------------------------------------------- */

static struct slot *table_find(const struct shard *s, const cairn_addr *a, uint64_t h)
{
    size_t mask = s->cap - 1;
    if (!s->cap)
        return NULL;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct slot *e = &s->slots[i];
        if (e->hash == SLOT_EMPTY)
            return NULL;
        if (e->hash == h && cairn_addr_equal(&e->node->addr, a))
            return e;
    }
}

/* Rebuilds the table with cap slots, dropping tombstones. */
static int table_resize(struct shard *s, size_t cap)
{
    struct slot *slots = cairn_malloc(cairn_mul_size(cap, sizeof *slots));
    if (!slots)
        return CAIRN_ENOMEM;
    memset(slots, 0, cap * sizeof *slots);
    for (size_t j = 0; j < s->cap; j++) {
        size_t i;
        if (s->slots[j].hash < 2)
            continue;
        for (i = s->slots[j].hash & (cap - 1); slots[i].hash != SLOT_EMPTY; i = (i + 1) & (cap - 1))
            ;
        slots[i] = s->slots[j];
    }
    cairn_free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->used = s->count;
    return 0;
}

/* Adds n (not present) under hash h. */
static int table_insert(struct shard *s, cairn_node *n, uint64_t h)
{
    size_t i;
    int rc;
    if ((s->used + 1) * 4 > s->cap * 3) {
        size_t cap = s->cap ? s->cap : 64;
        while ((s->count + 1) * 2 > cap)
            cap *= 2;
        if ((rc = table_resize(s, cap)) < 0)
            return rc;
    }
    for (i = h & (s->cap - 1); s->slots[i].hash >= 2; i = (i + 1) & (s->cap - 1))
        ;
    if (s->slots[i].hash == SLOT_EMPTY)
        s->used++;
    s->slots[i].hash = h;
    s->slots[i].node = n;
    s->count++;
    return 0;
}

/* ---- the ring ------------------------------------------------------------------- */

/* Puts n just behind the hand: the last node the hand will reach. */
static void ring_add(struct shard *s, cairn_node *n)
{
    if (!s->hand) {
        n->clock_prev = n->clock_next = n;
        s->hand = n;
        return;
    }
    n->clock_next = s->hand;
    n->clock_prev = s->hand->clock_prev;
    n->clock_prev->clock_next = n;
    s->hand->clock_prev = n;
}

static void ring_remove(struct shard *s, cairn_node *n)
{
    if (n->clock_next == n) {
        s->hand = NULL;
    } else {
        n->clock_prev->clock_next = n->clock_next;
        n->clock_next->clock_prev = n->clock_prev;
        if (s->hand == n)
            s->hand = n->clock_next;
    }
    n->clock_prev = n->clock_next = NULL;
}

/* Clears the swizzled pointer to child, if any (its shard lock held). */
static void unswizzle(cairn_node *child)
{
    cairn_node *p = child->swz_parent;
    if (!p)
        return;
    atomic_store(&p->swz[child->swz_slot], NULL);
    atomic_fetch_sub(&p->swz_links, 1);
    child->swz_parent = NULL;
}

/* Removes n from the shard; the caller drops the cache's reference later. */
static void shard_remove(struct shard *s, cairn_node *n)
{
    struct slot *e = table_find(s, &n->addr, addr_hash(&n->addr));
    assert(e && e->node == n);
    unswizzle(n);
    e->hash = SLOT_TOMB;
    e->node = NULL;
    s->count--;
    ring_remove(s, n);
    n->in_cache = 0;
    s->bytes -= n->mem_len;
}

/*
 * Inserts n (reference taken) unless an equal node is there, evicting while
 * over the bound; evicted nodes are pushed on *evicted (linked by
 * clock_next) for the caller to unreference after unlocking. Returns the node
 * now cached under n's address (n, or the one found), or NULL when nothing is
 * cached.
 */
static cairn_node *shard_insert(struct shard *s, cairn_node *n, cairn_node **evicted)
{
    uint64_t h = addr_hash(&n->addr);
    struct slot *have = table_find(s, &n->addr, h);
    if (have)
        return have->node;
    if (s->max_bytes == 0 || n->mem_len > s->max_bytes || table_insert(s, n, h) < 0)
        return NULL;
    cairn_node_ref(n);
    n->in_cache = 1;
    atomic_store_explicit(&n->referenced, 0, memory_order_relaxed);
    ring_add(s, n);
    s->bytes += n->mem_len;
    s->inserts++;
    while (s->bytes > s->max_bytes && s->hand != n) {
        cairn_node *victim = s->hand;
        if (atomic_load_explicit(&victim->referenced, memory_order_relaxed)) {
            /* a second chance */
            atomic_store_explicit(&victim->referenced, 0, memory_order_relaxed);
            s->hand = victim->clock_next;
            continue;
        }
        shard_remove(s, victim);
        s->evictions++;
        victim->clock_next = *evicted;
        *evicted = victim;
    }
    return n;
}

/* Unreferences a list of nodes linked by clock_next. */
static void unref_list(cairn_node *n)
{
    while (n) {
        cairn_node *next = n->clock_next;
        n->clock_next = NULL;
        cairn_node_unref(n);
        n = next;
    }
}

/* ---- the cache -------------------------------------------------------------------- */

int cairn_nodecache_new(cairn_nodecache **out, cairn_store *store, size_t max_bytes)
{
    unsigned n = 1;
    cairn_nodecache *c;
    while (n < SHARDS_MAX && max_bytes / (2 * n) >= SHARD_MIN_BYTES)
        n *= 2;
    c = cairn_malloc(sizeof *c + n * sizeof(struct shard));
    if (!c)
        return CAIRN_ENOMEM;
    memset(c, 0, sizeof *c + n * sizeof(struct shard));
    c->store = store;
    c->max_bytes = max_bytes;
    c->mask = n - 1;
    for (unsigned i = 0; i < n; i++) {
        pthread_mutex_init(&c->shards[i].lock, NULL);
        c->shards[i].max_bytes = max_bytes / n;
    }
    *out = c;
    return 0;
}

cairn_store *cairn_nodecache_store(const cairn_nodecache *c)
{
    return c->store;
}

int cairn_nodecache_get(cairn_node **out, cairn_nodecache *c, const cairn_addr *addr)
{
    struct shard *s = shard_of(c, addr);
    cairn_node *n = NULL, *evicted = NULL, *have;
    struct slot *e;
    size_t len = 0;
    void *data = NULL;
    int rc;

    pthread_mutex_lock(&s->lock);
    if ((e = table_find(s, addr, addr_hash(addr))) != NULL) {
        n = e->node;
        atomic_store_explicit(&n->referenced, 1, memory_order_relaxed);
        cairn_node_ref(n);
        s->hits++;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->lock);
    if (n) {
        *out = n;
        return 0;
    }

    if ((rc = cairn_store_get_node(c->store, addr, &data, &len)) < 0)
        return rc;
    rc = cairn_node_decode(&n, data, len);
    cairn_free(data);
    if (rc < 0)
        return rc;
    n->addr = *addr;

    pthread_mutex_lock(&s->lock);
    have = shard_insert(s, n, &evicted);
    if (have && have != n) {
        cairn_node_ref(have);
        atomic_store_explicit(&have->referenced, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->lock);
    unref_list(evicted);
    if (have && have != n) {
        cairn_node_unref(n);
        n = have;
    }
    *out = n;
    return 0;
}

void cairn_nodecache_put(cairn_nodecache *c, cairn_node *n)
{
    struct shard *s = shard_of(c, &n->addr);
    cairn_node *evicted = NULL;
    assert(n->clean);
    pthread_mutex_lock(&s->lock);
    shard_insert(s, n, &evicted);
    pthread_mutex_unlock(&s->lock);
    unref_list(evicted);
}

/* ---- swizzled pointers ------------------------------------------------------------ */

void cairn_nodecache__swizzle(cairn_nodecache *c, cairn_node *parent, uint32_t i, cairn_node *child)
{
    struct shard *s = shard_of(c, &child->addr);
    cairn_nodecache *owner = NULL;
    assert(parent->clean && cairn_addr_equal(&parent->kids[i].addr, &child->addr));
    if (c->max_bytes == 0 || atomic_load_explicit(&parent->swz[i], memory_order_relaxed))
        return;  /* a cache of nothing (cold reads), or done already */
    /* a parent's slots are guarded by the locks of one cache: the first
     * that links into it (a tree reads through one cache) */
    if (!atomic_compare_exchange_strong(&parent->swz_cache, &owner, c) && owner != c)
        return;
    pthread_mutex_lock(&s->lock);
    if (child->in_cache && !atomic_load(&parent->swz[i])) {
        atomic_fetch_add(&parent->swz_links, 1);
        if (atomic_load(&parent->dying)) {
            atomic_fetch_sub(&parent->swz_links, 1);
        } else {
            unswizzle(child);  /* from another parent that shares it */
            child->swz_parent = parent;
            child->swz_slot = i;
            atomic_store_explicit(&child->swizzled, 1, memory_order_relaxed);
            atomic_store(&parent->swz[i], child);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

void cairn_nodecache__unswizzle_all(cairn_node *n)
{
    cairn_nodecache *c;
    atomic_store(&n->dying, 1);
    if (atomic_load(&n->swz_links) == 0)
        return;
    c = atomic_load(&n->swz_cache);
    for (uint32_t i = 0; i < n->n; i++) {
        struct shard *s = shard_of(c, &n->kids[i].addr);
        cairn_node *child;
        pthread_mutex_lock(&s->lock);
        if ((child = atomic_load_explicit(&n->swz[i], memory_order_relaxed)) != NULL) {
            assert(child->swz_parent == n && child->swz_slot == i);
            unswizzle(child);
        }
        pthread_mutex_unlock(&s->lock);
    }
}

/* Empties one shard; returns its nodes as a list linked by clock_next. */
static cairn_node *shard_drain(struct shard *s)
{
    cairn_node *list = NULL, *n;
    pthread_mutex_lock(&s->lock);
    while ((n = s->hand) != NULL) {
        shard_remove(s, n);
        n->clock_next = list;
        list = n;
    }
    pthread_mutex_unlock(&s->lock);
    return list;
}

void cairn_nodecache_clear(cairn_nodecache *c)
{
    for (unsigned i = 0; i <= c->mask; i++)
        unref_list(shard_drain(&c->shards[i]));
}

void cairn_nodecache_free(cairn_nodecache *c)
{
    if (!c)
        return;
    cairn_nodecache_clear(c);
    cairn_epoch_barrier();  /* nodes it evicted must not outlive it unfreed */
    for (unsigned i = 0; i <= c->mask; i++) {
        cairn_free(c->shards[i].slots);
        pthread_mutex_destroy(&c->shards[i].lock);
    }
    cairn_free(c);
}

void cairn_nodecache_stats_get(cairn_nodecache_stats *out, cairn_nodecache *c)
{
    memset(out, 0, sizeof *out);
    out->max_bytes = c->max_bytes;
    for (unsigned i = 0; i <= c->mask; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        out->inserts += s->inserts;
        out->bytes += s->bytes;
        out->entries += s->count;
        pthread_mutex_unlock(&s->lock);
    }
}
