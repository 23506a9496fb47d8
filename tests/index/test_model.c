/*
 * Model-based tests of src/index: random changes and reads against a sorted
 * array, with the invariant checker after every change batch. Each test runs
 * several seeds over one kind of key; together they run well over 10^6
 * operations (each change in a batch and each read counts as one).
 * CAIRN_TEST_SCALE multiplies the work.
 */
#include "index_test.h"

enum { KEYS_TINY, KEYS_DATOM, KEYS_LAST_BYTE, KEYS_LONG };

typedef struct run {
    idx_env env;                  /* store and cache */
    model m;                      /* the reference */
    cairn_btree_transient *tt;    /* the tree under test */
    int profile;                  /* KEYS_* */
    size_t key_max;               /* the tree's longest key */
    uint8_t *prefix;              /* shared leading bytes (LAST_BYTE, LONG) */
    size_t prefix_len;            /* bytes in prefix */
    size_t target;                /* keys the tree hovers around */
    long ops;                     /* operations run */
    long commits;                 /* commits and reopens */
    long batches;                 /* change batches */
    uint32_t max_depth;           /* deepest tree seen */
    size_t max_keys;              /* most keys seen */
    cairn_btree snap;             /* an older version, committed */
    model snap_model;             /* its contents */
} run;

/* A random key of the run's profile into buf (room for key_max + 1). */
static size_t gen_key(run *r, uint8_t *buf)
{
    static const uint8_t alphabet[] = { 0x00, 0x01, 'a', 'b', 0x7f, 0xfe, 0xff };
    size_t len;
    switch (r->profile) {
    case KEYS_TINY:
        len = (size_t)test_rand_below(7);
        for (size_t i = 0; i < len; i++)
            buf[i] = alphabet[test_rand_below(sizeof alphabet)];
        return len;
    case KEYS_DATOM: {
        /* e (8) | a (2) | tag (1) | v (0..8) | tx (8), like an EAVT key */
        uint64_t e = 1 + test_rand_below(r->target / 4 + 2), tx = 536870913 + test_rand_below(50);
        cairn_put_be64(buf, e);
        buf[8] = 0;
        buf[9] = (uint8_t)(10 + test_rand_below(9));
        buf[10] = (uint8_t)test_rand_below(3);
        len = 11 + (size_t)test_rand_below(9);
        for (size_t i = 11; i < len; i++)
            buf[i] = (uint8_t)('a' + test_rand_below(3));
        cairn_put_be64(buf + len, tx);
        return len + 8;
    }
    case KEYS_LAST_BYTE:
        /* one long shared prefix; only the last byte (or its absence) differs */
        memcpy(buf, r->prefix, r->prefix_len);
        buf[r->prefix_len] = (uint8_t)test_rand_below(256);
        return r->prefix_len + (test_rand_below(16) ? 1 : 0);
    default:
        len = r->key_max - (size_t)test_rand_below(r->key_max / 8 + 1);
        memcpy(buf, r->prefix, len);
        buf[len / 3] = (uint8_t)test_rand_below(4);
        buf[len - 1] = (uint8_t)test_rand_below(256);
        return len;
    }
}

/* A key for a lookup or a bound: a present key, a neighbour or prefix of
 * one, or a random key. */
static size_t probe_key(run *r, uint8_t *buf)
{
    uint64_t how = test_rand_below(4);
    const mkey *k;
    size_t len;
    if (r->m.n == 0 || how == 0)
        return gen_key(r, buf);
    k = &r->m.v[test_rand_below(r->m.n)];
    len = k->len;
    memcpy(buf, k->p, len);
    if (how == 2 && len > 0)
        buf[len - 1] = (uint8_t)(buf[len - 1] + (test_rand_below(2) ? 1 : 255));
    else if (how == 3 && len > 0)
        len = (size_t)test_rand_below(len);
    return len;
}

static const cairn_btree *cur(run *r)
{
    return cairn_btree_transient_tree(r->tt);
}

static const cairn_btree_change *sort_base;

static int by_key_then_index(const void *a, const void *b)
{
    const cairn_btree_change *x = &sort_base[*(const size_t *)a], *y = &sort_base[*(const size_t *)b];
    int c = mkey_cmp(x->key, x->len, y->key, y->len);
    return c ? c : (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

/*
 * Indexes of the last change of each key in c[0..n), in key order (malloc'd);
 * *m_out gets how many.
 */
static size_t *last_per_key(const cairn_btree_change *c, size_t n, size_t *m_out)
{
    size_t *idx = malloc((n ? n : 1) * sizeof *idx), m = 0;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    sort_base = c;
    qsort(idx, n, sizeof *idx, by_key_then_index);
    for (size_t i = 0; i < n; i++) {
        const cairn_btree_change *x = &c[idx[i]], *y = i + 1 < n ? &c[idx[i + 1]] : NULL;
        if (!y || mkey_cmp(x->key, x->len, y->key, y->len) != 0)
            idx[m++] = idx[i];
    }
    *m_out = m;
    return idx;
}

/* The number of keys a batch changes: the last change of a key decides. */
static size_t net_changes(const model *m, const cairn_btree_change *c, size_t n)
{
    size_t k, *idx = last_per_key(c, n, &k), changed = 0;
    for (size_t i = 0; i < k; i++) {
        const cairn_btree_change *x = &c[idx[i]];
        size_t at = model_lower(m, x->key, x->len);
        int before = at < m->n && mkey_cmp(m->v[at].p, m->v[at].len, x->key, x->len) == 0;
        changed += before != (x->op == CAIRN_BTREE_INSERT);
    }
    free(idx);
    return changed;
}

/* Sorts c[0..n) by key and keeps the last change of each key; returns the count. */
static size_t sort_dedupe(cairn_btree_change *c, size_t n)
{
    size_t k, *idx = last_per_key(c, n, &k);
    cairn_btree_change *out = malloc((k ? k : 1) * sizeof *out);
    for (size_t i = 0; i < k; i++)
        out[i] = c[idx[i]];
    memcpy(c, out, k * sizeof *c);
    free(out);
    free(idx);
    return k;
}

/* A batch of random changes, applied to the tree and to the model. */
static void step_batch(run *r)
{
    size_t made = 1 + (size_t)test_rand_below(test_rand_below(10) ? 40 : 500), n = made, changed = 9;
    cairn_btree_change *c = malloc(made * sizeof *c);
    uint8_t **bufs = malloc(made * sizeof *bufs);
    int deletes = r->m.n > r->target ? 70 : r->m.n < r->target / 2 ? 25 : 48;  /* percent */
    int sorted = test_rand_below(4) == 0;
    size_t want;
    for (size_t i = 0; i < made; i++) {
        bufs[i] = malloc(r->key_max + 1);
        c[i].key = bufs[i];
        c[i].op = (int)test_rand_below(100) < deletes ? CAIRN_BTREE_DELETE : CAIRN_BTREE_INSERT;
        if (c[i].op == CAIRN_BTREE_DELETE && r->m.n && test_rand_below(4)) {
            const mkey *k = &r->m.v[test_rand_below(r->m.n)];
            memcpy(bufs[i], k->p, k->len);
            c[i].len = k->len;
        } else if (i > 0 && test_rand_below(8) == 0) {
            memcpy(bufs[i], c[i - 1].key, c[i - 1].len);  /* the same key twice in a batch */
            c[i].len = c[i - 1].len;
        } else {
            c[i].len = gen_key(r, bufs[i]);
        }
    }
    if (sorted)
        n = sort_dedupe(c, n);
    want = net_changes(&r->m, c, n);
    CHECK_OK(cairn_btree_transient_apply(r->tt, c, n, sorted ? CAIRN_BTREE_SORTED : 0, &changed));
    CHECK_EQ(changed, want);
    for (size_t i = 0; i < n; i++) {
        if (c[i].op == CAIRN_BTREE_INSERT)
            model_insert(&r->m, c[i].key, c[i].len);
        else
            model_delete(&r->m, c[i].key, c[i].len);
    }
    CHECK_EQ(cairn_btree_count(cur(r)), r->m.n);
    idx_check(cur(r));
    r->ops += (long)n;
    r->batches++;
    if (cur(r)->depth > r->max_depth)
        r->max_depth = cur(r)->depth;
    if (r->m.n > r->max_keys)
        r->max_keys = r->m.n;
    for (size_t i = 0; i < made; i++)
        free(bufs[i]);
    free(bufs);
    free(c);
}

/* One change through insert/delete. */
static void step_single(run *r)
{
    uint8_t *buf = malloc(r->key_max + 1);
    size_t len = probe_key(r, buf);
    if (len > r->key_max)
        len = r->key_max;
    if (test_rand_below(2))
        CHECK_EQ(cairn_btree_transient_insert(r->tt, buf, len), model_insert(&r->m, buf, len));
    else
        CHECK_EQ(cairn_btree_transient_delete(r->tt, buf, len), model_delete(&r->m, buf, len));
    idx_check(cur(r));
    r->ops++;
    free(buf);
}

static void step_lookups(run *r)
{
    uint8_t *buf = malloc(r->key_max + 1);
    for (int i = 0; i < 16; i++) {
        size_t len = probe_key(r, buf), at = model_lower(&r->m, buf, len);
        int want = at < r->m.n && mkey_cmp(r->m.v[at].p, r->m.v[at].len, buf, len) == 0;
        CHECK_EQ(cairn_btree_contains(cur(r), buf, len), want);
    }
    r->ops += 16;
    free(buf);
}

static int random_kind(void)
{
    return (int)test_rand_below(4);
}

/* A random range, counted and scanned both ways. */
static void step_range(run *r)
{
    uint8_t *a = malloc(r->key_max + 1), *b = malloc(r->key_max + 1);
    cairn_btree_range rg;
    if (test_rand_below(5) == 0) {
        size_t len = probe_key(r, a);
        rg = cairn_btree_range_prefix(a, len < 3 ? len : (size_t)test_rand_below(len + 1));
    } else {
        rg.lo.key = a;
        rg.lo.len = probe_key(r, a);
        rg.lo.kind = random_kind();
        rg.hi.key = b;
        rg.hi.len = probe_key(r, b);
        rg.hi.kind = random_kind();
        if (mkey_cmp(a, rg.lo.len, b, rg.hi.len) > 0 && test_rand_below(4)) {
            rg.lo.key = b;
            rg.hi.key = a;
            size_t t = rg.lo.len;
            rg.lo.len = rg.hi.len;
            rg.hi.len = t;
        }
    }
    model_check_range(&r->m, cur(r), &rg, 0);
    model_check_range(&r->m, cur(r), &rg, CAIRN_BTREE_REVERSE);
    r->ops += 2;
    free(a);
    free(b);
}

/* Seeks >= and <= against the model. */
static void step_seek(run *r)
{
    uint8_t *buf = malloc(r->key_max + 1);
    cairn_btree_iter it;
    cairn_btree_key k;
    size_t len = probe_key(r, buf), at = model_lower(&r->m, buf, len);
    int exact = at < r->m.n && mkey_cmp(r->m.v[at].p, r->m.v[at].len, buf, len) == 0;
    cairn_btree_iter_init(&it, cur(r), NULL, 0);
    CHECK_OK(cairn_btree_iter_seek(&it, buf, len));
    if (at < r->m.n) {
        CHECK_EQ(cairn_btree_iter_next(&it, &k), 1);
        CHECK_MEM(k.data, k.len, r->m.v[at].p, r->m.v[at].len);
    } else {
        CHECK_EQ(cairn_btree_iter_next(&it, &k), 0);
    }
    cairn_btree_iter_dispose(&it);
    /* last key <= probe */
    at = exact ? at + 1 : at;
    cairn_btree_iter_init(&it, cur(r), NULL, CAIRN_BTREE_REVERSE);
    CHECK_OK(cairn_btree_iter_seek(&it, buf, len));
    if (at > 0) {
        CHECK_EQ(cairn_btree_iter_next(&it, &k), 1);
        CHECK_MEM(k.data, k.len, r->m.v[at - 1].p, r->m.v[at - 1].len);
    } else {
        CHECK_EQ(cairn_btree_iter_next(&it, &k), 0);
    }
    cairn_btree_iter_dispose(&it);
    r->ops += 2;
    free(buf);
}

static void model_copy(model *dst, const model *src)
{
    model_free(dst);
    for (size_t i = 0; i < src->n; i++)
        model_insert(dst, src->v[i].p, src->v[i].len);
}

/*
 * Commits, reopens the committed root from the store (sometimes with a cold
 * cache), compares it with the model, and carries on from the reopened tree.
 * Every few commits the old snapshot is checked to be unchanged and replaced.
 */
static void step_commit(run *r)
{
    cairn_store_batch *b;
    cairn_btree done, opened;
    cairn_addr root;
    CHECK_OK(cairn_store_batch_new(&b, &r->env.store->base));
    CHECK_OK(cairn_btree_transient_commit(&done, r->tt, b));
    CHECK_OK(cairn_store_batch_commit(b));
    cairn_store_batch_free(b);
    CHECK_OK(cairn_btree_root(&root, &done));
    if (test_rand_below(2))
        cairn_nodecache_clear(r->env.cache);
    CHECK_OK(cairn_btree_open(&opened, r->env.cache, &root, &r->env.opts));
    idx_check(&opened);
    model_check_all(&r->m, &opened);
    cairn_btree_transient_free(r->tt);
    CHECK_OK(cairn_btree_transient_new(&r->tt, &opened));
    /* the previous snapshot still reads as it was */
    idx_check(&r->snap);
    model_check_all(&r->snap_model, &r->snap);
    if (test_rand_below(3) == 0) {
        cairn_btree_dispose(&r->snap);
        cairn_btree_copy(&r->snap, &opened);
        model_copy(&r->snap_model, &r->m);
    }
    cairn_btree_dispose(&done);
    cairn_btree_dispose(&opened);
    r->ops += 1;
    r->commits++;
}

static long run_model(uint64_t seed, int profile, uint32_t node_bytes, size_t cache_bytes, size_t target,
                      long ops_goal)
{
    run r;
    cairn_btree empty;
    int64_t live = idx_live_baseline();
    memset(&r, 0, sizeof r);
    test_rand_reseed(seed);
    idx_env_open(&r.env, node_bytes, cache_bytes);
    cairn_btree_init(&empty, r.env.cache, &r.env.opts);
    r.profile = profile;
    r.key_max = cairn_btree_key_max(&empty);
    r.target = target;
    r.prefix = malloc(r.key_max + 1);
    for (size_t i = 0; i <= r.key_max; i++)
        r.prefix[i] = (uint8_t)('A' + i % 26);
    r.prefix_len = r.key_max - 1;
    CHECK_OK(cairn_btree_transient_new(&r.tt, &empty));
    cairn_btree_copy(&r.snap, &empty);
    while (r.ops < ops_goal) {
        uint64_t what = test_rand_below(100);
        if (what < 45)
            step_batch(&r);
        else if (what < 55)
            step_single(&r);
        else if (what < 70)
            step_lookups(&r);
        else if (what < 85)
            step_range(&r);
        else if (what < 97)
            step_seek(&r);
        else
            step_commit(&r);
    }
    /* empty the tree through deletes, checking merges all the way down */
    while (r.m.n) {
        size_t n = r.m.n < 64 ? r.m.n : 64;
        cairn_btree_change *c = malloc(n * sizeof *c);
        for (size_t i = 0; i < n; i++) {
            const mkey *k = &r.m.v[test_rand_below(r.m.n)];
            uint8_t *copy = malloc(k->len + 1);
            memcpy(copy, k->p, k->len);
            c[i].key = copy;
            c[i].len = k->len;
            c[i].op = CAIRN_BTREE_DELETE;
        }
        CHECK_OK(cairn_btree_transient_apply(r.tt, c, n, 0, NULL));
        for (size_t i = 0; i < n; i++) {
            model_delete(&r.m, c[i].key, c[i].len);
            free((void *)c[i].key);
        }
        free(c);
        idx_check(cur(&r));
        CHECK_EQ(cairn_btree_count(cur(&r)), r.m.n);
    }
    CHECK_EQ(cairn_btree_depth(cur(&r)), 0);
    cairn_btree_transient_free(r.tt);
    cairn_btree_dispose(&r.snap);
    cairn_btree_dispose(&empty);
    model_free(&r.m);
    model_free(&r.snap_model);
    free(r.prefix);
    idx_env_close(&r.env);
    CHECK_EQ(cairn__alloc_live(), live);
    printf("  seed %" PRIu64 ": %ld ops, %ld batches, %ld commits, up to %zu keys, depth %u\n", seed, r.ops,
           r.batches, r.commits, r.max_keys, r.max_depth);
    return r.ops;
}

/* Each test: several seeds, printing the operation count (the run's log shows
 * the total). Node sizes are small so that trees of a few thousand keys are
 * several levels deep and every batch splits and merges. */
static void run_seeds(const char *what, int profile, uint32_t node_bytes, size_t cache_bytes, size_t target,
                      int seeds, long ops_each)
{
    long total = 0;
    for (int s = 0; s < seeds; s++)
        total += run_model(test_seed() * 1000003u + (uint64_t)s * 7919u + (uint64_t)profile, profile, node_bytes,
                           cache_bytes, target, ops_each * test_scale());
    printf("%s: %ld operations over %d seeds\n", what, total, seeds);
}

void test_index_model__tiny_keys_small_nodes(void)
{
    run_seeds("tiny keys, 256-byte nodes", KEYS_TINY, 256, 1 << 16, 1500, 8, 60000);
}

void test_index_model__datom_keys_small_nodes_cold_cache(void)
{
    run_seeds("datom keys, 512-byte nodes, no cache", KEYS_DATOM, 512, 0, 1500, 6, 60000);
}

/* A cache of a few dozen nodes, so lookups evict the nodes that other
 * lookups reach through swizzled pointers (cache.c). */
void test_index_model__datom_keys_cache_smaller_than_the_tree(void)
{
    run_seeds("datom keys, 512-byte nodes, 16 KiB cache", KEYS_DATOM, 512, 16 * 1024, 3000, 3, 40000);
}

void test_index_model__datom_keys_deep_tree(void)
{
    run_seeds("datom keys, 256-byte nodes, deep", KEYS_DATOM, 256, 1 << 20, 6000, 2, 100000);
}

void test_index_model__datom_keys_default_nodes(void)
{
    run_seeds("datom keys, default (8 KiB) nodes", KEYS_DATOM, 0, 1 << 22, 10000, 3, 80000);
}

void test_index_model__keys_differing_only_in_the_last_byte(void)
{
    run_seeds("keys differing in the last byte, 1 KiB nodes", KEYS_LAST_BYTE, 1024, 1 << 18, 200, 4, 25000);
}

void test_index_model__long_keys(void)
{
    run_seeds("keys of up to 8 KiB, 32 KiB nodes", KEYS_LONG, 32768, 1 << 23, 150, 3, 12000);
}
