/*
 * The node cache (cache.h): a hash table from address to decoded node plus
 * an LRU list, cut into shards by address so threads reading different nodes
 * rarely meet on one mutex. Each shard owns an equal part of the byte bound.
 *
 * A get that misses reads and decodes the node with no lock held, then
 * inserts it; when two threads miss on the same address at once both read it,
 * and the second one to insert drops its copy and takes the first. That waste
 * is rare and cheaper than an in-flight table with condition variables.
 * Evicted nodes are unreferenced after the shard lock is released, so a free
 * never runs under the lock.
 *
 * Rejected: CLOCK instead of LRU (a hit would only set a bit, but the shard
 * lock is taken for the table probe anyway, and relinking two pointers under
 * it costs nothing measurable); a lock-free table (complexity for no measured
 * need); memoising child pointers inside branch nodes (a root would then pin
 * the whole tree and the byte bound would mean nothing).
 */
#include "index/cache.h"

#include <pthread.h>

#include "base/alloc.h"
#include "base/hmap.h"
#include "index/node.h"

#define SHARDS_MAX 16
#define SHARD_MIN_BYTES ((size_t)1 << 20)  /* fewer shards for small caches */

struct shard {
    pthread_mutex_t lock;   /* guards everything below and the nodes' LRU links */
    cairn_hmap map;         /* addr -> node */
    cairn_node *head;       /* most recently used */
    cairn_node *tail;       /* least recently used */
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

static uint64_t addr_hash(const cairn_addr *a)
{
    uint64_t h;
    memcpy(&h, a->bytes, sizeof h);  /* already uniform: a SHA-256 prefix */
    return h;
}

static int addr_eq(const void *entry, const void *key, void *payload)
{
    (void)payload;
    return cairn_addr_equal(&((const cairn_node *)entry)->addr, key);
}

static struct shard *shard_of(cairn_nodecache *c, const cairn_addr *a)
{
    return &c->shards[(addr_hash(a) >> 48) & c->mask];
}

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

static void lru_unlink(struct shard *s, cairn_node *n)
{
    if (n->lru_prev)
        n->lru_prev->lru_next = n->lru_next;
    else
        s->head = n->lru_next;
    if (n->lru_next)
        n->lru_next->lru_prev = n->lru_prev;
    else
        s->tail = n->lru_prev;
    n->lru_prev = n->lru_next = NULL;
}

static void lru_push(struct shard *s, cairn_node *n)
{
    n->lru_prev = NULL;
    n->lru_next = s->head;
    if (s->head)
        s->head->lru_prev = n;
    s->head = n;
    if (!s->tail)
        s->tail = n;
}

/* Removes n from the shard; the caller drops the cache's reference later. */
static void shard_remove(struct shard *s, cairn_node *n)
{
    cairn_node *gone = cairn_hmap_remove(&s->map, addr_hash(&n->addr), &n->addr, addr_eq, NULL);
    assert(gone == n);
    (void)gone;
    lru_unlink(s, n);
    n->in_cache = 0;
    s->bytes -= n->mem_len;
}

/*
 * Inserts n (reference taken) unless an equal node is there, evicting from
 * the tail while over the bound; evicted nodes are pushed on *evicted (linked
 * by lru_next) for the caller to unreference after unlocking. Returns the
 * node now cached under n's address (n, or the one found), or NULL when
 * nothing is cached.
 */
static cairn_node *shard_insert(struct shard *s, cairn_node *n, cairn_node **evicted)
{
    uint64_t h = addr_hash(&n->addr);
    cairn_node *have = cairn_hmap_find(&s->map, h, &n->addr, addr_eq, NULL);
    if (have)
        return have;
    if (s->max_bytes == 0 || n->mem_len > s->max_bytes || cairn_hmap_insert(&s->map, h, n) < 0)
        return NULL;
    cairn_node_ref(n);
    n->in_cache = 1;
    lru_push(s, n);
    s->bytes += n->mem_len;
    s->inserts++;
    while (s->bytes > s->max_bytes && s->tail != n) {
        cairn_node *victim = s->tail;
        shard_remove(s, victim);
        s->evictions++;
        victim->lru_next = *evicted;
        *evicted = victim;
    }
    return n;
}

/* Unreferences a list of nodes linked by lru_next. */
static void unref_list(cairn_node *n)
{
    while (n) {
        cairn_node *next = n->lru_next;
        n->lru_next = NULL;
        cairn_node_unref(n);
        n = next;
    }
}

int cairn_nodecache_get(cairn_node **out, cairn_nodecache *c, const cairn_addr *addr)
{
    struct shard *s = shard_of(c, addr);
    cairn_node *n, *evicted = NULL, *have;
    size_t len = 0;
    void *data = NULL;
    int rc;

    pthread_mutex_lock(&s->lock);
    n = cairn_hmap_find(&s->map, addr_hash(addr), addr, addr_eq, NULL);
    if (n) {
        s->hits++;
        cairn_node_ref(n);
        if (s->head != n) {
            lru_unlink(s, n);
            lru_push(s, n);
        }
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
    if (have && have != n)
        cairn_node_ref(have);
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

/* Empties one shard; returns the nodes through a list linked by lru_next. */
static cairn_node *shard_drain(struct shard *s)
{
    cairn_node *list = NULL, *n;
    pthread_mutex_lock(&s->lock);
    while ((n = s->tail) != NULL) {
        shard_remove(s, n);
        n->lru_next = list;
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
    for (unsigned i = 0; i <= c->mask; i++) {
        cairn_hmap_dispose(&c->shards[i].map);
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
        out->entries += s->map.count;
        pthread_mutex_unlock(&s->lock);
    }
}
