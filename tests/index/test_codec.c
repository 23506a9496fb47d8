/* src/index/codec.c: node bytes, canonical and strictly checked. */
#include "index_test.h"
#include "base/varint.h"

/* A node of level from NUL-terminated keys (branches get made-up children). */
static cairn_node *make(unsigned level, const char *const *keys, size_t n)
{
    cairn_node_ent e[64];
    cairn_node *node;
    assert(n <= 64);
    for (size_t i = 0; i < n; i++) {
        memset(&e[i], 0, sizeof e[i]);
        e[i].key = (const uint8_t *)keys[i];
        e[i].len = strlen(keys[i]);
        e[i].count = 1 + i * 1000;
        memset(e[i].addr.bytes, (int)(0xa0 + i), CAIRN_ADDR_LEN);
    }
    node = cairn_node_build(level, e, n);
    CHECK(node != NULL);
    return node;
}

static void encode(cairn_buf *out, const cairn_node *n)
{
    cairn_buf_clear(out);
    CHECK_OK(cairn_node_encode(out, n));
}

/* Decodes bytes; when that works, the node must encode to the same bytes. */
static int decode_roundtrip(const uint8_t *p, size_t len)
{
    cairn_node *n;
    cairn_buf again = CAIRN_BUF_INIT;
    int rc = cairn_node_decode(&n, p, len);
    if (rc < 0)
        return rc;
    encode(&again, n);
    CHECK_MEM(again.ptr, again.len, p, len);
    cairn_buf_dispose(&again);
    cairn_node_unref(n);
    return 0;
}

void test_index_codec__leaves_and_branches_round_trip(void)
{
    static const char *const keys[] = { "", "a", "aa", "aab", "ab", "b", "ba\x01", "ba\xff", "c" };
    cairn_buf b = CAIRN_BUF_INIT;
    for (unsigned level = 0; level < 3; level++) {
        cairn_node *n = make(level, keys, CAIRN_ARRAY_LEN(keys)), *d;
        encode(&b, n);
        CHECK_OK(cairn_node_decode(&d, (const uint8_t *)b.ptr, b.len));
        CHECK_EQ(d->level, level);
        CHECK_EQ(d->n, n->n);
        CHECK(d->clean);
        CHECK_EQ(d->key_bytes, n->key_bytes);
        CHECK_MEM(d->keys, d->key_bytes, n->keys, n->key_bytes);
        CHECK(memcmp(d->offs, n->offs, (n->n + 1) * sizeof *n->offs) == 0);
        CHECK_EQ(d->total, n->total);
        for (uint32_t i = 0; level && i < n->n; i++) {
            CHECK(cairn_addr_equal(&d->kids[i].addr, &n->kids[i].addr));
            CHECK_EQ(d->kids[i].count, n->kids[i].count);
            CHECK(d->kids[i].node == NULL);
        }
        CHECK_OK(decode_roundtrip((const uint8_t *)b.ptr, b.len));
        cairn_node_unref(d);
        cairn_node_unref(n);
    }
    cairn_buf_dispose(&b);
}

void test_index_codec__prefix_compression_shares_leading_bytes(void)
{
    static const char *const keys[] = { "entity-0001/name", "entity-0001/size", "entity-0002/name" };
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_node *n = make(0, keys, 3);
    encode(&b, n);
    /* header 3 + (2 + 16) + (2 + "size") + (2 + "2/name"): shared prefixes are not repeated */
    CHECK_EQ(b.len, 3 + 18 + 6 + 8);
    cairn_node_unref(n);
    cairn_buf_dispose(&b);
}

/* Decodes hand-made bytes (and checks the canonical round trip). */
static int leaf(const char *bytes, size_t len)
{
    return decode_roundtrip((const uint8_t *)bytes, len);
}

void test_index_codec__every_broken_rule_is_corrupt(void)
{
    /* good: keys "a", "ab" */
    CHECK_OK(leaf("\x01\x00\x02" "\x00\x01" "a" "\x01\x01" "b", 9));
    CHECK_ERR(leaf("", 0), CAIRN_ECORRUPT);
    CHECK_ERR(leaf("\x02\x00\x01\x00\x01" "a", 6), CAIRN_ECORRUPT);            /* version */
    CHECK_ERR(leaf("\x01\x20\x01\x00\x01" "a", 6), CAIRN_ECORRUPT);            /* level 32 */
    CHECK_ERR(leaf("\x01\x00\x00", 3), CAIRN_ECORRUPT);                        /* no entries */
    CHECK_ERR(leaf("\x01\x00\x05\x00\x01" "a", 6), CAIRN_ECORRUPT);            /* more entries than bytes */
    CHECK_ERR(leaf("\x01\x00\x01\x00\x01" "ab", 7), CAIRN_ECORRUPT);           /* trailing byte */
    CHECK_ERR(leaf("\x01\x00\x01\x00\x02" "a", 6), CAIRN_ECORRUPT);            /* suffix past the end */
    CHECK_ERR(leaf("\x01\x00\x01\x01\x01" "a", 6), CAIRN_ECORRUPT);            /* first shares */
    CHECK_ERR(leaf("\x01\x00\x02\x00\x01" "a" "\x02\x01" "b", 9), CAIRN_ECORRUPT);  /* shares too much */
    CHECK_ERR(leaf("\x01\x00\x02\x00\x01" "a" "\x01\x00", 8), CAIRN_ECORRUPT);      /* duplicate "a" */
    CHECK_ERR(leaf("\x01\x00\x02\x00\x01" "b" "\x00\x01" "a", 9), CAIRN_ECORRUPT);  /* decreasing */
    CHECK_ERR(leaf("\x01\x00\x02\x00\x01" "a" "\x00\x01" "a", 9), CAIRN_ECORRUPT);  /* duplicate, unshared */
    CHECK_ERR(leaf("\x01\x00\x02\x00\x02" "ab" "\x00\x02" "ac", 11), CAIRN_ECORRUPT); /* shared not the longest */
    CHECK_OK(leaf("\x01\x00\x02\x00\x02" "ab" "\x01\x01" "c", 10));
    CHECK_ERR(leaf("\x01\x00\x01\x80\x00\x01" "a", 7), CAIRN_ECORRUPT);        /* overlong varint */
    CHECK_ERR(leaf("\x01\x00\x81\x00\x00\x01" "a", 7), CAIRN_ECORRUPT);        /* overlong count */
    /* branch: key, 16-byte address, count >= 1, sum within int64 */
    {
        uint8_t b[64] = { 1, 1, 2, 0, 1, 'a' };
        size_t at = 6;
        memset(b + at, 0x11, 16);
        at += 16;
        b[at++] = 5;
        b[at++] = 1;
        b[at++] = 1;
        b[at++] = 'b';
        memset(b + at, 0x22, 16);
        at += 16;
        b[at++] = 7;
        CHECK_OK(decode_roundtrip(b, at));
        b[at - 1] = 0;
        CHECK_ERR(decode_roundtrip(b, at), CAIRN_ECORRUPT);  /* empty subtree */
        CHECK_ERR(decode_roundtrip(b, at - 1), CAIRN_ECORRUPT);
        CHECK_ERR(decode_roundtrip(b, at - 10), CAIRN_ECORRUPT);
        /* two counts of 2^62 + 2^62 overflow int64 */
        {
            uint8_t c[64];
            size_t k = 0;
            memcpy(c, b, 22);
            k = 22;
            k += cairn_varint_put(c + k, (uint64_t)1 << 62);
            c[k++] = 1;
            c[k++] = 1;
            c[k++] = 'b';
            memset(c + k, 0x22, 16);
            k += 16;
            k += cairn_varint_put(c + k, (uint64_t)1 << 62);
            CHECK_ERR(decode_roundtrip(c, k), CAIRN_ECORRUPT);
        }
    }
}

void test_index_codec__size_limits_hold(void)
{
    /* a 65537-byte key is refused; a node expanding past 4 MiB of keys too */
    size_t len = 3 + 2 + 3 + 65537;
    uint8_t *b = calloc(1, 200000);
    size_t at = 3;
    b[0] = 1;
    b[2] = 1;
    b[at++] = 0;
    at += cairn_varint_put(b + at, 65537);
    memset(b + at, 'x', 65537);
    at += 65537;
    (void)len;
    CHECK_ERR(decode_roundtrip(b, at), CAIRN_ECORRUPT);
    /* 1000 keys of 65536 bytes, each sharing 65535 with the one before: tiny
     * encoding, 64 MiB decoded */
    at = 2;
    at += cairn_varint_put(b + at, 1000);
    b[at++] = 0;
    at += cairn_varint_put(b + at, 65536);
    memset(b + at, 'a', 65536);
    at += 65536;
    for (int i = 1; i < 1000; i++) {
        at += cairn_varint_put(b + at, 65535);
        b[at++] = 1;
        b[at++] = (uint8_t)('a' + 1 + i % 20);
    }
    CHECK_ERR(decode_roundtrip(b, at), CAIRN_ECORRUPT);
    free(b);
}

/* Every truncation and random corruption of real nodes either decodes to a
 * node that encodes to the same bytes, or is CAIRN_ECORRUPT; never a crash. */
void test_index_codec__truncations_and_bit_flips_never_crash(void)
{
    idx_env e;
    cairn_btree t;
    cairn_btree_transient *tt;
    cairn_buf b = CAIRN_BUF_INIT;
    long corrupt = 0, fine = 0;
    idx_env_open(&e, 512, 1 << 20);
    cairn_btree_init(&t, e.cache, &e.opts);
    CHECK_OK(cairn_btree_transient_new(&tt, &t));
    for (int i = 0; i < 400; i++) {
        uint8_t k[24];
        size_t len = 1 + (size_t)test_rand_below(20);
        for (size_t j = 0; j < len; j++)
            k[j] = (uint8_t)("ab\x00\xff"[test_rand_below(4)]);
        CHECK(cairn_btree_transient_insert(tt, k, len) >= 0);
    }
    for (int round = 0; round < 2; round++) {
        cairn_node *n = cairn_btree_transient_tree(tt)->root;
        if (round == 1) {
            CHECK_OK(cairn_node_child(&n, e.cache, n, 0));
            cairn_node_unref(n);  /* the root keeps it alive */
        }
        encode(&b, n);
        for (size_t cut = 0; cut < b.len; cut++)
            CHECK_ERR(decode_roundtrip((const uint8_t *)b.ptr, cut), CAIRN_ECORRUPT);
        for (int f = 0; f < 20000; f++) {
            uint8_t *copy = malloc(b.len);
            int rc;
            memcpy(copy, b.ptr, b.len);
            for (int flips = 1 + (int)test_rand_below(3); flips > 0; flips--)
                copy[test_rand_below(b.len)] ^= (uint8_t)(1u << test_rand_below(8));
            rc = decode_roundtrip(copy, b.len);
            CHECK(rc == 0 || rc == CAIRN_ECORRUPT);
            rc == 0 ? fine++ : corrupt++;
            free(copy);
        }
    }
    CHECK(corrupt > 1000);
    printf("bit flips: %ld refused, %ld decoded to other canonical nodes\n", corrupt, fine);
    cairn_buf_dispose(&b);
    cairn_btree_transient_free(tt);
    cairn_btree_dispose(&t);
    idx_env_close(&e);
}
