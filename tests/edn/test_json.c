/* src/edn/json.c: the JSON codec with Datahike's tagged-literal conventions. */
#include <math.h>

#include "test.h"
#include "base/alloc.h"
#include "edn/value.h"

/* Reads JSON text and checks the value prints as EDN want. */
#define CHECK_JSON_EDN(text, want) do { \
    cairn_val v_; cairn_error e_ = CAIRN_ERROR_INIT; char *s_; \
    CHECK_MSG(cairn_json_read(&v_, text, strlen(text), NULL, &e_) == 0, "read %s: %s", text, e_.message); \
    CHECK_OK(cairn_edn_print(&s_, NULL, v_)); \
    CHECK_STR(s_, want); \
    cairn_free(s_); cairn_release(v_); \
} while (0)

/* Reads EDN text and checks the value prints as JSON want. */
#define CHECK_EDN_JSON(text, want) do { \
    cairn_val v_; cairn_error e_ = CAIRN_ERROR_INIT; char *s_; \
    CHECK_MSG(cairn_edn_read(&v_, text, strlen(text), NULL, &e_) == 0, "read %s: %s", text, e_.message); \
    CHECK_OK(cairn_json_print(&s_, NULL, v_)); \
    CHECK_STR(s_, want); \
    cairn_free(s_); cairn_release(v_); \
} while (0)

#define CHECK_JSON_BAD(text, len, code, line_, col_, frag) do { \
    cairn_val v_; cairn_error e_ = CAIRN_ERROR_INIT; \
    CHECK_ERR(cairn_json_read(&v_, text, len, NULL, &e_), code); \
    CHECK_MSG(e_.line == (line_) && e_.column == (col_), "%s: at %d:%d, want %d:%d (%s)", text, \
              e_.line, e_.column, line_, col_, e_.message); \
    CHECK_MSG(strstr(e_.message, frag) != NULL, "message '%s' lacks '%s'", e_.message, frag); \
} while (0)
#define CHECK_JSON_INVALID(text, line_, col_, frag) \
    CHECK_JSON_BAD(text, strlen(text), CAIRN_EINVALID, line_, col_, frag)

void test_edn_json__reads_datahike_tagged_literals(void)
{
    CHECK_JSON_EDN("{\"name\":\"Peter\",\"age\":42}", "{:name \"Peter\", :age 42}");
    CHECK_JSON_EDN("[\"!kw\",\"db.type/string\"]", ":db.type/string");
    CHECK_JSON_EDN("[\"!sym\",\"?e\"]", "?e");
    CHECK_JSON_EDN("[\"!set\",[[\"Peter\",42]]]", "#{[\"Peter\" 42]}");
    CHECK_JSON_EDN("[\"!set\",[\"!kw\",\"a\"]]", "#{\"!kw\" \"a\"}");   /* payload is not a tag */
    CHECK_JSON_EDN("[\"!set\",[[\"!kw\",\"a\"]]]", "#{:a}");
    CHECK_JSON_EDN("[\"!set\",[\"!kw\",\"a\"],3]", "[\"!set\" :a 3]");   /* not a set after all */
    CHECK_JSON_EDN("[\"!uuid\",\"6ebf8979-cdf0-41f4-b615-30ff81830b0c\"]",
                   "#uuid \"6ebf8979-cdf0-41f4-b615-30ff81830b0c\"");
    CHECK_JSON_EDN("[\"!date\",\"1695952443102\"]", "#inst \"2023-09-29T01:54:03.102-00:00\"");
    CHECK_JSON_EDN("[\"!date\",\"-1\"]", "#inst \"1969-12-31T23:59:59.999-00:00\"");
    CHECK_JSON_EDN("[\"!bytes\",\"AAEC\"]", "#cairn/bytes \"AAEC\"");
    CHECK_JSON_EDN("[\"!double\",\"NaN\"]", "##NaN");
    CHECK_JSON_EDN("[\"!double\",\"-Infinity\"]", "##-Inf");
    CHECK_JSON_EDN("[\"!ratio\",\"15/2\"]", "15/2");
    CHECK_JSON_EDN("[\"!datahike/Datom\",[2,[\"!kw\",\"name\"],\"Peter\",536870914,true]]",
                   "#datahike/Datom [2 :name \"Peter\" 536870914 true]");
    CHECK_JSON_EDN("[\"! hi\",1]", "[\"! hi\" 1]");      /* not a tag name */
    CHECK_JSON_EDN("[\"!!\",1]", "[\"!!\" 1]");
    CHECK_JSON_EDN("[\"!kw\",\"a\",\"b\"]", "[\"!kw\" \"a\" \"b\"]");
    CHECK_JSON_EDN("[\"!kw\"]", "[\"!kw\"]");
    CHECK_JSON_EDN("{\"\":1,\"a b\":2,\"\\u00e9\":3}", "{\"\" 1, :a b 2, :\xc3\xa9 3}");
    CHECK_JSON_INVALID("[\"!kw\",1]", 1, 1, "wrong form");
    CHECK_JSON_INVALID("[\"!date\",1695952443102]", 1, 1, "epoch milliseconds");
    CHECK_JSON_INVALID("[\"!set\",[1,1]]", 1, 1, "distinct");
    CHECK_JSON_INVALID("[\"!uuid\",\"x\"]", 1, 1, "wrong form");
    CHECK_JSON_INVALID("[\"!double\",\"nan\"]", 1, 1, "NaN");
    CHECK_JSON_INVALID("[\"!ratio\",\"1/0\"]", 1, 1, "wrong form");
    CHECK_JSON_INVALID("[1,\n [\"!bytes\",\"A\"]]", 2, 2, "wrong form");
}

void test_edn_json__numbers_and_literals(void)
{
    cairn_val v;
    CHECK_JSON_EDN("[0,-0,42,-7,9223372036854775807,9223372036854775808,-9223372036854775809]",
                   "[0 0 42 -7 9223372036854775807 9223372036854775808N -9223372036854775809N]");
    CHECK_JSON_EDN("[1.5,1e2,1E-3,-0.0,2.5e+1,1e999]", "[1.5 100.0 0.001 -0.0 25.0 ##Inf]");
    CHECK_JSON_EDN("[true,false,null]", "[true false nil]");
    CHECK_OK(cairn_json_read(&v, "1.0", 3, NULL, NULL));
    CHECK_EQ(cairn_type_of(v), CAIRN_DOUBLE);
    CHECK_JSON_INVALID("01", 1, 1, "leading zeros");
    CHECK_JSON_INVALID("-01", 1, 1, "leading zeros");
    CHECK_JSON_INVALID("1.", 1, 3, "decimal point");
    CHECK_JSON_INVALID(".5", 1, 1, "expected a JSON value");
    CHECK_JSON_INVALID("+1", 1, 1, "expected a JSON value");
    CHECK_JSON_INVALID("-", 1, 1, "digits after '-'");
    CHECK_JSON_INVALID("1e", 1, 3, "exponent");
    CHECK_JSON_INVALID("NaN", 1, 1, "expected a JSON value");
    CHECK_JSON_INVALID("tru", 1, 1, "expected a JSON value");
    CHECK_JSON_INVALID("truex", 1, 5, "unexpected data");
    CHECK_JSON_INVALID("[1 2]", 1, 4, "expected ',' or ']'");
}

void test_edn_json__strict_syntax_errors_have_positions(void)
{
    CHECK_JSON_INVALID("[1,2,]", 1, 6, "trailing comma");
    CHECK_JSON_INVALID("{\"a\":1,}", 1, 8, "trailing comma");
    CHECK_JSON_INVALID("{\"a\":1,\"a\":2}", 1, 8, "duplicate map key :a");
    CHECK_JSON_INVALID("{a:1}", 1, 2, "expected a string key or '}'");
    CHECK_JSON_INVALID("{\"a\" 1}", 1, 6, "expected ':'");
    CHECK_JSON_INVALID("{\"a\":}", 1, 6, "expected a JSON value");
    CHECK_JSON_INVALID("[1,\n  2", 2, 4, "end of input: expected ',' or ']' in the array at line 1, column 1");
    CHECK_JSON_INVALID("", 1, 1, "end of input");
    CHECK_JSON_INVALID("[] []", 1, 4, "unexpected data");
    CHECK_JSON_INVALID("\"a\tb\"", 1, 3, "control character");
    CHECK_JSON_INVALID("\"\\ud800\"", 1, 2, "high surrogate");
    CHECK_JSON_INVALID("\"\\udc00x\"", 1, 2, "lone low surrogate");
    CHECK_JSON_INVALID("\"\\x\"", 1, 2, "unknown escape");
    CHECK_JSON_INVALID("\"\xc0\x80\"", 1, 2, "invalid UTF-8");
    CHECK_JSON_INVALID("// c\n1", 1, 1, "expected a JSON value");
    CHECK_JSON_INVALID("\xef\xbb\xbf{}", 1, 1, "expected a JSON value");
    CHECK_JSON_BAD("[\0]", 3, CAIRN_EINVALID, 1, 2, "expected a JSON value");
    CHECK_JSON_EDN("\"\\/\\b\\f\\n\\r\\t\\\"\\\\\\u0041\\ud83d\\ude00\"", "\"/\\b\\f\\n\\r\\t\\\"\\\\A\xf0\x9f\x98\x80\"");
}

void test_edn_json__prints_datahike_conventions(void)
{
    CHECK_EDN_JSON("{:name \"Peter\" :db/id 1 \"s\" 2 [1] 3 nil 4}",
                   "{\"name\":\"Peter\",\"db/id\":1,\"s\":2,\"[1]\":3,\"nil\":4}");
    CHECK_EDN_JSON("[:db.type/string ?e #{1} #uuid \"6ebf8979-cdf0-41f4-b615-30ff81830b0c\"]",
                   "[[\"!kw\",\"db.type/string\"],[\"!sym\",\"?e\"],[\"!set\",[1]],"
                   "[\"!uuid\",\"6ebf8979-cdf0-41f4-b615-30ff81830b0c\"]]");
    CHECK_EDN_JSON("#inst \"2023-09-29T01:54:03.102Z\"", "[\"!date\",\"1695952443102\"]");
    CHECK_EDN_JSON("(1 2.5 1e10 ##NaN ##Inf ##-Inf 15/2 12N 1.50M \\a)",
                   "[1,2.5,1.0E10,[\"!double\",\"NaN\"],[\"!double\",\"Infinity\"],"
                   "[\"!double\",\"-Infinity\"],[\"!ratio\",\"15/2\"],12,1.50,\"a\"]");
    CHECK_EDN_JSON("#datahike/Datom [2 :name]", "[\"!datahike/Datom\",[2,[\"!kw\",\"name\"]]]");
    CHECK_EDN_JSON("#cairn/bytes \"AAEC\"", "[\"!bytes\",\"AAEC\"]");
    CHECK_EDN_JSON("\"\\u0001\\t\\\"\\\\\xc3\xa9\"", "\"\\u0001\\t\\\"\\\\\xc3\xa9\"");
    CHECK_EDN_JSON("{}", "{}");
    CHECK_EDN_JSON("#{}", "[\"!set\",[]]");
    CHECK_EDN_JSON("{:a {:b [{}]}}", "{\"a\":{\"b\":[{}]}}");
}

void test_edn_json__deep_nesting_and_limits(void)
{
    size_t n = 1000000;
    char *s = cairn_malloc(2 * n);
    cairn_val v;
    cairn_error e = CAIRN_ERROR_INIT;
    cairn_read_limits lim = CAIRN_READ_LIMITS_INIT;
    memset(s, '[', n);
    memset(s + n, ']', n);
    CHECK_ERR(cairn_json_read(&v, s, 2 * n, NULL, &e), CAIRN_ELIMIT);
    CHECK(strstr(e.message, "max_depth") != NULL);
    for (size_t i = 0; i + 5 <= n; i += 5)
        memcpy(s + i, "{\"a\":", 5);
    CHECK_ERR(cairn_json_read(&v, s, n, NULL, &e), CAIRN_ELIMIT);
    memset(s, '7', n);
    CHECK_ERR(cairn_json_read(&v, s, n, NULL, &e), CAIRN_ELIMIT);
    CHECK(strstr(e.message, "max_digits") != NULL);
    cairn_free(s);
    lim.max_elements = 2;
    CHECK_ERR(cairn_json_read(&v, "[1,2]", 5, &lim, &e), CAIRN_ELIMIT);
}

void test_edn_json__every_prefix_reads_or_fails_cleanly_and_oom_leaks_nothing(void)
{
    const char *doc = "{\"a\":[1,-2.5e3,[\"!kw\",\"x/y\"],[\"!set\",[1,\"s\\u00e9\"]],null],"
                      "\"b\":{\"c\":[\"!date\",\"12\"]},\"d\":[\"!t\",{\"e\":true}]}";
    size_t len = strlen(doc);
    cairn_val want;
    for (size_t n = 0; n <= len; n++) {
        char *copy = cairn_malloc(n + 1);
        cairn_val v;
        cairn_error e = CAIRN_ERROR_INIT;
        int rc;
        memcpy(copy, doc, n);
        rc = cairn_json_read(&v, copy, n, NULL, &e);
        CHECK(rc == (n == len ? 0 : CAIRN_EINVALID));
        if (rc == 0)
            cairn_release(v);
        cairn_free(copy);
    }
    CHECK_OK(cairn_json_read(&want, doc, len, NULL, NULL));  /* interns the names once */
    for (uint64_t k = 1;; k++) {
        int64_t live = cairn__alloc_live();
        cairn_val v;
        char *s = NULL;
        int rc;
        cairn__alloc_fail_at(k, 0);
        rc = cairn_json_read(&v, doc, len, NULL, NULL);
        if (rc == 0) {
            rc = cairn_json_print(&s, NULL, v);
            cairn_release(v);
        }
        cairn__alloc_fail_at(0, 0);
        if (rc == 0) {
            CHECK_OK(cairn_json_read(&v, s, strlen(s), NULL, NULL));
            CHECK(cairn_equal(v, want));
            cairn_release(v);
            cairn_release(want);
            cairn_free(s);
            break;
        }
        CHECK_ERR(rc, CAIRN_ENOMEM);
        CHECK_EQ(cairn__alloc_live(), live);
        CHECK(k < 1000);
    }
}
