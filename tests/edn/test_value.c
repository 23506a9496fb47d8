/* src/edn value model: constructors, collections, equality, order, hashing. */
#include <math.h>

#include "test.h"
#include "base/alloc.h"
#include "edn/value.h"

static cairn_val kw(const char *s)
{
    cairn_val v;
    if (cairn_keyword(&v, s, strlen(s)) != 0)
        test__fail(__FILE__, __LINE__, "keyword %s", s);
    return v;
}

static cairn_val str(const char *s)
{
    cairn_val v;
    if (cairn_string(&v, s, strlen(s)) != 0)
        test__fail(__FILE__, __LINE__, "string %s", s);
    return v;
}

static cairn_val big(cairn_type t, const char *s)
{
    cairn_val v;
    int rc = t == CAIRN_BIGINT ? cairn_bigint(&v, s, strlen(s)) : cairn_bigdec(&v, s, strlen(s));
    if (rc != 0)
        test__fail(__FILE__, __LINE__, "big %s: %d", s, rc);
    return v;
}

void test_edn_value__keywords_are_interned_with_namespace_split(void)
{
    cairn_val a = kw("db/ident"), b = kw("db/ident"), c = kw("ident");
    size_t n;
    CHECK(a.u_.p == b.u_.p);
    CHECK(cairn_equal(a, b));
    CHECK(!cairn_equal(a, c));
    CHECK_STR(cairn_namespace_get(a, &n), "db/ident");
    CHECK_EQ(n, 2);
    CHECK_STR(cairn_name_get(a, &n), "ident");
    CHECK(cairn_namespace_get(c, NULL) == NULL);
    {
        cairn_val s;
        CHECK_OK(cairn_symbol(&s, "db/ident", 8));
        CHECK(!cairn_equal(a, s));  /* keyword != symbol */
        CHECK_OK(cairn_symbol(&s, "/", 1));
        CHECK(cairn_namespace_get(s, NULL) == NULL);
    }
    CHECK_ERR(cairn_keyword(&a, "", 0), CAIRN_EINVALID);
}

void test_edn_value__static_idents_equal_interned_ones(void)
{
    static cairn_ident db_ident = CAIRN_IDENT_STATIC(CAIRN_KEYWORD, 2, "db/ident");
    cairn_val s = cairn_keyword_static(&db_ident), i = kw("db/ident");
    CHECK(cairn_equal(s, i));
    CHECK(cairn_hash(s) == cairn_hash(i));
    CHECK_EQ(cairn_compare(s, i), 0);
    CHECK(cairn_val_is_kw(s, "db/ident"));
    CHECK_STR(cairn_name_get(s, NULL), "ident");
}

void test_edn_value__numbers_follow_clojure_equality(void)
{
    cairn_val one = cairn_int(1), oned = cairn_double(1.0), onef = cairn_float(1.0f);
    cairn_val oneN = big(CAIRN_BIGINT, "+0001"), d15 = big(CAIRN_BIGDEC, "1.5"), d150 = big(CAIRN_BIGDEC, "1.50");
    cairn_val half, r;
    CHECK(!cairn_equal(one, oned));
    CHECK(cairn_equal(oned, onef));
    CHECK(cairn_equal(one, oneN));
    CHECK(cairn_hash(one) == cairn_hash(oneN));
    CHECK(cairn_equal(d15, d150));
    CHECK(cairn_hash(d15) == cairn_hash(d150));
    CHECK(!cairn_equal(d15, cairn_double(1.5)));
    CHECK_OK(cairn_ratio(&half, 15, 30));
    CHECK_EQ(cairn_type_of(half), CAIRN_RATIO);
    CHECK(!cairn_equal(half, cairn_double(0.5)));
    CHECK_OK(cairn_ratio(&r, 30, -15));
    CHECK_EQ(cairn_type_of(r), CAIRN_INT);
    CHECK_EQ(cairn_int_value(r), -2);
    CHECK_ERR(cairn_ratio(&r, 1, 0), CAIRN_EINVALID);
    CHECK(cairn_equal(cairn_double(0.0), cairn_double(-0.0)));
    CHECK(cairn_hash(cairn_double(0.0)) == cairn_hash(cairn_double(-0.0)));
    CHECK(cairn_equal(cairn_double(NAN), cairn_double(NAN)));
    cairn_release(oneN);
    cairn_release(d15);
    cairn_release(d150);
    cairn_release(half);
}

void test_edn_value__numbers_order_by_value_across_types(void)
{
    cairn_val half, big_pos = big(CAIRN_BIGINT, "123456789012345678901234567890");
    cairn_val big_neg = big(CAIRN_BIGINT, "-123456789012345678901234567890");
    cairn_val dec = big(CAIRN_BIGDEC, "2.25"), dec_e = big(CAIRN_BIGDEC, "1e3");
    CHECK_OK(cairn_ratio(&half, 1, 2));
    CHECK(cairn_compare(cairn_int(0), half) < 0);
    CHECK(cairn_compare(half, cairn_int(1)) < 0);
    CHECK(cairn_compare(cairn_double(0.75), half) > 0);
    CHECK(cairn_compare(cairn_int(3), dec) > 0);
    CHECK(cairn_compare(dec_e, cairn_int(999)) > 0);
    CHECK(cairn_compare(dec_e, cairn_int(1001)) < 0);
    CHECK(cairn_compare(big_pos, cairn_int(INT64_MAX)) > 0);
    CHECK(cairn_compare(big_neg, cairn_int(INT64_MIN)) < 0);
    CHECK(cairn_compare(cairn_int(INT64_MAX), cairn_double(9.3e18)) < 0);
    CHECK(cairn_compare(cairn_int(INT64_MAX - 1), cairn_int(INT64_MAX)) < 0);
    CHECK(cairn_compare(cairn_double(INFINITY), cairn_double(NAN)) < 0);
    CHECK(cairn_compare(cairn_int(1), cairn_double(1.0)) < 0);  /* tie: integer first */
    CHECK(cairn_compare(cairn_double(1.0), cairn_int(1)) > 0);
    CHECK(cairn_compare(cairn_int(5), kw("a")) < 0);            /* numbers before keywords */
    cairn_release(half);
    cairn_release(big_pos);
    cairn_release(big_neg);
    cairn_release(dec);
    cairn_release(dec_e);
}

void test_edn_value__bigdec_text_is_javas_tostring(void)
{
    struct { const char *in, *out; } cases[] = {
        { "1.50", "1.50" }, { "+1.5", "1.5" }, { "1e3", "1E+3" }, { "-0.000001", "-0.000001" },
        { "0.0000001", "1E-7" }, { "123.456e2", "12345.6" }, { "1.0e5", "1.0E+5" }, { "0.00", "0.00" },
        { "100", "100" }, { "-0", "0" }, { "12e-10", "1.2E-9" }, { "000.5", "0.5" },
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(cases); i++) {
        cairn_val v = big(CAIRN_BIGDEC, cases[i].in);
        CHECK_STR(cairn_str_get(v, NULL), cases[i].out);
        cairn_release(v);
    }
    {
        cairn_val v;
        CHECK_ERR(cairn_bigdec(&v, "1.2.3", 5), CAIRN_EINVALID);
        CHECK_ERR(cairn_bigdec(&v, "e5", 2), CAIRN_EINVALID);
        CHECK_ERR(cairn_bigint(&v, "12a", 3), CAIRN_EINVALID);
        CHECK_ERR(cairn_bigint(&v, "-", 1), CAIRN_EINVALID);
    }
}

void test_edn_value__strings_must_be_valid_utf8(void)
{
    cairn_val v;
    CHECK_ERR(cairn_string(&v, "a\xff", 2), CAIRN_EINVALID);
    CHECK_OK(cairn_string(&v, "a\0b", 3));
    {
        size_t n;
        const char *p = cairn_str_get(v, &n);
        CHECK_EQ(n, 3);
        CHECK(p[1] == 0 && p[2] == 'b');
    }
    cairn_release(v);
}

void test_edn_value__sets_refuse_duplicates_and_index_past_scan_limit(void)
{
    cairn_val s;
    CHECK_OK(cairn_set_new(&s, 0));
    for (int i = 0; i < 1000; i++)
        CHECK_OK(cairn_coll_push(&s, cairn_int(i)));
    for (int i = 0; i < 1000; i += 37)
        CHECK_ERR(cairn_coll_push(&s, cairn_int(i)), CAIRN_EEXISTS);
    CHECK_EQ(cairn_count(s), 1000);
    CHECK(cairn_set_contains(s, cairn_int(999)));
    CHECK(!cairn_set_contains(s, cairn_int(1000)));
    CHECK(!cairn_set_contains(s, cairn_double(5.0)));
    cairn_release(s);
}

void test_edn_value__maps_put_refuses_assoc_replaces(void)
{
    cairn_val m, out;
    CHECK_OK(cairn_map_new(&m, 0));
    for (int i = 0; i < 50; i++) {
        int rc = cairn_map_put_take(&m, kw(i % 2 ? "a" : "b"), cairn_int(i));
        CHECK_EQ(rc, i < 2 ? 0 : CAIRN_EEXISTS);
    }
    CHECK_EQ(cairn_count(m), 2);
    CHECK_ERR(cairn_map_put(&m, kw("a"), cairn_int(7)), CAIRN_EEXISTS);
    CHECK_OK(cairn_map_assoc(&m, kw("a"), cairn_int(7)));
    CHECK(cairn_map_get(&out, m, kw("a")));
    CHECK_EQ(cairn_int_value(out), 7);
    CHECK(!cairn_map_get(&out, m, kw("zz")));
    CHECK(cairn_equal(cairn_map_key_get(m, 0), kw("b")));  /* insertion order */
    cairn_release(m);
}

void test_edn_value__push_on_shared_collection_copies(void)
{
    cairn_val a, b;
    CHECK_OK(cairn_vector_new(&a, 1));
    CHECK_OK(cairn_coll_push_take(&a, str("x")));
    b = cairn_retain(a);
    CHECK_OK(cairn_coll_push(&b, cairn_int(2)));
    CHECK(a.u_.p != b.u_.p);
    CHECK_EQ(cairn_count(a), 1);
    CHECK_EQ(cairn_count(b), 2);
    cairn_release(a);
    {
        cairn_val x = str("x");
        CHECK(cairn_equal(cairn_coll_get(b, 0), x));
        cairn_release(x);
    }
    cairn_release(b);
}

void test_edn_value__list_equals_vector_and_maps_ignore_order(void)
{
    cairn_val l, v, m1, m2, s1, s2;
    CHECK_OK(cairn_list_new(&l, 0));
    CHECK_OK(cairn_vector_new(&v, 0));
    CHECK_OK(cairn_map_new(&m1, 0));
    CHECK_OK(cairn_map_new(&m2, 0));
    CHECK_OK(cairn_set_new(&s1, 0));
    CHECK_OK(cairn_set_new(&s2, 0));
    for (int i = 0; i < 20; i++) {
        CHECK_OK(cairn_coll_push(&l, cairn_int(i)));
        CHECK_OK(cairn_coll_push(&v, cairn_int(i)));
        CHECK_OK(cairn_map_put(&m1, cairn_int(i), cairn_int(i * i)));
        CHECK_OK(cairn_map_put(&m2, cairn_int(19 - i), cairn_int((19 - i) * (19 - i))));
        CHECK_OK(cairn_coll_push(&s1, cairn_int(i)));
        CHECK_OK(cairn_coll_push(&s2, cairn_int(19 - i)));
    }
    CHECK(cairn_equal(l, v));
    CHECK(cairn_hash(l) == cairn_hash(v));
    CHECK(cairn_equal(m1, m2));
    CHECK(cairn_hash(m1) == cairn_hash(m2));
    CHECK_EQ(cairn_compare(m1, m2), 0);
    CHECK(cairn_equal(s1, s2));
    CHECK_EQ(cairn_compare(s1, s2), 0);
    CHECK_OK(cairn_map_assoc(&m2, cairn_int(3), cairn_int(0)));
    CHECK(!cairn_equal(m1, m2));
    CHECK(cairn_compare(m1, m2) == -cairn_compare(m2, m1));
    CHECK(cairn_compare(m1, m2) != 0);
    cairn_release(l);
    cairn_release(v);
    cairn_release(m1);
    cairn_release(m2);
    cairn_release(s1);
    cairn_release(s2);
}

void test_edn_value__nesting_past_max_depth_is_refused(void)
{
    cairn_val v;
    int rc = 0;
    CHECK_OK(cairn_vector_new(&v, 1));
    for (int i = 1; i < CAIRN_MAX_DEPTH + 5 && rc == 0; i++) {
        cairn_val outer;
        CHECK_OK(cairn_vector_new(&outer, 1));
        rc = cairn_coll_push_take(&outer, v);
        v = outer;
        if (rc) {
            CHECK_EQ(rc, CAIRN_ELIMIT);
            CHECK_EQ(i, CAIRN_MAX_DEPTH);
        }
    }
    CHECK_EQ(rc, CAIRN_ELIMIT);
    cairn_release(v);
}

/* Random values for the order-law test. */
static cairn_val random_value(int depth)
{
    cairn_val v;
    switch (test_rand_below(depth > 2 ? 9 : 12)) {
    case 0: return cairn_nil();
    case 1: return cairn_bool((int)test_rand_below(2));
    case 2: return cairn_int((int64_t)test_rand_below(7) - 3);
    case 3: return cairn_double((double)test_rand_below(7) / 2 - 1.5);
    case 4: {
        char s[3] = { (char)('a' + test_rand_below(3)), (char)('a' + test_rand_below(3)), 0 };
        return str(s);
    }
    case 5: {
        char s[2] = { (char)('a' + test_rand_below(3)), 0 };
        return kw(s);
    }
    case 6: CHECK_OK(cairn_ratio(&v, (int64_t)test_rand_below(5) + 1, 3)); return v;
    case 7: return big(CAIRN_BIGDEC, test_rand_below(2) ? "0.5" : "1.50");
    case 8: return cairn_inst((int64_t)test_rand_below(3));
    default: {
        int kind = (int)test_rand_below(3);
        size_t n = test_rand_below(3);
        if (kind == 0) CHECK_OK(cairn_vector_new(&v, 0));
        else if (kind == 1) CHECK_OK(cairn_set_new(&v, 0));
        else CHECK_OK(cairn_map_new(&v, 0));
        for (size_t i = 0; i < n; i++) {
            if (kind == 2) {
                cairn_val k = random_value(depth + 1), x = random_value(depth + 1);
                cairn_map_assoc(&v, k, x);
                cairn_release(k);
                cairn_release(x);
            } else {
                int rc = cairn_coll_push_take(&v, random_value(depth + 1));
                CHECK(rc == 0 || rc == CAIRN_EEXISTS);
            }
        }
        return v;
    }
    }
}

void test_edn_value__compare_is_a_total_order_consistent_with_equal_and_hash(void)
{
    enum { N = 300 };
    cairn_val vs[N];
    for (int i = 0; i < N; i++)
        vs[i] = random_value(0);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            int c = cairn_compare(vs[i], vs[j]), e = cairn_equal(vs[i], vs[j]);
            CHECK_MSG((c == 0) == e, "compare/equal disagree at %d,%d", i, j);
            CHECK(c == -cairn_compare(vs[j], vs[i]) || (c > 0 && cairn_compare(vs[j], vs[i]) < 0) ||
                  (c < 0 && cairn_compare(vs[j], vs[i]) > 0));
            if (e)
                CHECK(cairn_hash(vs[i]) == cairn_hash(vs[j]));
        }
    }
    /* transitivity on random triples */
    for (int t = 0; t < 20000; t++) {
        cairn_val a = vs[test_rand_below(N)], b = vs[test_rand_below(N)], c = vs[test_rand_below(N)];
        if (cairn_compare(a, b) <= 0 && cairn_compare(b, c) <= 0)
            CHECK(cairn_compare(a, c) <= 0);
    }
    for (int i = 0; i < N; i++)
        cairn_release(vs[i]);
}

void test_edn_value__building_under_oom_never_leaks(void)
{
    /* Fail the Nth allocation for N = 1, 2, ... until building succeeds. */
    for (uint64_t n = 1;; n++) {
        int64_t live = cairn__alloc_live();
        cairn_val m;
        int rc;
        cairn__alloc_fail_at(n, 0);
        rc = cairn_map_new(&m, 0);
        for (int i = 0; rc == 0 && i < 40; i++) {
            cairn_val s;
            rc = cairn_string(&s, "value", 5);
            if (rc == 0)
                rc = cairn_map_put_take(&m, cairn_int(i), s);
        }
        if (rc != CAIRN_ENOMEM && rc != 0)
            CHECK_MSG(0, "unexpected status %d", rc);
        if (cairn_type_of(m) == CAIRN_MAP || rc == 0)
            cairn_release(m);
        cairn__alloc_fail_at(0, 0);
        CHECK_EQ(cairn__alloc_live(), live);
        if (rc == 0)
            break;
        CHECK(n < 1000);
    }
}
