/* Round trips: random values of every type through EDN and JSON, and the
 * whole conformance corpus through print -> read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "base/alloc.h"
#include "edn/edn.h"
#include "edn/value.h"

/* ---- random values ---------------------------------------------------------- */

static const char *const pieces[] = {
    "a", "b", "Z", "0", "7", " ", "\"", "\\", "\n", "\t", "\r", "\b", "\f", "\x01", "\x7f",
    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "!", "/", ":", "#", ",", ";", "{", "]",
};

static void rand_text(char *out, size_t *len, size_t max_pieces, int allow_nul)
{
    size_t n = test_rand_below(max_pieces + 1), k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = pieces[test_rand_below(CAIRN_ARRAY_LEN(pieces))];
        if (allow_nul && test_rand_below(20) == 0) {
            out[k++] = 0;
            continue;
        }
        memcpy(out + k, p, strlen(p));
        k += strlen(p);
    }
    *len = k;
}

static void rand_name_part(char *out, size_t *len, int first_alpha)
{
    static const char first[] = "abcxyzABQ*+!-_?$%&=<>.";
    static const char rest[] = "abcxyzABQ0123456789*+!-_?$%&=<>.:#'";
    size_t n = 1 + test_rand_below(6);
    out[0] = first_alpha ? "abcxyzQ"[test_rand_below(7)] : first[test_rand_below(sizeof first - 1)];
    for (size_t i = 1; i < n; i++)
        out[i] = rest[test_rand_below(sizeof rest - 1)];
    if (test_rand_below(8) == 0 && n >= 2 && n < 6)
        memcpy(out + n - 1, "\xc3\xa9", 2), n++;
    *len = n;
}

/* A random valid keyword/symbol name (EDN-readable as the same ident). */
static void rand_name(char *out, size_t *len, cairn_type kind, int first_alpha)
{
    for (;;) {
        size_t a, b;
        rand_name_part(out, &a, first_alpha);
        *len = a;
        if (test_rand_below(3) == 0) {
            out[a] = '/';
            rand_name_part(out + a + 1, &b, 0);
            *len = a + 1 + b;
        }
        if (cairn_edn__name_ok(kind, out, *len))
            return;
    }
}

static cairn_val rand_double(void)
{
    switch (test_rand_below(6)) {
    case 0: {
        uint64_t bits = test_rand();
        double d;
        memcpy(&d, &bits, sizeof d);
        return cairn_double(d);
    }
    case 1: {
        static const double special[] = { 0.0, -0.0, INFINITY, -INFINITY, NAN, 4.9e-324, 1e7, 1e-3,
                                          9999999.999999998, 0.1, 1.7976931348623157e308 };
        return cairn_double(special[test_rand_below(CAIRN_ARRAY_LEN(special))]);
    }
    default:
        return cairn_double((double)((int64_t)test_rand_below(2000001) - 1000000) /
                            pow(10, (double)test_rand_below(12)));
    }
}

static cairn_val rand_digits_val(int dec)
{
    char buf[64];
    size_t n = 0, k = 1 + test_rand_below(30);
    cairn_val v;
    if (test_rand_below(2))
        buf[n++] = '-';
    for (size_t i = 0; i < k; i++)
        buf[n++] = (char)('0' + test_rand_below(10));
    if (dec && test_rand_below(2))
        n += (size_t)sprintf(buf + n, ".%u", (unsigned)test_rand_below(1000));
    if (dec && test_rand_below(3) == 0)
        n += (size_t)sprintf(buf + n, "e%d", (int)test_rand_below(41) - 20);
    CHECK_OK(dec ? cairn_bigdec(&v, buf, n) : cairn_bigint(&v, buf, n));
    return v;
}

/* json: stay within what JSON carries exactly (docs/values.md). */
static cairn_val rand_value(int depth, int json);

static cairn_val rand_coll(int depth, int json)
{
    static const cairn_type types[] = { CAIRN_LIST, CAIRN_VECTOR, CAIRN_MAP, CAIRN_SET, CAIRN_TAGGED };
    cairn_type t = types[test_rand_below(5)];
    size_t n = test_rand_below(6);
    cairn_val c;
    if (t == CAIRN_TAGGED) {
        char name[32];
        size_t len;
        cairn_val tag, x = rand_value(depth + 1, json);
        do {
            rand_name(name, &len, CAIRN_SYMBOL, 1);
        } while ((len == 4 && (!memcmp(name, "inst", 4) || !memcmp(name, "uuid", 4))) ||
                 (len == 11 && !memcmp(name, "cairn/bytes", 11)) ||
                 (json && len <= 6 && strchr("ksudbr", name[0]) != NULL));
        CHECK_OK(cairn_symbol(&tag, name, len));
        CHECK_OK(cairn_tagged(&c, tag, x));
        cairn_release(x);
        return c;
    }
    CHECK_OK(t == CAIRN_LIST ? cairn_list_new(&c, 0) : t == CAIRN_VECTOR ? cairn_vector_new(&c, 0)
             : t == CAIRN_MAP ? cairn_map_new(&c, 0) : cairn_set_new(&c, 0));
    for (size_t i = 0; i < n; i++) {
        if (t == CAIRN_MAP) {
            cairn_val k, x = rand_value(depth + 1, json);
            if (json) {
                char name[32];
                size_t len;
                rand_name(name, &len, CAIRN_KEYWORD, 0);
                CHECK_OK(cairn_keyword(&k, name, len));
            } else {
                k = rand_value(depth + 1, json);
            }
            int rc = cairn_map_put_take(&c, k, x);
            CHECK(rc == 0 || rc == CAIRN_EEXISTS);
        } else {
            int rc = cairn_coll_push_take(&c, rand_value(depth + 1, json));
            CHECK(rc == 0 || rc == CAIRN_EEXISTS);
        }
    }
    return c;
}

static cairn_val rand_value(int depth, int json)
{
    cairn_val v;
    char text[256];
    size_t len;
    unsigned kind = (unsigned)test_rand_below(depth < 4 ? 20 : 15);
    switch (kind) {
    case 0: return cairn_nil();
    case 1: return cairn_bool((int)test_rand_below(2));
    case 2: return cairn_int((int64_t)test_rand() >> test_rand_below(64));
    case 3: return rand_digits_val(0);
    case 4:
        CHECK_OK(cairn_ratio(&v, (int64_t)test_rand_below(2001) - 1000, 1 + (int64_t)test_rand_below(99)));
        return v;
    case 5: return rand_double();
    case 6:
        if (json)
            return rand_double();
        return rand_digits_val(1);
    case 7:
        if (json)
            return cairn_int(7);
        {
            uint32_t cp = (uint32_t)test_rand_below(0x110000);
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = (uint32_t)test_rand_below(0x80);
            return cairn_char(cp);
        }
    case 8:
        rand_text(text, &len, 12, 1);
        if (json && len && text[0] == '!')
            text[0] = '?';
        CHECK_OK(cairn_string(&v, text, len));
        return v;
    case 9:
    case 10:
        rand_name(text, &len, kind == 9 ? CAIRN_KEYWORD : CAIRN_SYMBOL, 0);
        CHECK_OK(kind == 9 ? cairn_keyword(&v, text, len) : cairn_symbol(&v, text, len));
        return v;
    case 11: {
        uint8_t u[16];
        for (int i = 0; i < 16; i++)
            u[i] = (uint8_t)test_rand();
        CHECK_OK(cairn_uuid(&v, u));
        return v;
    }
    case 12: /* years 0000..9999, the range #inst text covers */
        return cairn_inst((int64_t)test_rand_below(315537897600000ULL) - 62167219200000LL);
    case 13:
        len = test_rand_below(20);
        for (size_t i = 0; i < len; i++)
            text[i] = (char)test_rand();
        CHECK_OK(cairn_bytes(&v, text, len));
        return v;
    case 14:
        CHECK_OK(cairn_keyword(&v, "db/id", 5));
        return v;
    default:
        return rand_coll(depth, json);
    }
}

/* ---- round trips ----------------------------------------------------------------- */

static void check_edn_roundtrip(cairn_val v)
{
    char *s, *s2;
    size_t n, n2;
    cairn_val back;
    cairn_error e = CAIRN_ERROR_INIT;
    CHECK_OK(cairn_edn_print(&s, &n, v));
    CHECK_MSG(cairn_edn_read(&back, s, n, NULL, &e) == 0, "read back %s: %s", s, e.message);
    CHECK_MSG(cairn_equal(v, back), "not equal after EDN round trip: %s", s);
    CHECK_OK(cairn_edn_print(&s2, &n2, back));
    CHECK_MSG(n == n2 && memcmp(s, s2, n) == 0, "printed differently:\n%s\n%s", s, s2);
    cairn_free(s);
    cairn_free(s2);
    cairn_release(back);
}

static void check_json_roundtrip(cairn_val v)
{
    char *s;
    size_t n;
    cairn_val back;
    cairn_error e = CAIRN_ERROR_INIT;
    CHECK_OK(cairn_json_print(&s, &n, v));
    CHECK_MSG(cairn_json_read(&back, s, n, NULL, &e) == 0, "read back %s: %s", s, e.message);
    CHECK_MSG(cairn_equal(v, back), "not equal after JSON round trip: %s", s);
    cairn_free(s);
    cairn_release(back);
}

void test_edn_roundtrip__random_values_survive_edn(void)
{
    long n = 4000 * test_scale();
    for (long i = 0; i < n; i++) {
        cairn_val v = rand_value(0, 0);
        check_edn_roundtrip(v);
        cairn_release(v);
    }
}

void test_edn_roundtrip__random_values_survive_json(void)
{
    long n = 4000 * test_scale();
    for (long i = 0; i < n; i++) {
        cairn_val v = rand_value(0, 1);
        check_json_roundtrip(v);
        check_edn_roundtrip(v);
        cairn_release(v);
    }
}

void test_edn_roundtrip__doubles_and_floats_read_back_exactly(void)
{
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = test_rand();
        double d;
        float f;
        char *s;
        cairn_val v;
        memcpy(&d, &bits, sizeof d);
        if (isnan(d))
            continue;
        CHECK_OK(cairn_edn_print(&s, NULL, cairn_double(d)));
        CHECK_OK(cairn_edn_read(&v, s, strlen(s), NULL, NULL));
        CHECK_MSG(memcmp(&v.u_.d, &d, sizeof d) == 0, "%s", s);
        cairn_free(s);
        /* A float prints its own shortest digits; read as a double they
         * round back to the same float. */
        memcpy(&f, &bits, sizeof f);
        if (isnan(f) || isinf(f))
            continue;
        CHECK_OK(cairn_edn_print(&s, NULL, cairn_float(f)));
        CHECK_OK(cairn_edn_read(&v, s, strlen(s), NULL, NULL));
        CHECK_MSG((float)cairn_double_value(v) == f, "float %s", s);
        CHECK(strlen(s) <= 16);
        cairn_free(s);
    }
}

/* ---- the conformance corpus --------------------------------------------------------- */

void test_edn_roundtrip__conformance_corpus_answers_survive_print_and_read(void)
{
    static const char *files[] = {
        "errors", "pull", "query-agg", "query-basic", "query-logic", "temporal", "tx",
        "random-0", "random-1", "random-2", "random-3", "random-4", "random-5",
    };
    cairn_val expect_kw, consensus_kw;
    size_t cases = 0, answers = 0;
    CHECK_OK(cairn_keyword(&expect_kw, "expect", 6));
    CHECK_OK(cairn_keyword(&consensus_kw, "consensus", 9));
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(files); i++) {
        char path[1024];
        size_t len;
        char *text;
        cairn_val all;
        cairn_error e = CAIRN_ERROR_INIT;
        snprintf(path, sizeof path, "%s/conformance/%s.edn", test_shared_dir(), files[i]);
        text = test_slurp(path, &len);
        CHECK_MSG(text != NULL, "cannot read %s", path);
        CHECK_MSG(cairn_edn_read(&all, text, len, NULL, &e) == 0, "%s: %s", path, e.message);
        CHECK_EQ(cairn_type_of(all), CAIRN_VECTOR);
        for (size_t c = 0; c < cairn_count(all); c++) {
            cairn_val kase = cairn_coll_get(all, c), answer;
            CHECK_EQ(cairn_type_of(kase), CAIRN_MAP);
            cases++;
            if (cairn_map_get(&answer, kase, expect_kw)) {
                check_edn_roundtrip(answer);
                answers++;
            }
            if (cairn_map_get(&answer, kase, consensus_kw)) {
                check_edn_roundtrip(answer);
                answers++;
            }
        }
        check_edn_roundtrip(all);
        cairn_release(all);
        free(text);
    }
    CHECK_EQ(cases, 1048);
    CHECK(answers >= 1048);
}
