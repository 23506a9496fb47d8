/*
 * Helpers shared by the index tests: a memory store wrapped so tests can
 * count node reads, a node cache over it, and a sorted-array model of a key
 * set to check trees against. All static inline so each test file takes what
 * it uses.
 */
#ifndef CAIRN_TESTS_INDEX_TEST_H
#define CAIRN_TESTS_INDEX_TEST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "base/alloc.h"
#include "base/hmap.h"
#include "edn/value.h"
#include "index/btree.h"
#include "index/node.h"
#include "store/store.h"

/* ---- a memory store that counts reads ----------------------------------------
 *
 * Nodes only (no heads), in a hash table, all memory freed on close, so a
 * test can check cairn__alloc_live() exactly (the :mem backend keeps its
 * data for the life of the process). Reads and writes are counted; reads can
 * be made to fail.
 */

typedef struct counting_store {
    cairn_store base;          /* must be first */
    pthread_mutex_t lock;      /* guards nodes */
    cairn_hmap nodes;          /* addr -> struct cs_blob */
    _Atomic long gets;         /* node reads */
    _Atomic long puts;         /* nodes written (new ones) */
    _Atomic int fail_gets;     /* nonzero: get returns CAIRN_EIO */
} counting_store;

struct cs_blob {
    cairn_addr addr;   /* key */
    size_t len;        /* bytes */
    uint8_t data[];    /* framed node */
};

static inline uint64_t cs_hash(const cairn_addr *a)
{
    uint64_t h;
    memcpy(&h, a->bytes, sizeof h);
    return h;
}

static inline int cs_eq(const void *entry, const void *key, void *payload)
{
    (void)payload;
    return cairn_addr_equal(&((const struct cs_blob *)entry)->addr, key);
}

static inline int cs_get(cairn_store *s, const cairn_addr *a, void **d, size_t *l)
{
    counting_store *c = (counting_store *)s;
    struct cs_blob *b;
    int rc = CAIRN_ENOTFOUND;
    atomic_fetch_add(&c->gets, 1);
    if (atomic_load(&c->fail_gets))
        return CAIRN_EIO;
    pthread_mutex_lock(&c->lock);
    b = cairn_hmap_find(&c->nodes, cs_hash(a), a, cs_eq, NULL);
    if (b) {
        rc = CAIRN_ENOMEM;
        if ((*d = cairn_store_data_alloc(b->len)) != NULL) {
            memcpy(*d, b->data, b->len);
            *l = b->len;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}
static inline int cs_put_many(cairn_store *s, size_t n, const cairn_addr *a, const void *const *d, const size_t *l)
{
    counting_store *c = (counting_store *)s;
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct cs_blob *b;
        if (cairn_hmap_find(&c->nodes, cs_hash(&a[i]), &a[i], cs_eq, NULL))
            continue;
        if (!(b = cairn_malloc(sizeof *b + l[i]))) {
            rc = CAIRN_ENOMEM;
            break;
        }
        b->addr = a[i];
        b->len = l[i];
        memcpy(b->data, d[i], l[i]);
        if ((rc = cairn_hmap_insert(&c->nodes, cs_hash(&a[i]), b)) < 0)
            cairn_free(b);
        else
            atomic_fetch_add(&c->puts, 1);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}
static inline int cs_del(cairn_store *s, const cairn_addr *a)
{
    counting_store *c = (counting_store *)s;
    pthread_mutex_lock(&c->lock);
    cairn_free(cairn_hmap_remove(&c->nodes, cs_hash(a), a, cs_eq, NULL));
    pthread_mutex_unlock(&c->lock);
    return 0;
}
static inline int cs_list(cairn_store *s, cairn_store_addr_cb cb, void *p)
{
    counting_store *c = (counting_store *)s;
    void *e;
    int rc = 0;
    for (size_t pos = 0; rc == 0 && cairn_hmap_next(&c->nodes, &pos, &e);)
        rc = cb(&((struct cs_blob *)e)->addr, p);
    return rc;
}
static inline int cs_head_read(cairn_store *s, const char *n, void **d, size_t *l)
{
    (void)s, (void)n, (void)d, (void)l;
    return CAIRN_ENOTFOUND;
}
static inline int cs_head_cas(cairn_store *s, const char *n, const void *e, size_t el, const void *d, size_t l)
{
    (void)s, (void)n, (void)e, (void)el, (void)d, (void)l;
    return CAIRN_EUNSUPPORTED;
}
static inline int cs_head_list(cairn_store *s, cairn_store_name_cb cb, void *p)
{
    (void)s, (void)cb, (void)p;
    return 0;
}
static inline int cs_lock(cairn_store *s)
{
    (void)s;
    return 0;
}
static inline void cs_unlock(cairn_store *s)
{
    (void)s;
}
static inline void cs_close(cairn_store *s)
{
    counting_store *c = (counting_store *)s;
    void *e;
    for (size_t pos = 0; cairn_hmap_next(&c->nodes, &pos, &e);)
        cairn_free(e);
    cairn_hmap_dispose(&c->nodes);
    pthread_mutex_destroy(&c->lock);
    cairn_free(c);
}

static const cairn_store_methods counting_methods = {
    CAIRN_STORE_METHODS_VERSION, "counting", cs_get, cs_put_many, cs_del, cs_list, cs_head_read,
    cs_head_cas, cs_head_list, cs_lock, cs_unlock, cs_close, NULL, NULL,
};

/* A fresh, empty counting store. */
static inline counting_store *idx_store_open(void)
{
    counting_store *c = cairn_malloc(sizeof *c);
    CHECK(c != NULL);
    memset(c, 0, sizeof *c);
    c->base.methods = &counting_methods;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

/*
 * cairn__alloc_live() for a leak check to compare against later. Other
 * layers keep per-thread state they allocate on first use (the store's zstd
 * contexts), so this writes and reads one compressible node first.
 */
static inline int64_t idx_live_baseline(void)
{
    counting_store *s = idx_store_open();
    cairn_store_batch *b;
    static uint8_t payload[4096];
    cairn_addr a;
    void *d;
    size_t l;
    CHECK_OK(cairn_store_batch_new(&b, &s->base));
    CHECK_OK(cairn_store_batch_add(b, payload, sizeof payload, &a));
    CHECK_OK(cairn_store_batch_commit(b));
    cairn_store_batch_free(b);
    CHECK_OK(cairn_store_get_node(&s->base, &a, &d, &l));
    cairn_free(d);
    cs_close(&s->base);
    return cairn__alloc_live();
}

/* The :mem backend under its own :id, for tests that want the real one. */
static inline cairn_store *idx_mem_store_open(const char *id)
{
    cairn_val m, k, v;
    cairn_store *s;
    CHECK_OK(cairn_map_new(&m, 2));
    CHECK_OK(cairn_keyword(&k, "backend", 7));
    CHECK_OK(cairn_keyword(&v, "mem", 3));
    CHECK_OK(cairn_map_put(&m, k, v));
    CHECK_OK(cairn_keyword(&k, "id", 2));
    CHECK_OK(cairn_string(&v, id, strlen(id)));
    CHECK_OK(cairn_map_put_take(&m, k, v));
    CHECK_OK(cairn_store_open(&s, m, NULL));
    cairn_release(m);
    return s;
}

/* A store, a cache over it, and the opts of the trees under test. */
typedef struct idx_env {
    counting_store *store;     /* node reads counted */
    cairn_nodecache *cache;    /* over store */
    cairn_btree_opts opts;     /* node size and fill */
} idx_env;

static inline void idx_env_open(idx_env *e, uint32_t node_bytes, size_t cache_bytes)
{
    cairn_btree_opts o = CAIRN_BTREE_OPTS_INIT;
    e->store = idx_store_open();
    CHECK_OK(cairn_nodecache_new(&e->cache, &e->store->base, cache_bytes));
    o.node_bytes = node_bytes;
    e->opts = o;
}

static inline void idx_env_close(idx_env *e)
{
    cairn_nodecache_free(e->cache);
    cairn_store_close(&e->store->base);
}

/* Commits t into the store through a batch of its own; out = committed tree. */
static inline void idx_commit(cairn_btree *out, const cairn_btree *t, idx_env *e)
{
    cairn_store_batch *b;
    CHECK_OK(cairn_store_batch_new(&b, &e->store->base));
    CHECK_OK(cairn_btree_commit(out, t, b));
    CHECK_OK(cairn_store_batch_commit(b));
    cairn_store_batch_free(b);
}

/* Bulk builds a committed tree of keys key(0..n), written to the store. */
static inline void idx_build(cairn_btree *out, idx_env *e, uint64_t n, size_t (*key)(uint8_t *buf, uint64_t i))
{
    cairn_btree_builder *b;
    cairn_store_batch *batch;
    uint8_t k[64];
    CHECK_OK(cairn_store_batch_new(&batch, &e->store->base));
    CHECK_OK(cairn_btree_builder_new(&b, e->cache, &e->opts, batch));
    for (uint64_t i = 0; i < n; i++)
        CHECK_OK(cairn_btree_builder_add(b, k, key(k, i)));
    CHECK_OK(cairn_btree_builder_finish(out, b));
    cairn_btree_builder_free(b);
    CHECK_OK(cairn_store_batch_commit(batch));
    cairn_store_batch_free(batch);
}

static inline void idx_check(const cairn_btree *t)
{
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cairn_btree_check(t, &err);
    CHECK_MSG(rc == 0, "cairn_btree_check: %d %s", rc, err.message);
}

/* ---- a sorted-array model of a key set --------------------------------------- */

typedef struct mkey {
    uint8_t *p;    /* bytes (malloc) */
    size_t len;    /* bytes */
} mkey;

typedef struct model {
    mkey *v;       /* keys, sorted */
    size_t n;      /* keys */
    size_t cap;    /* room */
} model;

static inline int mkey_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    return c ? c : (alen > blen) - (alen < blen);
}

/* Index of the first key >= k. */
static inline size_t model_lower(const model *m, const void *k, size_t len)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (mkey_cmp(m->v[mid].p, m->v[mid].len, k, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* 1 when inserted, 0 when present. */
static inline int model_insert(model *m, const void *k, size_t len)
{
    size_t i = model_lower(m, k, len);
    if (i < m->n && mkey_cmp(m->v[i].p, m->v[i].len, k, len) == 0)
        return 0;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->v = realloc(m->v, m->cap * sizeof *m->v);
    }
    memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof *m->v);
    m->v[i].p = malloc(len ? len : 1);
    if (len)
        memcpy(m->v[i].p, k, len);
    m->v[i].len = len;
    m->n++;
    return 1;
}

/* 1 when deleted, 0 when absent. */
static inline int model_delete(model *m, const void *k, size_t len)
{
    size_t i = model_lower(m, k, len);
    if (i == m->n || mkey_cmp(m->v[i].p, m->v[i].len, k, len) != 0)
        return 0;
    free(m->v[i].p);
    memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof *m->v);
    m->n--;
    return 1;
}

static inline void model_free(model *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].p);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* Whether model key k lies within range r. */
static inline int model_in_range(const mkey *k, const cairn_btree_range *r)
{
    const cairn_btree_bound *lo = &r->lo, *hi = &r->hi;
    if (lo->kind != CAIRN_BOUND_NONE) {
        int c = mkey_cmp(k->p, k->len, lo->key, lo->len);
        if (c < 0 || (c == 0 && lo->kind == CAIRN_BOUND_EXCL))
            return 0;
    }
    if (hi->kind == CAIRN_BOUND_PREFIX) {
        size_t m = k->len < hi->len ? k->len : hi->len;
        if (m && memcmp(k->p, hi->key, m) > 0)
            return 0;
    } else if (hi->kind != CAIRN_BOUND_NONE) {
        int c = mkey_cmp(k->p, k->len, hi->key, hi->len);
        if (c > 0 || (c == 0 && hi->kind == CAIRN_BOUND_EXCL))
            return 0;
    }
    return 1;
}

/* Checks that iterating t over r (either direction) gives exactly the model's keys. */
static inline void model_check_range(const model *m, const cairn_btree *t, const cairn_btree_range *r,
                                     unsigned flags)
{
    cairn_btree_iter it;
    cairn_btree_key k;
    size_t want = 0, got = 0, i;
    uint64_t count;
    int rc;
    for (i = 0; i < m->n; i++)
        want += model_in_range(&m->v[i], r);
    cairn_btree_iter_init(&it, t, r, flags);
    i = (flags & CAIRN_BTREE_REVERSE) ? m->n : 0;
    while ((rc = cairn_btree_iter_next(&it, &k)) == 1) {
        const mkey *mk = NULL;
        if (flags & CAIRN_BTREE_REVERSE) {
            while (i > 0 && !model_in_range(&m->v[i - 1], r))
                i--;
            if (i > 0)
                mk = &m->v[--i];
        } else {
            while (i < m->n && !model_in_range(&m->v[i], r))
                i++;
            if (i < m->n)
                mk = &m->v[i++];
        }
        CHECK(mk != NULL);
        CHECK_MEM(k.data, k.len, mk->p, mk->len);
        got++;
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(got, want);
    cairn_btree_iter_dispose(&it);
    CHECK_OK(cairn_btree_count_range(&count, t, r));
    CHECK_EQ(count, want);
}

/* Checks t holds exactly the model's keys, in order, both directions. */
static inline void model_check_all(const model *m, const cairn_btree *t)
{
    cairn_btree_range all = CAIRN_BTREE_RANGE_ALL;
    CHECK_EQ(cairn_btree_count(t), m->n);
    model_check_range(m, t, &all, 0);
    model_check_range(m, t, &all, CAIRN_BTREE_REVERSE);
}

#endif
