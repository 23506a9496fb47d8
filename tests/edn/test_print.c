/* src/edn/print.c: EDN output must be exactly what Clojure's pr-str prints.
 * Every expected string below is the pr-str output of the Clojure form in
 * the comment next to it (Clojure 1.12, JDK 21). */
#include <math.h>

#include "test.h"
#include "base/alloc.h"
#include "edn/edn.h"
#include "edn/value.h"

/* Prints v (consumed) and checks the text. */
#define CHECK_PRINT(v, want) do { \
    cairn_val v_ = (v); char *s_; size_t n_; \
    CHECK_OK(cairn_edn_print(&s_, &n_, v_)); \
    CHECK_STR(s_, want); \
    CHECK_EQ(n_, strlen(want)); \
    cairn_free(s_); cairn_release(v_); \
} while (0)

/* Reads text with the EDN reader (which other tests check) and prints it. */
#define CHECK_REPRINT(text, want) do { \
    cairn_val r_; cairn_error e_ = CAIRN_ERROR_INIT; \
    CHECK_MSG(cairn_edn_read(&r_, text, strlen(text), NULL, &e_) == 0, "read %s: %s", text, e_.message); \
    CHECK_PRINT(r_, want); \
} while (0)

static cairn_val make(int rc, cairn_val v)
{
    CHECK_OK(rc);
    return v;
}

void test_edn_print__doubles_match_java_double_tostring(void)
{
    static const struct { double d; const char *want; } cases[] = {
        { 1.0, "1.0" },                          /* (pr-str 1.0) */
        { 1e7, "1.0E7" },                        /* (pr-str 1e7) */
        { 9999999.0, "9999999.0" },              /* (pr-str 9999999.0) */
        { 0.001, "0.001" },                      /* (pr-str 0.001) */
        { 1.0e-4, "1.0E-4" },                    /* (pr-str 1.0E-4) */
        { 123456789.123, "1.23456789123E8" },    /* (pr-str 123456789.123) */
        { 100.0, "100.0" },                      /* (pr-str 100.0) */
        { -0.0, "-0.0" },                        /* (pr-str -0.0) */
        { 0.0, "0.0" },                          /* (pr-str 0.0) */
        { 0.1, "0.1" },                          /* (pr-str 0.1) */
        { 0.1 + 0.2, "0.30000000000000004" },    /* (pr-str (+ 0.1 0.2)) */
        { 1.82, "1.82" },                        /* (pr-str 1.82) */
        { -1e10, "-1.0E10" },                    /* (pr-str -1e10) */
        { 1.234e-5, "1.234E-5" },                /* (pr-str 1.234e-5) */
        { 1e21, "1.0E21" },                      /* (pr-str 1e21) */
        { 2e23, "2.0E23" },                      /* (pr-str 2e23) */
        { 5.82380173655205, "5.82380173655205" },/* (pr-str 5.82380173655205) */
        { 4.9e-324, "4.9E-324" },                /* (pr-str Double/MIN_VALUE) */
        { 1.7976931348623157e308, "1.7976931348623157E308" }, /* Double/MAX_VALUE */
        { 2.2250738585072014e-308, "2.2250738585072014E-308" }, /* Double/MIN_NORMAL */
        { 1234567.0, "1234567.0" },              /* (pr-str 1234567.0) */
        { 0.00123, "0.00123" },                  /* (pr-str 0.00123) */
        { 3.141592653589793, "3.141592653589793" }, /* (pr-str Math/PI) */
        { 1e-300, "1.0E-300" },                  /* (pr-str 1e-300) */
        { 12345678.9, "1.23456789E7" },          /* (pr-str 12345678.9) */
        { 0.5, "0.5" },                          /* (pr-str 0.5) */
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(cases); i++)
        CHECK_PRINT(cairn_double(cases[i].d), cases[i].want);
    CHECK_PRINT(cairn_double(INFINITY), "##Inf");   /* (pr-str ##Inf) */
    CHECK_PRINT(cairn_double(-INFINITY), "##-Inf"); /* (pr-str ##-Inf) */
    CHECK_PRINT(cairn_double(NAN), "##NaN");        /* (pr-str ##NaN) */
}

void test_edn_print__floats_match_java_float_tostring(void)
{
    CHECK_PRINT(cairn_float(0.1f), "0.1");          /* (pr-str (float 0.1)) */
    CHECK_PRINT(cairn_float(1.0f), "1.0");          /* (pr-str (float 1)) */
    CHECK_PRINT(cairn_float(1e10f), "1.0E10");      /* (pr-str (float 1e10)) */
    CHECK_PRINT(cairn_float(3.4028235e38f), "3.4028235E38"); /* Float/MAX_VALUE */
    CHECK_PRINT(cairn_float(1.4e-45f), "1.4E-45");  /* Float/MIN_VALUE */
    CHECK_PRINT(cairn_float(1.1f), "1.1");          /* (pr-str (float 1.1)) */
    CHECK_PRINT(cairn_float(16777216.0f), "1.6777216E7"); /* (pr-str (float 16777216)) */
    CHECK_PRINT(cairn_float(0.3333333f), "0.3333333");
    CHECK_PRINT(cairn_float(INFINITY), "##Inf");
}

void test_edn_print__scalars_match_pr_str(void)
{
    cairn_val v;
    CHECK_PRINT(cairn_nil(), "nil");
    CHECK_PRINT(cairn_bool(1), "true");
    CHECK_PRINT(cairn_bool(0), "false");
    CHECK_PRINT(cairn_int(0), "0");
    CHECK_PRINT(cairn_int(-42), "-42");
    CHECK_PRINT(cairn_int(INT64_MIN), "-9223372036854775808");
    CHECK_PRINT(cairn_int(INT64_MAX), "9223372036854775807");
    CHECK_PRINT(make(cairn_bigint(&v, "100", 3), v), "100N");           /* (pr-str 100N) */
    CHECK_PRINT(make(cairn_bigdec(&v, "1.50", 4), v), "1.50M");         /* (pr-str 1.50M) */
    CHECK_PRINT(make(cairn_bigdec(&v, "1e3", 3), v), "1E+3M");          /* (pr-str 1e3M) */
    CHECK_PRINT(make(cairn_ratio(&v, 1, 2), v), "1/2");                 /* (pr-str 1/2) */
    CHECK_PRINT(make(cairn_ratio(&v, 30, 4), v), "15/2");               /* (pr-str (/ 30 4)) */
    CHECK_PRINT(make(cairn_ratio(&v, -3, 9), v), "-1/3");               /* (pr-str -1/3) */
    CHECK_PRINT(cairn_char('a'), "\\a");                               /* (pr-str \a) */
    CHECK_PRINT(cairn_char('\n'), "\\newline");                        /* (pr-str \newline) */
    CHECK_PRINT(cairn_char(' '), "\\space");
    CHECK_PRINT(cairn_char('\t'), "\\tab");
    CHECK_PRINT(cairn_char('\r'), "\\return");
    CHECK_PRINT(cairn_char('\b'), "\\backspace");
    CHECK_PRINT(cairn_char('\f'), "\\formfeed");
    CHECK_PRINT(cairn_char(0xe9), "\\\xc3\xa9");                        /* (pr-str \é) */
    CHECK_PRINT(cairn_char('"'), "\\\"");
    CHECK_PRINT(make(cairn_string(&v, "a\"b\n", 4), v), "\"a\\\"b\\n\""); /* (pr-str "a\"b\n") */
    CHECK_PRINT(make(cairn_string(&v, "t\tr\rb\bf\f\\", 9), v), "\"t\\tr\\rb\\bf\\f\\\\\"");
    CHECK_PRINT(make(cairn_string(&v, "\x01\xc3\xa9/", 4), v), "\"\x01\xc3\xa9/\"");  /* raw */
    CHECK_PRINT(make(cairn_string(&v, "", 0), v), "\"\"");
    CHECK_PRINT(make(cairn_keyword(&v, "db/ident", 8), v), ":db/ident");
    CHECK_PRINT(make(cairn_keyword(&v, "a", 1), v), ":a");
    CHECK_PRINT(make(cairn_symbol(&v, "?e", 2), v), "?e");
    CHECK_PRINT(cairn_inst(0), "#inst \"1970-01-01T00:00:00.000-00:00\"");
    CHECK_PRINT(cairn_inst(1795289390230), "#inst \"2026-11-21T19:29:50.230-00:00\"");
    CHECK_PRINT(cairn_inst(-1), "#inst \"1969-12-31T23:59:59.999-00:00\"");
    {
        static const uint8_t u[16] = { 0x6e, 0xbf, 0x89, 0x79, 0xcd, 0xf0, 0x41, 0xf4,
                                       0xb6, 0x15, 0x30, 0xff, 0x81, 0x83, 0x0b, 0x0c };
        CHECK_PRINT(make(cairn_uuid(&v, u), v), "#uuid \"6ebf8979-cdf0-41f4-b615-30ff81830b0c\"");
    }
    CHECK_PRINT(make(cairn_bytes(&v, "\0\1\2\3", 4), v), "#cairn/bytes \"AAECAw==\"");
    CHECK_PRINT(make(cairn_bytes(&v, "", 0), v), "#cairn/bytes \"\"");
}

void test_edn_print__collections_match_pr_str(void)
{
    CHECK_REPRINT("#{}", "#{}");                          /* (pr-str #{}) */
    CHECK_REPRINT("{:a 1 :b [1 2]}", "{:a 1, :b [1 2]}"); /* (pr-str {:a 1 :b [1 2]}) */
    CHECK_REPRINT("{}", "{}");
    CHECK_REPRINT("[]", "[]");
    CHECK_REPRINT("()", "()");
    CHECK_REPRINT("(1 2)", "(1 2)");
    CHECK_REPRINT("#{1}", "#{1}");
    CHECK_REPRINT("[nil true false]", "[nil true false]");
    CHECK_REPRINT("{:a {:b {:c #{[1 2] (3)}}}}", "{:a {:b {:c #{[1 2] (3)}}}}");
    CHECK_REPRINT("#my/tag [1 2]", "#my/tag [1 2]");     /* (pr-str (tagged-literal 'my/tag [1 2])) */
    CHECK_REPRINT("#a #b 1", "#a #b 1");
    CHECK_REPRINT("[\\a \\b \"c\"]", "[\\a \\b \"c\"]");
    CHECK_REPRINT("{[1 2] {:x 1/2}}", "{[1 2] {:x 1/2}}");
    CHECK_REPRINT("#inst \"2026-11-21T19:29:50.23Z\"", "#inst \"2026-11-21T19:29:50.230-00:00\"");
    CHECK_REPRINT("[1 1.5 1.5M 15N]", "[1 1.5 1.5M 15N]");
}

void test_edn_print__deep_values_print_without_recursion_limits(void)
{
    cairn_val v;
    char *s;
    size_t n;
    CHECK_OK(cairn_vector_new(&v, 0));
    for (int i = 1; i < CAIRN_MAX_DEPTH; i++) {
        cairn_val outer;
        CHECK_OK(cairn_list_new(&outer, 1));
        CHECK_OK(cairn_coll_push_take(&outer, v));
        v = outer;
    }
    CHECK_OK(cairn_edn_print(&s, &n, v));
    CHECK_EQ(n, 2 * CAIRN_MAX_DEPTH);
    CHECK(s[0] == '(' && s[CAIRN_MAX_DEPTH - 1] == '[' && s[n - 1] == ')');
    cairn_free(s);
    cairn_release(v);
}

void test_edn_print__buffer_variant_appends(void)
{
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_val k;
    CHECK_OK(cairn_keyword(&k, "a", 1));
    cairn_buf_puts(&b, "x=");
    CHECK_OK(cairn_edn__print_buf(&b, k));
    CHECK_OK(cairn_edn__print_buf(&b, cairn_int(7)));
    CHECK_STR(b.ptr, "x=:a7");
    cairn_buf_dispose(&b);
}

void test_edn_print__out_of_memory_is_reported_and_leaks_nothing(void)
{
    cairn_val v;
    const char *text = "{:a [1 2 \"three\"], :b #{4.5}}";
    CHECK_OK(cairn_edn_read(&v, text, strlen(text), NULL, NULL));
    for (uint64_t n = 1;; n++) {
        int64_t live = cairn__alloc_live();
        char *s = NULL;
        int rc;
        cairn__alloc_fail_at(n, 0);
        rc = cairn_edn_print(&s, NULL, v);
        cairn__alloc_fail_at(0, 0);
        if (rc == 0) {
            CHECK_STR(s, "{:a [1 2 \"three\"], :b #{4.5}}");
            cairn_free(s);
            break;
        }
        CHECK_ERR(rc, CAIRN_ENOMEM);
        CHECK_EQ(cairn__alloc_live(), live);
        CHECK(n < 100);
    }
    cairn_release(v);
}
