/* src/index/build.c: bulk builds from sorted keys. */
#include "index_test.h"

static size_t key_of(uint8_t *buf, uint64_t i, size_t len)
{
    memset(buf, 'p', len);
    cairn_put_be64(buf + len - 8, i * 3);
    return len;
}

/* Builds n keys of len bytes into a committed tree and checks it fully. */
static void build_and_check(uint32_t node_bytes, uint32_t fill, uint64_t n, size_t len, int commit_midway)
{
    idx_env e;
    cairn_btree_builder *b;
    cairn_store_batch *batch;
    cairn_btree t, o;
    cairn_btree_opts opts;
    cairn_btree_iter it;
    cairn_btree_key k;
    cairn_addr root;
    uint8_t buf[4096];
    uint64_t i = 0, count;
    int64_t live;
    live = idx_live_baseline();
    idx_env_open(&e, node_bytes, 1 << 22);
    opts = e.opts;
    opts.fill_pct = fill;
    CHECK_OK(cairn_store_batch_new(&batch, &e.store->base));
    CHECK_OK(cairn_btree_builder_new(&b, e.cache, &opts, batch));
    for (i = 0; i < n; i++) {
        CHECK_OK(cairn_btree_builder_add(b, buf, key_of(buf, i, len)));
        if (commit_midway && i % 997 == 0)
            CHECK_OK(cairn_store_batch_commit(batch));
    }
    CHECK_OK(cairn_btree_builder_finish(&t, b));
    cairn_btree_builder_free(b);
    CHECK_OK(cairn_store_batch_commit(batch));
    cairn_store_batch_free(batch);
    CHECK_EQ(cairn_btree_count(&t), n);
    CHECK(cairn_btree_is_committed(&t));
    idx_check(&t);
    /* reopen from the store alone, cold, and read everything back */
    CHECK_OK(cairn_btree_root(&root, &t));
    cairn_nodecache_clear(e.cache);
    CHECK_OK(cairn_btree_open(&o, e.cache, &root, &opts));
    idx_check(&o);
    cairn_btree_iter_init(&it, &o, NULL, 0);
    for (i = 0; cairn_btree_iter_next(&it, &k) == 1; i++)
        CHECK_MEM(k.data, k.len, buf, key_of(buf, i, len));
    CHECK_EQ(i, n);
    cairn_btree_iter_dispose(&it);
    CHECK_OK(cairn_btree_count_range(&count, &o, NULL));
    CHECK_EQ(count, n);
    cairn_btree_dispose(&o);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
    CHECK_EQ(cairn__alloc_live(), live);
}

void test_index_build__sizes_around_node_and_level_boundaries(void)
{
    /* 256-byte nodes, 12-byte keys: 16 keys fit a leaf, 5 entries a branch; at
     * 90% fill a leaf takes 14 keys */
    static const uint64_t sizes[] = { 0, 1, 2, 13, 14, 15, 16, 17, 28, 29, 30, 31, 32, 33, 69, 70, 71,
                                      72, 140, 141, 200, 350, 351, 1000, 4321 };
    for (size_t s = 0; s < CAIRN_ARRAY_LEN(sizes); s++) {
        build_and_check(256, 90, sizes[s], 12, 0);
        build_and_check(256, 100, sizes[s], 12, 0);
        build_and_check(256, 70, sizes[s], 12, 0);
    }
}

void test_index_build__default_nodes_long_keys_and_midway_batch_writes(void)
{
    build_and_check(0, 0, 100000, 24, 1);
    build_and_check(16384, 100, 3000, 4000, 1);
    build_and_check(1024, 85, 20000, 200, 1);
}

void test_index_build__unsorted_or_oversized_input_is_refused_and_sticks(void)
{
    idx_env e;
    cairn_btree_builder *b;
    cairn_store_batch *batch;
    cairn_btree t;
    static uint8_t big[8192];
    idx_env_open(&e, 0, 1 << 20);
    CHECK_OK(cairn_store_batch_new(&batch, &e.store->base));
    CHECK_OK(cairn_btree_builder_new(&b, e.cache, &e.opts, batch));
    CHECK_OK(cairn_btree_builder_add(b, "b", 1));
    CHECK_ERR(cairn_btree_builder_add(b, "b", 1), CAIRN_EINVALID);
    CHECK_ERR(cairn_btree_builder_add(b, "c", 1), CAIRN_EINVALID);
    CHECK_ERR(cairn_btree_builder_finish(&t, b), CAIRN_EINVALID);
    cairn_btree_builder_free(b);
    CHECK_OK(cairn_btree_builder_new(&b, e.cache, &e.opts, batch));
    CHECK_OK(cairn_btree_builder_add(b, "", 0));
    CHECK_ERR(cairn_btree_builder_add(b, "", 0), CAIRN_EINVALID);
    cairn_btree_builder_free(b);
    CHECK_OK(cairn_btree_builder_new(&b, e.cache, &e.opts, batch));
    CHECK_ERR(cairn_btree_builder_add(b, big, sizeof big), CAIRN_ELIMIT);
    cairn_btree_builder_free(b);
    cairn_store_batch_free(batch);
    idx_env_close(&e);
}

/* A built tree and the same keys inserted in random batches hold the same
 * keys; the built one is at least as full. */
void test_index_build__matches_a_tree_built_by_inserts(void)
{
    idx_env e;
    cairn_btree_builder *b;
    cairn_store_batch *batch;
    cairn_btree built, empty;
    cairn_btree_transient *tt;
    cairn_btree_iter x, y;
    cairn_btree_key kx, ky;
    enum { N = 20000 };
    uint8_t(*keys)[16] = malloc(N * sizeof *keys);
    cairn_btree_change *c = malloc(N * sizeof *c);
    int rx, ry;
    idx_env_open(&e, 512, 1 << 22);
    for (uint64_t i = 0; i < N; i++) {
        key_of(keys[i], i, 16);
        c[i].key = keys[i];
        c[i].len = 16;
        c[i].op = CAIRN_BTREE_INSERT;
    }
    CHECK_OK(cairn_store_batch_new(&batch, &e.store->base));
    CHECK_OK(cairn_btree_builder_new(&b, e.cache, &e.opts, batch));
    for (uint64_t i = 0; i < N; i++)
        CHECK_OK(cairn_btree_builder_add(b, keys[i], 16));
    CHECK_OK(cairn_btree_builder_finish(&built, b));
    cairn_btree_builder_free(b);
    /* shuffle, then insert in batches of 100 */
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = (size_t)test_rand_below(i + 1);
        cairn_btree_change t = c[i];
        c[i] = c[j];
        c[j] = t;
    }
    cairn_btree_init(&empty, e.cache, &e.opts);
    CHECK_OK(cairn_btree_transient_new(&tt, &empty));
    for (size_t i = 0; i < N; i += 100)
        CHECK_OK(cairn_btree_transient_apply(tt, c + i, 100, 0, NULL));
    idx_check(cairn_btree_transient_tree(tt));
    CHECK(cairn_btree_depth(&built) <= cairn_btree_depth(cairn_btree_transient_tree(tt)));
    cairn_btree_iter_init(&x, &built, NULL, 0);
    cairn_btree_iter_init(&y, cairn_btree_transient_tree(tt), NULL, 0);
    while ((rx = cairn_btree_iter_next(&x, &kx)) == 1 && (ry = cairn_btree_iter_next(&y, &ky)) == 1)
        CHECK_MEM(kx.data, kx.len, ky.data, ky.len);
    CHECK_EQ(rx, 0);
    CHECK_EQ(cairn_btree_iter_next(&y, &ky), 0);
    cairn_btree_iter_dispose(&x);
    cairn_btree_iter_dispose(&y);
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&built);
    cairn_btree_dispose(&empty);
    cairn_store_batch_free(batch);
    free(keys);
    free(c);
    idx_env_close(&e);
}
