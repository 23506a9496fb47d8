/* src/edn/read.c: the EDN reader's grammar, errors, limits and robustness. */
#include <math.h>
#include <stdlib.h>

#include "test.h"
#include "base/alloc.h"
#include "base/err.h"
#include "edn/edn.h"
#include "edn/value.h"

static int rd(cairn_val *out, const char *text, cairn_error *err)
{
    return cairn_edn_read(out, text, strlen(text), NULL, err);
}

/* Reads text and checks it prints as want (the printer has golden tests). */
#define CHECK_READS_AS(text, want) do { \
    cairn_val v_; cairn_error e_ = CAIRN_ERROR_INIT; char *s_; \
    CHECK_MSG(rd(&v_, text, &e_) == 0, "read %s: %s", text, e_.message); \
    CHECK_OK(cairn_edn_print(&s_, NULL, v_)); \
    CHECK_STR(s_, want); \
    cairn_free(s_); cairn_release(v_); \
} while (0)

/* Reading text fails with code at line:col, with a message containing frag. */
#define CHECK_READ_ERR(text, len, want_code, line_, col_, frag) do { \
    cairn_val v_; cairn_error e_ = CAIRN_ERROR_INIT; \
    CHECK_ERR(cairn_edn_read(&v_, text, len, NULL, &e_), want_code); \
    CHECK_MSG(e_.code == (want_code), "err code %d", e_.code); \
    CHECK_MSG(e_.line == (line_) && e_.column == (col_), "%s: at %d:%d, want %d:%d (%s)", text, \
              e_.line, e_.column, line_, col_, e_.message); \
    CHECK_MSG(strstr(e_.message, frag) != NULL, "message '%s' lacks '%s'", e_.message, frag); \
} while (0)
#define CHECK_BAD(text, line_, col_, frag) CHECK_READ_ERR(text, strlen(text), CAIRN_EINVALID, line_, col_, frag)

void test_edn_read__numbers_follow_clojure(void)
{
    cairn_val v;
    CHECK_READS_AS("42", "42");
    CHECK_READS_AS("+42", "42");
    CHECK_READS_AS("-0", "0");
    CHECK_READS_AS("9223372036854775807", "9223372036854775807");
    CHECK_READS_AS("9223372036854775808", "9223372036854775808N");  /* overflow -> BigInt */
    CHECK_READS_AS("-9223372036854775809", "-9223372036854775809N");
    CHECK_READS_AS("7N", "7N");
    CHECK_BAD("-0012N", 1, 1, "leading zeros");  /* Clojure would read octal 10N */
    CHECK_READS_AS("15/2", "15/2");
    CHECK_READS_AS("-30/4", "-15/2");
    CHECK_READS_AS("4/2", "2");
    CHECK_READS_AS("1.5", "1.5");
    CHECK_READS_AS("1.", "1.0");
    CHECK_READS_AS("1e10", "1.0E10");
    CHECK_READS_AS("1E-3", "0.001");
    CHECK_READS_AS("-0.0", "-0.0");
    CHECK_READS_AS("1.5M", "1.5M");
    CHECK_READS_AS("1M", "1M");
    CHECK_READS_AS("1.50e3M", "1.50E+3M");
    CHECK_READS_AS("##Inf", "##Inf");
    CHECK_READS_AS("##-Inf", "##-Inf");
    CHECK_READS_AS("##NaN", "##NaN");
    CHECK_READS_AS("1e999999", "##Inf");    /* Double.parseDouble overflows to Infinity */
    CHECK_READS_AS("-1e999999", "##-Inf");
    CHECK_READS_AS("1e-999999", "0.0");
    CHECK_READS_AS("0.1", "0.1");
    CHECK_READS_AS("123456789012345678901234567890e-10", "1.2345678901234567E19");
    CHECK_OK(rd(&v, "7N", NULL));
    CHECK_EQ(cairn_type_of(v), CAIRN_BIGINT);
    CHECK(cairn_equal(v, cairn_int(7)));
    cairn_release(v);
    CHECK_OK(rd(&v, "2.5", NULL));
    CHECK(cairn_type_of(v) == CAIRN_DOUBLE && cairn_double_value(v) == 2.5);
    CHECK_BAD("012", 1, 1, "leading zeros");
    CHECK_BAD("0x1F", 1, 1, "invalid number");
    CHECK_BAD("1a", 1, 1, "invalid number");
    CHECK_BAD("1/0", 1, 1, "division by zero");
    CHECK_BAD("1/2/3", 1, 1, "ratio");
    CHECK_BAD("1/", 1, 1, "digits on both sides");  /* fuzz: read past the token */
    CHECK_BAD("-/2", 1, 1, "cannot start with a digit");  /* the symbol -/2 */
    CHECK_BAD("1e", 1, 1, "exponent");
    CHECK_BAD("1.5N", 1, 1, "invalid number");
    CHECK_BAD("[1 2e+]", 1, 4, "exponent");
    CHECK_READ_ERR("99999999999999999999/2", 22, CAIRN_ELIMIT, 1, 1, "64 bits");
}

void test_edn_read__strings_and_escapes(void)
{
    cairn_val v;
    size_t n;
    CHECK_READS_AS("\"a\\tb\\rc\\nd\\\\e\\\"f\\bg\\fh\"", "\"a\\tb\\rc\\nd\\\\e\\\"f\\bg\\fh\"");
    CHECK_OK(rd(&v, "\"\\u00e9\\u20AC\\ud83d\\ude00\"", NULL));
    CHECK_STR(cairn_str_get(v, &n), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    CHECK_EQ(n, 9);
    cairn_release(v);
    CHECK_OK(rd(&v, "\"line\nbreak\"", NULL));  /* raw newlines are fine in EDN */
    CHECK_EQ(cairn_type_of(v), CAIRN_STRING);
    cairn_release(v);
    CHECK_OK(cairn_edn_read(&v, "\"a\0b\"", 5, NULL, NULL));  /* NUL inside a string: as Clojure */
    CHECK_EQ(cairn_val_str(v)->len, 3);
    cairn_release(v);
    CHECK_BAD("\"\\ud83d\"", 1, 2, "high surrogate");
    CHECK_BAD("\"\\ude00\"", 1, 2, "lone low surrogate");
    CHECK_BAD("\"\\u12\"", 1, 2, "four hex digits");
    CHECK_BAD("\"\\q\"", 1, 2, "unknown escape");
    CHECK_BAD("\"\\/\"", 1, 2, "unknown escape");
    CHECK_BAD("  \"abc", 1, 7, "end of input inside the string");
    CHECK_BAD("\"a\xff\"", 1, 3, "invalid UTF-8");
    CHECK_BAD("\"a\xc0\xaf\"", 1, 3, "invalid UTF-8");            /* overlong '/' */
    CHECK_BAD("\"a\xed\xa0\x80\"", 1, 3, "invalid UTF-8");        /* encoded surrogate */
    CHECK_BAD("\"\xf4\x90\x80\x80\"", 1, 2, "invalid UTF-8");     /* above U+10FFFF */
    CHECK_BAD("\"ok\" \"\xe2\x82\"", 1, 7, "invalid UTF-8");    /* trailing form is read */
}

void test_edn_read__characters(void)
{
    cairn_val v;
    static const struct { const char *text; uint32_t cp; } ok[] = {
        { "\\a", 'a' }, { "\\newline", '\n' }, { "\\space", ' ' }, { "\\tab", '\t' },
        { "\\return", '\r' }, { "\\backspace", '\b' }, { "\\formfeed", '\f' },
        { "\\u00E9", 0xe9 }, { "\\o101", 'A' }, { "\\o7", 7 }, { "\\u", 'u' }, { "\\(", '(' },
        { "\\\xc3\xa9", 0xe9 }, { "\\\xf0\x9f\x98\x80", 0x1f600 }, { "\\\\", '\\' },
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ok); i++) {
        CHECK_MSG(rd(&v, ok[i].text, NULL) == 0, "read %s", ok[i].text);
        CHECK_EQ(cairn_type_of(v), CAIRN_CHAR);
        CHECK_EQ(cairn_char_value(v), ok[i].cp);
    }
    CHECK_OK(rd(&v, "[\\a\\b]", NULL));
    CHECK_EQ(cairn_count(v), 2);
    cairn_release(v);
    CHECK_BAD("\\ab", 1, 1, "unsupported character");
    CHECK_BAD("\\ud800", 1, 1, "unsupported character");
    CHECK_BAD("\\o400", 1, 1, "unsupported character");
    CHECK_BAD("\\", 1, 1, "end of input after");
    CHECK_BAD("\\\xff", 1, 2, "invalid UTF-8");
}

void test_edn_read__symbols_and_keywords_follow_the_spec(void)
{
    static const char *ok[] = {
        "a", "a/b", "/", "ns//", "...", ".", "-", "+", "-a", "+a", ".a", "?e", "$", "%", "_",
        "a.b.c/d-e*f!g_h?i$j%k&l=m<n>o", "a:b", "a#b", "x'", "\xc3\xa9t\xc3\xa9", "<=",
        ":a", ":a/b", ":/", ":1", ":db.type/string", ":a:b", ":1/a",
    };
    static const struct { const char *text; int col; const char *frag; } bad[] = {
        { "::foo", 2, "auto-resolved" }, { "a/", 1, "empty" }, { "/a", 1, "empty" },
        { "a/b/c", 1, "only once" }, { "a/1", 1, "digit" }, { ":a/1", 2, "digit" },
        { "-1a", 1, "invalid number" }, { ".5", 1, "continue with a digit" }, { "a:", 1, "':'" },
        { "a::b", 1, "'::'" }, { ":", 2, "needs a name" }, { "a@b", 2, "invalid character" },
        { "a|b", 2, "invalid character" }, { "'a", 1, "unexpected character" },
        { "^a", 1, "metadata" }, { "@a", 1, "unexpected character" }, { "`a", 1, "unexpected" },
        { "~a", 1, "unexpected" }, { "a\xff", 2, "invalid UTF-8" }, { ":\xc3", 2, "invalid UTF-8" },
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ok); i++) {
        cairn_val v;
        cairn_error e = CAIRN_ERROR_INIT;
        char *s;
        CHECK_MSG(rd(&v, ok[i], &e) == 0, "read %s: %s", ok[i], e.message);
        CHECK(cairn_val_is_ident(v));
        CHECK_OK(cairn_edn_print(&s, NULL, v));
        CHECK_STR(s, ok[i]);
        CHECK(cairn_edn__name_ok(cairn_type_of(v), ok[i] + (ok[i][0] == ':'), strlen(ok[i]) - (ok[i][0] == ':')));
        cairn_free(s);
    }
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad); i++)
        CHECK_BAD(bad[i].text, 1, bad[i].col, bad[i].frag);
    {
        cairn_val v;
        size_t n;
        CHECK_OK(rd(&v, "ns//", NULL));
        CHECK_STR(cairn_name_get(v, &n), "/");
        CHECK_OK(rd(&v, "nil", NULL));
        CHECK_EQ(cairn_type_of(v), CAIRN_NIL);
        CHECK_OK(rd(&v, "true", NULL));
        CHECK(cairn_bool_value(v));
        CHECK_OK(rd(&v, ":nil", NULL));
        CHECK_EQ(cairn_type_of(v), CAIRN_KEYWORD);
    }
}

void test_edn_read__whitespace_comments_and_discards(void)
{
    CHECK_READS_AS(" ,\t\r\n\f[1,2 ; comment ]\n 3]  ; trailing", "[1 2 3]");
    CHECK_READS_AS("#_ 1 2", "2");
    CHECK_READS_AS("#_#_ 1 2 3", "3");
    CHECK_READS_AS("[#_ #_ [a] (b) c #_d]", "[c]");
    CHECK_READS_AS("{:a #_ 1 2}", "{:a 2}");
    CHECK_READS_AS("#foo #_ 1 2", "#foo 2");
    CHECK_READS_AS("#_ #foo 1 2", "2");
    CHECK_READS_AS("1 #_ 2", "1");
    CHECK_READS_AS("1 ; only a comment after", "1");
    CHECK_BAD("#_", 1, 3, "expected a form after #_");
    CHECK_BAD("[1 #_]", 1, 6, "expected a form after #_");
    CHECK_BAD("1 2", 1, 3, "unexpected data after the value");
    CHECK_BAD("", 1, 1, "expected a value");
    CHECK_BAD(" ; nothing", 1, 11, "expected a value");
}

void test_edn_read__collections_and_duplicates(void)
{
    cairn_val v;
    CHECK_READS_AS("(1 [2 {:a #{3}}])", "(1 [2 {:a #{3}}])");
    CHECK_OK(rd(&v, "{:b 1 :a 2 :c 3}", NULL));
    CHECK(cairn_equal(cairn_map_key_get(v, 0), cairn_map_key_get(v, 0)));
    CHECK_EQ(cairn_count(v), 3);
    cairn_release(v);
    CHECK_BAD("{:a 1 :a 2}", 1, 7, "duplicate map key :a");
    CHECK_BAD("{1 1 1N 2}", 1, 6, "duplicate map key 1N");     /* 1 = 1N in Clojure */
    CHECK_BAD("#{[1 2] (1 2)}", 1, 9, "duplicate set element");
    CHECK_BAD("{:a}", 1, 4, "even number of forms");
    CHECK_BAD("(1 2]", 1, 5, "expected ')' to close the list at line 1, column 1");
    CHECK_BAD("[1\n {:a 2)", 2, 7, "expected '}' to close the map at line 2, column 2");
    CHECK_BAD("]", 1, 1, "unmatched ']'");
    CHECK_BAD("[1 2", 1, 5, "expected ']' to close the vector");
    CHECK_BAD("#{1", 1, 4, "expected '}' to close the set");
    CHECK_BAD("# {}", 1, 1, "unknown dispatch");
    CHECK_BAD("#", 1, 1, "end of input after #");
    CHECK_BAD("##Foo", 1, 1, "unknown symbolic value");
    /* More than 8 entries: the hash-indexed path of duplicate detection. */
    CHECK_BAD("{0 0 1 1 2 2 3 3 4 4 5 5 6 6 7 7 8 8 9 9 5 5}", 1, 42, "duplicate map key 5");
}

void test_edn_read__namespaced_maps(void)
{
    CHECK_READS_AS("#:person{:name \"x\" :_/id 1 :other/k 2 sym 3}",
                   "{:person/name \"x\", :id 1, :other/k 2, person/sym 3}");
    CHECK_READS_AS("#:a {:b 1}", "{:a/b 1}");
    CHECK_BAD("#::{:a 1}", 1, 1, "auto-resolved");
    CHECK_BAD("#:a/b{:c 1}", 1, 3, "cannot contain '/'");
    CHECK_BAD("#:a [1]", 1, 5, "expected '{'");
    CHECK_BAD("#:p{:a 1 :p/a 2}", 1, 10, "duplicate map key :p/a");
    CHECK_BAD("#:p{:1 2}", 1, 3, "invalid name of :1");  /* fuzz: :p/1 would not read back */
}

void test_edn_read__inst_uuid_bytes_and_other_tags(void)
{
    cairn_val v;
    static const struct { const char *text; int64_t ms; } insts[] = {
        { "#inst \"1970-01-01T00:00:00Z\"", 0 },
        { "#inst \"1970-01-01T00:00:00.000-00:00\"", 0 },
        { "#inst \"2026-11-21T19:29:50.23Z\"", 1795289390230 },
        { "#inst \"2026-11-21T19:29:50.230123456Z\"", 1795289390230 },
        { "#inst \"2026-11-21T20:29:50.230+01:00\"", 1795289390230 },
        { "#inst \"2026-11-21T18:59:50.230-00:30\"", 1795289390230 },
        { "#inst \"2026-11-21\"", 1795219200000 },
        { "#inst \"2026\"", 1767225600000 },
        { "#inst \"2024-02-29T00:00\"", 1709164800000 },
        { "#inst \"1969-12-31T23:59:59.999Z\"", -1 },
        { "#inst \"2016-12-31T23:59:60Z\"", 1483228800000 },  /* leap second rolls over */
        { "#inst \"0000-01-01T00:00:00Z\"", -62167219200000 },
    };
    static const char *bad_insts[] = {
        "#inst \"2026-02-29\"", "#inst \"2026-13-01\"", "#inst \"2026-00-01\"", "#inst \"2026-04-31\"",
        "#inst \"2026-01-01T24:00\"", "#inst \"2026-01-01T00:60\"", "#inst \"2026-01-01T00:00:60\"",
        "#inst \"26-01-01\"", "#inst \"2026-1-01\"", "#inst \"2026-01-01t00:00\"", "#inst \"2026-01-01T00:00:00.\"",
        "#inst \"2026-01-01T00:00:00+1:00\"", "#inst \"2026-01-01T00:00:00+24:00\"", "#inst \"2026-01-01 \"",
        "#inst 0", "#inst \"\"", "#inst \"1900-02-29\"",
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(insts); i++) {
        CHECK_MSG(rd(&v, insts[i].text, NULL) == 0, "read %s", insts[i].text);
        CHECK_EQ(cairn_type_of(v), CAIRN_INST);
        CHECK_MSG(cairn_inst_value(v) == insts[i].ms, "%s: %lld", insts[i].text, (long long)cairn_inst_value(v));
    }
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad_insts); i++)
        CHECK_BAD(bad_insts[i], 1, 1, "#inst expects");
    CHECK_READS_AS("#uuid \"6EBF8979-CDF0-41F4-B615-30FF81830B0C\"", "#uuid \"6ebf8979-cdf0-41f4-b615-30ff81830b0c\"");
    CHECK_BAD("#uuid \"6ebf8979cdf041f4b61530ff81830b0c\"", 1, 1, "8-4-4-4-12");
    CHECK_BAD("#uuid \"6ebf8979-cdf0-41f4-b615-30ff81830b0\"", 1, 1, "8-4-4-4-12");
    CHECK_BAD("#uuid \"6ebf8979-cdf0-41f4-b615-30ff81830b0g\"", 1, 1, "8-4-4-4-12");
    CHECK_BAD("[#uuid 1]", 1, 2, "8-4-4-4-12");
    CHECK_OK(rd(&v, "#cairn/bytes \"aGVsbG8=\"", NULL));
    CHECK_EQ(cairn_type_of(v), CAIRN_BYTES);
    CHECK_STR(cairn_str_get(v, NULL), "hello");
    cairn_release(v);
    CHECK_BAD("#cairn/bytes \"aGVsbG8\"", 1, 1, "base64");
    CHECK_BAD("#cairn/bytes \"aGVsbG9=\"", 1, 1, "base64");  /* non-zero unused bits */
    CHECK_BAD("#cairn/bytes \"a=Vs\"", 1, 1, "base64");
    CHECK_OK(rd(&v, "#my.ns/point [1 2]", NULL));
    CHECK_EQ(cairn_type_of(v), CAIRN_TAGGED);
    CHECK_STR(cairn_ident_get(cairn_tagged_tag_get(v), NULL), "my.ns/point");
    CHECK_EQ(cairn_count(cairn_tagged_value_get(v)), 2);
    cairn_release(v);
    CHECK_BAD("#1a 1", 1, 1, "unknown dispatch");
    CHECK_BAD("#foo", 1, 5, "expected a value after the tag at line 1, column 1");
    CHECK_BAD("[#foo]", 1, 6, "expected a value after the tag");
}

void test_edn_read__streaming_reader_reads_every_form(void)
{
    const char *text = ";; header\n{:a 1}\n[2] #_ skipped\n3 \"four\"\n";
    cairn_edn_reader *r;
    cairn_val v;
    cairn_error e = CAIRN_ERROR_INIT;
    const char *want[] = { "{:a 1}", "[2]", "3", "\"four\"" };
    CHECK_OK(cairn_edn_reader_new(&r, text, strlen(text), NULL));
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(want); i++) {
        char *s;
        CHECK_OK(cairn_edn_reader_next(r, &v, &e));
        CHECK_OK(cairn_edn_print(&s, NULL, v));
        CHECK_STR(s, want[i]);
        cairn_free(s);
        cairn_release(v);
    }
    CHECK_ERR(cairn_edn_reader_next(r, &v, &e), CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_edn_reader_next(r, &v, &e), CAIRN_ENOTFOUND);
    cairn_edn_reader_free(r);

    text = "1\n[2 3\n";
    CHECK_OK(cairn_edn_reader_new(&r, text, strlen(text), NULL));
    CHECK_OK(cairn_edn_reader_next(r, &v, &e));
    CHECK_ERR(cairn_edn_reader_next(r, &v, &e), CAIRN_EINVALID);
    CHECK_EQ(e.line, 3);
    cairn_error_clear(&e);
    CHECK_ERR(cairn_edn_reader_next(r, &v, &e), CAIRN_EINVALID);  /* stays at the error */
    CHECK_EQ(e.line, 3);
    cairn_edn_reader_free(r);
}

/* ---- limits and hostile input ------------------------------------------------- */

/* n copies of open, then one x, then n copies of close. */
static char *nest(const char *open, const char *x, const char *close, size_t n, size_t *len)
{
    size_t lo = strlen(open), lx = strlen(x), lc = strlen(close), k = 0;
    char *s = malloc(n * (lo + lc) + lx + 1);
    for (size_t i = 0; i < n; i++, k += lo)
        memcpy(s + k, open, lo);
    memcpy(s + k, x, lx);
    k += lx;
    for (size_t i = 0; i < n; i++, k += lc)
        memcpy(s + k, close, lc);
    s[k] = 0;
    *len = k;
    return s;
}

void test_edn_read__million_deep_nesting_is_a_clean_limit_error(void)
{
    static const struct { const char *open, *x, *close; } kinds[] = {
        { "[", "1", "]" }, { "(", "1", ")" }, { "{:a ", "1", "}" }, { "#{", "1", "}" },
        { "#_ ", "1 2", "" }, { "#t ", "1", "" }, { "#:n{:a ", "1", "}" }, { "[#t ", "1", "]" },
    };
    cairn_val v;
    CHECK_OK(cairn_edn_read(&v, "[:a t n/a]", 10, NULL, NULL));  /* interned names stay */
    cairn_release(v);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(kinds); i++) {
        size_t len;
        char *s = nest(kinds[i].open, kinds[i].x, kinds[i].close, 1000000, &len);
        cairn_error e = CAIRN_ERROR_INIT;
        int64_t live = cairn__alloc_live();
        CHECK_ERR(cairn_edn_read(&v, s, len, NULL, &e), CAIRN_ELIMIT);
        CHECK(strstr(e.message, "max_depth") != NULL);
        CHECK_EQ(cairn__alloc_live(), live);
        /* Nesting up to the limit reads. */
        free(s);
        s = nest(kinds[i].open, i == 4 ? "1" : kinds[i].x, kinds[i].close, 512 / (i == 7 ? 2 : 1), &len);
        if (i == 4) {  /* 512 pending #_ need 513 forms */
            s = realloc(s, len + 2 * 512 + 1);
            for (int k = 0; k < 512; k++, len += 2)
                memcpy(s + len, " 2", 3);
        }
        CHECK_MSG(cairn_edn_read(&v, s, len, NULL, &e) == 0, "%s: %s", kinds[i].open, e.message);
        CHECK(cairn_equal(v, cairn_int(2)) || i != 4);
        cairn_release(v);
        free(s);
    }
}

void test_edn_read__limits_are_enforced_with_elimit(void)
{
    cairn_read_limits lim = CAIRN_READ_LIMITS_INIT;
    cairn_val v;
    cairn_error e = CAIRN_ERROR_INIT;
    size_t n = 1000000;
    char *digits = malloc(n + 2);
    memset(digits, '7', n);
    digits[n] = 0;
    CHECK_ERR(cairn_edn_read(&v, digits, n, NULL, &e), CAIRN_ELIMIT);
    CHECK(strstr(e.message, "max_digits") != NULL);
    digits[n] = 'N';
    CHECK_ERR(cairn_edn_read(&v, digits, n + 1, NULL, &e), CAIRN_ELIMIT);
    digits[0] = '"';
    digits[n] = '"';
    CHECK_OK(cairn_edn_read(&v, digits, n + 1, NULL, &e));  /* a long string is fine */
    cairn_release(v);
    free(digits);

    lim.max_string_len = 3;
    CHECK_OK(cairn_edn_read(&v, "\"abc\"", 5, &lim, &e));
    cairn_release(v);
    CHECK_ERR(cairn_edn_read(&v, "\"abcd\"", 6, &lim, &e), CAIRN_ELIMIT);
    CHECK_ERR(cairn_edn_read(&v, ":abcd", 5, &lim, &e), CAIRN_ELIMIT);
    CHECK_ERR(cairn_edn_read(&v, "\"\\u00e9\\u00e9\"", 14, &lim, &e), CAIRN_ELIMIT);
    lim = (cairn_read_limits)CAIRN_READ_LIMITS_INIT;
    lim.max_elements = 4;
    CHECK_OK(cairn_edn_read(&v, "[1 2 3]", 7, &lim, &e));
    cairn_release(v);
    CHECK_ERR(cairn_edn_read(&v, "[1 2 3 4]", 9, &lim, &e), CAIRN_ELIMIT);
    CHECK(strstr(e.message, "max_elements") != NULL);
    lim = (cairn_read_limits)CAIRN_READ_LIMITS_INIT;
    lim.max_depth = 2;
    CHECK_OK(cairn_edn_read(&v, "[[1]]", 5, &lim, &e));
    cairn_release(v);
    CHECK_ERR(cairn_edn_read(&v, "[[[1]]]", 7, &lim, &e), CAIRN_ELIMIT);
    CHECK_EQ(e.column, 3);
    lim.max_digits = 3;
    CHECK_ERR(cairn_edn_read(&v, "1.234", 5, &lim, &e), CAIRN_ELIMIT);
    lim.version = 99;
    CHECK_ERR(cairn_edn_read(&v, "1", 1, &lim, &e), CAIRN_EINVALID);
}

void test_edn_read__nul_and_stray_bytes_are_errors_with_positions(void)
{
    CHECK_READ_ERR("[1 \0 2]", 7, CAIRN_EINVALID, 1, 4, "unexpected byte 0x00");
    CHECK_READ_ERR("1\0", 2, CAIRN_EINVALID, 1, 1, "invalid number");
    CHECK_READ_ERR("ab\0c", 4, CAIRN_EINVALID, 1, 3, "invalid character");
    CHECK_READ_ERR("\xef\xbb\xbf[]", 5, CAIRN_EINVALID, 1, 1, "byte order mark");
    CHECK_READ_ERR("\x80", 1, CAIRN_EINVALID, 1, 1, "invalid UTF-8");
    CHECK_READ_ERR("\n\n  x\x7f", 6, CAIRN_EINVALID, 3, 4, "invalid character");
    CHECK_READ_ERR("[\"\xc3\xa9\" \xc3\xa9 ]x", 11, CAIRN_EINVALID, 1, 9, "unexpected data");
}

void test_edn_read__every_prefix_of_a_document_reads_or_fails_cleanly(void)
{
    const char *doc = "{:a [1 -2.5e3 15/2 7N 1.5M \\newline \"s\\u00e9\\n\"] :b #{:x/y sym} "
                      "#_ (skip) :c #inst \"2026-11-21T19:29:50.230Z\" :d #uuid "
                      "\"6ebf8979-cdf0-41f4-b615-30ff81830b0c\" :e #my/tag ##NaN :f #:n{:k nil}}";
    size_t len = strlen(doc);
    int ok = 0;
    for (size_t n = 0; n <= len; n++) {
        char *copy = malloc(n + 1);  /* exact size, so ASan sees any overread */
        cairn_val v;
        cairn_error e = CAIRN_ERROR_INIT;
        int rc;
        memcpy(copy, doc, n);
        rc = cairn_edn_read(&v, copy, n, NULL, &e);
        CHECK_MSG(rc == 0 || rc == CAIRN_EINVALID, "prefix %zu: %d", n, rc);
        if (rc == 0) {
            ok++;
            cairn_release(v);
        } else {
            CHECK(e.line >= 1 && e.column >= 1 && e.message[0]);
        }
        free(copy);
    }
    CHECK(ok >= 1);
}

void test_edn_read__out_of_memory_at_every_allocation_leaks_nothing(void)
{
    const char *doc = "[{:a 1, :b \"two\", :c #{3 4 5 6 7 8 9 10 11 12}} (x/y \"\\u00e9\") "
                      "#t [1N 2.5M 3/4] #uuid \"6ebf8979-cdf0-41f4-b615-30ff81830b0c\" "
                      "#cairn/bytes \"AAEC\" 123456789012345678901234567890 1.23456789012345678901]";
    uint64_t n;
    cairn_val warm;
    CHECK_OK(cairn_edn_read(&warm, doc, strlen(doc), NULL, NULL));  /* interned names stay */
    cairn_release(warm);
    for (n = 1;; n++) {
        int64_t live = cairn__alloc_live();
        cairn_val v;
        cairn_error e = CAIRN_ERROR_INIT;
        int rc;
        cairn__alloc_fail_at(n, 0);
        rc = cairn_edn_read(&v, doc, strlen(doc), NULL, &e);
        cairn__alloc_fail_at(0, 0);
        if (rc == 0) {
            char *s;
            CHECK_OK(cairn_edn_print(&s, NULL, v));
            CHECK(strstr(s, "#cairn/bytes \"AAEC\"") != NULL);
            cairn_free(s);
            cairn_release(v);
            break;
        }
        CHECK_ERR(rc, CAIRN_ENOMEM);
        CHECK_EQ(e.code, CAIRN_ENOMEM);
        CHECK_EQ(cairn__alloc_live(), live);
        CHECK(n < 1000);
    }
    CHECK(n > 10);
}
