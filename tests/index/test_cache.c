/* src/index/cache.c: the byte bound, CLOCK eviction, references, threads. */
#include "index_test.h"
#include "index/epoch.h"

static size_t key_of(uint8_t *buf, uint64_t i)
{
    memset(buf, 'c', 24);
    cairn_put_be64(buf + 16, i);
    return 24;
}

static void build(cairn_btree *out, idx_env *e, uint64_t n)
{
    idx_build(out, e, n, key_of);
}

struct leaves {
    cairn_addr v[4096];  /* leaf addresses, left to right */
    size_t n;            /* count */
};

static int collect_leaves(const cairn_addr *a, unsigned level, void *payload)
{
    struct leaves *l = payload;
    if (level == 0 && l->n < CAIRN_ARRAY_LEN(l->v))
        l->v[l->n++] = *a;
    return 0;
}

void test_index_cache__stays_under_its_byte_bound_and_counts(void)
{
    idx_env e;
    cairn_btree t;
    cairn_nodecache_stats st, st0;
    cairn_btree_iter it;
    cairn_btree_key k;
    uint8_t buf[32];
    size_t max = 64 * 1024;
    idx_env_open(&e, 4096, max);
    build(&t, &e, 50000);  /* about 1.6 MB of leaves */
    cairn_nodecache_stats_get(&st, e.cache);
    CHECK(st.bytes <= max);
    CHECK_EQ(st.max_bytes, max);
    cairn_nodecache_clear(e.cache);
    cairn_nodecache_stats_get(&st0, e.cache);
    CHECK_EQ(st0.bytes, 0);
    CHECK_EQ(st0.entries, 0);
    /* a full scan goes through every leaf, evicting as it goes */
    cairn_btree_iter_init(&it, &t, NULL, 0);
    for (uint64_t i = 0; cairn_btree_iter_next(&it, &k) == 1; i++) {
        CHECK_MEM(k.data, k.len, buf, key_of(buf, i));
        if (i % 1000 == 0) {
            cairn_nodecache_stats_get(&st, e.cache);
            CHECK(st.bytes <= max);
        }
    }
    cairn_btree_iter_dispose(&it);
    cairn_nodecache_stats_get(&st, e.cache);
    CHECK(st.bytes <= max && st.bytes > max / 2);
    CHECK(st.misses - st0.misses > 300);
    CHECK(st.evictions - st0.evictions > 250);
    CHECK_EQ(st.inserts - st0.inserts, st.misses - st0.misses);
    CHECK_EQ(st.entries, (st.inserts - st0.inserts) - (st.evictions - st0.evictions));
    /* the same path twice: the second lookup follows swizzled pointers, and
     * asks the cache nothing */
    CHECK_EQ(cairn_btree_contains(&t, buf, key_of(buf, 123)), 1);
    cairn_nodecache_stats_get(&st, e.cache);
    {
        uint64_t hits = st.hits, misses = st.misses;
        CHECK_EQ(cairn_btree_contains(&t, buf, key_of(buf, 124)), 1);
        cairn_nodecache_stats_get(&st, e.cache);
        CHECK_EQ(st.misses, misses);
        CHECK_EQ(st.hits, hits);
    }
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

void test_index_cache__evicts_the_least_recently_used_first(void)
{
    idx_env e;
    cairn_btree t;
    struct leaves l = { .n = 0 };
    cairn_nodecache *small;
    cairn_node *n[4], *again;
    cairn_nodecache_stats st;
    long before;
    idx_env_open(&e, 4096, 1 << 20);
    build(&t, &e, 10000);
    CHECK_OK(cairn_btree_walk(&t, collect_leaves, &l));
    CHECK(l.n > 10);
    /* leaves of fixed-length keys filled alike weigh the same */
    for (int i = 0; i < 4; i++)
        CHECK_OK(cairn_nodecache_get(&n[i], e.cache, &l.v[i]));
    for (int i = 1; i < 4; i++)
        CHECK_EQ(n[i]->mem_len, n[0]->mem_len);
    /* room for exactly three */
    CHECK_OK(cairn_nodecache_new(&small, &e.store->base, 3 * n[0]->mem_len));
    for (int i = 0; i < 4; i++)
        cairn_node_unref(n[i]);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(cairn_nodecache_get(&n[i], small, &l.v[i]));
        cairn_node_unref(n[i]);
    }
    CHECK_OK(cairn_nodecache_get(&again, small, &l.v[0]));  /* 0 becomes the most recent */
    cairn_node_unref(again);
    CHECK_OK(cairn_nodecache_get(&n[3], small, &l.v[3]));   /* evicts 1, the least recent */
    cairn_node_unref(n[3]);
    cairn_nodecache_stats_get(&st, small);
    CHECK_EQ(st.evictions, 1);
    CHECK_EQ(st.entries, 3);
    CHECK_EQ(st.bytes, 3 * st.bytes / 3);
    before = e.store->gets;
    CHECK_OK(cairn_nodecache_get(&again, small, &l.v[0]));
    cairn_node_unref(again);
    CHECK_OK(cairn_nodecache_get(&again, small, &l.v[2]));
    cairn_node_unref(again);
    CHECK_EQ(e.store->gets, before);
    CHECK_OK(cairn_nodecache_get(&again, small, &l.v[1]));
    cairn_node_unref(again);
    CHECK_EQ(e.store->gets, before + 1);
    cairn_nodecache_free(small);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

/* Nodes an iterator holds outlive their eviction (ASan would catch a key
 * read from freed memory). */
void test_index_cache__an_iterator_keeps_its_leaf_through_evictions(void)
{
    idx_env e;
    cairn_btree t;
    cairn_btree_iter it, other;
    cairn_btree_key k, batch[64];
    uint8_t buf[32];
    uint64_t i = 0;
    int n;
    idx_env_open(&e, 4096, 16 * 1024);
    build(&t, &e, 20000);
    cairn_btree_iter_init(&it, &t, NULL, 0);
    while ((n = cairn_btree_iter_next_batch(&it, batch, 64)) > 0) {
        /* another scan and a clear evict everything meanwhile */
        cairn_btree_iter_init(&other, &t, NULL, CAIRN_BTREE_REVERSE);
        for (int j = 0; j < 300 && cairn_btree_iter_next(&other, &k) == 1; j++)
            ;
        cairn_btree_iter_dispose(&other);
        cairn_nodecache_clear(e.cache);
        for (int j = 0; j < n; j++, i++)
            CHECK_MEM(batch[j].data, batch[j].len, buf, key_of(buf, i));
    }
    CHECK_EQ(n, 0);
    CHECK_EQ(i, 20000);
    cairn_btree_iter_dispose(&it);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

/* ---- threads ---------------------------------------------------------------- */

typedef struct shared {
    idx_env *env;                 /* store and cache */
    pthread_mutex_t lock;         /* guards current */
    cairn_btree current;          /* the newest committed tree */
    uint64_t generation;          /* commits so far (the writer's; read after the join) */
    _Atomic int stop;             /* the writer is done */
    _Atomic long failures;        /* checks that failed in a thread */
    _Atomic long reads;           /* reads done */
} shared;

/* The newest tree, as a new holder. */
static void shared_get(cairn_btree *out, shared *s)
{
    pthread_mutex_lock(&s->lock);
    cairn_btree_copy(out, &s->current);
    pthread_mutex_unlock(&s->lock);
}

/* Makes t (taken over) the newest tree. */
static void shared_publish(shared *s, cairn_btree t)
{
    pthread_mutex_lock(&s->lock);
    cairn_btree_dispose(&s->current);
    s->current = t;
    pthread_mutex_unlock(&s->lock);
}

/*
 * Every tree the writer publishes holds, for each entity e < 2000, exactly one
 * key "e | generation-parity | ..." pair: readers check counts and order,
 * which hold for every version, so no reader needs to know which one it has.
 */
static size_t ekey(uint8_t *buf, uint64_t e, uint64_t gen)
{
    memset(buf, 'k', 20);
    cairn_put_be64(buf, e);
    cairn_put_be64(buf + 8, gen % 3);
    return 20;
}

static void *reader(void *p)
{
    shared *s = p;
    uint8_t buf[32], prev[32];
    uint64_t rng = (uint64_t)(uintptr_t)&buf;  /* test_rand is not thread-safe */
    while (!atomic_load(&s->stop)) {
        cairn_btree t;
        cairn_btree_iter it;
        cairn_btree_key k;
        size_t prev_len = 0;
        uint8_t lo[8];
        cairn_btree_range r;
        uint64_t n = 0, count = 0, e;
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        e = (rng >> 33) % 2000;
        shared_get(&t, s);
        /* a range scan of 100 entities, in order, one key each */
        cairn_put_be64(lo, e);
        r.lo = (cairn_btree_bound){ lo, 8, CAIRN_BOUND_INCL };
        r.hi = (cairn_btree_bound){ NULL, 0, CAIRN_BOUND_NONE };
        cairn_btree_iter_init(&it, &t, &r, 0);
        while (n < 100 && cairn_btree_iter_next(&it, &k) == 1) {
            /* k is valid until the next step: keep a copy */
            if (n && mkey_cmp(prev, prev_len, k.data, k.len) >= 0)
                atomic_fetch_add(&s->failures, 1);
            memcpy(prev, k.data, k.len);
            prev_len = k.len;
            n++;
        }
        cairn_btree_iter_dispose(&it);
        if (n != (e + 100 <= 2000 ? 100 : 2000 - e))
            atomic_fetch_add(&s->failures, 1);
        if (cairn_btree_count_range(&count, &t, &r) != 0 || count != 2000 - e)
            atomic_fetch_add(&s->failures, 1);
        /* a point lookup of one of the three possible keys of e */
        if (cairn_btree_contains(&t, buf, ekey(buf, e, 0)) + cairn_btree_contains(&t, buf, ekey(buf, e, 1)) +
                cairn_btree_contains(&t, buf, ekey(buf, e, 2)) != 1)
            atomic_fetch_add(&s->failures, 1);
        cairn_btree_dispose(&t);
        atomic_fetch_add(&s->reads, 1);
    }
    return NULL;
}

/* Moves a tenth of the entities to the next generation's key, publishes the
 * uncommitted state halfway through, commits, publishes the committed tree. */
static void *writer(void *p)
{
    shared *s = p;
    for (uint64_t g = 1; g <= 40; g++) {
        cairn_btree base, next;
        cairn_btree_transient *tt;
        cairn_store_batch *batch;
        uint8_t a[32], b[32];
        shared_get(&base, s);
        if (cairn_btree_transient_new(&tt, &base) != 0) {
            atomic_fetch_add(&s->failures, 1);
            break;
        }
        for (uint64_t e = g % 10; e < 2000; e += 10) {
            int gen;
            for (gen = 0; gen < 3; gen++)
                if (cairn_btree_contains(cairn_btree_transient_tree(tt), a, ekey(a, e, (uint64_t)gen)) == 1)
                    break;
            if (cairn_btree_transient_delete(tt, a, ekey(a, e, (uint64_t)gen)) != 1 ||
                cairn_btree_transient_insert(tt, b, ekey(b, e, (uint64_t)gen + 1)) != 1)
                atomic_fetch_add(&s->failures, 1);
            if (e / 10 == 100) {
                /* publish the uncommitted state halfway: readers then walk
                 * in-memory nodes while this transient copies paths */
                cairn_btree mid;
                cairn_btree_transient_persist(&mid, tt);
                shared_publish(s, mid);
            }
        }
        if (cairn_store_batch_new(&batch, &s->env->store->base) != 0 ||
            cairn_btree_transient_commit(&next, tt, batch) != 0 || cairn_store_batch_commit(batch) != 0)
            atomic_fetch_add(&s->failures, 1);
        cairn_store_batch_free(batch);
        cairn_btree_transient_free(tt);
        cairn_btree_dispose(&base);
        shared_publish(s, next);
        s->generation = g;  /* read after the join only */
    }
    atomic_store(&s->stop, 1);
    return NULL;
}

void test_index_cache__concurrent_readers_and_a_writer_share_one_cache(void)
{
    idx_env e;
    shared s;
    pthread_t th[4];
    cairn_btree_builder *b;
    cairn_store_batch *batch;
    uint8_t buf[32];
    memset(&s, 0, sizeof s);
    /* small nodes and a small cache: many loads and evictions under threads */
    idx_env_open(&e, 512, 32 * 1024);
    s.env = &e;
    pthread_mutex_init(&s.lock, NULL);
    CHECK_OK(cairn_store_batch_new(&batch, &e.store->base));
    CHECK_OK(cairn_btree_builder_new(&b, e.cache, &e.opts, batch));
    for (uint64_t i = 0; i < 2000; i++)
        CHECK_OK(cairn_btree_builder_add(b, buf, ekey(buf, i, 0)));
    CHECK_OK(cairn_btree_builder_finish(&s.current, b));
    cairn_btree_builder_free(b);
    CHECK_OK(cairn_store_batch_commit(batch));
    cairn_store_batch_free(batch);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, reader, &s), 0);
    CHECK_EQ(pthread_create(&th[3], NULL, writer, &s), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&s.failures), 0);
    CHECK(atomic_load(&s.reads) > 0);
    CHECK_EQ(s.generation, 40);
    idx_check(&s.current);
    CHECK_EQ(cairn_btree_count(&s.current), 2000);
    cairn_btree_dispose(&s.current);
    pthread_mutex_destroy(&s.lock);
    idx_env_close(&e);
}

/* ---- swizzled pointers ----------------------------------------------------------
 *
 * cache.c's rules, checked from the outside: a slot points only at a cached
 * child whose back link names the slot; eviction clears it; the byte bound
 * still holds; a child shared by two versions is linked from one at a time.
 */

/* Checks every swizzled slot under branch n, recursively; returns the bytes
 * of the nodes they reach. Single-threaded callers only. */
static size_t check_links(const cairn_node *n)
{
    size_t bytes = 0;
    uint32_t links = 0;
    if (!n->level)
        return 0;
    for (uint32_t i = 0; i < n->n; i++) {
        cairn_node *c = atomic_load(&n->swz[i]);
        if (!c)
            continue;
        links++;
        CHECK(n->clean);
        CHECK(c->in_cache);
        CHECK(c->swz_parent == n && c->swz_slot == i);
        CHECK(cairn_addr_equal(&c->addr, &n->kids[i].addr));
        bytes += c->mem_len + check_links(c);
    }
    CHECK_EQ(atomic_load(&n->swz_links), links);
    return bytes;
}

static cairn_node *swizzled_child(const cairn_node *n, uint32_t i)
{
    return atomic_load(&n->swz[i]);
}

void test_index_cache__a_descent_swizzles_children_and_eviction_unswizzles_them(void)
{
    idx_env e;
    cairn_btree t;
    cairn_nodecache_stats st;
    uint8_t buf[32];
    uint64_t hits, misses;
    uint32_t i;
    cairn_node *c;
    idx_env_open(&e, 4096, 1 << 20);
    build(&t, &e, 20000);
    CHECK(cairn_btree_depth(&t) >= 3);
    cairn_nodecache_clear(e.cache);
    CHECK_EQ(check_links(t.root), 0);
    /* the first lookup reads its path through the cache and links it */
    CHECK_EQ(cairn_btree_contains(&t, buf, key_of(buf, 777)), 1);
    i = cairn_node_upper_bound(t.root, buf, key_of(buf, 777)) - 1;
    c = swizzled_child(t.root, i);
    CHECK(c != NULL);
    CHECK_EQ(c->level, t.root->level - 1);
    CHECK(check_links(t.root) > 0);
    /* the second one asks the cache nothing */
    cairn_nodecache_stats_get(&st, e.cache);
    hits = st.hits;
    misses = st.misses;
    CHECK_EQ(cairn_btree_contains(&t, buf, key_of(buf, 778)), 1);
    buf[key_of(buf, 778)] = 0;
    CHECK_EQ(cairn_btree_contains(&t, buf, 25), 0);  /* just after 778 */
    cairn_nodecache_stats_get(&st, e.cache);
    CHECK_EQ(st.hits, hits);
    CHECK_EQ(st.misses, misses);
    /* an evicted child is unlinked, and found again through the cache */
    cairn_nodecache_clear(e.cache);
    CHECK(swizzled_child(t.root, i) == NULL);
    CHECK_EQ(check_links(t.root), 0);
    CHECK_EQ(cairn_btree_contains(&t, buf, key_of(buf, 778)), 1);
    cairn_nodecache_stats_get(&st, e.cache);
    CHECK_EQ(st.misses, misses + cairn_btree_depth(&t) - 1);
    CHECK(swizzled_child(t.root, i) != NULL);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
    CHECK_EQ(cairn_epoch__waiting(), 0);
}

void test_index_cache__a_cache_smaller_than_the_tree_stays_bounded_with_swizzled_nodes(void)
{
    idx_env e;
    cairn_btree t;
    cairn_nodecache_stats st;
    uint8_t buf[32];
    uint64_t count;
    size_t max = 48 * 1024;
    int64_t live = idx_live_baseline();
    idx_env_open(&e, 4096, max);
    build(&t, &e, 50000);  /* about 1.6 MB of leaves */
    for (int round = 0; round < 20000; round++) {
        uint64_t k = test_rand_below(100000), base = k & ~(uint64_t)255;
        size_t len = key_of(buf, k);
        if (k & 1)
            buf[len++] = 0;  /* a key just after a present one, or past the end */
        CHECK_EQ(cairn_btree_contains(&t, buf, len), k < 50000 && !(k & 1));
        if (round % 500 == 0) {
            /* the keys of one last-byte block */
            cairn_btree_range r = cairn_btree_range_prefix(buf, 23);
            CHECK_OK(cairn_btree_count_range(&count, &t, &r));
            CHECK_EQ(count, base < 50000 ? CAIRN_MIN(256, 50000 - base) : 0);
            cairn_nodecache_stats_get(&st, e.cache);
            CHECK(st.bytes <= max);
            /* swizzled nodes are cached nodes, so counted in the bound */
            CHECK(check_links(t.root) <= st.bytes);
        }
    }
    cairn_nodecache_stats_get(&st, e.cache);
    CHECK(st.evictions > 1000);
    /* nodes evicted inside a lookup wait for the next one, no longer */
    CHECK(cairn_epoch__waiting() <= 32);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
    CHECK_EQ(cairn__alloc_live(), live);
}

void test_index_cache__versions_sharing_a_subtree_take_its_link_in_turn(void)
{
    idx_env e;
    cairn_btree v1, v2;
    cairn_btree_transient *tt;
    cairn_node *c1, *c2;
    uint8_t buf[32];
    uint32_t i1, i2;
    int64_t live = idx_live_baseline();
    idx_env_open(&e, 4096, 1 << 22);
    build(&v1, &e, 20000);
    /* v2 changes the last leaf only: the first child of the root is shared */
    CHECK_OK(cairn_btree_transient_new(&tt, &v1));
    CHECK_EQ(cairn_btree_transient_insert(tt, buf, key_of(buf, 30000)), 1);
    cairn_btree_transient_persist(&v2, tt);
    {
        cairn_btree done;
        idx_commit(&done, &v2, &e);
        cairn_btree_dispose(&v2);
        v2 = done;
    }
    cairn_btree_transient_free(tt);
    CHECK(v1.root != v2.root);
    CHECK(cairn_addr_equal(&v1.root->kids[0].addr, &v2.root->kids[0].addr));
    CHECK_EQ(cairn_btree_contains(&v1, buf, key_of(buf, 5)), 1);
    i1 = cairn_node_upper_bound(v1.root, buf, key_of(buf, 5)) - 1;
    c1 = swizzled_child(v1.root, i1);
    CHECK(c1 != NULL);
    CHECK_EQ(cairn_btree_contains(&v2, buf, key_of(buf, 5)), 1);
    i2 = cairn_node_upper_bound(v2.root, buf, key_of(buf, 5)) - 1;
    c2 = swizzled_child(v2.root, i2);
    /* the same cached node, now linked from v2 only */
    CHECK(c2 == c1);
    CHECK(swizzled_child(v1.root, i1) == NULL);
    CHECK(c1->swz_parent == v2.root);
    CHECK_EQ(cairn_btree_contains(&v1, buf, key_of(buf, 6)), 1);
    CHECK(swizzled_child(v1.root, i1) == c1);
    CHECK(swizzled_child(v2.root, i2) == NULL);
    check_links(v1.root);
    check_links(v2.root);
    /* v1 goes: the cache still holds its root, whose links stay valid */
    cairn_btree_dispose(&v1);
    check_links(v2.root);
    CHECK_EQ(cairn_btree_contains(&v2, buf, key_of(buf, 6)), 1);
    CHECK_EQ(cairn_btree_contains(&v2, buf, key_of(buf, 30000)), 1);
    /* a clear evicts v1's root: the last reference, so it unlinks its children */
    cairn_nodecache_clear(e.cache);
    check_links(v2.root);
    CHECK_EQ(cairn_btree_contains(&v2, buf, key_of(buf, 6)), 1);
    CHECK(swizzled_child(v2.root, i2) != NULL);
    cairn_btree_dispose(&v2);
    idx_env_close(&e);
    CHECK_EQ(cairn__alloc_live(), live);
}

/*
 * Readers descend by swizzled pointers while a tiny cache evicts the nodes
 * they point at, a writer replaces the tree (its old path nodes die while
 * readers may be in them) and clears the cache now and then. TSan checks
 * the memory order; ASan (in the full suite) the frees; the readers check
 * every answer against the keys every version holds.
 */

/* Key i; the trees hold the even ones only. */
static size_t skey(uint8_t *buf, uint64_t i)
{
    memset(buf, 's', 24);
    cairn_put_be64(buf + 4, i);
    return 24;
}

static size_t skey_even(uint8_t *buf, uint64_t i)
{
    return skey(buf, 2 * i);
}

/* A count and a short scan from i: ranks and iterators take the same path. */
static int swz_range_ok(const cairn_btree *t, uint64_t i)
{
    uint8_t lo[32], hi[32];
    cairn_btree_range r = { { lo, skey(lo, i), CAIRN_BOUND_INCL }, { hi, skey(hi, i + 100), CAIRN_BOUND_EXCL } };
    cairn_btree_iter it;
    cairn_btree_key k;
    uint64_t count = 0, n = 0;
    if (cairn_btree_count_range(&count, t, &r) != 0 || count != 50)
        return 0;
    cairn_btree_iter_init(&it, t, &r, 0);
    while (cairn_btree_iter_next(&it, &k) == 1)
        n++;
    cairn_btree_iter_dispose(&it);
    return n == 50;
}

static void *swz_reader(void *p)
{
    shared *s = p;
    uint8_t buf[32];
    uint64_t rng = (uint64_t)(uintptr_t)&buf;
    while (!atomic_load(&s->stop)) {
        cairn_btree t;
        shared_get(&t, s);
        for (int j = 0; j < 200; j++) {
            uint64_t i;
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            i = (rng >> 33) % 6000;
            if (cairn_btree_contains(&t, buf, skey(buf, i)) != !(i & 1))
                atomic_fetch_add(&s->failures, 1);
        }
        if (!swz_range_ok(&t, (rng >> 40) % 5000))
            atomic_fetch_add(&s->failures, 1);
        cairn_btree_dispose(&t);
        atomic_fetch_add(&s->reads, 1);
    }
    return NULL;
}

/* New versions: an odd key in and out again, so every version holds the same
 * keys, and the path to it is new nodes each time. */
static void *swz_writer(void *p)
{
    shared *s = p;
    for (uint64_t g = 0; g < 60; g++) {
        cairn_btree base, next;
        cairn_btree_transient *tt = NULL;
        cairn_store_batch *batch = NULL;
        uint8_t k[32];
        uint64_t i = (g * 977) % 6000 | 1;
        shared_get(&base, s);
        if (cairn_btree_transient_new(&tt, &base) != 0 || cairn_btree_transient_insert(tt, k, skey(k, i)) != 1 ||
            cairn_btree_transient_delete(tt, k, skey(k, i)) != 1 ||
            cairn_store_batch_new(&batch, &s->env->store->base) != 0 ||
            cairn_btree_transient_commit(&next, tt, batch) != 0 || cairn_store_batch_commit(batch) != 0) {
            atomic_fetch_add(&s->failures, 1);
            break;
        }
        cairn_store_batch_free(batch);
        cairn_btree_transient_free(tt);
        cairn_btree_dispose(&base);
        shared_publish(s, next);
        s->generation = g + 1;
        if (g % 10 == 0)
            cairn_nodecache_clear(s->env->cache);
        sched_yield();
    }
    atomic_store(&s->stop, 1);
    return NULL;
}

void test_index_cache__concurrent_lookups_while_swizzled_children_are_evicted(void)
{
    idx_env e;
    shared s;
    pthread_t th[4];
    cairn_nodecache_stats st;
    memset(&s, 0, sizeof s);
    /* 512-byte nodes, 3 levels or more, and a cache of a few dozen of them */
    idx_env_open(&e, 512, 24 * 1024);
    s.env = &e;
    pthread_mutex_init(&s.lock, NULL);
    idx_build(&s.current, &e, 3000, skey_even);
    CHECK(cairn_btree_depth(&s.current) >= 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, swz_reader, &s), 0);
    CHECK_EQ(pthread_create(&th[3], NULL, swz_writer, &s), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&s.failures), 0);
    CHECK(atomic_load(&s.reads) > 0);
    CHECK_EQ(s.generation, 60);
    cairn_nodecache_stats_get(&st, e.cache);
    CHECK(st.evictions > 100);
    CHECK(st.bytes <= 24 * 1024);
    check_links(s.current.root);
    idx_check(&s.current);
    cairn_btree_dispose(&s.current);
    pthread_mutex_destroy(&s.lock);
    idx_env_close(&e);
    CHECK_EQ(cairn_epoch__waiting(), 0);
}
