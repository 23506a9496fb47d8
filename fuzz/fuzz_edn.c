/*
 * libFuzzer target for the EDN reader and printer. Whatever the input:
 * reading must end in a value or a clean error; a value must print, read
 * back equal and print to the same text again; a value JSON can carry
 * exactly must survive JSON too (the EDN/JSON differential); and the
 * streaming reader must walk every form. Any broken property aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "edn/edn.h"
#include "edn/value.h"

#define REQUIRE(cond) do { if (!(cond)) abort(); } while (0)

/* 1 when v survives cairn_json_print -> cairn_json_read as an equal value
 * (docs/values.md lists what does not). Recursion is bounded by the depth
 * the reader allowed. */
static int json_exact(cairn_val v)
{
    switch (cairn_type_of(v)) {
    case CAIRN_FLOAT:
    case CAIRN_BIGDEC:
    case CAIRN_CHAR:
        return 0;
    case CAIRN_LIST:
    case CAIRN_VECTOR:
    case CAIRN_SET:
        if (cairn_type_of(v) != CAIRN_SET && cairn_count(v) == 2 &&
            cairn_type_of(cairn_coll_get(v, 0)) == CAIRN_STRING && cairn_str_get(cairn_coll_get(v, 0), NULL)[0] == '!')
            return 0;
        for (size_t i = 0; i < cairn_count(v); i++)
            if (!json_exact(cairn_coll_get(v, i)))
                return 0;
        return 1;
    case CAIRN_MAP:
        for (size_t i = 0; i < cairn_count(v); i++)
            if (cairn_type_of(cairn_map_key_get(v, i)) != CAIRN_KEYWORD || !json_exact(cairn_map_val_get(v, i)))
                return 0;
        return 1;
    case CAIRN_TAGGED: {
        static const char *builtin[] = { "kw", "sym", "set", "uuid", "date", "bytes", "double", "ratio" };
        const char *tag = cairn_ident_get(cairn_tagged_tag_get(v), NULL);
        for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
            if (!strcmp(tag, builtin[i]))
                return 0;
        return json_exact(cairn_tagged_value_get(v));
    }
    default:
        return 1;
    }
}

static void check_value(cairn_val v)
{
    char *s, *s2;
    size_t n, n2;
    cairn_val back;
    REQUIRE(cairn_edn_print(&s, &n, v) == 0);
    REQUIRE(strlen(s) <= n);
    REQUIRE(cairn_edn_read(&back, s, n, NULL, NULL) == 0);
    REQUIRE(cairn_equal(v, back));
    REQUIRE(cairn_compare(v, back) == 0);
    REQUIRE(cairn_hash(v) == cairn_hash(back));
    REQUIRE(cairn_edn_print(&s2, &n2, back) == 0);
    REQUIRE(n == n2 && memcmp(s, s2, n) == 0);
    cairn_free(s);
    cairn_free(s2);
    cairn_release(back);
    if (json_exact(v)) {
        cairn_error err = CAIRN_ERROR_INIT;
        REQUIRE(cairn_json_print(&s, &n, v) == 0);
        REQUIRE(cairn_json_read(&back, s, n, NULL, &err) == 0);
        REQUIRE(cairn_equal(v, back));
        cairn_free(s);
        cairn_release(back);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    cairn_read_limits lim = CAIRN_READ_LIMITS_INIT;
    cairn_edn_reader *r;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val v;
    int rc;

    lim.max_elements = 100000;
    rc = cairn_edn_read(&v, text, size, &lim, &err);
    REQUIRE(rc == 0 || rc == CAIRN_EINVALID || rc == CAIRN_ELIMIT);
    REQUIRE(rc == 0 || (err.code == rc && err.line >= 1 && err.column >= 1 && err.message[0]));
    if (rc == 0) {
        check_value(v);
        cairn_release(v);
    }
    if (cairn_edn_reader_new(&r, text, size, &lim) == 0) {
        for (int forms = 0; forms < 1000 && (rc = cairn_edn_reader_next(r, &v, &err)) == 0; forms++) {
            check_value(v);
            cairn_release(v);
        }
        cairn_edn_reader_free(r);
    }
    return 0;
}
