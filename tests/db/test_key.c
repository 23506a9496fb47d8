/* src/db/key: datom key encoding keeps value order and round-trips. */
#include <math.h>

#include "test.h"
#include "base/alloc.h"
#include "db/key.h"
#include "edn/value.h"

static cairn_buf enc(cairn_val v)
{
    cairn_buf b = CAIRN_BUF_INIT;
    int rc = cairn_key_put_value(&b, v);
    if (rc != 0)
        test__fail(__FILE__, __LINE__, "encode failed: %d", rc);
    return b;
}

static int cmp_enc(cairn_val a, cairn_val b)
{
    cairn_buf x = enc(a), y = enc(b);
    int c = memcmp(x.ptr, y.ptr, CAIRN_MIN(x.len, y.len));
    if (!c)
        c = (x.len > y.len) - (x.len < y.len);
    cairn_buf_dispose(&x);
    cairn_buf_dispose(&y);
    return (c > 0) - (c < 0);
}

static void check_round_trip(cairn_val v)
{
    cairn_buf b = enc(v);
    cairn_val back;
    CHECK_EQ(cairn_key_value_len((uint8_t *)b.ptr, b.len), b.len);
    CHECK_OK(cairn_key_get_value(&back, (uint8_t *)b.ptr, b.len));
    CHECK(cairn_equal(v, back));
    CHECK_EQ(cairn_type_of(back), cairn_type_of(v) == CAIRN_LIST ? CAIRN_VECTOR : cairn_type_of(v));
    cairn_release(back);
    cairn_buf_dispose(&b);
}

void test_db_key__ints_encode_in_numeric_order_with_minimal_length(void)
{
    int64_t edges[] = { INT64_MIN, INT64_MIN + 1, -4294967297LL, -4294967296LL, -65537, -65536, -32769, -32768,
                        -257, -256, -255, -129, -128, -127, -2, -1, 0, 1, 127, 128, 255, 256, 65535, 65536,
                        4294967295LL, 4294967296LL, INT64_MAX - 1, INT64_MAX };
    size_t n = CAIRN_ARRAY_LEN(edges);
    for (size_t i = 0; i < n; i++) {
        check_round_trip(cairn_int(edges[i]));
        for (size_t j = 0; j < n; j++)
            CHECK_MSG(cmp_enc(cairn_int(edges[i]), cairn_int(edges[j])) == (i > j) - (i < j),
                      "order of %lld vs %lld", (long long)edges[i], (long long)edges[j]);
    }
    for (int k = 0; k < 100000; k++) {
        int64_t a = (int64_t)test_rand() >> test_rand_below(64), b = (int64_t)test_rand() >> test_rand_below(64);
        CHECK(cmp_enc(cairn_int(a), cairn_int(b)) == (a > b) - (a < b));
    }
    {
        cairn_buf b = enc(cairn_int(5));
        CHECK_EQ(b.len, 2);
        cairn_buf_dispose(&b);
    }
}

void test_db_key__doubles_floats_and_instants_keep_order(void)
{
    double ds[] = { -INFINITY, -1e300, -2.5, -1.0, -1e-300, 0.0, 1e-300, 0.5, 1.0, 3.0, 1e300, INFINITY };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ds); i++) {
        check_round_trip(cairn_double(ds[i]));
        check_round_trip(cairn_float((float)ds[i]));
        for (size_t j = 0; j < CAIRN_ARRAY_LEN(ds); j++) {
            CHECK(cmp_enc(cairn_double(ds[i]), cairn_double(ds[j])) == (i > j) - (i < j));
            if ((float)ds[i] != (float)ds[j])
                CHECK(cmp_enc(cairn_float((float)ds[i]), cairn_float((float)ds[j])) == (i > j) - (i < j));
        }
    }
    CHECK_EQ(cmp_enc(cairn_double(-0.0), cairn_double(0.0)), 0);
    CHECK(cmp_enc(cairn_inst(-5), cairn_inst(3)) < 0);
    check_round_trip(cairn_inst(-1));
    check_round_trip(cairn_inst(1700000000000LL));
}

static cairn_val mk(cairn_type t, const char *s, size_t n)
{
    cairn_val v;
    int rc = t == CAIRN_STRING ? cairn_string(&v, s, n) : t == CAIRN_KEYWORD ? cairn_keyword(&v, s, n)
           : t == CAIRN_SYMBOL ? cairn_symbol(&v, s, n) : cairn_bytes(&v, s, n);
    if (rc)
        test__fail(__FILE__, __LINE__, "mk %s", s);
    return v;
}

void test_db_key__strings_with_nul_and_prefixes_keep_byte_order(void)
{
    const char *ss[] = { "", "\0", "\0\0", "a", "a\0", "a\0b", "ab", "b", "\xc3\xa9" };
    size_t lens[] = { 0, 1, 2, 1, 2, 3, 2, 1, 2 };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ss); i++) {
        cairn_val a = mk(CAIRN_STRING, ss[i], lens[i]);
        check_round_trip(a);
        for (size_t j = 0; j < CAIRN_ARRAY_LEN(ss); j++) {
            cairn_val b = mk(CAIRN_STRING, ss[j], lens[j]);
            CHECK(cmp_enc(a, b) == cairn_compare(a, b));
            cairn_release(b);
        }
        cairn_release(a);
    }
}

void test_db_key__keywords_order_like_clojure_namespace_first(void)
{
    const char *ks[] = { "a", "b", "zz", "a/b", "a.b/a", "a/z", "ab/a" };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ks); i++) {
        cairn_val a = mk(CAIRN_KEYWORD, ks[i], strlen(ks[i])), s = mk(CAIRN_SYMBOL, ks[i], strlen(ks[i]));
        check_round_trip(a);
        check_round_trip(s);
        for (size_t j = 0; j < CAIRN_ARRAY_LEN(ks); j++) {
            cairn_val b = mk(CAIRN_KEYWORD, ks[j], strlen(ks[j]));
            CHECK_MSG(cmp_enc(a, b) == cairn_compare(a, b), "%s vs %s", ks[i], ks[j]);
        }
    }
}

void test_db_key__uuids_tuples_bytes_and_scalars_round_trip(void)
{
    uint8_t u1[16] = { 0x00, 1 }, u2[16] = { 0x80, 1 };
    cairn_val a, b, t, big, dec, r;
    CHECK_OK(cairn_uuid(&a, u1));
    CHECK_OK(cairn_uuid(&b, u2));
    check_round_trip(a);
    CHECK(cmp_enc(a, b) == cairn_compare(a, b));
    CHECK(cairn_compare(a, b) > 0);  /* Java: 0x80... is a negative long */
    CHECK_OK(cairn_vector_new(&t, 3));
    CHECK_OK(cairn_coll_push(&t, cairn_int(-3)));
    CHECK_OK(cairn_coll_push(&t, cairn_nil()));
    CHECK_OK(cairn_coll_push_take(&t, mk(CAIRN_STRING, "x\0y", 3)));
    CHECK_OK(cairn_coll_push(&t, cairn_bool(1)));
    check_round_trip(t);
    CHECK_OK(cairn_bigint(&big, "-123456789012345678901234567890", 31));
    check_round_trip(big);
    CHECK_OK(cairn_bigdec(&dec, "1.50", 4));
    check_round_trip(dec);
    CHECK_OK(cairn_ratio(&r, -15, 2));
    check_round_trip(r);
    check_round_trip(cairn_char(0x1f600));
    check_round_trip(cairn_bool(0));
    {
        cairn_val by = mk(CAIRN_BYTES, "\0\xff\0", 3);
        check_round_trip(by);
        cairn_release(by);
    }
    {
        cairn_buf bb = CAIRN_BUF_INIT;
        CHECK_ERR(cairn_key_put_value(&bb, cairn_nil()), CAIRN_EINVALID);
        cairn_buf_dispose(&bb);
    }
    cairn_release(a);
    cairn_release(b);
    cairn_release(t);
    cairn_release(big);
    cairn_release(dec);
    cairn_release(r);
}

void test_db_key__datom_keys_split_back_for_every_index(void)
{
    cairn_buf v = enc(cairn_int(42)), k = CAIRN_BUF_INIT;
    for (int kind = 0; kind < 3; kind++) {
        for (int hist = 0; hist < 2; hist++) {
            cairn_key_parts p;
            cairn_buf_clear(&k);
            CHECK_OK(cairn_key_datom(&k, (cairn_index_kind)kind, 17, 5, (uint8_t *)v.ptr, v.len, 536870913, hist, 0));
            CHECK_OK(cairn_key_split(&p, (cairn_index_kind)kind, hist, (uint8_t *)k.ptr, k.len));
            CHECK_EQ(p.e, 17);
            CHECK_EQ(p.a, 5);
            CHECK_EQ(p.tx, 536870913);
            CHECK_MEM(p.v, p.v_len, v.ptr, v.len);
            CHECK_EQ(p.added, hist ? 0 : 1);
            CHECK_ERR(cairn_key_split(&p, (cairn_index_kind)kind, hist, (uint8_t *)k.ptr, k.len - 1), CAIRN_ECORRUPT);
        }
    }
    cairn_buf_dispose(&v);
    cairn_buf_dispose(&k);
}

void test_db_key__corrupt_values_are_rejected_not_read_past(void)
{
    uint8_t bad[][4] = { { 0x31, 'a', 0x00, 0x07 }, { 0x20, 1, 2, 3 }, { 0x99, 0, 0, 0 }, { 0x32, 0x05, 'a', 0 } };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad); i++) {
        cairn_val v;
        CHECK_ERR(cairn_key_get_value(&v, bad[i], 4), CAIRN_ECORRUPT);
    }
    for (int t = 0; t < 20000; t++) {
        uint8_t buf[12];
        size_t n = 1 + test_rand_below(sizeof buf);
        cairn_val v;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)test_rand();
        if (cairn_key_get_value(&v, buf, n) == 0) {
            CHECK(cairn_key_value_len(buf, n) == n);
            cairn_release(v);
        }
    }
}
