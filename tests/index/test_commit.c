/*
 * src/index: commits, structural sharing, old versions, lazy loading (counted
 * store reads), walks, and failures (out of memory, unreadable nodes).
 */
#include "index_test.h"
#include "base/par.h"

/* An EAVT-shaped key: e (8) | a (8) | value tag + 8 bytes | tx (8). */
static size_t datom_key(uint8_t *buf, uint64_t e, uint64_t a, uint64_t v)
{
    cairn_put_be64(buf, e);
    cairn_put_be64(buf + 8, a);
    buf[16] = 0x03;
    cairn_put_be64(buf + 17, v ^ 0x8000000000000000ULL);
    cairn_put_be64(buf + 25, 536870913 + e / 100);
    return 33;
}

/* Datom i of a bulk load: entity i / 9, attribute i % 9. */
static size_t datom_i(uint8_t *buf, uint64_t i)
{
    return datom_key(buf, 1 + i / 9, 10 + i % 9, i);
}

/* A committed tree of n such datoms. */
static void build_datoms(cairn_btree *out, idx_env *e, uint64_t n)
{
    idx_build(out, e, n, datom_i);
}

/* Applies changes in a transient and commits; returns the nodes written. */
static size_t change_and_commit(cairn_btree *out, const cairn_btree *t, idx_env *e, const cairn_btree_change *c,
                                size_t n)
{
    cairn_btree_transient *tt;
    cairn_store_batch *batch;
    size_t written;
    CHECK_OK(cairn_btree_transient_new(&tt, t));
    CHECK_OK(cairn_btree_transient_apply(tt, c, n, 0, NULL));
    CHECK_OK(cairn_store_batch_new(&batch, &e->store->base));
    CHECK_OK(cairn_btree_transient_commit(out, tt, batch));
    written = cairn_store_batch_count(batch);
    CHECK_OK(cairn_store_batch_commit(batch));
    cairn_store_batch_free(batch);
    cairn_btree_transient_free(tt);
    return written;
}

void test_index_commit__one_changed_key_in_a_million_writes_depth_nodes(void)
{
    idx_env e;
    cairn_btree t, v;
    uint8_t k[40];
    idx_env_open(&e, 0, 64 << 20);
    build_datoms(&t, &e, 1000000);
    CHECK_EQ(cairn_btree_count(&t), 1000000);
    CHECK(cairn_btree_depth(&t) >= 3);
    idx_check(&t);
    for (int round = 0; round < 20; round++) {
        uint64_t i = test_rand_below(1000000);
        cairn_btree_change c = { k, 0, round % 2 ? CAIRN_BTREE_DELETE : CAIRN_BTREE_INSERT };
        /* insert: a new value next to an existing datom; delete: an existing one */
        c.len = datom_key(k, 1 + i / 9, 10 + i % 9, round % 2 ? i : i + 1000000007ULL);
        CHECK_EQ(change_and_commit(&v, &t, &e, &c, 1), cairn_btree_depth(&t));
        CHECK_EQ(cairn_btree_count(&v), round % 2 ? 999999 : 1000001);
        CHECK_EQ(cairn_btree_depth(&v), cairn_btree_depth(&t));
        if (round < 3)
            idx_check(&v);
        cairn_btree_dispose(&v);
    }
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

/* Several generations stay readable, unchanged, from their root addresses. */
void test_index_commit__old_roots_read_unchanged_after_newer_commits(void)
{
    enum { GENS = 6 };
    idx_env e;
    cairn_btree gen[GENS];
    cairn_addr roots[GENS];
    model m[GENS];
    uint8_t k[40];
    idx_env_open(&e, 1024, 1 << 20);
    memset(m, 0, sizeof m);
    build_datoms(&gen[0], &e, 20000);
    for (uint64_t i = 0; i < 20000; i++)
        model_insert(&m[0], k, datom_key(k, 1 + i / 9, 10 + i % 9, i));
    for (int g = 1; g < GENS; g++) {
        cairn_btree_change c[300];
        uint8_t bufs[300][40];
        for (size_t i = 0; i < m[g - 1].n; i++)
            model_insert(&m[g], m[g - 1].v[i].p, m[g - 1].v[i].len);
        for (int i = 0; i < 300; i++) {
            uint64_t x = test_rand_below(30000);
            c[i].key = bufs[i];
            c[i].len = datom_key(bufs[i], 1 + x / 9, 10 + x % 9, x);
            c[i].op = test_rand_below(2) ? CAIRN_BTREE_INSERT : CAIRN_BTREE_DELETE;
        }
        change_and_commit(&gen[g], &gen[g - 1], &e, c, 300);
        for (int i = 0; i < 300; i++) {
            if (c[i].op == CAIRN_BTREE_INSERT)
                model_insert(&m[g], c[i].key, c[i].len);
            else
                model_delete(&m[g], c[i].key, c[i].len);
        }
    }
    for (int g = 0; g < GENS; g++)
        CHECK_OK(cairn_btree_root(&roots[g], &gen[g]));
    /* drop every in-memory node, then read each generation from the store */
    for (int g = 0; g < GENS; g++)
        cairn_btree_dispose(&gen[g]);
    cairn_nodecache_clear(e.cache);
    for (int g = GENS; g-- > 0;) {
        cairn_btree o;
        CHECK_OK(cairn_btree_open(&o, e.cache, &roots[g], &e.opts));
        idx_check(&o);
        model_check_all(&m[g], &o);
        cairn_btree_dispose(&o);
        model_free(&m[g]);
    }
    idx_env_close(&e);
}

void test_index_commit__open_reads_the_root_and_a_lookup_its_path(void)
{
    idx_env e;
    cairn_btree t, o;
    cairn_addr root;
    cairn_btree_iter it;
    cairn_btree_key key;
    uint8_t k[40];
    uint64_t n;
    long before;
    idx_env_open(&e, 0, 64 << 20);
    build_datoms(&t, &e, 300000);
    CHECK_OK(cairn_btree_root(&root, &t));
    CHECK_EQ(cairn_btree_depth(&t), 3);
    cairn_btree_dispose(&t);
    cairn_nodecache_clear(e.cache);
    before = e.store->gets;
    CHECK_OK(cairn_btree_open(&o, e.cache, &root, &e.opts));
    CHECK_EQ(e.store->gets - before, 1);
    CHECK_EQ(cairn_btree_count(&o), 300000);
    /* a point lookup reads one node per level below the root */
    before = e.store->gets;
    CHECK_EQ(cairn_btree_contains(&o, k, datom_key(k, 5000, 13, 44994)), 1);
    CHECK_EQ(e.store->gets - before, 2);
    /* the same path again: all cached */
    before = e.store->gets;
    CHECK_EQ(cairn_btree_contains(&o, k, datom_key(k, 5000, 13, 44995)), 0);
    CHECK_EQ(e.store->gets - before, 0);
    /* a count reads at most the paths of the two ends */
    cairn_nodecache_clear(e.cache);
    before = e.store->gets;
    {
        uint8_t lo[40], hi[40];
        cairn_btree_range r = { { lo, datom_key(lo, 100, 0, 0), CAIRN_BOUND_INCL },
                                { hi, datom_key(hi, 30000, 0, 0), CAIRN_BOUND_EXCL } };
        CHECK_OK(cairn_btree_count_range(&n, &o, &r));
        CHECK_EQ(n, (30000 - 100) * 9);
        CHECK(e.store->gets - before <= 4);
    }
    /* an entity's datoms: one leaf (or two), found without reading others */
    cairn_nodecache_clear(e.cache);
    before = e.store->gets;
    {
        uint8_t p[8];
        cairn_btree_range r;
        cairn_put_be64(p, 777);
        r = cairn_btree_range_prefix(p, 8);
        cairn_btree_iter_init(&it, &o, &r, 0);
        n = 0;
        while (cairn_btree_iter_next(&it, &key) == 1)
            n++;
        cairn_btree_iter_dispose(&it);
        CHECK_EQ(n, 9);
        CHECK(e.store->gets - before <= 3);
    }
    cairn_btree_dispose(&o);
    idx_env_close(&e);
}

/* Persisted, uncommitted values stay valid while the transient moves on, and
 * commit independently (the writer's pipelining). */
void test_index_commit__persisted_values_survive_later_changes(void)
{
    idx_env e;
    cairn_btree t, a, b, ca, cb, ra;
    cairn_btree_transient *tt;
    cairn_addr root_a;
    model ma = { 0 }, mb = { 0 };
    uint8_t k[40];
    idx_env_open(&e, 512, 1 << 20);
    build_datoms(&t, &e, 5000);
    for (uint64_t i = 0; i < 5000; i++)
        model_insert(&ma, k, datom_key(k, 1 + i / 9, 10 + i % 9, i));
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    for (uint64_t i = 0; i < 700; i++) {
        uint64_t x = test_rand_below(8000);
        CHECK_EQ(cairn_btree_transient_insert(tt, k, datom_key(k, 1 + x / 9, 10 + x % 9, x)),
                 model_insert(&ma, k, datom_key(k, 1 + x / 9, 10 + x % 9, x)));
    }
    cairn_btree_transient_persist(&a, tt);
    for (size_t i = 0; i < ma.n; i++)
        model_insert(&mb, ma.v[i].p, ma.v[i].len);
    for (uint64_t i = 0; i < 700; i++) {
        const mkey *x = &mb.v[test_rand_below(mb.n)];
        memcpy(k, x->p, x->len);
        CHECK_EQ(cairn_btree_transient_delete(tt, k, x->len), model_delete(&mb, k, x->len));
    }
    cairn_btree_transient_persist(&b, tt);
    idx_check(&a);
    model_check_all(&ma, &a);
    idx_check(&b);
    model_check_all(&mb, &b);
    /* commit the newer one first, then the older one */
    idx_commit(&cb, &b, &e);
    idx_commit(&ca, &a, &e);
    CHECK(!cairn_btree_is_committed(&a));
    CHECK_ERR(cairn_btree_root(&root_a, &a), CAIRN_EINVALID);
    CHECK_OK(cairn_btree_root(&root_a, &ca));
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&a);
    cairn_btree_dispose(&b);
    cairn_nodecache_clear(e.cache);
    CHECK_OK(cairn_btree_open(&ra, e.cache, &root_a, &e.opts));
    idx_check(&ra);
    model_check_all(&ma, &ra);
    idx_check(&cb);
    model_check_all(&mb, &cb);
    cairn_btree_dispose(&ra);
    cairn_btree_dispose(&ca);
    cairn_btree_dispose(&cb);
    cairn_btree_dispose(&t);
    model_free(&ma);
    model_free(&mb);
    idx_env_close(&e);
}

struct addr_set {
    cairn_addr *v;   /* addresses seen */
    size_t n;        /* count */
    size_t cap;      /* room */
    long calls;      /* callback calls */
};

static int collect(const cairn_addr *a, unsigned level, void *payload)
{
    struct addr_set *s = payload;
    (void)level;
    s->calls++;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = *a;
    return 0;
}

static int collect_stored(const cairn_addr *a, void *payload)
{
    return collect(a, 0, payload);
}

static int addr_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(cairn_addr));
}

static int skip_all(const cairn_addr *a, unsigned level, void *payload)
{
    (void)a, (void)level;
    ++*(long *)payload;
    return CAIRN_BTREE_WALK_SKIP;
}

static int stop_at_third(const cairn_addr *a, unsigned level, void *payload)
{
    (void)a, (void)level;
    return ++*(long *)payload == 3 ? 42 : 0;
}

void test_index_commit__walk_reaches_exactly_the_stored_nodes(void)
{
    idx_env e;
    cairn_btree t, dirty;
    cairn_btree_transient *tt;
    struct addr_set walked = { 0 }, stored = { 0 };
    long calls = 0;
    idx_env_open(&e, 1024, 0);
    build_datoms(&t, &e, 30000);
    CHECK_OK(cairn_btree_walk(&t, collect, &walked));
    CHECK_OK(e.store->base.methods->list(&e.store->base, collect_stored, &stored));
    CHECK_EQ(walked.n, stored.n);
    qsort(walked.v, walked.n, sizeof *walked.v, addr_cmp);
    qsort(stored.v, stored.n, sizeof *stored.v, addr_cmp);
    CHECK(memcmp(walked.v, stored.v, walked.n * sizeof *walked.v) == 0);
    CHECK_OK(cairn_btree_walk(&t, skip_all, &calls));
    CHECK_EQ(calls, 1);
    calls = 0;
    CHECK_EQ(cairn_btree_walk(&t, stop_at_third, &calls), 42);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    CHECK_EQ(cairn_btree_transient_insert(tt, "x", 1), 1);
    cairn_btree_transient_persist(&dirty, tt);
    CHECK_ERR(cairn_btree_walk(&dirty, collect, &walked), CAIRN_EINVALID);
    cairn_btree_dispose(&dirty);
    cairn_btree_transient_free(tt);
    free(walked.v);
    free(stored.v);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

/* A failing store read fails the operation, and a failed apply changes nothing. */
void test_index_commit__unreadable_nodes_fail_cleanly(void)
{
    idx_env e;
    cairn_btree t, o;
    cairn_btree_transient *tt;
    cairn_btree_iter it;
    cairn_btree_key key;
    cairn_addr root;
    uint8_t k[40];
    uint64_t n;
    idx_env_open(&e, 512, 0);
    build_datoms(&t, &e, 5000);
    CHECK_OK(cairn_btree_root(&root, &t));
    e.store->fail_gets = 1;
    CHECK_ERR(cairn_btree_open(&o, e.cache, &root, &e.opts), CAIRN_EIO);
    CHECK_ERR(cairn_btree_contains(&t, k, datom_key(k, 3, 11, 20)), CAIRN_EIO);
    datom_key(k, 300, 11, 20);
    CHECK_ERR(cairn_btree_count_range(&n, &t, &(cairn_btree_range){ { k, 33, CAIRN_BOUND_INCL }, { 0 } }),
              CAIRN_EIO);
    cairn_btree_iter_init(&it, &t, NULL, 0);
    CHECK_ERR(cairn_btree_iter_next(&it, &key), CAIRN_EIO);
    CHECK_ERR(cairn_btree_iter_next(&it, &key), CAIRN_EIO);
    cairn_btree_iter_dispose(&it);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    CHECK_ERR(cairn_btree_transient_insert(tt, k, datom_key(k, 3, 11, 21)), CAIRN_EIO);
    CHECK(cairn_btree_transient_tree(tt)->root == t.root);
    e.store->fail_gets = 0;
    CHECK_EQ(cairn_btree_transient_insert(tt, k, datom_key(k, 3, 11, 21)), 1);
    idx_check(cairn_btree_transient_tree(tt));
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

/*
 * Out of memory at every allocation of a batch apply and its commit, one at a
 * time (N = 1, 2, ... until it succeeds): each failure returns CAIRN_ENOMEM,
 * leaks nothing, and leaves the old tree intact. The cache holds nothing, so
 * every node is read (and allocated) each time: the most allocations to fail.
 */
/* Random changes to t in a transient of its own (dirty, not committed). */
static cairn_btree_transient *dirty_copy(const cairn_btree *t, model *m, uint64_t n, uint64_t keys, uint64_t a)
{
    cairn_btree_transient *tt;
    uint8_t k[40];
    CHECK_OK(cairn_btree_transient_new(&tt, t));
    for (uint64_t i = 0; i < n; i++) {
        uint64_t x = test_rand_below(keys * 2);
        size_t len = datom_key(k, 1 + x / 9, a + x % 9, x);
        if (i % 4) {
            CHECK(cairn_btree_transient_insert(tt, k, len) >= 0);
            model_insert(m, k, len);
        } else {
            CHECK(cairn_btree_transient_delete(tt, k, len) >= 0);
            model_delete(m, k, len);
        }
    }
    return tt;
}

/*
 * A commit with many dirty leaves frames them on several threads ahead of
 * the walk that writes the branches (edit.c). It must write exactly what one
 * thread writes: the same nodes, in the same order, under the same root
 * addresses, and the trees must read back from the store alone.
 */
void test_index_commit__leaves_framed_on_threads_are_what_one_thread_writes(void)
{
    idx_env e;
    cairn_btree base[3], dirty[3], one[3], many[3];
    cairn_btree_transient *tt[3];
    model m[3] = { { 0 }, { 0 }, { 0 } };
    cairn_store_batch *b1, *b4;
    uint8_t k[40];
    idx_env_open(&e, 1024, 64 << 20);
    for (int t = 0; t < 3; t++) {
        build_datoms(&base[t], &e, t == 1 ? 0 : 20000 * (uint64_t)(t + 1));
        for (uint64_t i = 0; t != 1 && i < 20000 * (uint64_t)(t + 1); i++)
            model_insert(&m[t], k, datom_i(k, i));
        /* the middle tree starts empty: commit meets a clean-free tree between dirty ones */
        tt[t] = dirty_copy(&base[t], &m[t], t == 1 ? 300 : 3000, 20000, 10);
        cairn_btree_transient_persist(&dirty[t], tt[t]);
    }
    CHECK_OK(cairn_store_batch_new(&b1, &e.store->base));
    CHECK_OK(cairn_store_batch_new(&b4, &e.store->base));
    cairn__cpu_count_set(1);
    CHECK_OK(cairn_btree_commit_many(one, dirty, 3, b1));
    cairn__cpu_count_set(4);
    CHECK_OK(cairn_btree_commit_many(many, dirty, 3, b4));
    cairn__cpu_count_set(0);
    CHECK(cairn_store_batch_count(b1) > 1000);
    CHECK_EQ(cairn_store_batch_count(b4), cairn_store_batch_count(b1));
    CHECK_EQ(cairn_store_batch_bytes(b4), cairn_store_batch_bytes(b1));
    for (int t = 0; t < 3; t++) {
        cairn_addr r1, r4;
        CHECK_OK(cairn_btree_root(&r1, &one[t]));
        CHECK_OK(cairn_btree_root(&r4, &many[t]));
        CHECK(cairn_addr_equal(&r1, &r4));
    }
    CHECK_OK(cairn_store_batch_commit(b4));
    cairn_nodecache_clear(e.cache);
    for (int t = 0; t < 3; t++) {
        cairn_btree o;
        cairn_addr r;
        CHECK_OK(cairn_btree_root(&r, &many[t]));
        CHECK_OK(cairn_btree_open(&o, e.cache, &r, &e.opts));
        idx_check(&o);
        model_check_all(&m[t], &o);
        cairn_btree_dispose(&o);
        cairn_btree_dispose(&one[t]);
        cairn_btree_dispose(&many[t]);
        cairn_btree_dispose(&dirty[t]);
        cairn_btree_dispose(&base[t]);
        cairn_btree_transient_free(tt[t]);
        model_free(&m[t]);
    }
    cairn_store_batch_free(b1);
    cairn_store_batch_free(b4);
    idx_env_close(&e);
}

void test_index_commit__out_of_memory_anywhere_in_apply_and_commit(void)
{
    idx_env e;
    cairn_btree t;
    model m = { 0 };
    cairn_btree_change c[200];
    uint8_t bufs[200][40], k[40];
    uint64_t fail_at;
    int64_t live;
    long failures = 0;
    idx_env_open(&e, 512, 0);
    build_datoms(&t, &e, 3000);
    for (uint64_t i = 0; i < 3000; i++)
        model_insert(&m, k, datom_key(k, 1 + i / 9, 10 + i % 9, i));
    for (int i = 0; i < 200; i++) {
        uint64_t x = test_rand_below(4000);
        c[i].key = bufs[i];
        c[i].len = datom_key(bufs[i], 1 + x / 9, 10 + x % 9, x);
        c[i].op = i % 3 ? CAIRN_BTREE_INSERT : CAIRN_BTREE_DELETE;
    }
    live = idx_live_baseline();
    cairn__cpu_count_set(2); /* commit frames its leaves on two threads */
    for (fail_at = 1;; fail_at++) {
        cairn_btree_transient *tt = NULL;
        cairn_store_batch *batch = NULL;
        cairn_btree done;
        int rc;
        cairn__alloc_fail_at(fail_at, 0);
        rc = cairn_btree_transient_new(&tt, &t);
        if (rc == 0)
            rc = cairn_btree_transient_apply(tt, c, 200, 0, NULL);
        if (rc == 0)
            rc = cairn_store_batch_new(&batch, &e.store->base);
        if (rc == 0)
            rc = cairn_btree_commit(&done, cairn_btree_transient_tree(tt), batch);
        cairn__alloc_fail_at(0, 0);
        if (rc == 0) {
            CHECK(!cairn__alloc_failed() || fail_at > 1);
            CHECK_OK(cairn_store_batch_commit(batch));
            idx_check(&done);
            cairn_btree_dispose(&done);
        } else {
            CHECK_ERR(rc, CAIRN_ENOMEM);
            failures++;
        }
        cairn_store_batch_free(batch);
        cairn_btree_transient_free(tt);
        if (rc != 0) {
            CHECK_EQ(cairn__alloc_live(), live);
            if (fail_at % 97 == 1) {
                idx_check(&t);
                model_check_all(&m, &t);
            }
        }
        if (rc == 0)
            break;
    }
    cairn__cpu_count_set(0);
    CHECK(failures > 100);
    printf("apply + commit succeeded once allocation %" PRIu64 " no longer failed\n", fail_at);
    idx_check(&t);
    model_check_all(&m, &t);
    model_free(&m);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

/* The same for a bulk build and for reads. */
void test_index_commit__out_of_memory_in_builds_and_reads(void)
{
    idx_env e;
    cairn_btree t;
    uint8_t k[40];
    uint64_t fail_at, n;
    int64_t live;
    idx_env_open(&e, 512, 0);
    build_datoms(&t, &e, 2000);
    live = idx_live_baseline();
    for (fail_at = 1;; fail_at++) {
        cairn_btree_builder *b = NULL;
        cairn_store_batch *batch = NULL;
        cairn_btree out;
        int rc;
        cairn__alloc_fail_at(fail_at, 0);
        rc = cairn_store_batch_new(&batch, &e.store->base);
        if (rc == 0)
            rc = cairn_btree_builder_new(&b, e.cache, &e.opts, batch);
        for (uint64_t i = 0; rc == 0 && i < 500; i++)
            rc = cairn_btree_builder_add(b, k, datom_key(k, 1 + i, 10, i));
        if (rc == 0)
            rc = cairn_btree_builder_finish(&out, b);
        cairn__alloc_fail_at(0, 0);
        cairn_btree_builder_free(b);
        cairn_store_batch_free(batch);
        if (rc == 0) {
            cairn_btree_dispose(&out);
            break;
        }
        CHECK_ERR(rc, CAIRN_ENOMEM);
        CHECK_EQ(cairn__alloc_live(), live);
    }
    for (fail_at = 1;; fail_at++) {
        cairn_btree_iter it;
        cairn_btree_key key;
        int rc;
        uint64_t seen = 0;
        cairn__alloc_fail_at(fail_at, 0);
        datom_key(k, 100, 11, 1);
        rc = cairn_btree_count_range(&n, &t, &(cairn_btree_range){ { k, 33, CAIRN_BOUND_EXCL }, { 0 } });
        if (rc == 0)
            rc = cairn_btree_contains(&t, k, datom_key(k, 9, 11, 1)) < 0 ? CAIRN_ENOMEM : 0;
        cairn_btree_iter_init(&it, &t, NULL, CAIRN_BTREE_REVERSE);
        while (rc == 0) {
            int r = cairn_btree_iter_next(&it, &key);
            if (r <= 0) {
                rc = r;
                break;
            }
            seen++;
        }
        cairn_btree_iter_dispose(&it);
        cairn__alloc_fail_at(0, 0);
        if (rc == 0) {
            CHECK_EQ(seen, 2000);
            break;
        }
        CHECK_ERR(rc, CAIRN_ENOMEM);
        CHECK_EQ(cairn__alloc_live(), live);
    }
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}
