/* src/index: tree values, changes, reads, fill limits at their edges. */
#include "index_test.h"

/* Key i as 12 big-endian-ish bytes: "k" + 11 digits, so order = numeric order. */
static size_t key12(uint8_t *buf, unsigned long i)
{
    snprintf((char *)buf, 13, "k%011lu", i);
    return 12;
}

static void insert_range(cairn_btree_transient *tt, unsigned long from, unsigned long to)
{
    uint8_t k[16];
    for (unsigned long i = from; i < to; i++)
        CHECK_EQ(cairn_btree_transient_insert(tt, k, key12(k, i)), 1);
}

void test_index_btree__empty_tree_has_no_node_and_reads_as_empty(void)
{
    idx_env e;
    cairn_btree t, c, o;
    cairn_addr root;
    cairn_btree_iter it;
    cairn_btree_key k;
    uint64_t n = 99;
    idx_env_open(&e, 0, 1 << 20);
    cairn_btree_init(&t, e.cache, &e.opts);
    CHECK_EQ(cairn_btree_count(&t), 0);
    CHECK_EQ(cairn_btree_depth(&t), 0);
    CHECK_EQ(cairn_btree_contains(&t, "a", 1), 0);
    CHECK_EQ(cairn_btree_contains(&t, "", 0), 0);
    CHECK_OK(cairn_btree_count_range(&n, &t, NULL));
    CHECK_EQ(n, 0);
    cairn_btree_iter_init(&it, &t, NULL, 0);
    CHECK_EQ(cairn_btree_iter_next(&it, &k), 0);
    CHECK_OK(cairn_btree_iter_seek(&it, "x", 1));
    CHECK_EQ(cairn_btree_iter_next(&it, &k), 0);
    cairn_btree_iter_dispose(&it);
    idx_check(&t);
    idx_commit(&c, &t, &e);
    CHECK_EQ(e.store->puts, 0);
    CHECK_OK(cairn_btree_root(&root, &c));
    CHECK(cairn_addr_equal(&root, &CAIRN_BTREE_EMPTY_ROOT));
    CHECK_OK(cairn_btree_open(&o, e.cache, &root, &e.opts));
    CHECK_EQ(cairn_btree_count(&o), 0);
    CHECK_EQ(e.store->gets, 0);
    cairn_btree_dispose(&o);
    cairn_btree_dispose(&c);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

void test_index_btree__single_key_insert_delete_and_no_op_changes(void)
{
    idx_env e;
    cairn_btree t;
    cairn_btree_transient *tt;
    int64_t live;
    idx_env_open(&e, 0, 1 << 20);
    live = idx_live_baseline();
    cairn_btree_init(&t, e.cache, &e.opts);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    CHECK_EQ(cairn_btree_transient_delete(tt, "a", 1), 0);
    CHECK_EQ(cairn_btree_transient_insert(tt, "a", 1), 1);
    CHECK_EQ(cairn_btree_transient_insert(tt, "a", 1), 0);
    CHECK_EQ(cairn_btree_count(cairn_btree_transient_tree(tt)), 1);
    CHECK_EQ(cairn_btree_depth(cairn_btree_transient_tree(tt)), 1);
    CHECK_EQ(cairn_btree_contains(cairn_btree_transient_tree(tt), "a", 1), 1);
    CHECK_EQ(cairn_btree_contains(cairn_btree_transient_tree(tt), "b", 1), 0);
    CHECK_EQ(cairn_btree_contains(cairn_btree_transient_tree(tt), "", 0), 0);
    idx_check(cairn_btree_transient_tree(tt));
    /* the base value is untouched */
    CHECK_EQ(cairn_btree_count(&t), 0);
    CHECK_EQ(cairn_btree_transient_delete(tt, "b", 1), 0);
    CHECK_EQ(cairn_btree_transient_delete(tt, "a", 1), 1);
    CHECK_EQ(cairn_btree_count(cairn_btree_transient_tree(tt)), 0);
    CHECK(cairn_btree_transient_tree(tt)->root == NULL);
    /* the empty key is a key like any other */
    CHECK_EQ(cairn_btree_transient_insert(tt, "", 0), 1);
    CHECK_EQ(cairn_btree_contains(cairn_btree_transient_tree(tt), "", 0), 1);
    idx_check(cairn_btree_transient_tree(tt));
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&t);
    CHECK_EQ(cairn__alloc_live(), live);
    idx_env_close(&e);
}

void test_index_btree__bad_changes_are_refused_and_change_nothing(void)
{
    idx_env e;
    cairn_btree t;
    cairn_btree_transient *tt;
    static uint8_t big[8192];
    cairn_btree_change bad_op = { "a", 1, 7 };
    cairn_btree_change unsorted[2] = { { "b", 1, CAIRN_BTREE_INSERT }, { "a", 1, CAIRN_BTREE_INSERT } };
    cairn_btree_change dup[2] = { { "a", 1, CAIRN_BTREE_INSERT }, { "a", 1, CAIRN_BTREE_DELETE } };
    size_t changed = 5;
    idx_env_open(&e, 0, 1 << 20);
    cairn_btree_init(&t, e.cache, &e.opts);
    CHECK_EQ(cairn_btree_key_max(&t), 8192 / 4 - 36);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    CHECK_ERR(cairn_btree_transient_insert(tt, big, cairn_btree_key_max(&t) + 1), CAIRN_ELIMIT);
    CHECK_EQ(cairn_btree_transient_insert(tt, big, cairn_btree_key_max(&t)), 1);
    CHECK_ERR(cairn_btree_transient_apply(tt, &bad_op, 1, 0, &changed), CAIRN_EINVALID);
    CHECK_EQ(changed, 0);
    CHECK_ERR(cairn_btree_transient_apply(tt, unsorted, 2, CAIRN_BTREE_SORTED, NULL), CAIRN_EINVALID);
    CHECK_ERR(cairn_btree_transient_apply(tt, dup, 2, CAIRN_BTREE_SORTED, NULL), CAIRN_EINVALID);
    CHECK_EQ(cairn_btree_count(cairn_btree_transient_tree(tt)), 1);
    /* unsorted with duplicates: sorted, and the last change of a key wins */
    CHECK_OK(cairn_btree_transient_apply(tt, dup, 2, 0, &changed));
    CHECK_EQ(changed, 0);
    CHECK_OK(cairn_btree_transient_apply(tt, unsorted, 2, 0, &changed));
    CHECK_EQ(changed, 2);
    CHECK_EQ(cairn_btree_contains(cairn_btree_transient_tree(tt), "a", 1), 1);
    idx_check(cairn_btree_transient_tree(tt));
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

/*
 * With 256-byte nodes and 12-byte keys a leaf entry weighs 16 bytes, so a leaf
 * holds at most 16 keys and at least 2 (256 / 8 = 32 bytes); a branch entry
 * weighs 48 bytes, so a branch holds at most 5 children.
 */
void test_index_btree__leaf_splits_exactly_past_max_fanout(void)
{
    idx_env e;
    cairn_btree t;
    cairn_btree_transient *tt;
    idx_env_open(&e, 256, 1 << 20);
    cairn_btree_init(&t, e.cache, &e.opts);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    insert_range(tt, 0, 15);
    CHECK_EQ(cairn_btree_depth(cairn_btree_transient_tree(tt)), 1);
    insert_range(tt, 15, 16);
    CHECK_EQ(cairn_btree_depth(cairn_btree_transient_tree(tt)), 1);
    CHECK_EQ(cairn_btree_transient_tree(tt)->root->n, 16);
    idx_check(cairn_btree_transient_tree(tt));
    insert_range(tt, 16, 17);
    CHECK_EQ(cairn_btree_depth(cairn_btree_transient_tree(tt)), 2);
    CHECK_EQ(cairn_btree_transient_tree(tt)->root->n, 2);
    CHECK_EQ(cairn_btree_transient_tree(tt)->root->kids[0].count + cairn_btree_transient_tree(tt)->root->kids[1].count,
             17);
    idx_check(cairn_btree_transient_tree(tt));
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

void test_index_btree__branch_splits_exactly_past_max_fanout(void)
{
    idx_env e;
    cairn_btree t;
    cairn_btree_transient *tt;
    uint8_t k[16];
    idx_env_open(&e, 256, 1 << 20);
    cairn_btree_init(&t, e.cache, &e.opts);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    /* grow leaf by leaf: appending 9 keys at a time to the last leaf makes
     * full-ish leaves; stop when the root has exactly 5 children */
    for (unsigned long i = 0; cairn_btree_depth(cairn_btree_transient_tree(tt)) < 2 ||
                              cairn_btree_transient_tree(tt)->root->n < 5;
         i++) {
        CHECK(i < 1000);
        CHECK_EQ(cairn_btree_transient_insert(tt, k, key12(k, i)), 1);
        idx_check(cairn_btree_transient_tree(tt));
    }
    CHECK_EQ(cairn_btree_depth(cairn_btree_transient_tree(tt)), 2);
    /* fill until the fifth leaf must split: the root gets a sixth child,
     * which is past the branch maximum, so the tree grows a level */
    for (unsigned long i = 1000; cairn_btree_depth(cairn_btree_transient_tree(tt)) == 2; i++) {
        CHECK(i < 2000);
        CHECK_EQ(cairn_btree_transient_tree(tt)->root->n, 5);
        CHECK_EQ(cairn_btree_transient_insert(tt, k, key12(k, i)), 1);
        idx_check(cairn_btree_transient_tree(tt));
    }
    CHECK_EQ(cairn_btree_depth(cairn_btree_transient_tree(tt)), 3);
    CHECK_EQ(cairn_btree_transient_tree(tt)->root->n, 2);
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

void test_index_btree__deletes_merge_at_the_fill_minimum(void)
{
    idx_env e;
    cairn_btree t;
    cairn_btree_transient *tt;
    const cairn_btree *cur;
    uint8_t k[16];
    idx_env_open(&e, 256, 1 << 20);
    cairn_btree_init(&t, e.cache, &e.opts);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    insert_range(tt, 0, 17);  /* two leaves: 9 + 8 or so */
    cur = cairn_btree_transient_tree(tt);
    CHECK_EQ(cur->depth, 2);
    /* delete from the right leaf down to two keys: still two leaves */
    while (cur->root->kids[1].count > 2) {
        size_t klen;
        const uint8_t *last;
        cairn_node *leaf;
        CHECK_OK(cairn_node_child(&leaf, e.cache, cur->root, 1));
        last = cairn_node_key(leaf, leaf->n - 1, &klen);
        memcpy(k, last, klen);
        cairn_node_unref(leaf);
        CHECK_EQ(cairn_btree_transient_delete(tt, k, klen), 1);
        cur = cairn_btree_transient_tree(tt);
        idx_check(cur);
        CHECK_EQ(cur->depth, 2);
    }
    /* one more delete leaves one key (16 bytes < 32): merged into one leaf */
    CHECK_EQ(cairn_btree_transient_delete(tt, k, key12(k, (unsigned long)cur->count - 1)), 1);
    cur = cairn_btree_transient_tree(tt);
    idx_check(cur);
    CHECK_EQ(cur->depth, 1);
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

void test_index_btree__keys_of_several_kib_and_keys_differing_in_the_last_byte(void)
{
    idx_env e;
    cairn_btree t, c, o;
    cairn_btree_transient *tt;
    cairn_addr root;
    model m = { 0 };
    size_t kmax;
    uint8_t *buf;
    idx_env_open(&e, 16384, 4 << 20);  /* keys up to 4060 bytes */
    cairn_btree_init(&t, e.cache, &e.opts);
    kmax = cairn_btree_key_max(&t);
    buf = malloc(kmax);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    for (int i = 0; i < 300; i++) {
        size_t len = kmax - (size_t)test_rand_below(64);
        memset(buf, 'x', len);
        buf[len - 1] = (uint8_t)i;           /* only the last byte differs */
        buf[len / 2] = (uint8_t)(i % 3);      /* three groups in the middle */
        CHECK_EQ(cairn_btree_transient_insert(tt, buf, len), model_insert(&m, buf, len));
    }
    idx_check(cairn_btree_transient_tree(tt));
    model_check_all(&m, cairn_btree_transient_tree(tt));
    CHECK(cairn_btree_depth(cairn_btree_transient_tree(tt)) >= 3);
    idx_commit(&c, cairn_btree_transient_tree(tt), &e);
    CHECK_OK(cairn_btree_root(&root, &c));
    cairn_nodecache_clear(e.cache);
    CHECK_OK(cairn_btree_open(&o, e.cache, &root, &e.opts));
    idx_check(&o);
    model_check_all(&m, &o);
    /* delete every other key: merges of multi-KiB nodes */
    for (size_t i = 0; i < m.n; i += 2)
        CHECK_EQ(cairn_btree_transient_delete(tt, m.v[i].p, m.v[i].len), 1);
    for (size_t i = 0; i < m.n; i += 1)
        model_delete(&m, m.v[i].p, m.v[i].len);
    idx_check(cairn_btree_transient_tree(tt));
    model_check_all(&m, cairn_btree_transient_tree(tt));
    free(buf);
    model_free(&m);
    cairn_btree_dispose(&o);
    cairn_btree_dispose(&c);
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

/* Every kind of bound, both directions, on a small fixed set. */
void test_index_btree__ranges_with_every_bound_kind(void)
{
    static const char *keys[] = { "", "a", "ab", "abc", "abd", "ac", "b", "b\xff", "ba", "c" };
    static const char *probes[] = { "", "a", "ab", "abc", "abz", "b", "b\xff", "bb", "c", "d" };
    idx_env e;
    cairn_btree t;
    cairn_btree_transient *tt;
    model m = { 0 };
    idx_env_open(&e, 256, 1 << 20);
    cairn_btree_init(&t, e.cache, &e.opts);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(keys); i++) {
        CHECK_EQ(cairn_btree_transient_insert(tt, keys[i], strlen(keys[i])), 1);
        model_insert(&m, keys[i], strlen(keys[i]));
    }
    for (size_t a = 0; a < CAIRN_ARRAY_LEN(probes); a++)
        for (size_t b = 0; b < CAIRN_ARRAY_LEN(probes); b++)
            for (int lk = 0; lk < 4; lk++)
                for (int hk = 0; hk < 4; hk++) {
                    cairn_btree_range r = { { probes[a], strlen(probes[a]), lk },
                                            { probes[b], strlen(probes[b]), hk } };
                    model_check_range(&m, cairn_btree_transient_tree(tt), &r, 0);
                    model_check_range(&m, cairn_btree_transient_tree(tt), &r, CAIRN_BTREE_REVERSE);
                }
    model_free(&m);
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

void test_index_btree__seek_and_batches_cross_leaves(void)
{
    idx_env e;
    cairn_btree t;
    cairn_btree_transient *tt;
    cairn_btree_iter it;
    cairn_btree_key k, ks[7];
    uint8_t want[16];
    unsigned long next;
    int n;
    idx_env_open(&e, 256, 1 << 20);
    cairn_btree_init(&t, e.cache, &e.opts);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    for (unsigned long i = 0; i < 2000; i += 2) {
        uint8_t kb[16];
        CHECK_EQ(cairn_btree_transient_insert(tt, kb, key12(kb, i)), 1);
    }
    /* seek >= to an absent key lands on the next one; <= on the previous */
    cairn_btree_iter_init(&it, cairn_btree_transient_tree(tt), NULL, 0);
    CHECK_OK(cairn_btree_iter_seek(&it, want, key12(want, 777)));
    CHECK_EQ(cairn_btree_iter_next(&it, &k), 1);
    CHECK_MEM(k.data, k.len, want, key12(want, 778));
    CHECK_OK(cairn_btree_iter_seek(&it, want, key12(want, 5000)));
    CHECK_EQ(cairn_btree_iter_next(&it, &k), 0);
    cairn_btree_iter_dispose(&it);
    cairn_btree_iter_init(&it, cairn_btree_transient_tree(tt), NULL, CAIRN_BTREE_REVERSE);
    CHECK_OK(cairn_btree_iter_seek(&it, want, key12(want, 777)));
    CHECK_EQ(cairn_btree_iter_next(&it, &k), 1);
    CHECK_MEM(k.data, k.len, want, key12(want, 776));
    CHECK_OK(cairn_btree_iter_seek(&it, "a", 1));
    CHECK_EQ(cairn_btree_iter_next(&it, &k), 0);
    cairn_btree_iter_dispose(&it);
    /* batches of 7 cover everything in order, never across a leaf */
    cairn_btree_iter_init(&it, cairn_btree_transient_tree(tt), NULL, 0);
    next = 0;
    while ((n = cairn_btree_iter_next_batch(&it, ks, 7)) > 0) {
        for (int i = 0; i < n; i++, next += 2)
            CHECK_MEM(ks[i].data, ks[i].len, want, key12(want, next));
    }
    CHECK_EQ(n, 0);
    CHECK_EQ(next, 2000);
    cairn_btree_iter_dispose(&it);
    cairn_btree_iter_init(&it, cairn_btree_transient_tree(tt), NULL, CAIRN_BTREE_REVERSE);
    next = 2000;
    while ((n = cairn_btree_iter_next_batch(&it, ks, 7)) > 0) {
        for (int i = 0; i < n; i++) {
            next -= 2;
            CHECK_MEM(ks[i].data, ks[i].len, want, key12(want, next));
        }
    }
    CHECK_EQ(next, 0);
    cairn_btree_iter_dispose(&it);
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}

void test_index_btree__bad_opts_are_refused(void)
{
    idx_env e;
    cairn_btree t;
    cairn_btree_opts o = CAIRN_BTREE_OPTS_INIT;
    cairn_btree_builder *b;
    idx_env_open(&e, 0, 0);
    o.node_bytes = 100;
    CHECK_ERR(cairn_btree_open(&t, e.cache, NULL, &o), CAIRN_EINVALID);
    o.node_bytes = 0;
    o.fill_pct = 50;
    CHECK_ERR(cairn_btree_builder_new(&b, e.cache, &o, NULL), CAIRN_EINVALID);
    o.fill_pct = 0;
    o.version = 99;
    CHECK_ERR(cairn_btree_open(&t, e.cache, NULL, &o), CAIRN_EINVALID);
    idx_env_close(&e);
}
